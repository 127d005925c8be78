//! kura's administrative domain, between the transports (the HTTP server, the command line)
//! and the vault: organizations and their security officers, principals and their API keys,
//! the supervision report, what a containment trip does (incident, alert), canaries, and the
//! breached-password filter's files (`passwords`: loading the configured filter, building one
//! with `kura passwords build-filter`).
//!
//! Both `kura-server` (an HTTP adapter) and the `kura` binary call this crate; neither holds
//! administrative rules of its own. Who may call these operations is decided by
//! `kura_policy::decide` (`administer`) before they run.
//!
//! # Invariants
//! - An organization exists only with a named security officer (checked here and by the
//!   store's schema); a processor names its supervising holder.
//! - A principal and its first key are created in one transaction, with the access event
//!   recording it; a key's secret is returned once and stored only as SHA-256.
//! - One error type, [`AdminError`], each variant with a stable `code()`; no message carries
//!   a secret or a field value.
#![deny(missing_docs)]

pub mod alert;
pub mod canary;
pub mod directory;
pub mod evidence;
pub mod incident;
pub mod keyops;
pub mod keys;
pub mod metrics;
pub mod notices;
pub mod obligations;
pub mod passwords;
pub mod pdf;
pub mod receipt;
pub mod report;
pub mod retention;
pub mod rights;
pub mod rotation;
pub mod scope;
pub mod witness;

pub use directory::AdminError;
