//! The storage conformance suite: every behaviour the vault relies on, written once and run
//! against each backend (`tests/conformance.rs` runs it on SQLite and PostgreSQL).
//!
//! Each function takes a fresh, empty store and panics with a message on the first
//! deviation. This is test support compiled into the library so that every backend's tests
//! can call it; it holds no production logic.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use kura_crypto::WrappedKey;
use uuid::Uuid;

use kura_store::{ApiKeyRecord, NewSubject, Rewrap, Store, SubjectUpdate, UpdateOutcome};

fn token(n: u8, salt: u8) -> [u8; 16] {
    let mut t = [n; 16];
    t[0] = salt;
    t
}

/// A subject with recognizable fake sealed bytes.
pub fn sample(store: &dyn Store, collection: &str, n: u8) -> NewSubject {
    NewSubject {
        id: Uuid::now_v7(),
        iid: store.reserve_iids(1).unwrap(),
        collection: collection.to_owned(),
        country: "JP".to_owned(),
        locale: "ja-JP".to_owned(),
        fields: vec![n; 40],
        tokens: vec![token(n, 1), token(n, 2)],
        wrapped_key: WrappedKey {
            kek_version: 1,
            bytes: vec![n; 72],
        },
    }
}

/// Runs every check in order on one store. The store must be empty.
pub fn run_all(store: Arc<dyn Store>) {
    create_read(&*store);
    patch_and_versions(&*store);
    search_follows_tokens(&*store);
    erasure(&*store);
    import_is_atomic(&*store);
    unicode_metadata(&*store);
    audit_append(&*store);
    api_keys(&*store);
    rewrap(&*store);
    concurrency(store.clone());
}

/// Key rotation's view of the key store: counts per KEK version, pages of keys not yet
/// under the target, and a compare-and-set re-wrap that loses to an erasure.
pub fn rewrap(store: &dyn Store) {
    let base: u64 = store
        .kek_version_counts()
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    let batch: Vec<NewSubject> = (0..5u8).map(|n| sample(store, "rw", 100 + n)).collect();
    store.insert_subjects(&batch, &[]).unwrap();
    let counts = store.kek_version_counts().unwrap();
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), base + 5);
    assert!(counts.iter().all(|(v, _)| *v == 1), "{counts:?}");
    // Paging in id order, resumable from the last id.
    let mut sorted: Vec<Uuid> = batch.iter().map(|s| s.id).collect();
    sorted.sort();
    let all = store.keys_to_rewrap(2, None, 1000).unwrap();
    let ours: Vec<Uuid> = all
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| sorted.contains(id))
        .collect();
    assert_eq!(ours, sorted, "keys come in public-id order");
    let first_two = store.keys_to_rewrap(2, None, 2).unwrap();
    assert_eq!(first_two.len(), 2);
    let rest = store
        .keys_to_rewrap(2, Some(&first_two[1].0), 1000)
        .unwrap();
    assert_eq!(
        first_two.len() + rest.len(),
        all.len(),
        "resuming skips nothing"
    );
    // Compare-and-set.
    let s = &batch[0];
    let new = WrappedKey {
        kek_version: 2,
        bytes: vec![9; 60],
    };
    let stale = WrappedKey {
        kek_version: 1,
        bytes: vec![0; 72],
    };
    let cas = |old: &WrappedKey, id: &Uuid| Rewrap {
        subject: *id,
        old: old.clone(),
        new: new.clone(),
    };
    assert_eq!(
        store
            .rewrap_keys(&[cas(&stale, &s.id), cas(&s.wrapped_key, &s.id)])
            .unwrap(),
        vec![false, true],
        "a stale old key is a no-op, the right one is replaced, in one call"
    );
    assert_eq!(
        store.subject("rw", &s.id).unwrap().unwrap().wrapped_key,
        new
    );
    assert_eq!(
        store.rewrap_keys(&[cas(&s.wrapped_key, &s.id)]).unwrap(),
        vec![false],
        "second time: no-op"
    );
    assert!(
        !store
            .keys_to_rewrap(2, None, 1000)
            .unwrap()
            .iter()
            .any(|(id, _)| *id == s.id),
        "a re-wrapped key is not listed again"
    );
    let counts = store.kek_version_counts().unwrap();
    assert!(counts.contains(&(2, 1)), "{counts:?}");
    // An erased subject's key is not resurrected by a late re-wrap.
    let gone = &batch[1];
    assert!(store.delete_subject("rw", &gone.id, &[]).unwrap());
    assert_eq!(
        store
            .rewrap_keys(&[cas(&gone.wrapped_key, &gone.id)])
            .unwrap(),
        vec![false]
    );
    assert!(store.subject("rw", &gone.id).unwrap().is_none());
}

