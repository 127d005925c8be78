//! The card vault (issue 7): payment card numbers kept under their own key hierarchy, shown
//! to services only as random tokens with brand, last four digits and expiry.
//!
//! # Key hierarchy
//! The key provider supplies a **card key-encryption key** ([`KeyPurpose::CardKek`]), apart
//! from the subjects' KEK, and a **card lookup key** ([`KeyPurpose::CardLookup`]). Each card
//! gets its own random 256-bit data key, sealed under the card KEK; the PAN and the holder
//! name are sealed under the card's data key with XChaCha20-Poly1305, with associated data
//! binding vault id, subject id, card id (the token's 128 random bits), field and key
//! version. The sealed values, the wrapped card key and the keyed lookup hash live in the
//! key store (`keys.db` / `kura_keys`); the data store holds only token, subject, brand,
//! last four digits and expiry ([`kura_store::CardStore`]).
//!
//! # Who may do what
//! - Tokenize (`write`), read metadata (`read`), delete (`delete`): operators for any
//!   purpose; other principals as their policy allows on the subject's collection, with the
//!   collection's `payment_card` field not `denied`.
//! - Detokenize: only a service or processor principal whose policy allows the `detokenize`
//!   action on the subject's collection (its `payment_card` field not `denied`) and whose
//!   stated purpose is exactly `charge`. Operators and self-service principals never
//!   detokenize (`detokenize_denied`), nor does anyone for another purpose.
//!
//! # Invariants
//! - No PAN digit beyond the first six and last four appears in any value this module
//!   returns, except [`CardVault::detokenize`]'s; errors and events carry codes, ids and field
//!   names only. Only the last four are ever returned by metadata reads.
//! - Every operation, served or refused, is one access event with the subject's internal id
//!   when known; a change is written in the same transaction as its event, and a read or
//!   detokenization returns only after its event is durable (fail closed).
//! - Input is checked (PAN, expiry, holder, subject) before any key is generated or any byte
//!   is written.
//! - Security codes never reach this module: the server refuses any request that names one
//!   and records the refusal with [`CardVault::refuse_security_code`].

use std::sync::Arc;

use kura_audit::{AccessEvent, Action};
use kura_cards::{CardError, CardToken, Expiry, Pan, lookup_hash};
use kura_crypto::{FieldContext, KeyProvider, KeyPurpose, SecretKey, SubjectCipher, random_array};
use kura_model::{Category, Collection};
use kura_policy::Action as PolicyAction;
use kura_store::{CardInsert, CardMeta, CardSecret, CardStore, NewCard, StoredSubject};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{Access, Vault, VaultError};

/// Version of the card KEK (its HKDF label `kura card kek v1`), bound into every wrapped
/// card key and recorded beside it.
const CARD_KEK_VERSION: u32 = 1;

/// Longest holder name accepted, in characters.
const MAX_HOLDER_CHARS: usize = 200;

/// The one purpose detokenization is ever allowed for (decided by `kura_policy::decide`).
pub use kura_policy::CHARGE_PURPOSE;

/// A card to tokenize, as given by a caller. The PAN text is zeroized on drop.
pub struct NewCardInput {
    /// Public id of the subject holding the card.
    pub subject: Uuid,
    /// The card number as typed (spaces and dashes allowed).
    pub pan: Zeroizing<String>,
    /// Expiry month, 1 to 12.
    pub exp_month: u8,
    /// Expiry year, four digits.
    pub exp_year: u16,
    /// Cardholder name as printed, if given.
    pub holder: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for NewCardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCardInput")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What any caller may see of a card (PCI DSS 3.4.1: at most first six and last four; kura
/// shows only the last four).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardView {
    /// The token.
    pub token: String,
    /// Subject holding the card.
    pub subject: Uuid,
    /// Brand (`visa`, `mastercard`, ...).
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month.
    pub exp_month: u8,
    /// Expiry year.
    pub exp_year: u16,
    /// Whether the call created the card (false: the subject already held it).
    pub created: bool,
}

