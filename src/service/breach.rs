//! Breach response: open an incident with the time it was discovered and
//! what happened, scope the records it touched, see the counts per data
//! category and per jurisdiction, run the GDPR Art. 33 clock, decide on the
//! risk (and so on Art. 34), keep a timeline, write the notification list
//! (age-encrypted: who, how to reach them, which of their data was
//! involved) and the report for the authority (no personal data).
//!
//! Admins open and change incidents; stewards and admins read the register.
//! Every step is audited; the register is sealed like everything else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::export::{Target, expand_home, write_encrypted_csv};
use super::*;
use crate::findings::pii;
use crate::model;
use crate::model::breach::{Affected, Breach, Clock, Figures, Risk, Scope, Step, under};
use crate::policy::jurisdiction::Regime;
use crate::policy::{Policy, high_risk_category};
use crate::store::audit::Draft;
use crate::store::{Change, Shelf};

/// Longest description or note kept, in characters.
pub const MAX_NOTE: usize = 1000;

/// What an admin gives to open an incident.
#[derive(Clone, Debug)]
pub struct NewBreach {
    pub discovered: DateTime<Utc>,
    pub what: String,
    pub scope: Scope,
}

/// A change to an open incident.
#[derive(Clone, Debug)]
pub enum BreachStep {
    /// Something done or learned, for the timeline.
    Note(String),
    /// The risk assessment, and why.
    Risk(Risk, String),
    /// The authority (or the people) were told, at this time, and how (a
    /// portal reference, the mailing; may be empty).
    Notified { authority: bool, at: DateTime<Utc>, how: String },
    /// The incident is over; why.
    Close(String),
}

/// What a notification list held.
#[derive(Clone, Debug, Serialize)]
pub struct ListReport {
    pub file: PathBuf,
    /// People listed (records sharing an email address are one person).
    pub people: usize,
    /// Records behind them.
    pub records: usize,
    /// Affected records erased since the breach was scoped (nobody to tell).
    pub erased: usize,
    /// Affected records merged since: listed through their survivor.
    pub merged: usize,
    /// Affected records with neither email, phone nor postal address.
    pub unreachable: usize,
    pub bytes: u64,
    pub audit_entry: u64,
}

/// The fields of `r` a breach scoped by `scope` involves, with the category
/// of each: (label, category). A free-text field names what hides in it.
pub fn involved(r: &Record, scope: &Scope, policy: &Policy) -> Vec<(String, String)> {
    let country = r.address.country.as_deref();
    let mut out = Vec::new();
    for (name, value) in crate::findings::present(r) {
        let category = policy.category_of(&name);
        if crate::findings::is_free_text(policy, &name) {
            let found: BTreeSet<pii::Category> = pii::scan(&value, country).into_iter().map(|m| m.category).collect();
            for c in &found {
                let cat = c.category();
                if scope.categories.is_empty() || scope.covers_category(cat) {
                    out.push((format!("{name} ({})", c.label()), cat.to_owned()));
                }
            }
        }
        if scope.categories.is_empty() || scope.covers_category(&category) {
            out.push((name, category));
        }
    }
    out
}

/// Whether `r` falls in `scope` (the category filter aside: see [`involved`]).
/// `batch` holds the records of the scope's import batches.
fn in_scope(r: &Record, scope: &Scope, ids: &BTreeSet<RecordId>, batch: &BTreeSet<RecordId>) -> bool {
    let within = |t: DateTime<Utc>, a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| {
        a.is_none_or(|a| t >= a) && b.is_none_or(|b| t <= b)
    };
    (scope.sources.is_empty() || scope.sources.contains(&r.provenance.source))
        && (scope.batches.is_empty() || batch.contains(&r.id))
        && within(r.times.created, scope.created_from, scope.created_to)
        && (ids.is_empty() || ids.contains(&r.id))
}

/// The country of an address as the counts show it: an ISO code, or
/// `other` / `none` (never the raw value: a country column can hold
/// anything, an email included).
fn country_label(country: Option<&str>) -> String {
    match country.map(str::trim) {
        None | Some("") => "none".into(),
        Some(c) if c.len() == 2 && c.chars().all(|x| x.is_ascii_alphabetic()) => c.to_ascii_uppercase(),
        Some(_) => "other".into(),
    }
}

/// The person a record stands for in the counts and the list: its email
/// (case-folded) when it has one, else the record itself.
fn person_key(r: &Record) -> String {
    match r.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => format!("e:{}", e.to_lowercase()),
        None => format!("r:{}", r.id),
    }
}

