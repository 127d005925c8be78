//! Operator routes for incidents: declare, list, show, change, close, reopen, and compute a
//! new version of the exposure matrix at the latest signed checkpoint. The rules are
//! `kura_admin::incident`'s, the same as on the command line; every change and every scoping
//! run is an access event. The evidence bundle is exported with the key file, on the command
//! line (`kura incident export`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::auth::{Operator, Reporter};
use crate::routes::ApiJson;
use crate::routes::admin::run;
use crate::wire::ErrorBody;
use crate::{ApiError, AppState};
use kura_admin::incident::{
    self, Incident, IncidentChange, IncidentSummary, NewIncident, ScopeVersion,
};

/// Lists incidents, newest first.
#[utoipa::path(get, path = "/v1/incidents",
    responses((status = 200, body = Vec<IncidentSummary>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<IncidentSummary>>, ApiError> {
    let d = state.directory.clone();
    Ok(Json(run(move || incident::list(&*d)).await?))
}

/// Declares an incident.
#[utoipa::path(post, path = "/v1/incidents", request_body = NewIncident,
    responses((status = 201, body = Incident), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn declare(
    State(state): State<AppState>,
    Operator(principal): Operator,
    ApiJson(body): ApiJson<NewIncident>,
) -> Result<(StatusCode, Json<Incident>), ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let i = run(move || incident::declare(&*d, &*clock, &principal.id, body)).await?;
    Ok((StatusCode::CREATED, Json(i)))
}

/// An incident with its matrix versions.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    /// The incident, its timestamps and timeline.
    pub incident: Incident,
    /// Every matrix version, oldest first.
    pub scopes: Vec<ScopeVersion>,
}

/// One incident: timestamps, timeline and matrix versions.
#[utoipa::path(get, path = "/v1/incidents/{id}", params(("id" = String, Path)),
    responses((status = 200, body = IncidentView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    let d = state.directory.clone();
    let view = run(move || {
        Ok(IncidentView {
            incident: incident::show(&*d, &id)?,
            scopes: incident::versions(&*d, &id)?,
        })
    })
    .await?;
    Ok(Json(view))
}

/// Changes an incident and sets its timestamps, with a reason.
#[utoipa::path(patch, path = "/v1/incidents/{id}", params(("id" = String, Path)),
    request_body = IncidentChange,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<IncidentChange>,
) -> Result<Json<Incident>, ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    Ok(Json(
        run(move || incident::update(&*d, &*clock, &principal.id, &id, body)).await?,
    ))
}

/// Why an incident is closed or reopened.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why (1-500 printable characters).
    pub reason: String,
}

/// Closes an incident.
#[utoipa::path(post, path = "/v1/incidents/{id}/close", params(("id" = String, Path)),
    request_body = ReasonBody,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Incident>, ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    Ok(Json(
        run(move || incident::set_closed(&*d, &*clock, &principal.id, &id, &body.reason, false))
            .await?,
    ))
}

/// Reopens a closed incident.
#[utoipa::path(post, path = "/v1/incidents/{id}/reopen", params(("id" = String, Path)),
    request_body = ReasonBody,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reopen(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Incident>, ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    Ok(Json(
        run(move || incident::set_closed(&*d, &*clock, &principal.id, &id, &body.reason, true))
            .await?,
    ))
}

