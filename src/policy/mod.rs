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
    pub legal_basis: LegalBasis,
    /// Days after the customer's last activity that data for this purpose
    /// may be kept; `None`: as long as the relationship lasts.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// For consent-based purposes: the field recording the consent.
    #[serde(default)]
    pub consent_field: Option<String>,
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
                legal_basis: LegalBasis::Contract,
                retention_days: None,
                consent_field: None,
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
        }
    }
}

/// The fields a merge writes (the other records' email and phone, kept as
/// secondary contacts) and their categories: steward's own, so the default
/// policy declares them — a merge must not create an over-collection.
pub const SECONDARY_CONTACTS: [(&str, &str); 2] =
    [("secondary_email", "user.contact.email"), ("secondary_phone", "user.contact.phone_number")];

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
            if p.legal_basis == LegalBasis::Consent && p.consent_field.is_none() {
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
