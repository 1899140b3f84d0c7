//! Who is the same person: reviewers' "not the same person" decisions, and
//! the match index a scan leaves for request matching.
//!
//! A decision is kept per pair of records, sealed, audited, re-wrapped by
//! every key rotation and dropped with an erased record; a merge carries it
//! to the surviving record (decisions are read through redirects). The
//! scan never clusters a pair so marked, and request matching never
//! proposes a record through a cluster the decision split.
//!
//! The match index (see `findings::duplicates::index`) is built by every
//! scan of the whole store, kept in memory for the session and saved sealed
//! beside the store, so that `request match` in a later process finds it;
//! any change to a record makes it stale, and it is rebuilt on demand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::findings::duplicates::Apart;
use crate::findings::duplicates::index::MatchIndex;
use crate::model::RecordId;
use crate::store::Change;

/// A "not the same person" decision, as listed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Decision {
    pub records: [RecordId; 2],
    pub by: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

/// What is sealed with a decision (the ids are its key).
#[derive(Serialize, Deserialize)]
struct Sealed {
    by: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    at: chrono::DateTime<chrono::Utc>,
    reason: String,
}

impl Service {
    /// Records that every pair among `ids` are different people (a
    /// reviewer splitting a cluster, or two records side by side). Returns
    /// the number of pairs newly recorded. Audited with the reason.
    pub fn mark_apart(&self, ids: &[RecordId], reason: &str) -> Result<usize, ServiceError> {
        let mut draft = self.draft("not-same-person", ids);
        self.require(Role::Steward, "decide who is the same person", ids)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(self.refuse(draft, "a reason is required".into()));
        }
        draft.reason = Some(crate::model::text::fit(reason, 200));
        let mut distinct: Vec<RecordId> = ids.to_vec();
        distinct.sort();
        distinct.dedup();
        if distinct.len() < 2 {
            return Err(self.refuse(draft, "name two or more different records".into()));
        }
        for id in &distinct {
            self.real(*id)?;
        }
        let known: BTreeSet<(RecordId, RecordId)> = self.store.apart()?.into_iter().map(|(a, b, _)| (a, b)).collect();
        let sealed = serde_json::to_vec(&Sealed {
            by: self.session.user.clone(),
            at: crate::model::now(),
            reason: crate::model::text::fit(reason, 200),
        })
        .unwrap_or_default();
        let mut change = Change::default();
        for (i, a) in distinct.iter().enumerate() {
            for b in &distinct[i + 1..] {
                if !known.contains(&(*a, *b)) {
                    change.apart.push((*a, *b, sealed.clone()));
                }
            }
        }
        let n = change.apart.len();
        draft.detail = Some(format!("{n} pair(s) marked as different people"));
        self.commit(change, draft)?;
        Ok(n)
    }

    /// Withdraws a "not the same person" decision on two records (it was a
    /// mistake). Audited with the reason.
    pub fn unmark_apart(&self, a: RecordId, b: RecordId, reason: &str) -> Result<(), ServiceError> {
        let mut draft = self.draft("same-person-again", &[a, b]);
        self.require(Role::Steward, "decide who is the same person", &[a, b])?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(self.refuse(draft, "a reason is required".into()));
        }
        draft.reason = Some(crate::model::text::fit(reason, 200));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        if !self.store.apart()?.iter().any(|(x, y, _)| (*x, *y) == (lo, hi)) {
            return Err(self.refuse(draft, "those two records are not marked as different people".into()));
        }
        draft.detail = Some("decision withdrawn".into());
        self.commit(Change { drop_apart: vec![(lo, hi)], ..Change::default() }, draft)?;
        Ok(())
    }

    /// Every decision, oldest first.
    pub fn apart_decisions(&self) -> Result<Vec<Decision>, ServiceError> {
        self.require_to_read(Role::Viewer, "list decisions")?;
        let mut out: Vec<Decision> = self
            .store
            .apart()?
            .into_iter()
            .filter_map(|(a, b, plain)| {
                let s: Sealed = serde_json::from_slice(&plain).ok()?;
                Some(Decision { records: [a, b], by: s.by, at: s.at, reason: s.reason })
            })
            .collect();
        out.sort_by_key(|d| d.at);
        Ok(out)
    }

    /// The decisions as pairs of indices into `records` (lower first), each
    /// record id read through the merges since (a decision about a record
    /// merged away holds for its survivor).
    pub(crate) fn apart_indexed<R: crate::model::Identified>(&self, records: &[R]) -> Result<Apart, ServiceError> {
        let pairs = self.store.apart()?;
        if pairs.is_empty() {
            return Ok(Apart::default());
        }
        let index: BTreeMap<RecordId, u32> = records.iter().enumerate().map(|(i, r)| (r.id(), i as u32)).collect();
        let redirects: BTreeMap<RecordId, RecordId> =
            self.store.redirects()?.into_iter().map(|r| (r.from, r.into)).collect();
        let resolve = |mut id: RecordId| {
            for _ in 0..16 {
                match redirects.get(&id) {
                    Some(next) => id = *next,
                    None => break,
                }
            }
            index.get(&id).copied()
        };
        Ok(pairs
            .into_iter()
            .filter_map(|(a, b, _)| {
                let (x, y) = (resolve(a)?, resolve(b)?);
                (x != y).then_some(if x < y { (x, y) } else { (y, x) })
            })
            .collect())
    }

    /// Keeps `index` for request matching: in memory, and sealed beside the
    /// store (not in a read-only session). Only an index of the store as it
    /// is now is kept.
    pub(crate) fn keep_match_index(&self, index: MatchIndex) -> Result<Arc<MatchIndex>, ServiceError> {
        let index = Arc::new(index);
        if index.generation != self.store.generation()? {
            return Ok(index);
        }
        if self.read_only().is_none() {
            self.store.save_match_index(&zeroize::Zeroizing::new(index.encode()))?;
        }
        if let Ok(mut cache) = self.match_cache.lock() {
            *cache = Some(index.clone());
        }
        Ok(index)
    }

    /// The match index of the store as it is now: the last scan's when
    /// nothing changed since (in memory, or saved), else built afresh (a
    /// full duplicate pass over every record). `progress` hears of the slow path.
    pub(crate) fn match_index(&self, progress: &(dyn Fn(&str) + Sync)) -> Result<Arc<MatchIndex>, ServiceError> {
        let generation = self.store.generation()?;
        if let Ok(cache) = self.match_cache.lock()
            && let Some(index) = cache.as_ref().filter(|i| i.generation == generation)
        {
            return Ok(index.clone());
        }
        if let Some(bytes) = self.store.load_match_index()?
            && let Some(index) = MatchIndex::decode(&bytes).filter(|i| i.generation == generation)
        {
            let index = Arc::new(index);
            if let Ok(mut cache) = self.match_cache.lock() {
                *cache = Some(index.clone());
            }
            return Ok(index);
        }
        progress("decrypting every record");
        let records = self.store.load_all(&mut |_| {})?;
        let (policy, _) = self.policy()?;
        let apart = self.apart_indexed(&records)?;
        let state = crate::findings::scan_state(&records, &policy, crate::model::now(), &apart, progress);
        self.keep_match_index(state.match_index(generation, &records))
    }
}
