//! Accountability on the demo store, through the command line: a breach
//! scoped to one import source (counts, clock, a notification list the
//! reference `age` opens, an authority report without personal data), the
//! record of processing and the privacy notice naming the contradictions
//! until the remedies remove them, the marketing extract against the
//! generator's truth, and the usage alerts.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::*;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn ok(r: (i32, String, String)) -> String {
    assert_eq!(r.0, 0, "exit {}: {}{}", r.0, r.1, r.2);
    r.1
}

/// A fresh age identity: (its key file, its public key).
fn identity(dir: &Path) -> (std::path::PathBuf, age::x25519::Identity, String) {
    let id = age::x25519::Identity::generate();
    let file = write(dir, "key.txt", secrecy::ExposeSecret::expose_secret(&id.to_string()).as_bytes());
    let public = id.to_public().to_string();
    (file, id, public)
}

/// Decrypts with the reference `age` tool (or, loudly, with the age crate
/// where the tool is missing outside CI).
fn decrypt(file: &Path, key_file: &Path, id: &age::x25519::Identity) -> String {
    if let Some(age) = age_tool() {
        let o = Command::new(age).arg("-d").arg("-i").arg(key_file).arg(file).output().expect("run age");
        assert!(o.status.success(), "age -d failed: {}", String::from_utf8_lossy(&o.stderr));
        return String::from_utf8(o.stdout).expect("utf-8");
    }
    let bytes = std::fs::read(file).expect("file");
    let plain = age::decrypt(id, &bytes).expect("decrypt");
    String::from_utf8(plain).expect("utf-8")
}

/// Every record of the demo store, as `list --json` prints it.
fn records(store: &Path) -> Vec<serde_json::Value> {
    ok(demo_cli(store, &["list", "--json"])).lines().map(json).collect()
}

/// The personal values of a record worth looking for in a document (four
/// characters or more: shorter ones occur by chance).
fn values(r: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for f in ["given_name", "family_name", "email", "phone", "address_1", "postcode", "date_of_birth"] {
        if let Some(v) = r[f].as_str() {
            out.push(v.to_owned());
        }
    }
    if let Some(extra) = r["extra"].as_object() {
        for (k, v) in extra {
            if k != "marketing_consent"
                && let Some(v) = v.as_str()
            {
                out.push(v.to_owned());
            }
        }
    }
    out.into_iter().filter(|v| v.chars().count() >= 4).collect()
}

