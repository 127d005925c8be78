//! Organizations, principals, policies and containment through the real binary, the real
//! SQLite store and HTTP (issue 5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use util::{Server, full_subject, kura};

/// The policy document of the issue, word for word.
const SUPPORT_POLICY: &str = r#"{"collection":"accounts","purposes":["support"],"actions":["read","search"],
  "fields":{"name":"plain","email":"masked","phone":"masked","birth_date":"denied"},
  "quota":{"subjects":100,"window_secs":3600}}"#;

/// A vault initialized in a temp dir, served with `config` (TOML), with the operator key.
fn start_with(config: &str) -> (Server, tempfile::TempDir) {
    util::start_with_config(config)
}

fn cli(s: &Server, cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    let data = s.dir.to_str().unwrap().to_owned();
    all.extend_from_slice(&["--data", &data]);
    kura(&all, cwd)
}

/// `kura org create ID` with Hanako Sato as security officer; returns (exit code, stderr).
fn create_org(s: &Server, cwd: &Path, org: &str, contact: &str) -> (i32, String) {
    let (code, _, err) = cli(
        s,
        cwd,
        &[
            "org",
            "create",
            org,
            "--name",
            org,
            "--officer-name",
            "Hanako Sato",
            "--officer-contact",
            contact,
        ],
    );
    (code, err)
}

