//! Passwords over the vault (issue 6): set, login, recovery and forced reset.
//!
//! The password hash is the value of the subject's `credential`-category field, sealed under
//! the subject's own data key like any other field: the stored PHC string is encrypted *and*
//! peppered (the pepper comes from the key provider, never from the store), so a dump of the
//! data store alone cannot be attacked offline, and a dump with the key file still needs the
//! pepper that only the key provider derives. No read, export or search ever returns it
//! (`Vault::read` skips credential fields; create and patch refuse them).
//!
//! [`Credentials`] ties the pieces of `kura-credentials` to the vault and a
//! [`CredentialStore`]:
//! - **login** runs in the same steps whether or not the login id exists: blind-index lookup,
//!   reservation of the attempt (state keyed by the subject, or by a pseudo-subject derived
//!   from the login id's blind-index token, so unknown ids are throttled and locked alike):
//!   the throttle check and the attempt counted as a failure, in one compare-and-set on the
//!   state's version *before* any hashing, so parallel attempts cannot all pass the check;
//!   then one Argon2 verification (against a dummy hash for unknown ids); then the outcome:
//!   a failure only writes its event, a success turns the reservation into a reset — unless
//!   another attempt locked the account meanwhile. The answer for a wrong password and an
//!   unknown id is the same error. At most `lock_after` attempts are ever evaluated between
//!   two successes, however many run at once.
//! - **recovery** never trusts knowledge of personal data: a single-use 256-bit token, valid
//!   30 minutes, mailed to the address on file, stored as HMAC-SHA-256 (key from the key
//!   provider) of its SHA-256, so that a row written into the data store without the key
//!   redeems no token. The request is answered before any lookup happens (the work runs in
//!   the background), so neither the answer nor its timing says whether the account exists.
//!   Mails are filed under the subject's keyed mail tag; erasing the subject purges them.
//! - **forced reset** sets a flag that turns a correct password into `password_reset_required`
//!   until a recovery completes.
//!
//! Every step is recorded in the access log through the vault's events (`password_set`,
//! `password_verify`, `password_reset_force`, `recovery_issue`, `recovery_redeem`); a state
//! change and its event commit in one transaction. Left out: HTTP (kura-server), sessions
//! (kura issues none), and per-IP rate limits (in front of kura).

use std::sync::Arc;

use kura_audit::{AccessEvent, Action, Outcome};
use kura_credentials::recovery::{self, TOKEN_TTL_SECS};
use kura_credentials::{
    ComposedMail, CredentialError, HashPool, Identity, IssueLimit, Password, PasswordPolicy,
    ThrottlePolicy, ThrottleState, password_changed_mail, recovery_mail,
};
use kura_mail::{OutgoingMail, Transport};
use kura_model::{Category, Collection};
use kura_store::{
    CredentialState, CredentialStore, NewRecoveryToken, RecoveryCompletion, RecoveryOutcome,
    StoredSubject, SubjectUpdate, UpdateOutcome,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::vault::Access;
use crate::{Vault, VaultError, codec};

/// Subjects per forced-reset transaction (and per access event).
pub const FORCE_RESET_BATCH: usize = 1000;

/// Most recovery requests worked on in the background at once; beyond, requests are
/// answered alike and dropped (with a log line), so a flood cannot pile up tasks.
pub const MAX_BACKGROUND_RECOVERIES: usize = 64;

/// Compare-and-set attempts before giving up with `contention`.
const CAS_ATTEMPTS: usize = 32;

/// A password operation failed. Every variant has a stable [`code`](PasswordError::code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The vault, the store or the access log failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// A password rule, a verification, a token or the hashing pool refused.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The collection has no field of category `credential`.
    #[error("collection {0} has no credential field")]
    NoCredentialField(String),
    /// The password is right, but must be reset through recovery first.
    #[error("the password must be reset through recovery before the next login")]
    ResetRequired,
}

impl PasswordError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            PasswordError::Vault(e) => e.code(),
            PasswordError::Credential(e) => e.code(),
            PasswordError::NoCredentialField(_) => "no_credential_field",
            PasswordError::ResetRequired => "password_reset_required",
        }
    }
}

impl From<kura_store::StoreError> for PasswordError {
    fn from(e: kura_store::StoreError) -> Self {
        PasswordError::Vault(e.into())
    }
}

impl From<kura_mail::MailError> for PasswordError {
    fn from(e: kura_mail::MailError) -> Self {
        PasswordError::Vault(e.into())
    }
}

impl From<kura_audit::AuditError> for PasswordError {
    fn from(e: kura_audit::AuditError) -> Self {
        PasswordError::Vault(e.into())
    }
}

type Result<T, E = PasswordError> = std::result::Result<T, E>;

/// How a recovery is asked for.
#[derive(Debug, Clone)]
pub enum RecoveryBy {
    /// By login id.
    LoginId(Zeroizing<String>),
    /// By e-mail address.
    Email(Zeroizing<String>),
}

