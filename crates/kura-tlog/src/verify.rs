//! Offline verification of a whole log against its signed checkpoints, in
//! constant memory, for `kura audit verify`; and the online checks a client
//! or auditor makes against one checkpoint.
//!
//! [`LogVerifier`] takes the log's verifier key and any number of signed
//! checkpoints (c2sp.org/tlog-checkpoint, in any order, the auditor's saved
//! ones included), then the entries one by one. It recomputes the RFC 9162
//! tree with a [`Frontier`] (at most 62 hashes of state, whatever the log
//! size) and, whenever the tree reaches a checkpoint's size, compares roots.
//!
//! Consistency between successive checkpoints: each checkpoint's root is
//! checked against the tree recomputed from the same entry stream, so every
//! pair of successive checkpoints is consistent exactly when both match;
//! this is stronger than checking the log's own consistency proofs, which
//! [`verify_checkpoint_consistency`] does for clients that lack the entries.
//!
//! Locating tampering: a changed, removed, inserted, swapped or appended-in-
//! the-middle entry makes the first checkpoint at or after it mismatch, and
//! the error names that checkpoint and the entry range since the last good
//! checkpoint ([`TlogError::CheckpointMismatch`]). A truncated log fails with
//! [`TlogError::LogTruncated`].
//!
//! With the log's stored hashes at hand ([`verify_log_with_store`]), each
//! entry is also compared with its stored leaf hash, so the error names the
//! exact entry index ([`TlogError::EntryMismatch`]); and the store must
//! reproduce every checkpoint's root and a valid consistency proof between
//! each pair of successive checkpoints — the very proofs the HTTP routes
//! serve. An attacker who rewrites both entries and stored hashes is still
//! caught by the signed roots, located to a checkpoint interval.

use crate::checkpoint::Checkpoint;
use crate::frontier::Frontier;
use crate::hash::{Hash, hash_leaf};
use crate::note::NoteVerifier;
use crate::proof::{verify_consistency, verify_inclusion};
use crate::stored::{HashReader, prove_consistency, stored_hash_index, tree_hash};
use crate::{TlogError, empty_root};

/// What a successful verification covered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogSummary {
    /// Entries read.
    pub entries: u64,
    /// Root of the tree over all entries read.
    pub root: Hash,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: usize,
    /// Size of the largest checkpoint (0 if none).
    pub latest_checkpoint_size: u64,
    /// Entries past the largest checkpoint, not yet covered by a signature.
    pub unsigned_tail: u64,
}

/// Streaming verifier of a log against signed checkpoints.
#[derive(Debug)]
pub struct LogVerifier {
    /// `(position in the caller's list, checkpoint)`, sorted by size.
    checkpoints: Vec<(usize, Checkpoint)>,
    next: usize,
    frontier: Frontier,
    last_matched: u64,
}

impl LogVerifier {
    /// Opens every signed checkpoint with `verifier` and prepares to read
    /// entries. Each checkpoint's origin must equal the verifier's key name.
    ///
    /// # Errors
    /// [`TlogError::CheckpointInvalid`] naming the first checkpoint (by
    /// position in `signed_checkpoints`) whose signature or format fails,
    /// [`TlogError::CheckpointOrigin`], or [`TlogError::CheckpointMismatch`]
    /// for a size-0 checkpoint whose root is not the empty root.
    pub fn new<S: AsRef<[u8]>>(
        verifier: &NoteVerifier,
        signed_checkpoints: &[S],
    ) -> Result<Self, TlogError> {
        let mut checkpoints = Vec::with_capacity(signed_checkpoints.len());
        for (i, signed) in signed_checkpoints.iter().enumerate() {
            let c = Checkpoint::open(signed.as_ref(), verifier).map_err(|e| {
                TlogError::CheckpointInvalid {
                    checkpoint: i,
                    source: Box::new(e),
                }
            })?;
            if c.origin() != verifier.name() {
                return Err(TlogError::CheckpointOrigin { checkpoint: i });
            }
            checkpoints.push((i, c));
        }
        checkpoints.sort_by_key(|(i, c)| (c.size(), *i));
        let mut v = Self {
            checkpoints,
            next: 0,
            frontier: Frontier::new(),
            last_matched: 0,
        };
        v.check_due()?;
        Ok(v)
    }

