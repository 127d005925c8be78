//! [`DirectoryStore`] for PostgreSQL: organizations, principals, incidents and API keys in
//! `kura_data`; canaries in `kura_keys` (invisible to the data reader role).

use postgres::Row;
use uuid::Uuid;

use super::{Conn, PostgresStore, append_leaves, prepared, to_i64};
use crate::directory::{
    DirectoryStore, IncidentRecord, IncidentScopeRecord, OrganizationRecord, PrincipalRecord,
};
use crate::{ApiKeyRecord, AuditLeaf, StoreError};

/// A text column that must hold one of a fixed set of names.
fn named<T>(r: &Row, at: usize, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
    let text: String = r.get(at);
    parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown kind or role `{text}`")))
}

pub(super) fn principal_type(r: &Row, at: usize) -> Result<kura_model::PrincipalType, StoreError> {
    named(r, at, kura_model::PrincipalType::parse)
}

fn org_from(r: &Row) -> Result<OrganizationRecord, StoreError> {
    Ok(OrganizationRecord {
        id: r.get(0),
        name: r.get(1),
        role: named(r, 2, kura_model::OrgRole::parse)?,
        supervisor: r.get(3),
        officer_name: r.get(4),
        officer_contact: r.get(5),
        created_at: r.get(6),
    })
}

fn principal_from(r: &Row, at: usize) -> Result<PrincipalRecord, StoreError> {
    Ok(PrincipalRecord {
        id: r.get(at),
        org: r.get(at + 1),
        name: r.get(at + 2),
        kind: principal_type(r, at + 3)?,
        subject: r.get(at + 4),
        policies: r.get(at + 5),
        policy_version: r.get(at + 6),
        created_at: r.get(at + 7),
        suspended_at: r.get(at + 8),
        suspended_reason: r.get(at + 9),
        reinstated_at: r.get(at + 10),
    })
}

fn key_from(r: &Row) -> Result<ApiKeyRecord, StoreError> {
    let hash: Vec<u8> = r.get(1);
    Ok(ApiKeyRecord {
        prefix: r.get(0),
        hash: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("api key hash is not 32 bytes".into()))?,
        principal: r.get(2),
        kind: principal_type(r, 3)?,
        created_at: r.get(4),
        revoked_at: r.get(5),
    })
}

const ORGS: &str = "SELECT id, name, role, supervisor, officer_name, officer_contact, created_at \
     FROM kura_data.organizations";
const PRINCIPALS: &str = "SELECT p.id, p.org, p.name, p.kind, p.subject, p.policies, \
     p.policy_version, p.created_at, p.suspended_at, p.suspended_reason, p.reinstated_at \
     FROM kura_data.principals p";
const INSERT_KEY: &str = "INSERT INTO kura_data.api_keys \
     (prefix, hash, principal, kind, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";

fn insert_key(tx: &mut postgres::Transaction<'_>, key: &ApiKeyRecord) -> Result<(), StoreError> {
    tx.execute(
        INSERT_KEY,
        &[
            &key.prefix,
            &key.hash.as_slice(),
            &key.principal,
            &key.kind.as_str(),
            &key.created_at,
            &key.revoked_at,
        ],
    )?;
    Ok(())
}

