//! Conformance checks of [`CredentialStore`], run per backend by the store's tests.

use std::sync::Arc;

use crate::store::sample;
#[allow(unused_imports)]
use kura_store::credentials::*;
#[allow(unused_imports)]
use kura_store::*;

pub fn run_all<S: CredentialStore + 'static>(store: Arc<S>) {
    throttle_cas(&*store);
    recovery_flow(&*store);
    paging_and_reset(&*store);
    erasure_forgets_credentials(&*store);
    concurrent_failures(store);
}

/// Erasing a subject removes its throttle state and recovery tokens with it.
fn erasure_forgets_credentials(store: &dyn CredentialStore) {
    let s = sample(store, "gone", 9);
    let id = s.id;
    store.insert_subjects(&[s], &[]).unwrap();
    let st = CredentialState {
        failures: 3,
        last_failure_unix: 70,
        locked: false,
        must_reset: true,
        version: 0,
    };
    assert!(store.put_credential_state(&id, 0, &st, &[]).unwrap());
    let token = NewRecoveryToken {
        subject: id,
        collection: "gone".into(),
        hash: [0xE5; 32],
        issued_unix: 5000,
        expires_unix: 6800,
    };
    assert!(store.issue_recovery_token(&token, 3, 3600, &[]).unwrap());
    assert!(store.recovery_token(&[0xE5; 32]).unwrap().is_some());
    assert!(store.delete_subject("gone", &id, &[]).unwrap());
    assert_eq!(
        store.credential_state(&id).unwrap(),
        CredentialState::default(),
        "throttle state erased"
    );
    assert!(
        store.recovery_token(&[0xE5; 32]).unwrap().is_none(),
        "recovery tokens erased"
    );
}

fn throttle_cas(store: &dyn CredentialStore) {
    let id = Uuid::now_v7();
    assert_eq!(
        store.credential_state(&id).unwrap(),
        CredentialState::default()
    );
    let s1 = CredentialState {
        failures: 1,
        last_failure_unix: 100,
        ..CredentialState::default()
    };
    let size = store.audit_size().unwrap();
    assert!(
        store
            .put_credential_state(&id, 0, &s1, &[b"a".to_vec()])
            .unwrap()
    );
    assert_eq!(store.audit_size().unwrap(), size + 1);
    // A second insert from version 0 loses and writes nothing.
    assert!(
        !store
            .put_credential_state(&id, 0, &s1, &[b"b".to_vec()])
            .unwrap()
    );
    assert_eq!(store.audit_size().unwrap(), size + 1);
    let got = store.credential_state(&id).unwrap();
    assert_eq!(got, CredentialState { version: 1, ..s1 });
    let s2 = CredentialState {
        failures: 2,
        locked: true,
        ..got
    };
    assert!(store.put_credential_state(&id, 1, &s2, &[]).unwrap());
    assert!(!store.put_credential_state(&id, 1, &s2, &[]).unwrap());
    assert_eq!(store.credential_state(&id).unwrap().version, 2);
    assert!(store.credential_state(&id).unwrap().locked);
}

