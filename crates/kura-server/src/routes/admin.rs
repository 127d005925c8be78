//! Operator routes: organizations, principals and their keys, suspension, the
//! supervision report and metrics. Every route here requires an operator key; none touches
//! a subject's fields.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use serde::Deserialize;

use crate::auth::Operator;
use crate::routes::ApiJson;
use crate::wire::ErrorBody;
use crate::{ApiError, AppState};
use kura_admin::directory::{
    self, AdminError, IssuedKey, NewOrganization, NewPrincipal, OrganizationView, PrincipalView,
};
use kura_admin::report::{self, OrgReport};

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let e = match e {
            AdminError::Vault(v) => return ApiError::from(v),
            other => other,
        };
        let status = match &e {
            AdminError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::Audit(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => return ApiError::internal(&e),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Runs an administrative operation on a blocking thread and maps its error.
///
/// # Errors
/// The operation's error, mapped as everywhere ([`ApiError`]'s `From<AdminError>`).
pub async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}

/// Registers an organization (a security officer is required).
#[utoipa::path(post, path = "/v1/orgs", request_body = NewOrganization,
    responses((status = 201, body = OrganizationView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_org(
    State(state): State<AppState>,
    Operator(principal): Operator,
    ApiJson(body): ApiJson<NewOrganization>,
) -> Result<(StatusCode, Json<OrganizationView>), ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let org = run(move || directory::create_org(&*d, &*clock, &principal.id, body)).await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// Lists organizations.
#[utoipa::path(get, path = "/v1/orgs",
    responses((status = 200, body = Vec<OrganizationView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_orgs(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<OrganizationView>>, ApiError> {
    let d = state.directory.clone();
    let orgs = run(move || Ok(d.organizations()?)).await?;
    Ok(Json(orgs.into_iter().map(Into::into).collect()))
}

/// Shows one organization.
#[utoipa::path(get, path = "/v1/orgs/{id}", params(("id" = String, Path)),
    responses((status = 200, body = OrganizationView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn show_org(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<OrganizationView>, ApiError> {
    let d = state.directory.clone();
    let org = run(move || {
        d.organization(&id)?
            .ok_or_else(|| AdminError::NotFound(format!("no organization `{id}`")))
    })
    .await?;
    Ok(Json(org.into()))
}

/// Creates a principal; the answer holds its API key, shown this once.
#[utoipa::path(post, path = "/v1/principals", request_body = NewPrincipal,
    responses((status = 201, body = IssuedKey), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_principal(
    State(state): State<AppState>,
    Operator(principal): Operator,
    ApiJson(body): ApiJson<NewPrincipal>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let vault = state.vault.clone();
    let (_, key) =
        run(move || directory::create_principal(&*d, &*clock, vault.schema(), &principal.id, body))
            .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// `?org=`.
#[derive(Debug, Deserialize)]
pub struct OrgQuery {
    org: Option<String>,
}

/// Lists principals (of one organization with `?org=`).
#[utoipa::path(get, path = "/v1/principals", params(("org" = Option<String>, Query)),
    responses((status = 200, body = Vec<PrincipalView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_principals(
    State(state): State<AppState>,
    _: Operator,
    Query(q): Query<OrgQuery>,
) -> Result<Json<Vec<PrincipalView>>, ApiError> {
    let d = state.directory.clone();
    let list = run(move || {
        d.principals(q.org.as_deref())?
            .into_iter()
            .map(|p| directory::principal_view(&*d, p))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(Json(list))
}

/// Shows one principal (its key prefixes, never a key).
#[utoipa::path(get, path = "/v1/principals/{id}", params(("id" = String, Path)),
    responses((status = 200, body = PrincipalView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn show_principal(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<PrincipalView>, ApiError> {
    let d = state.directory.clone();
    let view = run(move || {
        let p = d
            .principal(&id)?
            .ok_or_else(|| AdminError::NotFound(format!("no principal `{id}`")))?;
        directory::principal_view(&*d, p)
    })
    .await?;
    Ok(Json(view))
}

/// `{"policies":[...]}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoliciesBody {
    /// The new policies (they replace the old ones).
    #[schema(value_type = Vec<Object>)]
    pub policies: Vec<kura_policy::PolicySpec>,
}

/// Replaces a principal's policies (effective at its next request, on every server).
#[utoipa::path(put, path = "/v1/principals/{id}/policies", params(("id" = String, Path)),
    request_body = PoliciesBody,
    responses((status = 200), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_policies(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PoliciesBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (d, vault, who) = (state.directory.clone(), state.vault.clone(), id.clone());
    let clock = state.clock.clone();
    run(move || {
        directory::update_policies(
            &*d,
            &*clock,
            vault.schema(),
            &principal.id,
            &who,
            body.policies,
        )
    })
    .await?;
    Ok(Json(serde_json::json!({ "id": id, "updated": true })))
}

/// Rotates a principal's key: a new key (shown once) and every older key revoked.
#[utoipa::path(post, path = "/v1/principals/{id}/keys", params(("id" = String, Path)),
    responses((status = 201, body = IssuedKey), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_key(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let key = run(move || directory::rotate_key(&*d, &*clock, &principal.id, &id)).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// Revokes one key of a principal, by its public prefix.
#[utoipa::path(delete, path = "/v1/principals/{id}/keys/{prefix}",
    params(("id" = String, Path), ("prefix" = String, Path)),
    responses((status = 200), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path((id, prefix)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let n = run(move || directory::revoke_keys(&*d, &*clock, &principal.id, &id, Some(&prefix)))
        .await?;
    Ok(Json(serde_json::json!({ "revoked": n })))
}

/// Suspends a principal: every request it makes is refused until reinstated.
#[utoipa::path(post, path = "/v1/principals/{id}/suspend", params(("id" = String, Path)),
    responses((status = 200), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn suspend(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let who = id.clone();
    run(move || directory::set_suspended(&*d, &*clock, &principal.id, &who, Some("operator")))
        .await?;
    Ok(Json(serde_json::json!({ "id": id, "suspended": true })))
}

/// Reinstates a suspended principal, on an empty containment window.
#[utoipa::path(post, path = "/v1/principals/{id}/reinstate", params(("id" = String, Path)),
    responses((status = 200), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reinstate(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let who = id.clone();
    run(move || directory::set_suspended(&*d, &*clock, &principal.id, &who, None)).await?;
    Ok(Json(serde_json::json!({ "id": id, "suspended": false })))
}

/// `?from=&to=` in unix seconds.
#[derive(Debug, Deserialize)]
pub struct Period {
    from: i64,
    to: i64,
}

/// The supervision report of an organization over `[from, to)`.
#[utoipa::path(get, path = "/v1/orgs/{id}/report",
    params(("id" = String, Path), ("from" = i64, Query), ("to" = i64, Query)),
    responses((status = 200, body = OrgReport), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn org_report(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    Query(p): Query<Period>,
) -> Result<Json<OrgReport>, ApiError> {
    let (audit, d, vault) = (
        state.audit.clone(),
        state.directory.clone(),
        state.vault.clone(),
    );
    let r = tokio::task::spawn_blocking(move || {
        report::org_report(&*audit, &*d, vault.schema(), &id, p.from, p.to)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(r))
}

/// Counters in the Prometheus text format.
#[utoipa::path(get, path = "/v1/metrics",
    responses((status = 200, content_type = "text/plain"), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    _: Operator,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let canaries = state.vault.canaries().map_or(0, |c| c.len());
    let mut text = state.metrics.render(canaries);
    if let Some(svc) = state.rights.clone() {
        let overdue = run(move || {
            let now = i64::try_from(svc.clock.now_ms()).unwrap_or(i64::MAX);
            Ok(svc.rights.rights_overdue(now)?)
        })
        .await?;
        text.push_str(&format!(
            "# HELP kura_rights_requests_overdue Data-subject requests open past their deadline.\n\
             # TYPE kura_rights_requests_overdue gauge\n\
             kura_rights_requests_overdue {overdue}\n"
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}
