//! [`AuditStore`] for the embedded backend: tables `audit_hashes`, `audit_checkpoints`,
//! `audit_subjects` and the counter `audit_integrated` in `data.db`.
//!
//! Writes go through the same writer connection as [`crate::Store::append_audit`] (and
//! `BEGIN IMMEDIATE` across processes), so integration never interleaves with a half-written
//! append. Reads use the reader pool. Left out: any interpretation of leaves or hashes.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{SqliteStore, lock, to_i64};
use crate::{AuditIntegration, AuditLeaf, AuditStore, IntegrationOutcome, Mark, StoreError};

fn hash_from(v: Vec<u8>, idx: i64) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt(format!("audit_hashes[{idx}] is not 32 bytes")))
}

/// Inserts hashes, ignoring identical existing ones and refusing different ones.
fn put_hashes(
    tx: &rusqlite::Transaction<'_>,
    first_index: u64,
    hashes: &[[u8; 32]],
) -> Result<(), StoreError> {
    let mut ins = tx.prepare_cached(
        "INSERT INTO audit_hashes (idx, hash) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    let mut get = tx.prepare_cached("SELECT hash FROM audit_hashes WHERE idx = ?1")?;
    let first = to_i64(first_index)?;
    for (i, h) in hashes.iter().enumerate() {
        let idx = first + i as i64;
        if ins.execute(params![idx, h.as_slice()])? == 0 {
            let old: Vec<u8> = get.query_row([idx], |r| r.get(0))?;
            if old.as_slice() != h.as_slice() {
                return Err(StoreError::Conflict(format!(
                    "audit_hashes[{idx}] already holds a different hash"
                )));
            }
        }
    }
    Ok(())
}

impl AuditStore for SqliteStore {
    fn audit_leaves(&self, from: u64, to: u64) -> Result<Vec<(u64, AuditLeaf)>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let (from, to) = (to_i64(from)?, to_i64(to)?);
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT seq, leaf FROM audit_log WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![from, to], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::with_capacity((to - from).min(1 << 16) as usize);
            for r in rows {
                out.push(r?);
            }
            Ok(out)
        })
    }

    fn audit_hashes(&self, indexes: &[u64]) -> Result<Vec<Option<[u8; 32]>>, StoreError> {
        if indexes.len() <= 2 {
            return self.with_reader(|p| {
                let mut stmt = p
                    .data
                    .prepare_cached("SELECT hash FROM audit_hashes WHERE idx = ?1")?;
                indexes
                    .iter()
                    .map(|&i| {
                        let idx = to_i64(i)?;
                        stmt.query_row([idx], |r| r.get::<_, Vec<u8>>(0))
                            .optional()?
                            .map(|v| hash_from(v, idx))
                            .transpose()
                    })
                    .collect()
            });
        }
        // A proof needs a few dozen scattered hashes: fetch them in one statement.
        let mut list = String::with_capacity(indexes.len() * 12);
        list.push('[');
        for (n, &i) in indexes.iter().enumerate() {
            if n > 0 {
                list.push(',');
            }
            list.push_str(&to_i64(i)?.to_string());
        }
        list.push(']');
        let found = self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT idx, hash FROM audit_hashes WHERE idx IN (SELECT value FROM json_each(?1))",
            )?;
            let rows = stmt.query_map([&list], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut found = std::collections::HashMap::with_capacity(indexes.len());
            for r in rows {
                let (idx, h) = r?;
                found.insert(idx as u64, hash_from(h, idx)?);
            }
            Ok(found)
        })?;
        Ok(indexes.iter().map(|i| found.get(i).copied()).collect())
    }

    fn audit_hash_range(&self, from: u64, to: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let (from, to) = (to_i64(from)?, to_i64(to)?);
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT idx, hash FROM audit_hashes WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            )?;
            let rows = stmt.query_map(params![from, to], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::with_capacity((to - from).min(1 << 16) as usize);
            for r in rows {
                let (idx, h) = r?;
                out.push((idx as u64, hash_from(h, idx)?));
            }
            Ok(out)
        })
    }

    fn put_audit_hashes(&self, first_index: u64, hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        put_hashes(&tx, first_index, hashes)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_integrated_size(&self) -> Result<u64, StoreError> {
        self.with_reader(|p| {
            let n: i64 = p.data.query_row(
                "SELECT next FROM counters WHERE name = 'audit_integrated'",
                [],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }

    fn integrate_audit(&self, batch: &AuditIntegration) -> Result<IntegrationOutcome, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row(
            "SELECT next FROM counters WHERE name = 'audit_integrated'",
            [],
            |r| r.get(0),
        )?;
        if current as u64 != batch.from {
            return Ok(IntegrationOutcome::Stale(current as u64));
        }
        put_hashes(&tx, batch.first_hash_index, &batch.hashes)?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO audit_subjects (iid, seq) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?;
            for &(iid, seq) in &batch.history {
                ins.execute(params![to_i64(iid)?, to_i64(seq)?])?;
            }
        }
        tx.execute(
            "UPDATE counters SET next = ?1 WHERE name = 'audit_integrated'",
            [to_i64(batch.to)?],
        )?;
        tx.commit()?;
        Ok(IntegrationOutcome::Applied)
    }

    fn put_audit_checkpoint(&self, size: u64, signed_note: &str) -> Result<(), StoreError> {
        let w = lock(&self.writer);
        w.data.execute(
            "INSERT INTO audit_checkpoints (size, note) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![to_i64(size)?, signed_note],
        )?;
        Ok(())
    }

    fn audit_checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p
                .data
                .prepare_cached("SELECT size, note FROM audit_checkpoints ORDER BY size")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
            rows.map(|r| r.map_err(StoreError::from)).collect()
        })
    }

    fn put_mark(&self, name: &str, at_ms: u64, value: &str) -> Result<(), StoreError> {
        let w = lock(&self.writer);
        w.data
            .prepare_cached(
                "INSERT INTO marks (name, at_ms, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET at_ms = excluded.at_ms, value = excluded.value",
            )?
            .execute(params![name, to_i64(at_ms)?, value])?;
        Ok(())
    }

    fn mark(&self, name: &str) -> Result<Option<Mark>, StoreError> {
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached("SELECT at_ms, value FROM marks WHERE name = ?1")?
                .query_row([name], |r| {
                    Ok(Mark {
                        at_ms: r.get::<_, i64>(0)?.max(0) as u64,
                        value: r.get(1)?,
                    })
                })
                .optional()?)
        })
    }

    fn latest_audit_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached(
                    "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
                )?
                .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
                .optional()?)
        })
    }

    fn audit_subject_recent(
        &self,
        iid: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let iid = to_i64(iid)?;
        let before = match before {
            Some(b) => to_i64(b)?,
            None => i64::MAX,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT seq FROM audit_subjects WHERE iid = ?1 AND seq < ?2 \
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![iid, before, limit], |r| r.get::<_, i64>(0))?;
            rows.map(|r| r.map(|s| s as u64).map_err(StoreError::from))
                .collect()
        })
    }

    fn audit_subject_history(
        &self,
        iid: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let iid = to_i64(iid)?;
        let after = match after {
            Some(a) => to_i64(a)?,
            None => -1,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT seq FROM audit_subjects WHERE iid = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![iid, after, limit], |r| r.get::<_, i64>(0))?;
            rows.map(|r| r.map(|s| s as u64).map_err(StoreError::from))
                .collect()
        })
    }
}
