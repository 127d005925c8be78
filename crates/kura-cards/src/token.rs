//! Card tokens and lookup hashes.
//!
//! # Tokens are random
//! A [`CardToken`] is `ct_` followed by 26 lowercase base32 characters encoding 128 bits the
//! caller draws from the operating system's generator ([`CardToken::from_random`]). It is not
//! derived from the card number in any way, so no key, leak or computation turns a token into
//! a PAN: only the card vault's sealed copy does. The `ct_` prefix makes a token impossible to
//! take for a card number (a PAN is digits only, so a token never parses as one and never
//! passes a Luhn check).
//!
//! # Lookup hashes are keyed
//! To give the same token again when a subject tokenizes the same card twice, the card vault
//! keeps a [`lookup_hash`]: HMAC-SHA-256 under a secret key of the subject id and the *whole*
//! PAN. A PAN has little entropy (the BIN is public per issuer, the last four are printed on
//! receipts, the check digit follows from the rest: about a million candidates), so a plain
//! hash would be the card number in disguise; PCI DSS v4 requirement 3.5.1.1 asks for keyed
//! cryptographic hashes of the entire PAN. The lookup hash is kept in the card key store,
//! never next to a truncated form (first six, last four), which would shrink the search
//! space for anyone holding the key.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::Pan;

/// Every token starts with this; a PAN is all digits, so no token is ever a PAN.
pub const TOKEN_PREFIX: &str = "ct_";

/// Length of a token: the prefix and 26 base32 characters.
pub const TOKEN_LEN: usize = 29;

/// Domain-separation label fed to the MAC before anything else, so a key reused by mistake
/// elsewhere cannot produce values that collide with lookup hashes.
const DOMAIN: &[u8] = b"kura-cards/lookup/v1";

/// RFC 4648 base32 alphabet in lowercase.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A card token: `ct_` followed by 26 lowercase base32 characters (128 random bits).
///
/// Invariants: always [`TOKEN_LEN`] ASCII characters, starts with [`TOKEN_PREFIX`], the 26
/// characters are the canonical base32 encoding of 16 bytes (the last character carries 3
/// bits and 2 zero padding bits), carries nothing derived from the PAN, and is not a secret
/// (safe to show, log and index).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardToken(String);

impl CardToken {
    /// The token for the 16 random bytes `id` (draw them from the OS generator).
    #[must_use]
    pub fn from_random(id: [u8; 16]) -> Self {
        let mut out = String::with_capacity(TOKEN_LEN);
        out.push_str(TOKEN_PREFIX);
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        for b in id {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
        }
        CardToken(out)
    }

    /// Parses a token as returned by the API, refusing anything else (wrong prefix, length,
    /// alphabet, or non-canonical padding bits). Returns `None` rather than an error: a bad
    /// token is answered like an unknown one, and the input is never echoed.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(TOKEN_PREFIX)?;
        if s.len() != TOKEN_LEN {
            return None;
        }
        let mut id = [0u8; 16];
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut n = 0usize;
        for c in rest.bytes() {
            let v = BASE32.iter().position(|&b| b == c)? as u32;
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                *id.get_mut(n)? = ((acc >> bits) & 0xff) as u8;
                n += 1;
            }
        }
        // 26 characters carry 130 bits: 128 of the id and 2 padding bits, which must be 0.
        if n != 16 || acc & ((1 << bits) - 1) != 0 {
            return None;
        }
        Some(CardToken::from_random(id)).filter(|t| t.0 == s)
    }

    /// The 16 random bytes behind the token (the card's id in the key store, bound into the
    /// associated data of its sealed values).
    #[must_use]
    pub fn id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut n = 0usize;
        for c in self.0[TOKEN_PREFIX.len()..].bytes() {
            // Invariant: built by `from_random`, so every character is in the alphabet.
            let v = BASE32.iter().position(|&b| b == c).unwrap_or(0) as u32;
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 && n < 16 {
                bits -= 8;
                id[n] = ((acc >> bits) & 0xff) as u8;
                n += 1;
            }
        }
        id
    }

    /// The token text, e.g. `ct_mfrggzdfmztwq2lknnwg23tpob`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardToken({})", self.0)
    }
}

/// The lookup hash of `pan` held by `subject`, under the lookup key `key`: the full 256-bit
/// HMAC-SHA-256 of `DOMAIN || subject (16 bytes) || len(pan) (1 byte) || pan digits`. Every
/// part has a fixed length or a length prefix, so no two distinct inputs share an encoding.
///
/// Deterministic: the same key, subject and PAN always give the same hash; another subject
/// gives an unrelated one, so hashes cannot link one card across people. `key` must be a
/// secret, uniformly random 256-bit key used for nothing else. The result is a lookup key
/// only: store it apart from any truncated form of the PAN (see the module docs).
#[must_use]
pub fn lookup_hash(key: &[u8; 32], subject: &[u8; 16], pan: &Pan) -> [u8; 32] {
    // Cannot fail: HMAC takes keys of any length.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(DOMAIN);
    mac.update(subject);
    let digits = pan.expose().as_bytes();
    // A PAN has at most 19 digits, so its length always fits one byte.
    mac.update(&[u8::try_from(digits.len()).unwrap_or(u8::MAX)]);
    mac.update(digits);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_canonical_form() {
        for id in [[0u8; 16], [0xff; 16], [0x5a; 16], *b"0123456789abcdef"] {
            let t = CardToken::from_random(id);
            assert_eq!(t.as_str().len(), TOKEN_LEN);
            assert_eq!(t.id(), id);
            assert_eq!(CardToken::parse(t.as_str()), Some(t.clone()));
        }
        // Padding bits set: same id would decode, but the text is not canonical.
        let t = CardToken::from_random([0; 16]);
        let mut bad = t.as_str().to_owned();
        bad.pop();
        bad.push('b');
        assert_eq!(CardToken::parse(&bad), None);
        for bad in [
            "",
            "ct_",
            "tok_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ct_aaaaaaaaaaaaaaaaaaaaaaaaa",
            "ct_aaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "ct_AAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ct_aaaaaaaaaaaaaaaaaaaaaaaaa1",
            "4111111111111111",
        ] {
            assert_eq!(CardToken::parse(bad), None, "{bad}");
        }
    }
}
