//! PostgreSQL as the store's engine, on a throwaway cluster: what the
//! database holds (sealed values only), moving a store between engines, and
//! several sessions writing at once — one refused when it would overwrite
//! another's change, one audit chain, a rotation and an erasure seen by the
//! others, a writer killed half-way.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::pg::Pg;
use common::*;
use secrecy::SecretString;
use steward::service::actions::{FieldEdit, FieldName, Strategy};
use steward::service::{Credentials, KdfCost, Location, NewSecret, Service};

/// `steward --store URL --user tester ARGS...` with the test passphrase.
fn at(url: &str, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(bin());
    c.arg("--store")
        .arg(url)
        .args(["--user", "tester"])
        .args(args)
        .env("STEWARD_PASSPHRASE", PASS)
        .env("NO_COLOR", "1")
        .env_remove("STEWARD_STORE")
        .env_remove("PGPASSWORD");
    run(c)
}

fn ok(r: (i32, String, String)) -> String {
    assert_eq!(r.0, 0, "steward failed:\nstdout: {}\nstderr: {}", r.1, r.2);
    r.1
}

fn new_store(url: &str) -> Service {
    Service::init(
        Location::parse(url),
        "tester",
        NewSecret::Passphrase(SecretString::from(PASS.to_owned()), KdfCost::LOW),
    )
    .expect("init on PostgreSQL")
}

fn session(url: &str) -> Service {
    let door = Service::door(Location::parse(url), "tester").expect("open");
    Service::unlock(door, "tester", Credentials::Passphrase(SecretString::from(PASS.to_owned()))).expect("unlock")
}

fn email(value: &str) -> Vec<FieldEdit> {
    vec![FieldEdit { field: FieldName::parse("email"), value: Some(value.to_owned()) }]
}

/// Emails and family names of the demo customers, to look for in dumps.
fn demo_values() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"))
        .expect("demo csv");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().expect("headers").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let (e, l) = (col("email"), col("last_name"));
    let mut out = BTreeSet::new();
    for row in rdr.records().take(300) {
        let row = row.expect("row");
        for v in [&row[e], &row[l]] {
            if v.len() >= 6 {
                out.insert(v.to_owned());
            }
        }
    }
    out.into_iter().collect()
}

