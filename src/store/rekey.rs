//! Key rotation: a new data key re-wraps every surviving record key, merge
//! snapshot, redirect and request; the source index is rebuilt under a key derived
//! from it; then the key-slot file is overwritten without the old data key.
//!
//! sled keeps old values on disk after they are replaced or removed
//! (measured; see DESIGN.md), so the rotation does not rewrite the database
//! in place: it writes what survives, re-wrapped, into a fresh database
//! beside it (`db.next`), swaps the two directories in one atomic rename,
//! and deletes the old one — with every remnant of every erased record in
//! it. Afterwards the store's files hold nothing under the old data key, so
//! an old copy of the key-slot file (which, with a passphrase, opens the old
//! data key) opens nothing in them.
//!
//! Crash and full-disk safety: the new key is first written to the slot file
//! as `next_data_key`; the live database is only read until the swap, so a
//! rotation that fails or is killed before it (disk full included) leaves
//! the store as it was, and the half-built `db.next` is deleted at the next
//! open. A store opened with `next_data_key` set finishes the rotation before
//! anything else; one whose swap happened (its database says `rekey-done` for
//! the new generation) only rewrites the slot file. An erasure leaves a
//! `rekey-pending` marker in its own batch (with its receipt as it will read
//! after the rotation), so a kill between the erasure and the rotation still
//! ends in a rotation on the next unlock.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::audit::{self, Draft, Entry};
use super::change::{Redirect, apart_key_ad, redirect_key_ad, request_key_ad, snapshot_key_ad};
use super::index::{Blind, Bucket, bucket_of};
use super::page::Page;
use super::*;

/// A key and value carried into the rotated database.
type Carried = (IVec, Vec<u8>);

impl Store {
    /// Rotates the data key. `progress` gets the number of pages re-wrapped.
    /// Returns the audit entry (whose draft is `draft`, or a note that an
    /// interrupted rotation was finished).
    pub fn rekey_with(&self, draft: Draft, progress: &(dyn Fn(usize) + Sync)) -> Result<Entry, StoreError> {
        let mut head = self.lock_head()?;
        let old = self.keys();
        let new = {
            let mut slots = self.lock_slots()?;
            let (key, epoch) = match &slots.next_data_key {
                Some(s) => (slots.open_key(&self.root, s)?, s.epoch),
                None => {
                    // Nothing is written until there is room for all of it.
                    if let Some(dir) = self.home.dir() {
                        check_space_for_rewrite(dir)?;
                    }
                    let epoch = old.epoch + 1;
                    let key = Key::random();
                    slots.next_data_key = Some(slots.seal_key(&self.root, &key, epoch));
                    write_slots(&self.home, &slots)?;
                    (key, epoch)
                }
            };
            DataKeys::new(key, epoch)
        };
        // A rotation killed after the swap but before the slot file was
        // rewritten only needs that last step (and no second entry).
        let done = self.db().get(meta_key(REKEY_DONE))?.and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            == Some(new.epoch.to_le_bytes());
        self.invalidate_snapshot()?;
        // The match index is sealed under the old key: it goes with it.
        self.drop_match_index()?;
        let entry = if done {
            self.audit_entries()?
                .pop()
                .ok_or_else(|| StoreError::Corrupt("the rotation's audit entry is missing".into()))?
        } else {
            if old.epoch == new.epoch {
                return Err(StoreError::Corrupt("the next data key has the generation in force".into()));
            }
            let next = match &self.home {
                Home::Dir(dir) => {
                    check_space_for_rewrite(dir)?;
                    let path = dir.join(DB_NEXT);
                    remove_tree(&path)?;
                    Db::Sled(open_db_at(&path)?)
                }
                Home::Pg(conn) => {
                    conn.fresh_next()?;
                    Db::Pg(conn.kv(engine::PG_TABLE_NEXT))
                }
            };
            let built = self.build_into(&next, &old, &new, *head, draft, progress);
            // Closed whatever happened (see `close_db`: a full disk must not
            // turn a failed rotation into a crash).
            if let Db::Sled(next) = next {
                close_db(next);
            }
            let (entry, next_head) = match built {
                Ok(b) => b,
                Err(e) => {
                    // The live database was only read: drop the half-built one.
                    match &self.home {
                        Home::Dir(dir) => {
                            let _ = remove_tree(&dir.join(DB_NEXT));
                        }
                        Home::Pg(conn) => {
                            let _ = conn.drop_next();
                        }
                    }
                    return Err(e);
                }
            };
            *head = next_head;
            match &self.home {
                // The key slots without the old key go in the swap's own
                // transaction: no session ever reads the rotated table with
                // the old key in force (nor writes under it).
                Home::Pg(conn) => {
                    let mut slots = self.lock_slots()?;
                    let mut rotated = slots.clone();
                    rotated.data_key = rotated.next_data_key.take();
                    let generation = self.seal_head_into(&mut rotated, *head);
                    conn.swap_in_next(&rotated.to_json())?;
                    *self.keys.write().map_err(|_| StoreError::Db("keys poisoned".into()))? = new;
                    *slots = rotated;
                    self.sealed_generation(generation);
                    return Ok(entry);
                }
                Home::Dir(_) => self.swap_in_next()?,
            }
            entry
        };
        // The database is under the new key from here on.
        *self.keys.write().map_err(|_| StoreError::Db("keys poisoned".into()))? = new;
        // Only now forget the old key.
        {
            let mut slots = self.lock_slots()?;
            slots.data_key = slots.next_data_key.take();
            let generation = self.seal_head_into(&mut slots, *head);
            write_slots(&self.home, &slots)?;
            self.sealed_generation(generation);
        }
        Ok(entry)
    }

