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
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

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
    /// Pepper version `n` of password hashes (`[passwords] pepper_version`). Version 1 is
    /// [`KeyPurpose::PasswordPepper`] itself; each later version is an independent secret,
    /// so a pepper that leaked says nothing about the next one.
    PasswordPepperVersion(u32),
}

impl KeyPurpose {
    pub(crate) fn label(self) -> std::borrow::Cow<'static, [u8]> {
        use std::borrow::Cow;
        match self {
            KeyPurpose::IndexRoot => Cow::Borrowed(b"kura index root v1"),
            KeyPurpose::AuditSigning => Cow::Borrowed(b"kura audit signing v1"),
            KeyPurpose::PasswordPepper => Cow::Borrowed(b"kura password pepper v1"),
            KeyPurpose::ReceiptSigning => Cow::Borrowed(b"kura receipt signing v1"),
            KeyPurpose::FieldTokenRoot => Cow::Borrowed(b"kura field token root v1"),
            KeyPurpose::CardKek => Cow::Borrowed(b"kura card kek v1"),
            KeyPurpose::CardLookup => Cow::Borrowed(b"kura card lookup v1"),
            KeyPurpose::MailTag => Cow::Borrowed(b"kura mail tag v1"),
            KeyPurpose::RecoveryToken => Cow::Borrowed(b"kura recovery token v1"),
            KeyPurpose::RemediationCodes => Cow::Borrowed(b"kura remediation codes v1"),
            KeyPurpose::PasswordPepperVersion(n) if n <= 1 => KeyPurpose::PasswordPepper.label(),
            KeyPurpose::PasswordPepperVersion(n) => {
                Cow::Owned(format!("kura password pepper v1 version {n}").into_bytes())
            }
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
    /// The KEK versions the provider holds and the one that wraps new keys, as of now:
    /// a version another process created or destroyed is seen here at once.
    ///
    /// # Errors
    /// Provider-specific failures.
    fn kek_versions(&self) -> Result<KekVersions, CryptoError>;
    /// Creates a new KEK version and makes it current: this process wraps under it at
    /// once, every other process sharing the provider within [`REFRESH_INTERVAL`].
    /// Returns the new version.
    ///
    /// # Errors
    /// Provider-specific failures; nothing changes on error.
    fn rotate_kek(&self) -> Result<u32, CryptoError>;
    /// Destroys a KEK version for good. Refuses the current version
    /// ([`CryptoError::KekInUse`]). Every key still wrapped under it becomes unreadable:
    /// callers check that nothing refers to it first.
    ///
    /// # Errors
    /// [`CryptoError::KekInUse`], [`CryptoError::UnknownKekVersion`], provider failures.
    fn destroy_kek(&self, version: u32) -> Result<(), CryptoError>;
}

/// How soon a process notices a KEK version that another process created: it wraps under
/// the new current version at most this long after [`KeyProvider::rotate_kek`] returned.
pub const REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The KEK versions a provider holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekVersions {
    /// The version that wraps new data keys.
    pub current: u32,
    /// Every version held, ascending (the current one included).
    pub all: Vec<u32>,
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

impl Drop for KeyFileDoc {
    fn drop(&mut self) {
        self.root.zeroize();
        for v in self.keks.values_mut() {
            v.zeroize();
        }
    }
}

/// The local key-file provider.
///
/// Its KEK versions can change under it: `kura keys rotate` (another process) adds a version
/// and makes it current, later destroys the old one. A `KeyFile` compares the file's
/// identity (inode, size, modification time) at most every half [`REFRESH_INTERVAL`] before
/// wrapping, and at once when asked to unwrap under a version it does not hold, and reloads
/// the KEKs when the file changed. The vault id and root secret never change: a reloaded
/// file with another vault id or root is refused and the keys in memory are kept.
pub struct KeyFile {
    path: PathBuf,
    vault_id: [u8; 16],
    root: SecretKey,
    keks: RwLock<Keks>,
    /// Milliseconds since `born` at the last look at the file.
    looked_ms: AtomicU64,
    born: Instant,
}

struct Keks {
    current: u32,
    ciphers: BTreeMap<u32, XChaCha20Poly1305>,
    stamp: Option<Stamp>,
}

/// What tells a changed file: a rename gives a new inode, a rewrite a new mtime or size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

fn stamp_of(meta: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    let ino = {
        use std::os::unix::fs::MetadataExt;
        meta.ino()
    };
    #[cfg(not(unix))]
    let ino = 0;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    Stamp {
        ino,
        len: meta.len(),
        mtime_ns,
    }
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.keks.read().map(|k| k.current).unwrap_or(0);
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("current_kek", &current)
            .finish_non_exhaustive()
    }
}

fn file_err(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFile {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// A key file read and checked: its document and the file's identity when read.
struct Loaded {
    vault_id: [u8; 16],
    current: u32,
    ciphers: BTreeMap<u32, XChaCha20Poly1305>,
    root: SecretKey,
    stamp: Stamp,
}

fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), CryptoError> {
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
    let _ = (path, meta);
    Ok(())
}

fn read_doc(path: &Path) -> Result<(KeyFileDoc, Stamp), CryptoError> {
    let meta = std::fs::metadata(path).map_err(|e| file_err(path, format!("cannot open: {e}")))?;
    check_mode(path, &meta)?;
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| file_err(path, format!("cannot read: {e}")))?,
    );
    let doc: KeyFileDoc = serde_json::from_str(&text)
        .map_err(|e| file_err(path, format!("malformed at line {}", e.line())))?;
    if doc.format != FORMAT {
        return Err(file_err(path, format!("unknown format `{}`", doc.format)));
    }
    Ok((doc, stamp_of(&meta)))
}

