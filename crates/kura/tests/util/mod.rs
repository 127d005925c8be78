//! Test support: runs the real `kura` binary on a temporary directory and a free loopback
//! port, and talks HTTP to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn kura_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kura")
}

/// Runs `kura` with arguments and returns (exit code, stdout, stderr).
pub fn kura(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(kura_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("KURA_DATA")
        .env_remove("KURA_STORE_URL")
        .env_remove("KURA_KEY_FILE")
        .env_remove("KURA_CONFIG")
        .output()
        .expect("kura runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The owning organization and security officer every test vault is created with.
pub const OWNER: [&str; 8] = [
    "--org",
    "owner",
    "--org-name",
    "Owner Inc.",
    "--officer-name",
    "Owner Officer",
    "--officer-contact",
    "security@owner.example",
];

/// `kura init` arguments with [`OWNER`] added.
pub fn with_owner<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(OWNER);
    v
}

/// A running `kura serve`.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub key: String,
    pub dir: PathBuf,
    pub stderr_path: PathBuf,
    pub _tmp: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Initializes a vault in a fresh temp dir and serves it.
pub fn start() -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let (code, out, err) = kura(
        &with_owner(&["init", "--data", dir.to_str().unwrap(), "--json"]),
        tmp.path(),
    );
    assert_eq!(code, 0, "init failed: {err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let key = v["operator_key"].as_str().unwrap().to_owned();
    let mut s = serve(&dir, &[], tmp.path());
    s.key = key;
    s._tmp = Some(tmp);
    s
}

/// Initializes a vault in a fresh temp dir and serves it with `config` as its config file.
pub fn start_with_config(config: &str) -> (Server, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let (code, out, err) = kura(
        &with_owner(&["init", "--data", dir.to_str().unwrap(), "--json"]),
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let key = serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["operator_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let cfg = tmp.path().join("kura.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut s = serve(&dir, &["--config", cfg.to_str().unwrap()], tmp.path());
    s.key = key;
    (s, tmp)
}

/// Like [`start`], with extra environment variables for the server (e.g. `KURA_LOG`).
pub fn start_with_env(envs: &[(&str, &str)]) -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let (code, out, err) = kura(
        &with_owner(&["init", "--data", dir.to_str().unwrap(), "--json"]),
        tmp.path(),
    );
    assert_eq!(code, 0, "init failed: {err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let key = v["operator_key"].as_str().unwrap().to_owned();
    let mut s = serve_with_env(&dir, &[], tmp.path(), envs);
    s.key = key;
    s._tmp = Some(tmp);
    s
}

/// Serves an existing vault directory on a free port.
pub fn serve(dir: &Path, extra: &[&str], cwd: &Path) -> Server {
    serve_with_env(dir, extra, cwd, &[])
}

/// Serves an existing vault directory on a free port with extra environment variables.
pub fn serve_with_env(dir: &Path, extra: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Server {
    let stderr_path = cwd.join(format!("serve-{}.log", std::process::id()));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut args = vec![
        "serve",
        "--data",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut child = Command::new(kura_bin())
        .args(&args)
        .envs(envs.iter().copied())
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let base = wait_for_listen(&mut child, &stderr_path);
    Server {
        child,
        base,
        key: String::new(),
        dir: dir.to_owned(),
        stderr_path,
        _tmp: None,
    }
}

/// Reads stdout until the "listening on" line; returns the base URL.
pub fn wait_for_listen(child: &mut Child, stderr_path: &Path) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Everything the server prints on stdout is kept too, for the tests that scan its output.
    let mut copy = std::fs::File::create(stderr_path.with_extension("stdout")).ok();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(f) = copy.as_mut() {
                use std::io::Write;
                let _ = writeln!(f, "{line}");
            }
            if let Some(rest) = line.strip_prefix("listening on ") {
                let _ = tx.send(rest.to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => url,
        Err(_) => panic!(
            "kura serve did not start: {}",
            std::fs::read_to_string(stderr_path).unwrap_or_default()
        ),
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A response: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: serde_json::Value,
    pub text: String,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with the operator key and a purpose unless overridden.
    pub fn req(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        let auth = format!("Bearer {}", self.key);
        let mut has_auth = false;
        let mut has_purpose = false;
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("authorization") {
                has_auth = true;
                if v.is_empty() {
                    continue;
                }
            }
            if k.eq_ignore_ascii_case("x-kura-purpose") {
                has_purpose = true;
                if v.is_empty() {
                    continue;
                }
            }
            b = b.header(*k, *v);
        }
        if !has_auth {
            b = b.header("Authorization", auth.as_str());
        }
        if !has_purpose {
            b = b.header("X-Kura-Purpose", "testing");
        }
        let resp = match body {
            Some(text) => {
                let req = b
                    .header("Content-Type", "application/json")
                    .body(text.as_bytes().to_vec())
                    .unwrap();
                agent().run(req)
            }
            None => agent().run(b.body(()).unwrap()),
        }
        .expect("request completes");
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Resp { status, body, text }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path, None, &[])
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.req("POST", path, Some(&body.to_string()), &[])
    }

    pub fn create(&self, body: &serde_json::Value) -> String {
        let r = self.post("/v1/collections/accounts/subjects", body);
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> i32 {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no shutdown");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// What the server printed on stdout (the "listening on" line and anything after it).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.stderr_path.with_extension("stdout")).unwrap_or_default()
    }

    /// Subjects rows in the data store, read directly from SQLite.
    pub fn row_count(&self) -> i64 {
        let c = rusqlite::Connection::open(self.dir.join("data.db")).unwrap();
        c.query_row("SELECT count(*) FROM subjects", [], |r| r.get(0))
            .unwrap()
    }
}

/// A German subject whose every text field carries the marker `m` (and a phone number made
/// from `i`), for the no-plaintext-at-rest tests.
pub fn marked_subject(m: &str, i: usize) -> serde_json::Value {
    serde_json::json!({
        "country": "DE", "locale": "de",
        "fields": {
            "login_id": format!("{m}login"),
            "online_id": format!("{m}online"),
            "name": format!("{m}Müller"),
            "email": format!("{m}@example.de"),
            "phone": format!("+49 30 {i:04} 5555"),
            "postal_address": format!("{m} Straße 1, 10115 Berlin"),
            "birth_date": "1980-01-01"
        }
    })
}

/// A Japanese subject with every field of the built-in `accounts` collection set, including
/// an emoji, full-width address characters and a date.
pub fn full_subject() -> serde_json::Value {
    serde_json::json!({
        "country": "JP",
        "locale": "ja-JP",
        "fields": {
            "login_id": "yamada_taro",
            "online_id": "Taro🎮Gamer",
            "name": "山田 太郎",
            "email": "Taro.Yamada@Example.JP",
            "phone": "+81 90-1234-5678",
            "postal_address": "〒100-0001 東京都千代田区千代田1-1",
            "birth_date": "1990-04-01",
            "gender": "male"
        }
    })
}
