//! Process hardening, first thing at start: no core dumps (a core of the
//! dashboard holds decrypted records, and of any command the data key and
//! the passphrase) and no attaching or reading of the process's memory by
//! other processes of the same user (`PR_SET_DUMPABLE` 0, which also stops
//! `ptrace` by non-root processes and hides `/proc/PID/mem` and `environ`).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Core limit 0 (soft and hard: it cannot be raised again) and not dumpable.
pub fn harden() -> Result<(), nix::Error> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    nix::sys::prctl::set_dumpable(false)?;
    Ok(())
}

/// Whether the process is hardened: core limit 0 and not dumpable.
pub fn hardened() -> bool {
    let core = getrlimit(Resource::RLIMIT_CORE).is_ok_and(|(soft, hard)| soft == 0 && hard == 0);
    let dumpable = nix::sys::prctl::get_dumpable().unwrap_or(true);
    core && !dumpable
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_core_and_not_dumpable() {
        super::harden().expect("hardening works on Linux");
        assert!(super::hardened());
    }
}
