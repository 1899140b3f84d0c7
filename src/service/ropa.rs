//! The record of processing activities (GDPR Art. 30) and the privacy
//! notice, both drawn from the policy and from what the store actually
//! holds — and the contradictions between the two.
//!
//! The policy declares purposes, legal bases, recipients, transfers and
//! retention; the records show what is really kept. Where they differ — a
//! field held for no declared purpose, data kept past its retention,
//! personal data hiding in free text under no declared category, a purpose
//! without a legal basis, a transfer without a safeguard, no controller —
//! the record and the notice say so first: a notice must not promise what
//! the data contradicts. The remedies (drop a field, housekeeping, redact)
//! make the contradictions go; so does a policy that declares the practice.
//! Counts only: no customer's value is in either document.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;
use crate::findings::{self, pii};
use crate::policy::jurisdiction::inside_eea_or_uk;
use crate::policy::{Controller, LegalBasis, Policy, RecipientRole};

/// A category of data a purpose uses, with the fields under it and how many
/// records hold at least one of them.
#[derive(Clone, Debug, Serialize)]
pub struct CategoryHeld {
    pub category: String,
    pub fields: Vec<String>,
    pub records: usize,
}

/// A recipient as the record names it.
#[derive(Clone, Debug, Serialize)]
pub struct RecipientEntry {
    pub key: String,
    pub name: String,
    pub role: RecipientRole,
    pub country: String,
    pub purposes: Vec<String>,
    /// Outside the EU/EEA and the UK: a transfer.
    pub transfer: bool,
    pub safeguard: Option<String>,
}

/// One purpose of processing.
#[derive(Clone, Debug, Serialize)]
pub struct PurposeEntry {
    pub name: String,
    pub description: String,
    pub legal_basis: Option<LegalBasis>,
    pub subjects: Vec<String>,
    pub categories: Vec<CategoryHeld>,
    pub retention_days: Option<u32>,
    /// Records holding data for this purpose.
    pub records: usize,
    /// For a consent-based purpose: records whose consent is given (and
    /// that are not restricted).
    pub with_consent: Option<usize>,
    pub recipients: Vec<String>,
}

/// One field as held.
#[derive(Clone, Debug, Serialize)]
pub struct FieldHeld {
    pub field: String,
    pub category: String,
    pub declared: bool,
    pub records: usize,
}

/// Where practice and declaration differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contradiction {
    /// `undeclared_field`, `past_retention`, `field_past_retention`,
    /// `undeclared_in_free_text`, `no_legal_basis`, `transfer_without_safeguard`,
    /// `no_controller`.
    pub kind: &'static str,
    /// The field, purpose or recipient it is about.
    pub subject: String,
    /// Records concerned (0 for a policy gap).
    pub records: usize,
    /// What the documents would otherwise wrongly say, and what ends it.
    pub says: String,
}

/// The record of processing.
#[derive(Clone, Debug, Serialize)]
pub struct Ropa {
    pub generated_at: DateTime<Utc>,
    pub controller: Option<Controller>,
    pub records: usize,
    pub purposes: Vec<PurposeEntry>,
    pub recipients: Vec<RecipientEntry>,
    pub fields: Vec<FieldHeld>,
    /// Records whose processing is restricted (kept, not used).
    pub restricted: usize,
    pub contradictions: Vec<Contradiction>,
}

/// What the records hold, counted in one pass.
#[derive(Default)]
struct Tally {
    records: usize,
    restricted: usize,
    fields: BTreeMap<String, usize>,
    expired: usize,
    past: BTreeMap<String, usize>,
    in_free_text: BTreeMap<(String, pii::Category), usize>,
    purpose_records: BTreeMap<String, usize>,
    purpose_categories: BTreeMap<(String, String), usize>,
    consent_given: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, r: &Record, policy: &Policy, now: DateTime<Utc>) {
        self.records += 1;
        let restricted = r.care.restricted.is_some();
        self.restricted += usize::from(restricted);
        let fields = findings::present(r);
        let ret = findings::retention(r, &fields, policy, now);
        self.expired += usize::from(ret.expired);
        for f in &ret.past {
            *self.past.entry(f.clone()).or_default() += 1;
        }
        let mut purposes = BTreeSet::new();
        let mut cats = BTreeSet::new();
        for (name, value) in &fields {
            *self.fields.entry(name.clone()).or_default() += 1;
            for (p, _) in policy.purposes_of(name) {
                purposes.insert(p);
                cats.insert((p.to_owned(), policy.category_of(name)));
            }
            if findings::is_free_text(policy, name) {
                let found: BTreeSet<pii::Category> =
                    pii::scan(value, r.address.country.as_deref()).into_iter().map(|m| m.category).collect();
                for c in found {
                    *self.in_free_text.entry((name.clone(), c)).or_default() += 1;
                }
            }
        }
        for p in purposes {
            *self.purpose_records.entry(p.to_owned()).or_default() += 1;
        }
        for c in cats {
            *self.purpose_categories.entry(c).or_default() += 1;
        }
        for (name, p) in &policy.purposes {
            if let Some(cf) = &p.consent_field
                && p.needs_consent()
                && !restricted
                && findings::consent(r, name, cf) == findings::Consent::Given
            {
                *self.consent_given.entry(name.clone()).or_default() += 1;
            }
        }
    }
}

