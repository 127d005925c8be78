//! Retention rules: keep a collection's subjects only while they use the service or confirm
//! that they still want to (`[[retention]]` in the configuration; `kura retention plan`
//! and `kura retention run`).
//!
//! # How a run works
//! - A subject's last use is recorded at login, at a reconfirmation and at a verified
//!   data-subject request. A subject never seen gets its clock started at the first run
//!   (it is not asked before `inactive_days` have passed from then).
//! - A subject unused for `inactive_days` is asked once per **cycle** (the cycle is its last
//!   use: a later use starts a new one). The ask is a request row (`reconfirmation`, unique
//!   per subject and cycle) written — with the subject's activity stamped "asked" — before
//!   the address is opened (`retention_ask`, the event first) and the mail goes out with a
//!   Message-ID fixed by the request. A crash between the row and the mail leaves the row
//!   `asking`; the next run re-sends only those, with the same Message-ID (the outbox
//!   recognizes a message it already holds), so nobody is asked twice.
//! - A subject that does not confirm within `confirm_days` is erased, with a signed receipt
//!   like any erasure ([`crate::rights::erase_batch`]).
//! - Pages of subjects stream by internal id: memory stays flat with the vault's size.

use std::collections::BTreeMap;

use kura_audit::{AccessEvent, Action as EventAction};
use kura_mail::OutgoingMail;
use kura_store::{ActivityRow, RightsFilter, RightsRecord, StoredSubject};
use kura_vault::{Access, VaultError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::directory::AdminError;
use crate::rights::{Doc, Env, doc_json, doc_of, lang_of};

/// Subjects per page and per batch of mails.
pub const BATCH: usize = 512;
const DAY_MS: u64 = 86_400_000;

/// One retention rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Name (`[a-z0-9_-]`, part of the cycle key).
    pub name: String,
    /// The collection it applies to.
    pub collection: String,
    /// Days without use after which a subject is asked to reconfirm.
    pub inactive_days: u32,
    /// Days the subject has to reconfirm before it is erased.
    #[serde(default = "default_confirm_days")]
    pub confirm_days: u32,
}

fn default_confirm_days() -> u32 {
    30
}

impl Rule {
    /// Checks the rule against the schema.
    ///
    /// # Errors
    /// `invalid_retention_rule` naming the problem.
    pub fn check(&self, schema: &kura_model::Schema) -> Result<(), AdminError> {
        let bad = |m: String| AdminError::invalid("invalid_retention_rule", m);
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(bad(format!(
                "retention rule name `{}`: use a-z 0-9 - _",
                self.name
            )));
        }
        if schema.collection(&self.collection).is_none() {
            return Err(bad(format!(
                "retention rule `{}`: no collection `{}`",
                self.name, self.collection
            )));
        }
        if self.inactive_days == 0 || self.confirm_days == 0 {
            return Err(bad(format!(
                "retention rule `{}`: days must be at least 1",
                self.name
            )));
        }
        Ok(())
    }

    fn cycle(&self, active_at: i64) -> String {
        format!("{}:{active_at}", self.name)
    }
}

/// Where one subject stands under a rule at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// No use recorded yet: the run starts its clock.
    Unstamped,
    /// Used recently.
    Active,
    /// Unused for the rule's time and not asked in this cycle: to ask.
    Ask,
    /// Asked in this cycle, still within the time to confirm.
    Pending,
    /// Asked in this cycle and the time to confirm has passed: to erase.
    Erase,
}

fn standing(rule: &Rule, row: &ActivityRow, now: u64) -> Standing {
    let Some(active) = row.active_at else {
        return Standing::Unstamped;
    };
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    if let Some(asked) = row.asked_at.filter(|a| *a >= active) {
        let due = asked.saturating_add(i64::from(rule.confirm_days) * DAY_MS as i64);
        return if now > due {
            Standing::Erase
        } else {
            Standing::Pending
        };
    }
    if active < now.saturating_sub(i64::from(rule.inactive_days) * DAY_MS as i64) {
        Standing::Ask
    } else {
        Standing::Active
    }
}

/// Counts of one country under a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Subjects.
    pub subjects: u64,
    /// Used within the rule's time.
    pub active: u64,
    /// Never seen: the first run starts their clock.
    pub unstamped: u64,
    /// Would be asked to reconfirm now.
    pub ask: u64,
    /// Asked, still within the time to confirm.
    pub pending: u64,
    /// Would be erased now (asked, no confirmation in time).
    pub erase: u64,
}

