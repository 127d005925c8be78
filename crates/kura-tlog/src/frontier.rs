//! [`Frontier`]: an incremental, in-memory appender (a "compact range" over
//! `0..n`) for the integrator that extends the tree in batches.
//!
//! The frontier keeps one hash per set bit of the tree size: the roots of the
//! perfect subtrees along the right edge, at most 62 hashes. Appending a leaf
//! merges equal-sized subtrees exactly as a binary counter carries, and
//! yields the new stored hashes of the layout in [`crate::stored`]; the root
//! (RFC 9162 §2.1.1 `MTH`) is the right-to-left fold of the frontier.
//!
//! The same structure drives constant-memory verification of a whole log in
//! [`crate::verify`].

use crate::hash::{Hash, hash_children, hash_leaf};
use crate::proof::{MAX_TREE_SIZE, check_size};
use crate::{TlogError, empty_root, stored_hash_count};

/// The right edge of a tree of `size` leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Perfect-subtree roots, largest (leftmost) first.
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier from its parts: `hashes` are the perfect-subtree roots of a
    /// tree of `size` leaves, leftmost first (what
    /// [`crate::frontier_indexes`] names in storage).
    ///
    /// # Errors
    /// [`TlogError::TreeTooLarge`], or [`TlogError::ProofLength`] if the count
    /// is not the number of set bits in `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, TlogError> {
        check_size(size)?;
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(TlogError::ProofLength {
                got: hashes.len(),
                want,
            });
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves appended so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, leftmost first.
    #[must_use]
    pub fn parts(&self) -> &[Hash] {
        &self.hashes
    }

    /// Stored index of the next hash [`Frontier::append`] yields.
    #[must_use]
    pub fn next_stored_index(&self) -> u64 {
        stored_hash_count(self.size)
    }

    /// Appends a leaf hash and pushes onto `stored` the hashes the stored
    /// layout gains (the leaf hash, then each completed subtree), which belong
    /// at stored indexes starting at [`Frontier::next_stored_index`] as it was
    /// before the call.
    ///
    /// # Errors
    /// [`TlogError::TreeTooLarge`] at [`MAX_TREE_SIZE`] leaves.
    pub fn append(&mut self, leaf_hash: Hash, stored: &mut Vec<Hash>) -> Result<(), TlogError> {
        if self.size >= MAX_TREE_SIZE {
            return Err(TlogError::TreeTooLarge {
                size: self.size + 1,
            });
        }
        stored.push(leaf_hash);
        let mut h = leaf_hash;
        let mut carry = self.size;
        while carry & 1 == 1 {
            // The frontier holds one hash per set bit, so a set low bit
            // guarantees a left sibling.
            let Some(left) = self.hashes.pop() else {
                break;
            };
            h = hash_children(&left, &h);
            stored.push(h);
            carry >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
        Ok(())
    }

    /// Appends a leaf hash without collecting stored hashes (verification).
    ///
    /// # Errors
    /// [`TlogError::TreeTooLarge`] at [`MAX_TREE_SIZE`] leaves.
    pub fn push(&mut self, leaf_hash: Hash) -> Result<(), TlogError> {
        if self.size >= MAX_TREE_SIZE {
            return Err(TlogError::TreeTooLarge {
                size: self.size + 1,
            });
        }
        let mut h = leaf_hash;
        let mut carry = self.size;
        while carry & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            h = hash_children(&left, &h);
            carry >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
        Ok(())
    }

    /// Hashes each entry as a leaf, appends it, and returns the stored hashes
    /// gained by the whole batch (for one group commit), which start at the
    /// stored index [`Frontier::next_stored_index`] had before the call.
    ///
    /// # Errors
    /// [`TlogError::TreeTooLarge`]; on error nothing is appended.
    pub fn append_entries<I, L>(&mut self, entries: I) -> Result<Vec<Hash>, TlogError>
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut next = self.clone();
        let mut stored = Vec::new();
        for e in entries {
            next.append(hash_leaf(e.as_ref()), &mut stored)?;
        }
        *self = next;
        Ok(stored)
    }

    /// The tree head `MTH` of the leaves appended so far.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| hash_children(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root_of;

    #[test]
    fn frontier_matches_reference_root() {
        let mut f = Frontier::new();
        let mut leaves = Vec::new();
        assert_eq!(f.root(), empty_root());
        let mut stored = Vec::new();
        for i in 0..100u64 {
            let h = hash_leaf(&i.to_be_bytes());
            leaves.push(h);
            assert_eq!(f.next_stored_index(), stored.len() as u64);
            f.append(h, &mut stored).unwrap();
            assert_eq!(f.root(), root_of(&leaves));
            assert_eq!(f.parts().len(), f.size().count_ones() as usize);
        }
    }

    #[test]
    fn batches_equal_single_appends() {
        let entries: Vec<Vec<u8>> = (0..37u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let mut a = Frontier::new();
        let mut all = Vec::new();
        for chunk in entries.chunks(5) {
            all.extend(a.append_entries(chunk).unwrap());
        }
        let mut b = Frontier::new();
        let single = b.append_entries(&entries).unwrap();
        assert_eq!(a, b);
        assert_eq!(all, single);
        let mut c = Frontier::new();
        for e in &entries {
            c.push(hash_leaf(e)).unwrap();
        }
        assert_eq!(c.root(), b.root());
    }

    #[test]
    fn from_parts_checks_count() {
        assert!(Frontier::from_parts(3, vec![empty_root()]).is_err());
        assert!(Frontier::from_parts(MAX_TREE_SIZE + 1, vec![]).is_err());
    }
}
