//! `kura notify`: plan, send and follow the breach notices of an incident; import
//! remediation codes; match bounces; render the substitute public notice. The rules are
//! `kura_admin::notices`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use kura_admin::AdminError;
use kura_admin::notices::{self, Content, Env, SendOptions};
use kura_audit::Clock as _;

use crate::cli::VaultArgs;
use crate::config::{Resolved, resolve};
use crate::open;

/// Who the command line acts as, in the access log.
const CLI: &str = "operator-cli";

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Plan a campaign at the incident's latest matrix: counts per language, country,
    /// channel and template, and one preview per template (text and MIME).
    Plan {
        #[command(flatten)]
        vault: VaultArgs,
        /// The incident.
        incident: String,
        /// The campaign's texts, offers and options (TOML; see docs/operations.md).
        #[arg(long)]
        content: PathBuf,
        /// Write each preview as `<family>.<lang>.txt` and `.eml` into this directory.
        #[arg(long)]
        previews: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send (or continue) the incident's planned campaign through `[mail]` (the outbox by
    /// default). Safe to run again after a crash: nobody gets two notices, nobody is skipped.
    Send {
        #[command(flatten)]
        vault: VaultArgs,
        /// The incident.
        incident: String,
        /// A campaign id (default: the latest planned or unfinished one).
        #[arg(long)]
        campaign: Option<String>,
        /// At most this many messages per second.
        #[arg(long)]
        rate: Option<u32>,
        /// Stop after this many people (a trial run; run again to continue).
        #[arg(long)]
        limit: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The incident's campaigns and their delivery counts.
    Status {
        #[command(flatten)]
        vault: VaultArgs,
        /// The incident.
        incident: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mark notices as bounced from delivery-status notifications (.eml files).
    Bounces {
        #[command(flatten)]
        vault: VaultArgs,
        /// Files or directories of bounce messages.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Render the substitute public notice (one static HTML page per language).
    Public {
        #[command(flatten)]
        vault: VaultArgs,
        /// The incident.
        incident: String,
        /// Output directory (`notice.<lang>.html`).
        #[arg(long)]
        out: PathBuf,
        /// Languages (default: en, ja, de).
        #[arg(long = "lang")]
        langs: Vec<String>,
    },
    /// Import remediation codes (one per line, or the first CSV column) for a region.
    Codes {
        #[command(flatten)]
        vault: VaultArgs,
        /// Region: ISO 3166-1 alpha-2 (US, JP, ...).
        #[arg(long)]
        region: String,
        /// Provider name, as the campaign's offer names it.
        #[arg(long)]
        provider: String,
        /// The CSV or text file.
        file: PathBuf,
    },
}

fn fail(e: AdminError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e, e.code())
}

/// Opens the vault and runs `f` with the notices environment.
fn with_env<T>(r: &Resolved, f: impl FnOnce(&Env<'_>, &open::Opened) -> Result<T>) -> Result<T> {
    let opened = open::vault(r)?;
    let rules = super::incident::rules(&r.config)?;
    let templates =
        notices::load_templates(&rules, r.config.notices.templates_dir.as_deref()).map_err(fail)?;
    let mail = open::mail_config(r)?;
    let clock = open::SystemClock;
    let env = Env {
        vault: &opened.vault,
        notices: &*opened.notices,
        directory: &*opened.directory,
        credentials: &*opened.credentials,
        templates: &templates,
        rules: &rules,
        clock: &clock,
        from: &mail.from,
        by: CLI,
    };
    let out = f(&env, &opened);
    opened.appender.shutdown();
    out
}

pub fn run(cmd: NotifyCommand) -> Result<ExitCode> {
    match cmd {
        NotifyCommand::Plan {
            vault,
            incident,
            content,
            previews,
            json,
        } => {
            let text = std::fs::read_to_string(&content)
                .with_context(|| format!("reading {}", content.display()))?;
            let content = Content::from_toml(&text).map_err(fail)?;
            let r = resolve(&vault)?;
            let plan = with_env(&r, |env, _| {
                notices::plan(env, &incident, content).map_err(fail)
            })?;
            if let Some(dir) = &previews {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                for p in &plan.previews {
                    let stem = dir.join(format!("{}.{}", p.family, p.lang));
                    std::fs::write(stem.with_extension(format!("{}.txt", p.lang)), &p.text)?;
                    std::fs::write(stem.with_extension(format!("{}.eml", p.lang)), &p.mime)?;
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "campaign {} for incident {} at matrix v{}: {} people to notify ({} without a duty, not notified), {} flagged for a password reset",
                plan.campaign,
                plan.incident,
                plan.scope_version,
                plan.people,
                plan.not_required,
                plan.must_reset
            );
            println!(
                "{:<12} {:<5} {:<8} {:<8} {:>10}",
                "TEMPLATE", "LANG", "COUNTRY", "CHANNEL", "PEOPLE"
            );
            for c in &plan.counts {
                println!(
                    "{:<12} {:<5} {:<8} {:<8} {:>10}",
                    c.family, c.lang, c.country, c.channel, c.people
                );
            }
            for (region, need, have) in &plan.codes {
                let warn = if have < need {
                    "  (not enough codes)"
                } else {
                    ""
                };
                println!("remediation codes {region}: {need} needed, {have} available{warn}");
            }
            for p in &plan.previews {
                println!(
                    "\n--- preview {}.{} ---\nSubject: {}\n\n{}",
                    p.family, p.lang, p.subject, p.text
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Send {
            vault,
            incident,
            campaign,
            rate,
            limit,
            json,
        } => {
            let r = resolve(&vault)?;
            let mail = open::mail_config(&r)?;
            let transport = kura_mail::transport_from_config(&mail)
                .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
            let bar = indicatif::ProgressBar::new(0);
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} people  {per_sec}  eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let report = with_env(&r, |env, opened| {
                opened.vault.attach_mail(std::sync::Arc::from(
                    kura_mail::transport_from_config(&mail)
                        .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?,
                ));
                notices::send(
                    env,
                    &incident,
                    &*transport,
                    &SendOptions {
                        campaign,
                        rate,
                        limit,
                    },
                    &mut |done, total| {
                        bar.set_length(total);
                        bar.set_position(done);
                    },
                )
                .map_err(fail)
            })?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "campaign {}: {} sent, {} failed, {} without an address, {} erased since the plan, {} notified earlier, {} done before; {} flagged for a password reset, {} codes handed out{}",
                    report.campaign,
                    report.sent,
                    report.failed,
                    report.unreachable,
                    report.erased,
                    report.already_notified,
                    report.done_before,
                    report.must_reset,
                    report.codes,
                    if report.complete {
                        "; complete"
                    } else {
                        "; not complete: run again to continue"
                    }
                );
                if report.found_in_outbox + report.resent_after_crash > 0 {
                    println!(
                        "after an interruption: {} found already in the outbox, {} sent again with the same Message-ID",
                        report.found_in_outbox, report.resent_after_crash
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Status {
            vault,
            incident,
            json,
        } => {
            let s = open::stores(&resolve(&vault)?)?;
            let st = notices::status(&*s.notices, &*s.directory, &incident).map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
                return Ok(ExitCode::SUCCESS);
            }
            for c in &st {
                println!(
                    "campaign {} ({}, matrix v{}): {} people planned; {}; unreachable {}",
                    c.campaign,
                    c.status,
                    c.scope_version,
                    c.people,
                    c.states
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    c.unreachable
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Bounces { vault, paths } => {
            let s = open::stores(&resolve(&vault)?)?;
            let mut messages = Vec::new();
            for p in &paths {
                if p.is_dir() {
                    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                        .with_context(|| format!("reading {}", p.display()))?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.is_file())
                        .collect();
                    files.sort();
                    for f in files {
                        messages.push(std::fs::read(&f)?);
                    }
                } else {
                    messages.push(
                        std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
                    );
                }
            }
            let (matched, ignored) =
                notices::bounces(&*s.notices, &open::SystemClock, &messages).map_err(fail)?;
            println!(
                "{matched} notices marked bounced; {ignored} messages matched no sent notice or reported no failure"
            );
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Public {
            vault,
            incident,
            out,
            langs,
        } => {
            let r = resolve(&vault)?;
            let langs = if langs.is_empty() {
                vec!["en".to_owned(), "ja".to_owned(), "de".to_owned()]
            } else {
                langs
            };
            let pages = with_env(&r, |env, _| {
                notices::public_pages(env, &incident, &langs).map_err(fail)
            })?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for (lang, html) in pages {
                let f = out.join(format!("notice.{lang}.html"));
                std::fs::write(&f, html).with_context(|| format!("writing {}", f.display()))?;
                println!("{}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Codes {
            vault,
            region,
            provider,
            file,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let r = resolve(&vault)?;
            let opened = open::vault(&r)?;
            let (new, dup) = notices::import_codes(
                &opened.vault,
                &*opened.notices,
                &open::SystemClock,
                CLI,
                &region,
                &provider,
                &text,
            )
            .map_err(fail)?;
            println!("{new} codes imported for {region} ({provider}); {dup} already held");
            let _ = open::SystemClock.now_ms();
            Ok(ExitCode::SUCCESS)
        }
    }
}
