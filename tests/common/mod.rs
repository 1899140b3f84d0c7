//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use secrecy::SecretString;
use steward::crypto::KdfCost;
use steward::service::NewSecret as NewSlot;
use steward::service::{Credentials, Service};

pub const PASS: &str = "correct horse battery";

/// Whether this test binary runs its stores on PostgreSQL: the files
/// `tests/*_on_pg.rs` include another test file whole, and the helpers
/// below then put every store they make in a fresh database of the test
/// cluster instead of the directory the test names (the directory stays the
/// store's name in the test: `cli(&dir, ...)` reaches the database).
pub fn on_postgres() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().contains("_on_pg-")))
        .unwrap_or(false)
}

/// The test cluster of `STEWARD_TEST_PG`, for the whole run of a `*_on_pg`
/// binary. (Only that shared one: a private cluster held for the whole run
/// would outlive it, as statics are never dropped.) Without it: a failure
/// under `CI=true`, else a loud warning and the binary ends.
fn pg() -> &'static pg::Pg {
    static PG: std::sync::OnceLock<Option<pg::Pg>> = std::sync::OnceLock::new();
    let shared = || match std::env::var("STEWARD_TEST_PG") {
        Ok(spec) if !spec.is_empty() => pg::Pg::start(),
        _ => None,
    };
    PG.get_or_init(shared).as_ref().unwrap_or_else(|| {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the *_on_pg tests need STEWARD_TEST_PG under CI=true (.ci/run starts a cluster)"
        );
        // Straight to the terminal: the test harness would swallow eprintln!.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\n*** WARNING: SKIPPED every test of this binary: it runs the stores on PostgreSQL and \
              STEWARD_TEST_PG is not set (D=$(mktemp -d); .ci/pg-cluster start $D prints its value) ***\n\n",
        );
        std::process::exit(0)
    })
}

/// Directory name → database URL, for the stores made on PostgreSQL.
fn pg_stores() -> &'static std::sync::Mutex<std::collections::HashMap<PathBuf, String>> {
    static MAP: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<PathBuf, String>>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(Default::default)
}

/// Where the store a test calls `dir` is: the directory, or its database.
pub fn location(dir: &Path) -> String {
    match pg_stores().lock().expect("map").get(dir) {
        Some(url) => url.clone(),
        None => dir.to_string_lossy().into_owned(),
    }
}

/// A fresh database for the store a test calls `dir` (on PostgreSQL runs).
fn new_pg_store(dir: &Path) -> String {
    let db = pg().create_db("store");
    let url = pg().url(&db);
    pg_stores().lock().expect("map").insert(dir.to_owned(), url.clone());
    url
}

