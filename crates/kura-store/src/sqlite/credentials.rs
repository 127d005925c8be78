//! [`CredentialStore`] for the embedded backend: tables `credential_state` and
//! `recovery_tokens` in `data.db`, next to the subjects and the access log, so that a
//! recovery's token, new fields and access-log leaves commit together.
//!
//! Writes go through the writer connection with `BEGIN IMMEDIATE`, which serializes them with
//! every other writer, in this process and in others on the same files. Left out: any rule
//! (delays, limits, lifetimes): the caller decides, this module only stores.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, append_leaves, lock, to_i64};
use crate::credentials::{
    CredentialState, CredentialStore, NewRecoveryToken, RecoveryCompletion, RecoveryOutcome,
    RecoveryTokenRecord,
};
use crate::{AuditLeaf, SearchHit, StoreError};

fn state_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CredentialState> {
    Ok(CredentialState {
        version: r.get(0)?,
        failures: r.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_failure_unix: r.get::<_, i64>(2)?.max(0) as u64,
        locked: r.get(3)?,
        must_reset: r.get(4)?,
    })
}

fn hash_from(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("recovery token hash is not 32 bytes".into()))
}

fn uuid_from(v: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(v).map_err(|_| StoreError::Corrupt("subject id is not 16 bytes".into()))
}

impl CredentialStore for SqliteStore {
    fn credential_state(&self, subject: &Uuid) -> Result<CredentialState, StoreError> {
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached(
                    "SELECT version, failures, last_failure, locked, must_reset \
                     FROM credential_state WHERE subject = ?1",
                )?
                .query_row([subject.as_bytes().as_slice()], state_from_row)
                .optional()?
                .unwrap_or_default())
        })
    }

    fn put_credential_state(
        &self,
        subject: &Uuid,
        expected_version: i64,
        state: &CredentialState,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let values = params![
            subject.as_bytes().as_slice(),
            expected_version,
            i64::from(state.failures),
            to_i64(state.last_failure_unix)?,
            state.locked,
            state.must_reset
        ];
        let written = if expected_version == 0 {
            tx.prepare_cached(
                "INSERT INTO credential_state \
                 (subject, version, failures, last_failure, locked, must_reset) \
                 VALUES (?1, ?2 + 1, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            )?
            .execute(values)?
        } else {
            tx.prepare_cached(
                "UPDATE credential_state SET version = ?2 + 1, failures = ?3, \
                 last_failure = ?4, locked = ?5, must_reset = ?6 \
                 WHERE subject = ?1 AND version = ?2",
            )?
            .execute(values)?
        };
        if written == 0 {
            return Ok(false);
        }
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn set_must_reset(&self, subjects: &[Uuid], audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO credential_state \
                 (subject, version, failures, last_failure, locked, must_reset) \
                 VALUES (?1, 1, 0, 0, 0, 1) \
                 ON CONFLICT (subject) DO UPDATE SET must_reset = 1, version = version + 1 \
                 WHERE must_reset = 0",
            )?;
            for s in subjects {
                stmt.execute([s.as_bytes().as_slice()])?;
            }
        }
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn subject_page(
        &self,
        collection: &str,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let after: Vec<u8> = after.map(|u| u.as_bytes().to_vec()).unwrap_or_default();
        let limit = to_i64(limit as u64)?;
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT id, iid FROM subjects WHERE collection = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![collection, after, limit], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, iid) = row?;
                out.push(SearchHit {
                    id: uuid_from(&id)?,
                    iid: iid as u64,
                });
            }
            Ok(out)
        })
    }

    fn issue_recovery_token(
        &self,
        token: &NewRecoveryToken,
        max_per_window: u32,
        window_secs: u64,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let subject = token.subject.as_bytes().as_slice();
        let since = to_i64(token.issued_unix.saturating_sub(window_secs))?;
        let issued = to_i64(token.issued_unix)?;
        tx.prepare_cached("DELETE FROM recovery_tokens WHERE subject = ?1 AND expires < ?2")?
            .execute(params![subject, since])?;
        let recent: i64 = tx
            .prepare_cached(
                "SELECT count(*) FROM recovery_tokens \
                 WHERE subject = ?1 AND issued > ?2 AND issued <= ?3",
            )?
            .query_row(params![subject, since, issued], |r| r.get(0))?;
        if recent >= i64::from(max_per_window) {
            return Ok(false);
        }
        tx.prepare_cached(
            "INSERT INTO recovery_tokens (hash, subject, collection, issued, expires, used) \
             VALUES (?1, ?2, ?3, ?4, ?5, 0)",
        )?
        .execute(params![
            token.hash.as_slice(),
            subject,
            token.collection,
            issued,
            to_i64(token.expires_unix)?
        ])?;
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn recovery_token(&self, hash: &[u8; 32]) -> Result<Option<RecoveryTokenRecord>, StoreError> {
        self.with_reader(|p| {
            let row = p
                .data
                .prepare_cached(
                    "SELECT subject, collection, issued, expires, used FROM recovery_tokens \
                     WHERE hash = ?1",
                )?
                .query_row([hash.as_slice()], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                })
                .optional()?;
            row.map(|(subject, collection, issued, expires, used)| {
                Ok(RecoveryTokenRecord {
                    token: NewRecoveryToken {
                        subject: uuid_from(&subject)?,
                        collection,
                        hash: hash_from(hash.to_vec())?,
                        issued_unix: issued.max(0) as u64,
                        expires_unix: expires.max(0) as u64,
                    },
                    used,
                })
            })
            .transpose()
        })
    }

    fn complete_recovery(
        &self,
        c: &RecoveryCompletion,
        audit: &[AuditLeaf],
    ) -> Result<RecoveryOutcome, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let subject = c.subject.as_bytes().as_slice();
        let row: Option<(i64, bool)> = tx
            .prepare_cached(
                "SELECT expires, used FROM recovery_tokens \
                 WHERE hash = ?1 AND subject = ?2 AND collection = ?3",
            )?
            .query_row(params![c.hash.as_slice(), subject, c.collection], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((expires, used)) = row else {
            return Ok(RecoveryOutcome::Invalid);
        };
        if used {
            return Ok(RecoveryOutcome::Used);
        }
        if to_i64(c.now_unix)? >= expires {
            return Ok(RecoveryOutcome::Expired);
        }
        let written = tx
            .prepare_cached(
                "UPDATE subjects SET fields = ?1, version = version + 1 \
                 WHERE id = ?2 AND collection = ?3 AND version = ?4",
            )?
            .execute(params![c.fields, subject, c.collection, c.expected_version])?;
        if written == 0 {
            return Ok(RecoveryOutcome::Conflict);
        }
        tx.prepare_cached("UPDATE recovery_tokens SET used = 1 WHERE hash = ?1")?
            .execute([c.hash.as_slice()])?;
        tx.prepare_cached("DELETE FROM recovery_tokens WHERE subject = ?1 AND hash <> ?2")?
            .execute(params![subject, c.hash.as_slice()])?;
        tx.prepare_cached(
            "INSERT INTO credential_state \
             (subject, version, failures, last_failure, locked, must_reset) \
             VALUES (?1, 1, 0, 0, 0, 0) \
             ON CONFLICT (subject) DO UPDATE SET version = version + 1, failures = 0, \
             last_failure = 0, locked = 0, must_reset = 0",
        )?
        .execute([subject])?;
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(RecoveryOutcome::Completed)
    }
}
