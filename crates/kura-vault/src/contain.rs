//! Containment inside the vault: after a request's subjects are known and before any of
//! their data is returned, the caller's distinct-subject quota and the canary list are
//! checked. The window is counted in the store ([`kura_store::ContainmentStore`]), one
//! transaction per request, so that every server over one database and every restart share
//! it. A trip refuses the whole request with `principal_suspended`: the store suspends the
//! principal in the same transaction, and a [`ContainmentSink`] records the incident and
//! raises the alert.
//!
//! # Cost
//! One small write transaction per counted request. Concurrent requests are deliberately not
//! batched into shared transactions: measured at 1M subjects with 16 clients on 2 cores, a
//! leader/follower batch cost more in wake-ups than it saved in commits (BENCHMARKS.md).
//!
//! # Fail closed
//! A store failure while counting refuses the request (the error is returned; no data).

use std::sync::Arc;

use kura_audit::{AccessEvent, Action};
use kura_policy::{Canaries, DenyCode, DraftIncident, Quota, Trigger};
use kura_store::{ContainmentStore, WindowOutcome, WindowTouch};
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
        let admits = |live: u64, new: u64| quota.admits(live, new);
        let outcome = hook.windows.touch_window(&WindowTouch {
            key: &key,
            principal,
            subjects: &subjects,
            now_ms: now_ms as i64,
            window_ms: i64::from(quota.window_secs) * 1000,
            admits: &admits,
            force_trip: !canaries.is_empty(),
            reason: trigger.reason(),
            audit: &suspension,
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
                hook.sink.contained(&incident, &id(), now_ms);
                Err(VaultError::Denied(DenyCode::PrincipalSuspended))
            }
        }
    }
}
