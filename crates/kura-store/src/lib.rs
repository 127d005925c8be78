//! Where kura keeps its bytes: the [`Store`] trait and its backends.
//!
//! The store is deliberately dumb: it moves sealed bytes, blind-index tokens and wrapped
//! keys, and never sees a plaintext field or an unwrapped key. Everything it is given has
//! already been sealed by `kura-vault`.
//!
//! Two halves are kept apart: the **data store** (subjects, blind index, access log) and
//! the **key store** (wrapped data keys). In the embedded backend they are two SQLite files
//! (`data.db` and `keys.db`); in PostgreSQL two schemas owned by two roles. A copy of the data
//! store alone reveals no field.
//!
//! # Invariants
//! - Erasure deletes the wrapped data key before the subject's rows (crypto-shredding): once
//!   [`Store::delete_subject`] has started, the subject can never be read again, even if
//!   deleting its rows fails midway.
//! - Access-log leaves given to a mutating call are written in the same transaction as the
//!   change they describe; if they cannot be written, the change does not happen.
//! - Updates are optimistic ([`SubjectUpdate::expected_version`]): concurrent writers,
//!   whether threads or separate servers on one database, never lose an update.
//! - Nothing here holds a process-local lock over shared state that a second server would
//!   need; the database's own transactions decide.
#![deny(missing_docs)]

mod audit;
pub mod cards;
pub mod containment;
pub mod credentials;
pub mod directory;
mod error;
pub mod notices;
pub mod postgres;
mod record;
pub mod rights;
pub mod sqlite;

pub use audit::{AuditIntegration, AuditStore, IntegrationOutcome, Mark};
pub use cards::{CardInsert, CardMeta, CardSecret, CardStore, NewCard};
pub use containment::{
    ContainmentStore, LeaseSettlement, WindowOutcome, WindowState, WindowTouch, lease_subject,
    probe_key,
};
pub use credentials::{
    CredentialState, CredentialStore, NewRecoveryToken, RecoveryCompletion, RecoveryOutcome,
    RecoveryTokenRecord,
};
pub use directory::{
    DirectoryStore, IncidentRecord, IncidentScopeRecord, OrganizationRecord, PrincipalRecord,
};
pub use error::StoreError;
pub use notices::{CampaignRecord, DeliveryCount, DeliveryRecord, NoticeStore, RemediationStock};
pub use postgres::PostgresStore;
pub use record::{
    ApiKeyRecord, AuditLeaf, NewSubject, SearchHit, StoredSubject, SubjectScan, SubjectUpdate,
    UpdateOutcome,
};
pub use rights::{ActivityRow, RightsFilter, RightsRecord, RightsStore};
pub use uuid::Uuid;

use kura_crypto::{BlindToken, WrappedKey};

/// The schema version this build of kura writes and understands.
pub const SCHEMA_VERSION: u32 = 11;

/// One compare-and-set of [`Store::rewrap_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrap {
    /// The subject (public id).
    pub subject: Uuid,
    /// The wrapped key expected in the store.
    pub old: WrappedKey,
    /// Its replacement.
    pub new: WrappedKey,
}

