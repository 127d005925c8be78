//! The console under `/console`: the security officer's screens during a breach (incidents,
//! containment, posture) and a person's own page (what is held, who read it, their rights).
//! An adapter like the `/v1` API: every rule is the domain crates' (`kura-admin`,
//! `kura-vault`), every authorization decision `kura_policy::decide` through the vault.
//!
//! Pages are HTML rendered on the server ([`maud`] escapes every value), with one small
//! script that only refreshes deadline countdowns; every asset is served from here.
//!
//! # Security properties
//! - No page works without a session: a page answers a redirect to the login form, a form
//!   post answers 401. A session is opened by presenting an API key once ([`session`]).
//! - Operator pages decide `administer` for the session's principal on every request; a
//!   refusal is an access event like the API's. The subject page serves only a self-service
//!   principal, and only its own subject: no subject id is ever taken from the request.
//! - Every state change is a POST carrying the session's CSRF token; a post whose
//!   `Sec-Fetch-Site` (or, without it, `Origin`) says it came from another site is refused
//!   before anything changes.
//! - The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/console`, and `Secure` unless the
//!   server listens on loopback only.
//! - Every response carries a strict Content-Security-Policy (no inline script or style,
//!   nothing from another origin, no framing), `no-store`, and `Referrer-Policy: same-origin`.
//! - No personal value is put in a URL, and the console writes no log line with one.
#![deny(missing_docs)]

pub mod i18n;
mod officer;
mod page;
pub mod session;
mod subject;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kura_server::AppState;
use kura_server::auth::Principal;

use crate::i18n::{Lang, T};
use crate::session::{Session, Sessions};

/// How the console runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Set `Secure` on the session cookie (the console is reached over TLS).
    pub secure_cookie: bool,
    /// A session ends after this long without a request.
    pub idle_secs: u64,
    /// A session ends this long after login in any case.
    pub absolute_secs: u64,
    /// At most this many sessions at once.
    pub max_sessions: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            secure_cookie: true,
            idle_secs: 15 * 60,
            absolute_secs: 8 * 3600,
            max_sessions: 10_000,
        }
    }
}

/// The console's state: the API's state, the containment windows (quota use), the
/// sessions.
#[derive(Clone)]
pub struct Console {
    app: AppState,
    windows: Option<Arc<dyn kura_store::ContainmentStore>>,
    sessions: Arc<Sessions>,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The cookie's name.
pub const COOKIE: &str = "kura_console";

/// The `/console` router, to merge beside the API's.
pub fn router(
    app: AppState,
    windows: Option<Arc<dyn kura_store::ContainmentStore>>,
    settings: Settings,
) -> Router {
    let sessions = Arc::new(Sessions::new(
        settings.idle_secs.saturating_mul(1000),
        settings.absolute_secs.saturating_mul(1000),
        settings.max_sessions,
    ));
    let state = Console {
        app,
        windows,
        sessions,
        settings: Arc::new(settings),
    };
    let inner = Router::new()
        .route("/", get(home))
        .route("/login", get(page::login_form).post(page::login))
        .route("/logout", post(page::logout))
        .route("/static/console.css", get(page::css))
        .route("/static/console.js", get(page::js))
        .route("/incidents", get(officer::incidents))
        .route("/incidents/{id}", get(officer::incident))
        .route("/incidents/{id}/scope", post(officer::scope))
        .route(
            "/incidents/{id}/reports/{obligation}/submit",
            post(officer::submit),
        )
        .route(
            "/incidents/{id}/reports/{obligation}/items",
            post(officer::items),
        )
        .route("/containment", get(officer::containment))
        .route("/principals/{id}/reinstate", post(officer::reinstate))
        .route("/posture", get(officer::posture))
        .route("/me", get(subject::me).post(subject::me_post))
        .route("/me/requests", post(subject::open_request))
        .route("/me/redeem", post(subject::redeem))
        .route("/me/reconfirm", post(subject::reconfirm))
        .route("/me/receipt", post(subject::receipt))
        .fallback_service(get(page::not_found))
        .layer(axum::middleware::map_response(page::security_headers))
        .with_state(state);
    Router::new()
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .nest("/console", inner)
}

async fn home(s: Option<Signed>) -> Response {
    match s {
        Some(s) if s.principal.caller.is_operator() => {
            Redirect::to("/console/incidents").into_response()
        }
        Some(s)
            if matches!(
                s.principal.caller.kind,
                kura_policy::PrincipalKind::SelfService { .. }
            ) =>
        {
            Redirect::to("/console/me").into_response()
        }
        Some(s) => page::refused(s.lang, T::Forbidden),
        None => Redirect::to("/console/login").into_response(),
    }
}

/// The session of a request and its principal, checked against the store again.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) principal: Principal,
    pub(crate) session: Session,
    pub(crate) lang: Lang,
}

