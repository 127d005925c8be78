//! A signed erasure receipt: what a controller tells a data subject (or a regulator) about
//! how a request to erase their personal data was handled, in a file anyone holding the
//! access log's verifier key can check offline (`kura receipt verify FILE --vkey KEY`).
//!
//! It carries every item of the deletion confirmation checklist (breach-law notes §2.5):
//! the request, its dates, channel and identity check; the decision; what was erased and
//! how; what was retained, why, for which sole purpose and until when; backups; the
//! recipients told (or why not); that a minimal record of the request is kept; the
//! account's state; the right to complain; the controller. And, for integrity, the access
//! log's `rights_erase` leaf for the request with its inclusion proof to a signed
//! checkpoint.
//!
//! # Format
//! `<body>\n\n<signed note>`: the body is one line of JSON (no newline inside, see
//! [`ReceiptBody`]); the note is a C2SP signed note by the access log's key whose text is
//!
//! ```text
//! kura-erasure-receipt/1 <origin>
//! request <rights request id>
//! body <sha256 hex of the body's bytes>
//! ```
//!
//! The statement is not a checkpoint: its first line is the format tag followed by the
//! origin, and its second line is not a tree size, so a signature on a receipt can never
//! pass for a signature on a checkpoint, nor the other way round.
//!
//! # What verification proves
//! - the file is exactly as signed by the key of the log named `origin`;
//! - the `rights_erase` event it carries is in that log, at the stated index, under the
//!   signed checkpoint it carries;
//! - that event was recorded, successfully, for this request id and this collection.
//!
//! It cannot prove that the statements in the body are true — they are the controller's
//! signed word, which is what a regulator needs to hold it to them — nor that the public
//! subject id in the body is the one the event names (the log holds internal ids only),
//! nor that shredding followed the decision (the leaf is written before anything is
//! shredded).
//!
//! # What it holds
//! The subject's public id and the free-text statements; no field value. It is meant for
//! the subject it names and for a regulator they show it to.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kura_audit::{AccessEvent, Action, Outcome};
use kura_tlog::{Checkpoint, Hash, NoteSigner, NoteVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::directory::AdminError;
pub use crate::evidence::Problem;
use crate::incident::hex;

/// The format tag on the statement's first line and in the body.
pub const FORMAT: &str = "kura-erasure-receipt/1";

/// The controller's decision on the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Everything asked for was erased.
    Complied,
    /// Some was erased, some retained under an exception (see `retained`).
    PartlyComplied,
    /// Nothing was erased (the reason is in `retained`).
    Denied,
}

/// One category of data erased and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Erased {
    /// The data category (`email`, `postal_address`, ...).
    pub category: String,
    /// How (`crypto_shredding`, `erased`, `de_identified`, `aggregated`).
    pub method: String,
}

/// Something kept despite the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retained {
    /// What is kept.
    pub what: String,
    /// The legal basis or exception.
    pub basis: String,
    /// The sole purpose it may still be used for.
    pub purpose: String,
    /// Until when (unix milliseconds), if a date is fixed.
    pub until_ms: Option<u64>,
}

/// A recipient (processor, service provider, third party) told of the erasure, or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// The organization.
    pub org: String,
    /// Its role (`processor`, `service_provider`, `third_party`, ...).
    pub role: String,
    /// How it was told.
    pub channel: String,
    /// When it was told (unix milliseconds); none if it was not.
    pub told_at_ms: Option<u64>,
    /// Why it could not be told, or anything else to say about it.
    pub explanation: Option<String>,
}

/// Who is responsible and how to reach them (or their DPO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    /// The controller's name.
    pub name: String,
    /// The contact point (DPO or privacy desk).
    pub contact: String,
}

/// The access log's leaf recording the erasure, with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenEvent {
    /// The leaf's index in the log.
    pub index: u64,
    /// The exact leaf bytes, base64.
    pub leaf: String,
    /// The inclusion proof to the receipt's checkpoint, base64 hashes.
    pub proof: Vec<String>,
}

/// The receipt's body: every §2.5 item, the checkpoint and the proven event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// [`FORMAT`].
    pub format: String,
    /// The log's origin (the signer's key name).
    pub origin: String,
    /// The rights request id.
    pub request: String,
    /// The collection the subject was erased from.
    pub collection: String,
    /// The subject's public id.
    pub subject: String,
    /// When the request was received (unix milliseconds).
    pub received_at_ms: u64,
    /// When it was completed (unix milliseconds).
    pub completed_at_ms: u64,
    /// How it came in: `api`, `operator` or `retention`.
    pub channel: String,
    /// How the requester's identity was verified (a sentence).
    pub identity_verification: String,
    /// The decision.
    pub decision: Decision,
    /// What was erased and how.
    pub erased: Vec<Erased>,
    /// What was kept, why, for what and until when.
    pub retained: Vec<Retained>,
    /// What happens to backups (a sentence).
    pub backups: String,
    /// The recipients told, or why not.
    pub recipients: Vec<Recipient>,
    /// That a minimal record of the request is kept, why and for how long.
    pub record_kept: String,
    /// The account's state: credentials and sessions revoked, account closed.
    pub account: String,
    /// The right to complain to a supervisory authority and to a judicial remedy.
    pub complaint: String,
    /// The controller.
    pub controller: Controller,
    /// The signed checkpoint note the proof leads to.
    pub checkpoint: String,
    /// The `rights_erase` leaf and its inclusion proof.
    pub event: ProvenEvent,
}

