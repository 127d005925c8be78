//! Supervision reports: per organization, what each of its principals did over a period, so
//! that a data holder can supervise its processors (issue 5; the regulator's third finding
//! in the design notes: the parent had no way to supervise its subcontractor).
//!
//! The report is built by streaming access records through a [`SupervisionBuilder`] (the
//! server or CLI reads them from the audit log, in any order); it holds one compressed
//! bitmap of distinct subjects per principal, not the records. Canary subjects are left
//! out of every count (they are indistinguishable to callers and must stay so to operators
//! reading reports); the caller says which ids are canaries.
//!
//! What it leaves out: reading the log, the period's bounds (given by the caller, recorded
//! in the report), rendering (tables, `--json`).

use std::collections::BTreeMap;

use roaring::RoaringTreemap;
use serde::Serialize;

/// How one access ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome<'a> {
    /// Served.
    Allowed,
    /// Refused by policy or containment, with the refusal code.
    Denied(&'a str),
    /// Failed for another reason (bad input, unknown subject).
    Failed,
}

/// One access, as the report needs it (the caller reads it from the access log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRecord<'a> {
    /// The organization the principal belongs to.
    pub organization: &'a str,
    /// The principal.
    pub principal: &'a str,
    /// What was done (the access event's action name: `read`, `search`, `card_read`, ...).
    pub action: &'a str,
    /// The stated purpose.
    pub purpose: &'a str,
    /// How it ended.
    pub outcome: RecordOutcome<'a>,
    /// Whether the access returned subjects' data (a read, a search, an export): only then
    /// are `subjects` and `categories` counted as obtained.
    pub obtained: bool,
    /// Internal ids of the subjects it reached.
    pub subjects: &'a [u64],
    /// The field categories it reached (one entry per field).
    pub categories: &'a [&'a str],
}

/// What one principal did over the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrincipalActivity {
    /// Accesses recorded.
    pub requests: u64,
    /// Accesses served.
    pub allowed: u64,
    /// Refusals by code.
    pub denied: BTreeMap<String, u64>,
    /// Accesses by action.
    pub actions: BTreeMap<String, u64>,
    /// Accesses by stated purpose.
    pub purposes: BTreeMap<String, u64>,
    /// For each purpose, how many times each field category was obtained.
    pub categories_by_purpose: BTreeMap<String, BTreeMap<String, u64>>,
    /// Distinct subjects obtained (canaries left out).
    pub distinct_subjects: u64,
    /// Whether it was refused as suspended during the period.
    pub suspended: bool,
}

/// The report of one organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrganizationReport {
    /// The organization.
    pub organization: String,
    /// Period start (unix seconds, inclusive), as given.
    pub from: i64,
    /// Period end (unix seconds, exclusive), as given.
    pub to: i64,
    /// Accesses by its principals.
    pub requests: u64,
    /// Of which refused.
    pub denied: u64,
    /// Distinct subjects its principals obtained together (canaries left out).
    pub distinct_subjects: u64,
    /// Per principal.
    pub principals: BTreeMap<String, PrincipalActivity>,
}

#[derive(Default)]
struct Acc {
    activity: PrincipalActivity,
    subjects: RoaringTreemap,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// Streams access records into one report per organization. Holds one compressed bitmap
/// of distinct subjects per principal, never the records.
pub struct SupervisionBuilder<F> {
    from: i64,
    to: i64,
    is_canary: F,
    orgs: BTreeMap<String, BTreeMap<String, Acc>>,
}

impl<F: Fn(u64) -> bool> SupervisionBuilder<F> {
    /// A builder for the period `[from, to)` (unix seconds, recorded in the reports);
    /// `is_canary` says which subject ids to leave out.
    pub fn new(from: i64, to: i64, is_canary: F) -> Self {
        SupervisionBuilder {
            from,
            to,
            is_canary,
            orgs: BTreeMap::new(),
        }
    }

    /// Registers a principal with no activity yet, so that it appears in its organization's
    /// report even if the period holds none of its accesses.
    pub fn principal(&mut self, organization: &str, principal: &str) {
        self.orgs
            .entry(organization.to_owned())
            .or_default()
            .entry(principal.to_owned())
            .or_default();
    }

