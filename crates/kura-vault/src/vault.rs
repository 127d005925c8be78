//! The [`Vault`]: create, read, patch, search and erase subjects.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kura_audit::{AccessEvent, Action, Appended, Appender, Clock, Outcome};
use kura_crypto::{
    BlindIndexKey, BlindToken, CryptoError, FieldContext, KeyProvider, KeyPurpose, SecretKey,
    SubjectCipher,
};
use kura_model::{Category, Collection, ModelError, Schema, validate_country, validate_locale};
use kura_store::{AuditLeaf, DynStore, NewSubject, StoredSubject, SubjectUpdate, UpdateOutcome};
use rayon::prelude::*;
use uuid::Uuid;
use zeroize::Zeroizing;

pub use crate::access::Access;
use crate::cache::KeyCache;
use crate::normalize::normalize;
use crate::{VaultError, codec};
use kura_policy::Action as PolicyAction;

/// Version of the per-subject data key bound into every field's associated data. Data keys
/// are not rotated individually (KEK rotation rewraps them without touching fields).
const DEK_VERSION: u32 = 1;

/// Name of the sealed manifest entry of every row (not a valid field name): the row's seal
/// epoch and, per field, its name and the SHA-256 of its ciphertext, sealed under the
/// subject's key. With the key store's epoch it makes an older row put back into the data
/// store, or a row with a field dropped or swapped, fail to open (docs/decisions/0010).
const ROW_MANIFEST: &str = "\u{0}row";

/// The manifest plaintext of `sealed` (its own entry excluded) at `epoch`.
fn manifest(epoch: u64, sealed: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = epoch.to_be_bytes().to_vec();
    for (name, ct) in sealed.iter().filter(|(n, _)| n.as_str() != ROW_MANIFEST) {
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&kura_crypto::sha256(ct));
    }
    out
}

/// Most search hits returned.
pub const MAX_SEARCH_HITS: usize = 1000;

/// Plaintext field values that are zeroized when dropped.
#[derive(Default)]
struct PlainFields(BTreeMap<String, String>);

impl Drop for PlainFields {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for v in self.0.values_mut() {
            v.zeroize();
        }
    }
}

/// Credential fields are written only through `crate::credentials` (hashed, peppered),
/// never as plain field values.
fn refuse_credential(f: &kura_model::FieldDef) -> Result<(), VaultError> {
    if f.category == Category::Credential {
        return Err(ModelError::InvalidValue {
            field: f.name.clone(),
            reason: "is a credential: set it through the password route".to_owned(),
        }
        .into());
    }
    // Card tokens come from the card vault (issue 7), never from a subject write.
    if f.category == Category::PaymentCard {
        return Err(ModelError::InvalidValue {
            field: f.name.clone(),
            reason: "holds card tokens: add cards through the card routes".to_owned(),
        }
        .into());
    }
    Ok(())
}

/// A new subject as given by a caller. Values are plaintext and zeroized on drop.
#[derive(Debug, Clone, Default)]
pub struct SubjectInput {
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// BCP 47 locale.
    pub locale: String,
    /// Field values by name.
    pub fields: BTreeMap<String, String>,
}

impl Drop for SubjectInput {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for v in self.fields.values_mut() {
            v.zeroize();
        }
    }
}

/// A result held back until the access event that records it is durable.
///
/// **Invariant:** the value leaves only through [`Durable::wait`] or [`Durable::durable`],
/// and only once the log has committed the event (a vault without a log releases it at
/// once). If the write fails, the value is dropped and the caller gets the audit error:
/// nothing is shown that the log does not hold (fail closed).
#[must_use = "the value is released only once its access event is durable"]
pub struct Durable<T> {
    value: T,
    ticket: Option<kura_audit::Ticket>,
}

impl<T> std::fmt::Debug for Durable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable")
            .field("pending", &self.ticket.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> Durable<T> {
    /// Blocks until the event is durable, then releases the value.
    ///
    /// # Errors
    /// [`VaultError::Audit`] if the event could not be written.
    pub fn wait(self) -> Result<T, VaultError> {
        if let Some(t) = self.ticket {
            let _durable_at = t.wait()?;
        }
        Ok(self.value)
    }

    /// Awaits the event's durable write without holding a thread, then releases the value.
    ///
    /// # Errors
    /// As [`Durable::wait`].
    pub async fn durable(self) -> Result<T, VaultError> {
        if let Some(t) = self.ticket {
            let _durable_at = t.await?;
        }
        Ok(self.value)
    }
}

/// A subject as returned to a caller: opened field values, zeroized on drop.
pub struct SubjectView {
    /// Public id.
    pub id: Uuid,
    /// Country.
    pub country: String,
    /// Locale.
    pub locale: String,
    /// Opened values of the requested fields that the subject has.
    pub fields: BTreeMap<String, Zeroizing<String>>,
}

impl std::fmt::Debug for SubjectView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectView")
            .field("id", &self.id)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What one [`Vault::rewrap_keys`] step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewrapPage {
    /// Keys listed (not under the target version).
    pub listed: usize,
    /// Keys re-wrapped under the target version.
    pub rewrapped: usize,
    /// Keys that changed or went away while being re-wrapped (left as they are).
    pub raced: usize,
    /// Keys that did not unwrap (left as they are; the old version must not be retired).
    pub unreadable: usize,
    /// The last subject listed: where the next step starts.
    pub last: Option<Uuid>,
}

/// Tuning knobs.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// Bound on cached unwrapped data keys (0 disables the cache).
    pub key_cache_entries: usize,
}

impl Default for VaultOptions {
    fn default() -> Self {
        VaultOptions {
            key_cache_entries: 100_000,
        }
    }
}

