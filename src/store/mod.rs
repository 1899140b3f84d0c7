//! The encrypted store: sled or PostgreSQL behind one module, key slots
//! beside the data.
//!
//! Nothing else in the crate touches sled or the store's database. A store
//! is a directory (sled, one process at a time) or a PostgreSQL database
//! shared by many sessions, which holds the same keys and values as rows
//! (see `engine`; its writers take turns on an advisory lock, see
//! `Store::lock_head`). Layout of a store directory (0700, files 0600):
//!
//! - `keyslots.json`: the root key wrapped per user, the data key sealed by
//!   the root key, the sealed audit chain head (see `crypto::slots`); its
//!   presence marks a complete steward store.
//! - `steward.lock`: exclusive lock and who holds it (see [`lock`]).
//! - `match-index.sealed`: what request matching reuses from the last scan
//!   (blocking keys, clusters, the model), sealed under the data key;
//!   removed whenever a record changes and by every key rotation.
//! - `db/`: sled. One tree, keys by prefix, so that any change — records,
//!   indexes and later its audit entry — is one atomic `apply_batch`:
//!   - `p` + first record id → a page of up to 16 sealed records
//!     (see [`page`], [`seal_record`]);
//!   - `s` + bucket number → blind-index bucket: keyed hash of
//!     (source, source id) → record id; no plaintext key reaches the disk
//!     (see [`index`]);
//!   - `a` + sequence number → sealed audit entry (see [`audit`]);
//!   - `r` + record id → sealed redirect of a merged-away record;
//!   - `u` + merge id → sealed undo snapshot of a merge;
//!   - `t` + record id → tombstone of an erased record (no personal data);
//!   - `x` + receipt id → erasure receipt (no personal data);
//!   - `q` + request reference → sealed data-subject request;
//!   - `n` + two record ids → sealed "not the same person" decision;
//!   - `z` + entry id → sealed suppression entry, `o` + source + sequence
//!     number → sealed outgoing change, `g` + source name → sealed source
//!     definition (see [`shelf`]);
//!   - `m` + name → store metadata.
//!
//! Each record is sealed with XChaCha20-Poly1305 under its own random record
//! key, the record id bound as associated data; the record key is wrapped by
//! the store's data key. Erasing a record removes its wrapped key; `rekey`
//! replaces the data key, so the copies sled keeps on disk become
//! undecryptable (see [`rekey`]). Every change and its audit entry are one
//! sled batch (see [`change`]), and nothing is reported as done before
//! `flush`.

pub mod audit;
mod change;
mod engine;
pub mod index;
pub mod lock;
pub mod page;
pub mod pgsource;
mod rekey;
pub mod shelf;
mod users;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use rayon::prelude::*;

use crate::crypto::{self, Key, KeySlots, Role, UnlockSecret, slots::SlotError};
use crate::model::{self, Record, RecordId};
pub use change::{Change, Copied, Notice, Redirect, SNAPSHOT_FILE, record_digest};
use engine::{Batch, Db, Home, PgConn};
pub use engine::{IVec, PG_CHANNEL};
pub use index::Blind;
use index::{Bucket, bucket_of};
pub use lock::{LockInfo, StoreLock};
use page::{PAGE_CAP, Page};
pub use shelf::Shelf;
pub use users::UserInfo;

/// Version of the store layout written by this build.
pub const STORE_FORMAT: u32 = 1;

const SLOTS_FILE: &str = "keyslots.json";
const LOCK_FILE: &str = "steward.lock";
const DB_DIR: &str = "db";
/// Where a key rotation builds the database that replaces `db`.
const DB_NEXT: &str = "db.next";
/// The live database for a moment, where the file system cannot exchange two
/// directories in one rename.
const DB_PREV: &str = "db.prev";

const P_PAGE: u8 = b'p';
const P_SOURCE: u8 = b's';
const P_META: u8 = b'm';
const P_AUDIT: u8 = b'a';
const P_REDIRECT: u8 = b'r';
const P_UNDO: u8 = b'u';
const P_TOMB: u8 = b't';
const P_RECEIPT: u8 = b'x';
const P_REQUEST: u8 = b'q';
const P_APART: u8 = b'n';
const P_SUPPRESS: u8 = b'z';
const P_OUTBOX: u8 = b'o';
const P_SOURCE_DEF: u8 = b'g';
const P_BREACH: u8 = b'b';
const P_BATCH: u8 = b'i';

/// Meta key set while an import's new pages are being written.
const IMPORT_PENDING: &str = "import-pending";
/// Meta key set by an erasure until the data key has been rotated after it.
const REKEY_PENDING: &str = "rekey-pending";
/// Meta key: receipts that the next rotation, whenever it runs, rewrites.
const RECEIPTS_AWAITING: &str = "receipts-awaiting-rotation";
/// Meta key: the generation whose rotation's final batch is written.
const REKEY_DONE: &str = "rekey-done";
/// Meta key: the record generation (see [`Store::generation`]).
const GENERATION: &str = "generation";
/// The database's copy of the audit chain head (see `audit::SealedHead`).
const AUDIT_DB_HEAD: &str = "audit-head";
/// The sealed index request matching reuses between scans.
pub const MATCH_INDEX_FILE: &str = "match-index.sealed";

/// Where a store lives: a directory (the embedded sled engine), or a
/// PostgreSQL database several steward processes share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` names a database; anything else a
    /// directory.
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_owned())
        } else {
            Location::Dir(PathBuf::from(s))
        }
    }

    /// The engine's name.
    pub fn engine(&self) -> &'static str {
        match self {
            Location::Dir(_) => "sled",
            Location::Postgres(_) => "postgres",
        }
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::Dir(p.to_owned())
    }
}

impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Location {
        Location::Dir(p.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::Dir(p)
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(d) => write!(f, "{}", d.display()),
            Location::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// Everything that can go wrong opening or using a store. Messages are one
/// line, name paths but never personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no steward store at {0} (create one with `steward init`)")]
    NotFound(String),
    #[error("{0} is not a steward store (no {SLOTS_FILE})")]
    NotAStore(String),
    #[error("{0} already exists and is not empty; refusing to create a store there")]
    Exists(String),
    #[error("{0} belongs to another user (uid {1}), who could plant links in it: use a directory you own (mode 0700)")]
    NotOwned(PathBuf, u32),
    #[error("store format {found} is newer than this steward supports ({supported}); upgrade steward")]
    TooNew { found: u32, supported: u32 },
    #[error("store is in use by {0} (add --read-only to browse its latest snapshot)")]
    InUse(Box<LockInfo>),
    #[error("store is in use by another steward process (its details could not be read)")]
    InUseUnknown,
    #[error("{0}")]
    Slot(#[from] SlotError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(
        "not enough free disk space for a key rotation: it needs about {needed_mb} MB, {free_mb} MB are free. \
         Nothing was changed by it; free space, then run `steward rekey`"
    )]
    NoSpace { needed_mb: u64, free_mb: u64 },
    #[error("database error: {0}")]
    Db(String),
    #[error("store data is corrupt or was sealed with another key: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Decode(#[from] model::DecodeError),
    #[error(
        "your account was removed or its role changed since you unlocked the store: nothing was done; unlock \
         again"
    )]
    Revoked,
    #[error(
        "someone else changed {0} of these record(s) since they were loaded: nothing was saved. Look at them \
         again (the view reloads) and redo the change if it still holds"
    )]
    Conflict(usize),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        // One plain line each: sled's own texts carry disk pointers and
        // backtrace placeholders, and a full disk must read as one.
        match e {
            sled::Error::Io(io) => {
                let io = plain_io(io);
                if io.raw_os_error() == Some(nix::libc::ENOSPC) {
                    StoreError::Io {
                        what: "the disk is full: free space, then run the command again".into(),
                        source: io,
                    }
                } else {
                    StoreError::Io { what: "database I/O".into(), source: io }
                }
            }
            sled::Error::Corruption { .. } => StoreError::Db(
                "the database files are damaged (sled found corrupted data); restore the latest backup \
                 (`steward restore`)"
                    .into(),
            ),
            sled::Error::ReportableBug(_) => StoreError::Db("the database reported an internal error".into()),
            sled::Error::Unsupported(m) => StoreError::Db(m),
            sled::Error::CollectionNotFound(_) => StoreError::Db("a database tree is missing".into()),
        }
    }
}

/// sled re-wraps some OS errors as custom errors whose text is the original's
/// debug form (`Os { code: 28, kind: StorageFull, .. }`): back to the OS
/// error, so the message reads "No space left on device (os error 28)".
fn plain_io(io: std::io::Error) -> std::io::Error {
    if io.raw_os_error().is_some() {
        return io;
    }
    let text = io.to_string();
    let code = text
        .split_once("code: ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<i32>().ok());
    match code {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None if io.kind() == std::io::ErrorKind::StorageFull => std::io::Error::from_raw_os_error(nix::libc::ENOSPC),
        None => io,
    }
}

/// Lets go of a database handle without sled's destructor taking the
/// process down: sled 0.34.7 unwraps an `fsync` when its log is dropped, so
/// on a full disk closing a store panics (and, during an unwind, aborts).
/// Everything steward commits is flushed when it is committed, so a handle
/// whose final flush fails is simply not closed (the process exits soon, as
/// after a crash, which sled recovers from); one whose close still panics
/// is caught quietly.
pub(crate) fn close_db(db: sled::Db) {
    if db.flush().is_err() {
        std::mem::forget(db);
        return;
    }
    QUIET_PANIC.with(|q| q.set(true));
    install_quiet_panic_hook();
    let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(db)));
    QUIET_PANIC.with(|q| q.set(false));
    let _ = closed;
}

