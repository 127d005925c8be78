//! End-to-end tests of the access log on the real SQLite store: concurrent group commit,
//! integration and checkpoints, proofs checked with `kura-tlog`, subject history, fail
//! closed, and tampering done directly in `data.db` after the fact.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kura_audit::{
    AccessEvent, Action, Appender, AppenderConfig, AuditError, AuditStore, Clock, Integrator,
    IntegratorConfig, RoaringTreemap, consistency_proof, entry, inclusion_proof, latest_checkpoint,
    subject_history, subject_recent, verifier_key, verify,
};
use kura_store::sqlite::{DATA_FILE, Durability, SqliteStore};
use kura_store::{
    ApiKeyRecord, AuditLeaf, NewSubject, SearchHit, Store, StoreError, StoredSubject,
    SubjectUpdate, UpdateOutcome, Uuid,
};
use kura_tlog::{
    Checkpoint, NoteVerifier, TlogError, verify_checkpoint_consistency, verify_checkpoint_inclusion,
};

const VAULT: [u8; 16] = [0xab; 16];
const SEED: [u8; 32] = [7; 32];

fn store(dir: &Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::create(dir, VAULT, Durability::Normal).unwrap())
}

fn event(i: u64) -> AccessEvent {
    AccessEvent::new(
        1_700_000_000_000 + i,
        "svc-support",
        "support",
        Action::Read,
        "accounts",
        &format!("req-{i}"),
    )
    .with_subjects([i % 50])
    .with_fields(["email", "phone"])
}

fn vkey() -> String {
    verifier_key(&VAULT, &SEED).unwrap()
}

fn cfg(every: u64, chunk: usize) -> IntegratorConfig {
    IntegratorConfig {
        checkpoint_every_entries: every,
        checkpoint_every_ms: 1000,
        chunk,
        poll_ms: 10,
    }
}

/// A log of `n` events with a checkpoint every `every` entries, fully integrated.
fn build_log(dir: &Path, n: u64, every: u64) -> Arc<SqliteStore> {
    let s = store(dir);
    let leaves: Vec<AuditLeaf> = (0..n).map(|i| event(i).to_leaf().unwrap()).collect();
    for chunk in leaves.chunks(every as usize) {
        s.append_audit(chunk).unwrap();
        let integ = Integrator::new(s.clone(), &SEED, cfg(every, 37)).unwrap();
        integ.integrate_now(1).unwrap();
    }
    s
}

