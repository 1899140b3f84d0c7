//! The source-id blind index, in buckets.
//!
//! `(source, source id)` → record id, keyed by a keyed hash so no plaintext
//! id reaches the disk. Entries are spread over [`BUCKETS`] sled values by
//! the first bits of the hash: random-key inserts are what makes sled slow
//! (measured: they halved import throughput), and a bucket rewrite is cheap.

use crate::model::RecordId;

/// Number of buckets (a power of two).
pub const BUCKETS: u16 = 4096;

/// A 16-byte truncated keyed hash of (source, source id).
pub type Blind = [u8; 16];

pub fn bucket_of(b: &Blind) -> u16 {
    (u16::from_be_bytes([b[0], b[1]])) % BUCKETS
}

/// One bucket: sorted (blind, id) pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub entries: Vec<(Blind, RecordId)>,
}

impl Bucket {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 32);
        for (b, id) in &self.entries {
            out.extend_from_slice(b);
            out.extend_from_slice(&id.to_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Bucket> {
        if !bytes.len().is_multiple_of(32) {
            return None;
        }
        let entries = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&c[..16]);
                let mut id = [0u8; 16];
                id.copy_from_slice(&c[16..]);
                (b, RecordId::from_bytes(id))
            })
            .collect();
        Some(Bucket { entries })
    }

    pub fn get(&self, b: &Blind) -> Option<RecordId> {
        self.entries.binary_search_by(|(e, _)| e.cmp(b)).ok().map(|i| self.entries[i].1)
    }

    pub fn set(&mut self, b: Blind, id: RecordId) {
        match self.entries.binary_search_by(|(e, _)| e.cmp(&b)) {
            Ok(i) => self.entries[i].1 = id,
            Err(i) => self.entries.insert(i, (b, id)),
        }
    }

    pub fn remove(&mut self, b: &Blind) {
        if let Ok(i) = self.entries.binary_search_by(|(e, _)| e.cmp(b)) {
            self.entries.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_round_trip_and_lookup() {
        let mut b = Bucket::default();
        let id = RecordId::new();
        b.set([3; 16], id);
        b.set([1; 16], id);
        assert_eq!(Bucket::decode(&b.encode()), Some(b.clone()));
        assert_eq!(b.get(&[3; 16]), Some(id));
        b.remove(&[3; 16]);
        assert_eq!(b.get(&[3; 16]), None);
        assert_eq!(Bucket::decode(&[1, 2, 3]), None);
    }
}
