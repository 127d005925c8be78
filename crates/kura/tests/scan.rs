//! End-to-end tests of `kura scan` through the real binary: exit codes (0 clean, 1 when
//! `--fail-on` is reached, 2 on error), the three output formats, excludes, masking, and a
//! quiet standard error when piped.

mod scan_kit;

use std::fs;

use scan_kit::{kura_scan, path};

/// A web root with a customer list, a log with one address, and an image.
fn web_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    scan_kit::web_root(dir.path());
    fs::write(
        dir.path().join("static/logo.png"),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    )
    .expect("write");
    dir
}

#[test]
fn json_report_lists_files_with_verdicts_and_exits_0() {
    let dir = web_root();
    let (code, out, err) = kura_scan(&["--format", "json", path(dir.path())]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let files = doc["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    let list = files
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("customers.csv"))
        })
        .expect("list");
    assert_eq!(list["people"], 50);
    assert_eq!(list["counts"]["email"], 50);
    assert_eq!(list["verdict"], "personal data of about 50 people");
    assert!(!out.contains("user7@gmail.com"), "values are masked");
    assert!(err.is_empty(), "no progress bar when piped: {err}");
}

#[test]
fn fail_on_exits_1_when_reached() {
    let dir = web_root();
    let (code, _, _) = kura_scan(&["--fail-on", "1", path(dir.path())]);
    assert_eq!(code, 1);
    let (code, _, _) = kura_scan(&["--fail-on", "100000", path(dir.path())]);
    assert_eq!(code, 0);
    let (code, _, _) = kura_scan(&[
        "--fail-on",
        "1",
        "--exclude",
        "*.csv",
        "--exclude",
        "static/",
        path(dir.path()),
    ]);
    assert_eq!(code, 0, "everything excluded, nothing found");
}

#[test]
fn errors_exit_2() {
    let (code, _, err) = kura_scan(&["/nonexistent/kura-scan-e2e"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such file or folder"), "{err}");
    let (code, _, _) = kura_scan(&["--format", "xml", "."]);
    assert_eq!(code, 2, "bad arguments are errors too");
}

#[test]
fn sarif_and_table_outputs() {
    let dir = web_root();
    let (code, out, _) = kura_scan(&[
        "--format",
        "sarif",
        "--min-confidence",
        "high",
        path(dir.path()),
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("sarif is json");
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().expect("results");
    assert!(
        results.iter().all(|r| r["level"] == "error"),
        "high confidence maps to error"
    );
    assert!(!results.is_empty());
    let (code, out, _) = kura_scan(&[path(dir.path())]);
    assert_eq!(code, 0);
    let first = out.lines().next().expect("table");
    assert!(
        first.contains("customers.csv") && first.contains("about 50 people"),
        "{first}"
    );
    assert!(out.contains("scanned 3 files"), "{out}");
}

#[test]
fn example_domains_are_counted_in_email_columns_or_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("notes.txt"),
        "the fixture sends to tester@example.com and nobody else\n",
    )
    .expect("write");
    fs::write(
        dir.path().join("users.csv"),
        "id,email\n1,hanako@example.org\n",
    )
    .expect("write");
    let count = |args: &[&str]| -> (u64, Vec<String>) {
        let (code, out, err) = kura_scan(args);
        assert_eq!(code, 0, "{err}");
        let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
        let files = doc["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["path"].as_str().expect("path").to_owned())
            .collect();
        (doc["totals"]["findings"].as_u64().expect("count"), files)
    };
    // By default only the address in the e-mail column counts.
    let (n, files) = count(&["--format", "json", path(dir.path())]);
    assert_eq!(n, 1, "{files:?}");
    assert!(files[0].ends_with("users.csv"), "{files:?}");
    // Asked to, both count.
    let (n, _) = count(&[
        "--format",
        "json",
        "--include-example-domains",
        path(dir.path()),
    ]);
    assert_eq!(n, 2);
}

#[test]
fn max_findings_caps_the_list_but_every_finding_is_counted() {
    let dir = web_root();
    let root = path(dir.path());
    // The customer list holds 50 e-mails and 50 phones (100 findings); list 10.
    let (code, out, err) = kura_scan(&[
        "--format",
        "json",
        "--max-findings",
        "10",
        "--fail-on",
        "60",
        root,
    ]);
    assert_eq!(code, 1, "--fail-on counts unlisted findings too: {err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let list = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("customers.csv"))
        })
        .expect("list")
        .clone();
    let listed = list["findings"].as_array().expect("findings").len() as u64;
    let counted: u64 = list["counts"]
        .as_object()
        .expect("counts")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    assert_eq!(listed, 10);
    assert!(counted >= 100, "{counted}");
    assert_eq!(list["unlisted"].as_u64(), Some(counted - 10));
    assert_eq!(list["people"], 50, "people are counted over every finding");
    assert!(doc["totals"]["findings"].as_u64().expect("total") >= counted);

    // SARIF lists as many results and says, per file, how many more there are.
    let (code, out, _) = kura_scan(&["--format", "sarif", "--max-findings", "10", root]);
    assert_eq!(code, 0);
    let sarif: serde_json::Value = serde_json::from_str(&out).expect("sarif");
    let run = &sarif["runs"][0];
    let notes = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .expect("notifications");
    let unlisted = notes
        .iter()
        .find(|n| n["descriptor"]["id"] == "kura-scan/unlisted")
        .expect("an unlisted note");
    assert_eq!(
        unlisted["properties"]["unlisted"].as_u64(),
        Some(counted - 10)
    );
    assert!(!out.contains("user1@gmail.com"), "no value in SARIF");

    // The table says how many more there are, not that JSON lists them all.
    let (_, table, _) = kura_scan(&[root]);
    assert!(
        table.contains("more (use --format json to list them)"),
        "{table}"
    );
}
