//! Crash safety: an action is all or nothing. A child `steward` process is
//! killed with SIGKILL at a random moment during `import` (of fresh records,
//! and a re-import that updates existing ones), `merge`, and `erase` (which
//! rotates the data key afterwards), then the store is reopened through the
//! binary and these invariants are checked:
//!
//! - `audit verify` exits 0 and no earlier audit entry changed; the data-key
//!   generations named by the `rekey` entries count up one at a time;
//! - `stats --json` counts as many records as `list --json` lists;
//! - the store is exactly as before the action (every record as it was, no
//!   new audit entry) or exactly as after it (the records changed as the
//!   action says and nothing else did, and the action's audit entry exists —
//!   for `erase`, followed by its key rotation);
//! - `show ID` follows a merge to the survivor and reports an erased record
//!   (exit 1) exactly when the merge or erasure happened;
//! - `show SOURCE:SOURCE_ID` finds a sample of the listed records.
//!
//! Each kind of action is first run twice without a kill to measure how long
//! it takes (the shorter run counts: the tests beside it can slow one down);
//! kill delays are then uniform over 0..1.2× that duration, so
//! kills land before, during and after the writes (and, for `erase`, during
//! the key rotation, which the next unlock finishes).
//!
//! Modes:
//! - default (`cargo test`): 10 killed trials (4 imports, 3 merges, 3
//!   erasures) on stores of 1,000 to a few thousand records; about 12 s in a
//!   debug build on two cores.
//! - long (`STEWARD_LONG_TESTS=1 cargo test --release --test crash`): 200
//!   killed trials (80 imports, 60 merges, 60 erasures) on 20,000-record
//!   stores, some imports of 70,000 rows, which span several write batches.
//!
//! Reproducing: the seed is printed (`--nocapture`) and named in every
//! failure with the trial and its kill delay; `STEWARD_CRASH_SEED=N` repeats
//! the delays and choices (which state a kill leaves still depends on
//! timing). `STEWARD_CRASH_KEEP=1` keeps the stores for inspection. With
//! `--nocapture` each test prints how many kills left the store before and
//! after its action.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use common::{bin, cli, run, steward};

/// Sizes and trial counts of a mode.
struct Plan {
    imports: usize,
    merges: usize,
    erases: usize,
    /// Rows of the store's first import (and of each re-import).
    base_rows: usize,
    /// Rows of a fresh import.
    fresh_rows: usize,
    /// Rows of the occasional large fresh import (more than one write batch).
    big_rows: Option<usize>,
    /// The import test starts over on a new store above this many records.
    reset_above: usize,
    /// Merges made (not killed) before the erase trials, so that some erased
    /// records carry redirects and undo snapshots.
    setup_merges: usize,
    /// Records looked up by `SOURCE:SOURCE_ID` after each trial.
    sample: usize,
}

fn long_mode() -> bool {
    std::env::var("STEWARD_LONG_TESTS").is_ok_and(|v| v == "1")
}

fn plan() -> Plan {
    if long_mode() {
        Plan {
            imports: 80,
            merges: 60,
            erases: 60,
            base_rows: 20_000,
            fresh_rows: 20_000,
            big_rows: Some(70_000),
            reset_above: 80_000,
            setup_merges: 10,
            sample: 5,
        }
    } else {
        Plan {
            imports: 4,
            merges: 3,
            erases: 3,
            base_rows: 1_000,
            fresh_rows: 1_000,
            big_rows: None,
            reset_above: usize::MAX,
            setup_merges: 2,
            sample: 3,
        }
    }
}

/// The run's seed: `STEWARD_CRASH_SEED`, or one from the clock.
fn seed(test: &str) -> u64 {
    let seed = match std::env::var("STEWARD_CRASH_SEED") {
        Ok(s) => s.trim().parse().expect("STEWARD_CRASH_SEED must be an unsigned integer"),
        Err(_) => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        }
    };
    println!("{test}: seed {seed} (STEWARD_CRASH_SEED={seed} repeats it), long mode: {}", long_mode());
    seed
}

/// Two generators: one for kill delays and choices, one for the samples the
/// checks take (whose use depends on what a kill left).
fn rngs(seed: u64, salt: u64) -> (ChaCha8Rng, ChaCha8Rng) {
    (ChaCha8Rng::seed_from_u64(seed ^ salt), ChaCha8Rng::seed_from_u64(seed ^ salt ^ 0x5eed_5eed))
}

/// A scratch directory, kept when `STEWARD_CRASH_KEEP=1`.
struct Work {
    _tmp: Option<tempfile::TempDir>,
    dir: PathBuf,
}

fn work(name: &str) -> Work {
    let tmp = tempfile::Builder::new().prefix(&format!("steward-crash-{name}-")).tempdir().expect("tempdir");
    if std::env::var("STEWARD_CRASH_KEEP").is_ok_and(|v| v == "1") {
        let dir = tmp.keep();
        println!("{name}: keeping {}", dir.display());
        Work { _tmp: None, dir }
    } else {
        let dir = tmp.path().to_owned();
        Work { _tmp: Some(tmp), dir }
    }
}

