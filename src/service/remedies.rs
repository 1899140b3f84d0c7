//! Remedies: what fixes each kind of finding, one record or in bulk, and
//! how it is undone.
//!
//! - `overcollected`: [`Service::drop_field`] removes a field from every
//!   record that holds it;
//! - `pii` in free text: [`Service::redact`] replaces what was found with a
//!   redaction (card → scheme and last 4, IBAN → country and last 4, SSN →
//!   last 4, email/phone → masked);
//! - `stale`: [`Service::mark_verified`] (and the re-verification list in
//!   `export`);
//! - `consent`: [`Service::record_consent`] keeps a history (the proof),
//!   [`Service::restrict`] restricts processing;
//! - `duplicate`: [`Service::bulk_merge`] merges many clusters as one change;
//! - `invalid`: an edit that clears or corrects the value ([`Service::update`]).
//!
//! Each change is one atomic commit with its audit entry and, except for
//! verification, consent and restriction (which record facts rather than
//! destroy values), an undo snapshot: [`Service::undo`] restores the exact
//! records, refused when a record changed since. A snapshot that holds old
//! values (an edit, a redaction, a dropped field) lives only until the next
//! key rotation, which deletes it first: after it, the old values are gone
//! for good, as for an erasure. Erasures are never undoable.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::actions::{FieldName, MergePlan, Snapshot, record_hash};
use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::findings::{self, pii};
use crate::model::{self, ConsentEvent, Record, RecordId, Restriction};
use crate::store::Change;
use crate::store::audit::Draft;

/// What a remedy did (or, planned, would do).
#[derive(Clone, Debug, Serialize)]
pub struct Remedied {
    /// The id `steward undo` takes; none when the change is not undoable.
    pub change_id: Option<String>,
    pub records: usize,
    pub audit_entry: u64,
    /// One line: what changed (no personal data).
    pub summary: String,
    /// The records changed (restored, for an undo).
    #[serde(skip)]
    pub ids: Vec<RecordId>,
}

/// A planned field drop: which records hold the field.
#[derive(Clone, Debug, Serialize)]
pub struct DropPlan {
    pub field: String,
    pub source: Option<String>,
    pub records: Vec<RecordId>,
    /// The field's category in the policy, or "undeclared".
    pub category: String,
}

/// One value a redaction replaces, shown masked.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Redaction {
    pub record: RecordId,
    pub field: String,
    pub category: pii::Category,
    /// What the scan shows of it (masked).
    pub found: String,
    /// What replaces it.
    pub becomes: String,
}

/// A bulk merge: the clusters to merge and the merge of each.
#[derive(Clone, Debug)]
pub struct BulkPlan {
    pub min_probability: f64,
    /// (cluster probability, merge plan)
    pub clusters: Vec<(f64, MergePlan)>,
}

/// One cluster of a bulk merge, for previews (no personal data).
#[derive(Clone, Debug, Serialize)]
pub struct BulkItem {
    pub probability: f64,
    pub survivor: RecordId,
    pub merged: Vec<RecordId>,
}

impl BulkPlan {
    pub fn items(&self) -> Vec<BulkItem> {
        self.clusters
            .iter()
            .map(|(p, plan)| {
                let survivor = plan.records[plan.survivor].id;
                BulkItem {
                    probability: *p,
                    survivor,
                    merged: plan.records.iter().map(|r| r.id).filter(|id| *id != survivor).collect(),
                }
            })
            .collect()
    }

    pub fn records(&self) -> usize {
        self.clusters.iter().map(|(_, p)| p.records.len()).sum()
    }
}

/// The kinds of undoable change, as their ids begin.
const UNDOABLE: [&str; 5] = ["merge-", "bulk-", "edit-", "redact-", "drop-"];

/// The most records one bulk merge takes (its undo snapshot is one value).
pub const MAX_BULK_RECORDS: usize = 200_000;

/// The most records one drop or redaction changes (its undo snapshot, which
/// holds them all, is one sealed value).
pub const MAX_UNDO_RECORDS: usize = 200_000;