/// Whether a category is declared for some field of the policy (or sits
/// under one that is).
fn declared_category(policy: &Policy, category: &str) -> bool {
    policy.fields.values().any(|f| crate::model::breach::under(category, &f.category))
}

impl Ropa {
    /// The record of processing of `records` under `policy`.
    pub fn build<'a>(records: impl IntoIterator<Item = &'a Record>, policy: &Policy, now: DateTime<Utc>) -> Ropa {
        let mut t = Tally::default();
        for r in records {
            t.add(r, policy, now);
        }
        Ropa::from_tally(t, policy, now)
    }

    fn from_tally(t: Tally, policy: &Policy, now: DateTime<Utc>) -> Ropa {
        let recipients: Vec<RecipientEntry> = policy
            .recipients
            .iter()
            .map(|(key, r)| RecipientEntry {
                key: key.clone(),
                name: r.name.clone(),
                role: r.role,
                country: r.country.to_ascii_uppercase(),
                purposes: r.purposes.clone(),
                transfer: !inside_eea_or_uk(&r.country),
                safeguard: r.safeguard.clone(),
            })
            .collect();
        let purposes = policy
            .purposes
            .iter()
            .map(|(name, p)| {
                let mut by_cat: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (field, fp) in &policy.fields {
                    if fp.purposes.iter().any(|q| q == name) {
                        by_cat.entry(fp.category.clone()).or_default().push(field.clone());
                    }
                }
                PurposeEntry {
                    name: name.clone(),
                    description: p.description.clone(),
                    legal_basis: p.legal_basis,
                    subjects: if p.subjects.is_empty() { vec!["customers".into()] } else { p.subjects.clone() },
                    categories: by_cat
                        .into_iter()
                        .map(|(category, fields)| CategoryHeld {
                            records: t.purpose_categories.get(&(name.clone(), category.clone())).copied().unwrap_or(0),
                            category,
                            fields,
                        })
                        .collect(),
                    retention_days: p.retention_days,
                    records: t.purpose_records.get(name).copied().unwrap_or(0),
                    with_consent: p.needs_consent().then(|| t.consent_given.get(name).copied().unwrap_or(0)),
                    recipients: recipients
                        .iter()
                        .filter(|r| r.purposes.iter().any(|q| q == name))
                        .map(|r| r.name.clone())
                        .collect(),
                }
            })
            .collect();
        let fields = t
            .fields
            .iter()
            .map(|(name, n)| FieldHeld {
                field: name.clone(),
                category: policy.category_of(name),
                declared: policy.purposes_of(name).next().is_some(),
                records: *n,
            })
            .collect();
        let mut c = Vec::new();
        if policy.controller.is_none() {
            c.push(Contradiction {
                kind: "no_controller",
                subject: "controller".into(),
                records: 0,
                says: "the policy names no controller or contact: the notice cannot say who is responsible or how \
                       to use the rights (add [controller] to the policy)"
                    .into(),
            });
        }
        for (name, p) in &policy.purposes {
            if p.legal_basis.is_none() {
                c.push(Contradiction {
                    kind: "no_legal_basis",
                    subject: name.clone(),
                    records: t.purpose_records.get(name).copied().unwrap_or(0),
                    says: format!(
                        "purpose `{name}` has no legal basis: no processing is lawful without one (declare it, or \
                         stop the processing and drop its fields)"
                    ),
                });
            }
        }
        for r in &recipients {
            if r.transfer && r.safeguard.as_deref().is_none_or(|s| s.trim().is_empty()) {
                c.push(Contradiction {
                    kind: "transfer_without_safeguard",
                    subject: r.key.clone(),
                    records: 0,
                    says: format!(
                        "data goes to {} in {} (outside the EU/EEA and the UK) with no safeguard declared (an \
                         adequacy decision, standard contractual clauses ...)",
                        r.name, r.country
                    ),
                });
            }
        }
        for (name, n) in &t.fields {
            if policy.purposes_of(name).next().is_none() {
                c.push(Contradiction {
                    kind: "undeclared_field",
                    subject: name.clone(),
                    records: *n,
                    says: format!(
                        "`{name}` ({}) is held in {n} record(s) but serves no declared purpose: the notice does not \
                         mention it (drop it: `steward drop-field {name}`, or declare why it is held)",
                        policy.category_of(name)
                    ),
                });
            }
        }
        if t.expired > 0 {
            c.push(Contradiction {
                kind: "past_retention",
                subject: "records".into(),
                records: t.expired,
                says: format!(
                    "{} record(s) are kept past the retention of every purpose they served: the notice promises \
                     deletion after that time (`steward housekeeping`)",
                    t.expired
                ),
            });
        }
        for (name, n) in &t.past {
            let purposes: Vec<&str> = policy.purposes_of(name).map(|(p, _)| p).collect();
            c.push(Contradiction {
                kind: "field_past_retention",
                subject: name.clone(),
                records: *n,
                says: format!(
                    "`{name}` is kept in {n} record(s) past the retention of {} (`steward drop-field {name} \
                     --past-retention`)",
                    purposes.join(", ")
                ),
            });
        }
        for ((field, cat), n) in &t.in_free_text {
            let category = cat.category();
            if declared_category(policy, category) && !matches!(cat, pii::Category::CreditCard) {
                continue; // an email in the notes is a declared kind of data (still a finding)
            }
            c.push(Contradiction {
                kind: "undeclared_in_free_text",
                subject: format!("{field}: {}", cat.label()),
                records: *n,
                says: format!(
                    "`{field}` holds {} {} in {n} record(s) ({category}), which the notice does not declare{} \
                     (`steward redact --all`)",
                    article(cat.label()),
                    cat.label(),
                    if matches!(cat, pii::Category::CreditCard) {
                        "; raw card numbers are never acceptable"
                    } else {
                        ""
                    }
                ),
            });
        }
        Ropa {
            generated_at: now,
            controller: policy.controller.clone(),
            records: t.records,
            purposes,
            recipients,
            fields,
            restricted: t.restricted,
            contradictions: c,
        }
    }

    /// As Markdown (`steward ropa --markdown`), or the same as plain text.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Record of processing activities (GDPR Art. 30)\n");
        let _ = writeln!(
            s,
            "Generated {} from the policy and the {} record(s) held.\n",
            day(self.generated_at),
            self.records
        );
        contradictions_md(&mut s, &self.contradictions, "record");
        let _ = writeln!(s, "## Controller\n");
        controller_md(&mut s, self.controller.as_ref());
        for p in &self.purposes {
            let _ = writeln!(s, "\n## Purpose: {}\n", p.name);
            if !p.description.is_empty() {
                let _ = writeln!(s, "{}\n", p.description);
            }
            let _ = writeln!(
                s,
                "- legal basis: {}",
                p.legal_basis.map_or("NONE DECLARED".to_owned(), |b| b.describe().to_owned())
            );
            let _ = writeln!(s, "- people: {}", p.subjects.join(", "));
            let _ = writeln!(s, "- retention: {}", retention_words(p.retention_days));
            let _ = writeln!(s, "- records holding data for it: {}", p.records);
            if let Some(n) = p.with_consent {
                let _ = writeln!(s, "- records with consent given: {n}");
            }
            let _ = writeln!(
                s,
                "- recipients: {}",
                if p.recipients.is_empty() { "none declared".to_owned() } else { p.recipients.join(", ") }
            );
            let _ = writeln!(s, "\n| category | fields | records |\n|---|---|---:|");
            for c in &p.categories {
                let _ = writeln!(s, "| {} | {} | {} |", c.category, c.fields.join(", "), c.records);
            }
        }
        let _ = writeln!(s, "\n## Recipients and transfers\n");
        if self.recipients.is_empty() {
            let _ = writeln!(s, "None declared (add [recipients.NAME] to the policy).");
        } else {
            let _ =
                writeln!(s, "| recipient | role | country | purposes | transfer safeguard |\n|---|---|---|---|---|");
            for r in &self.recipients {
                let safeguard = if r.transfer {
                    r.safeguard.clone().unwrap_or_else(|| "NONE DECLARED".into())
                } else {
                    "not a transfer (EU/EEA/UK)".into()
                };
                let role = match r.role {
                    RecipientRole::Processor => "processor",
                    RecipientRole::Controller => "controller",
                };
                let _ =
                    writeln!(s, "| {} | {role} | {} | {} | {safeguard} |", r.name, r.country, r.purposes.join(", "));
            }
        }
        let _ = writeln!(s, "\n## Fields held\n\n| field | category | declared | records |\n|---|---|---|---:|");
        for f in &self.fields {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                f.field,
                f.category,
                if f.declared { "yes" } else { "NO" },
                f.records
            );
        }
        let _ = writeln!(s, "\nRecords whose processing is restricted (kept, not used): {}.", self.restricted);
        let _ = writeln!(
            s,
            "\nSecurity measures: records sealed with XChaCha20-Poly1305 under per-record keys; keys wrapped per \
             user; erasure by crypto-shredding and key rotation; a hash-chained audit trail of every change."
        );
        crate::model::text::inert_lines(&s)
    }

    /// The privacy-notice sections a website needs, from the same facts.
    pub fn notice(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Privacy notice (draft)\n");
        let _ = writeln!(s, "Drafted by steward on {} from the policy and the data held.\n", day(self.generated_at));
        contradictions_md(&mut s, &self.contradictions, "notice");
        let _ = writeln!(s, "## Who we are\n");
        controller_md(&mut s, self.controller.as_ref());
        let _ = writeln!(s, "\n## What we collect, why, on what basis and for how long\n");
        for p in &self.purposes {
            let cats: Vec<String> =
                p.categories.iter().map(|c| plain_category(&c.category)).collect::<BTreeSet<_>>().into_iter().collect();
            let _ = writeln!(
                s,
                "- **{}** ({}): we use {}. Legal basis: {}. We keep it {}.",
                if p.description.is_empty() { p.name.clone() } else { p.description.clone() },
                p.name,
                if cats.is_empty() { "no data".into() } else { cats.join(", ") },
                p.legal_basis.map_or("NONE DECLARED".to_owned(), |b| b.describe().to_owned()),
                retention_words(p.retention_days)
            );
            if p.legal_basis == Some(LegalBasis::Consent) {
                let _ =
                    writeln!(s, "  Only with your consent; you can withdraw it at any time, as easily as you gave it.");
            }
        }
        let _ = writeln!(s, "\n## Who we share it with\n");
        if self.recipients.is_empty() {
            let _ = writeln!(s, "Nobody outside our company.");
        }
        for r in &self.recipients {
            let _ = writeln!(
                s,
                "- {} ({}), for {}{}",
                r.name,
                match r.role {
                    RecipientRole::Processor => "processes it on our behalf",
                    RecipientRole::Controller => "decides for itself how it uses it",
                },
                r.purposes.join(", "),
                if r.transfer {
                    format!(
                        "; in {}, outside the EU/EEA and the UK, protected by {}",
                        r.country,
                        r.safeguard.as_deref().unwrap_or("NO SAFEGUARD DECLARED")
                    )
                } else {
                    format!("; in {}", r.country)
                }
            );
        }
        let _ = writeln!(s, "\n## Your rights and how to use them\n");
        let contact = self.controller.as_ref().map_or("us (contact: NOT DECLARED)".to_owned(), |c| c.contact.clone());
        for (right, what) in [
            ("access", "a copy of the data we hold about you, in a machine-readable form"),
            ("rectification", "correct data that is wrong or incomplete"),
            ("erasure", "have your data deleted when we no longer need it or you withdraw consent"),
            ("restriction", "have us keep your data but not use it while a question is settled"),
            (
                "objection",
                "object to processing based on our legitimate interests, and to direct marketing at any time",
            ),
            ("portability", "receive the data you gave us, or have it sent to another company"),
        ] {
            let _ = writeln!(s, "- **{right}**: {what}");
        }
        let _ = writeln!(
            s,
            "\nWrite to {contact}. We answer within one month (GDPR; up to two more months for complex requests, \
             and we tell you why) or 45 days (California; up to 45 more). We may ask you to confirm who you are. \
             You can complain to a data protection authority{}.",
            self.controller
                .as_ref()
                .and_then(|c| c.authority.as_deref())
                .map(|a| format!(" (ours: {a})"))
                .unwrap_or_default()
        );
        let _ = writeln!(s, "\n## How we protect it\n");
        let _ = writeln!(
            s,
            "Customer data is encrypted at rest, shown only to staff who need it, every use is recorded, and \
             erased data is made unrecoverable. If a breach puts you at high risk, we tell you without undue delay."
        );
        crate::model::text::inert_lines(&s)
    }
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn retention_words(days: Option<u32>) -> String {
    match days {
        Some(d) if d % 365 == 0 => format!("{} year(s) after your last activity", d / 365),
        Some(d) => format!("{d} days after your last activity"),
        None => "for as long as you are our customer".into(),
    }
}

