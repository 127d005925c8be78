//! [`CardStore`] for the embedded backend: metadata in `data.db` (`cards`), secrets in
//! `keys.db` (`card_keys`, `card_lookup`).
//!
//! Writes go through the writer connections with `BEGIN IMMEDIATE`, which serializes them
//! with every other writer on the same files, in this process and in others. The key-store
//! half commits first on insert (a metadata row never exists without its secrets) and is
//! deleted first on deletion (crypto-shredding). An insert holds the data store's write lock
//! from before it checks the subject's data key until its metadata commits — the lock
//! `delete_subject` holds across its own key-store shredding — so an insert and an erasure of
//! the same subject never interleave, in this process or another. Left out: any cryptography
//! or rule.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{Pair, SqliteStore, append_leaves, lock, to_i64};
use crate::cards::{CardInsert, CardMeta, CardSecret, CardStore, NewCard};
use crate::{AuditLeaf, StoreError};

fn meta_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(CardMeta, Vec<u8>)> {
    Ok((
        CardMeta {
            token: r.get(0)?,
            subject: Uuid::nil(),
            subject_iid: r.get::<_, i64>(2)?.max(0) as u64,
            collection: r.get(3)?,
            brand: r.get(4)?,
            last4: r.get(5)?,
            exp_month: r.get::<_, i64>(6)?.clamp(0, 255) as u8,
            exp_year: r.get::<_, i64>(7)?.clamp(0, 65_535) as u16,
            created_unix: r.get::<_, i64>(8)?.max(0) as u64,
        },
        r.get(1)?,
    ))
}

