//! The crate's one error type, [`CredentialError`], and its stable codes.
//!
//! Every variant has a stable snake_case [`code`](CredentialError::code), the
//! string the HTTP API returns; the server maps codes to statuses in one
//! exhaustive match. Messages are lowercase and name limits, parameters or
//! file paths, never a value: no error built by this crate carries a password,
//! a recovery token, a pepper, an e-mail address or a login id.

use std::io;

/// Everything that can go wrong in `kura-credentials`.
///
/// `#[non_exhaustive]`: the server's mapping must name every variant it knows
/// and decide what a new one means; it must not use a catch-all 5xx arm that
/// hides a new user-facing refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The normalized password has fewer code points than the policy minimum.
    #[error("password shorter than {min} characters")]
    PasswordTooShort {
        /// Minimum length in Unicode code points, after NFKC normalization.
        min: usize,
    },
    /// The normalized password has more code points than the policy maximum.
    #[error("password longer than {max} characters")]
    PasswordTooLong {
        /// Maximum length in Unicode code points, after NFKC normalization.
        max: usize,
    },
    /// The password is on the breached-password blocklist.
    #[error("password appears in a list of breached or common passwords")]
    PasswordBreached,
    /// The password contains the subject's login id or e-mail address (or its
    /// local part), compared case-insensitively after NFKC normalization.
    #[error("password contains the login id or e-mail address")]
    PasswordContainsIdentity,
    /// The password does not match, or the account does not exist. Both cases
    /// share one code on purpose so that callers cannot tell them apart.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Configured Argon2 parameters are weaker than the floor (m=19456 KiB,
    /// t=2, p=1) or otherwise unusable.
    #[error("argon2 parameters too weak or invalid: {reason}")]
    HashParamsTooWeak {
        /// Which parameter is at fault (no secret involved).
        reason: String,
    },
    /// A stored password hash is not an Argon2id PHC string this crate can
    /// verify, or its parameters are outside the accepted range.
    #[error("stored password hash is malformed or unsupported: {reason}")]
    HashMalformed {
        /// Which part of the PHC string is at fault (never the hash itself).
        reason: &'static str,
    },
    /// A stored hash names a pepper version this hasher does not hold.
    #[error("stored password hash uses unknown pepper version {version}")]
    PepperUnknown {
        /// The pepper version recorded in the PHC string's `keyid`.
        version: u32,
    },
    /// The Argon2 computation itself failed (should not happen with checked
    /// parameters).
    #[error("password hashing failed")]
    HashingFailed,
    /// The hashing pool is saturated; the request was refused at once.
    /// The server answers 503 with `Retry-After`.
    #[error("password hashing capacity exhausted, try again later")]
    Busy,
    /// Invalid configuration value.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong (never a secret value).
        reason: String,
    },
    /// A blocklist filter file is malformed, truncated or of an unknown version.
    #[error("breached-password filter is invalid: {reason}")]
    FilterInvalid {
        /// What is wrong with the file.
        reason: String,
    },
    /// A line of a blocklist input could not be parsed.
    #[error("blocklist input line {line} is invalid: {reason}")]
    FilterInput {
        /// One-based line number.
        line: u64,
        /// What is wrong (the line's content is not repeated).
        reason: &'static str,
    },
    /// The filter could not be constructed from the keys.
    #[error("breached-password filter construction failed: {reason}")]
    FilterBuild {
        /// The reason given by the filter library.
        reason: &'static str,
    },
    /// The presented recovery token is malformed or matches no stored token.
    #[error("recovery token is invalid")]
    RecoveryTokenInvalid,
    /// The recovery token has expired.
    #[error("recovery token has expired")]
    RecoveryTokenExpired,
    /// The recovery token was already used.
    #[error("recovery token was already used")]
    RecoveryTokenUsed,
    /// The account is locked after too many consecutive failed logins.
    #[error("account locked after too many failed logins")]
    AccountLocked,
    /// Login attempts for the account are being slowed down.
    #[error("too many failed logins, retry after {retry_after_secs} s")]
    LoginThrottled {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// An I/O error reading a stream the caller passed (the blocklist input of
    /// [`crate::build_filter`]).
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What the crate was doing (e.g. "reading blocklist input").
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// A background hashing task panicked or was cancelled.
    #[error("internal error in password hashing worker")]
    Internal,
}

impl CredentialError {
    /// The stable snake_case code the API returns for this error.
    ///
    /// Codes never change once released; new variants get new codes.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::PasswordTooShort { .. } => "password_too_short",
            Self::PasswordTooLong { .. } => "password_too_long",
            Self::PasswordBreached => "password_breached",
            Self::PasswordContainsIdentity => "password_contains_identity",
            Self::InvalidCredentials => "invalid_credentials",
            Self::HashParamsTooWeak { .. } => "hash_params_too_weak",
            Self::HashMalformed { .. } => "password_hash_malformed",
            Self::PepperUnknown { .. } => "pepper_unknown",
            Self::HashingFailed => "hashing_failed",
            Self::Busy => "busy",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::FilterInvalid { .. } => "blocklist_filter_invalid",
            Self::FilterInput { .. } => "blocklist_input_invalid",
            Self::FilterBuild { .. } => "blocklist_build_failed",
            Self::RecoveryTokenInvalid => "recovery_token_invalid",
            Self::RecoveryTokenExpired => "recovery_token_expired",
            Self::RecoveryTokenUsed => "recovery_token_used",
            Self::AccountLocked => "account_locked",
            Self::LoginThrottled { .. } => "login_throttled",
            Self::Io { .. } => "io_error",
            Self::Rng => "rng_failed",
            Self::Internal => "internal",
        }
    }

    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { context, source }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = CredentialError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_distinct() {
        let all = [
            CredentialError::PasswordTooShort { min: 8 },
            CredentialError::PasswordTooLong { max: 256 },
            CredentialError::PasswordBreached,
            CredentialError::PasswordContainsIdentity,
            CredentialError::InvalidCredentials,
            CredentialError::HashParamsTooWeak { reason: "m".into() },
            CredentialError::HashMalformed { reason: "x" },
            CredentialError::PepperUnknown { version: 1 },
            CredentialError::HashingFailed,
            CredentialError::Busy,
            CredentialError::InvalidConfig { reason: "x".into() },
            CredentialError::FilterInvalid { reason: "x".into() },
            CredentialError::FilterInput {
                line: 1,
                reason: "x",
            },
            CredentialError::FilterBuild { reason: "x" },
            CredentialError::RecoveryTokenInvalid,
            CredentialError::RecoveryTokenExpired,
            CredentialError::RecoveryTokenUsed,
            CredentialError::AccountLocked,
            CredentialError::LoginThrottled {
                retry_after_secs: 1,
            },
            CredentialError::Io {
                context: "x",
                source: io::Error::other("x"),
            },
            CredentialError::Rng,
            CredentialError::Internal,
        ];
        let mut seen = std::collections::BTreeSet::new();
        for e in &all {
            let c = e.code();
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c}"
            );
            assert!(seen.insert(c), "duplicate code {c}");
        }
    }
}
