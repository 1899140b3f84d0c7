//! Changes as single atomic steps: records, indexes, redirects, snapshots,
//! tombstones, receipts and the audit entry that describes them go into one
//! sled batch, which is flushed before the caller hears of success.
//!
//! Imports are the one change too large for one batch: their new records
//! are written in chunks under an `import-pending` marker, and the final
//! batch — replaced records, source index, count, audit entry — removes the
//! marker. A store opened with the marker still set had an import killed
//! half-way; [`Store::recover`] removes the records the marker covers.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::audit::{self, Draft, Entry, Head};
use super::index::{Blind, bucket_of};
use super::page::{PAGE_CAP, Page};
use super::*;

/// A merged-away record points at the record it was merged into. Sealed
/// like a record (it names a source id), and erased with the survivor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub from: RecordId,
    pub into: RecordId,
    pub merge: String,
    pub source: String,
    pub source_id: String,
}

/// A "not the same person" decision as stored: the two records (lower id
/// first) and its sealed details, decrypted.
pub type Decision = (RecordId, RecordId, zeroize::Zeroizing<Vec<u8>>);

/// One atomic change. Build it, then [`Store::commit`] it with its audit entry.
#[derive(Debug, Default)]
pub struct Change {
    /// Records to write: replaced if their id is in the store, added otherwise.
    pub put: Vec<Record>,
    /// Records to erase: their sealed value and key are removed.
    pub remove: Vec<RecordId>,
    /// Source index: (source, source id) → record.
    pub index_set: Vec<(String, String, RecordId)>,
    pub index_remove: Vec<(String, String)>,
    pub redirects: Vec<Redirect>,
    pub drop_redirects: Vec<RecordId>,
    /// Undo snapshots by merge id (plaintext here; sealed on commit).
    pub snapshots: Vec<(String, Vec<u8>)>,
    pub drop_snapshots: Vec<String>,
    /// Tombstones and receipts: JSON without personal data.
    pub tombstones: Vec<(RecordId, Vec<u8>)>,
    pub drop_tombstones: Vec<RecordId>,
    pub receipts: Vec<(String, Vec<u8>)>,
    /// Receipts to write once the data key has been rotated; committing
    /// them asks for a rotation that survives a crash (see `rekey`).
    pub rekey_pending: Vec<(String, Vec<u8>)>,
    /// Store metadata to set (settings, the policy; never personal data).
    pub meta: Vec<(String, Vec<u8>)>,
    /// Receipts to rewrite at the next rotation, whenever it runs (erasures
    /// with `--no-rekey`); unlike `rekey_pending` they do not ask for one.
    pub rotation_receipts: Vec<(String, Vec<u8>)>,
    /// Data-subject requests by reference (plaintext here; sealed on commit).
    pub requests: Vec<(String, Vec<u8>)>,
    pub drop_requests: Vec<String>,
    /// "Not the same person" decisions on a pair of records (plaintext
    /// here: who, when, why; sealed on commit). The pair is stored lower id
    /// first.
    pub apart: Vec<(RecordId, RecordId, Vec<u8>)>,
    pub drop_apart: Vec<(RecordId, RecordId)>,
    /// Sealed values to put on a shelf (plaintext here; sealed on commit)
    /// and to take off one (see [`shelf`]).
    pub shelve: Vec<(Shelf, Vec<u8>, Vec<u8>)>,
    pub unshelve: Vec<(Shelf, Vec<u8>)>,
    /// Outgoing changes to append, per source (plaintext here; numbered
    /// after the source's last number and sealed on commit).
    pub outbox: Vec<(String, Vec<u8>)>,
    /// Outgoing changes to remove: (source, sequence number).
    pub drop_outbox: Vec<(String, u64)>,
    /// The records as the change was built on them ([`record_digest`]; `None`:
    /// absent). Checked with the change lock held: if the store holds
    /// anything else — another session changed, merged or erased one since
    /// it was read — the change is refused whole ([`StoreError::Conflict`]).
    pub expect: Vec<(RecordId, Option<[u8; 32]>)>,
}

/// What a change expects a record to be (see [`Change::expect`]): a hash
/// of its encoding, held in memory only.
pub fn record_digest(r: &Record) -> [u8; 32] {
    *blake3::hash(&model::encode(r)).as_bytes()
}

/// See [`Store::hold`].
pub struct Hold(#[allow(dead_code)] Option<engine::PgWriteLock>);

/// This process's change lock and, on a shared store, the writers' lock
/// (see [`Store::lock_head`]); derefs to the chain head.
pub(super) struct HeadGuard<'a> {
    // Dropped in this order: the writers' lock, then this process's.
    _shared: Option<engine::PgWriteLock>,
    head: std::sync::MutexGuard<'a, Head>,
}

impl std::ops::Deref for HeadGuard<'_> {
    type Target = Head;
    fn deref(&self) -> &Head {
        &self.head
    }
}

impl std::ops::DerefMut for HeadGuard<'_> {
    fn deref_mut(&mut self) -> &mut Head {
        &mut self.head
    }
}

/// Which records a change touched, for the notice other sessions get.
pub(super) enum Touched {
    Ids(Vec<RecordId>),
    /// Too many to name (an import): reload everything.
    All,
}

/// Most record ids a notice names (PostgreSQL takes 8,000 bytes).
const NOTICE_IDS: usize = 200;

/// `SEQ TOKEN IDS` — the audit entry, the writing session's random token
/// (so it can skip its own notices) and the changed record ids, comma
/// separated, or `*` for all. Record ids are random, not personal data.
fn notice(token: &str, seq: u64, touched: &Touched) -> String {
    let ids = match touched {
        Touched::Ids(ids) if ids.len() <= NOTICE_IDS => {
            ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",")
        }
        _ => "*".to_owned(),
    };
    format!("{seq} {token} {ids}")
}

/// A change another session made, from its notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub seq: u64,
    /// `None`: reload everything.
    pub ids: Option<Vec<RecordId>>,
}

