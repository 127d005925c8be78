//! The crate's two error shapes: [`PolicyError`] for policy documents that cannot be loaded,
//! and [`DenyCode`] for requests a loaded policy refuses. Neither carries a field value.

use serde::Serialize;

/// Why a policy document was refused at load time. Messages name collections, fields,
/// purposes and keys of the document, never a personal-data value (a policy holds none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is not valid JSON or TOML, has an unknown key, a wrong type or an
    /// unknown action or mode. The message is the parser's, which names the key.
    #[error("policy is not valid {format}: {message}")]
    Syntax {
        /// `json` or `toml`.
        format: &'static str,
        /// The parser's message.
        message: String,
    },
    /// The policy names a collection the schema does not define.
    #[error("policy names unknown collection `{0}`")]
    UnknownCollection(String),
    /// The policy names a field its collection does not define.
    #[error("policy names unknown field `{collection}.{field}`")]
    UnknownField {
        /// Collection.
        collection: String,
        /// Field.
        field: String,
    },
    /// A purpose is not one lowercase word (`[a-z0-9_-]`, 1 to 64 bytes).
    #[error("policy purpose `{0}` must be one lowercase word of a-z, 0-9, `_`, `-`")]
    InvalidPurpose(String),
    /// `purposes` or `actions` is empty: such a policy could never allow anything, which is
    /// almost certainly a mistake.
    #[error("policy `{0}` must not be empty")]
    Empty(&'static str),
    /// A purpose or action is listed twice.
    #[error("policy lists {what} `{value}` twice")]
    Duplicate {
        /// `purpose` or `action`.
        what: &'static str,
        /// The repeated entry.
        value: String,
    },
    /// The quota is zero or out of range.
    #[error("policy quota is invalid: {0}")]
    InvalidQuota(String),
    /// The policy lists an action only operators have (`administer`, `read_log`).
    #[error("policy action `{0}` belongs to operators only and cannot be granted by a policy")]
    OperatorOnlyAction(String),
}

impl PolicyError {
    /// The stable snake_case code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Syntax { .. } => "policy_syntax",
            PolicyError::UnknownCollection(_) => "unknown_collection",
            PolicyError::UnknownField { .. } => "unknown_field",
            PolicyError::InvalidPurpose(_) => "invalid_purpose",
            PolicyError::Empty(_) => "policy_empty",
            PolicyError::Duplicate { .. } => "policy_duplicate",
            PolicyError::InvalidQuota(_) => "invalid_quota",
            PolicyError::OperatorOnlyAction(_) => "operator_only_action",
        }
    }
}

/// Why a request was refused. Each code is stable and is the one the API returns (with
/// HTTP 403) and the audit log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DenyCode {
    /// No policy of the principal allows this action (for this collection and purpose).
    ActionDenied,
    /// No policy of the principal allows this purpose (for this collection).
    PurposeDenied,
    /// No policy of the principal covers this collection.
    CollectionDenied,
    /// A field named in the request is denied (or not named) by every matching policy.
    FieldDenied,
    /// A self-service principal asked for a subject other than its own, or for an action
    /// that is not about one subject (search, import).
    NotOwnSubject,
    /// The principal is suspended (by containment or by an operator). Also the code of the
    /// request that trips containment, so that a canary hit looks like a quota hit.
    PrincipalSuspended,
    /// Detokenization (card vault) asked for by anyone but a service or processor with the
    /// `charge` purpose: operators and self-service principals never detokenize.
    DetokenizeDenied,
    /// An administrative or log-reading action asked for by anyone but an operator.
    OperatorOnly,
    /// An incident report asked for by anyone but a processor or an operator.
    ReportDenied,
    /// The subject's processing is restricted (GDPR Art. 18): only the subject itself may
    /// read or change it; erasure and login stay possible.
    ProcessingRestricted,
}

impl DenyCode {
    /// The stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyCode::ActionDenied => "action_denied",
            DenyCode::PurposeDenied => "purpose_denied",
            DenyCode::CollectionDenied => "collection_denied",
            DenyCode::FieldDenied => "field_denied",
            DenyCode::NotOwnSubject => "not_own_subject",
            DenyCode::PrincipalSuspended => "principal_suspended",
            DenyCode::DetokenizeDenied => "detokenize_denied",
            DenyCode::OperatorOnly => "operator_only",
            DenyCode::ReportDenied => "report_denied",
            DenyCode::ProcessingRestricted => "processing_restricted",
        }
    }
}

impl std::fmt::Display for DenyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_match_serde() {
        for c in [
            DenyCode::ActionDenied,
            DenyCode::PurposeDenied,
            DenyCode::CollectionDenied,
            DenyCode::FieldDenied,
            DenyCode::NotOwnSubject,
            DenyCode::PrincipalSuspended,
            DenyCode::DetokenizeDenied,
            DenyCode::OperatorOnly,
            DenyCode::ReportDenied,
            DenyCode::ProcessingRestricted,
        ] {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(c.to_string(), c.as_str());
        }
    }
}
