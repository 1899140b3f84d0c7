//! Duplicate people: blocking, field comparison, a Fellegi-Sunter model
//! estimated from the data being scanned, and clustering that does not
//! chain unrelated people together.
//!
//! 1. Each record is normalised ([`Features`]): names folded (case,
//!    accents, punctuation, nicknames), canonical email and phone, compact
//!    postcode, date parts.
//! 2. Blocking: several keys per record (email, phone, date of birth with an
//!    initial, phonetic name pair — order-free, so swapped names meet —
//!    postcode with street number). Records sharing any key become a
//!    candidate pair; oversized blocks are skipped and counted.
//! 3. Each candidate pair gets a comparison vector: one level per field
//!    (exact / very similar / similar / different / missing; dates also
//!    "close" for swapped day-month or one typo'd part).
//! 4. Fellegi-Sunter: the u-probabilities (how often a level occurs between
//!    unrelated records) come from random record pairs; the m-probabilities
//!    (how often it occurs between true duplicates) and the match share are
//!    estimated by EM over the candidate pairs. No labels, no constants
//!    fitted to one file.
//! 5. Pairs above the match probability seed clusters; two clusters join
//!    only if every pair across them reaches the cluster probability, so
//!    A~B and B~C do not make A~C unless A~C holds too.
//!
//! Pure: no I/O.

use std::collections::HashMap;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use strsim::jaro_winkler;

use super::normalize;
use crate::model::{DateParts, Record, RecordId};

/// Comparison fields, in vector order.
pub const FIELDS: [&str; 9] = [
    "given_name",
    "family_name",
    "date_of_birth",
    "email",
    "phone",
    "postcode",
    "street_number",
    "address_1",
    "locality",
];
const NF: usize = FIELDS.len();
/// Levels per field: 0 missing, 1 different, 2 similar, 3 very similar / close, 4 exact.
const NL: usize = 5;

/// Normalised features of one record.
#[derive(Clone, Debug, Default)]
pub struct Features {
    // Boxed strings: a million of these are held during a scan.
    given: Box<str>,
    /// The formal given name when `given` is a nickname (`bill` → `william`).
    given_formal: Option<&'static str>,
    family: Box<str>,
    dob: Option<DateParts>,
    email: Option<Box<str>>,
    phone: Option<Box<str>>,
    postcode: Box<str>,
    street_no: Box<str>,
    street: Box<str>,
    locality: Box<str>,
}

impl Features {
    pub fn of(r: &Record) -> Features {
        let given = r.given_name.as_deref().map(normalize::name).unwrap_or_default();
        let given_formal = normalize::formal_nickname(&given);
        let country = r.address.country.as_deref();
        let boxed = |s: Option<String>| s.unwrap_or_default().into_boxed_str();
        Features {
            given_formal,
            given: given.into_boxed_str(),
            family: boxed(r.family_name.as_deref().map(normalize::name)),
            dob: r.date_of_birth,
            email: r.email.as_deref().and_then(normalize::email).map(String::into_boxed_str),
            phone: r.phone.as_deref().and_then(|p| normalize::phone(p, country)).map(|p| {
                // The last 9 digits: robust to a missing or doubled country code.
                p[p.len().saturating_sub(9)..].into()
            }),
            postcode: boxed(r.address.postcode.as_deref().map(normalize::postcode)),
            street_no: boxed(r.address.street_number.as_deref().map(normalize::name)),
            street: boxed(r.address.line1.as_deref().map(normalize::name)),
            locality: boxed(r.address.locality.as_deref().map(normalize::name)),
        }
    }

    /// The given name in its formal form.
    fn formal(&self) -> &str {
        self.given_formal.unwrap_or(&self.given)
    }

