//! The access-log routes (operator only): signed checkpoint, entries, inclusion and
//! consistency proofs, and a subject's own access history.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use kura_audit::AuditError;
use kura_vault::Uuid;
use serde::Deserialize;

use super::access;
use crate::auth::{LogReader, Principal, Purpose};
use crate::wire::ErrorBody;
use crate::{ApiError, AppState};

fn audit_err(e: AuditError) -> ApiError {
    match e {
        AuditError::OutOfRange { .. } => ApiError::bad_request("out_of_range", e.to_string()),
        AuditError::Tlog(_) => ApiError::bad_request("invalid_proof_request", e.to_string()),
        other => ApiError::internal(&other),
    }
}

async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuditError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(audit_err)
}

/// `GET /v1/audit/checkpoint`: the latest signed checkpoint (C2SP signed note).
#[utoipa::path(get, path = "/v1/audit/checkpoint",
    responses((status = 200, content_type = "text/plain", body = String,
               description = "C2SP tlog-checkpoint as a signed note"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn checkpoint(
    State(state): State<AppState>,
    LogReader(_principal): LogReader,
) -> Result<impl IntoResponse, ApiError> {
    let store = state.audit.clone();
    let note = run(move || kura_audit::latest_checkpoint(&*store)).await?;
    match note {
        Some(text) => Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_checkpoint",
            "no checkpoint has been signed yet",
        )),
    }
}

/// `GET /v1/audit/entries/{index}`: the leaf bytes (base64) and the decoded event.
#[utoipa::path(get, path = "/v1/audit/entries/{index}", params(("index" = u64, Path)),
    responses((status = 200, description = "{\"index\",\"leaf\",\"event\"}"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn entry(
    State(state): State<AppState>,
    LogReader(_principal): LogReader,
    Path(index): Path<String>,
) -> Result<Json<kura_audit::Entry>, ApiError> {
    let index: u64 = index.parse().map_err(|_| {
        ApiError::bad_request("invalid_index", "index must be a non-negative integer")
    })?;
    let store = state.audit.clone();
    run(move || kura_audit::entry(&*store, index))
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "entry_not_found",
                "no entry at that index",
            )
        })
}

/// `?index=I&size=N`.
#[derive(Debug, Deserialize)]
pub struct InclusionQuery {
    index: u64,
    size: u64,
}

/// `GET /v1/audit/proof/inclusion`: RFC 9162 inclusion proof of leaf `index` in the tree
/// of `size` leaves.
#[utoipa::path(get, path = "/v1/audit/proof/inclusion",
    params(("index" = u64, Query), ("size" = u64, Query)),
    responses((status = 200, description = "{\"hashes\":[base64...]}"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn inclusion(
    State(state): State<AppState>,
    LogReader(_principal): LogReader,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<kura_audit::Proof>, ApiError> {
    let store = state.audit.clone();
    Ok(Json(
        run(move || kura_audit::inclusion_proof(&*store, q.index, q.size)).await?,
    ))
}

/// `?from=M&to=N`.
#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

/// `GET /v1/audit/proof/consistency`: RFC 9162 consistency proof between tree sizes.
#[utoipa::path(get, path = "/v1/audit/proof/consistency",
    params(("from" = u64, Query), ("to" = u64, Query)),
    responses((status = 200, description = "{\"hashes\":[base64...]}"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn consistency(
    State(state): State<AppState>,
    LogReader(_principal): LogReader,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<kura_audit::Proof>, ApiError> {
    let store = state.audit.clone();
    Ok(Json(
        run(move || kura_audit::consistency_proof(&*store, q.from, q.to)).await?,
    ))
}

/// `?after=I&limit=N` for paging.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/collections/{c}/subjects/{id}/access-log`: who read or changed this subject,
/// when, why, which fields. Reading it is itself recorded.
#[utoipa::path(get, path = "/v1/collections/{c}/subjects/{id}/access-log",
    params(("c" = String, Path), ("id" = String, Path), ("X-Kura-Purpose" = String, Header),
           ("after" = Option<u64>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "{\"id\",\"entries\":[...]}"),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn subject_log(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path((c, id)): Path<(String, String)>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        ApiError::bad_request("invalid_subject_id", "the subject id must be a UUID")
    })?;
    let a = access(&principal, &purpose);
    let vault = state.vault.clone();
    let store = state.audit.clone();
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = super::blocking(move || {
        let iid = vault.access_history_subject(&a, &c, &id)?;
        kura_audit::subject_history(&*store, iid, q.after, limit).map_err(Into::into)
    })
    .await?;
    Ok(Json(
        serde_json::json!({ "id": id.to_string(), "entries": entries }),
    ))
}
