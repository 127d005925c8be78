//! Breach notices: every affected person told, in their own language, once, with what was
//! theirs and what they can do (`kura notify plan|send|status|bounces|public|codes`).
//!
//! A **campaign** belongs to one incident and is pinned to one stored version of its exposure
//! matrix: the people it notifies are that version's affected subjects (confirmed or
//! potential), each notice names the categories exposed *for that person*, in the template
//! family of the obligation that applies in their country (`kura-notices`), in their
//! language.
//!
//! # Invariants and security properties
//! - **At most once, none skipped.** A person has at most one delivery row per campaign (the
//!   store's primary key); the row is claimed, with the `notice_send` access event, before
//!   the address is opened; the message carries a Message-ID fixed by the campaign and the
//!   person's keyed mail tag. A resumed send treats a row left in `sending` by a crash as
//!   unfinished: the outbox is asked whether it holds the message (exactly once there), SMTP
//!   cannot tell, so the message is sent again with the same Message-ID and counted as
//!   `resent_after_crash` (at most one batch). People already sent a notice by an earlier
//!   campaign of the same incident are not notified again.
//! - **Log before read.** Addresses are opened only through
//!   [`kura_vault::Vault::notice_addresses`], after the events are durable.
//! - **No value in a notice.** The template context holds categories, dates, the officer's
//!   texts and the offer; never a field value. The address is used as the recipient only.
//! - **Erased people get nothing**: a subject absent at send time (erased since the plan) is
//!   recorded `erased` and no message is built.
//! - **Credential playbook.** People whose credentials are in the matrix are flagged
//!   `must_reset` (through [`kura_vault::credentials::force_reset`], logged) before their
//!   notice is built, and the notice says so.
//! - Memory is bounded by the batch size and the matrix's compressed subject sets, never by
//!   the number of people.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kura_audit::{AccessEvent, Action, Clock};
use kura_mail::{OutgoingMail, Transport};
use kura_notices::{NoticeContext, NoticeTemplates, Offer, PublicContext, Requirement};
use kura_scope::CellSets;
use kura_store::{
    CampaignRecord, CredentialStore, DeliveryRecord, DirectoryStore, NoticeStore, StoredSubject,
};
use kura_vault::{Access, Vault};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::directory::AdminError;
use crate::incident;
use crate::obligations::{self, Rules};

/// Purpose recorded on every notice event.
pub const PURPOSE: &str = "breach_notice";

/// People handled per batch (one store round trip, one flush of the outbox).
pub const BATCH: usize = 256;

/// Sending attempts per person before a failure is final.
pub const MAX_ATTEMPTS: u32 = 3;

/// The officer's texts for one language, as the notices say them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    /// What happened, in plain words.
    pub what_happened: String,
    /// The cause, as far as known.
    pub cause: String,
    /// What may follow for the person.
    pub likely_consequences: String,
    /// What the holder did and does.
    pub measures: String,
    /// Whether (and why) the notice was delayed by a law-enforcement investigation.
    #[serde(default)]
    pub law_enforcement_delay: Option<String>,
    /// The contact point (default: the holder's security officer).
    #[serde(default)]
    pub contact: Option<String>,
}

/// An offer of remediation in one region (country code): for example identity-theft
/// monitoring, with one enrolment code per person imported with `kura notify codes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionOffer {
    /// Who provides it.
    pub provider: String,
    /// Where to enrol.
    #[serde(default)]
    pub url: Option<String>,
    /// Per language: what it is and how to use it.
    pub description: BTreeMap<String, String>,
    /// Each person gets an enrolment code from the imported stock.
    #[serde(default)]
    pub codes: bool,
}

/// What a campaign says: the officer's texts per language, the offers per region and what
/// to say where there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// Language → texts.
    pub texts: BTreeMap<String, Texts>,
    /// Region (country code) → offer.
    #[serde(default)]
    pub offers: BTreeMap<String, RegionOffer>,
    /// Language → what is available where no offer exists.
    #[serde(default)]
    pub instead: BTreeMap<String, String>,
    /// Notify only people whose country's law requires it (default: every affected person).
    #[serde(default)]
    pub required_only: bool,
}

impl Content {
    /// Parses a content file (TOML).
    ///
    /// # Errors
    /// `invalid_content` naming the problem.
    pub fn from_toml(text: &str) -> Result<Content, AdminError> {
        toml::from_str(text).map_err(|e| AdminError::invalid("invalid_content", e.to_string()))
    }
}

/// People per family, language, country and channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanCount {
    /// Template family.
    pub family: String,
    /// Language.
    pub lang: String,
    /// Country.
    pub country: String,
    /// `email` or `none` (no address on file: counted for the public notice).
    pub channel: String,
    /// People.
    pub people: u64,
}

/// One rendered preview per family and language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    /// Template family.
    pub family: String,
    /// Language.
    pub lang: String,
    /// The categories of the person it was rendered for (no value).
    pub confirmed: Vec<String>,
    /// Potential categories.
    pub potential: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub text: String,
    /// The exact MIME message (to a placeholder address).
    pub mime: String,
}

/// A planned campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    /// Campaign id.
    pub campaign: String,
    /// Incident.
    pub incident: String,
    /// Matrix version it is pinned to.
    pub scope_version: u32,
    /// People to notify.
    pub people: u64,
    /// People affected but not notified (`required_only` and no duty in their country).
    pub not_required: u64,
    /// People whose credentials are exposed (flagged `must_reset` before their notice).
    pub must_reset: u64,
    /// Counts.
    pub counts: Vec<PlanCount>,
    /// Per region with an offer using codes: (region, people, codes available).
    pub codes: Vec<(String, u64, u64)>,
    /// Previews.
    pub previews: Vec<Preview>,
}

/// What a send did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SendReport {
    /// Campaign id.
    pub campaign: String,
    /// Messages handed to the transport in this run.
    pub sent: u64,
    /// Failed in this run (retried on the next run until [`MAX_ATTEMPTS`]).
    pub failed: u64,
    /// People without an address (counted for the public notice).
    pub unreachable: u64,
    /// People erased since the plan.
    pub erased: u64,
    /// People already notified by an earlier campaign of the incident.
    pub already_notified: u64,
    /// People done in an earlier run of this campaign.
    pub done_before: u64,
    /// Messages a crash had left unconfirmed that the outbox already held.
    pub found_in_outbox: u64,
    /// Messages a crash had left unconfirmed, sent again with the same Message-ID.
    pub resent_after_crash: u64,
    /// People flagged `must_reset` in this run.
    pub must_reset: u64,
    /// Remediation codes handed out in this run.
    pub codes: u64,
    /// Whether every person now has a final state.
    pub complete: bool,
}

