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
            format!("{} (another organization's awareness; the holder's is not recorded)", name(s))
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
    let versions = directory.incident_scopes(id)?;
    let Some(latest) = versions.last() else {
        return Err(AdminError::invalid(
            "scope_required",
            format!("incident `{id}` has no exposure matrix yet: run `kura incident scope {id}`"),
        ));
    };
    let matrix: serde_json::Value = serde_json::from_str(&latest.matrix).map_err(|e| {
        AdminError::Store(kura_store::StoreError::Corrupt(format!(
            "matrix v{} of incident {id}: {e}",
            latest.version
        )))
    })?;
    let (facts, aware_from) = facts_of(&i, &matrix, holder, now_ms);
    let obligations =
        kura_obligations::evaluate(regimes, &facts, &kura_obligations::builtin_holidays)
            .map_err(bad_rules)?;
    Ok(IncidentObligations {
        incident: id.to_owned(),
        scope_version: latest.version,
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
