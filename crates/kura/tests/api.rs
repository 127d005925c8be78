//! End-to-end tests of the vault core (issue 2): the real `kura` binary, a real SQLite
//! store in a temporary directory, real HTTP on a free loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use serde_json::json;
use util::{Server, kura, start};

use util::full_subject;

#[test]
fn round_trip_of_every_field_type_and_unicode() {
    let s = start();
    let id = s.create(&full_subject());
    let r = s.get(&format!("/v1/collections/accounts/subjects/{id}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["country"], "JP");
    assert_eq!(r.body["locale"], "ja-JP");
    assert_eq!(r.body["fields"], full_subject()["fields"]);
    // Only the fields asked for.
    let r = s.get(&format!(
        "/v1/collections/accounts/subjects/{id}?fields=name,birth_date"
    ));
    assert_eq!(
        r.body["fields"],
        json!({"name": "山田 太郎", "birth_date": "1990-04-01"})
    );
    // Search through the blind index, with normalization.
    for (field, value) in [
        ("email", "taro.yamada@example.jp"),
        ("phone", "819012345678"),
        ("login_id", "yamada_taro"),
        ("online_id", "Taro🎮Gamer"),
    ] {
        let r = s.post(
            "/v1/collections/accounts/search",
            &json!({"field": field, "value": value}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["ids"], json!([id]), "search by {field}");
    }
    // Patch with German umlauts and an emoji; remove the phone.
    let r = s.req(
        "PATCH",
        &format!("/v1/collections/accounts/subjects/{id}"),
        Some(
            &json!({"fields": {"name": "Jürgen Müßig 😀", "postal_address": "Königstraße 1, 70173 Stuttgart", "phone": null}})
                .to_string(),
        ),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.get(&format!("/v1/collections/accounts/subjects/{id}"));
    assert_eq!(r.body["fields"]["name"], "Jürgen Müßig 😀");
    assert_eq!(
        r.body["fields"]["postal_address"],
        "Königstraße 1, 70173 Stuttgart"
    );
    assert!(r.body["fields"].get("phone").is_none());
    let r = s.post(
        "/v1/collections/accounts/search",
        &json!({"field": "phone", "value": "+81 90 1234 5678"}),
    );
    assert_eq!(r.body["ids"], json!([]));
    // Delete: 200, then 404 and no search hit.
    let r = s.req(
        "DELETE",
        &format!("/v1/collections/accounts/subjects/{id}"),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.get(&format!("/v1/collections/accounts/subjects/{id}"));
    assert_eq!((r.status, r.code()), (404, "subject_not_found"));
    let r = s.post(
        "/v1/collections/accounts/search",
        &json!({"field": "email", "value": "taro.yamada@example.jp"}),
    );
    assert_eq!(r.body["ids"], json!([]));
    // The wrapped data key is gone from the key store (crypto-shredding).
    let keys = rusqlite::Connection::open(s.dir.join("keys.db")).unwrap();
    let n: i64 = keys
        .query_row("SELECT count(*) FROM data_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn every_malformed_request_class_gets_its_status_and_code_and_changes_nothing() {
    let s = start();
    let id = s.create(&full_subject());
    let before_rows = s.row_count();
    let subj = format!("/v1/collections/accounts/subjects/{id}");
    let good = full_subject().to_string();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = full_subject();
        f(&mut v);
        v.to_string()
    };
    // Just over the 1 MiB limit: the whole body fits in loopback socket buffers, so the
    // client has finished sending when the server answers 413 and closes.
    let big = "x".repeat((1 << 20) + 1024);
    let bad_key = "Bearer kura_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    type Case<'a> = (
        &'a str,
        String,
        Option<String>,
        Vec<(&'a str, &'a str)>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(good.clone()),
            vec![("Authorization", "")],
            401,
            "unauthorized",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(good.clone()),
            vec![("Authorization", bad_key)],
            401,
            "unauthorized",
        ),
        (
            "GET",
            subj.clone(),
            None,
            vec![("Authorization", "Bearer not-a-key")],
            401,
            "unauthorized",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(good.clone()),
            vec![("X-Kura-Purpose", "")],
            400,
            "purpose_required",
        ),
        (
            "GET",
            subj.clone(),
            None,
            vec![("X-Kura-Purpose", "")],
            400,
            "purpose_required",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(good.clone()),
            vec![("X-Kura-Purpose", "Two Words")],
            400,
            "invalid_purpose",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some("{not json".into()),
            vec![],
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| v["extra"] = json!(1))),
            vec![],
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| v["fields"]["shoe_size"] = json!("42"))),
            vec![],
            400,
            "unknown_field",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| v["fields"]["name"] = json!(42))),
            vec![],
            400,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| {
                v["fields"].as_object_mut().unwrap().remove("login_id");
            })),
            vec![],
            400,
            "missing_required_field",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| v["country"] = json!("XX"))),
            vec![],
            400,
            "invalid_country",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| v["locale"] = json!("not a locale"))),
            vec![],
            400,
            "invalid_locale",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| v["fields"]["birth_date"] = json!("1990-02-30"))),
            vec![],
            400,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| v["fields"]["gender"] = json!("robot"))),
            vec![],
            400,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(with(&|v| v["fields"]["phone"] = json!("call me"))),
            vec![],
            400,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/collections/nope/subjects".into(),
            Some(good.clone()),
            vec![],
            404,
            "unknown_collection",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(format!(
                "{{\"country\":\"JP\",\"locale\":\"ja\",\"fields\":{{\"name\":\"{big}\"}}}}"
            )),
            vec![],
            413,
            "body_too_large",
        ),
        (
            "POST",
            "/v1/collections/accounts/subjects".into(),
            Some(good.clone()),
            vec![("Content-Type", "text/plain")],
            415,
            "unsupported_media_type",
        ),
        (
            "GET",
            "/v1/collections/accounts/subjects/0190d6c4-0000-7000-8000-000000000000".into(),
            None,
            vec![],
            404,
            "subject_not_found",
        ),
        (
            "GET",
            "/v1/collections/accounts/subjects/not-a-uuid".into(),
            None,
            vec![],
            400,
            "invalid_subject_id",
        ),
        (
            "GET",
            format!("{subj}?fields=name,shoe_size"),
            None,
            vec![],
            400,
            "unknown_field",
        ),
        (
            "GET",
            format!("/v1/collections/nope/subjects/{id}"),
            None,
            vec![],
            404,
            "unknown_collection",
        ),
        (
            "PATCH",
            subj.clone(),
            Some(json!({"fields": {"shoe_size": "42"}}).to_string()),
            vec![],
            400,
            "unknown_field",
        ),
        (
            "PATCH",
            subj.clone(),
            Some(json!({"fields": {"login_id": null}}).to_string()),
            vec![],
            400,
            "missing_required_field",
        ),
        (
            "PATCH",
            subj.clone(),
            Some(json!({"fields": {"birth_date": "yesterday"}}).to_string()),
            vec![],
            400,
            "invalid_value",
        ),
        (
            "PATCH",
            subj.clone(),
            Some(json!({"fields": {}}).to_string()),
            vec![],
            400,
            "invalid_body",
        ),
        (
            "DELETE",
            "/v1/collections/accounts/subjects/0190d6c4-0000-7000-8000-000000000000".into(),
            None,
            vec![],
            404,
            "subject_not_found",
        ),
        (
            "DELETE",
            subj.clone(),
            None,
            vec![("X-Kura-Purpose", "")],
            400,
            "purpose_required",
        ),
        (
            "POST",
            "/v1/collections/accounts/search".into(),
            Some(json!({"field": "birth_date", "value": "1990-04-01"}).to_string()),
            vec![],
            422,
            "field_not_searchable",
        ),
        (
            "POST",
            "/v1/collections/accounts/search".into(),
            Some(json!({"field": "gender", "value": "male"}).to_string()),
            vec![],
            422,
            "field_not_searchable",
        ),
        (
            "POST",
            "/v1/collections/accounts/search".into(),
            Some(json!({"field": "shoe_size", "value": "42"}).to_string()),
            vec![],
            400,
            "unknown_field",
        ),
        (
            "POST",
            "/v1/collections/accounts/search".into(),
            Some(json!({"field": "email"}).to_string()),
            vec![],
            400,
            "invalid_body",
        ),
        (
            "GET",
            "/v1/no/such/route".into(),
            None,
            vec![],
            404,
            "not_found",
        ),
    ];
    for (method, path, body, headers, status, code) in &cases {
        let r = s.req(method, path, body.as_deref(), headers);
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{method} {path}: {}",
            r.text
        );
        let msg = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(!msg.is_empty(), "{method} {path}: no message");
        assert!(
            !msg.contains("山田") && !msg.contains("robot") && !msg.contains("yesterday"),
            "error echoes a value: {msg}"
        );
    }
    // Nothing changed.
    assert_eq!(s.row_count(), before_rows);
    let r = s.get(&subj);
    assert_eq!(r.body["fields"], full_subject()["fields"]);
}