/// Scopes records one at a time (a store is read in chunks): the affected
/// ones, the fields involved and the figures.
pub struct Assessment<'a> {
    scope: &'a Scope,
    policy: &'a Policy,
    ids: BTreeSet<RecordId>,
    batch: BTreeSet<RecordId>,
    /// The controller is established in the EU/EEA or the UK: its law covers
    /// every customer, wherever they live (GDPR Art. 3(1)).
    established: bool,
    /// Sources and categories seen in the store (to explain an empty scope).
    pub seen_sources: BTreeSet<String>,
    affected: Vec<Affected>,
    /// Each distinct list of fields once.
    sets: std::collections::HashMap<Vec<String>, std::sync::Arc<[String]>>,
    f: Figures,
    people: BTreeSet<String>,
    risky: BTreeSet<String>,
}

impl<'a> Assessment<'a> {
    /// `batch`: the records of the scope's import batches.
    pub fn new(scope: &'a Scope, policy: &'a Policy, batch: BTreeSet<RecordId>) -> Self {
        Assessment {
            scope,
            policy,
            ids: scope.ids.iter().copied().collect(),
            batch,
            established: policy
                .controller
                .as_ref()
                .and_then(|c| c.country.as_deref())
                .is_some_and(crate::policy::jurisdiction::inside_eea_or_uk),
            seen_sources: BTreeSet::new(),
            affected: Vec::new(),
            sets: std::collections::HashMap::new(),
            f: Figures::default(),
            people: BTreeSet::new(),
            risky: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, r: &Record) {
        if !self.seen_sources.contains(&r.provenance.source) {
            self.seen_sources.insert(r.provenance.source.clone());
        }
        if !in_scope(r, self.scope, &self.ids, &self.batch) {
            return;
        }
        let fields = involved(r, self.scope, self.policy);
        if fields.is_empty() {
            return; // the breach's categories are not among this record's data
        }
        let (f, people, risky) = (&mut self.f, &mut self.people, &mut self.risky);
        let cats: BTreeSet<&str> = fields.iter().map(|(_, c)| c.as_str()).collect();
        for c in &cats {
            *f.by_category.entry((*c).to_owned()).or_default() += 1;
            if high_risk_category(c) {
                risky.insert((*c).to_owned());
            }
        }
        let regime = Regime::of(r.address.country.as_deref());
        *f.by_jurisdiction.entry(regime.name().to_owned()).or_default() += 1;
        // Under a law with the clock: the controller's (when it is in the
        // EU/EEA or the UK), the customer's, or — not knowing where the
        // customer lives — assumed so.
        if self.established || regime.has_72h_clock() || regime == Regime::Unknown {
            f.under_72h_clock += 1;
        }
        *f.by_country.entry(country_label(r.address.country.as_deref())).or_default() += 1;
        people.insert(person_key(r));
        let names: Vec<String> = fields.into_iter().map(|(n, _)| n).collect();
        let shared = match self.sets.get(&names) {
            Some(s) => s.clone(),
            None => {
                let s: std::sync::Arc<[String]> = names.clone().into();
                self.sets.insert(names, s.clone());
                s
            }
        };
        self.affected.push(Affected { id: r.id, fields: shared });
    }

    pub fn finish(self) -> (Vec<Affected>, Figures) {
        let mut f = self.f;
        f.records = self.affected.len();
        f.people = self.people.len();
        f.high_risk_categories = self.risky.into_iter().collect();
        (self.affected, f)
    }
}

/// [`Assessment`] over `records`.
pub fn assess(records: &[Record], scope: &Scope, policy: &Policy) -> (Vec<Affected>, Figures) {
    let mut a = Assessment::new(scope, policy, BTreeSet::new());
    for r in records {
        a.add(r);
    }
    a.finish()
}

/// Likely consequences of losing data of these categories (Art. 33(3)(c)),
/// in words for the report.
pub fn consequences(categories: &BTreeMap<String, usize>) -> Vec<&'static str> {
    let has = |p: &str| categories.keys().any(|c| under(c, p));
    let mut out = Vec::new();
    if has("user.financial") {
        out.push("fraudulent payments or debits with the card or bank details");
    }
    if has("user.government_id") {
        out.push("identity theft with the national identification numbers");
    }
    if has("user.authorization") {
        out.push("access to the customers' accounts with the credentials");
    }
    if has("user.health_and_medical") || has("user.health") {
        out.push("disclosure of health information, discrimination");
    }
    if has("user.contact.email") || has("user.contact.phone_number") {
        out.push("phishing and unwanted contact using the email addresses or phone numbers");
    }
    if has("user.contact.address") {
        out.push("unwanted contact at home; with names and dates of birth, impersonation");
    }
    if has("user.demographic.date_of_birth") {
        out.push("dates of birth help answer identity checks (account take-over)");
    }
    if out.is_empty() {
        out.push("little beyond the disclosure itself (no contact, financial or identity data involved)");
    }
    out
}