    /// Adds one access.
    pub fn add(&mut self, r: &AccessRecord<'_>) {
        let org = self.orgs.entry(r.organization.to_owned()).or_default();
        let acc = org.entry(r.principal.to_owned()).or_default();
        let a = &mut acc.activity;
        a.requests += 1;
        bump(&mut a.actions, r.action);
        bump(&mut a.purposes, r.purpose);
        match r.outcome {
            RecordOutcome::Allowed => {
                a.allowed += 1;
                if r.obtained {
                    for &s in r.subjects {
                        if !(self.is_canary)(s) {
                            acc.subjects.insert(s);
                        }
                    }
                    if !r.categories.is_empty() {
                        let per = match a.categories_by_purpose.get_mut(r.purpose) {
                            Some(per) => per,
                            None => a
                                .categories_by_purpose
                                .entry(r.purpose.to_owned())
                                .or_default(),
                        };
                        for c in r.categories {
                            bump(per, c);
                        }
                    }
                }
            }
            RecordOutcome::Denied(code) => {
                bump(&mut a.denied, code);
                a.suspended |= code == crate::DenyCode::PrincipalSuspended.as_str();
            }
            RecordOutcome::Failed => {}
        }
    }

    /// The reports, one per organization (in id order).
    pub fn finish(self) -> Vec<OrganizationReport> {
        self.orgs
            .into_iter()
            .map(|(organization, principals)| {
                let mut all = RoaringTreemap::new();
                let mut report = OrganizationReport {
                    organization,
                    from: self.from,
                    to: self.to,
                    ..OrganizationReport::default()
                };
                for (id, mut acc) in principals {
                    acc.activity.distinct_subjects = acc.subjects.len();
                    all |= &acc.subjects;
                    report.requests += acc.activity.requests;
                    report.denied += acc.activity.denied.values().sum::<u64>();
                    report.principals.insert(id, acc.activity);
                }
                report.distinct_subjects = all.len();
                report
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DenyCode;

    fn rec<'a>(
        org: &'a str,
        p: &'a str,
        outcome: RecordOutcome<'a>,
        subjects: &'a [u64],
    ) -> AccessRecord<'a> {
        AccessRecord {
            organization: org,
            principal: p,
            action: "read",
            purpose: "support",
            outcome,
            obtained: true,
            subjects,
            categories: &["name", "email"],
        }
    }

    #[test]
    fn per_organization_and_principal_with_canaries_left_out() {
        let suspended = DenyCode::PrincipalSuspended.as_str();
        let mut b = SupervisionBuilder::new(0, 86_400, |s| s == 999);
        b.principal("processor-co", "svc-idle");
        b.add(&rec(
            "processor-co",
            "svc-a",
            RecordOutcome::Allowed,
            &[1, 2],
        ));
        b.add(&rec(
            "processor-co",
            "svc-a",
            RecordOutcome::Allowed,
            &[2, 3, 999],
        ));
        b.add(&rec(
            "processor-co",
            "svc-b",
            RecordOutcome::Allowed,
            &[3, 4],
        ));
        b.add(&rec(
            "processor-co",
            "svc-b",
            RecordOutcome::Denied(suspended),
            &[],
        ));
        b.add(&rec("processor-co", "svc-b", RecordOutcome::Failed, &[]));
        b.add(&AccessRecord {
            action: "search",
            purpose: "fraud",
            ..rec(
                "holder",
                "svc-h",
                RecordOutcome::Denied("purpose_denied"),
                &[],
            )
        });
        // A change reaches a subject without obtaining it.
        b.add(&AccessRecord {
            action: "patch",
            obtained: false,
            ..rec("holder", "svc-h", RecordOutcome::Allowed, &[77])
        });
        let r = b.finish();
        assert_eq!(r.len(), 2);
        let (holder, proc_) = (&r[0], &r[1]);
        assert_eq!(holder.organization, "holder");
        assert_eq!(holder.denied, 1);
        assert_eq!(holder.distinct_subjects, 0, "a patch obtains nobody");
        let h = &holder.principals["svc-h"];
        assert_eq!(h.denied.get("purpose_denied"), Some(&1));
        assert_eq!(h.actions.get("search"), Some(&1));
        assert_eq!(proc_.requests, 5);
        assert_eq!(
            proc_.distinct_subjects, 4,
            "1, 2, 3, 4; the canary is not counted"
        );
        let a = &proc_.principals["svc-a"];
        assert_eq!((a.requests, a.allowed, a.distinct_subjects), (2, 2, 3));
        assert_eq!(a.categories_by_purpose["support"]["email"], 2);
        assert!(!a.suspended);
        let bb = &proc_.principals["svc-b"];
        assert!(bb.suspended);
        assert_eq!((bb.requests, bb.allowed), (3, 1));
        assert_eq!(bb.purposes.get("support"), Some(&3));
        assert_eq!(proc_.principals["svc-idle"].requests, 0);
        let json = serde_json::to_value(&r).unwrap();
        assert!(!json.to_string().contains("999"));
    }
}
