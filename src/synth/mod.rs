//! Synthetic customers with planted problems, for the demo and benchmarks.
//!
//! `steward gen --count N --seed S` is deterministic: the same arguments give
//! the same bytes. It plants what a steward should find — duplicate clusters
//! (typos, nicknames, swapped names, email case and dots, phone formats),
//! stale and long-inactive customers, over-collected columns (fax, pager,
//! national id, card numbers and IBANs in notes), invalid emails and
//! postcodes, impossible dates and a burst of bot sign-ups — and counts what
//! it planted. Pure apart from the writer it is given. The `hard` profile
//! ([`hard`]) plants what matching finds hardest: namesakes, households,
//! people who moved, rows without names, two sources.

pub mod hard;

use std::io::Write;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What was planted, for the demo README and for benchmarks.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Manifest {
    pub records: usize,
    pub people: usize,
    pub duplicate_clusters: usize,
    pub duplicate_records: usize,
    pub stale: usize,
    /// Last activity past every purpose's retention (expired).
    pub expired: usize,
    /// Last activity past the support and marketing retention, not orders'.
    pub dormant: usize,
    /// Last activity past the marketing retention only.
    pub lapsed: usize,
    /// Records holding a consent value past the marketing retention (not expired).
    pub consent_past_retention: usize,
    /// Records holding notes past the support retention (not expired).
    pub notes_past_retention: usize,
    pub fax: usize,
    pub pager: usize,
    pub national_id: usize,
    pub notes_card: usize,
    pub notes_iban: usize,
    pub notes_ssn: usize,
    pub notes_email: usize,
    pub notes_phone: usize,
    pub invalid_email: usize,
    pub disposable_email: usize,
    pub invalid_postcode: usize,
    pub impossible_dob: usize,
    pub bots: usize,
    pub no_consent: usize,
    pub withdrawn_consent: usize,
    pub invalid_phone: usize,
    /// The customer ids whose row gives marketing consent (`yes`) and whose
    /// last activity lies within marketing's retention (730 days): who a
    /// marketing extract must hold, and nobody else.
    #[serde(skip)]
    pub marketing: Vec<String>,
}

const GIVEN: &[&str] = &[
    "william",
    "robert",
    "elizabeth",
    "margaret",
    "katherine",
    "james",
    "richard",
    "michael",
    "thomas",
    "jonathan",
    "alexander",
    "christopher",
    "jennifer",
    "susan",
    "patricia",
    "daniel",
    "joseph",
    "anthony",
    "andrew",
    "edward",
    "olivia",
    "amelia",
    "isla",
    "ava",
    "mia",
    "sophie",
    "grace",
    "lily",
    "emily",
    "chloe",
    "noah",
    "oliver",
    "leo",
    "oscar",
    "harry",
    "jack",
    "charlie",
    "george",
    "lucas",
    "hugo",
    "zoe",
    "nora",
    "maya",
    "ines",
    "lena",
    "emma",
    "louise",
    "camille",
    "sven",
    "jan",
    "pieter",
    "anouk",
    "fleur",
    "liam",
    "ethan",
    "aiden",
    "chen",
    "wei",
    "priya",
    "arjun",
    "fatima",
    "omar",
    "yusuf",
    "aisha",
    "mateo",
    "lucia",
    "sofia",
    "diego",
    "hannah",
    "rebecca",
    "samuel",
    "benjamin",
    "nathan",
    "victoria",
    "stephanie",
    "nicholas",
    "timothy",
    "gregory",
    "frances",
    "dorothy",
    "josé",
    "zoë",
    "françois",
    "jürgen",
    "søren",
    "renée",
];