    /// Writes everything that survives, re-wrapped under `new`, into the
    /// fresh database `next`, with the rebuilt index and the audit entry.
    /// Returns the entry and the chain head after it.
    fn build_into(
        &self,
        next: &Db,
        old: &DataKeys,
        new: &DataKeys,
        head: audit::Head,
        draft: Draft,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Entry, audit::Head), StoreError> {
        const CHUNK: usize = 1024; // values
        let src = self.db();
        let from = [&new.master, &old.master];
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} opens under neither the old nor the new key"));
        let skip = [meta_key(REKEY_PENDING), meta_key(RECEIPTS_AWAITING), meta_key(REKEY_DONE)];

        // Every value, a chunk per batch: record pages and the few sealed
        // values re-wrapped, the source index left to be rebuilt, the rest
        // (audit entries, receipts, tombstones, markers) as it is.
        let mut pages_done = 0;
        let mut iter = src.iter();
        loop {
            let raw: Vec<(IVec, IVec)> = iter.by_ref().take(CHUNK).collect::<Result<_, _>>()?;
            if raw.is_empty() {
                break;
            }
            let carried: Result<Vec<Option<Carried>>, StoreError> = raw
                .par_iter()
                .map(|(k, v)| {
                    let value = match k.first().copied() {
                        Some(P_PAGE) => {
                            let page = Page::decode(v).map_err(|_| StoreError::Corrupt("record page".into()))?;
                            let entries = page
                                .entries
                                .into_iter()
                                .map(|(id, sealed)| {
                                    rewrap_enveloped(&from, &new.master, &dek_ad(id), &sealed)
                                        .map(|v| (id, v))
                                        .ok_or_else(|| corrupt("a record"))
                                })
                                .collect::<Result<Vec<_>, _>>()?;
                            Page { entries }.encode()
                        }
                        Some(P_SOURCE) => return Ok(None),
                        Some(P_REDIRECT) => {
                            let id: [u8; 16] = k
                                .get(1..17)
                                .and_then(|b| b.try_into().ok())
                                .ok_or_else(|| StoreError::Corrupt("redirect key".into()))?;
                            let (ka, _) = redirect_key_ad(RecordId::from_bytes(id));
                            rewrap_enveloped(&from, &new.master, &ka, v).ok_or_else(|| corrupt("a redirect"))?
                        }
                        Some(P_REQUEST) => {
                            let (ka, _) = request_key_ad(&String::from_utf8_lossy(&k[1..]));
                            rewrap_enveloped(&from, &new.master, &ka, v).ok_or_else(|| corrupt("a request"))?
                        }
                        Some(P_UNDO) => {
                            let (ka, _) = snapshot_key_ad(&String::from_utf8_lossy(&k[1..]));
                            rewrap_enveloped(&from, &new.master, &ka, v).ok_or_else(|| corrupt("a snapshot"))?
                        }
                        Some(P_APART) => {
                            let (ka, _) = apart_key_ad(k);
                            rewrap_enveloped(&from, &new.master, &ka, v).ok_or_else(|| corrupt("a decision"))?
                        }
                        Some(p) if let Some(shelf) = Shelf::of_prefix(p) => {
                            let (ka, _) = shelf.key_ad(&k[1..]);
                            rewrap_enveloped(&from, &new.master, &ka, v).ok_or_else(|| corrupt("a shelved value"))?
                        }
                        _ if skip.iter().any(|s| s.as_slice() == k.as_ref()) => return Ok(None),
                        _ => v.to_vec(),
                    };
                    Ok(Some((k.clone(), value)))
                })
                .collect();
            let mut batch = Batch::default();
            for (k, v) in carried?.into_iter().flatten() {
                batch.insert(k, v);
            }
            next.apply_batch(batch)?;
            let pages = raw.iter().filter(|(k, _)| k.first() == Some(&P_PAGE)).count();
            if pages > 0 {
                pages_done += pages;
                progress(pages_done);
            }
        }

