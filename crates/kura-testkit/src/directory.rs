//! Conformance checks every [`DirectoryStore`] backend must pass (run by
//! `tests/directory.rs` on SQLite and PostgreSQL, the latter also as the app role).

use crate::store::sample;
#[allow(unused_imports)]
use kura_store::directory::*;
#[allow(unused_imports)]
use kura_store::*;

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

    // Incidents: inserted with their leaves, replaced only from the body read (a
    // compare-and-swap), matrix versions written once, each leaf listed as the incident's.
    let first = s.audit_size().unwrap();
    let inc = IncidentRecord {
        id: "inc-1".to_owned(),
        opened_at: 10,
        principal: p.id.clone(),
        org: Some("callcenter".to_owned()),
        trigger: "quota".to_owned(),
        status: "open".to_owned(),
        body: "{\"v\":1}".to_owned(),
    };
    s.insert_incident(&inc, &[b"opened".to_vec()]).unwrap();
    assert!(matches!(
        s.insert_incident(&inc, &[b"again".to_vec()]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.incidents().unwrap()[0].id, "inc-1");
    assert_eq!(s.incident("inc-1").unwrap().unwrap(), inc);
    assert_eq!(s.incident("inc-2").unwrap(), None);
    let changed = IncidentRecord {
        status: "closed".to_owned(),
        body: "{\"v\":2}".to_owned(),
        ..inc.clone()
    };
    assert!(
        s.replace_incident(&inc.body, &changed, &[b"closed".to_vec()])
            .unwrap()
    );
    // A writer that read the old body loses, and writes nothing.
    let size = s.audit_size().unwrap();
    assert!(
        !s.replace_incident(&inc.body, &inc, &[b"lost".to_vec()])
            .unwrap()
    );
    assert_eq!(s.audit_size().unwrap(), size);
    assert_eq!(s.incident("inc-1").unwrap().unwrap(), changed);
    let scope = kura_store::IncidentScopeRecord {
        incident: "inc-1".to_owned(),
        version: 1,
        computed_at: 11,
        by: "op".to_owned(),
        tree_size: 3,
        checkpoint: "cp".to_owned(),
        digest: "ab".to_owned(),
        matrix: "{}".to_owned(),
        sets: vec![1, 2, 3],
    };
    s.insert_incident_scope(&scope, &[b"scoped".to_vec()])
        .unwrap();
    assert!(matches!(
        s.insert_incident_scope(&scope, &[]),
        Err(StoreError::Conflict(_))
    ));
    s.log_incident("inc-1", &[b"exported".to_vec()]).unwrap();
    assert_eq!(s.incident_scopes("inc-1").unwrap(), vec![scope.clone()]);
    assert_eq!(
        s.latest_incident_matrix("inc-1").unwrap(),
        Some((1, scope.matrix.clone()))
    );
    assert_eq!(s.latest_incident_matrix("inc-2").unwrap(), None);
    assert_eq!(
        s.incident_scope_heads("inc-1").unwrap(),
        vec![kura_store::IncidentScopeRecord {
            sets: Vec::new(),
            ..scope.clone()
        }]
    );
    assert!(s.incident_scopes("inc-2").unwrap().is_empty());
    assert_eq!(
        s.incident_leaves("inc-1").unwrap(),
        vec![first, first + 1, first + 2, first + 3]
    );

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