thread_local! {
    static QUIET_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wraps the panic hook in force so that a panic [`close_db`] expects is not
/// printed.
fn install_quiet_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANIC.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// A store directory whose lock we hold but which is not unlocked yet: the
/// point at which to ask for a passphrase.
#[derive(Debug)]
pub struct LockedStore {
    location: Location,
    home: Home,
    /// Held from the start by commands; taken only after a successful
    /// unlock at a login screen (see [`LockedStore::open_for_login`]).
    lock: Option<StoreLock>,
    slots: KeySlots,
}

/// An open, unlocked store.
pub struct Store {
    location: Location,
    home: Home,
    /// A directory store's lock (a PostgreSQL store is shared).
    _lock: Option<StoreLock>,
    slots: Mutex<KeySlots>,
    /// Replaced whole by a key rotation (see `rekey`); taken when the store
    /// is dropped. Use [`Store::db`].
    db: RwLock<Option<Db>>,
    /// Long-lived key the slots wrap; seals the data key and the audit trail.
    root: Key,
    audit_key: Key,
    keys: RwLock<DataKeys>,
    user: String,
    role: Role,
    /// Highest id handed out by `allocate_ids` in this process.
    high_water: Mutex<u128>,
    /// Serialises changes: the audit chain has one head.
    head: Mutex<audit::Head>,
    /// How many times the key-slot file on disk has sealed the head.
    slots_gen: std::sync::atomic::AtomicU64,
    /// This session's random name in change notices (see `change::notice`).
    token: String,
    /// This process is writing an import (its marker is not a dead one's).
    importing: std::sync::atomic::AtomicBool,
}

/// Other sessions' changes to a shared store, as they are announced.
pub struct Listener {
    inner: engine::PgListener,
    token: String,
}

impl Listener {
    /// Other sessions' changes announced within `timeout` (none: an empty
    /// list).
    pub fn wait(&mut self, timeout: std::time::Duration) -> Result<Vec<change::Notice>, StoreError> {
        Ok(self.inner.wait(timeout)?.iter().filter_map(|p| change::read_notice(p, &self.token)).collect())
    }
}

/// The keys that change with `rekey`.
#[derive(Clone)]
struct DataKeys {
    /// Wraps every record key.
    master: Key,
    epoch: u32,
    /// Blind index of source ids.
    index: Key,
    /// Keyed digests of record state in audit entries.
    state: Key,
}

impl DataKeys {
    fn new(master: Key, epoch: u32) -> Self {
        let index = master.derive("steward 2026 blind index v1");
        let state = master.derive("steward 2026 audit state digest v1");
        Self { master, epoch, index, state }
    }
}

/// How the first slot of a new store is made.
pub enum NewSlot {
    Passphrase(secrecy::SecretString, crypto::KdfCost),
    Recipient(String),
}

fn take_lock(dir: &Path, user: &str) -> Result<StoreLock, StoreError> {
    match StoreLock::acquire(&dir.join(LOCK_FILE), &LockInfo::current(user, "read-write")) {
        Ok(l) => Ok(l),
        Err(lock::LockError::Held(Some(info))) => Err(StoreError::InUse(info)),
        Err(lock::LockError::Held(None)) => Err(StoreError::InUseUnknown),
        Err(lock::LockError::Io(e)) => Err(StoreError::Io { what: "could not lock the store".into(), source: e }),
    }
}

fn read_slots(home: &Home, location: &Location) -> Result<KeySlots, StoreError> {
    let bytes = home.read(SLOTS_FILE)?.ok_or_else(|| StoreError::NotAStore(location.to_string()))?;
    #[derive(serde::Deserialize)]
    struct Probe {
        format: u32,
    }
    let probe: Probe = serde_json::from_slice(&bytes).map_err(|_| StoreError::NotAStore(location.to_string()))?;
    if probe.format > crypto::slots::SLOTS_FORMAT {
        return Err(StoreError::TooNew { found: probe.format, supported: crypto::slots::SLOTS_FORMAT });
    }
    serde_json::from_slice(&bytes).map_err(|_| StoreError::NotAStore(location.to_string()))
}

/// Writes the key-slot file atomically: temp file, fsync, rename, fsync dir
/// (one statement on PostgreSQL).
fn write_slots(home: &Home, slots: &KeySlots) -> Result<(), StoreError> {
    home.write(SLOTS_FILE, &slots.to_json(), true)
}

/// Creates `path` anew for writing (0600): whatever is at that name — a
/// stale temporary file, or a link planted to make steward write elsewhere —
/// is removed first, and the file is created exclusively (`O_EXCL` never
/// follows a link).
pub(crate) fn create_fresh(path: &Path) -> std::io::Result<fs::File> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// Temporary files a holder of the lock writes and renames into place; one
/// left behind was left by a holder that died (and may hold old key slots
/// or a copy of every record).
const STALE_TEMPORARIES: [&str; 3] = ["keyslots.json.tmp", "snapshot.steward.tmp", "match-index.sealed.tmp"];

/// Removes temporaries a dead holder left (call with the lock held).
fn sweep_temporaries(dir: &Path) -> Result<(), StoreError> {
    for name in STALE_TEMPORARIES {
        match fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Io { what: format!("could not remove the stale {name}"), source: e });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Bytes free for this user on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(st.blocks_available().saturating_mul(st.fragment_size()))
}

/// The apparent size of everything under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => tree_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Refuses a step that rewrites the database when the disk could fill up
/// under it: a rotation rewrites every value, and sled writes the new ones
/// before it can reclaim the old, so it needs about the database's size
/// again, plus a quarter (at least 8 MiB) for its log. (A write that fails half-way through sled
/// can leave files it will not open again: this check comes first.)
pub(crate) fn check_space_for_rewrite(dir: &Path) -> Result<(), StoreError> {
    let db = tree_bytes(&dir.join(DB_DIR));
    let needed = db + (db / 4).max(8 << 20);
    match free_bytes(dir) {
        Some(free) if free < needed => {
            Err(StoreError::NoSpace { needed_mb: needed.div_ceil(1 << 20), free_mb: free >> 20 })
        }
        _ => Ok(()),
    }
}

/// Refuses a store directory another user owns: they could replace its
/// files with links to files of their choosing.
fn check_owner(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(dir).map_err(io("could not read the store directory"))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(StoreError::NotOwned(dir.to_owned(), meta.uid()));
    }
    Ok(())
}

/// Restricts the store directory to its owner: dirs 0700, files 0600.
fn restrict_permissions(path: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(path).map_err(io("could not set store permissions"))?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io("could not set store permissions"))?;
        for entry in fs::read_dir(path).map_err(io("could not set store permissions"))? {
            restrict_permissions(&entry.map_err(io("could not set store permissions"))?.path())?;
        }
    } else if meta.is_file() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io("could not set store permissions"))?;
    }
    Ok(())
}

fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    let db = open_db_at(&dir.join(DB_DIR))?;
    restrict_permissions(dir)?;
    Ok(db)
}

/// The database of a store at `home`.
fn open_home(home: &Home) -> Result<Db, StoreError> {
    match home {
        Home::Dir(dir) => Ok(Db::Sled(open_db(dir)?)),
        Home::Pg(conn) => Ok(Db::Pg(conn.kv(engine::PG_TABLE))),
    }
}

/// Removes snapshot files sled left half-written.
///
/// sled 0.34.7 writes its snapshot to `snap.LSN.generating` and renames it
/// when complete, but when it lists snapshots at open it skips only a
/// different suffix (`.in___motion`): a `.generating` file left by a write
/// that failed (a full disk) or was killed sorts after the last good
/// snapshot, is read as the latest, and every later open fails with
/// "corrupted data" — the store looks destroyed although nothing in it is.
/// Such a file is never a valid snapshot (a complete one is renamed), so it
/// goes; sled then starts from the last complete snapshot and replays its
/// log from there, which is what it would have done had the write not
/// begun.
fn drop_unfinished_snapshots(path: &Path) -> Result<(), StoreError> {
    let Ok(entries) = fs::read_dir(path) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            fs::remove_file(e.path()).map_err(io("could not remove a half-written database snapshot"))?;
        }
    }
    Ok(())
}

