//! `kura bench --only policy`: what the policy check and quota accounting cost on reads.
//!
//! One store of `--subjects` subjects is read `--reads` times, at random, by `--threads`
//! clients, through two vaults over the same store, keys and access log:
//! - **bypass**: the operator grant on a vault without containment — the decision's
//!   shortest path and no counting (the bench-only stand-in for "no check");
//! - **check on**: 1,000 service principals, each holding a policy that grants the same
//!   eight fields in plain (so both sides open and return the same data), counted by
//!   containment under a quota no one reaches;
//! - **issue policy**: the same principals under the issue's example policy (masked e-mail
//!   and phone, denied birth date): reported for information; it opens fewer fields.
//!
//! Rounds alternate (bypass, on, three times each) and each side reports its best round, so that
//! neither side gets a warmer cache or a quieter machine by its position.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use kura_crypto::KeyFile;
use kura_policy::{Containment, DraftIncident, Policy, PrincipalKind};
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
    fn contained(&self, _: &DraftIncident, _: u64) {
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
    let store: kura_store::DynStore = Arc::new(SqliteStore::create(
        &dir.join("data"),
        id,
        Durability::Normal,
    )?);
    let appender = Arc::new(kura_audit::Appender::start(
        store.clone(),
        kura_audit::AppenderConfig::default(),
    )?);
    let vault = |containment: Option<(Arc<Containment>, Arc<CountingSink>)>| -> Result<Vault> {
        let v = Vault::new(
            kura_model::Schema::builtin(),
            store.clone(),
            Arc::new(KeyFile::open(&key_path)?),
            VaultOptions::default(),
            appender.clone(),
            Arc::new(crate::open::SystemClock),
        )?;
        Ok(match containment {
            Some((c, s)) => v.with_containment(c, s),
            None => v,
        })
    };
    let off = vault(None)?;
    let sink = Arc::new(CountingSink::default());
    let on = vault(Some((Arc::new(Containment::new()), sink.clone())))?;

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
           "postal_address":"plain","birth_date":"plain","gender":"plain""#,
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
    let reads = sample(a.subjects, a.reads, 7);
    let jobs: Vec<(usize, usize)> = reads.iter().enumerate().map(|(j, &i)| (j, i)).collect();
    let round = |vault: &Vault, who: Option<&[Access]>, fields: usize| -> f64 {
        let secs = parallel(&jobs, a.threads, |&(j, i)| {
            let acc = who.map_or(&op, |w| &w[j % w.len()]);
            let v = vault.read(acc, "accounts", &ids[i], None).expect("read");
            assert_eq!(v.fields.len(), fields);
        });
        a.reads as f64 / secs
    };
    let mut best_off: f64 = 0.0;
    let mut best_on: f64 = 0.0;
    for _ in 0..3 {
        best_off = best_off.max(round(&off, None, 8));
        best_on = best_on.max(round(&on, Some(&plain_callers), 8));
    }
    let issue_rate = round(&on, Some(&issue_callers), 3);
    let trips = sink.0.load(Ordering::Relaxed);
    anyhow::ensure!(
        trips == 0,
        "containment tripped {trips} times in the policy bench"
    );
    let stats = on.containment().map(|c| c.stats());
    Ok(json!({
        "principals": PRINCIPALS,
        "read_per_s_bypass": best_off.round(),
        "read_per_s_check_on": best_on.round(),
        "read_per_s_issue_policy": issue_rate.round(),
        "check_on_vs_bypass": (best_on / best_off * 1000.0).round() / 1000.0,
        "overhead_pct": ((1.0 - best_on / best_off) * 1000.0).round() / 10.0,
        "containment_principals": stats.map(|s| s.principals),
        "containment_entries": stats.map(|s| s.entries),
    }))
}
