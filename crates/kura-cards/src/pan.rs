//! Primary account numbers: parsing, the Luhn check and brand detection by issuer prefix.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CardError;

/// Fewest digits a PAN may have (ISO/IEC 7812).
const MIN_LEN: usize = 12;
/// Most digits a PAN may have (ISO/IEC 7812).
const MAX_LEN: usize = 19;

/// A card's brand (scheme), read from the issuer identification number (IIN) prefix.
///
/// Only prefixes that identify one scheme are mapped; anything else is
/// [`Brand::Unknown`], which is still a valid PAN. New brands may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Brand {
    /// Visa: prefix 4.
    Visa,
    /// Mastercard: 51 to 55 and 2221 to 2720.
    Mastercard,
    /// American Express: 34 and 37.
    Amex,
    /// Discover: 6011, 644 to 649 and 65.
    Discover,
    /// JCB: 3528 to 3589.
    Jcb,
    /// Diners Club: 300 to 305, 3095, 36, 38 and 39.
    Diners,
    /// UnionPay: 62.
    UnionPay,
    /// Maestro, only on prefixes no other listed scheme uses: 5018, 5020, 5038, 5893, 6304,
    /// 6759 and 6761 to 6763.
    Maestro,
    /// No scheme above matches.
    Unknown,
}

impl Brand {
    /// Stable lowercase name, e.g. `"visa"`, `"unionpay"`, `"unknown"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Discover => "discover",
            Self::Jcb => "jcb",
            Self::Diners => "diners",
            Self::UnionPay => "unionpay",
            Self::Maestro => "maestro",
            Self::Unknown => "unknown",
        }
    }

    /// The brand for a string of ASCII digits (at least the first four are read).
    fn from_digits(digits: &str) -> Self {
        let p = |n: usize| digits.get(..n).and_then(|s| s.parse::<u32>().ok());
        let in_range = |n: usize, lo: u32, hi: u32| p(n).is_some_and(|v| (lo..=hi).contains(&v));
        if in_range(1, 4, 4) {
            Self::Visa
        } else if matches!(p(2), Some(34 | 37)) {
            Self::Amex
        } else if in_range(4, 3528, 3589) {
            Self::Jcb
        } else if in_range(3, 300, 305) || p(4) == Some(3095) || matches!(p(2), Some(36 | 38 | 39))
        {
            Self::Diners
        } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
            Self::Mastercard
        } else if p(4) == Some(6011) || in_range(3, 644, 649) || p(2) == Some(65) {
            Self::Discover
        } else if p(2) == Some(62) {
            Self::UnionPay
        } else if matches!(
            p(4),
            Some(5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763)
        ) {
            Self::Maestro
        } else {
            Self::Unknown
        }
    }
}

/// Whether a string of ASCII digits passes the Luhn (mod 10) check. Returns false for an
/// empty string or any non-digit.
///
/// The Luhn check catches every single-digit typo and most swaps of neighbouring digits; it
/// is a checksum, not a security measure.
#[must_use]
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// A validated primary account number.
///
/// Invariants: 12 to 19 ASCII digits, passing the Luhn check. The digits are zeroized on
/// drop; `Debug` shows only the brand; there is no `Display`, `Clone` or serialization, so
/// the number leaves this type only through [`Pan::expose`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Pan {
    digits: String,
}

impl Pan {
    /// Parses a card number as typed: spaces and dashes are removed, anything else but
    /// ASCII digits is refused.
    ///
    /// # Errors
    /// [`CardError::InvalidPan`] for any other character or no digits,
    /// [`CardError::InvalidPanLength`] for fewer than 12 or more than 19 digits,
    /// [`CardError::PanChecksum`] when the Luhn check fails.
    pub fn parse(input: &str) -> Result<Self, CardError> {
        // Capacity fixed up front so the buffer never reallocates (which would leave an
        // unzeroized copy behind); zeroized on every error path.
        let mut digits = Zeroizing::new(String::with_capacity(MAX_LEN));
        let mut count = 0usize;
        for c in input.chars() {
            match c {
                '0'..='9' => {
                    count += 1;
                    if count <= MAX_LEN {
                        digits.push(c);
                    }
                }
                ' ' | '-' => {}
                _ => return Err(CardError::InvalidPan),
            }
        }
        if count == 0 {
            return Err(CardError::InvalidPan);
        }
        if !(MIN_LEN..=MAX_LEN).contains(&count) {
            return Err(CardError::InvalidPanLength);
        }
        if !luhn_valid(&digits) {
            return Err(CardError::PanChecksum);
        }
        Ok(Self {
            digits: std::mem::take(&mut *digits),
        })
    }

    /// The brand read from the issuer prefix.
    #[must_use]
    pub fn brand(&self) -> Brand {
        Brand::from_digits(&self.digits)
    }

    /// The last four digits, as shown on receipts (PCI DSS allows displaying them).
    #[must_use]
    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    /// The first six digits, the bank identification number (BIN).
    #[must_use]
    pub fn first6(&self) -> &str {
        &self.digits[..6]
    }

    /// Number of digits, 12 to 19.
    #[must_use]
    pub fn len(&self) -> usize {
        self.digits.len()
    }

    /// Always false: a `Pan` has at least 12 digits. Present for API symmetry with `len`.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.digits.is_empty()
    }

    /// The full number as digits only. Every caller handles cardholder data and must be
    /// reviewed: the result must be sealed, never logged or returned in a response.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.digits
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({}, ****)", self.brand().as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn luhn_basics() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111a11111111111"));
        assert!(luhn_valid("0"));
    }

    #[test]
    fn brand_prefixes() {
        let cases = [
            ("4000000000", Brand::Visa),
            ("5100000000", Brand::Mastercard),
            ("5500000000", Brand::Mastercard),
            ("2221000000", Brand::Mastercard),
            ("2720990000", Brand::Mastercard),
            ("2220990000", Brand::Unknown),
            ("2721000000", Brand::Unknown),
            ("3400000000", Brand::Amex),
            ("3700000000", Brand::Amex),
            ("6011000000", Brand::Discover),
            ("6440000000", Brand::Discover),
            ("6490000000", Brand::Discover),
            ("6500000000", Brand::Discover),
            ("6012000000", Brand::Unknown),
            ("3528000000", Brand::Jcb),
            ("3589000000", Brand::Jcb),
            ("3527000000", Brand::Unknown),
            ("3590000000", Brand::Unknown),
            ("3000000000", Brand::Diners),
            ("3050000000", Brand::Diners),
            ("3060000000", Brand::Unknown),
            ("3095000000", Brand::Diners),
            ("3600000000", Brand::Diners),
            ("3800000000", Brand::Diners),
            ("3900000000", Brand::Diners),
            ("6200000000", Brand::UnionPay),
            ("6759000000", Brand::Maestro),
            ("5018000000", Brand::Maestro),
            ("6304000000", Brand::Maestro),
            ("5600000000", Brand::Unknown),
            ("1000000000", Brand::Unknown),
        ];
        for (digits, brand) in cases {
            assert_eq!(Brand::from_digits(digits), brand, "{digits}");
        }
    }

    #[test]
    fn long_input_counts_all_digits() {
        // 25 digits: must be refused on length, not truncated to 19 and accepted.
        assert_eq!(
            Pan::parse("4111111111111111111111111").err(),
            Some(CardError::InvalidPanLength)
        );
    }
}