fn contains_marker(bytes: &[u8], marker: &str) -> bool {
    let utf8 = marker.as_bytes();
    let utf16le: Vec<u8> = marker.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = marker.encode_utf16().flat_map(u16::to_be_bytes).collect();
    [utf8.to_vec(), utf16le, utf16be]
        .iter()
        .any(|needle| bytes.windows(needle.len()).any(|w| w == needle.as_slice()))
}

fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn no_plaintext_at_rest() {
    let mut s = start();
    let mut markers = Vec::new();
    for i in 0..40 {
        let m = format!("MRK{i:03}q7x");
        let id = s.create(&util::marked_subject(&m, i));
        markers.push(m.clone());
        if i % 10 == 0 {
            let p = format!("/v1/collections/accounts/subjects/{id}");
            let r = s.req(
                "PATCH",
                &p,
                Some(&json!({"fields": {"name": format!("{m}patched")}}).to_string()),
                &[],
            );
            assert_eq!(r.status, 200);
        }
    }
    // Check while the server runs (WAL files present), then after a clean shutdown.
    for phase in ["running", "stopped"] {
        if phase == "stopped" {
            assert_eq!(s.terminate(), 0);
        }
        let files = all_files(&s.dir);
        assert!(files.iter().any(|f| f.ends_with("data.db")));
        assert!(files.iter().any(|f| f.ends_with("keys.db")));
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            for m in &markers {
                assert!(
                    !contains_marker(&bytes, m),
                    "{phase}: marker {m} found in {}",
                    f.display()
                );
            }
        }
        // The test itself can find a marker written in the clear (it is not blind).
        assert!(contains_marker("xxMRK001q7xyy".as_bytes(), "MRK001q7x"));
        assert!(contains_marker(
            &"MRK001q7x"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
            "MRK001q7x"
        ));
    }
    // Nor did any marker reach the server's log.
    let logs = s.logs();
    for m in &markers {
        assert!(!logs.contains(m.as_str()), "marker {m} in the log");
    }
}