/// What verification found. Apart from `ok` and `problems`, the fields are what the file
/// says; they are to be trusted only when `ok`.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptReport {
    /// Nothing wrong.
    pub ok: bool,
    /// Everything wrong, in the order checked.
    pub problems: Vec<Problem>,
    /// The rights request id (from the body, else from the statement).
    pub request: Option<String>,
    /// The subject's public id (when the body parses).
    pub subject: Option<String>,
    /// The decision (when the body parses).
    pub decision: Option<Decision>,
    /// The checkpoint's tree size (0 when it does not verify).
    pub tree_size: u64,
    /// The event's log index (when the body parses).
    pub event_index: Option<u64>,
}

fn malformed(message: impl Into<String>) -> AdminError {
    AdminError::invalid("receipt_malformed", message)
}

/// A request id fit for the statement line: non-empty, at most `kura_audit::MAX_STR` bytes,
/// no whitespace or control character.
fn valid_request(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= kura_audit::MAX_STR
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn statement(origin: &str, request: &str, body: &[u8]) -> String {
    format!(
        "{FORMAT} {origin}\nrequest {request}\nbody {}\n",
        hex(&Sha256::digest(body))
    )
}

/// Signs without checking that the result verifies.
fn seal_unchecked(body: &ReceiptBody, signer: &NoteSigner) -> Result<Vec<u8>, AdminError> {
    if !valid_request(&body.request) {
        return Err(AdminError::invalid(
            "receipt_invalid",
            "the request id must be non-empty, without spaces or control characters",
        ));
    }
    let json =
        serde_json::to_string(body).map_err(|e| AdminError::invalid("internal", e.to_string()))?;
    let signed = signer
        .sign(&statement(signer.name(), &body.request, json.as_bytes()))
        .map_err(|e| AdminError::invalid("internal", e.to_string()))?;
    let mut out = json.into_bytes();
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(signed.as_bytes());
    Ok(out)
}

/// Signs the receipt with the access log's key and returns the file's bytes.
///
/// The result is checked with [`verify`] before it is returned, so a receipt that would not
/// verify (wrong origin or format, a checkpoint by another key, a proof that does not lead
/// to it, an event that is not this request's successful `rights_erase`) is never issued.
///
/// # Errors
/// `receipt_invalid` naming the first problem; `internal` if signing fails.
pub fn seal(body: &ReceiptBody, signer: &NoteSigner) -> Result<Vec<u8>, AdminError> {
    let file = seal_unchecked(body, signer)?;
    let report = verify(&file, &signer.verifier_key());
    match report.problems.first() {
        None => Ok(file),
        Some(p) => Err(AdminError::invalid(
            "receipt_invalid",
            format!(
                "the receipt would not verify: {}: {} ({} problem(s))",
                p.at,
                p.what,
                report.problems.len()
            ),
        )),
    }
}

fn split(file: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = file.windows(2).position(|w| w == b"\n\n")?;
    Some((&file[..at], &file[at + 2..]))
}

/// Parses a receipt file without checking its signature or proof (to show or mail it).
///
/// # Errors
/// `receipt_malformed` when the file has no signature block, its body does not parse as a
/// [`ReceiptBody`], or its format is not [`FORMAT`].
pub fn parse(file: &[u8]) -> Result<ReceiptBody, AdminError> {
    let (body, _) = split(file).ok_or_else(|| {
        malformed("no signature block (expected the body, a blank line, the signed note)")
    })?;
    let body: ReceiptBody =
        serde_json::from_slice(body).map_err(|e| malformed(format!("body: {e}")))?;
    if body.format != FORMAT {
        return Err(malformed(format!(
            "format `{}` is not `{FORMAT}`",
            body.format
        )));
    }
    Ok(body)
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn fail(&mut self, at: impl Into<String>, what: impl Into<String>) {
        self.problems.push(Problem {
            at: at.into(),
            what: what.into(),
        });
    }
}

/// The request id and body digest a verified statement states.
struct Statement {
    request: Option<String>,
    digest: Option<String>,
}

fn check_statement(c: &mut Checker, text: &str, origin: &str) -> Statement {
    let mut s = Statement {
        request: None,
        digest: None,
    };
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    if lines.len() != 3 {
        c.fail(
            "statement",
            format!("has {} lines, not 3 (format, request, body)", lines.len()),
        );
    }
    let head = format!("{FORMAT} {origin}");
    if lines.first() != Some(&head.as_str()) {
        c.fail(
            "statement",
            format!("is not a `{head}` statement (not an erasure receipt of this log)"),
        );
    }
    match lines.get(1).and_then(|l| l.strip_prefix("request ")) {
        Some(id) if valid_request(id) => s.request = Some(id.to_owned()),
        _ => c.fail("statement", "its second line is not `request <id>`"),
    }
    match lines.get(2).and_then(|l| l.strip_prefix("body ")) {
        Some(d) if d.len() == 64 && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            s.digest = Some(d.to_owned());
        }
        _ => c.fail("statement", "its third line is not `body <sha256 hex>`"),
    }
    s
}

