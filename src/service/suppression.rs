//! The suppression list: erased customers stay erased when the next export
//! of the system they came from is imported again.
//!
//! Every erasure keeps, per erased record, keyed hashes (under a key derived
//! from the store's root key; see `store::shelf`) of its (source, source
//! id) and of the ids merged into it, of its email, its phone and its folded
//! full name — never a value. Import and sync skip a row when:
//!
//! - its (source, source id) is on the list; or
//! - it is a new row (its source id is not held) and its email or phone is
//!   on the list, and the entry's name agrees with the row's — an email hit
//!   also counts when the row or the entry has no name; a phone hit needs
//!   both names, since households share phones.
//!
//! Skipped rows are counted and audited, never stored. An admin removes an
//! entry (with a reason) when the customer comes back and consents again.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::findings::normalize;
use crate::model::source::{Hash16, Suppressed};
use crate::store::{Change, Shelf};

/// The list, loaded for lookups.
#[derive(Default)]
pub struct Suppressor {
    source_ids: HashSet<Hash16>,
    /// Hash → the names of the entries that hold it (`None`: no name).
    email: HashMap<Hash16, Vec<Option<Hash16>>>,
    phone: HashMap<Hash16, Vec<Option<Hash16>>>,
}

/// Why a row was suppressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    SourceId,
    Email,
    Phone,
}

impl Suppressor {
    pub fn is_empty(&self) -> bool {
        self.source_ids.is_empty() && self.email.is_empty() && self.phone.is_empty()
    }

    /// Whether (`source`, `sid`) is the source id of an erased record.
    pub fn hit_source_id(&self, store: &Store, source: &str, sid: &str) -> bool {
        !self.source_ids.is_empty() && self.source_ids.contains(&source_hash(store, source, sid))
    }

    /// Whether `r` belongs to an erased customer. `held`: its source id is
    /// a record in the store (only a source-id hit suppresses it then).
    pub fn hit(&self, store: &Store, r: &Record, held: bool) -> Option<Hit> {
        if self.is_empty() {
            return None;
        }
        if self.source_ids.contains(&source_hash(store, &r.provenance.source, &r.source_id)) {
            return Some(Hit::SourceId);
        }
        if held {
            return None;
        }
        let name = name_hash(store, r);
        let agrees = |names: &Vec<Option<Hash16>>, lenient: bool| {
            names.iter().any(|n| match (n, name) {
                (Some(a), Some(b)) => *a == b,
                _ => lenient,
            })
        };
        if let Some(e) = email_hash(store, r)
            && self.email.get(&e).is_some_and(|names| agrees(names, true))
        {
            return Some(Hit::Email);
        }
        if let Some(p) = phone_hash(store, r)
            && self.phone.get(&p).is_some_and(|names| agrees(names, false))
        {
            return Some(Hit::Phone);
        }
        None
    }
}

fn source_hash(store: &Store, source: &str, sid: &str) -> Hash16 {
    store.suppression_blind("source", &format!("{source}\0{sid}"))
}

fn email_hash(store: &Store, r: &Record) -> Option<Hash16> {
    r.email.as_deref().and_then(normalize::email).map(|e| store.suppression_blind("email", &e))
}

fn phone_hash(store: &Store, r: &Record) -> Option<Hash16> {
    r.phone
        .as_deref()
        .and_then(|p| normalize::e164(p, r.address.country.as_deref()))
        .map(|p| store.suppression_blind("phone", &p))
}

fn name_hash(store: &Store, r: &Record) -> Option<Hash16> {
    let full = normalize::name(&format!(
        "{} {}",
        r.given_name.as_deref().unwrap_or(""),
        r.family_name.as_deref().unwrap_or("")
    ));
    (!full.is_empty()).then(|| store.suppression_blind("name", &full))
}

impl Service {
    /// Puts the suppression entry of erased record `r` (and of the source
    /// ids `merged` into it) into `change`.
    pub(crate) fn suppress_into(&self, change: &mut Change, r: &Record, merged: &[(String, String)], receipt: &str) {
        let store = &self.store;
        let mut sources: Vec<String> = vec![r.provenance.source.clone()];
        sources.extend(merged.iter().map(|(s, _)| s.clone()));
        sources.sort();
        sources.dedup();
        let entry = Suppressed {
            id: format!("sup-{}", ulid::Ulid::new()),
            at: crate::model::now(),
            by: self.session.user.clone(),
            receipt: Some(receipt.to_owned()),
            sources,
            source_ids: std::iter::once((r.provenance.source.as_str(), r.source_id.as_str()))
                .chain(merged.iter().map(|(s, i)| (s.as_str(), i.as_str())))
                .map(|(s, i)| source_hash(store, s, i))
                .collect(),
            email: email_hash(store, r),
            phone: phone_hash(store, r),
            name: name_hash(store, r),
        };
        change.shelve.push((
            Shelf::Suppression,
            entry.id.as_bytes().to_vec(),
            serde_json::to_vec(&entry).unwrap_or_default(),
        ));
    }

    fn suppressed(&self) -> Result<Vec<Suppressed>, ServiceError> {
        let mut out = Vec::new();
        for (_, plain) in self.store.shelf(Shelf::Suppression, &[])? {
            out.push(
                serde_json::from_slice(&plain)
                    .map_err(|_| ServiceError::Store(StoreError::Corrupt("a suppression entry".into())))?,
            );
        }
        Ok(out)
    }

    /// The list, loaded for an import or a sync.
    pub(crate) fn suppressor(&self) -> Result<Suppressor, ServiceError> {
        let mut s = Suppressor::default();
        for e in self.suppressed()? {
            s.source_ids.extend(e.source_ids.iter().copied());
            if let Some(h) = e.email {
                s.email.entry(h).or_default().push(e.name);
            }
            if let Some(h) = e.phone {
                s.phone.entry(h).or_default().push(e.name);
            }
        }
        Ok(s)
    }

    /// Every entry (admin): ids, dates, receipts and source names — the
    /// hashes themselves are not shown.
    pub fn suppression_list(&self) -> Result<Vec<Suppressed>, ServiceError> {
        self.require(Role::Admin, "suppression-list", &[])?;
        self.suppressed()
    }

    /// Removes entry `id` (admin, with a reason): the customer came back and
    /// consented again; the next import takes their rows.
    pub fn suppression_remove(&self, id: &str, reason: &str) -> Result<(), ServiceError> {
        let mut draft = self.draft("suppression-remove", &[]);
        self.require(Role::Admin, "suppression-remove", &[])?;
        draft.reason = Some(self.need_reason(&draft, reason)?);
        if self.store.shelf_get(Shelf::Suppression, id.as_bytes())?.is_none() {
            return Err(self.refuse(draft, format!("no suppression entry {}", crate::model::text::fit(id, 40))));
        }
        draft.detail = Some(format!("entry {} removed", crate::model::text::fit(id, 40)));
        let change = Change { unshelve: vec![(Shelf::Suppression, id.as_bytes().to_vec())], ..Change::default() };
        self.commit(change, draft)?;
        Ok(())
    }
}
