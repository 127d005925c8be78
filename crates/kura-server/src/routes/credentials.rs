//! Password routes (issue 6): set a password, log in, recover, force a reset.
//!
//! The handlers only parse and answer; the logic (policy, throttling, hashing, tokens,
//! mails, access events) is `kura_vault::Credentials`. Answers that could reveal whether an
//! account exists are built to be byte-identical: a wrong password and an unknown login id
//! get the same 401 body, and a recovery request always gets the same 202 body, before any
//! lookup is done.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kura_credentials::{CredentialError, Password};
use kura_vault::{Credentials, PasswordError, RecoveryBy, Uuid};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{ApiJson, access, parse_id};
use crate::auth::{Principal, Purpose};
use crate::wire::ErrorBody;
use crate::{ApiError, AppState};

/// `PUT /v1/collections/{c}/subjects/{id}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// The new password (8 to 256 characters, any Unicode; checked against breached
    /// passwords and the subject's login id and e-mail address).
    pub password: String,
}

/// `POST /v1/collections/{c}/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The login id.
    pub login_id: String,
    /// The password.
    pub password: String,
}

/// A successful login.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResult {
    /// The subject the login id belongs to.
    pub subject_id: String,
}

/// `POST /v1/collections/{c}/recovery`: exactly one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRequest {
    /// The login id.
    pub login_id: Option<String>,
    /// The e-mail address on file.
    pub email: Option<String>,
}

/// The one answer to every well-formed recovery request.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryAccepted {
    /// Always `accepted`.
    pub status: String,
}

/// `POST /v1/collections/{c}/recovery/complete`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRecovery {
    /// The token from the recovery mail (`kura_rt_…`).
    pub token: String,
    /// The new password.
    pub new_password: String,
}

/// `POST /v1/collections/{c}/force-reset` (operators only).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForceReset {
    /// Subject ids (at most 10,000 per request; use `kura credentials force-reset` for more).
    pub subjects: Vec<String>,
}

/// How many subjects were flagged.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForceResetResult {
    /// Existing subjects now under forced reset.
    pub flagged: u64,
}

/// An error answer, with `Retry-After` when waiting helps (`busy`: 1 s; `login_throttled`:
/// the seconds left, the same for every login id in the same state).
pub struct Refusal(ApiError, Option<u64>);

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal(e, None)
    }
}

impl From<PasswordError> for Refusal {
    fn from(e: PasswordError) -> Self {
        let retry = match &e {
            PasswordError::Credential(CredentialError::Busy) => Some(1),
            PasswordError::Credential(CredentialError::LoginThrottled { retry_after_secs }) => {
                Some(*retry_after_secs)
            }
            _ => None,
        };
        Refusal(e.into(), retry)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = self.0.into_response();
        if let Some(secs) = self.1 {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// Most ids in one force-reset request.
const MAX_FORCE_RESET: usize = 10_000;

fn credentials(state: &AppState) -> Result<Arc<Credentials>, ApiError> {
    state.credentials.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "credentials_unavailable",
            "passwords are not configured on this server",
        )
    })
}

/// Sets or changes a subject's password.
#[utoipa::path(
    put, path = "/v1/collections/{c}/subjects/{id}/password",
    params(("c" = String, Path), ("id" = String, Path), ("X-Kura-Purpose" = String, Header)),
    request_body = SetPassword,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn set_password(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path((c, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetPassword>,
) -> Result<StatusCode, Refusal> {
    let id = parse_id(&id)?;
    let creds = credentials(&state)?;
    creds
        .set_password(
            access(&principal, &purpose),
            c,
            id,
            Password::new(body.password),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verifies a login id and password.
#[utoipa::path(
    post, path = "/v1/collections/{c}/login",
    params(("c" = String, Path), ("X-Kura-Purpose" = String, Header)),
    request_body = LoginRequest,
    responses((status = 200, body = LoginResult), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 423, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn login(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResult>, Refusal> {
    let creds = credentials(&state)?;
    let LoginRequest { login_id, password } = body;
    let id: Uuid = creds
        .login(
            access(&principal, &purpose),
            c,
            Zeroizing::new(login_id),
            Password::new(password),
        )
        .await?;
    Ok(Json(LoginResult {
        subject_id: id.to_string(),
    }))
}

/// Asks for a recovery mail. Always 202 with the same body.
#[utoipa::path(
    post, path = "/v1/collections/{c}/recovery",
    params(("c" = String, Path), ("X-Kura-Purpose" = String, Header)),
    request_body = RecoveryRequest,
    responses((status = 202, body = RecoveryAccepted), (status = 400, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn request_recovery(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<RecoveryRequest>,
) -> Result<(StatusCode, Json<RecoveryAccepted>), Refusal> {
    let by = match (body.login_id, body.email) {
        (Some(l), None) => RecoveryBy::LoginId(Zeroizing::new(l)),
        (None, Some(e)) => RecoveryBy::Email(Zeroizing::new(e)),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "give exactly one of `login_id` and `email`",
            )
            .into());
        }
    };
    let creds = credentials(&state)?;
    let a = access(&principal, &purpose);
    creds.authorize_recovery(&a, &c).await?;
    creds.request_recovery(a, c, by);
    Ok((
        StatusCode::ACCEPTED,
        Json(RecoveryAccepted {
            status: "accepted".to_owned(),
        }),
    ))
}

/// Sets a new password with a recovery token.
#[utoipa::path(
    post, path = "/v1/collections/{c}/recovery/complete",
    params(("c" = String, Path), ("X-Kura-Purpose" = String, Header)),
    request_body = CompleteRecovery,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn complete_recovery(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<CompleteRecovery>,
) -> Result<StatusCode, Refusal> {
    let creds = credentials(&state)?;
    let CompleteRecovery {
        token,
        new_password,
    } = body;
    creds
        .complete_recovery(
            access(&principal, &purpose),
            c,
            Zeroizing::new(token),
            Password::new(new_password),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Flags subjects for a forced password reset (`set_credential`; operators may).
#[utoipa::path(
    post, path = "/v1/collections/{c}/force-reset",
    params(("c" = String, Path), ("X-Kura-Purpose" = String, Header)),
    request_body = ForceReset,
    responses((status = 200, body = ForceResetResult), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn force_reset(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<ForceReset>,
) -> Result<Json<ForceResetResult>, Refusal> {
    // Who may force resets is decided with the other credential actions (`set_credential`,
    // counted against the caller's quota) inside the vault.
    if body.subjects.len() > MAX_FORCE_RESET {
        return Err(ApiError::bad_request(
            "too_many_subjects",
            format!("at most {MAX_FORCE_RESET} subjects per request"),
        )
        .into());
    }
    let ids = body
        .subjects
        .iter()
        .map(|s| parse_id(s))
        .collect::<Result<Vec<_>, _>>()?;
    let creds = credentials(&state)?;
    let flagged = creds
        .force_reset(access(&principal, &purpose), c, ids)
        .await?;
    Ok(Json(ForceResetResult { flagged }))
}
