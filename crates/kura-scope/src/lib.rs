//! Breach scoping: an incident's **exposure matrix** — subjects × field categories, each
//! cell *confirmed* (the access log shows the values were returned to a suspect, and in
//! which mode) or *potential* (reachable through the incident's vector, but not shown to
//! have been returned) — computed from a stream of access events and a stream of subjects.
//!
//! # Purity and determinism
//! This crate does no IO and reads no clock. The caller streams the events of the log up to
//! a checkpoint ([`Scoper::event`]) and the subjects held ([`Scoper::subject`]), in any
//! order, and [`Scoper::finish`] gives the [`Matrix`]. The matrix depends only on those
//! inputs and the [`Scope`]: the same log prefix and inventory give byte-identical
//! [`Matrix::canonical_json`] and [`Matrix::digest`], however many events arrived later.
//!
//! # Memory
//! Subjects are kept as compressed bitmaps of internal ids (one per category and kind of
//! exposure), never as a list in memory: a million subjects in a category take a few
//! hundred kilobytes.
//!
//! # What counts as confirmed
//! An event is evidence of exposure when its principal is a suspect, its time is inside the
//! window, its outcome is `ok` and its action returns or reveals field values (read, search
//! hits, export, card read or detokenize, access-log export). Its subjects × the categories
//! of its fields become confirmed, in the mode the event records (`field:mode`; a bare
//! field name is `plain`, which is what events written before modes were recorded mean for
//! an operator and the most a service could have been shown). A refused request (`denied:*`)
//! exposes nothing.

mod matrix;
mod scoper;

pub use matrix::{CategoryTotals, Cell, CellSets, Matrix, ModeCounts};
pub use scoper::{
    Catalog, CatalogEntry, Grant, Scope, ScopeError, ScopeEvent, Scoper, SubjectRow, Vector,
};
