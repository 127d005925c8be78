//! Containment: per-principal quotas on distinct subjects within a sliding window, and
//! canary subjects. Either one, once tripped, suspends the principal at once and yields a
//! [`DraftIncident`].
//!
//! # How the server uses it
//! After the subjects of a request are known (the subject read, the hits of a search, the
//! rows of an export) and **before any data is returned**, the server calls
//! [`Containment::touch`] with their internal ids. [`Touch::Allowed`]: go on.
//! [`Touch::Contained`]: the request is refused as a whole with `principal_suspended`, the
//! principal is now suspended, and the server persists the suspension and the incident and
//! raises the alert. [`Touch::Suspended`]: refused with `principal_suspended`.
//!
//! # Rules
//! - The window is sliding: a subject counts while its last touch is within the last
//!   `window_secs` seconds (touched at `t`, it counts until `now >= t + window_secs`).
//!   Touching a subject again renews it; it still counts once.
//! - A request whose new distinct subjects would bring the count above `quota.subjects` is
//!   refused whole: none of its subjects is recorded or returned. So a principal obtains at
//!   most `quota.subjects` distinct subjects per window, whatever the size of its requests.
//! - Any canary among a request's subjects trips containment the same way, whatever the
//!   count. The caller sees the same code for both triggers.
//! - A suspended principal stays suspended until [`Containment::reinstate`] (an operator's
//!   act), which also starts it on an empty window.
//!
//! # Memory
//! A principal holds at most `quota.subjects` live entries (requests beyond are refused),
//! kept in a hash map and a time-ordered queue of at most twice as many pairs plus 64
//! (renewals leave stale pairs, compacted away). Entries are dropped once older than the
//! window: on the principal's next touch, or by [`Containment::sweep`], which the server
//! calls periodically and which also forgets principals with empty windows. A suspended
//! principal keeps only its flag.
//!
//! # What it leaves out
//! State is in memory, per process: the server persists suspensions and incidents, and
//! seeds suspensions at start-up with [`Containment::suspend`]. Windows restart empty
//! after a restart, and several servers each count on their own (a principal spread over
//! `n` servers could obtain up to `n` times its quota); a shared counter is future work.
//! Time is the caller's `now` (unix seconds); nothing here reads a clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use serde::Serialize;

use crate::{DenyCode, Quota};

/// What tripped containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The request would have crossed the distinct-subject quota.
    Quota,
    /// The request touched a canary subject.
    Canary,
}

/// The draft of an incident record, opened when containment trips. Holds subject internal
/// ids only, never a field value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DraftIncident {
    /// The suspended principal.
    pub principal: String,
    /// What tripped.
    pub trigger: Trigger,
    /// Start of the window (unix seconds, exclusive): `window_end - quota.window_secs`.
    pub window_start: i64,
    /// End of the window: the time of the refused request (unix seconds).
    pub window_end: i64,
    /// The quota in force.
    pub quota: Quota,
    /// Exactly the subjects the principal obtained within the window, ascending: those of
    /// its allowed requests, not those of the refused one.
    pub subjects: Vec<u64>,
    /// The subjects of the refused request, ascending and distinct (not obtained).
    pub refused: Vec<u64>,
    /// The canaries among the refused request's subjects, ascending (empty for a quota
    /// trigger).
    pub canaries: Vec<u64>,
}

impl std::fmt::Display for DraftIncident {
    /// A one-line summary for the alert log line: principal, trigger, window and counts.
    /// Holds no subject id, so that log readers learn nothing about who was reached.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "principal `{}` suspended by {} containment: {} subjects obtained in ({}, {}] \
             (quota {} per {} s), request for {} subjects refused",
            self.principal,
            match self.trigger {
                Trigger::Quota => "quota",
                Trigger::Canary => "canary",
            },
            self.subjects.len(),
            self.window_start,
            self.window_end,
            self.quota.subjects,
            self.quota.window_secs,
            self.refused.len(),
        )
    }
}

/// The outcome of [`Containment::touch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// Within quota, no canary: return the data.
    Allowed,
    /// This request tripped containment: refuse it, persist the suspension and the
    /// incident, raise the alert.
    Contained(Box<DraftIncident>),
    /// The principal was already suspended: refuse.
    Suspended,
}

impl Touch {
    /// Whether the request may go on.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Touch::Allowed)
    }

    /// The code to refuse with, if refused: `principal_suspended` for both a trip and a
    /// suspension, so that a canary hit is indistinguishable from a quota hit.
    pub fn deny_code(&self) -> Option<DenyCode> {
        match self {
            Touch::Allowed => None,
            Touch::Contained(_) | Touch::Suspended => Some(DenyCode::PrincipalSuspended),
        }
    }
}

