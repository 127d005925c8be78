//! A storage-friendly layout of the whole tree: every complete subtree hash
//! is kept once, in a flat sequence of "stored hashes", so that a database
//! can answer tree heads and proofs at any past size by reading `O(log n)`
//! hashes and hashing nothing but the path.
//!
//! The layout follows the design of Go's `golang.org/x/mod/sumdb/tlog`
//! (`StoredHashIndex`, `StoredHashes`, `TreeHash`, `ProveRecord`,
//! `ProveTree`); the code here is written from the definitions, not ported.
//!
//! # Layout
//!
//! Appending leaf `n` stores its leaf hash, then the hash of every complete
//! subtree that leaf `n` completes (one per trailing 1-bit of `n`), lowest
//! level first. So the hashes for leaves `0..n` occupy stored indexes
//! `0..stored_hash_count(n)`, with `stored_hash_count(n) = n + n/2 + n/4 + …`
//! (under `2n`). A level-`L` hash number `k` (covering leaves
//! `k·2^L .. (k+1)·2^L`) sits at [`stored_hash_index`]`(L, k)`.
//!
//! Stored hashes never change once written, which suits append-only tables
//! and caching. Storage is reached only through [`HashReader`].
//!
//! Left out: the tile layout of c2sp.org/tlog-tiles (a grouping of these same
//! hashes) and any IO.

use crate::hash::{Hash, hash_children};
use crate::proof::{check_size, consistency_ranges, inclusion_ranges};
use crate::{Frontier, TlogError};

/// Read access to stored hashes, the one seam between the tree math and a
/// database.
///
/// Implementations return the hashes at exactly the given stored indexes, in
/// the given order. Callers batch every read a proof needs into one call.
pub trait HashReader {
    /// Reads the stored hashes at `indexes`.
    ///
    /// # Errors
    /// Storage failures, wrapped with [`TlogError::storage`], or
    /// [`TlogError::MissingHash`] for an index that was never written.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        (**self).read_hashes(indexes)
    }
}

/// An in-memory stored-hash table (tests, benchmarks, small tools).
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|j| self.get(j).copied())
                    .ok_or(TlogError::MissingHash { index: i })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        self.as_slice().read_hashes(indexes)
    }
}

/// Number of stored hashes written for leaves `0..n`: `n + n/2 + n/4 + …`.
#[must_use]
pub fn stored_hash_count(mut n: u64) -> u64 {
    let mut total = 0u64;
    while n > 0 {
        total += n;
        n >>= 1;
    }
    total
}

/// Stored index of the level-`level` hash number `k` (the subtree over leaves
/// `k·2^level .. (k+1)·2^level`). Level 0 holds leaf hashes.
///
/// # Panics
/// Never for trees within [`crate::MAX_TREE_SIZE`]; callers outside the crate
/// must keep `(k + 1) << level` within that bound.
#[must_use]
pub fn stored_hash_index(level: u32, k: u64) -> u64 {
    // The subtree is completed by its last leaf, m; the hashes stored for m
    // start after those of leaves 0..m, lowest level first.
    let last_leaf = ((k + 1) << level) - 1;
    stored_hash_count(last_leaf) + u64::from(level)
}

/// Appends the stored indexes of the perfect subtrees that make up leaves
/// `lo..hi`, largest (leftmost) first. `lo` must be aligned to a power of two
/// at least `hi - lo`, which holds for every range the proof planners emit.
fn push_range_indexes(mut lo: u64, hi: u64, out: &mut Vec<u64>) {
    while lo < hi {
        let level = (hi - lo).ilog2();
        out.push(stored_hash_index(level, lo >> level));
        lo += 1 << level;
    }
}

/// Number of perfect subtrees covering `lo..hi` (one per set bit).
fn range_parts(lo: u64, hi: u64) -> usize {
    (hi - lo).count_ones() as usize
}

/// Folds perfect-subtree hashes (leftmost first) into the range's root.
fn fold_parts(parts: &[Hash]) -> Hash {
    let mut iter = parts.iter().rev();
    let Some(last) = iter.next() else {
        return crate::empty_root();
    };
    iter.fold(*last, |acc, left| hash_children(left, &acc))
}

