//! The encrypted store: sled behind one module, key slots beside it.
//!
//! Nothing else in the crate touches sled. Layout of a store directory
//! (0700, files 0600):
//!
//! - `keyslots.json`: the master key wrapped per user (see `crypto::slots`);
//!   its presence marks a complete steward store.
//! - `steward.lock`: exclusive lock and who holds it (see [`lock`]).
//! - `db/`: sled. One tree, keys by prefix, so that any change — records,
//!   indexes and later its audit entry — is one atomic `apply_batch`:
//!   - `p` + first record id → a page of up to 16 sealed records
//!     (see [`page`], [`seal_record`]);
//!   - `s` + bucket number → blind-index bucket: keyed hash of
//!     (source, source id) → record id; no plaintext key reaches the disk
//!     (see [`index`]);
//!   - `m` + name → store metadata.
//!
//! Each record is sealed with XChaCha20-Poly1305 under its own random data
//! key, the record id bound as associated data; the data key is wrapped by
//! the master key. Nothing is reported as done before `flush`.

pub mod index;
pub mod lock;
pub mod page;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::crypto::{self, Key, KeySlots, Role, UnlockSecret, slots::SlotError};
use crate::model::{self, Record, RecordId};
pub use index::Blind;
use index::{Bucket, bucket_of};
pub use lock::{LockInfo, StoreLock};
use page::{PAGE_CAP, Page};

/// Version of the store layout written by this build.
pub const STORE_FORMAT: u32 = 1;

const SLOTS_FILE: &str = "keyslots.json";
const LOCK_FILE: &str = "steward.lock";
const DB_DIR: &str = "db";

const P_PAGE: u8 = b'p';
const P_SOURCE: u8 = b's';
const P_META: u8 = b'm';

/// Everything that can go wrong opening or using a store. Messages are one
/// line, name paths but never personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no steward store at {0} (create one with `steward init`)")]
    NotFound(PathBuf),
    #[error("{0} is not a steward store (no {SLOTS_FILE})")]
    NotAStore(PathBuf),
    #[error("{0} already exists and is not empty; refusing to create a store there")]
    Exists(PathBuf),
    #[error("store format {found} is newer than this steward supports ({supported}); upgrade steward")]
    TooNew { found: u32, supported: u32 },
    #[error("store is in use by {0}")]
    InUse(Box<LockInfo>),
    #[error("store is in use by another steward process (its details could not be read)")]
    InUseUnknown,
    #[error("{0}")]
    Slot(#[from] SlotError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("database error: {0}")]
    Db(String),
    #[error("store data is corrupt or was sealed with another key: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Decode(#[from] model::DecodeError),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) => StoreError::Io { what: "database I/O".into(), source: io },
            other => StoreError::Db(other.to_string()),
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// A store directory whose lock we hold but which is not unlocked yet: the
/// point at which to ask for a passphrase.
#[derive(Debug)]
pub struct LockedStore {
    dir: PathBuf,
    lock: StoreLock,
    slots: KeySlots,
}

/// An open, unlocked store.
pub struct Store {
    dir: PathBuf,
    _lock: StoreLock,
    slots: KeySlots,
    db: sled::Db,
    master: Key,
    index_key: Key,
    user: String,
    role: Role,
    /// Highest id handed out by `allocate_ids` in this process.
    high_water: std::sync::Mutex<u128>,
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

fn read_slots(dir: &Path) -> Result<KeySlots, StoreError> {
    let path = dir.join(SLOTS_FILE);
    let bytes = fs::read(&path).map_err(io(format!("could not read {}", path.display())))?;
    #[derive(serde::Deserialize)]
    struct Probe {
        format: u32,
    }
    let probe: Probe = serde_json::from_slice(&bytes).map_err(|_| StoreError::NotAStore(dir.to_owned()))?;
    if probe.format > crypto::slots::SLOTS_FORMAT {
        return Err(StoreError::TooNew { found: probe.format, supported: crypto::slots::SLOTS_FORMAT });
    }
    serde_json::from_slice(&bytes).map_err(|_| StoreError::NotAStore(dir.to_owned()))
}

/// Writes the key-slot file atomically: temp file, fsync, rename, fsync dir.
fn write_slots(dir: &Path, slots: &KeySlots) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{SLOTS_FILE}.tmp"));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("could not write key slots"))?;
    f.write_all(&slots.to_json()).and_then(|_| f.sync_all()).map_err(io("could not write key slots"))?;
    fs::rename(&tmp, dir.join(SLOTS_FILE)).map_err(io("could not write key slots"))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("could not sync the store directory"))?;
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
    let db = sled::Config::new()
        .path(dir.join(DB_DIR))
        .cache_capacity(64 * 1024 * 1024)
        .mode(sled::Mode::HighThroughput)
        .open()
        .map_err(|e| match e {
            sled::Error::Io(source) if source.kind() == std::io::ErrorKind::WouldBlock => StoreError::InUseUnknown,
            other => StoreError::from(other),
        })?;
    restrict_permissions(dir)?;
    Ok(db)
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

/// Seals a record: `[1][u16 LE len][wrapped data key][sealed payload]`.
pub fn seal_record(master: &Key, record: &Record) -> Vec<u8> {
    let dek = Key::random_fast();
    let wrapped = crypto::seal(master, &dek_ad(record.id), dek.as_bytes());
    let plain = zeroize::Zeroizing::new(model::encode(record));
    let payload = crypto::seal(&dek, &rec_ad(record.id), &plain);
    let mut out = Vec::with_capacity(3 + wrapped.len() + payload.len());
    out.push(1);
    out.extend_from_slice(&u16::try_from(wrapped.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&payload);
    out
}

/// Opens what [`seal_record`] wrote for record `id`.
pub fn open_record(master: &Key, id: RecordId, value: &[u8]) -> Result<Record, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("record {id}"));
    if value.first() != Some(&1) || value.len() < 3 {
        return Err(corrupt());
    }
    let wlen = usize::from(u16::from_le_bytes([value[1], value[2]]));
    let (wrapped, payload) = value[3..].split_at_checked(wlen).ok_or_else(corrupt)?;
    let dek_bytes = crypto::open(master, &dek_ad(id), wrapped).map_err(|_| corrupt())?;
    let dek = Key::from_slice(&dek_bytes).ok_or_else(corrupt)?;
    let plain = crypto::open(&dek, &rec_ad(id), payload).map_err(|_| corrupt())?;
    let record = model::decode(&plain)?;
    if record.id != id {
        return Err(corrupt());
    }
    Ok(record)
}