/// Common nickname pairs (formal, informal).
pub const NICKNAMES: &[(&str, &str)] = &[
    ("william", "bill"),
    ("robert", "bob"),
    ("elizabeth", "liz"),
    ("margaret", "peggy"),
    ("katherine", "kate"),
    ("james", "jim"),
    ("richard", "dick"),
    ("michael", "mike"),
    ("thomas", "tom"),
    ("jonathan", "jon"),
    ("alexander", "alex"),
    ("christopher", "chris"),
    ("jennifer", "jen"),
    ("susan", "sue"),
    ("patricia", "pat"),
    ("daniel", "dan"),
    ("joseph", "joe"),
    ("anthony", "tony"),
    ("andrew", "andy"),
    ("edward", "ed"),
    ("samuel", "sam"),
    ("benjamin", "ben"),
    ("nathan", "nate"),
    ("victoria", "vicky"),
    ("stephanie", "steph"),
    ("nicholas", "nick"),
    ("timothy", "tim"),
    ("gregory", "greg"),
    ("frances", "fran"),
    ("dorothy", "dot"),
    ("rebecca", "becky"),
    ("hannah", "annie"),
];

const FAMILY: &[&str] = &[
    "smith",
    "jones",
    "taylor",
    "brown",
    "williams",
    "wilson",
    "johnson",
    "davies",
    "robinson",
    "wright",
    "thompson",
    "evans",
    "walker",
    "white",
    "roberts",
    "green",
    "hall",
    "wood",
    "jackson",
    "clarke",
    "patel",
    "khan",
    "lewis",
    "james",
    "phillips",
    "mason",
    "mitchell",
    "rose",
    "davis",
    "rodriguez",
    "cox",
    "alexander",
    "garcia",
    "martinez",
    "müller",
    "schmidt",
    "schneider",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "de jong",
    "jansen",
    "de vries",
    "van den berg",
    "van dijk",
    "bakker",
    "visser",
    "smit",
    "nguyen",
    "tran",
    "le",
    "pham",
    "wang",
    "li",
    "zhang",
    "liu",
    "chen",
    "singh",
    "kumar",
    "o'brien",
    "o'connor",
    "mcdonald",
    "macleod",
    "harrington",
    "sondergeld",
    "berry",
    "waller",
    "fitzgerald",
    "kowalski",
    "novak",
    "horvat",
    "ivanova",
    "andersen",
    "nielsen",
    "hansen",
    "larsen",
    "eriksson",
    "lindqvist",
    "rossi",
    "russo",
    "ferrari",
    "esposito",
    "bianchi",
    "romano",
    "colombo",
    "ricci",
    "marino",
    "greco",
];

const FAMILY_HEAD: &[&str] = &[
    "ash", "black", "brad", "brook", "cald", "carr", "cole", "cran", "dal", "elm", "fair", "fern", "gold", "green",
    "hal", "hart", "hay", "hol", "kings", "lang", "lind", "marsh", "mer", "mill", "mor", "new", "north", "oak", "pen",
    "red", "ros", "sand", "shel", "stan", "stock", "thorn", "ward", "wes", "whit", "wood", "berg", "eich", "fal",
    "kemp", "lau", "ried", "rot", "stein", "vand", "wil",
];

const FAMILY_TAIL: &[&str] = &[
    "ford", "ley", "ton", "wood", "field", "well", "worth", "by", "dale", "ham", "man", "mont", "ridge", "son",
    "stone", "wick", "away", "brook", "croft", "hurst", "mann", "berger", "hofer", "inger", "ner", "ert", "ing", "sen",
    "strom", "quist",
];

const STREETS: &[&str] = &[
    "high street",
    "station road",
    "church lane",
    "park avenue",
    "main street",
    "mill road",
    "king street",
    "queen street",
    "victoria road",
    "green lane",
    "manor road",
    "church street",
    "park road",
    "london road",
    "hauptstrasse",
    "bahnhofstrasse",
    "rue de la paix",
    "rue victor hugo",
    "kerkstraat",
    "dorpsstraat",
    "maple avenue",
    "oak street",
    "elm drive",
    "cedar court",
    "pine crescent",
    "birch close",
    "willow way",
];

