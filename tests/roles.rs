//! Roles, enforced in the service: the permission matrix (every role ×
//! every action, called on the service directly), masking as each role sees
//! it, audited reveals, removed users, and a forged `$USER`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use secrecy::SecretString;
use steward::crypto::{KdfCost, Role};
use steward::model::RecordId;
use steward::service::actions::{FieldEdit, FieldName, Strategy};
use steward::service::export::Target;
use steward::service::{Credentials, Service, ServiceError};
use steward::service::{Door, NewSecret as NewSlot};

fn pass(p: &str) -> NewSlot {
    NewSlot::Passphrase(SecretString::from(p.to_owned()), KdfCost::LOW)
}

/// A demo store with an admin `ops`, a steward `stu` and a viewer `vic`.
fn store() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let svc = steward::service::demo::build(&tmp.path().join("s"), "ops").expect("demo");
    svc.user_add("stu", Role::Steward, pass("steward-pass")).expect("add steward");
    svc.user_add("vic", Role::Viewer, pass("viewer-pass")).expect("add viewer");
    tmp
}

fn open_as(dir: &Path, user: &str, secret: &str) -> Result<Service, ServiceError> {
    let locked = Service::door(dir, user)?;
    Service::unlock(locked, user, Credentials::Passphrase(SecretString::from(secret.to_owned())))
}

fn secret_of(user: &str) -> &'static str {
    match user {
        "ops" => "demo",
        "stu" => "steward-pass",
        _ => "viewer-pass",
    }
}

/// Everything an action could change, as the admin sees it.
#[derive(PartialEq, Debug)]
struct State {
    records: Vec<steward::model::Record>,
    users: Vec<steward::store::UserInfo>,
    policy: u32,
    epoch: Vec<String>,
    audit: Vec<steward::store::audit::Entry>,
}

fn state(dir: &Path) -> State {
    let svc = open_as(dir, "ops", "demo").expect("admin opens");
    let audit = svc.audit_list(&Default::default()).expect("audit");
    State {
        records: svc.records(&mut |_| {}).expect("records"),
        users: svc.users().expect("users"),
        policy: svc.policy().expect("policy").1.revision,
        epoch: audit
            .iter()
            .filter(|e| e.action == "rekey" && e.outcome.name() == "ok")
            .map(|e| e.detail.clone().unwrap_or_default())
            .collect(),
        audit,
    }
}

type Act = fn(&Service, &[RecordId], &Path) -> Result<(), ServiceError>;

fn actions() -> Vec<(&'static str, Role, Act)> {
    vec![
        ("reveal", Role::Steward, |s, ids, _| s.reveal(&ids[..1], &[], "check").map(|_| ())),
        ("update", Role::Steward, |s, ids, _| {
            s.update(ids[0], &[FieldEdit { field: FieldName::parse("region"), value: Some("North".into()) }], "fix")
                .map(|_| ())
        }),
        ("merge", Role::Steward, |s, ids, _| {
            s.plan_merge(&ids[1..3], None).and_then(|p| s.merge(&p, "dup")).map(|_| ())
        }),
        ("import", Role::Steward, |s, _, _| {
            let opts = steward::import::Options {
                format: steward::import::Format::Csv,
                id_column: None,
                source: "web".into(),
                now: chrono::Utc::now(),
            };
            let parsed =
                steward::import::parse(&b"id,first_name,email\n1,Zed,zed@example.com\n"[..], &opts, &mut |_| {});
            s.import(parsed, steward::service::OnInvalid::Refuse, false, &|_| {}).map(|_| ())
        }),
        ("erase", Role::Admin, |s, ids, _| {
            s.plan_erase(&ids[3..4], Strategy::Delete)
                .and_then(|p| s.erase(&p, "asked", None, true, &|_| {}))
                .map(|_| ())
        }),
        ("export", Role::Admin, |s, ids, dir| {
            let r = age::x25519::Identity::generate().to_public().to_string();
            s.export(&ids[4..5], &Target::Recipients(vec![r]), false, &dir.join(format!("x-{}.age", s.session().user)))
                .map(|_| ())
        }),
        ("backup", Role::Admin, |s, _, dir| {
            let r = age::x25519::Identity::generate().to_public().to_string();
            s.backup(&Target::Recipients(vec![r]), false, &dir.join(format!("b-{}.age", s.session().user))).map(|_| ())
        }),
        ("rekey", Role::Admin, |s, _, _| s.rekey("test", &|_| {}).map(|_| ())),
        ("policy", Role::Admin, |s, _, _| s.import_policy(steward::service::demo::DEMO_POLICY).map(|_| ())),
        ("user add", Role::Admin, |s, _, _| {
            s.user_add(&format!("new-{}", s.session().user), Role::Viewer, pass("new-user-pass"))
        }),
        ("user role", Role::Admin, |s, _, _| s.user_set_role("vic", Role::Viewer)),
        ("user passwd (other)", Role::Admin, |s, _, _| {
            let other = if s.session().user == "vic" { "stu" } else { "vic" };
            s.user_passwd(other, pass(secret_of(other)))
        }),
        ("audit verify", Role::Admin, |s, _, _| s.audit_verify().map(|_| ())),
    ]
}

