//! Which data-protection law covers a customer, from the country of their
//! address, and what that law asks after a breach: whom to tell and by
//! when. A guide for the admin, not legal advice: the report names the
//! rule it applied.

use serde::Serialize;

/// A breach-notification regime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// GDPR: EU and EEA member states.
    Gdpr,
    /// The UK GDPR and the Data Protection Act 2018.
    UkGdpr,
    /// US state breach laws (California Civil Code 1798.82 and others).
    UsState,
    /// Canada: PIPEDA.
    Pipeda,
    /// Australia: the Privacy Act's notifiable data breaches scheme.
    AuPrivacyAct,
    /// A country steward has no rule for, or no country on the record.
    Unknown,
}

/// EU member states and the EEA (Iceland, Liechtenstein, Norway).
const EEA: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LI", "LT", "LU",
    "MT", "NL", "NO", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS",
];

/// Whether `country` (ISO code) is in the EU/EEA or the UK: a transfer to
/// anywhere else needs a safeguard (GDPR chapter V).
pub fn inside_eea_or_uk(country: &str) -> bool {
    let c = country.trim().to_ascii_uppercase();
    c == "GB" || c == "UK" || EEA.contains(&c.as_str())
}

impl Regime {
    /// The regime of a customer whose address is in `country`.
    pub fn of(country: Option<&str>) -> Regime {
        let Some(c) = country.map(|c| c.trim().to_ascii_uppercase()) else { return Regime::Unknown };
        match c.as_str() {
            "GB" | "UK" => Regime::UkGdpr,
            "US" => Regime::UsState,
            "CA" => Regime::Pipeda,
            "AU" => Regime::AuPrivacyAct,
            c if EEA.contains(&c) => Regime::Gdpr,
            _ => Regime::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Regime::Gdpr => "GDPR (EU/EEA)",
            Regime::UkGdpr => "UK GDPR",
            Regime::UsState => "US state breach laws",
            Regime::Pipeda => "PIPEDA (Canada)",
            Regime::AuPrivacyAct => "Privacy Act 1988 (Australia)",
            Regime::Unknown => "unknown country",
        }
    }

    /// Whether the 72-hour clock of GDPR Art. 33 runs for these customers.
    pub fn has_72h_clock(self) -> bool {
        matches!(self, Regime::Gdpr | Regime::UkGdpr)
    }

    /// Whom to tell, and by when.
    pub fn duty(self) -> &'static str {
        match self {
            Regime::Gdpr => {
                "tell the lead supervisory authority within 72 hours of becoming aware, unless the breach is \
                 unlikely to result in a risk (Art. 33); tell the people without undue delay when the risk is \
                 high (Art. 34)"
            }
            Regime::UkGdpr => {
                "tell the ICO within 72 hours of becoming aware, unless the breach is unlikely to result in a \
                 risk; tell the people without undue delay when the risk is high"
            }
            Regime::UsState => {
                "tell the residents affected in the most expedient time possible and without unreasonable delay \
                 when unencrypted personal information was acquired (e.g. Cal. Civ. Code 1798.82); some states \
                 also require telling their attorney general (California: more than 500 residents)"
            }
            Regime::Pipeda => {
                "report to the Privacy Commissioner and tell the people as soon as feasible when there is a real \
                 risk of significant harm; keep a record of every breach for 24 months"
            }
            Regime::AuPrivacyAct => {
                "assess within 30 days whether it is an eligible data breach; if so, tell the OAIC and the people \
                 as soon as practicable"
            }
            Regime::Unknown => "no country on the record, or one steward has no rule for: check the local law",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_map_to_their_regime() {
        assert_eq!(Regime::of(Some("de")), Regime::Gdpr);
        assert_eq!(Regime::of(Some("GB")), Regime::UkGdpr);
        assert_eq!(Regime::of(Some("US")), Regime::UsState);
        assert_eq!(Regime::of(Some("NO")), Regime::Gdpr);
        assert_eq!(Regime::of(Some("JP")), Regime::Unknown);
        assert_eq!(Regime::of(None), Regime::Unknown);
        assert!(Regime::Gdpr.has_72h_clock() && Regime::UkGdpr.has_72h_clock());
        assert!(!Regime::AuPrivacyAct.has_72h_clock());
        assert!(inside_eea_or_uk("gb") && inside_eea_or_uk("FR") && !inside_eea_or_uk("US"));
    }
}
