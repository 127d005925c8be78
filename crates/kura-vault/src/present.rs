//! Presenting opened values in the mode the caller's grant decided: plain, masked (by the
//! field's category) or token (a keyed token in the caller's organization's domain).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use kura_crypto::SecretKey;
use kura_model::Collection;
use kura_policy::Mode;
use zeroize::Zeroizing;

use crate::{Access, Vault};

impl Vault {
    /// The token key of organization `org` (derived once, then cached).
    fn token_key(&self, org: &str) -> Arc<SecretKey> {
        if let Some(k) = self
            .token_keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(org)
        {
            return k.clone();
        }
        let key = Arc::new(
            self.token_root
                .derive_subkey(b"kura-field-token-v1", org.as_bytes()),
        );
        let mut keys = self
            .token_keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Organizations are few; the bound only guards against a flood of ids.
        if keys.len() >= 10_000 {
            keys.clear();
        }
        keys.entry(org.to_owned()).or_insert(key).clone()
    }

    /// Applies each field's granted mode to the opened values. Fields absent from `grant`
    /// are dropped (never returned); `opened` is consumed and zeroized.
    pub(crate) fn present_fields(
        &self,
        access: &Access,
        c: &Collection,
        country: &str,
        mut opened: BTreeMap<String, Zeroizing<String>>,
        grant: &[(String, Mode)],
    ) -> BTreeMap<String, Zeroizing<String>> {
        let mut out = BTreeMap::new();
        for (name, mode) in grant {
            let (Some(value), Some(field)) = (opened.remove(name), c.field(name)) else {
                continue;
            };
            let shown = match mode {
                Mode::Plain => value,
                Mode::Denied => continue,
                // Masks and tokens: the one implementation, `kura_policy::present`.
                _ => {
                    let key = self.token_key(&access.caller.org);
                    match kura_policy::present(*mode, &c.name, field, &value, country, &key) {
                        Some(v) => Zeroizing::new(v),
                        None => continue,
                    }
                }
            };
            out.insert(name.clone(), shown);
        }
        out
    }
}
