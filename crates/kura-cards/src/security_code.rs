//! Recognising card security-code fields (CVV, CVC, CSC, CID) by name, so requests that
//! carry one are refused before any value is read.
//!
//! PCI DSS v4 requirement 3.3.1: sensitive authentication data, which includes the card
//! verification code, is not retained after authorization. kura never authorizes payments,
//! so it has no reason ever to receive one; refusing the whole request (error code
//! `security_code_not_accepted`) also tells the client it sent something it must not.

/// Normalized names (lowercase, without `_`, `-` and spaces) that are security codes.
const EXACT: &[&str] = &[
    "cvv",
    "cvc",
    "csc",
    "cvv2",
    "cvc2",
    "cid",
    "cvn",
    "cvd",
    "cav2",
    "securitycode",
    "cardsecuritycode",
    "cardverificationvalue",
    "cardverificationcode",
    "verificationcode",
    "verificationvalue",
];

/// Substrings that make any normalized name a security code.
const CONTAINS: &[&str] = &["cvv", "cvc", "csc", "securitycode", "verificationvalue"];

/// Whether `name` names a card security code: compared case-insensitively (ASCII) and
/// ignoring `_`, `-` and spaces, it is one of `cvv`, `cvc`, `csc`, `cvv2`, `cvc2`, `cid`,
/// `cvn`, `cvd`, `cav2`, `security_code`, `card_security_code`, `card_verification_value`,
/// `card_verification_code`, `verification_code`, `verification_value`, or it contains
/// `cvv`, `cvc`, `csc`, `securitycode` or `verificationvalue`.
///
/// Errs towards refusing: a false positive costs a renamed field, a false negative stores
/// sensitive authentication data.
#[must_use]
pub fn is_security_code_field(name: &str) -> bool {
    let norm: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    EXACT.contains(&norm.as_str()) || CONTAINS.iter().any(|s| norm.contains(s))
}

/// The first of `keys` that names a card security code (see [`is_security_code_field`]),
/// or `None`. A `Some` means the request must be refused with
/// [`CardError::SecurityCodeNotAccepted`](crate::CardError::SecurityCodeNotAccepted); the
/// returned name is the client's own input and belongs in no error message.
pub fn security_code_field<'a, I>(keys: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    keys.into_iter().find(|k| is_security_code_field(k))
}
