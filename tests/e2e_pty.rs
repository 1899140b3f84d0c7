//! End to end: the real binary in a pseudo-terminal, driven like a person
//! would — open the demo, search a surname, quit — reading the screen with a
//! terminal emulator (vt100) and checking the terminal is given back.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

struct Screen {
    parser: Mutex<vt100::Parser>,
    raw: Mutex<Vec<u8>>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().map(|p| p.screen().contents()).unwrap_or_default()
    }

    fn wait_for(&self, what: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let t = self.text();
            if t.contains(what) {
                return t;
            }
            assert!(start.elapsed() < timeout, "timed out waiting for {what:?}; screen:\n{t}");
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

#[test]
fn demo_search_and_quit_in_a_real_terminal() {
    let pty = native_pty_system();
    let pair = pty.openpty(PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 }).expect("openpty");
    let tmp = tempfile::tempdir().expect("tmp");
    let mut cmd = CommandBuilder::new(common::bin());
    cmd.arg("demo");
    cmd.env("TERM", "xterm-256color");
    cmd.env("TMPDIR", tmp.path());
    cmd.env_remove("NO_COLOR");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn steward");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let mut writer = pair.master.take_writer().expect("writer");
    let screen = Arc::new(Screen { parser: Mutex::new(vt100::Parser::new(24, 80, 0)), raw: Mutex::new(Vec::new()) });
    let s2 = screen.clone();
    let pump = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut p) = s2.parser.lock() {
                        p.process(&buf[..n]);
                    }
                    if let Ok(mut r) = s2.raw.lock() {
                        r.extend_from_slice(&buf[..n]);
                    }
                }
            }
        }
    });

    let t = screen.wait_for("Records by country", Duration::from_secs(30));
    assert!(t.contains("1 Dashboard"), "{t}");
    assert!(t.contains("2,000"), "{t}");
    assert!(screen.parser.lock().map(|p| p.screen().alternate_screen()).unwrap_or(false), "alternate screen in use");
    // The dashboard holds decrypted records: it can never dump core.
    if let Some(pid) = child.process_id() {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
        let core = limits.lines().find(|l| l.starts_with("Max core file size")).expect("core limit");
        assert_eq!(core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(), ["0", "0"], "{core}");
    }

    writer.write_all(b"/harrington").expect("type");
    writer.flush().expect("flush");
    let t = screen.wait_for("matches", Duration::from_secs(10));
    assert!(t.contains("/harrington"), "{t}");
    let rows_with_name = t.lines().filter(|l| l.to_lowercase().contains("harrington")).count();
    assert!(rows_with_name >= 3, "search results show the surname:\n{t}");
    assert!(!t.contains("Records by country"), "search switched to the records screen:\n{t}");

    // Enter keeps the results, Enter opens the details of the first one.
    writer.write_all(b"\r\r").expect("keys");
    writer.flush().expect("flush");
    screen.wait_for("Details", Duration::from_secs(10));

    writer.write_all(b"q").expect("quit");
    writer.flush().expect("flush");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "steward did not quit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    drop(writer);
    drop(pair.master);
    let _ = pump.join();
    let p = screen.parser.lock().expect("parser");
    assert!(!p.screen().alternate_screen(), "left the alternate screen");
    assert!(!p.screen().hide_cursor(), "cursor shown again");
    let raw = screen.raw.lock().expect("raw");
    let tail = String::from_utf8_lossy(&raw[raw.len().saturating_sub(64)..]).into_owned();
    assert!(tail.contains("\u{1b}[?1049l"), "leave-alternate-screen at the end: {tail:?}");
    // The throwaway demo store is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("tmp").collect();
    assert!(left.is_empty(), "demo store left behind: {left:?}");
}

/// A demo store kept in a temp dir (passphrase `demo`): (dir, store).
fn kept_demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = tmp.path().join("s");
    let (code, _, err) = common::run({
        let mut c = std::process::Command::new(common::bin());
        c.args(["--user", "tester", "demo", "--no-tui", "--keep"]).arg(&store);
        c
    });
    assert_eq!(code, 0, "{err}");
    (tmp, store)
}

/// How many read-only session copies are in `dir`.
fn read_only_copies(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("tmp")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("steward-read-only-"))
        .count()
}

