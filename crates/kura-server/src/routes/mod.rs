//! Route table and the subject handlers.

pub mod admin;
pub mod audit;
pub mod cards;
pub mod credentials;
pub mod import;
pub mod incidents;
pub mod rights;

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use kura_vault::{Access, SubjectInput, Uuid, VaultError};
use serde::de::DeserializeOwned;

use crate::auth::{Principal, Purpose};
use crate::wire::{
    CreateSubject, Created, ErrorBody, Health, Ids, PatchSubject, SearchRequest, SubjectBody,
};
use crate::{ApiError, AppState};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/collections/{c}/subjects", post(create_subject))
        .route(
            "/v1/collections/{c}/subjects/{id}",
            get(read_subject)
                .patch(patch_subject)
                .delete(delete_subject),
        )
        .route("/v1/collections/{c}/search", post(search))
        .route(
            "/v1/collections/{c}/subjects/{id}/password",
            put(credentials::set_password),
        )
        .route("/v1/collections/{c}/login", post(credentials::login))
        .route(
            "/v1/collections/{c}/recovery",
            post(credentials::request_recovery),
        )
        .route(
            "/v1/collections/{c}/recovery/complete",
            post(credentials::complete_recovery),
        )
        .route(
            "/v1/collections/{c}/force-reset",
            post(credentials::force_reset),
        )
        .route("/v1/collections/{c}/import", post(import::import))
        .route(
            "/v1/collections/{c}/subjects/{id}/access-log",
            get(audit::subject_log),
        )
        .route("/v1/collections/{c}/rights", post(rights::open))
        .route("/v1/collections/{c}/rights/verify", post(rights::verify))
        .route("/v1/collections/{c}/reconfirm", post(rights::reconfirm))
        .route("/v1/rights", get(rights::list))
        .route("/v1/rights/{id}", get(rights::show))
        .route("/v1/rights/{id}/extend", post(rights::extend))
        .route("/v1/rights/{id}/deny", post(rights::deny))
        .route("/v1/rights/{id}/receipt", get(rights::receipt))
        .route("/v1/rights/{id}/confirm", post(rights::confirm))
        .route("/v1/orgs", post(admin::create_org).get(admin::list_orgs))
        .route("/v1/orgs/{id}", get(admin::show_org))
        .route("/v1/orgs/{id}/report", get(admin::org_report))
        .route(
            "/v1/principals",
            post(admin::create_principal).get(admin::list_principals),
        )
        .route("/v1/principals/{id}", get(admin::show_principal))
        .route("/v1/principals/{id}/keys", post(admin::rotate_key))
        .route("/v1/principals/{id}/policies", put(admin::update_policies))
        .route(
            "/v1/principals/{id}/keys/{prefix}",
            axum::routing::delete(admin::revoke_key),
        )
        .route("/v1/principals/{id}/suspend", post(admin::suspend))
        .route("/v1/principals/{id}/reinstate", post(admin::reinstate))
        .route(
            "/v1/incidents",
            get(incidents::list).post(incidents::declare),
        )
        .route(
            "/v1/incidents/{id}",
            get(incidents::show).patch(incidents::update),
        )
        .route("/v1/incidents/{id}/close", post(incidents::close))
        .route("/v1/incidents/{id}/reopen", post(incidents::reopen))
        .route(
            "/v1/incidents/{id}/obligations",
            get(incidents::obligations),
        )
        .route("/v1/incidents/{id}/notices", get(incidents::notices))
        .route("/v1/incident-reports", post(incidents::processor_report))
        .route(
            "/v1/incidents/{id}/reports/{obligation}",
            get(incidents::report_draft).put(incidents::report_items),
        )
        .route(
            "/v1/incidents/{id}/reports/{obligation}/submit",
            post(incidents::report_submit),
        )
        .route(
            "/v1/incidents/{id}/scope",
            post(incidents::scope).get(incidents::versions),
        )
        .route("/v1/metrics", get(admin::metrics))
        .route("/v1/cards", post(cards::tokenize))
        .route(
            "/v1/cards/{token}",
            get(cards::metadata).delete(cards::delete),
        )
        .route("/v1/cards/{token}/detokenize", post(cards::detokenize))
        .route("/v1/audit/checkpoint", get(audit::checkpoint))
        .route("/v1/audit/entries/{index}", get(audit::entry))
        .route("/v1/audit/proof/inclusion", get(audit::inclusion))
        .route("/v1/audit/proof/consistency", get(audit::consistency))
        .fallback(not_found)
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            count_denied,
        ))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Counts responses for `/v1/metrics`: by status class, by error code, and policy
/// refusals (403).
async fn count_denied(
    State(state): State<AppState>,
    response: axum::response::Response,
) -> axum::response::Response {
    if response.status() == StatusCode::FORBIDDEN {
        kura_admin::metrics::Metrics::inc(&state.metrics.denied);
    }
    let code = response
        .extensions()
        .get::<crate::error::ErrorCode>()
        .map(|c| c.0);
    state
        .metrics
        .count_response(response.status().as_u16(), code);
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi_json(),
    )
}

/// A JSON body read under the size limit, answering bad input in the API's error shape
/// without echoing any part of the body.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON request body (content type `application/json` or none) under the size limit.
///
/// # Errors
/// 415 `unsupported_media_type`, 413 `body_too_large`.
pub async fn json_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE)
        && !ct.to_str().unwrap_or("").starts_with("application/json")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let limit = state.limits.max_body_bytes;
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

/// Parses JSON, describing errors by position and kind only (serde's own messages can
/// quote values).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        let at = format!("line {}, column {}", e.line(), e.column());
        match e.classify() {
            Category::Data => ApiError::bad_request(
                "invalid_body",
                format!(
                    "the JSON does not have the expected shape (unknown or missing key, or wrong type) at {at}"
                ),
            ),
            _ => ApiError::bad_request("malformed_json", format!("the body is not valid JSON ({at})")),
        }
    })
}

