//! End-to-end tests of `kura scan --baseline FILE` through the real binary: the first run
//! reports everything and writes the baseline (with no plaintext value in it), an unchanged
//! tree then reports nothing new, an appended customer line is exactly what the next run
//! reports, and a corrupt or foreign baseline is an error (exit code 2).

mod scan_kit;

use std::fs;
use std::path::Path;

use scan_kit::{kura_scan, path, web_root};

/// Runs a JSON scan of `root` with the baseline and `--fail-on 1`; returns (exit code, the
/// JSON document, stderr).
fn json_scan(root: &Path, baseline: &Path) -> (i32, serde_json::Value, String) {
    let (code, out, err) = kura_scan(&[
        "--format",
        "json",
        "--fail-on",
        "1",
        "--baseline",
        path(baseline),
        path(root),
    ]);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("json: {e}: {out} {err}"));
    (code, doc, err)
}

/// (line, kind) of every finding listed in a JSON report.
fn listed(doc: &serde_json::Value) -> Vec<(String, u64, String)> {
    let mut out = Vec::new();
    for f in doc["files"].as_array().expect("files") {
        for x in f["findings"].as_array().expect("findings") {
            out.push((
                f["path"].as_str().expect("path").to_owned(),
                x["line"].as_u64().unwrap_or(0),
                x["kind"].as_str().expect("kind").to_owned(),
            ));
        }
    }
    out
}

