//! Containment: per-principal quotas on distinct subjects within a window, a budget of
//! searches without a hit (probes), and canary subjects. Any of them, once tripped,
//! suspends the principal at once and yields a [`DraftIncident`].
//!
//! This module holds the rules and the canary list; the windows themselves live in the
//! store (`kura_store::ContainmentStore`), so that every server over one database, and a
//! server after a restart, counts one window.
//!
//! # Rules
//! - A subject counts in a principal's window from the request that brought it in, for
//!   `window_secs`; touching it again while it counts neither extends nor repeats it. A
//!   principal therefore obtains at most `quota.subjects` subjects entering its window in
//!   any period of `window_secs` ([`Quota::admits`] is the one admission rule).
//! - A request whose new distinct subjects would bring the count above `quota.subjects` is
//!   refused whole: none of its subjects is recorded or returned.
//! - A search that finds nothing counts one *probe* (keyed by the searched value's blind
//!   token, so repeating a value counts once) against a window of its own with the same
//!   quota: probing values is bounded like obtaining subjects.
//! - Any canary among a request's subjects trips containment, whatever the count. The
//!   caller sees the same code (`principal_suspended`) for every trigger.
//! - A suspended principal stays suspended until an operator reinstates it, which also
//!   starts it on empty windows.

use std::collections::HashSet;
use std::sync::{PoisonError, RwLock};

use serde::Serialize;

use crate::Quota;

/// What tripped containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The request would have crossed the distinct-subject quota.
    Quota,
    /// The request touched a canary subject.
    Canary,
    /// A search without a hit would have crossed the probe budget.
    Probe,
}

impl Trigger {
    /// The suspension reason recorded with the principal (`containment:quota`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            Trigger::Quota => "containment:quota",
            Trigger::Canary => "containment:canary",
            Trigger::Probe => "containment:probe",
        }
    }

    /// The stable name (`quota`, `canary`, `probe`).
    pub fn as_str(self) -> &'static str {
        self.reason().trim_start_matches("containment:")
    }
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
    /// its allowed requests, not those of the refused one. Empty for a probe trigger
    /// (probes obtain nobody).
    pub subjects: Vec<u64>,
    /// The subjects of the refused request, ascending and distinct (not obtained).
    pub refused: Vec<u64>,
    /// The canaries among the refused request's subjects, ascending (empty unless the
    /// trigger is a canary).
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
            self.trigger.as_str(),
            self.subjects.len(),
            self.window_start,
            self.window_end,
            self.quota.subjects,
            self.quota.window_secs,
            self.refused.len(),
        )
    }
}

/// The canary subjects every server watches (refreshed from the store).
#[derive(Debug, Default)]
pub struct Canaries {
    set: RwLock<HashSet<u64>>,
}

impl Canaries {
    /// No canaries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the set of canary subjects (internal ids).
    pub fn set(&self, canaries: impl IntoIterator<Item = u64>) {
        let set: HashSet<u64> = canaries.into_iter().collect();
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = set;
    }

    /// Whether `iid` is a canary subject.
    pub fn contains(&self, iid: u64) -> bool {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&iid)
    }

    /// The canaries among `subjects`, ascending and distinct.
    pub fn among(&self, subjects: &[u64]) -> Vec<u64> {
        let set = self.set.read().unwrap_or_else(PoisonError::into_inner);
        if set.is_empty() {
            return Vec::new();
        }
        let mut hit: Vec<u64> = subjects
            .iter()
            .copied()
            .filter(|s| set.contains(s))
            .collect();
        hit.sort_unstable();
        hit.dedup();
        hit
    }

    /// How many canaries are watched.
    pub fn len(&self) -> usize {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_among_a_request() {
        let c = Canaries::new();
        assert!(c.among(&[1, 2]).is_empty());
        c.set([999, 5]);
        assert!(c.contains(999) && !c.contains(1));
        assert_eq!(c.among(&[999, 1, 5, 999]), [5, 999]);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn the_incident_line_names_no_subject() {
        let i = DraftIncident {
            principal: "p".into(),
            trigger: Trigger::Quota,
            window_start: 42,
            window_end: 102,
            quota: Quota {
                subjects: 3,
                window_secs: 60,
            },
            subjects: vec![11, 12],
            refused: vec![13, 14],
            canaries: vec![],
        };
        assert_eq!(
            i.to_string(),
            "principal `p` suspended by quota containment: 2 subjects obtained in (42, 102] \
             (quota 3 per 60 s), request for 2 subjects refused"
        );
        assert_eq!(Trigger::Probe.reason(), "containment:probe");
    }
}
