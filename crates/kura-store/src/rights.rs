//! Storage of data-subject requests, of when each subject last used the service, and of the
//! restriction flag (schema version 9).
//!
//! # Invariants
//! - A request row holds no field value: ids, kind, dates, state, a keyed hash of the
//!   one-time token (until it is redeemed) and a JSON document owned by
//!   `kura_admin::rights`. It is the minimal record of the request and outlives the
//!   subject's erasure (that is what lets the receipt be fetched and the request audited).
//! - Updates are optimistic on [`RightsRecord::version`]: two servers answering one request
//!   never both move it.
//! - A retention cycle asks a subject at most once: `(subject, cycle)` is unique.
//! - The restriction flag lives in the key store beside the data key and is read with it
//!   ([`crate::StoredSubject::restricted`]); a writer of the data store alone cannot lift it.
//! - A subject's activity row is deleted with the subject ([`crate::Store::delete_subject`]).

use uuid::Uuid;

use crate::{AuditLeaf, StoreError};

/// One data-subject request (or one retention reconfirmation) as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RightsRecord {
    /// Request id (`rr_` + 32 hex digits).
    pub id: String,
    /// `access`, `rectification`, `erasure`, `restriction` or `reconfirmation`.
    pub kind: String,
    /// The subject's collection.
    pub collection: String,
    /// The subject, once known. `None` when the identifier given matched nobody: such a
    /// request looks the same from outside and simply expires.
    pub subject: Option<Uuid>,
    /// `api`, `operator` or `retention`.
    pub channel: String,
    /// State (`kura_obligations::rights::State` names).
    pub state: String,
    /// Who opened it (principal id, or `retention`).
    pub opened_by: String,
    /// Received (unix ms).
    pub received_at: i64,
    /// The answer's deadline in force (unix ms).
    pub due_at: i64,
    /// Keyed hash of the one-time token; `None` once redeemed or when none was sent.
    pub token_hash: Option<[u8; 32]>,
    /// When the token lapses (unix ms).
    pub token_expires: Option<i64>,
    /// Retention cycle key (`<rule>:<cycle start>`), for reconfirmations.
    pub cycle: Option<String>,
    /// Row version; starts at 1, raised by every update.
    pub version: i64,
    /// Last change (unix ms).
    pub updated_at: i64,
    /// JSON document owned by `kura_admin::rights`.
    pub doc: String,
    /// The signed receipt, once issued.
    pub receipt: Option<Vec<u8>>,
}

impl std::fmt::Debug for RightsRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RightsRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RightsFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this retention cycle.
    pub cycle: Option<String>,
    /// Only this subject.
    pub subject: Option<Uuid>,
    /// Requests with an id above this one (paging).
    pub after: Option<String>,
}

/// One subject as a retention pass sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    /// Internal id.
    pub iid: u64,
    /// Public id.
    pub id: Uuid,
    /// Country (clear metadata).
    pub country: String,
    /// Locale (clear metadata).
    pub locale: String,
    /// Last use (unix ms); `None` when never recorded.
    pub active_at: Option<i64>,
    /// When a retention rule last asked it to reconfirm (unix ms).
    pub asked_at: Option<i64>,
}

/// The rights store. Implemented by both backends; conformance: `kura_testkit::rights`.
pub trait RightsStore: Send + Sync {
    /// Inserts a request and the access-log leaves, in one transaction. Returns `false`
    /// (and writes nothing) when the subject already has a request in the same cycle. A
    /// request with a cycle also stamps the subject's activity row as asked at
    /// `received_at` (in the same transaction).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a duplicate id or token hash; backend failures.
    fn insert_rights_request(
        &self,
        r: &RightsRecord,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// One request by id.
    ///
    /// # Errors
    /// Backend failures.
    fn rights_request(&self, id: &str) -> Result<Option<RightsRecord>, StoreError>;

    /// The request holding this token hash (a redeemed token is no longer held).
    ///
    /// # Errors
    /// Backend failures.
    fn rights_request_by_token(&self, hash: &[u8; 32]) -> Result<Option<RightsRecord>, StoreError>;

    /// Replaces a request if its stored version is still `r.version - 1`, with the leaves,
    /// in one transaction. Returns whether it was replaced.
    ///
    /// # Errors
    /// Backend failures.
    fn update_rights_request(
        &self,
        r: &RightsRecord,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// [`RightsStore::update_rights_request`] for several requests in one transaction (a
    /// batch of erasures); the leaves are written with them. Returns how many were
    /// replaced; a request whose version moved is left as it is.
    ///
    /// # Errors
    /// Backend failures.
    fn update_rights_requests(
        &self,
        rs: &[RightsRecord],
        audit: &[AuditLeaf],
    ) -> Result<u64, StoreError>;

    /// Up to `limit` requests matching `filter`, in id order.
    ///
    /// # Errors
    /// Backend failures.
    fn rights_requests(
        &self,
        filter: &RightsFilter,
        limit: usize,
    ) -> Result<Vec<RightsRecord>, StoreError>;

    /// How many requests are open (`awaiting_verification`, `verified`, `erasing`) with a
    /// deadline before `now` — the overdue metric.
    ///
    /// # Errors
    /// Backend failures.
    fn rights_overdue(&self, now: i64) -> Result<u64, StoreError>;

    /// Records that each subject used the service at the given time (a later time wins; an
    /// earlier one never moves the clock back).
    ///
    /// # Errors
    /// Backend failures.
    fn touch_activity(&self, seen: &[(Uuid, i64)]) -> Result<(), StoreError>;

    /// Up to `limit` subjects of `collection` with an internal id above `after_iid`, in
    /// internal-id order, with their last activity: what a retention pass pages through.
    ///
    /// # Errors
    /// Backend failures.
    fn activity_page(
        &self,
        collection: &str,
        after_iid: u64,
        limit: usize,
    ) -> Result<Vec<ActivityRow>, StoreError>;

    /// Sets or lifts the restriction of `id`, with the leaves, in one transaction (leaves in
    /// the data store first, then the flag in the key store). Returns whether the subject
    /// (its key) exists.
    ///
    /// # Errors
    /// Backend failures.
    fn set_restricted(
        &self,
        id: &Uuid,
        restricted: bool,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;
}
