//! Runs the [`kura_store::RightsStore`] conformance checks against every backend
//! (PostgreSQL is skipped loudly without a server, and required under `CI=true`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_store::sqlite::{Durability, SqliteStore};

#[test]
fn sqlite_rights_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap();
    kura_testkit::rights::run_all(Arc::new(store));
}

#[test]
fn postgres_rights_store_as_the_app_role() {
    let Some(db) = kura_testkit::postgres::TestDatabase::create("rights_app") else {
        return;
    };
    drop(kura_store::PostgresStore::create(db.url(), [1; 16]).unwrap());
    let store = kura_store::PostgresStore::open(&db.app_url()).unwrap();
    kura_testkit::rights::run_all(Arc::new(store));
}