impl Counts {
    fn add(&mut self, s: Standing) {
        self.subjects += 1;
        match s {
            Standing::Unstamped => self.unstamped += 1,
            Standing::Active => self.active += 1,
            Standing::Ask => self.ask += 1,
            Standing::Pending => self.pending += 1,
            Standing::Erase => self.erase += 1,
        }
    }
}

/// A dry run: who would be asked and who erased, per country. Changes nothing.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The rule.
    pub rule: Rule,
    /// As of (unix ms).
    pub now_ms: u64,
    /// Totals.
    pub total: Counts,
    /// Per country.
    pub countries: BTreeMap<String, Counts>,
}

/// Plans `rule` at the clock's now, streaming the collection.
///
/// # Errors
/// Store failures.
pub fn plan(env: &Env<'_>, rule: &Rule) -> Result<Plan, AdminError> {
    let now = env.clock.now_ms();
    let mut total = Counts::default();
    let mut countries: BTreeMap<String, Counts> = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = env.rights.activity_page(&rule.collection, after, BATCH)?;
        let Some(last) = page.last() else { break };
        after = last.iid;
        for row in &page {
            let s = standing(rule, row, now);
            total.add(s);
            countries.entry(row.country.clone()).or_default().add(s);
        }
    }
    Ok(Plan {
        rule: rule.clone(),
        now_ms: now,
        total,
        countries,
    })
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Subjects whose clock was started.
    pub stamped: u64,
    /// Reconfirmation requests sent (including re-sent after a crash).
    pub asked: u64,
    /// Subjects asked who have no address on file (they cannot confirm; erased when due).
    pub no_address: u64,
    /// Subjects erased, each with a receipt.
    pub erased: u64,
}

fn acting(by: &str) -> Access {
    Access::operator(by, "retention")
}

fn message_id(id: &str) -> String {
    format!("kr-{}-c", &id[3..])
}

fn ask_mail(
    env: &Env<'_>,
    rule: &Rule,
    lang: &str,
    to: &str,
    token: &str,
    due: u64,
) -> OutgoingMail {
    let s = env.settings;
    let link = match &s.verify_url {
        Some(u) => format!("{u}?token={token}"),
        None => token.to_owned(),
    };
    let due = crate::receipt::utc_date(due);
    let c = &s.controller_name;
    let days = rule.inactive_days;
    let (subject, body) = match lang {
        "ja" => (
            format!("【{c}】アカウント継続のご確認"),
            format!(
                "{c}のアカウントが{days}日以上使われていません。引き続きご利用になる場合は、{due}までに次のリンクを開くか、コードを入力してください。\n\n{link}\n\n\
                 ご確認がない場合、お客様の個人データは{due}の後に削除され、削除証明をお送りします。\n問い合わせ先: {contact}\n",
                contact = s.controller_contact
            ),
        ),
        "de" => (
            format!("{c}: Möchten Sie Ihr Konto behalten?"),
            format!(
                "Ihr Konto bei {c} wurde seit mehr als {days} Tagen nicht genutzt. Wenn Sie es behalten möchten, \
                 bestätigen Sie dies bis {due} mit diesem Link oder Code:\n\n{link}\n\n\
                 Ohne Bestätigung werden Ihre personenbezogenen Daten nach {due} gelöscht; Sie erhalten eine Löschbestätigung.\nKontakt: {contact}\n",
                contact = s.controller_contact
            ),
        ),
        _ => (
            format!("{c}: do you want to keep your account?"),
            format!(
                "Your account at {c} has not been used for more than {days} days. If you want to keep it, confirm by {due} \
                 with this link or code:\n\n{link}\n\n\
                 Without a confirmation, your personal data will be erased after {due}, and you will receive a receipt of the erasure.\n\
                 Contact: {contact}\n",
                contact = s.controller_contact
            ),
        ),
    };
    OutgoingMail::new(to.to_owned(), subject, Zeroizing::new(body))
}

