//! Admission leases (issue 13): a principal with a large quota is counted in the store
//! mostly in leases taken ahead, not once per subject; a small quota is counted exactly;
//! leases never let a principal past its quota.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kura_audit::{Appender, AppenderConfig, Clock};
use kura_model::Schema;
use kura_policy::{Canaries, DraftIncident, Policy, PrincipalKind};
use kura_store::sqlite::{Durability, SqliteStore};
use kura_store::{ContainmentStore, StoreError, WindowOutcome, WindowTouch};
use kura_vault::{Access, Caller, ContainmentSink, SubjectInput, Vault, VaultOptions};

const T0: u64 = 1_800_000_000_000;

struct StepClock(AtomicU64);
impl Clock for StepClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The store's windows, counting the transactions the vault asks for.
struct Counting {
    inner: Arc<SqliteStore>,
    touches: AtomicU64,
    leased: AtomicU64,
}

impl ContainmentStore for Counting {
    fn touch_window(&self, t: &WindowTouch<'_>) -> Result<WindowOutcome, StoreError> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        let out = self.inner.touch_window(t)?;
        if let WindowOutcome::Admitted { leased } = out {
            self.leased.fetch_add(leased, Ordering::SeqCst);
        }
        Ok(out)
    }
    fn clear_windows(&self, principal: &str) -> Result<(), StoreError> {
        self.inner.clear_windows(principal)
    }
    fn sweep_windows(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.inner.sweep_windows(before_ms)
    }
    fn windows_held(&self) -> Result<(u64, u64), StoreError> {
        self.inner.windows_held()
    }
    fn window_state(&self, key: &str) -> Result<Option<kura_store::WindowState>, StoreError> {
        self.inner.window_state(key)
    }
}

#[derive(Default)]
struct Trips(AtomicU64);
impl ContainmentSink for Trips {
    fn contained(&self, _: &DraftIncident, _: &str, _: u64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    vault: Vault,
    clock: Arc<StepClock>,
    windows: Arc<Counting>,
    trips: Arc<Trips>,
    ids: Vec<uuid::Uuid>,
}

fn fixture(subjects: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let id = [7u8; 16];
    let keys = kura_testkit::keys::provider(dir.path(), id);
    let store =
        Arc::new(SqliteStore::create(&dir.path().join("data"), id, Durability::Normal).unwrap());
    let clock = Arc::new(StepClock(AtomicU64::new(T0)));
    let appender = Arc::new(Appender::start(store.clone(), AppenderConfig::default()).unwrap());
    let windows = Arc::new(Counting {
        inner: store.clone(),
        touches: AtomicU64::new(0),
        leased: AtomicU64::new(0),
    });
    let trips = Arc::new(Trips::default());
    let vault = Vault::new(
        Schema::builtin(),
        store,
        keys,
        VaultOptions::default(),
        appender,
        clock.clone(),
    )
    .unwrap()
    .with_containment(Arc::new(Canaries::new()), windows.clone(), trips.clone());
    let op = Access::operator("op", "testing");
    let inputs = (0..subjects)
        .map(|i| SubjectInput {
            country: "JP".into(),
            locale: "ja".into(),
            fields: [
                ("login_id".to_owned(), format!("person{i}")),
                ("name".to_owned(), format!("Person {i}")),
                ("email".to_owned(), format!("person{i}@example.com")),
            ]
            .into(),
        })
        .collect();
    let ids = vault
        .create_batch(&op, "accounts", inputs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    Fixture {
        _dir: dir,
        vault,
        clock,
        windows,
        trips,
        ids,
    }
}

fn service(quota: u32) -> Access {
    let doc = format!(
        r#"{{"collection":"accounts","purposes":["support"],"actions":["read"],
            "fields":{{"name":"plain"}},"quota":{{"subjects":{quota},"window_secs":3600}}}}"#
    );
    Access {
        principal: "svc".into(),
        purpose: "support".into(),
        request_id: "r".into(),
        caller: Caller::with_policies(
            PrincipalKind::Service,
            vec![Policy::from_json(&doc, &Schema::builtin()).unwrap()],
            false,
        ),
    }
}

fn read(f: &Fixture, a: &Access, i: usize) -> bool {
    f.vault.read(a, "accounts", &f.ids[i], None).is_ok()
}

#[test]
fn a_large_quota_is_counted_in_leases_and_repeats_are_free() {
    let f = fixture(2_000);
    let a = service(100_000);
    for i in 0..2_000 {
        assert!(read(&f, &a, i));
    }
    let touches = f.windows.touches.load(Ordering::SeqCst);
    // Doubling from one slot to LEASE_MAX: a dozen transactions, not 2,000.
    assert!(
        touches <= 20,
        "{touches} store transactions for 2,000 reads"
    );
    // Reading the same subjects again costs nothing more.
    for i in 0..2_000 {
        assert!(read(&f, &a, i));
    }
    assert_eq!(f.windows.touches.load(Ordering::SeqCst), touches);
    // Once the lease may no longer be spent, the next new subject goes to the store and
    // hands the unspent slots back: the window then counts what was read, and the new lease.
    let leased_before = f.windows.leased.load(Ordering::SeqCst);
    f.clock.0.fetch_add(1_500, Ordering::SeqCst);
    let g = fixture_more(&f, &a);
    assert_eq!(f.windows.touches.load(Ordering::SeqCst), touches + 1);
    let (_, entries) = f.windows.windows_held().unwrap();
    assert!(entries >= 1, "{entries}");
    assert!(g, "the read after the lease expired is admitted");
    assert!(f.windows.leased.load(Ordering::SeqCst) > leased_before);
    assert_eq!(f.trips.0.load(Ordering::SeqCst), 0);
}

/// Reads one subject the service has not read (the fixture's last one is kept for this).
fn fixture_more(f: &Fixture, a: &Access) -> bool {
    let op = Access::operator("op", "testing");
    let id = f
        .vault
        .create(
            &op,
            "accounts",
            SubjectInput {
                country: "DE".into(),
                locale: "de".into(),
                fields: [
                    ("login_id".to_owned(), "erika".to_owned()),
                    ("name".to_owned(), "Erika Muster".to_owned()),
                    ("email".to_owned(), "erika@example.de".to_owned()),
                ]
                .into(),
            },
        )
        .unwrap();
    f.vault.read(a, "accounts", &id, None).is_ok()
}

#[test]
fn a_small_quota_is_counted_exactly() {
    let f = fixture(20);
    let a = service(5);
    let got = (0..20).filter(|&i| read(&f, &a, i)).count();
    assert_eq!(got, 5);
    assert_eq!(f.trips.0.load(Ordering::SeqCst), 1);
    // Five admitted, one tripped, one transaction each: no lease ever taken.
    assert_eq!(f.windows.leased.load(Ordering::SeqCst), 0);
}

#[test]
fn leases_never_pass_the_quota() {
    let f = fixture(1_000);
    let a = service(400);
    let got = (0..1_000).filter(|&i| read(&f, &a, i)).count();
    assert!(got <= 400, "{got} subjects under a quota of 400");
    assert!(
        got >= 350,
        "{got}: leasing should strand little of the quota"
    );
    assert!(
        f.windows.leased.load(Ordering::SeqCst) > 0,
        "leases were taken"
    );
    assert_eq!(f.trips.0.load(Ordering::SeqCst), 1);
}
