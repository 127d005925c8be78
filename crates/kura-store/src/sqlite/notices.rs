//! [`NoticeStore`] for the embedded backend: campaigns, the delivery ledger and remediation
//! codes in `data.db`; [`NoticeStore::subjects_by_iid`] reads wrapped keys from `keys.db`.
//!
//! Writes go through the writer connection with `BEGIN IMMEDIATE`, which serializes them with
//! every other writer on the file, in this process and in others: a claim, an import and an
//! assignment of codes each run whole or not at all, one at a time. Left out: any
//! cryptography, any rule about who is notified, and erasure.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::directory::incident_leaves_in;
use super::{SqliteStore, append_leaves, lock, to_i64};
use crate::notices::{
    CampaignRecord, DeliveryCount, DeliveryRecord, NoticeStore, RemediationStock,
};
use crate::record::tokens_from_blob;
use crate::{AuditLeaf, StoreError, StoredSubject};
use kura_crypto::WrappedKey;

const CAMPAIGN_COLUMNS: &str = "id, incident, scope_version, created_at, by, status, body";
const DELIVERY_COLUMNS: &str = "campaign, iid, state, family, locale, country, channel, \
     message_id, attempts, detail, updated_at";

fn campaign_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CampaignRecord> {
    Ok(CampaignRecord {
        id: r.get(0)?,
        incident: r.get(1)?,
        scope_version: r.get(2)?,
        created_at: r.get(3)?,
        by: r.get(4)?,
        status: r.get(5)?,
        body: r.get(6)?,
    })
}

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        campaign: r.get(0)?,
        iid: r.get::<_, i64>(1)?.max(0) as u64,
        state: r.get(2)?,
        family: r.get(3)?,
        locale: r.get(4)?,
        country: r.get(5)?,
        channel: r.get(6)?,
        message_id: r.get(7)?,
        attempts: r.get::<_, i64>(8)?.clamp(0, i64::from(u32::MAX)) as u32,
        detail: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// An internal-id bound as SQLite stores it (ids above `i64::MAX` do not exist).
