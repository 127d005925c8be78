//! What a notice is rendered from ([`NoticeContext`], [`PublicContext`]) and what the
//! template sees: category display names per language, localized dates, and booleans
//! that choose the advice.
//!
//! # Invariant
//! Neither context can carry an exposed value: the person appears only as category ids
//! (`email`, `payment_card`, ...), never as a name, address, e-mail or card number. The
//! officer texts are free text written for every recipient alike; whoever writes them
//! must keep values out (the tests show that a body then contains no address).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::NoticeError;

/// Everything a notice to one person is rendered from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoticeContext {
    /// The organization holding the data.
    pub holder: String,
    /// The contact point: the officer's name and how to reach them (free text).
    pub contact: String,
    /// The incident reference the person can quote.
    pub incident_ref: String,
    /// Start of the breach window (Unix milliseconds).
    pub window_from_ms: i64,
    /// End of the breach window (Unix milliseconds).
    pub window_to_ms: i64,
    /// When the notice is issued (Unix milliseconds; the caller's clock).
    pub notice_ms: i64,
    /// IANA time zone the dates are shown in (`Asia/Tokyo`).
    pub time_zone: String,
    /// Category ids confirmed exposed for this person.
    pub confirmed: Vec<String>,
    /// Category ids possibly exposed for this person.
    pub potential: Vec<String>,
    /// The holder has already forced a password reset for this person.
    pub must_reset: bool,
    /// What happened (officer text, in the notice's language).
    pub what_happened: String,
    /// The cause, as far as known (officer text).
    pub cause: String,
    /// The likely consequences (officer text).
    pub likely_consequences: String,
    /// What the holder did and does (officer text).
    pub measures: String,
    /// Whether a law-enforcement investigation delayed the notice, and how; `None`: it
    /// was not delayed.
    pub law_enforcement_delay: Option<String>,
    /// A remediation offer (credit monitoring, identity protection).
    pub remediation: Option<Offer>,
    /// What is available where no offer exists (officer text).
    pub remediation_instead: Option<String>,
    /// Operator extras for overriding templates (`extra.<key>`; use
    /// `extra.<key> | default("")` for keys that may be absent).
    pub extra: BTreeMap<String, String>,
}

/// A remediation offer. Its `code` is a per-person enrolment code: redacted in `Debug`.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Offer {
    /// Who provides it.
    pub provider: String,
    /// What it is and for how long.
    pub description: String,
    /// Where to enrol.
    pub url: Option<String>,
    /// The person's enrolment code.
    pub code: Option<String>,
}

impl std::fmt::Debug for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offer")
            .field("provider", &self.provider)
            .field("description", &self.description)
            .field("url", &self.url)
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Everything the substitute public notice is rendered from: the incident overall, for
/// people who could not be reached individually.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PublicContext {
    /// The organization holding the data.
    pub holder: String,
    /// The contact point (free text).
    pub contact: String,
    /// The incident reference.
    pub incident_ref: String,
    /// Start of the breach window (Unix milliseconds).
    pub window_from_ms: i64,
    /// End of the breach window (Unix milliseconds).
    pub window_to_ms: i64,
    /// When the notice is published (Unix milliseconds).
    pub notice_ms: i64,
    /// IANA time zone for the dates.
    pub time_zone: String,
    /// Category ids confirmed exposed for anyone.
    pub confirmed: Vec<String>,
    /// Category ids possibly exposed for anyone.
    pub potential: Vec<String>,
    /// What happened (officer text).
    pub what_happened: String,
    /// The cause (officer text).
    pub cause: String,
    /// The likely consequences (officer text).
    pub likely_consequences: String,
    /// What the holder did (officer text).
    pub measures: String,
    /// How many people could not be reached individually (0: not shown).
    pub people_unreachable: u64,
    /// Operator extras.
    pub extra: BTreeMap<String, String>,
}