/// A detokenized card: the full number, only ever for the payment principal. Zeroized on
/// drop; `Debug` shows nothing of it.
pub struct DetokenizedCard {
    /// The full PAN, digits only.
    pub pan: Zeroizing<String>,
    /// Expiry month.
    pub exp_month: u8,
    /// Expiry year.
    pub exp_year: u16,
    /// Holder name, when one was given.
    pub holder: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for DetokenizedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DetokenizedCard(<redacted>)")
    }
}

/// The card vault, over a [`Vault`] (for subjects, policy decisions and the access log) and a
/// [`CardStore`]. Cheap to share behind an `Arc`; all methods take `&self` and block.
pub struct CardVault {
    vault: Arc<Vault>,
    store: Arc<dyn CardStore>,
    kek: SubjectCipher,
    lookup_key: SecretKey,
}

impl std::fmt::Debug for CardVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardVault").finish_non_exhaustive()
    }
}

/// `(year, month)` of a unix time in milliseconds (proleptic Gregorian, UTC).
fn year_month(ms: u64) -> (u16, u8) {
    // Howard Hinnant's civil_from_days.
    let z = (ms / 86_400_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        u16::try_from(year).unwrap_or(u16::MAX),
        u8::try_from(month).unwrap_or(1),
    )
}

fn view_of(meta: &CardMeta, created: bool) -> CardView {
    CardView {
        token: meta.token.clone(),
        subject: meta.subject,
        brand: meta.brand.clone(),
        last4: meta.last4.clone(),
        exp_month: meta.exp_month,
        exp_year: meta.exp_year,
        created,
    }
}

/// The collection's field of category `payment_card` (the first, if several).
fn card_field(c: &Collection) -> Option<&str> {
    c.fields
        .iter()
        .find(|f| f.category == Category::PaymentCard)
        .map(|f| f.name.as_str())
}

impl CardVault {
    /// A card vault over `vault` and `store`, with the card keys derived from `provider`.
    ///
    /// # Errors
    /// [`VaultError::VaultMismatch`] when the provider is another vault's; key derivation
    /// failures.
    pub fn new(
        vault: Arc<Vault>,
        store: Arc<dyn CardStore>,
        provider: &dyn KeyProvider,
    ) -> Result<Self, VaultError> {
        if provider.vault_id() != vault.vault_id() || store.vault_id()? != vault.vault_id() {
            return Err(VaultError::VaultMismatch {
                provider: provider.describe(),
            });
        }
        let kek = provider.derive(KeyPurpose::CardKek)?;
        Ok(CardVault {
            kek: SubjectCipher::new(&kek),
            lookup_key: provider.derive(KeyPurpose::CardLookup)?,
            vault,
            store,
        })
    }