#[test]
fn baseline_reports_only_new_findings_across_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("www");
    web_root(&root);
    // The baseline lies under the scanned folder: it must not scan itself.
    let baseline = root.join("kura-baseline.json");

    // First run: no baseline yet, so everything is reported, and the baseline is written.
    let (code, doc, err) = json_scan(&root, &baseline);
    assert_eq!(code, 1, "findings reach --fail-on 1: {err}");
    let first = doc["totals"]["findings"].as_u64().expect("findings");
    assert!(first >= 101, "50 e-mails, 50 phones, 1 log address: {doc}");
    assert_eq!(doc["totals"]["known"], 0);
    assert_eq!(listed(&doc).len() as u64, first);
    let text = fs::read_to_string(&baseline).expect("baseline written");
    let written: serde_json::Value = serde_json::from_str(&text).expect("baseline is json");
    assert_eq!(written["version"], 2);
    for plain in [
        "user7@gmail.com",
        "gmail.com",
        "sato.taro",
        "yahoo",
        "090-1234-1007",
        "090-1234",
        "93.184.216.34",
        "Customer",
    ] {
        assert!(!text.contains(plain), "baseline holds {plain:?}: {text}");
    }
    let leftovers: Vec<_> = fs::read_dir(&root)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Second run, nothing changed: nothing new, exit 0 even with --fail-on 1, and the
    // baseline file itself is not scanned.
    let (code, doc, err) = json_scan(&root, &baseline);
    assert_eq!(code, 0, "{err} {doc}");
    assert_eq!(doc["totals"]["findings"], 0, "{doc}");
    assert_eq!(doc["totals"]["known"].as_u64(), Some(first));
    assert_eq!(
        doc["totals"]["files"], 2,
        "the baseline is not scanned: {doc}"
    );
    assert!(listed(&doc).is_empty(), "{doc}");

    // Table and SARIF agree, and SARIF stays a valid log with no results.
    let (code, out, err) = kura_scan(&["--baseline", path(&baseline), path(&root)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 new findings"), "{out}");
    assert!(out.contains("known from the baseline"), "{out}");
    let (code, out, err) = kura_scan(&[
        "--format",
        "sarif",
        "--fail-on",
        "1",
        "--baseline",
        path(&baseline),
        path(&root),
    ]);
    assert_eq!(code, 0, "{err}");
    let sarif: serde_json::Value = serde_json::from_str(&out).expect("sarif");
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(0)
    );

    // A new customer line: exactly its findings are new, and --fail-on 1 fails.
    let csv = root.join("customers.csv");
    let mut list = fs::read_to_string(&csv).expect("read");
    list.push_str("Customer 50,user50@gmail.com,090-1234-1050\n");
    fs::write(&csv, list).expect("append");
    let (code, doc, err) = json_scan(&root, &baseline);
    assert_eq!(code, 1, "{err} {doc}");
    let new = listed(&doc);
    assert!(!new.is_empty(), "{doc}");
    let kinds: Vec<&str> = new.iter().map(|(_, _, k)| k.as_str()).collect();
    assert!(
        kinds.contains(&"email") && kinds.contains(&"phone"),
        "{doc}"
    );
    for (file, line, _) in &new {
        assert!(file.ends_with("customers.csv"), "{doc}");
        assert_eq!(*line, 52, "only the appended line is new: {doc}");
    }
    assert_eq!(doc["totals"]["findings"].as_u64(), Some(new.len() as u64));
    assert_eq!(doc["totals"]["known"].as_u64(), Some(first));
    assert_eq!(doc["files"].as_array().map(Vec::len), Some(1));
    let sarif_run = |b: &Path| {
        let (_, out, _) = kura_scan(&["--format", "sarif", "--baseline", path(b), path(&root)]);
        serde_json::from_str::<serde_json::Value>(&out).expect("sarif")
    };

    // The baseline now holds that line too: the next run is quiet again.
    let (code, doc, err) = json_scan(&root, &baseline);
    assert_eq!(code, 0, "{err} {doc}");
    assert_eq!(doc["totals"]["findings"], 0, "{doc}");
    assert_eq!(
        sarif_run(&baseline)["runs"][0]["results"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    // A finding that disappears and comes back is new again.
    fs::write(root.join("static/access.log"), "GET / 200\n").expect("write");
    let (code, doc, _) = json_scan(&root, &baseline);
    assert_eq!(code, 0, "{doc}");
    fs::write(
        root.join("static/access.log"),
        "GET / 200 from 93.184.216.34 mail sato.taro@yahoo.co.jp\n",
    )
    .expect("write");
    let (code, doc, _) = json_scan(&root, &baseline);
    assert_eq!(code, 1, "{doc}");
    let back = listed(&doc);
    assert!(
        !back.is_empty() && back.iter().all(|(f, _, _)| f.ends_with("access.log")),
        "{doc}"
    );

    // The same folder named another way (relative, from another working directory) is the
    // same baseline: nothing is new.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kura"))
        .current_dir(dir.path())
        .args(["scan", "--format", "json", "--fail-on", "1", "--baseline"])
        .arg(&baseline)
        .arg("./www")
        .output()
        .expect("kura runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["totals"]["findings"], 0, "{doc}");
    assert!(
        doc["totals"]["known"].as_u64() > Some(first),
        "all known: {doc}"
    );
}

#[test]
fn corrupt_or_foreign_baseline_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("www");
    web_root(&root);
    let baseline = dir.path().join("baseline.json");
    for (text, want) in [
        ("{\"version\":1,\"files\":{\"x\":", "corrupt"),
        ("", "corrupt"),
        ("[1,2,3]", "corrupt"),
        (
            "{\"version\":7,\"scanner\":\"x\",\"files\":{}}",
            "version 7",
        ),
    ] {
        fs::write(&baseline, text).expect("write");
        let (code, out, err) = kura_scan(&[
            "--format",
            "json",
            "--baseline",
            path(&baseline),
            path(&root),
        ]);
        assert_eq!(code, 2, "{text:?}: {out} {err}");
        assert!(
            err.contains("baseline.json") && err.contains(want),
            "{text:?}: {err}"
        );
        assert!(out.is_empty(), "no report on a bad baseline: {out}");
        assert_eq!(
            fs::read_to_string(&baseline).expect("read"),
            text,
            "a bad baseline is left alone"
        );
    }
    // A folder where the baseline should be: unreadable, also an error.
    let (code, _, err) = kura_scan(&["--baseline", path(dir.path()), path(&root)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("baseline"), "{err}");
}

#[test]
fn a_baseline_in_use_by_another_run_is_an_error_and_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("www");
    web_root(&root);
    let baseline = dir.path().join("nightly.json");
    // Another run holds the lock (as `kura scan` does for its whole run).
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.path().join("nightly.json.lock"))
        .expect("lock file");
    lock.try_lock().expect("locked");
    let (code, out, err) = kura_scan(&["--baseline", path(&baseline), path(&root)]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("in use by another kura scan"), "{err}");
    assert!(
        !baseline.exists(),
        "nothing written while another run holds it"
    );
    drop(lock);
    let (code, _, err) = kura_scan(&["--baseline", path(&baseline), path(&root)]);
    assert_eq!(code, 0, "{err}");
    assert!(baseline.exists());
}
