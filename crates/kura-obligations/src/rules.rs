//! The rules format, the facts of an incident and the evaluation.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::ObligationError;
use crate::clock::{Holidays, Unit, deadline};

/// One regime: a law (or a regulator's reading of it) with its obligations.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Regime {
    /// Short id (`jp-appi`).
    pub id: String,
    /// Name with the articles.
    pub name: String,
    /// Version of the file (a date).
    pub version: String,
    /// Countries of residence it covers (ISO 3166-1 alpha-2).
    pub countries: Vec<String>,
    /// The regulator's time zone (IANA name).
    pub time_zone: String,
    /// The country whose public holidays count for business days.
    #[serde(default)]
    pub holidays: Option<String>,
    /// Where the facts come from.
    pub sources: Vec<String>,
    /// The obligations.
    #[serde(rename = "obligation")]
    pub obligations: Vec<ObligationRule>,
}

/// One report or notice a regime may require.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObligationRule {
    /// Id (`jp-appi-final`).
    pub id: String,
    /// What it is.
    pub title: String,
    /// Who receives it.
    pub recipient: String,
    /// `regulator`, `individuals`, `register` or `note`.
    pub kind: String,
    /// The timestamp the clock starts at (`aware`, `materiality_determined`, `notice_sent`,
    /// ...). None: no clock (a note, or the register).
    #[serde(default)]
    pub start: Option<String>,
    /// How the deadline is counted; none: "without undue delay".
    #[serde(default)]
    pub unit: Option<Unit>,
    /// How many units.
    #[serde(default)]
    pub amount: Option<u32>,
    /// The amount instead when the leak had (possibly) an unlawful purpose.
    #[serde(default)]
    pub amount_if_unlawful: Option<u32>,
    /// A target from guidance, not a legal deadline.
    #[serde(default)]
    pub soft: bool,
    /// The sources mark a fact of this rule "(verify)".
    #[serde(default)]
    pub verify: bool,
    /// One obligation per affected country of the regime (`always`), or only when the
    /// holder is not established in the regime's territory (`unless_established`).
    #[serde(default)]
    pub per_country: Option<String>,
    /// What must be said.
    #[serde(default)]
    pub note: Option<String>,
    /// Items the report or notice must contain.
    #[serde(default)]
    pub checklist: Vec<String>,
    /// Text its template must contain as written (a mandated title and headings).
    #[serde(default)]
    pub required_text: Vec<String>,
    /// For an `individuals` obligation: the notice template family that satisfies it
    /// (`gdpr-art34`, `appi`, `ca`, `pipa`; none: `generic`). The family's templates are
    /// checked against this rule's checklist when kura-notices loads them.
    #[serde(default)]
    pub notice: Option<String>,
    /// When it is owed.
    pub trigger: Trigger,
}

/// When an obligation is owed.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Owed when any of these holds (with `all`, both must).
    #[serde(default)]
    pub any: Vec<Condition>,
    /// Owed only when all of these hold.
    #[serde(default)]
    pub all: Vec<Condition>,
    /// `encryption`: not owed when only sealed values were exposed (no key with them).
    #[serde(default)]
    pub safe_harbour: Option<String>,
    /// Count `affected` people (confirmed or potential, default) or `confirmed` only.
    #[serde(default)]
    pub count: Option<String>,
}

/// One condition; exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// More than this many people in the regime's countries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_over: Option<u64>,
    /// At least this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_at_least: Option<u64>,
    /// Any of these categories exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Unauthorized access (a stolen key, an intruder, an insider beyond their role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unauthorized_access: Option<bool>,
    /// The leak had (possibly) an unlawful purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlawful_purpose: Option<bool>,
    /// Sensitive (special-category) data exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    /// The holder is a public company (SEC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_company: Option<bool>,
    /// Always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always: Option<bool>,
}

