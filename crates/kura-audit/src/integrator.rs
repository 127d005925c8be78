//! [`Integrator`]: extends the RFC 6962 tree over leaves beyond the integrated size,
//! writes the stored hashes and the subject-history index, and signs C2SP checkpoints.
//!
//! Each pass reads leaves in chunks through [`AuditStore::audit_leaves`], appends them to an
//! in-memory [`Frontier`], decodes them for the subject-history rows, and writes one
//! [`AuditIntegration`] per chunk (hashes, history and the new size in one transaction,
//! compare-and-set on the old size). A checkpoint is signed whenever
//! [`IntegratorConfig::checkpoint_every_entries`] entries have accumulated since the last
//! one, or [`IntegratorConfig::checkpoint_every_ms`] has passed with entries pending.
//!
//! Several integrators (several servers on one database) may run at once: writes are
//! idempotent and compare-and-set, a loser reloads its frontier from the stored hashes, and
//! every checkpoint any of them signs is over the same tree.
//!
//! The checkpoint origin (and key name) is `kura/<vault id in hex>`. Time comes from the
//! caller ([`Clock`]); nothing here reads the system clock.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use kura_store::{AuditIntegration, AuditStore, IntegrationOutcome};
use kura_tlog::{Checkpoint, Frontier, NoteSigner, frontier_from_reader, hash_leaf};

use crate::{AccessEvent, AuditError, StoreHashReader};

/// A source of unix milliseconds, supplied by the server (tests pass a fake).
pub trait Clock: Send + Sync {
    /// Now, in unix milliseconds.
    fn now_ms(&self) -> u64;
}

/// Tuning of the [`Integrator`].
#[derive(Debug, Clone, Copy)]
pub struct IntegratorConfig {
    /// Sign a checkpoint once this many entries are pending (`N`).
    pub checkpoint_every_entries: u64,
    /// Sign a checkpoint once this long has passed with entries pending (`T`).
    pub checkpoint_every_ms: u64,
    /// Leaves read and written per transaction.
    pub chunk: usize,
    /// How often the background thread looks for new leaves.
    pub poll_ms: u64,
}

impl Default for IntegratorConfig {
    fn default() -> Self {
        IntegratorConfig {
            checkpoint_every_entries: 100_000,
            checkpoint_every_ms: 1000,
            chunk: 8192,
            poll_ms: 100,
        }
    }
}

/// What one integration pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntegrateReport {
    /// Integrated size before the pass.
    pub from: u64,
    /// Integrated size after the pass.
    pub to: u64,
    /// Checkpoints signed during the pass.
    pub checkpoints: u64,
    /// Size of the latest stored checkpoint after the pass.
    pub checkpoint_size: Option<u64>,
    /// Leaves that did not decode as access events (integrated into the tree anyway, but
    /// absent from the subject history; verification reports them).
    pub undecodable: u64,
}

struct State {
    frontier: Frontier,
    last_cp_size: Option<u64>,
    last_cp_ms: u64,
}

