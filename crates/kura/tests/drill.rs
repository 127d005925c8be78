//! `kura drill` (issue 23) through the real binary: the whole breach, from an empty
//! directory to a verified report, on the embedded store and on PostgreSQL. The drill checks
//! itself and exits 1 when a check fails; these tests also read its `summary.json` and hold
//! the figures to what the run must show.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;

use serde_json::Value;

/// Runs `kura drill` (the shared runner leaves no vault-locating variable inherited).
fn drill(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let mut all = vec!["drill"];
    all.extend_from_slice(args);
    util::kura(&all, cwd)
}

/// What every passing run must show, read back from its files.
fn assert_run(out: &Path, subjects: u64, quota: u64, erasures: usize) {
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let checks = summary["checks"].as_array().unwrap();
    assert!(checks.len() >= 14, "{checks:?}");
    for c in checks {
        assert_eq!(c["ok"], Value::Bool(true), "{c}");
    }
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for want in [
        "kura audit verify",
        "kura incident verify (evidence bundle)",
        "kura receipt verify (every erasure receipt)",
        "nobody notified twice",
        "notices per country = the matrix per country",
        "no plaintext in the drill's directory",
        "the call centre's supervision report shows the attack",
        "exposed accounts must reset, others sign in",
        "stolen address and birth date open no account",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    // The attack got something and containment stopped it at the quota.
    let a = &summary["attack"];
    let records = a["records"].as_u64().unwrap();
    assert!(
        records > 0 && a["accounts_found"].as_u64().unwrap() <= quota,
        "{a}"
    );
    assert!(a["refused"].as_u64().unwrap() > 0, "{a}");
    // Everyone is potentially exposed through the call centre's policy; the log confirms
    // exactly the records the attacker read.
    let m = &summary["matrix"];
    assert_eq!(m["people"].as_u64(), Some(subjects));
    assert_eq!(m["categories"]["name"]["confirmed"].as_u64(), Some(records));
    assert_eq!(summary["notices"]["send"]["sent"].as_u64(), Some(subjects));
    // Six or more countries, each with its notices.
    assert!(
        m["people_by_country"].as_object().unwrap().len() >= 6,
        "{m}"
    );
    assert_eq!(summary["erasures"].as_array().unwrap().len(), erasures);
    assert_eq!(
        std::fs::read_dir(out.join("receipts")).unwrap().count(),
        erasures
    );
    assert!(!summary["drafts"].as_array().unwrap().is_empty());
    assert!(summary["flagged_for_reset"].as_u64().unwrap() >= records);
    // The report: timings, the chart, the exposure tables.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in [
        "## Timings",
        "first stolen read → key suspended",
        "## Exposure per category",
        "## Exposure per country",
        "## Incident timeline",
    ] {
        assert!(md.contains(want), "report.md lacks {want}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Exposure per country"));
    assert!(!html.contains("FAILED"));
}

#[test]
fn drill_replays_the_breach_and_verifies_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("drill");
    let (code, _, err) = drill(
        &[
            "--subjects",
            "5000",
            "--quota",
            "300",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("drill passed its own verification"), "{err}");
    for step in [
        "first stolen read → suspension",
        "declaration → scope",
        "declaration → every draft",
        "declaration → all notices sent",
    ] {
        assert!(err.contains(step), "timing {step} not printed: {err}");
    }
    assert_run(&out, 5000, 300, 10);
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(
        summary.contains("over SMTP to a loopback sink"),
        "{summary}"
    );
    // The same directory again is refused, before anything is touched.
    let before = std::fs::read(out.join("summary.json")).unwrap();
    let (code, _, err) = drill(
        &[
            "--subjects",
            "100",
            "--quota",
            "10",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), before);
}

#[test]
fn drill_refuses_bad_arguments_before_creating_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d");
    for (args, says) in [
        (vec!["--subjects", "10"], "--subjects"),
        (vec!["--quota", "0"], "--quota"),
        (vec!["--subjects", "1000", "--quota", "900"], "--quota"),
        (vec!["--password-share", "101"], "percentages"),
        (vec!["--threads", "0"], "--threads"),
    ] {
        let mut all = args.clone();
        all.extend(["--out", out.to_str().unwrap()]);
        let (code, _, err) = drill(&all, tmp.path());
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} created {}", out.display());
    }
}

#[test]
fn drill_on_postgres() {
    let Some(db) = kura_testkit::postgres::TestDatabase::create("drill") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("drill");
    let (code, _, err) = drill(
        &[
            "--subjects",
            "3000",
            "--quota",
            "200",
            "--erasures",
            "5",
            "--mail",
            "outbox",
            "--store-url",
            db.url(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert_run(&out, 3000, 200, 5);
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("PostgreSQL"), "{summary}");
    assert!(
        summary.contains("to the outbox, drained by the drill"),
        "{summary}"
    );
    // The drill took every message out of the outbox.
    assert_eq!(std::fs::read_dir(out.join("outbox")).unwrap().count(), 0);
    // TestDatabase drops its database; never inside a runtime, so plain drop here.
    drop(db);
}
