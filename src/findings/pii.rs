//! Personal data hiding in free text, validated rather than pattern-matched:
//! card numbers (Luhn and a known issuer prefix), IBANs (country length and
//! mod-97), US SSNs (area, group and serial rules), email addresses and
//! phone numbers (parsed for the record's country). Checksum-invalid numbers,
//! order numbers and dates are not reported. Matches are shown masked: at
//! most the first 6 and last 4 digits of a card. Pure functions.

use std::sync::LazyLock;

use regex::Regex;

/// What kind of personal data was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    CreditCard,
    Iban,
    UsSsn,
    Email,
    Phone,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::CreditCard => "credit_card",
            Category::Iban => "iban",
            Category::UsSsn => "us_ssn",
            Category::Email => "email",
            Category::Phone => "phone",
        }
    }

    /// The data category (fideslang-style) it belongs to: what a breach
    /// counts and the record of processing declares.
    pub fn category(self) -> &'static str {
        match self {
            Category::CreditCard => "user.financial.credit_card",
            Category::Iban => "user.financial.bank_account",
            Category::UsSsn => "user.government_id",
            Category::Email => "user.contact.email",
            Category::Phone => "user.contact.phone_number",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::CreditCard => "card number",
            Category::Iban => "IBAN",
            Category::UsSsn => "US social security number",
            Category::Email => "email address",
            Category::Phone => "phone number",
        }
    }
}

/// One match: where it is (byte range in the text), what, and a masked form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub category: Category,
    pub start: usize,
    pub end: usize,
    pub masked: String,
}

static CARD: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:\d[ -]?){12,18}\d\b"));
static IBAN: LazyLock<Regex> = LazyLock::new(|| re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"));
static SSN: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{3})([- ])(\d{2})([- ])(\d{4})\b"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| re(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| re(r"(?:\+|\b0)\d[\d \-()]{6,16}\d\b"));

fn re(p: &str) -> Regex {
    // The patterns are constants; a failure would be a bug caught by tests.
    Regex::new(p).unwrap_or_else(|_| Regex::new("$^").unwrap_or_else(|_| unreachable!()))
}

/// Luhn checksum over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Issuer prefixes of the major card schemes, with their lengths.
fn card_issuer(d: &[u8]) -> bool {
    let n = d.len();
    let p = |k: usize| -> u32 { d.iter().take(k).fold(0, |a, &c| a * 10 + u32::from(c - b'0')) };
    match d.first() {
        Some(b'4') => matches!(n, 13 | 16 | 19),                // Visa
        Some(b'5') => n == 16 && (51..=55).contains(&p(2)),     // Mastercard
        Some(b'2') => n == 16 && (2221..=2720).contains(&p(4)), // Mastercard 2-series
        Some(b'3') => {
            (n == 15 && matches!(p(2), 34 | 37))
                || (n == 16 && (3528..=3589).contains(&p(4)))
                || (n == 14 && matches!(p(2), 36 | 38))
        } // Amex, JCB, Diners
        Some(b'6') => n == 16 && (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3))), // Discover
        _ => false,
    }
}

/// Masks a card number: first 6 and last 4 digits, the rest `*`.
pub fn mask_card(digits: &str) -> String {
    let d: Vec<char> = digits.chars().filter(char::is_ascii_digit).collect();
    d.iter().enumerate().map(|(i, c)| if i < 6 || i + 4 >= d.len() { *c } else { '*' }).collect()
}

/// IBAN lengths by country (ISO 13616 registry, common countries).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "AD" => 24,
        "AT" => 20,
        "BE" => 16,
        "BG" => 22,
        "CH" => 21,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "EE" => 20,
        "ES" => 24,
        "FI" => 18,
        "FR" => 27,
        "GB" => 22,
        "GI" => 23,
        "GR" => 27,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IS" => 26,
        "IT" => 27,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MT" => 31,
        "NL" => 18,
        "NO" => 15,
        "PL" => 28,
        "PT" => 25,
        "RO" => 24,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        _ => return None,
    })
}