/// A category in words a customer reads (`user.contact.email` → "email address").
fn plain_category(c: &str) -> String {
    use crate::model::breach::under;
    let named = [
        ("user.name.first", "first name"),
        ("user.name.last", "last name"),
        ("user.name", "name"),
        ("user.contact.email", "email address"),
        ("user.contact.phone_number", "phone number"),
        ("user.contact.address.country", "country"),
        ("user.contact.address", "postal address"),
        ("user.demographic.date_of_birth", "date of birth"),
        ("user.consent", "your consent choices"),
        ("user.content.free_text", "notes of our conversations with you"),
        ("user.financial", "payment details"),
        ("user.government_id", "government identification numbers"),
    ];
    if let Some((_, words)) = named.iter().find(|(k, _)| under(c, k)) {
        return (*words).to_owned();
    }
    c.rsplit('.').next().unwrap_or(c).replace('_', " ")
}

/// "a" or "an" before `word`.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) { "an" } else { "a" }
}

fn controller_md(s: &mut String, c: Option<&Controller>) {
    match c {
        Some(c) => {
            let _ = writeln!(s, "{}. Contact for privacy questions: {}.", c.name, c.contact);
            if let Some(a) = &c.address {
                let _ = writeln!(s, "Address: {a}.");
            }
            if let Some(d) = &c.dpo {
                let _ = writeln!(s, "Data protection officer: {d}.");
            }
            if let Some(r) = &c.representative {
                let _ = writeln!(s, "Representative: {r}.");
            }
        }
        None => {
            let _ = writeln!(s, "NOT DECLARED: add [controller] (name, contact) to the policy.");
        }
    }
}

