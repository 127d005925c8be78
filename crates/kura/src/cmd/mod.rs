//! One module per subcommand.

mod audit;
pub mod bench;
pub mod bench_cards;
mod bench_keys;
mod bench_obligations;
mod bench_pg;
mod bench_policy;
mod bench_scope;
pub mod canary;
pub mod credentials;
pub mod directory;
pub mod doctor;
pub mod drill;
mod import;
pub mod incident;
mod init;
pub mod keys;
pub mod notify;
pub mod rights;
mod serve;
pub mod witness;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init {
            vault,
            owner,
            json,
            distribute,
            shards,
        } => init::run(&vault, owner, json, distribute.then_some(shards)),
        Command::Distribute { vault, shards } => init::distribute(&vault, shards),
        Command::BreakGlass {
            vault,
            org,
            reason,
            json,
        } => init::break_glass(&vault, &org, &reason, json),
        Command::Serve { vault, listen, dev } => serve::run(vault, listen, dev),
        Command::Import {
            vault,
            collection,
            purpose,
            file,
        } => import::run(&vault, &collection, &purpose, &file),
        Command::Migrate { vault } => init::migrate(&vault),
        Command::Bench(args) => bench::run(&args),
        Command::Audit { command } => audit::run(command),
        Command::Credentials { command } => credentials::run_credentials(command),
        Command::Passwords { command } => credentials::run_passwords(command),
        Command::Org { command } => directory::run_org(command),
        Command::Principal { command } => directory::run_principal(command),
        Command::Canary {
            command: crate::cli::CanaryCommand::Plant(args),
        } => canary::plant(&args),
        Command::Incident { command } => incident::run(command),
        Command::Notify { command } => notify::run(command),
        Command::Rights { command } => rights::run(command),
        Command::Receipt { command } => rights::run_receipt(command),
        Command::Retention { command } => rights::run_retention(command),
        Command::Report { command } => directory::run_report(command),
        Command::Witness { command } => witness::run(command),
        Command::Keys { command } => keys::run(command),
        Command::Doctor(args) => doctor::run(&args),
        Command::Drill(args) => drill::run(&args),
        Command::Scan(args) => {
            let outcome = kura_scan::run(&args, &mut std::io::stdout().lock())?;
            Ok(ExitCode::from(outcome.exit_code() as u8))
        }
    }
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
