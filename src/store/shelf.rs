//! Small sealed collections beside the records: the suppression list, the
//! outgoing change feed of each source, the source definitions, the
//! breach register and the import batches.
//!
//! Each value is sealed like a request (its own key wrapped by the data key,
//! its sled key bound as associated data), so a rotation re-wraps them with
//! everything else and an erased entry's old copies become undecryptable.
//! Keys carry no personal data: ULIDs, source names and sequence numbers.
//!
//! The suppression list is looked up by keyed hashes under a key derived
//! from the root key, which — unlike the data key — survives rotations: a
//! rotation cannot re-hash values the store no longer has, and recognising
//! an erased person on the next import is what the list is for. The hashes
//! live inside the sealed entries, never in a key.

use std::collections::BTreeMap;

use super::change::prefixed;
use super::*;

/// A sealed collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shelf {
    /// `z` + entry id → what identifies an erased person, hashed.
    Suppression,
    /// `o` + source name + 0 + sequence number (big-endian) → outgoing change.
    Outbox,
    /// `g` + source name → the source's definition and sync state.
    Source,
    /// `b` + reference → a personal-data breach (`model::breach`).
    Breach,
    /// `i` + batch number (big-endian) → the records an import or sync
    /// wrote (see `service::batches`).
    Batch,
}

impl Shelf {
    pub(super) const ALL: [Shelf; 5] = [Shelf::Suppression, Shelf::Outbox, Shelf::Source, Shelf::Breach, Shelf::Batch];

    pub(super) fn prefix(self) -> u8 {
        match self {
            Shelf::Suppression => P_SUPPRESS,
            Shelf::Outbox => P_OUTBOX,
            Shelf::Source => P_SOURCE_DEF,
            Shelf::Breach => P_BREACH,
            Shelf::Batch => P_BATCH,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Shelf::Suppression => "suppression",
            Shelf::Outbox => "outbox",
            Shelf::Source => "source",
            Shelf::Breach => "breach",
            Shelf::Batch => "batch",
        }
    }

    pub(super) fn of_prefix(p: u8) -> Option<Shelf> {
        Shelf::ALL.into_iter().find(|s| s.prefix() == p)
    }

    /// The wrapped key's and the value's associated data for `key` (the sled
    /// key without its prefix).
    pub(super) fn key_ad(self, key: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let label = self.label().as_bytes();
        (
            [b"steward-dek-v1\0".as_slice(), label, b"\0", key].concat(),
            [b"steward-blob-v1\0".as_slice(), label, b"\0", key].concat(),
        )
    }
}

/// The sled key of an outgoing change (without the prefix).
pub(super) fn outbox_key(source: &str, seq: u64) -> Vec<u8> {
    [source.as_bytes(), &[0], &seq.to_be_bytes()].concat()
}

/// An outgoing change, decrypted, with its number.
pub type Numbered = (u64, zeroize::Zeroizing<Vec<u8>>);

/// A shelved value, decrypted: its key (without the prefix) and plaintext.
pub type Shelved = (Vec<u8>, zeroize::Zeroizing<Vec<u8>>);

impl Store {
    /// Every value on `shelf` whose key starts with `start`, in key order.
    pub fn shelf(&self, shelf: Shelf, start: &[u8]) -> Result<Vec<Shelved>, StoreError> {
        let master = self.keys().master;
        let corrupt = || StoreError::Corrupt(format!("a {} entry does not open", shelf.label()));
        let mut out = Vec::new();
        for kv in self.db().scan_prefix(prefixed(shelf.prefix(), start)) {
            let (k, v) = kv?;
            let key = k[1..].to_vec();
            let (ka, ad) = shelf.key_ad(&key);
            out.push((key, open_enveloped(&master, &ka, &ad, &v).ok_or_else(corrupt)?));
        }
        Ok(out)
    }

    /// The keys on `shelf` (without the prefix), in order; nothing decrypted.
    pub fn shelf_keys(&self, shelf: Shelf) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db().scan_prefix([shelf.prefix()]) {
            out.push(kv?.0[1..].to_vec());
        }
        Ok(out)
    }

    /// How many values on `shelf` start with `start` (nothing decrypted).
    pub fn shelf_len(&self, shelf: Shelf, start: &[u8]) -> Result<usize, StoreError> {
        let mut n = 0;
        for kv in self.db().scan_prefix(prefixed(shelf.prefix(), start)) {
            kv?;
            n += 1;
        }
        Ok(n)
    }

    /// One value on `shelf`.
    pub fn shelf_get(&self, shelf: Shelf, key: &[u8]) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StoreError> {
        let Some(v) = self.db().get(prefixed(shelf.prefix(), key))? else { return Ok(None) };
        let (ka, ad) = shelf.key_ad(key);
        open_enveloped(&self.keys().master, &ka, &ad, &v)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("a {} entry does not open", shelf.label())))
    }

    /// The outgoing changes of `source` after sequence number `after`,
    /// decrypted, in order.
    pub fn outbox(&self, source: &str, after: u64) -> Result<Vec<Numbered>, StoreError> {
        let start = [source.as_bytes(), &[0]].concat();
        let mut out = Vec::new();
        for (key, plain) in self.shelf(Shelf::Outbox, &start)? {
            let seq = outbox_seq(&key).ok_or_else(|| StoreError::Corrupt("an outgoing change's key".into()))?;
            if seq > after {
                out.push((seq, plain));
            }
        }
        Ok(out)
    }

    /// Pending outgoing changes per source (nothing decrypted).
    pub fn outbox_counts(&self) -> Result<BTreeMap<String, usize>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.db().scan_prefix([P_OUTBOX]) {
            let (k, _) = kv?;
            let key = &k[1..];
            if key.len() > 9 {
                let name = String::from_utf8_lossy(&key[..key.len() - 9]).into_owned();
                *out.entry(name).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    /// The highest sequence number `source` has used (0 if none). Kept in
    /// the metadata, so numbers are never reused after an acknowledgement.
    pub fn outbox_high(&self, source: &str) -> Result<u64, StoreError> {
        Ok(self
            .db()
            .get(meta_key(&outbox_high_key(source)))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_le_bytes))
    }

    /// A keyed hash for the suppression list (see the module docs).
    pub fn suppression_blind(&self, kind: &str, value: &str) -> Blind {
        let h = self.root.derive("steward 2026 suppression v1").keyed_hash(&[kind.as_bytes(), value.as_bytes()]);
        let mut b = [0u8; 16];
        b.copy_from_slice(&h[..16]);
        b
    }
}

pub(super) fn outbox_high_key(source: &str) -> String {
    format!("outbox-high\0{source}")
}

fn outbox_seq(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_keys_sort_by_sequence_and_name_their_source() {
        let a = outbox_key("crm", 2);
        let b = outbox_key("crm", 10);
        assert!(a < b);
        assert_eq!(outbox_seq(&b), Some(10));
        // A source whose name extends another's does not share its range.
        assert!(!outbox_key("crm2", 1).starts_with(&[b"crm".as_slice(), &[0]].concat()));
        assert_ne!(Shelf::Outbox.key_ad(b"x"), Shelf::Source.key_ad(b"x"));
    }
}
