//! The console's words in English, Japanese and German, chosen by the browser's
//! `Accept-Language`.
//!
//! Every text is one arm of one `match` with all three languages side by side: a key
//! without a translation does not compile.

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the fallback).
    En,
    /// Japanese.
    Ja,
    /// German.
    De,
}

impl Lang {
    /// The first language of an `Accept-Language` header the console speaks, by the
    /// header's weights (ties: the header's order); English when none is.
    pub fn from_accept(header: Option<&str>) -> Lang {
        let Some(h) = header else { return Lang::En };
        let mut best: Option<(u32, usize, Lang)> = None;
        for (i, part) in h.split(',').enumerate().take(32) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = match tag.split('-').next().unwrap_or("") {
                "ja" => Lang::Ja,
                "de" => Lang::De,
                "en" => Lang::En,
                _ => continue,
            };
            let w = (q.clamp(0.0, 1.0) * 1000.0) as u32;
            if w == 0 {
                continue;
            }
            if best.is_none_or(|(bw, bi, _)| w > bw || (w == bw && i < bi)) {
                best = Some((w, i, lang));
            }
        }
        best.map_or(Lang::En, |(_, _, l)| l)
    }

    /// The BCP 47 tag (`lang` attribute).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
            Lang::De => "de",
        }
    }
}

macro_rules! texts {
    ($($key:ident => $en:expr, $ja:expr, $de:expr;)*) => {
        /// A text of the console.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum T { $($key),* }

        impl T {
            /// Every text (for the completeness test).
            pub const ALL: &'static [T] = &[$(T::$key),*];

            /// The text in `lang`.
            pub fn get(self, lang: Lang) -> &'static str {
                match self {
                    $(T::$key => match lang { Lang::En => $en, Lang::Ja => $ja, Lang::De => $de },)*
                }
            }
        }
    };
}

