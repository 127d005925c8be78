//! Peppered Argon2id password hashing (RFC 9106) with PHC strings.
//!
//! * **Algorithm**: Argon2id, version 0x13, 16-byte random salt, 32-byte tag,
//!   from the RustCrypto `argon2` crate; nothing here reimplements a hash.
//! * **Parameters**: never weaker than m = 19456 KiB, t = 2, p = 1 (OWASP's
//!   Argon2id floor). Configuration may only raise them; a weaker setting is
//!   refused with `hash_params_too_weak`.
//! * **Pepper**: a 256-bit key from the key provider, fed to Argon2 as the
//!   secret input K (RFC 9106 §3.1, `Argon2::new_with_secret`). It is not in
//!   the PHC string, so a dumped hash cannot be verified, nor attacked
//!   offline, without it. The pepper's version goes into the PHC `keyid`
//!   parameter, which is metadata only (not an Argon2 input), so peppers can
//!   rotate: hashes under an older pepper still verify and ask for a rehash.
//! * **Rehash**: [`Verified::needs_rehash`] is set when the stored hash is
//!   weaker than the current parameters or under an older pepper.
//! * **Timing**: the tag comparison is constant-time (`password-hash`'s
//!   `Output` equality). [`PasswordHasher::verify_unknown_account`] runs one
//!   full verification against a dummy hash at the current parameters, so a
//!   login for an unknown id costs the same as a wrong password.
//! * **Input**: passwords are NFKC-normalized before hashing and verifying.
//!
//! Stored parameters are bounded (m ≤ 4 GiB, t ≤ 64, p ≤ 64) before any work
//! is done, so a tampered row cannot make one login allocate without limit.
//!
//! **Working memory.** Argon2's m KiB of blocks live in a [`Memory`] buffer
//! that the pool keeps per worker and reuses, wiped after every computation.
//! Allocating 19 MiB per hash instead would let the allocator keep freed
//! blocks around (glibc's adaptive mmap threshold grew a process to ~150 MiB
//! after ten sequential hashes in our measurement) and fault 19 MiB of fresh
//! pages in each time. The PHC string is therefore assembled here from the
//! `password-hash` types rather than through its `PasswordHasher` trait,
//! which always allocates.
//! What it leaves out: scheduling (see [`crate::pool`]), the storage of hashes.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, KeyId, Params, ParamsBuilder, Version};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::{CredentialError, Result};
use crate::rng::random_bytes;
use crate::secret::{Password, Pepper};

/// Floor for memory cost in KiB (19 MiB).
pub const MIN_M_KIB: u32 = 19_456;
/// Floor for the number of passes.
pub const MIN_T: u32 = 2;
/// Floor for parallelism (lanes).
pub const MIN_P: u32 = 1;
/// Highest memory cost accepted in configuration or in a stored hash (4 GiB).
pub const MAX_M_KIB: u32 = 4 * 1024 * 1024;
/// Highest pass count accepted.
pub const MAX_T: u32 = 64;
/// Highest parallelism accepted.
pub const MAX_P: u32 = 64;
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
/// Tag (output) length in bytes.
pub const TAG_LEN: usize = 32;
/// Longest raw password (UTF-8 bytes) the hasher accepts. Longer input
/// cannot have passed the policy (at most 4 × 1024 code points), so a login
/// with it is answered `invalid_credentials` without normalizing or hashing
/// megabytes sent by a client.
pub const MAX_PASSWORD_BYTES: usize = 16 * 1024;

/// Argon2id cost parameters, as configured under `[passwords.argon2]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    /// Memory cost in KiB (≥ 19456).
    pub m_kib: u32,
    /// Number of passes (≥ 2).
    pub t: u32,
    /// Lanes (≥ 1). This crate computes lanes on one thread; raising `p`
    /// raises cost without using more cores.
    pub p: u32,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            m_kib: MIN_M_KIB,
            t: MIN_T,
            p: MIN_P,
        }
    }
}

impl Argon2Config {
    /// Checks the floors and the upper bounds.
    ///
    /// # Errors
    /// `hash_params_too_weak` naming the parameter at fault.
    pub fn validate(&self) -> Result<()> {
        let weak = |reason: String| Err(CredentialError::HashParamsTooWeak { reason });
        if self.m_kib < MIN_M_KIB {
            return weak(format!("m_kib {} is below {MIN_M_KIB}", self.m_kib));
        }
        if self.t < MIN_T {
            return weak(format!("t {} is below {MIN_T}", self.t));
        }
        if self.p < MIN_P {
            return weak(format!("p {} is below {MIN_P}", self.p));
        }
        if self.m_kib > MAX_M_KIB || self.t > MAX_T || self.p > MAX_P {
            return weak(format!(
                "parameters above the supported maximum (m_kib {MAX_M_KIB}, t {MAX_T}, p {MAX_P})"
            ));
        }
        if self.m_kib < 8 * self.p {
            return weak("m_kib must be at least 8 × p".to_owned());
        }
        Ok(())
    }
}