fn read_exact<R: HashReader + ?Sized>(reader: &R, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
    let hashes = reader.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(TlogError::ReaderCount {
            got: hashes.len(),
            want: indexes.len(),
        });
    }
    Ok(hashes)
}

/// Resolves planned leaf ranges into their subtree hashes with one read.
fn resolve_ranges<R: HashReader + ?Sized>(
    ranges: &[(u64, u64)],
    reader: &R,
) -> Result<Vec<Hash>, TlogError> {
    let mut indexes = Vec::with_capacity(ranges.len() * 2);
    for &(lo, hi) in ranges {
        push_range_indexes(lo, hi, &mut indexes);
    }
    let hashes = read_exact(reader, &indexes)?;
    let mut out = Vec::with_capacity(ranges.len());
    let mut at = 0;
    for &(lo, hi) in ranges {
        let n = range_parts(lo, hi);
        out.push(fold_parts(&hashes[at..at + n]));
        at += n;
    }
    Ok(out)
}

/// The stored indexes whose hashes are needed to rebuild the frontier (and
/// so the root) of a tree of `size` leaves: one per set bit of `size`.
///
/// # Errors
/// [`TlogError::TreeTooLarge`].
pub fn frontier_indexes(size: u64) -> Result<Vec<u64>, TlogError> {
    check_size(size)?;
    let mut out = Vec::with_capacity(64);
    push_range_indexes(0, size, &mut out);
    Ok(out)
}

/// The root hash `MTH` of the first `size` leaves, from stored hashes.
///
/// # Errors
/// [`TlogError::TreeTooLarge`] or the reader's errors.
pub fn tree_hash<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, TlogError> {
    let indexes = frontier_indexes(size)?;
    Ok(fold_parts(&read_exact(reader, &indexes)?))
}

/// The inclusion proof for leaf `index` in the tree of `size` leaves, from
/// stored hashes (RFC 9162 §2.1.3.1). Reads at most `2·log2(size)` hashes in
/// one call.
///
/// # Errors
/// [`TlogError::IndexOutOfRange`], [`TlogError::TreeTooLarge`] or the
/// reader's errors.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, TlogError> {
    resolve_ranges(&inclusion_ranges(index, size)?, reader)
}

/// The consistency proof from the tree of `old_size` leaves to the tree of
/// `new_size` leaves, from stored hashes (RFC 9162 §2.1.4.1). Equal sizes
/// give an empty proof.
///
/// # Errors
/// [`TlogError::SizeOrder`], [`TlogError::EmptyTreeConsistency`],
/// [`TlogError::TreeTooLarge`] or the reader's errors.
pub fn prove_consistency<R: HashReader + ?Sized>(
    old_size: u64,
    new_size: u64,
    reader: &R,
) -> Result<Vec<Hash>, TlogError> {
    resolve_ranges(&consistency_ranges(old_size, new_size)?, reader)
}

/// The hashes to store when appending leaf number `n` (with `leaf_hash`) to a
/// tree of `n` leaves, in stored order starting at
/// `stored_hash_index(0, n)`. Reads the left siblings it needs from `reader`.
///
/// An integrator that keeps a [`Frontier`] in memory gets the same hashes from
/// [`Frontier::append`] without reading.
///
/// # Errors
/// [`TlogError::TreeTooLarge`] or the reader's errors.
pub fn stored_hashes_for_leaf<R: HashReader + ?Sized>(
    n: u64,
    leaf_hash: Hash,
    reader: &R,
) -> Result<Vec<Hash>, TlogError> {
    check_size(n + 1)?;
    let levels = n.trailing_ones();
    let indexes: Vec<u64> = (0..levels)
        .map(|l| stored_hash_index(l, (n >> l) - 1))
        .collect();
    let siblings = read_exact(reader, &indexes)?;
    let mut out = Vec::with_capacity(1 + siblings.len());
    let mut h = leaf_hash;
    out.push(h);
    for left in &siblings {
        h = hash_children(left, &h);
        out.push(h);
    }
    Ok(out)
}

