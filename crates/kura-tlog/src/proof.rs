//! Merkle tree heads, inclusion proofs and consistency proofs over an
//! in-memory list of leaf hashes, and verification of both proof kinds.
//!
//! * Tree head `MTH` — RFC 9162 §2.1.1.
//! * Inclusion proofs `PATH(m, D[n])` — generation §2.1.3.1, verification
//!   §2.1.3.2.
//! * Consistency proofs `PROOF(m, D[n])` — generation §2.1.4.1, verification
//!   §2.1.4.2.
//!
//! The generators here take the whole leaf-hash list and are meant for small
//! trees and as the reference the stored layout ([`crate::stored`]) is tested
//! against. The verifiers are what clients and `kura audit verify` use.
//!
//! Edge cases follow RFC 9162 and transparency-dev/merkle: a consistency proof
//! between equal sizes is empty (and the roots must be equal); a consistency
//! proof from size 0 is rejected as meaningless.

use crate::hash::{Hash, hash_children};
use crate::{TlogError, empty_root};

/// Largest tree size this crate accepts (2^62 leaves), so that stored-hash
/// indexes (about twice the size) fit in a `u64`.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// The largest power of two strictly below `n` (`n >= 2`).
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (n - 1).ilog2()
}

pub(crate) fn check_size(size: u64) -> Result<(), TlogError> {
    if size > MAX_TREE_SIZE {
        return Err(TlogError::TreeTooLarge { size });
    }
    Ok(())
}

/// The leaf ranges `[lo, hi)` whose subtree hashes form the inclusion proof
/// for `index` in a tree of `size` leaves, in proof order (RFC 9162 §2.1.3.1).
pub(crate) fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<(u64, u64)>, TlogError> {
    check_size(size)?;
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::with_capacity(64);
    path_ranges(index, 0, size, &mut out);
    Ok(out)
}