/// Settings of [`Credentials`].
#[derive(Debug, Clone, Default)]
pub struct CredentialsOptions {
    /// Login throttling.
    pub throttle: ThrottlePolicy,
    /// Recovery mails per subject and window.
    pub issue_limit: IssueLimit,
    /// Base of the recovery link in mails (`[mail] recovery_url`).
    pub recovery_url: Option<String>,
}

/// Which fields of a collection play which part.
struct Layout {
    credential: String,
    login: Option<String>,
    email: Option<String>,
}

fn layout(c: &Collection) -> Result<Layout> {
    let first = |cat: Category, searchable: bool| {
        c.fields
            .iter()
            .find(|f| f.category == cat && (f.searchable || !searchable))
            .map(|f| f.name.clone())
    };
    Ok(Layout {
        credential: first(Category::Credential, false)
            .ok_or_else(|| PasswordError::NoCredentialField(c.name.clone()))?,
        login: first(Category::LoginId, true),
        email: first(Category::Email, false),
    })
}

/// A subject with the fields passwords need, opened.
struct Account {
    stored: StoredSubject,
    phc: Option<Zeroizing<String>>,
    login: Option<Zeroizing<String>>,
    email: Option<Zeroizing<String>>,
}

impl Account {
    fn identity(&self) -> Identity<'_> {
        Identity {
            login_id: self.login.as_deref().map(String::as_str),
            email: self.email.as_deref().map(String::as_str),
        }
    }
}

fn open_field(
    vault: &Vault,
    stored: &StoredSubject,
    cipher: &kura_crypto::SubjectCipher,
    sealed: &std::collections::BTreeMap<String, Vec<u8>>,
    name: Option<&str>,
) -> Result<Option<Zeroizing<String>>> {
    match name {
        Some(name) => Ok(vault.open_sealed(stored, cipher, sealed, name)?),
        None => Ok(None),
    }
}

fn account(vault: &Vault, l: &Layout, collection: &str, id: &Uuid) -> Result<Account> {
    let stored = vault.load(collection, id)?;
    let cipher = vault.cipher_for(&stored)?;
    let (sealed, _) = vault.open_row(&stored, &cipher)?;
    let phc = open_field(vault, &stored, &cipher, &sealed, Some(&l.credential))?;
    let login = open_field(vault, &stored, &cipher, &sealed, l.login.as_deref())?;
    let email = open_field(vault, &stored, &cipher, &sealed, l.email.as_deref())?;
    Ok(Account {
        stored,
        phc,
        login,
        email,
    })
}

/// The subject's fields with `field` set to `phc`, sealed with a new manifest, ready for the
/// store; and the epoch to advance the key store to once written.
fn sealed_with(
    vault: &Vault,
    stored: &StoredSubject,
    field: &str,
    phc: &str,
) -> Result<(Vec<u8>, u64)> {
    let cipher = vault.cipher_for(stored)?;
    let (mut sealed, row_epoch) = vault.open_row(stored, &cipher)?;
    let ct = cipher
        .seal(
            &vault.ctx(&stored.collection, stored.id.as_bytes(), field),
            phc.as_bytes(),
        )
        .map_err(VaultError::from)?;
    sealed.insert(field.to_owned(), ct);
    let epoch = Vault::next_epoch(stored, row_epoch);
    vault.seal_row(&stored.collection, &stored.id, &cipher, &mut sealed, epoch)?;
    Ok((codec::encode(&sealed), epoch))
}

/// The throttle key of a login id that matches no subject: a UUIDv8 made from its
/// blind-index token (never a real subject id, which are UUIDv7), so unknown ids are
/// throttled like accounts without revealing anything.
fn pseudo_subject(token: Option<[u8; 16]>) -> Uuid {
    uuid::Builder::from_custom_bytes(token.unwrap_or([0; 16])).into_uuid()
}

fn throttle_of(s: &CredentialState) -> ThrottleState {
    ThrottleState {
        consecutive_failures: s.failures,
        last_failure_unix: s.last_failure_unix,
        locked: s.locked,
    }
}

fn with_throttle(s: &CredentialState, t: &ThrottleState) -> CredentialState {
    CredentialState {
        failures: t.consecutive_failures,
        last_failure_unix: t.last_failure_unix,
        locked: t.locked,
        ..*s
    }
}

fn failed(ev: &AccessEvent, code: &str) -> AccessEvent {
    ev.clone().with_outcome(Outcome::Error(code.to_owned()))
}