    fn check_due(&mut self) -> Result<(), TlogError> {
        let size = self.frontier.size();
        let mut root = None;
        while let Some((pos, c)) = self.checkpoints.get(self.next) {
            if c.size() != size {
                break;
            }
            let r = *root.get_or_insert_with(|| self.frontier.root());
            if *c.root() != r {
                return Err(TlogError::CheckpointMismatch {
                    checkpoint: *pos,
                    size,
                    first_suspect: self.last_matched,
                });
            }
            self.last_matched = size;
            self.next += 1;
        }
        Ok(())
    }

    /// Reads the next entry (leaf bytes) and returns its leaf hash.
    ///
    /// # Errors
    /// [`TlogError::CheckpointMismatch`] when this entry completes a
    /// checkpoint's size and the roots differ; [`TlogError::TreeTooLarge`].
    pub fn push_entry(&mut self, entry: &[u8]) -> Result<Hash, TlogError> {
        let h = hash_leaf(entry);
        self.push_leaf_hash(h)?;
        Ok(h)
    }

    /// Reads the next entry and checks it against the leaf hash the log
    /// stored for it, which locates a changed, removed, inserted or moved
    /// entry exactly (as long as the stored hashes were left alone).
    ///
    /// # Errors
    /// [`TlogError::EntryMismatch`] naming this entry's index, or as
    /// [`LogVerifier::push_entry`].
    pub fn push_entry_expecting(
        &mut self,
        entry: &[u8],
        stored_leaf_hash: &Hash,
    ) -> Result<Hash, TlogError> {
        let h = hash_leaf(entry);
        if h != *stored_leaf_hash {
            return Err(TlogError::EntryMismatch { index: self.size() });
        }
        self.push_leaf_hash(h)?;
        Ok(h)
    }

    /// Checks the log's stored hashes against every checkpoint: the stored
    /// tree head at each checkpoint's size must equal its signed root, and
    /// the consistency proof the store yields between each pair of successive
    /// checkpoints must verify. Call after all entries were read.
    ///
    /// # Errors
    /// [`TlogError::StoredTreeMismatch`], [`TlogError::StoredConsistency`],
    /// or the reader's errors.
    pub fn check_store<R: HashReader + ?Sized>(&self, store: &R) -> Result<(), TlogError> {
        let checked = &self.checkpoints[..self.next];
        for (pos, c) in checked {
            if tree_hash(c.size(), store)? != *c.root() {
                return Err(TlogError::StoredTreeMismatch { checkpoint: *pos });
            }
        }
        for pair in checked.windows(2) {
            let ((from, old), (to, new)) = (&pair[0], &pair[1]);
            if old.size() == 0 || old.size() == new.size() {
                continue;
            }
            let proof = prove_consistency(old.size(), new.size(), store)?;
            verify_consistency(old.size(), new.size(), &proof, old.root(), new.root()).map_err(
                |_| TlogError::StoredConsistency {
                    from: *from,
                    to: *to,
                },
            )?;
        }
        Ok(())
    }

    /// Reads the next entry as an already computed leaf hash.
    ///
    /// # Errors
    /// As [`LogVerifier::push_entry`].
    pub fn push_leaf_hash(&mut self, leaf_hash: Hash) -> Result<(), TlogError> {
        self.frontier.push(leaf_hash)?;
        self.check_due()
    }

    /// Entries read so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root of the tree over the entries read so far.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Ends the stream.
    ///
    /// # Errors
    /// [`TlogError::LogTruncated`] naming the first checkpoint larger than the
    /// log.
    pub fn finish(self) -> Result<LogSummary, TlogError> {
        let entries = self.frontier.size();
        if let Some((pos, c)) = self.checkpoints.get(self.next) {
            return Err(TlogError::LogTruncated {
                checkpoint: *pos,
                size: c.size(),
                log_size: entries,
            });
        }
        let latest = self.checkpoints.last().map_or(0, |(_, c)| c.size());
        Ok(LogSummary {
            entries,
            root: self.frontier.root(),
            checkpoints: self.checkpoints.len(),
            latest_checkpoint_size: latest,
            unsigned_tail: entries - latest,
        })
    }
}