/// What a campaign body holds (the store keeps it opaque).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Body {
    content: Content,
    plan: Plan,
    #[serde(default)]
    runs: Vec<SendReport>,
}

/// Everything notices need, borrowed.
pub struct Env<'a> {
    /// The vault (addresses, mail tags, codes).
    pub vault: &'a Vault,
    /// Campaign storage.
    pub notices: &'a dyn NoticeStore,
    /// Incidents and organizations.
    pub directory: &'a dyn DirectoryStore,
    /// Credential state (forced resets).
    pub credentials: &'a dyn CredentialStore,
    /// Templates, checked against the rules' checklists.
    pub templates: &'a NoticeTemplates,
    /// Obligation rules.
    pub rules: &'a Rules,
    /// Clock.
    pub clock: &'a dyn Clock,
    /// The `From:` mailbox (`[mail] from`), for previews.
    pub from: &'a str,
    /// Who acts.
    pub by: &'a str,
}

/// The checklists the notice templates must satisfy: every `individuals` obligation's, for
/// the family it names (`generic` when none), and the generic list.
pub fn requirements(rules: &Rules) -> Vec<Requirement> {
    let mut out = vec![Requirement {
        family: "generic".to_owned(),
        source: "kura generic notice".to_owned(),
        items: kura_notices::GENERIC_ITEMS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        required_text: Vec::new(),
    }];
    for r in &rules.regimes {
        for o in r.obligations.iter().filter(|o| o.kind == "individuals") {
            out.push(Requirement {
                family: o.notice.clone().unwrap_or_else(|| "generic".to_owned()),
                source: o.id.clone(),
                items: o.checklist.clone(),
                required_text: o
                    .required_text
                    .iter()
                    .map(|t| t.trim_start_matches('#').trim().to_owned())
                    .collect(),
            });
        }
    }
    out
}

/// Loads the shipped notice templates, then every `*.txt` / `*.html` of `dir` (replacing a
/// shipped one of the same name), checked against the rules.
///
/// # Errors
/// `invalid_template` naming the file, the item and the obligation requiring it; I/O.
pub fn load_templates(
    rules: &Rules,
    dir: Option<&std::path::Path>,
) -> Result<NoticeTemplates, AdminError> {
    let mut files: Vec<(String, String)> = kura_notices::builtin_templates()
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    if let Some(dir) = dir {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| {
            AdminError::invalid(
                "invalid_template",
                format!("reading {}: {e}", dir.display()),
            )
        })? {
            let p = e
                .map_err(|e| AdminError::invalid("invalid_template", e.to_string()))?
                .path();
            if p.extension().is_some_and(|x| x == "txt" || x == "html") {
                names.push(p);
            }
        }
        names.sort();
        for p in names {
            let text = std::fs::read_to_string(&p).map_err(|e| {
                AdminError::invalid("invalid_template", format!("{}: {e}", p.display()))
            })?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, text));
        }
    }
    NoticeTemplates::load(&requirements(rules), &files)
        .map_err(|e| AdminError::invalid("invalid_template", e.to_string()))
}

/// Where a country's notices come from: the family, the obligation and its time zone.
#[derive(Debug, Clone)]
struct Duty {
    family: String,
    time_zone: String,
}

/// The duty of each affected country, from the incident's obligations now: the required
/// `individuals` obligations whose regime covers the country (`US` matches `US-CA`), a
/// specific family before `generic`.
fn duties(
    env: &Env<'_>,
    incident: &str,
    now_ms: u64,
) -> Result<BTreeMap<String, Duty>, AdminError> {
    let all = obligations::of_incident(
        env.directory,
        incident,
        &env.rules.regimes,
        &env.rules.holder,
        now_ms,
    )?;
    let mut out: BTreeMap<String, (bool, String, Duty)> = BTreeMap::new();
    for o in all
        .obligations
        .iter()
        .filter(|o| o.kind == "individuals" && o.required)
    {
        let base = o.id.split('/').next().unwrap_or(&o.id);
        let Some(regime) = env.rules.regimes.iter().find(|r| r.id == o.regime) else {
            continue;
        };
        let family = regime
            .obligations
            .iter()
            .find(|r| r.id == base)
            .and_then(|r| r.notice.clone())
            .unwrap_or_else(|| "generic".to_owned());
        let countries: Vec<String> = match &o.country {
            Some(c) => vec![c.clone()],
            None => regime
                .countries
                .iter()
                .map(|c| c.split('-').next().unwrap_or(c).to_owned())
                .collect(),
        };
        for c in countries {
            let key = (family == "generic", base.to_owned());
            let duty = Duty {
                family: family.clone(),
                time_zone: regime.time_zone.clone(),
            };
            match out.get(&c) {
                Some((g, id, _)) if (*g, id.clone()) <= key => {}
                _ => {
                    out.insert(c, (key.0, key.1, duty));
                }
            }
        }
    }
    Ok(out.into_iter().map(|(c, (_, _, d))| (c, d)).collect())
}

/// The pinned matrix version's subject sets, checked against its stored digest.
pub(crate) fn sets_of(
    directory: &dyn DirectoryStore,
    incident: &str,
    version: u32,
) -> Result<CellSets, AdminError> {
    let rec = directory
        .incident_scopes(incident)?
        .into_iter()
        .find(|r| r.version == version)
        .ok_or_else(|| {
            AdminError::NotFound(format!("matrix version {version} of incident {incident}"))
        })?;
    let sets = CellSets::decode(&rec.sets).map_err(|e| {
        AdminError::Store(kura_store::StoreError::Corrupt(format!(
            "subject sets of matrix v{version}: {e}"
        )))
    })?;
    if crate::incident::hex(&sets.digest(&rec.matrix)) != rec.digest {
        return Err(AdminError::Store(kura_store::StoreError::Corrupt(format!(
            "matrix v{version} of incident {incident} does not match its digest"
        ))));
    }
    Ok(sets)
}

/// The date range a notice states: the incident's window. A notice must give the date or
/// range of the breach (California §1798.82(d), APPI's overview), so a campaign needs one.
fn window_of(directory: &dyn DirectoryStore, id: &str) -> Result<(u64, u64), AdminError> {
    let i = incident::show(directory, id)?;
    let w = i.window.ok_or_else(|| {
        AdminError::invalid(
            "window_required",
            format!(
                "incident `{id}` has no window: notices state when the breach happened; set it \
                 with `kura incident update {id} --from T1 --to T2 --reason R`"
            ),
        )
    })?;
    Ok((w.from_ms, w.to_ms))
}

