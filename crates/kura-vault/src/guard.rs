//! The policy check every vault operation runs before it touches data: the caller's grant
//! ([`crate::Caller`]) against the request, through [`kura_policy::decide`].

use kura_model::Collection;
use kura_policy::{Action, Decision, Mode, Principal, Request};
use uuid::Uuid;

use crate::{Access, Vault, VaultError};

/// Asks [`kura_policy::decide`] for `access`'s caller; the one call site of it in the vault.
fn decide_for(
    access: &Access,
    action: Action,
    collection: Option<&Collection>,
    fields: Option<&[String]>,
    target: Option<&Uuid>,
) -> Result<Vec<(String, Mode)>, VaultError> {
    let principal = Principal {
        id: &access.principal,
        kind: access.caller.kind,
        suspended: access.caller.suspended,
    };
    let request = Request {
        action,
        purpose: &access.purpose,
        collection: collection.map_or("", |c| c.name.as_str()),
        fields,
        target: target.map(Uuid::as_u128),
    };
    match kura_policy::decide(&access.caller.policies, &principal, &request, collection) {
        Decision::Allow { fields } => Ok(fields),
        Decision::Deny { code } => Err(VaultError::Denied(code)),
    }
}

impl Vault {
    /// Decides `action` on `collection` for `access`'s caller. `fields` are the fields the
    /// request names (`None`: all it may see); `target` the subject it is about, if one.
    /// Returns the fields to open, each with the mode to present it in.
    ///
    /// Records nothing: the operation that calls it records the refusal (`denied:<code>`)
    /// through its own event, so that a denied request is logged exactly once.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for an unknown collection; [`VaultError::Denied`] with the
    /// precise code when the grant refuses.
    pub fn decide(
        &self,
        access: &Access,
        action: Action,
        collection: &str,
        fields: Option<&[String]>,
        target: Option<&Uuid>,
    ) -> Result<Vec<(String, Mode)>, VaultError> {
        let c = self.collection(collection)?;
        decide_for(access, action, Some(c), fields, target)
    }

    /// Refuses `action` on a loaded subject whose processing is restricted, unless
    /// [`kura_policy::decide_restricted`] allows it (the subject itself; erasure; login).
    /// Called once the subject is loaded, before anything of it is opened or counted.
    ///
    /// # Errors
    /// [`VaultError::Denied`] with `processing_restricted`.
    pub(crate) fn check_restricted(
        &self,
        access: &Access,
        action: Action,
        stored: &kura_store::StoredSubject,
    ) -> Result<(), VaultError> {
        if !stored.restricted {
            return Ok(());
        }
        kura_policy::decide_restricted(access.caller.kind, action, stored.id.as_u128())
            .map_err(VaultError::Denied)
    }

    /// Decides an action that the principal's kind decides, never a policy
    /// ([`Action::Administer`], [`Action::ReadLog`]: operators; [`Action::ReportIncident`]:
    /// processors and operators) for `access` through [`kura_policy::decide`], and records
    /// a refusal as an access event (`denied:<code>`, event action `event`). The allowed acts
    /// are recorded by the operations themselves.
    ///
    /// # Errors
    /// [`VaultError::Denied`] (`operator_only`, `report_denied`, `principal_suspended`);
    /// audit failures.
    pub fn authorize_operator(
        &self,
        access: &Access,
        action: Action,
        event: kura_audit::Action,
    ) -> Result<(), VaultError> {
        debug_assert!(action.is_by_kind());
        decide_for(access, action, None, None, None)
            .map(drop)
            .map_err(|e| self.refused(self.event(access, event, ""), e))
    }
}
