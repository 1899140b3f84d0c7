//! The store lock: one process at a time, and a clear answer for the next.
//!
//! sled refuses a second opener with a raw OS `WouldBlock`. Before sled is
//! touched we take an exclusive lock on `steward.lock` beside it and write
//! who holds it (steward user, OS user, pid, host, the SSH connection it came
//! from, since when), so a refused admin is told who to talk to.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who holds a store, as written into the lock file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockInfo {
    pub user: String,
    pub os_user: String,
    pub pid: u32,
    pub host: String,
    /// Client address and port from `SSH_CONNECTION` ("where", not "who").
    pub from: Option<String>,
    pub since: DateTime<Utc>,
    pub mode: String,
}

impl LockInfo {
    pub fn current(user: &str, mode: &str) -> Self {
        let from = std::env::var("SSH_CONNECTION").ok().and_then(|c| {
            let mut parts = c.split_whitespace();
            Some(format!("{} port {}", parts.next()?, parts.next()?))
        });
        Self {
            user: user.to_owned(),
            os_user: crate::os_user(),
            pid: std::process::id(),
            host: nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default(),
            from,
            since: Utc::now(),
            mode: mode.to_owned(),
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", crate::model::text::sanitize(&self.user))?;
        if self.os_user != self.user {
            write!(f, " (OS user {})", crate::model::text::sanitize(&self.os_user))?;
        }
        write!(f, ", pid {} on {}", self.pid, crate::model::text::sanitize(&self.host))?;
        if let Some(from) = &self.from {
            write!(f, ", connected from {}", crate::model::text::sanitize(from))?;
        }
        write!(f, ", since {}", self.since.format("%Y-%m-%d %H:%M:%S UTC"))
    }
}

/// Holds the exclusive lock for as long as it lives.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
}

/// Outcome of trying to take the lock.
#[derive(Debug)]
pub enum LockError {
    /// Someone else holds it; what they wrote, if it could be read.
    Held(Option<Box<LockInfo>>),
    Io(std::io::Error),
}

impl StoreLock {
    /// Takes the lock on `path` without waiting.
    pub fn acquire(path: &Path, info: &LockInfo) -> Result<Self, LockError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut s = String::new();
                let _ = file.read_to_string(&mut s);
                return Err(LockError::Held(serde_json::from_str(&s).ok().map(Box::new)));
            }
            Err(TryLockError::Error(e)) => return Err(LockError::Io(e)),
        }
        let body = serde_json::to_vec(info).unwrap_or_default();
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&body))
            .and_then(|_| file.sync_data())
            .map_err(LockError::Io)?;
        Ok(Self { file })
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Clear the holder's details; the OS releases the lock on close.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
