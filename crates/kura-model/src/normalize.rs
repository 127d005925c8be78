//! Normalization of values before blind indexing, so that equal values in different
//! spellings find each other: Unicode NFKC for everything (full-width and half-width forms
//! fold together), then per category: e-mail addresses are lower-cased (Unicode), phone
//! numbers keep their digits only. Leading and trailing white space is dropped.
//!
//! Only the token is computed from the normalized form; the sealed value is the original.

use crate::Category;
use unicode_normalization::UnicodeNormalization;

/// The normalized form of `value` for a field of `category`. May be empty (a phone number
/// without digits); callers reject such values.
pub fn normalize(category: Category, value: &str) -> String {
    let nfkc: String = value.nfkc().collect();
    let trimmed = nfkc.trim();
    match category {
        Category::Email => trimmed.to_lowercase(),
        Category::Phone => trimmed.chars().filter(char::is_ascii_digit).collect(),
        _ => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert_eq!(
            normalize(Category::Email, " Taro.YAMADA@Example.COM "),
            "taro.yamada@example.com"
        );
        // Full-width letters fold under NFKC before lower-casing.
        assert_eq!(
            normalize(Category::Email, "ＴＡＲＯ@example.jp"),
            "taro@example.jp"
        );
        assert_eq!(
            normalize(Category::Email, "JÜRGEN@BEISPIEL.DE"),
            "jürgen@beispiel.de"
        );
        assert_eq!(
            normalize(Category::Phone, "+81 (90) 1234-5678"),
            "819012345678"
        );
        assert_eq!(
            normalize(Category::Phone, "０９０-１２３４-５６７８"),
            "09012345678"
        );
        assert_eq!(
            normalize(Category::LoginId, "ｋｕｒａ_Player"),
            "kura_Player"
        );
        // Composed and decomposed umlauts index alike.
        assert_eq!(
            normalize(Category::Name, "Mu\u{0308}ller"),
            normalize(Category::Name, "Müller")
        );
    }
}
