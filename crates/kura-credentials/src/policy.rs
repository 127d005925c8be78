//! The password policy of NIST SP 800-63B (rev. 3 §5.1.1.2, rev. 4 §3.1.1.2):
//! length limits, blocklist screening, no composition rules.
//!
//! What it checks, in this order, returning the first failure:
//! 1. `password_too_short`: fewer than `min_len` code points after NFKC
//!    (8, or 15 when the password is the single authentication factor);
//! 2. `password_too_long`: more than `max_len` code points (64 to 1024,
//!    default 256);
//! 3. `password_contains_identity`: contains the login id, the e-mail address
//!    or its local part (case-insensitive after NFKC; identities shorter than
//!    3 code points are ignored, they would refuse too much);
//! 4. `password_breached`: found in the breached-password filter.
//!
//! What it leaves out on purpose: composition rules (digits, symbols, mixed
//! case), periodic expiry and password hints, all of which SP 800-63B tells
//! verifiers not to impose. Every Unicode character is accepted, spaces too.

use std::sync::Arc;

use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::blocklist::BreachFilter;
use crate::error::{CredentialError, Result};
use crate::secret::Password;

/// Minimum length when the password is one factor among several.
pub const MIN_LEN_MULTI_FACTOR: usize = 8;
/// Minimum length when the password is the only factor (`single_factor`).
pub const MIN_LEN_SINGLE_FACTOR: usize = 15;
/// The lowest maximum length a configuration may set (SP 800-63B: at least 64).
pub const MAX_LEN_FLOOR: usize = 64;
/// Default maximum length in code points.
pub const DEFAULT_MAX_LEN: usize = 256;
/// The highest maximum length a configuration may set. With the raw-input
/// bound of 4 × `max_len` code points this keeps every accepted password
/// under [`crate::MAX_PASSWORD_BYTES`], which the hasher relies on.
pub const MAX_LEN_CEILING: usize = 1024;
/// Identities shorter than this (in code points) are not screened for.
pub const MIN_IDENTITY_LEN: usize = 3;

/// The `[passwords]` policy settings of the configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The password is the only authentication factor: minimum 15 instead of 8.
    pub single_factor: bool,
    /// Override of the minimum length; may only raise the default.
    pub min_len: Option<usize>,
    /// Maximum length in code points after NFKC; at least 64.
    pub max_len: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            single_factor: false,
            min_len: None,
            max_len: DEFAULT_MAX_LEN,
        }
    }
}

/// The identity of the subject a password is being set for; the password may
/// not contain any of these.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    /// The login id, if the subject has one.
    pub login_id: Option<&'a str>,
    /// The e-mail address on file, if any.
    pub email: Option<&'a str>,
}

/// A checked password policy.
///
/// Invariant: `min_len >= 8` (`>= 15` for single-factor) and
/// `max_len >= max(64, min_len)`.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    min_len: usize,
    max_len: usize,
    blocklist: Arc<BreachFilter>,
}

impl PasswordPolicy {
    /// Builds the policy from configuration and a blocklist filter (use
    /// [`BreachFilter::embedded_default`] when the operator loaded none).
    ///
    /// # Errors
    /// `invalid_config` when `min_len` is below the floor for the factor mode
    /// or `max_len` is below 64, below `min_len` or above 1024.
    pub fn new(config: &PolicyConfig, blocklist: Arc<BreachFilter>) -> Result<Self> {
        let floor = if config.single_factor {
            MIN_LEN_SINGLE_FACTOR
        } else {
            MIN_LEN_MULTI_FACTOR
        };
        let min_len = config.min_len.unwrap_or(floor);
        if min_len < floor {
            return Err(CredentialError::InvalidConfig {
                reason: format!("passwords.min_len {min_len} is below the floor {floor}"),
            });
        }
        if config.max_len > MAX_LEN_CEILING {
            return Err(CredentialError::InvalidConfig {
                reason: format!("passwords.max_len must be at most {MAX_LEN_CEILING}"),
            });
        }
        if config.max_len < MAX_LEN_FLOOR.max(min_len) {
            return Err(CredentialError::InvalidConfig {
                reason: format!(
                    "passwords.max_len {} must be at least {}",
                    config.max_len,
                    MAX_LEN_FLOOR.max(min_len)
                ),
            });
        }
        Ok(Self {
            min_len,
            max_len: config.max_len,
            blocklist,
        })
    }