struct Country {
    code: &'static str,
    cities: &'static [&'static str],
    dial: &'static str,
}

const COUNTRIES: &[Country] = &[
    Country { code: "GB", cities: &["london", "manchester", "leeds", "bristol", "glasgow", "cardiff"], dial: "44" },
    Country { code: "US", cities: &["springfield", "portland", "austin", "denver", "boston", "madison"], dial: "1" },
    Country { code: "AU", cities: &["sydney", "melbourne", "brisbane", "perth", "adelaide", "hobart"], dial: "61" },
    Country { code: "DE", cities: &["berlin", "hamburg", "münchen", "köln", "leipzig", "bremen"], dial: "49" },
    Country { code: "FR", cities: &["paris", "lyon", "marseille", "lille", "nantes", "bordeaux"], dial: "33" },
    Country { code: "CA", cities: &["toronto", "montréal", "vancouver", "ottawa", "calgary", "halifax"], dial: "1" },
    Country {
        code: "NL",
        cities: &["amsterdam", "rotterdam", "utrecht", "eindhoven", "groningen", "leiden"],
        dial: "31",
    },
];

const DOMAINS: &[&str] = &["example.com", "example.org", "example.net", "mail.example", "post.example"];
const DISPOSABLE: &[&str] = &["mailinator.com", "10minutemail.com", "guerrillamail.com", "yopmail.com"];
const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXY";

/// The generator's "today": every age it plants is relative to this instant.
pub fn as_of() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).single().unwrap_or_default()
}

/// Column order of the generated CSV.
pub const HEADER: &[&str] = &[
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "city",
    "postcode",
    "country",
    "date_of_birth",
    "created_at",
    "last_verified",
    "last_activity",
    "marketing_consent",
    "fax",
    "pager",
    "national_id",
    "notes",
];

/// A person before they are written out, possibly several times.
#[derive(Clone)]
struct Person {
    given: String,
    family: String,
    email_local: String,
    domain: String,
    phone_digits: String,
    country: usize,
    street_no: u32,
    street: &'static str,
    city: &'static str,
    postcode: String,
    dob: NaiveDate,
}

fn cap(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' => 'e',
            'ë' => 'e',
            'ü' => 'u',
            'ö' => 'o',
            'ä' => 'a',
            'ç' => 'c',
            'ø' => 'o',
            'ß' => 's',
            c if c.is_ascii_alphanumeric() => c,
            _ => '.',
        })
        .collect()
}

fn postcode(rng: &mut ChaCha8Rng, country: &str) -> String {
    let l = |rng: &mut ChaCha8Rng| LETTERS[rng.gen_range(0..LETTERS.len())] as char;
    let d = |rng: &mut ChaCha8Rng| char::from(b'0' + rng.gen_range(0..10u8));
    match country {
        "GB" => format!("{}{}{} {}{}{}", l(rng), l(rng), rng.gen_range(1..30), d(rng), l(rng), l(rng)),
        "US" => format!("{:05}", rng.gen_range(1001..99950)),
        "AU" => format!("{:04}", rng.gen_range(2000..7999)),
        "DE" => format!("{:05}", rng.gen_range(1067..99998)),
        "FR" => format!("{:05}", rng.gen_range(1000..95999)),
        "CA" => {
            const FIRST: &[u8] = b"ABCEGHJKLMNPRSTVXY";
            const REST: &[u8] = b"ABCEGHJKLMNPRSTVWXYZ";
            let pick = |rng: &mut ChaCha8Rng, set: &[u8]| set[rng.gen_range(0..set.len())] as char;
            format!("{}{}{} {}{}{}", pick(rng, FIRST), d(rng), pick(rng, REST), d(rng), pick(rng, REST), d(rng))
        }
        _ => format!("{} {}{}", rng.gen_range(1000..9999), l(rng), l(rng)),
    }
}

