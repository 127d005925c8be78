//! Data-subject request routes. The handlers parse and answer; every rule (grants,
//! identity verification, deadlines, receipts, retention) is `kura_admin::rights` and
//! `kura_admin::retention`.
//!
//! Opening a request always answers 202 with a request id, before and whatever the lookup
//! found: the answer never tells whether an identifier belongs to anyone.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kura_admin::rights::{RequestView, Service};
use kura_obligations::rights::RequestKind;
use kura_vault::{Identifier, Uuid};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::admin::run;
use super::{ApiJson, access};
use crate::auth::{Operator, Principal, Purpose, Reporter};
use crate::wire::ErrorBody;
use crate::{ApiError, AppState};

fn service(state: &AppState) -> Result<std::sync::Arc<Service>, ApiError> {
    state.rights.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "rights_unavailable",
            "data-subject requests are not configured on this server",
        )
    })
}

/// `POST /v1/collections/{c}/rights`: exactly one of `subject`, `email`, `login_id` (a
/// self-service principal may omit all three: its own subject).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// `access`, `rectification`, `erasure` or `restriction`.
    pub kind: String,
    /// The subject's id.
    pub subject: Option<String>,
    /// An e-mail address the subject gave (used only to find where to send the token).
    pub email: Option<String>,
    /// A login id the subject gave (likewise).
    pub login_id: Option<String>,
}

/// The answer to every well-formed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The request id (also when nothing matched).
    pub request: String,
    /// Always `accepted`.
    pub status: String,
}

/// `POST /v1/collections/{c}/rights/verify`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The token from the mail (`kura_rv_…`).
    pub token: String,
    /// Rectification only: the corrected fields (`null` removes).
    #[schema(value_type = Option<Object>)]
    pub fields: Option<BTreeMap<String, Option<String>>>,
    /// Access only: also mail the package to the address on file.
    #[serde(default)]
    pub mail_copy: bool,
}

/// What a verified request answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedAnswer {
    /// The request.
    pub request: RequestView,
    /// Access: the export package (JSON, with a CSV per part under `csv`).
    #[schema(value_type = Option<Object>)]
    pub export: Option<serde_json::Value>,
    /// Erasure: the signed receipt (`kura receipt verify`).
    pub receipt: Option<String>,
}

/// `POST /v1/collections/{c}/reconfirm`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconfirmRequest {
    /// The token from the reconfirmation mail.
    pub token: String,
}

/// `POST /v1/rights/{id}/extend` and `.../deny`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why (told to the subject).
    pub reason: String,
}

/// `GET /v1/rights` filters.
#[derive(Deserialize)]
pub struct ListQuery {
    /// Only this state.
    pub state: Option<String>,
    /// Requests after this id.
    pub after: Option<String>,
    /// At most this many (1..=1000, default 100).
    pub limit: Option<usize>,
}

/// Opens a data-subject request. The caller needs the kind's grant (`export`, `write`,
/// `delete`) on the collection; a one-time token goes to the address on file.
#[utoipa::path(post, path = "/v1/collections/{c}/rights", request_body = OpenRequest,
    params(("c" = String, Path, description = "collection")),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn open(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<OpenRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let svc = service(&state)?;
    let kind = RequestKind::parse(&body.kind).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_kind",
            "kind is one of access, rectification, erasure, restriction",
        )
    })?;
    let own = match principal.caller.kind {
        kura_policy::PrincipalKind::SelfService { subject } => Some(Uuid::from_u128(subject)),
        _ => None,
    };
    let who = match (body.subject, body.email, body.login_id) {
        (Some(s), None, None) => Identifier::Subject(super::parse_id(&s)?),
        (None, Some(e), None) => Identifier::Email(Zeroizing::new(e)),
        (None, None, Some(l)) => Identifier::LoginId(Zeroizing::new(l)),
        (None, None, None) if own.is_some() => Identifier::Subject(own.unwrap_or_default()),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "name the subject with exactly one of subject, email, login_id",
            ));
        }
    };
    let channel = if principal.caller.is_operator() {
        "operator"
    } else {
        "api"
    };
    let a = access(&principal, &purpose);
    let id = run(move || kura_admin::rights::open(&svc.env(), &a, &c, kind, &who, channel)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            request: id,
            status: "accepted".to_owned(),
        }),
    ))
}

