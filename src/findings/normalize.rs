//! Normal forms for matching: names without case, accents or punctuation
//! (transliterated by `deunicode`: Søren = Soren, Łukasz = Lukasz); emails
//! in canonical form; phones in full E.164 (parsed by `phonenumber`, the
//! port of libphonenumber); compact postcodes; street numbers split from
//! street lines; a many-to-many nickname table (Pat → Patricia, Patrick).
//! Pure functions; the only state is the nickname table, read once.

use std::sync::OnceLock;

use rustc_hash::FxHashMap as HashMap;

/// Lower case, transliterated to ASCII, punctuation dropped, runs of white
/// space collapsed: `"  Zoë O'Brien-Smith "` → `"zoe obriensmith"`,
/// `"Søren"` → `"soren"`.
pub fn name(s: &str) -> String {
    if s.is_ascii() {
        return fold_ascii(s);
    }
    name_general(s)
}

/// [`name`] for any input: each word transliterated on its own, so that
/// white space separates words however it is written.
fn name_general(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        out.push_str(&deunicode::deunicode_with_tofu(w, " "));
        out.push(' ');
    }
    fold_ascii(&out)
}

/// [`name`] for ASCII input, in one pass.
fn fold_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split(char::is_whitespace) {
        let mut word = w.bytes().filter(u8::is_ascii_alphanumeric).map(|b| char::from(b.to_ascii_lowercase()));
        if let Some(first) = word.next() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push(first);
            out.extend(word);
        }
    }
    out
}

/// Canonical email for matching: trimmed, lower case, `+tag` removed and
/// dots in the local part removed. `None` when it has no `@`.
pub fn email(s: &str) -> Option<String> {
    let s = s.trim().to_lowercase();
    let (local, domain) = s.rsplit_once('@')?;
    let local = local.split('+').next().unwrap_or(local).replace('.', "");
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

/// International dialling code of a country (ISO 3166 alpha-2), for the
/// countries steward knows formats of.
pub fn dial_code(country: &str) -> Option<&'static str> {
    Some(match country {
        "GB" | "UK" => "44",
        "US" | "CA" => "1",
        "AU" => "61",
        "DE" => "49",
        "FR" => "33",
        "NL" => "31",
        "IE" => "353",
        "NZ" => "64",
        "ES" => "34",
        "IT" => "39",
        "BE" => "32",
        "AT" => "43",
        "CH" => "41",
        _ => return None,
    })
}

/// Phone digits with the country code: `07700 900123` in GB →
/// `447700900123`; `+1 (555) 123-4567` → `15551234567`. Numbers without a
/// country code get the record's; `None` when fewer than 6 digits remain.
pub fn phone(s: &str, country: Option<&str>) -> Option<String> {
    let t = s.trim();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return None;
    }
    if t.starts_with('+') {
        return Some(digits);
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return Some(rest.to_owned());
    }
    let code = country.and_then(dial_code);
    match code {
        Some("1") if digits.len() == 11 && digits.starts_with('1') => Some(digits),
        Some(code) => Some(format!("{code}{}", digits.strip_prefix('0').unwrap_or(&digits))),
        None => Some(digits.strip_prefix('0').unwrap_or(&digits).to_owned()),
    }
}

/// The phone in full E.164 digits (country code first, no `+`), parsed by
/// `phonenumber` with the record's country as the default region:
/// `(212) 555-0199` in the US → `12125550199`, `07700 900123` in GB →
/// `447700900123`. A number it cannot parse falls back to [`phone`]'s
/// digits, so that two spellings of one odd number still compare equal.
pub fn e164(s: &str, country: Option<&str>) -> Option<String> {
    use std::str::FromStr;
    let region = country
        .map(|c| match c.trim().to_ascii_uppercase().as_str() {
            "UK" => "GB".to_owned(),
            c => c.to_owned(),
        })
        .and_then(|c| phonenumber::country::Id::from_str(&c).ok());
    match phonenumber::parse(region, s) {
        Ok(n) => {
            let f = n.format().mode(phonenumber::Mode::E164).to_string();
            let digits: String = f.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 6 { Some(digits) } else { phone(s, country) }
        }
        Err(_) => phone(s, country),
    }
}

/// `"12 High Street"` → (`"12"`, `"high street"`), `"Hauptstrasse 7a"` →
/// (`"7a"`, `"hauptstrasse"`): the street number and the street of a
/// normalised street line, when the number was written into the line.
pub fn split_street(line: &str) -> (Option<&str>, &str) {
    let is_number = |w: &str| w.as_bytes().first().is_some_and(u8::is_ascii_digit) && w.len() <= 6;
    if let Some((first, rest)) = line.split_once(' ')
        && is_number(first)
    {
        return (Some(first), rest);
    }
    if let Some((rest, last)) = line.rsplit_once(' ')
        && is_number(last)
    {
        return (Some(last), rest);
    }
    (None, line)
}

/// The nickname table: every name with the names it is related to.
fn nickname_table() -> &'static HashMap<&'static str, Vec<&'static str>> {
    static TABLE: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut direct: HashMap<&'static str, Vec<&'static str>> = HashMap::default();
        for line in include_str!("nicknames.csv").lines().skip(1) {
            let mut parts = line.split(',');
            let (Some(a), Some("has_nickname"), Some(b)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let (a, b) = (a.trim(), b.trim());
            if a.is_empty() || b.is_empty() || a == b {
                continue;
            }
            // Only names listed together: two nicknames of one name are not
            // related through it (short ones like "al" are nicknames of
            // dozens of names, which would relate "al" to nearly anyone).
            direct.entry(a).or_default().push(b);
            direct.entry(b).or_default().push(a);
        }
        for v in direct.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        direct
    })
}

