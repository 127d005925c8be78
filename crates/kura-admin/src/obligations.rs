//! The obligations of an incident: its facts (timestamps, the latest exposure matrix's people
//! per country and categories, the vector) evaluated against the breach rules
//! (`kura_obligations`): the shipped ones, or the operator's `[obligations] rules_dir`.
//!
//! # Invariants
//! - Obligations are computed from a stored matrix version, never from a guess: an incident
//!   without one is refused (`scope_required`).
//! - The clocks start at the holder's awareness: its own `aware` stamp or a processor's
//!   report (`processor_reported`), whichever came first — not the processor's own
//!   awareness; then another organization's awareness, then the detection time (said in
//!   the result).
//! - Counts are people affected (confirmed or potential) per country of residence, canaries
//!   excluded; the rules say when they count confirmed people only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kura_obligations::{Facts, Obligation, Regime};
use kura_store::DirectoryStore;
use serde::Serialize;
use sha2::Digest as _;

use crate::directory::AdminError;
use crate::incident::{self, Incident};

/// Who the holder is, as the rules need it (`[obligations]`).
#[derive(Debug, Clone, Default)]
pub struct Holder {
    /// Countries where the holder is established.
    pub established_in: Vec<String>,
    /// A public company.
    pub public_company: bool,
}

/// The rules in force and the holder they apply to.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The regimes.
    pub regimes: Vec<Regime>,
    /// The holder.
    pub holder: Holder,
    /// Fonts for PDF drafts (empty: [`crate::pdf::DEFAULT_FONTS`]).
    pub pdf_fonts: Vec<std::path::PathBuf>,
}

impl Rules {
    /// The shipped rules for `holder`.
    ///
    /// # Errors
    /// `invalid_rules` (a defect of the shipped files).
    pub fn builtin(holder: Holder) -> Result<Rules, AdminError> {
        Ok(Rules {
            regimes: load_regimes(None)?,
            holder,
            pdf_fonts: Vec::new(),
        })
    }
}

/// The obligations of one incident at one moment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentObligations {
    /// The incident.
    pub incident: String,
    /// The matrix version the counts come from.
    pub scope_version: u32,
    /// The moment they were computed for, unix ms.
    pub now_ms: u64,
    /// Which timestamp the awareness clocks start at.
    pub aware_from: String,
    /// The facts used.
    #[schema(value_type = Object)]
    pub facts: serde_json::Value,
    /// Every obligation of every regime, owed or not, with its reasoning.
    #[schema(value_type = Vec<Object>)]
    pub obligations: Vec<Obligation>,
}

fn bad_rules(e: kura_obligations::ObligationError) -> AdminError {
    AdminError::invalid("invalid_rules", e.to_string())
}

/// The rules: every `*.toml` of `rules_dir`, or the shipped ones.
///
/// # Errors
/// `invalid_rules` naming the file and the problem; I/O failures.
pub fn load_regimes(rules_dir: Option<&Path>) -> Result<Vec<Regime>, AdminError> {
    let Some(dir) = rules_dir else {
        return kura_obligations::builtin_regimes()
            .iter()
            .map(|(f, t)| kura_obligations::parse_regime(f, t).map_err(bad_rules))
            .collect();
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(AdminError::io("reading the rules directory"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(AdminError::invalid(
            "invalid_rules",
            format!("no *.toml rules file in {}", dir.display()),
        ));
    }
    files
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).map_err(AdminError::io("reading a rules file"))?;
            kura_obligations::parse_regime(&p.display().to_string(), &text).map_err(bad_rules)
        })
        .collect()
}

