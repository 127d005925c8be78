//! The crate's single error type, [`TlogError`].
//!
//! Every variant has a stable `snake_case` code ([`TlogError::code`]) that
//! callers may put on the wire. Messages are lowercase and name sizes,
//! indexes, key names and checkpoint positions, never secret bytes.

/// Everything that can go wrong in `kura-tlog`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// A leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// An older tree size is larger than a newer one.
    #[error("old tree size {old} is greater than new tree size {new}")]
    SizeOrder {
        /// The older (first) size.
        old: u64,
        /// The newer (second) size.
        new: u64,
    },
    /// A consistency proof from the empty tree was requested or given;
    /// RFC 9162 §2.1.4 defines proofs only for `0 < first`.
    #[error("a consistency proof from the empty tree is meaningless")]
    EmptyTreeConsistency,
    /// A tree size above the supported maximum (2^62 leaves).
    #[error("tree size {size} exceeds the supported maximum")]
    TreeTooLarge {
        /// The requested size.
        size: u64,
    },
    /// A proof has the wrong number of hashes for its sizes and index.
    #[error("proof has {got} hashes, expected {want}")]
    ProofLength {
        /// Hashes supplied.
        got: usize,
        /// Hashes the sizes call for.
        want: usize,
    },
    /// A proof does not lead to the expected root hash(es).
    #[error("proof does not match the root hash")]
    ProofMismatch,
    /// A hash was not exactly 32 bytes.
    #[error("hash must be 32 bytes, got {0}")]
    HashLength(usize),
    /// A hash was not canonical standard base64.
    #[error("hash is not canonical base64")]
    HashEncoding,
    /// A [`crate::HashReader`] returned the wrong number of hashes.
    #[error("hash reader returned {got} hashes for {want} indexes")]
    ReaderCount {
        /// Hashes returned.
        got: usize,
        /// Indexes asked for.
        want: usize,
    },
    /// A stored hash is missing from an in-memory store.
    #[error("stored hash {index} is missing")]
    MissingHash {
        /// The stored hash index.
        index: u64,
    },
    /// The storage behind a [`crate::HashReader`] failed.
    #[error("hash storage failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),

    /// A key name is empty or contains a Unicode space or `+`.
    #[error("invalid key name")]
    InvalidKeyName,
    /// A verifier key string is malformed (wrong fields, algorithm, length or key id).
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// A signed note breaks the format of c2sp.org/signed-note.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// A note has more signature lines than this crate accepts.
    #[error("note has more than {0} signatures")]
    TooManySignatures(usize),
    /// A signature from a known key failed to verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name on the signature line.
        name: String,
        /// Key id on the signature line.
        key_id: u32,
    },
    /// A known key signed the same note twice.
    #[error("duplicate signature for key {name}+{key_id:08x}")]
    DuplicateSignature {
        /// Key name on the signature line.
        name: String,
        /// Key id on the signature line.
        key_id: u32,
    },
    /// Two configured verifiers share a key name and key id.
    #[error("ambiguous key {name}+{key_id:08x}")]
    AmbiguousKey {
        /// The shared key name.
        name: String,
        /// The shared key id.
        key_id: u32,
    },
    /// No signature from a known key was found on a note.
    #[error("note has no signature from a known key")]
    NoKnownSignature,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,

    /// A checkpoint body breaks c2sp.org/tlog-checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// A checkpoint in a verification set failed to open (signature or format).
    #[error("checkpoint {checkpoint}: {source}")]
    CheckpointInvalid {
        /// Position of the checkpoint in the list given to the verifier.
        checkpoint: usize,
        /// Why it failed.
        #[source]
        source: Box<TlogError>,
    },
    /// A checkpoint names another origin than the log key.
    #[error("checkpoint {checkpoint} has origin other than the log key name")]
    CheckpointOrigin {
        /// Position of the checkpoint in the list given to the verifier.
        checkpoint: usize,
    },
    /// The recomputed tree disagrees with a signed checkpoint: some entry with
    /// index in `first_suspect..size` was changed, removed, inserted or moved.
    #[error(
        "checkpoint {checkpoint} (size {size}) does not match the entries: \
         an entry in {first_suspect}..{size} was changed, removed, inserted or reordered"
    )]
    CheckpointMismatch {
        /// Position of the checkpoint in the list given to the verifier.
        checkpoint: usize,
        /// The checkpoint's tree size.
        size: u64,
        /// Size of the last checkpoint that did match (0 if none): the first
        /// entry index that may be wrong.
        first_suspect: u64,
    },
    /// An entry's leaf hash differs from the leaf hash the log stored for it:
    /// the entry at this index was changed, removed, inserted or moved.
    #[error("entry {index} does not match its stored leaf hash")]
    EntryMismatch {
        /// Index of the first entry that differs.
        index: u64,
    },
    /// The stored hashes give another root than a signed checkpoint at its
    /// size (the stored interior hashes were damaged).
    #[error("stored hashes disagree with checkpoint {checkpoint}")]
    StoredTreeMismatch {
        /// Position of the checkpoint in the list given to the verifier.
        checkpoint: usize,
    },
    /// The log's own consistency proof between two successive checkpoints
    /// fails to verify.
    #[error(
        "stored hashes give no valid consistency proof from checkpoint {from} to checkpoint {to}"
    )]
    StoredConsistency {
        /// Position of the older checkpoint.
        from: usize,
        /// Position of the newer checkpoint.
        to: usize,
    },
    /// The log holds fewer entries than a signed checkpoint covers.
    #[error("checkpoint {checkpoint} covers {size} entries but the log has only {log_size}")]
    LogTruncated {
        /// Position of the checkpoint in the list given to the verifier.
        checkpoint: usize,
        /// The checkpoint's tree size.
        size: u64,
        /// Entries actually seen.
        log_size: u64,
    },
}

