//! [`CardStore`] for PostgreSQL: metadata in `kura_data.cards`, secrets in
//! `kura_keys.card_keys` and `kura_keys.card_lookup`, all keyed by `subject_id` (the
//! distribution column, docs/scale-out.md), and the way from a token to its subject in
//! `kura_data.card_index`, keyed by token (on Citus distributed by it, so a lookup by token
//! is one shard, then one subject's shard). `card_index`'s primary key is what makes a token
//! unique.
//!
//! One transaction per write, across both schemas: an insert first holds the subject's
//! data-key row `FOR SHARE` (refusing the card when there is none; an erasure locks the row
//! `FOR UPDATE` before deleting the subject's cards, so the two serialize), then claims the
//! lookup hash
//! (`INSERT ... ON CONFLICT DO NOTHING`, so a concurrent tokenization of the same card waits
//! for the first and then sees its token), then writes the secrets, the metadata and the
//! access-log leaves; a deletion removes the secrets first, then the lookup hash and the
//! metadata. Left out: any cryptography or rule.

use postgres::GenericClient;
use uuid::Uuid;

use super::{Conn, PostgresStore, append_leaves, kek_version_to_sql, prepared, to_i64};
use crate::cards::{CardInsert, CardMeta, CardSecret, CardStore, NewCard};
use crate::{AuditLeaf, StoreError};

