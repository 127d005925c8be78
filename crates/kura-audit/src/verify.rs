//! Offline verification of a whole access log (`kura audit verify`), and the verifier key
//! (`kura audit key`).
//!
//! [`verify`] streams every leaf from the store in chunks (constant memory whatever the
//! log size) and, for each one:
//! 1. checks its sequence number is the next one (a removed row is [`AuditError::EntryMissing`]);
//! 2. recomputes the stored hashes its append produces ([`Frontier::append`]) and compares
//!    them with the stored-hash table: a different leaf hash names the entry exactly
//!    (`TlogError::EntryMismatch`), a different interior hash is
//!    [`AuditError::StoredHashMismatch`];
//! 3. feeds a [`LogVerifier`] holding every stored checkpoint (and the auditor's, if given):
//!    each checkpoint's signature, origin and root at its size are checked, hence the
//!    consistency of every successive pair;
//! 4. decodes it as an [`AccessEvent`] ([`AuditError::EntryUndecodable`]).
//!
//! Then the store's own consistency proofs between successive checkpoints are checked
//! ([`LogVerifier::check_store`]) and a log shorter than its integrated size or its largest
//! checkpoint is reported as truncated. The first failure wins and names the entry
//! ([`AuditError::first_broken_entry`]).
//!
//! What this cannot see: leaves appended after the last checkpoint by someone with write
//! access (they are reported as `unsigned_tail`, and become signed history at the next
//! checkpoint), and a rewrite of leaves, hashes *and* checkpoints by someone holding the
//! signing key — which is why auditors keep checkpoints elsewhere. Left out: checking the
//! subject-history index against the leaves.

use kura_store::AuditStore;
use kura_tlog::{
    Checkpoint, Frontier, Hash, LogVerifier, NoteSigner, NoteVerifier, hash_leaf, stored_hash_count,
};
use serde::Serialize;

use crate::{AccessEvent, AuditError, StoreHashReader, origin_for};

/// Leaves read per store round trip during verification.
const VERIFY_CHUNK: u64 = 8192;

/// What a successful [`verify`] covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Leaves read and checked.
    pub entries: u64,
    /// The store's integrated size (leaves with stored hashes).
    pub integrated_size: u64,
    /// Stored hashes compared with the recomputed tree.
    pub stored_hashes_checked: u64,
    /// Checkpoints checked (stored ones plus the auditor's).
    pub checkpoints: usize,
    /// Size of the largest checkpoint checked.
    pub latest_checkpoint_size: u64,
    /// Size of the auditor's checkpoint, if one was given (the largest, if several).
    pub auditor_checkpoint_size: Option<u64>,
    /// Entries after the largest checkpoint, not yet covered by a signature.
    pub unsigned_tail: u64,
    /// Root of the tree over all entries.
    pub root: Hash,
}

/// The C2SP verifier key (`<name>+<key id hex>+<base64>`) of a vault's checkpoint signing
/// key, for `kura audit key`. The seed comes from
/// `KeyProvider::derive(KeyPurpose::AuditSigning)`.
///
/// # Errors
/// [`AuditError::Tlog`] if the key cannot be built (not for valid inputs).
pub fn verifier_key(vault_id: &[u8; 16], signing_seed: &[u8; 32]) -> Result<String, AuditError> {
    Ok(NoteSigner::from_seed(&origin_for(vault_id), signing_seed)?.verifier_key())
}

/// Verifies the whole log in `store` against `verifier_key` (C2SP vkey form), its stored
/// checkpoints and, if given, an auditor's signed checkpoint kept elsewhere.
///
/// # Errors
/// The first problem found, in log order; [`AuditError::first_broken_entry`] gives the
/// entry index for tampering. Key and checkpoint format errors come as
/// [`AuditError::Tlog`] (`CheckpointInvalid` names the checkpoint by position: stored
/// checkpoints by increasing size, then the auditor's).
pub fn verify(
    store: &dyn AuditStore,
    verifier_key: &str,
    extra_checkpoint: Option<&str>,
) -> Result<VerifyReport, AuditError> {
    verify_with(store, verifier_key, extra_checkpoint.as_slice())
}

