//! API keys and request identity.
//!
//! Keys are issued by `kura_admin::keys` (their shape is stated there); this module checks a
//! presented key: its prefix finds the record, SHA-256 of the whole key is compared in
//! constant time, and the key's principal is loaded in the same query.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use kura_admin::keys::prefix_of;
use kura_crypto::sha256;
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Principal id.
    pub id: String,
    /// Kind.
    pub kind: kura_model::PrincipalType,
    /// Organization.
    pub org: Option<String>,
    /// The grant requests are decided against.
    pub caller: kura_vault::Caller,
}

/// An authenticated principal that `kura_policy::decide` allowed to administer kura
/// ([`kura_policy::Action::Administer`]): the extractor of every directory, incident,
/// report and metrics route. A refusal (`operator_only`, `principal_suspended`) is an access
/// event `denied:<code>` before the 403 is returned.
#[derive(Debug, Clone)]
pub struct Operator(pub Principal);

/// An authenticated principal allowed to read the verifiable log itself
/// ([`kura_policy::Action::ReadLog`]): checkpoints, entries, proofs. Refusals are access
/// events like [`Operator`]'s.
#[derive(Debug, Clone)]
pub struct LogReader(pub Principal);

/// An authenticated principal allowed to report an incident to its supervising holder
/// ([`kura_policy::Action::ReportIncident`]: processors and operators). Refusals
/// (`report_denied`, `principal_suspended`) are access events like [`Operator`]'s.
#[derive(Debug, Clone)]
pub struct Reporter(pub Principal);

impl FromRequestParts<AppState> for Reporter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = Principal::from_request_parts(parts, state).await?;
        decide_operator(
            state,
            &p,
            kura_policy::Action::ReportIncident,
            kura_audit::Action::Admin,
        )
        .await?;
        Ok(Reporter(p))
    }
}

/// Decides an action the principal's kind decides for `p` (recording a refusal) on a
/// blocking thread: the administrative half of `kura_policy::decide`, shared by the API's
/// extractors and the console.
///
/// # Errors
/// The policy's refusal (403, recorded as an access event `denied:<code>`).
pub async fn decide_operator(
    state: &AppState,
    p: &Principal,
    action: kura_policy::Action,
    event: kura_audit::Action,
) -> Result<(), ApiError> {
    let access = kura_vault::Access {
        principal: p.id.clone(),
        purpose: "administration".to_owned(),
        request_id: uuid::Uuid::now_v7().to_string(),
        caller: p.caller.clone(),
    };
    let vault = state.vault.clone();
    tokio::task::spawn_blocking(move || vault.authorize_operator(&access, action, event))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = Principal::from_request_parts(parts, state).await?;
        decide_operator(
            state,
            &p,
            kura_policy::Action::Administer,
            kura_audit::Action::Admin,
        )
        .await?;
        Ok(Operator(p))
    }
}

impl FromRequestParts<AppState> for LogReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = Principal::from_request_parts(parts, state).await?;
        decide_operator(
            state,
            &p,
            kura_policy::Action::ReadLog,
            kura_audit::Action::LogRead,
        )
        .await?;
        Ok(LogReader(p))
    }
}

/// A principal's parsed policies and the policy version they were parsed from.
type Parsed = (i64, std::sync::Arc<[kura_policy::Policy]>);

/// Parsed policies by principal, reparsed only when a principal's policy version changes.
#[derive(Debug, Default)]
pub struct PolicyCache {
    parsed: std::sync::RwLock<std::collections::HashMap<String, Parsed>>,
}