/// Opens the addresses of `recs`' subjects (the `retention_ask` events durable first),
/// sends each a reconfirmation with its request's fixed Message-ID (skipping a message the
/// transport already holds), and marks each `asked`.
fn ask(
    env: &Env<'_>,
    rule: &Rule,
    by: &str,
    recs: Vec<(RightsRecord, StoredSubject, Zeroizing<String>)>,
    report: &mut RunReport,
) -> Result<(), AdminError> {
    if recs.is_empty() {
        return Ok(());
    }
    let subjects: Vec<StoredSubject> = recs.iter().map(|(_, s, _)| s.clone()).collect();
    let audit = env.audit;
    let mut record = |leaves: &[Vec<u8>]| -> Result<(), kura_store::StoreError> {
        audit.append_audit(leaves).map(drop)
    };
    let addrs = env.vault.contact_addresses(
        &acting(by),
        EventAction::RetentionAsk,
        &rule.collection,
        &subjects,
        &mut record,
    )?;
    let mut mails = Vec::with_capacity(recs.len());
    let mut mailed = Vec::with_capacity(recs.len());
    for ((rec, stored, token), a) in recs.iter().zip(addrs) {
        let Some(to) = a.address else {
            report.no_address += 1;
            continue;
        };
        let due = u64::try_from(rec.due_at).unwrap_or(0);
        let mail = ask_mail(env, rule, lang_of(&stored.locale), &to, token, due)
            .about(env.vault.mail_tag(&stored.id))
            .with_message_id(&message_id(&rec.id))
            .map_err(|e| AdminError::invalid("internal", e.to_string()))?;
        if env.transport.holds(&mail) == Some(true) {
            continue;
        }
        mails.push(mail);
        mailed.push(rec.id.clone());
    }
    for r in env.transport.send_batch(&mails) {
        r.map_err(VaultError::from)?;
    }
    let now = env.clock.now_ms();
    for (mut rec, _, _) in recs {
        let mut d = doc_of(&rec)?;
        d.history.push((now, "asked".into(), by.to_owned()));
        rec.state = "asked".to_owned();
        rec.version += 1;
        rec.updated_at = i64::try_from(now).unwrap_or(i64::MAX);
        rec.doc = doc_json(&d);
        if env.rights.update_rights_request(&rec, &[])? {
            report.asked += 1;
        }
    }
    Ok(())
}

