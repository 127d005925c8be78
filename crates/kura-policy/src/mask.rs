//! Masks: what a field shows in `masked` mode. Each rule reveals as little as still helps a
//! person recognise their own data (a support agent reading `t***@example.com` to a
//! caller), and nothing that would let a reader rebuild the value.
//!
//! All slicing is by extended grapheme cluster (UAX #29), never by byte, so a mask never
//! splits a character, a combining sequence or an emoji. A value a rule cannot parse is
//! shown as `***`: a mask fails towards revealing nothing.
//!
//! | rule ([`MaskRule`]) | default for | example in | example out |
//! | --- | --- | --- | --- |
//! | `email` | e-mail | `taro@example.com` | `t***@example.com` |
//! | `last_two` | phone | `090-1234-5678` | `*********78` |
//! | `last_four` | card, national id | `4111 1111 1111 1234` | `************1234` |
//! | `first_char` | name | `山田太郎`, `John` | `山***`, `J***` |
//! | `first_last` | login id | `taro_y` | `t***y` |
//! | `region` | postal address | see [`region`] | `東京都`, `CA`, `Berlin` |
//! | `year` | birth date | `1990-05-17` | `1990-**-**` |
//! | `full` | gender, credential, free text, other | anything | `***` |

use kura_model::MaskRule;
use unicode_segmentation::UnicodeSegmentation;

/// What every rule shows when it cannot or must not show more.
pub const HIDDEN: &str = "***";

/// Masks `value` by `rule`. `country` is the subject's ISO 3166-1 alpha-2 country (any
/// case); only [`MaskRule::Region`] uses it.
pub fn mask(rule: MaskRule, value: &str, country: &str) -> String {
    let value = value.trim();
    match rule {
        MaskRule::Email => email(value),
        MaskRule::LastTwo => last_digits(value, 2, 4),
        MaskRule::LastFour => last_digits(value, 4, 8),
        MaskRule::FirstChar => first_char(value),
        MaskRule::FirstLast => first_last(value),
        MaskRule::Region => region(value, country).unwrap_or_else(|| HIDDEN.to_owned()),
        MaskRule::Year => year(value),
        MaskRule::Full => HIDDEN.to_owned(),
    }
}

/// `t***@example.com`: the first grapheme of the local part, `***`, and the whole domain.
/// Without an `@`, or with an empty local part or domain: `***`.
fn email(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((local, domain)) if !domain.is_empty() => match local.graphemes(true).next() {
            Some(first) => format!("{first}***@{domain}"),
            None => HIDDEN.to_owned(),
        },
        _ => HIDDEN.to_owned(),
    }
}

/// The decimal value of an ASCII or full-width digit (Japanese numbers are often typed in
/// full width: `０９０`).
fn digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
        _ => None,
    }
}

/// Keeps the last `keep` digits (or, for cards and ids, alphanumerics), replacing every
/// earlier one with `*` and dropping separators: `090-1234-5678` -> `*********78`. Fewer
/// than `min` significant characters: `***` (showing `keep` of them would show too much).
fn last_digits(value: &str, keep: usize, min: usize) -> String {
    let sig: Vec<char> = value
        .chars()
        .filter_map(|c| digit(c).or_else(|| (keep == 4 && c.is_ascii_alphanumeric()).then_some(c)))
        .collect();
    if sig.len() < min {
        return HIDDEN.to_owned();
    }
    let mut out = "*".repeat(sig.len() - keep);
    out.extend(&sig[sig.len() - keep..]);
    out
}

/// The first grapheme and two or three `*`: one `*` per further grapheme, at least two
/// (so a two-letter name is not given away) and at most three (so a long name's length is
/// not either). `John` -> `J***`, `山田花` -> `山**`, `山田太郎` -> `山***`.
fn first_char(value: &str) -> String {
    let mut g = value.graphemes(true);
    let Some(first) = g.next() else {
        return HIDDEN.to_owned();
    };
    let stars = g.count().clamp(2, 3);
    format!("{first}{}", "*".repeat(stars))
}

/// First and last grapheme around `***`: `taro_y` -> `t***y`. Three graphemes or fewer:
/// `***` (first and last would be most of the value).
fn first_last(value: &str) -> String {
    let g: Vec<&str> = value.graphemes(true).collect();
    match g.as_slice() {
        [first, .., last] if g.len() > 3 => format!("{first}***{last}"),
        _ => HIDDEN.to_owned(),
    }
}

/// `1990-05-17` -> `1990-**-**`. Anything not starting with four ASCII digits and a `-`:
/// `***`.
fn year(value: &str) -> String {
    let b = value.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        // The first five bytes are ASCII, so slicing there is on a character boundary.
        format!("{}-**-**", &value[..4])
    } else {
        HIDDEN.to_owned()
    }
}

