//! The template set: loading and checking template files against the requirements of
//! their family, choosing a template for a person, rendering a notice and the public
//! page.
//!
//! # File names
//! `<family>.<lang>.txt` for a notice (plain text, never escaped: it is a mail body),
//! `public.<lang>.html` for the public page (always HTML-escaped). A later file of the
//! same name replaces an earlier one, so operator overrides follow the builtins.
//!
//! # Blocks
//! A notice template has `{% block subject %}` (one line), `{% block body %}`, and
//! inside the body one block per checklist item of its family. Blocks may nest, so one
//! text can satisfy several names (the generic templates' `nature` block holds
//! `general_description` and `nature_of_data`).
//!
//! # Decisions
//! - A family with requirements must have an `en` template: its own checklist is the
//!   law, so the fallback never leaves a family for `generic` while the family has a
//!   template in any language of the chain. `generic` is used only for a family that
//!   has no template in the chain at all.
//! - The `generic` templates are always checked against [`GENERIC_ITEMS`] (as the
//!   obligation `kura-generic`) besides whatever requirements name `generic`, and a
//!   `generic.en.txt` and a `public.en.html` must exist: the last fallbacks.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::NoticeError;
use crate::context::{NoticeContext, NoticeView, Offer, PublicContext, PublicView, category_name};
use crate::locale::lang_chain;

/// The checklist of the `generic` family; pass it as the items of a `generic`
/// requirement.
pub const GENERIC_ITEMS: &[&str] = &[
    "nature",
    "categories",
    "date_range",
    "what_we_are_doing",
    "what_you_can_do",
    "contact_point",
];

/// The blocks every public page must have, and render non-empty.
pub const PUBLIC_ITEMS: &[&str] = &["nature", "categories", "what_you_can_do", "contact_point"];

const GENERIC_SOURCE: &str = "kura-generic";

/// What an obligation requires of the notices of one family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The family (`gdpr-art34`, `appi`, `ca`, `pipa`, `generic`).
    pub family: String,
    /// The obligation id that requires it (`us-ca-residents`).
    pub source: String,
    /// The checklist items: each must be a non-empty block inside the body.
    pub items: Vec<String>,
    /// Texts that must appear verbatim in the rendered notice (titles, headings).
    pub required_text: Vec<String>,
}

/// A rendered notice: a one-line subject and a plain-text body.
///
/// The body may carry a remediation enrolment code; it is zeroized on drop and not
/// shown by `Debug`.
pub struct RenderedNotice {
    /// The mail subject: one line, no CR or LF.
    pub subject: String,
    /// The plain-text body, ending in a newline.
    pub body: Zeroizing<String>,
}

impl std::fmt::Debug for RenderedNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedNotice")
            .field("subject", &self.subject)
            .field("body_len", &self.body.len())
            .finish()
    }
}

const BUILTIN: &[(&str, &str)] = &[
    (
        "generic.en.txt",
        include_str!("../templates/generic.en.txt"),
    ),
    (
        "generic.ja.txt",
        include_str!("../templates/generic.ja.txt"),
    ),
    (
        "generic.de.txt",
        include_str!("../templates/generic.de.txt"),
    ),
    (
        "gdpr-art34.en.txt",
        include_str!("../templates/gdpr-art34.en.txt"),
    ),
    (
        "gdpr-art34.de.txt",
        include_str!("../templates/gdpr-art34.de.txt"),
    ),
    (
        "gdpr-art34.ja.txt",
        include_str!("../templates/gdpr-art34.ja.txt"),
    ),
    ("appi.ja.txt", include_str!("../templates/appi.ja.txt")),
    ("appi.en.txt", include_str!("../templates/appi.en.txt")),
    ("appi.de.txt", include_str!("../templates/appi.de.txt")),
    ("ca.en.txt", include_str!("../templates/ca.en.txt")),
    ("pipa.ko.txt", include_str!("../templates/pipa.ko.txt")),
    ("pipa.en.txt", include_str!("../templates/pipa.en.txt")),
    (
        "public.en.html",
        include_str!("../templates/public.en.html"),
    ),
    (
        "public.ja.html",
        include_str!("../templates/public.ja.html"),
    ),
    (
        "public.de.html",
        include_str!("../templates/public.de.html"),
    ),
];

/// The shipped templates as (file name, text).
pub fn builtin_templates() -> &'static [(&'static str, &'static str)] {
    BUILTIN
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Notice,
    Public,
}

/// Splits `<family>.<lang>.txt` / `public.<lang>.html`.
fn parse_name(file: &str) -> Result<(String, String, Kind), NoticeError> {
    let bad = || NoticeError::TemplateInvalid {
        file: file.to_owned(),
        message: "file name must be <family>.<lang>.txt or public.<lang>.html".to_owned(),
    };
    let parts: Vec<&str> = file.split('.').collect();
    let [family, lang, ext] = parts.as_slice() else {
        return Err(bad());
    };
    let family_ok = !family.is_empty()
        && family
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let lang_ok = (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_lowercase());
    let kind = match (*family, *ext) {
        ("public", "html") => Kind::Public,
        ("public", _) | (_, "html") => return Err(bad()),
        (_, "txt") => Kind::Notice,
        _ => return Err(bad()),
    };
    if !family_ok || !lang_ok {
        return Err(bad());
    }
    Ok(((*family).to_owned(), (*lang).to_owned(), kind))
}