        // The index, rebuilt from the records (decrypted a chunk at a time,
        // so memory stays flat) and the redirects.
        let mut buckets: BTreeMap<u16, Bucket> = BTreeMap::new();
        let mut pages = next.scan_prefix([P_PAGE]);
        loop {
            let raw: Vec<IVec> = pages.by_ref().take(CHUNK).map(|kv| kv.map(|(_, v)| v)).collect::<Result<_, _>>()?;
            if raw.is_empty() {
                break;
            }
            let entries: Result<Vec<Vec<(Blind, RecordId)>>, StoreError> = raw
                .par_iter()
                .map(|v| {
                    let mut out = Vec::new();
                    let mut err = None;
                    Page::walk(v, |id, sealed| match open_record(&new.master, id, sealed) {
                        Ok(r) => out.push((blind_with(&new.index, &r.provenance.source, &r.source_id), id)),
                        Err(e) => err = Some(e),
                    })
                    .map_err(|_| StoreError::Corrupt("record page".into()))?;
                    err.map_or(Ok(out), Err)
                })
                .collect();
            for (b, id) in entries?.into_iter().flatten() {
                buckets.entry(bucket_of(&b)).or_default().set(b, id);
            }
        }
        let mut batch = Batch::default();
        for kv in next.scan_prefix([P_REDIRECT]) {
            let (k, v) = kv?;
            let id: [u8; 16] = k
                .get(1..17)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("redirect key".into()))?;
            let (ka, ad) = redirect_key_ad(RecordId::from_bytes(id));
            let plain = open_enveloped(&new.master, &ka, &ad, &v).ok_or_else(|| corrupt("a redirect"))?;
            let r: Redirect = serde_json::from_slice(&plain).map_err(|_| corrupt("a redirect"))?;
            let b = blind_with(&new.index, &r.source, &r.source_id);
            buckets.entry(bucket_of(&b)).or_default().set(b, r.into);
        }
        for (n, bucket) in buckets {
            batch.insert(&bucket_key(n)[..], bucket.encode());
        }
        // Receipts of erasures that waited for this rotation now say so.
        for marker in [RECEIPTS_AWAITING, REKEY_PENDING] {
            if let Some(waiting) = src.get(meta_key(marker))? {
                let receipts: Vec<(String, Vec<u8>)> =
                    serde_json::from_slice(&waiting).map_err(|_| StoreError::Corrupt("waiting receipts".into()))?;
                for (id, r) in receipts {
                    batch.insert(super::change::receipt_key(&id), r);
                }
            }
        }
        batch.insert(meta_key(REKEY_DONE), &new.epoch.to_le_bytes()[..]);
        let draft = Draft { detail: Some(format!("data key generation {} → {}", old.epoch, new.epoch)), ..draft };
        let entry = self.audit_into(head, draft, &mut batch);
        next.apply_batch(batch)?;
        next.flush()?;
        Ok((entry.clone(), entry.head(&self.audit_key)))
    }

    /// Puts the database built at `db.next` in place of the live one, in one
    /// atomic exchange of the two directories, and deletes the old one.
    fn swap_in_next(&self) -> Result<(), StoreError> {
        let Home::Dir(dir) = &self.home else {
            return Err(StoreError::Db("a directory swap on a database store".into()));
        };
        let live = dir.join(DB_DIR);
        let next = dir.join(DB_NEXT);
        exchange_dirs(dir, &next, &live)?;
        // The rotated database is in place (a crash from here on finds its
        // `rekey-done` marker); use it, and let the old one go.
        let db = Db::Sled(open_db_at(&live)?);
        let old = self.db.write().map_err(|_| StoreError::Db("database handle poisoned".into()))?.replace(db);
        if let Some(Db::Sled(old)) = old {
            close_db(old);
        }
        remove_tree(&next)?;
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("could not sync the store directory"))?;
        Ok(())
    }

    /// Finishes an interrupted rotation (called on unlock).
    pub(super) fn rekey(&self, progress: &(dyn Fn(usize) + Sync)) -> Result<Entry, StoreError> {
        let draft = Draft {
            os_user: crate::os_user(),
            user: self.user.clone(),
            action: "rekey".into(),
            reason: Some("finishing a key rotation that was interrupted".into()),
            ..Draft::default()
        };
        self.rekey_with(draft, progress)
    }
}