/// Sets the forced-reset flag of the given subjects of `collection` (unknown ids are
/// skipped), in batches of [`FORCE_RESET_BATCH`], one transaction and one
/// `password_reset_force` event per batch. Returns how many subjects were flagged.
///
/// # Errors
/// Store and access-log failures; batches already written stay written.
pub fn force_reset(
    vault: &Vault,
    store: &dyn CredentialStore,
    access: &Access,
    collection: &str,
    ids: &[Uuid],
) -> Result<u64> {
    let c = vault.collection(collection)?;
    let l = layout(c)?;
    let mut total = 0;
    for chunk in ids.chunks(FORCE_RESET_BATCH) {
        let mut found = Vec::with_capacity(chunk.len());
        let mut iids = Vec::with_capacity(chunk.len());
        for id in chunk {
            if let Some(s) = store.subject(collection, id)? {
                found.push(s.id);
                iids.push(s.iid);
            }
        }
        total += flag(vault, store, access, collection, &l, &found, iids)?;
    }
    Ok(total)
}

/// Sets the forced-reset flag of every subject of `collection`, a page of
/// [`FORCE_RESET_BATCH`] at a time (never all subjects in memory); `progress` is called with
/// the running total after each page.
///
/// # Errors
/// As [`force_reset`].
pub fn force_reset_all(
    vault: &Vault,
    store: &dyn CredentialStore,
    access: &Access,
    collection: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let c = vault.collection(collection)?;
    let l = layout(c)?;
    let mut after: Option<Uuid> = None;
    let mut total = 0;
    loop {
        let page = store.subject_page(collection, after.as_ref(), FORCE_RESET_BATCH)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let ids: Vec<Uuid> = page.iter().map(|h| h.id).collect();
        total += flag(
            vault,
            store,
            access,
            collection,
            &l,
            &ids,
            page.iter().map(|h| h.iid).collect(),
        )?;
        progress(total);
    }
    Ok(total)
}

fn flag(
    vault: &Vault,
    store: &dyn CredentialStore,
    access: &Access,
    collection: &str,
    l: &Layout,
    ids: &[Uuid],
    iids: Vec<u64>,
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let ev = vault
        .event(access, Action::PasswordResetForce, collection)
        .with_subjects(iids.iter().copied())
        .with_fields([l.credential.as_str()]);
    // Forcing resets changes the subjects: counted like any change (operators are not).
    if let Err(e) = vault.touch(access, &iids) {
        return Err(vault.refused(ev, e).into());
    }
    store.set_must_reset(ids, &vault.leaves(&ev)?)?;
    Ok(ids.len() as u64)
}

/// Passwords, login and recovery over a vault. Cheap to clone; share one per server.
#[derive(Clone)]
pub struct Credentials {
    vault: Arc<Vault>,
    store: Arc<dyn CredentialStore>,
    pool: HashPool,
    policy: Arc<PasswordPolicy>,
    mailer: Arc<dyn Transport>,
    options: CredentialsOptions,
    background: Arc<tokio::sync::Semaphore>,
    /// Where a successful login is recorded as the subject's last use (retention rules).
    activity: Option<Arc<dyn kura_store::RightsStore>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("pool", &self.pool.config())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| PasswordError::Credential(CredentialError::Internal))?
}

impl Credentials {
    /// Ties the pieces together. `store` must be the vault's own store (the same database).
    /// Registers `mailer` with the vault ([`Vault::attach_mail`]): erasing a subject removes
    /// the messages about it that the mailer still holds.
    pub fn new(
        vault: Arc<Vault>,
        store: Arc<dyn CredentialStore>,
        pool: HashPool,
        policy: Arc<PasswordPolicy>,
        mailer: Arc<dyn Transport>,
        options: CredentialsOptions,
    ) -> Self {
        // An erasure must find the messages this mailer still holds about the subject.
        vault.attach_mail(mailer.clone());
        Credentials {
            vault,
            store,
            pool,
            policy,
            mailer,
            options,
            background: Arc::new(tokio::sync::Semaphore::new(MAX_BACKGROUND_RECOVERIES)),
            activity: None,
        }
    }

    /// Records each successful login as the subject's last use of the service in `rights`
    /// (the vault's own store), which retention rules measure inactivity by.
    #[must_use]
    pub fn with_activity(mut self, rights: Arc<dyn kura_store::RightsStore>) -> Self {
        self.activity = Some(rights);
        self
    }

    /// The credential store.
    pub fn store(&self) -> &Arc<dyn CredentialStore> {
        &self.store
    }

    /// The policy check of every password operation, through [`kura_policy::decide`] like
    /// every other route: verifying a login and starting or completing a recovery decide
    /// `authenticate` (they reveal only match / no match, and completion needs the
    /// single-use token); setting a password and forcing resets decide `set_credential`.
    /// Both name the collection's credential field, about `target` when there is one.
    /// Operators are decided like everyone else (the policy crate allows them). A refusal
    /// is recorded as `action` with `denied:<code>`.
    fn gate(
        &self,
        access: &Access,
        action: Action,
        collection: &str,
        target: Option<&Uuid>,
    ) -> Result<()> {
        let v = &self.vault;
        let Ok(c) = v.collection(collection) else {
            // Unknown collection: the operation answers it with its own code.
            return Ok(());
        };
        let decided = match action {
            Action::PasswordSet | Action::PasswordResetForce => kura_policy::Action::SetCredential,
            _ => kura_policy::Action::Authenticate,
        };
        let field = layout(c).ok().map(|l| vec![l.credential]);
        match v.decide(access, decided, collection, field.as_deref(), target) {
            Ok(_) => Ok(()),
            Err(e) => Err(v.refused(v.event(access, action, collection), e).into()),
        }
    }

