//! `kura incident`: declare, list, show, update, close and reopen incidents; scope them
//! (a stored matrix version at a freshly signed checkpoint); export and verify their evidence
//! bundle. The rules are `kura_admin::incident`'s, the same as over HTTP.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use kura_admin::AdminError;
use kura_admin::incident::{self, At, IncidentChange, NewIncident, StampInput, Window};
use kura_audit::Clock as _;
use kura_crypto::KeyPurpose;

use crate::cli::VaultArgs;
use crate::config::{Resolved, resolve};
use crate::open;

/// Who the command line acts as, in the access log.
const CLI: &str = "operator-cli";

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Declare an incident.
    Declare {
        #[command(flatten)]
        vault: VaultArgs,
        /// Title.
        #[arg(long)]
        title: String,
        /// How the data left: stolen_key, processor, db_dump, backup, insider, other.
        #[arg(long, default_value = "other")]
        vector: String,
        /// A suspect principal (repeat for several).
        #[arg(long = "suspect")]
        suspects: Vec<String>,
        /// Window start: unix seconds or RFC 3339.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Window end: unix seconds or RFC 3339.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// The organization concerned.
        #[arg(long)]
        org: Option<String>,
        /// For db_dump or backup: the key store or key file left with the data.
        #[arg(long)]
        keys_exposed: bool,
        /// Why (default: the title).
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List incidents, newest first.
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One incident: its timestamps, timeline and matrix versions.
    Show {
        #[command(flatten)]
        vault: VaultArgs,
        /// Incident id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change an incident and set its timestamps, with a reason (every change is an entry
    /// of its timeline and of the access log).
    Update {
        #[command(flatten)]
        vault: VaultArgs,
        /// Incident id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New vector.
        #[arg(long)]
        vector: Option<String>,
        /// Suspects, replacing the list (repeat for several).
        #[arg(long = "suspect")]
        suspects: Vec<String>,
        /// Window start: unix seconds or RFC 3339.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Window end: unix seconds or RFC 3339.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// The organization concerned.
        #[arg(long)]
        org: Option<String>,
        /// Keys exposed with a dump or backup (`true` or `false`).
        #[arg(long)]
        keys_exposed: Option<bool>,
        /// The leak had (possibly) an unlawful purpose (`true` or `false`; default: any
        /// vector but `other`).
        #[arg(long)]
        unlawful_purpose: Option<bool>,
        /// Sensitive (special-category) data is involved (`true` or `false`).
        #[arg(long)]
        sensitive: Option<bool>,
        /// A timestamp: `NAME=TIME` or, for `aware`, `aware@ORG=TIME` (names: detected,
        /// aware, processor_reported, scope_determined, hold_start, hold_end, notice_sent,
        /// materiality_determined; TIME: unix seconds, RFC 3339 or `now`). Repeat for
        /// several.
        #[arg(long = "stamp")]
        stamps: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Close an incident.
    Close {
        #[command(flatten)]
        vault: VaultArgs,
        /// Incident id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Reopen a closed incident.
    Reopen {
        #[command(flatten)]
        vault: VaultArgs,
        /// Incident id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// The exposure matrix: how many people, and how many of each category (names,
    /// addresses, e-mail addresses, birth dates, phones, cards, passwords), confirmed by the
    /// access log and potential by vector, per country. With an incident id: a new stored
    /// version of its matrix, at a checkpoint signed now. Without: an ad-hoc scope from the
    /// flags (not stored; the run is still in the access log).
    Scope {
        #[command(flatten)]
        vault: VaultArgs,
        /// An incident (its vector, suspects and window; change them with `update`).
        id: Option<String>,
        /// Ad hoc: a suspect principal (repeat for several).
        #[arg(long = "suspect", conflicts_with = "id")]
        suspects: Vec<String>,
        /// Ad hoc: how the data left.
        #[arg(long, conflicts_with = "id")]
        vector: Option<String>,
        /// Ad hoc: the key store or key file left with a dump or backup.
        #[arg(long, conflicts_with = "id")]
        keys_exposed: bool,
        /// Ad hoc: window start, unix seconds or RFC 3339 (default: the beginning).
        #[arg(long, conflicts_with = "id")]
        from: Option<String>,
        /// Ad hoc: window end (default: now).
        #[arg(long, conflicts_with = "id")]
        to: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every report and notice the incident obliges under each regime, owed or not: recipient,
    /// deadline in the regulator's time zone and time left, state, and why (the register GDPR
    /// Art. 33(5) requires). Counts come from the latest matrix version.
    Obligations {
        #[command(flatten)]
        vault: VaultArgs,
        /// Incident id.
        id: String,
        /// As of this time (unix seconds or RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Also list what is not owed, with the reason.
        #[arg(long)]
        all: bool,
        /// Print JSON (every obligation, owed or not).
        #[arg(long)]
        json: bool,
    },
    /// The draft of an obligation's report (Markdown), filled with kura's figures and the
    /// items the officer wrote; `--set ITEM=TEXT` writes items first (with `--reason`).
    /// Lists the items still empty on stderr.
    Report {
        #[command(flatten)]
        vault: VaultArgs,
        /// Incident id.
        id: String,
        /// Obligation id, as `kura incident obligations` lists it (`jp-appi-final`,
        /// `eu-gdpr-art33/DE`).
        obligation: String,
        /// Language of the draft (`ja`, `en`, `de`; default: the template's first).
        #[arg(long)]
        lang: Option<String>,
        /// An item to write: `ITEM=TEXT` (repeat for several).
        #[arg(long = "set")]
        set: Vec<String>,
        /// Why the items are written (required with `--set`).
        #[arg(long)]
        reason: Option<String>,
        /// Write the draft here instead of stdout (a `.pdf` name writes a PDF, fonts
        /// embedded).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON (draft, items, missing).
        #[arg(long)]
        json: bool,
    },
    /// Record that an obligation's report was submitted: refused while a required item is
    /// empty; records the channel, the reference and the draft's digest.
    Submit {
        #[command(flatten)]
        vault: VaultArgs,
        /// Incident id.
        id: String,
        /// Obligation id.
        obligation: String,
        /// How it was sent (`PPC web form`, `e-mail to dpo@...`).
        #[arg(long)]
        channel: String,
        /// The recipient's reference (receipt number).
        #[arg(long)]
        reference: String,
        /// Language of the draft submitted.
        #[arg(long)]
        lang: Option<String>,
    },
    /// Write the incident's signed evidence bundle: timeline, every matrix version with its
    /// checkpoint, the leaves they rest on with inclusion proofs. No field value is in it.
    Export {
        #[command(flatten)]
        vault: VaultArgs,
        /// Incident id.
        id: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check an evidence bundle offline against the log's verifier key (`kura audit key`);
    /// names everything that is wrong. Needs no vault.
    Verify {
        /// The bundle.
        file: PathBuf,
        /// The log's verifier key.
        #[arg(long)]
        vkey: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The breach rules and the holder's facts of `[obligations]`.
pub(crate) fn rules(config: &kura_model::Config) -> Result<kura_admin::obligations::Rules> {
    let o = &config.obligations;
    Ok(kura_admin::obligations::Rules {
        regimes: kura_admin::obligations::load_regimes(o.rules_dir.as_deref()).map_err(fail)?,
        holder: kura_admin::obligations::Holder {
            established_in: o.established_in.clone(),
            public_company: o.public_company,
        },
        pdf_fonts: o.pdf_fonts.clone(),
    })
}

fn fail(e: AdminError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e, e.code())
}

fn window(from: Option<String>, to: Option<String>) -> Result<Option<Window>> {
    Ok(match (from, to) {
        (Some(f), Some(t)) => Some(Window {
            from_ms: super::directory::parse_time(&f)?.max(0) as u64 * 1000,
            to_ms: super::directory::parse_time(&t)?.max(0) as u64 * 1000 + 999,
        }),
        _ => None,
    })
}

fn stamp(s: &str) -> Result<StampInput> {
    let (name, time) = s
        .split_once('=')
        .with_context(|| format!("`--stamp {s}`: expected NAME=TIME"))?;
    let (name, org) = match name.split_once('@') {
        Some((n, o)) => (n, Some(o.to_owned())),
        None => (name, None),
    };
    let at_ms = if time == "now" {
        crate::open::SystemClock.now_ms()
    } else {
        super::directory::parse_time(time)?.max(0) as u64 * 1000
    };
    Ok(StampInput {
        name: name.to_owned(),
        org,
        at_ms,
    })
}

/// Integrates the log and signs a checkpoint now: what a stored matrix or a bundle rests on.
fn checkpoint_now(r: &Resolved, stores: &open::Stores) -> Result<(At, kura_tlog::NoteSigner)> {
    let keys = open::keys(r, stores.audit.vault_id()?)?;
    let seed = keys
        .derive(KeyPurpose::AuditSigning)
        .context("deriving the audit signing key")?;
    let integrator = kura_audit::Integrator::new(
        stores.audit.clone(),
        seed.expose(),
        kura_audit::IntegratorConfig::default(),
    )?;
    integrator.integrate_now(crate::open::SystemClock.now_ms())?;
    let signer = kura_tlog::NoteSigner::from_seed(integrator.origin(), seed.expose())?;
    let (tree_size, checkpoint) = stores
        .audit
        .latest_audit_checkpoint()?
        .context("the access log has no checkpoint")?;
    Ok((
        At {
            tree_size,
            checkpoint,
        },
        signer,
    ))
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn ms(t: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(t))
        .to_string()
}

fn print_incident(i: &incident::Incident, versions: &[incident::ScopeVersion]) {
    println!("incident {} [{}] {}", i.id, i.status, i.title);
    println!(
        "  vector {}, suspects: {}, trigger {}, opened {} by {}",
        i.vector,
        if i.suspects.is_empty() {
            "none".to_owned()
        } else {
            i.suspects.join(", ")
        },
        i.trigger,
        ms(i.opened_at_ms),
        i.opened_by
    );
    if let Some(w) = &i.window {
        println!(
            "  window {} .. {}",
            ms(w.from_ms),
            if w.to_ms == u64::MAX {
                "now".to_owned()
            } else {
                ms(w.to_ms)
            }
        );
    }
    for s in &i.stamps {
        let org = s
            .org
            .as_deref()
            .map(|o| format!("@{o}"))
            .unwrap_or_default();
        println!(
            "  {}{org}: {} (by {}: {})",
            s.name,
            ms(s.at_ms),
            s.by,
            s.reason
        );
    }
    println!("  timeline:");
    for e in &i.timeline {
        println!(
            "    {}. {} {} by {}: {} {}",
            e.seq,
            ms(e.at_ms),
            e.change,
            e.by,
            e.reason,
            e.detail
        );
    }
    for v in versions {
        println!(
            "  matrix v{} at log size {} by {} ({}): {} people, {} confirmed, digest {}",
            v.version,
            v.tree_size,
            v.by,
            ms(v.computed_at_ms.max(0) as u64),
            v.matrix["people"],
            v.matrix["people_confirmed"],
            v.digest
        );
    }
}

pub fn run(cmd: IncidentCommand) -> Result<ExitCode> {
    let clock = crate::open::SystemClock;
    match cmd {
        IncidentCommand::Declare {
            vault,
            title,
            vector,
            suspects,
            from,
            to,
            org,
            keys_exposed,
            reason,
            json,
        } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let i = incident::declare(
                &*d,
                &clock,
                CLI,
                NewIncident {
                    title,
                    vector: Some(vector),
                    suspects,
                    keys_exposed,
                    window: window(from, to)?,
                    org,
                    reason,
                },
            )
            .map_err(fail)?;
            if json {
                print_json(&i)?;
            } else {
                println!("incident {} declared", i.id);
            }
        }
        IncidentCommand::List { vault, json } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let list = incident::list(&*d).map_err(fail)?;
            if json {
                print_json(&list)?;
            } else {
                for i in list {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        i.id,
                        ms(i.opened_at_ms),
                        i.status,
                        i.trigger,
                        i.vector,
                        i.title
                    );
                }
            }
        }
        IncidentCommand::Show { vault, id, json } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let i = incident::show(&*d, &id).map_err(fail)?;
            let versions = incident::versions(&*d, &id).map_err(fail)?;
            if json {
                print_json(&serde_json::json!({"incident": i, "scopes": versions}))?;
            } else {
                print_incident(&i, &versions);
            }
        }
        IncidentCommand::Update {
            vault,
            id,
            reason,
            title,
            vector,
            suspects,
            from,
            to,
            org,
            keys_exposed,
            unlawful_purpose,
            sensitive,
            stamps,
            json,
        } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let change = IncidentChange {
                title,
                vector,
                suspects: (!suspects.is_empty()).then_some(suspects),
                keys_exposed,
                unlawful_purpose,
                sensitive,
                window: window(from, to)?,
                org,
                stamps: stamps.iter().map(|s| stamp(s)).collect::<Result<_>>()?,
                reason,
            };
            let i = incident::update(&*d, &clock, CLI, &id, change).map_err(fail)?;
            if json {
                print_json(&i)?;
            } else {
                println!("incident {id} updated (entry {})", i.timeline.len());
            }
        }
        IncidentCommand::Close { vault, id, reason } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            incident::set_closed(&*d, &clock, CLI, &id, &reason, false).map_err(fail)?;
            println!("incident {id} closed");
        }
        IncidentCommand::Reopen { vault, id, reason } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            incident::set_closed(&*d, &clock, CLI, &id, &reason, true).map_err(fail)?;
            println!("incident {id} reopened");
        }
        IncidentCommand::Scope {
            vault,
            id,
            suspects,
            vector,
            keys_exposed,
            from,
            to,
            json,
        } => {
            let r = resolve(&vault)?;
            let schema = r.config.schema()?;
            let stores = open::stores(&r)?;
            let (at, _) = checkpoint_now(&r, &stores)?;
            let bar = indicatif::ProgressBar::new(at.tree_size);
            if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let mut progress = |stage: &'static str, done: u64, total: u64| {
                bar.set_message(stage);
                if total > 0 {
                    bar.set_length(total);
                }
                bar.set_position(done);
            };
            let (matrix, version) = match id {
                Some(id) => {
                    let (v, m) = incident::scope(
                        &*stores.audit,
                        &*stores.directory,
                        &schema,
                        &clock,
                        CLI,
                        &id,
                        &at,
                        &mut progress,
                    )
                    .map_err(fail)?;
                    (m, Some(v.version))
                }
                None => {
                    let w = window(
                        Some(from.unwrap_or_else(|| "0".to_owned())),
                        Some(to.unwrap_or_else(|| super::now_unix().to_string())),
                    )?;
                    let m = kura_admin::scope::adhoc(
                        &*stores.audit,
                        &*stores.directory,
                        &schema,
                        &clock,
                        CLI,
                        &kura_admin::scope::AdHoc {
                            vector: vector.unwrap_or_else(|| "stolen_key".to_owned()),
                            suspects,
                            keys_exposed,
                            window: w.map_or((0, u64::MAX), |w| (w.from_ms, w.to_ms)),
                        },
                        at.tree_size,
                        &mut progress,
                    )
                    .map_err(fail)?;
                    (m, None)
                }
            };
            bar.finish_and_clear();
            print_matrix(&matrix, at.tree_size, version, json)?;
        }
        IncidentCommand::Obligations {
            vault,
            id,
            at,
            all,
            json,
        } => {
            let r = resolve(&vault)?;
            let rules = rules(&r.config)?;
            let d = open::stores(&r)?.directory;
            let now = match at {
                Some(t) => super::directory::parse_time(&t)?.max(0) as u64 * 1000,
                None => clock.now_ms(),
            };
            let o =
                kura_admin::obligations::of_incident(&*d, &id, &rules.regimes, &rules.holder, now)
                    .map_err(fail)?;
            if json {
                print_json(&o)?;
            } else {
                print_obligations(&o, all);
            }
        }
        IncidentCommand::Report {
            vault,
            id,
            obligation,
            lang,
            set,
            reason,
            out,
            json,
        } => {
            let r = resolve(&vault)?;
            let rules = rules(&r.config)?;
            let d = open::stores(&r)?.directory;
            if !set.is_empty() {
                let Some(reason) = reason else {
                    anyhow::bail!("--set needs --reason: every change to an incident says why");
                };
                let mut items = std::collections::BTreeMap::new();
                for kv in &set {
                    let (k, v) = kv
                        .split_once('=')
                        .with_context(|| format!("`--set {kv}`: expected ITEM=TEXT"))?;
                    items.insert(k.to_owned(), v.to_owned());
                }
                kura_admin::obligations::set_items(
                    &*d,
                    &clock,
                    CLI,
                    &id,
                    &obligation,
                    items,
                    &reason,
                    &rules,
                )
                .map_err(fail)?;
            }
            let draft = kura_admin::obligations::draft(
                &*d,
                &id,
                &obligation,
                lang.as_deref(),
                &rules,
                clock.now_ms(),
            )
            .map_err(fail)?;
            if json {
                print_json(&draft)?;
            } else if let Some(out) = out {
                let bytes = if kura_admin::pdf::is_pdf(&out) {
                    kura_admin::pdf::render(
                        &draft.markdown,
                        &format!("{obligation} — incident {id}"),
                        &rules.pdf_fonts,
                    )
                    .map_err(fail)?
                } else {
                    draft.markdown.clone().into_bytes()
                };
                std::fs::write(&out, &bytes)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                println!("draft of {obligation} written to {}", out.display());
            } else {
                print!("{}", draft.markdown);
            }
            if !draft.missing.is_empty() && !json {
                eprintln!(
                    "still to complete before submitting: {}",
                    draft.missing.join(", ")
                );
            }
        }
        IncidentCommand::Submit {
            vault,
            id,
            obligation,
            channel,
            reference,
            lang,
        } => {
            let r = resolve(&vault)?;
            let rules = rules(&r.config)?;
            let d = open::stores(&r)?.directory;
            kura_admin::obligations::submit(
                &*d,
                &clock,
                CLI,
                &id,
                &obligation,
                &channel,
                &reference,
                lang.as_deref(),
                &rules,
            )
            .map_err(fail)?;
            println!("{obligation} recorded as submitted via {channel} ({reference})");
        }
        IncidentCommand::Export { vault, id, out } => {
            let r = resolve(&vault)?;
            let schema = r.config.schema()?;
            let stores = open::stores(&r)?;
            let (at, signer) = checkpoint_now(&r, &stores)?;
            let bundle = kura_admin::evidence::export(
                &*stores.audit,
                &*stores.directory,
                &schema,
                &clock,
                CLI,
                &id,
                &at,
                &signer,
            )
            .map_err(fail)?;
            std::fs::write(&out, &bundle)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "evidence bundle of incident {id} written to {} ({} bytes, log size {})",
                out.display(),
                bundle.len(),
                at.tree_size
            );
        }
        IncidentCommand::Verify { file, vkey, json } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let report = kura_admin::evidence::verify(&bytes, &vkey);
            if json {
                print_json(&report)?;
            } else if report.ok {
                println!(
                    "evidence bundle verified: incident {}, {} timeline entries, {} matrix versions, {} leaves proven at log size {}",
                    report.incident.as_deref().unwrap_or("?"),
                    report.timeline_entries,
                    report.scope_versions,
                    report.leaves,
                    report.tree_size
                );
            }
            if !report.ok {
                eprintln!("evidence bundle verification FAILED:");
                for p in &report.problems {
                    eprintln!("  {}: {}", p.at, p.what);
                }
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_matrix(
    matrix: &kura_scope::Matrix,
    size: u64,
    version: Option<u32>,
    json: bool,
) -> Result<()> {
    let digest: String = matrix.digest().iter().map(|b| format!("{b:02x}")).collect();
    if json {
        let mut v: serde_json::Value = serde_json::from_str(&matrix.canonical_json())?;
        v["tree_size"] = size.into();
        v["digest"] = digest.into();
        if let Some(n) = version {
            v["version"] = n.into();
        }
        print_json(&v)?;
        return Ok(());
    }
    match version {
        Some(n) => println!(
            "Exposure, version {n}, at log size {size} (digest {digest}), vector {}:",
            matrix.vector
        ),
        None => println!(
            "Exposure at log size {size} (digest {digest}), vector {}:",
            matrix.vector
        ),
    }
    println!(
        "  people affected: {} ({} confirmed by the access log, {} potential only)",
        matrix.people,
        matrix.people_confirmed,
        matrix.people - matrix.people_confirmed
    );
    if matrix.confirmed_not_held > 0 {
        println!(
            "  of the confirmed, {} erased since (no country on record)",
            matrix.confirmed_not_held
        );
    }
    if matrix.canaries_touched > 0 {
        println!(
            "  canaries returned to a suspect: {} (not counted as people)",
            matrix.canaries_touched
        );
    }
    for (org, n) in &matrix.organizations {
        println!("  confirmed exposed to principals of {org}: {n}");
    }
    // What a spokesperson says, category by category.
    let said = |c: &str| matrix.categories.get(c).map(|t| (t.confirmed, t.potential));
    for (c, what) in [
        ("name", "names"),
        ("postal_address", "postal addresses"),
        ("email", "e-mail addresses"),
        ("birth_date", "birth dates"),
        ("phone", "phone numbers"),
    ] {
        if let Some((confirmed, potential)) = said(c) {
            println!("  {what}: {confirmed} confirmed, {potential} more potentially");
        }
    }
    if let Some(t) = matrix.categories.get("payment_card") {
        println!(
            "  payment cards: {} full card numbers confirmed (detokenized), {} brand, last four and expiry only; {} more potentially",
            t.confirmed_by_mode.plain, t.confirmed_by_mode.masked, t.potential
        );
    }
    if let Some((confirmed, potential)) = said("credential") {
        println!(
            "  passwords: {confirmed} confirmed, {potential} potentially — kura keeps only Argon2id hashes, each sealed under its subject's key"
        );
    }
    println!("  category            confirmed  (plain / masked / token)   potential");
    for (category, t) in &matrix.categories {
        let m = &t.confirmed_by_mode;
        println!(
            "  {category:<18} {:>10}  ({} / {} / {}) {:>14}",
            t.confirmed, m.plain, m.masked, m.token, t.potential
        );
    }
    println!("  per country (confirmed / potential):");
    for (country, cats) in &matrix.countries {
        let cells: Vec<String> = cats
            .iter()
            .map(|(c, (a, b))| format!("{c} {a}/{b}"))
            .collect();
        println!("    {country}: {}", cells.join(", "));
    }
    Ok(())
}

fn left(ms: i64) -> String {
    let (sign, m) = if ms < 0 {
        ("overdue by ", -ms)
    } else {
        ("", ms)
    };
    let mins = m / 60_000;
    format!(
        "{sign}{}d {:02}h {:02}m",
        mins / 1440,
        (mins / 60) % 24,
        mins % 60
    )
}

fn print_obligations(o: &kura_admin::obligations::IncidentObligations, all: bool) {
    println!(
        "Obligations of incident {} (matrix v{}, clocks from {}):",
        o.incident, o.scope_version, o.aware_from
    );
    let mut owed: Vec<_> = o.obligations.iter().filter(|x| x.required).collect();
    owed.sort_by_key(|x| x.deadline_ms.unwrap_or(u64::MAX));
    for x in owed {
        let when = match (&x.deadline_local, x.time_left_ms) {
            (Some(d), Some(l)) => {
                format!("{d}{} ({})", if x.soft { " target" } else { "" }, left(l))
            }
            _ => "without undue delay".to_owned(),
        };
        println!("  [{}] {} — {}", x.state, x.id, x.title);
        println!("      to {}; by {when}", x.recipient);
        println!("      why: {}", x.reasoning.join("; "));
        if x.verify {
            println!("      (verify: a fact of this rule is marked for checking in its sources)");
        }
    }
    if all {
        for x in o.obligations.iter().filter(|x| !x.required) {
            println!(
                "  [not owed] {} — {}: {}",
                x.id,
                x.title,
                x.reasoning.join("; ")
            );
        }
    }
}
