//! Validators shared by the findings and (later) the edit form: email
//! syntax and disposable domains, phones that do not parse for their
//! country (libphonenumber's metadata via the `phonenumber` crate),
//! postcodes that do not fit their country, impossible or implausible dates.
//! Each returns a reason that never quotes the value.

use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use regex::Regex;

use crate::model::DateParts;

/// Disposable-mailbox domains (embedded list, one per line).
static DISPOSABLE: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut v: Vec<&str> =
        include_str!("disposable_domains.txt").lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    v.sort_unstable();
    v
});

/// Why an email address is not acceptable, if it is not.
pub fn email(s: &str) -> Option<&'static str> {
    let s = s.trim();
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Some("email has no @");
    };
    if local.is_empty() {
        return Some("email has nothing before the @");
    }
    if domain.is_empty() {
        return Some("email has no domain after the @");
    }
    if local.contains('@') {
        return Some("email has more than one @");
    }
    if local.len() > 64 || s.len() > 254 {
        return Some("email is too long");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Some("email has a misplaced dot before the @");
    }
    let local_ok = local.chars().all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok {
        return Some("email has a character not allowed before the @");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
        return Some("email domain is not a valid host name");
    }
    if !domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.') {
        return Some("email domain has a character not allowed in a host name");
    }
    if labels.last().is_some_and(|tld| tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit())) {
        return Some("email domain has no valid top-level domain");
    }
    None
}

/// True when the address's domain is a known disposable-mailbox service.
pub fn is_disposable(s: &str) -> bool {
    s.trim()
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .is_some_and(|d| DISPOSABLE.binary_search(&d.as_str()).is_ok())
}

/// Why a phone number is not valid for `country` (ISO alpha-2), if it is not.
/// Numbers for countries libphonenumber does not know are not judged.
pub fn phone(s: &str, country: Option<&str>) -> Option<&'static str> {
    let id = country.and_then(|c| phonenumber::country::Id::from_str(c).ok());
    if id.is_none() && !s.trim_start().starts_with('+') {
        return None;
    }
    match phonenumber::parse(id, s) {
        Err(_) => Some("phone does not parse as a phone number"),
        Ok(n) if !n.is_valid() => Some("phone is not a valid number for its country"),
        Ok(_) => None,
    }
}

static POSTCODES: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("GB", r"^(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})$"),
        ("US", r"^[0-9]{5}(-[0-9]{4})?$"),
        ("AU", r"^[0-9]{4}$"),
        ("DE", r"^[0-9]{5}$"),
        ("FR", r"^[0-9]{5}$"),
        ("CA", r"^[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z] ?[0-9][ABCEGHJ-NPRSTV-Z][0-9]$"),
        ("NL", r"^[1-9][0-9]{3} ?[A-Z]{2}$"),
    ]
    .into_iter()
    .filter_map(|(c, r)| Regex::new(r).ok().map(|re| (c, re)))
    .collect()
});

/// Countries whose postcode format steward checks.
pub const POSTCODE_COUNTRIES: [&str; 7] = ["GB", "US", "AU", "DE", "FR", "CA", "NL"];

/// Why a postcode does not fit its country, if it does not (and the country
/// is one steward knows).
pub fn postcode(s: &str, country: Option<&str>) -> Option<String> {
    let country = country?;
    let (_, re) = POSTCODES.iter().find(|(c, _)| *c == country)?;
    let up = s.trim().to_uppercase();
    if re.is_match(&up) { None } else { Some(format!("postcode does not fit the {country} format")) }
}

/// Why a date of birth is impossible or implausible on `today`, if it is.
pub fn date_of_birth(d: DateParts, today: NaiveDate) -> Option<&'static str> {
    let Some(date) = d.to_date() else {
        return Some("date of birth is not a calendar date");
    };
    if date > today {
        return Some("date of birth is in the future");
    }
    let age = today.year() - date.year();
    if age > 120 {
        return Some("date of birth makes the customer older than 120");
    }
    if age < 13 {
        return Some("date of birth makes the customer younger than 13");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["ann@example.com", "a.b+tag@mail.example.org", "o'neil@example.ie", "zoë@example.de"] {
            assert_eq!(email(ok), None, "{ok}");
        }
        for bad in [
            "annexample.com",
            "ann@@example.com",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@exa mple.com",
            "an..n@example.com",
            ".ann@example.com",
            "ann@-example.com",
            "ann@example.c",
            "ann@example.123",
        ] {
            assert!(email(bad).is_some(), "{bad}");
        }
        assert!(is_disposable("x@Mailinator.com"));
        assert!(!is_disposable("x@example.com"));
        assert!(DISPOSABLE.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn phones() {
        assert_eq!(phone("+44 7911 123456", Some("GB")), None);
        assert_eq!(phone("07911 123456", Some("GB")), None);
        assert_eq!(phone("(212) 555-0199", Some("US")), None);
        assert_eq!(phone("0412 345 678", Some("AU")), None);
        assert_eq!(phone("0170 1234567", Some("DE")), None);
        assert_eq!(phone("06 12 34 56 78", Some("FR")), None);
        assert_eq!(phone("06 12345678", Some("NL")), None);
        assert!(phone("+44 7700", Some("GB")).is_some());
        assert!(phone("12", Some("US")).is_some());
        assert!(phone("call me", Some("GB")).is_some());
        assert_eq!(phone("12345", Some("XX")), None, "unknown countries are not judged");
    }

    #[test]
    fn postcodes() {
        for (c, ok) in [
            ("GB", "SW1A 1AA"),
            ("GB", "m1 1ae"),
            ("US", "02134"),
            ("US", "02134-1234"),
            ("AU", "2000"),
            ("DE", "10115"),
            ("FR", "75008"),
            ("CA", "K1A 0B1"),
            ("NL", "1012 AB"),
        ] {
            assert_eq!(postcode(ok, Some(c)), None, "{c} {ok}");
        }
        for (c, bad) in [
            ("GB", "12345"),
            ("US", "ABCDE"),
            ("US", "1234"),
            ("AU", "20000"),
            ("DE", "1011"),
            ("FR", "7500"),
            ("CA", "D1A 0B1"),
            ("NL", "0123 AB"),
        ] {
            assert!(postcode(bad, Some(c)).is_some(), "{c} {bad}");
        }
        assert_eq!(postcode("whatever", Some("ZZ")), None);
        assert_eq!(postcode("whatever", None), None);
    }

    #[test]
    fn dates() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        let d = |s: &str| DateParts::parse(s).expect("shape");
        assert_eq!(date_of_birth(d("1981-02-29"), today), Some("date of birth is not a calendar date"));
        assert_eq!(date_of_birth(d("1984-02-29"), today), None);
        assert_eq!(date_of_birth(d("19371233"), today), Some("date of birth is not a calendar date"));
        assert!(date_of_birth(d("2030-01-01"), today).is_some());
        assert!(date_of_birth(d("1890-01-01"), today).is_some());
        assert!(date_of_birth(d("2020-01-01"), today).is_some());
    }
}
