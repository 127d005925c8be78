//! Sealing and opening field values: XChaCha20-Poly1305 under a subject's data key.
//!
//! Layout of a sealed field: `0x01 || nonce (24 bytes) || ciphertext || tag (16 bytes)`.
//! The leading byte versions the layout so it can change without ambiguity.
//!
//! Associated data (never stored, recomputed on open) is a length-prefixed encoding of
//! `"kura-field-v1"`, the vault id, the collection, the subject id, the field name and the
//! data-key version. Any of them differing at open time makes authentication fail.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::{CryptoError, SecretKey, random_nonce};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Bytes a sealed field adds to its plaintext.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Where a field value belongs. Bound into every ciphertext as associated data.
#[derive(Debug, Clone, Copy)]
pub struct FieldContext<'a> {
    /// The vault's random 128-bit id (distinguishes vaults sharing a key provider).
    pub vault_id: &'a [u8; 16],
    /// Collection name.
    pub collection: &'a str,
    /// Subject's public id (UUID bytes).
    pub subject: &'a [u8; 16],
    /// Field name.
    pub field: &'a str,
    /// Version of the subject's data key.
    pub key_version: u32,
}

impl FieldContext<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.collection.len() + self.field.len());
        for part in [
            b"kura-field-v1".as_slice(),
            self.vault_id,
            self.collection.as_bytes(),
            self.subject,
            self.field.as_bytes(),
            &self.key_version.to_be_bytes(),
        ] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }
}

/// A subject's data key, ready to seal and open that subject's fields.
/// The cipher state (which holds the key) is zeroized on drop.
pub struct SubjectCipher {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SubjectCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectCipher(<redacted>)")
    }
}

impl SubjectCipher {
    /// Prepares a cipher for one data key.
    pub fn new(key: &SecretKey) -> Self {
        SubjectCipher {
            cipher: XChaCha20Poly1305::new(&(*key.expose()).into()),
        }
    }

    /// Seals one field value.
    ///
    /// # Errors
    /// [`CryptoError::Random`] if no nonce can be drawn.
    pub fn seal(&self, ctx: &FieldContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce: [u8; NONCE_LEN] = random_nonce();
        let aad = ctx.aad();
        let ct = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Malformed("plaintext too long"))?;
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens one field value. The plaintext is returned in a zeroizing buffer.
    ///
    /// # Errors
    /// [`CryptoError::Integrity`] when the ciphertext was altered or belongs to another
    /// vault, collection, subject, field or key; [`CryptoError::Malformed`] for a bad layout.
    pub fn open(
        &self,
        ctx: &FieldContext<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < OVERHEAD {
            return Err(CryptoError::Malformed("sealed field is too short"));
        }
        if sealed[0] != VERSION {
            return Err(CryptoError::Malformed("unknown sealed-field version"));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
        let aad = ctx.aad();
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Integrity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(subject: &'a [u8; 16], field: &'a str) -> FieldContext<'a> {
        FieldContext {
            vault_id: &[7; 16],
            collection: "accounts",
            subject,
            field,
            key_version: 1,
        }
    }

    #[test]
    fn round_trip_and_binding() {
        let key = SecretKey::generate().unwrap();
        let c = SubjectCipher::new(&key);
        let s1 = [1u8; 16];
        let s2 = [2u8; 16];
        let sealed = c
            .seal(&ctx(&s1, "name"), "山田 太郎 🎮".as_bytes())
            .unwrap();
        assert_eq!(
            c.open(&ctx(&s1, "name"), &sealed).unwrap().as_slice(),
            "山田 太郎 🎮".as_bytes()
        );
        // Moved to another subject or another field: integrity error, never garbage.
        assert!(matches!(
            c.open(&ctx(&s2, "name"), &sealed),
            Err(CryptoError::Integrity)
        ));
        assert!(matches!(
            c.open(&ctx(&s1, "email"), &sealed),
            Err(CryptoError::Integrity)
        ));
        let mut other = ctx(&s1, "name");
        other.key_version = 2;
        assert!(matches!(
            c.open(&other, &sealed),
            Err(CryptoError::Integrity)
        ));
        // Another key.
        let c2 = SubjectCipher::new(&SecretKey::generate().unwrap());
        assert!(matches!(
            c2.open(&ctx(&s1, "name"), &sealed),
            Err(CryptoError::Integrity)
        ));
        // A flipped bit.
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            c.open(&ctx(&s1, "name"), &bad),
            Err(CryptoError::Integrity)
        ));
        assert!(c.open(&ctx(&s1, "name"), &sealed[..10]).is_err());
        // Two seals of one value differ (random nonces).
        assert_ne!(
            sealed,
            c.seal(&ctx(&s1, "name"), "山田 太郎 🎮".as_bytes())
                .unwrap()
        );
    }
}
