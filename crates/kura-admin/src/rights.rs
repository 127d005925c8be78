//! Data-subject requests: access (export), rectification, erasure and restriction — opened
//! by the subject or on their behalf, verified through the address on file, answered within
//! the deadline of the subject's regime, and (for erasure) closed with a signed receipt.
//!
//! # Flow
//! 1. [`open`]: the caller's grant for the request's kind is decided (`export`, `write`,
//!    `delete`, `write` for restriction) and recorded. The subject is found by its id or,
//!    for an identifier (e-mail, login id), through the blind index only — nothing is
//!    opened and the answer (a request id) is the same whether anything matched. A one-time
//!    token goes to the address **on file** (never to an address supplied with the
//!    request); only its keyed hash is stored. Deadlines follow the subject's regime
//!    ([`kura_obligations::rights`]).
//! 2. [`verify`]: whoever holds the token (relayed by a service with the `authenticate`
//!    grant, or the subject's own principal) proves control of the channel on file. Only
//!    then is anything revealed or changed: the export package is returned, the correction
//!    applied, processing restricted, or the subject erased.
//! 3. Erasure ([`erase_batch`]): a `rights_erase` event is written first and integrated
//!    under a signed checkpoint; processors whose principals obtained the subject's data are
//!    told (mail to their security officer) before anything is shredded; the receipt (see
//!    [`crate::receipt`]) is sealed with the event's inclusion proof and mailed to the
//!    address on file **before** that address is shredded; then the data key, cards,
//!    credentials, blind-index entries, activity and held mail go
//!    ([`kura_vault::Vault::delete`]). A crash in between is resumed by [`resume`]: the
//!    request stays `erasing` until the subject is gone.
//!
//! # Security properties
//! - An identifier supplied with a request is used for one thing only before verification:
//!   to find where to send the token. The caller learns nothing from the answer.
//! - The token is 256 random bits, single use, expiring (`[rights] token_ttl_hours`),
//!   stored as HMAC-SHA-256 under a key from the key provider.
//! - Every step is an access event (`rights_open`, `rights_verify`, `rights_export`,
//!   `rights_erase`, `rights_update`) and every address opened has its event first.
//! - A request row keeps no value: it is the minimal record of the request and outlives
//!   the subject (CCPA regs §7101: 24 months).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use kura_audit::{AccessEvent, Action as EventAction, Clock, Outcome};
use kura_mail::{OutgoingMail, Transport};
use kura_model::{Category, OrgRole, PrincipalType};
use kura_obligations::rights::{Deadlines, Regime, RequestKind, State};
use kura_store::{
    AuditStore, CardStore, CredentialStore, DirectoryStore, RightsFilter, RightsRecord,
    RightsStore, StoredSubject,
};
use kura_tlog::NoteSigner;
use kura_vault::{Access, Identifier, PolicyAction, Vault, VaultError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::directory::AdminError;
use crate::receipt::{self, Controller, Decision, Erased, ProvenEvent, ReceiptBody, Recipient};

/// The purpose recorded on kura's own steps of a request.
pub const PURPOSE: &str = "data_subject_request";
/// Token prefix.
pub const TOKEN_PREFIX: &str = "kura_rv_";
/// Requests erased per batch (one checkpoint per batch).
pub const ERASE_BATCH: usize = 256;

/// Settings of the rights module (`[rights]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The controller named on receipts and mails.
    pub controller_name: String,
    /// Its contact point (DPO or privacy desk).
    pub controller_contact: String,
    /// Base of the link in token mails (`<url>?token=...`); without it the mail carries the
    /// token alone.
    pub verify_url: Option<String>,
    /// How long a token stays valid.
    pub token_ttl_hours: u32,
    /// The internal target for APPI's "without delay", in days.
    pub appi_target_days: u32,
    /// How long the minimal record of a request is kept, in days (CCPA regs §7101: 24
    /// months).
    pub record_days: u32,
    /// When backups taken before an erasure are rotated out, in days.
    pub backup_rotation_days: u32,
    /// Codes mailed per person in 24 hours, at most (requests beyond are recorded, refused
    /// `rights_rate_limited` and mailed nothing).
    pub max_codes_per_day: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            controller_name: "the data holder".to_owned(),
            controller_contact: "privacy@localhost".to_owned(),
            verify_url: None,
            token_ttl_hours: 72,
            appi_target_days: 14,
            record_days: 730,
            backup_rotation_days: 35,
            max_codes_per_day: 5,
        }
    }
}

/// Everything the rights module needs, borrowed.
pub struct Env<'a> {
    /// The vault.
    pub vault: &'a Vault,
    /// Requests and activity.
    pub rights: &'a dyn RightsStore,
    /// Organizations and principals (recipients).
    pub directory: &'a dyn DirectoryStore,
    /// The access log (history, proofs).
    pub audit: &'a dyn AuditStore,
    /// Card metadata.
    pub cards: &'a dyn CardStore,
    /// Credential state.
    pub credentials: &'a dyn CredentialStore,
    /// Clock.
    pub clock: &'a dyn Clock,
    /// Where mail goes.
    pub transport: &'a dyn Transport,
    /// The `From:` mailbox.
    pub from: &'a str,
    /// Settings.
    pub settings: &'a Settings,
    /// Integrates the log and signs a checkpoint (receipts prove their event against it).
    pub integrator: &'a kura_audit::Integrator,
    /// The log's signing key (receipts).
    pub signer: &'a NoteSigner,
    /// Retention rules (listed in exports).
    pub retention: &'a [crate::retention::Rule],
}

/// The pieces [`Env`] borrows, owned: what `kura serve` keeps for the rights routes.
pub struct Service {
    /// The vault.
    pub vault: std::sync::Arc<Vault>,
    /// Requests and activity.
    pub rights: std::sync::Arc<dyn RightsStore>,
    /// Organizations and principals.
    pub directory: std::sync::Arc<dyn DirectoryStore>,
    /// The access log.
    pub audit: std::sync::Arc<dyn AuditStore>,
    /// Card metadata.
    pub cards: std::sync::Arc<dyn CardStore>,
    /// Credential state.
    pub credentials: std::sync::Arc<dyn CredentialStore>,
    /// Clock.
    pub clock: std::sync::Arc<dyn Clock>,
    /// Mail.
    pub transport: std::sync::Arc<dyn Transport>,
    /// `From:`.
    pub from: String,
    /// Settings.
    pub settings: Settings,
    /// The log's integrator.
    pub integrator: std::sync::Arc<kura_audit::Integrator>,
    /// The log's signing key.
    pub signer: NoteSigner,
    /// Retention rules.
    pub retention: Vec<crate::retention::Rule>,
}

impl Service {
    /// The borrowed view the operations take.
    pub fn env(&self) -> Env<'_> {
        Env {
            vault: &self.vault,
            rights: &*self.rights,
            directory: &*self.directory,
            audit: &*self.audit,
            cards: &*self.cards,
            credentials: &*self.credentials,
            clock: &*self.clock,
            transport: &*self.transport,
            from: &self.from,
            settings: &self.settings,
            integrator: &self.integrator,
            signer: &self.signer,
            retention: &self.retention,
        }
    }
}

/// A recipient organization told of an erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    /// Organization id.
    pub org: String,
    /// `processor` or `holder`.
    pub role: String,
    /// How it was told (`mail:<officer contact>`), or `none`.
    pub channel: String,
    /// When (unix ms).
    pub told_at_ms: Option<u64>,
    /// Its confirmation that it erased its copies (unix ms).
    pub confirmed_at_ms: Option<u64>,
    /// Why it could not be told.
    pub explanation: Option<String>,
}

/// The request's document (the `doc` column): no field value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Doc {
    /// Deadlines (absent for retention reconfirmations).
    pub deadlines: Option<Deadlines>,
    /// How identity was verified, once it was.
    pub identity: Option<String>,
    /// When it was verified.
    pub verified_at_ms: Option<u64>,
    /// Why it was extended.
    pub extension_reason: Option<String>,
    /// Why it was denied.
    pub denial_reason: Option<String>,
    /// Fields named by a rectification request.
    pub fields: Vec<String>,
    /// Categories erased.
    pub erased: Vec<String>,
    /// Recipients told.
    pub recipients: Vec<Told>,
    /// The `rights_erase` event's index.
    pub erase_event: Option<u64>,
    /// When it was completed.
    pub completed_at_ms: Option<u64>,
    /// Retention rule (reconfirmations and retention erasures).
    pub rule: Option<String>,
    /// Steps, oldest first: `(unix ms, state, by)`.
    pub history: Vec<(u64, String, String)>,
}

