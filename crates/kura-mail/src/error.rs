//! [`MailError`]: every failure of this crate, with a stable snake_case code. No variant
//! carries an address, a message body, a token or SMTP reply text (which may echo the
//! recipient): only the kind of failure and, for SMTP, the reply code.

use std::io;

/// A mail operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The `[mail]` configuration is unusable (bad `from`, plaintext remote SMTP, ...).
    #[error("invalid mail configuration: {reason}")]
    InvalidConfig {
        /// What is wrong, naming settings, never values that could be personal data.
        reason: String,
    },
    /// A message could not be built or delivered.
    #[error("outbound mail failed: {reason}")]
    Send {
        /// The kind of failure (and SMTP reply code), never an address or content.
        reason: String,
    },
    /// A file or directory of the outbox could not be written, read or removed.
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What the crate was doing (e.g. "writing outbox message").
        context: &'static str,
        /// The underlying error (an OS error; it names no path).
        #[source]
        source: io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

impl MailError {
    /// The stable snake_case code of this error. Codes never change once released.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "invalid_config",
            Self::Send { .. } => "mail_failed",
            Self::Io { .. } => "io_error",
            Self::Rng => "rng_failed",
        }
    }

    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { context, source }
    }

    pub(crate) fn send(reason: impl Into<String>) -> Self {
        Self::Send {
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = MailError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_distinct() {
        let all = [
            MailError::InvalidConfig { reason: "x".into() },
            MailError::Send { reason: "x".into() },
            MailError::Io {
                context: "x",
                source: io::Error::other("x"),
            },
            MailError::Rng,
        ];
        let mut seen = std::collections::BTreeSet::new();
        for e in &all {
            let c = e.code();
            assert!(c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            assert!(seen.insert(c), "duplicate code {c}");
        }
    }
}