/// Opens the sled database in directory `path`.
fn open_db_at(path: &Path) -> Result<sled::Db, StoreError> {
    drop_unfinished_snapshots(path)?;
    // We hold the store's lock, so no other steward has the database open;
    // a sled lock still held is our own previous handle, which sled's
    // background flusher lets go of a moment after it is dropped. Wait a
    // little for it rather than fail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let db = loop {
        let opened =
            sled::Config::new().path(path).cache_capacity(64 * 1024 * 1024).mode(sled::Mode::HighThroughput).open();
        match opened {
            Ok(db) => break db,
            Err(e) if is_would_block(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) if is_would_block(&e) => return Err(StoreError::InUseUnknown),
            Err(e) => return Err(StoreError::from(e)),
        }
    };
    Ok(db)
}

/// sled's own file lock is taken (it reports it as an I/O error).
fn is_would_block(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
                || io.get_ref().is_some_and(|inner| inner.to_string().contains("WouldBlock"))
        }
        _ => false,
    }
}

fn page_key(first: RecordId) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = P_PAGE;
    k[1..].copy_from_slice(&first.to_bytes());
    k
}

fn bucket_key(bucket: u16) -> [u8; 3] {
    let b = bucket.to_be_bytes();
    [P_SOURCE, b[0], b[1]]
}

fn dek_ad(id: RecordId) -> Vec<u8> {
    let mut ad = b"steward-dek-v1\0".to_vec();
    ad.extend_from_slice(&id.to_bytes());
    ad
}

fn rec_ad(id: RecordId) -> Vec<u8> {
    let mut ad = b"steward-rec-v1\0".to_vec();
    ad.extend_from_slice(&id.to_bytes());
    ad
}

/// Seals `plain` in an envelope: `[1][u16 LE len][wrapped key][sealed payload]`,
/// with a fresh key of its own wrapped by `master`.
fn seal_enveloped(master: &Key, key_ad: &[u8], ad: &[u8], plain: &[u8]) -> Vec<u8> {
    let dek = Key::random_fast();
    let wrapped = crypto::seal(master, key_ad, dek.as_bytes());
    let payload = crypto::seal(&dek, ad, plain);
    let mut out = Vec::with_capacity(3 + wrapped.len() + payload.len());
    out.push(1);
    out.extend_from_slice(&u16::try_from(wrapped.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&payload);
    out
}

/// The wrapped key and the sealed payload of an envelope.
fn split_envelope(value: &[u8]) -> Option<(&[u8], &[u8])> {
    if value.first() != Some(&1) || value.len() < 3 {
        return None;
    }
    let wlen = usize::from(u16::from_le_bytes([value[1], value[2]]));
    value[3..].split_at_checked(wlen)
}

/// Opens an envelope made by [`seal_enveloped`].
fn open_enveloped(master: &Key, key_ad: &[u8], ad: &[u8], value: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let (wrapped, payload) = split_envelope(value)?;
    let dek = Key::from_slice(&crypto::open(master, key_ad, wrapped).ok()?)?;
    crypto::open(&dek, ad, payload).ok()
}

/// Re-wraps an envelope's own key under `to`, trying each key of `from`
/// (the payload is not touched). `None` when no key opens it.
fn rewrap_enveloped(from: &[&Key], to: &Key, key_ad: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    let (wrapped, payload) = split_envelope(value)?;
    let dek = from.iter().find_map(|k| crypto::open(k, key_ad, wrapped).ok())?;
    let rewrapped = crypto::seal(to, key_ad, &dek);
    let mut out = Vec::with_capacity(3 + rewrapped.len() + payload.len());
    out.push(1);
    out.extend_from_slice(&u16::try_from(rewrapped.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&rewrapped);
    out.extend_from_slice(payload);
    Some(out)
}

/// Seals a record under its own key, wrapped by `master`.
pub fn seal_record(master: &Key, record: &Record) -> Vec<u8> {
    let plain = zeroize::Zeroizing::new(model::encode(record));
    seal_enveloped(master, &dek_ad(record.id), &rec_ad(record.id), &plain)
}

/// Opens what [`seal_record`] wrote for record `id`.
pub fn open_record(master: &Key, id: RecordId, value: &[u8]) -> Result<Record, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("record {id}"));
    let plain = open_enveloped(master, &dek_ad(id), &rec_ad(id), value).ok_or_else(corrupt)?;
    let record = model::decode(&plain)?;
    if record.id != id {
        return Err(corrupt());
    }
    Ok(record)
}

const FAILED_LOGINS: &str = "failed-logins.jsonl";

/// A failed unlock, kept until the next successful one audits it.
#[derive(serde::Serialize, serde::Deserialize)]
struct FailedLogin {
    time: chrono::DateTime<chrono::Utc>,
    user: String,
    os_user: String,
}

/// Appends a failed unlock; returns how many are on file for `user`.
fn record_failed_login(home: &Home, user: &str) -> usize {
    let entry = FailedLogin { time: model::now(), user: crate::model::text::fit(user, 64), os_user: crate::os_user() };
    let line = serde_json::to_string(&entry).unwrap_or_default();
    match home {
        Home::Dir(dir) => {
            // Never through a link planted under this name.
            let nofollow = nix::fcntl::OFlag::O_NOFOLLOW.bits();
            if let Ok(mut f) = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .custom_flags(nofollow)
                .open(dir.join(FAILED_LOGINS))
            {
                let _ = writeln!(f, "{line}").and_then(|_| f.sync_all());
            }
        }
        // One row each: sessions failing at once must not overwrite each
        // other's (a read-modify-write of one row would).
        Home::Pg(_) => {
            let _ = home.write(&format!("{FAILED_LOGINS}/{}", ulid::Ulid::new()), line.as_bytes(), true);
        }
    }
    read_failed_logins(home).0.iter().filter(|f| f.user == entry.user).count()
}