/// `steward gen` into `dir/name`.
fn gen_csv(dir: &Path, name: &str, count: usize, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let (code, _, err) = run({
        let mut c = Command::new(bin());
        c.args(["gen", "--count", &count.to_string(), "--seed", &seed.to_string(), "-o"]).arg(&path);
        c
    });
    assert_eq!(code, 0, "gen: {err}");
    path
}

/// A new store `dir/name` (low KDF cost) with `file` imported.
fn new_store(dir: &Path, name: &str, file: &Path) -> PathBuf {
    let store = dir.join(name);
    let (code, _, err) = run({
        let mut c = steward(&store);
        c.args(["init", "--kdf-cost", "low", "--admin", "tester"]);
        c
    });
    assert_eq!(code, 0, "init: {err}");
    ok(&store, &["import", path_str(file)]);
    store
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `steward ARGS` on `store` and returns stdout; it must succeed.
fn ok(store: &Path, args: &[&str]) -> String {
    let (code, out, err) = cli(store, args);
    assert_eq!(code, 0, "steward {args:?} failed: {err}");
    out
}

/// What one trial is about, for failure messages.
struct Ctx {
    op: String,
    trial: usize,
    seed: u64,
    delay: Option<Duration>,
    killed: bool,
}

impl fmt::Display for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.delay {
            Some(d) => write!(f, "[{} trial {}, seed {}, SIGKILL after {d:?}", self.op, self.trial, self.seed)?,
            None => write!(f, "[{} calibration run, seed {}", self.op, self.seed)?,
        }
        write!(f, ", {}]", if self.killed { "killed" } else { "the process finished first" })
    }
}

/// SIGKILL's number on every Unix steward runs on.
const SIGKILL: i32 = 9;

/// What a trial's process did.
struct Ran {
    killed: bool,
    took: Duration,
    /// sled's files grew while it ran: it had begun writing (approximate:
    /// small writes may fit in space sled already had).
    wrote: bool,
    /// The key-slot file still names a next data key: killed during a rotation.
    rotating: bool,
}

/// Bytes of sled's files.
fn db_bytes(store: &Path) -> u64 {
    let mut total = 0;
    let mut dirs = vec![store.join("db")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => dirs.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Whether the key-slot file records a rotation under way.
fn rotation_pending(store: &Path) -> bool {
    std::fs::read_to_string(store.join("keyslots.json")).is_ok_and(|s| s.contains("\"next_data_key\""))
}

/// Runs `steward ARGS` on `store` as a child and sends it SIGKILL after
/// `delay` (never, with `None`). A process that ends by itself must succeed.
fn run_child(store: &Path, args: &[&str], delay: Option<Duration>, log: &Path) -> Ran {
    let mut c = steward(store);
    c.arg("--user")
        .arg("tester")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log).expect("create the child's log"));
    let size = db_bytes(store);
    let start = Instant::now();
    let mut child = c.spawn().expect("spawn steward");
    let status = match delay {
        None => child.wait().expect("wait for steward"),
        Some(d) => loop {
            if let Some(s) = child.try_wait().expect("poll steward") {
                break s;
            }
            let elapsed = start.elapsed();
            if elapsed >= d {
                // Child::kill sends SIGKILL; harmless if it has just exited.
                child.kill().expect("SIGKILL steward");
                break child.wait().expect("reap steward");
            }
            std::thread::sleep((d - elapsed).min(Duration::from_millis(2)));
        },
    };
    let took = start.elapsed();
    let killed = status.signal() == Some(SIGKILL);
    if !killed {
        let err = std::fs::read_to_string(log).unwrap_or_default();
        assert!(status.success(), "steward {args:?} failed ({status}): {err}");
    }
    Ran { killed, took, wrote: db_bytes(store) > size, rotating: rotation_pending(store) }
}

/// Un-killed runs that measure how long an action takes.
const CALIBRATION_RUNS: usize = 2;

/// The durations of the calibration runs of one kind of action.
#[derive(Default)]
struct Calibration(Vec<Duration>);

impl Calibration {
    /// The shortest run, once all calibration runs are done.
    fn duration(&self) -> Option<Duration> {
        self.0.iter().min().copied().filter(|_| self.0.len() >= CALIBRATION_RUNS)
    }
}

/// A kill delay: uniform over 0..1.2× `duration`.
fn delay(rng: &mut ChaCha8Rng, duration: Duration) -> Duration {
    duration.mul_f64(rng.gen_range(0.0..1.2))
}

/// The store as the binary shows it.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    /// `list --json` by id.
    records: BTreeMap<String, Value>,
    /// `audit list --json`, in order.
    audit: Vec<Value>,
}

