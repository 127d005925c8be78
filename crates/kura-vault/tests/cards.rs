//! The card vault over a real SQLite store and a real key file: tokenization, the
//! detokenization matrix (every principal kind × purpose × policy, only the allowed pair
//! succeeds, every refusal is an access event), erasure, the subject record.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_audit::{AccessEvent, Action, Appender, AppenderConfig, Clock, Outcome};
use kura_model::Schema;
use kura_store::sqlite::{Durability, SqliteStore};
use kura_store::{CardStore, DynStore, Store};
use kura_vault::{
    Access, Caller, CardVault, NewCardInput, Policy, PrincipalKind, SubjectInput, Uuid, Vault,
    VaultError, VaultOptions,
};
use zeroize::Zeroizing;

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        // 2027-01-15T08:00:00Z
        1_800_000_000_000
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    vault: Arc<Vault>,
    cards: CardVault,
    store: Arc<SqliteStore>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let id = [6u8; 16];
    let keys = kura_testkit::keys::provider(dir.path(), id);
    let store =
        Arc::new(SqliteStore::create(&dir.path().join("data"), id, Durability::Normal).unwrap());
    let dyn_store: DynStore = store.clone();
    let appender = Arc::new(Appender::start(dyn_store.clone(), AppenderConfig::default()).unwrap());
    let vault = Arc::new(
        Vault::new(
            Schema::builtin(),
            dyn_store,
            keys.clone(),
            VaultOptions::default(),
            appender,
            Arc::new(FixedClock),
        )
        .unwrap(),
    );
    let cards = CardVault::new(vault.clone(), store.clone(), &*keys).unwrap();
    Fixture {
        dir,
        vault,
        cards,
        store,
    }
}

fn operator() -> Access {
    Access::operator("op", "support")
}

fn subject(f: &Fixture, login: &str) -> Uuid {
    f.vault
        .create(
            &operator(),
            "accounts",
            SubjectInput {
                country: "JP".into(),
                locale: "ja".into(),
                fields: [
                    ("login_id".to_owned(), login.to_owned()),
                    ("email".to_owned(), format!("{login}@example.jp")),
                ]
                .into(),
            },
        )
        .unwrap()
}

fn card(subject: Uuid, pan: &str) -> NewCardInput {
    NewCardInput {
        subject,
        pan: Zeroizing::new(pan.to_owned()),
        exp_month: 12,
        exp_year: 2030,
        holder: Some(Zeroizing::new("TARO YAMADA".to_owned())),
    }
}

