//! End-to-end tests of data-subject rights and retention (issue 17) through the real binary,
//! the real store and HTTP: identity verified through the address on file (an identifier
//! supplied with a request never reveals anything), the export package, rectification,
//! restriction, erasure with a signed receipt checked by `kura receipt verify` (and broken
//! by any changed byte), nothing of the subject left in any file of the store, every route
//! 404, the processor told and its confirmation tracked, and retention runs (reconfirm or be
//! erased with a receipt; a run killed with SIGKILL resumes without asking anyone twice).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use util::{Server, kura, kura_bin};

const CALLCENTRE: &str = "officer@callcentre.example";

/// Every message of the outbox beside the data directory: (file name, To, Subject, text).
fn outbox(dir: &Path) -> Vec<(String, String, String, String)> {
    let d = dir.with_extension("outbox");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&d) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
        .iter()
        .map(|p| {
            let raw = std::fs::read(p).unwrap();
            let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let to = m
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or("")
                .to_owned();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                to,
                m.subject().unwrap_or("").to_owned(),
                m.body_text(0).unwrap_or_default().replace("\r\n", "\n"),
            )
        })
        .collect()
}

fn token_in(text: &str) -> Option<String> {
    let i = text.find("kura_rv_")?;
    Some(text[i..i + 8 + 43].to_owned())
}

