//! Scale benchmark: import, unlock, first frame, load, frame time, search
//! latency per keystroke and memory at N generated records.
//!
//! `cargo bench --bench scale -- 100000` (or 1000000). Prints a Markdown
//! table for BENCHMARKS.md. Uses the library exactly as the binary does; the
//! KDF runs at its default cost.
//!
//! The store lives in a temporary directory (sled), or, with
//! `STEWARD_BENCH_STORE=postgresql:///DB?host=…&port=…&user=…`, in that
//! PostgreSQL database, which must be empty (create one for each run).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use secrecy::SecretString;
use steward::crypto::KdfCost;
use steward::import::{self, Format, Options};
use steward::service::NewSecret as NewSlot;
use steward::service::{Credentials, Location, OnInvalid, Service};
use steward::tui::app::{App, Data, Event, SessionInfo, run_effect};
use steward::tui::theme::{ColorDepth, Theme};
use steward::tui::ui;

/// The same allocator as the binary (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASS: &str = "benchmark passphrase";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// (current RSS, peak RSS) of this process in MiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn unlock(location: &Location) -> Service {
    let locked = Service::door(location, "bench").expect("lock");
    Service::unlock(locked, "bench", Credentials::Passphrase(SecretString::from(PASS.to_owned()))).expect("unlock")
}

fn draw(app: &App, t: &mut Terminal<TestBackend>) {
    t.draw(|f| ui::draw(f, app)).expect("draw");
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    if std::env::args().any(|a| a == "febrl") {
        febrl();
        return;
    }
    if std::env::args().any(|a| a == "scan-only") {
        scan_only(n);
        return;
    }
    if std::env::args().any(|a| a == "search-only") {
        search_only(n);
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // The store: a directory (sled), or the PostgreSQL database the
    // environment names.
    let store = match std::env::var("STEWARD_BENCH_STORE") {
        Ok(url) if !url.trim().is_empty() => Location::parse(url.trim()),
        _ => Location::Dir(tmp.path().join("store")),
    };
    match &store {
        Location::Dir(_) => println!("## {n} records\n"),
        Location::Postgres(_) => println!("## {n} records (PostgreSQL)\n"),
    }
    println!("| measure | value |\n|---|---|");

    // Import: parse + validate + seal + write + flush, on a fresh store.
    let mut csv = Vec::new();
    steward::synth::generate(n, 1, &mut csv, None).expect("generate");
    let bytes = csv.len();
    {
        let svc =
            Service::init(&store, "bench", NewSlot::Passphrase(SecretString::from(PASS.to_owned()), KdfCost::DEFAULT))
                .expect("init");
        let start = Instant::now();
        let opts = Options { format: Format::Csv, id_column: None, source: "gen".into(), now: chrono::Utc::now() };
        let parsed = import::parse(&csv[..], &opts, &mut |_| {});
        let parse = start.elapsed();
        svc.import(parsed, OnInvalid::Refuse, false, &|_| {}).expect("import");
        let total = start.elapsed();
        println!(
            "| import ({:.0} MB CSV) | {:.2} s = {:.0} records/s (parse and validate {:.2} s) |",
            bytes as f64 / 1e6,
            total.as_secs_f64(),
            n as f64 / total.as_secs_f64(),
            parse.as_secs_f64()
        );
        println!("| store size on disk | {:.0} MiB |", svc.size_on_disk() as f64 / 1048576.0);
    }
    drop(csv);

    // Unlock alone (Argon2id at the default cost), median of 3.
    let unlocks: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            drop(unlock(&store));
            t.elapsed()
        })
        .collect();
    println!("| unlock (Argon2id 64 MiB, t=3), median of 3 | {} |", ms(median(unlocks)));

    // Unlock to first frame: the TUI draws at once and decrypts in the background.
    let theme = Theme::load("default", ColorDepth::TrueColor).expect("theme");
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    let t = Instant::now();
    let svc = unlock(&store);
    let mut app = App::new(
        SessionInfo {
            store: "bench".into(),
            user: "bench".into(),
            role: "admin".into(),
            size_on_disk: 0,
            demo: false,
            read_only: None,
            idle_lock: None,
        },
        theme,
    );
    app.update(Event::LoadProgress { done: 0, total: svc.count() });
    draw(&app, &mut term);
    let first_frame = t.elapsed();
    let records = svc.records(&mut |_| {}).expect("records");
    let decrypted = t.elapsed();
    let data = Arc::new(Data::build(records, chrono::Utc::now()));
    app.update(Event::Loaded(data.clone()));
    draw(&app, &mut term);
    let full = t.elapsed();
    println!("| unlock to first frame (loading gauge) | {} |", ms(first_frame));
    println!("| unlock to all records decrypted | {} |", ms(decrypted));
    println!("| unlock to full dashboard (search index built) | {} |", ms(full));
    let (rss, peak) = memory();
    println!("| memory after load (RSS / peak of this process) | {rss} MiB / {peak} MiB |");

    // One frame of the records screen, scrolled into the middle.
    app.update(Event::Key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE)));
    app.table.selected = n / 2;
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        let frames: Vec<Duration> = (0..300)
            .map(|_| {
                let t = Instant::now();
                draw(&app, &mut term);
                t.elapsed()
            })
            .collect();
        println!(
            "| frame, records screen {w}x{h} (median / p99 of 300) | {} / {} |",
            ms(median(frames.clone())),
            ms(pct(frames, 0.99))
        );
    }

    search(&mut app, &data);
}

