//! The card-store conformance suite, run on each backend by `tests/cards.rs`. Test support
//! kept in this dev-only crate; no production logic.

use std::sync::Arc;

use crate::store::sample;
#[allow(unused_imports)]
use kura_store::cards::*;
#[allow(unused_imports)]
use kura_store::*;

/// A card with recognizable fake sealed bytes for subject `subject`.
pub fn card(subject: &kura_store::NewSubject, n: u8) -> NewCard {
    NewCard {
        meta: CardMeta {
            token: format!("ct_{}", char::from(b'a' + n % 26).to_string().repeat(26)),
            subject: subject.id,
            subject_iid: subject.iid,
            collection: subject.collection.clone(),
            brand: "visa".into(),
            last4: "1111".into(),
            exp_month: 12,
            exp_year: 2030,
            created_unix: 1_800_000_000,
        },
        secret: CardSecret {
            kek_version: 1,
            wrapped_key: vec![n; 57],
            sealed_pan: vec![n; 57],
            sealed_holder: vec![n; 48],
        },
        lookup: [n; 32],
    }
}

pub fn run_all<S: CardStore + 'static>(store: Arc<S>) {
    insert_read_delete(&*store);
    same_lookup_gives_existing_token(&*store);
    erasure_shreds_cards(&*store);
    card_for_erased_subject_is_refused(&*store);
    concurrent_same_card(store.clone());
    insert_racing_erasure_leaves_no_card(store);
}

/// Issue 13: a card for a subject whose key is gone (erased, never created) is refused
/// and nothing is stored.
pub fn card_for_erased_subject_is_refused(store: &dyn CardStore) {
    let s = sample(store, "accounts", 9);
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    assert!(store.delete_subject("accounts", &s.id, &[]).unwrap());
    let c = card(&s, 9);
    let before = (store.count_cards().unwrap(), store.audit_size().unwrap());
    assert_eq!(
        store.insert_card(&c, &[b"leaf".to_vec()]).unwrap(),
        CardInsert::NoSubject
    );
    assert_eq!(
        (store.count_cards().unwrap(), store.audit_size().unwrap()),
        before,
        "nothing stored"
    );
    assert!(store.card(&c.meta.token).unwrap().is_none());
    assert!(store.card_secret(&c.meta.token).unwrap().is_none());
    assert!(store.card_by_lookup(&s.id, &c.lookup).unwrap().is_none());
    // A subject that never existed: the same.
    let ghost = sample(store, "accounts", 10);
    assert_eq!(
        store.insert_card(&card(&ghost, 10), &[]).unwrap(),
        CardInsert::NoSubject
    );
    assert_eq!(store.count_cards().unwrap(), before.0);
}

/// Issue 13: card inserts racing the subject's erasure, many times over. Whatever the
/// interleaving, once the erasure has returned no card of the subject remains: no
/// metadata, no secret, no lookup hash.
pub fn insert_racing_erasure_leaves_no_card<S: CardStore + 'static>(store: Arc<S>) {
    let before = store.count_cards().unwrap();
    for round in 0..40u8 {
        let s = sample(&*store, "accounts", round);
        store
            .insert_subjects(std::slice::from_ref(&s), &[])
            .unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let inserters: Vec<_> = (0..2u8)
            .map(|t| {
                let (store, s, barrier) = (store.clone(), s.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut tried = Vec::new();
                    for i in 0..6u8 {
                        let mut c = card(&s, 0);
                        let n = t * 6 + i;
                        c.meta.token = format!("ct_{round:02}{n:02}{}", "q".repeat(22));
                        c.lookup = [n; 32];
                        c.lookup[0] = round;
                        c.lookup[1] = 0xee;
                        store.insert_card(&c, &[]).unwrap();
                        tried.push(c);
                    }
                    tried
                })
            })
            .collect();
        barrier.wait();
        if round % 2 == 1 {
            std::thread::yield_now();
        }
        assert!(store.delete_subject("accounts", &s.id, &[]).unwrap());
        let tried: Vec<NewCard> = inserters
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert!(
            store.card_tokens(&s.id).unwrap().is_empty(),
            "round {round}: a card outlived its subject"
        );
        for c in &tried {
            assert!(
                store.card(&c.meta.token).unwrap().is_none(),
                "round {round}"
            );
            assert!(
                store.card_secret(&c.meta.token).unwrap().is_none(),
                "round {round}"
            );
            assert!(
                store.card_by_lookup(&s.id, &c.lookup).unwrap().is_none(),
                "round {round}"
            );
        }
    }
    assert_eq!(store.count_cards().unwrap(), before);
}

