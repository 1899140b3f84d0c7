//! The request queue through the binary: deadlines computed per
//! jurisdiction, the queue sorted by due date with days left, completion,
//! and requests surviving a key rotation without a trace on disk.

mod common;

use common::*;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn deadlines_queue_and_completion() {
    let (_tmp, store) = init_store();
    let add = |args: &[&str]| {
        let mut all = vec!["request", "add", "--json"];
        all.extend_from_slice(args);
        let (code, out, err) = cli(&store, &all);
        assert_eq!(code, 0, "{err}");
        json(&out)
    };
    let a =
        add(&["--type", "erasure", "--jurisdiction", "gdpr", "--received", "2026-03-31", "--email", "ann@example.com"]);
    assert_eq!((a["ref"].as_str(), a["due"].as_str()), (Some("REQ-2026-0001"), Some("2026-04-30")));
    let b = add(&["--type", "access", "--jurisdiction", "gdpr", "--received", "2026-01-31", "--name", "Bo Ek"]);
    assert_eq!(b["due"], "2026-03-02", "28 February 2026 is a Saturday");
    let c = add(&[
        "--type",
        "portability",
        "--jurisdiction",
        "ccpa",
        "--received",
        "2026-11-01",
        "--phone",
        "+1 415 555 0101",
        "--ref",
        "WEB-77",
    ]);
    assert_eq!((c["ref"].as_str(), c["due"].as_str()), (Some("WEB-77"), Some("2026-12-16")));
    assert_eq!(c["acknowledge_by"], "2026-11-13");
    assert!(c["days_left"].is_i64());
    // Refused: no contact, unknown reference twice.
    let (code, _, err) =
        cli(&store, &["request", "add", "--type", "access", "--jurisdiction", "gdpr", "--received", "2026-01-01"]);
    assert_eq!(code, 1);
    assert!(err.contains("name, email or phone"), "{err}");
    let (code, _, _) = cli(
        &store,
        &[
            "request",
            "add",
            "--type",
            "access",
            "--jurisdiction",
            "gdpr",
            "--received",
            "2026-01-01",
            "--name",
            "X",
            "--ref",
            "WEB-77",
        ],
    );
    assert_eq!(code, 1, "a reference is unique");

    // The queue: soonest due first, days left counted from today.
    let (code, out, err) = cli(&store, &["request", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let refs: Vec<String> = out.lines().map(|l| json(l)["ref"].as_str().expect("ref").to_owned()).collect();
    assert_eq!(refs, ["REQ-2026-0002", "REQ-2026-0001", "WEB-77"]);
    let today = chrono::Utc::now().date_naive();
    for l in out.lines() {
        let v = json(l);
        let due: chrono::NaiveDate = v["due"].as_str().expect("due").parse().expect("date");
        assert_eq!(v["days_left"].as_i64(), Some((due - today).num_days()));
        assert_eq!(v["overdue"].as_bool(), Some(due < today));
    }

    // Completed requests go to the end and are never overdue.
    let (code, _, err) = cli(&store, &["request", "complete", "REQ-2026-0002", "--answer", "export-1.age"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = cli(&store, &["request", "show", "REQ-2026-0002", "--json"]);
    let v = json(&out);
    assert_eq!(v["status"]["state"], "completed");
    assert_eq!(v["overdue"], false);
    assert_eq!(v["answers"][0], "export-1.age");
    let (code, _, _) = cli(&store, &["request", "complete", "REQ-2026-0002"]);
    assert_eq!(code, 1, "completed once");

    // Requests survive a key rotation and leave no plaintext on disk.
    let (code, _, err) = cli(&store, &["rekey"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&store, &["request", "show", "WEB-77", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["requester"]["phone"], "+1 415 555 0101");
    for (path, bytes) in all_files(&store) {
        for secret in ["ann@example.com", "Bo Ek", "415 555 0101"] {
            assert!(!contains(&bytes, secret.as_bytes()), "{} holds {secret}", path.display());
        }
    }
    let (code, out, _) = cli(&store, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
}
