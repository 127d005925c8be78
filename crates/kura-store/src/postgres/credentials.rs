//! [`CredentialStore`] for PostgreSQL: tables `kura_data.credential_state` and
//! `kura_data.recovery_tokens`, both keyed by `subject_id` (the distribution column).
//!
//! Several servers on one database are coordinated by the database alone: state changes are
//! conditional on the row version (`UPDATE ... WHERE version = $expected`, or
//! `INSERT ... ON CONFLICT DO NOTHING` for the first row); issuing a token first locks the
//! subject's row (`FOR UPDATE`), so the issue limit is checked and applied atomically;
//! completing a recovery locks the token's row, so a second redemption waits and then sees it
//! used. Access-log leaves are appended last in each transaction, as everywhere in this
//! backend. Left out: any rule; the caller decides.

use uuid::Uuid;

use super::{Conn, PostgresStore, append_leaves, prepared, to_i64};
use crate::credentials::{
    CredentialState, CredentialStore, NewRecoveryToken, RecoveryCompletion, RecoveryOutcome,
    RecoveryTokenRecord,
};
use crate::{AuditLeaf, SearchHit, StoreError};

fn failures_to_sql(v: u32) -> Result<i32, StoreError> {
    i32::try_from(v).map_err(|_| StoreError::Backend("failure count overflow".into()))
}

