//! `kura org`, `kura principal` and `kura report`: organizations, principals and
//! supervision reports, from the command line. The
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

/// Unix seconds from `1700000000` or an RFC 3339 time.
pub(crate) fn parse_time(s: &str) -> Result<i64> {
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
