//! End-to-end tests of the verifiable access log (issue 4) through the real binary:
//! exactly the right events per route, checkpoints and proofs over HTTP, offline
//! verification that locates tampering, and fail-closed behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use util::{Server, kura, start};

fn leaves_in_db(s: &Server) -> u64 {
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

fn entry(s: &Server, i: u64) -> Value {
    let r = s.get(&format!("/v1/audit/entries/{i}"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["event"].clone()
}

fn person(login: &str) -> Value {
    json!({"country": "JP", "locale": "ja", "fields": {"login_id": login, "email": format!("{login}@example.jp"), "name": "山田"}})
}

/// What one event must say: action, outcome, number of subjects, field names.
struct Expect {
    action: &'static str,
    outcome: &'static str,
    subjects: usize,
    fields: &'static [&'static str],
}

fn subjects_len(ev: &Value) -> usize {
    let s = &ev["subjects"];
    if let Some(a) = s.as_array() {
        return a.len();
    }
    for k in ["ids", "list"] {
        if let Some(a) = s[k].as_array() {
            return a.len();
        }
    }
    s["count"]
        .as_u64()
        .or_else(|| s["len"].as_u64())
        .unwrap_or(0) as usize
}

#[test]
fn every_route_produces_exactly_its_events() {
    let s = start();
    let id = s.create(&person("alice"));
    let subj = format!("/v1/collections/accounts/subjects/{id}");
    let unknown = "/v1/collections/accounts/subjects/0190d6c4-0000-7000-8000-000000000000";
    let import_body = [
        person("imp1").to_string(),
        json!({"country": "JP", "locale": "ja", "fields": {"email": "no-login@example.jp"}})
            .to_string(),
        person("imp2").to_string(),
    ]
    .join("\n");
    type Case = (
        &'static str,
        String,
        Option<String>,
        Vec<(&'static str, &'static str)>,
        u16,
        Vec<Expect>,
    );
    let cases: Vec<Case> = vec![
        ("POST", "/v1/collections/accounts/subjects".into(), Some(person("bob").to_string()), vec![], 201,
         vec![Expect { action: "create", outcome: "ok", subjects: 1, fields: &["email", "login_id", "name"] }]),
        ("POST", "/v1/collections/accounts/subjects".into(), Some(json!({"country":"JP","locale":"ja","fields":{"login_id":"x","email":"x@y.jp","birth_date":"1990-02-30"}}).to_string()), vec![], 400,
         vec![Expect { action: "create", outcome: "error:invalid_value", subjects: 0, fields: &[] }]),
        ("GET", subj.clone(), None, vec![], 200,
         vec![Expect { action: "read", outcome: "ok", subjects: 1, fields: &["email", "login_id", "name"] }]),
        ("GET", format!("{subj}?fields=email"), None, vec![], 200,
         vec![Expect { action: "read", outcome: "ok", subjects: 1, fields: &["email"] }]),
        ("GET", unknown.into(), None, vec![], 404,
         vec![Expect { action: "read", outcome: "error:subject_not_found", subjects: 0, fields: &[] }]),
        ("GET", format!("/v1/collections/nope/subjects/{id}"), None, vec![], 404,
         vec![Expect { action: "read", outcome: "error:unknown_collection", subjects: 0, fields: &[] }]),
        ("POST", "/v1/collections/accounts/search".into(), Some(json!({"field":"login_id","value":"alice"}).to_string()), vec![], 200,
         vec![Expect { action: "search", outcome: "ok", subjects: 1, fields: &["login_id"] }]),
        ("POST", "/v1/collections/accounts/search".into(), Some(json!({"field":"email","value":"nobody@example.jp"}).to_string()), vec![], 200,
         vec![Expect { action: "search", outcome: "ok", subjects: 0, fields: &["email"] }]),
        ("POST", "/v1/collections/accounts/search".into(), Some(json!({"field":"birth_date","value":"1990-01-01"}).to_string()), vec![], 422,
         vec![Expect { action: "search", outcome: "error:field_not_searchable", subjects: 0, fields: &["birth_date"] }]),
        ("PATCH", subj.clone(), Some(json!({"fields":{"name":"Alice"}}).to_string()), vec![], 200,
         vec![Expect { action: "patch", outcome: "ok", subjects: 1, fields: &["name"] }]),
        ("PATCH", subj.clone(), Some(json!({"fields":{"login_id":null}}).to_string()), vec![], 400,
         vec![Expect { action: "patch", outcome: "error:missing_required_field", subjects: 0, fields: &["login_id"] }]),
        ("GET", format!("{subj}/access-log"), None, vec![], 200,
         vec![Expect { action: "read", outcome: "ok", subjects: 1, fields: &["access_log"] }]),
        ("POST", "/v1/collections/accounts/import".into(), Some(import_body), vec![], 200,
         vec![Expect { action: "import", outcome: "error:missing_required_field", subjects: 0, fields: &[] },
              Expect { action: "import", outcome: "ok", subjects: 2, fields: &["email", "login_id", "name"] }]),
        ("DELETE", subj.clone(), None, vec![], 200,
         vec![Expect { action: "delete", outcome: "ok", subjects: 1, fields: &[] }]),
        ("DELETE", subj.clone(), None, vec![], 404,
         vec![Expect { action: "delete", outcome: "error:subject_not_found", subjects: 0, fields: &[] }]),
        // Refused before any data is reached (no identity, or no stated purpose): answered
        // and logged as a server log line, not as an access event.
        ("GET", subj.clone(), None, vec![("Authorization", "")], 401, vec![]),
        ("GET", subj.clone(), None, vec![("X-Kura-Purpose", "")], 400, vec![]),
    ];
    // The first operator is a principal of the owning organization.
    let operator = s
        .get("/v1/principals")
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "operator")
        .expect("an operator principal")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path, body, headers, status, expected) in cases {
        let before = leaves_in_db(&s);
        let r = s.req(method, &path, body.as_deref(), &headers);
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        let after = leaves_in_db(&s);
        assert_eq!(
            (after - before) as usize,
            expected.len(),
            "{method} {path}: wrong number of events"
        );
        for (k, want) in expected.iter().enumerate() {
            let ev = entry(&s, before + k as u64);
            assert_eq!(ev["action"], want.action, "{method} {path}: {ev}");
            assert_eq!(ev["outcome"], want.outcome, "{method} {path}: {ev}");
            assert_eq!(ev["principal"], operator.as_str(), "{ev}");
            assert_eq!(ev["purpose"], "testing", "{ev}");
            assert_eq!(subjects_len(&ev), want.subjects, "{method} {path}: {ev}");
            let fields: Vec<&str> = ev["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            assert_eq!(fields, want.fields, "{method} {path}: {ev}");
            assert!(ev["request_id"].as_str().is_some_and(|r| !r.is_empty()));
            // No value ever reaches an event.
            let text = ev.to_string();
            assert!(
                !text.contains("example.jp") && !text.contains("山田"),
                "{text}"
            );
        }
    }
}

fn wait_for_checkpoint(s: &Server, min_size: u64) -> String {
    let start = Instant::now();
    loop {
        let r = s.get("/v1/audit/checkpoint");
        if r.status == 200 {
            let size: u64 = r.text.lines().nth(1).unwrap().parse().unwrap();
            if size >= min_size {
                return r.text;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no checkpoint: {}",
            r.text
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn checkpoints_and_proofs_are_served_and_verify() {
    let s = start();
    for i in 0..10 {
        s.create(&person(&format!("cp{i}")));
    }
    let note = wait_for_checkpoint(&s, 10);
    let tmp = tempfile::tempdir().unwrap();
    let (code, vkey, err) = kura(
        &["audit", "key", "--data", s.dir.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let vkey = vkey.trim();
    // C2SP vkey: name+hexkeyid+base64; the note's signature line names the same key.
    // name+keyid+base64: the name and the hex key id hold no '+', the base64 part may.
    let parts: Vec<&str> = vkey.splitn(3, '+').collect();
    assert_eq!(parts.len(), 3, "{vkey}");
    assert_eq!(parts[1].len(), 8);
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], parts[0], "origin line is the key name");
    assert!(lines[3].is_empty(), "{note}");
    assert!(
        lines[4].starts_with(&format!("\u{2014} {} ", parts[0])),
        "{note}"
    );
    let size: u64 = lines[1].parse().unwrap();
    // Proofs.
    let r = s.get(&format!("/v1/audit/proof/inclusion?index=3&size={size}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.body["hashes"].as_array().unwrap().is_empty());
    let r = s.get(&format!("/v1/audit/proof/consistency?from=4&to={size}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.body["hashes"].as_array().unwrap().is_empty());
    let r = s.get(&format!(
        "/v1/audit/proof/inclusion?index={size}&size={size}"
    ));
    assert_eq!(r.status, 400, "{}", r.text);
    // An auditor keeps this checkpoint; later the log grows and still verifies against it.
    let saved = tmp.path().join("checkpoint.txt");
    std::fs::write(&saved, &note).unwrap();
    for i in 0..5 {
        s.create(&person(&format!("later{i}")));
    }
    let (code, out, err) = kura(
        &[
            "audit",
            "verify",
            "--data",
            s.dir.to_str().unwrap(),
            "--checkpoint",
            saved.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified"), "{out}");
    assert!(out.contains("auditor's checkpoint"), "{out}");
}

/// Copies a stopped vault so each tampering starts from the same good log.
fn copy_vault(from: &Path, key: &Path, to: &Path) -> std::path::PathBuf {
    let dir = to.join("vault");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::copy(key, to.join("vault.key")).unwrap();
    dir
}

fn verify(dir: &Path, cwd: &Path) -> (i32, String) {
    let (code, out, err) = kura(&["audit", "verify", "--data", dir.to_str().unwrap()], cwd);
    (code, format!("{out}{err}"))
}

#[test]
fn tampering_with_the_log_is_detected_and_located() {
    let mut s = start();
    for i in 0..30 {
        s.create(&person(&format!("t{i}")));
    }
    wait_for_checkpoint(&s, 30);
    assert_eq!(s.terminate(), 0);
    let key = s.dir.parent().unwrap().join("vault.key");
    let tmp = tempfile::tempdir().unwrap();
    let good = copy_vault(&s.dir, &key, &tmp.path().join("good"));
    let (code, out) = verify(&good, tmp.path());
    assert_eq!(code, 0, "{out}");

    let tamper = |name: &str, sql: &str| -> (i32, String) {
        let dir = copy_vault(&s.dir, &key, &tmp.path().join(name));
        let c = rusqlite::Connection::open(dir.join("data.db")).unwrap();
        c.execute_batch(sql).unwrap();
        drop(c);
        verify(&dir, tmp.path())
    };
    // Change one byte of entry 7.
    let (code, out) = tamper(
        "byte",
        "UPDATE audit_log SET leaf = CAST(substr(leaf, 1, 20) || X'5A' || substr(leaf, 22) AS BLOB) WHERE seq = 7;",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(
        out.contains("first broken entry: 7\n"),
        "names entry 7: {out}"
    );
    // Delete entry 12.
    let (code, out) = tamper("delete", "DELETE FROM audit_log WHERE seq = 12;");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("first broken entry: 12\n"),
        "names entry 12: {out}"
    );
    // Swap entries 3 and 4.
    let (code, out) = tamper(
        "swap",
        "UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = -1;",
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("first broken entry: 3\n"),
        "names entry 3: {out}"
    );
    // Insert a forged entry in the middle (shift the tail up by one, copy entry 5 into 6).
    let (code, out) = tamper(
        "insert",
        "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 6; UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1006; INSERT INTO audit_log (seq, leaf) SELECT 6, leaf FROM audit_log WHERE seq = 5;",
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("first broken entry: 6\n"),
        "names entry 6: {out}"
    );
    // Truncate the tail below the signed checkpoint, re-signing nothing.
    let (code, out) = tamper("truncate", "DELETE FROM audit_log WHERE seq >= 25;");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("first broken entry: 25\n"),
        "names entry 25: {out}"
    );
}

#[test]
fn when_the_log_cannot_be_written_the_request_fails_and_returns_no_data() {
    let s = start();
    let id = s.create(&json!({"country": "JP", "locale": "ja", "fields": {"login_id": "secretive", "email": "hidden@example.jp", "name": "秘密"}}));
    let rows = s.row_count();
    // Someone breaks the log table underneath the running server.
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    c.execute_batch("ALTER TABLE audit_log RENAME TO audit_log_gone;")
        .unwrap();
    let r = s.get(&format!("/v1/collections/accounts/subjects/{id}"));
    assert_eq!(
        (r.status, r.code()),
        (503, "audit_unavailable"),
        "{}",
        r.text
    );
    assert!(
        !r.text.contains("hidden") && !r.text.contains("秘密"),
        "{}",
        r.text
    );
    let r = s.post(
        "/v1/collections/accounts/search",
        &json!({"field": "login_id", "value": "secretive"}),
    );
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(
        !r.text.contains(&id),
        "search must not reveal ids: {}",
        r.text
    );
    let r = s.post("/v1/collections/accounts/subjects", &person("nolog"));
    assert!(r.status >= 500, "{}", r.text);
    assert_eq!(s.row_count(), rows, "nothing was written without its event");
    let r = s.req(
        "PATCH",
        &format!("/v1/collections/accounts/subjects/{id}"),
        Some(&json!({"fields":{"name":"x"}}).to_string()),
        &[],
    );
    assert!(r.status >= 500, "{}", r.text);
    // Restored: served again.
    c.execute_batch("ALTER TABLE audit_log_gone RENAME TO audit_log;")
        .unwrap();
    let r = s.get(&format!("/v1/collections/accounts/subjects/{id}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"]["name"], "秘密");
}

/// A read or a search is not answered while its access event cannot be written: another
/// process holds `data.db`'s write lock, the appender's commit times out, and the client
/// gets 503 `audit_unavailable` with nothing of the subject in it. Once the lock is gone,
/// the same read is served and logged.
#[test]
fn nothing_is_answered_while_its_access_event_cannot_be_written() {
    let s = start();
    let id = s.create(&person("carol"));
    let subj = format!("/v1/collections/accounts/subjects/{id}");
    assert_eq!(s.get(&subj).status, 200);
    let before = leaves_in_db(&s);
    let lock = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let (read, search) = std::thread::scope(|t| {
        let read = t.spawn(|| s.get(&subj));
        let search = t.spawn(|| {
            s.post(
                "/v1/collections/accounts/search",
                &json!({"field": "login_id", "value": "carol"}),
            )
        });
        (read.join().unwrap(), search.join().unwrap())
    });
    lock.execute_batch("ROLLBACK").unwrap();
    for r in [&read, &search] {
        assert_eq!(r.status, 503, "{}", r.text);
        assert_eq!(r.code(), "audit_unavailable", "{}", r.text);
        assert!(
            !r.text.contains("carol") && !r.text.contains(&id),
            "{}",
            r.text
        );
    }
    // The answers waited for the store's busy timeout: they were held, not sent early.
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(leaves_in_db(&s), before, "neither event was written");
    let r = s.get(&subj);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"]["login_id"], "carol");
    assert_eq!(leaves_in_db(&s), before + 1);
}
