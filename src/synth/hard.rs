//! The `hard` profile of `steward gen`: customer bases the standard
//! profile does not resemble, for testing that matching never takes one
//! person for another.
//!
//! Besides duplicates with typos, nicknames (many-to-many), swapped names,
//! initials and formatting, it plants:
//!
//! - namesakes: many different people with one common name in the same
//!   postcode and streets, each with their own birth date, email and phone;
//! - households: families at one address sharing a landline or a family
//!   email, with different given names and birth dates, twins (same birth
//!   date) and juniors (the father's given name);
//! - people who moved (a new address, the same email or phone);
//! - birth dates with a typo or day and month swapped;
//! - rows with no name at all, and people never recorded with a name;
//! - with two sources, one person's records split across both files.
//!
//! Deterministic for a seed, like the standard profile.

use std::io::Write;

use chrono::{Datelike, Duration, NaiveDate};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    COUNTRIES, DOMAINS, FAMILY, FAMILY_HEAD, FAMILY_TAIL, GIVEN, HEADER, STREETS, as_of, ascii_fold, cap, format_phone,
    phone_digits, postcode, typo,
};

/// What the hard profile planted.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct HardManifest {
    pub records: usize,
    /// Records in the second source's file (0 with one source).
    pub second_source_records: usize,
    pub people: usize,
    pub duplicate_clusters: usize,
    pub duplicate_records: usize,
    pub namesake_people: usize,
    pub households: usize,
    pub household_people: usize,
    pub shared_phone_households: usize,
    pub shared_email_households: usize,
    pub twins: usize,
    pub juniors: usize,
    pub moved: usize,
    pub dob_typos: usize,
    pub swapped_names: usize,
    pub initials: usize,
    pub nicknames: usize,
    pub no_name_rows: usize,
    pub people_without_name: usize,
    pub people_in_both_sources: usize,
}

/// Very common names, per country (index into `COUNTRIES`).
const NAMESAKES: &[&[(&str, &str)]] = &[
    &[("john", "smith"), ("david", "jones"), ("sarah", "williams")],
    &[("james", "smith"), ("maria", "garcia"), ("michael", "johnson")],
    &[("jack", "wilson"), ("olivia", "brown"), ("william", "taylor")],
    &[("thomas", "müller"), ("anna", "schmidt"), ("michael", "schneider")],
    &[("marie", "martin"), ("pierre", "bernard"), ("nathalie", "dubois")],
    &[("liam", "tremblay"), ("emma", "roy"), ("william", "gagnon")],
    &[("jan", "de jong"), ("emma", "jansen"), ("daan", "de vries")],
];

/// More given names, many with nicknames in the table (Pat, Alex, Sandy ...).
const MORE_GIVEN: &[&str] = &[
    "patrick",
    "alexandra",
    "sandra",
    "abigail",
    "theodore",
    "frederick",
    "harold",
    "catherine",
    "deborah",
    "jacqueline",
    "kimberly",
    "lawrence",
    "marjorie",
    "raymond",
    "ronald",
    "teresa",
    "virginia",
    "walter",
    "anne",
    "marie",
    "anna",
    "david",
    "sarah",
    "john",
    "maria",
    "nathalie",
    "pierre",
    "daan",
];

#[derive(Clone)]
struct Person {
    given: String,
    family: String,
    email: Option<String>,
    phone: Option<String>,
    country: usize,
    street_no: u32,
    street: String,
    city: String,
    postcode: String,
    dob: Option<NaiveDate>,
    /// Never recorded with a name.
    nameless: bool,
}

/// A place where namesakes concentrate: one city and postcode, a few streets.
struct HotSpot {
    city: &'static str,
    postcode: String,
    streets: [&'static str; 3],
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.gen_range(0..xs.len())]
}

fn given_name(rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(0.25) { pick(rng, MORE_GIVEN).to_string() } else { pick(rng, GIVEN).to_string() }
}

fn family_name(rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(0.4) {
        pick(rng, FAMILY).to_string()
    } else {
        format!("{}{}", pick(rng, FAMILY_HEAD), pick(rng, FAMILY_TAIL))
    }
}

