//! Matching you can trust: on data full of namesakes and households the
//! scan keeps different people apart, a request proposes only the
//! requester's own records, and a reviewer's "not the same person" holds
//! through rescans, key rotations and re-matching.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::*;
use steward::findings::{self, Kind};
use steward::model::Record;
use steward::model::request::{RequestKind, Requester};
use steward::policy::Policy;
use steward::service::requests::NewRequest;

fn parse(bytes: &[u8], source: &str) -> Vec<Record> {
    let opts = steward::import::Options {
        format: steward::import::Format::Csv,
        id_column: None,
        source: source.into(),
        now: chrono::Utc::now(),
    };
    let p = steward::import::parse(bytes, &opts, &mut |_| {});
    assert!(p.errors.is_empty(), "{:?}", &p.errors[..p.errors.len().min(3)]);
    p.rows.into_iter().map(|r| r.record).collect()
}

fn truth_map(truth: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(truth)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(',').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect()
}

/// The hard profile: (records of both sources, source id → person).
fn hard(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>, HashMap<String, String>) {
    let (mut a, mut b, mut t) = (Vec::new(), Vec::new(), Vec::new());
    steward::synth::hard::generate_hard(n, seed, &mut a, Some(&mut b), Some(&mut t)).expect("generate");
    (a, b, truth_map(&t))
}

#[test]
fn namesakes_and_households_are_kept_apart() {
    let (a, b, truth) = hard(4000, 21);
    let mut records = parse(&a, "crm");
    records.extend(parse(&b, "shop"));
    let report = findings::scan(&records, &Policy::default(), chrono::Utc::now(), &|_| {});
    let person = |i: u32| truth[&records[i as usize].source_id].as_str();
    let (mut reported, mut correct) = (0usize, 0usize);
    for f in report.findings.iter().filter(|f| f.kind == Kind::Duplicate) {
        for (x, &i) in f.records.iter().enumerate() {
            for &j in &f.records[x + 1..] {
                reported += 1;
                correct += usize::from(person(i) == person(j));
                // Never two people who differ in birth date, email and phone.
                let (r, s) = (&records[i as usize], &records[j as usize]);
                let differ = |x: Option<String>, y: Option<String>| matches!((x, y), (Some(x), Some(y)) if x != y);
                let canon = |e: &Option<String>| e.as_deref().and_then(findings::normalize::email);
                let phone = |r: &Record| {
                    r.phone.as_deref().and_then(|p| findings::normalize::e164(p, r.address.country.as_deref()))
                };
                let all_differ = differ(r.date_of_birth.map(|d| d.to_string()), s.date_of_birth.map(|d| d.to_string()))
                    && differ(canon(&r.email), canon(&s.email))
                    && differ(phone(r), phone(s));
                assert!(!all_differ, "a cluster mixes {} and {}", r.source_id, s.source_id);
            }
        }
    }
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        *sizes.entry(truth[&r.source_id].as_str()).or_default() += 1;
    }
    let true_pairs: usize = sizes.values().map(|k| k * (k - 1) / 2).sum();
    let precision = correct as f64 / reported.max(1) as f64;
    let recall = correct as f64 / true_pairs as f64;
    eprintln!("hard profile, 4,000 records in two sources: precision {precision:.4}, recall {recall:.4}");
    assert!(precision >= 0.99, "precision {precision:.4}");
    assert!(recall >= 0.9, "recall {recall:.4}");
}

