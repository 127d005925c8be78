//! [`NoticeStore`]: breach-notice campaigns, the per-person delivery ledger, and the stock of
//! remediation offer codes (schema version 8).
//!
//! A campaign notifies the people of one version of an incident's exposure matrix. Its body
//! (JSON) belongs to `kura_admin::notices`; the store keeps it opaque, as it keeps incident
//! bodies. Each person notified gets one delivery row, keyed by (campaign, internal id).
//!
//! What is deliberately absent: a delivery row holds **no address and no field value** (the
//! address is opened from the sealed subject at send time and never written back), its
//! `detail` is an error code, and its message id is derived by the caller from the campaign and
//! a keyed hash. Remediation codes are stored **sealed** by the caller, next to a keyed digest
//! of the code; the store never sees one in clear. Erasure of a person's delivery rows and codes
//! is not handled here.
//!
//! # Invariants
//! - A person is claimed at most once per campaign: (campaign, iid) is the primary key of the
//!   ledger, and [`NoticeStore::claim_deliveries`] writes all of its rows and leaves or none
//!   (a row that exists already fails the whole call with [`StoreError::Conflict`]). The caller
//!   writes the access event of a person **before** it opens that person's address, so every
//!   address read is covered by a durable leaf.
//! - Access-log leaves given to a mutating call are written in the same transaction as the
//!   change. The leaves of [`NoticeStore::insert_campaign`] and
//!   [`NoticeStore::update_campaign`] are also listed as leaves of the campaign's incident
//!   (as [`crate::DirectoryStore::insert_incident_scope`] does), so an incident's evidence
//!   bundle proves its notice campaigns; the per-person leaves of the delivery ledger are not
//!   (there is one per person notified).
//! - A remediation code is one row, identified by its digest (a second import of the same code
//!   is skipped) and holding at most one holder; a person holds at most one code per (region,
//!   campaign), enforced by a unique index. Assignment is atomic and safe with several callers
//!   (and several servers) at once.
//! - [`NoticeStore::subjects_by_iid`] reads keys the way [`Store::subject`] does: a subject
//!   whose data key is shredded is never returned, and the key (with its seal epoch) is read
//!   before the row.

use crate::{AuditLeaf, Store, StoreError, StoredSubject};

/// A notice campaign of one incident, pinned to one version of its exposure matrix. The body
/// (JSON) is owned by `kura_admin::notices`; the store keeps it opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    /// Public id (UUIDv7 text).
    pub id: String,
    /// The incident notified about.
    pub incident: String,
    /// The version of the incident's exposure matrix the campaign notifies.
    pub scope_version: u32,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The principal that created the campaign.
    pub by: String,
    /// `planned`, `sending` or `done` (opaque to the store).
    pub status: String,
    /// The campaign as JSON.
    pub body: String,
}

/// One person's notice in one campaign. At most one per (campaign, iid): the primary key.
///
/// Holds no address and no value: the message id is derived from the campaign and a keyed
/// hash, `detail` is an error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The campaign.
    pub campaign: String,
    /// The person's internal id.
    pub iid: u64,
    /// `sending`, `sent`, `failed`, `bounced`, `unreachable` or `erased` (opaque to the store).
    pub state: String,
    /// The template family used.
    pub family: String,
    /// The language used (BCP 47).
    pub locale: String,
    /// The person's country (ISO 3166-1 alpha-2), as kept in clear on the subject.
    pub country: String,
    /// `email` or `none`.
    pub channel: String,
    /// The message id sent (derived by the caller; matches bounces to rows).
    pub message_id: String,
    /// Send attempts so far.
    pub attempts: u32,
    /// An error code, never a message quoting a value.
    pub detail: Option<String>,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// How many of a campaign's delivery rows share one (state, locale, country, channel,
/// family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    /// Delivery state.
    pub state: String,
    /// Language used.
    pub locale: String,
    /// Country.
    pub country: String,
    /// Channel.
    pub channel: String,
    /// Template family.
    pub family: String,
    /// Number of rows.
    pub count: u64,
}

/// The stock of remediation codes of one (region, provider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediationStock {
    /// Country code the codes are valid in (`US`, `JP`).
    pub region: String,
    /// The provider issuing them.
    pub provider: String,
    /// Codes imported.
    pub total: u64,
    /// Codes assigned to a person.
    pub assigned: u64,
}

/// Storage of notice campaigns, their delivery ledger and remediation codes.
pub trait NoticeStore: Store {
    /// Inserts a campaign and the leaves recording it, in one transaction; the leaves are also
    /// listed as leaves of the campaign's incident.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the id exists (nothing written); backend failures.
    fn insert_campaign(&self, c: &CampaignRecord, audit: &[AuditLeaf]) -> Result<(), StoreError>;

