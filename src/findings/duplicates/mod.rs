//! Duplicate people: normalisation, blocking, field comparison, a
//! Fellegi-Sunter model estimated from the data being scanned, and
//! clustering that does not chain different people together.
//!
//! 1. Each record is normalised ([`Features`]): names transliterated and
//!    folded, emails canonical, phones in full E.164, postcodes compact,
//!    street numbers split from street lines, a national id when an extra
//!    column holds one.
//! 2. Blocking ([`candidate_pairs`]): independent passes (email; phone;
//!    national id; birth date with the sound of either name; birth date
//!    with postcode; the sound of both names in either order; family name
//!    sound with the first initial and place; postcode with street number;
//!    street with locality; email local part). Records sharing a key are
//!    compared; a block too large to compare in full is compared as a
//!    sliding window over its members in a meaningful order (sorted
//!    neighbourhood), so candidate pairs grow linearly with the store and
//!    no block is dropped.
//! 3. Each pair gets one level per field ([`compare`]): exact / similar /
//!    initial / nickname / close / different / missing.
//! 4. The model ([`Model`]), in the manner of Splink (a pair's score is
//!    the posterior match probability; its explanation is each field's
//!    contribution in bits, log2 m/u, positive for evidence of one person,
//!    negative against, after the prior):
//!    - u (how often a level occurs between different people) from random
//!      record pairs, with term frequencies for exact agreement: "smith"
//!      agreeing counts for less than "quixley" agreeing, and an email that
//!      a household shares counts for less than one nobody else has;
//!    - m (how often it occurs between records of one person) by EM on
//!      pairs blocked on *other* fields (same birth date: m of names,
//!      contacts and address; same full name: m of birth date, contacts and
//!      address), so that a file full of namesakes cannot teach it that a
//!      shared name means a shared person;
//!    - the prior (how likely two random records are one person) anchored by
//!      high-precision rules (same email; same phone and birth date; same
//!      national id; same names and birth date), divided by their recall as
//!      the m-probabilities estimate it.
//! 5. Pairs above the match probability seed clusters; two clusters join
//!    only if every pair across them reaches the cluster probability, so
//!    A~B and B~C do not make A~C unless A~C holds too. Pairs a reviewer
//!    marked as different people never join.
//!
//! Pure: no I/O. Depends on `model` and `findings::normalize`.

// Tables indexed by field and level read clearest as index loops.
#![allow(clippy::needless_range_loop)]

pub mod index;

use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use strsim::jaro_winkler;

use super::normalize;
use crate::model::{DateParts, Record, RecordId};

/// Comparison fields, in vector order.
pub const FIELDS: [&str; NF] =
    ["given_name", "family_name", "date_of_birth", "email", "phone", "place", "street", "national_id"];
const NF: usize = 8;
/// Most levels a field has (level 0 is "missing" everywhere).
const NL: usize = 6;
const GIVEN: usize = 0;
const FAMILY: usize = 1;
const DOB: usize = 2;
pub const EMAIL: usize = 3;
pub const PHONE: usize = 4;
const PLACE: usize = 5;
const STREET: usize = 6;
pub const NID: usize = 7;

/// Levels per field (including "missing").
const LEVELS: [usize; NF] = [6, 5, 4, 3, 4, 5, 6, 4];

/// Names of the extra columns that hold a national identifier.
fn is_national_id(column: &str) -> bool {
    if column.len() > 40 {
        return false;
    }
    let mut buf = [0u8; 40];
    let mut n = 0;
    for b in column.bytes().filter(u8::is_ascii_alphanumeric) {
        buf[n] = b.to_ascii_lowercase();
        n += 1;
    }
    matches!(
        &buf[..n],
        b"socsecid"
            | b"socialsecurityid"
            | b"socialsecuritynumber"
            | b"ssn"
            | b"nationalid"
            | b"nationalidentifier"
            | b"nationalinsurancenumber"
            | b"nino"
            | b"nin"
            | b"personalidnumber"
            | b"taxid"
            | b"tin"
            | b"steuerid"
            | b"bsn"
            | b"personnummer"
            | b"cpr"
            | b"pesel"
    )
}

/// Normalised features of one record.
///
/// A scan holds a million of these and compares millions of pairs, each
/// touching two records picked from all over memory: so every string of a
/// record sits in one allocation (`text`, cut by `ends`), a couple of cache
/// lines instead of nine scattered ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Features {
    /// given, family, postcode, locality, street number, street, email,
    /// phone (E.164 digits), national id — one after the other.
    text: Box<str>,
    ends: [u16; 9],
    dob: Option<DateParts>,
    /// Soundex codes of the given and family name (zeros when empty).
    sound: [[u8; 4]; 2],
    /// How many scanned records share this record's value, field by field
    /// (filled by [`TermFrequencies::annotate`]; 0 when not known).
    tf: [u32; NF],
}

/// Phones in E.164 for a whole scan. Parsing one costs microseconds (and
/// `phonenumber` serialises its regex cache), so each distinct (number,
/// country) is parsed once; and numbers of one class — same country, same
/// `+`/`00` prefix, same first three digits and length — are turned into
/// E.164 the same way (drop the same leading digits, put the same country
/// code in front), so two members of a class are parsed, the rule they
/// agree on is kept, and the class's other numbers follow it. A class
/// whose two samples disagree is parsed number by number.
struct PhoneCache<'a>(FxHashMap<(&'a str, &'a str), Option<Box<str>>>);

/// How a class of raw numbers becomes E.164: drop `skip` leading digits,
/// put `prefix` in front.
#[derive(Clone, PartialEq, Eq)]
struct PhoneRule {
    skip: usize,
    prefix: Box<str>,
}

fn digits_of(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_digit).collect()
}

/// The class of a raw number: (country, "+" or "00" or none, first three
/// digits, number of digits). Numbers with letters (extensions, vanity
/// numbers) have none.
/// A phone's class, packed: country (two bytes), prefix mark, first three
/// digits, number of digits.
type PhoneClass = u64;

fn phone_class(raw: &str, country: &str) -> Option<PhoneClass> {
    if raw.chars().any(char::is_alphabetic) {
        return None;
    }
    let mut first = [0u8; 3];
    let (mut n, mut zeros_first) = (0usize, 0usize);
    for b in raw.bytes().filter(u8::is_ascii_digit) {
        if n < 3 {
            first[n] = b;
        }
        if n == zeros_first && b == b'0' {
            zeros_first += 1;
        }
        n += 1;
    }
    let mark: u64 = if raw.trim_start().starts_with('+') {
        1
    } else if zeros_first >= 2 {
        2
    } else {
        0
    };
    let c = country.as_bytes();
    let cc = u64::from(c.first().copied().unwrap_or(0)) << 8 | u64::from(c.get(1).copied().unwrap_or(0));
    let digits = u64::from(first[0]) << 16 | u64::from(first[1]) << 8 | u64::from(first[2]);
    // A country code longer than two letters is not one: no class.
    (c.len() <= 2).then_some(cc << 48 | mark << 40 | digits << 16 | (n.min(0xffff) as u64))
}

/// The rule that turns `raw`'s digits into `e164`, when one exists.
fn rule_of(raw: &str, e164: &str) -> Option<PhoneRule> {
    let digits = digits_of(raw);
    (0..=digits.len()).find_map(|skip| {
        let tail = &digits[skip..];
        e164.strip_suffix(tail).map(|prefix| PhoneRule { skip, prefix: prefix.into() })
    })
}

impl<'a> PhoneCache<'a> {
    fn for_records(records: &'a [Record]) -> PhoneCache<'a> {
        let mut distinct: FxHashSet<(&'a str, &'a str)> = FxHashSet::default();
        for r in records {
            if let Some(p) = r.phone.as_deref() {
                distinct.insert((p, r.address.country.as_deref().unwrap_or("")));
            }
        }
        let mut classes: FxHashMap<PhoneClass, Vec<(&'a str, &'a str)>> = FxHashMap::default();
        let mut singles: Vec<(&'a str, &'a str)> = Vec::new();
        for (p, c) in distinct {
            match phone_class(p, c) {
                Some(class) => classes.entry(class).or_default().push((p, c)),
                None => singles.push((p, c)),
            }
        }
        let parse = |p: &str, c: &str| normalize::e164(p, (!c.is_empty()).then_some(c));
        let mut classes: Vec<Vec<(&'a str, &'a str)>> = classes.into_values().collect();
        for members in classes.iter_mut() {
            members.sort_unstable();
        }
        type Done<'b> = Vec<((&'b str, &'b str), Option<Box<str>>)>;
        let done: Vec<Done<'a>> = classes
            .into_par_iter()
            .map(|members| {
                let one = |&(p, c): &(&'a str, &'a str)| ((p, c), parse(p, c).map(String::into_boxed_str));
                // Two samples (the first and the last): their rule, if they agree on one.
                let first = members.first().map(|m| (m, parse(m.0, m.1)));
                let last = members.last().map(|m| (m, parse(m.0, m.1)));
                let rule = match (first, last) {
                    (Some((a, Some(ea))), Some((b, Some(eb)))) => {
                        let (ra, rb) = (rule_of(a.0, &ea), rule_of(b.0, &eb));
                        ra.filter(|r| Some(r) == rb.as_ref())
                    }
                    _ => None,
                };
                match rule {
                    Some(rule) if members.len() > 2 => members
                        .iter()
                        .map(|&(p, c)| {
                            let d = digits_of(p);
                            let e = format!("{}{}", rule.prefix, d.get(rule.skip..).unwrap_or(""));
                            ((p, c), Some(e.into_boxed_str()))
                        })
                        .collect(),
                    _ => members.iter().map(one).collect(),
                }
            })
            .collect();
        let mut map: FxHashMap<(&'a str, &'a str), Option<Box<str>>> = done.into_iter().flatten().collect();
        for (p, c) in singles {
            map.insert((p, c), parse(p, c).map(String::into_boxed_str));
        }
        PhoneCache(map)
    }

    fn get(&self, phone: &str, country: Option<&str>) -> Option<Box<str>> {
        match self.0.get(&(phone, country.unwrap_or(""))) {
            Some(e) => e.clone(),
            None => normalize::e164(phone, country).map(String::into_boxed_str),
        }
    }
}

impl Features {
    /// Features of one record (phones parsed here; see [`Features::all`]).
    pub fn of(r: &Record) -> Features {
        Self::with_phone(r, |p, c| normalize::e164(p, c).map(String::into_boxed_str))
    }

    /// Features of many records, each distinct phone parsed once.
    pub fn all(records: &[Record]) -> Vec<Features> {
        let phones = PhoneCache::for_records(records);
        records.par_iter().map(|r| Self::with_phone(r, |p, c| phones.get(p, c))).collect()
    }

    fn with_phone(r: &Record, phone: impl Fn(&str, Option<&str>) -> Option<Box<str>>) -> Features {
        let country = r.address.country.as_deref();
        let name = |s: Option<&str>| s.map(normalize::name).unwrap_or_default();
        let line = r.address.line1.as_deref().map(normalize::name).unwrap_or_default();
        let (no_in_line, street) = normalize::split_street(&line);
        let street_no = r
            .address
            .street_number
            .as_deref()
            .map(normalize::name)
            .filter(|n| !n.is_empty())
            .or_else(|| no_in_line.map(str::to_owned))
            .unwrap_or_default();
        let nid = r
            .extra
            .iter()
            .find(|(k, v)| is_national_id(k) && !v.trim().is_empty())
            .map(|(_, v)| v.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_uppercase())
            .filter(|v| v.len() >= 4);
        let given = name(r.given_name.as_deref());
        let family = name(r.family_name.as_deref());
        let sound = |n: &str| {
            let mut out = [0u8; 4];
            for (o, b) in out.iter_mut().zip(normalize::soundex(n).bytes()) {
                *o = b;
            }
            out
        };
        let email = r.email.as_deref().and_then(normalize::email);
        let phone = r.phone.as_deref().and_then(|p| phone(p, country));
        let postcode = r.address.postcode.as_deref().map(normalize::postcode).unwrap_or_default();
        let locality = name(r.address.locality.as_deref());
        Features::from_parts(
            [
                &given,
                &family,
                &postcode,
                &locality,
                &street_no,
                street,
                email.as_deref().unwrap_or(""),
                phone.as_deref().unwrap_or(""),
                nid.as_deref().unwrap_or(""),
            ],
            r.date_of_birth.filter(|d| d.year > 0),
            [sound(&given), sound(&family)],
        )
    }

