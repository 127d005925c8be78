//! [`DirectoryStore`] for the embedded backend: organizations, principals, incidents and API
//! keys in `data.db`; canaries in `keys.db`.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, append_leaves, lock, to_i64};
use crate::containment::ContainmentStore as _;
use crate::directory::{
    DirectoryStore, IncidentRecord, IncidentScopeRecord, OrganizationRecord, PrincipalRecord,
};
use crate::{ApiKeyRecord, AuditLeaf, StoreError};

const ORG_COLUMNS: &str = "id, name, role, supervisor, officer_name, officer_contact, created_at";
const PRINCIPAL_COLUMNS: &str = "p.id, p.org, p.name, p.kind, p.subject, p.policies, \
     p.policy_version, p.created_at, p.suspended_at, p.suspended_reason, p.reinstated_at";
const KEY_COLUMNS: &str = "k.prefix, k.hash, k.principal, k.kind, k.created_at, k.revoked_at";

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRecord> {
    Ok(IncidentRecord {
        id: r.get(0)?,
        opened_at: r.get(1)?,
        principal: r.get(2)?,
        org: r.get(3)?,
        trigger: r.get(4)?,
        status: r.get(5)?,
        body: r.get(6)?,
    })
}

/// Appends `audit` and lists each leaf as one of `incident`'s.
pub(super) fn incident_leaves_in(
    tx: &rusqlite::Transaction<'_>,
    incident: &str,
    audit: &[AuditLeaf],
) -> Result<(), StoreError> {
    if audit.is_empty() {
        return Ok(());
    }
    let first = append_leaves(tx, audit)?;
    let mut stmt =
        tx.prepare_cached("INSERT INTO incident_leaves (incident, leaf) VALUES (?1, ?2)")?;
    for i in 0..audit.len() as u64 {
        stmt.execute(params![incident, to_i64(first + i)?])?;
    }
    Ok(())
}

/// A text column that must hold one of a fixed set of names.
fn named<T>(r: &rusqlite::Row<'_>, at: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = r.get(at)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            at,
            rusqlite::types::Type::Text,
            format!("unknown kind or role `{text}`").into(),
        )
    })
}

