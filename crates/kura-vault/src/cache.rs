//! A bounded in-memory cache of unwrapped data keys, so hot subjects do not pay a key
//! unwrap per read. Entries are ciphers whose key material is zeroized when the last
//! reference drops; erasure evicts the subject's entry.

use std::sync::Arc;

use kura_crypto::SubjectCipher;
use uuid::Uuid;

/// Bounded key cache (CLOCK-Pro eviction from `quick_cache`).
pub struct KeyCache {
    inner: Option<quick_cache::sync::Cache<Uuid, Arc<SubjectCipher>>>,
}

impl KeyCache {
    /// A cache of at most `entries` keys; 0 disables caching.
    pub fn new(entries: usize) -> Self {
        KeyCache {
            inner: (entries > 0).then(|| quick_cache::sync::Cache::new(entries)),
        }
    }

    pub fn get(&self, id: &Uuid) -> Option<Arc<SubjectCipher>> {
        self.inner.as_ref()?.get(id)
    }

    pub fn insert(&self, id: Uuid, cipher: Arc<SubjectCipher>) {
        if let Some(c) = &self.inner {
            c.insert(id, cipher);
        }
    }

    pub fn remove(&self, id: &Uuid) {
        if let Some(c) = &self.inner {
            c.remove(id);
        }
    }
}
