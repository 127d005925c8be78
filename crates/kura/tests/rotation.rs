//! Online key rotation through the real binary: `kura keys rotate` re-wraps every data key
//! under a new KEK while `kura serve` keeps reading and writing; a rotation killed with
//! SIGKILL resumes; afterwards the old version is destroyed and everything still opens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use util::*;

/// Imports `n` subjects over HTTP; returns their ids.
fn import(s: &Server, tag: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let body: Vec<String> = chunk
            .iter()
            .map(|i| marked_subject(&format!("{tag}{i}"), *i).to_string())
            .collect();
        let r = s.req(
            "POST",
            "/v1/collections/accounts/import",
            Some(&body.join("\n")),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.text);
        for id in r.body["ids"].as_array().unwrap() {
            ids.push(id.as_str().expect("every line imported").to_owned());
        }
    }
    ids
}

fn status(s: &Server) -> serde_json::Value {
    let (code, out, err) = kura(
        &[
            "keys",
            "status",
            "--data",
            s.dir.to_str().unwrap(),
            "--json",
        ],
        s.dir.parent().unwrap(),
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(out.trim()).unwrap()
}

fn count_under(st: &serde_json::Value, version: u64) -> u64 {
    st["data_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["version"] == version)
        .map_or(0, |e| e["count"].as_u64().unwrap())
}

fn read_all(s: &Server, ids: &[String]) {
    for id in ids {
        let r = s.get(&format!("/v1/collections/accounts/subjects/{id}"));
        assert_eq!(r.status, 200, "{id}: {}", r.text);
    }
}

#[test]
fn rotation_under_load_loses_nothing_and_the_old_kek_can_be_destroyed() {
    let s = start();
    let mut ids = import(&s, "base", 1200);
    let stop = Arc::new(AtomicBool::new(false));
    // Load: one thread creates, one reads, for as long as the rotation runs.
    let created = {
        let stop = stop.clone();
        let (base, key) = (s.base.clone(), s.key.clone());
        std::thread::spawn(move || {
            let mut made = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = agent()
                    .post(format!("{base}/v1/collections/accounts/subjects"))
                    .header("Authorization", format!("Bearer {key}"))
                    .header("X-Kura-Purpose", "testing")
                    .header("Content-Type", "application/json")
                    .send(marked_subject("during", i).to_string())
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201, "a create failed during rotation");
                let v: serde_json::Value =
                    serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap();
                made.push(v["id"].as_str().unwrap().to_owned());
                i += 1;
            }
            made
        })
    };
    let reader = {
        let stop = stop.clone();
        let (base, key, ids) = (s.base.clone(), s.key.clone(), ids.clone());
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let id = &ids[n % ids.len()];
                let r = agent()
                    .get(format!("{base}/v1/collections/accounts/subjects/{id}"))
                    .header("Authorization", format!("Bearer {key}"))
                    .header("X-Kura-Purpose", "testing")
                    .call()
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200, "a read failed during rotation");
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let cwd = s.dir.parent().unwrap().to_owned();
    let (code, out, err) = kura(
        &[
            "keys",
            "rotate",
            "--data",
            s.dir.to_str().unwrap(),
            "--page",
            "100",
            "--json",
        ],
        &cwd,
    );
    stop.store(true, Ordering::Relaxed);
    let made = created.join().expect("no create failed");
    let reads = reader.join().expect("no read failed");
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["target"], 2);
    assert!(report["rewrapped"].as_u64().unwrap() >= 1200, "{report}");
    assert!(
        !made.is_empty() && reads > 0,
        "load ran: {} creates, {reads} reads",
        made.len()
    );
    ids.extend(made);
    // Nothing is left under version 1, and everything opens.
    let st = status(&s);
    assert_eq!(st["current"], 2);
    assert_eq!(count_under(&st, 1), 0, "{st}");
    assert_eq!(
        count_under(&st, 2),
        ids.len() as u64,
        "every key is under the new version: {st}"
    );
    read_all(&s, &ids);
    // The old version is destroyed; the running server and a restarted one read everything.
    let (code, out, err) = kura(
        &[
            "keys",
            "retire",
            "--data",
            s.dir.to_str().unwrap(),
            "--kek",
            "1",
        ],
        &cwd,
    );
    assert_eq!(code, 0, "{out}{err}");
    let key_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.with_extension("key")).unwrap())
            .unwrap();
    assert_eq!(
        key_file["keks"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["2"]
    );
    read_all(&s, &ids[..50]);
    let (code, _, err) = kura(
        &[
            "keys",
            "retire",
            "--data",
            s.dir.to_str().unwrap(),
            "--kek",
            "2",
        ],
        &cwd,
    );
    assert_ne!(code, 0, "the current version is never destroyed");
    assert!(err.contains("current"), "{err}");
    let dir = s.dir.clone();
    let key = s.key.clone();
    let mut s = s;
    assert_eq!(s.terminate(), 0);
    let mut again = serve(&dir, &[], &cwd);
    again.key = key;
    read_all(&again, &ids);
    assert_eq!(again.terminate(), 0);
}

