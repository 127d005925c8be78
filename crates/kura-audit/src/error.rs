//! The crate's single error type, [`AuditError`], with stable `snake_case` codes.
//!
//! Messages name indexes, sizes and codes, never an event's principal, subjects or fields
//! (they are personal data about who read what).

use kura_store::StoreError;
use kura_tlog::TlogError;

/// Everything that can go wrong in `kura-audit`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// An event cannot be encoded (a string or list too long, a malformed outcome code).
    #[error("access event cannot be encoded: {0}")]
    Encoding(&'static str),
    /// Leaf bytes are not a canonical encoding of an access event.
    #[error("access-log leaf is malformed: {0}")]
    Malformed(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Tree math, signing or verification failed (see [`TlogError`]).
    #[error(transparent)]
    Tlog(#[from] TlogError),
    /// The batch this event was in could not be written: the event is NOT in the log and
    /// the access it describes must not happen (fail closed).
    #[error("access log write failed ({code}); the access must not proceed")]
    AppendFailed {
        /// The store error's code.
        code: &'static str,
    },
    /// The appender has shut down.
    #[error("access-log appender is not running")]
    AppenderClosed,
    /// A leaf index is at or beyond the number of leaves (or integrated leaves).
    #[error("index {index} is not below size {size}")]
    OutOfRange {
        /// The index or size asked for.
        index: u64,
        /// The bound it was checked against.
        size: u64,
    },
    /// A sequence number below the log size has no leaf: the entry was removed.
    #[error("entry {index} is missing from the access log")]
    EntryMissing {
        /// The missing sequence number.
        index: u64,
    },
    /// A leaf covered by the tree is not a canonical access event.
    #[error("entry {index} is not a valid access event")]
    EntryUndecodable {
        /// Index of the leaf.
        index: u64,
    },
    /// A stored interior hash disagrees with the tree recomputed from the leaves: a leaf in
    /// `first..=last` was changed together with its stored leaf hash, or the interior hash
    /// itself was changed.
    #[error("stored hash {stored_index} over entries {first}..={last} does not match the entries")]
    StoredHashMismatch {
        /// Index in the stored-hash table.
        stored_index: u64,
        /// First leaf under that hash.
        first: u64,
        /// Last leaf under that hash (its append completed the hash).
        last: u64,
    },
    /// The stored-hash table lacks a hash that integration must have written.
    #[error("stored hash {stored_index} (for entry {entry}) is missing")]
    StoredHashMissing {
        /// Index in the stored-hash table.
        stored_index: u64,
        /// The leaf whose append writes that hash.
        entry: u64,
    },
    /// Fewer leaves exist than were integrated: the tail from `index` on was removed.
    #[error("the log ends at {index} but {integrated} entries were integrated")]
    Truncated {
        /// First missing index (the number of leaves present).
        index: u64,
        /// The integrated size recorded by the store.
        integrated: u64,
    },
    /// A stored checkpoint row's size differs from the size its signed text states.
    #[error("stored checkpoint for size {row_size} states size {note_size}")]
    CheckpointRow {
        /// The size the row is stored under.
        row_size: u64,
        /// The size in the signed text.
        note_size: u64,
    },
}

impl AuditError {
    /// The stable `snake_case` code of this error, for APIs and logs.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Encoding(_) => "audit_event_invalid",
            Self::Malformed(_) => "audit_leaf_malformed",
            Self::Store(e) => e.code(),
            Self::Tlog(e) => e.code(),
            Self::AppendFailed { .. } => "audit_append_failed",
            Self::AppenderClosed => "audit_appender_closed",
            Self::OutOfRange { .. } => "audit_out_of_range",
            Self::EntryMissing { .. } => "audit_entry_missing",
            Self::EntryUndecodable { .. } => "audit_entry_undecodable",
            Self::StoredHashMismatch { .. } => "audit_stored_hash_mismatch",
            Self::StoredHashMissing { .. } => "audit_stored_hash_missing",
            Self::Truncated { .. } => "audit_log_truncated",
            Self::CheckpointRow { .. } => "audit_checkpoint_row",
        }
    }

    /// For a verification failure: the index of the first entry that may be wrong (exact
    /// when the stored leaf hashes were left alone; the start of the checkpoint interval
    /// when an attacker rewrote leaves and hashes alike). `None` for other errors.
    #[must_use]
    pub fn first_broken_entry(&self) -> Option<u64> {
        match self {
            Self::EntryMissing { index }
            | Self::EntryUndecodable { index }
            | Self::Truncated { index, .. } => Some(*index),
            Self::StoredHashMismatch { first, .. } => Some(*first),
            Self::StoredHashMissing { entry, .. } => Some(*entry),
            Self::Tlog(TlogError::EntryMismatch { index }) => Some(*index),
            Self::Tlog(TlogError::CheckpointMismatch { first_suspect, .. }) => Some(*first_suspect),
            Self::Tlog(TlogError::LogTruncated { log_size, .. }) => Some(*log_size),
            _ => None,
        }
    }
}
