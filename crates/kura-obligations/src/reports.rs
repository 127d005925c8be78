//! Report drafts: one template per obligation and language (Markdown, rendered with
//! `minijinja`), checked when loaded against its obligation's checklist, and the check of a
//! filled report before it may be submitted.
//!
//! # Invariants
//! - A template that does not use every checklist item of its obligation (as
//!   `items.<item>`), or lacks a text the rule mandates (a title, a heading), is refused
//!   with the item named: a regime's required content cannot be dropped by editing a file.
//! - A report whose required items are empty cannot be submitted ([`missing`]).
//! - Rendering escapes nothing and adds nothing: the text is what the operator and kura's
//!   figures put in; no field value of any subject is in the context.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ObligationError;
use crate::rules::ObligationRule;

/// A checked template.
#[derive(Debug, Clone)]
pub struct ReportTemplate {
    /// The obligation rule it is for.
    pub obligation: String,
    /// Its language (`ja`, `en`, `de`, ...).
    pub lang: String,
    source: String,
}

/// What a template is rendered with.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportContext {
    /// The incident id.
    pub incident_id: String,
    /// The holder (name and security officer).
    pub holder: String,
    /// The recipient.
    pub recipient: String,
    /// The deadline, in the regulator's zone, or "without undue delay".
    pub deadline: String,
    /// When the draft was made (RFC 3339).
    pub generated_at: String,
    /// `preliminary` or `final` (and translations).
    pub phase_en: String,
    /// German.
    pub phase_de: String,
    /// Japanese (速報 / 確報).
    pub phase_ja: String,
    /// Every item's text.
    pub items: BTreeMap<String, String>,
}

const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "jp-appi-preliminary",
        "ja",
        include_str!("../reports/jp-appi.ja.md"),
    ),
    (
        "jp-appi-final",
        "ja",
        include_str!("../reports/jp-appi.ja.md"),
    ),
    (
        "eu-gdpr-art33",
        "en",
        include_str!("../reports/eu-gdpr-art33.en.md"),
    ),
    (
        "eu-gdpr-art33",
        "de",
        include_str!("../reports/eu-gdpr-art33.de.md"),
    ),
    (
        "uk-gdpr-ico",
        "en",
        include_str!("../reports/uk-gdpr-ico.en.md"),
    ),
    (
        "us-ca-residents",
        "en",
        include_str!("../reports/us-ca-residents.en.md"),
    ),
    ("us-ca-ag", "en", include_str!("../reports/us-ca-ag.en.md")),
    (
        "us-ny-regulators",
        "en",
        include_str!("../reports/us-ny-regulators.en.md"),
    ),
    (
        "kr-pipa-pipc",
        "en",
        include_str!("../reports/kr-pipa-pipc.en.md"),
    ),
    (
        "br-lgpd-anpd",
        "en",
        include_str!("../reports/br-lgpd-anpd.en.md"),
    ),
    (
        "us-sec-8k",
        "en",
        include_str!("../reports/us-sec-8k.en.md"),
    ),
];

/// The shipped templates as (obligation rule id, language, source).
pub fn builtin_templates() -> &'static [(&'static str, &'static str, &'static str)] {
    BUILTIN
}

fn env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

/// Loads a template for `rule` in `lang`, refusing one that leaves out a checklist item or
/// a mandated text.
///
/// # Errors
/// [`ObligationError::Template`] naming the template and the missing item.
pub fn load_template(
    rule: &ObligationRule,
    lang: &str,
    source: &str,
) -> Result<ReportTemplate, ObligationError> {
    let name = format!("{}.{lang}", rule.id);
    let bad = |message: String| ObligationError::Template {
        template: name.clone(),
        message,
    };
    let env = env();
    let t = env
        .template_from_str(source)
        .map_err(|e| bad(format!("does not parse: {e}")))?;
    let used = t.undeclared_variables(true);
    for item in &rule.checklist {
        if !used.contains(&format!("items.{item}")) {
            return Err(bad(format!(
                "required item `{item}` is not in the template"
            )));
        }
    }
    for text in &rule.required_text {
        if !source.contains(text.as_str()) {
            return Err(bad(format!(
                "required text `{text}` is not in the template"
            )));
        }
    }
    Ok(ReportTemplate {
        obligation: rule.id.clone(),
        lang: lang.to_owned(),
        source: source.to_owned(),
    })
}

/// The checklist items of `rule` that `items` leaves empty, in checklist order.
pub fn missing(rule: &ObligationRule, items: &BTreeMap<String, String>) -> Vec<String> {
    rule.checklist
        .iter()
        .filter(|i| items.get(*i).is_none_or(|t| t.trim().is_empty()))
        .cloned()
        .collect()
}

/// Renders a draft. Items not yet filled appear as `[to be completed: <item>]`.
///
/// # Errors
/// [`ObligationError::Template`] if rendering fails.
pub fn render(
    t: &ReportTemplate,
    rule: &ObligationRule,
    ctx: &ReportContext,
) -> Result<String, ObligationError> {
    let mut ctx = ctx.clone();
    for item in &rule.checklist {
        let e = ctx.items.entry(item.clone()).or_default();
        if e.trim().is_empty() {
            *e = format!("[to be completed: {item}]");
        }
    }
    env()
        .render_str(&t.source, &ctx)
        .map_err(|e| ObligationError::Template {
            template: format!("{}.{}", t.obligation, t.lang),
            message: e.to_string(),
        })
}