/// Area codes in use, so that generated numbers are valid ones.
const US_AREAS: &[u32] = &[206, 212, 303, 305, 312, 415, 503, 512, 608, 617, 702, 808];
const CA_AREAS: &[u32] = &[403, 416, 514, 604, 613, 902];

/// A valid mobile (or, in North America, geographic) number for the
/// country: digits only, national significant number without trunk prefix.
/// Candidates are checked against libphonenumber's metadata, so that only
/// the planted invalid numbers are invalid.
fn phone_digits(rng: &mut ChaCha8Rng, country: &str) -> String {
    loop {
        let d = phone_candidate(rng, country);
        if crate::findings::validate::phone(&format!("0{d}"), Some(country)).is_none()
            || (matches!(country, "US" | "CA") && crate::findings::validate::phone(&d, Some(country)).is_none())
        {
            return d;
        }
    }
}

fn phone_candidate(rng: &mut ChaCha8Rng, country: &str) -> String {
    match country {
        "GB" => format!("7{}{:08}", [4, 5, 7, 8, 9][rng.gen_range(0..5)], rng.gen_range(0..100_000_000u64)),
        "US" | "CA" => {
            let areas = if country == "US" { US_AREAS } else { CA_AREAS };
            format!(
                "{}{}{:02}{:04}",
                areas[rng.gen_range(0..areas.len())],
                rng.gen_range(2..10),
                rng.gen_range(20..100),
                rng.gen_range(0..10000)
            )
        }
        "AU" => format!("4{:08}", rng.gen_range(0..100_000_000u64)),
        "DE" => format!("17{}{:07}", rng.gen_range(0..10), rng.gen_range(0..10_000_000u64)),
        "FR" => format!("6{}{:07}", [0, 1, 2, 4, 5, 6, 7, 8][rng.gen_range(0..8)], rng.gen_range(0..10_000_000u64)),
        _ => format!("6{}{:07}", rng.gen_range(1..6), rng.gen_range(0..10_000_000u64)),
    }
}

/// Writes the phone in one of several formats a CRM accumulates.
fn format_phone(rng: &mut ChaCha8Rng, digits: &str, dial: &str) -> String {
    match rng.gen_range(0..4) {
        0 => format!("+{dial}{digits}"),
        1 => format!("+{dial} {} {}", &digits[..digits.len() / 2], &digits[digits.len() / 2..]),
        _ if dial == "1" => format!("({}) {}-{}", &digits[..3], &digits[3..6], &digits[6..]),
        _ => format!("0{digits}"),
    }
}

fn typo(rng: &mut ChaCha8Rng, s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    if c.len() < 3 {
        return s.to_owned();
    }
    let i = rng.gen_range(1..c.len() - 1);
    match rng.gen_range(0..4) {
        0 => {
            c.swap(i, i + 1);
        }
        1 => {
            c.remove(i);
        }
        2 => c.insert(i, c[i]),
        _ => c[i] = (b'a' + rng.gen_range(0..26u8)) as char,
    }
    c.into_iter().collect()
}

