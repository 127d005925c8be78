//! Checksums and number-plan rules that turn a pattern match into a validated value:
//! Luhn and issuer prefixes for payment cards, mod-97 for IBANs, the never-issued ranges of
//! US social security numbers, and the check digit of Japan's My Number.
//!
//! Everything here is pure and allocation-free; phone numbers are validated in `detect.rs`
//! with the `phonenumber` crate.

/// Whether the ASCII digits pass the Luhn check. Non-digits are not allowed.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        if !d.is_ascii_digit() {
            return false;
        }
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The card brand for a digit string by issuer prefix and length, if any is known.
pub(crate) fn card_brand(d: &[u8]) -> Option<&'static str> {
    let n = d.len();
    let prefix = |k: usize| -> u32 {
        d.iter()
            .take(k)
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    if n < 12 || d.len() > 19 {
        return None;
    }
    let p1 = prefix(1);
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    let p6 = prefix(6);
    if n == 12 && !(p2 == 50 || (56..=58).contains(&p2) || p2 == 67 || p3 == 639) {
        return None;
    }
    if p1 == 4 && matches!(n, 13 | 16 | 19) {
        Some("visa")
    } else if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && n == 16 {
        Some("mastercard")
    } else if (p2 == 34 || p2 == 37) && n == 15 {
        Some("amex")
    } else if (p4 == 6011
        || p2 == 65
        || (644..=649).contains(&p3)
        || (622126..=622925).contains(&p6))
        && (16..=19).contains(&n)
    {
        Some("discover")
    } else if ((3528..=3589).contains(&p4) && (16..=19).contains(&n))
        || ((p4 == 2131 || p4 == 1800) && n == 15)
    {
        Some("jcb")
    } else if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39)
        && (14..=19).contains(&n)
    {
        Some("diners")
    } else if p2 == 62 && (16..=19).contains(&n) {
        Some("unionpay")
    } else if (p2 == 50 || (56..=58).contains(&p2) || p2 == 67 || p3 == 639)
        && (12..=19).contains(&n)
    {
        Some("maestro")
    } else {
        None
    }
}

/// The IBAN length of a country, for the countries whose length is fixed and well known.
fn iban_length(cc: &[u8]) -> Option<usize> {
    Some(match cc {
        b"AD" => 24,
        b"AT" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"CH" => 21,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"EE" => 20,
        b"ES" => 24,
        b"FI" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GR" => 27,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IS" => 26,
        b"IT" => 27,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MT" => 31,
        b"NL" => 18,
        b"NO" => 15,
        b"PL" => 28,
        b"PT" => 25,
        b"RO" => 24,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"TR" => 26,
        _ => return None,
    })
}

/// Checks an IBAN given as upper-case ASCII letters and digits without spaces. Returns the
/// length of the valid IBAN prefix of `s` (a pattern may have run into a following word) or
/// `None`.
pub(crate) fn iban_valid_len(s: &[u8]) -> Option<usize> {
    if s.len() < 15 || !s[..2].iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let len = match iban_length(&s[..2]) {
        Some(l) if s.len() >= l => l,
        Some(_) => return None,
        None => s.len().min(34),
    };
    let iban = &s[..len];
    // Move the first four characters to the end, letters become 10..35, then mod 97.
    let mut rem: u32 = 0;
    for &c in iban[4..].iter().chain(iban[..4].iter()) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else if c.is_ascii_uppercase() {
            rem = (rem * 100 + u32::from(c - b'A' + 10)) % 97;
        } else {
            return None;
        }
    }
    (rem == 1).then_some(len)
}

/// Whether nine digits form a US SSN outside the ranges never issued: area 000, 666 and
/// 900-999, group 00, serial 0000.
pub(crate) fn ssn_valid(d: &[u8]) -> bool {
    if d.len() != 9 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |s: &[u8]| s.iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
    let area = num(&d[..3]);
    let group = num(&d[3..5]);
    let serial = num(&d[5..]);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Whether twelve digits form a Japanese My Number with a valid check digit (the last digit).
pub(crate) fn my_number_valid(d: &[u8]) -> bool {
    if d.len() != 12 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // P_n is the n-th digit counting leftwards from the one before the check digit.
    let mut sum = 0u32;
    for n in 1..=11u32 {
        let p = u32::from(d[11 - n as usize] - b'0');
        let q = if n <= 6 { n + 1 } else { n - 5 };
        sum += p * q;
    }
    let r = sum % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    u32::from(d[11] - b'0') == check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_known_test_numbers_and_rejects_a_changed_digit() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"5500005555555559"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b""));
    }

    #[test]
    fn brands_follow_prefix_and_length() {
        assert_eq!(card_brand(b"4111111111111111"), Some("visa"));
        assert_eq!(card_brand(b"378282246310005"), Some("amex"));
        assert_eq!(card_brand(b"3530111333300000"), Some("jcb"));
        assert_eq!(card_brand(b"2221000000000009"), Some("mastercard"));
        assert_eq!(card_brand(b"9111111111111111"), None);
        assert_eq!(card_brand(b"41111111111111"), None);
    }

    #[test]
    fn iban_mod97() {
        assert_eq!(iban_valid_len(b"DE89370400440532013000"), Some(22));
        assert_eq!(iban_valid_len(b"GB82WEST12345698765432"), Some(22));
        assert_eq!(iban_valid_len(b"DE89370400440532013000XYZ"), Some(22));
        assert_eq!(iban_valid_len(b"DE89370400440532013001"), None);
        assert_eq!(iban_valid_len(b"DE8937040044"), None);
    }

    #[test]
    fn ssn_excluded_ranges() {
        assert!(ssn_valid(b"123456789"));
        assert!(!ssn_valid(b"000456789"));
        assert!(!ssn_valid(b"666456789"));
        assert!(!ssn_valid(b"912456789"));
        assert!(!ssn_valid(b"123006789"));
        assert!(!ssn_valid(b"123450000"));
    }

    #[test]
    fn my_number_check_digit_is_checked() {
        // 12345678901 -> weighted sum 212, 212 mod 11 = 3, check digit 11 - 3 = 8 (by hand).
        assert!(my_number_valid(b"123456789018"));
        assert!(!my_number_valid(b"123456789012"));
    }
}