    /// Blocking keys: records sharing any key are compared.
    pub fn keys(&self) -> Vec<String> {
        let mut k = Vec::with_capacity(6);
        if let Some(e) = &self.email {
            k.push(format!("e{e}"));
        }
        if let Some(p) = &self.phone {
            k.push(format!("p{p}"));
        }
        if let Some(d) = self.dob {
            // Birth date with both initials, in either order (swapped names
            // meet); with one initial only when the other name is missing.
            let d = format!("{:04}{:02}{:02}", d.year, d.month, d.day);
            let mut initials: Vec<char> =
                [self.formal().chars().next(), self.family.chars().next()].into_iter().flatten().collect();
            initials.sort_unstable();
            let initials: String = initials.into_iter().collect();
            k.push(format!("d{d}{initials}"));
            // Birth date with the place: catches changed or missing names.
            if !self.postcode.is_empty() {
                k.push(format!("D{d}#{}", self.postcode));
            }
            if !self.family.is_empty() {
                k.push(format!("F{d}#{}", self.family));
            }
        }
        let (a, b) = (normalize::soundex(self.formal()), normalize::soundex(&self.family));
        if !a.is_empty() && !b.is_empty() {
            // The sound of the name pair, in either order (swapped names
            // meet), within a place when there is one: common names would
            // otherwise make blocks of thousands at a million records.
            let (x, y) = if a <= b { (&a, &b) } else { (&b, &a) };
            let place: String = self.locality.chars().take(4).collect();
            k.push(format!("n{x}{y}#{place}"));
        }
        if !self.postcode.is_empty() && !self.street_no.is_empty() {
            k.push(format!("a{}#{}", self.postcode, self.street_no));
        }
        if !b.is_empty() && !self.locality.is_empty() && !self.street.is_empty() {
            // Same family name sound, place and street: catches given-name
            // changes with typos in postcode and birth date.
            let place: String = self.locality.chars().take(6).collect();
            let street: String = self.street.split(' ').next().unwrap_or("").chars().take(4).collect();
            k.push(format!("l{b}#{place}#{street}"));
        }
        if !self.family.is_empty() && !self.postcode.is_empty() {
            k.push(format!("f{}#{}", self.postcode, self.family.chars().take(3).collect::<String>()));
        }
        k.dedup();
        k
    }
}

fn str_level(a: &str, b: &str) -> (u8, f64) {
    if a.is_empty() || b.is_empty() {
        return (0, 0.0);
    }
    if a == b {
        return (4, 1.0);
    }
    let s = jaro_winkler(a, b);
    let level = if s >= 0.94 {
        3
    } else if s >= 0.85 {
        2
    } else {
        1
    };
    (level, s)
}

fn exact_level(a: Option<&str>, b: Option<&str>) -> (u8, f64) {
    match (a, b) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
            if a == b {
                (4, 1.0)
            } else {
                (1, 0.0)
            }
        }
        _ => (0, 0.0),
    }
}

fn digits_differ_by_one(a: u32, b: u32, width: usize) -> bool {
    let (a, b) = (format!("{a:0width$}"), format!("{b:0width$}"));
    let diff = a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count();
    diff == 1 || (diff == 2 && strsim::damerau_levenshtein(&a, &b) == 1)
}

fn date_level(a: Option<DateParts>, b: Option<DateParts>) -> (u8, f64) {
    let (Some(a), Some(b)) = (a, b) else { return (0, 0.0) };
    if a == b {
        return (4, 1.0);
    }
    let swapped = a.year == b.year && a.month == b.day && a.day == b.month;
    let same = [a.year == b.year, a.month == b.month, a.day == b.day];
    let two_same = same.iter().filter(|s| **s).count() == 2;
    let one_typo = two_same
        && ((a.year != b.year && digits_differ_by_one(a.year.into(), b.year.into(), 4))
            || (a.month != b.month && digits_differ_by_one(a.month.into(), b.month.into(), 2))
            || (a.day != b.day && digits_differ_by_one(a.day.into(), b.day.into(), 2)));
    if swapped || one_typo { (3, 0.9) } else { (1, 0.0) }
}

fn postcode_level(a: &str, b: &str) -> (u8, f64) {
    if a.is_empty() || b.is_empty() {
        return (0, 0.0);
    }
    if a == b {
        return (4, 1.0);
    }
    if strsim::damerau_levenshtein(a, b) == 1 { (3, 0.9) } else { (1, 0.0) }
}

