//! What request matching keeps from a scan, so that matching a requester
//! in a store of a million records takes a few lookups instead of another
//! duplicate pass: lookup keys (email, phone, national id, customer number,
//! the sound of the names, birth date with postcode) to record indices, who
//! is the same person (the scan's clusters), and the estimated model.
//!
//! The service seals it under the data key and keeps it until any record
//! changes (see `Store::save_match_index`). Pure: no I/O.

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{EMAIL, Features, Model, NF, NID, PHONE, hash_parts};
use crate::model::RecordId;

/// Kinds of lookup key (the first byte hashed into each key).
const K_EMAIL: u8 = 1;
const K_PHONE: u8 = 2;
const K_NID: u8 = 3;
const K_CUSTOMER: u8 = 4;
const K_NAMES: u8 = 5;
const K_FAMILY_INITIAL: u8 = 6;
const K_DOB_POSTCODE: u8 = 7;

/// At most this many records are taken from one key (a very common name):
/// more could not single anyone out anyway.
pub const MAX_PER_KEY: usize = 2_000;

/// A customer number as typed by a person: letters and digits, upper case.
pub fn customer_number(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_uppercase()
}

/// The lookup keys of one record (or of a requester's details).
fn keys_of(x: &Features, source_id: Option<&str>, out: &mut Vec<u64>) {
    let k = |kind: u8, parts: &[&[u8]]| {
        let mut all: Vec<&[u8]> = vec![std::slice::from_ref(&kind)];
        all.extend_from_slice(parts);
        hash_parts(&all)
    };
    if let Some(e) = x.email() {
        out.push(k(K_EMAIL, &[e.as_bytes()]));
    }
    if let Some(p) = x.phone() {
        out.push(k(K_PHONE, &[p.as_bytes()]));
    }
    if let Some(n) = x.nid() {
        out.push(k(K_NID, &[n.as_bytes()]));
    }
    if let Some(c) = source_id.map(customer_number).filter(|c| !c.is_empty()) {
        out.push(k(K_CUSTOMER, &[c.as_bytes()]));
    }
    let (g, f) = (&x.sound[0][..], &x.sound[1][..]);
    if g[0] != 0 && f[0] != 0 {
        let (a, b) = if g <= f { (g, f) } else { (f, g) };
        out.push(k(K_NAMES, &[a, b]));
    }
    // The family name's sound with the first initial (a requester who
    // gives "J. Smith").
    if x.sound[1][0] != 0
        && let Some(i) = x.given().as_bytes().first()
    {
        out.push(k(K_FAMILY_INITIAL, &[&x.sound[1][..], std::slice::from_ref(i)]));
    }
    if let Some(d) = x.dob
        && !x.postcode().is_empty()
    {
        let y = d.year.to_le_bytes();
        out.push(k(K_DOB_POSTCODE, &[&[y[0], y[1], d.month, d.day], x.postcode().as_bytes()]));
    }
}

/// The index request matching uses.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MatchIndex {
    /// The store's record generation it was built at.
    pub generation: u64,
    /// Record of each index.
    pub ids: Vec<RecordId>,
    /// Person of each record: the lowest index of its duplicate cluster.
    person: Vec<u32>,
    /// The weakest link of each cluster, by person.
    cluster_score: FxHashMap<u32, f64>,
    /// Number of distinct people (records less the duplicates).
    pub persons: usize,
    /// (key, record index), sorted.
    keys: Vec<(u64, u32)>,
    /// Probability that another person holds the same email, phone or
    /// national id (by field) when no other person in the store does.
    identifier_u: [f64; NF],
    /// The countries of the records (a phone written without its country
    /// code is read as each of them in turn).
    pub countries: Vec<String>,
    pub model: Model,
}

/// Candidates for a requester, and what could not be looked at in full.
#[derive(Clone, Debug, Default)]
pub struct Lookup {
    /// Record indices sharing a key with the requester.
    pub records: Vec<u32>,
    /// Records sharing the requester's name sound (whether or not all were taken).
    pub same_name: usize,
}

