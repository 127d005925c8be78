//! Breach notices to the people a breach affected: one checked template per legal
//! *family* and language, a locale fallback, a plain-text mail (subject and body) per
//! person, and a static HTML page for the substitute public notice.
//!
//! # Families
//! A family is a kind of notice whose content a law fixes: `gdpr-art34` (EU GDPR Art. 34
//! and UK GDPR), `appi` (Japan APPI, notice to principals), `ca` (California Civ. Code
//! 1798.82, "Notice of Data Breach"), `pipa` (Korea PIPA Art. 34) and `generic` (every
//! other case: US-NY, Brazil, countries without a notice duty). The caller maps each legal
//! obligation to a family and hands over its checklist as a [`Requirement`]; this crate
//! does not know the rules files.
//!
//! # Invariants
//! - **A notice cannot silently drop what the law requires.** [`NoticeTemplates::load`]
//!   compiles every template and renders it for two sample people; every checklist item
//!   of every requirement of its family must be a block inside the body that renders
//!   non-empty, and every required text (a title, a heading) must appear. A template that
//!   fails is refused with the file, the item and the obligation named.
//! - **A notice speaks of the person's own data.** A template must use the person's
//!   categories (`person.confirmed`, `person.potential`), and must show the sample
//!   person's categories when rendered.
//! - **No exposed value is in a notice by construction.** [`NoticeContext`] carries
//!   category ids, never a name, address, e-mail or card number; the only per-person
//!   secret it may carry is a remediation enrolment code, and the body holding it is
//!   zeroized on drop ([`RenderedNotice`]).
//! - **The public page cannot run script.** Public templates are `.html` and always
//!   auto-escaped; officer texts cannot inject markup.
//!
//! # Purity
//! No IO and no clock: templates are given as texts (the builtins are embedded with
//! `include_str!`), dates as milliseconds, time zones are looked up in the bundled
//! copy of the IANA database.
//!
//! # Example
//! ```
//! use kura_notices::{GENERIC_ITEMS, NoticeContext, NoticeTemplates, Requirement, builtin_templates};
//!
//! let files: Vec<(String, String)> = builtin_templates()
//!     .iter()
//!     .map(|(n, t)| (n.to_string(), t.to_string()))
//!     .collect();
//! let generic = Requirement {
//!     family: "generic".into(),
//!     source: "us-ny-residents".into(),
//!     items: GENERIC_ITEMS.iter().map(|s| s.to_string()).collect(),
//!     required_text: vec![],
//! };
//! let t = NoticeTemplates::load(&[generic], &files).unwrap();
//! let (family, lang) = t.resolve("generic", "de-AT", "AT").unwrap();
//! assert_eq!((family.as_str(), lang.as_str()), ("generic", "de"));
//! let ctx = NoticeContext {
//!     holder: "Example GmbH".into(),
//!     contact: "Datenschutzbeauftragte, Telefon 0800 000 000".into(),
//!     time_zone: "Europe/Vienna".into(),
//!     confirmed: vec!["email".into()],
//!     ..NoticeContext::default()
//! };
//! let notice = t.render(&family, &lang, &ctx).unwrap();
//! assert!(notice.body.contains("E-Mail-Adresse"));
//! ```

mod context;
mod locale;
mod templates;

pub use context::{NoticeContext, Offer, PublicContext, category_name};
pub use locale::{country_language, lang_chain, primary_language};
pub use templates::{
    GENERIC_ITEMS, NoticeTemplates, PUBLIC_ITEMS, RenderedNotice, Requirement, builtin_templates,
};

/// What can go wrong. Messages name files, items, obligations and ids, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoticeError {
    /// A template file is refused: a bad name, a syntax error, a missing `subject` or
    /// `body` block, no use of the person's categories, a rendering error at load.
    #[error("{file}: {message}")]
    TemplateInvalid {
        /// The file name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A checklist item of a requirement is missing from a template, renders empty, or
    /// lies outside the body.
    #[error("{file}: {problem} \"{item}\" required by {obligation}")]
    TemplateMissingItem {
        /// The file name.
        file: String,
        /// The checklist item.
        item: String,
        /// The obligation that requires it (the requirement's source).
        obligation: String,
        /// `missing item`, `empty item` or `outside the body: item`.
        problem: &'static str,
    },
    /// A text a requirement mandates (a title, a heading) is not in the rendered notice.
    #[error("{file}: missing text \"{text}\" required by {obligation}")]
    TemplateMissingText {
        /// The file name.
        file: String,
        /// The mandated text.
        text: String,
        /// The obligation that requires it.
        obligation: String,
    },
    /// No template for a family and language (or a family with requirements but no
    /// `en` template, at load).
    #[error("no template for family {family} in language {lang}")]
    NoTemplate {
        /// The family (`public` for the public page).
        family: String,
        /// The language.
        lang: String,
    },
    /// The time zone is not in the IANA database.
    #[error("unknown time zone {0}")]
    TimeZone(String),
    /// A timestamp is out of range.
    #[error("timestamp out of range: {0}")]
    Time(String),
    /// Rendering a loaded template failed.
    #[error("{template}: rendering failed: {message}")]
    RenderFailed {
        /// The template file name.
        template: String,
        /// The template engine's message.
        message: String,
    },
}

impl NoticeError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            NoticeError::TemplateInvalid { .. } => "template_invalid",
            NoticeError::TemplateMissingItem { .. } => "template_missing_item",
            NoticeError::TemplateMissingText { .. } => "template_missing_text",
            NoticeError::NoTemplate { .. } => "no_template",
            NoticeError::TimeZone(_) => "time_zone_unknown",
            NoticeError::Time(_) => "time_out_of_range",
            NoticeError::RenderFailed { .. } => "render_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let e = NoticeError::TemplateMissingItem {
            file: "ca.en.txt".into(),
            item: "what_you_can_do".into(),
            obligation: "us-ca-residents".into(),
            problem: "missing item",
        };
        assert_eq!(e.code(), "template_missing_item");
        assert_eq!(
            e.to_string(),
            "ca.en.txt: missing item \"what_you_can_do\" required by us-ca-residents"
        );
        assert_eq!(
            NoticeError::TimeZone("X".into()).code(),
            "time_zone_unknown"
        );
    }
}