/// Reads a notice; `None` for this session's own (`token`) or one that does
/// not parse.
pub fn read_notice(payload: &str, token: &str) -> Option<Notice> {
    let mut parts = payload.splitn(3, ' ');
    let seq = parts.next()?.parse().ok()?;
    if parts.next()? == token {
        return None;
    }
    let ids = match parts.next().unwrap_or("") {
        "*" => None,
        "" => Some(Vec::new()),
        list => Some(list.split(',').filter_map(|s| s.parse().ok()).collect()),
    };
    Some(Notice { seq, ids })
}

/// Pages being edited for one batch.
struct PageEdit<'a> {
    store: &'a Store,
    pages: BTreeMap<[u8; 17], Page>,
    /// The store's last page key at the start (ids above it need no lookup).
    db_last: Option<[u8; 17]>,
    added: usize,
    removed: usize,
}

impl<'a> PageEdit<'a> {
    fn new(store: &'a Store) -> Result<Self, StoreError> {
        let mut pages = BTreeMap::new();
        let db_last = match store.last_page()? {
            Some((k, p)) => {
                pages.insert(k, p);
                Some(k)
            }
            None => None,
        };
        Ok(Self { store, pages, db_last, added: 0, removed: 0 })
    }

    /// Key of the page that holds, or would hold, `id`.
    fn locate(&mut self, id: RecordId) -> Result<Option<[u8; 17]>, StoreError> {
        let key = page_key(id);
        let cached = self.pages.range(..=key).next_back().map(|(k, _)| *k);
        // At or above the store's last page (which is cached) no page of the
        // database can lie between the cached candidate and `id`.
        if self.db_last.is_none_or(|last| key >= last) {
            return Ok(cached);
        }
        match self.store.find_page(id)? {
            Some((k, p)) if cached.is_none_or(|c| k > c) => {
                self.pages.insert(k, p);
                Ok(Some(k))
            }
            _ => Ok(cached),
        }
    }

    fn put(&mut self, id: RecordId, value: Vec<u8>) -> Result<(), StoreError> {
        let corrupt = || StoreError::Corrupt("record page".into());
        match self.locate(id)? {
            Some(k) => {
                let page = self.pages.get_mut(&k).ok_or_else(corrupt)?;
                match page.entries.binary_search_by(|(e, _)| e.cmp(&id)) {
                    Ok(i) => page.entries[i].1 = value,
                    Err(i) if i == page.entries.len() && page.entries.len() >= PAGE_CAP => {
                        self.pages.insert(page_key(id), Page { entries: vec![(id, value)] });
                        self.added += 1;
                    }
                    Err(i) => {
                        page.entries.insert(i, (id, value));
                        self.added += 1;
                    }
                }
            }
            None => {
                self.pages.insert(page_key(id), Page { entries: vec![(id, value)] });
                self.added += 1;
            }
        }
        Ok(())
    }

    fn remove(&mut self, id: RecordId) -> Result<(), StoreError> {
        if let Some(k) = self.locate(id)?
            && let Some(page) = self.pages.get_mut(&k)
            && let Some(i) = page.position(id)
        {
            page.entries.remove(i);
            self.removed += 1;
        }
        Ok(())
    }

    fn write(self, batch: &mut Batch) -> (usize, usize) {
        for (k, p) in self.pages {
            if p.entries.is_empty() {
                batch.remove(&k[..]);
            } else {
                batch.insert(&k[..], p.encode());
            }
        }
        (self.added, self.removed)
    }
}

pub(super) fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

pub(super) fn receipt_key(id: &str) -> Vec<u8> {
    prefixed(P_RECEIPT, id.as_bytes())
}

fn audit_key(seq: u64) -> Vec<u8> {
    prefixed(P_AUDIT, &seq.to_be_bytes())
}

pub(super) fn redirect_key_ad(id: RecordId) -> (Vec<u8>, Vec<u8>) {
    (
        [b"steward-dek-v1\0redirect\0".as_slice(), &id.to_bytes()].concat(),
        [b"steward-blob-v1\0redirect\0".as_slice(), &id.to_bytes()].concat(),
    )
}

pub(super) fn request_key_ad(reference: &str) -> (Vec<u8>, Vec<u8>) {
    (
        [b"steward-dek-v1\0request\0".as_slice(), reference.as_bytes()].concat(),
        [b"steward-blob-v1\0request\0".as_slice(), reference.as_bytes()].concat(),
    )
}

/// Key of a "not the same person" decision: the two ids, lower first.
pub(super) fn apart_key(a: RecordId, b: RecordId) -> Vec<u8> {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    [&[P_APART][..], &lo.to_bytes(), &hi.to_bytes()].concat()
}

pub(super) fn apart_key_ad(key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    ([b"steward-dek-v1\0apart\0".as_slice(), key].concat(), [b"steward-blob-v1\0apart\0".as_slice(), key].concat())
}

fn match_index_key_ad() -> (Vec<u8>, Vec<u8>) {
    (b"steward-dek-v1\0match-index".to_vec(), b"steward-blob-v1\0match-index".to_vec())
}

pub(super) fn snapshot_key_ad(merge: &str) -> (Vec<u8>, Vec<u8>) {
    (
        [b"steward-dek-v1\0snapshot\0".as_slice(), merge.as_bytes()].concat(),
        [b"steward-blob-v1\0snapshot\0".as_slice(), merge.as_bytes()].concat(),
    )
}

