//! Containment inside the vault: after a request's subjects are known and before any of
//! their data is returned, the caller's distinct-subject quota and the canary list are
//! checked. The window is counted in the store ([`kura_store::ContainmentStore`]), so that
//! every server over one database and every restart share it. A trip refuses the whole
//! request with `principal_suspended`: the store suspends the principal in the same
//! transaction, and a [`ContainmentSink`] records the incident and raises the alert.
//!
//! # Admission leases
//! Counting every new subject in its own store transaction cost a read about 14 % at 1M
//! subjects (BENCHMARKS.md). So a server that goes to the store for a principal also asks
//! for a few slots ahead ([`kura_policy::Quota::lease`]: never more than an eighth of what
//! the quota leaves free, so near the quota every request is counted exactly, and a small
//! quota is never leased). It spends them on the principal's next new subjects without a
//! round trip, for at most [`LEASE_TTL_MS`], and settles it in its next transaction for
//! that principal: the subjects it admitted on it are kept with the lease in the store (the
//! lease already counted them; a trip names them), the slots it did not spend are handed
//! back. The lease's size follows demand: twice what was spent
//! from the previous one, at most [`LEASE_MAX`].
//!
//! What this keeps and what it costs:
//! - **`n` servers and restarts still admit at most the quota**: leased slots are counted in
//!   the store the moment they are granted; a server that dies with slots unspent has only
//!   made the count higher until they expire.
//! - A subject spent from a lease counts from the time the lease was taken, at most
//!   [`LEASE_TTL_MS`] before the read: over any period of the window less that, at most the
//!   quota of subjects enter.
//! - Each server remembers which subjects it counted in the window (at most
//!   [`SEEN_MAX`] per principal; forgetting only makes a later read count again), so that
//!   reading a subject again is free on that server. A subject read on two servers may
//!   count on both: containment errs towards refusing. A trip names
//!   every subject in the store's window, those spent on settled leases included (a lease
//!   another server holds unsettled at that moment is not named; the access log has it).
//! - Canaries trip before any lease is looked at; a trip on another server reaches this
//!   one at the principal's next authentication (the suspension is in the store), and a
//!   reinstatement or a change of quota drops the local lease.
//!
//! # Fail closed
//! A store failure while counting refuses the request (the error is returned; no data), and
//! the local lease is dropped.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use kura_audit::{AccessEvent, Action};
use kura_policy::{Canaries, DenyCode, DraftIncident, Quota, Trigger};

/// How long a server may spend a lease's slots after taking it (milliseconds; shorter for
/// windows under 16 s: a sixteenth of the window).
pub const LEASE_TTL_MS: i64 = 1_000;
/// The most slots one lease asks for.
pub const LEASE_MAX: u64 = 4_096;
/// The most subjects a server remembers as counted, per principal and window.
pub const SEEN_MAX: usize = 65_536;
use kura_store::{ContainmentStore, LeaseSettlement, WindowOutcome, WindowTouch};
use uuid::Uuid;

use crate::{Access, Vault, VaultError};

/// Where a containment trip goes: persistence of the incident and alerting, provided by the
/// server (or the administrative layer).
pub trait ContainmentSink: Send + Sync {
    /// A request of `incident.principal` tripped containment (quota, probe or canary). The
    /// principal is already suspended in the store, and `incident_id` names the suspension's
    /// access event. Called once per trip, on the request's thread, before the refusal is
    /// returned: record the draft incident, then raise the alert. Must not panic; failures
    /// are the sink's to log (the principal stays suspended regardless).
    fn contained(&self, incident: &DraftIncident, incident_id: &str, time_ms: u64);
}

/// The containment state a vault checks requests against.
pub(crate) struct ContainmentHook {
    pub(crate) canaries: Arc<Canaries>,
    windows: Arc<dyn ContainmentStore>,
    sink: Arc<dyn ContainmentSink>,
    /// This server's leases, per counted key. The outer lock is held only to find a key's
    /// lease; a key's own lock is held across its store transaction, so one principal's
    /// concurrent requests take one lease, not sixteen.
    leases: Mutex<HashMap<String, Arc<Mutex<Lease>>>>,
    /// Picked once per vault: keeps this server's leases apart from another's taken in the
    /// same millisecond.
    lease_tag: u16,
}