/// A request as shown to operators (no value; the subject's public id only).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// Request id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Collection.
    pub collection: String,
    /// The subject's public id, once verified (never for an unverified request: it would
    /// tell whether the identifier matched).
    pub subject: Option<String>,
    /// `api`, `operator`, `retention`.
    pub channel: String,
    /// State.
    pub state: String,
    /// Who opened it.
    pub opened_by: String,
    /// Received (unix ms).
    pub received_at_ms: i64,
    /// The deadline in force (unix ms).
    pub due_at_ms: i64,
    /// Regime.
    pub regime: Option<String>,
    /// Acknowledgement due (CCPA).
    pub ack_due_ms: Option<u64>,
    /// The deadline is an internal target (APPI "without delay").
    pub soft: bool,
    /// Extended (unix ms).
    pub extended_at_ms: Option<u64>,
    /// Open and past its deadline.
    pub overdue: bool,
    /// Recipients told and their confirmations.
    #[schema(value_type = Vec<Object>)]
    pub recipients: Vec<Told>,
    /// A signed receipt is available.
    pub receipt: bool,
    /// Steps `(unix ms, state, by)`.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<(u64, String, String)>,
}

/// What verifying a token did.
pub struct Verified {
    /// The request after it.
    pub request: RequestView,
    /// The export package (access requests).
    pub export: Option<serde_json::Value>,
    /// The signed receipt (erasure).
    pub receipt: Option<Vec<u8>>,
}

fn corrupt(what: impl Into<String>) -> AdminError {
    AdminError::Store(kura_store::StoreError::Corrupt(what.into()))
}

pub(crate) fn doc_of(r: &RightsRecord) -> Result<Doc, AdminError> {
    serde_json::from_str(&r.doc).map_err(|e| corrupt(format!("rights request {}: {e}", r.id)))
}

pub(crate) fn doc_json(d: &Doc) -> String {
    serde_json::to_string(d).unwrap_or_else(|_| "{}".to_owned())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The view of a stored request at `now`.
///
/// # Errors
/// A damaged document.
pub fn view(r: &RightsRecord, now: u64) -> Result<RequestView, AdminError> {
    let d = doc_of(r)?;
    let open = State::parse(&r.state).is_some_and(State::is_open);
    Ok(RequestView {
        id: r.id.clone(),
        kind: r.kind.clone(),
        collection: r.collection.clone(),
        subject: d
            .verified_at_ms
            .and(r.subject)
            .or(if r.channel == "retention" {
                r.subject
            } else {
                None
            })
            .map(|s| s.to_string()),
        channel: r.channel.clone(),
        state: r.state.clone(),
        opened_by: r.opened_by.clone(),
        received_at_ms: r.received_at,
        due_at_ms: r.due_at,
        regime: d.deadlines.map(|x| x.regime.as_str().to_owned()),
        ack_due_ms: d.deadlines.and_then(|x| x.ack_due_ms),
        soft: d.deadlines.is_some_and(|x| x.soft),
        extended_at_ms: d.deadlines.and_then(|x| x.extended_at_ms),
        overdue: open && r.due_at < to_i64(now),
        recipients: d.recipients,
        receipt: r.receipt.is_some(),
        history: d.history,
    })
}

/// The time zone a regime's deadlines are counted in for a subject of `country`: the
/// country's (main) zone, so "the end of the day" is the regulator's and the subject's.
pub fn zone_of(country: &str) -> jiff::tz::TimeZone {
    let name = match country {
        "US" => "America/Los_Angeles",
        "JP" => "Asia/Tokyo",
        "KR" => "Asia/Seoul",
        "GB" => "Europe/London",
        "IE" => "Europe/Dublin",
        "PT" => "Europe/Lisbon",
        "IS" => "Atlantic/Reykjavik",
        "FI" | "EE" | "LV" | "LT" | "BG" | "RO" | "GR" | "CY" => "Europe/Helsinki",
        "BR" => "America/Sao_Paulo",
        c if Regime::for_country(c) == Regime::Gdpr => "Europe/Berlin",
        _ => "UTC",
    };
    jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// The deadlines of a request received at `now` from a subject of `country`.
///
/// # Errors
/// `no_calendar` when the holiday data does not reach the acknowledgement deadline.
pub fn deadlines_for(
    country: &str,
    now: u64,
    settings: &Settings,
) -> Result<Deadlines, AdminError> {
    let regime = Regime::for_country(country);
    let holidays = kura_obligations::builtin_holidays(if regime == Regime::Ccpa {
        "US"
    } else {
        country
    })
    .unwrap_or_default();
    kura_obligations::rights::deadlines(
        regime,
        now,
        &zone_of(country),
        &holidays,
        settings.appi_target_days,
    )
    .map_err(|e| AdminError::invalid(e.code(), e.to_string()))
}

/// The policy action a request of `kind` needs from its caller.
pub fn grant_for(kind: RequestKind) -> PolicyAction {
    match kind {
        RequestKind::Access => PolicyAction::Export,
        RequestKind::Rectification | RequestKind::Restriction => PolicyAction::Write,
        RequestKind::Erasure => PolicyAction::Delete,
    }
}

/// A fresh one-time code and its SHA-256 (what the vault's keyed hash is taken of).
pub(crate) fn new_token() -> Result<(Zeroizing<String>, [u8; 32]), AdminError> {
    let raw: [u8; 32] = kura_crypto::random_array()?;
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)));
    let sha: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    Ok((token, sha))
}

/// The SHA-256 of a well-formed code (`kura_rv_` and 43 base64url characters), else `None`.
pub(crate) fn token_sha(token: &str) -> Option<[u8; 32]> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    if rest.len() != 43
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(Sha256::digest(token.as_bytes()).into())
}

fn new_id() -> Result<String, AdminError> {
    let raw: [u8; 16] = kura_crypto::random_array()?;
    Ok(format!("rr_{}", crate::incident::hex(&raw)))
}

/// An access acting for kura on the caller's behalf: the caller's principal id is recorded,
/// the decision for the caller was taken before (opening the request).
fn on_behalf(principal: &str, request: &str) -> Access {
    let mut a = Access::operator(principal, PURPOSE);
    a.request_id = request.to_owned();
    a
}

/// The language of a mail to a person of `locale`: `ja`, `de`, else English.
pub(crate) fn lang_of(locale: &str) -> &str {
    match locale.get(..2) {
        Some("ja") => "ja",
        Some("de") => "de",
        _ => "en",
    }
}

fn kind_name(kind: &str, lang: &str) -> &'static str {
    match (kind, lang) {
        ("access", "ja") => "開示（データの写しの提供）",
        ("rectification", "ja") => "訂正",
        ("erasure", "ja") => "削除",
        ("restriction", "ja") => "利用停止",
        ("access", "de") => "Auskunft (Kopie Ihrer Daten)",
        ("rectification", "de") => "Berichtigung",
        ("erasure", "de") => "Löschung",
        ("restriction", "de") => "Einschränkung der Verarbeitung",
        ("access", _) => "access (a copy of your data)",
        ("rectification", _) => "rectification",
        ("erasure", _) => "erasure",
        _ => "restriction of processing",
    }
}

/// The token mail in the subject's language. The token is the only secret in it.
fn token_mail(
    settings: &Settings,
    lang: &str,
    to: &str,
    kind: &str,
    id: &str,
    token: &str,
    due: u64,
) -> OutgoingMail {
    let link = match &settings.verify_url {
        Some(u) => format!("{u}?token={token}"),
        None => token.to_owned(),
    };
    let due = crate::receipt::utc_date(due);
    let hours = settings.token_ttl_hours;
    let c = &settings.controller_name;
    let (subject, body) = match lang {
        "ja" => (
            format!("【{c}】個人データに関するご請求の確認"),
            format!(
                "{c}は、お客様の個人データの{k}のご請求を受け付けました（請求番号 {id}）。\n\n\
                 ご本人確認のため、{hours}時間以内に次のコードを入力するか、リンクを開いてください。\n\n{link}\n\n\
                 このご請求にお心当たりがない場合は、このメールを破棄してください。何も変更されません。\n\
                 回答期限: {due}\n問い合わせ先: {contact}\n",
                k = kind_name(kind, "ja"),
                contact = settings.controller_contact
            ),
        ),
        "de" => (
            format!("{c}: Bestätigung Ihres Antrags zu Ihren personenbezogenen Daten"),
            format!(
                "{c} hat Ihren Antrag auf {k} erhalten (Antrag {id}).\n\n\
                 Bitte bestätigen Sie innerhalb von {hours} Stunden, dass der Antrag von Ihnen stammt, \
                 mit diesem Code oder Link:\n\n{link}\n\n\
                 Wenn Sie diesen Antrag nicht gestellt haben, ignorieren Sie diese Nachricht; es wird nichts geändert.\n\
                 Frist für unsere Antwort: {due}\nKontakt: {contact}\n",
                k = kind_name(kind, "de"),
                contact = settings.controller_contact
            ),
        ),
        _ => (
            format!("{c}: please confirm your request about your personal data"),
            format!(
                "{c} received a request for {k} of your personal data (request {id}).\n\n\
                 To confirm that it comes from you, use this code or link within {hours} hours:\n\n{link}\n\n\
                 If you did not make this request, ignore this message; nothing will change.\n\
                 We will answer by: {due}\nContact: {contact}\n",
                k = kind_name(kind, "en"),
                contact = settings.controller_contact
            ),
        ),
    };
    OutgoingMail::new(to.to_owned(), subject, Zeroizing::new(body))
}