impl Store {
    /// The right to change the store: this process's change lock and, on a
    /// shared store, the writers' lock of every process — after which what
    /// other processes changed (the chain head, the key slots and keys) is
    /// read afresh, so a change always builds on the latest state.
    pub(super) fn lock_head(&self) -> Result<HeadGuard<'_>, StoreError> {
        let mut head = self.head.lock().map_err(|_| StoreError::Db("audit head poisoned".into()))?;
        let shared = match &self.home {
            Home::Pg(_) => {
                let lock = self.take_writers_lock()?;
                *head = self.last_audit_head()?;
                Some(lock)
            }
            Home::Dir(_) => None,
        };
        Ok(HeadGuard { _shared: shared, head })
    }

    /// Keeps every other session's changes out until dropped, for a change
    /// that must read what it builds on with nobody changing it meanwhile
    /// (an import, an erasure, an undo). Nothing for a directory store,
    /// which this process alone holds (and whose changes run one at a time).
    /// Changes made while it is held take it again (it counts).
    pub fn hold(&self) -> Result<Hold, StoreError> {
        match &self.home {
            Home::Pg(_) => Ok(Hold(Some(self.take_writers_lock()?))),
            Home::Dir(_) => Ok(Hold(None)),
        }
    }

    /// The writers' lock of a shared store, and what others changed read.
    fn take_writers_lock(&self) -> Result<engine::PgWriteLock, StoreError> {
        let Home::Pg(conn) = &self.home else {
            return Err(StoreError::Db("the writers' lock of a directory store".into()));
        };
        let lock = conn.write_lock()?;
        self.refresh()?;
        // An import whose process died before its final batch left
        // its first pages: they go before anything builds on them
        // (a later open would otherwise take this change's new
        // records with them).
        if !self.importing.load(std::sync::atomic::Ordering::SeqCst)
            && let Some(v) = self.db().get(meta_key(IMPORT_PENDING))?
        {
            let first = <[u8; 16]>::try_from(v.as_ref())
                .map(RecordId::from_bytes)
                .map_err(|_| StoreError::Corrupt("import marker".into()))?;
            self.roll_back_import(first)?;
        }
        Ok(lock)
    }

    /// Takes in what other processes changed in a shared store's key slots:
    /// users, a rotated data key, a newer sealed head. (Nothing to do for a
    /// directory store, which this process alone holds.)
    pub fn refresh(&self) -> Result<(), StoreError> {
        if matches!(self.home, Home::Dir(_)) {
            return Ok(());
        }
        let fresh = read_slots(&self.home, &self.location)?;
        let mut slots = self.lock_slots()?;
        if fresh.to_json() == slots.to_json() {
            return Ok(());
        }
        // Another admin removed this session's user or changed their role:
        // the session acts no more (a new unlock says what is allowed now).
        if fresh.find(&self.user).is_none_or(|s| s.role != self.role) {
            return Err(StoreError::Revoked);
        }
        let (master, epoch) = fresh.current_data_key(&self.root)?;
        if epoch != self.keys().epoch {
            *self.keys.write().map_err(|_| StoreError::Db("keys poisoned".into()))? = DataKeys::new(master, epoch);
        }
        if let Some(g) = fresh.audit_head(&self.root)?.and_then(|b| audit::SealedHead::decode(&b)).map(|s| s.generation)
        {
            self.slots_gen.store(g, std::sync::atomic::Ordering::SeqCst);
        }
        *slots = fresh;
        Ok(())
    }

    /// Source-index edits into `batch`, one rewrite per touched bucket.
    fn index_edits(
        &self,
        set: impl IntoIterator<Item = (Blind, Option<RecordId>)>,
        batch: &mut Batch,
    ) -> Result<(), StoreError> {
        let mut buckets: BTreeMap<u16, Vec<(Blind, Option<RecordId>)>> = BTreeMap::new();
        for (b, id) in set {
            buckets.entry(bucket_of(&b)).or_default().push((b, id));
        }
        for (n, entries) in buckets {
            let mut bucket = self.bucket(n)?;
            for (b, id) in entries {
                match id {
                    Some(id) => bucket.set(b, id),
                    None => bucket.remove(&b),
                }
            }
            batch.insert(&bucket_key(n)[..], bucket.encode());
        }
        Ok(())
    }

    /// Adds the audit entry for `draft` to `batch`; returns it.
    pub(super) fn audit_into(&self, head: Head, draft: Draft, batch: &mut Batch) -> Entry {
        let entry = draft.into_entry(head, model::now());
        let sealed_key = self.audit_seal_key();
        let value = crypto::seal(&sealed_key, &audit::entry_ad(entry.seq), &entry.to_bytes());
        batch.insert(audit_key(entry.seq), value);
        // The database's copy of the head goes in the same batch.
        let db_head = audit::SealedHead {
            head: entry.head(&self.audit_key),
            generation: self.slots_gen.load(std::sync::atomic::Ordering::SeqCst),
        };
        batch.insert(meta_key(AUDIT_DB_HEAD), crypto::seal(&sealed_key, audit::DB_HEAD_AD, &db_head.encode()));
        entry
    }

    /// The database's copy of the chain head.
    pub(super) fn db_head(&self) -> Result<Option<audit::SealedHead>, StoreError> {
        let corrupt = || StoreError::Corrupt("the database's audit head does not open".into());
        match self.db().get(meta_key(AUDIT_DB_HEAD))? {
            Some(v) => {
                let plain = crypto::open(&self.audit_seal_key(), audit::DB_HEAD_AD, &v).map_err(|_| corrupt())?;
                Ok(Some(audit::SealedHead::decode(&plain).ok_or_else(corrupt)?))
            }
            None => Ok(None),
        }
    }

    /// Seals `head` into `slots` as their next generation (the caller
    /// writes the file and then calls [`Store::sealed_generation`]).
    pub(super) fn seal_head_into(&self, slots: &mut crate::crypto::KeySlots, head: Head) -> u64 {
        let generation = self.slots_gen.load(std::sync::atomic::Ordering::SeqCst) + 1;
        slots.set_audit_head(&self.root, &audit::SealedHead { head, generation }.encode());
        generation
    }

    /// The key-slot file now on disk holds generation `g`.
    pub(super) fn sealed_generation(&self, g: u64) {
        self.slots_gen.fetch_max(g, std::sync::atomic::Ordering::SeqCst);
    }

    fn audit_seal_key(&self) -> Key {
        self.audit_key.derive("steward 2026 audit seal v1")
    }

    /// Applies, flushes, then seals the new chain head outside sled.
    fn finish(&self, head: &mut Head, batch: Batch, entry: &Entry, touched: Touched) -> Result<(), StoreError> {
        self.db().apply_batch(batch)?;
        self.db().flush()?;
        *head = entry.head(&self.audit_key);
        // The change is durable now; a head that could not be sealed is
        // caught up on the next unlock (it is behind by this entry only).
        let _ = self.seal_head(*head);
        if let Home::Pg(conn) = &self.home {
            // Other sessions reload; a lost notice costs them only freshness.
            let _ = conn.notify(&notice(&self.token, entry.seq, &touched));
        }
        Ok(())
    }

    /// Removes the published read-only snapshot: it no longer matches the
    /// store (and may hold erased data, old keys or old users).
    pub(super) fn invalidate_snapshot(&self) -> Result<(), StoreError> {
        let Some(dir) = self.home.dir() else { return Ok(()) };
        for name in [SNAPSHOT_FILE.to_owned(), format!("{SNAPSHOT_FILE}.tmp")] {
            match fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StoreError::Io {
                        what: "could not remove the outdated read-only snapshot".into(),
                        source: e,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn seal_head(&self, head: Head) -> Result<(), StoreError> {
        let mut slots = self.lock_slots()?;
        let generation = self.seal_head_into(&mut slots, head);
        write_slots(&self.home, &slots)?;
        self.sealed_generation(generation);
        Ok(())
    }

    pub(super) fn sealed_head(&self) -> Result<Option<audit::SealedHead>, StoreError> {
        let slots = self.lock_slots()?;
        match slots.audit_head(&self.root)? {
            Some(b) => Ok(Some(audit::SealedHead::decode(&b).ok_or_else(|| StoreError::Corrupt("audit head".into()))?)),
            None => Ok(None),
        }
    }

    /// The head of the chain as stored in sled.
    pub(super) fn last_audit_head(&self) -> Result<Head, StoreError> {
        match self.db().scan_prefix([P_AUDIT]).next_back() {
            Some(kv) => {
                let (k, v) = kv?;
                let entry = self
                    .open_audit(&k, &v)
                    .ok_or_else(|| StoreError::Corrupt("the last audit entry does not open".into()))?;
                Ok(entry.head(&self.audit_key))
            }
            None => Ok(Head::EMPTY),
        }
    }

    fn open_audit(&self, k: &[u8], v: &[u8]) -> Option<Entry> {
        let seq = u64::from_be_bytes(k.get(1..9)?.try_into().ok()?);
        let plain = crypto::open(&self.audit_seal_key(), &audit::entry_ad(seq), v).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// Records an audit entry that goes with no change (a refusal, a failure,
    /// a reveal, an export).
    pub fn audit(&self, draft: Draft) -> Result<Entry, StoreError> {
        let mut head = self.lock_head()?;
        self.audit_locked(&mut head, draft)
    }

    /// [`Store::audit`] with the change lock already held.
    pub(super) fn audit_locked(&self, head: &mut Head, draft: Draft) -> Result<Entry, StoreError> {
        let mut batch = Batch::default();
        let entry = self.audit_into(*head, draft, &mut batch);
        self.finish(head, batch, &entry, Touched::Ids(Vec::new()))?;
        Ok(entry)
    }

    /// Every audit entry that opens, in order.
    pub fn audit_entries(&self) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db().scan_prefix([P_AUDIT]) {
            let (k, v) = kv?;
            if let Some(e) = self.open_audit(&k, &v) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Checks the whole chain against the head sealed outside sled.
    pub fn verify_audit(&self) -> Result<audit::Verification, StoreError> {
        // No change may land between reading the chain and its two heads.
        let _guard = self.lock_head()?;
        let sealed = self.sealed_head()?;
        let mut raw = Vec::new();
        for kv in self.db().scan_prefix([P_AUDIT]) {
            let (k, v) = kv?;
            let seq = k.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0);
            raw.push((seq, self.open_audit(&k, &v)));
        }
        let last = raw.last().map_or(0, |(seq, _)| *seq);
        let mut v = audit::verify(raw, &self.audit_key, sealed.map(|s| s.head));
        if v.broken.is_none()
            && let Some(problem) = audit::check_heads(last, sealed, self.db_head()?)
        {
            v.broken = Some(audit::Broken { seq: last + 1, problem });
        }
        Ok(v)
    }

    /// Applies `change` and its audit entry as one atomic, flushed step.
    pub fn commit(&self, change: Change, draft: Draft) -> Result<Entry, StoreError> {
        let mut head = self.lock_head()?;
        let stale = change
            .expect
            .iter()
            .map(|(id, want)| Ok(self.get(*id)?.map(|r| record_digest(&r)) != *want))
            .collect::<Result<Vec<bool>, StoreError>>()?
            .into_iter()
            .filter(|s| *s)
            .count();
        if stale > 0 {
            return Err(StoreError::Conflict(stale));
        }
        let keys = self.keys();
        let mut batch = Batch::default();
        let mut pages = PageEdit::new(self)?;
        let sealed: Vec<(RecordId, Vec<u8>)> =
            change.put.par_iter().map(|r| (r.id, seal_record(&keys.master, r))).collect();
        for (id, v) in sealed {
            pages.put(id, v)?;
        }
        for id in &change.remove {
            pages.remove(*id)?;
        }
        let (added, removed) = pages.write(&mut batch);
        let index = change
            .index_set
            .iter()
            .map(|(s, sid, id)| (blind_with(&keys.index, s, sid), Some(*id)))
            .chain(change.index_remove.iter().map(|(s, sid)| (blind_with(&keys.index, s, sid), None)));
        self.index_edits(index, &mut batch)?;
        for r in &change.redirects {
            let (ka, ad) = redirect_key_ad(r.from);
            let plain = zeroize::Zeroizing::new(serde_json::to_vec(r).unwrap_or_default());
            batch.insert(prefixed(P_REDIRECT, &r.from.to_bytes()), seal_enveloped(&keys.master, &ka, &ad, &plain));
        }
        for id in &change.drop_redirects {
            batch.remove(prefixed(P_REDIRECT, &id.to_bytes()));
        }
        for (m, plain) in &change.snapshots {
            let (ka, ad) = snapshot_key_ad(m);
            batch.insert(prefixed(P_UNDO, m.as_bytes()), seal_enveloped(&keys.master, &ka, &ad, plain));
        }
        for m in &change.drop_snapshots {
            batch.remove(prefixed(P_UNDO, m.as_bytes()));
        }
        for (reference, plain) in &change.requests {
            let (ka, ad) = request_key_ad(reference);
            batch.insert(prefixed(P_REQUEST, reference.as_bytes()), seal_enveloped(&keys.master, &ka, &ad, plain));
        }
        for reference in &change.drop_requests {
            batch.remove(prefixed(P_REQUEST, reference.as_bytes()));
        }
        for (a, b, plain) in &change.apart {
            let key = apart_key(*a, *b);
            let (ka, ad) = apart_key_ad(&key);
            batch.insert(key.clone(), seal_enveloped(&keys.master, &ka, &ad, plain));
        }
        for (a, b) in &change.drop_apart {
            batch.remove(apart_key(*a, *b));
        }
        self.shelve_into(&change.shelve, &change.unshelve, &mut batch);
        let mut high: BTreeMap<&str, u64> = BTreeMap::new();
        for (source, plain) in &change.outbox {
            let seq = match high.get(source.as_str()) {
                Some(s) => s + 1,
                None => self.outbox_high(source)? + 1,
            };
            high.insert(source, seq);
            let key = shelf::outbox_key(source, seq);
            let (ka, ad) = Shelf::Outbox.key_ad(&key);
            batch.insert(prefixed(P_OUTBOX, &key), seal_enveloped(&keys.master, &ka, &ad, plain));
        }
        for (source, seq) in high {
            batch.insert(meta_key(&shelf::outbox_high_key(source)), &seq.to_le_bytes()[..]);
        }
        for (source, seq) in &change.drop_outbox {
            batch.remove(prefixed(P_OUTBOX, &shelf::outbox_key(source, *seq)));
        }
        for (id, t) in &change.tombstones {
            batch.insert(prefixed(P_TOMB, &id.to_bytes()), t.as_slice());
        }
        for id in &change.drop_tombstones {
            batch.remove(prefixed(P_TOMB, &id.to_bytes()));
        }
        for (rid, r) in &change.receipts {
            batch.insert(prefixed(P_RECEIPT, rid.as_bytes()), r.as_slice());
        }
        for (name, value) in &change.meta {
            batch.insert(meta_key(name), value.as_slice());
        }
        if !change.rotation_receipts.is_empty() {
            let mut waiting: Vec<(String, Vec<u8>)> = match self.db().get(meta_key(RECEIPTS_AWAITING))? {
                Some(v) => serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("waiting receipts".into()))?,
                None => Vec::new(),
            };
            waiting.extend(change.rotation_receipts.iter().cloned());
            batch.insert(meta_key(RECEIPTS_AWAITING), serde_json::to_vec(&waiting).unwrap_or_default());
        }
        if !change.rekey_pending.is_empty() {
            let mut pending: Vec<(String, Vec<u8>)> = match self.db().get(meta_key(REKEY_PENDING))? {
                Some(v) => serde_json::from_slice(&v).map_err(|_| StoreError::Corrupt("pending receipts".into()))?,
                None => Vec::new(),
            };
            pending.extend(change.rekey_pending.iter().cloned());
            batch.insert(meta_key(REKEY_PENDING), serde_json::to_vec(&pending).unwrap_or_default());
        }
        if added != removed {
            let count = (self.count() + added).saturating_sub(removed);
            batch.insert(meta_key("count"), &(count as u64).to_le_bytes()[..]);
        }
        // Who is the same person changes with the records and with the
        // reviewers' decisions: either makes a saved match index stale.
        let records_changed = !change.put.is_empty()
            || !change.remove.is_empty()
            || !change.apart.is_empty()
            || !change.drop_apart.is_empty();
        if records_changed {
            self.next_generation(&mut batch)?;
        }
        let entry = self.audit_into(*head, draft, &mut batch);
        self.invalidate_snapshot()?;
        if records_changed {
            self.drop_match_index()?;
        }
        let touched = Touched::Ids(change.put.iter().map(|r| r.id).chain(change.remove.iter().copied()).collect());
        self.finish(&mut head, batch, &entry, touched)?;
        Ok(entry)
    }

    /// Writes imported `records` — replacing those whose id is in the store,
    /// adding the others (ids from [`Store::allocate_ids`]) — with their
    /// source-index entries and `draft`'s audit entry. All or nothing, even
    /// if the process is killed half-way (see the module docs). Sealing runs
    /// in parallel; `progress` gets the number of records sealed so far.
    pub fn put_records(
        &self,
        records: &[Record],
        draft: Draft,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Entry, StoreError> {
        self.put_records_with(records, &[], draft, progress)
    }

    /// [`Store::put_records`], with sealed values put on their shelves by
    /// the same final batch (a sync's new state goes with its rows).
    pub fn put_records_with(
        &self,
        records: &[Record],
        shelve: &[(Shelf, Vec<u8>, Vec<u8>)],
        draft: Draft,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Entry, StoreError> {
        // Sealed values live only as long as one chunk, to bound memory.
        const CHUNK: usize = 64 * 1024;
        let mut head = self.lock_head()?;
        // Our own marker, while we write (see `take_writers_lock`).
        struct Importing<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Importing<'_> {
            fn drop(&mut self) {
                self.0.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        }
        self.importing.store(true, std::sync::atomic::Ordering::SeqCst);
        let _importing = Importing(&self.importing);
        let keys = self.keys();
        let last = self.last_page()?.and_then(|(_, p)| p.entries.last().map(|(id, _)| *id));
        let (updates, fresh): (Vec<&Record>, Vec<&Record>) =
            records.iter().partition(|r| last.is_some_and(|l| r.id <= l));
        let mut fresh = fresh;
        fresh.sort_by_key(|r| r.id);
        let mut done = 0;
        let mut added = 0;
        for (i, chunk) in fresh.chunks(CHUNK).enumerate() {
            let mut batch = Batch::default();
            if i == 0 {
                batch.insert(meta_key(IMPORT_PENDING), &chunk[0].id.to_bytes()[..]);
            }
            let sealed: Vec<Vec<u8>> = chunk.par_iter().map(|r| seal_record(&keys.master, r)).collect();
            let mut pages = PageEdit::new(self)?;
            for (r, v) in chunk.iter().zip(sealed) {
                pages.put(r.id, v)?;
            }
            added += pages.write(&mut batch).0;
            self.db().apply_batch(batch)?;
            done += chunk.len();
            progress(done);
        }
        // The final batch: replaced records, index, count, audit, marker.
        let mut batch = Batch::default();
        let mut pages = PageEdit::new(self)?;
        for chunk in updates.chunks(CHUNK) {
            let sealed: Vec<Vec<u8>> = chunk.par_iter().map(|r| seal_record(&keys.master, r)).collect();
            for (r, v) in chunk.iter().zip(sealed) {
                pages.put(r.id, v)?;
            }
            done += chunk.len();
            progress(done);
        }
        added += pages.write(&mut batch).0;
        let index = records.iter().map(|r| (blind_with(&keys.index, &r.provenance.source, &r.source_id), Some(r.id)));
        self.index_edits(index, &mut batch)?;
        self.shelve_into(shelve, &[], &mut batch);
        batch.insert(meta_key("count"), &((self.count() + added) as u64).to_le_bytes()[..]);
        batch.remove(meta_key(IMPORT_PENDING));
        self.next_generation(&mut batch)?;
        let entry = self.audit_into(*head, draft, &mut batch);
        self.invalidate_snapshot()?;
        self.drop_match_index()?;
        self.finish(&mut head, batch, &entry, Touched::All)?;
        Ok(entry)
    }

    /// Undoes the new pages of an import that was killed before its final
    /// batch: every record at or above `first` goes.
    pub(super) fn roll_back_import(&self, first: RecordId) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for kv in self.db().range_from(&page_key(RecordId::from_bytes([0; 16]))) {
            let (k, v) = kv?;
            if k.first() != Some(&P_PAGE) {
                break;
            }
            let mut page = Page::decode(&v).map_err(|_| StoreError::Corrupt("record page".into()))?;
            let before = page.entries.len();
            page.entries.retain(|(id, _)| *id < first);
            if page.entries.is_empty() {
                batch.remove(k);
            } else if page.entries.len() != before {
                batch.insert(k, page.encode());
            }
        }
        batch.remove(meta_key(IMPORT_PENDING));
        self.db().apply_batch(batch)?;
        self.db().flush()?;
        Ok(())
    }

    /// Where a merged-away record went, if it was merged.
    pub fn redirect(&self, id: RecordId) -> Result<Option<Redirect>, StoreError> {
        let Some(v) = self.db().get(prefixed(P_REDIRECT, &id.to_bytes()))? else { return Ok(None) };
        let (ka, ad) = redirect_key_ad(id);
        let plain = open_enveloped(&self.keys().master, &ka, &ad, &v)
            .ok_or_else(|| StoreError::Corrupt(format!("redirect of {id}")))?;
        Ok(Some(serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt(format!("redirect of {id}")))?))
    }

    /// Every redirect.
    pub fn redirects(&self) -> Result<Vec<Redirect>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db().scan_prefix([P_REDIRECT]) {
            let (k, _) = kv?;
            let id: [u8; 16] = k
                .get(1..17)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("redirect key".into()))?;
            if let Some(r) = self.redirect(RecordId::from_bytes(id))? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The undo snapshot of merge `merge`, decrypted.
    pub fn snapshot(&self, merge: &str) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StoreError> {
        let Some(v) = self.db().get(prefixed(P_UNDO, merge.as_bytes()))? else { return Ok(None) };
        let (ka, ad) = snapshot_key_ad(merge);
        open_enveloped(&self.keys().master, &ka, &ad, &v)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt("merge snapshot".into()))
    }

    /// Ids of every stored merge snapshot.
    pub fn snapshot_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db().scan_prefix([P_UNDO]) {
            let (k, _) = kv?;
            out.push(String::from_utf8_lossy(&k[1..]).into_owned());
        }
        Ok(out)
    }

    /// Every data-subject request, decrypted, in reference order.
    pub fn requests(&self) -> Result<Vec<zeroize::Zeroizing<Vec<u8>>>, StoreError> {
        let master = self.keys().master;
        let mut out = Vec::new();
        for kv in self.db().scan_prefix([P_REQUEST]) {
            let (k, v) = kv?;
            let reference = String::from_utf8_lossy(&k[1..]).into_owned();
            let (ka, ad) = request_key_ad(&reference);
            out.push(open_enveloped(&master, &ka, &ad, &v).ok_or_else(|| StoreError::Corrupt("a request".into()))?);
        }
        Ok(out)
    }

    /// Every "not the same person" decision: the pair (lower id first) and
    /// its sealed details, decrypted.
    pub fn apart(&self) -> Result<Vec<Decision>, StoreError> {
        let master = self.keys().master;
        let mut out = Vec::new();
        for kv in self.db().scan_prefix([P_APART]) {
            let (k, v) = kv?;
            let id = |r: std::ops::Range<usize>| -> Result<RecordId, StoreError> {
                let b: [u8; 16] = k
                    .get(r)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt("a decision's key".into()))?;
                Ok(RecordId::from_bytes(b))
            };
            let (ka, ad) = apart_key_ad(&k);
            let plain =
                open_enveloped(&master, &ka, &ad, &v).ok_or_else(|| StoreError::Corrupt("a decision".into()))?;
            out.push((id(1..17)?, id(17..33)?, plain));
        }
        Ok(out)
    }

    fn shelve_into(&self, put: &[(Shelf, Vec<u8>, Vec<u8>)], take: &[(Shelf, Vec<u8>)], batch: &mut Batch) {
        let master = self.keys().master;
        for (shelf, key, plain) in put {
            let (ka, ad) = shelf.key_ad(key);
            batch.insert(prefixed(shelf.prefix(), key), seal_enveloped(&master, &ka, &ad, plain));
        }
        for (shelf, key) in take {
            batch.remove(prefixed(shelf.prefix(), key));
        }
    }

    /// Advances the record generation in `batch` (see [`Store::generation`]).
    fn next_generation(&self, batch: &mut Batch) -> Result<(), StoreError> {
        batch.insert(meta_key(GENERATION), &(self.generation()? + 1).to_le_bytes()[..]);
        Ok(())
    }

    /// A number that changes whenever any record is added, changed or
    /// removed: what a saved match index is checked against.
    pub fn generation(&self) -> Result<u64, StoreError> {
        Ok(self
            .db()
            .get(meta_key(GENERATION))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_le_bytes))
    }

    /// Saves the index request matching uses (built by a scan), sealed under
    /// the data key, in a file beside the database; it is dropped when any
    /// record changes and by a key rotation.
    pub fn save_match_index(&self, plain: &[u8]) -> Result<(), StoreError> {
        let (ka, ad) = match_index_key_ad();
        let sealed = seal_enveloped(&self.keys().master, &ka, &ad, plain);
        // A cache: not synced (lost in a crash, it is rebuilt on demand).
        self.home.write(MATCH_INDEX_FILE, &sealed, false)
    }

    /// The saved match index, if there is one that opens under the data key.
    pub fn load_match_index(&self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StoreError> {
        let Some(sealed) = self.home.read(MATCH_INDEX_FILE)? else { return Ok(None) };
        let (ka, ad) = match_index_key_ad();
        Ok(open_enveloped(&self.keys().master, &ka, &ad, &sealed))
    }

    /// Removes the saved match index (stale, or sealed under a key about to go).
    pub fn drop_match_index(&self) -> Result<(), StoreError> {
        self.home.remove(MATCH_INDEX_FILE)?;
        self.home.remove(&format!("{MATCH_INDEX_FILE}.tmp"))
    }

    /// The tombstone of an erased record.
    pub fn tombstone(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db().get(prefixed(P_TOMB, &id.to_bytes()))?.map(|v| v.to_vec()))
    }

    /// An erasure receipt by id.
    pub fn receipt(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db().get(prefixed(P_RECEIPT, id.as_bytes()))?.map(|v| v.to_vec()))
    }

    /// Replaces a stored receipt (receipts hold no personal data).
    pub fn set_receipt(&self, id: &str, receipt: &[u8]) -> Result<(), StoreError> {
        self.db().insert(prefixed(P_RECEIPT, id.as_bytes()), receipt)
    }

    /// Sequence number of the last audit entry.
    pub fn audit_head_seq(&self) -> Result<u64, StoreError> {
        match self.home {
            Home::Dir(_) => Ok(self.lock_head()?.seq),
            // Shared: what is in the database now (no writers' lock for a read).
            Home::Pg(_) => Ok(self.last_audit_head()?.seq),
        }
    }

    /// Every erasure receipt, oldest first.
    pub fn receipts(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.db().scan_prefix([P_RECEIPT]).map(|kv| Ok(kv?.1.to_vec())).collect()
    }
}

