//! The PKCS#11 key provider: the vault's key-encryption keys (KEKs) and root secret live in a
//! hardware security module (or any PKCS#11 token; SoftHSM2 in tests) and never leave it.
//!
//! # What is in the token
//! For a vault with id `V` (lowercase hex `<vault id hex>`), all objects are token objects
//! (`CKA_TOKEN`), private (`CKA_PRIVATE`: invisible before login), sensitive
//! (`CKA_SENSITIVE`: `CKA_VALUE` cannot be read) and non-extractable (`CKA_EXTRACTABLE` false:
//! `C_WrapKey` refuses them), generated inside the token by `C_GenerateKey`, with
//! `CKA_ID = V`:
//! - KEK version `n`: an AES-256 key labelled `kura/<vault id hex>/kek/<n>`, usable only to
//!   encrypt and decrypt (`CKA_WRAP`/`CKA_UNWRAP` false, so it cannot export other keys).
//! - The root secret: a 32-byte `CKK_GENERIC_SECRET` key labelled `kura/<vault id hex>/root`,
//!   usable only to sign with `CKM_SHA256_HMAC`.
//!
//! # Operations
//! - `wrap`: `CKM_AES_GCM` in the token under the current KEK, a 12-byte IV drawn in this
//!   process from kura's CSPRNG ([`crate::random_nonce`], seeded by the operating system; not
//!   the token's generator, whose quality varies between devices), 128-bit tag, associated
//!   data exactly that of the key file (`"kura-dek-v1" || version (u32 BE) || context`).
//!   The wrapped bytes are `iv (12) || ciphertext (32) || tag (16)`.
//! - `unwrap`: the inverse; any authentication failure is [`CryptoError::Integrity`].
//! - `derive(purpose)`: `HMAC-SHA-256(root, vault id || purpose label)`, computed in the
//!   token.
//!
//! # Security properties
//! - The KEKs and the root secret never leave the token: nothing in this module can read
//!   them, and the token refuses to (sensitive, non-extractable). A stolen database plus
//!   this host's files gives nothing without the token and its PIN; a stolen PIN with access
//!   to the token gives an unwrap service for as long as that access lasts, never the KEK.
//! - The *derived* secrets do leave the token, by design: the blind-index root, the audit and
//!   receipt signing seeds, the password pepper and the other [`KeyPurpose`] secrets are used
//!   in software and sit in this process's memory (zeroized on drop) like with the key file.
//!   Data keys unwrapped by the token are in process memory too, as with any provider.
//! - The PIN is kept only to log in new sessions, in a zeroizing buffer; `Debug` never prints
//!   it and no error carries it or any key byte.
//!
//! # Concurrency
//! A PKCS#11 session is not shareable between threads; the provider keeps a small pool of
//! logged-in sessions, each taken by one operation and given back after it. Object handles
//! are valid in every session of this process. The module is loaded and initialized once per
//! process and path and never finalized (other providers in the process may share it).
//!
//! Another process may rotate or destroy KEKs in the same token: the KEK objects are listed
//! again before a wrap when half of [`REFRESH_INTERVAL`] has passed since the last listing,
//! and when an unwrap names a version this provider does not hold (at most every 50 ms).
//! Rotations must not run in two processes at the same moment: a rotation that finds a
//! second object of the version it just made removes its own and fails.
//!
//! Login state is per process and token in PKCS#11: a second provider on a token that this
//! process has already logged in to works without checking its own PIN again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Instant;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as PError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::provider::wrap_aad;
use crate::{
    CryptoError, KekVersions, KeyProvider, KeyPurpose, REFRESH_INTERVAL, SecretKey, WrappedKey,
};

const PROVIDER: &str = "pkcs11";
/// IV length of the AES-GCM wrapping.
const IV_LEN: usize = 12;
/// Tag length of the AES-GCM wrapping.
const TAG_LEN: usize = 16;
/// Idle sessions kept in the pool; more may be open while operations run, and are closed
/// when given back.
const MAX_IDLE_SESSIONS: usize = 8;
/// Least time between two listings forced by an unknown KEK version.
const FORCED_LIST_GAP_MS: u64 = 50;

/// Where the token is and how to log in.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (a shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of the token holding the vault's keys.
    pub token_label: String,
    /// The user PIN. Never printed.
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .finish()
    }
}

