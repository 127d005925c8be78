//! Containment inside the vault: after a request's subjects are known and before any of
//! their data is returned, the caller's distinct-subject quota and the canary list are
//! checked ([`kura_policy::Containment`]). A trip refuses the whole request with
//! `principal_suspended` and hands a [`DraftIncident`] to a [`ContainmentSink`], which
//! persists the suspension and the incident and raises the alert.
//!
//! # Suspension, memory and store
//! A trip suspends the principal in memory at once (so that its concurrent requests are
//! refused even before the store has recorded anything) and the sink records it in the store,
//! from where every server sees it on the principal's next authentication
//! ([`crate::Caller::suspended`]). An operator reinstates in the store; a request that then
//! arrives with [`crate::Caller::reinstated_at_ms`] later than the in-memory suspension
//! lifts the in-memory one too, starting the principal on an empty window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use kura_policy::{Containment, DenyCode, DraftIncident, Touch};

use crate::{Access, Vault, VaultError};

/// Where a containment trip goes: persistence and alerting, provided by the server.
pub trait ContainmentSink: Send + Sync {
    /// A request of `incident.principal` tripped containment (quota or canary). Called once
    /// per trip, on the request's thread, before the refusal is returned: persist the
    /// suspension and the draft incident, then raise the alert. Must not panic; failures are
    /// the sink's to log (the principal stays suspended in memory regardless).
    fn contained(&self, incident: &DraftIncident, time_ms: u64);
}

/// The containment state a vault checks requests against.
pub(crate) struct ContainmentHook {
    pub(crate) state: Arc<Containment>,
    sink: Arc<dyn ContainmentSink>,
    /// When each principal was suspended in memory (unix ms), to tell a reinstatement in
    /// the store from a request that raced its own suspension.
    since: Mutex<HashMap<String, u64>>,
}

impl Vault {
    /// Turns containment on: every request of a caller with a quota (services, processors,
    /// self-service principals) is counted, and canaries trip it. A vault without it (the
    /// CLI, `kura bench`'s bypass) counts nothing.
    #[must_use]
    pub fn with_containment(
        mut self,
        state: Arc<Containment>,
        sink: Arc<dyn ContainmentSink>,
    ) -> Self {
        self.containment = Some(ContainmentHook {
            state,
            sink,
            since: Mutex::new(HashMap::new()),
        });
        self
    }

    /// The containment state, if on (the server seeds canaries and sweeps through it).
    pub fn containment(&self) -> Option<&Arc<Containment>> {
        self.containment.as_ref().map(|h| &h.state)
    }

    /// Counts `iids` against the caller's quota and the canary list.
    ///
    /// # Errors
    /// [`VaultError::Denied`] with `principal_suspended` when the request trips containment
    /// or the principal is already suspended.
    pub(crate) fn touch(&self, access: &Access, iids: &[u64]) -> Result<(), VaultError> {
        let (Some(hook), Some(quota)) = (&self.containment, access.caller.quota) else {
            return Ok(());
        };
        let now_ms = self.now_ms();
        let principal = access.principal.as_str();
        // Only a principal an operator has reinstated can have a suspension to lift; the
        // shared map is not touched on the common path.
        if access.caller.reinstated_at_ms > 0 {
            let mut since = hook.since.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = since.get(principal).copied()
                && access.caller.reinstated_at_ms > at
            {
                hook.state.reinstate(principal);
                since.remove(principal);
            }
        }
        match hook
            .state
            .touch(principal, quota, iids, (now_ms / 1000) as i64)
        {
            Touch::Allowed => Ok(()),
            Touch::Contained(incident) => {
                hook.since
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(principal.to_owned(), now_ms);
                hook.sink.contained(&incident, now_ms);
                Err(VaultError::Denied(DenyCode::PrincipalSuspended))
            }
            Touch::Suspended => Err(VaultError::Denied(DenyCode::PrincipalSuspended)),
        }
    }
}