impl CredentialStore for PostgresStore {
    fn credential_state(&self, subject: &Uuid) -> Result<CredentialState, StoreError> {
        const SQL: &str = "SELECT version, failures, last_failure, locked, must_reset \
             FROM kura_data.credential_state WHERE subject_id = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query_opt(&stmt, &[subject])?
            .map(|r| CredentialState {
                version: r.get(0),
                failures: r.get::<_, i32>(1).max(0) as u32,
                last_failure_unix: r.get::<_, i64>(2).max(0) as u64,
                locked: r.get(3),
                must_reset: r.get(4),
            })
            .unwrap_or_default())
    }

    fn put_credential_state(
        &self,
        subject: &Uuid,
        expected_version: i64,
        state: &CredentialState,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        const INSERT: &str = "INSERT INTO kura_data.credential_state \
             (subject_id, version, failures, last_failure, locked, must_reset) \
             VALUES ($1, $2::bigint + 1, $3, $4, $5, $6) ON CONFLICT (subject_id) DO NOTHING";
        const UPDATE: &str = "UPDATE kura_data.credential_state SET version = $2::bigint + 1, \
             failures = $3, last_failure = $4, locked = $5, must_reset = $6 \
             WHERE subject_id = $1 AND version = $2";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let stmt = prepared(
            &mut tx,
            stmts,
            if expected_version == 0 {
                INSERT
            } else {
                UPDATE
            },
        )?;
        let written = tx.execute(
            &stmt,
            &[
                subject,
                &expected_version,
                &failures_to_sql(state.failures)?,
                &to_i64(state.last_failure_unix)?,
                &state.locked,
                &state.must_reset,
            ],
        )?;
        if written == 0 {
            return Ok(false);
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn set_must_reset(&self, subjects: &[Uuid], audit: &[AuditLeaf]) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO kura_data.credential_state \
             (subject_id, version, failures, last_failure, locked, must_reset) \
             SELECT DISTINCT s, 1, 0, 0, false, true FROM unnest($1::uuid[]) AS s \
             ON CONFLICT (subject_id) DO UPDATE SET must_reset = true, \
             version = kura_data.credential_state.version + 1 \
             WHERE NOT kura_data.credential_state.must_reset";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let stmt = prepared(&mut tx, stmts, SQL)?;
        tx.execute(&stmt, &[&subjects])?;
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn subject_page(
        &self,
        collection: &str,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        const FIRST: &str = "SELECT subject_id, iid FROM kura_data.subjects \
             WHERE collection = $1 ORDER BY subject_id LIMIT $2";
        const NEXT: &str = "SELECT subject_id, iid FROM kura_data.subjects \
             WHERE collection = $1 AND subject_id > $3 ORDER BY subject_id LIMIT $2";
        let limit = to_i64(limit as u64)?;
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let rows = match after {
            None => {
                let stmt = prepared(client, stmts, FIRST)?;
                client.query(&stmt, &[&collection, &limit])?
            }
            Some(a) => {
                let stmt = prepared(client, stmts, NEXT)?;
                client.query(&stmt, &[&collection, &limit, a])?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| SearchHit {
                id: r.get(0),
                iid: r.get::<_, i64>(1) as u64,
            })
            .collect())
    }

    fn issue_recovery_token(
        &self,
        token: &NewRecoveryToken,
        max_per_window: u32,
        window_secs: u64,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        const LOCK: &str = "SELECT 1 FROM kura_data.subjects WHERE subject_id = $1 FOR UPDATE";
        const PRUNE: &str =
            "DELETE FROM kura_data.recovery_tokens WHERE subject_id = $1 AND expires < $2";
        const COUNT: &str = "SELECT count(*) FROM kura_data.recovery_tokens \
             WHERE subject_id = $1 AND issued > $2 AND issued <= $3";
        const INSERT: &str = "INSERT INTO kura_data.recovery_tokens \
             (subject_id, hash, collection, issued, expires, used) \
             VALUES ($1, $2, $3, $4, $5, false)";
        let since = to_i64(token.issued_unix.saturating_sub(window_secs))?;
        let issued = to_i64(token.issued_unix)?;
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let lock = prepared(&mut tx, stmts, LOCK)?;
        if tx.query_opt(&lock, &[&token.subject])?.is_none() {
            return Ok(false);
        }
        let prune = prepared(&mut tx, stmts, PRUNE)?;
        tx.execute(&prune, &[&token.subject, &since])?;
        let count = prepared(&mut tx, stmts, COUNT)?;
        let recent: i64 = tx
            .query_one(&count, &[&token.subject, &since, &issued])?
            .get(0);
        if recent >= i64::from(max_per_window) {
            return Ok(false);
        }
        let insert = prepared(&mut tx, stmts, INSERT)?;
        tx.execute(
            &insert,
            &[
                &token.subject,
                &token.hash.as_slice(),
                &token.collection,
                &issued,
                &to_i64(token.expires_unix)?,
            ],
        )?;
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn recovery_token(&self, hash: &[u8; 32]) -> Result<Option<RecoveryTokenRecord>, StoreError> {
        const SQL: &str = "SELECT subject_id, collection, issued, expires, used \
             FROM kura_data.recovery_tokens WHERE hash = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query_opt(&stmt, &[&hash.as_slice()])?
            .map(|r| RecoveryTokenRecord {
                token: NewRecoveryToken {
                    subject: r.get(0),
                    collection: r.get(1),
                    hash: *hash,
                    issued_unix: r.get::<_, i64>(2).max(0) as u64,
                    expires_unix: r.get::<_, i64>(3).max(0) as u64,
                },
                used: r.get(4),
            }))
    }

    fn complete_recovery(
        &self,
        c: &RecoveryCompletion,
        audit: &[AuditLeaf],
    ) -> Result<RecoveryOutcome, StoreError> {
        const TOKEN: &str = "SELECT expires, used FROM kura_data.recovery_tokens \
             WHERE subject_id = $1 AND hash = $2 AND collection = $3 FOR UPDATE";
        const FIELDS: &str = "UPDATE kura_data.subjects SET fields = $4, version = version + 1 \
             WHERE subject_id = $1 AND collection = $2 AND version = $3";
        const USE: &str = "UPDATE kura_data.recovery_tokens SET used = true \
             WHERE subject_id = $1 AND hash = $2";
        const REVOKE: &str =
            "DELETE FROM kura_data.recovery_tokens WHERE subject_id = $1 AND hash <> $2";
        const CLEAR: &str = "INSERT INTO kura_data.credential_state \
             (subject_id, version, failures, last_failure, locked, must_reset) \
             VALUES ($1, 1, 0, 0, false, false) \
             ON CONFLICT (subject_id) DO UPDATE SET \
             version = kura_data.credential_state.version + 1, failures = 0, \
             last_failure = 0, locked = false, must_reset = false";
        let now = to_i64(c.now_unix)?;
        let hash = c.hash.as_slice();
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let token = prepared(&mut tx, stmts, TOKEN)?;
        let Some(row) = tx.query_opt(&token, &[&c.subject, &hash, &c.collection])? else {
            return Ok(RecoveryOutcome::Invalid);
        };
        let (expires, used): (i64, bool) = (row.get(0), row.get(1));
        if used {
            return Ok(RecoveryOutcome::Used);
        }
        if now >= expires {
            return Ok(RecoveryOutcome::Expired);
        }
        let fields = prepared(&mut tx, stmts, FIELDS)?;
        let written = tx.execute(
            &fields,
            &[
                &c.subject,
                &c.collection,
                &c.expected_version,
                &c.fields.as_slice(),
            ],
        )?;
        if written == 0 {
            return Ok(RecoveryOutcome::Conflict);
        }
        for sql in [USE, REVOKE] {
            let s = prepared(&mut tx, stmts, sql)?;
            tx.execute(&s, &[&c.subject, &hash])?;
        }
        let clear = prepared(&mut tx, stmts, CLEAR)?;
        tx.execute(&clear, &[&c.subject])?;
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(RecoveryOutcome::Completed)
    }
}