#[test]
fn permission_matrix() {
    let tmp = store();
    let dir = tmp.path().join("s");
    let out = tempfile::tempdir().expect("out dir");
    let ids: Vec<RecordId> = {
        let svc = open_as(&dir, "ops", "demo").expect("open");
        svc.records(&mut |_| {}).expect("records").iter().map(|r| r.id).collect()
    };
    let pairs = {
        let svc = open_as(&dir, "ops", "demo").expect("open");
        let records = svc.records(&mut |_| {}).expect("records");
        let report = svc.scan(&records, &|_| {}).expect("scan");
        report
            .findings
            .iter()
            .filter(|f| f.kind == steward::findings::Kind::Duplicate && f.records.len() == 2)
            .map(|f| f.records.iter().map(|&i| records[i as usize].id).collect::<Vec<_>>())
            .take(3)
            .collect::<Vec<_>>()
    };
    let mut table = Vec::new();
    for (n, (user, role)) in
        [("vic", Role::Viewer), ("stu", Role::Steward), ("ops", Role::Admin)].into_iter().enumerate()
    {
        for (name, needs, act) in actions() {
            // Each role works on records of its own: [record, pair.., erase target, export target].
            let own = [ids[n * 10], pairs[n][0], pairs[n][1], ids[n * 10 + 5], ids[n * 10 + 6]];
            let before = state(&dir);
            let result = {
                let svc = open_as(&dir, user, secret_of(user)).expect("open as role");
                act(&svc, &own, out.path())
            };
            let after = state(&dir);
            let allowed = role >= needs;
            table.push(format!("{:<8} {:<20} {}", role.name(), name, if allowed { "allowed" } else { "denied" }));
            if allowed {
                assert!(result.is_ok(), "{} should be allowed to {name}: {:?}", role.name(), result.err());
            } else {
                let err = result.expect_err(&format!("{} must not {name}", role.name())).to_string();
                assert!(err.contains(&format!("your role {}", role.name())), "{name}: unclear denial: {err}");
                // Nothing changed but one denial entry.
                assert_eq!(before.records, after.records, "{name} by {} changed records", role.name());
                assert_eq!(before.users, after.users, "{name} by {} changed users", role.name());
                assert_eq!(before.policy, after.policy);
                assert_eq!(before.epoch, after.epoch, "{name} by {} rotated the key", role.name());
                assert_eq!(after.audit.len(), before.audit.len() + 1, "{name}: exactly one denial entry");
                assert_eq!(&after.audit[..before.audit.len()], &before.audit[..]);
                let e = after.audit.last().expect("entry");
                assert_eq!((e.user.as_str(), e.outcome.name()), (user, "denied"), "{name}");
            }
        }
    }
    eprintln!("{}", table.join("\n"));
}