pub fn access(principal: &Principal, purpose: &Purpose) -> Access {
    Access {
        principal: principal.id.clone(),
        purpose: purpose.0.clone(),
        request_id: Uuid::now_v7().to_string(),
        caller: principal.caller.clone(),
    }
}

fn string_value(name: &str, v: serde_json::Value) -> Result<String, ApiError> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        _ => Err(ApiError::bad_request(
            "invalid_value",
            format!("field `{name}` must be a JSON string"),
        )),
    }
}

/// Turns a create body into vault input, refusing non-string values.
pub fn subject_input(body: CreateSubject) -> Result<SubjectInput, ApiError> {
    let mut fields = BTreeMap::new();
    for (k, v) in body.fields {
        let s = string_value(&k, v)?;
        fields.insert(k, s);
    }
    Ok(SubjectInput {
        country: body.country,
        locale: body.locale,
        fields,
    })
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::bad_request("invalid_subject_id", "the subject id must be a UUID"))
}

pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}

/// Liveness, and the coarse posture (no finding's detail: this route is unauthenticated).
#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        posture: state.metrics.posture().into(),
    })
}

/// Creates a subject.
#[utoipa::path(
    post, path = "/v1/collections/{c}/subjects",
    params(("c" = String, Path, description = "collection"),
           ("X-Kura-Purpose" = String, Header, description = "purpose of the request")),
    request_body = CreateSubject,
    responses((status = 201, body = Created), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create_subject(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<CreateSubject>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let input = subject_input(body)?;
    let a = access(&principal, &purpose);
    let vault = state.vault.clone();
    let id = blocking(move || vault.create(&a, &c, input)).await?;
    Ok((StatusCode::CREATED, Json(Created { id: id.to_string() })))
}

/// `?fields=a,b`.
#[derive(Debug, serde::Deserialize)]
pub struct FieldsQuery {
    fields: Option<String>,
}

/// Reads a subject (all fields, or those named in `fields`).
#[utoipa::path(
    get, path = "/v1/collections/{c}/subjects/{id}",
    params(("c" = String, Path), ("id" = String, Path),
           ("fields" = Option<String>, Query, description = "comma-separated field names"),
           ("X-Kura-Purpose" = String, Header)),
    responses((status = 200, body = SubjectBody), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn read_subject(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path((c, id)): Path<(String, String)>,
    Query(q): Query<FieldsQuery>,
) -> Result<Json<SubjectBody>, ApiError> {
    let id = parse_id(&id)?;
    let fields: Option<Vec<String>> = q.fields.map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let a = access(&principal, &purpose);
    // A read is bounded work (two indexed lookups, the field opens): inline on SQLite,
    // where a hand-off to the blocking pool and back costs more than the read itself
    // (decision 0019). The wait for the durable access event (the group commit) is
    // awaited, holding no thread.
    let vault = state.vault.clone();
    let view = state
        .bounded(move || vault.read_deferred(&a, &c, &id, fields.as_deref()))
        .await??
        .durable()
        .await?;
    Ok(Json(SubjectBody {
        id: view.id.to_string(),
        country: view.country.clone(),
        locale: view.locale.clone(),
        fields: view
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().to_owned()))
            .collect(),
    }))
}

/// Changes fields (a string sets, `null` removes).
#[utoipa::path(
    patch, path = "/v1/collections/{c}/subjects/{id}",
    params(("c" = String, Path), ("id" = String, Path), ("X-Kura-Purpose" = String, Header)),
    request_body = PatchSubject,
    responses((status = 200), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn patch_subject(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path((c, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<PatchSubject>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    if body.fields.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "`fields` must name at least one field",
        ));
    }
    let mut changes = BTreeMap::new();
    for (k, v) in body.fields {
        let change = match v {
            serde_json::Value::Null => None,
            other => Some(string_value(&k, other)?),
        };
        changes.insert(k, change);
    }
    let a = access(&principal, &purpose);
    let vault = state.vault.clone();
    blocking(move || vault.patch(&a, &c, &id, &changes)).await?;
    Ok(Json(serde_json::json!({"id": id.to_string()})))
}

/// Erases a subject by crypto-shredding.
#[utoipa::path(
    delete, path = "/v1/collections/{c}/subjects/{id}",
    params(("c" = String, Path), ("id" = String, Path), ("X-Kura-Purpose" = String, Header)),
    responses((status = 200), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete_subject(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path((c, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    let a = access(&principal, &purpose);
    let vault = state.vault.clone();
    blocking(move || vault.delete(&a, &c, &id)).await?;
    Ok(Json(
        serde_json::json!({"id": id.to_string(), "erased": true}),
    ))
}

/// Exact-match search through a blind index.
#[utoipa::path(
    post, path = "/v1/collections/{c}/search",
    params(("c" = String, Path), ("X-Kura-Purpose" = String, Header)),
    request_body = SearchRequest,
    responses((status = 200, body = Ids), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn search(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    ApiJson(body): ApiJson<SearchRequest>,
) -> Result<Json<Ids>, ApiError> {
    let a = access(&principal, &purpose);
    let limit = body.limit.unwrap_or(100);
    // Bounded like a read (one blind-index lookup); the durable event is awaited.
    let vault = state.vault.clone();
    let ids = state
        .bounded(move || vault.search_deferred(&a, &c, &body.field, &body.value, limit))
        .await??
        .durable()
        .await?;
    Ok(Json(Ids {
        ids: ids.iter().map(Uuid::to_string).collect(),
    }))
}