/// Checks a receipt offline against the access log's verifier key (`kura audit key`).
/// Every check runs; each failure names where it is (`key`, `file`, `signature`,
/// `statement`, `body`, `checkpoint`, `event (log index N)`).
pub fn verify(file: &[u8], vkey: &str) -> ReceiptReport {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let mut report = ReceiptReport {
        ok: false,
        problems: Vec::new(),
        request: None,
        subject: None,
        decision: None,
        tree_size: 0,
        event_index: None,
    };
    let finish = |mut report: ReceiptReport, c: Checker| {
        report.ok = c.problems.is_empty();
        report.problems = c.problems;
        report
    };
    let verifier = match NoteVerifier::from_verifier_key(vkey.trim()) {
        Ok(v) => v,
        Err(e) => {
            c.fail("key", format!("the verifier key does not parse: {e}"));
            return finish(report, c);
        }
    };
    let Some((body_bytes, note_bytes)) = split(file) else {
        c.fail(
            "file",
            "no signature block (expected the body, a blank line, the signed note)",
        );
        return finish(report, c);
    };
    // The signature and the statement.
    let stated = match kura_tlog::open_note(note_bytes, std::slice::from_ref(&verifier)) {
        Err(e) => {
            c.fail(
                "signature",
                format!("does not verify with the given key: {e}"),
            );
            Statement {
                request: None,
                digest: None,
            }
        }
        Ok(note) => check_statement(&mut c, &note.text, verifier.name()),
    };
    report.request.clone_from(&stated.request);
    if let Some(d) = &stated.digest
        && *d != hex(&Sha256::digest(body_bytes))
    {
        c.fail("body", "its bytes differ from what was signed");
    }
    // The body.
    let body: ReceiptBody = match serde_json::from_slice(body_bytes) {
        Ok(b) => b,
        Err(e) => {
            c.fail("body", format!("does not parse: {e}"));
            return finish(report, c);
        }
    };
    report.request = Some(body.request.clone());
    report.subject = Some(body.subject.clone());
    report.decision = Some(body.decision);
    report.event_index = Some(body.event.index);
    if body.format != FORMAT {
        c.fail(
            "body",
            format!("format `{}` is not `{FORMAT}`", body.format),
        );
    }
    if body.origin != verifier.name() {
        c.fail(
            "body",
            format!(
                "origin `{}` is not the verifier key's log `{}`",
                body.origin,
                verifier.name()
            ),
        );
    }
    if let Some(r) = &stated.request
        && *r != body.request
    {
        c.fail(
            "body",
            format!("request `{}` is not the signed request `{r}`", body.request),
        );
    }
    // The checkpoint.
    let cp = match Checkpoint::open(body.checkpoint.as_bytes(), &verifier) {
        Ok(cp) => {
            if cp.origin() != verifier.name() {
                c.fail(
                    "checkpoint",
                    format!(
                        "origin `{}` is not the verifier key's log `{}`",
                        cp.origin(),
                        verifier.name()
                    ),
                );
            }
            report.tree_size = cp.size();
            Some(cp)
        }
        Err(e) => {
            c.fail("checkpoint", format!("does not verify: {e}"));
            None
        }
    };
    // The event.
    let ev = &body.event;
    let at = format!("event (log index {})", ev.index);
    let mut proven = true;
    if let Some(cp) = &cp
        && ev.index >= cp.size()
    {
        c.fail(
            &at,
            format!("index is past the checkpoint's tree size {}", cp.size()),
        );
        proven = false;
    }
    let leaf = match B64.decode(&ev.leaf) {
        Ok(l) => Some(l),
        Err(_) => {
            c.fail(&at, "leaf is not base64");
            None
        }
    };
    let proof: Option<Vec<Hash>> = ev.proof.iter().map(|s| Hash::from_base64(s).ok()).collect();
    if proof.is_none() {
        c.fail(&at, "proof is not base64 hashes");
    }
    if let (true, Some(cp), Some(leaf), Some(proof)) = (proven, &cp, &leaf, &proof)
        && let Err(e) = kura_tlog::verify_inclusion(
            &kura_tlog::hash_leaf(leaf),
            ev.index,
            cp.size(),
            proof,
            cp.root(),
        )
    {
        c.fail(&at, format!("not proven in the log at the checkpoint: {e}"));
    }
    if let Some(leaf) = &leaf {
        match AccessEvent::from_leaf(leaf) {
            Err(e) => c.fail(&at, format!("leaf does not decode: {e}")),
            Ok(e) => {
                if e.action != Action::RightsErase {
                    c.fail(
                        &at,
                        format!(
                            "records `{}`, not `{}`",
                            e.action,
                            Action::RightsErase.as_str()
                        ),
                    );
                }
                if e.request_id != body.request {
                    c.fail(
                        &at,
                        format!("is for request `{}`, not `{}`", e.request_id, body.request),
                    );
                }
                if e.collection != body.collection {
                    c.fail(
                        &at,
                        format!(
                            "is in collection `{}`, not `{}`",
                            e.collection, body.collection
                        ),
                    );
                }
                if e.outcome != Outcome::Ok {
                    c.fail(&at, format!("ended `{}`, not `ok`", e.outcome.to_wire()));
                }
            }
        }
    }
    finish(report, c)
}