/// Verifies a whole log: every checkpoint's signature, every checkpoint's
/// root at its size, hence consistency between all of them. Reads `entries`
/// once, in constant memory.
///
/// # Errors
/// As [`LogVerifier::new`], [`LogVerifier::push_entry`] and
/// [`LogVerifier::finish`]; the first failure wins.
pub fn verify_log<S, I, L>(
    verifier: &NoteVerifier,
    signed_checkpoints: &[S],
    entries: I,
) -> Result<LogSummary, TlogError>
where
    S: AsRef<[u8]>,
    I: IntoIterator<Item = L>,
    L: AsRef<[u8]>,
{
    let mut v = LogVerifier::new(verifier, signed_checkpoints)?;
    for e in entries {
        v.push_entry(e.as_ref())?;
    }
    v.finish()
}

/// Entries per stored-hash read in [`verify_log_with_store`].
const STORE_CHUNK: usize = 4096;

/// Verifies a whole log as [`verify_log`] does, and also against the log's
/// stored hashes: each entry must match its stored leaf hash (so the error
/// names the exact entry that breaks), and the stored tree must agree with
/// every checkpoint and prove consistency between successive ones
/// ([`LogVerifier::check_store`]). Memory stays constant: entries are read
/// in chunks of a few thousand.
///
/// # Errors
/// [`TlogError::EntryMismatch`] for the first entry that differs from its
/// stored leaf hash (an entry past the stored table gives the reader's
/// [`TlogError::MissingHash`]), then as [`verify_log`] and
/// [`LogVerifier::check_store`].
pub fn verify_log_with_store<S, I, L, R>(
    verifier: &NoteVerifier,
    signed_checkpoints: &[S],
    entries: I,
    store: &R,
) -> Result<LogSummary, TlogError>
where
    S: AsRef<[u8]>,
    I: IntoIterator<Item = L>,
    L: AsRef<[u8]>,
    R: HashReader + ?Sized,
{
    let mut v = LogVerifier::new(verifier, signed_checkpoints)?;
    let mut iter = entries.into_iter();
    let mut chunk: Vec<L> = Vec::with_capacity(STORE_CHUNK);
    let mut indexes: Vec<u64> = Vec::with_capacity(STORE_CHUNK);
    loop {
        chunk.clear();
        chunk.extend(iter.by_ref().take(STORE_CHUNK));
        if chunk.is_empty() {
            break;
        }
        let start = v.size();
        indexes.clear();
        indexes.extend((start..start + chunk.len() as u64).map(|i| stored_hash_index(0, i)));
        match store.read_hashes(&indexes) {
            Ok(stored) if stored.len() == indexes.len() => {
                for (e, h) in chunk.iter().zip(&stored) {
                    v.push_entry_expecting(e.as_ref(), h)?;
                }
            }
            // A short or failed chunk read (e.g. more entries than stored
            // hashes): go one by one so an earlier entry's error wins.
            _ => {
                for (e, &i) in chunk.iter().zip(&indexes) {
                    let h = store.read_hashes(&[i])?;
                    let h = h
                        .first()
                        .ok_or(TlogError::ReaderCount { got: 0, want: 1 })?;
                    v.push_entry_expecting(e.as_ref(), h)?;
                }
            }
        }
    }
    v.check_store(store)?;
    v.finish()
}

/// Checks that `newer` extends `older` given the log's consistency proof
/// (what an auditor does with a saved checkpoint and the
/// `?from=M&to=N` route). A saved empty checkpoint is consistent with any
/// later one of the same origin.
///
/// # Errors
/// [`TlogError::MalformedCheckpoint`] if the origins differ, or any error of
/// [`verify_consistency`].
pub fn verify_checkpoint_consistency(
    older: &Checkpoint,
    newer: &Checkpoint,
    proof: &[Hash],
) -> Result<(), TlogError> {
    if older.origin() != newer.origin() {
        return Err(TlogError::MalformedCheckpoint(
            "checkpoints name different origins",
        ));
    }
    if older.size() == 0 && newer.size() > 0 {
        if *older.root() != empty_root() {
            return Err(TlogError::ProofMismatch);
        }
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(TlogError::ProofLength {
                got: proof.len(),
                want: 0,
            })
        };
    }
    if older.size() == 0 {
        // Both empty.
        return if older.root() == newer.root() && proof.is_empty() {
            Ok(())
        } else {
            Err(TlogError::ProofMismatch)
        };
    }
    verify_consistency(
        older.size(),
        newer.size(),
        proof,
        older.root(),
        newer.root(),
    )
}

