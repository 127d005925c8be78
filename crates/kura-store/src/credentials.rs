//! [`CredentialStore`]: what passwords need from a backend beyond [`Store`] — per-subject
//! login throttling and the forced-reset flag, recovery tokens by hash, and the atomic
//! completion of a recovery.
//!
//! The password hash itself is *not* here: it is a sealed field of the subject (category
//! `credential`), encrypted under the subject's key like any other field, so the store never
//! sees it in clear. What this module holds reveals nothing usable: counters, flags, and
//! keyed hashes of 256-bit tokens (the caller keys them: kura-vault stores HMAC-SHA-256 under a
//! key-provider key of the token's SHA-256). Left out: every rule (delays, lock threshold, token
//! lifetime, issue limits come from `kura-credentials` through the caller) and any hashing.
//!
//! # Invariants
//! - Credential state is changed only by compare-and-set on its `version`
//!   ([`CredentialStore::put_credential_state`]): two servers recording failures for the same
//!   subject never lose a count.
//! - A recovery token is redeemed at most once, even by two servers at the same instant: the
//!   redemption, the new sealed fields (conditional on the subject's version), the removal of
//!   every other token of the subject, the cleared flags and the access-log leaves are one
//!   transaction ([`CredentialStore::complete_recovery`]).
//! - Issuing a token checks the per-subject issue limit and inserts in one transaction that
//!   serializes with other issues for the same subject.
//! - Access-log leaves given to a mutating call are written in its transaction.

use uuid::Uuid;

use crate::{AuditLeaf, SearchHit, Store, StoreError};

/// Throttling and reset state of one subject (or of a login id that matches no subject, keyed
/// by a pseudo-subject id the caller derives). A subject without a row has the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CredentialState {
    /// Row version for compare-and-set; 0 when no row exists yet.
    pub version: i64,
    /// Consecutive failed logins since the last success.
    pub failures: u32,
    /// Unix seconds of the last failed login (0 if none).
    pub last_failure_unix: u64,
    /// Locked after too many failures, until recovery completes.
    pub locked: bool,
    /// The password must be reset through recovery before the next login.
    pub must_reset: bool,
}

/// A recovery token to store: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecoveryToken {
    /// Subject the token recovers.
    pub subject: Uuid,
    /// The subject's collection.
    pub collection: String,
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    /// Unix seconds of issue.
    pub issued_unix: u64,
    /// Unix seconds after which it is refused.
    pub expires_unix: u64,
}

/// A stored recovery token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryTokenRecord {
    /// The token as issued.
    pub token: NewRecoveryToken,
    /// Redeemed already.
    pub used: bool,
}

/// Everything [`CredentialStore::complete_recovery`] writes in one transaction.
#[derive(Debug, Clone)]
pub struct RecoveryCompletion {
    /// SHA-256 of the presented token.
    pub hash: [u8; 32],
    /// Now, in unix seconds (the token must not be expired).
    pub now_unix: u64,
    /// Subject and collection the caller found for the token.
    pub subject: Uuid,
    /// Collection.
    pub collection: String,
    /// The subject version the new fields were computed from.
    pub expected_version: i64,
    /// The subject's new sealed fields (the new password hash sealed in). Blind-index tokens
    /// are not touched: a credential field is never searchable.
    pub fields: Vec<u8>,
}

/// The result of [`CredentialStore::complete_recovery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryOutcome {
    /// Redeemed; the new fields are written, other tokens deleted, flags cleared.
    Completed,
    /// No token with this hash for this subject.
    Invalid,
    /// The token was redeemed already.
    Used,
    /// The token has expired.
    Expired,
    /// The subject changed since the fields were computed (re-read and retry), or is gone.
    Conflict,
}

/// Password-related storage beyond [`Store`]. Implemented by both backends; all methods
/// block, like [`Store`]'s.
pub trait CredentialStore: Store {
    /// The state of `subject`; the default (version 0) when it has none.
    ///
    /// # Errors
    /// Backend failures.
    fn credential_state(&self, subject: &Uuid) -> Result<CredentialState, StoreError>;

    /// Replaces the state of `subject` if its version is still `expected_version` (0: only
    /// if no row exists), writing `audit` in the same transaction. Returns whether it was
    /// written; the new version is `expected_version + 1`.
    ///
    /// # Errors
    /// Backend failures.
    fn put_credential_state(
        &self,
        subject: &Uuid,
        expected_version: i64,
        state: &CredentialState,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// Sets the forced-reset flag of each subject (idempotent), with `audit` in the same
    /// transaction.
    ///
    /// # Errors
    /// Backend failures.
    fn set_must_reset(&self, subjects: &[Uuid], audit: &[AuditLeaf]) -> Result<(), StoreError>;

    /// Subjects of `collection` with ids above `after` (all when `None`), at most `limit`, in
    /// id order: pages for bulk operations that never hold every subject in memory.
    ///
    /// # Errors
    /// Backend failures.
    fn subject_page(
        &self,
        collection: &str,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// Stores a new token if fewer than `max_per_window` tokens were issued to its subject in
    /// the `window_secs` before its issue time, writing `audit` in the same transaction; also
    /// deletes the subject's tokens that expired before the window. Returns whether it was
    /// stored (when not, nothing is written).
    ///
    /// # Errors
    /// Backend failures.
    fn issue_recovery_token(
        &self,
        token: &NewRecoveryToken,
        max_per_window: u32,
        window_secs: u64,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// The token with this hash, if any.
    ///
    /// # Errors
    /// Backend failures.
    fn recovery_token(&self, hash: &[u8; 32]) -> Result<Option<RecoveryTokenRecord>, StoreError>;

    /// Redeems a token and writes the subject's new fields atomically (see the module's
    /// invariants): marks the token used, deletes the subject's other tokens, resets the
    /// throttle (unlocks), clears `must_reset`, and writes `audit` — or changes nothing.
    ///
    /// # Errors
    /// Backend failures.
    fn complete_recovery(
        &self,
        completion: &RecoveryCompletion,
        audit: &[AuditLeaf],
    ) -> Result<RecoveryOutcome, StoreError>;
}
