//! End to end with `[keys] provider = "pkcs11"`: the real `kura` binary keeps the vault's keys
//! in a SoftHSM2 token made for the test in a temporary directory (the child processes get
//! `SOFTHSM2_CONF`, the configuration and the PIN through their environment). Without
//! SoftHSM2 the test prints a skip notice, or fails under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::Path;
use std::process::Command;

use kura_testkit::keys::{SoftHsm, softhsm_or_skip};
use util::{full_subject, kura_bin, serve_with_env, with_owner};

/// Runs `kura` with `envs` added; returns (exit code, stdout, stderr).
fn kura_env(args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(kura_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("KURA_DATA")
        .env_remove("KURA_STORE_URL")
        .env_remove("KURA_PKCS11_PIN")
        .envs(envs.iter().copied())
        .output()
        .expect("kura runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_vault_whose_keys_live_in_a_pkcs11_token() {
    if !softhsm_or_skip("a_vault_whose_keys_live_in_a_pkcs11_token") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new(&tmp.path().join("softhsm"));
    let token = hsm.token();
    let config = tmp.path().join("kura.toml");
    std::fs::write(
        &config,
        format!(
            "[keys]\nprovider = \"pkcs11\"\n\n[keys.pkcs11]\nmodule = \"{}\"\ntoken_label = \"{}\"\npin_env = \"TEST_TOKEN_PIN\"\n",
            hsm.module.display(),
            token.label
        ),
    )
    .unwrap();
    let conf = hsm.conf.to_str().unwrap();
    let cfg = config.to_str().unwrap();
    let env = [
        ("SOFTHSM2_CONF", conf),
        ("KURA_CONFIG", cfg),
        ("TEST_TOKEN_PIN", token.pin.as_str()),
    ];
    let dir = tmp.path().join("vault");
    let data = dir.to_str().unwrap();

    // Without the PIN, init refuses, says where the PIN comes from, and creates nothing:
    // the same directory is used right after.
    let (code, _, err) = kura_env(
        &with_owner(&["init", "--data", data, "--json"]),
        tmp.path(),
        &env[..2],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("TEST_TOKEN_PIN") && err.contains("pin_file"),
        "{err}"
    );
    assert!(!dir.exists(), "a refused init leaves no store behind");

    let (code, out, err) = kura_env(
        &with_owner(&["init", "--data", data, "--json"]),
        tmp.path(),
        &env,
    );
    assert_eq!(code, 0, "init failed: {err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let key = v["operator_key"].as_str().unwrap().to_owned();
    // No key file anywhere: not the default one beside the data directory, none inside.
    assert!(
        !tmp.path().join("vault.key").exists(),
        "a key file was made"
    );
    let stray: Vec<_> = walk(tmp.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    assert!(stray.is_empty(), "key files: {stray:?}");

    let mut s = serve_with_env(&dir, &[], tmp.path(), &env);
    s.key = key.clone();
    let id = s.create(&full_subject());
    let r = s.get(&format!("/v1/collections/accounts/subjects/{id}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"], full_subject()["fields"]);
    assert_eq!(s.terminate(), 0);

    // A second process opens the same keys in the token.
    let mut s = serve_with_env(&dir, &[], tmp.path(), &env);
    s.key = key;
    let r = s.get(&format!("/v1/collections/accounts/subjects/{id}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"], full_subject()["fields"]);
    assert_eq!(s.terminate(), 0);

    let (code, out, err) = kura_env(&["audit", "verify", "--data", data], tmp.path(), &env);
    assert_eq!(code, 0, "audit verify failed: {out}{err}");

    // A wrong PIN: serve exits with an error naming the token, never the PIN.
    let wrong = "31415926-not-the-pin";
    let (code, out, err) = kura_env(
        &["serve", "--data", data, "--listen", "127.0.0.1:0"],
        tmp.path(),
        &[
            ("SOFTHSM2_CONF", conf),
            ("KURA_CONFIG", cfg),
            ("TEST_TOKEN_PIN", wrong),
        ],
    );
    assert_ne!(code, 0, "served with a wrong PIN: {out}");
    assert!(err.contains("wrong PIN"), "{err}");
    assert!(err.contains(&token.label), "{err}");
    assert!(
        !err.contains("31415926") && !out.contains("31415926"),
        "{err}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
