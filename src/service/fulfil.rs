//! Answering a data-subject request: finding every record of the requester
//! (the duplicate engine compares the requester's details with each record
//! and follows duplicate clusters, so near-duplicates are found too),
//! confirming which are theirs, and fulfilling it: the erasure (which also
//! erases the requester's details and completes the request, in one
//! committed step) or the encrypted export, whose file name is attached.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::actions::{ErasePlan, Receipt, Strategy};
use super::export::{ExportReport, Target};
use super::requests::{Missing, RequestView};
use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::findings::duplicates::{self, Features};
use crate::model::request::{Request, RequestKind, Status, Step};
use crate::model::{Record, RecordId};

/// A candidate is proposed (pre-selected) only when the model gives it at
/// least this probability and the requester's evidence singles the person
/// out (see [`Service::request_match`]).
pub const PROPOSE: f64 = 0.9;
/// Weaker candidates than this are not listed at all, unless they share
/// the requester's name.
const LIST: f64 = 0.01;
/// At most this many candidates are listed.
const MAX_CANDIDATES: usize = 50;

/// A record that may be the requester's.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub id: RecordId,
    /// Probability that the record is the requester's, 0-1.
    pub score: f64,
    /// Strong enough, and singled out by the evidence: proposed.
    pub proposed: bool,
    /// Already confirmed as the requester's.
    pub linked: bool,
    /// Found as a near-duplicate of this (directly matched) record.
    pub via: Option<RecordId>,
    /// Why, field by field, in bits (`email same +38.2`).
    pub reasons: Vec<String>,
    /// The requester's identifiers this record agrees on (`name`, `email`,
    /// `phone`, `date of birth`, `address`, `national id`, `customer number`).
    pub evidence: Vec<&'static str>,
    /// Enough of the record to recognise it, masked for masked roles.
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locality: Option<String>,
    pub country: Option<String>,
    pub birth_year: Option<u16>,
    pub source: String,
}

/// The candidates for a request, and what to ask the requester for when
/// nothing could be proposed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Matches {
    pub candidates: Vec<Candidate>,
    pub advice: Option<String>,
}

/// Where record `id` sits in `ids` (ids ascending, as the store lists them).
fn position_of(ids: &[RecordId], id: RecordId) -> Option<u32> {
    match ids.binary_search(&id) {
        Ok(i) => Some(i as u32),
        Err(_) => ids.iter().position(|x| *x == id).map(|i| i as u32),
    }
}

pub use super::requests::a_kind;

/// Words that begin a family name ("Nora de Vries", "Ana da Silva",
/// "Ludwig van Beethoven"), compared in lower case.
const PARTICLES: &[&str] = &[
    "al", "bin", "da", "das", "de", "degli", "dei", "del", "della", "den", "der", "di", "do", "dos", "du", "la", "le",
    "st", "st.", "ten", "ter", "van", "von", "zu",
];

/// "Given Middle Family" as (given, family): the last word is the family
/// name, with the particles before it ("de Vries", "van der Berg"); a
/// single word is a family name. The comparison also tries the names
/// crosswise, so a name written family first still matches.
fn split_name(name: &str) -> (Option<&str>, &str) {
    let words: Vec<(usize, &str)> =
        name.split_whitespace().map(|w| (w.as_ptr() as usize - name.as_ptr() as usize, w)).collect();
    if words.len() < 2 {
        return (None, name.trim());
    }
    let mut first = words.len() - 1;
    while first > 1 && PARTICLES.contains(&words[first - 1].1.to_lowercase().as_str()) {
        first -= 1;
    }
    let (at, _) = words[first];
    (Some(name[..at].trim()), name[at..].trim())
}

/// The requester's details as a partial record (for the comparison).
fn query_record(r: &Request) -> Record {
    let mut q = Record::new("request", "", crate::model::now());
    if let Some(name) = r.requester.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        let (given, family) = split_name(name);
        q.given_name = given.map(str::to_owned);
        q.family_name = Some(family.to_owned());
    }
    q.email = r.requester.email.clone();
    q.phone = r.requester.phone.clone();
    q.date_of_birth = r.requester.date_of_birth.as_deref().and_then(crate::model::DateParts::parse);
    q.address.postcode = r.requester.postcode.clone();
    q.address.line1 = r.requester.address.clone();
    q
}

