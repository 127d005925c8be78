//! `kura drill`: the 2011 breach replayed end to end on a fresh vault of its own.
//!
//! The drill is a script over the product, never a second implementation of it: it runs
//! this same executable's commands (`kura init`, `serve`, `canary plant`, `incident scope`,
//! `notify plan`/`send`, `credentials force-reset`, `incident export`/`verify`, `audit
//! verify`, `receipt verify`) as child processes and speaks the HTTP API over loopback, as an
//! operator, a service and an attacker would. Notices and one-time codes go through kura's
//! SMTP transport to a real SMTP server the drill starts on loopback ([`sink`]).
//!
//! Every figure it prints is measured in the run, and it checks itself: the attacker's haul
//! against the stored matrix, the notices against the matrix per country and language,
//! nobody mailed twice, the log, the evidence bundle and every receipt verified offline, no
//! plaintext of anyone in the data directory. Any failed check makes the exit status 1.

mod people;
mod report;
mod sink;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use uuid::Uuid;

use people::Person;
use sink::Sink;

/// `kura drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Customers to populate the vault with.
    #[arg(long, default_value_t = 100_000)]
    pub subjects: u64,
    /// Seed of the synthetic population and of the attacker's list (the same seed draws
    /// the same people).
    #[arg(long, default_value_t = 2011)]
    pub seed: u64,
    /// Directory for the drill's vault, logs, evidence, receipts, drafts and report; must
    /// not exist or be empty.
    #[arg(long, default_value = "kura-drill")]
    pub out: PathBuf,
    /// Run on this PostgreSQL database instead of the embedded store; it must hold no vault
    /// yet. The key file stays in `--out`.
    #[arg(long)]
    pub store_url: Option<String>,
    /// The call centre's quota: distinct people its key may read per day before containment
    /// suspends it.
    #[arg(long, default_value_t = 1_000)]
    pub quota: u64,
    /// Attacker threads.
    #[arg(long, default_value_t = 16)]
    pub threads: usize,
    /// Percent of customers given a password, each through the real password route (one
    /// Argon2id hash each, about 15 ms of a core).
    #[arg(long, default_value_t = 10)]
    pub password_share: u32,
    /// Percent of customers who store a card in the card vault.
    #[arg(long, default_value_t = 10)]
    pub card_share: u32,
    /// Canary records planted among the customers.
    #[arg(long, default_value_t = 25)]
    pub canaries: usize,
    /// Exposed customers who ask for erasure after their notice.
    #[arg(long, default_value_t = 10)]
    pub erasures: usize,
    /// Where kura's mail goes: `smtp` to an SMTP server the drill runs on loopback, or
    /// `outbox` (`<out>/outbox`), which the drill drains as an MTA would, counting and
    /// removing each file.
    #[arg(long, value_enum, default_value_t = MailMode::Smtp)]
    pub mail: MailMode,
}

/// `kura drill --mail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MailMode {
    /// Real SMTP to the drill's loopback sink.
    Smtp,
    /// kura's outbox, drained by the drill.
    Outbox,
}

/// The holder of the drill's service.
const HOLDER: &str = "playnet";
/// Its call-centre processor.
const PROCESSOR: &str = "callcentre";
/// The purpose the call centre reads under.
const SUPPORT: &str = "support";

/// One step's wall time, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub name: String,
    /// When it began, ms after the drill began.
    pub at_ms: u64,
    pub ms: u64,
    pub detail: String,
}

/// One check of the drill's self-verification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// One request of the attack, for the chart: milliseconds since the attack began, and
/// whether it returned a person's record.
#[derive(Debug, Clone, Copy)]
struct Hit {
    at_ms: u64,
    read: bool,
    refused: bool,
}

/// Everything the report shows.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub subjects: u64,
    pub seed: u64,
    pub backend: String,
    pub steps: Vec<Step>,
    pub checks: Vec<Check>,
    pub attack: AttackSummary,
    pub incident: String,
    pub matrix: Value,
    pub obligations: Vec<Value>,
    pub drafts: Vec<String>,
    pub notices: Value,
    pub timeline: Vec<Value>,
    pub erasures: Vec<String>,
    pub flagged_for_reset: u64,
    /// The call centre's supervision report over the drill's day.
    pub supervision: Value,
    /// Per `chart_bucket_ms` of the attack: (records read, requests refused).
    pub chart: Vec<(u64, u64)>,
    /// The chart's bucket.
    pub chart_bucket_ms: u64,
    /// From the start of the declaration to the stored matrix, every draft, every notice
    /// queued (handed to SMTP or in the outbox), measured on the drill's clock.
    pub declaration_to_scope_ms: u64,
    pub declaration_to_drafts_ms: u64,
    pub declaration_to_notices_ms: u64,
}

/// What the attacker did and got.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct AttackSummary {
    pub threads: usize,
    pub requests: u64,
    pub searches: u64,
    pub records: u64,
    pub refused: u64,
    pub first_read_to_suspension_ms: u64,
    pub ran_ms: u64,
    pub suspended_at_ms: u64,
    /// Distinct accounts whose e-mail address a search confirmed (read or not).
    pub accounts_found: u64,
}

/// A child `kura` command's result.
struct Ran {
    code: i32,
    out: String,
    err: String,
}

/// Runs this executable's commands against the drill's vault.
struct Kura {
    exe: PathBuf,
    vault: Vec<String>,
    dir: PathBuf,
}

impl Kura {
    fn run(&self, args: &[&str], with_vault: bool) -> Result<Ran> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(args);
        if with_vault {
            cmd.args(&self.vault);
        }
        let o = cmd
            .current_dir(&self.dir)
            .env("KURA_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running kura {}", args.join(" ")))?;
        Ok(Ran {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        })
    }

    /// Runs a command that must succeed, returning its standard output.
    fn ok(&self, args: &[&str]) -> Result<String> {
        let r = self.run(args, true)?;
        if r.code != 0 {
            bail!(
                "kura {} failed ({}): {}",
                args.join(" "),
                r.code,
                r.err.trim()
            );
        }
        Ok(r.out)
    }

    fn json(&self, args: &[&str]) -> Result<Value> {
        let out = self.ok(args)?;
        serde_json::from_str(&out)
            .with_context(|| format!("kura {} printed no JSON: {out}", args.join(" ")))
    }
}

/// The HTTP API of the drill's server.
#[derive(Clone)]
struct Api {
    base: String,
    agent: ureq::Agent,
}

/// An API answer: status and JSON body (`Null` when not JSON).
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Api {
    fn new(base: String) -> Api {
        Api {
            base,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(600)))
                .build()
                .into(),
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        purpose: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {key}"));
        if let Some(p) = purpose {
            b = b.header("X-Kura-Purpose", p);
        }
        let resp = match body {
            Some((ctype, bytes)) => self.agent.run(b.header("Content-Type", ctype).body(bytes)?),
            None => self.agent.run(b.body(())?),
        }
        .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string().unwrap_or_default();
        Ok(Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        key: &str,
        purpose: Option<&str>,
        body: &Value,
    ) -> Result<Answer> {
        self.call(
            method,
            path,
            key,
            purpose,
            Some(("application/json", serde_json::to_vec(body)?)),
        )
    }

    /// A call that must answer with `want`.
    fn expect(
        &self,
        want: u16,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let a = match body {
            Some(b) => self.json(method, path, key, None, b)?,
            None => self.call(method, path, key, None, None)?,
        };
        if a.status != want {
            bail!("{method} {path}: HTTP {} {}", a.status, a.body);
        }
        Ok(a.body)
    }
}

