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
            witness,
            witness_key,
            verifier_key: given,
            json,
        } => {
            let key = match given {
                Some(k) => k,
                None => verifier_key(&vault)?,
            };
            let r = resolve(&vault)?;
            let store = open::store(&r)?;
            let mut extra: Vec<String> = Vec::new();
            for p in &checkpoint {
                // A checkpoint directory: every checkpoint ever published there (one file
                // per size, never rewritten), not only `latest`, which follows the log.
                let files = if p.is_dir() {
                    let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(p)
                        .with_context(|| format!("cannot list {}", p.display()))?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| {
                            f.file_name()
                                .and_then(|n| n.to_str())
                                .is_some_and(|n| n.starts_with("checkpoint-") || n == "latest")
                        })
                        .collect();
                    v.sort();
                    v
                } else {
                    vec![p.clone()]
                };
                for f in files {
                    extra.push(
                        std::fs::read_to_string(&f)
                            .with_context(|| format!("cannot read {}", f.display()))?,
                    );
                }
            }
            // Witnessed checkpoints: each must carry a cosignature that verifies under a
            // trusted witness key; only then does it count as a pin on the log.
            let keys: Vec<String> = if witness_key.is_empty() {
                r.config
                    .audit
                    .witnesses
                    .iter()
                    .map(|w| w.key.clone())
                    .collect()
            } else {
                witness_key
            };
            let verifiers = keys
                .iter()
                .map(|k| {
                    kura_tlog::CosignVerifier::from_verifier_key(k.trim())
                        .with_context(|| format!("`{k}` is not a witness verifier key"))
                })
                .collect::<Result<Vec<_>>>()?;
            if !witness.is_empty() && verifiers.is_empty() {
                anyhow::bail!(
                    "--witness needs the witness's key: --witness-key KEY or [[audit.witnesses]] in the configuration"
                );
            }
            let mut witnessed: Vec<(String, u64)> = Vec::new();
            for p in &witness {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                let by = verifiers.iter().find_map(|v| {
                    v.verify_note(text.as_bytes())
                        .ok()
                        .map(|t| (v.name().to_owned(), t))
                });
                let Some((name, time)) = by else {
                    eprintln!(
                        "access log verification FAILED: {} carries no valid cosignature from a trusted witness",
                        p.display()
                    );
                    return Ok(ExitCode::from(1));
                };
                witnessed.push((name, time));
                extra.push(text);
            }
            let extra_refs: Vec<&str> = extra.iter().map(String::as_str).collect();
            match kura_audit::verify_with(&*store, &key, &extra_refs) {
                Ok(report) => {
                    // A hint for `kura doctor` (a forged mark only hides a reminder).
                    if let Err(e) = store.put_mark(
                        "audit.verified",
                        open::SystemClock::now_ms_u64(),
                        &report.entries.to_string(),
                    ) {
                        tracing::warn!(error = %e, "could not record the verification time");
                    }
                    if json {
                        let mut v = serde_json::to_value(&report)?;
                        v["witnessed"] = serde_json::json!(witnessed
                            .iter()
                            .map(|(name, time)| serde_json::json!({"witness": name, "cosigned_at": time}))
                            .collect::<Vec<_>>());
                        println!("{}", serde_json::to_string_pretty(&v)?);
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
                        for (name, time) in &witnessed {
                            println!(
                                "witnessed by {name} (cosigned at unix time {time}): consistent"
                            );
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
