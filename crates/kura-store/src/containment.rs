//! [`ContainmentStore`]: the containment window of every principal, kept in the database so
//! that all servers over one store, and a server after a restart, count one window.
//!
//! # What is stored
//! Per counted key (a principal id, or a principal's probe key `<id>#probe`): one row per
//! subject in its window (`containment_entries`: key, subject internal id, time it entered
//! the window, weight 1) and one row of state (`containment_windows`: key, live count, trip
//! time). An **admission lease** taken by a server is one entry too, with a negative subject
//! ([`lease_subject`]) and the number of slots as its weight: it counts like that many
//! subjects from the time it was taken; when it is settled, the subjects spent on it are
//! kept on that entry (`spent`, packed ids). The live count is the sum of the weights. Nothing
//! here is a field value; the subjects are internal ids.
//!
//! # Invariants
//! - [`ContainmentStore::touch_window`] is one database transaction that first serializes on
//!   the key's state row (PostgreSQL: `SELECT … FOR UPDATE`; SQLite: the single writer), so
//!   two servers can never both admit the last free slot: `n` servers and any number of
//!   restarts together admit at most the quota.
//! - A trip is recorded in the same transaction as the decision: the state row is marked
//!   tripped and, when the key is a stored principal's, the principal is suspended (with the
//!   access-log leaves describing it), so every server refuses the key from its next request.
//! - An entry counts from the touch that brought its subject into the window for
//!   `window_ms`; touching it again while it counts neither extends nor repeats it. So a key
//!   obtains at most `quota` subjects entering its window in any period of `window_ms`.
//! - A lease is granted only inside the transaction that admitted the request, by
//!   [`WindowTouch::lease`] (`kura_policy::Quota::lease`), and only from what the quota
//!   leaves free; slots handed back ([`WindowTouch::settle`]) leave the count at once, and
//!   the subjects spent on the lease are kept with it (a trip names them).
//!   So the leased slots and the subjects together never exceed the quota.
//! - Reinstating a principal ([`crate::DirectoryStore::set_suspended`] with no reason) clears
//!   its windows in the same transaction.

use crate::{AuditLeaf, StoreError};

/// One request to count, as [`ContainmentStore::touch_window`] takes it.
#[derive(Clone, Copy)]
pub struct WindowTouch<'a> {
    /// The counted key: a principal id, or `<principal id>#probe` for its search probes.
    pub key: &'a str,
    /// The principal to suspend on a trip (the key's principal).
    pub principal: &'a str,
    /// The request's subjects (internal ids), ascending and without repeats.
    pub subjects: &'a [u64],
    /// The request's time, unix milliseconds.
    pub now_ms: i64,
    /// Window length, milliseconds: an entry made at `t` counts while `now_ms < t + window_ms`.
    pub window_ms: i64,
    /// The admission rule, given the live count and the number of the request's subjects
    /// not yet in the window (`kura_policy::Quota::admits`).
    pub admits: &'a dyn Fn(u64, u64) -> bool,
    /// Trip whatever the count (a canary among the subjects).
    pub force_trip: bool,
    /// Why the principal is suspended on a trip (`containment:quota`, ...).
    pub reason: &'a str,
    /// Slots to lease to the caller once the request is admitted, given the live count
    /// with the request's subjects in (`kura_policy::Quota::lease`); `0` for none. The
    /// lease is recorded under this touch's `now_ms` and `lease_tag`.
    pub lease: &'a dyn Fn(u64) -> u64,
    /// A number (12 bits used) the caller picked once per process, so that two servers'
    /// leases of one key taken in the same millisecond are kept apart.
    pub lease_tag: u16,
    /// An earlier lease of this key settled: what the caller spent it on and what it hands
    /// back. Ignored once the lease expired.
    pub settle: Option<LeaseSettlement<'a>>,
    /// Makes the leaves recording the suspension, written with it on a trip. Called only on
    /// a trip, so a counted request that is admitted encodes no event it does not need.
    pub audit: &'a dyn Fn() -> Result<Vec<AuditLeaf>, String>,
}

impl std::fmt::Debug for WindowTouch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowTouch")
            .field("key", &self.key)
            .field("subjects", &self.subjects.len())
            .field("now_ms", &self.now_ms)
            .field("window_ms", &self.window_ms)
            .field("force_trip", &self.force_trip)
            .field("settle", &self.settle)
            .finish_non_exhaustive()
    }
}

