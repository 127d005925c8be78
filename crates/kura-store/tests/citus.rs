//! kura's PostgreSQL store on a real Citus cluster (opt-in: `KURA_TEST_CITUS_URL`, a
//! coordinator's admin database with workers; `bench/citus/cluster.sh` starts one). CI has no
//! Citus, so only the placement list's check against the catalog and the refusal without the
//! extension run there, on plain PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_store::postgres::citus::{PLACEMENTS, Placement};
use kura_store::{PostgresStore, SCHEMA_VERSION};
use kura_testkit::postgres::TestDatabase;

/// Every table the migrations create has a documented place, and every place names a table
/// (plain PostgreSQL: the migrations' catalog).
#[test]
fn every_table_has_a_place() {
    let Some(db) = TestDatabase::create("placements") else {
        return;
    };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let mut c = db.admin();
    let tables: Vec<String> = c
        .query(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname IN ('kura_data', 'kura_keys') AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut placed: Vec<String> = PLACEMENTS.iter().map(|(t, _)| (*t).to_owned()).collect();
    placed.sort();
    assert_eq!(tables, placed);
    // Per-subject tables carry subject_id in every unique index (or Citus refuses them).
    for (t, p) in PLACEMENTS {
        if *p != Placement::Subject {
            continue;
        }
        let bad: Vec<String> = c
            .query(
                "SELECT i.indexrelid::regclass::text FROM pg_index i \
                  WHERE i.indrelid = $1::text::regclass AND i.indisunique \
                    AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) k \
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k \
                     WHERE a.attname = 'subject_id')",
                &[t],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(
            bad.is_empty(),
            "{t}: unique indexes without subject_id: {bad:?}"
        );
    }
}

/// Without the extension, `distribute` says so and changes nothing.
#[test]
fn distribute_refuses_without_citus() {
    let Some(db) = TestDatabase::create("nocitus") else {
        return;
    };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let e = PostgresStore::distribute(db.url(), None).unwrap_err();
    assert!(
        e.to_string().contains("Citus extension is not installed"),
        "{e}"
    );
    let n: i64 = db
        .admin()
        .query_one(
            "SELECT count(*) FROM kura_data.meta WHERE key = 'distribution'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

fn places(db: &TestDatabase) -> Vec<(String, String, Option<String>)> {
    db.admin()
        .query(
            "SELECT logicalrelid::regclass::text, partmethod::text || repmodel::text, \
                    CASE WHEN partmethod = 'h' THEN column_to_column_name(logicalrelid, partkey) END \
               FROM pg_dist_partition ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// `create` with workers present, `distribute`, the whole store conformance suite, and a
/// `migrate` of the distributed vault, on a real cluster.
#[test]
fn citus_init_distribute_conformance_and_migrate() {
    let Some(db) = TestDatabase::create_citus("conformance") else {
        return;
    };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let done = PostgresStore::distribute(db.url(), None).unwrap();
    assert_eq!(done.len(), PLACEMENTS.len());
    // (principals is placed with organizations, through their foreign key)
    assert!(
        done.iter().all(|(_, _, a)| *a != "redistributed by token"),
        "{done:?}"
    );
    let placed = places(&db);
    let managed = PLACEMENTS
        .iter()
        .filter(|(_, p)| *p != Placement::Coordinator)
        .count();
    assert_eq!(placed.len(), managed, "{placed:?}");
    let find = |t: &str| placed.iter().find(|p| p.0 == t).cloned().unwrap();
    assert_eq!(find("kura_data.blind_index").2.as_deref(), Some("token"));
    assert_eq!(find("kura_keys.data_keys").2.as_deref(), Some("subject_id"));
    assert!(placed.iter().all(|p| p.0 != "kura_data.audit_log"));
    assert!(placed.iter().all(|p| p.0 != "kura_data.principals"));
    assert_eq!(find("kura_keys.meta").1, "nt");
    // Again: nothing to do.
    let again = PostgresStore::distribute(db.url(), None).unwrap();
    assert!(
        again
            .iter()
            .all(|(_, _, a)| *a == "already placed" || *a == "on the coordinator")
    );
    // Migrate on the distributed vault (the error of issue 21: a NOLOGIN owner on a worker).
    assert_eq!(PostgresStore::migrate(db.url()).unwrap(), SCHEMA_VERSION);
    let store = PostgresStore::open(&db.app_url()).unwrap();
    kura_testkit::store::run_all(Arc::new(store));
}

/// A table kura does not know is refused by name, and the grants reach the workers: the
/// app role reads a distributed table through the coordinator.
#[test]
fn citus_refuses_an_unknown_table() {
    let Some(db) = TestDatabase::create_citus("unknown") else {
        return;
    };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let roles = db.roles();
    db.admin()
        .batch_execute(&format!(
            "CREATE TABLE kura_data.extra (subject_id uuid); ALTER TABLE kura_data.extra OWNER TO \"{}\"",
            roles.data_owner
        ))
        .unwrap();
    let e = PostgresStore::distribute(db.url(), None).unwrap_err();
    assert!(
        e.to_string().contains("kura_data.extra has no place"),
        "{e}"
    );
}

/// A vault laid out by hand as the earlier documentation said (blind index by subject, the
/// access log as Citus local tables, counters and API keys as reference tables): `distribute`
/// moves each table to its place, and the store passes the conformance suite after.
#[test]
fn citus_distribute_moves_the_earlier_documented_layout() {
    let Some(db) = TestDatabase::create_citus("earlier") else {
        return;
    };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    db.admin()
        .batch_execute(
            "SELECT create_distributed_table('kura_data.subjects', 'subject_id', shard_count => 8);
             SELECT create_distributed_table('kura_data.blind_index', 'subject_id',
                                             colocate_with => 'kura_data.subjects');
             SELECT create_distributed_table('kura_keys.data_keys', 'subject_id',
                                             colocate_with => 'kura_data.subjects');
             SELECT create_reference_table('kura_data.meta');
             SELECT create_reference_table('kura_keys.meta');
             SELECT create_reference_table('kura_data.counters');
             SELECT create_reference_table('kura_data.api_keys');
             SELECT citus_add_local_table_to_metadata('kura_data.audit_log');
             SELECT citus_add_local_table_to_metadata('kura_data.audit_hashes');
             SELECT citus_add_local_table_to_metadata('kura_data.audit_checkpoints');
             SELECT create_distributed_table('kura_data.audit_subjects', 'iid');",
        )
        .unwrap();
    let done = PostgresStore::distribute(db.url(), None).unwrap();
    let action = |t: &str| done.iter().find(|d| d.0 == t).unwrap().2;
    assert_eq!(action("kura_data.blind_index"), "redistributed by token");
    assert_eq!(
        action("kura_data.counters"),
        "moved out of Citus's metadata"
    );
    assert_eq!(
        action("kura_data.audit_log"),
        "moved out of Citus's metadata"
    );
    assert_eq!(action("kura_data.subjects"), "already placed");
    let placed = places(&db);
    let find = |t: &str| placed.iter().find(|p| p.0 == t).cloned();
    assert_eq!(
        find("kura_data.blind_index").unwrap().2.as_deref(),
        Some("token")
    );
    assert!(find("kura_data.counters").is_none());
    assert!(find("kura_data.api_keys").is_none());
    assert!(find("kura_data.audit_log").is_none());
    let store = PostgresStore::open(&db.app_url()).unwrap();
    kura_testkit::store::run_all(Arc::new(store));
}