fn recovery_flow(store: &dyn CredentialStore) {
    let s = sample(store, "creds", 7);
    let id = s.id;
    store.insert_subjects(&[s], &[]).unwrap();
    let version = store.subject("creds", &id).unwrap().unwrap().version;
    // Lock and flag the subject first.
    let st = CredentialState {
        failures: 9,
        last_failure_unix: 50,
        locked: true,
        must_reset: true,
        version: 0,
    };
    assert!(store.put_credential_state(&id, 0, &st, &[]).unwrap());
    let tok = |n: u8, at: u64| NewRecoveryToken {
        subject: id,
        collection: "creds".into(),
        hash: [n; 32],
        issued_unix: at,
        expires_unix: at + 1800,
    };
    assert!(
        store
            .issue_recovery_token(&tok(1, 1000), 2, 3600, &[])
            .unwrap()
    );
    assert!(
        store
            .issue_recovery_token(&tok(2, 1001), 2, 3600, &[])
            .unwrap()
    );
    // The limit: a third within the window is refused.
    assert!(
        !store
            .issue_recovery_token(&tok(3, 1002), 2, 3600, &[])
            .unwrap()
    );
    assert!(store.recovery_token(&[3; 32]).unwrap().is_none());
    let r = store.recovery_token(&[1; 32]).unwrap().unwrap();
    assert_eq!(r.token, tok(1, 1000));
    assert!(!r.used);
    let done = |hash: [u8; 32], now: u64, v: i64| RecoveryCompletion {
        hash,
        now_unix: now,
        subject: id,
        collection: "creds".into(),
        expected_version: v,
        fields: vec![0xEE; 12],
    };
    assert_eq!(
        store
            .complete_recovery(&done([1; 32], 4000, version), &[])
            .unwrap(),
        RecoveryOutcome::Expired
    );
    assert_eq!(
        store
            .complete_recovery(&done([9; 32], 1100, version), &[])
            .unwrap(),
        RecoveryOutcome::Invalid
    );
    assert_eq!(
        store
            .complete_recovery(&done([1; 32], 1100, version + 5), &[])
            .unwrap(),
        RecoveryOutcome::Conflict
    );
    let size = store.audit_size().unwrap();
    assert_eq!(
        store
            .complete_recovery(&done([1; 32], 1100, version), &[b"r".to_vec()])
            .unwrap(),
        RecoveryOutcome::Completed
    );
    assert_eq!(store.audit_size().unwrap(), size + 1);
    let after = store.subject("creds", &id).unwrap().unwrap();
    assert_eq!(after.fields, vec![0xEE; 12]);
    assert_eq!(after.version, version + 1);
    let st = store.credential_state(&id).unwrap();
    assert!(!st.locked && !st.must_reset && st.failures == 0, "{st:?}");
    // Single use, and the other token was revoked.
    assert_eq!(
        store
            .complete_recovery(&done([1; 32], 1101, version + 1), &[])
            .unwrap(),
        RecoveryOutcome::Used
    );
    assert!(store.recovery_token(&[2; 32]).unwrap().is_none());
    assert_eq!(
        store
            .complete_recovery(&done([2; 32], 1101, version + 1), &[])
            .unwrap(),
        RecoveryOutcome::Invalid
    );
    // Outside the window issuing works again; long-expired tokens are cleaned up.
    assert!(
        store
            .issue_recovery_token(&tok(4, 9000), 2, 3600, &[])
            .unwrap()
    );
    assert!(store.recovery_token(&[1; 32]).unwrap().is_none());
}

fn paging_and_reset(store: &dyn CredentialStore) {
    let batch: Vec<_> = (0..5).map(|n| sample(store, "paged", n)).collect();
    let mut ids: Vec<Uuid> = batch.iter().map(|s| s.id).collect();
    store.insert_subjects(&batch, &[]).unwrap();
    ids.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.subject_page("paged", after.as_ref(), 2).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|h| h.id);
        seen.extend(page.iter().map(|h| h.id));
    }
    assert_eq!(seen, ids);
    let size = store.audit_size().unwrap();
    store.set_must_reset(&ids[..3], &[b"f".to_vec()]).unwrap();
    store.set_must_reset(&ids[..3], &[]).unwrap();
    assert_eq!(store.audit_size().unwrap(), size + 1);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(store.credential_state(id).unwrap().must_reset, i < 3);
    }
}

fn concurrent_failures<S: CredentialStore + 'static>(store: Arc<S>) {
    let id = Uuid::now_v7();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    loop {
                        let cur = store.credential_state(&id).unwrap();
                        let next = CredentialState {
                            failures: cur.failures + 1,
                            ..cur
                        };
                        if store
                            .put_credential_state(&id, cur.version, &next, &[])
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.credential_state(&id).unwrap().failures, 40);
}
