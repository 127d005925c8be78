//! PostgreSQL-specific behaviour beyond the shared conformance suite: lifecycle and schema
//! versions, the conformance suite as the unprivileged app role, several stores (servers) on
//! one database, keys apart from data (grants and `pg_dump`), and atomicity of imports and
//! erasure. Each test runs in its own database, dropped at the end; skipped loudly without
//! PostgreSQL, except under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use kura_crypto::WrappedKey;
use kura_store::{NewSubject, PostgresStore, SCHEMA_VERSION, Store, SubjectUpdate, UpdateOutcome};
use kura_testkit::postgres::{TestDatabase, dump_contains};
use uuid::Uuid;

fn db(label: &str) -> Option<TestDatabase> {
    TestDatabase::create(label)
}

fn subject(store: &dyn Store, collection: &str, fields: &[u8], key: &[u8]) -> NewSubject {
    NewSubject {
        id: Uuid::now_v7(),
        iid: store.reserve_iids(1).unwrap(),
        collection: collection.into(),
        country: "JP".into(),
        locale: "ja-JP".into(),
        fields: fields.to_vec(),
        tokens: vec![[0xab; 16], [0xcd; 16]],
        wrapped_key: WrappedKey {
            kek_version: 1,
            bytes: key.to_vec(),
        },
    }
}

fn set_version(db: &TestDatabase, v: &str) {
    let mut c = db.admin();
    for schema in ["kura_data", "kura_keys"] {
        c.execute(
            &format!("UPDATE {schema}.meta SET value = $1 WHERE key = 'schema_version'"),
            &[&v.as_bytes()],
        )
        .unwrap();
    }
}

#[test]
fn postgres_lifecycle_and_schema_versions() {
    let Some(db) = db("lifecycle") else { return };
    assert_eq!(
        PostgresStore::open(db.url()).unwrap_err().code(),
        "not_initialized"
    );
    assert_eq!(
        PostgresStore::migrate(db.url()).unwrap_err().code(),
        "not_initialized"
    );
    let store = PostgresStore::create(db.url(), [3; 16]).unwrap();
    assert_eq!(store.backend(), "postgres");
    assert_eq!(store.vault_id().unwrap(), [3; 16]);
    drop(store);
    assert_eq!(
        PostgresStore::create(db.url(), [3; 16]).unwrap_err().code(),
        "already_initialized"
    );
    // Re-running migrate on a current schema is a no-op that re-applies the grants.
    assert_eq!(PostgresStore::migrate(db.url()).unwrap(), SCHEMA_VERSION);
    assert_eq!(
        PostgresStore::open(db.url()).unwrap().vault_id().unwrap(),
        [3; 16]
    );

    set_version(&db, "99");
    let e = PostgresStore::open(db.url()).unwrap_err();
    assert_eq!(e.code(), "schema_too_new", "{e}");
    let e = PostgresStore::migrate(db.url()).unwrap_err();
    assert_eq!(e.code(), "schema_too_new", "{e}");

    set_version(&db, "0");
    let e = PostgresStore::open(db.url()).unwrap_err();
    assert!(e.to_string().contains("kura migrate"), "{e}");

    // The two schemas must agree on their version and their vault.
    set_version(&db, &SCHEMA_VERSION.to_string());
    db.admin()
        .execute(
            "UPDATE kura_keys.meta SET value = $1 WHERE key = 'vault_id'",
            &[&[9u8; 16].as_slice()],
        )
        .unwrap();
    assert_eq!(
        PostgresStore::open(db.url()).unwrap_err().code(),
        "corrupt_store"
    );
}

#[test]
fn postgres_conformance_as_the_app_role() {
    let Some(db) = db("app_role") else { return };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let store = PostgresStore::open(&db.app_url()).unwrap();
    kura_testkit::store::run_all(Arc::new(store));
}