    /// Features from their parts (each cut to 1,024 bytes: more says
    /// nothing more about who someone is, and offsets stay small).
    fn from_parts(parts: [&str; 9], dob: Option<DateParts>, sound: [[u8; 4]; 2]) -> Features {
        let mut text = String::with_capacity(parts.iter().map(|p| p.len().min(1024)).sum());
        let mut ends = [0u16; 9];
        for (i, p) in parts.iter().enumerate() {
            let mut cut = p.len().min(1024);
            while !p.is_char_boundary(cut) {
                cut -= 1;
            }
            text.push_str(&p[..cut]);
            ends[i] = u16::try_from(text.len()).unwrap_or(u16::MAX);
        }
        Features { text: text.into_boxed_str(), ends, dob, sound, tf: [0; NF] }
    }

    /// Part `i` of the text.
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { usize::from(self.ends[i - 1]) };
        self.text.get(start..usize::from(self.ends[i])).unwrap_or("")
    }

    fn given(&self) -> &str {
        self.part(0)
    }

    fn family(&self) -> &str {
        self.part(1)
    }

    fn postcode(&self) -> &str {
        self.part(2)
    }

    fn locality(&self) -> &str {
        self.part(3)
    }

    fn street_no(&self) -> &str {
        self.part(4)
    }

    fn street(&self) -> &str {
        self.part(5)
    }

    fn email(&self) -> Option<&str> {
        Some(self.part(6)).filter(|s| !s.is_empty())
    }

    fn phone(&self) -> Option<&str> {
        Some(self.part(7)).filter(|s| !s.is_empty())
    }

    fn nid(&self) -> Option<&str> {
        Some(self.part(8)).filter(|s| !s.is_empty())
    }

    fn parts(&self) -> [&str; 9] {
        std::array::from_fn(|i| self.part(i))
    }

    /// The same features with another phone (E.164 digits, or none).
    pub fn with_phone_digits(&self, phone: Option<String>) -> Features {
        let mut parts = self.parts();
        parts[7] = phone.as_deref().unwrap_or("");
        Features { tf: self.tf, ..Features::from_parts(parts, self.dob, self.sound) }
    }

    /// Only the names (for looking up who shares a name).
    fn names_only(&self) -> Features {
        let p = self.parts();
        Features::from_parts([p[0], p[1], "", "", "", "", "", "", ""], None, self.sound)
    }

    /// Whether the record carries nothing to compare.
    pub fn is_empty(&self) -> bool {
        self.given().is_empty()
            && self.family().is_empty()
            && self.dob.is_none()
            && self.email().is_none()
            && self.phone().is_none()
            && self.postcode().is_empty()
            && self.street().is_empty()
            && self.nid().is_none()
    }

    /// The value each field's term frequency counts (exact agreement).
    fn tf_key(&self, f: usize) -> Option<u64> {
        let h = |parts: &[&[u8]]| {
            use std::hash::Hasher;
            let mut s = FxHasher::default();
            for p in parts {
                s.write(p);
                s.write_u8(0xff);
            }
            s.finish()
        };
        fn nonempty(s: &str) -> Option<&str> {
            (!s.is_empty()).then_some(s)
        }
        match f {
            GIVEN => nonempty(self.given()).map(|g| h(&[g.as_bytes()])),
            FAMILY => nonempty(self.family()).map(|g| h(&[g.as_bytes()])),
            DOB => self.dob.map(|d| h(&[&d.year.to_le_bytes(), &[d.month, d.day]])),
            EMAIL => self.email().map(|e| h(&[e.as_bytes()])),
            PHONE => self.phone().map(|e| h(&[e.as_bytes()])),
            PLACE => nonempty(self.postcode()).map(|p| h(&[p.as_bytes()])),
            STREET => (!self.street().is_empty() && !self.street_no().is_empty())
                .then(|| h(&[self.street_no().as_bytes(), self.street().as_bytes()])),
            NID => self.nid().map(|e| h(&[e.as_bytes()])),
            _ => None,
        }
    }
}

/// Term frequencies: for each field, how many records hold each value
/// (only values held by two or more are kept; the rest count 1).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TermFrequencies {
    counts: Vec<FxHashMap<u64, u32>>,
    /// Records with the field present.
    present: [u64; NF],
}

impl TermFrequencies {
    pub fn build(features: &[Features]) -> TermFrequencies {
        let per_field: Vec<(FxHashMap<u64, u32>, u64)> = (0..NF)
            .into_par_iter()
            .map(|f| {
                let mut keys: Vec<u64> = features.iter().filter_map(|x| x.tf_key(f)).collect();
                let present = keys.len() as u64;
                keys.sort_unstable();
                let mut counts = FxHashMap::default();
                let mut i = 0;
                while i < keys.len() {
                    let mut j = i + 1;
                    while j < keys.len() && keys[j] == keys[i] {
                        j += 1;
                    }
                    if j - i > 1 {
                        counts.insert(keys[i], u32::try_from(j - i).unwrap_or(u32::MAX));
                    }
                    i = j;
                }
                (counts, present)
            })
            .collect();
        let mut present = [0u64; NF];
        let mut counts = Vec::with_capacity(NF);
        for (f, (c, p)) in per_field.into_iter().enumerate() {
            present[f] = p;
            counts.push(c);
        }
        TermFrequencies { counts, present }
    }

    /// Records holding `x`'s value of field `f` (1 for a value held once).
    fn count(&self, x: &Features, f: usize) -> u32 {
        match (x.tf_key(f), self.counts.get(f)) {
            (Some(k), Some(c)) => c.get(&k).copied().unwrap_or(1),
            _ => 0,
        }
    }

    /// Fills in `x`'s term frequencies.
    pub fn annotate(&self, x: &mut Features) {
        for f in 0..NF {
            x.tf[f] = self.count(x, f);
        }
    }

    /// Share of records with field `f` holding the value `count` records hold.
    fn share(&self, f: usize, count: u32) -> f64 {
        f64::from(count.max(1)) / (self.present[f].max(1) as f64)
    }
}

// ---------------------------------------------------------------- comparison