/// The facts of an incident from its latest matrix (canonical JSON).
fn facts_of(
    i: &Incident,
    matrix: &serde_json::Value,
    holder: &Holder,
    now_ms: u64,
) -> (Facts, String) {
    let mut stamps: BTreeMap<String, u64> = BTreeMap::new();
    for s in &i.stamps {
        if s.name != "aware" && s.name != "processor_reported" {
            stamps.insert(s.name.clone(), s.at_ms);
        }
    }
    // The holder's awareness: its own `aware` or a processor's report, whichever came
    // first; else another organization's awareness; else the detection.
    let holders = i
        .stamps
        .iter()
        .filter(|s| {
            s.name == "processor_reported"
                || (s.name == "aware" && (i.org.is_none() || s.org == i.org))
        })
        .min_by_key(|s| s.at_ms);
    let others = i
        .stamps
        .iter()
        .filter(|s| s.name == "aware")
        .min_by_key(|s| s.at_ms);
    let detected = i.stamps.iter().find(|s| s.name == "detected");
    let name = |s: &incident::Stamp| match &s.org {
        Some(o) => format!("{}@{o}", s.name),
        None => s.name.clone(),
    };
    let aware_from = match (holders, others, detected) {
        (Some(s), _, _) => {
            stamps.insert("aware".to_owned(), s.at_ms);
            name(s)
        }
        (None, Some(s), _) => {
            stamps.insert("aware".to_owned(), s.at_ms);
            format!(
                "{} (another organization's awareness; the holder's is not recorded)",
                name(s)
            )
        }
        (None, None, Some(d)) => {
            stamps.insert("aware".to_owned(), d.at_ms);
            "detected (no awareness recorded yet)".to_owned()
        }
        (None, None, None) => "none: set `aware` or `detected`".to_owned(),
    };
    for s in &i.stamps {
        if let Some(o) = s.name.strip_prefix("submitted:") {
            stamps.insert(format!("submitted:{o}"), s.at_ms);
        }
    }
    let mut affected = BTreeMap::new();
    let mut confirmed = BTreeMap::new();
    if let Some(m) = matrix["people_by_country"].as_object() {
        for (c, v) in m {
            let (a, b) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
            affected.insert(c.clone(), a + b);
            confirmed.insert(c.clone(), a);
        }
    }
    let mut categories = BTreeSet::new();
    if let Some(m) = matrix["categories"].as_object() {
        for (c, t) in m {
            if c != "country_and_locale"
                && (t["confirmed"].as_u64() > Some(0) || t["potential"].as_u64() > Some(0))
            {
                categories.insert(c.clone());
            }
        }
    }
    let cells = matrix["cells"].as_array().cloned().unwrap_or_default();
    let sealed_only = !cells.is_empty()
        && cells.iter().all(|c| {
            matches!(
                c["exposure"].as_str(),
                Some("potential:blind_index" | "potential:metadata")
            )
        });
    let unauthorized = i.vector != "other";
    (
        Facts {
            now_ms,
            stamps,
            affected_by_country: affected,
            confirmed_by_country: confirmed,
            categories,
            sealed_only,
            unauthorized_access: unauthorized,
            unlawful_purpose: i.unlawful_purpose.unwrap_or(unauthorized),
            sensitive: i.sensitive.unwrap_or(false),
            established_in: holder.established_in.iter().cloned().collect(),
            public_company: holder.public_company,
        },
        aware_from,
    )
}

