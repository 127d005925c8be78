//! The key-provider seam and the local key-file provider.
//!
//! A [`KeyProvider`] holds the vault's key-encryption keys (KEKs) and root secrets and never
//! hands out a KEK: callers ask it to wrap or unwrap a data key. A PKCS#11 or KMS provider
//! implements the same trait with the keys inside the device.
//!
//! [`KeyFile`] is the development default: a JSON file, created with mode 0600, holding
//! the vault id, versioned KEKs and one root secret from which the other secrets (blind-index
//! root, audit signing seed, password pepper) are derived with HKDF-SHA-256. It refuses to
//! open a file that other users can read.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{CryptoError, SecretKey};

/// A data key wrapped under a KEK version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Which KEK wrapped it.
    pub kek_version: u32,
    /// `nonce (24) || ciphertext || tag (16)`.
    pub bytes: Vec<u8>,
}

/// Secrets other than KEKs that a provider supplies. Each is independent: knowing one
/// reveals nothing about another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyPurpose {
    /// Root of the per-field blind-index keys.
    IndexRoot,
    /// Seed of the Ed25519 key that signs audit checkpoints.
    AuditSigning,
    /// Pepper mixed into password hashes.
    PasswordPepper,
    /// Seed of the key that signs deletion receipts.
    ReceiptSigning,
    /// Root of the per-organization keys of `token`-mode fields (policy field mode).
    FieldTokenRoot,
    /// Key-encryption key of the card vault: wraps the per-card data keys. Distinct from
    /// the subjects' KEK, so the card key hierarchy is separate from the subjects' one.
    CardKek,
    /// HMAC key of the card vault's lookup hashes (keyed hash of subject and whole PAN,
    /// PCI DSS 3.5.1), used only to find an existing token for the same card.
    CardLookup,
    /// HMAC key of the tags under which the mail outbox files messages about a subject
    /// (a keyed hash of the subject id, so file names reveal no id), found again at erasure.
    MailTag,
    /// HMAC key of stored recovery-token hashes: the store keeps HMAC(key, SHA-256(token)),
    /// so a row written into the data store without this key redeems no token.
    RecoveryToken,
    /// Key of the remediation-offer codes (identity-monitoring enrolment codes and the
    /// like): seals each code at rest and keys the hash that finds a code imported twice.
    RemediationCodes,
}

impl KeyPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            KeyPurpose::IndexRoot => b"kura index root v1",
            KeyPurpose::AuditSigning => b"kura audit signing v1",
            KeyPurpose::PasswordPepper => b"kura password pepper v1",
            KeyPurpose::ReceiptSigning => b"kura receipt signing v1",
            KeyPurpose::FieldTokenRoot => b"kura field token root v1",
            KeyPurpose::CardKek => b"kura card kek v1",
            KeyPurpose::CardLookup => b"kura card lookup v1",
            KeyPurpose::MailTag => b"kura mail tag v1",
            KeyPurpose::RecoveryToken => b"kura recovery token v1",
            KeyPurpose::RemediationCodes => b"kura remediation codes v1",
        }
    }
}

/// Holds key-encryption keys and root secrets; wraps and unwraps data keys.
///
/// # Security
/// Implementations must never expose a KEK, must bind `context` into the wrapping as
/// associated data (so a wrapped key moved to another subject fails to unwrap), and must
/// return [`CryptoError::Integrity`] rather than a wrong key.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// A human description (`key file /path`), never containing key material.
    fn describe(&self) -> String;
    /// The vault this provider's keys belong to.
    fn vault_id(&self) -> [u8; 16];
    /// Wraps a data key under the current KEK, binding `context`.
    ///
    /// # Errors
    /// [`CryptoError::Random`] if no nonce can be drawn.
    fn wrap(&self, dek: &SecretKey, context: &[u8]) -> Result<WrappedKey, CryptoError>;
    /// Unwraps a data key.
    ///
    /// # Errors
    /// [`CryptoError::UnknownKekVersion`], [`CryptoError::Integrity`] or
    /// [`CryptoError::Malformed`].
    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<SecretKey, CryptoError>;
    /// One of the vault's root secrets.
    ///
    /// # Errors
    /// Provider-specific failures.
    fn derive(&self, purpose: KeyPurpose) -> Result<SecretKey, CryptoError>;
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileDoc {
    format: String,
    vault_id: String,
    current_kek: u32,
    keks: BTreeMap<u32, String>,
    root: String,
}

const FORMAT: &str = "kura-keyfile-v1";

/// The local key-file provider.
pub struct KeyFile {
    path: PathBuf,
    vault_id: [u8; 16],
    current: u32,
    keks: BTreeMap<u32, XChaCha20Poly1305>,
    root: SecretKey,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("current_kek", &self.current)
            .finish_non_exhaustive()
    }
}

