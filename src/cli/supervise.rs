//! The dashboard runs under a small supervisor, so that however it dies the
//! terminal is given back with one plain line.
//!
//! A Rust process that cannot get memory aborts (`SIGABRT`) without running
//! any code of ours — no panic hook, no destructor — and the out-of-memory
//! killer's `SIGKILL` cannot be caught at all: either leaves the terminal in
//! raw mode on the alternate screen. So `steward` (dashboard commands, on a
//! terminal) starts itself again as a child and waits: the child does all
//! the work; the parent holds no data, forwards the signals a user or a
//! dropped SSH line sends, and when the child dies of a signal it restores
//! the terminal settings it saved beforehand, leaves the alternate screen,
//! says what happened in one line and sweeps the read-only copy the child
//! may have left. A child whose parent dies is killed too.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;

use nix::sys::signal::Signal;

/// Set in the child's environment.
const CHILD: &str = "STEWARD_SUPERVISED";

/// Whether this process is the supervised child.
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// In the child: die with the parent (a supervisor killed outright must not
/// leave a dashboard behind that nobody restores).
pub fn follow_parent() {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if nix::unistd::getppid() == nix::unistd::Pid::from_raw(1) {
        std::process::exit(1);
    }
}

/// Runs this same command as a supervised child; returns its exit code (or
/// 128 + the signal that killed it).
pub fn run() -> i32 {
    let stdin = std::io::stdin();
    let saved = nix::sys::termios::tcgetattr(&stdin).ok();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(_) => return crate::cli::main_unsupervised(),
    };
    let mut child = match std::process::Command::new(exe).args(std::env::args_os().skip(1)).env(CHILD, "1").spawn() {
        Ok(c) => c,
        // Cannot start a child (process limit): run unsupervised.
        Err(_) => return crate::cli::main_unsupervised(),
    };
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // What is sent to the supervisor goes to the dashboard; a Ctrl-C typed
    // outside raw mode reaches both, and the child decides.
    let forwarded = [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
    ];
    if let Ok(mut signals) = signal_hook::iterator::Signals::new(forwarded) {
        std::thread::spawn(move || {
            for sig in signals.forever() {
                if let Ok(s) = Signal::try_from(sig) {
                    let _ = nix::sys::signal::kill(pid, s);
                }
            }
        });
    }
    let status = match child.wait() {
        Ok(s) => s,
        Err(_) => return 1,
    };
    if let Some(code) = status.code() {
        return code;
    }
    let sig = status.signal().unwrap_or(0);
    if let Some(t) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t);
    }
    let mut err = std::io::stderr();
    // Leave the alternate screen, show the cursor, stop mouse reporting.
    let _ = write!(err, "\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1006l");
    let _ = writeln!(err, "steward: {}", why(sig));
    let _ = err.flush();
    crate::service::sweep_read_only_copies(&std::env::temp_dir());
    128 + sig
}

/// One line on how the dashboard ended.
fn why(sig: i32) -> String {
    let what = match Signal::try_from(sig) {
        Ok(Signal::SIGABRT) => "ran out of memory (or hit an internal error)".to_owned(),
        Ok(Signal::SIGKILL) => "was killed (out of memory, or `kill -9`)".to_owned(),
        Ok(s) => format!("ended on {s}"),
        Err(_) => format!("ended on signal {sig}"),
    };
    format!("the dashboard {what} and stopped; nothing it reported as done is lost.")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_ending_is_one_line() {
        for sig in [6, 9, 15, 11, 99] {
            let w = super::why(sig);
            assert!(!w.contains('\n') && w.starts_with("the dashboard"), "{w}");
        }
        assert!(super::why(6).contains("memory"));
    }
}