    /// One campaign.
    ///
    /// # Errors
    /// Backend failures.
    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError>;

    /// An incident's campaigns, oldest first (by creation time, then id).
    ///
    /// # Errors
    /// Backend failures.
    fn campaigns(&self, incident: &str) -> Result<Vec<CampaignRecord>, StoreError>;

    /// Sets a campaign's status and body and appends the leaves (also listed as leaves of its
    /// incident), in one transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is no such campaign (nothing written); backend
    /// failures.
    fn update_campaign(
        &self,
        id: &str,
        status: &str,
        body: &str,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// Inserts new delivery rows and appends the leaves (one access event per person, written
    /// by the caller **before** the address is read), all in one transaction. A person is
    /// claimed once: if any row's (campaign, iid) exists already, or appears twice in `rows`,
    /// nothing is written, neither rows nor leaves.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a row claimed already; backend failures.
    fn claim_deliveries(
        &self,
        rows: &[DeliveryRecord],
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// Overwrites `state`, `attempts`, `detail` and `updated_at` of existing rows (found by
    /// campaign and iid; the other columns keep their claimed values) and appends the leaves,
    /// in one transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if a row was never claimed (nothing written); backend
    /// failures.
    fn record_deliveries(
        &self,
        rows: &[DeliveryRecord],
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// The rows of `campaign` with `lo <= iid <= hi`, by ascending iid: which people of a batch
    /// are done (resuming an interrupted send).
    ///
    /// # Errors
    /// Backend failures.
    fn deliveries_between(
        &self,
        campaign: &str,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Up to `limit` rows of `campaign` in `state` with an iid above `after`, by ascending iid:
    /// a caller pages through with the last iid it saw, never holding all rows at once.
    ///
    /// # Errors
    /// Backend failures.
    fn deliveries_in_state(
        &self,
        campaign: &str,
        state: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// The row carrying `message_id` (matching a bounce to its person), through an index.
    /// `None` for an empty message id (rows of the `none` channel may carry one). Message ids
    /// are unique by construction; were two rows to carry one, the first by (campaign, iid).
    ///
    /// # Errors
    /// Backend failures.
    fn delivery_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError>;

    /// Counts of `campaign`'s rows grouped by (state, locale, country, channel, family),
    /// computed in the database, in that order.
    ///
    /// # Errors
    /// Backend failures.
    fn delivery_counts(&self, campaign: &str) -> Result<Vec<DeliveryCount>, StoreError>;

    /// Subjects by internal id, with their wrapped key and seal epoch, exactly as
    /// [`Store::subject`] returns them: a subject whose key is shredded is absent, and where
    /// keys and rows live in two files the key is read first. One round trip per call on
    /// PostgreSQL; the caller passes at most a few thousand ids. By ascending iid; unknown
    /// (and repeated) ids are absent (once).
    ///
    /// # Errors
    /// Backend failures; [`StoreError::Corrupt`] for a malformed stored row.
    fn subjects_by_iid(&self, iids: &[u64]) -> Result<Vec<StoredSubject>, StoreError>;

    /// Imports remediation offer codes of `provider`, valid in `region` (a country code), one
    /// row per code: its `digest` (32 bytes, a keyed hash computed by the caller) and its
    /// `sealed` bytes (the code encrypted by the caller). A code whose digest is stored
    /// already (or repeats within `codes`) is skipped. The leaves are appended in the same
    /// transaction. Returns how many codes were new.
    ///
    /// # Errors
    /// Backend failures.
    fn insert_remediation_codes(
        &self,
        region: &str,
        provider: &str,
        codes: &[([u8; 32], Vec<u8>)],
        audit: &[AuditLeaf],
    ) -> Result<u64, StoreError>;

    /// Assigns one unassigned code of `region` to each of `iids` for `campaign`, atomically,
    /// and returns `(iid, provider, sealed)` for each of them that holds one, by ascending
    /// iid. Idempotent: a person who already holds a code of this region in this campaign
    /// gets the same one back, never a second. When the stock runs out, the remaining people
    /// get none (not an error). A code is never assigned to two people (one row per code, one
    /// holder per row), also with several callers at once.
    ///
    /// # Errors
    /// Backend failures.
    fn assign_remediation_codes(
        &self,
        region: &str,
        campaign: &str,
        iids: &[u64],
    ) -> Result<Vec<(u64, String, Vec<u8>)>, StoreError>;

    /// Per (region, provider), in that order: codes imported and codes assigned.
    ///
    /// # Errors
    /// Backend failures.
    fn remediation_stock(&self) -> Result<Vec<RemediationStock>, StoreError>;
}