/// The failed unlocks on file, and the names of the files (rows) they are in.
fn read_failed_logins(home: &Home) -> (Vec<FailedLogin>, Vec<String>) {
    let files: Vec<(String, Vec<u8>)> = match home {
        Home::Dir(_) => home.read(FAILED_LOGINS).ok().flatten().map(|b| vec![(FAILED_LOGINS.to_owned(), b)]),
        Home::Pg(conn) => conn.files_under(&format!("{FAILED_LOGINS}/")).ok(),
    }
    .unwrap_or_default();
    let logins = files
        .iter()
        .flat_map(|(_, b)| {
            String::from_utf8_lossy(b).lines().filter_map(|l| serde_json::from_str(l).ok()).collect::<Vec<_>>()
        })
        .collect();
    (logins, files.into_iter().map(|(n, _)| n).collect())
}

/// How long to wait before reporting the `n`th failure in a row: nothing for
/// the first, then 1, 2, 4 ... seconds, at most 30.
pub fn login_delay(n: usize) -> std::time::Duration {
    match n {
        0 | 1 => std::time::Duration::ZERO,
        n => std::time::Duration::from_secs((1u64 << (n - 2).min(5)).min(30)),
    }
}

impl LockedStore {
    /// Opens an existing store without unlocking it. Fails fast, before any
    /// passphrase is asked for, when the store is missing, foreign, too new
    /// or (a directory store) in use.
    pub fn open(location: impl Into<Location>, user: &str) -> Result<Self, StoreError> {
        let location = location.into();
        match &location {
            Location::Dir(dir) => {
                let mut probe = Self::probe_dir(dir)?;
                probe.lock = Some(take_lock(dir, user)?);
                sweep_temporaries(dir)?;
                rekey::sweep_databases(dir)?;
                Ok(probe)
            }
            Location::Postgres(url) => {
                let conn = PgConn::connect(url)?;
                if !conn.has_store()? {
                    return Err(StoreError::NotFound(location.to_string()));
                }
                let home = Home::Pg(conn);
                let slots = read_slots(&home, &location)?;
                Ok(Self { location, home, lock: None, slots })
            }
        }
    }

    fn probe_dir(dir: &Path) -> Result<Self, StoreError> {
        if !dir.exists() {
            return Err(StoreError::NotFound(dir.display().to_string()));
        }
        let location = Location::Dir(dir.to_owned());
        if !dir.join(SLOTS_FILE).exists() {
            return Err(StoreError::NotAStore(location.to_string()));
        }
        check_owner(dir)?;
        let home = Home::Dir(dir.to_owned());
        let slots = read_slots(&home, &location)?;
        Ok(Self { location, home, lock: None, slots })
    }

    /// Like [`LockedStore::open`] for a login screen: says at once when the
    /// store is in use, but does not hold the lock while someone types — an
    /// unauthenticated login screen must neither block the store nor be
    /// shown to others as its holder. The lock is taken by the unlock that
    /// succeeds.
    pub fn open_for_login(location: impl Into<Location>, user: &str) -> Result<Self, StoreError> {
        let mut probe = Self::open(location, user)?;
        probe.lock = None;
        Ok(probe)
    }

    /// What kind of secret `user` needs, if they have a slot.
    pub fn slot_kind(&self, user: &str) -> Option<&crypto::SlotKind> {
        self.slots.find(user).map(|s| &s.kind)
    }

    /// Unwraps the root key and opens the database.
    pub fn unlock(self, user: &str, secret: &UnlockSecret) -> Result<Store, StoreError> {
        self.attempt(user, secret).map_err(|(_, e)| e)
    }