/// The vault. Cheap to share behind an `Arc`; all methods take `&self` and block.
pub struct Vault {
    schema: Schema,
    store: DynStore,
    provider: Arc<dyn KeyProvider>,
    vault_id: [u8; 16],
    /// Blind-index keys by collection, then field.
    index_keys: HashMap<String, HashMap<String, BlindIndexKey>>,
    cache: KeyCache,
    pub(crate) audit: Option<AuditHook>,
    pub(crate) containment: Option<crate::contain::ContainmentHook>,
    /// Root of the per-organization keys of `token`-mode fields.
    pub(crate) token_root: SecretKey,
    pub(crate) token_keys: std::sync::RwLock<HashMap<String, Arc<SecretKey>>>,
    /// Key of the subjects' mail tags ([`Vault::mail_tag`]).
    mail_tags: BlindIndexKey,
    /// Key of stored recovery-token hashes ([`Vault::recovery_token_hash`]).
    recovery_tokens: kura_crypto::KeyedHash,
    /// Seals remediation-offer codes at rest, and keys their duplicate-finding hash.
    pub(crate) remediation: (kura_crypto::SubjectCipher, kura_crypto::KeyedHash),
    /// Transports that may hold messages about subjects (the outbox): an erasure purges
    /// the subject's messages from each ([`Vault::attach_mail`]).
    mail: std::sync::RwLock<Vec<Arc<dyn kura_mail::Transport>>>,
}

/// Where the vault records access events.
pub(crate) struct AuditHook {
    pub(crate) appender: Arc<Appender>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("store", &self.store)
            .field("provider", &self.provider.describe())
            .finish_non_exhaustive()
    }
}

/// A subject sealed and ready to insert, or the reason it was refused.
type Sealed = Result<NewSubject, VaultError>;

impl Vault {
    /// Opens a vault over a store and a key provider, checking that both belong to the same
    /// vault and deriving the blind-index keys of every searchable field.
    ///
    /// # Errors
    /// [`VaultError::VaultMismatch`] when the key provider is another vault's.
    pub fn new(
        schema: Schema,
        store: DynStore,
        provider: Arc<dyn KeyProvider>,
        options: VaultOptions,
        appender: Arc<Appender>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, VaultError> {
        let mut v = Self::danger_without_audit(schema, store, provider, options)?;
        v.audit = Some(AuditHook { appender, clock });
        Ok(v)
    }

    /// A vault that records **no access events**. Only for `kura bench`, to measure what the
    /// log costs; a served vault always has a log.
    ///
    /// # Errors
    /// As [`Vault::new`].
    pub fn danger_without_audit(
        schema: Schema,
        store: DynStore,
        provider: Arc<dyn KeyProvider>,
        options: VaultOptions,
    ) -> Result<Self, VaultError> {
        let vault_id = store.vault_id()?;
        if provider.vault_id() != vault_id {
            return Err(VaultError::VaultMismatch {
                provider: provider.describe(),
            });
        }
        let root = provider.derive(KeyPurpose::IndexRoot)?;
        let token_root = provider.derive(KeyPurpose::FieldTokenRoot)?;
        let mail_tags = BlindIndexKey::derive(
            &provider.derive(KeyPurpose::MailTag)?,
            "kura-mail",
            "subject",
        );
        let recovery_tokens =
            kura_crypto::KeyedHash::new(&provider.derive(KeyPurpose::RecoveryToken)?);
        let remediation_key = provider.derive(KeyPurpose::RemediationCodes)?;
        let remediation = (
            kura_crypto::SubjectCipher::new(&remediation_key),
            kura_crypto::KeyedHash::new(&remediation_key),
        );
        let mut index_keys = HashMap::new();
        for c in schema.collections() {
            for f in c.fields.iter().filter(|f| f.searchable) {
                index_keys
                    .entry(c.name.clone())
                    .or_insert_with(HashMap::new)
                    .insert(
                        f.name.clone(),
                        BlindIndexKey::derive(&root, &c.name, &f.name),
                    );
            }
        }
        Ok(Vault {
            schema,
            store,
            provider,
            vault_id,
            index_keys,
            cache: KeyCache::new(options.key_cache_entries),
            audit: None,
            containment: None,
            token_root,
            token_keys: std::sync::RwLock::new(HashMap::new()),
            mail_tags,
            recovery_tokens,
            remediation,
            mail: std::sync::RwLock::new(Vec::new()),
        })
    }

    /// What the store keeps of a recovery token: HMAC-SHA-256, under a key from the key
    /// provider, of the token's SHA-256 (`kura_credentials::recovery::token_hash`). A row
    /// written into the data store by someone without the key matches no token they know.
    pub fn recovery_token_hash(&self, sha256: &[u8; 32]) -> [u8; 32] {
        self.recovery_tokens.hash(sha256)
    }

    /// The tag under which mail about `subject` is filed by a transport that holds messages:
    /// HMAC-SHA-256 of the subject id under a key from the key provider, truncated to 128
    /// bits. Whoever reads the outbox without the key learns no subject id from it.
    pub fn mail_tag(&self, subject: &Uuid) -> kura_mail::SubjectTag {
        kura_mail::SubjectTag::from_keyed_hash(self.mail_tags.token(subject.as_bytes()))
    }

    /// Removes the messages about `id` from every attached transport.
    pub(crate) fn purge_mail(&self, id: &Uuid) -> Result<(), VaultError> {
        let tag = self.mail_tag(id);
        let all = self
            .mail
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for t in all {
            t.purge_subject(&tag)?;
        }
        Ok(())
    }

    /// Registers a transport whose held messages a subject's erasure must remove
    /// ([`kura_mail::Transport::purge_subject`]). [`crate::Credentials::new`] registers its
    /// own, so no mail about a subject outlives the subject's erasure in a kura outbox.
    pub fn attach_mail(&self, transport: Arc<dyn kura_mail::Transport>) {
        let mut all = self
            .mail
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !all.iter().any(|t| Arc::ptr_eq(t, &transport)) {
            all.push(transport);
        }
    }

    pub(crate) fn event(&self, access: &Access, action: Action, collection: &str) -> AccessEvent {
        let now = self.audit.as_ref().map_or(0, |a| a.clock.now_ms());
        // A collection name from the URL is recorded only if it is well formed.
        let coll = if kura_model::is_valid_name(collection) {
            collection
        } else {
            "?"
        };
        AccessEvent::new(
            now,
            &access.principal,
            &access.purpose,
            action,
            coll,
            &access.request_id,
        )
    }

    /// The leaves to write in the same transaction as a change.
    pub(crate) fn leaves(&self, ev: &AccessEvent) -> Result<Vec<AuditLeaf>, VaultError> {
        match &self.audit {
            Some(_) => Ok(vec![ev.to_leaf()?]),
            None => Ok(Vec::new()),
        }
    }

    /// Appends an event on its own (reads, searches, refusals); returns once durable.
    pub(crate) fn append(&self, ev: &AccessEvent) -> Result<Option<Appended>, VaultError> {
        match &self.audit {
            Some(a) => Ok(Some(a.appender.append(ev)?)),
            None => Ok(None),
        }
    }

    /// Queues an event (reads, searches) without waiting; the ticket resolves once durable.
    pub(crate) fn submit(
        &self,
        ev: &AccessEvent,
    ) -> Result<Option<kura_audit::Ticket>, VaultError> {
        match &self.audit {
            Some(a) => Ok(Some(a.appender.submit(ev)?)),
            None => Ok(None),
        }
    }

    /// Records a failed or refused request and returns its error — or, if even that cannot
    /// be recorded, the audit error (fail closed).
    pub(crate) fn refused(&self, ev: AccessEvent, err: VaultError) -> VaultError {
        if matches!(err, VaultError::Audit(_)) {
            return err;
        }
        let outcome = match &err {
            VaultError::Denied(code) => Outcome::Denied(code.as_str().to_owned()),
            other => Outcome::Error(other.code().to_owned()),
        };
        let ev = ev.with_outcome(outcome);
        match self.append(&ev) {
            Ok(_) => err,
            Err(audit) => audit,
        }
    }

    /// The schema this vault serves.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The underlying store.
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// The vault's id.
    pub fn vault_id(&self) -> [u8; 16] {
        self.vault_id
    }

    /// The access log's clock, in unix milliseconds (0 for a vault without a log).
    pub(crate) fn now_ms(&self) -> u64 {
        self.audit.as_ref().map_or(0, |a| a.clock.now_ms())
    }

    /// The blind-index token of `value` in a searchable field; `None` when the field has no
    /// index or the value normalizes to nothing.
    pub(crate) fn blind_token(
        &self,
        c: &Collection,
        field: &str,
        value: &str,
    ) -> Option<BlindToken> {
        let f = c.field(field)?;
        let key = self.index_key(&c.name, &f.name)?;
        let n = Zeroizing::new(normalize(f.category, value));
        (!n.is_empty()).then(|| key.token(n.as_bytes()))
    }

    pub(crate) fn collection(&self, name: &str) -> Result<&Collection, VaultError> {
        self.schema
            .collection(name)
            .ok_or_else(|| ModelError::UnknownCollection(name.to_owned()).into())
    }

    fn check_input(&self, c: &Collection, input: &SubjectInput) -> Result<(), VaultError> {
        validate_country(&input.country)?;
        validate_locale(&input.locale)?;
        c.check_new(&input.fields)?;
        self.check_normalizable(c, input.fields.iter())
    }

    fn check_normalizable<'a>(
        &self,
        c: &Collection,
        fields: impl Iterator<Item = (&'a String, &'a String)>,
    ) -> Result<(), VaultError> {
        for (name, value) in fields {
            let f = c.require_field(name)?;
            refuse_credential(f)?;
            if f.searchable && normalize(f.category, value).is_empty() {
                return Err(ModelError::InvalidValue {
                    field: name.clone(),
                    reason: if f.category == Category::Phone {
                        "must contain digits".to_owned()
                    } else {
                        "must not be blank".to_owned()
                    },
                }
                .into());
            }
        }
        Ok(())
    }

