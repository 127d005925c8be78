//! C2SP tlog-cosignature (<https://c2sp.org/tlog-cosignature>), version 1, with Ed25519:
//! a witness's statement that it saw a checkpoint and that it is consistent with every
//! earlier checkpoint of the same log it ever cosigned.
//!
//! The signed message is `cosignature/v1\ntime <T>\n` followed by the checkpoint's note
//! text, where `T` is the witness's clock in unix seconds. The signature line is a note
//! signature line (`— <name> base64(key id || T as 8 bytes big-endian || signature)`)
//! appended to the checkpoint's signed note. The key id is
//! `SHA-256(name || 0x0A || 0x04 || public key)[:4]`, and the verifier key is
//! `<name>+<key id hex>+base64(0x04 || public key)`.
//!
//! # Security
//! A cosignature binds the whole checkpoint text (origin, size, root) and the time; it
//! says nothing about the log's signature, which the caller checks separately with the
//! log's own key. Secret keys zeroize on drop and never print.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::TlogError;
use crate::note::{is_valid_key_name, parse_note_unverified, split_verifier_key};

/// Signature type byte of a timestamped Ed25519 cosignature (c2sp.org/signed-note).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

const SIG_PREFIX: &str = "\u{2014} ";

fn cosign_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn message(note_text: &str, time: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {time}\n").into_bytes();
    m.extend_from_slice(note_text.as_bytes());
    m
}

/// A witness's cosigning key.
pub struct CosignSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for CosignSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl CosignSigner {
    /// A cosigner from a 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, TlogError> {
        if !is_valid_key_name(name) {
            return Err(TlogError::InvalidKeyName);
        }
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key_id: cosign_key_id(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// The matching verifier.
    #[must_use]
    pub fn verifier(&self) -> CosignVerifier {
        CosignVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns a checkpoint's note text (the part before the blank line) at `time` (unix
    /// seconds). Returns the signature line, ending in a newline.
    ///
    /// # Errors
    /// [`TlogError::MalformedNote`] if the text does not end in a newline.
    pub fn cosign(&self, note_text: &str, time: u64) -> Result<String, TlogError> {
        if note_text.is_empty() || !note_text.ends_with('\n') {
            return Err(TlogError::MalformedNote("text must end in a newline"));
        }
        let sig = self.key.sign(&message(note_text, time));
        let mut raw = Vec::with_capacity(4 + 8 + 64);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&time.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(raw)
        ))
    }
}

/// A witness's public cosigning key.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for CosignVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.verifier_key())
    }
}

impl CosignVerifier {
    /// Parses `name+keyid+base64(0x04 || key)`.
    ///
    /// # Errors
    /// [`TlogError::MalformedVerifierKey`], [`TlogError::InvalidKeyName`].
    pub fn from_verifier_key(vkey: &str) -> Result<Self, TlogError> {
        let (name, id, public) = split_verifier_key(vkey, ALG_COSIGNATURE_V1)?;
        let public = &public;
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| TlogError::MalformedVerifierKey("not an ed25519 point"))?;
        if cosign_key_id(name, public) != id {
            return Err(TlogError::MalformedVerifierKey("key id does not match key"));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: id,
            key,
        })
    }

    /// The verifier key string.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }

    /// The witness's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Finds this witness's cosignature in a signed note and checks it. Returns the
    /// cosignature's time (unix seconds).
    ///
    /// # Errors
    /// [`TlogError::MalformedNote`], [`TlogError::NoKnownSignature`] when this witness did
    /// not cosign, [`TlogError::InvalidSignature`] when its line does not verify.
    pub fn verify_note(&self, signed_note: &[u8]) -> Result<u64, TlogError> {
        let (text, sigs) = parse_note_unverified(signed_note)?;
        let sig = sigs
            .iter()
            .find(|s| s.name == self.name && s.key_id == self.key_id)
            .ok_or(TlogError::NoKnownSignature)?;
        let raw = &sig.signature;
        if raw.len() != 8 + 64 {
            return Err(TlogError::InvalidSignature {
                name: self.name.clone(),
                key_id: self.key_id,
            });
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&raw[..8]);
        let time = u64::from_be_bytes(t);
        let signature =
            Signature::from_slice(&raw[8..]).map_err(|_| TlogError::InvalidSignature {
                name: self.name.clone(),
                key_id: self.key_id,
            })?;
        self.key
            .verify(&message(&text, time), &signature)
            .map_err(|_| TlogError::InvalidSignature {
                name: self.name.clone(),
                key_id: self.key_id,
            })?;
        Ok(time)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Checkpoint, NoteSigner};

    #[test]
    fn cosign_round_trip_and_binding() {
        let log = NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
        let cp = Checkpoint::new("example.com/log", 5, crate::Hash([7; 32])).unwrap();
        let signed = cp.sign(&log).unwrap();
        let w = CosignSigner::from_seed("witness.example", &[2; 32]).unwrap();
        let text = cp.to_text();
        let line = w.cosign(&text, 1_700_000_000).unwrap();
        let cosigned = format!("{signed}{line}");
        let v = CosignVerifier::from_verifier_key(&w.verifier().verifier_key()).unwrap();
        assert_eq!(v.verify_note(cosigned.as_bytes()).unwrap(), 1_700_000_000);
        // The log's own signature still opens.
        assert_eq!(
            Checkpoint::open(cosigned.as_bytes(), &log.verifier())
                .unwrap()
                .size(),
            5
        );
        // Another checkpoint with this cosignature line does not verify.
        let other = Checkpoint::new("example.com/log", 6, crate::Hash([7; 32])).unwrap();
        let forged = format!("{}{line}", other.sign(&log).unwrap());
        assert!(matches!(
            v.verify_note(forged.as_bytes()),
            Err(TlogError::InvalidSignature { .. })
        ));
        // Not cosigned at all.
        assert!(matches!(
            v.verify_note(signed.as_bytes()),
            Err(TlogError::NoKnownSignature)
        ));
        // A log (type 0x01) key is not a cosigning key.
        assert!(CosignVerifier::from_verifier_key(&log.verifier_key()).is_err());
        assert!(!format!("{w:?}").contains("0202"));
    }
}
