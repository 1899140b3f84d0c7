//! Closing the loop with the systems the data lives in: the suppression
//! list (an erased customer stays erased when the export comes back), the
//! change feed, and a real PostgreSQL source (sync, push, a row changed in
//! the source meanwhile, a database that refuses) on a throwaway cluster.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::pg::Pg;
use common::*;

/// `steward --user tester ARGS...` with extra environment.
fn cli_env(store: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = steward(store);
    c.arg("--user").arg("tester").args(args).env_remove("PGPASSWORD").env_remove("PGPASSFILE");
    for (k, v) in env {
        c.env(k, v);
    }
    run(c)
}

fn ok(r: (i32, String, String)) -> String {
    assert_eq!(r.0, 0, "steward failed:\nstdout: {}\nstderr: {}", r.1, r.2);
    r.1
}

/// Generated customers: the CSV and, per person, their source ids.
fn generated(dir: &Path, count: usize, seed: u64) -> (std::path::PathBuf, BTreeMap<String, Vec<String>>) {
    let csv = dir.join("customers.csv");
    let truth = dir.join("truth.csv");
    let mut c = std::process::Command::new(bin());
    c.args(["gen", "--count", &count.to_string(), "--seed", &seed.to_string(), "-o"])
        .arg(&csv)
        .arg("--truth")
        .arg(&truth);
    assert_eq!(run(c).0, 0, "gen");
    let mut people: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(&truth).expect("truth").lines().skip(1) {
        let (id, person) = line.split_once(',').expect("truth line");
        people.entry(person.to_owned()).or_default().push(id.to_owned());
    }
    (csv, people)
}

const TABLE: &str = "CREATE TABLE customers (
  customer_id text PRIMARY KEY, first_name text, last_name text, email text, phone text, street text,
  city text, postcode text, country text, date_of_birth text, created_at timestamptz,
  last_verified timestamptz, last_activity timestamptz, marketing_consent text, fax text, pager text,
  national_id text, notes text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION touch() RETURNS trigger AS $$ BEGIN NEW.updated_at = clock_timestamp(); RETURN NEW; END $$
  LANGUAGE plpgsql;
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION touch();
GRANT ALL ON customers TO app;";

const COLUMNS: &str = "customer_id,first_name,last_name,email,phone,street,city,postcode,country,date_of_birth,\
created_at,last_verified,last_activity,marketing_consent,fax,pager,national_id,notes";

/// A database with the generated customers in table `customers`.
fn shop(pg: &Pg, csv: &Path) -> String {
    let db = pg.create_db("shop");
    pg.psql(&db, TABLE);
    pg.psql(&db, &format!("\\copy customers ({COLUMNS}) FROM '{}' CSV HEADER", csv.display()));
    db
}

fn one(pg: &Pg, db: &str, sql: &str) -> String {
    pg.psql(db, sql)
}

/// A person with at least two rows, and two people with one row each.
fn pick(people: &BTreeMap<String, Vec<String>>) -> (Vec<String>, String, String) {
    let pair = people.values().find(|ids| ids.len() >= 2).expect("a person with two rows").clone();
    let mut singles = people.values().filter(|ids| ids.len() == 1).map(|ids| ids[0].clone());
    (pair, singles.next().expect("a single"), singles.next().expect("a second single"))
}