fn pg_dump(pg: &Pg, db: &str) -> Vec<u8> {
    let bin = pg.psql_bin().with_file_name("pg_dump");
    let out = Command::new(bin).arg("-d").arg(pg.url(db)).output().expect("pg_dump");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn a_postgres_store_holds_only_sealed_values_and_moves_between_engines() {
    let Some(pg) = Pg::start() else { return };
    let db = pg.create_db("store");
    let url = pg.url(&db);
    ok(at(&url, &["init", "--kdf-cost", "low", "--admin", "tester"]));
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv");
    let out = ok(at(&url, &["import", demo.to_str().expect("path"), "--source", "crm"]));
    assert!(out.contains("imported 2000 record(s)"), "{out}");
    ok(at(&url, &["update", "crm:C0000002", "email=new.address@example.net", "--reason", "customer asked"]));
    let out = ok(at(&url, &["erase", "crm:C0000001", "--reason", "asked", "--yes"]));
    assert!(out.contains("receipt") || out.contains("erased"), "{out}");
    assert!(ok(at(&url, &["audit", "verify"])).contains("intact"));
    assert_ne!(at(&url, &["show", "crm:C0000001"]).0, 0, "the erased customer is gone");

    // What the database holds: sealed values and keyed hashes, no value.
    let dump = pg_dump(&pg, &db);
    assert!(dump.len() > 100_000, "the dump holds the store ({} bytes)", dump.len());
    for v in demo_values() {
        assert!(!contains(&dump, v.as_bytes()), "the dump holds a customer's value in clear text");
    }
    assert!(!contains(&dump, b"new.address@example.net"));

    // To a directory and back to another database; both verify.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("copy");
    let out = ok(at(&url, &["migrate", "--to", dir.to_str().expect("path")]));
    assert!(out.contains("1999 record(s)") && out.contains("intact"), "{out}");
    let dir_cli = |args: &[&str]| ok(cli(&dir, args));
    assert!(dir_cli(&["audit", "verify"]).contains("intact"));
    assert_eq!(dir_cli(&["list"]).lines().count(), 1999);
    for (_, bytes) in all_files(&dir) {
        assert!(!contains(&bytes, b"new.address@example.net"), "a file of the copy holds a value");
    }
    let db2 = pg.create_db("back");
    let url2 = pg.url(&db2);
    let out = dir_cli(&["migrate", "--to", &url2]);
    assert!(out.contains("1999 record(s)") && out.contains("intact"), "{out}");
    assert!(ok(at(&url2, &["audit", "verify"])).contains("intact"));
    assert_eq!(ok(at(&url2, &["list"])).lines().count(), 1999);
    let shown = ok(at(&url2, &["show", "crm:C0000002"]));
    assert!(shown.contains("new.address@example.net"), "{shown}");
    // A target that holds a store is refused, the source left alone.
    let (code, _, err) = at(&url, &["migrate", "--to", &url2]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    assert!(ok(at(&url, &["audit", "verify"])).contains("intact"));
}

#[test]
fn two_sessions_on_one_store_refuse_a_stale_edit_and_share_one_chain() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.url(&pg.create_db("two"));
    let a = new_store(&url);
    import_csv(
        &a,
        "id,first_name,last_name,email\n1,Ann,Lee,ann@example.org\n2,Bob,Kay,bob@example.org\n3,Cy,Fox,cy@example.org\n",
    );
    let b = session(&url);
    let seen_a = a.records(&mut |_| {}).expect("records");
    let seen_b = b.records(&mut |_| {}).expect("records");
    assert_eq!(seen_a, seen_b, "both sessions see the same store");

    // Both open record 1; A saves first; B's save is refused, nothing lost.
    a.update_seen(&seen_a[0], &email("ann.a@example.org"), "fix", None).expect("A saves");
    let err = b.update_seen(&seen_b[0], &email("ann.b@example.org"), "fix", None).expect_err("B is refused");
    assert!(err.to_string().contains("someone else changed"), "{err}");
    assert_eq!(b.find("crm:1").expect("find").email.as_deref(), Some("ann.a@example.org"));
    // After a reload B's save goes through.
    let fresh = b.find("crm:1").expect("find");
    b.update_seen(&fresh, &email("ann.b@example.org"), "fix", None).expect("B saves after a reload");
    assert_eq!(a.find("crm:1").expect("find").email.as_deref(), Some("ann.b@example.org"));

    // Writes of either session extend one chain that both verify.
    a.update(seen_a[1].id, &email("bob.a@example.org"), "fix").expect("A");
    b.update(seen_a[2].id, &email("cy.b@example.org"), "fix").expect("B");
    let (va, vb) = (a.audit_verify().expect("verify"), b.audit_verify().expect("verify"));
    assert!(va.is_intact() && vb.is_intact(), "{va:?} {vb:?}");
    // B's trail holds A's verification too: one chain.
    assert_eq!(vb.entries, va.entries + 1);

    // An erasure by A (with its key rotation): B no longer finds the record,
    // and goes on reading and writing under the new key.
    let plan = a.plan_erase(&[seen_a[1].id], Strategy::Delete).expect("plan");
    a.erase(&plan, "asked", None, true, &|_| {}).expect("erase");
    assert!(b.find("crm:2").is_err(), "B still finds the erased record");
    let left = b.records(&mut |_| {}).expect("B reads under the rotated key");
    assert_eq!(left.len(), 2);
    b.update_seen(&left[1], &email("cy.again@example.org"), "fix", None).expect("B writes after the rotation");
    // A merge planned by B over a record A changed meanwhile is refused.
    let plan = b.plan_merge(&[left[0].id, left[1].id], None).expect("plan");
    a.update(left[0].id, &email("ann.c@example.org"), "fix").expect("A changes one of them");
    let err = b.merge(&plan, "same person").expect_err("stale merge");
    assert!(err.to_string().contains("changed") || err.to_string().contains("no longer"), "{err}");
    assert_eq!(a.count(), 2, "nothing was merged");
    assert!(a.audit_verify().expect("verify").is_intact());
    assert!(b.audit_verify().expect("verify").is_intact());
}

#[test]
fn concurrent_writers_lose_nothing_and_keep_one_chain() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.url(&pg.create_db("many"));
    let first = new_store(&url);
    let mut csv = String::from("id,first_name,last_name,email\n");
    for i in 0..40 {
        csv.push_str(&format!("{i},Name{i},Family{i},p{i}@example.org\n"));
    }
    import_csv(&first, &csv);
    let ids: Vec<_> = first.records(&mut |_| {}).expect("records").iter().map(|r| r.id).collect();
    let before = first.audit_verify().expect("verify").entries;
    drop(first);
    // Four sessions, ten edits each, on records of their own.
    std::thread::scope(|s| {
        for t in 0..4 {
            let (url, ids) = (&url, &ids);
            s.spawn(move || {
                let svc = session(url);
                for k in 0..10 {
                    let id = ids[t * 10 + k];
                    svc.update(id, &email(&format!("w{t}.{k}@example.org")), "concurrent").expect("update");
                }
            });
        }
    });
    let svc = session(&url);
    let v = svc.audit_verify().expect("verify");
    assert!(v.is_intact(), "{v:?}");
    // The first verification's own entry, then every edit, once.
    assert_eq!(v.entries, before + 1 + 40, "every edit is in the chain, once");
    let emails: BTreeSet<String> =
        svc.records(&mut |_| {}).expect("records").into_iter().filter_map(|r| r.email).collect();
    for t in 0..4 {
        for k in 0..10 {
            assert!(emails.contains(&format!("w{t}.{k}@example.org")), "an edit was lost");
        }
    }
    // Two sessions race to merge the same pair: one merges, one is refused.
    let pair = [ids[0], ids[1]];
    // Both plan first (both see the two records), then both merge.
    let planned = std::sync::Barrier::new(2);
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (url, planned) = (&url, &planned);
                s.spawn(move || {
                    let svc = session(url);
                    let plan = svc.plan_merge(&pair, None).expect("plan");
                    planned.wait();
                    svc.merge(&plan, "same person").is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "exactly one merge lands: {results:?}");
    assert_eq!(svc.count(), 39);
    assert!(svc.audit_verify().expect("verify").is_intact());
}

#[test]
fn a_writer_killed_half_way_leaves_a_consistent_store_and_no_lock() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.url(&pg.create_db("kill"));
    ok(at(&url, &["init", "--kdf-cost", "low", "--admin", "tester"]));
    let tmp = tempfile::tempdir().expect("tmp");
    let csv = tmp.path().join("many.csv");
    let mut c = Command::new(bin());
    c.args(["gen", "--count", "150000", "--seed", "3", "-o"]).arg(&csv);
    assert_eq!(run(c).0, 0, "gen");
    let db = url.clone();
    let rows = |pg: &Pg| -> u64 {
        let name = db.split('?').next().and_then(|p| p.rsplit('/').next()).expect("db name").to_owned();
        pg.psql(&name, "SELECT count(*) FROM steward_kv").parse().unwrap_or(0)
    };
    let start = rows(&pg);
    // A session open before the writer dies, that writes after it.
    let open = session(&url);
    let mut child = Command::new(bin())
        .arg("--store")
        .arg(&url)
        .args(["--user", "tester", "import"])
        .arg(&csv)
        .env("STEWARD_PASSPHRASE", PASS)
        .env_remove("PGPASSWORD")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill it once its first chunks are in the database.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while rows(&pg) <= start + 100 && std::time::Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = child.try_wait().expect("wait").is_none();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    assert!(killed, "the import finished before it could be killed: make the file larger");
    // The open session's next change first takes back the dead import's
    // pages, so its own record is not taken with them later.
    import_csv_as(&open, "late", "id,first_name,last_name,email\n1,Lat,Comer,late@example.org\n");
    drop(open);
    // The next session is not blocked by the dead writer's lock, rolls the
    // half-written import back, and the chain verifies.
    let out = ok(at(&url, &["audit", "verify"]));
    assert!(out.contains("intact"), "{out}");
    let listed = ok(at(&url, &["list"]));
    assert_eq!(listed.lines().count(), 1, "the killed import left records behind, or took the later one: {listed}");
    assert!(listed.contains("late@example.org") || listed.contains("Lat Comer"), "{listed}");
    let out = ok(at(&url, &["stats", "--json"]));
    assert!(out.contains("\"records\":1"), "{out}");
}

