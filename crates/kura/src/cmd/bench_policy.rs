//! `kura bench --only policy`: what the policy check and quota accounting cost on reads.
//!
//! One store of `--subjects` subjects is read `--reads` times, at random, by `--threads`
//! clients, through two vaults over the same store, keys and access log:
//! - **bypass**: the operator grant on a vault without containment — the decision's
//!   shortest path and no counting (the bench-only stand-in for "no check");
//! - **check on**: 1,000 service principals, each holding a policy that grants every field
//!   the operator gets (the eight stored fields and `payment_cards`, whose read looks up the
//!   subject's card tokens) in plain, so both sides do the same work; counted by containment
//!   under a quota no one reaches;
//! - **decided, not counted**: the same service principals on the vault without
//!   containment (reported to split the check's cost between the decision and the count);
//! - **issue policy**: the same principals under the issue's example policy (masked e-mail
//!   and phone, denied birth date): reported for information; it opens fewer fields.
//!
//! - **over HTTP**: the same reads through the real server, the operator's bootstrap key
//!   against 1,000 service keys (stored principals joined at authentication).
//!
//! Rounds alternate (bypass, on, three times each), round `r` of both sides reading the same
//! fresh sample, and each side reports its best round (every round is in the JSON), so that
//! neither side gets a warmer cache or a quieter machine by its position, and the counted
//! side never re-reads what it already counted.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use kura_crypto::KeyFile;
use kura_policy::{Canaries, DraftIncident, Policy, PrincipalKind};
use kura_store::sqlite::{Durability, SqliteStore};
use kura_vault::{Access, Caller, ContainmentSink, SubjectInput, Uuid, Vault, VaultOptions};
use serde_json::{Value, json};

use super::bench::{BenchArgs, input, parallel, sample};

/// Principals reading in the "check on" rounds.
const PRINCIPALS: usize = 1_000;

/// Counts trips; none is expected (the quota is out of reach).
#[derive(Default)]
struct CountingSink(AtomicU64);

impl ContainmentSink for CountingSink {
    fn contained(&self, _: &DraftIncident, _: &str, _: u64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn policy(fields: &str) -> String {
    format!(
        r#"{{"collection":"accounts","purposes":["support"],"actions":["read","search"],
            "fields":{{{fields}}},"quota":{{"subjects":1000000,"window_secs":3600}}}}"#
    )
}