/// The labels of the mail in one language.
struct Labels {
    subject: &'static str,
    intro: &'static str,
    request: &'static str,
    received: &'static str,
    completed: &'static str,
    channel: &'static str,
    identity: &'static str,
    decision: &'static str,
    erased: &'static str,
    retained: &'static str,
    /// `{what}`, `{basis}`, `{purpose}`, `{until}`.
    retained_line: &'static str,
    until: &'static str,
    no_end: &'static str,
    backups: &'static str,
    recipients: &'static str,
    /// `{org}`, `{role}`, `{told}`.
    recipient_line: &'static str,
    told: &'static str,
    not_told: &'static str,
    on_request: &'static str,
    nothing: &'static str,
    record: &'static str,
    account: &'static str,
    complaint: &'static str,
    controller: &'static str,
    contact: &'static str,
    verify_head: &'static str,
    verify_text: &'static str,
    verify_cmd: &'static str,
    verify_key: &'static str,
}

const EN: Labels = Labels {
    subject: "Your erasure request {request}: {decision}",
    intro: "{controller} confirms how it handled your request to erase your personal data.",
    request: "Request",
    received: "Received",
    completed: "Completed",
    channel: "Received through",
    identity: "Identity verification",
    decision: "Decision",
    erased: "Erased",
    retained: "Retained",
    retained_line: "{what}: legal basis {basis}; used only for {purpose}; {until}",
    until: "kept until",
    no_end: "no fixed end date",
    backups: "Backups",
    recipients: "Recipients told of the erasure",
    recipient_line: "{org} ({role}): {told}",
    told: "told on",
    not_told: "not told",
    on_request: "The list of recipients is available on request.",
    nothing: "none",
    record: "Record of your request",
    account: "Your account",
    complaint: "Your right to complain",
    controller: "Controller",
    contact: "Contact",
    verify_head: "How to check this confirmation",
    verify_text: "The erasure receipt attached to (or linked from) this message is signed with the key of our access log ({origin}) and carries the log entry recording this erasure with its proof of inclusion. Anyone can check it offline with kura:",
    verify_cmd: "kura receipt verify RECEIPT_FILE --vkey KEY",
    verify_key: "KEY is the access log's verifier key, which {controller} publishes and gives on request.",
};

const JA: Labels = Labels {
    subject: "個人データ削除のご請求（{request}）の結果：{decision}",
    intro: "{controller}は、個人データの削除のご請求について、次のとおり対応しましたのでお知らせします。",
    request: "受付番号",
    received: "受付日時",
    completed: "完了日時",
    channel: "受付経路",
    identity: "本人確認の方法",
    decision: "対応結果",
    erased: "削除したデータ",
    retained: "保持しているデータ",
    retained_line: "{what}：根拠 {basis}、利用目的 {purpose}（この目的に限り利用します）、{until}",
    until: "保持期限",
    no_end: "保持期限の定めなし",
    backups: "バックアップ",
    recipients: "削除を通知した提供先",
    recipient_line: "{org}（{role}）：{told}",
    told: "通知日時",
    not_told: "未通知",
    on_request: "ご請求があれば、提供先の一覧をお渡しします。",
    nothing: "なし",
    record: "ご請求の記録",
    account: "アカウント",
    complaint: "苦情の申立て・救済",
    controller: "管理者",
    contact: "お問い合わせ先",
    verify_head: "この通知の確認方法",
    verify_text: "このメールに添付（またはリンク）された削除レシートは、当社のアクセスログ（{origin}）の鍵で署名され、この削除を記録したログのエントリとその包含証明を含んでいます。kura を使えば、どなたでもオフラインで確認できます：",
    verify_cmd: "kura receipt verify レシートファイル --vkey 検証鍵",
    verify_key: "検証鍵はアクセスログの公開検証鍵で、{controller}が公開しており、ご請求に応じてお渡しします。",
};