/// The given names related to `n` (a normalised name) by the nickname
/// table, sorted; empty for a name the table does not know.
pub fn nicknames(n: &str) -> &'static [&'static str] {
    nickname_table().get(n).map_or(&[], |v| v.as_slice())
}

/// Whether two normalised given names are listed as nicknames of each other.
pub fn related_given(a: &str, b: &str) -> bool {
    a != b && nicknames(a).binary_search(&b).is_ok()
}

/// Postcode without spaces or dashes, upper case.
pub fn postcode(s: &str) -> String {
    s.chars().flat_map(char::to_uppercase).filter(|c| c.is_alphanumeric()).collect()
}

/// A compact phonetic code (Soundex) of a normalised name, for blocking.
pub fn soundex(n: &str) -> String {
    let mut out = String::with_capacity(4);
    let mut last = 0u8;
    for c in n.bytes().filter(u8::is_ascii_alphabetic) {
        let code = match c {
            b'b' | b'f' | b'p' | b'v' => b'1',
            b'c' | b'g' | b'j' | b'k' | b'q' | b's' | b'x' | b'z' => b'2',
            b'd' | b't' => b'3',
            b'l' => b'4',
            b'm' | b'n' => b'5',
            b'r' => b'6',
            b'h' | b'w' => continue,
            _ => 0,
        };
        if out.is_empty() {
            out.push(c.to_ascii_uppercase() as char);
        } else if code != 0 && code != last {
            out.push(code as char);
        }
        last = code;
        if out.len() == 4 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_fold_case_accents_and_punctuation() {
        assert_eq!(name("  Zoë O'Brien-Smith "), "zoe obriensmith");
        assert_eq!(name("JÜRGEN  müller"), "jurgen muller");
        assert_eq!(name("Søren"), "soren");
        assert_eq!(name("Łukasz"), "lukasz");
        assert_eq!(name("Ærø"), name("AERO"));
        assert_eq!(name("françois"), "francois");
    }

    #[test]
    fn emails_are_canonical() {
        assert_eq!(email(" Ann.Lee+shop@Example.COM ").as_deref(), Some("annlee@example.com"));
        assert_eq!(email("no-at-sign"), None);
        assert_eq!(email("@example.com"), None);
    }

    #[test]
    fn phones_get_country_codes() {
        assert_eq!(phone("07700 900123", Some("GB")).as_deref(), Some("447700900123"));
        assert_eq!(phone("+44 7700 900123", Some("US")).as_deref(), Some("447700900123"));
        assert_eq!(phone("(555) 123-4567", Some("US")).as_deref(), Some("15551234567"));
        assert_eq!(phone("1-555-123-4567", Some("US")).as_deref(), Some("15551234567"));
        assert_eq!(phone("0044 7700 900123", None).as_deref(), Some("447700900123"));
        assert_eq!(phone("123", Some("GB")), None);
    }

    #[test]
    fn nicknames_are_many_to_many() {
        assert!(related_given("bill", "william"));
        assert!(related_given("william", "bill"));
        assert!(related_given("pat", "patricia") && related_given("pat", "patrick"));
        assert!(related_given("alex", "alexander") && related_given("alex", "alexandra"));
        assert!(!related_given("billy", "will"), "two nicknames of one name are not related through it");
        assert!(!related_given("ada", "ada"), "a name is not its own nickname");
        assert!(!related_given("john", "mary"));
        assert!(nicknames("qwertyuiop").is_empty());
    }

    #[test]
    fn phones_in_full_e164() {
        assert_eq!(e164("(212) 555-0199", Some("US")).as_deref(), Some("12125550199"));
        assert_ne!(e164("(212) 555-0199", Some("US")), e164("(312) 555-0199", Some("US")), "area codes count");
        assert_eq!(e164("07700 900123", Some("GB")), e164("+44 7700 900123", Some("US")));
        assert_eq!(e164("0044 7700 900123", Some("GB")).as_deref(), Some("447700900123"));
        assert_eq!(e164("+1 416 321 7997", None), e164("(416) 321-7997", Some("CA")));
        assert_eq!(e164("12", Some("GB")), None);
    }

    #[test]
    fn street_numbers_split_from_lines() {
        assert_eq!(split_street("12 high street"), (Some("12"), "high street"));
        assert_eq!(split_street("hauptstrasse 7a"), (Some("7a"), "hauptstrasse"));
        assert_eq!(split_street("high street"), (None, "high street"));
    }

    #[test]
    fn postcodes_and_soundex() {
        assert_eq!(postcode("sw1a 1aa"), "SW1A1AA");
        assert_eq!(soundex("robert"), "R163");
        assert_eq!(soundex("rupert"), "R163");
        assert_eq!(soundex("ashcraft"), "A261");
    }

    proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_the_general_one(s in "[\\x00-\\x7f]{0,30}") {
            prop_assert_eq!(name(&s), name_general(&s));
        }

        #[test]
        fn normal_forms_are_idempotent(s in any::<String>()) {
            let n = name(&s);
            prop_assert_eq!(name(&n), n.clone());
            let p = postcode(&s);
            prop_assert_eq!(postcode(&p), p.clone());
            if let Some(e) = email(&s) {
                prop_assert_eq!(email(&e), Some(e.clone()));
            }
        }
    }
}