/// A steward child in an 80x24 pseudo-terminal.
struct Pty {
    screen: Arc<Screen>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Pty {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Pty {
        Pty::spawn_program(common::bin(), args, env)
    }

    /// `program` (rather than steward itself) in the terminal.
    fn spawn_program(program: impl AsRef<std::ffi::OsStr>, args: &[&str], env: &[(&str, &str)]) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("STEWARD_PASSPHRASE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn steward");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let screen =
            Arc::new(Screen { parser: Mutex::new(vt100::Parser::new(24, 80, 0)), raw: Mutex::new(Vec::new()) });
        let s2 = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut p) = s2.parser.lock() {
                    p.process(&buf[..n]);
                }
            }
        });
        Pty { screen, writer, child, _master: pair.master }
    }

    fn keys(&mut self, b: &[u8]) {
        self.writer.write_all(b).expect("type");
        self.writer.flush().expect("flush");
    }

    fn exit_code(&mut self) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st.exit_code();
            }
            assert!(start.elapsed() < Duration::from_secs(15), "steward did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn the_login_screen_takes_the_passphrase_without_echo_and_ctrl_c_leaves_cleanly() {
    let (_tmp, store) = kept_demo();
    let s = store.to_str().expect("path");

    let mut p = Pty::spawn(&["--store", s, "--user", "tester"], &[]);
    p.screen.wait_for("Passphrase:", Duration::from_secs(20));
    p.keys(b"wrong-guess\r");
    let t = p.screen.wait_for("wrong passphrase or key", Duration::from_secs(20));
    assert!(!t.contains("wrong-guess"), "the passphrase is never echoed:\n{t}");
    p.keys(b"demo");
    let t = p.screen.wait_for("(hidden)", Duration::from_secs(5));
    assert!(!t.contains("demo\n") && !t.contains("demo "), "{t}");
    p.keys(b"\r");
    p.screen.wait_for("Records by country", Duration::from_secs(30));
    p.keys(b"q");
    assert_eq!(p.exit_code(), 0);

    // Ctrl-C at the login screen: out, with the terminal given back.
    let mut p = Pty::spawn(&["--store", s, "--user", "tester"], &[]);
    p.screen.wait_for("Passphrase:", Duration::from_secs(20));
    p.keys(b"\x03");
    assert_eq!(p.exit_code(), 1);
    std::thread::sleep(Duration::from_millis(200));
    let parser = p.screen.parser.lock().expect("parser");
    assert!(!parser.screen().alternate_screen(), "left the alternate screen");
    assert!(!parser.screen().hide_cursor(), "cursor shown again");
    assert!(parser.screen().contents().contains("left at the login screen"), "{}", parser.screen().contents());
}