/// First bytes of a backup stream.
const BACKUP_MAGIC: &[u8] = b"steward-backup-v1\n";
const SLOTS_FRAME: &[u8] = b"\0keyslots";

fn frame(w: &mut dyn std::io::Write, k: &[u8], v: &[u8]) -> std::io::Result<()> {
    w.write_all(&u32::try_from(k.len()).unwrap_or(u32::MAX - 1).to_be_bytes())?;
    w.write_all(k)?;
    w.write_all(&u32::try_from(v.len()).unwrap_or(0).to_be_bytes())?;
    w.write_all(v)
}

impl Store {
    /// Writes the whole store — the key-slot file and every sled value, all
    /// still sealed — to `w` (see `service::export` for the encryption).
    pub fn dump(&self, w: &mut dyn std::io::Write) -> Result<(), StoreError> {
        let err = |e: std::io::Error| StoreError::Io { what: "could not write the backup".into(), source: e };
        w.write_all(BACKUP_MAGIC).map_err(err)?;
        let slots = self.lock_slots()?.to_json();
        frame(w, SLOTS_FRAME, &slots).map_err(err)?;
        for kv in self.db().iter() {
            let (k, v) = kv?;
            frame(w, &k, &v).map_err(err)?;
        }
        w.write_all(&u32::MAX.to_be_bytes()).map_err(err)?;
        Ok(())
    }