    /// The associated data of one sealed card value.
    fn ctx<'a>(
        vault_id: &'a [u8; 16],
        subject_label: &'a str,
        card_id: &'a [u8; 16],
        field: &'a str,
    ) -> FieldContext<'a> {
        FieldContext {
            vault_id,
            collection: subject_label,
            subject: card_id,
            field,
            key_version: CARD_KEK_VERSION,
        }
    }

    /// Decides a card action for `access` on a card of `subject` in `c`.
    fn authorize(
        &self,
        access: &Access,
        action: PolicyAction,
        c: &Collection,
        subject: &Uuid,
    ) -> Result<(), VaultError> {
        let field = card_field(c).ok_or_else(|| VaultError::NoCardField(c.name.clone()))?;
        // Who may detokenize (a service or processor charging a card) is decided by
        // `kura_policy::decide` with the other rules.
        let fields = [field.to_owned()];
        // Deleting a card is deciding `delete` for the subject: a policy's field modes do not
        // apply to deletions, which name no field.
        let named = (action != PolicyAction::Delete).then_some(&fields[..]);
        self.vault
            .decide(access, action, &c.name, named, Some(subject))?;
        Ok(())
    }

    fn event(&self, access: &Access, action: Action, c: Option<&Collection>) -> AccessEvent {
        let ev = self
            .vault
            .event(access, action, c.map_or("", |c| c.name.as_str()));
        match c.and_then(card_field) {
            Some(f) => ev.with_fields([f]),
            None => ev,
        }
    }

    /// Records a request refused because it carried a card security code (the server finds
    /// it among the body's keys and calls this before anything else), and returns the error
    /// to answer with.
    ///
    /// # Errors
    /// Always: [`VaultError::Card`] with `security_code_not_accepted`, or
    /// [`VaultError::Audit`] when the refusal cannot be recorded.
    pub fn refuse_security_code(&self, access: &Access) -> VaultError {
        let ev = self.event(access, Action::CardTokenize, None);
        self.vault
            .refused(ev, CardError::SecurityCodeNotAccepted.into())
    }

    /// Tokenizes a card for a subject: validates it, decides the caller's `write` grant,
    /// finds the subject, counts it against the caller's quota, then stores the card under
    /// a new random token — or, when the subject already holds the same number (found
    /// through the keyed lookup hash, inside the store's insert), returns that token.
    ///
    /// # Security
    /// - The grant is decided before the subject or the card is looked up: a caller without
    ///   it learns nothing of either (403 for a known and an unknown subject alike). The
    ///   subject is looked up only in collections the caller may tokenize for.
    /// - A known and a new card take the same path (a card key is generated and the card
    ///   sealed either way; the store decides) and give the same answer shape; only
    ///   [`CardView::created`] tells them apart, and the server does not show it.
    /// - A tokenization obtains and changes the subject: it counts against containment like
    ///   every other card operation, so a quota of N subjects tokenizes for at most N.
    ///
    /// # Errors
    /// [`VaultError::Card`] for an invalid number, expiry or holder (nothing is written, no
    /// key is generated); [`VaultError::Denied`] (before any lookup);
    /// [`VaultError::NotFound`] for an unknown or erased subject;
    /// [`VaultError::NoCardField`] when no collection holds cards; store, crypto and audit
    /// failures.
    pub fn tokenize(&self, access: &Access, input: NewCardInput) -> Result<CardView, VaultError> {
        let mut ev = self.event(access, Action::CardTokenize, None);
        self.tokenize_inner(access, &input, &mut ev)
            .map_err(|e| self.vault.refused(ev, e))
    }

    /// Decides `action` on every collection that holds cards, about `subject`, without
    /// looking anything up; returns the collections the caller may act on (at least one), or
    /// the first refusal.
    fn allowed_card_collections(
        &self,
        access: &Access,
        action: PolicyAction,
        subject: &Uuid,
    ) -> Result<Vec<&Collection>, VaultError> {
        let mut allowed = Vec::new();
        let mut refusal = None;
        for c in self
            .vault
            .schema()
            .collections()
            .iter()
            .filter(|c| card_field(c).is_some())
        {
            match self.authorize(access, action, c, subject) {
                Ok(()) => allowed.push(c),
                Err(e) => {
                    refusal.get_or_insert(e);
                }
            }
        }
        match (allowed.is_empty(), refusal) {
            (false, _) => Ok(allowed),
            (true, Some(e)) => Err(e),
            (true, None) => Err(VaultError::NoCardField(
                "(no collection has a payment_card field)".to_owned(),
            )),
        }
    }

    fn tokenize_inner(
        &self,
        access: &Access,
        input: &NewCardInput,
        ev: &mut AccessEvent,
    ) -> Result<CardView, VaultError> {
        // Input first: nothing is looked up, generated or written for bad input.
        let pan = Pan::parse(&input.pan)?;
        let expiry = Expiry::new(
            input.exp_month,
            input.exp_year,
            year_month(self.vault.now_ms()),
        )?;
        if let Some(h) = &input.holder
            && (h.trim().is_empty()
                || h.chars().count() > MAX_HOLDER_CHARS
                || h.chars().any(char::is_control))
        {
            return Err(CardError::InvalidHolder.into());
        }
        // Permission before any lookup (issue 13).
        let allowed = self.allowed_card_collections(access, PolicyAction::Write, &input.subject)?;
        if let [only] = allowed[..] {
            *ev = self.event(access, Action::CardTokenize, Some(only));
        }
        let mut found = None;
        for c in allowed {
            if let Some(stored) = self.vault.store().subject(&c.name, &input.subject)? {
                found = Some((c, stored));
                break;
            }
        }
        let (c, stored) = found.ok_or_else(|| VaultError::NotFound(input.subject.to_string()))?;
        *ev = self
            .event(access, Action::CardTokenize, Some(c))
            .with_subjects([stored.iid]);
        // A card tokenized for a subject counts against the caller's quota, and a canary's
        // card trips containment, as for every other card operation.
        self.vault.touch(access, &[stored.iid])?;

        // From here a known and a new card take the same path: the store's insert finds
        // the lookup hash, under its write lock, and then writes nothing.
        let lookup = lookup_hash(self.lookup_key.expose(), stored.id.as_bytes(), &pan);
        let card_id: [u8; 16] = random_array()?;
        let token = CardToken::from_random(card_id);
        let subject_label = format!("card:{}", stored.id);
        let vault_id = self.vault.vault_id();
        let dek = SecretKey::generate()?;
        let wrapped_key = self.kek.seal(
            &Self::ctx(&vault_id, &subject_label, &card_id, "card_key"),
            dek.expose(),
        )?;
        let cipher = SubjectCipher::new(&dek);
        let sealed_pan = cipher.seal(
            &Self::ctx(&vault_id, &subject_label, &card_id, "pan"),
            pan.expose().as_bytes(),
        )?;
        let sealed_holder = match &input.holder {
            Some(h) => cipher.seal(
                &Self::ctx(&vault_id, &subject_label, &card_id, "holder"),
                h.as_bytes(),
            )?,
            None => Vec::new(),
        };
        let card = NewCard {
            meta: CardMeta {
                token: token.as_str().to_owned(),
                subject: stored.id,
                subject_iid: stored.iid,
                collection: c.name.clone(),
                brand: pan.brand().as_str().to_owned(),
                last4: pan.last4().to_owned(),
                exp_month: expiry.month(),
                exp_year: expiry.year(),
                created_unix: self.vault.now_ms() / 1000,
            },
            secret: CardSecret {
                kek_version: CARD_KEK_VERSION,
                wrapped_key,
                sealed_pan,
                sealed_holder,
            },
            lookup,
        };
        let leaves = self.vault.leaves(ev)?;
        match self.store.insert_card(&card, &leaves)? {
            CardInsert::Inserted => Ok(view_of(&card.meta, true)),
            // The subject was erased since it was looked up: the store refused the card in
            // the transaction that would have stored it, serialized with the erasure.
            CardInsert::NoSubject => Err(VaultError::NotFound(stored.id.to_string())),
            CardInsert::Existing(other) => {
                // A concurrent tokenization of the same card won; its token is the answer.
                let existing = self.existing(&other)?;
                self.vault.append(ev)?;
                Ok(view_of(&existing, false))
            }
        }
    }

    /// The card already held for the same number. Its stored expiry and holder stay as they
    /// are (a renewed card with the same number is re-tokenized by deleting the old token
    /// first); the answer reports what is stored.
    fn existing(&self, token: &str) -> Result<CardMeta, VaultError> {
        // `None`: the lookup row outlived its card (an interrupted deletion).
        self.store.card(token)?.ok_or(VaultError::CardNotFound)
    }

    /// Loads a card's metadata and its subject's collection.
    fn load(&self, token: &str) -> Result<(CardMeta, &Collection), VaultError> {
        let parsed = CardToken::parse(token).ok_or(VaultError::CardNotFound)?;
        let meta = self
            .store
            .card(parsed.as_str())?
            .ok_or(VaultError::CardNotFound)?;
        let c = self.vault.collection(&meta.collection)?;
        Ok((meta, c))
    }

    /// Runs `f` on a card's metadata after deciding `action`, recording one event.
    fn with_card<T>(
        &self,
        access: &Access,
        token: &str,
        event: Action,
        action: PolicyAction,
        f: impl FnOnce(&CardMeta, &AccessEvent) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let mut ev = self.event(access, event, None);
        let out = (|| {
            // Permission before the lookup (issue 13): a caller that may not do `action` on
            // any card learns nothing about whether a token is live.
            let own = match access.caller.kind {
                kura_policy::PrincipalKind::SelfService { subject } => {
                    Some(Uuid::from_u128(subject))
                }
                _ => None,
            };
            let allowed =
                self.allowed_card_collections(access, action, &own.unwrap_or(Uuid::nil()));
            if let Err(refusal) = allowed {
                // The record still names the card's subject and field when the token is
                // live (the log must say whom a refused caller reached for); the answer is
                // the refusal either way.
                if let Ok((meta, c)) = self.load(token) {
                    ev = self
                        .event(access, event, Some(c))
                        .with_subjects([meta.subject_iid]);
                }
                return Err(match refusal {
                    // No collection holds cards: there is no such card.
                    VaultError::NoCardField(_) => VaultError::CardNotFound,
                    e => e,
                });
            }
            let (meta, c) = self.load(token)?;
            // A self-service principal asking for someone else's card learns only that it
            // has no such card.
            if own.is_some_and(|o| o != meta.subject) {
                return Err(VaultError::CardNotFound);
            }
            ev = self
                .event(access, event, Some(c))
                .with_subjects([meta.subject_iid]);
            self.authorize(access, action, c, &meta.subject)?;
            // A card is its subject's data: it counts against the caller's quota, and a
            // canary's card trips containment like the canary itself.
            self.vault.touch(access, &[meta.subject_iid])?;
            f(&meta, &ev)
        })();
        out.map_err(|e| self.vault.refused(ev, e))
    }

    /// A card's metadata: brand, last four digits, expiry.
    ///
    /// # Errors
    /// [`VaultError::CardNotFound`], [`VaultError::Denied`], audit failures.
    pub fn metadata(&self, access: &Access, token: &str) -> Result<CardView, VaultError> {
        self.with_card(
            access,
            token,
            Action::CardRead,
            PolicyAction::Read,
            |meta, ev| {
                self.vault.append(ev)?;
                Ok(view_of(meta, false))
            },
        )
    }

    /// The full card number, for a service or processor charging the card (see the module
    /// docs for the rule). Returned only after the access event is durable.
    ///
    /// # Errors
    /// [`VaultError::CardNotFound`], [`VaultError::Denied`] (`detokenize_denied` and the
    /// policy's codes), [`VaultError::Integrity`] when a sealed value fails authentication,
    /// audit failures.
    pub fn detokenize(&self, access: &Access, token: &str) -> Result<DetokenizedCard, VaultError> {
        self.with_card(
            access,
            token,
            Action::CardDetokenize,
            PolicyAction::Detokenize,
            |meta, ev| {
                let card = self.open(meta)?;
                self.vault.append(ev)?;
                Ok(card)
            },
        )
    }

    fn open(&self, meta: &CardMeta) -> Result<DetokenizedCard, VaultError> {
        let secret = self
            .store
            .card_secret(&meta.token)?
            .ok_or(VaultError::CardNotFound)?;
        let card_id = CardToken::parse(&meta.token)
            .ok_or(VaultError::CardNotFound)?
            .id();
        let subject_label = format!("card:{}", meta.subject);
        let vault_id = self.vault.vault_id();
        let integrity = |field: &str| VaultError::Integrity {
            subject: meta.subject.to_string(),
            field: format!("card {} {field}", meta.token),
        };
        if secret.kek_version != CARD_KEK_VERSION {
            return Err(integrity("card_key"));
        }
        let dek = self
            .kek
            .open(
                &Self::ctx(&vault_id, &subject_label, &card_id, "card_key"),
                &secret.wrapped_key,
            )
            .map_err(|_| integrity("card_key"))?;
        let dek = SecretKey::from_slice(&dek).map_err(|_| integrity("card_key"))?;
        let cipher = SubjectCipher::new(&dek);
        let text = |field: &str, sealed: &[u8]| -> Result<Zeroizing<String>, VaultError> {
            let plain = cipher
                .open(
                    &Self::ctx(&vault_id, &subject_label, &card_id, field),
                    sealed,
                )
                .map_err(|_| integrity(field))?;
            let s = std::str::from_utf8(&plain).map_err(|_| integrity(field))?;
            Ok(Zeroizing::new(s.to_owned()))
        };
        let pan = text("pan", &secret.sealed_pan)?;
        let holder = if secret.sealed_holder.is_empty() {
            None
        } else {
            Some(text("holder", &secret.sealed_holder)?)
        };
        Ok(DetokenizedCard {
            pan,
            exp_month: meta.exp_month,
            exp_year: meta.exp_year,
            holder,
        })
    }

    /// Deletes a card: its sealed number and key first, then lookup hash and metadata.
    ///
    /// # Errors
    /// [`VaultError::CardNotFound`], [`VaultError::Denied`], store and audit failures.
    pub fn delete(&self, access: &Access, token: &str) -> Result<(), VaultError> {
        self.with_card(
            access,
            token,
            Action::CardDelete,
            PolicyAction::Delete,
            |meta, ev| {
                let leaves = self.vault.leaves(ev)?;
                if self.store.delete_card(&meta.token, &leaves)? {
                    Ok(())
                } else {
                    Err(VaultError::CardNotFound)
                }
            },
        )
    }
}

