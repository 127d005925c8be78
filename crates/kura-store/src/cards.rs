//! [`CardStore`]: what the card vault needs from a backend beyond [`Store`].
//!
//! A card is kept in two halves, as subjects are:
//! - **metadata** in the data store (`cards` in `data.db`, `kura_data.cards`): token, subject,
//!   collection, brand, last four digits, expiry. Nothing here is cardholder data beyond what
//!   PCI DSS 3.4.1 allows to be displayed.
//! - **secrets** in the key store (`card_keys` and `card_lookup` in `keys.db`,
//!   `kura_keys.card_keys` and `kura_keys.card_lookup`): the per-card data key wrapped under
//!   the card key-encryption key, the sealed PAN and holder name, and the keyed lookup hash
//!   of subject and whole PAN. The lookup hash never sits next to a truncated PAN (first
//!   six, last four): those are only in the data store.
//!
//! The store never sees a PAN, a holder name or an unwrapped key, only sealed bytes and
//! HMAC outputs. Left out: every cryptographic operation and every rule (who may
//! tokenize or detokenize is the vault's business).
//!
//! # Invariants
//! - One lookup hash maps to at most one token: [`CardStore::insert_card`] checks and
//!   inserts under the key store's write lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL a unique
//!   key), so two concurrent tokenizations of the same card for the same subject get the
//!   same token.
//! - Deleting a card, or erasing its subject ([`Store::delete_subject`]), deletes the card's
//!   key-store row (wrapped key and sealed PAN) first, then its lookup hash and metadata.
//! - No card outlives its subject: [`CardStore::insert_card`] checks the subject's data-key
//!   row in its transaction, serialized with the erasure (which deletes the subject's cards
//!   in its own), so an insert racing an erasure is either erased with it or refused.
//! - Access-log leaves given to a mutating call are written in its data-store transaction.

use uuid::Uuid;

use crate::{AuditLeaf, Store, StoreError};

/// A card to store: the card vault has already sealed every secret.
#[derive(Clone, PartialEq, Eq)]
pub struct NewCard {
    /// The public metadata.
    pub meta: CardMeta,
    /// The secret half.
    pub secret: CardSecret,
    /// Keyed HMAC of subject and whole PAN (never a plain hash).
    pub lookup: [u8; 32],
}

impl std::fmt::Debug for NewCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCard")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// A card's metadata: what may be shown (PCI DSS 3.4.1 allows the last four digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardMeta {
    /// The token, `ct_` + 26 base32 characters.
    pub token: String,
    /// Public id of the subject holding the card.
    pub subject: Uuid,
    /// Internal id of the subject (recorded in access events).
    pub subject_iid: u64,
    /// The subject's collection.
    pub collection: String,
    /// Brand name (`visa`, ...).
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month, 1 to 12.
    pub exp_month: u8,
    /// Expiry year, 2000 to 2099.
    pub exp_year: u16,
    /// Unix seconds of tokenization.
    pub created_unix: u64,
}

/// A card's secret half, as kept in the key store. Everything here is ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct CardSecret {
    /// Version of the card key-encryption key that wrapped `wrapped_key`.
    pub kek_version: u32,
    /// The per-card data key, sealed under the card key-encryption key.
    pub wrapped_key: Vec<u8>,
    /// The PAN, sealed under the per-card data key.
    pub sealed_pan: Vec<u8>,
    /// The holder name, sealed under the per-card data key (empty when none was given).
    pub sealed_holder: Vec<u8>,
}

impl std::fmt::Debug for CardSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardSecret(<sealed>)")
    }
}

/// What [`CardStore::insert_card`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardInsert {
    /// The card was stored under the new token.
    Inserted,
    /// The subject already holds this card: nothing was written; here is its token.
    Existing(String),
    /// The subject has no data key (it never existed, or it is erased or being erased):
    /// nothing was written.
    NoSubject,
}

/// Card storage, implemented by both backends beside [`Store`].
pub trait CardStore: Store {
    /// The token already issued to `subject` for `lookup`, if any.
    ///
    /// # Errors
    /// Backend failures.
    fn card_by_lookup(
        &self,
        subject: &Uuid,
        lookup: &[u8; 32],
    ) -> Result<Option<String>, StoreError>;

    /// Stores a card (key-store half first, then metadata and the access-log leaves), unless
    /// its lookup hash is already present, in which case nothing is written and the existing
    /// token is returned.
    ///
    /// The subject's data-key row is checked in the same transaction, serialized with
    /// [`Store::delete_subject`] (SQLite: both hold the data store's write lock, then the key
    /// store's; PostgreSQL: the insert holds `FOR SHARE` on the key row, which the erasure
    /// locks `FOR UPDATE` before deleting the subject's cards): a card is either inserted
    /// before an erasure, which then deletes it, or refused with
    /// [`CardInsert::NoSubject`]. No card ever outlives its subject.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the token exists; backend failures.
    fn insert_card(&self, card: &NewCard, audit: &[AuditLeaf]) -> Result<CardInsert, StoreError>;

    /// A card's metadata.
    ///
    /// # Errors
    /// Backend failures.
    fn card(&self, token: &str) -> Result<Option<CardMeta>, StoreError>;

    /// A card's sealed secrets. `None` once the card or its subject is erased.
    ///
    /// # Errors
    /// Backend failures.
    fn card_secret(&self, token: &str) -> Result<Option<CardSecret>, StoreError>;

    /// Deletes a card: key-store row first (crypto-shredding), then lookup hash and metadata,
    /// with the access-log leaves. Returns whether the card existed.
    ///
    /// # Errors
    /// Backend failures.
    fn delete_card(&self, token: &str, audit: &[AuditLeaf]) -> Result<bool, StoreError>;

    /// Number of cards: metadata rows and key-store rows (for tests and checks; the two are
    /// equal unless a write was interrupted).
    ///
    /// # Errors
    /// Backend failures.
    fn count_cards(&self) -> Result<(u64, u64), StoreError>;
}

/// The card-store conformance suite, run on each backend by `tests/cards.rs`. Test support
/// compiled into the library (like [`crate::conformance`]); no production logic.
#[doc(hidden)]
#[allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod conformance {
    use std::sync::Arc;

    use super::*;
    use crate::conformance::sample;

    /// A card with recognizable fake sealed bytes for subject `subject`.
    pub fn card(subject: &crate::NewSubject, n: u8) -> NewCard {
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
        assert!(store.subject("accounts", &s.id).unwrap().is_some());
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
}
