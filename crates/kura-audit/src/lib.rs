//! `kura-audit`: kura's access log. Every request that touches personal data or keys,
//! served or refused, becomes an [`AccessEvent`]; events are the leaves of an RFC 6962
//! Merkle tree whose heads are signed as C2SP checkpoints, so nobody — not even someone
//! with write access to the database — can change, remove, reorder or insert an entry
//! unseen.
//!
//! # Map
//! * [`AccessEvent`], [`Action`], [`Outcome`], [`Subjects`] — the event and its canonical,
//!   versioned leaf encoding ([`AccessEvent::to_leaf`], [`AccessEvent::from_leaf`]); the
//!   API's JSON view [`Entry`]. No field values, ever: there is no place for one.
//! * [`Appender`] — group commit: one writer thread, one `Store::append_audit` per batch,
//!   and an [`Appended`] proof for each caller only once the batch is durable (fail closed).
//! * [`Integrator`] — extends the tree over new leaves, writes stored hashes and the
//!   subject-history index, signs checkpoints every `N` entries or `T` ms; a background
//!   thread ([`Integrator::start`]) or synchronous ([`Integrator::integrate_now`]).
//! * [`entry`], [`inclusion_proof`], [`consistency_proof`], [`latest_checkpoint`],
//!   [`subject_history`] — what the HTTP routes serve.
//! * [`verify`], [`verifier_key`] — `kura audit verify` and `kura audit key`.
//! * Its benchmark is the `audit_bench` example (benchmark code does not ship here).
//!
//! Storage is reached only through `kura_store::Store` and `kura_store::AuditStore`; tree
//! math, notes and checkpoints come from `kura-tlog`.
//!
//! # Example
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use kura_audit::{AccessEvent, Action, Appender, AppenderConfig, Integrator,
//!                  IntegratorConfig, inclusion_proof, verifier_key, verify};
//! use kura_store::sqlite::{Durability, SqliteStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Arc::new(SqliteStore::create(dir.path(), [7; 16], Durability::Normal)?);
//! let seed = [1u8; 32]; // from KeyProvider::derive(KeyPurpose::AuditSigning)
//!
//! let appender = Appender::start(store.clone(), AppenderConfig::default())?;
//! let event = AccessEvent::new(1_700_000_000_000, "svc-support", "support",
//!                              Action::Read, "accounts", "req-1")
//!     .with_subjects([42])
//!     .with_fields(["email"]);
//! let appended = appender.append(&event)?; // durable: now the data may be released
//!
//! let integrator = Integrator::new(store.clone(), &seed, IntegratorConfig::default())?;
//! integrator.integrate_now(1_700_000_000_100)?;
//! let proof = inclusion_proof(&*store, appended.index(), 1)?;
//! assert!(proof.hashes.is_empty());
//!
//! let report = verify(&*store, &verifier_key(&[7; 16], &seed)?, None)?;
//! assert_eq!(report.entries, 1);
//! # Ok(()) }
//! ```
//!
//! # Invariants
//! * The library never reads the clock (time is a parameter or a [`Clock`]).
//! * An [`Appended`] exists only for an event the store reported durable.
//! * Leaves are canonical: one event, one byte string; decoders refuse anything else.
#![deny(missing_docs)]

mod appender;
mod error;
mod event;
mod integrator;
mod read;
mod verify;

pub use appender::{Appended, Appender, AppenderConfig, Ticket};
pub use error::AuditError;
pub use event::{
    AccessEvent, Action, Entry, EventJson, LEAF_VERSION, MAX_FIELDS, MAX_STR, Outcome,
    SUBJECT_LIST_MAX, Subjects, SubjectsJson,
};
pub use integrator::{
    Clock, IntegrateReport, Integrator, IntegratorConfig, IntegratorHandle, origin_for,
};
pub use kura_store::{AuditStore, DynStore};
pub use read::{
    Proof, StoreHashReader, consistency_proof, entry, inclusion_proof, latest_checkpoint,
    subject_history, subject_recent,
};
pub use roaring::RoaringTreemap;
pub use verify::{VerifyReport, verifier_key, verify, verify_with};
