//! [`ContainmentStore`] for the embedded backend: windows in their own file, `contain.db`
//! (so that counting a read does not invalidate the page caches of `data.db`'s readers),
//! counted under one writer connection, so that the decision and its record are one
//! transaction. A trip is then recorded on the principal in `data.db` right after the
//! window's commit: the window already refuses every counted request of the principal, and
//! the suspension reaches its other requests at the next authentication.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Durability, SqliteStore, append_leaves, lock, open_conn, to_i64};
use crate::StoreError;
use crate::containment::{
    ContainmentStore, WindowOutcome, WindowState, WindowTouch, lease_subject, pack, probe_key,
    unpack,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containment_windows (
    key        TEXT PRIMARY KEY,
    live       INTEGER NOT NULL,
    tripped_at INTEGER,
    oldest     INTEGER
);
CREATE TABLE IF NOT EXISTS containment_entries (
    key        TEXT NOT NULL,
    subject    INTEGER NOT NULL,
    entered_at INTEGER NOT NULL,
    n          INTEGER NOT NULL DEFAULT 1,
    spent      BLOB,
    PRIMARY KEY (key, subject)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS containment_entries_time ON containment_entries (key, entered_at);
";

/// Opens (creating if missing) the window file.
pub(super) fn open(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = open_conn(path, durability, true)?;
    conn.execute_batch(SCHEMA)?;
    // A window file made before leases (schema 4 and 5) gets the weight and spent columns;
    // every entry it holds is one subject.
    for (column, ddl) in [
        (
            "n",
            "ALTER TABLE containment_entries ADD COLUMN n INTEGER NOT NULL DEFAULT 1",
        ),
        (
            "spent",
            "ALTER TABLE containment_entries ADD COLUMN spent BLOB",
        ),
    ] {
        let present: i64 = conn.query_row(
            "SELECT count(*) FROM pragma_table_info('containment_entries') WHERE name = ?1",
            [column],
            |r| r.get(0),
        )?;
        if present == 0 {
            conn.execute_batch(ddl)?;
        }
    }
    Ok(conn)
}

/// Counts one request inside `tx` (the caller commits); see the trait for the rules.
///
/// Three statements for the common case (one subject, nothing expired): read the window row,
/// `INSERT OR IGNORE` the entry (a change means the subject is new), write the window row;
/// one more for a lease taken and one for a lease given back. Expired entries are deleted
/// only when the window's oldest entry can have expired; a refused request's own inserts are
/// taken back before the trip is recorded.
fn touch_in(
    tx: &rusqlite::Transaction<'_>,
    t: &WindowTouch<'_>,
) -> Result<WindowOutcome, StoreError> {
    let state: Option<(i64, Option<i64>, Option<i64>)> = tx
        .prepare_cached("SELECT live, tripped_at, oldest FROM containment_windows WHERE key = ?1")?
        .query_row([t.key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (mut live, tripped, mut oldest) = state.unwrap_or((0, None, None));
    if tripped.is_some() {
        return Ok(WindowOutcome::AlreadyTripped);
    }
    let cutoff = t.now_ms.saturating_sub(t.window_ms);
    if oldest.is_some_and(|o| o <= cutoff) {
        let expired: i64 = tx
            .prepare_cached(
                "SELECT coalesce(sum(n), 0) FROM containment_entries \
                 WHERE key = ?1 AND entered_at <= ?2",
            )?
            .query_row(params![t.key, cutoff], |r| r.get(0))?;
        tx.prepare_cached("DELETE FROM containment_entries WHERE key = ?1 AND entered_at <= ?2")?
            .execute(params![t.key, cutoff])?;
        live = live.saturating_sub(expired).max(0);
        oldest = tx
            .prepare_cached("SELECT min(entered_at) FROM containment_entries WHERE key = ?1")?
            .query_row([t.key], |r| r.get(0))?;
    }
    if let Some(l) = t.settle.filter(|l| l.taken_at > cutoff) {
        let unspent = to_i64(l.unspent)?;
        let lease = lease_subject(l.taken_at, l.tag);
        // Two leases this server took in the same millisecond share a row (their weights
        // add up): the spent subjects are appended, never replaced, so a trip names both.
        let mut spent: Vec<u8> = tx
            .prepare_cached(
                "SELECT spent FROM containment_entries WHERE key = ?1 AND subject = ?2",
            )?
            .query_row(params![t.key, lease], |r| r.get::<_, Option<Vec<u8>>>(0))
            .optional()?
            .flatten()
            .unwrap_or_default();
        spent.extend_from_slice(&pack(l.spent));
        let back = tx
            .prepare_cached(
                "UPDATE containment_entries SET n = n - ?3, spent = ?4 \
                 WHERE key = ?1 AND subject = ?2 AND n >= ?3",
            )?
            .execute(params![t.key, lease, unspent, spent])?;
        if back == 1 {
            live = live.saturating_sub(unspent).max(0);
        }
    }
    let mut new: Vec<i64> = Vec::with_capacity(t.subjects.len());
    {
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO containment_entries (key, subject, entered_at) \
             VALUES (?1, ?2, ?3)",
        )?;
        for &s in t.subjects {
            let s = to_i64(s)?;
            if ins.execute(params![t.key, s, t.now_ms])? == 1 {
                new.push(s);
            }
        }
    }
    if !t.force_trip && (t.admits)(live as u64, new.len() as u64) {
        live += new.len() as i64;
        let leased = (t.lease)(live as u64);
        if leased > 0 {
            tx.prepare_cached(
                "INSERT INTO containment_entries (key, subject, entered_at, n) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (key, subject) DO UPDATE SET n = n + excluded.n",
            )?
            .execute(params![
                t.key,
                lease_subject(t.now_ms, t.lease_tag),
                t.now_ms,
                to_i64(leased)?
            ])?;
            live += to_i64(leased)?;
        }
        if !new.is_empty() || leased > 0 {
            oldest = Some(oldest.map_or(t.now_ms, |o| o.min(t.now_ms)));
        }
        tx.prepare_cached(
            "INSERT INTO containment_windows (key, live, oldest) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET live = excluded.live, oldest = excluded.oldest",
        )?
        .execute(params![t.key, live, oldest])?;
        return Ok(WindowOutcome::Admitted { leased });
    }
    // Refused whole: nothing of this request stays in the window.
    {
        let mut del =
            tx.prepare_cached("DELETE FROM containment_entries WHERE key = ?1 AND subject = ?2")?;
        for s in &new {
            del.execute(params![t.key, s])?;
        }
    }
    let mut obtained: Vec<u64> = Vec::new();
    {
        let mut q = tx.prepare_cached(
            "SELECT subject, spent FROM containment_entries WHERE key = ?1 \
             AND (subject >= 0 OR spent IS NOT NULL)",
        )?;
        let mut rows = q.query([t.key])?;
        while let Some(r) = rows.next()? {
            let subject: i64 = r.get(0)?;
            if subject >= 0 {
                obtained.push(subject as u64);
            } else if let Some(spent) = r.get::<_, Option<Vec<u8>>>(1)? {
                obtained.extend(unpack(&spent));
            }
        }
    }
    obtained.sort_unstable();
    obtained.dedup();
    tx.prepare_cached(
        "INSERT INTO containment_windows (key, live, tripped_at, oldest) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (key) DO UPDATE SET live = excluded.live, tripped_at = excluded.tripped_at",
    )?
    .execute(params![t.key, live, t.now_ms, oldest])?;
    Ok(WindowOutcome::Tripped { obtained })
}

impl SqliteStore {
    /// Suspends the principals of tripped touches in `data.db`, with their leaves.
    fn suspend_tripped(
        &self,
        touches: &[WindowTouch<'_>],
        outcomes: &[WindowOutcome],
    ) -> Result<(), StoreError> {
        let tripped: Vec<&WindowTouch<'_>> = touches
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| matches!(o, WindowOutcome::Tripped { .. }))
            .map(|(t, _)| t)
            .collect();
        if tripped.is_empty() {
            return Ok(());
        }
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for t in tripped {
            let n = tx.execute(
                "UPDATE principals SET suspended_at = ?2, suspended_reason = ?3 \
                 WHERE id = ?1 AND suspended_at IS NULL",
                params![t.principal, t.now_ms, t.reason],
            )?;
            if n > 0 {
                append_leaves(&tx, &(t.audit)().map_err(StoreError::Backend)?)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl ContainmentStore for SqliteStore {
    fn touch_window(&self, t: &WindowTouch<'_>) -> Result<WindowOutcome, StoreError> {
        Ok(self
            .touch_windows(std::slice::from_ref(t))?
            .pop()
            .unwrap_or(WindowOutcome::AlreadyTripped))
    }

    /// One write transaction of `contain.db` for the whole batch, each touch seeing the ones
    /// before it; then the suspensions of any trips in `data.db`.
    fn touch_windows(&self, touches: &[WindowTouch<'_>]) -> Result<Vec<WindowOutcome>, StoreError> {
        let out = {
            let mut c = lock(&self.contain);
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = touches
                .iter()
                .map(|t| touch_in(&tx, t))
                .collect::<Result<Vec<_>, _>>()?;
            tx.commit()?;
            out
        };
        self.suspend_tripped(touches, &out)?;
        Ok(out)
    }

    fn clear_windows(&self, principal: &str) -> Result<(), StoreError> {
        let mut c = lock(&self.contain);
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        clear(&tx, principal)?;
        tx.commit()?;
        Ok(())
    }

    fn sweep_windows(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut c = lock(&self.contain);
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM containment_entries WHERE entered_at <= ?1",
            [before_ms],
        )?;
        if n > 0 {
            // Keep each window's live count equal to the weight of its entries.
            tx.execute(
                "UPDATE containment_windows SET \
                 live = (SELECT coalesce(sum(n), 0) FROM containment_entries e \
                         WHERE e.key = containment_windows.key), \
                 oldest = (SELECT min(entered_at) FROM containment_entries e \
                           WHERE e.key = containment_windows.key)",
                [],
            )?;
        }
        tx.commit()?;
        Ok(n as u64)
    }

    fn windows_held(&self) -> Result<(u64, u64), StoreError> {
        self.held()
    }

    fn window_state(&self, key: &str) -> Result<Option<WindowState>, StoreError> {
        let c = lock(&self.contain);
        Ok(
            c.prepare_cached("SELECT live, tripped_at FROM containment_windows WHERE key = ?1")?
                .query_row([key], |r| {
                    Ok(WindowState {
                        live: r.get::<_, i64>(0)?.max(0) as u64,
                        tripped_at_ms: r.get(1)?,
                    })
                })
                .optional()?,
        )
    }
}

impl SqliteStore {
    fn held(&self) -> Result<(u64, u64), StoreError> {
        let c = lock(&self.contain);
        let keys: i64 =
            c.query_row("SELECT count(*) FROM containment_windows", [], |r| r.get(0))?;
        let entries: i64 =
            c.query_row("SELECT count(*) FROM containment_entries", [], |r| r.get(0))?;
        Ok((keys as u64, entries as u64))
    }
}

/// Clears a principal's windows inside a `contain.db` transaction (reinstatement).
pub(super) fn clear(tx: &rusqlite::Transaction<'_>, principal: &str) -> Result<(), StoreError> {
    for key in [principal.to_owned(), probe_key(principal)] {
        tx.execute("DELETE FROM containment_entries WHERE key = ?1", [&key])?;
        tx.execute("DELETE FROM containment_windows WHERE key = ?1", [&key])?;
    }
    Ok(())
}
