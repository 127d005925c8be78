//! `token` mode: a deterministic keyed token, so that services can join records on a field
//! (the same e-mail address in two accounts) without ever seeing it.
//!
//! `tok_` followed by the first 128 bits, in lowercase hex, of
//! HMAC-SHA-256(key, `"kura-field-token-v1" || len(collection) || collection ||
//! len(field) || field || value`), lengths as 4-byte big-endian numbers. The label keeps
//! these tokens apart from blind-index tokens even under the same key; the collection and
//! field names keep equal values in different fields apart (a phone number equal to a login
//! id gives unrelated tokens).
//!
//! The key is the caller's choice and decides who can join with whom: one key per
//! organization means two organizations cannot match their tokens. A key must never be
//! the blind-index root (it is not reused here by construction, but keeping roots apart is
//! the caller's job). The token is over the value as given; pass the normalized form
//! (`kura_vault` normalization) when equal values in different spellings should join.
//!
//! 128 bits rule out accidental collisions between distinct values. A token does not hide
//! a low-entropy value from someone holding the key; it hides it from the service, which
//! never holds it.

use hmac::{Hmac, KeyInit, Mac};
use kura_crypto::SecretKey;
use sha2::Sha256;

/// The prefix of every field token.
pub const TOKEN_PREFIX: &str = "tok_";

const LABEL: &[u8] = b"kura-field-token-v1";

/// The token of `value` in `collection.field` under `key`.
pub fn token(key: &SecretKey, collection: &str, field: &str, value: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; a 32-byte key is the usual case.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose()) else {
        unreachable!("HMAC-SHA-256 accepts a 32-byte key")
    };
    mac.update(LABEL);
    for part in [collection, field] {
        mac.update(&(part.len() as u32).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac.update(value.as_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = String::with_capacity(TOKEN_PREFIX.len() + 32);
    out.push_str(TOKEN_PREFIX);
    for b in &full[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_keyed_and_domain_separated() {
        let k = SecretKey::from_bytes([7; 32]);
        let a = token(&k, "accounts", "email", "taro@example.com");
        assert_eq!(a, token(&k, "accounts", "email", "taro@example.com"));
        assert!(a.starts_with("tok_"));
        assert_eq!(a.len(), 36);
        assert!(
            a[4..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, token(&k, "accounts", "email", "jiro@example.com"));
        assert_ne!(a, token(&k, "accounts", "login_id", "taro@example.com"));
        assert_ne!(a, token(&k, "sister", "email", "taro@example.com"));
        let other = SecretKey::from_bytes([8; 32]);
        assert_ne!(a, token(&other, "accounts", "email", "taro@example.com"));
        // Length prefixes: moving a byte between collection and field changes the token.
        assert_ne!(token(&k, "ab", "c", "v"), token(&k, "a", "bc", "v"));
        assert!(!a.contains("taro"));
    }

    #[test]
    fn known_answer() {
        // Pinned so that a change of construction (which would break every join a service
        // keeps) cannot pass unnoticed. Computed independently:
        // python3 -c 'import hmac,hashlib,struct;m=b"kura-field-token-v1"+struct.pack(">I",8)+b"accounts"+struct.pack(">I",5)+b"email"+b"taro@example.com";print(hmac.new(bytes([7]*32),m,hashlib.sha256).hexdigest()[:32])'
        let k = SecretKey::from_bytes([7; 32]);
        assert_eq!(
            token(&k, "accounts", "email", "taro@example.com"),
            "tok_979a57058acb0f32fb1c88276a2b18ef"
        );
    }
}
