//! Database sources at scale: `sync` of a PostgreSQL table into a fresh
//! store, incremental syncs, and `push` of the change feed back to it.
//!
//! ```sh
//! PGPASSWORD=... cargo bench --bench sources -- URL [ROWS [CHANGES [ERASURES [MERGES]]]]
//! ```
//!
//! URL: a PostgreSQL database the bench may create a table in (without a
//! password: steward refuses one in a URL; give it in `PGPASSWORD` or
//! `~/.pgpass`, as for `steward source add`; a host other than localhost
//! needs `?sslmode=disable`). ROWS (default 100,000) customers of
//! `steward gen --seed 1` (run as its own process, the CSV kept in the
//! bench dir for the next run) are loaded into table `bench_customers`
//! (dropped and made again; `updated_at` kept by a trigger, as in
//! `tests/sources.rs`; no index but the primary key) with COPY; then the
//! bench waits `LAG_SECONDS` + 1, so that the load is older than the
//! cursor's lag (all untimed). Then, timed, each printed as one Markdown
//! table row (time, rate, what it did, RSS):
//!
//! 1. `source add` (the columns auto-mapped), the first sync into a fresh
//!    store, the table read alone (`SourceDb::read`, what a sync asks of
//!    the database), the same first sync as a dry run into a second empty
//!    store, and, for comparison, the same rows imported from the CSV file
//!    into a third;
//! 2. an incremental sync with nothing changed, and one after 1 % of the
//!    rows were updated in the database (untimed `UPDATE`);
//! 3. CHANGES (default 10,000) rectifications made in steward (`update` of
//!    one field of one record each: every record's email, then its
//!    locality, then its postcode when more changes than records are
//!    asked for; with `STEWARD_BENCH_HOW=drop`, `drop_field` of those
//!    fields from that many records instead, one commit per field, which
//!    clears them in the table), ERASURES (default 10) erasures and MERGES
//!    (default 10) merges of two unrelated records (the default merge plan:
//!    the fresher value of each field); with `STEWARD_BENCH_CONFLICTS=N`,
//!    N of the edited rows are then changed in the database (their changes
//!    must be refused); then reading the pending feed, `push` as a dry run
//!    and for real, BATCH changes per transaction (env
//!    `STEWARD_BENCH_BATCH`, default 500), a check of the counts and of the
//!    table, the same email updates done set-based for comparison (rolled
//!    back), and the two syncs after the push, with the fields the first
//!    one changed in the merge survivors and up to 2,000 edited records;
//! 4. the round trip to the server (`SELECT 1`, prepared and not), which is
//!    what a push's per-row statements cost.
//!
//! The stores go to `$STEWARD_BENCH_DIR` (default
//! `/work/scratch/bench-sources`), made afresh each run at the low
//! passphrase cost. Peak RSS of the whole process: run the bench binary
//! under `/usr/bin/time -v`; each row also shows `VmHWM`, the peak so far
//! (with `STEWARD_BENCH_STEP_PEAK=1`, the peak during that step: this
//! resets the counter `/usr/bin/time` reads too).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use secrecy::SecretString;
use steward::crypto::KdfCost;
use steward::model::RecordId;
use steward::model::source::{OnErase, OnMerge, Postgres};
use steward::service::actions::{FieldEdit, FieldName, Strategy};
use steward::service::sources::{PushReport, SyncReport};
use steward::service::{OnInvalid, Service};
use steward::store::NewSlot;
use steward::store::pgsource::SourceDb;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TABLE: &str = "bench_customers";
const SOURCE: &str = "bench";
const COLUMNS: &str = "customer_id,first_name,last_name,email,phone,street,city,postcode,country,date_of_birth,\
created_at,last_verified,last_activity,marketing_consent,fax,pager,national_id,notes";

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn rate(n: usize, d: Duration, what: &str) -> String {
    format!("{:.0} {what}/s", n as f64 / d.as_secs_f64().max(1e-9))
}

