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

use kura_audit::{
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

/// Options of [`bench_overhead`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OverheadOptions {
    /// Subjects inserted first (400 bytes of sealed fields each).
    pub subjects: u64,
    /// Concurrent request threads.
    pub threads: usize,
    /// Operations per thread in each phase.
    pub ops_per_thread: u64,
}

/// Result of [`bench_overhead`]: what the access log costs a read and a write at the store
/// level (no cryptography, no HTTP: the vault and server add the same on both sides).
#[derive(Debug, Clone, Serialize)]
pub struct OverheadBench {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// What was asked.
    pub options: OverheadOptions,
    /// `Store::subject` calls per second, no access event.
    pub reads_per_second_unlogged: f64,
    /// The same, each read preceded by a blocking [`Appender::append`] of its event
    /// (group-committed across threads) — the fail-closed read path.
    pub reads_per_second_logged: f64,
    /// Median read latency without the log, microseconds.
    pub read_p50_micros_unlogged: f64,
    /// Median read latency with the log, microseconds.
    pub read_p50_micros_logged: f64,
    /// `Store::update_subject` calls per second with no leaf.
    pub writes_per_second_unlogged: f64,
    /// The same with the event's leaf written in the same transaction.
    pub writes_per_second_logged: f64,
}

fn run_phase<F>(threads: usize, ops: u64, f: F) -> Result<(f64, f64), AuditError>
where
    F: Fn(usize, u64) -> Result<(), AuditError> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || -> Result<Vec<f64>, AuditError> {
                let mut lat = Vec::with_capacity(ops as usize);
                for i in 0..ops {
                    let t0 = Instant::now();
                    f(t, i)?;
                    lat.push(t0.elapsed().as_secs_f64() * 1e6);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.join().map_err(|_| AuditError::AppenderClosed)??);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    Ok((lat.len() as f64 / secs, percentile(&lat, 0.5)))
}

/// Measures reads and writes with and without their access events on `store`, which must
/// be empty of subjects in collection `bench`.
///
/// # Errors
/// Any store or append failure.
pub fn bench_overhead(store: DynStore, opts: OverheadOptions) -> Result<OverheadBench, AuditError> {
    use kura_store::{NewSubject, SubjectUpdate, UpdateOutcome, Uuid};
    let n = opts.subjects.max(opts.threads as u64);
    let first_iid = store.reserve_iids(n)?;
    let id = |i: u64| Uuid::from_u128(0x6b75_7261_0000_0000_0000_0000_0000_0000 | u128::from(i));
    let mut batch = Vec::with_capacity(1000);
    let mut i = 0;
    while i < n {
        batch.clear();
        for k in i..n.min(i + 1000) {
            batch.push(NewSubject {
                id: id(k),
                iid: first_iid + k,
                collection: "bench".into(),
                country: "JP".into(),
                locale: "ja".into(),
                fields: vec![(k % 251) as u8; 400],
                tokens: Vec::new(),
                wrapped_key: kura_crypto::WrappedKey {
                    kek_version: 1,
                    bytes: vec![7; 72],
                },
            });
        }
        store.insert_subjects(&batch, &[])?;
        i += 1000;
    }
    let pick = move |t: usize, i: u64| -> u64 {
        (((t as u64) << 32) ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15) % n
    };
    let read = {
        let store = Arc::clone(&store);
        move |t: usize, i: u64| -> Result<(), AuditError> {
            let _ = store.subject("bench", &id(pick(t, i)))?;
            Ok(())
        }
    };
    let (r_plain, r_plain_p50) = run_phase(opts.threads, opts.ops_per_thread, read)?;
    let appender = Arc::new(Appender::start(
        Arc::clone(&store),
        AppenderConfig::default(),
    )?);
    let logged_read = {
        let store = Arc::clone(&store);
        let app = Arc::clone(&appender);
        move |t: usize, i: u64| -> Result<(), AuditError> {
            let k = pick(t, i);
            let ev = sample_event(k).with_subjects([first_iid + k]);
            let _proof = app.append(&ev)?;
            let _ = store.subject("bench", &id(k))?;
            Ok(())
        }
    };
    let (r_logged, r_logged_p50) = run_phase(opts.threads, opts.ops_per_thread, logged_read)?;
    appender.shutdown();

    // Writes: each thread patches its own subjects, so versions are known.
    let threads = opts.threads as u64;
    let per = n / threads;
    let write = |with_leaf: bool, round: i64| {
        let store = Arc::clone(&store);
        move |t: usize, i: u64| -> Result<(), AuditError> {
            let k = t as u64 * per + i % per;
            let laps = i64::try_from(i / per).unwrap_or(0);
            let update = SubjectUpdate {
                collection: "bench".into(),
                id: id(k),
                expected_version: 1 + round + laps,
                fields: vec![1; 400],
                tokens: Vec::new(),
            };
            let leaves = if with_leaf {
                let mut ev = sample_event(k).with_subjects([first_iid + k]);
                ev.action = Action::Patch;
                vec![ev.to_leaf()?]
            } else {
                Vec::new()
            };
            match store.update_subject(&update, &leaves)? {
                UpdateOutcome::Updated(_) => Ok(()),
                _ => Err(AuditError::Encoding("bench update lost its version")),
            }
        }
    };
    let ops = opts.ops_per_thread.min(per);
    let (w_plain, _) = run_phase(opts.threads, ops, write(false, 0))?;
    let (w_logged, _) = run_phase(opts.threads, ops, write(true, 1))?;
    Ok(OverheadBench {
        backend: store.backend(),
        options: opts,
        reads_per_second_unlogged: r_plain,
        reads_per_second_logged: r_logged,
        read_p50_micros_unlogged: r_plain_p50,
        read_p50_micros_logged: r_logged_p50,
        writes_per_second_unlogged: w_plain,
        writes_per_second_logged: w_logged,
    })
}