impl DirectoryStore for PostgresStore {
    fn insert_organization(
        &self,
        org: &OrganizationRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO kura_data.organizations \
             (id, name, role, supervisor, officer_name, officer_contact, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &org.id,
                &org.name,
                &org.role.as_str(),
                &org.supervisor,
                &org.officer_name,
                &org.officer_contact,
                &org.created_at,
            ],
        )?;
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn organization(&self, id: &str) -> Result<Option<OrganizationRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        let sql = format!("{ORGS} WHERE id = $1");
        conn.client
            .query_opt(&sql, &[&id])?
            .as_ref()
            .map(org_from)
            .transpose()
    }

    fn organizations(&self) -> Result<Vec<OrganizationRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        let sql = format!("{ORGS} ORDER BY id");
        conn.client.query(&sql, &[])?.iter().map(org_from).collect()
    }

    fn insert_principal(
        &self,
        p: &PrincipalRecord,
        key: &ApiKeyRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO kura_data.principals (id, org, name, kind, subject, policies, \
             policy_version, created_at, suspended_at, suspended_reason, reinstated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &p.id,
                &p.org,
                &p.name,
                &p.kind.as_str(),
                &p.subject,
                &p.policies,
                &p.policy_version,
                &p.created_at,
                &p.suspended_at,
                &p.suspended_reason,
                &p.reinstated_at,
            ],
        )?;
        insert_key(&mut tx, key)?;
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn principal(&self, id: &str) -> Result<Option<PrincipalRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        let sql = format!("{PRINCIPALS} WHERE p.id = $1");
        conn.client
            .query_opt(&sql, &[&id])?
            .map(|r| principal_from(&r, 0))
            .transpose()
    }

    fn principals(&self, org: Option<&str>) -> Result<Vec<PrincipalRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        let sql = format!("{PRINCIPALS} WHERE $1::text IS NULL OR p.org = $1 ORDER BY p.id");
        conn.client
            .query(&sql, &[&org])?
            .iter()
            .map(|r| principal_from(r, 0))
            .collect()
    }

    fn authenticate(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiKeyRecord, Option<PrincipalRecord>)>, StoreError> {
        const SQL: &str = "SELECT k.prefix, k.hash, k.principal, k.kind, k.created_at, \
             k.revoked_at, p.id, p.org, p.name, p.kind, p.subject, p.policies, \
             p.policy_version, p.created_at, p.suspended_at, p.suspended_reason, p.reinstated_at \
             FROM kura_data.api_keys k LEFT JOIN kura_data.principals p ON p.id = k.principal \
             WHERE k.prefix = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let Some(r) = client.query_opt(&stmt, &[&prefix])? else {
            return Ok(None);
        };
        let principal = r
            .get::<_, Option<String>>(6)
            .map(|_| principal_from(&r, 6))
            .transpose()?;
        Ok(Some((key_from(&r)?, principal)))
    }

    fn api_keys_of(&self, principal: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        conn.client
            .query(
                "SELECT prefix, hash, principal, kind, created_at, revoked_at \
                 FROM kura_data.api_keys WHERE principal = $1 ORDER BY created_at, prefix",
                &[&principal],
            )?
            .iter()
            .map(key_from)
            .collect()
    }

    fn add_api_key(&self, key: &ApiKeyRecord, audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        insert_key(&mut tx, key)?;
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn revoke_api_keys(
        &self,
        principal: &str,
        only: Option<&str>,
        keep: Option<&str>,
        now: i64,
        audit: &[AuditLeaf],
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let n = tx.execute(
            "UPDATE kura_data.api_keys SET revoked_at = $2 \
             WHERE principal = $1 AND revoked_at IS NULL \
             AND ($3::text IS NULL OR prefix = $3) AND ($4::text IS NULL OR prefix <> $4)",
            &[&principal, &now, &only, &keep],
        )?;
        if n > 0 {
            append_leaves(&mut tx, stmts, audit)?;
        }
        tx.commit()?;
        Ok(n)
    }

    fn set_policies(
        &self,
        principal: &str,
        policies: &str,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let n = tx.execute(
            "UPDATE kura_data.principals SET policies = $2, \
             policy_version = policy_version + 1 WHERE id = $1",
            &[&principal, &policies],
        )?;
        if n > 0 {
            append_leaves(&mut tx, stmts, audit)?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    fn set_suspended(
        &self,
        principal: &str,
        reason: Option<&str>,
        now_ms: i64,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let n = match reason {
            Some(reason) => tx.execute(
                "UPDATE kura_data.principals SET suspended_at = $2, suspended_reason = $3 \
                 WHERE id = $1",
                &[&principal, &now_ms, &reason],
            )?,
            None => tx.execute(
                "UPDATE kura_data.principals SET suspended_at = NULL, suspended_reason = NULL, \
                 reinstated_at = $2 WHERE id = $1",
                &[&principal, &now_ms],
            )?,
        };
        if reason.is_none() && n > 0 {
            // Reinstated: the principal starts on empty windows, on every server.
            super::containment::clear(&mut tx, principal)?;
        }
        if n > 0 {
            append_leaves(&mut tx, stmts, audit)?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    fn insert_incident(&self, i: &IncidentRecord, audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO kura_data.incidents (id, opened_at, principal, org, trigger, status, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &i.id,
                &i.opened_at,
                &i.principal,
                &i.org,
                &i.trigger,
                &i.status,
                &i.body,
            ],
        )?;
        incident_leaves_in(&mut tx, stmts, &i.id, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn incidents(&self) -> Result<Vec<IncidentRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query(
                "SELECT id, opened_at, principal, org, trigger, status, body \
                 FROM kura_data.incidents ORDER BY opened_at DESC, id DESC",
                &[],
            )?
            .iter()
            .map(incident_row)
            .collect())
    }

    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query_opt(
                "SELECT id, opened_at, principal, org, trigger, status, body \
                 FROM kura_data.incidents WHERE id = $1",
                &[&id],
            )?
            .as_ref()
            .map(incident_row))
    }

    fn replace_incident(
        &self,
        old_body: &str,
        new: &IncidentRecord,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let n = tx.execute(
            "UPDATE kura_data.incidents SET status = $2, body = $3, org = $4 \
             WHERE id = $1 AND body = $5",
            &[&new.id, &new.status, &new.body, &new.org, &old_body],
        )?;
        if n == 0 {
            return Ok(false);
        }
        incident_leaves_in(&mut tx, stmts, &new.id, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn insert_incident_scope(
        &self,
        s: &IncidentScopeRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO kura_data.incident_scopes (incident, version, computed_at, \
             by_principal, tree_size, checkpoint, digest, matrix, sets) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &s.incident,
                &i64::from(s.version),
                &s.computed_at,
                &s.by,
                &to_i64(s.tree_size)?,
                &s.checkpoint,
                &s.digest,
                &s.matrix,
                &s.sets,
            ],
        )?;
        incident_leaves_in(&mut tx, stmts, &s.incident, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn incident_scopes(&self, incident: &str) -> Result<Vec<IncidentScopeRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query(
                "SELECT incident, version, computed_at, by_principal, tree_size, checkpoint, \
                 digest, matrix, sets FROM kura_data.incident_scopes WHERE incident = $1 \
                 ORDER BY version",
                &[&incident],
            )?
            .iter()
            .map(|r| IncidentScopeRecord {
                incident: r.get(0),
                version: u32::try_from(r.get::<_, i64>(1)).unwrap_or(u32::MAX),
                computed_at: r.get(2),
                by: r.get(3),
                tree_size: r.get::<_, i64>(4).max(0) as u64,
                checkpoint: r.get(5),
                digest: r.get(6),
                matrix: r.get(7),
                sets: r.get(8),
            })
            .collect())
    }

    fn incident_scope_heads(&self, incident: &str) -> Result<Vec<IncidentScopeRecord>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query(
                "SELECT incident, version, computed_at, by_principal, tree_size, checkpoint, \
                 digest, matrix FROM kura_data.incident_scopes WHERE incident = $1 \
                 ORDER BY version",
                &[&incident],
            )?
            .iter()
            .map(|r| IncidentScopeRecord {
                incident: r.get(0),
                version: u32::try_from(r.get::<_, i64>(1)).unwrap_or(u32::MAX),
                computed_at: r.get(2),
                by: r.get(3),
                tree_size: r.get::<_, i64>(4).max(0) as u64,
                checkpoint: r.get(5),
                digest: r.get(6),
                matrix: r.get(7),
                sets: Vec::new(),
            })
            .collect())
    }

    fn latest_incident_matrix(&self, incident: &str) -> Result<Option<(u32, String)>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query_opt(
                "SELECT version, matrix FROM kura_data.incident_scopes WHERE incident = $1 \
                 ORDER BY version DESC LIMIT 1",
                &[&incident],
            )?
            .map(|r| {
                (
                    u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX),
                    r.get(1),
                )
            }))
    }

    fn log_incident(&self, incident: &str, audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        incident_leaves_in(&mut tx, stmts, incident, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn incident_leaves(&self, incident: &str) -> Result<Vec<u64>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query(
                "SELECT leaf FROM kura_data.incident_leaves WHERE incident = $1 ORDER BY leaf",
                &[&incident],
            )?
            .iter()
            .map(|r| r.get::<_, i64>(0).max(0) as u64)
            .collect())
    }

    fn add_canaries(&self, collection: &str, iids: &[u64]) -> Result<(), StoreError> {
        let ids = iids
            .iter()
            .map(|i| to_i64(*i))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.pool.get()?;
        conn.client.execute(
            "INSERT INTO kura_keys.canaries (iid, collection) SELECT unnest($1::bigint[]), $2",
            &[&ids, &collection],
        )?;
        Ok(())
    }

    fn canaries(&self) -> Result<Vec<u64>, StoreError> {
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query("SELECT iid FROM kura_keys.canaries ORDER BY iid", &[])?
            .iter()
            .map(|r| r.get::<_, i64>(0) as u64)
            .collect())
    }

    fn subject_ids(&self, iids: &[u64]) -> Result<Vec<(u64, Uuid)>, StoreError> {
        let ids = iids
            .iter()
            .map(|i| to_i64(*i))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.pool.get()?;
        Ok(conn
            .client
            .query(
                "SELECT iid, subject_id FROM kura_data.subjects WHERE iid = ANY($1) ORDER BY iid",
                &[&ids],
            )?
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }
}

fn incident_row(r: &postgres::Row) -> IncidentRecord {
    IncidentRecord {
        id: r.get(0),
        opened_at: r.get(1),
        principal: r.get(2),
        org: r.get(3),
        trigger: r.get(4),
        status: r.get(5),
        body: r.get(6),
    }
}

/// Appends `audit` (last but for the list, which holds the log counter's lock briefly) and
/// lists each leaf as one of `incident`'s.
pub(super) fn incident_leaves_in(
    tx: &mut postgres::Transaction<'_>,
    stmts: &mut std::collections::HashMap<&'static str, postgres::Statement>,
    incident: &str,
    audit: &[AuditLeaf],
) -> Result<(), StoreError> {
    if audit.is_empty() {
        return Ok(());
    }
    let first = to_i64(append_leaves(tx, stmts, audit)?)?;
    let leaves: Vec<i64> = (0..audit.len() as i64).map(|i| first + i).collect();
    tx.execute(
        "INSERT INTO kura_data.incident_leaves (incident, leaf) SELECT $1, unnest($2::bigint[])",
        &[&incident, &leaves],
    )?;
    Ok(())
}
