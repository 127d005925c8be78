//! Jurisdiction and language of a subject: ISO 3166-1 alpha-2 countries and BCP 47 locales.

use crate::ModelError;

/// The officially assigned ISO 3166-1 alpha-2 codes, kept as data (see `data/SOURCE.md`).
const CODES: &str = include_str!("../data/iso3166-1-alpha2.txt");

/// Whether `code` is an officially assigned ISO 3166-1 alpha-2 code (upper case only).
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && CODES.split_ascii_whitespace().any(|c| c == code)
}

/// Checks a country code.
///
/// # Errors
/// [`ModelError::InvalidCountry`] when `code` is not an assigned alpha-2 code.
pub fn validate_country(code: &str) -> Result<(), ModelError> {
    if is_country_code(code) {
        Ok(())
    } else {
        Err(ModelError::InvalidCountry)
    }
}

/// Checks that `locale` is a well-formed BCP 47 language tag of reasonable length.
///
/// # Errors
/// [`ModelError::InvalidLocale`] when it is not.
pub fn validate_locale(locale: &str) -> Result<(), ModelError> {
    if locale.is_empty() || locale.len() > 35 {
        return Err(ModelError::InvalidLocale);
    }
    match language_tags::LanguageTag::parse(locale) {
        Ok(tag) if tag.validate().is_ok() => Ok(()),
        _ => Err(ModelError::InvalidLocale),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries() {
        assert_eq!(CODES.split_ascii_whitespace().count(), 249);
        for ok in ["JP", "DE", "US", "GB", "FR"] {
            assert!(is_country_code(ok), "{ok}");
        }
        for bad in ["jp", "UK", "XX", "JPN", "", "J"] {
            assert!(!is_country_code(bad), "{bad}");
        }
    }

    #[test]
    fn locales() {
        for ok in ["ja", "en", "de-DE", "en-US", "zh-Hant-TW"] {
            assert!(validate_locale(ok).is_ok(), "{ok}");
        }
        for bad in ["", "not a locale", "x", "de_DE", "-en"] {
            assert!(validate_locale(bad).is_err(), "{bad}");
        }
    }
}
