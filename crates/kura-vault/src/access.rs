//! Who is asking, why, and under which grant.
//!
//! Every vault operation takes an [`Access`]: the principal id and stated purpose recorded in
//! the access log, and the [`Caller`] the vault decides against (its kind, its policies, and
//! whether it is suspended). There is no operation without one, so there is no path around
//! the policy check: trusted in-process callers (the CLI, `kura bench`, password login)
//! say so explicitly with [`Caller::operator`], and that is recorded under their principal id.

use std::sync::Arc;

use kura_policy::{Policy, PrincipalKind, Quota};
use uuid::Uuid;

/// The grant a request is decided against.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Service, processor, operator or self-service (with its own subject).
    pub kind: PrincipalKind,
    /// Every policy the principal holds (any collection). Empty for operators.
    pub policies: Arc<[Policy]>,
    /// Distinct-subject quota the principal is counted under (`None` for operators, which
    /// are not counted).
    pub quota: Option<Quota>,
    /// Suspended (by containment or an operator) as last recorded in the store: every
    /// request is refused with `principal_suspended`.
    pub suspended: bool,
    /// When an operator last reinstated the principal (unix ms; 0 if never): lifts an
    /// in-memory suspension older than that.
    pub reinstated_at_ms: u64,
    /// The organization whose token domain `token`-mode fields are computed in (two
    /// services of one organization can join on tokens; other organizations cannot).
    pub org: String,
}

impl Caller {
    /// An operator or a trusted in-process caller: every field in plain for any stated
    /// purpose, not counted by containment. Still recorded in the access log.
    pub fn operator() -> Caller {
        Caller {
            kind: PrincipalKind::Operator,
            policies: Arc::from(Vec::new()),
            quota: None,
            suspended: false,
            reinstated_at_ms: 0,
            org: String::new(),
        }
    }

    /// A service, processor or self-service principal holding `policies`, counted under the
    /// strictest quota they state (or [`Quota::DEFAULT`]).
    pub fn with_policies(kind: PrincipalKind, policies: Vec<Policy>, suspended: bool) -> Caller {
        let quota = (kind != PrincipalKind::Operator).then(|| Quota::for_policies(&policies));
        Caller {
            kind,
            policies: Arc::from(policies),
            quota,
            suspended,
            reinstated_at_ms: 0,
            org: String::new(),
        }
    }

    /// Sets the organization (token domain) and the last reinstatement time.
    #[must_use]
    pub fn in_org(mut self, org: &str, reinstated_at_ms: u64) -> Caller {
        org.clone_into(&mut self.org);
        self.reinstated_at_ms = reinstated_at_ms;
        self
    }

    /// Whether this caller is an operator.
    pub fn is_operator(&self) -> bool {
        self.kind == PrincipalKind::Operator
    }
}

/// Who is asking, and why. Carried into every operation so that each can be decided and
/// recorded in the access log.
#[derive(Debug, Clone)]
pub struct Access {
    /// Principal id.
    pub principal: String,
    /// Stated purpose (already validated).
    pub purpose: String,
    /// Request id, for correlating log lines and access events.
    pub request_id: String,
    /// The grant to decide against.
    pub caller: Caller,
}

impl Access {
    /// An operator access with a fresh request id (see [`Caller::operator`]).
    pub fn operator(principal: &str, purpose: &str) -> Access {
        Access {
            principal: principal.to_owned(),
            purpose: purpose.to_owned(),
            request_id: Uuid::now_v7().to_string(),
            caller: Caller::operator(),
        }
    }
}