    /// Recreates a store in `dir` from a [`Store::dump`] stream. The key-slot
    /// file is written last, so a truncated backup leaves no usable store.
    /// Returns the number of values restored.
    pub fn restore(location: &Location, r: &mut dyn std::io::Read) -> Result<u64, StoreError> {
        Self::restore_with(location, r, &|_| {})
    }

    /// [`Store::restore`]; `progress` gets the number of values written.
    pub fn restore_with(
        location: &Location,
        r: &mut dyn std::io::Read,
        progress: &dyn Fn(u64),
    ) -> Result<u64, StoreError> {
        if let Location::Dir(dir) = location
            && dir.exists()
            && fs::read_dir(dir).map_err(io("could not read the target directory"))?.next().is_some()
        {
            return Err(StoreError::Exists(location.to_string()));
        }
        let short = || StoreError::Corrupt("it ends early".into());
        let mut magic = vec![0u8; BACKUP_MAGIC.len()];
        r.read_exact(&mut magic).map_err(|_| short())?;
        if magic != BACKUP_MAGIC {
            return Err(StoreError::Corrupt("not a steward backup".into()));
        }
        let read_chunk = |r: &mut dyn std::io::Read| -> Result<Option<Vec<u8>>, StoreError> {
            let mut len = [0u8; 4];
            r.read_exact(&mut len).map_err(|_| short())?;
            let len = u32::from_be_bytes(len);
            if len == u32::MAX {
                return Ok(None);
            }
            let mut buf = vec![0u8; len as usize];
            r.read_exact(&mut buf).map_err(|_| short())?;
            Ok(Some(buf))
        };
        let k = read_chunk(r)?.ok_or_else(short)?;
        if k != SLOTS_FRAME {
            return Err(StoreError::Corrupt("the key slots are missing".into()));
        }
        let slots_json = read_chunk(r)?.ok_or_else(short)?;
        let slots: KeySlots = serde_json::from_slice(&slots_json)
            .map_err(|_| StoreError::Corrupt("the key slots are unreadable".into()))?;
        let (home, lock, db) = Store::create_empty(location, "restore")?;
        let mut n = 0u64;
        let mut batch = Batch::default();
        let result = (|| {
            while let Some(k) = read_chunk(r)? {
                let v = read_chunk(r)?.ok_or_else(short)?;
                batch.insert(k, v);
                n += 1;
                if n.is_multiple_of(10_000) {
                    db.apply_batch(std::mem::take(&mut batch))?;
                    progress(n);
                }
            }
            db.apply_batch(std::mem::take(&mut batch))?;
            db.flush()?;
            Ok::<(), StoreError>(())
        })();
        drop(db);
        drop(lock);
        if let Err(e) = result {
            // Only what this restore made goes.
            match &home {
                Home::Dir(dir) => {
                    let _ = fs::remove_dir_all(dir);
                }
                Home::Pg(conn) => {
                    let _ = conn.drop_store();
                }
            }
            return Err(e);
        }
        write_slots(&home, &slots)?;
        if let Some(dir) = home.dir() {
            restrict_permissions(dir)?;
        }
        Ok(n)
    }
}

