//! Key rotation: a new data key re-wraps every surviving record key, merge
//! snapshot, redirect and request; the source index is rebuilt under a key derived
//! from it; then the key-slot file is overwritten without the old data key.
//!
//! sled keeps old values on disk after they are replaced or removed
//! (measured; see DESIGN.md). Those remnants — including every erased
//! record — are wrapped under the old data key, which after a rekey exists
//! nowhere: not in the slot file, not in sled. A passphrase learnt later
//! recovers the root key and the new data key only.
//!
//! Crash safety: the new key is first written to the slot file as
//! `next_data_key`; values are re-wrapped page by page (each one opens under
//! either key); the rebuilt index and the audit entry go in one final batch;
//! only then does the slot file drop the old key. A store opened with
//! `next_data_key` set finishes the rotation before anything else; one that
//! was killed after the final batch only rewrites the slot file. An erasure
//! leaves a `rekey-pending` marker in its own batch (with its receipt as it
//! will read after the rotation), so a kill between the erasure and the
//! rotation still ends in a rotation on the next unlock.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::audit::{self, Draft, Entry};
use super::change::{Redirect, apart_key_ad, redirect_key_ad, request_key_ad, snapshot_key_ad};
use super::index::{Blind, Bucket, bucket_of};
use super::page::Page;
use super::*;

impl Store {
    /// Rotates the data key. `progress` gets the number of pages re-wrapped.
    /// Returns the audit entry (whose draft is `draft`, or a note that an
    /// interrupted rotation was finished).
    pub fn rekey_with(&self, draft: Draft, progress: &(dyn Fn(usize) + Sync)) -> Result<Entry, StoreError> {
        let mut head = self.head.lock().map_err(|_| StoreError::Db("audit head poisoned".into()))?;
        let old = self.keys();
        let new = {
            let mut slots = self.lock_slots()?;
            let (key, epoch) = match &slots.next_data_key {
                Some(s) => (slots.open_key(&self.root, s)?, s.epoch),
                None => {
                    // Nothing is written until there is room for all of it.
                    check_space_for_rewrite(&self.dir)?;
                    let epoch = old.epoch + 1;
                    let key = Key::random();
                    slots.next_data_key = Some(slots.seal_key(&self.root, &key, epoch));
                    write_slots(&self.dir, &slots)?;
                    (key, epoch)
                }
            };
            DataKeys::new(key, epoch)
        };
        // A rotation killed after its final batch but before the slot file
        // was rewritten only needs that last step (and no second entry).
        let done = self.db.get(meta_key(REKEY_DONE))?.and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            == Some(new.epoch.to_le_bytes());
        self.invalidate_snapshot()?;
        // The match index is sealed under the old key: it goes with it.
        self.drop_match_index()?;
        let entry = if done {
            self.audit_entries()?
                .pop()
                .ok_or_else(|| StoreError::Corrupt("the rotation's audit entry is missing".into()))?
        } else {
            self.rewrap_all(&old, &new, draft, &mut head, progress)?
        };

        // Only now forget the old key.
        {
            let mut slots = self.lock_slots()?;
            slots.data_key = slots.next_data_key.take();
            slots.set_audit_head(&self.root, &head.encode());
            write_slots(&self.dir, &slots)?;
        }
        *self.keys.write().map_err(|_| StoreError::Db("keys poisoned".into()))? = new;
        Ok(entry)
    }

