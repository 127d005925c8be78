//! [`Appender`]: group commit of access events. Many request threads hand events to one
//! writer thread, which writes everything queued with a single [`Store::append_audit`]
//! call and only then answers each caller with its leaf index.
//!
//! # Fail closed
//! A caller receives [`Appended`] only after the store reported the batch durable. If the
//! write fails, *every* caller in that batch gets [`AuditError::AppendFailed`], and must not
//! release the data the event describes. [`Appended`] cannot be built outside this crate, so
//! an API that demands one (the vault's `open`) cannot be satisfied without a logged event.
//!
//! Changes (create, patch, delete) do not go through here: their leaves are written by the
//! store in the same transaction as the change (`Store::insert_subjects` and friends).
//!
//! Left out: retries (a failed batch is failed; the next batch tries afresh) and async
//! callers (call [`Appender::append`] from a blocking pool, or [`Appender::submit`] and
//! wait later).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use kura_store::{AuditLeaf, DynStore, Store};

use crate::{AccessEvent, AuditError};

/// Proof that an event is durable in the access log at `index`. Only the appender (and
/// this crate's integration paths) can make one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub struct Appended {
    index: u64,
}

impl Appended {
    /// The event's leaf index (sequence number).
    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }
}

/// Tuning of the [`Appender`].
#[derive(Debug, Clone, Copy)]
pub struct AppenderConfig {
    /// Most leaves per store write.
    pub max_batch: usize,
    /// Most leaves queued before callers wait (back-pressure).
    pub max_queue: usize,
}

impl Default for AppenderConfig {
    fn default() -> Self {
        AppenderConfig {
            max_batch: 8192,
            max_queue: 65_536,
        }
    }
}

type Reply = Result<u64, &'static str>;

#[derive(Default)]
struct Slot {
    result: Mutex<SlotState>,
    ready: Condvar,
}

/// The reply, once the batch is written, and the task to wake then if the ticket is being
/// awaited (both under one lock, so a reply cannot slip between a poll and its waker).
#[derive(Default)]
struct SlotState {
    reply: Option<Reply>,
    waker: Option<std::task::Waker>,
}

struct Job {
    leaves: Vec<AuditLeaf>,
    slot: Arc<Slot>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    queued_leaves: usize,
    closed: bool,
}

struct Shared {
    batches: std::sync::atomic::AtomicU64,
    leaves: std::sync::atomic::AtomicU64,
    queue: Mutex<Queue>,
    work: Condvar,
    space: Condvar,
    cfg: AppenderConfig,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data (a queue, a reply) stays consistent across a panic elsewhere.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Group-committing writer of access events.
pub struct Appender {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("cfg", &self.shared.cfg)
            .finish_non_exhaustive()
    }
}

/// A submitted event awaiting its write; see [`Appender::submit`].
#[derive(Debug)]
#[must_use]
pub struct Ticket {
    slot: Arc<Slot>,
    count: usize,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

impl Ticket {
    /// Blocks until the batch holding this submission is durable (or failed).
    ///
    /// # Errors
    /// [`AuditError::AppendFailed`] if the batch could not be written.
    pub fn wait(self) -> Result<Appended, AuditError> {
        self.wait_all().map(|mut v| v.swap_remove(0))
    }