    pub(crate) fn ctx<'a>(
        &'a self,
        collection: &'a str,
        subject: &'a [u8; 16],
        field: &'a str,
    ) -> FieldContext<'a> {
        FieldContext {
            vault_id: &self.vault_id,
            collection,
            subject,
            field,
            key_version: DEK_VERSION,
        }
    }

    fn index_key(&self, collection: &str, field: &str) -> Option<&BlindIndexKey> {
        self.index_keys.get(collection)?.get(field)
    }

    /// Key rotation's step: re-wraps up to `limit` data keys not yet under KEK version
    /// `target`, of subjects after `after` in public-id order, under the provider's
    /// current KEK (which must be `target`). Each key is unwrapped and wrapped again in
    /// memory (the data key itself, and so every sealed field, is unchanged) and written
    /// back with a compare-and-set, so a subject erased or re-keyed meanwhile is left as it
    /// is. Keys that do not unwrap are counted, not changed.
    ///
    /// # Errors
    /// [`VaultError::Crypto`] with `UnknownKekVersion(target)` when the provider's current
    /// version is not `target` (another rotation started); store failures.
    pub fn rewrap_keys(
        &self,
        target: u32,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<RewrapPage, VaultError> {
        let keys = self.store.keys_to_rewrap(target, after, limit)?;
        let mut page = RewrapPage {
            listed: keys.len(),
            last: keys.last().map(|(id, _)| *id),
            ..RewrapPage::default()
        };
        let fresh: Vec<_> = keys
            .par_iter()
            .map(|(id, old)| {
                let ctx = self.wrap_context(id);
                let Ok(dek) = self.provider.unwrap(old, &ctx) else {
                    return Ok(None);
                };
                let new = self.provider.wrap(&dek, &ctx)?;
                if new.kek_version != target {
                    return Err(VaultError::Crypto(CryptoError::UnknownKekVersion(target)));
                }
                Ok(Some(new))
            })
            .collect::<Result<_, VaultError>>()?;
        let mut batch = Vec::with_capacity(keys.len());
        for ((id, old), new) in keys.into_iter().zip(fresh) {
            match new {
                None => page.unreadable += 1,
                Some(new) => batch.push(kura_store::Rewrap {
                    subject: id,
                    old,
                    new,
                }),
            }
        }
        for done in self.store.rewrap_keys(&batch)? {
            if done {
                page.rewrapped += 1;
            } else {
                page.raced += 1;
            }
        }
        Ok(page)
    }

    fn wrap_context(&self, id: &Uuid) -> [u8; 32] {
        let mut c = [0u8; 32];
        c[..16].copy_from_slice(&self.vault_id);
        c[16..].copy_from_slice(id.as_bytes());
        c
    }

    fn tokens(&self, c: &Collection, fields: &BTreeMap<String, String>) -> Vec<BlindToken> {
        let mut out = Vec::new();
        for (name, value) in fields {
            if let Some(k) = self.index_key(&c.name, name) {
                let category = c.field(name).map_or(Category::Other, |f| f.category);
                let n = Zeroizing::new(normalize(category, value));
                out.push(k.token(n.as_bytes()));
            }
        }
        out
    }

    /// Seals the manifest of `sealed` at `epoch` into it (replacing any older one).
    pub(crate) fn seal_row(
        &self,
        collection: &str,
        id: &Uuid,
        cipher: &SubjectCipher,
        sealed: &mut BTreeMap<String, Vec<u8>>,
        epoch: u64,
    ) -> Result<(), VaultError> {
        sealed.remove(ROW_MANIFEST);
        let plain = Zeroizing::new(manifest(epoch, sealed));
        let ct = cipher.seal(&self.ctx(collection, id.as_bytes(), ROW_MANIFEST), &plain)?;
        sealed.insert(ROW_MANIFEST.to_owned(), ct);
        Ok(())
    }

    /// Decodes a stored row and checks its manifest: sealed under the subject's key, naming
    /// exactly the fields present with their ciphertexts, at an epoch no older than the key
    /// store's. Returns the fields (manifest removed) and the row's epoch. A row newer than
    /// the key store (a write whose epoch update did not land) rolls the key store forward.
    /// Rows written before schema version 5 have no manifest and are accepted only while the
    /// key store's epoch is 0.
    ///
    /// # Errors
    /// [`VaultError::Integrity`] (field `row`) for an older, altered or incomplete row.
    pub(crate) fn open_row(
        &self,
        stored: &StoredSubject,
        cipher: &SubjectCipher,
    ) -> Result<(BTreeMap<String, Vec<u8>>, u64), VaultError> {
        let mut sealed = codec::decode(&stored.fields)?;
        let integrity = || VaultError::Integrity {
            subject: stored.id.to_string(),
            field: "row".to_owned(),
        };
        let Some(ct) = sealed.remove(ROW_MANIFEST) else {
            return if stored.key_epoch == 0 {
                Ok((sealed, 0))
            } else {
                Err(integrity())
            };
        };
        let plain = cipher
            .open(
                &self.ctx(&stored.collection, stored.id.as_bytes(), ROW_MANIFEST),
                &ct,
            )
            .map_err(|_| integrity())?;
        let epoch = plain
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(integrity)?;
        if epoch < stored.key_epoch || plain[..] != manifest(epoch, &sealed)[..] {
            return Err(integrity());
        }
        if epoch > stored.key_epoch {
            self.advance_epoch(&stored.id, epoch);
        }
        Ok((sealed, epoch))
    }

    /// The epoch a new write of a row read at `row_epoch` is sealed at.
    pub(crate) fn next_epoch(stored: &StoredSubject, row_epoch: u64) -> u64 {
        row_epoch.max(stored.key_epoch) + 1
    }

    /// Raises the key store's epoch of `id` after a row write. Best effort: if it fails, the
    /// row is still readable (newer than the key store) and the next read rolls it forward.
    pub(crate) fn advance_epoch(&self, id: &Uuid, epoch: u64) {
        if let Err(e) = self.store.advance_epoch(id, epoch) {
            tracing::warn!(
                code = e.code(),
                "seal epoch not advanced; the next read will"
            );
        }
    }

    fn seal(&self, c: &Collection, iid: u64, input: &SubjectInput) -> Sealed {
        self.check_input(c, input)?;
        let id = Uuid::now_v7();
        let dek = SecretKey::generate()?;
        let wrapped_key = self.provider.wrap(&dek, &self.wrap_context(&id))?;
        let cipher = SubjectCipher::new(&dek);
        let mut sealed = BTreeMap::new();
        for (name, value) in &input.fields {
            let ct = cipher.seal(&self.ctx(&c.name, id.as_bytes(), name), value.as_bytes())?;
            sealed.insert(name.clone(), ct);
        }
        // New subjects start at epoch 1 in the key store.
        self.seal_row(&c.name, &id, &cipher, &mut sealed, 1)?;
        Ok(NewSubject {
            id,
            iid,
            collection: c.name.clone(),
            country: input.country.clone(),
            locale: input.locale.clone(),
            fields: codec::encode(&sealed),
            tokens: self.tokens(c, &input.fields),
            wrapped_key,
        })
    }

    /// Creates one subject.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for bad input (nothing is written), store and crypto failures.
    pub fn create(
        &self,
        access: &Access,
        collection: &str,
        input: SubjectInput,
    ) -> Result<Uuid, VaultError> {
        self.insert_many(access, Action::Create, collection, vec![input])
            .pop()
            .unwrap_or_else(|| Err(VaultError::Contention("empty batch".into())))
    }

    /// Creates many subjects in one store transaction. Each input is validated on its own:
    /// the result has one entry per input, in order; refused inputs write nothing, and the
    /// valid ones are written together (all of them, or — if the store fails — none).
    /// Sealing runs in parallel.
    ///
    /// # Errors
    /// Per input, as for [`Vault::create`].
    pub fn create_batch(
        &self,
        access: &Access,
        collection: &str,
        inputs: Vec<SubjectInput>,
    ) -> Vec<Result<Uuid, VaultError>> {
        self.insert_many(access, Action::Import, collection, inputs)
    }

    /// Decides whether `access` may import into `collection` — the decision
    /// [`Vault::create_batch`] makes — so that a server can refuse an import before it
    /// reads a byte of its body. A refusal is recorded as an `import` access event
    /// (`denied:<code>`, or `error:<code>` for an unknown collection) before it is returned.
    ///
    /// # Errors
    /// [`VaultError::Denied`] with the precise code; [`VaultError::Invalid`] for an unknown
    /// collection; [`VaultError::Audit`] when the refusal cannot be recorded.
    pub fn decide_import(&self, access: &Access, collection: &str) -> Result<(), VaultError> {
        self.decide(access, PolicyAction::Import, collection, None, None)
            .map(|_| ())
            .map_err(|e| self.refused(self.event(access, Action::Import, collection), e))
    }

    fn insert_many(
        &self,
        access: &Access,
        action: Action,
        collection: &str,
        inputs: Vec<SubjectInput>,
    ) -> Vec<Result<Uuid, VaultError>> {
        let base = self.event(access, action, collection);
        let c = match self.collection(collection) {
            Ok(c) => c,
            Err(e) => {
                let failed_log = matches!(self.refused(base, e), VaultError::Audit(_));
                return inputs
                    .iter()
                    .map(|_| {
                        Err(if failed_log {
                            kura_audit::AuditError::AppendFailed {
                                code: "storage_error",
                            }
                            .into()
                        } else {
                            ModelError::UnknownCollection(collection.to_owned()).into()
                        })
                    })
                    .collect();
            }
        };
        // Policy: a create names the fields it writes; an import is checked line by line
        // against the fields the caller may import.
        let decided = match action {
            Action::Create => {
                let names: Vec<String> = inputs
                    .iter()
                    .flat_map(|i| i.fields.keys())
                    // Unknown names are refused by validation below, with their own code.
                    .filter(|k| c.field(k).is_some())
                    .cloned()
                    .collect();
                self.decide(access, PolicyAction::Write, collection, Some(&names), None)
            }
            _ => self.decide(access, PolicyAction::Import, collection, None, None),
        };
        let grant = match decided {
            Ok(g) => g,
            Err(e) => {
                let code = match &e {
                    VaultError::Denied(code) => Some(*code),
                    _ => None,
                };
                let failed_log = matches!(self.refused(base, e), VaultError::Audit(_));
                return inputs
                    .iter()
                    .map(|_| {
                        Err(match (failed_log, code) {
                            (false, Some(code)) => VaultError::Denied(code),
                            _ => kura_audit::AuditError::AppendFailed {
                                code: "storage_error",
                            }
                            .into(),
                        })
                    })
                    .collect();
            }
        };
        let may_write = |input: &SubjectInput| {
            input
                .fields
                .keys()
                .all(|k| c.field(k).is_none() || grant.iter().any(|(n, _)| n == k))
        };
        let first = match self.store.reserve_iids(inputs.len() as u64) {
            Ok(f) => f,
            Err(e) => {
                let msg = e.to_string();
                return inputs
                    .iter()
                    .map(|_| Err(kura_store::StoreError::Backend(msg.clone()).into()))
                    .collect();
            }
        };
        let sealed: Vec<Sealed> = inputs
            .par_iter()
            .enumerate()
            .map(|(i, input)| {
                if may_write(input) {
                    self.seal(c, first + i as u64, input)
                } else {
                    Err(VaultError::Denied(kura_policy::DenyCode::FieldDenied))
                }
            })
            .collect();
        let ok: Vec<NewSubject> = sealed
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .cloned()
            .collect();
        // One event for the refused inputs per distinct error code (no subjects: nothing
        // was created), appended before the answer.
        let mut codes: Vec<(bool, &'static str)> = sealed
            .iter()
            .filter_map(|s| {
                s.as_ref()
                    .err()
                    .map(|e| (matches!(e, VaultError::Denied(_)), e.code()))
            })
            .collect();
        codes.sort_unstable();
        codes.dedup();
        for (denied, code) in codes {
            let outcome = if denied {
                Outcome::Denied(code.to_owned())
            } else {
                Outcome::Error(code.to_owned())
            };
            let ev = base.clone().with_outcome(outcome);
            if let Err(e) = self.append(&ev) {
                let msg = e.to_string();
                return sealed
                    .iter()
                    .map(|_| Err(kura_store::StoreError::Backend(msg.clone()).into()))
                    .collect();
            }
        }
        let written: Result<(), VaultError> = if ok.is_empty() {
            Ok(())
        } else {
            let mut names: Vec<&str> = Vec::new();
            for s in &inputs {
                for k in s.fields.keys() {
                    if kura_model::is_valid_name(k) && !names.contains(&k.as_str()) {
                        names.push(k);
                    }
                }
            }
            let ev = base
                .clone()
                .with_subjects(ok.iter().map(|s| s.iid))
                .with_fields(names);
            self.leaves(&ev)
                .and_then(|leaves| Ok(self.store.insert_subjects(&ok, &leaves)?))
        };
        match written {
            Ok(()) => sealed.into_iter().map(|s| s.map(|n| n.id)).collect(),
            Err(e) => {
                // The write failed: nothing was created; record that (best effort — if this
                // fails too, the answer is an error either way).
                let _ = self.append(
                    &base
                        .clone()
                        .with_outcome(Outcome::Error(e.code().to_owned())),
                );
                let msg = e.to_string();
                sealed
                    .into_iter()
                    .map(|s| {
                        s.and_then(|_| Err(kura_store::StoreError::Backend(msg.clone()).into()))
                    })
                    .collect()
            }
        }
    }

    /// Opens one field of a row already opened with [`Self::open_row`]: `None` when the
    /// subject holds no such field.
    ///
    /// # Errors
    /// [`VaultError::Integrity`] (naming the field) when its ciphertext fails to open or
    /// is not UTF-8.
    pub(crate) fn open_sealed(
        &self,
        stored: &StoredSubject,
        cipher: &SubjectCipher,
        sealed: &BTreeMap<String, Vec<u8>>,
        name: &str,
    ) -> Result<Option<Zeroizing<String>>, VaultError> {
        let Some(ct) = sealed.get(name) else {
            return Ok(None);
        };
        let integrity = || VaultError::Integrity {
            subject: stored.id.to_string(),
            field: name.to_owned(),
        };
        let plain = cipher
            .open(
                &self.ctx(&stored.collection, stored.id.as_bytes(), name),
                ct,
            )
            .map_err(|_| integrity())?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| integrity())?;
        Ok(Some(Zeroizing::new(text)))
    }

    pub(crate) fn cipher_for(
        &self,
        stored: &StoredSubject,
    ) -> Result<Arc<SubjectCipher>, VaultError> {
        if let Some(c) = self.cache.get(&stored.id) {
            return Ok(c);
        }
        let dek = self
            .provider
            .unwrap(&stored.wrapped_key, &self.wrap_context(&stored.id))?;
        let cipher = Arc::new(SubjectCipher::new(&dek));
        self.cache.insert(stored.id, cipher.clone());
        Ok(cipher)
    }

    pub(crate) fn load(&self, collection: &str, id: &Uuid) -> Result<StoredSubject, VaultError> {
        self.store
            .subject(collection, id)?
            .ok_or_else(|| VaultError::NotFound(id.to_string()))
    }

    pub(crate) fn open_fields(
        &self,
        c: &Collection,
        stored: &StoredSubject,
        wanted: Option<&[String]>,
    ) -> Result<BTreeMap<String, Zeroizing<String>>, VaultError> {
        let cipher = self.cipher_for(stored)?;
        let (sealed, _) = self.open_row(stored, &cipher)?;
        let mut out = BTreeMap::new();
        for (name, ct) in &sealed {
            if wanted.is_some_and(|w| !w.iter().any(|n| n == name)) {
                continue;
            }
            // A credential (a password hash) is never returned, whoever asks and however.
            if c.field(name)
                .is_some_and(|f| f.category == Category::Credential)
            {
                continue;
            }
            let plain = cipher
                .open(&self.ctx(&c.name, stored.id.as_bytes(), name), ct)
                .map_err(|e| match e {
                    kura_crypto::CryptoError::Integrity => VaultError::Integrity {
                        subject: stored.id.to_string(),
                        field: name.clone(),
                    },
                    other => other.into(),
                })?;
            let text = String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Integrity {
                subject: stored.id.to_string(),
                field: name.clone(),
            })?;
            out.insert(name.clone(), Zeroizing::new(text));
        }
        // The subject's card tokens, as its `payment_card` field (issue 7, `cards.rs`).
        self.add_card_tokens(c, stored, wanted, &mut out)?;
        Ok(out)
    }

    /// Reads a subject's fields (all, or those named).
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for an unknown collection or field name,
    /// [`VaultError::NotFound`], [`VaultError::Integrity`] when a ciphertext was tampered with.
    pub fn read(
        &self,
        access: &Access,
        collection: &str,
        id: &Uuid,
        fields: Option<&[String]>,
    ) -> Result<SubjectView, VaultError> {
        self.read_deferred(access, collection, id, fields)?.wait()
    }

    /// As [`Vault::read`], but the view comes wrapped in a [`Durable`] that releases it only
    /// once its access event is durable: an async caller awaits that without holding a
    /// thread while the log commits.
    ///
    /// # Errors
    /// As [`Vault::read`]; a failed log write is the error of [`Durable::wait`] or
    /// [`Durable::durable`].
    pub fn read_deferred(
        &self,
        access: &Access,
        collection: &str,
        id: &Uuid,
        fields: Option<&[String]>,
    ) -> Result<Durable<SubjectView>, VaultError> {
        let ev = self.event(access, Action::Read, collection);
        let mut iid = None;
        let mut shown = Vec::new();
        self.read_inner(access, collection, id, fields, &mut iid, &mut shown)
            .and_then(|view| {
                // Each field returned, with the mode it was shown in when not plain
                // (`email:masked`): breach scoping reads the mode back from the log.
                let ev = ev.clone().with_subjects(iid).with_fields(shown);
                // Released only once durable (fail closed).
                Ok(Durable {
                    value: view,
                    ticket: self.submit(&ev)?,
                })
            })
            .map_err(|e| self.refused(ev.with_subjects(iid), e))
    }

    fn read_inner(
        &self,
        access: &Access,
        collection: &str,
        id: &Uuid,
        fields: Option<&[String]>,
        iid: &mut Option<u64>,
        shown: &mut Vec<String>,
    ) -> Result<SubjectView, VaultError> {
        let c = self.collection(collection)?;
        if let Some(names) = fields {
            for n in names {
                c.require_field(n)?;
            }
        }
        // Policy first (nothing is loaded for a refused request), containment once the
        // subject is known and before anything is opened.
        let grant = self.decide(access, PolicyAction::Read, collection, fields, Some(id))?;
        let stored = self.load(collection, id)?;
        *iid = Some(stored.iid);
        self.check_restricted(access, PolicyAction::Read, &stored)?;
        self.touch(access, &[stored.iid])?;
        let names: Vec<String> = grant.iter().map(|(n, _)| n.clone()).collect();
        let opened = self.open_fields(c, &stored, Some(&names))?;
        let fields = self.present_fields(access, c, &stored.country, opened, &grant);
        shown.extend(
            grant
                .iter()
                .filter(|(n, _)| fields.contains_key(n))
                .map(|(n, m)| match m {
                    kura_policy::Mode::Plain => n.clone(),
                    m => format!("{n}:{}", m.as_str()),
                }),
        );
        Ok(SubjectView {
            id: stored.id,
            country: stored.country,
            locale: stored.locale,
            fields,
        })
    }

    /// Changes some fields: `Some(value)` sets, `None` removes (refused for required
    /// fields). Retries on concurrent changes, never losing another writer's update.
    ///
    /// # Errors
    /// As [`Vault::read`], plus [`VaultError::Invalid`] for bad values and
    /// [`VaultError::Contention`] after repeated conflicts.
    pub fn patch(
        &self,
        access: &Access,
        collection: &str,
        id: &Uuid,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<(), VaultError> {
        let ev = self.event(access, Action::Patch, collection).with_fields(
            changes
                .keys()
                .filter(|k| kura_model::is_valid_name(k))
                .map(String::as_str),
        );
        let mut iid = None;
        self.patch_inner(access, &ev, collection, id, changes, &mut iid)
            .map_err(|e| self.refused(ev.with_subjects(iid), e))
    }

    fn patch_inner(
        &self,
        access: &Access,
        ev: &AccessEvent,
        collection: &str,
        id: &Uuid,
        changes: &BTreeMap<String, Option<String>>,
        iid: &mut Option<u64>,
    ) -> Result<(), VaultError> {
        let c = self.collection(collection)?;
        let names: Vec<String> = changes.keys().cloned().collect();
        for n in &names {
            c.require_field(n)?;
        }
        self.decide(
            access,
            PolicyAction::Write,
            collection,
            Some(&names),
            Some(id),
        )?;
        let mut sets = PlainFields::default();
        for (name, change) in changes {
            let f = c.require_field(name)?;
            refuse_credential(f)?;
            match change {
                Some(v) => {
                    sets.0.insert(name.clone(), v.clone());
                }
                None if f.required => {
                    return Err(ModelError::MissingRequired(name.clone()).into());
                }
                None => {}
            }
        }
        c.check_patch(&sets.0)?;
        self.check_normalizable(c, sets.0.iter())?;
        for attempt in 0..32 {
            let stored = self.load(collection, id)?;
            *iid = Some(stored.iid);
            self.check_restricted(access, PolicyAction::Write, &stored)?;
            if attempt == 0 {
                self.touch(access, &[stored.iid])?;
            }
            let cipher = self.cipher_for(&stored)?;
            let (mut sealed, row_epoch) = self.open_row(&stored, &cipher)?;
            for (name, change) in changes {
                match change {
                    Some(v) => {
                        let ct =
                            cipher.seal(&self.ctx(&c.name, id.as_bytes(), name), v.as_bytes())?;
                        sealed.insert(name.clone(), ct);
                    }
                    None => {
                        sealed.remove(name);
                    }
                }
            }
            // Recompute the blind-index tokens from the searchable values now present.
            let mut searchable = PlainFields::default();
            for f in c.fields.iter().filter(|f| f.searchable) {
                if let Some(v) = sets.0.get(&f.name) {
                    searchable.0.insert(f.name.clone(), v.clone());
                } else if let Some(ct) = sealed.get(&f.name) {
                    let plain = cipher
                        .open(&self.ctx(&c.name, id.as_bytes(), &f.name), ct)
                        .map_err(|_| VaultError::Integrity {
                            subject: id.to_string(),
                            field: f.name.clone(),
                        })?;
                    let text =
                        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Integrity {
                            subject: id.to_string(),
                            field: f.name.clone(),
                        })?;
                    searchable.0.insert(f.name.clone(), text);
                }
            }
            let epoch = Self::next_epoch(&stored, row_epoch);
            self.seal_row(&c.name, id, &cipher, &mut sealed, epoch)?;
            let update = SubjectUpdate {
                collection: collection.to_owned(),
                id: *id,
                expected_version: stored.version,
                fields: codec::encode(&sealed),
                tokens: self.tokens(c, &searchable.0),
            };
            let leaves = self.leaves(&ev.clone().with_subjects([stored.iid]))?;
            match self.store.update_subject(&update, &leaves)? {
                UpdateOutcome::Updated(_) => {
                    self.advance_epoch(id, epoch);
                    return Ok(());
                }
                UpdateOutcome::NotFound => return Err(VaultError::NotFound(id.to_string())),
                UpdateOutcome::Conflict => continue,
            }
        }
        Err(VaultError::Contention(id.to_string()))
    }

    /// Erases a subject by crypto-shredding: the wrapped data key goes first (and the cached
    /// key is evicted), then the rows and index entries (the store deletes its credential
    /// state and recovery tokens with them), then every message about the subject held by
    /// an [attached](Vault::attach_mail) transport (the outbox).
    ///
    /// # Errors
    /// [`VaultError::NotFound`], store failures; [`VaultError::Mail`] when held messages
    /// could not be removed (the subject is erased already; erasing it again, answered
    /// `subject_not_found`, retries the removal).
    pub fn delete(&self, access: &Access, collection: &str, id: &Uuid) -> Result<(), VaultError> {
        let ev = self.event(access, Action::Delete, collection);
        let mut iid = None;
        self.delete_inner(access, &ev, collection, id, &mut iid, true)
            .map_err(|e| self.refused(ev.with_subjects(iid), e))?;
        self.store.purge_freed()?;
        Ok(())
    }

    /// [`Vault::delete`] for one subject of a batch: the key, rows and index entries go
    /// now; the held mail and the on-disk purge wait for [`Vault::finish_erasures`], which
    /// the caller must run over the batch (a crash before it is finished by erasing the
    /// subject again: answered `subject_not_found`, which purges its mail).
    ///
    /// # Errors
    /// As [`Vault::delete`].
    pub fn delete_deferred(
        &self,
        access: &Access,
        collection: &str,
        id: &Uuid,
    ) -> Result<(), VaultError> {
        let ev = self.event(access, Action::Delete, collection);
        let mut iid = None;
        self.delete_inner(access, &ev, collection, id, &mut iid, false)
            .map_err(|e| self.refused(ev.with_subjects(iid), e))
    }

    /// Finishes a batch of erasures: the mail held about `ids` is removed from every
    /// attached transport (the outbox is listed once), and what the store freed is made
    /// final on disk ([`kura_store::Store::purge_freed`]).
    ///
    /// # Errors
    /// Mail and store failures.
    pub fn finish_erasures(&self, ids: &[Uuid]) -> Result<(), VaultError> {
        let tags: Vec<kura_mail::SubjectTag> = ids.iter().map(|i| self.mail_tag(i)).collect();
        let all = self
            .mail
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for t in all {
            t.purge_subjects(&tags)?;
        }
        Ok(self.store.purge_freed()?)
    }

    fn delete_inner(
        &self,
        access: &Access,
        ev: &AccessEvent,
        collection: &str,
        id: &Uuid,
        iid: &mut Option<u64>,
        purge: bool,
    ) -> Result<(), VaultError> {
        self.collection(collection)?;
        self.decide(access, PolicyAction::Delete, collection, None, Some(id))?;
        let stored = match self.load(collection, id) {
            Ok(s) => s,
            Err(e @ VaultError::NotFound(_)) => {
                // Gone already — perhaps by an erasure whose purge failed: finish that.
                if purge {
                    self.purge_mail(id)?;
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        *iid = Some(stored.iid);
        self.touch(access, &[stored.iid])?;
        let leaves = self.leaves(&ev.clone().with_subjects([stored.iid]))?;
        self.cache.remove(id);
        let existed = self.store.delete_subject(collection, id, &leaves)?;
        self.cache.remove(id);
        // The key, the row, the tokens are gone; now the mail about the subject that a
        // transport still holds (a recovery mail carries a live token, every mail an address).
        if purge {
            self.purge_mail(id)?;
        }
        if existed {
            Ok(())
        } else {
            Err(VaultError::NotFound(id.to_string()))
        }
    }

    /// Resolves a subject for a read of its own access history, recording that read (the
    /// history says who read whom: it is personal data too). Returns the internal id.
    ///
    /// # Errors
    /// As [`Vault::read`].
    pub fn access_history_subject(
        &self,
        access: &Access,
        collection: &str,
        id: &Uuid,
    ) -> Result<u64, VaultError> {
        let ev = self
            .event(access, Action::Read, collection)
            .with_fields(["access_log"]);
        // Who read a subject is part of the subject's own record: the export grant
        // (operators, and a self-service principal for its own subject) is needed.
        let mut iid = None;
        let found = self
            .collection(collection)
            .and_then(|_| self.decide(access, PolicyAction::Export, collection, None, Some(id)))
            .and_then(|_| self.load(collection, id))
            .and_then(|stored| {
                iid = Some(stored.iid);
                self.check_restricted(access, PolicyAction::Export, &stored)?;
                self.touch(access, &[stored.iid])
            });
        match (found, iid) {
            (Ok(()), Some(iid)) => {
                self.append(&ev.with_subjects([iid]))?;
                Ok(iid)
            }
            (Err(e), iid) => Err(self.refused(ev.with_subjects(iid), e)),
            (Ok(()), None) => Err(VaultError::NotFound(id.to_string())),
        }
    }

    /// Finds subjects whose `field` equals `value` after normalization, through the blind
    /// index only (no field is decrypted).
    ///
    /// # Errors
    /// [`VaultError::Invalid`] with `field_not_searchable` when the field has no index.
    pub fn search(
        &self,
        access: &Access,
        collection: &str,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<Uuid>, VaultError> {
        self.search_deferred(access, collection, field, value, limit)?
            .wait()
    }

    /// As [`Vault::search`], the ids released only once the search's access event is
    /// durable (see [`Vault::read_deferred`]).
    ///
    /// # Errors
    /// As [`Vault::search`].
    pub fn search_deferred(
        &self,
        access: &Access,
        collection: &str,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<Durable<Vec<Uuid>>, VaultError> {
        let mut ev = self.event(access, Action::Search, collection);
        if kura_model::is_valid_name(field) {
            ev = ev.with_fields([field]);
        }
        let mut found: Vec<u64> = Vec::new();
        self.search_inner(access, collection, field, value, limit)
            .and_then(|(hits, probe)| {
                found = hits.iter().map(|h| h.iid).collect();
                // Every hit counts, and a canary among them trips containment: the whole
                // answer is refused, so no id of it leaves. A search without a hit counts
                // against the probe budget, so that testing values is bounded too.
                match probe {
                    Some(probe) if found.is_empty() => self.touch_probe(access, probe)?,
                    _ => self.touch(access, &found)?,
                }
                Ok(Durable {
                    value: hits.into_iter().map(|h| h.id).collect(),
                    ticket: self.submit(&ev.clone().with_subjects(found.iter().copied()))?,
                })
            })
            .map_err(|e| self.refused(ev.with_subjects(found.iter().copied()), e))
    }

    fn search_inner(
        &self,
        access: &Access,
        collection: &str,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<(Vec<kura_store::SearchHit>, Option<u64>), VaultError> {
        let c = self.collection(collection)?;
        let f = c.require_field(field)?;
        self.decide(
            access,
            PolicyAction::Search,
            collection,
            Some(std::slice::from_ref(&f.name)),
            None,
        )?;
        let key = self
            .index_key(&c.name, &f.name)
            .ok_or_else(|| ModelError::NotSearchable(field.to_owned()))?;
        let n = Zeroizing::new(normalize(f.category, value));
        if n.is_empty() {
            return Ok((Vec::new(), None));
        }
        let token = key.token(n.as_bytes());
        // The probe key of this value: 63 bits of its blind token (the same value probed
        // twice counts once; the token is keyed, so the number reveals nothing).
        let mut first = [0u8; 8];
        first.copy_from_slice(&token[..8]);
        let probe = u64::from_be_bytes(first) >> 1;
        let hits = self
            .store
            .search(collection, &token, limit.clamp(1, MAX_SEARCH_HITS))?;
        Ok((hits, Some(probe)))
    }
}
