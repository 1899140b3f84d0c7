//! Answering a data-subject request: finding every record of the requester
//! (the duplicate engine compares the requester's details with each record
//! and follows duplicate clusters, so near-duplicates are found too),
//! confirming which are theirs, and fulfilling it: the erasure (which also
//! erases the requester's details and completes the request, in one
//! committed step) or the encrypted export, whose file name is attached.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::actions::{ErasePlan, Receipt, Strategy};
use super::export::{ExportReport, Target};
use super::requests::{Missing, RequestView};
use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::findings::duplicates::{self, Features};
use crate::model::request::{Request, RequestKind, Status, Step};
use crate::model::{Record, RecordId};

/// Candidates scoring at least this are proposed (pre-selected); weaker
/// ones are listed for the officer to judge.
pub const PROPOSE: f64 = 0.5;
/// Weaker candidates than this are not listed at all.
const LIST: f64 = 0.05;
/// At most this many candidates are listed.
const MAX_CANDIDATES: usize = 50;

/// A record that may be the requester's.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub id: RecordId,
    /// Match probability, 0-1.
    pub score: f64,
    /// Strong enough to propose.
    pub proposed: bool,
    /// Already confirmed as the requester's.
    pub linked: bool,
    /// Found as a near-duplicate of this (directly matched) record.
    pub via: Option<RecordId>,
    /// Why, field by field (`email same`, `family_name similar 0.93`).
    pub reasons: Vec<String>,
    /// Enough of the record to recognise it, masked for masked roles.
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locality: Option<String>,
    pub source: String,
}

/// "an erasure", "an access", "a portability" ... request.
pub fn a_kind(k: RequestKind) -> String {
    let name = k.name();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {name}")
}

/// The requester's details as a partial record (for the comparison).
fn query_record(r: &Request) -> Record {
    let mut q = Record::new("request", &r.reference, crate::model::now());
    if let Some(name) = r.requester.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        // "Given Middle Family": the last word is the family name; the
        // comparison also tries the names crosswise.
        match name.rsplit_once(char::is_whitespace) {
            Some((given, family)) => {
                q.given_name = Some(given.trim().to_owned());
                q.family_name = Some(family.to_owned());
            }
            None => q.family_name = Some(name.to_owned()),
        }
    }
    q.email = r.requester.email.clone();
    q.phone = r.requester.phone.clone();
    q
}

fn reasons(explained: &[duplicates::FieldComparison]) -> Vec<String> {
    explained
        .iter()
        .map(|c| match c.status {
            "similar" | "close" => format!("{} {} {:.2}", c.field, c.status, c.similarity),
            s => format!("{} {s}", c.field),
        })
        .collect()
}

impl Service {
    fn load_request(&self, reference: &str) -> Result<Request, ServiceError> {
        self.stored_requests()?
            .into_iter()
            .find(|r| r.reference == reference)
            .ok_or_else(|| ServiceError::NotFound(crate::model::text::fit(reference, 40)))
    }