fn json_lines(out: &str, what: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: bad JSON line {l:?}: {e}")))
        .collect()
}

/// The audit entries without those the checks themselves leave (each
/// `audit verify` records itself).
fn without_checks(entries: Vec<Value>) -> Vec<Value> {
    entries.into_iter().filter(|e| e["action"] != "audit-verify").collect()
}

fn snapshot(store: &Path, ctx: &dyn fmt::Display) -> Snapshot {
    let (code, out, err) = cli(store, &["list", "--json"]);
    assert_eq!(code, 0, "{ctx}: list failed: {err}");
    let mut records = BTreeMap::new();
    for r in json_lines(&out, "list --json") {
        let id = r["id"].as_str().expect("record id").to_owned();
        assert!(records.insert(id.clone(), r).is_none(), "{ctx}: list shows {id} twice");
    }
    let (code, out, err) = cli(store, &["audit", "list", "--json"]);
    assert_eq!(code, 0, "{ctx}: audit list failed: {err}");
    Snapshot { records, audit: without_checks(json_lines(&out, "audit list --json")) }
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

/// `show KEY --json`: exit code, the record shown, stderr.
fn show(store: &Path, key: &str) -> (i32, Option<Value>, String) {
    let (code, out, err) = cli(store, &["show", key, "--json"]);
    (code, serde_json::from_str(&out).ok(), err)
}

/// Asserts that `show KEY` prints record `id`.
fn assert_shows(store: &Path, ctx: &Ctx, key: &str, id: &str) {
    let (code, rec, err) = show(store, key);
    assert_eq!(code, 0, "{ctx}: show {key} failed: {err}");
    let shown = rec.as_ref().map(|r| str_of(r, "id").to_owned()).unwrap_or_default();
    assert_eq!(shown, id, "{ctx}: show {key} prints the wrong record");
}

/// Reopens the store after a trial and checks what holds whatever the
/// action: the audit chain, the counts, the earlier audit entries, the key
/// generations and a sample of source-index lookups. Returns the store as it
/// is now.
fn reopen(store: &Path, ctx: &Ctx, before: &Snapshot, sample: usize, rng: &mut ChaCha8Rng) -> Snapshot {
    // The first command after a kill is the one that recovers the store.
    let (code, out, err) = cli(store, &["audit", "verify"]);
    assert_eq!(code, 0, "{ctx}: audit verify failed after reopening: {out}{err}");
    let now = snapshot(store, ctx);
    let (code, out, err) = cli(store, &["stats", "--json"]);
    assert_eq!(code, 0, "{ctx}: stats failed: {err}");
    let stats: Value = serde_json::from_str(&out).expect("stats json");
    assert_eq!(stats["records"].as_u64(), Some(now.records.len() as u64), "{ctx}: stats and list disagree");
    assert!(
        now.audit.len() >= before.audit.len() && now.audit[..before.audit.len()] == before.audit[..],
        "{ctx}: audit entries that existed before the trial changed or went"
    );
    let rotations = now.audit.iter().filter(|e| str_of(e, "action") == "rekey" && str_of(e, "outcome") == "ok");
    for (generation, e) in (1..).zip(rotations) {
        let want = format!("data key generation {generation} → {}", generation + 1);
        assert_eq!(
            str_of(e, "detail"),
            want,
            "{ctx}: audit entry {} records a key rotation out of sequence (one rotation audited twice, or one \
             skipped)",
            e["seq"]
        );
    }
    let ids: Vec<&String> = now.records.keys().collect();
    for _ in 0..sample.min(ids.len()) {
        let r = &now.records[ids[rng.gen_range(0..ids.len())]];
        assert_shows(store, ctx, &format!("{}:{}", str_of(r, "source"), str_of(r, "source_id")), str_of(r, "id"));
    }
    now
}

/// The audit entries a trial added.
fn new_entries<'a>(before: &Snapshot, now: &'a Snapshot) -> &'a [Value] {
    &now.audit[before.audit.len()..]
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| format!("{} {} {}", str_of(e, "action"), str_of(e, "outcome"), str_of(e, "detail")))
        .collect()
}

/// Where a kill left the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Before,
    After,
}

/// How the kills of one kind of action came out.
#[derive(Default)]
struct Tally {
    trials: usize,
    killed_before: usize,
    /// Of those, how many had begun writing (and were undone on reopen).
    undone: usize,
    killed_after: usize,
    /// Kills during a key rotation (finished on reopen).
    rotating: usize,
    finished: usize,
}

impl Tally {
    fn add(&mut self, ran: &Ran, state: State) {
        self.trials += 1;
        self.undone += usize::from(ran.killed && ran.wrote && state == State::Before);
        self.rotating += usize::from(ran.killed && ran.rotating);
        match (ran.killed, state) {
            (true, State::Before) => self.killed_before += 1,
            (true, State::After) => self.killed_after += 1,
            (false, State::After) => self.finished += 1,
            (false, State::Before) => unreachable!("checked by the caller"),
        }
    }
}

