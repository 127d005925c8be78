//! End-to-end tests of breach notices (issue 16) through the real binary: Japanese and
//! German notices over a real SMTP server on loopback, parsed back by Python's `email`
//! package; a sender killed with SIGKILL mid-campaign and restarted (nobody twice, nobody
//! skipped); a subject erased between plan and send gets nothing; bounces; the public page.
//!
//! The SMTP server is Python's `aiosmtpd`: without it the SMTP test fails under `CI=true`
//! and is skipped with a loud message otherwise (`pip install aiosmtpd`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use util::{kura, kura_bin};

const CONTENT: &str = r#"
[texts.en]
what_happened = "A backup copy of our customer database was stolen from a storage provider."
cause = "An access key of our backup provider was misused."
likely_consequences = "Someone may try to use your details for phishing."
measures = "We revoked the key, moved the backups and reported to the regulators."
[texts.ja]
what_happened = "当社の顧客データベースのバックアップが盗まれました。"
cause = "バックアップ事業者のアクセスキーが不正に使用されました。"
likely_consequences = "フィッシングに悪用されるおそれがあります。"
measures = "キーを無効化し、監督当局に報告しました。"
[texts.de]
what_happened = "Eine Sicherungskopie unserer Kundendatenbank wurde gestohlen."
cause = "Ein Zugangsschlüssel unseres Backup-Dienstleisters wurde missbraucht."
likely_consequences = "Ihre Daten könnten für Phishing genutzt werden."
measures = "Wir haben den Schlüssel gesperrt und die Aufsichtsbehörden informiert."
[offers.US]
provider = "WatchID"
url = "https://watchid.example/enrol"
codes = true
[offers.US.description]
en = "24 months of identity-theft monitoring at no cost."
[instead]
en = "No monitoring service is offered in your region."
ja = "お住まいの地域では監視サービスをご提供しておりません。"
de = "In Ihrer Region bieten wir keinen Überwachungsdienst an."
"#;

