//! [`Severity`], [`Finding`] and [`Report`]: what a posture check says, how bad it is and
//! what to do about it, and the record of one run.
//!
//! # Invariants
//! - A finding's `code` is stable snake_case: scripts and alerts key on it, so a code is
//!   never renamed, only added.
//! - A report's findings are sorted (most severe first, then by code, title and detail), so
//!   the same facts give the same JSON and the same [`Report::findings_sha256`].
//! - Nothing here is secret, but a finding names crates and versions: the unauthenticated
//!   see only [`Report::posture`], never a finding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to do.
    Info,
    /// Fix when convenient (e.g. an unmaintained dependency).
    Low,
    /// Fix soon: a safeguard is missing or out of date.
    Medium,
    /// Fix now: a weakness an attacker can use, or evidence that is missing.
    High,
    /// Stop and fix: keys exposed, or a critical known vulnerability.
    Critical,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The lowercase name (`critical`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    /// The severity a CVSS base score stands for: 9.0 and above critical, 7.0 high, 4.0
    /// medium, anything lower low (the CVSS v3 qualitative scale, with "none" folded into
    /// low: an advisory was still filed).
    #[must_use]
    pub fn from_cvss_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown severity `{s}` (critical, high, medium, low, info)"))
    }
}

/// The advisory behind a dependency finding, for scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryRef {
    /// The advisory id (`RUSTSEC-YYYY-NNNN`).
    pub id: String,
    /// The crate it names.
    pub package: String,
    /// The version this binary carries.
    pub version: String,
    /// Version requirements that are patched (empty: none is).
    pub patched: Vec<String>,
    /// `vulnerability`, or the informational kind (`unmaintained`, `unsound`, `notice`).
    pub kind: String,
    /// The CVSS vector, when the advisory has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss: Option<String>,
}

/// One thing a posture check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable snake_case code (`key_file_permissions`, `dependency_vulnerable`, ...).
    pub code: String,
    /// How bad it is.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub title: String,
    /// The facts behind it.
    pub detail: String,
    /// What to do about it.
    pub fix: String,
    /// For dependency findings: the advisory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory: Option<AdvisoryRef>,
}

impl Finding {
    /// A finding without an advisory.
    #[must_use]
    pub fn new(
        code: &str,
        severity: Severity,
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            code: code.to_owned(),
            severity,
            title: title.into(),
            detail: detail.into(),
            fix: fix.into(),
            advisory: None,
        }
    }

    fn sort_key(&self) -> (std::cmp::Reverse<Severity>, &str, &str, &str) {
        (
            std::cmp::Reverse(self.severity),
            &self.code,
            &self.title,
            &self.detail,
        )
    }
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Critical findings.
    pub critical: u64,
    /// High findings.
    pub high: u64,
    /// Medium findings.
    pub medium: u64,
    /// Low findings.
    pub low: u64,
    /// Informational findings.
    pub info: u64,
}

impl Counts {
    /// The count of one severity.
    #[must_use]
    pub fn of(&self, s: Severity) -> u64 {
        match s {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }
    }
}

/// The coarse state shown to anyone (`/v1/health`): no crate, version or detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Posture {
    /// Nothing above low.
    Ok,
    /// A high or medium finding.
    Attention,
    /// A critical finding.
    Critical,
}

impl Posture {
    /// `ok`, `attention` or `critical`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Posture::Ok => "ok",
            Posture::Attention => "attention",
            Posture::Critical => "critical",
        }
    }
}

/// Where the dependency list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventorySource {
    /// The binary's cargo-auditable section: the exact tree that was linked.
    #[serde(rename = "cargo-auditable")]
    Auditable,
    /// The list written at build time from `Cargo.lock`: an over-approximation.
    #[serde(rename = "embedded-lockfile")]
    Embedded,
}

/// One posture run: when, against which advisory data, over how many dependencies, and
/// what it found. Its JSON (serde, fields in declaration order) is what `kura doctor
/// --json` prints; the SHA-256 of its findings' JSON goes into the access log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// When the run happened, unix milliseconds.
    pub at_ms: u64,
    /// The advisory database's revision (a git commit, or `unversioned:<sha256>`); `None`
    /// when no database was given.
    pub advisories_revision: Option<String>,
    /// The newest advisory's date (`YYYY-MM-DD`).
    pub advisories_newest: Option<String>,
    /// Days from the newest advisory to `at_ms`.
    pub advisories_age_days: Option<u64>,
    /// Advisories in the database.
    pub advisories_count: Option<usize>,
    /// Where the dependency list came from.
    pub inventory: InventorySource,
    /// Packages in the dependency list (the workspace's own included).
    pub dependencies: usize,
    /// Findings per severity.
    pub counts: Counts,
    /// The coarse state.
    pub posture: Posture,
    /// SHA-256 (hex) of the JSON of `findings`.
    pub findings_sha256: String,
    /// What was found, most severe first.
    pub findings: Vec<Finding>,
}

/// What a report is built from besides its findings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportMeta {
    /// When, unix milliseconds.
    pub at_ms: u64,
    /// The advisory database's revision.
    pub advisories_revision: Option<String>,
    /// The newest advisory's date.
    pub advisories_newest: Option<String>,
    /// Its age in days.
    pub advisories_age_days: Option<u64>,
    /// Advisories in the database.
    pub advisories_count: Option<usize>,
    /// Where the dependency list came from.
    pub inventory: InventorySource,
    /// Packages in it.
    pub dependencies: usize,
}