#[test]
fn a_breach_scoped_to_one_source_shows_its_counts_clock_list_and_a_report_without_personal_data() {
    let (tmp, store) = demo_store();
    let all = records(&store);
    let shop: Vec<&serde_json::Value> = all.iter().filter(|r| r["source"] == "webshop").collect();
    assert!(!shop.is_empty() && shop.len() < all.len() / 2, "the demo has a second, smaller source: {}", shop.len());

    let out = ok(demo_cli(
        &store,
        &[
            "breach",
            "open",
            "--discovered",
            "30h ago",
            "--what",
            "the web shop's customer export sat in a public bucket",
            "--source",
            "webshop",
            "--json",
        ],
    ));
    let b = json(&out);
    let reference = b["reference"].as_str().expect("reference").to_owned();
    assert!(reference.starts_with("BR-") && reference.ends_with("-0001"), "{reference}");
    assert_eq!(b["figures"]["records"], shop.len());
    let affected: BTreeSet<&str> =
        b["affected"]["ids"].as_array().expect("affected").iter().map(|a| a.as_str().expect("id")).collect();
    let expected: BTreeSet<&str> = shop.iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(affected, expected, "exactly the web shop's records");

    // Per jurisdiction and per country: every affected record once, by the country of its address.
    let mut countries: BTreeMap<String, u64> = BTreeMap::new();
    for r in &shop {
        *countries.entry(r["country"].as_str().unwrap_or("none").to_owned()).or_default() += 1;
    }
    let by_country: BTreeMap<String, u64> = b["figures"]["by_country"]
        .as_object()
        .expect("by_country")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
        .collect();
    assert_eq!(by_country, countries);
    let j = &b["figures"]["by_jurisdiction"];
    let sum: u64 = j.as_object().expect("by_jurisdiction").values().map(|v| v.as_u64().expect("n")).sum();
    assert_eq!(sum as usize, shop.len());
    assert_eq!(j["UK GDPR"].as_u64(), countries.get("GB").copied());
    assert_eq!(j["US state breach laws"].as_u64(), countries.get("US").copied());
    let eu: u64 = ["DE", "FR", "NL"].iter().filter_map(|c| countries.get(*c)).sum();
    assert_eq!(j["GDPR (EU/EEA)"].as_u64(), Some(eu));
    // Per category: a record counts under a category when it holds a value in it.
    let with_email = shop.iter().filter(|r| r["email"].is_string()).count();
    assert_eq!(b["figures"]["by_category"]["user.contact.email"].as_u64(), Some(with_email as u64));
    let with_national_id = shop.iter().filter(|r| r["extra"]["national_id"].is_string()).count();
    assert!(with_national_id > 0, "the demo's web shop holds national ids");
    assert_eq!(
        b["figures"]["by_category"]["user.government_id"].as_u64().map(|n| n as usize >= with_national_id),
        Some(true)
    );
    assert!(
        b["figures"]["high_risk_categories"].as_array().is_some_and(|c| c.iter().any(|c| c == "user.government_id"))
    );

    // The same records by their import batch (the demo's second import).
    let trail = ok(demo_cli(&store, &["audit", "list", "--json"]));
    let batch = trail
        .lines()
        .map(json)
        .filter(|e| e["action"] == "import")
        .find_map(|e| {
            let d = e["detail"].as_str()?.to_owned();
            d.contains("source webshop").then(|| d.rsplit("batch ").next().map(str::to_owned)).flatten()
        })
        .expect("the web shop's import names its batch");
    let by_batch = json(&ok(demo_cli(
        &store,
        &["breach", "open", "--discovered", "30h ago", "--what", "the same, by batch", "--batch", &batch, "--json"],
    )));
    let batch_ids: BTreeSet<&str> =
        by_batch["affected"]["ids"].as_array().expect("affected").iter().map(|a| a.as_str().expect("id")).collect();
    assert_eq!(batch_ids, expected, "batch {batch} holds exactly the web shop's records");

    // A typo does not become "no notification due": refused, saying what there is.
    let (code, _, err) =
        demo_cli(&store, &["breach", "open", "--discovered", "now", "--what", "t", "--source", "webshp"]);
    assert_ne!(code, 0, "an empty scope is refused");
    assert!(err.contains("no record matches") && err.contains("webshop"), "{err}");
    // A customer abroad of a UK controller: the UK GDPR's clock runs all the same.
    let us = shop.iter().find(|r| r["country"] == "US").expect("a US customer")["id"].as_str().expect("id");
    let abroad = json(&ok(demo_cli(
        &store,
        &["breach", "open", "--discovered", "1h ago", "--what", "one US customer's record", "--id", us, "--json"],
    )));
    assert_eq!(abroad["figures"]["under_72h_clock"], 1, "the controller is established in the UK");

    // The clock: 72 hours from discovery, 42 left.
    let shown = ok(demo_cli(&store, &["breach", "show", &reference]));
    assert!(shown.contains("41h 5") || shown.contains("42h 00m left"), "{shown}");
    assert!(shown.contains("per jurisdiction") && shown.contains("UK GDPR"), "{shown}");
    let listed = ok(demo_cli(&store, &["breach", "list", "--json"]));
    let line = listed.lines().map(json).find(|l| l["ref"] == reference.as_str()).expect("the breach");
    assert_eq!(line["clock"]["state"], "running");
    let left = line["clock"]["seconds_left"].as_i64().expect("seconds left");
    assert!((41 * 3600..=42 * 3600).contains(&left), "{left}");

    // Closing needs the risk assessed first.
    let (code, _, err) = demo_cli(&store, &["breach", "close", &reference, "--reason", "done"]);
    assert_ne!(code, 0);
    assert!(err.contains("not assessed"), "{err}");

    // A web-shop customer merged into a CRM record since: listed through the survivor.
    let moved = shop
        .iter()
        .find(|r| r["email"].is_string() && !r["extra"]["national_id"].is_string())
        .expect("a web-shop customer");
    let crm = all.iter().find(|r| r["source"] == "crm" && r["email"].is_string()).expect("a crm customer");
    let (m, c) = (moved["id"].as_str().expect("id"), crm["id"].as_str().expect("id"));
    ok(demo_cli(&store, &["merge", m, c, "--into", c, "--reason", "same person (test)"]));

    // The risk, then the notification list, decrypted by the reference age.
    ok(demo_cli(&store, &["breach", "risk", &reference, "high", "--why", "national ids among the data"]));
    let (key_file, id, public) = identity(tmp.path());
    let file = tmp.path().join("notify.age");
    let out = ok(demo_cli(
        &store,
        &["breach", "notify-list", &reference, "--recipient", &public, "-o", file.to_str().expect("path"), "--json"],
    ));
    let report = json(&out);
    let bytes = std::fs::read(&file).expect("list");
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
    for r in &shop {
        for v in values(r) {
            assert!(!contains(&bytes, v.as_bytes()), "plaintext in the encrypted list");
        }
    }
    let csv = decrypt(&file, &key_file, &id);
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().expect("header").clone();
    assert!(header.iter().any(|h| h == "data_involved") && header.iter().any(|h| h == "email"));
    let rows: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len() as u64, report["people"].as_u64().expect("people"));
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let listed_ids: BTreeSet<String> =
        rows.iter().flat_map(|r| r[col("records")].split(' ').map(str::to_owned).collect::<Vec<_>>()).collect();
    let mut want_ids: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    want_ids.remove(m);
    want_ids.insert(c.to_owned());
    assert_eq!(listed_ids, want_ids, "everyone affected, once; the merged one through the survivor");
    assert_eq!(report["merged"], 1);
    assert_eq!(report["erased"], 0);
    let emails: BTreeSet<String> =
        rows.iter().map(|r| r[col("email")].to_lowercase()).filter(|e| !e.is_empty()).collect();
    for r in shop.iter().filter(|r| r["id"] != moved["id"]) {
        if let Some(e) = r["email"].as_str() {
            assert!(emails.contains(&e.to_lowercase()), "an affected customer is missing from the list");
        }
    }
    let with_id = shop.iter().find(|r| r["extra"]["national_id"].is_string()).expect("a national id");
    let row = rows.iter().find(|row| row[col("records")].contains(with_id["id"].as_str().expect("id"))).expect("row");
    assert!(row[col("data_involved")].contains("national_id"), "{:?}", row);

    // The authority report: figures and words, no customer's value.
    ok(demo_cli(&store, &["breach", "notified", &reference, "--authority"]));
    for format in ["markdown", "json"] {
        let doc = ok(demo_cli(&store, &["breach", "report", &reference, "--format", format]));
        assert!(doc.contains(&reference) && doc.contains("Demo Shop Ltd"), "{doc}");
        assert!(doc.contains(&shop.len().to_string()), "the count of records");
        for r in &all {
            for v in values(r) {
                assert!(!doc.contains(&v), "the {format} report holds personal data");
            }
            assert!(!doc.contains(r["id"].as_str().expect("id")), "the {format} report names a record");
        }
    }
    let md = ok(demo_cli(&store, &["breach", "report", &reference]));
    assert!(md.contains("within the deadline"), "{md}");

    // Everything audited; a steward may read the register, not change it.
    let trail = ok(demo_cli(&store, &["audit", "list"]));
    for action in ["breach-open", "breach-risk", "breach-list", "breach-notified", "breach-report"] {
        assert!(trail.contains(action), "{action} is not audited:\n{trail}");
    }
    let (code, _, err) = demo_cli(&store, &["breach", "close", &reference, "--reason", "done"]);
    assert_ne!(code, 0, "closing with the people not told (high risk) is refused");
    assert!(err.contains("Art. 34"), "{err}");
}

