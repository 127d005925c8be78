//! Runs the storage conformance suite against every backend.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_store::sqlite::{Durability, SqliteStore};

#[test]
fn sqlite_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap();
    kura_testkit::store::run_all(Arc::new(store));
}

#[test]
fn sqlite_refuses_uninitialized_and_reinit() {
    let dir = tempfile::tempdir().unwrap();
    let e = SqliteStore::open(dir.path(), Durability::Normal).unwrap_err();
    assert_eq!(e.code(), "not_initialized");
    SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap();
    let e = SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap_err();
    assert_eq!(e.code(), "already_initialized");
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("data.db")).unwrap();
    conn.execute(
        "UPDATE meta SET value = CAST('99' AS BLOB) WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = SqliteStore::open(dir.path(), Durability::Normal).unwrap_err();
    assert_eq!(e.code(), "schema_too_new", "{e}");
}

/// The same suite on PostgreSQL, in a database created for this test and dropped after it.
/// Skipped loudly without a server, except under `CI=true`.
#[test]
fn postgres_conformance() {
    let Some(db) = kura_testkit::postgres::TestDatabase::create("conformance") else {
        return;
    };
    let store = kura_store::PostgresStore::create(db.url(), [1; 16]).unwrap();
    kura_testkit::store::run_all(Arc::new(store));
}