fn perr(reason: impl Into<String>) -> CryptoError {
    CryptoError::Provider {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

/// `what failed: the token's error`. cryptoki's messages name the PKCS#11 function and
/// return value, never argument values, so no PIN or key byte can appear.
fn token_err(what: &str, e: &PError) -> CryptoError {
    perr(format!("{what}: {e}"))
}

fn rv(e: &PError) -> Option<RvError> {
    match e {
        PError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// The modules loaded in this process, by path: loaded and `C_Initialize`d once, never
/// finalized, so providers created one after another (or side by side) share them.
fn module(path: &Path) -> Result<Pkcs11, CryptoError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut loaded = MODULES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .map_err(|_| perr("module table lock poisoned"))?;
    if let Some(ctx) = loaded.get(path) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(path)
        .map_err(|e| perr(format!("cannot load the module {}: {e}", path.display())))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(e) if rv(&e) == Some(RvError::CryptokiAlreadyInitialized) => {}
        Err(e) => {
            return Err(token_err(
                &format!("cannot initialize the module {}", path.display()),
                &e,
            ));
        }
    }
    loaded.insert(path.to_owned(), ctx.clone());
    Ok(ctx)
}

/// The slot holding the token labelled `label`.
fn find_slot(ctx: &Pkcs11, label: &str, module: &Path) -> Result<Slot, CryptoError> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| token_err("cannot list the token slots", &e))?;
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        if info.label().trim_end() == label {
            return Ok(slot);
        }
    }
    Err(perr(format!(
        "no token labelled `{label}` in the module {}",
        module.display()
    )))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The KEK objects as last listed.
struct Keks {
    /// The highest version present.
    current: u32,
    handles: BTreeMap<u32, ObjectHandle>,
}

/// The PKCS#11 key provider. See the module documentation for what it keeps where.
pub struct Pkcs11Provider {
    ctx: Pkcs11,
    slot: Slot,
    module: PathBuf,
    token_label: String,
    /// Kept to log in sessions opened later; zeroized on drop, never printed.
    pin: AuthPin,
    vault_id: [u8; 16],
    /// `kura/<vault id hex>/`.
    prefix: String,
    root: ObjectHandle,
    keks: RwLock<Keks>,
    /// Idle logged-in sessions.
    pool: Mutex<Vec<Session>>,
    /// Serializes listings of the KEK objects.
    listing: Mutex<()>,
    /// Milliseconds since `born` at the last listing (0: never).
    listed_ms: AtomicU64,
    /// When an unknown version last made this provider list the token (see
    /// [`Pkcs11Provider::refresh_forced`]).
    forced_ms: AtomicU64,
    born: Instant,
}

impl std::fmt::Debug for Pkcs11Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.keks.read().map(|k| k.current).unwrap_or(0);
        f.debug_struct("Pkcs11Provider")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("vault_id", &hex(&self.vault_id))
            .field("current_kek", &current)
            .finish_non_exhaustive()
    }
}

/// A session taken from the pool, given back on drop unless marked broken.
struct Lease<'a> {
    session: Option<Session>,
    pool: &'a Mutex<Vec<Session>>,
    broken: bool,
}

impl Lease<'_> {
    fn get(&self) -> &Session {
        // Invariant: `session` is `Some` from construction until drop.
        self.session
            .as_ref()
            .expect("a lease holds its session until dropped")
    }

    /// Notes an error: a session the token no longer knows is not given back.
    fn check(&mut self, e: &PError) {
        if matches!(
            rv(e),
            Some(
                RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::DeviceRemoved
                    | RvError::DeviceError
                    | RvError::TokenNotPresent
                    | RvError::UserNotLoggedIn
            )
        ) {
            self.broken = true;
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.session.take()
            && !self.broken
            && let Ok(mut pool) = self.pool.lock()
            && pool.len() < MAX_IDLE_SESSIONS
        {
            pool.push(s);
        }
    }
}

/// Opens a read-write session and logs the user in (a token this process is already logged
/// in to accepts it as it is).
fn logged_in_session(
    ctx: &Pkcs11,
    slot: Slot,
    label: &str,
    pin: &AuthPin,
) -> Result<Session, CryptoError> {
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| token_err(&format!("cannot open a session with token `{label}`"), &e))?;
    match session.login(UserType::User, Some(pin)) {
        Ok(()) => Ok(session),
        Err(e) => match rv(&e) {
            Some(RvError::UserAlreadyLoggedIn) => Ok(session),
            Some(RvError::PinIncorrect) => Err(perr(format!(
                "wrong PIN for token `{label}` (the PIN itself is not shown)"
            ))),
            Some(RvError::PinLocked) => Err(perr(format!(
                "the user PIN of token `{label}` is locked after too many wrong PINs"
            ))),
            Some(RvError::PinInvalid | RvError::PinLenRange) => Err(perr(format!(
                "token `{label}` rejects the PIN's form (length or characters)"
            ))),
            Some(RvError::PinExpired) => Err(perr(format!(
                "the user PIN of token `{label}` has expired; set a new one"
            ))),
            _ => Err(token_err(&format!("cannot log in to token `{label}`"), &e)),
        },
    }
}

