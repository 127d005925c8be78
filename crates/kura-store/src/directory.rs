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

/// A containment incident (draft until an incident workflow takes it over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// Public id (UUIDv7 text).
    pub id: String,
    /// Unix seconds.
    pub opened_at: i64,
    /// The principal that tripped containment.
    pub principal: String,
    /// Its organization, if it has a principal record.
    pub org: Option<String>,
    /// `quota` or `canary`.
    pub trigger: String,
    /// `draft`.
    pub status: String,
    /// The incident as JSON (window, quota, subjects obtained by public id).
    pub body: String,
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

    /// Records an incident.
    ///
    /// # Errors
    /// Backend failures.
    fn insert_incident(&self, incident: &IncidentRecord) -> Result<(), StoreError>;

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