pub fn insert_read_delete(store: &dyn CardStore) {
    let s = sample(store, "accounts", 1);
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    let c = card(&s, 1);
    let before = store.audit_size().unwrap();
    assert_eq!(
        store.insert_card(&c, &[b"leaf".to_vec()]).unwrap(),
        CardInsert::Inserted
    );
    assert_eq!(store.audit_size().unwrap(), before + 1, "leaf written");
    assert_eq!(store.card(&c.meta.token).unwrap(), Some(c.meta.clone()));
    assert_eq!(
        store.card_secret(&c.meta.token).unwrap(),
        Some(c.secret.clone())
    );
    assert_eq!(
        store.card_by_lookup(&s.id, &c.lookup).unwrap(),
        Some(c.meta.token.clone())
    );
    // The lookup is per subject: another subject id finds nothing.
    assert_eq!(store.card_by_lookup(&Uuid::nil(), &c.lookup).unwrap(), None);
    assert_eq!(
        store.card_tokens(&s.id).unwrap(),
        vec![c.meta.token.clone()]
    );
    assert_eq!(store.count_cards().unwrap(), (1, 1));
    assert!(store.card("ct_unknown").unwrap().is_none());

    assert!(
        store
            .delete_card(&c.meta.token, &[b"leaf".to_vec()])
            .unwrap()
    );
    assert_eq!(store.audit_size().unwrap(), before + 2);
    assert!(store.card(&c.meta.token).unwrap().is_none());
    assert!(store.card_secret(&c.meta.token).unwrap().is_none());
    assert!(store.card_by_lookup(&s.id, &c.lookup).unwrap().is_none());
    assert!(store.card_tokens(&s.id).unwrap().is_empty());
    assert!(!store.delete_card(&c.meta.token, &[]).unwrap());
    assert_eq!(store.count_cards().unwrap(), (0, 0));
    // The subject itself is untouched.
    assert_eq!(
        store.subject("accounts", &s.id).unwrap().unwrap().cards,
        Some(Vec::new()),
        "no cards: an empty list, not a second query"
    );
}

pub fn same_lookup_gives_existing_token(store: &dyn CardStore) {
    let s = sample(store, "accounts", 2);
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    let first = card(&s, 2);
    store.insert_card(&first, &[]).unwrap();
    let mut again = card(&s, 3);
    again.lookup = first.lookup;
    let before = store.audit_size().unwrap();
    assert_eq!(
        store.insert_card(&again, &[b"leaf".to_vec()]).unwrap(),
        CardInsert::Existing(first.meta.token.clone())
    );
    assert_eq!(store.audit_size().unwrap(), before, "nothing written");
    assert!(store.card(&again.meta.token).unwrap().is_none());
    assert!(store.card_secret(&again.meta.token).unwrap().is_none());
    // A reused token with another lookup is a conflict, and writes nothing.
    let mut dup = card(&s, 4);
    dup.meta.token = first.meta.token.clone();
    assert!(store.insert_card(&dup, &[]).is_err());
    assert!(store.card_by_lookup(&s.id, &dup.lookup).unwrap().is_none());
    assert!(store.delete_card(&first.meta.token, &[]).unwrap());
    assert_eq!(store.count_cards().unwrap(), (0, 0));
}

pub fn erasure_shreds_cards(store: &dyn CardStore) {
    let s = sample(store, "accounts", 5);
    let other = sample(store, "accounts", 6);
    store
        .insert_subjects(&[s.clone(), other.clone()], &[])
        .unwrap();
    let a = card(&s, 5);
    let b = card(&s, 6);
    let keep = card(&other, 7);
    for c in [&a, &b, &keep] {
        store.insert_card(c, &[]).unwrap();
    }
    assert_eq!(store.count_cards().unwrap(), (3, 3));
    assert_eq!(store.card_tokens(&s.id).unwrap().len(), 2);
    // A subject read carries its card tokens, in token order, from the same statement.
    let mut tokens = vec![a.meta.token.clone(), b.meta.token.clone()];
    tokens.sort();
    assert_eq!(
        store.subject("accounts", &s.id).unwrap().unwrap().cards,
        Some(tokens)
    );
    assert_eq!(
        store.subject("accounts", &other.id).unwrap().unwrap().cards,
        Some(vec![keep.meta.token.clone()])
    );
    assert!(store.delete_subject("accounts", &s.id, &[]).unwrap());
    for c in [&a, &b] {
        assert!(store.card(&c.meta.token).unwrap().is_none());
        assert!(store.card_secret(&c.meta.token).unwrap().is_none());
        assert!(store.card_by_lookup(&s.id, &c.lookup).unwrap().is_none());
    }
    assert_eq!(
        store.card(&keep.meta.token).unwrap(),
        Some(keep.meta.clone())
    );
    assert_eq!(store.count_cards().unwrap(), (1, 1));
    assert!(store.delete_subject("accounts", &other.id, &[]).unwrap());
    assert_eq!(store.count_cards().unwrap(), (0, 0));
}

pub fn concurrent_same_card<S: CardStore + 'static>(store: Arc<S>) {
    let s = sample(&*store, "accounts", 8);
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    let handles: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            let s = s.clone();
            std::thread::spawn(move || {
                let mut c = card(&s, 8 + i);
                c.lookup = [0xcc; 32];
                match store.insert_card(&c, &[]).unwrap() {
                    CardInsert::Inserted => c.meta.token,
                    CardInsert::Existing(t) => t,
                    CardInsert::NoSubject => panic!("the subject exists"),
                }
            })
        })
        .collect();
    let tokens: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_eq!(store.count_cards().unwrap(), (1, 1));
    assert!(store.delete_subject("accounts", &s.id, &[]).unwrap());
}