/// `(version, handle)` of every KEK object of the vault whose id is `id`, read through `s`.
fn list_keks(
    s: &Session,
    id: &[u8; 16],
    prefix: &str,
) -> Result<BTreeMap<u32, ObjectHandle>, PError> {
    let found = s.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Id(id.to_vec()),
    ])?;
    let mut out = BTreeMap::new();
    let kek_prefix = format!("{prefix}kek/");
    for h in found {
        let attrs = s.get_attributes(h, &[AttributeType::Label])?;
        for a in attrs {
            if let Attribute::Label(l) = a
                && let Ok(l) = std::str::from_utf8(&l)
                && let Some(v) = l.strip_prefix(&kek_prefix)
                && let Ok(v) = v.parse::<u32>()
                && v > 0
            {
                out.insert(v, h);
            }
        }
    }
    Ok(out)
}

fn find_root(s: &Session, id: &[u8; 16], prefix: &str) -> Result<Vec<ObjectHandle>, PError> {
    s.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Id(id.to_vec()),
        Attribute::Label(format!("{prefix}root").into_bytes()),
    ])
}

/// Generates KEK `version` in the token (see the module docs for its attributes).
fn generate_kek(
    s: &Session,
    id: &[u8; 16],
    prefix: &str,
    version: u32,
) -> Result<ObjectHandle, PError> {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Id(id.to_vec()),
            Attribute::Label(format!("{prefix}kek/{version}").into_bytes()),
        ],
    )
}

/// Generates the root secret in the token (see the module docs for its attributes).
fn generate_root(s: &Session, id: &[u8; 16], prefix: &str) -> Result<ObjectHandle, PError> {
    s.generate_key(
        &Mechanism::GenericSecretKeyGen,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Verify(false),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Id(id.to_vec()),
            Attribute::Label(format!("{prefix}root").into_bytes()),
        ],
    )
}

impl Pkcs11Provider {
    /// Creates the vault's keys in the token: KEK version 1 and the root secret, both
    /// generated inside the token.
    ///
    /// # Errors
    /// [`CryptoError::Provider`] if the module cannot be loaded, no token has the label, the
    /// PIN is wrong, keys of this vault already exist in the token (never overwritten), or
    /// the token cannot generate the keys.
    pub fn create(config: &Pkcs11Config, vault_id: [u8; 16]) -> Result<Self, CryptoError> {
        let (ctx, slot, pin, session) = Self::login(config)?;
        let prefix = format!("kura/{}/", hex(&vault_id));
        let label = &config.token_label;
        let existing_root =
            find_root(&session, &vault_id, &prefix).map_err(|e| token_err("cannot search", &e))?;
        let existing_keks =
            list_keks(&session, &vault_id, &prefix).map_err(|e| token_err("cannot search", &e))?;
        if !existing_root.is_empty() || !existing_keks.is_empty() {
            return Err(perr(format!(
                "token `{label}` already holds keys of vault {}; refusing to create them again",
                hex(&vault_id)
            )));
        }
        let kek = generate_kek(&session, &vault_id, &prefix, 1)
            .map_err(|e| token_err(&format!("token `{label}` cannot generate a KEK"), &e))?;
        if let Err(e) = generate_root(&session, &vault_id, &prefix) {
            let _ = session.destroy_object(kek);
            return Err(token_err(
                &format!("token `{label}` cannot generate the root secret"),
                &e,
            ));
        }
        Self::finish(config, vault_id, ctx, slot, pin, session)
    }

    /// Opens the vault's keys in the token.
    ///
    /// # Errors
    /// [`CryptoError::Provider`] if the module cannot be loaded, no token has the label, the
    /// PIN is wrong, or the token holds no keys of this vault.
    pub fn open(config: &Pkcs11Config, vault_id: [u8; 16]) -> Result<Self, CryptoError> {
        let (ctx, slot, pin, session) = Self::login(config)?;
        Self::finish(config, vault_id, ctx, slot, pin, session)
    }