/// The server child, stopped with SIGTERM (a graceful drain) when dropped.
struct Served {
    child: Child,
}

impl Served {
    fn stop(&mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        bail!("the server did not stop within 60 s of SIGTERM")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Prints a step as it ends and keeps it for the report.
struct Clock {
    began: Instant,
    steps: Vec<Step>,
}

impl Clock {
    fn step(&mut self, name: &str, since: Instant, detail: String) {
        let ms = since.elapsed().as_millis() as u64;
        eprintln!("  {name:<38} {:>9.1} s  {detail}", ms as f64 / 1000.0);
        self.steps.push(Step {
            name: name.to_owned(),
            at_ms: since.duration_since(self.began).as_millis() as u64,
            ms,
            detail,
        });
    }
}

/// Runs the drill. Exit status 0 when every check passed, 1 when one failed.
pub fn run(args: &DrillArgs) -> Result<ExitCode> {
    if args.subjects < 100 {
        bail!("--subjects must be at least 100");
    }
    if args.threads == 0 || args.threads > 256 {
        bail!("--threads must be between 1 and 256");
    }
    if args.password_share > 100 || args.card_share > 100 {
        bail!("--password-share and --card-share are percentages (0-100)");
    }
    if args.quota == 0 || args.quota * 2 > args.subjects {
        bail!("--quota must be at least 1 and at most half of --subjects");
    }
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .with_context(|| format!("cannot read {}", args.out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "--out {} is not empty: the drill runs on a fresh vault of its own and never \
             overwrites one",
            args.out.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let out = args.out.canonicalize()?;
    let mut outcome = Outcome {
        subjects: args.subjects,
        seed: args.seed,
        backend: format!(
            "{}, mail {}",
            if args.store_url.is_some() {
                "PostgreSQL"
            } else {
                "embedded SQLite"
            },
            match args.mail {
                MailMode::Smtp => "over SMTP to a loopback sink",
                MailMode::Outbox => "to the outbox, drained by the drill",
            }
        ),
        ..Outcome::default()
    };
    let started = Instant::now();
    let mut clock = Clock {
        began: started,
        steps: Vec::new(),
    };
    eprintln!(
        "kura drill: {} customers, seed {}, {} — in {}",
        args.subjects,
        args.seed,
        outcome.backend,
        out.display()
    );

    // The mail sink and the configuration.
    let sink = match args.mail {
        MailMode::Smtp => Sink::start()?,
        MailMode::Outbox => Sink::outbox(&out.join("outbox"))?,
    };
    let config = out.join("kura.toml");
    // Owner-only: with --store-url it holds the database URL, perhaps with a password.
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&config)?
            .write_all(config_toml(&sink, args.store_url.as_deref()).as_bytes())?;
    }
    let mut vault = vec!["--config".to_owned(), config.display().to_string()];
    match &args.store_url {
        Some(_) => vault.extend([
            "--key-file".to_owned(),
            out.join("vault.key").display().to_string(),
        ]),
        None => vault.extend(["--data".to_owned(), out.join("vault").display().to_string()]),
    }
    let kura = Kura {
        exe: std::env::current_exe().context("locating the kura executable")?,
        vault,
        dir: out.clone(),
    };

    // 1. The service: vault, holder, server, customers, passwords, cards, canaries,
    //    the call centre.
    let t = Instant::now();
    let init = kura.json(&[
        "init",
        "--json",
        "--org",
        HOLDER,
        "--org-name",
        "PlayNet Entertainment",
        "--officer-name",
        "Aiko Tanaka",
        "--officer-contact",
        "security@playnet.example",
    ])?;
    // Keys are secrets: zeroized when dropped, never printed or written by the drill.
    let op = zeroize::Zeroizing::new(
        init["operator_key"]
            .as_str()
            .context("kura init printed no operator key")?
            .to_owned(),
    );
    let op: &str = &op;
    let (mut served, api) = serve(&kura, &out)?;
    clock.step("vault created, server up", t, String::new());

    let t = Instant::now();
    let ids = populate(&api, op, args)?;
    clock.step(
        "customers imported",
        t,
        format!("{} people over POST /import", ids.len()),
    );
    let t = Instant::now();
    let (passwords, cards) = credentials_and_cards(&api, op, args, &ids)?;
    clock.step(
        "passwords and cards set",
        t,
        format!("{passwords} passwords (Argon2id), {cards} cards"),
    );
    let t = Instant::now();
    kura.ok(&["canary", "plant", "--count", &args.canaries.to_string()])?;
    let (processor, stolen_key) = call_centre(&api, op, args.quota)?;
    clock.step(
        "canaries planted, call centre set up",
        t,
        format!(
            "{} canaries; processor `{PROCESSOR}` with quota {}/day",
            args.canaries, args.quota
        ),
    );

    // 2. The attack.
    let t = Instant::now();
    let (attack, hits, obtained) = attack(&api, &stolen_key, args, &ids)?;
    // About 60 bars, whatever the attack lasted: buckets of 10 ms or a multiple.
    outcome.chart_bucket_ms = (attack.ran_ms / 60).div_ceil(10).max(1) * 10;
    outcome.chart = chart(&hits, outcome.chart_bucket_ms);
    clock.step(
        "attack until containment",
        t,
        format!(
            "{} records obtained by {} threads in {} requests; suspended {} ms after the first stolen read",
            attack.records, attack.threads, attack.requests, attack.first_read_to_suspension_ms
        ),
    );
    outcome.attack = attack.clone();
    let principal = api.expect(200, "GET", &format!("/v1/principals/{processor}"), op, None)?;

    // 3. The response.
    let t_declare = Instant::now();
    let incident = opened_incident(&api, op)?;
    outcome.incident = incident.clone();
    let declared = now_ms();
    api.expect(
        200,
        "PATCH",
        &format!("/v1/incidents/{incident}"),
        op,
        Some(&json!({
            "title": "Call-centre key stolen and used to read customer records",
            "vector": "processor",
            "suspects": [processor],
            "window": {"from_ms": attack.suspended_at_ms.saturating_sub(attack.ran_ms + 60_000), "to_ms": declared},
            "stamps": [{"name": "aware", "org": HOLDER, "at_ms": declared}],
            "reason": "containment suspended the call centre's key; the security officer declares the breach"
        })),
    )?;
    clock.step(
        "incident declared",
        t_declare,
        format!("incident {incident}, opened by the quota trip"),
    );
    let t = Instant::now();
    let matrix = kura.json(&["incident", "scope", &incident, "--json"])?;
    let scoped_ms = t_declare.elapsed().as_millis() as u64;
    stamp(
        &api,
        op,
        &incident,
        "scope_determined",
        "the exposure matrix is stored",
    )?;
    clock.step(
        "scoped",
        t,
        format!(
            "{} people, {} confirmed; {scoped_ms} ms after the declaration began",
            matrix["people"], matrix["people_confirmed"]
        ),
    );
    let t = Instant::now();
    let owed = owed_obligations(&api, op, &incident)?;
    let drafts_dir = out.join("drafts");
    std::fs::create_dir_all(&drafts_dir)?;
    for o in &owed {
        let id = o["id"].as_str().unwrap_or_default();
        let a = api.call(
            "GET",
            &format!(
                "/v1/incidents/{incident}/reports/{}",
                id.replace('/', "%2F")
            ),
            op,
            None,
            None,
        )?;
        match a.status {
            200 => {
                let lang = a.body["lang"].as_str().unwrap_or("en");
                let name = format!("{}.{lang}.md", id.replace('/', "-"));
                std::fs::write(
                    drafts_dir.join(&name),
                    a.body["markdown"].as_str().unwrap_or_default(),
                )?;
                outcome.drafts.push(name);
            }
            400 if a.code() == "no_template" => {}
            s => bail!("report draft {id}: HTTP {s} {}", a.body),
        }
    }
    let drafts_ms = t_declare.elapsed().as_millis() as u64;
    clock.step(
        "obligations listed, drafts rendered",
        t,
        format!(
            "{} owed, {} drafts; {drafts_ms} ms after the declaration began",
            owed.len(),
            outcome.drafts.len()
        ),
    );
    let t = Instant::now();
    let content = out.join("notice.toml");
    std::fs::write(&content, NOTICE_CONTENT)?;
    let plan = kura.json(&[
        "notify",
        "plan",
        &incident,
        "--content",
        &content.display().to_string(),
        "--json",
    ])?;
    sink.phase("notices");
    let sent = kura.json(&["notify", "send", &incident, "--json"])?;
    // Queued: handed to the relay, or in the outbox. (`notify send` sets `notice_sent` at
    // the first delivery itself.) Draining the outbox afterwards is the MTA's time, not
    // kura's.
    let notices_ms = t_declare.elapsed().as_millis() as u64;
    clock.step(
        "notices planned and sent",
        t,
        format!(
            "{} planned, {} {}; {notices_ms} ms after the declaration began",
            plan["people"],
            sent["sent"],
            match args.mail {
                MailMode::Smtp => "handed to SMTP",
                MailMode::Outbox => "written to the outbox",
            }
        ),
    );
    if args.mail == MailMode::Outbox {
        let t = Instant::now();
        sink.phase("after");
        clock.step(
            "outbox drained (the MTA's part)",
            t,
            format!("{} messages taken", sink.counts("notices").messages),
        );
    }
    sink.phase("after");
    let t = Instant::now();
    let reset = kura.json(&[
        "credentials",
        "force-reset",
        "--incident",
        &incident,
        "--json",
    ])?;
    outcome.flagged_for_reset = reset["flagged"].as_u64().unwrap_or(0);
    outcome
        .checks
        .push(reset_check(&api, op, args, &ids, &obtained)?);
    clock.step(
        "resets forced for the exposed",
        t,
        format!("{} accounts must reset", outcome.flagged_for_reset),
    );

    // The 2011 reset page, replayed: what the attacker holds opens nothing.
    let t = Instant::now();
    let replay = reset_page_replay(&api, op, &sink, args, &obtained)?;
    clock.step(
        "the stolen data tried on the reset page",
        t,
        replay.detail.clone(),
    );
    outcome.checks.push(replay);

    let t = Instant::now();
    let receipts_dir = out.join("receipts");
    std::fs::create_dir_all(&receipts_dir)?;
    let erased = erasures(&api, op, &sink, args, &ids, &obtained, &receipts_dir)?;
    outcome.erasures = erased.iter().map(|(r, _)| r.clone()).collect();
    clock.step(
        "erasure requests answered",
        t,
        format!("{} people erased, a signed receipt each", erased.len()),
    );
    let t = Instant::now();
    let bundle = out.join("evidence.json");
    kura.ok(&[
        "incident",
        "export",
        &incident,
        "--out",
        &bundle.display().to_string(),
    ])?;
    let status = kura.json(&["notify", "status", &incident, "--json"])?;
    // The obligations as they stand once the notices are out (the CA AG copy counts from
    // the notice).
    let owed = owed_obligations(&api, op, &incident)?;
    let shown = api.expect(200, "GET", &format!("/v1/incidents/{incident}"), op, None)?;
    outcome.timeline = shown["incident"]["timeline"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    clock.step("evidence bundle exported", t, String::new());
    // The processor's supervision report over the drill's day, as the holder's officer
    // would read it: it must show the attack as the attacker lived it.
    let day = now_ms() / 1000;
    let supervision = api.expect(
        200,
        "GET",
        &format!(
            "/v1/orgs/{PROCESSOR}/report?from={}&to={}",
            day.saturating_sub(86_400),
            day + 1
        ),
        op,
        None,
    )?;
    outcome.checks.push(supervision_check(
        &supervision,
        &processor,
        &attack,
        &incident,
    ));
    outcome.supervision = supervision;
    served.stop()?;

    // 4. Self-verification, on the stopped vault.
    let t = Instant::now();
    let vkey = kura.ok(&["audit", "key"])?.trim().to_owned();
    let audit = kura.run(&["audit", "verify", "--json"], true)?;
    outcome.checks.push(Check {
        name: "kura audit verify".into(),
        ok: audit.code == 0,
        detail: first_line(&audit.out, &audit.err),
    });
    let verify = kura.run(
        &[
            "incident",
            "verify",
            &bundle.display().to_string(),
            "--vkey",
            &vkey,
            "--json",
        ],
        false,
    )?;
    outcome.checks.push(Check {
        name: "kura incident verify (evidence bundle)".into(),
        ok: verify.code == 0,
        detail: first_line(&verify.out, &verify.err),
    });
    let mut receipts_ok = 0;
    for (_, file) in &erased {
        let r = kura.run(
            &[
                "receipt",
                "verify",
                &file.display().to_string(),
                "--vkey",
                &vkey,
            ],
            false,
        )?;
        receipts_ok += usize::from(r.code == 0);
    }
    outcome.checks.push(Check {
        name: "kura receipt verify (every erasure receipt)".into(),
        ok: receipts_ok == erased.len() && erased.len() == args.erasures.min(obtained.len()),
        detail: format!("{receipts_ok} of {} receipts verify", erased.len()),
    });
    outcome
        .checks
        .extend(check_scope(&matrix, &attack, &obtained, args, &principal));
    outcome
        .checks
        .extend(check_notices(&matrix, &plan, &sent, &status, &sink));
    outcome.checks.push(plaintext_check(&out, args, &ids)?);
    clock.step("self-verification", t, String::new());

    outcome.steps = clock.steps;
    outcome.declaration_to_scope_ms = scoped_ms;
    outcome.declaration_to_drafts_ms = drafts_ms;
    outcome.declaration_to_notices_ms = notices_ms;
    outcome.matrix = matrix;
    outcome.obligations = owed;
    outcome.notices = json!({"plan": plan, "send": sent, "status": status});
    report::write(&out, &outcome)?;
    let failed: Vec<&Check> = outcome.checks.iter().filter(|c| !c.ok).collect();
    eprintln!();
    eprintln!("Timings");
    eprintln!(
        "  first stolen read → suspension  {:>8} ms",
        outcome.attack.first_read_to_suspension_ms
    );
    eprintln!(
        "  records the attacker obtained   {:>8}",
        outcome.attack.records
    );
    eprintln!("  declaration → scope             {scoped_ms:>8} ms");
    eprintln!("  declaration → every draft       {drafts_ms:>8} ms");
    eprintln!("  declaration → all notices sent  {notices_ms:>8} ms");
    eprintln!(
        "  whole drill                     {:>8} ms",
        started.elapsed().as_millis()
    );
    eprintln!();
    for c in &outcome.checks {
        eprintln!(
            "  [{}] {} — {}",
            if c.ok { " ok " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    eprintln!();
    eprintln!(
        "report: {} and {}",
        out.join("report.md").display(),
        out.join("report.html").display()
    );
    if failed.is_empty() {
        eprintln!(
            "drill passed its own verification ({} checks)",
            outcome.checks.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "drill FAILED {} of {} checks",
            failed.len(),
            outcome.checks.len()
        );
        Ok(ExitCode::from(1))
    }
}

/// A command's answer in one line: its JSON compacted, or its first lines of text.
fn first_line(out: &str, err: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(out) {
        return v.to_string().chars().take(400).collect();
    }
    let s = if out.trim().is_empty() { err } else { out };
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(400)
        .collect()
}

fn config_toml(sink: &Sink, store_url: Option<&str>) -> String {
    let store = store_url.map_or(String::new(), |u| {
        format!("[store]\nurl = {}\n\n", toml::Value::String(u.to_owned()))
    });
    let transport = match sink.outbox_dir() {
        Some(dir) => format!(
            "transport = \"outbox\"\noutbox_dir = {}",
            toml::Value::String(dir.display().to_string())
        ),
        None => format!(
            "transport = \"smtp\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}",
            sink.port
        ),
    };
    format!(
        "# Written by `kura drill`.\n{store}[audit]\ncheckpoint_every_ms = 500\n\n\
         [mail]\n{transport}\n\
         from = \"PlayNet Security <security@playnet.example>\"\n\n\
         [rights]\ncontroller_name = \"PlayNet Entertainment\"\n\
         controller_contact = \"privacy@playnet.example\"\n\n\
         [obligations]\nestablished_in = [\"JP\", \"US\"]\n"
    )
}

/// Starts `kura serve` on a free loopback port and waits for its `listening on` line.
fn serve(kura: &Kura, out: &Path) -> Result<(Served, Api)> {
    let log = std::fs::File::create(out.join("serve.log"))?;
    let mut child = Command::new(&kura.exe)
        .arg("serve")
        .args(&kura.vault)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(&kura.dir)
        .env("KURA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("starting kura serve")?;
    let stdout = child.stdout.take().context("no stdout of kura serve")?;
    let served = Served { child };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .context("kura serve did not start within 60 s (see serve.log)")?;
    Ok((served, Api::new(base)))
}

/// Imports the customers over `POST /import` in batches, two at a time; returns their ids
/// by serial.
fn populate(api: &Api, op: &str, args: &DrillArgs) -> Result<Vec<Uuid>> {
    const BATCH: u64 = 5_000;
    let batches = args.subjects.div_ceil(BATCH);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<u64, Vec<Uuid>>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed) as u64;
                        if b >= batches {
                            return Ok(());
                        }
                        let from = b * BATCH;
                        let to = (from + BATCH).min(args.subjects);
                        let mut body = Vec::with_capacity(((to - from) * 300) as usize);
                        for i in from..to {
                            let p = Person::new(args.seed, i, args.password_share, args.card_share);
                            serde_json::to_writer(&mut body, &p.create_body())?;
                            body.push(b'\n');
                        }
                        let a = api.call(
                            "POST",
                            "/v1/collections/accounts/import",
                            op,
                            Some("signup"),
                            Some(("application/x-ndjson", body)),
                        )?;
                        let errors = a.body["errors"].as_array().map_or(0, Vec::len);
                        if a.status != 200 || errors > 0 {
                            bail!(
                                "import batch {b}: HTTP {} {}",
                                a.status,
                                a.body.to_string().chars().take(400).collect::<String>()
                            );
                        }
                        let got: Vec<Uuid> = a.body["ids"]
                            .as_array()
                            .map(|v| v.iter().filter_map(|x| x.as_str()?.parse().ok()).collect())
                            .unwrap_or_default();
                        if got.len() as u64 != to - from {
                            bail!(
                                "import batch {b}: {} ids for {} lines",
                                got.len(),
                                to - from
                            );
                        }
                        results
                            .lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?
                            .insert(b, got);
                        let n = done.fetch_add((to - from) as usize, Ordering::Relaxed)
                            + (to - from) as usize;
                        if b % 20 == 19 {
                            eprintln!("    {n} of {} imported", args.subjects);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("an import thread panicked"))??;
        }
        Ok(())
    })?;
    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(results.into_values().flatten().collect())
}

/// Runs `work(i)` for every serial in `0..n` on `threads` threads.
fn parallel(n: u64, threads: usize, work: impl Fn(u64) -> Result<()> + Sync) -> Result<()> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<()> {
        let ws: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as u64;
                        if i >= n {
                            return Ok(());
                        }
                        work(i)?;
                    }
                })
            })
            .collect();
        for w in ws {
            w.join()
                .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        }
        Ok(())
    })
}

