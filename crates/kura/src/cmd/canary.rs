//! `kura canary plant`: subjects that no legitimate caller ever reads. Any read or search hit
//! of one trips containment, like a crossed quota.
//!
//! A canary must not be told from a real subject by a caller: it is created through the
//! vault like any import (same id scheme, same fields, same sealing, recorded in the access
//! log as an import by the command line), its values are drawn at random from realistic
//! shapes for its country, and the list of canaries lives only in the key store. Counts
//! shown to operators leave canaries out. Use an e-mail domain you control
//! (`--email-domain`): mail arriving at a canary address means the data left the vault.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::cli::VaultArgs;
use crate::config::resolve;
use crate::open;

#[derive(Debug, Args)]
pub struct PlantArgs {
    #[command(flatten)]
    pub vault: VaultArgs,
    /// How many canaries to plant (1 to 100,000).
    #[arg(long)]
    pub count: usize,
    /// Collection (it must have the built-in accounts' fields).
    #[arg(long, default_value = "accounts")]
    pub collection: String,
    /// Domain of the canaries' e-mail addresses; use one whose mail you receive.
    #[arg(long, default_value = "example.net")]
    pub email_domain: String,
    /// Print `{"planted": N}` as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn plant(args: &PlantArgs) -> Result<ExitCode> {
    if args.count == 0 || args.count > 100_000 {
        bail!("--count must be between 1 and 100000");
    }
    let r = resolve(&args.vault)?;
    let opened = open::vault(&r)?;
    let ids = kura_admin::canary::plant(
        &opened.vault,
        &*opened.directory,
        &args.collection,
        args.count,
        &args.email_domain,
    )
    .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))
    .context("planting canaries")?;
    opened.appender.shutdown();
    if args.json {
        println!("{}", serde_json::json!({"planted": ids.len()}));
    } else {
        println!(
            "{} canaries planted in `{}`; a running server watches them within its refresh interval",
            ids.len(),
            args.collection
        );
    }
    Ok(ExitCode::SUCCESS)
}
