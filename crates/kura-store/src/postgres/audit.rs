//! [`AuditStore`] for PostgreSQL: tables `kura_data.audit_hashes`, `audit_checkpoints`,
//! `audit_subjects` and the counter row `audit_integrated`.
//!
//! Integration is one transaction that first moves the integrated size with a conditional
//! `UPDATE ... WHERE next = $from` (the compare-and-set: a second integrator on another server
//! waits for the row lock, then matches nothing and gets [`IntegrationOutcome::Stale`]), then
//! writes hashes and history rows with multi-row statements. Hash writes are idempotent and
//! refuse a different hash at an existing index. Left out: any interpretation of leaves or
//! hashes.

use std::collections::HashMap;

use postgres::{GenericClient, Statement};

use super::{Conn, PostgresStore, prepared, to_i64};
use crate::{AuditIntegration, AuditLeaf, AuditStore, IntegrationOutcome, Mark, StoreError};

fn hash_from(v: Vec<u8>, idx: i64) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt(format!("audit_hashes[{idx}] is not 32 bytes")))
}

/// Inserts hashes, ignoring identical existing ones and refusing different ones.
fn put_hashes(
    tx: &mut impl GenericClient,
    stmts: &mut HashMap<&'static str, Statement>,
    first_index: u64,
    hashes: &[[u8; 32]],
) -> Result<(), StoreError> {
    const INSERT: &str = "INSERT INTO kura_data.audit_hashes (idx, hash) \
         SELECT $1 + x.i - 1, x.h FROM unnest($2::bytea[]) WITH ORDINALITY AS x(h, i) \
         ON CONFLICT (idx) DO NOTHING";
    const DIFFERING: &str = "SELECT min(a.idx) FROM kura_data.audit_hashes a \
         JOIN unnest($2::bytea[]) WITH ORDINALITY AS x(h, i) ON a.idx = $1 + x.i - 1 \
         WHERE a.hash <> x.h";
    if hashes.is_empty() {
        return Ok(());
    }
    let first = to_i64(first_index)?;
    let hs: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
    let ins = prepared(tx, stmts, INSERT)?;
    let written = tx.execute(&ins, &[&first, &hs])?;
    if written as usize != hashes.len() {
        let check = prepared(tx, stmts, DIFFERING)?;
        let bad: Option<i64> = tx.query_one(&check, &[&first, &hs])?.get(0);
        if let Some(idx) = bad {
            return Err(StoreError::Conflict(format!(
                "audit_hashes[{idx}] already holds a different hash"
            )));
        }
    }
    Ok(())
}