impl TlogError {
    /// Wraps a storage backend's error for return from a [`crate::HashReader`].
    pub fn storage<E>(err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::Storage(Box::new(err))
    }

    /// The stable `snake_case` code of this error, for APIs and logs.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::IndexOutOfRange { .. } => "tlog_index_out_of_range",
            Self::SizeOrder { .. } => "tlog_size_order",
            Self::EmptyTreeConsistency => "tlog_empty_tree_consistency",
            Self::TreeTooLarge { .. } => "tlog_tree_too_large",
            Self::ProofLength { .. } => "tlog_proof_length",
            Self::ProofMismatch => "tlog_proof_mismatch",
            Self::HashLength(_) => "tlog_hash_length",
            Self::HashEncoding => "tlog_hash_encoding",
            Self::ReaderCount { .. } => "tlog_reader_count",
            Self::MissingHash { .. } => "tlog_missing_hash",
            Self::Storage(_) => "tlog_storage",
            Self::InvalidKeyName => "note_invalid_key_name",
            Self::MalformedVerifierKey(_) => "note_malformed_verifier_key",
            Self::MalformedNote(_) => "note_malformed",
            Self::TooManySignatures(_) => "note_too_many_signatures",
            Self::InvalidSignature { .. } => "note_invalid_signature",
            Self::DuplicateSignature { .. } => "note_duplicate_signature",
            Self::AmbiguousKey { .. } => "note_ambiguous_key",
            Self::NoKnownSignature => "note_no_known_signature",
            Self::Random => "note_random",
            Self::MalformedCheckpoint(_) => "checkpoint_malformed",
            Self::CheckpointInvalid { .. } => "checkpoint_invalid",
            Self::CheckpointOrigin { .. } => "checkpoint_origin",
            Self::CheckpointMismatch { .. } => "log_checkpoint_mismatch",
            Self::EntryMismatch { .. } => "log_entry_mismatch",
            Self::StoredTreeMismatch { .. } => "log_stored_tree_mismatch",
            Self::StoredConsistency { .. } => "log_stored_consistency",
            Self::LogTruncated { .. } => "log_truncated",
        }
    }
}