/// The display name of a category id in `lang` (`en`, `ja`, `de`, `ko`; other languages
/// get English). An unknown id is returned as it is.
pub fn category_name<'a>(id: &'a str, lang: &str) -> &'a str {
    const T: &[(&str, [&str; 4])] = &[
        // id, [en, ja, de, ko]
        ("name", ["Name", "氏名", "Name", "이름"]),
        (
            "postal_address",
            ["Postal address", "住所", "Postanschrift", "주소"],
        ),
        (
            "email",
            [
                "Email address",
                "メールアドレス",
                "E-Mail-Adresse",
                "이메일 주소",
            ],
        ),
        (
            "phone",
            ["Phone number", "電話番号", "Telefonnummer", "전화번호"],
        ),
        (
            "birth_date",
            ["Date of birth", "生年月日", "Geburtsdatum", "생년월일"],
        ),
        ("gender", ["Gender", "性別", "Geschlecht", "성별"]),
        (
            "login_id",
            [
                "User name or login ID",
                "ログインID",
                "Benutzername",
                "로그인 아이디",
            ],
        ),
        (
            "credential",
            [
                "Password (stored in protected form)",
                "パスワード（保護された形式で保存されたもの）",
                "Passwort (geschützt gespeichert)",
                "비밀번호(보호된 형태로 저장된 것)",
            ],
        ),
        (
            "payment_card",
            [
                "Payment card details",
                "クレジットカード情報",
                "Zahlungskartendaten",
                "결제카드 정보",
            ],
        ),
        (
            "national_id",
            [
                "Government identification number",
                "公的な識別番号",
                "Amtliche Identifikationsnummer",
                "주민등록번호 등 고유식별정보",
            ],
        ),
        (
            "free_text",
            [
                "Free-text notes you entered",
                "ご自身で入力された自由記述",
                "Von Ihnen eingegebene Freitexte",
                "직접 입력하신 자유 기재 내용",
            ],
        ),
        (
            "other",
            [
                "Other account data",
                "その他のアカウント情報",
                "Sonstige Kontodaten",
                "기타 계정 정보",
            ],
        ),
        (
            "country_and_locale",
            [
                "Country and language setting",
                "国・言語の設定",
                "Land- und Spracheinstellung",
                "국가 및 언어 설정",
            ],
        ),
    ];
    let col = match lang {
        "ja" => 1,
        "de" => 2,
        "ko" => 3,
        _ => 0,
    };
    T.iter()
        .find(|(k, _)| *k == id)
        .map_or(id, |(_, names)| names[col])
}

/// A date (day precision) in `lang`: en `3 February 2026`, ja `2026年2月3日`, de
/// `3. Februar 2026`, ko `2026년 2월 3일`, otherwise ISO 8601.
pub(crate) fn format_date(
    ms: i64,
    tz: &jiff::tz::TimeZone,
    lang: &str,
) -> Result<String, NoticeError> {
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DE: [&str; 12] = [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ];
    let ts = jiff::Timestamp::from_millisecond(ms).map_err(|e| NoticeError::Time(e.to_string()))?;
    let d = ts.to_zoned(tz.clone()).date();
    let (y, m, day) = (d.year(), d.month(), d.day());
    // `month()` is 1..=12 by jiff's invariant.
    let mi = usize::try_from(m - 1).unwrap_or(0).min(11);
    Ok(match lang {
        "en" => format!("{day} {} {y}", EN[mi]),
        "de" => format!("{day}. {} {y}", DE[mi]),
        "ja" => format!("{y}年{m}月{day}日"),
        "ko" => format!("{y}년 {m}월 {day}일"),
        _ => format!("{y:04}-{m:02}-{day:02}"),
    })
}

/// The time zone for `name`, from the bundled IANA database (no file is read).
pub(crate) fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, NoticeError> {
    jiff::tz::TimeZoneDatabase::bundled()
        .get(name)
        .map_err(|_| NoticeError::TimeZone(name.to_owned()))
}

/// Categories as the template sees them.
#[derive(Debug, Serialize)]
pub(crate) struct CategoriesView {
    /// Display names of confirmed categories, in the caller's order, without repeats.
    confirmed: Vec<String>,
    /// Display names of potential categories not also confirmed.
    potential: Vec<String>,
    /// The ids, for templates that branch on them.
    confirmed_ids: Vec<String>,
    potential_ids: Vec<String>,
    credentials_involved: bool,
    card_involved: bool,
    government_id_involved: bool,
    must_reset: bool,
}

impl CategoriesView {
    fn new(confirmed: &[String], potential: &[String], must_reset: bool, lang: &str) -> Self {
        let mut c_ids: Vec<String> = Vec::new();
        for id in confirmed {
            if !c_ids.contains(id) {
                c_ids.push(id.clone());
            }
        }
        let mut p_ids: Vec<String> = Vec::new();
        for id in potential {
            if !c_ids.contains(id) && !p_ids.contains(id) {
                p_ids.push(id.clone());
            }
        }
        let any = |k: &str| c_ids.iter().chain(&p_ids).any(|i| i == k);
        CategoriesView {
            confirmed: c_ids
                .iter()
                .map(|i| category_name(i, lang).to_owned())
                .collect(),
            potential: p_ids
                .iter()
                .map(|i| category_name(i, lang).to_owned())
                .collect(),
            credentials_involved: any("credential"),
            card_involved: any("payment_card"),
            government_id_involved: any("national_id"),
            confirmed_ids: c_ids,
            potential_ids: p_ids,
            must_reset,
        }
    }
}

/// What a notice template sees.
#[derive(Debug, Serialize)]
pub(crate) struct NoticeView<'a> {
    holder: &'a str,
    contact: &'a str,
    incident_ref: &'a str,
    date_from: String,
    date_to: String,
    same_day: bool,
    notice_date: String,
    time_zone: &'a str,
    person: CategoriesView,
    what_happened: &'a str,
    cause: &'a str,
    likely_consequences: &'a str,
    measures: &'a str,
    law_enforcement_delay: Option<&'a str>,
    remediation: Option<&'a Offer>,
    remediation_instead: Option<&'a str>,
    extra: &'a BTreeMap<String, String>,
}