/// Counts of what is held, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ContainmentStats {
    /// Principals with state (a window or a suspension).
    pub principals: usize,
    /// Principals suspended.
    pub suspended: usize,
    /// Subject entries across all windows.
    pub entries: usize,
}

/// One principal's sliding window.
///
/// `last` holds the live entries; `order` is a queue of `(time, subject)` in time order with
/// lazy deletion: renewing a subject pushes a new pair and leaves the old one stale (its
/// time no longer matches `last`), skipped when it reaches the front. A contiguous queue
/// costs far less per touch than an ordered tree. The queue is rebuilt from `last` when
/// stale pairs outnumber live ones, so it never holds more than twice the live entries
/// (plus a small constant).
#[derive(Debug, Default)]
struct Window {
    /// Subject -> time of its last touch.
    last: HashMap<u64, i64>,
    /// `(time, subject)` pairs, times non-decreasing from front to back.
    order: VecDeque<(i64, u64)>,
    /// The window length of the last touch, used by [`Containment::sweep`].
    window_secs: u32,
    suspended: bool,
}

impl Window {
    /// Drops entries last touched at or before `now - window_secs`.
    fn expire(&mut self, now: i64, window_secs: u32) {
        let cutoff = now.saturating_sub(i64::from(window_secs));
        while let Some(&(t, s)) = self.order.front() {
            if t > cutoff {
                break;
            }
            self.order.pop_front();
            if self.last.get(&s) == Some(&t) {
                self.last.remove(&s);
            }
        }
    }

    fn clear(&mut self) {
        self.last = HashMap::new();
        self.order = VecDeque::new();
    }