/// Levels and similarities of one pair, field by field.
fn compare(a: &Features, b: &Features) -> ([u8; NF], [f64; NF]) {
    let given = |x: &Features, y: &Features| {
        if !x.given.is_empty() && x.formal() == y.formal() { (4, 1.0) } else { str_level(&x.given, &y.given) }
    };
    // Names as written, or swapped (given <-> family), whichever agrees more.
    let straight = (given(a, b), str_level(&a.family, &b.family));
    let total = |p: &((u8, f64), (u8, f64))| p.0.1 + p.1.1;
    // Compare crosswise only when the names as written disagree.
    let ((g, gs), (f, fs)) = if total(&straight) < 1.8 {
        let crossed = (str_level(&a.given, &b.family), str_level(&a.family, &b.given));
        if total(&crossed) > total(&straight) + 0.2 { crossed } else { straight }
    } else {
        straight
    };
    let (d, ds) = date_level(a.dob, b.dob);
    let (e, es) = exact_level(a.email.as_deref(), b.email.as_deref());
    let (p, ps) = exact_level(a.phone.as_deref(), b.phone.as_deref());
    let (pc, pcs) = postcode_level(&a.postcode, &b.postcode);
    let (n, ns) = exact_level(Some(&a.street_no), Some(&b.street_no));
    let (s, ss) = str_level(&a.street, &b.street);
    let (l, ls) = str_level(&a.locality, &b.locality);
    ([g, f, d, e, p, pc, n, s, l], [gs, fs, ds, es, ps, pcs, ns, ss, ls])
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

/// The estimated model: per field and level, m and u probabilities.
#[derive(Clone, Debug)]
pub struct Model {
    m: [[f64; NL]; NF],
    u: [[f64; NL]; NF],
    /// Share of candidate pairs that are matches.
    pub lambda: f64,
}

impl Model {
    /// Log-likelihood ratio of a comparison vector (missing fields add 0).
    fn weight(&self, levels: &[u8; NF]) -> f64 {
        levels
            .iter()
            .enumerate()
            .filter(|(_, l)| **l != 0)
            .map(|(f, l)| (self.m[f][*l as usize] / self.u[f][*l as usize]).ln())
            .sum()
    }

    /// Posterior match probability of a comparison vector.
    pub fn probability(&self, levels: &[u8; NF]) -> f64 {
        let prior = (self.lambda / (1.0 - self.lambda)).ln();
        let w = self.weight(levels) + prior;
        1.0 / (1.0 + (-w).exp())
    }
}

/// u-probabilities from random record pairs (almost all non-matches), and
/// the comparison patterns of those pairs.
fn estimate_u(features: &[Features], samples: usize, seed: u64) -> ([[f64; NL]; NF], HashMap<u32, u64>) {
    let n = features.len() as u64;
    let mut counts = [[1.0f64; NL]; NF]; // add-one smoothing
    if n < 2 {
        return (counts.map(|row| row.map(|c| c / NL as f64)), HashMap::new());
    }
    // A small deterministic generator (SplitMix64): the scan must not vary run to run.
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let pairs: Vec<(usize, usize)> = (0..samples)
        .filter_map(|_| {
            let a = (next() % n) as usize;
            let b = (next() % n) as usize;
            (a != b).then_some((a, b))
        })
        .collect();
    let levels: Vec<[u8; NF]> = pairs.par_iter().map(|&(a, b)| compare(&features[a], &features[b]).0).collect();
    let mut patterns: HashMap<u32, u64> = HashMap::new();
    for l in levels {
        for (f, lvl) in l.iter().enumerate() {
            counts[f][*lvl as usize] += 1.0;
        }
        *patterns.entry(pack(&l)).or_default() += 1;
    }
    (distribution(&counts), patterns)
}

/// Per field, the counts of the present levels turned into probabilities
/// (the "missing" level is neutral: 1).
fn distribution(counts: &[[f64; NL]; NF]) -> [[f64; NL]; NF] {
    counts.map(|row| {
        let present: f64 = row[1..].iter().sum();
        let mut out = row.map(|c| c / present);
        out[0] = 1.0;
        out
    })
}

/// EM over the distinct comparison patterns (candidates and weighted
/// random pairs), estimating m, u and the match share.
fn estimate_m(patterns: &HashMap<u32, u64>, u: [[f64; NL]; NF]) -> Model {
    // Start: matches mostly agree exactly.
    let mut m = [[0.0; NL]; NF];
    for row in m.iter_mut() {
        *row = [1.0, 0.05, 0.05, 0.1, 0.8];
    }
    let mut model = Model { m, u, lambda: 0.1 };
    let pats: Vec<([u8; NF], f64)> = patterns.iter().map(|(p, c)| (unpack(*p), *c as f64)).collect();
    let total: f64 = pats.iter().map(|(_, c)| c).sum();
    for _ in 0..50 {
        let mut mc = [[0.1f64; NL]; NF]; // smoothing keeps every level possible
        let mut uc = [[0.1f64; NL]; NF];
        let mut matched = 0.0;
        for (levels, count) in &pats {
            let post = model.probability(levels);
            let p = post * count;
            let q = (1.0 - post) * count;
            matched += p;
            for (f, l) in levels.iter().enumerate() {
                if *l != 0 {
                    mc[f][*l as usize] += p;
                    uc[f][*l as usize] += q;
                }
            }
        }
        let lambda = (matched / total).clamp(1e-6, 0.999);
        model.m = distribution(&mc);
        // u is learned too (it starts from the random pairs): non-matches
        // that blocking brought together agree on the blocking fields more
        // often than random pairs do, and that agreement must not count as
        // evidence of a match.
        model.u = distribution(&uc);
        let done = (lambda - model.lambda).abs() < 1e-7;
        model.lambda = lambda;
        if done {
            break;
        }
    }
    model
}

/// How one field of two records compares, for explanations.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FieldComparison {
    pub field: &'static str,
    /// `same`, `similar`, `close` (dates), `different` or `missing`.
    pub status: &'static str,
    pub similarity: f64,
}