/// Opens a request of `kind` about the subject `who` names, in `collection`, for the
/// caller `access` (the subject's own principal, a service relaying it, or an operator on
/// the subject's behalf — `channel` says which). Returns the request id; the same answer
/// whether or not `who` matched anyone (see the module's security properties).
///
/// # Errors
/// The policy's refusal for the kind's grant (recorded); `unknown_collection`; store and
/// mail failures.
pub fn open(
    env: &Env<'_>,
    access: &Access,
    collection: &str,
    kind: RequestKind,
    who: &Identifier,
    channel: &str,
) -> Result<String, AdminError> {
    let id = new_id()?;
    let v = env.vault;
    let mut base = v
        .event_for(access, EventAction::RightsOpen, collection)
        .with_fields([
            format!("channel:{channel}"),
            format!("kind:{}", kind.as_str()),
        ]);
    base.request_id = id.clone();
    let target = match who {
        Identifier::Subject(s) => Some(*s),
        _ => None,
    };
    // The grant first, before anything is looked up (a refusal says nothing of a subject).
    // A write names the field the request is verified through (the address on file).
    let channel_field = v.email_field(collection)?.map(|f| vec![f]);
    // A self-service principal opens any kind about its own record under its `export`
    // grant: nothing changes before the code on file comes back, and an erasure then ends
    // with a receipt (its key alone cannot erase: `delete` is not in its default policy).
    let grant = match access.caller.kind {
        kura_policy::PrincipalKind::SelfService { .. } => PolicyAction::Export,
        _ => grant_for(kind),
    };
    let fields = match grant {
        PolicyAction::Write => channel_field.as_deref(),
        _ => None,
    };
    if let Err(e) = v.decide(access, grant, collection, fields, target.as_ref()) {
        return Err(v.record_refusal(base, e).into());
    }
    let stored = v.find_for_request(collection, who)?;
    let now = env.clock.now_ms();
    let country = stored.as_ref().map_or("", |s| s.country.as_str());
    let deadlines = deadlines_for(country, now, env.settings)?;
    let ttl = u64::from(env.settings.token_ttl_hours) * 3_600_000;
    let mut doc = Doc {
        deadlines: Some(deadlines),
        history: vec![(
            now,
            State::AwaitingVerification.as_str().to_owned(),
            access.principal.clone(),
        )],
        ..Doc::default()
    };
    let mut rec = RightsRecord {
        id: id.clone(),
        kind: kind.as_str().to_owned(),
        collection: collection.to_owned(),
        subject: stored.as_ref().map(|s| s.id),
        channel: channel.to_owned(),
        state: State::AwaitingVerification.as_str().to_owned(),
        opened_by: access.principal.clone(),
        received_at: to_i64(now),
        due_at: to_i64(deadlines.due_ms),
        token_hash: None,
        token_expires: Some(to_i64(now + ttl)),
        cycle: None,
        version: 1,
        updated_at: to_i64(now),
        doc: String::new(),
        receipt: None,
    };
    let Some(stored) = stored else {
        // Nobody matched: a request that can never be verified, recorded as such.
        rec.doc = doc_json(&doc);
        let ev = base.with_outcome(Outcome::Error("subject_not_found".into()));
        env.rights.insert_rights_request(&rec, &[ev.to_leaf()?])?;
        return Ok(id);
    };
    // A flood of requests must not become a flood of mail to the person: at most
    // `max_codes_per_day` codes per subject in 24 hours. Beyond that the request is recorded,
    // refused (`rights_rate_limited`, an access event) and mailed nothing; the caller's
    // answer stays the same.
    let day_ago = to_i64(now.saturating_sub(86_400_000));
    let recent = env
        .rights
        .rights_requests(
            &RightsFilter {
                subject: Some(stored.id),
                ..RightsFilter::default()
            },
            10_000,
        )?
        .iter()
        .filter(|r| r.received_at >= day_ago && r.channel != "retention")
        .count();
    if recent >= env.settings.max_codes_per_day as usize {
        rec.state = State::Denied.as_str().to_owned();
        doc.denial_reason = Some("rate limited: too many requests for this person today".into());
        rec.doc = doc_json(&doc);
        let ev = base
            .with_subjects([stored.iid])
            .with_outcome(Outcome::Error("rights_rate_limited".into()));
        env.rights.insert_rights_request(&rec, &[ev.to_leaf()?])?;
        return Ok(id);
    }
    let (token, sha) = new_token()?;
    rec.token_hash = Some(v.recovery_token_hash(&sha));
    rec.doc = doc_json(&doc);
    let open_ev = base.with_subjects([stored.iid]);
    // The row and its event, then the address (its own event first), then the mail.
    let mut inserted = false;
    let mut record = |leaves: &[Vec<u8>]| -> Result<(), kura_store::StoreError> {
        let mut all = vec![
            open_ev
                .to_leaf()
                .map_err(|e| kura_store::StoreError::Backend(e.to_string()))?,
        ];
        all.extend_from_slice(leaves);
        inserted = env.rights.insert_rights_request(&rec, &all)?;
        Ok(())
    };
    let addr = v.contact_addresses(
        &on_behalf(&access.principal, &id),
        EventAction::RightsVerify,
        collection,
        std::slice::from_ref(&stored),
        &mut record,
    )?;
    if !inserted {
        return Err(AdminError::Conflict(format!("request {id} exists")));
    }
    match addr.into_iter().next().and_then(|a| a.address) {
        Some(to) => {
            let mail = token_mail(
                env.settings,
                lang_of(&stored.locale),
                &to,
                kind.as_str(),
                &id,
                &token,
                deadlines.due_ms,
            )
            .about(v.mail_tag(&stored.id))
            .with_message_id(&format!("kr-{}-t", &id[3..]))
            .map_err(|e| AdminError::invalid("internal", e.to_string()))?;
            env.transport.send(&mail).map_err(VaultError::from)?;
        }
        None => {
            doc.history
                .push((now, "no_contact_channel".to_owned(), "kura".to_owned()));
            let mut r = rec.clone();
            r.version += 1;
            r.doc = doc_json(&doc);
            env.rights.update_rights_request(&r, &[])?;
        }
    }
    Ok(id)
}

/// The one decision for redeeming a code sent to the address on file (a request's or a
/// reconfirmation's): `authenticate` on the collection's e-mail field, like login and
/// recovery — relayed by a service with the grant. A self-service principal (the console's
/// subject page) redeems only codes of requests about its own subject: its key and the code
/// together, so neither a stolen key nor a stolen code alone suffices; the caller checks the
/// request's subject with [`own_code`] once it is found. A refusal is recorded as `base`
/// with `denied:<code>`.
pub(crate) fn decide_redeem(
    v: &Vault,
    access: &Access,
    collection: &str,
    base: &AccessEvent,
) -> Result<(), AdminError> {
    if let kura_policy::PrincipalKind::SelfService { subject } = access.caller.kind {
        // Its own record under its `export` grant (what opened the request).
        let own = uuid::Uuid::from_u128(subject);
        return v
            .decide(access, PolicyAction::Export, collection, None, Some(&own))
            .map(drop)
            .map_err(|e| v.record_refusal(base.clone(), e).into());
    }
    let channel_field = v.email_field(collection)?.map(|f| vec![f]);
    v.decide(
        access,
        PolicyAction::Authenticate,
        collection,
        channel_field.as_deref(),
        None,
    )
    .map(drop)
    .map_err(|e| v.record_refusal(base.clone(), e).into())
}