/// (resident now, peak so far) in MiB, from /proc/self/status.
fn mem() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// Starts a step. With `STEWARD_BENCH_STEP_PEAK=1` the peak RSS (VmHWM)
/// is reset to the current RSS first, so that `row` shows the step's own
/// peak (this also resets what `/usr/bin/time` reports as the maximum).
fn start() -> Instant {
    if std::env::var_os("STEWARD_BENCH_STEP_PEAK").is_some() {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
    Instant::now()
}

fn row(step: &str, time: Duration, rate: &str, note: &str) {
    let (rss, peak) = mem();
    println!("| {step} | {} | {rate} | {note} | {rss} / {peak} MiB |", secs(time));
}

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => n += dir_size(&e.path()),
                Ok(m) => n += m.len(),
                Err(_) => {}
            }
        }
    }
    n
}

fn connect(url: &str) -> Client {
    let mut config: postgres::Config = url.parse().expect("a PostgreSQL URL");
    if let Ok(p) = std::env::var("PGPASSWORD") {
        config.password(p);
    }
    config.connect(NoTls).expect("connect to the database")
}

fn count(client: &mut Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).expect(sql).get(0)
}

fn sync_note(r: &SyncReport) -> String {
    let i = &r.import;
    format!(
        "{} read{}: {} new, {} updated, {} unchanged, {} rejected, {} suppressed, {} merged away, {} conflicts",
        r.read,
        if r.incremental { " (incremental)" } else { " (whole table)" },
        i.inserted,
        i.updated,
        i.unchanged,
        i.rejected,
        i.suppressed,
        i.merged_away,
        i.conflicts
    )
}

