//! The encrypted store: round trip, reopen, wrong passphrase, locking,
//! plaintext never on disk, permissions, clear open errors.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use secrecy::SecretString;
use steward::import::{self, Format, Options};
use steward::service::{Credentials, OnInvalid, Service, ServiceError};
use steward::store::{LockedStore, StoreError};

/// A library store in a temp dir, holding the demo customers.
fn demo_store() -> (tempfile::TempDir, std::path::PathBuf, Service) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("s");
    let s = lib_store(&dir);
    demo_rows(&s);
    (tmp, dir, s)
}

fn demo_rows(service: &Service) {
    let opts = Options { format: Format::Csv, id_column: None, source: "crm".into(), now: chrono::Utc::now() };
    let parsed = import::parse(steward::service::demo::DEMO_CSV.as_bytes(), &opts, &mut |_| {});
    service.import(parsed, OnInvalid::Refuse, false, &|_| {}).expect("import");
}

#[test]
fn records_survive_reopen_exactly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("s");
    let before = {
        let s = lib_store(&dir);
        demo_rows(&s);
        s.records(&mut |_| {}).expect("records")
    };
    assert_eq!(before.len(), 2000);
    let s = lib_open(&dir);
    let after = s.records(&mut |_| {}).expect("records");
    assert_eq!(before, after);
    assert_eq!(s.count(), 2000);
    // Lookup by id and by source id.
    let r = &after[17];
    assert_eq!(&s.find(&r.id.to_string()).expect("by id"), r);
    assert_eq!(&s.find(&format!("crm:{}", r.source_id)).expect("by source id"), r);
}

#[test]
fn wrong_passphrase_is_refused_with_one_clear_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("s");
    drop(lib_store(&dir));
    let locked = Service::door(&dir, "tester").expect("lock");
    let err = Service::unlock(locked, "tester", Credentials::Passphrase(SecretString::from("nope".to_owned())))
        .err()
        .expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains("wrong passphrase"), "{msg}");
    assert!(!msg.contains('\n'));
    // And through the CLI: exit 1, one line.
    let mut c = steward(&dir);
    c.env("STEWARD_PASSPHRASE", "nope").args(["--user", "tester", "stats"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
}

#[test]
fn a_second_open_is_told_who_holds_the_store() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("s");
    let first = lib_store(&dir);
    match LockedStore::open(&dir, "someone-else") {
        Err(StoreError::InUse(info)) => {
            assert_eq!(info.user, "tester");
            assert_eq!(info.pid, std::process::id());
            let msg = StoreError::InUse(info).to_string();
            assert!(msg.starts_with("store is in use by tester"), "{msg}");
            assert!(msg.contains(" since "), "{msg}");
        }
        other => panic!("expected InUse, got {:?}", other.map(|_| ())),
    }
    // The real binary, while we hold it: non-zero, fast, says who.
    let started = std::time::Instant::now();
    let (code, _, err) = cli(&dir, &["stats", "--json"]);
    assert_eq!(code, 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(err.contains("in use by tester"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    drop(first);
    // Released: opens again.
    drop(lib_open(&dir));
}

#[test]
fn no_plaintext_personal_data_reaches_the_disk() {
    let (_tmp, dir, s) = demo_store();
    let records = s.records(&mut |_| {}).expect("records");
    drop(s);
    let files = all_files(&dir);
    assert!(files.len() >= 3);
    let mut checked = 0;
    for r in records.iter().step_by(7) {
        let mut needles: Vec<String> = vec![r.source_id.clone()];
        needles.extend(r.email.clone());
        needles.extend(r.family_name.clone().filter(|n| n.len() >= 5));
        needles.extend(r.phone.clone().filter(|p| p.len() >= 8));
        for n in needles {
            for (path, bytes) in &files {
                assert!(!contains(bytes, n.as_bytes()), "{} holds plaintext", path.display());
                assert!(!contains(bytes, n.to_lowercase().as_bytes()), "{} holds plaintext", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 500, "checked only {checked} values");
}

#[test]
fn store_is_private_to_its_owner() {
    let (_tmp, dir, s) = demo_store();
    drop(s);
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let mode = std::fs::metadata(&d).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
    }
}

#[test]
fn open_errors_are_specific() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Missing.
    let err = LockedStore::open(tmp.path().join("nope"), "t").expect_err("missing");
    assert!(err.to_string().contains("no steward store"), "{err}");
    // A directory that is something else.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(other.join("notes.txt"), "hello").expect("write");
    let err = LockedStore::open(&other, "t").expect_err("foreign");
    assert!(err.to_string().contains("is not a steward store"), "{err}");
    // A store written by a newer steward.
    let dir = tmp.path().join("s");
    drop(lib_store(&dir));
    let slots = dir.join("keyslots.json");
    let text = std::fs::read_to_string(&slots).expect("slots");
    std::fs::write(&slots, text.replacen("\"format\": 1", "\"format\": 99", 1)).expect("write");
    let err = LockedStore::open(&dir, "tester").expect_err("too new");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer than this steward"), "{err}");
    // Init refuses a non-empty directory.
    let (code, _, e) = cli(&other, &["init", "--kdf-cost", "low"]);
    assert_eq!(code, 1);
    assert!(e.contains("not empty"), "{e}");
}

#[test]
fn unknown_users_get_the_same_answer_as_wrong_passphrases() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("s");
    drop(lib_store(&dir));
    let attempt = |user: &str, pass: &str| {
        let locked = Service::door(&dir, user).expect("lock");
        Service::unlock(locked, user, Credentials::Passphrase(SecretString::from(pass.to_owned())))
            .err()
            .map(|e| e.to_string().replace(user, "USER"))
            .expect("must fail")
    };
    let unknown = attempt("mallory", PASS);
    let wrong = attempt("tester", "not the passphrase");
    assert_eq!(unknown, wrong);
    assert!(matches!(
        Service::unlock(
            Service::door(&dir, "mallory").expect("lock"),
            "mallory",
            Credentials::Passphrase(SecretString::from(PASS.to_owned()))
        ),
        Err(ServiceError::Store(StoreError::Slot(_)))
    ));
}
