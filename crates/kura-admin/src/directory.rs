//! Organizations and principals: the rules for creating them, their keys, suspension and
//! reinstatement — shared by the HTTP admin routes and the `kura org` / `kura principal`
//! commands, so both refuse the same things with the same codes.
//!
//! # Invariants
//! - No organization without a named security officer (name and contact).
//! - A processor names the holder that supervises it; a holder names none.
//! - A principal's policies are checked against the schema before anything is stored; an
//!   operator holds none (it is allowed everything), a self-service principal is bound to
//!   one existing subject.
//! - Every change is recorded in the access log in the same transaction.
//! - A new API key is returned once and never stored in clear.

use std::sync::Arc;

use kura_audit::{AccessEvent, Action, Clock};
use kura_model::{OrgRole, PrincipalType, Schema};
use kura_policy::{Policy, PolicySpec, PrincipalKind};
use kura_store::{DirectoryStore, OrganizationRecord, PrincipalRecord, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::keys::generate_api_key;

/// Why an administrative request was refused. Messages name ids and keys, never secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The input breaks a rule; `code` says which.
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// The named organization or principal does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The id or name is taken.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The access log entry could not be encoded.
    #[error(transparent)]
    Audit(#[from] kura_audit::AuditError),
    /// The random generator failed.
    #[error(transparent)]
    Crypto(#[from] kura_crypto::CryptoError),
    /// The vault refused or failed (planting canaries).
    #[error(transparent)]
    Vault(#[from] kura_vault::VaultError),
    /// A breached-password filter or its input list was refused, or the policy could not be
    /// built ([`crate::passwords`]).
    #[error(transparent)]
    Credential(#[from] kura_credentials::CredentialError),
    /// A file could not be read or written ([`crate::passwords`]); the message names what was
    /// being done, never file contents.
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What was being done (e.g. "reading filter file").
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl AdminError {
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        AdminError::Invalid {
            code,
            message: message.into(),
        }
    }

    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| AdminError::Io { context, source }
    }

    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Invalid { code, .. } => code,
            AdminError::NotFound(_) => "not_found",
            AdminError::Conflict(_) => "conflict",
            AdminError::Store(e) => e.code(),
            AdminError::Audit(_) => "audit_unavailable",
            AdminError::Crypto(e) => e.code(),
            AdminError::Vault(e) => e.code(),
            AdminError::Credential(e) => e.code(),
            AdminError::Io { .. } => "io_error",
        }
    }
}

/// A new organization, as given by an operator.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// Short id: 1-63 characters of `a-z`, `0-9`, `-`, starting with a letter or digit.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `holder` (the data holder, default) or `processor` (a subcontractor).
    #[serde(default = "holder")]
    pub role: String,
    /// For a processor: the id of the holder that supervises it.
    #[serde(default)]
    pub supervisor: Option<String>,
    /// The responsible security officer.
    pub security_officer: SecurityOfficer,
}

fn holder() -> String {
    "holder".to_owned()
}

/// The person responsible for an organization's security.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityOfficer {
    /// Full name.
    pub name: String,
    /// An e-mail address or phone number where the officer can be reached.
    pub contact: String,
}

/// A new principal, as given by an operator.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipal {
    /// The organization it belongs to.
    pub org: String,
    /// Name, unique within the organization.
    pub name: String,
    /// `service` (default), `processor`, `operator` or `self`.
    #[serde(default = "service")]
    pub kind: String,
    /// For `self`: the subject's id.
    #[serde(default)]
    pub subject: Option<String>,
    /// Policy documents (see docs/policies.md). Required for services and processors; none
    /// for operators; a self-service principal gets a default (its own record, every
    /// non-credential field, read/write/export, purpose `self_service`) when none is given.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub policies: Vec<PolicySpec>,
}

fn service() -> String {
    "service".to_owned()
}

/// A principal created or given a new key: the key is shown here once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    /// Principal id.
    pub id: String,
    /// The API key. Store it now: kura keeps only its hash.
    pub api_key: String,
}

fn event(by: &str, action: Action, now_ms: i64) -> AccessEvent {
    AccessEvent::new(
        now_ms.max(0) as u64,
        by,
        "administration",
        action,
        "",
        &Uuid::now_v7().to_string(),
    )
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

fn text(field: &'static str, v: &str, max: usize) -> Result<String, AdminError> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            "invalid_value",
            format!("`{field}` must be 1 to {max} printable characters"),
        ));
    }
    Ok(t.to_owned())
}

