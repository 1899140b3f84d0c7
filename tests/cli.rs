//! The command-line contract: help, exit codes, errors on one line,
//! `gen` determinism, the demo store, and docs generated from the registry.

mod common;

use common::*;

const COMMANDS: &[&str] = &["tui", "demo", "init", "import", "stats", "list", "show", "gen"];

#[test]
fn help_answers_for_every_command() {
    let (code, out, _) = run({
        let mut c = std::process::Command::new(bin());
        c.arg("--help");
        c
    });
    assert_eq!(code, 0);
    for cmd in COMMANDS {
        assert!(out.contains(cmd), "--help lists {cmd}");
        let (code, out, err) = run({
            let mut c = std::process::Command::new(bin());
            c.args([cmd, "--help"]);
            c
        });
        assert_eq!(code, 0, "{cmd} --help: {err}");
        assert!(out.contains("Usage:"), "{cmd}: {out}");
    }
    assert!(out.contains("STEWARD_PASSPHRASE"));
}

#[test]
fn usage_errors_exit_2_and_failures_exit_1() {
    let (code, _, _) = run({
        let mut c = std::process::Command::new(bin());
        c.args(["import"]);
        c
    });
    assert_eq!(code, 2);
    let (code, _, _) = run({
        let mut c = std::process::Command::new(bin());
        c.args(["stats", "--no-such-flag"]);
        c
    });
    assert_eq!(code, 2);
    let tmp = tempfile::tempdir().expect("tmp");
    let (code, out, err) = cli(&tmp.path().join("missing"), &["stats"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("steward: no steward store at"), "{err}");
    // Without a passphrase and without a terminal: a clear refusal.
    let (_t, store) = init_store();
    let mut c = steward(&store);
    c.env_remove("STEWARD_PASSPHRASE").args(["--user", "tester", "stats"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(err.contains("STEWARD_PASSPHRASE"), "{err}");
}

#[test]
fn short_passphrases_are_refused_at_init() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = tmp.path().join("s");
    let mut c = steward(&store);
    c.env("STEWARD_PASSPHRASE", "short").args(["init", "--kdf-cost", "low"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(err.contains("at least 8"), "{err}");
    assert!(!store.exists());
}

#[test]
fn gen_is_deterministic_and_counts_rows() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a.csv");
    let b = tmp.path().join("b.csv");
    for p in [&a, &b] {
        let (code, _, err) = run({
            let mut c = std::process::Command::new(bin());
            c.args(["gen", "--count", "500", "--seed", "9", "-o"]).arg(p);
            c
        });
        assert_eq!(code, 0, "{err}");
    }
    let bytes = std::fs::read(&a).expect("a");
    assert_eq!(bytes, std::fs::read(&b).expect("b"));
    assert_eq!(bytes.iter().filter(|&&c| c == b'\n').count(), 501);
    // The checked-in demo data is what `gen` makes with the documented arguments.
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-data/customers.csv");
    let regen = tmp.path().join("demo.csv");
    let (code, _, _) = run({
        let mut c = std::process::Command::new(bin());
        c.args(["gen", "--count", "2000", "--seed", "2026", "-o"]).arg(&regen);
        c
    });
    assert_eq!(code, 0);
    assert!(
        std::fs::read(&regen).expect("regen") == std::fs::read(demo).expect("demo"),
        "demo-data/customers.csv is stale"
    );
}

/// `steward demo --keep DIR --no-tui`: the temp dir, the store, stdout.
fn kept_demo() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = tmp.path().join("demo");
    let (code, out, err) = run({
        let mut c = steward(&store);
        c.args(["--user", "tester", "demo", "--keep"]).arg(&store).arg("--no-tui");
        c
    });
    assert_eq!(code, 0, "{err}");
    (tmp, store, out)
}

#[test]
fn demo_store_can_be_kept_and_reopened() {
    let (_tmp, store, out) = kept_demo();
    assert!(out.contains("passphrase `demo`"), "{out}");
    let mut c = steward(&store);
    c.env("STEWARD_PASSPHRASE", "demo").args(["--user", "tester", "stats", "--json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["records"], 2000);
    // `list --json` is JSON Lines with id and source_id.
    let mut c = steward(&store);
    c.env("STEWARD_PASSPHRASE", "demo").args(["--user", "tester", "list", "--json", "--limit", "5"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 5);
    for l in out.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("json line");
        assert!(v["id"].is_string() && v["source_id"].is_string());
    }
}

#[test]
fn text_output_is_sanitised() {
    let (tmp, store) = init_store();
    let f = write(tmp.path(), "evil.csv", b"id,name,email\nx1,\"Eve \x1b[31mRed\x1b[0m\",\"e@x.org\x07\"\n");
    assert_eq!(cli(&store, &["import", f.to_str().expect("path")]).0, 0);
    let (code, out, _) = cli(&store, &["show", "x1"]);
    assert_eq!(code, 0);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    let (_, out, _) = cli(&store, &["list"]);
    assert!(!out.contains('\u{1b}'), "{out:?}");
    let (_, out, _) = cli(&store, &["show", "x1", "--json"]);
    assert!(!out.contains('\u{1b}'), "JSON escapes control characters: {out:?}");
}

#[test]
fn break_7_json_output_escapes_del_c1_and_bidi_controls() {
    let (tmp, store) = init_store();
    let name = "Mal\u{7f}lory \u{9b}31m \u{202e}evil\u{2067}x\u{2069}";
    let csv = format!("id,name,email,notes\nx1,\"{name}\",m@x.org,\"note \u{202e}gnp.exe\"\n");
    let f = write(tmp.path(), "bidi.csv", csv.as_bytes());
    assert_eq!(cli(&store, &["import", f.to_str().expect("path")]).0, 0);
    let raw = ['\u{7f}', '\u{9b}', '\u{202e}', '\u{2067}', '\u{2069}'];
    for args in [vec!["list", "--json"], vec!["show", "x1", "--json"], vec!["scan", "--json"]] {
        let (code, out, err) = cli(&store, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!out.contains(raw), "{args:?} prints raw controls: {out:?}");
    }
    // The escapes parse back to exactly what was imported.
    let (_, out, _) = cli(&store, &["show", "x1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let full = format!("{} {}", v["given_name"].as_str().expect("given"), v["family_name"].as_str().expect("family"));
    assert_eq!(full, name, "kept as data, escaped only in print");
}

#[test]
fn readme_key_table_matches_the_registry() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let table = steward::tui::actions::markdown_table();
    assert!(readme.contains(&table), "README key table is out of date; paste `steward keys`:\n{table}");
}

#[test]
fn scan_json_on_the_demo_store_reports_the_planted_counts() {
    let (_tmp, store, _) = kept_demo();
    let mut c = steward(&store);
    c.env("STEWARD_PASSPHRASE", "demo").args(["--user", "tester", "scan", "--json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("scan json");
    let m = steward::synth::generate(2000, 2026, std::io::sink(), None).expect("manifest");
    let s = &v["summary"];
    assert_eq!(s["duplicate"], m.duplicate_clusters);
    assert_eq!(s["stale"], m.stale);
    assert_eq!(s["expired"], m.expired);
    assert_eq!(s["suspect"], 1);
    assert_eq!(s["consent"], m.no_consent + m.withdrawn_consent);
    assert_eq!(s["pii"], m.notes_card + m.notes_iban + m.notes_ssn + m.notes_email + m.notes_phone);
    assert_eq!(s["overcollected"], m.fax + m.pager + m.national_id + m.consent_past_retention + m.notes_past_retention);
    assert_eq!(
        s["invalid"],
        m.invalid_email + m.disposable_email + m.bots + m.invalid_phone + m.invalid_postcode + m.impossible_dob
    );
    // Schema: every finding has kind, records with id and source_id, reasons.
    let findings = v["findings"].as_array().expect("findings");
    for f in findings {
        assert!(f["kind"].is_string());
        assert!(f["reasons"].as_array().is_some_and(|r| !r.is_empty()));
        for r in f["records"].as_array().expect("records") {
            assert!(r["id"].is_string() && r["source_id"].is_string());
        }
    }
    let dup = findings.iter().find(|f| f["kind"] == "duplicate").expect("a duplicate");
    assert!(dup["score"].as_f64().is_some_and(|s| s > 0.5) && dup["records"].as_array().is_some_and(|r| r.len() >= 2));
    let explained = dup["explanation"].as_array().expect("explanation");
    assert_eq!(explained.len() + 1, dup["records"].as_array().map_or(0, Vec::len));
    assert!(
        explained[0]
            .as_array()
            .is_some_and(|f| f.iter().any(|c| c["field"] == "family_name" && c["status"].is_string()))
    );
    let pii = findings.iter().find(|f| f["category"] == "credit_card").expect("a card");
    assert_eq!(pii["field"], "notes");
    // --kind filters.
    let mut c = steward(&store);
    c.env("STEWARD_PASSPHRASE", "demo").args(["--user", "tester", "scan", "--json", "--kind", "pii"]);
    let (_, out, _) = run(c);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(v["findings"].as_array().is_some_and(|f| f.iter().all(|f| f["kind"] == "pii")));
    // No full card number anywhere in the output.
    assert!(!out.contains("4111111111111111") && !out.contains("4111 1111 1111 1111"));
}

/// `steward stats | true`: the reader is gone before steward writes; it
/// leaves quietly with the SIGPIPE status, not with a panic and a backtrace.
#[test]
fn a_closed_stdout_ends_quietly() {
    let (_tmp, store) = init_store();
    for _ in 0..3 {
        let mut c = steward(&store);
        c.args(["--user", "tester", "stats"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(matches!(out.status.code(), Some(0 | 141)), "{:?} {err}", out.status);
    }
}

#[test]
fn break_10_a_request_with_a_malformed_email_is_refused_without_echoing_it() {
    let (_tmp, store) = init_store();
    let add = |email: &str| cli(&store, &request_add("erasure", "2026-11-20", &["--email", email]));
    let (code, out, err) = add("leak@@bad");
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("the requester's email has more than one @"), "{err}");
    assert!(!err.contains("leak"), "the address is not repeated: {err}");
    let (_, list, _) = cli(&store, &["request", "list"]);
    assert!(!list.contains("REQ-"), "nothing stored: {list}");
    assert_eq!(add("ok.person@example.org").0, 0);
}

#[test]
fn break_10_a_wrong_user_is_not_echoed_with_its_escape_codes() {
    let (_tmp, store) = init_store();
    let mut c = steward(&store);
    c.args(["--user", "x\u{1b}[31mred\u{9b}2J", "list"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{9b}'), "{err:?}");
    assert!(err.contains("wrong passphrase or key"), "{err}");
}

#[test]
fn break_10_an_empty_passphrase_is_not_a_failed_attempt() {
    let (_tmp, store) = init_store();
    let mut c = steward(&store);
    c.env("STEWARD_PASSPHRASE", "").args(["list"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("STEWARD_PASSPHRASE is set but empty"), "{err}");
    // No failed attempt was recorded, and the right passphrase opens.
    assert!(!store.join("failed-logins.jsonl").exists(), "no failed login recorded");
    let (code, _, err) = cli(&store, &["list"]);
    assert_eq!(code, 0, "{err}");
    // A wrong one is recorded (the check above could fail).
    let mut c = steward(&store);
    c.env("STEWARD_PASSPHRASE", "not the passphrase at all").args(["list"]);
    assert_eq!(run(c).0, 1);
    assert!(store.join("failed-logins.jsonl").exists(), "a wrong passphrase is recorded");
}

#[test]
fn break_4_a_passphrase_file_unlocks_without_the_environment() {
    let (tmp, store) = init_store();
    let file = write(tmp.path(), "pass", format!("{PASS}\n").as_bytes());
    let with_file = |f: &std::path::Path| {
        let mut c = steward(&store);
        c.env_remove("STEWARD_PASSPHRASE").args(["--user", "tester", "--passphrase-file"]).arg(f).arg("list");
        run(c)
    };
    let (code, _, err) = with_file(&file);
    assert_eq!(code, 0, "{err}");
    let empty = write(tmp.path(), "empty", b"");
    let (code, _, err) = with_file(&empty);
    assert_eq!(code, 1);
    assert!(err.contains("is empty: nothing was tried"), "{err}");
    assert!(!store.join("failed-logins.jsonl").exists(), "not a failed attempt");
    let wrong = write(tmp.path(), "wrong", b"not the passphrase\n");
    let (code, _, err) = with_file(&wrong);
    assert_eq!(code, 1);
    assert!(err.contains("wrong passphrase"), "{err}");
}
