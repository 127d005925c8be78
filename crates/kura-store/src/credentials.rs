//! [`CredentialStore`]: what passwords need from a backend beyond [`Store`] — per-subject
//! login throttling and the forced-reset flag, recovery tokens by hash, and the atomic
//! completion of a recovery.
//!
//! The password hash itself is *not* here: it is a sealed field of the subject (category
//! `credential`), encrypted under the subject's key like any other field, so the store never
//! sees it in clear. What this module holds reveals nothing usable: counters, flags, and
//! keyed hashes of 256-bit tokens (the caller keys them: kura-vault stores HMAC-SHA-256 under a
//! key-provider key of the token's SHA-256). Left out: every rule (delays, lock threshold, token
//! lifetime, issue limits come from `kura-credentials` through the caller) and any hashing.
//!
//! # Invariants
//! - Credential state is changed only by compare-and-set on its `version`
//!   ([`CredentialStore::put_credential_state`]): two servers recording failures for the same
//!   subject never lose a count.
//! - A recovery token is redeemed at most once, even by two servers at the same instant: the
//!   redemption, the new sealed fields (conditional on the subject's version), the removal of
//!   every other token of the subject, the cleared flags and the access-log leaves are one
//!   transaction ([`CredentialStore::complete_recovery`]).
//! - Issuing a token checks the per-subject issue limit and inserts in one transaction that
//!   serializes with other issues for the same subject.
//! - Access-log leaves given to a mutating call are written in its transaction.

use uuid::Uuid;

use crate::{AuditLeaf, SearchHit, Store, StoreError};

/// Throttling and reset state of one subject (or of a login id that matches no subject, keyed
/// by a pseudo-subject id the caller derives). A subject without a row has the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CredentialState {
    /// Row version for compare-and-set; 0 when no row exists yet.
    pub version: i64,
    /// Consecutive failed logins since the last success.
    pub failures: u32,
    /// Unix seconds of the last failed login (0 if none).
    pub last_failure_unix: u64,
    /// Locked after too many failures, until recovery completes.
    pub locked: bool,
    /// The password must be reset through recovery before the next login.
    pub must_reset: bool,
}

/// A recovery token to store: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecoveryToken {
    /// Subject the token recovers.
    pub subject: Uuid,
    /// The subject's collection.
    pub collection: String,
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    /// Unix seconds of issue.
    pub issued_unix: u64,
    /// Unix seconds after which it is refused.
    pub expires_unix: u64,
}

/// A stored recovery token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryTokenRecord {
    /// The token as issued.
    pub token: NewRecoveryToken,
    /// Redeemed already.
    pub used: bool,
}

/// Everything [`CredentialStore::complete_recovery`] writes in one transaction.
#[derive(Debug, Clone)]
pub struct RecoveryCompletion {
    /// SHA-256 of the presented token.
    pub hash: [u8; 32],
    /// Now, in unix seconds (the token must not be expired).
    pub now_unix: u64,
    /// Subject and collection the caller found for the token.
    pub subject: Uuid,
    /// Collection.
    pub collection: String,
    /// The subject version the new fields were computed from.
    pub expected_version: i64,
    /// The subject's new sealed fields (the new password hash sealed in). Blind-index tokens
    /// are not touched: a credential field is never searchable.
    pub fields: Vec<u8>,
}

/// The result of [`CredentialStore::complete_recovery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryOutcome {
    /// Redeemed; the new fields are written, other tokens deleted, flags cleared.
    Completed,
    /// No token with this hash for this subject.
    Invalid,
    /// The token was redeemed already.
    Used,
    /// The token has expired.
    Expired,
    /// The subject changed since the fields were computed (re-read and retry), or is gone.
    Conflict,
}

/// Password-related storage beyond [`Store`]. Implemented by both backends; all methods
/// block, like [`Store`]'s.
pub trait CredentialStore: Store {
    /// The state of `subject`; the default (version 0) when it has none.
    ///
    /// # Errors
    /// Backend failures.
    fn credential_state(&self, subject: &Uuid) -> Result<CredentialState, StoreError>;

    /// Replaces the state of `subject` if its version is still `expected_version` (0: only
    /// if no row exists), writing `audit` in the same transaction. Returns whether it was
    /// written; the new version is `expected_version + 1`.
    ///
    /// # Errors
    /// Backend failures.
    fn put_credential_state(
        &self,
        subject: &Uuid,
        expected_version: i64,
        state: &CredentialState,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// Sets the forced-reset flag of each subject (idempotent), with `audit` in the same
    /// transaction.
    ///
    /// # Errors
    /// Backend failures.
    fn set_must_reset(&self, subjects: &[Uuid], audit: &[AuditLeaf]) -> Result<(), StoreError>;

    /// Subjects of `collection` with ids above `after` (all when `None`), at most `limit`, in
    /// id order: pages for bulk operations that never hold every subject in memory.
    ///
    /// # Errors
    /// Backend failures.
    fn subject_page(
        &self,
        collection: &str,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// Stores a new token if fewer than `max_per_window` tokens were issued to its subject in
    /// the `window_secs` before its issue time, writing `audit` in the same transaction; also
    /// deletes the subject's tokens that expired before the window. Returns whether it was
    /// stored (when not, nothing is written).
    ///
    /// # Errors
    /// Backend failures.
    fn issue_recovery_token(
        &self,
        token: &NewRecoveryToken,
        max_per_window: u32,
        window_secs: u64,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError>;

    /// The token with this hash, if any.
    ///
    /// # Errors
    /// Backend failures.
    fn recovery_token(&self, hash: &[u8; 32]) -> Result<Option<RecoveryTokenRecord>, StoreError>;

    /// Redeems a token and writes the subject's new fields atomically (see the module's
    /// invariants): marks the token used, deletes the subject's other tokens, resets the
    /// throttle (unlocks), clears `must_reset`, and writes `audit` — or changes nothing.
    ///
    /// # Errors
    /// Backend failures.
    fn complete_recovery(
        &self,
        completion: &RecoveryCompletion,
        audit: &[AuditLeaf],
    ) -> Result<RecoveryOutcome, StoreError>;
}

/// Conformance checks of [`CredentialStore`], run per backend by the store's tests.
#[doc(hidden)]
#[allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod conformance {
    use std::sync::Arc;

    use super::*;
    use crate::conformance::sample;

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
}
