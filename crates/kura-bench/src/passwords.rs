//! The password benchmark (`cargo run --release -p kura-bench --example
//! bench-passwords`): Argon2id verifications per second per core at given
//! parameters, the memory they take, and how the bounded pool answers a login
//! flood.
//!
//! Memory is reported two ways: the Argon2 working set, which is exact
//! (`m` KiB per running hash, so `m × workers` at peak), and the process's
//! peak resident set (`VmHWM` from `/proc/self/status`, Linux only), which
//! also counts everything else the process holds.
//!
//! What it leaves out: the HTTP layer (the server bench measures that).
//!
//! It uses only `kura-credentials`' public API: every verification, the
//! sequential ones included, runs through a [`HashPool`], whose workers keep
//! their Argon2 working memory between hashes as a server's do. The sequential
//! phase uses a pool of one worker and awaits each verification before the
//! next; its CPU time is the process's (nothing else runs meanwhile).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kura_credentials::{
    Argon2Config, CredentialError, HashPool, Password, PasswordHasher, Pepper, PoolConfig, Result,
};
use serde::Serialize;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Argon2 parameters (default: the floor, m=19456 KiB, t=2, p=1).
    pub argon2: Argon2Config,
    /// Verifications run one after another on one thread.
    pub sequential: u32,
    /// Pool sizing for the parallel and flood phases.
    pub pool: PoolConfig,
    /// Verifications per worker in the parallel phase.
    pub per_worker: u32,
    /// Requests fired at once in the flood phase.
    pub flood_requests: u32,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            argon2: Argon2Config::default(),
            sequential: 40,
            pool: PoolConfig::default(),
            per_worker: 40,
            flood_requests: 1000,
        }
    }
}

/// How the pool answered a flood.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodReport {
    /// Requests fired at once.
    pub offered: u32,
    /// Requests admitted and hashed.
    pub accepted: u32,
    /// Requests refused with `busy` (503).
    pub refused_busy: u32,
    /// Slowest refusal, in microseconds (refusals do no hashing).
    pub max_refusal_micros: u64,
    /// Wall time until every request was answered, in seconds.
    pub seconds: f64,
}

/// The result of [`bench_password_hashing`], printed by the `bench-passwords` example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// Sequential verifications per second on one core.
    pub hashes_per_second_per_core: f64,
    /// Mean wall time of one verification, in milliseconds.
    pub mean_ms_per_hash: f64,
    /// Mean CPU time of one verification, in milliseconds (Linux; 10 ms
    /// resolution over the whole run). Unlike wall time it does not grow when
    /// other processes share the core, so `1000 / cpu_ms_per_hash` is the
    /// rate of an idle core.
    pub cpu_ms_per_hash: Option<f64>,
    /// Pool workers (concurrent hashes).
    pub workers: usize,
    /// Pool queue length.
    pub queue: usize,
    /// Verifications per second with all workers busy.
    pub pool_hashes_per_second: f64,
    /// Argon2 memory of one running hash, in KiB (= m).
    pub peak_memory_per_hash_kib: u64,
    /// Argon2 memory with every worker busy, in KiB (= m × workers).
    pub peak_hashing_memory_kib: u64,
    /// Peak resident set of the whole process (Linux `VmHWM`), in KiB.
    pub process_peak_rss_kib: Option<u64>,
    /// The flood phase.
    pub flood: FloodReport,
}

