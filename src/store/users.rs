//! Key slots as user accounts: add, remove, change role or secret. Each
//! change rewrites the key-slot file (atomically) and is audited; the
//! audit entry is flushed first, so a change never happens unaudited.

use super::audit::{Draft, Entry};
use super::*;

/// A user as listed (no secrets).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    /// `passphrase` or `key file`.
    pub unlock: &'static str,
}

impl Store {
    /// The users of the store.
    pub fn users(&self) -> Result<Vec<UserInfo>, StoreError> {
        Ok(self
            .lock_slots()?
            .slots
            .iter()
            .map(|s| UserInfo {
                name: s.user.clone(),
                role: s.role,
                unlock: match s.kind {
                    crypto::SlotKind::Passphrase { .. } => "passphrase",
                    crypto::SlotKind::Age { .. } => "key file",
                },
            })
            .collect())
    }

    /// Audits `draft`, then applies `edit` to the key slots and writes them.
    pub fn change_slots(
        &self,
        draft: Draft,
        edit: impl FnOnce(&mut KeySlots, &Key) -> Result<(), SlotError>,
    ) -> Result<Entry, StoreError> {
        // With the change lock (on a shared store the slots are re-read
        // under it), so no other change of the slots comes in between.
        let mut head = self.lock_head()?;
        // Try the edit on a copy first, so a refused edit is not audited as done.
        let mut next = self.lock_slots()?.clone();
        edit(&mut next, &self.root)?;
        self.invalidate_snapshot()?;
        let entry = self.audit_locked(&mut head, draft)?;
        let mut slots = self.lock_slots()?;
        next.audit_head = slots.audit_head.clone();
        write_slots(&self.home, &next)?;
        *slots = next;
        Ok(entry)
    }

    /// Checks a secret against `user`'s slot without changing anything (the
    /// idle lock's re-login).
    pub fn check_secret(&self, user: &str, secret: &UnlockSecret) -> Result<Role, StoreError> {
        let slots = self.lock_slots()?.clone();
        let (root, role) = slots.unlock(user, secret)?;
        if root.as_bytes() != self.root.as_bytes() {
            return Err(StoreError::Slot(SlotError::WrongSecret(user.to_owned())));
        }
        Ok(role)
    }

    /// Adds `user` with a passphrase or a public key.
    pub fn new_slot(slots: &mut KeySlots, root: &Key, user: &str, role: Role, slot: NewSlot) -> Result<(), SlotError> {
        match slot {
            NewSlot::Passphrase(p, cost) => slots.add_passphrase(root, user, role, &p, cost),
            NewSlot::Recipient(r) => slots.add_recipient(root, user, role, &r),
        }
    }
}