#[test]
fn a_rotation_killed_midway_resumes_and_then_retires_the_old_kek() {
    let mut s = start();
    let ids = import(&s, "kill", 3000);
    let cwd = s.dir.parent().unwrap().to_owned();
    let data = s.dir.to_str().unwrap().to_owned();
    let mut child = Command::new(kura_bin())
        .args(["keys", "rotate", "--data", &data, "--page", "20", "--json"])
        .current_dir(&cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has saved progress but before it is done.
    let db = s.dir.join("data.db");
    let start = Instant::now();
    loop {
        let c = rusqlite::Connection::open(&db).unwrap();
        let v: Option<String> = c
            .query_row(
                "SELECT value FROM marks WHERE name = 'keys.rotation'",
                [],
                |r| r.get(0),
            )
            .ok();
        if v.is_some_and(|v| v.contains("\"after\":\"")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "rotation made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let st = status(&s);
    assert!(count_under(&st, 1) > 0, "killed midway: {st}");
    assert!(count_under(&st, 2) > 0, "killed midway: {st}");
    // The server still reads everything, old and new wrapping alike.
    read_all(&s, &ids[..200]);
    let (code, out, err) = kura(
        &["keys", "rotate", "--data", &data, "--retire", "--json"],
        &cwd,
    );
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["resumed"], true, "{report}");
    assert_eq!(report["target"], 2, "no second new version: {report}");
    assert_eq!(report["retired"], json!([1]), "{report}");
    let st = status(&s);
    assert_eq!(count_under(&st, 1), 0);
    assert_eq!(st["versions"], json!([2]));
    read_all(&s, &ids);
    // Each step is in the access log.
    let dir = s.dir.clone();
    let key = s.key.clone();
    assert_eq!(s.terminate(), 0);
    let (code, out, err) = kura(&["audit", "verify", "--data", dir.to_str().unwrap()], &cwd);
    assert_eq!(code, 0, "{out}{err}");
    let c = rusqlite::Connection::open(dir.join("data.db")).unwrap();
    let mut stmt = c.prepare("SELECT leaf FROM audit_log").unwrap();
    let steps: Vec<String> = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .filter_map(|l| kura_audit::AccessEvent::from_leaf(&l.unwrap()).ok())
        .filter(|e| e.action == kura_audit::Action::KeyRotate)
        .flat_map(|e| e.fields.into_iter().filter(|f| f.starts_with("step:")))
        .collect();
    for want in [
        "step:start",
        "step:rewrap",
        "step:resume",
        "step:finish",
        "step:retire",
    ] {
        assert!(
            steps.iter().any(|s| s == want),
            "{want} missing from {steps:?}"
        );
    }
    let mut again = serve(&dir, &[], &cwd);
    again.key = key;
    read_all(&again, &ids);
}