/// As [`verify`], with any number of checkpoints kept elsewhere: an auditor's copy, the
/// checkpoint directory's, a witness's cosigned one (its cosignature lines are ignored
/// here; the caller checks them). A log shorter than one of them, or whose tree at that
/// size has another root, fails — a cut-off tail or a rewritten history.
///
/// # Errors
/// As [`verify`].
pub fn verify_with(
    store: &dyn AuditStore,
    verifier_key: &str,
    extra_checkpoints: &[&str],
) -> Result<VerifyReport, AuditError> {
    let verifier = NoteVerifier::from_verifier_key(verifier_key)?;
    let stored = store.audit_checkpoints()?;
    let mut texts: Vec<&str> = stored.iter().map(|(_, t)| t.as_str()).collect();
    texts.extend_from_slice(extra_checkpoints);
    let mut lv = LogVerifier::new(&verifier, &texts)?;
    for (row_size, text) in &stored {
        let cp = Checkpoint::open(text.as_bytes(), &verifier)?;
        if cp.size() != *row_size {
            return Err(AuditError::CheckpointRow {
                row_size: *row_size,
                note_size: cp.size(),
            });
        }
    }
    let mut auditor_checkpoint_size: Option<u64> = None;
    for t in extra_checkpoints {
        let n = Checkpoint::open(t.as_bytes(), &verifier)?.size();
        auditor_checkpoint_size = Some(auditor_checkpoint_size.map_or(n, |m| m.max(n)));
    }

    let total = store.audit_size()?;
    let integrated = store.audit_integrated_size()?;
    let mut frontier = Frontier::new();
    let mut fresh: Vec<Hash> = Vec::with_capacity(64);
    let mut checked = 0u64;
    let mut from = 0u64;
    while from < total {
        let mut to = total.min(from + VERIFY_CHUNK);
        if from < integrated {
            to = to.min(integrated);
        }
        let leaves = store.audit_leaves(from, to)?;
        let hashes = if from < integrated {
            let (lo, hi) = (stored_hash_count(from), stored_hash_count(to));
            let got = store.audit_hash_range(lo, hi)?;
            checked += got.len() as u64;
            Some((lo, got))
        } else {
            None
        };
        let mut at = 0usize; // position in `hashes`
        for (i, (seq, leaf)) in leaves.iter().enumerate() {
            let index = from + i as u64;
            if *seq != index {
                return Err(AuditError::EntryMissing { index });
            }
            let h = hash_leaf(leaf);
            if let Some((_, got)) = &hashes {
                fresh.clear();
                let first = frontier.next_stored_index();
                frontier.append(h, &mut fresh)?;
                for (k, want) in fresh.iter().enumerate() {
                    let stored_index = first + k as u64;
                    match got.get(at) {
                        Some((idx, _)) if *idx != stored_index => {
                            return Err(AuditError::StoredHashMissing {
                                stored_index,
                                entry: index,
                            });
                        }
                        Some((_, have)) if have != &want.0 => {
                            return Err(if k == 0 {
                                kura_tlog::TlogError::EntryMismatch { index }.into()
                            } else {
                                AuditError::StoredHashMismatch {
                                    stored_index,
                                    first: index + 1 - (1u64 << k),
                                    last: index,
                                }
                            });
                        }
                        Some(_) => at += 1,
                        None => {
                            return Err(AuditError::StoredHashMissing {
                                stored_index,
                                entry: index,
                            });
                        }
                    }
                }
            } else {
                frontier.push(h)?;
            }
            lv.push_leaf_hash(h)?;
            if AccessEvent::from_leaf(leaf).is_err() {
                return Err(AuditError::EntryUndecodable { index });
            }
        }
        if (leaves.len() as u64) < to - from {
            return Err(AuditError::EntryMissing {
                index: from + leaves.len() as u64,
            });
        }
        from = to;
    }
    if total < integrated {
        return Err(AuditError::Truncated {
            index: total,
            integrated,
        });
    }
    lv.check_store(&StoreHashReader(store))?;
    let summary = lv.finish()?;
    Ok(VerifyReport {
        entries: summary.entries,
        integrated_size: integrated,
        stored_hashes_checked: checked,
        checkpoints: summary.checkpoints,
        latest_checkpoint_size: summary.latest_checkpoint_size,
        auditor_checkpoint_size,
        unsigned_tail: summary.unsigned_tail,
        root: summary.root,
    })
}