/// A successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Verified {
    /// The stored hash is weaker than the current parameters or made under an
    /// older pepper: hash the (now known good) password again and store it.
    pub needs_rehash: bool,
}

/// Builds an Argon2id (v0x13) context keyed with `secret` (the pepper) as
/// Argon2's secret input K. This is the single construction point used by
/// hashing, verification and the RFC 9106 known-answer test.
pub(crate) fn argon2id_with_secret(secret: &[u8], params: Params) -> Result<Argon2<'_>> {
    Argon2::new_with_secret(secret, Algorithm::Argon2id, Version::V0x13, params)
        .map_err(|_| CredentialError::HashingFailed)
}

/// Argon2 working memory (1 KiB blocks), reused across computations.
///
/// Invariant: holds no password-derived data between computations (wiped by
/// [`compute`] after each use); grows to the largest `m` used and shrinks
/// back when a stored hash needed more than the current parameters.
#[derive(Default)]
pub(crate) struct Memory(Vec<Block>);

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memory({} KiB)", self.0.len())
    }
}

/// Runs Argon2id with `secret` as K over `pwd` and `salt` into `out`, in
/// `memory`, then wipes the memory. The only place Argon2 is run.
pub(crate) fn compute(
    secret: &[u8],
    params: Params,
    pwd: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Memory,
) -> Result<()> {
    let keep = memory.0.len();
    let argon = argon2id_with_secret(secret, params)?;
    let n = argon.params().block_count();
    if memory.0.len() < n {
        memory.0.resize(n, Block::default());
    }
    let blocks = &mut memory.0[..n];
    let result = argon.hash_password_into_with_memory(pwd, salt, out, &mut *blocks);
    blocks.iter_mut().for_each(Zeroize::zeroize);
    if keep > 0 && memory.0.len() > keep {
        // A stored hash with a larger m than usual: give the extra back.
        memory.0.truncate(keep);
        memory.0.shrink_to_fit();
    }
    result.map_err(|_| CredentialError::HashingFailed)
}

/// Peppered Argon2id hasher holding the current parameters and peppers.
///
/// Invariants: parameters are at or above the floors; the current pepper is
/// the one new hashes use; `Debug` shows versions and parameters only.
pub struct PasswordHasher {
    config: Argon2Config,
    params: Params,
    pepper: Pepper,
    previous: Vec<Pepper>,
    dummy_phc: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("config", &self.config)
            .field("pepper", &self.pepper)
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

fn keyid_for(version: u32) -> Result<KeyId> {
    KeyId::new(&version.to_be_bytes()).map_err(|_| CredentialError::HashingFailed)
}

impl PasswordHasher {
    /// A hasher with validated parameters and the current pepper. Computes
    /// one dummy hash (for [`Self::verify_unknown_account`]), so construction
    /// costs one Argon2 run.
    ///
    /// # Errors
    /// `hash_params_too_weak` if `config` is below the floors.
    pub fn new(config: Argon2Config, pepper: Pepper) -> Result<Self> {
        Self::with_previous_peppers(config, pepper, Vec::new())
    }

    /// As [`Self::new`], also accepting hashes made under older peppers
    /// (they verify, then report `needs_rehash`).
    ///
    /// # Errors
    /// `hash_params_too_weak` if `config` is below the floors.
    pub fn with_previous_peppers(
        config: Argon2Config,
        pepper: Pepper,
        previous: Vec<Pepper>,
    ) -> Result<Self> {
        config.validate()?;
        let params = ParamsBuilder::new()
            .m_cost(config.m_kib)
            .t_cost(config.t)
            .p_cost(config.p)
            .output_len(TAG_LEN)
            .keyid(keyid_for(pepper.version())?)
            .build()
            .map_err(|e| CredentialError::HashParamsTooWeak {
                reason: e.to_string(),
            })?;
        let mut hasher = Self {
            config,
            params,
            pepper,
            previous,
            dummy_phc: String::new(),
        };
        let mut dummy = [0u8; 32];
        random_bytes(&mut dummy)?;
        hasher.dummy_phc = hasher.hash(&Password::new(hex::encode(dummy)))?;
        Ok(hasher)
    }

