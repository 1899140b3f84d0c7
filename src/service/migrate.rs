//! Moving a store between engines: `steward migrate --to DIR|URL` copies
//! the whole store — key slots and every value, still sealed — from a
//! directory (sled) to PostgreSQL or back, then checks the copy (see
//! `Store::copy_to`). Nothing is decrypted on the way; the copy opens with
//! the same passphrases and keys.

use super::{Location, Service, ServiceError};
use crate::crypto::Role;
pub use crate::store::Copied;

impl Service {
    /// How many values a copy of the store writes (for progress).
    pub fn store_values(&self) -> u64 {
        self.store.values().unwrap_or(0)
    }

    /// Copies the store to `to` (empty: a directory that does not exist or
    /// is empty, or a database without a steward store) and verifies the
    /// copy. Admins only; audited in the source before the copy (so both
    /// trails end with the entry). `progress` gets values written.
    pub fn migrate(&self, to: impl Into<Location>, progress: &dyn Fn(u64)) -> Result<Copied, ServiceError> {
        let to = to.into();
        self.require(Role::Admin, "copy the store to another engine", &[])?;
        if &to == self.store_location() {
            return Err(ServiceError::Invalid("the store cannot be copied onto itself".into()));
        }
        let mut d = self.draft("migrate", &[]);
        d.detail = Some(format!("a copy of the whole store to a {} store", to.engine()));
        self.store.audit(d)?;
        Ok(self.store.copy_to(&to, progress)?)
    }
}
