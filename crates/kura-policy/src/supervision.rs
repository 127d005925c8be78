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

use crate::{Action, DenyCode};

/// One access, as the report needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRecord<'a> {
    /// The organization the principal belongs to.
    pub organization: &'a str,
    /// The principal.
    pub principal: &'a str,
    /// What was done.
    pub action: Action,
    /// The stated purpose.
    pub purpose: &'a str,
    /// `None` when allowed, else the refusal code.
    pub denied: Option<DenyCode>,
    /// Internal ids of the subjects the request returned (empty when refused).
    pub subjects: &'a [u64],
}

/// What one principal did over the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrincipalActivity {
    /// Requests made.
    pub requests: u64,
    /// Requests allowed.
    pub allowed: u64,
    /// Refused requests by code.
    pub denied: BTreeMap<&'static str, u64>,
    /// Requests by action.
    pub actions: BTreeMap<&'static str, u64>,
    /// Requests by stated purpose.
    pub purposes: BTreeMap<String, u64>,
    /// Distinct subjects obtained (canaries excluded).
    pub distinct_subjects: u64,
    /// Whether the principal was suspended during the period (a `principal_suspended`
    /// refusal was recorded).
    pub suspended: bool,
}

/// The report of one organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrganizationReport {
    /// Organization id.
    pub organization: String,
    /// Period start (unix seconds), as given.
    pub from: i64,
    /// Period end (unix seconds), as given.
    pub to: i64,
    /// Requests made by all its principals.
    pub requests: u64,
    /// Refused requests.
    pub denied: u64,
    /// Distinct subjects obtained by any of its principals (canaries excluded).
    pub distinct_subjects: u64,
    /// Per principal, by id.
    pub principals: BTreeMap<String, PrincipalActivity>,
}

#[derive(Default)]
struct Acc {
    activity: PrincipalActivity,
    subjects: RoaringTreemap,
}

/// Streams access records into per-organization reports.
pub struct SupervisionBuilder<F> {
    from: i64,
    to: i64,
    is_canary: F,
    orgs: BTreeMap<String, BTreeMap<String, Acc>>,
}

impl<F: Fn(u64) -> bool> SupervisionBuilder<F> {
    /// A builder for the period `from..to` (recorded only); `is_canary` tells canary ids.
    pub fn new(from: i64, to: i64, is_canary: F) -> Self {
        SupervisionBuilder {
            from,
            to,
            is_canary,
            orgs: BTreeMap::new(),
        }
    }

    /// Adds one access record.
    pub fn add(&mut self, r: &AccessRecord<'_>) {
        let org = self.orgs.entry(r.organization.to_owned()).or_default();
        let acc = org.entry(r.principal.to_owned()).or_default();
        let a = &mut acc.activity;
        a.requests += 1;
        *a.actions.entry(r.action.as_str()).or_default() += 1;
        match a.purposes.get_mut(r.purpose) {
            Some(n) => *n += 1,
            None => {
                a.purposes.insert(r.purpose.to_owned(), 1);
            }
        }
        match r.denied {
            None => {
                a.allowed += 1;
                for &s in r.subjects {
                    if !(self.is_canary)(s) {
                        acc.subjects.insert(s);
                    }
                }
            }
            Some(code) => {
                *a.denied.entry(code.as_str()).or_default() += 1;
                a.suspended |= code == DenyCode::PrincipalSuspended;
            }
        }
    }

    /// The reports, one per organization, by id.
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
                    report.denied += acc.activity.requests - acc.activity.allowed;
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

    fn rec<'a>(
        org: &'a str,
        p: &'a str,
        denied: Option<DenyCode>,
        subjects: &'a [u64],
    ) -> AccessRecord<'a> {
        AccessRecord {
            organization: org,
            principal: p,
            action: Action::Read,
            purpose: "support",
            denied,
            subjects,
        }
    }

    #[test]
    fn per_organization_and_principal_with_canaries_left_out() {
        let mut b = SupervisionBuilder::new(0, 86_400, |s| s == 999);
        b.add(&rec("processor-co", "svc-a", None, &[1, 2]));
        b.add(&rec("processor-co", "svc-a", None, &[2, 3, 999]));
        b.add(&rec("processor-co", "svc-b", None, &[3, 4]));
        b.add(&rec(
            "processor-co",
            "svc-b",
            Some(DenyCode::PrincipalSuspended),
            &[],
        ));
        b.add(&AccessRecord {
            action: Action::Search,
            purpose: "fraud",
            ..rec("holder", "svc-h", Some(DenyCode::PurposeDenied), &[])
        });
        let r = b.finish();
        assert_eq!(r.len(), 2);
        let (holder, proc_) = (&r[0], &r[1]);
        assert_eq!(holder.organization, "holder");
        assert_eq!(holder.denied, 1);
        assert_eq!(
            holder.principals["svc-h"].denied.get("purpose_denied"),
            Some(&1)
        );
        assert_eq!(holder.principals["svc-h"].actions.get("search"), Some(&1));
        assert_eq!(proc_.requests, 4);
        assert_eq!(
            proc_.distinct_subjects, 4,
            "1, 2, 3, 4; the canary is not counted"
        );
        let a = &proc_.principals["svc-a"];
        assert_eq!((a.requests, a.allowed, a.distinct_subjects), (2, 2, 3));
        assert!(!a.suspended);
        let bb = &proc_.principals["svc-b"];
        assert!(bb.suspended);
        assert_eq!(bb.purposes.get("support"), Some(&2));
        let json = serde_json::to_value(&r).unwrap();
        assert!(!json.to_string().contains("999"));
    }
}
