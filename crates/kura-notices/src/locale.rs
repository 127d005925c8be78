//! Language choice: a subject's locale (BCP 47 or POSIX), else the main language of
//! their country, else English. Pure functions; which templates exist is applied by
//! [`crate::NoticeTemplates::resolve`].
//!
//! Leaves out: script and region variants (`zh-Hant`, `pt-BR` vs `pt-PT`): only the
//! primary language subtag chooses a template.

/// The primary language subtag of a BCP 47 (`ja-JP`) or POSIX (`de_AT.UTF-8`) locale,
/// lowercased; `None` for an empty, `C`/`POSIX` or malformed locale.
pub fn primary_language(locale: &str) -> Option<String> {
    let primary = locale
        .split(['-', '_', '.', '@'])
        .next()
        .unwrap_or_default()
        .trim();
    let ok = (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    ok.then(|| primary.to_ascii_lowercase())
}

/// The main language of a country (ISO 3166-1 alpha-2, case-insensitive; a subdivision
/// such as `US-CA` counts as its country). `None` for a country not in the table, or one
/// with no single main language (Belgium, Luxembourg): the chain then goes to English.
pub fn country_language(country: &str) -> Option<&'static str> {
    let cc = country
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    Some(match cc.as_str() {
        "JP" => "ja",
        "DE" | "AT" | "CH" | "LI" => "de",
        "KR" => "ko",
        "US" | "GB" | "UK" | "IE" | "AU" | "CA" | "NZ" | "SG" | "IN" | "ZA" => "en",
        "FR" | "MC" => "fr",
        "BR" | "PT" | "AO" | "MZ" => "pt",
        "ES" | "MX" | "AR" | "CO" | "CL" | "PE" | "UY" => "es",
        "IT" | "SM" => "it",
        "NL" => "nl",
        "SE" => "sv",
        "DK" => "da",
        "NO" => "nb",
        "FI" => "fi",
        "PL" => "pl",
        "CZ" => "cs",
        "CN" | "TW" | "HK" => "zh",
        _ => return None,
    })
}

/// The languages to try, in order, without repeats: the locale's primary language, the
/// country's main language, then `en`.
pub fn lang_chain(locale: &str, country: &str) -> Vec<String> {
    let mut chain: Vec<String> = Vec::with_capacity(3);
    let candidates = [
        primary_language(locale),
        country_language(country).map(str::to_owned),
        Some("en".to_owned()),
    ];
    for lang in candidates.into_iter().flatten() {
        if !chain.contains(&lang) {
            chain.push(lang);
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_subtag_in_any_spelling() {
        assert_eq!(primary_language("ja-JP").as_deref(), Some("ja"));
        assert_eq!(primary_language("de_AT.UTF-8").as_deref(), Some("de"));
        assert_eq!(primary_language("DE").as_deref(), Some("de"));
        assert_eq!(primary_language("C"), None);
        assert_eq!(primary_language(""), None);
        assert_eq!(primary_language("12-34"), None);
    }

    #[test]
    fn country_with_subdivision() {
        assert_eq!(country_language("US-CA"), Some("en"));
        assert_eq!(country_language("at"), Some("de"));
        assert_eq!(country_language("BE"), None);
    }

    #[test]
    fn chain_is_locale_country_english() {
        assert_eq!(lang_chain("fr-FR", "DE"), ["fr", "de", "en"]);
        assert_eq!(lang_chain("ja-JP", "JP"), ["ja", "en"]);
        assert_eq!(lang_chain("", "KR"), ["ko", "en"]);
        assert_eq!(lang_chain("en", "XX"), ["en"]);
    }
}