/// The 47 prefectures of Japan (都道府県), with their suffix, in JIS X 0401 order.
const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// USPS codes of the 50 states, DC, the territories and the military "states".
const US_STATES: [&str; 62] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "AS", "GU", "MP", "PR", "VI", "UM", "FM", "MH", "PW", "AA", "AE",
];

/// The region of a postal address, or `None` when it cannot be found (then the mask shows
/// `***`). The exact rules:
///
/// - **JP**: the prefecture (都道府県) that occurs earliest in the address, written in full
///   with its suffix (`東京都`, `大阪府`, `北海道`, `神奈川県`); `〒100-0001 東京都千代田区…`
///   gives `東京都`. Addresses written in Latin letters give `None`.
/// - **US**: the USPS state code written immediately before the ZIP code, the last such
///   pair in the address: `1600 Amphitheatre Pkwy, Mountain View, CA 94043` gives `CA`. The
///   ZIP is five digits, optionally `-` and four more; the code must be a known one
///   (states, DC, territories, APO/FPO), in capitals, separated by spaces or a comma.
/// - **DE**: the city written after the postal code (PLZ, five digits, the last one in the
///   address), up to the next comma or line break: `Unter den Linden 1, 10117 Berlin`
///   gives `Berlin`, `Marienplatz 8, 80331 München, Deutschland` gives `München`.
/// - Any other country: `None`.
pub fn region(address: &str, country: &str) -> Option<String> {
    if country.eq_ignore_ascii_case("JP") {
        PREFECTURES
            .iter()
            .filter_map(|p| address.find(p).map(|at| (at, *p)))
            .min()
            .map(|(_, p)| p.to_owned())
    } else if country.eq_ignore_ascii_case("US") {
        let tokens: Vec<&str> = address
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .collect();
        tokens
            .windows(2)
            .rev()
            .find_map(|w| (is_zip(w[1]) && US_STATES.contains(&w[0])).then(|| w[0].to_owned()))
    } else if country.eq_ignore_ascii_case("DE") {
        // Candidates: a run of exactly five ASCII digits not touching another digit or
        // letter, followed by white space. Take the last.
        let bytes = address.as_bytes();
        let mut found = None;
        let mut i = 0;
        while i + 5 <= bytes.len() {
            let run = &bytes[i..i + 5];
            let before_ok = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
            let after_ws = bytes.get(i + 5).is_some_and(|b| *b == b' ' || *b == b'\t');
            if before_ok && after_ws && run.iter().all(u8::is_ascii_digit) {
                found = Some(i + 5);
                i += 5;
            } else {
                i += 1;
            }
        }
        // `end` follows an ASCII byte, so it is a character boundary.
        let rest = &address[found?..];
        let city = rest.split([',', '\n', '\r']).next().unwrap_or("").trim();
        (!city.is_empty()).then(|| city.to_owned())
    } else {
        None
    }
}