/// Only the search figures, without a store (for quick iterations).
fn search_only(n: usize) {
    let mut csv = Vec::new();
    steward::synth::generate(n, 1, &mut csv, None).expect("generate");
    let opts = Options { format: Format::Csv, id_column: None, source: "gen".into(), now: chrono::Utc::now() };
    let parsed = import::parse(&csv[..], &opts, &mut |_| {});
    let data = Arc::new(Data::build(parsed.rows.into_iter().map(|r| r.record).collect(), chrono::Utc::now()));
    let theme = Theme::load("default", ColorDepth::TrueColor).expect("theme");
    let mut app = App::new(SessionInfo::default(), theme);
    app.update(Event::Loaded(data.clone()));
    println!("| measure | value |\n|---|---|");
    search(&mut app, &data);
}

/// Types queries one key at a time, running each search as the worker does.
fn search(app: &mut App, data: &Arc<Data>) {
    let mut per_key = Vec::new();
    let mut first_key = Vec::new();
    for q in ["harrington", "jennifer davis", "example.org", "+44 79", "C00004", "zoë"] {
        app.update(Event::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
        app.update(Event::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE)));
        for (i, c) in q.chars().enumerate() {
            let t = Instant::now();
            for e in app.update(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))) {
                let generation = AtomicU64::new(app.search.generation);
                if let Some(ev) = run_effect(data, e, &generation) {
                    app.update(ev);
                }
            }
            let d = t.elapsed();
            if std::env::var("STEWARD_BENCH_VERBOSE").is_ok() {
                eprintln!("{q:?}[..={i}] {} hits {}", app.search.hits.as_ref().map_or(0, |h| h.len()), ms(d));
            }
            if i == 0 { first_key.push(d) } else { per_key.push(d) }
        }
        app.update(Event::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    }
    println!(
        "| search, first keystroke of a query (median / max of 6) | {} / {} |",
        ms(median(first_key.clone())),
        ms(pct(first_key, 1.0))
    );
    println!(
        "| search, later keystrokes (median / p95 / max of {}) | {} / {} / {} |",
        per_key.len(),
        ms(median(per_key.clone())),
        ms(pct(per_key.clone(), 0.95)),
        ms(pct(per_key, 1.0))
    );
    // Sorting by name (worker thread).
    let t = Instant::now();
    let _ = steward::tui::app::sort_order(data, steward::tui::app::SortKey::Name);
    println!("| sort by name (worker thread) | {} |", ms(t.elapsed()));
}