impl Vault {
    /// Fills a subject's `payment_card` fields with its card tokens (comma-separated, in
    /// token order) when they are wanted and it holds any. Tokens are not secret and carry
    /// nothing of the card; whether a caller sees them is the policy's field mode for the
    /// field, like any other field.
    pub(crate) fn add_card_tokens(
        &self,
        c: &Collection,
        stored: &StoredSubject,
        wanted: Option<&[String]>,
        out: &mut std::collections::BTreeMap<String, Zeroizing<String>>,
    ) -> Result<(), VaultError> {
        for f in c
            .fields
            .iter()
            .filter(|f| f.category == Category::PaymentCard)
        {
            if wanted.is_some_and(|w| !w.contains(&f.name)) {
                continue;
            }
            let tokens = match &stored.cards {
                Some(t) => t.clone(),
                None => self.store().card_tokens(&stored.id)?,
            };
            if !tokens.is_empty() {
                out.insert(f.name.clone(), Zeroizing::new(tokens.join(",")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_month_of_known_instants() {
        assert_eq!(year_month(0), (1970, 1));
        // 2026-11-23T17:55:29Z
        assert_eq!(year_month(1_795_456_529_000), (2026, 11));
        // 2024-02-29T23:59:59Z and the next second.
        assert_eq!(year_month(1_709_251_199_000), (2024, 2));
        assert_eq!(year_month(1_709_251_200_000), (2024, 3));
        // 2000-12-31T23:59:59Z and the next second.
        assert_eq!(year_month(978_307_199_000), (2000, 12));
        assert_eq!(year_month(978_307_200_000), (2001, 1));
    }
}
