//! [`AuditStore`] behaviour, checked on both backends side by side (SQLite always, PostgreSQL
//! in a fresh database when a server is reachable; skipped loudly otherwise, except under
//! `CI=true`), plus two integrators on two PostgreSQL stores racing for the same range.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use kura_store::sqlite::{Durability, SqliteStore};
use kura_store::{AuditIntegration, AuditStore, IntegrationOutcome, PostgresStore, Store};
use kura_testkit::postgres::TestDatabase;

fn check(store: &dyn AuditStore) {
    assert_eq!(store.mark("audit.verified").unwrap(), None);
    store.put_mark("audit.verified", 5, "12").unwrap();
    store.put_mark("audit.verified", 7, "15").unwrap();
    store.put_mark("other", 1, "x").unwrap();
    assert_eq!(
        store.mark("audit.verified").unwrap(),
        Some(kura_store::Mark {
            at_ms: 7,
            value: "15".into()
        }),
        "a mark is replaced, not duplicated"
    );
    let first = store
        .append_audit(&[b"l0".to_vec(), b"l1".to_vec(), b"l2".to_vec()])
        .unwrap();
    assert_eq!(first, 0);
    assert_eq!(
        store.audit_leaves(0, 10).unwrap(),
        vec![
            (0, b"l0".to_vec()),
            (1, b"l1".to_vec()),
            (2, b"l2".to_vec())
        ]
    );
    assert_eq!(store.audit_leaves(1, 2).unwrap(), vec![(1, b"l1".to_vec())]);
    assert!(store.audit_leaves(2, 1).unwrap().is_empty());
    assert_eq!(store.audit_leaf(2).unwrap(), Some(b"l2".to_vec()));
    assert_eq!(store.audit_leaf(3).unwrap(), None);

    // Integration: compare-and-set on the integrated size.
    assert_eq!(store.audit_integrated_size().unwrap(), 0);
    let batch = AuditIntegration {
        from: 0,
        to: 2,
        first_hash_index: 0,
        hashes: vec![[1; 32], [2; 32], [3; 32]],
        history: vec![(7, 0), (7, 1), (8, 1)],
    };
    assert_eq!(
        store.integrate_audit(&batch).unwrap(),
        IntegrationOutcome::Applied
    );
    assert_eq!(store.audit_integrated_size().unwrap(), 2);
    assert_eq!(
        store.integrate_audit(&batch).unwrap(),
        IntegrationOutcome::Stale(2)
    );
    // A batch whose hash differs from a stored one is refused whole.
    let bad = AuditIntegration {
        from: 2,
        to: 3,
        first_hash_index: 2,
        hashes: vec![[9; 32], [4; 32]],
        history: vec![(9, 2)],
    };
    assert_eq!(store.integrate_audit(&bad).unwrap_err().code(), "conflict");
    assert_eq!(store.audit_integrated_size().unwrap(), 2);
    assert!(store.audit_subject_history(9, None, 10).unwrap().is_empty());
    assert_eq!(store.audit_hashes(&[3]).unwrap(), vec![None]);

    // Stored hashes: idempotent, write-once.
    store.put_audit_hashes(1, &[[2; 32], [3; 32]]).unwrap();
    assert_eq!(
        store.put_audit_hashes(0, &[[5; 32]]).unwrap_err().code(),
        "conflict"
    );
    assert_eq!(
        store.audit_hashes(&[2, 0, 5, 1]).unwrap(),
        vec![Some([3; 32]), Some([1; 32]), None, Some([2; 32])]
    );
    assert_eq!(
        store.audit_hash_range(1, 5).unwrap(),
        vec![(1, [2; 32]), (2, [3; 32])]
    );
    assert!(store.audit_hash_range(5, 1).unwrap().is_empty());

    // Subject history.
    assert_eq!(
        store.audit_subject_history(7, None, 10).unwrap(),
        vec![0, 1]
    );
    assert_eq!(
        store.audit_subject_history(7, Some(0), 10).unwrap(),
        vec![1]
    );
    assert_eq!(store.audit_subject_history(7, None, 1).unwrap(), vec![0]);
    assert_eq!(store.audit_subject_history(8, None, 10).unwrap(), vec![1]);
    assert!(store.audit_subject_history(1, None, 10).unwrap().is_empty());

    // Checkpoints: one per size, first one kept.
    assert_eq!(store.latest_audit_checkpoint().unwrap(), None);
    store.put_audit_checkpoint(2, "note 2").unwrap();
    store.put_audit_checkpoint(1, "note 1").unwrap();
    store.put_audit_checkpoint(2, "other").unwrap();
    assert_eq!(
        store.audit_checkpoints().unwrap(),
        vec![(1, "note 1".to_owned()), (2, "note 2".to_owned())]
    );
    assert_eq!(
        store.latest_audit_checkpoint().unwrap(),
        Some((2, "note 2".to_owned()))
    );
}

