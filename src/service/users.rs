//! Accounts: a user is a key slot with a role. Only admins manage users
//! (anyone may change their own passphrase); the last admin can be neither
//! removed nor demoted. Every change and refusal is audited.

use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::store::{NewSlot, Store, UserInfo};

/// A user name: 1-64 letters, digits, `.`, `_`, `-` (it is shown in the
/// audit trail and the lock file, so nothing exotic).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err("a user name is 1-64 letters, digits, '.', '_' or '-'".into()) }
}

impl Service {
    /// The users and their roles.
    pub fn users(&self) -> Result<Vec<UserInfo>, ServiceError> {
        Ok(self.store.users()?)
    }

    fn admins(&self) -> Result<usize, ServiceError> {
        Ok(self.store.users()?.iter().filter(|u| u.role == Role::Admin).count())
    }

    fn user_role(&self, name: &str) -> Result<Option<Role>, ServiceError> {
        Ok(self.store.users()?.into_iter().find(|u| u.name == name).map(|u| u.role))
    }

    /// Adds a user.
    pub fn user_add(&self, name: &str, role: Role, slot: NewSlot) -> Result<(), ServiceError> {
        let mut draft = self.draft("user-add", &[]);
        draft.detail = Some(format!("{} as {}", crate::model::text::fit(name, 64), role.name()));
        self.require(Role::Admin, "manage users", &[])?;
        if let Err(e) = check_name(name) {
            return Err(self.refuse(draft, e));
        }
        if self.user_role(name)?.is_some() {
            return Err(self.refuse(draft, format!("user `{name}` exists")));
        }
        self.store.change_slots(draft, |slots, root| Store::new_slot(slots, root, name, role, slot))?;
        Ok(())
    }

    /// Removes a user: their key slot is destroyed, so their secret opens nothing.
    pub fn user_remove(&self, name: &str) -> Result<(), ServiceError> {
        let mut draft = self.draft("user-remove", &[]);
        draft.detail = Some(crate::model::text::fit(name, 64));
        self.require(Role::Admin, "manage users", &[])?;
        match self.user_role(name)? {
            None => return Err(self.refuse(draft, format!("no user `{}`", crate::model::text::fit(name, 64)))),
            Some(Role::Admin) if self.admins()? <= 1 => {
                return Err(self.refuse(draft, "the last admin cannot be removed".into()));
            }
            Some(_) => {}
        }
        self.store.change_slots(draft, |slots, _| slots.remove(name))?;
        Ok(())
    }

    /// Changes a user's role.
    pub fn user_set_role(&self, name: &str, role: Role) -> Result<(), ServiceError> {
        let mut draft = self.draft("user-role", &[]);
        draft.detail = Some(format!("{} → {}", crate::model::text::fit(name, 64), role.name()));
        self.require(Role::Admin, "manage users", &[])?;
        match self.user_role(name)? {
            None => return Err(self.refuse(draft, format!("no user `{}`", crate::model::text::fit(name, 64)))),
            Some(Role::Admin) if role != Role::Admin && self.admins()? <= 1 => {
                return Err(self.refuse(draft, "the last admin cannot be demoted".into()));
            }
            Some(_) => {}
        }
        self.store.change_slots(draft, |slots, root| slots.set_role(root, name, role))?;
        Ok(())
    }

    /// Sets a new passphrase or key for `name` (yourself, or anyone as admin).
    pub fn user_passwd(&self, name: &str, slot: NewSlot) -> Result<(), ServiceError> {
        let mut draft = self.draft("user-passwd", &[]);
        draft.detail = Some(crate::model::text::fit(name, 64));
        if name != self.session.user {
            self.require(Role::Admin, "change another user's passphrase", &[])?;
        }
        let Some(role) = self.user_role(name)? else {
            return Err(self.refuse(draft, format!("no user `{}`", crate::model::text::fit(name, 64))));
        };
        self.store.change_slots(draft, |slots, root| Store::new_slot(slots, root, name, role, slot))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain() {
        assert!(check_name("ops.bob-2").is_ok());
        for bad in ["", "a b", "bob\u{1b}[31m", "ümit", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