/// A contact is an e-mail address (`local@domain.tld`) or a phone number (at least 6 digits,
/// only digits, spaces, `+`, `-`, `(`, `)`).
fn valid_contact(c: &str) -> bool {
    let email = c.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
    }) && !c.contains(char::is_whitespace);
    let phone = c.chars().filter(char::is_ascii_digit).count() >= 6
        && c.chars()
            .all(|ch| ch.is_ascii_digit() || " +-()".contains(ch));
    email || phone
}

/// Registers an organization.
///
/// # Errors
/// `security_officer_required`, `invalid_org_id`, `invalid_value`, `invalid_role`,
/// `supervisor_required`, `invalid_supervisor`, `conflict`.
pub fn create_org(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    input: NewOrganization,
) -> Result<OrganizationRecord, AdminError> {
    if input.security_officer.name.trim().is_empty()
        || input.security_officer.contact.trim().is_empty()
    {
        return Err(AdminError::invalid(
            "security_officer_required",
            "an organization must name its security officer: a name and a contact address",
        ));
    }
    if !valid_id(&input.id) {
        return Err(AdminError::invalid(
            "invalid_org_id",
            "an organization id is 1-63 characters of a-z, 0-9 and `-`, not starting with `-`",
        ));
    }
    let name = text("name", &input.name, 200)?;
    let officer_name = text("security_officer.name", &input.security_officer.name, 200)?;
    let officer_contact = text(
        "security_officer.contact",
        &input.security_officer.contact,
        254,
    )?;
    if !valid_contact(&officer_contact) {
        return Err(AdminError::invalid(
            "invalid_contact",
            "the security officer's contact must be an e-mail address or a phone number",
        ));
    }
    let role = OrgRole::parse(&input.role);
    let supervisor = match (role, input.supervisor) {
        (Some(OrgRole::Holder), None) => None,
        (Some(OrgRole::Holder), Some(_)) => {
            return Err(AdminError::invalid(
                "invalid_supervisor",
                "a holder is supervised by nobody; only a processor names a supervisor",
            ));
        }
        (Some(OrgRole::Processor), None) => {
            return Err(AdminError::invalid(
                "supervisor_required",
                "a processor must name the holder that supervises it (`supervisor`)",
            ));
        }
        (Some(OrgRole::Processor), Some(s)) => {
            match store.organization(&s)? {
                Some(o) if o.role == OrgRole::Holder => {}
                Some(_) => {
                    return Err(AdminError::invalid(
                        "invalid_supervisor",
                        format!("`{s}` is a processor; a processor is supervised by a holder"),
                    ));
                }
                None => {
                    return Err(AdminError::invalid(
                        "invalid_supervisor",
                        format!("no organization `{s}`"),
                    ));
                }
            }
            Some(s)
        }
        _ => {
            return Err(AdminError::invalid(
                "invalid_role",
                "`role` must be `holder` or `processor`",
            ));
        }
    };
    let record = OrganizationRecord {
        id: input.id,
        name,
        role: role.unwrap_or(OrgRole::Holder),
        supervisor,
        officer_name,
        officer_contact,
        created_at: (clock.now_ms() as i64) / 1000,
    };
    if store.organization(&record.id)?.is_some() {
        return Err(AdminError::Conflict(format!(
            "organization `{}` exists",
            record.id
        )));
    }
    let leaf = event(by, Action::OrgCreate, clock.now_ms() as i64).to_leaf()?;
    store
        .insert_organization(&record, &[leaf])
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                AdminError::Conflict(format!("organization `{}` exists", record.id))
            }
            other => other.into(),
        })?;
    Ok(record)
}

/// The default policy of a self-service principal: its own record, every field but
/// credentials, in plain, to read, change and export, for the purpose `self_service`. Its
/// data-subject requests (erasure included, with a receipt) are opened under `export`.
fn self_policy(schema: &Schema, collection: &str) -> Option<PolicySpec> {
    let c = schema.collection(collection)?;
    Some(PolicySpec {
        collection: collection.to_owned(),
        purposes: vec!["self_service".to_owned()],
        actions: vec![
            kura_policy::Action::Read,
            kura_policy::Action::Write,
            kura_policy::Action::Export,
        ],
        fields: c
            .fields
            .iter()
            .filter(|f| f.category != kura_model::Category::Credential)
            .map(|f| (f.name.clone(), kura_policy::Mode::Plain))
            .collect(),
        quota: None,
    })
}