pub fn run(dir: &Path, a: &BenchArgs) -> Result<Value> {
    let id: [u8; 16] = kura_crypto::random_array()?;
    let key_path = dir.join("vault.key");
    drop(KeyFile::create(&key_path, id)?);
    let sqlite = Arc::new(SqliteStore::create(
        &dir.join("data"),
        id,
        Durability::Normal,
    )?);
    let store: kura_store::DynStore = sqlite.clone();
    let appender = Arc::new(kura_audit::Appender::start(
        store.clone(),
        kura_audit::AppenderConfig::default(),
    )?);
    let vault = |containment: Option<(Arc<Canaries>, Arc<CountingSink>)>| -> Result<Vault> {
        let v = Vault::new(
            kura_model::Schema::builtin(),
            store.clone(),
            Arc::new(KeyFile::open(&key_path)?),
            VaultOptions::default(),
            appender.clone(),
            Arc::new(crate::open::SystemClock),
        )?;
        Ok(match containment {
            // The windows are counted in the store, as served.
            Some((c, s)) => v.with_containment(c, sqlite.clone(), s),
            None => v,
        })
    };
    let off = vault(None)?;
    let sink = Arc::new(CountingSink::default());
    let on = vault(Some((Arc::new(Canaries::new()), sink.clone())))?;

    // Load the subjects (operator, in batches).
    let op = Access::operator("bench", "bench");
    let mut ids: Vec<Uuid> = Vec::with_capacity(a.subjects);
    for from in (0..a.subjects).step_by(super::bench::BATCH) {
        let to = (from + super::bench::BATCH).min(a.subjects);
        let inputs: Vec<SubjectInput> = (from..to).map(input).collect();
        for r in off.create_batch(&op, "accounts", inputs) {
            ids.push(r?);
        }
    }

    let schema = kura_model::Schema::builtin();
    let all_plain = policy(
        r#""login_id":"plain","online_id":"plain","name":"plain","email":"plain","phone":"plain",
           "postal_address":"plain","birth_date":"plain","gender":"plain",
           "payment_cards":"plain""#,
    );
    let issue = policy(r#""name":"plain","email":"masked","phone":"masked","birth_date":"denied""#);
    let callers = |text: &str| -> Result<Vec<Access>> {
        let p = Policy::from_json(text, &schema)?;
        Ok((0..PRINCIPALS)
            .map(|i| Access {
                principal: format!("svc-{i:04}"),
                purpose: "support".to_owned(),
                request_id: "bench".to_owned(),
                caller: Caller::with_policies(PrincipalKind::Service, vec![p.clone()], false)
                    .in_org("bench-org", 0),
            })
            .collect())
    };
    let plain_callers = callers(&all_plain)?;
    let issue_callers = callers(&issue)?;
    // Each round reads its own sample (the same one on both sides), so that in every round
    // almost every read brings a subject new to its principal's window: re-reads would be
    // free on the counted side (a server remembers what it counted) and flatter it.
    let samples: Vec<Vec<(usize, usize)>> = (0..4)
        .map(|r| {
            sample(a.subjects, a.reads, 7 + r)
                .into_iter()
                .enumerate()
                .collect()
        })
        .collect();
    let round = |vault: &Vault, who: Option<&[Access]>, fields: usize, r: usize| -> f64 {
        let secs = parallel(&samples[r], a.threads, |&(j, i)| {
            let acc = who.map_or(&op, |w| &w[j % w.len()]);
            let v = vault.read(acc, "accounts", &ids[i], None).expect("read");
            assert_eq!(v.fields.len(), fields);
        });
        a.reads as f64 / secs
    };
    let mut rounds_off = Vec::new();
    let mut rounds_decided = Vec::new();
    let mut rounds_on = Vec::new();
    for r in 0..3 {
        rounds_off.push(round(&off, None, 8, r).round());
        // The same service callers on the vault without containment: decided, not counted.
        rounds_decided.push(round(&off, Some(&plain_callers), 8, r).round());
        rounds_on.push(round(&on, Some(&plain_callers), 8, r).round());
    }
    let best_off = rounds_off.iter().copied().fold(0.0, f64::max);
    let best_decided = rounds_decided.iter().copied().fold(0.0, f64::max);
    let best_on = rounds_on.iter().copied().fold(0.0, f64::max);
    let issue_rate = round(&on, Some(&issue_callers), 3, 3);
    let held = kura_store::ContainmentStore::windows_held(&*sqlite)?;
    let http = http_rounds(a, &dir.join("data"), on, &ids)?;
    let trips = sink.0.load(Ordering::Relaxed);
    anyhow::ensure!(
        trips == 0,
        "containment tripped {trips} times in the policy bench"
    );
    Ok(json!({
        "principals": PRINCIPALS,
        "read_per_s_bypass": best_off.round(),
        "read_per_s_check_on": best_on.round(),
        "read_per_s_issue_policy": issue_rate.round(),
        "read_per_s_decided_not_counted": best_decided.round(),
        "decided_vs_bypass": (best_decided / best_off * 1000.0).round() / 1000.0,
        "check_on_vs_decided": (best_on / best_decided * 1000.0).round() / 1000.0,
        "rounds_bypass": rounds_off,
        "rounds_decided_not_counted": rounds_decided,
        "rounds_check_on": rounds_on,
        "check_on_vs_bypass": (best_on / best_off * 1000.0).round() / 1000.0,
        "overhead_pct": ((1.0 - best_on / best_off) * 1000.0).round() / 10.0,
        "containment": "windows in the store (contain.db), admission leases (one transaction per lease, not per read)",
        "containment_principals": held.0,
        "containment_entries": held.1,
        "http": http,
    }))
}

/// Reads over loopback HTTP through the real server: the operator's bootstrap key against
/// 1,000 service principals (stored rows, joined at authentication, policies parsed once per
/// principal), alternating, best of two each.
fn http_rounds(a: &BenchArgs, data: &Path, on: Vault, ids: &[Uuid]) -> Result<Value> {
    let vault = Arc::new(on);
    let sqlite = Arc::new(SqliteStore::open(data, Durability::Normal)?);
    let schema = kura_model::Schema::builtin();
    let op_secret = super::bench::bench_operator(&*sqlite, "bench-operator")?;
    let spec = kura_policy::PolicySpec::from_json(&policy(
        r#""login_id":"plain","online_id":"plain","name":"plain","email":"plain","phone":"plain",
           "postal_address":"plain","birth_date":"plain","gender":"plain",
           "payment_cards":"plain""#,
    ))?;
    let mut keys = Vec::with_capacity(PRINCIPALS);
    for i in 0..PRINCIPALS {
        let (_, k) = kura_admin::directory::create_principal(
            &*sqlite,
            &crate::open::SystemClock,
            &schema,
            "bench",
            kura_admin::directory::NewPrincipal {
                org: "bench-org".into(),
                name: format!("http-{i:04}"),
                kind: "service".into(),
                subject: None,
                policies: vec![spec.clone()],
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        keys.push(k.api_key);
    }
    let state = kura_server::AppState {
        store: vault.store().clone(),
        audit: sqlite.clone(),
        notices: sqlite.clone(),
        vault: vault.clone(),
        limits: kura_server::Limits::default(),
        credentials: None,
        directory: sqlite,
        policies: Arc::default(),
        metrics: Arc::default(),
        cards: None,
        clock: std::sync::Arc::new(crate::open::SystemClock),
        obligations: std::sync::Arc::new(kura_admin::obligations::Rules::default()),
        rights: None,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(kura_server::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    let n = a.reads.min(50_000);
    let jobs: Vec<(usize, usize)> = sample(a.subjects, n, 11).into_iter().enumerate().collect();
    let round = |service: bool| -> f64 {
        let secs = parallel(&jobs, a.threads, |&(j, i)| {
            thread_local!(static AGENT: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(std::time::Duration::from_secs(60)))
                .build()
                .into());
            let key = if service {
                &keys[j % keys.len()]
            } else {
                &op_secret
            };
            let url = format!("http://{addr}/v1/collections/accounts/subjects/{}", ids[i]);
            let status = AGENT.with(|agent| {
                agent
                    .get(&url)
                    .header("Authorization", &format!("Bearer {key}"))
                    .header("X-Kura-Purpose", "support")
                    .call()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            });
            assert_eq!(status, 200, "HTTP read refused in the policy bench");
        });
        n as f64 / secs
    };
    let (mut op, mut svc) = (0f64, 0f64);
    for _ in 0..2 {
        op = op.max(round(false));
        svc = svc.max(round(true));
    }
    let _ = stop_tx.send(());
    let _ = rt.block_on(server);
    Ok(json!({
        "reads": n,
        "read_per_s_operator_key": op.round(),
        "read_per_s_service_keys": svc.round(),
        "service_vs_operator": (svc / op * 1000.0).round() / 1000.0,
    }))
}
