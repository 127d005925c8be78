//! Message builders for the two credential mails, in English, Japanese and
//! German: "your recovery code" and "your password was changed".
//!
//! The language follows the subject's locale (`ja`, `ja-JP`, `de_AT` ...),
//! falling back to English. The mails carry no personal data besides the
//! address they go to: no name, no login id, no birth date, no partial
//! address. A recovery mail carries the token (and a link if configured);
//! a change notice carries the time of the change in UTC.
//!
//! Composition only: a [`ComposedMail`] is handed to a transport (kura-mail)
//! by the caller; nothing here sends or writes. What it leaves out: HTML
//! bodies and operator-branded templates.

use zeroize::Zeroizing;

use crate::recovery::{RecoveryToken, TOKEN_TTL_SECS};

/// A composed message: recipient, subject line and plain-text body. The body
/// may hold a recovery token, so it is wiped on drop and `Debug` shows
/// neither it nor the address.
pub struct ComposedMail {
    /// Recipient address (the subject's address on file).
    pub to: String,
    /// Subject line (UTF-8).
    pub subject: String,
    /// Plain-text body (UTF-8).
    pub body: Zeroizing<String>,
}

impl std::fmt::Debug for ComposedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposedMail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A supported mail language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Language {
    /// English (the fallback).
    En,
    /// Japanese.
    Ja,
    /// German.
    De,
}

impl Language {
    /// Picks the language for a BCP 47 / POSIX locale tag by its primary
    /// subtag, case-insensitively; unknown or empty tags give English.
    #[must_use]
    pub fn from_locale(locale: &str) -> Self {
        let primary = locale
            .split(['-', '_', '.'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "ja" => Self::Ja,
            "de" => Self::De,
            _ => Self::En,
        }
    }
}

/// The recovery mail: the token, how long it is valid, and what to do if the
/// subject did not ask. `recovery_url` (from `[mail] recovery_url`) gets the
/// token appended to form a link.
#[must_use]
pub fn recovery_mail(
    locale: &str,
    to: &str,
    token: &RecoveryToken,
    recovery_url: Option<&str>,
) -> ComposedMail {
    let minutes = TOKEN_TTL_SECS / 60;
    let t = token.expose();
    let lang = Language::from_locale(locale);
    let (subject, intro, link_line, outro) = match lang {
        Language::Ja => (
            "パスワード再設定のご案内",
            format!(
                "お客様のアカウントのパスワード再設定が要求されました。\
                 ご本人による操作の場合は、{minutes}分以内に次のワンタイムコードをお使いください。"
            ),
            "または次のリンクを開いてください:",
            "お心当たりがない場合は、このメールを破棄してください。パスワードは変更されません。\
             アカウントの回復のために、パスワード・生年月日・住所などをお尋ねすることはありません。",
        ),
        Language::De => (
            "Zurücksetzen Ihres Passworts",
            format!(
                "Für Ihr Konto wurde das Zurücksetzen des Passworts angefordert. Wenn Sie das \
                 waren, verwenden Sie innerhalb von {minutes} Minuten diesen einmaligen Code:"
            ),
            "Oder öffnen Sie diesen Link:",
            "Wenn Sie das nicht angefordert haben, ignorieren Sie diese Nachricht; Ihr Passwort \
             bleibt unverändert. Um Ihr Konto wiederherzustellen, fragen wir nie nach Passwort, \
             Geburtsdatum oder Adresse.",
        ),
        Language::En => (
            "Your password recovery code",
            format!(
                "Someone asked to reset the password of your account. If it was you, use this \
                 one-time code within {minutes} minutes:"
            ),
            "Or open this link:",
            "If you did not ask for this, ignore this message: your password stays unchanged. \
             We never ask for your password, birth date or address to recover your account.",
        ),
    };
    let mut body = Zeroizing::new(String::with_capacity(1024));
    body.push_str(&intro);
    body.push_str("\n\n    ");
    body.push_str(t);
    body.push_str("\n\n");
    if let Some(url) = recovery_url {
        body.push_str(link_line);
        body.push_str("\n\n    ");
        body.push_str(url);
        body.push_str(t);
        body.push_str("\n\n");
    }
    body.push_str(outro);
    body.push('\n');
    ComposedMail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body,
    }
}