/// The decision's view of a stored principal kind (`None`: a self-service principal
/// without a subject, which cannot be decided for).
pub fn parse_kind(kind: PrincipalType, subject: Option<Uuid>) -> Option<PrincipalKind> {
    Some(match kind {
        PrincipalType::Service => PrincipalKind::Service,
        PrincipalType::Processor => PrincipalKind::Processor,
        PrincipalType::Operator => PrincipalKind::Operator,
        PrincipalType::SelfService => PrincipalKind::SelfService {
            subject: subject?.as_u128(),
        },
    })
}

/// Parses and checks a stored policy array.
///
/// # Errors
/// The first policy that no longer checks against `schema` (e.g. after a schema change).
pub fn parse_policies(json: &str, schema: &Schema) -> Result<Vec<Policy>, String> {
    let specs: Vec<PolicySpec> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    specs
        .into_iter()
        .map(|s| s.check(schema).map_err(|e| e.to_string()))
        .collect()
}

/// Creates a principal with its first API key.
///
/// # Errors
/// `invalid_kind`, `invalid_value`, `policy_required`, `policy_*` codes of the policy
/// checker, `subject_required`, `subject_not_found`, `not_found` (organization), `conflict`.
pub fn create_principal(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    schema: &Schema,
    by: &str,
    input: NewPrincipal,
) -> Result<(PrincipalRecord, IssuedKey), AdminError> {
    let name = text("name", &input.name, 100)?;
    if store.organization(&input.org)?.is_none() {
        return Err(AdminError::NotFound(format!(
            "no organization `{}`",
            input.org
        )));
    }
    let subject = match &input.subject {
        Some(s) => Some(Uuid::parse_str(s).map_err(|_| {
            AdminError::invalid(
                "invalid_subject_id",
                "`subject` must be a subject id (UUID)",
            )
        })?),
        None => None,
    };
    let mut specs = input.policies;
    let Some(kind) = PrincipalType::parse(&input.kind) else {
        return Err(AdminError::invalid(
            "invalid_kind",
            "`kind` must be service, processor, operator or self",
        ));
    };
    match kind {
        PrincipalType::Service | PrincipalType::Processor => {
            if specs.is_empty() {
                return Err(AdminError::invalid(
                    "policy_required",
                    "a service or processor needs at least one policy",
                ));
            }
            if subject.is_some() {
                return Err(AdminError::invalid(
                    "invalid_value",
                    "only a self-service principal names a subject",
                ));
            }
        }
        PrincipalType::Operator => {
            if !specs.is_empty() || subject.is_some() {
                return Err(AdminError::invalid(
                    "invalid_value",
                    "an operator holds no policy and no subject: it may do everything, and is recorded",
                ));
            }
        }
        PrincipalType::SelfService => {
            let Some(id) = subject else {
                return Err(AdminError::invalid(
                    "subject_required",
                    "a self-service principal names its subject (`subject`)",
                ));
            };
            if specs.is_empty() {
                let collection = schema
                    .collections()
                    .iter()
                    .find(|c| store.subject(&c.name, &id).ok().flatten().is_some())
                    .map(|c| c.name.clone());
                let Some(collection) = collection else {
                    return Err(AdminError::invalid(
                        "subject_not_found",
                        "no subject with this id",
                    ));
                };
                specs.extend(self_policy(schema, &collection));
            }
            for s in &specs {
                if store.subject(&s.collection, &id)?.is_none() {
                    return Err(AdminError::invalid(
                        "subject_not_found",
                        format!("no subject with this id in `{}`", s.collection),
                    ));
                }
            }
        }
    }
    for s in &specs {
        s.clone()
            .check(schema)
            .map_err(|e| AdminError::invalid(e.code(), e.to_string()))?;
    }
    let policies = serde_json::to_string(&specs).map_err(|e| {
        AdminError::invalid("invalid_value", format!("policies do not serialize: {e}"))
    })?;
    let id = Uuid::now_v7().to_string();
    let now = clock.now_ms() as i64;
    let key = generate_api_key(&id, kind, now / 1000)?;
    let record = PrincipalRecord {
        id: id.clone(),
        org: input.org,
        name,
        kind,
        subject,
        policies,
        policy_version: 1,
        created_at: now / 1000,
        suspended_at: None,
        suspended_reason: None,
        reinstated_at: None,
    };
    let leaves = [
        event(by, Action::PrincipalCreate, clock.now_ms() as i64).to_leaf()?,
        event(by, Action::ApiKeyCreate, clock.now_ms() as i64).to_leaf()?,
    ];
    store
        .insert_principal(&record, &key.record, &leaves)
        .map_err(|e| match e {
            StoreError::Conflict(_) => AdminError::Conflict(format!(
                "organization `{}` already has a principal named `{}`",
                record.org, record.name
            )),
            other => other.into(),
        })?;
    let issued = IssuedKey {
        id,
        api_key: key.secret.to_string(),
    };
    Ok((record, issued))
}