impl MatchIndex {
    /// Builds the index from a scan: `features` annotated with term
    /// frequencies, the scan's model, its duplicate clusters (indices into
    /// `records`) with their scores.
    pub fn build<R: crate::model::Identified>(
        generation: u64,
        records: &[R],
        features: &[Features],
        model: Model,
        clusters: &[(Vec<u32>, f64)],
    ) -> MatchIndex {
        let n = records.len();
        let mut person: Vec<u32> = (0..n as u32).collect();
        let mut cluster_score = FxHashMap::default();
        for (members, score) in clusters {
            let Some(&rep) = members.iter().min() else { continue };
            for &m in members {
                if let Some(p) = person.get_mut(m as usize) {
                    *p = rep;
                }
            }
            cluster_score.insert(rep, *score);
        }
        let persons = n - clusters.iter().map(|(m, _)| m.len().saturating_sub(1)).sum::<usize>();
        let mut keys: Vec<(u64, u32)> = features
            .par_iter()
            .zip(records.par_iter())
            .enumerate()
            .flat_map_iter(|(i, (x, r))| {
                let mut out = Vec::with_capacity(8);
                keys_of(x, Some(r.source_id()), &mut out);
                out.into_iter().map(move |k| (k, i as u32))
            })
            .collect();
        keys.par_sort_unstable();
        keys.dedup();
        let mut index = MatchIndex {
            generation,
            ids: records.iter().map(|r| r.id()).collect(),
            person,
            cluster_score,
            persons,
            keys,
            identifier_u: [0.0; NF],
            countries: {
                let mut c: Vec<String> = records
                    .iter()
                    .filter_map(|r| r.country())
                    .map(|c| c.trim().to_ascii_uppercase())
                    .filter(|c| c.len() == 2)
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                c.truncate(300);
                c
            },
            model,
        };
        // A value of an identifier that no two people in the store share:
        // half a pair of smoothing over every pair of people.
        let all_pairs = (persons as f64) * (persons.saturating_sub(1) as f64) / 2.0;
        for field in [EMAIL, PHONE, NID] {
            index.identifier_u[field] = (0.5 / all_pairs.max(1.0)).min(1.0);
        }
        index
    }

    /// The person (cluster) of record `i`, and its members' score when it
    /// is a cluster.
    pub fn person_of(&self, i: u32) -> u32 {
        self.person.get(i as usize).copied().unwrap_or(i)
    }

    pub fn cluster_score(&self, person: u32) -> Option<f64> {
        self.cluster_score.get(&person).copied()
    }

    /// Every record of a person.
    pub fn members(&self, person: u32) -> Vec<u32> {
        if !self.cluster_score.contains_key(&person) {
            return vec![person];
        }
        (0..self.person.len() as u32).filter(|i| self.person[*i as usize] == person).collect()
    }

    fn block(&self, key: u64) -> &[(u64, u32)] {
        let lo = self.keys.partition_point(|(k, _)| *k < key);
        let hi = self.keys.partition_point(|(k, _)| *k <= key);
        &self.keys[lo..hi]
    }

    /// Records sharing any key with the requester (`customer` is the
    /// customer number they gave).
    pub fn lookup(&self, query: &Features, customer: Option<&str>) -> Lookup {
        let mut keys = Vec::new();
        keys_of(query, customer, &mut keys);
        let mut out = Lookup::default();
        let names = {
            let mut k = Vec::new();
            let bare = query.names_only();
            keys_of(&bare, None, &mut k);
            k
        };
        for key in keys {
            let block = self.block(key);
            if names.first() == Some(&key) {
                out.same_name = block.len();
            }
            out.records.extend(block.iter().take(MAX_PER_KEY).map(|(_, i)| *i));
        }
        out.records.sort_unstable();
        out.records.dedup();
        out
    }

    /// Probability that another person than `person` holds the requester's
    /// value of identifier `field`: the people holding it besides `person`
    /// over all people (a family's shared email weighs little), or, when
    /// nobody else holds it, half a pair over all pairs of people.
    pub fn identifier_u(&self, query: &Features, field: usize, person: u32) -> f64 {
        let kind = match field {
            EMAIL => K_EMAIL,
            PHONE => K_PHONE,
            NID => K_NID,
            _ => return 1.0,
        };
        let mut keys = Vec::new();
        keys_of(query, None, &mut keys);
        let key = keys.into_iter().find(|k| {
            let block = self.block(*k);
            !block.is_empty() && key_kind_matches(query, *k, kind)
        });
        let Some(key) = key else { return self.identifier_u[field] };
        let mut others: Vec<u32> =
            self.block(key).iter().map(|(_, i)| self.person_of(*i)).filter(|p| *p != person).collect();
        others.sort_unstable();
        others.dedup();
        if others.is_empty() { self.identifier_u[field] } else { others.len() as f64 / self.persons.max(1) as f64 }
    }

    /// [`MatchIndex::identifier_u`] of a value nobody else holds.
    pub fn base_u(&self, field: usize) -> f64 {
        self.identifier_u.get(field).copied().unwrap_or(1.0)
    }

    /// Encodes the index (for sealing).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Option<MatchIndex> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Whether `key` is `x`'s key of `kind`.
fn key_kind_matches(x: &Features, key: u64, kind: u8) -> bool {
    let value: Option<&str> = match kind {
        K_EMAIL => x.email(),
        K_PHONE => x.phone(),
        K_NID => x.nid(),
        _ => None,
    };
    value.is_some_and(|v| hash_parts(&[std::slice::from_ref(&kind), v.as_bytes()]) == key)
}
