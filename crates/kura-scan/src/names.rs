//! The name dictionary (given names and surnames in en, de and ja) and the test whether a
//! field value looks like a personal name.
//!
//! The word lists are data files under `data/` (their source and licence are noted in
//! `data/README.md`); they are compiled into the binary.

use std::collections::HashSet;
use std::sync::LazyLock;

const GIVEN: &str = include_str!("../data/given-names.txt");
const SURNAMES: &str = include_str!("../data/surnames.txt");
const CENSUS_GIVEN: &str = include_str!("../data/census-1990-given-names.txt");
const CENSUS_SURNAMES: &str = include_str!("../data/census-1990-surnames.txt");

/// Given names and surnames of the US Census 1990 files (title case), only for
/// [`is_known`]: never compiled into a regex.
static CENSUS_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| words(CENSUS_GIVEN).chain(words(CENSUS_SURNAMES)).collect());

/// Given names of the US Census 1990 files, for [`starts_with_given`].
static CENSUS_GIVEN_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| words(CENSUS_GIVEN).collect());

/// Whether a name starts with a known given name (`Dana Whitcombe`), or is written in kanji
/// and kana (where the surname comes first and the dictionaries decide).
pub(crate) fn starts_with_given(name: &str) -> bool {
    let first = name.split([' ', '　']).next().unwrap_or("");
    first.chars().any(is_cjk) || GIVEN_SET.contains(first) || CENSUS_GIVEN_SET.contains(first)
}

/// Whether `token` (as written: `Smith`, `Müller`, `山田`) is a given name or surname of any
/// of the dictionaries.
pub(crate) fn is_known(token: &str) -> bool {
    GIVEN_SET.contains(token) || SURNAME_SET.contains(token) || CENSUS_SET.contains(token)
}

/// Given names, one entry per line of the data file.
pub(crate) static GIVEN_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| words(GIVEN).collect());
/// Surnames, one entry per line of the data file.
pub(crate) static SURNAME_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| words(SURNAMES).collect());

fn words(list: &'static str) -> impl Iterator<Item = &'static str> {
    list.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Whether `c` is written in Japanese names: kanji, hiragana, katakana, `ー`, `々`.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | 'ー' | '\u{4E00}'..='\u{9FFF}' | '々')
}

/// Regex alternation of given names written in Latin letters (longest first).
pub(crate) fn latin_given_alternation() -> String {
    alternation(GIVEN, |w| {
        w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
    })
}

/// Regex alternation of Japanese surnames (longest first).
pub(crate) fn japanese_surname_alternation() -> String {
    alternation(SURNAMES, |w| w.chars().all(is_cjk))
}

fn alternation(list: &'static str, keep: impl Fn(&str) -> bool) -> String {
    let mut v: Vec<&str> = words(list).filter(|w| keep(w)).collect();
    v.sort_by_key(|w| std::cmp::Reverse(w.len()));
    v.dedup();
    v.join("|")
}

/// How much a value looks like a personal name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NameShape {
    /// Not a name (digits, symbols, too long, lower-case words).
    No,
    /// Shaped like a name, but no word is in the dictionary.
    Shaped,
    /// Shaped like a name and at least one word is a known given name or surname.
    Known,
}

/// Judges whether a field value looks like a personal name (1-4 words; capitalised Latin
/// words, or 2-10 Japanese characters).
pub(crate) fn name_shape(value: &str) -> NameShape {
    let v = value.trim();
    let n = v.chars().count();
    if !(2..=60).contains(&n) {
        return NameShape::No;
    }
    if v.chars()
        .any(|c| c.is_ascii_digit() || "@/:=_#<>{}[]()|\\%$&*+".contains(c))
    {
        return NameShape::No;
    }
    let tokens: Vec<&str> = v
        .split([' ', '　', ','])
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() || tokens.len() > 4 {
        return NameShape::No;
    }
    let all_cjk = v.chars().all(|c| is_cjk(c) || c == ' ' || c == '　');
    if all_cjk {
        if !(2..=10).contains(&n) {
            return NameShape::No;
        }
        let known = tokens
            .iter()
            .any(|t| SURNAME_SET.contains(t) || GIVEN_SET.contains(t))
            || SURNAME_SET
                .iter()
                .any(|s| s.chars().all(is_cjk) && v.starts_with(s));
        return if known {
            NameShape::Known
        } else {
            NameShape::Shaped
        };
    }
    let particles = [
        "von", "van", "de", "der", "den", "zu", "da", "di", "le", "la",
    ];
    let shaped = tokens.iter().all(|t| {
        let mut cs = t.chars();
        let first_ok = cs.next().is_some_and(char::is_uppercase);
        first_ok
            && t.chars()
                .all(|c| c.is_alphabetic() || matches!(c, '-' | '\'' | '.'))
            || particles.contains(t)
    });
    if !shaped {
        return NameShape::No;
    }
    let known = tokens.iter().any(|t| is_known(t));
    if known {
        NameShape::Known
    } else {
        NameShape::Shaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(name_shape("John Smith"), NameShape::Known);
        assert_eq!(name_shape("Xorvan Quonset"), NameShape::Shaped);
        assert_eq!(name_shape("山田 太郎"), NameShape::Known);
        assert_eq!(name_shape("山田太郎"), NameShape::Known);
        assert_eq!(name_shape("Jürgen Müller"), NameShape::Known);
        assert_eq!(name_shape("widget pro 3000"), NameShape::No);
        assert_eq!(name_shape("ACME-1000"), NameShape::No);
    }

    #[test]
    fn alternations_are_nonempty() {
        assert!(latin_given_alternation().contains("James"));
        assert!(japanese_surname_alternation().contains("佐藤"));
    }
}