pub(super) fn principal_type(
    r: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<kura_model::PrincipalType> {
    named(r, at, kura_model::PrincipalType::parse)
}

fn org_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<OrganizationRecord> {
    Ok(OrganizationRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: named(r, 2, kura_model::OrgRole::parse)?,
        supervisor: r.get(3)?,
        officer_name: r.get(4)?,
        officer_contact: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// Reads a principal from columns `at..at+10`.
fn principal_from(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<PrincipalRecord> {
    let subject: Option<Vec<u8>> = r.get(at + 4)?;
    Ok(PrincipalRecord {
        id: r.get(at)?,
        org: r.get(at + 1)?,
        name: r.get(at + 2)?,
        kind: principal_type(r, at + 3)?,
        subject: subject.and_then(|b| Uuid::from_slice(&b).ok()),
        policies: r.get(at + 5)?,
        policy_version: r.get(at + 6)?,
        created_at: r.get(at + 7)?,
        suspended_at: r.get(at + 8)?,
        suspended_reason: r.get(at + 9)?,
        reinstated_at: r.get(at + 10)?,
    })
}

/// Reads an API key from columns `0..6`.
fn key_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ApiKeyRecord, Vec<u8>)> {
    let hash: Vec<u8> = r.get(1)?;
    Ok((
        ApiKeyRecord {
            prefix: r.get(0)?,
            hash: [0; 32],
            principal: r.get(2)?,
            kind: principal_type(r, 3)?,
            created_at: r.get(4)?,
            revoked_at: r.get(5)?,
        },
        hash,
    ))
}

fn with_hash((mut k, hash): (ApiKeyRecord, Vec<u8>)) -> Result<ApiKeyRecord, StoreError> {
    k.hash = hash
        .try_into()
        .map_err(|_| StoreError::Corrupt("api key hash is not 32 bytes".into()))?;
    Ok(k)
}

impl DirectoryStore for SqliteStore {
    fn insert_organization(
        &self,
        org: &OrganizationRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            &format!(
                "INSERT INTO organizations ({ORG_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                org.id,
                org.name,
                org.role.as_str(),
                org.supervisor,
                org.officer_name,
                org.officer_contact,
                org.created_at
            ],
        )?;
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn organization(&self, id: &str) -> Result<Option<OrganizationRecord>, StoreError> {
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached(&format!(
                    "SELECT {ORG_COLUMNS} FROM organizations WHERE id = ?1"
                ))?
                .query_row([id], org_from)
                .optional()?)
        })
    }

    fn organizations(&self) -> Result<Vec<OrganizationRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(&format!(
                "SELECT {ORG_COLUMNS} FROM organizations ORDER BY id"
            ))?;
            let rows = stmt.query_map([], org_from)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn insert_principal(
        &self,
        p: &PrincipalRecord,
        key: &ApiKeyRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO principals (id, org, name, kind, subject, policies, policy_version, \
             created_at, suspended_at, suspended_reason, reinstated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                p.id,
                p.org,
                p.name,
                p.kind.as_str(),
                p.subject.map(|s| s.as_bytes().to_vec()),
                p.policies,
                p.policy_version,
                p.created_at,
                p.suspended_at,
                p.suspended_reason,
                p.reinstated_at
            ],
        )?;
        insert_key(&tx, key)?;
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn principal(&self, id: &str) -> Result<Option<PrincipalRecord>, StoreError> {
        self.with_reader(|p| {
            Ok(p.data
                .prepare_cached(&format!(
                    "SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.id = ?1"
                ))?
                .query_row([id], |r| principal_from(r, 0))
                .optional()?)
        })
    }

    fn principals(&self, org: Option<&str>) -> Result<Vec<PrincipalRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(&format!(
                "SELECT {PRINCIPAL_COLUMNS} FROM principals p \
                 WHERE ?1 IS NULL OR p.org = ?1 ORDER BY p.id"
            ))?;
            let rows = stmt.query_map([org], |r| principal_from(r, 0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn authenticate(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiKeyRecord, Option<PrincipalRecord>)>, StoreError> {
        self.with_reader(|p| {
            let row = p
                .data
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS}, {PRINCIPAL_COLUMNS} FROM api_keys k \
                     LEFT JOIN principals p ON p.id = k.principal WHERE k.prefix = ?1"
                ))?
                .query_row([prefix], |r| {
                    let key = key_from(r)?;
                    let has_principal: Option<String> = r.get(6)?;
                    let principal = match has_principal {
                        Some(_) => Some(principal_from(r, 6)?),
                        None => None,
                    };
                    Ok((key, principal))
                })
                .optional()?;
            row.map(|(k, p)| Ok((with_hash(k)?, p))).transpose()
        })
    }

    fn api_keys_of(&self, principal: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.principal = ?1 \
                 ORDER BY k.created_at, k.prefix"
            ))?;
            let rows = stmt.query_map([principal], key_from)?;
            rows.map(|r| with_hash(r?)).collect()
        })
    }

    fn add_api_key(&self, key: &ApiKeyRecord, audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_key(&tx, key)?;
        append_leaves(&tx, audit)?;
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
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE principal = ?1 AND revoked_at IS NULL \
             AND (?3 IS NULL OR prefix = ?3) AND (?4 IS NULL OR prefix <> ?4)",
            params![principal, now, only, keep],
        )?;
        if n > 0 {
            append_leaves(&tx, audit)?;
        }
        tx.commit()?;
        Ok(n as u64)
    }

    fn set_policies(
        &self,
        principal: &str,
        policies: &str,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE principals SET policies = ?2, policy_version = policy_version + 1 \
             WHERE id = ?1",
            params![principal, policies],
        )?;
        if n > 0 {
            append_leaves(&tx, audit)?;
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
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = match reason {
            Some(reason) => tx.execute(
                "UPDATE principals SET suspended_at = ?2, suspended_reason = ?3 WHERE id = ?1",
                params![principal, now_ms, reason],
            )?,
            None => tx.execute(
                "UPDATE principals SET suspended_at = NULL, suspended_reason = NULL, \
                 reinstated_at = ?2 WHERE id = ?1",
                params![principal, now_ms],
            )?,
        };

        if n > 0 {
            append_leaves(&tx, audit)?;
        }
        tx.commit()?;
        if reason.is_none() && n > 0 {
            // Reinstated: the principal starts on empty windows, on every server. (The
            // windows are in contain.db; should this fail, the principal is reinstated with
            // its old window, which can only refuse more, never less.)
            self.clear_windows(principal)?;
        }
        Ok(n > 0)
    }

    fn insert_incident(&self, i: &IncidentRecord, audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO incidents (id, opened_at, principal, org, trigger, status, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                i.id,
                i.opened_at,
                i.principal,
                i.org,
                i.trigger,
                i.status,
                i.body
            ],
        )?;
        incident_leaves_in(&tx, &i.id, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn incidents(&self) -> Result<Vec<IncidentRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT id, opened_at, principal, org, trigger, status, body FROM incidents \
                 ORDER BY opened_at DESC, id DESC",
            )?;
            let rows = stmt.query_map([], incident_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT id, opened_at, principal, org, trigger, status, body FROM incidents \
                 WHERE id = ?1",
            )?;
            Ok(stmt.query_row([id], incident_row).optional()?)
        })
    }

    fn replace_incident(
        &self,
        old_body: &str,
        new: &IncidentRecord,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE incidents SET status = ?2, body = ?3, org = ?4 WHERE id = ?1 AND body = ?5",
            params![new.id, new.status, new.body, new.org, old_body],
        )?;
        if n == 0 {
            return Ok(false);
        }
        incident_leaves_in(&tx, &new.id, audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn insert_incident_scope(
        &self,
        s: &IncidentScopeRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO incident_scopes (incident, version, computed_at, by, tree_size, \
             checkpoint, digest, matrix, sets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                s.incident,
                s.version,
                s.computed_at,
                s.by,
                to_i64(s.tree_size)?,
                s.checkpoint,
                s.digest,
                s.matrix,
                s.sets
            ],
        )?;
        incident_leaves_in(&tx, &s.incident, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn incident_scopes(&self, incident: &str) -> Result<Vec<IncidentScopeRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT incident, version, computed_at, by, tree_size, checkpoint, digest, \
                 matrix, sets FROM incident_scopes WHERE incident = ?1 ORDER BY version",
            )?;
            let rows = stmt.query_map([incident], |r| {
                Ok(IncidentScopeRecord {
                    incident: r.get(0)?,
                    version: r.get(1)?,
                    computed_at: r.get(2)?,
                    by: r.get(3)?,
                    tree_size: r.get::<_, i64>(4)?.max(0) as u64,
                    checkpoint: r.get(5)?,
                    digest: r.get(6)?,
                    matrix: r.get(7)?,
                    sets: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn incident_scope_heads(&self, incident: &str) -> Result<Vec<IncidentScopeRecord>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT incident, version, computed_at, by, tree_size, checkpoint, digest, \
                 matrix FROM incident_scopes WHERE incident = ?1 ORDER BY version",
            )?;
            let rows = stmt.query_map([incident], |r| {
                Ok(IncidentScopeRecord {
                    incident: r.get(0)?,
                    version: r.get(1)?,
                    computed_at: r.get(2)?,
                    by: r.get(3)?,
                    tree_size: r.get::<_, i64>(4)?.max(0) as u64,
                    checkpoint: r.get(5)?,
                    digest: r.get(6)?,
                    matrix: r.get(7)?,
                    sets: Vec::new(),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn latest_incident_matrix(&self, incident: &str) -> Result<Option<(u32, String)>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT version, matrix FROM incident_scopes WHERE incident = ?1 \
                 ORDER BY version DESC LIMIT 1",
            )?;
            Ok(stmt
                .query_row([incident], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })
    }

    fn log_incident(&self, incident: &str, audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        incident_leaves_in(&tx, incident, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn incident_leaves(&self, incident: &str) -> Result<Vec<u64>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT leaf FROM incident_leaves WHERE incident = ?1 ORDER BY leaf",
            )?;
            let rows = stmt.query_map([incident], |r| Ok(r.get::<_, i64>(0)?.max(0) as u64))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn add_canaries(&self, collection: &str, iids: &[u64]) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .keys
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO canaries (iid, collection) VALUES (?1, ?2)")?;
            for iid in iids {
                stmt.execute(params![to_i64(*iid)?, collection])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn canaries(&self) -> Result<Vec<u64>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p
                .keys
                .prepare_cached("SELECT iid FROM canaries ORDER BY iid")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            Ok(rows
                .map(|r| r.map(|v| v as u64))
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn subject_ids(&self, iids: &[u64]) -> Result<Vec<(u64, Uuid)>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p
                .data
                .prepare_cached("SELECT id FROM subjects WHERE iid = ?1")?;
            let mut out = Vec::with_capacity(iids.len());
            for iid in iids {
                let id: Option<Vec<u8>> =
                    stmt.query_row([to_i64(*iid)?], |r| r.get(0)).optional()?;
                if let Some(b) = id {
                    let id = Uuid::from_slice(&b)
                        .map_err(|_| StoreError::Corrupt("subject id is not 16 bytes".into()))?;
                    out.push((*iid, id));
                }
            }
            Ok(out)
        })
    }
}

fn insert_key(tx: &rusqlite::Transaction<'_>, key: &ApiKeyRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO api_keys (prefix, hash, principal, kind, created_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            key.prefix,
            key.hash.as_slice(),
            key.principal,
            key.kind.as_str(),
            key.created_at,
            key.revoked_at
        ],
    )?;
    Ok(())
}