/// The obligations of incident `id` at `now_ms`, from its latest matrix version.
///
/// # Errors
/// `not_found`; `scope_required` when no matrix was computed; `invalid_rules`; a deadline
/// beyond the holiday data (`invalid_rules`, naming the year).
pub fn of_incident(
    directory: &dyn DirectoryStore,
    id: &str,
    regimes: &[Regime],
    holder: &Holder,
    now_ms: u64,
) -> Result<IncidentObligations, AdminError> {
    let i = incident::show(directory, id)?;
    let Some((version, matrix)) = directory.latest_incident_matrix(id)? else {
        return Err(AdminError::invalid(
            "scope_required",
            format!("incident `{id}` has no exposure matrix yet: run `kura incident scope {id}`"),
        ));
    };
    let matrix: serde_json::Value = serde_json::from_str(&matrix).map_err(|e| {
        AdminError::Store(kura_store::StoreError::Corrupt(format!(
            "matrix v{version} of incident {id}: {e}"
        )))
    })?;
    let (facts, aware_from) = facts_of(&i, &matrix, holder, now_ms);
    let mut obligations =
        kura_obligations::evaluate(regimes, &facts, &kura_obligations::builtin_holidays)
            .map_err(bad_rules)?;
    // A report the officer has started writing is `drafted` until submitted.
    for o in &mut obligations {
        let base = o.id.split('/').next().unwrap_or(&o.id);
        if o.state == "due" && i.reports.contains_key(base) {
            o.state = "drafted".to_owned();
        }
    }
    Ok(IncidentObligations {
        incident: id.to_owned(),
        scope_version: version,
        now_ms,
        aware_from,
        facts: serde_json::to_value(&facts).unwrap_or_default(),
        obligations,
    })
}

/// One overdue obligation of an open incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    /// The incident.
    pub incident: String,
    /// The obligation id.
    pub obligation: String,
    /// The deadline in the regulator's zone.
    pub deadline: String,
    /// A guidance target rather than a legal deadline.
    pub soft: bool,
}

/// Every overdue obligation of every open incident that has a matrix (the others cannot be
/// counted yet), at `now_ms`.
///
/// # Errors
/// Store failures; `invalid_rules`.
pub fn overdue(
    directory: &dyn DirectoryStore,
    rules: &Rules,
    now_ms: u64,
) -> Result<Vec<Overdue>, AdminError> {
    let mut out = Vec::new();
    for i in incident::list(directory)? {
        if i.status == "closed" || i.scope_versions == 0 {
            continue;
        }
        let o = of_incident(directory, &i.id, &rules.regimes, &rules.holder, now_ms)?;
        for ob in o.obligations {
            if ob.required && ob.state == "overdue" {
                out.push(Overdue {
                    incident: i.id.clone(),
                    obligation: ob.id,
                    deadline: ob.deadline_local.unwrap_or_default(),
                    soft: ob.soft,
                });
            }
        }
    }
    Ok(out)
}

/// A report draft.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Draft {
    /// The obligation (with `/<country>` for a per-country one).
    pub obligation: String,
    /// Its language.
    pub lang: String,
    /// The draft, Markdown.
    pub markdown: String,
    /// Checklist items still empty: the report cannot be submitted until they are filled.
    pub missing: Vec<String>,
    /// Every item's current text (kura's figures, overridden by the officer's).
    pub items: BTreeMap<String, String>,
}

/// A category's display name in `lang`: the one table kura-notices keeps for notices too.
fn category_name(c: &str, lang: &str) -> String {
    kura_notices::category_name(c, lang).to_owned()
}

