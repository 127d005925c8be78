//! The console through the real binary: its security properties over plain HTTP, and the
//! officer's and a person's whole flows in a real headless Chromium (Debian's `chromium` and
//! `chromedriver`, driven over WebDriver by fantoccini), with a screenshot of every screen
//! kept under `target/tmp/console-screenshots/`.
//!
//! The browser tests need `chromedriver` on the PATH; `.ci/run` installs it. Outside CI they
//! say so and pass without a browser; under CI (`CI=true`) its absence fails them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use kura_testkit::postgres::TestDatabase;
use serde_json::{Value, json};
use util::{Server, kura, serve};

/// A vault served with checkpoints signed every 200 ms (scoping needs one).
fn start() -> (Server, tempfile::TempDir) {
    util::start_with_config("[audit]\ncheckpoint_every_ms = 200\n")
}

/// The people of the story: subjects in Japan and Germany, a call centre (a processor with
/// a quota of 3 people an hour) whose key is stolen and trips containment, and one person's
/// own key.
struct Story {
    people: Vec<(String, Value)>,
    processor: String,
    processor_key: String,
    me: String,
    my_key: String,
    incident: String,
}

fn person(name: &str, country: &str, i: usize) -> Value {
    let (locale, phone) = if country == "JP" {
        ("ja", format!("+81 3 {i:04} 5678"))
    } else {
        ("de", format!("+49 30 {i:04} 5555"))
    };
    json!({"country": country, "locale": locale, "fields": {
        "login_id": format!("{}login", name.to_lowercase()),
        "name": name,
        "email": format!("{}@example.org", name.to_lowercase()),
        "phone": phone,
        "postal_address": format!("{name} Street {i}"),
        "birth_date": format!("1985-04-0{i}")}})
}