fn push_note(r: &PushReport) -> String {
    let applied: Vec<String> = r.applied.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut why: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for x in &r.refused {
        *why.entry(x.why.as_str()).or_default() += 1;
    }
    let why: Vec<String> = why.iter().map(|(w, n)| format!("{n}× {w}")).collect();
    format!(
        "applied: {}; {} already; {} not mapped; {} refused{}; {} batches committed; {} done, {} pending{}",
        if applied.is_empty() { "none".to_owned() } else { applied.join(", ") },
        r.already,
        r.not_mapped,
        r.refused.len(),
        if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) },
        r.batches,
        r.done,
        r.pending,
        r.stopped.as_deref().map(|s| format!("; STOPPED: {s}")).unwrap_or_default()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let Some(url) = args.first().cloned() else {
        eprintln!("usage: PGPASSWORD=... cargo bench --bench sources -- URL [ROWS [CHANGES [ERASURES [MERGES]]]]");
        std::process::exit(2);
    };
    let arg = |i: usize, default: usize| args.get(i).and_then(|s| s.replace('_', "").parse().ok()).unwrap_or(default);
    let rows = arg(1, 100_000);
    let changes_wanted = arg(2, 10_000);
    let erasures = arg(3, 10);
    let merges = arg(4, 10);
    let batch: usize = std::env::var("STEWARD_BENCH_BATCH").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let base = std::env::var_os("STEWARD_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/scratch/bench-sources"));
    let store_dir = base.join("store");

    // The table, untimed.
    let t = start();
    let mut client = connect(&url);
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {TABLE};
             CREATE TABLE {TABLE} (
               customer_id text PRIMARY KEY, first_name text, last_name text, email text, phone text, street text,
               city text, postcode text, country text, date_of_birth text, created_at timestamptz,
               last_verified timestamptz, last_activity timestamptz, marketing_consent text, fax text, pager text,
               national_id text, notes text, updated_at timestamptz NOT NULL DEFAULT now());
             CREATE OR REPLACE FUNCTION {TABLE}_touch() RETURNS trigger AS $$
               BEGIN NEW.updated_at = clock_timestamp(); RETURN NEW; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER {TABLE}_touch BEFORE UPDATE ON {TABLE} FOR EACH ROW EXECUTE FUNCTION {TABLE}_touch();"
        ))
        .expect("create the table");
    // `steward gen --seed 1` in its own process (the generator's memory is
    // not this one's), kept for the next run.
    std::fs::create_dir_all(&base).expect("bench dir");
    let csv = base.join(format!("gen-{rows}.csv"));
    if !csv.exists() {
        let tmp = base.join(format!("gen-{rows}.csv.part"));
        let ok = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
            .args(["gen", "--count", &rows.to_string(), "--seed", "1", "-o"])
            .arg(&tmp)
            .status()
            .expect("run steward gen");
        assert!(ok.success(), "steward gen failed");
        std::fs::rename(&tmp, &csv).expect("rename");
    }
    let mut w =
        client.copy_in(&format!("COPY {TABLE} ({COLUMNS}) FROM STDIN (FORMAT csv, HEADER true)")).expect("copy");
    std::io::copy(&mut std::fs::File::open(&csv).expect("open csv"), &mut w).expect("copy rows");
    w.finish().expect("copy done");
    client.batch_execute(&format!("VACUUM ANALYZE {TABLE}")).expect("analyze");
    let loaded = count(&mut client, &format!("SELECT count(*) FROM {TABLE}"));
    // An incremental sync's cursor stays LAG_SECONDS behind the server's
    // clock: rows written less than that before a sync are read again by
    // the next one. Let the load age past it, as a table in use would be.
    std::thread::sleep(Duration::from_secs(u64::from(steward::store::pgsource::LAG_SECONDS) + 1));
    println!(
        "table {TABLE}: {loaded} rows loaded with COPY in {} (untimed, includes a {} s wait)",
        secs(t.elapsed()),
        steward::store::pgsource::LAG_SECONDS + 1
    );
    println!();
    println!(
        "| step | time | rate | what it did | RSS after / {} |",
        if std::env::var_os("STEWARD_BENCH_STEP_PEAK").is_some() { "peak during the step" } else { "peak so far" }
    );
    println!("|---|---|---|---|---|");

    // A fresh store.
    let _ = std::fs::remove_dir_all(&store_dir);
    let t = start();
    let service = Service::init(
        &store_dir,
        "bench",
        NewSlot::Passphrase(SecretString::from("benchmark-pass".to_owned()), KdfCost::LOW),
    )
    .expect("init");
    row("init store (low KDF cost)", t.elapsed(), "", "");

    let t = start();
    let def = Postgres {
        url: url.clone(),
        table: TABLE.into(),
        id_column: "customer_id".into(),
        map: Vec::new(),
        updated_column: Some("updated_at".into()),
        on_erase: OnErase::Delete,
        on_merge: OnMerge::Delete,
        identity: None,
    };
    let src = service.source_add(SOURCE, def.clone(), "benchmark").expect("source add");
    let map = src.postgres.as_ref().map(|p| p.map.clone()).unwrap_or_default();
    row(
        "source add",
        t.elapsed(),
        "",
        &format!(
            "{} columns mapped: {}",
            map.len(),
            map.iter().map(|(f, c)| if f == c { f.clone() } else { format!("{f}={c}") }).collect::<Vec<_>>().join(" ")
        ),
    );
    let cols: Vec<String> = map.iter().map(|(_, c)| c.clone()).collect();

    let none = |_: usize| {};
    let t = start();
    let r = service.sync(SOURCE, OnInvalid::Skip, false, false, &none).expect("sync");
    let d = t.elapsed();
    row("**first sync into the empty store**", d, &rate(r.read, d, "rows"), &sync_note(&r));
    println!(
        "| (store after the first sync) | | | {} records, {:.0} MiB on disk | |",
        service.count(),
        dir_size(&store_dir) as f64 / 1048576.0
    );

    // What the database part of a sync costs: the same query, alone.
    let t = start();
    let mut db = SourceDb::open(&url, TABLE, "customer_id", &cols).expect("open");
    let read = db.read(&cols, Some("updated_at"), None, None).expect("read");
    let read_time = t.elapsed();
    let n_read = read.rows.len();
    drop(read);
    drop(db);
    row("the table read alone (`SourceDb::read`, whole table)", read_time, &rate(n_read, read_time, "rows"), "");

    // The same first sync as a dry run, into a second empty store: reads,
    // parses, validates, looks every row up, writes nothing.
    let dry_dir = base.join("store-dry");
    let _ = std::fs::remove_dir_all(&dry_dir);
    let dry = Service::init(
        &dry_dir,
        "bench",
        NewSlot::Passphrase(SecretString::from("benchmark-pass".to_owned()), KdfCost::LOW),
    )
    .expect("init");
    dry.source_add(SOURCE, def.clone(), "benchmark").expect("source add");
    let t = start();
    let r = dry.sync(SOURCE, OnInvalid::Skip, false, true, &none).expect("sync dry run");
    let d = t.elapsed();
    row(
        "first sync as a dry run (read, parse, validate; nothing written)",
        d,
        &rate(r.read, d, "rows"),
        &sync_note(&r),
    );
    drop(dry);
    let _ = std::fs::remove_dir_all(&dry_dir);

    // For comparison: the same rows imported from the CSV file `gen` wrote.
    let imp = Service::init(
        &dry_dir,
        "bench",
        NewSlot::Passphrase(SecretString::from("benchmark-pass".to_owned()), KdfCost::LOW),
    )
    .expect("init");
    let t = start();
    let opts = steward::import::Options {
        format: steward::import::Format::Csv,
        id_column: None,
        source: SOURCE.into(),
        now: steward::model::now(),
    };
    let parsed = steward::import::parse(std::fs::File::open(&csv).expect("csv"), &opts, &mut |_| {});
    let r = imp.import(parsed, OnInvalid::Skip, false, &none).expect("import");
    let d = t.elapsed();
    row(
        "for comparison: the same rows imported from the CSV file",
        d,
        &rate(rows, d, "rows"),
        &format!("{} new, {} rejected", r.inserted, r.rejected),
    );
    drop(imp);
    let _ = std::fs::remove_dir_all(&dry_dir);

    let t = start();
    let r = service.sync(SOURCE, OnInvalid::Skip, false, false, &none).expect("sync");
    let d = t.elapsed();
    row("incremental sync, nothing changed", d, &rate(r.read, d, "rows"), &sync_note(&r));

    // 1 % of the rows changed in the database (every 100th by id).
    let t = start();
    let changed = client
        .execute(
            &format!(
                "UPDATE {TABLE} SET street = coalesce(street, '') || ' Flat 2' WHERE customer_id IN \
                 (SELECT customer_id FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS n \
                  FROM {TABLE}) s WHERE n % 100 = 0)"
            ),
            &[],
        )
        .expect("update 1%");
    println!("| (untimed: {changed} rows updated in the database, {}) | | | | |", secs(t.elapsed()));
    let t = start();
    let r = service.sync(SOURCE, OnInvalid::Skip, false, false, &none).expect("sync");
    let d = t.elapsed();
    row("incremental sync after 1 % of rows changed", d, &rate(r.read, d, "rows"), &sync_note(&r));

    // Changes in steward.
    let mut held: Vec<(RecordId, String)> = Vec::with_capacity(service.count());
    service
        .each_record(&mut |r| {
            held.push((r.id, r.source_id.clone()));
            true
        })
        .expect("records");
    let spare = merges * 2 + erasures;
    assert!(held.len() > spare, "too few records ({}) for {merges} merges and {erasures} erasures", held.len());
    let (others, editable) = held.split_at(spare);
    let fields = ["email", "locality", "postcode"];
    let how = std::env::var("STEWARD_BENCH_HOW").unwrap_or_else(|_| "update".into());
    let ids: Vec<RecordId> = editable.iter().map(|(id, _)| *id).collect();
    let mut edited: Vec<RecordId> = Vec::new();
    if how == "drop" {
        // One `drop_field` per field (one commit each) over as many records as needed.
        let mut left = changes_wanted;
        let t = start();
        let mut made = 0;
        let mut what = Vec::new();
        for field in fields {
            if left == 0 {
                break;
            }
            let mut plan = service.plan_drop_field_in(field, &ids).expect("plan drop");
            plan.records.truncate(left);
            if plan.records.is_empty() {
                continue;
            }
            let s = Instant::now();
            let done = service.drop_field(&plan, "benchmark").expect("drop field");
            what.push(format!("`{field}` from {} records (commit {})", done.records, secs(s.elapsed())));
            left -= done.records;
            made += done.records;
            if edited.len() < 2000 {
                edited.extend(plan.records.iter().take(2000 - edited.len()));
            }
        }
        let d = t.elapsed();
        row(&format!("{made} changes in steward (`drop_field`)"), d, &rate(made, d, "changes"), &what.join("; "));
    } else {
        let changes = changes_wanted.min(ids.len() * fields.len());
        let mut per = Vec::with_capacity(changes);
        let t = start();
        for k in 0..changes {
            let id = ids[k % ids.len()];
            let field = fields[k / ids.len()];
            let value = match field {
                "email" => format!("bench.{k}@example.org"),
                "locality" => format!("Benchtown {k}"),
                _ => format!("B{k}"),
            };
            let edit = FieldEdit { field: FieldName::parse(field), value: Some(value) };
            let s = Instant::now();
            service.update(id, &[edit], "benchmark").expect("update");
            per.push(s.elapsed());
            if edited.len() < 2000 {
                edited.push(id);
            }
        }
        let d = t.elapsed();
        per.sort();
        row(
            &format!("{changes} updates in steward (one `update` each)"),
            d,
            &rate(changes, d, "updates"),
            &format!(
                "per update median {} / p99 {}",
                secs(per.get(per.len() / 2).copied().unwrap_or_default()),
                secs(per.get(per.len() * 99 / 100).copied().unwrap_or_default())
            ),
        );
    }
    let mut survivors = Vec::new();
    let t = start();
    for pair in others[..merges * 2].chunks(2) {
        let plan = service.plan_merge(&[pair[0].0, pair[1].0], Some(pair[0].0)).expect("plan merge");
        survivors.push(service.merge(&plan, "benchmark").expect("merge").survivor);
    }
    let d = t.elapsed();
    row(&format!("{merges} merges of two records"), d, &rate(merges, d, "merges"), "");
    let t = start();
    for (id, _) in &others[merges * 2..] {
        let plan = service.plan_erase(&[*id], Strategy::Delete).expect("plan erase");
        service.erase(&plan, "benchmark", None, false, &none).expect("erase");
    }
    let d = t.elapsed();
    row(&format!("{erasures} erasures (no rekey)"), d, &rate(erasures, d, "erasures"), "");
    let t = start();
    let pending = service.changes(SOURCE, 0).expect("changes");
    let d = t.elapsed();
    row("read the pending feed (`changes`, as push does first)", d, &rate(pending.len(), d, "changes"), "");
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for p in &pending {
        let k = match &p.change.op {
            steward::model::source::Op::Update { field, .. } => format!("update {field}"),
            op => op.kind().to_owned(),
        };
        *kinds.entry(k).or_default() += 1;
    }
    let n_pending = pending.len();
    drop(pending);
    println!(
        "| (pending changes) | | | {n_pending}: {} | |",
        kinds.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
    );

    // With STEWARD_BENCH_CONFLICTS=N, N of the edited rows are changed in
    // the database first: their changes must be refused and stay pending.
    let conflicts: usize = std::env::var("STEWARD_BENCH_CONFLICTS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    if conflicts > 0 {
        let sids: Vec<String> = edited
            .iter()
            .take(conflicts)
            .filter_map(|id| held.iter().find(|(h, _)| h == id).map(|(_, sid)| sid.clone()))
            .collect();
        let n = client
            .execute(
                &format!(
                    "UPDATE {TABLE} SET email = 'crm.' || customer_id || '@example.org' WHERE customer_id = ANY($1)"
                ),
                &[&sids],
            )
            .expect("conflicts");
        println!("| (untimed: {n} of the edited rows changed in the database meanwhile) | | | | |");
    }
    let progress = |_: usize, _: usize| {};
    let t = start();
    let r = service.push(SOURCE, batch, true, &progress).expect("push dry run");
    let d = t.elapsed();
    row(&format!("push, dry run (batch {batch}; rolled back)"), d, &rate(n_pending, d, "changes"), &push_note(&r));

    let before = count(&mut client, &format!("SELECT count(*) FROM {TABLE}"));
    let t = start();
    let r = service.push(SOURCE, batch, false, &progress).expect("push");
    let d = t.elapsed();
    row(&format!("**push** (batch {batch})"), d, &rate(n_pending, d, "changes"), &push_note(&r));
    let after = count(&mut client, &format!("SELECT count(*) FROM {TABLE}"));
    let emails = count(&mut client, &format!("SELECT count(*) FROM {TABLE} WHERE email LIKE 'bench.%@example.org'"));
    let accounted = r.applied.values().sum::<usize>() + r.already + r.not_mapped + r.refused.len();
    println!(
        "| (check) | | | table rows {before} → {after}; {emails} rows hold a bench email; applied + already + not \
         mapped + refused = {accounted} of {n_pending} pending{} | |",
        if accounted == n_pending { "" } else { " — DOES NOT ADD UP" }
    );

    // The same kind of work set-based, for comparison: each batch's rows
    // locked and read with one statement, their emails set with one, then
    // rolled back (what a push could cost with a round trip per batch, not
    // per row).
    let ids: Vec<String> = client
        .query(&format!("SELECT customer_id FROM {TABLE} WHERE email LIKE 'bench.%@example.org'"), &[])
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !ids.is_empty() {
        let lock = format!("SELECT customer_id, email FROM {TABLE} WHERE customer_id = ANY($1) FOR UPDATE");
        let set = format!(
            "UPDATE {TABLE} t SET email = v.e FROM unnest($1::text[], $2::text[]) AS v(id, e) WHERE t.customer_id = v.id"
        );
        let t = start();
        let mut tx = client.transaction().expect("tx");
        for chunk in ids.chunks(batch.max(1)) {
            let held = tx.query(&lock, &[&chunk]).expect("lock");
            let emails: Vec<String> = held.iter().map(|r| format!("x{}", r.get::<_, String>(1))).collect();
            let ids: Vec<String> = held.iter().map(|r| r.get(0)).collect();
            tx.execute(&set, &[&ids, &emails]).expect("set");
        }
        tx.rollback().expect("rollback");
        let d = t.elapsed();
        row(
            &format!(
                "for comparison: {} email updates set-based (2 statements per batch of {batch}), rolled back",
                ids.len()
            ),
            d,
            &rate(ids.len(), d, "rows"),
            "",
        );
    }

    // What that sync changes in the records it rewrites (field names only):
    // the merge survivors and up to 2,000 of the edited records.
    let watch: Vec<RecordId> = survivors.iter().chain(&edited).copied().collect();
    let snap = |service: &Service| -> Vec<Option<steward::model::Record>> {
        watch.iter().map(|id| service.get(*id).ok()).collect()
    };
    let before_sync = snap(&service);
    let t = start();
    let r = service.sync(SOURCE, OnInvalid::Skip, false, false, &none).expect("sync");
    let d = t.elapsed();
    row("incremental sync after the push", d, &rate(r.read, d, "rows"), &sync_note(&r));
    let after_sync = snap(&service);
    let mut moved: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (k, (a, b)) in before_sync.iter().zip(&after_sync).enumerate() {
        let (Some(a), Some(b)) = (a, b) else { continue };
        let who = if k < survivors.len() { "survivor" } else { "edited" };
        let (va, vb) = (steward::service::feed::source_values(a), steward::service::feed::source_values(b));
        let names: std::collections::BTreeSet<&String> = va.keys().chain(vb.keys()).collect();
        for n in names {
            if va.get(n) != vb.get(n) {
                *moved.entry(format!("{who}: {n}")).or_default() += 1;
            }
        }
        for (n, x, y) in [
            ("created", Some(a.times.created), Some(b.times.created)),
            ("last_verified", a.times.last_verified, b.times.last_verified),
            ("last_activity", a.times.last_activity, b.times.last_activity),
        ] {
            if x != y {
                *moved.entry(format!("{who}: {n} (time)")).or_default() += 1;
            }
        }
    }
    println!(
        "| (of {} watched records, what that sync changed) | | | {} | |",
        watch.len(),
        if moved.is_empty() {
            "nothing".to_owned()
        } else {
            moved.iter().map(|(k, n)| format!("{n}× {k}")).collect::<Vec<_>>().join(", ")
        }
    );
    drop(before_sync);
    drop(after_sync);
    let t = start();
    let r = service.sync(SOURCE, OnInvalid::Skip, false, false, &none).expect("sync");
    let d = t.elapsed();
    row("and the one after it", d, &rate(r.read, d, "rows"), &sync_note(&r));

    // The round trip a push pays per statement.
    let n = 5_000;
    let mut tx = client.transaction().expect("tx");
    let t = start();
    for _ in 0..n {
        tx.query_one("SELECT 1", &[]).expect("select");
    }
    let unprepared = t.elapsed();
    let stmt = tx.prepare("SELECT 1").expect("prepare");
    let t = start();
    for _ in 0..n {
        tx.query_one(&stmt, &[]).expect("select");
    }
    let prepared = t.elapsed();
    tx.rollback().expect("rollback");
    println!(
        "| round trip: `SELECT 1` as text (prepare + execute) / prepared, {n} each | {:.0} / {:.0} µs each | | | |",
        unprepared.as_secs_f64() * 1e6 / n as f64,
        prepared.as_secs_f64() * 1e6 / n as f64
    );
    println!();
    println!(
        "resident at the end {} MiB; store {:.0} MiB (peak of the whole run: `/usr/bin/time -v`)",
        mem().0,
        dir_size(&store_dir) as f64 / 1048576.0
    );
}
