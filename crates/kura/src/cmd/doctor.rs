//! `kura doctor` (issue 20), and the server's periodic posture check ([`spawn_daily`]).
//!
//! Gathers the facts the checks need — with `stat`, never by opening the keys, so a key
//! file kura would refuse to open (mode 0644) is still reported — reads the dependency list
//! (the binary's cargo-auditable section, else the list `build.rs` embedded from
//! `Cargo.lock`), opens the advisory database, and hands everything to `kura_posture`.
//! Each run is recorded in the access log as an `Action::Posture` event whose fields carry
//! the advisory revision, the counts per severity and the SHA-256 of the findings' JSON;
//! when the keys open, the CLI also signs a checkpoint covering it.
//!
//! Exit codes: 0 nothing at or above `--fail-on`, 1 something is, 2 error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use kura_audit::{AccessEvent, Action, Appender, AppenderConfig};
use kura_model::KeyProviderKind;
use kura_posture::checks::{DataFacts, Facts, KeyFileFacts, Limits, OrgFacts};
use kura_posture::{AdvisoryDb, Inventory, Report, Severity};
use kura_store::{AuditStore, DirectoryStore, DynStore};

use crate::cli::VaultArgs;
use crate::config::{Location, Resolved, resolve};
use crate::open::{self, SystemClock};

/// The dependency list `build.rs` wrote from the workspace's `Cargo.lock`: every package
/// reachable from `kura` along the lockfile's edges (an over-approximation; see build.rs).
const EMBEDDED_DEPS: &str = include_str!(concat!(env!("OUT_DIR"), "/deps.json"));

/// The actor of a posture event recorded from the command line.
const CLI: &str = "operator-cli";
/// The actor of a posture event recorded by the server's own check.
const SERVER: &str = "kura-serve";
/// The purpose recorded with a posture event.
const PURPOSE: &str = "posture";

/// `kura doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub vault: VaultArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// A RustSec advisory-db checkout (default: `[posture] advisories_dir`).
    #[arg(long, env = "KURA_POSTURE_ADVISORIES_DIR")]
    pub advisories: Option<PathBuf>,
    /// Check the dependencies of this binary (built with `cargo auditable build`) instead of
    /// the running one.
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this severity (critical, high, medium, low,
    /// info).
    #[arg(long, default_value = "high", value_parser = clap::value_parser!(SeverityArg))]
    pub fail_on: SeverityArg,
}

/// A severity as a command-line value.
#[derive(Debug, Clone, Copy)]
pub struct SeverityArg(pub Severity);

impl std::str::FromStr for SeverityArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(SeverityArg)
    }
}

impl clap::builder::ValueParserFactory for SeverityArg {
    type Parser = fn(&str) -> Result<SeverityArg, String>;
    fn value_parser() -> Self::Parser {
        |s| s.parse()
    }
}

/// The dependency list: `binary`'s cargo-auditable section when given (required then);
/// else the running binary's, when it carries one; else the embedded list.
fn inventory(binary: Option<&Path>) -> Result<Inventory> {
    if let Some(p) = binary {
        return Inventory::from_binary(p)?.with_context(|| {
            format!(
                "{} carries no cargo-auditable dependency list (build it with `cargo auditable build`)",
                p.display()
            )
        });
    }
    if let Ok(exe) = std::env::current_exe() {
        match Inventory::from_binary(&exe) {
            Ok(Some(inv)) => return Ok(inv),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "no cargo-auditable list in the running binary"),
        }
    }
    Ok(Inventory::from_embedded_json(EMBEDDED_DEPS)?)
}

#[cfg(unix)]
fn stat(p: &Path) -> Option<(u32, u64)> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let m = std::fs::metadata(p).ok()?;
    Some((m.permissions().mode() & 0o7777, m.dev()))
}

#[cfg(not(unix))]
fn stat(p: &Path) -> Option<(u32, u64)> {
    std::fs::metadata(p).ok().map(|_| (0o600, 0))
}