#[test]
fn two_processes_change_one_record_at_once_and_both_changes_stay() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.url(&pg.create_db("procs"));
    let svc = new_store(&url);
    import_csv(&svc, "id,first_name,last_name,email,phone\n1,Ann,Lee,ann@example.org,+44 20 7946 0000\n");
    // An open session rotates the key meanwhile: the processes still work.
    let spawn = |args: &[&str]| {
        Command::new(bin())
            .arg("--store")
            .arg(&url)
            .args(["--user", "tester"])
            .args(args)
            .env("STEWARD_PASSPHRASE", PASS)
            .env_remove("PGPASSWORD")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let mut children = Vec::new();
    for k in 0..3 {
        children.push(spawn(&["update", "crm:1", &format!("email=ann{k}@example.org"), "--reason", "p"]));
        children.push(spawn(&["update", "crm:1", &format!("region=R{k}"), "--reason", "p"]));
    }
    svc.rekey("rotation while others write", &|_| {}).expect("rekey");
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let r = svc.find("crm:1").expect("find");
    assert!(r.email.as_deref().is_some_and(|e| e.starts_with("ann") && e != "ann@example.org"), "{:?}", r.email);
    assert!(r.address.region.as_deref().is_some_and(|x| x.starts_with('R')), "{:?}", r.address.region);
    let v = svc.audit_verify().expect("verify");
    assert!(v.is_intact(), "{v:?}");
    // The import, six updates and the rotation.
    assert_eq!(v.entries, 8);
}