    /// The current parameters.
    #[must_use]
    pub fn config(&self) -> Argon2Config {
        self.config
    }

    /// Hashes a password (NFKC-normalized first) into a PHC string such as
    /// `$argon2id$v=19$m=19456,t=2,p=1,keyid=AAAAAQ$<salt>$<tag>`.
    ///
    /// Costs one Argon2id run at the current parameters (m KiB of memory).
    ///
    /// # Errors
    /// `password_too_long` above [`MAX_PASSWORD_BYTES`]; `rng_failed` or
    /// `hashing_failed`.
    pub fn hash(&self, password: &Password) -> Result<String> {
        self.hash_in(password, &mut Memory::default())
    }

    fn check_size(password: &Password) -> Result<()> {
        if password.expose_raw().len() > MAX_PASSWORD_BYTES {
            return Err(CredentialError::PasswordTooLong {
                max: MAX_PASSWORD_BYTES,
            });
        }
        Ok(())
    }

    /// [`Self::hash`] in caller-provided working memory.
    pub(crate) fn hash_in(&self, password: &Password, memory: &mut Memory) -> Result<String> {
        Self::check_size(password)?;
        let mut salt = [0u8; SALT_LEN];
        random_bytes(&mut salt)?;
        let normalized = password.normalized();
        let mut tag = [0u8; TAG_LEN];
        compute(
            self.pepper.key(),
            self.params.clone(),
            normalized.as_bytes(),
            &salt,
            &mut tag,
            memory,
        )?;
        let failed = |_| CredentialError::HashingFailed;
        let salt = SaltString::encode_b64(&salt).map_err(failed)?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(0x13),
            params: ParamsString::try_from(&self.params).map_err(failed)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&tag).map_err(failed)?),
        };
        Ok(phc.to_string())
    }

    /// Verifies a password against a stored PHC string.
    ///
    /// # Errors
    /// `invalid_credentials` on a mismatch (or input above
    /// [`MAX_PASSWORD_BYTES`]); `password_hash_malformed` if the
    /// string is not a bounded Argon2id v19 PHC string with a 4-byte keyid;
    /// `pepper_unknown` if its pepper version is not held.
    pub fn verify(&self, password: &Password, phc: &str) -> Result<Verified> {
        self.verify_in(password, phc, &mut Memory::default())
    }

    /// [`Self::verify`] in caller-provided working memory.
    pub(crate) fn verify_in(
        &self,
        password: &Password,
        phc: &str,
        memory: &mut Memory,
    ) -> Result<Verified> {
        if Self::check_size(password).is_err() {
            return Err(CredentialError::InvalidCredentials);
        }
        let malformed = |reason| CredentialError::HashMalformed { reason };
        let hash = PasswordHash::new(phc).map_err(|_| malformed("not a PHC string"))?;
        if hash.algorithm.as_str() != "argon2id" {
            return Err(malformed("algorithm is not argon2id"));
        }
        if hash.version != Some(0x13) {
            return Err(malformed("argon2 version is not 19"));
        }
        let stored = Params::try_from(&hash).map_err(|_| malformed("bad parameters"))?;
        if stored.m_cost() > MAX_M_KIB || stored.t_cost() > MAX_T || stored.p_cost() > MAX_P {
            return Err(malformed("parameters above the supported maximum"));
        }
        let tag_len = hash.hash.map(|h| h.len()).unwrap_or(0);
        if !(16..=64).contains(&tag_len) {
            return Err(malformed("tag length out of range"));
        }
        let salt_len = hash.salt.map(|s| s.len()).unwrap_or(0);
        if salt_len < 11 {
            // 11 base64 characters = 8 bytes, Argon2's minimum salt.
            return Err(malformed("salt too short"));
        }
        let keyid: [u8; 4] = stored
            .keyid()
            .try_into()
            .map_err(|_| malformed("keyid missing or not 4 bytes"))?;
        let version = u32::from_be_bytes(keyid);
        let pepper = std::iter::once(&self.pepper)
            .chain(self.previous.iter())
            .find(|p| p.version() == version)
            .ok_or(CredentialError::PepperUnknown { version })?;
        let mut salt_buf = [0u8; 64];
        let salt = hash
            .salt
            .ok_or(malformed("salt missing"))?
            .decode_b64(&mut salt_buf)
            .map_err(|_| malformed("salt is not base64"))?;
        let expected = hash.hash.ok_or(malformed("tag missing"))?;
        let mut computed = [0u8; 64];
        let computed = &mut computed[..tag_len];
        let normalized = password.normalized();
        compute(
            pepper.key(),
            stored.clone(),
            normalized.as_bytes(),
            salt,
            computed,
            memory,
        )?;
        if !bool::from(computed.ct_eq(expected.as_bytes())) {
            return Err(CredentialError::InvalidCredentials);
        }
        let needs_rehash = version != self.pepper.version()
            || stored.m_cost() < self.config.m_kib
            || stored.t_cost() < self.config.t
            || stored.p_cost() < self.config.p
            || tag_len != TAG_LEN
            || !stored.data().is_empty();
        Ok(Verified { needs_rehash })
    }

    /// The login path for an id that matches no account (or an account
    /// without a password): runs one full verification against a dummy hash
    /// at the current parameters and always answers `invalid_credentials`,
    /// so the caller's timing and answer are those of a wrong password.
    #[must_use]
    pub fn verify_unknown_account(&self, password: &Password) -> CredentialError {
        self.verify_unknown_account_in(password, &mut Memory::default())
    }

    /// [`Self::verify_unknown_account`] in caller-provided working memory.
    pub(crate) fn verify_unknown_account_in(
        &self,
        password: &Password,
        memory: &mut Memory,
    ) -> CredentialError {
        // The dummy password is 64 random hex digits never revealed, so this
        // cannot succeed; the result is discarded either way.
        let _ = self.verify_in(password, &self.dummy_phc, memory);
        CredentialError::InvalidCredentials
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::AssociatedData;
    use argon2::password_hash::PasswordVerifier as _;
    use std::sync::OnceLock;

    fn pepper(v: u32) -> Pepper {
        Pepper::new(v, [v as u8; 32])
    }

    /// One hasher at the real default parameters, shared by the tests.
    fn hasher() -> &'static PasswordHasher {
        static H: OnceLock<PasswordHasher> = OnceLock::new();
        H.get_or_init(|| PasswordHasher::new(Argon2Config::default(), pepper(1)).expect("hasher"))
    }

    /// RFC 9106 §5.3: Argon2id, v=0x13, m=32 KiB, t=3, p=4, password 32×0x01,
    /// salt 16×0x02, secret 8×0x03, associated data 12×0x04, tag 32 bytes.
    #[test]
    fn rfc9106_argon2id_known_answer() {
        let params = ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .output_len(32)
            .data(AssociatedData::new(&[0x04; 12]).expect("ad"))
            .build()
            .expect("params");
        let secret = [0x03u8; 8];
        let mut tag = [0u8; 32];
        let mut memory = Memory::default();
        compute(
            &secret,
            params,
            &[0x01; 32],
            &[0x02; 16],
            &mut tag,
            &mut memory,
        )
        .expect("hash");
        assert_eq!(
            hex::encode(tag),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
        // The working memory is wiped after use.
        assert_eq!(memory.0.len(), 32);
        assert!(memory.0.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
    }

    #[test]
    fn phc_has_floor_params_and_keyid() {
        let phc = hasher()
            .hash(&Password::from("correct horse battery"))
            .expect("hash");
        assert!(
            phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1,keyid=AAAAAQ$"),
            "{phc}"
        );
    }

    #[test]
    fn verify_roundtrip_nfkc_and_mismatch() {
        let h = hasher();
        let phc = h.hash(&Password::from("ｐａｓｓ word ７")).expect("hash");
        let ok = h
            .verify(&Password::from("pass word 7"), &phc)
            .expect("verify");
        assert!(!ok.needs_rehash);
        let err = h
            .verify(&Password::from("pass word 8"), &phc)
            .expect_err("mismatch");
        assert_eq!(err.code(), "invalid_credentials");
        assert_eq!(
            h.verify_unknown_account(&Password::from("x")).code(),
            "invalid_credentials"
        );
    }

    #[test]
    fn without_pepper_the_library_alone_cannot_verify() {
        let pw = "the right password";
        let phc = hasher().hash(&Password::from(pw)).expect("hash");
        let parsed = PasswordHash::new(&phc).expect("parse");
        // Plain Argon2 (no secret) with the right password: must fail.
        assert!(
            Argon2::default()
                .verify_password(pw.as_bytes(), &parsed)
                .is_err()
        );
        // Same with a wrong pepper.
        let wrong = [9u8; 32];
        let argon = argon2id_with_secret(&wrong, Params::default()).expect("ctx");
        assert!(argon.verify_password(pw.as_bytes(), &parsed).is_err());
        // With the right pepper, the library verifies it: it is standard Argon2id.
        let right = pepper(1);
        let argon = argon2id_with_secret(right.key(), Params::default()).expect("ctx");
        assert!(argon.verify_password(pw.as_bytes(), &parsed).is_ok());
    }

    #[test]
    fn oversized_input_is_refused_without_hashing() {
        let h = hasher();
        let phc = h.hash(&Password::from("short and fine")).expect("hash");
        let huge = Password::new("x".repeat(MAX_PASSWORD_BYTES + 1));
        let t = std::time::Instant::now();
        assert_eq!(
            h.verify(&huge, &phc).expect_err("huge").code(),
            "invalid_credentials"
        );
        assert_eq!(h.hash(&huge).expect_err("huge").code(), "password_too_long");
        assert!(t.elapsed() < std::time::Duration::from_millis(5));
    }

    /// Unknown accounts cost what a wrong password costs. Interleaved runs,
    /// best of each, generous bounds: a coarse guard against a shortcut
    /// (such as answering unknown ids without hashing), not a precise test.
    #[test]
    fn unknown_account_costs_the_same_as_a_wrong_password() {
        let h = hasher();
        let phc = h.hash(&Password::from("the real password")).expect("hash");
        let wrong = Password::from("a wrong password");
        let mut memory = Memory::default();
        let (mut best_known, mut best_unknown) = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let _ = h.verify_in(&wrong, &phc, &mut memory);
            best_known = best_known.min(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            let _ = h.verify_unknown_account_in(&wrong, &mut memory);
            best_unknown = best_unknown.min(t.elapsed().as_secs_f64());
        }
        let ratio = best_unknown / best_known;
        assert!(
            (0.6..1.6).contains(&ratio),
            "unknown/known time ratio {ratio}"
        );
    }

    #[test]
    fn weaker_config_is_refused() {
        for cfg in [
            Argon2Config {
                m_kib: 19_455,
                ..Argon2Config::default()
            },
            Argon2Config {
                t: 1,
                ..Argon2Config::default()
            },
            Argon2Config {
                p: 0,
                ..Argon2Config::default()
            },
            Argon2Config {
                m_kib: MAX_M_KIB + 1,
                ..Argon2Config::default()
            },
        ] {
            let e = PasswordHasher::new(cfg, pepper(1)).expect_err("weak");
            assert_eq!(e.code(), "hash_params_too_weak");
        }
    }

    #[test]
    fn rehash_when_params_rise_or_pepper_rotates() {
        let old = hasher();
        let phc = old
            .hash(&Password::from("a long passphrase"))
            .expect("hash");
        let stronger = PasswordHasher::new(
            Argon2Config {
                m_kib: 24_576,
                t: 2,
                p: 1,
            },
            pepper(1),
        )
        .expect("hasher");
        let v = stronger
            .verify(&Password::from("a long passphrase"), &phc)
            .expect("ok");
        assert!(v.needs_rehash);
        let rotated = PasswordHasher::with_previous_peppers(
            Argon2Config::default(),
            pepper(2),
            vec![pepper(1)],
        )
        .expect("hasher");
        let v = rotated
            .verify(&Password::from("a long passphrase"), &phc)
            .expect("ok");
        assert!(v.needs_rehash);
        let new_phc = rotated
            .hash(&Password::from("a long passphrase"))
            .expect("hash");
        assert!(new_phc.contains("keyid=AAAAAg"));
        // A hasher that holds only pepper 2 refuses the old hash by version.
        let only_new = PasswordHasher::new(Argon2Config::default(), pepper(2)).expect("hasher");
        let e = only_new
            .verify(&Password::from("a long passphrase"), &phc)
            .expect_err("unknown");
        assert_eq!(e.code(), "pepper_unknown");
    }

    #[test]
    fn malformed_and_hostile_hashes_are_refused_cheaply() {
        let h = hasher();
        let pw = Password::from("whatever it is");
        for phc in [
            "",
            "$2b$12$abcdefghijklmnopqrstuu5Wq0bIYPJcXo3aVN0pIyFMFbh9bHqTe",
            "$argon2i$v=19$m=19456,t=2,p=1,keyid=AAAAAQ$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=16$m=19456,t=2,p=1,keyid=AAAAAQ$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=4294967295,t=2,p=1,keyid=AAAAAQ$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let e = h.verify(&pw, phc).expect_err(phc);
            assert_eq!(e.code(), "password_hash_malformed", "{phc}");
        }
    }
}