/// Jaro-Winkler similarity, 1.0 for equal strings: strsim's definition,
/// without its allocation for the short ASCII strings names are (a scan
/// computes millions).
fn jw(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !a.is_ascii() || !b.is_ascii() || x.len() > 64 || y.len() > 64 {
        return jaro_winkler(a, b);
    }
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let range = (x.len().max(y.len()) / 2).saturating_sub(1);
    let (mut xf, mut yf) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, c) in x.iter().enumerate() {
        let lo = i.saturating_sub(range);
        let hi = (i + range + 1).min(y.len());
        for j in lo..hi {
            if yf & (1 << j) == 0 && y[j] == *c {
                xf |= 1 << i;
                yf |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut j = 0usize;
    for (i, c) in x.iter().enumerate() {
        if xf & (1 << i) != 0 {
            while yf & (1 << j) == 0 {
                j += 1;
            }
            if y[j] != *c {
                transpositions += 1;
            }
            j += 1;
        }
    }
    let m = matches as f64;
    let sim = (m / x.len() as f64 + m / y.len() as f64 + (m - (transpositions / 2) as f64) / m) / 3.0;
    if sim > 0.7 {
        let prefix = x.iter().zip(y).take(4).take_while(|(p, q)| p == q).count();
        sim + 0.1 * prefix as f64 * (1.0 - sim)
    } else {
        sim
    }
}

/// Whether `a` becomes `b` by at most one edit: a changed, inserted or
/// deleted character, or two neighbours swapped (Damerau distance <= 1),
/// without allocating.
fn within_one_edit(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let start = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if la == lb {
        let (ra, rb) = (&a[start + 1..], &b[start + 1..]);
        // One substitution, or a transposition of start and start + 1.
        ra == rb
            || (start + 1 < la
                && a[start] == b[start + 1]
                && a[start + 1] == b[start]
                && a[start + 2..] == b[start + 2..])
    } else if la > lb {
        a[start + 1..] == b[start..]
    } else {
        a[start..] == b[start + 1..]
    }
}

/// One name's words are all among the other's (`"anne marie"` / `"anne"`).
fn token_subset(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    (short.contains(' ') || long.contains(' ')) && short.split(' ').all(|w| long.split(' ').any(|v| v == w))
}

/// Given names: 5 exact, 4 nickname / very similar / one name inside the
/// other, 3 similar, 2 only an initial agrees, 1 different.
fn given_level(a: &str, b: &str) -> (u8, f64) {
    if a.is_empty() || b.is_empty() {
        return (0, 0.0);
    }
    if a == b {
        return (5, 1.0);
    }
    let s = jw(a, b);
    let initials = |x: &str| x.split(' ').all(|w| w.len() == 1);
    if initials(a) || initials(b) {
        // An initial (or initials) against a name: only the first letter can agree.
        return if a.as_bytes().first() == b.as_bytes().first() { (2, s) } else { (1, s) };
    }
    if s >= 0.92 || normalize::related_given(a, b) || (token_subset(a, b) && s >= 0.7) {
        (4, s)
    } else if s >= 0.8 {
        (3, s)
    } else {
        (1, s)
    }
}

/// Family names: 4 exact, 3 very similar or one inside the other (double
/// names), 2 similar, 1 different.
fn family_level(a: &str, b: &str) -> (u8, f64) {
    if a.is_empty() || b.is_empty() {
        return (0, 0.0);
    }
    if a == b {
        return (4, 1.0);
    }
    let s = jw(a, b);
    if s >= 0.92 || (token_subset(a, b) && s >= 0.7) {
        (3, s)
    } else if s >= 0.8 {
        (2, s)
    } else {
        (1, s)
    }
}

/// Whether two numbers written with `width` digits differ in one digit or
/// by two neighbouring digits swapped.
fn digits_differ_by_one(a: u32, b: u32, width: usize) -> bool {
    let digits = |mut v: u32| {
        let mut d = [0u8; 4];
        for i in (0..width.min(4)).rev() {
            d[i] = (v % 10) as u8;
            v /= 10;
        }
        d
    };
    let (x, y) = (digits(a), digits(b));
    within_one_edit(&x[..width.min(4)], &y[..width.min(4)])
}

/// Birth dates: 3 exact, 2 close (day and month swapped, or one part with a
/// one-digit typo), 1 different. A date known only by its year is close
/// to any date of that year.
fn date_level(a: Option<DateParts>, b: Option<DateParts>) -> (u8, f64) {
    let (Some(a), Some(b)) = (a, b) else { return (0, 0.0) };
    if a == b {
        return (3, 1.0);
    }
    let year_only = |d: DateParts| d.month == 0 && d.day == 0;
    if year_only(a) || year_only(b) {
        return if a.year == b.year { (2, 0.5) } else { (1, 0.0) };
    }
    let swapped = a.year == b.year && a.month == b.day && a.day == b.month;
    let same = [a.year == b.year, a.month == b.month, a.day == b.day];
    let two_same = same.iter().filter(|s| **s).count() == 2;
    let one_typo = two_same
        && ((a.year != b.year && digits_differ_by_one(a.year.into(), b.year.into(), 4))
            || (a.month != b.month && digits_differ_by_one(a.month.into(), b.month.into(), 2))
            || (a.day != b.day && digits_differ_by_one(a.day.into(), b.day.into(), 2)));
    if swapped || one_typo { (2, 0.9) } else { (1, 0.0) }
}

fn exact_level(a: Option<&str>, b: Option<&str>, top: u8) -> (u8, f64) {
    match (a, b) {
        (Some(a), Some(b)) if a == b => (top, 1.0),
        (Some(_), Some(_)) => (1, 0.0),
        _ => (0, 0.0),
    }
}

/// Phones: 3 the same number, 2 one digit off, 1 different.
fn phone_level(a: Option<&str>, b: Option<&str>) -> (u8, f64) {
    match (a, b) {
        (Some(a), Some(b)) if a == b => (3, 1.0),
        (Some(a), Some(b)) if a.len() == b.len() && within_one_edit(a.as_bytes(), b.as_bytes()) => (2, 0.9),
        (Some(_), Some(_)) => (1, 0.0),
        _ => (0, 0.0),
    }
}

/// National ids: 3 exact, 2 one character off, 1 different.
fn nid_level(a: Option<&str>, b: Option<&str>) -> (u8, f64) {
    match (a, b) {
        (Some(a), Some(b)) if a == b => (3, 1.0),
        (Some(a), Some(b)) if within_one_edit(a.as_bytes(), b.as_bytes()) => (2, 0.9),
        (Some(_), Some(_)) => (1, 0.0),
        _ => (0, 0.0),
    }
}

/// Place (postcode and locality together: they say the same thing twice):
/// 4 same postcode, 3 postcode one character off or missing while the
/// locality agrees, 2 the locality agrees with another postcode (or the
/// postcode is one off and the locality differs), 1 different.
fn place_level(a: &Features, b: &Features) -> (u8, f64) {
    let pc = match (a.postcode().is_empty(), b.postcode().is_empty()) {
        (false, false) if a.postcode() == b.postcode() => Some(2),
        (false, false) if within_one_edit(a.postcode().as_bytes(), b.postcode().as_bytes()) => Some(1),
        (false, false) => Some(0),
        _ => None,
    };
    let ls = if pc == Some(2) || a.locality().is_empty() || b.locality().is_empty() {
        None
    } else {
        Some(jw(a.locality(), b.locality()))
    };
    let loc = ls.map(|s| s >= 0.9);
    let level = match (pc, loc) {
        (Some(2), _) => 4,
        (Some(1), Some(true)) | (None, Some(true)) => 3,
        (Some(0), Some(true)) | (Some(1), _) => 2,
        (Some(_), _) | (None, Some(false)) => 1,
        (None, None) => 0,
    };
    (level, ls.unwrap_or(if pc == Some(2) { 1.0 } else { 0.0 }))
}

/// Street: 5 same number and street, 4 same number and a similar street, 3
/// same street (another or no number), 2 similar street, 1 different.
fn street_level(a: &Features, b: &Features) -> (u8, f64) {
    if a.street().is_empty() || b.street().is_empty() {
        return (0, 0.0);
    }
    let s = jw(a.street(), b.street());
    let number = !a.street_no().is_empty() && a.street_no() == b.street_no();
    let level = match (number, s) {
        (true, s) if s >= 1.0 => 5,
        (true, s) if s >= 0.85 => 4,
        (false, s) if s >= 1.0 => 3,
        (false, s) if s >= 0.85 => 2,
        _ => 1,
    };
    (level, s)
}

/// Levels and similarities of one pair, field by field.
fn compare_full(a: &Features, b: &Features) -> ([u8; NF], [f64; NF], bool) {
    // Names as written, or swapped (given <-> family), whichever agrees more.
    let straight = (given_level(a.given(), b.given()), family_level(a.family(), b.family()));
    let rank = |p: &((u8, f64), (u8, f64))| p.0.1 + p.1.1;
    let mut swapped = false;
    // Crossing is worth trying only when a name's first letter could agree
    // crosswise.
    let first = |x: &str| x.as_bytes().first().copied();
    let may_cross = !a.given().is_empty()
        && !b.given().is_empty()
        && (first(a.given()) == first(b.family()) || first(a.family()) == first(b.given()));
    let ((g, gs), (f, fs)) = if may_cross && (straight.0.0 < 4 || straight.1.0 < 3) {
        // Crosswise, either record may be the swapped one: a's family name
        // is then a given name (or b's is). Which, the data cannot say; the
        // reading with the weaker given-name agreement is taken, so that a
        // family member written surname first does not pass for the same
        // given name.
        let a_swapped = (given_level(a.family(), b.given()), family_level(a.given(), b.family()));
        let b_swapped = (given_level(a.given(), b.family()), family_level(a.family(), b.given()));
        let crossed =
            if (a_swapped.0.0, std::cmp::Reverse(a_swapped.1.0)) <= (b_swapped.0.0, std::cmp::Reverse(b_swapped.1.0)) {
                a_swapped
            } else {
                b_swapped
            };
        if rank(&crossed) > rank(&straight) + 0.3 {
            swapped = true;
            crossed
        } else {
            straight
        }
    } else {
        straight
    };
    let (d, ds) = date_level(a.dob, b.dob);
    let (e, es) = exact_level(a.email(), b.email(), 2);
    let (p, ps) = phone_level(a.phone(), b.phone());
    let (pl, pls) = place_level(a, b);
    let (s, ss) = street_level(a, b);
    let (n, ns) = nid_level(a.nid(), b.nid());
    ([g, f, d, e, p, pl, s, n], [gs, fs, ds, es, ps, pls, ss, ns], swapped)
}

/// The levels of one pair.
pub fn compare(a: &Features, b: &Features) -> [u8; NF] {
    compare_full(a, b).0
}

fn pack(levels: &[u8; NF]) -> u32 {
    levels.iter().enumerate().fold(0, |acc, (i, l)| acc | (u32::from(*l) << (3 * i)))
}

fn unpack(p: u32) -> [u8; NF] {
    let mut out = [0u8; NF];
    for (i, o) in out.iter_mut().enumerate() {
        *o = ((p >> (3 * i)) & 7) as u8;
    }
    out
}

/// Whether `level` is field `f`'s top (exact) level, whose u is the value's
/// term frequency.
fn is_exact(f: usize, level: u8) -> bool {
    usize::from(level) + 1 == LEVELS[f]
}

// --------------------------------------------------------------------- model

type Table = [[f64; NL]; NF];

/// The model for pairs that share an address, a phone or an email: among
/// them, different people are mostly members of one household, who agree
/// on the family name and the household's contacts as often as records of
/// one person do, and differ in given name and birth date. So these pairs
/// are judged against household members, not against random strangers.
///
/// What the household shares (email, phone, address) is one joint field
/// here, [`contact_level`]: a family sharing a landline often shares the
/// address and the family email too, and counting each of them as separate
/// evidence would count the household three times.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Household {
    /// m and the household members' probabilities, per household field
    /// ([`HOUSEHOLD_FIELDS`]) and level.
    m: Vec<Vec<f64>>,
    h: Vec<Vec<f64>>,
    /// Share of such pairs that are one person.
    prior: f64,
}

/// The household model's fields: given name, family name, birth date,
/// national id (levels as in the main model) and the joint contact level.
const HOUSEHOLD_FIELDS: [usize; 5] = [GIVEN, FAMILY, DOB, NID, NF];
const HOUSEHOLD_LEVELS: [usize; 5] = [LEVELS[GIVEN], LEVELS[FAMILY], LEVELS[DOB], LEVELS[NID], 36];

/// Email (missing / different / same) × phone (missing / different / same)
/// × address (missing / elsewhere / same place / same dwelling), as one level.
fn contact_level(levels: &[u8; NF]) -> u8 {
    let e = levels[EMAIL];
    let p = match levels[PHONE] {
        0 => 0,
        3 => 2,
        _ => 1,
    };
    let a = if levels[STREET] >= 4 && levels[PLACE] >= 3 {
        3
    } else if levels[PLACE] >= 3 {
        2
    } else if levels[PLACE] == 0 && levels[STREET] == 0 {
        0
    } else {
        1
    };
    e * 12 + p * 4 + a
}

/// A pair's levels as the household model sees them.
fn household_levels(levels: &[u8; NF]) -> [u8; 5] {
    HOUSEHOLD_FIELDS.map(|f| if f == NF { contact_level(levels) } else { levels[f] })
}

/// The estimated model: per field and level, m and u; the prior; the term
/// frequencies of the scanned records; the household model.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Model {
    m: Table,
    u: Table,
    /// Prior probability that two random records are one person.
    pub lambda: f64,
    /// Expected number of matching pairs in the store (the prior's anchor).
    pub expected_matches: f64,
    /// Records scanned (for the prior of a request: one customer among N).
    pub records: usize,
    tf: Arc<TermFrequencies>,
    household: Option<Household>,
}

/// A pair's score: the evidence of each field in bits and the probability.
#[derive(Clone, Debug)]
pub struct Scored {
    pub probability: f64,
    pub prior_bits: f64,
    /// Judged as a pair sharing an address, phone or email.
    pub household: bool,
    pub bits: [f64; NF],
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Whether a pair shares what a household shares: a phone, an email, or a
/// dwelling (street number and street in one place).
fn shares_household(levels: &[u8; NF]) -> bool {
    levels[PHONE] == 3 || levels[EMAIL] == 2 || (levels[STREET] >= 4 && levels[PLACE] >= 3)
}

impl Model {
    /// Evidence of field `f` at `level` against random strangers, in
    /// natural log units; for an exact level the u is the share of records
    /// holding the value (`count`).
    fn weight(&self, f: usize, level: u8, count: u32) -> f64 {
        let l = usize::from(level);
        if l == 0 {
            return 0.0;
        }
        let m = self.m[f][l];
        let u = if is_exact(f, level) && count > 0 { self.tf.share(f, count).max(1e-12) } else { self.u[f][l] };
        (m / u).ln()
    }

    /// The prior (log odds) and each field's weight for one pair's levels.
    fn evidence(&self, levels: &[u8; NF], a: &Features, b: &Features, prior: f64) -> (f64, bool, [f64; NF]) {
        let mut w = [0.0; NF];
        if let Some(h) = self.household.as_ref().filter(|_| shares_household(levels)) {
            for (k, l) in household_levels(levels).into_iter().enumerate() {
                let l = usize::from(l);
                if l != 0 {
                    // The joint contact evidence is shown on the email line.
                    let f = if HOUSEHOLD_FIELDS[k] == NF { EMAIL } else { HOUSEHOLD_FIELDS[k] };
                    w[f] = (h.m[k][l] / h.h[k][l]).ln();
                }
            }
            return (logit(h.prior), true, w);
        }
        for f in 0..NF {
            let count = if is_exact(f, levels[f]) { a.tf[f].max(b.tf[f]) } else { 0 };
            w[f] = self.weight(f, levels[f], count);
        }
        (prior, false, w)
    }

    fn prior(&self) -> f64 {
        logit(self.lambda.clamp(1e-300, 0.5))
    }

    /// Whether `a` and `b` may be one person inside a cluster: probability
    /// at least `floor`, or no identifier that disagrees (birth date, email,
    /// phone, national id all missing, close or the same) and fields that
    /// on balance (without the prior) say one person.
    pub fn compatible(&self, a: &Features, b: &Features, floor: f64) -> bool {
        let levels = compare(a, b);
        let (prior, _, w) = self.evidence(&levels, a, b, self.prior());
        let evidence: f64 = w.iter().sum();
        if sigmoid(prior + evidence) >= floor {
            return true;
        }
        let contradicted = [DOB, EMAIL, PHONE, NID].iter().any(|&f| levels[f] == 1);
        !contradicted && evidence > 0.0
    }

    /// Probability that `a` and `b` are one person.
    pub fn probability(&self, a: &Features, b: &Features) -> f64 {
        let levels = compare(a, b);
        let (prior, _, w) = self.evidence(&levels, a, b, self.prior());
        sigmoid(prior + w.iter().sum::<f64>())
    }

    /// The score with each field's evidence, for explanations.
    pub fn score(&self, a: &Features, b: &Features) -> Scored {
        self.score_levels(&compare(a, b), a, b, self.prior())
    }

    fn score_levels(&self, levels: &[u8; NF], a: &Features, b: &Features, prior: f64) -> Scored {
        let (prior, household, w) = self.evidence(levels, a, b, prior);
        Scored {
            probability: sigmoid(prior + w.iter().sum::<f64>()),
            prior_bits: prior / std::f64::consts::LN_2,
            household,
            bits: w.map(|x| x / std::f64::consts::LN_2),
        }
    }

    /// Term frequencies of the scanned records, to annotate new features.
    pub fn term_frequencies(&self) -> &TermFrequencies {
        &self.tf
    }

