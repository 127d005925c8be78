//! [`RightsStore`] for PostgreSQL: requests and activity in `kura_data` (no value, no token
//! in clear), the restriction flag in `kura_keys.data_keys` beside the data key. Several
//! servers may run these at once: updates are compare-and-set on the row version, and a
//! retention cycle's "ask once" is the unique index on (subject, cycle).

use postgres::Row;

use super::{Conn, PostgresStore, append_leaves, prepared, to_i64};
use crate::rights::{ActivityRow, RightsFilter, RightsRecord, RightsStore};
use crate::{AuditLeaf, StoreError};
use uuid::Uuid;

fn record(r: &Row) -> RightsRecord {
    let hash: Option<Vec<u8>> = r.get(9);
    RightsRecord {
        id: r.get(0),
        kind: r.get(1),
        collection: r.get(2),
        subject: r.get(3),
        channel: r.get(4),
        state: r.get(5),
        opened_by: r.get(6),
        received_at: r.get(7),
        due_at: r.get(8),
        token_hash: hash.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok()),
        token_expires: r.get(10),
        cycle: r.get(11),
        version: r.get(12),
        updated_at: r.get(13),
        doc: r.get(14),
        receipt: r.get(15),
    }
}

impl RightsStore for PostgresStore {
    fn insert_rights_request(
        &self,
        r: &RightsRecord,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO kura_data.rights_requests (id, kind, collection, \
             subject_id, channel, state, opened_by, received_at, due_at, token_hash, \
             token_expires, cycle, version, updated_at, doc, receipt) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (subject_id, cycle) WHERE cycle IS NOT NULL DO NOTHING";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let stmt = prepared(&mut tx, stmts, SQL)?;
        let hash = r.token_hash.map(|h| h.to_vec());
        let n = tx.execute(
            &stmt,
            &[
                &r.id,
                &r.kind,
                &r.collection,
                &r.subject,
                &r.channel,
                &r.state,
                &r.opened_by,
                &r.received_at,
                &r.due_at,
                &hash,
                &r.token_expires,
                &r.cycle,
                &r.version,
                &r.updated_at,
                &r.doc,
                &r.receipt,
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        if let (Some(s), Some(_)) = (&r.subject, &r.cycle) {
            let asked = prepared(
                &mut tx,
                stmts,
                "UPDATE kura_data.subject_activity SET asked_at = $2 WHERE subject_id = $1",
            )?;
            tx.execute(&asked, &[s, &r.received_at])?;
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn rights_request(&self, id: &str) -> Result<Option<RightsRecord>, StoreError> {
        const SQL: &str = "SELECT id, kind, collection, subject_id, channel, state, opened_by, \
             received_at, due_at, token_hash, token_expires, cycle, version, updated_at, doc, \
             receipt FROM kura_data.rights_requests WHERE id = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client.query_opt(&stmt, &[&id])?.as_ref().map(record))
    }

    fn rights_request_by_token(&self, hash: &[u8; 32]) -> Result<Option<RightsRecord>, StoreError> {
        const SQL: &str = "SELECT id, kind, collection, subject_id, channel, state, opened_by, \
             received_at, due_at, token_hash, token_expires, cycle, version, updated_at, doc, \
             receipt FROM kura_data.rights_requests WHERE token_hash = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query_opt(&stmt, &[&hash.as_slice()])?
            .as_ref()
            .map(record))
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
        const SQL: &str = "UPDATE kura_data.rights_requests SET subject_id = $2, state = $3, \
             due_at = $4, token_hash = $5, token_expires = $6, version = $7::bigint, updated_at = $8, \
             doc = $9, receipt = $10 WHERE id = $1 AND version = $7::bigint - 1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let stmt = prepared(&mut tx, stmts, SQL)?;
        let mut n = 0u64;
        for r in rs {
            let hash = r.token_hash.map(|h| h.to_vec());
            n += tx.execute(
                &stmt,
                &[
                    &r.id,
                    &r.subject,
                    &r.state,
                    &r.due_at,
                    &hash,
                    &r.token_expires,
                    &r.version,
                    &r.updated_at,
                    &r.doc,
                    &r.receipt,
                ],
            )?;
        }
        if n == 0 {
            return Ok(0);
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(n)
    }

    fn rights_requests(
        &self,
        filter: &RightsFilter,
        limit: usize,
    ) -> Result<Vec<RightsRecord>, StoreError> {
        const SQL: &str = "SELECT id, kind, collection, subject_id, channel, state, opened_by, \
             received_at, due_at, token_hash, token_expires, cycle, version, updated_at, doc, \
             receipt FROM kura_data.rights_requests \
             WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR cycle = $2) \
               AND ($3::uuid IS NULL OR subject_id = $3) AND ($4::text IS NULL OR id > $4) \
             ORDER BY id LIMIT $5";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query(
                &stmt,
                &[
                    &filter.state,
                    &filter.cycle,
                    &filter.subject,
                    &filter.after,
                    &limit,
                ],
            )?
            .iter()
            .map(record)
            .collect())
    }

    fn rights_overdue(&self, now: i64) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM kura_data.rights_requests \
             WHERE state IN ('awaiting_verification', 'verified', 'erasing') AND due_at < $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let n: i64 = client.query_one(&stmt, &[&now])?.get(0);
        Ok(n.max(0) as u64)
    }

    fn touch_activity(&self, seen: &[(Uuid, i64)]) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO kura_data.subject_activity (subject_id, active_at) \
             SELECT * FROM unnest($1::uuid[], $2::bigint[]) \
             ON CONFLICT (subject_id) DO UPDATE SET active_at = excluded.active_at \
             WHERE excluded.active_at > kura_data.subject_activity.active_at";
        if seen.is_empty() {
            return Ok(());
        }
        // One row per subject in the statement (ON CONFLICT may not touch a row twice).
        let mut latest: std::collections::BTreeMap<Uuid, i64> = Default::default();
        for (id, at) in seen {
            let e = latest.entry(*id).or_insert(*at);
            *e = (*e).max(*at);
        }
        let ids: Vec<Uuid> = latest.keys().copied().collect();
        let ats: Vec<i64> = latest.values().copied().collect();
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        client.execute(&stmt, &[&ids, &ats])?;
        Ok(())
    }

    fn activity_page(
        &self,
        collection: &str,
        after_iid: u64,
        limit: usize,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        const SQL: &str = "SELECT s.iid, s.subject_id, s.country, s.locale, a.active_at, a.asked_at \
             FROM kura_data.subjects s \
             LEFT JOIN kura_data.subject_activity a ON a.subject_id = s.subject_id \
             WHERE s.iid > $1 AND s.collection = $2 ORDER BY s.iid LIMIT $3";
        let after = to_i64(after_iid).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query(&stmt, &[&after, &collection, &limit])?
            .iter()
            .map(|r| ActivityRow {
                iid: r.get::<_, i64>(0).max(0) as u64,
                id: r.get(1),
                country: r.get(2),
                locale: r.get(3),
                active_at: r.get(4),
                asked_at: r.get(5),
            })
            .collect())
    }

    fn set_restricted(
        &self,
        id: &Uuid,
        restricted: bool,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE kura_keys.data_keys SET restricted = $2 WHERE subject_id = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let stmt = prepared(&mut tx, stmts, SQL)?;
        let n = tx.execute(&stmt, &[id, &restricted])?;
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(n > 0)
    }
}
