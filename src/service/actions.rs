//! Stewardship actions: update, merge (and undo), erase, rekey, and the
//! audit trail they write.
//!
//! Each action checks the session's role, builds one `store::Change` and
//! commits it with its audit entry in the same atomic, flushed step. A
//! refusal (role, invalid value, missing reason) is audited as `denied` and
//! changes nothing else. The merge and erase rules live here as pure
//! functions over records ([`MergePlan`], [`ErasePlan`]), so the screens
//! only show them and the CLI only prints them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::findings::validate;
use crate::model::request::Step;
use crate::model::{self, Field, Record, RecordId};
use crate::policy::Policy;
use crate::store::audit::{Draft, Entry, Outcome, Verification};
use crate::store::{Change, Redirect};

/// The audit action of `audit verify` (the report shows the last one).
pub const VERIFY_ACTION: &str = "audit-verify";

/// One field of a record: a core field or an extra column.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldName {
    Core(Field),
    Extra(String),
}

impl FieldName {
    pub fn parse(s: &str) -> FieldName {
        match s.parse::<Field>() {
            Ok(f) => FieldName::Core(f),
            Err(_) => FieldName::Extra(s.to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            FieldName::Core(f) => f.name(),
            FieldName::Extra(s) => s,
        }
    }

    pub fn get(&self, r: &Record) -> Option<String> {
        match self {
            FieldName::Core(f) => r.get(*f),
            FieldName::Extra(n) => r.extra.get(n).cloned(),
        }
    }

    /// Removes the field's value from `r`.
    pub(crate) fn clear(&self, r: &mut Record) -> Result<(), String> {
        self.set(r, None)
    }

    pub(crate) fn set(&self, r: &mut Record, value: Option<String>) -> Result<(), String> {
        match self {
            FieldName::Core(f) => r.set(*f, value).map_err(|e| e.to_string()),
            FieldName::Extra(n) => {
                match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                    Some(v) if v.len() > model::MAX_FIELD_BYTES => {
                        return Err(format!("{n} is longer than {} bytes", model::MAX_FIELD_BYTES));
                    }
                    Some(v) => {
                        if r.extra.get(n).is_none() && r.extra.len() >= model::MAX_EXTRA_FIELDS {
                            return Err(format!("a record holds at most {} extra fields", model::MAX_EXTRA_FIELDS));
                        }
                        r.extra.insert(n.clone(), v);
                    }
                    None => {
                        r.extra.remove(n);
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for FieldName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every field that has a value in any of `records`, core fields first.
pub fn fields_of(records: &[Record]) -> Vec<FieldName> {
    let mut out: Vec<FieldName> = Field::ALL.iter().map(|f| FieldName::Core(*f)).collect();
    let extras: BTreeSet<&String> = records.iter().flat_map(|r| r.extra.iter().map(|(k, _)| k)).collect();
    out.extend(extras.into_iter().map(|k| FieldName::Extra(k.clone())));
    out
}

/// A value typed into the edit form or given as `FIELD=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldEdit {
    pub field: FieldName,
    /// `None` (or empty) clears the field.
    pub value: Option<String>,
}

impl FieldEdit {
    /// Parses `FIELD=VALUE` (an empty value clears the field).
    pub fn parse(s: &str) -> Result<FieldEdit, String> {
        let (f, v) = s.split_once('=').ok_or_else(|| "expected FIELD=VALUE".to_owned())?;
        let f = f.trim();
        if f.is_empty() {
            return Err("expected FIELD=VALUE".into());
        }
        if matches!(f, "id" | "source_id" | "source") {
            return Err(format!("`{f}` cannot be changed"));
        }
        // A field's other names (`city`, `surname`, `zip` …, as on import)
        // name the field, not a new extra field.
        let field = match FieldName::parse(f) {
            FieldName::Extra(name) => match crate::import::map_header(&name) {
                crate::import::Target::Field(core) => FieldName::Core(core),
                _ => FieldName::Extra(name),
            },
            core => core,
        };
        Ok(FieldEdit { field, value: Some(v.to_owned()).filter(|v| !v.trim().is_empty()) })
    }
}

/// One changed field, for the diff preview (values are shown to the user
/// who typed them, never logged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Why a value was refused: the field and the rule, never the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub problem: String,
}

/// Checks one value with the same validators the findings use.
pub fn check_value(field: &FieldName, value: &str, country: Option<&str>) -> Option<String> {
    let FieldName::Core(f) = field else { return None };
    match f {
        Field::Email => validate::email(value).map(str::to_owned),
        Field::Phone => validate::phone(value, country).map(str::to_owned),
        Field::Postcode => validate::postcode(value, country),
        Field::DateOfBirth => match model::DateParts::parse(value) {
            None => Some("date of birth is not a date (expected YYYY-MM-DD)".into()),
            Some(d) => validate::date_of_birth(d, model::now().date_naive()).map(str::to_owned),
        },
        Field::Country => (value.trim().len() != 2 || !value.trim().chars().all(|c| c.is_ascii_alphabetic()))
            .then(|| "country must be a two-letter ISO code (GB, DE, ...)".to_owned()),
        _ => None,
    }
}

/// Applies `edits` to a copy of `record`: the result, the diff, and the
/// problems (when there are any, nothing may be saved).
pub fn apply_edits(record: &Record, edits: &[FieldEdit]) -> (Record, Vec<Diff>, Vec<Problem>) {
    let mut next = record.clone();
    let mut problems = Vec::new();
    for e in edits {
        if let Err(p) = e.field.set(&mut next, e.value.clone()) {
            problems.push(Problem { field: e.field.to_string(), problem: p });
        }
    }
    // Validate the values as they will be stored (the country may have changed too).
    let country = next.address.country.clone();
    for e in edits {
        if let Some(v) = e.field.get(&next)
            && let Some(p) = check_value(&e.field, &v, country.as_deref())
        {
            problems.push(Problem { field: e.field.to_string(), problem: p });
        }
    }
    let diffs = fields_of(&[record.clone(), next.clone()])
        .into_iter()
        .filter_map(|f| {
            let (b, a) = (f.get(record), f.get(&next));
            (b != a).then(|| Diff { field: f.to_string(), before: b, after: a })
        })
        .collect();
    (next, diffs, problems)
}

/// A merge being prepared: the records, which survives, and which record
/// each field's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergePlan {
    pub records: Vec<Record>,
    /// Index into `records` of the record whose id survives.
    pub survivor: usize,
    /// Per field, the index of the record whose value is kept (`None`: empty).
    pub choice: Vec<(FieldName, Option<usize>)>,
    /// Keep emails and phones that lose as secondary values.
    pub keep_secondary: bool,
}

/// When a record was last confirmed: verified, else updated.
fn freshness(r: &Record) -> chrono::DateTime<chrono::Utc> {
    r.times.last_verified.unwrap_or(r.times.updated)
}

impl MergePlan {
    /// The defaults: the most recently verified record survives (or `into`),
    /// and each field takes the most recently verified non-empty value.
    pub fn new(records: Vec<Record>, into: Option<RecordId>) -> MergePlan {
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse((freshness(&records[i]), records[i].times.updated)));
        let survivor = into
            .and_then(|id| records.iter().position(|r| r.id == id))
            .unwrap_or_else(|| order.first().copied().unwrap_or(0));
        let choice = fields_of(&records)
            .into_iter()
            .filter(|f| records.iter().any(|r| f.get(r).is_some()))
            .map(|f| {
                let pick = order.iter().copied().find(|&i| f.get(&records[i]).is_some());
                (f, pick)
            })
            .collect();
        MergePlan { records, survivor, choice, keep_secondary: true }
    }

    /// Moves field `i`'s choice to the next (or previous) record that has a value.
    pub fn cycle(&mut self, i: usize, forward: bool) {
        let n = self.records.len();
        let Some((f, pick)) = self.choice.get(i).cloned() else { return };
        let start = pick.unwrap_or(0);
        for step in 1..=n {
            let j = if forward { (start + step) % n } else { (start + n * 2 - step) % n };
            if f.get(&self.records[j]).is_some() {
                self.choice[i].1 = Some(j);
                return;
            }
        }
    }

    /// The merged record as it will be saved.
    pub fn merged(&self) -> Record {
        let base = &self.records[self.survivor];
        let mut out = base.clone();
        out.extra = model::Extras::default();
        for (f, pick) in &self.choice {
            let v = pick.and_then(|i| f.get(&self.records[i]));
            // Values come from records that passed import's bounds: this cannot fail.
            let _ = f.set(&mut out, v);
        }
        if self.keep_secondary {
            // The same address or number written differently is not a second
            // one: `+14163217997` and `(416) 321-7997` in Canada are one
            // number (E.164 with each record's own country).
            let canonical = |field: Field, v: &str, country: Option<&str>| match field {
                Field::Email => v.trim().to_lowercase(),
                _ => crate::findings::normalize::e164(v, country)
                    .unwrap_or_else(|| v.chars().filter(char::is_ascii_digit).collect::<String>()),
            };
            for (field, label) in [(Field::Email, "secondary_email"), (Field::Phone, "secondary_phone")] {
                let kept = out.get(field);
                let mut seen: BTreeSet<String> =
                    kept.iter().map(|v| canonical(field, v, out.address.country.as_deref())).collect();
                let mut n = 1;
                for r in &self.records {
                    if let Some(v) = r.get(field)
                        && seen.insert(canonical(field, &v, r.address.country.as_deref()))
                    {
                        let name = if n == 1 { label.to_owned() } else { format!("{label}_{n}") };
                        out.extra.insert(name, v);
                        n += 1;
                    }
                }
            }
        }
        let t = &mut out.times;
        t.created = self.records.iter().map(|r| r.times.created).min().unwrap_or(t.created);
        t.last_verified = self.records.iter().filter_map(|r| r.times.last_verified).max();
        t.last_activity = self.records.iter().filter_map(|r| r.times.last_activity).max();
        t.updated = model::now();
        out
    }
}

/// What a change keeps for its undo: the exact records before it. For a
/// merge, `merge` is its id and `survivor`/`merged` say who went where; for
/// an edit, a redaction or a dropped field (`kind` set), `after` holds each
/// changed record's hash as saved; a bulk merge keeps only the ids of the
/// merges it made (`parts`), each with its own snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) merge: String,
    pub(crate) survivor: RecordId,
    pub(crate) merged: Vec<RecordId>,
    /// The records before the change, encoded as stored.
    pub(crate) before: Vec<Vec<u8>>,
    /// Redirects that pointed at a merged-away record, as they were.
    pub(crate) repointed: Vec<Redirect>,
    /// Hash of the merged record as saved: undo refuses when the survivor
    /// has changed since (an edit, a later merge), instead of losing that.
    #[serde(default)]
    pub(crate) merged_hash: Option<String>,
    /// `edit`, `redact`, `drop-field`, `bulk-merge`; none for a merge.
    #[serde(default)]
    pub(crate) kind: Option<String>,
    /// Each changed record and its hash as saved.
    #[serde(default)]
    pub(crate) after: Vec<(RecordId, String)>,
    /// A bulk merge's merges.
    #[serde(default)]
    pub(crate) parts: Vec<String>,
    /// The old values it holds must not outlive the next key rotation
    /// (redactions, dropped fields, edits): the rotation deletes it.
    #[serde(default)]
    pub(crate) until_rotation: bool,
}

impl Snapshot {
    /// True when the snapshot holds (or points at) one of `ids`.
    pub(crate) fn touches(&self, ids: &BTreeSet<RecordId>) -> bool {
        ids.contains(&self.survivor)
            || self.merged.iter().any(|m| ids.contains(m))
            || self.after.iter().any(|(id, _)| ids.contains(id))
    }
}

pub(crate) fn record_hash(r: &Record) -> String {
    crate::store::audit::hex(blake3::hash(&model::encode(r)).as_bytes())
}

/// What `update` did: the audit entry, the fields changed, and the id
/// `undo` takes.
#[derive(Clone, Debug)]
pub struct Updated {
    pub entry: Entry,
    pub diffs: Vec<Diff>,
    pub change_id: String,
}

/// What `merge` did.
#[derive(Clone, Debug, Serialize)]
pub struct MergeOutcome {
    pub merge_id: String,
    pub survivor: RecordId,
    pub merged: Vec<RecordId>,
    pub audit_entry: u64,
}

/// How an erased record goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Everything goes (except fields under a legal hold).
    Delete,
    /// Personal data goes; country and sign-up month stay for statistics.
    Anonymize,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Delete => "delete",
            Strategy::Anonymize => "anonymize",
        }
    }
}