    /// Like [`LockedStore::unlock`], but a wrong secret gives the locked
    /// store back (still locked), so a login screen can ask again.
    pub fn attempt(self, user: &str, secret: &UnlockSecret) -> Result<Store, (Option<Box<LockedStore>>, StoreError)> {
        let (root, role) = match self.slots.unlock(user, secret) {
            Ok(k) => k,
            Err(e @ SlotError::WrongSecret(_)) => {
                // Remembered (no secret, just who and when) until the next
                // successful unlock puts it in the audit trail; each failure
                // in a row waits longer before it is reported.
                let failures = record_failed_login(&self.home, user);
                std::thread::sleep(login_delay(failures));
                return Err((Some(Box::new(self)), e.into()));
            }
            Err(e) => return Err((Some(Box::new(self)), e.into())),
        };
        let fail = |e: StoreError| (None, e);
        let (lock, slots, root, role) = match (self.lock, &self.home) {
            (Some(lock), _) => (Some(lock), self.slots, root, role),
            (None, Home::Pg(_)) => {
                // Shared: the slots as they are now (another admin may have
                // changed them while the passphrase was typed).
                let now = read_slots(&self.home, &self.location).map_err(fail)?;
                // The same slot wraps the same root key: no second
                // derivation (others' changes touch the head and their slots).
                let slot_of = |s: &KeySlots| s.find(user).and_then(|s| serde_json::to_vec(s).ok());
                if slot_of(&now).is_some() && slot_of(&now) == slot_of(&self.slots) {
                    (None, now, root, role)
                } else {
                    let (root, role) = now.unlock(user, secret).map_err(|e| fail(e.into()))?;
                    (None, now, root, role)
                }
            }
            (None, Home::Dir(dir)) => {
                // Authenticated: now take the lock (someone may have taken
                // it while the passphrase was typed), and unlock against
                // the slot file as it is under the lock.
                let lock = match take_lock(dir, user) {
                    Ok(l) => l,
                    Err(e) => return Err((Some(Box::new(LockedStore { lock: None, ..self })), e)),
                };
                sweep_temporaries(dir).map_err(fail)?;
                rekey::sweep_databases(dir).map_err(fail)?;
                let now = read_slots(&self.home, &self.location).map_err(fail)?;
                if now.to_json() == self.slots.to_json() {
                    (Some(lock), self.slots, root, role)
                } else {
                    let (root, role) = now.unlock(user, secret).map_err(|e| fail(e.into()))?;
                    (Some(lock), now, root, role)
                }
            }
        };
        let db = open_home(&self.home).map_err(fail)?;
        let store = Store::assemble(self.location, self.home, lock, slots, db, root, user, role).map_err(fail)?;
        store.check_format().map_err(fail)?;
        store.recover().map_err(fail)?;
        Ok(store)
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.location
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let slot = match self.db.get_mut() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(Db::Sled(db)) = slot.take() {
            close_db(db);
        }
    }
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        location: Location,
        home: Home,
        lock: Option<StoreLock>,
        slots: KeySlots,
        db: Db,
        root: Key,
        user: &str,
        role: Role,
    ) -> Result<Self, StoreError> {
        let (master, epoch) = slots.current_data_key(&root)?;
        let audit_key = root.derive("steward 2026 audit chain v1");
        let generation =
            slots.audit_head(&root)?.and_then(|b| audit::SealedHead::decode(&b)).map_or(0, |s| s.generation);
        Ok(Self {
            location,
            home,
            _lock: lock,
            slots: Mutex::new(slots),
            db: RwLock::new(Some(db)),
            root,
            audit_key,
            keys: RwLock::new(DataKeys::new(master, epoch)),
            user: user.to_owned(),
            role,
            high_water: Mutex::new(0),
            head: Mutex::new(audit::Head::EMPTY),
            slots_gen: std::sync::atomic::AtomicU64::new(generation),
            token: audit::hex(&Key::random().as_bytes()[..8]),
            importing: false.into(),
        })
    }

    /// The database handle in force (cheap: a reference count).
    fn db(&self) -> Db {
        let db = match self.db.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        db.expect("the database is open until the store is dropped")
    }

    fn keys(&self) -> DataKeys {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Brings the store to a consistent state after an interrupted run:
    /// rolls back a half-written import, finishes an interrupted rekey, and
    /// finds the audit chain head.
    fn recover(&self) -> Result<(), StoreError> {
        {
            // With the writers' lock: on a shared store, no other process is
            // half-way through an import or a rotation now, so what one left
            // behind is a dead writer's.
            let mut head = self.lock_head()?;
            if let Home::Pg(conn) = &self.home {
                conn.drop_next()?;
            }
            if let Some(v) = self.db().get(meta_key(IMPORT_PENDING))? {
                let first = <[u8; 16]>::try_from(v.as_ref())
                    .map(RecordId::from_bytes)
                    .map_err(|_| StoreError::Corrupt("import marker".into()))?;
                self.roll_back_import(first)?;
            }
            *head = self.last_audit_head()?;
        }
        if self.lock_slots()?.next_data_key.is_some() || self.db().contains_key(meta_key(REKEY_PENDING))? {
            match self.rekey(&|_| {}) {
                // Not finished for want of space (refused before it began,
                // or the disk filled while it built the new database): the
                // live database was only read, or is already the rotated one
                // with the keys in memory to match, so the store opens as it
                // is and `rotation_waiting` says the rotation still waits.
                Err(StoreError::NoSpace { .. } | StoreError::Io { .. }) => {}
                other => {
                    other?;
                }
            }
        }
        // From here on with the change lock held throughout: on a shared
        // store another session's change between reading the chain, the
        // sealed head and the database's head would look like tampering.
        let mut guard = self.lock_head()?;
        let (failed, failed_files) = read_failed_logins(&self.home);
        for f in &failed {
            self.audit_locked(
                &mut guard,
                audit::Draft {
                    os_user: f.os_user.clone(),
                    user: f.user.clone(),
                    action: "login".into(),
                    outcome: Some(audit::Outcome::Denied),
                    detail: Some(format!(
                        "failed unlock at {} (wrong passphrase or key)",
                        f.time.format("%Y-%m-%d %H:%M:%S UTC")
                    )),
                    ..audit::Draft::default()
                },
            )?;
        }
        if !failed.is_empty() {
            // Only those audited: another failure may have come meanwhile.
            for name in &failed_files {
                self.home.remove(name)?;
            }
        }
        let head = *guard;
        let sealed = self.sealed_head()?;
        let db_head = self.db_head()?;
        // The key-slot file put back from an old copy, entries cut from the
        // tail, the database's copy of the head deleted: say so in the trail
        // itself, for good, before anything is appended.
        let problem = audit::check_heads(head.seq, sealed, db_head).or_else(|| match sealed {
            Some(s) if head.seq < s.head.seq => Some(format!(
                "entries {} to {} were missing at unlock: the trail was truncated",
                head.seq + 1,
                s.head.seq
            )),
            _ => None,
        });
        if let Some(problem) = problem {
            self.audit_locked(
                &mut guard,
                audit::Draft {
                    os_user: crate::os_user(),
                    user: self.user.clone(),
                    action: audit::ALARM.into(),
                    outcome: Some(audit::Outcome::Failed),
                    detail: Some(problem),
                    ..audit::Draft::default()
                },
            )?;
            return Ok(());
        }
        match sealed {
            // A crash between a change's flush and the head's sealing leaves
            // the sealed head behind by one change: catch it up.
            Some(s) if head.seq > s.head.seq => self.seal_head(head)?,
            Some(_) => {}
            // Stores made before the head was sealed at creation.
            None if head.seq == 0 => self.seal_head(head)?,
            None => {}
        }
        Ok(())
    }

    fn lock_slots(&self) -> Result<std::sync::MutexGuard<'_, KeySlots>, StoreError> {
        self.slots.lock().map_err(|_| StoreError::Db("key slots poisoned".into()))
    }

    /// Creates a new store in `dir` (which must not exist or be empty) with
    /// `user` as its first admin.
    pub fn create(location: &Location, user: &str, slot: NewSlot) -> Result<Store, StoreError> {
        let (home, lock, db) = Self::create_empty(location, user)?;
        let root = Key::random();
        let mut slots = KeySlots::new();
        match slot {
            NewSlot::Passphrase(p, cost) => slots.add_passphrase(&root, user, Role::Admin, &p, cost)?,
            NewSlot::Recipient(r) => slots.add_recipient(&root, user, Role::Admin, &r)?,
        }
        slots.data_key = Some(slots.seal_key(&root, &Key::random(), 1));
        db.insert(meta_key("format"), STORE_FORMAT.to_le_bytes())?;
        slots.set_audit_head(&root, &audit::SealedHead { head: audit::Head::EMPTY, generation: 1 }.encode());
        write_slots(&home, &slots)?;
        if let Some(dir) = home.dir() {
            restrict_permissions(dir)?;
        }
        Store::assemble(location.clone(), home, lock, slots, db, root, user, Role::Admin)
    }

    /// An empty database at `location` (which must not hold a store), with
    /// its lock for a directory.
    fn create_empty(location: &Location, user: &str) -> Result<(Home, Option<StoreLock>, Db), StoreError> {
        match location {
            Location::Dir(dir) => {
                if dir.exists() && fs::read_dir(dir).map_err(io("could not read the store directory"))?.next().is_some()
                {
                    return Err(StoreError::Exists(location.to_string()));
                }
                if dir.exists() {
                    check_owner(dir)?;
                }
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io(format!("could not create {}", dir.display())))?;
                let lock = take_lock(dir, user)?;
                let db = Db::Sled(open_db(dir)?);
                Ok((Home::Dir(dir.clone()), Some(lock), db))
            }
            Location::Postgres(url) => {
                let conn = PgConn::connect(url)?;
                if conn.has_store()? {
                    return Err(StoreError::Exists(location.to_string()));
                }
                conn.create_tables()?;
                let db = Db::Pg(conn.kv(engine::PG_TABLE));
                Ok((Home::Pg(conn), None, db))
            }
        }
    }

    fn check_format(&self) -> Result<(), StoreError> {
        let found = self
            .db()
            .get(meta_key("format"))?
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| StoreError::NotAStore(self.location.to_string()))?;
        if found > STORE_FORMAT {
            return Err(StoreError::TooNew { found, supported: STORE_FORMAT });
        }
        Ok(())
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Listens for other sessions' changes (a shared store; `None` for a
    /// directory, which no other process can change).
    pub fn listen(&self) -> Result<Option<Listener>, StoreError> {
        match &self.home {
            Home::Pg(conn) => Ok(Some(Listener { inner: conn.listen()?, token: self.token.clone() })),
            Home::Dir(_) => Ok(None),
        }
    }

    /// Names this session to the others (see [`Store::present`]).
    pub fn announce(&self, name: &str) -> Result<(), StoreError> {
        match &self.home {
            Home::Pg(conn) => conn.announce(name),
            Home::Dir(_) => Ok(()),
        }
    }

    /// Who else has the store open now (a shared store; none for a directory).
    pub fn present(&self) -> Result<Vec<String>, StoreError> {
        match &self.home {
            Home::Pg(conn) => conn.present(),
            Home::Dir(_) => Ok(Vec::new()),
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// A copy of the key-slot file's contents.
    pub fn slots(&self) -> Result<KeySlots, StoreError> {
        Ok(self.lock_slots()?.clone())
    }

    /// The generation of the data key (counts up with each `rekey`).
    pub fn key_epoch(&self) -> u32 {
        self.keys().epoch
    }

    /// The blind-index key of (source, source id).
    pub fn blind(&self, source: &str, source_id: &str) -> Blind {
        blind_with(&self.keys().index, source, source_id)
    }

    /// Keyed digest of records' state, for audit entries (hex, 128 bits).
    pub fn state_digest(&self, records: &[Record]) -> String {
        let keys = self.keys();
        let mut h = blake3::Hasher::new_keyed(keys.state.as_bytes());
        for r in records {
            h.update(&model::encode(r));
        }
        audit::hex(&h.finalize().as_bytes()[..16])
    }

    fn bucket(&self, n: u16) -> Result<Bucket, StoreError> {
        match self.db().get(bucket_key(n))? {
            Some(v) => Bucket::decode(&v).ok_or_else(|| StoreError::Corrupt("source index".into())),
            None => Ok(Bucket::default()),
        }
    }

    /// The record that holds `source_id` from `source`, if any.
    pub fn lookup_source(&self, source: &str, source_id: &str) -> Result<Option<RecordId>, StoreError> {
        let b = self.blind(source, source_id);
        Ok(self.bucket(bucket_of(&b))?.get(&b))
    }

    /// The whole source index, for bulk imports.
    pub fn source_index(&self) -> Result<HashMap<Blind, RecordId>, StoreError> {
        let mut out = HashMap::new();
        for kv in self.db().scan_prefix([P_SOURCE]) {
            let (_, v) = kv?;
            let b = Bucket::decode(&v).ok_or_else(|| StoreError::Corrupt("source index".into()))?;
            out.extend(b.entries);
        }
        Ok(out)
    }

    /// The page that would hold `id`: the last page keyed at or below it.
    fn find_page(&self, id: RecordId) -> Result<Option<([u8; 17], Page)>, StoreError> {
        let lo = page_key(RecordId::from_bytes([0; 16]));
        match self.db().range_inclusive(&lo, &page_key(id)).next_back() {
            Some(kv) => {
                let (k, v) = kv?;
                let key: [u8; 17] = k.as_ref().try_into().map_err(|_| StoreError::Corrupt("page key".into()))?;
                let page = Page::decode(&v).map_err(|_| StoreError::Corrupt("record page".into()))?;
                Ok(Some((key, page)))
            }
            None => Ok(None),
        }
    }

    /// One record by id.
    pub fn get(&self, id: RecordId) -> Result<Option<Record>, StoreError> {
        match self.get_once(id) {
            // On a shared store another session may have rotated the key.
            Err(StoreError::Corrupt(_)) if matches!(self.home, Home::Pg(_)) => {
                self.refresh()?;
                self.get_once(id)
            }
            other => other,
        }
    }

    fn get_once(&self, id: RecordId) -> Result<Option<Record>, StoreError> {
        let Some((_, page)) = self.find_page(id)? else { return Ok(None) };
        match page.position(id) {
            Some(i) => open_record(&self.keys().master, id, &page.entries[i].1).map(Some),
            None => Ok(None),
        }
    }

    /// Number of records (kept as a counter; no decryption).
    pub fn count(&self) -> usize {
        self.db()
            .get(meta_key("count"))
            .ok()
            .flatten()
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(|b| u64::from_le_bytes(b) as usize)
            .unwrap_or(0)
    }

    fn last_page(&self) -> Result<Option<([u8; 17], Page)>, StoreError> {
        match self.db().scan_prefix([P_PAGE]).next_back() {
            Some(kv) => {
                let (k, v) = kv?;
                let key: [u8; 17] = k.as_ref().try_into().map_err(|_| StoreError::Corrupt("page key".into()))?;
                Ok(Some((key, Page::decode(&v).map_err(|_| StoreError::Corrupt("record page".into()))?)))
            }
            None => Ok(None),
        }
    }

    /// `n` fresh ids, in increasing order, greater than every id in the
    /// store (so new records append to the last page).
    pub fn allocate_ids(&self, n: usize) -> Result<Vec<RecordId>, StoreError> {
        let last = self.last_page()?.and_then(|(_, p)| p.entries.last().map(|(id, _)| id.0.0)).unwrap_or(0);
        let mut high = self.high_water.lock().map_err(|_| StoreError::Db("id allocator poisoned".into()))?;
        let base = ulid::Ulid::new().0.max(last.saturating_add(1)).max(*high);
        *high = base.saturating_add(n as u128);
        Ok((0..n as u128).map(|k| RecordId(ulid::Ulid(base.saturating_add(k)))).collect())
    }

    /// Decrypts every record, in id order, spread over all cores;
    /// `progress(done)` is called between chunks.
    pub fn load_all(&self, progress: &mut dyn FnMut(usize)) -> Result<Vec<Record>, StoreError> {
        self.refresh()?;
        self.load_all_with(&self.keys().master, progress)
    }

    fn load_all_with(&self, master: &Key, progress: &mut dyn FnMut(usize)) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::with_capacity(self.count());
        self.chunks_with(master, 2048, &mut |chunk| {
            out.extend(chunk);
            progress(out.len());
            true
        })?;
        Ok(out)
    }

    /// Every record, a chunk of `pages` pages at a time (decrypted in
    /// parallel), in id order, until `f` returns false: memory stays at one
    /// chunk whatever the store's size.
    pub fn each_chunk(&self, pages: usize, f: &mut dyn FnMut(Vec<Record>) -> bool) -> Result<(), StoreError> {
        self.refresh()?;
        self.chunks_with(&self.keys().master, pages, f)
    }

    fn chunks_with(
        &self,
        master: &Key,
        pages: usize,
        f: &mut dyn FnMut(Vec<Record>) -> bool,
    ) -> Result<(), StoreError> {
        let mut raw: Vec<IVec> = Vec::with_capacity(pages);
        let mut iter = self.db().scan_prefix([P_PAGE]);
        loop {
            raw.clear();
            for item in iter.by_ref().take(pages.max(1)) {
                raw.push(item?.1);
            }
            if raw.is_empty() {
                return Ok(());
            }
            let chunk: Result<Vec<Vec<Record>>, StoreError> = raw
                .par_iter()
                .map(|v| {
                    let mut recs = Vec::with_capacity(PAGE_CAP);
                    let mut err = None;
                    Page::walk(v, |id, sealed| match open_record(master, id, sealed) {
                        Ok(r) => recs.push(r),
                        Err(e) => err = Some(e),
                    })
                    .map_err(|_| StoreError::Corrupt("record page".into()))?;
                    match err {
                        Some(e) => Err(e),
                        None => Ok(recs),
                    }
                })
                .collect();
            if !f(chunk?.into_iter().flatten().collect()) {
                return Ok(());
            }
        }
    }

    /// Ids of every record, in id order.
    pub fn ids(&self) -> Result<Vec<RecordId>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db().scan_prefix([P_PAGE]) {
            let (_, v) = kv?;
            Page::walk(&v, |id, _| out.push(id)).map_err(|_| StoreError::Corrupt("record page".into()))?;
        }
        Ok(out)
    }

    /// A metadata value (not personal data: settings, the policy).
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db().get(meta_key(name))?.map(|v| v.to_vec()))
    }

    /// Writes a metadata value and flushes.
    pub fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db().insert(meta_key(name), value)
    }

    /// Bytes used on disk by the database.
    /// Whether a key rotation an erasure asked for has not run yet (it
    /// waits for free disk space: see [`check_space_for_rewrite`]).
    pub fn rotation_waiting(&self) -> Result<bool, StoreError> {
        Ok(self.lock_slots()?.next_data_key.is_some() || self.db().contains_key(meta_key(REKEY_PENDING))?)
    }

    /// Values in the database (record pages, index buckets, audit entries
    /// …): what a copy writes.
    pub fn values(&self) -> Result<u64, StoreError> {
        self.db().len()
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db().size_on_disk()
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db().flush()
    }
}

fn blind_with(index: &Key, source: &str, source_id: &str) -> Blind {
    let h = index.keyed_hash(&[b"source", source.as_bytes(), source_id.as_bytes()]);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b
}

fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![P_META];
    k.extend_from_slice(name.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_read_as_one_plain_line() {
        let full = StoreError::from(sled::Error::Io(std::io::Error::from_raw_os_error(nix::libc::ENOSPC)));
        let text = full.to_string();
        assert!(text.starts_with("the disk is full"), "{text}");
        let corrupt = StoreError::from(sled::Error::Corruption { at: None, bt: () }).to_string();
        assert!(!corrupt.contains("DiskPtr") && !corrupt.contains("bt") && !corrupt.contains('{'), "{corrupt}");
        assert!(corrupt.contains("damaged"), "{corrupt}");
    }

    #[test]
    fn sealed_record_is_bound_to_its_id() {
        let master = Key::random();
        let r = Record::new("crm", "1", chrono::Utc::now());
        let sealed = seal_record(&master, &r);
        assert_eq!(open_record(&master, r.id, &sealed).ok(), Some(r.clone()));
        assert!(open_record(&master, RecordId::new(), &sealed).is_err());
        assert!(open_record(&Key::random(), r.id, &sealed).is_err());
    }
}