/// Moves a store a test made in `dir` (by the binary) to PostgreSQL on
/// `*_on_pg` runs: migrated, then the directory removed.
fn to_postgres(dir: &Path, pass: &str) {
    if !on_postgres() {
        return;
    }
    let url = new_pg_store(dir);
    let out = Command::new(bin())
        .arg("--store")
        .arg(dir)
        .args(["--user", "tester", "migrate", "--to", &url])
        .env("STEWARD_PASSPHRASE", pass)
        .output()
        .expect("migrate");
    assert!(out.status.success(), "migrate: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(dir).expect("remove the directory store");
}

/// The database name in a store URL of [`new_pg_store`].
fn db_of(url: &str) -> String {
    url.trim_start_matches("postgresql:///").split('?').next().expect("db").to_owned()
}

/// Runs `sql` on the database of the store a test calls `dir` (PostgreSQL runs).
pub fn pg_exec(dir: &Path, sql: &str) -> String {
    let url = pg_stores().lock().expect("map").get(dir).cloned().expect("a store on PostgreSQL");
    pg().psql(&db_of(&url), sql)
}

/// The store's key-slot file (on PostgreSQL runs, its row).
pub fn slots_file(dir: &Path) -> Vec<u8> {
    if on_postgres() && pg_stores().lock().expect("map").contains_key(dir) {
        return pg_exec(dir, "SELECT convert_from(body, 'UTF8') FROM steward_files WHERE name = 'keyslots.json'")
            .into_bytes();
    }
    std::fs::read(dir.join("keyslots.json")).expect("slots")
}

/// Replaces the store's key-slot file (on PostgreSQL runs, its row).
pub fn set_slots_file(dir: &Path, bytes: &[u8]) {
    if on_postgres() && pg_stores().lock().expect("map").contains_key(dir) {
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8").replace('\'', "''");
        pg_exec(
            dir,
            &format!("UPDATE steward_files SET body = convert_to('{text}', 'UTF8') WHERE name = 'keyslots.json'"),
        );
        return;
    }
    std::fs::write(dir.join("keyslots.json"), bytes).expect("write slots");
}

/// Copies a whole store (a directory, or on PostgreSQL runs a database).
pub fn copy_store(from: &Path, to: &Path) {
    let url = pg_stores().lock().expect("map").get(from).cloned();
    match url {
        Some(url) => {
            let db = pg().create_db("copy");
            pg().psql("postgres", &format!("DROP DATABASE \"{db}\""));
            pg().psql("postgres", &format!("CREATE DATABASE \"{db}\" TEMPLATE \"{}\"", db_of(&url)));
            pg_stores().lock().expect("map").insert(to.to_owned(), pg().url(&db));
        }
        None => copy_dir(from, to),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

/// The bytes of every `bytea` value in a `pg_dump` (COPY text writes them
/// as `\\x` and hex digits), one after the other.
fn dump_bytes(dump: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for start in memchr::memmem::find_iter(dump, b"\\\\x") {
        let hex: Vec<u8> = dump[start + 3..].iter().take_while(|b| b.is_ascii_hexdigit()).copied().collect();
        for pair in hex.chunks_exact(2) {
            let s = std::str::from_utf8(pair).expect("hex");
            out.push(u8::from_str_radix(s, 16).expect("hex"));
        }
    }
    out
}

/// The demo store as a library session in `dir` (on PostgreSQL runs, in a
/// database).
pub fn demo_service(dir: &Path) -> Service {
    let svc = steward::service::demo::build(dir, "tester").expect("demo");
    if !on_postgres() {
        return svc;
    }
    drop(svc);
    to_postgres(dir, "demo");
    let door = Service::door(steward::service::Location::parse(&location(dir)), "tester").expect("open");
    Service::unlock(door, "tester", Credentials::Passphrase(SecretString::from("demo".to_owned()))).expect("unlock")
}

/// The built `steward` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_steward"))
}

/// A `steward --store DIR ...` command with the test passphrase set.
pub fn steward(store: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--store")
        .arg(location(store))
        .env("STEWARD_PASSPHRASE", PASS)
        .env_remove("STEWARD_STORE")
        .env_remove("PGPASSWORD")
        .env("NO_COLOR", "1");
    c
}

/// Runs and returns (status code, stdout, stderr).
pub fn run(mut c: Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = c.output().expect("run steward");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A fresh store (low KDF cost) in a temp dir, created through the CLI.
pub fn init_store() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    if on_postgres() {
        new_pg_store(&store);
    }
    let (code, _, err) = run({
        let mut c = steward(&store);
        c.args(["init", "--kdf-cost", "low", "--admin", "tester"]);
        c
    });
    assert_eq!(code, 0, "init failed: {err}");
    (tmp, store)
}

/// `steward --user tester --store S ARGS...`
pub fn cli(store: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = steward(store);
    c.arg("--user").arg("tester").args(args);
    run(c)
}

/// Creates a store through the library.
pub fn lib_store(dir: &Path) -> Service {
    let at = if on_postgres() { new_pg_store(dir) } else { location(dir) };
    Service::init(
        steward::service::Location::parse(&at),
        "tester",
        NewSlot::Passphrase(SecretString::from(PASS.to_owned()), KdfCost::LOW),
    )
    .expect("init")
}

/// Opens a store through the library.
pub fn lib_open(dir: &Path) -> Service {
    let locked = Service::door(steward::service::Location::parse(&location(dir)), "tester").expect("lock");
    Service::unlock(locked, "tester", Credentials::Passphrase(SecretString::from(PASS.to_owned()))).expect("unlock")
}

/// Writes `content` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write file");
    p
}

/// Every regular file below `dir`, read whole.
/// (On PostgreSQL runs, for a store: the database's `pg_dump`.)
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    if let Some(url) = pg_stores().lock().expect("map").get(dir).cloned() {
        let bin = pg().psql_bin().with_file_name("pg_dump");
        let out = Command::new(bin).arg("-d").arg(&url).output().expect("pg_dump");
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.len() > 1000, "the dump holds the store");
        let values = dump_bytes(&out.stdout);
        return vec![(dir.join("pg_dump.sql"), out.stdout), (dir.join("pg_dump.values"), values)];
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).expect("read file")));
            }
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// The `records` count from `stats --json`.
pub fn record_count(store: &Path) -> u64 {
    let (code, out, err) = cli(store, &["stats", "--json"]);
    assert_eq!(code, 0, "stats failed: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("stats json");
    v["records"].as_u64().expect("records count")
}

/// The FEBRL benchmark file, which lives beside the repository in
/// `../shared/data/febrl/` (or where `STEWARD_FEBRL` points).
pub fn febrl() -> PathBuf {
    let path = std::env::var_os("STEWARD_FEBRL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/febrl/dataset1.csv"));
    assert!(
        path.exists(),
        "FEBRL data not found at {}: check out shared/ beside the repository or set STEWARD_FEBRL",
        path.display()
    );
    path
}