/// What is known of an incident, as the obligations need it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// Now, unix ms.
    pub now_ms: u64,
    /// Timestamps, unix ms: `aware`, `detected`, `materiality_determined`, `notice_sent`,
    /// and `submitted:<obligation id>` for what was submitted.
    pub stamps: BTreeMap<String, u64>,
    /// People affected (confirmed or potential) per country of residence.
    pub affected_by_country: BTreeMap<String, u64>,
    /// People confirmed per country of residence.
    pub confirmed_by_country: BTreeMap<String, u64>,
    /// Categories exposed (confirmed or potential).
    pub categories: BTreeSet<String>,
    /// Only sealed values left (a dump without the keys): the encryption safe harbour.
    pub sealed_only: bool,
    /// Unauthorized access.
    pub unauthorized_access: bool,
    /// A (possibly) unlawful purpose.
    pub unlawful_purpose: bool,
    /// Sensitive data exposed.
    pub sensitive: bool,
    /// Countries where the holder is established.
    pub established_in: BTreeSet<String>,
    /// The holder is a public company.
    pub public_company: bool,
}

/// One obligation of an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Obligation {
    /// Rule id (with `/<country>` for a per-country obligation).
    pub id: String,
    /// Regime id.
    pub regime: String,
    /// Regime file version.
    pub regime_version: String,
    /// What it is.
    pub title: String,
    /// Who receives it.
    pub recipient: String,
    /// `regulator`, `individuals`, `register`, `note`.
    pub kind: String,
    /// For a per-country obligation, the country.
    pub country: Option<String>,
    /// Whether it is owed.
    pub required: bool,
    /// Why (or why not), in order.
    pub reasoning: Vec<String>,
    /// Deadline, unix ms; none without a clock or before its start is known.
    pub deadline_ms: Option<u64>,
    /// The deadline in the regulator's zone (RFC 3339 with offset and zone).
    pub deadline_local: Option<String>,
    /// Time left at `now`, ms (negative: overdue).
    pub time_left_ms: Option<i64>,
    /// A target from guidance, not a legal deadline.
    pub soft: bool,
    /// `not_required`, `waiting` (its clock has not started), `due`, `overdue`,
    /// `submitted` (and, from the admin layer, `drafted`: items written, not submitted).
    pub state: String,
    /// The regulator's time zone.
    pub time_zone: String,
    /// A fact of the rule is marked "(verify)" in the sources.
    pub verify: bool,
    /// What must be said.
    pub note: Option<String>,
    /// Items the report or notice must contain.
    pub checklist: Vec<String>,
}

