//! Card-number logic for kura (issue 7): pure functions and types, no IO, no clock, no
//! storage.
//!
//! - [`Pan`]: a primary account number parsed from user input (spaces and dashes removed),
//!   12 to 19 digits, Luhn-checked, with its [`Brand`] read from the issuer prefix. Zeroized
//!   on drop, redacted in `Debug`, no `Display`, not serializable.
//! - [`security_code_field`]: finds a security-code field (CVV, CVC, CSC, CID, ...) among a
//!   request's field names so the request can be refused with
//!   [`CardError::SecurityCodeNotAccepted`]. PCI DSS 3.3.1: sensitive authentication data
//!   is not retained after authorization, and kura never authorizes, so it never accepts it.
//! - [`CardToken`]: a random token, `ct_` followed by 26 base32 characters (128 bits from
//!   the OS generator, drawn by the caller), never derived from the PAN.
//! - [`lookup_hash`]: a keyed HMAC-SHA-256 of subject and whole PAN (PCI DSS 3.5.1.1), the
//!   card vault's key for finding the token already issued for the same card.
//! - [`Expiry`]: month and year checked against a `(year, month)` the caller passes in.
//!
//! # Invariants
//! - No error message or `Debug` output contains a digit of a PAN; error messages contain no
//!   digits at all.
//! - A [`CardToken`] always starts with `ct_`, so it never parses as a [`Pan`] and is never
//!   taken for one; it carries no part of the PAN, not even a hash of it.
//! - Security codes are never parsed, held or returned: only field *names* are inspected.
//!
//! ```
//! use kura_cards::{Brand, CardToken, Pan, lookup_hash};
//!
//! let pan = Pan::parse("4111 1111-1111 1111").expect("valid test card");
//! assert_eq!(pan.brand(), Brand::Visa);
//! assert_eq!(pan.last4(), "1111");
//! assert_eq!(format!("{pan:?}"), "Pan(visa, ****)");
//!
//! let token = CardToken::from_random([7; 16]);
//! assert!(token.as_str().starts_with("ct_"));
//! assert!(Pan::parse(token.as_str()).is_err());
//! assert_eq!(CardToken::parse(token.as_str()), Some(token));
//! assert_ne!(lookup_hash(&[9; 32], &[1; 16], &pan), lookup_hash(&[9; 32], &[2; 16], &pan));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod expiry;
mod pan;
mod security_code;
mod token;

pub use error::CardError;
pub use expiry::Expiry;
pub use pan::{Brand, Pan, luhn_valid};
pub use security_code::{is_security_code_field, security_code_field};
pub use token::{CardToken, TOKEN_LEN, TOKEN_PREFIX, lookup_hash};
