//! Measurements for `kura bench`: group-commit append throughput and latency under
//! concurrent load, and integration, proof generation and full verification of a large log
//! — all on a real store the caller opens (SQLite or PostgreSQL).
//!
//! This module reads the wall and monotonic clocks (that is its job, and [`WallClock`] is
//! offered to the server for the [`Integrator`]); nothing else in the crate does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kura_store::{AuditStore, DynStore};
use serde::Serialize;

use crate::{
    AccessEvent, Action, Appender, AppenderConfig, AuditError, Clock, Integrator, IntegratorConfig,
    consistency_proof, inclusion_proof, verifier_key, verify,
};

/// The system clock, in unix milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A typical single-subject read event (what a support lookup logs), about 100 bytes.
#[must_use]
pub fn sample_event(i: u64) -> AccessEvent {
    AccessEvent::new(
        1_700_000_000_000 + i,
        "svc-support-eu",
        "support",
        Action::Read,
        "accounts",
        &format!("req-{i:016x}"),
    )
    .with_subjects([1 + i % 1_000_003])
    .with_fields(["email", "phone", "postal_address"])
}

/// Options of [`bench_append`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AppendOptions {
    /// Concurrent request threads.
    pub threads: usize,
    /// Events each thread appends.
    pub events_per_thread: u64,
    /// Outstanding appends per thread (1: each request blocks until its event is durable;
    /// more: an async server with that many requests in flight per worker).
    pub in_flight: usize,
    /// Most events per store write.
    pub max_batch: usize,
}