fn contradictions_md(s: &mut String, list: &[Contradiction], doc: &str) {
    if list.is_empty() {
        let _ = writeln!(s, "No contradiction between the policy and the data held.\n");
        return;
    }
    let _ = writeln!(
        s,
        "## CONTRADICTIONS: practice and declaration differ ({})\n\nThe {doc} below must not be published as true \
         until these are resolved:\n",
        list.len()
    );
    for c in list {
        let _ = writeln!(s, "- **{}** {}: {}", c.kind, c.subject, c.says);
    }
    let _ = writeln!(s);
}

impl Service {
    /// The record of processing of this store (any role: counts only).
    pub fn ropa(&self, progress: &mut dyn FnMut(usize)) -> Result<Ropa, ServiceError> {
        let (policy, _) = self.policy()?;
        let now = crate::model::now();
        let mut t = Tally::default();
        let mut done = 0;
        self.store.each_chunk(4096, &mut |chunk| {
            for r in &chunk {
                t.add(r, &policy, now);
            }
            done += chunk.len();
            progress(done);
            true
        })?;
        Ok(Ropa::from_tally(t, &policy, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_gap_is_a_contradiction_and_categories_read_plainly() {
        let mut policy = Policy::from_toml(crate::service::demo::DEMO_POLICY).expect("policy");
        let ropa = Ropa::build(&[], &policy, crate::model::now());
        assert!(ropa.contradictions.is_empty(), "{:?}", ropa.contradictions);
        policy.controller = None;
        if let Some(p) = policy.purposes.get_mut("support") {
            p.legal_basis = None;
        }
        if let Some(r) = policy.recipients.values_mut().find(|r| r.safeguard.is_some()) {
            r.safeguard = None;
        }
        let kinds: Vec<&str> =
            Ropa::build(&[], &policy, crate::model::now()).contradictions.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, ["no_controller", "no_legal_basis", "transfer_without_safeguard"]);
        assert_eq!(plain_category("user.contact.address.postal_code"), "postal address");
        assert_eq!(plain_category("user.name.first"), "first name");
        assert_eq!(plain_category("user.preferences.newsletter_topics"), "newsletter topics");
        assert_eq!(article("IBAN"), "an");
    }
}
