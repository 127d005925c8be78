//! End-to-end tests of passwords (issue 6) through the real binary: recovery with a real SMTP
//! server on loopback, answers that do not reveal whether an account exists (byte for byte),
//! throttling and locking alike for unknown ids, forced resets, a dump without the pepper,
//! and the credential value never leaving kura.
//!
//! The SMTP server is Python's `aiosmtpd`: without it the recovery-over-SMTP test fails under
//! `CI=true` and is skipped with a loud message otherwise (`pip install aiosmtpd`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use util::{Server, kura};

const PW: &str = "a quiet storehouse by the river";
const PW2: &str = "another long river under the moon";

/// Initializes a vault and serves it with `config` (TOML) as its configuration file.
fn start_with(config: &str) -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let (code, out, err) = kura(
        &util::with_owner(&["init", "--data", dir.to_str().unwrap(), "--json"]),
        tmp.path(),
    );
    assert_eq!(code, 0, "init failed: {err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let cfg = tmp.path().join("kura.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut s = util::serve(&dir, &["--config", cfg.to_str().unwrap()], tmp.path());
    s.key = v["operator_key"].as_str().unwrap().to_owned();
    s._tmp = Some(tmp);
    s
}

fn person(login: &str) -> Value {
    json!({"country": "JP", "locale": "en", "fields": {
        "login_id": login, "email": format!("{login}@example.jp"), "name": "Yamada Taro"}})
}

fn set_password(s: &Server, id: &str, pw: &str) -> util::Resp {
    s.req(
        "PUT",
        &format!("/v1/collections/accounts/subjects/{id}/password"),
        Some(&json!({ "password": pw }).to_string()),
        &[],
    )
}

fn login(s: &Server, login_id: &str, pw: &str) -> util::Resp {
    s.post(
        "/v1/collections/accounts/login",
        &json!({"login_id": login_id, "password": pw}),
    )
}

fn complete(s: &Server, token: &str, pw: &str) -> util::Resp {
    s.post(
        "/v1/collections/accounts/recovery/complete",
        &json!({"token": token, "new_password": pw}),
    )
}

fn token_in(text: &str) -> String {
    let i = text.find("kura_rt_").expect("a token in the mail");
    let t: String = text[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_eq!(t.len(), 8 + 64, "{t}");
    t
}

/// All access events so far, oldest first.
fn events(s: &Server) -> Vec<Value> {
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    (0..n)
        .map(|i| {
            let r = s.get(&format!("/v1/audit/entries/{i}"));
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["event"].clone()
        })
        .collect()
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

/// `(action, outcome, subjects)` of every credential event, in order.
fn credential_events(s: &Server) -> Vec<(String, String, usize)> {
    events(s)
        .iter()
        .filter(|e| {
            let a = e["action"].as_str().unwrap_or("");
            a.starts_with("password") || a.starts_with("recovery")
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
                subjects_len(e),
            )
        })
        .collect()
}

/// Waits until `f` yields a value (events are appended before answers, but mails and
/// recovery work run in the background).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------
// A real SMTP server (aiosmtpd), as in kura-mail's tests.

const SMTP_SERVER: &str = r#"
import email, email.policy, json, os, sys
from aiosmtpd.controller import Controller
port, outdir = int(sys.argv[1]), sys.argv[2]
count = [0]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        count[0] += 1
        doc = {"rcpt_tos": envelope.rcpt_tos, "subject": str(msg["subject"]),
               "to": str(msg["to"]), "body": msg.get_content()}
        tmp = os.path.join(outdir, ".tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, os.path.join(outdir, "%d.json" % count[0]))
        return "250 OK"
c = Controller(Handler(), hostname="127.0.0.1", port=port)
c.start()
print("READY", flush=True)
sys.stdin.read()
c.stop()
"#;

fn require_aiosmtpd() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        return true;
    }
    let msg = "python3 with `aiosmtpd` is not available: install it (`pip install aiosmtpd`) \
               to run the recovery-over-SMTP test";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    false
}