const DE: Labels = Labels {
    subject: "Ihr Löschantrag {request}: {decision}",
    intro: "{controller} bestätigt, wie Ihr Antrag auf Löschung Ihrer personenbezogenen Daten bearbeitet wurde.",
    request: "Antrag",
    received: "Eingegangen",
    completed: "Abgeschlossen",
    channel: "Eingegangen über",
    identity: "Identitätsprüfung",
    decision: "Entscheidung",
    erased: "Gelöscht",
    retained: "Aufbewahrt",
    retained_line: "{what}: Rechtsgrundlage {basis}; nur verwendet für {purpose}; {until}",
    until: "aufbewahrt bis",
    no_end: "ohne festes Enddatum",
    backups: "Sicherungskopien",
    recipients: "Über die Löschung informierte Empfänger",
    recipient_line: "{org} ({role}): {told}",
    told: "informiert am",
    not_told: "nicht informiert",
    on_request: "Die Liste der Empfänger erhalten Sie auf Anfrage.",
    nothing: "keine",
    record: "Aufzeichnung Ihres Antrags",
    account: "Ihr Konto",
    complaint: "Ihr Beschwerderecht",
    controller: "Verantwortlicher",
    contact: "Kontakt",
    verify_head: "So prüfen Sie diese Bestätigung",
    verify_text: "Der dieser Nachricht beigefügte (oder verlinkte) Löschnachweis ist mit dem Schlüssel unseres Zugriffsprotokolls ({origin}) signiert und enthält den Protokolleintrag dieser Löschung mit seinem Inklusionsnachweis. Jeder kann ihn offline mit kura prüfen:",
    verify_cmd: "kura receipt verify NACHWEISDATEI --vkey SCHLÜSSEL",
    verify_key: "SCHLÜSSEL ist der Prüfschlüssel des Zugriffsprotokolls, den {controller} veröffentlicht und auf Anfrage mitteilt.",
};

/// The language index used by the tables below: 0 en, 1 ja, 2 de.
fn lang_index(lang: &str) -> usize {
    match lang {
        "ja" => 1,
        "de" => 2,
        _ => 0,
    }
}

fn decision_text(d: Decision, l: usize) -> &'static str {
    let t = match d {
        Decision::Complied => [
            "complied (everything asked for was erased)",
            "ご請求のとおり削除しました",
            "vollständig entsprochen (alles Verlangte wurde gelöscht)",
        ],
        Decision::PartlyComplied => [
            "partly complied (some data is retained, see below)",
            "一部を削除しました（保持するデータは下記のとおりです）",
            "teilweise entsprochen (einige Daten werden aufbewahrt, siehe unten)",
        ],
        Decision::Denied => [
            "denied (nothing was erased, see the reasons below)",
            "削除をお断りしました（理由は下記のとおりです）",
            "abgelehnt (nichts wurde gelöscht, Gründe siehe unten)",
        ],
    };
    t[l]
}

fn decision_short(d: Decision, l: usize) -> &'static str {
    let t = match d {
        Decision::Complied => ["completed", "削除完了", "erledigt"],
        Decision::PartlyComplied => ["partly completed", "一部削除", "teilweise erledigt"],
        Decision::Denied => ["denied", "削除不可", "abgelehnt"],
    };
    t[l]
}

fn channel_text(channel: &str, l: usize) -> String {
    let t = match channel {
        "api" => ["online (API)", "オンライン（API）", "online (API)"],
        "operator" => [
            "through our staff",
            "担当者経由",
            "über unsere Mitarbeitenden",
        ],
        "retention" => [
            "our retention rule (no request needed)",
            "保存期間のルールによる削除（ご請求は不要）",
            "unsere Aufbewahrungsregel (ohne Antrag)",
        ],
        other => return other.to_owned(),
    };
    t[l].to_owned()
}

fn method_text(method: &str, l: usize) -> String {
    let t = match method {
        "crypto_shredding" => [
            "erased by destroying its encryption key (crypto-shredding)",
            "暗号鍵の破棄による消去（クリプトシュレッディング）",
            "gelöscht durch Vernichtung des Schlüssels (Crypto-Shredding)",
        ],
        "erased" | "deleted" => ["erased", "消去", "gelöscht"],
        "de_identified" => [
            "de-identified",
            "個人を識別できない形に加工",
            "anonymisiert",
        ],
        "aggregated" => ["aggregated", "集計値に統合", "aggregiert"],
        other => return other.to_owned(),
    };
    t[l].to_owned()
}

/// A category's display name, with its id when they differ (so the mail names both).
fn category_text(id: &str, lang: &str) -> String {
    let name = kura_notices::category_name(id, lang);
    if name == id {
        id.to_owned()
    } else if lang == "ja" {
        format!("{name}（{id}）")
    } else {
        format!("{name} ({id})")
    }
}