fn dob_between(rng: &mut ChaCha8Rng, from: i32, to: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(rng.gen_range(from..=to), rng.gen_range(1..13), rng.gen_range(1..29)).unwrap_or_default()
}

struct Gen {
    rng: ChaCha8Rng,
    used_emails: std::collections::HashSet<String>,
    hot: Vec<Vec<HotSpot>>,
    m: HardManifest,
}

impl Gen {
    /// A mailbox nobody else has: `local` with digits added until unique.
    fn unique_email(&mut self, local: &str) -> String {
        let domain = *pick(&mut self.rng, DOMAINS);
        let mut local = local.to_owned();
        loop {
            let canonical = format!("{}@{domain}", local.replace('.', ""));
            if self.used_emails.insert(canonical) {
                return format!("{local}@{domain}");
            }
            local.push(char::from(b'0' + self.rng.gen_range(0..10u8)));
        }
    }

    fn personal_email(&mut self, given: &str, family: &str) -> String {
        let sep = *pick(&mut self.rng, &[".", "", "_"]);
        let n = if self.rng.gen_bool(0.5) { self.rng.gen_range(1..99).to_string() } else { String::new() };
        let local = format!("{}{sep}{}{n}", ascii_fold(given), ascii_fold(family).replace('.', ""));
        self.unique_email(&local)
    }

    fn mobile(&mut self, country: usize) -> String {
        let c = &COUNTRIES[country];
        phone_digits(&mut self.rng, c.code)
    }

    fn address(&mut self, country: usize) -> (u32, String, String, String) {
        let c = &COUNTRIES[country];
        (
            self.rng.gen_range(1..250),
            pick(&mut self.rng, STREETS).to_string(),
            pick(&mut self.rng, c.cities).to_string(),
            postcode(&mut self.rng, c.code),
        )
    }

    fn ordinary(&mut self) -> Person {
        let country = self.rng.gen_range(0..COUNTRIES.len());
        let given = given_name(&mut self.rng);
        let family = family_name(&mut self.rng);
        let (street_no, street, city, postcode) = self.address(country);
        let nameless = self.rng.gen_bool(0.015);
        if nameless {
            self.m.people_without_name += 1;
        }
        Person {
            email: Some(self.personal_email(&given, &family)),
            phone: Some(self.mobile(country)),
            given,
            family,
            country,
            street_no,
            street,
            city,
            postcode,
            dob: Some(dob_between(&mut self.rng, 1940, 2005)),
            nameless,
        }
    }

    /// A person with a very common name, often at the namesakes' hot spot.
    fn namesake(&mut self) -> Person {
        let country = self.rng.gen_range(0..COUNTRIES.len());
        let (given, family) = *pick(&mut self.rng, NAMESAKES[country]);
        let mut p = self.ordinary();
        p.nameless = false;
        p.country = country;
        p.given = given.to_owned();
        p.family = family.to_owned();
        p.email = Some(self.personal_email(given, family));
        p.phone = Some(self.mobile(country));
        if self.rng.gen_bool(0.7) {
            let k = self.rng.gen_range(0..self.hot[country].len());
            let spot = &self.hot[country][k];
            p.city = spot.city.to_owned();
            p.postcode = spot.postcode.clone();
            p.street = spot.streets[self.rng.gen_range(0..3)].to_owned();
            p.street_no = self.rng.gen_range(1..200);
        } else {
            let (no, street, city, pc) = self.address(country);
            (p.street_no, p.street, p.city, p.postcode) = (no, street, city, pc);
        }
        self.m.namesake_people += 1;
        p
    }

