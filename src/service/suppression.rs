//! The suppression list: erased customers stay erased when the next export
//! of the system they came from is imported again.
//!
//! Every erasure keeps, per erased record, keyed hashes (under a key derived
//! from the store's root key; see `store::shelf`) of its (source, source
//! id) and of the ids merged into it, of its email, its phone and its folded
//! full name — never a value. Import and sync skip a row when:
//!
//! - its (source, source id) is on the list; or
//! - it is a new row (its source id is not held) and one of its emails or
//!   phones is on the list, and a name agrees (full name, or first given
//!   and last family name) — an email hit also counts when the row or the
//!   entry has no name; a phone hit needs both names, since households
//!   share phones.
//!
//! An entry holds every email, phone and name the person had in steward:
//! the erased record's, those of the records merged into it and of its
//! values before a rectification (from the undo snapshots and the pending
//! changes), and email or phone extras (`secondary_email` …).
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
    /// Hash → the names of each entry that holds it (empty: no name).
    email: HashMap<Hash16, Vec<Vec<Hash16>>>,
    phone: HashMap<Hash16, Vec<Vec<Hash16>>>,
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
        let names = name_hashes(store, r);
        // An email counts when a name agrees, or when one side has none; a
        // phone only when a name agrees (households share phones).
        let agrees = |entries: &Vec<Vec<Hash16>>, lenient: bool| {
            entries
                .iter()
                .any(|e| if e.is_empty() || names.is_empty() { lenient } else { e.iter().any(|n| names.contains(n)) })
        };
        for e in email_hashes(store, r) {
            if self.email.get(&e).is_some_and(|entries| agrees(entries, true)) {
                return Some(Hit::Email);
            }
        }
        for p in phone_hashes(store, r) {
            if self.phone.get(&p).is_some_and(|entries| agrees(entries, false)) {
                return Some(Hit::Phone);
            }
        }
        None
    }
}

fn source_hash(store: &Store, source: &str, sid: &str) -> Hash16 {
    store.suppression_blind("source", &format!("{source}\0{sid}"))
}

/// An email as the list compares it: trimmed, lower case, without a
/// `+tag`; dots in the local part are dropped only where the provider
/// ignores them (Gmail), so `a.smith@` and `asmith@` elsewhere stay two.
pub fn email_key(s: &str) -> Option<String> {
    let s = s.trim().to_lowercase();
    let (local, domain) = s.rsplit_once('@')?;
    let local = local.split('+').next().unwrap_or(local);
    let local =
        if matches!(domain, "gmail.com" | "googlemail.com") { local.replace('.', "") } else { local.to_owned() };
    (!local.is_empty() && !domain.is_empty()).then(|| format!("{local}@{domain}"))
}

/// Emails of `r`: its email and email-like extras (`secondary_email` …).
fn emails_of(r: &Record) -> Vec<String> {
    let extras = r.extra.iter().filter(|(k, _)| k.contains("mail")).map(|(_, v)| v.as_str());
    r.email.as_deref().into_iter().chain(extras).filter_map(email_key).collect()
}

/// Phones of `r` in E.164: its phone and phone-like extras.
fn phones_of(r: &Record) -> Vec<String> {
    let country = r.address.country.as_deref();
    let extras = r.extra.iter().filter(|(k, _)| k.contains("phone") || k.contains("mobile")).map(|(_, v)| v.as_str());
    r.phone.as_deref().into_iter().chain(extras).filter_map(|p| normalize::e164(p, country)).collect()
}

fn email_hashes(store: &Store, r: &Record) -> Vec<Hash16> {
    emails_of(r).iter().map(|e| store.suppression_blind("email", e)).collect()
}

fn phone_hashes(store: &Store, r: &Record) -> Vec<Hash16> {
    phones_of(r).iter().map(|p| store.suppression_blind("phone", p)).collect()
}

/// The name keys of a given and a family name: the folded full name, and
/// the first given name with the last family name (so "Jane A. Doe" and
/// "Jane Doe" agree).
pub fn name_keys(given: Option<&str>, family: Option<&str>) -> Vec<String> {
    let g = normalize::name(given.unwrap_or(""));
    let f = normalize::name(family.unwrap_or(""));
    let full = normalize::name(&format!("{g} {f}"));
    if full.is_empty() {
        return Vec::new();
    }
    let short = format!("{} {}", g.split(' ').next().unwrap_or(""), f.rsplit(' ').next().unwrap_or(""));
    let mut out = vec![full, normalize::name(&short)];
    out.dedup();
    out
}

fn name_hashes(store: &Store, r: &Record) -> Vec<Hash16> {
    name_keys(r.given_name.as_deref(), r.family_name.as_deref())
        .iter()
        .map(|n| store.suppression_blind("name", n))
        .collect()
}

impl Service {
    /// Puts the suppression entry of erased record `r` into `change`:
    /// `merged` are the source ids merged into it, `also` the other
    /// versions of the person steward still holds (the records of its undo
    /// snapshots: merged-away records, values before a rectification), and
    /// `old` values of its pending rectifications.
    pub(crate) fn suppress_into(
        &self,
        change: &mut Change,
        r: &Record,
        merged: &[(String, String)],
        also: &[Record],
        old: &[(String, String)],
        receipt: &str,
    ) {
        let store = &self.store;
        let mut sources: Vec<String> = vec![r.provenance.source.clone()];
        sources.extend(merged.iter().map(|(s, _)| s.clone()));
        sources.sort();
        sources.dedup();
        let versions = || std::iter::once(r).chain(also.iter());
        let mut emails: Vec<Hash16> = versions().flat_map(|v| email_hashes(store, v)).collect();
        let mut phones: Vec<Hash16> = versions().flat_map(|v| phone_hashes(store, v)).collect();
        let country = r.address.country.as_deref();
        for (field, value) in old {
            match field.as_str() {
                "email" => emails.extend(email_key(value).map(|e| store.suppression_blind("email", &e))),
                "phone" => phones.extend(normalize::e164(value, country).map(|p| store.suppression_blind("phone", &p))),
                _ => {}
            }
        }
        let mut names: Vec<Hash16> = versions().flat_map(|v| name_hashes(store, v)).collect();
        for v in [&mut emails, &mut phones, &mut names] {
            v.sort();
            v.dedup();
        }
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
            emails,
            phones,
            names,
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
            for h in &e.emails {
                s.email.entry(*h).or_default().push(e.names.clone());
            }
            for h in &e.phones {
                s.phone.entry(*h).or_default().push(e.names.clone());
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