    fn login(config: &Pkcs11Config) -> Result<(Pkcs11, Slot, AuthPin, Session), CryptoError> {
        let ctx = module(&config.module)?;
        let slot = find_slot(&ctx, &config.token_label, &config.module)?;
        let pin = AuthPin::from(config.pin.as_str());
        let session = logged_in_session(&ctx, slot, &config.token_label, &pin)?;
        Ok((ctx, slot, pin, session))
    }

    fn finish(
        config: &Pkcs11Config,
        vault_id: [u8; 16],
        ctx: Pkcs11,
        slot: Slot,
        pin: AuthPin,
        session: Session,
    ) -> Result<Self, CryptoError> {
        let prefix = format!("kura/{}/", hex(&vault_id));
        let label = &config.token_label;
        let roots =
            find_root(&session, &vault_id, &prefix).map_err(|e| token_err("cannot search", &e))?;
        let handles =
            list_keks(&session, &vault_id, &prefix).map_err(|e| token_err("cannot search", &e))?;
        let (root, current) = match (roots.as_slice(), handles.keys().max()) {
            ([root], Some(&current)) => (*root, current),
            ([], None) => {
                return Err(perr(format!(
                    "token `{label}` holds no keys of vault {}",
                    hex(&vault_id)
                )));
            }
            ([], Some(_)) => {
                return Err(perr(format!(
                    "token `{label}` holds KEKs of vault {} but not its root secret",
                    hex(&vault_id)
                )));
            }
            (_, None) => {
                return Err(perr(format!(
                    "token `{label}` holds the root secret of vault {} but no KEK",
                    hex(&vault_id)
                )));
            }
            _ => {
                return Err(perr(format!(
                    "token `{label}` holds more than one root secret of vault {}",
                    hex(&vault_id)
                )));
            }
        };
        let p = Pkcs11Provider {
            ctx,
            slot,
            module: config.module.clone(),
            token_label: label.clone(),
            pin,
            vault_id,
            prefix,
            root,
            keks: RwLock::new(Keks { current, handles }),
            pool: Mutex::new(vec![session]),
            listing: Mutex::new(()),
            listed_ms: AtomicU64::new(0),
            forced_ms: AtomicU64::new(0),
            born: Instant::now(),
        };
        p.listed_ms.store(p.now_ms(), Ordering::Relaxed);
        Ok(p)
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64 + 1
    }

