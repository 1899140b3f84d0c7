//! The `cargo fuzz` targets (fuzz/), run for a bounded time in the long
//! reliability suite (`STEWARD_LONG_TESTS=1`; `STEWARD_FUZZ_SECONDS` per
//! target, 60 by default). They need the nightly toolchain and cargo-fuzz
//! (`cargo install cargo-fuzz`): without them the long suite fails under
//! `CI=true` and says so loudly elsewhere. The short suite runs the same
//! properties as proptests on stable (see the parsers' unit tests).

use std::process::Command;

const TARGETS: [&str; 4] = ["import_csv", "import_jsonl", "sanitize", "record_page"];

#[test]
fn fuzz_targets_run_for_a_bounded_time_in_the_long_suite() {
    if std::env::var("STEWARD_LONG_TESTS").as_deref() != Ok("1") {
        eprintln!("fuzzing runs in the long suite only (STEWARD_LONG_TESTS=1)");
        return;
    }
    let ready =
        Command::new("cargo").args(["+nightly", "fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the long suite fuzzes: it needs the nightly toolchain and cargo-fuzz"
        );
        eprintln!("\n*** NOT RUN: fuzzing needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz) ***\n");
        return;
    }
    let seconds = std::env::var("STEWARD_FUZZ_SECONDS").unwrap_or_else(|_| "60".into());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for target in TARGETS {
        let out = Command::new("cargo")
            .current_dir(&dir)
            .args(["+nightly", "fuzz", "run", target, "--", &format!("-max_total_time={seconds}")])
            .output()
            .expect("cargo fuzz");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "fuzz target {target} failed:\n{}", &err[err.len().saturating_sub(4000)..]);
        eprintln!("fuzz {target}: {}", err.lines().rev().find(|l| l.contains("Done")).unwrap_or("done"));
    }
}