/// Whether the request a code found may be redeemed by `access`: always for a relaying
/// service, and for a self-service principal only when the request is about its own
/// subject (otherwise the code is answered as not valid: it says nothing of whose it is).
pub(crate) fn own_code(access: &Access, subject: Option<uuid::Uuid>) -> bool {
    match access.caller.kind {
        kura_policy::PrincipalKind::SelfService { subject: own } => {
            subject == Some(uuid::Uuid::from_u128(own))
        }
        _ => true,
    }
}

/// A request by id, or `not_found`.
fn stored_request(env: &Env<'_>, id: &str) -> Result<RightsRecord, AdminError> {
    env.rights
        .rights_request(id)?
        .ok_or_else(|| AdminError::NotFound(format!("request {id}")))
}

/// The request's subject as stored now (`None`: not known, or erased).
fn live_subject(env: &Env<'_>, r: &RightsRecord) -> Result<Option<StoredSubject>, AdminError> {
    match r.subject {
        Some(s) => Ok(env.vault.store().subject(&r.collection, &s)?),
        None => Ok(None),
    }
}

pub(crate) fn refuse_verify(
    env: &Env<'_>,
    ev: AccessEvent,
    code: &'static str,
    msg: &str,
) -> AdminError {
    match env
        .vault
        .record_event(&ev.with_outcome(Outcome::Error(code.to_owned())))
    {
        Ok(_) => AdminError::invalid(code, msg.to_owned()),
        Err(e) => e.into(),
    }
}

/// Redeems a token: checks it, marks the request verified, and answers it — the export
/// package (access), the correction (rectification, with `changes`), the restriction, or
/// the erasure with its receipt. `access` is the relaying caller; it needs the
/// `authenticate` grant on the collection's e-mail field (and, for a rectification, `write`
/// on the fields it relays).
///
/// # Errors
/// `rights_token_invalid` (unknown, malformed or used), `rights_token_expired`,
/// `rectification_fields_required`; the vault's errors for the answer.
pub fn verify(
    env: &Env<'_>,
    access: &Access,
    collection: &str,
    token: &str,
    changes: Option<&BTreeMap<String, Option<String>>>,
    mail_copy: bool,
) -> Result<Verified, AdminError> {
    let v = env.vault;
    let base = v.event_for(access, EventAction::RightsVerify, collection);
    decide_redeem(v, access, collection, &base)?;
    let Some(sha) = token_sha(token) else {
        return Err(refuse_verify(
            env,
            base,
            "rights_token_invalid",
            "the token is not valid",
        ));
    };
    let Some(rec) = env
        .rights
        .rights_request_by_token(&v.recovery_token_hash(&sha))?
        .filter(|r| r.collection == collection && own_code(access, r.subject))
    else {
        return Err(refuse_verify(
            env,
            base,
            "rights_token_invalid",
            "the token is not valid",
        ));
    };
    let mut base = base;
    base.request_id = rec.id.clone();
    let Some(subject) = rec.subject else {
        return Err(refuse_verify(
            env,
            base,
            "rights_token_invalid",
            "the token is not valid",
        ));
    };
    let now = env.clock.now_ms();
    if rec.state != State::AwaitingVerification.as_str() {
        return Err(refuse_verify(
            env,
            base,
            "rights_token_invalid",
            "the token is not valid",
        ));
    }
    let kind = RequestKind::parse(&rec.kind)
        .ok_or_else(|| corrupt(format!("request {}: kind", rec.id)))?;
    if kind == RequestKind::Rectification {
        let Some(names) = changes
            .filter(|c| !c.is_empty())
            .map(|c| c.keys().cloned().collect::<Vec<String>>())
        else {
            return Err(refuse_verify(
                env,
                base,
                "rectification_fields_required",
                "a rectification names the corrected fields (`fields`)",
            ));
        };
        // The relaying caller must be allowed to write the fields it relays.
        if let Err(e) = v.decide(
            access,
            PolicyAction::Write,
            collection,
            Some(&names),
            Some(&subject),
        ) {
            return Err(v.record_refusal(base, e).into());
        }
    }
    if rec.token_expires.is_some_and(|t| to_i64(now) >= t) {
        let mut r = rec.clone();
        let mut d = doc_of(&r)?;
        d.history.push((
            now,
            State::Expired.as_str().to_owned(),
            access.principal.clone(),
        ));
        r.state = State::Expired.as_str().to_owned();
        r.token_hash = None;
        r.version += 1;
        r.updated_at = to_i64(now);
        r.doc = doc_json(&d);
        let ev = base.with_outcome(Outcome::Error("rights_token_expired".into()));
        env.rights.update_rights_request(&r, &[ev.to_leaf()?])?;
        return Err(AdminError::invalid(
            "rights_token_expired",
            "the token has expired; open a new request",
        ));
    }
    let Some(stored) = env.vault.store().subject(collection, &subject)? else {
        return Err(refuse_verify(
            env,
            base,
            "rights_token_invalid",
            "the token is not valid",
        ));
    };
    // Verified: the token is spent in the same transaction as the event.
    let mut r = rec.clone();
    let mut d = doc_of(&r)?;
    d.identity = Some(format!(
        "one-time code sent to the e-mail address on file, returned on {} ({} hours valid)",
        crate::receipt::utc_date(now),
        env.settings.token_ttl_hours
    ));
    d.verified_at_ms = Some(now);
    d.history.push((
        now,
        State::Verified.as_str().to_owned(),
        access.principal.clone(),
    ));
    if let Some(c) = changes {
        d.fields = c.keys().cloned().collect();
    }
    r.state = State::Verified.as_str().to_owned();
    r.token_hash = None;
    r.version += 1;
    r.updated_at = to_i64(now);
    r.doc = doc_json(&d);
    let ev = base.with_subjects([stored.iid]).with_fields(["verified"]);
    if !env.rights.update_rights_request(&r, &[ev.to_leaf()?])? {
        return Err(AdminError::invalid(
            "rights_token_invalid",
            "the token is not valid",
        ));
    }
    env.rights.touch_activity(&[(subject, to_i64(now))])?;
    answer(env, &access.principal, r, &stored, changes, mail_copy)
}

/// Answers a verified request (also what [`resume`] runs).
fn answer(
    env: &Env<'_>,
    by: &str,
    r: RightsRecord,
    stored: &StoredSubject,
    changes: Option<&BTreeMap<String, Option<String>>>,
    mail_copy: bool,
) -> Result<Verified, AdminError> {
    let kind =
        RequestKind::parse(&r.kind).ok_or_else(|| corrupt(format!("request {}: kind", r.id)))?;
    let acting = on_behalf(by, &r.id);
    match kind {
        RequestKind::Access => {
            let package = export_package(env, &acting, &r, stored)?;
            if mail_copy {
                // On request, also to the address on file (never to another), as JSON.
                let text = format!(
                    "{c}: a copy of the personal data we hold about you (request {id}), as JSON. \
                     The CSV files are inside, under \"csv\".\n\n{json}\n",
                    c = env.settings.controller_name,
                    id = r.id,
                    json = serde_json::to_string_pretty(&package).unwrap_or_default()
                );
                tell(env, by, &r.id, stored, "A copy of your data", text)?;
            }
            let done = complete(env, by, r, None, Vec::new())?;
            Ok(Verified {
                request: view(&done, env.clock.now_ms())?,
                export: Some(package),
                receipt: None,
            })
        }
        RequestKind::Rectification => {
            let changes = changes.ok_or_else(|| {
                AdminError::invalid(
                    "rectification_fields_required",
                    "a rectification names the corrected fields",
                )
            })?;
            env.vault
                .patch(&acting, &r.collection, &stored.id, changes)?;
            let done = complete(env, by, r, None, Vec::new())?;
            Ok(Verified {
                request: view(&done, env.clock.now_ms())?,
                export: None,
                receipt: None,
            })
        }
        RequestKind::Restriction => {
            let ev = env
                .vault
                .event_for(&acting, EventAction::RightsUpdate, &r.collection)
                .with_subjects([stored.iid])
                .with_fields(["state:restricted"]);
            env.rights
                .set_restricted(&stored.id, true, &[ev.to_leaf()?])?;
            let done = complete(env, by, r, None, Vec::new())?;
            Ok(Verified {
                request: view(&done, env.clock.now_ms())?,
                export: None,
                receipt: None,
            })
        }
        RequestKind::Erasure => {
            let mut out = erase_batch(env, by, vec![r])?;
            let (rec, receipt) = out
                .pop()
                .ok_or_else(|| corrupt("erasure produced nothing"))?;
            Ok(Verified {
                request: view(&rec, env.clock.now_ms())?,
                export: None,
                receipt,
            })
        }
    }
}