/// The storage interface the vault relies on. Implementations: [`sqlite::SqliteStore`] and
/// [`postgres::PostgresStore`].
///
/// All methods are blocking; the server calls them from a blocking thread pool.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// The vault id recorded at initialization.
    ///
    /// # Errors
    /// Backend failures.
    fn vault_id(&self) -> Result<[u8; 16], StoreError>;

    /// Reserves `n` consecutive internal ids and returns the first. Ids are never reused;
    /// gaps may appear when a reservation is not used.
    ///
    /// # Errors
    /// Backend failures.
    fn reserve_iids(&self, n: u64) -> Result<u64, StoreError>;

    /// Inserts subjects (each with its wrapped key, sealed fields and blind-index tokens)
    /// and the given access-log leaves, all or nothing.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if an id already exists; backend failures.
    fn insert_subjects(&self, batch: &[NewSubject], audit: &[AuditLeaf]) -> Result<(), StoreError>;

    /// Loads one subject with its wrapped key. `None` when there is no such subject in the
    /// collection or its key has been shredded.
    ///
    /// # Errors
    /// Backend failures.
    fn subject(&self, collection: &str, id: &Uuid) -> Result<Option<StoredSubject>, StoreError>;

    /// Replaces a subject's sealed fields and blind-index tokens if its version is still
    /// `expected_version`, writing the access-log leaves in the same transaction.
    ///
    /// # Errors
    /// Backend failures.
    fn update_subject(
        &self,
        update: &SubjectUpdate,
        audit: &[AuditLeaf],
    ) -> Result<UpdateOutcome, StoreError>;

    /// Raises the seal epoch of `id` in the key store to `epoch` (never lowers it; a subject
    /// without a key is left alone). Called by the vault after each successful row write
    /// (docs/decisions/0010).
    ///
    /// # Errors
    /// Backend failures.
    fn advance_epoch(&self, id: &Uuid, epoch: u64) -> Result<(), StoreError>;

    /// Erases a subject: wrapped key first, then row and index entries. Returns whether the
    /// subject existed.
    ///
    /// # Errors
    /// Backend failures; the key is gone even if deleting the rows failed.
    fn delete_subject(
        &self,
        collection: &str,
        id: &Uuid,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// Subjects of `collection` whose blind index holds `token`, at most `limit`, in
    /// internal-id order. Hits carry the internal id so the access event can record them.
    ///
    /// # Errors
    /// Backend failures.
    fn search(
        &self,
        collection: &str,
        token: &BlindToken,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// Up to `limit` subjects with an internal id above `after_iid`, in internal-id order
    /// (every collection): a bulk pass pages through with the last id it saw, so nothing
    /// holds all subjects at once. Canaries are included (callers that count people leave
    /// them out).
    ///
    /// # Errors
    /// Backend failures.
    fn scan_subjects(&self, after_iid: u64, limit: usize) -> Result<Vec<SubjectScan>, StoreError>;

    /// Number of subjects in a collection.
    ///
    /// # Errors
    /// Backend failures.
    fn count_subjects(&self, collection: &str) -> Result<u64, StoreError>;

    /// Wrapped data keys per key-encryption-key version, as `(version, count)` ascending.
    /// Key rotation retires a version only when its count is zero.
    ///
    /// # Errors
    /// Backend failures.
    fn kek_version_counts(&self) -> Result<Vec<(u32, u64)>, StoreError>;

    /// Wrapped data keys not under KEK version `target`, of subjects after `after` (by
    /// public id, exclusive; `None` from the first), in public-id order, at most `limit`.
    /// A rotation walks them page by page and can resume from the last id it finished.
    ///
    /// # Errors
    /// Backend failures.
    fn keys_to_rewrap(
        &self,
        target: u32,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<(Uuid, WrappedKey)>, StoreError>;

    /// Replaces subjects' wrapped data keys by the same keys wrapped under another KEK, in
    /// one transaction, each only if the stored key is still exactly its `old`
    /// (compare-and-set). Returns, per item, whether it was replaced: false, with nothing
    /// changed for that subject, when it was erased or its key changed meanwhile.
    ///
    /// # Invariants
    /// Only the wrapping changes: the seal epoch and the restriction flag stay as they are.
    ///
    /// # Errors
    /// Backend failures (then nothing is replaced).
    fn rewrap_keys(&self, items: &[Rewrap]) -> Result<Vec<bool>, StoreError>;

    /// Makes erasures final on disk: what [`Store::delete_subject`] freed (wrapped keys,
    /// blind-index entries, sealed rows) no longer lingers in a write-ahead log. The embedded
    /// store checkpoints both files and truncates their WAL (freed pages are already zeroed,
    /// `secure_delete`); PostgreSQL keeps its own WAL and dead tuples until VACUUM and WAL
    /// recycling (docs/operations.md), so the default does nothing.
    ///
    /// # Errors
    /// Backend failures.
    fn purge_freed(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Appends access-log leaves on their own (for reads) and returns the index of the first.
    /// The leaves are durable when this returns.
    ///
    /// # Errors
    /// Backend failures; then the caller must not release the data the leaves describe.
    fn append_audit(&self, audit: &[AuditLeaf]) -> Result<u64, StoreError>;

    /// Number of access-log leaves.
    ///
    /// # Errors
    /// Backend failures.
    fn audit_size(&self) -> Result<u64, StoreError>;

    /// Stores an API key record (hash only).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the prefix exists.
    fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;

    /// Looks up an API key record by its public prefix.
    ///
    /// # Errors
    /// Backend failures.
    fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Tokens of the payment cards a subject holds (card vault, [`CardStore`]), in token
    /// order. Tokens are not secret; a backend without a card vault has none.
    ///
    /// # Errors
    /// Backend failures.
    fn card_tokens(&self, subject: &Uuid) -> Result<Vec<String>, StoreError> {
        let _ = subject;
        Ok(Vec::new())
    }
}

/// Lets tests and the vault use `Arc<dyn Store>` and `&dyn Store` alike.
pub type DynStore = std::sync::Arc<dyn Store>;
