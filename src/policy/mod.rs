//! The data inventory and purpose register: which field serves which
//! purpose, under which legal basis, for how long; and the global settings
//! of the checks (stale window, duplicate thresholds).
//!
//! A TOML file (`demo-data/policy.toml` is the example) is parsed and
//! validated here; the store keeps the imported version. A store without a
//! policy uses [`Policy::default`], documented in the README. Pure: no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod deadlines;
pub mod holidays;
pub mod jurisdiction;

use crate::model::Field;

/// Version of the policy file format this build reads.
pub const POLICY_FORMAT: u32 = 1;

/// Legal bases of GDPR Art. 6(1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterest,
}

/// Why data is held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    #[serde(default)]
    pub description: String,
    /// `None`: declared without one — the record of processing and the
    /// notice name it as a contradiction (no processing without a basis).
    #[serde(default)]
    pub legal_basis: Option<LegalBasis>,
    /// Days after the customer's last activity that data for this purpose
    /// may be kept; `None`: as long as the relationship lasts.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// For consent-based purposes: the field recording the consent.
    #[serde(default)]
    pub consent_field: Option<String>,
    /// Whom the data is about (`customers` when unset).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
}

impl Purpose {
    /// Whether the purpose rests on consent.
    pub fn needs_consent(&self) -> bool {
        self.legal_basis == Some(LegalBasis::Consent)
    }
}

impl LegalBasis {
    /// How GDPR Art. 6(1) names it.
    pub fn describe(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent (Art. 6(1)(a))",
            LegalBasis::Contract => "contract (Art. 6(1)(b))",
            LegalBasis::LegalObligation => "legal obligation (Art. 6(1)(c))",
            LegalBasis::VitalInterests => "vital interests (Art. 6(1)(d))",
            LegalBasis::PublicTask => "public task (Art. 6(1)(e))",
            LegalBasis::LegitimateInterest => "legitimate interests (Art. 6(1)(f))",
        }
    }
}

/// Who is responsible for the data (GDPR Art. 30(1)(a)): named in the
/// record of processing, the privacy notice and a breach report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    pub name: String,
    /// How customers and the authority reach the controller (an address for
    /// privacy questions).
    pub contact: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Where the controller is established (ISO code). In the EU/EEA or the
    /// UK, its law covers every customer wherever they live (GDPR Art.
    /// 3(1)): a breach's 72-hour clock runs for all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The data protection officer's contact, if one is appointed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpo: Option<String>,
    /// The EU or UK representative (Art. 27), for a controller outside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative: Option<String>,
    /// The lead supervisory authority (e.g. "ICO", "CNIL").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// What a recipient is to the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    /// Processes on the controller's behalf (Art. 28): hosting, mailing, couriers.
    Processor,
    /// Decides for itself (a payment provider, an authority on request).
    Controller,
}

/// Someone the data is disclosed to (GDPR Art. 30(1)(d)-(e)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// The company or body, as the notice names it.
    pub name: String,
    pub role: RecipientRole,
    /// The purposes for which it receives data.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Where it processes the data: an ISO country code (`GB`, `US`, ...).
    pub country: String,
    /// For a country outside the EU/EEA and the UK: the safeguard of the
    /// transfer (an adequacy decision, standard contractual clauses, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safeguard: Option<String>,
}

/// What the usage monitoring counts as unusual (see `service::usage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// Working hours, `HH:MM-HH:MM` in `utc_offset` (weekdays): an export
    /// outside them is an alert.
    pub working_hours: String,
    /// The offset of the working hours' clock from UTC, `+HH:MM` or `-HH:MM`.
    pub utc_offset: String,
    /// A user revealing more than this many times their usual daily number
    /// of records (and more than `reveal_floor`) in one day is an alert.
    pub reveal_factor: f64,
    pub reveal_floor: usize,
    /// This many failed unlocks within a day is an alert.
    pub failed_logins: usize,
    /// This many refused actions (a role trying what it may not) within a
    /// day is an alert.
    pub refusals: usize,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            working_hours: "07:00-20:00".into(),
            utc_offset: "+00:00".into(),
            reveal_factor: 5.0,
            reveal_floor: 50,
            failed_logins: 5,
            refusals: 5,
        }
    }
}

/// One field of the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldPolicy {
    /// fideslang-style category, e.g. `user.contact.email`.
    pub category: String,
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Free text that may hide personal data (scanned by the pii check).
    #[serde(default)]
    pub free_text: bool,
}

/// Duplicate-detection settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DuplicateSettings {
    /// Match probability above which two records are reported as the same person.
    pub match_probability: f64,
    /// Every pair inside a reported cluster must reach at least this
    /// probability (stops unrelated people being chained together: two
    /// records that clearly disagree, such as namesakes born years apart,
    /// stay apart however each links to a third).
    pub cluster_probability: f64,
}