    /// A family at one address: a head, often a partner, children (twins
    /// and a junior now and then), sharing a landline or a family email.
    fn household(&mut self) -> Vec<Person> {
        let head = if self.rng.gen_bool(0.3) { self.namesake() } else { self.ordinary() };
        let mut head = head;
        head.nameless = false;
        let landline = self.rng.gen_bool(0.6).then(|| self.mobile(head.country));
        let family_email = self.rng.gen_bool(0.3).then(|| {
            let local = format!("{}.family", ascii_fold(&head.family).replace('.', ""));
            self.unique_email(&local)
        });
        self.m.households += 1;
        self.m.shared_phone_households += usize::from(landline.is_some());
        self.m.shared_email_households += usize::from(family_email.is_some());
        let head_dob = dob_between(&mut self.rng, 1950, 1985);
        head.dob = Some(head_dob);
        let mut members = vec![head.clone()];
        let mut used_given = vec![head.given.clone()];
        let fresh_given = |rng: &mut ChaCha8Rng, used: &mut Vec<String>| loop {
            let g = given_name(rng);
            if !used.contains(&g) {
                used.push(g.clone());
                return g;
            }
        };
        if self.rng.gen_bool(0.85) {
            let mut partner = head.clone();
            partner.given = fresh_given(&mut self.rng, &mut used_given);
            let shift = self.rng.gen_range(-8..=8i64) * 365 + self.rng.gen_range(0..365);
            partner.dob = Some(head_dob + Duration::days(shift));
            members.push(partner);
        }
        let children = self.rng.gen_range(0..=3);
        let mut last_child: Option<NaiveDate> = None;
        for k in 0..children {
            let mut child = head.clone();
            let twin = k > 0 && self.rng.gen_bool(0.15) && last_child.is_some();
            let junior = k == 0 && self.rng.gen_bool(0.1);
            child.given = if junior { head.given.clone() } else { fresh_given(&mut self.rng, &mut used_given) };
            let dob = match (twin, last_child) {
                (true, Some(d)) => d,
                _ => {
                    let y = (head_dob.year() + self.rng.gen_range(22..38)).min(2006);
                    NaiveDate::from_ymd_opt(y, self.rng.gen_range(1..13), self.rng.gen_range(1..29)).unwrap_or_default()
                }
            };
            self.m.twins += usize::from(twin);
            self.m.juniors += usize::from(junior);
            child.dob = Some(dob);
            last_child = Some(dob);
            members.push(child);
        }
        for p in members.iter_mut() {
            p.email = match &family_email {
                Some(e) if self.rng.gen_bool(0.8) => Some(e.clone()),
                _ => Some(self.personal_email(&p.given.clone(), &p.family.clone())),
            };
            p.phone = match &landline {
                Some(l) => Some(l.clone()),
                None => Some(self.mobile(p.country)),
            };
        }
        self.m.household_people += members.len();
        members
    }