#[test]
fn a_namesake_pair_is_explained_with_evidence_against() {
    use steward::findings::duplicates::{self, Apart, Features, Settings};
    let (a, _, truth) = hard(4000, 22);
    let records = parse(&a, "crm");
    let mut features = Features::all(&records);
    let settings = Settings { match_probability: 0.98, cluster_probability: 0.05 };
    let found = duplicates::find(&mut features, settings, &Apart::default());
    // Two different people with one name, each with a birth date, an email
    // and a phone of their own.
    let full = |r: &Record| r.date_of_birth.is_some() && r.email.is_some() && r.phone.is_some();
    let mut checked = 0;
    for (i, r) in records.iter().enumerate() {
        for (j, s) in records.iter().enumerate().skip(i + 1) {
            if checked >= 20 || !full(r) || !full(s) || truth[&r.source_id] == truth[&s.source_id] {
                continue;
            }
            if r.given_name != s.given_name || r.family_name != s.family_name || r.date_of_birth == s.date_of_birth {
                continue;
            }
            let e = duplicates::explain(&found.model, &features[i], &features[j]);
            let bits = |field: &str| e.iter().find(|c| c.field == field).map(|c| (c.status, c.bits));
            if bits("email").is_some_and(|(s, _)| s == "different")
                && bits("phone").is_some_and(|(s, _)| s == "different")
            {
                for field in ["date_of_birth", "email", "phone"] {
                    let (status, b) = bits(field).expect("compared");
                    assert!(b < -1.0, "{field} {status} counts {b} bits, not against");
                }
                assert!(found.model.probability(&features[i], &features[j]) < 0.01);
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "the hard profile has namesakes ({checked} pairs checked)");
}

#[test]
fn requests_propose_only_the_requesters_own_records() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let svc = lib_store(&tmp.path().join("store"));
    let (a, b, truth) = hard(3000, 33);
    for (bytes, source) in [(&a, "crm"), (&b, "shop")] {
        let opts = steward::import::Options {
            format: steward::import::Format::Csv,
            id_column: None,
            source: source.into(),
            now: chrono::Utc::now(),
        };
        let parsed = steward::import::parse(&bytes[..], &opts, &mut |_| {});
        svc.import(parsed, steward::service::OnInvalid::Refuse, false, &|_| {}).expect("import");
    }
    let records = svc.records(&mut |_| {}).expect("records");
    svc.scan(&records, &|_| {}).expect("scan");
    let person_of: HashMap<_, _> = records.iter().map(|r| (r.id, truth[&r.source_id].clone())).collect();
    let mut by_person: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in &records {
        by_person.entry(truth[&r.source_id].clone()).or_default().push(r);
    }
    let received = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).expect("date");
    let (mut own, mut own_proposed, mut requests, mut name_only) = (0usize, 0usize, 0usize, 0usize);
    let mut n = 0;
    for (person, recs) in by_person.iter().filter(|(_, r)| r.iter().any(|r| r.email.is_some())).step_by(37).take(40) {
        let with_email = recs.iter().find(|r| r.email.is_some()).expect("email");
        let with_phone = recs.iter().find(|r| r.phone.is_some());
        let named = recs.iter().find(|r| r.given_name.is_some() && r.family_name.is_some());
        let mut asks: Vec<(&str, Requester)> =
            vec![("email", Requester { email: with_email.email.clone(), ..Default::default() })];
        if let Some(p) = with_phone {
            asks.push(("phone", Requester { phone: p.phone.clone(), ..Default::default() }));
        }
        if let Some(r) = named {
            asks.push((
                "name and email",
                Requester { name: Some(r.display_name()), email: with_email.email.clone(), ..Default::default() },
            ));
            asks.push(("name", Requester { name: Some(r.display_name()), ..Default::default() }));
        }
        for (what, requester) in asks {
            n += 1;
            let v = svc
                .request_add(NewRequest {
                    reference: Some(format!("T-{n}")),
                    kind: RequestKind::Access,
                    jurisdiction: "gdpr".into(),
                    received,
                    channel: "test".into(),
                    requester,
                })
                .expect("add");
            let m = svc.request_match(&v.reference).expect("match");
            let proposed: BTreeSet<_> = m.candidates.iter().filter(|c| c.proposed).map(|c| c.id).collect();
            for id in &proposed {
                assert_eq!(
                    &person_of[id], person,
                    "a request by {what} proposed another person's record {id}: {:?}",
                    m.candidates
                );
            }
            if what == "name" {
                name_only += 1;
                assert!(proposed.is_empty(), "a name alone proposed {proposed:?}");
                assert!(m.advice.as_deref().is_some_and(|a| a.contains("ask the requester")), "{:?}", m.advice);
            } else {
                requests += 1;
                own += recs.len();
                own_proposed += recs.iter().filter(|r| proposed.contains(&r.id)).count();
                if std::env::var_os("SHOW").is_some() && recs.iter().any(|r| !proposed.contains(&r.id)) {
                    eprintln!(
                        "{what}: {} of {} proposed; {:?}\n  {:#?}",
                        proposed.len(),
                        recs.len(),
                        m.advice,
                        m.candidates.iter().map(|c| (c.score, c.proposed, &c.evidence, &c.reasons)).collect::<Vec<_>>()
                    );
                }
            }
        }
    }
    let share = own_proposed as f64 / own.max(1) as f64;
    eprintln!(
        "{requests} requests with an email or phone: {share:.3} of the requesters' own records proposed; \
         {name_only} by name only: none proposed"
    );
    assert!(requests >= 60 && name_only >= 20);
    assert!(share >= 0.9, "own records proposed: {share:.3}");
}