impl Default for DuplicateSettings {
    fn default() -> Self {
        Self { match_probability: 0.98, cluster_probability: 0.05 }
    }
}

/// Global settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// A record not verified or updated for this long is stale.
    pub stale_after_days: u32,
    pub duplicates: DuplicateSettings,
    /// Days a customer asked to confirm their details (a re-verification
    /// list) has to answer before the record is due for housekeeping.
    pub reverify_grace_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { stale_after_days: 730, duplicates: DuplicateSettings::default(), reverify_grace_days: 30 }
    }
}

/// The whole policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: u32,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub purposes: BTreeMap<String, Purpose>,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldPolicy>,
    /// Legal holds: fields kept through an erasure because a law requires it.
    #[serde(default)]
    pub holds: BTreeMap<String, Hold>,
    /// The public holidays a jurisdiction's deadlines skip: jurisdiction
    /// (`gdpr`, `ccpa`) → calendar (`DE`, `IE`, `US-CA`, ...; see
    /// `policy::holidays`). Unset: `EU` (the days every member state keeps)
    /// for the GDPR, `US-CA` for the CCPA.
    #[serde(default)]
    pub holidays: BTreeMap<String, String>,
    /// Who is responsible (unset: the record of processing and the notice
    /// say it is missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<Controller>,
    /// Processors and other recipients, by a short name.
    #[serde(default)]
    pub recipients: BTreeMap<String, Recipient>,
    #[serde(default)]
    pub monitoring: Monitoring,
}

/// A legal hold: when a record has a value in one of `fields`, erasing it
/// keeps those fields (and only those), and the receipt says why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// Field names (core fields or extra columns).
    pub fields: Vec<String>,
    /// Why, in words the receipt can quote (e.g. "invoices are kept 6 years for tax law").
    pub reason: String,
}

/// A policy file that cannot be used; says where and why.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is not valid TOML: {0}")]
    Syntax(String),
    #[error("policy format {0} is newer than this steward reads ({POLICY_FORMAT})")]
    TooNew(u32),
    #[error("field `{field}` names purpose `{purpose}`, which is not declared under [purposes]")]
    UnknownPurpose { field: String, purpose: String },
    #[error("purpose `{0}` has legal basis consent but no consent_field")]
    ConsentWithoutField(String),
    #[error("settings.duplicates: probabilities must lie between 0 and 1, cluster_probability <= match_probability")]
    Thresholds,
    #[error("holidays.{0}: no calendar `{1}` (use a country code such as DE, IE, GB, or EU, US-CA)")]
    UnknownCalendar(String, String),
    #[error("holidays.{0}: not a jurisdiction steward knows (gdpr, ccpa; lower case)")]
    UnknownJurisdiction(String),
    #[error("recipients.{recipient} names purpose `{purpose}`, which is not declared under [purposes]")]
    RecipientPurpose { recipient: String, purpose: String },
    #[error("monitoring: {0}")]
    Monitoring(String),
}

impl Default for Policy {
    /// Used when no policy was imported: every core field serves one
    /// purpose, `customer_relationship` (contract, no retention limit);
    /// no extra column is declared, so every one of them is reported as
    /// over-collected until a policy says why it is held.
    fn default() -> Self {
        let mut purposes = BTreeMap::new();
        purposes.insert(
            "customer_relationship".to_owned(),
            Purpose {
                description: "Default: serve the customer (no policy imported)".into(),
                legal_basis: Some(LegalBasis::Contract),
                retention_days: None,
                consent_field: None,
                subjects: Vec::new(),
            },
        );
        let fields = Field::ALL
            .iter()
            .map(|f| {
                (
                    f.name().to_owned(),
                    FieldPolicy {
                        category: default_category(*f).to_owned(),
                        purposes: vec!["customer_relationship".into()],
                        free_text: false,
                    },
                )
            })
            .chain(SECONDARY_CONTACTS.iter().map(|(name, category)| {
                (
                    (*name).to_owned(),
                    FieldPolicy {
                        category: (*category).to_owned(),
                        purposes: vec!["customer_relationship".into()],
                        free_text: false,
                    },
                )
            }))
            .collect();
        Policy {
            version: POLICY_FORMAT,
            settings: Settings::default(),
            purposes,
            fields,
            holds: BTreeMap::new(),
            holidays: BTreeMap::new(),
            controller: None,
            recipients: BTreeMap::new(),
            monitoring: Monitoring::default(),
        }
    }
}

