//! The supervision report of one organization over a period: per principal, what it did
//! (requests, actions, purposes), which field categories it obtained for which purpose, how
//! many distinct subjects it reached (canaries left out), what was refused and why, and the
//! containment incidents it caused. Built from the access log, which is the record of what
//! happened, and the incident table.
//!
//! The log is read in batches of leaves (never all at once), starting from the first entry of
//! the period, found by binary search over entry times (entries are appended in time order;
//! a margin covers the clock skew of several servers).

use std::collections::{BTreeMap, HashSet};

use kura_audit::{AccessEvent, Action, Outcome};
use kura_model::Schema;
use kura_policy::{AccessRecord, RecordOutcome, SupervisionBuilder};
use kura_store::{AuditStore, DirectoryStore, StoreError};

use crate::AdminError;
use serde::Serialize;

/// Entries read per batch.
const BATCH: u64 = 4096;
/// Allowed disorder of entry times (ms) between servers.
const SKEW_MS: u64 = 60_000;

/// What one principal did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PrincipalReport {
    /// Principal id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Kind.
    #[schema(value_type = String)]
    pub kind: kura_model::PrincipalType,
    /// Requests recorded.
    pub requests: u64,
    /// Requests refused by policy or containment, by code.
    pub denied: BTreeMap<String, u64>,
    /// Requests by action.
    pub actions: BTreeMap<String, u64>,
    /// For each purpose, how many times each field category was obtained.
    pub categories_by_purpose: BTreeMap<String, BTreeMap<String, u64>>,
    /// Distinct subjects obtained (canaries excluded).
    pub distinct_subjects: u64,
    /// Containment incidents opened in the period.
    pub containment_events: Vec<ContainmentEvent>,
    /// Suspended now.
    pub suspended: bool,
}

/// One containment incident, as the report lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContainmentEvent {
    /// Incident id.
    pub incident: String,
    /// Unix seconds.
    pub opened_at: i64,
    /// `quota` or `canary`.
    pub trigger: String,
}

/// The report of one organization.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrgReport {
    /// Organization id.
    pub org: String,
    /// Its name.
    pub name: String,
    /// `holder` or `processor`.
    #[schema(value_type = String)]
    pub role: kura_model::OrgRole,
    /// The supervising holder of a processor.
    pub supervisor: Option<String>,
    /// Security officer, `name <contact>`.
    pub security_officer: String,
    /// Period start, unix seconds (inclusive).
    pub from: i64,
    /// Period end, unix seconds (exclusive).
    pub to: i64,
    /// Access-log entries read to build it.
    pub entries_scanned: u64,
    /// Per principal.
    pub principals: Vec<PrincipalReport>,
}

fn time_of(store: &dyn AuditStore, seq: u64) -> Result<Option<u64>, StoreError> {
    Ok(store
        .audit_leaf(seq)?
        .and_then(|l| AccessEvent::from_leaf(&l).ok())
        .map(|e| e.time_ms))
}