#[test]
fn audit_store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap();
    check(&store);
}

#[test]
fn audit_store_on_postgres() {
    let Some(db) = TestDatabase::create("audit") else {
        return;
    };
    drop(PostgresStore::create(db.url(), [1; 16]).unwrap());
    // As the app role: the grants must cover every audit table.
    let store = PostgresStore::open(&db.app_url()).unwrap();
    check(&store);
}

#[test]
fn postgres_racing_integrators_apply_each_range_once() {
    let Some(db) = TestDatabase::create("audit_race") else {
        return;
    };
    let a = Arc::new(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let b = Arc::new(PostgresStore::open(db.url()).unwrap());
    let rounds = 40u64;
    let handles: Vec<_> = [a.clone(), b.clone(), a, b]
        .into_iter()
        .map(|store| {
            std::thread::spawn(move || {
                let mut applied = 0;
                loop {
                    let from = store.audit_integrated_size().unwrap();
                    if from >= rounds {
                        return applied;
                    }
                    // Every integrator computes the same hashes for a range.
                    let batch = AuditIntegration {
                        from,
                        to: from + 1,
                        first_hash_index: from,
                        hashes: vec![[from as u8; 32]],
                        history: vec![(from, from)],
                    };
                    if store.integrate_audit(&batch).unwrap() == IntegrationOutcome::Applied {
                        applied += 1;
                    }
                }
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, rounds, "each range applied exactly once");
    let mut c = db.admin();
    let n: i64 = c
        .query_one("SELECT count(*) FROM kura_data.audit_hashes", &[])
        .unwrap()
        .get(0);
    assert_eq!(n as u64, rounds);
}

/// Concurrent `append_audit` callers share transactions (group commit); each must still get
/// the index of exactly its own, consecutive leaves.
#[test]
fn postgres_grouped_appends_return_each_callers_own_positions() {
    let Some(db) = TestDatabase::create("audit_group") else {
        return;
    };
    let a = Arc::new(PostgresStore::create(db.url(), [1; 16]).unwrap());
    let b = Arc::new(PostgresStore::open(db.url()).unwrap());
    let handles: Vec<_> = (0..12u8)
        .map(|t| {
            let store = if t % 3 == 0 { b.clone() } else { a.clone() };
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..25u8 {
                    let leaves: Vec<Vec<u8>> = (0..=(i % 3)).map(|k| vec![t, i, k]).collect();
                    let first = store.append_audit(&leaves).unwrap();
                    mine.push((first, leaves));
                }
                mine
            })
        })
        .collect();
    let mut count = 0;
    for h in handles {
        for (first, leaves) in h.join().unwrap() {
            let got = a.audit_leaves(first, first + leaves.len() as u64).unwrap();
            let got: Vec<Vec<u8>> = got.into_iter().map(|(_, l)| l).collect();
            assert_eq!(got, leaves, "leaves at {first}");
            count += leaves.len() as u64;
        }
    }
    assert_eq!(a.audit_size().unwrap(), count);
    assert_eq!(a.audit_leaves(0, count + 5).unwrap().len() as u64, count);
}