/// The report for the supervisory authority (Art. 33(3)): figures and the
/// controller's words, never a customer's value.
#[derive(Clone, Debug, Serialize)]
pub struct AuthorityReport {
    pub reference: String,
    pub controller: Option<crate::policy::Controller>,
    pub discovered: DateTime<Utc>,
    pub opened: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub clock: Clock,
    pub nature: String,
    pub scope: String,
    pub records: usize,
    pub people_estimate: usize,
    pub categories: BTreeMap<String, usize>,
    pub high_risk_categories: Vec<String>,
    pub jurisdictions: BTreeMap<String, usize>,
    pub countries: BTreeMap<String, usize>,
    pub duties: Vec<(String, String)>,
    pub likely_consequences: Vec<&'static str>,
    pub risk: Risk,
    pub risk_reason: Option<String>,
    pub people_notified: Option<DateTime<Utc>>,
    pub measures: Vec<Step>,
    pub closed: Option<DateTime<Utc>>,
    pub generated_at: DateTime<Utc>,
}

impl AuthorityReport {
    pub fn of(b: &Breach, policy: &Policy, now: DateTime<Utc>) -> AuthorityReport {
        let regimes: BTreeSet<Regime> =
            [Regime::Gdpr, Regime::UkGdpr, Regime::UsState, Regime::Pipeda, Regime::AuPrivacyAct, Regime::Unknown]
                .into_iter()
                .filter(|r| b.figures.by_jurisdiction.get(r.name()).is_some_and(|n| *n > 0))
                .collect();
        AuthorityReport {
            reference: b.reference.clone(),
            controller: policy.controller.clone(),
            discovered: b.discovered,
            opened: b.opened,
            deadline: b.deadline(),
            clock: b.clock(now),
            nature: b.what.clone(),
            scope: b.scope.describe(),
            records: b.figures.records,
            people_estimate: b.figures.people,
            categories: b.figures.by_category.clone(),
            high_risk_categories: b.figures.high_risk_categories.clone(),
            jurisdictions: b.figures.by_jurisdiction.clone(),
            countries: b.figures.by_country.clone(),
            duties: regimes.into_iter().map(|r| (r.name().to_owned(), r.duty().to_owned())).collect(),
            likely_consequences: consequences(&b.figures.by_category),
            risk: b.risk,
            risk_reason: b.risk_reason.clone(),
            people_notified: b.people_notified,
            measures: b.timeline.clone(),
            closed: b.closed,
            generated_at: now,
        }
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let t = |d: &DateTime<Utc>| d.format("%Y-%m-%d %H:%M UTC").to_string();
        let mut s = String::new();
        let _ = writeln!(s, "# Personal data breach {}\n", self.reference);
        let _ = writeln!(
            s,
            "Report to the supervisory authority (GDPR Art. 33(3)), generated {}.\n",
            t(&self.generated_at)
        );
        let _ = writeln!(s, "## Controller\n");
        match &self.controller {
            Some(c) => {
                let _ = writeln!(s, "- {}; contact: {}", c.name, c.contact);
                if let Some(a) = &c.address {
                    let _ = writeln!(s, "- address: {a}");
                }
                if let Some(d) = &c.dpo {
                    let _ = writeln!(s, "- data protection officer: {d}");
                }
                if let Some(a) = &c.authority {
                    let _ = writeln!(s, "- lead supervisory authority: {a}");
                }
            }
            None => {
                let _ = writeln!(s, "- not declared: add `[controller]` to the policy");
            }
        }
        let _ = writeln!(s, "\n## When\n");
        let _ = writeln!(s, "- discovered: {}", t(&self.discovered));
        let _ = writeln!(s, "- recorded in steward: {}", t(&self.opened));
        let _ = writeln!(s, "- 72-hour deadline: {} ({})", t(&self.deadline), clock_words(&self.clock));
        let _ = writeln!(s, "\n## What happened\n\n{}\n", self.nature);
        let _ = writeln!(s, "## Who and what is affected\n");
        let _ = writeln!(s, "- scope: {}", self.scope);
        let _ = writeln!(
            s,
            "- {} record(s), about {} people (records sharing an email address counted once)",
            self.records, self.people_estimate
        );
        let _ = writeln!(s, "\n| category of data | records |\n|---|---:|");
        for (c, n) in &self.categories {
            let mark = if self.high_risk_categories.contains(c) { " (high risk)" } else { "" };
            let _ = writeln!(s, "| {c}{mark} | {n} |");
        }
        let _ = writeln!(s, "\n| jurisdiction | records |\n|---|---:|");
        for (j, n) in &self.jurisdictions {
            let _ = writeln!(s, "| {j} | {n} |");
        }
        let countries: Vec<String> = self.countries.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = writeln!(s, "\nBy country of address: {}.", countries.join(", "));
        let _ = writeln!(s, "\n## Likely consequences\n");
        for c in &self.likely_consequences {
            let _ = writeln!(s, "- {c}");
        }
        let _ = writeln!(s, "\n## Risk and notification of the people (Art. 34)\n");
        let _ = writeln!(
            s,
            "- assessed: {}{}",
            self.risk.name(),
            self.risk_reason.as_deref().map(|r| format!(" — {r}")).unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "- people told: {}",
            match (&self.people_notified, self.risk) {
                (Some(at), _) => t(at),
                (None, Risk::High) => "not yet: due without undue delay".into(),
                (None, _) => "not required unless the risk is high".into(),
            }
        );
        let _ = writeln!(s, "\n## Duties by jurisdiction\n");
        for (j, d) in &self.duties {
            let _ = writeln!(s, "- {j}: {d}");
        }
        let _ = writeln!(s, "\n## Measures taken and timeline\n");
        for step in &self.measures {
            let _ = writeln!(s, "- {} ({}): {}", t(&step.time), step.by, step.what);
        }
        if let Some(c) = &self.closed {
            let _ = writeln!(s, "\nClosed {}.", t(c));
        }
        model::text::inert_lines(&s)
    }
}

