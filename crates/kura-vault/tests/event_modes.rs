//! A read's access event names each field returned with the mode it was shown in (issue 14:
//! breach scoping reads confirmed exposure, and its mode, back from the log).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_audit::{AccessEvent, Appender, AppenderConfig, Clock};
use kura_model::Schema;
use kura_policy::{Policy, PrincipalKind};
use kura_store::sqlite::{Durability, SqliteStore};
use kura_vault::{Access, Caller, SubjectInput, Vault, VaultOptions};

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        1_800_000_000_000
    }
}

#[test]
fn a_read_event_names_each_field_with_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let id = [9u8; 16];
    let keys = kura_testkit::keys::provider(dir.path(), id);
    let store =
        Arc::new(SqliteStore::create(&dir.path().join("data"), id, Durability::Normal).unwrap());
    let appender = Arc::new(Appender::start(store.clone(), AppenderConfig::default()).unwrap());
    let vault = Vault::new(
        Schema::builtin(),
        store,
        keys,
        VaultOptions::default(),
        appender,
        Arc::new(FixedClock),
    )
    .unwrap();
    let op = Access::operator("op", "testing");
    let subject = vault
        .create(
            &op,
            "accounts",
            SubjectInput {
                country: "JP".into(),
                locale: "ja".into(),
                fields: [
                    ("login_id", "yamada"),
                    ("name", "山田 太郎"),
                    ("email", "taro@example.jp"),
                    ("phone", "+81 90 1234 5678"),
                    ("birth_date", "1990-01-02"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            },
        )
        .unwrap();
    let doc = r#"{"collection":"accounts","purposes":["support"],"actions":["read"],
        "fields":{"name":"plain","email":"masked","phone":"token","birth_date":"denied"}}"#;
    let svc = Access {
        principal: "svc".into(),
        purpose: "support".into(),
        request_id: "r".into(),
        caller: Caller::with_policies(
            PrincipalKind::Service,
            vec![Policy::from_json(doc, &Schema::builtin()).unwrap()],
            false,
        ),
    };
    let view = vault.read(&svc, "accounts", &subject, None).unwrap();
    assert_eq!(view.fields.len(), 3);
    // The event is durable before the answer: it is the log's last leaf.
    let conn = rusqlite::Connection::open(dir.path().join("data/data.db")).unwrap();
    let leaf: Vec<u8> = conn
        .query_row(
            "SELECT leaf FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let ev = AccessEvent::from_leaf(&leaf).unwrap();
    assert_eq!(ev.fields, ["email:masked", "name", "phone:token"]);
    // An operator's read is plain throughout.
    vault.read(&op, "accounts", &subject, None).unwrap();
    let leaf: Vec<u8> = conn
        .query_row(
            "SELECT leaf FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let ev = AccessEvent::from_leaf(&leaf).unwrap();
    assert!(
        ev.fields.iter().all(|f| !f.contains(':')),
        "{:?}",
        ev.fields
    );
}
