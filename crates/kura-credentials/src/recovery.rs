//! Password-recovery tokens: 256 random bits, shown once, stored only as a
//! SHA-256 hash, valid 30 minutes, single use. The clock is passed in.
//!
//! Format: `kura_rt_` followed by 64 lowercase hex digits (32 bytes from the
//! operating system's CSPRNG). The fixed prefix lets `kura scan` and secret
//! scanners spot a token pasted where it should not be.
//!
//! Why a plain hash and no salt or Argon2: the token has 256 bits of entropy,
//! so a dumped hash cannot be reversed by guessing; a fast hash lets the
//! server find the row by hash. Comparisons of hashes are constant-time.
//! A plain hash is not enough *at rest*, though: whoever can write the store
//! could put in the SHA-256 of a token of their choosing. The store must
//! therefore keep a keyed hash of it; kura-vault stores HMAC-SHA-256 of this
//! SHA-256 under a key from the key provider (issue 13).
//!
//! Recovery never accepts knowledge of personal data (birth date, address,
//! e-mail address) in place of a token: that data is what a breach leaks.
//! [`IssueLimit`] caps how many tokens one subject can be sent per window, so
//! the always-202 recovery endpoint cannot be used to flood a mailbox.
//! What this module leaves out: storage, revoking the other tokens of a
//! subject on completion (the server deletes them), and per-client rate
//! limits (server).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{CredentialError, Result};
use crate::rng::random_bytes;

/// Prefix of every recovery token.
pub const TOKEN_PREFIX: &str = "kura_rt_";
/// Random bytes per token (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// Lifetime of a token in seconds (30 minutes).
pub const TOKEN_TTL_SECS: u64 = 30 * 60;

/// A freshly issued recovery token: the secret to mail to the subject.
///
/// Invariant: wiped on drop; `Debug` is redacted; there is no `Display`,
/// `Clone` or `Serialize`, so it reaches the mail body only through
/// [`RecoveryToken::expose`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RecoveryToken(String);

impl RecoveryToken {
    /// The token text, `kura_rt_<64 hex>`.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecoveryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryToken(<redacted>)")
    }
}

/// The stored form of a token: its SHA-256, its lifetime and whether it was
/// used. Safe to persist and to log (it reveals nothing usable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecoveryToken {
    /// SHA-256 of the token text (the server's lookup key).
    pub hash: [u8; 32],
    /// Unix seconds of issue.
    pub issued_unix: u64,
    /// Unix seconds after which the token is refused.
    pub expires_unix: u64,
    /// Set when the token has been redeemed.
    pub used: bool,
}

/// Issues a new token at `now_unix`, valid for 30 minutes.
///
/// # Errors
/// `rng_failed` if the operating system's CSPRNG fails.
pub fn issue(now_unix: u64) -> Result<(RecoveryToken, StoredRecoveryToken)> {
    let mut raw = [0u8; TOKEN_BYTES];
    random_bytes(&mut raw)?;
    let mut text = String::with_capacity(TOKEN_PREFIX.len() + 2 * TOKEN_BYTES);
    text.push_str(TOKEN_PREFIX);
    text.push_str(&hex::encode(raw));
    raw.zeroize();
    let token = RecoveryToken(text);
    let stored = StoredRecoveryToken {
        hash: hash_of(token.expose()),
        issued_unix: now_unix,
        expires_unix: now_unix.saturating_add(TOKEN_TTL_SECS),
        used: false,
    };
    Ok((token, stored))
}

fn hash_of(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Checks the shape of a presented token and returns its SHA-256, the key the
/// server looks the stored token up by.
///
/// # Errors
/// `recovery_token_invalid` if it is not `kura_rt_` + 64 lowercase hex digits.
pub fn token_hash(presented: &str) -> Result<[u8; 32]> {
    let body = presented
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(CredentialError::RecoveryTokenInvalid)?;
    if body.len() != 2 * TOKEN_BYTES
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(CredentialError::RecoveryTokenInvalid);
    }
    Ok(hash_of(presented))
}

