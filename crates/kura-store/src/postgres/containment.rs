//! [`ContainmentStore`] for PostgreSQL: windows in `kura_data`, each touch one transaction
//! that first locks the key's state row (`SELECT … FOR UPDATE`), so concurrent touches of one
//! key from any number of servers are counted one after the other.

use super::{Conn, PostgresStore, append_leaves, prepared, to_i64};
use crate::StoreError;
use crate::containment::{
    ContainmentStore, WindowOutcome, WindowState, WindowTouch, lease_subject, pack, probe_key,
    unpack,
};

const ENSURE: &str = "INSERT INTO kura_data.containment_windows (key, live) VALUES ($1, 0) \
     ON CONFLICT (key) DO NOTHING";
const LOCK: &str =
    "SELECT live, tripped_at FROM kura_data.containment_windows WHERE key = $1 FOR UPDATE";
const EXPIRE: &str = "WITH gone AS (DELETE FROM kura_data.containment_entries \
     WHERE key = $1 AND entered_at <= $2 RETURNING n) SELECT coalesce(sum(n), 0)::bigint FROM gone";
/// Appends to `spent`: two leases taken by one server in the same millisecond share a row
/// (their weights add up), and the second settlement must not drop the first one's subjects.
const SETTLE: &str = "UPDATE kura_data.containment_entries \
     SET n = n - $3, spent = coalesce(spent, ''::bytea) || $4 \
     WHERE key = $1 AND subject = $2 AND n >= $3";
const LEASE: &str = "INSERT INTO kura_data.containment_entries (key, subject, entered_at, n) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (key, subject) DO UPDATE SET n = kura_data.containment_entries.n + excluded.n";
const PRESENT: &str = "SELECT subject FROM kura_data.containment_entries \
     WHERE key = $1 AND subject = ANY($2)";
const INSERT: &str = "INSERT INTO kura_data.containment_entries (key, subject, entered_at) \
     SELECT $1, s, $3 FROM unnest($2::bigint[]) AS s";
const SET_LIVE: &str = "UPDATE kura_data.containment_windows SET live = $2 WHERE key = $1";
const OBTAINED: &str = "SELECT subject, spent FROM kura_data.containment_entries \
     WHERE key = $1 AND (subject >= 0 OR spent IS NOT NULL)";
const TRIP: &str =
    "UPDATE kura_data.containment_windows SET live = $2, tripped_at = $3 WHERE key = $1";
const SUSPEND: &str = "UPDATE kura_data.principals SET suspended_at = $2, suspended_reason = $3 \
     WHERE id = $1 AND suspended_at IS NULL";

