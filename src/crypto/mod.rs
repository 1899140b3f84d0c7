//! Sealing and keys: the AEAD used for every stored value, the memory-hard
//! KDF and age wrapping behind key slots, and keyed hashes for the blind
//! indexes that let the store look things up without plaintext keys.
//!
//! Depends only on `model`-free primitives; no sled, no terminal. Secrets are
//! held in zeroising containers and never printed.

pub mod slots;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

pub use slots::{KdfCost, KeySlots, Role, Slot, SlotKind, UnlockSecret};

/// Length of every symmetric key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// A 256-bit secret key, wiped from memory when dropped.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; KEY_LEN]>);

impl Key {
    /// A fresh key from the operating system's CSPRNG.
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    /// A fresh key from the thread-local CSPRNG (fast; for per-record keys).
    pub fn random_fast() -> Self {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rand::thread_rng().fill_bytes(k.as_mut());
        Self(k)
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        let arr: [u8; KEY_LEN] = b.try_into().ok()?;
        Some(Self(Zeroizing::new(arr)))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A subkey for one purpose, derived with BLAKE3's KDF mode.
    pub fn derive(&self, context: &str) -> Key {
        Key(Zeroizing::new(blake3::derive_key(context, self.as_bytes())))
    }

    /// Keyed hash (BLAKE3 keyed mode) used for blind indexes and state digests.
    pub fn keyed_hash(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(self.as_bytes());
        for p in parts {
            h.update(&(p.len() as u64).to_le_bytes());
            h.update(p);
        }
        *h.finalize().as_bytes()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Decryption failed: wrong key, wrong associated data, or tampering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("authenticated decryption failed")]
pub struct OpenError;

/// Seals `plaintext` under `key`, binding `ad`. Output: `nonce || ciphertext`.
pub fn seal(key: &Key, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    out.extend_from_slice(&nonce);
    // Encryption with a valid key and nonce length cannot fail.
    if let Ok(ct) = cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: ad }) {
        out.extend_from_slice(&ct);
    }
    out
}

/// Opens what [`seal`] produced. The plaintext is zeroised when dropped.
pub fn open(key: &Key, ad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let (nonce, ct) = sealed.split_at_checked(NONCE_LEN).ok_or(OpenError)?;
    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: ad }).map(Zeroizing::new).map_err(|_| OpenError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binds_ad() {
        let k = Key::random();
        let s = seal(&k, b"id-1", b"hello");
        assert_eq!(open(&k, b"id-1", &s).map(|p| p.to_vec()), Ok(b"hello".to_vec()));
        assert_eq!(open(&k, b"id-2", &s).map(|p| p.to_vec()), Err(OpenError));
        assert_eq!(open(&Key::random(), b"id-1", &s).map(|p| p.to_vec()), Err(OpenError));
        let mut t = s.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(open(&k, b"id-1", &t).map(|p| p.to_vec()), Err(OpenError));
        assert_eq!(open(&k, b"id-1", &[1, 2]).map(|p| p.to_vec()), Err(OpenError));
    }

    #[test]
    fn derive_and_keyed_hash_are_deterministic_and_separated() {
        let k = Key::random();
        assert_eq!(k.derive("a").as_bytes(), k.derive("a").as_bytes());
        assert_ne!(k.derive("a").as_bytes(), k.derive("b").as_bytes());
        // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(k.keyed_hash(&[b"ab", b"c"]), k.keyed_hash(&[b"a", b"bc"]));
    }
}