    /// Records a touch of `subject` at `now`. Should `now` be earlier than the newest
    /// touch recorded (another server's clock), the touch is recorded at that newest time
    /// instead: the subject then stays counted a little longer, never shorter.
    fn record(&mut self, subject: u64, now: i64) {
        let t = self
            .order
            .back()
            .map_or(now, |&(newest, _)| newest.max(now));
        match self.last.get_mut(&subject) {
            Some(old) if *old >= t => return,
            Some(old) => *old = t,
            None => {
                self.last.insert(subject, t);
            }
        }
        self.order.push_back((t, subject));
        if self.order.len() > 2 * self.last.len() + 64 {
            let mut live: Vec<(i64, u64)> = self.last.iter().map(|(s, t)| (*t, *s)).collect();
            live.sort_unstable();
            self.order = live.into();
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    principals: HashMap<String, Window>,
}

const SHARDS: usize = 64;

/// Quota and canary accounting for all principals. Shared between request handlers:
/// every method takes `&self`; each principal's state sits behind one of 64 locks, so
/// requests of one principal are counted one after the other (no race can let two
/// requests both pass the last free slot) while other principals proceed in parallel.
#[derive(Debug)]
pub struct Containment {
    shards: Vec<Mutex<Shard>>,
    canaries: RwLock<HashSet<u64>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Containment {
    fn default() -> Self {
        Self::new()
    }
}

/// Locks a mutex, taking over a poisoned one. A panic while holding a shard lock could only
/// come from allocation failure; the state it guards stays a valid (if partly updated)
/// window, and refusing every later request of 1/64 of the principals would be worse.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The body of [`Containment::touch`] for one principal's window, under its shard lock.
fn touch_window(
    w: &mut Window,
    principal: &str,
    quota: Quota,
    subjects: &[u64],
    now: i64,
    canaries: Vec<u64>,
) -> Touch {
    if w.suspended {
        return Touch::Suspended;
    }
    w.window_secs = quota.window_secs;
    w.expire(now, quota.window_secs);

    let trigger = if !canaries.is_empty() {
        Some(Trigger::Canary)
    } else {
        let new = match subjects {
            // The common case (one subject read) needs no allocation.
            [] => 0,
            [one] => usize::from(!w.last.contains_key(one)),
            _ => {
                let mut new: Vec<u64> = subjects
                    .iter()
                    .copied()
                    .filter(|s| !w.last.contains_key(s))
                    .collect();
                new.sort_unstable();
                new.dedup();
                new.len()
            }
        };
        (w.last.len() + new > quota.subjects as usize).then_some(Trigger::Quota)
    };

    let Some(trigger) = trigger else {
        for &s in subjects {
            w.record(s, now);
        }
        return Touch::Allowed;
    };

    let mut obtained: Vec<u64> = w.last.keys().copied().collect();
    obtained.sort_unstable();
    let mut refused = subjects.to_vec();
    refused.sort_unstable();
    refused.dedup();
    w.clear();
    w.suspended = true;
    Touch::Contained(Box::new(DraftIncident {
        principal: principal.to_owned(),
        trigger,
        window_start: now.saturating_sub(i64::from(quota.window_secs)),
        window_end: now,
        quota,
        subjects: obtained,
        refused,
        canaries,
    }))
}

impl Containment {
    /// Empty state, no canaries.
    pub fn new() -> Self {
        Containment {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            canaries: RwLock::new(HashSet::new()),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard(&self, principal: &str) -> MutexGuard<'_, Shard> {
        // SHARDS is a power of two; the low bits of SipHash are uniform.
        let h = self.hasher.hash_one(principal);
        lock(&self.shards[(h as usize) & (SHARDS - 1)])
    }

    /// Replaces the set of canary subjects (internal ids).
    pub fn set_canaries(&self, canaries: impl IntoIterator<Item = u64>) {
        let set: HashSet<u64> = canaries.into_iter().collect();
        *self
            .canaries
            .write()
            .unwrap_or_else(PoisonError::into_inner) = set;
    }

    /// Whether `iid` is a canary subject.
    pub fn is_canary(&self, iid: u64) -> bool {
        self.canaries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&iid)
    }

    /// Accounts for a request of `principal` that would return `subjects` (internal ids,
    /// repeats allowed) at `now` (unix seconds), under `quota`. See the module
    /// documentation for the rules.
    pub fn touch(&self, principal: &str, quota: Quota, subjects: &[u64], now: i64) -> Touch {
        let canaries: Vec<u64> = {
            let set = self.canaries.read().unwrap_or_else(PoisonError::into_inner);
            if set.is_empty() {
                Vec::new()
            } else {
                let mut hit: Vec<u64> = subjects
                    .iter()
                    .copied()
                    .filter(|s| set.contains(s))
                    .collect();
                hit.sort_unstable();
                hit.dedup();
                hit
            }
        };
        let mut shard = self.shard(principal);
        // One hash of the principal id on the common path; a second only for a principal's
        // first request.
        if let Some(w) = shard.principals.get_mut(principal) {
            return touch_window(w, principal, quota, subjects, now, canaries);
        }
        let w = shard.principals.entry(principal.to_owned()).or_default();
        touch_window(w, principal, quota, subjects, now, canaries)
    }

    /// Whether `principal` is suspended.
    pub fn is_suspended(&self, principal: &str) -> bool {
        self.shard(principal)
            .principals
            .get(principal)
            .is_some_and(|w| w.suspended)
    }

    /// Suspends `principal` (an operator's act, or seeding at start-up from the stored
    /// suspensions). Its window is dropped.
    pub fn suspend(&self, principal: &str) {
        let mut shard = self.shard(principal);
        let w = shard.principals.entry(principal.to_owned()).or_default();
        w.clear();
        w.suspended = true;
    }

    /// Lifts a suspension; the principal starts on an empty window. Returns whether it was
    /// suspended.
    pub fn reinstate(&self, principal: &str) -> bool {
        self.shard(principal)
            .principals
            .remove(principal)
            .is_some_and(|w| w.suspended)
    }

    /// Drops expired entries of every principal (each by the window of its last touch) and
    /// forgets principals left with nothing (not suspended, empty window). Call it
    /// periodically (every minute, say) so that idle principals do not hold memory.
    pub fn sweep(&self, now: i64) {
        for shard in &self.shards {
            let mut shard = lock(shard);
            shard.principals.retain(|_, w| {
                let window = w.window_secs;
                w.expire(now, window);
                w.suspended || !w.last.is_empty()
            });
        }
    }

    /// How many canaries are watched.
    pub fn canary_count(&self) -> usize {
        self.canaries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// What is held, for metrics.
    pub fn stats(&self) -> ContainmentStats {
        let mut s = ContainmentStats::default();
        for shard in &self.shards {
            let shard = lock(shard);
            s.principals += shard.principals.len();
            for w in shard.principals.values() {
                s.suspended += usize::from(w.suspended);
                s.entries += w.last.len();
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Quota = Quota {
        subjects: 3,
        window_secs: 60,
    };

    fn incident(t: Touch) -> DraftIncident {
        match t {
            Touch::Contained(i) => *i,
            other => panic!("not contained: {other:?}"),
        }
    }

    #[test]
    fn the_request_crossing_the_quota_is_refused_whole() {
        let c = Containment::new();
        assert!(c.touch("p", Q, &[1, 2], 100).is_allowed());
        assert!(
            c.touch("p", Q, &[2, 2, 1], 101).is_allowed(),
            "repeats count once"
        );
        let i = incident(c.touch("p", Q, &[3, 4], 102));
        assert_eq!(i.trigger, Trigger::Quota);
        assert_eq!(i.subjects, [1, 2]);
        assert_eq!(i.refused, [3, 4]);
        assert_eq!((i.window_start, i.window_end), (42, 102));
        assert_eq!(
            i.to_string(),
            "principal `p` suspended by quota containment: 2 subjects obtained in (42, 102] \
             (quota 3 per 60 s), request for 2 subjects refused"
        );
        assert!(c.is_suspended("p"));
        assert_eq!(c.touch("p", Q, &[1], 103), Touch::Suspended);
        assert_eq!(
            c.touch("p", Q, &[1], 10_000).deny_code(),
            Some(DenyCode::PrincipalSuspended)
        );
        // Others are unaffected.
        assert!(c.touch("q", Q, &[1, 2, 3], 102).is_allowed());
        assert!(c.reinstate("p"));
        assert!(!c.reinstate("p"));
        assert!(
            c.touch("p", Q, &[7, 8, 9], 104).is_allowed(),
            "fresh window"
        );
    }

    #[test]
    fn the_window_slides() {
        let c = Containment::new();
        assert!(c.touch("p", Q, &[1], 0).is_allowed());
        assert!(c.touch("p", Q, &[2], 30).is_allowed());
        assert!(c.touch("p", Q, &[3], 59).is_allowed());
        // At 60, subject 1 (touched at 0) has left the window.
        assert!(c.touch("p", Q, &[4], 60).is_allowed());
        // Renewing 2 keeps it in; 3, 4, 2 are in the window at 89.
        assert!(c.touch("p", Q, &[2], 61).is_allowed());
        let i = incident(c.touch("p", Q, &[5], 89));
        assert_eq!(i.subjects, [2, 3, 4]);
    }

    #[test]
    fn a_single_canary_suspends() {
        let c = Containment::new();
        c.set_canaries([999]);
        assert!(c.is_canary(999) && !c.is_canary(1));
        assert!(c.touch("p", Q, &[1], 0).is_allowed());
        let t = c.touch("p", Q, &[2, 999], 1);
        assert_eq!(t.deny_code(), Some(DenyCode::PrincipalSuspended));
        let i = incident(t);
        assert_eq!(i.trigger, Trigger::Canary);
        assert_eq!(i.subjects, [1]);
        assert_eq!(i.canaries, [999]);
        assert!(c.is_suspended("p"));
    }

    #[test]
    fn memory_is_bounded_and_swept_by_each_window() {
        let c = Containment::new();
        for p in 0..100 {
            assert!(c.touch(&format!("p{p}"), Q, &[1, 2, 3], 0).is_allowed());
        }
        c.suspend("p0");
        assert_eq!(
            c.stats(),
            ContainmentStats {
                principals: 100,
                suspended: 1,
                entries: 297
            }
        );
        c.sweep(59);
        assert_eq!(c.stats().entries, 297);
        c.sweep(60);
        assert_eq!(
            c.stats(),
            ContainmentStats {
                principals: 1,
                suspended: 1,
                entries: 0
            }
        );
    }

    #[test]
    fn sweep_keeps_each_principal_s_own_window() {
        let c = Containment::new();
        let long = Quota {
            subjects: 3,
            window_secs: 3600,
        };
        assert!(c.touch("short", Q, &[1], 0).is_allowed());
        assert!(c.touch("long", long, &[1], 0).is_allowed());
        c.sweep(100);
        assert_eq!(c.stats().principals, 1);
        assert!(c.touch("long", long, &[2, 3], 100).is_allowed());
        assert!(!c.touch("long", long, &[4], 101).is_allowed());
    }

    #[test]
    fn renewals_do_not_grow_the_queue_without_bound() {
        let c = Containment::new();
        let q = Quota {
            subjects: 10,
            window_secs: 1_000_000,
        };
        for now in 0..10_000 {
            assert!(c.touch("p", q, &[now as u64 % 10], now).is_allowed());
        }
        let shard = c.shard("p");
        let w = &shard.principals["p"];
        assert_eq!(w.last.len(), 10);
        assert!(w.order.len() <= 2 * 10 + 64, "{}", w.order.len());
    }

    #[test]
    fn time_going_backwards_does_not_free_slots() {
        let c = Containment::new();
        assert!(c.touch("p", Q, &[1, 2, 3], 100).is_allowed());
        // A request stamped earlier (another server's clock) sees the same window.
        assert!(!c.touch("p", Q, &[4], 50).is_allowed());
    }
}
