//! [`DirectoryStore`]: organizations, principals, their API keys, suspensions, containment
//! incidents and canary subjects — who may call kura, who answers for them, and what
//! containment has recorded.
//!
//! Nothing here is personal data of a subject. Two things are secret from callers and kept
//! accordingly: API keys (only SHA-256 of each is stored) and the canary list, which lives in
//! the **key store** (`keys.db` / `kura_keys`), so that a dump of the data store cannot tell
//! a canary from a real subject.
//!
//! # Invariants
//! - An organization always names a security officer (the caller checks the values; the
//!   columns are `NOT NULL`).
//! - A principal and its first API key are inserted in one transaction, with the access-log
//!   leaves describing the act.
//! - Suspension is a column of the principal read on every authentication, so a suspension
//!   recorded by one server is seen by every other on the next request.

use uuid::Uuid;

use crate::{ApiKeyRecord, AuditLeaf, Store, StoreError};

/// An organization: the data holder or a processor supervised by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRecord {
    /// Short id (`[a-z0-9-]`, chosen by the operator).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Holder or processor.
    pub role: kura_model::OrgRole,
    /// For a processor: the holder that supervises it.
    pub supervisor: Option<String>,
    /// The responsible security officer's name.
    pub officer_name: String,
    /// How to reach the officer (an e-mail address or phone number).
    pub officer_contact: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A principal: who calls kura.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRecord {
    /// Public id (UUIDv7 text).
    pub id: String,
    /// Organization id.
    pub org: String,
    /// Name, unique within the organization.
    pub name: String,
    /// Service, processor, operator or self.
    pub kind: kura_model::PrincipalType,
    /// For `self`: the subject it may act on.
    pub subject: Option<Uuid>,
    /// The policies, as a JSON array of policy documents (checked by the caller).
    pub policies: String,
    /// Bumped whenever `policies` change (lets servers cache parsed policies).
    pub policy_version: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// When suspended, unix milliseconds; `None` when active.
    pub suspended_at: Option<i64>,
    /// Why suspended (`containment:quota`, `containment:canary`, `operator`).
    pub suspended_reason: Option<String>,
    /// When last reinstated, unix milliseconds.
    pub reinstated_at: Option<i64>,
}

/// A containment incident (draft until an incident workflow takes it over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// Public id (UUIDv7 text).
    pub id: String,
    /// Unix seconds.
    pub opened_at: i64,
    /// The principal that tripped containment.
    pub principal: String,
    /// Its organization, if it has a principal record.
    pub org: Option<String>,
    /// `quota` or `canary`.
    pub trigger: String,
    /// `draft`.
    pub status: String,
    /// The incident as JSON (window, quota, subjects obtained by public id).
    pub body: String,
}

