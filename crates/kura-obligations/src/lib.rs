//! What an incident obliges: every report and notice it starts, to whom, by when, and why —
//! from rules kept as data, one versioned TOML file per regime (`rules/`), replaceable by the
//! operator (`[obligations] rules_dir`).
//!
//! # Purity
//! No IO and no clock: the caller gives the rule texts, the holiday calendars, the
//! incident's facts (timestamps, people per country from the exposure matrix, categories,
//! vector) and "now"; [`evaluate`] gives the obligations with deadlines in each regulator's
//! time zone (`jiff`, with the time-zone database bundled) and the reasoning for each —
//! which trigger fired with which count, or why none did, for the register GDPR Art. 33(5)
//! requires of every breach, reported or not.
//!
//! # Honesty about the law
//! Rules whose facts the sources mark "(verify)" carry `verify = true`; the flag is in every
//! obligation computed from them. Nothing here is legal advice; the rule files name their
//! sources.

mod clock;
mod reports;
pub mod rights;
mod rules;

pub use clock::{Holidays, Unit, deadline};
pub use reports::{
    ReportContext, ReportTemplate, builtin_templates, load_template, missing, render,
};
pub use rules::{
    Condition, Facts, Obligation, ObligationRule, Regime, Trigger, builtin_holidays,
    builtin_regimes, evaluate, parse_regime,
};

/// What can go wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObligationError {
    /// A rules file does not parse or breaks a rule of the format.
    #[error("rules file `{file}`: {message}")]
    Rules {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A holiday file does not parse.
    #[error("holiday calendar: {0}")]
    Holidays(String),
    /// A business-day count reaches a year without holiday data.
    #[error("no public-holiday calendar for {0}: add one to count business days")]
    NoCalendar(i16),
    /// Time arithmetic out of range, or an unknown time zone.
    #[error("time: {0}")]
    Time(String),
    /// A report template is refused or does not render.
    #[error("report template `{template}`: {message}")]
    Template {
        /// The template (`<obligation>.<lang>`).
        template: String,
        /// What is wrong.
        message: String,
    },
}
