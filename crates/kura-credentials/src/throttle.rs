//! Per-account login throttling (NIST SP 800-63B §5.2.2, rate limiting):
//! pure logic, the clock passed in as Unix seconds.
//!
//! After `free_failures` consecutive failures each further attempt must wait
//! `base_delay_secs × 2^(n − free_failures − 1)`, capped at `max_delay_secs`,
//! counted from the last failure. After `lock_after` (at most 100)
//! consecutive failures the account is locked until recovery completes or an
//! operator unlocks it. A success resets the count.
//!
//! With the defaults (5 free, 1 s doubling, 300 s cap, lock at 100) an
//! attacker gets at most 100 guesses per account, and the first 100 take
//! about 7 hours; a person who mistypes a few times is never slowed down.
//!
//! # Attempts are reserved before they are evaluated
//! An attempt is counted as a failure *before* its password is checked
//! ([`ThrottleState::reserve`]: the check and the count in one step), and
//! turned into a success only once the password has verified. The caller
//! persists the reserved state with a compare-and-set on the stored state's
//! version *before* running Argon2, so attempts running in parallel (on one
//! server or many) each see the attempts reserved before them: they cannot
//! all pass the check before any failure is recorded. Hence:
//! * at most `lock_after` attempts are ever evaluated between two successes
//!   (the SP 800-63B bound of 100 consecutive failed attempts holds under any
//!   concurrency), and the delay applies to attempts in flight too;
//! * the delay runs from the start of the last attempt (its reservation),
//!   which is never later than its failure;
//! * a verified attempt succeeds only if no *other* attempt locked the
//!   account meanwhile (the caller checks the stored state again when it
//!   settles the success); an attempt whose own reservation reached the lock
//!   and whose password was right is a success, not a failure, and undoes it.
//!
//! A reservation whose password was never evaluated (the hashing pool was
//! full) may be released by restoring the state it replaced, if nothing
//! else changed it since; otherwise it stays counted (fail closed), as does
//! one whose process died before the outcome was known.
//!
//! What it leaves out: per-IP and global rate limits (server), and state for
//! login ids that match no account — the server should keep a bounded map of
//! those too, so that the `login_throttled` / `account_locked` answers do not
//! reveal whether an id exists.

use serde::{Deserialize, Serialize};

use crate::error::{CredentialError, Result};

/// The highest `lock_after` allowed (SP 800-63B: no more than 100).
pub const MAX_LOCK_AFTER: u32 = 100;

/// Throttling settings (`[passwords.throttle]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottlePolicy {
    /// Consecutive failures allowed without any delay.
    pub free_failures: u32,
    /// Delay after the first throttled failure, in seconds; doubles after each.
    pub base_delay_secs: u64,
    /// Cap on the delay, in seconds.
    pub max_delay_secs: u64,
    /// Consecutive failures that lock the account (1..=100).
    pub lock_after: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_delay_secs: 1,
            max_delay_secs: 300,
            lock_after: MAX_LOCK_AFTER,
        }
    }
}

impl ThrottlePolicy {
    /// Checks the settings.
    ///
    /// # Errors
    /// `invalid_config` when `lock_after` is 0 or above 100, or
    /// `free_failures >= lock_after`.
    pub fn validate(&self) -> Result<()> {
        if self.lock_after == 0 || self.lock_after > MAX_LOCK_AFTER {
            return Err(CredentialError::InvalidConfig {
                reason: format!("throttle.lock_after must be 1..={MAX_LOCK_AFTER}"),
            });
        }
        if self.free_failures >= self.lock_after {
            return Err(CredentialError::InvalidConfig {
                reason: "throttle.free_failures must be below lock_after".to_owned(),
            });
        }
        Ok(())
    }

    /// The wait required after `failures` consecutive failures, in seconds.
    #[must_use]
    pub fn delay_after(&self, failures: u32) -> u64 {
        if failures <= self.free_failures {
            return 0;
        }
        let exp = (failures - self.free_failures - 1).min(63);
        self.base_delay_secs
            .saturating_mul(1u64 << exp)
            .min(self.max_delay_secs)
    }
}

/// What the server stores per account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleState {
    /// Consecutive failed logins since the last success.
    pub consecutive_failures: u32,
    /// Unix seconds of the last failed login (0 if none).
    pub last_failure_unix: u64,
    /// Locked after too many failures; cleared only by [`Self::unlock`].
    pub locked: bool,
}

impl ThrottleState {
    /// May a login attempt proceed at `now_unix`?
    ///
    /// # Errors
    /// `account_locked` when locked; `login_throttled` with the seconds left
    /// when the progressive delay has not passed yet.
    pub fn check(&self, policy: &ThrottlePolicy, now_unix: u64) -> Result<()> {
        if self.locked {
            return Err(CredentialError::AccountLocked);
        }
        let ready_at = self
            .last_failure_unix
            .saturating_add(policy.delay_after(self.consecutive_failures));
        if now_unix < ready_at {
            return Err(CredentialError::LoginThrottled {
                retry_after_secs: ready_at - now_unix,
            });
        }
        Ok(())
    }

