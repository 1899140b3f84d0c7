//! Record pages: up to [`PAGE_CAP`] sealed records stored as one sled value.
//!
//! sled's cost is per entry (measured: one 5.7 KB page inserts as fast as
//! one 360-byte record), so records are grouped. Each record inside a page is
//! still sealed on its own, under its own data key. A page is keyed by the
//! smallest id it holds; pages hold disjoint, ordered id ranges, so the page
//! of an id is the last page whose key is not greater than it.

use crate::model::RecordId;

/// Records per page at most.
pub const PAGE_CAP: usize = 16;

/// One decoded page: (id, sealed record) in id order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<(RecordId, Vec<u8>)>,
}

/// Page bytes that do not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPage;

impl Page {
    /// `[1][u16 LE n]` then per entry `[16-byte id][u32 LE len][sealed]`.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.entries.iter().map(|(_, v)| 20 + v.len()).sum();
        let mut out = Vec::with_capacity(3 + size);
        out.push(1);
        out.extend_from_slice(&u16::try_from(self.entries.len()).unwrap_or(u16::MAX).to_le_bytes());
        for (id, v) in &self.entries {
            out.extend_from_slice(&id.to_bytes());
            out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    /// Walks the entries of encoded page bytes without copying them.
    pub fn walk(bytes: &[u8], mut f: impl FnMut(RecordId, &[u8])) -> Result<(), BadPage> {
        if bytes.first() != Some(&1) || bytes.len() < 3 {
            return Err(BadPage);
        }
        let n = usize::from(u16::from_le_bytes([bytes[1], bytes[2]]));
        let mut rest = &bytes[3..];
        for _ in 0..n {
            let (id, r) = rest.split_at_checked(16).ok_or(BadPage)?;
            let (len, r) = r.split_at_checked(4).ok_or(BadPage)?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let (v, r) = r.split_at_checked(len).ok_or(BadPage)?;
            let id: [u8; 16] = id.try_into().map_err(|_| BadPage)?;
            f(RecordId::from_bytes(id), v);
            rest = r;
        }
        if rest.is_empty() { Ok(()) } else { Err(BadPage) }
    }

    pub fn decode(bytes: &[u8]) -> Result<Page, BadPage> {
        let mut entries = Vec::new();
        Page::walk(bytes, |id, v| entries.push((id, v.to_vec())))?;
        Ok(Page { entries })
    }

    pub fn first_id(&self) -> Option<RecordId> {
        self.entries.first().map(|(id, _)| *id)
    }

    pub fn position(&self, id: RecordId) -> Option<usize> {
        self.entries.binary_search_by(|(e, _)| e.cmp(&id)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pages_round_trip(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..PAGE_CAP)) {
            let mut ids: Vec<u128> = (0..values.len() as u128).map(|i| i * 7 + 1).collect();
            ids.sort();
            let page = Page { entries: ids.into_iter().zip(values).map(|(i, v)| (RecordId::from_bytes(i.to_be_bytes()), v)).collect() };
            prop_assert_eq!(Page::decode(&page.encode()), Ok(page));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Page::decode(&bytes);
        }
    }
}