    /// As [`Ticket::wait`], for a submission of several events: one [`Appended`] each,
    /// consecutive.
    ///
    /// # Errors
    /// [`AuditError::AppendFailed`] if the batch could not be written.
    pub fn wait_all(self) -> Result<Vec<Appended>, AuditError> {
        let mut r = lock(&self.slot.result);
        while r.reply.is_none() {
            r = self
                .slot
                .ready
                .wait(r)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match r.reply.take() {
            Some(Ok(first)) => Ok((first..first + self.count as u64)
                .map(|index| Appended { index })
                .collect()),
            Some(Err(code)) => Err(AuditError::AppendFailed { code }),
            None => Err(AuditError::AppenderClosed),
        }
    }
}

/// Awaiting a ticket waits for the same durable write as [`Ticket::wait`] without holding a
/// thread: the writer wakes the task when the batch is committed. The output is the first
/// event's position (as [`Ticket::wait`]).
impl std::future::Future for Ticket {
    type Output = Result<Appended, AuditError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let mut r = lock(&self.slot.result);
        match r.reply.take() {
            Some(Ok(first)) => std::task::Poll::Ready(Ok(Appended { index: first })),
            Some(Err(code)) => std::task::Poll::Ready(Err(AuditError::AppendFailed { code })),
            None => {
                r.waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

impl Appender {
    /// Starts the writer thread over `store`.
    ///
    /// # Errors
    /// [`AuditError::AppenderClosed`] if the thread cannot be spawned.
    pub fn start(store: DynStore, cfg: AppenderConfig) -> Result<Self, AuditError> {
        let cfg = AppenderConfig {
            max_batch: cfg.max_batch.max(1),
            max_queue: cfg.max_queue.max(cfg.max_batch.max(1)),
        };
        let shared = Arc::new(Shared {
            batches: std::sync::atomic::AtomicU64::new(0),
            leaves: std::sync::atomic::AtomicU64::new(0),
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            space: Condvar::new(),
            cfg,
        });
        let s2 = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("kura-audit-appender".into())
            .spawn(move || writer(&s2, &*store))
            .map_err(|_| AuditError::AppenderClosed)?;
        Ok(Appender {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Appends one event and blocks until it is durable.
    ///
    /// # Errors
    /// [`AuditError::Encoding`], [`AuditError::AppendFailed`] (fail closed),
    /// [`AuditError::AppenderClosed`].
    pub fn append(&self, event: &AccessEvent) -> Result<Appended, AuditError> {
        self.submit(event)?.wait()
    }

    /// Queues one event without waiting; [`Ticket::wait`] blocks until it is durable.
    ///
    /// # Errors
    /// [`AuditError::Encoding`], [`AuditError::AppenderClosed`].
    pub fn submit(&self, event: &AccessEvent) -> Result<Ticket, AuditError> {
        self.submit_leaves(vec![event.to_leaf()?])
    }

    /// Queues several events to be written consecutively in one batch.
    ///
    /// # Errors
    /// [`AuditError::Encoding`], [`AuditError::AppenderClosed`].
    pub fn submit_many(&self, events: &[AccessEvent]) -> Result<Ticket, AuditError> {
        let leaves = events
            .iter()
            .map(AccessEvent::to_leaf)
            .collect::<Result<Vec<_>, _>>()?;
        self.submit_leaves(leaves)
    }

    /// Queues already encoded leaves (written consecutively, in one batch). The bytes are
    /// written as given; use [`AccessEvent::to_leaf`] to make them.
    ///
    /// # Errors
    /// [`AuditError::AppenderClosed`]; [`AuditError::Encoding`] for an empty list.
    pub fn submit_leaves(&self, leaves: Vec<AuditLeaf>) -> Result<Ticket, AuditError> {
        if leaves.is_empty() {
            return Err(AuditError::Encoding("no events to append"));
        }
        let count = leaves.len();
        let slot = Arc::new(Slot::default());
        let sh = &*self.shared;
        let mut q = lock(&sh.queue);
        while !q.closed && q.queued_leaves > 0 && q.queued_leaves + count > sh.cfg.max_queue {
            q = sh.space.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
        if q.closed {
            return Err(AuditError::AppenderClosed);
        }
        q.queued_leaves += count;
        q.jobs.push_back(Job {
            leaves,
            slot: Arc::clone(&slot),
        });
        drop(q);
        sh.work.notify_one();
        Ok(Ticket { slot, count })
    }

    /// `(store writes, leaves written)` since start, successful writes only.
    #[must_use]
    pub fn stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.shared.batches.load(Relaxed),
            self.shared.leaves.load(Relaxed),
        )
    }

    /// Stops accepting events, writes what is queued, and joins the writer thread.
    pub fn shutdown(&self) {
        lock(&self.shared.queue).closed = true;
        self.shared.work.notify_all();
        self.shared.space.notify_all();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn answer(slot: &Slot, reply: Reply) {
    let waker = {
        let mut r = lock(&slot.result);
        r.reply = Some(reply);
        r.waker.take()
    };
    slot.ready.notify_all();
    if let Some(w) = waker {
        w.wake();
    }
}

fn writer(sh: &Shared, store: &dyn Store) {
    let mut leaves: Vec<AuditLeaf> = Vec::new();
    let mut waiting: Vec<(Arc<Slot>, usize)> = Vec::new();
    loop {
        {
            let mut q = lock(&sh.queue);
            while q.jobs.is_empty() && !q.closed {
                q = sh.work.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
            if q.jobs.is_empty() {
                return;
            }
            let mut n = 0;
            while let Some(job) = q.jobs.front() {
                if n > 0 && n + job.leaves.len() > sh.cfg.max_batch {
                    break;
                }
                let Some(mut job) = q.jobs.pop_front() else {
                    break;
                };
                n += job.leaves.len();
                waiting.push((job.slot, n - job.leaves.len()));
                leaves.append(&mut job.leaves);
            }
            q.queued_leaves -= n;
        }
        sh.space.notify_all();
        // A panicking backend must not leave callers waiting forever: it fails the batch.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.append_audit(&leaves).map_err(|e| e.code())
        }))
        .unwrap_or(Err("audit_append_panicked"));
        match result {
            Ok(first) => {
                use std::sync::atomic::Ordering::Relaxed;
                sh.batches.fetch_add(1, Relaxed);
                sh.leaves.fetch_add(leaves.len() as u64, Relaxed);
                for (slot, offset) in waiting.drain(..) {
                    answer(&slot, Ok(first + offset as u64));
                }
            }
            Err(code) => {
                for (slot, _) in waiting.drain(..) {
                    answer(&slot, Err(code));
                }
            }
        }
        leaves.clear();
    }
}