/// The findings scan alone (no store): time per stage and memory.
fn scan_only(n: usize) {
    let mut csv = Vec::new();
    let mut truth_csv = Vec::new();
    steward::synth::generate(n, 1, &mut csv, Some(&mut truth_csv)).expect("generate");

    let opts = Options { format: Format::Csv, id_column: None, source: "gen".into(), now: chrono::Utc::now() };
    let parsed = import::parse(&csv[..], &opts, &mut |_| {});
    drop(csv);
    let records: Vec<_> = parsed.rows.into_iter().map(|r| r.record).collect();
    let policy = steward::policy::Policy::from_toml(steward::service::demo::DEMO_POLICY).expect("policy");
    let (before, _) = memory();
    let now = steward::synth::as_of();
    let stage = std::sync::Mutex::new(Instant::now());
    let t = Instant::now();
    let apart = steward::findings::duplicates::Apart::default();
    let mut state = steward::findings::scan_state(&records, &policy, now, &apart, &|name| {
        if let Ok(mut s) = stage.lock() {
            eprintln!("  {:>8} ms  then {name}", s.elapsed().as_millis());
            *s = Instant::now();
        }
    });
    let total = t.elapsed();
    let (after, peak) = memory();
    // Incremental: edit one record (new email and surname) and rescan it, 20 times.
    let mut records = records;
    let rescans: Vec<Duration> = (0..20)
        .map(|k| {
            let i = (k * 7919 + n / 3) % n;
            records[i].email = Some(format!("changed{k}@example.org"));
            records[i].family_name = Some(format!("Changed{k}"));
            let t = Instant::now();
            state.rescan_record(&records, i as u32);
            t.elapsed()
        })
        .collect();
    let report = &state.report;
    // Pairwise precision and recall of the duplicate clusters. (The truth is
    // read only now, so that its map does not count in the scan's memory.)
    let truth: std::collections::HashMap<String, String> = String::from_utf8_lossy(&truth_csv)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(',').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    let mut sizes: std::collections::HashMap<&str, usize> = Default::default();
    for r in records.iter() {
        *sizes.entry(truth[&r.source_id].as_str()).or_default() += 1;
    }
    let true_pairs: usize = sizes.values().map(|k| k * (k - 1) / 2).sum();
    let (mut reported, mut correct) = (0usize, 0usize);
    for f in report.findings.iter().filter(|f| f.kind == steward::findings::Kind::Duplicate) {
        for (x, &a) in f.records.iter().enumerate() {
            for &b in &f.records[x + 1..] {
                reported += 1;
                correct += usize::from(truth[&records[a as usize].source_id] == truth[&records[b as usize].source_id]);
            }
        }
    }
    println!(
        "| duplicate quality | precision {:.4}, recall {:.4} ({correct} true of {reported} reported pairs; {true_pairs} true pairs) |",
        correct as f64 / reported.max(1) as f64,
        correct as f64 / true_pairs.max(1) as f64
    );
    println!(
        "| full scan of {n} generated records | {:.2} s ({} findings, {} candidate pairs) |",
        total.as_secs_f64(),
        report.findings.len(),
        report.duplicates.candidate_pairs
    );
    println!("| memory: RSS before / after / peak | {before} / {after} / {peak} MiB |");
    println!("| duplicate search | {:?} |", report.duplicates);
    println!(
        "| incremental rescan after editing one record (median / max of 20) | {} / {} |",
        ms(median(rescans.clone())),
        ms(pct(rescans, 1.0))
    );
}

/// Duplicate scan of the FEBRL file beside the repository (median of 5).
fn febrl() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/febrl/dataset1.csv");
    let bytes = std::fs::read(&path).expect("FEBRL file beside the repository");
    let opts = Options {
        format: Format::Csv,
        id_column: Some("rec_id".into()),
        source: "febrl".into(),
        now: chrono::Utc::now(),
    };
    let records: Vec<_> = import::parse(&bytes[..], &opts, &mut |_| {}).rows.into_iter().map(|r| r.record).collect();
    let policy = steward::policy::Policy::default();
    let runs: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let r = steward::findings::scan(&records, &policy, chrono::Utc::now(), &|_| {});
            assert!(r.findings.len() > 400);
            t.elapsed()
        })
        .collect();
    println!("| full scan of FEBRL dataset1 ({} records), median of 5 | {} |", records.len(), ms(median(runs)));
}