/// Tokens of a subject's cards.
pub(super) fn card_tokens(
    client: &mut impl GenericClient,
    stmts: &mut std::collections::HashMap<&'static str, postgres::Statement>,
    subject: &Uuid,
) -> Result<Vec<String>, StoreError> {
    const SQL: &str = "SELECT token FROM kura_data.cards WHERE subject_id = $1 ORDER BY token";
    let stmt = prepared(client, stmts, SQL)?;
    Ok(client
        .query(&stmt, &[subject])?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

const UNINDEX_ALL: &str =
    "DELETE FROM kura_data.card_index WHERE token = ANY($1::text[]) AND subject_id = $2";

/// The subject of the card `token`, from `card_index`.
fn subject_of(
    client: &mut impl GenericClient,
    stmts: &mut std::collections::HashMap<&'static str, postgres::Statement>,
    token: &str,
) -> Result<Option<Uuid>, StoreError> {
    const SQL: &str = "SELECT subject_id FROM kura_data.card_index WHERE token = $1";
    let stmt = prepared(client, stmts, SQL)?;
    Ok(client.query_opt(&stmt, &[&token])?.map(|r| r.get(0)))
}

/// Deletes every card of `subject` in the caller's transaction: secrets first.
pub(super) fn erase_subject_cards(
    tx: &mut postgres::Transaction<'_>,
    stmts: &mut std::collections::HashMap<&'static str, postgres::Statement>,
    subject: &Uuid,
) -> Result<(), StoreError> {
    // The token index entries first, by token (one shard each on Citus), then the rest by
    // subject.
    let tokens = card_tokens(tx, stmts, subject)?;
    if !tokens.is_empty() {
        let unindex = prepared(tx, stmts, UNINDEX_ALL)?;
        tx.execute(&unindex, &[&tokens, subject])?;
    }
    for sql in [
        "DELETE FROM kura_keys.card_keys WHERE subject_id = $1",
        "DELETE FROM kura_keys.card_lookup WHERE subject_id = $1",
        "DELETE FROM kura_data.cards WHERE subject_id = $1",
    ] {
        let stmt = prepared(tx, stmts, sql)?;
        tx.execute(&stmt, &[subject])?;
    }
    Ok(())
}

impl CardStore for PostgresStore {
    fn card_by_lookup(
        &self,
        subject: &Uuid,
        lookup: &[u8; 32],
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str =
            "SELECT token FROM kura_keys.card_lookup WHERE subject_id = $1 AND lookup = $2";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query_opt(&stmt, &[subject, &lookup.as_slice()])?
            .map(|r| r.get(0)))
    }

    fn insert_card(&self, card: &NewCard, audit: &[AuditLeaf]) -> Result<CardInsert, StoreError> {
        // Holds the subject's key row against erasure until commit (`delete_subject` locks
        // it FOR UPDATE before it deletes the subject's cards).
        const KEY: &str = "SELECT 1 FROM kura_keys.data_keys WHERE subject_id = $1 FOR SHARE";
        const CLAIM: &str = "INSERT INTO kura_keys.card_lookup (subject_id, lookup, token) \
             VALUES ($1, $2, $3) ON CONFLICT (subject_id, lookup) DO NOTHING";
        const EXISTING: &str =
            "SELECT token FROM kura_keys.card_lookup WHERE subject_id = $1 AND lookup = $2";
        const SECRET: &str = "INSERT INTO kura_keys.card_keys \
             (subject_id, token, kek_version, wrapped, sealed_pan, sealed_holder) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        const META: &str = "INSERT INTO kura_data.cards (subject_id, token, subject_iid, \
             collection, brand, last4, exp_month, exp_year, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        // A token drawn twice (2^-128 per pair) fails here, on the primary key, and the
        // whole insert with it.
        const INDEX: &str = "INSERT INTO kura_data.card_index (token, subject_id) VALUES ($1, $2)";
        let m = &card.meta;
        let s = &card.secret;
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let key = prepared(&mut tx, stmts, KEY)?;
        if tx.query_opt(&key, &[&m.subject])?.is_none() {
            tx.rollback()?;
            return Ok(CardInsert::NoSubject);
        }
        let claim = prepared(&mut tx, stmts, CLAIM)?;
        if tx.execute(&claim, &[&m.subject, &card.lookup.as_slice(), &m.token])? == 0 {
            let existing = prepared(&mut tx, stmts, EXISTING)?;
            let token: String = tx
                .query_one(&existing, &[&m.subject, &card.lookup.as_slice()])?
                .get(0);
            tx.rollback()?;
            return Ok(CardInsert::Existing(token));
        }
        let secret = prepared(&mut tx, stmts, SECRET)?;
        tx.execute(
            &secret,
            &[
                &m.subject,
                &m.token,
                &kek_version_to_sql(s.kek_version)?,
                &s.wrapped_key,
                &s.sealed_pan,
                &s.sealed_holder,
            ],
        )?;
        let index = prepared(&mut tx, stmts, INDEX)?;
        tx.execute(&index, &[&m.token, &m.subject])?;
        let meta = prepared(&mut tx, stmts, META)?;
        tx.execute(
            &meta,
            &[
                &m.subject,
                &m.token,
                &to_i64(m.subject_iid)?,
                &m.collection,
                &m.brand,
                &m.last4,
                &i16::from(m.exp_month),
                &i16::try_from(m.exp_year)
                    .map_err(|_| StoreError::Backend("expiry year out of range".into()))?,
                &to_i64(m.created_unix)?,
            ],
        )?;
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(CardInsert::Inserted)
    }

    fn card(&self, token: &str) -> Result<Option<CardMeta>, StoreError> {
        const SQL: &str = "SELECT token, subject_id, subject_iid, collection, brand, last4, \
             exp_month, exp_year, created FROM kura_data.cards \
             WHERE subject_id = $1 AND token = $2";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let Some(subject) = subject_of(client, stmts, token)? else {
            return Ok(None);
        };
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query_opt(&stmt, &[&subject, &token])?
            .map(|r| CardMeta {
                token: r.get(0),
                subject: r.get(1),
                subject_iid: r.get::<_, i64>(2).max(0) as u64,
                collection: r.get(3),
                brand: r.get(4),
                last4: r.get(5),
                exp_month: r.get::<_, i16>(6).clamp(0, 255) as u8,
                exp_year: r.get::<_, i16>(7).max(0) as u16,
                created_unix: r.get::<_, i64>(8).max(0) as u64,
            }))
    }

    fn card_secret(&self, token: &str) -> Result<Option<CardSecret>, StoreError> {
        const SQL: &str = "SELECT kek_version, wrapped, sealed_pan, sealed_holder \
             FROM kura_keys.card_keys WHERE subject_id = $1 AND token = $2";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let Some(subject) = subject_of(client, stmts, token)? else {
            return Ok(None);
        };
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query_opt(&stmt, &[&subject, &token])?
            .map(|r| CardSecret {
                kek_version: r.get::<_, i32>(0).max(0) as u32,
                wrapped_key: r.get(1),
                sealed_pan: r.get(2),
                sealed_holder: r.get(3),
            }))
    }

    fn delete_card(&self, token: &str, audit: &[AuditLeaf]) -> Result<bool, StoreError> {
        const UNINDEX: &str =
            "DELETE FROM kura_data.card_index WHERE token = $1 AND subject_id = $2";
        const SHRED: &str = "DELETE FROM kura_keys.card_keys WHERE subject_id = $1 AND token = $2";
        const UNLOOK: &str =
            "DELETE FROM kura_keys.card_lookup WHERE subject_id = $1 AND token = $2";
        const REMOVE: &str = "DELETE FROM kura_data.cards WHERE subject_id = $1 AND token = $2";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let Some(subject) = subject_of(&mut tx, stmts, token)? else {
            return Ok(false);
        };
        // Secrets first; the metadata row decides whether this call deleted the card (a
        // concurrent deletion waits on its row lock, then deletes nothing).
        let mut removed = 0;
        for sql in [SHRED, UNLOOK, REMOVE] {
            let stmt = prepared(&mut tx, stmts, sql)?;
            removed = tx.execute(&stmt, &[&subject, &token])?;
        }
        let unindex = prepared(&mut tx, stmts, UNINDEX)?;
        tx.execute(&unindex, &[&token, &subject])?;
        if removed == 0 {
            tx.rollback()?;
            return Ok(false);
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn count_cards(&self) -> Result<(u64, u64), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, .. } = &mut *conn;
        let meta: i64 = client
            .query_one("SELECT count(*) FROM kura_data.cards", &[])?
            .get(0);
        let keys: i64 = client
            .query_one("SELECT count(*) FROM kura_keys.card_keys", &[])?
            .get(0);
        Ok((meta.max(0) as u64, keys.max(0) as u64))
    }
}
