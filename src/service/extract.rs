//! Purpose-checked extracts: what a marketer (or a courier, or a help desk)
//! gets is what the customer agreed to. `extract(purpose)` writes, age-
//! encrypted, only the records whose consent or legal basis allows that
//! purpose — consent given for a consent-based purpose, within the
//! purpose's retention, processing not restricted, no objection on file —
//! and of them only the fields the policy declares for that purpose.
//! Audited with the purpose, the count and what was left out.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::export::{Target, expand_home, write_encrypted_csv};
use super::*;
use crate::findings::{self, Consent};
use crate::model::request::{RequestKind, Status};
use crate::policy::{LegalBasis, Policy, Purpose};

/// Why a record was left out of an extract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftOut {
    /// The purpose rests on consent and the record has none given.
    NoConsent,
    /// Consent was withdrawn.
    Withdrawn,
    /// Processing restricted (Art. 18).
    Restricted,
    /// The customer objected (an objection request names the record, or
    /// comes from its email address).
    Objected,
    /// An erasure or restriction request of the customer is open (it names
    /// the record, or comes from its email address).
    PendingRequest,
    /// Past the purpose's retention since the last activity.
    PastRetention,
    /// Holds none of the purpose's fields.
    NoData,
}

impl LeftOut {
    pub fn name(self) -> &'static str {
        match self {
            LeftOut::NoConsent => "no consent given",
            LeftOut::Withdrawn => "consent withdrawn",
            LeftOut::Restricted => "processing restricted",
            LeftOut::Objected => "objected",
            LeftOut::PendingRequest => "erasure or restriction requested",
            LeftOut::PastRetention => "past the purpose's retention",
            LeftOut::NoData => "none of the purpose's fields",
        }
    }
}

/// What an extract would hold (a dry run) or held.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractPlan {
    pub purpose: String,
    pub legal_basis: LegalBasis,
    /// The fields the purpose may use (the policy's), in output order.
    pub fields: Vec<String>,
    /// Which of them are free text (written redacted).
    #[serde(skip)]
    pub free_text: Vec<bool>,
    /// Records considered (the store, or the view the extract was made from).
    pub considered: usize,
    pub included: Vec<RecordId>,
    pub left_out: BTreeMap<LeftOut, usize>,
}

/// A written extract.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractReport {
    #[serde(flatten)]
    pub plan: ExtractPlan,
    pub file: PathBuf,
    pub bytes: u64,
    pub audit_entry: u64,
}

/// The customers whose requests stop a use of their data: by record (the
/// request names it) and by email address (not matched yet).
#[derive(Default)]
pub struct Blocked {
    pub objected: HashSet<RecordId>,
    pub objected_emails: HashSet<String>,
    pub pending: HashSet<RecordId>,
    pub pending_emails: HashSet<String>,
}

impl Blocked {
    fn email(r: &Record) -> Option<String> {
        r.email.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty())
    }

    fn objected(&self, r: &Record) -> bool {
        self.objected.contains(&r.id) || Self::email(r).is_some_and(|e| self.objected_emails.contains(&e))
    }

    fn pending(&self, r: &Record) -> bool {
        self.pending.contains(&r.id) || Self::email(r).is_some_and(|e| self.pending_emails.contains(&e))
    }
}

/// Whether `r` may be used for `purpose` (`name`), and if not why.
pub fn allows(
    r: &Record,
    name: &str,
    purpose: &Purpose,
    fields: &[String],
    blocked: &Blocked,
    now: DateTime<Utc>,
) -> Result<(), LeftOut> {
    if r.care.restricted.is_some() {
        return Err(LeftOut::Restricted);
    }
    if blocked.pending(r) {
        return Err(LeftOut::PendingRequest);
    }
    // An objection stops processing on legitimate interests or a public
    // task, and direct marketing whatever its basis (Art. 21).
    let objectionable = matches!(
        purpose.legal_basis,
        Some(LegalBasis::LegitimateInterest | LegalBasis::PublicTask | LegalBasis::Consent)
    );
    if objectionable && blocked.objected(r) {
        return Err(LeftOut::Objected);
    }
    if purpose.needs_consent()
        && let Some(cf) = &purpose.consent_field
    {
        match findings::consent(r, name, cf) {
            Consent::Given => {}
            Consent::Withdrawn => return Err(LeftOut::Withdrawn),
            Consent::Missing | Consent::Refused | Consent::Unclear => return Err(LeftOut::NoConsent),
        }
    }
    if let Some(days) = purpose.retention_days {
        let activity = r.times.last_activity.unwrap_or(r.times.updated);
        if (now - activity).num_days() > i64::from(days) {
            return Err(LeftOut::PastRetention);
        }
    }
    let holds = fields.iter().any(|f| super::actions::FieldName::parse(f).get(r).is_some());
    if !holds {
        return Err(LeftOut::NoData);
    }
    Ok(())
}

/// The fields `purpose` may use: every field the policy declares for it,
/// core fields first in their usual order.
pub fn purpose_fields(policy: &Policy, purpose: &str) -> Vec<String> {
    let mut out: Vec<String> = crate::model::Field::ALL
        .iter()
        .map(|f| f.name().to_owned())
        .filter(|f| policy.field(f).is_some_and(|p| p.purposes.iter().any(|q| q == purpose)))
        .collect();
    for (name, f) in &policy.fields {
        if !out.contains(name) && f.purposes.iter().any(|q| q == purpose) {
            out.push(name.clone());
        }
    }
    out
}

