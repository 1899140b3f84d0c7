//! Concurrent writers on a PostgreSQL store: how many edits per second N
//! sessions sustain together, and the latency of each edit.
//!
//! `cargo bench --bench shared_store -- URL RECORDS WRITERS...`
//!
//! Creates a store at URL (an empty PostgreSQL database, or a directory),
//! imports RECORDS generated records, then for each W of WRITERS (default
//! 1 2 4 8) runs W threads, each with its own session (`Service::door` +
//! `Service::unlock`, so its own connections), each doing a fixed number of
//! `Service::update` (a new email) on its own records; the number is chosen
//! from a short pilot run of the same W so that a run lasts about
//! `SHARED_STORE_SECS` (default 10) seconds. Then, unless
//! `SHARED_STORE_SLED=0`, the same single-writer run on a sled store in a
//! temporary directory, for comparison. Prints a Markdown table.
//!
//! On PostgreSQL a sampler (its own connection, every 5 ms) reads
//! `pg_stat_activity` during each run: how many of the writers' lock
//! connections wait on the advisory lock, and how many of their data
//! connections are running a statement on the server (the rest of the
//! time a writer is in its own code or between round trips).

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use steward::crypto::KdfCost;
use steward::import::{self, Format, Options};
use steward::model::RecordId;
use steward::service::actions::{FieldEdit, FieldName};
use steward::service::{Credentials, Location, NewSecret, OnInvalid, Service};

/// The same allocator as the binary (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASS: &str = "benchmark passphrase";
const USER: &str = "bench";

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
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

fn session(location: &Location) -> Service {
    let door = Service::door(location, USER).expect("door");
    Service::unlock(door, USER, Credentials::Passphrase(SecretString::from(PASS.to_owned()))).expect("unlock")
}

/// Creates the store and imports the generated CSV; returns the record ids
/// and the import time.
fn create(location: &Location, csv: &[u8]) -> (Vec<RecordId>, Duration) {
    let svc = Service::init(location, USER, NewSecret::Passphrase(SecretString::from(PASS.to_owned()), KdfCost::LOW))
        .expect("init (the database must be empty)");
    let start = Instant::now();
    let opts = Options { format: Format::Csv, id_column: None, source: "gen".into(), now: chrono::Utc::now() };
    let parsed = import::parse(csv, &opts, &mut |_| {});
    svc.import(parsed, OnInvalid::Refuse, false, &|_| {}).expect("import");
    let took = start.elapsed();
    let mut ids = Vec::with_capacity(svc.count());
    svc.each_record(&mut |r| {
        ids.push(r.id);
        true
    })
    .expect("ids");
    (ids, took)
}

/// One run: `writers` sessions, each doing `each` edits on its own records
/// (every `writers`-th id, starting at its number).
struct Run {
    writers: usize,
    edits: usize,
    failed: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    /// Mean number of sessions (waiting on the advisory lock, running a
    /// statement on the server), from `pg_stat_activity`.
    sampled: Option<(f64, f64)>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.edits as f64 / self.wall.as_secs_f64()
    }
}

fn run(location: &Location, ids: &[RecordId], writers: usize, each: usize, tag: &str) -> Run {
    // Sessions open (and unlock) before the clock starts.
    let barrier = Barrier::new(writers + 1);
    let email = FieldName::parse("email");
    let done = AtomicBool::new(false);
    let (wall, results, sampled) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let barrier = &barrier;
                let email = &email;
                s.spawn(move || {
                    let svc = session(location);
                    let own: Vec<RecordId> = ids.iter().skip(w).step_by(writers).copied().collect();
                    barrier.wait();
                    let mut latencies = Vec::with_capacity(each);
                    let mut failed = 0usize;
                    for k in 0..each {
                        let id = own[k % own.len()];
                        let edit = FieldEdit {
                            field: email.clone(),
                            value: Some(format!("bench.{tag}.w{w}.e{k}@example.org")),
                        };
                        let t = Instant::now();
                        match svc.update(id, &[edit], "bench") {
                            Ok(_) => latencies.push(t.elapsed()),
                            Err(e) => {
                                failed += 1;
                                if failed <= 3 {
                                    eprintln!("writer {w}: edit {k} failed: {e}");
                                }
                            }
                        }
                    }
                    (latencies, failed)
                })
            })
            .collect();
        let sampler = match location {
            Location::Postgres(url) => {
                let done = &done;
                Some(s.spawn(move || sample(url, done)))
            }
            Location::Dir(_) => None,
        };
        barrier.wait();
        let start = Instant::now();
        let results: Vec<(Vec<Duration>, usize)> =
            handles.into_iter().map(|h| h.join().expect("writer thread")).collect();
        let wall = start.elapsed();
        done.store(true, Ordering::SeqCst);
        (wall, results, sampler.map(|h| h.join().expect("sampler thread")))
    });
    let failed = results.iter().map(|r| r.1).sum();
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    latencies.sort();
    Run { writers, edits: latencies.len(), failed, wall, latencies, sampled }
}