#[test]
fn a_postgres_source_receives_merges_rectifications_and_erasures_and_keeps_them() {
    let Some(pg) = Pg::start() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (csv, people) = generated(tmp.path(), 1000, 21);
    let db = shop(&pg, &csv);
    let (store_tmp, store) = init_store();
    let _keep = store_tmp;
    let pw = [("PGPASSWORD", Pg::APP_PASSWORD)];

    // A password in the URL is refused; the URL without one, with
    // PGPASSWORD, works; nothing of the password reaches the store.
    let (code, _, err) = cli_env(
        &store,
        &["source", "add", "shop", "--postgres", &pg.tcp_url_with_password(&db), "--table", "customers"],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("PGPASSWORD"), "{err}");
    let (code, _, err) = cli_env(
        &store,
        &["source", "add", "shop", "--postgres", &pg.tcp_url(&db), "--table", "customers", "--id", "customer_id"],
        &[],
    );
    assert_ne!(code, 0, "no password given: the server must refuse");
    assert!(err.contains("could not connect"), "{err}");
    let url = pg.tcp_url(&db);
    let added = ok(cli_env(
        &store,
        &[
            "source",
            "add",
            "shop",
            "--postgres",
            &url,
            "--table",
            "customers",
            "--id",
            "customer_id",
            "--updated-column",
            "updated_at",
            "--map",
            "fax=fax",
        ],
        &pw,
    ));
    // Columns named like fields are read, and the mapped one besides; the
    // other columns (national_id, notes, pager) are not.
    for mapped in ["email=email", "given_name=first_name", "fax=fax"] {
        assert!(added.contains(mapped), "{added}");
    }
    assert!(!added.contains("national_id") && !added.contains("notes"), "{added}");
    for (_, bytes) in all_files(&store) {
        assert!(!contains(&bytes, Pg::APP_PASSWORD.as_bytes()), "the password reached the store");
    }

    let out = ok(cli_env(&store, &["sync", "shop"], &pw));
    assert!(out.contains("1000 row(s) read from shop (whole table): 1000 new"), "{out}");
    let out = ok(cli_env(&store, &["sync", "shop"], &pw));
    assert!(out.contains("0 row(s) read") && out.contains("changed since the last sync"), "{out}");

    // In steward: merge one person's rows, rectify an email, erase a
    // customer by request.
    let (pair, rectified, erased) = pick(&people);
    let survivor = pair[0].clone();
    let mut merge = vec!["merge".to_owned()];
    merge.extend(pair.iter().map(|id| format!("shop:{id}")));
    merge.extend([
        "--into".into(),
        format!("shop:{survivor}"),
        "--reason".into(),
        "same person".into(),
        "--yes".into(),
    ]);
    ok(cli_env(&store, &merge.iter().map(String::as_str).collect::<Vec<_>>(), &[]));
    ok(cli_env(
        &store,
        &["update", &format!("shop:{rectified}"), "email=rectified.customer@example.org", "--reason", "called"],
        &[],
    ));
    let (_, out, _) = cli_env(
        &store,
        &[
            "request",
            "add",
            "--type",
            "erasure",
            "--jurisdiction",
            "gdpr",
            "--received",
            "2026-11-20",
            "--name",
            "A Customer",
            "--json",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("request json");
    let reference = v["ref"].as_str().expect("ref").to_owned();
    ok(cli_env(&store, &["request", "link", &reference, &format!("shop:{erased}")], &[]));
    ok(cli_env(&store, &["request", "verify", &reference, "--method", "ID document seen"], &[]));
    let receipt = ok(cli_env(&store, &["request", "erase", &reference, "--yes"], &[]));
    assert!(receipt.contains("\"source\": \"shop\"") && receipt.contains("\"told\": null"), "{receipt}");

    // The feed says what the table must do, and nothing else.
    let feed = ok(cli_env(&store, &["changes", "shop", "-o", "-"], &[]));
    let ops: Vec<serde_json::Value> = feed.lines().map(|l| serde_json::from_str(l).expect("feed line")).collect();
    let merges = ops.iter().filter(|o| o["op"] == "merge").count();
    assert_eq!(merges, pair.len() - 1, "{feed}");
    assert!(ops.iter().any(|o| o["op"] == "update"
        && o["source_id"] == rectified.as_str()
        && o["field"] == "email"
        && o["new"] == "rectified.customer@example.org"));
    assert!(ops.iter().any(|o| o["op"] == "erase" && o["source_id"] == erased.as_str()));

    // A dry run changes nothing.
    let out = ok(cli_env(&store, &["push", "shop", "--dry-run"], &pw));
    assert!(out.contains("dry run"), "{out}");
    assert_eq!(one(&pg, &db, "SELECT count(*) FROM customers"), "1000");

    // As if an earlier push had committed in the database and been killed
    // before steward noted it: the change is found applied, not redone.
    pg.psql(
        &db,
        &format!("UPDATE customers SET email = 'rectified.customer@example.org' WHERE customer_id = '{rectified}'"),
    );
    let out = ok(cli_env(&store, &["push", "shop"], &pw));
    assert!(out.contains("0 change(s) pending"), "{out}");
    assert!(out.contains("(1 found applied already"), "{out}");
    let kept = 1000 - (pair.len() - 1) - 1;
    assert_eq!(one(&pg, &db, "SELECT count(*) FROM customers"), kept.to_string());
    for id in &pair[1..] {
        assert_eq!(one(&pg, &db, &format!("SELECT count(*) FROM customers WHERE customer_id = '{id}'")), "0");
    }
    assert_eq!(one(&pg, &db, &format!("SELECT count(*) FROM customers WHERE customer_id = '{survivor}'")), "1");
    assert_eq!(
        one(&pg, &db, &format!("SELECT email FROM customers WHERE customer_id = '{rectified}'")),
        "rectified.customer@example.org"
    );
    assert_eq!(one(&pg, &db, &format!("SELECT count(*) FROM customers WHERE customer_id = '{erased}'")), "0");
    let receipt_id = receipt.split("\"receipt\": \"").nth(1).and_then(|s| s.split('"').next()).expect("receipt id");
    let shown = ok(cli_env(&store, &["receipt", "show", receipt_id], &[]));
    assert!(shown.contains("\"source\": \"shop\"") && !shown.contains("\"told\": null"), "{shown}");

    // A second sync brings nothing back.
    ok(cli_env(&store, &["sync", "shop"], &pw));
    assert_eq!(record_count(&store), kept as u64);
    let (code, _, _) = cli_env(&store, &["show", &format!("shop:{erased}")], &[]);
    assert_ne!(code, 0, "the erased customer came back");
    // Even a full re-read (the row put back by an old backup of the table) does not.
    pg.psql(
        &db,
        &format!("\\copy customers ({COLUMNS}) FROM '{}' CSV HEADER WHERE customer_id = '{erased}'", csv.display()),
    );
    let out = ok(cli_env(&store, &["sync", "shop"], &pw));
    assert!(out.contains("1 row(s) suppressed"), "{out}");
    assert_eq!(record_count(&store), kept as u64);

    // A row changed in the source meanwhile: refused, reported, kept pending.
    let (_, a, b) = {
        let mut singles = people.values().filter(|ids| ids.len() == 1).map(|ids| ids[0].clone()).skip(2);
        (0, singles.next().expect("single"), singles.next().expect("single"))
    };
    ok(cli_env(&store, &["update", &format!("shop:{a}"), "email=steward.a@example.org", "--reason", "called"], &[]));
    ok(cli_env(&store, &["update", &format!("shop:{b}"), "email=steward.b@example.org", "--reason", "called"], &[]));
    pg.psql(&db, &format!("UPDATE customers SET email = 'crm.changed@example.org' WHERE customer_id = '{a}'"));
    let (code, out, err) = cli_env(&store, &["push", "shop"], &pw);
    assert_eq!(code, 1, "a push with a refused change says so in its exit code: {err}");
    assert!(out.contains("refused, kept pending: email changed in the source since steward read it"), "{out}");
    assert!(out.contains("1 change(s) pending"), "{out}");
    assert_eq!(
        one(&pg, &db, &format!("SELECT email FROM customers WHERE customer_id = '{a}'")),
        "crm.changed@example.org"
    );
    assert_eq!(
        one(&pg, &db, &format!("SELECT email FROM customers WHERE customer_id = '{b}'")),
        "steward.b@example.org"
    );
    let feed = ok(cli_env(&store, &["changes", "shop", "-o", "-"], &[]));
    assert_eq!(feed.lines().count(), 1, "{feed}");
    assert!(feed.contains(&a), "{feed}");

    // The database refuses one change (a constraint): that change alone is
    // refused and stays pending; an erasure queued behind it still goes;
    // nothing of the value reaches the output or the audit trail.
    pg.psql(&db, "ALTER TABLE customers ADD CONSTRAINT short_email CHECK (length(email) < 40) NOT VALID");
    let long = "a.much.longer.address.than.allowed@example.org";
    ok(cli_env(&store, &["update", &format!("shop:{b}"), &format!("email={long}"), "--reason", "called"], &[]));
    let (_, later, _) = {
        let mut singles = people.values().filter(|ids| ids.len() == 1).map(|ids| ids[0].clone()).skip(4);
        (0, singles.next().expect("single"), 0)
    };
    ok(cli_env(&store, &["erase", &format!("shop:{later}"), "--reason", "asked", "--yes"], &[]));
    let (code, out, err) = cli_env(&store, &["push", "shop"], &pw);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("the database refused it") && out.contains("short_email"), "{out}");
    assert!(!out.contains(long) && !err.contains(long), "the refused value was echoed: {out}\n{err}");
    assert_eq!(one(&pg, &db, &format!("SELECT count(*) FROM customers WHERE customer_id = '{later}'")), "0");
    let feed = ok(cli_env(&store, &["changes", "shop", "-o", "-"], &[]));
    assert_eq!(feed.lines().count(), 2, "both refused changes stay pending: {feed}");
    assert_eq!(
        one(&pg, &db, &format!("SELECT email FROM customers WHERE customer_id = '{b}'")),
        "steward.b@example.org"
    );
    // The source team settles the conflict on a's row by hand: that change
    // alone is acknowledged; then the rest.
    let first: serde_json::Value = serde_json::from_str(feed.lines().next().expect("a change")).expect("json");
    let n = first["seq"].as_u64().expect("seq").to_string();
    let out = ok(cli_env(&store, &["changes", "shop", "--ack", &n, "--only", "--reason", "CRM team"], &[]));
    assert!(out.contains("1 change(s)"), "{out}");
    let out = ok(cli_env(&store, &["changes", "shop", "--ack", "1000", "--reason", "applied by the CRM team"], &[]));
    assert!(out.contains("1 change(s)"), "{out}");

    let out = ok(cli_env(&store, &["audit", "verify"], &[]));
    assert!(out.contains("intact"), "{out}");
    let audit = ok(cli_env(&store, &["audit", "list"], &[]));
    assert!(!audit.contains(long) && !audit.contains("@example"), "a value reached the audit trail:\n{audit}");
    for action in ["source-add", "sync", "push", "changes-ack"] {
        assert!(audit.contains(action), "no {action} in the audit trail:\n{audit}");
    }
}

#[test]
fn an_anonymising_source_keeps_the_row_and_the_next_sync_suppresses_it() {
    let Some(pg) = Pg::start() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (csv, people) = generated(tmp.path(), 200, 5);
    let db = shop(&pg, &csv);
    let (_t, store) = init_store();
    ok(cli_env(
        &store,
        &[
            "source",
            "add",
            "shop",
            "--postgres",
            &pg.url(&db),
            "--table",
            "customers",
            "--id",
            "customer_id",
            "--on-erase",
            "anonymise",
            "--map",
            "given_name=first_name",
            "--map",
            "family_name=last_name",
            "--map",
            "email=email",
            "--map",
            "phone=phone",
        ],
        &[],
    ));
    ok(cli_env(&store, &["sync", "shop"], &[]));
    let (_, erased, _) = pick(&people);
    ok(cli_env(&store, &["erase", &format!("shop:{erased}"), "--reason", "asked", "--yes"], &[]));
    let out = ok(cli_env(&store, &["push", "shop"], &[]));
    assert!(out.contains("1 anonymise"), "{out}");
    assert_eq!(
        one(
            &pg,
            &db,
            &format!(
                "SELECT coalesce(email, 'NULL') || ',' || coalesce(first_name, 'NULL') FROM customers WHERE customer_id = '{erased}'"
            )
        ),
        "NULL,NULL"
    );
    // Columns steward does not map (street, national id, notes …) go too:
    // an anonymised row keeps its id and nothing of the customer.
    let left = one(
        &pg,
        &db,
        &format!(
            "SELECT count(*) FROM customers WHERE customer_id = '{erased}' AND num_nonnulls(street, city, postcode, \
             date_of_birth, national_id, notes, fax, pager, last_name, phone) > 0"
        ),
    );
    assert_eq!(left, "0", "an anonymised row kept personal data");
    let out = ok(cli_env(&store, &["sync", "shop"], &[]));
    assert!(out.contains("1 row(s) suppressed"), "{out}");
    assert_eq!(record_count(&store), 199);
}

#[test]
fn reimporting_the_original_export_after_an_erasure_keeps_the_customer_erased() {
    let (t, store) = demo_store();
    // The CRM's part of the demo file (the web shop's customers came from another source).
    let all = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"))
        .expect("demo csv");
    let since = steward::synth::as_of() - chrono::Duration::days(steward::service::demo::WEBSHOP_DAYS);
    let created = all.lines().next().expect("header").split(',').position(|h| h == "created_at").expect("created_at");
    let crm: Vec<&str> = all
        .lines()
        .enumerate()
        .filter(|(i, l)| {
            *i == 0
                || chrono::DateTime::parse_from_rfc3339(l.split(',').nth(created).expect("created"))
                    .is_ok_and(|c| c < since)
        })
        .map(|(_, l)| l)
        .collect();
    let csv = write(t.path(), "crm.csv", (crm.join("\n") + "\n").as_bytes());
    let text = std::fs::read_to_string(&csv).expect("demo csv");
    let header: Vec<&str> = text.lines().next().expect("header").split(',').collect();
    let row: Vec<&str> = text.lines().nth(1).expect("row").split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).expect(name)].to_owned();
    let (id, email, phone, family) = (col("customer_id"), col("email"), col("phone"), col("last_name"));
    let out = ok(demo_cli(&store, &["erase", &format!("crm:{id}"), "--reason", "asked", "--yes"]));
    assert!(out.contains("\"told\": null"), "the receipt lists the source still to be told: {out}");

    let out = ok(demo_cli(&store, &["import", csv.to_str().expect("path"), "--source", "crm"]));
    assert!(out.contains("1 row(s) suppressed: erased earlier"), "{out}");
    assert_ne!(demo_cli(&store, &["show", &format!("crm:{id}")]).0, 0, "the erased customer came back");
    for (path, bytes) in all_files(&store) {
        for needle in [&email, &phone] {
            assert!(!contains(&bytes, needle.as_bytes()), "{} holds the erased customer's data", path.display());
        }
    }

    // Another system's export: the same person (same email and name) stays
    // out; a relative with the same phone but another name comes in.
    let other = tempfile::tempdir().expect("tempdir");
    let given = col("first_name");
    let f = write(
        other.path(),
        "shop.csv",
        format!(
            "id,first_name,last_name,email,phone\nS1,{given},{family},{email},\nS2,Someone,{family}-Else,,{phone}\n"
        )
        .as_bytes(),
    );
    let out = ok(demo_cli(&store, &["import", f.to_str().expect("path"), "--source", "shop"]));
    assert!(out.contains("1 new") && out.contains("1 row(s) suppressed"), "{out}");
    assert_ne!(demo_cli(&store, &["show", "shop:S1"]).0, 0);
    assert_eq!(demo_cli(&store, &["show", "shop:S2"]).0, 0);

    // The admin lifts the entry (the customer came back and consented): the
    // next import takes the row.
    let (_, list, _) = demo_cli(&store, &["suppression", "list", "--json"]);
    let entry: serde_json::Value = serde_json::from_str(list.lines().next().expect("an entry")).expect("json");
    assert_eq!(entry["emails"], 1);
    assert!(!list.contains(&email) && !list.contains(&phone), "{list}");
    let sup = entry["id"].as_str().expect("id").to_owned();
    assert_ne!(demo_cli(&store, &["suppression", "remove", &sup]).0, 0, "a reason is required");
    ok(demo_cli(&store, &["suppression", "remove", &sup, "--reason", "came back, consented again"]));
    let out = ok(demo_cli(&store, &["import", csv.to_str().expect("path"), "--source", "crm"]));
    assert!(out.contains("1 new") && !out.contains("suppressed"), "{out}");
    assert!(ok(demo_cli(&store, &["audit", "verify"])).contains("intact"));
}

