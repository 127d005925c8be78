//! Issue 13: the first operator is a principal of the owning organization, `kura init`
//! refuses to run in a script without an owner, and break glass needs the key file and is
//! recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use serde_json::Value;
use util::kura;

#[test]
fn init_in_a_script_without_an_owner_refuses_naming_the_flags_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let (code, _, err) = kura(&["init", "--data", dir.to_str().unwrap()], tmp.path());
    assert_eq!(code, 2, "{err}");
    for flag in ["--org", "--org-name", "--officer-name", "--officer-contact"] {
        assert!(err.contains(flag), "{flag} not named: {err}");
    }
    assert!(!dir.exists(), "nothing is created");
    // A bad contact for the officer refuses too.
    let mut args = util::with_owner(&["init", "--data", dir.to_str().unwrap()]);
    let at = args
        .iter()
        .position(|a| *a == "security@owner.example")
        .unwrap();
    args[at] = "nobody";
    let (code, _, err) = kura(&args, tmp.path());
    assert_eq!(code, 2);
    assert!(err.contains("invalid_contact"), "{err}");
}

#[test]
fn the_first_operator_is_a_revocable_principal_and_break_glass_is_recorded() {
    let s = util::start();
    let tmp = tempfile::tempdir().unwrap();
    let list = s.get("/v1/principals");
    assert_eq!(list.status, 200, "{}", list.text);
    let op = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "operator")
        .expect("the first operator is listed")
        .clone();
    assert_eq!(op["org"], "owner");
    let org = s.get("/v1/orgs/owner");
    assert_eq!(org.body["security_officer"]["name"], "Owner Officer");

    // The operator revokes its own key: from then on it is refused like any revoked key.
    let prefix = &s.key[..13];
    let id = op["id"].as_str().unwrap();
    let r = s.req(
        "DELETE",
        &format!("/v1/principals/{id}/keys/{prefix}"),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.get("/v1/principals").status, 401);

    // Break glass without the key file: refused.
    let data = s.dir.to_str().unwrap();
    let missing = tmp.path().join("no.key");
    let (code, _, err) = kura(
        &[
            "break-glass",
            "--data",
            data,
            "--key-file",
            missing.to_str().unwrap(),
            "--org",
            "owner",
            "--reason",
            "test",
            "--json",
        ],
        tmp.path(),
    );
    assert_eq!(code, 2, "{err}");

    // With it: a new operator key that works, recorded as a break_glass event.
    let (code, out, err) = kura(
        &[
            "break-glass",
            "--data",
            data,
            "--org",
            "owner",
            "--reason",
            "Owner Officer: every operator key revoked in a test",
            "--json",
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("break-glass"), "the use is logged: {err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let key = v["operator_key"].as_str().unwrap();
    let new_id = v["operator_id"].as_str().unwrap();
    let auth = format!("Bearer {key}");
    let r = s.req("GET", "/v1/principals", None, &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.text);
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    let mut found = false;
    for i in 0..n {
        let e = s.req(
            "GET",
            &format!("/v1/audit/entries/{i}"),
            None,
            &[("Authorization", &auth)],
        );
        if e.body["event"]["action"] == "break_glass" {
            assert_eq!(e.body["event"]["request_id"], new_id, "{}", e.text);
            found = true;
        }
    }
    assert!(found, "break glass is an access event");
}

#[test]
fn serve_refuses_an_import_line_limit_of_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v");
    let (code, _, err) = kura(
        &util::with_owner(&["init", "--data", dir.to_str().unwrap()]),
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let cfg = tmp.path().join("kura.toml");
    std::fs::write(&cfg, "[server]\nmax_import_line_bytes = 0\n").unwrap();
    let (code, _, err) = kura(
        &[
            "serve",
            "--data",
            dir.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("max_import_line_bytes"), "{err}");
}