#[test]
fn concurrent_appends_form_one_gapless_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let app = Arc::new(Appender::start(s.clone(), AppenderConfig::default()).unwrap());
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let app = Arc::clone(&app);
            std::thread::spawn(move || {
                (0..250u64)
                    .map(|i| {
                        (
                            app.append(&event(t * 1000 + i)).unwrap().index(),
                            t * 1000 + i,
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    let idx: BTreeSet<u64> = all.iter().map(|(i, _)| *i).collect();
    assert_eq!(idx.len(), 4000);
    assert_eq!(
        idx.iter().copied().collect::<Vec<_>>(),
        (0..4000).collect::<Vec<_>>()
    );
    assert_eq!(s.audit_size().unwrap(), 4000);
    // Each caller's index holds its own event.
    for (index, i) in all.iter().step_by(97) {
        let e = entry(&*s, *index).unwrap().unwrap();
        assert_eq!(e.event.unwrap().request_id, format!("req-{i}"));
    }
    // Batches were shared: a multi-event submission lands consecutively.
    let many: Vec<_> = (0..10).map(event).collect();
    let got = app.submit_many(&many).unwrap().wait_all().unwrap();
    assert_eq!(
        got.iter().map(|a| a.index()).collect::<Vec<_>>(),
        (4000..4010).collect::<Vec<_>>()
    );
}

#[test]
fn integrator_signs_every_n_entries_and_proofs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let integ = Integrator::new(s.clone(), &SEED, cfg(100, 30)).unwrap();
    assert!(integ.origin().starts_with("kura/abab"));
    let leaves: Vec<AuditLeaf> = (0..1000).map(|i| event(i).to_leaf().unwrap()).collect();
    s.append_audit(&leaves).unwrap();
    let r = integ.integrate_due(5).unwrap();
    assert_eq!((r.from, r.to), (0, 1000));
    let cps = s.audit_checkpoints().unwrap();
    // Signed exactly every 100 entries, whatever the chunk size.
    let sizes: Vec<u64> = cps.iter().map(|(n, _)| *n).collect();
    assert_eq!(sizes, (1..=10).map(|k| k * 100).collect::<Vec<_>>());
    assert_eq!(s.audit_integrated_size().unwrap(), 1000);

    // Nothing new and nothing due: no new checkpoint.
    let again = integ.integrate_due(6).unwrap();
    assert_eq!(again.checkpoints, 0);
    // A few more entries: only time makes them due.
    s.append_audit(&leaves[..5]).unwrap();
    assert_eq!(integ.integrate_due(7).unwrap().checkpoints, 0);
    assert_eq!(integ.integrate_due(5 + 1000).unwrap().checkpoints, 1);
    assert_eq!(latest_size(&*s), 1005);

    let verifier = NoteVerifier::from_verifier_key(&integ.verifier_key()).unwrap();
    let cps: Vec<Checkpoint> = s
        .audit_checkpoints()
        .unwrap()
        .iter()
        .map(|(_, t)| Checkpoint::open(t.as_bytes(), &verifier).unwrap())
        .collect();
    for cp in &cps {
        for index in [0, 1, cp.size() / 2, cp.size() - 1] {
            let leaf = s.audit_leaf(index).unwrap().unwrap();
            let proof = inclusion_proof(&*s, index, cp.size()).unwrap();
            verify_checkpoint_inclusion(cp, &leaf, index, &proof.hashes).unwrap();
        }
    }
    for w in cps.windows(2) {
        let proof = consistency_proof(&*s, w[0].size(), w[1].size()).unwrap();
        verify_checkpoint_consistency(&w[0], &w[1], &proof.hashes).unwrap();
    }
    let first_last = consistency_proof(&*s, 1, 1005).unwrap();
    let one = Checkpoint::new(integ.origin(), 1, kura_tlog::hash_leaf(&leaves[0])).unwrap();
    verify_checkpoint_consistency(&one, cps.last().unwrap(), &first_last.hashes).unwrap();
    // Beyond the integrated size: refused.
    assert!(matches!(
        inclusion_proof(&*s, 0, 2000),
        Err(AuditError::OutOfRange { .. })
    ));
    let json = serde_json::to_value(inclusion_proof(&*s, 3, 1000).unwrap()).unwrap();
    assert_eq!(json["hashes"].as_array().unwrap().len(), 10);

    let report = verify(&*s, &vkey(), None).unwrap();
    assert_eq!(report.entries, 1005);
    assert_eq!(report.unsigned_tail, 0);
    assert_eq!(
        report.stored_hashes_checked,
        kura_tlog::stored_hash_count(1005)
    );
}

fn latest_size(s: &dyn AuditStore) -> u64 {
    s.latest_audit_checkpoint().unwrap().unwrap().0
}

struct FakeClock(AtomicU64);
impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.fetch_add(50, Ordering::Relaxed)
    }
}

#[test]
fn background_integrator_checkpoints_while_entries_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let app = Appender::start(s.clone(), AppenderConfig::default()).unwrap();
    let integ = Arc::new(Integrator::new(s.clone(), &SEED, cfg(1_000_000, 512)).unwrap());
    let errors = Arc::new(AtomicU64::new(0));
    let e2 = Arc::clone(&errors);
    let handle = integ
        .start(Arc::new(FakeClock(AtomicU64::new(1))), move |_| {
            e2.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    for i in 0..200 {
        let _ = app.append(&event(i)).unwrap();
    }
    // The fake clock advances 50 ms per look: a time-based checkpoint is due within ~20
    // passes of 10 ms.
    let mut waited = 0;
    while s.latest_audit_checkpoint().unwrap().is_none() && waited < 500 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    assert!(s.latest_audit_checkpoint().unwrap().is_some());
    for i in 200..300 {
        let _ = app.append(&event(i)).unwrap();
    }
    handle.stop(); // final full pass
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    assert_eq!(latest_size(&*s), 300);
    assert!(latest_checkpoint(&*s).unwrap().unwrap().contains("\n300\n"));
    verify(&*s, &vkey(), None).unwrap();
}

#[test]
fn subject_history_is_an_index_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let app = Appender::start(s.clone(), AppenderConfig::default()).unwrap();
    let base = AccessEvent::new(1, "svc", "support", Action::Read, "accounts", "r");
    let _ = app.append(&base.clone().with_subjects([1, 2])).unwrap();
    let _ = app.append(&base.clone().with_subjects([3])).unwrap();
    let bulk: RoaringTreemap = (2..5000u64).collect();
    let mut search = base.clone().with_subject_bitmap(&bulk);
    search.action = Action::Search;
    let _ = app.append(&search).unwrap();
    let _ = app
        .append(&base.clone().denied("purpose_denied").with_subjects([2]))
        .unwrap();
    Integrator::new(s.clone(), &SEED, IntegratorConfig::default())
        .unwrap()
        .integrate_now(2)
        .unwrap();
    let h2: Vec<u64> = subject_history(&*s, 2, None, 100)
        .unwrap()
        .iter()
        .map(|e| e.index)
        .collect();
    assert_eq!(h2, vec![0, 2, 3]);
    let page: Vec<u64> = subject_history(&*s, 2, Some(0), 1)
        .unwrap()
        .iter()
        .map(|e| e.index)
        .collect();
    assert_eq!(page, vec![2]);
    // Newest first, for a person's own page, paged backwards.
    let recent = |before, limit| -> Vec<u64> {
        subject_recent(&*s, 2, before, limit)
            .unwrap()
            .iter()
            .map(|e| e.index)
            .collect()
    };
    assert_eq!(recent(None, 100), vec![3, 2, 0]);
    assert_eq!(recent(None, 2), vec![3, 2]);
    assert_eq!(recent(Some(2), 10), vec![0]);
    assert!(subject_recent(&*s, 9999, None, 10).unwrap().is_empty());
    let h4999 = subject_history(&*s, 4999, None, 10).unwrap();
    assert_eq!(h4999.len(), 1);
    assert_eq!(h4999[0].event.as_ref().unwrap().action, "search");
    assert!(subject_history(&*s, 9999, None, 10).unwrap().is_empty());
    let denied = &subject_history(&*s, 2, Some(2), 10).unwrap()[0];
    assert_eq!(
        denied.event.as_ref().unwrap().outcome,
        "denied:purpose_denied"
    );
}

#[test]
fn two_integrators_on_one_store_agree() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let leaves: Vec<AuditLeaf> = (0..3000).map(|i| event(i).to_leaf().unwrap()).collect();
    s.append_audit(&leaves).unwrap();
    let a = Arc::new(Integrator::new(s.clone(), &SEED, cfg(500, 64)).unwrap());
    let b = Arc::new(Integrator::new(s.clone(), &SEED, cfg(700, 100)).unwrap());
    let ta = {
        let a = Arc::clone(&a);
        std::thread::spawn(move || a.integrate_now(1).unwrap())
    };
    let tb = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || b.integrate_now(1).unwrap())
    };
    ta.join().unwrap();
    tb.join().unwrap();
    assert_eq!(s.audit_integrated_size().unwrap(), 3000);
    let report = verify(&*s, &vkey(), None).unwrap();
    assert_eq!(report.entries, 3000);
    assert!(report.checkpoints >= 4);
}