/// True for a well-formed IBAN: known country, its length, mod-97 == 1.
pub fn iban_valid(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    let Some(len) = compact.get(..2).and_then(iban_length) else { return false };
    if compact.len() != len || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem = 0u32;
    for c in rearranged.chars() {
        let v = if c.is_ascii_digit() { c as u32 - '0' as u32 } else { c as u32 - 'A' as u32 + 10 };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

/// True for an SSN that the SSA could have issued.
pub fn ssn_valid(area: &str, group: &str, serial: &str) -> bool {
    let a: u32 = area.parse().unwrap_or(0);
    let g: u32 = group.parse().unwrap_or(0);
    let s: u32 = serial.parse().unwrap_or(0);
    a != 0 && a != 666 && a < 900 && g != 0 && s != 0
}

/// Masks an email: first character of the local part, then `***`.
pub fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((l, d)) => format!("{}***@{d}", l.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

/// Masks a phone: a written-out country code and the last 3 digits stay.
pub fn mask_phone(p: &str) -> String {
    let p = p.trim();
    let digits: Vec<char> = p.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits.iter().rev().take(3).rev().collect();
    match p.strip_prefix('+') {
        Some(rest) => match rest.split_once(' ') {
            Some((cc, _)) if (1..=3).contains(&cc.len()) && cc.chars().all(|c| c.is_ascii_digit()) => {
                format!("+{cc} **** ***{tail}")
            }
            _ => format!("+** **** ***{tail}"),
        },
        None => format!("**** ***{tail}"),
    }
}

/// Finds validated personal data in `text`; `country` helps phones.
pub fn scan(text: &str, country: Option<&str>) -> Vec<Match> {
    let mut out: Vec<Match> = Vec::new();
    let taken = |out: &[Match], s: usize, e: usize| out.iter().any(|m| s < m.end && m.start < e);
    for m in IBAN.find_iter(text) {
        if iban_valid(m.as_str()) {
            let c: String = m.as_str().chars().filter(|c| !c.is_whitespace()).collect();
            let masked = format!("{}** **** {}", &c[..2], &c[c.len() - 4..]);
            out.push(Match { category: Category::Iban, start: m.start(), end: m.end(), masked });
        }
    }
    for m in cards(text, true) {
        if !taken(&out, m.start, m.end) {
            out.push(m);
        }
    }
    for c in SSN.captures_iter(text) {
        let (Some(all), Some(a), Some(s1), Some(g), Some(s2), Some(s)) =
            (c.get(0), c.get(1), c.get(2), c.get(3), c.get(4), c.get(5))
        else {
            continue;
        };
        if s1.as_str() == s2.as_str()
            && ssn_valid(a.as_str(), g.as_str(), s.as_str())
            && !taken(&out, all.start(), all.end())
        {
            out.push(Match {
                category: Category::UsSsn,
                start: all.start(),
                end: all.end(),
                masked: format!("***-**-{}", s.as_str()),
            });
        }
    }
    for m in EMAIL.find_iter(text) {
        if super::validate::email(m.as_str()).is_none() && !taken(&out, m.start(), m.end()) {
            out.push(Match {
                category: Category::Email,
                start: m.start(),
                end: m.end(),
                masked: mask_email(m.as_str()),
            });
        }
    }
    for m in PHONE.find_iter(text) {
        let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
        if (8..=15).contains(&digits)
            && !taken(&out, m.start(), m.end())
            && super::validate::phone(m.as_str(), country).is_none()
        {
            let has_country = m.as_str().starts_with('+') || country.is_some();
            if has_country {
                out.push(Match {
                    category: Category::Phone,
                    start: m.start(),
                    end: m.end(),
                    masked: mask_phone(m.as_str()),
                });
            }
        }
    }
    out.sort_by_key(|m| m.start);
    out
}

/// The card scheme a number's prefix belongs to.
fn card_scheme(d: &[u8]) -> &'static str {
    let p = |k: usize| -> u32 { d.iter().take(k).fold(0, |a, &c| a * 10 + u32::from(c - b'0')) };
    match d.first() {
        Some(b'4') => "Visa",
        Some(b'5' | b'2') => "Mastercard",
        Some(b'3') if matches!(p(2), 34 | 37) => "Amex",
        Some(b'3') if matches!(p(2), 36 | 38) => "Diners",
        Some(b'3') => "JCB",
        Some(b'6') => "Discover",
        _ => "card",
    }
}

/// What a match is replaced with when the text is redacted: a card keeps
/// its scheme and last 4 digits, an IBAN its country and last 4, an SSN
/// its last 4; emails and phone numbers are masked. The result is never
/// found again by [`scan`].
pub fn redaction(text: &str, m: &Match) -> String {
    let found = &text[m.start..m.end];
    let digits: Vec<u8> = found.bytes().filter(u8::is_ascii_digit).collect();
    let last4 = || String::from_utf8_lossy(&digits[digits.len().saturating_sub(4)..]).into_owned();
    match m.category {
        Category::CreditCard => format!("[{} card ending {}]", card_scheme(&digits), last4()),
        Category::Iban => {
            let country: String = found.chars().take(2).collect::<String>().to_uppercase();
            let compact: Vec<char> = found.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            let tail: String = compact[compact.len().saturating_sub(4)..].iter().collect();
            format!("[IBAN {country} ending {tail}]")
        }
        Category::UsSsn => format!("[SSN ending {}]", last4()),
        Category::Email | Category::Phone => m.masked.clone(),
    }
}

/// `text` with every match of [`scan`] replaced by its [`redaction`]; and
/// how many were replaced.
pub fn redact(text: &str, country: Option<&str>) -> (String, usize) {
    let found = scan(text, country);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for m in &found {
        out.push_str(&text[at..m.start]);
        out.push_str(&redaction(text, m));
        at = m.end;
    }
    out.push_str(&text[at..]);
    (out, found.len())
}

/// `text` with every card number masked (for display anywhere).
pub fn mask_cards(text: &str) -> std::borrow::Cow<'_, str> {
    // Any Luhn-valid number is masked for display, issuer prefix or not.
    let cards: Vec<Match> = cards(text, false);
    if cards.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for m in cards {
        out.push_str(&text[at..m.start]);
        out.push_str(&m.masked);
        at = m.end;
    }
    out.push_str(&text[at..]);
    std::borrow::Cow::Owned(out)
}

/// Card numbers in `text`: 13-19 digits (spaces and dashes allowed) that
/// pass Luhn and, with `issuer`, start like a real scheme's numbers.
fn cards(text: &str, issuer: bool) -> Vec<Match> {
    if text.bytes().filter(u8::is_ascii_digit).count() < 13 {
        return Vec::new();
    }
    CARD.find_iter(text)
        .filter_map(|m| {
            let digits: Vec<u8> = m.as_str().bytes().filter(u8::is_ascii_digit).collect();
            ((13..=19).contains(&digits.len()) && (!issuer || card_issuer(&digits)) && luhn(&digits)).then(|| Match {
                category: Category::CreditCard,
                start: m.start(),
                end: m.end(),
                masked: mask_card(m.as_str()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(text: &str, country: Option<&str>) -> Vec<Category> {
        scan(text, country).into_iter().map(|m| m.category).collect()
    }

    #[test]
    fn cards_need_luhn_and_an_issuer() {
        for valid in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5500005555555559",
            "378282246310005",
            "6011111111111117",
            "4012888888881881",
        ] {
            assert_eq!(cats(&format!("paid with {valid} yesterday"), None), vec![Category::CreditCard], "{valid}");
        }
        for invalid in ["4111 1111 1111 1112", "1234 5678 9012 3456", "0000000000000000", "9111111111111111"] {
            assert!(!cats(&format!("ref {invalid}"), None).contains(&Category::CreditCard), "{invalid}");
        }
    }

    #[test]
    fn redaction_keeps_scheme_country_and_last_four_only() {
        let text = "card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, ssn 078-05-1120, \
                    mail jane.doe@example.com, call +44 20 7946 0018";
        let (out, n) = redact(text, Some("GB"));
        assert_eq!(n, 5, "{out}");
        assert!(out.contains("[Visa card ending 1111]"), "{out}");
        assert!(out.contains("[IBAN DE ending 3000]"), "{out}");
        assert!(out.contains("[SSN ending 1120]"), "{out}");
        assert!(out.contains("j***@example.com"), "{out}");
        for gone in ["4111 1111", "3704 0044", "078-05", "jane.doe", "7946"] {
            assert!(!out.contains(gone), "{gone} left in {out}");
        }
        assert!(scan(&out, Some("GB")).is_empty(), "redacted text is found again: {out}");
        assert_eq!(redact(&out, Some("GB")), (out.clone(), 0), "redacting twice changes nothing");
    }

    #[test]
    fn cards_are_masked_to_six_and_four() {
        let m = scan("card 4111 1111 1111 1111 exp 09/27", None);
        assert_eq!(m[0].masked, "411111******1111");
        assert_eq!(mask_cards("card 4111111111111111 exp"), "card 411111******1111 exp");
        assert_eq!(mask_cards("no card here 12"), "no card here 12");
    }

    #[test]
    fn ibans_need_length_and_mod97() {
        for valid in [
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
        ] {
            assert_eq!(cats(&format!("refund to {valid}"), None), vec![Category::Iban], "{valid}");
        }
        for invalid in
            ["GB82 WEST 1234 5698 7654 33", "DE8937040044053201300", "XX89370400440532013000", "NL91ABNA041716430"]
        {
            assert!(cats(&format!("refund to {invalid}"), None).is_empty(), "{invalid}");
        }
    }

    #[test]
    fn ssns_follow_the_rules() {
        assert_eq!(cats("ssn 123-45-6789", None), vec![Category::UsSsn]);
        assert_eq!(cats("ssn 123 45 6789", None), vec![Category::UsSsn]);
        for bad in ["000-45-6789", "666-45-6789", "900-45-6789", "123-00-6789", "123-45-0000", "123-45 6789"] {
            assert!(cats(&format!("ssn {bad}"), None).is_empty(), "{bad}");
        }
    }

    #[test]
    fn emails_and_phones_in_text() {
        assert_eq!(cats("also reachable at ann@example.com", None), vec![Category::Email]);
        assert_eq!(cats("call back on +447911123456", None), vec![Category::Phone]);
        assert_eq!(cats("call 07911 123456 after 5", Some("GB")), vec![Category::Phone]);
        let m = scan("mail ann.lee@example.com", None);
        assert_eq!(m[0].masked, "a***@example.com");
        assert_eq!(mask_phone("+44 7911 123456"), "+44 **** ***456");
        assert_eq!(mask_phone("+447911123456"), "+** **** ***456");
        assert_eq!(mask_phone("07911 123456"), "**** ***456");
    }

    #[test]
    fn ordinary_numbers_are_not_personal_data() {
        for text in [
            "order #954027 shipped 2026-03-05",
            "invoice 2024-00017, total 1234.56",
            "prefers email",
            "ref 12345678",
            "tracking 1Z999AA10123456784",
            "born 19800203",
            "room 101, floor 3",
            "order 4111111111111112 rejected",
        ] {
            assert!(scan(text, Some("GB")).is_empty(), "{text}: {:?}", scan(text, Some("GB")));
        }
    }
}
