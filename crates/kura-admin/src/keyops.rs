//! A key provider that counts what passes through it, for `/v1/metrics`: wraps, unwraps,
//! failed unwraps, derivations and KEK changes. Counts only — never a key, a context or a
//! subject.

use std::sync::Arc;

use kura_crypto::{CryptoError, KekVersions, KeyProvider, KeyPurpose, SecretKey, WrappedKey};

use crate::metrics::Metrics;

/// Forwards every call to `inner` and counts it in `metrics`.
pub struct Counted {
    inner: Arc<dyn KeyProvider>,
    metrics: Arc<Metrics>,
}

impl Counted {
    /// Counts the calls made to `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn KeyProvider>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Counted").field(&self.inner).finish()
    }
}

impl KeyProvider for Counted {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn vault_id(&self) -> [u8; 16] {
        self.inner.vault_id()
    }

    fn wrap(&self, dek: &SecretKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        Metrics::inc(&self.metrics.key_wraps);
        self.inner.wrap(dek, context)
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<SecretKey, CryptoError> {
        Metrics::inc(&self.metrics.key_unwraps);
        let r = self.inner.unwrap(wrapped, context);
        if r.is_err() {
            Metrics::inc(&self.metrics.key_unwrap_failures);
        }
        r
    }

    fn derive(&self, purpose: KeyPurpose) -> Result<SecretKey, CryptoError> {
        Metrics::inc(&self.metrics.key_derives);
        self.inner.derive(purpose)
    }

    fn kek_versions(&self) -> Result<KekVersions, CryptoError> {
        self.inner.kek_versions()
    }

    fn rotate_kek(&self) -> Result<u32, CryptoError> {
        self.inner.rotate_kek()
    }

    fn destroy_kek(&self, version: u32) -> Result<(), CryptoError> {
        self.inner.destroy_kek(version)
    }
}