/// Result of [`bench_append`].
#[derive(Debug, Clone, Serialize)]
pub struct AppendBench {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// What was asked.
    pub options: AppendOptions,
    /// Events appended.
    pub events: u64,
    /// Bytes per leaf of the sample event.
    pub leaf_bytes: usize,
    /// Wall time.
    pub seconds: f64,
    /// Events durable per second.
    pub events_per_second: f64,
    /// Store writes (group commits).
    pub batches: u64,
    /// Mean events per store write.
    pub mean_batch: f64,
    /// Median time from submit to durable, microseconds.
    pub latency_p50_micros: f64,
    /// 99th percentile of the same.
    pub latency_p99_micros: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Appends `threads × events_per_thread` events through one [`Appender`] on `store`.
///
/// # Errors
/// Any append failure.
pub fn bench_append(store: DynStore, opts: AppendOptions) -> Result<AppendBench, AuditError> {
    let backend = store.backend();
    let appender = Arc::new(Appender::start(
        store,
        AppenderConfig {
            max_batch: opts.max_batch,
            max_queue: (opts.max_batch * 4).max(opts.threads * opts.in_flight.max(1)),
        },
    )?);
    let leaf_bytes = sample_event(0).to_leaf()?.len();
    let start = Instant::now();
    let workers: Vec<_> = (0..opts.threads)
        .map(|t| {
            let app = Arc::clone(&appender);
            std::thread::spawn(move || -> Result<Vec<f64>, AuditError> {
                let mut lat = Vec::with_capacity(opts.events_per_thread as usize);
                let mut pending = VecDeque::new();
                let base = t as u64 * opts.events_per_thread;
                for i in 0..opts.events_per_thread {
                    let t0 = Instant::now();
                    pending.push_back((t0, app.submit(&sample_event(base + i))?));
                    if pending.len() >= opts.in_flight.max(1)
                        && let Some((t0, ticket)) = pending.pop_front()
                    {
                        let _ = ticket.wait()?;
                        lat.push(t0.elapsed().as_secs_f64() * 1e6);
                    }
                }
                for (t0, ticket) in pending {
                    let _ = ticket.wait()?;
                    lat.push(t0.elapsed().as_secs_f64() * 1e6);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        let part = w.join().map_err(|_| AuditError::AppenderClosed)??;
        lat.extend(part);
    }
    let seconds = start.elapsed().as_secs_f64();
    let (batches, events) = appender.stats();
    appender.shutdown();
    lat.sort_by(f64::total_cmp);
    Ok(AppendBench {
        backend,
        options: opts,
        events,
        leaf_bytes,
        seconds,
        events_per_second: events as f64 / seconds,
        batches,
        mean_batch: events as f64 / batches.max(1) as f64,
        latency_p50_micros: percentile(&lat, 0.5),
        latency_p99_micros: percentile(&lat, 0.99),
    })
}

/// Result of [`bench_log`].
#[derive(Debug, Clone, Serialize)]
pub struct LogBench {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Entries in the log.
    pub entries: u64,
    /// Bytes per leaf.
    pub leaf_bytes: usize,
    /// Time to write the leaves with direct `append_audit` calls of `fill_batch` leaves
    /// (not through the appender; see [`bench_append`] for that).
    pub fill_seconds: f64,
    /// Leaves per direct write while filling.
    pub fill_batch: usize,
    /// Time for [`Integrator::integrate_now`] over all entries: read leaves, hash, write
    /// stored hashes and subject history, sign checkpoints.
    pub integrate_seconds: f64,
    /// Entries integrated per second.
    pub integrate_entries_per_second: f64,
    /// Checkpoints signed.
    pub checkpoints: usize,
    /// Proofs of each kind generated for the means.
    pub proof_samples: usize,
    /// Mean time to generate one inclusion proof at full size, from the store.
    pub inclusion_proof_micros: f64,
    /// Mean time to generate one consistency proof to full size, from the store.
    pub consistency_proof_micros: f64,
    /// Time for a full [`verify`]: every leaf re-read and re-hashed, every stored hash
    /// compared, every checkpoint checked, every leaf decoded.
    pub verify_seconds: f64,
    /// Entries verified per second.
    pub verify_entries_per_second: f64,
}

/// Fills `store` (which must hold an empty log) with `entries` sample events, integrates
/// them with a checkpoint every `checkpoint_every` entries, times `proof_samples` proofs of
/// each kind at full size, and verifies the whole log.
///
/// # Errors
/// Any store, integration, proof or verification failure.
pub fn bench_log(
    store: Arc<dyn AuditStore>,
    entries: u64,
    checkpoint_every: u64,
    proof_samples: usize,
) -> Result<LogBench, AuditError> {
    let seed = [0x5a; 32];
    let fill_batch = 20_000usize;
    let leaf_bytes = sample_event(0).to_leaf()?.len();
    let start = Instant::now();
    let mut i = 0u64;
    let mut buf = Vec::with_capacity(fill_batch);
    while i < entries {
        buf.clear();
        let n = (entries - i).min(fill_batch as u64);
        for k in 0..n {
            buf.push(sample_event(i + k).to_leaf()?);
        }
        store.append_audit(&buf)?;
        i += n;
    }
    let fill_seconds = start.elapsed().as_secs_f64();

    let integ = Integrator::new(
        Arc::clone(&store),
        &seed,
        IntegratorConfig {
            checkpoint_every_entries: checkpoint_every,
            chunk: 16_384,
            ..IntegratorConfig::default()
        },
    )?;
    let start = Instant::now();
    integ.integrate_now(WallClock.now_ms())?;
    let integrate_seconds = start.elapsed().as_secs_f64();
    let checkpoints = store.audit_checkpoints()?.len();

    // Spread sample indexes over the log with a fixed multiplicative step.
    let pick = |k: usize, modulo: u64| -> u64 {
        (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) % modulo.max(1)
    };
    let start = Instant::now();
    for k in 0..proof_samples {
        let _ = inclusion_proof(&*store, pick(k, entries), entries)?;
    }
    let inclusion_proof_micros = start.elapsed().as_secs_f64() * 1e6 / proof_samples.max(1) as f64;
    let start = Instant::now();
    for k in 0..proof_samples {
        let _ = consistency_proof(&*store, 1 + pick(k, entries - 1), entries)?;
    }
    let consistency_proof_micros =
        start.elapsed().as_secs_f64() * 1e6 / proof_samples.max(1) as f64;

    let vkey = verifier_key(&store.vault_id()?, &seed)?;
    let start = Instant::now();
    let report = verify(&*store, &vkey, None)?;
    let verify_seconds = start.elapsed().as_secs_f64();
    Ok(LogBench {
        backend: store.backend(),
        entries: report.entries,
        leaf_bytes,
        fill_seconds,
        fill_batch,
        integrate_seconds,
        integrate_entries_per_second: entries as f64 / integrate_seconds,
        checkpoints,
        proof_samples,
        inclusion_proof_micros,
        consistency_proof_micros,
        verify_seconds,
        verify_entries_per_second: report.entries as f64 / verify_seconds,
    })
}