fn report(op: &str, t: &Tally, duration: Duration) {
    println!(
        "{op:<12} {:>3} trials (run takes {duration:.0?}): killed → before {:>3} ({:>3} after sled grew), killed → \
         after {:>3} ({:>3} mid key rotation), finished before the kill {:>3}",
        t.trials, t.killed_before, t.undone, t.killed_after, t.rotating, t.finished
    );
}

/// A process that finished must have done its action.
fn finished_means_after(ctx: &Ctx, ran: &Ran, state: State) {
    assert!(ran.killed || state == State::After, "{ctx}: the action exited 0 but the store is as before it");
}

// ---------------------------------------------------------------- import

/// The import store: its path, the source of its base records and which
/// file their content came from (0: the base file, 1 or 2: a re-import).
struct ImportStore {
    store: PathBuf,
    base_source: String,
    content: usize,
}

fn import_store(dir: &Path, n: usize, base: &Path) -> ImportStore {
    let store = new_store(dir, &format!("store-{n}"), base);
    let s = snapshot(&store, &"import store setup");
    let sources: BTreeSet<&str> = s.records.values().map(|r| str_of(r, "source")).collect();
    assert_eq!(sources.len(), 1, "one source after the first import: {sources:?}");
    let base_source = sources.into_iter().next().unwrap_or_default().to_owned();
    ImportStore { store, base_source, content: 0 }
}

/// Checks a fresh import of `rows` records from `source`.
fn check_fresh_import(ctx: &Ctx, before: &Snapshot, now: &Snapshot, source: &str, rows: usize) -> State {
    let audit = new_entries(before, now);
    let changed: Vec<&String> =
        before.records.iter().filter(|(id, r)| now.records.get(*id) != Some(r)).map(|x| x.0).collect();
    assert!(changed.is_empty(), "{ctx}: a fresh import changed or removed existing records: {changed:?}");
    let added: Vec<&Value> =
        now.records.iter().filter(|(id, _)| !before.records.contains_key(*id)).map(|x| x.1).collect();
    if added.is_empty() {
        assert!(audit.is_empty(), "{ctx}: no record was imported, yet the audit trail gained {:?}", actions(audit));
        return State::Before;
    }
    assert_eq!(added.len(), rows, "{ctx}: partial import: {} of {rows} records are in the store", added.len());
    assert!(added.iter().all(|r| str_of(r, "source") == source), "{ctx}: imported records with another source");
    let sids: BTreeSet<&str> = added.iter().map(|r| str_of(r, "source_id")).collect();
    assert_eq!(sids.len(), rows, "{ctx}: imported records share source ids");
    assert_eq!(audit.len(), 1, "{ctx}: the import is in the store; audit entries added: {:?}", actions(audit));
    let e = &audit[0];
    assert!(
        str_of(e, "action") == "import"
            && str_of(e, "outcome") == "ok"
            && str_of(e, "detail").starts_with(&format!("{rows} new, 0 updated")),
        "{ctx}: the import's audit entry is wrong: {e}"
    );
    State::After
}

/// Checks a re-import of `rows` records that all exist in `source`.
fn check_reimport(ctx: &Ctx, before: &Snapshot, now: &Snapshot, source: &str, rows: usize) -> State {
    let audit = new_entries(before, now);
    let ids_before: Vec<&String> = before.records.keys().collect();
    let ids_now: Vec<&String> = now.records.keys().collect();
    assert!(ids_before == ids_now, "{ctx}: a re-import added or removed records");
    let (mut same, mut updated) = (0, 0);
    for (id, r) in &before.records {
        let unchanged = now.records.get(id) == Some(r);
        if str_of(r, "source") == source {
            if unchanged {
                same += 1;
            } else {
                updated += 1;
            }
        } else {
            assert!(unchanged, "{ctx}: a re-import of {source} changed {id} of another source");
        }
    }
    assert_eq!(same + updated, rows, "{ctx}: the store holds {} records of {source}, the file {rows}", same + updated);
    if updated == 0 {
        assert!(audit.is_empty(), "{ctx}: no record was updated, yet the audit trail gained {:?}", actions(audit));
        return State::Before;
    }
    assert_eq!(same, 0, "{ctx}: partial re-import: {updated} of {rows} records updated");
    assert_eq!(audit.len(), 1, "{ctx}: the re-import is in the store; audit entries added: {:?}", actions(audit));
    let e = &audit[0];
    assert!(
        str_of(e, "action") == "import"
            && str_of(e, "outcome") == "ok"
            && str_of(e, "detail").starts_with(&format!("0 new, {rows} updated")),
        "{ctx}: the re-import's audit entry is wrong: {e}"
    );
    State::After
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum ImportKind {
    Fresh,
    Big,
    Update,
}

impl ImportKind {
    fn name(self) -> &'static str {
        match self {
            ImportKind::Fresh => "import",
            ImportKind::Big => "import (big)",
            ImportKind::Update => "re-import",
        }
    }
}

