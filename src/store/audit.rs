//! The audit trail: append-only, hash-chained entries.
//!
//! Each entry records who (OS user and steward user), when, what action,
//! which record ids, why (reason, request reference) and the outcome —
//! including refusals and failures — plus keyed digests of the state before
//! and after. Never personal data: reasons are the admin's words, digests
//! are keyed hashes.
//!
//! Entries live in sled under `a` + sequence number, each sealed under a key
//! derived from the store's root key with its sequence number bound as
//! associated data, so an edited, moved or replaced entry does not open.
//! Each entry names the keyed hash of the one before it (the chain), and the
//! head of the chain (last sequence number and hash) is sealed in the
//! key-slot file outside sled after every append, so a truncated tail is
//! caught too. The sled batch that makes a change carries its audit entry,
//! so the two are one atomic step.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::Key;

/// What came of an attempted action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    /// The user's role does not allow it, or a precondition failed.
    Denied,
    /// It was allowed but did not complete; nothing changed.
    Failed,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// An audit entry before it has a place in the chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Draft {
    pub os_user: String,
    pub user: String,
    pub action: String,
    pub records: Vec<String>,
    pub reason: Option<String>,
    pub request: Option<String>,
    pub outcome: Option<Outcome>,
    pub detail: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One entry of the trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub os_user: String,
    pub user: String,
    pub action: String,
    pub records: Vec<String>,
    pub reason: Option<String>,
    pub request: Option<String>,
    pub outcome: Outcome,
    /// What was done, in words without personal data (fields changed, merge
    /// or receipt id, counts).
    pub detail: Option<String>,
    /// Keyed digest of the records before / after (hex), when they changed.
    pub before: Option<String>,
    pub after: Option<String>,
    /// Chain hash of the previous entry (hex; zeros for the first).
    pub prev: String,
}

/// Action of the entry written when an unlock finds entries missing.
pub const ALARM: &str = "audit-alarm";

/// Longest reason or detail kept, in characters.
pub const MAX_TEXT: usize = 500;

/// Chain hash of the entry before the first.
pub const GENESIS: [u8; 32] = [0; 32];

/// Sequence number and chain hash of the last entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl Head {
    pub const EMPTY: Head = Head { seq: 0, hash: GENESIS };

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.seq.to_be_bytes().to_vec();
        v.extend_from_slice(&self.hash);
        v
    }

    pub fn decode(b: &[u8]) -> Option<Head> {
        let (seq, hash) = b.split_at_checked(8)?;
        Some(Head { seq: u64::from_be_bytes(seq.try_into().ok()?), hash: hash.try_into().ok()? })
    }
}

/// A chain head as sealed in one of its two places, with the number of
/// times the key-slot file's copy has been sealed so far (`generation`).
///
/// The head is kept twice: in the key-slot file (written after each change)
/// and in the database (in the same batch as each entry). Each database copy
/// names the key-slot generation in force when it was written, and that
/// generation only ever grows, so a key-slot file put back from an older copy
/// is older than the database says it must be — and an entry cut from the
/// tail disagrees with the database's copy, which cannot be forged without
/// the key nor deleted without being missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedHead {
    pub head: Head,
    pub generation: u64,
}

impl SealedHead {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.head.encode();
        v.extend_from_slice(&self.generation.to_be_bytes());
        v
    }

    /// Also reads the older form without a generation (generation 0).
    pub fn decode(b: &[u8]) -> Option<SealedHead> {
        let head = Head::decode(b.get(..40)?)?;
        let generation = match b.get(40..) {
            Some([]) | None => 0,
            Some(g) => u64::from_be_bytes(g.try_into().ok()?),
        };
        Some(SealedHead { head, generation })
    }
}

/// Associated data of the database's copy of the head.
pub const DB_HEAD_AD: &[u8] = b"steward-audit-db-head-v1";