// ---- fail closed ----

/// Delegates to SQLite but fails `append_audit` while `broken` is set.
#[derive(Debug)]
struct Flaky {
    inner: SqliteStore,
    broken: AtomicBool,
}

impl Store for Flaky {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    fn vault_id(&self) -> Result<[u8; 16], StoreError> {
        self.inner.vault_id()
    }
    fn reserve_iids(&self, n: u64) -> Result<u64, StoreError> {
        self.inner.reserve_iids(n)
    }
    fn insert_subjects(&self, b: &[NewSubject], a: &[AuditLeaf]) -> Result<(), StoreError> {
        self.inner.insert_subjects(b, a)
    }
    fn subject(&self, c: &str, id: &Uuid) -> Result<Option<StoredSubject>, StoreError> {
        self.inner.subject(c, id)
    }
    fn update_subject(
        &self,
        u: &SubjectUpdate,
        a: &[AuditLeaf],
    ) -> Result<UpdateOutcome, StoreError> {
        self.inner.update_subject(u, a)
    }
    fn advance_epoch(&self, id: &Uuid, epoch: u64) -> Result<(), StoreError> {
        self.inner.advance_epoch(id, epoch)
    }
    fn delete_subject(&self, c: &str, id: &Uuid, a: &[AuditLeaf]) -> Result<bool, StoreError> {
        self.inner.delete_subject(c, id, a)
    }
    fn search(
        &self,
        c: &str,
        t: &kura_crypto::BlindToken,
        l: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        self.inner.search(c, t, l)
    }
    fn kek_version_counts(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        self.inner.kek_version_counts()
    }
    fn keys_to_rewrap(
        &self,
        target: u32,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<(Uuid, kura_crypto::WrappedKey)>, StoreError> {
        self.inner.keys_to_rewrap(target, after, limit)
    }
    fn rewrap_keys(&self, items: &[kura_store::Rewrap]) -> Result<Vec<bool>, StoreError> {
        self.inner.rewrap_keys(items)
    }
    fn count_subjects(&self, c: &str) -> Result<u64, StoreError> {
        self.inner.count_subjects(c)
    }
    fn scan_subjects(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<kura_store::SubjectScan>, StoreError> {
        self.inner.scan_subjects(after, limit)
    }
    fn append_audit(&self, a: &[AuditLeaf]) -> Result<u64, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            // Give concurrent callers time to join the failing batch.
            std::thread::sleep(std::time::Duration::from_millis(20));
            return Err(StoreError::Backend("disk full".into()));
        }
        self.inner.append_audit(a)
    }
    fn audit_size(&self) -> Result<u64, StoreError> {
        self.inner.audit_size()
    }
    fn insert_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.insert_api_key(k)
    }
    fn api_key(&self, p: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.api_key(p)
    }
}

