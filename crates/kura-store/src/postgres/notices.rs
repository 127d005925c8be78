//! [`NoticeStore`] for PostgreSQL: campaigns, the delivery ledger and remediation codes in
//! `kura_data` (the data reader sees them; none holds an address, a value or a code in
//! clear); [`NoticeStore::subjects_by_iid`] joins `kura_keys.data_keys` as
//! [`crate::Store::subject`] does.
//!
//! Several servers may run these at once; nothing relies on a process-local lock:
//! - a claim is one `INSERT` of every row: the primary key (campaign, iid) refuses a person
//!   claimed by anyone, and the transaction (leaves included) rolls back;
//! - an assignment of remediation codes locks free codes `FOR UPDATE SKIP LOCKED`, so two
//!   callers take disjoint codes without waiting on each other; a person given a code by a
//!   concurrent caller is caught by the unique index on (region, campaign, iid), and the
//!   assignment is retried (it then finds the person's code and returns it).
//!
//! Left out: any cryptography, any rule about who is notified, and erasure.

use std::collections::BTreeMap;

use postgres::Row;
use postgres::error::SqlState;

use super::directory::incident_leaves_in;
use super::{Conn, PostgresStore, append_leaves, prepared, to_i64};
use crate::notices::{
    CampaignRecord, DeliveryCount, DeliveryRecord, NoticeStore, RemediationStock,
};
use crate::record::tokens_from_blob;
use crate::{AuditLeaf, StoreError, StoredSubject};
use kura_crypto::WrappedKey;

const CAMPAIGNS: &str = "SELECT id, incident, scope_version, created_at, by_principal, status, \
     body FROM kura_data.notice_campaigns";
const DELIVERIES: &str = "SELECT campaign, iid, state, family, locale, country, channel, \
     message_id, attempts, detail, updated_at FROM kura_data.notice_deliveries";

/// How often an assignment of codes is retried after losing a race for a person (or a
/// deadlock between two assignments touching the same people).
const ASSIGN_ATTEMPTS: usize = 5;

fn campaign_row(r: &Row) -> Result<CampaignRecord, StoreError> {
    Ok(CampaignRecord {
        id: r.get(0),
        incident: r.get(1),
        scope_version: u32::try_from(r.get::<_, i64>(2))
            .map_err(|_| StoreError::Corrupt("campaign scope version out of range".into()))?,
        created_at: r.get(3),
        by: r.get(4),
        status: r.get(5),
        body: r.get(6),
    })
}

fn delivery_row(r: &Row) -> DeliveryRecord {
    DeliveryRecord {
        campaign: r.get(0),
        iid: r.get::<_, i64>(1).max(0) as u64,
        state: r.get(2),
        family: r.get(3),
        locale: r.get(4),
        country: r.get(5),
        channel: r.get(6),
        message_id: r.get(7),
        attempts: r.get::<_, i64>(8).clamp(0, i64::from(u32::MAX)) as u32,
        detail: r.get(9),
        updated_at: r.get(10),
    }
}

