//! Secret holders: [`Password`] and [`Pepper`].
//!
//! Both zeroize their bytes on drop, have a redacting `Debug` and no
//! `Display`, `Clone` or `Serialize`, so a secret cannot reach a log or a
//! response by accident. What this module leaves out: copies the caller made
//! before handing the secret over (for example a JSON body buffer) are the
//! caller's to wipe.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A password as typed by a person.
///
/// Invariant: the bytes are wiped when the value is dropped. All comparison
/// and hashing go through [`Password::normalized`], the NFKC form, so that
/// visually identical input typed on different keyboards matches.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl Password {
    /// Takes ownership of a password string; it is wiped on drop.
    #[must_use]
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    /// The raw (un-normalized) input.
    #[must_use]
    pub fn expose_raw(&self) -> &str {
        &self.0
    }

    /// Number of code points in the raw input (before normalization).
    pub(crate) fn raw_chars(&self) -> usize {
        self.0.chars().count()
    }

    /// The NFKC-normalized form, wiped when dropped.
    ///
    /// The buffer is reserved up front (NFKC rarely grows text by more than a
    /// few code points per input code point) so that the string is seldom
    /// reallocated, which would leave an un-wiped copy in freed memory.
    #[must_use]
    pub fn normalized(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.0.len() * 3 + 16));
        out.extend(self.0.nfkc());
        out
    }
}

impl From<String> for Password {
    fn from(raw: String) -> Self {
        Self::new(raw)
    }
}

impl From<&str> for Password {
    fn from(raw: &str) -> Self {
        Self::new(raw.to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The password pepper: a 256-bit key held by the key provider, never stored
/// next to the hashes.
///
/// It is fed to Argon2id as the *secret* input K (RFC 9106 §3.1), so a PHC
/// string taken from a database dump cannot be verified, and therefore cannot
/// be attacked offline, without this key. `version` is written into the PHC
/// string's `keyid` field so that peppers can rotate: a hash made under an
/// older pepper still verifies (if the hasher holds it) and is then rehashed.
///
/// Invariant: the key bytes are wiped on drop; `Debug` shows the version only.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Pepper {
    #[zeroize(skip)]
    version: u32,
    key: [u8; 32],
}

impl Pepper {
    /// Wraps a 32-byte key delivered by the key provider, with its version.
    #[must_use]
    pub fn new(version: u32, key: [u8; 32]) -> Self {
        Self { version, key }
    }

    /// The version recorded in PHC strings (`keyid`, 4 bytes big-endian).
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pepper")
            .field("version", &self.version)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let p = Password::from("hunter2-secret");
        assert!(!format!("{p:?}").contains("hunter2"));
        let k = Pepper::new(7, [0xAB; 32]);
        let d = format!("{k:?}");
        assert!(d.contains('7') && !d.to_lowercase().contains("ab, "), "{d}");
    }

    #[test]
    fn nfkc() {
        // Full-width letters and the "ﬁ" ligature fold to ASCII under NFKC.
        let p = Password::from("ｐａｓｓ\u{FB01}");
        assert_eq!(p.normalized().as_str(), "passfi");
    }
}