/// The fields a merge writes (the other records' email and phone, kept as
/// secondary contacts) and their categories: steward's own, so the default
/// policy declares them — a merge must not create an over-collection.
pub const SECONDARY_CONTACTS: [(&str, &str); 2] =
    [("secondary_email", "user.contact.email"), ("secondary_phone", "user.contact.phone_number")];

/// The category an undeclared column's name suggests (fideslang-style;
/// `user.unknown` when the name says nothing).
pub fn guess_category(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase().replace(['-', ' '], "_");
    let tokens: Vec<&str> = n.split('_').filter(|t| !t.is_empty()).collect();
    // A phrase with `_` anywhere in the name; a word at the start of one of its parts
    // (`pin` is not `shipping`).
    let has = |words: &[&str]| {
        words.iter().any(|w| if w.contains('_') { n.contains(w) } else { tokens.iter().any(|t| t.starts_with(w)) })
    };
    if has(&["national_id", "ssn", "social_security", "passport", "nino", "tax_id", "driving", "licence", "license"]) {
        "user.government_id"
    } else if has(&["card", "iban", "bank", "account_number", "sort_code"]) {
        "user.financial"
    } else if has(&["password", "pin", "secret", "token"]) {
        "user.authorization.credentials"
    } else if has(&["health", "medical", "allerg", "disab"]) {
        "user.health_and_medical"
    } else if has(&["fax", "pager", "phone", "mobile", "tel"]) {
        "user.contact.phone_number"
    } else if has(&["mail"]) {
        "user.contact.email"
    } else if has(&["address", "street", "city", "postcode", "zip"]) {
        "user.contact.address"
    } else if has(&["birth", "dob", "age", "gender", "sex"]) {
        "user.demographic"
    } else if has(&["consent", "opt_in", "optin"]) {
        "user.consent"
    } else if has(&["note", "comment", "remark"]) {
        "user.content.free_text"
    } else {
        "user.unknown"
    }
}

/// Whether data in `category` puts people at high risk when it leaks
/// (identity theft, fraud, discrimination): what GDPR Art. 34 asks about.
pub fn high_risk_category(category: &str) -> bool {
    ["user.government_id", "user.financial", "user.authorization", "user.health", "user.biometric", "user.genetic"]
        .iter()
        .any(|c| category == *c || category.starts_with(&format!("{c}.")) || category.starts_with(&format!("{c}_")))
}

impl Monitoring {
    /// Working hours as (start, end) minutes after midnight UTC-offset
    /// local time, and the offset in minutes.
    pub fn hours(&self) -> Result<((u32, u32), i32), String> {
        let hm = |s: &str| -> Option<u32> {
            let (h, m) = s.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
        };
        let bad_hours = || format!("working_hours `{}`: use HH:MM-HH:MM, e.g. 07:00-20:00", self.working_hours);
        let (a, b) = self.working_hours.split_once('-').ok_or_else(bad_hours)?;
        let (start, end) = (hm(a).ok_or_else(bad_hours)?, hm(b).ok_or_else(bad_hours)?);
        if start >= end {
            return Err(bad_hours());
        }
        let o = self.utc_offset.trim();
        let bad_offset = || format!("utc_offset `{o}`: use +HH:MM or -HH:MM, e.g. +01:00");
        let (sign, rest) = match o.split_at_checked(1) {
            Some(("+", r)) => (1, r),
            Some(("-", r)) => (-1, r),
            _ => return Err(bad_offset()),
        };
        let minutes = hm(rest).filter(|m| *m <= 14 * 60).ok_or_else(bad_offset)?;
        Ok(((start, end), sign * i32::try_from(minutes).unwrap_or(0)))
    }
}

/// The usual category of a core field.
pub fn default_category(f: Field) -> &'static str {
    match f {
        Field::GivenName => "user.name.first",
        Field::FamilyName => "user.name.last",
        Field::Email => "user.contact.email",
        Field::Phone => "user.contact.phone_number",
        Field::StreetNumber | Field::Address1 | Field::Address2 => "user.contact.address.street",
        Field::Locality => "user.contact.address.city",
        Field::Region => "user.contact.address.state",
        Field::Postcode => "user.contact.address.postal_code",
        Field::Country => "user.contact.address.country",
        Field::DateOfBirth => "user.demographic.date_of_birth",
    }
}