#[test]
fn a_killed_import_leaves_the_store_before_or_after_it() {
    let p = plan();
    let seed = seed("import");
    let (mut rng, mut sample_rng) = rngs(seed, 0x1);
    let w = work("import");
    let base = gen_csv(&w.dir, "base.csv", p.base_rows, 101);
    // Same source ids as the base file, other values: each re-import updates every base record.
    let updates =
        [gen_csv(&w.dir, "update-1.csv", p.base_rows, 102), gen_csv(&w.dir, "update-2.csv", p.base_rows, 103)];
    let fresh = gen_csv(&w.dir, "fresh.csv", p.fresh_rows, 104);
    let big = p.big_rows.map(|n| (gen_csv(&w.dir, "big.csv", n, 105), n));
    let mut stores = 0;
    let mut st = import_store(&w.dir, stores, &base);
    let mut state = snapshot(&st.store, &"import setup");
    let mut calibrations: BTreeMap<ImportKind, Calibration> = BTreeMap::new();
    let mut tallies: BTreeMap<ImportKind, Tally> = BTreeMap::new();
    let mut trial = 0;
    let mut fresh_n = 0;
    while trial < p.imports {
        let kind = if trial % 2 == 1 {
            ImportKind::Update
        } else if big.is_some() && fresh_n % 4 == 3 {
            ImportKind::Big
        } else {
            ImportKind::Fresh
        };
        if kind != ImportKind::Update && state.records.len() > p.reset_above {
            stores += 1;
            st = import_store(&w.dir, stores, &base);
            state = snapshot(&st.store, &"import setup");
        }
        let duration = calibrations.entry(kind).or_default().duration();
        let source = format!("crash{trial}-{}", calibrations.values().map(|c| c.0.len()).sum::<usize>());
        let next = if st.content == 1 { 2 } else { 1 };
        let (file, rows) = match kind {
            ImportKind::Fresh => (fresh.as_path(), p.fresh_rows),
            ImportKind::Big => big.as_ref().map(|(f, n)| (f.as_path(), *n)).expect("big file in long mode"),
            ImportKind::Update => (updates[next - 1].as_path(), p.base_rows),
        };
        let mut args = vec!["import", path_str(file)];
        if kind != ImportKind::Update {
            args.extend(["--source", &source]);
        }
        let delay = duration.map(|d| delay(&mut rng, d));
        let ran = run_child(&st.store, &args, delay, &w.dir.join("child.log"));
        let ctx = Ctx { op: kind.name().into(), trial, seed, delay, killed: ran.killed };
        let now = reopen(&st.store, &ctx, &state, p.sample, &mut sample_rng);
        let outcome = match kind {
            ImportKind::Update => check_reimport(&ctx, &state, &now, &st.base_source, rows),
            _ => check_fresh_import(&ctx, &state, &now, &source, rows),
        };
        finished_means_after(&ctx, &ran, outcome);
        if kind == ImportKind::Update && outcome == State::After {
            st.content = next;
        }
        if kind != ImportKind::Update {
            fresh_n += 1;
        }
        state = now;
        if delay.is_none() {
            calibrations.entry(kind).or_default().0.push(ran.took);
        } else {
            tallies.entry(kind).or_default().add(&ran, outcome);
            trial += 1;
        }
    }
    for (kind, t) in &tallies {
        report(kind.name(), t, calibrations[kind].duration().unwrap_or_default());
    }
    assert_eq!(tallies.values().map(|t| t.trials).sum::<usize>(), p.imports);
}

// ----------------------------------------------------------------- merge

/// Pairs of records that `scan` finds to be duplicates, one per cluster.
fn duplicate_pairs(store: &Path) -> Vec<(String, String)> {
    let out = ok(store, &["scan", "--json", "--kind", "duplicate"]);
    let v: Value = serde_json::from_str(&out).expect("scan json");
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| {
            let ids: Vec<&str> = f["records"].as_array()?.iter().filter_map(|r| r["id"].as_str()).collect();
            match ids.as_slice() {
                [a, b, ..] => Some(((*a).to_owned(), (*b).to_owned())),
                _ => None,
            }
        })
        .collect()
}