/// Parses one regime file.
///
/// # Errors
/// [`ObligationError::Rules`] naming the file and the problem.
pub fn parse_regime(file: &str, text: &str) -> Result<Regime, ObligationError> {
    let bad = |message: String| ObligationError::Rules {
        file: file.to_owned(),
        message,
    };
    let r: Regime = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    TimeZone::get(&r.time_zone).map_err(|e| bad(format!("time zone `{}`: {e}", r.time_zone)))?;
    let mut ids = BTreeSet::new();
    for o in &r.obligations {
        if !ids.insert(o.id.as_str()) {
            return Err(bad(format!("obligation `{}` appears twice", o.id)));
        }
        if !["regulator", "individuals", "register", "note"].contains(&o.kind.as_str()) {
            return Err(bad(format!(
                "obligation `{}`: unknown kind `{}`",
                o.id, o.kind
            )));
        }
        if o.notice.is_some() && o.kind != "individuals" {
            return Err(bad(format!(
                "obligation `{}`: only an `individuals` obligation names a notice template",
                o.id
            )));
        }
        if o.unit.is_some() != o.amount.is_some() || (o.unit.is_some() && o.start.is_none()) {
            return Err(bad(format!(
                "obligation `{}`: a clock needs `start`, `unit` and `amount` together",
                o.id
            )));
        }
        if o.unit == Some(Unit::BusinessDays) && r.holidays.is_none() {
            return Err(bad(format!(
                "obligation `{}` counts business days but the regime names no holiday calendar",
                o.id
            )));
        }
        if let Some(p) = &o.per_country
            && p != "always"
            && p != "unless_established"
        {
            return Err(bad(format!("obligation `{}`: per_country `{p}`", o.id)));
        }
        for c in o.trigger.any.iter().chain(&o.trigger.all) {
            let set = [
                c.people_over.is_some(),
                c.people_at_least.is_some(),
                c.categories.is_some(),
                c.unauthorized_access.is_some(),
                c.unlawful_purpose.is_some(),
                c.sensitive.is_some(),
                c.public_company.is_some(),
                c.always.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if set != 1 {
                return Err(bad(format!(
                    "obligation `{}`: each condition sets exactly one test",
                    o.id
                )));
            }
        }
        if o.trigger.any.is_empty() && o.trigger.all.is_empty() {
            return Err(bad(format!("obligation `{}` has no trigger", o.id)));
        }
    }
    Ok(r)
}

const BUILTIN: &[(&str, &str)] = &[
    ("jp-appi.toml", include_str!("../rules/jp-appi.toml")),
    ("eu-gdpr.toml", include_str!("../rules/eu-gdpr.toml")),
    ("de-bdsg.toml", include_str!("../rules/de-bdsg.toml")),
    ("uk-gdpr.toml", include_str!("../rules/uk-gdpr.toml")),
    ("us-ca.toml", include_str!("../rules/us-ca.toml")),
    ("us-ny.toml", include_str!("../rules/us-ny.toml")),
    ("kr-pipa.toml", include_str!("../rules/kr-pipa.toml")),
    ("br-lgpd.toml", include_str!("../rules/br-lgpd.toml")),
    ("us-sec.toml", include_str!("../rules/us-sec.toml")),
];

/// The rules shipped with kura, as (file name, text).
pub fn builtin_regimes() -> &'static [(&'static str, &'static str)] {
    BUILTIN
}

const HOLIDAYS: &[(&str, i16, &str)] = &[
    ("BR", 2026, include_str!("../data/holidays/BR-2026.txt")),
    ("BR", 2027, include_str!("../data/holidays/BR-2027.txt")),
    ("DE", 2026, include_str!("../data/holidays/DE-2026.txt")),
    ("DE", 2027, include_str!("../data/holidays/DE-2027.txt")),
    ("GB", 2026, include_str!("../data/holidays/GB-2026.txt")),
    ("GB", 2027, include_str!("../data/holidays/GB-2027.txt")),
    ("JP", 2026, include_str!("../data/holidays/JP-2026.txt")),
    ("JP", 2027, include_str!("../data/holidays/JP-2027.txt")),
    ("KR", 2026, include_str!("../data/holidays/KR-2026.txt")),
    ("KR", 2027, include_str!("../data/holidays/KR-2027.txt")),
    ("US", 2026, include_str!("../data/holidays/US-2026.txt")),
    ("US", 2027, include_str!("../data/holidays/US-2027.txt")),
];

/// The public holidays shipped with kura for `country` (2026 and 2027).
///
/// # Errors
/// [`ObligationError::Holidays`] if a shipped file does not parse (a build defect).
pub fn builtin_holidays(country: &str) -> Result<Holidays, ObligationError> {
    Holidays::parse(
        HOLIDAYS
            .iter()
            .filter(|(c, _, _)| *c == country)
            .map(|(_, y, t)| (*y, *t)),
    )
}