/// A field kept through an erasure by a legal hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub field: String,
    pub records: usize,
    pub why: String,
}

/// Everything an erasure will remove, shown before it is confirmed.
#[derive(Clone, Debug, Serialize)]
pub struct ErasePlan {
    pub strategy: Strategy,
    pub records: Vec<RecordId>,
    /// Merged-away records that redirect to one of `records`.
    pub redirects: Vec<RecordId>,
    /// Merge undo snapshots that hold one of them.
    pub snapshots: Vec<String>,
    /// Policy categories of the fields that hold values and will go.
    pub categories: Vec<String>,
    /// Fields kept, and why.
    pub kept: Vec<Kept>,
    /// Requests linked to one of the records: their requester's details go too.
    pub request_entries: usize,
    /// Their references.
    pub requests: Vec<String>,
}

/// The receipt of an erasure: what went, what stayed and why. No personal
/// data: not the name, not the source id.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Receipt {
    pub receipt: String,
    pub time: chrono::DateTime<chrono::Utc>,
    pub strategy: Strategy,
    pub request: Option<String>,
    pub records_erased: usize,
    pub record_ids: Vec<String>,
    pub categories_erased: Vec<String>,
    pub also_erased: AlsoErased,
    pub kept: Vec<KeptJson>,
    pub audit_entry: u64,
    /// Whether the data key was rotated after the erasure (remnants that
    /// sled keeps on disk are then undecryptable).
    pub key_rotated: bool,
    pub remnants: String,
    pub backups: String,
    /// The sources whose rows the erasure concerns and when each applied
    /// it (`told: null`: still pending in the change feed). Filled in when
    /// the receipt is read.
    #[serde(default)]
    pub sources: Vec<Told>,
}