/// The first sequence number whose entry is not older than `t_ms` (binary search).
fn first_at(store: &dyn AuditStore, size: u64, t_ms: u64) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (0u64, size);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match time_of(store, mid)? {
            Some(t) if t < t_ms => lo = mid + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// Builds the report of `org` for `[from, to)` (unix seconds).
///
/// # Errors
/// [`AdminError::NotFound`] for an unknown organization, `invalid_period` when `from` is not
/// before `to`, store failures.
pub fn org_report(
    audit: &dyn AuditStore,
    directory: &dyn DirectoryStore,
    schema: &Schema,
    org: &str,
    from: i64,
    to: i64,
) -> Result<OrgReport, AdminError> {
    if from >= to {
        return Err(AdminError::invalid(
            "invalid_period",
            "the period is empty: `from` must be before `to`",
        ));
    }
    let o = directory
        .organization(org)?
        .ok_or_else(|| AdminError::NotFound(format!("no organization `{org}`")))?;
    let records = directory.principals(Some(org))?;
    let canaries: HashSet<u64> = directory.canaries()?.into_iter().collect();
    // The one implementation of the supervision counts: `kura_policy::SupervisionBuilder`.
    let mut builder = SupervisionBuilder::new(from, to, |s| canaries.contains(&s));
    for p in &records {
        builder.principal(org, &p.id);
    }
    let (from_ms, to_ms) = (from.max(0) as u64 * 1000, to.max(0) as u64 * 1000);
    let size = audit.audit_size()?;
    let mut seq = first_at(audit, size, from_ms.saturating_sub(SKEW_MS))?;
    let mut scanned = 0u64;
    'scan: while seq < size {
        let end = (seq + BATCH).min(size);
        for (_, leaf) in audit.audit_leaves(seq, end)? {
            scanned += 1;
            let Ok(ev) = AccessEvent::from_leaf(&leaf) else {
                continue;
            };
            if ev.time_ms >= to_ms.saturating_add(SKEW_MS) {
                break 'scan;
            }
            if ev.time_ms < from_ms || ev.time_ms >= to_ms {
                continue;
            }
            if !records.iter().any(|p| p.id == ev.principal) {
                continue;
            }
            let c = schema.collection(&ev.collection);
            let categories: Vec<&str> = ev
                .fields
                .iter()
                .map(|f| {
                    c.and_then(|c| c.field(f))
                        .map_or("other", |f| f.category.as_str())
                })
                .collect();
            let subjects: Vec<u64> = ev.subjects.iter().collect();
            builder.add(&AccessRecord {
                organization: org,
                principal: &ev.principal,
                action: ev.action.as_str(),
                purpose: &ev.purpose,
                outcome: match &ev.outcome {
                    Outcome::Ok => RecordOutcome::Allowed,
                    Outcome::Denied(code) => RecordOutcome::Denied(code),
                    Outcome::Error(_) => RecordOutcome::Failed,
                },
                obtained: matches!(ev.action, Action::Read | Action::Search | Action::Export),
                subjects: &subjects,
                categories: &categories,
            });
        }
        seq = end;
    }
    let mut activity = builder
        .finish()
        .into_iter()
        .next()
        .map(|r| r.principals)
        .unwrap_or_default();
    let incidents = directory.incidents()?;
    let principals = records
        .into_iter()
        .map(|p| {
            let a = activity.remove(&p.id).unwrap_or_default();
            PrincipalReport {
                containment_events: incidents
                    .iter()
                    .filter(|i| {
                        i.trigger != "declared"
                            && i.principal == p.id
                            && i.opened_at >= from
                            && i.opened_at < to
                    })
                    .map(|i| ContainmentEvent {
                        incident: i.id.clone(),
                        opened_at: i.opened_at,
                        trigger: i.trigger.clone(),
                    })
                    .collect(),
                id: p.id,
                name: p.name,
                kind: p.kind,
                suspended: p.suspended_at.is_some(),
                requests: a.requests,
                denied: a.denied,
                actions: a.actions,
                categories_by_purpose: a.categories_by_purpose,
                distinct_subjects: a.distinct_subjects,
            }
        })
        .collect();
    Ok(OrgReport {
        org: o.id,
        name: o.name,
        role: o.role,
        supervisor: o.supervisor,
        security_officer: format!("{} <{}>", o.officer_name, o.officer_contact),
        from,
        to,
        entries_scanned: scanned,
        principals,
    })
}

/// The report as Markdown, for people.
pub fn markdown(r: &OrgReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "# Supervision report: {} ({})", r.name, r.org);
    let _ = writeln!(s);
    let _ = writeln!(s, "- Role: {}", r.role);
    if let Some(sup) = &r.supervisor {
        let _ = writeln!(s, "- Supervised by: {sup}");
    }
    let _ = writeln!(s, "- Security officer: {}", r.security_officer);
    let _ = writeln!(s, "- Period: {} to {} (unix seconds)", r.from, r.to);
    let _ = writeln!(s, "- Access-log entries read: {}", r.entries_scanned);
    let _ = writeln!(s);
    if r.principals.is_empty() {
        let _ = writeln!(s, "This organization has no principals.");
    }
    for p in &r.principals {
        let _ = writeln!(s, "## {} ({}, {})", p.name, p.kind, p.id);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "- Status: {}",
            if p.suspended {
                "**suspended**"
            } else {
                "active"
            }
        );
        let _ = writeln!(s, "- Requests: {}", p.requests);
        let _ = writeln!(s, "- Distinct subjects obtained: {}", p.distinct_subjects);
        let join = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_owned()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(s, "- Actions: {}", join(&p.actions));
        let _ = writeln!(s, "- Denied attempts: {}", join(&p.denied));
        if !p.categories_by_purpose.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(s, "| purpose | field categories obtained (times) |");
            let _ = writeln!(s, "|---|---|");
            for (purpose, cats) in &p.categories_by_purpose {
                let _ = writeln!(s, "| {purpose} | {} |", join(cats));
            }
        }
        let _ = writeln!(s);
        if p.containment_events.is_empty() {
            let _ = writeln!(s, "Containment events: none.");
        } else {
            let _ = writeln!(s, "Containment events:");
            for e in &p.containment_events {
                let _ = writeln!(
                    s,
                    "- incident {} at {} ({})",
                    e.incident, e.opened_at, e.trigger
                );
            }
        }
        let _ = writeln!(s);
    }
    s
}
