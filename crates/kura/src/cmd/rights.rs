//! `kura rights`, `kura receipt` and `kura retention`: data-subject requests opened by an
//! operator on a person's behalf, their deadlines and answers, signed erasure receipts and
//! retention runs. The rules are `kura_admin::rights` and `kura_admin::retention`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use kura_admin::AdminError;
use kura_admin::rights::{self, RequestView, Service};
use kura_obligations::rights::RequestKind;
use kura_vault::{Access, Identifier, Uuid};
use zeroize::Zeroizing;

use crate::cli::VaultArgs;
use crate::config::{Resolved, resolve};
use crate::open;

/// Who the command line acts as, in the access log.
const CLI: &str = "operator-cli";

#[derive(Debug, Subcommand)]
pub enum RightsCommand {
    /// Open a request on a person's behalf: a one-time code goes to the address on file.
    Open {
        #[command(flatten)]
        vault: VaultArgs,
        /// The collection.
        #[arg(long, default_value = "accounts")]
        collection: String,
        /// access, rectification, erasure or restriction.
        #[arg(long)]
        kind: String,
        /// The subject's id.
        #[arg(long, conflicts_with_all = ["email", "login_id"])]
        subject: Option<String>,
        /// An e-mail address the person gave (only used to find where to send the code).
        #[arg(long, conflicts_with = "login_id")]
        email: Option<String>,
        /// A login id the person gave (likewise).
        #[arg(long)]
        login_id: Option<String>,
    },
    /// Redeem the code the person received and answer the request.
    Verify {
        #[command(flatten)]
        vault: VaultArgs,
        /// The collection.
        #[arg(long, default_value = "accounts")]
        collection: String,
        /// The code from the mail (`kura_rv_…`); read from standard input when absent.
        #[arg(long)]
        token: Option<String>,
        /// Rectification: the corrected fields as JSON (`{"name":"…"}`).
        #[arg(long)]
        fields: Option<String>,
        /// Write the export package (access) or the receipt (erasure) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Access: also mail the package to the address on file.
        #[arg(long)]
        mail_copy: bool,
    },
    /// Requests, with their deadlines and states.
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Only this state.
        #[arg(long)]
        state: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One request.
    Show {
        #[command(flatten)]
        vault: VaultArgs,
        /// The request id.
        id: String,
    },
    /// Extend a request's deadline (GDPR: within the first month; CCPA: once), telling the
    /// person the reasons.
    Extend {
        #[command(flatten)]
        vault: VaultArgs,
        /// The request id.
        id: String,
        /// The reasons.
        #[arg(long)]
        reason: String,
    },
    /// Deny a request with its reasons, telling the person.
    Deny {
        #[command(flatten)]
        vault: VaultArgs,
        /// The request id.
        id: String,
        /// The reasons.
        #[arg(long)]
        reason: String,
    },
    /// Write the signed receipt of a completed erasure.
    Receipt {
        #[command(flatten)]
        vault: VaultArgs,
        /// The request id.
        id: String,
        /// Output file (standard output when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Lift the restriction of a subject's processing (the person is told first).
    Unrestrict {
        #[command(flatten)]
        vault: VaultArgs,
        /// The collection.
        #[arg(long, default_value = "accounts")]
        collection: String,
        /// The subject's id.
        #[arg(long)]
        subject: String,
        /// The reasons (told to the person).
        #[arg(long)]
        reason: String,
    },
    /// Finish erasures and answers interrupted by a crash.
    Resume {
        #[command(flatten)]
        vault: VaultArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Verify a signed erasure receipt offline with the access log's verifier key (`kura
    /// audit key`). Exit status 0 when it verifies, 1 when not.
    Verify {
        /// The receipt file.
        file: PathBuf,
        /// The verifier key (`kura/<vault id>+<key id>+<key>`), or a file holding it.
        #[arg(long)]
        vkey: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Dry run: who would be asked to reconfirm and who erased, per country.
    Plan {
        #[command(flatten)]
        vault: VaultArgs,
        /// Only this rule (default: every `[[retention]]` rule).
        #[arg(long)]
        rule: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask the inactive to reconfirm (once per cycle), erase — each with a receipt — those
    /// who did not in time. Safe to run again after a crash.
    Run {
        #[command(flatten)]
        vault: VaultArgs,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// At most this many reconfirmation mails per second.
        #[arg(long)]
        rate: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn fail(e: AdminError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e, e.code())
}

/// Opens the vault and runs `f` with the rights service (receipts proven against
/// checkpoints this process signs).
fn with_service<T>(r: &Resolved, f: impl FnOnce(&Service) -> Result<T>) -> Result<T> {
    let opened = open::vault(r)?;
    let seed = opened
        .keys
        .derive(kura_crypto::KeyPurpose::AuditSigning)
        .context("deriving the audit signing key")?;
    let integrator = std::sync::Arc::new(kura_audit::Integrator::new(
        opened.store.clone(),
        seed.expose(),
        kura_audit::IntegratorConfig::default(),
    )?);
    drop(seed);
    let mailer = open::mailer(r, &opened)?;
    let svc = open::rights_service(r, &opened, integrator, mailer)?;
    let out = f(&svc);
    opened.appender.shutdown();
    out
}

fn print_view(v: &RequestView) {
    let when = |ms: i64| kura_admin::receipt::utc_date(u64::try_from(ms).unwrap_or(0));
    println!(
        "{}  {:<13} {:<22} due {}{}{}  ({}, {})",
        v.id,
        v.kind,
        v.state,
        when(v.due_at_ms),
        if v.soft { " (target)" } else { "" },
        if v.overdue { "  OVERDUE" } else { "" },
        v.regime.as_deref().unwrap_or("-"),
        v.channel
    );
}

pub fn run(cmd: RightsCommand) -> Result<ExitCode> {
    match cmd {
        RightsCommand::Open {
            vault,
            collection,
            kind,
            subject,
            email,
            login_id,
        } => {
            let kind = RequestKind::parse(&kind)
                .context("--kind is one of access, rectification, erasure, restriction")?;
            let who = match (subject, email, login_id) {
                (Some(s), None, None) => Identifier::Subject(
                    Uuid::parse_str(&s).context("--subject is not a subject id")?,
                ),
                (None, Some(e), None) => Identifier::Email(Zeroizing::new(e)),
                (None, None, Some(l)) => Identifier::LoginId(Zeroizing::new(l)),
                _ => anyhow::bail!("name the person with one of --subject, --email, --login-id"),
            };
            let r = resolve(&vault)?;
            let id = with_service(&r, |svc| {
                rights::open(
                    &svc.env(),
                    &Access::operator(CLI, rights::PURPOSE),
                    &collection,
                    kind,
                    &who,
                    "operator",
                )
                .map_err(fail)
            })?;
            println!(
                "request {id} opened; a one-time code goes to the address on file, if the person is known"
            );
            Ok(ExitCode::SUCCESS)
        }
        RightsCommand::Verify {
            vault,
            collection,
            token,
            fields,
            out,
            mail_copy,
        } => {
            let token = Zeroizing::new(match token {
                Some(t) => t,
                None => {
                    let mut s = String::new();
                    std::io::stdin().read_line(&mut s)?;
                    s.trim().to_owned()
                }
            });
            let changes: Option<BTreeMap<String, Option<String>>> = match fields {
                Some(j) => Some(
                    serde_json::from_str(&j).context("--fields is not a JSON object of strings")?,
                ),
                None => None,
            };
            let r = resolve(&vault)?;
            let v = with_service(&r, |svc| {
                rights::verify(
                    &svc.env(),
                    &Access::operator(CLI, rights::PURPOSE),
                    &collection,
                    &token,
                    changes.as_ref(),
                    mail_copy,
                )
                .map_err(fail)
            })?;
            print_view(&v.request);
            let body = match (&v.export, &v.receipt) {
                (Some(e), _) => Some(serde_json::to_vec_pretty(e)?),
                (None, Some(r)) => Some(r.clone()),
                _ => None,
            };
            if let (Some(b), Some(path)) = (body, out) {
                std::fs::write(&path, b).with_context(|| format!("writing {}", path.display()))?;
                println!("written to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        RightsCommand::List { vault, state, json } => {
            let r = resolve(&vault)?;
            let all = with_service(&r, |svc| {
                let mut all = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let page = rights::list(&svc.env(), state.as_deref(), after.as_deref(), 1000)
                        .map_err(fail)?;
                    let Some(last) = page.last() else { break };
                    after = Some(last.id.clone());
                    all.extend(page);
                }
                Ok(all)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for v in &all {
                    print_view(v);
                }
                let overdue = all.iter().filter(|v| v.overdue).count();
                println!("{} requests, {overdue} overdue", all.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        RightsCommand::Show { vault, id } => {
            let r = resolve(&vault)?;
            let v = with_service(&r, |svc| rights::show(&svc.env(), &id).map_err(fail))?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        RightsCommand::Extend { vault, id, reason } => {
            let r = resolve(&vault)?;
            let v = with_service(&r, |svc| {
                rights::extend(&svc.env(), CLI, &id, &reason).map_err(fail)
            })?;
            print_view(&v);
            Ok(ExitCode::SUCCESS)
        }
        RightsCommand::Deny { vault, id, reason } => {
            let r = resolve(&vault)?;
            let v = with_service(&r, |svc| {
                rights::deny(&svc.env(), CLI, &id, &reason).map_err(fail)
            })?;
            print_view(&v);
            Ok(ExitCode::SUCCESS)
        }
        RightsCommand::Receipt { vault, id, out } => {
            let r = resolve(&vault)?;
            let file = with_service(&r, |svc| rights::receipt_of(&svc.env(), &id).map_err(fail))?;
            match out {
                Some(p) => {
                    std::fs::write(&p, file).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{}", String::from_utf8_lossy(&file)),
            }
            Ok(ExitCode::SUCCESS)
        }
        RightsCommand::Unrestrict {
            vault,
            collection,
            subject,
            reason,
        } => {
            let subject = Uuid::parse_str(&subject).context("--subject is not a subject id")?;
            let r = resolve(&vault)?;
            with_service(&r, |svc| {
                rights::lift_restriction(&svc.env(), CLI, &collection, &subject, &reason)
                    .map_err(fail)
            })?;
            println!("restriction of {subject} lifted; the person was told");
            Ok(ExitCode::SUCCESS)
        }
        RightsCommand::Resume { vault } => {
            let r = resolve(&vault)?;
            let n = with_service(&r, |svc| rights::resume(&svc.env(), CLI).map_err(fail))?;
            println!("{n} requests finished");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_receipt(cmd: ReceiptCommand) -> Result<ExitCode> {
    match cmd {
        ReceiptCommand::Verify { file, vkey, json } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let vkey = match std::fs::read_to_string(&vkey) {
                Ok(s) => s.trim().to_owned(),
                Err(_) => vkey,
            };
            let report = kura_admin::receipt::verify(&bytes, &vkey);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.ok {
                println!(
                    "receipt verifies: request {}, subject {}, erasure event {} in the log at size {}",
                    report.request.as_deref().unwrap_or("?"),
                    report.subject.as_deref().unwrap_or("?"),
                    report.event_index.unwrap_or(0),
                    report.tree_size
                );
            } else {
                for p in &report.problems {
                    eprintln!("{}: {}", p.at, p.what);
                }
                eprintln!("receipt does NOT verify");
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn rules_named(svc: &Service, name: Option<&str>) -> Result<Vec<kura_admin::retention::Rule>> {
    let rules: Vec<_> = svc
        .retention
        .iter()
        .filter(|r| name.is_none_or(|n| r.name == n))
        .cloned()
        .collect();
    if rules.is_empty() {
        match name {
            Some(n) => anyhow::bail!("no [[retention]] rule is named `{n}`"),
            None => anyhow::bail!("no [[retention]] rule is configured"),
        }
    }
    Ok(rules)
}

pub fn run_retention(cmd: RetentionCommand) -> Result<ExitCode> {
    match cmd {
        RetentionCommand::Plan { vault, rule, json } => {
            let r = resolve(&vault)?;
            let plans = with_service(&r, |svc| {
                rules_named(svc, rule.as_deref())?
                    .iter()
                    .map(|rule| kura_admin::retention::plan(&svc.env(), rule).map_err(fail))
                    .collect::<Result<Vec<_>>>()
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plans)?);
                return Ok(ExitCode::SUCCESS);
            }
            for p in &plans {
                println!(
                    "rule {} on {} (unused {} days, {} days to reconfirm)",
                    p.rule.name, p.rule.collection, p.rule.inactive_days, p.rule.confirm_days
                );
                println!(
                    "{:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                    "COUNTRY", "SUBJECTS", "ACTIVE", "NEW", "ASK", "PENDING", "ERASE"
                );
                let row = |c: &str, n: &kura_admin::retention::Counts| {
                    println!(
                        "{:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                        c, n.subjects, n.active, n.unstamped, n.ask, n.pending, n.erase
                    );
                };
                for (c, n) in &p.countries {
                    row(c, n);
                }
                row("total", &p.total);
            }
            Ok(ExitCode::SUCCESS)
        }
        RetentionCommand::Run {
            vault,
            rule,
            rate,
            json,
        } => {
            let r = resolve(&vault)?;
            let reports = with_service(&r, |svc| {
                let mut out = Vec::new();
                for rule in rules_named(svc, rule.as_deref())? {
                    let bar = indicatif::ProgressBar::new_spinner();
                    if json {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                    }
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} {msg}  {elapsed}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    let report = kura_admin::retention::run(
                        &svc.env(),
                        &rule,
                        CLI,
                        rate,
                        &mut |seen, erased| {
                            bar.set_message(format!(
                                "{}: {seen} subjects looked at, {erased} erased",
                                rule.name
                            ));
                            bar.tick();
                        },
                    )
                    .map_err(fail)?;
                    bar.finish_and_clear();
                    out.push((rule.name.clone(), report));
                }
                Ok(out)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                for (name, rep) in &reports {
                    println!(
                        "rule {name}: {} clocks started, {} asked to reconfirm ({} without an address), {} erased with receipts",
                        rep.stamped, rep.asked, rep.no_address, rep.erased
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