pub fn create_read(store: &dyn Store) {
    let s = sample(store, "cr", 1);
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    let got = store
        .subject("cr", &s.id)
        .unwrap()
        .expect("inserted subject reads back");
    assert_eq!(got.id, s.id);
    assert_eq!(got.iid, s.iid);
    assert_eq!(got.fields, s.fields);
    assert_eq!(got.tokens, s.tokens);
    assert_eq!(got.wrapped_key, s.wrapped_key);
    assert_eq!(got.version, 1);
    assert_eq!((got.country.as_str(), got.locale.as_str()), ("JP", "ja-JP"));
    assert!(
        store.subject("other", &s.id).unwrap().is_none(),
        "collections are separate"
    );
    assert!(store.subject("cr", &Uuid::now_v7()).unwrap().is_none());
    assert_eq!(store.count_subjects("cr").unwrap(), 1);
    let dup = NewSubject {
        iid: store.reserve_iids(1).unwrap(),
        ..s.clone()
    };
    assert!(
        store.insert_subjects(&[dup], &[]).is_err(),
        "duplicate id refused"
    );
    assert_eq!(store.count_subjects("cr").unwrap(), 1);
}

pub fn patch_and_versions(store: &dyn Store) {
    let s = sample(store, "pv", 2);
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    let upd = SubjectUpdate {
        collection: "pv".into(),
        id: s.id,
        expected_version: 1,
        fields: vec![9; 50],
        tokens: vec![token(2, 1), token(9, 3)],
    };
    assert_eq!(
        store.update_subject(&upd, &[]).unwrap(),
        UpdateOutcome::Updated(2)
    );
    assert_eq!(
        store.update_subject(&upd, &[]).unwrap(),
        UpdateOutcome::Conflict
    );
    let got = store.subject("pv", &s.id).unwrap().unwrap();
    assert_eq!(got.fields, vec![9; 50]);
    assert_eq!(got.version, 2);
    let missing = SubjectUpdate {
        id: Uuid::now_v7(),
        ..upd.clone()
    };
    assert_eq!(
        store.update_subject(&missing, &[]).unwrap(),
        UpdateOutcome::NotFound
    );
    let wrong_coll = SubjectUpdate {
        collection: "zz".into(),
        expected_version: 2,
        ..upd
    };
    assert_eq!(
        store.update_subject(&wrong_coll, &[]).unwrap(),
        UpdateOutcome::NotFound
    );
}

pub fn search_follows_tokens(store: &dyn Store) {
    let a = sample(store, "se", 3);
    let mut b = sample(store, "se", 4);
    b.tokens = vec![token(3, 1)]; // shares a token with `a`
    store.insert_subjects(&[a.clone(), b.clone()], &[]).unwrap();
    let ids = |hits: Vec<kura_store::SearchHit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();
    let hits = ids(store.search("se", &token(3, 1), 10).unwrap());
    assert_eq!(hits.len(), 2);
    assert!(hits.contains(&a.id) && hits.contains(&b.id));
    assert_eq!(
        store.search("se", &token(3, 1), 1).unwrap().len(),
        1,
        "limit holds"
    );
    assert_eq!(
        ids(store.search("se", &token(3, 2), 10).unwrap()),
        vec![a.id]
    );
    assert!(store.search("other", &token(3, 1), 10).unwrap().is_empty());
    let upd = SubjectUpdate {
        collection: "se".into(),
        id: a.id,
        expected_version: 1,
        fields: a.fields.clone(),
        tokens: vec![token(7, 7)],
    };
    store.update_subject(&upd, &[]).unwrap();
    assert_eq!(
        ids(store.search("se", &token(3, 1), 10).unwrap()),
        vec![b.id]
    );
    assert!(store.search("se", &token(3, 2), 10).unwrap().is_empty());
    assert_eq!(
        ids(store.search("se", &token(7, 7), 10).unwrap()),
        vec![a.id]
    );
}

pub fn erasure(store: &dyn Store) {
    let s = sample(store, "er", 5);
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    assert!(
        !store.delete_subject("other", &s.id, &[]).unwrap(),
        "wrong collection: no-op"
    );
    assert!(store.subject("er", &s.id).unwrap().is_some());
    let before = store.audit_size().unwrap();
    assert!(
        store
            .delete_subject("er", &s.id, &[b"erase".to_vec()])
            .unwrap()
    );
    assert_eq!(store.audit_size().unwrap(), before + 1);
    assert!(store.subject("er", &s.id).unwrap().is_none());
    assert!(store.search("er", &token(5, 1), 10).unwrap().is_empty());
    assert_eq!(store.count_subjects("er").unwrap(), 0);
    assert!(
        !store.delete_subject("er", &s.id, &[]).unwrap(),
        "second delete: gone"
    );
}