/// Storage of organizations, principals, keys, suspensions, incidents and canaries.
pub trait DirectoryStore: Store {
    /// Inserts an organization, with the leaves recording the act.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id exists.
    fn insert_organization(
        &self,
        org: &OrganizationRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// One organization.
    ///
    /// # Errors
    /// Backend failures.
    fn organization(&self, id: &str) -> Result<Option<OrganizationRecord>, StoreError>;

    /// Every organization, by id.
    ///
    /// # Errors
    /// Backend failures.
    fn organizations(&self) -> Result<Vec<OrganizationRecord>, StoreError>;

    /// Inserts a principal with its first API key, and the leaves, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id, the (org, name) pair or the key prefix exists,
    /// or the organization does not (the caller checks it first for a clear message).
    fn insert_principal(
        &self,
        principal: &PrincipalRecord,
        key: &ApiKeyRecord,
        audit: &[AuditLeaf],
    ) -> Result<(), StoreError>;

    /// One principal.
    ///
    /// # Errors
    /// Backend failures.
    fn principal(&self, id: &str) -> Result<Option<PrincipalRecord>, StoreError>;

    /// The principals of one organization (or all), by id.
    ///
    /// # Errors
    /// Backend failures.
    fn principals(&self, org: Option<&str>) -> Result<Vec<PrincipalRecord>, StoreError>;

    /// An API key by prefix with its principal's record (`None` for keys without one, such
    /// as the bootstrap operator key): the one lookup authentication makes.
    ///
    /// # Errors
    /// Backend failures.
    fn authenticate(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiKeyRecord, Option<PrincipalRecord>)>, StoreError>;

    /// The keys of a principal (revoked ones included), oldest first.
    ///
    /// # Errors
    /// Backend failures.
    fn api_keys_of(&self, principal: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Adds a key to an existing principal (rotation), with leaves.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the prefix exists.
    fn add_api_key(&self, key: &ApiKeyRecord, audit: &[AuditLeaf]) -> Result<(), StoreError>;

    /// Revokes every unrevoked key of `principal` other than `keep` (rotation), or one key
    /// when `only` is given; returns how many were revoked.
    ///
    /// # Errors
    /// Backend failures.
    fn revoke_api_keys(
        &self,
        principal: &str,
        only: Option<&str>,
        keep: Option<&str>,
        now: i64,
        audit: &[AuditLeaf],
    ) -> Result<u64, StoreError>;

    /// Replaces a principal's policies (a JSON array, checked by the caller) and bumps its
    /// policy version, so that every server reparses them on the next request; returns
    /// whether it exists.
    ///
    /// # Errors
    /// Backend failures.
    fn set_policies(
        &self,
        principal: &str,
        policies: &str,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// Suspends (`Some(reason)`) or reinstates (`None`) a principal at `now_ms`; returns
    /// whether it exists.
    ///
    /// # Errors
    /// Backend failures.
    fn set_suspended(
        &self,
        principal: &str,
        reason: Option<&str>,
        now_ms: i64,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// Records an incident.
    ///
    /// # Errors
    /// Backend failures.
    fn insert_incident(&self, incident: &IncidentRecord) -> Result<(), StoreError>;

    /// Incidents, newest first.
    ///
    /// # Errors
    /// Backend failures.
    fn incidents(&self) -> Result<Vec<IncidentRecord>, StoreError>;

    /// Marks subjects (by internal id) as canaries of `collection`, in the key store.
    ///
    /// # Errors
    /// Backend failures.
    fn add_canaries(&self, collection: &str, iids: &[u64]) -> Result<(), StoreError>;

    /// Every canary's internal id. Canaries are few (an operator plants tens to thousands).
    ///
    /// # Errors
    /// Backend failures.
    fn canaries(&self) -> Result<Vec<u64>, StoreError>;

    /// Public ids of subjects by internal id (missing ones, erased, are left out).
    ///
    /// # Errors
    /// Backend failures.
    fn subject_ids(&self, iids: &[u64]) -> Result<Vec<(u64, Uuid)>, StoreError>;
}

/// Conformance checks every [`DirectoryStore`] backend must pass (run by
/// `tests/directory.rs` on SQLite and PostgreSQL, the latter also as the app role).
#[doc(hidden)]
#[allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod conformance {
    use super::*;
    use crate::conformance::sample;

    fn org(id: &str, role: &str, supervisor: Option<&str>) -> OrganizationRecord {
        OrganizationRecord {
            id: id.to_owned(),
            name: format!("{id} Inc."),
            role: kura_model::OrgRole::parse(role).unwrap(),
            supervisor: supervisor.map(str::to_owned),
            officer_name: "Hanako Sato".to_owned(),
            officer_contact: "security@example.com".to_owned(),
            created_at: 1_800_000_000,
        }
    }

    fn key(prefix: &str, principal: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            prefix: prefix.to_owned(),
            hash: [7; 32],
            principal: principal.to_owned(),
            kind: kura_model::PrincipalType::Processor,
            created_at: 1_800_000_000,
            revoked_at: None,
        }
    }

    pub fn run_all<S: DirectoryStore + 'static>(store: std::sync::Arc<S>) {
        let s = &*store;
        let before = s.audit_size().unwrap();
        s.insert_organization(&org("acme", "holder", None), &[b"leaf-1".to_vec()])
            .unwrap();
        s.insert_organization(&org("callcenter", "processor", Some("acme")), &[])
            .unwrap();
        assert!(matches!(
            s.insert_organization(&org("acme", "holder", None), &[]),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            s.audit_size().unwrap(),
            before + 1,
            "leaves written with the org"
        );
        assert_eq!(s.organizations().unwrap().len(), 2);
        assert_eq!(
            s.organization("callcenter")
                .unwrap()
                .unwrap()
                .supervisor
                .as_deref(),
            Some("acme")
        );
        // An organization without an officer is refused by the schema itself.
        let mut bad = org("nobody", "holder", None);
        bad.officer_name = String::new();
        assert!(s.insert_organization(&bad, &[]).is_err());

        let subject = Uuid::now_v7();
        let p = PrincipalRecord {
            id: Uuid::now_v7().to_string(),
            org: "callcenter".to_owned(),
            name: "reader".to_owned(),
            kind: kura_model::PrincipalType::Processor,
            subject: Some(subject),
            policies: "[]".to_owned(),
            policy_version: 1,
            created_at: 1_800_000_000,
            suspended_at: None,
            suspended_reason: None,
            reinstated_at: None,
        };
        s.insert_principal(&p, &key("kura_aaaaaaaa", &p.id), &[b"leaf-2".to_vec()])
            .unwrap();
        let mut dup = p.clone();
        dup.id = Uuid::now_v7().to_string();
        assert!(
            s.insert_principal(&dup, &key("kura_bbbbbbbb", &dup.id), &[])
                .is_err(),
            "(org, name) is unique"
        );
        assert!(
            s.authenticate("kura_bbbbbbbb").unwrap().is_none(),
            "a refused principal leaves no key behind"
        );
        let (k, got) = s.authenticate("kura_aaaaaaaa").unwrap().unwrap();
        assert_eq!(k.principal, p.id);
        assert_eq!(got.as_ref(), Some(&p));
        assert_eq!(s.principals(Some("callcenter")).unwrap(), vec![p.clone()]);
        assert!(s.principals(Some("acme")).unwrap().is_empty());
        // A bootstrap key without a principal row.
        s.insert_api_key(&key("kura_cccccccc", "operator")).unwrap();
        assert!(
            s.authenticate("kura_cccccccc")
                .unwrap()
                .unwrap()
                .1
                .is_none()
        );

        // Rotation: add a key, revoke the others.
        s.add_api_key(&key("kura_dddddddd", &p.id), &[]).unwrap();
        let n = s
            .revoke_api_keys(&p.id, None, Some("kura_dddddddd"), 1_800_000_100, &[])
            .unwrap();
        assert_eq!(n, 1);
        let keys = s.api_keys_of(&p.id).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(
            keys.iter()
                .any(|k| k.prefix == "kura_aaaaaaaa" && k.revoked_at.is_some())
        );
        assert!(
            keys.iter()
                .any(|k| k.prefix == "kura_dddddddd" && k.revoked_at.is_none())
        );

        // A policy change bumps the version authentication returns.
        assert!(s.set_policies(&p.id, "[{}]", &[]).unwrap());
        let got = s.authenticate("kura_dddddddd").unwrap().unwrap().1.unwrap();
        assert_eq!((got.policies.as_str(), got.policy_version), ("[{}]", 2));
        assert!(!s.set_policies("nobody", "[]", &[]).unwrap());

        // Suspension and reinstatement are seen by authentication.
        assert!(
            s.set_suspended(&p.id, Some("containment:quota"), 5, &[])
                .unwrap()
        );
        let got = s.authenticate("kura_dddddddd").unwrap().unwrap().1.unwrap();
        assert_eq!(got.suspended_at, Some(5));
        assert_eq!(got.suspended_reason.as_deref(), Some("containment:quota"));
        assert!(s.set_suspended(&p.id, None, 9, &[]).unwrap());
        let got = s.principal(&p.id).unwrap().unwrap();
        assert_eq!((got.suspended_at, got.reinstated_at), (None, Some(9)));
        assert!(!s.set_suspended("nobody", None, 9, &[]).unwrap());

        // Incidents.
        s.insert_incident(&IncidentRecord {
            id: "inc-1".to_owned(),
            opened_at: 10,
            principal: p.id.clone(),
            org: Some("callcenter".to_owned()),
            trigger: "quota".to_owned(),
            status: "draft".to_owned(),
            body: "{}".to_owned(),
        })
        .unwrap();
        assert_eq!(s.incidents().unwrap()[0].id, "inc-1");

        // Canaries: kept apart, left out of counts; ids resolve to public ids.
        let a = sample(s, "accounts", 1);
        let b = sample(s, "accounts", 2);
        s.insert_subjects(&[a.clone(), b.clone()], &[]).unwrap();
        assert_eq!(s.count_subjects("accounts").unwrap(), 2);
        s.add_canaries("accounts", &[b.iid]).unwrap();
        assert_eq!(s.canaries().unwrap(), vec![b.iid]);
        assert_eq!(s.count_subjects("accounts").unwrap(), 1);
        let mut ids = s.subject_ids(&[a.iid, b.iid, 999_999]).unwrap();
        ids.sort_unstable();
        assert_eq!(ids, vec![(a.iid, a.id), (b.iid, b.id)]);
    }
}