#[test]
fn appender_fails_closed_when_the_store_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky {
        inner: SqliteStore::create(dir.path(), VAULT, Durability::Normal).unwrap(),
        broken: AtomicBool::new(false),
    });
    let app = Arc::new(Appender::start(flaky.clone(), AppenderConfig::default()).unwrap());
    assert_eq!(app.append(&event(0)).unwrap().index(), 0);
    flaky.broken.store(true, Ordering::SeqCst);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let app = Arc::clone(&app);
            std::thread::spawn(move || app.append(&event(i)))
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert!(
            matches!(
                r,
                Err(AuditError::AppendFailed {
                    code: "storage_error"
                })
            ),
            "{r:?}"
        );
    }
    assert_eq!(flaky.audit_size().unwrap(), 1);
    // Recovery: the next batch is written, with no gap.
    flaky.broken.store(false, Ordering::SeqCst);
    assert_eq!(app.append(&event(9)).unwrap().index(), 1);
    app.shutdown();
    assert!(matches!(
        app.append(&event(10)),
        Err(AuditError::AppenderClosed)
    ));
}

/// Polls `f` to completion on this thread, parking between wake-ups (a minimal executor:
/// the appender must wake the task, or this never returns).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn an_awaited_ticket_resolves_when_durable_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky {
        inner: SqliteStore::create(dir.path(), VAULT, Durability::Normal).unwrap(),
        broken: AtomicBool::new(false),
    });
    let app = Arc::new(Appender::start(flaky.clone(), AppenderConfig::default()).unwrap());
    // Many awaiting tasks at once (each on its own thread): one gapless sequence, and each
    // resolved only once its event is in the store.
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let (app, store) = (Arc::clone(&app), flaky.clone());
            std::thread::spawn(move || {
                (0..50u64)
                    .map(|i| {
                        let at = block_on(app.submit(&event(t * 100 + i)).unwrap())
                            .unwrap()
                            .index();
                        assert!(store.audit_size().unwrap() > at, "resolved before durable");
                        at
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    assert_eq!(all, (0..400).collect::<BTreeSet<u64>>());
    flaky.broken.store(true, Ordering::SeqCst);
    let r = block_on(app.submit(&event(999)).unwrap());
    assert!(
        matches!(
            r,
            Err(AuditError::AppendFailed {
                code: "storage_error"
            })
        ),
        "{r:?}"
    );
    assert_eq!(flaky.audit_size().unwrap(), 400);
}

#[test]
fn appender_fails_closed_on_a_read_only_database() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let app = Appender::start(s.clone(), AppenderConfig::default()).unwrap();
    let _ = app.append(&event(0)).unwrap();
    // Another process makes the log table refuse writes.
    let db = rusqlite::Connection::open(dir.path().join(DATA_FILE)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER no_more BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'read only'); END;",
    )
    .unwrap();
    assert!(matches!(
        app.append(&event(1)),
        Err(AuditError::AppendFailed { .. })
    ));
    db.execute_batch("DROP TRIGGER no_more").unwrap();
    assert_eq!(app.append(&event(2)).unwrap().index(), 1);
}

// ---- tampering, done directly in data.db ----

const N: u64 = 300;
const EVERY: u64 = 64;

fn tampered(f: impl FnOnce(&rusqlite::Connection)) -> Result<kura_audit::VerifyReport, AuditError> {
    tampered_with(f, None)
}

fn tampered_with(
    f: impl FnOnce(&rusqlite::Connection),
    extra: Option<&str>,
) -> Result<kura_audit::VerifyReport, AuditError> {
    let dir = tempfile::tempdir().unwrap();
    let s = build_log(dir.path(), N, EVERY);
    verify(&*s, &vkey(), extra).unwrap();
    let db = rusqlite::Connection::open(dir.path().join(DATA_FILE)).unwrap();
    f(&db);
    drop(db);
    verify(&*s, &vkey(), extra)
}

fn broken_at(r: Result<kura_audit::VerifyReport, AuditError>) -> (u64, String) {
    let e = r.unwrap_err();
    (e.first_broken_entry().unwrap_or(u64::MAX), e.to_string())
}

#[test]
fn honest_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let s = build_log(dir.path(), N, EVERY);
    let r = verify(&*s, &vkey(), None).unwrap();
    assert_eq!(r.entries, N);
    assert_eq!(r.latest_checkpoint_size, N);
    assert!(r.checkpoints >= (N / EVERY) as usize);
}