    /// A model for when none could be estimated (a handful of records):
    /// agreement is strong evidence, disagreement fairly strong evidence
    /// against, and a match is rare.
    pub fn cautious(records: usize) -> Model {
        let mut m = [[0.0; NL]; NF];
        let mut u = [[0.0; NL]; NF];
        for f in 0..NF {
            let n = LEVELS[f];
            for l in 1..n {
                // m rises, u falls, towards the exact level.
                let step = (l as f64) / ((n - 1) as f64);
                m[f][l] = 0.02 + 0.9 * step.powi(3);
                u[f][l] = 0.9 * (1.0 - step).powi(2) + 0.001;
            }
        }
        normalise(&mut m);
        normalise(&mut u);
        let n = records.max(2) as f64;
        Model {
            m,
            u,
            lambda: 1.0 / n,
            expected_matches: n / 2.0,
            records,
            tf: Arc::new(TermFrequencies::default()),
            household: None,
        }
    }
}

/// Each field's present levels sum to 1 (level 0, missing, is neutral).
fn normalise(p: &mut Table) {
    for (f, row) in p.iter_mut().enumerate() {
        let total: f64 = row[1..LEVELS[f]].iter().sum();
        for x in row[1..LEVELS[f]].iter_mut() {
            *x /= total.max(1e-300);
        }
        row[0] = 1.0;
    }
}

/// A small deterministic generator (SplitMix64): a scan must not vary run to run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// u-probabilities from random record pairs (almost all of them pairs of
/// different people). Rare levels get half a pair of smoothing, which errs
/// towards weaker evidence.
fn estimate_u(features: &[Features], samples: usize) -> Table {
    let n = features.len();
    let mut rng = SplitMix(0x5eed_u64);
    let pairs: Vec<(u32, u32)> = (0..samples)
        .filter_map(|_| {
            let (a, b) = (rng.below(n), rng.below(n));
            (a != b).then_some((a as u32, b as u32))
        })
        .collect();
    let counts = pairs
        .par_chunks(4096)
        .map(|chunk| {
            let mut c = [[0u64; NL]; NF];
            for &(a, b) in chunk {
                for (f, l) in compare(&features[a as usize], &features[b as usize]).iter().enumerate() {
                    c[f][usize::from(*l)] += 1;
                }
            }
            c
        })
        .reduce(
            || [[0u64; NL]; NF],
            |mut x, y| {
                for f in 0..NF {
                    for l in 0..NL {
                        x[f][l] += y[f][l];
                    }
                }
                x
            },
        );
    let mut u = [[0.0; NL]; NF];
    for f in 0..NF {
        for l in 1..LEVELS[f] {
            u[f][l] = counts[f][l] as f64 + 0.5;
        }
    }
    normalise(&mut u);
    u
}

/// Distinct comparison patterns of some pairs and how often each occurs.
fn patterns(
    features: &[Features],
    pairs: &[(u32, u32)],
    keep: impl Fn(&[u8; NF]) -> bool + Sync,
) -> Vec<([u8; NF], f64)> {
    let packed: Vec<u32> = pairs
        .par_iter()
        .filter_map(|&(a, b)| {
            let l = compare(&features[a as usize], &features[b as usize]);
            keep(&l).then(|| pack(&l))
        })
        .collect();
    let mut counts: FxHashMap<u32, f64> = FxHashMap::default();
    for p in packed {
        *counts.entry(p).or_default() += 1.0;
    }
    counts.into_iter().map(|(p, c)| (unpack(p), c)).collect()
}

/// A two-class mixture fitted by EM: one person (m) or not (n), each
/// field's levels independent within a class. Both classes are free, each
/// pulled towards a prior table by `strength` pseudo-pairs, so that a class
/// with little data stays near what is known and a class with much data
/// follows it. Fields whose prior is `None` take no part.
struct Mixture {
    m: Vec<Vec<f64>>,
    n: Vec<Vec<f64>>,
    /// Share of the pairs that are one person, and their expected number.
    share: f64,
    matched: f64,
    log_likelihood: f64,
}

/// A field's table, present levels summing to 1, level 0 (missing) neutral.
fn normalised(mut row: Vec<f64>) -> Vec<f64> {
    let total: f64 = row[1..].iter().sum();
    for x in row[1..].iter_mut() {
        *x /= total.max(1e-300);
    }
    row[0] = 1.0;
    row
}

struct Class<'a> {
    start: Vec<Vec<f64>>,
    prior: Vec<Option<&'a [f64]>>,
    strength: f64,
}

fn em(pats: &[(Vec<u8>, f64)], m: Class, n: Class) -> Mixture {
    let total: f64 = pats.iter().map(|(_, c)| c).sum();
    let fields = m.start.len();
    let on: Vec<bool> = (0..fields).map(|f| m.prior[f].is_some()).collect();
    let (mut mt, mut nt) = (m.start.clone(), n.start.clone());
    let mut share = 0.5f64;
    let mut matched = 0.0;
    let mut log_likelihood = 0.0;
    if total < 1.0 {
        return Mixture { m: mt, n: nt, share: 0.0, matched: 0.0, log_likelihood: f64::NEG_INFINITY };
    }
    for _ in 0..300 {
        let mut mc: Vec<Vec<f64>> = mt.iter().map(|r| vec![0.0; r.len()]).collect();
        let mut nc = mc.clone();
        matched = 0.0;
        log_likelihood = 0.0;
        for (levels, count) in pats {
            let (mut lm, mut ln) = (share.ln(), (1.0 - share).ln());
            for f in 0..fields {
                let l = usize::from(levels[f]);
                if l != 0 && on[f] {
                    lm += mt[f][l].ln();
                    ln += nt[f][l].ln();
                }
            }
            let top = lm.max(ln);
            log_likelihood += count * (top + ((lm - top).exp() + (ln - top).exp()).ln());
            let p = sigmoid(lm - ln);
            matched += p * count;
            for f in 0..fields {
                let l = usize::from(levels[f]);
                if l != 0 {
                    mc[f][l] += p * count;
                    nc[f][l] += (1.0 - p) * count;
                }
            }
        }
        let mut shift = 0.0f64;
        for f in 0..fields {
            let (Some(mp), Some(np)) = (m.prior[f], n.prior[f]) else { continue };
            let next_m = normalised((0..mt[f].len()).map(|l| mc[f][l] + m.strength * mp[l] + 1e-3).collect());
            let next_n = normalised((0..nt[f].len()).map(|l| nc[f][l] + n.strength * np[l] + 1e-3).collect());
            for l in 1..mt[f].len() {
                shift = shift.max((next_m[l] - mt[f][l]).abs()).max((next_n[l] - nt[f][l]).abs());
            }
            mt[f] = next_m;
            nt[f] = next_n;
        }
        let new_share = (matched / total).clamp(1e-9, 1.0 - 1e-9);
        let done = (new_share - share).abs() < 1e-7 && shift < 1e-6;
        share = new_share;
        if done {
            break;
        }
    }
    Mixture { m: mt, n: nt, share, matched, log_likelihood }
}

/// [`em`] from several starts of the "not one person" class, keeping the
/// fit that explains the pairs best (EM finds a local optimum: started
/// from strangers, it may take twins for one person).
fn em_best(
    pats: &[(Vec<u8>, f64)],
    m: Class,
    n_starts: Vec<Vec<Vec<f64>>>,
    n_prior: Vec<Option<&[f64]>>,
    n_strength: f64,
) -> Mixture {
    let mut best: Option<Mixture> = None;
    for start in n_starts {
        let fit = em(
            pats,
            Class { start: m.start.clone(), prior: m.prior.clone(), strength: m.strength },
            Class { start, prior: n_prior.clone(), strength: n_strength },
        );
        if best.as_ref().is_none_or(|b| fit.log_likelihood > b.log_likelihood + 1e-9) {
            best = Some(fit);
        }
    }
    best.unwrap_or(Mixture { m: m.start, n: Vec::new(), share: 0.0, matched: 0.0, log_likelihood: 0.0 })
}

/// Level counts of some patterns, per field, normalised (a starting table
/// shaped like the data).
fn empirical(pats: &[(Vec<u8>, f64)], sizes: &[usize]) -> Vec<Vec<f64>> {
    let mut t: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![1e-3; n]).collect();
    for (levels, c) in pats {
        for (f, l) in levels.iter().enumerate() {
            t[f][usize::from(*l)] += c;
        }
    }
    t.into_iter().map(normalised).collect()
}

fn rows(t: &Table) -> Vec<Vec<f64>> {
    (0..NF).map(|f| t[f][..LEVELS[f]].to_vec()).collect()
}

/// Pairs of records sharing `key`, at most about `cap` of them, spread over
/// the blocks (sampled down when there are more).
fn session_pairs(
    features: &[Features],
    key: &(dyn Fn(&Features) -> Option<u64> + Sync),
    cap: usize,
) -> Vec<(u32, u32)> {
    let mut keyed: Vec<(u64, u32)> =
        features.par_iter().enumerate().filter_map(|(i, f)| key(f).map(|k| (k, i as u32))).collect();
    keyed.par_sort_unstable();
    let mut blocks: Vec<&[(u64, u32)]> = Vec::new();
    let mut i = 0;
    while i < keyed.len() {
        let mut j = i + 1;
        while j < keyed.len() && keyed[j].0 == keyed[i].0 {
            j += 1;
        }
        if j - i > 1 {
            blocks.push(&keyed[i..j]);
        }
        i = j;
    }
    let total: usize = blocks.iter().map(|b| b.len() * (b.len() - 1) / 2).sum();
    let keep = if total <= cap { 1.0 } else { cap as f64 / total as f64 };
    let mut rng = SplitMix(0x7ea1_u64);
    let mut out = Vec::with_capacity(total.min(cap) + 1024);
    for b in blocks {
        for (x, &(_, a)) in b.iter().enumerate() {
            for &(_, c) in &b[x + 1..] {
                if keep >= 1.0 || rng.unit() < keep {
                    out.push((a, c));
                }
            }
        }
    }
    out
}

/// The starting m: records of one person mostly agree exactly.
fn starting_m() -> Table {
    let mut m = [[0.0; NL]; NF];
    for f in 0..NF {
        let n = LEVELS[f];
        for l in 1..n {
            m[f][l] = if l == n - 1 { 0.8 } else { 0.2 / (n - 2) as f64 };
        }
    }
    normalise(&mut m);
    m
}

/// Key hash for training blocks.
fn hash_parts(parts: &[&[u8]]) -> u64 {
    use std::hash::Hasher;
    let mut s = FxHasher::default();
    for p in parts {
        s.write(p);
        s.write_u8(0xfe);
    }
    s.finish()
}

/// Share of records with each field present.
fn presence(features: &[Features]) -> [f64; NF] {
    let mut c = [0u64; NF];
    for x in features {
        c[GIVEN] += u64::from(!x.given().is_empty());
        c[FAMILY] += u64::from(!x.family().is_empty());
        c[DOB] += u64::from(x.dob.is_some());
        c[EMAIL] += u64::from(x.email().is_some());
        c[PHONE] += u64::from(x.phone().is_some());
        c[PLACE] += u64::from(!x.postcode().is_empty() || !x.locality().is_empty());
        c[STREET] += u64::from(!x.street().is_empty());
        c[NID] += u64::from(x.nid().is_some());
    }
    c.map(|v| v as f64 / features.len().max(1) as f64)
}

/// Rules that almost only records of one person satisfy; the prior is the
/// number of pairs they find divided by their estimated recall.
const RULES: [&[usize]; 4] = [&[EMAIL], &[PHONE, DOB], &[NID], &[GIVEN, FAMILY, DOB]];

/// Pairs satisfying any of [`RULES`] (values shared by more than `max_group`
/// records are placeholders, not identifiers, and are left out).
fn rule_pairs(features: &[Features], max_group: usize) -> usize {
    let mut pairs: Vec<u64> = Vec::new();
    for rule in RULES {
        let mut keyed: Vec<(u64, u32)> = features
            .par_iter()
            .enumerate()
            .filter_map(|(i, x)| {
                let mut bytes = Vec::with_capacity(8 * rule.len());
                for &f in rule {
                    bytes.extend_from_slice(&x.tf_key(f)?.to_le_bytes());
                }
                Some((hash_parts(&[&bytes]), i as u32))
            })
            .collect();
        keyed.par_sort_unstable();
        let mut i = 0;
        while i < keyed.len() {
            let mut j = i + 1;
            while j < keyed.len() && keyed[j].0 == keyed[i].0 {
                j += 1;
            }
            if j - i > 1 && j - i <= max_group {
                for x in i..j {
                    for y in x + 1..j {
                        let (a, b) = (keyed[x].1.min(keyed[y].1), keyed[x].1.max(keyed[y].1));
                        pairs.push((u64::from(a) << 32) | u64::from(b));
                    }
                }
            }
            i = j;
        }
    }
    pairs.par_sort_unstable();
    pairs.dedup();
    pairs.len()
}

/// A training block: records agreeing exactly on all of `fields`.
fn exact_key(fields: &'static [usize]) -> impl Fn(&Features) -> Option<u64> + Sync {
    move |x: &Features| {
        let mut bytes = Vec::with_capacity(8 * fields.len());
        for &f in fields {
            // Names in either order, so swapped names share the key.
            if f == GIVEN {
                let (a, b) = (x.tf_key(GIVEN)?, x.tf_key(FAMILY)?);
                bytes.extend_from_slice(&a.min(b).to_le_bytes());
                bytes.extend_from_slice(&a.max(b).to_le_bytes());
            } else if f != FAMILY {
                bytes.extend_from_slice(&x.tf_key(f)?.to_le_bytes());
            }
        }
        Some(hash_parts(&[&bytes]))
    }
}

