//! kura-posture: `kura doctor`'s checks of kura's own deployment.
//!
//! The regulator's second finding in the case kura answers was that there was **no process
//! to check even known vulnerabilities**. This crate is that process, run offline:
//!
//! - [`inventory`]: which crates the running binary is built from — its cargo-auditable
//!   section when it has one (exact), else a list the build script embedded from
//!   `Cargo.lock` (an over-approximation);
//! - [`advisories`]: a RustSec advisory-db checkout, parsed by the `rustsec` crate without
//!   git or network, matched against the inventory; its revision and content-based age;
//! - [`checks`]: configuration rules over plain [`checks::Facts`] (key file mode and
//!   placement, listener, security officers, when the log was last verified and
//!   witnessed);
//! - [`finding`]: [`Severity`], [`Finding`] and the [`Report`] of one run, whose findings'
//!   SHA-256 the binary records in the access log.
//!
//! ```
//! use kura_posture::{assemble, checks, inventory::Inventory, Severity};
//! let inv = Inventory::from_embedded_json(
//!     r#"[{"name":"serde","version":"1.0.0","source":"crates.io"}]"#,
//! ).unwrap();
//! let facts = checks::Facts {
//!     now_ms: 0,
//!     key_file: None,
//!     data: checks::DataFacts::Postgres,
//!     listen: "127.0.0.1:8270".parse().unwrap(),
//!     organizations: None,
//!     last_verified_ms: Some(0),
//!     last_witnessed_ms: Some(0),
//!     witness_configured: true,
//!     limits: checks::Limits::default(),
//! };
//! let report = assemble(&facts, &inv, Ok(None), 90);
//! assert_eq!(report.findings[0].code, "advisories_missing");
//! assert!(report.fails(Severity::High));
//! ```
//!
//! # Invariants
//! - No IO in [`checks`] or [`finding`]; the clock is a value.
//! - No network, no git library: advisory data is whatever directory the operator mirrors.
//! - A report's findings are in a canonical order, so equal facts give equal hashes.
//! - What the unauthenticated may see is [`finding::Posture`] only.
#![deny(missing_docs)]

pub mod advisories;
pub mod checks;
pub mod finding;
pub mod inventory;

pub use advisories::AdvisoryDb;
pub use finding::{Counts, Finding, Posture, Report, Severity};
pub use inventory::Inventory;

/// What can go wrong gathering the inputs of a posture run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostureError {
    /// The advisory directory is not a readable RustSec advisory database.
    #[error("advisory database {dir}: {message}")]
    Advisories {
        /// The directory.
        dir: String,
        /// What is wrong.
        message: String,
    },
    /// A binary's cargo-auditable section could not be read.
    #[error("binary {path}: {message}")]
    Binary {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A dependency list is malformed.
    #[error("dependency list: {0}")]
    Inventory(String),
}

impl PostureError {
    /// The stable code (`advisories_unreadable`, `binary_unreadable`, `inventory_invalid`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            PostureError::Advisories { .. } => "advisories_unreadable",
            PostureError::Binary { .. } => "binary_unreadable",
            PostureError::Inventory(_) => "inventory_invalid",
        }
    }
}

/// One posture run: the configuration checks over `facts`, the inventory matched against
/// `advisories` (`advisories_missing` without one, `advisories_unreadable` when it could
/// not be opened), and `advisories_stale` when the newest advisory is more than
/// `advisories_max_age_days` older than `facts.now_ms`.
#[must_use]
pub fn assemble(
    facts: &checks::Facts,
    inventory: &Inventory,
    advisories: Result<Option<&AdvisoryDb>, &PostureError>,
    advisories_max_age_days: u64,
) -> Report {
    let mut findings = checks::run(facts);
    let meta = match advisories {
        Ok(Some(db)) => {
            let age = db.age_days(facts.now_ms);
            findings.extend(db.matches(inventory));
            findings.extend(advisories::stale_finding(
                age,
                db.newest(),
                advisories_max_age_days,
            ));
            finding::ReportMeta {
                at_ms: facts.now_ms,
                advisories_revision: Some(db.revision().to_owned()),
                advisories_newest: db.newest().map(str::to_owned),
                advisories_age_days: age,
                advisories_count: Some(db.count()),
                inventory: inventory.origin,
                dependencies: inventory.packages.len(),
            }
        }
        Ok(None) | Err(_) => {
            findings.push(match advisories {
                Err(e) => advisories::unreadable_finding(e),
                _ => advisories::missing_finding(),
            });
            finding::ReportMeta {
                at_ms: facts.now_ms,
                advisories_revision: None,
                advisories_newest: None,
                advisories_age_days: None,
                advisories_count: None,
                inventory: inventory.origin,
                dependencies: inventory.packages.len(),
            }
        }
    };
    Report::new(meta, findings)
}