    /// A logged-in session: an idle one from the pool, or a new one.
    fn session(&self) -> Result<Lease<'_>, CryptoError> {
        let idle = self
            .pool
            .lock()
            .map_err(|_| perr("session pool lock poisoned"))?
            .pop();
        let session = match idle {
            Some(s) => s,
            None => logged_in_session(&self.ctx, self.slot, &self.token_label, &self.pin)?,
        };
        Ok(Lease {
            session: Some(session),
            pool: &self.pool,
            broken: false,
        })
    }

    /// Lists the KEK objects again if the last listing is older than `gap_ms`.
    fn refresh(&self, gap_ms: u64) -> Result<(), CryptoError> {
        let last = self.listed_ms.load(Ordering::Relaxed);
        if last != 0 && self.now_ms().saturating_sub(last) < gap_ms {
            return Ok(());
        }
        let _one = self
            .listing
            .lock()
            .map_err(|_| perr("listing lock poisoned"))?;
        // Another thread may have listed while this one waited.
        let last = self.listed_ms.load(Ordering::Relaxed);
        if last != 0 && self.now_ms().saturating_sub(last) < gap_ms {
            return Ok(());
        }
        let mut lease = self.session()?;
        let handles = match list_keks(lease.get(), &self.vault_id, &self.prefix) {
            Ok(h) => h,
            Err(e) => {
                lease.check(&e);
                return Err(token_err("cannot list the KEKs", &e));
            }
        };
        drop(lease);
        let mut k = self
            .keks
            .write()
            .map_err(|_| perr("KEK table lock poisoned"))?;
        if let Some(&current) = handles.keys().max() {
            *k = Keks { current, handles };
        } else {
            // Every KEK gone (destroyed by hand): nothing wraps or unwraps any more.
            *k = Keks {
                current: 0,
                handles,
            };
        }
        self.listed_ms.store(self.now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// Lists the KEK objects now because an unwrap named a version this provider does not
    /// hold — at most every [`FORCED_LIST_GAP_MS`], counted apart from the periodic
    /// listing before wraps (which must not delay this one), so a flood of wrapped keys
    /// naming made-up versions cannot turn into a flood of token searches.
    fn refresh_forced(&self) -> Result<(), CryptoError> {
        let now = self.now_ms();
        let last = self.forced_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < FORCED_LIST_GAP_MS {
            return Ok(());
        }
        self.forced_ms.store(now, Ordering::Relaxed);
        self.forget_listing();
        self.refresh(0)
    }

    fn forget_listing(&self) {
        self.listed_ms.store(0, Ordering::Relaxed);
    }

    fn handle_of(&self, version: u32) -> Result<Option<ObjectHandle>, CryptoError> {
        Ok(self
            .keks
            .read()
            .map_err(|_| perr("KEK table lock poisoned"))?
            .handles
            .get(&version)
            .copied())
    }

    fn current(&self) -> Result<(u32, ObjectHandle), CryptoError> {
        let k = self
            .keks
            .read()
            .map_err(|_| perr("KEK table lock poisoned"))?;
        k.handles
            .get(&k.current)
            .map(|h| (k.current, *h))
            .ok_or(CryptoError::UnknownKekVersion(k.current))
    }

    /// Decrypts under `handle`. `Ok(None)`: the handle no longer names an object.
    fn decrypt(
        &self,
        handle: ObjectHandle,
        wrapped: &WrappedKey,
        context: &[u8],
    ) -> Result<Option<SecretKey>, CryptoError> {
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&wrapped.bytes[..IV_LEN]);
        let aad = wrap_aad(wrapped.kek_version, context);
        let params = GcmParams::new(&mut iv, &aad, (TAG_LEN as u64 * 8).into())
            .map_err(|e| token_err("cannot build GCM parameters", &e))?;
        let mut lease = self.session()?;
        match lease
            .get()
            .decrypt(&Mechanism::AesGcm(params), handle, &wrapped.bytes[IV_LEN..])
        {
            Ok(plain) => {
                let plain = Zeroizing::new(plain);
                SecretKey::from_slice(&plain).map(Some)
            }
            Err(e) => match rv(&e) {
                Some(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid) => Ok(None),
                // What tokens answer to a failed tag check: the standard says
                // CKR_ENCRYPTED_DATA_INVALID, SoftHSM2 2.6 answers CKR_GENERAL_ERROR, others
                // CKR_FUNCTION_FAILED or CKR_DATA_INVALID. The length was checked above and
                // the key handle is known, so these mean the data does not authenticate.
                Some(
                    RvError::EncryptedDataInvalid
                    | RvError::EncryptedDataLenRange
                    | RvError::DataInvalid
                    | RvError::DataLenRange
                    | RvError::FunctionFailed
                    | RvError::GeneralError,
                ) => Err(CryptoError::Integrity),
                _ => {
                    lease.check(&e);
                    Err(token_err("cannot unwrap in the token", &e))
                }
            },
        }
    }
}

impl KeyProvider for Pkcs11Provider {
    fn describe(&self) -> String {
        format!(
            "PKCS#11 token `{}` (module {})",
            self.token_label,
            self.module.display()
        )
    }

    fn vault_id(&self) -> [u8; 16] {
        self.vault_id
    }