#[test]
fn changed_byte_is_located() {
    let (at, msg) = broken_at(tampered(|db| {
        db.execute(
            "UPDATE audit_log SET leaf = CAST(replace(CAST(leaf AS TEXT), 'req-', 'reX-') AS BLOB) WHERE seq = 123",
            [],
        )
        .unwrap();
    }));
    assert_eq!(at, 123, "{msg}");
}

#[test]
fn deleted_entry_is_located() {
    let (at, msg) = broken_at(tampered(|db| {
        db.execute("DELETE FROM audit_log WHERE seq = 77", [])
            .unwrap();
    }));
    assert_eq!(at, 77, "{msg}");
    assert!(msg.contains("missing"));
}

#[test]
fn deleted_and_renumbered_entry_is_located() {
    let (at, msg) = broken_at(tampered(|db| {
        db.execute_batch(
            "DELETE FROM audit_log WHERE seq = 77;
             UPDATE audit_log SET seq = -seq WHERE seq > 77;
             UPDATE audit_log SET seq = -seq - 1 WHERE seq < 0;",
        )
        .unwrap();
    }));
    assert_eq!(at, 77, "{msg}");
}

#[test]
fn swapped_entries_are_located() {
    let (at, msg) = broken_at(tampered(|db| {
        db.execute_batch(
            "UPDATE audit_log SET seq = -1 WHERE seq = 150;
             UPDATE audit_log SET seq = 150 WHERE seq = 200;
             UPDATE audit_log SET seq = 200 WHERE seq = -1;",
        )
        .unwrap();
    }));
    assert_eq!(at, 150, "{msg}");
}