#[test]
fn a_moved_ciphertext_is_an_integrity_error_not_garbage() {
    let s = start();
    let a = s.create(&full_subject());
    let mut other = full_subject();
    other["fields"]["login_id"] = json!("suzuki");
    other["fields"]["name"] = json!("鈴木 一郎");
    let b = s.create(&other);
    let conn = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    let ua = uuid_bytes(&a);
    let ub = uuid_bytes(&b);
    conn.execute(
        "UPDATE subjects SET fields = (SELECT fields FROM subjects WHERE id = ?1) WHERE id = ?2",
        [ua.as_slice(), ub.as_slice()],
    )
    .unwrap();
    let r = s.get(&format!("/v1/collections/accounts/subjects/{b}"));
    assert_eq!((r.status, r.code()), (500, "integrity_error"), "{}", r.text);
    assert!(!r.text.contains("山田"));
    let r = s.get(&format!("/v1/collections/accounts/subjects/{a}"));
    assert_eq!(r.status, 200);
}

fn uuid_bytes(id: &str) -> Vec<u8> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn import_over_http_answers_per_line() {
    let s = start();
    let before = s.row_count();
    let mut lines = Vec::new();
    for i in 0..5 {
        let mut v = full_subject();
        v["fields"]["login_id"] = json!(format!("imp{i}"));
        v["fields"]["email"] = json!(format!("imp{i}@example.jp"));
        lines.push(v.to_string());
    }
    lines[2] = json!({"country": "JP", "locale": "ja", "fields": {"email": "x@y.jp"}}).to_string();
    lines.insert(3, String::new()); // blank lines are skipped
    lines[4] = "{broken".into();
    let body = lines.join("\n");
    let r = s.req("POST", "/v1/collections/accounts/import", Some(&body), &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let ids = r.body["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 5, "{}", r.text);
    assert!(ids[0].is_string() && ids[1].is_string() && ids[2].is_null());
    assert!(ids[3].is_null() && ids[4].is_string());
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["code"], "missing_required_field");
    assert_eq!(errors[1]["line"], 5);
    assert_eq!(errors[1]["code"], "malformed_json");
    assert_eq!(s.row_count(), before + 3);
    let r = s.post(
        "/v1/collections/accounts/search",
        &json!({"field": "login_id", "value": "imp4"}),
    );
    assert_eq!(r.body["ids"], json!([ids[4]]));
}

#[test]
fn cli_import_streams_a_file() {
    let s = start();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("people.ndjson");
    let mut text = String::new();
    for i in 0..2500 {
        let mut v = full_subject();
        v["fields"]["login_id"] = json!(format!("cli{i}"));
        text.push_str(&v.to_string());
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    let (code, out, err) = kura(
        &[
            "import",
            "--data",
            s.dir.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 2500 subjects"), "{out}");
    // The running server sees them.
    let r = s.post(
        "/v1/collections/accounts/search",
        &json!({"field": "login_id", "value": "cli2499"}),
    );
    assert_eq!(r.body["ids"].as_array().unwrap().len(), 1);
}

#[test]
fn serve_refuses_an_uninitialized_dir_and_init_refuses_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let (code, _, err) = kura(&["serve", "--data", dir.to_str().unwrap()], tmp.path());
    assert_eq!(code, 2);
    assert!(err.contains("kura init"), "{err}");
    let (code, _, err) = kura(
        &util::with_owner(&["init", "--data", dir.to_str().unwrap(), "--json"]),
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let mode = std::fs::metadata(tmp.path().join("v.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    let (code, _, err) = kura(
        &util::with_owner(&["init", "--data", dir.to_str().unwrap()]),
        tmp.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn a_searchable_birth_date_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("kura.toml");
    std::fs::write(
        &cfg,
        "[[collections]]\nname = \"members\"\n[[collections.fields]]\nname = \"born\"\ncategory = \"birth_date\"\ntype = \"date\"\nsearchable = true\n",
    )
    .unwrap();
    let dir = tmp.path().join("v");
    let (code, _, err) = kura(
        &[
            "init",
            "--data",
            dir.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("members.born") && err.contains("may not be searchable"),
        "{err}"
    );
    assert!(!dir.exists(), "nothing was created");
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut s = start();
    assert_eq!(s.get("/v1/health").status, 200);
    assert_eq!(s.terminate(), 0);
    assert!(s.logs().contains("shut down cleanly"), "{}", s.logs());
}

#[test]
fn openapi_is_served_and_docs_copy_is_current() {
    let s = start();
    let r = s.get("/v1/openapi.json");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    for p in [
        "/v1/collections/{c}/subjects",
        "/v1/collections/{c}/search",
        "/v1/collections/{c}/import",
    ] {
        assert!(r.body["paths"].get(p).is_some(), "{p} missing");
    }
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let current = kura_server::openapi_json();
    if std::env::var_os("KURA_UPDATE_DOCS").is_some() {
        std::fs::write(&docs, &current).unwrap();
    }
    let kept = std::fs::read_to_string(&docs).unwrap_or_default();
    assert_eq!(
        kept, current,
        "docs/openapi.json is stale: run `KURA_UPDATE_DOCS=1 cargo test -p kura --test api openapi`"
    );
}

#[test]
fn dev_mode_initializes_prints_a_key_and_serves() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(util::kura_bin())
        .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut key = None;
    let mut base = None;
    let mut saw_curl = false;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let t = line.trim();
        if t.starts_with("kura_") && key.is_none() {
            key = Some(t.to_owned());
        }
        saw_curl |= t.starts_with("curl ");
        if let Some(rest) = t.strip_prefix("listening on ") {
            base = Some(rest.to_owned());
            break;
        }
    }
    assert!(saw_curl, "no curl example printed");
    let s = Server {
        child,
        base: base.expect("listening line"),
        key: key.expect("operator key printed"),
        dir: tmp.path().join("kura-dev"),
        stderr_path: tmp.path().join("none"),
        _tmp: None,
    };
    let id = s.create(&full_subject());
    assert_eq!(
        s.get(&format!("/v1/collections/accounts/subjects/{id}"))
            .status,
        200
    );
    assert!(tmp.path().join("kura-dev.key").exists());
}
