//! The bundled demo: a throwaway store built from `demo-data/`, so that
//! `steward demo` opens the dashboard on a fresh machine with no set-up.

use std::path::Path;

use secrecy::SecretString;

use super::{OnInvalid, Service, ServiceError};
use crate::crypto::KdfCost;
use crate::import::{self, Format, Options};
use crate::store::NewSlot;

/// Source name used when `--source` is not given.
pub const DEFAULT_SOURCE: &str = "default";

/// The demo customers, embedded so the binary works from anywhere.
pub const DEMO_CSV: &str = include_str!("../../demo-data/customers.csv");

/// The demo shop's data inventory, imported into every demo store.
pub const DEMO_POLICY: &str = include_str!("../../demo-data/policy.toml");

/// Passphrase of demo stores (they hold synthetic data only).
pub const DEMO_PASSPHRASE: &str = "demo";

/// Builds a demo store in `dir` (which must not exist or be empty), owned by
/// `user`, at a low KDF cost, and imports the demo customers.
pub fn build(dir: &Path, user: &str) -> Result<Service, ServiceError> {
    let slot = NewSlot::Passphrase(SecretString::from(DEMO_PASSPHRASE.to_owned()), KdfCost::LOW);
    let service = Service::init(dir, user, slot)?;
    service.import_policy(DEMO_POLICY)?;
    let opts = Options { format: Format::Csv, id_column: None, source: "crm".into(), now: chrono::Utc::now() };
    let mut parsed = import::parse(DEMO_CSV.as_bytes(), &opts, &mut |_| {});
    // The generator planted ages relative to its own "today"; move every
    // timestamp so that day is today, and the demo finds the same things
    // whenever it is run.
    let shift = chrono::Utc::now() - crate::synth::as_of();
    let moved = |t: chrono::DateTime<chrono::Utc>| crate::model::to_seconds(t + shift);
    for row in &mut parsed.rows {
        let t = &mut row.record.times;
        t.created = moved(t.created);
        t.updated = moved(t.updated);
        t.last_verified = t.last_verified.map(moved);
        t.last_activity = t.last_activity.map(moved);
        row.record.provenance.collected_at = moved(row.record.provenance.collected_at);
    }
    service.import(parsed, OnInvalid::Refuse, false, &|_| {})?;
    Ok(service)
}