/// Tokens of a subject's cards, from the data store.
pub(super) fn card_tokens(pair: &Pair, subject: &Uuid) -> Result<Vec<String>, StoreError> {
    let mut stmt = pair
        .data
        .prepare_cached("SELECT token FROM cards WHERE subject = ?1 ORDER BY token")?;
    let rows = stmt.query_map([subject.as_bytes().as_slice()], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}

/// Crypto-shreds `subject` in the key store, in one committed transaction: every card's
/// sealed PAN and key and lookup hash first, then the subject's own data key. Returns
/// whether the subject had a data key. The caller holds the data store's write lock (as
/// [`CardStore::insert_card`] does before it checks the key), and deletes the card
/// metadata in its data-store transaction.
pub(super) fn shred_subject(
    keys: &mut rusqlite::Connection,
    subject: &Uuid,
) -> Result<bool, StoreError> {
    let tx = keys.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for sql in [
        "DELETE FROM card_keys WHERE subject = ?1",
        "DELETE FROM card_lookup WHERE subject = ?1",
    ] {
        tx.execute(sql, [subject.as_bytes().as_slice()])?;
    }
    let had_key = tx.execute(
        "DELETE FROM data_keys WHERE subject = ?1",
        [subject.as_bytes().as_slice()],
    )? > 0;
    tx.commit()?;
    Ok(had_key)
}

impl CardStore for SqliteStore {
    fn card_by_lookup(
        &self,
        subject: &Uuid,
        lookup: &[u8; 32],
    ) -> Result<Option<String>, StoreError> {
        self.with_reader(|p| {
            Ok(p.keys
                .prepare_cached("SELECT token FROM card_lookup WHERE lookup = ?1 AND subject = ?2")?
                .query_row(
                    params![lookup.as_slice(), subject.as_bytes().as_slice()],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn insert_card(&self, card: &NewCard, audit: &[AuditLeaf]) -> Result<CardInsert, StoreError> {
        let m = &card.meta;
        let s = &card.secret;
        let subject = m.subject.as_bytes().as_slice();
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        // The data store's write lock first, then the key store's, held to the end: the
        // order `delete_subject` takes them in, so an erasure (in this process or another)
        // runs wholly before or wholly after this insert.
        let dtx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let tx = w
                .keys
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The subject's key is what erasure shreds: no key, no card.
            let has_key: bool = tx
                .prepare_cached("SELECT count(*) > 0 FROM data_keys WHERE subject = ?1")?
                .query_row([subject], |r| r.get(0))?;
            if !has_key {
                return Ok(CardInsert::NoSubject);
            }
            let existing: Option<String> = tx
                .prepare_cached("SELECT token FROM card_lookup WHERE lookup = ?1")?
                .query_row([card.lookup.as_slice()], |r| r.get(0))
                .optional()?;
            if let Some(token) = existing {
                return Ok(CardInsert::Existing(token));
            }
            tx.prepare_cached(
                "INSERT INTO card_keys (token, subject, kek_version, wrapped, sealed_pan, sealed_holder) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                m.token,
                subject,
                s.kek_version,
                s.wrapped_key,
                s.sealed_pan,
                s.sealed_holder
            ])?;
            tx.prepare_cached(
                "INSERT INTO card_lookup (lookup, token, subject) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![card.lookup.as_slice(), m.token, subject])?;
            tx.commit()?;
        }
        let written = (|| -> Result<(), StoreError> {
            dtx.prepare_cached(
                "INSERT INTO cards (token, subject, subject_iid, collection, brand, last4, \
                 exp_month, exp_year, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                m.token,
                subject,
                to_i64(m.subject_iid)?,
                m.collection,
                m.brand,
                m.last4,
                m.exp_month,
                m.exp_year,
                to_i64(m.created_unix)?
            ])?;
            append_leaves(&dtx, audit)?;
            dtx.commit()?;
            Ok(())
        })();
        if let Err(e) = written {
            // Undo the key-store half so no secret outlives a failed tokenization.
            let _ = w
                .keys
                .execute("DELETE FROM card_keys WHERE token = ?1", [&m.token]);
            let _ = w
                .keys
                .execute("DELETE FROM card_lookup WHERE token = ?1", [&m.token]);
            return Err(e);
        }
        Ok(CardInsert::Inserted)
    }

    fn card(&self, token: &str) -> Result<Option<CardMeta>, StoreError> {
        self.with_reader(|p| {
            let row = p
                .data
                .prepare_cached(
                    "SELECT token, subject, subject_iid, collection, brand, last4, exp_month, \
                     exp_year, created FROM cards WHERE token = ?1",
                )?
                .query_row([token], meta_from_row)
                .optional()?;
            row.map(|(mut meta, subject)| {
                meta.subject = Uuid::from_slice(&subject)
                    .map_err(|_| StoreError::Corrupt("card subject is not 16 bytes".into()))?;
                Ok(meta)
            })
            .transpose()
        })
    }

    fn card_secret(&self, token: &str) -> Result<Option<CardSecret>, StoreError> {
        self.with_reader(|p| {
            Ok(p.keys
                .prepare_cached(
                    "SELECT kek_version, wrapped, sealed_pan, sealed_holder FROM card_keys \
                     WHERE token = ?1",
                )?
                .query_row([token], |r| {
                    Ok(CardSecret {
                        kek_version: r.get(0)?,
                        wrapped_key: r.get(1)?,
                        sealed_pan: r.get(2)?,
                        sealed_holder: r.get(3)?,
                    })
                })
                .optional()?)
        })
    }

    fn delete_card(&self, token: &str, audit: &[AuditLeaf]) -> Result<bool, StoreError> {
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx
            .prepare_cached("SELECT count(*) > 0 FROM cards WHERE token = ?1")?
            .query_row([token], |r| r.get(0))?;
        if !exists {
            return Ok(false);
        }
        append_leaves(&tx, audit)?;
        // Key store first, in its own committed transaction: from here on the PAN is gone.
        {
            let ktx = w
                .keys
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            ktx.execute("DELETE FROM card_keys WHERE token = ?1", [token])?;
            ktx.execute("DELETE FROM card_lookup WHERE token = ?1", [token])?;
            ktx.commit()?;
        }
        tx.execute("DELETE FROM cards WHERE token = ?1", [token])?;
        tx.commit()?;
        Ok(true)
    }

    fn count_cards(&self) -> Result<(u64, u64), StoreError> {
        self.with_reader(|p| {
            let meta: i64 = p
                .data
                .query_row("SELECT count(*) FROM cards", [], |r| r.get(0))?;
            let keys: i64 = p
                .keys
                .query_row("SELECT count(*) FROM card_keys", [], |r| r.get(0))?;
            Ok((meta.max(0) as u64, keys.max(0) as u64))
        })
    }
}