/// The notice sent after a password change (including a completed recovery).
#[must_use]
pub fn password_changed_mail(locale: &str, to: &str, changed_at_unix: u64) -> ComposedMail {
    let when = utc_timestamp(changed_at_unix);
    let (subject, text) = match Language::from_locale(locale) {
        Language::Ja => (
            "パスワードが変更されました",
            format!(
                "お客様のアカウントのパスワードが {when}（UTC）に変更されました。\
                 ご本人による変更であれば、対応は不要です。\
                 お心当たりがない場合は、直ちにパスワードの再設定を行い、サポートにご連絡ください。"
            ),
        ),
        Language::De => (
            "Ihr Passwort wurde geändert",
            format!(
                "Das Passwort Ihres Kontos wurde am {when} (UTC) geändert. Wenn Sie das waren, \
                 ist nichts weiter zu tun. Wenn nicht, fordern Sie sofort eine \
                 Passwort-Wiederherstellung an und wenden Sie sich an den Support."
            ),
        ),
        Language::En => (
            "Your password was changed",
            format!(
                "The password of your account was changed on {when} (UTC). If this was you, \
                 there is nothing to do. If it was not, request a password recovery at once \
                 and contact support."
            ),
        ),
    };
    ComposedMail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body: Zeroizing::new(text + "\n"),
    }
}

/// `YYYY-MM-DD HH:MM` in UTC for Unix seconds (proleptic Gregorian; the
/// days-to-civil conversion of H. Hinnant's `chrono`-compatible algorithm).
fn utc_timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::issue;

    #[test]
    fn language_choice() {
        assert_eq!(Language::from_locale("ja-JP"), Language::Ja);
        assert_eq!(Language::from_locale("JA"), Language::Ja);
        assert_eq!(Language::from_locale("de_AT.UTF-8"), Language::De);
        assert_eq!(Language::from_locale("fr-FR"), Language::En);
        assert_eq!(Language::from_locale(""), Language::En);
    }

    #[test]
    fn recovery_mail_per_language() {
        let (token, _) = issue(0).expect("token");
        for (loc, needle) in [
            ("en", "one-time code"),
            ("ja", "ワンタイムコード"),
            ("de", "einmaligen Code"),
        ] {
            let m = recovery_mail(
                loc,
                "a@example.org",
                &token,
                Some("https://svc.example/r#t="),
            );
            assert!(m.body.contains(needle), "{loc}");
            assert!(m.body.contains(token.expose()));
            assert!(
                m.body
                    .contains(&format!("https://svc.example/r#t={}", token.expose()))
            );
            assert!(m.body.contains("30"));
            // No personal data besides the recipient field itself.
            assert!(!m.body.contains("a@example.org") && !m.subject.contains("example"));
        }
        let m = recovery_mail("xx", "a@example.org", &token, None);
        assert!(m.subject.starts_with("Your password"));
        assert!(!m.body.contains("http"));
        assert!(!format!("{m:?}").contains(token.expose()));
    }

    #[test]
    fn changed_mail_and_timestamp() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_timestamp(1_798_761_599), "2026-12-31 23:59");
        let m = password_changed_mail("de-DE", "a@example.org", 1_798_761_599);
        assert_eq!(m.subject, "Ihr Passwort wurde geändert");
        assert!(m.body.contains("2026-12-31 23:59"));
        let m = password_changed_mail("ja", "a@example.org", 0);
        assert!(m.body.contains("1970-01-01 00:00（UTC）"));
    }
}
