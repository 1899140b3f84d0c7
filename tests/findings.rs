//! The findings engine measured on data with ground truth: FEBRL dataset 1
//! (pairwise precision and recall of the duplicate clusters) and the demo
//! data (every planted kind, at the promised counts).

mod common;

use std::collections::{HashMap, HashSet};

use steward::findings::{self, Kind};
use steward::import::{self, Format, Options};
use steward::model::Identified;
use steward::model::Record;
use steward::policy::Policy;

fn parse(path: &std::path::Path, id_column: Option<&str>) -> Vec<Record> {
    let opts = Options {
        format: Format::Csv,
        id_column: id_column.map(str::to_owned),
        source: "t".into(),
        now: chrono::Utc::now(),
    };
    let bytes = std::fs::read(path).expect("read data");
    let p = import::parse(&bytes[..], &opts, &mut |_| {});
    assert!(p.errors.is_empty(), "{:?}", &p.errors[..p.errors.len().min(3)]);
    p.rows.into_iter().map(|r| r.record).collect()
}

/// (precision, recall, true pairs found, pairs reported) of the duplicate
/// clusters against `truth` (source id → person).
fn pairwise(
    records: &[Record],
    report: &findings::Report,
    truth: &HashMap<String, String>,
) -> (f64, f64, usize, usize) {
    let mut true_pairs = 0usize;
    let mut by_person: HashMap<&str, usize> = HashMap::new();
    for r in records {
        *by_person.entry(truth[&r.source_id].as_str()).or_default() += 1;
    }
    for n in by_person.values() {
        true_pairs += n * (n - 1) / 2;
    }
    let mut reported = 0;
    let mut correct = 0;
    let mut seen = HashSet::new();
    for f in report.findings.iter().filter(|f| f.kind == Kind::Duplicate) {
        for (i, &a) in f.records.iter().enumerate() {
            for &b in &f.records[i + 1..] {
                if !seen.insert((a.min(b), a.max(b))) {
                    continue;
                }
                reported += 1;
                if truth[&records[a as usize].source_id] == truth[&records[b as usize].source_id] {
                    correct += 1;
                }
            }
        }
    }
    let precision = if reported == 0 { 1.0 } else { correct as f64 / reported as f64 };
    (precision, correct as f64 / true_pairs as f64, correct, reported)
}

fn febrl_truth(records: &[Record]) -> HashMap<String, String> {
    records
        .iter()
        .map(|r| {
            let person = r.source_id.split('-').take(2).collect::<Vec<_>>().join("-");
            (r.source_id.clone(), person)
        })
        .collect()
}

#[test]
fn febrl_dataset1_precision_and_recall() {
    let records = parse(&common::febrl(), Some("rec_id"));
    assert_eq!(records.len(), 1000);
    let report = findings::scan(&records, &Policy::default(), chrono::Utc::now(), &|_| {});
    let truth = febrl_truth(&records);
    let (p, r, correct, reported) = pairwise(&records, &report, &truth);
    eprintln!(
        "FEBRL dataset1: precision {p:.4} recall {r:.4} ({correct} true of {reported} reported pairs); {:?}",
        report.duplicates
    );
    assert!(p >= 0.999, "precision {p:.4}");
    assert!(r >= 0.98, "recall {r:.4}");
}

#[test]
fn febrl_without_the_national_id_still_finds_them() {
    let mut records = parse(&common::febrl(), Some("rec_id"));
    for r in &mut records {
        r.extra.remove("soc_sec_id");
    }
    let report = findings::scan(&records, &Policy::default(), chrono::Utc::now(), &|_| {});
    let (p, r, _, _) = pairwise(&records, &report, &febrl_truth(&records));
    assert!(p >= 0.999 && r >= 0.98, "precision {p:.4} recall {r:.4}");
}

fn demo_truth() -> HashMap<String, String> {
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.truth.csv"))
            .expect("truth file");
    text.lines().skip(1).filter_map(|l| l.split_once(',')).map(|(a, b)| (a.to_owned(), b.to_owned())).collect()
}