    /// One record of `p`: the first copy as held, later copies damaged.
    fn row(&mut self, p: &Person, copy: usize) -> Vec<String> {
        let rng = &mut self.rng;
        let country = &COUNTRIES[p.country];
        let mut given = p.given.clone();
        let mut family = p.family.clone();
        let mut email = p.email.clone().unwrap_or_default();
        let mut phone = p.phone.as_deref().map(|d| format_phone(rng, d, country.dial)).unwrap_or_default();
        let (mut no, mut street, mut city, mut pc) =
            (p.street_no, p.street.clone(), p.city.clone(), p.postcode.clone());
        let mut dob = p.dob.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
        if copy > 0 {
            for _ in 0..rng.gen_range(1..=3) {
                match rng.gen_range(0..14) {
                    0 => given = typo(rng, &given),
                    1 => family = typo(rng, &family),
                    2 => {
                        // A nickname of the name as held (not of a damaged one).
                        let nicks = crate::findings::normalize::nicknames(&ascii_fold(&p.given));
                        if nicks.is_empty() || given != p.given {
                            given = typo(rng, &given);
                        } else {
                            given = (*pick(rng, nicks)).to_owned();
                            self.m.nicknames += 1;
                        }
                    }
                    3 => {
                        std::mem::swap(&mut given, &mut family);
                        self.m.swapped_names += 1;
                    }
                    4 => email = email.to_uppercase(),
                    5 => pc = pc.replace(' ', "").to_lowercase(),
                    6 => {
                        if let Some(d) = p.dob {
                            dob = d.format("%Y%m%d").to_string();
                        }
                    }
                    7 => {
                        if let Some(d) = p.dob {
                            let (y, mo, da) = (d.year(), d.month(), d.day());
                            // A slip of one key: day and month swapped, or
                            // one digit of the year or day mistyped.
                            let one_digit = |rng: &mut ChaCha8Rng, v: u32, lo: u32, hi: u32| loop {
                                let unit = if rng.gen_bool(0.5) { 1 } else { 10 };
                                let digit = (v / unit) % 10;
                                let w = v - digit * unit + rng.gen_range(0..10) * unit;
                                if w != v && (lo..=hi).contains(&w) {
                                    return w;
                                }
                            };
                            dob = match rng.gen_range(0..3) {
                                0 if da <= 12 && da != mo => format!("{y:04}-{da:02}-{mo:02}"),
                                1 => format!("{:04}-{mo:02}-{da:02}", one_digit(rng, y as u32, 1900, 2010)),
                                _ => format!("{y:04}-{mo:02}-{:02}", one_digit(rng, da, 1, 28)),
                            };
                            self.m.dob_typos += 1;
                        }
                    }
                    8 => street = typo(rng, &street),
                    9 => {
                        // Moved: a new address; email and phone stay.
                        let c = &COUNTRIES[p.country];
                        no = rng.gen_range(1..250);
                        street = pick(rng, STREETS).to_string();
                        city = pick(rng, c.cities).to_string();
                        pc = postcode(rng, c.code);
                        self.m.moved += 1;
                    }
                    10 => {
                        let first = given.chars().next().map(|c| c.to_string()).unwrap_or_default();
                        given = if rng.gen_bool(0.5) { format!("{first}.") } else { first };
                        self.m.initials += 1;
                    }
                    11 if rng.gen_bool(0.35) => {
                        // A sign-up that asked for no name: it keeps its email.
                        if !email.is_empty() {
                            given.clear();
                            family.clear();
                            self.m.no_name_rows += 1;
                        }
                    }
                    11 => given = typo(rng, &given),
                    12 => given = ascii_fold(&given).replace('.', ""),
                    _ => {
                        if let Some((local, domain)) = email.split_once('@')
                            && local.contains('.')
                        {
                            email = format!("{}@{domain}", local.replacen('.', "", 1));
                        }
                    }
                }
            }
            if rng.gen_bool(0.2) && !given.is_empty() {
                email.clear();
            }
            if rng.gen_bool(0.2) && (!email.is_empty() || !given.is_empty()) {
                phone.clear();
            }
            if rng.gen_bool(0.1) && (!email.is_empty() || !phone.is_empty()) {
                dob.clear();
            }
        }
        if p.nameless {
            if !given.is_empty() {
                self.m.no_name_rows += 1;
            }
            given.clear();
            family.clear();
        }
        let created = as_of() - Duration::days(rng.gen_range(0..2000));
        vec![
            String::new(),
            cap(&given),
            cap(&family),
            email,
            phone,
            cap(&format!("{no} {street}")),
            cap(&city),
            pc,
            country.code.to_owned(),
            dob,
            created.to_rfc3339(),
            created.to_rfc3339(),
            created.to_rfc3339(),
            "yes".to_owned(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]
    }
}

/// Generates `count` rows of the hard profile. With `second`, the rows are
/// split between two sources: `out` gets the first (ids `C…`), `second` the
/// other (ids `S…`), and some people have records in both. `truth` gets
/// `customer_id,person` for every row of both.
pub fn generate_hard(
    count: usize,
    seed: u64,
    out: impl Write,
    second: Option<&mut dyn Write>,
    truth: Option<&mut dyn Write>,
) -> std::io::Result<HardManifest> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4a7d);
    // About twenty namesakes per hot postcode, whatever the size of the file.
    let spots = (count / 1667).max(2);
    let hot = COUNTRIES
        .iter()
        .map(|c| {
            (0..spots)
                .map(|_| HotSpot {
                    city: c.cities[rng.gen_range(0..c.cities.len())],
                    postcode: postcode(&mut rng, c.code),
                    streets: [0, 1, 2].map(|_| STREETS[rng.gen_range(0..STREETS.len())]),
                })
                .collect()
        })
        .collect();
    let mut g = Gen { rng, used_emails: Default::default(), hot, m: HardManifest::default() };
    let two = second.is_some();
    // (person, source 0/1, row)
    let mut rows: Vec<(usize, u8, Vec<String>)> = Vec::with_capacity(count);
    let mut person = 0usize;
    while rows.len() < count {
        let roll = g.rng.gen_range(0..100);
        let people = match roll {
            0..=11 => vec![g.namesake()],
            12..=21 => g.household(),
            _ => vec![g.ordinary()],
        };
        for p in people {
            if rows.len() >= count {
                break;
            }
            let copies = match g.rng.gen_range(0..1000) {
                0..=779 => 1,
                780..=919 => 2,
                920..=969 => 3,
                _ => g.rng.gen_range(4..=6),
            }
            .min(count - rows.len());
            if copies > 1 {
                g.m.duplicate_clusters += 1;
                g.m.duplicate_records += copies;
            }
            let first_source = u8::from(two && g.rng.gen_bool(0.3));
            let mut sources = std::collections::BTreeSet::new();
            for k in 0..copies {
                let source = if k > 0 && two && g.rng.gen_bool(0.5) { 1 - first_source } else { first_source };
                sources.insert(source);
                let row = g.row(&p, k);
                rows.push((person, source, row));
            }
            g.m.people_in_both_sources += usize::from(sources.len() == 2);
            person += 1;
        }
    }
    g.m.people = person;
    rows.shuffle(&mut g.rng);
    let mut writers = vec![csv::Writer::from_writer(Box::new(out) as Box<dyn Write>)];
    if let Some(s) = second {
        writers.push(csv::Writer::from_writer(Box::new(s) as Box<dyn Write + '_>));
    }
    for w in writers.iter_mut() {
        w.write_record(HEADER)?;
    }
    let mut truth = truth.map(csv::Writer::from_writer);
    if let Some(t) = truth.as_mut() {
        t.write_record(["customer_id", "person"])?;
    }
    let mut next = [0usize; 2];
    for (person, source, mut row) in rows {
        let s = usize::from(source);
        next[s] += 1;
        let id = if s == 0 { format!("C{:07}", next[s]) } else { format!("S{:07}", next[s]) };
        row[0] = id.clone();
        writers[s].write_record(&row)?;
        if let Some(t) = truth.as_mut() {
            t.write_record([id, person.to_string()])?;
        }
    }
    for w in writers.iter_mut() {
        w.flush()?;
    }
    if let Some(mut t) = truth {
        t.flush()?;
    }
    g.m.records = count;
    g.m.second_source_records = next[1];
    Ok(g.m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic_and_plants_the_hard_cases() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let m = generate_hard(3000, 4, &mut a, None, None).expect("gen");
        generate_hard(3000, 4, &mut b, None, None).expect("gen");
        assert_eq!(a, b);
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 3001);
        assert!(m.namesake_people > 100, "{m:?}");
        assert!(m.households > 50 && m.shared_phone_households > 20 && m.shared_email_households > 10, "{m:?}");
        assert!(m.moved > 5 && m.dob_typos > 5 && m.no_name_rows > 5 && m.initials > 5, "{m:?}");
    }

    #[test]
    fn two_sources_split_people() {
        let (mut a, mut b, mut t) = (Vec::new(), Vec::new(), Vec::new());
        let m = generate_hard(2000, 9, &mut a, Some(&mut b), Some(&mut t)).expect("gen");
        let rows = |v: &[u8]| v.iter().filter(|&&c| c == b'\n').count() - 1;
        assert_eq!(rows(&a) + rows(&b), 2000);
        assert_eq!(rows(&b), m.second_source_records);
        assert!(m.people_in_both_sources > 20, "{m:?}");
        assert_eq!(rows(&t), 2000);
    }
}
