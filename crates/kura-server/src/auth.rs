//! API keys and request identity.
//!
//! A key looks like `kura_<8 hex prefix>_<43 base64url chars>`: 256 random bits after a
//! public lookup prefix, and a fixed `kura_` start so that `kura scan` and secret scanners
//! can spot a leaked key. Only SHA-256 of the whole key is stored (keys are high-entropy,
//! so a fast hash is enough); comparison is constant-time.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kura_crypto::{random_array, sha256};
use kura_store::ApiKeyRecord;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{ApiError, AppState};

/// A freshly generated API key: the secret (shown once) and the record to store.
pub struct NewApiKey {
    /// The full key. Shown to the user once, never stored or logged.
    pub secret: Zeroizing<String>,
    /// What the store keeps.
    pub record: ApiKeyRecord,
}

/// Generates an API key for `principal` of `kind`, created at `now` (unix seconds).
///
/// # Errors
/// The OS random generator failed.
pub fn generate_api_key(
    principal: &str,
    kind: &str,
    now: i64,
) -> Result<NewApiKey, kura_crypto::CryptoError> {
    let prefix_bytes: [u8; 4] = random_array()?;
    let secret_bytes = Zeroizing::new(random_array::<32>()?);
    let prefix = format!(
        "kura_{}",
        prefix_bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let secret = Zeroizing::new(format!(
        "{prefix}_{}",
        URL_SAFE_NO_PAD.encode(*secret_bytes)
    ));
    let record = ApiKeyRecord {
        prefix,
        hash: sha256(secret.as_bytes()),
        principal: principal.to_owned(),
        kind: kind.to_owned(),
        created_at: now,
        revoked_at: None,
    };
    Ok(NewApiKey { secret, record })
}

/// The public prefix of a presented key, if it has the kura shape.
fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("kura_")?;
    let (hex, secret) = rest.split_once('_')?;
    (hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 43)
        .then(|| &key[..13])
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Principal id.
    pub id: String,
    /// Kind (`operator`, ...).
    pub kind: String,
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

/// Decides an operator-only action for `p` (recording a refusal) on a blocking thread.
async fn decide_operator(
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
        let kind = crate::directory::parse_kind(&p.kind, p.subject).ok_or_else(|| {
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
                    crate::directory::parse_policies(&p.policies, schema)
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
        let prefix = prefix_of(key)
            .ok_or_else(ApiError::unauthorized)?
            .to_owned();
        let presented = sha256(key.as_bytes());
        let directory = state.directory.clone();
        let (record, principal) =
            tokio::task::spawn_blocking(move || directory.authenticate(&prefix))
                .await
                .map_err(|e| ApiError::internal(&e))?
                .map_err(|e| ApiError::internal(&e))?
                .ok_or_else(ApiError::unauthorized)?;
        let matches: bool = record.hash.ct_eq(&presented).into();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_kura_shape_and_a_stable_prefix() {
        let k = generate_api_key("operator", "operator", 0).unwrap();
        assert!(k.secret.starts_with("kura_"));
        assert_eq!(prefix_of(&k.secret), Some(k.record.prefix.as_str()));
        assert_eq!(k.record.hash, sha256(k.secret.as_bytes()));
        assert_eq!(prefix_of("kura_zz_abc"), None);
        assert_eq!(prefix_of("Bearer x"), None);
        let other = generate_api_key("operator", "operator", 0).unwrap();
        assert_ne!(k.record.prefix, other.record.prefix);
    }
}