fn file_err(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFile {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl KeyFile {
    /// Creates a new key file with fresh random keys, mode 0600, failing if it exists.
    ///
    /// # Errors
    /// [`CryptoError::KeyFile`] if the file exists or cannot be written.
    pub fn create(path: &Path, vault_id: [u8; 16]) -> Result<Self, CryptoError> {
        let kek = SecretKey::generate()?;
        let root = SecretKey::generate()?;
        let mut keks = BTreeMap::new();
        keks.insert(1u32, B64.encode(kek.expose()));
        let doc = KeyFileDoc {
            format: FORMAT.to_owned(),
            vault_id: hex(&vault_id),
            current_kek: 1,
            keks,
            root: B64.encode(root.expose()),
        };
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&doc)
                .map_err(|e| file_err(path, format!("cannot encode: {e}")))?,
        );
        drop(doc);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| file_err(path, format!("cannot create its directory: {e}")))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                file_err(path, "already exists; refusing to overwrite keys")
            } else {
                file_err(path, format!("cannot create: {e}"))
            }
        })?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| file_err(path, format!("cannot write: {e}")))?;
        Self::open(path)
    }

    /// Opens an existing key file.
    ///
    /// # Errors
    /// [`CryptoError::KeyFile`] if it is missing, readable by group or others, or malformed.
    pub fn open(path: &Path) -> Result<Self, CryptoError> {
        let meta =
            std::fs::metadata(path).map_err(|e| file_err(path, format!("cannot open: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(file_err(
                    path,
                    format!(
                        "permissions {:o} let other users read the keys; run `chmod 600` on it",
                        mode & 0o777
                    ),
                ));
            }
        }
        let _ = meta;
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| file_err(path, format!("cannot read: {e}")))?,
        );
        let doc: KeyFileDoc = serde_json::from_str(&text)
            .map_err(|e| file_err(path, format!("malformed at line {}", e.line())))?;
        if doc.format != FORMAT {
            return Err(file_err(path, format!("unknown format `{}`", doc.format)));
        }
        let vault_id = unhex16(&doc.vault_id).ok_or_else(|| file_err(path, "bad vault_id"))?;
        let mut keks = BTreeMap::new();
        for (v, b64) in &doc.keks {
            let bytes = Zeroizing::new(
                B64.decode(b64)
                    .map_err(|_| file_err(path, format!("kek {v} is not base64")))?,
            );
            let key = SecretKey::from_slice(&bytes)
                .map_err(|_| file_err(path, format!("kek {v} is not 32 bytes")))?;
            keks.insert(*v, XChaCha20Poly1305::new(&(*key.expose()).into()));
        }
        if !keks.contains_key(&doc.current_kek) {
            return Err(file_err(path, "current_kek names a missing key"));
        }
        let root_bytes = Zeroizing::new(
            B64.decode(&doc.root)
                .map_err(|_| file_err(path, "root is not base64"))?,
        );
        let root = SecretKey::from_slice(&root_bytes)
            .map_err(|_| file_err(path, "root is not 32 bytes"))?;
        Ok(KeyFile {
            path: path.to_owned(),
            vault_id,
            current: doc.current_kek,
            keks,
            root,
        })
    }
}

fn wrap_aad(version: u32, context: &[u8]) -> Vec<u8> {
    let mut aad = b"kura-dek-v1".to_vec();
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(context);
    aad
}

impl KeyProvider for KeyFile {
    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }

    fn vault_id(&self) -> [u8; 16] {
        self.vault_id
    }

    fn wrap(&self, dek: &SecretKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        let cipher = self
            .keks
            .get(&self.current)
            .ok_or(CryptoError::UnknownKekVersion(self.current))?;
        let nonce: [u8; 24] = crate::random_nonce();
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: dek.expose(),
                    aad: &wrap_aad(self.current, context),
                },
            )
            .map_err(|_| CryptoError::Malformed("cannot wrap"))?;
        let mut bytes = Vec::with_capacity(24 + ct.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ct);
        Ok(WrappedKey {
            kek_version: self.current,
            bytes,
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<SecretKey, CryptoError> {
        let cipher = self
            .keks
            .get(&wrapped.kek_version)
            .ok_or(CryptoError::UnknownKekVersion(wrapped.kek_version))?;
        if wrapped.bytes.len() != 24 + 32 + 16 {
            return Err(CryptoError::Malformed("wrapped key has the wrong length"));
        }
        let mut nonce = [0u8; 24];
        nonce.copy_from_slice(&wrapped.bytes[..24]);
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &wrapped.bytes[24..],
                        aad: &wrap_aad(wrapped.kek_version, context),
                    },
                )
                .map_err(|_| CryptoError::Integrity)?,
        );
        SecretKey::from_slice(&plain)
    }

    fn derive(&self, purpose: KeyPurpose) -> Result<SecretKey, CryptoError> {
        let hk = Hkdf::<Sha256>::new(Some(&self.vault_id), self.root.expose());
        let mut okm = [0u8; 32];
        hk.expand(purpose.label(), &mut okm)
            .map_err(|_| CryptoError::Malformed("hkdf output length"))?;
        Ok(SecretKey::from_bytes(okm))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_wrap_unwrap_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        let kf = KeyFile::create(&path, [3; 16]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(KeyFile::create(&path, [3; 16]).is_err(), "never overwrites");
        let dek = SecretKey::generate().unwrap();
        let w = kf.wrap(&dek, b"subject-a").unwrap();
        let reopened = KeyFile::open(&path).unwrap();
        assert_eq!(reopened.vault_id(), [3; 16]);
        assert_eq!(
            reopened.unwrap(&w, b"subject-a").unwrap().expose(),
            dek.expose()
        );
        assert!(matches!(
            reopened.unwrap(&w, b"subject-b"),
            Err(CryptoError::Integrity)
        ));
        assert_eq!(
            kf.derive(KeyPurpose::IndexRoot).unwrap().expose(),
            reopened.derive(KeyPurpose::IndexRoot).unwrap().expose()
        );
        assert_ne!(
            kf.derive(KeyPurpose::IndexRoot).unwrap().expose(),
            kf.derive(KeyPurpose::PasswordPepper).unwrap().expose()
        );
        assert!(!format!("{kf:?}").contains(&B64.encode(kf.root.expose())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = KeyFile::open(&path).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
    }
}
