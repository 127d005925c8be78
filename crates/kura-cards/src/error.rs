//! The crate's one error type, with stable machine-readable codes.
//!
//! # Invariants
//! - No variant carries input data: not the PAN, not a field name, not a date. Messages are
//!   fixed strings without digits, so they cannot leak a card number into logs or responses.

/// Why card input was refused.
///
/// Invariant: the `Display` text and [`CardError::code`] are fixed per variant and contain
/// no part of the input. Codes are stable API; new variants may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The card number contains a character other than a digit, a space or a dash, or is
    /// empty.
    #[error("card number may contain only digits, spaces and dashes")]
    InvalidPan,
    /// The card number has fewer than twelve or more than nineteen digits.
    #[error("card number must have between twelve and nineteen digits")]
    InvalidPanLength,
    /// The card number fails the Luhn check digit.
    #[error("card number check digit is wrong")]
    PanChecksum,
    /// The expiry month is outside one to twelve, or the year outside this century.
    #[error("card expiry month or year is out of range")]
    InvalidExpiry,
    /// The card's expiry month lies before the reference month.
    #[error("card has expired")]
    CardExpired,
    /// The holder name is blank, longer than 200 characters or holds a control character.
    #[error("card holder name is blank, too long or holds control characters")]
    InvalidHolder,
    /// The request carries a card security code, which kura never accepts (PCI DSS 3.3.1).
    #[error("card security codes are not accepted")]
    SecurityCodeNotAccepted,
}

impl CardError {
    /// Stable snake_case code for API responses and logs; never changes for a variant.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidPan => "invalid_pan",
            Self::InvalidPanLength => "invalid_pan_length",
            Self::PanChecksum => "invalid_pan_checksum",
            Self::InvalidExpiry => "invalid_expiry",
            Self::CardExpired => "card_expired",
            Self::InvalidHolder => "invalid_holder",
            Self::SecurityCodeNotAccepted => "security_code_not_accepted",
        }
    }
}