/// Imports CSV text from source `crm` through the service (all or nothing).
pub fn import_csv(svc: &Service, csv: &str) -> steward::service::ImportReport {
    import_csv_as(svc, "crm", csv)
}

/// Imports CSV text from `source` through the service (all or nothing).
pub fn import_csv_as(svc: &Service, source: &str, csv: &str) -> steward::service::ImportReport {
    let opts = steward::import::Options {
        format: steward::import::Format::Csv,
        id_column: None,
        source: source.into(),
        now: chrono::Utc::now(),
    };
    let parsed = steward::import::parse(csv.as_bytes(), &opts, &mut |_| {});
    svc.import(parsed, steward::service::OnInvalid::Refuse, false, &|_| {}).expect("import")
}

/// A demo store (2,000 records with planted duplicates) built by the binary.
pub fn demo_store() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    let (code, _, err) = run({
        let mut c = Command::new(bin());
        c.args(["--user", "tester", "demo", "--no-tui", "--keep"]).arg(&store);
        c
    });
    assert_eq!(code, 0, "demo failed: {err}");
    to_postgres(&store, "demo");
    (tmp, store)
}

/// `steward --user tester --store S ARGS...` with the demo passphrase.
pub fn demo_cli(store: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(bin());
    c.arg("--store")
        .arg(location(store))
        .args(["--user", "tester"])
        .env("STEWARD_PASSPHRASE", "demo")
        .env_remove("STEWARD_STORE")
        .env_remove("PGPASSWORD")
        .env("NO_COLOR", "1");
    c.args(args);
    run(c)
}

/// `request add --type KIND --jurisdiction gdpr --received DATE DETAILS...`.
pub fn request_add<'a>(kind: &'a str, received: &'a str, details: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["request", "add", "--type", kind, "--jurisdiction", "gdpr", "--received", received];
    args.extend_from_slice(details);
    args
}

/// Takes in a GDPR erasure request on a demo store, received `received`,
/// with the requester's details in `details` (`--name`, `--email` ...);
/// returns its reference.
pub fn demo_erasure_request(store: &Path, received: &str, details: &[&str]) -> String {
    let mut args = request_add("erasure", received, details);
    args.push("--json");
    let (code, out, err) = demo_cli(store, &args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("request add --json");
    v["ref"].as_str().expect("ref").to_owned()
}

/// The reference `age` tool, or `None` (loudly; a failure under `CI=true`).
pub fn age_tool() -> Option<PathBuf> {
    let found =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("age")).find(|p| p.is_file()));
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the reference `age` tool is required under CI=true (apt-get install age)"
        );
        eprintln!(
            "\n*** WARNING: the reference `age` tool is not installed; the export is NOT checked against it ***\n"
        );
    }
    found
}