impl PolicyCache {
    /// The grant of a stored principal.
    ///
    /// # Errors
    /// 500 when its stored policies no longer check against the schema (logged; the request
    /// is refused rather than served under a guessed policy).
    pub fn caller(
        &self,
        p: &kura_store::PrincipalRecord,
        schema: &kura_model::Schema,
    ) -> Result<kura_vault::Caller, ApiError> {
        let kind = kura_admin::directory::parse_kind(p.kind, p.subject).ok_or_else(|| {
            tracing::error!(principal = %p.id, "stored principal has an unknown kind");
            ApiError::internal(&"principal kind")
        })?;
        let cached = self
            .parsed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&p.id)
            .filter(|(v, _)| *v == p.policy_version)
            .map(|(_, pol)| pol.clone());
        let policies = match cached {
            Some(p) => p,
            None => {
                let parsed: std::sync::Arc<[kura_policy::Policy]> =
                    kura_admin::directory::parse_policies(&p.policies, schema)
                        .map_err(|e| {
                            tracing::error!(principal = %p.id, error = %e, "stored policies do not check");
                            ApiError::internal(&"principal policies")
                        })?
                        .into();
                let mut map = self
                    .parsed
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if map.len() >= 100_000 {
                    map.clear();
                }
                map.insert(p.id.clone(), (p.policy_version, parsed.clone()));
                parsed
            }
        };
        let suspended = p.suspended_at.is_some();
        let mut caller = if kind == kura_vault::PrincipalKind::Operator {
            let mut c = kura_vault::Caller::operator();
            c.suspended = suspended;
            c
        } else {
            kura_vault::Caller::with_policies(kind, Vec::new(), suspended)
        };
        if kind != kura_vault::PrincipalKind::Operator {
            caller.policies = policies;
            caller.quota = Some(kura_policy::Quota::for_policies(&caller.policies));
        }
        Ok(caller.in_org(&p.org, p.reinstated_at.unwrap_or(0).max(0) as u64))
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let key = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        authenticate_key(state, key).await
    }
}

/// Checks a presented API key: its prefix finds the record, SHA-256 of the whole key is
/// compared in constant time, and the key must be unrevoked and belong to a principal. The
/// one check of a key, for the API's bearer header and the console's login alike.
///
/// # Errors
/// 401 `unauthorized` for any key that does not pass (the answer does not say why); 500 on
/// store failures.
pub async fn authenticate_key(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let prefix = prefix_of(key)
        .ok_or_else(ApiError::unauthorized)?
        .to_owned();
    let presented = sha256(key.as_bytes());
    authenticate_hash(state, &prefix, &presented).await
}

/// [`authenticate_key`] for a key known by its prefix and SHA-256 only (a console session
/// keeps these, never the key): the record is read again, so a revoked key or a suspended
/// principal ends the session at its next request.
///
/// # Errors
/// As [`authenticate_key`].
pub async fn authenticate_hash(
    state: &AppState,
    prefix: &str,
    presented: &[u8; 32],
) -> Result<Principal, ApiError> {
    let directory = state.directory.clone();
    let prefix = prefix.to_owned();
    // One indexed lookup: inline on SQLite, on the blocking pool on PostgreSQL.
    let (record, principal) = state
        .bounded(move || directory.authenticate(&prefix))
        .await?
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(ApiError::unauthorized)?;
    let matches: bool = record.hash.ct_eq(presented).into();
    if !matches || record.revoked_at.is_some() {
        return Err(ApiError::unauthorized());
    }
    // Every key belongs to a principal of an organization (the first operator too, since
    // `kura init` creates it as one). A key without a principal row (a bootstrap key of
    // a vault made before that) is refused: nobody could revoke or suspend it, and no
    // security officer answers for it. `kura break-glass` issues a replacement.
    let Some(p) = &principal else {
        return Err(ApiError::unauthorized());
    };
    let caller = state.policies.caller(p, state.vault.schema())?;
    Ok(Principal {
        id: record.principal,
        kind: record.kind,
        org: principal.map(|p| p.org),
        caller,
    })
}

/// The stated purpose of a data request (`X-Kura-Purpose`), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Purpose {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get("x-kura-purpose").ok_or_else(|| {
            ApiError::bad_request(
                "purpose_required",
                "every data request must state its purpose in the X-Kura-Purpose header",
            )
        })?;
        let p = value.to_str().map_err(|_| {
            ApiError::bad_request("invalid_purpose", "X-Kura-Purpose must be ASCII")
        })?;
        kura_model::validate_purpose(p)
            .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
        Ok(Purpose(p.to_owned()))
    }
}