/// `r` moved to its final state (completed, or `erased` for a reconfirmation), not stored.
fn completed(
    mut r: RightsRecord,
    by: &str,
    receipt: Option<Vec<u8>>,
    now: u64,
) -> Result<RightsRecord, AdminError> {
    let mut d = doc_of(&r)?;
    let done = if r.kind == "reconfirmation" {
        "erased"
    } else {
        State::Completed.as_str()
    };
    d.history.push((now, done.to_owned(), by.to_owned()));
    d.completed_at_ms = Some(now);
    r.state = done.to_owned();
    r.version += 1;
    r.updated_at = to_i64(now);
    r.doc = doc_json(&d);
    r.receipt = receipt;
    Ok(r)
}

fn complete(
    env: &Env<'_>,
    by: &str,
    r: RightsRecord,
    receipt: Option<Vec<u8>>,
    leaves: Vec<Vec<u8>>,
) -> Result<RightsRecord, AdminError> {
    let r = completed(r, by, receipt, env.clock.now_ms())?;
    if !env.rights.update_rights_request(&r, &leaves)? {
        return Err(AdminError::Conflict(format!(
            "request {} changed meanwhile",
            r.id
        )));
    }
    Ok(r)
}

/// The organizations (other than operators and the subject itself) whose principals
/// obtained data of subject `iid`, from its access history: who must be told of an
/// erasure (GDPR Art. 19; CCPA regs §7022(b)).
///
/// # Errors
/// Store and audit failures.
pub fn recipients_of(
    env: &Env<'_>,
    iid: u64,
) -> Result<Vec<(String, OrgRole, String)>, AdminError> {
    let mut principals: BTreeSet<String> = BTreeSet::new();
    let mut after = None;
    loop {
        let page = kura_audit::subject_history(env.audit, iid, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.index);
        for e in &page {
            let Some(ev) = &e.event else { continue };
            let obtained = matches!(
                ev.action,
                "read"
                    | "search"
                    | "export"
                    | "card_detokenize"
                    | "card_read"
                    | "import"
                    | "create"
                    | "patch"
            );
            if obtained && ev.outcome == "ok" {
                principals.insert(ev.principal.clone());
            }
        }
        if page.len() < 1000 {
            break;
        }
    }
    let mut orgs: BTreeMap<String, (OrgRole, String)> = BTreeMap::new();
    for p in principals {
        let Some(rec) = env.directory.principal(&p)? else {
            continue;
        };
        if matches!(
            rec.kind,
            PrincipalType::Operator | PrincipalType::SelfService
        ) {
            continue;
        }
        if let Some(o) = env.directory.organization(&rec.org)? {
            orgs.insert(o.id.clone(), (o.role, o.officer_contact.clone()));
        }
    }
    Ok(orgs
        .into_iter()
        .map(|(id, (role, contact))| (id, role, contact))
        .collect())
}

/// One request after [`erase_batch`], with its signed receipt (none when its subject was
/// gone before this run and no receipt had been issued).
pub type Erasure = (RightsRecord, Option<Vec<u8>>);

