//! [`DirectoryStore`]: organizations, principals, their API keys, suspensions, containment
//! incidents and canary subjects — who may call kura, who answers for them, and what
//! containment has recorded.
//!
//! Nothing here is personal data of a subject. Two things are secret from callers and kept
//! accordingly: API keys (only SHA-256 of each is stored) and the canary list, which lives in
//! the **key store** (`keys.db` / `kura_keys`), so that a dump of the data store cannot tell
//! a canary from a real subject.
//!
//! # Invariants
//! - An organization always names a security officer (the caller checks the values; the
//!   columns are `NOT NULL`).
//! - A principal and its first API key are inserted in one transaction, with the access-log
//!   leaves describing the act.
//! - Suspension is a column of the principal read on every authentication, so a suspension
//!   recorded by one server is seen by every other on the next request.

use uuid::Uuid;

use crate::{ApiKeyRecord, AuditLeaf, Store, StoreError};

/// An organization: the data holder or a processor supervised by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRecord {
    /// Short id (`[a-z0-9-]`, chosen by the operator).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Holder or processor.
    pub role: kura_model::OrgRole,
    /// For a processor: the holder that supervises it.
    pub supervisor: Option<String>,
    /// The responsible security officer's name.
    pub officer_name: String,
    /// How to reach the officer (an e-mail address or phone number).
    pub officer_contact: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A principal: who calls kura.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRecord {
    /// Public id (UUIDv7 text).
    pub id: String,
    /// Organization id.
    pub org: String,
    /// Name, unique within the organization.
    pub name: String,
    /// Service, processor, operator or self.
    pub kind: kura_model::PrincipalType,
    /// For `self`: the subject it may act on.
    pub subject: Option<Uuid>,
    /// The policies, as a JSON array of policy documents (checked by the caller).
    pub policies: String,
    /// Bumped whenever `policies` change (lets servers cache parsed policies).
    pub policy_version: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// When suspended, unix milliseconds; `None` when active.
    pub suspended_at: Option<i64>,
    /// Why suspended (`containment:quota`, `containment:canary`, `operator`).
    pub suspended_reason: Option<String>,
    /// When last reinstated, unix milliseconds.
    pub reinstated_at: Option<i64>,
}

/// An incident: declared by an operator or opened by a containment trip.
///
/// The store keeps the body opaque; `kura_admin::incident` owns its shape. An update is a
/// compare-and-swap on the whole body ([`DirectoryStore::replace_incident`]), so two
/// operators changing an incident at once never lose a timeline entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// Public id (UUIDv7 text).
    pub id: String,
    /// Unix seconds.
    pub opened_at: i64,
    /// The principal that tripped containment, or the operator that declared it.
    pub principal: String,
    /// The organization concerned, if known.
    pub org: Option<String>,
    /// `quota`, `canary`, `probe` or `declared`.
    pub trigger: String,
    /// `open` or `closed` (`draft`: a trip recorded before incidents had a workflow, read as
    /// `open`).
    pub status: String,
    /// The incident as JSON.
    pub body: String,
}

/// One version of an incident's exposure matrix. Written once, never changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentScopeRecord {
    /// The incident.
    pub incident: String,
    /// 1, 2, ... in the order computed.
    pub version: u32,
    /// Unix milliseconds.
    pub computed_at: i64,
    /// The principal that ran the computation.
    pub by: String,
    /// The log size it was computed over.
    pub tree_size: u64,
    /// The signed checkpoint at `tree_size` (note text).
    pub checkpoint: String,
    /// Hex SHA-256 of the matrix (`kura_scope::Matrix::digest`).
    pub digest: String,
    /// The canonical matrix (counts, no subject).
    pub matrix: String,
    /// The subjects of each cell (`kura_scope` set encoding; internal ids only).
    pub sets: Vec<u8>,
}

