//! API errors: one type, one exhaustive mapping from library errors to HTTP statuses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kura_credentials::CredentialError;
use kura_vault::{PasswordError, VaultError};
use serde_json::json;

/// An error answered to a client: status, stable snake_case code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human sentence. Never contains a field value, key or secret.
    pub message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: missing or invalid API key.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: send `Authorization: Bearer <key>`",
        )
    }

    /// 403: the caller's grant refuses the request. The code is precise (which rule refused)
    /// and the message says what to change, never what data exists.
    pub fn denied(code: kura_vault::DenyCode) -> Self {
        use kura_vault::DenyCode as D;
        let message = match code {
            D::ActionDenied => {
                "no policy of this principal allows this action for this collection and purpose"
            }
            D::PurposeDenied => {
                "no policy of this principal allows this purpose for this collection"
            }
            D::CollectionDenied => "no policy of this principal covers this collection",
            D::FieldDenied => "a field named in the request is denied by this principal's policies",
            D::NotOwnSubject => "a self-service principal may only act on its own subject",
            D::PrincipalSuspended => "this principal is suspended; an operator must reinstate it",
            D::DetokenizeDenied => {
                "card numbers are revealed only to a payment service or processor whose policy allows `detokenize`, with the purpose `charge`"
            }
            _ => "the request is not allowed for this principal",
        };
        Self::new(StatusCode::FORBIDDEN, code.as_str(), message)
    }

    /// 413: body too large.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }

    /// A generic 500 whose cause is logged, not returned.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server could not complete the request; the cause has been logged",
        )
    }
}

/// The stable code of an error response, attached to the response for metrics (never
/// sent: extensions stay inside the server).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, Json(body)).into_response();
        resp.extensions_mut().insert(ErrorCode(self.code));
        resp
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        use kura_model::ModelError as M;
        match &e {
            VaultError::Invalid(m) => {
                let status = match m {
                    M::UnknownCollection(_) => StatusCode::NOT_FOUND,
                    M::NotSearchable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    M::Config(_) => return ApiError::internal(&e),
                    M::UnknownField { .. }
                    | M::InvalidValue { .. }
                    | M::MissingRequired(_)
                    | M::InvalidCountry
                    | M::InvalidLocale
                    | M::InvalidPurpose => StatusCode::BAD_REQUEST,
                    // ModelError is non_exhaustive; a new variant is a client error until
                    // it is mapped here on purpose.
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, m.code(), m.to_string())
            }
            VaultError::NotFound(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "subject_not_found",
                "no such subject in this collection",
            ),
            VaultError::Integrity { .. } => {
                tracing::error!(error = %e, "integrity failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "integrity_error",
                    "stored data of this subject failed its integrity check; nothing of it is returned",
                )
            }
            VaultError::Denied(code) => ApiError::denied(*code),
            // Fixed messages without a digit of the input (kura-cards' invariant).
            VaultError::Card(c) => ApiError::bad_request(c.code(), c.to_string()),
            VaultError::CardNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "card_not_found",
                "no such card token",
            ),
            VaultError::NoCardField(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_card_field",
                "the subject's collection has no field of category `payment_card`",
            ),
            VaultError::Contention(_) => ApiError::new(
                StatusCode::CONFLICT,
                "contention",
                "the subject is being changed concurrently; retry",
            ),
            VaultError::Audit(_) => {
                tracing::error!(error = %e, "access log unavailable; request refused");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit_unavailable",
                    "the access log could not record this request, so it was not served",
                )
            }
            VaultError::Crypto(_)
            | VaultError::Store(_)
            | VaultError::VaultMismatch { .. }
            | VaultError::Mail(_) => ApiError::internal(&e),
            _ => ApiError::internal(&e),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Vault(v) => v.into(),
            PasswordError::Credential(c) => c.into(),
            PasswordError::NoCredentialField(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_credential_field",
                "this collection has no field of category `credential`",
            ),
            PasswordError::ResetRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "password_reset_required",
                "the password must be reset through recovery before the next login",
            ),
            // PasswordError is non_exhaustive; a new variant is a server error until it is
            // mapped here on purpose.
            other => ApiError::internal(&other),
        }
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        use CredentialError as C;
        let status = match &e {
            // Password rules: the message names the limit, never the password.
            C::PasswordTooShort { .. }
            | C::PasswordTooLong { .. }
            | C::PasswordBreached
            | C::PasswordContainsIdentity => StatusCode::UNPROCESSABLE_ENTITY,
            // One fixed body for a wrong password and an unknown login id alike.
            C::InvalidCredentials => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_credentials",
                    "the login id or the password is wrong",
                );
            }
            C::LoginThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            C::AccountLocked => StatusCode::LOCKED,
            C::Busy => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many password checks at once; retry shortly",
                );
            }
            C::RecoveryTokenInvalid | C::RecoveryTokenExpired | C::RecoveryTokenUsed => {
                StatusCode::BAD_REQUEST
            }
            C::HashParamsTooWeak { .. }
            | C::HashMalformed { .. }
            | C::PepperUnknown { .. }
            | C::HashingFailed
            | C::InvalidConfig { .. }
            | C::FilterInvalid { .. }
            | C::FilterInput { .. }
            | C::FilterBuild { .. }
            | C::Io { .. }
            | C::Rng
            | C::Internal => return ApiError::internal(&e),
            // CredentialError is non_exhaustive: a new variant is a server error until it is
            // mapped here on purpose.
            _ => return ApiError::internal(&e),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}