/// The last access event written.
fn last_event(f: &Fixture) -> AccessEvent {
    let conn = rusqlite::Connection::open(f.dir.path().join("data/data.db")).unwrap();
    let leaf: Vec<u8> = conn
        .query_row(
            "SELECT leaf FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    AccessEvent::from_leaf(&leaf).unwrap()
}

#[test]
fn tokenize_is_stable_per_subject_and_random_across() {
    let f = fixture();
    let (a, b) = (subject(&f, "a"), subject(&f, "b"));
    let op = operator();
    let t1 = f
        .cards
        .tokenize(&op, card(a, "4111 1111 1111 1111"))
        .unwrap();
    assert!(t1.created);
    assert_eq!((t1.brand.as_str(), t1.last4.as_str()), ("visa", "1111"));
    let again = f
        .cards
        .tokenize(&op, card(a, "4111-1111-1111-1111"))
        .unwrap();
    assert_eq!(again.token, t1.token);
    assert!(!again.created);
    let other = f.cards.tokenize(&op, card(b, "4111111111111111")).unwrap();
    assert_ne!(other.token, t1.token);
    let second = f.cards.tokenize(&op, card(a, "5555555555554444")).unwrap();
    assert_ne!(second.token, t1.token);
    assert_eq!(f.store.count_cards().unwrap(), (3, 3));
    for t in [&t1.token, &other.token, &second.token] {
        assert!(t.starts_with("ct_") && t.len() == 29);
        assert!(!t.contains("4111") && !t.contains("1111"));
    }
    let ev = last_event(&f);
    assert_eq!(ev.action, Action::CardTokenize);
    assert_eq!(ev.outcome, Outcome::Ok);
    assert_eq!(ev.fields, ["payment_cards"]);

    // The record shows the tokens as its payment_card field, never a number.
    let view = f.vault.read(&op, "accounts", &a, None).unwrap();
    let mut want = [t1.token.clone(), second.token.clone()];
    want.sort();
    assert_eq!(view.fields["payment_cards"].as_str(), want.join(","));
    let only = f
        .vault
        .read(&op, "accounts", &a, Some(&["email".to_owned()]))
        .unwrap();
    assert!(!only.fields.contains_key("payment_cards"));
}

#[test]
fn bad_cards_store_nothing_and_are_recorded() {
    let f = fixture();
    let a = subject(&f, "a");
    let op = operator();
    let size = || f.vault.store().audit_size().unwrap();
    let cases: [(NewCardInput, &str); 7] = [
        (card(a, "4111111111111112"), "invalid_pan_checksum"),
        (card(a, "41111111111"), "invalid_pan_length"),
        (card(a, "4111x11111111111"), "invalid_pan"),
        (
            NewCardInput {
                exp_year: 2026,
                ..card(a, "4111111111111111")
            },
            "card_expired",
        ),
        (
            NewCardInput {
                exp_month: 13,
                ..card(a, "4111111111111111")
            },
            "invalid_expiry",
        ),
        (
            NewCardInput {
                holder: Some(Zeroizing::new("a\nb".into())),
                ..card(a, "4111111111111111")
            },
            "invalid_holder",
        ),
        (
            card(Uuid::now_v7(), "4111111111111111"),
            "subject_not_found",
        ),
    ];
    for (input, code) in cases {
        let before = size();
        let e = f.cards.tokenize(&op, input).unwrap_err();
        assert_eq!(e.code(), code);
        assert!(!e.to_string().chars().any(|c| c.is_ascii_digit()) || code == "subject_not_found");
        assert_eq!(size(), before + 1, "{code}: one event");
        let ev = last_event(&f);
        assert_eq!(ev.outcome, Outcome::Error(code.to_owned()));
        assert_eq!(f.store.count_cards().unwrap(), (0, 0), "{code}");
    }
    let e = f.cards.refuse_security_code(&op);
    assert_eq!(e.code(), "security_code_not_accepted");
    assert_eq!(
        last_event(&f).outcome,
        Outcome::Error("security_code_not_accepted".into())
    );
    // Card tokens are never written through the subject routes.
    let mut ch = std::collections::BTreeMap::new();
    ch.insert("payment_cards".to_owned(), Some("ct_x".to_owned()));
    assert_eq!(
        f.vault.patch(&op, "accounts", &a, &ch).unwrap_err().code(),
        "invalid_value"
    );
}

const DETOKENIZE_CHARGE: &str = r#"{"collection":"accounts","purposes":["charge"],"actions":["detokenize"],"fields":{"payment_cards":"plain"}}"#;
const READ_WRITE_CHARGE: &str = r#"{"collection":"accounts","purposes":["charge","billing"],"actions":["read","write","delete"],"fields":{"payment_cards":"plain"}}"#;
const DETOKENIZE_BILLING: &str = r#"{"collection":"accounts","purposes":["billing"],"actions":["detokenize"],"fields":{"payment_cards":"plain"}}"#;
const DETOKENIZE_NO_CARD_FIELD: &str = r#"{"collection":"accounts","purposes":["charge"],"actions":["detokenize"],"fields":{"name":"plain"}}"#;

#[test]
fn detokenization_is_denied_for_every_principal_and_purpose_but_the_allowed_pair() {
    let f = fixture();
    let holder = subject(&f, "holder");
    let pan = "378282246310005";
    let token = f
        .cards
        .tokenize(&operator(), card(holder, pan))
        .unwrap()
        .token;
    let schema = Schema::builtin();
    let policies: [(&str, Vec<&str>); 6] = [
        ("none", vec![]),
        ("detokenize+charge", vec![DETOKENIZE_CHARGE]),
        ("read/write+charge", vec![READ_WRITE_CHARGE]),
        ("detokenize+billing", vec![DETOKENIZE_BILLING]),
        (
            "detokenize, card field denied",
            vec![DETOKENIZE_NO_CARD_FIELD],
        ),
        (
            "all of them",
            vec![READ_WRITE_CHARGE, DETOKENIZE_BILLING, DETOKENIZE_CHARGE],
        ),
    ];
    let kinds = [
        PrincipalKind::Service,
        PrincipalKind::Processor,
        PrincipalKind::SelfService {
            subject: holder.as_u128(),
        },
        PrincipalKind::Operator,
    ];
    let purposes = ["charge", "billing", "support", "refund", "charging"];
    let mut allowed = 0;
    let mut denied = 0;
    for kind in kinds {
        for (pname, docs) in &policies {
            for suspended in [false, true] {
                let ps: Vec<Policy> = docs
                    .iter()
                    .map(|d| Policy::from_json(d, &schema).unwrap())
                    .collect();
                let caller = if kind == PrincipalKind::Operator {
                    Caller::operator()
                } else {
                    Caller::with_policies(kind, ps, suspended)
                };
                for purpose in purposes {
                    let a = Access {
                        principal: format!("p-{}", kind.as_str()),
                        purpose: purpose.to_owned(),
                        request_id: "r".into(),
                        caller: caller.clone(),
                    };
                    let grant = docs.contains(&DETOKENIZE_CHARGE);
                    let expect_ok =
                        matches!(kind, PrincipalKind::Service | PrincipalKind::Processor)
                            && grant
                            && purpose == "charge"
                            && !caller.suspended;
                    let before = f.vault.store().audit_size().unwrap();
                    let got = f.cards.detokenize(&a, &token);
                    let case = format!(
                        "{} / {pname} / {purpose} / suspended={suspended}",
                        kind.as_str()
                    );
                    assert_eq!(
                        f.vault.store().audit_size().unwrap(),
                        before + 1,
                        "{case}: exactly one event"
                    );
                    let ev = last_event(&f);
                    assert_eq!(ev.action, Action::CardDetokenize, "{case}");
                    assert_eq!(ev.purpose, purpose);
                    assert_eq!(ev.fields, ["payment_cards"]);
                    assert_eq!(ev.subjects.len(), 1, "{case}: the subject is recorded");
                    match got {
                        Ok(c) => {
                            assert!(expect_ok, "{case}: allowed but should not be");
                            assert_eq!(c.pan.as_str(), pan);
                            assert_eq!(c.holder.as_ref().unwrap().as_str(), "TARO YAMADA");
                            assert_eq!((c.exp_month, c.exp_year), (12, 2030));
                            assert!(!format!("{c:?}").contains("3782"));
                            assert_eq!(ev.outcome, Outcome::Ok);
                            allowed += 1;
                        }
                        Err(VaultError::Denied(code)) => {
                            assert!(!expect_ok, "{case}: denied ({code}) but should be allowed");
                            assert_eq!(
                                ev.outcome,
                                Outcome::Denied(code.as_str().to_owned()),
                                "{case}"
                            );
                            denied += 1;
                        }
                        Err(other) => panic!("{case}: {other}"),
                    }
                }
            }
        }
    }
    // service and processor × two policy sets holding the grant × unsuspended × `charge`.
    assert_eq!(allowed, 2 * 2);
    assert_eq!(allowed + denied, 4 * 6 * 2 * 5);
    // An operator never detokenizes, whatever the purpose, with the precise code.
    let e = f
        .cards
        .detokenize(&Access::operator("op", "charge"), &token)
        .unwrap_err();
    assert_eq!(e.code(), "detokenize_denied");
    // Operators may tokenize, read metadata and delete for any purpose.
    let m = f
        .cards
        .metadata(&Access::operator("op", "anything"), &token)
        .unwrap();
    assert_eq!((m.brand.as_str(), m.last4.as_str()), ("amex", "0005"));
}

#[test]
fn metadata_and_delete_follow_the_policy() {
    let f = fixture();
    let holder = subject(&f, "holder");
    let token = f
        .cards
        .tokenize(&operator(), card(holder, "6011111111111117"))
        .unwrap()
        .token;
    let schema = Schema::builtin();
    let svc = |docs: &[&str], purpose: &str| Access {
        principal: "svc".into(),
        purpose: purpose.into(),
        request_id: "r".into(),
        caller: Caller::with_policies(
            PrincipalKind::Service,
            docs.iter()
                .map(|d| Policy::from_json(d, &schema).unwrap())
                .collect(),
            false,
        ),
    };
    let reader = svc(&[READ_WRITE_CHARGE], "billing");
    assert_eq!(f.cards.metadata(&reader, &token).unwrap().last4, "1117");
    let detok_only = svc(&[DETOKENIZE_CHARGE], "charge");
    assert_eq!(
        f.cards.metadata(&detok_only, &token).unwrap_err().code(),
        "action_denied"
    );
    assert_eq!(
        f.cards.delete(&detok_only, &token).unwrap_err().code(),
        "action_denied"
    );
    assert_eq!(
        f.cards
            .tokenize(&detok_only, card(holder, "4242424242424242"))
            .unwrap_err()
            .code(),
        "action_denied"
    );
    let other_self = Access {
        caller: Caller::with_policies(
            PrincipalKind::SelfService {
                subject: Uuid::now_v7().as_u128(),
            },
            vec![Policy::from_json(READ_WRITE_CHARGE, &schema).unwrap()],
            false,
        ),
        ..svc(&[], "billing")
    };
    // Someone else's card: as if there were none (issue 13: no liveness oracle).
    assert_eq!(
        f.cards.metadata(&other_self, &token).unwrap_err().code(),
        "card_not_found"
    );
    for bad in [
        "ct_unknown",
        "4111111111111111",
        "",
        "ct_aaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        assert_eq!(
            f.cards.metadata(&operator(), bad).unwrap_err().code(),
            "card_not_found"
        );
    }
    f.cards.delete(&reader, &token).unwrap();
    assert_eq!(last_event(&f).action, Action::CardDelete);
    assert_eq!(
        f.cards.metadata(&operator(), &token).unwrap_err().code(),
        "card_not_found"
    );
    assert_eq!(f.store.count_cards().unwrap(), (0, 0));
    // Deleted means a new token next time.
    let again = f
        .cards
        .tokenize(&operator(), card(holder, "6011111111111117"))
        .unwrap();
    assert!(again.created && again.token != token);
}