/// Every affected person of the sets, ascending.
fn affected(sets: &CellSets) -> roaring::RoaringTreemap {
    let mut all = roaring::RoaringTreemap::new();
    for b in sets.cells.values() {
        all |= b;
    }
    all
}

/// One person's categories: (confirmed, potential), each sorted, potential without the
/// confirmed ones.
fn categories_of(sets: &CellSets, iid: u64) -> (Vec<String>, Vec<String>) {
    let mut confirmed = BTreeSet::new();
    let mut potential = BTreeSet::new();
    for ((category, exposure), b) in &sets.cells {
        if b.contains(iid) {
            if exposure.starts_with("confirmed") {
                confirmed.insert(category.clone());
            } else {
                potential.insert(category.clone());
            }
        }
    }
    let potential = potential.difference(&confirmed).cloned().collect();
    (confirmed.into_iter().collect(), potential)
}

/// The holder organization's name and its officer's contact line.
fn holder(directory: &dyn DirectoryStore) -> Result<(String, String), AdminError> {
    let orgs = directory.organizations()?;
    let h = orgs
        .iter()
        .find(|o| o.role == kura_model::OrgRole::Holder)
        .or(orgs.first())
        .ok_or_else(|| AdminError::NotFound("no organization owns this vault".to_owned()))?;
    Ok((
        h.name.clone(),
        format!("{}, {} <{}>", h.name, h.officer_name, h.officer_contact),
    ))
}

/// What one person's notice is made of, before the address is known.
struct Person {
    stored: StoredSubject,
    family: String,
    lang: String,
    time_zone: String,
    channel: &'static str,
    confirmed: Vec<String>,
    potential: Vec<String>,
}

/// How the people of one batch are to be notified (`None`: not notified, no duty).
fn classify(
    env: &Env<'_>,
    sets: &CellSets,
    duties: &BTreeMap<String, Duty>,
    content: &Content,
    stored: StoredSubject,
) -> Result<Option<Person>, AdminError> {
    let duty = duties.get(&stored.country);
    if duty.is_none() && content.required_only {
        return Ok(None);
    }
    let wanted = duty.map_or("generic", |d| d.family.as_str());
    let (family, lang) = env
        .templates
        .resolve(wanted, &stored.locale, &stored.country)
        .ok_or_else(|| {
            AdminError::invalid(
                "no_template",
                format!("no notice template for family `{wanted}` in any language"),
            )
        })?;
    let email = env.vault.email_field(&stored.collection)?;
    let held = kura_vault::held_field_names(&stored.fields)?;
    let channel = match email {
        Some(f) if held.contains(&f) => "email",
        _ => "none",
    };
    let (confirmed, potential) = categories_of(sets, stored.iid);
    Ok(Some(Person {
        family,
        lang,
        time_zone: duty.map_or_else(|| "UTC".to_owned(), |d| d.time_zone.clone()),
        channel,
        confirmed,
        potential,
        stored,
    }))
}

fn texts_for<'c>(content: &'c Content, lang: &str) -> Result<&'c Texts, AdminError> {
    let t = content.texts.get(lang).ok_or_else(|| {
        AdminError::invalid(
            "content_missing",
            format!("the campaign has no `{lang}` texts, and people will be notified in `{lang}`: add [texts.{lang}]"),
        )
    })?;
    for (name, v) in [
        ("what_happened", &t.what_happened),
        ("cause", &t.cause),
        ("likely_consequences", &t.likely_consequences),
        ("measures", &t.measures),
    ] {
        if v.trim().is_empty() {
            return Err(AdminError::invalid(
                "content_missing",
                format!("texts.{lang}.{name} is empty"),
            ));
        }
    }
    Ok(t)
}

/// The context of one notice.
#[allow(clippy::too_many_arguments)]
fn context(
    holder: &(String, String),
    incident: &str,
    window: (u64, u64),
    now_ms: u64,
    p: &Person,
    texts: &Texts,
    content: &Content,
    code: Option<String>,
    must_reset: bool,
) -> NoticeContext {
    let region = p.stored.country.split('-').next().unwrap_or("").to_owned();
    let offer = content.offers.get(&region).map(|o| Offer {
        provider: o.provider.clone(),
        description: o
            .description
            .get(&p.lang)
            .or_else(|| o.description.get("en"))
            .cloned()
            .unwrap_or_default(),
        url: o.url.clone(),
        code,
    });
    NoticeContext {
        holder: holder.0.clone(),
        contact: texts.contact.clone().unwrap_or_else(|| holder.1.clone()),
        incident_ref: incident.to_owned(),
        window_from_ms: window.0 as i64,
        window_to_ms: window.1.min(now_ms) as i64,
        notice_ms: now_ms as i64,
        time_zone: p.time_zone.clone(),
        confirmed: p.confirmed.clone(),
        potential: p.potential.clone(),
        must_reset,
        what_happened: texts.what_happened.clone(),
        cause: texts.cause.clone(),
        likely_consequences: texts.likely_consequences.clone(),
        measures: texts.measures.clone(),
        law_enforcement_delay: texts.law_enforcement_delay.clone(),
        remediation: offer,
        remediation_instead: content
            .instead
            .get(&p.lang)
            .or_else(|| content.instead.get("en"))
            .cloned(),
        extra: BTreeMap::new(),
    }
}

fn render_failed(e: kura_notices::NoticeError) -> AdminError {
    AdminError::invalid("render_failed", e.to_string())
}

/// The Message-ID left part of one person's notice: `kn-<16 hex>-<24 hex>`, fixed by the
/// campaign (the first 64 bits of its id's SHA-256) and the person's keyed mail tag (96
/// bits): no id, no address, and short enough for a 78-column header line.
fn message_id(vault: &Vault, campaign: &str, id: &Uuid) -> String {
    use sha2::Digest as _;
    let c = sha2::Sha256::digest(campaign.as_bytes());
    let tag = vault.mail_tag(id).to_hex();
    format!("kn-{}-{}", crate::incident::hex(&c[..8]), &tag[..24])
}