/// Erases the subjects of verified erasure requests (or of retention requests whose
/// deadline passed), each with a signed receipt, in the order of the module's flow. Returns
/// each request after it, with its receipt.
///
/// # Errors
/// Store, vault, audit and mail failures: what was done stays done; [`resume`] continues.
pub fn erase_batch(
    env: &Env<'_>,
    by: &str,
    requests: Vec<RightsRecord>,
) -> Result<Vec<Erasure>, AdminError> {
    let v = env.vault;
    let now = env.clock.now_ms();
    struct Item {
        rec: RightsRecord,
        doc: Doc,
        stored: StoredSubject,
        categories: Vec<Category>,
        event: u64,
    }
    let mut out = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut pending = Vec::new();
    // 1. Decide and log each erasure (`rights_erase`, before anything is shredded).
    for mut rec in requests {
        let subject = rec
            .subject
            .ok_or_else(|| corrupt(format!("request {}: no subject", rec.id)))?;
        let Some(stored) = v.store().subject(&rec.collection, &subject)? else {
            // Gone already (erased by another path, or a resumed run that got this far):
            // finish what an interrupted batch may have left (held mail, the WAL purge).
            v.finish_erasures(&[subject])?;
            let mut d = doc_of(&rec)?;
            d.history
                .push((now, "subject_already_erased".into(), by.to_owned()));
            rec.doc = doc_json(&d);
            let receipt = rec.receipt.clone();
            let done = complete(env, by, rec, receipt.clone(), Vec::new())?;
            out.push((done, receipt));
            continue;
        };
        let categories = v.categories_held(&stored)?;
        let mut doc = doc_of(&rec)?;
        doc.erased = categories.iter().map(|c| c.as_str().to_owned()).collect();
        let mut ev = v
            .event_for(
                &on_behalf(by, &rec.id),
                EventAction::RightsErase,
                &rec.collection,
            )
            .with_subjects([stored.iid])
            .with_fields(doc.erased.iter().map(|c| format!("category:{c}")));
        ev.request_id = rec.id.clone();
        pending.push((rec, doc, stored, categories, ev));
    }
    // One group commit for the batch's `rights_erase` events, one transaction for its rows.
    let events: Vec<AccessEvent> = pending.iter().map(|p| p.4.clone()).collect();
    let indexes = v.record_events(&events)?;
    for ((mut rec, mut doc, stored, categories, _), event) in pending.into_iter().zip(indexes) {
        doc.erase_event = Some(event);
        doc.history.push((now, "erasing".into(), by.to_owned()));
        rec.state = if rec.kind == "reconfirmation" {
            "erasing"
        } else {
            State::Erasing.as_str()
        }
        .to_owned();
        rec.version += 1;
        rec.updated_at = to_i64(now);
        rec.doc = doc_json(&doc);
        items.push(Item {
            rec,
            doc,
            stored,
            categories,
            event,
        });
    }
    let rows: Vec<RightsRecord> = items.iter().map(|i| i.rec.clone()).collect();
    if env.rights.update_rights_requests(&rows, &[])? != rows.len() as u64 {
        return Err(AdminError::Conflict(
            "a request of the batch changed meanwhile; run again".into(),
        ));
    }
    if items.is_empty() {
        return Ok(out);
    }
    // 2. Processors told, before anything is shredded (GDPR Art. 19, CCPA §7022(b)(2)).
    //    The subject's history is read from the integrated log: integrate it first.
    env.integrator.integrate_now(now)?;
    let mut per_org: BTreeMap<String, (OrgRole, String, Vec<usize>)> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        for (org, role, contact) in recipients_of(env, it.stored.iid)? {
            per_org
                .entry(org)
                .or_insert((role, contact, Vec::new()))
                .2
                .push(i);
        }
    }
    for (org, (role, contact, who)) in &per_org {
        let told = if *role == OrgRole::Processor {
            let lines: Vec<String> = who
                .iter()
                .map(|i| {
                    format!(
                        "- request {} — subject {} in `{}`",
                        items[*i].rec.id, items[*i].stored.id, items[*i].rec.collection
                    )
                })
                .collect();
            let body = format!(
                "{c} instructs {org}, as its processor, to erase every copy it holds of the personal data of the \
                 following people, obtained through kura (GDPR Art. 17 and 19; CCPA regs §7022(b)(2)):\n\n{}\n\n\
                 Confirm each erasure with `POST /v1/rights/<request>/confirm` using your organization's key, \
                 or reply to {contact_c}.\n",
                lines.join("\n"),
                c = env.settings.controller_name,
                contact_c = env.settings.controller_contact,
            );
            let mail = OutgoingMail::new(
                contact.clone(),
                format!("Erasure instruction from {}", env.settings.controller_name),
                Zeroizing::new(body),
            );
            match env.transport.send(&mail) {
                Ok(()) => Told {
                    org: org.clone(),
                    role: role.as_str().to_owned(),
                    channel: format!("mail:{contact}"),
                    told_at_ms: Some(now),
                    confirmed_at_ms: None,
                    explanation: None,
                },
                Err(e) => Told {
                    org: org.clone(),
                    role: role.as_str().to_owned(),
                    channel: "none".into(),
                    told_at_ms: None,
                    confirmed_at_ms: None,
                    explanation: Some(format!(
                        "the instruction could not be delivered ({})",
                        e.code()
                    )),
                },
            }
        } else {
            // The holder's own services: erased with the subject in kura itself.
            continue;
        };
        for i in who {
            items[*i].doc.recipients.push(told.clone());
        }
    }
    for it in &items {
        for t in &it.doc.recipients {
            let ev = v
                .event_for(
                    &on_behalf(by, &it.rec.id),
                    EventAction::RightsUpdate,
                    &it.rec.collection,
                )
                .with_subjects([it.stored.iid])
                .with_fields([format!("org:{}", t.org), "state:told".to_owned()]);
            let mut ev = ev;
            ev.request_id = it.rec.id.clone();
            v.record_event(&ev)?;
        }
    }
    // 3. One checkpoint over every `rights_erase` event of the batch.
    env.integrator.integrate_now(now)?;
    let (size, checkpoint) = env
        .audit
        .latest_audit_checkpoint()?
        .ok_or_else(|| corrupt("the access log has no checkpoint"))?;
    // 4. Receipts, sealed.
    let mut receipts = Vec::with_capacity(items.len());
    for it in &items {
        if it.event >= size {
            return Err(AdminError::invalid(
                "checkpoint_behind",
                format!("event {} is past the checkpoint at {size}", it.event),
            ));
        }
        let leaf = env
            .audit
            .audit_leaf(it.event)?
            .ok_or_else(|| corrupt(format!("access log has no leaf {}", it.event)))?;
        let proof = kura_audit::inclusion_proof(env.audit, it.event, size)?;
        let body = receipt_body(
            env,
            it.rec.clone(),
            &it.doc,
            &it.stored,
            &it.categories,
            now,
            &checkpoint,
            ProvenEvent {
                index: it.event,
                leaf: B64.encode(&leaf),
                proof: proof.hashes.iter().map(|h| B64.encode(h.0)).collect(),
            },
        );
        receipts.push((receipt::seal(&body, env.signer)?, body));
    }
    // 5. The receipt to the address on file, before the address is shredded. The mail is
    //    not filed under the subject: it is the confirmation, and must survive the purge.
    let stored: Vec<StoredSubject> = items.iter().map(|i| i.stored.clone()).collect();
    let mut by_coll: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        by_coll
            .entry(it.rec.collection.clone())
            .or_default()
            .push(i);
    }
    for (coll, idx) in &by_coll {
        let subjects: Vec<StoredSubject> = idx.iter().map(|i| stored[*i].clone()).collect();
        let audit = env.audit;
        let mut record = |leaves: &[Vec<u8>]| -> Result<(), kura_store::StoreError> {
            audit.append_audit(leaves).map(drop)
        };
        let acting = on_behalf(by, &items[idx[0]].rec.id);
        let addrs = v.contact_addresses(
            &acting,
            EventAction::RightsUpdate,
            coll,
            &subjects,
            &mut record,
        )?;
        let mut mails = Vec::new();
        for (k, a) in idx.iter().zip(addrs) {
            let Some(to) = a.address else { continue };
            let (file, body) = &receipts[*k];
            let (subject, text) = receipt::mail_text(body, lang_of(&items[*k].stored.locale));
            let mut full = Zeroizing::new(text);
            full.push_str("\n\n----- receipt (save as receipt.txt) -----\n");
            full.push_str(&String::from_utf8_lossy(file));
            let mail = OutgoingMail::new(to.to_string(), subject, full)
                .with_message_id(&format!("kr-{}-r", &items[*k].rec.id[3..]))
                .map_err(|e| AdminError::invalid("internal", e.to_string()))?;
            mails.push(mail);
        }
        for r in env.transport.send_batch(&mails) {
            r.map_err(VaultError::from)?;
        }
    }
    // 6. Shred (made final on disk once for the batch), then close each request with its
    //    receipt.
    for it in &items {
        match v.delete_deferred(
            &on_behalf(by, &it.rec.id),
            &it.rec.collection,
            &it.stored.id,
        ) {
            Ok(()) | Err(VaultError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let ids: Vec<kura_vault::Uuid> = items.iter().map(|it| it.stored.id).collect();
    v.finish_erasures(&ids)?;
    let mut done = Vec::with_capacity(items.len());
    for (it, (file, _)) in items.into_iter().zip(receipts) {
        let mut rec = it.rec;
        rec.doc = doc_json(&it.doc);
        done.push(completed(rec, by, Some(file), now)?);
    }
    if env.rights.update_rights_requests(&done, &[])? != done.len() as u64 {
        return Err(AdminError::Conflict(
            "a request of the batch changed meanwhile; run again".into(),
        ));
    }
    out.extend(done.into_iter().map(|r| {
        let receipt = r.receipt.clone();
        (r, receipt)
    }));
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn receipt_body(
    env: &Env<'_>,
    rec: RightsRecord,
    doc: &Doc,
    stored: &StoredSubject,
    categories: &[Category],
    now: u64,
    checkpoint: &str,
    event: ProvenEvent,
) -> ReceiptBody {
    let s = env.settings;
    let record_until = now + u64::from(s.record_days) * 86_400_000;
    let regime = Regime::for_country(&stored.country);
    ReceiptBody {
        format: receipt::FORMAT.to_owned(),
        origin: env.signer.name().to_owned(),
        request: rec.id.clone(),
        collection: rec.collection.clone(),
        subject: stored.id.to_string(),
        received_at_ms: to_u64(rec.received_at),
        completed_at_ms: now,
        channel: rec.channel.clone(),
        identity_verification: doc.identity.clone().unwrap_or_else(|| match &doc.rule {
            Some(rule) => format!(
                "not applicable: erased under the retention rule `{rule}` after a reconfirmation request to the address on file went unanswered"
            ),
            None => "verified by the operator".to_owned(),
        }),
        decision: Decision::Complied,
        erased: categories
            .iter()
            .map(|c| Erased {
                category: c.as_str().to_owned(),
                method: "crypto_shredding".to_owned(),
            })
            .collect(),
        retained: vec![receipt::Retained {
            what: "the access log's entries about this person (internal id, who accessed, when, why, which fields — no values)".into(),
            basis: "accountability and security of processing (GDPR Art. 5(2), 32; APPI Art. 23)".into(),
            purpose: "proof of who accessed the data and of this erasure".into(),
            until_ms: None,
        }, receipt::Retained {
            what: "the minimal record of this request (ids, dates, decision)".into(),
            basis: "CCPA regs §7101(a); GDPR Art. 5(2)".into(),
            purpose: "to show that the request was handled".into(),
            until_ms: Some(record_until),
        }],
        backups: format!(
            "Backups taken before the erasure hold the data only sealed under a data key that no longer exists in the live key store; \
             backups of the key store are rotated within {} days and are not restored for this person's data (CCPA regs §7022(d)).",
            s.backup_rotation_days
        ),
        recipients: doc
            .recipients
            .iter()
            .map(|t| Recipient {
                org: t.org.clone(),
                role: t.role.clone(),
                channel: t.channel.clone(),
                told_at_ms: t.told_at_ms,
                explanation: t.explanation.clone(),
            })
            .collect(),
        record_kept: format!(
            "A minimal record of this request (ids, dates, decision, no personal values) is kept until {} to show it was handled.",
            crate::receipt::utc_date(record_until)
        ),
        account: "The account is closed: its password hash, login state, recovery tokens and payment cards were erased with the data key.".into(),
        complaint: match regime {
            Regime::Gdpr | Regime::Default => "You may lodge a complaint with a supervisory authority (GDPR Art. 77) and seek a judicial remedy (Art. 79).".into(),
            Regime::Ccpa => "You may contact the California Privacy Protection Agency or the California Attorney General.".into(),
            Regime::Appi => "個人情報保護委員会（PPC）に相談することができます。You may contact the Personal Information Protection Commission.".into(),
        },
        controller: Controller {
            name: s.controller_name.clone(),
            contact: s.controller_contact.clone(),
        },
        checkpoint: checkpoint.to_owned(),
        event,
    }
}

/// The export package of an access request (GDPR Art. 15 and 20; APPI Art. 33; CCPA
/// §1798.130): every field, cards (brand, last four, expiry), credential state (never the
/// hash), the access history with purposes and recipients, retention and rights — as JSON,
/// with a CSV per part.
fn export_package(
    env: &Env<'_>,
    acting: &Access,
    r: &RightsRecord,
    stored: &StoredSubject,
) -> Result<serde_json::Value, AdminError> {
    let v = env.vault;
    let mut ev = v.event_for(acting, EventAction::RightsExport, &r.collection);
    ev.request_id = r.id.clone();
    let exported = v.export_subject(acting, &r.collection, &stored.id, ev)?;
    let schema = v.schema();
    let coll = schema
        .collection(&r.collection)
        .ok_or_else(|| corrupt(format!("collection {}", r.collection)))?;
    let mut fields = serde_json::Map::new();
    let mut field_csv = csv::Writer::from_writer(Vec::new());
    let _ = field_csv.write_record(["field", "category", "value"]);
    for (name, value) in &exported.fields {
        let cat = coll.field(name).map_or("", |f| f.category.as_str());
        if coll
            .field(name)
            .is_some_and(|f| f.category == Category::PaymentCard)
        {
            continue;
        }
        fields.insert(name.clone(), serde_json::Value::String(value.to_string()));
        let _ = field_csv.write_record([name.as_str(), cat, value.as_str()]);
    }
    let mut cards = Vec::new();
    let mut cards_csv = csv::Writer::from_writer(Vec::new());
    let _ = cards_csv.write_record(["brand", "last4", "exp_month", "exp_year"]);
    for t in v.store().card_tokens(&stored.id)? {
        if let Some(m) = env.cards.card(&t)? {
            let _ = cards_csv.write_record([
                m.brand.clone(),
                m.last4.clone(),
                m.exp_month.to_string(),
                m.exp_year.to_string(),
            ]);
            cards.push(serde_json::json!({
                "brand": m.brand, "last4": m.last4, "exp_month": m.exp_month, "exp_year": m.exp_year
            }));
        }
    }
    let cred = env.credentials.credential_state(&stored.id)?;
    let held = kura_vault::held_field_names(&stored.fields)?;
    let has_password = coll
        .fields
        .iter()
        .any(|f| f.category == Category::Credential && held.contains(&f.name));
    // The access history, with who (principal, organization) and why — up to the export
    // event itself (the log is integrated first).
    env.integrator.integrate_now(env.clock.now_ms())?;
    let mut history = Vec::new();
    let mut hist_csv = csv::Writer::from_writer(Vec::new());
    let _ = hist_csv.write_record([
        "time_utc",
        "principal",
        "organization",
        "role",
        "action",
        "purpose",
        "fields",
        "outcome",
    ]);
    let mut orgs_seen: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut after = None;
    let mut principal_org: BTreeMap<String, (String, String)> = BTreeMap::new();
    loop {
        let page = kura_audit::subject_history(env.audit, stored.iid, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.index);
        for e in &page {
            let Some(ev) = &e.event else { continue };
            let (org, role) = match principal_org.get(&ev.principal) {
                Some(x) => x.clone(),
                None => {
                    let x = match env.directory.principal(&ev.principal)? {
                        Some(p) => {
                            let role = match env.directory.organization(&p.org)? {
                                Some(o) => {
                                    orgs_seen.entry(o.id.clone()).or_insert_with(|| {
                                        serde_json::json!({
                                            "id": o.id, "name": o.name, "role": o.role.as_str()
                                        })
                                    });
                                    o.role.as_str().to_owned()
                                }
                                None => String::new(),
                            };
                            (p.org.clone(), role)
                        }
                        None => (String::new(), "kura".to_owned()),
                    };
                    principal_org.insert(ev.principal.clone(), x.clone());
                    x
                }
            };
            let time = crate::receipt::utc_date(ev.time_ms);
            let _ = hist_csv.write_record([
                time.as_str(),
                ev.principal.as_str(),
                org.as_str(),
                role.as_str(),
                ev.action,
                ev.purpose.as_str(),
                ev.fields.join(" ").as_str(),
                ev.outcome.as_str(),
            ]);
            history.push(serde_json::json!({
                "index": e.index, "time_ms": ev.time_ms, "principal": ev.principal, "organization": org,
                "role": role, "action": ev.action, "purpose": ev.purpose, "fields": ev.fields, "outcome": ev.outcome
            }));
        }
        if page.len() < 1000 {
            break;
        }
    }
    let activity = env
        .rights
        .activity_page(&r.collection, stored.iid.saturating_sub(1), 1)?
        .into_iter()
        .find(|a| a.id == stored.id)
        .and_then(|a| a.active_at);
    let retention: Vec<serde_json::Value> = env
        .retention
        .iter()
        .filter(|rule| rule.collection == r.collection)
        .map(|rule| {
            serde_json::json!({
                "rule": rule.name, "erased_after_inactive_days": rule.inactive_days,
                "unless_reconfirmed_within_days": rule.confirm_days
            })
        })
        .collect();
    let text = |w: csv::Writer<Vec<u8>>| {
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    };
    let mut csvs = serde_json::Map::new();
    csvs.insert(format!("{}.csv", r.collection), text(field_csv).into());
    csvs.insert("cards.csv".into(), text(cards_csv).into());
    csvs.insert("access_history.csv".into(), text(hist_csv).into());
    Ok(serde_json::json!({
        "format": "kura-export/1",
        "request": r.id,
        "generated_at_ms": env.clock.now_ms(),
        "controller": {"name": env.settings.controller_name, "contact": env.settings.controller_contact},
        "subject": {"id": stored.id.to_string(), "collection": r.collection, "country": stored.country, "locale": stored.locale},
        "fields": fields,
        "categories": coll.fields.iter().filter(|f| held.contains(&f.name)).map(|f| (f.name.clone(), serde_json::Value::String(f.category.as_str().to_owned()))).collect::<serde_json::Map<_, _>>(),
        "cards": cards,
        "credential": {"password_set": has_password, "must_reset": cred.must_reset, "locked": cred.locked},
        "restricted": stored.restricted,
        "access_history": history,
        "recipients": orgs_seen.into_values().collect::<Vec<_>>(),
        "retention": {"last_active_at_ms": activity, "rules": retention, "request_record_days": env.settings.record_days},
        "rights": [
            "access (GDPR Art. 15; APPI Art. 33; CCPA §1798.110)",
            "rectification (GDPR Art. 16; APPI Art. 34)",
            "erasure (GDPR Art. 17; APPI Art. 35; CCPA §1798.105)",
            "restriction of processing (GDPR Art. 18; APPI Art. 35)",
            "data portability (GDPR Art. 20): this package",
            "objection (GDPR Art. 21)",
            "to lodge a complaint with a supervisory authority (GDPR Art. 77)"
        ],
        "export_event": exported.event_index,
        "csv": csvs,
    }))
}

/// Extends a request's deadline (GDPR: two more months, only within the first; CCPA: 45
/// more days, once) and tells the subject, with the reasons, at the address on file.
///
/// # Errors
/// `extension_too_late`, `already_extended`, `extension_not_allowed`, `reason_required`,
/// `not_found`, `request_closed`.
pub fn extend(env: &Env<'_>, by: &str, id: &str, reason: &str) -> Result<RequestView, AdminError> {
    if reason.trim().is_empty() {
        return Err(AdminError::invalid(
            "reason_required",
            "an extension states its reasons (`reason`)",
        ));
    }
    let mut r = stored_request(env, id)?;
    if !State::parse(&r.state).is_some_and(State::is_open) || r.kind == "reconfirmation" {
        return Err(AdminError::invalid(
            "request_closed",
            format!("request {id} is {}", r.state),
        ));
    }
    let now = env.clock.now_ms();
    let mut d = doc_of(&r)?;
    let dl = d
        .deadlines
        .ok_or_else(|| corrupt(format!("request {id}: deadlines")))?;
    // The subject (looked up once): its zone for the new deadline, its address to tell.
    let stored = live_subject(env, &r)?;
    let country = stored.as_ref().map_or("", |s| s.country.as_str());
    let extended = kura_obligations::rights::extend(&dl, now, &zone_of(country))
        .map_err(|e| AdminError::invalid(e.code(), e.to_string()))?;
    d.deadlines = Some(extended);
    d.extension_reason = Some(reason.to_owned());
    d.history.push((now, "extended".into(), by.to_owned()));
    r.due_at = to_i64(extended.due_ms);
    r.version += 1;
    r.updated_at = to_i64(now);
    r.doc = doc_json(&d);
    let mut ev = AccessEvent::new(
        now,
        by,
        PURPOSE,
        EventAction::RightsUpdate,
        &r.collection,
        id,
    )
    .with_fields(["state:extended"]);
    // The subject is told with the reasons (GDPR Art. 12(3); CCPA §7021(b)).
    if let Some(s) = &stored {
        ev = ev.with_subjects([s.iid]);
    }
    if !env.rights.update_rights_request(&r, &[ev.to_leaf()?])? {
        return Err(AdminError::Conflict(format!(
            "request {id} changed meanwhile"
        )));
    }
    if let Some(s) = stored {
        let text = format!(
            "{c}: we need more time to answer your request {id}.\nReasons: {reason}\nNew deadline: {due}\nContact: {contact}\n\
             You may lodge a complaint with a supervisory authority.\n",
            c = env.settings.controller_name,
            due = crate::receipt::utc_date(extended.due_ms),
            contact = env.settings.controller_contact,
        );
        tell(env, by, id, &s, "Your request: extension", text)?;
    }
    view(&r, now)
}

/// Denies a request with its reasons (told to the subject, with the right to complain).
///
/// # Errors
/// `reason_required`, `not_found`, `request_closed`.
pub fn deny(env: &Env<'_>, by: &str, id: &str, reason: &str) -> Result<RequestView, AdminError> {
    if reason.trim().is_empty() {
        return Err(AdminError::invalid(
            "reason_required",
            "a denial states its reasons (`reason`)",
        ));
    }
    let mut r = stored_request(env, id)?;
    let from = State::parse(&r.state).ok_or_else(|| {
        AdminError::invalid("request_closed", format!("request {id} is {}", r.state))
    })?;
    kura_obligations::rights::transition(from, State::Denied).map_err(|_| {
        AdminError::invalid("request_closed", format!("request {id} is {}", r.state))
    })?;
    let now = env.clock.now_ms();
    let mut d = doc_of(&r)?;
    d.denial_reason = Some(reason.to_owned());
    d.history
        .push((now, State::Denied.as_str().to_owned(), by.to_owned()));
    r.state = State::Denied.as_str().to_owned();
    r.token_hash = None;
    r.version += 1;
    r.updated_at = to_i64(now);
    r.doc = doc_json(&d);
    let ev = AccessEvent::new(
        now,
        by,
        PURPOSE,
        EventAction::RightsUpdate,
        &r.collection,
        id,
    )
    .with_fields(["state:denied"]);
    if !env.rights.update_rights_request(&r, &[ev.to_leaf()?])? {
        return Err(AdminError::Conflict(format!(
            "request {id} changed meanwhile"
        )));
    }
    if let Some(s) = live_subject(env, &r)? {
        let text = format!(
            "{c} did not act on your request {id}.\nReasons: {reason}\n\
             You may lodge a complaint with a supervisory authority and seek a judicial remedy (GDPR Art. 12(4)).\nContact: {contact}\n",
            c = env.settings.controller_name,
            contact = env.settings.controller_contact,
        );
        tell(env, by, id, &s, "Your request: decision", text)?;
    }
    view(&r, now)
}

/// Writes to a subject at the address on file (the address read recorded first).
fn tell(
    env: &Env<'_>,
    by: &str,
    id: &str,
    s: &StoredSubject,
    subject: &str,
    text: String,
) -> Result<(), AdminError> {
    let audit = env.audit;
    let mut record = |leaves: &[Vec<u8>]| -> Result<(), kura_store::StoreError> {
        audit.append_audit(leaves).map(drop)
    };
    let addr = env.vault.contact_addresses(
        &on_behalf(by, id),
        EventAction::RightsUpdate,
        &s.collection,
        std::slice::from_ref(s),
        &mut record,
    )?;
    if let Some(to) = addr.into_iter().next().and_then(|a| a.address) {
        let mail = OutgoingMail::new(
            to.to_string(),
            format!("{}: {subject}", env.settings.controller_name),
            Zeroizing::new(text),
        )
        .about(env.vault.mail_tag(&s.id));
        env.transport.send(&mail).map_err(VaultError::from)?;
    }
    Ok(())
}

/// A processor's confirmation that it erased its copies, recorded for its organization.
/// `access` must be a principal of an organization the request told.
///
/// # Errors
/// `not_found` (also when the caller's organization was not told: nothing to confirm).
pub fn confirm(env: &Env<'_>, access: &Access, id: &str) -> Result<RequestView, AdminError> {
    let now = env.clock.now_ms();
    let p = env.directory.principal(&access.principal)?;
    let mut r = stored_request(env, id)?;
    let mut d = doc_of(&r)?;
    let org = p.map(|p| p.org).unwrap_or_default();
    let Some(t) = d
        .recipients
        .iter_mut()
        .find(|t| t.org == org && t.told_at_ms.is_some())
    else {
        return Err(AdminError::NotFound(format!("request {id}")));
    };
    if t.confirmed_at_ms.is_none() {
        t.confirmed_at_ms = Some(now);
        d.history
            .push((now, format!("confirmed:{org}"), access.principal.clone()));
        r.version += 1;
        r.updated_at = to_i64(now);
        r.doc = doc_json(&d);
        let ev = AccessEvent::new(
            now,
            &access.principal,
            &access.purpose,
            EventAction::RightsUpdate,
            &r.collection,
            id,
        )
        .with_fields([format!("org:{org}"), "state:confirmed".to_owned()]);
        if !env.rights.update_rights_request(&r, &[ev.to_leaf()?])? {
            return Err(AdminError::Conflict(format!(
                "request {id} changed meanwhile"
            )));
        }
    }
    view(&r, now)
}

/// One request.
///
/// # Errors
/// `not_found`.
pub fn show(env: &Env<'_>, id: &str) -> Result<RequestView, AdminError> {
    let r = stored_request(env, id)?;
    view(&r, env.clock.now_ms())
}

/// Requests in id order (optionally in one state), paged by id.
///
/// # Errors
/// Store failures.
pub fn list(
    env: &Env<'_>,
    state: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<RequestView>, AdminError> {
    let now = env.clock.now_ms();
    env.rights
        .rights_requests(
            &RightsFilter {
                state: state.map(str::to_owned),
                after: after.map(str::to_owned),
                ..RightsFilter::default()
            },
            limit.clamp(1, 1000),
        )?
        .iter()
        .map(|r| view(r, now))
        .collect()
}

/// The signed receipt of a completed erasure.
///
/// # Errors
/// `not_found`; `no_receipt` while there is none.
pub fn receipt_of(env: &Env<'_>, id: &str) -> Result<Vec<u8>, AdminError> {
    let r = stored_request(env, id)?;
    r.receipt.ok_or_else(|| {
        AdminError::invalid(
            "no_receipt",
            format!("request {id} has no receipt (state {})", r.state),
        )
    })
}

/// Continues erasures interrupted by a crash (requests left `erasing`) and answers
/// verified requests left unanswered. Returns how many were finished.
///
/// # Errors
/// As [`erase_batch`].
pub fn resume(env: &Env<'_>, by: &str) -> Result<u64, AdminError> {
    let mut done = 0;
    for state in [State::Erasing.as_str(), State::Verified.as_str()] {
        let mut after: Option<String> = None;
        loop {
            let page = env.rights.rights_requests(
                &RightsFilter {
                    state: Some(state.to_owned()),
                    after: after.clone(),
                    ..RightsFilter::default()
                },
                ERASE_BATCH,
            )?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let erasures: Vec<RightsRecord> = page
                .iter()
                .filter(|r| r.kind == "erasure")
                .cloned()
                .collect();
            done += erase_batch(env, by, erasures)?.len() as u64;
            for r in page.into_iter().filter(|r| r.kind == "restriction") {
                if let Some(s) = r
                    .subject
                    .and_then(|s| env.vault.store().subject(&r.collection, &s).ok().flatten())
                {
                    answer(env, by, r, &s, None, false)?;
                    done += 1;
                }
            }
        }
    }
    Ok(done)
}

/// Lifts the restriction of a subject's processing, telling the person first (GDPR Art.
/// 18(3): the subject is informed before the restriction is lifted).
///
/// # Errors
/// `reason_required`; `not_found` for an unknown subject; `not_restricted`.
pub fn lift_restriction(
    env: &Env<'_>,
    by: &str,
    collection: &str,
    subject: &kura_vault::Uuid,
    reason: &str,
) -> Result<(), AdminError> {
    if reason.trim().is_empty() {
        return Err(AdminError::invalid(
            "reason_required",
            "lifting a restriction states its reasons (`reason`)",
        ));
    }
    let s = env
        .vault
        .store()
        .subject(collection, subject)?
        .ok_or_else(|| AdminError::NotFound(format!("subject {subject}")))?;
    if !s.restricted {
        return Err(AdminError::invalid(
            "not_restricted",
            format!("subject {subject} is not restricted"),
        ));
    }
    let text = format!(
        "{c} will lift the restriction of the processing of your personal data.\nReasons: {reason}\n\
         You may object or lodge a complaint with a supervisory authority.\nContact: {contact}\n",
        c = env.settings.controller_name,
        contact = env.settings.controller_contact,
    );
    tell(
        env,
        by,
        "restriction",
        &s,
        "Your data: restriction lifted",
        text,
    )?;
    let now = env.clock.now_ms();
    let ev = AccessEvent::new(
        now,
        by,
        PURPOSE,
        EventAction::RightsUpdate,
        collection,
        "restriction",
    )
    .with_subjects([s.iid])
    .with_fields(["state:unrestricted"]);
    env.rights
        .set_restricted(subject, false, &[ev.to_leaf()?])?;
    Ok(())
}