#[test]
fn the_demo_spreads_its_scores_and_a_name_alone_proposes_nothing() {
    let (_tmp, store) = demo_store();
    let (code, out, err) = demo_cli(&store, &["scan", "--json", "--kind", "duplicate"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let scores: Vec<f64> =
        v["findings"].as_array().expect("findings").iter().map(|f| f["score"].as_f64().expect("score")).collect();
    assert!(scores.iter().any(|s| *s < 0.999), "not every cluster reads 1.000: {scores:?}");
    // Each record after the first is explained field by field, in bits.
    let first = &v["findings"][0]["explanation"][0];
    assert_eq!(first[0]["field"], "prior");
    assert!(first.as_array().expect("fields").iter().all(|c| c["bits"].is_number()), "{first}");

    // REQ-2026-0007 gives only a name.
    let (code, out, err) = demo_cli(&store, &["request", "match", "REQ-2026-0007", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.lines().any(|l| l.contains("\"proposed\":true")), "{out}");
    assert!(err.contains("nothing proposed") && err.contains("ask the requester for an email"), "{err}");

    // REQ-2026-0001 gives a name and an email: exactly that person's records.
    let truth: HashMap<String, String> = truth_map(
        &std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.truth.csv"))
            .expect("truth"),
    );
    let (_, list, _) = demo_cli(&store, &["list", "--json"]);
    let source: HashMap<String, String> = list
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| (r["id"].as_str().unwrap_or("").to_owned(), r["source_id"].as_str().unwrap_or("").to_owned()))
        .collect();
    let (code, out, err) = demo_cli(&store, &["request", "match", "REQ-2026-0001", "--json"]);
    assert_eq!(code, 0, "{err}");
    let proposed: Vec<String> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|c| c["proposed"] == true)
        .map(|c| source[c["id"].as_str().expect("id")].clone())
        .collect();
    assert!(proposed.len() >= 2, "the requester has near-duplicates: {out}");
    let person = &truth[&proposed[0]];
    assert!(proposed.iter().all(|s| &truth[s] == person), "{proposed:?}");
    let all: Vec<&String> = truth.iter().filter(|(_, p)| *p == person).map(|(s, _)| s).collect();
    assert_eq!(proposed.len(), all.len(), "every record of theirs: {proposed:?} of {all:?}");

    // A requester with a namesake in the demo (Nora De Vries, C0000459;
    // another Nora De Vries, C0000050, born 1953 with her own email and
    // phone): only her record is proposed, and the namesake is listed with
    // its birth date, email and phone counting against.
    let reference = demo_erasure_request(
        &store,
        "2026-11-25",
        &[
            "--name",
            "Nora De Vries",
            "--dob",
            "1982-05-24",
            "--email",
            "nora.devries2@example.org",
            "--phone",
            "0686716711",
        ],
    );
    let (code, out, err) = demo_cli(&store, &["request", "match", &reference, "--json"]);
    assert_eq!(code, 0, "{err}");
    let candidates: Vec<serde_json::Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let by_source = |s: &str| candidates.iter().find(|c| source[c["id"].as_str().expect("id")] == s).cloned();
    let own = by_source("C0000459").expect("her record is a candidate");
    assert_eq!(own["proposed"], true, "{own}");
    let namesake = by_source("C0000050").expect("the namesake is listed");
    assert_eq!(namesake["proposed"], false, "{namesake}");
    let reasons: Vec<&str> =
        namesake["reasons"].as_array().expect("reasons").iter().filter_map(|r| r.as_str()).collect();
    for field in ["date_of_birth", "email", "phone"] {
        let bits: f64 = reasons
            .iter()
            .find(|r| r.starts_with(field))
            .and_then(|r| r.rsplit(' ').next())
            .and_then(|b| b.parse().ok())
            .unwrap_or_else(|| panic!("{field} explained: {reasons:?}"));
        assert!(bits < -1.0, "{field} counts {bits} bits against: {reasons:?}");
    }
    assert_eq!(candidates.iter().filter(|c| c["proposed"] == true).count(), 1, "{out}");
}

#[test]
fn not_the_same_person_survives_rescans_rekeys_and_rematching() {
    let (_tmp, store) = demo_store();
    // A two-record cluster whose second record has no email of the first:
    // request matching reaches it only through the cluster.
    let (_, out, _) = demo_cli(&store, &["scan", "--json", "--kind", "duplicate"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let (_, list, _) = demo_cli(&store, &["list", "--json"]);
    let recs: HashMap<String, serde_json::Value> = list
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| (r["id"].as_str().unwrap_or("").to_owned(), r))
        .collect();
    let pair = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["records"].as_array().is_some_and(|r| r.len() == 2))
        .map(|f| {
            let ids: Vec<String> = f["records"]
                .as_array()
                .expect("records")
                .iter()
                .map(|r| r["id"].as_str().expect("id").into())
                .collect();
            (ids[0].clone(), ids[1].clone())
        })
        .find(|(a, b)| {
            let email = |id: &str| recs[id]["email"].as_str().map(|e| e.to_lowercase().replace('.', ""));
            email(a).is_some() && email(b).is_none()
        })
        .expect("a cluster whose second record has no email");
    let (a, b) = pair;
    let together = |store: &std::path::Path| {
        let (_, out, _) = demo_cli(store, &["scan", "--json", "--kind", "duplicate"]);
        out.contains(&a) && {
            let v: serde_json::Value = serde_json::from_str(&out).expect("json");
            v["findings"].as_array().expect("findings").iter().any(|f| {
                let ids: Vec<&str> =
                    f["records"].as_array().expect("records").iter().filter_map(|r| r["id"].as_str()).collect();
                ids.contains(&a.as_str()) && ids.contains(&b.as_str())
            })
        }
    };
    assert!(together(&store));
    let request = |store: &std::path::Path, reference: &str| {
        let email = recs[&a]["email"].as_str().expect("email").to_owned();
        let name = format!(
            "{} {}",
            recs[&a]["given_name"].as_str().unwrap_or(""),
            recs[&a]["family_name"].as_str().unwrap_or("")
        );
        let details = ["--email", &email, "--name", &name, "--ref", reference];
        let (code, _, err) = demo_cli(store, &request_add("access", "2026-11-20", &details));
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = demo_cli(store, &["request", "match", reference, "--json"]);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|c| c["proposed"] == true)
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect::<Vec<String>>()
    };
    let before = request(&store, "T-BEFORE");
    assert!(before.contains(&a) && before.contains(&b), "through the cluster: {before:?}");

    let (code, out, err) = demo_cli(&store, &["distinct", "mark", &a, &b, "--reason", "father and son"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 pair(s)"), "{out}");
    assert!(!together(&store), "a rescan keeps them apart");
    let after = request(&store, "T-AFTER");
    assert!(after.contains(&a) && !after.contains(&b), "re-matching no longer reaches {b}: {after:?}");

    let (code, _, err) = demo_cli(&store, &["rekey"]);
    assert_eq!(code, 0, "{err}");
    assert!(!together(&store), "a key rotation keeps the decision");
    let rekeyed = request(&store, "T-REKEYED");
    assert!(!rekeyed.contains(&b), "{rekeyed:?}");
    let (_, out, _) = demo_cli(&store, &["distinct", "list", "--json"]);
    let d: serde_json::Value = serde_json::from_str(out.lines().next().expect("a decision")).expect("json");
    assert_eq!(d["reason"], "father and son");
    assert_eq!(d["by"], "tester");
    // The decision is sealed: its reason is nowhere in the store's files.
    for (path, bytes) in all_files(&store) {
        assert!(!contains(&bytes, b"father and son"), "{} holds the reason in plaintext", path.display());
    }
    // Audited, and withdrawn again.
    let (_, out, _) = demo_cli(&store, &["audit", "list", "--action", "not-same-person"]);
    assert!(out.contains(&a), "{out}");
    let (code, _, err) = demo_cli(&store, &["distinct", "unmark", &a, &b, "--reason", "one person after all"]);
    assert_eq!(code, 0, "{err}");
    assert!(together(&store));
}

#[test]
fn the_match_index_is_sealed_and_dropped_when_records_change() {
    let (_tmp, store) = demo_store();
    let index = store.join("match-index.sealed");
    let (code, _, err) = demo_cli(&store, &["scan"]);
    assert_eq!(code, 0, "{err}");
    let sealed = std::fs::read(&index).expect("a scan leaves the match index");
    // No plaintext of any customer: names and emails from the demo data.
    let demo =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"))
            .expect("demo data");
    for line in demo.lines().skip(1).take(200) {
        let fields: Vec<&str> = line.split(',').collect();
        for v in [fields[2], fields[3]].into_iter().filter(|v| v.len() >= 5) {
            assert!(!contains(&sealed, v.as_bytes()), "the index holds {v}");
        }
    }
    // A change to a record makes it stale: it goes.
    let (_, list, _) = demo_cli(&store, &["list", "--json"]);
    let id = serde_json::from_str::<serde_json::Value>(list.lines().next().expect("a record")).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (code, _, err) = demo_cli(&store, &["update", &id, "locality=Leeds", "--reason", "moved"]);
    assert_eq!(code, 0, "{err}");
    assert!(!index.exists(), "a change drops the index");
    // request match rebuilds it; a key rotation drops it again.
    let (code, _, err) = demo_cli(&store, &["request", "match", "REQ-2026-0001"]);
    assert_eq!(code, 0, "{err}");
    assert!(index.exists());
    let (code, _, err) = demo_cli(&store, &["rekey"]);
    assert_eq!(code, 0, "{err}");
    assert!(!index.exists(), "sealed under the old key, it goes with it");
}

#[test]
fn rows_without_a_name_import_and_are_flagged_incomplete() {
    let (tmp, store) = init_store();
    let file = write(
        tmp.path(),
        "people.csv",
        b"id,first_name,last_name,email,street,postcode,dob\r\n\
          A1,Ann,Lee,ann@example.org,1 High St,LS1 4AP,1980-02-03\r\n\
          A2,,,,12 Mill Lane,LS2 9JT,1975-06-21\r\n\
          A3,Bo\r\n",
    );
    let (code, _, err) = cli(&store, &["import", file.to_str().expect("path")]);
    assert_eq!(code, 1, "the short row refuses the file");
    assert!(err.contains("line 4:"), "CRLF lines are counted right: {err}");
    assert!(!err.contains("line 3:"), "the nameless row is not refused: {err}");
    let file = write(
        tmp.path(),
        "people.csv",
        b"id,first_name,last_name,email,street,postcode,dob\r\n\
          A1,Ann,Lee,ann@example.org,1 High St,LS1 4AP,1980-02-03\r\n\
          A2,,,,12 Mill Lane,LS2 9JT,1975-06-21\r\n",
    );
    let (code, _, err) = cli(&store, &["import", file.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&store, &["scan", "--json", "--kind", "incomplete"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let f = &v["findings"];
    assert_eq!(f.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(f[0]["records"][0]["source_id"], "A2");
    assert_eq!(v["summary"]["incomplete"], 1);
}