/// Greedy word wrap at spaces, line by line, for plain ASCII-like text; a line without
/// spaces (Japanese, a URL) is left whole.
fn wrap(value: String, width: Option<usize>) -> String {
    let width = width.unwrap_or(76).max(20);
    let mut out = String::with_capacity(value.len() + 8);
    for (i, line) in value.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut len = 0usize;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let w = word.chars().count();
            if len > 0 && len + 1 + w > width {
                out.push('\n');
                len = 0;
            } else if len > 0 {
                out.push(' ');
                len += 1;
            }
            out.push_str(word);
            len += w;
        }
    }
    out
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // Escaping is decided by kind, not left to a default: notices are plain text, the
    // public page is always HTML-escaped.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("wrap", wrap);
    env
}

/// The subject as one line: whitespace (CR and LF included) collapsed to single spaces,
/// so a subject cannot inject a mail header.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trailing spaces cut, runs of blank lines collapsed to one, no blank line at either
/// end, one final newline.
fn tidy(s: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(s.len()));
    let mut blank = true; // drops leading blank lines
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The sample people every notice template is rendered for at load.
fn samples() -> [NoticeContext; 2] {
    // 2026-02-01 .. 2026-02-03 UTC, notice 2026-02-10.
    let day = 86_400_000;
    let feb1 = 1_769_904_000_000;
    let base = NoticeContext {
        holder: "Example Holder Ltd".into(),
        contact: "The data protection officer, Example Holder Ltd, +1 555 0100".into(),
        incident_ref: "INC-SAMPLE-1".into(),
        window_from_ms: feb1,
        window_to_ms: feb1 + 2 * day,
        notice_ms: feb1 + 9 * day,
        time_zone: "UTC".into(),
        what_happened: "Sample text: what happened.".into(),
        cause: "Sample text: the cause.".into(),
        likely_consequences: "Sample text: likely consequences.".into(),
        measures: "Sample text: measures taken.".into(),
        ..NoticeContext::default()
    };
    [
        NoticeContext {
            confirmed: vec!["email".into(), "credential".into()],
            potential: vec!["payment_card".into(), "name".into()],
            must_reset: true,
            remediation: Some(Offer {
                provider: "Sample Monitoring Inc.".into(),
                description: "Sample text: two years of monitoring.".into(),
                url: Some("https://monitoring.example/enrol".into()),
                code: Some("SAMPLE-CODE-1".into()),
            }),
            ..base.clone()
        },
        NoticeContext {
            confirmed: vec!["phone".into(), "national_id".into()],
            potential: vec![],
            law_enforcement_delay: Some("Sample text: delayed by an investigation.".into()),
            remediation_instead: Some("Sample text: what is available instead.".into()),
            ..base
        },
    ]
}

fn sample_public() -> PublicContext {
    let [s, _] = samples();
    PublicContext {
        holder: s.holder,
        contact: s.contact,
        incident_ref: s.incident_ref,
        window_from_ms: s.window_from_ms,
        window_to_ms: s.window_to_ms,
        notice_ms: s.notice_ms,
        time_zone: s.time_zone,
        confirmed: s.confirmed,
        potential: s.potential,
        what_happened: s.what_happened,
        cause: s.cause,
        likely_consequences: s.likely_consequences,
        measures: s.measures,
        people_unreachable: 1200,
        extra: BTreeMap::new(),
    }
}

/// A checked set of templates.
pub struct NoticeTemplates {
    env: Environment<'static>,
    notices: BTreeSet<(String, String)>,
    public: BTreeSet<String>,
}

impl std::fmt::Debug for NoticeTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeTemplates")
            .field("notices", &self.notices)
            .field("public", &self.public)
            .finish()
    }
}

fn invalid(file: &str, message: impl Into<String>) -> NoticeError {
    NoticeError::TemplateInvalid {
        file: file.to_owned(),
        message: message.into(),
    }
}