texts! {
    Product => "kura console", "kura コンソール", "kura-Konsole";
    SignIn => "Sign in", "サインイン", "Anmelden";
    SignOut => "Sign out", "サインアウト", "Abmelden";
    KeyLabel => "API key", "API キー", "API-Schlüssel";
    KeyHelp => "Your operator key, or the key of your own account. It is exchanged for a session and not kept in the browser.",
        "オペレーターキー、またはご本人のアカウントのキー。セッションに交換され、ブラウザには保存されません。",
        "Ihr Operator-Schlüssel oder der Schlüssel Ihres eigenen Kontos. Er wird gegen eine Sitzung getauscht und nicht im Browser gespeichert.";
    BadKey => "This key was not accepted.", "このキーは受け付けられませんでした。", "Dieser Schlüssel wurde nicht angenommen.";
    TooManySessions => "Too many sessions are open; try again later.", "開いているセッションが多すぎます。後でもう一度お試しください。", "Zu viele offene Sitzungen; bitte später erneut versuchen.";
    Incidents => "Incidents", "インシデント", "Vorfälle";
    Containment => "Containment", "封じ込め", "Eindämmung";
    Posture => "Posture", "体制", "Sicherheitslage";
    MyData => "My data", "私のデータ", "Meine Daten";
    NoIncidents => "No incidents.", "インシデントはありません。", "Keine Vorfälle.";
    Title => "Title", "件名", "Titel";
    Status => "Status", "状態", "Status";
    Trigger => "Trigger", "契機", "Auslöser";
    Opened => "Opened", "開始", "Eröffnet";
    Suspects => "Suspects", "被疑主体", "Verdächtige";
    Vector => "Vector", "経路", "Angriffsweg";
    Timeline => "Timeline", "タイムライン", "Zeitachse";
    When => "When", "日時", "Zeitpunkt";
    By => "By", "実施者", "Durch";
    Change => "Change", "変更", "Änderung";
    Reason => "Reason", "理由", "Begründung";
    Exposure => "Exposure", "影響範囲", "Betroffenheit";
    NotScoped => "Not scoped yet.", "まだ範囲が算定されていません。", "Noch nicht eingegrenzt.";
    ScopeNow => "Compute the scope now", "今すぐ範囲を算定", "Umfang jetzt berechnen";
    People => "People affected", "影響を受けた人数", "Betroffene Personen";
    Confirmed => "confirmed", "確定", "bestätigt";
    Potential => "potential", "可能性", "möglich";
    Category => "Category", "項目", "Kategorie";
    Country => "Country", "国", "Land";
    ChartTitle => "People per category: confirmed and potential", "項目ごとの人数（確定・可能性）", "Personen je Kategorie: bestätigt und möglich";
    Obligations => "Obligations", "義務", "Pflichten";
    Recipient => "Recipient", "提出先", "Empfänger";
    Deadline => "Deadline", "期限", "Frist";
    TimeLeft => "Time left", "残り時間", "Verbleibend";
    Overdue => "overdue", "期限超過", "überfällig";
    State => "State", "状態", "Stand";
    NoObligations => "No obligations for this scope.", "この範囲に対する義務はありません。", "Keine Pflichten für diesen Umfang.";
    Reports => "Report drafts", "報告書の下書き", "Meldungsentwürfe";
    Checklist => "Checklist", "チェックリスト", "Checkliste";
    Missing => "missing", "未記入", "fehlt";
    Complete => "complete", "完了", "vollständig";
    Submitted => "submitted", "提出済み", "übermittelt";
    SaveItems => "Save the items", "記載事項を保存", "Angaben speichern";
    MarkSubmitted => "Mark submitted", "提出済みにする", "Als übermittelt markieren";
    Channel => "Channel", "提出方法", "Kanal";
    Reference => "Reference", "受付番号", "Aktenzeichen";
    Notices => "Notice campaigns", "通知キャンペーン", "Benachrichtigungen";
    NoNotices => "No notice campaign yet.", "通知キャンペーンはまだありません。", "Noch keine Benachrichtigung.";
    Language => "Language", "言語", "Sprache";
    Sent => "sent", "送信済み", "gesendet";
    Failed => "failed", "失敗", "fehlgeschlagen";
    Pending => "pending", "保留", "ausstehend";
    Organization => "Organization", "組織", "Organisation";
    Principal => "Principal", "主体", "Prinzipal";
    Kind => "Kind", "種別", "Art";
    Quota => "Quota use", "クォータ使用量", "Kontingentnutzung";
    NoQuota => "no quota", "クォータなし", "kein Kontingent";
    Suspended => "Suspended", "停止中", "Gesperrt";
    Active => "active", "有効", "aktiv";
    Trips => "Trips", "発動", "Auslösungen";
    Reinstate => "Reinstate", "復帰させる", "Wieder zulassen";
    ReinstateReason => "Why is it safe to reinstate this principal?", "この主体を復帰させてよい理由", "Warum ist die Wiederzulassung sicher?";
    Reinstated => "Reinstated; the reason is in the incident timeline.", "復帰させました。理由はインシデントのタイムラインに記録されています。", "Wieder zugelassen; die Begründung steht in der Zeitachse des Vorfalls.";
    Organizations => "Organizations and their security officers", "組織とセキュリティ責任者", "Organisationen und ihre Sicherheitsbeauftragten";
    Role => "Role", "役割", "Rolle";
    Supervisor => "Supervised by", "監督元", "Beaufsichtigt durch";
    Officer => "Security officer", "セキュリティ責任者", "Sicherheitsbeauftragte(r)";
    Supervision => "Supervision report (last 30 days)", "監督報告（過去30日）", "Aufsichtsbericht (letzte 30 Tage)";
    Requests => "Requests", "リクエスト", "Anfragen";
    Denied => "Refused", "拒否", "Abgelehnt";
    DistinctSubjects => "People obtained", "取得された人数", "Erhaltene Personen";
    Log => "The access log", "アクセスログ", "Das Zugriffsprotokoll";
    Checkpoint => "Latest signed checkpoint", "最新の署名済みチェックポイント", "Letzter signierter Prüfpunkt";
    NoCheckpoint => "No checkpoint has been signed yet.", "まだチェックポイントは署名されていません。", "Noch kein Prüfpunkt signiert.";
    Witness => "Witness", "ウィットネス", "Zeuge";
    LastCosigned => "last cosigned", "最終連署", "zuletzt gegengezeichnet";
    Never => "never", "なし", "nie";
    WitnessFailures => "refused or unanswered submissions", "拒否・無応答の提出", "abgelehnte oder unbeantwortete Einreichungen";
    WhatWeHold => "What we hold about you", "お預かりしている情報", "Was wir über Sie speichern";
    Field => "Field", "項目", "Feld";
    Value => "Value", "値", "Wert";
    Reveal => "Show the values", "値を表示", "Werte anzeigen";
    Hide => "Hide the values", "値を隠す", "Werte verbergen";
    MaskedNote => "Values are masked; showing them is recorded in your access history.", "値はマスクされています。表示すると閲覧履歴に記録されます。", "Werte sind maskiert; das Anzeigen wird in Ihrem Zugriffsverlauf vermerkt.";
    NothingHeld => "We hold no record about you.", "お客様の記録は保持していません。", "Wir speichern keinen Datensatz über Sie.";
    MyCards => "My cards", "私のカード", "Meine Karten";
    NoCards => "No cards.", "カードはありません。", "Keine Karten.";
    Expires => "expires", "有効期限", "gültig bis";
    History => "Who read or changed it", "誰がいつ閲覧・変更したか", "Wer hat gelesen oder geändert";
    Purpose => "Purpose", "目的", "Zweck";
    Action => "Action", "操作", "Aktion";
    Fields => "Fields", "項目", "Felder";
    Outcome => "Outcome", "結果", "Ergebnis";
    NoHistory => "No access recorded.", "アクセス記録はありません。", "Kein Zugriff verzeichnet.";
    YourRights => "Your rights", "お客様の権利", "Ihre Rechte";
    AskExport => "Send me a copy of my data", "データのコピーを請求", "Kopie meiner Daten anfordern";
    AskErase => "Erase my data", "データの消去を請求", "Meine Daten löschen";
    CodeSent => "We sent a one-time code to the address we hold for you. Enter it below to confirm.", "登録されている連絡先にワンタイムコードを送りました。確認のため下に入力してください。", "Wir haben einen Einmalcode an die bei uns hinterlegte Adresse gesendet. Geben Sie ihn unten zur Bestätigung ein.";
    Code => "Code from the message", "メッセージに記載のコード", "Code aus der Nachricht";
    Confirm => "Confirm", "確認", "Bestätigen";
    Reconfirm => "Keep my account (reconfirm)", "アカウントを継続（再確認）", "Konto behalten (erneut bestätigen)";
    Reconfirmed => "Thank you: your account is kept.", "ありがとうございます。アカウントは継続されます。", "Danke: Ihr Konto bleibt bestehen.";
    Erased => "Your data has been erased. Keep this receipt: it is signed and can be verified.", "データは消去されました。この受領証を保管してください。署名されており検証できます。", "Ihre Daten wurden gelöscht. Bewahren Sie diese Quittung auf: Sie ist signiert und prüfbar.";
    SignedReceipt => "The signed receipt (check it with `kura receipt verify`)", "署名付き受領証（`kura receipt verify` で検証できます）", "Die signierte Quittung (prüfbar mit `kura receipt verify`)";
    DownloadReceipt => "Download the receipt", "受領証をダウンロード", "Quittung herunterladen";
    ExportReady => "Your copy is ready.", "コピーの準備ができました。", "Ihre Kopie ist bereit.";
    DownloadExport => "Download my data", "データをダウンロード", "Meine Daten herunterladen";
    CodeInvalid => "This code is not valid.", "このコードは無効です。", "Dieser Code ist ungültig.";
    Forbidden => "This page is for operators.", "このページはオペレーター専用です。", "Diese Seite ist für Operatoren.";
    NotFound => "Not found.", "見つかりません。", "Nicht gefunden.";
    Refused => "Refused", "拒否されました", "Abgelehnt";
    SessionEnded => "Your session has ended. Sign in again.", "セッションが終了しました。もう一度サインインしてください。", "Ihre Sitzung ist beendet. Bitte erneut anmelden.";
    CsrfRefused => "This form is stale or did not come from this console; nothing was changed.", "このフォームは古いか、このコンソールからのものではありません。何も変更されていません。", "Dieses Formular ist veraltet oder stammt nicht von dieser Konsole; nichts wurde geändert.";
    Back => "Back", "戻る", "Zurück";
    Done => "Done.", "完了しました。", "Erledigt.";
    Skip => "Skip to the content", "本文へ移動", "Zum Inhalt springen";
    Version => "Version", "版", "Version";
    Main => "Main navigation", "メインナビゲーション", "Hauptnavigation";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_every_language() {
        for t in T::ALL {
            for l in [Lang::En, Lang::Ja, Lang::De] {
                assert!(!t.get(l).trim().is_empty(), "{t:?} in {l:?}");
            }
            assert_ne!(
                t.get(Lang::En),
                t.get(Lang::Ja),
                "{t:?} untranslated to Japanese"
            );
        }
    }

    #[test]
    fn accept_language_picks_by_weight_then_order() {
        assert_eq!(Lang::from_accept(None), Lang::En);
        assert_eq!(Lang::from_accept(Some("ja-JP,ja;q=0.9,en;q=0.8")), Lang::Ja);
        assert_eq!(Lang::from_accept(Some("fr-FR,de;q=0.7,en;q=0.5")), Lang::De);
        assert_eq!(Lang::from_accept(Some("en;q=0.4, de;q=0.9")), Lang::De);
        assert_eq!(Lang::from_accept(Some("fr, es")), Lang::En);
        assert_eq!(Lang::from_accept(Some("de;q=0, ja;q=0.1")), Lang::Ja);
        assert_eq!(Lang::from_accept(Some("DE-at")), Lang::De);
    }
}
