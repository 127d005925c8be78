//! Card tokens: a keyed, deterministic stand-in for a PAN, one per (subject, card).
//!
//! # Why the token must be keyed
//! A PAN has little entropy: the BIN (first six digits) is public per issuer, the last four
//! are shown on receipts, and the Luhn digit is fixed by the rest, leaving about six unknown
//! digits, a million candidates. A plain hash of the PAN could be reversed by trying them
//! all in well under a second, so a token would be the card number in disguise (PCI DSS
//! treats such hashes as cardholder data unless keyed). With HMAC-SHA-256 under a secret
//! 256-bit key, nobody without the key can compute or check a token, and a leaked token
//! table reveals nothing about the cards.
//!
//! Tokens are per subject: the subject id is in the MAC input, so the same card held by two
//! people gives two unrelated tokens and tokens cannot link people across the vault.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::Pan;

/// Every token starts with this; a PAN is all digits, so no token is ever a PAN.
pub const TOKEN_PREFIX: &str = "ct_";

/// Domain-separation label fed to the MAC before anything else, so a key reused by mistake
/// elsewhere cannot produce values that collide with card tokens.
const DOMAIN: &[u8] = b"kura-cards/card-token/v1";

/// RFC 4648 base32 alphabet in lowercase.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Number of MAC bytes kept: 128 bits, 26 base32 characters.
const TOKEN_BYTES: usize = 16;

/// A card token: `ct_` followed by 26 lowercase base32 characters (128 bits of
/// HMAC-SHA-256 output).
///
/// Invariants: always 29 ASCII characters, starts with [`TOKEN_PREFIX`], carries no digit
/// of the PAN in any form other than a keyed MAC, and is not a secret (safe to show, log
/// and index).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardToken(String);

impl CardToken {
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

/// The token for `pan` held by `subject`, under the token key `key`.
///
/// Deterministic: the same key, subject and PAN always give the same token; another
/// subject or key gives an unrelated one. The MAC input is
/// `DOMAIN || subject (16 bytes) || len(pan) (1 byte) || pan digits`; every part has a fixed
/// length or a length prefix, so no two distinct inputs share an encoding.
///
/// `key` must be a secret, uniformly random 256-bit key used for nothing else (derive it
/// from the vault's root secrets with its own label); see the module docs for why.
#[must_use]
pub fn token_for(key: &[u8; 32], subject: &[u8; 16], pan: &Pan) -> CardToken {
    // Cannot fail: HMAC takes keys of any length.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(DOMAIN);
    mac.update(subject);
    let digits = pan.expose().as_bytes();
    // A PAN has at most 19 digits, so its length always fits one byte.
    mac.update(&[u8::try_from(digits.len()).unwrap_or(u8::MAX)]);
    mac.update(digits);
    let tag = mac.finalize().into_bytes();

    let mut out = String::with_capacity(TOKEN_PREFIX.len() + 26);
    out.push_str(TOKEN_PREFIX);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in &tag[..TOKEN_BYTES] {
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