impl ContainmentStore for PostgresStore {
    fn touch_window(&self, t: &WindowTouch<'_>) -> Result<WindowOutcome, StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let ensure = prepared(&mut tx, stmts, ENSURE)?;
        tx.execute(&ensure, &[&t.key])?;
        let lock = prepared(&mut tx, stmts, LOCK)?;
        let row = tx.query_one(&lock, &[&t.key])?;
        let (mut live, tripped): (i64, Option<i64>) = (row.get(0), row.get(1));
        if tripped.is_some() {
            tx.commit()?;
            return Ok(WindowOutcome::AlreadyTripped);
        }
        let cutoff = t.now_ms.saturating_sub(t.window_ms);
        let expire = prepared(&mut tx, stmts, EXPIRE)?;
        let expired: i64 = tx.query_one(&expire, &[&t.key, &cutoff])?.get(0);
        live = live.saturating_sub(expired).max(0);
        let mut changed = expired > 0;
        if let Some(l) = t.settle.filter(|l| l.taken_at > cutoff) {
            let unspent = to_i64(l.unspent)?;
            let give_back = prepared(&mut tx, stmts, SETTLE)?;
            let lease = lease_subject(l.taken_at, l.tag);
            if tx.execute(&give_back, &[&t.key, &lease, &unspent, &pack(l.spent)])? == 1 {
                live = live.saturating_sub(unspent).max(0);
                changed = true;
            }
        }
        let subjects: Vec<i64> = t
            .subjects
            .iter()
            .map(|&s| to_i64(s))
            .collect::<Result<_, _>>()?;
        let present = prepared(&mut tx, stmts, PRESENT)?;
        let known: std::collections::HashSet<i64> = tx
            .query(&present, &[&t.key, &subjects])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let new: Vec<i64> = subjects
            .into_iter()
            .filter(|s| !known.contains(s))
            .collect();
        if !t.force_trip && (t.admits)(live as u64, new.len() as u64) {
            if !new.is_empty() {
                let insert = prepared(&mut tx, stmts, INSERT)?;
                tx.execute(&insert, &[&t.key, &new, &t.now_ms])?;
                live += new.len() as i64;
                changed = true;
            }
            let leased = (t.lease)(live as u64);
            if leased > 0 {
                let n = to_i64(leased)?;
                let lease = prepared(&mut tx, stmts, LEASE)?;
                let id = lease_subject(t.now_ms, t.lease_tag);
                tx.execute(&lease, &[&t.key, &id, &t.now_ms, &n])?;
                live += n;
                changed = true;
            }
            if changed {
                let set = prepared(&mut tx, stmts, SET_LIVE)?;
                tx.execute(&set, &[&t.key, &live])?;
            }
            tx.commit()?;
            return Ok(WindowOutcome::Admitted { leased });
        }
        let obtained_q = prepared(&mut tx, stmts, OBTAINED)?;
        let mut obtained: Vec<u64> = Vec::new();
        for r in tx.query(&obtained_q, &[&t.key])? {
            let subject: i64 = r.get(0);
            if subject >= 0 {
                obtained.push(subject as u64);
            } else if let Some(spent) = r.get::<_, Option<Vec<u8>>>(1) {
                obtained.extend(unpack(&spent));
            }
        }
        obtained.sort_unstable();
        obtained.dedup();
        let trip = prepared(&mut tx, stmts, TRIP)?;
        tx.execute(&trip, &[&t.key, &live, &t.now_ms])?;
        let suspend = prepared(&mut tx, stmts, SUSPEND)?;
        let n = tx.execute(&suspend, &[&t.principal, &t.now_ms, &t.reason])?;
        if n > 0 {
            append_leaves(&mut tx, stmts, &(t.audit)().map_err(StoreError::Backend)?)?;
        }
        tx.commit()?;
        Ok(WindowOutcome::Tripped { obtained })
    }

    fn clear_windows(&self, principal: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.client.transaction()?;
        clear(&mut tx, principal)?;
        tx.commit()?;
        Ok(())
    }

    fn sweep_windows(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.client.transaction()?;
        // Lock the state rows first (in key order), as touches do, so that a live count
        // is never corrected under a concurrent touch.
        tx.execute(
            "SELECT key FROM kura_data.containment_windows ORDER BY key FOR UPDATE",
            &[],
        )?;
        let n = tx.execute(
            "DELETE FROM kura_data.containment_entries WHERE entered_at <= $1",
            &[&before_ms],
        )?;
        if n > 0 {
            tx.execute(
                "UPDATE kura_data.containment_windows w SET live = \
                 (SELECT coalesce(sum(n), 0)::bigint FROM kura_data.containment_entries e \
                  WHERE e.key = w.key)",
                &[],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    fn windows_held(&self) -> Result<(u64, u64), StoreError> {
        let mut conn = self.pool.get()?;
        let r = conn.client.query_one(
            "SELECT (SELECT count(*) FROM kura_data.containment_windows), \
             (SELECT count(*) FROM kura_data.containment_entries)",
            &[],
        )?;
        Ok((r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64))
    }

    fn window_state(&self, key: &str) -> Result<Option<WindowState>, StoreError> {
        let mut conn = self.pool.get()?;
        let row = conn.client.query_opt(
            "SELECT live, tripped_at FROM kura_data.containment_windows WHERE key = $1",
            &[&key],
        )?;
        Ok(row.map(|r| WindowState {
            live: r.get::<_, i64>(0).max(0) as u64,
            tripped_at_ms: r.get(1),
        }))
    }
}

/// Clears a principal's windows inside a transaction (reinstatement).
pub(super) fn clear(tx: &mut postgres::Transaction<'_>, principal: &str) -> Result<(), StoreError> {
    for key in [principal.to_owned(), probe_key(principal)] {
        tx.execute(
            "DELETE FROM kura_data.containment_entries WHERE key = $1",
            &[&key],
        )?;
        tx.execute(
            "DELETE FROM kura_data.containment_windows WHERE key = $1",
            &[&key],
        )?;
    }
    Ok(())
}