fn is_zip(t: &str) -> bool {
    let b = t.as_bytes();
    let five = |s: &[u8]| s.len() == 5 && s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => five(b),
        10 => five(&b[..5]) && b[5] == b'-' && b[6..].iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MaskRule::*;

    fn m(rule: MaskRule, v: &str) -> String {
        mask(rule, v, "")
    }

    #[test]
    fn email_ja_en_de() {
        assert_eq!(m(Email, "taro@example.com"), "t***@example.com");
        assert_eq!(m(Email, "jürgen.müller@beispiel.de"), "j***@beispiel.de");
        assert_eq!(m(Email, "Ünal@beispiel.de"), "Ü***@beispiel.de");
        assert_eq!(m(Email, "山田@例え.jp"), "山***@例え.jp");
        // A combining sequence stays whole: e + U+0301.
        assert_eq!(
            m(Email, "e\u{301}lise@example.fr"),
            "e\u{301}***@example.fr"
        );
        assert_eq!(m(Email, "not-an-address"), "***");
        assert_eq!(m(Email, "@example.com"), "***");
        assert_eq!(m(Email, "taro@"), "***");
        assert_eq!(m(Email, ""), "***");
    }

    #[test]
    fn phone_shows_only_the_last_two_digits() {
        assert_eq!(m(LastTwo, "090-1234-5678"), "*********78");
        assert_eq!(m(LastTwo, "０９０－１２３４－５６７８"), "*********78");
        assert_eq!(m(LastTwo, "+1 (650) 253-0000"), "*********00");
        assert_eq!(m(LastTwo, "+49 30 1234567"), "*********67");
        assert_eq!(m(LastTwo, "110"), "***");
        assert_eq!(m(LastTwo, "no digits"), "***");
    }

    #[test]
    fn last_four_for_cards_and_ids() {
        assert_eq!(m(LastFour, "4111 1111 1111 1234"), "************1234");
        assert_eq!(m(LastFour, "X1234567"), "****4567");
        assert_eq!(m(LastFour, "1234567"), "***");
    }

    #[test]
    fn names_show_the_first_character() {
        assert_eq!(m(FirstChar, "John"), "J***");
        assert_eq!(m(FirstChar, "山田花"), "山**");
        assert_eq!(m(FirstChar, "山田太郎"), "山***");
        assert_eq!(m(FirstChar, "Jürgen Müller-Lüdenscheidt"), "J***");
        assert_eq!(m(FirstChar, "Ölaf"), "Ö***");
        assert_eq!(m(FirstChar, "李"), "李**");
        // An emoji flag is one grapheme of two scalar values.
        assert_eq!(m(FirstChar, "🇯🇵taro"), "🇯🇵***");
        assert_eq!(m(FirstChar, "  "), "***");
    }

    #[test]
    fn login_ids_show_first_and_last() {
        assert_eq!(m(FirstLast, "taro_y"), "t***y");
        assert_eq!(m(FirstLast, "ゲーマー太郎"), "ゲ***郎");
        assert_eq!(m(FirstLast, "jörg"), "j***g");
        assert_eq!(m(FirstLast, "abc"), "***");
        assert_eq!(m(FirstLast, "x"), "***");
    }

    #[test]
    fn birth_date_shows_the_year() {
        assert_eq!(m(Year, "1990-05-17"), "1990-**-**");
        assert_eq!(m(Year, "17.05.1990"), "***");
        assert_eq!(m(Year, "１９９０-05-17"), "***");
    }

    #[test]
    fn full_shows_nothing() {
        assert_eq!(m(Full, "female"), "***");
        assert_eq!(m(Full, ""), "***");
    }

    #[test]
    fn region_jp_prefecture() {
        let r = |a| mask(Region, a, "JP");
        assert_eq!(r("〒100-0001 東京都千代田区千代田1-1"), "東京都");
        assert_eq!(r("大阪府大阪市北区梅田3-1-1"), "大阪府");
        assert_eq!(r("京都府京都市東山区"), "京都府");
        assert_eq!(r("北海道札幌市中央区北1条西2丁目"), "北海道");
        assert_eq!(r("神奈川県横浜市西区"), "神奈川県");
        // The earliest prefecture wins even if another name appears later (a street
        // named after one).
        assert_eq!(r("東京都港区大阪府ビル3F"), "東京都");
        assert_eq!(r("1-1 Chiyoda, Tokyo"), "***");
        // Case of the country code does not matter.
        assert_eq!(mask(Region, "沖縄県那覇市", "jp"), "沖縄県");
    }

    #[test]
    fn region_us_state_before_zip() {
        let r = |a| mask(Region, a, "US");
        assert_eq!(r("1600 Amphitheatre Pkwy, Mountain View, CA 94043"), "CA");
        assert_eq!(r("350 Fifth Avenue\nNew York, NY 10118-0110"), "NY");
        assert_eq!(r("1 Main St, Springfield,IL,62701"), "IL");
        assert_eq!(r("1 Main St, Springfield, XX 62701"), "***");
        assert_eq!(r("1 Main St, Springfield, ca 62701"), "***");
        assert_eq!(r("PO Box 12345"), "***");
    }

    #[test]
    fn region_de_city_after_plz() {
        let r = |a| mask(Region, a, "DE");
        assert_eq!(r("Unter den Linden 1, 10117 Berlin"), "Berlin");
        assert_eq!(r("Marienplatz 8, 80331 München, Deutschland"), "München");
        assert_eq!(
            r("Kaiserstraße 12\n60311 Frankfurt am Main"),
            "Frankfurt am Main"
        );
        assert_eq!(r("Hauptstr. 123456 Nirgendwo"), "***");
        assert_eq!(r("Postfach 10117"), "***");
    }

    #[test]
    fn region_elsewhere_is_hidden() {
        assert_eq!(
            mask(Region, "10 Downing Street, London SW1A 2AA", "GB"),
            "***"
        );
        assert_eq!(mask(Region, "東京都千代田区", "FR"), "***");
    }

    #[test]
    fn masks_never_contain_more_than_they_should() {
        // A mask is never the value itself for values long enough to hide.
        for (rule, v) in [
            (Email, "taro@example.com"),
            (LastTwo, "09012345678"),
            (FirstChar, "Taro"),
            (FirstLast, "taro_y"),
            (Year, "1990-05-17"),
        ] {
            assert_ne!(m(rule, v), v);
        }
    }
}