/// An internal-id bound as stored (ids above `i64::MAX` do not exist).
fn bound(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `iids` ascending, each once, as stored.
fn ascending(iids: &[u64]) -> Result<Vec<i64>, StoreError> {
    let mut v = iids
        .iter()
        .map(|i| to_i64(*i))
        .collect::<Result<Vec<_>, _>>()?;
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// One pass of [`NoticeStore::assign_remediation_codes`] in its own transaction; errors are
/// left raw so that the caller can tell a lost race from a failure.
fn assign_once(
    client: &mut postgres::Client,
    region: &str,
    campaign: &str,
    wanted: &[i64],
) -> Result<Vec<(u64, String, Vec<u8>)>, postgres::Error> {
    const HELD: &str = "SELECT iid FROM kura_data.remediation_codes \
         WHERE region = $1 AND campaign = $2 AND iid = ANY($3)";
    // Codes another assignment has locked are skipped, not waited for; a code assigned by a
    // transaction that committed after this statement began is re-checked (`campaign IS
    // NULL`) once locked, and dropped.
    const FREE: &str = "SELECT digest FROM kura_data.remediation_codes \
         WHERE region = $1 AND campaign IS NULL ORDER BY digest LIMIT $2 FOR UPDATE SKIP LOCKED";
    const TAKE: &str = "UPDATE kura_data.remediation_codes c SET campaign = $2, iid = x.iid \
         FROM unnest($3::bytea[], $4::bigint[]) AS x(digest, iid) \
         WHERE c.digest = x.digest AND c.region = $1 AND c.campaign IS NULL";
    const MINE: &str = "SELECT iid, provider, sealed FROM kura_data.remediation_codes \
         WHERE region = $1 AND campaign = $2 AND iid = ANY($3) ORDER BY iid";
    let mut tx = client.transaction()?;
    let held: Vec<i64> = tx
        .query(HELD, &[&region, &campaign, &wanted])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let needy: Vec<i64> = wanted
        .iter()
        .copied()
        .filter(|i| !held.contains(i))
        .collect();
    if !needy.is_empty() {
        let n = needy.len() as i64;
        let codes: Vec<Vec<u8>> = tx
            .query(FREE, &[&region, &n])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Fewer codes than people: the first people (by iid) get one, the rest none.
        let people = &needy[..codes.len().min(needy.len())];
        if !people.is_empty() {
            tx.execute(TAKE, &[&region, &campaign, &codes, &people])?;
        }
    }
    let out = tx
        .query(MINE, &[&region, &campaign, &wanted])?
        .iter()
        .map(|r| (r.get::<_, i64>(0) as u64, r.get(1), r.get(2)))
        .collect();
    tx.commit()?;
    Ok(out)
}

impl NoticeStore for PostgresStore {
    fn insert_campaign(&self, c: &CampaignRecord, audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO kura_data.notice_campaigns \
             (id, incident, scope_version, created_at, by_principal, status, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &c.id,
                &c.incident,
                &i64::from(c.scope_version),
                &c.created_at,
                &c.by,
                &c.status,
                &c.body,
            ],
        )?;
        incident_leaves_in(&mut tx, stmts, &c.incident, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        let sql = format!("{CAMPAIGNS} WHERE id = $1");
        conn.client
            .query_opt(&sql, &[&id])?
            .as_ref()
            .map(campaign_row)
            .transpose()
    }

    fn campaigns(&self, incident: &str) -> Result<Vec<CampaignRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        let sql = format!("{CAMPAIGNS} WHERE incident = $1 ORDER BY created_at, id");
        conn.client
            .query(&sql, &[&incident])?
            .iter()
            .map(campaign_row)
            .collect()
    }

    fn update_campaign(
        &self,
        id: &str,
        status: &str,
        body: &str,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let Some(row) = tx.query_opt(
            "UPDATE kura_data.notice_campaigns SET status = $2, body = $3 WHERE id = $1 \
             RETURNING incident",
            &[&id, &status, &body],
        )?
        else {
            return Err(StoreError::NotFound(format!("notice campaign {id}")));
        };
        let incident: String = row.get(0);
        incident_leaves_in(&mut tx, stmts, &incident, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn claim_deliveries(
        &self,
        rows: &[DeliveryRecord],
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO kura_data.notice_deliveries \
             (campaign, iid, state, family, locale, country, channel, message_id, attempts, \
              detail, updated_at) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::bigint[])";
        if rows.is_empty() && audit.is_empty() {
            return Ok(());
        }
        let campaign: Vec<&str> = rows.iter().map(|d| d.campaign.as_str()).collect();
        let iid = rows
            .iter()
            .map(|d| to_i64(d.iid))
            .collect::<Result<Vec<_>, _>>()?;
        let state: Vec<&str> = rows.iter().map(|d| d.state.as_str()).collect();
        let family: Vec<&str> = rows.iter().map(|d| d.family.as_str()).collect();
        let locale: Vec<&str> = rows.iter().map(|d| d.locale.as_str()).collect();
        let country: Vec<&str> = rows.iter().map(|d| d.country.as_str()).collect();
        let channel: Vec<&str> = rows.iter().map(|d| d.channel.as_str()).collect();
        let message_id: Vec<&str> = rows.iter().map(|d| d.message_id.as_str()).collect();
        let attempts: Vec<i64> = rows.iter().map(|d| i64::from(d.attempts)).collect();
        let detail: Vec<Option<&str>> = rows.iter().map(|d| d.detail.as_deref()).collect();
        let updated_at: Vec<i64> = rows.iter().map(|d| d.updated_at).collect();
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        if !rows.is_empty() {
            let stmt = prepared(&mut tx, stmts, SQL)?;
            // A (campaign, iid) claimed already is a unique violation (`Conflict`); dropping
            // `tx` rolls back every row of this call.
            tx.execute(
                &stmt,
                &[
                    &campaign,
                    &iid,
                    &state,
                    &family,
                    &locale,
                    &country,
                    &channel,
                    &message_id,
                    &attempts,
                    &detail,
                    &updated_at,
                ],
            )?;
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn record_deliveries(
        &self,
        rows: &[DeliveryRecord],
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE kura_data.notice_deliveries d \
             SET state = x.state, attempts = x.attempts, detail = x.detail, \
                 updated_at = x.updated_at \
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], \
                $6::bigint[]) AS x(campaign, iid, state, attempts, detail, updated_at) \
             WHERE d.campaign = x.campaign AND d.iid = x.iid";
        if rows.is_empty() && audit.is_empty() {
            return Ok(());
        }
        // One source row per (campaign, iid), the last given winning (as it does when the
        // rows are applied in order).
        let mut last: BTreeMap<(&str, u64), &DeliveryRecord> = BTreeMap::new();
        for d in rows {
            last.insert((d.campaign.as_str(), d.iid), d);
        }
        let campaign: Vec<&str> = last.values().map(|d| d.campaign.as_str()).collect();
        let iid = last
            .values()
            .map(|d| to_i64(d.iid))
            .collect::<Result<Vec<_>, _>>()?;
        let state: Vec<&str> = last.values().map(|d| d.state.as_str()).collect();
        let attempts: Vec<i64> = last.values().map(|d| i64::from(d.attempts)).collect();
        let detail: Vec<Option<&str>> = last.values().map(|d| d.detail.as_deref()).collect();
        let updated_at: Vec<i64> = last.values().map(|d| d.updated_at).collect();
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        if !last.is_empty() {
            let stmt = prepared(&mut tx, stmts, SQL)?;
            let n = tx.execute(
                &stmt,
                &[&campaign, &iid, &state, &attempts, &detail, &updated_at],
            )?;
            if n != last.len() as u64 {
                // Returning drops `tx`: nothing of this call is written.
                return Err(StoreError::NotFound(format!(
                    "{} of {} deliveries were never claimed",
                    last.len() as u64 - n,
                    last.len()
                )));
            }
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn deliveries_between(
        &self,
        campaign: &str,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        let sql =
            format!("{DELIVERIES} WHERE campaign = $1 AND iid >= $2 AND iid <= $3 ORDER BY iid");
        Ok(conn
            .client
            .query(&sql, &[&campaign, &bound(lo), &bound(hi)])?
            .iter()
            .map(delivery_row)
            .collect())
    }

    fn deliveries_in_state(
        &self,
        campaign: &str,
        state: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get()?;
        let sql = format!(
            "{DELIVERIES} WHERE campaign = $1 AND state = $2 AND iid > $3 ORDER BY iid LIMIT $4"
        );
        Ok(conn
            .client
            .query(&sql, &[&campaign, &state, &bound(after), &limit])?
            .iter()
            .map(delivery_row)
            .collect())
    }

    fn delivery_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        if message_id.is_empty() {
            return Ok(None);
        }
        let mut conn = self.pool.get()?;
        let sql = format!("{DELIVERIES} WHERE message_id = $1 ORDER BY campaign, iid LIMIT 1");
        Ok(conn
            .client
            .query_opt(&sql, &[&message_id])?
            .as_ref()
            .map(delivery_row))
    }

    fn delivery_counts(&self, campaign: &str) -> Result<Vec<DeliveryCount>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query(
                "SELECT state, locale, country, channel, family, count(*) \
                 FROM kura_data.notice_deliveries WHERE campaign = $1 \
                 GROUP BY state, locale, country, channel, family \
                 ORDER BY state, locale, country, channel, family",
                &[&campaign],
            )?
            .iter()
            .map(|r| DeliveryCount {
                state: r.get(0),
                locale: r.get(1),
                country: r.get(2),
                channel: r.get(3),
                family: r.get(4),
                count: r.get::<_, i64>(5).max(0) as u64,
            })
            .collect())
    }

    fn subjects_by_iid(&self, iids: &[u64]) -> Result<Vec<StoredSubject>, StoreError> {
        // As `Store::subject`: keys and rows in one statement; the inner join leaves out a
        // subject without its key (shredded).
        const SQL: &str = "SELECT s.iid, s.subject_id, s.collection, s.country, s.locale, \
                s.version, s.fields, s.tokens, k.kek_version, k.wrapped, k.epoch, k.restricted \
             FROM kura_data.subjects s JOIN kura_keys.data_keys k ON k.subject_id = s.subject_id \
             WHERE s.iid = ANY($1) ORDER BY s.iid";
        let wanted = ascending(iids)?;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        client
            .query(&stmt, &[&wanted])?
            .iter()
            .map(|r| {
                let kek_version: i32 = r.get(8);
                Ok(StoredSubject {
                    iid: r.get::<_, i64>(0) as u64,
                    id: r.get(1),
                    collection: r.get(2),
                    country: r.get(3),
                    locale: r.get(4),
                    version: r.get(5),
                    fields: r.get(6),
                    tokens: tokens_from_blob(r.get(7))?,
                    wrapped_key: WrappedKey {
                        kek_version: u32::try_from(kek_version)
                            .map_err(|_| StoreError::Corrupt("negative kek version".into()))?,
                        bytes: r.get(9),
                    },
                    key_epoch: r.get::<_, i64>(10).max(0) as u64,
                    restricted: r.get(11),
                    cards: None,
                })
            })
            .collect()
    }

    fn insert_remediation_codes(
        &self,
        region: &str,
        provider: &str,
        codes: &[([u8; 32], Vec<u8>)],
        audit: &[AuditLeaf],
    ) -> Result<u64, StoreError> {
        // A digest stored already, or repeated in `codes`, is skipped; a concurrent import of
        // the same code waits for the first and then skips it.
        const SQL: &str = "INSERT INTO kura_data.remediation_codes (digest, region, provider, sealed) \
             SELECT x.digest, $1, $2, x.sealed FROM unnest($3::bytea[], $4::bytea[]) AS x(digest, sealed) \
             ON CONFLICT (digest) DO NOTHING";
        let digests: Vec<&[u8]> = codes.iter().map(|(d, _)| d.as_slice()).collect();
        let sealed: Vec<&[u8]> = codes.iter().map(|(_, s)| s.as_slice()).collect();
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let new = if codes.is_empty() {
            0
        } else {
            let stmt = prepared(&mut tx, stmts, SQL)?;
            tx.execute(&stmt, &[&region, &provider, &digests, &sealed])?
        };
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(new)
    }

    fn assign_remediation_codes(
        &self,
        region: &str,
        campaign: &str,
        iids: &[u64],
    ) -> Result<Vec<(u64, String, Vec<u8>)>, StoreError> {
        let wanted = ascending(iids)?;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get()?;
        let mut attempt = 1;
        loop {
            match assign_once(&mut conn.client, region, campaign, &wanted) {
                Ok(out) => return Ok(out),
                Err(e)
                    if attempt < ASSIGN_ATTEMPTS
                        && matches!(
                            e.code(),
                            Some(&SqlState::UNIQUE_VIOLATION)
                                | Some(&SqlState::T_R_DEADLOCK_DETECTED)
                                | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                        ) =>
                {
                    // A concurrent assignment gave one of these people a code first (or the
                    // two deadlocked): nothing of this pass was written; the next pass finds
                    // their code and returns it.
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn remediation_stock(&self) -> Result<Vec<RemediationStock>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query(
                "SELECT region, provider, count(*), count(campaign) \
                 FROM kura_data.remediation_codes GROUP BY region, provider \
                 ORDER BY region, provider",
                &[],
            )?
            .iter()
            .map(|r| RemediationStock {
                region: r.get(0),
                provider: r.get(1),
                total: r.get::<_, i64>(2).max(0) as u64,
                assigned: r.get::<_, i64>(3).max(0) as u64,
            })
            .collect())
    }
}