    /// Reserves an attempt at `now_unix`: [`Self::check`], then counts the
    /// attempt as a failure ([`Self::record_failure`]) until it is shown to
    /// be a success. Returns whether this reservation locked the account (the
    /// attempt is the `lock_after`-th consecutive one); if its password then
    /// verifies, the caller undoes the reservation instead of keeping the lock.
    ///
    /// # Errors
    /// As [`Self::check`]; the state is unchanged then.
    pub fn reserve(&mut self, policy: &ThrottlePolicy, now_unix: u64) -> Result<bool> {
        self.check(policy, now_unix)?;
        self.record_failure(policy, now_unix);
        Ok(self.locked)
    }

    /// Records a failed attempt at `now_unix`; locks at `lock_after`.
    pub fn record_failure(&mut self, policy: &ThrottlePolicy, now_unix: u64) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_failure_unix = now_unix;
        if self.consecutive_failures >= policy.lock_after {
            self.locked = true;
        }
    }

    /// Records a successful login: the count starts again.
    pub fn record_success(&mut self) {
        *self = Self {
            locked: self.locked,
            ..Self::default()
        };
    }

    /// Unlocks and resets (recovery completed, or an operator's decision).
    pub fn unlock(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progressive_delay_then_lock() {
        let p = ThrottlePolicy::default();
        p.validate().expect("valid");
        let mut s = ThrottleState::default();
        let mut now = 1_000_000u64;
        for _ in 0..5 {
            s.check(&p, now).expect("free attempts");
            s.record_failure(&p, now);
        }
        // Five failures: still no delay.
        s.check(&p, now).expect("no delay yet");
        s.record_failure(&p, now); // 6th
        assert_eq!(
            s.check(&p, now).expect_err("delay").code(),
            "login_throttled"
        );
        assert!(matches!(
            s.check(&p, now),
            Err(CredentialError::LoginThrottled {
                retry_after_secs: 1
            })
        ));
        now += 1;
        s.check(&p, now).expect("after 1 s");
        s.record_failure(&p, now); // 7th: 2 s
        assert!(matches!(
            s.check(&p, now + 1),
            Err(CredentialError::LoginThrottled {
                retry_after_secs: 1
            })
        ));
        assert_eq!(p.delay_after(8), 4);
        assert_eq!(p.delay_after(20), 300);
        // Keep failing, always waiting the delay, until the lock.
        let mut total_wait = 0;
        while !s.locked {
            let d = p.delay_after(s.consecutive_failures);
            now += d;
            total_wait += d;
            s.check(&p, now).expect("waited");
            s.record_failure(&p, now);
        }
        assert_eq!(s.consecutive_failures, 100);
        assert!(total_wait > 6 * 3600, "{total_wait}");
        assert_eq!(
            s.check(&p, now + 10_000_000).expect_err("locked").code(),
            "account_locked"
        );
        // Success does not unlock a locked account; unlock does.
        s.record_success();
        assert!(s.locked);
        s.unlock();
        s.check(&p, now).expect("unlocked");
    }

    #[test]
    fn reservations_count_attempts_in_flight() {
        let p = ThrottlePolicy {
            free_failures: 2,
            base_delay_secs: 60,
            max_delay_secs: 60,
            lock_after: 3,
        };
        let mut s = ThrottleState::default();
        // Three attempts reserved back to back (none settled yet): the third locks.
        assert!(!s.reserve(&p, 10).expect("first"));
        assert!(!s.reserve(&p, 10).expect("second"));
        assert!(s.reserve(&p, 10).expect("third locks"));
        let before = s;
        assert_eq!(
            s.reserve(&p, 10).expect_err("locked").code(),
            "account_locked"
        );
        assert_eq!(s, before, "a refused reservation changes nothing");
        // With more room, the delay applies to reserved attempts alike.
        let p = ThrottlePolicy {
            lock_after: 10,
            ..p
        };
        let mut s = ThrottleState::default();
        for _ in 0..3 {
            s.reserve(&p, 10).expect("free");
        }
        assert_eq!(
            s.reserve(&p, 10).expect_err("delay").code(),
            "login_throttled"
        );
        assert_eq!(s.consecutive_failures, 3);
    }

    #[test]
    fn success_resets() {
        let p = ThrottlePolicy::default();
        let mut s = ThrottleState::default();
        for t in 0..7 {
            s.record_failure(&p, t);
        }
        s.record_success();
        assert_eq!(s, ThrottleState::default());
        let json = serde_json::to_string(&s).expect("ser");
        let back: ThrottleState = serde_json::from_str(&json).expect("de");
        assert_eq!(back, s);
    }

    #[test]
    fn policy_limits() {
        let bad = ThrottlePolicy {
            lock_after: 101,
            ..ThrottlePolicy::default()
        };
        assert!(bad.validate().is_err());
        let bad = ThrottlePolicy {
            free_failures: 10,
            lock_after: 10,
            ..ThrottlePolicy::default()
        };
        assert!(bad.validate().is_err());
    }
}