fn text(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Service {
    fn reason_for(&self, draft: &Draft, reason: &str) -> Result<String, ServiceError> {
        text(reason)
            .map(|r| model::text::fit(&r, 200))
            .ok_or_else(|| self.refuse(draft.clone(), "a reason is required".into()))
    }

    /// The records holding `field` (of `source` only, when given).
    pub fn plan_drop_field(&self, field: &str, source: Option<&str>) -> Result<DropPlan, ServiceError> {
        self.require(Role::Admin, "drop a field", &[])?;
        let name = FieldName::parse(field.trim());
        if field.trim().is_empty() || matches!(field.trim(), "id" | "source" | "source_id") {
            return Err(ServiceError::Invalid(format!("`{}` cannot be dropped", model::text::fit(field, 40))));
        }
        let mut records = Vec::new();
        self.store.each_chunk(4096, &mut |chunk| {
            records.extend(
                chunk
                    .iter()
                    .filter(|r| source.is_none_or(|s| r.provenance.source == s) && name.get(r).is_some())
                    .map(|r| r.id),
            );
            true
        })?;
        let (policy, _) = self.policy()?;
        let category = policy.field(name.name()).map_or_else(|| "undeclared".to_owned(), |f| f.category.clone());
        Ok(DropPlan { field: name.name().to_owned(), source: source.map(str::to_owned), records, category })
    }

    /// The records holding `field` past the retention of all its purposes
    /// (the over-collected findings of that kind; records expired as a
    /// whole are housekeeping's).
    pub fn plan_drop_field_past_retention(&self, field: &str) -> Result<DropPlan, ServiceError> {
        self.require(Role::Admin, "drop a field", &[])?;
        let name = FieldName::parse(field.trim());
        let (policy, _) = self.policy()?;
        let now = model::now();
        let mut records = Vec::new();
        self.store.each_chunk(4096, &mut |chunk| {
            for r in &chunk {
                let fields = crate::findings::present(r);
                if crate::findings::retention(r, &fields, &policy, now).past.iter().any(|f| f == name.name()) {
                    records.push(r.id);
                }
            }
            true
        })?;
        let category = policy.category_of(name.name());
        Ok(DropPlan { field: name.name().to_owned(), source: None, records, category })
    }

    /// [`Service::plan_drop_field`] over `ids` only (the records the
    /// findings flag for the field): those that hold it.
    pub fn plan_drop_field_in(&self, field: &str, ids: &[RecordId]) -> Result<DropPlan, ServiceError> {
        self.require(Role::Admin, "drop a field", &[])?;
        let name = FieldName::parse(field.trim());
        if field.trim().is_empty() || matches!(field.trim(), "id" | "source" | "source_id") {
            return Err(ServiceError::Invalid(format!("`{}` cannot be dropped", model::text::fit(field, 40))));
        }
        let mut records = Vec::new();
        for id in ids {
            if name.get(&self.real(*id)?).is_some() {
                records.push(*id);
            }
        }
        let (policy, _) = self.policy()?;
        let category = policy.field(name.name()).map_or_else(|| "undeclared".to_owned(), |f| f.category.clone());
        Ok(DropPlan { field: name.name().to_owned(), source: None, records, category })
    }

    /// Removes the planned field from every record that holds it, as one
    /// undoable change (until the next key rotation, which makes the old
    /// values unrecoverable).
    pub fn drop_field(&self, plan: &DropPlan, reason: &str) -> Result<Remedied, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("drop-field", &plan.records);
        self.require(Role::Admin, "drop a field", &plan.records)?;
        draft.reason = Some(self.reason_for(&draft, reason)?);
        if plan.records.is_empty() {
            return Err(self.refuse(draft, format!("no record holds `{}`", plan.field)));
        }
        let name = FieldName::parse(&plan.field);
        let (policy, _) = self.policy()?;
        if let Some((hold, h)) = policy.hold_of(&plan.field) {
            return Err(self.refuse(
                draft,
                format!(
                    "`{}` is under the legal hold `{hold}` ({}): it is kept",
                    plan.field,
                    model::text::fit(&h.reason, 80)
                ),
            ));
        }
        if plan.records.len() > MAX_UNDO_RECORDS {
            return Err(self.refuse(
                draft,
                format!(
                    "{} records hold `{}`: drop it a source at a time (--source), at most {MAX_UNDO_RECORDS} records per change",
                    plan.records.len(),
                    plan.field
                ),
            ));
        }
        let before = plan.records.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        let mut after = Vec::with_capacity(before.len());
        // Not an update of the customer's data (`times.updated` stays):
        // staff removing a field neither confirms the rest nor restarts
        // its retention.
        for r in &before {
            let mut next = r.clone();
            if let Err(e) = name.clear(&mut next) {
                return Err(self.refuse(draft, e));
            }
            if next != *r {
                after.push(next);
            }
        }
        if after.len() != before.len() {
            return Err(self.refuse(draft, "records changed since the drop was planned; plan it again".into()));
        }
        let change_id = format!("drop-{}", ulid::Ulid::new());
        draft.detail = Some(format!(
            "{change_id}: `{}` ({}) dropped from {} record(s){}",
            plan.field,
            plan.category,
            after.len(),
            plan.source.as_deref().map(|s| format!(" of source {s}")).unwrap_or_default()
        ));
        let n = after.len();
        let entry = self.commit_undoable(&change_id, "drop-field", &before, after, draft)?;
        Ok(Remedied {
            change_id: Some(change_id),
            records: n,
            audit_entry: entry.seq,
            summary: format!("dropped `{}` from {n} record(s)", plan.field),
            ids: plan.records.clone(),
        })
    }

    /// What redacting `ids` (in `field` only, when given) would replace.
    pub fn plan_redact(&self, ids: &[RecordId], field: Option<&str>) -> Result<Vec<Redaction>, ServiceError> {
        self.require(Role::Steward, "redact", ids)?;
        let (policy, _) = self.policy()?;
        let mut out = Vec::new();
        for id in ids {
            let r = self.real(*id)?;
            out.extend(redactions(&r, field, &policy));
        }
        Ok(out)
    }

    /// Redacts personal data found in the free-text fields of `ids` (in
    /// `field` only, when given), as one undoable change.
    pub fn redact(&self, ids: &[RecordId], field: Option<&str>, reason: &str) -> Result<Remedied, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("redact", ids);
        self.require(Role::Steward, "redact", ids)?;
        draft.reason = Some(self.reason_for(&draft, reason)?);
        if ids.len() > MAX_UNDO_RECORDS {
            return Err(self.refuse(draft, format!("at most {MAX_UNDO_RECORDS} records per redaction")));
        }
        let (policy, _) = self.policy()?;
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let mut found: BTreeMap<&'static str, usize> = BTreeMap::new();
        for id in ids {
            let r = self.real(*id)?;
            let items = redactions(&r, field, &policy);
            if items.is_empty() {
                continue;
            }
            for i in &items {
                *found.entry(i.category.name()).or_default() += 1;
            }
            let mut next = r.clone();
            let fields: BTreeSet<&str> = items.iter().map(|i| i.field.as_str()).collect();
            for f in fields {
                if let Some(v) = next.extra.get(f).cloned() {
                    let (redacted, _) = pii::redact(&v, r.address.country.as_deref());
                    next.extra.insert(f.to_owned(), redacted);
                }
            }
            // As for a dropped field, `times.updated` stays.
            before.push(r);
            after.push(next);
        }
        if after.is_empty() {
            return Err(self.refuse(draft, "nothing to redact: no personal data found in free text".into()));
        }
        let change_id = format!("redact-{}", ulid::Ulid::new());
        let what: Vec<String> = found.iter().map(|(k, n)| format!("{n} {k}")).collect();
        draft.records = before.iter().map(|r| r.id.to_string()).collect();
        draft.detail = Some(format!("{change_id}: {} in {} record(s)", what.join(", "), after.len()));
        let n = after.len();
        let changed: Vec<RecordId> = before.iter().map(|r| r.id).collect();
        let entry = self.commit_undoable(&change_id, "redact", &before, after, draft)?;
        Ok(Remedied {
            change_id: Some(change_id),
            records: n,
            audit_entry: entry.seq,
            summary: format!("redacted {} in {n} record(s)", what.join(", ")),
            ids: changed,
        })
    }

    /// Clears `field` of record `id` (an invalid value), as an undoable
    /// change. Staff work: the record's times stay (it neither confirms the
    /// rest nor restarts its retention).
    pub fn clear_value(&self, id: RecordId, field: &str, reason: &str) -> Result<Remedied, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("update", &[id]);
        self.require(Role::Steward, "update", &[id])?;
        draft.reason = Some(self.reason_for(&draft, reason)?);
        let before = self.real(id)?;
        let name = FieldName::parse(field);
        let mut after = before.clone();
        if let Err(e) = name.clear(&mut after) {
            return Err(self.refuse(draft, e));
        }
        if after == before {
            return Err(self.refuse(draft, format!("`{}` is empty already", model::text::fit(field, 40))));
        }
        let change_id = format!("edit-{}", ulid::Ulid::new());
        draft.detail = Some(format!("{change_id}: fields: {} (cleared)", name.name()));
        let entry = self.commit_undoable(&change_id, "edit", std::slice::from_ref(&before), vec![after], draft)?;
        Ok(Remedied {
            change_id: Some(change_id),
            records: 1,
            audit_entry: entry.seq,
            summary: format!("cleared `{}`", name.name()),
            ids: vec![id],
        })
    }

    /// Records that the customers of `ids` confirmed their details, and how.
    pub fn mark_verified(&self, ids: &[RecordId], how: &str, reason: &str) -> Result<Remedied, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("verified", ids);
        self.require(Role::Steward, "mark records verified", ids)?;
        let Some(how) = text(how).map(|h| model::text::fit(&h, 60)) else {
            return Err(self.refuse(draft, "say how the customer confirmed (reply, call, order)".into()));
        };
        draft.reason = Some(text(reason).unwrap_or_else(|| format!("confirmed by {how}")));
        if ids.is_empty() {
            return Err(self.refuse(draft, "no record given".into()));
        }
        let now = model::now();
        let before = ids.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        let after: Vec<Record> = before
            .iter()
            .map(|r| {
                let mut n = r.clone();
                n.times.last_verified = Some(now);
                n.care.verified_how = Some(how.clone());
                n
            })
            .collect();
        draft.detail = Some(format!("{} record(s) confirmed by {how}", after.len()));
        draft.before = Some(self.store.state_digest(&before));
        draft.after = Some(self.store.state_digest(&after));
        let n = after.len();
        let entry = self.commit(Change { put: after, ..Change::default() }, draft)?;
        Ok(Remedied {
            change_id: None,
            records: n,
            audit_entry: entry.seq,
            summary: format!("{n} record(s) marked verified ({how})"),
            ids: ids.to_vec(),
        })
    }

    /// Records a consent given or withdrawn for `purpose` (a consent-based
    /// purpose of the policy): the history keeps it, and the purpose's
    /// consent field says `given` or `withdrawn`.
    pub fn record_consent(
        &self,
        id: RecordId,
        purpose: &str,
        given: bool,
        date: chrono::NaiveDate,
        source: &str,
        reason: &str,
    ) -> Result<Remedied, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("consent", &[id]);
        self.require(Role::Steward, "record consent", &[id])?;
        let (policy, _) = self.policy()?;
        let Some(p) = policy.purposes.get(purpose) else {
            let known: Vec<&str> = policy.purposes.keys().map(String::as_str).collect();
            return Err(self.refuse(
                draft,
                format!("the policy has no purpose `{}` (it has: {})", model::text::fit(purpose, 40), known.join(", ")),
            ));
        };
        let Some(field) = p.consent_field.clone().filter(|_| p.needs_consent()) else {
            return Err(self.refuse(draft, format!("`{purpose}` does not rest on consent in the policy")));
        };
        if date > model::now().date_naive() {
            return Err(self.refuse(draft, "the consent date is in the future".into()));
        }
        let Some(source) = text(source).map(|s| model::text::fit(&s, 80)) else {
            return Err(self.refuse(draft, "say where the consent came from (--source: the form, the call)".into()));
        };
        draft.reason =
            Some(text(reason).unwrap_or_else(|| format!("consent {}", if given { "given" } else { "withdrawn" })));
        let before = self.real(id)?;
        let mut after = before.clone();
        let now = model::now();
        after.care.consents.push(ConsentEvent {
            purpose: purpose.to_owned(),
            given,
            date,
            source: source.clone(),
            recorded_by: self.session.user.clone(),
            recorded_at: now,
        });
        let excess = after.care.consents.len().saturating_sub(model::MAX_CONSENT_EVENTS);
        after.care.consents.drain(..excess);
        after.extra.insert(field.clone(), if given { "given" } else { "withdrawn" }.to_owned());
        after.times.updated = now;
        let verb = if given { "given" } else { "withdrawn" };
        draft.detail = Some(format!(
            "consent for `{purpose}` {verb} on {date} ({} events in its history)",
            after.care.consents.len()
        ));
        draft.before = Some(self.store.state_digest(std::slice::from_ref(&before)));
        draft.after = Some(self.store.state_digest(std::slice::from_ref(&after)));
        let entry = self.commit(Change { put: vec![after], ..Change::default() }, draft)?;
        Ok(Remedied {
            change_id: None,
            records: 1,
            audit_entry: entry.seq,
            summary: format!("consent for `{purpose}` {verb} on {date} recorded"),
            ids: vec![id],
        })
    }

    /// Restricts (or, `on` false, lifts the restriction of) processing of
    /// `ids`: the data is kept but no purpose uses it.
    pub fn restrict(&self, ids: &[RecordId], on: bool, reason: &str) -> Result<Remedied, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft(if on { "restrict" } else { "unrestrict" }, ids);
        self.require(Role::Steward, "restrict processing", ids)?;
        let reason = self.reason_for(&draft, reason)?;
        draft.reason = Some(reason.clone());
        if ids.is_empty() {
            return Err(self.refuse(draft, "no record given".into()));
        }
        let now = model::now();
        let before = ids.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        let after: Vec<Record> = before
            .iter()
            .filter(|b| b.care.restricted.is_some() != on)
            .map(|r| {
                let mut n = r.clone();
                n.care.restricted =
                    on.then(|| Restriction { since: now, by: self.session.user.clone(), reason: reason.clone() });
                n
            })
            .collect();
        if after.is_empty() {
            return Err(self.refuse(
                draft,
                format!("nothing to change: already {}", if on { "restricted" } else { "unrestricted" }),
            ));
        }
        let verb = if on { "restricted" } else { "no longer restricted" };
        draft.detail = Some(format!("{} record(s) {verb}", after.len()));
        let n = after.len();
        let changed: Vec<RecordId> = after.iter().map(|r| r.id).collect();
        let entry = self.commit(Change { put: after, ..Change::default() }, draft)?;
        Ok(Remedied {
            change_id: None,
            records: n,
            audit_entry: entry.seq,
            summary: format!("{n} record(s) {verb}"),
            ids: changed,
        })
    }

    /// The merge of every cluster in `clusters` (record ids and the
    /// cluster's probability) at or above `min_probability`.
    pub fn plan_bulk_merge(
        &self,
        clusters: &[(Vec<RecordId>, f64)],
        min_probability: f64,
    ) -> Result<BulkPlan, ServiceError> {
        self.require(Role::Steward, "merge", &[])?;
        if !(0.0..=1.0).contains(&min_probability) {
            return Err(ServiceError::Invalid("the probability must lie between 0 and 1".into()));
        }
        // Records decided to be different people are never merged, whatever
        // a (possibly older) scan says.
        let apart: BTreeSet<(RecordId, RecordId)> = self.store.apart()?.into_iter().map(|(a, b, _)| (a, b)).collect();
        let split = |ids: &[RecordId]| {
            ids.iter().enumerate().any(|(i, a)| ids[i + 1..].iter().any(|b| apart.contains(&(*a.min(b), *a.max(b)))))
        };
        let mut out = Vec::new();
        let mut total = 0usize;
        for (ids, p) in clusters.iter().filter(|(ids, p)| *p >= min_probability && ids.len() >= 2 && !split(ids)) {
            total += ids.len();
            if total > MAX_BULK_RECORDS {
                return Err(ServiceError::Invalid(format!(
                    "a bulk merge takes at most {MAX_BULK_RECORDS} records; raise --min-probability"
                )));
            }
            let records = ids.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
            out.push((*p, MergePlan::new(records, None)));
        }
        if self.masks() && !out.is_empty() {
            let mut d = self.draft("reveal", &[]);
            d.reason = Some("to merge duplicates in bulk".into());
            d.detail = Some(format!("all fields of {total} record(s) (bulk merge)"));
            self.store.audit(d)?;
        }
        Ok(BulkPlan { min_probability, clusters: out })
    }

    /// Merges every planned cluster as one change that one undo reverts.
    pub fn bulk_merge(&self, plan: &BulkPlan, reason: &str) -> Result<Remedied, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let all: Vec<RecordId> = plan.clusters.iter().flat_map(|(_, p)| p.records.iter().map(|r| r.id)).collect();
        let mut draft = self.draft("merge-bulk", &all);
        self.require(Role::Steward, "merge", &all)?;
        draft.reason = Some(self.reason_for(&draft, reason)?);
        if plan.clusters.is_empty() {
            return Err(self.refuse(draft, format!("no cluster at or above probability {}", plan.min_probability)));
        }
        let bulk_id = format!("bulk-{}", ulid::Ulid::new());
        let redirects = self.store.redirects()?;
        let mut change = Change::default();
        let mut parts = Vec::new();
        let mut merged_away = 0usize;
        for (_, p) in &plan.clusters {
            let merge_id = format!("merge-{}", ulid::Ulid::new());
            if let Err(why) = self.merge_into(p, &merge_id, &redirects, &mut change) {
                return Err(self.refuse(draft, why));
            }
            merged_away += p.records.len() - 1;
            parts.push(merge_id);
        }
        let snapshot = Snapshot {
            merge: bulk_id.clone(),
            survivor: RecordId::default(),
            merged: Vec::new(),
            before: Vec::new(),
            repointed: Vec::new(),
            merged_hash: None,
            kind: Some("bulk-merge".into()),
            after: Vec::new(),
            parts: parts.clone(),
            until_rotation: false,
        };
        change.snapshots.push((bulk_id.clone(), serde_json::to_vec(&snapshot).unwrap_or_default()));
        draft.detail = Some(format!(
            "{bulk_id}: {} cluster(s) at or above p {:.2}, {merged_away} record(s) merged away",
            parts.len(),
            plan.min_probability
        ));
        // `merge_into` checked that the planned records are the stored ones.
        let before: Vec<Record> = plan.clusters.iter().flat_map(|(_, p)| p.records.iter().cloned()).collect();
        let entry = self.commit_knowing(change, draft, &before)?;
        Ok(Remedied {
            change_id: Some(bulk_id),
            records: all.len(),
            audit_entry: entry.seq,
            summary: format!("merged {} cluster(s): {} records into {}", parts.len(), all.len(), parts.len()),
            ids: all,
        })
    }

    /// Undoes change `change_id` (a merge, a bulk merge, an edit, a
    /// redaction, a dropped field) exactly; refused when a record it
    /// changed has changed since. Erasures cannot be undone.
    pub fn undo(&self, change_id: &str, reason: &str) -> Result<Remedied, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let change_id = change_id.trim();
        if change_id.starts_with("rcpt-") || change_id.starts_with("erase") {
            return Err(ServiceError::Invalid(
                "an erasure cannot be undone: the record keys are destroyed and the data key rotated".into(),
            ));
        }
        if !UNDOABLE.iter().any(|p| change_id.starts_with(p)) {
            return Err(ServiceError::Invalid(format!(
                "`{}` is not a change id (merge-…, bulk-…, edit-…, redact-…, drop-…)",
                model::text::fit(change_id, 40)
            )));
        }
        if change_id.starts_with("merge-") {
            let entry = self.undo_merge(change_id, reason)?;
            return Ok(Remedied {
                change_id: None,
                records: entry.records.len(),
                audit_entry: entry.seq,
                summary: format!("undid {change_id}: {} record(s) restored", entry.records.len()),
                ids: entry.records.iter().filter_map(|s| s.parse().ok()).collect(),
            });
        }
        let mut draft = self.draft("undo", &[]);
        self.require(Role::Steward, "undo a change", &[])?;
        draft.reason = Some(self.reason_for(&draft, reason)?);
        let gone = "no such change, or it can no longer be undone (undone already, its records were erased, or the \
                    key rotation since made its old values unrecoverable)";
        let Some(plain) = self.store.snapshot(change_id)? else {
            return Err(self.refuse(draft, gone.into()));
        };
        let snap: Snapshot =
            serde_json::from_slice(&plain).map_err(|_| ServiceError::Invalid("unreadable undo snapshot".into()))?;
        let mut change = Change::default();
        let restored: Vec<Record>;
        if snap.kind.as_deref() == Some("bulk-merge") {
            let mut requests = self.stored_requests()?;
            let mut all = Vec::new();
            // Parts undone on their own, or erased since, are gone: the rest
            // is undone (and the bulk change with it).
            let mut gone = 0usize;
            for part in &snap.parts {
                if self.store.snapshot(part)?.is_none() {
                    gone += 1;
                    continue;
                }
                match self.unmerge_into(part, &mut requests, &mut change) {
                    Ok((before, _)) => all.extend(before),
                    Err(why) => return Err(self.refuse(draft, format!("{part}: {why}"))),
                }
            }
            if gone > 0 {
                draft.detail = Some(format!("{gone} of {} merge(s) were undone or erased already", snap.parts.len()));
            }
            restored = all;
        } else {
            // Drop-field and redaction snapshots are admin-made or
            // steward-made; undoing a drop needs what dropping needed.
            if snap.kind.as_deref() == Some("drop-field") && self.session.role < Role::Admin {
                return Err(self.refuse(draft, "undoing a dropped field needs the admin role".into()));
            }
            let before = snap
                .before
                .iter()
                .map(|b| model::decode(b))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ServiceError::Invalid("unreadable undo snapshot".into()))?;
            for (id, hash) in &snap.after {
                match self.store.get(*id)? {
                    Some(now) if record_hash(&now) == *hash => {}
                    Some(_) => {
                        return Err(self.refuse(
                            draft,
                            format!("record {id} changed since {change_id}; undoing would lose that change"),
                        ));
                    }
                    None => return Err(self.refuse(draft, format!("record {id} is gone (merged or erased)"))),
                }
            }
            change.put = before.clone();
            restored = before;
        }
        change.drop_snapshots.push(change_id.to_owned());
        let ids: Vec<RecordId> = restored.iter().map(|r| r.id).collect();
        draft.records = ids.iter().map(ToString::to_string).collect();
        draft.detail = Some(format!("{change_id}: {} record(s) restored", restored.len()));
        let entry = self.commit(change, draft)?;
        Ok(Remedied {
            change_id: None,
            records: restored.len(),
            audit_entry: entry.seq,
            summary: format!("undid {change_id}: {} record(s) restored", restored.len()),
            ids,
        })
    }

    /// Declares `field` in the policy — an over-collected field the business
    /// does need: under `purpose` (an existing one, or a new one with its
    /// legal basis and retention), with its category. A new policy revision;
    /// the field's `overcollected` findings go at the next scan.
    pub fn declare_field(
        &self,
        field: &str,
        purpose: &str,
        basis: Option<&str>,
        retention_days: Option<u32>,
        category: &str,
    ) -> Result<super::PolicyInfo, ServiceError> {
        use crate::policy::{FieldPolicy, LegalBasis, Purpose};
        let draft = self.draft("policy", &[]);
        self.require(Role::Admin, "change the policy", &[])?;
        let field = field.trim();
        let purpose = purpose.trim();
        if field.is_empty() || purpose.is_empty() {
            return Err(self.refuse(draft, "name the field and the purpose it serves".into()));
        }
        let ok_name = |s: &str| s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_name(field) || !ok_name(purpose) {
            return Err(self.refuse(draft, "field and purpose names are letters, digits, _ and - (64 at most)".into()));
        }
        let (mut policy, _) = self.policy()?;
        if !policy.purposes.contains_key(purpose) {
            let Some(basis) = basis.map(str::trim).filter(|b| !b.is_empty()) else {
                return Err(self.refuse(
                    draft,
                    format!("`{purpose}` is a new purpose: give its legal basis (contract, legal_obligation, legitimate_interest, ...)"),
                ));
            };
            let legal_basis: LegalBasis = match serde_json::from_value(serde_json::Value::String(
                basis.replace(' ', "_"),
            )) {
                Ok(b) => b,
                Err(_) => {
                    return Err(self.refuse(
                        draft,
                        "legal basis: consent, contract, legal_obligation, vital_interests, public_task or legitimate_interest"
                            .into(),
                    ));
                }
            };
            if legal_basis == LegalBasis::Consent {
                return Err(self.refuse(
                    draft,
                    "a consent-based purpose needs the field that records the consent: declare it in the policy file"
                        .into(),
                ));
            }
            policy.purposes.insert(
                purpose.to_owned(),
                Purpose {
                    description: format!("declared from the findings by {}", self.session.user),
                    legal_basis: Some(legal_basis),
                    retention_days,
                    consent_field: None,
                    subjects: Vec::new(),
                },
            );
        }
        let category = Some(category.trim()).filter(|c| !c.is_empty()).unwrap_or("user");
        let entry = policy.fields.entry(field.to_owned()).or_insert_with(|| FieldPolicy {
            category: model::text::fit(category, 64),
            purposes: Vec::new(),
            free_text: false,
        });
        if !entry.purposes.iter().any(|p| p == purpose) {
            entry.purposes.push(purpose.to_owned());
        }
        policy.validate()?;
        let mut text =
            format!("# Revision written by steward: `{field}` declared for `{purpose}` by {}.\n", self.session.user);
        text.push_str(&policy.to_toml());
        self.import_policy(&text)
    }

    /// The undoable changes still held: (change id, kind, records).
    pub fn undoable(&self) -> Result<Vec<(String, String, usize)>, ServiceError> {
        self.require(Role::Steward, "list undoable changes", &[])?;
        Ok(self
            .snapshots()?
            .into_iter()
            .map(|s| {
                let n = match s.kind.as_deref() {
                    Some("bulk-merge") => s.parts.len(),
                    _ => s.before.len(),
                };
                (s.merge, s.kind.unwrap_or_else(|| "merge".into()), n)
            })
            .collect())
    }
}

/// What redacting `r` (in `field` only, when given) replaces.
pub fn redactions(r: &Record, field: Option<&str>, policy: &crate::policy::Policy) -> Vec<Redaction> {
    let mut out = Vec::new();
    for (name, value) in &r.extra {
        if field.is_some_and(|f| f != name) || !findings::is_free_text(policy, name) {
            continue;
        }
        for m in pii::scan(value, r.address.country.as_deref()) {
            out.push(Redaction {
                record: r.id,
                field: name.clone(),
                category: m.category,
                becomes: pii::redaction(value, &m),
                found: m.masked,
            });
        }
    }
    out
}