#[test]
fn inserted_entry_is_located() {
    let forged = event(9999).to_leaf().unwrap();
    let (at, msg) = broken_at(tampered(|db| {
        db.execute_batch(
            "UPDATE audit_log SET seq = -seq WHERE seq >= 90;
             UPDATE audit_log SET seq = -seq + 1 WHERE seq < 0;",
        )
        .unwrap();
        db.execute(
            "INSERT INTO audit_log (seq, leaf) VALUES (90, ?1)",
            [forged.as_slice()],
        )
        .unwrap();
    }));
    assert_eq!(at, 90, "{msg}");
}

#[test]
fn truncated_tail_is_located() {
    let (at, msg) = broken_at(tampered(|db| {
        db.execute("DELETE FROM audit_log WHERE seq >= 250", [])
            .unwrap();
    }));
    assert_eq!(at, 250, "{msg}");
}

#[test]
fn truncation_of_everything_is_caught_by_the_auditor_checkpoint() {
    // The attacker truncates the tail and also erases the integration state and the
    // checkpoints that covered it; the auditor's saved checkpoint still catches it.
    let dir = tempfile::tempdir().unwrap();
    let s = build_log(dir.path(), N, EVERY);
    let saved = latest_checkpoint(&*s).unwrap().unwrap();
    let db = rusqlite::Connection::open(dir.path().join(DATA_FILE)).unwrap();
    db.execute_batch(&format!(
        "DELETE FROM audit_log WHERE seq >= 200;
         DELETE FROM audit_checkpoints WHERE size > 192;
         DELETE FROM audit_hashes WHERE idx >= {};
         UPDATE counters SET next = 192 WHERE name = 'audit_integrated';",
        kura_tlog::stored_hash_count(192)
    ))
    .unwrap();
    drop(db);
    // Without the auditor's checkpoint the shorter log looks honest.
    let r = verify(&*s, &vkey(), None).unwrap();
    assert_eq!(r.entries, 200);
    let e = verify(&*s, &vkey(), Some(&saved)).unwrap_err();
    assert!(
        matches!(
            e,
            AuditError::Tlog(TlogError::LogTruncated { log_size: 200, .. })
        ),
        "{e}"
    );
    assert_eq!(e.first_broken_entry(), Some(200));
}

#[test]
fn rewritten_leaf_and_leaf_hash_are_located_to_the_subtree() {
    let forged = event(4242).to_leaf().unwrap();
    let h = kura_tlog::hash_leaf(&forged);
    let (at, msg) = broken_at(tampered(|db| {
        db.execute(
            "UPDATE audit_log SET leaf = ?1 WHERE seq = 100",
            [forged.as_slice()],
        )
        .unwrap();
        db.execute(
            "UPDATE audit_hashes SET hash = ?1 WHERE idx = ?2",
            rusqlite::params![h.0.as_slice(), kura_tlog::stored_hash_index(0, 100) as i64],
        )
        .unwrap();
    }));
    // Leaf 100 is a left child: its parent (over 100..=101) is the first to disagree.
    assert_eq!(at, 100, "{msg}");
}

#[test]
fn full_rewrite_is_caught_by_the_signatures() {
    // Rewrite a leaf and recompute every stored hash consistently: only the signed
    // checkpoints disagree, and the break is located to a checkpoint interval.
    let dir = tempfile::tempdir().unwrap();
    let s = build_log(dir.path(), N, EVERY);
    let forged = event(4242).to_leaf().unwrap();
    let db = rusqlite::Connection::open(dir.path().join(DATA_FILE)).unwrap();
    db.execute(
        "UPDATE audit_log SET leaf = ?1 WHERE seq = 100",
        [forged.as_slice()],
    )
    .unwrap();
    let leaves: Vec<Vec<u8>> = s
        .audit_leaves(0, N)
        .unwrap()
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let mut f = kura_tlog::Frontier::new();
    let stored = f.append_entries(&leaves).unwrap();
    db.execute("DELETE FROM audit_hashes", []).unwrap();
    for (i, h) in stored.iter().enumerate() {
        db.execute(
            "INSERT INTO audit_hashes (idx, hash) VALUES (?1, ?2)",
            rusqlite::params![i as i64, h.0.as_slice()],
        )
        .unwrap();
    }
    drop(db);
    let e = verify(&*s, &vkey(), None).unwrap_err();
    assert!(
        matches!(e, AuditError::Tlog(TlogError::CheckpointMismatch { .. })),
        "{e}"
    );
    let at = e.first_broken_entry().unwrap();
    assert!(at <= 100 && 100 - at < EVERY + 37, "{e}");
}

