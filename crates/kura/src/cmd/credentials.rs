//! `kura credentials force-reset` and `kura passwords build-filter`.
//!
//! A forced reset flags subjects so that their next correct password answers
//! `password_reset_required` until a recovery completes: the response to a breach that
//! may have exposed password hashes. Subjects are read from a file or paged from the store,
//! a batch at a time; nothing holds every subject in memory. Each batch is one transaction
//! with its `password_reset_force` access event.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kura_vault::Access;
use kura_vault::credentials::{FORCE_RESET_BATCH, force_reset, force_reset_all};
use uuid::Uuid;

use crate::cli::VaultArgs;
use crate::config::resolve;
use crate::open;

/// `kura credentials ...`.
#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Force a password reset: a correct password then answers 403 `password_reset_required`
    /// until the subject completes a recovery.
    ForceReset(ForceResetArgs),
}

/// `kura credentials force-reset`.
#[derive(Debug, Args)]
pub struct ForceResetArgs {
    #[command(flatten)]
    pub vault: VaultArgs,
    /// Collection of the subjects.
    #[arg(long, default_value = "accounts")]
    pub collection: String,
    /// A file of subject ids, one per line ("-" for standard input).
    #[arg(long, required_unless_present_any = ["all", "incident"], conflicts_with_all = ["all", "incident"])]
    pub subjects: Option<PathBuf>,
    /// Every subject of the collection.
    #[arg(long, conflicts_with = "incident")]
    pub all: bool,
    /// The people of this incident's latest matrix version with a confirmed exposure (any
    /// category): what the log shows was returned to a suspect.
    #[arg(long)]
    pub incident: Option<String>,
    /// With `--incident`: every person of the matrix, potential exposure included.
    #[arg(long, requires = "incident")]
    pub potential: bool,
    /// Purpose recorded in the access log.
    #[arg(long, default_value = "incident_response")]
    pub purpose: String,
    /// Print `{"flagged": n}` instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `kura passwords ...`.
#[derive(Debug, Subcommand)]
pub enum PasswordsCommand {
    /// Build a breached-password filter (for `[passwords] blocklist`) from a plain list of
    /// passwords or from the Pwned Passwords SHA-1 list (`HASH:COUNT` lines).
    BuildFilter {
        /// The list ("-" for standard input).
        #[arg(long)]
        input: PathBuf,
        /// The filter file to write (atomically).
        #[arg(long)]
        output: PathBuf,
        /// For the Pwned Passwords list: keep hashes seen at least this often.
        #[arg(long, default_value_t = 1)]
        min_count: u64,
    },
}

pub fn run_credentials(command: CredentialsCommand) -> Result<ExitCode> {
    match command {
        CredentialsCommand::ForceReset(args) => run_force_reset(&args),
    }
}

fn run_force_reset(args: &ForceResetArgs) -> Result<ExitCode> {
    kura_model::validate_purpose(&args.purpose).context("invalid --purpose")?;
    let r = resolve(&args.vault)?;
    let opened = open::vault(&r)?;
    let access = Access::operator("cli", &args.purpose);
    let (vault, store) = (&*opened.vault, &*opened.credentials);
    if args.potential && args.incident.is_none() {
        bail!(
            "--potential needs --incident: it widens an incident's confirmed people to everyone in its matrix"
        );
    }
    let flagged = match (&args.subjects, args.all) {
        _ if args.incident.is_some() => {
            let id = args.incident.as_deref().unwrap_or_default();
            let ids =
                kura_admin::incident::exposed_subjects(&*opened.directory, id, args.potential)?;
            let mut total = 0;
            for batch in ids.chunks(FORCE_RESET_BATCH) {
                total += force_reset(vault, store, &access, &args.collection, batch)?;
            }
            total
        }
        (_, true) => force_reset_all(vault, store, &access, &args.collection, &mut |n| {
            if !args.json {
                eprintln!("flagged {n} subjects");
            }
        })?,
        (Some(path), false) => {
            let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
                Box::new(BufReader::new(std::io::stdin().lock()))
            } else {
                Box::new(BufReader::new(
                    std::fs::File::open(path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                ))
            };
            let mut batch = Vec::with_capacity(FORCE_RESET_BATCH);
            let mut total = 0;
            for (n, line) in reader.lines().enumerate() {
                let line = line.context("reading the subjects file")?;
                let t = line.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let Ok(id) = Uuid::parse_str(t) else {
                    bail!("line {} of the subjects file is not a subject id", n + 1);
                };
                batch.push(id);
                if batch.len() == FORCE_RESET_BATCH {
                    total += force_reset(vault, store, &access, &args.collection, &batch)?;
                    batch.clear();
                }
            }
            total + force_reset(vault, store, &access, &args.collection, &batch)?
        }
        (None, false) => bail!("say which subjects: --subjects FILE or --all"),
    };
    // Every event is durable before the command reports success.
    opened.appender.shutdown();
    if args.json {
        println!("{}", serde_json::json!({ "flagged": flagged }));
    } else {
        println!("{flagged} subjects must reset their password before the next login.");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_passwords(command: PasswordsCommand) -> Result<ExitCode> {
    match command {
        PasswordsCommand::BuildFilter {
            input,
            output,
            min_count,
        } => {
            let stats = kura_admin::passwords::build_filter_file(
                &input,
                &output,
                kura_credentials::BuildOptions {
                    min_count,
                    ..Default::default()
                },
            )?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
