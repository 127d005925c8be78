//! `kura init` and `kura migrate`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use kura_server::auth::generate_api_key;

use crate::cli::VaultArgs;
use crate::config::{Location, resolve};
use crate::open;

/// Creates the vault and its first operator key; returns the key (shown once).
pub fn create_vault(args: &VaultArgs) -> Result<zeroize::Zeroizing<String>> {
    let r = resolve(args)?;
    let (store, _keys) = open::create(&r)?;
    let key = generate_api_key("operator", "operator", super::now_unix())
        .context("generating the operator key")?;
    store
        .insert_api_key(&key.record)
        .context("storing the operator key hash")?;
    Ok(key.secret)
}

pub fn run(args: &VaultArgs, json: bool) -> Result<ExitCode> {
    let r = resolve(args)?;
    let secret = create_vault(args)?;
    if json {
        println!("{}", serde_json::json!({"operator_key": secret.as_str()}));
    } else {
        let at = match &r.location {
            Location::Dir(d) => d.display().to_string(),
            Location::Postgres(_) => "PostgreSQL".to_owned(),
        };
        println!("Vault created in {at}.");
        println!(
            "Key file: {} (mode 0600; keep it apart from the data and back it up separately)",
            r.key_file()?.display()
        );
        println!();
        println!("Operator API key (shown once, stored only as a hash):");
        println!("  {}", secret.as_str());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn migrate(args: &VaultArgs) -> Result<ExitCode> {
    let r = resolve(args)?;
    let version = match &r.location {
        Location::Dir(d) => {
            kura_store::sqlite::SqliteStore::migrate(d, kura_store::sqlite::Durability::Normal)?
        }
        Location::Postgres(url) => kura_store::postgres::PostgresStore::migrate(url)?,
    };
    println!("store schema is at version {version}");
    Ok(ExitCode::SUCCESS)
}