/// Storage of organizations, principals, keys, suspensions, incidents and canaries.
pub trait DirectoryStore: Store {
    /// Inserts an organization, with the leaves recording the act.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id exists.
    fn insert_organization(
        &self,
        org: &OrganizationRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// One organization.
    ///
    /// # Errors
    /// Backend failures.
    fn organization(&self, id: &str) -> Result<Option<OrganizationRecord>, StoreError>;

    /// Every organization, by id.
    ///
    /// # Errors
    /// Backend failures.
    fn organizations(&self) -> Result<Vec<OrganizationRecord>, StoreError>;

    /// Inserts a principal with its first API key, and the leaves, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id, the (org, name) pair or the key prefix exists,
    /// or the organization does not (the caller checks it first for a clear message).
    fn insert_principal(
        &self,
        principal: &PrincipalRecord,
        key: &ApiKeyRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// One principal.
    ///
    /// # Errors
    /// Backend failures.
    fn principal(&self, id: &str) -> Result<Option<PrincipalRecord>, StoreError>;

    /// The principals of one organization (or all), by id.
    ///
    /// # Errors
    /// Backend failures.
    fn principals(&self, org: Option<&str>) -> Result<Vec<PrincipalRecord>, StoreError>;

    /// An API key by prefix with its principal's record (`None` for keys without one, such
    /// as the bootstrap operator key): the one lookup authentication makes.
    ///
    /// # Errors
    /// Backend failures.
    fn authenticate(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiKeyRecord, Option<PrincipalRecord>)>, StoreError>;

    /// The keys of a principal (revoked ones included), oldest first.
    ///
    /// # Errors
    /// Backend failures.
    fn api_keys_of(&self, principal: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Adds a key to an existing principal (rotation), with leaves.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the prefix exists.
    fn add_api_key(&self, key: &ApiKeyRecord, audit: &[AuditLeaf]) -> Result<(), StoreError>;

    /// Revokes every unrevoked key of `principal` other than `keep` (rotation), or one key
    /// when `only` is given; returns how many were revoked.
    ///
    /// # Errors
    /// Backend failures.
    fn revoke_api_keys(
        &self,
        principal: &str,
        only: Option<&str>,
        keep: Option<&str>,
        now: i64,
        audit: &[AuditLeaf],
    ) -> Result<u64, StoreError>;

    /// Replaces a principal's policies (a JSON array, checked by the caller) and bumps its
    /// policy version, so that every server reparses them on the next request; returns
    /// whether it exists.
    ///
    /// # Errors
    /// Backend failures.
    fn set_policies(
        &self,
        principal: &str,
        policies: &str,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// Suspends (`Some(reason)`) or reinstates (`None`) a principal at `now_ms`; returns
    /// whether it exists.
    ///
    /// # Errors
    /// Backend failures.
    fn set_suspended(
        &self,
        principal: &str,
        reason: Option<&str>,
        now_ms: i64,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// Records an incident, with the leaves recording the act (in the same transaction;
    /// each is also listed as one of the incident's leaves).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a duplicate id; backend failures.
    fn insert_incident(
        &self,
        incident: &IncidentRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// One incident.
    ///
    /// # Errors
    /// Backend failures.
    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError>;

    /// Replaces an incident's status and body if its body is still `old_body`, appending
    /// `audit` in the same transaction. `false` (and nothing written) when the incident is
    /// gone or was changed meanwhile.
    ///
    /// # Errors
    /// Backend failures.
    fn replace_incident(
        &self,
        old_body: &str,
        new: &IncidentRecord,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// Stores a new version of an incident's matrix, appending `audit` in the same
    /// transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the version exists; backend failures.
    fn insert_incident_scope(
        &self,
        scope: &IncidentScopeRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// Every stored version of an incident's matrix, oldest first.
    ///
    /// # Errors
    /// Backend failures.
    fn incident_scopes(&self, incident: &str) -> Result<Vec<IncidentScopeRecord>, StoreError>;

    /// Every matrix version of an incident without its subject sets (`sets` empty), oldest
    /// first: what showing an incident needs (the sets can be tens of megabytes each).
    ///
    /// # Errors
    /// Backend failures.
    fn incident_scope_heads(&self, incident: &str) -> Result<Vec<IncidentScopeRecord>, StoreError>;

    /// The latest matrix version of an incident, without its subject sets: (version, the
    /// canonical matrix). What obligations and drafts need; the sets can be large.
    ///
    /// # Errors
    /// Backend failures.
    fn latest_incident_matrix(&self, incident: &str) -> Result<Option<(u32, String)>, StoreError>;

    /// Appends `audit` as leaves of the incident (an export, a read of its evidence).
    ///
    /// # Errors
    /// Backend failures.
    fn log_incident(&self, incident: &str, audit: &[AuditLeaf]) -> Result<(), StoreError>;

    /// The log indexes of the incident's leaves, ascending.
    ///
    /// # Errors
    /// Backend failures.
    fn incident_leaves(&self, incident: &str) -> Result<Vec<u64>, StoreError>;

    /// Incidents, newest first.
    ///
    /// # Errors
    /// Backend failures.
    fn incidents(&self) -> Result<Vec<IncidentRecord>, StoreError>;

    /// Marks subjects (by internal id) as canaries of `collection`, in the key store.
    ///
    /// # Errors
    /// Backend failures.
    fn add_canaries(&self, collection: &str, iids: &[u64]) -> Result<(), StoreError>;

    /// Every canary's internal id. Canaries are few (an operator plants tens to thousands).
    ///
    /// # Errors
    /// Backend failures.
    fn canaries(&self) -> Result<Vec<u64>, StoreError>;

    /// Public ids of subjects by internal id (missing ones, erased, are left out).
    ///
    /// # Errors
    /// Backend failures.
    fn subject_ids(&self, iids: &[u64]) -> Result<Vec<(u64, Uuid)>, StoreError>;
}
