//! The one error type of this crate. Messages name collections and fields, never values.

/// A schema, configuration or input check failed.
///
/// Every variant has a stable snake_case [`code`](ModelError::code) that the HTTP API
/// returns; messages are lowercase sentences that name fields but never echo a value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// The configuration file or schema is invalid; the text says where and why.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The request named a collection the schema does not define.
    #[error("unknown collection `{0}`")]
    UnknownCollection(String),
    /// The request named a field the collection does not define.
    #[error("unknown field `{field}` in collection `{collection}`")]
    UnknownField {
        /// Collection name.
        collection: String,
        /// Field name as given (only names from the request's keys, never values).
        field: String,
    },
    /// A value does not have the field's declared type.
    #[error("field `{field}` {reason}")]
    InvalidValue {
        /// Field name.
        field: String,
        /// What is wrong, without the value itself.
        reason: String,
    },
    /// A required field is missing.
    #[error("required field `{0}` is missing")]
    MissingRequired(String),
    /// The country is not an ISO 3166-1 alpha-2 code.
    #[error("country must be an ISO 3166-1 alpha-2 code such as \"JP\"")]
    InvalidCountry,
    /// The locale is not a well-formed BCP 47 language tag.
    #[error("locale must be a BCP 47 language tag such as \"ja\" or \"de-DE\"")]
    InvalidLocale,
    /// The purpose is missing or not a single lowercase word.
    #[error("purpose must be one lowercase word (a-z, 0-9, _ or -), at most 64 characters")]
    InvalidPurpose,
    /// A search named a field that has no blind index.
    #[error("field `{0}` is not searchable")]
    NotSearchable(String),
}

impl ModelError {
    /// The stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Config(_) => "invalid_config",
            ModelError::UnknownCollection(_) => "unknown_collection",
            ModelError::UnknownField { .. } => "unknown_field",
            ModelError::InvalidValue { .. } => "invalid_value",
            ModelError::MissingRequired(_) => "missing_required_field",
            ModelError::InvalidCountry => "invalid_country",
            ModelError::InvalidLocale => "invalid_locale",
            ModelError::InvalidPurpose => "invalid_purpose",
            ModelError::NotSearchable(_) => "field_not_searchable",
        }
    }
}