    /// Re-wraps everything under `new`, rebuilds the index, and writes the
    /// final batch (index, audit entry, receipts waiting for the rotation).
    fn rewrap_all(
        &self,
        old: &DataKeys,
        new: &DataKeys,
        draft: Draft,
        head: &mut audit::Head,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Entry, StoreError> {
        const CHUNK: usize = 1024; // pages
        let from = [&new.master, &old.master];
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} opens under neither the old nor the new key"));

        // Record pages, a chunk per batch.
        let mut done = 0;
        let mut iter = self.db.scan_prefix([P_PAGE]);
        loop {
            let raw: Vec<(sled::IVec, sled::IVec)> = iter.by_ref().take(CHUNK).collect::<Result<_, _>>()?;
            if raw.is_empty() {
                break;
            }
            let pages: Result<Vec<(sled::IVec, Vec<u8>)>, StoreError> = raw
                .par_iter()
                .map(|(k, v)| {
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
                    Ok((k.clone(), Page { entries }.encode()))
                })
                .collect();
            let mut batch = sled::Batch::default();
            for (k, v) in pages? {
                batch.insert(k, v);
            }
            self.db.apply_batch(batch)?;
            done += raw.len();
            progress(done);
        }

        // Redirects and snapshots (few), then the index, audit and a new key
        // generation in the final batch.
        let mut batch = sled::Batch::default();
        let mut redirects = Vec::new();
        for kv in self.db.scan_prefix([P_REDIRECT]) {
            let (k, v) = kv?;
            let id: [u8; 16] = k
                .get(1..17)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("redirect key".into()))?;
            let (ka, ad) = redirect_key_ad(RecordId::from_bytes(id));
            let value = rewrap_enveloped(&from, &new.master, &ka, &v).ok_or_else(|| corrupt("a redirect"))?;
            let plain = open_enveloped(&new.master, &ka, &ad, &value).ok_or_else(|| corrupt("a redirect"))?;
            let r: Redirect = serde_json::from_slice(&plain).map_err(|_| corrupt("a redirect"))?;
            redirects.push(r);
            batch.insert(k, value);
        }
        for kv in self.db.scan_prefix([P_REQUEST]) {
            let (k, v) = kv?;
            let (ka, _) = request_key_ad(&String::from_utf8_lossy(&k[1..]));
            batch.insert(k.clone(), rewrap_enveloped(&from, &new.master, &ka, &v).ok_or_else(|| corrupt("a request"))?);
        }
        for kv in self.db.scan_prefix([P_UNDO]) {
            let (k, v) = kv?;
            let (ka, _) = snapshot_key_ad(&String::from_utf8_lossy(&k[1..]));
            batch
                .insert(k.clone(), rewrap_enveloped(&from, &new.master, &ka, &v).ok_or_else(|| corrupt("a snapshot"))?);
        }
        for kv in self.db.scan_prefix([P_APART]) {
            let (k, v) = kv?;
            let (ka, _) = apart_key_ad(&k);
            batch
                .insert(k.clone(), rewrap_enveloped(&from, &new.master, &ka, &v).ok_or_else(|| corrupt("a decision"))?);
        }
        // The index, rebuilt from the records (decrypted a chunk at a time,
        // so memory stays flat) and the redirects.
        let mut buckets: BTreeMap<u16, Bucket> = BTreeMap::new();
        let mut pages = self.db.scan_prefix([P_PAGE]);
        loop {
            let raw: Vec<sled::IVec> =
                pages.by_ref().take(CHUNK).map(|kv| kv.map(|(_, v)| v)).collect::<Result<_, _>>()?;
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
        for r in &redirects {
            let b = blind_with(&new.index, &r.source, &r.source_id);
            buckets.entry(bucket_of(&b)).or_default().set(b, r.into);
        }
        for kv in self.db.scan_prefix([P_SOURCE]) {
            batch.remove(kv?.0);
        }
        for (n, bucket) in buckets {
            batch.insert(&bucket_key(n)[..], bucket.encode());
        }
        // Receipts of erasures that waited for this rotation now say so.
        if let Some(waiting) = self.db.get(meta_key(RECEIPTS_AWAITING))? {
            let receipts: Vec<(String, Vec<u8>)> =
                serde_json::from_slice(&waiting).map_err(|_| StoreError::Corrupt("waiting receipts".into()))?;
            for (id, r) in receipts {
                batch.insert(super::change::receipt_key(&id), r);
            }
            batch.remove(meta_key(RECEIPTS_AWAITING));
        }
        if let Some(pending) = self.db.get(meta_key(REKEY_PENDING))? {
            let receipts: Vec<(String, Vec<u8>)> =
                serde_json::from_slice(&pending).map_err(|_| StoreError::Corrupt("pending receipts".into()))?;
            for (id, r) in receipts {
                batch.insert(super::change::receipt_key(&id), r);
            }
            batch.remove(meta_key(REKEY_PENDING));
        }
        batch.insert(meta_key(REKEY_DONE), &new.epoch.to_le_bytes()[..]);
        let draft = Draft { detail: Some(format!("data key generation {} → {}", old.epoch, new.epoch)), ..draft };
        let entry = self.audit_into(*head, draft, &mut batch);
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        *head = entry.head(&self.audit_key);
        Ok(entry)
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
