//! The error type of the crypto crate. Messages never carry key bytes or plaintext.

/// A cryptographic operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Authentication failed: the ciphertext was altered, moved to another subject or field,
    /// or sealed under another key.
    #[error(
        "integrity check failed: the ciphertext does not belong to this subject and field or was altered"
    )]
    Integrity,
    /// A ciphertext or wrapped key does not have the expected layout or version.
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// The wrapped key names a key-encryption-key version the provider does not hold.
    #[error("key-encryption key version {0} is not available from the key provider")]
    UnknownKekVersion(u32),
    /// The operating system's random generator failed.
    #[error("the operating system's random number generator failed")]
    Random,
    /// The key file is missing, unreadable, malformed or has unsafe permissions.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// Path of the key file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A key provider other than the key file (a PKCS#11 token, a KMS) failed or refused.
    #[error("key provider {provider}: {reason}")]
    Provider {
        /// Which provider (`pkcs11`, `kms`).
        provider: &'static str,
        /// What went wrong, never key material or a PIN.
        reason: String,
    },
    /// A key-encryption key version cannot be destroyed (it is current, or unknown).
    #[error("key-encryption key version {version} cannot be destroyed: {reason}")]
    KekInUse {
        /// The version.
        version: u32,
        /// Why.
        reason: &'static str,
    },
}

impl CryptoError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            CryptoError::Integrity => "integrity_error",
            CryptoError::Malformed(_) => "malformed_ciphertext",
            CryptoError::UnknownKekVersion(_) => "unknown_kek_version",
            CryptoError::Random => "random_failure",
            CryptoError::KeyFile { .. } => "key_file_error",
            CryptoError::Provider { .. } => "key_provider_error",
            CryptoError::KekInUse { .. } => "kek_in_use",
        }
    }
}
