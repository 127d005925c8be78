//! API keys: how they look, how they are made, what is stored.
//!
//! A key looks like `kura_<8 hex prefix>_<43 base64url chars>`: 256 random bits after a
//! public lookup prefix, and a fixed `kura_` start so that `kura scan` and secret scanners
//! can spot a leaked key. Only SHA-256 of the whole key is stored (keys are high-entropy,
//! so a fast hash is enough); the server compares in constant time. The secret is shown
//! once and zeroized on drop.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kura_crypto::{random_array, sha256};
use kura_store::ApiKeyRecord;
use zeroize::Zeroizing;

/// A freshly generated API key: the secret (shown once) and the record to store.
pub struct NewApiKey {
    /// The full key. Shown to the user once, never stored or logged.
    pub secret: Zeroizing<String>,
    /// What the store keeps.
    pub record: ApiKeyRecord,
}

/// Generates an API key for `principal` of `kind`, created at `now` (unix seconds).
///
/// # Errors
/// The OS random generator failed.
pub fn generate_api_key(
    principal: &str,
    kind: kura_model::PrincipalType,
    now: i64,
) -> Result<NewApiKey, kura_crypto::CryptoError> {
    let prefix_bytes: [u8; 4] = random_array()?;
    let secret_bytes = Zeroizing::new(random_array::<32>()?);
    let prefix = format!(
        "kura_{}",
        prefix_bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let secret = Zeroizing::new(format!(
        "{prefix}_{}",
        URL_SAFE_NO_PAD.encode(*secret_bytes)
    ));
    let record = ApiKeyRecord {
        prefix,
        hash: sha256(secret.as_bytes()),
        principal: principal.to_owned(),
        kind,
        created_at: now,
        revoked_at: None,
    };
    Ok(NewApiKey { secret, record })
}

/// The public prefix of a presented key, if it has the kura shape.
pub fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("kura_")?;
    let (hex, secret) = rest.split_once('_')?;
    (hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 43)
        .then(|| &key[..13])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_kura_shape_and_a_stable_prefix() {
        let k = generate_api_key("operator", kura_model::PrincipalType::Operator, 0).unwrap();
        assert!(k.secret.starts_with("kura_"));
        assert_eq!(prefix_of(&k.secret), Some(k.record.prefix.as_str()));
        assert_eq!(k.record.hash, sha256(k.secret.as_bytes()));
        assert_eq!(prefix_of("kura_zz_abc"), None);
        assert_eq!(prefix_of("Bearer x"), None);
        let other = generate_api_key("operator", kura_model::PrincipalType::Operator, 0).unwrap();
        assert_ne!(k.record.prefix, other.record.prefix);
    }
}