/// A vault in `tmp/vault` with `n` people (JP/ja, DE/de, US/en in turn) imported, an
/// incident (a stolen backup with its keys) scoped, and a campaign planned. Returns the
/// incident id.
fn prepared(tmp: &Path, n: usize, extra: &[&str]) -> String {
    let dir = tmp.join("vault");
    let d = dir.to_str().unwrap();
    let (code, _, err) = kura(&util::with_owner(&["init", "--data", d, "--json"]), tmp);
    assert_eq!(code, 0, "{err}");
    let mut lines = String::new();
    for i in 0..n {
        let (c, l) = [("JP", "ja-JP"), ("DE", "de-DE"), ("US", "en-US")][i % 3];
        lines.push_str(
            &json!({"country": c, "locale": l, "fields": {
                "name": format!("Secretname{i}"), "login_id": format!("user{i}"),
                "email": format!("p{i}@example.org")}})
            .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(tmp.join("people.ndjson"), lines).unwrap();
    let (code, _, err) = kura(&["import", "--data", d, "people.ndjson"], tmp);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = kura(
        &[
            "incident",
            "declare",
            "--data",
            d,
            "--title",
            "Backup stolen",
            "--vector",
            "backup",
            "--keys-exposed",
            "--from",
            "2026-11-01T00:00:00Z",
            "--to",
            "2026-11-20T00:00:00Z",
            "--json",
        ],
        tmp,
    );
    assert_eq!(code, 0, "{err}");
    let id = serde_json::from_str::<Value>(&out).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _, err) = kura(
        &[
            "incident",
            "update",
            "--data",
            d,
            &id,
            "--stamp",
            "aware@owner=now",
            "--reason",
            "found",
        ],
        tmp,
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = kura(&["incident", "scope", "--data", d, &id], tmp);
    assert_eq!(code, 0, "{err}");
    std::fs::write(tmp.join("content.toml"), CONTENT).unwrap();
    let mut args = vec![
        "notify",
        "plan",
        "--data",
        d,
        &id,
        "--content",
        "content.toml",
        "--json",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = kura(&args, tmp);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["people"], json!(n), "{plan}");
    id
}

fn status(tmp: &Path, id: &str) -> Value {
    let d = tmp.join("vault");
    let (code, out, err) = kura(
        &[
            "notify",
            "status",
            "--data",
            d.to_str().unwrap(),
            id,
            "--json",
        ],
        tmp,
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

fn outbox_files(tmp: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(tmp.join("vault.outbox"))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    v.sort();
    v
}

fn message_id(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .to_owned()
}

#[test]
fn killed_sender_resumes_without_duplicates_or_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 900;
    let id = prepared(tmp.path(), n, &[]);
    let d = tmp.path().join("vault");
    // Slow the sender down (300 messages a second, a batch at a time) and kill it hard
    // once some notices are out.
    let mut child = Command::new(kura_bin())
        .args(["notify", "send", "--data", d.to_str().unwrap(), &id])
        .args(["--rate", "300", "--json"])
        .current_dir(tmp.path())
        .env_remove("KURA_DATA")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox_files(tmp.path()).is_empty() {
        assert!(Instant::now() < deadline, "no notice after 60 s");
        assert!(child.try_wait().unwrap().is_none(), "sender ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first batch is out; the second is claimed and waiting for its turn.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = outbox_files(tmp.path()).len();
    assert!(before > 0 && before < n, "killed at {before} of {n}");
    let st = status(tmp.path(), &id);
    assert!(
        st["states"]["sending"].as_u64().unwrap_or(0) > 0,
        "the kill left no claimed, unsent person; the resume path is not exercised: {st}"
    );
    let (code, out, err) = kura(
        &[
            "notify",
            "send",
            "--data",
            d.to_str().unwrap(),
            &id,
            "--json",
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["complete"], json!(true), "{report}");
    assert_eq!(
        report["done_before"].as_u64().unwrap(),
        before as u64,
        "{report}"
    );
    let files = outbox_files(tmp.path());
    assert_eq!(files.len(), n, "one notice per person");
    let mut ids = BTreeSet::new();
    let mut rcpts = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(ids.insert(message_id(&text)), "a Message-ID twice");
        let to = text.lines().find_map(|l| l.strip_prefix("To: ")).unwrap();
        assert!(rcpts.insert(to.to_owned()), "{to} notified twice");
    }
    let st = status(tmp.path(), &id);
    assert_eq!(st["states"], json!({"sent": n}), "{st}");
    assert_eq!(st["status"], "done");
    // A third run sends nothing.
    let (code, _, err) = kura(
        &["notify", "send", "--data", d.to_str().unwrap(), &id],
        tmp.path(),
    );
    assert_ne!(code, 0, "a finished campaign is not sent again");
    assert!(err.contains("plan_required"), "{err}");
    assert_eq!(outbox_files(tmp.path()).len(), n);
    // Every notice was logged, and the log still verifies.
    let (code, out, err) = kura(
        &["audit", "verify", "--data", d.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn erased_person_bounces_codes_and_public_page() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let d = dir.to_str().unwrap();
    let (code, out, err) = kura(
        &util::with_owner(&["init", "--data", d, "--json"]),
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let key = serde_json::from_str::<Value>(&out).unwrap()["operator_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut s = util::serve(&dir, &[], tmp.path());
    s.key = key;
    let mut ids = Vec::new();
    for (i, (c, l)) in [("US", "en-US"), ("US", "en"), ("JP", "ja"), ("DE", "de")]
        .iter()
        .enumerate()
    {
        ids.push(s.create(&json!({"country": c, "locale": l, "fields": {
            "name": format!("Secretname{i}"), "login_id": format!("user{i}"),
            "email": format!("p{i}@example.org")}})));
    }
    // The first person has a password: their credentials are in the stolen backup.
    let r = s.req(
        "PUT",
        &format!("/v1/collections/accounts/subjects/{}/password", ids[0]),
        Some(&json!({"password": "a quiet storehouse by the river"}).to_string()),
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--data", d]);
        kura(&all, tmp.path())
    };
    let (code, out, err) = cli(&[
        "incident",
        "declare",
        "--title",
        "Backup stolen",
        "--vector",
        "backup",
        "--keys-exposed",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let inc = serde_json::from_str::<Value>(&out).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cli(&[
            "incident",
            "update",
            &inc,
            "--stamp",
            "aware@owner=now",
            "--reason",
            "x"
        ])
        .0,
        0
    );
    assert_eq!(cli(&["incident", "scope", &inc]).0, 0);
    // One remediation code for the two US people: the second gets none, never the same.
    std::fs::write(
        tmp.path().join("codes.csv"),
        "code\nWATCH-0001\nWATCH-0001\n",
    )
    .unwrap();
    let (code, out, err) = cli(&[
        "notify",
        "codes",
        "--region",
        "US",
        "--provider",
        "WatchID",
        "codes.csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("1 codes imported") && out.contains("1 already held"),
        "{out}"
    );
    std::fs::write(tmp.path().join("content.toml"), CONTENT).unwrap();
    // A notice states when the breach happened: no window, no campaign.
    let (code, _, err) = cli(&["notify", "plan", &inc, "--content", "content.toml"]);
    assert_ne!(code, 0);
    assert!(err.contains("window_required"), "{err}");
    let (code, _, err) = cli(&[
        "incident",
        "update",
        &inc,
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-20T00:00:00Z",
        "--reason",
        "window from the backup provider's logs",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&[
        "notify",
        "plan",
        &inc,
        "--content",
        "content.toml",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["people"], json!(4));
    assert_eq!(plan["codes"], json!([["US", 2, 1]]), "{plan}");
    // Previews carry no value of anyone.
    assert!(
        !out.contains("Secretname") && !out.contains("@example.org"),
        "{out}"
    );
    // The German person is erased after the plan.
    let r = s.req(
        "DELETE",
        &format!("/v1/collections/accounts/subjects/{}", ids[3]),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let (code, out, err) = cli(&["notify", "send", &inc, "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["sent"].as_u64(), report["erased"].as_u64()),
        (Some(3), Some(1)),
        "{report}"
    );
    assert_eq!(report["codes"], json!(1));
    assert_eq!(report["must_reset"], json!(1), "{report}");
    // The credential playbook: the reset was forced before the notice, which says so.
    let r = s.post(
        "/v1/collections/accounts/login",
        &json!({"login_id": "user0", "password": "a quiet storehouse by the river"}),
    );
    assert_eq!(
        (r.status, r.code()),
        (403, "password_reset_required"),
        "{}",
        r.text
    );
    let files = outbox_files(tmp.path());
    assert_eq!(files.len(), 3);
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(
        texts.iter().all(|t| !t.contains("To: p3@example.org")),
        "erased person notified"
    );
    let p0 = texts
        .iter()
        .find(|t| t.contains("To: p0@example.org"))
        .unwrap();
    assert!(
        decoded(p0).contains("We have already reset your password"),
        "{}",
        decoded(p0)
    );
    let p1 = texts
        .iter()
        .find(|t| t.contains("To: p1@example.org"))
        .unwrap();
    assert!(!decoded(p1).contains("already reset"), "{}", decoded(p1));
    let with_code = texts
        .iter()
        .filter(|t| decoded(t).contains("WATCH-0001"))
        .count();
    assert_eq!(with_code, 1, "the one code went to exactly one person");
    // A delivery-status notification for the Japanese notice marks it bounced.
    let ja = texts
        .iter()
        .find(|t| t.contains("To: p2@example.org"))
        .unwrap();
    let mid = message_id(ja);
    let dsn = format!(
        "From: MAILER-DAEMON@mx.example\r\nTo: noreply@localhost\r\nSubject: Undelivered\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n\
         Final-Recipient: rfc822; p2@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {mid}\r\n--b--\r\n"
    );
    std::fs::create_dir_all(tmp.path().join("bounces")).unwrap();
    std::fs::write(tmp.path().join("bounces/1.eml"), dsn).unwrap();
    std::fs::write(
        tmp.path().join("bounces/2.eml"),
        "Subject: hello\r\n\r\nnot a bounce",
    )
    .unwrap();
    let (code, out, err) = cli(&["notify", "bounces", "bounces"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("1 notices marked bounced; 1 messages"),
        "{out}"
    );
    let st = status(tmp.path(), &inc);
    assert_eq!(
        st["states"],
        json!({"bounced": 1, "erased": 1, "sent": 2}),
        "{st}"
    );
    assert_eq!(st["unreachable"], json!(1));
    // The same counts over HTTP, for operators.
    let r = s.get(&format!("/v1/incidents/{inc}/notices"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body[0]["states"], st["states"]);
    assert!(!r.text.contains("@example.org"), "{}", r.text);
    // The substitute public notice: one static page per language, escaped, no script.
    let (code, _, err) = cli(&["notify", "public", &inc, "--out", "public"]);
    assert_eq!(code, 0, "{err}");
    for lang in ["en", "ja", "de"] {
        let html =
            std::fs::read_to_string(tmp.path().join(format!("public/notice.{lang}.html"))).unwrap();
        assert!(html.contains(&format!("lang=\"{lang}\"")), "{html}");
        assert!(
            !html.contains("<script") && !html.contains("Secretname"),
            "{html}"
        );
    }
    // Every notice left an access event naming the campaign; the log verifies.
    let (code, out, err) = cli(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// The body of an outbox message, decoded (base64 or quoted-printable) by Python.
fn decoded(eml: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import email,email.policy,sys; m=email.message_from_string(sys.stdin.read(), policy=email.policy.default); print(m.get_content())",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(eml.as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------
// A real SMTP server (aiosmtpd) that writes each message as received (raw) and decoded.

const SMTP_SERVER: &str = r#"
import email, email.policy, json, os, sys
from aiosmtpd.controller import Controller
port, outdir = int(sys.argv[1]), sys.argv[2]
count = [0]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        count[0] += 1
        doc = {"rcpt_tos": envelope.rcpt_tos, "subject": str(msg["subject"]), "to": str(msg["to"]),
               "message_id": str(msg["message-id"]), "charset": msg.get_content_charset(),
               "content_type": msg.get_content_type(), "defects": len(msg.defects),
               "cte": str(msg["content-transfer-encoding"]), "body": msg.get_content(),
               "max_line": max(len(l) for l in raw.split(b"\r\n")),
               "long": [l.decode("ascii", "replace") for l in raw.split(b"\r\n") if len(l) > 78], "ascii": all(b < 128 for b in raw)}
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

struct Smtp(Child);

impl Drop for Smtp {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require_aiosmtpd() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let msg = "python3 with `aiosmtpd` is not available (`pip install aiosmtpd`)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    }
    ok
}

#[test]
fn japanese_and_german_notices_over_smtp_parse_back() {
    if !require_aiosmtpd() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let id = prepared(tmp.path(), 6, &[]);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut child = Command::new("python3")
        .args(["-c", SMTP_SERVER, &port.to_string()])
        .arg(&inbox)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Smtp(child);
    assert_eq!(line.trim(), "READY");
    let cfg = tmp.path().join("kura.toml");
    std::fs::write(
        &cfg,
        format!(
            "[mail]\ntransport = \"smtp\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nfrom = \"Owner Inc. <security@owner.example>\"\n"
        ),
    )
    .unwrap();
    let d = tmp.path().join("vault");
    let (code, out, err) = kura(
        &[
            "notify",
            "send",
            "--data",
            d.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            &id,
            "--json",
        ],
        tmp.path(),
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["sent"], json!(6), "{report}");
    let mut docs: Vec<Value> = std::fs::read_dir(&inbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    docs.sort_by_key(|d| d["to"].as_str().unwrap().to_owned());
    assert_eq!(docs.len(), 6);
    for (i, doc) in docs.iter().enumerate() {
        let i: usize = doc["to"].as_str().unwrap()[1..]
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap_or(i);
        let body = doc["body"].as_str().unwrap();
        let subject = doc["subject"].as_str().unwrap();
        assert_eq!(doc["defects"], json!(0), "{doc}");
        assert_eq!(doc["charset"], json!("utf-8"), "{doc}");
        assert_eq!(doc["content_type"], json!("text/plain"));
        assert!(
            doc["ascii"].as_bool().unwrap(),
            "8-bit bytes on the wire: {doc}"
        );
        assert!(
            doc["max_line"].as_u64().unwrap() <= 78,
            "a wire line over 78: {}",
            doc["long"]
        );
        assert!(
            doc["message_id"].as_str().unwrap().starts_with("<kn-"),
            "{doc}"
        );
        assert!(
            !body.contains("Secretname") && !body.contains(&format!("user{i}")),
            "a value in the notice: {body}"
        );
        match i % 3 {
            0 => {
                assert!(
                    subject.contains("【重要】") && subject.contains("漏えい"),
                    "{subject}"
                );
                for w in [
                    "2026年11月1日",
                    "メールアドレス",
                    "氏名",
                    "ログインID",
                    "原因",
                    "バックアップ事業者",
                ] {
                    assert!(body.contains(w), "{w} missing: {body}");
                }
            }
            1 => {
                for w in [
                    "1. November 2026",
                    "E-Mail-Adresse",
                    "Name",
                    "Sicherungskopie",
                    "Sie",
                ] {
                    assert!(body.contains(w), "{w} missing: {body}");
                }
            }
            _ => {
                assert!(subject.contains("Notice of Data Breach"), "{subject}");
                for w in [
                    "November 2026",
                    "What Happened",
                    "What Information Was Involved",
                    "What We Are Doing",
                    "What You Can Do",
                    "For More Information",
                    "WatchID",
                ] {
                    assert!(body.contains(w), "{w} missing: {body}");
                }
            }
        }
    }
}