fn rfc3339(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// What kura can state itself for a report: figures from the matrix, dates, the contact.
fn auto_items(
    i: &Incident,
    matrix: &serde_json::Value,
    facts: &Facts,
    ob: &Obligation,
    countries: &[String],
    contact: Option<String>,
    lang: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (confirmed, affected): (u64, u64) = countries.iter().fold((0, 0), |(c, a), k| {
        (
            c + facts.confirmed_by_country.get(k).copied().unwrap_or(0),
            a + facts.affected_by_country.get(k).copied().unwrap_or(0),
        )
    });
    let people = match lang {
        "ja" => format!(
            "{affected}名（うちアクセスログにより閲覧が確認された者 {confirmed}名、閲覧されたおそれがある者 {}名）",
            affected - confirmed
        ),
        "de" => format!(
            "{affected} Personen ({confirmed} laut Zugriffsprotokoll offengelegt, {} möglicherweise)",
            affected - confirmed
        ),
        _ => format!(
            "{affected} people ({confirmed} confirmed by the access log, {} potentially)",
            affected - confirmed
        ),
    };
    let mut cats = Vec::new();
    if let Some(m) = matrix["categories"].as_object() {
        for (c, t) in m {
            if c == "country_and_locale" {
                continue;
            }
            let (cf, pt) = (
                t["confirmed"].as_u64().unwrap_or(0),
                t["potential"].as_u64().unwrap_or(0),
            );
            cats.push(match lang {
                "ja" => format!("- {}: 確認 {cf}名、おそれ {pt}名", category_name(c, lang)),
                "de" => format!("- {}: {cf} bestätigt, {pt} möglich", category_name(c, lang)),
                _ => format!(
                    "- {}: {cf} confirmed, {pt} potential",
                    category_name(c, lang)
                ),
            });
        }
    }
    let cats = cats.join("\n");
    let window = i.window.map_or_else(String::new, |w| {
        format!(
            "{} – {}",
            rfc3339(w.from_ms),
            if w.to_ms == u64::MAX {
                "now".to_owned()
            } else {
                rfc3339(w.to_ms)
            }
        )
    });
    let stamp = |n: &str| {
        i.stamps
            .iter()
            .find(|s| s.name == n)
            .map(|s| rfc3339(s.at_ms))
    };
    let detected = stamp("detected").unwrap_or_default();
    let overview = match lang {
        "ja" => format!(
            "{}（経路: {}）。発生期間: {window}。発覚: {detected}。",
            i.title, i.vector
        ),
        "de" => format!(
            "{} (Weg: {}). Zeitraum: {window}. Entdeckt: {detected}.",
            i.title, i.vector
        ),
        _ => format!(
            "{} (vector: {}). Period: {window}. Detected: {detected}.",
            i.title, i.vector
        ),
    };
    let records: u64 = matrix["cells"]
        .as_array()
        .map(|c| c.iter().filter_map(|x| x["subjects"].as_u64()).sum())
        .unwrap_or(0);
    for item in &ob.checklist {
        let v = match item.as_str() {
            "overview"
            | "nature"
            | "general_description"
            | "what_happened"
            | "nature_scope_timing" => overview.clone(),
            "items" | "types_of_pi" | "nature_of_data" | "what_information_was_involved" => {
                cats.clone()
            }
            "categories_and_number_of_subjects" => format!("{people}\n{cats}"),
            "people" | "approximate_number" | "subjects" => people.clone(),
            "categories_and_number_of_records" => match lang {
                "de" => format!("{records} Datensätze (Person × Kategorie)"),
                _ => format!("{records} records (person × category)"),
            },
            "contact_point" | "notifier_contact" | "controller_and_dpo" => {
                contact.clone().unwrap_or_default()
            }
            "date_range" | "time_and_duration" => window.clone(),
            "detection" => detected.clone(),
            "reasons_for_delay_if_late" => match ob.time_left_ms {
                Some(l) if l >= 0 => match lang {
                    "de" => "Entfällt: Meldung innerhalb der Frist.".to_owned(),
                    _ => "Not applicable: notified within the deadline.".to_owned(),
                },
                _ => String::new(),
            },
            _ => String::new(),
        };
        if !v.trim().is_empty() {
            out.insert(item.clone(), v);
        }
    }
    out
}

fn rule_of<'a>(
    regimes: &'a [Regime],
    obligation: &str,
) -> Option<&'a kura_obligations::ObligationRule> {
    let base = obligation.split('/').next().unwrap_or(obligation);
    regimes
        .iter()
        .flat_map(|r| &r.obligations)
        .find(|o| o.id == base)
}

