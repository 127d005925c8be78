//! Credentials for kura: passwords, login throttling, recovery tokens and the
//! text of the mails that go with them. Pure logic — no storage, no network,
//! no mail delivery (kura-mail sends what [`recovery_mail`] composes), no
//! files: the breached-password filter is built from a stream and decoded from
//! bytes here, and `kura_admin::passwords` reads and writes its files.
//! `kura-vault` and `kura-server` wire these pieces to the store and the
//! routes (issue 6); the password benchmark is in `kura-bench`.
//!
//! # Main types and why
//! * [`PasswordPolicy`] — NIST SP 800-63B rules: length 8 (15 if the password
//!   is the only factor) to 256 code points after NFKC, every Unicode
//!   character accepted, no composition rules; refuses passwords that contain
//!   the login id or e-mail address, and passwords in the [`BreachFilter`].
//! * [`PasswordHasher`] — Argon2id (RFC 9106) at m ≥ 19456 KiB, t ≥ 2,
//!   p ≥ 1, PHC strings, **peppered** through Argon2's secret input with a key
//!   from the key provider: a database dump alone cannot be attacked offline.
//!   Verification reports when a hash should be redone (parameters raised,
//!   pepper rotated); unknown accounts cost the same as wrong passwords.
//! * [`HashPool`] — at most `workers` Argon2 runs at once and a short queue;
//!   anything beyond is refused at once with `busy` (HTTP 503), so a login
//!   flood cannot exhaust memory.
//! * [`BreachFilter`] — a binary fuse filter (2⁻¹⁶ false positives, no false
//!   negatives) over SHA-1 prefixes, buildable from a plain list or from the
//!   Pwned Passwords hash list; a default built from 30 000 common passwords
//!   ships inside the crate.
//! * [`ThrottleState`] — progressive per-account delays and a lock at 100
//!   consecutive failures; the clock is a parameter.
//! * [`recovery`] — 256-bit single-use tokens `kura_rt_…`, hashed with SHA-256
//!   (the caller keys the stored form), valid 30 minutes. Recovery never
//!   trusts knowledge of personal data.
//! * [`recovery_mail`], [`password_changed_mail`] — the messages, composed in
//!   en, ja and de ([`ComposedMail`]); delivery is kura-mail's.
//! * [`PasswordsConfig`] — the `[passwords]` section; builds the policy and
//!   the pool at start-up.
//!
//! Every error is a [`CredentialError`] with a stable snake_case code; none
//! carries a password, token, pepper or address. Secrets zeroize on drop and
//! print as `<redacted>`.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use kura_credentials::{
//!     Argon2Config, BreachFilter, Identity, Password, PasswordHasher, PasswordPolicy, Pepper,
//!     PolicyConfig,
//! };
//!
//! # fn main() -> Result<(), kura_credentials::CredentialError> {
//! let blocklist = Arc::new(BreachFilter::embedded_default()?.clone());
//! let policy = PasswordPolicy::new(&PolicyConfig::default(), blocklist)?;
//! let me = Identity { login_id: Some("taro"), email: Some("taro@example.jp") };
//!
//! assert_eq!(policy.check(&Password::from("password123"), me).unwrap_err().code(),
//!            "password_breached");
//! let pw = Password::from("a quiet storehouse by the river");
//! policy.check(&pw, me)?;
//!
//! let pepper = Pepper::new(1, [7u8; 32]); // from the key provider in real use
//! let hasher = PasswordHasher::new(Argon2Config::default(), pepper)?;
//! let phc = hasher.hash(&pw)?;
//! assert!(!hasher.verify(&pw, &phc)?.needs_rehash);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod blocklist;
mod config;
mod error;
mod hash;
mod policy;
mod pool;
pub mod recovery;
mod rng;
mod secret;
mod templates;
mod throttle;

pub use blocklist::{
    BreachFilter, BuildOptions, BuildStats, FALSE_POSITIVE_RATE, InputFormat, build_filter,
    build_filter_with_stats, key_of_normalized,
};
pub use config::PasswordsConfig;
pub use error::{CredentialError, Result};
pub use hash::{
    Argon2Config, MAX_M_KIB, MAX_P, MAX_PASSWORD_BYTES, MAX_T, MIN_M_KIB, MIN_P, MIN_T,
    PasswordHasher, Verified,
};
pub use policy::{
    DEFAULT_MAX_LEN, Identity, MAX_LEN_CEILING, MAX_LEN_FLOOR, MIN_LEN_MULTI_FACTOR,
    MIN_LEN_SINGLE_FACTOR, PasswordPolicy, PolicyConfig,
};
pub use pool::{HashPool, PoolConfig};
pub use recovery::{IssueLimit, RecoveryToken, StoredRecoveryToken};
pub use secret::{Password, Pepper};
pub use templates::{ComposedMail, Language, password_changed_mail, recovery_mail};
pub use throttle::{MAX_LOCK_AFTER, ThrottlePolicy, ThrottleState};
