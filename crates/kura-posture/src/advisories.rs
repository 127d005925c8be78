//! [`AdvisoryDb`]: a RustSec advisory-database checkout, read offline, and what it says
//! about an [`Inventory`].
//!
//! The directory is a clone (or any copy) of `https://github.com/RustSec/advisory-db`:
//! `crates/<crate>/RUSTSEC-YYYY-NNNN.md`, each a Markdown file opening with TOML front
//! matter (`[advisory] id, package, date, cvss?, informational?, withdrawn?` and
//! `[versions] patched, unaffected`). It is parsed by the `rustsec` crate built without
//! its git and network features: kura never fetches, so it runs air-gapped and no
//! dependency list leaves the site.
//!
//! # Invariants
//! - **Staleness is judged by content**, not by file times or clone date: the age is the
//!   days since the newest advisory's `date`, so a fresh copy of old data is still stale.
//! - **The revision is read by hand**: `.git/HEAD`, loose refs and `packed-refs` give the
//!   commit; without `.git`, `unversioned:<sha256>` over every advisory file's relative path
//!   and content names the data exactly. No git library is linked.
//! - Withdrawn advisories never produce a finding; an advisory limited to other operating
//!   systems or architectures than this build's is skipped.

use std::path::{Path, PathBuf};

use rustsec::database::Query;
use rustsec::{Advisory, Collection, Database, Version};
use sha2::{Digest, Sha256};

use crate::PostureError;
use crate::finding::{AdvisoryRef, Finding, Severity, hex};
use crate::inventory::Inventory;

/// Milliseconds in a day.
const DAY_MS: u64 = 86_400_000;

/// An advisory database opened from a directory.
#[derive(Debug)]
pub struct AdvisoryDb {
    db: Database,
    revision: String,
    newest: Option<String>,
    count: usize,
}

impl AdvisoryDb {
    /// Opens and parses every advisory under `dir`.
    ///
    /// # Errors
    /// [`PostureError::Advisories`] when the directory is not an advisory database (no
    /// `crates/`), an advisory does not parse, or its revision cannot be read.
    pub fn open(dir: &Path) -> Result<Self, PostureError> {
        let err = |message: String| PostureError::Advisories {
            dir: dir.display().to_string(),
            message,
        };
        if !dir.join("crates").is_dir() {
            return Err(err(
                "no `crates` directory: not a RustSec advisory-db checkout".into(),
            ));
        }
        let db = Database::open(dir).map_err(|e| err(e.to_string()))?;
        let revision = revision(dir).map_err(err)?;
        let newest = db.iter().map(|a| a.metadata.date.as_str().to_owned()).max();
        let count = db.iter().count();
        Ok(AdvisoryDb {
            db,
            revision,
            newest,
            count,
        })
    }

    /// The git commit of the checkout, or `unversioned:<sha256>`.
    #[must_use]
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The newest advisory's date (`YYYY-MM-DD`); `None` for an empty database.
    #[must_use]
    pub fn newest(&self) -> Option<&str> {
        self.newest.as_deref()
    }

    /// How many advisories were read.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whole days from the newest advisory's date to `now_ms` (0 if in the future); `None`
    /// for an empty database.
    #[must_use]
    pub fn age_days(&self, now_ms: u64) -> Option<u64> {
        let newest = self.newest.as_deref()?;
        let day = days_since_epoch(newest)?;
        let today = i64::try_from(now_ms / DAY_MS).unwrap_or(i64::MAX);
        Some(u64::try_from(today.saturating_sub(day)).unwrap_or(0))
    }

    /// The advisories that name a crates.io package of `inventory` at its version, as
    /// findings. Withdrawn advisories and those for other platforms are skipped.
    #[must_use]
    pub fn matches(&self, inventory: &Inventory) -> Vec<Finding> {
        let mut out = Vec::new();
        for p in inventory.registry_packages() {
            let (Ok(name), Ok(version)) = (
                p.name.parse::<rustsec::package::Name>(),
                p.version.parse::<Version>(),
            ) else {
                continue;
            };
            let query = Query::new()
                .collection(Collection::Crates)
                .package_name(name)
                .package_version(version)
                .withdrawn(false)
                .target_os(vec![std::env::consts::OS.to_owned()])
                .target_arch(vec![std::env::consts::ARCH.to_owned()]);
            for a in self.db.query(&query) {
                out.push(finding_for(a, &p.name, &p.version));
            }
        }
        out
    }
}