fn holds(c: &Condition, f: &Facts, people: u64, reasons: &mut Vec<String>) -> bool {
    let (ok, why) = if let Some(n) = c.people_over {
        (
            people > n,
            format!("{people} people affected (more than {n}: {})", people > n),
        )
    } else if let Some(n) = c.people_at_least {
        (
            people >= n,
            format!("{people} people affected ({n} or more: {})", people >= n),
        )
    } else if let Some(cats) = &c.categories {
        let hit: Vec<&String> = cats.iter().filter(|x| f.categories.contains(*x)).collect();
        (
            !hit.is_empty(),
            if hit.is_empty() {
                format!("none of {} exposed", cats.join(", "))
            } else {
                format!(
                    "exposed: {}",
                    hit.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        )
    } else if let Some(want) = c.unauthorized_access {
        (
            f.unauthorized_access == want,
            format!("unauthorized access: {}", f.unauthorized_access),
        )
    } else if let Some(want) = c.unlawful_purpose {
        (
            f.unlawful_purpose == want,
            format!("unlawful purpose: {}", f.unlawful_purpose),
        )
    } else if let Some(want) = c.sensitive {
        (
            f.sensitive == want,
            format!("sensitive data: {}", f.sensitive),
        )
    } else if let Some(want) = c.public_company {
        (
            f.public_company == want,
            format!("public company: {}", f.public_company),
        )
    } else {
        (c.always == Some(true), "always owed".to_owned())
    };
    reasons.push(why);
    ok
}

fn local(ts: Timestamp, tz: &TimeZone) -> String {
    let z = ts.to_zoned(tz.clone());
    format!(
        "{} [{}]",
        z.strftime("%Y-%m-%dT%H:%M:%S%:z"),
        tz.iana_name().unwrap_or("?")
    )
}

/// Every obligation of the given regimes for an incident with `facts`.
///
/// # Errors
/// [`ObligationError::Time`] for an unknown time zone or arithmetic out of range;
/// [`ObligationError::NoCalendar`] when a business-day deadline leaves the holiday data.
pub fn evaluate(
    regimes: &[Regime],
    facts: &Facts,
    holidays: &dyn Fn(&str) -> Result<Holidays, ObligationError>,
) -> Result<Vec<Obligation>, ObligationError> {
    let mut out = Vec::new();
    for r in regimes {
        let tz = TimeZone::get(&r.time_zone).map_err(|e| ObligationError::Time(e.to_string()))?;
        let cal = match &r.holidays {
            Some(c) => holidays(c)?,
            None => Holidays::default(),
        };
        for o in &r.obligations {
            let confirmed = o.trigger.count.as_deref() == Some("confirmed");
            let counts = if confirmed {
                &facts.confirmed_by_country
            } else {
                &facts.affected_by_country
            };
            // A state (`US-CA`) is counted from its country when only the country is known:
            // kura keeps the country of residence in clear, not the state. An upper bound.
            let mut upper_bound = Vec::new();
            let in_regime: Vec<(&String, u64)> = r
                .countries
                .iter()
                .filter_map(|c| match counts.get(c) {
                    Some(n) => Some((c, *n)),
                    None => {
                        let (country, _) = c.split_once('-')?;
                        let n = *counts.get(country)?;
                        upper_bound.push(format!(
                            "residents of {c} are not told apart from other {country} residents: all {n} counted (an upper bound; confirm with the addresses)"
                        ));
                        Some((c, n))
                    }
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            let established = r.countries.iter().any(|c| facts.established_in.contains(c));
            let split = match o.per_country.as_deref() {
                Some("always") => true,
                Some("unless_established") => !established,
                _ => false,
            };
            let groups: Vec<(Option<&String>, u64)> = if split {
                in_regime.iter().map(|(c, n)| (Some(*c), *n)).collect()
            } else {
                vec![(None, in_regime.iter().map(|(_, n)| n).sum())]
            };
            for (country, people) in groups {
                let mut ob = one(r, o, facts, &tz, &cal, country, people, established, split)?;
                ob.reasoning.splice(0..0, upper_bound.iter().cloned());
                out.push(ob);
            }
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn one(
    r: &Regime,
    o: &ObligationRule,
    facts: &Facts,
    tz: &TimeZone,
    cal: &Holidays,
    country: Option<&String>,
    people: u64,
    established: bool,
    split: bool,
) -> Result<Obligation, ObligationError> {
    let mut reasoning = Vec::new();
    if split {
        reasoning.push(format!(
            "the holder is not established in {}: one report per country where affected people live",
            r.countries.join("/")
        ));
    } else if o.per_country.as_deref() == Some("unless_established") && established {
        reasoning
            .push("the holder is established here: one report to the lead authority".to_owned());
    }
    // The register and the SEC do not depend on where people live; the rest need residents.
    let resident_free = o
        .trigger
        .any
        .iter()
        .chain(&o.trigger.all)
        .all(|c| c.always.is_some() || c.public_company.is_some());
    let mut required = true;
    if people == 0 && !resident_free {
        reasoning.push(format!(
            "no affected person lives in {}",
            r.countries.join(", ")
        ));
        required = false;
    }
    if required {
        let mut any = o.trigger.any.is_empty();
        for c in &o.trigger.any {
            any |= holds(c, facts, people, &mut reasoning);
        }
        let mut all = true;
        for c in &o.trigger.all {
            all &= holds(c, facts, people, &mut reasoning);
        }
        required = any && all;
        if required && o.trigger.safe_harbour.as_deref() == Some("encryption") && facts.sealed_only
        {
            reasoning.push(
                "only sealed values were exposed, without their keys: encryption safe harbour"
                    .to_owned(),
            );
            required = false;
        }
    }
    if o.verify {
        reasoning.push(
            "a fact of this rule is marked (verify) in the sources: check the statute".to_owned(),
        );
    }
    let mut ob = Obligation {
        id: match country {
            Some(c) => format!("{}/{c}", o.id),
            None => o.id.clone(),
        },
        regime: r.id.clone(),
        regime_version: r.version.clone(),
        title: o.title.clone(),
        recipient: o.recipient.clone(),
        kind: o.kind.clone(),
        country: country.cloned(),
        required,
        reasoning,
        deadline_ms: None,
        deadline_local: None,
        time_left_ms: None,
        soft: o.soft,
        state: "not_required".to_owned(),
        time_zone: r.time_zone.clone(),
        verify: o.verify,
        note: o.note.clone(),
        checklist: o.checklist.clone(),
    };
    if !required {
        return Ok(ob);
    }
    if let Some(at) = facts.stamps.get(&format!("submitted:{}", ob.id)) {
        ob.state = "submitted".to_owned();
        ob.reasoning.push(format!(
            "submitted {}",
            local(
                Timestamp::from_millisecond(*at as i64)
                    .map_err(|e| ObligationError::Time(e.to_string()))?,
                tz
            )
        ));
        return Ok(ob);
    }
    let (Some(unit), Some(amount), Some(start)) = (o.unit, o.amount, &o.start) else {
        ob.state = "due".to_owned();
        ob.reasoning
            .push("no fixed clock: without undue delay".to_owned());
        return Ok(ob);
    };
    let Some(start_ms) = facts.stamps.get(start) else {
        ob.state = "waiting".to_owned();
        ob.reasoning
            .push(format!("its clock starts at `{start}`, not yet set"));
        return Ok(ob);
    };
    let amount = match o.amount_if_unlawful {
        Some(n) if facts.unlawful_purpose => {
            ob.reasoning
                .push(format!("unlawful purpose: {n} instead of {amount}"));
            n
        }
        _ => amount,
    };
    let start_ts = Timestamp::from_millisecond(*start_ms as i64)
        .map_err(|e| ObligationError::Time(e.to_string()))?;
    let due = deadline(start_ts, unit, amount, tz, cal)?;
    let due_ms = due.as_millisecond().max(0) as u64;
    ob.deadline_ms = Some(due_ms);
    ob.deadline_local = Some(local(due, tz));
    ob.time_left_ms = Some(due_ms as i64 - facts.now_ms as i64);
    ob.reasoning.push(format!(
        "{amount} {} from `{start}` ({})",
        match unit {
            Unit::Hours => "clock hours",
            Unit::CalendarDays => "calendar days",
            Unit::BusinessDays => "business days",
            Unit::CalendarMonths => "calendar months",
        },
        local(start_ts, tz)
    ));
    ob.state = if facts.now_ms > due_ms {
        "overdue"
    } else {
        "due"
    }
    .to_owned();
    Ok(ob)
}