impl NoticeTemplates {
    /// Loads and checks `files` (file name, text): usually [`builtin_templates`]
    /// followed by operator overrides; a later file replaces an earlier one of the same
    /// name.
    ///
    /// Each notice template is rendered for two sample people and must have a one-line
    /// `subject` and a `body` that render non-empty, use and show the person's
    /// categories, and hold one non-empty block per checklist item of every requirement
    /// of its family, and every required text. Each public page must have the
    /// [`PUBLIC_ITEMS`] blocks, declare `utf-8` and its language, and load nothing
    /// external.
    ///
    /// # Errors
    /// [`NoticeError::TemplateInvalid`] (bad name, syntax, structure),
    /// [`NoticeError::TemplateMissingItem`], [`NoticeError::TemplateMissingText`], and
    /// [`NoticeError::NoTemplate`] when a family with requirements, `generic` or `public`
    /// has no `en` template.
    pub fn load(
        requirements: &[Requirement],
        files: &[(String, String)],
    ) -> Result<Self, NoticeError> {
        let mut latest: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, text) in files {
            latest.insert(name, text);
        }
        let mut reqs: Vec<Requirement> = requirements.to_vec();
        reqs.push(Requirement {
            family: "generic".into(),
            source: GENERIC_SOURCE.into(),
            items: GENERIC_ITEMS.iter().map(|s| (*s).to_owned()).collect(),
            required_text: vec![],
        });
        let mut env = environment();
        let mut notices = BTreeSet::new();
        let mut public = BTreeSet::new();
        let mut parsed = Vec::with_capacity(latest.len());
        for (name, text) in latest {
            let (family, lang, kind) = parse_name(name)?;
            env.add_template_owned(name.to_owned(), text.to_owned())
                .map_err(|e| invalid(name, format!("does not compile: {e}")))?;
            parsed.push((name, family, lang, kind));
        }
        for (name, family, lang, kind) in parsed {
            match kind {
                Kind::Notice => {
                    let fam_reqs: Vec<&Requirement> =
                        reqs.iter().filter(|r| r.family == family).collect();
                    check_notice(&env, name, &lang, &fam_reqs)?;
                    notices.insert((family, lang));
                }
                Kind::Public => {
                    check_public(&env, name, &lang)?;
                    public.insert(lang);
                }
            }
        }
        for family in reqs.iter().map(|r| r.family.as_str()) {
            if !notices.contains(&(family.to_owned(), "en".to_owned())) {
                return Err(NoticeError::NoTemplate {
                    family: family.to_owned(),
                    lang: "en".to_owned(),
                });
            }
        }
        if !public.contains("en") {
            return Err(NoticeError::NoTemplate {
                family: "public".to_owned(),
                lang: "en".to_owned(),
            });
        }
        Ok(NoticeTemplates {
            env,
            notices,
            public,
        })
    }

    /// The (family, language) pairs with a notice template.
    pub fn available(&self) -> impl Iterator<Item = (&str, &str)> {
        self.notices.iter().map(|(f, l)| (f.as_str(), l.as_str()))
    }

    /// The template for a person: the languages of [`lang_chain`] (locale, country's
    /// language, `en`) within `family` first, then within `generic`. Returns (family,
    /// language) as they exist; `None` only if neither has any of those languages.
    pub fn resolve(&self, family: &str, locale: &str, country: &str) -> Option<(String, String)> {
        let chain = lang_chain(locale, country);
        [family, "generic"].into_iter().find_map(|f| {
            chain
                .iter()
                .find(|l| self.notices.contains(&(f.to_owned(), (*l).clone())))
                .map(|l| (f.to_owned(), l.clone()))
        })
    }

    /// The public page's language for a locale and country: the first of
    /// [`lang_chain`] with a public template (`en` always exists).
    pub fn resolve_public(&self, locale: &str, country: &str) -> String {
        lang_chain(locale, country)
            .into_iter()
            .find(|l| self.public.contains(l))
            .unwrap_or_else(|| "en".to_owned())
    }

    /// Renders the notice of `family` in `lang` (as returned by [`Self::resolve`]).
    ///
    /// # Errors
    /// [`NoticeError::NoTemplate`], [`NoticeError::TimeZone`], [`NoticeError::Time`],
    /// [`NoticeError::RenderFailed`].
    pub fn render(
        &self,
        family: &str,
        lang: &str,
        ctx: &NoticeContext,
    ) -> Result<RenderedNotice, NoticeError> {
        if !self.notices.contains(&(family.to_owned(), lang.to_owned())) {
            return Err(NoticeError::NoTemplate {
                family: family.to_owned(),
                lang: lang.to_owned(),
            });
        }
        let name = format!("{family}.{lang}.txt");
        let failed = |e: minijinja::Error| NoticeError::RenderFailed {
            template: name.clone(),
            message: e.to_string(),
        };
        let view = NoticeView::new(ctx, lang)?;
        let tmpl = self.env.get_template(&name).map_err(failed)?;
        // The whole template is evaluated into a sink; only its blocks are kept.
        let mut captured = tmpl
            .render_captured_to(&view, std::io::sink())
            .map_err(failed)?;
        let (subject, raw) = captured
            .with_state_mut(|state| -> Result<_, minijinja::Error> {
                let subject = state.render_block("subject")?;
                let body = Zeroizing::new(state.render_block("body")?);
                Ok((subject, body))
            })
            .map_err(failed)?;
        let subject = one_line(&subject);
        Ok(RenderedNotice {
            subject,
            body: tidy(&raw),
        })
    }

    /// Renders the public page in `lang` (see [`Self::resolve_public`]): a complete
    /// static HTML5 page, every value escaped.
    ///
    /// # Errors
    /// [`NoticeError::NoTemplate`], [`NoticeError::TimeZone`], [`NoticeError::Time`],
    /// [`NoticeError::RenderFailed`].
    pub fn render_public(&self, lang: &str, ctx: &PublicContext) -> Result<String, NoticeError> {
        if !self.public.contains(lang) {
            return Err(NoticeError::NoTemplate {
                family: "public".to_owned(),
                lang: lang.to_owned(),
            });
        }
        let name = format!("public.{lang}.html");
        let failed = |e: minijinja::Error| NoticeError::RenderFailed {
            template: name.clone(),
            message: e.to_string(),
        };
        let view = PublicView::new(ctx, lang)?;
        let tmpl = self.env.get_template(&name).map_err(failed)?;
        tmpl.render(&view).map_err(failed)
    }
}