/// A Luhn-valid 16-digit card number with a test-card prefix.
pub fn luhn_card(rng: &mut impl Rng) -> String {
    let prefix = ["4111", "5500", "4000", "5105"][rng.gen_range(0..4)];
    let mut digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
    while digits.len() < 15 {
        digits.push(rng.gen_range(0..10));
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    digits.iter().map(|d| char::from_digit(*d, 10).unwrap_or('0')).collect()
}

/// A valid IBAN (mod-97) for GB, DE, FR or NL.
pub fn iban(rng: &mut impl Rng) -> String {
    let (cc, bban) = match rng.gen_range(0..4) {
        0 => ("GB", format!("NWBK{:014}", rng.gen_range(0..100_000_000_000_000u64))),
        1 => ("DE", format!("{:018}", rng.gen_range(0..1_000_000_000_000_000_000u64))),
        2 => ("FR", format!("{:023}", rng.gen_range(0..10_000_000_000_000_000_000u128))),
        _ => ("NL", format!("ABNA{:010}", rng.gen_range(0..10_000_000_000u64))),
    };
    let numeric: String = format!("{bban}{cc}00")
        .chars()
        .map(|c| if c.is_ascii_digit() { c.to_string() } else { (c as u32 - 'A' as u32 + 10).to_string() })
        .collect();
    let rem = numeric.chars().fold(0u32, |acc, c| (acc * 10 + c.to_digit(10).unwrap_or(0)) % 97);
    format!("{cc}{:02}{bban}", 98 - rem)
}

fn ssn(rng: &mut impl Rng) -> String {
    let area = loop {
        let a = rng.gen_range(1..900);
        if a != 666 {
            break a;
        }
    };
    format!("{area:03}-{:02}-{:04}", rng.gen_range(1..100), rng.gen_range(1..10000))
}

fn gibberish(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len).map(|_| (b'a' + rng.gen_range(0..26u8)) as char).collect()
}

/// Generates `count` customer rows into `out` as CSV and returns what was
/// planted. With `truth`, writes `customer_id,person` pairs there.
pub fn generate(count: usize, seed: u64, out: impl Write, truth: Option<&mut dyn Write>) -> std::io::Result<Manifest> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let as_of = as_of();
    let mut m = Manifest::default();

    // Bot burst: about 1% of records, at least a handful.
    let bots = if count >= 200 { (count / 100).clamp(5, 500) } else { 0 };
    let mut rows: Vec<(usize, Vec<String>, bool)> = Vec::with_capacity(count);
    let mut person_id = 0usize;
    let mut used_emails = std::collections::HashSet::new();
    while rows.len() + bots < count {
        let c = rng.gen_range(0..COUNTRIES.len());
        let country = &COUNTRIES[c];
        let given = GIVEN[rng.gen_range(0..GIVEN.len())].to_owned();
        let family = if rng.gen_bool(0.4) {
            FAMILY[rng.gen_range(0..FAMILY.len())].to_owned()
        } else {
            // Invented but plausible surnames, so that names are as diverse
            // as in a real customer base.
            format!(
                "{}{}",
                FAMILY_HEAD[rng.gen_range(0..FAMILY_HEAD.len())],
                FAMILY_TAIL[rng.gen_range(0..FAMILY_TAIL.len())]
            )
        };
        let sep = [".", "", "_"][rng.gen_range(0..3)];
        let mut email_local = format!(
            "{}{sep}{}{}",
            ascii_fold(&given),
            ascii_fold(&family).replace('.', ""),
            if rng.gen_bool(0.5) { rng.gen_range(1..99).to_string() } else { String::new() }
        );
        // Two people never share a mailbox: make the address unique.
        let domain = DOMAINS[rng.gen_range(0..DOMAINS.len())].to_owned();
        while !used_emails.insert(format!("{}@{domain}", email_local.replace('.', ""))) {
            email_local.push(char::from(b'0' + rng.gen_range(0..10u8)));
        }
        let p = Person {
            given,
            family,
            email_local,
            domain,
            phone_digits: phone_digits(&mut rng, country.code),
            country: c,
            street_no: rng.gen_range(1..250),
            street: STREETS[rng.gen_range(0..STREETS.len())],
            city: country.cities[rng.gen_range(0..country.cities.len())],
            postcode: postcode(&mut rng, country.code),
            dob: NaiveDate::from_ymd_opt(rng.gen_range(1940..2006), rng.gen_range(1..13), rng.gen_range(1..29))
                .unwrap_or_default(),
        };
        let copies = match rng.gen_range(0..1000) {
            0..=919 => 1,
            920..=979 => 2,
            980..=994 => 3,
            _ => rng.gen_range(4..=6),
        };
        let copies = copies.min(count - bots - rows.len());
        if copies > 1 {
            m.duplicate_clusters += 1;
            m.duplicate_records += copies;
        }
        for k in 0..copies {
            let (row, marketing) = person_row(&mut rng, &p, k, as_of, &mut m);
            rows.push((person_id, row, marketing));
        }
        person_id += 1;
    }
    m.people = person_id;
    // The bot burst: sequential emails, gibberish names, minutes apart.
    let burst_start = as_of - Duration::days(rng.gen_range(20..60));
    let base = rng.gen_range(1000..9000);
    for i in 0..bots {
        let created = burst_start + Duration::seconds(i as i64 * rng.gen_range(3..20));
        let c = rng.gen_range(0..COUNTRIES.len());
        rows.push((
            person_id + i,
            vec![
                String::new(),
                cap(&gibberish(&mut rng, 7)),
                cap(&gibberish(&mut rng, 9)),
                format!("user{}@{}", base + i, DISPOSABLE[0]),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                COUNTRIES[c].code.to_owned(),
                String::new(),
                created.to_rfc3339(),
                String::new(),
                created.to_rfc3339(),
                "no".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
            false,
        ));
        m.bots += 1;
    }
    rows.shuffle(&mut rng);
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    let mut truth = truth.map(csv::Writer::from_writer);
    if let Some(t) = truth.as_mut() {
        t.write_record(["customer_id", "person"])?;
    }
    for (i, (person, mut row, marketing)) in rows.into_iter().enumerate() {
        let id = format!("C{:07}", i + 1);
        if marketing {
            m.marketing.push(id.clone());
        }
        row[0] = id.clone();
        w.write_record(&row)?;
        if let Some(t) = truth.as_mut() {
            t.write_record([id, person.to_string()])?;
        }
    }
    w.flush()?;
    if let Some(mut t) = truth {
        t.flush()?;
    }
    m.records = count;
    Ok(m)
}