/// What this server holds of one key's window.
#[derive(Debug, Default)]
struct Lease {
    /// The grant the lease was taken under (reinstatement time, quota): a change drops it.
    grant: Option<(u64, Quota)>,
    /// Slots left to spend.
    slots: u64,
    /// The time the lease was taken (its record in the store).
    taken_at: i64,
    /// Slots may be spent while `now < spend_until`.
    spend_until: i64,
    /// Whether a lease is held (slots were granted at `taken_at`; it is settled with the
    /// store at the next transaction for the key).
    held: bool,
    /// Subjects admitted on the lease, reported to the store when it is settled.
    spent: Vec<u64>,
    /// Subjects this server counted in the window; valid while `now < seen_until` (the
    /// earliest time one of them stops counting).
    seen: HashSet<u64>,
    seen_until: i64,
}

impl Lease {
    fn remember(&mut self, subjects: &[u64], counted_at: i64, window_ms: i64) {
        if self.seen.len() + subjects.len() > SEEN_MAX {
            self.seen.clear();
            self.seen_until = i64::MAX;
        }
        if self.seen.is_empty() {
            self.seen_until = i64::MAX;
        }
        self.seen.extend(subjects.iter().copied());
        self.seen_until = self.seen_until.min(counted_at.saturating_add(window_ms));
    }
}

impl Vault {
    /// Turns containment on: every request of a caller with a quota (services, processors,
    /// self-service principals) is counted in `windows`, and canaries trip it. A vault
    /// without it (`kura bench`'s bypass) counts nothing.
    #[must_use]
    pub fn with_containment(
        mut self,
        canaries: Arc<Canaries>,
        windows: Arc<dyn ContainmentStore>,
        sink: Arc<dyn ContainmentSink>,
    ) -> Self {
        self.containment = Some(ContainmentHook {
            canaries,
            windows,
            sink,
            leases: Mutex::new(HashMap::new()),
            lease_tag: {
                let b = Uuid::now_v7().into_bytes();
                u16::from_be_bytes([b[14], b[15]])
            },
        });
        self
    }

    /// The canary list, if containment is on (the server refreshes it from the store).
    pub fn canaries(&self) -> Option<&Arc<Canaries>> {
        self.containment.as_ref().map(|h| &h.canaries)
    }

    /// Counts `iids` against the caller's quota and the canary list.
    ///
    /// # Errors
    /// [`VaultError::Denied`] with `principal_suspended` when the request trips containment
    /// or the principal's window has tripped before; store failures (fail closed).
    pub(crate) fn touch(&self, access: &Access, iids: &[u64]) -> Result<(), VaultError> {
        self.count(access, iids, false)
    }

    /// Counts one search that found nothing against the caller's probe budget, keyed by
    /// `probe` (a number derived from the searched value's blind token, so that repeating a
    /// value counts once).
    ///
    /// # Errors
    /// As [`Vault::touch`].
    pub(crate) fn touch_probe(&self, access: &Access, probe: u64) -> Result<(), VaultError> {
        self.count(access, &[probe], true)
    }

