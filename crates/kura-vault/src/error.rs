//! The error type of the vault.

use kura_crypto::CryptoError;
use kura_model::ModelError;
use kura_store::StoreError;

/// A vault operation failed. Every variant has a stable [`code`](VaultError::code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The input broke a schema rule (unknown field, wrong type, bad country...).
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// No such subject in the collection (or it has been erased).
    #[error("subject {0} not found")]
    NotFound(String),
    /// A stored ciphertext failed authentication: it was altered or moved from another
    /// subject or field. Nothing of it is returned.
    #[error("stored data of subject {subject} failed its integrity check (field `{field}`)")]
    Integrity {
        /// Subject id.
        subject: String,
        /// Field whose ciphertext failed.
        field: String,
    },
    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key provider and the store belong to different vaults.
    #[error("the key provider ({provider}) belongs to another vault than the store")]
    VaultMismatch {
        /// Provider description.
        provider: String,
    },
    /// The access log could not record the request; fail closed: nothing was returned or
    /// changed.
    #[error("the access log is unavailable: {0}")]
    Audit(#[from] kura_audit::AuditError),
    /// The caller's grant does not allow the request (or the caller is suspended, or the
    /// request tripped containment). Recorded in the access log as `denied:<code>`.
    #[error("request denied: {0}")]
    Denied(kura_policy::DenyCode),
    /// Card input was refused (invalid number, expiry, a security code...). The message is
    /// fixed per code and carries no digit of the input.
    #[error(transparent)]
    Card(#[from] kura_cards::CardError),
    /// No such card token (or its card or subject has been erased).
    #[error("card not found")]
    CardNotFound,
    /// The subject's collection has no field of category `payment_card`, so its record
    /// could not show its cards: the card vault refuses to hold cards for it.
    #[error("collection {0} has no payment_card field")]
    NoCardField(String),
    /// Outbound mail failed (sending, or removing an erased subject's held messages).
    #[error(transparent)]
    Mail(#[from] kura_mail::MailError),
    /// Optimistic concurrency gave up after repeated conflicts.
    #[error("subject {0} is being changed concurrently; retry")]
    Contention(String),
}

impl VaultError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::Invalid(e) => e.code(),
            VaultError::NotFound(_) => "subject_not_found",
            VaultError::Integrity { .. } => "integrity_error",
            VaultError::Crypto(e) => e.code(),
            VaultError::Store(e) => e.code(),
            VaultError::VaultMismatch { .. } => "vault_mismatch",
            VaultError::Contention(_) => "contention",
            VaultError::Mail(e) => e.code(),
            VaultError::Denied(c) => c.as_str(),
            VaultError::Audit(_) => "audit_unavailable",
            VaultError::Card(e) => e.code(),
            VaultError::CardNotFound => "card_not_found",
            VaultError::NoCardField(_) => "no_card_field",
        }
    }
}