#[test]
fn viewers_see_masked_data_everywhere_and_stewards_reveal_with_one_audit_entry() {
    let tmp = store();
    let dir = tmp.path().join("s");
    let real = open_as(&dir, "ops", "demo").expect("admin").records(&mut |_| {}).expect("records");
    let r = real.iter().find(|r| r.email.is_some() && r.phone.is_some() && r.given_name.is_some()).expect("record");
    let viewer = open_as(&dir, "vic", "viewer-pass").expect("viewer");
    let seen = viewer.records(&mut |_| {}).expect("records");
    let v = seen.iter().find(|x| x.id == r.id).expect("same record");
    for (real, masked) in [(&r.email, &v.email), (&r.phone, &v.phone), (&r.given_name, &v.given_name)] {
        assert_ne!(real, masked);
    }
    assert!(v.email.as_deref().is_some_and(|e| e.contains("***@")));
    assert!(matches!(viewer.reveal(&[r.id], &[], "curious"), Err(ServiceError::Denied(_))));
    drop(viewer);

    let steward = open_as(&dir, "stu", "steward-pass").expect("steward");
    let before = steward.audit_list(&Default::default()).expect("audit").len();
    let shown = steward.reveal(&[r.id], &[FieldName::parse("email")], "customer on the phone").expect("reveal");
    assert_eq!(shown[0].email, r.email, "the revealed field");
    assert_ne!(shown[0].phone, r.phone, "other fields stay masked");
    let audit = steward.audit_list(&Default::default()).expect("audit");
    assert_eq!(audit.len(), before + 1, "exactly one entry per reveal");
    let e = audit.last().expect("entry");
    assert_eq!((e.action.as_str(), e.user.as_str()), ("reveal", "stu"));
    assert_eq!(e.reason.as_deref(), Some("customer on the phone"));
    assert_eq!(e.records, vec![r.id.to_string()]);
    assert!(matches!(steward.reveal(&[r.id], &[], " "), Err(ServiceError::Denied(_))), "a reason is required");
}

#[test]
fn a_viewers_cli_show_json_holds_none_of_the_real_values() {
    let tmp = store();
    let dir = tmp.path().join("s");
    let real = open_as(&dir, "ops", "demo").expect("admin").records(&mut |_| {}).expect("records");
    for r in real.iter().take(20) {
        let mut c = Command::new(bin());
        c.arg("--store").arg(&dir).args(["--user", "vic", "show", &r.id.to_string(), "--json"]);
        c.env("STEWARD_PASSPHRASE", "viewer-pass");
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{err}");
        let values = [&r.given_name, &r.family_name, &r.email, &r.phone, &r.address.line1, &r.address.postcode];
        for v in values.into_iter().flatten() {
            assert!(!out.contains(v.as_str()), "a viewer's show --json reveals {v:?}");
        }
        if let Some(d) = r.date_of_birth {
            assert!(!out.contains(&d.to_string()), "full date of birth");
        }
        for (_, v) in r.extra.iter() {
            assert!(v.len() < 4 || !out.contains(v.as_str()), "extra value {v:?}");
        }
    }
    // Erase, export and update as the viewer: refused, with a message and an audit entry.
    let id = real[0].id.to_string();
    for args in [
        vec!["erase", &id, "--reason", "x", "--yes"],
        vec![
            "export",
            &id,
            "-r",
            "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs0q3qwl",
            "-o",
            "/dev/null/x",
        ],
        vec!["update", &id, "email=a@example.com", "--reason", "x"],
    ] {
        let mut c = Command::new(bin());
        c.arg("--store").arg(&dir).args(["--user", "vic"]).args(&args).env("STEWARD_PASSPHRASE", "viewer-pass");
        let (code, _, err) = run(c);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains("your role viewer cannot"), "{err}");
    }
    let audit = open_as(&dir, "ops", "demo").expect("admin").audit_list(&Default::default()).expect("audit");
    let denied: Vec<&str> =
        audit.iter().filter(|e| e.user == "vic" && e.outcome.name() == "denied").map(|e| e.action.as_str()).collect();
    assert_eq!(denied, ["erase", "export", "update"]);
}