/// What [`Store::copy_to`] copied and found on the copy.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Copied {
    /// Database values (sealed records pages, indexes, audit entries …).
    pub values: u64,
    pub records: usize,
    /// The copy's audit chain: entries, and whether it verifies.
    pub audit_entries: u64,
    pub audit_intact: bool,
}

impl Store {
    /// Copies the whole store — key slots and every value, still sealed —
    /// to an empty `to` of either engine, while no change can come in, then
    /// opens the copy with this session's key and checks it: the same
    /// number of values and records, the same audit head, the chain intact.
    /// Nothing is decrypted on the way. The source is left as it was.
    pub fn copy_to(&self, to: &Location, progress: &dyn Fn(u64)) -> Result<Copied, StoreError> {
        if *to == self.location {
            return Err(StoreError::Exists(to.to_string()));
        }
        let head = self.lock_head()?;
        let (reader, writer) =
            std::io::pipe().map_err(|e| StoreError::Io { what: "could not start the copy".into(), source: e })?;
        let (dumped, restored) = std::thread::scope(|s| {
            let dump = s.spawn(move || {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, writer);
                self.dump(&mut w)?;
                w.flush().map_err(|e| StoreError::Io { what: "could not copy the store".into(), source: e })
            });
            let restored = Store::restore_with(to, &mut std::io::BufReader::with_capacity(1 << 20, reader), progress);
            (dump.join(), restored)
        });
        let values = restored?;
        dumped.map_err(|_| StoreError::Db("the copy failed".into()))??;
        // Check the copy under this session's keys (the slots are the same).
        let home = match to {
            Location::Dir(dir) => Home::Dir(dir.clone()),
            Location::Postgres(url) => Home::Pg(PgConn::connect(url)?),
        };
        let lock = match to {
            Location::Dir(dir) => Some(take_lock(dir, &self.user)?),
            Location::Postgres(_) => None,
        };
        let slots = read_slots(&home, to)?;
        let db = open_home(&home)?;
        let copy = Store::assemble(to.clone(), home, lock, slots, db, self.root.clone(), &self.user, self.role)?;
        copy.check_format()?;
        let verification = copy.verify_audit()?;
        let copied_head = copy.last_audit_head()?;
        let copy_values = copy.db().len()?;
        let problem = if copy_values != self.db().len()? {
            Some("the copy holds a different number of values")
        } else if copy.count() != self.count() {
            Some("the copy holds a different number of records")
        } else if copied_head != *head {
            Some("the copy's audit trail ends elsewhere")
        } else if !verification.is_intact() {
            Some("the copy's audit trail does not verify")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(StoreError::Corrupt(format!("{problem}; the source is unchanged")));
        }
        Ok(Copied {
            values,
            records: copy.count(),
            audit_entries: copied_head.seq,
            audit_intact: verification.is_intact(),
        })
    }
}