/// Checks a merge of `a` and `b`.
fn check_merge(store: &Path, ctx: &Ctx, before: &Snapshot, now: &Snapshot, a: &str, b: &str) -> State {
    let audit = new_entries(before, now);
    for (id, r) in &before.records {
        if id != a && id != b {
            assert_eq!(now.records.get(id), Some(r), "{ctx}: merging {a} and {b} changed {id}");
        }
    }
    let survivor = match (now.records.contains_key(a), now.records.contains_key(b)) {
        (true, true) => {
            assert_eq!(now.records, before.records, "{ctx}: both records remain, yet the store changed");
            assert!(audit.is_empty(), "{ctx}: no merge happened, yet the audit trail gained {:?}", actions(audit));
            assert_shows(store, ctx, a, a);
            assert_shows(store, ctx, b, b);
            return State::Before;
        }
        (true, false) => a,
        (false, true) => b,
        (false, false) => panic!("{ctx}: both {a} and {b} are gone after their merge"),
    };
    let gone = if survivor == a { b } else { a };
    assert_eq!(now.records.len(), before.records.len() - 1, "{ctx}: record count after a merge");
    assert_shows(store, ctx, survivor, survivor);
    let (code, rec, err) = show(store, gone);
    assert_eq!(code, 0, "{ctx}: show of merged-away {gone} failed: {err}");
    assert_eq!(
        rec.as_ref().map(|r| str_of(r, "id")),
        Some(survivor),
        "{ctx}: show {gone} does not lead to the survivor"
    );
    assert!(err.contains("was merged into"), "{ctx}: show {gone} does not say it was merged: {err}");
    let g = &before.records[gone];
    assert_shows(store, ctx, &format!("{}:{}", str_of(g, "source"), str_of(g, "source_id")), survivor);
    assert_eq!(audit.len(), 1, "{ctx}: the merge is in the store; audit entries added: {:?}", actions(audit));
    let e = &audit[0];
    let records: BTreeSet<&str> = e["records"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(
        str_of(e, "action") == "merge" && str_of(e, "outcome") == "ok" && records == BTreeSet::from([a, b]),
        "{ctx}: the merge's audit entry is wrong: {e}"
    );
    State::After
}

#[test]
fn a_killed_merge_leaves_the_store_before_or_after_it() {
    let p = plan();
    let seed = seed("merge");
    let (mut rng, mut sample_rng) = rngs(seed, 0x2);
    let w = work("merge");
    let store = new_store(&w.dir, "store", &gen_csv(&w.dir, "base.csv", p.base_rows, 201));
    let pairs = duplicate_pairs(&store);
    let runs = CALIBRATION_RUNS + p.merges;
    assert!(pairs.len() >= runs, "only {} duplicate clusters for {runs} merges", pairs.len());
    let mut state = snapshot(&store, &"merge setup");
    let mut calibration = Calibration::default();
    let mut tally = Tally::default();
    for (i, (a, b)) in pairs.iter().take(runs).enumerate() {
        let delay = calibration.duration().map(|d| delay(&mut rng, d));
        let ran = run_child(&store, &["merge", a, b, "--reason", "crash test"], delay, &w.dir.join("child.log"));
        let ctx = Ctx { op: "merge".into(), trial: i, seed, delay, killed: ran.killed };
        let now = reopen(&store, &ctx, &state, p.sample, &mut sample_rng);
        let outcome = check_merge(&store, &ctx, &state, &now, a, b);
        finished_means_after(&ctx, &ran, outcome);
        state = now;
        match delay {
            None => calibration.0.push(ran.took),
            Some(_) => tally.add(&ran, outcome),
        }
    }
    report("merge", &tally, calibration.duration().unwrap_or_default());
    assert_eq!(tally.trials, p.merges);
}

// ----------------------------------------------------------------- erase

/// A record to erase, and the merged-away records that redirect to it.
struct Target {
    id: String,
    merged: Vec<Value>,
}

/// Checks an erasure of `target` (and its key rotation).
fn check_erase(store: &Path, ctx: &Ctx, before: &Snapshot, now: &Snapshot, target: &Target) -> State {
    let audit = new_entries(before, now);
    let id = target.id.as_str();
    for (other, r) in &before.records {
        if other != id {
            assert_eq!(now.records.get(other), Some(r), "{ctx}: erasing {id} changed {other}");
        }
    }
    if now.records.contains_key(id) {
        assert_eq!(now.records, before.records, "{ctx}: {id} remains, yet the store changed");
        assert!(audit.is_empty(), "{ctx}: no erasure happened, yet the audit trail gained {:?}", actions(audit));
        assert_shows(store, ctx, id, id);
        for m in &target.merged {
            assert_shows(store, ctx, str_of(m, "id"), id);
        }
        return State::Before;
    }
    assert_eq!(now.records.len(), before.records.len() - 1, "{ctx}: record count after an erasure");
    let r = &before.records[id];
    for (key, sid) in std::iter::once((id, r)).chain(target.merged.iter().map(|m| (str_of(m, "id"), m))) {
        let (code, _, err) = show(store, key);
        assert!(code == 1 && err.contains("was erased"), "{ctx}: show {key} after its erasure: exit {code}, {err}");
        let by_source = format!("{}:{}", str_of(sid, "source"), str_of(sid, "source_id"));
        let (code, _, err) = show(store, &by_source);
        assert!(
            code == 1 && err.contains("no record"),
            "{ctx}: show {by_source} after its erasure: exit {code}, {err}"
        );
    }
    let Some(erase) = audit.first() else { panic!("{ctx}: {id} is gone, yet the audit trail gained no entry") };
    let records: Vec<&str> = erase["records"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(
        str_of(erase, "action") == "erase" && str_of(erase, "outcome") == "ok" && records == [id],
        "{ctx}: the erasure is in the store; audit entries added: {:?}",
        actions(audit)
    );
    let rest = &audit[1..];
    assert!(
        !rest.is_empty() && rest.iter().all(|e| str_of(e, "action") == "rekey" && str_of(e, "outcome") == "ok"),
        "{ctx}: the erasure happened but the data key was not rotated after it (erase rotates it, and an \
         interrupted rotation is finished on reopen); audit entries added: {:?}",
        actions(audit)
    );
    State::After
}

#[test]
fn a_killed_erase_leaves_the_store_before_or_after_it() {
    let p = plan();
    let seed = seed("erase");
    let (mut rng, mut sample_rng) = rngs(seed, 0x3);
    let w = work("erase");
    let store = new_store(&w.dir, "store", &gen_csv(&w.dir, "base.csv", p.base_rows, 301));
    // Some survivors of merges, so that erasures also take redirects and undo snapshots.
    let pairs = duplicate_pairs(&store);
    let setup = snapshot(&store, &"erase setup");
    let mut survivors: Vec<Target> = Vec::new();
    for (a, b) in pairs.iter().take(p.setup_merges) {
        let out: Value =
            serde_json::from_str(&ok(&store, &["merge", a, b, "--reason", "setup", "--json"])).expect("merge json");
        let merged: Vec<Value> = out["merged"]
            .as_array()
            .expect("merged ids")
            .iter()
            .filter_map(Value::as_str)
            .map(|m| setup.records[m].clone())
            .collect();
        survivors.push(Target { id: str_of(&out, "survivor").to_owned(), merged });
    }
    let mut state = snapshot(&store, &"erase setup");
    let mut calibration = Calibration::default();
    let mut tally = Tally::default();
    for i in 0..CALIBRATION_RUNS + p.erases {
        // Odd trials erase a merge survivor while there are any, the others a record picked at random.
        let target = if i % 2 == 1
            && let Some(t) = survivors.pop()
        {
            t
        } else {
            let taken: BTreeSet<&str> = survivors.iter().map(|t| t.id.as_str()).collect();
            let plain: Vec<&String> = state.records.keys().filter(|id| !taken.contains(id.as_str())).collect();
            Target { id: plain[rng.gen_range(0..plain.len())].clone(), merged: Vec::new() }
        };
        let delay = calibration.duration().map(|d| delay(&mut rng, d));
        let args = ["erase", target.id.as_str(), "--reason", "crash test", "--yes"];
        let ran = run_child(&store, &args, delay, &w.dir.join("child.log"));
        let ctx = Ctx { op: "erase".into(), trial: i, seed, delay, killed: ran.killed };
        let now = reopen(&store, &ctx, &state, p.sample, &mut sample_rng);
        let outcome = check_erase(&store, &ctx, &state, &now, &target);
        finished_means_after(&ctx, &ran, outcome);
        state = now;
        match delay {
            None => calibration.0.push(ran.took),
            Some(_) => tally.add(&ran, outcome),
        }
    }
    report("erase", &tally, calibration.duration().unwrap_or_default());
    assert_eq!(tally.trials, p.erases);
}

/// The system-call tracer, or `None` (loudly; a failure under `CI=true`).
fn strace() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("strace")).find(|p| p.is_file()));
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "strace is required under CI=true (apt-get install strace)"
        );
        eprintln!("\n*** WARNING: strace is not installed; the kill-at-every-step erase test did NOT run ***\n");
    }
    found
}