/// Explains a pair field by field.
pub fn explain(a: &Features, b: &Features) -> Vec<FieldComparison> {
    let (levels, sims) = compare(a, b);
    FIELDS
        .iter()
        .zip(levels.iter().zip(sims))
        .map(|(field, (l, s))| FieldComparison {
            field,
            status: match (field, l) {
                (_, 0) => "missing",
                (_, 1) => "different",
                (&"date_of_birth" | &"postcode", 3) => "close",
                (_, 4) => "same",
                _ => "similar",
            },
            similarity: (s * 100.0).round() / 100.0,
        })
        .collect()
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
    pub skipped_blocks: usize,
    pub matched_pairs: usize,
    pub match_share: f64,
}

/// Settings of a duplicate scan.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub match_probability: f64,
    pub cluster_probability: f64,
    /// Blocks larger than this are skipped (too common to be informative).
    pub max_block: usize,
}

/// Candidate pairs from blocking, sorted and unique.
/// A blocking key hashed to 64 bits (collisions only add a few candidate
/// pairs, which the comparison then rejects): far cheaper than string keys
/// at a million records.
fn hash_key(k: &str) -> u64 {
    let h = blake3::hash(k.as_bytes());
    let b = h.as_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Every record under each of its blocking keys, kept after a scan so one
/// changed record can be compared with its blocks alone.
#[derive(Clone, Debug, Default)]
pub struct BlockIndex {
    /// (key hash, record), sorted.
    sorted: Vec<(u64, u32)>,
    /// Keys of records changed since the index was built.
    added: Vec<(u64, u32)>,
}

impl BlockIndex {
    pub fn build(features: &[Features]) -> BlockIndex {
        let mut sorted: Vec<(u64, u32)> = features
            .par_iter()
            .enumerate()
            .flat_map_iter(|(i, f)| f.keys().into_iter().map(move |k| (hash_key(&k), i as u32)))
            .collect();
        sorted.par_sort_unstable();
        BlockIndex { sorted, added: Vec::new() }
    }

    /// Records sharing a blocking key with `f` (which is record `me`),
    /// skipping blocks larger than `max_block`.
    pub fn neighbours(&mut self, me: u32, f: &Features, max_block: usize) -> Vec<u32> {
        let mut out = Vec::new();
        for k in f.keys() {
            let h = hash_key(&k);
            let lo = self.sorted.partition_point(|(x, _)| *x < h);
            let hi = self.sorted.partition_point(|(x, _)| *x <= h);
            let block: Vec<u32> = self.sorted[lo..hi]
                .iter()
                .chain(self.added.iter().filter(|(x, _)| *x == h))
                .map(|(_, i)| *i)
                .filter(|i| *i != me)
                .collect();
            if block.len() < max_block {
                out.extend(block);
            }
            if !self.added.contains(&(h, me)) {
                self.added.push((h, me));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Match probability of two records under a model.
pub fn probability(model: &Model, a: &Features, b: &Features) -> f64 {
    model.probability(&compare(a, b).0)
}

pub fn candidate_pairs(features: &[Features], max_block: usize) -> (Vec<(u32, u32)>, usize) {
    pairs_from(&BlockIndex::build(features).sorted, max_block)
}

fn pairs_from(hashed: &[(u64, u32)], max_block: usize) -> (Vec<(u32, u32)>, usize) {
    let mut blocks: Vec<&[(u64, u32)]> = Vec::new();
    let mut start = 0;
    for i in 1..=hashed.len() {
        if i == hashed.len() || hashed[i].0 != hashed[start].0 {
            blocks.push(&hashed[start..i]);
            start = i;
        }
    }
    let skipped = blocks.iter().filter(|v| v.len() > max_block).count();
    let mut pairs: Vec<u64> = blocks
        .into_par_iter()
        .filter(|v| v.len() > 1 && v.len() <= max_block)
        .flat_map_iter(|v| {
            let v: Vec<u32> = v.iter().map(|(_, i)| *i).collect();
            let mut out = Vec::with_capacity(v.len() * (v.len() - 1) / 2);
            for (x, &a) in v.iter().enumerate() {
                for &b in &v[x + 1..] {
                    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                    out.push((u64::from(lo) << 32) | u64::from(hi));
                }
            }
            out
        })
        .collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    (pairs.into_iter().map(|p| ((p >> 32) as u32, p as u32)).collect(), skipped)
}

/// Finds clusters of duplicates among `features`.
pub fn find(features: &[Features], settings: Settings) -> (Vec<Cluster>, DuplicateStats, Option<Model>) {
    let (clusters, stats, model, _) = find_indexed(features, settings);
    (clusters, stats, model)
}

/// [`find`], also returning the block index for later incremental rescans.
pub fn find_indexed(
    features: &[Features],
    settings: Settings,
) -> (Vec<Cluster>, DuplicateStats, Option<Model>, BlockIndex) {
    let trace = std::env::var_os("STEWARD_TRACE").is_some();
    let t0 = std::time::Instant::now();
    let lap = |what: &str| {
        if trace {
            eprintln!("    {:>7} ms  {what}", t0.elapsed().as_millis());
        }
    };
    let index = BlockIndex::build(features);
    let (pairs, skipped) = pairs_from(&index.sorted, settings.max_block);
    lap("candidate pairs");
    let mut stats = DuplicateStats { candidate_pairs: pairs.len(), skipped_blocks: skipped, ..Default::default() };
    if pairs.is_empty() {
        return (Vec::new(), stats, None, index);
    }
    let packed: Vec<u32> =
        pairs.par_iter().map(|&(a, b)| pack(&compare(&features[a as usize], &features[b as usize]).0)).collect();
    lap("compared");
    let mut patterns: HashMap<u32, u64> = HashMap::new();
    for p in &packed {
        *patterns.entry(*p).or_default() += 1;
    }
    let (u, random) = estimate_u(features, 200_000.min(features.len() * 50).max(1000), 0x5eed);
    // EM learns the m-probabilities from the candidates and the random pairs
    // together: when blocking is very precise the candidates are almost all
    // matches, and without the random pairs EM could not tell a match from
    // a non-match at all. The match share it estimates is then a
    // conservative prior for the candidates.
    // The random pairs stand for all the pairs blocking did not propose, so
    // they must never be outnumbered by the candidates: weight them up.
    let sampled: u64 = random.values().sum();
    let weight = (pairs.len() as u64 * 4).div_ceil(sampled.max(1)).max(1);
    let mut training = patterns.clone();
    for (p, c) in random {
        *training.entry(p).or_default() += c * weight;
    }
    lap("u estimated");
    let model = estimate_m(&training, u);
    lap("m estimated");
    stats.match_share = model.lambda;
    let prob: FxHashMap<u32, f64> = patterns.keys().map(|p| (*p, model.probability(&unpack(*p)))).collect();
    let mut links: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    let mut seeds: Vec<(f64, u32, u32)> = Vec::new();
    for (&(a, b), p) in pairs.iter().zip(&packed) {
        let pr = prob.get(p).copied().unwrap_or(0.0);
        if pr >= settings.cluster_probability {
            links.insert((a, b), pr);
        }
        if pr >= settings.match_probability {
            seeds.push((pr, a, b));
        }
    }
    stats.matched_pairs = seeds.len();
    lap("scored");
    seeds.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    // Constrained agglomeration: join two clusters only when every pair
    // across them is linked (directly compared or compared now).
    let mut cluster_of: FxHashMap<u32, usize> = FxHashMap::default();
    let mut clusters: Vec<Vec<u32>> = Vec::new();
    let pair_prob = |a: u32, b: u32, links: &FxHashMap<(u32, u32), f64>| -> f64 {
        let key = if a < b { (a, b) } else { (b, a) };
        match links.get(&key) {
            Some(p) => *p,
            None => model.probability(&compare(&features[a as usize], &features[b as usize]).0),
        }
    };
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
        // growing past MAX_CLUSTER is more likely a chain of look-alikes
        // (and checking every pair inside it would cost quadratic time).
        if ma.len() + mb.len() > MAX_CLUSTER {
            continue;
        }
        let ok = ma.iter().all(|&x| mb.iter().all(|&y| pair_prob(x, y, &links) >= settings.cluster_probability));
        if !ok {
            continue;
        }
        let target = match (ca, cb) {
            (Some(c), Some(d)) => {
                let moved = std::mem::take(&mut clusters[d]);
                for &x in &moved {
                    cluster_of.insert(x, c);
                }
                clusters[c].extend(moved);
                c
            }
            (Some(c), None) => {
                clusters[c].push(b);
                cluster_of.insert(b, c);
                c
            }
            (None, Some(d)) => {
                clusters[d].push(a);
                cluster_of.insert(a, d);
                d
            }
            (None, None) => {
                clusters.push(vec![a, b]);
                let c = clusters.len() - 1;
                cluster_of.insert(a, c);
                cluster_of.insert(b, c);
                c
            }
        };
        let _ = target;
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
                    score = score.min(pair_prob(x, y, &links));
                }
            }
            Cluster { members, score }
        })
        .collect();
    out.sort_by_key(|c| c.members[0]);
    (out, stats, Some(model), index)
}

/// How a requester's details (a partial record: often a name and an email)
/// compare with one record, when there is any evidence they are the same
/// person: the same email or phone, or both names at least similar. The
/// score is the match probability under `model` (the one the duplicate scan
/// estimated from the data; fields the requester did not give are neutral),
/// or under a cautious default when the store is too small to estimate one.
pub fn match_query(model: Option<&Model>, query: &Features, record: &Features) -> Option<(f64, Vec<FieldComparison>)> {
    let (levels, _) = compare(query, record);
    let (given, family, email, phone) = (levels[0], levels[1], levels[3], levels[4]);
    let evidence = email == 4 || phone == 4 || (given >= 2 && family >= 2);
    if !evidence {
        return None;
    }
    let fallback;
    let model = match model {
        Some(m) => m,
        None => {
            fallback = Model::cautious();
            &fallback
        }
    };
    let explained = explain(query, record).into_iter().filter(|c| c.status != "missing").collect();
    Some((model.probability(&levels), explained))
}

impl Model {
    /// A model for when none could be estimated: agreement is strong
    /// evidence, disagreement fairly strong evidence against, and matches
    /// are rare.
    fn cautious() -> Model {
        Model { m: [[1.0, 0.05, 0.05, 0.1, 0.8]; NF], u: [[1.0, 0.9, 0.05, 0.03, 0.02]; NF], lambda: 0.01 }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn rec(g: &str, f: &str, dob: &str, email: &str) -> Record {
        let mut r = Record::new("t", g, Utc::now());
        r.given_name = Some(g.into());
        r.family_name = Some(f.into());
        r.date_of_birth = DateParts::parse(dob);
        if !email.is_empty() {
            r.email = Some(email.into());
        }
        r
    }

    #[test]
    fn comparison_levels() {
        let a = Features::of(&rec("William", "Harrington", "1980-02-03", "w.harrington@example.com"));
        let b = Features::of(&rec("Bill", "Harington", "1980-03-02", "W.Harrington@Example.com"));
        let (l, _) = compare(&a, &b);
        assert_eq!(l[0], 4, "nickname is the same given name");
        assert_eq!(l[1], 3, "one letter missing is very similar");
        assert_eq!(l[2], 3, "swapped day and month is close");
        assert_eq!(l[3], 4, "emails canonical");
        assert_eq!(l[4], 0, "no phones");
        let c = Features::of(&rec("Harrington", "William", "1980-02-03", ""));
        let (l, _) = compare(&a, &c);
        assert_eq!((l[0], l[1]), (4, 4), "swapped names compare crosswise");
    }

    #[test]
    fn dates_with_one_typo_are_close() {
        let d = |s: &str| DateParts::parse(s);
        assert_eq!(date_level(d("1980-02-03"), d("1981-02-03")).0, 3);
        assert_eq!(date_level(d("1980-02-03"), d("1908-02-03")).0, 3, "transposed digits");
        assert_eq!(date_level(d("1980-02-03"), d("1975-06-21")).0, 1);
        assert_eq!(date_level(d("1980-02-03"), None).0, 0);
    }

    #[test]
    fn clusters_do_not_chain() {
        // Realistic unrelated people, so that u is estimated sensibly.
        let mut csv = Vec::new();
        crate::synth::generate(600, 11, &mut csv, None).expect("generate");
        let opts = crate::import::Options {
            format: crate::import::Format::Csv,
            id_column: None,
            source: "t".into(),
            now: Utc::now(),
        };
        let mut recs: Vec<Record> =
            crate::import::parse(&csv[..], &opts, &mut |_| {}).rows.into_iter().map(|r| r.record).collect();
        // a~b: same person, new email. b~c: c took over b's mailbox, but is
        // clearly someone else than a.
        let base = recs.len() as u32;
        recs.push(rec("Annabel", "Quixley", "1980-01-01", "annabel@x.org"));
        recs.push(rec("Annabel", "Quixley", "1980-01-01", "aq@y.org"));
        recs.push(rec("Zebedee", "Moncrieff", "1955-07-30", "aq@y.org"));
        let f: Vec<Features> = recs.iter().map(Features::of).collect();
        let settings = Settings { match_probability: 0.9, cluster_probability: 0.5, max_block: 1000 };
        let (clusters, _, _) = find(&f, settings);
        assert!(clusters.iter().any(|c| c.members.contains(&base) && c.members.contains(&(base + 1))), "a~b found");
        for c in &clusters {
            assert!(!(c.members.contains(&base) && c.members.contains(&(base + 2))), "chained: {c:?}");
        }
    }

    #[test]
    fn requester_matches_need_evidence() {
        let rec_a = rec("William", "Harrington", "1980-02-03", "w.harrington@example.com");
        let mut query = Record::new("q", "q", Utc::now());
        query.given_name = Some("Bill".into());
        query.family_name = Some("Harington".into());
        let q = Features::of(&query);
        let (p, why) = match_query(None, &q, &Features::of(&rec_a)).expect("similar names are evidence");
        assert!(p > 0.5, "{p}");
        assert!(why.iter().all(|c| c.field.ends_with("name")), "only the fields the requester gave: {why:?}");
        let other = rec("Zebedee", "Moncrieff", "1955-07-30", "w.harrington@example.com");
        query.email = Some("W.Harrington@example.com".into());
        let q = Features::of(&query);
        let (p_other, _) = match_query(None, &q, &Features::of(&other)).expect("same email is evidence");
        let (p_both, _) = match_query(None, &q, &Features::of(&rec_a)).expect("match");
        assert!(p_both > p_other, "name and email beat email alone: {p_both} vs {p_other}");
        query.email = None;
        assert!(match_query(None, &Features::of(&query), &Features::of(&other)).is_none(), "no evidence");
    }

    #[test]
    fn cluster_ids_are_order_free() {
        let (a, b) = (RecordId::new(), RecordId::new());
        assert_eq!(cluster_id(&mut [a, b]), cluster_id(&mut [b, a]));
        assert_ne!(cluster_id(&mut [a, b]), cluster_id(&mut [a]));
    }
}
