//! The `/v1` wire types. Field values travel as JSON strings; anything else is refused
//! with a precise error before the vault sees it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/collections/{c}/subjects` and one line of an import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubject {
    /// ISO 3166-1 alpha-2 country, e.g. `JP`.
    pub country: String,
    /// BCP 47 locale, e.g. `ja`.
    pub locale: String,
    /// Field values by name; each a JSON string.
    #[schema(value_type = BTreeMap<String, String>)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// `PATCH /v1/collections/{c}/subjects/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSubject {
    /// Fields to set (a string) or remove (`null`).
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// `POST /v1/collections/{c}/search`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A searchable field.
    pub field: String,
    /// The value to match exactly (after normalization).
    pub value: String,
    /// At most this many ids (1..=1000, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `{"id": "..."}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Created {
    /// The new subject's public id (UUIDv7).
    pub id: String,
}

/// `{"ids": [...]}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ids {
    /// Subject ids.
    pub ids: Vec<String>,
}

/// A subject as read.
#[derive(Serialize, ToSchema)]
pub struct SubjectBody {
    /// Public id.
    pub id: String,
    /// Country.
    pub country: String,
    /// Locale.
    pub locale: String,
    /// Requested field values.
    pub fields: BTreeMap<String, String>,
}

impl Drop for SubjectBody {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for v in self.fields.values_mut() {
            v.zeroize();
        }
    }
}

/// One refused line of an import.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineError {
    /// 1-based line number in the request body.
    pub line: usize,
    /// Stable code.
    pub code: String,
    /// Human message (never a value).
    pub message: String,
}

/// Result of an import: one id per non-empty input line, in order (`null` for refused
/// lines), and the refused lines.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    /// Ids in input order; `null` where the line was refused.
    pub ids: Vec<Option<String>>,
    /// Refused lines (empty when all were written).
    pub errors: Vec<LineError>,
}

/// The error body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code.
    pub code: String,
    /// Human sentence.
    pub message: String,
}

/// `GET /v1/health`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The latest posture check (`kura doctor`, run by the server at start and every
    /// `[posture] interval_hours`): `ok`, `attention` (a high or medium finding),
    /// `critical`, or `unknown` before the first check or when the server runs none.
    /// Deliberately coarse: findings (crates, versions, settings) are for operators only,
    /// through `kura doctor` and the access log.
    pub posture: String,
}
