//! Normal forms for matching: names without case, accents or punctuation;
//! canonical emails and phones; compact postcodes; nicknames folded to the
//! formal given name. Pure functions.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower case, accents removed (NFKD minus combining marks), punctuation
/// dropped, runs of white space collapsed: `"  Zoë O'Brien-Smith "` →
/// `"zoe obriensmith"`.
pub fn name(s: &str) -> String {
    if s.is_ascii() {
        // The common case, in one pass.
        let mut out = String::with_capacity(s.len());
        for w in s.split(char::is_whitespace) {
            let word: String =
                w.bytes().filter(u8::is_ascii_alphanumeric).map(|b| char::from(b.to_ascii_lowercase())).collect();
            if !word.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&word);
            }
        }
        return out;
    }
    // Lower-casing can create new combining marks (and decomposing can
    // create new capitals), so repeat until nothing changes.
    let mut cur = name_once(s);
    for _ in 0..3 {
        let next = name_once(&cur);
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

fn name_once(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else if c.is_whitespace() {
            space = true;
        }
        // Other punctuation (apostrophes, hyphens, dots) is dropped.
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

/// Postcode without spaces or dashes, upper case.
pub fn postcode(s: &str) -> String {
    s.chars().flat_map(char::to_uppercase).filter(|c| c.is_alphanumeric()).collect()
}

/// Common English nicknames and short forms → the formal given name.
const NICKNAMES: &[(&str, &str)] = &[
    ("abby", "abigail"),
    ("al", "albert"),
    ("alex", "alexander"),
    ("andy", "andrew"),
    ("annie", "hannah"),
    ("becky", "rebecca"),
    ("ben", "benjamin"),
    ("bert", "albert"),
    ("beth", "elizabeth"),
    ("betty", "elizabeth"),
    ("bill", "william"),
    ("billy", "william"),
    ("bob", "robert"),
    ("bobby", "robert"),
    ("cathy", "catherine"),
    ("charlie", "charles"),
    ("chris", "christopher"),
    ("chuck", "charles"),
    ("dan", "daniel"),
    ("danny", "daniel"),
    ("dave", "david"),
    ("dick", "richard"),
    ("dot", "dorothy"),
    ("ed", "edward"),
    ("eddie", "edward"),
    ("fran", "frances"),
    ("fred", "frederick"),
    ("greg", "gregory"),
    ("jack", "john"),
    ("jen", "jennifer"),
    ("jenny", "jennifer"),
    ("jim", "james"),
    ("jimmy", "james"),
    ("joe", "joseph"),
    ("jon", "jonathan"),
    ("kate", "katherine"),
    ("kathy", "katherine"),
    ("katie", "katherine"),
    ("larry", "lawrence"),
    ("liz", "elizabeth"),
    ("maggie", "margaret"),
    ("matt", "matthew"),
    ("meg", "margaret"),
    ("mike", "michael"),
    ("nate", "nathan"),
    ("nick", "nicholas"),
    ("pat", "patricia"),
    ("peggy", "margaret"),
    ("rich", "richard"),
    ("rick", "richard"),
    ("rob", "robert"),
    ("sam", "samuel"),
    ("steph", "stephanie"),
    ("steve", "steven"),
    ("sue", "susan"),
    ("susie", "susan"),
    ("ted", "edward"),
    ("tim", "timothy"),
    ("tom", "thomas"),
    ("tommy", "thomas"),
    ("tony", "anthony"),
    ("vicky", "victoria"),
    ("will", "william"),
];

/// The formal form of a (normalised) given name, or the name itself.
pub fn formal_given(n: &str) -> &str {
    formal_nickname(n).unwrap_or(n)
}

/// The formal form when `n` is a known nickname.
pub fn formal_nickname(n: &str) -> Option<&'static str> {
    NICKNAMES.binary_search_by(|(nick, _)| nick.cmp(&n)).ok().map(|i| NICKNAMES[i].1)
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
        assert_eq!(name("Søren"), "søren");
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
    fn nicknames_and_postcodes() {
        assert_eq!(formal_given("bill"), "william");
        assert_eq!(formal_given("peggy"), "margaret");
        assert_eq!(formal_given("ada"), "ada");
        assert!(NICKNAMES.windows(2).all(|w| w[0].0 < w[1].0), "sorted for binary search");
        assert_eq!(postcode("sw1a 1aa"), "SW1A1AA");
        assert_eq!(soundex("robert"), "R163");
        assert_eq!(soundex("rupert"), "R163");
        assert_eq!(soundex("ashcraft"), "A261");
    }

    proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_the_general_one(s in "[\\x00-\\x7f]{0,30}") {
            prop_assert_eq!(name(&s), name_once(&s));
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