/// The severity of an advisory: informational ones (unmaintained, unsound, notice) are low;
/// a vulnerability takes its CVSS score's severity, or high when it has no score.
#[must_use]
pub fn severity_of(informational: bool, cvss_score: Option<f64>) -> Severity {
    if informational {
        Severity::Low
    } else {
        cvss_score.map_or(Severity::High, Severity::from_cvss_score)
    }
}

fn finding_for(a: &Advisory, package: &str, version: &str) -> Finding {
    let m = &a.metadata;
    let kind = m
        .informational
        .as_ref()
        .map_or("vulnerability".to_owned(), |i| i.as_str().to_owned());
    let severity = severity_of(
        m.informational.is_some(),
        m.cvss.as_ref().map(|c| c.score()),
    );
    let patched: Vec<String> = a.versions.patched().iter().map(|v| v.to_string()).collect();
    let code = match kind.as_str() {
        "vulnerability" => "dependency_vulnerable",
        "unmaintained" => "dependency_unmaintained",
        "unsound" => "dependency_unsound",
        _ => "dependency_notice",
    };
    let mut detail = format!("{} ({kind}, {})", m.id, m.date.as_str());
    if !m.aliases.is_empty() {
        let aliases: Vec<&str> = m.aliases.iter().map(|i| i.as_str()).collect();
        detail.push_str(&format!(", aliases {}", aliases.join(", ")));
    }
    if let Some(c) = &m.cvss {
        detail.push_str(&format!(", CVSS {:.1} {c}", c.score()));
    }
    detail.push_str(&format!(
        "; {package} {version} is affected; patched: {}",
        if patched.is_empty() {
            "none".to_owned()
        } else {
            patched.join(", ")
        }
    ));
    let fix = if patched.is_empty() {
        match kind.as_str() {
            "unmaintained" => format!(
                "no patched version: {package} is unmaintained; plan to replace it (the advisory may name alternatives), then rebuild kura"
            ),
            _ => format!(
                "no patched version: replace or remove {package}, or record why the affected code is not reachable from kura until a fix is released"
            ),
        }
    } else {
        format!(
            "upgrade {package} to {} (`cargo update -p {package}`) and rebuild kura",
            patched.join(" or ")
        )
    };
    Finding {
        code: code.to_owned(),
        severity,
        title: format!("{package} {version}: {} {}", m.id, a.title()),
        detail,
        fix,
        advisory: Some(AdvisoryRef {
            id: m.id.as_str().to_owned(),
            package: package.to_owned(),
            version: version.to_owned(),
            patched,
            kind,
            cvss: m.cvss.as_ref().map(|c| c.to_string()),
        }),
    }
}

/// The finding for advisory data older than `max_days` (by its newest advisory), if it is.
#[must_use]
pub fn stale_finding(
    age_days: Option<u64>,
    newest: Option<&str>,
    max_days: u64,
) -> Option<Finding> {
    let age = age_days?;
    (age > max_days).then(|| {
        Finding::new(
            "advisories_stale",
            Severity::High,
            format!("advisory data is {age} days old (limit {max_days})"),
            format!(
                "the newest advisory in the database is dated {}; advisories published since are unknown to this check",
                newest.unwrap_or("?")
            ),
            "update the advisory-db mirror (`git -C DIR pull`, or copy a fresh one in) and run the check again",
        )
    })
}

/// The finding for no advisory data at all.
#[must_use]
pub fn missing_finding() -> Finding {
    Finding::new(
        "advisories_missing",
        Severity::High,
        "no advisory database: dependencies were not checked for known vulnerabilities",
        "neither --advisories nor [posture] advisories_dir names a RustSec advisory-db checkout",
        "clone https://github.com/RustSec/advisory-db and pass --advisories DIR or set [posture] advisories_dir",
    )
}