/// Swaps directories `a` and `b` atomically (`renameat2(RENAME_EXCHANGE)`),
/// falling back where the file system lacks it to two renames through
/// `db.prev`, which [`sweep_databases`] puts back if a crash comes between.
fn exchange_dirs(dir: &Path, a: &Path, b: &Path) -> Result<(), StoreError> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    let failed =
        |e: std::io::Error| StoreError::Io { what: "could not put the rotated database in place".into(), source: e };
    match renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => {}
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS | nix::errno::Errno::ENOTSUP) => {
            let prev = dir.join(DB_PREV);
            fs::rename(b, &prev).map_err(failed)?;
            fs::rename(a, b).map_err(failed)?;
            fs::rename(&prev, a).map_err(failed)?;
        }
        Err(e) => return Err(failed(e.into())),
    }
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(failed)
}

/// Removes a directory tree if it is there.
pub(super) fn remove_tree(path: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StoreError::Io { what: format!("could not remove {}", path.display()), source: e })
        }
        _ => Ok(()),
    }
}

/// At open, with the lock held: puts the live database back if a crash came
/// between the two renames of the fallback swap, and deletes what a rotation
/// that died left — a half-built database, or the old one after the swap
/// (with the remnants of everything erased before it).
pub(super) fn sweep_databases(dir: &Path) -> Result<(), StoreError> {
    let live = dir.join(DB_DIR);
    let prev = dir.join(DB_PREV);
    if !live.exists() && prev.exists() {
        fs::rename(&prev, &live).map_err(io("could not put the database back after an interrupted rotation"))?;
    }
    remove_tree(&dir.join(DB_NEXT))?;
    remove_tree(&prev)
}