/// Plans a campaign for incident `id` at its latest matrix version: who is notified, in
/// which family, language and channel, with one rendered preview per family and language.
/// Stores the campaign (`planned`), replacing an earlier plan that was never sent.
///
/// # Errors
/// `not_found`, `scope_required`, `content_missing` (texts for a language in use),
/// `no_template`, `render_failed`; store failures.
pub fn plan(env: &Env<'_>, id: &str, content: Content) -> Result<Plan, AdminError> {
    let now = env.clock.now_ms();
    let i = incident::show(env.directory, id)?;
    let Some((version, _)) = env.directory.latest_incident_matrix(id)? else {
        return Err(AdminError::invalid(
            "scope_required",
            format!("incident `{id}` has no exposure matrix yet: run `kura incident scope {id}`"),
        ));
    };
    let window = window_of(env.directory, id)?;
    let sets = sets_of(env.directory, id, version)?;
    let duties = duties(env, id, now)?;
    let holder = holder(env.directory)?;
    let campaign = Uuid::now_v7().to_string();
    let mut counts: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    let mut previews: BTreeMap<(String, String), Preview> = BTreeMap::new();
    let (mut people, mut not_required, mut must_reset) = (0u64, 0u64, 0u64);
    let mut code_need: BTreeMap<String, u64> = BTreeMap::new();
    let all = affected(&sets);
    let mut it = all.iter().peekable();
    while it.peek().is_some() {
        let batch: Vec<u64> = it.by_ref().take(BATCH).collect();
        for stored in env.notices.subjects_by_iid(&batch)? {
            let Some(p) = classify(env, &sets, &duties, &content, stored)? else {
                not_required += 1;
                continue;
            };
            people += 1;
            let creds = p
                .confirmed
                .iter()
                .chain(&p.potential)
                .any(|c| c == "credential");
            must_reset += u64::from(creds);
            let region = p.stored.country.split('-').next().unwrap_or("").to_owned();
            if content.offers.get(&region).is_some_and(|o| o.codes) && p.channel == "email" {
                *code_need.entry(region.clone()).or_default() += 1;
            }
            *counts
                .entry((
                    p.family.clone(),
                    p.lang.clone(),
                    p.stored.country.clone(),
                    p.channel.to_owned(),
                ))
                .or_default() += 1;
            let key = (p.family.clone(), p.lang.clone());
            if let std::collections::btree_map::Entry::Vacant(slot) = previews.entry(key) {
                let texts = texts_for(&content, &p.lang)?;
                let code = content
                    .offers
                    .get(&region)
                    .filter(|o| o.codes)
                    .map(|_| "PREVIEW-CODE".to_owned());
                let ctx = context(&holder, id, window, now, &p, texts, &content, code, creds);
                let n = env
                    .templates
                    .render(&p.family, &p.lang, &ctx)
                    .map_err(render_failed)?;
                let mail = OutgoingMail::new(
                    "recipient@example.invalid".to_owned(),
                    n.subject.clone(),
                    n.body.clone(),
                );
                let mime = kura_mail::compose(env.from, &mail)
                    .map_err(|e| AdminError::invalid("invalid_config", e.to_string()))?;
                slot.insert(Preview {
                    family: p.family.clone(),
                    lang: p.lang.clone(),
                    confirmed: p.confirmed.clone(),
                    potential: p.potential.clone(),
                    subject: n.subject,
                    text: n.body.to_string(),
                    mime: String::from_utf8_lossy(&mime).into_owned(),
                });
            }
        }
    }
    let stock = env.notices.remediation_stock()?;
    let codes = code_need
        .into_iter()
        .map(|(region, need)| {
            let provider = content.offers.get(&region).map(|o| o.provider.as_str());
            let available: u64 = stock
                .iter()
                .filter(|s| s.region == region && Some(s.provider.as_str()) == provider)
                .map(|s| s.total - s.assigned)
                .sum();
            (region, need, available)
        })
        .collect();
    let plan = Plan {
        campaign: campaign.clone(),
        incident: id.to_owned(),
        scope_version: version,
        people,
        not_required,
        must_reset,
        counts: counts
            .into_iter()
            .map(|((family, lang, country, channel), people)| PlanCount {
                family,
                lang,
                country,
                channel,
                people,
            })
            .collect(),
        codes,
        previews: previews.into_values().collect(),
    };
    let body = serde_json::to_string(&Body {
        content,
        plan: plan.clone(),
        runs: Vec::new(),
    })
    .map_err(|e| AdminError::invalid("invalid_content", e.to_string()))?;
    let ev = campaign_event(env, &campaign, id, version, "planned");
    // A plan never sent is replaced: mark it superseded.
    for c in env.notices.campaigns(id)? {
        if c.status == "planned" {
            env.notices.update_campaign(
                &c.id,
                "superseded",
                &c.body,
                &[campaign_event(env, &c.id, id, c.scope_version, "superseded").to_leaf()?],
            )?;
        }
    }
    env.notices.insert_campaign(
        &CampaignRecord {
            id: campaign,
            incident: i.id,
            scope_version: version,
            created_at: now as i64,
            by: env.by.to_owned(),
            status: "planned".to_owned(),
            body,
        },
        &[ev.to_leaf()?],
    )?;
    Ok(plan)
}

fn campaign_event(
    env: &Env<'_>,
    campaign: &str,
    incident: &str,
    version: u32,
    status: &str,
) -> AccessEvent {
    AccessEvent::new(
        env.clock.now_ms(),
        env.by,
        PURPOSE,
        Action::NoticeCampaign,
        "",
        campaign,
    )
    .with_fields([
        format!("incident:{incident}"),
        format!("scope_version:{version}"),
        format!("status:{status}"),
    ])
}

/// The campaign a send continues: the given one, else the incident's latest that is
/// `planned` or `sending`.
fn campaign_to_send(
    env: &Env<'_>,
    id: &str,
    campaign: Option<&str>,
) -> Result<CampaignRecord, AdminError> {
    let all = env.notices.campaigns(id)?;
    let c = match campaign {
        Some(c) => all.into_iter().find(|r| r.id == c),
        None => all
            .into_iter()
            .rev()
            .find(|r| r.status == "planned" || r.status == "sending"),
    };
    c.ok_or_else(|| {
        AdminError::invalid(
            "plan_required",
            format!("incident `{id}` has no campaign to send: run `kura notify plan {id}`"),
        )
    })
}

/// Options of a send.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// The campaign (default: the incident's latest planned or unfinished one).
    pub campaign: Option<String>,
    /// Messages per second at most (none: as fast as the transport takes them).
    pub rate: Option<u32>,
    /// Stop after this many people in this run (tests and trial runs).
    pub limit: Option<u64>,
}