/// The clock in words for the report.
pub fn clock_words(c: &Clock) -> String {
    match c {
        Clock::Running { seconds_left, .. } => {
            format!("{} left; the authority has not been told yet", crate::model::breach::hours_minutes(*seconds_left))
        }
        Clock::Overdue { seconds_over, .. } => format!(
            "passed {} ago without a notification: give the reasons for the delay (Art. 33(1))",
            crate::model::breach::hours_minutes(*seconds_over)
        ),
        Clock::Notified { at, within_deadline } => format!(
            "the authority was told {}{}",
            at.format("%Y-%m-%d %H:%M UTC"),
            if *within_deadline { ", within the deadline" } else { ", after the deadline" }
        ),
        Clock::NotDue => "no notification due: assessed as unlikely to result in a risk, or no affected customer \
                          is under the GDPR or the UK GDPR (document the decision)"
            .into(),
    }
}

fn reference_of(year: i32, existing: &[Breach]) -> String {
    let prefix = format!("BR-{year}-");
    let n = existing.iter().filter_map(|b| b.reference.strip_prefix(&prefix)?.parse::<u32>().ok()).max().unwrap_or(0);
    format!("{prefix}{:04}", n + 1)
}

fn clean(s: &str, max: usize) -> Option<String> {
    Some(model::text::fit(s.trim(), max)).filter(|s| !s.is_empty())
}

/// Why an admin's words must not be kept: they hold a card number, an IBAN
/// or a social security number (the timeline goes into the authority's
/// report and the audit trail, which nothing erases).
fn personal_in(text: &str) -> Option<&'static str> {
    pii::scan(text, None)
        .into_iter()
        .find(|m| matches!(m.category, pii::Category::CreditCard | pii::Category::Iban | pii::Category::UsSsn))
        .map(|m| m.category.label())
}

impl Service {
    /// Every incident, newest first (stewards and admins).
    pub fn breaches(&self) -> Result<Vec<Breach>, ServiceError> {
        self.require_to_read(Role::Steward, "read the breach register")?;
        let mut out: Vec<Breach> = self
            .store
            .shelf(Shelf::Breach, &[])?
            .into_iter()
            .filter_map(|(_, plain)| serde_json::from_slice(&plain).ok())
            .collect();
        out.sort_by(|a: &Breach, b: &Breach| b.opened.cmp(&a.opened).then_with(|| b.reference.cmp(&a.reference)));
        Ok(out)
    }

    /// One incident by reference.
    pub fn breach(&self, reference: &str) -> Result<Breach, ServiceError> {
        self.require_to_read(Role::Steward, "read the breach register")?;
        self.stored_breach(reference)
    }

    fn stored_breach(&self, reference: &str) -> Result<Breach, ServiceError> {
        let reference = reference.trim().to_ascii_uppercase();
        let plain = self
            .store
            .shelf_get(Shelf::Breach, reference.as_bytes())?
            .ok_or_else(|| ServiceError::NotFound(format!("breach {}", model::text::fit(&reference, 24))))?;
        serde_json::from_slice(&plain).map_err(|_| ServiceError::Invalid("a breach entry does not read".into()))
    }