/// The finding for advisory data that could not be read (the server keeps running).
#[must_use]
pub fn unreadable_finding(error: &PostureError) -> Finding {
    Finding::new(
        "advisories_unreadable",
        Severity::High,
        "the advisory database could not be read: dependencies were not checked",
        error.to_string(),
        "point [posture] advisories_dir at a complete RustSec advisory-db checkout",
    )
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
fn days_since_epoch(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The revision of the checkout at `dir`.
fn revision(dir: &Path) -> Result<String, String> {
    match git_commit(dir) {
        Some(c) => Ok(c),
        None => content_hash(dir).map(|h| format!("unversioned:{h}")),
    }
}

fn is_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `HEAD` points at, read from `.git` by hand; `None` without a usable `.git`.
fn git_commit(dir: &Path) -> Option<String> {
    let dot = dir.join(".git");
    let git_dir: PathBuf = if dot.is_dir() {
        dot
    } else if dot.is_file() {
        // A worktree or submodule: `gitdir: <path>`.
        let text = std::fs::read_to_string(&dot).ok()?;
        let p = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
        if p.is_absolute() { p } else { dir.join(p) }
    } else {
        return None;
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(name) = head.strip_prefix("ref:") else {
        return is_commit(head).then(|| head.to_ascii_lowercase());
    };
    let name = name.trim();
    if name.contains("..") {
        return None;
    }
    // A worktree keeps its refs in the common directory.
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()));
    for base in std::iter::once(&git_dir).chain(common.as_ref()) {
        if let Ok(v) = std::fs::read_to_string(base.join(name)) {
            let v = v.trim();
            if is_commit(v) {
                return Some(v.to_ascii_lowercase());
            }
        }
        if let Ok(packed) = std::fs::read_to_string(base.join("packed-refs")) {
            for line in packed.lines() {
                if let Some((sha, r)) = line.split_once(' ')
                    && r.trim() == name
                    && is_commit(sha)
                {
                    return Some(sha.to_ascii_lowercase());
                }
            }
        }
    }
    None
}

/// SHA-256 over every file under `crates/` and `rust/`: for each, sorted by relative
/// path, the path, a NUL, the content's length (u64 big-endian) and the content.
fn content_hash(dir: &Path) -> Result<String, String> {
    let mut files = Vec::new();
    for top in ["crates", "rust"] {
        collect(dir, &dir.join(top), &mut files)?;
    }
    files.sort();
    let mut h = Sha256::new();
    for rel in files {
        let bytes = std::fs::read(dir.join(&rel)).map_err(|e| format!("reading {rel}: {e}"))?;
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    Ok(hex(&h.finalize()))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("reading {}: {e}", dir.display())),
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let path = entry.path();
        let ty = entry
            .file_type()
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if ty.is_dir() {
            collect(root, &path, out)?;
        } else if ty.is_file()
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inventory::{Package, Source};

    fn advisory(dir: &Path, id: &str, package: &str, date: &str, extra: &str, patched: &str) {
        let d = dir.join("crates").join(package);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("{id}.md")),
            format!(
                "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{package}\"\ndate = \"{date}\"\n{extra}\n\n[versions]\npatched = [{patched}]\n```\n\n# Something bad in {package}\n\nA description.\n"
            ),
        )
        .unwrap();
    }

    fn inventory(pkgs: &[(&str, &str)]) -> Inventory {
        let v: Vec<Package> = pkgs
            .iter()
            .map(|(n, v)| Package {
                name: (*n).into(),
                version: (*v).into(),
                source: Source::CratesIo,
            })
            .collect();
        Inventory::from_embedded_json(&serde_json::to_string(&v).unwrap()).unwrap()
    }

    #[test]
    fn informational_is_low_and_scores_map_and_no_score_is_high() {
        assert_eq!(severity_of(true, Some(9.8)), Severity::Low);
        assert_eq!(severity_of(false, Some(9.8)), Severity::Critical);
        assert_eq!(severity_of(false, Some(5.0)), Severity::Medium);
        assert_eq!(severity_of(false, None), Severity::High);
    }

    #[test]
    fn matches_by_version_and_skips_withdrawn_and_informational_is_low() {
        let t = tempfile::tempdir().unwrap();
        advisory(
            t.path(),
            "RUSTSEC-2024-0001",
            "alpha",
            "2024-01-02",
            "cvss = \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H\"",
            "\">= 1.2.0\"",
        );
        advisory(
            t.path(),
            "RUSTSEC-2024-0002",
            "beta",
            "2024-01-03",
            "withdrawn = \"2024-02-01\"",
            "",
        );
        advisory(
            t.path(),
            "RUSTSEC-2024-0003",
            "gamma",
            "2024-03-04",
            "informational = \"unmaintained\"",
            "",
        );
        let db = AdvisoryDb::open(t.path()).unwrap();
        assert_eq!(db.count(), 3);
        assert_eq!(db.newest(), Some("2024-03-04"));
        assert!(db.revision().starts_with("unversioned:"));
        let found = db.matches(&inventory(&[
            ("alpha", "1.1.0"),
            ("beta", "1.0.0"),
            ("gamma", "0.1.0"),
        ]));
        assert_eq!(found.len(), 2, "{found:#?}");
        let alpha = found.iter().find(|f| f.title.contains("alpha")).unwrap();
        assert_eq!(alpha.code, "dependency_vulnerable");
        assert_eq!(alpha.severity, Severity::Critical);
        assert!(alpha.fix.contains(">=1.2.0"), "{}", alpha.fix);
        let gamma = found.iter().find(|f| f.title.contains("gamma")).unwrap();
        assert_eq!(gamma.code, "dependency_unmaintained");
        assert_eq!(gamma.severity, Severity::Low);
        assert!(gamma.fix.starts_with("no patched version"));
        // Patched versions are clean.
        assert!(db.matches(&inventory(&[("alpha", "1.2.0")])).is_empty());
    }

    #[test]
    fn age_is_counted_from_the_newest_advisory() {
        let t = tempfile::tempdir().unwrap();
        advisory(t.path(), "RUSTSEC-2020-0001", "alpha", "2020-01-01", "", "");
        let db = AdvisoryDb::open(t.path()).unwrap();
        let jan_11_2020_ms = days_since_epoch("2020-01-11").unwrap() as u64 * DAY_MS + 5;
        assert_eq!(db.age_days(jan_11_2020_ms), Some(10));
        assert!(stale_finding(Some(91), Some("2020-01-01"), 90).is_some());
        assert!(stale_finding(Some(90), Some("2020-01-01"), 90).is_none());
        assert!(stale_finding(None, None, 90).is_none());
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_since_epoch("1970-01-01"), Some(0));
        assert_eq!(days_since_epoch("2000-03-01"), Some(11_017));
        assert_eq!(days_since_epoch("2024-02-29"), Some(19_782));
        assert_eq!(days_since_epoch("2024-13-01"), None);
    }

    #[test]
    fn git_revision_from_loose_and_packed_refs_and_detached_head() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("crates")).unwrap();
        let git = t.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(
            git.join("packed-refs"),
            format!("# pack-refs with: peeled\n{b} refs/heads/main\n"),
        )
        .unwrap();
        assert_eq!(revision(t.path()).unwrap(), b);
        std::fs::write(git.join("refs/heads/main"), format!("{a}\n")).unwrap();
        assert_eq!(revision(t.path()).unwrap(), a);
        std::fs::write(git.join("HEAD"), format!("{b}\n")).unwrap();
        assert_eq!(revision(t.path()).unwrap(), b);
    }

    #[test]
    fn unversioned_revision_changes_with_content() {
        let t = tempfile::tempdir().unwrap();
        advisory(t.path(), "RUSTSEC-2020-0001", "alpha", "2020-01-01", "", "");
        let r1 = revision(t.path()).unwrap();
        assert_eq!(r1, revision(t.path()).unwrap());
        advisory(t.path(), "RUSTSEC-2020-0001", "alpha", "2020-01-02", "", "");
        assert_ne!(r1, revision(t.path()).unwrap());
    }

    #[test]
    fn a_directory_without_crates_is_refused() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(
            AdvisoryDb::open(t.path()),
            Err(PostureError::Advisories { .. })
        ));
    }
}