/// What is wrong between the two copies of the head and the entries, if
/// anything. `last` is the last entry's sequence number; `slots` the head in
/// the key-slot file; `db` the head in the database.
pub fn check_heads(last: u64, slots: Option<SealedHead>, db: Option<SealedHead>) -> Option<String> {
    let slots_gen = slots.map_or(0, |s| s.generation);
    match db {
        Some(d) if d.head.seq > last => Some(format!(
            "entries {} to {} are missing: the trail was truncated after entry {last}",
            last + 1,
            d.head.seq,
        )),
        Some(d) if d.head.seq < last => Some(format!(
            "entries after {} are not named by the database's sealed head (added from outside)",
            d.head.seq
        )),
        Some(d) if d.generation > slots_gen => Some(format!(
            "the key-slot file is older than the database (sealed {} times, the database saw {}): it was put back from an old copy",
            slots_gen, d.generation
        )),
        Some(_) => None,
        // Written by a build that keeps both copies: the database's must be there.
        None if last > 0 && slots_gen > 0 => Some("the database's sealed chain head is missing".into()),
        None => None,
    }
}

impl Draft {
    /// Places the draft after `head`.
    pub fn into_entry(self, head: Head, time: DateTime<Utc>) -> Entry {
        let clip = |s: Option<String>| s.map(|s| crate::model::text::fit(&crate::model::text::sanitize(&s), MAX_TEXT));
        Entry {
            seq: head.seq + 1,
            time,
            os_user: self.os_user,
            user: self.user,
            action: self.action,
            records: self.records,
            reason: clip(self.reason),
            request: clip(self.request),
            outcome: self.outcome.unwrap_or(Outcome::Ok),
            detail: clip(self.detail),
            before: self.before,
            after: self.after,
            prev: hex(&head.hash),
        }
    }
}

impl Entry {
    /// The entry's serialised form: what is sealed and what is hashed.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Chain hash of this entry.
    pub fn hash(&self, key: &Key) -> [u8; 32] {
        key.keyed_hash(&[b"steward audit entry", &self.to_bytes()])
    }

    pub fn head(&self, key: &Key) -> Head {
        Head { seq: self.seq, hash: self.hash(key) }
    }
}

/// Associated data binding a sealed entry to its place.
pub fn entry_ad(seq: u64) -> Vec<u8> {
    let mut ad = b"steward-audit-v1\0".to_vec();
    ad.extend_from_slice(&seq.to_be_bytes());
    ad
}