    async fn gated(
        &self,
        access: &Access,
        action: Action,
        collection: &str,
        target: Option<Uuid>,
    ) -> Result<()> {
        let (me, access, collection) = (self.clone(), access.clone(), collection.to_owned());
        blocking(move || me.gate(&access, action, &collection, target.as_ref())).await
    }

    fn now_unix(&self) -> u64 {
        self.vault.now_ms() / 1000
    }

    /// Sets (or changes) a subject's password after checking it against the policy (length,
    /// breached list, login id and e-mail on file). Does not clear a forced reset: only a
    /// completed recovery does. Notifies the address on file when a password is changed.
    ///
    /// # Errors
    /// `password_too_short`, `password_too_long`, `password_breached`,
    /// `password_contains_identity`; `busy`; vault errors (`subject_not_found`, ...).
    pub async fn set_password(
        &self,
        access: Access,
        collection: String,
        id: Uuid,
        password: Password,
    ) -> Result<()> {
        self.gated(&access, Action::PasswordSet, &collection, Some(id))
            .await?;
        let me = self.clone();
        let coll = collection.clone();
        let (ev, acct_email, locale, had, password) = blocking(move || {
            let v = &me.vault;
            let base = v.event(&access, Action::PasswordSet, &collection);
            let prepared = (|| {
                let c = v.collection(&collection)?;
                let l = layout(c)?;
                let acct = account(v, &l, &collection, &id)?;
                let ev = base
                    .clone()
                    .with_subjects([acct.stored.iid])
                    .with_fields([l.credential.as_str()]);
                // Setting a subject's password is changing that subject: it counts
                // against the caller's quota (a stolen login-service key sets at most
                // its quota of passwords), and a canary trips it.
                if let Err(e) = v.touch(&access, &[acct.stored.iid]) {
                    return Err(v.refused(ev, e).into());
                }
                if let Err(e) = me.policy.check(&password, acct.identity()) {
                    v.append(&failed(&ev, e.code()))?;
                    return Err(e.into());
                }
                Ok((
                    ev,
                    acct.email.clone(),
                    acct.stored.locale.clone(),
                    acct.phc.is_some(),
                ))
            })();
            match prepared {
                Ok((ev, email, locale, had)) => Ok((ev, email, locale, had, password)),
                Err(PasswordError::Credential(e)) => Err(e.into()),
                Err(e) => {
                    v.append(&failed(&base, e.code()))?;
                    Err(e)
                }
            }
        })
        .await?;
        let phc = Zeroizing::new(self.pool.hash(password).await?);
        let me = self.clone();
        let c = coll.clone();
        blocking(move || me.write_hash(&c, &id, &phc, &ev)).await?;
        if had && let Some(to) = acct_email {
            self.notify_changed(coll, id, locale, to);
        }
        Ok(())
    }

    /// Writes a new hash into the subject's credential field (retrying on concurrent
    /// changes), with `ev` in the same transaction.
    fn write_hash(&self, collection: &str, id: &Uuid, phc: &str, ev: &AccessEvent) -> Result<()> {
        let v = &self.vault;
        let l = layout(v.collection(collection)?)?;
        for _ in 0..CAS_ATTEMPTS {
            let stored = v.load(collection, id)?;
            let (fields, epoch) = sealed_with(v, &stored, &l.credential, phc)?;
            let update = SubjectUpdate {
                collection: collection.to_owned(),
                id: *id,
                expected_version: stored.version,
                fields,
                tokens: stored.tokens.clone(),
            };
            match v.store().update_subject(&update, &v.leaves(ev)?)? {
                UpdateOutcome::Updated(_) => {
                    v.advance_epoch(id, epoch);
                    return Ok(());
                }
                UpdateOutcome::NotFound => {
                    return Err(VaultError::NotFound(id.to_string()).into());
                }
                UpdateOutcome::Conflict => continue,
            }
        }
        Err(VaultError::Contention(id.to_string()).into())
    }