    fn save_breach(&self, b: &Breach, draft: Draft) -> Result<crate::store::audit::Entry, ServiceError> {
        let change = Change {
            shelve: vec![(Shelf::Breach, b.reference.as_bytes().to_vec(), serde_json::to_vec(b).unwrap_or_default())],
            ..Change::default()
        };
        self.commit(change, draft)
    }

    /// Opens an incident: scopes the records it touched and starts the
    /// clock at `discovered` (admin). `progress(done)` between chunks.
    pub fn breach_open(&self, new: NewBreach, progress: &mut dyn FnMut(usize)) -> Result<Breach, ServiceError> {
        let _hold = self.store.hold()?; // the reference and the scope are read under the writers' lock
        let mut draft = self.draft("breach-open", &[]);
        self.require(Role::Admin, "open a breach", &[])?;
        let now = model::now();
        let Some(what) = clean(&new.what, MAX_NOTE) else {
            return Err(self.refuse(draft, "say what happened (--what)".into()));
        };
        if let Some(found) = personal_in(&what) {
            return Err(self
                .refuse(draft, format!("the description holds a {found}: describe the breach without customer data")));
        }
        if new.discovered > now + Duration::minutes(5) {
            return Err(self.refuse(draft, "the discovery time is in the future".into()));
        }
        if let (Some(a), Some(b)) = (new.scope.created_from, new.scope.created_to)
            && a > b
        {
            return Err(self.refuse(draft, "the sign-up window ends before it starts".into()));
        }
        let (policy, _) = self.policy()?;
        let mut batch = BTreeSet::new();
        for n in &new.scope.batches {
            match self.batch(*n) {
                Ok(b) => batch.extend(b.ids),
                Err(e) => return Err(self.refuse(draft, e.to_string())),
            }
        }
        let mut assessment = Assessment::new(&new.scope, &policy, batch);
        let mut done = 0;
        self.store.each_chunk(4096, &mut |chunk| {
            for r in &chunk {
                assessment.add(r);
            }
            done += chunk.len();
            progress(done);
            true
        })?;
        let seen = assessment.seen_sources.clone();
        let (affected, figures) = assessment.finish();
        if affected.is_empty() {
            // A typo at 2 a.m. must not become "no notification due".
            let mut why = vec!["no record matches the scope".to_owned()];
            let unknown: Vec<&String> = new.scope.sources.iter().filter(|s| !seen.contains(*s)).collect();
            if !unknown.is_empty() {
                let known: Vec<&str> = seen.iter().map(String::as_str).collect();
                why.push(format!(
                    "no record comes from source {} (sources: {})",
                    unknown.iter().map(|s| format!("`{}`", model::text::fit(s, 40))).collect::<Vec<_>>().join(", "),
                    known.join(", ")
                ));
            }
            if !new.scope.categories.is_empty() {
                let mut known: BTreeSet<String> = policy.fields.values().map(|f| f.category.clone()).collect();
                known.extend(["user.government_id", "user.financial"].map(String::from));
                why.push(format!(
                    "categories are lower case, a category or a prefix of one: {}",
                    known.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            why.push("check the filters (a bare date in a `...-to` filter means the end of that day)".into());
            return Err(self.refuse(draft, why.join("; ")));
        }
        let existing = self.breaches()?;
        let reference = reference_of(chrono::Datelike::year(&now), &existing);
        let b = Breach {
            reference: reference.clone(),
            discovered: model::to_seconds(new.discovered),
            opened: now,
            opened_by: self.session.user.clone(),
            what,
            scope: new.scope,
            affected,
            figures,
            timeline: vec![Step {
                time: now,
                by: self.session.user.clone(),
                what: "incident opened in steward".into(),
            }],
            ..Breach::default()
        };
        draft.request = Some(reference.clone());
        draft.detail = Some(format!(
            "{reference}: {} record(s) in scope ({}), discovered {}",
            b.figures.records,
            b.scope.describe(),
            b.discovered.format("%Y-%m-%d %H:%M UTC")
        ));
        self.save_breach(&b, draft)?;
        Ok(b)
    }

    /// Adds a step to an open incident (admin).
    pub fn breach_step(&self, reference: &str, step: BreachStep) -> Result<Breach, ServiceError> {
        let _hold = self.store.hold()?;
        let action = match &step {
            BreachStep::Note(_) => "breach-note",
            BreachStep::Risk(..) => "breach-risk",
            BreachStep::Notified { .. } => "breach-notified",
            BreachStep::Close(_) => "breach-close",
        };
        let mut draft = self.draft(action, &[]);
        self.require(Role::Admin, "change a breach", &[])?;
        let mut b = self.stored_breach(reference)?;
        draft.request = Some(b.reference.clone());
        if !b.is_open() {
            return Err(self.refuse(draft, format!("{} is closed", b.reference)));
        }
        let now = model::now();
        let words = match &step {
            BreachStep::Note(t)
            | BreachStep::Risk(_, t)
            | BreachStep::Close(t)
            | BreachStep::Notified { how: t, .. } => t.as_str(),
        };
        if let Some(found) = personal_in(words) {
            return Err(self.refuse(draft, format!("the text holds a {found}: write it without customer data")));
        }
        let not_future = |t: DateTime<Utc>| t <= now + Duration::minutes(5);
        let what = match step {
            BreachStep::Note(text) => {
                clean(&text, MAX_NOTE).ok_or_else(|| self.refuse(draft.clone(), "the note is empty".into()))?
            }
            BreachStep::Risk(risk, why) => {
                let Some(why) = clean(&why, MAX_NOTE) else {
                    return Err(self.refuse(draft, "say why (the assessment is documented, Art. 33(5))".into()));
                };
                if risk == Risk::Unassessed {
                    return Err(self.refuse(draft, "risk: unlikely, risk or high".into()));
                }
                b.risk = risk;
                b.risk_reason = Some(why.clone());
                format!("risk assessed: {} — {why}", risk.name())
            }
            BreachStep::Notified { at, .. } if !not_future(at) => {
                return Err(self.refuse(draft, "the notification time is in the future".into()));
            }
            BreachStep::Notified { at, .. } if at < b.discovered => {
                return Err(self.refuse(draft, "the notification time is before the breach was discovered".into()));
            }
            BreachStep::Notified { authority, at, how } => {
                let how = clean(&how, MAX_NOTE).map(|h| format!(": {h}")).unwrap_or_default();
                let at_text = at.format("%Y-%m-%d %H:%M UTC");
                if authority {
                    b.authority_notified = Some(model::to_seconds(at));
                    let late = if at <= b.deadline() { "" } else { " (after the 72-hour deadline)" };
                    format!("supervisory authority told at {at_text}{late}{how}")
                } else {
                    b.people_notified = Some(model::to_seconds(at));
                    format!("affected people told at {at_text}{how}")
                }
            }
            BreachStep::Close(why) => {
                let Some(why) = clean(&why, MAX_NOTE) else {
                    return Err(self.refuse(draft, "say why the incident is closed".into()));
                };
                if b.risk == Risk::Unassessed {
                    return Err(self.refuse(
                        draft,
                        "the risk is not assessed: record it first (`breach risk REF unlikely|risk|high --why ...`); \
                         the decision is part of the breach's documentation (Art. 33(5))"
                            .into(),
                    ));
                }
                if matches!(b.clock(now), Clock::Running { .. } | Clock::Overdue { .. }) {
                    return Err(self.refuse(
                        draft,
                        "the authority has not been told and the risk is not assessed as unlikely: record one \
                         (`breach notified --authority` or `breach risk unlikely`) before closing"
                            .into(),
                    ));
                }
                if b.people_due() {
                    return Err(
                        self.refuse(draft, "the risk is high and the people have not been told (Art. 34)".into())
                    );
                }
                b.closed = Some(now);
                format!("closed: {why}")
            }
        };
        b.timeline.push(Step { time: now, by: self.session.user.clone(), what: what.clone() });
        draft.detail = Some(format!("{}: {}", b.reference, model::text::fit(&what, 300)));
        self.save_breach(&b, draft)?;
        Ok(b)
    }

    /// The report for the authority: no personal data (stewards and admins;
    /// audited, as a document leaving steward).
    pub fn breach_report(&self, reference: &str) -> Result<AuthorityReport, ServiceError> {
        let mut draft = self.draft("breach-report", &[]);
        let b = self.breach(reference)?;
        let (policy, _) = self.policy()?;
        let report = AuthorityReport::of(&b, &policy, model::now());
        draft.request = Some(b.reference.clone());
        draft.detail = Some(format!("{}: report for the authority ({} record(s))", b.reference, b.figures.records));
        if self.read_only().is_none() {
            self.store.audit(draft)?;
        }
        Ok(report)
    }

    /// Writes the report for the authority to a new file (Markdown, no
    /// personal data); audited like [`Service::breach_report`].
    pub fn write_breach_report(&self, reference: &str, out: &Path) -> Result<PathBuf, ServiceError> {
        let report = self.breach_report(reference)?;
        let path = std::path::absolute(expand_home(out)).unwrap_or_else(|_| out.to_owned());
        let io = |e: std::io::Error| ServiceError::Invalid(format!("could not write {}: {e}", path.display()));
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(io)?;
        std::io::Write::write_all(&mut f, report.markdown().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(path)
    }

    /// Writes the notification list of an incident as CSV, encrypted to
    /// `target`: one row per person (records sharing an email address are
    /// one), how to reach them, the jurisdiction and which of their data was
    /// involved (admin; audited with the count, and noted on the timeline).
    pub fn breach_notification_list(
        &self,
        reference: &str,
        target: &Target,
        armor: bool,
        out: &Path,
    ) -> Result<ListReport, ServiceError> {
        let _hold = self.store.hold()?;
        let mut draft = self.draft("breach-list", &[]);
        self.require(Role::Admin, "write a breach notification list", &[])?;
        let mut b = self.stored_breach(reference)?;
        draft.request = Some(b.reference.clone());
        let recipients = target.recipients().map_err(|e| self.refuse(draft.clone(), e.to_string()))?;
        if !b.is_open() {
            return Err(self.refuse(draft, format!("{} is closed", b.reference)));
        }
        // One row per person, kept small (a million affected records fit):
        // the contact of the most complete record, the ids, the data involved.
        struct Row {
            ids: BTreeSet<RecordId>,
            contact: [String; 9],
            score: (u8, DateTime<Utc>),
            involved: BTreeSet<u16>,
        }
        let mut names: Vec<String> = Vec::new();
        let mut name_of: BTreeMap<String, u16> = BTreeMap::new();
        let mut rows: BTreeMap<String, Row> = BTreeMap::new();
        let (mut erased, mut unreachable, mut merged, mut listed_records) = (0, 0, 0, 0);
        for a in &b.affected {
            // A record merged since speaks through its survivor.
            let mut id = a.id;
            let mut found = self.store.get(id)?;
            for _ in 0..16 {
                if found.is_some() {
                    break;
                }
                match self.store.redirect(id)? {
                    Some(r) => {
                        id = r.into;
                        found = self.store.get(id)?;
                    }
                    None => break,
                }
            }
            let Some(r) = found else {
                erased += 1;
                continue;
            };
            if id != a.id {
                merged += 1;
            }
            if r.email.is_none() && r.phone.is_none() && r.address.line1.is_none() {
                unreachable += 1;
                continue;
            }
            listed_records += 1;
            let v = |o: &Option<String>| o.clone().unwrap_or_default();
            let score = (u8::from(r.phone.is_some()) + u8::from(r.address.line1.is_some()), r.times.updated);
            let ad = &r.address;
            let contact = [
                v(&r.given_name),
                v(&r.family_name),
                v(&r.email),
                v(&r.phone),
                v(&ad.line1),
                v(&ad.line2),
                v(&ad.locality),
                v(&ad.postcode),
                v(&ad.country),
            ];
            let row = rows.entry(person_key(&r)).or_insert_with(|| Row {
                ids: BTreeSet::new(),
                contact: Default::default(),
                score: (0, DateTime::<Utc>::MIN_UTC),
                involved: BTreeSet::new(),
            });
            row.ids.insert(r.id);
            if score >= row.score {
                row.score = score;
                row.contact = contact;
            }
            for f in a.fields.iter() {
                let n = *name_of.entry(f.clone()).or_insert_with(|| {
                    names.push(f.clone());
                    u16::try_from(names.len() - 1).unwrap_or(u16::MAX)
                });
                row.involved.insert(n);
            }
        }
        if rows.is_empty() {
            return Err(self.refuse(
                draft,
                format!(
                    "nobody to list: of {} affected record(s), {erased} were erased since and {unreachable} cannot be \
                     reached",
                    b.affected.len()
                ),
            ));
        }
        let now = model::now();
        let what = format!(
            "notification list written: {} people ({listed_records} record(s), {merged} through a merge); {erased} \
             erased since, {unreachable} unreachable; {}",
            rows.len(),
            target.describe()
        );
        draft.detail = Some(format!("{}: {what}", b.reference));
        b.timeline.push(Step { time: now, by: self.session.user.clone(), what: what.clone() });
        let out = &expand_home(out);
        let mut entry = None;
        let header = [
            "breach",
            "records",
            "given_name",
            "family_name",
            "email",
            "phone",
            "address_1",
            "address_2",
            "locality",
            "postcode",
            "country",
            "jurisdiction",
            "data_involved",
        ];
        let written = write_encrypted_csv(
            out,
            recipients,
            armor,
            &header,
            |emit| {
                for row in rows.values() {
                    let ids: Vec<String> = row.ids.iter().map(RecordId::to_string).collect();
                    let involved: Vec<&str> =
                        row.involved.iter().filter_map(|n| names.get(usize::from(*n))).map(String::as_str).collect();
                    let [given, family, email, phone, line1, line2, locality, postcode, country] = &row.contact;
                    let country_opt = Some(country.as_str()).filter(|c| !c.is_empty());
                    let row = [
                        b.reference.clone(),
                        ids.join(" "),
                        given.clone(),
                        family.clone(),
                        email.clone(),
                        phone.clone(),
                        line1.clone(),
                        line2.clone(),
                        locality.clone(),
                        postcode.clone(),
                        country.clone(),
                        Regime::of(country_opt).name().to_owned(),
                        involved.join("; "),
                    ];
                    emit(&row)?;
                }
                Ok(())
            },
            || {
                entry = Some(self.save_breach(&b, draft.clone())?);
                Ok(())
            },
        );
        let bytes =
            written.map_err(|e| self.failed_write(&draft, &format!("{}: the notification list", b.reference), e))?;
        let entry = entry.ok_or_else(|| ServiceError::Invalid("the list was not audited".into()))?;
        Ok(ListReport {
            file: out.to_owned(),
            people: rows.len(),
            records: listed_records,
            erased,
            merged,
            unreachable,
            bytes,
            audit_entry: entry.seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(source: &str, country: &str, email: Option<&str>, extra: &[(&str, &str)]) -> Record {
        let mut r = Record::new(source, "1", model::now());
        r.given_name = Some("Ann".into());
        r.email = email.map(Into::into);
        r.address.country = Some(country.into());
        for (k, v) in extra {
            r.extra.insert((*k).into(), (*v).into());
        }
        r
    }

    #[test]
    fn a_scope_counts_categories_jurisdictions_and_people() {
        let policy = Policy::from_toml(crate::service::demo::DEMO_POLICY).expect("policy");
        let records = vec![
            rec("webshop", "GB", Some("a@example.org"), &[("national_id", "QQ123456C")]),
            rec("webshop", "GB", Some("A@example.org"), &[]),
            rec("webshop", "US", None, &[("notes", "paid by card 4111 1111 1111 1111")]),
            rec("crm", "DE", Some("b@example.org"), &[]),
        ];
        let scope = Scope { sources: vec!["webshop".into()], ..Scope::default() };
        let (affected, f) = assess(&records, &scope, &policy);
        assert_eq!((affected.len(), f.records, f.people), (3, 3, 2));
        assert_eq!(f.by_jurisdiction.get("UK GDPR"), Some(&2));
        assert_eq!(f.by_jurisdiction.get("US state breach laws"), Some(&1));
        assert_eq!(f.under_72h_clock, 3, "a UK controller: the UK GDPR covers the US customer too");
        let mut abroad = policy.clone();
        abroad.controller = None;
        assert_eq!(assess(&records, &scope, &abroad).1.under_72h_clock, 2, "by the customers' countries");
        assert_eq!(f.by_category.get("user.name.first"), Some(&3));
        assert_eq!(f.by_category.get("user.government_id"), Some(&1));
        assert_eq!(f.by_category.get("user.financial.credit_card"), Some(&1));
        assert_eq!(f.high_risk_categories, vec!["user.financial.credit_card", "user.government_id"]);
        assert!(affected[2].fields.iter().any(|f| f == "notes (card number)"), "{:?}", affected[2].fields);

        // A breach of one category: only the records holding it, only that data.
        let scope = Scope { categories: vec!["user.government_id".into()], ..Scope::default() };
        let (affected, f) = assess(&records, &scope, &policy);
        assert_eq!(affected.len(), 1);
        assert_eq!(&affected[0].fields[..], ["national_id"]);
        assert_eq!(f.by_category.len(), 1);
    }

    #[test]
    fn countries_are_counted_as_codes_and_admin_text_keeps_no_card_numbers() {
        assert_eq!(country_label(Some("gb")), "GB");
        assert_eq!(country_label(Some("ivy@jay.example")), "other", "a raw value never reaches the counts");
        assert_eq!(country_label(Some("United Kingdom")), "other");
        assert_eq!(country_label(None), "none");
        assert_eq!(personal_in("called Ann about card 4111 1111 1111 1111"), Some("card number"));
        assert_eq!(personal_in("the ICO was told through its portal"), None);
    }

    #[test]
    fn references_count_up_within_a_year() {
        assert_eq!(reference_of(2026, &[]), "BR-2026-0001");
    }
}