/// The facts of the configuration checks. Reads the store (organizations, marks) but no key.
fn facts(
    r: &Resolved,
    directory: Option<&dyn DirectoryStore>,
    audit: Option<&dyn AuditStore>,
    listen: SocketAddr,
    now_ms: u64,
) -> Facts {
    let key_file = match r.config.keys.provider {
        KeyProviderKind::File => r.key_file().ok().map(|p| {
            let st = stat(p);
            KeyFileFacts {
                path: p.display().to_string(),
                exists: p.exists(),
                mode: st.map(|s| s.0),
                device: st.map(|s| s.1),
            }
        }),
        _ => None,
    };
    let data = match &r.location {
        Location::Dir(d) => DataFacts::Dir {
            path: d.display().to_string(),
            device: stat(d).map(|s| s.1),
        },
        Location::Postgres(_) => DataFacts::Postgres,
    };
    let organizations = directory.and_then(|d| match d.organizations() {
        Ok(orgs) => Some(
            orgs.into_iter()
                .map(|o| OrgFacts {
                    id: o.id,
                    officer_name: o.officer_name,
                    officer_contact: o.officer_contact,
                })
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "posture: organizations could not be read");
            None
        }
    });
    let mark = |name: &str| {
        audit.and_then(|a| match a.mark(name) {
            Ok(m) => m.map(|m| m.at_ms),
            Err(e) => {
                tracing::warn!(error = %e, mark = name, "posture: mark could not be read");
                None
            }
        })
    };
    Facts {
        now_ms,
        key_file,
        data,
        listen,
        organizations,
        last_verified_ms: mark("audit.verified"),
        last_witnessed_ms: mark("audit.witnessed"),
        witness_configured: r.config.audit.checkpoint_dir.is_some()
            || !r.config.audit.witnesses.is_empty(),
        limits: Limits {
            verify_max_age_days: r.config.posture.verify_max_age_days,
            witness_max_age_hours: r.config.posture.witness_max_age_hours,
        },
    }
}

/// The access-log event recording `report`.
fn event(report: &Report, principal: &str) -> AccessEvent {
    AccessEvent::new(
        report.at_ms,
        principal,
        PURPOSE,
        Action::Posture,
        "",
        &format!("posture-{}", report.at_ms),
    )
    .with_fields(report.event_fields())
}