#[test]
fn pending_rectifications_survive_a_reimport_and_merged_away_rows_wait_for_the_source() {
    let (_t, store) = init_store();
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv");
    let csv = csv.to_str().expect("path");
    ok(cli(&store, &["import", csv, "--source", "crm"]));
    ok(cli(&store, &["update", "crm:C0000002", "email=new.address@example.org", "--reason", "called"]));
    let out = ok(cli(&store, &["import", csv, "--source", "crm"]));
    assert!(out.contains("0 new, 0 updated, 2000 unchanged"), "an unchanged export changes nothing: {out}");
    let (_, shown, _) = cli(&store, &["show", "crm:C0000002", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(v["email"], "new.address@example.org", "the old export undid the rectification");
    // Once the source says it applied the change, its export speaks again.
    ok(cli(&store, &["changes", "crm", "--ack", "1"]));
    ok(cli(&store, &["import", csv, "--source", "crm"]));
    let (_, shown, _) = cli(&store, &["show", "crm:C0000002", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&shown).expect("json");
    assert_ne!(v["email"], "new.address@example.org");
}

#[test]
fn suppression_recognises_the_erased_person_and_not_their_household_or_namesakes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let svc = lib_store(&tmp.path().join("store"));
    import_csv_as(
        &svc,
        "crm",
        "id,first_name,last_name,email,phone,country\n\
         1,Ann,Lee,ann.lee@example.com,+44 7700 900123,GB\n\
         2,Bob,Lee,bob@example.com,+44 7700 900999,GB\n",
    );
    let ann = svc.find("crm:1").expect("ann").id;
    let plan = svc.plan_erase(&[ann], steward::service::actions::Strategy::Delete).expect("plan");
    svc.erase(&plan, "asked", None, true, &|_| {}).expect("erase");

    let shop = import_csv_as(
        &svc,
        "shop",
        "id,first_name,last_name,email,phone,country\n\
         S1,ANN,LEE,Ann.Lee+news@Example.com,,GB\n\
         S2,,,ann.lee@example.com,,GB\n\
         S3,Ann,Lee,,07700 900123,GB\n\
         S4,Tom,Lee,,+44 7700 900123,GB\n\
         S5,,,,+44 7700 900123,GB\n\
         S6,Ann,Leigh,ann.lee@example.com,,GB\n\
         S7,Bob,Lee,bob@example.com,,GB\n\
         S8,,,annlee@example.com,,GB\n",
    );
    // Ann by email (any spelling), by email with no name, by phone with her
    // name; not her household (Tom, same phone), not a nameless row with only
    // the shared phone, not a different name on her email (Ann Leigh: another
    // person, or a typo the reviewers must see), not Bob, not another
    // mailbox that differs by a dot (only Gmail ignores dots).
    assert_eq!(shop.suppressed, 3, "{shop:?}");
    for kept in ["shop:S4", "shop:S5", "shop:S6", "shop:S7", "shop:S8"] {
        assert!(svc.find(kept).is_ok(), "{kept} was dropped");
    }
    for gone in ["shop:S1", "shop:S2", "shop:S3"] {
        assert!(svc.find(gone).is_err(), "{gone} came back");
    }
    // Her own row comes back in the CRM's next export, whatever it now says.
    let crm = import_csv_as(&svc, "crm", "id,first_name,last_name,email\n1,Annie,Smith,annie@example.org\n");
    assert_eq!((crm.suppressed, crm.inserted), (1, 0), "{crm:?}");
    // The list keeps hashes, not values.
    let list = svc.suppression_list().expect("list");
    assert_eq!(list.len(), 1);
    let json = serde_json::to_string(&list).expect("json");
    for value in ["ann", "Ann", "Lee", "7700", "example.com"] {
        assert!(!json.contains(value), "the suppression list holds {value}: {json}");
    }
}

#[test]
fn an_erased_customer_stays_out_under_every_email_and_name_steward_knew() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let svc = lib_store(&tmp.path().join("store"));
    import_csv_as(
        &svc,
        "crm",
        "id,first_name,last_name,email\n\
         C1,Jane,Doe,jane.doe@example.org\n\
         C2,Jane,Doe,jdoe.home@example.net\n\
         C3,Mark,Roe,mark.roe@example.org\n",
    );
    let c1 = svc.find("crm:C1").expect("c1").id;
    let c2 = svc.find("crm:C2").expect("c2").id;
    let c3 = svc.find("crm:C3").expect("c3").id;
    let plan = svc.plan_merge(&[c1, c2], Some(c1)).expect("plan");
    svc.merge(&plan, "same person").expect("merge");
    let edit = steward::service::actions::FieldEdit::parse("email=m.roe@example.com").expect("edit");
    svc.update(c3, &[edit], "called").expect("update");
    let plan = svc.plan_erase(&[c1, c3], steward::service::actions::Strategy::Delete).expect("plan");
    svc.erase(&plan, "asked", None, true, &|_| {}).expect("erase");

    let shop = import_csv_as(
        &svc,
        "shop",
        "id,first_name,last_name,email\n\
         S1,Jane,Doe,jdoe.home@example.net\n\
         S2,Jane A.,Doe,jane.doe@example.org\n\
         S3,Mark,Roe,mark.roe@example.org\n\
         S4,Mark,Roe,m.roe@example.com\n\
         S5,John,Doe,jane.doe@example.org\n",
    );
    // The merged-away email, the email with a middle initial, the email from
    // before the rectification and the rectified one; not John, who shares
    // nothing but an email with a different name.
    assert_eq!(shop.suppressed_ids, ["S1", "S2", "S3", "S4"], "{shop:?}");
    assert!(svc.find("shop:S5").is_ok());
}
