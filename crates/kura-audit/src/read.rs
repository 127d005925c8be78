//! Reads and proofs for the HTTP routes: entries, inclusion and consistency proofs, the
//! latest checkpoint and a subject's access history, all through [`AuditStore`] and the
//! stored-hash layout of `kura-tlog` (`O(log n)` hash reads per proof).
//!
//! Proofs are served only for sizes the integrator has reached (stored hashes exist up to
//! the integrated size); clients normally ask for the size of a checkpoint they hold.

use kura_store::AuditStore;
use kura_tlog::{Hash, HashReader, TlogError, prove_consistency, prove_inclusion};
use serde::Serialize;

use crate::{AuditError, Entry};

/// [`HashReader`] over an [`AuditStore`]'s stored hashes.
#[derive(Clone, Copy)]
pub struct StoreHashReader<'a>(pub &'a dyn AuditStore);

impl std::fmt::Debug for StoreHashReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreHashReader")
    }
}

impl HashReader for StoreHashReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        let got = self.0.audit_hashes(indexes).map_err(TlogError::storage)?;
        got.into_iter()
            .zip(indexes)
            .map(|(h, &index)| h.map(Hash).ok_or(TlogError::MissingHash { index }))
            .collect()
    }
}

/// A proof as the API returns it: `{"hashes":["<base64>", ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proof {
    /// The proof's hashes, in RFC 9162 order.
    pub hashes: Vec<Hash>,
}

/// Entry `index` with its leaf and decoded event; `None` if there is no such leaf.
///
/// # Errors
/// Store failures.
pub fn entry(store: &dyn AuditStore, index: u64) -> Result<Option<Entry>, AuditError> {
    Ok(store
        .audit_leaf(index)?
        .map(|leaf| Entry::from_leaf(index, &leaf)))
}

fn check_integrated(store: &dyn AuditStore, size: u64) -> Result<(), AuditError> {
    let integrated = store.audit_integrated_size()?;
    if size > integrated {
        return Err(AuditError::OutOfRange {
            index: size,
            size: integrated,
        });
    }
    Ok(())
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves
/// (`GET /v1/audit/proof/inclusion?index=I&size=N`).
///
/// # Errors
/// [`AuditError::OutOfRange`] if `size` exceeds the integrated size;
/// [`AuditError::Tlog`] with `IndexOutOfRange` if `index >= size`; store failures.
pub fn inclusion_proof(store: &dyn AuditStore, index: u64, size: u64) -> Result<Proof, AuditError> {
    check_integrated(store, size)?;
    Ok(Proof {
        hashes: prove_inclusion(index, size, &StoreHashReader(store))?,
    })
}

/// The consistency proof from the tree of `from` leaves to the tree of `to` leaves
/// (`GET /v1/audit/proof/consistency?from=M&to=N`).
///
/// # Errors
/// [`AuditError::OutOfRange`] if `to` exceeds the integrated size; [`AuditError::Tlog`]
/// for `from > to` or `from == 0 < to`; store failures.
pub fn consistency_proof(store: &dyn AuditStore, from: u64, to: u64) -> Result<Proof, AuditError> {
    check_integrated(store, to)?;
    Ok(Proof {
        hashes: prove_consistency(from, to, &StoreHashReader(store))?,
    })
}

/// The latest signed checkpoint, as served by `GET /v1/audit/checkpoint` (text/plain).
///
/// # Errors
/// Store failures.
pub fn latest_checkpoint(store: &dyn AuditStore) -> Result<Option<String>, AuditError> {
    Ok(store.latest_audit_checkpoint()?.map(|(_, text)| text))
}

/// The newest `limit` entries about subject `iid`, newest first, below leaf `before`
/// (`None`: from the newest): a person's own page.
///
/// # Errors
/// Backend failures.
pub fn subject_recent(
    store: &dyn AuditStore,
    iid: u64,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<Entry>, AuditError> {
    let indexes = store.audit_subject_recent(iid, before, limit)?;
    let mut out = Vec::with_capacity(indexes.len());
    for i in indexes {
        if let Some(leaf) = store.audit_leaf(i)? {
            out.push(Entry::from_leaf(i, &leaf));
        }
    }
    Ok(out)
}

/// The integrated access events that touched subject `iid`, oldest first, after leaf index
/// `after` (for paging), at most `limit` (`GET .../subjects/{id}/access-log`). Events not
/// yet integrated (usually under a second old) do not appear yet.
///
/// # Errors
/// Store failures.
pub fn subject_history(
    store: &dyn AuditStore,
    iid: u64,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Entry>, AuditError> {
    let indexes = store.audit_subject_history(iid, after, limit)?;
    let mut out = Vec::with_capacity(indexes.len());
    for i in indexes {
        if let Some(leaf) = store.audit_leaf(i)? {
            out.push(Entry::from_leaf(i, &leaf));
        } else {
            return Err(AuditError::EntryMissing { index: i });
        }
    }
    Ok(out)
}
