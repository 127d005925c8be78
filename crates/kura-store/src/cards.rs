//! [`CardStore`]: what the card vault needs from a backend beyond [`Store`].
//!
//! A card is kept in two halves, as subjects are:
//! - **metadata** in the data store (`cards` in `data.db`, `kura_data.cards`): token, subject,
//!   collection, brand, last four digits, expiry. Nothing here is cardholder data beyond what
//!   PCI DSS 3.4.1 allows to be displayed.
//! - **secrets** in the key store (`card_keys` and `card_lookup` in `keys.db`,
//!   `kura_keys.card_keys` and `kura_keys.card_lookup`): the per-card data key wrapped under
//!   the card key-encryption key, the sealed PAN and holder name, and the keyed lookup hash
//!   of subject and whole PAN. The lookup hash never sits next to a truncated PAN (first
//!   six, last four): those are only in the data store.
//!
//! The store never sees a PAN, a holder name or an unwrapped key, only sealed bytes and
//! HMAC outputs. Left out: every cryptographic operation and every rule (who may
//! tokenize or detokenize is the vault's business).
//!
//! # Invariants
//! - One lookup hash maps to at most one token: [`CardStore::insert_card`] checks and
//!   inserts under the key store's write lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL a unique
//!   key), so two concurrent tokenizations of the same card for the same subject get the
//!   same token.
//! - Deleting a card, or erasing its subject ([`Store::delete_subject`]), deletes the card's
//!   key-store row (wrapped key and sealed PAN) first, then its lookup hash and metadata.
//! - No card outlives its subject: [`CardStore::insert_card`] checks the subject's data-key
//!   row in its transaction, serialized with the erasure (which deletes the subject's cards
//!   in its own), so an insert racing an erasure is either erased with it or refused.
//! - Access-log leaves given to a mutating call are written in its data-store transaction.

use uuid::Uuid;

use crate::{AuditLeaf, Store, StoreError};

/// A card to store: the card vault has already sealed every secret.
#[derive(Clone, PartialEq, Eq)]
pub struct NewCard {
    /// The public metadata.
    pub meta: CardMeta,
    /// The secret half.
    pub secret: CardSecret,
    /// Keyed HMAC of subject and whole PAN (never a plain hash).
    pub lookup: [u8; 32],
}

impl std::fmt::Debug for NewCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCard")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// A card's metadata: what may be shown (PCI DSS 3.4.1 allows the last four digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardMeta {
    /// The token, `ct_` + 26 base32 characters.
    pub token: String,
    /// Public id of the subject holding the card.
    pub subject: Uuid,
    /// Internal id of the subject (recorded in access events).
    pub subject_iid: u64,
    /// The subject's collection.
    pub collection: String,
    /// Brand name (`visa`, ...).
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month, 1 to 12.
    pub exp_month: u8,
    /// Expiry year, 2000 to 2099.
    pub exp_year: u16,
    /// Unix seconds of tokenization.
    pub created_unix: u64,
}

/// A card's secret half, as kept in the key store. Everything here is ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct CardSecret {
    /// Version of the card key-encryption key that wrapped `wrapped_key`.
    pub kek_version: u32,
    /// The per-card data key, sealed under the card key-encryption key.
    pub wrapped_key: Vec<u8>,
    /// The PAN, sealed under the per-card data key.
    pub sealed_pan: Vec<u8>,
    /// The holder name, sealed under the per-card data key (empty when none was given).
    pub sealed_holder: Vec<u8>,
}

impl std::fmt::Debug for CardSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardSecret(<sealed>)")
    }
}

/// What [`CardStore::insert_card`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardInsert {
    /// The card was stored under the new token.
    Inserted,
    /// The subject already holds this card: nothing was written; here is its token.
    Existing(String),
    /// The subject has no data key (it never existed, or it is erased or being erased):
    /// nothing was written.
    NoSubject,
}

/// Card storage, implemented by both backends beside [`Store`].
pub trait CardStore: Store {
    /// The token already issued to `subject` for `lookup`, if any.
    ///
    /// # Errors
    /// Backend failures.
    fn card_by_lookup(
        &self,
        subject: &Uuid,
        lookup: &[u8; 32],
    ) -> Result<Option<String>, StoreError>;

    /// Stores a card (key-store half first, then metadata and the access-log leaves), unless
    /// its lookup hash is already present, in which case nothing is written and the existing
    /// token is returned.
    ///
    /// The subject's data-key row is checked in the same transaction, serialized with
    /// [`Store::delete_subject`] (SQLite: both hold the data store's write lock, then the key
    /// store's; PostgreSQL: the insert holds `FOR SHARE` on the key row, which the erasure
    /// locks `FOR UPDATE` before deleting the subject's cards): a card is either inserted
    /// before an erasure, which then deletes it, or refused with
    /// [`CardInsert::NoSubject`]. No card ever outlives its subject.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the token exists; backend failures.
    fn insert_card(&self, card: &NewCard, audit: &[AuditLeaf]) -> Result<CardInsert, StoreError>;

    /// A card's metadata.
    ///
    /// # Errors
    /// Backend failures.
    fn card(&self, token: &str) -> Result<Option<CardMeta>, StoreError>;

    /// A card's sealed secrets. `None` once the card or its subject is erased.
    ///
    /// # Errors
    /// Backend failures.
    fn card_secret(&self, token: &str) -> Result<Option<CardSecret>, StoreError>;

    /// Deletes a card: key-store row first (crypto-shredding), then lookup hash and metadata,
    /// with the access-log leaves. Returns whether the card existed.
    ///
    /// # Errors
    /// Backend failures.
    fn delete_card(&self, token: &str, audit: &[AuditLeaf]) -> Result<bool, StoreError>;

    /// Number of cards: metadata rows and key-store rows (for tests and checks; the two are
    /// equal unless a write was interrupted).
    ///
    /// # Errors
    /// Backend failures.
    fn count_cards(&self) -> Result<(u64, u64), StoreError>;
}
