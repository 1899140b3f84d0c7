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

/// The built `steward` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_steward"))
}

/// A `steward --store DIR ...` command with the test passphrase set.
pub fn steward(store: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--store").arg(store).env("STEWARD_PASSPHRASE", PASS).env_remove("STEWARD_STORE").env("NO_COLOR", "1");
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
    Service::init(dir, "tester", NewSlot::Passphrase(SecretString::from(PASS.to_owned()), KdfCost::LOW)).expect("init")
}

/// Opens a store through the library.
pub fn lib_open(dir: &Path) -> Service {
    let locked = Service::door(dir, "tester").expect("lock");
    Service::unlock(locked, "tester", Credentials::Passphrase(SecretString::from(PASS.to_owned()))).expect("unlock")
}

/// Writes `content` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write file");
    p
}

/// Every regular file below `dir`, read whole.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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
    (tmp, store)
}

/// `steward --user tester --store S ARGS...` with the demo passphrase.
pub fn demo_cli(store: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(bin());
    c.arg("--store").arg(store).args(["--user", "tester"]).env("STEWARD_PASSPHRASE", "demo").env("NO_COLOR", "1");
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