fn story(s: &Server) -> Story {
    let names = [
        ("Hanakoyamada", "JP"),
        ("Taroyamada", "JP"),
        ("Jirosato", "JP"),
        ("Annaschmidt", "DE"),
        ("Lukasweber", "DE"),
    ];
    let people: Vec<(String, Value)> = names
        .iter()
        .enumerate()
        .map(|(i, (n, c))| {
            let body = person(n, c, i + 1);
            (s.create(&body), body)
        })
        .collect();
    let r = s.post(
        "/v1/orgs",
        &json!({"id": "callcenter", "name": "Call Centre KK", "role": "processor",
                "supervisor": "owner",
                "security_officer": {"name": "CC Officer", "contact": "officer@callcenter.example"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s.post(
        "/v1/principals",
        &json!({"org": "callcenter", "name": "agent desk", "kind": "processor",
                "policies": [{"collection": "accounts", "purposes": ["support"], "actions": ["read"],
                  "fields": {"name": "plain", "email": "masked", "phone": "masked",
                             "postal_address": "plain", "birth_date": "plain"},
                  "quota": {"subjects": 3, "window_secs": 3600}}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let processor = r.body["id"].as_str().unwrap().to_owned();
    let processor_key = r.body["api_key"].as_str().unwrap().to_owned();
    let r = s.post(
        "/v1/principals",
        &json!({"org": "owner", "name": "Hanako", "kind": "self", "subject": people[0].0}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let me = r.body["id"].as_str().unwrap().to_owned();
    let my_key = r.body["api_key"].as_str().unwrap().to_owned();
    let r = s.post(
        "/v1/cards",
        &json!({"subject_id": people[0].0, "pan": "4111111111111111", "exp_month": 12, "exp_year": 2031}),
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    // The stolen key reads until containment stops it.
    let auth = format!("Bearer {processor_key}");
    let mut refused = None;
    for (id, _) in &people {
        let r = s.req(
            "GET",
            &format!("/v1/collections/accounts/subjects/{id}"),
            None,
            &[("Authorization", &auth), ("X-Kura-Purpose", "support")],
        );
        if r.status != 200 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("containment stopped the stolen key");
    assert_eq!(r.status, 403, "{}", r.text);
    // The trip opened an incident.
    let deadline = Instant::now() + Duration::from_secs(20);
    let incident = loop {
        let r = s.get("/v1/incidents");
        if let Some(i) = r.body.as_array().and_then(|a| a.first()) {
            break i["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no incident: {}", r.text);
        std::thread::sleep(Duration::from_millis(100));
    };
    Story {
        people,
        processor,
        processor_key,
        me,
        my_key,
        incident,
    }
}

/// A plain HTTP client of the console: no redirects followed, cookies by hand.
struct Web {
    base: String,
    agent: ureq::Agent,
    cookie: Option<String>,
}

#[derive(Debug)]
struct Page {
    status: u16,
    location: String,
    set_cookie: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    /// The value of the first hidden `csrf` input.
    fn csrf(&self) -> String {
        let i = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        self.body[i..i + 43].to_owned()
    }
}

impl Web {
    fn new(s: &Server) -> Web {
        Web {
            base: s.base.clone(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
            cookie: None,
        }
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(c) = &self.cookie {
            b = b.header("Cookie", format!("kura_console={c}"));
        }
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let resp = match form {
            Some(f) => {
                let body: String = f
                    .iter()
                    .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                let req = b
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body.into_bytes())
                    .unwrap();
                self.agent.run(req)
            }
            None => self.agent.run(b.body(()).unwrap()),
        }
        .unwrap();
        let status = resp.status().as_u16();
        let get = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (location, set_cookie) = (get("location"), get("set-cookie"));
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = resp.into_body().read_to_string().unwrap_or_default();
        Page {
            status,
            location,
            set_cookie,
            headers,
            body,
        }
    }

    fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, None, &[])
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send("POST", path, Some(form), &[])
    }

    fn login(&mut self, key: &str) -> Page {
        let p = self.post("/console/login", &[("key", key)]);
        assert_eq!(p.status, 303, "{}", p.body);
        let c = p
            .set_cookie
            .strip_prefix("kura_console=")
            .and_then(|v| v.split(';').next())
            .unwrap();
        self.cookie = Some(c.to_owned());
        p
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn audit_size(s: &Server) -> i64 {
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .unwrap()
}

/// The newest one-time code mailed to `to` (the outbox beside the vault).
fn code_for(dir: &Path, to: &str) -> String {
    let outbox = dir.with_extension("outbox");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&outbox)
            .map(|rd| rd.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        for p in files.iter().rev() {
            let raw = std::fs::read(p).unwrap();
            let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let addressed = m
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .is_some_and(|a| a == to);
            let text = m.body_text(0).unwrap_or_default().into_owned();
            if addressed && let Some(i) = text.find("kura_rv_") {
                return text[i..i + 8 + 43].to_owned();
            }
        }
        assert!(Instant::now() < deadline, "no code mailed to {to}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn without_a_session_no_page_works_and_every_state_change_needs_the_csrf_token() {
    let (s, _tmp) = start();
    let st = story(&s);
    let mut anon = Web::new(&s);
    for path in [
        "/console",
        "/console/incidents",
        &format!("/console/incidents/{}", st.incident),
        "/console/containment",
        "/console/posture",
        "/console/me",
    ] {
        let p = anon.get(path);
        assert_eq!(
            (p.status, p.location.as_str()),
            (303, "/console/login"),
            "{path}"
        );
        assert!(!p.body.contains("Hanakoyamada"), "{path}");
    }
    for path in [
        "/console/me",
        "/console/me/requests",
        "/console/me/redeem",
        "/console/logout",
        &format!("/console/principals/{}/reinstate", st.processor),
    ] {
        let p = anon.post(path, &[("csrf", "x"), ("kind", "erasure"), ("reason", "r")]);
        assert_eq!(p.status, 401, "{path}: {}", p.body);
    }
    // A wrong key gets the form again, and no cookie.
    let p = anon.post("/console/login", &[("key", "kura_sk_0000000000000000")]);
    assert_eq!(p.status, 401);
    assert!(p.set_cookie.is_empty());
    // A login posted from another site is refused before the key is checked.
    let p = anon.send(
        "POST",
        "/console/login",
        Some(&[("key", &s.key)]),
        &[("Origin", "https://evil.example")],
    );
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.set_cookie.is_empty());

    // The officer: the cookie's attributes, the headers of every page.
    let mut officer = Web::new(&s);
    let p = officer.login(&s.key);
    assert_eq!(p.location, "/console/incidents");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(p.set_cookie.contains(attr), "{}", p.set_cookie);
    }
    assert!(
        !p.set_cookie.contains("Secure"),
        "loopback only: no TLS, so no Secure flag by default"
    );
    let page = officer.get("/console/containment");
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(
        !page.body.contains("style=") && !page.body.contains("<script>"),
        "no inline code"
    );
    assert!(
        page.body.contains(&st.processor),
        "the suspended processor is listed"
    );
    let csrf = page.csrf();
    let reinstate = format!("/console/principals/{}/reinstate", st.processor);
    let suspended = |s: &Server| {
        s.get(&format!("/v1/principals/{}", st.processor)).body["suspended_at"].is_i64()
    };
    assert!(suspended(&s));
    // Without the token, with another session's token, from another site, without a reason:
    // refused, nothing changes.
    let p = officer.post(&reinstate, &[("reason", "checked")]);
    assert!(
        p.status == 422 || p.status == 400,
        "a form without a token: {}",
        p.status
    );
    let p = officer.post(
        &reinstate,
        &[("csrf", "A".repeat(43).as_str()), ("reason", "checked")],
    );
    assert_eq!(p.status, 403, "{}", p.body);
    let p = officer.send(
        "POST",
        &reinstate,
        Some(&[("csrf", &csrf), ("reason", "checked")]),
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(p.status, 403, "{}", p.body);
    let p = officer.post(&reinstate, &[("csrf", &csrf), ("reason", "  ")]);
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("reason_required"), "{}", p.body);
    assert!(suspended(&s), "no refused form changed anything");
    let p = officer.post(
        &reinstate,
        &[("csrf", &csrf), ("reason", "key rotated, vendor audited")],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(!suspended(&s));
    let i = s.get(&format!("/v1/incidents/{}", st.incident));
    let last = i.body["incident"]["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["change"], "principal_reinstated", "{last}");
    assert_eq!(last["reason"], "key rotated, vendor audited");

    // The person: their own page only, never the officer's.
    let mut me = Web::new(&s);
    let p = me.login(&st.my_key);
    assert_eq!(p.location, "/console/me");
    let before = audit_size(&s);
    let p = me.get("/console/incidents");
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("operator_only"), "{}", p.body);
    assert!(audit_size(&s) > before, "the refusal is an access event");
    let p = me.get("/console/me");
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("Ha***") || p.body.contains("H***"),
        "masked by default: {}",
        p.body
    );
    for (_, other) in &st.people[1..] {
        let name = other["fields"]["name"].as_str().unwrap();
        assert!(!p.body.contains(name), "{name} is someone else");
    }
    // Someone else's code does not work on my page (and the answer does not say whose).
    let r = s.post(
        "/v1/collections/accounts/rights",
        &json!({"kind": "access", "subject": st.people[1].0}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let theirs = code_for(&s.dir, "taroyamada@example.org");
    let csrf = p.csrf();
    let p = me.post("/console/me/redeem", &[("csrf", &csrf), ("token", &theirs)]);
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(!p.body.contains("Taroyamada"));
    // A copy of my own data: the code from my address, then the export as a download.
    let p = me.post(
        "/console/me/requests",
        &[("csrf", &csrf), ("kind", "access")],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("id=\"code\""), "the code form: {}", p.body);
    let mine = code_for(&s.dir, "hanakoyamada@example.org");
    let p = me.post("/console/me/redeem", &[("csrf", &csrf), ("token", &mine)]);
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.header("content-type"), "application/json");
    assert!(p.header("content-disposition").starts_with("attachment;"));
    let export: Value = serde_json::from_str(&p.body).unwrap();
    assert_eq!(export["format"], "kura-export/1", "{}", p.body);
    assert!(p.body.contains("Hanakoyamada") && !p.body.contains("Taroyamada"));
    // Spent: the same code again is not valid.
    let p = me.post("/console/me/redeem", &[("csrf", &csrf), ("token", &mine)]);
    assert_eq!(p.status, 400, "{}", p.body);
    // Another session's token is refused for my forms too.
    let officer_csrf = officer.get("/console/containment").csrf();
    let p = me.post(
        "/console/me/requests",
        &[("csrf", &officer_csrf), ("kind", "erasure")],
    );
    assert_eq!(p.status, 403);
    // Sign-out ends the session on the server; a revoked key ends the others.
    let p = me.post("/console/logout", &[("csrf", &csrf)]);
    assert_eq!(p.status, 303);
    assert_eq!(me.get("/console/me").location, "/console/login");
    let mut again = Web::new(&s);
    again.login(&st.my_key);
    assert_eq!(again.get("/console/me").status, 200);
    let prefix = &st.my_key[..13];
    let r = s.req(
        "DELETE",
        &format!("/v1/principals/{}/keys/{prefix}", st.me),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(again.get("/console/me").location, "/console/login");
    drop(st.processor_key);
}

#[test]
fn a_person_keeps_their_account_with_the_code_from_the_reconfirmation_mail() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dir = cwd.join("vault");
    let d = dir.to_str().unwrap();
    let (code, out, err) = kura(&util::with_owner(&["init", "--data", d, "--json"]), cwd);
    assert_eq!(code, 0, "{err}");
    let key = serde_json::from_str::<Value>(out.trim()).unwrap()["operator_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let cfg = cwd.join("kura.toml");
    std::fs::write(
        &cfg,
        "[[retention]]\nname = \"dormant\"\ncollection = \"accounts\"\ninactive_days = 730\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let mut s = serve(&dir, &["--config", c], cwd);
    s.key = key;
    let id = s.create(&person("Keepme", "DE", 1));
    let other = s.create(&person("Quietone", "DE", 2));
    let r = s.post(
        "/v1/principals",
        &json!({"org": "owner", "name": "Keepme", "kind": "self", "subject": id}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let my_key = r.body["api_key"].as_str().unwrap().to_owned();
    // Two years pass without a login; the retention run asks both to reconfirm.
    let run = || {
        let (code, out, err) = kura(&["retention", "run", "--data", d, "--config", c], cwd);
        assert_eq!(code, 0, "{out}{err}");
    };
    run();
    let db = rusqlite::Connection::open(dir.join("data.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("UPDATE subject_activity SET active_at = active_at - 800 * 86400000;")
        .unwrap();
    run();
    let mine = code_for(&dir, "keepme@example.org");
    let theirs = code_for(&dir, "quietone@example.org");
    let mut me = Web::new(&s);
    me.login(&my_key);
    let csrf = me.get("/console/me").csrf();
    // Someone else's reconfirmation code does not work here, and says nothing of whose.
    let p = me.post(
        "/console/me/reconfirm",
        &[("csrf", &csrf), ("token", &theirs)],
    );
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(!p.body.contains("Quietone"));
    // Mine keeps my account, once.
    let p = me.post(
        "/console/me/reconfirm",
        &[("csrf", &csrf), ("token", &mine)],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("your account is kept"), "{}", p.body);
    let p = me.post(
        "/console/me/reconfirm",
        &[("csrf", &csrf), ("token", &mine)],
    );
    assert_eq!(p.status, 400, "spent: {}", p.body);
    let confirmed = s.get("/v1/rights?state=confirmed");
    let kinds: Vec<&str> = confirmed
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["subject"] == id.as_str())
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["reconfirmation"], "{}", confirmed.text);
    assert!(
        !confirmed.text.contains(&other),
        "the other person's request is untouched"
    );
}

// ---------------------------------------------------------------------------------------
// The browser.

/// A chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() -> Option<Driver> {
    let found = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the browser tests: install chromium and chromium-driver"
        );
        eprintln!("chromedriver not found: the browser half of the console tests is skipped");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn browser(d: &Driver, lang: &str, mobile: bool) -> Client {
    let size = if mobile { "390,844" } else { "1280,1400" };
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={size}"), format!("--lang={lang}")],
            "prefs": {"intl.accept_languages": lang}
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&d.url)
        .await
        .expect("a Chromium session")
}

fn shots() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// Marks the current document, so that [`arrived`] can tell the next one from it.
async fn mark(c: &Client) {
    c.execute("window.kuraOld = 1; return null;", vec![])
        .await
        .unwrap();
}

/// Waits until the marked document was replaced by a loaded one (a click that navigates
/// returns before the new page exists).
async fn arrived(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let new = c
            .execute(
                "return window.kuraOld === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await
            .map(|v| v == json!(true))
            .unwrap_or(false);
        if new {
            return;
        }
        assert!(Instant::now() < deadline, "the next page did not load");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Clicking what leads to another page, and waiting for it.
trait Follow {
    async fn follow(self, c: &Client);
}

impl Follow for fantoccini::elements::Element {
    async fn follow(self, c: &Client) {
        mark(c).await;
        self.click().await.unwrap();
        arrived(c).await;
    }
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A served vault for the browser tests, on the embedded default or on PostgreSQL.
struct Vault {
    s: Server,
    cwd: PathBuf,
    /// Arguments that point the CLI at this vault.
    locate: Vec<String>,
    /// The outbox is this path with the extension `outbox`.
    mail_base: PathBuf,
    _tmp: tempfile::TempDir,
    // Last: the database is dropped after the server is gone.
    _db: Option<TestDatabase>,
}

impl Drop for Vault {
    /// Stops the server, then drops the database on a thread of its own: its synchronous
    /// client must not run inside the test's async runtime.
    fn drop(&mut self) {
        let _ = self.s.child.kill();
        let _ = self.s.child.wait();
        if let Some(db) = self._db.take() {
            let _ = std::thread::spawn(move || drop(db)).join();
        }
    }
}

impl Vault {
    fn sqlite() -> Vault {
        let (s, tmp) = start();
        Vault {
            cwd: tmp.path().to_owned(),
            locate: vec!["--data".into(), s.dir.to_str().unwrap().into()],
            mail_base: s.dir.clone(),
            s,
            _tmp: tmp,
            _db: None,
        }
    }

    /// `None` when PostgreSQL is not reachable (and this is not CI).
    fn postgres() -> Option<Vault> {
        let db = TestDatabase::create("console")?;
        let tmp = tempfile::tempdir().unwrap();
        let key_file = tmp.path().join("kura.key");
        let kf = key_file.to_str().unwrap().to_owned();
        let admin = db.url().to_owned();
        let (code, out, err) = kura(
            &util::with_owner(&["init", "--store-url", &admin, "--key-file", &kf, "--json"]),
            tmp.path(),
        );
        assert_eq!(code, 0, "{err}");
        let key = serde_json::from_str::<Value>(out.trim()).unwrap()["operator_key"]
            .as_str()
            .unwrap()
            .to_owned();
        let app = db.app_url();
        let stderr_path = tmp.path().join("serve.log");
        let mut child = Command::new(util::kura_bin())
            .args([
                "serve",
                "--store-url",
                &app,
                "--key-file",
                &kf,
                "--listen",
                "127.0.0.1:0",
            ])
            .current_dir(tmp.path())
            .env_remove("KURA_DATA")
            .env_remove("KURA_STORE_URL")
            .env("KURA_AUDIT_CHECKPOINT_EVERY_MS", "200")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let base = util::wait_for_listen(&mut child, &stderr_path);
        let s = Server {
            child,
            base,
            key,
            dir: tmp.path().join("kura"),
            stderr_path,
            _tmp: None,
        };
        Some(Vault {
            cwd: tmp.path().to_owned(),
            locate: vec!["--store-url".into(), app, "--key-file".into(), kf],
            mail_base: tmp.path().join("kura"),
            s,
            _tmp: tmp,
            _db: Some(db),
        })
    }

    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.locate.iter().map(String::as_str));
        kura(&all, &self.cwd)
    }
}

const CONTENT: &str = r#"
[texts.en]
what_happened = "A support desk key was stolen and used to read customer records."
cause = "An access key of our call centre was misused."
likely_consequences = "Someone may try to use your details for phishing."
measures = "The key was suspended automatically; we reported to the regulators."
[texts.ja]
what_happened = "サポート窓口のキーが盗まれ、顧客情報が閲覧されました。"
cause = "委託先コールセンターのアクセスキーが不正に使用されました。"
likely_consequences = "フィッシングに悪用されるおそれがあります。"
measures = "キーは自動的に停止され、監督当局に報告しました。"
[texts.de]
what_happened = "Ein Schlüssel des Kundendienstes wurde gestohlen und zum Lesen von Kundendaten benutzt."
cause = "Ein Zugangsschlüssel unseres Callcenters wurde missbraucht."
likely_consequences = "Ihre Daten könnten für Phishing genutzt werden."
measures = "Der Schlüssel wurde automatisch gesperrt; wir haben die Aufsichtsbehörden informiert."
[instead]
en = "No monitoring service is offered in your region."
ja = "お住まいの地域では監視サービスをご提供しておりません。"
de = "In Ihrer Region bieten wir keinen Überwachungsdienst an."
"#;

/// Every visible form control has a label (a `<label for>` or `aria-label`); every image
/// has a text alternative. Returns the offenders.
async fn unlabelled(c: &Client) -> Vec<Value> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), textarea, select'))\
               .filter(e => !(e.id && document.querySelector('label[for=\"' + e.id + '\"]')) && !e.getAttribute('aria-label'))\
               .map(e => e.outerHTML)\
               .concat(Array.from(document.querySelectorAll('svg[role=img]')).filter(e => !e.getAttribute('aria-labelledby')).map(e => 'svg'));",
            vec![],
        )
        .await
        .unwrap();
    v.as_array().cloned().unwrap_or_default()
}

/// What every page must be: labelled controls, the script running under the CSP.
async fn check_page(c: &Client, name: &str) {
    assert_eq!(
        unlabelled(c).await,
        Vec::<Value>::new(),
        "{name}: controls without a label"
    );
    let script = c
        .execute(
            "return document.documentElement.getAttribute('data-script');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        script,
        json!("on"),
        "{name}: the console's script ran under the CSP"
    );
    shot(c, name).await;
}

/// The officer, in English: login, containment, the trip's incident, scope, obligations,
/// notices, a report filled and marked submitted, posture. Returns the URLs visited.
async fn officer_flow(d: &Driver, v: &Vault, st: &Story, tag: &str) -> Vec<String> {
    let s = &v.s;
    let mut urls = Vec::new();
    let c = browser(d, "en-GB", false).await;
    c.goto(&format!("{}/console/incidents", s.base))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    check_page(&c, &format!("{tag}01-login")).await;
    // The keyboard alone: type the key and press Enter.
    let key = c.find(Locator::Id("key")).await.unwrap();
    mark(&c).await;
    key.send_keys(&format!("{}\u{E007}", s.key)).await.unwrap();
    arrived(&c).await;
    c.wait().for_element(Locator::Css("h1")).await.unwrap();
    assert_eq!(
        text(&c, "h1").await,
        "Incidents",
        "{}",
        text(&c, "main").await
    );
    check_page(&c, &format!("{tag}02-incidents")).await;
    // Containment: the processor is suspended, its quota full, its trip links to the incident.
    c.find(Locator::LinkText("Containment"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    let row = c
        .wait()
        .for_element(Locator::Css(&format!(
            "tr[data-principal='{}']",
            st.processor
        )))
        .await
        .unwrap();
    let row_text = row.text().await.unwrap();
    assert!(
        row_text.contains("Suspended") && row_text.contains("quota") && row_text.contains("3 / 3"),
        "{row_text}"
    );
    check_page(&c, &format!("{tag}03-containment")).await;
    row.find(Locator::Css("ul.trips a"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    c.wait()
        .for_element(Locator::Css("section h2#exposure"))
        .await
        .unwrap();
    urls.push(c.current_url().await.unwrap().to_string());
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with(&st.incident)
    );
    // Scope it: the matrix and the chart, then the obligations with their deadlines.
    c.find(Locator::Css("form[action$='/scope'] button"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    let matrix = c
        .wait()
        .for_element(Locator::Css("table.matrix"))
        .await
        .unwrap();
    let m = matrix.text().await.unwrap();
    assert!(
        m.contains("JP") && m.contains("DE") && m.contains("name"),
        "{m}"
    );
    let people = text(&c, "p.totals").await;
    assert!(
        people.contains("(3 confirmed)"),
        "the three people read: {people}"
    );
    c.find(Locator::Css("figure.chart svg rect.bar-confirmed"))
        .await
        .unwrap();
    let obligations = text(&c, "table.obligations").await;
    assert!(
        obligations.contains("PPC") && obligations.contains("(Asia/Tokyo, +09:00)"),
        "deadlines in the regulator's time zone: {obligations}"
    );
    let countdown = text(&c, "table.obligations .countdown").await;
    assert!(
        countdown.contains(" d ") || countdown.contains(" h "),
        "{countdown}"
    );
    urls.push(c.current_url().await.unwrap().to_string());
    check_page(&c, &format!("{tag}04-incident")).await;
    // Notices go out (the command line, to the outbox); the page shows them per language.
    std::fs::write(v.cwd.join("notice.toml"), CONTENT).unwrap();
    let (code, out, err) = v.cli(&["notify", "plan", &st.incident, "--content", "notice.toml"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = v.cli(&["notify", "send", &st.incident]);
    assert_eq!(code, 0, "{out}{err}");
    c.refresh().await.unwrap();
    let campaign = c
        .wait()
        .for_element(Locator::Css("article.campaign table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ja_sent = campaign
        .lines()
        .find(|l| l.starts_with("ja "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(
        ja_sent,
        Some(3),
        "three notices in Japanese sent: {campaign}"
    );
    shot(&c, &format!("{tag}05-notices")).await;
    // A report: fill its checklist, then mark it submitted.
    let report = c.find(Locator::Css("article.report")).await.unwrap();
    let obligation = report.attr("data-obligation").await.unwrap().unwrap();
    for t in report
        .find_all(Locator::Css("form.items textarea"))
        .await
        .unwrap()
    {
        t.send_keys("Stated in the console").await.unwrap();
    }
    if let Ok(reason) = report
        .find(Locator::Css("form.items input[name='reason']"))
        .await
    {
        reason.send_keys("drafted with the DPO").await.unwrap();
        report
            .find(Locator::Css("form.items button"))
            .await
            .unwrap()
            .follow(&c)
            .await;
        c.wait()
            .for_element(Locator::Css("article.report form.submit"))
            .await
            .unwrap();
    }
    let sel = format!("article.report[data-obligation='{obligation}']");
    let report = c.find(Locator::Css(&sel)).await.unwrap();
    let count = report
        .find(Locator::Css(".checklist-count"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (have, total) = count.split_once(" / ").unwrap();
    assert_eq!(have, total, "every item filled: {count}");
    report
        .find(Locator::Css("input[name='channel']"))
        .await
        .unwrap()
        .send_keys("regulator web form")
        .await
        .unwrap();
    report
        .find(Locator::Css("input[name='reference']"))
        .await
        .unwrap()
        .send_keys("R-2026-1")
        .await
        .unwrap();
    check_page(&c, &format!("{tag}06-report")).await;
    report
        .find(Locator::Css("form.submit button"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    let state = c
        .wait()
        .for_element(Locator::Css(&format!("{sel} .state.submitted")))
        .await
        .unwrap();
    assert_eq!(state.text().await.unwrap(), "submitted");
    check_page(&c, &format!("{tag}07-submitted")).await;
    let timeline = text(&c, "table.timeline").await;
    assert!(
        timeline.contains("regulator web form") && timeline.contains("R-2026-1"),
        "{timeline}"
    );
    let r = s.get(&format!("/v1/incidents/{}/obligations", st.incident));
    let submitted = r.body["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == obligation.as_str())
        .unwrap()["state"]
        .clone();
    assert_eq!(submitted, "submitted", "the API sees what the console did");
    c.find(Locator::LinkText("Posture"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    let posture = c
        .wait()
        .for_element(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        posture.contains("CC Officer")
            && posture.contains("Call Centre KK")
            && posture.contains("kura/"),
        "officers, the processor's supervision and the checkpoint: {posture}"
    );
    check_page(&c, &format!("{tag}08-posture")).await;
    urls.push(c.current_url().await.unwrap().to_string());
    c.close().await.unwrap();
    urls
}

/// The person, in Japanese, on a phone-sized screen: their record masked then shown, their
/// card, the stolen key's reads in their history, erasure with a receipt that verifies.
async fn person_flow(d: &Driver, v: &Vault, st: &Story, tag: &str) -> Vec<String> {
    let s = &v.s;
    let mut urls = Vec::new();
    let c = browser(d, "ja", true).await;
    c.goto(&format!("{}/console/me", s.base)).await.unwrap();
    c.find(Locator::Id("key"))
        .await
        .unwrap()
        .send_keys(&st.my_key)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    let h1 = c
        .wait()
        .for_element(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "お預かりしている情報");
    let record = text(&c, "table.record").await;
    assert!(
        !record.contains("Hanakoyamada") && record.contains("h***@example.org"),
        "masked by default: {record}"
    );
    let cards = text(&c, "ul.cards").await;
    assert!(
        cards.contains("•••• 1111") && cards.contains("12/2031"),
        "{cards}"
    );
    let history = text(&c, "table.history").await;
    assert!(
        history.contains(&st.processor) && history.contains("support"),
        "the stolen key's read is in my history: {history}"
    );
    check_page(&c, &format!("{tag}09-me")).await;
    c.find(Locator::Css("form[action='/console/me'] button"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    c.wait()
        .for_element(Locator::Css("table.record"))
        .await
        .unwrap();
    assert!(
        text(&c, "table.record").await.contains("Hanakoyamada"),
        "shown on request"
    );
    urls.push(c.current_url().await.unwrap().to_string());
    check_page(&c, &format!("{tag}10-me-revealed")).await;
    // Erasure: the code comes by mail, the receipt comes back.
    c.find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    c.wait().for_element(Locator::Id("code")).await.unwrap();
    check_page(&c, &format!("{tag}11-code")).await;
    let base = v.mail_base.clone();
    let code = tokio::task::spawn_blocking(move || code_for(&base, "hanakoyamada@example.org"))
        .await
        .unwrap();
    c.find(Locator::Id("code"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    c.find(Locator::Css("form.code button"))
        .await
        .unwrap()
        .follow(&c)
        .await;
    let receipt = c
        .wait()
        .for_element(Locator::Css("pre.receipt"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    urls.push(c.current_url().await.unwrap().to_string());
    check_page(&c, &format!("{tag}12-receipt")).await;
    c.find(Locator::Css("form[action='/console/me/receipt'] button"))
        .await
        .unwrap();
    std::fs::write(v.cwd.join("receipt.txt"), format!("{receipt}\n")).unwrap();
    let (_, vkey, _) = v.cli(&["audit", "key"]);
    let (code, out, err) = kura(
        &["receipt", "verify", "receipt.txt", "--vkey", vkey.trim()],
        &v.cwd,
    );
    assert_eq!(code, 0, "the receipt from the page verifies: {out}{err}");
    c.goto(&format!("{}/console/me", s.base)).await.unwrap();
    let gone = c
        .wait()
        .for_element(Locator::Css("main p"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(gone, "お客様の記録は保持していません。");
    check_page(&c, &format!("{tag}13-erased")).await;
    c.close().await.unwrap();
    urls
}

/// No personal value in any URL the browser visited, nor in the server's log; no key either.
fn nothing_personal(v: &Vault, st: &Story, urls: &[String]) {
    let log = v.s.logs();
    for (_, p) in &st.people {
        for f in ["name", "email", "phone", "postal_address", "login_id"] {
            let value = p["fields"][f].as_str().unwrap();
            for u in urls {
                assert!(!u.contains(value), "{value} in {u}");
            }
            assert!(!log.contains(value), "{value} in the server log");
        }
    }
    assert!(
        !log.contains(&v.s.key) && !log.contains(&st.my_key),
        "no key in the log"
    );
    assert!(
        !log.contains("4111111111111111"),
        "no card number in the log"
    );
}

async fn both_flows(d: &Driver, v: Vault, tag: &str) {
    let v = std::sync::Arc::new(v);
    let st = {
        let v = v.clone();
        tokio::task::spawn_blocking(move || story(&v.s))
            .await
            .unwrap()
    };
    let mut urls = officer_flow(d, &v, &st, tag).await;
    urls.extend(person_flow(d, &v, &st, tag).await);
    nothing_personal(&v, &st, &urls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_and_a_person_in_a_real_browser() {
    let Some(d) = driver() else { return };
    let v = tokio::task::spawn_blocking(Vault::sqlite).await.unwrap();
    both_flows(&d, v, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_on_postgresql_in_a_real_browser() {
    let Some(d) = driver() else { return };
    let Some(v) = tokio::task::spawn_blocking(Vault::postgres).await.unwrap() else {
        return;
    };
    both_flows(&d, v, "pg-").await;
}