/// One record of person `p`, and whether it may be used for marketing.
fn person_row(
    rng: &mut ChaCha8Rng,
    p: &Person,
    copy: usize,
    as_of: DateTime<Utc>,
    m: &mut Manifest,
) -> (Vec<String>, bool) {
    let country = &COUNTRIES[p.country];
    let mut given = p.given.clone();
    let mut family = p.family.clone();
    let mut email = format!("{}@{}", p.email_local, p.domain);
    let mut phone = format_phone(rng, &p.phone_digits, country.dial);
    let mut postcode = p.postcode.clone();
    let mut street = format!("{} {}", p.street_no, p.street);
    let mut city = p.city;
    let mut dob = p.dob.format("%Y-%m-%d").to_string();
    let mut moved = false;
    if copy > 0 {
        // A duplicate: two or three kinds of damage, never all fields at once.
        for _ in 0..rng.gen_range(1..=3) {
            match rng.gen_range(0..12) {
                0 => given = typo(rng, &given),
                1 => family = typo(rng, &family),
                2 => {
                    if let Some((_, nick)) = NICKNAMES.iter().find(|(f, _)| *f == given) {
                        given = (*nick).to_owned();
                    } else {
                        given = typo(rng, &given);
                    }
                }
                3 => std::mem::swap(&mut given, &mut family),
                4 => email = email.to_uppercase(),
                5 => {
                    // Drop a dot from the local part (as Gmail ignores them).
                    match email.split_once('@') {
                        Some((local, domain)) if local.contains('.') => {
                            email = format!("{}@{domain}", local.replacen('.', "", 1));
                        }
                        _ => email = email.to_uppercase(),
                    }
                }
                6 => postcode = postcode.replace(' ', "").to_lowercase(),
                7 => dob = p.dob.format("%Y%m%d").to_string(),
                8 => street = format!("{} {}", p.street_no, typo(rng, p.street)),
                9 => {
                    // Moved: a new address in the same country (the email
                    // and phone stay: that is how the move is known).
                    moved = true;
                    street = format!("{} {}", rng.gen_range(1..250), STREETS[rng.gen_range(0..STREETS.len())]);
                    city = country.cities[rng.gen_range(0..country.cities.len())];
                    postcode = self::postcode(rng, country.code);
                }
                10 => {
                    // A slip of one key in the birth date.
                    let (y, m, d) = (p.dob.year(), p.dob.month(), p.dob.day());
                    dob = if d <= 12 && d != m && rng.gen_bool(0.5) {
                        format!("{y:04}-{d:02}-{m:02}")
                    } else {
                        format!("{y:04}-{m:02}-{:02}", if d % 10 == 9 { d - 1 } else { d + 1 })
                    };
                }
                _ => {
                    // Only the initial.
                    given = given.chars().next().map(|c| format!("{c}.")).unwrap_or_default();
                }
            }
        }
        if rng.gen_bool(0.2) && !moved {
            email.clear();
        }
        if rng.gen_bool(0.2) && !moved {
            phone.clear();
        }
    }
    // Invalid data.
    if rng.gen_bool(0.02) && !email.is_empty() {
        email = match rng.gen_range(0..3) {
            0 => email.replace('@', ""),
            1 => email.replace('@', "@@"),
            _ => format!("{}@", p.email_local),
        };
        m.invalid_email += 1;
    } else if rng.gen_bool(0.01) && !email.is_empty() {
        email = format!("{}@{}", p.email_local, DISPOSABLE[rng.gen_range(0..DISPOSABLE.len())]);
        m.disposable_email += 1;
    }
    if rng.gen_bool(0.02) {
        postcode = match country.code {
            "GB" | "CA" => "12345".to_owned(),
            _ => "AB1".to_owned(),
        };
        m.invalid_postcode += 1;
    }
    if rng.gen_bool(0.005) {
        dob = format!("{}-{:02}-{:02}", p.dob.format("%Y"), rng.gen_range(13..20), rng.gen_range(1..29));
        m.impossible_dob += 1;
    }
    // Time, in days before `as_of`, planted around the demo policy's windows
    // (stale after 730 days; retention: marketing 730, support 1095, orders
    // 2190) with margins, so the demo's counts do not depend on the day.
    let activity_age: i64 = match rng.gen_range(0..100) {
        0..=3 => {
            m.expired += 1;
            rng.gen_range(2300..3500)
        }
        4..=8 => {
            m.dormant += 1;
            rng.gen_range(1150..2100)
        }
        9..=14 => {
            m.lapsed += 1;
            rng.gen_range(800..1050)
        }
        _ => rng.gen_range(0..700),
    };
    let verified_age: i64 = if rng.gen_bool(0.18) {
        m.stale += 1;
        rng.gen_range(760..2800)
    } else {
        rng.gen_range(0..600)
    };
    let created_age = activity_age.max(verified_age) + rng.gen_range(0..400);
    let created = as_of - Duration::days(created_age);
    let verified = as_of - Duration::days(verified_age);
    let activity = as_of - Duration::days(activity_age);
    let consent = match rng.gen_range(0..100) {
        0..=8 => {
            m.no_consent += 1;
            ""
        }
        9..=10 => {
            m.withdrawn_consent += 1;
            "withdrawn"
        }
        11..=39 => "no",
        _ => "yes",
    };
    if !consent.is_empty() && activity_age > 730 && activity_age <= 2190 {
        m.consent_past_retention += 1;
    }
    if rng.gen_bool(0.01) && !phone.is_empty() {
        // Cut short, as web forms let through.
        phone = format!("+{} {}", country.dial, &p.phone_digits[..4]);
        m.invalid_phone += 1;
    }
    let fax = if rng.gen_bool(0.08) {
        m.fax += 1;
        format!("+{} {}", country.dial, phone_digits(rng, country.code))
    } else {
        String::new()
    };
    let pager = if rng.gen_bool(0.02) {
        m.pager += 1;
        format!("{:07}", rng.gen_range(0..10_000_000))
    } else {
        String::new()
    };
    let national_id = if rng.gen_bool(0.04) {
        m.national_id += 1;
        match country.code {
            "US" => ssn(rng),
            "GB" => format!("QQ{:06}C", rng.gen_range(0..1_000_000)),
            _ => format!("{:011}", rng.gen_range(0..100_000_000_000u64)),
        }
    } else {
        String::new()
    };
    let notes = match rng.gen_range(0..1000) {
        0..=11 => {
            m.notes_card += 1;
            format!("paid by card {} exp 09/27", luhn_card(rng))
        }
        12..=21 => {
            m.notes_iban += 1;
            format!("refund to {}", iban(rng))
        }
        22..=26 => {
            m.notes_ssn += 1;
            format!("ssn {} for tax form", ssn(rng))
        }
        27..=41 => {
            m.notes_email += 1;
            format!("also reachable at {}@{}", ascii_fold(&p.family), DOMAINS[0])
        }
        42..=56 => {
            m.notes_phone += 1;
            format!("call back on +{}{}", country.dial, phone_digits(rng, country.code))
        }
        57..=200 => format!(
            "order #{} shipped {}",
            rng.gen_range(100_000..999_999),
            (as_of - Duration::days(rng.gen_range(1..900))).format("%Y-%m-%d")
        ),
        201..=260 => "prefers email".to_owned(),
        _ => String::new(),
    };
    if !notes.is_empty() && activity_age > 1095 && activity_age <= 2190 {
        m.notes_past_retention += 1;
    }
    let marketing = consent == "yes" && activity_age <= 730;
    let row = vec![
        String::new(),
        cap(&given),
        cap(&family),
        email,
        phone,
        cap(&street),
        cap(city),
        postcode,
        country.code.to_owned(),
        dob,
        created.to_rfc3339(),
        verified.to_rfc3339(),
        activity.to_rfc3339(),
        consent.to_owned(),
        fax,
        pager,
        national_id,
        notes,
    ];
    (row, marketing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        generate(300, 7, &mut a, None).expect("gen");
        generate(300, 7, &mut b, None).expect("gen");
        assert_eq!(a, b);
        let mut c = Vec::new();
        generate(300, 8, &mut c, None).expect("gen");
        assert_ne!(a, c);
    }

    #[test]
    fn counts_rows_and_plants_duplicates() {
        let mut out = Vec::new();
        let m = generate(1000, 1, &mut out, None).expect("gen");
        let lines = out.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(lines, 1001);
        assert!(m.duplicate_clusters > 10);
        assert_eq!(m.bots, 10);
    }

    #[test]
    fn generated_phones_and_postcodes_are_valid_unless_planted() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for c in COUNTRIES {
            for _ in 0..300 {
                let d = phone_digits(&mut rng, c.code);
                let formatted = format_phone(&mut rng, &d, c.dial);
                assert_eq!(crate::findings::validate::phone(&formatted, Some(c.code)), None, "{} {formatted}", c.code);
                let pc = postcode(&mut rng, c.code);
                assert_eq!(crate::findings::validate::postcode(&pc, Some(c.code)), None, "{} {pc}", c.code);
            }
        }
    }

    #[test]
    fn planted_checksums_are_valid() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let card = luhn_card(&mut rng);
            assert_eq!(card.len(), 16);
            let ib = iban(&mut rng);
            let moved = format!("{}{}", &ib[4..], &ib[..4]);
            let numeric: String = moved
                .chars()
                .map(|c| if c.is_ascii_digit() { c.to_string() } else { (c as u32 - 'A' as u32 + 10).to_string() })
                .collect();
            let rem = numeric.chars().fold(0u32, |acc, c| (acc * 10 + c.to_digit(10).unwrap_or(0)) % 97);
            assert_eq!(rem, 1, "{ib}");
        }
    }
}