#[test]
fn ropa_and_notice_name_the_contradictions_until_the_remedies_remove_them() {
    let (_tmp, store) = demo_store();
    let ropa = json(&ok(demo_cli(&store, &["ropa", "--json"])));
    let found: BTreeMap<(String, String), u64> = ropa["contradictions"]
        .as_array()
        .expect("contradictions")
        .iter()
        .map(|c| {
            (
                (c["kind"].as_str().expect("kind").to_owned(), c["subject"].as_str().expect("subject").to_owned()),
                c["records"].as_u64().expect("n"),
            )
        })
        .collect();
    // The demo README's figures: what the scan reports as over-collected and expired.
    let want = [
        (("undeclared_field", "fax"), 155),
        (("undeclared_field", "pager"), 35),
        (("undeclared_field", "national_id"), 88),
        (("past_retention", "records"), 69),
        (("field_past_retention", "marketing_consent"), 167),
        (("field_past_retention", "notes"), 18),
        (("undeclared_in_free_text", "notes: card number"), 17),
    ];
    for ((kind, subject), n) in want {
        assert_eq!(found.get(&(kind.to_owned(), subject.to_owned())), Some(&n), "{kind} {subject}: {found:?}");
    }
    // The purposes, bases, recipients, transfers and counts held.
    let purposes = ropa["purposes"].as_array().expect("purposes");
    let marketing = purposes.iter().find(|p| p["name"] == "marketing").expect("marketing");
    assert_eq!(marketing["legal_basis"], "consent");
    assert_eq!(marketing["retention_days"], 730);
    assert_eq!(marketing["recipients"][0], "MailBlast Inc.");
    let newsletter = ropa["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .find(|r| r["key"] == "newsletter")
        .expect("newsletter");
    assert_eq!((newsletter["transfer"].as_bool(), newsletter["country"].as_str()), (Some(true), Some("US")));
    assert_eq!(ropa["records"], 2000);

    let (code, notice, err) = demo_cli(&store, &["notice", "--strict"]);
    assert_ne!(code, 0, "--strict fails while the data contradicts the policy");
    assert!(err.contains("contradiction"), "{err}");
    assert!(
        notice.contains("CONTRADICTIONS") && notice.contains("fax") && notice.contains("past the retention"),
        "{notice}"
    );
    assert!(notice.contains("privacy@shop.example") && notice.contains("MailBlast Inc."), "{notice}");
    let md = ok(demo_cli(&store, &["ropa", "--markdown"]));
    assert!(md.contains("CONTRADICTIONS") && md.contains("national_id"), "{md}");

    // The clean-up remedies.
    for field in ["fax", "pager", "national_id"] {
        ok(demo_cli(&store, &["drop-field", field, "--reason", "no declared purpose", "--yes"]));
    }
    for field in ["marketing_consent", "notes"] {
        ok(demo_cli(&store, &["drop-field", field, "--past-retention", "--reason", "past its retention", "--yes"]));
    }
    ok(demo_cli(&store, &["redact", "--all", "--reason", "no card numbers or ids in notes", "--yes"]));
    ok(demo_cli(&store, &["housekeeping", "--yes"]));

    let ropa = json(&ok(demo_cli(&store, &["ropa", "--json"])));
    assert_eq!(ropa["contradictions"], serde_json::json!([]), "{}", ropa["contradictions"]);
    let notice = ok(demo_cli(&store, &["notice", "--strict"]));
    assert!(!notice.contains("CONTRADICTIONS") && notice.contains("No contradiction"), "{notice}");
    let md = ok(demo_cli(&store, &["ropa"]));
    assert!(md.contains("No contradiction") && !md.contains("| fax |"), "{md}");
}

#[test]
fn the_marketing_extract_holds_exactly_the_records_with_marketing_consent() {
    let (tmp, store) = demo_store();
    // The generator's truth: the demo file is `gen --count 2000 --seed 2026`.
    let manifest = steward::synth::generate(2000, 2026, std::io::sink(), None).expect("generate");
    let truth: BTreeSet<String> = manifest.marketing.iter().cloned().collect();
    assert!(truth.len() > 500, "{}", truth.len());
    let all = records(&store);
    let by_source_id: BTreeMap<String, &serde_json::Value> =
        all.iter().map(|r| (r["source_id"].as_str().expect("sid").to_owned(), r)).collect();

    // One consenting customer restricts processing, another objects: both go.
    let mut consenting = truth.iter();
    let restricted = by_source_id[consenting.next().expect("one")]["id"].as_str().expect("id").to_owned();
    let objecting_sid = consenting.next().expect("two").clone();
    let objecting = by_source_id[&objecting_sid].clone();
    ok(demo_cli(&store, &["restrict", &restricted, "--reason", "contests the accuracy"]));
    let mut add =
        request_add("objection", "2026-11-20", &["--email", objecting["email"].as_str().expect("email"), "--json"]);
    add[5] = "ccpa";
    let req = json(&ok(demo_cli(&store, &add)));
    let reference = req["ref"].as_str().expect("ref").to_owned();
    ok(demo_cli(&store, &["request", "link", &reference, objecting["id"].as_str().expect("id")]));

    let (key_file, age_id, public) = identity(tmp.path());
    let file = tmp.path().join("marketing.age");
    let out = json(&ok(demo_cli(
        &store,
        &["extract", "--purpose", "marketing", "--recipient", &public, "-o", file.to_str().expect("path"), "--json"],
    )));
    let csv = decrypt(&file, &key_file, &age_id);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
    assert_eq!(header, ["id", "given_name", "family_name", "email", "marketing_consent"], "only marketing's fields");
    let by_id: BTreeMap<&str, &serde_json::Value> = all.iter().map(|r| (r["id"].as_str().expect("id"), r)).collect();
    let got: BTreeSet<String> = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            by_id[&r[0]]["source_id"].as_str().expect("sid").to_owned()
        })
        .collect();
    let mut want = truth.clone();
    want.remove(by_id[restricted.as_str()]["source_id"].as_str().expect("sid"));
    want.remove(&objecting_sid);
    // The demo's own queue: a customer with an open erasure or restriction
    // request, or an objection, is not marketed to (by the email they wrote
    // from: the request need not be matched yet).
    let mut blocked_emails = BTreeSet::new();
    for q in ok(demo_cli(&store, &["request", "list", "--json"])).lines().map(json) {
        let open = !matches!(q["status"]["state"].as_str(), Some("completed" | "rejected"));
        let stops = match q["type"].as_str() {
            Some("erasure" | "restriction") => open,
            Some("objection") => q["status"]["state"] != "rejected",
            _ => false,
        };
        if stops && let Some(e) = q["requester"]["email"].as_str() {
            blocked_emails.insert(e.to_lowercase());
        }
    }
    assert!(blocked_emails.len() >= 3, "the demo's queue: {blocked_emails:?}");
    let before = want.len();
    want.retain(|sid| by_source_id[sid]["email"].as_str().is_none_or(|e| !blocked_emails.contains(&e.to_lowercase())));
    assert!(want.len() < before, "some consenting customers have a request open");
    assert_eq!(got.len(), want.len(), "extract {} records, truth {}", got.len(), want.len());
    assert_eq!(got, want, "exactly the consenting customers within marketing's retention");
    assert_eq!(out["included"].as_u64(), Some(want.len() as u64));
    assert_eq!(out["left_out"]["restricted"], 1);
    assert!(out["left_out"]["objected"].as_u64().is_some_and(|n| n >= 1), "{}", out["left_out"]);

    // A consent withdrawn in steward, then a back-dated paper form recorded: still out.
    let sid = want.iter().next().expect("one").clone();
    let id = by_source_id[&sid]["id"].as_str().expect("id").to_owned();
    ok(demo_cli(
        &store,
        &["consent", &id, "marketing", "--withdrawn", "--date", "2026-11-20", "--source", "phone call"],
    ));
    ok(demo_cli(&store, &["consent", &id, "marketing", "--given", "--date", "2024-01-01", "--source", "old form"]));
    let dry = json(&ok(demo_cli(&store, &["extract", "--purpose", "marketing", "--dry-run", "--json", &id])));
    assert_eq!(dry["included"], 0, "the later withdrawal holds: {dry}");
    // Consent given in steward, then the field edited to `withdrawn`: out.
    let sid = want.iter().nth(1).expect("two").clone();
    let id = by_source_id[&sid]["id"].as_str().expect("id").to_owned();
    ok(demo_cli(&store, &["consent", &id, "marketing", "--given", "--date", "2026-11-20", "--source", "web form"]));
    ok(demo_cli(&store, &["update", &id, "marketing_consent=withdrawn", "--reason", "phoned to unsubscribe"]));
    let dry = json(&ok(demo_cli(&store, &["extract", "--purpose", "marketing", "--dry-run", "--json", &id, &id])));
    assert_eq!((dry["considered"].as_u64(), dry["included"].as_u64()), (Some(1), Some(0)), "{dry}");

    // A support extract: the notes go out redacted (no raw card number).
    let csv_text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"))
        .expect("demo csv");
    let cards: Vec<String> = csv_text
        .lines()
        .filter_map(|l| l.split("paid by card ").nth(1))
        .map(|rest| rest.split(" exp").next().unwrap_or("").to_owned())
        .filter(|c| c.len() >= 13)
        .collect();
    assert!(!cards.is_empty(), "the demo plants card numbers in notes");
    let support = tmp.path().join("support.age");
    ok(demo_cli(
        &store,
        &["extract", "--purpose", "support", "--recipient", &public, "-o", support.to_str().expect("path")],
    ));
    let text = decrypt(&support, &key_file, &age_id);
    assert!(text.contains("notes"), "support uses the notes");
    for c in &cards {
        assert!(!text.contains(c.as_str()), "a raw card number in the support extract");
    }

    // Audited with the purpose and the count, nothing personal.
    let trail = ok(demo_cli(&store, &["audit", "list", "--json"]));
    let entry = trail.lines().map(json).find(|e| e["action"] == "extract").expect("extract audited");
    let detail = entry["detail"].as_str().expect("detail");
    assert!(detail.contains("purpose marketing") && detail.contains(&format!("{} record(s)", want.len())), "{detail}");

    // A purpose the policy does not declare, or a non-admin: refused.
    let (code, _, err) = demo_cli(&store, &["extract", "--purpose", "spam", "--dry-run"]);
    assert_ne!(code, 0);
    assert!(err.contains("no purpose `spam`"), "{err}");
}

#[test]
fn failed_unlocks_and_off_hours_exports_raise_alerts_in_usage_and_the_report() {
    let (_tmp, store) = demo_store();
    for _ in 0..5 {
        let mut c = Command::new(bin());
        c.arg("--store").arg(location(&store)).args(["--user", "tester", "stats"]).env("STEWARD_PASSPHRASE", "wrong");
        assert_ne!(run(c).0, 0);
    }
    let usage = json(&ok(demo_cli(&store, &["usage", "--json"])));
    let alerts = usage["alerts"].as_array().expect("alerts");
    assert!(alerts.iter().any(|a| a["kind"] == "failed_logins" && a["user"] == "tester"), "{alerts:?}");
    let tester = usage["users"].as_array().expect("users").iter().find(|u| u["user"] == "tester").expect("tester");
    assert_eq!(tester["failed_logins"], 5);
    let report = ok(demo_cli(&store, &["report"]));
    assert!(report.contains("## Usage alerts") && report.contains("failed unlocks"), "{report}");
}