/// Whether a source was told of an erasure.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Told {
    pub source: String,
    pub told: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AlsoErased {
    pub redirects: usize,
    pub merge_snapshots: usize,
    pub request_entries: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeptJson {
    pub what: String,
    pub records: usize,
    pub why: String,
}

/// Left where an erased record was.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tombstone {
    pub erased_at: chrono::DateTime<chrono::Utc>,
    pub receipt: String,
}

/// What a lookup by id found.
#[derive(Clone, Debug)]
pub enum Located {
    Record(Record),
    /// The id was merged into the record.
    Merged {
        from: RecordId,
        merge: String,
        record: Record,
    },
    Erased {
        id: RecordId,
        tombstone: Tombstone,
    },
}

/// Which entries `audit list` shows.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub user: Option<String>,
    pub record: Option<String>,
}

impl AuditFilter {
    pub fn matches(&self, e: &Entry) -> bool {
        self.action.as_ref().is_none_or(|a| e.action.starts_with(a.as_str()))
            && self.user.as_ref().is_none_or(|u| &e.user == u || &e.os_user == u)
            && self.record.as_ref().is_none_or(|r| e.records.iter().any(|x| x == r))
    }
}

fn text(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn ids(ids: &[RecordId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

impl Service {
    /// An audit draft for an action of this session.
    pub(crate) fn draft(&self, action: &str, records: &[RecordId]) -> Draft {
        Draft {
            os_user: self.session.os_user.clone(),
            user: self.session.user.clone(),
            action: action.to_owned(),
            records: ids(records),
            ..Draft::default()
        }
    }

    /// Audits a refusal and returns it as an error.
    pub(crate) fn refuse(&self, mut draft: Draft, why: String) -> ServiceError {
        draft.outcome = Some(Outcome::Denied);
        draft.detail = Some(why.clone());
        match self.store.audit(draft) {
            Ok(_) => ServiceError::Denied(why),
            Err(e) => ServiceError::Store(e),
        }
    }

    /// For reads: refuses unless the role is at least `role` (audited,
    /// except in a read-only session, which cannot write the trail).
    pub(crate) fn require_to_read(&self, role: Role, action: &str) -> Result<(), ServiceError> {
        if self.read_only().is_none() {
            return self.require(role, action, &[]);
        }
        if self.session.role >= role {
            Ok(())
        } else {
            Err(ServiceError::Denied(format!("your role {} cannot {action}", self.session.role.name())))
        }
    }

    /// Refuses (audited) unless the session's role is at least `role`.
    pub(crate) fn require(&self, role: Role, action: &str, records: &[RecordId]) -> Result<(), ServiceError> {
        if let Some(t) = self.read_only() {
            return Err(ServiceError::Denied(format!(
                "this is a read-only snapshot (published {}); nothing can be changed here",
                t.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        if self.session.role >= role {
            return Ok(());
        }
        let why = format!("your role {} cannot {action}", self.session.role.name());
        Err(self.refuse(self.draft(action, records), why))
    }

    pub(crate) fn need_reason(&self, draft: &Draft, reason: &str) -> Result<String, ServiceError> {
        text(reason).ok_or_else(|| self.refuse(draft.clone(), "a reason is required".into()))
    }

    /// A record by id or `SOURCE:ID`, following merges and reporting erasures.
    pub fn locate(&self, key: &str) -> Result<Located, ServiceError> {
        if let Ok(id) = key.parse::<RecordId>() {
            if let Some(r) = self.store.get(id)? {
                return Ok(Located::Record(self.shown(r)));
            }
            if let Some(t) = self.store.tombstone(id)? {
                let tombstone =
                    serde_json::from_slice(&t).map_err(|_| ServiceError::Invalid("unreadable tombstone".into()))?;
                return Ok(Located::Erased { id, tombstone });
            }
            if let Some(r) = self.store.redirect(id)? {
                let record = self.store.get(r.into)?.ok_or_else(|| ServiceError::NotFound(id.to_string()))?;
                return Ok(Located::Merged { from: id, merge: r.merge, record: self.shown(record) });
            }
        }
        Ok(Located::Record(self.find(key)?))
    }

    /// A record that exists now, by id, masked unless the role sees
    /// personal data (see [`Service::masks`]).
    pub fn get(&self, id: RecordId) -> Result<Record, ServiceError> {
        Ok(self.shown(self.real(id)?))
    }

    /// The record itself, for the rules inside the service.
    pub(crate) fn real(&self, id: RecordId) -> Result<Record, ServiceError> {
        self.store.get(id)?.ok_or_else(|| ServiceError::NotFound(id.to_string()))
    }

    /// Shows records unmasked, for a reason, to a steward or admin. For a
    /// steward each call is one `reveal` audit entry naming the records,
    /// the fields (all when `fields` is empty) and the reason. The values
    /// are not kept anywhere: the caller shows them and lets them go.
    pub fn reveal(&self, ids: &[RecordId], fields: &[FieldName], reason: &str) -> Result<Vec<Record>, ServiceError> {
        let mut draft = self.draft("reveal", ids);
        self.require(Role::Steward, "reveal personal data", ids)?;
        draft.reason = Some(self.need_reason(&draft, reason)?);
        let real = ids.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        let shown: Vec<Record> = if fields.is_empty() {
            real
        } else {
            real.into_iter()
                .map(|r| {
                    let mut m = super::mask::record(&r);
                    for f in fields {
                        let _ = f.set(&mut m, f.get(&r));
                    }
                    m
                })
                .collect()
        };
        if self.masks() {
            draft.detail = Some(if fields.is_empty() {
                "all fields".into()
            } else {
                format!("fields: {}", fields.iter().map(FieldName::name).collect::<Vec<_>>().join(", "))
            });
            self.store.audit(draft)?;
        }
        Ok(shown)
    }

    /// Rectifies fields of a record. Invalid values are refused (audited)
    /// with the rule they broke, and nothing changes.
    pub fn update(&self, id: RecordId, edits: &[FieldEdit], reason: &str) -> Result<Updated, ServiceError> {
        self.update_for(id, edits, reason, None, None)
    }

    /// [`Service::update`] of a record as the user saw it (`seen`, as this
    /// session showed it): refused if the record is no longer that — another
    /// session changed it since — rather than overwriting their change.
    pub fn update_seen(
        &self,
        seen: &Record,
        edits: &[FieldEdit],
        reason: &str,
        request: Option<&str>,
    ) -> Result<Updated, ServiceError> {
        match request {
            Some(reference) => self.request_update_for(reference, seen.id, edits, reason, Some(seen)),
            None => self.update_for(seen.id, edits, reason, None, Some(seen)),
        }
    }

    /// [`Service::update`], answering request `request` (kept in the audit
    /// entry; the caller checked it).
    pub(crate) fn update_for(
        &self,
        id: RecordId,
        edits: &[FieldEdit],
        reason: &str,
        request: Option<&str>,
        seen: Option<&Record>,
    ) -> Result<Updated, ServiceError> {
        // Without a record the user looked at, the edit means "set these
        // fields": when another session changed the record in between, it
        // is applied again to what is there now (a few times at most).
        let mut tries = 0;
        loop {
            match self.update_once(id, edits, reason, request, seen) {
                Err(ServiceError::Store(crate::store::StoreError::Conflict(_))) if seen.is_none() && tries < 5 => {
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    fn update_once(
        &self,
        id: RecordId,
        edits: &[FieldEdit],
        reason: &str,
        request: Option<&str>,
        seen: Option<&Record>,
    ) -> Result<Updated, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("update", &[id]);
        draft.request = request.map(|r| crate::model::text::fit(r, 40));
        self.require(Role::Steward, "update", &[id])?;
        draft.reason = Some(self.need_reason(&draft, reason)?);
        let record = self.real(id)?;
        if let Some(seen) = seen
            && self.shown(record.clone()) != *seen
        {
            return Err(ServiceError::Store(crate::store::StoreError::Conflict(1)));
        }
        let (next, diffs, problems) = apply_edits(&record, edits);
        if let Some(p) = problems.first() {
            return Err(self.refuse(draft, format!("{}: {}", p.field, p.problem)));
        }
        if diffs.is_empty() {
            return Err(self.refuse(draft, "nothing to change: the values are the same".into()));
        }
        let mut next = next;
        next.times.updated = model::now();
        next.times.last_verified = Some(next.times.updated);
        let change_id = format!("edit-{}", ulid::Ulid::new());
        draft.detail = Some(format!(
            "{change_id}: fields: {}",
            diffs.iter().map(|d| d.field.as_str()).collect::<Vec<_>>().join(", ")
        ));
        let entry = self.commit_undoable(&change_id, "edit", std::slice::from_ref(&record), vec![next], draft)?;
        Ok(Updated { entry, diffs, change_id })
    }

    /// The default merge of `ids` (two or more distinct, existing records).
    pub fn plan_merge(&self, ids: &[RecordId], into: Option<RecordId>) -> Result<MergePlan, ServiceError> {
        self.require(Role::Steward, "merge", ids)?;
        let mut seen = BTreeSet::new();
        if ids.iter().any(|id| !seen.insert(*id)) || ids.len() < 2 {
            return Err(ServiceError::Invalid("a merge needs two or more different records".into()));
        }
        if let Some(i) = into
            && !ids.contains(&i)
        {
            return Err(ServiceError::Invalid("--into must be one of the merged records".into()));
        }
        let records = ids.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        // The plan holds the records themselves: for a session that sees
        // masked data, that is a reveal, and it is audited as one.
        if self.masks() {
            let mut d = self.draft("reveal", ids);
            d.reason = Some("to compare and merge duplicates".into());
            d.detail = Some("all fields (merge)".into());
            self.store.audit(d)?;
        }
        Ok(MergePlan::new(records, into))
    }

    /// Merges as planned: the survivor takes the chosen values, the others
    /// become redirects to it (their source ids now find the survivor), and
    /// a snapshot keeps the exact records for `undo_merge`.
    pub fn merge(&self, plan: &MergePlan, reason: &str) -> Result<MergeOutcome, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let all: Vec<RecordId> = plan.records.iter().map(|r| r.id).collect();
        let mut draft = self.draft("merge", &all);
        self.require(Role::Steward, "merge", &all)?;
        draft.reason = Some(self.need_reason(&draft, reason)?);
        let merge_id = format!("merge-{}", ulid::Ulid::new());
        let mut change = Change::default();
        let redirects = self.store.redirects()?;
        let merged = match self.merge_into(plan, &merge_id, &redirects, &mut change) {
            Ok(m) => m,
            Err(why) => return Err(self.refuse(draft, why)),
        };
        let survivor = merged.id;
        let other_ids: Vec<RecordId> = all.iter().copied().filter(|id| *id != survivor).collect();
        draft.before = Some(self.store.state_digest(&plan.records));
        draft.after = Some(self.store.state_digest(std::slice::from_ref(&merged)));
        draft.detail = Some(format!("{merge_id}: {} record(s) into {survivor}", other_ids.len()));
        // `merge_into` checked that the planned records are the stored ones.
        let entry = self.commit_knowing(change, draft, &plan.records)?;
        Ok(MergeOutcome { merge_id, survivor, merged: other_ids, audit_entry: entry.seq })
    }

    /// Adds merge `merge_id` as planned to `change` (with its undo
    /// snapshot); `redirects` are the store's. Returns the merged record,
    /// or why the merge cannot be made (a record changed since the plan).
    pub(crate) fn merge_into(
        &self,
        plan: &MergePlan,
        merge_id: &str,
        redirects: &[Redirect],
        change: &mut Change,
    ) -> Result<Record, String> {
        // The records must not have changed since the plan was made.
        for r in &plan.records {
            if self.store.get(r.id).map_err(|e| e.to_string())?.as_ref() != Some(r) {
                return Err(format!("record {} changed since the merge was prepared", r.id));
            }
        }
        let merged = plan.merged();
        let survivor = merged.id;
        let others: Vec<&Record> = plan.records.iter().filter(|r| r.id != survivor).collect();
        let other_ids: Vec<RecordId> = others.iter().map(|r| r.id).collect();
        // Earlier merges into a merged-away record now lead to the survivor.
        let repointed: Vec<Redirect> = redirects.iter().filter(|r| other_ids.contains(&r.into)).cloned().collect();
        for r in &repointed {
            change.redirects.push(Redirect { into: survivor, ..r.clone() });
            change.index_set.push((r.source.clone(), r.source_id.clone(), survivor));
        }
        for r in &others {
            change.remove.push(r.id);
            change.redirects.push(Redirect {
                from: r.id,
                into: survivor,
                merge: merge_id.to_owned(),
                source: r.provenance.source.clone(),
                source_id: r.source_id.clone(),
            });
            change.index_set.push((r.provenance.source.clone(), r.source_id.clone(), survivor));
        }
        let snapshot = Snapshot {
            merge: merge_id.to_owned(),
            survivor,
            merged: other_ids,
            before: plan.records.iter().map(model::encode).collect(),
            repointed,
            merged_hash: Some(record_hash(&merged)),
            kind: None,
            after: Vec::new(),
            parts: Vec::new(),
            until_rotation: false,
        };
        change.snapshots.push((merge_id.to_owned(), serde_json::to_vec(&snapshot).unwrap_or_default()));
        change.put.push(merged.clone());
        Ok(merged)
    }

    /// Restores the exact records from before merge `merge_id`.
    pub fn undo_merge(&self, merge_id: &str, reason: &str) -> Result<Entry, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("merge-undo", &[]);
        self.require(Role::Steward, "undo a merge", &[])?;
        draft.reason = Some(self.need_reason(&draft, reason)?);
        let mut change = Change::default();
        let mut requests = self.stored_requests()?;
        let (before, current) = match self.unmerge_into(merge_id, &mut requests, &mut change) {
            Ok(x) => x,
            Err(why) => return Err(self.refuse(draft, why)),
        };
        draft.records = ids(&before.iter().map(|r| r.id).collect::<Vec<_>>());
        draft.before = Some(self.store.state_digest(std::slice::from_ref(&current)));
        draft.after = Some(self.store.state_digest(&before));
        draft.detail = Some(format!("{merge_id}: {} record(s) restored", before.len()));
        self.commit(change, draft)
    }

    /// Adds the undoing of merge `merge_id` to `change`: the records before
    /// it and the survivor as it is now; or why it cannot be undone.
    /// `requests` are the stored requests, updated in place (and written
    /// to `change`) where a link follows the restored records.
    pub(crate) fn unmerge_into(
        &self,
        merge_id: &str,
        requests: &mut [crate::model::request::Request],
        change: &mut Change,
    ) -> Result<(Vec<Record>, Record), String> {
        let gone =
            || "no such merge, or it can no longer be undone (undone already, or its records were erased)".to_owned();
        let plain = self.store.snapshot(merge_id).map_err(|e| e.to_string())?.ok_or_else(gone)?;
        let snap: Snapshot = serde_json::from_slice(&plain).map_err(|_| "unreadable merge snapshot".to_owned())?;
        if snap.kind.is_some() {
            return Err(gone());
        }
        let before = snap
            .before
            .iter()
            .map(|b| model::decode(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "unreadable merge snapshot".to_owned())?;
        // A later merge that swallowed the survivor must be undone first.
        if let Some(r) = self.store.redirect(snap.survivor).map_err(|e| e.to_string())? {
            return Err(format!("undo {} first: it merged the survivor away", r.merge));
        }
        let Some(current) = self.store.get(snap.survivor).map_err(|e| e.to_string())? else {
            return Err(format!("the surviving record {} is gone", snap.survivor));
        };
        if snap.merged_hash.as_ref().is_some_and(|h| *h != record_hash(&current)) {
            return Err(
                "the surviving record changed since the merge (an edit or a later merge); undoing would lose that"
                    .into(),
            );
        }
        for r in &before {
            if snap.merged.contains(&r.id) {
                change.drop_redirects.push(r.id);
                change.index_set.push((r.provenance.source.clone(), r.source_id.clone(), r.id));
            }
        }
        for r in &snap.repointed {
            change.redirects.push(r.clone());
            change.index_set.push((r.source.clone(), r.source_id.clone(), r.into));
        }
        change.drop_snapshots.push(merge_id.to_owned());
        // A request linked to the survivor stays linked to every record the
        // undo brings back (they are the same person's until told otherwise).
        for q in requests.iter_mut() {
            if q.status.is_open() && q.records.contains(&snap.survivor) {
                let restored: Vec<RecordId> =
                    before.iter().map(|r| r.id).filter(|id| !q.records.contains(id)).collect();
                if restored.is_empty() {
                    continue;
                }
                q.history.push(Step {
                    time: model::now(),
                    user: self.session.user.clone(),
                    what: format!("linked {} record(s) restored by undoing {merge_id}", restored.len()),
                });
                q.records.extend(restored);
                change.requests.retain(|(r, _)| *r != q.reference);
                change.requests.push((q.reference.clone(), serde_json::to_vec(&q).unwrap_or_default()));
            }
        }
        change.put.extend(before.iter().cloned());
        Ok((before, current))
    }

    pub(crate) fn snapshots(&self) -> Result<Vec<Snapshot>, ServiceError> {
        let mut out = Vec::new();
        for id in self.store.snapshot_ids()? {
            if let Some(p) = self.store.snapshot(&id)?
                && let Ok(s) = serde_json::from_slice::<Snapshot>(&p)
            {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Everything erasing `ids` with `strategy` removes, and what it keeps.
    pub fn plan_erase(&self, ids: &[RecordId], strategy: Strategy) -> Result<ErasePlan, ServiceError> {
        self.require(Role::Admin, "erase", ids)?;
        let records = ids.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        let (policy, _) = self.policy()?;
        let mut set: BTreeSet<RecordId> = ids.iter().copied().collect();
        let redirects: Vec<RecordId> =
            self.store.redirects()?.into_iter().filter(|r| set.contains(&r.into)).map(|r| r.from).collect();
        // Snapshots of earlier merges hold the merged-away records too.
        set.extend(redirects.iter().copied());
        let snapshots = self.snapshots()?.into_iter().filter(|s| s.touches(&set)).map(|s| s.merge).collect();
        let mut categories = BTreeSet::new();
        let mut kept: BTreeMap<String, Kept> = BTreeMap::new();
        for r in &records {
            for f in fields_of(std::slice::from_ref(r)) {
                if f.get(r).is_none() {
                    continue;
                }
                if let Some((name, hold)) = policy.hold_of(f.name()) {
                    let k = kept.entry(f.to_string()).or_insert_with(|| Kept {
                        field: f.to_string(),
                        records: 0,
                        why: format!("legal hold `{name}`: {}", hold.reason),
                    });
                    k.records += 1;
                } else if strategy == Strategy::Anonymize && f == FieldName::Core(Field::Country) {
                    let k = kept.entry("country".into()).or_insert_with(|| Kept {
                        field: "country".into(),
                        records: 0,
                        why: "anonymised statistics (not personal data on its own)".into(),
                    });
                    k.records += 1;
                } else {
                    categories.insert(category(&policy, &f));
                }
            }
        }
        if strategy == Strategy::Anonymize && !records.is_empty() {
            kept.insert(
                "sign-up month".into(),
                Kept {
                    field: "sign-up month".into(),
                    records: records.len(),
                    why: "anonymised statistics (the day and time are removed)".into(),
                },
            );
        }
        let requests: Vec<String> = self
            .stored_requests()?
            .into_iter()
            .filter(|r| r.requester_erased.is_none() && r.records.iter().any(|id| set.contains(id)))
            .map(|r| r.reference)
            .collect();
        Ok(ErasePlan {
            strategy,
            records: ids.to_vec(),
            redirects,
            snapshots,
            categories: categories.into_iter().collect(),
            kept: kept.into_values().collect(),
            request_entries: requests.len(),
            requests,
        })
    }

    /// Erases as planned: crypto-shredding (the sealed values and their keys
    /// go; with `rekey`, the data key is rotated afterwards so the copies
    /// sled keeps on disk cannot be opened either). Returns the receipt,
    /// which is also kept in the store.
    pub fn erase(
        &self,
        plan: &ErasePlan,
        reason: &str,
        request: Option<&str>,
        rekey: bool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Receipt, ServiceError> {
        self.erase_completing(plan, reason, request, false, rekey, progress)
    }

    /// [`Service::erase`]; with `complete`, the request `request` is
    /// completed by the same committed step, with the receipt attached.
    pub(crate) fn erase_completing(
        &self,
        plan: &ErasePlan,
        reason: &str,
        request: Option<&str>,
        complete: bool,
        rekey: bool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Receipt, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("erase", &plan.records);
        draft.request = request.and_then(text);
        self.require(Role::Admin, "erase", &plan.records)?;
        draft.reason = Some(self.need_reason(&draft, reason)?);
        if plan.records.is_empty() {
            return Err(self.refuse(draft, "nothing to erase".into()));
        }
        // A request named must be one of the store's: an unknown reference
        // would put a request that does not exist into the audit trail as
        // the erasure's ground.
        if let Some(reference) = draft.request.clone()
            && !self.stored_requests()?.iter().any(|r| r.reference == reference)
        {
            draft.request = None;
            return Err(self.refuse(
                draft,
                format!(
                    "there is no request {}: add it first (`steward request add`), or erase without naming one",
                    crate::model::text::fit(&reference, 40)
                ),
            ));
        }
        let records = plan.records.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        let (policy, _) = self.policy()?;
        let receipt_id = format!("rcpt-{}", ulid::Ulid::new());
        let now = model::now();
        let tomb = serde_json::to_vec(&Tombstone { erased_at: now, receipt: receipt_id.clone() }).unwrap_or_default();
        let mut change = Change::default();
        for r in &records {
            change.index_remove.push((r.provenance.source.clone(), r.source_id.clone()));
            match reduce(r, plan.strategy, &policy) {
                Some(rest) => change.put.push(rest),
                None => {
                    change.remove.push(r.id);
                    change.tombstones.push((r.id, tomb.clone()));
                }
            }
        }
        let mut merged: std::collections::HashMap<RecordId, Vec<(String, String)>> = Default::default();
        for rd in self.store.redirects()?.into_iter().filter(|rd| plan.records.contains(&rd.into)) {
            merged.entry(rd.into).or_default().push((rd.source.clone(), rd.source_id.clone()));
            change.drop_redirects.push(rd.from);
            change.index_remove.push((rd.source, rd.source_id));
            change.tombstones.push((rd.from, tomb.clone()));
        }
        // The next import of the same export must not bring them back —
        // under any email, phone or name steward knew them by.
        let snaps: Vec<Snapshot> =
            self.snapshots()?.into_iter().filter(|s| plan.snapshots.contains(&s.merge)).collect();
        let mut pending: BTreeMap<String, std::collections::HashMap<String, Vec<crate::model::source::Op>>> =
            BTreeMap::new();
        let mut froms: std::collections::HashMap<RecordId, Vec<RecordId>> = Default::default();
        for d in self.store.redirects()? {
            froms.entry(d.into).or_default().push(d.from);
        }
        for r in &records {
            let merged_ids = merged.get(&r.id).map_or(&[][..], Vec::as_slice);
            let mut mine: BTreeSet<RecordId> = BTreeSet::from([r.id]);
            mine.extend(froms.get(&r.id).into_iter().flatten().copied());
            let also: Vec<Record> = snaps
                .iter()
                .filter(|s| s.touches(&mine))
                .flat_map(|s| s.before.iter().filter_map(|b| model::decode(b).ok()))
                .collect();
            let mut old = Vec::new();
            for (source, sid) in
                std::iter::once((&r.provenance.source, &r.source_id)).chain(merged_ids.iter().map(|(s, i)| (s, i)))
            {
                if !pending.contains_key(source) {
                    pending.insert(source.clone(), self.changes_by_row(source)?);
                }
                for op in pending.get(source).and_then(|m| m.get(sid)).into_iter().flatten() {
                    if let crate::model::source::Op::Update { field, old: Some(v), .. } = op {
                        old.push((field.clone(), v.clone()));
                    }
                }
            }
            self.suppress_into(&mut change, r, merged_ids, &also, &old, &receipt_id);
        }
        change.drop_snapshots = plan.snapshots.clone();
        if rekey {
            // The rotation that follows makes old values unrecoverable; the
            // undo snapshots that hold some go in this same step, so that a
            // rotation finished after a crash cannot leave them behind.
            for s in self.snapshots()?.into_iter().filter(|s| s.until_rotation) {
                if !change.drop_snapshots.contains(&s.merge) {
                    change.drop_snapshots.push(s.merge);
                }
            }
        }
        // "Not the same person" decisions about them go too.
        let erased: BTreeSet<RecordId> = plan.records.iter().chain(change.drop_redirects.iter()).copied().collect();
        change.drop_apart = self
            .store
            .apart()?
            .into_iter()
            .filter(|(a, b, _)| erased.contains(a) || erased.contains(b))
            .map(|(a, b, _)| (a, b))
            .collect();
        // The requesters' details go with the records their requests are
        // about; the request itself (reference, dates, history) stays as the
        // record of how it was answered.
        let user = self.session.user.clone();
        let mut gone: BTreeSet<RecordId> = plan.records.iter().copied().collect();
        gone.extend(plan.redirects.iter().copied());
        for mut r in self.stored_requests()? {
            let fulfilled = complete && request == Some(r.reference.as_str());
            let linked =
                fulfilled || plan.requests.contains(&r.reference) || r.records.iter().any(|id| gone.contains(id));
            if !linked {
                continue;
            }
            if r.requester_erased.is_none() {
                erase_requester(&mut r, &receipt_id);
                r.history.push(Step {
                    time: now,
                    user: user.clone(),
                    what: format!("requester's details erased ({receipt_id})"),
                });
            }
            if fulfilled {
                r.status = crate::model::request::Status::Completed;
                r.answers.push(receipt_id.clone());
                r.history.push(Step {
                    time: now,
                    user: user.clone(),
                    what: format!("completed by erasure {receipt_id}"),
                });
            }
            change.requests.push((r.reference.clone(), serde_json::to_vec(&r).unwrap_or_default()));
        }
        draft.before = Some(self.store.state_digest(&records));
        draft.detail = Some(format!(
            "{receipt_id}: {} record(s), strategy {}, {} redirect(s), {} merge snapshot(s), {} requester(s)",
            records.len(),
            plan.strategy.name(),
            plan.redirects.len(),
            plan.snapshots.len(),
            plan.request_entries
        ));
        let mut receipt = Receipt {
            receipt: receipt_id.clone(),
            time: now,
            strategy: plan.strategy,
            request: draft.request.clone(),
            records_erased: records.len(),
            record_ids: ids(&plan.records),
            categories_erased: plan.categories.clone(),
            also_erased: AlsoErased {
                redirects: plan.redirects.len(),
                merge_snapshots: plan.snapshots.len(),
                request_entries: plan.request_entries,
            },
            kept: plan
                .kept
                .iter()
                .map(|k| KeptJson { what: k.field.clone(), records: k.records, why: k.why.clone() })
                .collect(),
            audit_entry: self.store.audit_head_seq()? + 1,
            key_rotated: false,
            remnants: "the record keys are destroyed; copies sled keeps on disk stay readable with the current data \
                       key until `steward rekey` rotates it"
                .into(),
            backups: BACKUP_NOTE.into(),
            sources: Vec::new(),
        };
        change.receipts.push((receipt_id.clone(), serde_json::to_vec(&receipt).unwrap_or_default()));
        // The receipt as it will read after the rotation, written by the
        // rotation's own final batch (even one finished after a crash).
        let generation = self.store.key_epoch() + 1;
        let rotated = |mut r: Receipt, seq: u64| {
            r.audit_entry = seq;
            r.key_rotated = true;
            r.remnants = format!(
                "the record keys are destroyed and the data key was rotated (to generation {generation}): copies sled \
                 keeps on disk can no longer be decrypted"
            );
            r
        };
        let after = rotated(receipt.clone(), self.store.audit_head_seq()? + 1);
        let after = (receipt_id.clone(), serde_json::to_vec(&after).unwrap_or_default());
        if rekey {
            change.rekey_pending.push(after);
        } else {
            // Whenever the next rotation runs, the receipt will say so.
            change.rotation_receipts.push(after);
        }
        let entry = self.commit(change, draft)?;
        receipt.audit_entry = entry.seq;
        receipt.sources = self.told(&receipt_id)?;
        if rekey {
            let mut d = self.draft("rekey", &[]);
            d.reason = Some(format!("after erasure {receipt_id}"));
            match self.store.rekey_with(d, progress) {
                Ok(_) => receipt = rotated(receipt, entry.seq),
                // The erasure itself is done; the marker makes the next unlock rotate.
                Err(crate::store::StoreError::NoSpace { needed_mb, free_mb }) => {
                    receipt.remnants = format!(
                        "the record keys are destroyed; the key rotation waits for free disk space (it needs about \
                         {needed_mb} MB, {free_mb} MB are free): run `steward rekey` once there is room"
                    )
                }
                Err(_) => {
                    receipt.remnants = "the record keys are destroyed; the key rotation did not complete and is \
                                        finished on the next unlock"
                        .into()
                }
            }
        }
        Ok(receipt)
    }

    /// A stored receipt.
    pub fn receipt(&self, id: &str) -> Result<Option<Receipt>, ServiceError> {
        let Some(mut r) = self.store.receipt(id)?.and_then(|b| serde_json::from_slice::<Receipt>(&b).ok()) else {
            return Ok(None);
        };
        r.sources = self.told(&r.receipt)?;
        Ok(Some(r))
    }

    /// Every stored receipt.
    pub fn receipts(&self) -> Result<Vec<Receipt>, ServiceError> {
        Ok(self.store.receipts()?.iter().filter_map(|b| serde_json::from_slice(b).ok()).collect())
    }

    /// Commits `after` (changed copies of `before`, same order) as change
    /// `change_id` of `kind`, with an undo snapshot that the next key
    /// rotation deletes.
    pub(crate) fn commit_undoable(
        &self,
        change_id: &str,
        kind: &str,
        before: &[Record],
        after: Vec<Record>,
        mut draft: Draft,
    ) -> Result<Entry, ServiceError> {
        let snapshot = Snapshot {
            merge: change_id.to_owned(),
            survivor: before.first().map(|r| r.id).unwrap_or_default(),
            merged: Vec::new(),
            before: before.iter().map(model::encode).collect(),
            repointed: Vec::new(),
            merged_hash: None,
            kind: Some(kind.to_owned()),
            after: after.iter().map(|r| (r.id, record_hash(r))).collect(),
            parts: Vec::new(),
            until_rotation: true,
        };
        draft.before = Some(self.store.state_digest(before));
        draft.after = Some(self.store.state_digest(&after));
        let change = Change {
            put: after,
            snapshots: vec![(change_id.to_owned(), serde_json::to_vec(&snapshot).unwrap_or_default())],
            ..Change::default()
        };
        self.commit_knowing(change, draft, before)
    }

    /// Deletes every undo snapshot that must not outlive a key rotation
    /// (called just before one): afterwards, the old values they held
    /// cannot be recovered. Returns how many went.
    pub(crate) fn purge_before_rotation(&self) -> Result<usize, ServiceError> {
        let doomed: Vec<String> = self.snapshots()?.into_iter().filter(|s| s.until_rotation).map(|s| s.merge).collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let n = doomed.len();
        let mut draft = self.draft("undo-expired", &[]);
        draft.detail = Some(format!("{n} undo snapshot(s) deleted before the key rotation"));
        self.commit(Change { drop_snapshots: doomed, ..Change::default() }, draft)?;
        Ok(n)
    }

    /// Rotates the data key (see `store::rekey`).
    pub fn rekey(&self, reason: &str, progress: &(dyn Fn(usize) + Sync)) -> Result<Entry, ServiceError> {
        let mut draft = self.draft("rekey", &[]);
        self.require(Role::Admin, "rekey", &[])?;
        draft.reason = text(reason);
        // Old values kept for undo (edits, redactions, dropped fields) go
        // first: the rotation is what makes them unrecoverable.
        self.purge_before_rotation()?;
        Ok(self.store.rekey_with(draft, progress)?)
    }

    /// The audit trail, filtered. A viewer sees only their own entries.
    pub fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<Entry>, ServiceError> {
        let mine = self.session.role < Role::Steward;
        Ok(self
            .store
            .audit_entries()?
            .into_iter()
            .filter(|e| filter.matches(e) && (!mine || e.user == self.session.user))
            .collect())
    }

    /// Checks the audit chain.
    pub fn audit_verify(&self) -> Result<Verification, ServiceError> {
        self.require(Role::Admin, "verify the audit trail", &[])?;
        let v = self.store.verify_audit()?;
        // The check itself is recorded (the report shows the last one).
        let mut draft = self.draft(VERIFY_ACTION, &[]);
        match &v.broken {
            None => draft.detail = Some(format!("{} entries intact", v.entries)),
            Some(b) => {
                draft.outcome = Some(Outcome::Failed);
                draft.detail = Some(format!("broken at entry {}", b.seq));
            }
        }
        self.store.audit(draft)?;
        Ok(v)
    }
}

/// Clears what a request holds about its requester: the contact details,
/// and every free text that may name them (how the identity was checked,
/// reasons, notes, export file names). Receipt ids stay: they are the
/// record of the answer.
fn erase_requester(r: &mut crate::model::request::Request, receipt: &str) {
    use crate::model::request::{Requester, Status};
    const GONE: &str = "erased with the requester's details";
    r.requester = Requester::default();
    r.requester_erased = Some(receipt.to_owned());
    if r.verification.method.is_some() {
        r.verification.method = Some(GONE.into());
    }
    match &mut r.status {
        Status::Rejected { reason } | Status::Extended { reason, .. } => *reason = GONE.into(),
        _ => {}
    }
    for n in &mut r.notes {
        *n = GONE.into();
    }
    for a in &mut r.answers {
        if !a.starts_with("rcpt-") {
            *a = GONE.into();
        }
    }
}

/// What erasure tells about backups.
pub const BACKUP_NOTE: &str = "encrypted backups made before this erasure still hold the data until they expire or \
                               are destroyed; a restore from one must be followed by erasing again";

/// The policy category of a field (or `extra.NAME` when it is undeclared).
fn category(policy: &Policy, f: &FieldName) -> String {
    match policy.field(f.name()) {
        Some(p) => p.category.clone(),
        None => match f {
            FieldName::Core(c) => crate::policy::default_category(*c).to_owned(),
            FieldName::Extra(n) => format!("undeclared ({n})"),
        },
    }
}

/// What is left of `r` after erasure: `None` when nothing is; otherwise the
/// held fields (and for `anonymize`, the country and the sign-up month).
pub fn reduce(r: &Record, strategy: Strategy, policy: &Policy) -> Option<Record> {
    let held: Vec<FieldName> = fields_of(std::slice::from_ref(r))
        .into_iter()
        .filter(|f| f.get(r).is_some() && policy.hold_of(f.name()).is_some())
        .collect();
    if held.is_empty() && strategy == Strategy::Delete {
        return None;
    }
    use chrono::{Datelike, TimeZone};
    let month = chrono::Utc
        .with_ymd_and_hms(r.times.created.year(), r.times.created.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(r.times.created);
    let mut out = Record::new(&r.provenance.source, "", month);
    out.id = r.id;
    out.source_id = format!("erased-{}", r.id);
    out.times.updated = model::now();
    for f in held {
        let _ = f.set(&mut out, f.get(r));
    }
    if strategy == Strategy::Anonymize {
        out.address.country = r.address.country.clone();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, proptest};
    use proptest::strategy::Strategy as _;

    fn rec(given: &str, email: Option<&str>, phone: Option<&str>, verified: i64) -> Record {
        let t = chrono::DateTime::from_timestamp(1_700_000_000 + verified, 0).unwrap_or_default();
        let mut r = Record::new("crm", &format!("{given}{verified}"), t);
        r.given_name = Some(given.into());
        r.email = email.map(Into::into);
        r.phone = phone.map(Into::into);
        r.times.last_verified = Some(t);
        r
    }

    /// Issue 14 (safety): merging `+14163217997` with `(416) 321-7997` kept
    /// the same number twice (`secondary_phone`). Numbers are compared in
    /// E.164 with each record's country, emails case-blind.
    #[test]
    fn a_merge_keeps_one_number_written_two_ways_once() {
        let mut a = rec("Ann", Some("Ann@Example.com"), Some("+14163217997"), 0);
        let mut b = rec("Ann", Some("ann@example.com"), Some("(416) 321-7997"), 100);
        a.address.country = Some("CA".into());
        b.address.country = Some("CA".into());
        let m = MergePlan::new(vec![a.clone(), b.clone()], None).merged();
        assert!(m.extra.get("secondary_phone").is_none(), "{:?}", m.extra);
        assert!(m.extra.get("secondary_email").is_none(), "{:?}", m.extra);
        // A different number is still kept.
        b.phone = Some("(416) 321-7998".into());
        let m = MergePlan::new(vec![a, b], None).merged();
        assert!(m.extra.get("secondary_phone").is_some(), "{:?}", m.extra);
    }

    #[test]
    fn merge_defaults_to_the_most_recently_verified_value_and_keeps_secondaries() {
        let a = rec("Ann", Some("ann@old.example"), Some("+441632960001"), 0);
        let b = rec("Anne", Some("ann@new.example"), None, 100);
        let plan = MergePlan::new(vec![a.clone(), b.clone()], None);
        assert_eq!(plan.records[plan.survivor].id, b.id);
        let m = plan.merged();
        assert_eq!(m.given_name.as_deref(), Some("Anne"));
        assert_eq!(m.email.as_deref(), Some("ann@new.example"));
        assert_eq!(m.phone.as_deref(), Some("+441632960001"), "empty values never win");
        assert_eq!(m.extra.get("secondary_email").map(String::as_str), Some("ann@old.example"));
        assert_eq!(m.id, b.id);
    }

    #[test]
    fn cycling_skips_records_without_a_value() {
        let a = rec("Ann", None, None, 0);
        let b = rec("Anne", Some("x@example.com"), None, 100);
        let c = rec("Annie", None, None, 50);
        let mut plan = MergePlan::new(vec![a, b, c], None);
        let i = plan.choice.iter().position(|(f, _)| *f == FieldName::Core(Field::Email)).unwrap_or(0);
        plan.cycle(i, true);
        assert_eq!(plan.choice[i].1, Some(1), "the only record with an email stays chosen");
    }

    #[test]
    fn invalid_edits_are_refused_with_the_rule_not_the_value() {
        let r = rec("Ann", Some("ann@example.com"), None, 0);
        let (_, _, problems) =
            apply_edits(&r, &[FieldEdit::parse("email=not-an-email").unwrap_or_else(|e| panic!("{e}"))]);
        assert_eq!(problems.len(), 1);
        assert!(!problems[0].problem.contains("not-an-email"));
        assert!(FieldEdit::parse("source_id=x").is_err());
        // Other names of a field name the field (as on import).
        assert_eq!(FieldEdit::parse("city=Leeds").map(|e| e.field), Ok(FieldName::Core(Field::Locality)));
        assert_eq!(FieldEdit::parse("surname=Lee").map(|e| e.field), Ok(FieldName::Core(Field::FamilyName)));
        assert_eq!(FieldEdit::parse("fax=1").map(|e| e.field), Ok(FieldName::Extra("fax".into())));
        let (next, diffs, problems) = apply_edits(&r, &[FieldEdit::parse("email=").unwrap_or_else(|e| panic!("{e}"))]);
        assert!(problems.is_empty());
        assert_eq!(next.email, None);
        assert_eq!(diffs.len(), 1);
    }

    #[test]
    fn anonymize_keeps_country_and_month_only() {
        let mut r = rec("Ann", Some("ann@example.com"), Some("+441632960001"), 86_400 * 20);
        r.address.country = Some("GB".into());
        r.address.locality = Some("Leeds".into());
        r.extra.insert("fax".into(), "0113".into());
        let out = reduce(&r, Strategy::Anonymize, &Policy::default()).unwrap_or_else(|| panic!("kept"));
        assert_eq!(out.address.country.as_deref(), Some("GB"));
        assert_eq!(out.given_name, None);
        assert_eq!(out.email, None);
        assert_eq!(out.address.locality, None);
        assert!(out.extra.is_empty());
        assert!(!out.source_id.contains("Ann"));
        assert_eq!(chrono::Datelike::day(&out.times.created), 1);
        assert_eq!(reduce(&r, Strategy::Delete, &Policy::default()), None);
    }

    #[test]
    fn legal_holds_keep_only_the_held_fields() {
        let mut policy = Policy::default();
        policy.holds.insert(
            "tax".into(),
            crate::policy::Hold { fields: vec!["invoice_ids".into()], reason: "tax law: 6 years".into() },
        );
        let mut r = rec("Ann", Some("ann@example.com"), None, 0);
        r.extra.insert("invoice_ids".into(), "INV-1".into());
        let out = reduce(&r, Strategy::Delete, &policy).unwrap_or_else(|| panic!("held"));
        assert_eq!(out.extra.get("invoice_ids").map(String::as_str), Some("INV-1"));
        assert_eq!(out.email, None);
        assert_eq!(out.given_name, None);
    }

    fn arb_record() -> impl proptest::strategy::Strategy<Value = Record> {
        (
            proptest::option::of("[a-z]{1,6}"),
            proptest::option::of("[a-z]{1,5}@[a-z]{1,5}\\.example"),
            proptest::option::of("\\+44[0-9]{10}"),
            0i64..1_000_000,
            proptest::option::of("[a-z]{1,4}"),
        )
            .prop_map(|(g, e, p, t, x)| {
                let mut r = rec(g.as_deref().unwrap_or("x"), e.as_deref(), p.as_deref(), t);
                r.given_name = g;
                if let Some(x) = x {
                    r.extra.insert("loyalty".into(), x);
                }
                r
            })
    }

    proptest! {
        #[test]
        fn merge_loses_no_email_or_phone_and_invents_nothing(records in proptest::collection::vec(arb_record(), 2..5)) {
            let plan = MergePlan::new(records.clone(), None);
            let m = plan.merged();
            prop_assert!(records.iter().any(|r| r.id == m.id));
            for r in &records {
                for (field, label) in [(Field::Email, "secondary_email"), (Field::Phone, "secondary_phone")] {
                    if let Some(v) = r.get(field) {
                        let canon = |x: &str| if field == Field::Email { x.to_lowercase() } else { x.chars().filter(char::is_ascii_digit).collect() };
                        let kept = m.get(field).is_some_and(|x| canon(&x) == canon(&v))
                            || m.extra.iter().any(|(k, x)| k.starts_with(label) && canon(x) == canon(&v));
                        prop_assert!(kept, "{} lost", field);
                    }
                }
            }
            for f in Field::ALL {
                if let Some(v) = m.get(f) {
                    prop_assert!(records.iter().any(|r| r.get(f).as_ref() == Some(&v)), "{} invented", f);
                }
            }
        }
    }
}