fn bound(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `iids` ascending, each once.
fn ascending(iids: &[u64]) -> Vec<u64> {
    let mut v = iids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

impl NoticeStore for SqliteStore {
    fn insert_campaign(&self, c: &CampaignRecord, audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            &format!(
                "INSERT INTO notice_campaigns ({CAMPAIGN_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                c.id,
                c.incident,
                c.scope_version,
                c.created_at,
                c.by,
                c.status,
                c.body
            ],
        )?;
        incident_leaves_in(&tx, &c.incident, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn campaign(&self, id: &str) -> Result<Option<CampaignRecord>, StoreError> {
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached(&format!(
                    "SELECT {CAMPAIGN_COLUMNS} FROM notice_campaigns WHERE id = ?1"
                ))?
                .query_row([id], campaign_row)
                .optional()?)
        })
    }

    fn campaigns(&self, incident: &str) -> Result<Vec<CampaignRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(&format!(
                "SELECT {CAMPAIGN_COLUMNS} FROM notice_campaigns WHERE incident = ?1 \
                 ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map([incident], campaign_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn update_campaign(
        &self,
        id: &str,
        status: &str,
        body: &str,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let incident: Option<String> = tx
            .query_row(
                "UPDATE notice_campaigns SET status = ?2, body = ?3 WHERE id = ?1 \
                 RETURNING incident",
                params![id, status, body],
                |r| r.get(0),
            )
            .optional()?;
        let Some(incident) = incident else {
            return Err(StoreError::NotFound(format!("notice campaign {id}")));
        };
        incident_leaves_in(&tx, &incident, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn claim_deliveries(
        &self,
        rows: &[DeliveryRecord],
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            // A plain INSERT: an existing (campaign, iid) is a constraint violation, which
            // rolls the whole transaction back (the dropped `tx`), leaves included.
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT INTO notice_deliveries ({DELIVERY_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?;
            for d in rows {
                stmt.execute(params![
                    d.campaign,
                    to_i64(d.iid)?,
                    d.state,
                    d.family,
                    d.locale,
                    d.country,
                    d.channel,
                    d.message_id,
                    i64::from(d.attempts),
                    d.detail,
                    d.updated_at
                ])?;
            }
        }
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn record_deliveries(
        &self,
        rows: &[DeliveryRecord],
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE notice_deliveries SET state = ?3, attempts = ?4, detail = ?5, \
                 updated_at = ?6 WHERE campaign = ?1 AND iid = ?2",
            )?;
            for d in rows {
                let n = stmt.execute(params![
                    d.campaign,
                    to_i64(d.iid)?,
                    d.state,
                    i64::from(d.attempts),
                    d.detail,
                    d.updated_at
                ])?;
                if n == 0 {
                    // Returning drops `tx`: nothing of this call is written.
                    return Err(StoreError::NotFound(format!(
                        "delivery of internal id {} in notice campaign {}",
                        d.iid, d.campaign
                    )));
                }
            }
        }
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn deliveries_between(
        &self,
        campaign: &str,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM notice_deliveries \
                 WHERE campaign = ?1 AND iid >= ?2 AND iid <= ?3 ORDER BY iid"
            ))?;
            let rows = stmt.query_map(params![campaign, bound(lo), bound(hi)], delivery_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn deliveries_in_state(
        &self,
        campaign: &str,
        state: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM notice_deliveries \
                 WHERE campaign = ?1 AND state = ?2 AND iid > ?3 ORDER BY iid LIMIT ?4"
            ))?;
            let rows =
                stmt.query_map(params![campaign, state, bound(after), limit], delivery_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn delivery_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        if message_id.is_empty() {
            return Ok(None);
        }
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM notice_deliveries WHERE message_id = ?1 \
                     ORDER BY campaign, iid LIMIT 1"
                ))?
                .query_row([message_id], delivery_row)
                .optional()?)
        })
    }

    fn delivery_counts(&self, campaign: &str) -> Result<Vec<DeliveryCount>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT state, locale, country, channel, family, count(*) FROM notice_deliveries \
                 WHERE campaign = ?1 GROUP BY state, locale, country, channel, family \
                 ORDER BY state, locale, country, channel, family",
            )?;
            let rows = stmt.query_map([campaign], |r| {
                Ok(DeliveryCount {
                    state: r.get(0)?,
                    locale: r.get(1)?,
                    country: r.get(2)?,
                    channel: r.get(3)?,
                    family: r.get(4)?,
                    count: r.get::<_, i64>(5)?.max(0) as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn subjects_by_iid(&self, iids: &[u64]) -> Result<Vec<StoredSubject>, StoreError> {
        let wanted = ascending(iids);
        self.with_reader(|p| {
            // 1. Public ids: an internal id names one public id for good, so reading the
            //    mapping before the keys cannot make a row look older than its key.
            let mut ids: Vec<(u64, Uuid)> = Vec::with_capacity(wanted.len());
            {
                let tx = p.data.unchecked_transaction()?;
                {
                    let mut stmt = tx.prepare_cached("SELECT id FROM subjects WHERE iid = ?1")?;
                    for iid in &wanted {
                        let id: Option<Vec<u8>> =
                            stmt.query_row([to_i64(*iid)?], |r| r.get(0)).optional()?;
                        if let Some(b) = id {
                            ids.push((*iid, subject_id(&b)?));
                        }
                    }
                }
                tx.commit()?;
            }
            // 2. Keys (and seal epochs) first, in one key-store read transaction, as
            //    `Store::subject` does: a subject without a key (shredded) is left out.
            let mut keyed: Vec<(u64, Uuid, WrappedKey, u64, bool)> = Vec::with_capacity(ids.len());
            {
                let tx = p.keys.unchecked_transaction()?;
                {
                    let mut stmt = tx.prepare_cached(
                        "SELECT kek_version, wrapped, epoch, restricted FROM data_keys \
                         WHERE subject = ?1",
                    )?;
                    for (iid, id) in &ids {
                        let key = stmt
                            .query_row([id.as_bytes().as_slice()], |r| {
                                Ok((
                                    WrappedKey {
                                        kek_version: r.get(0)?,
                                        bytes: r.get(1)?,
                                    },
                                    r.get::<_, i64>(2)?,
                                    r.get::<_, bool>(3)?,
                                ))
                            })
                            .optional()?;
                        if let Some((key, epoch, restricted)) = key {
                            keyed.push((*iid, *id, key, epoch.max(0) as u64, restricted));
                        }
                    }
                }
                tx.commit()?;
            }
            // 3. Rows second, in one data-store read transaction begun after the keys were
            //    read: each row is at least as new as the epoch read for it.
            let mut out = Vec::with_capacity(keyed.len());
            let tx = p.data.unchecked_transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT id, collection, country, locale, version, fields, tokens \
                     FROM subjects WHERE iid = ?1",
                )?;
                for (iid, id, wrapped_key, key_epoch, restricted) in keyed {
                    let row = stmt
                        .query_row([to_i64(iid)?], |r| {
                            Ok((
                                r.get::<_, Vec<u8>>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, i64>(4)?,
                                r.get::<_, Vec<u8>>(5)?,
                                r.get::<_, Vec<u8>>(6)?,
                            ))
                        })
                        .optional()?;
                    let Some((row_id, collection, country, locale, version, fields, tokens)) = row
                    else {
                        // Erased meanwhile.
                        continue;
                    };
                    if subject_id(&row_id)? != id {
                        return Err(StoreError::Corrupt(format!(
                            "internal id {iid} changed its public id"
                        )));
                    }
                    out.push(StoredSubject {
                        id,
                        iid,
                        collection,
                        country,
                        locale,
                        version,
                        fields,
                        tokens: tokens_from_blob(&tokens)?,
                        wrapped_key,
                        key_epoch,
                        restricted,
                        cards: None,
                    });
                }
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn insert_remediation_codes(
        &self,
        region: &str,
        provider: &str,
        codes: &[([u8; 32], Vec<u8>)],
        audit: &[AuditLeaf],
    ) -> Result<u64, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut new = 0u64;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO remediation_codes (digest, region, provider, sealed) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (digest) DO NOTHING",
            )?;
            for (digest, sealed) in codes {
                new += stmt.execute(params![digest.as_slice(), region, provider, sealed])? as u64;
            }
        }
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(new)
    }

    fn assign_remediation_codes(
        &self,
        region: &str,
        campaign: &str,
        iids: &[u64],
    ) -> Result<Vec<(u64, String, Vec<u8>)>, StoreError> {
        let wanted = ascending(iids);
        let mut w = lock(&self.writer);
        // The write lock is held from the first look at a person's code to the commit, so no
        // other assignment (in this process or another) runs in between.
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(wanted.len());
        {
            let mut held = tx.prepare_cached(
                "SELECT provider, sealed FROM remediation_codes \
                 WHERE region = ?1 AND campaign = ?2 AND iid = ?3",
            )?;
            let mut free = tx.prepare_cached(
                "SELECT digest, provider, sealed FROM remediation_codes \
                 WHERE region = ?1 AND campaign IS NULL ORDER BY digest LIMIT 1",
            )?;
            let mut take = tx.prepare_cached(
                "UPDATE remediation_codes SET campaign = ?2, iid = ?3 \
                 WHERE digest = ?1 AND campaign IS NULL",
            )?;
            let mut exhausted = false;
            for iid in wanted {
                let i = to_i64(iid)?;
                let mine: Option<(String, Vec<u8>)> = held
                    .query_row(params![region, campaign, i], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((provider, sealed)) = mine {
                    out.push((iid, provider, sealed));
                    continue;
                }
                if exhausted {
                    continue;
                }
                let code: Option<(Vec<u8>, String, Vec<u8>)> = free
                    .query_row([region], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let Some((digest, provider, sealed)) = code else {
                    exhausted = true;
                    continue;
                };
                if take.execute(params![digest, campaign, i])? == 1 {
                    out.push((iid, provider, sealed));
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn remediation_stock(&self) -> Result<Vec<RemediationStock>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT region, provider, count(*), count(campaign) FROM remediation_codes \
                 GROUP BY region, provider ORDER BY region, provider",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(RemediationStock {
                    region: r.get(0)?,
                    provider: r.get(1)?,
                    total: r.get::<_, i64>(2)?.max(0) as u64,
                    assigned: r.get::<_, i64>(3)?.max(0) as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

fn subject_id(bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::Corrupt("subject id is not 16 bytes".into()))
}