pub fn import_is_atomic(store: &dyn Store) {
    let batch: Vec<NewSubject> = (0..500u32)
        .map(|i| {
            let mut s = sample(store, "im", (i % 200) as u8);
            s.tokens = vec![token((i % 256) as u8, (i / 256) as u8 + 10)];
            s
        })
        .collect();
    store
        .insert_subjects(&batch, &[b"import".to_vec()])
        .unwrap();
    assert_eq!(store.count_subjects("im").unwrap(), 500);
    let mut iids: Vec<u64> = batch.iter().map(|s| s.iid).collect();
    iids.sort_unstable();
    iids.dedup();
    assert_eq!(iids.len(), 500, "internal ids are unique");
    // A batch with one duplicate id writes nothing.
    let mut bad: Vec<NewSubject> = (0..10).map(|i| sample(store, "im", i)).collect();
    bad[7].id = batch[3].id;
    assert!(store.insert_subjects(&bad, &[]).is_err());
    assert_eq!(store.count_subjects("im").unwrap(), 500);
    assert!(store.subject("im", &bad[0].id).unwrap().is_none());
}

pub fn unicode_metadata(store: &dyn Store) {
    let mut s = sample(store, "uni", 6);
    s.locale = "de-DE".into();
    s.country = "DE".into();
    s.fields = "Müller 山田 🎮".as_bytes().to_vec();
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    let got = store.subject("uni", &s.id).unwrap().unwrap();
    assert_eq!(got.fields, s.fields);
    assert_eq!(got.locale, "de-DE");
}

pub fn audit_append(store: &dyn Store) {
    let n0 = store.audit_size().unwrap();
    let first = store.append_audit(&[b"a".to_vec(), b"b".to_vec()]).unwrap();
    assert_eq!(first, n0);
    assert_eq!(store.audit_size().unwrap(), n0 + 2);
    let s = sample(store, "au", 8);
    store.insert_subjects(&[s], &[b"c".to_vec()]).unwrap();
    assert_eq!(store.audit_size().unwrap(), n0 + 3);
}

pub fn api_keys(store: &dyn Store) {
    let rec = ApiKeyRecord {
        prefix: "kura_abc".into(),
        hash: [4; 32],
        principal: "operator".into(),
        kind: kura_model::PrincipalType::Operator,
        created_at: 1_700_000_000,
        revoked_at: None,
    };
    store.insert_api_key(&rec).unwrap();
    assert_eq!(store.api_key("kura_abc").unwrap(), Some(rec.clone()));
    assert!(store.api_key("kura_zzz").unwrap().is_none());
    assert!(store.insert_api_key(&rec).is_err());
}

/// Many threads update one subject with optimistic retries; no update may be lost, and
/// concurrent id reservations never overlap.
pub fn concurrency(store: Arc<dyn Store>) {
    let s = sample(&*store, "cc", 10);
    store
        .insert_subjects(std::slice::from_ref(&s), &[])
        .unwrap();
    let threads = 8;
    let per = 25;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let id = s.id;
            std::thread::spawn(move || {
                let mut reserved = Vec::new();
                for _ in 0..per {
                    reserved.push(store.reserve_iids(3).unwrap());
                    loop {
                        let cur = store.subject("cc", &id).unwrap().unwrap();
                        let mut fields = cur.fields.clone();
                        fields.push(t as u8);
                        let upd = SubjectUpdate {
                            collection: "cc".into(),
                            id,
                            expected_version: cur.version,
                            fields,
                            tokens: cur.tokens.clone(),
                        };
                        match store.update_subject(&upd, &[vec![t as u8]]).unwrap() {
                            UpdateOutcome::Updated(_) => break,
                            UpdateOutcome::Conflict => continue,
                            UpdateOutcome::NotFound => panic!("subject vanished"),
                        }
                    }
                }
                reserved
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }
    let got = store.subject("cc", &s.id).unwrap().unwrap();
    assert_eq!(got.version, 1 + (threads * per) as i64, "no lost update");
    assert_eq!(got.fields.len(), 40 + threads * per);
    all.sort_unstable();
    for w in all.windows(2) {
        assert!(
            w[1] >= w[0] + 3,
            "reservations overlap: {} and {}",
            w[0],
            w[1]
        );
    }
}