    fn wrap(&self, dek: &SecretKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        // A failed listing keeps the versions known: serving goes on, and a rotation's final
        // pass re-wraps anything wrapped under the old version meanwhile.
        let _ = self.refresh(REFRESH_INTERVAL.as_millis() as u64 / 2);
        let (version, handle) = self.current()?;
        let mut iv: [u8; IV_LEN] = crate::random_nonce();
        let iv_copy = iv;
        let aad = wrap_aad(version, context);
        let params = GcmParams::new(&mut iv, &aad, (TAG_LEN as u64 * 8).into())
            .map_err(|e| token_err("cannot build GCM parameters", &e))?;
        let mut lease = self.session()?;
        let ct = match lease
            .get()
            .encrypt(&Mechanism::AesGcm(params), handle, dek.expose())
        {
            Ok(ct) => ct,
            Err(e) => {
                lease.check(&e);
                if matches!(
                    rv(&e),
                    Some(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid)
                ) {
                    self.forget_listing();
                }
                return Err(token_err("cannot wrap in the token", &e));
            }
        };
        drop(lease);
        if ct.len() != 32 + TAG_LEN {
            return Err(perr("the token returned a wrapped key of the wrong length"));
        }
        let mut bytes = Vec::with_capacity(IV_LEN + ct.len());
        bytes.extend_from_slice(&iv_copy);
        bytes.extend_from_slice(&ct);
        Ok(WrappedKey {
            kek_version: version,
            bytes,
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<SecretKey, CryptoError> {
        if wrapped.bytes.len() != IV_LEN + 32 + TAG_LEN {
            return Err(CryptoError::Malformed("wrapped key has the wrong length"));
        }
        let version = wrapped.kek_version;
        let handle = match self.handle_of(version)? {
            Some(h) => h,
            None => {
                self.refresh_forced()?;
                self.handle_of(version)?
                    .ok_or(CryptoError::UnknownKekVersion(version))?
            }
        };
        if let Some(key) = self.decrypt(handle, wrapped, context)? {
            return Ok(key);
        }
        // The object was destroyed (by another process): list again, try a new handle once.
        self.refresh_forced()?;
        let handle = self
            .handle_of(version)?
            .ok_or(CryptoError::UnknownKekVersion(version))?;
        self.decrypt(handle, wrapped, context)?
            .ok_or(CryptoError::UnknownKekVersion(version))
    }

    fn derive(&self, purpose: KeyPurpose) -> Result<SecretKey, CryptoError> {
        let mut msg = self.vault_id.to_vec();
        msg.extend_from_slice(&purpose.label());
        let mut lease = self.session()?;
        let mac = match lease.get().sign(&Mechanism::Sha256Hmac, self.root, &msg) {
            Ok(m) => Zeroizing::new(m),
            Err(e) => {
                lease.check(&e);
                return Err(token_err("cannot derive a secret in the token", &e));
            }
        };
        SecretKey::from_slice(&mac)
    }

    fn kek_versions(&self) -> Result<KekVersions, CryptoError> {
        self.forget_listing();
        self.refresh(0)?;
        let k = self
            .keks
            .read()
            .map_err(|_| perr("KEK table lock poisoned"))?;
        Ok(KekVersions {
            current: k.current,
            all: k.handles.keys().copied().collect(),
        })
    }

    fn rotate_kek(&self) -> Result<u32, CryptoError> {
        self.forget_listing();
        self.refresh(0)?;
        let next = {
            let k = self
                .keks
                .read()
                .map_err(|_| perr("KEK table lock poisoned"))?;
            k.handles.keys().max().copied().unwrap_or(0).max(k.current) + 1
        };
        let mut lease = self.session()?;
        let made = match generate_kek(lease.get(), &self.vault_id, &self.prefix, next) {
            Ok(h) => h,
            Err(e) => {
                lease.check(&e);
                return Err(token_err(
                    &format!("token `{}` cannot generate a KEK", self.token_label),
                    &e,
                ));
            }
        };
        // Two rotations at once would make two objects of one version: give ours up.
        let twins = lease.get().find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Id(self.vault_id.to_vec()),
            Attribute::Label(format!("{}kek/{next}", self.prefix).into_bytes()),
        ]);
        match twins {
            Ok(found) if found.len() == 1 => {}
            Ok(_) => {
                let _ = lease.get().destroy_object(made);
                return Err(perr(
                    "another process rotated the KEKs at the same moment; nothing changed here, try again",
                ));
            }
            Err(e) => {
                let _ = lease.get().destroy_object(made);
                lease.check(&e);
                return Err(token_err("cannot check the new KEK", &e));
            }
        }
        drop(lease);
        self.forget_listing();
        self.refresh(0)?;
        Ok(next)
    }

    fn destroy_kek(&self, version: u32) -> Result<(), CryptoError> {
        self.forget_listing();
        self.refresh(0)?;
        let (current, handle) = {
            let k = self
                .keks
                .read()
                .map_err(|_| perr("KEK table lock poisoned"))?;
            (k.current, k.handles.get(&version).copied())
        };
        if version == current {
            return Err(CryptoError::KekInUse {
                version,
                reason: "it is the current version; rotate first",
            });
        }
        let handle = handle.ok_or(CryptoError::UnknownKekVersion(version))?;
        let mut lease = self.session()?;
        if let Err(e) = lease.get().destroy_object(handle) {
            lease.check(&e);
            return Err(token_err(
                &format!("token `{}` cannot destroy KEK {version}", self.token_label),
                &e,
            ));
        }
        drop(lease);
        self.forget_listing();
        self.refresh(0)
    }
}