/// `kura doctor`.
pub fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let r = resolve(&args.vault)?;
    let inv = inventory(args.binary.as_deref())?;
    let dir = args
        .advisories
        .clone()
        .or_else(|| r.config.posture.advisories_dir.clone());
    let db = match &dir {
        Some(d) => Some(AdvisoryDb::open(d)?),
        None => None,
    };
    let stores = open::stores(&r)?;
    let now_ms = SystemClock::now_ms_u64();
    let facts = facts(
        &r,
        Some(&*stores.directory),
        Some(&*stores.audit),
        r.config.server.listen,
        now_ms,
    );
    let report = kura_posture::assemble(
        &facts,
        &inv,
        Ok(db.as_ref()),
        r.config.posture.advisories_max_age_days,
    );
    record_and_sign(&r, stores.audit.clone(), &report)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(if report.fails(args.fail_on.0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Appends the posture event and, when the keys open, signs a checkpoint over it (else the
/// next `kura serve` does).
fn record_and_sign(r: &Resolved, audit: Arc<dyn AuditStore>, report: &Report) -> Result<()> {
    let store: DynStore = audit.clone();
    let appender = Appender::start(store, AppenderConfig::default())
        .context("starting the access-log appender")?;
    let appended = appender.append(&event(report, CLI));
    appender.shutdown();
    let _durable = appended.context("recording the posture check in the access log")?;
    let signed = (|| -> Result<()> {
        let keys = open::keys(r, audit.vault_id()?)?;
        let seed = keys
            .derive(kura_crypto::KeyPurpose::AuditSigning)
            .context("deriving the audit signing key")?;
        let integrator = kura_audit::Integrator::new(
            audit.clone(),
            seed.expose(),
            kura_audit::IntegratorConfig::default(),
        )?;
        integrator.integrate_now(SystemClock::now_ms_u64())?;
        Ok(())
    })();
    if let Err(e) = signed {
        tracing::warn!(error = %format!("{e:#}"),
            "posture check recorded but not yet under a signed checkpoint (the next `kura serve` signs it)");
    }
    Ok(())
}

fn print_table(report: &Report) {
    let source = match report.inventory {
        kura_posture::finding::InventorySource::Auditable => "cargo-auditable section",
        kura_posture::finding::InventorySource::Embedded => {
            "list embedded at build time (Cargo.lock)"
        }
    };
    println!("dependencies: {} ({source})", report.dependencies);
    match &report.advisories_revision {
        Some(rev) => println!(
            "advisories:   {} advisories, revision {rev}, newest {} ({} days old)",
            report.advisories_count.unwrap_or(0),
            report.advisories_newest.as_deref().unwrap_or("-"),
            report
                .advisories_age_days
                .map_or("?".to_owned(), |d| d.to_string())
        ),
        None => println!("advisories:   none"),
    }
    println!();
    if report.findings.is_empty() {
        println!("no findings");
    } else {
        println!("{:<9} {:<26} TITLE / FIX", "SEVERITY", "CODE");
        for f in &report.findings {
            println!("{:<9} {:<26} {}", f.severity.as_str(), f.code, f.title);
            println!("{:<9} {:<26} fix: {}", "", "", f.fix);
        }
    }
    let c = &report.counts;
    println!();
    println!(
        "{} critical, {} high, {} medium, {} low, {} info; posture {}",
        c.critical,
        c.high,
        c.medium,
        c.low,
        c.info,
        report.posture.as_str()
    );
}

/// The server's posture check: once now (before the server listens), then every
/// `[posture] interval_hours` on a thread of its own. Each run is recorded in the access
/// log through the server's appender (the integrator signs it) and sets the metrics that
/// `/v1/health` and `/v1/metrics` show. `interval_hours = 0` turns it off.
///
/// # Errors
/// None today: a run's problems (unreadable advisory data, a failed append) are logged and
/// shown as findings, and the server starts regardless.
pub fn spawn_daily(
    r: &Resolved,
    opened: &open::Opened,
    listen: SocketAddr,
    metrics: Arc<kura_admin::metrics::Metrics>,
) -> Result<()> {
    let hours = r.config.posture.interval_hours;
    if hours == 0 {
        tracing::info!("posture checks are off ([posture] interval_hours = 0)");
        return Ok(());
    }
    let inv = match inventory(None) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "posture: no dependency list; checks not run");
            return Ok(());
        }
    };
    let r = r.clone();
    let directory = opened.directory.clone();
    let audit = opened.store.clone();
    let appender = opened.appender.clone();
    let check = move || {
        let db = r
            .config
            .posture
            .advisories_dir
            .as_deref()
            .map(AdvisoryDb::open);
        let now_ms = SystemClock::now_ms_u64();
        let facts = facts(&r, Some(&*directory), Some(&*audit), listen, now_ms);
        let report = kura_posture::assemble(
            &facts,
            &inv,
            db.as_ref().map(|d| d.as_ref()).transpose(),
            r.config.posture.advisories_max_age_days,
        );
        if let Err(e) = appender.append(&event(&report, SERVER)) {
            tracing::error!(error = %e, "posture check could not be recorded in the access log");
        }
        let c = report.counts;
        metrics.set_posture(report.at_ms / 1000, c.critical, c.high, c.medium, c.low);
        let codes: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Medium)
            .map(|f| f.code.as_str())
            .collect();
        if c.critical + c.high > 0 {
            tracing::warn!(target: "kura::alert", critical = c.critical, high = c.high,
                medium = c.medium, findings = ?codes, "posture check: run `kura doctor` for details");
        } else {
            tracing::info!(medium = c.medium, low = c.low, findings = ?codes, "posture check");
        }
    };
    check();
    let period = std::time::Duration::from_secs(hours.saturating_mul(3600));
    std::thread::Builder::new()
        .name("kura-posture".into())
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                check();
            }
        })
        .context("starting the posture check thread")?;
    Ok(())
}