#[test]
fn erasing_a_subject_erases_its_cards() {
    let f = fixture();
    let (a, b) = (subject(&f, "a"), subject(&f, "b"));
    let op = operator();
    let ta = f
        .cards
        .tokenize(&op, card(a, "3530111333300000"))
        .unwrap()
        .token;
    let tb = f
        .cards
        .tokenize(&op, card(b, "3530111333300000"))
        .unwrap()
        .token;
    f.vault.delete(&op, "accounts", &a).unwrap();
    assert_eq!(
        f.cards.metadata(&op, &ta).unwrap_err().code(),
        "card_not_found"
    );
    assert_eq!(f.store.card_secret(&ta).unwrap(), None);
    assert_eq!(f.store.count_cards().unwrap(), (1, 1));
    assert_eq!(f.cards.metadata(&op, &tb).unwrap().last4, "0000");
}

#[test]
fn a_moved_sealed_pan_is_an_integrity_error() {
    let f = fixture();
    let a = subject(&f, "a");
    let op = operator();
    let t1 = f
        .cards
        .tokenize(&op, card(a, "4111111111111111"))
        .unwrap()
        .token;
    let t2 = f
        .cards
        .tokenize(&op, card(a, "5555555555554444"))
        .unwrap()
        .token;
    let conn = rusqlite::Connection::open(f.dir.path().join("data/keys.db")).unwrap();
    conn.execute(
        "UPDATE card_keys SET sealed_pan = (SELECT sealed_pan FROM card_keys WHERE token = ?2) WHERE token = ?1",
        [&t1, &t2],
    )
    .unwrap();
    let schema = Schema::builtin();
    let payer = Access {
        principal: "pay".into(),
        purpose: "charge".into(),
        request_id: "r".into(),
        caller: Caller::with_policies(
            PrincipalKind::Service,
            vec![Policy::from_json(DETOKENIZE_CHARGE, &schema).unwrap()],
            false,
        ),
    };
    let e = f.cards.detokenize(&payer, &t1).unwrap_err();
    assert_eq!(e.code(), "integrity_error");
    assert!(!e.to_string().contains("5555555555554444"));
    assert_eq!(
        f.cards.detokenize(&payer, &t2).unwrap().pan.as_str(),
        "5555555555554444"
    );
}