/// Runs `steward --store STORE ARGS` under strace, killed at its `step`-th
/// file rename; whether it was killed (false: it finished first).
fn killed_at_rename(strace: &Path, step: usize, store: &Path, args: &[&str]) -> bool {
    let status = Command::new(strace)
        .args(["-f", "-o", "/dev/null", "-e", "trace=rename", "-e"])
        .arg(format!("inject=rename:signal=KILL:when={step}"))
        .arg(bin())
        .arg("--store")
        .arg(store)
        .args(args)
        .env("STEWARD_PASSPHRASE", common::PASS)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run strace");
    status.signal() == Some(SIGKILL) || status.code() == Some(128 + SIGKILL)
}

/// Deterministic complement of the random trials: an erasure killed at each
/// of its file renames (key-slot writes: the audit head, the rotation's new
/// key, the rotation's end) still ends, on the next unlock, with the data key
/// rotated exactly once and the stored receipt saying so.
#[test]
fn an_erasure_killed_at_each_step_still_ends_rotated_once() {
    let Some(strace) = strace() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = gen_csv(tmp.path(), "base.csv", 300, 11);
    for step in 1.. {
        let store = new_store(tmp.path(), &format!("store-{step}"), &csv);
        let id = json_lines(&ok(&store, &["list", "--json", "--limit", "1"]), "list")[0]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let killed = killed_at_rename(
            &strace,
            step,
            &store,
            &["--user", "tester", "erase", &id, "--reason", "crash test", "--yes"],
        );
        // Reopen: the erasure either did not happen, or happened and was followed by exactly one rotation.
        let (code, out, err) = cli(&store, &["audit", "verify"]);
        assert_eq!(code, 0, "step {step}: audit verify failed: {out}{err}");
        let entries = without_checks(json_lines(&ok(&store, &["audit", "list", "--json"]), "audit"));
        let acts: Vec<&str> = entries.iter().map(|e| str_of(e, "action")).collect();
        let (code, _, err) = cli(&store, &["show", &id]);
        if code == 0 {
            assert!(!acts.contains(&"erase"), "step {step}: the record is there but an erase was audited: {acts:?}");
            assert!(killed, "step {step}: the erase finished but the record is there");
            continue;
        }
        assert!(err.contains("was erased"), "step {step}: {err}");
        let rekeys = acts.iter().filter(|a| **a == "rekey").count();
        assert_eq!(rekeys, 1, "step {step}: the data key must be rotated exactly once after the erasure: {acts:?}");
        assert_eq!(acts.last(), Some(&"rekey"), "step {step}: {acts:?}");
        let receipt =
            err.split_whitespace().find(|w| w.starts_with("rcpt-")).expect("receipt id").trim_end_matches(')');
        let svc = common::lib_open(&store);
        let r = svc.receipt(receipt).expect("read receipt").expect("receipt stored");
        assert!(r.key_rotated, "step {step}: the stored receipt must say the key was rotated");
        if !killed {
            eprintln!("erase survived every kill point up to rename {step}");
            break;
        }
        assert!(step < 20, "more renames than expected");
    }
}

