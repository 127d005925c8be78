//! Card vault routes (issue 7): tokenize, read metadata, detokenize, delete.
//!
//! The handlers parse and answer; rules, keys and access events are
//! [`kura_vault::CardVault`]'s. Card bodies are read by hand rather than through
//! [`super::ApiJson`]:
//! - the raw body and every string parsed from it are zeroized once used;
//! - any key that names a card security code (`cvv`, `cvc`, `csc`, `cvv2`, `cid`,
//!   `security_code`, ..., at any depth and in any spelling [`kura_cards::is_security_code_field`]
//!   recognises) refuses the whole request with 400 `security_code_not_accepted` before
//!   anything else is looked at, and the refusal is recorded (PCI DSS 3.3.1);
//! - errors name keys of the API only, never a value; JSON syntax errors give a position.
//!
//! # Invariants
//! - No response but detokenize's carries more of a PAN than its last four digits.
//! - A refused request stores nothing.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use kura_vault::{CardVault, CardView, NewCardInput, Uuid};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::{Zeroize, Zeroizing};

use super::{access, blocking, parse_json};
use crate::auth::{Principal, Purpose};
use crate::wire::ErrorBody;
use crate::{ApiError, AppState};

/// `POST /v1/cards` (documentation shape; the body is parsed by hand, see the module docs).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenizeCard {
    /// Public id of the subject holding the card.
    pub subject_id: String,
    /// Card number, 12 to 19 digits; spaces and dashes are ignored.
    pub pan: String,
    /// Expiry month, 1 to 12.
    pub exp_month: u8,
    /// Expiry year, four digits.
    pub exp_year: u16,
    /// Cardholder name as printed (optional; never shown except to the payment principal).
    pub holder: Option<String>,
}

/// A card as any caller may see it: token, brand, last four digits, expiry.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardBody {
    /// The token (`ct_` + 26 base32 characters): random, never a card number.
    pub token: String,
    /// Subject holding the card.
    pub subject_id: String,
    /// Brand: visa, mastercard, amex, discover, jcb, diners, unionpay, maestro, unknown.
    pub brand: String,
    /// Last four digits (PCI DSS 3.4.1).
    pub last4: String,
    /// Expiry month.
    pub exp_month: u8,
    /// Expiry year.
    pub exp_year: u16,
}

/// The detokenized card, for the payment principal charging it.
#[derive(Serialize, ToSchema)]
pub struct DetokenizedBody {
    /// The full card number, digits only.
    pub pan: String,
    /// Expiry month.
    pub exp_month: u8,
    /// Expiry year.
    pub exp_year: u16,
    /// Holder name, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

impl Drop for DetokenizedBody {
    fn drop(&mut self) {
        self.pan.zeroize();
        if let Some(h) = &mut self.holder {
            h.zeroize();
        }
    }
}

fn body_of(v: CardView) -> CardBody {
    CardBody {
        token: v.token,
        subject_id: v.subject.to_string(),
        brand: v.brand,
        last4: v.last4,
        exp_month: v.exp_month,
        exp_year: v.exp_year,
    }
}

fn cards(state: &AppState) -> Result<std::sync::Arc<CardVault>, ApiError> {
    state.cards.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cards_unavailable",
            "the card vault is not configured on this server",
        )
    })
}

/// Overwrites every string in a parsed JSON value (keys too) before it is dropped.
fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(o) => {
            for (_, x) in o.iter_mut() {
                wipe(x);
            }
        }
        Value::Number(_) | Value::Bool(_) | Value::Null => {}
    }
}

/// Whether any key, at any depth, names a security code.
fn has_security_code(v: &Value) -> bool {
    match v {
        Value::Object(o) => o
            .iter()
            .any(|(k, x)| kura_cards::is_security_code_field(k) || has_security_code(x)),
        Value::Array(a) => a.iter().any(has_security_code),
        _ => false,
    }
}

/// The raw body under the size limit, as an owned buffer that is zeroized on drop.
async fn read_body(req: Request, state: &AppState) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let bytes = super::json_body(req, state).await?;
    // Take the buffer over when no one else holds it, so it can be wiped; otherwise copy.
    Ok(Zeroizing::new(match bytes.try_into_mut() {
        Ok(m) => Vec::from(m),
        Err(b) => b.to_vec(),
    }))
}

const KEYS: [&str; 5] = ["subject_id", "pan", "exp_month", "exp_year", "holder"];

