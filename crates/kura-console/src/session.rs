//! Console sessions: a key presented once at login is exchanged for a random session id in
//! a cookie.
//!
//! # Security properties
//! - The session keeps the key's prefix and SHA-256, never the key. Every request checks
//!   them against the store again ([`kura_server::auth::authenticate_hash`]): a revoked key
//!   or a suspended principal ends the session at its next request.
//! - The cookie holds 256 random bits; the table is keyed by their SHA-256, so a memory dump
//!   of the table does not give a cookie that works.
//! - Sessions end after `idle` without a request and after `absolute` in any case; logout
//!   removes the entry at once.
//! - Each session carries its own CSRF token (256 random bits), compared in constant time on
//!   every state change.
//! - The table is bounded: when it is full of live sessions, a new login is refused rather
//!   than an old session evicted (a flood of logins cannot log the officer out). One key
//!   holds at most [`PER_KEY`] sessions; its next login ends its own oldest, so a single
//!   stolen key cannot fill the table for everyone.
//! - Sessions live in this server process: a restart ends them, and servers behind one load
//!   balancer need sticky sessions (decision 0027).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Sessions one key may hold at once.
pub const PER_KEY: usize = 8;

/// What a session remembers of its login.
#[derive(Debug, Clone)]
pub struct Session {
    /// The key's prefix (finds its record).
    pub prefix: String,
    /// SHA-256 of the key.
    pub key_hash: [u8; 32],
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// When it was opened, unix milliseconds.
    pub created_ms: u64,
    /// Its last request, unix milliseconds.
    pub last_ms: u64,
}

/// Why a session could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The table is full of live sessions.
    Full,
    /// The system's random source failed.
    Random,
}

/// The bounded session table.
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle_ms: u64,
    absolute_ms: u64,
    max: usize,
}

fn token() -> Result<String, OpenError> {
    let bytes: [u8; 32] = kura_crypto::random_array().map_err(|_| OpenError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl Sessions {
    /// A table of at most `max` sessions, ending after `idle_ms` without a request and after
    /// `absolute_ms` in any case.
    pub fn new(idle_ms: u64, absolute_ms: u64, max: usize) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle_ms,
            absolute_ms,
            max: max.max(1),
        }
    }

    fn live(&self, s: &Session, now_ms: u64) -> bool {
        now_ms.saturating_sub(s.last_ms) < self.idle_ms
            && now_ms.saturating_sub(s.created_ms) < self.absolute_ms
    }

    /// Opens a session for a checked key; returns the cookie value.
    ///
    /// # Errors
    /// [`OpenError::Full`] when `max` live sessions exist.
    pub fn open(&self, prefix: &str, key_hash: [u8; 32], now_ms: u64) -> Result<String, OpenError> {
        let id = token()?;
        let csrf = token()?;
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= self.max {
            map.retain(|_, s| self.live(s, now_ms));
        }
        let mut own: Vec<([u8; 32], u64)> = map
            .iter()
            .filter(|(_, s)| s.prefix == prefix)
            .map(|(k, s)| (*k, s.created_ms))
            .collect();
        if own.len() >= PER_KEY {
            own.sort_by_key(|(_, created)| *created);
            for (k, _) in &own[..=own.len() - PER_KEY] {
                map.remove(k);
            }
        }
        if map.len() >= self.max {
            return Err(OpenError::Full);
        }
        map.insert(
            kura_crypto::sha256(id.as_bytes()),
            Session {
                prefix: prefix.to_owned(),
                key_hash,
                csrf,
                created_ms: now_ms,
                last_ms: now_ms,
            },
        );
        Ok(id)
    }

    /// The live session of a cookie value, touched; an expired one is removed.
    pub fn get(&self, cookie: &str, now_ms: u64) -> Option<Session> {
        let k = kura_crypto::sha256(cookie.as_bytes());
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = map.get(&k).is_some_and(|s| self.live(s, now_ms));
        if !live {
            map.remove(&k);
            return None;
        }
        let s = map.get_mut(&k)?;
        s.last_ms = now_ms;
        Some(s.clone())
    }

    /// Ends a session.
    pub fn close(&self, cookie: &str) {
        let k = kura_crypto::sha256(cookie.as_bytes());
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&k);
    }

    /// Sessions held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Session {
    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, presented: &str) -> bool {
        self.csrf.len() == presented.len()
            && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sessions_expire_idle_and_absolute_and_the_table_is_bounded() {
        let s = Sessions::new(1_000, 5_000, 2);
        let a = s.open("p", [1; 32], 0).unwrap();
        assert!(s.get(&a, 900).is_some());
        assert!(s.get(&a, 1_800).is_some(), "touched at 900");
        assert!(s.get(&a, 2_900).is_none(), "idle for 1.1 s");
        let b = s.open("p", [1; 32], 3_000).unwrap();
        for t in [3_500, 4_400, 5_300, 6_200, 7_100] {
            assert!(s.get(&b, t).is_some(), "{t}");
        }
        assert!(s.get(&b, 8_000).is_none(), "past the absolute limit");
        let c = s.open("p", [1; 32], 9_000).unwrap();
        let _d = s.open("p", [1; 32], 9_000).unwrap();
        assert_eq!(s.open("p", [1; 32], 9_100), Err(OpenError::Full));
        s.close(&c);
        assert!(s.get(&c, 9_100).is_none());
        assert!(
            s.open("p", [1; 32], 9_100).is_ok(),
            "a closed one frees its place"
        );
        // Expired sessions make room.
        assert!(s.open("p", [1; 32], 20_000).is_ok());
    }

    #[test]
    fn one_key_holds_at_most_per_key_sessions_and_cannot_fill_the_table() {
        let s = Sessions::new(60_000, 60_000, 10);
        let first = s.open("stolen", [1; 32], 0).unwrap();
        let mut last = String::new();
        for t in 1..=20 {
            last = s.open("stolen", [1; 32], t).unwrap();
        }
        assert_eq!(s.len(), PER_KEY);
        assert!(s.get(&first, 30).is_none(), "its oldest ended");
        assert!(s.get(&last, 30).is_some());
        // Others still get in.
        for t in 0..2 {
            assert!(s.open("officer", [2; 32], 40 + t).is_ok());
        }
    }

    #[test]
    fn csrf_tokens_are_per_session_and_checked_whole() {
        let s = Sessions::new(10_000, 10_000, 10);
        let a = s.get(&s.open("p", [1; 32], 0).unwrap(), 1).unwrap();
        let b = s.get(&s.open("p", [1; 32], 0).unwrap(), 1).unwrap();
        assert_ne!(a.csrf, b.csrf);
        assert!(a.csrf_ok(&a.csrf));
        assert!(!a.csrf_ok(&b.csrf));
        assert!(!a.csrf_ok(&a.csrf[..10]));
        assert!(!a.csrf_ok(""));
    }
}