/// CPU time (user + system) of the whole process in milliseconds, from
/// `/proc/self/stat` (Linux; clock ticks of USER_HZ = 100).
fn process_cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the benchmark. Needs a tokio runtime (blocking threads are used for
/// hashing); takes roughly `(sequential + per_worker) × hash time` plus the
/// flood.
///
/// # Errors
/// `hash_params_too_weak` for bad parameters, `invalid_config` for a pool
/// without workers, `internal` if a worker fails.
pub async fn bench_password_hashing(options: BenchOptions) -> Result<BenchReport> {
    // A fixed pepper: its value does not change the work, and no real password is hashed.
    let hasher = Arc::new(PasswordHasher::new(
        options.argon2,
        Pepper::new(1, [0x6b; 32]),
    )?);
    let password = "bench password 0123456789";
    let phc = hasher.hash(&Password::from(password))?;

    // Phase 1: sequential, one core (a pool of one worker, one request at a time).
    let single = HashPool::new(
        Arc::clone(&hasher),
        PoolConfig {
            workers: 1,
            queue: 1,
        },
    )?;
    let n = options.sequential.max(1);
    let cpu_start = process_cpu_ms();
    let start = Instant::now();
    for _ in 0..n {
        let _ = single
            .verify(Password::from(password), Some(phc.clone()))
            .await?;
    }
    let seq: Duration = start.elapsed();
    let cpu_ms_per_hash = match (cpu_start, process_cpu_ms()) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / f64::from(n)),
        _ => None,
    };
    drop(single);
    let per_core = f64::from(n) / seq.as_secs_f64();

    // Phase 2: all workers busy.
    let pool = HashPool::new(Arc::clone(&hasher), options.pool)?;
    let workers = options.pool.workers;
    let per_worker = options.per_worker.max(1);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let pool = pool.clone();
        let phc = phc.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_worker {
                let _ = pool
                    .verify(Password::from(password), Some(phc.clone()))
                    .await?;
            }
            Ok::<(), CredentialError>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|_| CredentialError::Internal)??;
    }
    let pool_rate = (workers as f64 * f64::from(per_worker)) / start.elapsed().as_secs_f64();

    // Phase 3: flood.
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(options.flood_requests as usize);
    for _ in 0..options.flood_requests {
        let pool = pool.clone();
        let phc = phc.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = pool.verify(Password::from(password), Some(phc)).await;
            (r, t.elapsed())
        }));
    }
    let mut flood = FloodReport {
        offered: options.flood_requests,
        accepted: 0,
        refused_busy: 0,
        max_refusal_micros: 0,
        seconds: 0.0,
    };
    for t in tasks {
        let (r, took) = t.await.map_err(|_| CredentialError::Internal)?;
        match r {
            Ok(_) => flood.accepted += 1,
            Err(CredentialError::Busy) => {
                flood.refused_busy += 1;
                flood.max_refusal_micros = flood
                    .max_refusal_micros
                    .max(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
            }
            Err(e) => return Err(e),
        }
    }
    flood.seconds = start.elapsed().as_secs_f64();

    Ok(BenchReport {
        m_kib: options.argon2.m_kib,
        t: options.argon2.t,
        p: options.argon2.p,
        hashes_per_second_per_core: per_core,
        mean_ms_per_hash: 1000.0 / per_core,
        cpu_ms_per_hash,
        workers,
        queue: options.pool.queue,
        pool_hashes_per_second: pool_rate,
        peak_memory_per_hash_kib: u64::from(options.argon2.m_kib),
        peak_hashing_memory_kib: pool.peak_memory_kib(),
        process_peak_rss_kib: peak_rss_kib(),
        flood,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_bench_runs_and_serializes() {
        let report = bench_password_hashing(BenchOptions {
            sequential: 2,
            per_worker: 1,
            pool: PoolConfig {
                workers: 1,
                queue: 1,
            },
            flood_requests: 30,
            ..BenchOptions::default()
        })
        .await
        .expect("bench");
        assert!(report.hashes_per_second_per_core > 0.0);
        assert_eq!(report.peak_hashing_memory_kib, 19_456);
        assert_eq!(report.flood.accepted + report.flood.refused_busy, 30);
        assert!(report.flood.refused_busy >= 20, "{:?}", report.flood);
        let json = serde_json::to_string(&report).expect("json");
        assert!(json.contains("hashes_per_second_per_core"));
    }
}