/// Constant-time equality of two token hashes.
#[must_use]
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

impl StoredRecoveryToken {
    /// Redeems the token: checks that `presented` matches (constant time), is
    /// unused and unexpired at `now_unix`, then marks it used. The caller
    /// persists the change in the same transaction that sets the password and
    /// deletes the subject's other tokens.
    ///
    /// # Errors
    /// `recovery_token_invalid`, `recovery_token_used` or
    /// `recovery_token_expired`. The server may answer all three alike.
    pub fn redeem(&mut self, presented: &str, now_unix: u64) -> Result<()> {
        let h = token_hash(presented)?;
        if !hashes_equal(&h, &self.hash) {
            return Err(CredentialError::RecoveryTokenInvalid);
        }
        if self.used {
            return Err(CredentialError::RecoveryTokenUsed);
        }
        if now_unix >= self.expires_unix {
            return Err(CredentialError::RecoveryTokenExpired);
        }
        self.used = true;
        Ok(())
    }
}

/// How many recovery mails one subject may be sent per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssueLimit {
    /// Tokens per window (default 3).
    pub max_per_window: u32,
    /// Window length in seconds (default 3600).
    pub window_secs: u64,
}

impl Default for IssueLimit {
    fn default() -> Self {
        Self {
            max_per_window: 3,
            window_secs: 3600,
        }
    }
}

impl IssueLimit {
    /// Whether a new token may be issued at `now_unix`, given the issue times
    /// of the subject's earlier tokens (used or not). When it may not, the
    /// server still answers 202 with the same body and sends nothing.
    #[must_use]
    pub fn allows(
        &self,
        earlier_issued_unix: impl IntoIterator<Item = u64>,
        now_unix: u64,
    ) -> bool {
        let since = now_unix.saturating_sub(self.window_secs);
        let recent = earlier_issued_unix
            .into_iter()
            .filter(|&t| t > since && t <= now_unix)
            .count();
        recent < self.max_per_window as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_limit() {
        let l = IssueLimit::default();
        assert!(l.allows([], 10_000));
        assert!(l.allows([9_000, 9_500], 10_000));
        assert!(!l.allows([9_000, 9_500, 9_900], 10_000));
        // Older than the window: forgotten.
        assert!(l.allows([6_000, 6_300, 9_900], 10_000));
    }

    #[test]
    fn issue_format_and_single_use() {
        let now = 1_700_000_000;
        let (token, mut stored) = issue(now).expect("issue");
        let t = token.expose().to_owned();
        assert!(t.starts_with("kura_rt_") && t.len() == 8 + 64, "{t}");
        assert!(!format!("{token:?}").contains(&t[8..]));
        assert_eq!(token_hash(&t).expect("shape"), stored.hash);
        assert_eq!(stored.expires_unix, now + 1800);
        stored.redeem(&t, now + 60).expect("first use");
        assert_eq!(
            stored.redeem(&t, now + 61).expect_err("reuse").code(),
            "recovery_token_used"
        );
    }

    #[test]
    fn expiry_and_mismatch() {
        let now = 5_000;
        let (token, stored) = issue(now).expect("issue");
        let mut s = stored.clone();
        assert_eq!(
            s.redeem(token.expose(), now + TOKEN_TTL_SECS)
                .expect_err("expired")
                .code(),
            "recovery_token_expired"
        );
        let mut s = stored.clone();
        s.redeem(token.expose(), now + TOKEN_TTL_SECS - 1)
            .expect("just in time");
        let (other, _) = issue(now).expect("issue");
        let mut s = stored;
        assert_eq!(
            s.redeem(other.expose(), now).expect_err("other").code(),
            "recovery_token_invalid"
        );
        for bad in [
            "",
            "kura_rt_",
            "kura_rt_XYZ",
            &token.expose().to_uppercase(),
        ] {
            assert!(token_hash(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_distinct() {
        let a = issue(0).expect("a");
        let b = issue(0).expect("b");
        assert_ne!(a.0.expose(), b.0.expose());
        assert!(!hashes_equal(&a.1.hash, &b.1.hash));
    }
}
