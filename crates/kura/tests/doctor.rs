//! `kura doctor` (issue 20) through the real binary: a dependency the binary carries and a
//! planted advisory names is reported, a clean advisory database reports nothing, stale
//! advisory data is a finding, a key file readable by others is critical even though kura
//! refuses to open it, every run is an access-log event, and `/v1/health` shows only the
//! coarse posture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;

use serde_json::Value;
use util::{kura, start_with_env, with_owner};

const DAY_MS: u64 = 86_400_000;

/// `YYYY-MM-DD` of `days_ago` days before today (Howard Hinnant's civil_from_days).
fn date(days_ago: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let z = (now / DAY_MS - days_ago) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One advisory in the RustSec advisory-db format (`crates/<crate>/<id>.md`, TOML front
/// matter, then a `#` title and a description).
struct Adv<'a> {
    id: &'a str,
    package: &'a str,
    days_ago: u64,
    patched: &'a str,
    cvss: Option<&'a str>,
}

fn advisory_db(root: &Path, advisories: &[Adv<'_>]) {
    for a in advisories {
        let dir = root.join("crates").join(a.package);
        std::fs::create_dir_all(&dir).unwrap();
        let cvss = a
            .cvss
            .map(|c| format!("cvss = \"{c}\"\n"))
            .unwrap_or_default();
        std::fs::write(
            dir.join(format!("{}.md", a.id)),
            format!(
                "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{package}\"\ndate = \"{date}\"\nurl = \"https://example.invalid/{id}\"\ncategories = [\"memory-corruption\"]\nkeywords = [\"planted\"]\n{cvss}\n[versions]\npatched = [{patched}]\n```\n\n# Planted advisory for {package}\n\nA test advisory written by kura's test suite.\n",
                id = a.id,
                package = a.package,
                date = date(a.days_ago),
                patched = a.patched,
            ),
        )
        .unwrap();
    }
}

const CRITICAL: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";

/// A vault in `tmp/vault`; returns its data dir.
fn vault(tmp: &Path) -> String {
    let dir = tmp.join("vault");
    let (code, _, err) = kura(
        &with_owner(&["init", "--data", dir.to_str().unwrap(), "--json"]),
        tmp,
    );
    assert_eq!(code, 0, "init failed: {err}");
    dir.to_str().unwrap().to_owned()
}

fn doctor(tmp: &Path, data: &str, advisories: Option<&Path>, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["doctor", "--json", "--data", data];
    if let Some(a) = advisories {
        args.extend(["--advisories", a.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    let (code, out, err) = kura(&args, tmp);
    assert!(code == 0 || code == 1, "doctor failed ({code}): {out}{err}");
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}")),
    )
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

fn dependency_findings(report: &Value) -> Vec<Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"].as_str().unwrap().starts_with("dependency_"))
        .cloned()
        .collect()
}

#[test]
fn a_planted_advisory_for_a_dependency_of_the_binary_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = vault(tmp.path());
    let db = tmp.path().join("advisory-db");
    advisory_db(
        &db,
        &[Adv {
            id: "RUSTSEC-2099-0001",
            package: "serde",
            days_ago: 1,
            patched: "\">= 999.0.0\"",
            cvss: Some(CRITICAL),
        }],
    );
    let (code, report) = doctor(tmp.path(), &data, Some(&db), &[]);
    assert_eq!(code, 1, "{report:#}");
    let found = dependency_findings(&report);
    assert_eq!(found.len(), 1, "{report:#}");
    let f = &found[0];
    assert_eq!(f["code"], "dependency_vulnerable");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["advisory"]["id"], "RUSTSEC-2099-0001");
    assert_eq!(f["advisory"]["package"], "serde");
    assert!(f["title"].as_str().unwrap().contains("RUSTSEC-2099-0001"));
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("upgrade serde to >=999.0.0"),
        "{f:#}"
    );
    assert!(!codes(&report).contains(&"advisories_stale".to_owned()));
    assert!(
        report["advisories_revision"]
            .as_str()
            .unwrap()
            .starts_with("unversioned:")
    );
    assert!(report["dependencies"].as_u64().unwrap() > 50, "{report:#}");
    assert_eq!(report["posture"], "critical");
    // The table says the same for people.
    let (code, out, _) = kura(
        &[
            "doctor",
            "--data",
            &data,
            "--advisories",
            db.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 1);
    assert!(out.contains("critical  dependency_vulnerable"), "{out}");
    // --fail-on above the worst finding exits 0? No: critical is the top; `info` fails too.
    let (code, _) = doctor(tmp.path(), &data, Some(&db), &["--fail-on", "critical"]);
    assert_eq!(code, 1);
}

#[test]
fn a_clean_advisory_database_reports_no_dependency() {
    let tmp = tempfile::tempdir().unwrap();
    let data = vault(tmp.path());
    let db = tmp.path().join("advisory-db");
    advisory_db(
        &db,
        &[
            // Patched in every version kura could carry.
            Adv {
                id: "RUSTSEC-2099-0002",
                package: "serde",
                days_ago: 3,
                patched: "\">= 0.0.1\"",
                cvss: None,
            },
            // A crate kura does not use.
            Adv {
                id: "RUSTSEC-2099-0003",
                package: "not-a-dependency-of-kura",
                days_ago: 2,
                patched: "",
                cvss: Some(CRITICAL),
            },
        ],
    );
    let (_, report) = doctor(tmp.path(), &data, Some(&db), &[]);
    assert!(dependency_findings(&report).is_empty(), "{report:#}");
    assert_eq!(report["advisories_count"], 2);
    assert_eq!(report["advisories_age_days"], 2);
    let c = codes(&report);
    assert!(!c.contains(&"advisories_stale".to_owned()), "{c:?}");
    assert!(!c.contains(&"advisories_missing".to_owned()), "{c:?}");
    // Nothing at or above critical: `--fail-on critical` exits 0.
    let (code, _) = doctor(tmp.path(), &data, Some(&db), &["--fail-on", "critical"]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn stale_or_missing_advisory_data_is_a_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let data = vault(tmp.path());
    let db = tmp.path().join("advisory-db");
    advisory_db(
        &db,
        &[Adv {
            id: "RUSTSEC-2099-0004",
            package: "not-a-dependency-of-kura",
            days_ago: 200,
            patched: "",
            cvss: None,
        }],
    );
    // Files written just now: staleness is judged by the advisories' dates.
    let (code, report) = doctor(tmp.path(), &data, Some(&db), &[]);
    assert_eq!(code, 1);
    let stale: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "advisories_stale")
        .collect();
    assert_eq!(stale.len(), 1, "{report:#}");
    assert_eq!(stale[0]["severity"], "high");
    assert_eq!(report["advisories_age_days"], 200);
    // No database at all.
    let (code, report) = doctor(tmp.path(), &data, None, &[]);
    assert_eq!(code, 1);
    assert!(codes(&report).contains(&"advisories_missing".to_owned()));
    // A directory that is not an advisory database is an error (exit 2).
    let (code, _, err) = kura(
        &[
            "doctor",
            "--data",
            &data,
            "--advisories",
            tmp.path().join("nope").to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 2, "{err}");
}

#[cfg(unix)]
#[test]
fn a_key_file_readable_by_others_is_critical_though_kura_will_not_open_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = vault(tmp.path());
    let key = tmp.path().join("vault.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, report) = doctor(tmp.path(), &data, None, &[]);
    assert_eq!(code, 1);
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "key_file_permissions")
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    assert_eq!(f["severity"], "critical");
    assert!(f["detail"].as_str().unwrap().contains("0644"));
    assert!(f["fix"].as_str().unwrap().contains("chmod 600"));
    // The key file sits beside the data directory, in the same temp filesystem.
    assert!(codes(&report).contains(&"key_file_beside_data".to_owned()));
}

/// Every posture event of the log, read through the API.
fn posture_events(s: &util::Server) -> Vec<Value> {
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    (0..n)
        .filter_map(|i| {
            let r = s.get(&format!("/v1/audit/entries/{i}"));
            assert_eq!(r.status, 200, "{}", r.text);
            (r.body["event"]["action"] == "posture").then(|| r.body["event"].clone())
        })
        .collect()
}

#[test]
fn each_run_is_in_the_access_log_and_health_shows_only_the_posture() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("advisory-db");
    advisory_db(
        &db,
        &[Adv {
            id: "RUSTSEC-2099-0005",
            package: "serde",
            days_ago: 1,
            patched: "\">= 999.0.0\"",
            cvss: Some(CRITICAL),
        }],
    );
    let mut s = start_with_env(&[("KURA_POSTURE_ADVISORIES_DIR", db.to_str().unwrap())]);
    let data = s.dir.to_str().unwrap().to_owned();
    // The server checked at start: health says `critical`, and nothing more.
    let h = s.req("GET", "/v1/health", None, &[("Authorization", "")]);
    assert_eq!(h.status, 200);
    assert_eq!(h.body["status"], "ok");
    assert_eq!(h.body["posture"], "critical", "{}", h.text);
    assert_eq!(h.body.as_object().unwrap().len(), 2, "{}", h.text);
    for secret in ["serde", "RUSTSEC", "dependency", "advisor"] {
        assert!(
            !h.text.contains(secret),
            "health leaks `{secret}`: {}",
            h.text
        );
    }
    // Metrics (for operators) carry the counts.
    let m = s.get("/v1/metrics");
    assert_eq!(m.status, 200, "{}", m.text);
    assert!(
        m.text
            .contains("kura_doctor_findings{severity=\"critical\"} 1"),
        "{}",
        m.text
    );
    assert!(
        !m.text
            .contains("kura_doctor_last_run_timestamp_seconds 0\n")
    );
    // The CLI's run, beside the running server.
    let parent = s.dir.parent().unwrap().to_owned();
    let (code, report) = doctor(&parent, &data, Some(&db), &[]);
    assert_eq!(code, 1);
    let events = posture_events(&s);
    assert_eq!(events.len(), 2, "{events:#?}");
    let fields = |e: &Value| -> Vec<String> {
        e["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(events[0]["principal"], "kura-serve");
    assert_eq!(events[1]["principal"], "operator-cli");
    assert_eq!(events[1]["purpose"], "posture");
    let f = fields(&events[1]);
    let rev = report["advisories_revision"].as_str().unwrap();
    for want in [
        format!("advisories:{rev}"),
        "critical:1".to_owned(),
        format!("sha256:{}", report["findings_sha256"].as_str().unwrap()),
    ] {
        assert!(f.contains(&want), "{want} not in {f:?}");
    }
    assert!(fields(&events[0]).contains(&"critical:1".to_owned()));
    // The log still verifies offline, with the posture events in it.
    assert_eq!(s.terminate(), 0, "{}", s.logs());
    let (code, out, err) = kura(&["audit", "verify", "--data", &data], &parent);
    assert_eq!(code, 0, "{out}{err}");
}