    /// Verifies a login. Returns the subject id.
    ///
    /// The steps and their cost are the same whether or not `login_id` exists; the error for
    /// an unknown id is the one for a wrong password. A correct password of a subject under
    /// forced reset answers `password_reset_required`. A success rehashes the password when
    /// the configured parameters rose (or the pepper rotated).
    ///
    /// # Errors
    /// `invalid_credentials`, `login_throttled`, `account_locked`, `password_reset_required`,
    /// `busy` (hashing pool saturated, answered at once), vault errors.
    pub async fn login(
        &self,
        access: Access,
        collection: String,
        login_id: Zeroizing<String>,
        password: Password,
    ) -> Result<Uuid> {
        self.gated(&access, Action::PasswordVerify, &collection, None)
            .await?;
        let now = self.now_unix();
        let me = self.clone();
        // Step 1: resolve the login id and reserve the attempt (throttle check and count in
        // one compare-and-set), before any hashing.
        let target =
            blocking(move || me.resolve_login(&access, &collection, &login_id, now)).await?;
        // Step 2: one Argon2 verification, against the dummy hash for unknown ids.
        let verified = self
            .pool
            .verify(
                Password::new(password.expose_raw().to_owned()),
                target.phc.as_ref().map(|p| p.to_string()),
            )
            .await;
        let me = self.clone();
        match verified {
            Err(CredentialError::Busy) => {
                // Not evaluated: give the reservation back (no event, as before: answered at
                // once without any work on the password).
                let _ = blocking(move || me.release(&target, None)).await;
                Err(CredentialError::Busy.into())
            }
            Err(CredentialError::InvalidCredentials) => {
                blocking(move || me.record_failure(&target)).await?;
                Err(CredentialError::InvalidCredentials.into())
            }
            Err(e) => {
                let code = e.code();
                blocking(move || me.release(&target, Some(&failed(&target.ev, code)))).await?;
                Err(e.into())
            }
            Ok(v) => {
                let id = target.subject.ok_or(CredentialError::InvalidCredentials)?;
                let rehash = v.needs_rehash;
                let t = target.clone();
                blocking(move || {
                    me.record_success(&t, id)?;
                    if let Some(a) = &me.activity {
                        let now = i64::try_from(me.vault.now_ms()).unwrap_or(i64::MAX);
                        // Not fail-closed: a lost activity stamp at worst makes a retention
                        // run ask this person to reconfirm; it never reveals or erases.
                        if let Err(e) = a.touch_activity(&[(id, now)]) {
                            tracing::warn!(code = e.code(), "login activity not recorded");
                        }
                    }
                    Ok(())
                })
                .await?;
                if rehash {
                    self.rehash(target, id, password).await;
                }
                Ok(id)
            }
        }
    }

    fn resolve_login(
        &self,
        access: &Access,
        collection: &str,
        login_id: &str,
        now: u64,
    ) -> Result<LoginTarget> {
        let v = &self.vault;
        let base = v.event(access, Action::PasswordVerify, collection);
        let c = match v.collection(collection).map_err(PasswordError::from) {
            Ok(c) => c,
            Err(e) => {
                v.append(&failed(&base, e.code()))?;
                return Err(e);
            }
        };
        let l = match layout(c) {
            Ok(l) => l,
            Err(e) => {
                v.append(&failed(&base, e.code()))?;
                return Err(e);
            }
        };
        let ev = base.with_fields([l.credential.as_str()]);
        let token = l
            .login
            .as_deref()
            .and_then(|f| v.blind_token(c, f, login_id));
        let hit = match token {
            Some(t) => v.store().search(collection, &t, 1)?.into_iter().next(),
            None => None,
        };
        let (key, subject, ev, phc) = match hit {
            Some(h) => {
                let acct = account(v, &l, collection, &h.id)?;
                (
                    h.id,
                    Some(h.id),
                    ev.with_subjects([acct.stored.iid]),
                    acct.phc,
                )
            }
            None => (pseudo_subject(token), None, ev, None),
        };
        // Reserve the attempt before any hashing: it counts as a failure until it verifies.
        let (prior, locks) = match self.reserve(&key, now) {
            Ok(r) => r,
            Err(PasswordError::Credential(e)) => {
                v.append(&failed(&ev, e.code()))?;
                return Err(e.into());
            }
            Err(e) => return Err(e),
        };
        Ok(LoginTarget {
            collection: collection.to_owned(),
            key,
            subject,
            ev,
            phc,
            prior,
            locks,
        })
    }

    /// Reserves one login attempt on `key`: checks the throttle and counts the attempt as a
    /// failure ([`ThrottleState::reserve`]) in one compare-and-set on the state's version, so
    /// that attempts running at the same time (here or on other servers) each see those
    /// reserved before them. Returns the state it replaced and whether it locked the account.
    ///
    /// Writes no access event: the attempt's event is written with its outcome.
    ///
    /// # Errors
    /// `account_locked`, `login_throttled` (nothing written); store failures; `contention`.
    fn reserve(&self, key: &Uuid, now: u64) -> Result<(CredentialState, bool)> {
        for _ in 0..CAS_ATTEMPTS {
            let state = self.store.credential_state(key)?;
            let mut th = throttle_of(&state);
            let locks = th.reserve(&self.options.throttle, now)?;
            if self.store.put_credential_state(
                key,
                state.version,
                &with_throttle(&state, &th),
                &[],
            )? {
                return Ok((state, locks));
            }
        }
        Err(VaultError::Contention(key.to_string()).into())
    }