fn load(path: &Path) -> Result<Loaded, CryptoError> {
    let (doc, stamp) = read_doc(path)?;
    let vault_id = unhex16(&doc.vault_id).ok_or_else(|| file_err(path, "bad vault_id"))?;
    let mut ciphers = BTreeMap::new();
    for (v, b64) in &doc.keks {
        let bytes = Zeroizing::new(
            B64.decode(b64)
                .map_err(|_| file_err(path, format!("kek {v} is not base64")))?,
        );
        let key = SecretKey::from_slice(&bytes)
            .map_err(|_| file_err(path, format!("kek {v} is not 32 bytes")))?;
        ciphers.insert(*v, XChaCha20Poly1305::new(&(*key.expose()).into()));
    }
    if !ciphers.contains_key(&doc.current_kek) {
        return Err(file_err(path, "current_kek names a missing key"));
    }
    let root_bytes = Zeroizing::new(
        B64.decode(&doc.root)
            .map_err(|_| file_err(path, "root is not base64"))?,
    );
    let root =
        SecretKey::from_slice(&root_bytes).map_err(|_| file_err(path, "root is not 32 bytes"))?;
    Ok(Loaded {
        vault_id,
        current: doc.current_kek,
        ciphers,
        root,
        stamp,
    })
}

/// Writes `doc` to `path` atomically (a 0600 temporary file beside it, synced, renamed over
/// it, the directory synced): a crash leaves the old file or the new one, never a mix.
fn replace_doc(path: &Path, doc: &KeyFileDoc) -> Result<(), CryptoError> {
    let text = Zeroizing::new(
        serde_json::to_string_pretty(doc)
            .map_err(|e| file_err(path, format!("cannot encode: {e}")))?,
    );
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    let tmp = dir.join(name);
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(|e| file_err(path, format!("cannot create {}: {e}", tmp.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| file_err(path, format!("cannot write {}: {e}", tmp.display())))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, format!("cannot replace: {e}")))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
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
        let l = load(path)?;
        Ok(KeyFile {
            path: path.to_owned(),
            vault_id: l.vault_id,
            root: l.root,
            keks: RwLock::new(Keks {
                current: l.current,
                ciphers: l.ciphers,
                stamp: Some(l.stamp),
            }),
            looked_ms: AtomicU64::new(0),
            born: Instant::now(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64 + 1
    }

    /// Reloads the KEKs if the file changed. Without `force`, looks at the file at most
    /// every half [`REFRESH_INTERVAL`]; with it (an unwrap named a version not held), looks
    /// now: a `stat`, and a read only when the file really changed, so a flood of wrapped
    /// keys naming made-up versions costs a system call each, never a file read.
    fn refresh(&self, force: bool) -> Result<(), CryptoError> {
        let now = self.now_ms();
        if !force {
            let last = self.looked_ms.load(Ordering::Relaxed);
            let gap = REFRESH_INTERVAL.as_millis() as u64 / 2;
            if last != 0 && now.saturating_sub(last) < gap {
                return Ok(());
            }
            if self
                .looked_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return Ok(()); // another thread is looking
            }
        } else {
            self.looked_ms.store(now, Ordering::Relaxed);
        }
        let meta = std::fs::metadata(&self.path)
            .map_err(|e| file_err(&self.path, format!("cannot open: {e}")))?;
        let stamp = stamp_of(&meta);
        if self
            .keks
            .read()
            .map(|k| k.stamp == Some(stamp))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let l = load(&self.path)?;
        if l.vault_id != self.vault_id || l.root.expose() != self.root.expose() {
            return Err(file_err(
                &self.path,
                "was replaced by the key file of another vault; keeping the keys in memory",
            ));
        }
        let mut k = self
            .keks
            .write()
            .map_err(|_| file_err(&self.path, "lock poisoned"))?;
        *k = Keks {
            current: l.current,
            ciphers: l.ciphers,
            stamp: Some(l.stamp),
        };
        Ok(())
    }

    fn read_keks(&self) -> Result<std::sync::RwLockReadGuard<'_, Keks>, CryptoError> {
        self.keks
            .read()
            .map_err(|_| file_err(&self.path, "lock poisoned"))
    }

    /// Reads the document, lets `change` edit it, writes it back atomically and reloads.
    fn edit(
        &self,
        change: impl FnOnce(&mut KeyFileDoc) -> Result<(), CryptoError>,
    ) -> Result<(), CryptoError> {
        // One edit at a time across processes: two rotations reading the same document and
        // each writing back its own new version would lose one — and every key wrapped
        // under it. The lock file sits beside the key file and holds nothing.
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".lock");
        let lock_path = self.path.with_file_name(name);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let lock = opts.open(&lock_path).map_err(|e| {
            file_err(
                &self.path,
                format!("cannot open {}: {e}", lock_path.display()),
            )
        })?;
        lock.lock().map_err(|e| {
            file_err(
                &self.path,
                format!("cannot lock {}: {e}", lock_path.display()),
            )
        })?;
        let (mut doc, _) = read_doc(&self.path)?;
        if unhex16(&doc.vault_id) != Some(self.vault_id) {
            return Err(file_err(&self.path, "belongs to another vault"));
        }
        change(&mut doc)?;
        replace_doc(&self.path, &doc)?;
        drop(doc);
        drop(lock); // closing the file releases the lock
        self.looked_ms.store(0, Ordering::Relaxed);
        self.refresh(true)
    }
}