/// Holds the writers' lock of the store at `url` from another connection
/// until the returned sender is dropped or sent to.
fn hold_writers_lock(url: &str) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        c.execute("SELECT pg_advisory_lock(8319395793566789632)", &[]).expect("lock");
        ready_tx.send(()).expect("ready");
        let _ = rx.recv();
        c.execute("SELECT pg_advisory_unlock(8319395793566789632)", &[]).expect("unlock");
    });
    ready_rx.recv().expect("the lock is held");
    tx
}

#[test]
fn an_import_queued_behind_an_erasure_does_not_bring_the_customer_back() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.url(&pg.create_db("queue"));
    let first = new_store(&url);
    let csv = "id,first_name,last_name,email\n1,Ann,Lee,ann@example.org\n2,Bob,Kay,bob@example.org\n";
    import_csv(&first, csv);
    let victim = first.find("crm:1").expect("find").id;
    drop(first);
    // Both wait for the lock; whichever goes first, the customer stays erased.
    for round in 0..4 {
        let release = hold_writers_lock(&url);
        let (importer, eraser) = (session(&url), session(&url));
        let changed = csv.replace("Ann,Lee", &format!("Ann{round},Lee"));
        std::thread::scope(|s| {
            let imp = s.spawn(|| {
                let opts = steward::import::Options {
                    format: steward::import::Format::Csv,
                    id_column: None,
                    source: "crm".into(),
                    now: chrono::Utc::now(),
                };
                let parsed = Service::read_import(changed.as_bytes(), &opts, &mut |_| {});
                importer.import(parsed, steward::service::OnInvalid::Refuse, false, &|_| {})
            });
            let era = s.spawn(|| {
                if round > 0 {
                    return Ok(());
                }
                let plan = eraser.plan_erase(&[victim], Strategy::Delete)?;
                eraser.erase(&plan, "asked", None, false, &|_| {}).map(|_| ())
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(release);
            imp.join().expect("import thread").expect("import");
            era.join().expect("erase thread").expect("erase");
        });
        let svc = session(&url);
        assert!(svc.find("crm:1").is_err(), "round {round}: the erased customer is back");
        assert_eq!(svc.count(), 1, "round {round}");
        assert!(svc.audit_verify().expect("verify").is_intact());
    }
}

#[test]
fn a_removed_or_demoted_user_s_open_session_changes_nothing_more() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.url(&pg.create_db("revoke"));
    let admin = new_store(&url);
    import_csv(&admin, "id,first_name,last_name,email\n1,Ann,Lee,ann@example.org\n");
    let pass = |p: &str| NewSecret::Passphrase(SecretString::from(p.to_owned()), KdfCost::LOW);
    admin.user_add("bob", steward::service::Role::Admin, pass("bob-secret-1")).expect("add bob");
    admin.user_add("cy", steward::service::Role::Steward, pass("cy-secret-12")).expect("add cy");
    let open = |user: &str, secret: &str| {
        let door = Service::door(Location::parse(&url), user).expect("open");
        Service::unlock(door, user, Credentials::Passphrase(SecretString::from(secret.to_owned()))).expect("unlock")
    };
    let (bob, cy) = (open("bob", "bob-secret-1"), open("cy", "cy-secret-12"));
    let id = bob.find("crm:1").expect("find").id;
    bob.update(id, &email("bob.was.here@example.org"), "fix").expect("bob edits while he may");
    admin.user_remove("bob").expect("remove bob");
    admin.user_set_role("cy", steward::service::Role::Viewer).expect("demote cy");
    let err = bob.update(id, &email("bob.again@example.org"), "fix").expect_err("a removed user is refused");
    assert!(err.to_string().contains("removed or its role changed"), "{err}");
    assert!(bob.user_add("mallory", steward::service::Role::Admin, pass("mallory-pw-1")).is_err());
    let err = cy.update(id, &email("cy@example.org"), "fix").expect_err("a demoted user is refused");
    assert!(err.to_string().contains("removed or its role changed"), "{err}");
    let users: Vec<String> = admin.users().expect("users").into_iter().map(|u| u.name).collect();
    assert!(!users.contains(&"mallory".to_owned()), "{users:?}");
    assert_eq!(admin.find("crm:1").expect("find").email.as_deref(), Some("bob.was.here@example.org"));
}

