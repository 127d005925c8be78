//! Small syntactic checks shared by the API and the CLI: names and purposes.

use crate::ModelError;

/// Whether `name` is a valid collection or field name: ASCII lowercase letter first, then
/// lowercase letters, digits or `_`, at most 64 bytes. Names appear in URLs, associated data
/// and SQL parameters, so they are kept to this safe alphabet.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Checks a stated purpose (`X-Kura-Purpose`): one lowercase word of `a-z`, `0-9`, `_`, `-`,
/// 1 to 64 bytes. Purposes are recorded in the access log, so free text is not accepted.
///
/// # Errors
/// [`ModelError::InvalidPurpose`] otherwise.
pub fn validate_purpose(purpose: &str) -> Result<(), ModelError> {
    let b = purpose.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-');
    if ok {
        Ok(())
    } else {
        Err(ModelError::InvalidPurpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_purposes() {
        assert!(is_valid_name("login_id"));
        assert!(!is_valid_name("Login"));
        assert!(!is_valid_name("1x"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a-b"));
        assert!(validate_purpose("support").is_ok());
        assert!(validate_purpose("fraud-check").is_ok());
        assert!(validate_purpose("").is_err());
        assert!(validate_purpose("two words").is_err());
        assert!(validate_purpose("Support").is_err());
    }
}