impl LockedStore {
    /// Locks an existing store directory. Fails fast, before any passphrase
    /// is asked for, when the store is missing, foreign, too new or in use.
    pub fn open(dir: &Path, user: &str) -> Result<Self, StoreError> {
        if !dir.exists() {
            return Err(StoreError::NotFound(dir.to_owned()));
        }
        if !dir.join(SLOTS_FILE).exists() {
            return Err(StoreError::NotAStore(dir.to_owned()));
        }
        let slots = read_slots(dir)?;
        let lock = take_lock(dir, user)?;
        Ok(Self { dir: dir.to_owned(), lock, slots })
    }

    /// What kind of secret `user` needs, if they have a slot.
    pub fn slot_kind(&self, user: &str) -> Option<&crypto::SlotKind> {
        self.slots.find(user).map(|s| &s.kind)
    }

    /// Unwraps the master key and opens the database.
    pub fn unlock(self, user: &str, secret: &UnlockSecret) -> Result<Store, StoreError> {
        let (master, role) = self.slots.unlock(user, secret)?;
        let db = open_db(&self.dir)?;
        let store = Store::assemble(self.dir, self.lock, self.slots, db, master, user, role);
        store.check_format()?;
        Ok(store)
    }
}

impl Store {
    fn assemble(
        dir: PathBuf,
        lock: StoreLock,
        slots: KeySlots,
        db: sled::Db,
        master: Key,
        user: &str,
        role: Role,
    ) -> Self {
        let index_key = master.derive("steward 2026 blind index v1");
        Self {
            dir,
            _lock: lock,
            slots,
            db,
            master,
            index_key,
            user: user.to_owned(),
            role,
            high_water: std::sync::Mutex::new(0),
        }
    }

