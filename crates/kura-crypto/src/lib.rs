//! Every cryptographic operation kura performs on personal data, behind small, typed
//! functions. This is the only crate that names a cipher.
//!
//! - [`SecretKey`]: 256-bit key material; zeroized on drop, redacted in `Debug`, no `Display`.
//! - [`field`]: sealing and opening one field value with XChaCha20-Poly1305 under a subject's
//!   data key, with associated data binding vault, collection, subject, field and key
//!   version ([`FieldContext`]), so a ciphertext moved to another row or field fails with
//!   [`CryptoError::Integrity`] instead of decrypting to the wrong person's data.
//! - [`provider`]: the [`KeyProvider`] seam (wraps data keys under a key-encryption key and
//!   derives the vault's other root secrets) and its local key-file implementation
//!   ([`KeyFile`]).
//! - [`blind`]: blind-index tokens, HMAC-SHA-256 under per-field keys derived with HKDF
//!   from the index root key, truncated to 128 bits.
//!
//! # Invariants
//! - No function here returns or logs key bytes except through [`SecretKey::expose`], whose
//!   callers are reviewed.
//! - Nonces are 192-bit random values from a CSPRNG seeded by the OS generator; with XChaCha20 random nonces do
//!   not collide in practice, so no nonce state has to be kept or synchronized between servers.
//! - Errors never carry key material or plaintext.
#![deny(missing_docs)]

pub mod blind;
mod error;
pub mod field;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod provider;
mod secret;

pub use blind::{BlindIndexKey, BlindToken, KeyedHash};
pub use error::CryptoError;
pub use field::{FieldContext, SubjectCipher};
pub use provider::{KekVersions, KeyFile, KeyProvider, KeyPurpose, REFRESH_INTERVAL, WrappedKey};
pub use secret::{SecretKey, random_array, random_nonce, sha256};
