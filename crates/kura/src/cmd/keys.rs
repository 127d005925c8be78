//! `kura keys status|rotate|retire`: the key-encryption keys of the vault's provider.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use kura_admin::rotation::{Options, Progress, Rotator};
use kura_audit::Clock as _;

use crate::cli::VaultArgs;
use crate::config::resolve;
use crate::open;

/// `kura keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The provider's KEK versions and how many data keys each wraps.
    Status {
        #[command(flatten)]
        vault: VaultArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-wrap every data key under a new key-encryption key while servers keep serving;
    /// resumes an interrupted rotation. Every step is an access event.
    Rotate {
        #[command(flatten)]
        vault: VaultArgs,
        /// Destroy the old versions at the end if no key refers to them any more.
        #[arg(long)]
        retire: bool,
        /// Keys per step (each step is saved, so a crash resumes after it).
        #[arg(long, default_value_t = 1000)]
        page: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Destroy one old KEK version; refused while any data key is wrapped under it.
    Retire {
        #[command(flatten)]
        vault: VaultArgs,
        /// The KEK version to destroy.
        #[arg(long)]
        kek: u32,
    },
}

/// The rotation's view of an opened vault.
fn rotator<'a>(opened: &'a open::Opened, now_ms: &'a dyn Fn() -> u64) -> Rotator<'a> {
    Rotator {
        vault: &opened.vault,
        keys: &*opened.keys,
        store: &*opened.store,
        appender: &opened.appender,
        now_ms,
    }
}

pub fn run(cmd: KeysCommand) -> Result<ExitCode> {
    match cmd {
        KeysCommand::Status { vault, json } => {
            let r = resolve(&vault)?;
            let stores = open::stores(&r)?;
            let keys = open::keys(&r, stores.audit.vault_id()?)?;
            let v = keys.kek_versions()?;
            let counts = stores.audit.kek_version_counts()?;
            let rotation = stores.audit.mark(kura_admin::rotation::MARK)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "provider": keys.describe(),
                        "current": v.current,
                        "versions": v.all,
                        "data_keys": counts.iter().map(|(k, n)| serde_json::json!({"version": k, "count": n})).collect::<Vec<_>>(),
                        "rotation": rotation.map(|m| m.value),
                    })
                );
            } else {
                println!("provider: {}", keys.describe());
                println!("current KEK version: {}", v.current);
                for ver in &v.all {
                    let n = counts.iter().find(|(k, _)| k == ver).map_or(0, |(_, n)| *n);
                    println!("  version {ver}: {n} data keys");
                }
                for (ver, n) in counts.iter().filter(|(k, _)| !v.all.contains(k)) {
                    println!("  version {ver} (NOT HELD by the provider): {n} data keys");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rotate {
            vault,
            retire,
            page,
            json,
        } => {
            let r = resolve(&vault)?;
            let opened = open::vault(&r)?;
            let now = || open::SystemClock.now_ms();
            let rot = rotator(&opened, &now);
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} re-wrapping data keys {pos}/{len} [{elapsed_precise}, {per_sec}, eta {eta}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            if json {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let mut on_progress = |p: Progress| {
                bar.set_length(p.total.max(p.done));
                bar.set_position(p.done);
            };
            let report = rot
                .run(
                    &Options {
                        page,
                        retire,
                        ..Options::default()
                    },
                    &mut on_progress,
                )
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("key rotation stopped (run `kura keys rotate` again to resume)")?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                if report.resumed {
                    println!("resumed an interrupted rotation");
                }
                println!(
                    "every data key is wrapped under KEK version {} ({} re-wrapped now, {} erased meanwhile)",
                    report.target, report.rewrapped, report.raced
                );
                if report.unreadable > 0 {
                    println!(
                        "WARNING: {} data keys did not unwrap; no old version was retired",
                        report.unreadable
                    );
                }
                for v in &report.retired {
                    println!("KEK version {v} destroyed");
                }
                for v in &report.kept {
                    println!(
                        "KEK version {v} kept (destroy it with `kura keys retire --kek {v}` once backups under it expire)"
                    );
                }
            }
            Ok(if report.unreadable > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        KeysCommand::Retire {
            vault,
            kek: version,
        } => {
            let r = resolve(&vault)?;
            let opened = open::vault(&r)?;
            let now = || open::SystemClock.now_ms();
            let rot = rotator(&opened, &now);
            rot.retire(version).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("KEK version {version} destroyed");
            Ok(ExitCode::SUCCESS)
        }
    }
}