pub(crate) fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::from_accept(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

pub(crate) fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Whether a POST may have come from this console's own pages (checked before anything is
/// changed). A browser's `Sec-Fetch-Site` decides when present: it is computed by the
/// browser and survives proxies that rewrite `Host`. Without it, an `Origin` must name the
/// `Host` (`Origin: null` does not). A client that sends neither is not a browser acting for
/// a signed-in officer, and still needs the session's CSRF token.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, h)| h.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a request has no usable session.
pub(crate) struct NoSession {
    post: bool,
    lang: Lang,
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        if self.post {
            page::status(StatusCode::UNAUTHORIZED, self.lang, T::SessionEnded)
        } else {
            Redirect::to("/console/login").into_response()
        }
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &Console) -> Result<Self, NoSession> {
        let lang = lang_of(&parts.headers);
        let no = NoSession {
            post: parts.method == axum::http::Method::POST,
            lang,
        };
        let cookie = cookie_of(&parts.headers).ok_or(NoSession { ..no })?;
        let session = state
            .sessions
            .get(&cookie, now_ms())
            .ok_or(NoSession { ..no })?;
        let principal =
            kura_server::auth::authenticate_hash(&state.app, &session.prefix, &session.key_hash)
                .await
                .map_err(|_| {
                    // A revoked key ends its sessions.
                    state.sessions.close(&cookie);
                    NoSession { ..no }
                })?;
        Ok(Signed {
            principal,
            session,
            lang,
        })
    }
}

impl axum::extract::OptionalFromRequestParts<Console> for Signed {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Console,
    ) -> Result<Option<Self>, std::convert::Infallible> {
        Ok(
            <Signed as FromRequestParts<Console>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// A session whose principal `kura_policy::decide` allows to administer (recorded when
/// refused).
pub(crate) struct Officer(pub(crate) Signed);

/// What an operator page answers without a session or without the decision.
pub(crate) enum OfficerRefusal {
    NoSession(NoSession),
    Denied(Lang, kura_server::ApiError),
}

impl IntoResponse for OfficerRefusal {
    fn into_response(self) -> Response {
        match self {
            OfficerRefusal::NoSession(n) => n.into_response(),
            OfficerRefusal::Denied(lang, e) => page::api_error(lang, &e),
        }
    }
}

impl FromRequestParts<Console> for Officer {
    type Rejection = OfficerRefusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Console,
    ) -> Result<Self, OfficerRefusal> {
        let s = <Signed as FromRequestParts<Console>>::from_request_parts(parts, state)
            .await
            .map_err(OfficerRefusal::NoSession)?;
        kura_server::auth::decide_operator(
            &state.app,
            &s.principal,
            kura_policy::Action::Administer,
            kura_audit::Action::Admin,
        )
        .await
        .map_err(|e| OfficerRefusal::Denied(s.lang, e))?;
        Ok(Officer(s))
    }
}

/// A session of a self-service principal, with its own subject.
pub(crate) struct Own {
    pub(crate) signed: Signed,
    pub(crate) subject: uuid::Uuid,
    pub(crate) collection: String,
}

impl FromRequestParts<Console> for Own {
    type Rejection = OfficerRefusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Console,
    ) -> Result<Self, OfficerRefusal> {
        let s = <Signed as FromRequestParts<Console>>::from_request_parts(parts, state)
            .await
            .map_err(OfficerRefusal::NoSession)?;
        let kura_policy::PrincipalKind::SelfService { subject } = s.principal.caller.kind else {
            return Err(OfficerRefusal::Denied(
                s.lang,
                kura_server::ApiError::new(
                    StatusCode::FORBIDDEN,
                    "not_self_service",
                    "this page is a person's own page: sign in with the key of your own account",
                ),
            ));
        };
        let collection = s
            .principal
            .caller
            .policies
            .first()
            .map(|p| p.collection().to_owned())
            .unwrap_or_default();
        Ok(Own {
            subject: uuid::Uuid::from_u128(subject),
            collection,
            signed: s,
        })
    }
}

/// A form's CSRF token, checked against the session's; a POST from another site is refused
/// here too. `Some` is the refusal to answer (nothing has been changed).
pub(crate) fn check_form(headers: &HeaderMap, s: &Signed, csrf: &str) -> Option<Response> {
    if !same_origin(headers) || !s.session.csrf_ok(csrf) {
        return Some(page::status(StatusCode::FORBIDDEN, s.lang, T::CsrfRefused));
    }
    None
}
