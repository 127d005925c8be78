//! The card-store conformance suite on both backends, and the v1 → v2 migration.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_store::sqlite::{Durability, SqliteStore};
use kura_store::{CardStore, SCHEMA_VERSION, Store};

#[test]
fn sqlite_card_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap();
    kura_testkit::cards::run_all(Arc::new(store));
}

#[test]
fn postgres_card_store() {
    let Some(db) = kura_testkit::postgres::TestDatabase::create("cards") else {
        return;
    };
    let store = kura_store::PostgresStore::create(db.url(), [1; 16]).unwrap();
    kura_testkit::cards::run_all(Arc::new(store));
}

#[test]
fn postgres_card_store_as_the_app_role() {
    let Some(db) = kura_testkit::postgres::TestDatabase::create("cards_app") else {
        return;
    };
    drop(kura_store::PostgresStore::create(db.url(), [1; 16]).unwrap());
    let store = kura_store::PostgresStore::open(&db.app_url()).unwrap();
    kura_testkit::cards::run_all(Arc::new(store));
}

/// A version-1 store (as written before principals and the card vault) migrates to the
/// current version, keeping its subjects, and then holds cards and principals.
#[test]
fn sqlite_v1_store_migrates_to_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let subject = {
        let store = SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap();
        let s = kura_testkit::store::sample(&store, "accounts", 1);
        store
            .insert_subjects(std::slice::from_ref(&s), &[])
            .unwrap();
        s
    };
    // Turn it back into a v1 store: drop the v2, v3, v7, v8, v9 and v10 tables, the v5 and v9
    // columns and the v10 index, record
    // version 1 (v4 changes nothing in these files).
    for (file, sql) in [
        (
            "data.db",
            "DROP TABLE cards; DROP TABLE principals; DROP TABLE organizations; \
             DROP TABLE incidents; DROP TABLE incident_scopes; DROP TABLE incident_leaves; \
             DROP TABLE notice_campaigns; DROP TABLE notice_deliveries; DROP TABLE remediation_codes; \
             DROP TABLE rights_requests; DROP TABLE subject_activity; DROP TABLE marks; \
             DROP INDEX api_keys_principal; UPDATE meta SET value = CAST('1' AS BLOB) WHERE key = 'schema_version';",
        ),
        (
            "keys.db",
            "DROP TABLE card_keys; DROP TABLE card_lookup; DROP TABLE canaries; DROP INDEX data_keys_kek; \
             ALTER TABLE data_keys DROP COLUMN epoch; ALTER TABLE data_keys DROP COLUMN restricted; \
             UPDATE meta SET value = CAST('1' AS BLOB) WHERE key = 'schema_version';",
        ),
    ] {
        let c = rusqlite::Connection::open(dir.path().join(file)).unwrap();
        c.execute_batch(sql).unwrap();
    }
    let e = SqliteStore::open(dir.path(), Durability::Normal).unwrap_err();
    assert!(e.to_string().contains("kura migrate"), "{e}");
    assert_eq!(
        SqliteStore::migrate(dir.path(), Durability::Normal).unwrap(),
        SCHEMA_VERSION
    );
    let store = SqliteStore::open(dir.path(), Durability::Normal).unwrap();
    let migrated = store.subject("accounts", &subject.id).unwrap().unwrap();
    assert_eq!(
        migrated.key_epoch, 0,
        "subjects from before version 4 are at epoch 0"
    );
    let c = kura_testkit::cards::card(&subject, 1);
    store.insert_card(&c, &[]).unwrap();
    assert_eq!(store.count_cards().unwrap(), (1, 1));
    use kura_store::DirectoryStore as _;
    assert!(store.organizations().unwrap().is_empty());
    assert!(store.canaries().unwrap().is_empty());
    use kura_store::NoticeStore as _;
    assert!(store.remediation_stock().unwrap().is_empty());
    assert!(store.campaigns("any").unwrap().is_empty());
    use kura_store::RightsStore as _;
    assert!(!migrated.restricted);
    assert_eq!(store.rights_overdue(i64::MAX).unwrap(), 0);
    assert_eq!(store.activity_page("accounts", 0, 10).unwrap().len(), 1);
}
