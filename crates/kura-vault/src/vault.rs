//! The [`Vault`]: create, read, patch, search and erase subjects.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kura_crypto::{
    BlindIndexKey, BlindToken, FieldContext, KeyProvider, KeyPurpose, SecretKey, SubjectCipher,
};
use kura_model::{Category, Collection, ModelError, Schema, validate_country, validate_locale};
use kura_store::{AuditLeaf, DynStore, NewSubject, StoredSubject, SubjectUpdate, UpdateOutcome};
use rayon::prelude::*;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::cache::KeyCache;
use crate::normalize::normalize;
use crate::{VaultError, codec};

/// Version of the per-subject data key bound into every field's associated data. Data keys
/// are not rotated individually (KEK rotation rewraps them without touching fields).
const DEK_VERSION: u32 = 1;

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

/// Who is asking, and why. Carried into every operation so that each can be recorded in the
/// access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Principal id.
    pub principal: String,
    /// Stated purpose (already validated).
    pub purpose: String,
    /// Request id, for correlating log lines and access events.
    pub request_id: String,
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
    index_keys: HashMap<(String, String), BlindIndexKey>,
    cache: KeyCache,
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
    ) -> Result<Self, VaultError> {
        let vault_id = store.vault_id()?;
        if provider.vault_id() != vault_id {
            return Err(VaultError::VaultMismatch {
                provider: provider.describe(),
            });
        }
        let root = provider.derive(KeyPurpose::IndexRoot)?;
        let mut index_keys = HashMap::new();
        for c in schema.collections() {
            for f in c.fields.iter().filter(|f| f.searchable) {
                index_keys.insert(
                    (c.name.clone(), f.name.clone()),
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
        })
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

    fn collection(&self, name: &str) -> Result<&Collection, VaultError> {
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

    fn ctx<'a>(
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

    fn wrap_context(&self, id: &Uuid) -> [u8; 32] {
        let mut c = [0u8; 32];
        c[..16].copy_from_slice(&self.vault_id);
        c[16..].copy_from_slice(id.as_bytes());
        c
    }

    fn tokens(&self, c: &Collection, fields: &BTreeMap<String, String>) -> Vec<BlindToken> {
        let mut out = Vec::new();
        for (name, value) in fields {
            if let Some(k) = self.index_keys.get(&(c.name.clone(), name.clone())) {
                let category = c.field(name).map_or(Category::Other, |f| f.category);
                let n = Zeroizing::new(normalize(category, value));
                out.push(k.token(n.as_bytes()));
            }
        }
        out
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
        self.create_batch(access, collection, vec![input])
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
        _access: &Access,
        collection: &str,
        inputs: Vec<SubjectInput>,
    ) -> Vec<Result<Uuid, VaultError>> {
        let c = match self.collection(collection) {
            Ok(c) => c,
            Err(_) => {
                return inputs
                    .iter()
                    .map(|_| Err(ModelError::UnknownCollection(collection.to_owned()).into()))
                    .collect();
            }
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
            .map(|(i, input)| self.seal(c, first + i as u64, input))
            .collect();
        let ok: Vec<NewSubject> = sealed
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .cloned()
            .collect();
        let audit: Vec<AuditLeaf> = Vec::new();
        let written = if ok.is_empty() {
            Ok(())
        } else {
            self.store.insert_subjects(&ok, &audit)
        };
        match written {
            Ok(()) => sealed.into_iter().map(|s| s.map(|n| n.id)).collect(),
            Err(e) => {
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

    fn cipher_for(&self, stored: &StoredSubject) -> Result<Arc<SubjectCipher>, VaultError> {
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

    fn load(&self, collection: &str, id: &Uuid) -> Result<StoredSubject, VaultError> {
        self.store
            .subject(collection, id)?
            .ok_or_else(|| VaultError::NotFound(id.to_string()))
    }

    fn open_fields(
        &self,
        c: &Collection,
        stored: &StoredSubject,
        wanted: Option<&[String]>,
    ) -> Result<BTreeMap<String, Zeroizing<String>>, VaultError> {
        let cipher = self.cipher_for(stored)?;
        let sealed = codec::decode(&stored.fields)?;
        let mut out = BTreeMap::new();
        for (name, ct) in &sealed {
            if wanted.is_some_and(|w| !w.iter().any(|n| n == name)) {
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
        Ok(out)
    }

    /// Reads a subject's fields (all, or those named).
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for an unknown collection or field name,
    /// [`VaultError::NotFound`], [`VaultError::Integrity`] when a ciphertext was tampered with.
    pub fn read(
        &self,
        _access: &Access,
        collection: &str,
        id: &Uuid,
        fields: Option<&[String]>,
    ) -> Result<SubjectView, VaultError> {
        let c = self.collection(collection)?;
        if let Some(names) = fields {
            for n in names {
                c.require_field(n)?;
            }
        }
        let stored = self.load(collection, id)?;
        let opened = self.open_fields(c, &stored, fields)?;
        Ok(SubjectView {
            id: stored.id,
            country: stored.country,
            locale: stored.locale,
            fields: opened,
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
        _access: &Access,
        collection: &str,
        id: &Uuid,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<(), VaultError> {
        let c = self.collection(collection)?;
        let mut sets = PlainFields::default();
        for (name, change) in changes {
            let f = c.require_field(name)?;
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
        for _ in 0..32 {
            let stored = self.load(collection, id)?;
            let cipher = self.cipher_for(&stored)?;
            let mut sealed = codec::decode(&stored.fields)?;
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
            let update = SubjectUpdate {
                collection: collection.to_owned(),
                id: *id,
                expected_version: stored.version,
                fields: codec::encode(&sealed),
                tokens: self.tokens(c, &searchable.0),
            };
            match self.store.update_subject(&update, &[])? {
                UpdateOutcome::Updated(_) => return Ok(()),
                UpdateOutcome::NotFound => return Err(VaultError::NotFound(id.to_string())),
                UpdateOutcome::Conflict => continue,
            }
        }
        Err(VaultError::Contention(id.to_string()))
    }

    /// Erases a subject by crypto-shredding: the wrapped data key goes first (and the cached
    /// key is evicted), then the rows and index entries.
    ///
    /// # Errors
    /// [`VaultError::NotFound`], store failures.
    pub fn delete(&self, _access: &Access, collection: &str, id: &Uuid) -> Result<(), VaultError> {
        self.collection(collection)?;
        self.cache.remove(id);
        let existed = self.store.delete_subject(collection, id, &[])?;
        self.cache.remove(id);
        if existed {
            Ok(())
        } else {
            Err(VaultError::NotFound(id.to_string()))
        }
    }

    /// Finds subjects whose `field` equals `value` after normalization, through the blind
    /// index only (no field is decrypted).
    ///
    /// # Errors
    /// [`VaultError::Invalid`] with `field_not_searchable` when the field has no index.
    pub fn search(
        &self,
        _access: &Access,
        collection: &str,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<Uuid>, VaultError> {
        let c = self.collection(collection)?;
        let f = c.require_field(field)?;
        let key = self
            .index_keys
            .get(&(c.name.clone(), f.name.clone()))
            .ok_or_else(|| ModelError::NotSearchable(field.to_owned()))?;
        let n = Zeroizing::new(normalize(f.category, value));
        if n.is_empty() {
            return Ok(Vec::new());
        }
        let token = key.token(n.as_bytes());
        let hits = self
            .store
            .search(collection, &token, limit.clamp(1, MAX_SEARCH_HITS))?;
        Ok(hits.into_iter().map(|h| h.id).collect())
    }
}
