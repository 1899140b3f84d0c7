//! Import batches: every import or sync that wrote records leaves a sealed
//! note of which records it wrote (inserted or updated), numbered 1, 2, …
//! per store, so that a breach can be scoped to "what came in with that
//! import" (`steward breach open --batch N`). The audit entry of the import
//! names its batch number. Record ids, a source name, a time and counts:
//! no personal data (sealed all the same, like everything on a shelf).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::store::Shelf;

/// What one import or sync wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub number: u64,
    pub time: DateTime<Utc>,
    pub by: String,
    pub source: String,
    pub inserted: usize,
    pub updated: usize,
    /// Every record written, as raw 16-byte ids (compact at a million).
    #[serde(skip)]
    pub ids: Vec<RecordId>,
}

/// The shelf key of batch `number`.
pub(crate) fn key(number: u64) -> Vec<u8> {
    number.to_be_bytes().to_vec()
}

impl Batch {
    /// JSON head, a zero byte, then the ids as 16 raw bytes each.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(0);
        v.reserve(self.ids.len() * 16);
        for id in &self.ids {
            v.extend_from_slice(&id.to_bytes());
        }
        v
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Batch> {
        let cut = b.iter().position(|c| *c == 0)?;
        let mut batch: Batch = serde_json::from_slice(&b[..cut]).ok()?;
        let ids = &b[cut + 1..];
        if !ids.len().is_multiple_of(16) {
            return None;
        }
        batch.ids =
            ids.chunks_exact(16).filter_map(|c| <[u8; 16]>::try_from(c).ok()).map(RecordId::from_bytes).collect();
        Some(batch)
    }
}

impl Service {
    /// The number the next batch takes (call under the writers' lock).
    pub(crate) fn next_batch(&self) -> Result<u64, ServiceError> {
        let last = self.store.shelf_keys(Shelf::Batch)?.last().and_then(|k| <[u8; 8]>::try_from(k.as_slice()).ok());
        Ok(last.map_or(0, u64::from_be_bytes) + 1)
    }

    /// One batch, with its ids.
    pub(crate) fn batch(&self, number: u64) -> Result<Batch, ServiceError> {
        let plain = self.store.shelf_get(Shelf::Batch, &key(number))?.ok_or_else(|| {
            ServiceError::NotFound(format!("import batch {number} (`steward audit list --action import` names them)"))
        })?;
        Batch::decode(&plain).ok_or_else(|| ServiceError::Invalid("an import batch does not read".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_with_its_ids() {
        let b = Batch {
            number: 3,
            time: crate::model::now(),
            by: "ann".into(),
            source: "crm".into(),
            inserted: 2,
            updated: 0,
            ids: vec![RecordId::new(), RecordId::new()],
        };
        assert_eq!(Batch::decode(&b.encode()), Some(b.clone()));
        let mut bad = b.encode();
        bad.pop();
        assert_eq!(Batch::decode(&bad), None);
    }
}