/// A request's erasure killed at each of its file renames: on the next
/// unlock either nothing happened (the request open, its records there) or
/// everything did (the records erased, the requester's details gone, the
/// request completed with the receipt, the key rotated once) — never the
/// records gone and the request still open, or the other way round.
#[test]
fn a_request_erasure_killed_at_each_step_is_all_or_nothing() {
    let Some(strace) = strace() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = gen_csv(tmp.path(), "base.csv", 300, 12);
    for step in 1.. {
        let store = new_store(tmp.path(), &format!("req-{step}"), &csv);
        let first = json_lines(&ok(&store, &["list", "--json", "--limit", "2"]), "list");
        let ids: Vec<String> = first.iter().map(|r| str_of(r, "id").to_owned()).collect();
        let email = format!("requester-{step}@example.org");
        let _ = ok(&store, &common::request_add("erasure", "2026-11-02", &["--email", &email]));
        let reference = "REQ-2026-0001";
        let _ = ok(&store, &["request", "link", reference, &ids[0], &ids[1]]);
        let _ = ok(&store, &["request", "verify", reference, "--method", "crash test"]);
        let killed =
            killed_at_rename(&strace, step, &store, &["--user", "tester", "request", "erase", reference, "--yes"]);
        let (code, out, err) = cli(&store, &["audit", "verify"]);
        assert_eq!(code, 0, "step {step}: audit verify failed: {out}{err}");
        let request: Value =
            serde_json::from_str(&ok(&store, &["request", "show", reference, "--json"])).expect("json");
        let present = ids.iter().filter(|id| cli(&store, &["show", id]).0 == 0).count();
        let acts: Vec<String> = without_checks(json_lines(&ok(&store, &["audit", "list", "--json"]), "audit"))
            .iter()
            .map(|e| str_of(e, "action").to_owned())
            .collect();
        if request["status"]["state"] != "completed" {
            assert_eq!(present, 2, "step {step}: the request is open but records went: {request}");
            assert!(!acts.iter().any(|a| a == "erase"), "step {step}: {acts:?}");
            assert!(request["requester_erased"].is_null(), "step {step}: {request}");
            assert!(killed, "step {step}: the erasure finished but the request is open");
            continue;
        }
        assert_eq!(present, 0, "step {step}: the request is completed but records remain");
        let receipt = request["answers"][0].as_str().expect("receipt attached").to_owned();
        assert!(receipt.starts_with("rcpt-"), "step {step}: {request}");
        assert_eq!(request["requester_erased"].as_str(), Some(receipt.as_str()), "step {step}");
        assert!(request["requester"]["name"].is_null(), "step {step}: {request}");
        assert_eq!(acts.iter().filter(|a| *a == "rekey").count(), 1, "step {step}: {acts:?}");
        for (path, bytes) in common::all_files(&store) {
            assert!(!common::contains(&bytes, email.as_bytes()), "step {step}: {} holds the requester", path.display());
        }
        if !killed {
            eprintln!("the request erasure survived every kill point up to rename {step}");
            break;
        }
        assert!(step < 20, "more renames than expected");
    }
}