    /// Gives back a reservation whose password was never evaluated (the pool was full, or
    /// the stored hash unusable) or was right under a forced reset, if nothing changed the
    /// state since; otherwise the attempt stays counted (fail closed). `ev`, when given, is
    /// written in the same transaction, or appended on its own.
    fn release(&self, t: &LoginTarget, ev: Option<&AccessEvent>) -> Result<()> {
        let state = self.store.credential_state(&t.key)?;
        let leaves = match ev {
            Some(ev) => self.vault.leaves(ev)?,
            None => Vec::new(),
        };
        let given_back = t.untouched(&state)
            && self.store.put_credential_state(
                &t.key,
                state.version,
                &t.restored(&state),
                &leaves,
            )?;
        if let (false, Some(ev)) = (given_back, ev) {
            self.vault.append(ev)?;
        }
        Ok(())
    }

    /// A wrong password: its reservation already counted it (and locked the account if it
    /// was the `lock_after`-th attempt); only the events remain to be written.
    fn record_failure(&self, t: &LoginTarget) -> Result<()> {
        self.vault.append(&failed(&t.ev, "invalid_credentials"))?;
        if t.locks {
            // The lock is an event of its own.
            self.vault.append(&failed(&t.ev, "account_locked"))?;
        }
        Ok(())
    }

    /// A verified password turns its reservation into a success — unless another attempt
    /// locked the account while this one was being hashed (then `account_locked`), or the
    /// subject must reset its password (then `password_reset_required`, and the reservation
    /// is given back: a right password is no failed guess).
    fn record_success(&self, t: &LoginTarget, id: Uuid) -> Result<()> {
        for _ in 0..CAS_ATTEMPTS {
            let state = self.store.credential_state(&id)?;
            let untouched = t.untouched(&state);
            // Locked by this attempt's own reservation is no lock: the attempt succeeded.
            if state.locked && !(untouched && t.locks) {
                self.vault.append(&failed(&t.ev, "account_locked"))?;
                return Err(CredentialError::AccountLocked.into());
            }
            if state.must_reset {
                self.release(t, Some(&failed(&t.ev, "password_reset_required")))?;
                return Err(PasswordError::ResetRequired);
            }
            let mut th = throttle_of(&state);
            th.unlock();
            let leaves = self.vault.leaves(&t.ev)?;
            if self.store.put_credential_state(
                &id,
                state.version,
                &with_throttle(&state, &th),
                &leaves,
            )? {
                return Ok(());
            }
        }
        Err(VaultError::Contention(id.to_string()).into())
    }

    /// Best effort: a failed rehash leaves the old (still valid) hash and is logged.
    async fn rehash(&self, t: LoginTarget, id: Uuid, password: Password) {
        let phc = match self.pool.hash(password).await {
            Ok(p) => Zeroizing::new(p),
            Err(e) => {
                tracing::warn!(code = e.code(), "password rehash skipped");
                return;
            }
        };
        let me = self.clone();
        let done = blocking(move || {
            // The same request, recorded as the change of the stored hash it caused.
            let mut ev = t.ev.clone();
            ev.action = Action::PasswordSet;
            me.write_hash(&t.collection, &id, &phc, &ev)
        })
        .await;
        if let Err(e) = done {
            tracing::warn!(code = e.code(), "password rehash failed");
        }
    }

    /// The policy check of a recovery request, run before it is accepted (a refusal is an
    /// answer about the caller's grant, not about any subject, so it may be given at once).
    ///
    /// # Errors
    /// [`VaultError::Denied`] through [`PasswordError::Vault`].
    pub async fn authorize_recovery(&self, access: &Access, collection: &str) -> Result<()> {
        self.gated(access, Action::RecoveryIssue, collection, None)
            .await
    }

