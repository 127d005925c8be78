//! `kura bench --only scope`: what breach scoping costs as the log and the vault grow.
//!
//! A vault of `--subjects` synthetic people (created through the vault, in batches) and an
//! access log of `--events` read and search events by 1,000 service principals (written as
//! real leaves, in batches: the same bytes a server appends), then one scoping pass per
//! vector — a stolen key (one principal's grants), an insider (what it touched), a dump
//! without keys and with them — through `kura_admin::scope::compute`, the function behind
//! `kura incident scope`. Reports each pass's wall time and rates, and the time per event
//! and per subject fitted from the passes, for extrapolation.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use kura_audit::{AccessEvent, Action};
use kura_scope::{Grant, Scope, Vector};
use kura_store::Store as _;
use kura_vault::SubjectInput;
use serde_json::{Value, json};

use super::bench::{BATCH, BenchArgs, input, mix, open_store_vault};

/// Events written per store transaction.
const EVENT_BATCH: usize = 10_000;
/// The suspect: one of the 1,000 principals.
const SUSPECT: &str = "svc-0007";

pub fn run(dir: &Path, a: &BenchArgs) -> Result<Value> {
    let events = a.events.unwrap_or(a.subjects * 10);
    let (store, vault) = open_store_vault(dir)?;
    let acc = kura_vault::Access::operator("bench", "bench");
    let start = Instant::now();
    let mut first_iid = None;
    for from in (0..a.subjects).step_by(BATCH) {
        let to = (from + BATCH).min(a.subjects);
        let inputs: Vec<SubjectInput> = (from..to).map(input).collect();
        for r in vault.create_batch(&acc, "accounts", inputs) {
            r?;
        }
        if first_iid.is_none() {
            first_iid = store.scan_subjects(0, 1)?.first().map(|s| s.iid);
        }
    }
    let load_subjects_s = start.elapsed().as_secs_f64();
    let base = first_iid.unwrap_or(1);
    // The log: 98 % single reads of one subject (three fields, two of them masked or as a
    // token), 2 % searches returning 20 subjects; times one ms apart.
    let t0 = 1_800_000_000_000_u64;
    let start = Instant::now();
    let mut e = 0usize;
    while e < events {
        let n = EVENT_BATCH.min(events - e);
        let mut leaves = Vec::with_capacity(n);
        for k in e..e + n {
            let r = mix(k as u64 ^ 0x5c0e);
            let principal = format!("svc-{:04}", r % 1000);
            let subject = |j: u64| base + mix(r ^ j) % a.subjects as u64;
            let ev = if k % 50 == 0 {
                AccessEvent::new(
                    t0 + k as u64,
                    &principal,
                    "support",
                    Action::Search,
                    "accounts",
                    "b",
                )
                .with_subjects((0..20).map(subject))
                .with_fields(["email:masked", "name"])
            } else {
                AccessEvent::new(
                    t0 + k as u64,
                    &principal,
                    "support",
                    Action::Read,
                    "accounts",
                    "b",
                )
                .with_subjects([subject(0)])
                .with_fields(["email:masked", "name", "phone:token"])
            };
            leaves.push(ev.to_leaf()?);
        }
        store.append_audit(&leaves)?;
        e += n;
    }
    let load_events_s = start.elapsed().as_secs_f64();
    let size = store.audit_size()?;
    let schema = kura_model::Schema::builtin();
    let grants: Vec<Grant> = [("name", "plain"), ("email", "masked"), ("phone", "token")]
        .iter()
        .map(|(f, m)| Grant {
            principal: SUSPECT.into(),
            collection: "accounts".into(),
            field: (*f).into(),
            mode: (*m).into(),
        })
        .collect();
    let scope = |vector: Vector, keys_exposed: bool| Scope {
        from_ms: 0,
        to_ms: u64::MAX,
        suspects: BTreeSet::from([SUSPECT.to_owned()]),
        vector,
        keys_exposed,
        grants: grants.clone(),
        canaries: Default::default(),
        orgs: Default::default(),
    };
    let mut passes = Vec::new();
    for (name, vector, keys) in [
        ("stolen_key", Vector::StolenKey, false),
        ("insider", Vector::Insider, false),
        ("db_dump", Vector::DbDump, false),
        ("db_dump_with_keys", Vector::DbDump, true),
    ] {
        eprintln!(
            "bench: scope {name} over {size} events, {} subjects ...",
            a.subjects
        );
        let start = Instant::now();
        // When the subject stage starts: the split between reading the log and the vault.
        let mut log_secs = None;
        let m = kura_admin::scope::compute(
            &*store,
            &schema,
            scope(vector, keys),
            size,
            &mut |stage, _, _| {
                if stage == "subjects" && log_secs.is_none() {
                    log_secs = Some(start.elapsed().as_secs_f64());
                }
            },
        )?;
        let secs = start.elapsed().as_secs_f64();
        let log_secs = log_secs.unwrap_or(secs);
        passes.push(json!({
            "vector": name,
            "secs": (secs * 1000.0).round() / 1000.0,
            "log_secs": (log_secs * 1000.0).round() / 1000.0,
            "subjects_secs": ((secs - log_secs) * 1000.0).round() / 1000.0,
            "events_per_s": (size as f64 / secs).round(),
            "people": m.people,
            "people_confirmed": m.people_confirmed,
            "events_used": m.events_used,
        }));
    }
    Ok(json!({
        "subjects": a.subjects,
        "events": size,
        "load_subjects_s": (load_subjects_s * 10.0).round() / 10.0,
        "load_events_s": (load_events_s * 10.0).round() / 10.0,
        "passes": passes,
        "peak_rss_mb": peak_rss_mb(),
    }))
}

/// The process's peak resident set (Linux), in MB; it covers generation as well.
fn peak_rss_mb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