/// The draft of one obligation's report in `lang` (default: the template's first language).
///
/// # Errors
/// `not_found` (incident or obligation); `scope_required`; `no_template` for an
/// obligation or language without one; `invalid_rules`.
pub fn draft(
    directory: &dyn DirectoryStore,
    id: &str,
    obligation: &str,
    lang: Option<&str>,
    rules: &Rules,
    now_ms: u64,
) -> Result<Draft, AdminError> {
    let all = of_incident(directory, id, &rules.regimes, &rules.holder, now_ms)?;
    let ob = all
        .obligations
        .iter()
        .find(|o| o.id == obligation)
        .ok_or_else(|| AdminError::NotFound(format!("no obligation `{obligation}`")))?;
    let rule = rule_of(&rules.regimes, obligation)
        .ok_or_else(|| AdminError::NotFound(format!("no obligation `{obligation}`")))?;
    let base = rule.id.as_str();
    let (lang, source) = kura_obligations::builtin_templates()
        .iter()
        .filter(|(t, _, _)| *t == base)
        .find(|(_, l, _)| lang.is_none_or(|want| want == *l))
        .map(|(_, l, s)| ((*l).to_owned(), *s))
        .ok_or_else(|| {
            AdminError::invalid(
                "no_template",
                format!(
                    "no report template for `{obligation}` in {}",
                    lang.unwrap_or("any language")
                ),
            )
        })?;
    let template = kura_obligations::load_template(rule, &lang, source).map_err(bad_rules)?;
    let i = incident::show(directory, id)?;
    let matrix: serde_json::Value = directory
        .latest_incident_matrix(id)?
        .and_then(|(_, m)| serde_json::from_str(&m).ok())
        .unwrap_or_default();
    let facts: Facts = {
        let (f, _) = facts_of(&i, &matrix, &rules.holder, now_ms);
        f
    };
    let countries: Vec<String> = match &ob.country {
        Some(c) => vec![c.clone()],
        None => rules
            .regimes
            .iter()
            .find(|r| r.id == ob.regime)
            .map(|r| r.countries.clone())
            .unwrap_or_default(),
    };
    let org = match &i.org {
        Some(o) => directory.organization(o)?,
        None => None,
    };
    let contact = org
        .as_ref()
        .map(|o| format!("{} — {} <{}>", o.name, o.officer_name, o.officer_contact));
    let mut items = auto_items(&i, &matrix, &facts, ob, &countries, contact.clone(), &lang);
    if let Some(own) = i.reports.get(base) {
        for (k, v) in own {
            items.insert(k.clone(), v.clone());
        }
    }
    let missing = kura_obligations::missing(rule, &items);
    let final_phase = missing.is_empty() && !base.ends_with("preliminary");
    let ctx = kura_obligations::ReportContext {
        incident_id: id.to_owned(),
        holder: contact.unwrap_or_else(|| "[to be completed: holder]".to_owned()),
        recipient: ob.recipient.clone(),
        deadline: ob
            .deadline_local
            .clone()
            .unwrap_or_else(|| "without undue delay".to_owned()),
        generated_at: rfc3339(now_ms),
        phase_en: if final_phase { "final" } else { "preliminary" }.to_owned(),
        phase_de: if final_phase {
            "abschließend"
        } else {
            "vorläufig"
        }
        .to_owned(),
        phase_ja: if base == "jp-appi-preliminary" {
            "速報"
        } else {
            "確報"
        }
        .to_owned(),
        items: items.clone(),
    };
    let markdown = kura_obligations::render(&template, rule, &ctx).map_err(bad_rules)?;
    Ok(Draft {
        obligation: obligation.to_owned(),
        lang,
        markdown,
        missing,
        items,
    })
}