/// Fills `{name}` placeholders in one pass, so a value holding braces is left as it is.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| {
            values
                .iter()
                .find(|(k, _)| *k == &after[..close])
                .map(|(_, v)| (close, v))
        }) {
            Some((close, v)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `YYYY-MM-DD HH:MM UTC` of unix milliseconds.
pub fn utc_date(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(
            || format!("{ms} ms"),
            |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// The receipt as a mail in `lang` (`ja`, `de`, else English): the subject line and a
/// plain-text body listing every §2.5 item, dates as `YYYY-MM-DD HH:MM UTC`, ending with how
/// to check the attached (or linked) receipt file with `kura receipt verify`.
#[must_use]
pub fn mail_text(body: &ReceiptBody, lang: &str) -> (String, String) {
    let l = lang_index(lang);
    let lang = ["en", "ja", "de"][l];
    let t = [&EN, &JA, &DE][l];
    let sep = if l == 1 { "：" } else { ": " };
    let colon = if l == 1 { "：" } else { ":" };
    let fill = |s: &str| {
        render(
            s,
            &[
                ("controller", &body.controller.name),
                ("origin", &body.origin),
                ("request", &body.request),
                ("decision", decision_short(body.decision, l)),
            ],
        )
    };
    let subject = fill(t.subject);
    let mut m = String::new();
    let mut line = |s: String| {
        m.push_str(&s);
        m.push('\n');
    };
    line(fill(t.intro));
    line(String::new());
    for (label, value) in [
        (t.request, body.request.clone()),
        (t.received, utc_date(body.received_at_ms)),
        (t.completed, utc_date(body.completed_at_ms)),
        (t.channel, channel_text(&body.channel, l)),
        (t.identity, body.identity_verification.clone()),
        (t.decision, decision_text(body.decision, l).to_owned()),
    ] {
        line(format!("{label}{sep}{value}"));
    }
    line(String::new());
    line(format!("{}{colon}", t.erased));
    if body.erased.is_empty() {
        line(format!("  - {}", t.nothing));
    }
    for e in &body.erased {
        line(format!(
            "  - {}{sep}{}",
            category_text(&e.category, lang),
            method_text(&e.method, l)
        ));
    }
    line(format!("{}{colon}", t.retained));
    if body.retained.is_empty() {
        line(format!("  - {}", t.nothing));
    }
    for r in &body.retained {
        let until = r.until_ms.map_or_else(
            || t.no_end.to_owned(),
            |ms| format!("{} {}", t.until, utc_date(ms)),
        );
        let s = render(
            t.retained_line,
            &[
                ("what", &r.what),
                ("basis", &r.basis),
                ("purpose", &r.purpose),
                ("until", &until),
            ],
        );
        line(format!("  - {s}"));
    }
    line(format!("{}{sep}{}", t.backups, body.backups));
    line(String::new());
    line(format!("{}{colon}", t.recipients));
    if body.recipients.is_empty() {
        line(format!("  - {}", t.nothing));
    }
    for r in &body.recipients {
        let told = r.told_at_ms.map_or_else(
            || t.not_told.to_owned(),
            |ms| format!("{} {} ({})", t.told, utc_date(ms), r.channel),
        );
        let mut s = format!(
            "  - {}",
            render(
                t.recipient_line,
                &[("org", &r.org), ("role", &r.role), ("told", &told)]
            )
        );
        if let Some(x) = &r.explanation {
            s.push_str(" — ");
            s.push_str(x);
        }
        line(s);
    }
    line(t.on_request.to_owned());
    line(String::new());
    for (label, value) in [
        (t.record, &body.record_kept),
        (t.account, &body.account),
        (t.complaint, &body.complaint),
        (t.controller, &body.controller.name),
        (t.contact, &body.controller.contact),
    ] {
        line(format!("{label}{sep}{value}"));
    }
    line(String::new());
    line(t.verify_head.to_owned());
    line(fill(t.verify_text));
    line(format!("    {}", t.verify_cmd));
    line(fill(t.verify_key));
    (subject, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = "rr_01J9ZK3E5Q";

    fn signer(seed: u8) -> NoteSigner {
        NoteSigner::from_seed(&kura_audit::origin_for(&[7; 16]), &[seed; 32]).unwrap()
    }

    fn events(erase: AccessEvent) -> Vec<Vec<u8>> {
        let mk = |t, action, req: &str| {
            AccessEvent::new(t, "svc", "support", action, "customers", req)
                .with_subjects([42])
                .to_leaf()
                .unwrap()
        };
        vec![
            mk(1_000, Action::Create, "q1"),
            mk(2_000, Action::Read, "q2"),
            mk(3_000, Action::RightsOpen, REQUEST),
            erase.to_leaf().unwrap(),
            mk(5_000, Action::Patch, "q5"),
            mk(6_000, Action::Read, "q6"),
        ]
    }

    fn erase_event() -> AccessEvent {
        AccessEvent::new(
            4_000,
            "svc",
            "rights",
            Action::RightsErase,
            "customers",
            REQUEST,
        )
        .with_subjects([42])
    }

    /// A body proving leaf 3 of `leaves` against a checkpoint signed by `s`.
    fn body_for(s: &NoteSigner, leaves: &[Vec<u8>]) -> ReceiptBody {
        let hashes: Vec<Hash> = leaves.iter().map(|l| kura_tlog::hash_leaf(l)).collect();
        let root = kura_tlog::root_of(&hashes);
        let proof = kura_tlog::inclusion_proof_of(&hashes, 3).unwrap();
        let checkpoint = Checkpoint::new(s.name(), hashes.len() as u64, root)
            .unwrap()
            .sign(s)
            .unwrap();
        ReceiptBody {
            format: FORMAT.to_owned(),
            origin: s.name().to_owned(),
            request: REQUEST.to_owned(),
            collection: "customers".to_owned(),
            subject: "0191e3a5-6c1b-7cc2-9a52-3f1d2e4b5a6c".to_owned(),
            received_at_ms: 1_767_225_600_000,
            completed_at_ms: 1_767_312_000_000,
            channel: "api".to_owned(),
            identity_verification: "A one-time code sent to the address on file.".to_owned(),
            decision: Decision::PartlyComplied,
            erased: vec![
                Erased {
                    category: "email".to_owned(),
                    method: "crypto_shredding".to_owned(),
                },
                Erased {
                    category: "postal_address".to_owned(),
                    method: "crypto_shredding".to_owned(),
                },
                Erased {
                    category: "loyalty_points".to_owned(),
                    method: "aggregated".to_owned(),
                },
            ],
            retained: vec![Retained {
                what: "Invoices".to_owned(),
                basis: "HGB §257".to_owned(),
                purpose: "tax audits".to_owned(),
                until_ms: Some(1_988_150_400_000),
            }],
            backups: "Backups rotate out within 35 days.".to_owned(),
            recipients: vec![
                Recipient {
                    org: "MailCo".to_owned(),
                    role: "processor".to_owned(),
                    channel: "api".to_owned(),
                    told_at_ms: Some(1_767_300_000_000),
                    explanation: None,
                },
                Recipient {
                    org: "OldPartner".to_owned(),
                    role: "third_party".to_owned(),
                    channel: "none".to_owned(),
                    told_at_ms: None,
                    explanation: Some("It ceased trading in 2024.".to_owned()),
                },
            ],
            record_kept: "A minimal record of this request is kept for 24 months.".to_owned(),
            account: "Sessions and credentials revoked; account closed.".to_owned(),
            complaint: "You may complain to your supervisory authority.".to_owned(),
            controller: Controller {
                name: "Example GmbH".to_owned(),
                contact: "dpo@example.com".to_owned(),
            },
            checkpoint,
            event: ProvenEvent {
                index: 3,
                leaf: B64.encode(&leaves[3]),
                proof: proof.iter().map(Hash::to_base64).collect(),
            },
        }
    }

    fn good() -> (NoteSigner, ReceiptBody, Vec<u8>) {
        let s = signer(1);
        let body = body_for(&s, &events(erase_event()));
        let file = seal(&body, &s).unwrap();
        (s, body, file)
    }

    fn fails_at(file: &[u8], vkey: &str, at: &str) {
        let r = verify(file, vkey);
        assert!(!r.ok);
        assert!(
            r.problems.iter().any(|p| p.at.starts_with(at)),
            "no problem at {at}: {:?}",
            r.problems
        );
    }

    #[test]
    fn sealed_receipt_verifies_and_parses() {
        let (s, body, file) = good();
        let r = verify(&file, &s.verifier_key());
        assert!(r.ok, "{:?}", r.problems);
        assert!(r.problems.is_empty());
        assert_eq!(r.request.as_deref(), Some(REQUEST));
        assert_eq!(r.subject.as_deref(), Some(body.subject.as_str()));
        assert_eq!(r.decision, Some(Decision::PartlyComplied));
        assert_eq!(r.tree_size, 6);
        assert_eq!(r.event_index, Some(3));
        assert_eq!(parse(&file).unwrap(), body);
        // The statement is the documented one.
        let text = String::from_utf8(file.clone()).unwrap();
        let (_, note) = text.split_once("\n\n").unwrap();
        assert!(note.starts_with(&format!("{FORMAT} {}\nrequest {REQUEST}\nbody ", s.name())));
        // A statement is never a checkpoint.
        let (stmt, _) = note.split_once("\n\n").unwrap();
        assert!(Checkpoint::parse(&format!("{stmt}\n")).is_err());
    }

    #[test]
    fn every_flipped_byte_fails() {
        let (s, _, file) = good();
        let vkey = s.verifier_key();
        for i in 0..file.len() {
            for flip in [0x01u8, 0x80] {
                let mut f = file.clone();
                f[i] ^= flip;
                let r = verify(&f, &vkey);
                assert!(!r.ok, "flipping byte {i} by {flip:#x} still verifies");
                assert!(!r.problems.is_empty());
            }
        }
        // Truncation and additions too.
        assert!(!verify(&file[..file.len() - 1], &vkey).ok);
        let mut longer = file.clone();
        longer.push(b'\n');
        assert!(!verify(&longer, &vkey).ok);
    }

    #[test]
    fn other_key_fails() {
        let (s, body, _) = good();
        let other = signer(2); // same log name, another key
        // Sealed by another key over a checkpoint of the right key.
        let file = seal_unchecked(&body, &other).unwrap();
        fails_at(&file, &s.verifier_key(), "signature");
        // Everything by another key.
        let forged = body_for(&other, &events(erase_event()));
        let file = seal(&forged, &other).unwrap();
        fails_at(&file, &s.verifier_key(), "signature");
        fails_at(&file, &s.verifier_key(), "checkpoint");
        // Another log's key name.
        let stranger = NoteSigner::from_seed("kura/other", &[1; 32]).unwrap();
        let (_, _, file) = good();
        fails_at(&file, &stranger.verifier_key(), "signature");
        // Sealing refuses a body for another origin.
        assert!(seal(&body, &stranger).is_err());
        // A key that does not parse.
        fails_at(&file, "not a key", "key");
    }

    #[test]
    fn delete_event_fails() {
        let s = signer(1);
        let ev = AccessEvent::new(4_000, "svc", "rights", Action::Delete, "customers", REQUEST)
            .with_subjects([42]);
        let body = body_for(&s, &events(ev));
        assert!(seal(&body, &s).is_err());
        let file = seal_unchecked(&body, &s).unwrap();
        fails_at(&file, &s.verifier_key(), "event (log index 3)");
        let r = verify(&file, &s.verifier_key());
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].what.contains("delete"));
    }

    #[test]
    fn event_for_another_request_fails() {
        let s = signer(1);
        let ev = erase_event();
        let ev = AccessEvent {
            request_id: "rr_other".to_owned(),
            ..ev
        };
        let body = body_for(&s, &events(ev));
        assert!(seal(&body, &s).is_err());
        let file = seal_unchecked(&body, &s).unwrap();
        fails_at(&file, &s.verifier_key(), "event");
        let r = verify(&file, &s.verifier_key());
        assert!(r.problems.iter().any(|p| p.what.contains("rr_other")));
    }

    #[test]
    fn failed_erase_or_other_collection_fails() {
        let s = signer(1);
        let body = body_for(&s, &events(erase_event().failed("store_error")));
        let file = seal_unchecked(&body, &s).unwrap();
        fails_at(&file, &s.verifier_key(), "event");
        let mut body = body_for(&s, &events(erase_event()));
        body.collection = "employees".to_owned();
        assert!(seal(&body, &s).is_err());
        let file = seal_unchecked(&body, &s).unwrap();
        fails_at(&file, &s.verifier_key(), "event");
    }

    #[test]
    fn proof_against_other_checkpoint_fails() {
        let s = signer(1);
        let mut body = body_for(&s, &events(erase_event()));
        // A checkpoint of the same log (same key) over other leaves.
        let mut other = events(erase_event());
        other[0] = AccessEvent::new(9, "x", "y", Action::Read, "customers", "z")
            .to_leaf()
            .unwrap();
        other.push(other[1].clone());
        body.checkpoint = body_for(&s, &other).checkpoint;
        assert!(seal(&body, &s).is_err());
        let file = seal_unchecked(&body, &s).unwrap();
        fails_at(&file, &s.verifier_key(), "event (log index 3)");
        // An index past the checkpoint.
        let mut body = body_for(&s, &events(erase_event()));
        body.event.index = 6;
        let file = seal_unchecked(&body, &s).unwrap();
        fails_at(&file, &s.verifier_key(), "event (log index 6)");
    }

    #[test]
    fn malformed_files_fail_without_panicking() {
        let (s, _, file) = good();
        let vkey = s.verifier_key();
        fails_at(b"", &vkey, "file");
        fails_at(b"{}\n\n", &vkey, "signature");
        let (_, note) = file.split_at(file.windows(2).position(|w| w == b"\n\n").unwrap());
        fails_at(&[b"{\"format\":1}", note].concat(), &vkey, "body");
        assert!(parse(b"no separator").is_err());
        assert!(parse(b"{\"format\":\"x\"}\n\n").is_err());
        // A checkpoint signed by the same key cannot pass as a receipt.
        let body = parse(&file).unwrap();
        let fake = [b"{}\n\n".as_slice(), body.checkpoint.as_bytes()].concat();
        fails_at(&fake, &vkey, "statement");
    }

    #[test]
    fn mail_text_names_request_and_every_erased_category() {
        let (_, body, _) = good();
        for lang in ["ja", "de", "en", "fr"] {
            let (subject, text) = mail_text(&body, lang);
            assert!(subject.contains(REQUEST), "{lang}: {subject}");
            assert!(text.contains(REQUEST), "{lang}");
            for e in &body.erased {
                assert!(text.contains(&e.category), "{lang}: {}", e.category);
            }
            for s in [
                &body.retained[0].what,
                &body.retained[0].basis,
                &body.backups,
                &body.record_kept,
                &body.account,
                &body.complaint,
                &body.controller.name,
                &body.controller.contact,
                &body.identity_verification,
            ] {
                assert!(text.contains(s.as_str()), "{lang}: {s}");
            }
            assert!(text.contains("MailCo") && text.contains("It ceased trading"));
            assert!(text.contains("2026-01-01 00:00 UTC"), "{lang}");
            assert!(text.contains("2026-01-02 00:00 UTC"), "{lang}");
            assert!(text.contains("kura receipt verify"), "{lang}");
        }
        let mut braces = body.clone();
        braces.retained[0].what = "{basis} {request}".to_owned();
        let (_, en) = mail_text(&braces, "en");
        assert!(en.contains("  - {basis} {request}: legal basis HGB §257;"));
        let (_, ja) = mail_text(&body, "ja");
        assert!(ja.contains("メールアドレス"));
        let (_, de) = mail_text(&body, "de");
        assert!(de.contains("E-Mail-Adresse"));
    }
}