fn reasons(explained: &[duplicates::FieldComparison]) -> Vec<String> {
    explained
        .iter()
        .map(|c| {
            if c.field == "prior" {
                format!("prior {:+.1}", c.bits)
            } else {
                format!("{} {} {:+.1}", c.field, c.status, c.bits)
            }
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

    /// The records that may be the requester's, best first.
    ///
    /// Candidates come from the last scan's match index (rebuilt when any
    /// record changed since): records sharing the requester's email, phone,
    /// customer number, the sound of their name, or birth date and
    /// postcode. Each is scored by the duplicate model against what the
    /// requester gave (see `duplicates::score_request`). A record is
    /// *proposed* only when the probability is at least [`PROPOSE`] and the
    /// evidence singles the person out: an email, phone, national id or
    /// customer number that no other person in the store holds, or the name
    /// together with at least one more identifier. A name alone proposes
    /// nothing, and says what to ask for. The other records of a proposed
    /// person's duplicate cluster are proposed too ("via") when the cluster
    /// itself passes the match probability. Linked records are always
    /// listed. Audited (the reference and the number of candidates).
    pub fn request_match(&self, reference: &str) -> Result<Matches, ServiceError> {
        let mut draft = self.draft("request-match", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "match requests to records", &[])?;
        let request = self.load_request(reference)?;
        if request.requester_erased.is_some() {
            return Err(self.refuse(draft, format!("the requester's details of {reference} were erased")));
        }
        let (policy, _) = self.policy()?;
        let index = self.match_index(&|_| {})?;
        let model = &index.model;
        let mut query = Features::of(&query_record(&request));
        model.term_frequencies().annotate(&mut query);
        let customer = request
            .requester
            .customer_number
            .as_deref()
            .map(duplicates::index::customer_number)
            .filter(|c| !c.is_empty());
        // A phone written without its country code could be from any
        // country the store has customers in: it is looked up as each, and
        // compared with each record as in that record's country.
        let raw_phone = request.requester.phone.clone();
        let international = raw_phone.as_deref().is_some_and(|p| {
            let t = p.trim_start();
            t.starts_with('+') || t.chars().filter(char::is_ascii_digit).take(2).collect::<String>() == "00"
        });
        let phone_in =
            |country: Option<&str>| raw_phone.as_deref().and_then(|p| crate::findings::normalize::e164(p, country));
        let mut found = index.lookup(&query, customer.as_deref());
        if raw_phone.is_some() && !international {
            let mut tried = BTreeSet::new();
            for c in &index.countries {
                if let Some(e) = phone_in(Some(c))
                    && tried.insert(e.clone())
                {
                    let more = index.lookup(&query.with_phone_digits(Some(e)), None);
                    found.records.extend(more.records);
                }
            }
            found.records.sort_unstable();
            found.records.dedup();
        }
        // How many people (other than `person`) hold the requester's customer number.
        let customer_holders = |person: u32| -> usize {
            let Some(c) = customer.as_deref() else { return 0 };
            let mut people: Vec<u32> = found
                .records
                .iter()
                .filter(|i| {
                    self.store
                        .get(index.ids[**i as usize])
                        .ok()
                        .flatten()
                        .is_some_and(|r| duplicates::index::customer_number(&r.source_id) == c)
                })
                .map(|i| index.person_of(*i))
                .filter(|p| *p != person)
                .collect();
            people.sort_unstable();
            people.dedup();
            people.len()
        };
        struct Scored {
            record: Record,
            person: u32,
            probability: f64,
            reasons: Vec<String>,
            evidence: Vec<&'static str>,
            singled_out: bool,
        }
        let mut direct: BTreeMap<u32, Scored> = BTreeMap::new();
        for &i in &found.records {
            let Some(record) = self.store.get(index.ids[i as usize])? else { continue };
            let mut f = Features::of(&record);
            model.term_frequencies().annotate(&mut f);
            let person = index.person_of(i);
            let query = if raw_phone.is_some() && !international {
                let mut q = query.with_phone_digits(phone_in(record.address.country.as_deref()));
                model.term_frequencies().annotate(&mut q);
                q
            } else {
                query.clone()
            };
            let u = |field: usize| index.identifier_u(&query, field, person);
            let Some(m) = duplicates::score_request(model, index.persons, &query, &f, &u) else { continue };
            let mut probability = m.probability;
            let mut reasons = reasons(&m.explanation);
            let mut evidence = m.evidence.labels();
            let mut unique = (m.evidence.email
                && index.identifier_u(&query, duplicates::EMAIL, person) <= index.base_u(duplicates::EMAIL))
                || (m.evidence.phone
                    && index.identifier_u(&query, duplicates::PHONE, person) <= index.base_u(duplicates::PHONE))
                || (m.evidence.national_id
                    && index.identifier_u(&query, duplicates::NID, person) <= index.base_u(duplicates::NID));
            if let Some(c) = customer.as_deref()
                && duplicates::index::customer_number(&record.source_id) == c
            {
                // A customer number is an identifier the business issued:
                // it weighs like an email nobody else has, unless another
                // person holds the same number (in another source).
                let others = customer_holders(person);
                let u = if others == 0 {
                    index.base_u(duplicates::EMAIL)
                } else {
                    others as f64 / index.persons.max(1) as f64
                };
                let u = u.max(1e-300);
                let odds = (probability / (1.0 - probability).max(1e-300)).ln() - u.ln();
                probability = 1.0 / (1.0 + (-odds).exp());
                let bits = -u.log2();
                reasons.push(format!("customer_number same {bits:+.1}"));
                evidence.push("customer number");
                unique |= others == 0;
            }
            let name_plus = m.evidence.name && evidence.len() >= 2;
            direct
                .insert(i, Scored { record, person, probability, reasons, evidence, singled_out: unique || name_plus });
        }
        // index -> (score, proposed, via, reasons, evidence)
        type Listed = (f64, bool, Option<u32>, Vec<String>, Vec<&'static str>);
        let mut out: BTreeMap<u32, Listed> = BTreeMap::new();
        for (i, s) in &direct {
            let proposed = s.singled_out && s.probability >= PROPOSE;
            out.insert(*i, (s.probability, proposed, None, s.reasons.clone(), s.evidence.clone()));
        }
        // The rest of a proposed person's cluster, when the cluster holds.
        for (i, s) in direct.iter().filter(|(_, s)| s.singled_out && s.probability >= PROPOSE) {
            let Some(score) = index.cluster_score(s.person) else { continue };
            if score < policy.settings.duplicates.match_probability {
                continue;
            }
            for m in index.members(s.person).into_iter().filter(|m| m != i) {
                let why = format!("near-duplicate of {} (cluster {score:.3})", index.ids[*i as usize]);
                let entry = out.entry(m).or_insert((0.0, false, None, Vec::new(), Vec::new()));
                let via_score = s.probability.min(score);
                if !entry.1 || entry.2.is_some() {
                    if via_score > entry.0 || !entry.1 {
                        entry.0 = entry.0.max(via_score);
                        entry.2 = Some(*i);
                    }
                    entry.1 = true;
                }
                if !entry.3.contains(&why) {
                    entry.3.push(why);
                }
            }
        }
        // Linked records are always listed, with or without evidence.
        let linked: BTreeSet<RecordId> = self.linked_records(&request)?.into_iter().collect();
        let position: BTreeMap<RecordId, u32> =
            index.ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).filter(|(id, _)| linked.contains(id)).collect();
        for id in &linked {
            if let Some(&i) = position.get(id) {
                out.entry(i).or_insert((
                    0.0,
                    false,
                    None,
                    vec!["linked by hand (no matching details)".into()],
                    Vec::new(),
                ));
            }
        }
        // Two records a reviewer said are different people cannot both be
        // the requester's: when both would be proposed, neither is.
        let mut conflict = false;
        for (a, b, _) in self.store.apart()? {
            let (ia, ib) = (position_of(&index.ids, a), position_of(&index.ids, b));
            if let (Some(ia), Some(ib)) = (ia, ib)
                && out.get(&ia).is_some_and(|e| e.1)
                && out.get(&ib).is_some_and(|e| e.1)
            {
                for i in [ia, ib] {
                    if let Some(e) = out.get_mut(&i) {
                        e.1 = false;
                        e.3.push("marked as a different person than another match: ask the requester for more".into());
                    }
                }
                conflict = true;
            }
        }
        let mut candidates = Vec::new();
        for (i, (score, proposed, via, reasons, evidence)) in out {
            let id = index.ids[i as usize];
            // A namesake stays listed however weak: the officer sees that
            // they were considered, and why they are not the requester.
            let namesake = evidence.contains(&"name");
            if score < LIST && !linked.contains(&id) && !proposed && !namesake {
                continue;
            }
            let record = match direct.get(&i) {
                Some(s) => s.record.clone(),
                None => match self.store.get(id)? {
                    Some(r) => r,
                    None => continue,
                },
            };
            let shown = self.shown(record.clone());
            candidates.push(Candidate {
                id,
                score: (score * 1000.0).round() / 1000.0,
                proposed,
                linked: linked.contains(&id),
                via: via.map(|v| index.ids[v as usize]),
                reasons,
                evidence,
                name: shown.display_name(),
                email: shown.email.clone(),
                phone: shown.phone.clone(),
                locality: shown.address.locality.clone(),
                country: shown.address.country.clone(),
                birth_year: shown.date_of_birth.map(|d| d.year),
                source: record.provenance.source.clone(),
            });
        }
        candidates.sort_by(|a, b| {
            b.linked
                .cmp(&a.linked)
                .then(b.proposed.cmp(&a.proposed))
                .then(b.score.total_cmp(&a.score))
                .then(a.id.cmp(&b.id))
        });
        candidates.truncate(MAX_CANDIDATES.max(linked.len()));
        let proposed = candidates.iter().filter(|c| c.proposed).count();
        let advice = (proposed == 0).then(|| {
            let q = &request.requester;
            let only_name = q.name.is_some()
                && [&q.email, &q.phone, &q.customer_number, &q.date_of_birth, &q.postcode, &q.address]
                    .iter()
                    .all(|v| v.is_none());
            let ask = "ask the requester for an email, phone, customer number or date of birth";
            if conflict {
                format!("the details match records marked as different people: {ask}")
            } else if only_name && found.same_name > 1 {
                format!("{} records share this name: {ask}", found.same_name)
            } else if only_name {
                format!("a name alone does not single anyone out: {ask}")
            } else if candidates.is_empty() {
                format!("no record matches what the requester gave; if they are a customer, {ask}")
            } else {
                format!("nothing the requester gave singles one person out: {ask}")
            }
        });
        draft.detail = Some(format!("{}: {} candidate(s), {proposed} proposed", request.reference, candidates.len()));
        self.store.audit(draft)?;
        Ok(Matches { candidates, advice })
    }

    /// Confirms (`link`) or withdraws records as the requester's.
    pub fn request_link(&self, reference: &str, ids: &[RecordId], link: bool) -> Result<RequestView, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
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
        let _hold = self.store.hold()?; // see `Store::hold`
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
        let _hold = self.store.hold()?; // see `Store::hold`
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

    /// Rectifies record `id` for request `reference`: only for a request
    /// whose requester is verified and to which the record is linked, and
    /// the audit entry names the request.
    pub fn request_update(
        &self,
        reference: &str,
        id: RecordId,
        edits: &[super::actions::FieldEdit],
        reason: &str,
    ) -> Result<super::actions::Updated, ServiceError> {
        self.request_update_for(reference, id, edits, reason, None)
    }

    /// [`Service::request_update`] of a record as the user saw it (see
    /// [`Service::update_seen`]).
    pub(crate) fn request_update_for(
        &self,
        reference: &str,
        id: RecordId,
        edits: &[super::actions::FieldEdit],
        reason: &str,
        seen: Option<&crate::model::Record>,
    ) -> Result<super::actions::Updated, ServiceError> {
        let mut draft = self.draft("update", &[id]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "update", &[id])?;
        let r = self.open_request(reference, &draft)?;
        self.ready(&r, &[RequestKind::Rectification], &draft)?;
        if !self.linked_records(&r)?.contains(&id) {
            return Err(self.refuse(
                draft,
                format!("that record is not linked to {reference}: link it first (Space on the request's page)"),
            ));
        }
        self.update_for(id, edits, reason, Some(reference), seen)
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

#[cfg(test)]
mod tests {
    use super::split_name;

    #[test]
    fn family_names_keep_their_particles() {
        assert_eq!(split_name("Nora De Vries"), (Some("Nora"), "De Vries"));
        assert_eq!(split_name("Ludwig van der Berg"), (Some("Ludwig"), "van der Berg"));
        assert_eq!(split_name("Ana Maria da Silva"), (Some("Ana Maria"), "da Silva"));
        assert_eq!(split_name("  John   Smith "), (Some("John"), "Smith"));
        assert_eq!(split_name("Smith"), (None, "Smith"));
        // The given name is never swallowed: "De Vries" alone is a given
        // name and a family name, as written.
        assert_eq!(split_name("De Vries"), (Some("De"), "Vries"));
        assert_eq!(split_name(""), (None, ""));
    }
}