/// Computes and stores a new version of the incident's exposure matrix at the latest signed
/// checkpoint (events since are in the next version).
#[utoipa::path(post, path = "/v1/incidents/{id}/scope", params(("id" = String, Path)),
    responses((status = 201, body = ScopeVersion), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn scope(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ScopeVersion>), ApiError> {
    let d = state.directory.clone();
    let audit = state.audit.clone();
    let clock = state.clock.clone();
    let schema = state.vault.schema().clone();
    let v =
        run(move || incident::scope_at_latest(&*audit, &*d, &schema, &*clock, &principal.id, &id))
            .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Every stored version of the incident's exposure matrix, oldest first.
#[utoipa::path(get, path = "/v1/incidents/{id}/scope", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ScopeVersion>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Vec<ScopeVersion>>, ApiError> {
    let d = state.directory.clone();
    Ok(Json(run(move || incident::versions(&*d, &id)).await?))
}

/// The incident's obligations now: every report and notice of every regime, owed or not,
/// with its deadline in the regulator's zone, its state and the reasoning.
#[utoipa::path(get, path = "/v1/incidents/{id}/obligations", params(("id" = String, Path)),
    responses((status = 200, body = kura_admin::obligations::IncidentObligations),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn obligations(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<kura_admin::obligations::IncidentObligations>, ApiError> {
    let d = state.directory.clone();
    let rules = state.obligations.clone();
    let now = state.clock.now_ms();
    Ok(Json(
        run(move || {
            kura_admin::obligations::of_incident(&*d, &id, &rules.regimes, &rules.holder, now)
        })
        .await?,
    ))
}

/// The incident's notice campaigns: status, matrix version, people planned, and per state,
/// language, country, channel and template how many people (counted in the store; no id,
/// no address). Operators only. Campaigns are planned and sent with `kura notify`.
#[utoipa::path(get, path = "/v1/incidents/{id}/notices", params(("id" = String, Path)),
    responses((status = 200, body = Vec<kura_admin::notices::CampaignStatus>),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn notices(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Vec<kura_admin::notices::CampaignStatus>>, ApiError> {
    let d = state.directory.clone();
    let n = state.notices.clone();
    Ok(Json(
        run(move || kura_admin::notices::status(&*n, &*d, &id)).await?,
    ))
}

/// A processor reports an incident to the holder that supervises it (or adds its report to
/// the holder's incident it names): `processor_reported` and its own `aware` are set, which
/// start the holder's clocks. Processors and operators only; the answer is the incident id.
#[utoipa::path(post, path = "/v1/incident-reports",
    request_body = kura_admin::incident::ProcessorReport,
    responses((status = 201, body = kura_admin::incident::ReportReceipt),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn processor_report(
    State(state): State<AppState>,
    Reporter(principal): Reporter,
    ApiJson(body): ApiJson<kura_admin::incident::ProcessorReport>,
) -> Result<(StatusCode, Json<kura_admin::incident::ReportReceipt>), ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let r = run(move || incident::processor_report(&*d, &*clock, &principal.id, body)).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// `?lang=&format=` for a draft.
#[derive(Debug, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
    /// `json` (default) or `pdf`.
    format: Option<String>,
}

/// The draft of an obligation's report (`eu-gdpr-art33%2FDE` for a per-country one), with
/// the items still empty; `?format=pdf` answers the draft as a PDF (fonts embedded).
#[utoipa::path(get, path = "/v1/incidents/{id}/reports/{obligation}",
    params(("id" = String, Path), ("obligation" = String, Path), ("lang" = Option<String>, Query),
           ("format" = Option<String>, Query)),
    responses((status = 200, body = kura_admin::obligations::Draft),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn report_draft(
    State(state): State<AppState>,
    _: Operator,
    Path((id, obligation)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<LangQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let d = state.directory.clone();
    let rules = state.obligations.clone();
    let now = state.clock.now_ms();
    let pdf = match q.format.as_deref() {
        None | Some("json") => false,
        Some("pdf") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_format",
                format!("unknown format `{other}`: json or pdf"),
            ));
        }
    };
    let (draft, bytes) = run(move || {
        let draft =
            kura_admin::obligations::draft(&*d, &id, &obligation, q.lang.as_deref(), &rules, now)?;
        let bytes = if pdf {
            Some(kura_admin::pdf::render(
                &draft.markdown,
                &format!("{obligation} — incident {id}"),
                &rules.pdf_fonts,
            )?)
        } else {
            None
        };
        Ok((draft, bytes))
    })
    .await?;
    Ok(match bytes {
        Some(b) => ([(axum::http::header::CONTENT_TYPE, "application/pdf")], b).into_response(),
        None => Json(draft).into_response(),
    })
}

/// Report items written by the officer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemsBody {
    /// Item → text (items of the obligation's checklist).
    pub items: std::collections::BTreeMap<String, String>,
    /// Why.
    pub reason: String,
}

/// Writes report items of an obligation; a timeline entry and an access event.
#[utoipa::path(put, path = "/v1/incidents/{id}/reports/{obligation}",
    params(("id" = String, Path), ("obligation" = String, Path)), request_body = ItemsBody,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn report_items(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path((id, obligation)): Path<(String, String)>,
    ApiJson(body): ApiJson<ItemsBody>,
) -> Result<Json<Incident>, ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let rules = state.obligations.clone();
    Ok(Json(
        run(move || {
            kura_admin::obligations::set_items(
                &*d,
                &*clock,
                &principal.id,
                &id,
                &obligation,
                body.items,
                &body.reason,
                &rules,
            )
        })
        .await?,
    ))
}

/// How a report was submitted.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// How it was sent.
    pub channel: String,
    /// The recipient's reference.
    pub reference: String,
    /// The draft's language.
    #[serde(default)]
    pub lang: Option<String>,
}

/// Records a report as submitted; refused (`report_incomplete`) while an item is empty.
#[utoipa::path(post, path = "/v1/incidents/{id}/reports/{obligation}/submit",
    params(("id" = String, Path), ("obligation" = String, Path)), request_body = SubmitBody,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn report_submit(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path((id, obligation)): Path<(String, String)>,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<Json<Incident>, ApiError> {
    let d = state.directory.clone();
    let clock = state.clock.clone();
    let rules = state.obligations.clone();
    Ok(Json(
        run(move || {
            kura_admin::obligations::submit(
                &*d,
                &*clock,
                &principal.id,
                &id,
                &obligation,
                &body.channel,
                &body.reference,
                body.lang.as_deref(),
                &rules,
            )
        })
        .await?,
    ))
}