/// The newest token mailed to `to`: one that `TAKEN` has not handed out before (outbox
/// names follow the request id, not the time), waiting for it.
fn token_for(dir: &Path, to: &str) -> String {
    static TAKEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fresh: Vec<String> = {
            let taken = TAKEN.lock().unwrap();
            outbox(dir)
                .into_iter()
                .filter(|(_, t, _, _)| t == to)
                .filter_map(|(_, _, _, text)| token_in(&text))
                .filter(|t| !taken.contains(t))
                .collect()
        };
        if let [only] = fresh.as_slice() {
            TAKEN.lock().unwrap().push(only.clone());
            return only.clone();
        }
        assert!(fresh.len() < 2, "two new tokens for {to}");
        assert!(Instant::now() < deadline, "no token mail to {to}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn as_key(s: &Server, key: &str, method: &str, path: &str, body: &Value) -> util::Resp {
    as_key_for(s, key, "privacy", method, path, body)
}

fn as_key_for(
    s: &Server,
    key: &str,
    purpose: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> util::Resp {
    s.req(
        method,
        path,
        Some(&body.to_string()),
        &[
            ("Authorization", &format!("Bearer {key}")),
            ("X-Kura-Purpose", purpose),
        ],
    )
}

fn get_as(s: &Server, key: &str, path: &str, purpose: &str) -> util::Resp {
    s.req(
        "GET",
        path,
        None,
        &[
            ("Authorization", &format!("Bearer {key}")),
            ("X-Kura-Purpose", purpose),
        ],
    )
}

fn principal(s: &Server, body: Value) -> String {
    let r = s.post("/v1/principals", &body);
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["api_key"].as_str().unwrap().to_owned()
}

/// A processor (call centre) that reads for support, and the holder's privacy service that
/// opens and relays requests. Returns (processor key, service key).
fn parties(s: &Server) -> (String, String) {
    let r = s.post(
        "/v1/orgs",
        &json!({"id": "callcentre", "name": "Call Centre", "role": "processor",
                "supervisor": "owner",
                "security_officer": {"name": "P. Officer", "contact": CALLCENTRE}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let all = json!({"name": "plain", "email": "plain", "phone": "plain", "login_id": "plain",
        "online_id": "plain", "postal_address": "plain", "birth_date": "plain",
        "gender": "plain", "payment_cards": "plain"});
    let processor = principal(
        s,
        json!({"org": "callcentre", "name": "desk", "kind": "processor", "policies": [
            {"collection": "accounts", "purposes": ["support"], "actions": ["read", "search"],
             "fields": {"name": "plain", "email": "masked"}}]}),
    );
    let service = principal(
        s,
        json!({"org": "owner", "name": "privacy-desk", "kind": "service", "policies": [
            {"collection": "accounts", "purposes": ["privacy"],
             "actions": ["read", "write", "delete", "export", "authenticate"],
             "fields": all}]}),
    );
    (processor, service)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn erasure_with_a_signed_receipt_leaves_nothing_and_tells_the_processor() {
    let s = util::start();
    let cwd = s.dir.parent().unwrap().to_owned();
    let (processor, service) = parties(&s);
    let target = util::marked_subject("Zqxjkwv", 7);
    let id = s.create(&target);
    let _other = s.create(&util::marked_subject("Otherperson", 8));
    let r = s.req(
        "PUT",
        &format!("/v1/collections/accounts/subjects/{id}/password"),
        Some(&json!({"password": "a long and unusual passphrase 7"}).to_string()),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let card = s.post(
        "/v1/cards",
        &json!({"subject_id": id, "pan": "4111 1111 1111 1111", "exp_month": 12,
                "exp_year": 2031, "holder": "Z Q"}),
    );
    assert_eq!(card.status, 201, "{}", card.text);
    let card_token = card.body["token"].as_str().unwrap().to_owned();
    // The processor obtains the subject's data: it must be told of the erasure.
    let r = get_as(
        &s,
        &processor,
        &format!("/v1/collections/accounts/subjects/{id}"),
        "support",
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // What the stores hold of the subject before: its wrapped key and blind-index tokens.
    let keys = rusqlite::Connection::open(s.dir.join("keys.db")).unwrap();
    let uuid = uuid_bytes(&id);
    let wrapped: Vec<u8> = keys
        .query_row(
            "SELECT wrapped FROM data_keys WHERE subject = ?1",
            [&uuid],
            |r| r.get(0),
        )
        .unwrap();
    drop(keys);
    let data = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    let tokens: Vec<u8> = data
        .query_row("SELECT tokens FROM subjects WHERE id = ?1", [&uuid], |r| {
            r.get(0)
        })
        .unwrap();
    drop(data);
    assert!(tokens.len() >= 32);
    let before = cwd.join("before");
    copy_dir(&s.dir, &before);

    // Opened by e-mail: 202 with a request id, the same shape for an unknown address, and
    // only the known subject's address on file gets a code.
    let open = |email: &str| {
        let r = as_key(
            &s,
            &service,
            "POST",
            "/v1/collections/accounts/rights",
            &json!({"kind": "erasure", "email": email}),
        );
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body["status"], "accepted");
        r.body["request"].as_str().unwrap().to_owned()
    };
    let unknown = open("nobody-at-all@example.de");
    let req = open("ZQXJKWV@example.de");
    assert_ne!(unknown, req);
    let token = token_for(&s.dir, "Zqxjkwv@example.de");
    assert!(
        !outbox(&s.dir)
            .iter()
            .any(|(_, to, _, _)| to.contains("nobody-at-all")),
        "an address supplied with a request is never written to"
    );
    // A wrong token and a malformed one change nothing.
    for bad in [
        "kura_rv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "nonsense",
    ] {
        let r = as_key(
            &s,
            &service,
            "POST",
            "/v1/collections/accounts/rights/verify",
            &json!({"token": bad}),
        );
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.code(), "rights_token_invalid");
    }
    assert_eq!(
        s.get(&format!("/v1/collections/accounts/subjects/{id}"))
            .status,
        200
    );

    let r = as_key(
        &s,
        &service,
        "POST",
        "/v1/collections/accounts/rights/verify",
        &json!({"token": token}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["request"]["state"], "completed", "{}", r.text);
    let receipt = r.body["receipt"].as_str().unwrap().to_owned();
    // The token is spent.
    let again = as_key(
        &s,
        &service,
        "POST",
        "/v1/collections/accounts/rights/verify",
        &json!({"token": token}),
    );
    assert_eq!(again.code(), "rights_token_invalid");

    // The receipt verifies offline with the log's key; any changed byte breaks it.
    let d = s.dir.to_str().unwrap();
    let (code, vkey, err) = kura(&["audit", "key", "--data", d], &cwd);
    assert_eq!(code, 0, "{err}");
    let file = cwd.join("receipt.txt");
    std::fs::write(&file, &receipt).unwrap();
    let (code, out, err) = kura(
        &[
            "receipt",
            "verify",
            file.to_str().unwrap(),
            "--vkey",
            vkey.trim(),
            "--json",
        ],
        &cwd,
    );
    assert_eq!(code, 0, "{out}{err}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rep["request"], req.as_str());
    assert_eq!(rep["subject"], id.as_str());
    let body: Value = serde_json::from_str(receipt.split("\n\n").next().unwrap()).unwrap();
    let erased: Vec<&str> = body["erased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["category"].as_str().unwrap())
        .collect();
    for c in [
        "name",
        "email",
        "phone",
        "postal_address",
        "birth_date",
        "credential",
        "payment_card",
    ] {
        assert!(erased.contains(&c), "{c} not in {erased:?}");
    }
    assert_eq!(body["recipients"][0]["org"], "callcentre", "{body}");
    assert!(body["recipients"][0]["told_at_ms"].is_u64());
    for (i, pos) in [10usize, receipt.len() / 2, receipt.len() - 30]
        .into_iter()
        .enumerate()
    {
        let mut bytes = receipt.clone().into_bytes();
        bytes[pos] ^= 0x01;
        let f = cwd.join(format!("tampered{i}.txt"));
        std::fs::write(&f, &bytes).unwrap();
        let (code, _, _) = kura(
            &[
                "receipt",
                "verify",
                f.to_str().unwrap(),
                "--vkey",
                vkey.trim(),
            ],
            &cwd,
        );
        assert_eq!(code, 1, "a receipt changed at byte {pos} still verifies");
    }

    // The mails: the receipt went to the address on file (it survives the purge), the code
    // mail (filed under the subject) is gone, the processor got an erasure instruction.
    let mails = outbox(&s.dir);
    let to_subject: Vec<_> = mails
        .iter()
        .filter(|m| m.1 == "Zqxjkwv@example.de")
        .collect();
    assert_eq!(to_subject.len(), 1, "{to_subject:?}");
    assert!(to_subject[0].3.contains("kura-erasure-receipt/1"));
    assert!(to_subject[0].3.contains(&req));
    let instruction: Vec<_> = mails.iter().filter(|m| m.1 == CALLCENTRE).collect();
    assert_eq!(instruction.len(), 1);
    assert!(instruction[0].3.contains(&req) && instruction[0].3.contains(&id));
    assert!(
        !instruction[0].3.contains("Zqxjkwv"),
        "no value goes to the processor"
    );

    // Every route answers 404 for the subject, its card and its password.
    let sub = format!("/v1/collections/accounts/subjects/{id}");
    assert_eq!(s.get(&sub).status, 404);
    assert_eq!(
        s.req("PATCH", &sub, Some(r#"{"fields":{"name":"x"}}"#), &[])
            .status,
        404
    );
    assert_eq!(s.req("DELETE", &sub, None, &[]).status, 404);
    assert_eq!(s.get(&format!("{sub}/access-log")).status, 404);
    assert_eq!(
        s.req(
            "PUT",
            &format!("{sub}/password"),
            Some(r#"{"password":"another long passphrase 8"}"#),
            &[]
        )
        .status,
        404
    );
    assert_eq!(s.get(&format!("/v1/cards/{card_token}")).status, 404);

    // No file of the store holds the wrapped key, any blind-index token or a value.
    for f in files_under(&s.dir) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !contains(&bytes, &wrapped),
            "{} holds the wrapped key",
            f.display()
        );
        for t in tokens.chunks(16) {
            assert!(
                !contains(&bytes, t),
                "{} holds a blind-index token",
                f.display()
            );
        }
        for v in ["Zqxjkwv", "zqxjkwv@example.de"] {
            assert!(!contains(&bytes, v.as_bytes()), "{} holds {v}", f.display());
        }
    }
    // A copy of the data taken before the erasure, with the keys that remain: nothing.
    std::fs::copy(s.dir.join("keys.db"), before.join("keys.db")).unwrap();
    for wal in ["keys.db-wal", "keys.db-shm"] {
        let _ = std::fs::remove_file(before.join(wal));
        if s.dir.join(wal).exists() {
            std::fs::copy(s.dir.join(wal), before.join(wal)).unwrap();
        }
    }
    std::fs::copy(s.dir.with_extension("key"), before.with_extension("key")).unwrap();
    let old = rusqlite::Connection::open(before.join("data.db")).unwrap();
    let rows: i64 = old
        .query_row(
            "SELECT COUNT(*) FROM subjects WHERE id = ?1",
            [&uuid],
            |r| r.get(0),
        )
        .unwrap();
    drop(old);
    assert_eq!(rows, 1, "the old copy holds the sealed row");
    let mut restored = util::serve(&before, &[], &cwd);
    restored.key = s.key.clone();
    assert_eq!(
        restored.get(&sub).status,
        404,
        "the old row opens with the remaining keys"
    );
    restored.terminate();

    // The processor confirms; a service cannot confirm for it.
    let r = s.req(
        "POST",
        &format!("/v1/rights/{req}/confirm"),
        None,
        &[("Authorization", &format!("Bearer {service}"))],
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let r = s.req(
        "POST",
        &format!("/v1/rights/{req}/confirm"),
        None,
        &[("Authorization", &format!("Bearer {processor}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["recipients"][0]["confirmed_at_ms"].is_u64(),
        "{}",
        r.text
    );
    // The receipt is downloadable by operators, and the log still verifies.
    let r = s.get(&format!("/v1/rights/{req}/receipt"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text, receipt);
    let r = s.get(&format!("/v1/rights/{unknown}"));
    assert_eq!(
        r.body["subject"],
        Value::Null,
        "an unverified request names nobody"
    );
    assert_eq!(r.body["state"], "awaiting_verification");
    let (code, out, err) = kura(&["audit", "verify", "--data", d], &cwd);
    assert_eq!(code, 0, "{out}{err}");
}

fn uuid_bytes(id: &str) -> Vec<u8> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn access_rectification_and_restriction_only_after_the_code_on_file() {
    let s = util::start();
    let (processor, service) = parties(&s);
    let id = s.create(&util::marked_subject("Accessme", 3));
    let card = s.post(
        "/v1/cards",
        &json!({"subject_id": id, "pan": "5555 5555 5555 4444", "exp_month": 1,
                "exp_year": 2032, "holder": "A M"}),
    );
    assert_eq!(card.status, 201, "{}", card.text);
    let sub = format!("/v1/collections/accounts/subjects/{id}");
    assert_eq!(get_as(&s, &processor, &sub, "support").status, 200);
    let open =
        |key: &str, body: Value| as_key(&s, key, "POST", "/v1/collections/accounts/rights", &body);
    let verify = |key: &str, body: Value| {
        as_key(
            &s,
            key,
            "POST",
            "/v1/collections/accounts/rights/verify",
            &body,
        )
    };

    // Access, by subject id: the package after the code, never before.
    let r = open(&service, json!({"kind": "access", "subject": id}));
    assert_eq!(r.status, 202, "{}", r.text);
    let req = r.body["request"].as_str().unwrap().to_owned();
    let token = token_for(&s.dir, "Accessme@example.de");
    let r = verify(&service, json!({"token": token, "mail_copy": true}));
    assert_eq!(r.status, 200, "{}", r.text);
    let copy = outbox(&s.dir)
        .into_iter()
        .find(|m| m.1 == "Accessme@example.de" && m.3.contains("kura-export/1"))
        .expect("a copy mailed to the address on file");
    assert!(copy.3.contains("AccessmeMüller"));
    let p = &r.body["export"];
    assert_eq!(p["format"], "kura-export/1");
    assert_eq!(p["fields"]["name"], "AccessmeMüller");
    assert_eq!(p["fields"]["email"], "Accessme@example.de");
    assert_eq!(p["cards"][0]["last4"], "4444");
    assert_eq!(p["credential"]["password_set"], false);
    assert!(p["fields"].get("password").is_none());
    let history = p["access_history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|e| e["organization"] == "callcentre" && e["purpose"] == "support"),
        "{history:?}"
    );
    assert!(
        p["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == "callcentre")
    );
    let csv = p["csv"]["accounts.csv"].as_str().unwrap();
    assert!(csv.starts_with("field,category,value\n"), "{csv}");
    assert!(csv.contains("AccessmeMüller"));
    assert!(
        p["csv"]["access_history.csv"]
            .as_str()
            .unwrap()
            .contains("callcentre")
    );
    assert_eq!(r.body["request"]["state"], "completed");
    let v = s.get(&format!("/v1/rights/{req}"));
    assert_eq!(v.body["regime"], "gdpr", "{}", v.text);
    let month = 27 * 86_400_000i64;
    assert!(
        v.body["due_at_ms"].as_i64().unwrap() - v.body["received_at_ms"].as_i64().unwrap() > month
    );

    // A caller without the grant is refused before anything happens.
    let r = open(&processor, json!({"kind": "access", "subject": id}));
    assert_eq!(r.status, 403, "{}", r.text);

    // Rectification, by login id: the corrected fields come with the code.
    let r = open(
        &service,
        json!({"kind": "rectification", "login_id": "Accessmelogin"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let token = token_for(&s.dir, "Accessme@example.de");
    let r = verify(&service, json!({"token": token}));
    assert_eq!(r.code(), "rectification_fields_required", "{}", r.text);
    let r = verify(
        &service,
        json!({"token": token, "fields": {"name": "Richtig Name"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.get(&sub).body["fields"]["name"], "Richtig Name");

    // Restriction, by the subject's own principal: afterwards only the subject reads.
    let r = s.post(
        "/v1/principals",
        &json!({"org": "owner", "name": "me", "kind": "self", "subject": id}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let me = r.body["api_key"].as_str().unwrap().to_owned();
    let mine = |path: &str, body: Value| as_key_for(&s, &me, "self_service", "POST", path, &body);
    let r = mine(
        "/v1/collections/accounts/rights",
        json!({"kind": "restriction"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let restriction = r.body["request"].as_str().unwrap().to_owned();
    // Someone else's subject is refused to a self-service principal.
    let other = s.create(&util::marked_subject("Someoneelse", 4));
    let r = mine(
        "/v1/collections/accounts/rights",
        json!({"kind": "erasure", "subject": other}),
    );
    assert_eq!(r.code(), "not_own_subject", "{}", r.text);
    let token = token_for(&s.dir, "Accessme@example.de");
    // A code of someone else's request is not valid to a self-service key (and the answer
    // does not say that it is someone else's): key and code must belong together.
    let r = open(
        &service,
        json!({"kind": "access", "login_id": "Someoneelselogin"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let theirs = token_for(&s.dir, "Someoneelse@example.de");
    let r = mine(
        "/v1/collections/accounts/rights/verify",
        json!({"token": theirs}),
    );
    assert_eq!(r.code(), "rights_token_invalid", "{}", r.text);
    // Its own request's code it redeems itself (the console's subject page does this).
    let r = mine(
        "/v1/collections/accounts/rights/verify",
        json!({"token": token}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // The code is spent: the service cannot redeem it again.
    let r = verify(&service, json!({"token": token}));
    assert_eq!(r.code(), "rights_token_invalid", "{}", r.text);
    // The other subject's code still works for the relaying service.
    let r = verify(&service, json!({"token": theirs}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = get_as(&s, &processor, &sub, "support");
    assert_eq!(
        (r.status, r.code()),
        (403, "processing_restricted"),
        "{}",
        r.text
    );
    let r = get_as(&s, &service, &sub, "privacy");
    assert_eq!((r.status, r.code()), (403, "processing_restricted"));
    assert_eq!(s.get(&sub).code(), "processing_restricted", "operators too");
    let r = get_as(&s, &me, &sub, "self_service");
    assert_eq!(r.status, 200, "{}", r.text);

    // Deadlines: extended with reasons (within the first month), then closed for changes.
    let r = s.post(
        &format!("/v1/rights/{restriction}/extend"),
        &json!({"reason": "x"}),
    );
    assert_eq!(r.code(), "request_closed", "{}", r.text);
    let r = open(&service, json!({"kind": "access", "subject": id}));
    let pending = r.body["request"].as_str().unwrap().to_owned();
    let r = s.post(
        &format!("/v1/rights/{pending}/extend"),
        &json!({"reason": ""}),
    );
    assert_eq!(r.code(), "reason_required");
    let before = s.get(&format!("/v1/rights/{pending}")).body["due_at_ms"]
        .as_i64()
        .unwrap();
    let r = s.post(
        &format!("/v1/rights/{pending}/extend"),
        &json!({"reason": "We must collect records from two archives."}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["due_at_ms"].as_i64().unwrap() > before + 55 * 86_400_000);
    let r = s.post(
        &format!("/v1/rights/{pending}/extend"),
        &json!({"reason": "again"}),
    );
    assert_eq!(r.code(), "already_extended");
    assert!(
        outbox(&s.dir)
            .iter()
            .any(|m| m.3.contains("We must collect records from two archives.")),
        "the subject is told the reasons"
    );
    let r = s.post(
        &format!("/v1/rights/{pending}/deny"),
        &json!({"reason": "Manifestly unfounded."}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["state"], "denied");
    // A flood of requests is not a flood of mail: the person got at most five codes today.
    let codes_before = outbox(&s.dir)
        .iter()
        .filter(|m| m.1 == "Accessme@example.de" && token_in(&m.3).is_some())
        .count();
    for _ in 0..10 {
        let r = open(&service, json!({"kind": "access", "subject": id}));
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let codes_after = outbox(&s.dir)
        .iter()
        .filter(|m| m.1 == "Accessme@example.de" && token_in(&m.3).is_some())
        .count();
    assert_eq!(codes_before, 4, "four codes so far");
    assert_eq!(codes_after, 5, "at most five codes a day");
    let list = s.get("/v1/rights?state=completed");
    assert_eq!(list.body.as_array().unwrap().len(), 4, "{}", list.text);
    let m = s.get("/v1/metrics");
    assert!(
        m.text.contains("kura_rights_requests_overdue 0"),
        "{}",
        m.text
    );
    // Service keys do not list requests.
    let r = get_as(&s, &service, "/v1/rights", "privacy");
    assert_eq!(r.status, 403);
}

fn config(tmp: &Path) -> PathBuf {
    let p = tmp.join("kura.toml");
    std::fs::write(
        &p,
        "[[retention]]\nname = \"dormant\"\ncollection = \"accounts\"\ninactive_days = 730\nconfirm_days = 30\n\
         [rights]\ncontroller_name = \"Example Games\"\ncontroller_contact = \"privacy@example.com\"\n",
    )
    .unwrap();
    p
}

fn sqlite(dir: &Path, sql: &str) {
    let c = rusqlite::Connection::open(dir.join("data.db")).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.execute_batch(sql).unwrap();
}

#[test]
fn retention_asks_once_survives_a_kill_and_erases_the_silent_with_receipts() {
    const N: usize = 600;
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dir = cwd.join("vault");
    let d = dir.to_str().unwrap();
    let (code, out, err) = kura(&util::with_owner(&["init", "--data", d, "--json"]), cwd);
    assert_eq!(code, 0, "{err}");
    let op: Value = serde_json::from_str(out.trim()).unwrap();
    let cfg = config(cwd);
    let c = cfg.to_str().unwrap();
    let mut lines = String::new();
    for i in 0..N {
        lines.push_str(
            &json!({"country": "US", "locale": "en-US", "fields": {
                "name": format!("Dormant{i}"), "login_id": format!("dormant{i}"),
                "email": format!("d{i}@example.org")}})
            .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(cwd.join("people.ndjson"), lines).unwrap();
    let (code, _, err) = kura(&["import", "--data", d, "people.ndjson"], cwd);
    assert_eq!(code, 0, "{err}");
    // The first run starts everyone's clock and asks nobody.
    let run = |extra: &[&str]| {
        let mut a = vec!["retention", "run", "--data", d, "--config", c, "--json"];
        a.extend_from_slice(extra);
        let (code, out, err) = kura(&a, cwd);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()[0][1].clone()
    };
    let first = run(&[]);
    assert_eq!(
        (first["stamped"].as_u64(), first["asked"].as_u64()),
        (Some(N as u64), Some(0))
    );
    // Two years and more pass without a login.
    sqlite(
        &dir,
        "UPDATE subject_activity SET active_at = active_at - 800 * 86400000;",
    );
    let (code, out, err) = kura(
        &["retention", "plan", "--data", d, "--config", c, "--json"],
        cwd,
    );
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan[0]["total"]["ask"], N as u64, "{plan}");
    assert_eq!(plan[0]["countries"]["US"]["ask"], N as u64);

    // A run paced at 150 mails/s, killed with SIGKILL midway, then run again.
    let mut child = Command::new(kura_bin())
        .args([
            "retention",
            "run",
            "--data",
            d,
            "--config",
            c,
            "--rate",
            "150",
        ])
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox(&dir).len() < 100 {
        assert!(Instant::now() < deadline, "the paced run sent nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let sent_before = outbox(&dir).len();
    assert!(sent_before < N, "killed too late ({sent_before} sent)");
    let second = run(&[]);
    assert_eq!(second["erased"], 0, "{second}");
    let mails = outbox(&dir);
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for (_, to, subject, _) in &mails {
        assert!(subject.contains("keep your account"), "{subject}");
        *per.entry(to.clone()).or_default() += 1;
    }
    assert_eq!(per.len(), N, "everyone asked");
    assert!(
        per.values().all(|n| *n == 1),
        "someone asked twice: {per:?}"
    );
    // Asked again now: nobody (once per cycle).
    let third = run(&[]);
    assert_eq!(
        (third["asked"].as_u64(), third["erased"].as_u64()),
        (Some(0), Some(0))
    );

    // One person confirms through the service; the others stay silent past 30 days.
    let keeper = "d5@example.org";
    let token = mails
        .iter()
        .find(|m| m.1 == keeper)
        .and_then(|m| token_in(&m.3))
        .unwrap();
    let mut s = util::serve(&dir, &["--config", c], cwd);
    s.key = op["operator_key"].as_str().unwrap().to_owned();
    let r = s.post(
        "/v1/collections/accounts/reconfirm",
        &json!({"token": token}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s.post(
        "/v1/collections/accounts/reconfirm",
        &json!({"token": token}),
    );
    assert_eq!(r.code(), "rights_token_invalid");
    s.terminate();
    sqlite(
        &dir,
        "UPDATE rights_requests SET due_at = due_at - 31 * 86400000 WHERE state = 'asked';\
         UPDATE subject_activity SET asked_at = asked_at - 31 * 86400000 WHERE asked_at IS NOT NULL;",
    );
    let done = run(&[]);
    assert_eq!(done["erased"], (N - 1) as u64, "{done}");
    let receipts: Vec<_> = outbox(&dir)
        .into_iter()
        .filter(|m| m.3.contains("kura-erasure-receipt/1"))
        .collect();
    assert_eq!(receipts.len(), N - 1);
    assert!(!receipts.iter().any(|m| m.1 == keeper));
    // One receipt, from the mail, verifies.
    let text = &receipts[17].3;
    let file = &text[text.find("----- receipt").unwrap()..];
    let file = &file[file.find('\n').unwrap() + 1..];
    std::fs::write(
        cwd.join("r.txt"),
        file.trim_end_matches('\n').to_owned() + "\n",
    )
    .unwrap();
    let (_, vkey, _) = kura(&["audit", "key", "--data", d], cwd);
    let (code, out, err) = kura(&["receipt", "verify", "r.txt", "--vkey", vkey.trim()], cwd);
    assert_eq!(code, 0, "{out}{err}");
    // The keeper is still there; the rest are gone; the log verifies.
    let data = rusqlite::Connection::open(dir.join("data.db")).unwrap();
    let left: i64 = data
        .query_row("SELECT COUNT(*) FROM subjects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 1);
    drop(data);
    let (code, out, err) = kura(&["audit", "verify", "--data", d], cwd);
    assert_eq!(code, 0, "{out}{err}");
    let again = run(&[]);
    assert_eq!(
        (again["asked"].as_u64(), again["erased"].as_u64()),
        (Some(0), Some(0))
    );
}
