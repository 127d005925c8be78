//! The error type of the storage layer.

/// A storage operation failed. Messages name tables and ids, never field values (the store
/// never has them in plaintext anyway).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The location holds no kura vault.
    #[error("no kura vault is initialized at {0}; run `kura init` first")]
    NotInitialized(String),
    /// The location already holds a vault.
    #[error("a kura vault already exists at {0}")]
    AlreadyInitialized(String),
    /// The database schema was written by a newer kura.
    #[error(
        "the store's schema version {found} is newer than this kura understands ({known}); upgrade kura"
    )]
    SchemaTooNew {
        /// Version found in the store.
        found: u32,
        /// Newest version this build knows.
        known: u32,
    },
    /// A uniqueness rule was violated (duplicate id or key prefix).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row a change names does not exist (nothing was written).
    #[error("not found: {0}")]
    NotFound(String),
    /// Stored bytes do not have the expected shape.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The database reported an error.
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotInitialized(_) => "not_initialized",
            StoreError::AlreadyInitialized(_) => "already_initialized",
            StoreError::SchemaTooNew { .. } => "schema_too_new",
            StoreError::Conflict(_) => "conflict",
            StoreError::NotFound(_) => "not_found",
            StoreError::Corrupt(_) => "corrupt_store",
            StoreError::Backend(_) => "storage_error",
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}
