//! A bounded pool for Argon2 work, so that a login flood cannot exhaust
//! memory or threads.
//!
//! Two semaphores:
//! * **admission** with `workers + queue` permits, taken with `try_acquire`:
//!   when none is left the request is refused at once with
//!   [`CredentialError::Busy`] (the server answers 503 with `Retry-After`);
//!   refusal does no hashing and allocates nothing of note;
//! * **execution** with `workers` permits: at most `workers` Argon2 runs
//!   happen at any moment, each on tokio's blocking thread pool.
//!
//! Each running computation takes one of `workers` reusable working-memory
//! buffers (allocated on first use, wiped after each hash). Peak Argon2
//! memory is therefore `workers × m KiB` (≈ 19 MiB per worker at the default
//! parameters) plus `queue` waiting requests of a few hundred bytes each,
//! whatever the allocator does. An admitted request keeps its place even if its caller goes
//! away; the hash completes and the result is dropped.
//!
//! What it leaves out: per-client fairness (the server's rate limits and the
//! per-account [`crate::throttle`] handle that).

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::error::{CredentialError, Result};
use crate::hash::{Memory, PasswordHasher, Verified};
use crate::secret::Password;

/// Pool sizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Concurrent Argon2 computations (default: number of cores).
    pub workers: usize,
    /// Requests that may wait for a worker (default: 2 × workers).
    pub queue: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let workers = std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(1);
        Self {
            workers,
            queue: 2 * workers,
        }
    }
}

/// The bounded hashing pool; cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct HashPool {
    hasher: Arc<PasswordHasher>,
    admission: Arc<Semaphore>,
    execution: Arc<Semaphore>,
    /// At most `workers` buffers; a computation holds one while it runs.
    memory: Arc<Mutex<Vec<Memory>>>,
    config: PoolConfig,
}

impl HashPool {
    /// A pool running `hasher` with at most `config.workers` concurrent
    /// computations and `config.queue` waiting requests.
    ///
    /// # Errors
    /// `invalid_config` when `workers` is zero.
    pub fn new(hasher: Arc<PasswordHasher>, config: PoolConfig) -> Result<Self> {
        if config.workers == 0 {
            return Err(CredentialError::InvalidConfig {
                reason: "hashing pool needs at least one worker".to_owned(),
            });
        }
        Ok(Self {
            hasher,
            admission: Arc::new(Semaphore::new(config.workers + config.queue)),
            execution: Arc::new(Semaphore::new(config.workers)),
            memory: Arc::new(Mutex::new(Vec::with_capacity(config.workers))),
            config,
        })
    }

    /// The pool's sizing.
    #[must_use]
    pub fn config(&self) -> PoolConfig {
        self.config
    }

    /// The hasher the pool runs.
    #[must_use]
    pub fn hasher(&self) -> &Arc<PasswordHasher> {
        &self.hasher
    }

    /// Peak Argon2 working memory in KiB: `workers × m_kib`.
    #[must_use]
    pub fn peak_memory_kib(&self) -> u64 {
        self.config.workers as u64 * u64::from(self.hasher.config().m_kib)
    }

    async fn run<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&PasswordHasher, &mut Memory) -> T + Send + 'static,
    {
        let admitted = Arc::clone(&self.admission)
            .try_acquire_owned()
            .map_err(|_| CredentialError::Busy)?;
        let running = Arc::clone(&self.execution)
            .acquire_owned()
            .await
            .map_err(|_| CredentialError::Internal)?;
        let hasher = Arc::clone(&self.hasher);
        let buffers = Arc::clone(&self.memory);
        tokio::task::spawn_blocking(move || {
            // Holding an execution permit guarantees a free buffer slot: at
            // most `workers` buffers exist and each permit holder has one.
            // A poisoned lock only means another job panicked; the Vec of
            // wiped buffers is still sound.
            let take = || buffers.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut memory = take().unwrap_or_default();
            let out = job(&hasher, &mut memory);
            buffers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(memory);
            drop(running);
            drop(admitted);
            out
        })
        .await
        .map_err(|_| CredentialError::Internal)
    }

    /// Hashes a new password on the pool.
    ///
    /// # Errors
    /// `busy` when the pool is saturated; otherwise as [`PasswordHasher::hash`].
    pub async fn hash(&self, password: Password) -> Result<String> {
        self.run(move |h, m| h.hash_in(&password, m)).await?
    }

    /// Verifies a login. `stored` is the account's PHC string, or `None` when
    /// the login id matches no account: then the dummy path runs at the same
    /// cost and the answer is the same `invalid_credentials`.
    ///
    /// # Errors
    /// `busy`; `invalid_credentials`; others as [`PasswordHasher::verify`].
    pub async fn verify(&self, password: Password, stored: Option<String>) -> Result<Verified> {
        self.run(move |h, m| match stored {
            Some(phc) => h.verify_in(&password, &phc, m),
            None => Err(h.verify_unknown_account_in(&password, m)),
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Argon2Config;
    use crate::secret::Pepper;
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flood_is_refused_quickly_and_bounded() {
        let hasher = Arc::new(
            PasswordHasher::new(Argon2Config::default(), Pepper::new(1, [1; 32])).expect("h"),
        );
        let phc = hasher.hash(&Password::from("flood test pw")).expect("hash");
        let pool = HashPool::new(
            hasher,
            PoolConfig {
                workers: 1,
                queue: 2,
            },
        )
        .expect("pool");
        assert_eq!(pool.peak_memory_kib(), 19_456);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let pool = pool.clone();
            let phc = phc.clone();
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let r = pool
                    .verify(Password::from("flood test pw"), Some(phc))
                    .await;
                (r.map(|_| ()).map_err(|e| e.code()), t.elapsed())
            }));
        }
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            let (r, took) = t.await.expect("join");
            match r {
                Ok(()) => ok += 1,
                Err("busy") => {
                    busy += 1;
                    assert!(took < Duration::from_millis(50), "refusal took {took:?}");
                }
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert!(ok >= 3, "at least workers + queue admitted, got {ok}");
        assert!(busy >= 10, "excess refused, got {busy}");
        assert_eq!(ok + busy, 20);
        // Capacity comes back once the flood is over.
        let v = pool
            .verify(Password::from("flood test pw"), Some(phc))
            .await
            .expect("after flood");
        assert!(!v.needs_rehash);
        let e = pool
            .verify(Password::from("x"), None)
            .await
            .expect_err("unknown");
        assert_eq!(e.code(), "invalid_credentials");
    }
}