/// The checkpoint origin of a vault: `kura/<vault id in lowercase hex>`.
#[must_use]
pub fn origin_for(vault_id: &[u8; 16]) -> String {
    let mut s = String::with_capacity(5 + 32);
    s.push_str("kura/");
    for b in vault_id {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Builds the integrator's tree and signs its checkpoints.
pub struct Integrator {
    store: Arc<dyn AuditStore>,
    signer: NoteSigner,
    cfg: IntegratorConfig,
    state: Mutex<State>,
}

impl std::fmt::Debug for Integrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrator")
            .field("origin", &self.signer.name())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Integrator {
    /// An integrator over `store`, signing with the Ed25519 key whose seed is
    /// `signing_seed` (from `KeyProvider::derive(KeyPurpose::AuditSigning)`).
    ///
    /// # Errors
    /// Store failures; [`AuditError::Tlog`] if the stored hashes cannot rebuild the tree.
    pub fn new(
        store: Arc<dyn AuditStore>,
        signing_seed: &[u8; 32],
        cfg: IntegratorConfig,
    ) -> Result<Self, AuditError> {
        let origin = origin_for(&store.vault_id()?);
        let signer = NoteSigner::from_seed(&origin, signing_seed)?;
        let size = store.audit_integrated_size()?;
        let frontier = frontier_from_reader(size, &StoreHashReader(&*store))?;
        let last_cp_size = store.latest_audit_checkpoint()?.map(|(s, _)| s);
        Ok(Integrator {
            store,
            signer,
            cfg: IntegratorConfig {
                chunk: cfg.chunk.max(1),
                checkpoint_every_entries: cfg.checkpoint_every_entries.max(1),
                ..cfg
            },
            state: Mutex::new(State {
                frontier,
                last_cp_size,
                last_cp_ms: 0,
            }),
        })
    }

    /// The checkpoint origin and signing key name.
    #[must_use]
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The verifier key (C2SP vkey) for this integrator's checkpoints.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// Integrates every leaf written so far and signs a checkpoint at the final size if
    /// the latest checkpoint is smaller (or none exists). For tests, the CLI and shutdown.
    ///
    /// # Errors
    /// Store failures; [`AuditError::EntryMissing`] if a sequence number has no leaf.
    pub fn integrate_now(&self, now_ms: u64) -> Result<IntegrateReport, AuditError> {
        self.pass(now_ms, true)
    }

    /// One background pass: integrate, and sign only when `N` entries or `T` ms are due.
    ///
    /// # Errors
    /// As [`Integrator::integrate_now`].
    pub fn integrate_due(&self, now_ms: u64) -> Result<IntegrateReport, AuditError> {
        self.pass(now_ms, false)
    }

    fn pass(&self, now_ms: u64, force: bool) -> Result<IntegrateReport, AuditError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let reader = StoreHashReader(&*self.store);
        let stored_size = self.store.audit_integrated_size()?;
        if stored_size != st.frontier.size() {
            // Another integrator moved on (or we lost a race): resume from the store.
            st.frontier = frontier_from_reader(stored_size, &reader)?;
        }
        if let Some((s, _)) = self.store.latest_audit_checkpoint()?
            && st.last_cp_size.is_none_or(|mine| mine < s)
        {
            st.last_cp_size = Some(s);
        }
        if st.last_cp_ms == 0 {
            st.last_cp_ms = now_ms;
        }
        let mut report = IntegrateReport {
            from: st.frontier.size(),
            to: st.frontier.size(),
            ..IntegrateReport::default()
        };
        let target = self.store.audit_size()?;
        while st.frontier.size() < target {
            let from = st.frontier.size();
            let mut to = target.min(from + self.cfg.chunk as u64);
            // Stop at the next multiple of N past the last checkpoint, so checkpoints land
            // exactly every N entries.
            let boundary = st.last_cp_size.unwrap_or(0) + self.cfg.checkpoint_every_entries;
            if boundary > from {
                to = to.min(boundary);
            }
            let leaves = self.store.audit_leaves(from, to)?;
            let mut next = st.frontier.clone();
            let first_hash_index = next.next_stored_index();
            let mut hashes = Vec::with_capacity(leaves.len() * 2);
            let mut history = Vec::new();
            for (i, (seq, leaf)) in leaves.iter().enumerate() {
                let want = from + i as u64;
                if *seq != want {
                    return Err(AuditError::EntryMissing { index: want });
                }
                next.append(hash_leaf(leaf), &mut hashes)?;
                match AccessEvent::from_leaf(leaf) {
                    Ok(ev) => history.extend(ev.subjects.iter().map(|iid| (iid, *seq))),
                    Err(_) => report.undecodable += 1,
                }
            }
            if next.size() != to {
                return Err(AuditError::EntryMissing { index: next.size() });
            }
            let batch = AuditIntegration {
                from,
                to,
                first_hash_index,
                hashes: hashes.iter().map(|h| h.0).collect(),
                history,
            };
            match self.store.integrate_audit(&batch)? {
                IntegrationOutcome::Applied => st.frontier = next,
                IntegrationOutcome::Stale(size) => {
                    st.frontier = frontier_from_reader(size, &reader)?;
                    if size >= target {
                        break;
                    }
                    continue;
                }
            }
            let pending = st.frontier.size() - st.last_cp_size.unwrap_or(0);
            if pending >= self.cfg.checkpoint_every_entries {
                self.sign(&mut st, now_ms)?;
                report.checkpoints += 1;
            }
        }
        report.to = st.frontier.size();
        let size = st.frontier.size();
        let due = match st.last_cp_size {
            None => force || size > 0,
            Some(s) if s < size => {
                force
                    || size - s >= self.cfg.checkpoint_every_entries
                    || now_ms.saturating_sub(st.last_cp_ms) >= self.cfg.checkpoint_every_ms
            }
            Some(_) => false,
        };
        if due {
            self.sign(&mut st, now_ms)?;
            report.checkpoints += 1;
        }
        report.checkpoint_size = st.last_cp_size;
        Ok(report)
    }

    fn sign(&self, st: &mut State, now_ms: u64) -> Result<(), AuditError> {
        let size = st.frontier.size();
        let cp = Checkpoint::new(self.signer.name(), size, st.frontier.root())?;
        let signed = cp.sign(&self.signer)?;
        self.store.put_audit_checkpoint(size, &signed)?;
        st.last_cp_size = Some(size);
        st.last_cp_ms = now_ms;
        Ok(())
    }

    /// Starts the background thread: a pass every [`IntegratorConfig::poll_ms`], errors
    /// handed to `on_error` (the server logs them; the next pass retries). Stops when the
    /// handle is stopped or dropped, after a final [`Integrator::integrate_now`].
    ///
    /// # Errors
    /// [`AuditError::Store`] (a backend error) if the thread cannot be spawned.
    pub fn start(
        self: Arc<Self>,
        clock: Arc<dyn Clock>,
        on_error: impl Fn(&AuditError) + Send + 'static,
    ) -> Result<IntegratorHandle, AuditError> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = Arc::clone(&stop);
        let poll = Duration::from_millis(self.cfg.poll_ms.max(1));
        let thread = std::thread::Builder::new()
            .name("kura-audit-integrator".into())
            .spawn(move || {
                let (flag, cv) = &*stop2;
                loop {
                    if let Err(e) = self.integrate_due(clock.now_ms()) {
                        on_error(&e);
                    }
                    let guard = flag.lock().unwrap_or_else(PoisonError::into_inner);
                    let (guard, _) = cv
                        .wait_timeout_while(guard, poll, |stopped| !*stopped)
                        .unwrap_or_else(PoisonError::into_inner);
                    if *guard {
                        drop(guard);
                        if let Err(e) = self.integrate_now(clock.now_ms()) {
                            on_error(&e);
                        }
                        return;
                    }
                }
            })
            .map_err(|e| {
                AuditError::Store(kura_store::StoreError::Backend(format!(
                    "cannot start the integrator thread: {e}"
                )))
            })?;
        Ok(IntegratorHandle {
            stop,
            thread: Some(thread),
        })
    }
}

/// Controls the background integrator thread; stopping (or dropping) runs a final pass.
#[derive(Debug)]
pub struct IntegratorHandle {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl IntegratorHandle {
    /// Stops the thread after a final full pass, and waits for it.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let (flag, cv) = &*self.stop;
        *flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for IntegratorHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
