//! Property test of policy enforcement through the real vault (SQLite store, key file,
//! access log): for random policies and random requests, no answer carries a field in a mode
//! more revealing than the policy grants, no field the policy denies, and no action or
//! purpose outside the policy succeeds — and every refusal is a 403-class `Denied`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use kura_audit::{Appender, AppenderConfig, Clock};
use kura_crypto::KeyFile;
use kura_model::Schema;
use kura_policy::{Action, Mode, PolicySpec, PrincipalKind};
use kura_store::sqlite::{Durability, SqliteStore};
use kura_vault::{Access, Caller, SubjectInput, Uuid, Vault, VaultError, VaultOptions};
use proptest::prelude::*;

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        1_800_000_000_000
    }
}

const FIELDS: [&str; 8] = [
    "login_id",
    "online_id",
    "name",
    "email",
    "phone",
    "postal_address",
    "birth_date",
    "gender",
];
const PURPOSES: [&str; 3] = ["support", "billing", "marketing"];

fn values() -> BTreeMap<String, String> {
    [
        ("login_id", "taro_y"),
        ("online_id", "Taro_Online"),
        ("name", "山田 太郎"),
        ("email", "taro@example.com"),
        ("phone", "+81 90 1234 5678"),
        ("postal_address", "東京都千代田区1-1"),
        ("birth_date", "1990-04-01"),
        ("gender", "male"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

struct World {
    _dir: tempfile::TempDir,
    vault: Vault,
    ids: Vec<Uuid>,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let id = [9u8; 16];
    let keys = KeyFile::create(&dir.path().join("vault.key"), id).unwrap();
    let store: kura_store::DynStore =
        Arc::new(SqliteStore::create(&dir.path().join("data"), id, Durability::Normal).unwrap());
    let appender = Arc::new(Appender::start(store.clone(), AppenderConfig::default()).unwrap());
    let vault = Vault::new(
        Schema::builtin(),
        store,
        Arc::new(keys),
        VaultOptions::default(),
        appender,
        Arc::new(FixedClock),
    )
    .unwrap();
    let op = Access::operator("setup", "setup");
    let ids = (0..3)
        .map(|i| {
            let mut fields = values();
            fields.insert("login_id".into(), format!("taro_{i}"));
            fields.insert("email".into(), format!("taro{i}@example.com"));
            vault
                .create(
                    &op,
                    "accounts",
                    SubjectInput {
                        country: "JP".into(),
                        locale: "ja".into(),
                        fields,
                    },
                )
                .unwrap()
        })
        .collect();
    World {
        _dir: dir,
        vault,
        ids,
    }
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Plain),
        Just(Mode::Masked),
        Just(Mode::Token),
        Just(Mode::Denied)
    ]
}

fn policy() -> impl Strategy<Value = PolicySpec> {
    (
        proptest::sample::subsequence(PURPOSES.to_vec(), 1..=3),
        proptest::sample::subsequence(
            vec![Action::Read, Action::Write, Action::Search, Action::Delete],
            1..=4,
        ),
        proptest::collection::vec(proptest::option::of(mode()), FIELDS.len()),
    )
        .prop_map(|(purposes, actions, modes)| PolicySpec {
            collection: "accounts".into(),
            purposes: purposes.into_iter().map(str::to_owned).collect(),
            actions,
            fields: FIELDS
                .iter()
                .zip(modes)
                .filter_map(|(f, m)| m.map(|m| ((*f).to_owned(), m)))
                .collect(),
            quota: None,
        })
}

#[derive(Debug, Clone)]
enum Req {
    Read(Option<Vec<&'static str>>),
    Search(&'static str),
    Patch(&'static str),
    Delete,
}

fn request() -> impl Strategy<Value = (Req, &'static str, usize)> {
    let req = prop_oneof![
        proptest::option::of(proptest::sample::subsequence(FIELDS.to_vec(), 1..=4))
            .prop_map(Req::Read),
        proptest::sample::select(vec!["login_id", "email", "name"]).prop_map(Req::Search),
        proptest::sample::select(FIELDS.to_vec()).prop_map(Req::Patch),
        Just(Req::Delete),
    ];
    (
        req,
        proptest::sample::select(vec!["support", "billing", "marketing", "audit"]),
        0usize..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_answer_exceeds_the_grant(spec in policy(), reqs in proptest::collection::vec(request(), 1..8)) {
        let w = world();
        let schema = Schema::builtin();
        let c = schema.collection("accounts").unwrap();
        let granted = |f: &str| spec.fields.get(f).copied().unwrap_or(Mode::Denied);
        let policy = spec.clone().check(&schema).unwrap();
        let caller = Caller::with_policies(PrincipalKind::Service, vec![policy], false)
            .in_org("org-a", 0);
        // What each subject holds now (patches change it).
        let mut current: Vec<BTreeMap<String, String>> = (0..3)
            .map(|i| {
                let mut v = values();
                v.insert("login_id".into(), format!("taro_{i}"));
                v.insert("email".into(), format!("taro{i}@example.com"));
                v
            })
            .collect();
        for (req, purpose, which) in reqs {
            let access = Access {
                principal: "svc".into(),
                purpose: purpose.into(),
                request_id: "r".into(),
                caller: caller.clone(),
            };
            let id = w.ids[which];
            let purpose_ok = spec.purposes.iter().any(|p| p == purpose);
            let allows = |a: Action| purpose_ok && spec.actions.contains(&a);
            match req {
                Req::Read(fields) => {
                    let names: Option<Vec<String>> =
                        fields.as_ref().map(|f| f.iter().map(|s| (*s).to_owned()).collect());
                    let got = w.vault.read(&access, "accounts", &id, names.as_deref());
                    let asked_denied = fields
                        .as_ref()
                        .is_some_and(|f| f.iter().any(|n| granted(n) == Mode::Denied));
                    match got {
                        Ok(view) => {
                            prop_assert!(allows(Action::Read), "read allowed outside the policy");
                            prop_assert!(!asked_denied, "a denied field was asked and served");
                            for (name, value) in &view.fields {
                                let g = granted(name);
                                prop_assert!(g != Mode::Denied, "denied field {} returned", name);
                                let plain = current[which][name.as_str()].clone();
                                let f = c.field(name).unwrap();
                                match g {
                                    Mode::Plain => prop_assert_eq!(value.as_str(), plain.as_str()),
                                    Mode::Masked => {
                                        let masked = kura_policy::mask(f.mask_rule(), &plain, "JP");
                                        prop_assert_eq!(value.as_str(), masked.as_str());
                                        prop_assert_ne!(value.as_str(), plain.as_str());
                                    }
                                    Mode::Token => {
                                        prop_assert!(value.starts_with("tok_"));
                                        prop_assert!(!value.contains(plain.as_str()));
                                    }
                                    Mode::Denied => unreachable!(),
                                }
                            }
                            // Unqualified: exactly the non-denied fields.
                            if fields.is_none() {
                                let want: Vec<&str> = FIELDS
                                    .iter()
                                    .copied()
                                    .filter(|f| granted(f) != Mode::Denied)
                                    .collect();
                                let have: Vec<&str> = view.fields.keys().map(String::as_str).collect();
                                let mut want_sorted = want.clone();
                                want_sorted.sort_unstable();
                                prop_assert_eq!(have, want_sorted);
                            }
                        }
                        Err(VaultError::Denied(_)) => {
                            prop_assert!(!allows(Action::Read) || asked_denied);
                        }
                        Err(VaultError::NotFound(_)) => {} // erased by an earlier request
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
                Req::Search(field) => {
                    let got = w.vault.search(&access, "accounts", field, "nobody@example.com", 10);
                    match got {
                        Ok(_) => {
                            prop_assert!(allows(Action::Search));
                            prop_assert!(granted(field) != Mode::Denied);
                        }
                        Err(VaultError::Denied(_)) => {
                            prop_assert!(!allows(Action::Search) || granted(field) == Mode::Denied);
                        }
                        Err(VaultError::Invalid(_)) => {
                            // Allowed by policy but not a searchable field.
                            prop_assert!(allows(Action::Search));
                        }
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
                Req::Patch(field) => {
                    let changes: BTreeMap<String, Option<String>> =
                        [(field.to_owned(), Some("changed_value".to_owned()))].into();
                    match w.vault.patch(&access, "accounts", &id, &changes) {
                        Ok(()) => {
                            prop_assert!(allows(Action::Write));
                            prop_assert!(granted(field) != Mode::Denied);
                            current[which].insert(field.to_owned(), "changed_value".to_owned());
                        }
                        Err(VaultError::Denied(_)) => {
                            prop_assert!(!allows(Action::Write) || granted(field) == Mode::Denied);
                        }
                        Err(VaultError::Invalid(_) | VaultError::NotFound(_)) => {}
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
                Req::Delete => match w.vault.delete(&access, "accounts", &id) {
                    Ok(()) => prop_assert!(allows(Action::Delete)),
                    Err(VaultError::Denied(_)) => prop_assert!(!allows(Action::Delete)),
                    Err(VaultError::NotFound(_)) => {}
                    Err(e) => prop_assert!(false, "unexpected error {e}"),
                },
            }
        }
    }
}