fn path_ranges(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    if hi - lo <= 1 {
        return;
    }
    let k = split_point(hi - lo);
    if m < lo + k {
        path_ranges(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        path_ranges(m, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// The leaf ranges whose subtree hashes form the consistency proof from
/// `old_size` to `new_size`, in proof order (RFC 9162 §2.1.4.1).
pub(crate) fn consistency_ranges(
    old_size: u64,
    new_size: u64,
) -> Result<Vec<(u64, u64)>, TlogError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(TlogError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 {
        return Err(TlogError::EmptyTreeConsistency);
    }
    let mut out = Vec::with_capacity(64);
    subproof_ranges(old_size, 0, new_size, true, &mut out);
    Ok(out)
}

fn subproof_ranges(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    if m == hi {
        if !whole {
            out.push((lo, hi));
        }
        return;
    }
    let k = split_point(hi - lo);
    if m <= lo + k {
        subproof_ranges(m, lo, lo + k, whole, out);
        out.push((lo + k, hi));
    } else {
        subproof_ranges(m, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// `MTH(D[n])` of a list of leaf hashes (RFC 9162 §2.1.1).
#[must_use]
pub fn root_of(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => empty_root(),
        1 => leaf_hashes[0],
        n => {
            let k = usize::try_from(split_point(n as u64)).unwrap_or(n / 2);
            hash_children(&root_of(&leaf_hashes[..k]), &root_of(&leaf_hashes[k..]))
        }
    }
}

fn range_root(leaf_hashes: &[Hash], (lo, hi): (u64, u64)) -> Hash {
    // Ranges come from the planners above and lie within the slice.
    #[allow(clippy::cast_possible_truncation)]
    root_of(&leaf_hashes[lo as usize..hi as usize])
}

/// The inclusion proof `PATH(index, D[n])` over a list of leaf hashes.
///
/// # Errors
/// [`TlogError::IndexOutOfRange`] if `index >= leaf_hashes.len()`.
pub fn inclusion_proof_of(leaf_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, TlogError> {
    let ranges = inclusion_ranges(index, leaf_hashes.len() as u64)?;
    Ok(ranges
        .into_iter()
        .map(|r| range_root(leaf_hashes, r))
        .collect())
}

/// The consistency proof `PROOF(old_size, D[n])` over a list of leaf hashes.
///
/// # Errors
/// [`TlogError::SizeOrder`] if `old_size` exceeds the list,
/// [`TlogError::EmptyTreeConsistency`] if `old_size` is 0.
pub fn consistency_proof_of(leaf_hashes: &[Hash], old_size: u64) -> Result<Vec<Hash>, TlogError> {
    let ranges = consistency_ranges(old_size, leaf_hashes.len() as u64)?;
    Ok(ranges
        .into_iter()
        .map(|r| range_root(leaf_hashes, r))
        .collect())
}

/// Number of hashes in an inclusion proof for `index` in a tree of `size`.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Recomputes the root from an inclusion proof (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`TlogError::IndexOutOfRange`] if `index >= size`,
/// [`TlogError::ProofLength`] if the proof has the wrong number of hashes.
pub fn root_from_inclusion_proof(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, TlogError> {
    check_size(size)?;
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let want = inclusion_proof_len(index, size);
    if proof.len() != want {
        return Err(TlogError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return Err(TlogError::ProofMismatch);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = hash_children(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = hash_children(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(TlogError::ProofMismatch);
    }
    Ok(r)
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` with `root`
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`TlogError::ProofMismatch`] if it is not; see also
/// [`root_from_inclusion_proof`].
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TlogError> {
    if root_from_inclusion_proof(leaf_hash, index, size, proof)? == *root {
        Ok(())
    } else {
        Err(TlogError::ProofMismatch)
    }
}

/// Verifies that the tree of `new_size` with `new_root` extends the tree of
/// `old_size` with `old_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots. `old_size == 0` is
/// rejected, as in RFC 9162 (any tree extends the empty tree; there is
/// nothing to prove).
///
/// # Errors
/// [`TlogError::SizeOrder`], [`TlogError::EmptyTreeConsistency`],
/// [`TlogError::ProofLength`] (a proof must be empty exactly when the sizes
/// are equal), or [`TlogError::ProofMismatch`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), TlogError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(TlogError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 {
        return Err(TlogError::EmptyTreeConsistency);
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(TlogError::ProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(TlogError::ProofMismatch)
        };
    }
    if proof.is_empty() {
        return Err(TlogError::ProofLength { got: 0, want: 1 });
    }
    // Step 2: if old_size is a power of two, the old root is itself the
    // first node of the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = path[0];
    let mut s_r = path[0];
    for c in &path[1..] {
        if s_n == 0 {
            return Err(TlogError::ProofMismatch);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = hash_children(c, &f_r);
            s_r = hash_children(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = hash_children(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n == 0 && f_r == *old_root && s_r == *new_root {
        Ok(())
    } else {
        Err(TlogError::ProofMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash_leaf;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| hash_leaf(&i.to_be_bytes())).collect()
    }

    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
    }

    #[test]
    fn all_inclusion_proofs_verify_up_to_33() {
        for n in 1..=33u64 {
            let l = leaves(n);
            let root = root_of(&l);
            for i in 0..n {
                let p = inclusion_proof_of(&l, i).unwrap();
                assert_eq!(p.len(), inclusion_proof_len(i, n));
                verify_inclusion(&l[i as usize], i, n, &p, &root).unwrap();
                // Wrong index or leaf fails.
                let other = (i + 1) % n;
                if other != i {
                    assert!(verify_inclusion(&l[i as usize], other, n, &p, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn all_consistency_proofs_verify_up_to_33() {
        for n in 1..=33u64 {
            let l = leaves(n);
            let new_root = root_of(&l);
            for m in 1..=n {
                let old_root = root_of(&l[..m as usize]);
                let p = consistency_proof_of(&l, m).unwrap();
                verify_consistency(m, n, &p, &old_root, &new_root).unwrap();
                if m < n {
                    assert!(verify_consistency(m, n, &p, &new_root, &new_root).is_err());
                    let mut bad = p.clone();
                    bad[0].0[0] ^= 1;
                    assert!(verify_consistency(m, n, &bad, &old_root, &new_root).is_err());
                }
            }
        }
    }

    #[test]
    fn checked_errors() {
        let l = leaves(4);
        assert!(matches!(
            inclusion_proof_of(&l, 4),
            Err(TlogError::IndexOutOfRange { index: 4, size: 4 })
        ));
        assert!(matches!(
            consistency_proof_of(&l, 5),
            Err(TlogError::SizeOrder { old: 5, new: 4 })
        ));
        assert!(matches!(
            consistency_proof_of(&l, 0),
            Err(TlogError::EmptyTreeConsistency)
        ));
        let r = root_of(&l);
        assert!(matches!(
            verify_inclusion(&l[0], 0, 4, &[], &r),
            Err(TlogError::ProofLength { got: 0, want: 2 })
        ));
        assert!(matches!(
            verify_consistency(1, 1 << 63, &[], &r, &r),
            Err(TlogError::TreeTooLarge { .. })
        ));
    }
}