#[test]
fn a_removed_users_passphrase_opens_nothing_and_the_last_admin_stays() {
    let tmp = store();
    let dir = tmp.path().join("s");
    {
        let admin = open_as(&dir, "ops", "demo").expect("admin");
        admin.user_remove("stu").expect("remove");
        assert!(matches!(admin.user_remove("ops"), Err(ServiceError::Denied(_))), "the last admin");
        assert!(matches!(admin.user_set_role("ops", Role::Viewer), Err(ServiceError::Denied(_))));
    }
    assert!(open_as(&dir, "stu", "steward-pass").is_err(), "the old passphrase must open nothing");
    // Not even against a copy of the key-slot file made after the removal.
    let slots: steward::crypto::KeySlots =
        serde_json::from_slice(&std::fs::read(dir.join("keyslots.json")).expect("slots")).expect("json");
    let secret = steward::crypto::UnlockSecret::Passphrase(SecretString::from("steward-pass".to_owned()));
    assert!(slots.unlock("stu", &secret).is_err());
    // A role changed by the admin holds; one edited in the file does not.
    open_as(&dir, "ops", "demo").expect("admin").user_set_role("vic", Role::Steward).expect("role");
    assert_eq!(open_as(&dir, "vic", "viewer-pass").expect("vic").session().role, Role::Steward);
    let text = std::fs::read_to_string(dir.join("keyslots.json")).expect("slots");
    let forged = text.replacen("\"steward\"", "\"admin\"", 1);
    std::fs::write(dir.join("keyslots.json"), forged).expect("write");
    assert!(open_as(&dir, "vic", "viewer-pass").is_err(), "an edited role must not unlock");
}

#[test]
fn a_forged_user_variable_does_not_change_who_you_are() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("s");
    let (code, _, err) = run({
        let mut c = steward(&store);
        c.args(["init", "--kdf-cost", "low"]).env("USER", "root-forged").env("LOGNAME", "root-forged");
        c
    });
    assert_eq!(code, 0, "{err}");
    let me = steward::os_user();
    let slots = std::fs::read_to_string(store.join("keyslots.json")).expect("slots");
    assert!(slots.contains(&format!("\"user\": \"{me}\"")), "the admin is the OS user from the uid");
    assert!(!slots.contains("root-forged"));
    let mut c = steward(&store);
    c.args(["audit", "list", "--json"]).env("USER", "someone-else");
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("someone-else"));
}

#[test]
fn while_one_admin_holds_the_store_another_browses_a_read_only_snapshot() {
    let tmp = store();
    let dir = tmp.path().join("s");
    let holder = open_as(&dir, "ops", "demo").expect("admin");
    // The second admin is told who holds it and since when.
    holder.user_add("ann", Role::Admin, pass("second-admin")).expect("add");
    let err = match Service::door(&dir, "ann") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the store is held"),
    };
    assert!(err.contains("in use by ops") && err.contains("since") && err.contains("--read-only"), "{err}");
    // No snapshot yet: said plainly.
    let creds = |_: &Door| Ok(Credentials::Passphrase(SecretString::from("second-admin".to_owned())));
    let e = match Service::open_read_only(&dir, "ann", creds) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("no snapshot yet"),
    };
    assert!(e.contains("no read-only snapshot"), "{e}");
    holder.publish_snapshot().expect("publish");
    let ro = Service::open_read_only(&dir, "ann", creds).expect("read-only");
    assert!(ro.read_only().is_some());
    assert_eq!(ro.count(), holder.count());
    let id = ro.records(&mut |_| {}).expect("records")[0].id;
    let edit = [FieldEdit { field: FieldName::parse("region"), value: Some("North".into()) }];
    let refused = ro.update(id, &edit, "fix").expect_err("read-only refuses").to_string();
    assert!(refused.contains("read-only snapshot"), "{refused}");
    // The holder is not disturbed, and its data is unchanged by the reader.
    holder.update(id, &edit, "fix").expect("the holder still writes");
}

