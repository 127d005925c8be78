//! `kura-tlog`: the transparency log under kura's verifiable access log.
//! Pure: no IO, no clock, no other kura crate (its benchmark is the `tlog_bench` example).
//!
//! Every access to personal data is an event; events are the leaves of an
//! RFC 6962 Merkle tree; the log periodically signs its tree head as a C2SP
//! checkpoint; anyone holding the log's verifier key can check that an event
//! is in the log, that the log never rewrote its history, and — given all
//! entries — that nothing was changed, removed, inserted or reordered.
//!
//! # Map
//! * [`hash`](hash_leaf) — RFC 9162 §2.1.1 leaf/node hashing, [`Hash`].
//! * [`root_of`], [`inclusion_proof_of`], [`consistency_proof_of`],
//!   [`verify_inclusion`], [`verify_consistency`] — RFC 9162 §2.1.3–2.1.4
//!   over in-memory leaf hashes, and proof verification.
//! * [`stored_hash_index`], [`HashReader`], [`tree_hash`],
//!   [`prove_inclusion`], [`prove_consistency`] — the flat stored-hash
//!   layout (after Go's `sumdb/tlog`) through which a database answers proofs
//!   at any size by reading `O(log n)` hashes.
//! * [`Frontier`] — the integrator's in-memory appender; yields the stored
//!   hashes of each batch.
//! * [`NoteSigner`], [`NoteVerifier`], [`sign_note`], [`open_note`] — C2SP
//!   signed notes with Ed25519.
//! * [`Checkpoint`] — C2SP tlog-checkpoint bodies.
//! * [`CosignSigner`], [`CosignVerifier`] — C2SP tlog-cosignature v1: a witness's
//!   timestamped countersignature of a checkpoint.
//! * [`LogVerifier`], [`verify_log`], [`verify_log_with_store`] —
//!   constant-memory offline verification of a whole log against its
//!   checkpoints (and its stored hashes), naming the first checkpoint or
//!   entry that breaks (`kura audit verify`);
//!   [`verify_checkpoint_consistency`], [`verify_checkpoint_inclusion`] for
//!   clients and auditors holding a saved checkpoint.
//!
//! # Example
//! ```
//! use kura_tlog::{Checkpoint, Frontier, NoteSigner, prove_inclusion, verify_log,
//!                 verify_checkpoint_inclusion};
//!
//! let signer = NoteSigner::from_seed("example.com/log", &[1u8; 32])?;
//! let entries: Vec<&[u8]> = vec![b"read alice email", b"read bob phone", b"export carol"];
//!
//! // Integrator: append a batch, keep the stored hashes, sign a checkpoint.
//! let mut frontier = Frontier::new();
//! let stored = frontier.append_entries(&entries)?;
//! let cp = Checkpoint::new("example.com/log", frontier.size(), frontier.root())?;
//! let signed = cp.sign(&signer)?;
//!
//! // Server: an inclusion proof from stored hashes; client: check it.
//! let proof = prove_inclusion(1, 3, &stored)?;
//! let opened = Checkpoint::open(signed.as_bytes(), &signer.verifier())?;
//! verify_checkpoint_inclusion(&opened, entries[1], 1, &proof)?;
//!
//! // Auditor: recompute everything offline.
//! let summary = verify_log(&signer.verifier(), &[signed], &entries)?;
//! assert_eq!(summary.entries, 3);
//! # Ok::<(), kura_tlog::TlogError>(())
//! ```
//!
//! # Invariants
//! * Hashes come from `sha2`, signatures from `ed25519-dalek`; no primitive is
//!   implemented here.
//! * Secret keys ([`NoteSigner`]) zeroize on drop and never print.
//! * Stored hashes are write-once: appending never changes an earlier one.

#![deny(missing_docs)]

mod checkpoint;
mod cosign;
mod error;
mod frontier;
mod hash;
mod note;
mod proof;
mod stored;
mod verify;
pub mod witness;

pub use checkpoint::Checkpoint;
pub use cosign::{ALG_COSIGNATURE_V1, CosignSigner, CosignVerifier};
pub use error::TlogError;
pub use frontier::Frontier;
pub use hash::{HASH_SIZE, Hash, empty_root, hash_children, hash_leaf};
pub use note::{
    ALG_ED25519, MAX_SIGNATURES, Note, NoteSignature, NoteSigner, NoteVerifier, is_valid_key_name,
    key_id, open_note, parse_note_unverified, sign_note,
};
pub use proof::{
    MAX_TREE_SIZE, consistency_proof_of, inclusion_proof_of, root_from_inclusion_proof, root_of,
    verify_consistency, verify_inclusion,
};
pub use stored::{
    HashReader, frontier_from_reader, frontier_indexes, prove_consistency, prove_inclusion,
    stored_hash_count, stored_hash_index, stored_hashes_for_leaf, tree_hash,
};
pub use verify::{
    LogSummary, LogVerifier, verify_checkpoint_consistency, verify_checkpoint_inclusion,
    verify_log, verify_log_with_store,
};
pub use zeroize::Zeroizing;