#[test]
fn break_2_and_10_sigterm_and_sighup_give_the_terminal_back_and_leave_no_read_only_copy() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let (tmp, store) = kept_demo();
    let s = store.to_str().expect("path");
    let copies = tmp.path().join("tmp");
    std::fs::create_dir(&copies).expect("mkdir");
    let t = copies.to_str().expect("path");
    let copies_left = || read_only_copies(&copies);

    // The holder publishes its snapshot.
    let mut holder = Pty::spawn(&["--store", s, "--user", "tester"], &[("STEWARD_PASSPHRASE", "demo")]);
    holder.screen.wait_for("Records by country", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));

    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        let env = [("STEWARD_PASSPHRASE", "demo"), ("TMPDIR", t)];
        let mut p = Pty::spawn(&["--store", s, "--user", "tester", "--read-only"], &env);
        p.screen.wait_for("Records by country", Duration::from_secs(30));
        assert_eq!(copies_left(), 1, "the session's private copy");
        let pid = p.child.process_id().expect("pid");
        kill(Pid::from_raw(pid as i32), signal).expect("signal");
        p.exit_code();
        std::thread::sleep(Duration::from_millis(200));
        let parser = p.screen.parser.lock().expect("parser");
        assert!(!parser.screen().alternate_screen(), "{signal}: left the alternate screen");
        assert!(!parser.screen().hide_cursor(), "{signal}: cursor shown again");
        drop(parser);
        assert_eq!(copies_left(), 0, "{signal}: the read-only copy is gone");
    }

    // SIGKILL cannot be caught: the next session sweeps what it left.
    let env = [("STEWARD_PASSPHRASE", "demo"), ("TMPDIR", t)];
    let mut p = Pty::spawn(&["--store", s, "--user", "tester", "--read-only"], &env);
    p.screen.wait_for("Records by country", Duration::from_secs(30));
    let pid = p.child.process_id().expect("pid");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("SIGKILL");
    p.exit_code();
    assert_eq!(copies_left(), 1, "a killed session leaves its copy");
    let (code, _, err) = common::run({
        let mut c = std::process::Command::new(common::bin());
        c.args(["--store", s, "--user", "tester", "--read-only", "list", "--limit", "1"])
            .env("STEWARD_PASSPHRASE", "demo")
            .env("TMPDIR", t);
        c
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(copies_left(), 0, "swept by the next session, and the list command's own copy removed");

    holder.keys(b"q");
    assert_eq!(holder.exit_code(), 0);
}

#[test]
fn break_8_a_login_screen_does_not_hold_the_store() {
    let (_tmp, store) = kept_demo();
    let s = store.to_str().expect("path");
    // Someone sits at the login screen, not authenticated.
    let mut p = Pty::spawn(&["--store", s, "--user", "tester"], &[]);
    p.screen.wait_for("Passphrase:", Duration::from_secs(20));
    // The store is not theirs: an admin's command runs.
    let (code, out, err) = common::run({
        let mut c = std::process::Command::new(common::bin());
        c.args(["--store", s, "--user", "tester", "list", "--limit", "1"]).env("STEWARD_PASSPHRASE", "demo");
        c
    });
    assert_eq!(code, 0, "a login screen blocked the store: {err}");
    assert!(!out.is_empty());
    // Once someone is in, the next login screen says so at once.
    let mut holder = Pty::spawn(&["--store", s, "--user", "tester"], &[("STEWARD_PASSPHRASE", "demo")]);
    holder.screen.wait_for("Records by country", Duration::from_secs(30));
    let (code, _, err) = common::run({
        let mut c = std::process::Command::new(common::bin());
        c.args(["--store", s, "--user", "tester", "list"]).env("STEWARD_PASSPHRASE", "demo");
        c
    });
    assert_eq!(code, 1);
    assert!(err.contains("in use by tester"), "{err}");
    // The one at the login screen who now unlocks is told the store is in
    // use, and can leave.
    p.keys(b"demo\r");
    p.screen.wait_for("in use", Duration::from_secs(20));
    p.keys(b"\x03");
    p.exit_code();
    holder.keys(b"q");
    assert_eq!(holder.exit_code(), 0);
}

/// Break 2 (b): an open read-only session kept showing and searching a
/// record erased meanwhile. The holder's erasure withdraws the snapshot; the
/// session notices within a second, drops its data, deletes its private
/// copy and offers only to quit.
#[test]
fn break_2_an_erasure_ends_every_read_only_view_of_the_record() {
    let (tmp, store) = kept_demo();
    let s = store.to_str().expect("path");
    let copies = tmp.path().join("tmp");
    std::fs::create_dir(&copies).expect("mkdir");
    let t = copies.to_str().expect("path");
    let copies_left = || read_only_copies(&copies);
    let mut holder = Pty::spawn(&["--store", s, "--user", "tester"], &[("STEWARD_PASSPHRASE", "demo")]);
    holder.screen.wait_for("Records by country", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));

    let env = [("STEWARD_PASSPHRASE", "demo"), ("TMPDIR", t)];
    let mut viewer = Pty::spawn(&["--store", s, "--user", "tester", "--read-only"], &env);
    viewer.screen.wait_for("Records by country", Duration::from_secs(30));
    viewer.keys(b"2");
    let shown = viewer.screen.wait_for("Elizabeth Redford", Duration::from_secs(10));
    assert!(shown.contains("READ-ONLY"), "{shown}");
    assert_eq!(copies_left(), 1);

    // The holder erases the first record.
    holder.keys(b"2");
    holder.screen.wait_for("Elizabeth Redford", Duration::from_secs(10));
    holder.keys(b"x");
    // The plan (what will go) comes from the action thread; Enter erases only once it is shown.
    holder.screen.wait_for("This will erase", Duration::from_secs(10));
    holder.keys(b"asked\r\rerase\r");
    holder.screen.wait_for("erased 1 record(s)", Duration::from_secs(30));

    let ended = viewer.screen.wait_for("This read-only view has ended", Duration::from_secs(10));
    assert!(!ended.contains("Elizabeth Redford"), "{ended}");
    assert_eq!(copies_left(), 0, "the ended view's copy is deleted at once");
    viewer.keys(b"/");
    viewer.keys(b"q");
    assert_eq!(viewer.exit_code(), 0);
    holder.keys(b"q");
    assert_eq!(holder.exit_code(), 0);
}

