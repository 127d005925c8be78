//! The `[passwords]` section of the configuration file, in one struct, and
//! the constructors the server calls at start-up.
//!
//! ```toml
//! [passwords]
//! single_factor = false
//! max_len = 256
//! blocklist = "/var/lib/kura/pwned.kbf"   # optional; default: embedded filter
//! workers = 2                              # optional; default: cores
//! queue = 4                                # optional; default: 2 × workers
//! [passwords.argon2]
//! m_kib = 19456
//! t = 2
//! p = 1
//! [passwords.throttle]
//! lock_after = 100
//! ```
//!
//! The `[mail]` section is `kura_mail::MailConfig`. What this module leaves out:
//! reading files (the configuration itself and the `blocklist` filter, which
//! `kura_admin::passwords::breach_filter` loads), `KURA_*` overrides (the
//! binary does that) and where the pepper comes from (the key provider).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::blocklist::BreachFilter;
use crate::error::Result;
use crate::hash::{Argon2Config, PasswordHasher};
use crate::policy::{DEFAULT_MAX_LEN, PasswordPolicy, PolicyConfig};
use crate::pool::{HashPool, PoolConfig};
use crate::secret::Pepper;
use crate::throttle::ThrottlePolicy;

/// `[passwords]`: policy, blocklist, Argon2 parameters, pool and throttling.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordsConfig {
    /// The password is the only authentication factor: minimum length 15.
    pub single_factor: bool,
    /// Raise the minimum length above the floor (8, or 15).
    pub min_len: Option<usize>,
    /// Maximum length in code points (at least 64).
    pub max_len: usize,
    /// A filter file built by `kura passwords build-filter`; `None` uses the
    /// embedded default. This crate only carries the path; the caller reads it.
    pub blocklist: Option<PathBuf>,
    /// Concurrent Argon2 computations (default: number of cores).
    pub workers: Option<usize>,
    /// Requests that may wait for a worker (default: 2 × workers).
    pub queue: Option<usize>,
    /// Argon2id parameters; may only be raised above the floor.
    pub argon2: Argon2Config,
    /// Login throttling.
    pub throttle: ThrottlePolicy,
    /// The pepper version new hashes are made with (default 1). Raising it rotates the
    /// pepper: hashes under earlier versions still verify and are made again under this
    /// one at the next login (their PHC `keyid` says which version made them).
    pub pepper_version: u32,
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        Self {
            single_factor: false,
            min_len: None,
            max_len: DEFAULT_MAX_LEN,
            blocklist: None,
            workers: None,
            queue: None,
            argon2: Argon2Config::default(),
            throttle: ThrottlePolicy::default(),
            pepper_version: 1,
        }
    }
}

impl PasswordsConfig {
    /// The policy part.
    #[must_use]
    pub fn policy_config(&self) -> PolicyConfig {
        PolicyConfig {
            single_factor: self.single_factor,
            min_len: self.min_len,
            max_len: self.max_len,
        }
    }

    /// The pool sizing, defaults filled in.
    #[must_use]
    pub fn pool_config(&self) -> PoolConfig {
        let default = PoolConfig::default();
        let workers = self.workers.unwrap_or(default.workers);
        PoolConfig {
            workers,
            queue: self.queue.unwrap_or(2 * workers),
        }
    }

    /// Builds the policy around `blocklist` (the filter the `blocklist` path
    /// names, or [`BreachFilter::embedded_default`]; the caller loads it).
    ///
    /// # Errors
    /// As [`PasswordPolicy::new`].
    pub fn build_policy(&self, blocklist: Arc<BreachFilter>) -> Result<PasswordPolicy> {
        PasswordPolicy::new(&self.policy_config(), blocklist)
    }

    /// Builds the hashing pool around a hasher keyed with `pepper` (and any
    /// older peppers still accepted). Runs one Argon2 hash (the dummy).
    ///
    /// # Errors
    /// `hash_params_too_weak`, `invalid_config`.
    pub fn build_pool(&self, pepper: Pepper, previous_peppers: Vec<Pepper>) -> Result<HashPool> {
        self.throttle.validate()?;
        let hasher = PasswordHasher::with_previous_peppers(self.argon2, pepper, previous_peppers)?;
        HashPool::new(Arc::new(hasher), self.pool_config())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides_from_json() {
        // The binary reads TOML; any serde format exercises the same shape.
        let c: PasswordsConfig = serde_json::from_str(
            r#"{"single_factor": true, "workers": 3,
                "argon2": {"m_kib": 65536}, "throttle": {"lock_after": 50}}"#,
        )
        .expect("parse");
        assert_eq!(
            c.argon2,
            Argon2Config {
                m_kib: 65536,
                t: 2,
                p: 1
            }
        );
        assert_eq!(
            c.pool_config(),
            PoolConfig {
                workers: 3,
                queue: 6
            }
        );
        assert_eq!(c.throttle.lock_after, 50);
        let blocklist = Arc::new(BreachFilter::empty());
        assert_eq!(c.build_policy(blocklist).expect("policy").min_len(), 15);
        assert!(serde_json::from_str::<PasswordsConfig>(r#"{"nope": 1}"#).is_err());
        let weak: PasswordsConfig = serde_json::from_str(r#"{"argon2": {"t": 1}}"#).expect("parse");
        let e = weak
            .build_pool(Pepper::new(1, [0; 32]), vec![])
            .expect_err("weak");
        assert_eq!(e.code(), "hash_params_too_weak");
    }
}