/// Sends (or continues) a campaign of incident `id` through `transport`; `progress` gets
/// (people done, people in the campaign) after each batch. See the module's invariants.
///
/// # Errors
/// `plan_required`; `content_missing`; store, vault and audit failures (what was written
/// stays written; run again to continue).
pub fn send(
    env: &Env<'_>,
    id: &str,
    transport: &dyn Transport,
    options: &SendOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<SendReport, AdminError> {
    let rec = campaign_to_send(env, id, options.campaign.as_deref())?;
    let mut body: Body = serde_json::from_str(&rec.body).map_err(|e| {
        AdminError::Store(kura_store::StoreError::Corrupt(format!(
            "campaign {}: {e}",
            rec.id
        )))
    })?;
    if rec.status == "done" || rec.status == "superseded" {
        return Err(AdminError::invalid(
            "campaign_closed",
            format!("campaign {} is {}", rec.id, rec.status),
        ));
    }
    if rec.status == "planned" {
        env.notices.update_campaign(
            &rec.id,
            "sending",
            &rec.body,
            &[campaign_event(env, &rec.id, id, rec.scope_version, "sending").to_leaf()?],
        )?;
    }
    let campaign = rec.id.clone();
    let content = body.content.clone();
    let window = window_of(env.directory, id)?;
    let sets = sets_of(env.directory, id, rec.scope_version)?;
    let now = env.clock.now_ms();
    let duties = duties(env, id, now)?;
    let holder = holder(env.directory)?;
    let earlier: Vec<String> = env
        .notices
        .campaigns(id)?
        .into_iter()
        .filter(|c| c.id != campaign && c.status != "planned" && c.status != "superseded")
        .filter(|c| c.created_at < rec.created_at)
        .map(|c| c.id)
        .collect();
    let access = Access {
        request_id: campaign.clone(),
        ..Access::operator(env.by, PURPOSE)
    };
    let mut report = SendReport {
        campaign: campaign.clone(),
        ..SendReport::default()
    };
    let all = affected(&sets);
    let total = all.len();
    let started = Instant::now();
    let mut handled = 0u64;
    let mut done_people = 0u64;
    let mut incomplete = false;
    let mut queued = 0u64;
    // The transport writes batch k while batch k+1 is claimed, opened and rendered: one
    // sender thread, fed through a channel of one batch. A person's row stays `sending`
    // until the sender records the transport's answer, as without the overlap.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<OutgoingMail>, Vec<DeliveryRecord>)>(1);
    let sender_campaign = campaign.clone();
    let (produced, delivered) = std::thread::scope(|scope| {
        let sender = scope.spawn(move || deliver(env, id, &sender_campaign, transport, rx));
        let produced = (|| -> Result<(), AdminError> {
            let mut it = all.iter().peekable();
            while it.peek().is_some() {
                if options.limit.is_some_and(|l| handled >= l) {
                    incomplete = true;
                    break;
                }
                let batch: Vec<u64> = it.by_ref().take(BATCH).collect();
                let (lo, hi) = (batch[0], batch[batch.len() - 1]);
                let existing: BTreeMap<u64, DeliveryRecord> = env
                    .notices
                    .deliveries_between(&campaign, lo, hi)?
                    .into_iter()
                    .map(|d| (d.iid, d))
                    .collect();
                let mut before: BTreeSet<u64> = BTreeSet::new();
                for e in &earlier {
                    for d in env.notices.deliveries_between(e, lo, hi)? {
                        if d.state == "sent" {
                            before.insert(d.iid);
                        }
                    }
                }
                // Fresh people, and people to take up again (a crash left them `sending`, or a
                // failure left attempts).
                let mut fresh = Vec::new();
                let mut again: BTreeMap<u64, DeliveryRecord> = BTreeMap::new();
                for iid in &batch {
                    match existing.get(iid) {
                        None => fresh.push(*iid),
                        Some(d) if d.state == "sending" => {
                            again.insert(*iid, d.clone());
                        }
                        Some(d) if d.state == "failed" && d.attempts < MAX_ATTEMPTS => {
                            again.insert(*iid, d.clone());
                        }
                        Some(_) => report.done_before += 1,
                    }
                }
                let wanted: Vec<u64> = fresh.iter().chain(again.keys()).copied().collect();
                let found: BTreeMap<u64, StoredSubject> = env
                    .notices
                    .subjects_by_iid(&wanted)?
                    .into_iter()
                    .map(|s| (s.iid, s))
                    .collect();
                let now = env.clock.now_ms();
                let row = |iid: u64, p: Option<&Person>, state: &str, mid: String| DeliveryRecord {
                    campaign: campaign.clone(),
                    iid,
                    state: state.to_owned(),
                    family: p.map_or_else(String::new, |p| p.family.clone()),
                    locale: p.map_or_else(String::new, |p| p.lang.clone()),
                    country: p.map_or_else(String::new, |p| p.stored.country.clone()),
                    channel: p.map_or("none", |p| p.channel).to_owned(),
                    message_id: mid,
                    attempts: 0,
                    detail: None,
                    updated_at: now as i64,
                };
                // Rows written without opening anything: erased, not required, already notified,
                // no address.
                let mut settled = Vec::new();
                let mut to_mail: Vec<Person> = Vec::new();
                for iid in &fresh {
                    let Some(s) = found.get(iid) else {
                        settled.push(row(*iid, None, "erased", String::new()));
                        report.erased += 1;
                        continue;
                    };
                    if before.contains(iid) {
                        settled.push(row(*iid, None, "already_notified", String::new()));
                        report.already_notified += 1;
                        continue;
                    }
                    match classify(env, &sets, &duties, &content, s.clone())? {
                        None => settled.push(row(*iid, None, "not_required", String::new())),
                        Some(p) if p.channel == "none" => {
                            settled.push(row(*iid, Some(&p), "unreachable", String::new()));
                            report.unreachable += 1;
                        }
                        Some(p) => to_mail.push(p),
                    }
                }
                if !settled.is_empty() {
                    env.notices.claim_deliveries(&settled, &[])?;
                }
                let mut retry: Vec<Person> = Vec::new();
                for (iid, d) in &again {
                    match found.get(iid) {
                        None => {
                            let mut r = d.clone();
                            r.state = "erased".to_owned();
                            r.updated_at = now as i64;
                            env.notices.record_deliveries(&[r], &[])?;
                            report.erased += 1;
                        }
                        Some(s) => {
                            if let Some(p) = classify(env, &sets, &duties, &content, s.clone())? {
                                retry.push(p);
                            }
                        }
                    }
                }
                // Credential playbook: flag before the notice is built.
                let flag: Vec<Uuid> = to_mail
                    .iter()
                    .chain(&retry)
                    .filter(|p| {
                        p.confirmed
                            .iter()
                            .chain(&p.potential)
                            .any(|c| c == "credential")
                    })
                    .map(|p| p.stored.id)
                    .collect();
                let mut reset: BTreeSet<Uuid> = BTreeSet::new();
                if !flag.is_empty() {
                    let mut by_collection: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
                    for p in to_mail.iter().chain(&retry) {
                        if flag.contains(&p.stored.id) {
                            by_collection
                                .entry(p.stored.collection.as_str())
                                .or_default()
                                .push(p.stored.id);
                        }
                    }
                    for (c, ids) in by_collection {
                        match kura_vault::credentials::force_reset(
                            env.vault,
                            env.credentials,
                            &access,
                            c,
                            &ids,
                        ) {
                            Ok(n) => {
                                report.must_reset += n;
                                reset.extend(ids);
                            }
                            // A collection without a credential field has nothing to reset.
                            Err(e) if e.code() == "no_credential_field" => {}
                            Err(e) => return Err(AdminError::invalid(e.code(), e.to_string())),
                        }
                    }
                }
                // Claim the fresh people with one event each, then open their addresses.
                let fresh_rows: Vec<DeliveryRecord> = to_mail
                    .iter()
                    .map(|p| {
                        row(
                            p.stored.iid,
                            Some(p),
                            "sending",
                            message_id(env.vault, &campaign, &p.stored.id),
                        )
                    })
                    .collect();
                let mut people: Vec<(Person, DeliveryRecord, bool)> = Vec::new();
                let mut by_collection: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                for (k, p) in to_mail.iter().enumerate() {
                    by_collection
                        .entry(p.stored.collection.clone())
                        .or_default()
                        .push(k);
                }
                let mut addresses: BTreeMap<u64, Option<Zeroizing<String>>> = BTreeMap::new();
                for (c, ks) in &by_collection {
                    let subjects: Vec<StoredSubject> =
                        ks.iter().map(|k| to_mail[*k].stored.clone()).collect();
                    let rows: Vec<DeliveryRecord> =
                        ks.iter().map(|k| fresh_rows[*k].clone()).collect();
                    let got = env
                        .vault
                        .notice_addresses(&access, c, &subjects, &mut |leaves| {
                            env.notices.claim_deliveries(&rows, leaves)
                        })?;
                    for a in got {
                        addresses.insert(a.iid, a.address);
                    }
                }
                let mut retry_collections: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                for (k, p) in retry.iter().enumerate() {
                    retry_collections
                        .entry(p.stored.collection.clone())
                        .or_default()
                        .push(k);
                }
                for (c, ks) in &retry_collections {
                    let subjects: Vec<StoredSubject> =
                        ks.iter().map(|k| retry[*k].stored.clone()).collect();
                    let got = env
                        .vault
                        .notice_addresses(&access, c, &subjects, &mut |leaves| {
                            env.notices.append_audit(leaves).map(drop)
                        })?;
                    for a in got {
                        addresses.insert(a.iid, a.address);
                    }
                }
                for (p, r) in to_mail.into_iter().zip(fresh_rows) {
                    people.push((p, r, false));
                }
                for p in retry {
                    let r = again.get(&p.stored.iid).cloned().unwrap_or_else(|| {
                        row(
                            p.stored.iid,
                            Some(&p),
                            "sending",
                            message_id(env.vault, &campaign, &p.stored.id),
                        )
                    });
                    let crashed = r.state == "sending";
                    people.push((p, r, crashed));
                }
                // Remediation codes, per region, handed out once per person.
                let mut codes: BTreeMap<u64, String> = BTreeMap::new();
                let mut regions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
                for (p, _, _) in &people {
                    let region = p.stored.country.split('-').next().unwrap_or("").to_owned();
                    if content.offers.get(&region).is_some_and(|o| o.codes) {
                        regions.entry(region).or_default().push(p.stored.iid);
                    }
                }
                for (region, iids) in regions {
                    for (iid, provider, sealed) in env
                        .notices
                        .assign_remediation_codes(&region, &campaign, &iids)?
                    {
                        let code = env
                            .vault
                            .open_remediation_code(&region, &provider, &sealed)
                            .map_err(|e| AdminError::invalid(e.code(), e.to_string()))?;
                        codes.insert(iid, code.to_string());
                        report.codes += 1;
                    }
                }
                // Build and send: render in parallel (templates and the vault are shared, read
                // only), then settle in order.
                let mut jobs = Vec::with_capacity(people.len());
                for (p, mut r, crashed) in people {
                    let Some(Some(to)) = addresses.remove(&p.stored.iid) else {
                        r.state = "unreachable".to_owned();
                        r.updated_at = now as i64;
                        report.unreachable += 1;
                        env.notices.record_deliveries(&[r], &[])?;
                        continue;
                    };
                    let code = codes.remove(&p.stored.iid);
                    let creds = reset.contains(&p.stored.id);
                    jobs.push((p, r, crashed, to, code, creds));
                }
                let built: Vec<Result<OutgoingMail, AdminError>> = {
                    use rayon::prelude::*;
                    jobs.par_iter()
                        .map(|(p, r, _, to, code, creds)| {
                            let texts = texts_for(&content, &p.lang)?;
                            let ctx = context(
                                &holder,
                                id,
                                window,
                                now,
                                p,
                                texts,
                                &content,
                                code.clone(),
                                *creds,
                            );
                            let n = env
                                .templates
                                .render(&p.family, &p.lang, &ctx)
                                .map_err(render_failed)?;
                            OutgoingMail::new(to.to_string(), n.subject, n.body)
                                .about(env.vault.mail_tag(&p.stored.id))
                                .with_message_id(&r.message_id)
                                .map_err(|e| AdminError::invalid(e.code(), e.to_string()))
                        })
                        .collect()
                };
                let mut mails = Vec::with_capacity(jobs.len());
                let mut rows = Vec::with_capacity(jobs.len());
                for ((_, mut r, crashed, _, _, _), mail) in jobs.into_iter().zip(built) {
                    let mail = mail?;
                    if crashed && transport.holds(&mail) == Some(true) {
                        r.state = "sent".to_owned();
                        r.attempts += 1;
                        r.updated_at = now as i64;
                        report.found_in_outbox += 1;
                        env.notices.record_deliveries(&[r], &[])?;
                        continue;
                    }
                    if crashed {
                        report.resent_after_crash += 1;
                    }
                    mails.push(mail);
                    rows.push(r);
                }
                if let Some(rate) = options.rate.filter(|r| *r > 0) {
                    let due = Duration::from_secs_f64(
                        (queued + mails.len() as u64) as f64 / f64::from(rate),
                    );
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                queued += mails.len() as u64;
                if tx.send((mails, rows)).is_err() {
                    // The sender stopped on an error: it is reported below.
                    break;
                }
                handled += batch.len() as u64;
                done_people += batch.len() as u64;
                progress(done_people, total);
            }
            Ok(())
        })();
        drop(tx);
        let delivered = sender.join().unwrap_or_else(|_| {
            Err(AdminError::invalid(
                "internal",
                "the notice sender panicked",
            ))
        });
        (produced, delivered)
    });
    let (sent, failed) = delivered?;
    produced?;
    report.sent = sent;
    report.failed = failed;
    let open_failures = env
        .notices
        .deliveries_in_state(&campaign, "failed", 0, 1)?
        .iter()
        .any(|d| d.attempts < MAX_ATTEMPTS);
    let pending = !env
        .notices
        .deliveries_in_state(&campaign, "sending", 0, 1)?
        .is_empty();
    report.complete = !incomplete && !open_failures && !pending;
    body.runs.push(report.clone());
    let status = if report.complete { "done" } else { "sending" };
    let text = serde_json::to_string(&body)
        .map_err(|e| AdminError::invalid("invalid_content", e.to_string()))?;
    env.notices.update_campaign(
        &campaign,
        status,
        &text,
        &[campaign_event(env, &campaign, id, rec.scope_version, status).to_leaf()?],
    )?;
    Ok(report)
}

/// The sender thread of [`send`]: hands each batch to the transport and records every
/// person's answer; sets the incident's `notice_sent` stamp after the first delivery.
/// Returns (sent, failed).
fn deliver(
    env: &Env<'_>,
    id: &str,
    campaign: &str,
    transport: &dyn Transport,
    rx: std::sync::mpsc::Receiver<(Vec<OutgoingMail>, Vec<DeliveryRecord>)>,
) -> Result<(u64, u64), AdminError> {
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut stamped = false;
    for (mails, mut rows) in rx {
        let results = transport.send_batch(&mails);
        drop(mails);
        let now = env.clock.now_ms();
        for (r, res) in rows.iter_mut().zip(results) {
            r.attempts += 1;
            r.updated_at = now as i64;
            match res {
                Ok(()) => {
                    r.state = "sent".to_owned();
                    r.detail = None;
                    sent += 1;
                }
                Err(e) => {
                    r.state = "failed".to_owned();
                    r.detail = Some(e.code().to_owned());
                    failed += 1;
                }
            }
        }
        if !rows.is_empty() {
            env.notices.record_deliveries(&rows, &[])?;
        }
        if sent > 0 && !stamped {
            if first_notice(env, id)? {
                mark_notice_sent(env, id, campaign)?;
            }
            stamped = true;
        }
    }
    Ok((sent, failed))
}

/// Whether the incident has no `notice_sent` stamp yet.
fn first_notice(env: &Env<'_>, id: &str) -> Result<bool, AdminError> {
    Ok(!incident::show(env.directory, id)?
        .stamps
        .iter()
        .any(|s| s.name == "notice_sent"))
}

/// Sets the incident's `notice_sent` stamp (the clock of the obligations that count from
/// the notice, such as California's sample copy to the Attorney General).
fn mark_notice_sent(env: &Env<'_>, id: &str, campaign: &str) -> Result<(), AdminError> {
    let change = incident::IncidentChange {
        stamps: vec![incident::StampInput {
            name: "notice_sent".to_owned(),
            org: None,
            at_ms: env.clock.now_ms(),
        }],
        reason: format!("first notice of campaign {campaign} delivered"),
        ..incident::IncidentChange::default()
    };
    incident::update(env.directory, env.clock, env.by, id, change)?;
    Ok(())
}

/// A campaign's state, counted in the store.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignStatus {
    /// Campaign id.
    pub campaign: String,
    /// Incident.
    pub incident: String,
    /// `planned`, `sending`, `done` or `superseded`.
    pub status: String,
    /// Matrix version.
    pub scope_version: u32,
    /// Unix ms.
    pub created_at_ms: i64,
    /// People planned.
    pub people: u64,
    /// Rows per (state, language, country, channel, family).
    #[schema(value_type = Vec<Object>)]
    pub counts: Vec<serde_json::Value>,
    /// Totals per state.
    pub states: BTreeMap<String, u64>,
    /// People who could not be reached (no address, failed after every attempt, bounced):
    /// what the substitute public notice covers.
    pub unreachable: u64,
}

/// Every campaign of incident `id`, with its counts.
///
/// # Errors
/// `not_found`; store failures.
pub fn status(
    notices: &dyn NoticeStore,
    directory: &dyn DirectoryStore,
    id: &str,
) -> Result<Vec<CampaignStatus>, AdminError> {
    incident::show(directory, id)?;
    let mut out = Vec::new();
    for c in notices.campaigns(id)? {
        let people = serde_json::from_str::<Body>(&c.body)
            .map(|b| b.plan.people)
            .unwrap_or(0);
        let counts = notices.delivery_counts(&c.id)?;
        let mut states: BTreeMap<String, u64> = BTreeMap::new();
        for n in &counts {
            *states.entry(n.state.clone()).or_default() += n.count;
        }
        let unreachable = counts
            .iter()
            .filter(|n| {
                n.state == "unreachable"
                    || n.state == "bounced"
                    || (n.state == "failed" && c.status == "done")
            })
            .map(|n| n.count)
            .sum();
        out.push(CampaignStatus {
            campaign: c.id.clone(),
            incident: c.incident.clone(),
            status: c.status.clone(),
            scope_version: c.scope_version,
            created_at_ms: c.created_at,
            people,
            counts: counts
                .iter()
                .map(|n| {
                    serde_json::json!({"state": n.state, "lang": n.locale, "country": n.country,
                        "channel": n.channel, "family": n.family, "people": n.count})
                })
                .collect(),
            states,
            unreachable,
        });
    }
    Ok(out)
}

/// Marks the notices named by delivery-status notifications (RFC 3464 bounces) as
/// `bounced`: each message is searched (all its parts, decoded) for the Message-ID of a
/// kura notice, and counted only when it reports `Action: failed`. Returns (bounces
/// matched, messages without a kura notice or not a failure).
///
/// # Errors
/// Store failures.
pub fn bounces(
    notices: &dyn NoticeStore,
    clock: &dyn Clock,
    messages: &[Vec<u8>],
) -> Result<(u64, u64), AdminError> {
    let (mut matched, mut ignored) = (0u64, 0u64);
    for raw in messages {
        let mut texts: Vec<String> = vec![String::from_utf8_lossy(raw).into_owned()];
        if let Some(m) = mail_parser::MessageParser::default().parse(raw.as_slice()) {
            for part in m.parts.iter() {
                texts.push(String::from_utf8_lossy(part.contents()).into_owned());
            }
        }
        let failed = texts
            .iter()
            .any(|t| t.to_ascii_lowercase().contains("action: failed"));
        let ids: BTreeSet<String> = texts.iter().flat_map(|t| notice_ids(t)).collect();
        let mut hit = false;
        if failed {
            for mid in ids {
                if let Some(mut d) = notices.delivery_by_message_id(&mid)?
                    && d.state == "sent"
                {
                    d.state = "bounced".to_owned();
                    d.detail = Some("bounced".to_owned());
                    d.updated_at = clock.now_ms() as i64;
                    notices.record_deliveries(&[d], &[])?;
                    matched += 1;
                    hit = true;
                }
            }
        }
        if !hit {
            ignored += 1;
        }
    }
    Ok((matched, ignored))
}

/// The Message-ID left parts of kura notices (`kn-<16 hex>-<24 hex>`) in `text`.
fn notice_ids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = text[i..].find("kn-") {
        let start = i + pos;
        let end = start + 3 + 16 + 1 + 24;
        if end <= b.len()
            && b[start + 3..start + 19].iter().all(u8::is_ascii_hexdigit)
            && b[start + 19] == b'-'
            && b[start + 20..end].iter().all(u8::is_ascii_hexdigit)
            && b.get(end).is_none_or(|c| !c.is_ascii_hexdigit())
        {
            out.push(text[start..end].to_ascii_lowercase());
        }
        i = start + 3;
    }
    out
}

