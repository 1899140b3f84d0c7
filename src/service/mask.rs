//! Masking: what a viewer (and a steward, until they reveal) sees of a
//! record. Enough to recognise and to judge data quality — the mailbox's
//! first letter and domain, a phone's country code and last digits, initials,
//! the birth year, the town — not enough to contact or identify the person.
//! Pure functions; the service decides who gets masked records.

use crate::model::{DateParts, Record};

/// `jane.doe@example.com` → `j***@example.com`.
pub fn email(s: &str) -> String {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// `+44 7911 123456` → `+44 **** ***456`: the country code (when written)
/// and the last three digits stay, every other digit becomes `*`.
pub fn phone(s: &str) -> String {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let intl = s.trim_start().starts_with('+');
    let keep_front = if intl { 2 } else { 0 };
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen <= keep_front || seen + 3 > digits { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

/// `Jane` → `J.`
pub fn name(s: &str) -> String {
    match s.chars().find(|c| c.is_alphanumeric()) {
        Some(c) => format!("{}.", c.to_uppercase()),
        None => "*".into(),
    }
}

/// `SW1A 2AA` → `SW***`.
pub fn postcode(s: &str) -> String {
    let head: String = s.chars().filter(|c| !c.is_whitespace()).take(2).collect();
    format!("{head}***")
}

/// `C0012345` → `******45`: an identifier's last two characters.
pub fn identifier(s: &str) -> String {
    let n = s.chars().count();
    s.chars().enumerate().map(|(i, c)| if i + 2 >= n { c } else { '*' }).collect()
}

/// The masked copy of a record.
pub fn record(r: &Record) -> Record {
    let mut m = r.clone();
    m.given_name = r.given_name.as_deref().map(name);
    m.family_name = r.family_name.as_deref().map(name);
    m.email = r.email.as_deref().map(email);
    m.phone = r.phone.as_deref().map(phone);
    let a = &mut m.address;
    a.street_number = a.street_number.as_ref().map(|_| "***".into());
    a.line1 = a.line1.as_ref().map(|_| "***".into());
    a.line2 = a.line2.as_ref().map(|_| "***".into());
    a.postcode = a.postcode.as_deref().map(postcode);
    m.date_of_birth = r.date_of_birth.map(|d| DateParts { year: d.year, month: 0, day: 0 });
    let mut extra = crate::model::Extras::default();
    for (k, _) in r.extra.iter() {
        extra.insert(k.clone(), "***".into());
    }
    m.extra = extra;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_type_is_masked() {
        assert_eq!(email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(email("broken"), "***");
        assert_eq!(phone("+44 7911 123456"), "+44 **** ***456");
        assert_eq!(phone("07911 123456"), "***** ***456");
        assert_eq!(phone("12"), "12");
        assert_eq!(name("jane"), "J.");
        assert_eq!(name("  "), "*");
        assert_eq!(postcode("SW1A 2AA"), "SW***");
        assert_eq!(identifier("C0012345"), "******45");
        let mut r = Record::new("crm", "C1", chrono::Utc::now());
        r.given_name = Some("Jane".into());
        r.family_name = Some("Doe".into());
        r.email = Some("jane@example.com".into());
        r.address.line1 = Some("1 High St".into());
        r.address.locality = Some("Leeds".into());
        r.date_of_birth = DateParts::parse("1980-02-03");
        r.extra.insert("national_id".into(), "AB123456C".into());
        let m = record(&r);
        assert_eq!(m.display_name(), "J. D.");
        assert_eq!(m.date_of_birth.map(|d| d.to_string()).as_deref(), Some("1980"));
        assert_eq!(m.address.line1.as_deref(), Some("***"));
        assert_eq!(m.address.locality.as_deref(), Some("Leeds"));
        assert_eq!(m.extra.get("national_id").map(String::as_str), Some("***"));
        let json = serde_json::to_string(&m).unwrap_or_default();
        for secret in ["Jane", "Doe", "jane@", "High St", "AB123456C", "02-03"] {
            assert!(!json.contains(secret), "{secret} leaks");
        }
        assert_eq!(m.id, r.id);
        assert_eq!(m.source_id, r.source_id);
    }
}
