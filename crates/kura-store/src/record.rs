//! Plain records passed between the vault and a store. They carry sealed bytes only.

use kura_crypto::{BlindToken, WrappedKey};
use uuid::Uuid;

/// One serialized access event, a leaf of the access log's Merkle tree.
pub type AuditLeaf = Vec<u8>;

/// A subject to insert.
#[derive(Debug, Clone)]
pub struct NewSubject {
    /// Public id (UUIDv7).
    pub id: Uuid,
    /// Internal id from [`crate::Store::reserve_iids`].
    pub iid: u64,
    /// Collection name.
    pub collection: String,
    /// ISO 3166-1 alpha-2 country (jurisdiction), kept in clear for breach scoping.
    pub country: String,
    /// BCP 47 locale, kept in clear to address notices.
    pub locale: String,
    /// The sealed fields, encoded by the vault.
    pub fields: Vec<u8>,
    /// Blind-index tokens of the subject's searchable fields.
    pub tokens: Vec<BlindToken>,
    /// The subject's data key, wrapped by the key provider.
    pub wrapped_key: WrappedKey,
}

/// A subject as stored, with its wrapped key.
#[derive(Debug, Clone)]
pub struct StoredSubject {
    /// Public id.
    pub id: Uuid,
    /// Internal id.
    pub iid: u64,
    /// Collection name.
    pub collection: String,
    /// Country.
    pub country: String,
    /// Locale.
    pub locale: String,
    /// Row version for optimistic concurrency; starts at 1.
    pub version: i64,
    /// Sealed fields.
    pub fields: Vec<u8>,
    /// Current blind-index tokens.
    pub tokens: Vec<BlindToken>,
    /// Wrapped data key.
    pub wrapped_key: WrappedKey,
    /// The subject's seal epoch as the key store records it (0 for subjects written before
    /// schema version 5): the vault refuses a row whose sealed manifest is older
    /// (docs/decisions/0010). Read from the key store, never from the data store.
    pub key_epoch: u64,
    /// Processing restricted (GDPR Art. 18): only the subject's own reads are served. Read
    /// from the key store, beside the key, never from the data store.
    pub restricted: bool,
    /// The subject's card tokens in token order, when the read that loaded the subject
    /// fetched them in the same statement (`Store::subject` does); `None` where it did not
    /// (the caller asks `CardStore::card_tokens`).
    pub cards: Option<Vec<String>>,
}

/// Card tokens joined with commas (a token never contains one) back into a list.
pub(crate) fn split_tokens(joined: Option<&str>) -> Vec<String> {
    joined.map_or_else(Vec::new, |j| j.split(',').map(str::to_owned).collect())
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchHit {
    /// Public id.
    pub id: Uuid,
    /// Internal id.
    pub iid: u64,
}

/// A conditional replacement of a subject's fields.
#[derive(Debug, Clone)]
pub struct SubjectUpdate {
    /// Collection.
    pub collection: String,
    /// Subject.
    pub id: Uuid,
    /// The version read before computing this update.
    pub expected_version: i64,
    /// New sealed fields (the whole set).
    pub fields: Vec<u8>,
    /// New blind-index tokens (the whole set); the store removes tokens no longer present.
    pub tokens: Vec<BlindToken>,
}

/// Result of [`crate::Store::update_subject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Written; the new version.
    Updated(i64),
    /// Someone else changed the subject first; re-read and retry.
    Conflict,
    /// No such subject.
    NotFound,
}

/// An API key as stored: only a hash of the secret part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public lookup prefix (not secret).
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub hash: [u8; 32],
    /// Principal the key authenticates.
    pub principal: String,
    /// Principal kind.
    pub kind: kura_model::PrincipalType,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, if revoked.
    pub revoked_at: Option<i64>,
}

/// Encodes tokens as one concatenated blob (16 bytes each).
pub(crate) fn tokens_to_blob(tokens: &[BlindToken]) -> Vec<u8> {
    tokens.concat()
}

/// Decodes a token blob.
pub(crate) fn tokens_from_blob(blob: &[u8]) -> Result<Vec<BlindToken>, crate::StoreError> {
    if !blob.len().is_multiple_of(16) {
        return Err(crate::StoreError::Corrupt(
            "token list length is not a multiple of 16".into(),
        ));
    }
    Ok(blob
        .chunks_exact(16)
        .map(|c| {
            let mut t = [0u8; 16];
            t.copy_from_slice(c);
            t
        })
        .collect())
}

/// One subject as a bulk pass sees it ([`crate::Store::scan_subjects`]): no key, no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectScan {
    /// Internal id.
    pub iid: u64,
    /// Public id.
    pub id: Uuid,
    /// Collection name.
    pub collection: String,
    /// Country of residence.
    pub country: String,
    /// The sealed-fields blob: field names in clear, values only as ciphertexts.
    pub fields: Vec<u8>,
}