    fn count(&self, access: &Access, iids: &[u64], probe: bool) -> Result<(), VaultError> {
        let (Some(hook), Some(quota)) = (&self.containment, access.caller.quota) else {
            return Ok(());
        };
        let now_ms = self.now_ms();
        let principal = access.principal.as_str();
        let mut subjects = iids.to_vec();
        subjects.sort_unstable();
        subjects.dedup();
        let canaries = if probe {
            Vec::new()
        } else {
            hook.canaries.among(&subjects)
        };
        let trigger = match (probe, canaries.is_empty()) {
            (true, _) => Trigger::Probe,
            (false, false) => Trigger::Canary,
            (false, true) => Trigger::Quota,
        };
        // The incident id and the suspension's leaf are made only if the request trips.
        let incident_id = std::cell::OnceCell::new();
        let id = || {
            incident_id
                .get_or_init(|| Uuid::now_v7().to_string())
                .clone()
        };
        let suspension = || {
            AccessEvent::new(
                now_ms,
                "kura-containment",
                "containment",
                Action::PrincipalSuspend,
                "",
                &id(),
            )
            .to_leaf()
            .map(|leaf| vec![leaf])
            .map_err(|e| e.to_string())
        };
        let key = if probe {
            kura_store::probe_key(principal)
        } else {
            principal.to_owned()
        };
        let window_ms = i64::from(quota.window_secs) * 1000;
        let now = now_ms as i64;
        let admits = |live: u64, new: u64| quota.admits(live, new);
        // A refusal from the store becomes the caller's answer (and, on a trip, the sink's
        // incident).
        let answer = |outcome: WindowOutcome| match outcome {
            WindowOutcome::Admitted { .. } => Ok(()),
            WindowOutcome::AlreadyTripped => Err(VaultError::Denied(DenyCode::PrincipalSuspended)),
            WindowOutcome::Tripped { obtained } => {
                let secs = (now_ms / 1000) as i64;
                let incident = DraftIncident {
                    principal: principal.to_owned(),
                    trigger,
                    window_start: secs.saturating_sub(i64::from(quota.window_secs)),
                    window_end: secs,
                    quota,
                    subjects: if probe { Vec::new() } else { obtained },
                    refused: if probe { Vec::new() } else { subjects.clone() },
                    canaries: canaries.clone(),
                };
                hook.sink.contained(&incident, &id(), now_ms);
                Err(VaultError::Denied(DenyCode::PrincipalSuspended))
            }
        };

        // A canary trips at once, whatever this server holds.
        if !canaries.is_empty() {
            hook.forget(&key);
            let outcome = hook.windows.touch_window(&WindowTouch {
                key: &key,
                principal,
                subjects: &subjects,
                now_ms: now,
                window_ms,
                admits: &admits,
                force_trip: true,
                reason: trigger.reason(),
                lease: &|_| 0,
                lease_tag: hook.lease_tag,
                settle: None,
                audit: &suspension,
            })?;
            return answer(outcome);
        }

        let entry = hook.lease_of(&key);
        let mut lease = entry.lock().unwrap_or_else(PoisonError::into_inner);
        let grant = (access.caller.reinstated_at_ms, quota);
        if lease.grant != Some(grant) {
            *lease = Lease {
                grant: Some(grant),
                ..Lease::default()
            };
        }
        if now >= lease.seen_until {
            lease.seen.clear();
            lease.seen_until = i64::MAX;
        }
        let new: Vec<u64> = subjects
            .iter()
            .copied()
            .filter(|s| !lease.seen.contains(s))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        if now < lease.spend_until && new.len() as u64 <= lease.slots {
            lease.slots -= new.len() as u64;
            lease.spent.extend_from_slice(&new);
            let taken_at = lease.taken_at;
            lease.remember(&new, taken_at, window_ms);
            return Ok(());
        }
        // To the store: count the new subjects, settle the lease (what it was spent on,
        // what is left), take a new one sized by what the last one served.
        lease.spent.sort_unstable();
        let settlement = (lease.held && now < lease.taken_at.saturating_add(window_ms)).then_some(
            LeaseSettlement {
                taken_at: lease.taken_at,
                tag: hook.lease_tag,
                spent: &lease.spent,
                unspent: lease.slots,
            },
        );
        let want = ((lease.spent.len() + new.len()) as u64)
            .saturating_mul(2)
            .clamp(1, LEASE_MAX);
        let lease_fn = |live: u64| quota.lease(live, want);
        let touched = hook.windows.touch_window(&WindowTouch {
            key: &key,
            principal,
            subjects: &new,
            now_ms: now,
            window_ms,
            admits: &admits,
            force_trip: false,
            reason: trigger.reason(),
            lease: &lease_fn,
            lease_tag: hook.lease_tag,
            settle: settlement,
            audit: &suspension,
        });
        let outcome = match touched {
            Ok(o) => o,
            Err(e) => {
                *lease = Lease::default();
                return Err(e.into());
            }
        };
        if let WindowOutcome::Admitted { leased } = outcome {
            lease.slots = leased;
            lease.held = leased > 0;
            lease.taken_at = now;
            lease.spend_until = now.saturating_add(LEASE_TTL_MS.min(window_ms / 16));
            lease.spent.clear();
            lease.remember(&new, now, window_ms);
            return Ok(());
        }
        *lease = Lease::default();
        drop(lease);
        answer(outcome)
    }
}

impl ContainmentHook {
    /// This server's lease record of `key` (made empty on first use).
    fn lease_of(&self, key: &str) -> Arc<Mutex<Lease>> {
        let mut map = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = map.get(key) {
            return l.clone();
        }
        // Bounded: a server that has seen very many keys starts over (forgetting leases
        // only makes later requests go to the store).
        if map.len() >= 100_000 {
            map.clear();
        }
        map.entry(key.to_owned()).or_default().clone()
    }

    /// Drops this server's lease of `key` (its slots stay counted until they expire).
    fn forget(&self, key: &str) {
        self.leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}