/// Replaces the policies of a service, processor or self-service principal. Takes effect on
/// each server at the principal's next request.
///
/// # Errors
/// `not_found`; `invalid_kind` for an operator (it holds none); `policy_required` for an
/// empty list of a service or processor; the policy checker's codes; `subject_not_found`
/// when a self-service principal's subject is not in a policy's collection.
pub fn update_policies(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    schema: &Schema,
    by: &str,
    principal: &str,
    specs: Vec<PolicySpec>,
) -> Result<(), AdminError> {
    let p = store
        .principal(principal)?
        .ok_or_else(|| AdminError::NotFound(format!("no principal `{principal}`")))?;
    match p.kind {
        PrincipalType::Operator => {
            return Err(AdminError::invalid(
                "invalid_kind",
                "an operator holds no policy",
            ));
        }
        PrincipalType::Service | PrincipalType::Processor if specs.is_empty() => {
            return Err(AdminError::invalid(
                "policy_required",
                "a service or processor needs at least one policy",
            ));
        }
        _ => {}
    }
    for s in &specs {
        s.clone()
            .check(schema)
            .map_err(|e| AdminError::invalid(e.code(), e.to_string()))?;
        if let Some(id) = p.subject
            && store.subject(&s.collection, &id)?.is_none()
        {
            return Err(AdminError::invalid(
                "subject_not_found",
                format!("the principal's subject is not in `{}`", s.collection),
            ));
        }
    }
    let json = serde_json::to_string(&specs).map_err(|e| {
        AdminError::invalid("invalid_value", format!("policies do not serialize: {e}"))
    })?;
    store.set_policies(
        &p.id,
        &json,
        &[event(by, Action::PrincipalUpdate, clock.now_ms() as i64).to_leaf()?],
    )?;
    Ok(())
}

/// Issues a new key for a principal and revokes its others (rotation).
///
/// # Errors
/// `not_found`, store failures.
pub fn rotate_key(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    principal: &str,
) -> Result<IssuedKey, AdminError> {
    let p = store
        .principal(principal)?
        .ok_or_else(|| AdminError::NotFound(format!("no principal `{principal}`")))?;
    let key = generate_api_key(&p.id, p.kind, (clock.now_ms() as i64) / 1000)?;
    store.add_api_key(
        &key.record,
        &[event(by, Action::ApiKeyCreate, clock.now_ms() as i64).to_leaf()?],
    )?;
    store.revoke_api_keys(
        &p.id,
        None,
        Some(&key.record.prefix),
        (clock.now_ms() as i64) / 1000,
        &[event(by, Action::ApiKeyRevoke, clock.now_ms() as i64).to_leaf()?],
    )?;
    let secret: Zeroizing<String> = key.secret;
    Ok(IssuedKey {
        id: p.id,
        api_key: secret.to_string(),
    })
}

/// Revokes one key (by its public prefix) or all keys of a principal.
///
/// # Errors
/// `not_found` when the principal or key does not exist (or is already revoked).
pub fn revoke_keys(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    principal: &str,
    prefix: Option<&str>,
) -> Result<u64, AdminError> {
    if store.principal(principal)?.is_none() {
        return Err(AdminError::NotFound(format!("no principal `{principal}`")));
    }
    let n = store.revoke_api_keys(
        principal,
        prefix,
        None,
        (clock.now_ms() as i64) / 1000,
        &[event(by, Action::ApiKeyRevoke, clock.now_ms() as i64).to_leaf()?],
    )?;
    if n == 0 {
        return Err(AdminError::NotFound("no active key matches".to_owned()));
    }
    Ok(n)
}

