//! Key slots, LUKS style: the store's master key wrapped once per user, by a
//! passphrase through Argon2id or by an age / SSH public key.
//!
//! The slots live in a small JSON file outside sled (sled never forgets a
//! value, so a removed slot would stay on disk there). The file is replaced
//! atomically; the user name and role of a slot are bound into the wrapping
//! as associated data, so editing them makes the slot useless.

use std::io::{Read, Write};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Key, OpenError, open, seal};

/// Version of the key-slot file written by this build.
pub const SLOTS_FORMAT: u32 = 1;

/// What a user may do. Enforced by the service layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Steward,
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Steward => "steward",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "steward" => Ok(Role::Steward),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role `{s}` (viewer, steward, admin)")),
        }
    }
}

/// Argon2id cost, stored per slot so it can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfCost {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl KdfCost {
    /// The default: 64 MiB, 3 passes. About 0.3 s on the reference machine
    /// (see BENCHMARKS.md), well under the 1 s unlock budget.
    pub const DEFAULT: KdfCost = KdfCost { m_kib: 64 * 1024, t: 3, p: 1 };
    /// For throwaway demo and test stores only.
    pub const LOW: KdfCost = KdfCost { m_kib: 1024, t: 1, p: 1 };
}

/// How a slot's wrapping key is obtained.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    Passphrase {
        salt: String,
        cost: KdfCost,
    },
    /// Master key encrypted with age to this recipient (`age1...` or `ssh-ed25519 ...`).
    Age {
        recipient: String,
    },
}

/// One user's wrapped copy of the master key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Slot {
    pub user: String,
    pub role: Role,
    pub kind: SlotKind,
    /// Base64 of the wrapped root key.
    pub wrapped: String,
    /// Keyed tag binding `role` to this user under the root key (hex). Slots
    /// with a tag bind only the user name into the wrapping, so an admin can
    /// change a role without the user's passphrase; editing the role in the
    /// file breaks the tag. Slots without one (older stores) bind the role
    /// into the wrapping itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_tag: Option<String>,
}

/// The whole key-slot file.
///
/// Slots wrap the store's long-lived *root key*. The root key in turn seals
/// the *data key* that wraps every record's own key; `rekey` replaces the
/// data key here, so once this file is overwritten no passphrase can recover
/// the old one. The audit chain head is sealed here too, out of reach of
/// anyone who can edit sled but not this file's sealed values.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeySlots {
    pub format: u32,
    /// Random id of this store, bound into every wrapping.
    pub store_id: String,
    pub slots: Vec<Slot>,
    /// The data key in force, sealed by the root key. Absent in stores made
    /// before key rotation existed: their data key is the root key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<SealedKey>,
    /// Set while a rekey is under way (so an interrupted one can finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_data_key: Option<SealedKey>,
    /// The audit chain head, sealed by the root key (see `store::audit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<String>,
}

/// A key sealed by the root key, with its generation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealedKey {
    pub epoch: u32,
    /// Base64 of the sealed key.
    pub sealed: String,
}

/// What the user presents to unlock.
pub enum UnlockSecret {
    Passphrase(SecretString),
    /// Contents of an age identity file or an unencrypted OpenSSH private key.
    Identity(Zeroizing<Vec<u8>>),
}

/// Why a slot could not be used or made.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// Deliberately does not say whether the user or the secret was wrong.
    #[error("wrong passphrase or key for user `{0}`")]
    WrongSecret(String),
    #[error("this user's slot needs {0}; pass {1}")]
    WrongKind(&'static str, &'static str),
    #[error("key-slot file: {0}")]
    Corrupt(String),
    #[error("no user `{0}`")]
    NoUser(String),
    #[error("user `{0}` has an old-style key slot: set a new passphrase first (`steward user passwd {0}`)")]
    Legacy(String),
    #[error("identity file not usable: {0}")]
    Identity(String),
    #[error("recipient not usable: {0}")]
    Recipient(String),
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

fn slot_ad(store_id: &str, user: &str, role: Role) -> Vec<u8> {
    format!("steward-slot-v1\0{store_id}\0{user}\0{}", role.name()).into_bytes()
}

fn slot_ad_v2(store_id: &str, user: &str) -> Vec<u8> {
    format!("steward-slot-v2\0{store_id}\0{user}").into_bytes()
}

