//! steward: a terminal dashboard for customer-data stewardship.
//!
//! Layers, dependencies pointing down:
//!
//! ```text
//! tui/  cli/          clients: keys, screens, commands — no business rules
//! service/            use cases; every call runs as the session's user
//! search/ import/     pure logic over records: no I/O, no terminal
//! store/ crypto/      sled behind one module, sealing, key slots
//! model/              records, ids, fields, dates (serde)
//! ```
//!
//! `synth` makes synthetic data for the demo and benchmarks.
#![forbid(unsafe_code)]

pub mod cli;
pub mod crypto;
pub mod findings;
pub mod import;
pub mod model;
pub mod policy;
pub mod search;
pub mod service;
pub mod store;
pub mod synth;
pub mod tui;

/// The operating-system user of this process, looked up from its uid (so a
/// forged `$USER` does not change it); the numeric uid if it has no name.
pub fn os_user() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => format!("uid{uid}"),
    }
}
