//! `kura org`, `kura principal`, `kura incident` and `kura report`: organizations,
//! principals, containment incidents and supervision reports, from the command line. The
//! rules are `kura_admin::directory`'s, the same as over HTTP.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use kura_admin::directory::{self, NewOrganization, NewPrincipal, SecurityOfficer};
use kura_admin::report;

use crate::cli::VaultArgs;
use crate::config::resolve;
use crate::open;

/// Who the command line acts as, in the access log.
const CLI: &str = "operator-cli";

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Register an organization: the data holder, or a processor supervised by one. A
    /// security officer (name and contact) is required.
    Create {
        #[command(flatten)]
        vault: VaultArgs,
        /// Short id (a-z, 0-9, `-`).
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// `holder` or `processor`.
        #[arg(long, default_value = "holder")]
        role: String,
        /// For a processor: the holder that supervises it.
        #[arg(long)]
        supervisor: Option<String>,
        /// The security officer's name.
        #[arg(long)]
        officer_name: String,
        /// The security officer's e-mail address or phone number.
        #[arg(long)]
        officer_contact: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List organizations.
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one organization and its principals.
    Show {
        #[command(flatten)]
        vault: VaultArgs,
        /// Organization id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal and print its API key (once): `{"id":"...","api_key":"..."}` with
    /// --json.
    Create {
        #[command(flatten)]
        vault: VaultArgs,
        /// Organization id.
        #[arg(long)]
        org: String,
        /// Name, unique within the organization.
        #[arg(long)]
        name: String,
        /// `service`, `processor`, `operator` or `self`.
        #[arg(long, default_value = "service")]
        kind: String,
        /// For `self`: the subject's id.
        #[arg(long)]
        subject: Option<String>,
        /// Policy file (JSON or TOML; `.toml` is read as TOML). Repeat for several.
        #[arg(long)]
        policy: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List principals (of one organization with --org).
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Organization id.
        #[arg(long)]
        org: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one principal (key prefixes only).
    Show {
        #[command(flatten)]
        vault: VaultArgs,
        /// Principal id.
        id: String,
    },
    /// Replace a principal's policies (effective at its next request).
    Update {
        #[command(flatten)]
        vault: VaultArgs,
        /// Principal id.
        id: String,
        /// Policy file (JSON or TOML). Repeat for several; the set replaces the old one.
        #[arg(long)]
        policy: Vec<PathBuf>,
    },
    /// Issue a new key and revoke the others; prints the new key once.
    Rotate {
        #[command(flatten)]
        vault: VaultArgs,
        /// Principal id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one key (by prefix) or, without --key, all keys of a principal.
    Revoke {
        #[command(flatten)]
        vault: VaultArgs,
        /// Principal id.
        id: String,
        /// The key's public prefix (`kura_xxxxxxxx`).
        #[arg(long)]
        key: Option<String>,
    },
    /// Suspend a principal (every request refused until reinstated).
    Suspend {
        #[command(flatten)]
        vault: VaultArgs,
        /// Principal id.
        id: String,
    },
    /// Reinstate a suspended principal (containment starts it on an empty window).
    Reinstate {
        #[command(flatten)]
        vault: VaultArgs,
        /// Principal id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// List containment incidents, newest first.
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The exposure matrix: how many people, and how many of each category (names,
    /// addresses, e-mail addresses, birth dates, phones, cards, passwords), confirmed by the
    /// access log and potential by vector, per country — computed at the log's current size.
    Scope {
        #[command(flatten)]
        vault: VaultArgs,
        /// A containment incident: its principal is the suspect and its window the window
        /// (flags below override).
        id: Option<String>,
        /// A suspect principal (repeat for several).
        #[arg(long = "suspect")]
        suspects: Vec<String>,
        /// How the data left: stolen_key, processor, db_dump, backup, insider, other.
        #[arg(long, default_value = "stolen_key")]
        vector: String,
        /// For db_dump or backup: the key store or key file left with the data.
        #[arg(long)]
        keys_exposed: bool,
        /// Window start: unix seconds or RFC 3339 (default: the incident's, or the beginning).
        #[arg(long)]
        from: Option<String>,
        /// Window end: unix seconds or RFC 3339 (default: the incident's, or now).
        #[arg(long)]
        to: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Supervision report of an organization: per principal, subjects obtained, field
    /// categories per purpose, denied attempts, containment events.
    Org {
        #[command(flatten)]
        vault: VaultArgs,
        /// Organization id.
        org: String,
        /// Period start: unix seconds or RFC 3339 (default: 30 days ago).
        #[arg(long)]
        from: Option<String>,
        /// Period end: unix seconds or RFC 3339 (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
    },
}

/// `{"id":"...","api_key":"..."}`, in that order (the documented shape).
fn issued_json(key: &directory::IssuedKey) -> String {
    // `IssuedKey` serializes its fields in declaration order: id, then api_key.
    serde_json::to_string(key).unwrap_or_default()
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn run_org(cmd: OrgCommand) -> Result<ExitCode> {
    match cmd {
        OrgCommand::Create {
            vault,
            id,
            name,
            role,
            supervisor,
            officer_name,
            officer_contact,
            json,
        } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let org = directory::create_org(
                &*d,
                &crate::open::SystemClock,
                CLI,
                NewOrganization {
                    id,
                    name,
                    role,
                    supervisor,
                    security_officer: SecurityOfficer {
                        name: officer_name,
                        contact: officer_contact,
                    },
                },
            )
            .map_err(|e| anyhow::anyhow!("{} ({})", e, e.code()))?;
            if json {
                print_json(&directory::OrganizationView::from(org))?;
            } else {
                println!("organization `{}` registered", org.id);
            }
        }
        OrgCommand::List { vault, json } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let orgs: Vec<directory::OrganizationView> =
                d.organizations()?.into_iter().map(Into::into).collect();
            if json {
                print_json(&orgs)?;
            } else {
                for o in orgs {
                    println!(
                        "{}\t{}\t{}\tofficer: {} <{}>",
                        o.id, o.role, o.name, o.security_officer.name, o.security_officer.contact
                    );
                }
            }
        }
        OrgCommand::Show { vault, id, json } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let Some(o) = d.organization(&id)? else {
                bail!("no organization `{id}`");
            };
            let principals = d
                .principals(Some(&id))?
                .into_iter()
                .map(|p| directory::principal_view(&*d, p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let view = directory::OrganizationView::from(o);
            if json {
                print_json(&serde_json::json!({"organization": view, "principals": principals}))?;
            } else {
                println!("{} — {} ({})", view.id, view.name, view.role);
                if let Some(s) = &view.supervisor {
                    println!("supervised by: {s}");
                }
                println!(
                    "security officer: {} <{}>",
                    view.security_officer.name, view.security_officer.contact
                );
                for p in principals {
                    println!(
                        "  principal {} {} ({}){}",
                        p.id,
                        p.name,
                        p.kind,
                        if p.suspended_at.is_some() {
                            " SUSPENDED"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_policy(path: &PathBuf) -> Result<kura_policy::PolicySpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy file {}", path.display()))?;
    let spec = if path.extension().is_some_and(|e| e == "toml") {
        kura_policy::PolicySpec::from_toml(&text)
    } else {
        kura_policy::PolicySpec::from_json(&text)
    };
    spec.with_context(|| format!("policy file {}", path.display()))
}

pub fn run_principal(cmd: PrincipalCommand) -> Result<ExitCode> {
    let fail = |e: directory::AdminError| anyhow::anyhow!("{} ({})", e, e.code());
    match cmd {
        PrincipalCommand::Create {
            vault,
            org,
            name,
            kind,
            subject,
            policy,
            json,
        } => {
            let r = resolve(&vault)?;
            let schema = r.config.schema()?;
            let policies = policy.iter().map(read_policy).collect::<Result<Vec<_>>>()?;
            let d = open::stores(&r)?.directory;
            let (_, key) = directory::create_principal(
                &*d,
                &crate::open::SystemClock,
                &schema,
                CLI,
                NewPrincipal {
                    org,
                    name,
                    kind,
                    subject,
                    policies,
                },
            )
            .map_err(fail)?;
            if json {
                println!("{}", issued_json(&key));
            } else {
                println!("principal {} created", key.id);
                println!("API key (shown once, stored only as a hash):");
                println!("  {}", key.api_key);
            }
        }
        PrincipalCommand::List { vault, org, json } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let list = d
                .principals(org.as_deref())?
                .into_iter()
                .map(|p| directory::principal_view(&*d, p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            if json {
                print_json(&list)?;
            } else {
                for p in list {
                    println!(
                        "{}\t{}\t{}\t{}{}",
                        p.id,
                        p.org,
                        p.name,
                        p.kind,
                        if p.suspended_at.is_some() {
                            "\tSUSPENDED"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        PrincipalCommand::Show { vault, id } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let Some(p) = d.principal(&id)? else {
                bail!("no principal `{id}`");
            };
            print_json(&directory::principal_view(&*d, p).map_err(fail)?)?;
        }
        PrincipalCommand::Update { vault, id, policy } => {
            let r = resolve(&vault)?;
            let schema = r.config.schema()?;
            let policies = policy.iter().map(read_policy).collect::<Result<Vec<_>>>()?;
            let d = open::stores(&r)?.directory;
            directory::update_policies(&*d, &crate::open::SystemClock, &schema, CLI, &id, policies)
                .map_err(fail)?;
            println!("principal {id}: policies replaced");
        }
        PrincipalCommand::Rotate { vault, id, json } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let key =
                directory::rotate_key(&*d, &crate::open::SystemClock, CLI, &id).map_err(fail)?;
            if json {
                println!("{}", issued_json(&key));
            } else {
                println!(
                    "new API key for {} (older keys revoked; shown once):",
                    key.id
                );
                println!("  {}", key.api_key);
            }
        }
        PrincipalCommand::Revoke { vault, id, key } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let n =
                directory::revoke_keys(&*d, &crate::open::SystemClock, CLI, &id, key.as_deref())
                    .map_err(fail)?;
            println!("{n} key(s) revoked");
        }
        PrincipalCommand::Suspend { vault, id } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            directory::set_suspended(&*d, &crate::open::SystemClock, CLI, &id, Some("operator"))
                .map_err(fail)?;
            println!("principal {id} suspended");
        }
        PrincipalCommand::Reinstate { vault, id } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            directory::set_suspended(&*d, &crate::open::SystemClock, CLI, &id, None)
                .map_err(fail)?;
            println!("principal {id} reinstated");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_incident(cmd: IncidentCommand) -> Result<ExitCode> {
    match cmd {
        IncidentCommand::List { vault, json } => {
            let d = open::stores(&resolve(&vault)?)?.directory;
            let list = d.incidents()?;
            if json {
                let v: Vec<serde_json::Value> = list
                    .into_iter()
                    .map(|i| {
                        serde_json::json!({
                            "id": i.id, "opened_at": i.opened_at, "principal": i.principal,
                            "org": i.org, "trigger": i.trigger, "status": i.status,
                            "detail": serde_json::from_str::<serde_json::Value>(&i.body)
                                .unwrap_or(serde_json::Value::Null),
                        })
                    })
                    .collect();
                print_json(&v)?;
            } else {
                for i in list {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        i.id, i.opened_at, i.status, i.trigger, i.principal
                    );
                }
            }
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
        } => scope(&vault, id, suspects, &vector, keys_exposed, from, to, json)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `kura incident scope`.
#[allow(clippy::too_many_arguments)]
fn scope(
    vault: &VaultArgs,
    id: Option<String>,
    mut suspects: Vec<String>,
    vector: &str,
    keys_exposed: bool,
    from: Option<String>,
    to: Option<String>,
    json: bool,
) -> Result<()> {
    let r = resolve(vault)?;
    let schema = r.config.schema()?;
    let stores = open::stores(&r)?;
    let vector = kura_scope::Vector::parse(vector).with_context(|| {
        format!(
            "unknown vector `{vector}`: use stolen_key, processor, db_dump, backup, insider or other"
        )
    })?;
    let (mut from_ms, mut to_ms) = (0, u64::MAX);
    if let Some(id) = &id {
        let (principal, f, t) = kura_admin::scope::incident_scope(&*stores.directory, id)?;
        if suspects.is_empty() {
            suspects.push(principal);
        }
        (from_ms, to_ms) = (f, t);
    }
    if let Some(f) = from {
        from_ms = parse_time(&f)?.max(0) as u64 * 1000;
    }
    if let Some(t) = to {
        to_ms = parse_time(&t)?.max(0) as u64 * 1000 + 999;
    }
    let suspects: std::collections::BTreeSet<String> = suspects.into_iter().collect();
    let needs_suspects = matches!(
        vector,
        kura_scope::Vector::StolenKey | kura_scope::Vector::Processor | kura_scope::Vector::Insider
    );
    anyhow::ensure!(
        !needs_suspects || !suspects.is_empty(),
        "vector `{}` needs a suspect: give an incident id or --suspect PRINCIPAL",
        vector.as_str()
    );
    let grants = if matches!(
        vector,
        kura_scope::Vector::StolenKey | kura_scope::Vector::Processor
    ) {
        kura_admin::scope::grants_of(&*stores.directory, &schema, &suspects)?
    } else {
        Vec::new()
    };
    let size = stores.audit.audit_size()?;
    let bar = indicatif::ProgressBar::new(size);
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let matrix = kura_admin::scope::compute(
        &*stores.audit,
        &schema,
        kura_scope::Scope {
            from_ms,
            to_ms,
            suspects,
            vector,
            keys_exposed,
            grants,
        },
        size,
        &mut |stage, done, total| {
            bar.set_message(stage);
            if total > 0 {
                bar.set_length(total);
            }
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    let digest: String = matrix.digest().iter().map(|b| format!("{b:02x}")).collect();
    if json {
        let mut v: serde_json::Value = serde_json::from_str(&matrix.canonical_json())?;
        v["tree_size"] = size.into();
        v["digest"] = digest.into();
        print_json(&v)?;
        return Ok(());
    }
    println!(
        "Exposure at log size {size} (digest {digest}), vector {}:",
        matrix.vector
    );
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

/// Unix seconds from `1700000000` or an RFC 3339 time.
fn parse_time(s: &str) -> Result<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let t = humantime::parse_rfc3339_weak(s)
        .with_context(|| format!("`{s}` is neither unix seconds nor an RFC 3339 time"))?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0))
}

pub fn run_report(cmd: ReportCommand) -> Result<ExitCode> {
    match cmd {
        ReportCommand::Org {
            vault,
            org,
            from,
            to,
            json,
        } => {
            let r = resolve(&vault)?;
            let schema = r.config.schema()?;
            let open::Stores {
                audit,
                directory: d,
                ..
            } = open::stores(&r)?;
            let now = super::now_unix();
            let to = to
                .as_deref()
                .map(parse_time)
                .transpose()?
                .unwrap_or(now + 1);
            let from = from
                .as_deref()
                .map(parse_time)
                .transpose()?
                .unwrap_or(to - 30 * 24 * 3600);
            let rep = report::org_report(&*audit, &*d, &schema, &org, from, to)?;
            if json {
                print_json(&rep)?;
            } else {
                print!("{}", report::markdown(&rep));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