/// How a caller settles a lease it took: the subjects it admitted on it are kept with the
/// lease (its weight already counts them), so that a trip can name them; the slots it did
/// not spend leave the count.
#[derive(Debug, Clone, Copy)]
pub struct LeaseSettlement<'a> {
    /// The lease's time (`now_ms` of the touch that took it).
    pub taken_at: i64,
    /// The `lease_tag` of the touch that took it.
    pub tag: u16,
    /// Subjects admitted on the lease, ascending and without repeats.
    pub spent: &'a [u64],
    /// Slots not spent, handed back.
    pub unspent: u64,
}

/// What [`ContainmentStore::touch_window`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowOutcome {
    /// Admitted: the request's new subjects are now in the window, and `leased` slots more
    /// were leased to the caller (recorded under the touch's `now_ms`).
    Admitted {
        /// Slots leased with this admission (0 when none was asked or none was free).
        leased: u64,
    },
    /// This request tripped containment: nothing of it was recorded, the key is marked
    /// tripped and its principal suspended. `obtained` are the subjects in the window when
    /// it tripped (ascending): exactly those earlier requests counted one by one (subjects
    /// admitted under a lease are known only to the server that spent it).
    Tripped {
        /// Subjects in the window, ascending.
        obtained: Vec<u64>,
    },
    /// The key had tripped before (and was not reinstated since): refused.
    AlreadyTripped,
}

/// Containment windows shared by every server over one store.
pub trait ContainmentStore: Send + Sync {
    /// Counts one request; see the module documentation for the rules.
    ///
    /// # Errors
    /// Backend failures (the caller refuses the request: containment fails closed).
    fn touch_window(&self, touch: &WindowTouch<'_>) -> Result<WindowOutcome, StoreError>;

    /// Counts several requests, in order, each seeing the effects of those before it, with
    /// the same guarantees as one [`ContainmentStore::touch_window`] each. A backend may do
    /// them in one transaction (group commit); all or none are recorded.
    ///
    /// # Errors
    /// Backend failures (none of the batch is admitted).
    fn touch_windows(&self, touches: &[WindowTouch<'_>]) -> Result<Vec<WindowOutcome>, StoreError> {
        touches.iter().map(|t| self.touch_window(t)).collect()
    }

    /// Forgets the windows of `principal` (its own and its probe key) and their trips.
    ///
    /// # Errors
    /// Backend failures.
    fn clear_windows(&self, principal: &str) -> Result<(), StoreError>;

    /// Drops entries that stopped counting before `before_ms` (housekeeping; the live counts
    /// are corrected by the next touch of each key). Returns how many were dropped.
    ///
    /// # Errors
    /// Backend failures.
    fn sweep_windows(&self, before_ms: i64) -> Result<u64, StoreError>;

    /// How many keys have a window and how many entries all windows hold (for metrics).
    ///
    /// # Errors
    /// Backend failures.
    fn windows_held(&self) -> Result<(u64, u64), StoreError>;

    /// The window of `key` as of its last touch: how many subjects it counted then (leases
    /// included) and when it tripped, or `None` when it has no window. For the console's
    /// quota view; the count may still hold entries that have since expired.
    ///
    /// # Errors
    /// Backend failures.
    fn window_state(&self, key: &str) -> Result<Option<WindowState>, StoreError>;
}

/// What [`ContainmentStore::window_state`] reports of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState {
    /// Subjects counted at the last touch.
    pub live: u64,
    /// When the window tripped, unix milliseconds.
    pub tripped_at_ms: Option<i64>,
}

/// The probe key of a principal: its searches without a hit are counted under it.
pub fn probe_key(principal: &str) -> String {
    format!("{principal}#probe")
}

/// The subject under which a lease taken at `taken_at_ms` with `tag` is recorded: negative,
/// so that it never meets a subject's internal id (those are below 2^63).
pub fn lease_subject(taken_at_ms: i64, tag: u16) -> i64 {
    -1 - (taken_at_ms.max(0).saturating_mul(4096) + i64::from(tag & 0x0fff))
}

/// Packs subject ids for a lease's `spent` column (8 bytes each, big-endian).
pub(crate) fn pack(ids: &[u64]) -> Vec<u8> {
    ids.iter().flat_map(|i| i.to_be_bytes()).collect()
}

/// Unpacks a `spent` column; a trailing partial id is ignored.
pub(crate) fn unpack(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
}