/// Samples `pg_stat_activity` until `done`: the mean number of the store's
/// lock connections waiting on the advisory lock, and of its data
/// connections (named `steward…` too: `steward store`, then the session's
/// `steward: USER (…)`) running a statement.
fn sample(url: &str, done: &AtomicBool) -> (f64, f64) {
    let mut client = steward::store::pgsource::connect(url, "shared_store bench sampler").expect("sampler connects");
    let query = "SELECT count(*) FILTER (WHERE application_name = 'steward store lock' \
                   AND wait_event_type = 'Lock' AND wait_event = 'advisory'), \
                 count(*) FILTER (WHERE application_name LIKE 'steward%' \
                   AND application_name <> 'steward store lock' AND state = 'active') \
                 FROM pg_stat_activity WHERE datname = current_database()";
    let stmt = client.prepare(query).expect("sampler query");
    let (mut samples, mut waiting, mut active) = (0u64, 0i64, 0i64);
    while !done.load(Ordering::SeqCst) {
        // pg_stat_activity is a snapshot per transaction: one query each.
        if let Ok(row) = client.query_one(&stmt, &[]) {
            samples += 1;
            waiting += row.get::<_, i64>(0);
            active += row.get::<_, i64>(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let n = samples.max(1) as f64;
    (waiting as f64 / n, active as f64 / n)
}

fn row(engine: &str, r: &Run) {
    let (waiting, active) = match r.sampled {
        Some((w, a)) => (format!("{w:.2}"), format!("{a:.2}")),
        None => ("–".to_owned(), "–".to_owned()),
    };
    println!(
        "| {engine} | {} | {} | {:.1} s | {:.1} | {:.1} | {} | {} | {waiting} | {active} | {} |",
        r.writers,
        r.edits,
        r.wall.as_secs_f64(),
        r.rate(),
        r.rate() / r.writers as f64,
        ms(pct(&r.latencies, 0.5)),
        ms(pct(&r.latencies, 0.99)),
        r.failed
    );
}

/// Edits for the next run: about `secs` seconds at `rate` edits/s in all.
fn edits_per_writer(rate: f64, secs: f64, writers: usize) -> usize {
    ((rate * secs / writers as f64).ceil() as usize).max(5)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (Some(url), Some(n)) = (args.first(), args.get(1).and_then(|a| a.parse::<usize>().ok())) else {
        eprintln!("usage: cargo bench --bench shared_store -- URL RECORDS WRITERS...");
        std::process::exit(2);
    };
    let mut writers: Vec<usize> = args[2..].iter().filter_map(|a| a.parse().ok()).filter(|w| *w > 0).collect();
    if writers.is_empty() {
        writers = vec![1, 2, 4, 8];
    }
    let secs: f64 = std::env::var("SHARED_STORE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let location = Location::parse(url);

    let mut csv = Vec::new();
    steward::synth::generate(n, 1, &mut csv, None).expect("generate");
    let (ids, import) = create(&location, &csv);
    let engine = location.engine();
    println!("## Shared store: {n} records, writers {writers:?}, about {secs} s a run\n");
    println!(
        "Import into {engine}: {:.2} s = {:.0} records/s ({} records).\n",
        import.as_secs_f64(),
        n as f64 / import.as_secs_f64(),
        ids.len()
    );
    println!(
        "| engine | writers | edits | wall | edits/s total | edits/s per writer | p50 | p99 \
         | sessions waiting on the lock (mean) | statements running on the server (mean) | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");

    // Warm-up (one session, a few edits) gives the first pilot's rate.
    let warm = run(&location, &ids, 1, 20, "warm");
    let mut rate = warm.rate().max(1.0);
    for &w in &writers {
        if w > ids.len() {
            eprintln!("{w} writers: more writers than records; skipped");
            continue;
        }
        // A pilot of about a second with the same number of writers sets
        // the number of edits for the measured run.
        let pilot = run(&location, &ids, w, edits_per_writer(rate, 1.0, w), &format!("pilot{w}"));
        let r = run(&location, &ids, w, edits_per_writer(pilot.rate().max(1.0), secs, w), &format!("{engine}{w}"));
        row(engine, &r);
        rate = r.rate().max(1.0);
    }

    // The same single writer on sled (a store in a temporary directory).
    if matches!(location, Location::Postgres(_)) && std::env::var("SHARED_STORE_SLED").map_or(true, |v| v != "0") {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = Location::Dir(tmp.path().join("store"));
        let (ids, import) = create(&dir, &csv);
        let warm = run(&dir, &ids, 1, 20, "warm");
        let pilot = run(&dir, &ids, 1, edits_per_writer(warm.rate().max(1.0), 1.0, 1), "pilot");
        let r = run(&dir, &ids, 1, edits_per_writer(pilot.rate().max(1.0), secs, 1), "sled1");
        row("sled", &r);
        println!(
            "\nImport into sled: {:.2} s = {:.0} records/s.",
            import.as_secs_f64(),
            n as f64 / import.as_secs_f64()
        );
    }
    let (rss, peak) = memory();
    println!("\nMemory of this process at the end (RSS / peak): {rss} MiB / {peak} MiB.");
}