/// Suspends (`Some(reason)`) or reinstates (`None`) a principal.
///
/// # Errors
/// `not_found`.
pub fn set_suspended(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    principal: &str,
    reason: Option<&str>,
) -> Result<(), AdminError> {
    let action = if reason.is_some() {
        Action::PrincipalSuspend
    } else {
        Action::PrincipalReinstate
    };
    let now = clock.now_ms() as i64;
    let found =
        store.set_suspended(principal, reason, now, &[event(by, action, now).to_leaf()?])?;
    if !found {
        return Err(AdminError::NotFound(format!("no principal `{principal}`")));
    }
    Ok(())
}

/// Reinstates a suspended principal with the operator's `reason`: clears the suspension
/// (an access event `principal_reinstate`), then writes the reason into the timeline of
/// every open incident that names the principal as a suspect, where the officer and the
/// evidence bundle find it.
///
/// # Errors
/// `reason_required` for an empty or overlong reason (nothing changes); `not_found`;
/// store failures.
pub fn reinstate(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    principal: &str,
    reason: &str,
) -> Result<Vec<String>, AdminError> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > 500 || r.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            "reason_required",
            "reinstating a principal needs a reason of 1 to 500 printable characters",
        ));
    }
    set_suspended(store, clock, by, principal, None)?;
    crate::incident::note_reinstatement(store, clock, by, principal, r)
}

/// An organization as shown to operators.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `holder` or `processor`.
    #[schema(value_type = String)]
    pub role: OrgRole,
    /// The supervising holder of a processor.
    pub supervisor: Option<String>,
    /// The security officer.
    pub security_officer: SecurityOfficer,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<OrganizationRecord> for OrganizationView {
    fn from(o: OrganizationRecord) -> Self {
        OrganizationView {
            id: o.id,
            name: o.name,
            role: o.role,
            supervisor: o.supervisor,
            security_officer: SecurityOfficer {
                name: o.officer_name,
                contact: o.officer_contact,
            },
            created_at: o.created_at,
        }
    }
}

/// A principal as shown to operators (never a key, only key prefixes).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PrincipalView {
    /// Id.
    pub id: String,
    /// Organization.
    pub org: String,
    /// Name.
    pub name: String,
    /// Kind.
    #[schema(value_type = String)]
    pub kind: PrincipalType,
    /// Self-service subject.
    pub subject: Option<String>,
    /// Policies.
    #[schema(value_type = Vec<Object>)]
    pub policies: serde_json::Value,
    /// Suspended since (unix ms), if suspended.
    pub suspended_at: Option<i64>,
    /// Why.
    pub suspended_reason: Option<String>,
    /// Public prefixes of the active keys.
    pub active_keys: Vec<String>,
}

/// Builds the view of a principal, with its active key prefixes.
///
/// # Errors
/// Store failures.
pub fn principal_view(
    store: &dyn DirectoryStore,
    p: PrincipalRecord,
) -> Result<PrincipalView, AdminError> {
    let keys = store
        .api_keys_of(&p.id)?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| k.prefix)
        .collect();
    Ok(PrincipalView {
        policies: serde_json::from_str(&p.policies).unwrap_or(serde_json::Value::Null),
        id: p.id,
        org: p.org,
        name: p.name,
        kind: p.kind,
        subject: p.subject.map(|s| s.to_string()),
        suspended_at: p.suspended_at,
        suspended_reason: p.suspended_reason,
        active_keys: keys,
    })
}

/// Shared handle type.
pub type Directory = Arc<dyn DirectoryStore>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts() {
        assert!(valid_contact("security@example.com"));
        assert!(valid_contact("+81 3-1234-5678"));
        assert!(!valid_contact("nobody"));
        assert!(!valid_contact("a@b"));
        assert!(!valid_contact("12345"));
    }

    #[test]
    fn ids() {
        assert!(valid_id("acme-support"));
        assert!(!valid_id("-x"));
        assert!(!valid_id("Acme"));
        assert!(!valid_id(""));
    }
}