pub(crate) fn wrap_aad(version: u32, context: &[u8]) -> Vec<u8> {
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
        // A failed look at the file keeps the keys in memory: serving goes on, and the
        // rotation's final pass re-wraps anything wrapped under the old version meanwhile.
        let _ = self.refresh(false);
        let keks = self.read_keks()?;
        let current = keks.current;
        let cipher = keks
            .ciphers
            .get(&current)
            .ok_or(CryptoError::UnknownKekVersion(current))?;
        let nonce: [u8; 24] = crate::random_nonce();
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: dek.expose(),
                    aad: &wrap_aad(current, context),
                },
            )
            .map_err(|_| CryptoError::Malformed("cannot wrap"))?;
        let mut bytes = Vec::with_capacity(24 + ct.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ct);
        Ok(WrappedKey {
            kek_version: current,
            bytes,
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<SecretKey, CryptoError> {
        if wrapped.bytes.len() != 24 + 32 + 16 {
            return Err(CryptoError::Malformed("wrapped key has the wrong length"));
        }
        if !self.read_keks()?.ciphers.contains_key(&wrapped.kek_version) {
            self.refresh(true)?;
        }
        let keks = self.read_keks()?;
        let cipher = keks
            .ciphers
            .get(&wrapped.kek_version)
            .ok_or(CryptoError::UnknownKekVersion(wrapped.kek_version))?;
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
        hk.expand(&purpose.label(), &mut okm)
            .map_err(|_| CryptoError::Malformed("hkdf output length"))?;
        Ok(SecretKey::from_bytes(okm))
    }

    fn kek_versions(&self) -> Result<KekVersions, CryptoError> {
        self.looked_ms.store(0, Ordering::Relaxed);
        self.refresh(true)?;
        let k = self.read_keks()?;
        Ok(KekVersions {
            current: k.current,
            all: k.ciphers.keys().copied().collect(),
        })
    }

    fn rotate_kek(&self) -> Result<u32, CryptoError> {
        let kek = SecretKey::generate()?;
        let mut made = 0;
        self.edit(|doc| {
            let next = doc
                .keks
                .keys()
                .max()
                .copied()
                .unwrap_or(0)
                .max(doc.current_kek)
                + 1;
            doc.keks.insert(next, B64.encode(kek.expose()));
            doc.current_kek = next;
            made = next;
            Ok(())
        })?;
        Ok(made)
    }

    fn destroy_kek(&self, version: u32) -> Result<(), CryptoError> {
        self.edit(|doc| {
            if doc.current_kek == version {
                return Err(CryptoError::KekInUse {
                    version,
                    reason: "it is the current version; rotate first",
                });
            }
            if let Some(mut gone) = doc.keks.remove(&version) {
                gone.zeroize();
                Ok(())
            } else {
                Err(CryptoError::UnknownKekVersion(version))
            }
        })
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
    fn concurrent_rotations_lose_no_version_and_others_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        drop(KeyFile::create(&path, [4; 16]).unwrap());
        let start = std::sync::Barrier::new(8);
        let made: Vec<u32> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let (path, start) = (path.clone(), &start);
                    s.spawn(move || {
                        let kf = KeyFile::open(&path).unwrap();
                        start.wait();
                        (0..10)
                            .map(|_| kf.rotate_kek().unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = made.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            80,
            "every rotation made its own version: {made:?}"
        );
        let kf = KeyFile::open(&path).unwrap();
        let v = kf.kek_versions().unwrap();
        assert_eq!(v.all, (1..=81).collect::<Vec<_>>(), "no version was lost");
        assert_eq!(v.current, 81);
        // An edit waits for whoever holds the key file's lock (another process's rotation).
        let held = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("vault.key.lock"))
            .unwrap();
        held.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiting = {
            let path = path.clone();
            std::thread::spawn(move || {
                let r = KeyFile::open(&path).unwrap().rotate_kek().unwrap();
                tx.send(()).unwrap();
                r
            })
        };
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "a rotation went ahead while the lock was held"
        );
        drop(held);
        assert_eq!(waiting.join().unwrap(), 82);
        // A provider opened before a rotation unwraps under the new version at once and
        // wraps under it after a refresh.
        let old = KeyFile::open(&path).unwrap();
        let dek = SecretKey::generate().unwrap();
        // `old` has just looked at the file (a wrap); it must still see the new version at
        // once when asked to unwrap under it.
        old.wrap(&dek, b"ctx").unwrap();
        let newer = kf.rotate_kek().unwrap();
        assert_eq!(newer, 83);
        let w = kf.wrap(&dek, b"ctx").unwrap();
        assert_eq!(w.kek_version, newer);
        assert_eq!(old.unwrap(&w, b"ctx").unwrap().expose(), dek.expose());
        assert_eq!(old.kek_versions().unwrap().current, newer);
        assert_eq!(old.wrap(&dek, b"ctx").unwrap().kek_version, newer);
        // Destroying: never the current one; afterwards keys under the old one are gone.
        assert!(matches!(
            kf.destroy_kek(newer),
            Err(CryptoError::KekInUse { .. })
        ));
        let under_one = KeyFile::open(&path).unwrap();
        kf.destroy_kek(1).unwrap();
        assert!(!under_one.kek_versions().unwrap().all.contains(&1));
        assert!(matches!(
            kf.destroy_kek(1),
            Err(CryptoError::UnknownKekVersion(1))
        ));
    }

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