/// The training sessions: each blocks on fields that together almost
/// identify a person, and estimates the m of every other field.
const SESSIONS: [&[usize]; 8] = [
    &[GIVEN, FAMILY, DOB],
    &[GIVEN, FAMILY, EMAIL],
    &[GIVEN, FAMILY, PHONE],
    &[DOB, EMAIL],
    &[DOB, PHONE],
    &[DOB, PLACE],
    // Names at one dwelling (not just one postcode: namesakes gather in
    // places, and a block of them would teach EM that a shared name with
    // different birth dates is one person).
    &[GIVEN, FAMILY, PLACE, STREET],
    &[NID],
];

/// Estimates the model from the records being scanned.
pub fn estimate(features: &[Features], tf: Arc<TermFrequencies>) -> Model {
    let n = features.len();
    if n < 20 {
        return Model { tf, ..Model::cautious(n) };
    }
    let trace = std::env::var_os("STEWARD_TRACE").is_some();
    // u from random pairs: enough that a level shared by one pair in ten
    // thousand is seen dozens of times.
    let samples = n.clamp(50_000, 600_000);
    let u = estimate_u(features, samples);
    // m: in each session, pairs that agree on a few fields which together
    // almost identify a person are split by EM into records of one person
    // and strangers who happen to agree there (u fixed, from random pairs,
    // as in Splink); the other fields' levels among the first are their m.
    let start = starting_m();
    let cap = 100_000;
    let runs: Vec<(&[usize], Mixture)> = SESSIONS
        .par_iter()
        .map(|&blocked| {
            let key = exact_key(blocked);
            let pairs = session_pairs(features, &key, cap);
            let pats: Vec<(Vec<u8>, f64)> =
                patterns(features, &pairs, |_| true).into_iter().map(|(l, c)| (l.to_vec(), c)).collect();
            let start_rows = rows(&start);
            let u_rows = rows(&u);
            let m_prior: Vec<Option<&[f64]>> =
                (0..NF).map(|f| (!blocked.contains(&f)).then_some(&start_rows[f][..])).collect();
            let n_prior: Vec<Option<&[f64]>> =
                (0..NF).map(|f| (!blocked.contains(&f)).then_some(&u_rows[f][..])).collect();
            let fit = em(
                &pats,
                Class { start: start_rows.clone(), prior: m_prior, strength: 1.0 },
                Class { start: u_rows.clone(), prior: n_prior, strength: 1e12 },
            );
            (blocked, fit)
        })
        .collect();
    // Each field's m: the sessions that estimated it, weighted by the
    // matches each found; a field no session could estimate keeps the start.
    let mut m = [[0.0; NL]; NF];
    for f in 0..NF {
        let mut weight = 0.0;
        for (blocked, mix) in &runs {
            if !blocked.contains(&f) && mix.matched >= 5.0 {
                for l in 1..LEVELS[f] {
                    m[f][l] += mix.m[f][l] * mix.matched;
                }
                weight += mix.matched;
            }
        }
        if weight == 0.0 {
            m[f] = start[f];
        }
    }
    normalise(&mut m);
    // The prior: pairs the rules find, over their recall.
    let present = presence(features);
    let found = rule_pairs(features, 32) as f64;
    let recall = {
        let miss: f64 = RULES
            .iter()
            .map(|rule| {
                let p: f64 = rule.iter().map(|&f| m[f][LEVELS[f] - 1] * present[f] * present[f]).product();
                1.0 - p
            })
            .product();
        (1.0 - miss).clamp(0.02, 1.0)
    };
    let all_pairs = n as f64 * (n as f64 - 1.0) / 2.0;
    let expected = if found > 0.0 { found / recall } else { n as f64 / 2.0 };
    let lambda = (expected / all_pairs).clamp(1e-15, 0.5);
    // Households: pairs sharing a phone, an email or a dwelling, judged on
    // their own model.
    let household = {
        let mut pairs = Vec::new();
        for key in [exact_key(&[PHONE]), exact_key(&[EMAIL]), exact_key(&[PLACE, STREET])] {
            pairs.extend(session_pairs(features, &key, cap));
        }
        pairs.par_sort_unstable();
        pairs.dedup();
        let pats: Vec<(Vec<u8>, f64)> = patterns(features, &pairs, shares_household)
            .into_iter()
            .map(|(l, c)| (household_levels(&l).to_vec(), c))
            .collect();
        let count: f64 = pats.iter().map(|(_, c)| c).sum();
        // One person's records: the main m for the personal fields, the
        // data's own shape for the joint contacts (pulled weakly).
        let seen = empirical(&pats, &HOUSEHOLD_LEVELS);
        let m_start: Vec<Vec<f64>> = HOUSEHOLD_FIELDS
            .iter()
            .enumerate()
            .map(|(k, &f)| if f == NF { seen[k].clone() } else { m[f][..LEVELS[f]].to_vec() })
            .collect();
        let u_rows = rows(&u);
        // Household members: strangers in what a person has alone, the
        // data's own shape in what a household shares; or the data's shape
        // throughout. The better fit wins.
        let h_start: Vec<Vec<f64>> = HOUSEHOLD_FIELDS
            .iter()
            .enumerate()
            .map(|(k, &f)| if f == NF || f == FAMILY { seen[k].clone() } else { u_rows[f].clone() })
            .collect();
        let m_prior: Vec<Option<&[f64]>> = m_start.iter().map(|r| Some(&r[..])).collect();
        let h_prior: Vec<Option<&[f64]>> = h_start.iter().map(|r| Some(&r[..])).collect();
        let fit = em_best(
            &pats,
            Class { start: m_start.clone(), prior: m_prior, strength: 500.0 },
            vec![h_start.clone(), seen.clone()],
            h_prior,
            20.0,
        );
        // Only where the data has households: when nearly every pair that
        // shares an address or contact is one person (a file without
        // families), the few others are left to the main model, which has
        // far more data to judge them by.
        let others = count - fit.matched;
        if trace {
            eprintln!("    household pairs {count:.0}, of them different people {others:.0}");
        }
        (others >= 20.0 && others >= 0.01 * count).then_some(Household {
            m: fit.m,
            h: fit.n,
            prior: fit.share.clamp(1e-6, 1.0 - 1e-6),
        })
    };
    if trace {
        eprintln!(
            "    model: rule pairs {found}, recall {recall:.3}, expected matches {expected:.0}, prior {lambda:.3e}, \
             sessions {:?}",
            runs.iter().map(|r| r.1.matched.round()).collect::<Vec<_>>()
        );
        for f in 0..NF {
            let bits: Vec<String> = (1..LEVELS[f])
                .map(|l| format!("{:.3}/{:.2e}={:+.1}", m[f][l], u[f][l], (m[f][l] / u[f][l]).log2()))
                .collect();
            eprintln!("    {:<14} {}", FIELDS[f], bits.join("  "));
        }
        if let Some(h) = &household {
            eprintln!("    household prior {:.3}", h.prior);
            for (k, &f) in HOUSEHOLD_FIELDS.iter().enumerate() {
                let bits: Vec<String> = (1..HOUSEHOLD_LEVELS[k])
                    .filter(|&l| h.m[k][l] > 0.002 || h.h[k][l] > 0.002)
                    .map(|l| format!("{l}:{:.3}/{:.3}={:+.1}", h.m[k][l], h.h[k][l], (h.m[k][l] / h.h[k][l]).log2()))
                    .collect();
                eprintln!("    {:<14} {}", FIELDS.get(f).copied().unwrap_or("contacts"), bits.join("  "));
            }
        }
    }
    Model { m, u, lambda, expected_matches: expected, records: n, tf, household }
}

// ------------------------------------------------------------------ blocking

/// How large a block of each kind of pass is compared in full, and the
/// sliding window over a larger one (each record meets the `window - 1`
/// records after it in the block's order). A key whose values are few (a
/// common name's sound, a street) makes blocks that grow with the store:
/// without a window the pairs would grow with its square.
#[derive(Clone, Copy)]
enum Reach {
    /// Identifiers (email, phone, national id): a large block is a shared
    /// or placeholder value.
    Identifier,
    /// Birth date or postcode with something else.
    Narrow,
    /// The birth date with the start or sound of one name, or with the
    /// locality: in a small store compared in full (a typo in the other
    /// name still meets), but in a large one these keys are shared by
    /// strangers and their pairs would grow with the square of the store.
    /// A block larger than [`split_full`] is split by the first byte of
    /// its order (the other name's initial) into `Narrow` blocks.
    Split,
    /// A common name, a long street.
    Broad,
}

impl Reach {
    const fn limits(self) -> (usize, usize) {
        match self {
            Reach::Identifier => (24, 8),
            Reach::Narrow | Reach::Split => (8, 4),
            Reach::Broad => (6, 2),
        }
    }

    const fn tag(self) -> u64 {
        match self {
            Reach::Identifier => 0,
            Reach::Narrow => 1,
            Reach::Broad => 2,
            Reach::Split => 3,
        }
    }

    fn of_key(key: u64) -> Reach {
        match key >> 62 {
            0 => Reach::Identifier,
            1 => Reach::Narrow,
            2 => Reach::Broad,
            _ => Reach::Split,
        }
    }
}

/// A blocking key, and where a record sits inside a large block.
struct Key {
    key: u64,
    order: u32,
}

/// (key, order, record): one record under one key.
type Entry = (u64, u32, u32);

/// Up to 4 bytes of `s` as a big-endian number: sorting by it sorts by the
/// start of `s`.
fn prefix_order(s: &str) -> u32 {
    let mut b = [0u8; 4];
    for (i, c) in s.bytes().take(4).enumerate() {
        b[i] = c;
    }
    u32::from_be_bytes(b)
}

/// The blocking passes: each gives zero or more keys per record.
pub const PASSES: [&str; 10] = [
    "email",
    "phone",
    "national id",
    "birth date + a name's sound, locality or postcode",
    "names sound",
    "family sound + initial + place",
    "postcode + street number",
    "street + locality",
    "email local part",
    "family + postcode",
];

/// Up to which size a split block (see [`Reach::Split`]) is compared in
/// full. In a small store a split key is shared mostly by one person's
/// records (clusters of up to 6 or so are compared whole); in a large one
/// by strangers as well. How many strangers share such a key with a record
/// is measured on the store itself: a sample of records with their birth
/// date moved by one day (one person's records seldom differ by exactly a
/// day, strangers born a day apart are as common as strangers born the
/// same day) looked up among the keys. The full size keeps the strangers'
/// pairs per record near `SPLIT_PAIR_BUDGET`.
fn split_full(features: &[Features], keys: &[Entry]) -> usize {
    let step = (features.len() / 20_000).max(1);
    let (mut looked, mut found) = (0u64, 0u64);
    let mut out = Vec::new();
    for x in features.iter().step_by(step) {
        let Some(d) = x.dob else { continue };
        let mut moved = x.clone();
        moved.dob = Some(DateParts { day: if d.day < 28 { d.day + 1 } else { d.day - 1 }, ..d });
        out.clear();
        pass_keys(&moved, SPLIT_PASS, &mut out);
        for k in &out {
            let lo = keys.partition_point(|e| e.0 < k.key);
            let hi = keys.partition_point(|e| e.0 <= k.key);
            looked += 1;
            found += (hi - lo) as u64;
        }
    }
    let strangers = found as f64 / looked.max(1) as f64;
    if std::env::var_os("STEWARD_TRACE").is_some() {
        eprintln!("split: {strangers:.3} strangers per key");
    }
    ((SPLIT_PAIR_BUDGET / strangers.max(0.01)).floor() as usize).clamp(3, 8)
}

/// The pass whose blocks are split.
const SPLIT_PASS: usize = 3;
const SPLIT_PAIR_BUDGET: f64 = 2.0;

/// The reach of each pass's blocks.
const REACH: [Reach; 10] = [
    Reach::Identifier,
    Reach::Identifier,
    Reach::Identifier,
    Reach::Split,
    Reach::Broad,
    Reach::Broad,
    Reach::Narrow,
    Reach::Broad,
    Reach::Broad,
    Reach::Broad,
];

/// Builds one blocking key: a hash of the pass and its parts.
struct KeyHash(FxHasher);