#[test]
fn forged_or_foreign_checkpoints_are_refused() {
    let (_, msg) = broken_at(tampered(|db| {
        db.execute(
            "UPDATE audit_checkpoints SET note = replace(note, '\n128\n', '\n129\n')",
            [],
        )
        .unwrap();
    }));
    assert!(msg.contains("checkpoint"), "{msg}");
    // An auditor's checkpoint signed by someone else.
    let other =
        kura_tlog::NoteSigner::from_seed(&kura_audit::origin_for(&VAULT), &[9; 32]).unwrap();
    let fake = Checkpoint::new(other.name(), 1, kura_tlog::hash_leaf(b"x"))
        .unwrap()
        .sign(&other)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = build_log(dir.path(), N, EVERY);
    let e = verify(&*s, &vkey(), Some(&fake)).unwrap_err();
    assert!(
        matches!(e, AuditError::Tlog(TlogError::CheckpointInvalid { .. })),
        "{e}"
    );
}

#[test]
fn undecodable_leaf_is_reported() {
    // Written through the store as raw bytes (not via AccessEvent): integrated, but
    // verification names it.
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.append_audit(&[event(0).to_leaf().unwrap(), b"not an event".to_vec()])
        .unwrap();
    let r = Integrator::new(s.clone(), &SEED, IntegratorConfig::default())
        .unwrap()
        .integrate_now(1)
        .unwrap();
    assert_eq!(r.undecodable, 1);
    let e = verify(&*s, &vkey(), None).unwrap_err();
    assert!(
        matches!(e, AuditError::EntryUndecodable { index: 1 }),
        "{e}"
    );
    assert!(entry(&*s, 1).unwrap().unwrap().event.is_none());
}

#[test]
fn changes_logged_in_their_transaction_share_the_sequence_with_reads() {
    // Writes carry their leaves into the store's own transaction; reads go through the
    // appender. Both land in one gapless sequence, and the integrator indexes both.
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let app = Arc::new(Appender::start(s.clone(), AppenderConfig::default()).unwrap());
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for k in 0..50u64 {
                let iid = s.reserve_iids(1).unwrap();
                let create = AccessEvent::new(k, "svc", "signup", Action::Create, "accounts", "w")
                    .with_subjects([iid])
                    .with_fields(["email"]);
                s.insert_subjects(
                    &[NewSubject {
                        id: Uuid::from_u128(u128::from(k) + 1),
                        iid,
                        collection: "accounts".into(),
                        country: "JP".into(),
                        locale: "ja".into(),
                        fields: vec![0; 32],
                        tokens: Vec::new(),
                        wrapped_key: kura_crypto::WrappedKey {
                            kek_version: 1,
                            bytes: vec![1; 72],
                        },
                    }],
                    &[create.to_leaf().unwrap()],
                )
                .unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..4u64)
        .map(|t| {
            let app = Arc::clone(&app);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let _ = app.append(&event(t * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(s.audit_size().unwrap(), 250);
    Integrator::new(s.clone(), &SEED, IntegratorConfig::default())
        .unwrap()
        .integrate_now(1)
        .unwrap();
    let r = verify(&*s, &vkey(), None).unwrap();
    assert_eq!(r.entries, 250);
    let created = subject_history(&*s, 1, None, 10).unwrap();
    assert!(
        created
            .iter()
            .any(|e| e.event.as_ref().unwrap().action == "create")
    );
}