/// Break 4: with `ulimit -c unlimited`, `kill -QUIT` on the dashboard wrote a
/// 1.1 GB core holding decrypted records and the passphrase. Whatever limit
/// it inherits, the dashboard sets its own to 0 (soft and hard, so it cannot
/// be raised again) before it reads a passphrase, and makes itself
/// non-dumpable; SIGQUIT then leaves no core behind.
#[test]
fn break_4_the_dashboard_never_dumps_core() {
    let (tmp, store) = kept_demo();
    let s = store.to_str().expect("path");
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).expect("mkdir");
    let bin = common::bin();
    let script =
        format!("ulimit -c unlimited; cd '{}' && exec '{}' --store '{s}' --user tester", cwd.display(), bin.display());
    let mut p = Pty::spawn_program("sh", &["-c", &script], &[("STEWARD_PASSPHRASE", "demo")]);
    p.screen.wait_for("Records by country", Duration::from_secs(30));
    let pid = p.child.process_id().expect("pid");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let core = limits.lines().find(|l| l.starts_with("Max core file size")).expect("core limit");
    assert_eq!(core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(), ["0", "0"], "{core}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(status.contains("steward"), "the shell exec'd steward: {status}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGQUIT).expect("QUIT");
    p.exit_code();
    let cores: Vec<_> = std::fs::read_dir(&cwd).expect("cwd").flatten().map(|e| e.file_name()).collect();
    assert!(cores.is_empty(), "core files: {cores:?}");
}

/// The dashboard process under the supervisor `steward` starts.
fn dashboard_child(supervisor: u32) -> i32 {
    let start = Instant::now();
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{supervisor}/task/{supervisor}/children")).unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next().and_then(|p| p.parse().ok()) {
            return pid;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no dashboard under the supervisor");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Break 5 (in part): under `ulimit -v 1G` an allocation failed, the
/// process aborted — no hook of ours runs then — and left the terminal in raw
/// mode on the alternate screen. The dashboard now runs under a supervisor
/// that gives the terminal back and says what happened in one line, however
/// the dashboard dies: here, the abort of a failed allocation (SIGABRT) and
/// the out-of-memory killer (SIGKILL).
#[test]
fn break_5_a_dashboard_that_runs_out_of_memory_gives_the_terminal_back() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let (tmp, store) = kept_demo();
    let s = store.to_str().expect("path");
    let copies = tmp.path().join("tmp");
    std::fs::create_dir(&copies).expect("mkdir");
    for (signal, words, code) in [(Signal::SIGABRT, "ran out of memory", 134), (Signal::SIGKILL, "was killed", 137)] {
        let env = [("STEWARD_PASSPHRASE", "demo"), ("TMPDIR", copies.to_str().expect("path"))];
        let mut p = Pty::spawn(&["--store", s, "--user", "tester"], &env);
        p.screen.wait_for("Records by country", Duration::from_secs(30));
        assert!(p.screen.parser.lock().expect("parser").screen().alternate_screen());
        let child = dashboard_child(p.child.process_id().expect("pid"));
        kill(Pid::from_raw(child), signal).expect("signal the dashboard");
        assert_eq!(p.exit_code(), code, "{signal}");
        let t = p.screen.wait_for(words, Duration::from_secs(5));
        assert!(t.contains("nothing it reported as done is lost"), "{signal}: {t}");
        let parser = p.screen.parser.lock().expect("parser");
        assert!(!parser.screen().alternate_screen(), "{signal}: left the alternate screen");
        assert!(!parser.screen().hide_cursor(), "{signal}: cursor shown again");
    }
    // The store is fine afterwards.
    let (code, _, err) = common::run({
        let mut c = std::process::Command::new(common::bin());
        c.args(["--store", s, "--user", "tester", "audit", "verify"]).env("STEWARD_PASSPHRASE", "demo");
        c
    });
    assert_eq!(code, 0, "{err}");
}
