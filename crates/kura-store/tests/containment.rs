//! The containment-window conformance suite on both backends, each with two handles on one
//! database standing for two servers.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_store::sqlite::{Durability, SqliteStore};

#[test]
fn sqlite_containment_store() {
    let dir = tempfile::tempdir().unwrap();
    let one = SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap();
    let two = SqliteStore::open(dir.path(), Durability::Normal).unwrap();
    kura_testkit::containment::run_all(Arc::new(one), Arc::new(two));
}

#[test]
fn postgres_containment_store_as_the_app_role() {
    let Some(db) = kura_testkit::postgres::TestDatabase::create("containment_app") else {
        return;
    };
    drop(kura_store::PostgresStore::create(db.url(), [1; 16]).unwrap());
    let one = kura_store::PostgresStore::open(&db.app_url()).unwrap();
    let two = kura_store::PostgresStore::open(&db.app_url()).unwrap();
    kura_testkit::containment::run_all(Arc::new(one), Arc::new(two));
}