/// Turns a parsed body (security codes already refused) into vault input.
fn card_input(body: &mut serde_json::Map<String, Value>) -> Result<NewCardInput, ApiError> {
    if let Some(k) = body.keys().find(|k| !KEYS.contains(&k.as_str())) {
        // Name the key only if it is plainly an identifier: a key could be a card number.
        let shown = if k.len() <= 64 && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            format!(" `{k}`")
        } else {
            String::new()
        };
        return Err(ApiError::bad_request(
            "unknown_field",
            format!(
                "the body has an unknown key{shown}; allowed: subject_id, pan, exp_month, exp_year, holder"
            ),
        ));
    }
    let missing = |k: &str| ApiError::bad_request("invalid_body", format!("`{k}` is required"));
    let subject = match body.get("subject_id") {
        Some(Value::String(s)) => Uuid::parse_str(s).map_err(|_| {
            ApiError::bad_request("invalid_subject_id", "the subject id must be a UUID")
        })?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_subject_id",
                "the subject id must be a UUID",
            ));
        }
        None => return Err(missing("subject_id")),
    };
    let pan = match body.get_mut("pan") {
        Some(Value::String(s)) => Zeroizing::new(std::mem::take(s)),
        // A number (or anything else) is refused with the same fixed message as bad text.
        Some(_) => {
            return Err(ApiError::bad_request(
                kura_cards::CardError::InvalidPan.code(),
                "`pan` must be a JSON string of digits, spaces and dashes",
            ));
        }
        None => return Err(missing("pan")),
    };
    let number = |k: &str, max: u64| -> Result<u64, ApiError> {
        match body.get(k) {
            Some(Value::Number(n)) => n.as_u64().filter(|v| *v <= max).ok_or_else(|| {
                ApiError::bad_request("invalid_expiry", format!("`{k}` is out of range"))
            }),
            Some(_) => Err(ApiError::bad_request(
                "invalid_expiry",
                format!("`{k}` must be a JSON integer"),
            )),
            None => Err(missing(k)),
        }
    };
    let exp_month = number("exp_month", 255)? as u8;
    let exp_year = number("exp_year", 65_535)? as u16;
    let holder = match body.get_mut("holder") {
        Some(Value::String(s)) => Some(Zeroizing::new(std::mem::take(s))),
        Some(Value::Null) | None => None,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_holder",
                "`holder` must be a JSON string",
            ));
        }
    };
    Ok(NewCardInput {
        subject,
        pan,
        exp_month,
        exp_year,
        holder,
    })
}

/// Tokenizes a card for a subject. The same card for the same subject gives the same token.
/// The answer is 201 with the same body shape whether the card was new or already known, so
/// the status tells nothing about which cards a subject holds. The caller's `write` grant is
/// decided before the subject is looked up (403 before any 404), and the subject counts
/// against the caller's containment quota. A body naming a security code is refused with 400
/// `security_code_not_accepted` and nothing is stored (PCI DSS 3.3.1).
#[utoipa::path(
    post, path = "/v1/cards",
    params(("X-Kura-Purpose" = String, Header, description = "purpose of the request")),
    request_body = TokenizeCard,
    responses((status = 201, body = CardBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn tokenize(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    req: Request,
) -> Result<(StatusCode, Json<CardBody>), ApiError> {
    let cards = cards(&state)?;
    let raw = read_body(req, &state).await?;
    let mut value: Value = parse_json(&raw)?;
    drop(raw);
    let a = access(&principal, &purpose);
    let result = (|| {
        if has_security_code(&value) {
            return Err(Err(cards.refuse_security_code(&a)));
        }
        let Value::Object(map) = &mut value else {
            return Err(Ok(ApiError::bad_request(
                "invalid_body",
                "the body must be a JSON object",
            )));
        };
        card_input(map).map_err(Ok)
    })();
    wipe(&mut value);
    let input = match result {
        Ok(i) => i,
        Err(Ok(api)) => return Err(api),
        Err(Err(vault)) => return Err(vault.into()),
    };
    let view = blocking(move || cards.tokenize(&a, input)).await?;
    // One status for a new and a known card (issue 13): `view.created` is not shown.
    Ok((StatusCode::CREATED, Json(body_of(view))))
}

/// A card's metadata: brand, last four digits, expiry. Never more of the number.
#[utoipa::path(
    get, path = "/v1/cards/{token}",
    params(("token" = String, Path), ("X-Kura-Purpose" = String, Header)),
    responses((status = 200, body = CardBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn metadata(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(token): Path<String>,
) -> Result<Json<CardBody>, ApiError> {
    let cards = cards(&state)?;
    let a = access(&principal, &purpose);
    let view = blocking(move || cards.metadata(&a, &token)).await?;
    Ok(Json(body_of(view)))
}

/// The full card number, only for a service or processor whose policy allows `detokenize`,
/// with the purpose `charge`; everyone else gets 403. Every call is an access event.
#[utoipa::path(
    post, path = "/v1/cards/{token}/detokenize",
    params(("token" = String, Path), ("X-Kura-Purpose" = String, Header)),
    responses((status = 200, body = DetokenizedBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn detokenize(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(token): Path<String>,
) -> Result<Json<DetokenizedBody>, ApiError> {
    let cards = cards(&state)?;
    let a = access(&principal, &purpose);
    let card = blocking(move || cards.detokenize(&a, &token)).await?;
    Ok(Json(DetokenizedBody {
        pan: card.pan.as_str().to_owned(),
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        holder: card.holder.as_ref().map(|h| h.as_str().to_owned()),
    }))
}

/// Deletes a card: its sealed number and key are shredded first.
#[utoipa::path(
    delete, path = "/v1/cards/{token}",
    params(("token" = String, Path), ("X-Kura-Purpose" = String, Header)),
    responses((status = 200), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(token): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let cards = cards(&state)?;
    let a = access(&principal, &purpose);
    let t = token.clone();
    blocking(move || cards.delete(&a, &t)).await?;
    // Only a well-formed token reaches here (anything else is card_not_found).
    Ok(Json(serde_json::json!({"token": token, "deleted": true})))
}
