//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::routes;
use crate::wire;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kura",
        description = "Personal-data vault: encrypted subjects, blind-index search, purpose-bound access.",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::health,
        routes::create_subject,
        routes::read_subject,
        routes::patch_subject,
        routes::delete_subject,
        routes::search,
        routes::import::import,
        routes::audit::checkpoint,
        routes::audit::entry,
        routes::audit::inclusion,
        routes::audit::consistency,
        routes::audit::subject_log,
        routes::credentials::set_password,
        routes::credentials::login,
        routes::credentials::request_recovery,
        routes::credentials::complete_recovery,
        routes::credentials::force_reset,
        routes::admin::create_org,
        routes::admin::list_orgs,
        routes::admin::show_org,
        routes::admin::org_report,
        routes::admin::create_principal,
        routes::admin::list_principals,
        routes::admin::show_principal,
        routes::admin::rotate_key,
        routes::admin::update_policies,
        routes::admin::revoke_key,
        routes::admin::suspend,
        routes::admin::reinstate,
        routes::incidents::list,
        routes::incidents::declare,
        routes::incidents::show,
        routes::incidents::update,
        routes::incidents::close,
        routes::incidents::reopen,
        routes::incidents::scope,
        routes::incidents::versions,
        routes::incidents::obligations,
        routes::incidents::notices,
        routes::incidents::processor_report,
        routes::incidents::report_draft,
        routes::incidents::report_items,
        routes::incidents::report_submit,
        routes::admin::metrics,
        routes::cards::tokenize,
        routes::cards::metadata,
        routes::cards::detokenize,
        routes::cards::delete,
        routes::rights::open,
        routes::rights::verify,
        routes::rights::reconfirm,
        routes::rights::list,
        routes::rights::show,
        routes::rights::extend,
        routes::rights::deny,
        routes::rights::receipt,
        routes::rights::confirm,
    ),
    components(schemas(
        wire::CreateSubject,
        wire::PatchSubject,
        wire::SearchRequest,
        wire::Created,
        wire::Ids,
        wire::SubjectBody,
        wire::ImportResult,
        wire::LineError,
        wire::ErrorBody,
        wire::ErrorDetail,
        wire::Health,
        routes::credentials::SetPassword,
        routes::credentials::LoginRequest,
        routes::credentials::LoginResult,
        routes::credentials::RecoveryRequest,
        routes::credentials::RecoveryAccepted,
        routes::credentials::CompleteRecovery,
        routes::credentials::ForceReset,
        routes::credentials::ForceResetResult,
        kura_admin::directory::NewOrganization,
        kura_admin::directory::SecurityOfficer,
        kura_admin::directory::NewPrincipal,
        routes::admin::PoliciesBody,
        kura_admin::directory::IssuedKey,
        kura_admin::directory::OrganizationView,
        kura_admin::directory::PrincipalView,
        kura_admin::report::OrgReport,
        kura_admin::incident::Incident,
        kura_admin::incident::IncidentSummary,
        kura_admin::incident::NewIncident,
        kura_admin::incident::IncidentChange,
        kura_admin::incident::StampInput,
        kura_admin::incident::Stamp,
        kura_admin::incident::Entry,
        kura_admin::incident::Window,
        kura_admin::incident::ScopeVersion,
        routes::incidents::IncidentView,
        routes::incidents::ReasonBody,
        kura_admin::obligations::IncidentObligations,
        kura_admin::notices::CampaignStatus,
        kura_admin::rights::RequestView,
        routes::rights::OpenRequest,
        routes::rights::Accepted,
        routes::rights::VerifyRequest,
        routes::rights::VerifiedAnswer,
        routes::rights::ReconfirmRequest,
        routes::rights::Reason,
        kura_admin::incident::ProcessorReport,
        kura_admin::incident::ReportReceipt,
        kura_admin::obligations::Draft,
        routes::incidents::ItemsBody,
        routes::incidents::SubmitBody,
        kura_admin::report::PrincipalReport,
        kura_admin::report::ContainmentEvent,
        routes::cards::TokenizeCard,
        routes::cards::CardBody,
        routes::cards::DetokenizedBody
    )),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document as pretty JSON (also kept in `docs/openapi.json`).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