    /// The records that may be the requester's, best first: those whose
    /// details match the requester's (scored by the duplicate model the scan
    /// estimates from this store), and the near-duplicates of each strong
    /// match (its duplicate cluster). Linked records are always listed.
    /// Audited (the reference and the number of candidates).
    pub fn request_match(&self, reference: &str) -> Result<Vec<Candidate>, ServiceError> {
        let mut draft = self.draft("request-match", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "match requests to records", &[])?;
        let request = self.load_request(reference)?;
        if request.requester_erased.is_some() {
            return Err(self.refuse(draft, format!("the requester's details of {reference} were erased")));
        }
        let records = self.store.load_all(&mut |_| {})?;
        let (policy, _) = self.policy()?;
        let mut features = Features::all(&records);
        let settings = duplicates::Settings {
            match_probability: policy.settings.duplicates.match_probability,
            cluster_probability: policy.settings.duplicates.cluster_probability,
        };
        let found = duplicates::find(&mut features, settings, &duplicates::Apart::default());
        let (clusters, model) = (found.clusters, found.model);
        let mut query = Features::of(&query_record(&request));
        model.term_frequencies().annotate(&mut query);
        let direct: Vec<(u32, f64, Vec<String>)> = features
            .par_iter()
            .enumerate()
            .filter_map(|(i, f)| {
                duplicates::match_query(&model, &query, f).map(|(p, why, _)| (i as u32, p, reasons(&why)))
            })
            .collect();
        // index -> (score, via, reasons)
        let mut found: BTreeMap<u32, (f64, Option<u32>, Vec<String>)> =
            direct.iter().map(|(i, p, why)| (*i, (*p, None, why.clone()))).collect();
        let cluster_of: BTreeMap<u32, usize> =
            clusters.iter().enumerate().flat_map(|(c, cl)| cl.members.iter().map(move |m| (*m, c))).collect();
        for (i, p, _) in direct.iter().filter(|(_, p, _)| *p >= settings.match_probability.min(PROPOSE)) {
            let Some(&c) = cluster_of.get(i) else { continue };
            for &m in clusters[c].members.iter().filter(|m| **m != *i) {
                let score = p.min(clusters[c].score);
                let via_reason =
                    format!("near-duplicate of {} (cluster {:.2})", records[*i as usize].id, clusters[c].score);
                let entry = found.entry(m).or_insert((0.0, Some(*i), Vec::new()));
                if score > entry.0 {
                    entry.0 = score;
                    entry.1 = Some(*i);
                }
                if !entry.2.contains(&via_reason) {
                    entry.2.push(via_reason);
                }
            }
        }
        // Linked records are always listed, with or without evidence (linked
        // by hand, or merged into another record since).
        let linked: BTreeSet<RecordId> = self.linked_records(&request)?.into_iter().collect();
        let index: BTreeMap<RecordId, u32> = records.iter().enumerate().map(|(i, r)| (r.id, i as u32)).collect();
        for id in &linked {
            if let Some(&i) = index.get(id) {
                found.entry(i).or_insert((0.0, None, vec!["linked by hand (no matching details)".into()]));
            }
        }
        let mut out: Vec<Candidate> = found
            .into_iter()
            .filter(|(i, (p, _, _))| *p >= LIST || linked.contains(&records[*i as usize].id))
            .map(|(i, (score, via, reasons))| {
                let r = &records[i as usize];
                let shown = self.shown(r.clone());
                Candidate {
                    id: r.id,
                    score: (score * 1000.0).round() / 1000.0,
                    proposed: score >= PROPOSE,
                    linked: linked.contains(&r.id),
                    via: via.map(|v| records[v as usize].id),
                    reasons,
                    name: shown.display_name(),
                    email: shown.email.clone(),
                    phone: shown.phone.clone(),
                    locality: shown.address.locality.clone(),
                    source: r.provenance.source.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| b.linked.cmp(&a.linked).then(b.score.total_cmp(&a.score)).then(a.id.cmp(&b.id)));
        out.truncate(MAX_CANDIDATES.max(linked.len()));
        draft.detail = Some(format!(
            "{}: {} candidate(s), {} proposed",
            request.reference,
            out.len(),
            out.iter().filter(|c| c.proposed).count()
        ));
        self.store.audit(draft)?;
        Ok(out)
    }

    /// Confirms (`link`) or withdraws records as the requester's.
    pub fn request_link(&self, reference: &str, ids: &[RecordId], link: bool) -> Result<RequestView, ServiceError> {
        let mut draft = self.draft(if link { "request-link" } else { "request-unlink" }, ids);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "link records to requests", ids)?;
        let mut r = self.open_request(reference, &draft)?;
        if ids.is_empty() {
            return Err(self.refuse(draft, "no records given".into()));
        }
        let mut changed = 0;
        for id in ids {
            if link {
                self.real(*id)?;
                if !r.records.contains(id) {
                    r.records.push(*id);
                    changed += 1;
                }
            } else if let Some(pos) = r.records.iter().position(|x| x == id) {
                r.records.remove(pos);
                changed += 1;
            }
        }
        let what = format!("{} {changed} record(s)", if link { "linked" } else { "unlinked" });
        if matches!(r.status, Status::New) && link && changed > 0 {
            r.status = Status::InProgress;
        }
        r.history.push(Step { time: crate::model::now(), user: self.session.user.clone(), what: what.clone() });
        draft.detail = Some(format!("{reference}: {what}"));
        self.save_request(r, draft)
    }

    /// Records the identity check: `verified` or `failed`, and how.
    pub fn request_verify(&self, reference: &str, verified: bool, method: &str) -> Result<RequestView, ServiceError> {
        let mut draft = self.draft("request-verify", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "update requests", &[])?;
        let mut r = self.open_request(reference, &draft)?;
        let method = method.trim();
        if method.is_empty() {
            return Err(self.refuse(draft, "say how the identity was checked (--method)".into()));
        }
        r.verification.status = if verified { "verified" } else { "failed" }.into();
        r.verification.method = Some(crate::model::text::fit(method, 200));
        let what = format!("identity {}", r.verification.status);
        r.history.push(Step { time: crate::model::now(), user: self.session.user.clone(), what: what.clone() });
        draft.detail = Some(format!("{reference}: {what}"));
        self.save_request(r, draft)
    }

    /// Adds a note (a call, a letter sent, what was agreed) to a request's
    /// file. Notes may name the requester: they are sealed with it and
    /// erased with its details.
    pub fn request_note(&self, reference: &str, note: &str) -> Result<RequestView, ServiceError> {
        let mut draft = self.draft("request-note", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "update requests", &[])?;
        let mut r = self.open_request(reference, &draft)?;
        let note = note.trim();
        if note.is_empty() {
            return Err(self.refuse(draft, "an empty note".into()));
        }
        if r.notes.len() >= 200 {
            return Err(self.refuse(draft, format!("{reference} has 200 notes already")));
        }
        let now = crate::model::now();
        r.notes.push(format!(
            "{} {}: {}",
            now.format("%Y-%m-%d %H:%M"),
            self.session.user,
            crate::model::text::fit(note, 500)
        ));
        r.history.push(Step { time: now, user: self.session.user.clone(), what: "note added".into() });
        draft.detail = Some(format!("{reference}: note added"));
        self.save_request(r, draft)
    }

    /// The records linked to an open request, as they are now: merged-away
    /// ones by their survivor, erased ones left out.
    fn linked_records(&self, r: &Request) -> Result<Vec<RecordId>, ServiceError> {
        let mut out = Vec::new();
        for id in &r.records {
            let now =
                if self.store.get(*id)?.is_some() { Some(*id) } else { self.store.redirect(*id)?.map(|rd| rd.into) };
            if let Some(id) = now
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn ready(
        &self,
        r: &Request,
        kinds: &[RequestKind],
        draft: &crate::store::audit::Draft,
    ) -> Result<(), ServiceError> {
        if !kinds.contains(&r.kind) {
            return Err(self.refuse(
                draft.clone(),
                format!("{} is {} request, not {}", r.reference, a_kind(r.kind), kinds[0].name()),
            ));
        }
        let why = match super::requests::missing(&r.verification.status, r.records.len()) {
            None => return Ok(()),
            Some(Missing::Verification) => format!(
                "the requester of {} is not verified yet (`request verify`; v on the Requests screen)",
                r.reference
            ),
            Some(Missing::Records) => {
                format!("no records are linked to {} (`request match --link`; L on the request's page)", r.reference)
            }
        };
        Err(self.refuse(draft.clone(), why))
    }

    /// What erasing the records of erasure request `reference` removes.
    pub fn request_plan_erase(&self, reference: &str, strategy: Strategy) -> Result<ErasePlan, ServiceError> {
        let mut draft = self.draft("erase", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Admin, "erase", &[])?;
        let r = self.open_request(reference, &draft)?;
        self.ready(&r, &[RequestKind::Erasure], &draft)?;
        let ids = self.linked_records(&r)?;
        if ids.is_empty() {
            return Err(self.refuse(
                draft,
                format!(
                    "every record linked to {reference} is erased already; complete it with `request complete \
                     {reference} --answer RECEIPT` (c on the Requests screen)"
                ),
            ));
        }
        let mut plan = self.plan_erase(&ids, strategy)?;
        // The same person's other requests (same email or phone) lose the
        // requester's details too, even when no record was linked to them.
        let same = |a: &Request, b: &Request| {
            let email = |q: &Request| q.requester.email.as_deref().and_then(crate::findings::normalize::email);
            let phone =
                |q: &Request| q.requester.phone.as_deref().and_then(|p| crate::findings::normalize::phone(p, None));
            (email(a).is_some() && email(a) == email(b)) || (phone(a).is_some() && phone(a) == phone(b))
        };
        for q in self.stored_requests()? {
            if q.requester_erased.is_none()
                && !plan.requests.contains(&q.reference)
                && (q.reference == r.reference || same(&q, &r))
            {
                plan.requests.push(q.reference);
            }
        }
        plan.request_entries = plan.requests.len();
        Ok(plan)
    }

    /// Fulfils an erasure request: erases its linked records (and their
    /// merge remnants, and the requester's details), attaches the receipt
    /// and completes the request, all in one committed step; then rotates
    /// the data key unless `rekey` is false.
    pub fn request_erase(
        &self,
        reference: &str,
        plan: &ErasePlan,
        reason: &str,
        rekey: bool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Receipt, ServiceError> {
        let mut draft = self.draft("erase", &plan.records);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Admin, "erase", &plan.records)?;
        let r = self.open_request(reference, &draft)?;
        self.ready(&r, &[RequestKind::Erasure], &draft)?;
        let linked = self.linked_records(&r)?;
        if plan.records.iter().collect::<BTreeSet<_>>() != linked.iter().collect::<BTreeSet<_>>() {
            return Err(self.refuse(draft, "the records linked to the request changed; plan again".into()));
        }
        self.erase_completing(plan, reason, Some(reference), true, rekey, progress)
    }

    /// Fulfils an access or portability request: exports its linked
    /// records encrypted to `target`, attaches the file name and completes
    /// the request.
    pub fn request_export(
        &self,
        reference: &str,
        target: &Target,
        armor: bool,
        out: &Path,
    ) -> Result<(ExportReport, RequestView), ServiceError> {
        let mut draft = self.draft("export", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Admin, "export", &[])?;
        let r = self.open_request(reference, &draft)?;
        self.ready(&r, &[RequestKind::Access, RequestKind::Portability], &draft)?;
        let ids = self.linked_records(&r)?;
        let report = self.export_for(&ids, target, armor, out, Some(reference))?;
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let view = self.complete_request(reference, Some(&format!("export {name}")), true)?;
        Ok((report, view))
    }
}