/// `kura org create` with a security officer, then `kura principal create --json`.
fn principal(
    s: &Server,
    cwd: &Path,
    org: &str,
    name: &str,
    kind: &str,
    policy: &str,
) -> (String, String) {
    // Register the organization unless it exists already.
    let (code, err) = create_org(s, cwd, org, "security@example.com");
    assert!(code == 0 || err.contains("(conflict)"), "{err}");
    let file = cwd.join(format!("{name}.json"));
    std::fs::write(&file, policy).unwrap();
    let (code, out, err) = cli(
        s,
        cwd,
        &[
            "principal",
            "create",
            "--org",
            org,
            "--name",
            name,
            "--kind",
            kind,
            "--policy",
            file.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["api_key"].as_str().unwrap().to_owned(),
    )
}

fn as_key(
    s: &Server,
    key: &str,
    purpose: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> util::Resp {
    let auth = format!("Bearer {key}");
    let text = body.map(Value::to_string);
    s.req(
        method,
        path,
        text.as_deref(),
        &[("Authorization", &auth), ("X-Kura-Purpose", purpose)],
    )
}

/// Imports `n` subjects over HTTP in one request; returns their ids in order.
fn import(s: &Server, n: usize) -> Vec<String> {
    let body: Vec<String> = (0..n)
        .map(|i| {
            let mut v = full_subject();
            v["fields"]["login_id"] = json!(format!("user{i:05}"));
            v["fields"]["email"] = json!(format!("user{i:05}@example.jp"));
            v.to_string()
        })
        .collect();
    let r = s.req(
        "POST",
        "/v1/collections/accounts/import",
        Some(&body.join("\n")),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_organization_needs_a_security_officer() {
    let (s, tmp) = start_with("");
    // CLI: empty officer name refused, nothing stored.
    let (code, _, err) = cli(
        &s,
        tmp.path(),
        &[
            "org",
            "create",
            "acme",
            "--name",
            "Acme",
            "--officer-name",
            " ",
            "--officer-contact",
            "sec@acme.example",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("security officer"), "{err}");
    // HTTP: no officer at all → invalid body; empty → security_officer_required.
    let r = s.post("/v1/orgs", &json!({"id": "acme", "name": "Acme"}));
    assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.text);
    let r = s.post(
        "/v1/orgs",
        &json!({"id": "acme", "name": "Acme",
        "security_officer": {"name": "", "contact": ""}}),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "security_officer_required"),
        "{}",
        r.text
    );
    let r = s.post(
        "/v1/orgs",
        &json!({"id": "acme", "name": "Acme",
        "security_officer": {"name": "Taro", "contact": "not a contact"}}),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_contact"), "{}", r.text);
    // Only the owner `kura init` registered.
    assert_eq!(s.get("/v1/orgs").body.as_array().unwrap().len(), 1);
    // A holder, then a processor it supervises; a processor needs a supervisor.
    let r = s.post(
        "/v1/orgs",
        &json!({"id": "acme", "name": "Acme",
        "security_officer": {"name": "Taro Yamada", "contact": "security@acme.example"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s.post(
        "/v1/orgs",
        &json!({"id": "callcenter", "name": "Call Center Ltd",
        "role": "processor", "security_officer": {"name": "Ann Lee", "contact": "+1 555 0100"}}),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "supervisor_required"),
        "{}",
        r.text
    );
    let (code, out, err) = cli(
        &s,
        tmp.path(),
        &[
            "org",
            "create",
            "callcenter",
            "--name",
            "Call Center Ltd",
            "--role",
            "processor",
            "--supervisor",
            "acme",
            "--officer-name",
            "Ann Lee",
            "--officer-contact",
            "+1 555 0100",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"supervisor\": \"acme\""), "{out}");
    let r = s.post(
        "/v1/orgs",
        &json!({"id": "acme", "name": "Again",
        "security_officer": {"name": "X Y", "contact": "x@y.example"}}),
    );
    assert_eq!((r.status, r.code()), (409, "conflict"));
    let list = s.get("/v1/orgs").body;
    assert_eq!(list.as_array().unwrap().len(), 3, "owner, acme, callcenter");
    assert_eq!(
        s.get("/v1/orgs/callcenter").body["security_officer"]["name"],
        "Ann Lee"
    );
    let (code, out, _) = cli(&s, tmp.path(), &["org", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("callcenter") && out.contains("Ann Lee"),
        "{out}"
    );
    // Only operators administer.
    let (_, key) = principal(&s, tmp.path(), "acme", "svc", "service", SUPPORT_POLICY);
    let r = as_key(&s, &key, "support", "GET", "/v1/orgs", None);
    assert_eq!((r.status, r.code()), (403, "operator_only"));
}

#[test]
fn policy_modes_and_precise_refusals() {
    let (s, tmp) = start_with("");
    let id = s.create(&full_subject());
    let (pid, key) = principal(
        &s,
        tmp.path(),
        "acme",
        "support-desk",
        "processor",
        SUPPORT_POLICY,
    );
    assert!(
        key.starts_with("kura_") && key.len() >= 13 + 1 + 43,
        "{key}"
    );
    let r = as_key(
        &s,
        &key,
        "support",
        "GET",
        &format!("/v1/collections/accounts/subjects/{id}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let f = &r.body["fields"];
    let plain = full_subject();
    assert_eq!(f["name"], plain["fields"]["name"]);
    let email = plain["fields"]["email"].as_str().unwrap();
    let shown = f["email"].as_str().unwrap();
    assert_ne!(shown, email);
    assert_eq!(&shown[..1], &email[..1]);
    assert!(shown.contains("***@"), "{shown}");
    let phone = plain["fields"]["phone"].as_str().unwrap();
    let shown_phone = f["phone"].as_str().unwrap();
    assert!(shown_phone.ends_with(&phone[phone.len() - 2..]) && shown_phone != phone);
    assert!(
        f.get("birth_date").is_none()
            && f.get("postal_address").is_none()
            && f.get("login_id").is_none()
    );
    // Precise refusals, each a 403 with its code.
    let subject = format!("/v1/collections/accounts/subjects/{id}");
    let cases: Vec<(&str, &str, String, Option<Value>, &str)> = vec![
        (
            "support",
            "GET",
            format!("{subject}?fields=birth_date"),
            None,
            "field_denied",
        ),
        (
            "support",
            "GET",
            format!("{subject}?fields=login_id"),
            None,
            "field_denied",
        ),
        ("marketing", "GET", subject.clone(), None, "purpose_denied"),
        (
            "support",
            "PATCH",
            subject.clone(),
            Some(json!({"fields": {"name": "X"}})),
            "action_denied",
        ),
        ("support", "DELETE", subject.clone(), None, "action_denied"),
        (
            "support",
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(full_subject()),
            "action_denied",
        ),
        (
            "support",
            "POST",
            "/v1/collections/accounts/search".into(),
            Some(json!({"field": "login_id", "value": "taro"})),
            "field_denied",
        ),
        (
            "support",
            "GET",
            format!("{subject}/access-log"),
            None,
            "action_denied",
        ),
    ];
    for (purpose, method, path, body, code) in &cases {
        let r = as_key(&s, &key, purpose, method, path, body.as_ref());
        assert_eq!(
            (r.status, r.code()),
            (403, *code),
            "{method} {path}: {}",
            r.text
        );
        assert!(!r.text.contains(email), "refusal leaks a value");
    }
    // Search by e-mail (masked, so allowed) works.
    let r = as_key(
        &s,
        &key,
        "support",
        "POST",
        "/v1/collections/accounts/search",
        Some(&json!({"field": "email", "value": email})),
    );
    assert_eq!(r.body["ids"], json!([id]), "{}", r.text);
    // Every refusal is in the access log, as the supervision report shows.
    let (code, out, err) = cli(&s, tmp.path(), &["report", "org", "acme", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    let p = rep["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == pid.as_str())
        .unwrap();
    assert_eq!(p["denied"]["field_denied"], 3, "{p}");
    assert_eq!(p["denied"]["purpose_denied"], 1);
    assert_eq!(p["denied"]["action_denied"], 4);
    assert_eq!(p["distinct_subjects"], 1);
    assert_eq!(p["categories_by_purpose"]["support"]["name"], 1, "{p}");
    assert!(
        p["categories_by_purpose"]["support"]
            .get("birth_date")
            .is_none()
    );
    let (code, md, _) = cli(&s, tmp.path(), &["report", "org", "acme"]);
    assert_eq!(code, 0);
    assert!(
        md.contains("# Supervision report")
            && md.contains("support-desk")
            && md.contains("Hanako Sato"),
        "{md}"
    );
    // Tightening the policy takes effect at the next request (here: e-mail now denied).
    let tighter = SUPPORT_POLICY.replace(r#""email":"masked""#, r#""email":"denied""#);
    let file = tmp.path().join("tighter.json");
    std::fs::write(&file, &tighter).unwrap();
    let (code, _, err) = cli(
        &s,
        tmp.path(),
        &[
            "principal",
            "update",
            &pid,
            "--policy",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let r = as_key(&s, &key, "support", "GET", &subject, None);
    assert_eq!(r.status, 200);
    assert!(r.body["fields"].get("email").is_none(), "{}", r.text);
    let r = as_key(
        &s,
        &key,
        "support",
        "POST",
        "/v1/collections/accounts/search",
        Some(&json!({"field": "email", "value": email})),
    );
    assert_eq!((r.status, r.code()), (403, "field_denied"));
    let r = s.req(
        "PUT",
        &format!("/v1/principals/{pid}/policies"),
        Some(
            &json!({"policies": [serde_json::from_str::<Value>(SUPPORT_POLICY).unwrap()]})
                .to_string(),
        ),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = as_key(&s, &key, "support", "GET", &subject, None);
    assert!(r.body["fields"]["email"].as_str().unwrap().contains("***@"));
    let r = s.req(
        "PUT",
        &format!("/v1/principals/{pid}/policies"),
        Some(&json!({"policies": []}).to_string()),
        &[],
    );
    assert_eq!((r.status, r.code()), (400, "policy_required"));

    // Key rotation: the old key stops working, the new one works; revocation ends it.
    let r = s.post(&format!("/v1/principals/{pid}/keys"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    let new_key = r.body["api_key"].as_str().unwrap().to_owned();
    let r = as_key(&s, &key, "support", "GET", &subject, None);
    assert_eq!(r.status, 401);
    let r = as_key(&s, &new_key, "support", "GET", &subject, None);
    assert_eq!(r.status, 200);
    let view = s.get(&format!("/v1/principals/{pid}")).body;
    let prefix = view["active_keys"][0].as_str().unwrap().to_owned();
    assert!(new_key.starts_with(&prefix));
    assert!(!view.to_string().contains(&new_key));
    let r = s.req(
        "DELETE",
        &format!("/v1/principals/{pid}/keys/{prefix}"),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        as_key(&s, &new_key, "support", "GET", &subject, None).status,
        401
    );
}

/// A one-shot HTTP receiver on loopback: the first request's body.
fn webhook() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alert", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in l.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, rx)
}

/// The incident a trip of `pid` opened (its only suspect), as `GET /v1/incidents/{id}`
/// shows it.
fn incident_of(s: &Server, pid: &str) -> Value {
    let list = s.get("/v1/incidents").body;
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["suspects"] == json!([pid]))
        .expect("incident opened")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.get(&format!("/v1/incidents/{id}")).body["incident"].clone()
}

#[test]
fn a_stolen_processor_key_obtains_at_most_its_quota() {
    let (url, alerts) = webhook();
    let (s, tmp) = start_with(&format!("[containment]\nwebhook_url = \"{url}\"\n"));
    let ids = import(&s, 10_000);
    assert_eq!(ids.len(), 10_000);
    let policy = SUPPORT_POLICY; // quota: 100 subjects per hour
    let (pid, key) = principal(
        &s,
        tmp.path(),
        "callcenter",
        "stolen-reader",
        "processor",
        policy,
    );

    // The thief reads every subject in a tight loop.
    let mut obtained = BTreeSet::new();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for id in &ids {
        let r = as_key(
            &s,
            &key,
            "support",
            "GET",
            &format!("/v1/collections/accounts/subjects/{id}"),
            None,
        );
        if r.status == 200 {
            obtained.insert(id.clone());
        } else {
            *codes
                .entry(format!("{} {}", r.status, r.code()))
                .or_default() += 1;
        }
    }
    assert_eq!(obtained.len(), 100, "{codes:?}");
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(codes["403 principal_suspended"], 9_900);
    // Suspended in the store, an incident lists exactly what it obtained, an alert went out.
    let view = s.get(&format!("/v1/principals/{pid}")).body;
    assert_eq!(view["suspended_reason"], "containment:quota", "{view}");
    let inc = incident_of(&s, &pid);
    assert_eq!(inc["trigger"], "quota");
    assert_eq!(inc["status"], "open");
    let listed: BTreeSet<String> = inc["containment"]["subjects_obtained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, obtained);
    // `kura incident scope ID`: the spokesperson's numbers, from the real access log.
    let (code, out, err) = cli(
        &s,
        tmp.path(),
        &["incident", "scope", inc["id"].as_str().unwrap(), "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["people_confirmed"], 100, "{out}");
    assert_eq!(m["people"], 10_000, "every subject was reachable: {out}");
    assert_eq!(m["categories"]["name"]["confirmed_by_mode"]["plain"], 100);
    assert_eq!(m["categories"]["email"]["confirmed_by_mode"]["masked"], 100);
    assert_eq!(m["categories"]["name"]["potential"], 9_900);
    assert!(m["categories"].get("birth_date").is_none(), "denied: {out}");
    assert_eq!(m["suspects"], json!([pid]));
    assert_eq!(m["organizations"]["callcenter"], 100, "{out}");
    assert_eq!(m["digest"].as_str().unwrap().len(), 64);
    let (code, text, err) = cli(
        &s,
        tmp.path(),
        &["incident", "scope", inc["id"].as_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("people affected: 10000 (100 confirmed"),
        "{text}"
    );
    let (code, _, err) = cli(&s, tmp.path(), &["incident", "scope", "no-such-incident"]);
    assert_ne!(code, 0);
    assert!(err.contains("no incident `no-such-incident`"), "{err}");
    incident_workflow(&s, tmp.path(), inc["id"].as_str().unwrap(), &key, &obtained);
    let alert: Value =
        serde_json::from_str(&alerts.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(alert["event"], "containment");
    assert_eq!(alert["principal"], pid.as_str());
    assert_eq!(alert["org"], "callcenter");
    assert_eq!(alert["subjects_obtained"], 100);
    assert!(
        !alert.to_string().contains(obtained.iter().next().unwrap()),
        "the alert names no subject"
    );
    let logs = s.logs();
    assert!(logs.contains("suspended by quota containment"), "{logs}");
    let metrics = s.req("GET", "/v1/metrics", None, &[]).text;
    assert!(
        metrics.contains("kura_containment_trips_total{trigger=\"quota\"} 1"),
        "{metrics}"
    );

    // A second stolen key, in a search loop.
    let (pid2, key2) = principal(
        &s,
        tmp.path(),
        "callcenter",
        "stolen-searcher",
        "processor",
        &SUPPORT_POLICY.replace("\"subjects\":100", "\"subjects\":50"),
    );
    let mut found = BTreeSet::new();
    for i in 0..10_000 {
        let r = as_key(
            &s,
            &key2,
            "support",
            "POST",
            "/v1/collections/accounts/search",
            Some(&json!({"field": "email", "value": format!("user{i:05}@example.jp")})),
        );
        if r.status == 200 {
            for id in r.body["ids"].as_array().unwrap() {
                found.insert(id.as_str().unwrap().to_owned());
            }
        } else {
            assert_eq!((r.status, r.code()), (403, "principal_suspended"));
        }
    }
    assert_eq!(found.len(), 50);
    let inc = incident_of(&s, &pid2);
    let listed: BTreeSet<String> = inc["containment"]["subjects_obtained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, found);

    // The supervision report shows both, with their containment events.
    let r = s.get(&format!(
        "/v1/orgs/callcenter/report?from=0&to={}",
        i64::MAX / 2000
    ));
    assert_eq!(r.status, 200, "{}", r.text);
    let ps = r.body["principals"].as_array().unwrap();
    let reader = ps.iter().find(|p| p["id"] == pid.as_str()).unwrap();
    assert_eq!(reader["distinct_subjects"], 100);
    // 9,900 reads after the trip, and the four incident routes it tried.
    assert_eq!(reader["denied"]["principal_suspended"], 9_904);
    assert_eq!(reader["containment_events"].as_array().unwrap().len(), 1);
    assert!(reader["suspended"].as_bool().unwrap());

    // An operator reinstates: the principal works again, on an empty window.
    let r = s.post(&format!("/v1/principals/{pid}/reinstate"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = as_key(
        &s,
        &key,
        "support",
        "GET",
        &format!("/v1/collections/accounts/subjects/{}", ids[5000]),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

fn canary_ids(dir: &Path) -> Vec<String> {
    let keys = rusqlite::Connection::open(dir.join("keys.db")).unwrap();
    let iids: Vec<i64> = keys
        .prepare("SELECT iid FROM canaries")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let data = rusqlite::Connection::open(dir.join("data.db")).unwrap();
    iids.iter()
        .map(|iid| {
            let b: Vec<u8> = data
                .query_row("SELECT id FROM subjects WHERE iid = ?1", [iid], |r| {
                    r.get(0)
                })
                .unwrap();
            uuid::Uuid::from_slice(&b).unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_single_canary_read_suspends_the_principal() {
    let (s, tmp) = start_with("[containment]\nrefresh_secs = 1\n");
    let real = import(&s, 20);
    let (code, out, err) = cli(
        &s,
        tmp.path(),
        &["canary", "plant", "--count", "5", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), r#"{"planted":5}"#);
    let canaries = canary_ids(&s.dir);
    assert_eq!(canaries.len(), 5);
    // To an operator a canary reads like anyone else: the same fields, realistic values.
    let c = s
        .get(&format!(
            "/v1/collections/accounts/subjects/{}",
            canaries[0]
        ))
        .body;
    assert_eq!(c["fields"].as_object().unwrap().len(), 8, "{c}");
    assert!(
        c["fields"]["email"]
            .as_str()
            .unwrap()
            .ends_with("@example.net")
    );
    // Let the server pick the list up (refresh every second).
    std::thread::sleep(Duration::from_millis(2500));
    let big = SUPPORT_POLICY.replace("\"subjects\":100", "\"subjects\":100000");
    let (pid, key) = principal(&s, tmp.path(), "acme", "curious", "service", &big);
    let r = as_key(
        &s,
        &key,
        "support",
        "GET",
        &format!("/v1/collections/accounts/subjects/{}", real[0]),
        None,
    );
    assert_eq!(r.status, 200);
    let r = as_key(
        &s,
        &key,
        "support",
        "GET",
        &format!("/v1/collections/accounts/subjects/{}", canaries[3]),
        None,
    );
    assert_eq!(
        (r.status, r.code()),
        (403, "principal_suspended"),
        "{}",
        r.text
    );
    let r = as_key(
        &s,
        &key,
        "support",
        "GET",
        &format!("/v1/collections/accounts/subjects/{}", real[1]),
        None,
    );
    assert_eq!((r.status, r.code()), (403, "principal_suspended"));
    let inc = incident_of(&s, &pid);
    assert_eq!(inc["trigger"], "canary");
    assert_eq!(inc["containment"]["subjects_obtained"], json!([real[0]]));
    // A search hit on a canary trips it too.
    let (_, key2) = principal(&s, tmp.path(), "acme", "searcher", "service", &big);
    let email = c["fields"]["email"].as_str().unwrap();
    let r = as_key(
        &s,
        &key2,
        "support",
        "POST",
        "/v1/collections/accounts/search",
        Some(&json!({"field": "email", "value": email})),
    );
    assert_eq!(
        (r.status, r.code()),
        (403, "principal_suspended"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(&canaries[0]));
}

#[test]
fn self_service_reads_and_changes_only_its_own_subject() {
    let (s, tmp) = start_with("");
    let mine = s.create(&full_subject());
    let mut other = full_subject();
    other["fields"]["login_id"] = json!("someone_else");
    other["fields"]["email"] = json!("else@example.jp");
    let theirs = s.create(&other);
    let (code, err) = create_org(&s, tmp.path(), "acme", "security@acme.example");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(
        &s,
        tmp.path(),
        &[
            "principal",
            "create",
            "--org",
            "acme",
            "--name",
            "me",
            "--kind",
            "self",
            "--subject",
            &mine,
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let key = serde_json::from_str::<Value>(out.trim()).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = "self_service";
    let r = as_key(
        &s,
        &key,
        p,
        "GET",
        &format!("/v1/collections/accounts/subjects/{mine}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"]["email"], full_subject()["fields"]["email"]);
    assert!(r.body["fields"].get("password").is_none());
    let r = as_key(
        &s,
        &key,
        p,
        "PATCH",
        &format!("/v1/collections/accounts/subjects/{mine}"),
        Some(&json!({"fields": {"name": "新しい 名前"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        s.get(&format!("/v1/collections/accounts/subjects/{mine}"))
            .body["fields"]["name"],
        "新しい 名前"
    );
    let r = as_key(
        &s,
        &key,
        p,
        "GET",
        &format!("/v1/collections/accounts/subjects/{mine}/access-log"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // Anything about another subject, or about no one subject, is refused.
    for (method, path, body) in [
        (
            "GET",
            format!("/v1/collections/accounts/subjects/{theirs}"),
            None,
        ),
        (
            "PATCH",
            format!("/v1/collections/accounts/subjects/{theirs}"),
            Some(json!({"fields": {"name": "X"}})),
        ),
        (
            "DELETE",
            format!("/v1/collections/accounts/subjects/{theirs}"),
            None,
        ),
        (
            "GET",
            format!("/v1/collections/accounts/subjects/{theirs}/access-log"),
            None,
        ),
        (
            "POST",
            "/v1/collections/accounts/search".to_owned(),
            Some(json!({"field": "email", "value": "else@example.jp"})),
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".to_owned(),
            Some(full_subject()),
        ),
    ] {
        let r = as_key(&s, &key, p, method, &path, body.as_ref());
        assert_eq!(
            (r.status, r.code()),
            (403, "not_own_subject"),
            "{method} {path}: {}",
            r.text
        );
    }
    assert_eq!(
        s.get(&format!("/v1/collections/accounts/subjects/{theirs}"))
            .body["fields"]["name"],
        other["fields"]["name"]
    );
    // Even its own record is not erasable through this grant (erasure is a rights request).
    let r = as_key(
        &s,
        &key,
        p,
        "DELETE",
        &format!("/v1/collections/accounts/subjects/{mine}"),
        None,
    );
    assert_eq!((r.status, r.code()), (403, "action_denied"));
}

#[test]
fn the_policy_bench_runs_and_reports_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = kura(
        &[
            "bench",
            "--only",
            "policy",
            "--subjects",
            "2000",
            "--reads",
            "4000",
            "--threads",
            "4",
            "--dir",
            tmp.path().join("b").to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let p = &v["policy"];
    assert_eq!(p["principals"], 1000);
    assert!(p["read_per_s_bypass"].as_f64().unwrap() > 0.0);
    assert!(p["read_per_s_check_on"].as_f64().unwrap() > 0.0);
    // Every principal was counted: the check really ran.
    assert_eq!(p["containment_principals"], 1000, "{p}");
    assert!(
        p["http"]["read_per_s_service_keys"].as_f64().unwrap() > 0.0,
        "{p}"
    );
}

#[test]
fn only_a_charge_grant_detokenizes_through_the_binary() {
    let (s, tmp) = start_with("");
    let id = s.create(&full_subject());
    let r = s.post(
        "/v1/cards",
        &json!({"subject_id": id, "pan": "4111 1111 1111 1111", "exp_month": 12,
                "exp_year": 2030, "holder": "TARO YAMADA"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let payer = r#"{"collection":"accounts","purposes":["charge"],"actions":["detokenize"],
        "fields":{"payment_cards":"plain"}}"#;
    let (_, pay_key) = principal(&s, tmp.path(), "acme", "payments", "service", payer);
    let (_, support_key) = principal(&s, tmp.path(), "acme", "support", "service", SUPPORT_POLICY);
    let path = format!("/v1/cards/{token}/detokenize");
    let r = as_key(&s, &pay_key, "charge", "POST", &path, Some(&json!({})));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["pan"], "4111111111111111");
    for (key, purpose) in [
        (&pay_key, "support"),
        (&pay_key, "billing"),
        (&support_key, "charge"),
        (&support_key, "support"),
        (&s.key, "charge"),
    ] {
        let r = as_key(&s, key, purpose, "POST", &path, Some(&json!({})));
        assert_eq!(r.status, 403, "{purpose}: {}", r.text);
        assert!(!r.text.contains("4111111111111111"));
    }
}

/// Every access event so far, decoded from the access log.
fn access_events(s: &Server) -> Vec<kura_audit::AccessEvent> {
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    let mut st = c
        .prepare("SELECT leaf FROM audit_log ORDER BY seq")
        .unwrap();
    st.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|l| kura_audit::AccessEvent::from_leaf(&l.unwrap()).unwrap())
        .collect()
}

fn card_for(subject: &str, pan: &str) -> Value {
    json!({"subject_id": subject, "pan": pan, "exp_month": 12, "exp_year": 2030})
}

/// A service allowed to tokenize cards for `billing`, with a quota of `quota` subjects.
fn card_writer_policy(quota: u32) -> String {
    format!(
        r#"{{"collection":"accounts","purposes":["billing"],"actions":["write"],
        "fields":{{"payment_cards":"plain"}},"quota":{{"subjects":{quota},"window_secs":3600}}}}"#
    )
}

/// Issue 13: tokenize decides the write grant before it looks the subject up. A key without
/// the grant gets 403 for a known and an unknown subject alike (before: 404 for the unknown
/// one, an existence oracle), and each refusal is an access event; with the grant, an
/// unknown subject is 404. A known and a new card give the same status and body shape.
#[test]
fn tokenize_decides_permission_before_looking_anything_up() {
    let (s, tmp) = start_with("");
    let known = s.create(&full_subject());
    let unknown = "0190a000-0000-7000-8000-000000000000";
    let (_, reader) = principal(&s, tmp.path(), "acme", "support", "service", SUPPORT_POLICY);
    let (_, writer) = principal(
        &s,
        tmp.path(),
        "acme",
        "billing",
        "service",
        &card_writer_policy(100),
    );
    let before = access_events(&s).len();
    for purpose in ["support", "billing"] {
        let mut seen = Vec::new();
        for subject in [known.as_str(), unknown] {
            let body = card_for(subject, "4111 1111 1111 1111");
            let r = as_key(&s, &reader, purpose, "POST", "/v1/cards", Some(&body));
            seen.push((r.status, r.code().to_owned()));
        }
        assert_eq!(
            seen[0], seen[1],
            "{purpose}: the answer depends on the subject"
        );
        assert_eq!(seen[0].0, 403, "{purpose}: {seen:?}");
    }
    let events = access_events(&s);
    let refusals: Vec<_> = events[before..]
        .iter()
        .filter(|e| e.action == kura_audit::Action::CardTokenize)
        .collect();
    assert_eq!(refusals.len(), 4);
    for e in refusals {
        assert!(
            matches!(&e.outcome, kura_audit::Outcome::Denied(_)),
            "{:?}",
            e.outcome
        );
    }
    assert_eq!(
        s.get("/v1/cards/ct_aaaaaaaaaaaaaaaaaaaaaaaaaa").status,
        404,
        "nothing stored"
    );

    // With the grant: an unknown subject is 404, a new and a known card are both 201 with
    // the same body.
    let body = card_for(unknown, "4111 1111 1111 1111");
    let r = as_key(&s, &writer, "billing", "POST", "/v1/cards", Some(&body));
    assert_eq!(
        (r.status, r.code()),
        (404, "subject_not_found"),
        "{}",
        r.text
    );
    let body = card_for(&known, "4111 1111 1111 1111");
    let new = as_key(&s, &writer, "billing", "POST", "/v1/cards", Some(&body));
    assert_eq!(new.status, 201, "{}", new.text);
    let again = as_key(&s, &writer, "billing", "POST", "/v1/cards", Some(&body));
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body, new.body);
}

/// Issue 13: tokenizing a card obtains and changes its subject, so it counts against the
/// quota. A key with a quota of 5 tokenizing cards for 20 subjects gets 5 through; then it
/// is suspended and an incident is opened.
#[test]
fn tokenize_counts_against_the_quota() {
    let (s, tmp) = start_with("");
    let ids = import(&s, 20);
    let (pid, key) = principal(
        &s,
        tmp.path(),
        "acme",
        "billing",
        "service",
        &card_writer_policy(5),
    );
    let mut ok = 0;
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for id in &ids {
        let body = card_for(id, "4111 1111 1111 1111");
        let r = as_key(&s, &key, "billing", "POST", "/v1/cards", Some(&body));
        if r.status == 201 {
            ok += 1;
        } else {
            *codes
                .entry(format!("{} {}", r.status, r.code()))
                .or_default() += 1;
        }
    }
    assert_eq!(ok, 5, "{codes:?}");
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(codes["403 principal_suspended"], 15);
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    let cards: i64 = c
        .query_row("SELECT count(*) FROM cards", [], |r| r.get(0))
        .unwrap();
    assert_eq!(cards, 5);
    let inc = incident_of(&s, &pid);
    assert_eq!(inc["trigger"], "quota");
    let view = s.get(&format!("/v1/principals/{pid}")).body;
    assert_eq!(view["suspended_reason"], "containment:quota", "{view}");
}

/// An import sent by hand over a raw connection, so that a test controls when each byte of
/// the body leaves.
struct RawImport {
    stream: std::net::TcpStream,
}

impl RawImport {
    /// Sends the request line and headers of an import of `len` bytes; no body yet.
    fn start(s: &Server, key: &str, purpose: &str, len: usize) -> RawImport {
        let addr = s.base.trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "POST /v1/collections/accounts/import HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {key}\r\nX-Kura-Purpose: {purpose}\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: {len}\r\n\
             Connection: close\r\n\r\n"
        )
        .unwrap();
        RawImport { stream }
    }

    /// Reads the answer: status and JSON body.
    fn answer(&mut self) -> (u16, Value) {
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_string();
                let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    let body =
                        serde_json::from_slice(&got[end + 4..end + 4 + len]).unwrap_or(Value::Null);
                    return (status, body);
                }
            }
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("connection closed before the answer: {got:?}"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("reading the answer: {e}"),
            }
        }
    }
}

/// `n` valid NDJSON subject lines, logins starting at `from`.
fn ndjson(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| {
            let mut v = full_subject();
            v["fields"]["login_id"] = json!(format!("bulk{i:07}"));
            v["fields"]["email"] = json!(format!("bulk{i:07}@example.jp"));
            v.to_string() + "\n"
        })
        .collect()
}

/// Issue 13: a key without the import grant is refused before the server reads the body.
/// A 50 MB import is sent slowly; the 403 arrives while the client is still sending, long
/// before half of it is out (before: the server read all 50 MB, then answered 200 with a
/// refusal per line). The refusal is an access event.
#[test]
fn an_import_without_a_grant_is_refused_before_its_body_is_read() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (s, tmp) = start_with("");
    let (pid, key) = principal(&s, tmp.path(), "acme", "support", "service", SUPPORT_POLICY);
    let before = access_events(&s).len();
    let chunk = ndjson(0, 256).into_bytes();
    let len = 50 << 20;
    let mut imp = RawImport::start(&s, &key, "support", len);
    let sent = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut out = imp.stream.try_clone().unwrap();
        let (sent, done) = (sent.clone(), done.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while n < len && !done.load(Ordering::SeqCst) {
                let part = &chunk[..chunk.len().min(len - n)];
                if out.write_all(part).is_err() {
                    break; // the server closed the connection: it will read no more
                }
                n += part.len();
                sent.store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let (status, body) = imp.answer();
    let at_answer = sent.load(Ordering::SeqCst);
    done.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let shown: String = body.to_string().chars().take(300).collect();
    assert_eq!(status, 403, "{shown}");
    assert_eq!(body["error"]["code"], "action_denied", "{body}");
    assert!(
        at_answer < len / 2,
        "the answer came after {at_answer} of {len} bytes were sent"
    );
    assert_eq!(s.row_count(), 0);
    let refusals: Vec<_> = access_events(&s)[before..]
        .iter()
        .filter(|e| e.action == kura_audit::Action::Import && e.principal == pid)
        .map(|e| e.outcome.clone())
        .collect();
    assert_eq!(
        refusals,
        [kura_audit::Outcome::Denied("action_denied".into())]
    );
}

/// Issue 13: a line longer than `max_import_line_bytes` is refused on its own with
/// `line_too_long` (terminated or not); the lines around it stand.
#[test]
fn an_over_long_import_line_is_refused() {
    let (s, _tmp) = start_with("[server]\nmax_import_line_bytes = 4096\n");
    let mut long = full_subject();
    long["fields"]["name"] = json!("x".repeat(5000));
    let body = format!(
        "{}{}\n{}{}",
        ndjson(0, 1),
        long,
        ndjson(1, 1),
        "y".repeat(100_000)
    );
    let r = s.req(
        "POST",
        "/v1/collections/accounts/import",
        Some(&body),
        &[("Content-Type", "application/x-ndjson")],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let ids = r.body["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 4, "{}", r.text);
    assert!(ids[0].is_string() && ids[1].is_null() && ids[2].is_string() && ids[3].is_null());
    let errors: Vec<(u64, &str)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, [(2, "line_too_long"), (4, "line_too_long")]);
    assert_eq!(s.row_count(), 2);
}

/// Issue 13: imports beyond `max_concurrent_imports` are refused with 429
/// `too_many_imports`, before their body is read; once the running import is done, the
/// next one is served.
#[test]
fn imports_beyond_the_bound_are_refused() {
    let (s, _tmp) = start_with("[server]\nmax_concurrent_imports = 1\n");
    let body = ndjson(0, 50);
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let import = |from: usize| {
        s.req(
            "POST",
            "/v1/collections/accounts/import",
            Some(&ndjson(from, 1)),
            &[("Content-Type", "application/x-ndjson")],
        )
    };
    // The held import takes its slot as soon as its headers are in; probe until a second one
    // is refused (up to 10 s a round: the whole suite runs in parallel on 2 cores). If the
    // held import's headers arrive while a probe holds the only slot, the held import is the
    // one refused — a race of this test, not of the server: it must then have been answered
    // 429 itself, and the round starts again.
    let mut round = 0;
    let (mut running, refused) = loop {
        round += 1;
        let mut running = RawImport::start(&s, &s.key, "testing", body.len());
        running.stream.write_all(first).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut refused = None;
        for i in 0..100 {
            let r = import(1000 * (round + 1) + i);
            if r.status == 429 {
                refused = Some(r);
                break;
            }
            assert_eq!(r.status, 200, "{}", r.text);
            std::thread::sleep(Duration::from_millis(100));
        }
        match refused {
            Some(r) => break (running, r),
            None => {
                let (status, answer) = running.answer();
                assert_eq!(
                    status, 429,
                    "no second import was refused, and the held one was not either: {answer}"
                );
                assert!(round < 5, "the held import lost the race five times");
            }
        }
    };
    assert_eq!(refused.code(), "too_many_imports", "{}", refused.text);
    running.stream.write_all(rest).unwrap();
    let (status, done) = running.answer();
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["ids"].as_array().unwrap().len(), 50);
    assert_eq!(import(2000).status, 200);
}

/// What an officer does next, through the real binary and HTTP: timestamps, a second matrix
/// version, the evidence bundle exported and verified offline (and refused once changed);
/// a non-operator can do none of it.
fn incident_workflow(s: &Server, cwd: &Path, id: &str, stolen: &str, obtained: &BTreeSet<String>) {
    // The first `scope ID` above stored version 1 (the text run, version 2).
    let (code, out, err) = cli(s, cwd, &["incident", "show", id, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["scopes"].as_array().unwrap().len(), 2, "{out}");
    assert_eq!(v["scopes"][0]["digest"], v["scopes"][1]["digest"]);
    assert_eq!(v["incident"]["stamps"][0]["name"], "detected");
    // Timestamps over the CLI, with a reason; a bad one is refused and names the problem.
    let (code, _, err) = cli(
        s,
        cwd,
        &[
            "incident",
            "update",
            id,
            "--stamp",
            "aware=now",
            "--reason",
            "SOC call",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("invalid_stamp"), "{err}");
    let (code, _, err) = cli(
        s,
        cwd,
        &[
            "incident",
            "update",
            id,
            "--stamp",
            "aware@callcenter=now",
            "--stamp",
            "processor_reported=now",
            "--reason",
            "the call centre phoned at 09:10",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // Over HTTP: the operator changes and rescopes; the stolen key is refused everywhere.
    let r = s.req(
        "PATCH",
        &format!("/v1/incidents/{id}"),
        Some(
            &json!({"stamps":[{"name":"hold_start","at_ms":1}],"reason":"police asked"})
                .to_string(),
        ),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["timeline"].as_array().unwrap().len(), 3);
    let r = s.req(
        "PATCH",
        &format!("/v1/incidents/{id}"),
        Some(&json!({"stamps":[{"name":"detected","at_ms":1}]}).to_string()),
        &[],
    );
    assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.text);
    let r = s.post(&format!("/v1/incidents/{id}/scope"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["version"], 3);
    assert_eq!(r.body["matrix"]["people_confirmed"], 100);
    let r = s.post(
        "/v1/incidents",
        &json!({"title":"Backup tape missing","vector":"backup","keys_exposed":false}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let tape = r.body["id"].as_str().unwrap().to_owned();
    let r = s.get(&format!("/v1/incidents/{tape}/obligations"));
    assert_eq!((r.status, r.code()), (400, "scope_required"), "{}", r.text);
    let r = s.post(&format!("/v1/incidents/{tape}/scope"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["matrix"]["people_confirmed"], 0);
    assert!(r.body["matrix"]["categories"]["country_and_locale"]["potential"].as_u64() > Some(0));
    // What the incident obliges, from the latest matrix (10,000 people in Japan).
    let (code, out, err) = cli(s, cwd, &["incident", "obligations", id, "--json"]);
    assert_eq!(code, 0, "{err}");
    let o: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(o["scope_version"], 3);
    assert_eq!(o["aware_from"], "aware@callcenter", "{out}");
    let find = |id: &str| {
        o["obligations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {out}"))
            .clone()
    };
    let fin = find("jp-appi-final");
    assert_eq!(
        (fin["required"].as_bool(), fin["state"].as_str()),
        (Some(true), Some("due")),
        "{fin}"
    );
    let why = fin["reasoning"].to_string();
    assert!(
        why.contains("10000 people affected (more than 1000: true)"),
        "{why}"
    );
    assert!(
        why.contains("60 instead of 30"),
        "a stolen key is unauthorized access: {why}"
    );
    assert!(
        fin["deadline_local"]
            .as_str()
            .unwrap()
            .ends_with("[Asia/Tokyo]")
    );
    let days = fin["time_left_ms"].as_i64().unwrap() / 86_400_000;
    assert!((59..=60).contains(&days), "{fin}");
    let eu = find("eu-gdpr-register");
    assert_eq!(eu["required"], true, "every breach is registered");
    assert_eq!(find("kr-pipa-pipc")["required"], false);
    let (code, text, _) = cli(s, cwd, &["incident", "obligations", id]);
    assert_eq!(code, 0);
    assert!(
        text.contains("[due] jp-appi-preliminary") && text.contains("Asia/Tokyo"),
        "{text}"
    );
    let r = s.get(&format!("/v1/incidents/{id}/obligations"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["obligations"].as_array().unwrap().len(),
        o["obligations"].as_array().unwrap().len()
    );
    let r = s.post("/v1/incidents", &json!({"title":"x","vector":"telepathy"}));
    assert_eq!((r.status, r.code()), (400, "invalid_vector"), "{}", r.text);
    for (method, path) in [
        ("GET", "/v1/incidents".to_owned()),
        ("GET", format!("/v1/incidents/{id}")),
        ("POST", format!("/v1/incidents/{id}/scope")),
        ("POST", format!("/v1/incidents/{id}/close")),
    ] {
        let r = as_key(
            s,
            stolen,
            "support",
            method,
            &path,
            Some(&json!({"reason":"x"})),
        );
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
    }
    // The final APPI report: kura fills what it knows; the rest must be written before it
    // can be submitted, and the submission is recorded.
    let (code, out, err) = cli(
        s,
        cwd,
        &["incident", "report", id, "jp-appi-final", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["lang"], "ja");
    assert!(
        d["items"]["people"]
            .as_str()
            .unwrap()
            .starts_with("10000名"),
        "{out}"
    );
    assert!(d["markdown"].as_str().unwrap().contains("## 4. 原因"));
    let missing: Vec<String> = serde_json::from_value(d["missing"].clone()).unwrap();
    assert!(missing.contains(&"cause".to_owned()) && !missing.contains(&"people".to_owned()));
    let (code, _, err) = cli(
        s,
        cwd,
        &[
            "incident",
            "submit",
            id,
            "jp-appi-final",
            "--channel",
            "PPC web form",
            "--reference",
            "R-1",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("report_incomplete") && err.contains("cause"),
        "{err}"
    );
    let mut args: Vec<String> = [
        "incident",
        "report",
        id,
        "jp-appi-final",
        "--reason",
        "drafted with counsel",
    ]
    .iter()
    .map(|x| (*x).to_owned())
    .collect();
    for m in &missing {
        args.push("--set".into());
        args.push(format!("{m}=記載事項（{m}）"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, text, err) = cli(s, cwd, &argv);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = cli(s, cwd, &["incident", "obligations", id, "--json"]);
    let o: Value = serde_json::from_str(&out).unwrap();
    let state = |oid: &str| {
        o["obligations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == oid)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("jp-appi-final"), "drafted");
    assert!(!err.contains("still to complete"), "{err}");
    assert!(
        text.contains("記載事項（cause）") && text.contains("（確報）"),
        "{text}"
    );
    let (code, _, err) = cli(
        s,
        cwd,
        &[
            "incident",
            "submit",
            id,
            "jp-appi-final",
            "--channel",
            "PPC web form",
            "--reference",
            "R-1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = cli(s, cwd, &["incident", "obligations", id, "--json"]);
    assert!(out.contains("\"submitted\""), "{out}");
    // The same draft as a PDF, its Japanese text extracted back by poppler.
    let pdf = cwd.join("appi-final.pdf");
    let (code, _, err) = cli(
        s,
        cwd,
        &[
            "incident",
            "report",
            id,
            "jp-appi-final",
            "--out",
            pdf.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let out = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is needed");
    let text: String = String::from_utf8(out.stdout)
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        text.contains("（確報）") && text.contains("記載事項（cause）"),
        "{text}"
    );
    assert!(text.contains("10000名"), "{text}");
    let r = s.get(&format!("/v1/incidents/{id}/reports/eu-gdpr-register"));
    assert_eq!((r.status, r.code()), (400, "no_template"), "{}", r.text);
    let r = s.req(
        "PUT",
        &format!("/v1/incidents/{id}/reports/jp-appi-final"),
        Some(&json!({"items": {"mood": "fine"}, "reason": "x"}).to_string()),
        &[],
    );
    assert_eq!((r.status, r.code()), (400, "invalid_value"), "{}", r.text);
    let r = s.get(&format!("/v1/incidents/{id}/reports/jp-appi-final?lang=ja"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["missing"], json!([]));
    let resp = util::agent()
        .get(s.url(&format!(
            "/v1/incidents/{id}/reports/jp-appi-final?format=pdf"
        )))
        .header("Authorization", &format!("Bearer {}", s.key))
        .header("X-Kura-Purpose", "testing")
        .call()
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let bytes = resp.into_body().read_to_vec().unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "a PDF over HTTP");
    let r = s.get(&format!(
        "/v1/incidents/{id}/reports/jp-appi-final?format=docx"
    ));
    assert_eq!((r.status, r.code()), (400, "invalid_format"), "{}", r.text);
    // The evidence bundle, verified offline with the log's key.
    let bundle = cwd.join("evidence.kura");
    let (code, out, err) = cli(
        s,
        cwd,
        &["incident", "export", id, "--out", bundle.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("evidence bundle"), "{out}");
    let text = std::fs::read_to_string(&bundle).unwrap();
    for subject in obtained {
        assert!(
            !text.contains(subject.as_str()),
            "no public subject id in the bundle"
        );
    }
    let (code, vkey, err) = cli(s, cwd, &["audit", "key"]);
    assert_eq!(code, 0, "{err}");
    let vkey = vkey.trim().to_owned();
    let b = bundle.to_str().unwrap();
    let (code, out, err) = kura(&["incident", "verify", b, "--vkey", &vkey], cwd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 matrix versions"), "{out}");
    // Opened, stamps (CLI), hold (HTTP), report items, submitted.
    assert!(out.contains("5 timeline entries"), "{out}");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = text.find("\"timeline\"").unwrap() + 40;
    bytes[at] ^= 0x02;
    std::fs::write(&bundle, &bytes).unwrap();
    let (code, _, err) = kura(&["incident", "verify", b, "--vkey", &vkey], cwd);
    assert_eq!(code, 1);
    assert!(err.contains("FAILED") && err.contains("body:"), "{err}");
    // Closing: further changes are refused until reopened.
    let (code, _, err) = cli(s, cwd, &["incident", "close", id, "--reason", "notified"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        s,
        cwd,
        &["incident", "update", id, "--title", "x", "--reason", "r"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("incident_closed"), "{err}");
    let (code, out, _) = cli(s, cwd, &["incident", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("closed") && out.contains("Backup tape missing"),
        "{out}"
    );
}

/// A processor reports an incident through the API: the holder's incident gets
/// `processor_reported`, whose time starts the holder's clocks; the processor learns the id
/// and nothing else, may not report to another holder's incident, and a service may not
/// report at all.
#[test]
fn a_processor_report_starts_the_holders_clocks() {
    let (s, _tmp) = start_with("[obligations]\nwatch_secs = 1\n");
    let _ = import(&s, 20);
    for (id, role, sup) in [
        ("acme", "holder", None),
        ("callsrv", "processor", Some("acme")),
        ("other", "holder", None),
    ] {
        let r = s.post(
            "/v1/orgs",
            &json!({"id": id, "name": id, "role": role, "supervisor": sup,
                    "security_officer": {"name": "Officer", "contact": "officer@example.jp"}}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mk = |org: &str, name: &str, kind: &str| {
        let r = s.post(
            "/v1/principals",
            &json!({"org": org, "name": name, "kind": kind,
                    "policies": [serde_json::from_str::<Value>(SUPPORT_POLICY).unwrap()]}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["api_key"].as_str().unwrap().to_owned(),
        )
    };
    let (agent, agent_key) = mk("callsrv", "agents", "processor");
    let (_, svc_key) = mk("acme", "shop", "service");
    let detected = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 2 * 3_600_000;
    let report = json!({"title": "Agent laptop stolen", "description": "a laptop with a logged-in session was stolen",
                        "detected_at_ms": detected, "suspects": [agent]});
    let r = as_key(
        &s,
        &svc_key,
        "support",
        "POST",
        "/v1/incident-reports",
        Some(&report),
    );
    assert_eq!((r.status, r.code()), (403, "report_denied"), "{}", r.text);
    let r = as_key(
        &s,
        &agent_key,
        "support",
        "POST",
        "/v1/incident-reports",
        Some(&report),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["incident"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body.as_object().unwrap().len(),
        2,
        "only the id and the time: {}",
        r.text
    );
    // The processor cannot read the incident; another holder's incident is not found.
    let r = as_key(
        &s,
        &agent_key,
        "support",
        "GET",
        &format!("/v1/incidents/{id}"),
        None,
    );
    assert_eq!((r.status, r.code()), (403, "operator_only"));
    let foreign = s.post("/v1/incidents", &json!({"title": "theirs", "org": "other"}));
    let mut onto = report.clone();
    onto["incident"] = foreign.body["id"].clone();
    let r = as_key(
        &s,
        &agent_key,
        "support",
        "POST",
        "/v1/incident-reports",
        Some(&onto),
    );
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text);
    let mut bad = report.clone();
    bad["suspects"] = json!(["someone-else"]);
    let r = as_key(
        &s,
        &agent_key,
        "support",
        "POST",
        "/v1/incident-reports",
        Some(&bad),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "unknown_principal"),
        "{}",
        r.text
    );
    // The holder sees it, with the processor's stamps.
    let inc = s.get(&format!("/v1/incidents/{id}")).body["incident"].clone();
    assert_eq!(inc["org"], "acme");
    assert_eq!(inc["vector"], "processor");
    let stamp = |name: &str| {
        inc["stamps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(stamp("processor_reported")["by"], agent.as_str());
    assert_eq!(stamp("aware")["org"], "callsrv");
    assert_eq!(stamp("aware")["at_ms"], detected);
    // Its clocks run from the report, not from the processor's own detection.
    let r = s.post(&format!("/v1/incidents/{id}/scope"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s.get(&format!("/v1/incidents/{id}/obligations"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["aware_from"], "processor_reported", "{}", r.text);
    assert_eq!(
        r.body["facts"]["stamps"]["aware"],
        stamp("processor_reported")["at_ms"]
    );
    // The holder learns it was aware 70 days ago: the final APPI report (60 days: unlawful
    // purpose) and the preliminary target are overdue — a metric and one log line each.
    let long_ago = detected - 68 * 86_400_000;
    let r = s.req(
        "PATCH",
        &format!("/v1/incidents/{id}"),
        Some(
            &json!({"stamps": [{"name": "aware", "org": "acme", "at_ms": long_ago}],
                     "reason": "the SOC ticket shows it"})
            .to_string(),
        ),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.get(&format!("/v1/incidents/{id}/obligations"));
    assert_eq!(r.body["aware_from"], "aware@acme");
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = s.get("/v1/metrics").text;
        if metrics.contains("kura_obligations_overdue{soft=\"false\"} 1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        metrics.contains("kura_obligations_overdue{soft=\"false\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kura_obligations_overdue{soft=\"true\"} 1"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let logs = s.logs();
    assert_eq!(
        logs.matches("obligation overdue").count(),
        2,
        "once each: {logs}"
    );
    assert!(logs.contains("jp-appi-final"), "{logs}");
}