/// Writes report items of an obligation rule (`jp-appi-final`), with a reason: a timeline
/// entry and an access event like every change.
///
/// # Errors
/// `not_found`; `incident_closed`; `invalid_value` (an item not on the rule's checklist, a
/// text over 5,000 characters); store failures.
#[allow(clippy::too_many_arguments)]
pub fn set_items(
    directory: &dyn DirectoryStore,
    clock: &dyn kura_audit::Clock,
    by: &str,
    id: &str,
    obligation: &str,
    items: BTreeMap<String, String>,
    reason: &str,
    rules: &Rules,
) -> Result<Incident, AdminError> {
    let rule = rule_of(&rules.regimes, obligation)
        .ok_or_else(|| AdminError::NotFound(format!("no obligation `{obligation}`")))?;
    for (k, v) in &items {
        if !rule.checklist.contains(k) {
            return Err(AdminError::invalid(
                "invalid_value",
                format!(
                    "`{k}` is not an item of `{}`: {}",
                    rule.id,
                    rule.checklist.join(", ")
                ),
            ));
        }
        if v.chars().count() > 5000 {
            return Err(AdminError::invalid(
                "invalid_value",
                format!("`{k}` is longer than 5000 characters"),
            ));
        }
    }
    if items.is_empty() {
        return Err(AdminError::invalid("empty_change", "no item to set"));
    }
    let base = rule.id.clone();
    incident::mutate(
        directory,
        clock,
        by,
        id,
        kura_audit::Action::IncidentUpdate,
        reason,
        &|i| {
            incident::open_only(i)?;
            let entry = i.reports.entry(base.clone()).or_default();
            for (k, v) in &items {
                entry.insert(k.clone(), v.clone());
            }
            Ok((
                "report_items".to_owned(),
                serde_json::json!({"obligation": base, "items": items}),
            ))
        },
    )
}

/// Records that an obligation's report was submitted, once every required item is filled:
/// the `submitted:<obligation>` stamp (the obligation then shows as `submitted`), and a
/// timeline entry and access event with the channel, the reference and the SHA-256 of the
/// draft as submitted.
///
/// # Errors
/// `report_incomplete` naming the empty items; `not_required` when the obligation is not
/// owed; `already_submitted`; as [`draft`]; store failures.
#[allow(clippy::too_many_arguments)]
pub fn submit(
    directory: &dyn DirectoryStore,
    clock: &dyn kura_audit::Clock,
    by: &str,
    id: &str,
    obligation: &str,
    channel: &str,
    reference: &str,
    lang: Option<&str>,
    rules: &Rules,
) -> Result<Incident, AdminError> {
    let channel = incident::text("channel", channel, 200)?;
    let reference = incident::text("reference", reference, 200)?;
    let now = clock.now_ms();
    let all = of_incident(directory, id, &rules.regimes, &rules.holder, now)?;
    let ob = all
        .obligations
        .iter()
        .find(|o| o.id == obligation)
        .ok_or_else(|| AdminError::NotFound(format!("no obligation `{obligation}`")))?;
    if !ob.required {
        return Err(AdminError::invalid(
            "not_required",
            format!(
                "`{obligation}` is not owed for this incident: {}",
                ob.reasoning.join("; ")
            ),
        ));
    }
    let d = draft(directory, id, obligation, lang, rules, now)?;
    if !d.missing.is_empty() {
        return Err(AdminError::invalid(
            "report_incomplete",
            format!("the report still lacks: {}", d.missing.join(", ")),
        ));
    }
    let digest = crate::incident::hex(&sha2::Sha256::digest(d.markdown.as_bytes()));
    let stamp_name = format!("submitted:{obligation}");
    let reason = format!("submitted via {channel}, reference {reference}");
    incident::mutate(
        directory,
        clock,
        by,
        id,
        kura_audit::Action::IncidentUpdate,
        &reason,
        &|i| {
            incident::open_only(i)?;
            if i.stamps.iter().any(|s| s.name == stamp_name) {
                return Err(AdminError::invalid(
                    "already_submitted",
                    format!("`{obligation}` was already submitted"),
                ));
            }
            i.stamps.push(incident::Stamp {
                name: stamp_name.clone(),
                org: None,
                at_ms: now,
                by: by.to_owned(),
                reason: reason.clone(),
            });
            i.stamps
                .sort_by(|a, b| (&a.name, &a.org).cmp(&(&b.name, &b.org)));
            Ok((
                "submitted".to_owned(),
                serde_json::json!({"obligation": obligation, "channel": channel,
                    "reference": reference, "lang": d.lang, "draft_sha256": digest}),
            ))
        },
    )
}