impl<'a> NoticeView<'a> {
    pub(crate) fn new(c: &'a NoticeContext, lang: &str) -> Result<Self, NoticeError> {
        let tz = time_zone(&c.time_zone)?;
        let date_from = format_date(c.window_from_ms, &tz, lang)?;
        let date_to = format_date(c.window_to_ms, &tz, lang)?;
        Ok(NoticeView {
            holder: &c.holder,
            contact: &c.contact,
            incident_ref: &c.incident_ref,
            same_day: date_from == date_to,
            date_from,
            date_to,
            notice_date: format_date(c.notice_ms, &tz, lang)?,
            time_zone: &c.time_zone,
            person: CategoriesView::new(&c.confirmed, &c.potential, c.must_reset, lang),
            what_happened: &c.what_happened,
            cause: &c.cause,
            likely_consequences: &c.likely_consequences,
            measures: &c.measures,
            law_enforcement_delay: c
                .law_enforcement_delay
                .as_deref()
                .filter(|s| !s.trim().is_empty()),
            remediation: c.remediation.as_ref(),
            remediation_instead: c
                .remediation_instead
                .as_deref()
                .filter(|s| !s.trim().is_empty()),
            extra: &c.extra,
        })
    }
}

/// What the public page template sees.
#[derive(Debug, Serialize)]
pub(crate) struct PublicView<'a> {
    holder: &'a str,
    contact: &'a str,
    incident_ref: &'a str,
    date_from: String,
    date_to: String,
    same_day: bool,
    notice_date: String,
    time_zone: &'a str,
    overall: CategoriesView,
    what_happened: &'a str,
    cause: &'a str,
    likely_consequences: &'a str,
    measures: &'a str,
    people_unreachable: u64,
    extra: &'a BTreeMap<String, String>,
}

impl<'a> PublicView<'a> {
    pub(crate) fn new(c: &'a PublicContext, lang: &str) -> Result<Self, NoticeError> {
        let tz = time_zone(&c.time_zone)?;
        let date_from = format_date(c.window_from_ms, &tz, lang)?;
        let date_to = format_date(c.window_to_ms, &tz, lang)?;
        Ok(PublicView {
            holder: &c.holder,
            contact: &c.contact,
            incident_ref: &c.incident_ref,
            same_day: date_from == date_to,
            date_from,
            date_to,
            notice_date: format_date(c.notice_ms, &tz, lang)?,
            time_zone: &c.time_zone,
            overall: CategoriesView::new(&c.confirmed, &c.potential, false, lang),
            what_happened: &c.what_happened,
            cause: &c.cause,
            likely_consequences: &c.likely_consequences,
            measures: &c.measures,
            people_unreachable: c.people_unreachable,
            extra: &c.extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-02-03T12:00:00Z
    const FEB3: i64 = 1_770_120_000_000;

    #[test]
    fn dates_per_language_in_the_zone() {
        let tz = time_zone("Asia/Tokyo").unwrap();
        assert_eq!(format_date(FEB3, &tz, "en").unwrap(), "3 February 2026");
        assert_eq!(format_date(FEB3, &tz, "ja").unwrap(), "2026年2月3日");
        assert_eq!(format_date(FEB3, &tz, "de").unwrap(), "3. Februar 2026");
        assert_eq!(format_date(FEB3, &tz, "ko").unwrap(), "2026년 2월 3일");
        assert_eq!(format_date(FEB3, &tz, "fr").unwrap(), "2026-02-03");
        // 20:00 in Los Angeles is already the next day in Tokyo.
        let la = time_zone("America/Los_Angeles").unwrap();
        let late = FEB3 + 8 * 3_600_000 + 30 * 60_000 + 4 * 3_600_000;
        assert_eq!(format_date(late, &la, "en").unwrap(), "3 February 2026");
        assert_eq!(format_date(late, &tz, "en").unwrap(), "4 February 2026");
    }

    #[test]
    fn unknown_zone_is_an_error() {
        let e = time_zone("Mars/Olympus").unwrap_err();
        assert_eq!(e.code(), "time_zone_unknown");
    }

    #[test]
    fn category_names() {
        assert_eq!(category_name("email", "ja"), "メールアドレス");
        assert_eq!(category_name("email", "de"), "E-Mail-Adresse");
        assert_eq!(category_name("email", "fr"), "Email address");
        assert_eq!(category_name("shoe_size", "en"), "shoe_size");
    }

    #[test]
    fn potential_already_confirmed_is_shown_once() {
        let v = CategoriesView::new(
            &["email".into(), "email".into()],
            &["email".into(), "payment_card".into()],
            false,
            "en",
        );
        assert_eq!(v.confirmed, ["Email address"]);
        assert_eq!(v.potential, ["Payment card details"]);
        assert!(v.card_involved && !v.credentials_involved);
    }

    #[test]
    fn offer_code_is_redacted_in_debug() {
        let o = Offer {
            code: Some("ENROL-1234".into()),
            ..Offer::default()
        };
        assert!(!format!("{o:?}").contains("ENROL-1234"));
    }
}