#[test]
fn postgres_roles_keep_keys_apart_from_data() {
    let Some(db) = db("grants") else { return };
    let store = PostgresStore::create(db.url(), [1; 16]).unwrap();
    let s = subject(&store, "accounts", b"sealed", &[7; 72]);
    store.insert_subjects(&[s], &[b"leaf".to_vec()]).unwrap();
    let roles = db.roles();
    let mut c = db.admin();
    let denied = |c: &mut postgres::Client, role: &str, sql: &str| -> bool {
        let mut tx = c.transaction().unwrap();
        tx.batch_execute(&format!("SET LOCAL ROLE \"{role}\""))
            .unwrap();
        match tx.batch_execute(sql) {
            Ok(()) => false,
            Err(e) => {
                assert_eq!(
                    e.code(),
                    Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                    "{role}: {sql}: {e}"
                );
                true
            }
        }
    };
    // The reader reads data, not keys, and writes nothing.
    assert!(!denied(
        &mut c,
        &roles.data_reader,
        "SELECT * FROM kura_data.subjects"
    ));
    assert!(!denied(
        &mut c,
        &roles.data_reader,
        "SELECT * FROM kura_data.audit_log"
    ));
    assert!(denied(
        &mut c,
        &roles.data_reader,
        "SELECT * FROM kura_keys.data_keys"
    ));
    assert!(denied(
        &mut c,
        &roles.data_reader,
        "DELETE FROM kura_data.subjects"
    ));
    assert!(denied(
        &mut c,
        &roles.data_reader,
        "INSERT INTO kura_data.audit_log VALUES (99, 'x')"
    ));
    // The data owner reads data but not keys.
    assert!(!denied(
        &mut c,
        &roles.data_owner,
        "SELECT * FROM kura_data.subjects"
    ));
    assert!(denied(
        &mut c,
        &roles.data_owner,
        "SELECT * FROM kura_keys.data_keys"
    ));
    // The keys owner reads keys but not data.
    assert!(!denied(
        &mut c,
        &roles.keys_owner,
        "SELECT * FROM kura_keys.data_keys"
    ));
    assert!(denied(
        &mut c,
        &roles.keys_owner,
        "SELECT * FROM kura_data.subjects"
    ));
    // The app role does DML on both, owns nothing, and cannot rewrite the access log.
    assert!(!denied(
        &mut c,
        &roles.app,
        "SELECT * FROM kura_keys.data_keys"
    ));
    assert!(!denied(
        &mut c,
        &roles.app,
        "SELECT * FROM kura_data.subjects"
    ));
    assert!(denied(
        &mut c,
        &roles.app,
        "UPDATE kura_data.audit_log SET leaf = 'x'"
    ));
    assert!(denied(
        &mut c,
        &roles.app,
        "DELETE FROM kura_data.audit_log"
    ));
    assert!(denied(&mut c, &roles.app, "DROP TABLE kura_data.subjects"));
    assert!(denied(
        &mut c,
        &roles.app,
        "CREATE TABLE kura_data.x (a int)"
    ));
    assert!(denied(
        &mut c,
        &roles.app,
        "ALTER TABLE kura_keys.data_keys ADD COLUMN x int"
    ));
    // PUBLIC gets nothing: a role that is none of these sees neither schema.
    c.batch_execute(&format!("CREATE ROLE \"{}_nobody\"", roles.app))
        .unwrap();
    let nobody = format!("{}_nobody", roles.app);
    assert!(denied(&mut c, &nobody, "SELECT * FROM kura_data.subjects"));
    assert!(denied(&mut c, &nobody, "SELECT * FROM kura_keys.data_keys"));
    c.batch_execute(&format!("DROP ROLE \"{nobody}\"")).unwrap();
}