    /// Starts a recovery and returns at once; the lookup, the token and the mail happen in
    /// the background, so the caller's answer is the same whether or not the account exists
    /// and has an address. A subject gets at most `issue_limit` mails per window.
    pub fn request_recovery(&self, access: Access, collection: String, by: RecoveryBy) {
        let Ok(permit) = self.background.clone().try_acquire_owned() else {
            tracing::warn!("recovery requests saturated; one request dropped");
            return;
        };
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if let Err(e) = me.recover(&access, &collection, &by) {
                tracing::warn!(code = e.code(), "recovery request failed");
            }
        });
    }

    fn recover(&self, access: &Access, collection: &str, by: &RecoveryBy) -> Result<()> {
        let v = &self.vault;
        let now = self.now_unix();
        let base = v.event(access, Action::RecoveryIssue, collection);
        let c = match v.collection(collection).map_err(PasswordError::from) {
            Ok(c) => c,
            Err(e) => {
                v.append(&failed(&base, e.code()))?;
                return Err(e);
            }
        };
        let l = layout(c)?;
        let (field, value) = match by {
            RecoveryBy::LoginId(s) => (l.login.as_deref(), s),
            RecoveryBy::Email(s) => (l.email.as_deref(), s),
        };
        let hit = match field.and_then(|f| v.blind_token(c, f, value)) {
            Some(t) => v.store().search(collection, &t, 1)?.into_iter().next(),
            None => None,
        };
        let Some(hit) = hit else {
            v.append(&failed(&base, "subject_not_found"))?;
            return Ok(());
        };
        let acct = account(v, &l, collection, &hit.id)?;
        let ev = base
            .with_subjects([acct.stored.iid])
            .with_fields([l.credential.as_str()]);
        let Some(to) = acct.email.as_deref() else {
            v.append(&failed(&ev, "no_recovery_channel"))?;
            return Ok(());
        };
        let (token, stored) = recovery::issue(now)?;
        let issued = self.store.issue_recovery_token(
            &NewRecoveryToken {
                subject: hit.id,
                collection: collection.to_owned(),
                hash: v.recovery_token_hash(&stored.hash),
                issued_unix: stored.issued_unix,
                expires_unix: stored.expires_unix,
            },
            self.options.issue_limit.max_per_window,
            self.options.issue_limit.window_secs,
            &v.leaves(&ev)?,
        )?;
        if !issued {
            v.append(&failed(&ev, "recovery_rate_limited"))?;
            return Ok(());
        }
        let mail = recovery_mail(
            &acct.stored.locale,
            to,
            &token,
            self.options.recovery_url.as_deref(),
        );
        self.mailer.send(&self.about(&hit.id, mail))?;
        self.purge_if_erased(collection, &hit.id)?;
        Ok(())
    }

    /// An erasure that ran while a mail about `id` was being written has purged the
    /// transport before the mail was there: look again now that it is, and remove it.
    fn purge_if_erased(&self, collection: &str, id: &Uuid) -> Result<()> {
        if self.vault.store().subject(collection, id)?.is_none() {
            self.vault.purge_mail(id)?;
        }
        Ok(())
    }

    /// Completes a recovery: checks the token, the new password against the policy, then in
    /// one transaction redeems the token, writes the new hash, revokes the subject's other
    /// tokens, unlocks and clears a forced reset. Notifies the address on file.
    ///
    /// # Errors
    /// `recovery_token_invalid`, `recovery_token_used`, `recovery_token_expired`; the
    /// password rules' codes (the token stays valid then); `busy`; vault errors.
    pub async fn complete_recovery(
        &self,
        access: Access,
        collection: String,
        token: Zeroizing<String>,
        new_password: Password,
    ) -> Result<()> {
        self.gated(&access, Action::RecoveryRedeem, &collection, None)
            .await?;
        let now = self.now_unix();
        let me = self.clone();
        let (hash, prep, new_password) = blocking(move || {
            let r = me.prepare_completion(&access, &collection, &token, &new_password, now);
            r.map(|(h, p)| (h, p, new_password))
        })
        .await?;
        let phc = Zeroizing::new(self.pool.hash(new_password).await?);
        let me = self.clone();
        let (collection, subject) = (prep.collection.clone(), prep.subject);
        let (locale, email) = blocking(move || me.finish_completion(hash, &prep, &phc)).await?;
        if let Some(to) = email {
            self.notify_changed(collection, subject, locale, to);
        }
        Ok(())
    }

    fn prepare_completion(
        &self,
        access: &Access,
        collection: &str,
        token: &str,
        password: &Password,
        now: u64,
    ) -> Result<([u8; 32], Completion)> {
        let v = &self.vault;
        let base = v.event(access, Action::RecoveryRedeem, collection);
        let refuse = |ev: &AccessEvent, e: PasswordError| -> PasswordError {
            match v.append(&failed(ev, e.code())) {
                Ok(_) => e,
                Err(a) => a.into(),
            }
        };
        let hash = match recovery::token_hash(token) {
            Ok(h) => v.recovery_token_hash(&h),
            Err(e) => return Err(refuse(&base, e.into())),
        };
        let l = match v
            .collection(collection)
            .map_err(PasswordError::from)
            .and_then(layout)
        {
            Ok(l) => l,
            Err(e) => return Err(refuse(&base, e)),
        };
        let base = base.with_fields([l.credential.as_str()]);
        let rec = match self.store.recovery_token(&hash)? {
            Some(r) if r.token.collection == collection => r,
            _ => return Err(refuse(&base, CredentialError::RecoveryTokenInvalid.into())),
        };
        let acct = match account(v, &l, collection, &rec.token.subject) {
            Ok(a) => a,
            Err(e) => return Err(refuse(&base, e)),
        };
        let ev = base.with_subjects([acct.stored.iid]);
        // A completed recovery changes the subject's password: it counts against the
        // relaying caller's quota like setting one.
        if let Err(e) = v.touch(access, &[acct.stored.iid]) {
            return Err(v.refused(ev, e).into());
        }
        if rec.used {
            return Err(refuse(&ev, CredentialError::RecoveryTokenUsed.into()));
        }
        if now >= rec.token.expires_unix {
            return Err(refuse(&ev, CredentialError::RecoveryTokenExpired.into()));
        }
        if let Err(e) = self.policy.check(password, acct.identity()) {
            return Err(refuse(&ev, e.into()));
        }
        Ok((
            hash,
            Completion {
                collection: collection.to_owned(),
                subject: rec.token.subject,
                credential: l.credential,
                ev,
                now,
            },
        ))
    }

    fn finish_completion(
        &self,
        hash: [u8; 32],
        p: &Completion,
        phc: &str,
    ) -> Result<(String, Option<Zeroizing<String>>)> {
        let v = &self.vault;
        let l = layout(v.collection(&p.collection)?)?;
        for _ in 0..CAS_ATTEMPTS {
            let acct = account(v, &l, &p.collection, &p.subject)?;
            let (fields, epoch) = sealed_with(v, &acct.stored, &p.credential, phc)?;
            let completion = RecoveryCompletion {
                hash,
                now_unix: p.now,
                subject: p.subject,
                collection: p.collection.clone(),
                expected_version: acct.stored.version,
                fields,
            };
            let err: PasswordError = match self
                .store
                .complete_recovery(&completion, &v.leaves(&p.ev)?)?
            {
                RecoveryOutcome::Completed => {
                    v.advance_epoch(&p.subject, epoch);
                    return Ok((acct.stored.locale.clone(), acct.email.clone()));
                }
                RecoveryOutcome::Conflict => continue,
                RecoveryOutcome::Invalid => CredentialError::RecoveryTokenInvalid.into(),
                RecoveryOutcome::Used => CredentialError::RecoveryTokenUsed.into(),
                RecoveryOutcome::Expired => CredentialError::RecoveryTokenExpired.into(),
            };
            v.append(&failed(&p.ev, err.code()))?;
            return Err(err);
        }
        Err(VaultError::Contention(p.subject.to_string()).into())
    }

    /// A composed mail, filed under the subject's mail tag (a keyed hash of its id), so that
    /// its erasure finds the copies a transport still holds.
    fn about(&self, subject: &Uuid, m: ComposedMail) -> OutgoingMail {
        OutgoingMail::new(m.to, m.subject, m.body).about(self.vault.mail_tag(subject))
    }

    /// Sends the "password changed" notice in the background; failures are logged.
    fn notify_changed(
        &self,
        collection: String,
        subject: Uuid,
        locale: String,
        to: Zeroizing<String>,
    ) {
        let me = self.clone();
        let now = self.now_unix();
        tokio::task::spawn_blocking(move || {
            let mail = me.about(&subject, password_changed_mail(&locale, &to, now));
            let sent = me.mailer.send(&mail).map_err(PasswordError::from);
            if let Err(e) = sent.and_then(|()| me.purge_if_erased(&collection, &subject)) {
                tracing::warn!(code = e.code(), "password-changed notice not sent");
            }
        });
    }

    /// Flags subjects for a forced reset; see [`force_reset`].
    ///
    /// # Errors
    /// As [`force_reset`].
    pub async fn force_reset(
        &self,
        access: Access,
        collection: String,
        ids: Vec<Uuid>,
    ) -> Result<u64> {
        self.gated(&access, Action::PasswordResetForce, &collection, None)
            .await?;
        let me = self.clone();
        blocking(move || force_reset(&me.vault, &*me.store, &access, &collection, &ids)).await
    }
}