/// Renders the substitute public notice of incident `id`, one static HTML page per
/// language of `langs`, from its latest campaign's texts: for the people who could not be
/// reached. Returns (language, html).
///
/// # Errors
/// `plan_required`; `content_missing`; `render_failed`.
pub fn public_pages(
    env: &Env<'_>,
    id: &str,
    langs: &[String],
) -> Result<Vec<(String, String)>, AdminError> {
    let all = env.notices.campaigns(id)?;
    let c = all
        .iter()
        .rev()
        .find(|c| c.status != "superseded")
        .ok_or_else(|| {
            AdminError::invalid(
                "plan_required",
                format!("incident `{id}` has no campaign: run `kura notify plan {id}`"),
            )
        })?;
    let body: Body = serde_json::from_str(&c.body).map_err(|e| {
        AdminError::Store(kura_store::StoreError::Corrupt(format!(
            "campaign {}: {e}",
            c.id
        )))
    })?;
    let window = window_of(env.directory, id)?;
    let sets = sets_of(env.directory, id, c.scope_version)?;
    let holder = holder(env.directory)?;
    let unreachable = status(env.notices, env.directory, id)?
        .iter()
        .find(|s| s.campaign == c.id)
        .map_or(0, |s| s.unreachable);
    let mut confirmed = BTreeSet::new();
    let mut potential = BTreeSet::new();
    for ((category, exposure), b) in &sets.cells {
        if b.is_empty() {
            continue;
        }
        if exposure.starts_with("confirmed") {
            confirmed.insert(category.clone());
        } else {
            potential.insert(category.clone());
        }
    }
    let potential: Vec<String> = potential.difference(&confirmed).cloned().collect();
    let now = env.clock.now_ms();
    let mut out = Vec::new();
    for lang in langs {
        let texts = texts_for(&body.content, lang)?;
        let ctx = PublicContext {
            holder: holder.0.clone(),
            contact: texts.contact.clone().unwrap_or_else(|| holder.1.clone()),
            incident_ref: id.to_owned(),
            window_from_ms: window.0 as i64,
            window_to_ms: window.1.min(now) as i64,
            notice_ms: now as i64,
            time_zone: "UTC".to_owned(),
            confirmed: confirmed.iter().cloned().collect(),
            potential: potential.clone(),
            what_happened: texts.what_happened.clone(),
            cause: texts.cause.clone(),
            likely_consequences: texts.likely_consequences.clone(),
            measures: texts.measures.clone(),
            people_unreachable: unreachable,
            extra: BTreeMap::new(),
        };
        let html = env
            .templates
            .render_public(lang, &ctx)
            .map_err(render_failed)?;
        out.push((lang.clone(), html));
    }
    Ok(out)
}