impl KeyHash {
    fn new(pass: usize) -> KeyHash {
        use std::hash::Hasher;
        let mut h = FxHasher::default();
        h.write_u8(pass as u8);
        KeyHash(h)
    }

    fn part(mut self, b: &[u8]) -> KeyHash {
        use std::hash::Hasher;
        self.0.write(b);
        self.0.write_u8(0xfe);
        self
    }

    /// The first `n` bytes of `s` that are not spaces (typos insert and drop spaces).
    fn head(mut self, s: &str, n: usize) -> KeyHash {
        use std::hash::Hasher;
        for b in s.bytes().filter(|b| *b != b' ').take(n) {
            self.0.write_u8(b);
        }
        self.0.write_u8(0xfe);
        self
    }

    /// The key; its top two bits say its pass's reach (see `pairs_from`).
    fn finish(self, pass: usize) -> u64 {
        use std::hash::Hasher;
        (self.0.finish() >> 2) | REACH[pass].tag() << 62
    }
}

fn pass_keys(x: &Features, pass: usize, out: &mut Vec<Key>) {
    let k = || KeyHash::new(pass);
    let name_order = prefix_order(x.family()) ^ (prefix_order(x.given()) >> 16);
    let (sx_given, sx_family) = (&x.sound[0][..], &x.sound[1][..]);
    match pass {
        0 => {
            if let Some(e) = x.email() {
                out.push(Key { key: k().part(e.as_bytes()).finish(pass), order: name_order });
            }
        }
        1 => {
            if let Some(p) = x.phone() {
                out.push(Key { key: k().part(p.as_bytes()).finish(pass), order: name_order });
            }
        }
        2 => {
            if let Some(n) = x.nid() {
                out.push(Key { key: k().part(n.as_bytes()).finish(pass), order: name_order });
            }
        }
        3 => {
            if let Some(d) = x.dob {
                let y = d.year.to_le_bytes();
                let date = [y[0], y[1], d.month, d.day];
                // The birth date with one other thing that is seldom wrong at
                // the same time: the sound or start of either name (swapped
                // names, a changed family name and a typo'd given name all
                // still meet), the start of the locality, the postcode.
                let order = prefix_order(x.postcode());
                let with = |tag: &[u8]| k().part(&date).part(tag);
                // A large block is split by the other name's initial (see
                // `Reach::Split`): the block's order starts with it.
                let split = |other: &str| (u32::from(other.bytes().next().unwrap_or(0)) << 24) | (order >> 8);
                for (n, sx, other) in [(x.given(), sx_given, x.family()), (x.family(), sx_family, x.given())] {
                    if !n.is_empty() {
                        out.push(Key { key: with(b"n").head(n, 2).finish(pass), order: split(other) });
                    }
                    if sx[0] != 0 {
                        out.push(Key { key: with(b"s").part(sx).finish(pass), order: split(other) });
                    }
                }

                if !x.locality().is_empty() {
                    out.push(Key { key: with(b"l").head(x.locality(), 4).finish(pass), order: split(x.given()) });
                }

                if !x.postcode().is_empty() {
                    out.push(Key { key: with(b"p").part(x.postcode().as_bytes()).finish(pass), order: name_order });
                }
            }
        }
        4 if sx_given[0] != 0 && sx_family[0] != 0 => {
            let (p, q) = if sx_given <= sx_family { (sx_given, sx_family) } else { (sx_family, sx_given) };
            let order = prefix_order(x.postcode()) ^ (prefix_order(x.street()) >> 16);
            out.push(Key { key: k().part(p).part(q).finish(pass), order });
        }
        5 => {
            let place: &str = if x.postcode().is_empty() { x.locality() } else { x.postcode() };
            if sx_family[0] != 0 && !x.given().is_empty() && !place.is_empty() {
                out.push(Key {
                    key: k().part(sx_family).head(x.given(), 1).part(place.as_bytes()).finish(pass),
                    order: prefix_order(x.street()),
                });
            }
        }
        6 if !x.postcode().is_empty() && !x.street_no().is_empty() => {
            let key = k().part(x.postcode().as_bytes()).part(x.street_no().as_bytes()).finish(pass);
            out.push(Key { key, order: name_order });
        }
        7 if !x.street().is_empty() && !x.locality().is_empty() => {
            let order = prefix_order(x.street_no()) ^ (name_order >> 16);
            out.push(Key { key: k().head(x.street(), 6).head(x.locality(), 4).finish(pass), order });
        }
        8 => {
            if let Some((local, _)) = x.email().and_then(|e| e.rsplit_once('@'))
                && local.len() >= 4
            {
                out.push(Key { key: k().part(local.as_bytes()).finish(pass), order: name_order });
            }
        }
        9 if !x.family().is_empty() && !x.postcode().is_empty() => {
            let order = prefix_order(x.street()) ^ (prefix_order(x.given()) >> 16);
            out.push(Key { key: k().head(x.family(), 4).part(x.postcode().as_bytes()).finish(pass), order });
        }
        _ => {}
    }
}

/// Every key of every record, sorted.
fn all_keys(features: &[Features]) -> Vec<Entry> {
    keys_of_passes(features, &(0..PASSES.len()).collect::<Vec<_>>())
}

/// The keys of some passes only (for measuring what each pass adds).
fn keys_of_passes(features: &[Features], passes: &[usize]) -> Vec<Entry> {
    let mut keys: Vec<Entry> = features
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, x)| {
            let mut out = Vec::with_capacity(16);
            for &pass in passes {
                pass_keys(x, pass, &mut out);
            }
            out.into_iter().map(move |k| (k.key, k.order, i as u32))
        })
        .collect();
    keys.par_sort_unstable();
    keys
}

/// Pairs from sorted keys: every pair of a small block, a window over a
/// large one. Returns the pairs (sorted, unique) and the number of blocks
/// compared as a window.
fn pairs_from<'a>(keys: &'a [Entry], split_full: usize) -> (Vec<(u32, u32)>, usize) {
    let mut blocks: Vec<&[Entry]> = Vec::new();
    let mut start = 0;
    for i in 1..=keys.len() {
        if i == keys.len() || keys[i].0 != keys[start].0 {
            if i - start > 1 {
                blocks.push(&keys[start..i]);
            }
            start = i;
        }
    }
    // A split block's parts: runs of the same first byte of the order.
    let split = |b: &'a [Entry]| -> Vec<&'a [Entry]> {
        if b.len() <= split_full {
            return vec![b];
        }
        b.chunk_by(|x, y| x.1 >> 24 == y.1 >> 24).filter(|part| part.len() > 1).collect()
    };
    let blocks: Vec<&[Entry]> = blocks
        .into_iter()
        .flat_map(|b| if matches!(Reach::of_key(b[0].0), Reach::Split) { split(b) } else { vec![b] })
        .collect();
    let limits = |b: &[Entry]| Reach::of_key(b[0].0).limits();
    let windowed = blocks.iter().filter(|b| b.len() > limits(b).0).count();
    let mut pairs: Vec<u64> = blocks
        .into_par_iter()
        .flat_map_iter(|b| {
            let (full, window) = limits(b);
            let reach = if b.len() > full { window } else { b.len() };
            let mut out = Vec::with_capacity(b.len() * reach.min(b.len()));
            for (x, &(_, _, a)) in b.iter().enumerate() {
                for &(_, _, c) in b[x + 1..].iter().take(reach - 1) {
                    if a != c {
                        let (lo, hi) = if a < c { (a, c) } else { (c, a) };
                        out.push((u64::from(lo) << 32) | u64::from(hi));
                    }
                }
            }
            out
        })
        .collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    (pairs.into_iter().map(|p| ((p >> 32) as u32, p as u32)).collect(), windowed)
}

/// Candidate pairs from blocking (sorted, unique) and the number of blocks
/// compared as a window.
pub fn candidate_pairs(features: &[Features]) -> (Vec<(u32, u32)>, usize) {
    let keys = all_keys(features);
    pairs_from(&keys, split_full(features, &keys))
}

/// Candidate pairs of some blocking passes only (indices into [`PASSES`]).
pub fn candidate_pairs_of(features: &[Features], passes: &[usize]) -> Vec<(u32, u32)> {
    let keys = keys_of_passes(features, passes);
    pairs_from(&keys, split_full(features, &all_keys(features))).0
}

/// Every record under each of its blocking keys, kept after a scan so that
/// one changed record, or a requester, is compared with its blocks alone.
#[derive(Clone, Debug, Default)]
pub struct BlockIndex {
    /// (key, order, record), sorted.
    sorted: Vec<Entry>,
    /// Keys of records changed since the index was built: key → records.
    added: rustc_hash::FxHashMap<u64, Vec<u32>>,
}

impl BlockIndex {
    pub fn build(features: &[Features]) -> BlockIndex {
        BlockIndex { sorted: all_keys(features), added: Default::default() }
    }

    /// Records sharing a blocking key with `f` (which is record `me`, or
    /// `u32::MAX` for a requester), at most `per_block` from each block
    /// (the nearest in the block's order).
    pub fn neighbours(&mut self, me: u32, f: &Features, per_block: usize) -> Vec<u32> {
        let out = self.lookup(me, f, per_block);
        if me != u32::MAX {
            let mut keys = Vec::new();
            for pass in 0..PASSES.len() {
                pass_keys(f, pass, &mut keys);
            }
            for k in keys {
                let at = self.added.entry(k.key).or_default();
                if !at.contains(&me) {
                    at.push(me);
                }
            }
        }
        out
    }

    /// Follows records moving: `map[old]` is a record's new index, or
    /// `u32::MAX` when it is gone.
    pub fn remap(&mut self, map: &[u32]) {
        let to = |r: u32| map.get(r as usize).copied().unwrap_or(u32::MAX);
        self.sorted.retain_mut(|e| {
            e.2 = to(e.2);
            e.2 != u32::MAX
        });
        for records in self.added.values_mut() {
            records.retain_mut(|r| {
                *r = to(*r);
                *r != u32::MAX
            });
        }
    }

    /// [`BlockIndex::neighbours`] without remembering `f`'s keys.
    pub fn lookup(&self, me: u32, f: &Features, per_block: usize) -> Vec<u32> {
        let mut keys = Vec::new();
        for pass in 0..PASSES.len() {
            pass_keys(f, pass, &mut keys);
        }
        let mut out = Vec::new();
        for k in keys {
            let lo = self.sorted.partition_point(|(x, _, _)| *x < k.key);
            let hi = self.sorted.partition_point(|(x, _, _)| *x <= k.key);
            let block = &self.sorted[lo..hi];
            if block.len() <= per_block {
                out.extend(block.iter().map(|e| e.2));
            } else {
                // The nearest members in the block's order.
                let at = block.partition_point(|(_, o, _)| *o < k.order);
                let from = at.saturating_sub(per_block / 2);
                out.extend(block[from..(from + per_block).min(block.len())].iter().map(|e| e.2));
            }
            out.extend(self.added.get(&k.key).into_iter().flatten().copied());
        }
        out.retain(|i| *i != me);
        out.sort_unstable();
        out.dedup();
        out
    }
}

// ---------------------------------------------------------------- clustering

/// How one field of two records compares, for explanations.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FieldComparison {
    pub field: &'static str,
    /// `same`, `similar`, `nickname`, `initial`, `close`, `different` or
    /// `missing` (`prior` for the base rate line).
    pub status: &'static str,
    pub similarity: f64,
    /// Evidence in bits: positive for one person, negative for two.
    pub bits: f64,
}

fn status(field: usize, level: u8, a: &Features, b: &Features, swapped: bool) -> &'static str {
    let top = LEVELS[field] as u8 - 1;
    match (field, level) {
        (_, 0) => "missing",
        (_, 1) => "different",
        (_, l) if l == top => "same",
        (GIVEN, 2) => "initial",
        (GIVEN, 4) => {
            let related = if swapped {
                normalize::related_given(a.family(), b.given()) || normalize::related_given(a.given(), b.family())
            } else {
                normalize::related_given(a.given(), b.given())
            };
            if related { "nickname" } else { "similar" }
        }
        (DOB | PHONE | NID, _) => "close",
        (PLACE, 3) => "close",
        (PLACE, 2) => "same locality",
        (STREET, 4) => "same number, similar street",
        (STREET, 3) => "same street",
        _ => "similar",
    }
}