/// Share of true pairs that blocking puts in front of the comparison.
fn blocking_completeness(records: &[Record], truth: &HashMap<String, String>) -> f64 {
    let features = findings::duplicates::Features::all(records);
    let (pairs, _) = findings::duplicates::candidate_pairs(&features);
    let found = pairs
        .iter()
        .filter(|(a, b)| truth[&records[*a as usize].source_id] == truth[&records[*b as usize].source_id])
        .count();
    let mut by_person: HashMap<&str, usize> = HashMap::new();
    for r in records {
        *by_person.entry(truth[&r.source_id].as_str()).or_default() += 1;
    }
    let all: usize = by_person.values().map(|n| n * (n - 1) / 2).sum();
    found as f64 / all as f64
}

#[test]
fn demo_duplicates_are_found_precisely() {
    let records = parse(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"), None);
    let truth = demo_truth();
    let report = findings::scan(&records, &Policy::default(), chrono::Utc::now(), &|_| {});
    let (p, r, correct, reported) = pairwise(&records, &report, &truth);
    let bc = blocking_completeness(&records, &truth);
    eprintln!(
        "demo: precision {p:.4} recall {r:.4} ({correct} of {reported}); blocking completeness {bc:.4}; {:?}",
        report.duplicates
    );
    assert!(p >= 0.99, "precision {p:.4}");
    assert!(r >= 0.9, "recall {r:.4}");
    assert!(bc >= 0.97, "blocking completeness {bc:.4}");
}

#[test]
fn febrl_blocking_keeps_the_true_pairs() {
    let records = parse(&common::febrl(), Some("rec_id"));
    let bc = blocking_completeness(&records, &febrl_truth(&records));
    eprintln!("FEBRL blocking completeness {bc:.4}");
    assert!(bc >= 0.99, "{bc:.4}");
}

/// The demo's "today": the generator plants ages relative to it.
fn demo_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z").expect("time").with_timezone(&chrono::Utc)
}

