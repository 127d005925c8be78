//! Containment inside the vault: after a request's subjects are known and before any of
//! their data is returned, the caller's distinct-subject quota and the canary list are
//! checked. The window is counted in the store ([`kura_store::ContainmentStore`]), one
//! transaction per request, so that every server over one database and every restart share
//! it. A trip refuses the whole request with `principal_suspended`: the store suspends the
//! principal in the same transaction, and a [`ContainmentSink`] records the incident and
//! raises the alert.
//!
//! # Group commit
//! Concurrent requests are counted together: the first to find no batch running takes every
//! request waiting and counts them, in arrival order, in one store transaction
//! ([`ContainmentStore::touch_windows`]); the others wait for their outcome. Each request
//! sees the effects of those before it exactly as if it had its own transaction, so the
//! quota is exact; what is shared is the commit.
//!
//! # Fail closed
//! A store failure while counting refuses the request (the error is returned; no data).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use kura_audit::{AccessEvent, Action};
use kura_policy::{Canaries, DenyCode, DraftIncident, Quota, Trigger};
use kura_store::{ContainmentStore, StoreError, WindowOutcome, WindowTouch};
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
    batch: Mutex<Batch>,
    settled: Condvar,
}

/// One counted request, owned, waiting for the batch that carries it.
struct Job {
    key: String,
    principal: String,
    subjects: Vec<u64>,
    now_ms: i64,
    quota: Quota,
    force_trip: bool,
    reason: &'static str,
    leaf: Vec<u8>,
}

/// Requests waiting, outcomes not yet collected, and whether a batch is running.
#[derive(Default)]
struct Batch {
    next: u64,
    pending: Vec<(u64, Job)>,
    done: HashMap<u64, Result<WindowOutcome, String>>,
    running: bool,
}

fn lock(m: &Mutex<Batch>) -> MutexGuard<'_, Batch> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ContainmentHook {
    /// Counts `job` together with whatever else is waiting; returns its outcome.
    fn submit(&self, job: Job) -> Result<WindowOutcome, VaultError> {
        let mut st = lock(&self.batch);
        let id = st.next;
        st.next += 1;
        st.pending.push((id, job));
        loop {
            if let Some(r) = st.done.remove(&id) {
                return r.map_err(|e| VaultError::Store(StoreError::Backend(e)));
            }
            if !st.running {
                // Lead one batch: everything waiting now, this request included.
                st.running = true;
                let jobs = std::mem::take(&mut st.pending);
                drop(st);
                // A panic in the store must not leave the batch marked running forever.
                let outcomes =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(&jobs)))
                        .unwrap_or_else(|_| {
                            vec![Err("containment batch panicked".to_owned()); jobs.len()]
                        });
                st = lock(&self.batch);
                st.running = false;
                for ((id, _), r) in jobs.iter().zip(outcomes) {
                    st.done.insert(*id, r);
                }
                self.settled.notify_all();
                continue;
            }
            st = self
                .settled
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Counts a batch in one store transaction.
    fn run(&self, jobs: &[(u64, Job)]) -> Vec<Result<WindowOutcome, String>> {
        let rules: Vec<_> = jobs
            .iter()
            .map(|(_, j)| {
                let q = j.quota;
                move |live: u64, new: u64| q.admits(live, new)
            })
            .collect();
        let touches: Vec<WindowTouch<'_>> = jobs
            .iter()
            .zip(&rules)
            .map(|((_, j), admits)| WindowTouch {
                key: &j.key,
                principal: &j.principal,
                subjects: &j.subjects,
                now_ms: j.now_ms,
                window_ms: i64::from(j.quota.window_secs) * 1000,
                admits,
                force_trip: j.force_trip,
                reason: j.reason,
                audit: std::slice::from_ref(&j.leaf),
            })
            .collect();
        match self.windows.touch_windows(&touches) {
            Ok(outs) if outs.len() == jobs.len() => outs.into_iter().map(Ok).collect(),
            Ok(_) => vec![Err("containment batch answered the wrong count".to_owned()); jobs.len()],
            Err(e) => vec![Err(e.to_string()); jobs.len()],
        }
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
            batch: Mutex::new(Batch::default()),
            settled: Condvar::new(),
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
        let incident_id = Uuid::now_v7().to_string();
        let leaf = AccessEvent::new(
            now_ms,
            "kura-containment",
            "containment",
            Action::PrincipalSuspend,
            "",
            &incident_id,
        )
        .to_leaf()?;
        let key = if probe {
            kura_store::probe_key(principal)
        } else {
            principal.to_owned()
        };
        let outcome = hook.submit(Job {
            key,
            principal: principal.to_owned(),
            subjects: subjects.clone(),
            now_ms: now_ms as i64,
            quota,
            force_trip: !canaries.is_empty(),
            reason: trigger.reason(),
            leaf,
        })?;
        match outcome {
            WindowOutcome::Admitted => Ok(()),
            WindowOutcome::AlreadyTripped => Err(VaultError::Denied(DenyCode::PrincipalSuspended)),
            WindowOutcome::Tripped { obtained } => {
                let now = (now_ms / 1000) as i64;
                let incident = DraftIncident {
                    principal: principal.to_owned(),
                    trigger,
                    window_start: now.saturating_sub(i64::from(quota.window_secs)),
                    window_end: now,
                    quota: Quota { ..quota },
                    subjects: if probe { Vec::new() } else { obtained },
                    refused: if probe { Vec::new() } else { subjects },
                    canaries,
                };
                hook.sink.contained(&incident, &incident_id, now_ms);
                Err(VaultError::Denied(DenyCode::PrincipalSuspended))
            }
        }
    }
}