/// Explains a pair field by field: the prior, then each field's evidence.
pub fn explain(model: &Model, a: &Features, b: &Features) -> Vec<FieldComparison> {
    let (levels, sims, swapped) = compare_full(a, b);
    let scored = model.score(a, b);
    let mut out = vec![FieldComparison {
        field: "prior",
        status: if scored.household { "shared household" } else { "prior" },
        similarity: 0.0,
        bits: (scored.prior_bits * 10.0).round() / 10.0,
    }];
    out.extend(FIELDS.iter().enumerate().map(|(f, field)| FieldComparison {
        field,
        status: status(f, levels[f], a, b, swapped),
        similarity: (sims[f] * 100.0).round() / 100.0,
        bits: (scored.bits[f] * 10.0).round() / 10.0,
    }));
    out
}

/// A cluster of records that are the same person.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Indices into the scanned records, ascending.
    pub members: Vec<u32>,
    /// The weakest pairwise match probability inside the cluster.
    pub score: f64,
}

/// Largest cluster reported.
pub const MAX_CLUSTER: usize = 12;

/// Statistics of a duplicate scan.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DuplicateStats {
    pub candidate_pairs: usize,
    /// Always 0: no block is skipped any more (large ones are windowed).
    pub skipped_blocks: usize,
    /// Blocks too large to compare in full, compared as a sliding window.
    pub windowed_blocks: usize,
    pub matched_pairs: usize,
    /// The prior: probability that two random records are one person.
    pub match_share: f64,
    /// Matching pairs the prior expects in the store.
    pub expected_matches: f64,
    /// Pairs left apart because a reviewer said they are different people.
    pub kept_apart: usize,
}

/// Settings of a duplicate scan.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub match_probability: f64,
    pub cluster_probability: f64,
}

/// Pairs of records that must not be clustered (a reviewer's "not the same
/// person"), as (lower index, higher index).
pub type Apart = FxHashSet<(u32, u32)>;

fn ordered(a: u32, b: u32) -> (u32, u32) {
    if a < b { (a, b) } else { (b, a) }
}

/// What a duplicate scan keeps for later: the clusters, the model (with
/// the term frequencies). The blocks are not kept: at a million records
/// they are a quarter of a gigabyte, and only an incremental rescan needs
/// them ([`BlockIndex::build`] again).
pub struct Found {
    pub clusters: Vec<Cluster>,
    pub stats: DuplicateStats,
    pub model: Model,
}

/// Finds clusters of duplicates among `features` (annotated in place with
/// their term frequencies).
pub fn find(features: &mut [Features], settings: Settings, apart: &Apart) -> Found {
    let trace = std::env::var_os("STEWARD_TRACE").is_some();
    let t0 = std::time::Instant::now();
    let lap = |what: &str| {
        if trace {
            eprintln!("    {:>7} ms  {what}", t0.elapsed().as_millis());
        }
    };
    let tf = Arc::new(TermFrequencies::build(features));
    features.par_iter_mut().for_each(|x| tf.annotate(x));
    lap("term frequencies");
    let model = estimate(features, tf);
    lap("model estimated");
    let (pairs, windowed) = candidate_pairs(features);
    lap("candidate pairs");
    let mut stats = DuplicateStats {
        candidate_pairs: pairs.len(),
        windowed_blocks: windowed,
        match_share: model.lambda,
        expected_matches: model.expected_matches.round(),
        ..Default::default()
    };
    let features: &[Features] = features;
    let scored: Vec<(u32, u32, f64)> = pairs
        .par_iter()
        .filter_map(|&(a, b)| {
            let p = model.probability(&features[a as usize], &features[b as usize]);
            (p >= settings.cluster_probability).then_some((a, b, p))
        })
        .collect();
    lap("scored");
    let mut links: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    let mut seeds: Vec<(f64, u32, u32)> = Vec::new();
    for &(a, b, p) in &scored {
        if apart.contains(&(a, b)) {
            stats.kept_apart += 1;
            continue;
        }
        links.insert((a, b), p);
        if p >= settings.match_probability {
            seeds.push((p, a, b));
        }
    }
    stats.matched_pairs = seeds.len();
    seeds.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let pair_prob = |a: u32, b: u32| -> f64 {
        let key = ordered(a, b);
        if apart.contains(&key) {
            return 0.0;
        }
        match links.get(&key) {
            Some(p) => *p,
            None => model.probability(&features[a as usize], &features[b as usize]),
        }
    };
    // Whether two records may sit in one cluster: linked, or at least not
    // contradicting each other — no different birth date, email, phone or
    // national id, and fields that on balance say one person (the pair is
    // weak on its own only because the prior of two random records is low;
    // a third record links them both strongly).
    let compatible = |a: u32, b: u32| -> bool {
        let key = ordered(a, b);
        if apart.contains(&key) {
            return false;
        }
        if links.contains_key(&key) {
            return true;
        }
        model.compatible(&features[a as usize], &features[b as usize], settings.cluster_probability)
    };
    // Constrained agglomeration: join two clusters only when every pair
    // across them is compatible.
    let mut cluster_of: FxHashMap<u32, usize> = FxHashMap::default();
    let mut clusters: Vec<Vec<u32>> = Vec::new();
    for (_, a, b) in seeds {
        let ca = cluster_of.get(&a).copied();
        let cb = cluster_of.get(&b).copied();
        if ca.is_some() && ca == cb {
            continue;
        }
        let (ma, mb): (&[u32], &[u32]) = (
            ca.map_or(std::slice::from_ref(&a), |c| &clusters[c][..]),
            cb.map_or(std::slice::from_ref(&b), |c| &clusters[c][..]),
        );
        // One person rarely has more than a handful of records; a cluster
        // growing past MAX_CLUSTER is more likely a chain of look-alikes.
        if ma.len() + mb.len() > MAX_CLUSTER {
            continue;
        }
        let ok = ma.iter().all(|&x| mb.iter().all(|&y| compatible(x, y)));
        if !ok {
            continue;
        }
        match (ca, cb) {
            (Some(c), Some(d)) => {
                let moved = std::mem::take(&mut clusters[d]);
                for &x in &moved {
                    cluster_of.insert(x, c);
                }
                clusters[c].extend(moved);
            }
            (Some(c), None) => {
                clusters[c].push(b);
                cluster_of.insert(b, c);
            }
            (None, Some(d)) => {
                clusters[d].push(a);
                cluster_of.insert(a, d);
            }
            (None, None) => {
                clusters.push(vec![a, b]);
                let c = clusters.len() - 1;
                cluster_of.insert(a, c);
                cluster_of.insert(b, c);
            }
        }
    }
    lap("clustered");
    let mut out: Vec<Cluster> = clusters
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|mut members| {
            members.sort_unstable();
            let mut score: f64 = 1.0;
            for (i, &x) in members.iter().enumerate() {
                for &y in &members[i + 1..] {
                    score = score.min(pair_prob(x, y));
                }
            }
            Cluster { members, score }
        })
        .collect();
    out.sort_by_key(|c| c.members[0]);
    Found { clusters: out, stats, model }
}

/// Stable id of a cluster: a hash of its members' record ids.
pub fn cluster_id(ids: &mut [RecordId]) -> String {
    ids.sort();
    let mut h = blake3::Hasher::new();
    for id in ids.iter() {
        h.update(&id.to_bytes());
    }
    let hex: String = h.finalize().as_bytes()[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("dup-{hex}")
}

/// What a requester gave that matches a record, for the rules that decide
/// whether the record is proposed as theirs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    /// Both names agree (exactly, as nicknames or very similar).
    pub name: bool,
    pub email: bool,
    pub phone: bool,
    pub date_of_birth: bool,
    /// Same postcode, or same street and number.
    pub address: bool,
    pub national_id: bool,
}

impl Evidence {
    /// Identifiers beyond the name that agree.
    pub fn further(&self) -> usize {
        [self.email, self.phone, self.date_of_birth, self.address, self.national_id].iter().filter(|x| **x).count()
    }

    pub fn labels(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (on, label) in [
            (self.name, "name"),
            (self.email, "email"),
            (self.phone, "phone"),
            (self.date_of_birth, "date of birth"),
            (self.address, "address"),
            (self.national_id, "national id"),
        ] {
            if on {
                out.push(label);
            }
        }
        out
    }
}

/// How a requester's details compare with one record.
#[derive(Clone, Debug)]
pub struct RequestMatch {
    /// Probability that the record is the requester's.
    pub probability: f64,
    /// The prior, then each field the requester gave, in bits.
    pub explanation: Vec<FieldComparison>,
    pub evidence: Evidence,
}

