//! Secret key material and the few primitive helpers (randomness, SHA-256) the rest of
//! kura uses.

use sha2::Digest;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

/// 256 bits of secret key material.
///
/// Zeroized on drop; `Debug` prints `SecretKey(<redacted>)`; there is no `Display`,
/// `Serialize` or `Clone`-by-accident: cloning is explicit through [`SecretKey::duplicate`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh random key from the operating system's generator.
    ///
    /// # Errors
    /// [`CryptoError::Random`] if the generator fails.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(SecretKey(random_array()?))
    }

    /// Takes ownership of key bytes. The caller should zeroize its own copy.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// Builds a key from a slice of exactly 32 bytes.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::Malformed("a key must be 32 bytes"))?;
        Ok(SecretKey(arr))
    }

    /// The raw key bytes. Every call site is a place where key material leaves this type;
    /// keep them few and never log the result.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// A subkey for `context` under domain `salt` (HKDF-SHA-256 with this key as input key
    /// material). Distinct contexts give independent keys; the subkey reveals nothing of
    /// this key.
    pub fn derive_subkey(&self, salt: &[u8], context: &[u8]) -> SecretKey {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), &self.0);
        let mut okm = [0u8; 32];
        hk.expand(context, &mut okm)
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        SecretKey(okm)
    }

    /// An explicit copy (for caches). Both copies zeroize on drop.
    pub fn duplicate(&self) -> Self {
        SecretKey(self.0)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// `N` random bytes from the operating system's generator.
///
/// # Errors
/// [`CryptoError::Random`] if the generator fails.
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// `N` bytes for a nonce, from the thread-local CSPRNG (`rand::rngs::ThreadRng`: ChaCha12
/// seeded from the operating system and reseeded periodically). Nonces need uniqueness, not
/// a system call each: at several nonces per subject the syscall per draw dominated import
/// time. Long-term keys keep coming from [`random_array`] (the OS generator directly).
pub fn random_nonce<const N: usize>() -> [u8; N] {
    use rand::Rng as _;
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_keys_differ() {
        let a = SecretKey::generate().unwrap();
        let b = SecretKey::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "SecretKey(<redacted>)");
        assert!(SecretKey::from_slice(&[0u8; 31]).is_err());
    }
}
