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
    // Ten business days: 11 November (Veterans Day) is a California holiday.
    assert_eq!(c["acknowledge_by"], "2026-11-16");
    assert!(c["acknowledged"].is_null());
    let (code, _, err) = cli(&store, &["request", "acknowledge", "WEB-77"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&store, &["request", "acknowledge", "WEB-77"]);
    assert_eq!(code, 1, "acknowledged once");
    assert!(err.contains("acknowledged already"), "{err}");
    let (_, out, _) = cli(&store, &["request", "show", "WEB-77", "--json"]);
    assert_eq!(json(&out)["acknowledged"], chrono::Utc::now().date_naive().to_string());
    assert!(c["days_left"].is_i64());
    // Refused: no contact, unknown reference twice.
    let (code, _, err) =
        cli(&store, &["request", "add", "--type", "access", "--jurisdiction", "gdpr", "--received", "2026-01-01"]);
    assert_eq!(code, 1);
    assert!(err.contains("say who is asking"), "{err}");
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

    // Completed requests go to the end and are never overdue. An access
    // request is completed by hand only once the requester is verified.
    let (code, _, err) = cli(&store, &["request", "complete", "REQ-2026-0002", "--answer", "export-1.age"]);
    assert_eq!(code, 1);
    assert!(err.contains("verify the requester"), "{err}");
    let (code, _, err) = cli(&store, &["request", "verify", "REQ-2026-0002", "--method", "letter with ID"]);
    assert_eq!(code, 0, "{err}");
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

/// The demo request of `kind` that is still `new`, the most urgent first.
fn demo_request(store: &std::path::Path, kind: &str) -> serde_json::Value {
    let (code, out, err) = demo_cli(store, &["request", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    out.lines().map(json).find(|v| v["type"] == kind && v["status"]["state"] == "new").expect("a new demo request")
}

#[test]
fn matching_finds_every_near_duplicate_and_the_erasure_takes_them_all() {
    let (_tmp, store) = demo_store();
    let req = demo_request(&store, "erasure");
    let reference = req["ref"].as_str().expect("ref").to_owned();
    let (requester_name, requester_email) = (
        req["requester"]["name"].as_str().expect("name").to_owned(),
        req["requester"]["email"].as_str().expect("email").to_owned(),
    );

    // Not yet: no identity check, no linked records.
    let (code, _, err) = demo_cli(&store, &["request", "erase", &reference, "--yes"]);
    assert_eq!(code, 1);
    assert!(err.contains("not verified"), "{err}");

    let (code, out, err) = demo_cli(&store, &["request", "match", &reference, "--json"]);
    assert_eq!(code, 0, "{err}");
    let found: Vec<serde_json::Value> = out.lines().map(json).collect();
    let proposed: Vec<&serde_json::Value> = found.iter().filter(|c| c["proposed"] == true).collect();
    assert_eq!(proposed.len(), 3, "the demo's first erasure requester has three records: {out}");
    assert!(
        proposed.iter().any(|c| c["email"].as_str() != Some(requester_email.as_str())),
        "at least one is found without the requester's email (by name or as a near-duplicate): {out}"
    );
    for c in &proposed {
        assert!(c["score"].as_f64().is_some_and(|s| s >= 0.5), "{c}");
        assert!(c["reasons"].as_array().is_some_and(|r| !r.is_empty()), "{c}");
    }
    let ids: Vec<String> = proposed.iter().map(|c| c["id"].as_str().expect("id").to_owned()).collect();

    let (code, _, err) = demo_cli(&store, &["request", "match", &reference, "--link"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        demo_cli(&store, &["request", "verify", &reference, "--method", "replied from the email on file"]);
    assert_eq!(code, 0, "{err}");
    // Without --yes only the plan.
    let (code, _, err) = demo_cli(&store, &["request", "erase", &reference]);
    assert_eq!(code, 1);
    for id in &ids {
        assert!(err.contains(id.as_str()), "the plan names {id}: {err}");
    }
    let before = record_count_of(&store);
    let (code, out, err) = demo_cli(&store, &["request", "erase", &reference, "--yes"]);
    assert_eq!(code, 0, "{err}");
    let receipt = json(&out);
    assert_eq!(receipt["request"], reference.as_str());
    assert_eq!(receipt["records_erased"], 3);
    assert_eq!(receipt["also_erased"]["request_entries"], 1);
    assert_eq!(receipt["key_rotated"], true);
    assert_eq!(record_count_of(&store), before - 3);
    for id in &ids {
        let (code, _, err) = demo_cli(&store, &["show", id]);
        assert_eq!(code, 1);
        assert!(err.contains("was erased") && err.contains(receipt["receipt"].as_str().expect("id")), "{err}");
    }

    // The request is completed with the receipt; the requester's details are gone.
    let (code, out, err) = demo_cli(&store, &["request", "show", &reference, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["status"]["state"], "completed");
    assert_eq!(v["answers"][0], receipt["receipt"]);
    assert_eq!(v["requester_erased"], receipt["receipt"]);
    assert!(v["requester"]["name"].is_null() && v["requester"]["email"].is_null(), "{v}");
    for (path, bytes) in all_files(&store) {
        for secret in [&requester_name, &requester_email] {
            assert!(!contains(&bytes, secret.as_bytes()), "{} holds the requester's {secret}", path.display());
        }
    }
    let (_, out, _) = demo_cli(&store, &["audit", "list", "--json"]);
    let erase = out.lines().map(json).find(|e| e["action"] == "erase" && e["outcome"] == "ok").expect("erase entry");
    assert_eq!(erase["request"], reference.as_str());
    let (code, out, _) = demo_cli(&store, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
}

fn record_count_of(store: &std::path::Path) -> u64 {
    let (code, out, err) = demo_cli(store, &["stats", "--json"]);
    assert_eq!(code, 0, "{err}");
    json(&out)["records"].as_u64().expect("count")
}

#[test]
fn an_access_request_is_answered_with_an_age_export_the_reference_tool_opens() {
    let (tmp, store) = demo_store();
    let req = demo_request(&store, "access");
    let reference = req["ref"].as_str().expect("ref").to_owned();
    let id = age::x25519::Identity::generate();
    let key_file = write(tmp.path(), "key.txt", secrecy::ExposeSecret::expose_secret(&id.to_string()).as_bytes());
    let file = tmp.path().join("answer.age");
    let path = file.to_str().expect("path");
    let recipient = id.to_public().to_string();
    let (code, _, err) = demo_cli(&store, &["request", "export", &reference, "-r", &recipient, "-o", path]);
    assert_eq!(code, 1, "refused before verification");
    assert!(err.contains("not verified"), "{err}");
    assert!(!file.exists());
    for args in [
        vec!["request", "match", &reference, "--link"],
        vec!["request", "verify", &reference, "--method", "ID document seen"],
        vec!["request", "erase", &reference, "--yes"],
    ] {
        let (code, _, err) = demo_cli(&store, &args);
        if args[1] == "erase" {
            assert_eq!(code, 1, "an access request is not erased");
            assert!(err.contains("not erasure"), "{err}");
        } else {
            assert_eq!(code, 0, "{args:?}: {err}");
        }
    }
    let (code, out, err) = demo_cli(&store, &["request", "export", &reference, "-r", &recipient, "-o", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("completed"), "{out}");
    let (_, out, _) = demo_cli(&store, &["request", "show", &reference, "--json"]);
    let v = json(&out);
    assert_eq!(v["status"]["state"], "completed");
    assert_eq!(v["answers"][0], "export answer.age");
    let linked = v["records"].as_array().expect("records").len();
    assert!(linked >= 1);
    if let Some(age) = age_tool() {
        let o = std::process::Command::new(age).arg("-d").arg("-i").arg(&key_file).arg(&file).output().expect("age");
        assert!(o.status.success(), "age -d failed: {}", String::from_utf8_lossy(&o.stderr));
        let doc = json(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(doc["subjects"].as_array().map(Vec::len), Some(linked));
        for s in doc["subjects"].as_array().expect("subjects") {
            assert!(
                s["requests"].as_array().is_some_and(|r| r.iter().any(|q| q["ref"] == reference.as_str())),
                "each subject lists the request it was exported for: {s}"
            );
        }
        let subjects = doc["subjects"].as_array().expect("subjects");
        assert!(subjects.iter().any(|s| s["fields"]["email"].is_string()), "the requester's email is in the answer");
    }
}

#[test]
fn intake_files_are_taken_in_whole_or_not_at_all() {
    let (tmp, store) = init_store();
    let bad = write(
        tmp.path(),
        "bad.csv",
        b"Ticket ID,Request Type,Law,Submitted At,Full Name,Email\n\
          T-1,Deletion,GDPR,2026-03-31T09:15:00Z,Ann Lee,ann@example.com\n\
          T-2,Complaint,GDPR,2026-04-01,Bo Ek,\n",
    );
    let (code, _, err) = cli(&store, &["request", "import", bad.to_str().expect("path")]);
    assert_eq!(code, 1);
    assert!(err.contains("line 3") && err.contains("unknown request type"), "{err}");
    assert!(!err.contains("Complaint") && !err.contains("Bo Ek"), "values are not echoed: {err}");
    let (_, out, _) = cli(&store, &["request", "list", "--json"]);
    assert!(out.trim().is_empty(), "nothing taken in: {out}");

    let good = write(
        tmp.path(),
        "tickets.jsonl",
        b"{\"ticket_id\":\"T-1\",\"type\":\"deletion\",\"law\":\"GDPR\",\"received\":\"2026-03-31\",\"email\":\"ann@example.com\"}\n\
          {\"type\":\"do not sell\",\"jurisdiction\":\"cpra\",\"received\":\"2026-11-01\",\"phone\":\"+1 415 555 0101\"}\n",
    );
    let (code, _, err) = cli(&store, &["request", "import", good.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = cli(&store, &["request", "list", "--json"]);
    let list: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(list.len(), 2);
    let t1 = list.iter().find(|v| v["ref"] == "T-1").expect("T-1");
    assert_eq!((t1["type"].as_str(), t1["due"].as_str()), (Some("erasure"), Some("2026-04-30")));
    let other = list.iter().find(|v| v["ref"] != "T-1").expect("generated reference");
    assert_eq!((other["type"].as_str(), other["due"].as_str()), (Some("objection"), Some("2026-12-16")));
    // The same file again: T-1 exists, so nothing is taken in.
    let (code, _, err) = cli(&store, &["request", "import", good.to_str().expect("path")]);
    assert_eq!(code, 1);
    assert!(err.contains("T-1 exists"), "{err}");
    let (_, out, _) = cli(&store, &["request", "list", "--json"]);
    assert_eq!(out.lines().count(), 2);
}

#[test]
fn the_report_counts_the_queue_findings_users_and_the_last_verification() {
    let (_tmp, store) = demo_store();
    let (code, out, err) = demo_cli(&store, &["report", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let r = json(&out);
    let (_, list, _) = demo_cli(&store, &["request", "list", "--json"]);
    let list: Vec<serde_json::Value> = list.lines().map(json).collect();
    let open = list.iter().filter(|v| !matches!(v["status"]["state"].as_str(), Some("completed" | "rejected"))).count();
    let overdue = list.iter().filter(|v| v["overdue"] == true).count();
    assert_eq!(r["requests"]["open"].as_u64(), Some(open as u64));
    assert_eq!(r["requests"]["overdue"].as_u64(), Some(overdue as u64));
    assert!(overdue > 0, "the demo has overdue requests");
    assert!(r["requests"]["median_days_to_complete"].is_number(), "{}", r["requests"]);
    assert_eq!(r["queue"].as_array().map(Vec::len), Some(open));
    assert!(r["findings"]["per_kind"]["duplicate"].as_u64().is_some_and(|n| n > 0));
    assert!(r["findings"]["quality"].is_number());
    assert_eq!(r["users"][0]["name"], "tester");
    assert_eq!(r["users"][0]["role"], "admin");
    assert!(r["last_verification"].is_null(), "never verified yet");
    let (code, _, _) = demo_cli(&store, &["audit", "verify"]);
    assert_eq!(code, 0);
    let (_, out, _) = demo_cli(&store, &["report"]);
    assert!(out.starts_with("# Compliance report"), "{out}");
    assert!(out.contains("| overdue | ") && out.contains("Last verified ") && out.contains(": intact"), "{out}");
    for v in &list {
        if let Some(email) = v["requester"]["email"].as_str() {
            assert!(!out.contains(email), "the report holds no personal data");
        }
    }
}

#[test]
fn an_erasure_takes_the_same_persons_other_requests_and_their_free_text() {
    let (tmp, store) = demo_store();
    let access = demo_request(&store, "access");
    let access_ref = access["ref"].as_str().expect("ref").to_owned();
    let email = access["requester"]["email"].as_str().expect("email").to_owned();
    let name = access["requester"]["name"].as_str().expect("name").to_owned();
    // The access request is answered, with a file named after the person.
    let file_name = format!("{}-copy.age", name.to_lowercase().replace(' ', "-"));
    let file = tmp.path().join(&file_name);
    let key = age::x25519::Identity::generate().to_public().to_string();
    for args in [
        vec!["request", "match", &access_ref, "--link"],
        vec!["request", "verify", &access_ref, "--method", "passport seen"],
    ] {
        let (code, _, err) = demo_cli(&store, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    // Completing it by hand is refused: it has linked records to export.
    let (code, _, err) = demo_cli(&store, &["request", "complete", &access_ref]);
    assert_eq!(code, 1);
    assert!(err.contains("request export"), "{err}");
    let (code, _, err) =
        demo_cli(&store, &["request", "export", &access_ref, "-r", &key, "-o", file.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");

    // Later the same person asks to be forgotten.
    let (code, out, err) = demo_cli(
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
            "--email",
            &email,
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let erasure = json(&out)["ref"].as_str().expect("ref").to_owned();
    for args in [
        vec!["request", "match", &erasure, "--link"],
        vec!["request", "verify", &erasure, "--method", "replied from the email on file"],
    ] {
        let (code, _, err) = demo_cli(&store, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, _, err) = demo_cli(&store, &["request", "erase", &erasure]);
    assert_eq!(code, 1);
    assert!(err.contains("the details of 2 requester(s)"), "both requests lose the details: {err}");
    let (code, _, err) = demo_cli(&store, &["request", "erase", &erasure, "--yes"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = demo_cli(&store, &["request", "show", &access_ref, "--json"]);
    let v = json(&out);
    assert!(v["requester_erased"].is_string(), "{v}");
    assert!(v["requester"]["email"].is_null(), "{v}");
    let text = out.to_lowercase();
    assert!(!text.contains(&file_name) && !text.contains("passport"), "free text that may name them is gone: {v}");
    for (path, bytes) in all_files(&store) {
        for secret in [email.as_str(), file_name.as_str(), name.as_str()] {
            assert!(!contains(&bytes, secret.as_bytes()), "{} holds {secret}", path.display());
        }
    }
    // Nothing left to erase: the request is refused with the way out.
    let (code, _, _) = demo_cli(&store, &["request", "erase", &erasure]);
    assert_eq!(code, 1, "already completed");
}

#[test]
fn undoing_a_merge_keeps_the_restored_records_linked_and_hand_links_are_listed() {
    let (_tmp, store) = demo_store();
    let svc = {
        let locked = steward::service::Service::door(steward::service::Location::parse(&location(&store)), "tester")
            .expect("lock");
        steward::service::Service::unlock(
            locked,
            "tester",
            steward::service::Credentials::Passphrase(secrecy::SecretString::from("demo".to_owned())),
        )
        .expect("unlock")
    };
    let ids: Vec<_> = svc.records(&mut |_| {}).expect("records").iter().take(2).map(|r| r.id).collect();
    let plan = svc.plan_merge(&ids, Some(ids[0])).expect("plan");
    let merged = svc.merge(&plan, "test").expect("merge");
    let v = svc
        .request_add(steward::service::requests::NewRequest {
            reference: Some("HAND-1".into()),
            kind: steward::model::request::RequestKind::Erasure,
            jurisdiction: "gdpr".into(),
            received: chrono::Utc::now().date_naive(),
            channel: "phone".into(),
            requester: steward::model::request::Requester { name: Some("Zz Qq".into()), ..Default::default() },
        })
        .expect("add");
    svc.request_link(&v.reference, &[ids[0]], true).expect("link the survivor");
    // Linked by hand, without any matching detail: still listed, as linked.
    let found = svc.request_match("HAND-1").expect("match");
    assert!(found.candidates.iter().any(|c| c.id == ids[0] && c.linked), "{found:?}");
    svc.undo_merge(&merged.merge_id, "wrong merge").expect("undo");
    let v = svc.request("HAND-1").expect("request");
    assert!(
        v.records.contains(&ids[0]) && v.records.contains(&ids[1]),
        "both restored records stay linked: {:?}",
        v.records
    );
    // Erasing it now takes both.
    svc.request_verify("HAND-1", true, "called back").expect("verify");
    let plan = svc.request_plan_erase("HAND-1", steward::service::actions::Strategy::Delete).expect("plan");
    assert_eq!(plan.records.len(), 2);
    svc.request_erase("HAND-1", &plan, "asked on the phone", false, &|_| {}).expect("erase");
    assert!(svc.get(ids[0]).is_err() && svc.get(ids[1]).is_err());
}

/// Issue 14 (safety): on the Requests screen, `e` rectified a record for an
/// unverified request with nothing linked, the audit entry had no request
/// reference, and the request could then be completed. A rectification now
/// needs a rectification request, a verified requester and a linked record,
/// and its audit entry names the request.
#[test]
fn a_rectification_needs_a_verified_requester_and_a_linked_record() {
    use steward::model::request::{NewRequest, RequestKind, Requester};
    use steward::service::actions::{FieldEdit, FieldName};
    let tmp = tempfile::tempdir().expect("tmp");
    let svc = demo_service(&tmp.path().join("s"));
    let records = svc.records(&mut |_| {}).expect("records");
    let (target, other) = (records[0].id, records[1].id);
    let received = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).expect("date");
    let v = svc
        .request_add(NewRequest {
            reference: None,
            kind: RequestKind::Rectification,
            jurisdiction: "gdpr".into(),
            received,
            channel: "email".into(),
            requester: Requester { email: records[0].email.clone(), ..Default::default() },
        })
        .expect("request");
    let edit = [FieldEdit { field: FieldName::parse("region"), value: Some("North".into()) }];
    let refused = |why: &str| {
        let e = svc.request_update(&v.reference, target, &edit, "customer asked").expect_err(why).to_string();
        assert!(e.contains(why), "{e}");
    };
    refused("not verified");
    svc.request_verify(&v.reference, true, "replied from the email on file").expect("verify");
    refused("no records are linked");
    svc.request_link(&v.reference, &[target], true).expect("link");
    let e = svc.request_update(&v.reference, other, &edit, "customer asked").expect_err("not linked").to_string();
    assert!(e.contains("not linked"), "{e}");
    let u = svc.request_update(&v.reference, target, &edit, "customer asked").expect("rectified");
    assert_eq!(u.diffs.len(), 1);
    assert_eq!(u.entry.request.as_deref(), Some(v.reference.as_str()));
    // Not for other kinds of request.
    let erasure = svc
        .request_add(NewRequest {
            reference: None,
            kind: RequestKind::Erasure,
            jurisdiction: "gdpr".into(),
            received,
            channel: "email".into(),
            requester: Requester { email: records[2].email.clone(), ..Default::default() },
        })
        .expect("request");
    let e = svc.request_update(&erasure.reference, target, &edit, "x").expect_err("erasure").to_string();
    assert!(e.contains("not rectification"), "{e}");
}