#[test]
fn demo_scan_finds_exactly_what_was_planted() {
    let records = parse(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"), None);
    let policy = Policy::from_toml(include_str!("../demo-data/policy.toml")).expect("policy");
    let report = findings::scan(&records, &policy, demo_now(), &|_| {});
    let m = steward::synth::generate(2000, 2026, std::io::sink(), None).expect("manifest");
    let count = |kind: Kind, what: Option<&str>| {
        report
            .findings
            .iter()
            .filter(|f| f.kind == kind)
            .filter(|f| match what {
                None => true,
                Some(w) => f.category.map(|c| c.name()) == Some(w) || f.field.as_deref() == Some(w),
            })
            .count()
    };
    let expected = [
        (Kind::Duplicate, None, m.duplicate_clusters),
        (Kind::Stale, None, m.stale),
        (Kind::Expired, None, m.expired),
        (Kind::Overcollected, Some("fax"), m.fax),
        (Kind::Overcollected, Some("pager"), m.pager),
        (Kind::Overcollected, Some("national_id"), m.national_id),
        (Kind::Overcollected, Some("marketing_consent"), m.consent_past_retention),
        (Kind::Overcollected, Some("notes"), m.notes_past_retention),
        (Kind::Pii, Some("credit_card"), m.notes_card),
        (Kind::Pii, Some("iban"), m.notes_iban),
        (Kind::Pii, Some("us_ssn"), m.notes_ssn),
        (Kind::Pii, Some("email"), m.notes_email),
        (Kind::Pii, Some("phone"), m.notes_phone),
        (Kind::Invalid, Some("email"), m.invalid_email + m.disposable_email + m.bots),
        (Kind::Invalid, Some("phone"), m.invalid_phone),
        (Kind::Invalid, Some("postcode"), m.invalid_postcode),
        (Kind::Invalid, Some("date_of_birth"), m.impossible_dob),
        (Kind::Suspect, None, 1),
        (Kind::Consent, None, m.no_consent + m.withdrawn_consent),
    ];
    for (kind, what, n) in expected {
        assert_eq!(count(kind, what), n, "{} {}", kind.name(), what.unwrap_or(""));
    }
    let bots = report.findings.iter().find(|f| f.kind == Kind::Suspect).map(|f| f.records.len());
    assert_eq!(bots, Some(m.bots));
    let dup_records: usize =
        report.findings.iter().filter(|f| f.kind == Kind::Duplicate).map(|f| f.records.len()).sum();
    assert_eq!(dup_records, m.duplicate_records);
    // Nothing is found that was not planted.
    assert_eq!(report.findings.len(), expected.iter().map(|e| e.2).sum::<usize>());
}

#[test]
fn reasons_never_hold_a_full_card_number() {
    let records = parse(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"), None);
    let policy = Policy::from_toml(include_str!("../demo-data/policy.toml")).expect("policy");
    let report = findings::scan(&records, &policy, demo_now(), &|_| {});
    for f in &report.findings {
        for reason in &f.reasons {
            let digits: String = reason.chars().filter(char::is_ascii_digit).collect();
            assert!(
                !records.iter().any(|r| r.extra.get("notes").is_some_and(|n| n.contains("card") && {
                    let d: String = n.chars().filter(char::is_ascii_digit).collect();
                    d.len() >= 16 && digits.contains(&d[..16])
                })),
                "full card number in a reason: {reason}"
            );
        }
    }
}

/// Turns `r` into a different person: names, email, phone, birth date, address.
fn become_someone_else(r: &mut Record) {
    r.given_name = Some("Zebedee".into());
    r.family_name = Some("Quortermaine".into());
    r.email = Some("zq@example.net".into());
    r.phone = None;
    r.date_of_birth = steward::model::DateParts::parse("1951-07-30");
    r.address.line1 = Some("1 Nowhere Lane".into());
    r.address.postcode = None;
}

#[test]
fn rescanning_one_record_updates_its_findings_like_a_full_scan() {
    let mut records = parse(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"), None);
    let policy = Policy::from_toml(include_str!("../demo-data/policy.toml")).expect("policy");
    let apart = findings::duplicates::Apart::default();
    let mut state = findings::scan_state(&records, &policy, demo_now(), &apart, &|_| {});
    // A record in a two-record cluster.
    let pair = state
        .report
        .findings
        .iter()
        .find(|f| f.kind == Kind::Duplicate && f.records.len() == 2)
        .cloned()
        .expect("a pair");
    let (a, b) = (pair.records[0], pair.records[1]);
    let original = records[b as usize].clone();
    // b becomes someone else entirely.
    become_someone_else(&mut records[b as usize]);
    records[b as usize].extra.insert("notes".into(), "paid by card 4111 1111 1111 1111".into());
    let t = std::time::Instant::now();
    state.rescan_record(&records, b);
    eprintln!("rescan of one record among 2,000: {:?}", t.elapsed());
    let has = |state: &findings::ScanState, i: u32, k: Kind| state.report.kinds[i as usize] & k.bit() != 0;
    assert!(!state.report.findings.iter().any(|f| f.kind == Kind::Duplicate && f.records.contains(&b)));
    assert!(!has(&state, a, Kind::Duplicate) && !has(&state, b, Kind::Duplicate));
    assert!(has(&state, b, Kind::Pii));
    // The edited record's own findings equal a full scan's.
    let full = findings::scan(&records, &policy, demo_now(), &|_| {});
    let mine = |r: &findings::Report| {
        let mut v: Vec<String> = r
            .findings
            .iter()
            .filter(|f| f.records.contains(&b))
            .map(|f| format!("{:?} {:?} {:?} {:?}", f.kind, f.records, f.field, f.reasons))
            .collect();
        v.sort();
        v
    };
    assert_eq!(mine(&state.report), mine(&full));
    assert_eq!(state.report.findings.len(), full.findings.len());
    // Back as it was: the cluster returns, with the same stable id.
    records[b as usize] = original;
    state.rescan_record(&records, b);
    let back = state
        .report
        .findings
        .iter()
        .find(|f| f.kind == Kind::Duplicate && f.records.contains(&b))
        .expect("cluster back");
    assert_eq!(back.cluster, pair.cluster);
    assert_eq!(back.records, pair.records);
}

/// Break 5 (in part): the command-line scan no longer holds every record
/// decrypted; it feeds the scan a chunk at a time and keeps a slim copy of
/// each record. The findings must be exactly those of the whole scan.
#[test]
fn a_scan_fed_in_chunks_finds_exactly_what_the_whole_scan_finds() {
    let records = parse(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"), None);
    let policy = Policy::from_toml(include_str!("../demo-data/policy.toml")).expect("policy");
    let apart = steward::findings::duplicates::Apart::default();
    let whole = findings::scan_state(&records, &policy, demo_now(), &apart, &|_| {}).report;
    for chunk in [1, 97, 4096] {
        let mut s = findings::Streamed::default();
        for c in records.chunks(chunk) {
            s.push(c, &policy, demo_now());
        }
        let (slim, state) = s.finish(&policy, demo_now(), &apart, &|_| {});
        assert_eq!(slim.len(), records.len());
        assert!(slim.iter().zip(&records).all(|(a, b)| a.id() == b.id && a.source_id() == b.source_id));
        let a = serde_json::to_string(&whole.findings).expect("json");
        let b = serde_json::to_string(&state.report.findings).expect("json");
        assert!(a == b, "chunks of {chunk}: the findings differ");
        assert_eq!(whole.kinds, state.report.kinds, "chunks of {chunk}");
    }
}

/// Issue 14 (incremental rescans): after edits, a field dropped from many
/// records, records removed (a merge) and put back (its undo), the report
/// patched by [`findings::ScanState::rescan`] — the screens' copy, taken
/// out of the state — holds exactly the per-record findings a full scan
/// finds, its kinds agree with its findings, and its clusters are sound.
#[test]
fn patched_reports_agree_with_a_full_scan_after_edits_removals_and_inserts() {
    use steward::findings::{Patch, Remap};
    let mut records = parse(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv"), None);
    // In id order, as the store keeps them (and the dashboard holds them).
    records.sort_by_key(|r| r.id);
    let policy = Policy::from_toml(include_str!("../demo-data/policy.toml")).expect("policy");
    let apart = findings::duplicates::Apart::default();
    let mut state = findings::scan_state(&records, &policy, demo_now(), &apart, &|_| {});
    let mut shown = state.take_report();
    let check = |shown: &findings::Report, records: &[steward::model::Record], step: &str| {
        let full = findings::scan(records, &policy, demo_now(), &|_| {});
        let own = |r: &findings::Report| {
            let mut v: Vec<String> = r
                .findings
                .iter()
                .filter(|f| !matches!(f.kind, Kind::Duplicate | Kind::Suspect))
                .map(|f| format!("{:?} {:?} {:?} {:?}", f.kind, f.records, f.field, f.reasons))
                .collect();
            v.sort();
            v
        };
        let (a, b) = (own(shown), own(&full));
        let only_patched: Vec<&String> = a.iter().filter(|x| !b.contains(x)).take(5).collect();
        let only_full: Vec<&String> = b.iter().filter(|x| !a.contains(x)).take(5).collect();
        assert!(
            only_patched.is_empty() && only_full.is_empty(),
            "{step}: per-record findings differ from a full scan: patched only {only_patched:?}, full scan only \
             {only_full:?}"
        );
        assert_eq!(shown.kinds.len(), records.len(), "{step}");
        let mut kinds = vec![0u16; records.len()];
        let mut in_cluster = std::collections::HashSet::new();
        for f in &shown.findings {
            for &r in &f.records {
                assert!((r as usize) < records.len(), "{step}: index out of range");
                kinds[r as usize] |= f.kind.bit();
                if f.kind == Kind::Duplicate {
                    assert!(in_cluster.insert(r), "{step}: record {r} in two clusters");
                }
            }
        }
        assert_eq!(kinds, shown.kinds, "{step}: kinds disagree with the findings");
        let sorted = shown
            .findings
            .windows(2)
            .all(|w| (findings::rank(w[0].kind), &w[0].records) <= (findings::rank(w[1].kind), &w[1].records));
        assert!(sorted, "{step}: findings out of order");
    };
    let apply = |shown: &mut findings::Report, p: &Patch| shown.apply(p);

    // Edits: one record becomes someone else; 120 records lose their fax.
    let pair =
        shown.findings.iter().find(|f| f.kind == Kind::Duplicate && f.records.len() == 2).cloned().expect("pair");
    let (a, b) = (pair.records[0], pair.records[1]);
    become_someone_else(&mut records[b as usize]);
    let faxed: Vec<u32> =
        (0..records.len() as u32).filter(|&i| records[i as usize].extra.get("fax").is_some()).take(120).collect();
    for &i in &faxed {
        records[i as usize].extra.remove("fax");
    }
    let mut changed: Vec<u32> = faxed.clone();
    changed.push(b);
    changed.sort_unstable();
    changed.dedup();
    let list: Vec<(u32, &steward::model::Record)> = changed.iter().map(|&i| (i, &records[i as usize])).collect();
    let p = state.rescan(&records, &list, None);
    apply(&mut shown, &p);
    check(&shown, &records, "edits and a field drop");
    assert!(!shown.findings.iter().any(|f| f.kind == Kind::Duplicate && f.records.contains(&b)));

    // A merge: record a absorbs the cluster of another pair, whose other record goes.
    let other = shown
        .findings
        .iter()
        .find(|f| f.kind == Kind::Duplicate && f.records.len() == 2 && !f.records.contains(&a))
        .cloned()
        .expect("another pair");
    let (keep, away) = (other.records[0], other.records[1]);
    let old_ids: Vec<_> = records.iter().map(|r| r.id).collect();
    let removed = records.remove(away as usize);
    let new_ids: Vec<_> = records.iter().map(|r| r.id).collect();
    let remap = Remap::between(&old_ids, &new_ids).expect("moved");
    let keep_new = remap.old_to_new[keep as usize];

    records[keep_new as usize].extra.insert("secondary_email".into(), "merged@example.org".into());
    let p = state.rescan(&records, &[(keep_new, &records[keep_new as usize])], Some(&remap));
    apply(&mut shown, &p);
    check(&shown, &records, "a merge");

    // Its undo: the record comes back.
    let old_ids: Vec<_> = records.iter().map(|r| r.id).collect();
    let at = records.partition_point(|r| r.id < removed.id);
    records.insert(at, removed);
    records[if keep_new as usize >= at { keep_new as usize + 1 } else { keep_new as usize }]
        .extra
        .remove("secondary_email");
    let new_ids: Vec<_> = records.iter().map(|r| r.id).collect();
    let remap = Remap::between(&old_ids, &new_ids).expect("moved");
    let keep_now = remap.old_to_new[keep_new as usize];
    let list = vec![(at as u32, &records[at]), (keep_now, &records[keep_now as usize])];
    let p = state.rescan(&records, &list, Some(&remap));
    apply(&mut shown, &p);
    check(&shown, &records, "the undo");
    let back = shown.findings.iter().any(|f| f.kind == Kind::Duplicate && f.records.contains(&(at as u32)));
    assert!(back, "the restored record is clustered with its duplicate again");
}

/// Issue 14: a customer asked to confirm their details (a re-verification
/// list) who has not answered within the policy's grace period is due for
/// housekeeping (an `expired` finding); one who answered is not.
#[test]
fn an_unanswered_reverification_expires_after_the_grace_period() {
    let policy = Policy::from_toml(include_str!("../demo-data/policy.toml")).expect("policy");
    let now = demo_now();
    let mut r = steward::model::Record::new("crm", "1", now - chrono::Duration::days(400));
    r.given_name = Some("Ann".into());
    r.email = Some("ann@example.org".into());
    r.times.last_activity = Some(now - chrono::Duration::days(100));
    let expired = |r: &steward::model::Record| {
        findings::record_findings(r, 0, &policy, now).iter().any(|f| f.kind == Kind::Expired)
    };
    assert!(!expired(&r), "within retention, never asked");
    r.care.reverify_asked = Some(now - chrono::Duration::days(10));
    assert!(!expired(&r), "asked 10 days ago: within the 30-day grace");
    r.care.reverify_asked = Some(now - chrono::Duration::days(31));
    assert!(expired(&r), "asked 31 days ago, no answer");
    r.times.last_verified = Some(now - chrono::Duration::days(5));
    assert!(!expired(&r), "they answered");
    r.times.last_verified = None;
    r.times.last_activity = Some(now - chrono::Duration::days(3));
    assert!(!expired(&r), "they ordered since: an answer too");
}