/// Issue 13: a card for a subject whose key has just been shredded (an erasure has deleted
/// the key and not yet the record) is refused with `subject_not_found` and nothing is
/// stored — the record alone is no proof that the subject still exists.
#[test]
fn a_card_for_a_subject_whose_key_was_shredded_is_refused() {
    let f = fixture();
    let a = subject(&f, "a");
    let keys = rusqlite::Connection::open(f.dir.path().join("data/keys.db")).unwrap();
    assert_eq!(
        keys.execute(
            "DELETE FROM data_keys WHERE subject = ?1",
            [a.as_bytes().as_slice()]
        )
        .unwrap(),
        1
    );
    let e = f
        .cards
        .tokenize(&operator(), card(a, "4111111111111111"))
        .unwrap_err();
    assert_eq!(e.code(), "subject_not_found");
    assert_eq!(f.store.count_cards().unwrap(), (0, 0));
    assert!(f.store.card_tokens(&a).unwrap().is_empty());
    let ev = last_event(&f);
    assert_eq!(ev.action, Action::CardTokenize);
    assert_eq!(ev.outcome, Outcome::Error("subject_not_found".into()));
}

/// Issue 13: tokenizations racing the erasure of their subject, many times over. Once the
/// erasure has returned, no card of the subject remains in either store and no token
/// handed out detokenizes, whatever the interleaving.
#[test]
fn tokenize_racing_erasure_leaves_no_card() {
    let f = fixture();
    let schema = Schema::builtin();
    let payer = Access {
        principal: "payments".into(),
        purpose: "charge".into(),
        request_id: "r".into(),
        caller: Caller::with_policies(
            PrincipalKind::Service,
            vec![Policy::from_json(DETOKENIZE_CHARGE, &schema).unwrap()],
            false,
        ),
    };
    let pans = [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "3530111333300000",
        "4012888888881881",
        "5105105105105100",
        "371449635398431",
    ];
    let mut issued = 0;
    for round in 0..30 {
        let s = subject(&f, &format!("r{round}"));
        let tokens = std::thread::scope(|scope| {
            let tokenizers: Vec<_> = pans
                .chunks(4)
                .map(|chunk| {
                    let f = &f;
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .filter_map(|pan| f.cards.tokenize(&operator(), card(s, pan)).ok())
                            .map(|v| v.token)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            match round % 3 {
                1 => std::thread::yield_now(),
                // Let some tokenizations through before the erasure, so the race is real.
                2 => std::thread::sleep(std::time::Duration::from_millis(3)),
                _ => {}
            }
            f.vault.delete(&operator(), "accounts", &s).unwrap();
            tokenizers
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        issued += tokens.len();
        assert!(
            f.store.card_tokens(&s).unwrap().is_empty(),
            "round {round}: a card outlived its subject"
        );
        for t in &tokens {
            assert_eq!(f.store.card(t).unwrap(), None, "round {round}");
            assert_eq!(f.store.card_secret(t).unwrap(), None, "round {round}");
            assert_eq!(
                f.cards.detokenize(&payer, t).unwrap_err().code(),
                "card_not_found",
                "round {round}"
            );
        }
    }
    assert_eq!(f.store.count_cards().unwrap(), (0, 0));
    // The race was real: some tokenizations got through before their erasure.
    assert!(issued > 0);
}
