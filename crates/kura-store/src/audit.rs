//! [`AuditStore`]: what the access log needs from a backend beyond [`Store`] — reading
//! leaves back, the stored hashes of the RFC 6962 tree, the integrated size, signed
//! checkpoints and the subject-history index.
//!
//! The tree math, the leaf encoding and the signing live in `kura-audit` and `kura-tlog`;
//! this trait only moves bytes. Left out: any hashing or parsing (the store never looks
//! inside a leaf, a hash or a checkpoint).
//!
//! # Invariants
//! - Stored hashes are write-once. Writing the same index twice with the same hash is a
//!   no-op (two servers may integrate the same range and compute identical hashes); writing
//!   a *different* hash at an existing index is refused with [`StoreError::Conflict`] and
//!   changes nothing.
//! - [`AuditStore::integrate_audit`] is one transaction: hashes, history rows and the new
//!   integrated size land together or not at all, and only if the integrated size was still
//!   `from` (compare-and-set), so the size never moves backwards or skips a range.
//! - Checkpoints are keyed by tree size; a second checkpoint for a size already stored is
//!   ignored (Ed25519 signatures are deterministic, so an honest second signer produces the
//!   same text).

use crate::{AuditLeaf, Store, StoreError};

/// One batch of integration results, written atomically by
/// [`AuditStore::integrate_audit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditIntegration {
    /// The integrated tree size this batch extends (must equal the stored one).
    pub from: u64,
    /// The integrated tree size after the batch.
    pub to: u64,
    /// Stored index of `hashes[0]` (`stored_hash_count(from)` in `kura-tlog`).
    pub first_hash_index: u64,
    /// The stored hashes the leaves `from..to` add, in stored-index order.
    pub hashes: Vec<[u8; 32]>,
    /// Subject-history rows: `(subject internal id, leaf index)`.
    pub history: Vec<(u64, u64)>,
}

/// The outcome of [`AuditStore::integrate_audit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationOutcome {
    /// The batch was written and the integrated size is now `to`.
    Applied,
    /// The stored integrated size was not `from` (another integrator moved it); nothing
    /// was written. Carries the size found.
    Stale(u64),
}

/// A named time with a short value, written by [`AuditStore::put_mark`]: when the log was
/// last verified, a checkpoint last witnessed, a key rotation's progress. Never personal
/// data. A writer of the data store can forge a mark; posture checks treat marks as hints
/// (a forged mark hides a reminder, it proves nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// When, unix milliseconds.
    pub at_ms: u64,
    /// The value (a tree size, a JSON progress record).
    pub value: String,
}

/// Access-log storage beyond [`Store::append_audit`]. Implemented by both backends.
///
/// All methods are blocking, like [`Store`]'s.
pub trait AuditStore: Store {
    /// Leaves with sequence numbers in `from..to`, in order, as `(seq, leaf)`. Returns at
    /// most `to - from` rows; a missing sequence number (a deleted row) simply does not
    /// appear, so callers can detect gaps. Callers keep ranges to a few thousand leaves.
    ///
    /// # Errors
    /// Backend failures.
    fn audit_leaves(&self, from: u64, to: u64) -> Result<Vec<(u64, AuditLeaf)>, StoreError>;

    /// The leaf at `seq`, if present.
    ///
    /// # Errors
    /// Backend failures.
    fn audit_leaf(&self, seq: u64) -> Result<Option<AuditLeaf>, StoreError> {
        Ok(self
            .audit_leaves(seq, seq.saturating_add(1))?
            .into_iter()
            .next()
            .map(|(_, leaf)| leaf))
    }

    /// Stored hashes at the given stored-hash indexes, in the given order; `None` where
    /// none was written.
    ///
    /// # Errors
    /// Backend failures.
    fn audit_hashes(&self, indexes: &[u64]) -> Result<Vec<Option<[u8; 32]>>, StoreError>;

    /// Stored hashes with indexes in `from..to`, in index order, as `(index, hash)`. Missing
    /// indexes do not appear. Used by offline verification to stream the whole table.
    ///
    /// # Errors
    /// Backend failures.
    fn audit_hash_range(&self, from: u64, to: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError>;

    /// Writes stored hashes starting at `first_index`, idempotently (see the module's
    /// invariants). Integration normally goes through [`AuditStore::integrate_audit`];
    /// this is for repair tools and tests.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if an index already holds a different hash; backend
    /// failures.
    fn put_audit_hashes(&self, first_index: u64, hashes: &[[u8; 32]]) -> Result<(), StoreError>;

    /// The integrated tree size: leaves `0..size` have their stored hashes and history rows.
    ///
    /// # Errors
    /// Backend failures.
    fn audit_integrated_size(&self) -> Result<u64, StoreError>;

    /// Writes one integration batch in a single transaction, if the integrated size is
    /// still `batch.from`. Hash and history writes are idempotent.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if a stored hash differs from one already written (the
    /// transaction is rolled back); backend failures.
    fn integrate_audit(&self, batch: &AuditIntegration) -> Result<IntegrationOutcome, StoreError>;

    /// Stores a signed checkpoint (C2SP signed note text) for tree size `size`. Ignored if
    /// one is already stored for that size.
    ///
    /// # Errors
    /// Backend failures.
    fn put_audit_checkpoint(&self, size: u64, signed_note: &str) -> Result<(), StoreError>;

    /// All stored checkpoints as `(size, signed note text)`, by increasing size.
    ///
    /// # Errors
    /// Backend failures.
    fn audit_checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError>;

    /// The stored checkpoint with the largest size.
    ///
    /// # Errors
    /// Backend failures.
    fn latest_audit_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError>;

    /// Leaf indexes of the access events that touched subject `iid`, increasing, starting
    /// after `after` (exclusive; `None` from the beginning), at most `limit`.
    ///
    /// # Errors
    /// Backend failures.
    fn audit_subject_history(
        &self,
        iid: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError>;

    /// The newest access events that touched subject `iid`: leaf indexes, decreasing,
    /// below `before` (exclusive; `None`: from the newest), at most `limit` (what a person's
    /// own page shows first).
    ///
    /// # Errors
    /// Backend failures.
    fn audit_subject_recent(
        &self,
        iid: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError>;

    /// Sets the mark `name` (replacing it).
    ///
    /// # Errors
    /// Backend failures.
    fn put_mark(&self, name: &str, at_ms: u64, value: &str) -> Result<(), StoreError>;

    /// The mark `name`, if ever set.
    ///
    /// # Errors
    /// Backend failures.
    fn mark(&self, name: &str) -> Result<Option<Mark>, StoreError>;
}
