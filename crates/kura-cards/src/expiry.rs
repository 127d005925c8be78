//! Card expiry dates, checked against a reference month the caller supplies (no clock).

use crate::CardError;

/// A card's expiry month and year.
///
/// Invariants: `1 <= month <= 12`, `2000 <= year <= 2099`. A card is valid through the last
/// day of its expiry month, so it is expired only when its `(year, month)` lies strictly
/// before the reference month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expiry {
    year: u16,
    month: u8,
}

impl Expiry {
    /// Checks `month` and `year` (four digits) and that the card has not expired at
    /// `today = (year, month)`.
    ///
    /// # Errors
    /// [`CardError::InvalidExpiry`] when `month` is not 1 to 12 or `year` not 2000 to 2099;
    /// [`CardError::CardExpired`] when `(year, month)` is before `today`.
    pub fn new(month: u8, year: u16, today: (u16, u8)) -> Result<Self, CardError> {
        if !(1..=12).contains(&month) || !(2000..=2099).contains(&year) {
            return Err(CardError::InvalidExpiry);
        }
        if (year, month) < today {
            return Err(CardError::CardExpired);
        }
        Ok(Self { year, month })
    }

    /// The expiry month, 1 to 12.
    #[must_use]
    pub const fn month(&self) -> u8 {
        self.month
    }

    /// The expiry year, 2000 to 2099.
    #[must_use]
    pub const fn year(&self) -> u16 {
        self.year
    }

    /// Whether the card has expired at `today = (year, month)`; false during the expiry
    /// month itself.
    #[must_use]
    pub fn is_expired_at(&self, today: (u16, u8)) -> bool {
        (self.year, self.month) < today
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_expiry() {
        let now = (2026, 11);
        assert!(Expiry::new(11, 2026, now).is_ok());
        assert!(Expiry::new(1, 2027, now).is_ok());
        assert_eq!(Expiry::new(10, 2026, now), Err(CardError::CardExpired));
        assert_eq!(Expiry::new(12, 2025, now), Err(CardError::CardExpired));
        assert_eq!(Expiry::new(0, 2030, now), Err(CardError::InvalidExpiry));
        assert_eq!(Expiry::new(13, 2030, now), Err(CardError::InvalidExpiry));
        assert_eq!(
            Expiry::new(1, 1999, (1990, 1)),
            Err(CardError::InvalidExpiry)
        );
        assert_eq!(Expiry::new(1, 2100, now), Err(CardError::InvalidExpiry));
        assert_eq!(Expiry::new(1, 30, now), Err(CardError::InvalidExpiry));
        let e = Expiry::new(11, 2026, now).unwrap();
        assert!(!e.is_expired_at((2026, 11)));
        assert!(e.is_expired_at((2026, 12)));
        assert_eq!((e.month(), e.year()), (11, 2026));
    }
}