/// What a login resolved to.
#[derive(Clone)]
struct LoginTarget {
    collection: String,
    /// Throttle key: the subject, or the pseudo-subject of an unknown id.
    key: Uuid,
    subject: Option<Uuid>,
    ev: AccessEvent,
    phc: Option<Zeroizing<String>>,
    /// The state the reservation replaced (its version is the one the reservation moved on).
    prior: CredentialState,
    /// The reservation locked the account (this is the `lock_after`-th attempt).
    locks: bool,
}

impl LoginTarget {
    /// Nothing changed the state since this attempt's reservation.
    fn untouched(&self, now: &CredentialState) -> bool {
        now.version == self.prior.version + 1
    }

    /// `now` with the throttle counters from before the reservation.
    fn restored(&self, now: &CredentialState) -> CredentialState {
        CredentialState {
            failures: self.prior.failures,
            last_failure_unix: self.prior.last_failure_unix,
            locked: self.prior.locked,
            ..*now
        }
    }
}

/// A checked recovery completion, waiting for its hash.
struct Completion {
    collection: String,
    subject: Uuid,
    credential: String,
    ev: AccessEvent,
    now: u64,
}

/// Token lifetime, re-exported for documentation and tests.
pub const RECOVERY_TOKEN_TTL_SECS: u64 = TOKEN_TTL_SECS;