/// Runs `rule`: finishes what a crashed run left (`asking`, `erasing`), starts the clock of
/// subjects never seen, asks the inactive ones (once per cycle), and erases — with receipts
/// — those whose time to confirm has passed. `progress` gets (subjects looked at, erased).
///
/// # Errors
/// Store, vault, audit and mail failures: what was done stays done; run again to continue.
pub fn run(
    env: &Env<'_>,
    rule: &Rule,
    by: &str,
    rate: Option<u32>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RunReport, AdminError> {
    let started = std::time::Instant::now();
    // At most `rate` reconfirmation mails per second (a relay's limit), paced per batch.
    let pace = |sent: u64| {
        if let Some(r) = rate.filter(|r| *r > 0) {
            let due = std::time::Duration::from_secs_f64(sent as f64 / f64::from(r));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    };
    let batch_size = rate.map_or(BATCH, |r| (r as usize).clamp(1, BATCH));
    rule.check(env.vault.schema())?;
    let mut report = RunReport::default();
    let prefix = format!("{}:", rule.name);
    let ours = |r: &RightsRecord| r.cycle.as_deref().is_some_and(|c| c.starts_with(&prefix));
    // 0. A crashed run: asks written but perhaps not sent — re-send those, same Message-ID.
    //    Their tokens were never kept, so each gets a fresh one (the old one, if it was
    //    sent, dies with the hash).
    let mut after: Option<String> = None;
    loop {
        let page = env.rights.rights_requests(
            &RightsFilter {
                state: Some("asking".into()),
                after: after.clone(),
                ..RightsFilter::default()
            },
            BATCH,
        )?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let mut batch = Vec::new();
        for mut rec in page.into_iter().filter(|r| ours(r)) {
            let Some(s) = rec.subject else { continue };
            let Some(stored) = env.vault.store().subject(&rule.collection, &s)? else {
                continue;
            };
            let (token, hash) = token(env)?;
            rec.token_hash = Some(hash);
            rec.version += 1;
            if env.rights.update_rights_request(&rec, &[])? {
                batch.push((rec, stored, token));
            }
        }
        ask(env, rule, by, batch, &mut report)?;
    }
    // 1. Stream the collection: stamp, ask.
    let now = env.clock.now_ms();
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    let due = now + u64::from(rule.confirm_days) * DAY_MS;
    let mut seen = 0u64;
    let mut after_iid = 0;
    loop {
        let page = env
            .rights
            .activity_page(&rule.collection, after_iid, batch_size)?;
        let Some(last) = page.last() else { break };
        after_iid = last.iid;
        seen += page.len() as u64;
        let mut stamp = Vec::new();
        let mut batch = Vec::new();
        for row in &page {
            match standing(rule, row, now) {
                Standing::Unstamped => stamp.push((row.id, now_i)),
                Standing::Ask => {
                    let Some(stored) = env.vault.store().subject(&rule.collection, &row.id)? else {
                        continue;
                    };
                    let (token, hash) = token(env)?;
                    let raw: [u8; 16] = kura_crypto::random_array()?;
                    let doc = Doc {
                        rule: Some(rule.name.clone()),
                        history: vec![(now, "asking".into(), by.to_owned())],
                        ..Doc::default()
                    };
                    let rec = RightsRecord {
                        id: format!("rr_{}", crate::incident::hex(&raw)),
                        kind: "reconfirmation".into(),
                        collection: rule.collection.clone(),
                        subject: Some(row.id),
                        channel: "retention".into(),
                        state: "asking".into(),
                        opened_by: by.to_owned(),
                        received_at: now_i,
                        due_at: i64::try_from(due).unwrap_or(i64::MAX),
                        token_hash: Some(hash),
                        token_expires: i64::try_from(due).ok(),
                        cycle: Some(rule.cycle(row.active_at.unwrap_or(0))),
                        version: 1,
                        updated_at: now_i,
                        doc: doc_json(&doc),
                        receipt: None,
                    };
                    if env.rights.insert_rights_request(&rec, &[])? {
                        batch.push((rec, stored, token));
                    }
                }
                _ => {}
            }
        }
        env.rights.touch_activity(&stamp)?;
        report.stamped += stamp.len() as u64;
        ask(env, rule, by, batch, &mut report)?;
        progress(seen, report.erased);
        pace(report.asked);
    }
    // 2. Erase those asked whose time to confirm has passed (and finish crashed erasures).
    for state in ["erasing", "asked"] {
        let mut after: Option<String> = None;
        loop {
            let page = env.rights.rights_requests(
                &RightsFilter {
                    state: Some(state.into()),
                    after: after.clone(),
                    ..RightsFilter::default()
                },
                crate::rights::ERASE_BATCH,
            )?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let due: Vec<RightsRecord> = page
                .into_iter()
                .filter(|r| ours(r) && (state == "erasing" || r.due_at < now_i))
                .collect();
            report.erased += crate::rights::erase_batch(env, by, due)?.len() as u64;
            progress(seen, report.erased);
        }
    }
    Ok(report)
}

fn token(env: &Env<'_>) -> Result<(Zeroizing<String>, [u8; 32]), AdminError> {
    let (token, sha) = crate::rights::new_token()?;
    Ok((token, env.vault.recovery_token_hash(&sha)))
}

/// A subject's reconfirmation: the token from the mail, relayed by a service with the
/// `authenticate` grant. Marks the request confirmed and restarts the subject's clock.
///
/// # Errors
/// `rights_token_invalid` (unknown, used, or its subject already erased).
pub fn reconfirm(
    env: &Env<'_>,
    access: &Access,
    collection: &str,
    token: &str,
) -> Result<(), AdminError> {
    let v = env.vault;
    let base = v.event_for(access, EventAction::RetentionConfirm, collection);
    crate::rights::decide_redeem(v, access, collection, &base)?;
    let invalid = |ev: AccessEvent| -> AdminError {
        crate::rights::refuse_verify(env, ev, "rights_token_invalid", "the token is not valid")
    };
    let Some(sha) = crate::rights::token_sha(token) else {
        return Err(invalid(base));
    };
    let Some(mut rec) = env
        .rights
        .rights_request_by_token(&v.recovery_token_hash(&sha))?
        .filter(|r| {
            r.collection == collection
                && crate::rights::own_code(access, r.subject)
                && r.kind == "reconfirmation"
                && (r.state == "asked" || r.state == "asking")
        })
    else {
        return Err(invalid(base));
    };
    let Some(stored) = rec
        .subject
        .and_then(|s| v.store().subject(collection, &s).ok().flatten())
    else {
        return Err(invalid(base));
    };
    let now = env.clock.now_ms();
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    let mut d = doc_of(&rec)?;
    d.history
        .push((now, "confirmed".into(), access.principal.clone()));
    rec.state = "confirmed".into();
    rec.token_hash = None;
    rec.version += 1;
    rec.updated_at = now_i;
    rec.doc = doc_json(&d);
    let mut ev = base.with_subjects([stored.iid]);
    ev.request_id = rec.id.clone();
    if !env.rights.update_rights_request(&rec, &[ev.to_leaf()?])? {
        return Err(AdminError::invalid(
            "rights_token_invalid",
            "the token is not valid",
        ));
    }
    env.rights.touch_activity(&[(stored.id, now_i)])?;
    Ok(())
}