struct Smtp {
    child: Child,
    port: u16,
    outdir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start() -> Smtp {
        let tmp = tempfile::tempdir().unwrap();
        let outdir = tmp.path().to_owned();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .args(["-c", SMTP_SERVER, &port.to_string()])
            .arg(&outdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python3");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let smtp = Smtp {
            child,
            port,
            outdir,
            _tmp: tmp,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("smtp start");
        assert_eq!(line.trim(), "READY", "{line:?}");
        smtp
    }

    fn message(&self, n: usize) -> Value {
        let p = self.outdir.join(format!("{n}.json"));
        eventually(&format!("mail {n}"), || {
            std::fs::read_to_string(&p)
                .ok()
                .map(|t| serde_json::from_str(&t).unwrap())
        })
    }

    fn count(&self) -> usize {
        std::fs::read_dir(&self.outdir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count()
    }
}

/// The `.eml` files of the default outbox (`<data dir>.outbox`), oldest first.
fn outbox(s: &Server) -> Vec<String> {
    let dir = s.dir.with_extension("outbox");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Decodes a quoted-printable or plain body enough to find the token (tokens are ASCII and
/// never broken by soft line breaks shorter than 76 characters... unless they are: join them).
fn unfold(eml: &str) -> String {
    eml.replace("=\r\n", "").replace("=\n", "")
}

// ---------------------------------------------------------------------------------------

#[test]
fn issue_6_recovery_end_to_end_over_a_real_smtp_server() {
    if !require_aiosmtpd() {
        return;
    }
    let smtp = Smtp::start();
    let s = start_with(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nfrom = \"kura <noreply@example.com>\"\n",
        smtp.port
    ));
    let id = s.create(&person("taro"));
    let r = set_password(&s, &id, PW);
    assert_eq!(r.status, 204, "{}", r.text);
    let r = login(&s, "taro", PW);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["subject_id"], id.as_str());

    let r = s.post(
        "/v1/collections/accounts/recovery",
        &json!({"login_id": "taro"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let mail = smtp.message(1);
    assert_eq!(mail["rcpt_tos"], json!(["taro@example.jp"]));
    let token = token_in(mail["body"].as_str().unwrap());

    // The new password is checked before the token is spent.
    let r = complete(&s, &token, "taro@example.jp and more");
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.code(), "password_contains_identity");
    let r = complete(&s, &token, PW2);
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(login(&s, "taro", PW).status, 401);
    let r = login(&s, "taro", PW2);
    assert_eq!(r.status, 200, "{}", r.text);

    // The "password changed" notice arrives, without any token.
    let notice = smtp.message(2);
    assert_eq!(notice["rcpt_tos"], json!(["taro@example.jp"]));
    assert!(
        notice["subject"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("password"),
        "{notice}"
    );
    assert!(!notice["body"].as_str().unwrap().contains("kura_rt_"));

    // Single use.
    let r = complete(&s, &token, "yet another long pass phrase");
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "recovery_token_used");

    // Every step is in the access log.
    let evs = credential_events(&s);
    let has = |a: &str, o: &str| evs.iter().any(|(x, y, n)| x == a && y == o && *n == 1);
    assert!(has("password_set", "ok"), "{evs:?}");
    assert!(has("password_verify", "ok"), "{evs:?}");
    assert!(
        has("password_verify", "error:invalid_credentials"),
        "{evs:?}"
    );
    assert!(has("recovery_issue", "ok"), "{evs:?}");
    assert!(
        has("recovery_redeem", "error:password_contains_identity"),
        "{evs:?}"
    );
    assert!(has("recovery_redeem", "ok"), "{evs:?}");
    assert!(
        has("recovery_redeem", "error:recovery_token_used"),
        "{evs:?}"
    );
    assert_eq!(smtp.count(), 2);
}

/// The exact bytes of a response, without the `date` header (the only one that may differ).
fn raw(s: &Server, path: &str, body: &Value) -> String {
    let addr = s.base.trim_start_matches("http://");
    let mut c = TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    write!(
        c,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nX-Kura-Purpose: login\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        s.key,
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out.split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("date:"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn login_and_recovery_answers_are_identical_for_existing_and_missing_accounts() {
    let s = start_with("[passwords.throttle]\nfree_failures = 60\n");
    let id = s.create(&person("hanako"));
    assert_eq!(set_password(&s, &id, PW).status, 204);

    let login_path = "/v1/collections/accounts/login";
    let wrong = raw(
        &s,
        login_path,
        &json!({"login_id": "hanako", "password": "not the password at all"}),
    );
    let missing = raw(
        &s,
        login_path,
        &json!({"login_id": "nobody-here", "password": "not the password at all"}),
    );
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert_eq!(wrong, missing);

    let rec = "/v1/collections/accounts/recovery";
    let a = raw(&s, rec, &json!({"login_id": "hanako"}));
    let b = raw(&s, rec, &json!({"login_id": "nobody-here"}));
    let c = raw(&s, rec, &json!({"email": "hanako@example.jp"}));
    let d = raw(&s, rec, &json!({"email": "nobody@example.jp"}));
    assert!(a.starts_with("HTTP/1.1 202"), "{a}");
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);

    // About equally timed: the same steps and one Argon2 run either way.
    let time = |login_id: &str| {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            assert_eq!(login(&s, login_id, "still not the password").status, 401);
            best = best.min(t.elapsed());
        }
        best
    };
    let (t_exist, t_missing) = (time("hanako"), time("nobody-here"));
    eprintln!("login 401 timing: existing {t_exist:?}, missing {t_missing:?}");
    let (lo, hi) = if t_exist < t_missing {
        (t_exist, t_missing)
    } else {
        (t_missing, t_exist)
    };
    assert!(hi < lo * 3, "existing {t_exist:?} vs missing {t_missing:?}");

    // Recorded: an unknown login id as a password_verify with no subjects.
    let evs = credential_events(&s);
    assert!(
        evs.iter()
            .any(|(a, o, n)| a == "password_verify" && o == "error:invalid_credentials" && *n == 0),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|(a, o, n)| a == "recovery_issue" && o == "error:subject_not_found" && *n == 0),
        "{evs:?}"
    );
    // Two recovery mails went to the one real account (by login id and by e-mail).
    eventually("two recovery mails", || {
        (outbox(&s).len() == 2).then_some(())
    });
}

#[test]
fn repeated_failures_slow_down_then_lock_alike_for_unknown_ids_and_recovery_unlocks() {
    let s = start_with(
        "[passwords.throttle]\nfree_failures = 2\nbase_delay_secs = 2\nmax_delay_secs = 2\nlock_after = 5\n",
    );
    let id = s.create(&person("jiro"));
    assert_eq!(set_password(&s, &id, PW).status, 204);
    let run = |login_id: &str| -> Vec<(u16, String)> {
        let mut out = Vec::new();
        let attempt = |out: &mut Vec<(u16, String)>| {
            let r = login(&s, login_id, "wrong wrong wrong wrong");
            out.push((r.status, r.text));
        };
        for _ in 0..3 {
            attempt(&mut out); // 1-3: plain failures (the third is the first delayed)
        }
        attempt(&mut out); // too soon: throttled
        std::thread::sleep(Duration::from_millis(2100));
        attempt(&mut out); // 4th failure
        std::thread::sleep(Duration::from_millis(2100));
        attempt(&mut out); // 5th failure: locked
        attempt(&mut out); // locked
        out
    };
    let existing = run("jiro");
    let missing = run("nobody-at-all");
    let statuses: Vec<u16> = existing.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 401, 401, 423],
        "{existing:?}"
    );
    // The same answers, byte for byte, except the seconds left in a 429 (they depend on
    // when within a second each attempt landed, not on the account).
    let without_seconds = |v: &[(u16, String)]| -> Vec<(u16, String)> {
        v.iter()
            .map(|(st, t)| (*st, if *st == 429 { String::new() } else { t.clone() }))
            .collect()
    };
    assert_eq!(without_seconds(&existing), without_seconds(&missing));
    assert!(missing[3].1.contains("login_throttled"), "{missing:?}");
    // Locked means locked, even with the right password.
    let r = login(&s, "jiro", PW);
    assert_eq!(r.status, 423, "{}", r.text);
    assert_eq!(r.code(), "account_locked");
    let evs = credential_events(&s);
    assert!(
        evs.iter()
            .any(|(a, o, n)| a == "password_verify" && o == "error:account_locked" && *n == 1),
        "{evs:?}"
    );

    // Recovery (through the default .eml outbox beside the data directory) unlocks.
    let r = s.post(
        "/v1/collections/accounts/recovery",
        &json!({"login_id": "jiro"}),
    );
    assert_eq!(r.status, 202);
    let mail = eventually("recovery mail", || outbox(&s).into_iter().next());
    let token = token_in(&unfold(&mail));
    assert_eq!(complete(&s, &token, PW2).status, 204);
    let r = login(&s, "jiro", PW2);
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn forced_reset_answers_403_until_recovery_completes() {
    let mut s = start_with("");
    let a = s.create(&person("saburo"));
    let b = s.create(&person("shiro"));
    let c = s.create(&person("goro"));
    for id in [&a, &b, &c] {
        assert_eq!(set_password(&s, id, PW).status, 204);
    }
    // The operator route.
    let r = s.post(
        "/v1/collections/accounts/force-reset",
        &json!({"subjects": [a, "0190d6c4-0000-7000-8000-000000000000"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["flagged"], 1);
    let r = login(&s, "saburo", PW);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.code(), "password_reset_required");
    // A wrong password still says only that.
    assert_eq!(login(&s, "saburo", "wrong wrong wrong").status, 401);
    assert_eq!(login(&s, "shiro", PW).status, 200);

    // The command line, from a file and for everyone, on the stopped server's vault.
    assert_eq!(s.terminate(), 0);
    let tmp = s._tmp.as_ref().unwrap().path().to_owned();
    let list = tmp.join("subjects.txt");
    std::fs::write(&list, format!("# affected\n{b}\n")).unwrap();
    let dir = s.dir.to_str().unwrap().to_owned();
    let (code, out, err) = kura(
        &[
            "credentials",
            "force-reset",
            "--data",
            &dir,
            "--subjects",
            list.to_str().unwrap(),
            "--json",
        ],
        &tmp,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["flagged"],
        1
    );
    // By incident: an unknown one, and one not yet scoped, are refused and flag nobody.
    let (code, _, err) = kura(
        &[
            "credentials",
            "force-reset",
            "--data",
            &dir,
            "--incident",
            "01a00000-0000-7000-8000-000000000000",
        ],
        &tmp,
    );
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = kura(
        &[
            "incident", "declare", "--data", &dir, "--title", "Desk key", "--json",
        ],
        &tmp,
    );
    assert_eq!(code, 0, "{err}");
    let incident = serde_json::from_str::<Value>(out.trim()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _, err) = kura(
        &[
            "credentials",
            "force-reset",
            "--data",
            &dir,
            "--incident",
            &incident,
        ],
        &tmp,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("scope_required") || err.contains("scope it first"),
        "{err}"
    );
    // `--potential` needs `--incident`; `--incident` excludes `--all`.
    for bad in [
        vec!["--potential", "--all"],
        vec!["--incident", incident.as_str(), "--all"],
    ] {
        let mut args = vec!["credentials", "force-reset", "--data", &dir];
        args.extend(bad.iter().copied());
        assert_eq!(kura(&args, &tmp).0, 2, "{bad:?}");
    }
    let (code, out, err) = kura(
        &[
            "credentials",
            "force-reset",
            "--data",
            &dir,
            "--all",
            "--json",
        ],
        &tmp,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["flagged"],
        3
    );
    let key = s.key.clone();
    let tmp_dir = s._tmp.take();
    let mut s = util::serve(&s.dir.clone(), &[], &tmp);
    s.key = key;
    s._tmp = tmp_dir;
    for login_id in ["saburo", "shiro", "goro"] {
        assert_eq!(login(&s, login_id, PW).status, 403, "{login_id}");
    }
    let r = s.post(
        "/v1/collections/accounts/recovery",
        &json!({"email": "goro@example.jp"}),
    );
    assert_eq!(r.status, 202);
    let mail = eventually("recovery mail", || outbox(&s).into_iter().next());
    let token = token_in(&unfold(&mail));
    assert_eq!(complete(&s, &token, PW2).status, 204);
    assert_eq!(login(&s, "goro", PW2).status, 200);
    assert_eq!(login(&s, "shiro", PW).status, 403);
    let evs = credential_events(&s);
    let forced: usize = evs
        .iter()
        .filter(|(a, o, _)| a == "password_reset_force" && o == "ok")
        .map(|(_, _, n)| *n)
        .sum();
    assert_eq!(forced, 5, "{evs:?}");
}

fn decode_fields(blob: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert_eq!(blob[0], 1);
    let count = u16::from_be_bytes([blob[1], blob[2]]) as usize;
    let mut at = 3;
    let mut out = Vec::new();
    for _ in 0..count {
        let n = blob[at] as usize;
        let name = String::from_utf8(blob[at + 1..at + 1 + n].to_vec()).unwrap();
        at += 1 + n;
        let len = u32::from_be_bytes(blob[at..at + 4].try_into().unwrap()) as usize;
        at += 4;
        out.push((name, blob[at..at + len].to_vec()));
        at += len;
    }
    out
}

/// The stored PHC string of a subject, as someone holding the data store *and* the key file
/// (but not the key provider's pepper) could obtain it: sealed fields from `data.db`, the
/// wrapped data key from `keys.db`, opened with the key file.
fn stored_phc(s: &Server, id: &str) -> String {
    use kura_crypto::{FieldContext, KeyFile, KeyProvider, SubjectCipher, WrappedKey};
    // The dump: the sealed fields from data.db; the key file only to open them.
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    let data = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    let blob: Vec<u8> = data
        .query_row(
            "SELECT fields FROM subjects WHERE id = ?1",
            [uuid.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .unwrap();
    let keys = rusqlite::Connection::open(s.dir.join("keys.db")).unwrap();
    let wrapped: WrappedKey = keys
        .query_row(
            "SELECT kek_version, wrapped FROM data_keys WHERE subject = ?1",
            [uuid.as_bytes().as_slice()],
            |r| {
                Ok(WrappedKey {
                    kek_version: r.get(0)?,
                    bytes: r.get(1)?,
                })
            },
        )
        .unwrap();
    let kf = KeyFile::open(&s.dir.with_extension("key")).unwrap();
    let vault_id = kf.vault_id();
    let mut wrap_ctx = [0u8; 32];
    wrap_ctx[..16].copy_from_slice(&vault_id);
    wrap_ctx[16..].copy_from_slice(uuid.as_bytes());
    let dek = kf.unwrap(&wrapped, &wrap_ctx).unwrap();
    let (_, ct) = decode_fields(&blob)
        .into_iter()
        .find(|(n, _)| n == "password")
        .expect("a sealed password field");
    let phc = SubjectCipher::new(&dek)
        .open(
            &FieldContext {
                vault_id: &vault_id,
                collection: "accounts",
                subject: uuid.as_bytes(),
                field: "password",
                key_version: 1,
            },
            &ct,
        )
        .unwrap();
    String::from_utf8(phc.to_vec()).unwrap()
}

#[test]
fn a_dump_with_the_hash_but_without_the_pepper_cannot_verify_the_password() {
    use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordVerifier, Version};
    use kura_crypto::{KeyFile, KeyProvider, KeyPurpose};

    let s = start_with("");
    let id = s.create(&person("rokuro"));
    assert_eq!(set_password(&s, &id, PW).status, 204);
    // No PHC string anywhere in the data directory: the hash is sealed.
    for entry in std::fs::read_dir(&s.dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"$argon2id"));
    }
    let phc = stored_phc(&s, &id);
    assert!(phc.starts_with("$argon2id$v=19$m="), "{phc}");
    let hash = PasswordHash::new(&phc).unwrap();
    // The argon2 crate alone, with the right password: no.
    assert!(
        Argon2::default()
            .verify_password(PW.as_bytes(), &hash)
            .is_err()
    );
    // With the pepper from the key provider (which a dump does not have): yes, so the
    // refusal above is the pepper's doing.
    let kf = KeyFile::open(&s.dir.with_extension("key")).unwrap();
    let pepper = kf.derive(KeyPurpose::PasswordPepper).unwrap();
    let params = Params::try_from(&hash).unwrap();
    assert!(params.m_cost() >= 19_456 && params.t_cost() >= 2);
    let peppered =
        Argon2::new_with_secret(pepper.expose(), Algorithm::Argon2id, Version::V0x13, params)
            .unwrap();
    assert!(peppered.verify_password(PW.as_bytes(), &hash).is_ok());
}

#[test]
fn the_credential_value_never_leaves_kura() {
    let s = start_with("");
    let id = s.create(&person("shichiro"));
    assert_eq!(set_password(&s, &id, PW).status, 204);
    let subj = format!("/v1/collections/accounts/subjects/{id}");
    for path in [
        subj.clone(),
        format!("{subj}?fields=password"),
        format!("{subj}?fields=password,email"),
    ] {
        let r = s.get(&path);
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["fields"].get("password").is_none(), "{}", r.text);
        assert!(!r.text.contains("argon2"), "{}", r.text);
    }
    // Written only through the password route.
    let r = s.req(
        "PATCH",
        &subj,
        Some(&json!({"fields": {"password": "plain"}}).to_string()),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let r = s.req(
        "PATCH",
        &subj,
        Some(&json!({"fields": {"password": null}}).to_string()),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let mut p = person("hachiro");
    p["fields"]["password"] = json!("plain text");
    let r = s.post("/v1/collections/accounts/subjects", &p);
    assert_eq!(r.status, 400, "{}", r.text);
    let r = s.post(
        "/v1/collections/accounts/search",
        &json!({"field": "password", "value": PW}),
    );
    assert!(r.status == 422 || r.status == 400, "{}", r.text);
    // Password rules over HTTP.
    for (pw, code) in [
        ("short", "password_too_short"),
        ("password123", "password_breached"),
        ("shichiro is my name", "password_contains_identity"),
    ] {
        let r = set_password(&s, &id, pw);
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.code(), code);
    }
    assert!(login(&s, "shichiro", PW).status == 200);
}

#[test]
fn build_filter_feeds_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.txt");
    std::fs::write(
        &list,
        "correct horse battery staple\nanother leaked passphrase\n",
    )
    .unwrap();
    let filter = tmp.path().join("pwned.kbf");
    let (code, out, err) = kura(
        &[
            "passwords",
            "build-filter",
            "--input",
            list.to_str().unwrap(),
            "--output",
            filter.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["keys"],
        2
    );
    let s = start_with(&format!(
        "[passwords]\nblocklist = {:?}\n",
        filter.to_str().unwrap()
    ));
    let id = s.create(&person("kuro"));
    let r = set_password(&s, &id, "correct horse battery staple");
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.code(), "password_breached");
    assert_eq!(set_password(&s, &id, PW).status, 204);
}

#[test]
fn a_login_rehashes_when_the_parameters_rose() {
    let mut s = start_with("");
    let id = s.create(&person("kuma"));
    assert_eq!(set_password(&s, &id, PW).status, 204);
    assert!(stored_phc(&s, &id).contains("m=19456,t=2,p=1"));
    assert_eq!(s.terminate(), 0);
    let tmp = s._tmp.as_ref().unwrap().path().to_owned();
    let cfg = tmp.join("stronger.toml");
    std::fs::write(&cfg, "[passwords.argon2]\nm_kib = 24576\nt = 3\n").unwrap();
    let key = s.key.clone();
    let tmp_dir = s._tmp.take();
    let mut s = util::serve(&s.dir.clone(), &["--config", cfg.to_str().unwrap()], &tmp);
    s.key = key;
    s._tmp = tmp_dir;
    // A wrong password changes nothing; the right one verifies under the old parameters and
    // is stored again under the new ones.
    assert_eq!(login(&s, "kuma", "not it, not it at all").status, 401);
    assert!(stored_phc(&s, &id).contains("m=19456,t=2,p=1"));
    assert_eq!(login(&s, "kuma", PW).status, 200);
    eventually("the rehash", || {
        stored_phc(&s, &id)
            .contains("m=24576,t=3,p=1")
            .then_some(())
    });
    assert_eq!(login(&s, "kuma", PW).status, 200);
    let evs = credential_events(&s);
    assert_eq!(
        evs.iter()
            .filter(|(a, o, _)| a == "password_set" && o == "ok")
            .count(),
        2,
        "{evs:?}"
    );
}

#[test]
fn raising_the_pepper_version_rotates_the_pepper_at_the_next_login() {
    use kura_crypto::{KeyFile, KeyProvider, KeyPurpose};
    let mut s = start_with("");
    let id = s.create(&person("kotori"));
    assert_eq!(set_password(&s, &id, PW).status, 204);
    assert!(stored_phc(&s, &id).contains("keyid=AAAAAQ$"), "version 1");
    assert_eq!(s.terminate(), 0);
    let tmp = s._tmp.as_ref().unwrap().path().to_owned();
    let cfg = tmp.join("pepper2.toml");
    std::fs::write(&cfg, "[passwords]\npepper_version = 2\n").unwrap();
    let key = s.key.clone();
    let tmp_dir = s._tmp.take();
    let mut s = util::serve(&s.dir.clone(), &["--config", cfg.to_str().unwrap()], &tmp);
    s.key = key;
    s._tmp = tmp_dir;
    // The old hash still verifies (version 1 is still held) and is made again under 2.
    assert_eq!(login(&s, "kotori", "not it, not it at all").status, 401);
    assert!(stored_phc(&s, &id).contains("keyid=AAAAAQ$"));
    assert_eq!(login(&s, "kotori", PW).status, 200);
    eventually("the rehash under pepper 2", || {
        stored_phc(&s, &id).contains("keyid=AAAAAg$").then_some(())
    });
    assert_eq!(login(&s, "kotori", PW).status, 200);
    // Version 2 is another secret than version 1.
    let kf = KeyFile::open(&s.dir.with_extension("key")).unwrap();
    assert_ne!(
        kf.derive(KeyPurpose::PasswordPepperVersion(2))
            .unwrap()
            .expose(),
        kf.derive(KeyPurpose::PasswordPepper).unwrap().expose()
    );
    assert_eq!(
        kf.derive(KeyPurpose::PasswordPepperVersion(1))
            .unwrap()
            .expose(),
        kf.derive(KeyPurpose::PasswordPepper).unwrap().expose(),
        "version 1 is the pepper every earlier vault has"
    );
    assert_eq!(s.terminate(), 0);
    // Version 0 is refused at start with the setting named.
    std::fs::write(&cfg, "[passwords]\npepper_version = 0\n").unwrap();
    let (code, _, err) = kura(
        &[
            "serve",
            "--data",
            s.dir.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &tmp,
    );
    assert_ne!(code, 0);
    assert!(err.contains("pepper_version"), "{err}");
}

#[test]
fn a_login_flood_is_refused_quickly_with_503() {
    let s = start_with(
        "[passwords]\nworkers = 1\nqueue = 1\n[passwords.argon2]\nm_kib = 65536\nt = 4\n[passwords.throttle]\nfree_failures = 99\n",
    );
    let id = s.create(&person("flood"));
    assert_eq!(set_password(&s, &id, PW).status, 204);
    let results: Vec<(u16, String, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..24)
            .map(|_| {
                scope.spawn(|| {
                    let t = Instant::now();
                    let r = login(&s, "flood", PW);
                    (r.status, r.code().to_owned(), t.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let busy: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert!(ok >= 1, "{results:?}");
    assert!(!busy.is_empty(), "{results:?}");
    assert!(busy.iter().all(|r| r.1 == "busy"), "{results:?}");
    assert_eq!(ok + busy.len(), results.len(), "{results:?}");
    // Capacity comes back.
    assert_eq!(login(&s, "flood", PW).status, 200);
}