#[test]
fn postgres_migrate_does_not_trust_the_data_owner() {
    let Some(db) = db("migrate_trust") else {
        return;
    };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let roles = db.roles();
    let mut c = db.admin();
    // The data owner names another role as the app in its meta: migrate refuses rather than
    // granting that role access to the keys.
    c.batch_execute(&format!(
        "SET ROLE \"{}\"; UPDATE kura_data.meta SET value = 'postgres' WHERE key = 'role_app'; RESET ROLE;",
        roles.data_owner
    ))
    .unwrap();
    let e = PostgresStore::migrate(db.url()).unwrap_err();
    assert_eq!(e.code(), "corrupt_store", "{e}");
    // A view in place of meta runs as the data owner, not as the admin: the function below
    // fails (permission denied on kura_keys) as the data owner and would succeed as a
    // superuser; migrate must see the failure.
    c.batch_execute(&format!(
        "SET ROLE \"{owner}\";
         UPDATE kura_data.meta SET value = '{app}' WHERE key = 'role_app';
         ALTER TABLE kura_data.meta RENAME TO meta_real;
         CREATE FUNCTION kura_data.peek() RETURNS bigint LANGUAGE plpgsql
           AS $f$ BEGIN RETURN (SELECT count(*) FROM kura_keys.data_keys); END $f$;
         CREATE VIEW kura_data.meta AS SELECT key, value FROM kura_data.meta_real
           WHERE kura_data.peek() >= 0;
         RESET ROLE;",
        owner = roles.data_owner,
        app = roles.app
    ))
    .unwrap();
    // Since schema 11, migrate refuses before it reads anything: the owners own code (the
    // function and the view), which a migration on Citus would run as the admin.
    let e = PostgresStore::migrate(db.url()).unwrap_err();
    assert_eq!(e.code(), "corrupt_store", "{e}");
    let msg = e.to_string();
    assert!(msg.contains("function kura_data.peek()"), "{msg}");
    assert!(msg.contains("kura_data.meta"), "{msg}");
    // A trigger or a default calling a function on a table is refused the same way.
    c.batch_execute(&format!(
        "DROP VIEW kura_data.meta; ALTER TABLE kura_data.meta_real RENAME TO meta;
         DROP FUNCTION kura_data.peek();
         SET ROLE \"{owner}\";
         ALTER TABLE kura_data.marks ALTER COLUMN value SET DEFAULT pg_catalog.current_setting('role');
         RESET ROLE;",
        owner = roles.data_owner
    ))
    .unwrap();
    let e = PostgresStore::migrate(db.url()).unwrap_err();
    assert!(
        e.to_string()
            .contains("default of kura_data.marks calls a function"),
        "{e}"
    );
    c.batch_execute("ALTER TABLE kura_data.marks ALTER COLUMN value DROP DEFAULT")
        .unwrap();
    assert_eq!(PostgresStore::migrate(db.url()).unwrap(), SCHEMA_VERSION);
}

#[test]
fn postgres_dump_as_the_data_role_holds_no_key() {
    let Some(db) = db("dump") else { return };
    let store = PostgresStore::create(db.url(), [1; 16]).unwrap();
    let field_marker = format!("FIELD-{}", Uuid::now_v7().simple());
    let key_marker = format!("KEY-{}", Uuid::now_v7().simple());
    let subjects: Vec<NewSubject> = (0..20)
        .map(|i| {
            subject(
                &store,
                "accounts",
                format!("{field_marker}-{i}").as_bytes(),
                format!("{key_marker}-{i}").as_bytes(),
            )
        })
        .collect();
    store.insert_subjects(&subjects, &[]).unwrap();
    let roles = db.roles();

    // As the data reader, a whole-database dump is refused (it cannot read the keys) ...
    let role = format!("--role={}", roles.data_reader);
    let e = db.dump(&[&role]).unwrap_err();
    assert!(e.to_string().contains("permission denied"), "{e}");
    // ... and the data-only dump holds the (here fake) sealed fields but no key and no row
    // of the key schema.
    let dump = db.dump(&[&role, "--schema=kura_data"]).unwrap();
    assert!(
        dump_contains(&dump, field_marker.as_bytes()),
        "fields are dumped"
    );
    assert!(!dump_contains(&dump, key_marker.as_bytes()), "a key leaked");
    assert!(!dump.contains("kura_keys."), "key schema in the data dump");
    // The same holds for the data owner.
    let role = format!("--role={}", roles.data_owner);
    let owner_dump = db.dump(&[&role, "--exclude-schema=kura_keys"]).unwrap();
    assert!(dump_contains(&owner_dump, field_marker.as_bytes()));
    assert!(
        !dump_contains(&owner_dump, key_marker.as_bytes()),
        "a key leaked"
    );
    // The key owner's dump is the complement.
    let role = format!("--role={}", roles.keys_owner);
    let keys = db.dump(&[&role, "--schema=kura_keys"]).unwrap();
    assert!(dump_contains(&keys, key_marker.as_bytes()));
    assert!(!dump_contains(&keys, field_marker.as_bytes()));
    // A superuser's full dump has both: the check above is meaningful.
    let full = db.dump(&[]).unwrap();
    assert!(dump_contains(&full, key_marker.as_bytes()));
}

