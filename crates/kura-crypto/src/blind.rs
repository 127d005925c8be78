//! Blind-index tokens for exact-match search without plaintext.
//!
//! Each searchable field has its own 256-bit key, derived with HKDF-SHA-256 from the
//! index root key with info `"kura-blind-index-v1" || len || collection || len || field`.
//! A token is HMAC-SHA-256(field key, normalized value) truncated to 128 bits. Per-field keys
//! mean equal values in two fields give unrelated tokens, so the index reveals no
//! cross-field equality. Normalization is the caller's job (`kura-vault`), because it
//! depends on the field's category.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::SecretKey;

/// Length of a blind-index token in bytes (128 bits).
pub const TOKEN_LEN: usize = 16;

/// A blind-index token.
pub type BlindToken = [u8; TOKEN_LEN];

/// The HMAC key of one searchable field, kept as the HMAC state after absorbing the key
/// (so a token costs two SHA-256 compressions less). That state is as secret as the key;
/// `Debug` is redacted.
pub struct BlindIndexKey(Hmac<Sha256>);

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey(<redacted>)")
    }
}

impl BlindIndexKey {
    /// Derives the key of `collection.field` from the index root key.
    pub fn derive(root: &SecretKey, collection: &str, field: &str) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"kura-blind-index-v1"), root.expose());
        let mut info = Vec::with_capacity(8 + collection.len() + field.len());
        info.extend_from_slice(&(collection.len() as u32).to_be_bytes());
        info.extend_from_slice(collection.as_bytes());
        info.extend_from_slice(&(field.len() as u32).to_be_bytes());
        info.extend_from_slice(field.as_bytes());
        let mut okm = [0u8; 32];
        hk.expand(&info, &mut okm)
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        let key = SecretKey::from_bytes(okm);
        BlindIndexKey(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose())
                .expect("HMAC accepts a key of any length"),
        )
    }

    /// The token of an already-normalized value.
    pub fn token(&self, normalized: &[u8]) -> BlindToken {
        let mut mac = self.0.clone();
        mac.update(normalized);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; TOKEN_LEN];
        out.copy_from_slice(&full[..TOKEN_LEN]);
        out
    }
}

/// A keyed hash of a secret the store keeps only in hashed form (a recovery token):
/// HMAC-SHA-256 under a key from the key provider, full 256 bits. Unlike a plain SHA-256,
/// whoever can write the store but holds no key cannot put in the hash of a value they chose.
/// `Debug` is redacted.
pub struct KeyedHash(Hmac<Sha256>);

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHash(<redacted>)")
    }
}

impl KeyedHash {
    /// A keyed hash under `key` (e.g. `KeyPurpose::RecoveryToken` from the provider).
    pub fn new(key: &SecretKey) -> Self {
        KeyedHash(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose())
                .expect("HMAC accepts a key of any length"),
        )
    }

    /// HMAC-SHA-256 of `data`.
    pub fn hash(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_depends_on_the_key() {
        let a = KeyedHash::new(&SecretKey::from_bytes([1; 32]));
        let b = KeyedHash::new(&SecretKey::from_bytes([2; 32]));
        assert_eq!(a.hash(b"token"), a.hash(b"token"));
        assert_ne!(a.hash(b"token"), b.hash(b"token"));
        assert_ne!(a.hash(b"token"), a.hash(b"tokem"));
    }

    #[test]
    fn per_field_keys_give_unrelated_tokens() {
        let root = SecretKey::from_bytes([9; 32]);
        let a = BlindIndexKey::derive(&root, "accounts", "email");
        let b = BlindIndexKey::derive(&root, "accounts", "login_id");
        assert_eq!(a.token(b"x@example.com"), a.token(b"x@example.com"));
        assert_ne!(a.token(b"x@example.com"), b.token(b"x@example.com"));
        let other_root =
            BlindIndexKey::derive(&SecretKey::from_bytes([8; 32]), "accounts", "email");
        assert_ne!(a.token(b"v"), other_root.token(b"v"));
    }

    #[test]
    fn hmac_sha256_known_answer() {
        // RFC 4231 test case 2 checks the primitive the tokens truncate.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let out = mac.finalize().into_bytes();
        assert_eq!(
            out[..16],
            [
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7
            ]
        );
    }
}