impl Slot {
    /// Associated data of this slot's wrapping.
    fn ad(&self, store_id: &str) -> Vec<u8> {
        match self.role_tag {
            Some(_) => slot_ad_v2(store_id, &self.user),
            None => slot_ad(store_id, &self.user, self.role),
        }
    }
}

/// The passphrase in Unicode NFC: "café" typed as one code point or as
/// `e` + combining accent (macOS, some keyboards) is one passphrase.
fn nfc(pass: &SecretString) -> Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization;
    Zeroizing::new(pass.expose_secret().nfc().collect())
}

/// The key-encryption key of a passphrase (in NFC).
fn kdf(pass: &SecretString, salt: &[u8], cost: KdfCost) -> Result<Key, SlotError> {
    kdf_bytes(nfc(pass).as_bytes(), salt, cost)
}

fn kdf_bytes(pass: &[u8], salt: &[u8], cost: KdfCost) -> Result<Key, SlotError> {
    let params =
        argon2::Params::new(cost.m_kib, cost.t, cost.p, Some(32)).map_err(|e| SlotError::Kdf(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(pass, salt, out.as_mut()).map_err(|e| SlotError::Kdf(e.to_string()))?;
    Ok(Key(out))
}

/// Parses a public key given as `age1...` or an SSH public key line.
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send>, SlotError> {
    let s = s.trim();
    if s.starts_with("age1") {
        return age::x25519::Recipient::from_str(s)
            .map(|r| Box::new(r) as _)
            .map_err(|e| SlotError::Recipient(e.to_string()));
    }
    if s.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(s)
            .map(|r| Box::new(r) as _)
            .map_err(|_| SlotError::Recipient("not a supported SSH public key (ssh-ed25519 or ssh-rsa)".into()));
    }
    Err(SlotError::Recipient("expected an `age1...` or `ssh-...` public key".into()))
}

/// Reads identities from an age identity file or an unencrypted SSH key.
pub fn parse_identities(bytes: &[u8]) -> Result<Vec<Box<dyn age::Identity>>, SlotError> {
    if let Ok(file) = age::IdentityFile::from_buffer(bytes)
        && let Ok(ids) = file.into_identities()
        && !ids.is_empty()
    {
        return Ok(ids.into_iter().map(|i| i as Box<dyn age::Identity>).collect());
    }
    match age::ssh::Identity::from_buffer(bytes, None) {
        Ok(id @ age::ssh::Identity::Unencrypted(_)) => Ok(vec![Box::new(id)]),
        Ok(age::ssh::Identity::Encrypted(_)) => Err(SlotError::Identity(
            "passphrase-protected SSH keys are not supported; use an age identity or an unencrypted key file".into(),
        )),
        Ok(age::ssh::Identity::Unsupported(_)) => Err(SlotError::Identity("unsupported SSH key type".into())),
        Err(_) => Err(SlotError::Identity("not an age identity file or OpenSSH private key".into())),
    }
}

impl KeySlots {
    pub fn new() -> Self {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        Self {
            format: SLOTS_FORMAT,
            store_id: hex(&id),
            slots: Vec::new(),
            data_key: None,
            next_data_key: None,
            audit_head: None,
        }
    }

    fn sealed_key_ad(&self, what: &str, epoch: u32) -> Vec<u8> {
        format!("steward {what} v1\0{}\0{epoch}", self.store_id).into_bytes()
    }

    /// Seals `key` (generation `epoch`) under the root key.
    pub fn seal_key(&self, root: &Key, key: &Key, epoch: u32) -> SealedKey {
        SealedKey { epoch, sealed: B64.encode(seal(root, &self.sealed_key_ad("data key", epoch), key.as_bytes())) }
    }

    /// Opens a key sealed by [`KeySlots::seal_key`].
    pub fn open_key(&self, root: &Key, sealed: &SealedKey) -> Result<Key, SlotError> {
        let bad = || SlotError::Corrupt("the sealed data key does not open with this store's root key".into());
        let bytes = B64.decode(&sealed.sealed).map_err(|_| bad())?;
        let k = open(root, &self.sealed_key_ad("data key", sealed.epoch), &bytes).map_err(|OpenError| bad())?;
        Key::from_slice(&k).ok_or_else(bad)
    }

    /// The data key in force and its generation.
    pub fn current_data_key(&self, root: &Key) -> Result<(Key, u32), SlotError> {
        match &self.data_key {
            Some(s) => Ok((self.open_key(root, s)?, s.epoch)),
            None => Ok((Key::from_slice(root.as_bytes()).ok_or_else(|| SlotError::Corrupt("root key".into()))?, 0)),
        }
    }

    /// Seals the audit chain head (opaque bytes) under the root key.
    pub fn set_audit_head(&mut self, root: &Key, head: &[u8]) {
        let ad = self.sealed_key_ad("audit head", 0);
        self.audit_head = Some(B64.encode(seal(root, &ad, head)));
    }

    /// The sealed audit chain head, if one was written. An unreadable head is
    /// an error: someone changed it.
    pub fn audit_head(&self, root: &Key) -> Result<Option<Zeroizing<Vec<u8>>>, SlotError> {
        let Some(h) = &self.audit_head else { return Ok(None) };
        let bad = || SlotError::Corrupt("the sealed audit head was altered".into());
        let bytes = B64.decode(h).map_err(|_| bad())?;
        open(root, &self.sealed_key_ad("audit head", 0), &bytes).map(Some).map_err(|OpenError| bad())
    }

    pub fn find(&self, user: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.user == user)
    }

    /// Adds (or replaces) `user`'s slot, wrapping `master` with a passphrase.
    pub fn add_passphrase(
        &mut self,
        master: &Key,
        user: &str,
        role: Role,
        pass: &SecretString,
        cost: KdfCost,
    ) -> Result<(), SlotError> {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let kek = kdf(pass, &salt, cost)?;
        let wrapped = seal(&kek, &slot_ad_v2(&self.store_id, user), master.as_bytes());
        self.put(Slot {
            user: user.to_owned(),
            role,
            kind: SlotKind::Passphrase { salt: B64.encode(salt), cost },
            wrapped: B64.encode(wrapped),
            role_tag: Some(self.role_tag(master, user, role)),
        });
        Ok(())
    }

    /// Adds (or replaces) `user`'s slot, wrapping `master` to an age/SSH recipient.
    pub fn add_recipient(&mut self, master: &Key, user: &str, role: Role, recipient: &str) -> Result<(), SlotError> {
        let r = parse_recipient(recipient)?;
        // The age layer protects the key; the inner seal binds user and role.
        let bound = seal(&self.binding_key(master), &slot_ad_v2(&self.store_id, user), master.as_bytes());
        let enc = age::Encryptor::with_recipients(std::iter::once(r.as_ref() as &dyn age::Recipient))
            .map_err(|e| SlotError::Recipient(e.to_string()))?;
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).map_err(|e| SlotError::Recipient(e.to_string()))?;
        w.write_all(master.as_bytes())
            .and_then(|_| w.write_all(&bound))
            .map_err(|e| SlotError::Recipient(e.to_string()))?;
        w.finish().map_err(|e| SlotError::Recipient(e.to_string()))?;
        self.put(Slot {
            user: user.to_owned(),
            role,
            kind: SlotKind::Age { recipient: recipient.trim().to_owned() },
            wrapped: B64.encode(out),
            role_tag: Some(self.role_tag(master, user, role)),
        });
        Ok(())
    }

    fn role_tag(&self, root: &Key, user: &str, role: Role) -> String {
        let k = root.derive("steward 2026 role tag v1");
        hex(&k.keyed_hash(&[self.store_id.as_bytes(), user.as_bytes(), role.name().as_bytes()]))
    }

    /// Changes `user`'s role (needs the root key, not their secret).
    pub fn set_role(&mut self, root: &Key, user: &str, role: Role) -> Result<(), SlotError> {
        let tag = self.role_tag(root, user, role);
        let slot = self.slots.iter_mut().find(|s| s.user == user).ok_or_else(|| SlotError::NoUser(user.to_owned()))?;
        if slot.role_tag.is_none() {
            return Err(SlotError::Legacy(user.to_owned()));
        }
        slot.role = role;
        slot.role_tag = Some(tag);
        Ok(())
    }

    /// Removes `user`'s slot; their secret then opens nothing.
    pub fn remove(&mut self, user: &str) -> Result<(), SlotError> {
        let before = self.slots.len();
        self.slots.retain(|s| s.user != user);
        if self.slots.len() == before {
            return Err(SlotError::NoUser(user.to_owned()));
        }
        Ok(())
    }

    fn binding_key(&self, master: &Key) -> Key {
        master.derive("steward 2026 slot binding v1")
    }

    fn put(&mut self, slot: Slot) {
        self.slots.retain(|s| s.user != slot.user);
        self.slots.push(slot);
    }

    /// Unwraps the master key for `user`. Returns the key and the user's role.
    pub fn unlock(&self, user: &str, secret: &UnlockSecret) -> Result<(Key, Role), SlotError> {
        let wrong = || SlotError::WrongSecret(user.to_owned());
        let Some(slot) = self.find(user) else {
            // Spend comparable time so a missing user is not told apart by timing.
            if let UnlockSecret::Passphrase(p) = secret {
                let _ = kdf(p, b"steward-no-such-user", KdfCost::DEFAULT);
            }
            return Err(wrong());
        };
        let wrapped = B64.decode(&slot.wrapped).map_err(|_| wrong())?;
        let ad = slot.ad(&self.store_id);
        let (root, role) = self.unwrap_slot(slot, &ad, &wrapped, secret, &wrong)?;
        // A tagged slot's role must carry the tag made with this root key.
        if let Some(tag) = &slot.role_tag
            && *tag != self.role_tag(&root, &slot.user, role)
        {
            return Err(wrong());
        }
        Ok((root, role))
    }

    fn unwrap_slot(
        &self,
        slot: &Slot,
        ad: &[u8],
        wrapped: &[u8],
        secret: &UnlockSecret,
        wrong: &dyn Fn() -> SlotError,
    ) -> Result<(Key, Role), SlotError> {
        let ad = ad.to_vec();
        match (&slot.kind, secret) {
            (SlotKind::Passphrase { salt, cost }, UnlockSecret::Passphrase(p)) => {
                let salt = B64.decode(salt).map_err(|_| wrong())?;
                let kek = kdf(p, &salt, *cost)?;
                let m = match open(&kek, &ad, wrapped) {
                    Ok(m) => m,
                    // A slot written before passphrases were normalised,
                    // with a passphrase that is not in NFC: as typed.
                    Err(OpenError) if *nfc(p) != *p.expose_secret() => {
                        let kek = kdf_bytes(p.expose_secret().as_bytes(), &salt, *cost)?;
                        open(&kek, &ad, wrapped).map_err(|OpenError| wrong())?
                    }
                    Err(OpenError) => return Err(wrong()),
                };
                Ok((Key::from_slice(&m).ok_or_else(wrong)?, slot.role))
            }
            (SlotKind::Age { .. }, UnlockSecret::Identity(bytes)) => {
                let ids = parse_identities(bytes)?;
                let dec = age::Decryptor::new_buffered(wrapped).map_err(|_| wrong())?;
                let mut r = dec.decrypt(ids.iter().map(|i| i.as_ref())).map_err(|_| wrong())?;
                let mut plain = Zeroizing::new(Vec::new());
                r.read_to_end(&mut plain).map_err(|_| wrong())?;
                let (m, bound) = plain.split_at_checked(32).ok_or_else(wrong)?;
                let master = Key::from_slice(m).ok_or_else(wrong)?;
                let check = open(&self.binding_key(&master), &ad, bound).map_err(|OpenError| wrong())?;
                if check.as_slice() != master.as_bytes() {
                    return Err(wrong());
                }
                Ok((master, slot.role))
            }
            (SlotKind::Passphrase { .. }, UnlockSecret::Identity(_)) => {
                Err(SlotError::WrongKind("a passphrase", "STEWARD_PASSPHRASE or type it at the prompt"))
            }
            (SlotKind::Age { .. }, UnlockSecret::Passphrase(_)) => {
                Err(SlotError::WrongKind("a key file", "--identity FILE"))
            }
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

impl Default for KeySlots {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> UnlockSecret {
        UnlockSecret::Passphrase(SecretString::from(s.to_owned()))
    }

    #[test]
    fn passphrase_slot_unlocks_only_with_the_right_passphrase() {
        let master = Key::random();
        let mut slots = KeySlots::new();
        slots
            .add_passphrase(&master, "ada", Role::Admin, &SecretString::from("right".to_owned()), KdfCost::LOW)
            .expect("slot");
        let (k, role) = slots.unlock("ada", &pass("right")).expect("unlock");
        assert_eq!(k.as_bytes(), master.as_bytes());
        assert_eq!(role, Role::Admin);
        assert!(matches!(slots.unlock("ada", &pass("wrong")), Err(SlotError::WrongSecret(_))));
    }

    #[test]
    fn break_10_passphrases_are_one_whatever_their_unicode_form() {
        let (nfc, nfd) = ("caf\u{e9} au lait", "cafe\u{301} au lait");
        let master = Key::random();
        let mut slots = KeySlots::new();
        slots
            .add_passphrase(&master, "ada", Role::Admin, &SecretString::from(nfd.to_owned()), KdfCost::LOW)
            .expect("slot");
        assert!(slots.unlock("ada", &pass(nfc)).is_ok(), "set as NFD, typed as NFC");
        assert!(slots.unlock("ada", &pass(nfd)).is_ok(), "set as NFD, typed as NFD");
        assert!(slots.unlock("ada", &pass("cafe au lait")).is_err());

        // A slot written before normalisation, from an NFD passphrase,
        // still opens with the passphrase as it was typed then.
        let SlotKind::Passphrase { salt, cost } = slots.slots[0].kind.clone() else { panic!("passphrase slot") };
        let kek = kdf_bytes(nfd.as_bytes(), &B64.decode(&salt).expect("salt"), cost).expect("kdf");
        let ad = slots.slots[0].ad(&slots.store_id);
        slots.slots[0].wrapped = B64.encode(seal(&kek, &ad, master.as_bytes()));
        let (k, _) = slots.unlock("ada", &pass(nfd)).expect("legacy slot opens");
        assert_eq!(k.as_bytes(), master.as_bytes());
    }

    #[test]
    fn editing_the_role_breaks_the_slot() {
        let master = Key::random();
        let mut slots = KeySlots::new();
        slots
            .add_passphrase(&master, "eve", Role::Viewer, &SecretString::from("pw".to_owned()), KdfCost::LOW)
            .expect("slot");
        slots.slots[0].role = Role::Admin;
        assert!(slots.unlock("eve", &pass("pw")).is_err());
    }

    #[test]
    fn an_admin_changes_a_role_without_the_users_passphrase() {
        let root = Key::random();
        let mut slots = KeySlots::new();
        slots
            .add_passphrase(&root, "eve", Role::Viewer, &SecretString::from("pw".to_owned()), KdfCost::LOW)
            .expect("slot");
        slots.set_role(&root, "eve", Role::Steward).expect("role");
        assert_eq!(slots.unlock("eve", &pass("pw")).expect("unlock").1, Role::Steward);
        // A tag made with another root key does not count.
        slots.set_role(&Key::random(), "eve", Role::Admin).expect("role");
        assert!(slots.unlock("eve", &pass("pw")).is_err());
        assert!(matches!(slots.remove("nobody"), Err(SlotError::NoUser(_))));
        slots.remove("eve").expect("remove");
        assert!(slots.unlock("eve", &pass("pw")).is_err());
    }

    #[test]
    fn age_slot_unlocks_with_identity() {
        let id = age::x25519::Identity::generate();
        let master = Key::random();
        let mut slots = KeySlots::new();
        slots.add_recipient(&master, "ops", Role::Admin, &id.to_public().to_string()).expect("slot");
        let file = format!("{}\n", secrecy::ExposeSecret::expose_secret(&id.to_string()));
        let (k, _) = slots.unlock("ops", &UnlockSecret::Identity(Zeroizing::new(file.into_bytes()))).expect("unlock");
        assert_eq!(k.as_bytes(), master.as_bytes());
        let other = age::x25519::Identity::generate();
        let file = format!("{}\n", secrecy::ExposeSecret::expose_secret(&other.to_string()));
        assert!(slots.unlock("ops", &UnlockSecret::Identity(Zeroizing::new(file.into_bytes()))).is_err());
    }
}
