//! `kura audit key` and `kura audit verify`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use kura_crypto::KeyPurpose;

use crate::cli::{AuditCommand, VaultArgs};
use crate::config::resolve;
use crate::open;

fn verifier_key(args: &VaultArgs) -> Result<String> {
    let r = resolve(args)?;
    let store = open::store(&r)?;
    let keys = open::keys(&r, store.vault_id()?)?;
    let seed = keys
        .derive(KeyPurpose::AuditSigning)
        .context("deriving the audit signing key")?;
    Ok(kura_audit::verifier_key(&store.vault_id()?, seed.expose())?)
}

pub fn run(cmd: AuditCommand) -> Result<ExitCode> {
    match cmd {
        AuditCommand::Key { vault } => {
            println!("{}", verifier_key(&vault)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            vault,
            checkpoint,
            verifier_key: given,
            json,
        } => {
            let key = match given {
                Some(k) => k,
                None => verifier_key(&vault)?,
            };
            let r = resolve(&vault)?;
            let store = open::store(&r)?;
            let extra = match &checkpoint {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                ),
                None => None,
            };
            match kura_audit::verify(&*store, &key, extra.as_deref()) {
                Ok(report) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&report)?);
                    } else {
                        println!(
                            "access log verified: {} entries, {} checkpoints (latest at size {}), {} stored hashes checked, {} entries not yet under a checkpoint",
                            report.entries,
                            report.checkpoints,
                            report.latest_checkpoint_size,
                            report.stored_hashes_checked,
                            report.unsigned_tail
                        );
                        if let Some(n) = report.auditor_checkpoint_size {
                            println!("auditor's checkpoint at size {n} is consistent with the log");
                        }
                        println!("root: {}", report.root);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    let first = e.first_broken_entry();
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"ok": false, "code": e.code(), "error": e.to_string(), "first_broken_entry": first})
                        );
                    }
                    eprintln!("access log verification FAILED: {e}");
                    if let Some(i) = first {
                        eprintln!("first broken entry: {i}");
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
