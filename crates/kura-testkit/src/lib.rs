//! Test support for kura, kept out of the product crates: the conformance suites that every
//! store backend must pass (SQLite and PostgreSQL run the same checks) and the PostgreSQL
//! test database ([`postgres::TestDatabase`], [`postgres::dump_contains`]). Used only as a
//! dev-dependency.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod cards;
pub mod containment;
pub mod credentials;
pub mod directory;
pub mod keys;
pub mod notices;
pub mod postgres;
pub mod rights;
pub mod store;