impl Report {
    /// Builds a report: sorts the findings, counts them, hashes them.
    #[must_use]
    pub fn new(meta: ReportMeta, mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut counts = Counts::default();
        for f in &findings {
            match f.severity {
                Severity::Critical => counts.critical += 1,
                Severity::High => counts.high += 1,
                Severity::Medium => counts.medium += 1,
                Severity::Low => counts.low += 1,
                Severity::Info => counts.info += 1,
            }
        }
        let posture = if counts.critical > 0 {
            Posture::Critical
        } else if counts.high + counts.medium > 0 {
            Posture::Attention
        } else {
            Posture::Ok
        };
        let findings_sha256 = findings_sha256(&findings);
        Report {
            at_ms: meta.at_ms,
            advisories_revision: meta.advisories_revision,
            advisories_newest: meta.advisories_newest,
            advisories_age_days: meta.advisories_age_days,
            advisories_count: meta.advisories_count,
            inventory: meta.inventory,
            dependencies: meta.dependencies,
            counts,
            posture,
            findings_sha256,
            findings,
        }
    }

    /// The most severe finding's severity.
    #[must_use]
    pub fn worst(&self) -> Option<Severity> {
        self.findings.first().map(|f| f.severity)
    }

    /// Whether any finding is at or above `threshold`.
    #[must_use]
    pub fn fails(&self, threshold: Severity) -> bool {
        self.worst().is_some_and(|w| w >= threshold)
    }

    /// The field names of the access-log event recording this run (see
    /// `kura_audit::Action::Posture`): `advisories:<revision or none>`, `critical:<n>`,
    /// `high:<n>`, `medium:<n>`, `low:<n>`, `sha256:<hex>`.
    #[must_use]
    pub fn event_fields(&self) -> Vec<String> {
        vec![
            format!(
                "advisories:{}",
                self.advisories_revision.as_deref().unwrap_or("none")
            ),
            format!("critical:{}", self.counts.critical),
            format!("high:{}", self.counts.high),
            format!("medium:{}", self.counts.medium),
            format!("low:{}", self.counts.low),
            format!("sha256:{}", self.findings_sha256),
        ]
    }
}

/// SHA-256 (lowercase hex) of the findings' JSON as `serde_json` writes it (compact, fields
/// in declaration order).
#[must_use]
pub fn findings_sha256(findings: &[Finding]) -> String {
    // Serializing plain structs of strings and enums cannot fail; an empty hash input would
    // still be a defined value.
    let json = serde_json::to_vec(findings).unwrap_or_default();
    hex(&Sha256::digest(&json))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn meta() -> ReportMeta {
        ReportMeta {
            at_ms: 1,
            advisories_revision: Some("abc".into()),
            advisories_newest: None,
            advisories_age_days: None,
            advisories_count: None,
            inventory: InventorySource::Embedded,
            dependencies: 3,
        }
    }

    #[test]
    fn cvss_scores_map_to_severities_at_the_boundaries() {
        assert_eq!(Severity::from_cvss_score(10.0), Severity::Critical);
        assert_eq!(Severity::from_cvss_score(9.0), Severity::Critical);
        assert_eq!(Severity::from_cvss_score(8.9), Severity::High);
        assert_eq!(Severity::from_cvss_score(7.0), Severity::High);
        assert_eq!(Severity::from_cvss_score(6.9), Severity::Medium);
        assert_eq!(Severity::from_cvss_score(4.0), Severity::Medium);
        assert_eq!(Severity::from_cvss_score(3.9), Severity::Low);
        assert_eq!(Severity::from_cvss_score(0.0), Severity::Low);
    }

    #[test]
    fn severities_order_parse_and_serialize_lowercase() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!("severe".parse::<Severity>().is_err());
        assert_eq!(
            serde_json::to_string(&Severity::Medium).unwrap(),
            "\"medium\""
        );
    }

    #[test]
    fn a_report_sorts_counts_and_hashes_independently_of_input_order() {
        let a = Finding::new("b_code", Severity::Low, "t", "d", "f");
        let b = Finding::new("a_code", Severity::Critical, "t", "d", "f");
        let c = Finding::new("c_code", Severity::Medium, "t", "d", "f");
        let r1 = Report::new(meta(), vec![a.clone(), b.clone(), c.clone()]);
        let r2 = Report::new(meta(), vec![c, a, b]);
        assert_eq!(r1, r2);
        assert_eq!(r1.findings[0].code, "a_code");
        assert_eq!(r1.counts.critical, 1);
        assert_eq!(r1.counts.of(Severity::Medium), 1);
        assert_eq!(r1.posture, Posture::Critical);
        assert!(r1.fails(Severity::High));
        assert_eq!(r1.findings_sha256.len(), 64);
        let fields = r1.event_fields();
        assert_eq!(fields[0], "advisories:abc");
        assert_eq!(fields[1], "critical:1");
    }

    #[test]
    fn posture_is_ok_with_only_low_findings() {
        let r = Report::new(
            meta(),
            vec![Finding::new("x", Severity::Low, "t", "d", "f")],
        );
        assert_eq!(r.posture, Posture::Ok);
        assert!(!r.fails(Severity::Medium));
        assert!(r.fails(Severity::Low));
        let empty = Report::new(meta(), Vec::new());
        assert_eq!(empty.posture, Posture::Ok);
        assert!(!empty.fails(Severity::Info));
    }
}