/// What `audit verify` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Entries read.
    pub entries: u64,
    /// The first broken entry and what is wrong with it; `None` when intact.
    pub broken: Option<Broken>,
    /// Sequence number of the sealed head (0: none yet).
    pub sealed_head: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Broken {
    pub seq: u64,
    pub problem: String,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Checks a chain. `raw` yields (sequence number from the key, opened entry
/// or `None` when it did not open) in key order; `sealed` is the head kept
/// outside sled.
pub fn verify(raw: impl IntoIterator<Item = (u64, Option<Entry>)>, key: &Key, sealed: Option<Head>) -> Verification {
    let mut prev = Head::EMPTY;
    let mut n = 0;
    let sealed_seq = sealed.map_or(0, |h| h.seq);
    let broken = |seq, problem: String| Some(Broken { seq, problem });
    for (seq, entry) in raw {
        n += 1;
        let expected = prev.seq + 1;
        if seq != expected {
            let problem = if seq > expected {
                format!("entry {expected} is missing (deleted); the next entry is {seq}")
            } else {
                format!("entry {seq} is out of place")
            };
            return Verification { entries: n, broken: broken(expected.min(seq), problem), sealed_head: sealed_seq };
        }
        let Some(entry) = entry else {
            return Verification {
                entries: n,
                broken: broken(seq, format!("entry {seq} was altered or moved (it does not open)")),
                sealed_head: sealed_seq,
            };
        };
        if entry.seq != seq || entry.prev != hex(&prev.hash) {
            return Verification {
                entries: n,
                broken: broken(seq, format!("entry {seq} does not follow entry {} (replaced or reordered)", prev.seq)),
                sealed_head: sealed_seq,
            };
        }
        if entry.action == ALARM {
            return Verification {
                entries: n,
                broken: broken(seq, format!("entry {seq}: {}", entry.detail.clone().unwrap_or_default())),
                sealed_head: sealed_seq,
            };
        }
        prev = entry.head(key);
        if let Some(h) = sealed
            && h.seq == seq
            && h.hash != prev.hash
        {
            return Verification {
                entries: n,
                broken: broken(seq, format!("entry {seq} differs from the sealed chain head")),
                sealed_head: sealed_seq,
            };
        }
    }
    if sealed.is_none() {
        return Verification {
            entries: n,
            broken: broken(1, "the sealed chain head is missing from keyslots.json".into()),
            sealed_head: 0,
        };
    }
    if prev.seq < sealed_seq {
        let seq = prev.seq + 1;
        return Verification {
            entries: n,
            broken: broken(
                seq,
                format!("entries {seq} to {sealed_seq} are missing (the trail was truncated after entry {})", prev.seq),
            ),
            sealed_head: sealed_seq,
        };
    }
    Verification { entries: n, broken: None, sealed_head: sealed_seq }
}

pub fn hex(b: &[u8]) -> String {
    crate::crypto::slots::hex(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(n: u64, key: &Key) -> (Vec<Entry>, Head) {
        let mut head = Head::EMPTY;
        let mut out = Vec::new();
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        for i in 0..n {
            let d = Draft { user: "ada".into(), action: format!("a{i}"), ..Draft::default() };
            let e = d.into_entry(head, t);
            head = e.head(key);
            out.push(e);
        }
        (out, head)
    }

    fn raw(entries: &[Entry]) -> Vec<(u64, Option<Entry>)> {
        entries.iter().map(|e| (e.seq, Some(e.clone()))).collect()
    }

    #[test]
    fn heads_agree_or_say_what_is_wrong() {
        let h = |seq, generation| Some(SealedHead { head: Head { seq, hash: [seq as u8; 32] }, generation });
        // In step, or the key-slot copy one change behind after a crash.
        assert_eq!(check_heads(76, h(76, 9), h(76, 8)), None);
        assert_eq!(check_heads(76, h(75, 8), h(76, 8)), None);
        // Older stores: no database copy, no generation.
        assert_eq!(check_heads(76, h(76, 0), None), None);
        // Tail cut, database copy left.
        assert!(check_heads(74, h(74, 5), h(76, 8)).expect("cut").contains("75 to 76"));
        // Key-slot file put back from an old copy.
        assert!(check_heads(76, h(74, 5), h(76, 8)).expect("old").contains("older than the database"));
        // Database copy deleted.
        assert!(check_heads(74, h(74, 5), None).expect("gone").contains("missing"));
    }

    proptest! {
        #[test]
        fn sealed_heads_round_trip(seq in any::<u64>(), generation in any::<u64>(), b in any::<u8>()) {
            let s = SealedHead { head: Head { seq, hash: [b; 32] }, generation };
            prop_assert_eq!(SealedHead::decode(&s.encode()), Some(s));
            prop_assert_eq!(SealedHead::decode(&s.head.encode()), Some(SealedHead { generation: 0, ..s }));
        }
    }

    #[test]
    fn intact_chain_verifies() {
        let key = Key::random();
        let (entries, head) = chain(5, &key);
        let v = verify(raw(&entries), &key, Some(head));
        assert!(v.is_intact(), "{v:?}");
        assert_eq!(v.entries, 5);
    }

    #[test]
    fn unsealed_tail_after_a_crash_is_accepted() {
        let key = Key::random();
        let (entries, _) = chain(5, &key);
        let sealed = entries[3].head(&key);
        assert!(verify(raw(&entries), &key, Some(sealed)).is_intact());
    }

    proptest! {
        #[test]
        fn any_tampering_is_caught_at_the_right_entry(n in 2u64..12, pick in 0usize..100, how in 0u8..4) {
            let key = Key::random();
            let (mut entries, head) = chain(n, &key);
            let i = pick % entries.len();
            let mut rows = raw(&entries);
            let expect = match how {
                // Edited: the sealed value no longer opens.
                0 => { rows[i].1 = None; entries[i].seq }
                // Deleted.
                1 => { rows.remove(i); entries[i].seq }
                // Replaced by a forged entry that opens (someone with the key) but breaks the chain.
                2 => { entries[i].action = "forged".into(); rows[i].1 = Some(entries[i].clone());
                       if i + 1 < rows.len() { entries[i + 1].seq } else { entries[i].seq } }
                // Truncated from i.
                _ => { rows.truncate(i); entries[i].seq }
            };
            let v = verify(rows, &key, Some(head));
            let b = v.broken.expect("tampering must be detected");
            prop_assert_eq!(b.seq, expect, "{}", b.problem);
        }
    }
}
