//! The systems records come from, seen from steward: what it must tell them
//! (the change feed), whom it must not take back (the suppression list) and
//! how it reaches a database source.
//!
//! Outgoing changes hold personal data (source ids, new values) and are
//! sealed in the store; suppression entries hold only keyed hashes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A keyed hash (see `store::Store::suppression_blind`).
pub type Hash16 = [u8; 16];

/// One change a source system must apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub at: DateTime<Utc>,
    pub by: String,
    /// The audit action that made it (`edit`, `merge`, `redact`, `erase` …).
    pub action: String,
    #[serde(flatten)]
    pub op: Op,
}

/// What the source must do to one of its rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Erase the row (the customer's data is gone from steward).
    Erase { source_id: String, receipt: Option<String> },
    /// The row is the same person as `into_id` (in `into_source`): delete it
    /// or point it there. `expect` is what steward knew the row to hold.
    Merge { source_id: String, into_source: String, into_id: String, expect: BTreeMap<String, Option<String>> },
    /// Set `field` from `old` to `new` (`None`: clear it).
    Update { source_id: String, field: String, old: Option<String>, new: Option<String> },
}

impl Op {
    pub fn source_id(&self) -> &str {
        match self {
            Op::Erase { source_id, .. } | Op::Merge { source_id, .. } | Op::Update { source_id, .. } => source_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Op::Erase { .. } => "erase",
            Op::Merge { .. } => "merge",
            Op::Update { .. } => "update",
        }
    }
}

/// What the suppression list keeps of one erased record: keyed hashes, never
/// a value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    pub id: String,
    pub at: DateTime<Utc>,
    pub by: String,
    /// The erasure's receipt.
    pub receipt: Option<String>,
    /// Names of the sources whose ids are listed (not personal data).
    pub sources: Vec<String>,
    /// Hashes of (source, source id) of the record and of the records merged into it.
    pub source_ids: Vec<Hash16>,
    /// Every email and phone the person had in steward: the record's, those
    /// of the records merged into it, values rectified since (from undo
    /// snapshots and pending changes), email and phone extras.
    pub emails: Vec<Hash16>,
    pub phones: Vec<Hash16>,
    /// Their names (folded full name; first given and last family name):
    /// an email or phone hit only counts when a name agrees (see
    /// `service::suppression`), so a relative sharing a phone is not taken
    /// for the erased person.
    pub names: Vec<Hash16>,
}

/// How a database source is reached and mapped. Holds no password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postgres {
    /// Connection URL without a password (`postgresql://user@host:port/db`).
    pub url: String,
    pub table: String,
    /// The primary-key column: the source id.
    pub id_column: String,
    /// steward field → column.
    pub map: Vec<(String, String)>,
    /// A column that changes whenever a row does (`updated_at`): syncs
    /// after the first read only rows changed since.
    pub updated_column: Option<String>,
    pub on_erase: OnErase,
    pub on_merge: OnMerge,
    /// The table's identity when it was defined (database and oid): sync
    /// and push refuse a table dropped and made again, or another database
    /// behind the same URL.
    #[serde(default)]
    pub identity: Option<String>,
}

/// What a push does with an erased customer's row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OnErase {
    /// DELETE the row.
    Delete,
    /// Set every mapped column but the id to NULL (for tables other rows refer to).
    Anonymise,
}

/// What a push does with a merged-away row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMerge {
    Delete,
    /// Set this column to the survivor's id and leave the row.
    Repoint(String),
}

/// A source steward knows: a file source (imported by hand) or a database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub postgres: Option<Postgres>,
    pub state: SyncState,
}

/// What the last imports, syncs and pushes did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    pub last_sync: Option<DateTime<Utc>>,
    /// The highest `updated_column` value read, as text.
    pub cursor: Option<String>,
    /// Rows the last sync or import read.
    pub rows: u64,
    /// Rows skipped because they belong to erased customers, all time.
    pub suppressed: u64,
    pub last_push: Option<DateTime<Utc>>,
    /// Outgoing changes applied or acknowledged, all time.
    pub applied: u64,
    /// When each erasure receipt's changes were acknowledged.
    pub told: BTreeMap<String, DateTime<Utc>>,
}