impl Policy {
    /// Parses and validates a policy file.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        #[derive(Deserialize)]
        struct Probe {
            version: u32,
        }
        let probe: Probe = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.message().to_owned()))?;
        if probe.version > POLICY_FORMAT {
            return Err(PolicyError::TooNew(probe.version));
        }
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.message().to_owned()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        for (name, f) in &self.fields {
            for purpose in &f.purposes {
                if !self.purposes.contains_key(purpose) {
                    return Err(PolicyError::UnknownPurpose { field: name.clone(), purpose: purpose.clone() });
                }
            }
        }
        for (name, p) in &self.purposes {
            if p.needs_consent() && p.consent_field.is_none() {
                return Err(PolicyError::ConsentWithoutField(name.clone()));
            }
        }
        for (jurisdiction, calendar) in &self.holidays {
            if !matches!(jurisdiction.as_str(), "gdpr" | "ccpa" | "cpra") {
                return Err(PolicyError::UnknownJurisdiction(jurisdiction.clone()));
            }
            if holidays::dates(calendar).is_none() {
                return Err(PolicyError::UnknownCalendar(jurisdiction.clone(), calendar.clone()));
            }
        }
        for (name, r) in &self.recipients {
            for purpose in &r.purposes {
                if !self.purposes.contains_key(purpose) {
                    return Err(PolicyError::RecipientPurpose { recipient: name.clone(), purpose: purpose.clone() });
                }
            }
        }
        self.monitoring.hours().map_err(PolicyError::Monitoring)?;
        let m = &self.monitoring;
        if !(m.reveal_factor.is_finite() && m.reveal_factor >= 1.0) {
            return Err(PolicyError::Monitoring("reveal_factor must be a number of at least 1".into()));
        }
        let d = &self.settings.duplicates;
        let ok = |x: f64| (0.0..=1.0).contains(&x);
        if !ok(d.match_probability) || !ok(d.cluster_probability) || d.cluster_probability > d.match_probability {
            return Err(PolicyError::Thresholds);
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The purposes `field` serves, the category it is declared under, or
    /// the category its name suggests for an undeclared column (a national
    /// id, a fax number): what a breach report and the record of processing
    /// call it.
    pub fn category_of(&self, field: &str) -> String {
        match self.fields.get(field) {
            Some(f) => f.category.clone(),
            None => guess_category(field).to_owned(),
        }
    }

    /// The inventory entry of a field (core field name or extra column).
    pub fn field(&self, name: &str) -> Option<&FieldPolicy> {
        self.fields.get(name)
    }

    /// The hold (name, hold) that keeps field `name`, if any.
    pub fn hold_of(&self, name: &str) -> Option<(&str, &Hold)> {
        self.holds.iter().find(|(_, h)| h.fields.iter().any(|f| f == name)).map(|(k, h)| (k.as_str(), h))
    }

    /// The purposes a field serves (empty: none declared).
    pub fn purposes_of(&self, name: &str) -> impl Iterator<Item = (&str, &Purpose)> {
        self.fields
            .get(name)
            .into_iter()
            .flat_map(|f| f.purposes.iter())
            .filter_map(|p| self.purposes.get_key_value(p.as_str()).map(|(k, v)| (k.as_str(), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_policy_parses() {
        let p = Policy::from_toml(include_str!("../../demo-data/policy.toml")).expect("demo policy");
        assert_eq!(p.settings.stale_after_days, 730);
        assert!(p.field("fax").is_none());
        assert_eq!(p.purposes_of("email").count(), 3);
        assert!(p.field("notes").is_some_and(|f| f.free_text));
    }

    #[test]
    fn bad_policies_say_why() {
        let e = Policy::from_toml(
            "version = 1\n[fields.email]\ncategory = \"user.contact.email\"\npurposes = [\"spam\"]\n",
        );
        assert!(matches!(e, Err(PolicyError::UnknownPurpose { .. })));
        let e = Policy::from_toml("version = 9\n");
        assert!(matches!(e, Err(PolicyError::TooNew(9))));
        let e = Policy::from_toml("version = 1\n[purposes.m]\nlegal_basis = \"consent\"\n");
        assert!(matches!(e, Err(PolicyError::ConsentWithoutField(_))));
        let e = Policy::from_toml("version = 1\n[settings]\nstale_after_dayz = 3\n");
        assert!(matches!(e, Err(PolicyError::Syntax(_))));
    }

    #[test]
    fn default_declares_core_fields_and_the_merges_secondary_contacts_only() {
        let p = Policy::default();
        assert!(p.validate().is_ok());
        assert!(p.field("email").is_some());
        assert!(p.field("fax").is_none());
        // Issue 14: a merge keeps the other records' contacts as these.
        let demo = Policy::from_toml(include_str!("../../demo-data/policy.toml")).expect("demo policy");
        for name in ["secondary_email", "secondary_phone"] {
            assert!(p.field(name).is_some(), "the default policy declares {name}");
            assert!(demo.field(name).is_some(), "the bundled policy declares {name}");
        }
    }
}