impl AuditStore for PostgresStore {
    fn audit_leaves(&self, from: u64, to: u64) -> Result<Vec<(u64, AuditLeaf)>, StoreError> {
        const SQL: &str = "SELECT seq, leaf FROM kura_data.audit_log \
             WHERE seq >= $1 AND seq < $2 ORDER BY seq";
        if to <= from {
            return Ok(Vec::new());
        }
        let (from, to) = (to_i64(from)?, to_i64(to)?);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query(&stmt, &[&from, &to])?
            .into_iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    fn audit_hashes(&self, indexes: &[u64]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        const SQL: &str = "SELECT x.i, a.hash FROM unnest($1::bigint[]) WITH ORDINALITY AS x(idx, i) \
             JOIN kura_data.audit_hashes a ON a.idx = x.idx";
        let idx: Vec<i64> = indexes
            .iter()
            .map(|&i| to_i64(i))
            .collect::<Result<_, _>>()?;
        let mut out = vec![None; indexes.len()];
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        for r in client.query(&stmt, &[&idx])? {
            let pos = r.get::<_, i64>(0) - 1;
            let slot = usize::try_from(pos)
                .ok()
                .and_then(|p| out.get_mut(p))
                .ok_or_else(|| StoreError::Corrupt("audit hash position out of range".into()))?;
            *slot = Some(hash_from(r.get(1), idx[pos as usize])?);
        }
        Ok(out)
    }

    fn audit_hash_range(&self, from: u64, to: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        const SQL: &str = "SELECT idx, hash FROM kura_data.audit_hashes \
             WHERE idx >= $1 AND idx < $2 ORDER BY idx";
        if to <= from {
            return Ok(Vec::new());
        }
        let (from, to) = (to_i64(from)?, to_i64(to)?);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        client
            .query(&stmt, &[&from, &to])?
            .into_iter()
            .map(|r| {
                let idx: i64 = r.get(0);
                Ok((idx as u64, hash_from(r.get(1), idx)?))
            })
            .collect()
    }

    fn put_audit_hashes(&self, first_index: u64, hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        put_hashes(&mut tx, stmts, first_index, hashes)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_integrated_size(&self) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT next FROM kura_data.counters WHERE name = 'audit_integrated'";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let n: i64 = client.query_one(&stmt, &[])?.get(0);
        Ok(n as u64)
    }

    fn integrate_audit(&self, batch: &AuditIntegration) -> Result<IntegrationOutcome, StoreError> {
        const CAS: &str = "UPDATE kura_data.counters SET next = $2 \
             WHERE name = 'audit_integrated' AND next = $1";
        const CURRENT: &str = "SELECT next FROM kura_data.counters WHERE name = 'audit_integrated'";
        const HISTORY: &str = "INSERT INTO kura_data.audit_subjects (iid, seq) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let cas = prepared(&mut tx, stmts, CAS)?;
        if tx.execute(&cas, &[&to_i64(batch.from)?, &to_i64(batch.to)?])? == 0 {
            let cur = prepared(&mut tx, stmts, CURRENT)?;
            let n: i64 = tx.query_one(&cur, &[])?.get(0);
            return Ok(IntegrationOutcome::Stale(n as u64));
        }
        put_hashes(&mut tx, stmts, batch.first_hash_index, &batch.hashes)?;
        if !batch.history.is_empty() {
            let mut iids = Vec::with_capacity(batch.history.len());
            let mut seqs = Vec::with_capacity(batch.history.len());
            for &(iid, seq) in &batch.history {
                iids.push(to_i64(iid)?);
                seqs.push(to_i64(seq)?);
            }
            let h = prepared(&mut tx, stmts, HISTORY)?;
            tx.execute(&h, &[&iids, &seqs])?;
        }
        tx.commit()?;
        Ok(IntegrationOutcome::Applied)
    }

    fn put_audit_checkpoint(&self, size: u64, signed_note: &str) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO kura_data.audit_checkpoints (size, note) VALUES ($1, $2) \
             ON CONFLICT (size) DO NOTHING";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        client.execute(&stmt, &[&to_i64(size)?, &signed_note])?;
        Ok(())
    }

    fn audit_checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        const SQL: &str = "SELECT size, note FROM kura_data.audit_checkpoints ORDER BY size";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query(&stmt, &[])?
            .into_iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    fn put_mark(&self, name: &str, at_ms: u64, value: &str) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO kura_data.marks (name, at_ms, value) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET at_ms = excluded.at_ms, value = excluded.value";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        client.execute(&stmt, &[&name, &to_i64(at_ms)?, &value])?;
        Ok(())
    }

    fn mark(&self, name: &str) -> Result<Option<Mark>, StoreError> {
        const SQL: &str = "SELECT at_ms, value FROM kura_data.marks WHERE name = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client.query_opt(&stmt, &[&name])?.map(|r| Mark {
            at_ms: r.get::<_, i64>(0).max(0) as u64,
            value: r.get(1),
        }))
    }

    fn latest_audit_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        const SQL: &str =
            "SELECT size, note FROM kura_data.audit_checkpoints ORDER BY size DESC LIMIT 1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query_opt(&stmt, &[])?
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
    }

    fn audit_subject_recent(
        &self,
        iid: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        const SQL: &str = "SELECT seq FROM kura_data.audit_subjects \
             WHERE iid = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3";
        let iid = to_i64(iid)?;
        let before = match before {
            Some(b) => to_i64(b)?,
            None => i64::MAX,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query(&stmt, &[&iid, &before, &limit])?
            .into_iter()
            .map(|r| r.get::<_, i64>(0) as u64)
            .collect())
    }

    fn audit_subject_history(
        &self,
        iid: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        const SQL: &str = "SELECT seq FROM kura_data.audit_subjects \
             WHERE iid = $1 AND seq > $2 ORDER BY seq LIMIT $3";
        let iid = to_i64(iid)?;
        let after = match after {
            Some(a) => to_i64(a)?,
            None => -1,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query(&stmt, &[&iid, &after, &limit])?
            .into_iter()
            .map(|r| r.get::<_, i64>(0) as u64)
            .collect())
    }
}