#[test]
fn an_outdated_snapshot_cannot_be_used_after_erasure_or_by_a_removed_user() {
    let tmp = store();
    let dir = tmp.path().join("s");
    let holder = open_as(&dir, "ops", "demo").expect("admin");
    holder.publish_snapshot().expect("publish");
    let old = std::fs::read(dir.join(steward::store::SNAPSHOT_FILE)).expect("snapshot");
    // Any change withdraws the snapshot: an erasure must not stay browsable.
    let id = holder.records(&mut |_| {}).expect("records")[0].id;
    let plan = holder.plan_erase(&[id], Strategy::Delete).expect("plan");
    holder.erase(&plan, "asked", None, false, &|_| {}).expect("erase");
    assert!(!dir.join(steward::store::SNAPSHOT_FILE).exists(), "the erasure withdrew the snapshot");
    // A removed user with an old snapshot file put back is still refused.
    holder.user_remove("stu").expect("remove");
    drop(holder);
    std::fs::write(dir.join(steward::store::SNAPSHOT_FILE), old).expect("put the old snapshot back");
    let creds = |_: &Door| Ok(Credentials::Passphrase(SecretString::from("steward-pass".to_owned())));
    match Service::open_read_only(&dir, "stu", creds) {
        Err(e) => assert!(e.to_string().contains("changed since this snapshot"), "{e}"),
        Ok(_) => panic!("a removed user opened an old snapshot"),
    }
}

#[test]
fn a_stewards_merge_plan_is_an_audited_reveal() {
    let tmp = store();
    let dir = tmp.path().join("s");
    let ids: Vec<RecordId> = {
        let admin = open_as(&dir, "ops", "demo").expect("admin");
        let records = admin.records(&mut |_| {}).expect("records");
        let report = admin.scan(&records, &|_| {}).expect("scan");
        let f = report.findings.iter().find(|f| f.kind == steward::findings::Kind::Duplicate).expect("dup");
        f.records.iter().map(|&i| records[i as usize].id).collect()
    };
    let stu = open_as(&dir, "stu", "steward-pass").expect("steward");
    let before = stu.audit_list(&Default::default()).expect("audit").len();
    stu.plan_merge(&ids, None).expect("plan");
    let audit = stu.audit_list(&Default::default()).expect("audit");
    assert_eq!(audit.len(), before + 1);
    assert_eq!(audit.last().map(|e| e.action.as_str()), Some("reveal"));
}

/// Issue 14 (safety): a viewer could not search by name or email at all
/// (`/kempdale` found nothing), although the README says viewers may
/// search. The index is built over the real values; what the viewer is
/// shown stays masked.
#[test]
fn viewers_find_customers_by_what_they_cannot_see_and_see_it_masked() {
    let tmp = store();
    let dir = tmp.path().join("s");
    let admin = open_as(&dir, "ops", "demo").expect("admin");
    let real = admin.records(&mut |_| {}).expect("records");
    drop(admin);
    let target = real.iter().find(|r| r.family_name.as_deref().is_some_and(|n| n.len() >= 6)).expect("a family name");
    let family = target.family_name.clone().expect("name").to_lowercase();
    let viewer = open_as(&dir, "vic", "viewer-pass").expect("viewer");
    let (shown, index) = viewer.records_and_index(&mut |_| {}).expect("records");
    let hits = index.search(&family, None, &std::sync::atomic::AtomicU64::new(0), 0).expect("search");
    assert!(hits.iter().any(|h| shown[h.index as usize].id == target.id), "the viewer finds {family}");
    let seen = &shown[shown.iter().position(|r| r.id == target.id).expect("shown")];
    assert_ne!(seen.family_name, target.family_name, "shown masked");
    assert_ne!(seen.email, target.email, "shown masked");
}
