//! Public holidays that request deadlines skip, per calendar: the EU and
//! EEA member states, the United Kingdom (ISO codes: `DE`, `IE`, `GB`, ...),
//! California (`US-CA`), and `EU` — the days that are public holidays in
//! every EU member state (New Year's Day, Christmas Day), the default for
//! the GDPR when the policy names no member state.
//!
//! The table (`holidays.csv`, years 2024–2032) is generated offline by
//! `tools/gen-holidays.py` from the `holidays` package
//! (github.com/vacanza/holidays, MIT licence); it is data, not code. A year
//! outside the table has no holidays listed: deadlines then skip weekends
//! only, and `policy check` says so.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::NaiveDate;

const TABLE: &str = include_str!("holidays.csv");

/// The EU member states (for the `EU` calendar).
const EU: [&str; 27] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// The first and last year the table covers.
pub const YEARS: (i32, i32) = (2024, 2032);

static CALENDARS: LazyLock<BTreeMap<String, Vec<(NaiveDate, String)>>> = LazyLock::new(|| {
    let mut out: BTreeMap<String, Vec<(NaiveDate, String)>> = BTreeMap::new();
    for line in TABLE.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let mut parts = line.splitn(3, ',');
        let (Some(cal), Some(date), Some(name)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if let Ok(d) = NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            out.entry(cal.to_owned()).or_default().push((d, name.trim_matches('"').to_owned()));
        }
    }
    // The days every member state keeps.
    let mut common: Option<Vec<(NaiveDate, String)>> = None;
    for state in EU {
        let days = out.get(state).cloned().unwrap_or_default();
        common = Some(match common {
            None => days,
            Some(c) => c.into_iter().filter(|(d, _)| days.iter().any(|(x, _)| x == d)).collect(),
        });
    }
    out.insert("EU".into(), common.unwrap_or_default());
    out
});

/// The holidays of `calendar` (`DE`, `US-CA`, `EU`, ...), or `None` when
/// there is no such calendar.
pub fn dates(calendar: &str) -> Option<Vec<NaiveDate>> {
    CALENDARS.get(&calendar.to_ascii_uppercase()).map(|v| v.iter().map(|(d, _)| *d).collect())
}

/// The name of the holiday on `day` in `calendar`, if it is one.
pub fn name(calendar: &str, day: NaiveDate) -> Option<&'static str> {
    CALENDARS.get(&calendar.to_ascii_uppercase())?.iter().find(|(d, _)| *d == day).map(|(_, n)| n.as_str())
}

/// Every calendar's code.
pub fn calendars() -> Vec<&'static str> {
    CALENDARS.keys().map(String::as_str).collect()
}

/// The calendar a jurisdiction uses when the policy does not say.
pub fn default_for(jurisdiction: &str) -> &'static str {
    match jurisdiction.to_ascii_lowercase().as_str() {
        "ccpa" | "cpra" => "US-CA",
        _ => "EU",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn every_member_state_and_the_common_days_are_there() {
        for s in EU.iter().chain(&["GB", "NO", "IS", "LI", "US-CA"]) {
            let days = dates(s).unwrap_or_default();
            assert!(days.len() >= 5 * 9, "{s}: {} days", days.len());
        }
        let eu = dates("EU").expect("EU");
        assert!(eu.contains(&d(2026, 12, 25)) && eu.contains(&d(2027, 1, 1)), "{eu:?}");
        assert!(
            !eu.contains(&d(2026, 12, 26)),
            "26 December is not a holiday in Belgium, France, Malta, Portugal or Spain"
        );
        assert_eq!(name("DE", d(2026, 10, 3)), Some("German Unity Day"));
        assert!(dates("XX").is_none());
    }
}
