//! Remedies at scale (issue 14): the time from a fix in the dashboard to
//! its updated findings, and a bulk merge of many clusters.
//!
//! `STEWARD_PASSPHRASE=... cargo bench --bench remedies -- STORE USER [CLUSTERS]`
//! opens STORE as the dashboard does (every record decrypted, a full scan
//! kept for incremental rescans), then runs, through the same job code the
//! action thread runs (`tui::jobs::run`) and the same event handling
//! (`App::update`), ten edits, ten "mark verified" and one bulk merge of
//! CLUSTERS duplicate clusters (default 10,000) and its undo. Prints a
//! Markdown table for BENCHMARKS.md. The store is changed: use a copy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use steward::findings::Kind;
use steward::service::actions::{FieldEdit, FieldName};
use steward::service::{Credentials, Service};
use steward::tui::app::{App, Data, Event, Job, SessionInfo};
use steward::tui::forms::Remedy;
use steward::tui::jobs::{self, Rescanner};
use steward::tui::theme::{ColorDepth, Theme};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// Runs `job` as the action thread does and hands its events to the app;
/// returns (job time: commit, re-read, rescan; time to apply the events).
fn act(service: &Service, app: &mut App, rescanner: &Mutex<Rescanner>, job: Job) -> (Duration, Duration) {
    let t = Instant::now();
    let data = app.data.clone();
    let events = jobs::run(service, data.as_ref(), job, &|_| {}, rescanner);
    drop(data);
    let job_time = t.elapsed();
    let t = Instant::now();
    for ev in events {
        if let Event::ActFailed(e) = &ev {
            panic!("the job failed: {e}");
        }
        if let Event::ScannedAt(..) = &ev {
            eprintln!("(a full scan followed: the kept scan did not match)");
        }
        app.update(ev);
    }
    (job_time, t.elapsed())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (Some(dir), Some(user)) = (args.first(), args.get(1)) else {
        eprintln!("usage: cargo bench --bench remedies -- STORE USER [CLUSTERS]");
        std::process::exit(2);
    };
    let clusters_wanted: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let pass = std::env::var("STEWARD_PASSPHRASE").expect("STEWARD_PASSPHRASE");
    let locked = Service::door(std::path::Path::new(dir), user).expect("open");
    let service = Service::unlock(locked, user, Credentials::Passphrase(SecretString::from(pass))).expect("unlock");
    let theme = Theme::load("default", ColorDepth::None).expect("theme");
    let mut app = App::new(SessionInfo { user: user.clone(), role: "admin".into(), ..SessionInfo::default() }, theme);
    let rescanner = Mutex::new(Rescanner::default());

    let t = Instant::now();
    let (records, index) = service.records_and_index(&mut |_| {}).expect("records");
    let data = Arc::new(Data::with_index(records, index, chrono::Utc::now()));
    let load = t.elapsed();
    let n = data.records.len();
    app.update(Event::Loaded(data.clone()));
    let t = Instant::now();
    let (report, mut state) = service.scan_keeping(&data.records, &|_| {}).expect("scan");
    let scan = t.elapsed();
    let t = Instant::now();
    state.prepare();
    let prepare = t.elapsed();
    rescanner.lock().expect("lock").keep(state, data.version);
    app.update(Event::ScannedAt(Arc::new(report), data.version));
    drop(data);
    let findings = app.report.as_ref().expect("report").findings.len();
    println!("| records | {n} |");
    println!("| load (decrypt, index) | {} |", ms(load));
    println!("| full scan | {} ({findings} findings) |", ms(scan));
    println!("| blocking index for rescans (built after the scan) | {} |", ms(prepare));
    println!("| resident after load and scan | {} MiB |", rss());

    // Edits: the email of a record with a finding, ten records apart.
    let report = app.report.clone().expect("report");
    let data = app.data.clone().expect("data");
    let targets: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.records.len() == 1 && f.kind != Kind::Suspect)
        .step_by((findings / 40).max(1))
        .take(10)
        .map(|f| data.records[f.records[0] as usize].clone())
        .collect();
    // The screens patch their copies in place only when nothing else holds them.
    drop(data);
    drop(report);
    let mut edits = Vec::new();
    for (k, seen) in targets.iter().enumerate() {
        let edit = FieldEdit { field: FieldName::parse("email"), value: Some(format!("fixed{k}@example.org")) };
        let job =
            Job::Update { seen: Box::new(seen.clone()), edits: vec![edit], reason: "benchmark".into(), request: None };
        edits.push(act(&service, &mut app, &rescanner, job));
    }
    let total: Vec<Duration> = edits.iter().map(|(a, b)| *a + *b).collect();
    println!(
        "| edit → updated findings (median of {}) | {} (job: commit, re-read, rescan {}; screens {}) |",
        edits.len(),
        ms(median(total)),
        ms(median(edits.iter().map(|e| e.0).collect())),
        ms(median(edits.iter().map(|e| e.1).collect()))
    );
    // Mark verified: ten stale records at once, ten times.
    let mut verified = Vec::new();
    for round in 0..10 {
        let report = app.report.clone().expect("report");
        let data = app.data.clone().expect("data");
        let ids: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.kind == Kind::Stale)
            .skip(round * 10)
            .take(10)
            .map(|f| data.records[f.records[0] as usize].id)
            .collect();
        drop(data);
        drop(report);
        if ids.is_empty() {
            break;
        }
        let job = Job::ApplyRemedy {
            remedy: Box::new(Remedy::Verified { ids }),
            inputs: vec![("How".into(), "call".into()), ("Reason".into(), String::new())],
            given: true,
        };
        verified.push(act(&service, &mut app, &rescanner, job));
    }
    if !verified.is_empty() {
        let total: Vec<Duration> = verified.iter().map(|(a, b)| *a + *b).collect();
        println!(
            "| mark 10 verified → updated findings (median of {}) | {} (job {}; screens {}) |",
            verified.len(),
            ms(median(total)),
            ms(median(verified.iter().map(|e| e.0).collect())),
            ms(median(verified.iter().map(|e| e.1).collect()))
        );
    }
    println!("| resident after the fixes | {} MiB |", rss());

    // Bulk merge of the first CLUSTERS clusters, then its undo.
    let report = app.report.clone().expect("report");
    let data = app.data.clone().expect("data");
    let clusters: Vec<(Vec<steward::model::RecordId>, f64)> = report
        .findings
        .iter()
        .filter(|f| f.kind == Kind::Duplicate)
        .take(clusters_wanted)
        .map(|f| (f.records.iter().map(|&i| data.records[i as usize].id).collect(), 0.0))
        .collect();
    drop(data);
    drop(report);
    let members: usize = clusters.iter().map(|(m, _)| m.len()).sum();
    let t = Instant::now();
    let plan = service.plan_bulk_merge(&clusters, 0.0).expect("plan");
    let plan_time = t.elapsed();
    let k = plan.clusters.len();
    let before = service.count();
    let job = Job::ApplyRemedy {
        remedy: Box::new(Remedy::BulkMerge { clusters, plan: Some(Box::new(plan)) }),
        inputs: vec![("Reason".into(), "benchmark".into())],
        given: true,
    };
    let (merge_job, merge_apply) = act(&service, &mut app, &rescanner, job);
    let after = service.count();
    println!(
        "| bulk merge of {k} clusters ({members} records → {}) | plan {}; merge, re-read, rescan {}; screens {} |",
        members - (before - after),
        ms(plan_time),
        ms(merge_job),
        ms(merge_apply)
    );
    let Some(change) = app.last_merge.clone() else { panic!("no change id") };
    let (undo_job, undo_apply) = act(&service, &mut app, &rescanner, Job::Undo { merge: change });
    assert_eq!(service.count(), before, "the undo restored every record");
    println!("| its undo | job {}; screens {} |", ms(undo_job), ms(undo_apply));
    println!("| resident at the end | {} MiB |", rss());
}