#[test]
fn postgres_two_stores_on_one_database_stay_consistent() {
    let Some(db) = db("two_servers") else { return };
    let a: Arc<dyn Store> = Arc::new(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let b: Arc<dyn Store> = Arc::new(PostgresStore::open(db.url()).unwrap());
    let s = subject(&*a, "cc", &[0; 10], &[1; 72]);
    a.insert_subjects(std::slice::from_ref(&s), &[]).unwrap();
    let threads = 6;
    let per = 30;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            let id = s.id;
            std::thread::spawn(move || {
                let mut iids = Vec::new();
                let mut firsts = Vec::new();
                for i in 0..per {
                    iids.push(store.reserve_iids(2).unwrap());
                    firsts.push(store.append_audit(&[vec![t as u8, i as u8, 0]]).unwrap());
                    loop {
                        let cur = store.subject("cc", &id).unwrap().unwrap();
                        let mut fields = cur.fields.clone();
                        fields.push(t as u8);
                        let tokens = vec![[t as u8; 16], [i as u8; 16]];
                        let upd = SubjectUpdate {
                            collection: "cc".into(),
                            id,
                            expected_version: cur.version,
                            fields,
                            tokens,
                        };
                        match store
                            .update_subject(&upd, &[vec![t as u8, i as u8, 1]])
                            .unwrap()
                        {
                            UpdateOutcome::Updated(_) => break,
                            UpdateOutcome::Conflict => continue,
                            UpdateOutcome::NotFound => panic!("subject vanished"),
                        }
                    }
                }
                (iids, firsts)
            })
        })
        .collect();
    let mut iids = Vec::new();
    let mut firsts = Vec::new();
    for h in handles {
        let (i, f) = h.join().unwrap();
        iids.extend(i);
        firsts.extend(f);
    }
    let total = (threads * per) as u64;
    // No lost update, seen the same from both servers.
    for store in [&a, &b] {
        let got = store.subject("cc", &s.id).unwrap().unwrap();
        assert_eq!(got.version, 1 + total as i64);
        assert_eq!(got.fields.len(), 10 + total as usize);
        // The blind index holds exactly the last update's tokens.
        for t in 0..=255u8 {
            let hits = store.search("cc", &[t; 16], 10).unwrap();
            assert_eq!(
                hits.len(),
                usize::from(got.tokens.contains(&[t; 16])),
                "token {t}"
            );
        }
    }
    // Id blocks never overlap.
    iids.sort_unstable();
    for w in iids.windows(2) {
        assert!(w[1] >= w[0] + 2, "reservations overlap: {} {}", w[0], w[1]);
    }
    // One gapless access log: every leaf exactly once at seq 0..2*total.
    assert_eq!(a.audit_size().unwrap(), 2 * total);
    assert_eq!(b.audit_size().unwrap(), 2 * total);
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(
        firsts.len(),
        total as usize,
        "append_audit positions are distinct"
    );
    let rows = db
        .admin()
        .query(
            "SELECT seq, leaf FROM kura_data.audit_log ORDER BY seq",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len() as u64, 2 * total);
    let mut leaves = std::collections::HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.get::<_, i64>(0), i as i64, "gap in the access log");
        assert!(leaves.insert(r.get::<_, Vec<u8>>(1)), "duplicate leaf");
    }
}