    /// Creates a new store in `dir` (which must not exist or be empty) with
    /// `user` as its first admin.
    pub fn create(dir: &Path, user: &str, slot: NewSlot) -> Result<Store, StoreError> {
        if dir.exists() && fs::read_dir(dir).map_err(io("could not read the store directory"))?.next().is_some() {
            return Err(StoreError::Exists(dir.to_owned()));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(format!("could not create {}", dir.display())))?;
        let lock = take_lock(dir, user)?;
        let master = Key::random();
        let mut slots = KeySlots::new();
        match slot {
            NewSlot::Passphrase(p, cost) => slots.add_passphrase(&master, user, Role::Admin, &p, cost)?,
            NewSlot::Recipient(r) => slots.add_recipient(&master, user, Role::Admin, &r)?,
        }
        let db = open_db(dir)?;
        db.insert(meta_key("format"), &STORE_FORMAT.to_le_bytes())?;
        db.flush()?;
        write_slots(dir, &slots)?;
        restrict_permissions(dir)?;
        Ok(Store::assemble(dir.to_owned(), lock, slots, db, master, user, Role::Admin))
    }

    fn check_format(&self) -> Result<(), StoreError> {
        let found = self
            .db
            .get(meta_key("format"))?
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| StoreError::NotAStore(self.dir.clone()))?;
        if found > STORE_FORMAT {
            return Err(StoreError::TooNew { found, supported: STORE_FORMAT });
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn slots(&self) -> &KeySlots {
        &self.slots
    }

    /// The blind-index key of (source, source id).
    pub fn blind(&self, source: &str, source_id: &str) -> Blind {
        let h = self.index_key.keyed_hash(&[b"source", source.as_bytes(), source_id.as_bytes()]);
        let mut b = [0u8; 16];
        b.copy_from_slice(&h[..16]);
        b
    }

    fn bucket(&self, n: u16) -> Result<Bucket, StoreError> {
        match self.db.get(bucket_key(n))? {
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
        for kv in self.db.scan_prefix([P_SOURCE]) {
            let (_, v) = kv?;
            let b = Bucket::decode(&v).ok_or_else(|| StoreError::Corrupt("source index".into()))?;
            out.extend(b.entries);
        }
        Ok(out)
    }

    /// The page that would hold `id`: the last page keyed at or below it.
    fn find_page(&self, id: RecordId) -> Result<Option<([u8; 17], Page)>, StoreError> {
        let lo = page_key(RecordId::from_bytes([0; 16]));
        match self.db.range(lo..=page_key(id)).next_back() {
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
        let Some((_, page)) = self.find_page(id)? else { return Ok(None) };
        match page.position(id) {
            Some(i) => open_record(&self.master, id, &page.entries[i].1).map(Some),
            None => Ok(None),
        }
    }

    /// Number of records (kept as a counter; no decryption).
    pub fn count(&self) -> usize {
        self.db
            .get(meta_key("count"))
            .ok()
            .flatten()
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(|b| u64::from_le_bytes(b) as usize)
            .unwrap_or(0)
    }

    fn last_page(&self) -> Result<Option<([u8; 17], Page)>, StoreError> {
        match self.db.scan_prefix([P_PAGE]).next_back() {
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

    /// Writes `records` — replacing those whose id is in the store, adding
    /// the others (whose ids must come from [`Store::allocate_ids`]) — and
    /// their source-index entries, then flushes. Sealing runs in parallel;
    /// `progress` gets the number of records sealed so far.
    pub fn put_records(&self, records: &[Record], progress: &(dyn Fn(usize) + Sync)) -> Result<(), StoreError> {
        // Sealed values live only as long as one chunk, to bound memory.
        const CHUNK: usize = 64 * 1024;
        let mut added = 0;
        let mut done = 0;
        for chunk in records.chunks(CHUNK) {
            added += self.put_chunk(chunk)?;
            done += chunk.len();
            progress(done);
        }
        // Source index: one rewrite per touched bucket.
        let mut buckets: BTreeMap<u16, Vec<(Blind, RecordId)>> = BTreeMap::new();
        for r in records {
            let b = self.blind(&r.provenance.source, &r.source_id);
            buckets.entry(bucket_of(&b)).or_default().push((b, r.id));
        }
        let mut batch = sled::Batch::default();
        for (n, entries) in buckets {
            let mut bucket = self.bucket(n)?;
            for (b, id) in entries {
                bucket.set(b, id);
            }
            batch.insert(&bucket_key(n)[..], bucket.encode());
        }
        batch.insert(meta_key("count"), &((self.count() + added) as u64).to_le_bytes()[..]);
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Seals and writes one chunk of records; returns how many were new.
    fn put_chunk(&self, records: &[Record]) -> Result<usize, StoreError> {
        let sealed: Vec<Vec<u8>> = records.par_iter().map(|r| seal_record(&self.master, r)).collect();
        let last = self.last_page()?.and_then(|(_, p)| p.entries.last().map(|(id, _)| *id));
        // Pages to rewrite, by key; and records new to the store.
        let mut pages: BTreeMap<[u8; 17], Page> = BTreeMap::new();
        let mut fresh: Vec<(RecordId, Vec<u8>)> = Vec::new();
        for (r, value) in records.iter().zip(sealed) {
            if last.is_some_and(|l| r.id <= l) {
                let key = match pages.range(..=page_key(r.id)).next_back() {
                    Some((k, p)) if p.position(r.id).is_some() => *k,
                    _ => {
                        let (k, p) =
                            self.find_page(r.id)?.ok_or_else(|| StoreError::Corrupt(format!("record {}", r.id)))?;
                        pages.entry(k).or_insert(p);
                        k
                    }
                };
                let page = pages.get_mut(&key).ok_or_else(|| StoreError::Corrupt("page".into()))?;
                let i = page
                    .position(r.id)
                    .ok_or_else(|| StoreError::Corrupt(format!("record {} is not in the store", r.id)))?;
                page.entries[i].1 = value;
            } else {
                fresh.push((r.id, value));
            }
        }
        fresh.sort_by_key(|(id, _)| *id);
        let added = fresh.len();
        let mut fresh = fresh.into_iter().peekable();
        // Top up the last page first, then start new ones.
        if fresh.peek().is_some()
            && let Some((k, p)) = self.last_page()?
            && p.entries.len() < PAGE_CAP
        {
            let page = pages.entry(k).or_insert(p);
            while page.entries.len() < PAGE_CAP {
                match fresh.next() {
                    Some(e) => page.entries.push(e),
                    None => break,
                }
            }
        }
        loop {
            let entries: Vec<_> = fresh.by_ref().take(PAGE_CAP).collect();
            let Some(first) = entries.first().map(|(id, _)| *id) else { break };
            pages.insert(page_key(first), Page { entries });
        }
        let mut batch = sled::Batch::default();
        for (k, p) in pages {
            batch.insert(&k[..], p.encode());
        }
        self.db.apply_batch(batch)?;
        Ok(added)
    }

    /// Decrypts every record, in id order, spread over all cores;
    /// `progress(done)` is called between chunks.
    pub fn load_all(&self, progress: &mut dyn FnMut(usize)) -> Result<Vec<Record>, StoreError> {
        const CHUNK: usize = 2048; // pages
        let mut out = Vec::with_capacity(self.count());
        let mut raw: Vec<sled::IVec> = Vec::with_capacity(CHUNK);
        let mut iter = self.db.scan_prefix([P_PAGE]);
        loop {
            raw.clear();
            for item in iter.by_ref().take(CHUNK) {
                raw.push(item?.1);
            }
            if raw.is_empty() {
                break;
            }
            let chunk: Result<Vec<Vec<Record>>, StoreError> = raw
                .par_iter()
                .map(|v| {
                    let mut recs = Vec::with_capacity(PAGE_CAP);
                    let mut err = None;
                    Page::walk(v, |id, sealed| match open_record(&self.master, id, sealed) {
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
            out.extend(chunk?.into_iter().flatten());
            progress(out.len());
        }
        Ok(out)
    }

    /// Ids of every record, in id order.
    pub fn ids(&self) -> Result<Vec<RecordId>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db.scan_prefix([P_PAGE]) {
            let (_, v) = kv?;
            Page::walk(&v, |id, _| out.push(id)).map_err(|_| StoreError::Corrupt("record page".into()))?;
        }
        Ok(out)
    }

    /// A metadata value (not personal data: settings, the policy).
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(meta_key(name))?.map(|v| v.to_vec()))
    }

    /// Writes a metadata value and flushes.
    pub fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.db.insert(meta_key(name), value)?;
        self.db.flush()?;
        Ok(())
    }

    /// Bytes used on disk by the database.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
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
    fn sealed_record_is_bound_to_its_id() {
        let master = Key::random();
        let r = Record::new("crm", "1", chrono::Utc::now());
        let sealed = seal_record(&master, &r);
        assert_eq!(open_record(&master, r.id, &sealed).ok(), Some(r.clone()));
        assert!(open_record(&master, RecordId::new(), &sealed).is_err());
        assert!(open_record(&Key::random(), r.id, &sealed).is_err());
    }
}