/// Sets passwords through `PUT .../password` (retrying while the hashing pool is busy) and
/// stores cards through `POST /v1/cards`.
fn credentials_and_cards(
    api: &Api,
    op: &str,
    args: &DrillArgs,
    ids: &[Uuid],
) -> Result<(u64, u64)> {
    let passwords = AtomicUsize::new(0);
    let cards = AtomicUsize::new(0);
    parallel(ids.len() as u64, 4, |i| {
        let p = Person::new(args.seed, i, args.password_share, args.card_share);
        let id = ids[i as usize];
        if let Some(pw) = &p.password {
            loop {
                let a = api.json(
                    "PUT",
                    &format!("/v1/collections/accounts/subjects/{id}/password"),
                    op,
                    Some("signup"),
                    &json!({"password": pw}),
                )?;
                match a.status {
                    204 => break,
                    503 => std::thread::sleep(Duration::from_millis(5)),
                    s => bail!("setting a password: HTTP {s} {}", a.body),
                }
            }
            passwords.fetch_add(1, Ordering::Relaxed);
        }
        if let Some((pan, m, y)) = &p.card {
            let a = api.json(
                "POST",
                "/v1/cards",
                op,
                Some("signup"),
                &json!({"subject_id": id.to_string(), "pan": pan, "exp_month": m, "exp_year": y, "holder": p.name}),
            )?;
            if a.status != 201 && a.status != 200 {
                bail!("storing a card: HTTP {} {}", a.status, a.body);
            }
            cards.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })?;
    Ok((passwords.into_inner() as u64, cards.into_inner() as u64))
}

/// The processor organization with its own security officer, and the call-centre desk's
/// principal: search and read for support, every contact field in the clear, cards masked,
/// a daily quota of distinct people. Returns (principal id, its key).
fn call_centre(api: &Api, op: &str, quota: u64) -> Result<(String, zeroize::Zeroizing<String>)> {
    api.expect(
        201,
        "POST",
        "/v1/orgs",
        op,
        Some(
            &json!({"id": PROCESSOR, "name": "Call Centre Services KK", "role": "processor",
            "supervisor": HOLDER,
            "security_officer": {"name": "Kenji Mori", "contact": "security@callcentre.example"}}),
        ),
    )?;
    let p = api.expect(
        201,
        "POST",
        "/v1/principals",
        op,
        Some(&json!({"org": PROCESSOR, "name": "support desk", "kind": "processor",
            "policies": [{"collection": "accounts", "purposes": [SUPPORT], "actions": ["search", "read"],
              "fields": {"login_id": "plain", "name": "plain", "email": "plain", "phone": "plain",
                         "postal_address": "plain", "birth_date": "plain", "gender": "plain",
                         "payment_cards": "masked"},
              "quota": {"subjects": quota, "window_secs": 86_400}}]})),
    )?;
    Ok((
        p["id"].as_str().context("no principal id")?.to_owned(),
        zeroize::Zeroizing::new(p["api_key"].as_str().context("no api key")?.to_owned()),
    ))
}

/// The attacker's list: e-mail addresses from an earlier leak elsewhere, nine in ten of them
/// this service's customers, in an order drawn from the seed.
fn attackers_list(args: &DrillArgs) -> Vec<(String, Option<u64>)> {
    use rand::{RngExt as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed.rotate_left(17) ^ 0xA77AC4);
    let len = (args.quota * 4 + 200).min(args.subjects);
    (0..len)
        .map(|j| {
            if rng.random_range(0..10u32) == 0 {
                (format!("someone.{j}@example.org"), None)
            } else {
                let i = rng.random_range(0..args.subjects);
                (Person::new(args.seed, i, 0, 0).email, Some(i))
            }
        })
        .collect()
}

/// The stolen key, from many threads: search each address, read every hit in full, as fast
/// as the server answers, until the key is refused. Returns the summary, every request's
/// time, and the serials of the people whose records were returned.
fn attack(
    api: &Api,
    key: &str,
    args: &DrillArgs,
    ids: &[Uuid],
) -> Result<(AttackSummary, Vec<Hit>, Vec<u64>)> {
    let list = attackers_list(args);
    let by_id: std::collections::HashMap<Uuid, u64> = list
        .iter()
        .filter_map(|(_, i)| i.map(|i| (ids[i as usize], i)))
        .collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let hits: Mutex<Vec<Hit>> = Mutex::new(Vec::new());
    let obtained: Mutex<HashSet<u64>> = Mutex::new(HashSet::new());
    let learned: Mutex<HashSet<Uuid>> = Mutex::new(HashSet::new());
    let searches = AtomicUsize::new(0);
    let first_read: Mutex<Option<u64>> = Mutex::new(None);
    let suspended: Mutex<Option<u64>> = Mutex::new(None);
    let t0 = Instant::now();
    let start_ms = now_ms();
    std::thread::scope(|s| -> Result<()> {
        let ws: Vec<_> = (0..args.threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut mine = Vec::new();
                    let mut refusals = 0;
                    while !stop.load(Ordering::Relaxed) || refusals < 3 {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        let Some((email, _)) = list.get(j) else { break };
                        let a = api.json(
                            "POST",
                            "/v1/collections/accounts/search",
                            key,
                            Some(SUPPORT),
                            &json!({"field": "email", "value": email, "limit": 10}),
                        )?;
                        let at = t0.elapsed().as_millis() as u64;
                        searches.fetch_add(1, Ordering::Relaxed);
                        let mut found = Vec::new();
                        if a.status == 200 {
                            found = a.body["ids"].as_array().cloned().unwrap_or_default();
                            let mut l = learned.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                            l.extend(
                                found
                                    .iter()
                                    .filter_map(|v| v.as_str()?.parse::<Uuid>().ok()),
                            );
                            mine.push(Hit {
                                at_ms: at,
                                read: false,
                                refused: false,
                            });
                        } else {
                            mine.push(Hit {
                                at_ms: at,
                                read: false,
                                refused: true,
                            });
                            refusals += 1;
                            if a.code() == "principal_suspended" {
                                let mut s =
                                    suspended.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                                s.get_or_insert(now_ms());
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                        for id in found.iter().filter_map(Value::as_str) {
                            let a = api.call(
                                "GET",
                                &format!("/v1/collections/accounts/subjects/{id}"),
                                key,
                                Some(SUPPORT),
                                None,
                            )?;
                            let at = t0.elapsed().as_millis() as u64;
                            if a.status == 200 {
                                first_read
                                    .lock()
                                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                                    .get_or_insert(now_ms());
                                mine.push(Hit {
                                    at_ms: at,
                                    read: true,
                                    refused: false,
                                });
                                let serial =
                                    id.parse::<Uuid>().ok().and_then(|u| by_id.get(&u).copied());
                                // A hit outside the list (a canary sharing the address) would
                                // have no serial; the matrix never counts canaries.
                                if let Some(i) = serial {
                                    obtained
                                        .lock()
                                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                                        .insert(i);
                                }
                            } else {
                                mine.push(Hit {
                                    at_ms: at,
                                    read: false,
                                    refused: true,
                                });
                                refusals += 1;
                                if a.code() == "principal_suspended" {
                                    suspended
                                        .lock()
                                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                                        .get_or_insert(now_ms());
                                    stop.store(true, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                    hits.lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .extend(mine);
                    Ok(())
                })
            })
            .collect();
        for w in ws {
            w.join()
                .map_err(|_| anyhow::anyhow!("an attacker thread panicked"))??;
        }
        Ok(())
    })?;
    let ran_ms = t0.elapsed().as_millis() as u64;
    let mut hits = hits.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
    hits.sort_by_key(|h| h.at_ms);
    let obtained: Vec<u64> = {
        let mut v: Vec<u64> = obtained
            .into_inner()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .into_iter()
            .collect();
        v.sort_unstable();
        v
    };
    let first = first_read
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let susp = suspended
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let summary = AttackSummary {
        threads: args.threads,
        requests: hits.len() as u64,
        searches: searches.into_inner() as u64,
        records: obtained.len() as u64,
        refused: hits.iter().filter(|h| h.refused).count() as u64,
        first_read_to_suspension_ms: match (first, susp) {
            (Some(f), Some(s)) => s.saturating_sub(f),
            _ => 0,
        },
        ran_ms,
        suspended_at_ms: susp.unwrap_or(0).max(start_ms),
        accounts_found: learned
            .into_inner()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .len() as u64,
    };
    if susp.is_none() {
        bail!(
            "containment never stopped the stolen key: the attacker's list ran out after {} records",
            summary.records
        );
    }
    Ok((summary, hits, obtained))
}

/// Requests per `bucket_ms` of the attack: (records read, requests refused).
fn chart(hits: &[Hit], bucket_ms: u64) -> Vec<(u64, u64)> {
    let last = hits.last().map_or(0, |h| h.at_ms);
    let mut out = vec![(0, 0); (last / bucket_ms + 1) as usize];
    for h in hits {
        let b = &mut out[(h.at_ms / bucket_ms) as usize];
        if h.read {
            b.0 += 1;
        }
        if h.refused {
            b.1 += 1;
        }
    }
    out
}

/// The obligations the incident owes now (`required`), as the API lists them.
fn owed_obligations(api: &Api, op: &str, incident: &str) -> Result<Vec<Value>> {
    let all = api.expect(
        200,
        "GET",
        &format!("/v1/incidents/{incident}/obligations"),
        op,
        None,
    )?;
    Ok(all["obligations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["required"] == json!(true))
        .cloned()
        .collect())
}

/// Sets one of the incident's timestamps to now, with a reason.
fn stamp(api: &Api, op: &str, incident: &str, name: &str, reason: &str) -> Result<()> {
    api.expect(
        200,
        "PATCH",
        &format!("/v1/incidents/{incident}"),
        op,
        Some(&json!({"stamps": [{"name": name, "at_ms": now_ms()}], "reason": reason})),
    )?;
    Ok(())
}

/// After the forced resets: an exposed customer's correct password is refused until they
/// recover their account; a customer the attacker never reached still signs in.
fn reset_check(
    api: &Api,
    op: &str,
    args: &DrillArgs,
    ids: &[Uuid],
    obtained: &[u64],
) -> Result<Check> {
    let with_password = |i: u64| Person::new(args.seed, i, args.password_share, args.card_share);
    let exposed = obtained
        .iter()
        .map(|&i| with_password(i))
        .find(|p| p.password.is_some());
    let reached: HashSet<u64> = obtained.iter().copied().collect();
    let untouched = (0..ids.len() as u64)
        .filter(|i| !reached.contains(i))
        .take(5_000)
        .map(with_password)
        .find(|p| p.password.is_some());
    let login = |p: &Person| -> Result<Answer> {
        api.json(
            "POST",
            "/v1/collections/accounts/login",
            op,
            Some("login"),
            &json!({"login_id": p.login_id, "password": p.password}),
        )
    };
    let (Some(e), Some(u)) = (exposed, untouched) else {
        return Ok(Check {
            name: "exposed accounts must reset, others sign in".into(),
            ok: args.password_share == 0,
            detail: "no exposed or no untouched customer with a password to try".into(),
        });
    };
    let (le, lu) = (login(&e)?, login(&u)?);
    Ok(Check {
        name: "exposed accounts must reset, others sign in".into(),
        ok: le.status == 403 && le.code() == "password_reset_required" && lu.status == 200,
        detail: format!(
            "an exposed customer's correct password: HTTP {} {}; an untouched customer's: HTTP {}",
            le.status,
            le.code(),
            lu.status
        ),
    })
}

/// The incident the containment trip opened (waits for it briefly).
fn opened_incident(api: &Api, op: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = api.expect(200, "GET", "/v1/incidents", op, None)?;
        if let Some(id) = list
            .as_array()
            .and_then(|a| a.first())
            .and_then(|i| i["id"].as_str())
        {
            return Ok(id.to_owned());
        }
        if Instant::now() > deadline {
            bail!("the containment trip opened no incident within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The case's reset page accepted an e-mail address and a birth date: exactly what had just
/// been stolen. Here the attacker gives kura's recovery route a stolen address and birth
/// date: the birth date is refused, and with the address alone the answer is the same
/// `accepted` as for anyone, while the token goes only to the address on file.
fn reset_page_replay(
    api: &Api,
    op: &str,
    sink: &Sink,
    args: &DrillArgs,
    obtained: &[u64],
) -> Result<Check> {
    let Some(&i) = obtained.first() else {
        return Ok(Check {
            name: "stolen data opens no account".into(),
            ok: false,
            detail: "the attacker obtained nobody".into(),
        });
    };
    let p = Person::new(args.seed, i, args.password_share, args.card_share);
    sink.watch(&p.email);
    sink.phase("recovery");
    let with_birth = api.json(
        "POST",
        "/v1/collections/accounts/recovery",
        op,
        Some("account_recovery"),
        &json!({"email": p.email, "birth_date": p.birth_date}),
    )?;
    let plain = api.json(
        "POST",
        "/v1/collections/accounts/recovery",
        op,
        Some("account_recovery"),
        &json!({"email": p.email}),
    )?;
    let unknown = api.json(
        "POST",
        "/v1/collections/accounts/recovery",
        op,
        Some("account_recovery"),
        &json!({"email": "nobody.at.all@example.org"}),
    )?;
    // The token is mailed on the server's mail thread: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.texts(&p.email).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    sink.phase("after");
    let mailed = sink.texts(&p.email);
    let leaked = with_birth.body.to_string().contains("kura_rt_")
        || plain.body.to_string().contains("kura_rt_");
    let ok = with_birth.status == 400
        && plain.status == 202
        && unknown.status == 202
        && plain.body == unknown.body
        && !leaked
        && mailed.len() == 1
        && mailed[0].contains("kura_rt_");
    Ok(Check {
        name: "stolen address and birth date open no account".into(),
        ok,
        detail: format!(
            "with a birth date: HTTP {} {}; address alone: HTTP {} (same answer as an unknown address: {}); token in an answer: {leaked}; mails to the address on file: {}",
            with_birth.status,
            with_birth.body["error"]["code"].as_str().unwrap_or(""),
            plain.status,
            plain.body == unknown.body,
            mailed.len()
        ),
    })
}

/// The first `--erasures` exposed people ask for erasure by e-mail address; each one-time
/// code is read from the mail the sink received, redeemed, and the receipt saved.
fn erasures(
    api: &Api,
    op: &str,
    sink: &Sink,
    args: &DrillArgs,
    ids: &[Uuid],
    obtained: &[u64],
    dir: &Path,
) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    sink.phase("rights");
    // Skip the person the reset-page replay used: their inbox already holds a mail.
    for &i in obtained.iter().skip(1).take(args.erasures) {
        let p = Person::new(args.seed, i, args.password_share, args.card_share);
        sink.watch(&p.email);
        let a = api.json(
            "POST",
            "/v1/collections/accounts/rights",
            op,
            Some("rights"),
            &json!({"kind": "erasure", "email": p.email}),
        )?;
        if a.status != 202 {
            bail!("erasure request: HTTP {} {}", a.status, a.body);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(c) = sink
                .texts(&p.email)
                .iter()
                .find_map(|t| token(t, "kura_rv_"))
            {
                break c;
            }
            if Instant::now() > deadline {
                bail!("no erasure code reached the address on file within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let v = api.json(
            "POST",
            "/v1/collections/accounts/rights/verify",
            op,
            Some("rights"),
            &json!({"token": code}),
        )?;
        if v.status != 200 {
            bail!("redeeming an erasure code: HTTP {} {}", v.status, v.body);
        }
        let request = v.body["request"]["id"]
            .as_str()
            .unwrap_or("request")
            .to_owned();
        let receipt = v.body["receipt"]
            .as_str()
            .context("no receipt in the answer")?;
        let file = dir.join(format!("{request}.txt"));
        std::fs::write(&file, receipt)?;
        let gone = api.call(
            "GET",
            &format!("/v1/collections/accounts/subjects/{}", ids[i as usize]),
            op,
            Some("rights"),
            None,
        )?;
        if gone.status != 404 {
            bail!("an erased person is still readable: HTTP {}", gone.status);
        }
        out.push((request, file));
    }
    sink.phase("after");
    Ok(out)
}

/// The first `prefix…` token in a text (`[A-Za-z0-9_-]` after the prefix).
fn token(text: &str, prefix: &str) -> Option<String> {
    let at = text.find(prefix)?;
    let t: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (t.len() > prefix.len() + 8).then_some(t)
}

/// The processor's supervision report against the attack: the desk's refusals as the server
/// recorded them, the people it obtained, its suspension and the trip's incident.
fn supervision_check(
    report: &Value,
    principal: &str,
    attack: &AttackSummary,
    incident: &str,
) -> Check {
    let desk = report["principals"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["id"] == principal))
        .cloned()
        .unwrap_or(Value::Null);
    let refused: u64 = desk["denied"]
        .as_object()
        .map_or(0, |d| d.values().filter_map(Value::as_u64).sum());
    let subjects = desk["distinct_subjects"].as_u64().unwrap_or(u64::MAX);
    let tripped = desk["containment_events"].as_array().is_some_and(|e| {
        e.iter()
            .any(|c| c["incident"] == incident && c["trigger"] == "quota")
    });
    Check {
        name: "the call centre's supervision report shows the attack".into(),
        ok: desk["suspended"] == json!(true)
            && tripped
            && refused == attack.refused
            && subjects == attack.accounts_found,
        detail: format!(
            "desk: {} requests, {refused} refused ({}), {subjects} people obtained, suspended {}, quota trip to this incident {tripped}; attacker: {} refused, {} accounts reached ({} read in full)",
            desk["requests"],
            desk["denied"],
            desk["suspended"],
            attack.refused,
            attack.accounts_found,
            attack.records
        ),
    }
}

/// The matrix against the attack as the attacker saw it.
fn check_scope(
    m: &Value,
    attack: &AttackSummary,
    obtained: &[u64],
    args: &DrillArgs,
    principal: &Value,
) -> Vec<Check> {
    let confirmed = m["people_confirmed"].as_u64().unwrap_or(u64::MAX);
    let people = m["people"].as_u64().unwrap_or(u64::MAX);
    let name_confirmed = m["categories"]["name"]["confirmed"]
        .as_u64()
        .unwrap_or(u64::MAX);
    let email_confirmed = m["categories"]["email"]["confirmed"]
        .as_u64()
        .unwrap_or(u64::MAX);
    vec![
        Check {
            name: "confirmed exposure = what the attacker obtained".into(),
            ok: name_confirmed == obtained.len() as u64
                && confirmed == attack.accounts_found
                && email_confirmed == attack.accounts_found,
            detail: format!(
                "matrix: {name_confirmed} names confirmed, {email_confirmed} e-mail addresses, {confirmed} people; attacker: {} records read, {} accounts confirmed by a search hit",
                obtained.len(),
                attack.accounts_found
            ),
        },
        Check {
            name: "containment held the quota".into(),
            ok: attack.accounts_found <= args.quota
                && attack.records > 0
                && principal["suspended_at"].is_number(),
            detail: format!(
                "{} accounts reached ({} read) with a quota of {}; principal suspended at {}",
                attack.accounts_found, attack.records, args.quota, principal["suspended_at"]
            ),
        },
        Check {
            name: "every customer counted, no canary".into(),
            ok: people == args.subjects && m["canaries_touched"] == json!(0),
            detail: format!(
                "matrix: {people} people (potential: what the call centre's policy reaches) of {} customers; canaries touched: {}",
                args.subjects, m["canaries_touched"]
            ),
        },
    ]
}

/// The notices against the matrix, the plan, the sender's report and what the SMTP sink
/// received.
fn check_notices(
    matrix: &Value,
    plan: &Value,
    sent: &Value,
    status: &Value,
    sink: &Sink,
) -> Vec<Check> {
    let got = sink.counts("notices");
    let unreadable = sink.errors();
    let sent_n = sent["sent"].as_u64().unwrap_or(0);
    let people = matrix["people"].as_u64().unwrap_or(0);
    let twice = got.per_recipient.values().filter(|&&n| n > 1).count();
    // Per country: the matrix's people against the notices the sender reports sent.
    let mut by_country: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_lang: BTreeMap<String, u64> = BTreeMap::new();
    let campaign = status
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null);
    for c in campaign["counts"].as_array().into_iter().flatten() {
        if c["state"] == "sent" {
            let n = c["people"].as_u64().unwrap_or(0);
            *by_country
                .entry(c["country"].as_str().unwrap_or("?").to_owned())
                .or_default() += n;
            *by_lang
                .entry(c["lang"].as_str().unwrap_or("?").to_owned())
                .or_default() += n;
        }
    }
    let mut country_diffs = Vec::new();
    if let Some(pc) = matrix["people_by_country"].as_object() {
        for (country, pair) in pc {
            let want = pair[0].as_u64().unwrap_or(0) + pair[1].as_u64().unwrap_or(0);
            let have = by_country.get(country).copied().unwrap_or(0);
            if want != have {
                country_diffs.push(format!("{country}: matrix {want}, sent {have}"));
            }
        }
    }
    let ja = by_lang.get("ja").copied().unwrap_or(0);
    let ko = by_lang.get("ko").copied().unwrap_or(0);
    let latin = sent_n.saturating_sub(ja + ko);
    let script = |k: &str| got.per_script.get(k).copied().unwrap_or(0);
    vec![
        Check {
            name: "one notice per person in the matrix".into(),
            ok: plan["people"].as_u64() == Some(people)
                && sent_n == people
                && got.messages == people
                && unreadable == 0,
            detail: format!(
                "matrix {people} people; planned {}; sent {sent_n}; received {}{}",
                plan["people"],
                got.messages,
                if unreadable > 0 {
                    format!("; {unreadable} messages unreadable")
                } else {
                    String::new()
                }
            ),
        },
        Check {
            name: "nobody notified twice".into(),
            ok: twice == 0 && got.per_recipient.len() as u64 == got.messages,
            detail: format!(
                "{} distinct recipients for {} messages; {twice} got more than one",
                got.per_recipient.len(),
                got.messages
            ),
        },
        Check {
            name: "notices per country = the matrix per country".into(),
            ok: country_diffs.is_empty() && !by_country.is_empty(),
            detail: if country_diffs.is_empty() {
                format!("{} countries match", by_country.len())
            } else {
                country_diffs.join("; ")
            },
        },
        Check {
            name: "notices per language, as received".into(),
            ok: script("ja") == ja && script("ko") == ko && script("latin") == latin,
            detail: format!(
                "sender: {by_lang:?}; sink: ja {}, ko {}, latin-script {}",
                script("ja"),
                script("ko"),
                script("latin")
            ),
        },
    ]
}

/// No value of a sampled customer — names, addresses, e-mails, phones, login ids,
/// passwords, card numbers — appears in any file under the drill's directory (the vault's
/// data files with their WAL, the server's log, the evidence bundle, the drafts, the
/// receipts) nor, on PostgreSQL, in a `pg_dump` of the database. One Aho-Corasick pass per
/// file or dump, streamed.
fn plaintext_check(out: &Path, args: &DrillArgs, ids: &[Uuid]) -> Result<Check> {
    let sample = 2_000u64.min(ids.len() as u64);
    let step = (ids.len() as u64 / sample.max(1)).max(1);
    let mut needles: Vec<String> = Vec::new();
    for k in 0..sample {
        let p = Person::new(args.seed, k * step, args.password_share, args.card_share);
        needles.extend(p.values().into_iter().filter(|v| v.len() >= 8));
    }
    let ac = aho_corasick::AhoCorasick::new(&needles)?;
    let first = |r: &mut dyn std::io::Read| -> Result<Option<usize>> {
        match ac.stream_find_iter(r).next() {
            Some(m) => Ok(Some(needles[m?.pattern().as_usize()].len())),
            None => Ok(None),
        }
    };
    let mut files = 0;
    let mut bytes = 0u64;
    let mut found: Vec<String> = Vec::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let path = e.path();
            if e.file_type()?.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            bytes += e.metadata()?.len();
            let mut f = BufReader::new(std::fs::File::open(&path)?);
            if let Some(len) = first(&mut f)? {
                found.push(format!(
                    "{} (a {len}-byte value)",
                    path.strip_prefix(out).unwrap_or(&path).display()
                ));
            }
        }
    }
    let mut also = String::new();
    if let Some(url) = &args.store_url {
        let mut child = Command::new("pg_dump")
            .args(["--data-only", "--no-owner", url])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("running pg_dump for the plaintext check (install PostgreSQL's client)")?;
        let mut counted = CountingReader {
            inner: BufReader::new(child.stdout.take().context("pg_dump has no stdout")?),
            n: 0,
        };
        let hit = first(&mut counted)?;
        std::io::copy(&mut counted, &mut std::io::sink())?;
        let status = child.wait()?;
        if !status.success() {
            found.push(format!("pg_dump failed ({status})"));
        } else if let Some(len) = hit {
            found.push(format!("the database dump (a {len}-byte value)"));
        }
        also = format!(" and a {}-byte pg_dump of the database", counted.n);
    }
    Ok(Check {
        name: "no plaintext in the drill's directory".into(),
        ok: found.is_empty() && files > 0,
        detail: if found.is_empty() {
            format!(
                "{} values of {sample} customers searched in {files} files ({bytes} bytes){also}",
                needles.len()
            )
        } else {
            format!("found in {}", found.join(", "))
        },
    })
}

/// A reader that counts the bytes through it.
struct CountingReader<R> {
    inner: R,
    n: u64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// The officer's texts for the notices, in every language the population needs.
const NOTICE_CONTENT: &str = r#"
[texts.en]
what_happened = "An access key of the call centre that answers our support line was stolen and used to look up customer records."
cause = "A processor's access key was misused."
likely_consequences = "Someone may use your name, address, e-mail address, phone number or birth date to contact you or to try to impersonate you."
measures = "The key was suspended automatically when it read more records than the call centre ever needs; we forced password resets and reported to the regulators."
[texts.ja]
what_happened = "サポート窓口を委託しているコールセンターのアクセスキーが盗まれ、お客様の情報が閲覧されました。"
cause = "委託先のアクセスキーが不正に使用されました。"
likely_consequences = "氏名、住所、メールアドレス、電話番号、生年月日がなりすましや勧誘に悪用されるおそれがあります。"
measures = "キーは通常の業務量を超えた時点で自動的に停止されました。パスワードの再設定を実施し、監督当局に報告しました。"
[texts.de]
what_happened = "Ein Zugangsschlüssel des Callcenters, das unseren Kundendienst betreibt, wurde gestohlen und zum Abrufen von Kundendaten benutzt."
cause = "Der Zugangsschlüssel eines Auftragsverarbeiters wurde missbraucht."
likely_consequences = "Ihr Name, Ihre Anschrift, E-Mail-Adresse, Telefonnummer oder Ihr Geburtsdatum könnten für Betrugsversuche genutzt werden."
measures = "Der Schlüssel wurde automatisch gesperrt, als er mehr Datensätze las, als das Callcenter je braucht; wir haben Passwörter zurückgesetzt und die Aufsichtsbehörden informiert."
[texts.ko]
what_happened = "고객센터를 위탁 운영하는 콜센터의 접근 키가 도난되어 고객 정보가 조회되었습니다."
cause = "수탁자의 접근 키가 부정하게 사용되었습니다."
likely_consequences = "성명, 주소, 이메일, 전화번호, 생년월일이 사칭이나 피싱에 악용될 수 있습니다."
measures = "키는 평소 업무량을 넘는 조회가 발생하자 자동으로 정지되었으며, 비밀번호 재설정을 실시하고 감독기관에 신고했습니다."
[instead]
en = "No monitoring service is offered in your region."
ja = "お住まいの地域では監視サービスをご提供しておりません。"
de = "In Ihrer Region bieten wir keinen Überwachungsdienst an."
ko = "거주 지역에서는 모니터링 서비스를 제공하지 않습니다."
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_buckets_reads_and_refusals() {
        let hits = [
            Hit {
                at_ms: 5,
                read: true,
                refused: false,
            },
            Hit {
                at_ms: 99,
                read: true,
                refused: false,
            },
            Hit {
                at_ms: 250,
                read: false,
                refused: true,
            },
        ];
        assert_eq!(chart(&hits, 100), vec![(2, 0), (0, 0), (0, 1)]);
    }

    fn args(out: &Path) -> DrillArgs {
        DrillArgs {
            subjects: 100,
            seed: 9,
            out: out.to_path_buf(),
            store_url: None,
            quota: 10,
            threads: 1,
            password_share: 50,
            card_share: 50,
            canaries: 0,
            erasures: 0,
            mail: MailMode::Smtp,
        }
    }

    #[test]
    fn plaintext_check_finds_a_customer_value_anywhere_under_out() {
        let tmp = tempfile::tempdir().unwrap();
        let a = args(tmp.path());
        let ids: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
        std::fs::create_dir_all(tmp.path().join("vault")).unwrap();
        std::fs::write(tmp.path().join("vault/data.db"), b"sealed bytes only").unwrap();
        assert!(plaintext_check(tmp.path(), &a, &ids).unwrap().ok);
        // A customer's e-mail address in a nested file fails the check, naming the file.
        let p = Person::new(a.seed, 37, a.password_share, a.card_share);
        std::fs::write(
            tmp.path().join("vault/data.db-wal"),
            format!("xx{}yy", p.email),
        )
        .unwrap();
        let c = plaintext_check(tmp.path(), &a, &ids).unwrap();
        assert!(!c.ok, "{}", c.detail);
        assert!(c.detail.contains("data.db-wal"), "{}", c.detail);
    }

    /// The sink over real SMTP from kura's own transport: counts per recipient and script,
    /// and the notice checks fail on a person mailed twice.
    #[test]
    fn sink_counts_smtp_deliveries_and_catches_a_second_notice() {
        let sink = Sink::start().unwrap();
        let config: kura_mail::MailConfig = toml::from_str(&format!(
            "transport = \"smtp\"\nsmtp_port = {}\nfrom = \"t <t@example.org>\"",
            sink.port
        ))
        .unwrap();
        let smtp = kura_mail::transport_from_config(&config).unwrap();
        let mail = |to: &str, body: &str| {
            kura_mail::OutgoingMail::new(
                to.to_owned(),
                "Notice".to_owned(),
                zeroize::Zeroizing::new(body.to_owned()),
            )
        };
        sink.phase("notices");
        sink.watch("b@example.jp");
        smtp.send(&mail("a@example.org", "Dear customer")).unwrap();
        smtp.send(&mail("b@example.jp", "お客様へ kura_rv_0123456789abc"))
            .unwrap();
        let matrix = json!({"people": 2, "people_by_country": {"JP": [0, 1], "US": [0, 1]}});
        let plan = json!({"people": 2});
        let sent = json!({"sent": 2});
        let status = json!([{"counts": [
            {"state": "sent", "lang": "en", "country": "US", "people": 1},
            {"state": "sent", "lang": "ja", "country": "JP", "people": 1}]}]);
        let checks = check_notices(&matrix, &plan, &sent, &status, &sink);
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        assert_eq!(
            token(&sink.texts("b@example.jp")[0], "kura_rv_").as_deref(),
            Some("kura_rv_0123456789abc")
        );
        // A second notice to the same person: caught.
        smtp.send(&mail("a@example.org", "Dear customer")).unwrap();
        let checks = check_notices(&matrix, &plan, &sent, &status, &sink);
        let twice = checks
            .iter()
            .find(|c| c.name == "nobody notified twice")
            .unwrap();
        assert!(!twice.ok, "{twice:?}");
    }

    /// `--mail outbox`: the files kura's outbox transport writes are counted by recipient
    /// and removed; a file that is not a message is an error the checks see.
    #[test]
    fn outbox_sink_drains_kura_outbox_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outbox");
        let sink = Sink::outbox(&dir).unwrap();
        let config: kura_mail::MailConfig = toml::from_str(&format!(
            "outbox_dir = {}",
            toml::Value::String(dir.display().to_string())
        ))
        .unwrap();
        let outbox = kura_mail::transport_from_config(&config).unwrap();
        sink.phase("notices");
        sink.watch("k@example.kr");
        for to in ["a@example.org", "k@example.kr"] {
            outbox
                .send(&kura_mail::OutgoingMail::new(
                    to.to_owned(),
                    "Notice".to_owned(),
                    zeroize::Zeroizing::new("안내 kura_rv_abcdefghijklmnop".to_owned()),
                ))
                .unwrap();
        }
        sink.phase("after");
        let got = sink.counts("notices");
        assert_eq!(got.messages, 2);
        assert_eq!(got.per_recipient.get("k@example.kr"), Some(&1));
        assert_eq!(got.per_script.get("ko"), Some(&2));
        assert_eq!(sink.texts("k@example.kr").len(), 1);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "drained");
        assert_eq!(sink.errors(), 0);
        std::fs::write(dir.join("junk.eml"), b"not a message").unwrap();
        assert_eq!(sink.errors(), 1);
    }

    #[test]
    fn token_is_read_from_a_mail() {
        assert_eq!(
            token("Your code: kura_rv_AbC-12_xyzxyz\nThanks", "kura_rv_").as_deref(),
            Some("kura_rv_AbC-12_xyzxyz")
        );
        assert_eq!(token("kura_rv_ab", "kura_rv_"), None);
    }
}