#[test]
fn postgres_failed_import_and_erasure_leave_no_key_behind() {
    let Some(db) = db("atomic") else { return };
    let store = PostgresStore::create(db.url(), [1; 16]).unwrap();
    let count = |sql: &str| -> i64 { db.admin().query_one(sql, &[]).unwrap().get(0) };
    let first = subject(&store, "im", b"a", &[1; 72]);
    store
        .insert_subjects(std::slice::from_ref(&first), &[])
        .unwrap();
    // A batch with a duplicate id writes no key, no row, no index entry and no leaf.
    let mut bad: Vec<NewSubject> = (0..5)
        .map(|_| subject(&store, "im", b"b", &[2; 72]))
        .collect();
    bad[3].id = first.id;
    let e = store
        .insert_subjects(&bad, &[b"import".to_vec()])
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    assert!(e.to_string().contains("data_keys"), "{e}");
    assert_eq!(count("SELECT count(*) FROM kura_keys.data_keys"), 1);
    assert_eq!(count("SELECT count(*) FROM kura_data.subjects"), 1);
    assert_eq!(count("SELECT count(*) FROM kura_data.blind_index"), 2);
    assert_eq!(store.audit_size().unwrap(), 0);
    // Erasure removes key, row and index entries together.
    assert!(
        store
            .delete_subject("im", &first.id, &[b"erase".to_vec()])
            .unwrap()
    );
    assert_eq!(count("SELECT count(*) FROM kura_keys.data_keys"), 0);
    assert_eq!(count("SELECT count(*) FROM kura_data.subjects"), 0);
    assert_eq!(count("SELECT count(*) FROM kura_data.blind_index"), 0);
    assert_eq!(store.audit_size().unwrap(), 1);
}

#[test]
fn postgres_explicit_role_names() {
    let Some(db) = db("custom_roles") else { return };
    let bad = kura_store::postgres::Roles {
        app: "x\"; DROP TABLE y; --".into(),
        ..db.roles()
    };
    assert!(PostgresStore::create_with_roles(db.url(), [1; 16], &bad).is_err());
    let same = kura_store::postgres::Roles {
        app: db.roles().data_owner,
        ..db.roles()
    };
    assert!(PostgresStore::create_with_roles(db.url(), [1; 16], &same).is_err());
    assert!(kura_store::postgres::Roles::with_prefix("Bad-Prefix").is_err());

    let prefix = format!("{}_x", db.roles().app);
    let roles = kura_store::postgres::Roles::with_prefix(&prefix).unwrap();
    let store = PostgresStore::create_with_roles(db.url(), [1; 16], &roles).unwrap();
    let owner: String = db
        .admin()
        .query_one(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'kura_keys'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owner, roles.keys_owner);
    // `migrate` finds the recorded names again.
    assert_eq!(PostgresStore::migrate(db.url()).unwrap(), SCHEMA_VERSION);
    drop(store);
    let admin_url = kura_testkit::postgres::admin_url();
    drop(db);
    let mut c = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    for r in [
        &roles.data_owner,
        &roles.keys_owner,
        &roles.app,
        &roles.data_reader,
    ] {
        c.batch_execute(&format!("DROP ROLE IF EXISTS \"{r}\""))
            .unwrap();
    }
}

/// The check for planted code cannot be raced: `kura migrate` locks kura's tables before it
/// reads the catalog, so a trigger being added meanwhile makes it wait, and once that commits
/// the migration sees the trigger and refuses. (Without the lock the check would run at once,
/// see nothing uncommitted, and the migration would go on to run the trigger.)
#[test]
fn postgres_migrate_waits_for_a_schema_change_in_flight_then_refuses_it() {
    let Some(db) = db("inflight") else { return };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let roles = db.roles();
    let mut planter = db.admin();
    let mut tx = planter.transaction().unwrap();
    tx.batch_execute(&format!(
        "SET LOCAL ROLE \"{}\";
         CREATE FUNCTION kura_data.f() RETURNS trigger LANGUAGE plpgsql
           AS $f$ BEGIN RETURN NEW; END $f$;
         CREATE TRIGGER planted BEFORE INSERT ON kura_data.marks
           FOR EACH ROW EXECUTE FUNCTION kura_data.f();",
        roles.data_owner
    ))
    .unwrap();
    let url = db.url().to_owned();
    let migrating = std::thread::spawn(move || PostgresStore::migrate(&url));
    let mut watch = db.admin();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting: i64 = watch
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                  WHERE NOT l.granted AND d.datname = current_database()",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "migrate never waited for the table lock"
        );
        assert!(!migrating.is_finished(), "migrate did not wait");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tx.commit().unwrap();
    let e = migrating.join().unwrap().unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("trigger planted on kura_data.marks"), "{msg}");
    assert!(msg.contains("function kura_data.f()"), "{msg}");
}
