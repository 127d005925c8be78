//! The HTTP/JSON API under `/v1` (axum), its authentication, and the OpenAPI document: an
//! adapter. The administrative domain (organizations, principals, keys, reports, alerts) is
//! `kura-admin`; subjects, cards and credentials are `kura-vault`; every authorization
//! decision is `kura_policy::decide`.
//!
//! A data request flows: authenticate the bearer key ([`auth`]) → require a stated purpose
//! (`X-Kura-Purpose`) → validate the body → call the vault on a blocking thread → map the
//! outcome to JSON or to an [`ApiError`] in one exhaustive place ([`error`]).
//!
//! # Invariants
//! - Every route except `/v1/health` and `/v1/openapi.json` requires a valid API key.
//! - Every route that touches personal data requires a purpose.
//! - Error bodies are `{"error":{"code","message"}}`; 5xx bodies say nothing about the cause
//!   (it is logged with the request id); no body or log line carries a field value.
#![deny(missing_docs)]

pub mod auth;
pub mod containment;
pub mod error;
mod openapi;
mod routes;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use kura_store::{AuditStore, DynStore};
use kura_vault::Vault;

pub use error::ApiError;
pub use openapi::openapi_json;
pub use routes::admin::run;

/// Limits applied to requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body in bytes.
    pub max_body_bytes: usize,
    /// Largest import body in bytes.
    pub max_import_bytes: usize,
    /// Longest NDJSON import line in bytes: a longer line is refused (`line_too_long`) and
    /// skipped, never buffered beyond this.
    pub max_import_line_bytes: usize,
    /// One permit per import being served; when none is left an import is answered 429
    /// `too_many_imports` before its body is read. Shared by every clone of the state.
    pub import_slots: Arc<tokio::sync::Semaphore>,
}

impl Limits {
    /// Default import line limit: 64 KiB.
    pub const DEFAULT_MAX_IMPORT_LINE_BYTES: usize = 64 << 10;
    /// Default bound on concurrent imports.
    pub const DEFAULT_MAX_CONCURRENT_IMPORTS: usize = 4;

    /// Slots for `n` concurrent imports (at least one).
    pub fn import_slots(n: usize) -> Arc<tokio::sync::Semaphore> {
        Arc::new(tokio::sync::Semaphore::new(n.max(1)))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_import_bytes: 1 << 30,
            max_import_line_bytes: Self::DEFAULT_MAX_IMPORT_LINE_BYTES,
            import_slots: Self::import_slots(Self::DEFAULT_MAX_CONCURRENT_IMPORTS),
        }
    }
}

impl AppState {
    /// Runs bounded store work (a key lookup, a read, a search) where it is cheapest: inline
    /// on the async worker for the embedded SQLite store (a hand-off to the blocking pool and
    /// back costs more than the work, decision 0019), on the blocking pool for PostgreSQL
    /// (its synchronous client drives a runtime of its own and must not run on a worker).
    pub async fn bounded<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, error::ApiError> {
        if self.store.backend() == "sqlite" {
            Ok(f())
        } else {
            tokio::task::spawn_blocking(f)
                .await
                .map_err(|e| error::ApiError::internal(&e))
        }
    }
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// The vault.
    pub vault: Arc<Vault>,
    /// The store (API keys live there).
    pub store: DynStore,
    /// The same store, seen as the access log's storage.
    pub audit: Arc<dyn AuditStore>,
    /// Request limits.
    pub limits: Limits,
    /// Passwords, login and recovery (issue 6); `None` answers their routes with 503.
    pub credentials: Option<Arc<kura_vault::Credentials>>,
    /// The same store, seen as organizations, principals and incidents.
    pub directory: Arc<dyn kura_store::DirectoryStore>,
    /// Parsed policies of recently seen principals.
    pub policies: Arc<auth::PolicyCache>,
    /// Counters exported at `/v1/metrics`.
    pub metrics: Arc<kura_admin::metrics::Metrics>,
    /// The card vault (issue 7); `None` answers its routes with 503 `cards_unavailable`.
    pub cards: Option<Arc<kura_vault::CardVault>>,
    /// The clock administrative acts are stamped with.
    pub clock: Arc<dyn kura_audit::Clock>,
    /// The breach rules in force and the holder's facts (`[obligations]`).
    pub obligations: Arc<kura_admin::obligations::Rules>,
    /// The same store, seen as notice campaigns.
    pub notices: Arc<dyn kura_store::NoticeStore>,
    /// Data-subject requests and retention; `None` answers their routes with 503
    /// `rights_unavailable`.
    pub rights: Option<Arc<kura_admin::rights::Service>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("vault", &self.vault)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The complete `/v1` router.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// Serves the `/v1` router on `listener` until `shutdown` resolves, then drains in-flight
/// requests.
///
/// # Errors
/// IO errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(state), shutdown).await
}

/// Serves `app` (the `/v1` router, with other adapters merged in) on `listener` until
/// `shutdown` resolves, then drains in-flight requests.
///
/// # Errors
/// IO errors of the listener.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Responses go out as soon as they are written: without TCP_NODELAY a response that
    // leaves in two segments waits for the client's delayed ACK (tens of milliseconds).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Parses one NDJSON import line into vault input, with the same rules and error codes as
/// the HTTP import (used by `kura import`).
///
/// # Errors
/// `(code, message)` describing the refused line without quoting it.
pub fn wire_line(line: &str) -> Result<kura_vault::SubjectInput, (&'static str, String)> {
    routes::parse_json::<wire::CreateSubject>(line.as_bytes())
        .and_then(routes::subject_input)
        .map_err(|e| (e.code, e.message))
}