/// Renders `block`, telling a missing block from another failure.
fn block(
    state: &mut minijinja::State<'_, '_>,
    file: &str,
    block: &str,
) -> Result<Option<String>, NoticeError> {
    match state.render_block(block) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::UnknownBlock => Ok(None),
        Err(e) => Err(invalid(file, format!("block {block} does not render: {e}"))),
    }
}

fn check_notice(
    env: &Environment<'static>,
    file: &str,
    lang: &str,
    reqs: &[&Requirement],
) -> Result<(), NoticeError> {
    let tmpl = env
        .get_template(file)
        .map_err(|e| invalid(file, e.to_string()))?;
    let used = tmpl.undeclared_variables(true);
    for var in ["person.confirmed", "person.potential"] {
        if !used.contains(var) {
            return Err(invalid(
                file,
                format!("does not use the person's categories ({var})"),
            ));
        }
    }
    for sample in samples() {
        let view = NoticeView::new(&sample, lang)?;
        let mut captured = tmpl
            .render_captured_to(&view, std::io::sink())
            .map_err(|e| invalid(file, format!("does not render: {e}")))?;
        captured.with_state_mut(|state| check_sample(state, file, lang, reqs, &sample))?;
    }
    Ok(())
}

/// The checks of one sample person against one evaluated notice template.
fn check_sample(
    state: &mut minijinja::State<'_, '_>,
    file: &str,
    lang: &str,
    reqs: &[&Requirement],
    sample: &NoticeContext,
) -> Result<(), NoticeError> {
    {
        let mut whole = |name: &str| -> Result<String, NoticeError> {
            match block(state, file, name)? {
                None => Err(invalid(file, format!("no block {name}"))),
                Some(s) if s.trim().is_empty() => {
                    Err(invalid(file, format!("block {name} renders empty")))
                }
                Some(s) => Ok(s),
            }
        };
        let subject = whole("subject")?;
        let body = whole("body")?;
        for id in sample.confirmed.iter().chain(&sample.potential) {
            let shown = category_name(id, lang);
            if !body.contains(shown) {
                return Err(invalid(
                    file,
                    format!("body does not show the person's category {id}"),
                ));
            }
        }
        let text = format!("{subject}\n{body}");
        for req in reqs {
            for item in &req.items {
                let missing = |problem| NoticeError::TemplateMissingItem {
                    file: file.to_owned(),
                    item: item.clone(),
                    obligation: req.source.clone(),
                    problem,
                };
                match block(state, file, item)? {
                    None => return Err(missing("missing item")),
                    Some(s) if s.trim().is_empty() => return Err(missing("empty item")),
                    Some(s) if !body.contains(s.as_str()) => {
                        return Err(missing("outside the body: item"));
                    }
                    Some(_) => {}
                }
            }
            for t in &req.required_text {
                if !text.contains(t.as_str()) {
                    return Err(NoticeError::TemplateMissingText {
                        file: file.to_owned(),
                        text: t.clone(),
                        obligation: req.source.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn check_public(env: &Environment<'static>, file: &str, lang: &str) -> Result<(), NoticeError> {
    let tmpl = env
        .get_template(file)
        .map_err(|e| invalid(file, e.to_string()))?;
    let used = tmpl.undeclared_variables(true);
    for var in ["overall.confirmed", "overall.potential"] {
        if !used.contains(var) {
            return Err(invalid(
                file,
                format!("does not use the incident's categories ({var})"),
            ));
        }
    }
    let sample = sample_public();
    let view = PublicView::new(&sample, lang)?;
    let page = tmpl
        .render(&view)
        .map_err(|e| invalid(file, format!("does not render: {e}")))?;
    let lower = page.to_ascii_lowercase();
    if !lower.trim_start().starts_with("<!doctype html>") {
        return Err(invalid(file, "not an HTML5 page (<!DOCTYPE html>)"));
    }
    if !lower.contains("<meta charset=\"utf-8\">") {
        return Err(invalid(file, "no <meta charset=\"utf-8\">"));
    }
    if !lower.contains(&format!("<html lang=\"{lang}\"")) {
        return Err(invalid(file, format!("no <html lang=\"{lang}\">")));
    }
    for banned in [
        "<script", "<link", "<iframe", "<object", "<embed", "<img", " src=", "@import", "url(",
    ] {
        if lower.contains(banned) {
            return Err(invalid(file, format!("loads or runs something ({banned})")));
        }
    }
    for id in sample.confirmed.iter().chain(&sample.potential) {
        if !page.contains(category_name(id, lang)) {
            return Err(invalid(
                file,
                format!("page does not show the category {id}"),
            ));
        }
    }
    let mut captured = tmpl
        .render_captured_to(&view, std::io::sink())
        .map_err(|e| invalid(file, format!("does not render: {e}")))?;
    captured.with_state_mut(|state| check_public_items(state, file))
}

fn check_public_items(state: &mut minijinja::State<'_, '_>, file: &str) -> Result<(), NoticeError> {
    for item in PUBLIC_ITEMS {
        let missing = |problem| NoticeError::TemplateMissingItem {
            file: file.to_owned(),
            item: (*item).to_owned(),
            obligation: "public-notice".to_owned(),
            problem,
        };
        match block(state, file, item)? {
            None => return Err(missing("missing item")),
            Some(s) if s.trim().is_empty() => return Err(missing("empty item")),
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(family: &str, source: &str, items: &[&str], text: &[&str]) -> Requirement {
        Requirement {
            family: family.into(),
            source: source.into(),
            items: items.iter().map(|s| (*s).to_owned()).collect(),
            required_text: text.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The checklists the caller passes, from the rules files.
    fn requirements() -> Vec<Requirement> {
        let gdpr = ["nature", "contact_point", "likely_consequences", "measures"];
        vec![
            req("gdpr-art34", "eu-gdpr-art34", &gdpr, &[]),
            req("gdpr-art34", "uk-gdpr-individuals", &gdpr, &[]),
            req(
                "appi",
                "jp-appi-principals",
                &["overview", "items", "cause", "secondary_damage", "other"],
                &[],
            ),
            req(
                "ca",
                "us-ca-residents",
                &[
                    "what_happened",
                    "what_information_was_involved",
                    "what_we_are_doing",
                    "what_you_can_do",
                    "for_more_information",
                    "notifier_contact",
                    "types_of_pi",
                    "date_range",
                    "law_enforcement_delay",
                    "general_description",
                ],
                &[
                    "Notice of Data Breach",
                    "What Happened",
                    "What Information Was Involved",
                    "What We Are Doing",
                    "What You Can Do",
                    "For More Information",
                ],
            ),
            req(
                "pipa",
                "kr-pipa-subjects",
                &[
                    "items",
                    "when_and_how",
                    "what_subjects_can_do",
                    "countermeasures_and_remedy",
                    "help_desk",
                ],
                &[],
            ),
            req("generic", "generic", GENERIC_ITEMS, &[]),
            // The rules files also name `generic` for these, with their own checklists.
            req(
                "generic",
                "us-ny-residents",
                &[
                    "notifier_contact",
                    "types_of_pi",
                    "date_range",
                    "general_description",
                ],
                &[],
            ),
            req(
                "generic",
                "br-lgpd-subjects",
                &[
                    "nature_of_data",
                    "consequences",
                    "measures",
                    "contact_point",
                ],
                &[],
            ),
        ]
    }

    fn builtin_files() -> Vec<(String, String)> {
        builtin_templates()
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect()
    }

    fn loaded() -> NoticeTemplates {
        NoticeTemplates::load(&requirements(), &builtin_files()).unwrap()
    }

    fn with_override(name: &str, text: String) -> Result<NoticeTemplates, NoticeError> {
        let mut files = builtin_files();
        files.push((name.to_owned(), text));
        NoticeTemplates::load(&requirements(), &files)
    }

    fn builtin(name: &str) -> String {
        builtin_templates()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| (*t).to_owned())
            .unwrap()
    }

    const FEB1: i64 = 1_769_904_000_000;
    const DAY: i64 = 86_400_000;

    fn ctx(confirmed: &[&str], potential: &[&str]) -> NoticeContext {
        NoticeContext {
            holder: "Example Holder Ltd".into(),
            contact: "Privacy office, phone +81 3 0000 0000".into(),
            incident_ref: "INC-42".into(),
            window_from_ms: FEB1,
            window_to_ms: FEB1 + 2 * DAY,
            notice_ms: FEB1 + 10 * DAY,
            time_zone: "Asia/Tokyo".into(),
            confirmed: confirmed.iter().map(|s| (*s).to_owned()).collect(),
            potential: potential.iter().map(|s| (*s).to_owned()).collect(),
            what_happened: "An attacker reached a database server.".into(),
            cause: "A server was left without its access rules.".into(),
            likely_consequences: "Unwanted messages, attempts to log in.".into(),
            measures: "We closed access and informed the authority.".into(),
            ..NoticeContext::default()
        }
    }

    const ALL: &[&str] = &[
        "name",
        "postal_address",
        "email",
        "phone",
        "birth_date",
        "gender",
        "login_id",
        "credential",
        "payment_card",
        "national_id",
        "free_text",
        "other",
        "country_and_locale",
    ];

    fn listed(body: &str, name: &str) -> bool {
        body.lines().any(|l| l.trim() == format!("- {name}"))
    }

    /// A word only a real translation has.
    fn characteristic(lang: &str) -> &'static str {
        match lang {
            "ja" => "お詫び",
            "de" => "Sie",
            "ko" => "사과",
            _ => "you",
        }
    }

    #[test]
    fn every_builtin_loads_and_renders_the_persons_categories() {
        let t = loaded();
        let people: [(&[&str], &[&str]); 3] = [
            (&["email", "credential"], &["payment_card"]),
            (&["postal_address", "birth_date"], &[]),
            (&["national_id"], &["phone", "login_id"]),
        ];
        let reqs = requirements();
        let mut count = 0;
        for (family, lang) in t.available() {
            for (confirmed, potential) in people {
                let n = t.render(family, lang, &ctx(confirmed, potential)).unwrap();
                assert!(!n.subject.is_empty() && !n.subject.contains('\n'));
                let body = n.body.as_str();
                for id in ALL {
                    let name = category_name(id, lang);
                    let given = confirmed.contains(id) || potential.contains(id);
                    assert_eq!(listed(body, name), given, "{family}.{lang}: {id}\n{body}");
                }
                assert!(body.contains(characteristic(lang)), "{family}.{lang}");
                assert!(!body.contains("\n\n\n"), "{family}.{lang}");
                // Every checklist item block is non-empty for this person too.
                let name = format!("{family}.{lang}.txt");
                let tmpl = t.env.get_template(&name).unwrap();
                let c = ctx(confirmed, potential);
                let view = NoticeView::new(&c, lang).unwrap();
                let mut cap = tmpl.render_captured_to(&view, std::io::sink()).unwrap();
                cap.with_state_mut(|state| {
                    for r in reqs.iter().filter(|r| r.family == family) {
                        for item in &r.items {
                            let s = state.render_block(item).unwrap();
                            assert!(!s.trim().is_empty(), "{name}: {item}");
                        }
                    }
                });
            }
            count += 1;
        }
        assert_eq!(count, 12);
        let ja = t.render("appi", "ja", &ctx(&["email"], &[])).unwrap();
        assert!(ja.body.contains("2026年2月1日") && ja.body.contains("ます"));
        let de = t.render("gdpr-art34", "de", &ctx(&["email"], &[])).unwrap();
        assert!(de.body.contains("1. Februar 2026") && de.body.contains("Datenschutz"));
    }

    #[test]
    fn ascii_lines_of_english_templates_fit_76_columns() {
        for (name, text) in builtin_templates() {
            if !name.ends_with(".txt") {
                continue;
            }
            for line in text.lines().filter(|l| l.is_ascii() && !l.contains("{%")) {
                assert!(line.len() <= 76, "{name}: {line}");
            }
        }
        let t = loaded();
        let mut c = ctx(&["credential"], &["payment_card", "national_id"]);
        c.must_reset = true;
        c.what_happened = "An attacker reached one of our database servers. ".repeat(5);
        c.remediation_instead = Some("Call us for free advice on protecting yourself. ".repeat(3));
        for (family, lang) in t.available().filter(|(_, l)| matches!(*l, "en" | "de")) {
            let n = t.render(family, lang, &c).unwrap();
            // Lines holding a caller's value (a URL, the holder's name) may run longer.
            let fixed = |l: &&str| !l.contains("http") && !l.contains(c.holder.as_str());
            for line in n.body.lines().filter(fixed) {
                assert!(line.chars().count() <= 76, "{family}.{lang}: {line}");
            }
        }
    }

    #[test]
    fn a_missing_item_is_refused_naming_item_and_obligation() {
        let text = builtin("ca.en.txt").replacen("{% block what_you_can_do %}", "{% if true %}", 1);
        // Close the `if` where the block ended: the last endblock before the next section.
        let text = text.replacen(
            "{% endblock %}\n\n{% block for_more_information %}",
            "{% endif %}\n\n{% block for_more_information %}",
            1,
        );
        let e = with_override("ca.en.txt", text).unwrap_err();
        assert_eq!(e.code(), "template_missing_item");
        assert_eq!(
            e.to_string(),
            "ca.en.txt: missing item \"what_you_can_do\" required by us-ca-residents"
        );
    }

    #[test]
    fn an_empty_item_is_refused() {
        let text = builtin("gdpr-art34.en.txt").replace(
            "What this may mean for you\n{{ likely_consequences | wrap }}\n",
            "{# nothing #}\n",
        );
        let e = with_override("gdpr-art34.en.txt", text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "gdpr-art34.en.txt: empty item \"likely_consequences\" required by eu-gdpr-art34"
        );
    }

    #[test]
    fn ca_without_its_title_is_refused() {
        let text = builtin("ca.en.txt").replace("Notice of Data Breach", "Security notice");
        let e = with_override("ca.en.txt", text).unwrap_err();
        assert_eq!(e.code(), "template_missing_text");
        assert!(
            e.to_string()
                .contains("\"Notice of Data Breach\" required by us-ca-residents")
        );
    }

    #[test]
    fn a_template_not_using_the_persons_categories_is_refused() {
        let text = builtin("generic.en.txt")
            .replace("person.confirmed", "[\"Email address\"]")
            .replace("person.potential", "[]");
        let e = with_override("generic.en.txt", text).unwrap_err();
        assert_eq!(e.code(), "template_invalid");
        assert!(e.to_string().contains("person.confirmed"), "{e}");
    }

    #[test]
    fn bad_file_names_are_refused() {
        for name in [
            "generic.txt",
            "ca.EN.txt",
            "ca.en.md",
            "public.en.txt",
            "ca.en.html",
            "a.b.en.txt",
        ] {
            let e = with_override(name, builtin("generic.en.txt")).unwrap_err();
            assert_eq!(e.code(), "template_invalid", "{name}");
            assert!(e.to_string().starts_with(name), "{e}");
        }
    }

    #[test]
    fn a_syntax_error_names_the_file() {
        let e = with_override("generic.fr.txt", "{% block subject %}".into()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("generic.fr.txt: does not compile"),
            "{e}"
        );
    }

    #[test]
    fn a_family_with_requirements_needs_english() {
        let files: Vec<(String, String)> = builtin_files()
            .into_iter()
            .filter(|(n, _)| n != "pipa.en.txt")
            .collect();
        let e = NoticeTemplates::load(&requirements(), &files).unwrap_err();
        assert_eq!(
            e,
            NoticeError::NoTemplate {
                family: "pipa".into(),
                lang: "en".into()
            }
        );
    }

    #[test]
    fn an_override_replaces_the_builtin() {
        let text = builtin("generic.en.txt").replace("Dear customer,", "Hello,");
        let t = with_override("generic.en.txt", text).unwrap();
        let n = t.render("generic", "en", &ctx(&["email"], &[])).unwrap();
        assert!(n.body.starts_with("Hello,"));
    }

    #[test]
    fn fallback_chain() {
        let t = loaded();
        let r = |f: &str, l: &str, c: &str| t.resolve(f, l, c).map(|(a, b)| format!("{a}.{b}"));
        assert_eq!(r("appi", "ja-JP", "JP").as_deref(), Some("appi.ja"));
        assert_eq!(r("generic", "fr-FR", "DE").as_deref(), Some("generic.de"));
        assert_eq!(r("generic", "fr", "FR").as_deref(), Some("generic.en"));
        assert_eq!(r("generic", "pt-BR", "BR").as_deref(), Some("generic.en"));
        assert_eq!(
            r("gdpr-art34", "de_AT", "AT").as_deref(),
            Some("gdpr-art34.de")
        );
        // The family's own checklist wins over the language: pipa has no German, so a
        // German reader of a Korean notice gets pipa in English, not generic German.
        assert_eq!(r("pipa", "de-DE", "KR").as_deref(), Some("pipa.ko"));
        assert_eq!(r("pipa", "de-DE", "DE").as_deref(), Some("pipa.en"));
        assert_eq!(r("ca", "ja-JP", "US-CA").as_deref(), Some("ca.en"));
        // A family with no template at all falls back to generic, same chain.
        assert_eq!(r("nz-privacy", "ja", "NZ").as_deref(), Some("generic.ja"));
        assert_eq!(t.resolve_public("DE", "JP"), "de");
        assert_eq!(t.resolve_public("ko", "KR"), "en");
    }

    #[test]
    fn remediation_code_only_where_given() {
        let t = loaded();
        let mut with = ctx(&["national_id"], &[]);
        with.remediation = Some(Offer {
            provider: "Monitor Co".into(),
            description: "Credit monitoring for 24 months.".into(),
            url: Some("https://monitor.example/enrol".into()),
            code: Some("KQ7-55Z-19".into()),
        });
        let without = ctx(&["national_id"], &[]);
        for (family, lang) in t.available() {
            let a = t.render(family, lang, &with).unwrap();
            let b = t.render(family, lang, &without).unwrap();
            assert!(a.body.contains("KQ7-55Z-19"), "{family}.{lang}");
            assert!(!b.body.contains("KQ7-55Z-19"));
            assert!(!format!("{a:?}").contains("KQ7-55Z-19"));
        }
    }

    #[test]
    fn must_reset_text_only_when_set() {
        let t = loaded();
        let marks = [
            ("en", "already reset your password"),
            ("de", "bereits zurückgesetzt"),
            ("ja", "すでにリセット"),
            ("ko", "이미 초기화"),
        ];
        let mut reset = ctx(&["credential"], &[]);
        reset.must_reset = true;
        let plain = ctx(&["credential"], &[]);
        for (family, lang) in t.available() {
            let (_, mark) = marks.iter().find(|(l, _)| *l == lang).unwrap();
            assert!(
                t.render(family, lang, &reset).unwrap().body.contains(mark),
                "{family}.{lang}"
            );
            assert!(!t.render(family, lang, &plain).unwrap().body.contains(mark));
        }
    }

    #[test]
    fn ca_states_the_law_enforcement_delay() {
        let t = loaded();
        let mut c = ctx(&["email"], &[]);
        let n = t.render("ca", "en", &c).unwrap();
        assert!(
            n.body
                .contains("was not delayed by a law enforcement investigation")
        );
        c.law_enforcement_delay = Some("The police asked us to wait until 2 February.".into());
        let n = t.render("ca", "en", &c).unwrap();
        assert!(n.body.contains("The police asked us") && !n.body.contains("not delayed"));
    }

    #[test]
    fn no_address_unless_the_contact_has_one() {
        let t = loaded();
        let mut c = ctx(ALL, &[]);
        c.remediation_instead = Some("Call us for free advice.".into());
        for (family, lang) in t.available() {
            let n = t.render(family, lang, &c).unwrap();
            assert!(
                !n.body.contains('@') && !n.subject.contains('@'),
                "{family}.{lang}"
            );
        }
        c.contact = "privacy@example.org".into();
        let n = t.render("generic", "en", &c).unwrap();
        assert_eq!(n.body.matches('@').count(), 1);
    }

    #[test]
    fn subject_is_one_line_whatever_the_holder() {
        let t = loaded();
        let mut c = ctx(&["email"], &[]);
        c.holder = "Evil\r\nBcc: victim@example.org".into();
        let n = t.render("generic", "en", &c).unwrap();
        assert!(!n.subject.contains('\n') && !n.subject.contains('\r'));
    }

    #[test]
    fn unknown_time_zone_and_template() {
        let t = loaded();
        let mut c = ctx(&["email"], &[]);
        c.time_zone = "Nowhere/City".into();
        assert_eq!(
            t.render("generic", "en", &c).unwrap_err().code(),
            "time_zone_unknown"
        );
        let c = ctx(&["email"], &[]);
        assert_eq!(t.render("ca", "ja", &c).unwrap_err().code(), "no_template");
    }

    fn public_ctx() -> PublicContext {
        PublicContext {
            holder: "Example Holder Ltd".into(),
            contact: "Privacy office, phone 0120 000 000".into(),
            incident_ref: "INC-42".into(),
            window_from_ms: FEB1,
            window_to_ms: FEB1,
            notice_ms: FEB1 + 20 * DAY,
            time_zone: "Europe/Berlin".into(),
            confirmed: vec!["email".into()],
            potential: vec!["payment_card".into()],
            what_happened: "We found <script>alert(1)</script> on a server.".into(),
            measures: "We closed the server & rotated keys.".into(),
            people_unreachable: 3000,
            ..PublicContext::default()
        }
    }

    #[test]
    fn public_page_escapes_officer_text() {
        let t = loaded();
        for lang in ["en", "de", "ja"] {
            let page = t.render_public(lang, &public_ctx()).unwrap();
            assert!(!page.contains("<script"), "{lang}");
            assert!(page.contains("&lt;script&gt;"), "{lang}");
            assert!(page.contains("&amp; rotated"));
            assert!(page.contains(&format!("<html lang=\"{lang}\">")));
            assert!(page.contains("<meta charset=\"utf-8\">"));
            assert!(page.contains(category_name("email", lang)));
            assert!(page.contains(category_name("payment_card", lang)));
            assert!(!page.contains(category_name("national_id", lang)));
            assert!(page.contains("3000"));
        }
        assert_eq!(
            t.render_public("ko", &public_ctx()).unwrap_err().code(),
            "no_template"
        );
    }

    #[test]
    fn a_public_page_loading_script_is_refused() {
        let text =
            builtin("public.en.html").replace("</body>", "<script src=\"x.js\"></script></body>");
        let e = with_override("public.en.html", text).unwrap_err();
        assert_eq!(e.code(), "template_invalid");
        let text = builtin("public.en.html")
            .replace("{% block contact_point %}", "{% if true %}")
            .replace(
                "{% endif %}\n{% endblock %}\n</body>",
                "{% endif %}\n{% endif %}\n</body>",
            );
        let e = with_override("public.en.html", text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "public.en.html: missing item \"contact_point\" required by public-notice"
        );
    }

    #[test]
    fn wrap_breaks_at_spaces_only() {
        assert_eq!(wrap("aaa bbb ccc".into(), Some(20)), "aaa bbb ccc");
        let long = "word ".repeat(30);
        assert!(wrap(long, Some(20)).lines().all(|l| l.len() <= 20));
        assert_eq!(wrap("日本語の文章".into(), Some(20)), "日本語の文章");
    }
}