/// Checks that `entry` is entry `index` of the log at `checkpoint`, given the
/// log's inclusion proof (`?index=I&size=N`).
///
/// # Errors
/// Any error of [`verify_inclusion`].
pub fn verify_checkpoint_inclusion(
    checkpoint: &Checkpoint,
    entry: &[u8],
    index: u64,
    proof: &[Hash],
) -> Result<(), TlogError> {
    verify_inclusion(
        &hash_leaf(entry),
        index,
        checkpoint.size(),
        proof,
        checkpoint.root(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::NoteSigner;
    use crate::prove_inclusion;

    const ORIGIN: &str = "kura.test/audit";

    fn entries(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("event {i}").into_bytes()).collect()
    }

    /// Builds a log, signing a checkpoint at each size in `at`.
    fn log(n: u64, at: &[u64]) -> (NoteSigner, Vec<Vec<u8>>, Vec<String>, Vec<Hash>) {
        let signer = NoteSigner::from_seed(ORIGIN, &[3u8; 32]).unwrap();
        let es = entries(n);
        let mut f = Frontier::new();
        let mut store = Vec::new();
        let mut cps = Vec::new();
        if at.contains(&0) {
            cps.push(
                Checkpoint::new(ORIGIN, 0, f.root())
                    .unwrap()
                    .sign(&signer)
                    .unwrap(),
            );
        }
        for e in &es {
            f.append(hash_leaf(e), &mut store).unwrap();
            if at.contains(&f.size()) {
                let c = Checkpoint::new(ORIGIN, f.size(), f.root()).unwrap();
                cps.push(c.sign(&signer).unwrap());
            }
        }
        (signer, es, cps, store)
    }

    #[test]
    fn honest_log_verifies() {
        let (s, es, cps, _) = log(100, &[0, 1, 10, 64, 99]);
        let sum = verify_log(&s.verifier(), &cps, &es).unwrap();
        assert_eq!(sum.entries, 100);
        assert_eq!(sum.checkpoints, 5);
        assert_eq!(sum.latest_checkpoint_size, 99);
        assert_eq!(sum.unsigned_tail, 1);
        // Order of checkpoints does not matter.
        let rev: Vec<_> = cps.iter().rev().cloned().collect();
        verify_log(&s.verifier(), &rev, &es).unwrap();
    }

    fn mismatch(r: Result<LogSummary, TlogError>) -> (usize, u64, u64) {
        match r {
            Err(TlogError::CheckpointMismatch {
                checkpoint,
                size,
                first_suspect,
            }) => (checkpoint, size, first_suspect),
            other => panic!("expected mismatch, got {other:?}"),
        }
    }

    #[test]
    fn tampering_is_caught_and_located() {
        let (s, es, cps, _) = log(50, &[10, 20, 30, 40, 50]);
        let v = s.verifier();
        // Change a byte in entry 25.
        let mut t = es.clone();
        t[25][0] ^= 1;
        assert_eq!(mismatch(verify_log(&v, &cps, &t)), (2, 30, 20));
        // Delete entry 12.
        let mut t = es.clone();
        t.remove(12);
        assert_eq!(mismatch(verify_log(&v, &cps, &t)), (1, 20, 10));
        // Swap entries 31 and 32.
        let mut t = es.clone();
        t.swap(31, 32);
        assert_eq!(mismatch(verify_log(&v, &cps, &t)), (3, 40, 30));
        // Insert before entry 5.
        let mut t = es.clone();
        t.insert(5, b"forged".to_vec());
        assert_eq!(mismatch(verify_log(&v, &cps, &t)), (0, 10, 0));
        // Truncate to 45.
        let t = &es[..45];
        assert!(matches!(
            verify_log(&v, &cps, t),
            Err(TlogError::LogTruncated {
                checkpoint: 4,
                size: 50,
                log_size: 45
            })
        ));
    }

    #[test]
    fn with_store_tampering_is_located_exactly() {
        let (s, es, cps, store) = log(50, &[10, 20, 30, 40, 50]);
        let v = s.verifier();
        let sum = verify_log_with_store(&v, &cps, &es, &store).unwrap();
        assert_eq!(sum.entries, 50);
        let at = |r: Result<LogSummary, TlogError>| match r {
            Err(TlogError::EntryMismatch { index }) => index,
            other => panic!("expected entry mismatch, got {other:?}"),
        };
        let mut t = es.clone();
        t[25][3] ^= 0x10;
        assert_eq!(at(verify_log_with_store(&v, &cps, &t, &store)), 25);
        let mut t = es.clone();
        t.remove(12);
        assert_eq!(at(verify_log_with_store(&v, &cps, &t, &store)), 12);
        let mut t = es.clone();
        t.swap(31, 32);
        assert_eq!(at(verify_log_with_store(&v, &cps, &t, &store)), 31);
        let mut t = es.clone();
        t.insert(5, b"forged".to_vec());
        assert_eq!(at(verify_log_with_store(&v, &cps, &t, &store)), 5);
        assert!(matches!(
            verify_log_with_store(&v, &cps, &es[..45], &store),
            Err(TlogError::LogTruncated { checkpoint: 4, .. })
        ));
        // An entry past the stored table.
        let mut t = es.clone();
        t.push(b"late".to_vec());
        assert!(matches!(
            verify_log_with_store(&v, &cps, &t, &store),
            Err(TlogError::MissingHash { .. })
        ));
        // A damaged interior hash: entries still match, the store does not.
        let mut bad = store.clone();
        let idx = crate::stored_hash_index(2, 5) as usize;
        bad[idx].0[0] ^= 1;
        let r = verify_log_with_store(&v, &cps, &es, &bad);
        assert!(
            matches!(
                r,
                Err(TlogError::StoredTreeMismatch { .. } | TlogError::StoredConsistency { .. })
            ),
            "{r:?}"
        );
    }

    #[test]
    fn bad_checkpoints_are_named() {
        let (s, es, mut cps, _) = log(20, &[5, 10, 15]);
        let v = s.verifier();
        cps[1] = cps[1].replacen("\n10\n", "\n11\n", 1);
        match verify_log(&v, &cps, &es) {
            Err(TlogError::CheckpointInvalid {
                checkpoint: 1,
                source,
            }) => {
                assert!(matches!(*source, TlogError::InvalidSignature { .. }));
            }
            other => panic!("{other:?}"),
        }
        // A validly signed checkpoint for another origin.
        let other = Checkpoint::new("elsewhere", 1, empty_root()).unwrap();
        let forged = other.sign(&s).unwrap();
        assert!(matches!(
            verify_log(&v, &[forged], &es),
            Err(TlogError::CheckpointOrigin { checkpoint: 0 })
        ));
        // A checkpoint signed by the right key over a fork.
        let fork = Checkpoint::new(ORIGIN, 5, hash_leaf(b"fork")).unwrap();
        let fork = fork.sign(&s).unwrap();
        let (_, _, good, _) = log(20, &[5]);
        assert_eq!(mismatch(verify_log(&v, &[good[0].clone(), fork], &es)).0, 1);
    }

    #[test]
    fn online_checks_against_saved_checkpoints() {
        let (_s, es, cps, store) = log(40, &[0, 7, 40]);
        let opened: Vec<Checkpoint> = cps
            .iter()
            .map(|c| Checkpoint::open(c.as_bytes(), &_s.verifier()).unwrap())
            .collect();
        let p = prove_consistency(7, 40, &store).unwrap();
        verify_checkpoint_consistency(&opened[1], &opened[2], &p).unwrap();
        verify_checkpoint_consistency(&opened[0], &opened[2], &[]).unwrap();
        assert!(verify_checkpoint_consistency(&opened[2], &opened[1], &p).is_err());
        let p = prove_inclusion(33, 40, &store).unwrap();
        verify_checkpoint_inclusion(&opened[2], &es[33], 33, &p).unwrap();
        assert!(verify_checkpoint_inclusion(&opened[2], &es[32], 33, &p).is_err());
        // The store answers leaf hashes for precise location.
        let leaf = store
            .read_hashes(&[crate::stored_hash_index(0, 33)])
            .unwrap();
        assert_eq!(leaf[0], hash_leaf(&es[33]));
    }
}