#[test]
fn an_erasure_queued_with_a_merge_of_the_same_person_leaves_nothing_of_them() {
    let Some(pg) = Pg::start() else { return };
    for round in 0..3 {
        let url = pg.url(&pg.create_db("mergeerase"));
        let first = new_store(&url);
        import_csv(
            &first,
            "id,first_name,last_name,email\n1,Ann,Lee,ann@example.org\n2,Ann,Lee,ann.lee@example.org\n3,Bob,Kay,bob@example.org\n",
        );
        let (a, b) = (first.find("crm:1").expect("a").id, first.find("crm:2").expect("b").id);
        drop(first);
        let release = hold_writers_lock(&url);
        let (merger, eraser) = (session(&url), session(&url));
        let plan = merger.plan_merge(&[a, b], Some(b)).expect("plan");
        let erased = std::thread::scope(|s| {
            let m = s.spawn(|| merger.merge(&plan, "same person").map(|_| ()));
            let e = s.spawn(|| {
                let plan = eraser.plan_erase(&[a], Strategy::Delete)?;
                eraser.erase(&plan, "asked", None, false, &|_| {}).map(|_| ())
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(release);
            let merged = m.join().expect("merge thread").is_ok();
            let erased = e.join().expect("erase thread").is_ok();
            // Erased first: the merge is refused. Merged first: the erasure
            // planned before it is refused (its record is gone) — never both
            // landing with half of the person left.
            assert!(merged != erased, "round {round}: merged {merged}, erased {erased}");
            erased
        });
        let svc = session(&url);
        if !erased {
            assert_eq!(svc.count(), 2, "round {round}: the merge landed");
            continue;
        }
        for r in svc.records(&mut |_| {}).expect("records") {
            let all = format!("{r:?}");
            assert!(!all.contains("ann@example.org"), "round {round}: the erased email survives in {}", r.source_id);
        }
        assert!(svc.find("crm:1").is_err(), "round {round}: the erased record is found");
        assert!(svc.audit_verify().expect("verify").is_intact());
    }
}

#[test]
fn failed_unlocks_at_once_are_each_audited() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.url(&pg.create_db("logins"));
    drop(new_store(&url));
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(bin())
                .arg("--store")
                .arg(&url)
                .args(["--user", "tester", "list"])
                .env("STEWARD_PASSPHRASE", "not the passphrase")
                .env_remove("PGPASSWORD")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(!c.wait().expect("wait").success(), "a wrong passphrase opened the store");
    }
    let out = ok(at(&url, &["audit", "list", "--json", "--action", "login"]));
    let denied = out.lines().filter(|l| l.contains("failed unlock")).count();
    assert_eq!(denied, 8, "{out}");
    // Audited once: the next unlock finds none left.
    let out = ok(at(&url, &["audit", "list", "--json", "--action", "login"]));
    assert_eq!(out.lines().filter(|l| l.contains("failed unlock")).count(), 8);
}

#[test]
fn a_session_hears_of_another_session_s_change_with_the_records_it_touched() {
    let Some(pg) = Pg::start() else { return };
    let url = pg.url(&pg.create_db("notice"));
    let a = new_store(&url);
    import_csv(&a, "id,first_name,last_name,email\n1,Ann,Lee,ann@example.org\n");
    let b = session(&url);
    let mut watch = b.watch().expect("watch").expect("a shared store is watched");
    let mine = a.watch().expect("watch").expect("watched");
    drop(mine);
    let id = a.find("crm:1").expect("find").id;
    let t = std::time::Instant::now();
    a.update(id, &email("ann.new@example.org"), "fix").expect("update");
    let mut heard = Vec::new();
    while heard.is_empty() && t.elapsed() < std::time::Duration::from_secs(5) {
        heard = watch.wait(std::time::Duration::from_millis(200)).expect("wait");
    }
    eprintln!("notice after {} ms", t.elapsed().as_millis());
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0].ids.as_deref(), Some(&[id][..]), "the notice names the changed record");
    // A session does not hear its own changes.
    let mut own = a.watch().expect("watch").expect("watched");
    a.update(id, &email("ann.again@example.org"), "fix").expect("update");
    assert!(own.wait(std::time::Duration::from_millis(500)).expect("wait").is_empty());
    // Who else is here: B sees A, by the name A's session gave.
    assert!(b.others().iter().any(|n| n.starts_with("tester (")), "{:?}", b.others());
}