/// How a requester's details (a partial record: the fields they gave)
/// compare with one record: the probability that the record is theirs,
/// with each field's evidence in bits, and which identifiers agree. `None`
/// when nothing agrees at all.
///
/// The prior is one person among `persons`. Names, birth dates and places
/// weigh as in the duplicate model (m over the value's frequency); an
/// identifier the requester gave (email, phone, national id) weighs by how
/// often different people share one: `identifier_u(field)` is that
/// probability for this very value (other people holding it, over all
/// people), so an email a family shares counts for far less than one that
/// only this person has.
pub fn score_request(
    model: &Model,
    persons: usize,
    query: &Features,
    record: &Features,
    identifier_u: &dyn Fn(usize) -> f64,
) -> Option<RequestMatch> {
    let (levels, sims, swapped) = compare_full(query, record);
    let evidence = Evidence {
        name: levels[GIVEN] >= 4 && levels[FAMILY] >= 3,
        email: levels[EMAIL] == 2,
        phone: levels[PHONE] == 3,
        date_of_birth: levels[DOB] == 3,
        address: levels[PLACE] == 4 || levels[STREET] == 5,
        national_id: levels[NID] == 3,
    };
    let agrees = evidence != Evidence::default() || (levels[GIVEN] >= 3 && levels[FAMILY] >= 2);
    if !agrees {
        return None;
    }
    let mut w = [0.0; NF];
    for f in 0..NF {
        let l = levels[f];
        if l == 0 {
            continue;
        }
        w[f] = if matches!(f, EMAIL | PHONE | NID) && is_exact(f, l) {
            (model.m[f][usize::from(l)] / identifier_u(f).max(1e-300)).ln()
        } else {
            let count = if is_exact(f, l) { query.tf[f].max(record.tf[f]) } else { 0 };
            model.weight(f, l, count)
        };
    }
    let prior = logit(1.0 / (persons.max(2) as f64));
    let probability = sigmoid(prior + w.iter().sum::<f64>());
    let mut explanation = vec![FieldComparison {
        field: "prior",
        status: "prior",
        similarity: 0.0,
        bits: (prior / std::f64::consts::LN_2 * 10.0).round() / 10.0,
    }];
    explanation.extend(FIELDS.iter().enumerate().filter(|(f, _)| levels[*f] != 0).map(|(f, field)| FieldComparison {
        field,
        status: status(f, levels[f], query, record, swapped),
        similarity: (sims[f] * 100.0).round() / 100.0,
        bits: (w[f] / std::f64::consts::LN_2 * 10.0).round() / 10.0,
    }));
    Some(RequestMatch { probability, explanation, evidence })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;

    fn rec(g: &str, f: &str, dob: &str, email: &str) -> Record {
        let mut r = Record::new("t", g, Utc::now());
        r.given_name = (!g.is_empty()).then(|| g.into());
        r.family_name = (!f.is_empty()).then(|| f.into());
        r.date_of_birth = DateParts::parse(dob);
        r.email = (!email.is_empty()).then(|| email.into());
        r
    }

    #[test]
    fn split_blocks_only_where_strangers_crowd_them() {
        // Six records of one person: a small store keeps the block whole.
        let one: Vec<Features> =
            (0..6).map(|k| Features::of(&rec("Ann", "Ng", "1980-02-03", &format!("a{k}@x.test")))).collect();
        let keys = all_keys(&one);
        assert_eq!(split_full(&one, &keys), 8);
        let (pairs, _) = pairs_from(&keys, split_full(&one, &keys));
        assert_eq!(pairs.len(), 15, "every pair of the person's six records");
        // Strangers born on every day, five to a day, with names that
        // start alike: the store measures them and splits large blocks.
        let mut crowd = Vec::new();
        for day in 1..=28 {
            for k in 0..5 {
                let given = ["Ann", "Anna", "Anne", "Annie", "Anita"][k];
                let family = ["Ng", "Nash", "Moss", "Lee", "Kay"][(k + day) % 5];
                crowd.push(Features::of(&rec(given, family, &format!("1980-02-{day:02}"), "")));
            }
        }
        let keys = all_keys(&crowd);
        assert_eq!(split_full(&crowd, &keys), 3, "about four strangers share each key");
    }

    #[test]
    fn comparison_levels() {
        let a = Features::of(&rec("William", "Harrington", "1980-02-03", "w.harrington@example.com"));
        let b = Features::of(&rec("Bill", "Harington", "1980-03-02", "W.Harrington@Example.com"));
        let l = compare(&a, &b);
        assert_eq!(l[GIVEN], 4, "a nickname is a strong agreement, not an exact one");
        assert_eq!(l[FAMILY], 3, "one letter missing is very similar");
        assert_eq!(l[DOB], 2, "swapped day and month is close");
        assert_eq!(l[EMAIL], 2, "emails canonical");
        assert_eq!(l[PHONE], 0, "no phones");
        let c = Features::of(&rec("Harrington", "William", "1980-02-03", ""));
        let l = compare(&a, &c);
        assert_eq!((l[GIVEN], l[FAMILY]), (5, 4), "swapped names compare crosswise");
        let i = Features::of(&rec("W.", "Harrington", "", ""));
        assert_eq!(compare(&a, &i)[GIVEN], 2, "an initial agrees only as an initial");
        let s = Features::of(&rec("Søren", "Kierkegaard", "", ""));
        let t = Features::of(&rec("Soren", "Kierkegaard", "", ""));
        assert_eq!(compare(&s, &t)[GIVEN], 5, "transliterated");
    }

    #[test]
    fn a_family_member_written_surname_first_is_not_the_same_given_name() {
        let a = Features::of(&rec("De Vries", "Fleur", "1969-04-25", ""));
        let b = Features::of(&rec("Anouk", "De Vries", "1992-10-02", ""));
        let l = compare(&a, &b);
        assert_eq!(l[FAMILY], 4, "the family names agree");
        assert_eq!(l[GIVEN], 1, "the given names do not");
    }

    #[test]
    fn phones_compare_in_full() {
        let phone = |p: &str| {
            let mut r = rec("A", "B", "", "");
            r.phone = Some(p.into());
            r.address.country = Some("US".into());
            Features::of(&r)
        };
        // Different area codes are different numbers (at most "close", as
        // one mistyped digit would be), never the same one.
        assert_eq!(compare(&phone("(212) 555-0199"), &phone("(312) 555-0199"))[PHONE], 2);
        assert_eq!(compare(&phone("(212) 555-0199"), &phone("(415) 555-0199"))[PHONE], 1);
        assert_eq!(compare(&phone("(212) 555-0199"), &phone("+1 212 555 0199"))[PHONE], 3);
        assert_eq!(compare(&phone("(212) 555-0199"), &phone("(212) 555-0198"))[PHONE], 2, "one digit off");
    }

    #[test]
    fn dates_with_one_typo_are_close() {
        let d = |s: &str| DateParts::parse(s);
        assert_eq!(date_level(d("1980-02-03"), d("1981-02-03")).0, 2);
        assert_eq!(date_level(d("1980-02-03"), d("1908-02-03")).0, 2, "transposed digits");
        assert_eq!(date_level(d("1980-02-03"), d("1975-06-21")).0, 1);
        assert_eq!(date_level(d("1980-02-03"), None).0, 0);
    }

    /// Records of `n` made-up customers, so that the model has a store to
    /// estimate from.
    fn background(n: usize, seed: u64) -> Vec<Record> {
        let mut csv = Vec::new();
        crate::synth::generate(n, seed, &mut csv, None).expect("generate");
        let opts = crate::import::Options {
            format: crate::import::Format::Csv,
            id_column: None,
            source: "t".into(),
            now: Utc::now(),
        };
        crate::import::parse(&csv[..], &opts, &mut |_| {}).rows.into_iter().map(|r| r.record).collect()
    }

    fn settings() -> Settings {
        Settings { match_probability: 0.98, cluster_probability: 0.05 }
    }

    fn full(g: &str, f: &str, dob: &str, email: &str, phone: &str, street: &str) -> Record {
        let mut r = rec(g, f, dob, email);
        r.phone = Some(phone.into());
        r.address = crate::model::Address {
            line1: Some(street.into()),
            locality: Some("Leeds".into()),
            postcode: Some("LS1 4AP".into()),
            country: Some("GB".into()),
            ..Default::default()
        };
        r
    }

    #[test]
    fn namesakes_in_one_postcode_stay_apart_and_their_duplicates_join() {
        let mut records = background(1500, 3);
        let base = records.len() as u32;
        // Six different John Smiths in one postcode, each with their own
        // birth date, email and phone.
        let people = [
            ("1961-03-04", "john.smith@example.com", "07700 900101", "1 Park Road"),
            ("1975-11-20", "jsmith75@example.org", "07700 900202", "7 Park Road"),
            ("1983-06-09", "john.smith83@example.net", "07700 900303", "12 Mill Lane"),
            ("1990-01-30", "smithj@example.com", "07700 900404", "3 Park Road"),
            ("1957-08-15", "johnsmith57@example.org", "07700 900505", "40 Mill Lane"),
            ("2001-12-01", "jsmith01@example.com", "07700 900606", "9 Church Street"),
        ];
        for (dob, email, phone, street) in people {
            records.push(full("John", "Smith", dob, email, phone, street));
        }
        // True duplicates of the first three: email case, phone format, an initial.
        let (d0, e0, p0, s0) = people[0];
        records.push(full("John", "Smith", d0, &e0.to_uppercase(), p0, s0));
        let (d1, e1, _, s1) = people[1];
        records.push(full("John", "Smith", d1, e1, "+44 7700 900202", s1));
        let (d2, e2, p2, s2) = people[2];
        records.push(full("J.", "Smith", d2, e2, p2, s2));
        let mut f = Features::all(&records);
        let found = find(&mut f, settings(), &Apart::default());
        let of = |i: u32| found.clusters.iter().find(|c| c.members.contains(&i)).map(|c| c.members.clone());
        for k in 0..3u32 {
            assert_eq!(of(base + k), Some(vec![base + k, base + 6 + k]), "John Smith {k} and his duplicate");
        }
        for k in 3..6u32 {
            assert_eq!(of(base + k), None, "John Smith {k} has no duplicate");
        }
        // Two namesakes: the birth date, email and phone each weigh against.
        let e = explain(&found.model, &f[base as usize], &f[base as usize + 1]);
        for field in ["date_of_birth", "email", "phone"] {
            let c = e.iter().find(|c| c.field == field).expect("field");
            assert!(c.status == "different" && c.bits < -1.0, "{field}: {c:?}");
        }
        let name = e.iter().find(|c| c.field == "family_name").expect("family");
        assert!(name.bits > 0.0 && name.bits < 12.0, "a common name agreeing is weak evidence: {name:?}");
        assert!(found.model.probability(&f[base as usize], &f[base as usize + 1]) < 0.01);
    }

    #[test]
    fn clusters_do_not_chain() {
        let mut recs = background(600, 11);
        // a~b: same person, new email. b~c: c took over b's mailbox, but is
        // clearly someone else than a.
        let base = recs.len() as u32;
        recs.push(rec("Annabel", "Quixley", "1980-01-01", "annabel@x.org"));
        recs.push(rec("Annabel", "Quixley", "1980-01-01", "aq@y.org"));
        recs.push(rec("Zebedee", "Moncrieff", "1955-07-30", "aq@y.org"));
        let mut f = Features::all(&recs);
        let found = find(&mut f, settings(), &Apart::default());
        assert!(found.clusters.iter().any(|c| c.members.contains(&base) && c.members.contains(&(base + 1))), "a~b");
        for c in &found.clusters {
            assert!(!(c.members.contains(&base) && c.members.contains(&(base + 2))), "chained: {c:?}");
            assert!(!(c.members.contains(&(base + 1)) && c.members.contains(&(base + 2))), "a stranger: {c:?}");
        }
    }

    #[test]
    fn pairs_kept_apart_are_never_clustered() {
        let mut recs = background(600, 12);
        let base = recs.len() as u32;
        recs.push(rec("Annabel", "Quixley", "1980-01-01", "annabel@x.org"));
        recs.push(rec("Annabel", "Quixley", "1980-01-01", "annabel@x.org"));
        let mut f = Features::all(&recs);
        let together = find(&mut f, settings(), &Apart::default());
        assert!(together.clusters.iter().any(|c| c.members == vec![base, base + 1]));
        let apart: Apart = [(base, base + 1)].into_iter().collect();
        let mut f = Features::all(&recs);
        let kept = find(&mut f, settings(), &apart);
        assert!(!kept.clusters.iter().any(|c| c.members.contains(&base)), "{:?}", kept.stats);
        assert_eq!(kept.stats.kept_apart, 1);
    }

    #[test]
    fn scores_are_probabilities_that_spread() {
        let mut recs = background(1500, 5);
        let base = recs.len() as u32;
        // One pair agreeing on everything, one that agrees on little.
        recs.push(full("Ottoline", "Quennell", "1971-05-06", "oq@x.org", "07700 900777", "5 Elm Row"));
        recs.push(full("Ottoline", "Quennell", "1971-05-06", "oq@x.org", "07700 900777", "5 Elm Row"));
        recs.push(rec("Peregrine", "Wolstenholme", "1966-09-10", ""));
        recs.push(rec("Peregrine", "Wolstenholme", "1966-09-01", ""));
        let mut f = Features::all(&recs);
        let found = find(&mut f, settings(), &Apart::default());
        let p_strong = found.model.probability(&f[base as usize], &f[base as usize + 1]);
        let p_weak = found.model.probability(&f[base as usize + 2], &f[base as usize + 3]);
        assert!(p_strong > 0.999, "{p_strong}");
        assert!(p_weak < p_strong && p_weak > 0.01, "weaker evidence, lower probability: {p_weak}");
    }

    #[test]
    fn the_match_index_round_trips() {
        let recs = background(400, 6);
        let mut f = Features::all(&recs);
        let found = find(&mut f, settings(), &Apart::default());
        let clusters: Vec<(Vec<u32>, f64)> = found.clusters.iter().map(|c| (c.members.clone(), c.score)).collect();
        let index = index::MatchIndex::build(7, &recs, &f, found.model, &clusters);
        let back = index::MatchIndex::decode(&index.encode()).expect("decodes");
        assert_eq!(back.generation, 7);
        assert_eq!(back.ids, index.ids);
        assert_eq!(back.persons, recs.len() - clusters.iter().map(|(m, _)| m.len() - 1).sum::<usize>());
        // A record is found by its own email.
        let i = recs.iter().position(|r| r.email.is_some()).expect("an email");
        let mut q = Record::new("q", "", Utc::now());
        q.email = recs[i].email.clone();
        let found = back.lookup(&Features::of(&q), None);
        assert!(found.records.contains(&(i as u32)));
    }

    #[test]
    fn phone_classes_parse_like_phonenumber() {
        let mut csv = Vec::new();
        crate::synth::generate(3000, 9, &mut csv, None).expect("generate");
        let opts = crate::import::Options {
            format: crate::import::Format::Csv,
            id_column: None,
            source: "t".into(),
            now: Utc::now(),
        };
        let recs: Vec<Record> =
            crate::import::parse(&csv[..], &opts, &mut |_| {}).rows.into_iter().map(|r| r.record).collect();
        let cache = PhoneCache::for_records(&recs);
        for r in recs.iter().filter(|r| r.phone.is_some()) {
            let (p, c) = (r.phone.as_deref().unwrap_or(""), r.address.country.as_deref());
            assert_eq!(
                cache.get(p, c).as_deref(),
                normalize::e164(p, c).as_deref(),
                "the class rule gives what a parse gives"
            );
        }
    }

    proptest! {
        #[test]
        fn jaro_winkler_agrees_with_strsim(a in "[a-z ]{0,20}", b in "[a-z ]{0,20}") {
            let expected = if a == b { 1.0 } else { jaro_winkler(&a, &b) };
            prop_assert!((jw(&a, &b) - expected).abs() < 1e-9, "{} vs {}", jw(&a, &b), expected);
        }

        #[test]
        fn one_edit_is_damerau_distance_one(a in "[a-c]{0,6}", b in "[a-c]{0,6}") {
            let d = strsim::damerau_levenshtein(&a, &b);
            let osa = strsim::osa_distance(&a, &b);
            prop_assert_eq!(within_one_edit(a.as_bytes(), b.as_bytes()), d <= 1 || osa <= 1);
        }
    }
}
