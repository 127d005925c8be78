//! [`RightsStore`] for the embedded backend: requests and activity in `data.db`, the
//! restriction flag in `keys.db` beside the data key. Writes go through the writer
//! connection with `BEGIN IMMEDIATE`, serialized with every other writer on the file.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, append_leaves, lock, to_i64};
use crate::rights::{ActivityRow, RightsFilter, RightsRecord, RightsStore};
use crate::{AuditLeaf, StoreError};

const COLUMNS: &str = "id, kind, collection, subject, channel, state, opened_by, received_at, \
     due_at, token_hash, token_expires, cycle, version, updated_at, doc, receipt";

/// States a request is open in (kura_obligations::rights::State::is_open).
const OPEN: &str = "('awaiting_verification', 'verified', 'erasing')";

fn uuid_of(b: Option<Vec<u8>>) -> rusqlite::Result<Option<Uuid>> {
    b.map(|b| {
        Uuid::from_slice(&b).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Blob, e.into())
        })
    })
    .transpose()
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RightsRecord> {
    let hash: Option<Vec<u8>> = r.get(9)?;
    Ok(RightsRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        collection: r.get(2)?,
        subject: uuid_of(r.get(3)?)?,
        channel: r.get(4)?,
        state: r.get(5)?,
        opened_by: r.get(6)?,
        received_at: r.get(7)?,
        due_at: r.get(8)?,
        token_hash: hash.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok()),
        token_expires: r.get(10)?,
        cycle: r.get(11)?,
        version: r.get(12)?,
        updated_at: r.get(13)?,
        doc: r.get(14)?,
        receipt: r.get(15)?,
    })
}

impl RightsStore for SqliteStore {
    fn insert_rights_request(
        &self,
        r: &RightsRecord,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let (Some(s), Some(c)) = (&r.subject, &r.cycle) {
            let asked: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM rights_requests WHERE subject = ?1 AND cycle = ?2",
                    params![s.as_bytes().as_slice(), c],
                    |r| r.get(0),
                )
                .optional()?;
            if asked.is_some() {
                return Ok(false);
            }
        }
        tx.execute(
            &format!(
                "INSERT INTO rights_requests ({COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ),
            params![
                r.id,
                r.kind,
                r.collection,
                r.subject.as_ref().map(|s| s.as_bytes().to_vec()),
                r.channel,
                r.state,
                r.opened_by,
                r.received_at,
                r.due_at,
                r.token_hash.map(|h| h.to_vec()),
                r.token_expires,
                r.cycle,
                r.version,
                r.updated_at,
                r.doc,
                r.receipt,
            ],
        )?;
        if let (Some(s), Some(_)) = (&r.subject, &r.cycle) {
            tx.execute(
                "UPDATE subject_activity SET asked_at = ?2 WHERE subject = ?1",
                params![s.as_bytes().as_slice(), r.received_at],
            )?;
        }
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn rights_request(&self, id: &str) -> Result<Option<RightsRecord>, StoreError> {
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM rights_requests WHERE id = ?1"
                ))?
                .query_row([id], row)
                .optional()?)
        })
    }

    fn rights_request_by_token(&self, hash: &[u8; 32]) -> Result<Option<RightsRecord>, StoreError> {
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM rights_requests WHERE token_hash = ?1"
                ))?
                .query_row([hash.as_slice()], row)
                .optional()?)
        })
    }

    fn update_rights_request(
        &self,
        r: &RightsRecord,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        Ok(self.update_rights_requests(std::slice::from_ref(r), audit)? == 1)
    }

    fn update_rights_requests(
        &self,
        rs: &[RightsRecord],
        audit: &[AuditLeaf],
    ) -> Result<u64, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0u64;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE rights_requests SET subject = ?2, state = ?3, due_at = ?4, \
                 token_hash = ?5, token_expires = ?6, version = ?7, updated_at = ?8, doc = ?9, \
                 receipt = ?10 WHERE id = ?1 AND version = ?7 - 1",
            )?;
            for r in rs {
                n += stmt.execute(params![
                    r.id,
                    r.subject.as_ref().map(|s| s.as_bytes().to_vec()),
                    r.state,
                    r.due_at,
                    r.token_hash.map(|h| h.to_vec()),
                    r.token_expires,
                    r.version,
                    r.updated_at,
                    r.doc,
                    r.receipt,
                ])? as u64;
            }
        }
        if n == 0 {
            return Ok(0);
        }
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(n)
    }

    fn rights_requests(
        &self,
        filter: &RightsFilter,
        limit: usize,
    ) -> Result<Vec<RightsRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM rights_requests \
                 WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR cycle = ?2) \
                   AND (?3 IS NULL OR subject = ?3) AND (?4 IS NULL OR id > ?4) \
                 ORDER BY id LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.state,
                    filter.cycle,
                    filter.subject.as_ref().map(|s| s.as_bytes().to_vec()),
                    filter.after,
                    i64::try_from(limit).unwrap_or(i64::MAX),
                ],
                row,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn rights_overdue(&self, now: i64) -> Result<u64, StoreError> {
        self.with_reader(|p| {
            let n: i64 = p.data.query_row(
                &format!(
                    "SELECT COUNT(*) FROM rights_requests WHERE state IN {OPEN} AND due_at < ?1"
                ),
                [now],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
    }

    fn touch_activity(&self, seen: &[(Uuid, i64)]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO subject_activity (subject, active_at) VALUES (?1, ?2) \
                 ON CONFLICT (subject) DO UPDATE SET active_at = excluded.active_at \
                 WHERE excluded.active_at > subject_activity.active_at",
            )?;
            for (id, at) in seen {
                stmt.execute(params![id.as_bytes().as_slice(), at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn activity_page(
        &self,
        collection: &str,
        after_iid: u64,
        limit: usize,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT s.iid, s.id, s.country, s.locale, a.active_at, a.asked_at FROM subjects s \
                 LEFT JOIN subject_activity a ON a.subject = s.id \
                 WHERE s.iid > ?1 AND s.collection = ?2 ORDER BY s.iid LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![
                    to_i64(after_iid).unwrap_or(i64::MAX),
                    collection,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok(ActivityRow {
                        iid: r.get::<_, i64>(0)?.max(0) as u64,
                        id: uuid_of(Some(r.get(1)?))?.unwrap_or_default(),
                        country: r.get(2)?,
                        locale: r.get(3)?,
                        active_at: r.get(4)?,
                        asked_at: r.get(5)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn set_restricted(
        &self,
        id: &Uuid,
        restricted: bool,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        // The event first, durable in the data store; then the flag in the key store. A
        // crash in between leaves an event for a change not made — never a change unlogged.
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        append_leaves(&tx, audit)?;
        tx.commit()?;
        let n = w.keys.execute(
            "UPDATE data_keys SET restricted = ?2 WHERE subject = ?1",
            params![id.as_bytes().as_slice(), restricted],
        )?;
        Ok(n > 0)
    }
}
