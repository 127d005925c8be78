//! RFC 6962 hashing (RFC 9162 §2.1.1): the [`Hash`] type, leaf and interior
//! node hashes, and the empty-tree root.
//!
//! Leaves and interior nodes are domain-separated by a one-byte prefix so that
//! a leaf can never be passed off as a node (second-preimage protection):
//!
//! ```text
//! leaf hash = SHA-256(0x00 || leaf bytes)
//! node hash = SHA-256(0x01 || left || right)
//! MTH({})   = SHA-256()
//! ```
//!
//! SHA-256 comes from the `sha2` crate; nothing here implements a hash.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::TlogError;

/// Size in bytes of every hash in the tree.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node or a tree root.
///
/// `Display` and serde use standard base64 (the form used by checkpoints and
/// the HTTP proof routes); `Debug` uses lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl Hash {
    /// Wraps 32 raw bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Copies a hash out of a slice.
    ///
    /// # Errors
    /// [`TlogError::HashLength`] unless the slice is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, TlogError> {
        <[u8; HASH_SIZE]>::try_from(bytes)
            .map(Self)
            .map_err(|_| TlogError::HashLength(bytes.len()))
    }

    /// Decodes canonical standard base64 (RFC 4648 §4, padded).
    ///
    /// # Errors
    /// [`TlogError::HashEncoding`] for bad or non-canonical base64,
    /// [`TlogError::HashLength`] if it does not decode to 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, TlogError> {
        let bytes = STANDARD.decode(text).map_err(|_| TlogError::HashEncoding)?;
        Self::from_slice(&bytes)
    }

    /// Encodes as standard padded base64.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Encodes as lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut out = String::with_capacity(2 * HASH_SIZE);
        for b in self.0 {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// The RFC 6962 leaf hash: `SHA-256(0x00 || data)`.
#[must_use]
pub fn hash_leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// The RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn hash_children(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 1 + 2 * HASH_SIZE];
    buf[0] = 0x01;
    buf[1..=HASH_SIZE].copy_from_slice(&left.0);
    buf[1 + HASH_SIZE..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

/// The root of the empty tree: `SHA-256()` of no input.
#[must_use]
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hx(s: &str) -> Hash {
        Hash::from_slice(&hex::decode(s).unwrap()).unwrap()
    }

    // Values from transparency-dev/merkle rfc6962/rfc6962_test.go (see testdata/SOURCE.md).
    #[test]
    fn rfc6962_hasher_vectors() {
        assert_eq!(
            empty_root(),
            hx("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            hash_leaf(b""),
            hx("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            hash_leaf(b"L123456"),
            hx("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        );
        // HashChildren("N123", "N456") uses 4-byte children; check via sha2 directly
        // that our framing is 0x01 || left || right.
        let mut h = Sha256::new();
        h.update([0x01]);
        h.update(b"N123N456");
        let want: [u8; 32] = h.finalize().into();
        assert_eq!(
            Hash(want),
            hx("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
        );
    }

    #[test]
    fn base64_round_trip_and_strictness() {
        let h = hash_leaf(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()).unwrap(), h);
        assert!(matches!(
            Hash::from_base64("AAAA"),
            Err(TlogError::HashLength(3))
        ));
        assert!(matches!(
            Hash::from_base64("not base64!"),
            Err(TlogError::HashEncoding)
        ));
        // Unpadded is not canonical.
        let unpadded = h.to_base64().trim_end_matches('=').to_owned();
        assert!(Hash::from_base64(&unpadded).is_err());
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
    }
}
