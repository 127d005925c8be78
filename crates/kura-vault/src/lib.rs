//! Subjects: validating, sealing, storing, opening, searching and erasing personal data.
//!
//! [`Vault`] is the one place where plaintext field values and unwrapped data keys exist.
//! It turns a subject's fields into per-field ciphertexts under the subject's own data key
//! (sealed by `kura-crypto` with associated data binding vault, collection, subject, field
//! and key version), computes blind-index tokens over normalized values ([`normalize`]),
//! and hands only sealed bytes to a `kura-store` backend.
//!
//! # Invariants
//! - The store never receives a plaintext value or an unwrapped key.
//! - Erasure shreds the wrapped data key before anything else and evicts the unwrapped key
//!   from the in-memory cache, so no later read can succeed.
//! - Bad input is rejected before any key is generated or any byte is written.
//! - Errors name collections, fields and ids, never values.
#![deny(missing_docs)]

mod access;
mod cache;
pub mod cards;
mod codec;
mod contain;
pub mod credentials;
mod error;
mod guard;
pub mod normalize;
mod notices;
mod present;
pub mod rights;
mod vault;

pub use access::{Access, Caller};
pub use cards::{CardVault, CardView, DetokenizedCard, NewCardInput};
pub use contain::ContainmentSink;
pub use credentials::{Credentials, CredentialsOptions, PasswordError, RecoveryBy};
pub use error::VaultError;
pub use kura_policy::{Action as PolicyAction, DenyCode, Mode, Policy, PrincipalKind, Quota};
pub use notices::NoticeAddress;
pub use rights::{ExportedSubject, Identifier};
pub use uuid::Uuid;
pub use vault::{Durable, RewrapPage, SubjectInput, SubjectView, Vault, VaultOptions};

/// The names of the fields a subject holds, read from its sealed-fields blob (names are in
/// clear there; values are not, and nothing is opened). For bulk passes such as breach
/// scoping.
///
/// # Errors
/// [`VaultError::Store`] when the blob is malformed.
pub fn held_field_names(sealed: &[u8]) -> Result<Vec<String>, VaultError> {
    Ok(codec::decode(sealed)?.into_keys().collect())
}