    /// Minimum length in code points after NFKC.
    #[must_use]
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// Maximum length in code points after NFKC.
    #[must_use]
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The blocklist this policy screens against.
    #[must_use]
    pub fn blocklist(&self) -> &BreachFilter {
        &self.blocklist
    }

    /// Checks a new password for `identity`, at set and at change.
    ///
    /// Runs in time linear in the password length; input longer than four
    /// times `max_len` code points is refused before normalization so that an
    /// oversized body costs nothing.
    ///
    /// # Errors
    /// `password_too_short`, `password_too_long`, `password_contains_identity`
    /// or `password_breached`, in that order of precedence. The error carries
    /// the limit, never the password.
    pub fn check(&self, password: &Password, identity: Identity<'_>) -> Result<()> {
        if password.raw_chars() > self.max_len.saturating_mul(4) {
            return Err(CredentialError::PasswordTooLong { max: self.max_len });
        }
        let normalized = password.normalized();
        let len = normalized.chars().count();
        if len < self.min_len {
            return Err(CredentialError::PasswordTooShort { min: self.min_len });
        }
        if len > self.max_len {
            return Err(CredentialError::PasswordTooLong { max: self.max_len });
        }
        if contains_identity(&normalized, identity) {
            return Err(CredentialError::PasswordContainsIdentity);
        }
        if self.blocklist.contains_normalized(&normalized) {
            return Err(CredentialError::PasswordBreached);
        }
        Ok(())
    }
}

/// Case-insensitive (after NFKC, full Unicode lowercase) containment of any
/// identity string of at least [`MIN_IDENTITY_LEN`] code points.
fn contains_identity(normalized_password: &str, identity: Identity<'_>) -> bool {
    let haystack = fold(normalized_password);
    let mut needles: Vec<&str> = Vec::with_capacity(3);
    if let Some(login) = identity.login_id {
        needles.push(login);
    }
    if let Some(email) = identity.email {
        needles.push(email);
        if let Some((local, _domain)) = email.rsplit_once('@') {
            needles.push(local);
        }
    }
    needles.into_iter().any(|n| {
        let n = fold(n);
        let n = n.trim();
        n.chars().count() >= MIN_IDENTITY_LEN && haystack.contains(n)
    })
}