/// File beside the database: the latest published snapshot (see
/// [`Store::publish_snapshot`]).
pub const SNAPSHOT_FILE: &str = "snapshot.steward";

impl Store {
    /// Publishes a consistent copy of the store — key slots and every value,
    /// still sealed — for `--read-only` sessions of other admins while this
    /// process holds the lock. Written under the change lock (so no change is
    /// half in it), to a temporary file that is renamed into place.
    pub fn publish_snapshot(&self) -> Result<(), StoreError> {
        // A shared store needs none: every session sees the store itself.
        let Some(dir) = self.home.dir() else { return Ok(()) };
        let _head = self.lock_head()?;
        let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        let err =
            |e: std::io::Error| StoreError::Io { what: "could not write the read-only snapshot".into(), source: e };
        let file = super::create_fresh(&tmp).map_err(err)?;
        let mut w = std::io::BufWriter::new(file);
        self.dump(&mut w)?;
        let file = w.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all().map_err(err)?;
        fs::rename(&tmp, dir.join(SNAPSHOT_FILE)).map_err(err)?;
        Ok(())
    }

    /// The role `user` has in the store's current key-slot file (not a snapshot's).
    pub fn live_role(dir: &Path, user: &str) -> Result<Option<Role>, StoreError> {
        Ok(read_slots(&Home::Dir(dir.to_owned()), &Location::Dir(dir.to_owned()))?.find(user).map(|s| s.role))
    }

    /// When the published snapshot was written, if there is one.
    pub fn snapshot_time(dir: &Path) -> Option<chrono::DateTime<chrono::Utc>> {
        let m = fs::metadata(dir.join(SNAPSHOT_FILE)).ok()?.modified().ok()?;
        Some(chrono::DateTime::<chrono::Utc>::from(m))
    }

    /// Copies the published snapshot of `dir` into `into` (an empty private
    /// directory) and locks the copy: a store to open read-only.
    pub fn open_snapshot(dir: &Path, into: &Path, user: &str) -> Result<LockedStore, StoreError> {
        let path = dir.join(SNAPSHOT_FILE);
        let f = fs::File::open(&path).map_err(|_| {
            StoreError::Db(
                "no read-only snapshot has been published for this store yet (the holder's dashboard \
                            publishes one when it opens and after each change)"
                    .into(),
            )
        })?;
        let target = Location::Dir(into.join("store"));
        Store::restore(&target, &mut std::io::BufReader::new(f))?;
        LockedStore::open(&target, user)
    }
}