/// Rebuilds the in-memory [`Frontier`] of a stored tree of `size` leaves, so
/// an integrator can resume appending after a restart.
///
/// # Errors
/// [`TlogError::TreeTooLarge`] or the reader's errors.
pub fn frontier_from_reader<R: HashReader + ?Sized>(
    size: u64,
    reader: &R,
) -> Result<Frontier, TlogError> {
    let indexes = frontier_indexes(size)?;
    let hashes = read_exact(reader, &indexes)?;
    Frontier::from_parts(size, hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{consistency_proof_of, hash_leaf, inclusion_proof_of, root_of};

    fn build(n: u64) -> (Vec<Hash>, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| hash_leaf(&i.to_le_bytes())).collect();
        let mut store = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            let new = stored_hashes_for_leaf(i as u64, *l, &store).unwrap();
            assert_eq!(store.len() as u64, stored_hash_index(0, i as u64));
            store.extend(new);
        }
        assert_eq!(store.len() as u64, stored_hash_count(n));
        (leaves, store)
    }

    #[test]
    fn index_layout_small() {
        // leaf0, leaf1, node(0..2), leaf2, leaf3, node(2..4), node(0..4), leaf4
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
        assert_eq!(stored_hash_index(0, 3), 4);
        assert_eq!(stored_hash_index(1, 1), 5);
        assert_eq!(stored_hash_index(2, 0), 6);
        assert_eq!(stored_hash_index(0, 4), 7);
        assert_eq!(stored_hash_count(4), 7);
    }

    #[test]
    fn stored_matches_reference_up_to_70() {
        let (leaves, store) = build(70);
        for n in 1..=70u64 {
            let l = &leaves[..n as usize];
            assert_eq!(tree_hash(n, &store).unwrap(), root_of(l));
            for i in 0..n {
                assert_eq!(
                    prove_inclusion(i, n, &store).unwrap(),
                    inclusion_proof_of(l, i).unwrap()
                );
            }
            for m in 1..=n {
                assert_eq!(
                    prove_consistency(m, n, &store).unwrap(),
                    consistency_proof_of(l, m).unwrap()
                );
            }
        }
        assert_eq!(tree_hash(0, &store).unwrap(), crate::empty_root());
    }

    #[test]
    fn frontier_and_reader_appends_store_the_same_hashes() {
        let (leaves, store) = build(300);
        let mut f = Frontier::new();
        let mut via_frontier = Vec::new();
        for l in &leaves {
            f.append(*l, &mut via_frontier).unwrap();
        }
        assert_eq!(via_frontier, store);
    }

    #[test]
    fn stored_matches_reference_around_powers_of_two() {
        let (leaves, store) = build(1100);
        for n in [511u64, 512, 513, 1000, 1023, 1024, 1025, 1100] {
            let l = &leaves[..n as usize];
            assert_eq!(tree_hash(n, &store).unwrap(), root_of(l));
            for i in [0, 1, n / 3, n / 2, n - 2, n - 1] {
                assert_eq!(
                    prove_inclusion(i, n, &store).unwrap(),
                    inclusion_proof_of(l, i).unwrap()
                );
                if i > 0 {
                    assert_eq!(
                        prove_consistency(i, n, &store).unwrap(),
                        consistency_proof_of(l, i).unwrap()
                    );
                }
            }
        }
    }

    #[test]
    fn frontier_resumes_from_store() {
        let (leaves, store) = build(45);
        for n in 0..=45u64 {
            let f = frontier_from_reader(n, &store).unwrap();
            assert_eq!(f.size(), n);
            assert_eq!(f.root(), root_of(&leaves[..n as usize]));
        }
    }

    #[test]
    fn reader_errors_surface() {
        let (_, store) = build(8);
        assert!(matches!(
            prove_inclusion(3, 9, &store),
            Err(TlogError::MissingHash { .. })
        ));
        struct Short;
        impl HashReader for Short {
            fn read_hashes(&self, _: &[u64]) -> Result<Vec<Hash>, TlogError> {
                Ok(Vec::new())
            }
        }
        assert!(matches!(
            tree_hash(3, &Short),
            Err(TlogError::ReaderCount { got: 0, want: 2 })
        ));
    }
}
