//! Breach scoping end to end over the real vault and SQLite store: a stolen processor key
//! reads some subjects (some reads refused), another service reads others, an operator reads
//! one; the matrix computed from the real access log matches what happened, and recomputing
//! at the same tree size after more events gives the same digest.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use kura_audit::{Appender, AppenderConfig, Clock};
use kura_crypto::KeyFile;
use kura_model::Schema;
use kura_policy::{Policy, PrincipalKind};
use kura_scope::{Grant, Scope, Vector};
use kura_store::Store;
use kura_store::sqlite::{Durability, SqliteStore};
use kura_vault::{Access, Caller, SubjectInput, Vault, VaultOptions};

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        1_800_000_000_000
    }
}

const POLICY: &str = r#"{"collection":"accounts","purposes":["support"],"actions":["read"],
    "fields":{"name":"plain","email":"masked","phone":"token","birth_date":"denied"}}"#;

fn service(name: &str) -> Access {
    Access {
        principal: name.into(),
        purpose: "support".into(),
        request_id: "r".into(),
        caller: Caller::with_policies(
            PrincipalKind::Service,
            vec![Policy::from_json(POLICY, &Schema::builtin()).unwrap()],
            false,
        ),
    }
}

#[test]
fn the_matrix_from_the_real_log_matches_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let id = [3u8; 16];
    let keys = KeyFile::create(&dir.path().join("vault.key"), id).unwrap();
    let store =
        Arc::new(SqliteStore::create(&dir.path().join("data"), id, Durability::Normal).unwrap());
    let appender = Arc::new(Appender::start(store.clone(), AppenderConfig::default()).unwrap());
    let vault = Vault::new(
        Schema::builtin(),
        store.clone(),
        Arc::new(keys),
        VaultOptions::default(),
        appender,
        Arc::new(FixedClock),
    )
    .unwrap();
    let op = Access::operator("op", "testing");
    let countries = ["JP", "DE", "US"];
    let inputs = (0..300)
        .map(|i| SubjectInput {
            country: countries[i % 3].into(),
            locale: "en".into(),
            fields: [
                ("login_id", format!("user{i}")),
                ("name", format!("Person {i}")),
                ("email", format!("user{i}@example.com")),
                ("phone", format!("+49 30 1234 {i:04}")),
                ("birth_date", "1990-01-02".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        })
        .collect();
    let ids: Vec<_> = vault
        .create_batch(&op, "accounts", inputs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let proc = service("proc");
    // The thief reads subjects 0..40 (all it may see), then tries birth dates: refused.
    for id in &ids[..40] {
        vault.read(&proc, "accounts", id, None).unwrap();
    }
    for id in &ids[40..50] {
        let denied = vault.read(&proc, "accounts", id, Some(&["birth_date".to_owned()]));
        assert!(denied.is_err());
    }
    // Another service and the operator, not suspects.
    let other = service("svc2");
    for id in &ids[100..120] {
        vault.read(&other, "accounts", id, None).unwrap();
    }
    vault.read(&op, "accounts", &ids[200], None).unwrap();

    let size = store.audit_size().unwrap();
    let grants = [("name", "plain"), ("email", "masked"), ("phone", "token")]
        .iter()
        .map(|(f, m)| Grant {
            principal: "proc".into(),
            collection: "accounts".into(),
            field: (*f).into(),
            mode: (*m).into(),
        })
        .collect::<Vec<_>>();
    let scope = || Scope {
        from_ms: 0,
        to_ms: u64::MAX,
        suspects: BTreeSet::from(["proc".to_owned()]),
        vector: Vector::StolenKey,
        keys_exposed: false,
        grants: grants.clone(),
        canaries: Default::default(),
        orgs: Default::default(),
    };
    let mut stages = Vec::new();
    let m = kura_admin::scope::compute(
        &*store,
        &Schema::builtin(),
        scope(),
        size,
        &mut |s, _, _| stages.push(s),
    )
    .unwrap();
    assert!(stages.contains(&"events") && stages.contains(&"subjects"));
    assert_eq!(m.subjects_seen, 300);
    assert_eq!(m.events_used, 40, "only the thief's successful reads");
    assert_eq!(m.people_confirmed, 40);
    assert_eq!(
        m.people, 300,
        "every subject holds a field the key could return"
    );
    let name = &m.categories["name"];
    assert_eq!((name.confirmed, name.potential), (40, 260));
    assert_eq!(name.confirmed_by_mode.plain, 40);
    assert_eq!(m.categories["email"].confirmed_by_mode.masked, 40);
    assert_eq!(m.categories["phone"].confirmed_by_mode.token, 40);
    assert!(
        !m.categories.contains_key("birth_date"),
        "refused and denied"
    );
    let mut read: Vec<u64> = m.cell_subjects("name", "confirmed:plain");
    read.sort_unstable();
    assert_eq!(read.len(), 40);
    // Per country: 40 confirmed split over the three countries, 14 + 13 + 13.
    let per: Vec<u64> = ["DE", "JP", "US"]
        .iter()
        .map(|c| m.countries[*c]["name"].0)
        .collect();
    assert_eq!(per.iter().sum::<u64>(), 40);
    assert_eq!(per, [13, 14, 13]);

    // More events arrive; at the same tree size the answer is byte-identical.
    for id in &ids[250..260] {
        vault.read(&proc, "accounts", id, None).unwrap();
    }
    let again = kura_admin::scope::compute(
        &*store,
        &Schema::builtin(),
        scope(),
        size,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(again.canonical_json(), m.canonical_json());
    assert_eq!(again.digest(), m.digest());
    let later = kura_admin::scope::compute(
        &*store,
        &Schema::builtin(),
        scope(),
        store.audit_size().unwrap(),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(later.people_confirmed, 50);
    assert_ne!(later.digest(), m.digest());
}