fn fold(s: &str) -> Zeroizing<String> {
    let nfkc: Zeroizing<String> = Zeroizing::new(s.nfkc().collect());
    Zeroizing::new(nfkc.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(cfg: PolicyConfig) -> PasswordPolicy {
        let filter = BreachFilter::from_passwords(["password123", "correcthorse"].iter().copied())
            .expect("filter");
        PasswordPolicy::new(&cfg, Arc::new(filter)).expect("policy")
    }

    fn check(p: &PasswordPolicy, pw: &str, id: Identity<'_>) -> Option<&'static str> {
        p.check(&Password::from(pw), id).err().map(|e| e.code())
    }

    #[test]
    fn lengths_multi_and_single_factor() {
        let p = policy(PolicyConfig::default());
        let none = Identity::default();
        assert_eq!(check(&p, "seven77", none), Some("password_too_short"));
        assert_eq!(check(&p, "eight888", none), None);
        let p = policy(PolicyConfig {
            single_factor: true,
            ..PolicyConfig::default()
        });
        assert_eq!(
            check(&p, "fourteen chars", none),
            Some("password_too_short")
        );
        assert_eq!(check(&p, "fifteen chars!!", none), None);
    }

    #[test]
    fn length_counts_code_points_after_nfkc() {
        let p = policy(PolicyConfig::default());
        let none = Identity::default();
        // 8 code points of Japanese (24 bytes of UTF-8) is long enough.
        assert_eq!(check(&p, "くらのかぎをあけ", none), None);
        // 7 code points is not, however many bytes.
        assert_eq!(
            check(&p, "くらのかぎをあ", none),
            Some("password_too_short")
        );
        // "㍻" (1 code point) becomes "平成" (2) under NFKC.
        assert_eq!(check(&p, "㍻㍻㍻㍻", none), None);
        // 256 accepted, 257 refused; a huge body refused before NFKC.
        assert_eq!(check(&p, &"é".repeat(256), none), None);
        assert_eq!(check(&p, &"é".repeat(257), none), Some("password_too_long"));
        assert_eq!(
            check(&p, &"x".repeat(100_000), none),
            Some("password_too_long")
        );
    }

    #[test]
    fn all_unicode_and_no_composition_rules() {
        let p = policy(PolicyConfig::default());
        let none = Identity::default();
        assert_eq!(check(&p, "all lowercase words here", none), None);
        assert_eq!(check(&p, "🔑🔑🔑🔑🔑🔑🔑🔑", none), None);
        assert_eq!(check(&p, "Schloß am Rhein", none), None);
    }

    #[test]
    fn identity_is_refused_case_insensitively() {
        let p = policy(PolicyConfig::default());
        let id = Identity {
            login_id: Some("Yamada_Taro"),
            email: Some("Hanako.Suzuki@example.jp"),
        };
        assert_eq!(
            check(&p, "my yamada_taro pw", id),
            Some("password_contains_identity")
        );
        assert_eq!(
            check(&p, "xxHANAKO.SUZUKIxx", id),
            Some("password_contains_identity")
        );
        assert_eq!(
            check(&p, "hanako.suzuki@example.jp!", id),
            Some("password_contains_identity")
        );
        // Full-width login id in the password still matches after NFKC.
        assert_eq!(
            check(&p, "ｙａｍａｄａ_ｔａｒｏ99", id),
            Some("password_contains_identity")
        );
        assert_eq!(check(&p, "unrelated words", id), None);
        // Identities under 3 code points are ignored.
        let short = Identity {
            login_id: Some("ab"),
            email: Some("x@y.z"),
        };
        assert_eq!(check(&p, "abababababab", short), None);
    }

    #[test]
    fn breached_is_refused_after_nfkc() {
        let p = policy(PolicyConfig::default());
        let none = Identity::default();
        assert_eq!(check(&p, "password123", none), Some("password_breached"));
        assert_eq!(
            check(&p, "ｐａｓｓｗｏｒｄ１２３", none),
            Some("password_breached")
        );
        assert_eq!(check(&p, "Password123", none), None);
    }

    #[test]
    fn config_validation() {
        let f = Arc::new(BreachFilter::empty());
        let bad_min = PolicyConfig {
            single_factor: true,
            min_len: Some(10),
            ..PolicyConfig::default()
        };
        assert!(PasswordPolicy::new(&bad_min, f.clone()).is_err());
        let bad_max = PolicyConfig {
            max_len: 63,
            ..PolicyConfig::default()
        };
        assert!(PasswordPolicy::new(&bad_max, f.clone()).is_err());
        let huge_max = PolicyConfig {
            max_len: 1025,
            ..PolicyConfig::default()
        };
        assert!(PasswordPolicy::new(&huge_max, f.clone()).is_err());
        let raised = PolicyConfig {
            min_len: Some(12),
            max_len: 64,
            ..PolicyConfig::default()
        };
        assert_eq!(PasswordPolicy::new(&raised, f).expect("ok").min_len(), 12);
    }
}
