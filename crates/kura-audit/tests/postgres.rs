//! The access log on PostgreSQL: two "servers" (two stores, each with its own appender and
//! background integrator) on one database produce exactly one gapless sequence of leaves
//! and one verifiable tree; tampering done in the database is located. Skipped loudly when
//! no PostgreSQL is reachable, except under `CI=true` (see `kura_testkit::postgres`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

/// The system clock, in unix milliseconds.
struct WallClock;

impl kura_audit::Clock for WallClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}
use kura_audit::{
    AccessEvent, Action, Appender, AppenderConfig, AuditStore, Integrator, IntegratorConfig,
    inclusion_proof, subject_history, subject_recent, verifier_key, verify,
};
use kura_store::PostgresStore;
use kura_testkit::postgres::TestDatabase;

const VAULT: [u8; 16] = [0x42; 16];
const SEED: [u8; 32] = [3; 32];

fn event(i: u64) -> AccessEvent {
    AccessEvent::new(
        i,
        "svc",
        "billing",
        Action::Read,
        "accounts",
        &format!("r{i}"),
    )
    .with_subjects([i % 10])
    .with_fields(["email"])
}

#[test]
fn two_servers_one_sequence_one_tree() {
    let Some(db) = TestDatabase::create("audit_two_servers") else {
        return;
    };
    drop(PostgresStore::create(db.url(), VAULT).unwrap());
    let url = db.app_url();
    let servers: Vec<Arc<PostgresStore>> = (0..2)
        .map(|_| Arc::new(PostgresStore::open(&url).unwrap()))
        .collect();
    let cfg = IntegratorConfig {
        checkpoint_every_entries: 250,
        checkpoint_every_ms: 50,
        chunk: 100,
        poll_ms: 5,
    };
    let mut integrators = Vec::new();
    let mut appenders = Vec::new();
    for s in &servers {
        let integ = Arc::new(Integrator::new(s.clone(), &SEED, cfg).unwrap());
        integrators.push(
            integ
                .start(Arc::new(WallClock), |e| panic!("integrator failed: {e}"))
                .unwrap(),
        );
        appenders.push(Arc::new(
            Appender::start(s.clone(), AppenderConfig::default()).unwrap(),
        ));
    }
    let workers: Vec<_> = (0..8u64)
        .map(|t| {
            let app = Arc::clone(&appenders[(t % 2) as usize]);
            std::thread::spawn(move || {
                (0..150u64)
                    .map(|i| app.append(&event(t * 1000 + i)).unwrap().index())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut idx = BTreeSet::new();
    for w in workers {
        for i in w.join().unwrap() {
            assert!(idx.insert(i), "index {i} handed out twice");
        }
    }
    assert_eq!(
        idx.into_iter().collect::<Vec<_>>(),
        (0..1200).collect::<Vec<_>>()
    );
    for h in integrators {
        h.stop();
    }
    let s = &servers[0];
    assert_eq!(s.audit_integrated_size().unwrap(), 1200);
    let report = verify(&**s, &verifier_key(&VAULT, &SEED).unwrap(), None).unwrap();
    assert_eq!(report.entries, 1200);
    assert_eq!(report.unsigned_tail, 0);
    assert!(report.checkpoints >= 4);
    let proof = inclusion_proof(&**s, 17, 1200).unwrap();
    assert_eq!(proof.hashes.len(), 11);
    assert_eq!(subject_history(&**s, 3, None, 10_000).unwrap().len(), 120);
    let recent = subject_recent(&**s, 3, None, 5).unwrap();
    let all = subject_history(&**s, 3, None, 10_000).unwrap();
    let newest: Vec<u64> = all.iter().rev().take(5).map(|e| e.index).collect();
    assert_eq!(
        recent.iter().map(|e| e.index).collect::<Vec<_>>(),
        newest,
        "newest first"
    );

    // Tampering by someone with write access to the database is located.
    let mut admin = db.admin();
    admin
        .execute(
            "UPDATE kura_data.audit_log SET leaf = $1 WHERE seq = 555",
            &[&event(9).to_leaf().unwrap()],
        )
        .unwrap();
    let e = verify(&**s, &verifier_key(&VAULT, &SEED).unwrap(), None).unwrap_err();
    assert_eq!(e.first_broken_entry(), Some(555), "{e}");
}