/// Imports remediation codes for `region` and `provider` (one per line; blank lines and a
/// first line `code` skipped), sealed under the vault's key; returns (new, duplicates).
///
/// # Errors
/// `invalid_region`; store failures.
pub fn import_codes(
    vault: &Vault,
    notices: &dyn NoticeStore,
    clock: &dyn Clock,
    by: &str,
    region: &str,
    provider: &str,
    lines: &str,
) -> Result<(u64, u64), AdminError> {
    if !kura_model::is_country_code(region) {
        return Err(AdminError::invalid(
            "invalid_region",
            format!("region `{region}` is not an ISO 3166-1 alpha-2 code such as US or JP"),
        ));
    }
    if provider.trim().is_empty() || provider.len() > 200 {
        return Err(AdminError::invalid(
            "invalid_provider",
            "the provider is 1-200 characters",
        ));
    }
    let mut total = 0u64;
    let mut new = 0u64;
    let mut batch = Vec::new();
    let flush = |batch: &mut Vec<([u8; 32], Vec<u8>)>, new: &mut u64| -> Result<(), AdminError> {
        if batch.is_empty() {
            return Ok(());
        }
        let ev = AccessEvent::new(
            clock.now_ms(),
            by,
            PURPOSE,
            Action::RemediationImport,
            "",
            &Uuid::now_v7().to_string(),
        )
        .with_fields([
            format!("region:{region}"),
            format!("provider:{provider}"),
            format!("count:{}", batch.len()),
        ]);
        *new += notices.insert_remediation_codes(region, provider, batch, &[ev.to_leaf()?])?;
        batch.clear();
        Ok(())
    };
    for (n, line) in lines.lines().enumerate() {
        let code = line.split(',').next().unwrap_or("").trim();
        if code.is_empty() || (n == 0 && code.eq_ignore_ascii_case("code")) {
            continue;
        }
        total += 1;
        batch.push(
            vault
                .seal_remediation_code(region, provider, code)
                .map_err(|e| AdminError::invalid(e.code(), e.to_string()))?,
        );
        if batch.len() >= 1000 {
            flush(&mut batch, &mut new)?;
        }
    }
    flush(&mut batch, &mut new)?;
    Ok((new, total - new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_ids_are_found_in_text() {
        let a = format!("kn-{}-{}", "a".repeat(16), "0".repeat(24));
        let text = format!(
            "Message-ID: <{a}@example.org>\nkn-short kn-{} kn-{}-{}",
            "z".repeat(70),
            "b".repeat(16),
            "1".repeat(30)
        );
        assert_eq!(notice_ids(&text), vec![a]);
    }
}
