//! The vault over a real SQLite store and a real key file.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use kura_audit::{Appender, AppenderConfig, Clock};
use kura_crypto::{KeyFile, KeyProvider};
use kura_model::Schema;
use kura_store::DynStore;
use kura_store::sqlite::{Durability, SqliteStore};
use kura_vault::{Access, SubjectInput, Vault, VaultOptions};

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        1_800_000_000_000
    }
}

fn with_log(store: DynStore, keys: Arc<dyn KeyProvider>) -> Vault {
    let appender = Arc::new(Appender::start(store.clone(), AppenderConfig::default()).unwrap());
    Vault::new(
        Schema::builtin(),
        store,
        keys,
        VaultOptions::default(),
        appender,
        Arc::new(FixedClock),
    )
    .unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    vault: Vault,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let id = [5u8; 16];
    let keys = kura_testkit::keys::provider(dir.path(), id);
    let store = SqliteStore::create(&dir.path().join("data"), id, Durability::Normal).unwrap();
    let vault = with_log(Arc::new(store), keys);
    Fixture { dir, vault }
}

fn access() -> Access {
    Access::operator("test", "testing")
}

fn input(pairs: &[(&str, &str)]) -> SubjectInput {
    SubjectInput {
        country: "JP".into(),
        locale: "ja-JP".into(),
        fields: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[test]
fn unicode_round_trip_through_every_operation() {
    let f = fixture();
    let a = access();
    let id = f
        .vault
        .create(
            &a,
            "accounts",
            input(&[
                ("login_id", "山田_taro"),
                ("email", "Taro.Yamada@Example.JP"),
                ("name", "山田 太郎 🎮"),
                ("postal_address", "〒100-0001 東京都千代田区千代田1-1"),
                ("phone", "０９０-１２３４-５６７８"),
                ("birth_date", "1990-04-01"),
                ("gender", "male"),
            ]),
        )
        .unwrap();
    let v = f.vault.read(&a, "accounts", &id, None).unwrap();
    assert_eq!(v.fields["name"].as_str(), "山田 太郎 🎮");
    assert_eq!(
        v.fields["postal_address"].as_str(),
        "〒100-0001 東京都千代田区千代田1-1"
    );
    assert_eq!(v.fields.len(), 7);
    // Search through normalized blind indexes.
    assert_eq!(
        f.vault
            .search(&a, "accounts", "email", "taro.yamada@example.jp", 10)
            .unwrap(),
        vec![id]
    );
    assert_eq!(
        f.vault
            .search(&a, "accounts", "phone", "090 1234 5678", 10)
            .unwrap(),
        vec![id]
    );
    assert!(
        f.vault
            .search(&a, "accounts", "email", "someone@else.jp", 10)
            .unwrap()
            .is_empty()
    );
    let e = f
        .vault
        .search(&a, "accounts", "birth_date", "1990-04-01", 10)
        .unwrap_err();
    assert_eq!(e.code(), "field_not_searchable");
    // Patch: German umlauts; the old e-mail no longer finds the subject.
    let mut changes = BTreeMap::new();
    changes.insert("name".to_owned(), Some("Jürgen Müßig".to_owned()));
    changes.insert("email".to_owned(), Some("JÜRGEN@beispiel.de".to_owned()));
    changes.insert("phone".to_owned(), None);
    f.vault.patch(&a, "accounts", &id, &changes).unwrap();
    let v = f
        .vault
        .read(
            &a,
            "accounts",
            &id,
            Some(&["name".to_owned(), "email".to_owned()]),
        )
        .unwrap();
    assert_eq!(v.fields.len(), 2);
    assert_eq!(v.fields["name"].as_str(), "Jürgen Müßig");
    assert!(
        f.vault
            .search(&a, "accounts", "email", "taro.yamada@example.jp", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.vault
            .search(&a, "accounts", "email", "jürgen@BEISPIEL.de", 10)
            .unwrap(),
        vec![id]
    );
    assert!(
        f.vault
            .search(&a, "accounts", "phone", "09012345678", 10)
            .unwrap()
            .is_empty()
    );
    // Login id unchanged: still found after the patch recomputed tokens.
    assert_eq!(
        f.vault
            .search(&a, "accounts", "login_id", "山田_taro", 10)
            .unwrap(),
        vec![id]
    );
    // Delete: crypto-shredded, then 404 and no search hit.
    f.vault.delete(&a, "accounts", &id).unwrap();
    assert_eq!(
        f.vault.read(&a, "accounts", &id, None).unwrap_err().code(),
        "subject_not_found"
    );
    assert!(
        f.vault
            .search(&a, "accounts", "login_id", "山田_taro", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.vault.delete(&a, "accounts", &id).unwrap_err().code(),
        "subject_not_found"
    );
}

#[test]
fn bad_input_changes_nothing() {
    let f = fixture();
    let a = access();
    let cases: Vec<(SubjectInput, &str)> = vec![
        (input(&[("email", "a@b.c")]), "missing_required_field"),
        (
            input(&[("login_id", "x"), ("email", "a@b.c"), ("nope", "v")]),
            "unknown_field",
        ),
        (
            input(&[
                ("login_id", "x"),
                ("email", "a@b.c"),
                ("birth_date", "1990-13-01"),
            ]),
            "invalid_value",
        ),
        (
            input(&[("login_id", "x"), ("email", "a@b.c"), ("gender", "robot")]),
            "invalid_value",
        ),
        (
            input(&[
                ("login_id", "x"),
                ("email", "a@b.c"),
                ("phone", "no digits"),
            ]),
            "invalid_value",
        ),
        (
            {
                let mut i = input(&[("login_id", "x"), ("email", "a@b.c")]);
                i.country = "XX".into();
                i
            },
            "invalid_country",
        ),
        (
            {
                let mut i = input(&[("login_id", "x"), ("email", "a@b.c")]);
                i.locale = "not a locale".into();
                i
            },
            "invalid_locale",
        ),
    ];
    for (inp, code) in cases {
        assert_eq!(
            f.vault.create(&a, "accounts", inp).unwrap_err().code(),
            code
        );
    }
    assert_eq!(f.vault.store().count_subjects("accounts").unwrap(), 0);
    assert_eq!(
        f.vault
            .create(&a, "nope", input(&[("login_id", "x"), ("email", "a@b.c")]))
            .unwrap_err()
            .code(),
        "unknown_collection"
    );
    // A batch keeps the good and refuses the bad, line by line.
    let results = f.vault.create_batch(
        &a,
        "accounts",
        vec![
            input(&[("login_id", "ok1"), ("email", "1@x.jp")]),
            input(&[("login_id", "bad")]),
            input(&[("login_id", "ok2"), ("email", "2@x.jp")]),
        ],
    );
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    assert_eq!(f.vault.store().count_subjects("accounts").unwrap(), 2);
}

#[test]
fn moved_ciphertexts_fail_with_an_integrity_error() {
    let f = fixture();
    let a = access();
    let id1 = f
        .vault
        .create(
            &a,
            "accounts",
            input(&[("login_id", "one"), ("email", "1@x.jp"), ("name", "Ichiro")]),
        )
        .unwrap();
    let id2 = f
        .vault
        .create(
            &a,
            "accounts",
            input(&[("login_id", "two"), ("email", "2@x.jp"), ("name", "Jiro")]),
        )
        .unwrap();
    // Copy subject 1's sealed fields into subject 2's row, directly in the database.
    let conn = rusqlite::Connection::open(f.dir.path().join("data/data.db")).unwrap();
    conn.execute(
        "UPDATE subjects SET fields = (SELECT fields FROM subjects WHERE id = ?1) WHERE id = ?2",
        [id1.as_bytes().as_slice(), id2.as_bytes().as_slice()],
    )
    .unwrap();
    let fresh = reopen(&f);
    let e = fresh.read(&a, "accounts", &id2, None).unwrap_err();
    assert_eq!(e.code(), "integrity_error", "{e}");
    assert!(!e.to_string().contains("Ichiro"));
    // Subject 1 is untouched.
    assert_eq!(
        fresh.read(&a, "accounts", &id1, None).unwrap().fields["name"].as_str(),
        "Ichiro"
    );
    // Swap two fields' ciphertexts inside one subject's blob: name <-> login_id.
    let blob: Vec<u8> = conn
        .query_row(
            "SELECT fields FROM subjects WHERE id = ?1",
            [id1.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .unwrap();
    let swapped = swap_field_names(&blob, "login_id", "name");
    conn.execute(
        "UPDATE subjects SET fields = ?1 WHERE id = ?2",
        rusqlite::params![swapped, id1.as_bytes().as_slice()],
    )
    .unwrap();
    let e = reopen(&f).read(&a, "accounts", &id1, None).unwrap_err();
    assert_eq!(e.code(), "integrity_error", "{e}");
}

fn reopen(f: &Fixture) -> Vault {
    let keys = kura_testkit::keys::open_again(f.dir.path(), [5u8; 16]);
    let store = SqliteStore::open(&f.dir.path().join("data"), Durability::Normal).unwrap();
    with_log(Arc::new(store), keys)
}

/// Rewrites the field blob so that the ciphertexts of fields `a` and `b` trade places
/// (the layout is documented in the vault's codec module).
fn swap_field_names(blob: &[u8], a: &str, b: &str) -> Vec<u8> {
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    let count = u16::from_be_bytes([blob[1], blob[2]]) as usize;
    let mut p = 3;
    for _ in 0..count {
        let l = blob[p] as usize;
        let name = String::from_utf8(blob[p + 1..p + 1 + l].to_vec()).unwrap();
        p += 1 + l;
        let cl = u32::from_be_bytes(blob[p..p + 4].try_into().unwrap()) as usize;
        fields.push((name, blob[p + 4..p + 4 + cl].to_vec()));
        p += 4 + cl;
    }
    let ia = fields.iter().position(|(n, _)| n == a).unwrap();
    let ib = fields.iter().position(|(n, _)| n == b).unwrap();
    let ca = fields[ia].1.clone();
    fields[ia].1 = fields[ib].1.clone();
    fields[ib].1 = ca;
    let mut out = vec![1u8];
    out.extend_from_slice(&(count as u16).to_be_bytes());
    for (n, c) in fields {
        out.push(n.len() as u8);
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(&c);
    }
    out
}

#[test]
fn a_key_file_of_another_vault_is_refused() {
    let f = fixture();
    let other = KeyFile::create(&f.dir.path().join("other.key"), [6; 16]).unwrap();
    let store = SqliteStore::open(&f.dir.path().join("data"), Durability::Normal).unwrap();
    let e = Vault::danger_without_audit(
        Schema::builtin(),
        Arc::new(store),
        Arc::new(other),
        VaultOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "vault_mismatch");
}

#[test]
fn every_operation_leaves_an_access_event() {
    let f = fixture();
    let a = access();
    let size = || f.vault.store().audit_size().unwrap();
    let id = f
        .vault
        .create(
            &a,
            "accounts",
            input(&[("login_id", "ev"), ("email", "ev@x.jp")]),
        )
        .unwrap();
    assert_eq!(size(), 1, "create");
    f.vault.read(&a, "accounts", &id, None).unwrap();
    assert_eq!(size(), 2, "read");
    f.vault
        .search(&a, "accounts", "login_id", "ev", 10)
        .unwrap();
    assert_eq!(size(), 3, "search");
    let mut ch = BTreeMap::new();
    ch.insert("name".to_owned(), Some("N".to_owned()));
    f.vault.patch(&a, "accounts", &id, &ch).unwrap();
    assert_eq!(size(), 4, "patch");
    assert!(f.vault.read(&a, "accounts", &uuid_like(), None).is_err());
    assert_eq!(size(), 5, "failed read");
    f.vault.delete(&a, "accounts", &id).unwrap();
    assert_eq!(size(), 6, "delete");
    // The log holds names and ids, never a value.
    let conn = rusqlite::Connection::open(f.dir.path().join("data/data.db")).unwrap();
    let mut st = conn.prepare("SELECT leaf FROM audit_log").unwrap();
    let leaves: Vec<Vec<u8>> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(leaves.len(), 6);
    for l in leaves {
        assert!(
            !l.windows(6).any(|w| w == b"ev@x.j"),
            "a value reached the log"
        );
    }
}

fn uuid_like() -> kura_vault::Uuid {
    kura_vault::Uuid::now_v7()
}