impl Service {
    /// The customers whose requests stop a use: an objection not rejected
    /// (it holds once honoured), an erasure or restriction still open.
    fn blocked(&self) -> Result<Blocked, ServiceError> {
        let mut b = Blocked::default();
        for q in self.stored_requests()? {
            let email = q.requester.email.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty());
            let (ids, emails) = match q.kind {
                RequestKind::Objection if !matches!(q.status, Status::Rejected { .. }) => {
                    (&mut b.objected, &mut b.objected_emails)
                }
                RequestKind::Erasure | RequestKind::Restriction if q.status.is_open() => {
                    (&mut b.pending, &mut b.pending_emails)
                }
                _ => continue,
            };
            ids.extend(q.records.iter().copied());
            emails.extend(email);
        }
        Ok(b)
    }

    /// What an extract for `purpose` would hold: over the whole store, or
    /// over `among` (a filtered view). Admins only: it is personal data
    /// leaving steward.
    pub fn plan_extract(&self, purpose: &str, among: Option<&[RecordId]>) -> Result<ExtractPlan, ServiceError> {
        let draft = self.draft("extract", &[]);
        self.require(Role::Admin, "extract data for a purpose", &[])?;
        let (policy, _) = self.policy()?;
        let Some(p) = policy.purposes.get(purpose.trim()) else {
            let known: Vec<&str> = policy.purposes.keys().map(String::as_str).collect();
            return Err(self.refuse(
                draft,
                format!(
                    "the policy has no purpose `{}` (it has: {})",
                    crate::model::text::fit(purpose, 40),
                    known.join(", ")
                ),
            ));
        };
        let name = purpose.trim().to_owned();
        let Some(basis) = p.legal_basis else {
            return Err(self.refuse(
                draft,
                format!("purpose `{name}` has no legal basis in the policy: nothing may be used for it"),
            ));
        };
        let fields = purpose_fields(&policy, &name);
        if fields.is_empty() {
            return Err(self.refuse(draft, format!("no field is declared for purpose `{name}`")));
        }
        let blocked = self.blocked()?;
        let now = crate::model::now();
        let mut plan = ExtractPlan {
            purpose: name.clone(),
            legal_basis: basis,
            free_text: fields.iter().map(|f| crate::findings::is_free_text(&policy, f)).collect(),
            fields,
            considered: 0,
            included: Vec::new(),
            left_out: BTreeMap::new(),
        };
        let judge = |r: &Record, plan: &mut ExtractPlan| {
            plan.considered += 1;
            match allows(r, &name, p, &plan.fields, &blocked, now) {
                Ok(()) => plan.included.push(r.id),
                Err(why) => *plan.left_out.entry(why).or_default() += 1,
            }
        };
        match among {
            Some(ids) => {
                let unique: std::collections::BTreeSet<RecordId> = ids.iter().copied().collect();
                for id in &unique {
                    if let Some(r) = self.store.get(*id)? {
                        judge(&r, &mut plan);
                    }
                }
            }
            None => self.store.each_chunk(4096, &mut |chunk| {
                for r in &chunk {
                    judge(r, &mut plan);
                }
                true
            })?,
        }
        Ok(plan)
    }

    /// Writes the extract for `purpose` (over the store, or `among`) as CSV
    /// (`id` and the purpose's fields), encrypted to `target`; audited with
    /// the purpose and the counts. Others' changes wait while it is judged
    /// and written.
    pub fn extract(
        &self,
        purpose: &str,
        among: Option<&[RecordId]>,
        target: &Target,
        armor: bool,
        out: &Path,
    ) -> Result<ExtractReport, ServiceError> {
        let _hold = self.store.hold()?;
        let mut draft = self.draft("extract", &[]);
        self.require(Role::Admin, "extract data for a purpose", &[])?;
        let recipients = target.recipients().map_err(|e| self.refuse(draft.clone(), e.to_string()))?;
        let plan = &self.plan_extract(purpose, among)?;
        if plan.included.is_empty() {
            return Err(self.refuse(draft, format!("no record may be used for `{}`: nothing to extract", plan.purpose)));
        }
        let left: Vec<String> = plan.left_out.iter().map(|(k, n)| format!("{n} {}", k.name())).collect();
        draft.detail = Some(format!(
            "purpose {}: {} record(s), fields {}; left out: {}; {}",
            plan.purpose,
            plan.included.len(),
            plan.fields.join(", "),
            if left.is_empty() { "none".into() } else { left.join(", ") },
            target.describe()
        ));
        let out = &expand_home(out);
        let mut entry = None;
        let header: Vec<&str> = std::iter::once("id").chain(plan.fields.iter().map(String::as_str)).collect();
        let names: Vec<super::actions::FieldName> =
            plan.fields.iter().map(|f| super::actions::FieldName::parse(f)).collect();
        let written = write_encrypted_csv(
            out,
            recipients,
            armor,
            &header,
            |emit| {
                for id in &plan.included {
                    let Some(r) = self.store.get(*id)? else { continue };
                    let country = r.address.country.as_deref();
                    let row: Vec<String> = std::iter::once(r.id.to_string())
                        // Personal data hiding in free text (a card number in
                        // the notes) goes out redacted, as the remedy leaves it.
                        .chain(names.iter().zip(&plan.free_text).map(|(n, free)| {
                            let v = n.get(&r).unwrap_or_default();
                            if *free { crate::findings::pii::redact(&v, country).0 } else { v }
                        }))
                        .collect();
                    emit(&row)?;
                }
                Ok(())
            },
            || {
                entry = Some(self.store.audit(draft.clone())?);
                Ok(())
            },
        );
        let bytes =
            written.map_err(|e| self.failed_write(&draft, &format!("purpose {}: the extract", plan.purpose), e))?;
        let entry = entry.ok_or_else(|| ServiceError::Invalid("the extract was not audited".into()))?;
        Ok(ExtractReport { plan: plan.clone(), file: out.to_owned(), bytes, audit_entry: entry.seq })
    }
}