/// Redeems the token of a request and answers it: the export package, the correction, the
/// restriction, or the erasure with its signed receipt. Relayed by a service with the
/// `authenticate` grant, or by the subject's own principal.
#[utoipa::path(post, path = "/v1/collections/{c}/rights/verify", request_body = VerifyRequest,
    params(("c" = String, Path, description = "collection")),
    responses((status = 200, body = VerifiedAnswer), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Json<VerifiedAnswer>, ApiError> {
    let svc = service(&state)?;
    let a = access(&principal, &purpose);
    let token = Zeroizing::new(body.token);
    let fields = body.fields;
    let mail_copy = body.mail_copy;
    let v = run(move || {
        kura_admin::rights::verify(&svc.env(), &a, &c, &token, fields.as_ref(), mail_copy)
    })
    .await?;
    Ok(Json(VerifiedAnswer {
        request: v.request,
        export: v.export,
        receipt: v.receipt.map(|r| String::from_utf8_lossy(&r).into_owned()),
    }))
}

/// A subject confirms it still uses the service (retention): relayed with the
/// `authenticate` grant.
#[utoipa::path(post, path = "/v1/collections/{c}/reconfirm", request_body = ReconfirmRequest,
    params(("c" = String, Path, description = "collection")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reconfirm(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<ReconfirmRequest>,
) -> Result<StatusCode, ApiError> {
    let svc = service(&state)?;
    let a = access(&principal, &purpose);
    let token = Zeroizing::new(body.token);
    run(move || kura_admin::retention::reconfirm(&svc.env(), &a, &c, &token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Requests, by id (operators).
#[utoipa::path(get, path = "/v1/rights",
    params(("state" = Option<String>, Query, description = "only this state"),
           ("after" = Option<String>, Query, description = "requests after this id"),
           ("limit" = Option<usize>, Query, description = "at most this many (default 100)")),
    responses((status = 200, body = Vec<RequestView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    let svc = service(&state)?;
    Ok(Json(
        run(move || {
            kura_admin::rights::list(
                &svc.env(),
                q.state.as_deref(),
                q.after.as_deref(),
                q.limit.unwrap_or(100),
            )
        })
        .await?,
    ))
}

/// One request (operators).
#[utoipa::path(get, path = "/v1/rights/{id}",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let svc = service(&state)?;
    Ok(Json(
        run(move || kura_admin::rights::show(&svc.env(), &id)).await?,
    ))
}

/// Extends a request's deadline, telling the subject the reasons (operators).
#[utoipa::path(post, path = "/v1/rights/{id}/extend", request_body = Reason,
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn extend(
    State(state): State<AppState>,
    Operator(p): Operator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> Result<Json<RequestView>, ApiError> {
    let svc = service(&state)?;
    Ok(Json(
        run(move || kura_admin::rights::extend(&svc.env(), &p.id, &id, &body.reason)).await?,
    ))
}

/// Denies a request with its reasons, telling the subject (operators).
#[utoipa::path(post, path = "/v1/rights/{id}/deny", request_body = Reason,
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn deny(
    State(state): State<AppState>,
    Operator(p): Operator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> Result<Json<RequestView>, ApiError> {
    let svc = service(&state)?;
    Ok(Json(
        run(move || kura_admin::rights::deny(&svc.env(), &p.id, &id, &body.reason)).await?,
    ))
}

/// The signed receipt of a completed erasure (operators), as `text/plain`.
#[utoipa::path(get, path = "/v1/rights/{id}/receipt",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, content_type = "text/plain", body = String),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn receipt(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let svc = service(&state)?;
    let r = run(move || kura_admin::rights::receipt_of(&svc.env(), &id)).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], r).into_response())
}

/// A processor confirms it erased its copies (a principal of an organization the request
/// told; decided as `report_incident`: processors and operators).
#[utoipa::path(post, path = "/v1/rights/{id}/confirm",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    Reporter(p): Reporter,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let svc = service(&state)?;
    let a = kura_vault::Access {
        principal: p.id.clone(),
        purpose: kura_admin::rights::PURPOSE.to_owned(),
        request_id: id.clone(),
        caller: p.caller.clone(),
    };
    Ok(Json(
        run(move || kura_admin::rights::confirm(&svc.env(), &a, &id)).await?,
    ))
}
