//! Witnessed checkpoints end to end: `kura serve` publishes its checkpoints to a directory
//! and to a `kura witness serve`; an attacker who can write the database cuts off the log's
//! tail (leaves, stored hashes, checkpoints, counters: a consistent shorter log that plain
//! `kura audit verify` accepts); the witnessed checkpoint catches it, and the witness
//! refuses to cosign the shortened log's next checkpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

struct Witness(Child);

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_witness(state: &Path) -> (Witness, String) {
    let mut child = Command::new(kura_bin())
        .args([
            "witness",
            "serve",
            "--state",
            state.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("witness listening on ")
        .unwrap_or_else(|| panic!("witness did not start: {line}"))
        .to_owned();
    (Witness(child), url)
}

/// The size line of a checkpoint note.
fn size_of(note: &str) -> u64 {
    note.lines().nth(1).unwrap().parse().unwrap()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_cut_off_tail_is_caught_by_the_witnessed_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let vault = t.join("vault");
    let vault_s = vault.to_str().unwrap();
    let (code, out, err) = kura(&with_owner(&["init", "--data", vault_s, "--json"]), t);
    assert_eq!(code, 0, "{err}");
    let operator: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let (code, log_key, err) = kura(&["audit", "key", "--data", vault_s], t);
    assert_eq!(code, 0, "{err}");

    // The auditor's witness.
    let state = t.join("witness");
    let state_s = state.to_str().unwrap();
    let (code, wkey, err) = kura(
        &[
            "witness",
            "init",
            "--state",
            state_s,
            "--name",
            "witness.test",
        ],
        t,
    );
    assert_eq!(code, 0, "{err}");
    let wkey = wkey.trim().to_owned();
    assert!(wkey.starts_with("witness.test+"), "{wkey}");
    let (code, _, err) = kura(
        &[
            "witness",
            "add-log",
            "--state",
            state_s,
            "--key",
            log_key.trim(),
        ],
        t,
    );
    assert_eq!(code, 0, "{err}");
    let (_witness, wurl) = start_witness(&state);

    let published = t.join("published");
    let config = t.join("kura.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\ncheckpoint_every_ms = 50\npublish_every_ms = 100\ncheckpoint_dir = \"{}\"\n\n[[audit.witnesses]]\nurl = \"{wurl}\"\nkey = \"{wkey}\"\n",
            published.display()
        ),
    )
    .unwrap();
    let config_s = config.to_str().unwrap();
    let mut s = serve(&vault, &["--config", config_s], t);
    s.key = operator["operator_key"].as_str().unwrap().to_owned();
    for i in 0..8 {
        let id = s.create(&marked_subject("witness", i));
        assert_eq!(
            s.get(&format!("/v1/collections/accounts/subjects/{id}"))
                .status,
            200
        );
    }
    let cosigned = published.join("cosigned-witness.test");
    wait_for("a cosigned checkpoint of at least 16 entries", || {
        std::fs::read_to_string(&cosigned).is_ok_and(|n| size_of(&n) >= 16)
    });
    // The metrics show the log, the checkpoint, the witness, key operations and errors by
    // code — counts only.
    let missing = s.get("/v1/collections/accounts/subjects/00000000-0000-7000-8000-000000000000");
    assert_eq!(missing.status, 404);
    let metric = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from {text}"))
    };
    wait_for("the log watch to see the checkpoint", || {
        metric(&s.get("/v1/metrics").text, "kura_audit_checkpoint_size ") >= 16
    });
    let m = s.get("/v1/metrics").text;
    assert!(metric(&m, "kura_audit_log_entries ") >= 16, "{m}");
    assert!(
        metric(&m, "kura_audit_checkpoint_timestamp_seconds ") > 1_700_000_000,
        "{m}"
    );
    assert!(
        metric(&m, "kura_witness_last_cosigned_timestamp_seconds ") > 1_700_000_000,
        "{m}"
    );
    assert!(
        metric(&m, "kura_key_operations_total{op=\"wrap\"} ") >= 8,
        "{m}"
    );
    assert!(
        metric(&m, "kura_http_responses_total{class=\"ok\"} ") >= 16,
        "{m}"
    );
    assert!(
        metric(&m, "kura_http_errors_total{code=\"subject_not_found\"} ") >= 1,
        "{m}"
    );
    assert!(
        !m.contains('@') && !m.contains(&s.key[..13]),
        "no address or key in a label"
    );
    assert_eq!(s.terminate(), 0);
    let (code, latest, err) = kura(
        &[
            "witness",
            "latest",
            "--state",
            state_s,
            "--log",
            log_key.trim(),
        ],
        t,
    );
    assert_eq!(code, 0, "{err}");
    let witnessed = size_of(&latest);
    let wfile = t.join("witnessed.checkpoint");
    std::fs::write(&wfile, &latest).unwrap();
    let wfile_s = wfile.to_str().unwrap();

    // The intact log verifies against the witnessed checkpoint and the published directory.
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--data", vault_s];
        args.extend_from_slice(extra);
        kura(&args, t)
    };
    let (code, out, err) = verify(&["--witness", wfile_s, "--witness-key", &wkey]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("witnessed by witness.test"), "{out}");
    let (code, out, err) = verify(&["--checkpoint", published.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");

    // A cosignature that does not verify is refused, whatever the log says.
    let mut forged = latest.clone();
    let at = forged.rfind("— witness.test ").unwrap() + "— witness.test ".len() + 10;
    let c = if &forged[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, c);
    std::fs::write(t.join("forged"), &forged).unwrap();
    let (code, _, err) = verify(&[
        "--witness",
        t.join("forged").to_str().unwrap(),
        "--witness-key",
        &wkey,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no valid cosignature"), "{err}");

    // The attacker cuts the log back to its first checkpoint, consistently: leaves, stored
    // hashes, checkpoints, history rows and the integrated size.
    let db = rusqlite::Connection::open(vault.join("data.db")).unwrap();
    let k: u64 = db
        .query_row("SELECT min(size) FROM audit_checkpoints", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64;
    assert!(k < witnessed, "first checkpoint {k}, witnessed {witnessed}");
    let hashes = kura_tlog::stored_hash_count(k);
    db.execute_batch(&format!(
        "DELETE FROM audit_log WHERE seq >= {k};
         DELETE FROM audit_hashes WHERE idx >= {hashes};
         DELETE FROM audit_checkpoints WHERE size > {k};
         DELETE FROM audit_subjects WHERE seq >= {k};
         UPDATE counters SET next = {k} WHERE name = 'audit_integrated';"
    ))
    .unwrap();
    drop(db);
    let (code, out, err) = verify(&[]);
    assert_eq!(code, 0, "the shortened log is self-consistent: {out}{err}");
    let (code, out, err) = verify(&["--witness", wfile_s, "--witness-key", &wkey]);
    assert_eq!(code, 1, "the witnessed checkpoint catches it: {out}{err}");
    assert!(err.contains("FAILED"), "{err}");
    let (code, _, err) = verify(&["--checkpoint", published.to_str().unwrap()]);
    assert_eq!(code, 1, "so does the published directory: {err}");

    // Served again, the shortened log's new checkpoints are refused by the witness.
    let mut s = serve(&vault, &["--config", config_s], t);
    s.key = operator["operator_key"].as_str().unwrap().to_owned();
    s.create(&marked_subject("after", 1));
    wait_for("the witness to refuse", || {
        let m = s.get("/v1/metrics").text;
        m.lines()
            .find_map(|l| l.strip_prefix("kura_witness_failures_total "))
            .is_some_and(|v| v.trim() != "0")
    });
    assert!(
        s.logs().contains("not witnessed"),
        "the refusal is logged: {}",
        s.logs()
    );
    // The attacker lets the log grow past the witnessed size: a rewritten history, every
    // checkpoint validly signed by the log's own key.
    for i in 0..witnessed as usize {
        s.create(&marked_subject("rewrite", i));
    }
    let metric = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    };
    wait_for("a checkpoint beyond the witnessed size", || {
        metric(&s.get("/v1/metrics").text, "kura_audit_checkpoint_size ") > witnessed
    });
    assert_eq!(s.terminate(), 0);
    let (code, out, err) = verify(&[]);
    assert_eq!(code, 0, "the rewritten log is self-consistent: {out}{err}");
    let (code, out, err) = verify(&["--witness", wfile_s, "--witness-key", &wkey]);
    assert_eq!(
        code, 1,
        "the witnessed checkpoint catches the rewrite: {out}{err}"
    );
    let (code, _, err) = verify(&["--checkpoint", published.to_str().unwrap()]);
    assert_eq!(code, 1, "so do the checkpoints published before it: {err}");
    let (_, still, _) = kura(
        &[
            "witness",
            "latest",
            "--state",
            state_s,
            "--log",
            log_key.trim(),
        ],
        t,
    );
    assert_eq!(
        size_of(&still),
        witnessed,
        "the witness kept what it had cosigned"
    );
}
