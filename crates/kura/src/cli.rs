//! The command line, as clap types. Raw flags here; `config.rs` turns them into checked
//! settings.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kura — a personal-data vault: per-subject encryption, blind-index search, a verifiable
/// access log.
#[derive(Debug, Parser)]
#[command(name = "kura", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Write log lines as JSON (for log shippers) instead of text.
    #[arg(long, global = true, env = "KURA_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The organization that owns a new vault and answers for it (`kura init`).
#[derive(Debug, Clone, clap::Args, Default)]
pub struct OwnerArgs {
    /// Id of the owning organization (`[a-z0-9-]`, e.g. `acme`).
    #[arg(long = "org")]
    pub org: Option<String>,
    /// Its display name.
    #[arg(long = "org-name")]
    pub org_name: Option<String>,
    /// Its responsible security officer's name.
    #[arg(long = "officer-name")]
    pub officer_name: Option<String>,
    /// How to reach the officer: an e-mail address or a phone number.
    #[arg(long = "officer-contact")]
    pub officer_contact: Option<String>,
}

/// Where the vault is and how it is configured. Shared by every command that opens one.
#[derive(Debug, Args, Clone, Default)]
pub struct VaultArgs {
    /// Data directory of the embedded store (SQLite). Not needed with --store-url.
    #[arg(long, env = "KURA_DATA")]
    pub data: Option<PathBuf>,
    /// PostgreSQL URL (overrides `[store] url`).
    #[arg(long, env = "KURA_STORE_URL")]
    pub store_url: Option<String>,
    /// Configuration file (TOML). Without it, the built-in `accounts` schema is used.
    #[arg(long, env = "KURA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Key file (default: `<data dir>.key`, beside the data directory, never inside it).
    #[arg(long, env = "KURA_KEY_FILE")]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new vault, its owning organization (with its security officer) and its first
    /// operator, a principal of that organization; print the operator's API key (once).
    Init {
        #[command(flatten)]
        vault: VaultArgs,
        #[command(flatten)]
        owner: OwnerArgs,
        /// Print `{"operator_key": "...", "operator_id": "...", "org": "..."}` on stdout
        /// instead of text.
        #[arg(long)]
        json: bool,
        /// Distribute the new vault over the Citus cluster its PostgreSQL URL names (the
        /// coordinator, with the workers added): every table to its place
        /// (`docs/scale-out.md`). Refused, before anything is created, without the Citus
        /// extension.
        #[arg(long)]
        distribute: bool,
        /// With `--distribute`: shards per distributed table (Citus's default is 32). Bulk
        /// loads touch every shard, so a few workers load faster with fewer; more shards
        /// spread better over many workers later (docs/scale-out.md).
        #[arg(long, requires = "distribute")]
        shards: Option<u32>,
    },
    /// Distribute an existing PostgreSQL vault over its Citus cluster: every table to its
    /// documented place, what is placed already left alone (safe to run again; `kura
    /// migrate` places the tables later versions add).
    Distribute {
        #[command(flatten)]
        vault: VaultArgs,
        /// Shards per table distributed now (Citus's default is 32).
        #[arg(long)]
        shards: Option<u32>,
    },
    /// Break glass: issue a new operator key, as a new operator principal of `--org`, to
    /// whoever has local access to the vault's key file (for when every operator key is
    /// lost, revoked or suspended). Recorded in the access log and logged as an alert.
    BreakGlass {
        #[command(flatten)]
        vault: VaultArgs,
        /// The organization the new operator belongs to.
        #[arg(long)]
        org: String,
        /// Who asks, and why (recorded).
        #[arg(long)]
        reason: String,
        /// Print `{"operator_key": "...", "operator_id": "..."}` on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Serve the HTTP API until SIGINT or SIGTERM.
    Serve {
        #[command(flatten)]
        vault: VaultArgs,
        /// Listen address (default 127.0.0.1:8270, or `[server] listen`).
        #[arg(long, env = "KURA_LISTEN")]
        listen: Option<SocketAddr>,
        /// Development mode: initialize ./kura-dev on first use, print the operator key and
        /// a curl example, and serve.
        #[arg(long, conflicts_with_all = ["data", "store_url"])]
        dev: bool,
    },
    /// Import subjects from an NDJSON file (one `{"country","locale","fields"}` per line).
    Import {
        #[command(flatten)]
        vault: VaultArgs,
        /// Collection to import into.
        #[arg(long, default_value = "accounts")]
        collection: String,
        /// Purpose recorded for the import.
        #[arg(long, default_value = "import")]
        purpose: String,
        /// The NDJSON file ("-" for standard input).
        file: PathBuf,
    },
    /// Apply pending schema migrations to the store.
    Migrate {
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// Measure kura against a plain baseline on this machine and print JSON.
    Bench(crate::cmd::bench::BenchArgs),
    /// The verifiable access log: verifier key and offline verification.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Organizations (data holder, processors) and their security officers.
    Org {
        #[command(subcommand)]
        command: crate::cmd::directory::OrgCommand,
    },
    /// Principals (services, processors, operators, self-service) and their API keys.
    Principal {
        #[command(subcommand)]
        command: crate::cmd::directory::PrincipalCommand,
    },
    /// Canary subjects: records no legitimate caller reads; touching one trips containment.
    Canary {
        #[command(subcommand)]
        command: CanaryCommand,
    },
    /// Incidents: declare, timeline, scope, evidence.
    Incident {
        #[command(subcommand)]
        command: crate::cmd::incident::IncidentCommand,
    },
    /// Breach notices: plan, send, follow, bounces, public notice, remediation codes.
    Notify {
        #[command(subcommand)]
        command: crate::cmd::notify::NotifyCommand,
    },
    /// Data-subject requests: open on a person's behalf, verify, answer, extend, deny,
    /// receipts.
    Rights {
        #[command(subcommand)]
        command: crate::cmd::rights::RightsCommand,
    },
    /// Signed erasure receipts: verify offline.
    Receipt {
        #[command(subcommand)]
        command: crate::cmd::rights::ReceiptCommand,
    },
    /// Retention rules: plan, and run (reconfirmation, then erasure with receipts).
    Retention {
        #[command(subcommand)]
        command: crate::cmd::rights::RetentionCommand,
    },
    /// Supervision reports.
    Report {
        #[command(subcommand)]
        command: crate::cmd::directory::ReportCommand,
    },
    /// Find stray personal data in files and folders (CSV, spreadsheets, JSON, logs, dumps).
    Scan(kura_scan::ScanArgs),
    /// Check kura's own posture: dependencies against a RustSec advisory database (offline),
    /// key file, listener, security officers, log verification and witnessing; recorded in
    /// the access log. Exit 1 when a finding is at or above --fail-on.
    Doctor(crate::cmd::doctor::DoctorArgs),
    /// Replay the 2011 breach end to end on a fresh vault of its own: populate, attack with
    /// a stolen processor key until containment, respond (declare, scope, obligations,
    /// drafts, notices over SMTP, resets, erasures with receipts, evidence), verify every
    /// figure, and write a report. Exit 1 when a self-check fails.
    Drill(crate::cmd::drill::DrillArgs),
    /// Passwords of subjects: forced resets.
    Credentials {
        #[command(subcommand)]
        command: crate::cmd::credentials::CredentialsCommand,
    },
    /// Breached-password filters.
    Passwords {
        #[command(subcommand)]
        command: crate::cmd::credentials::PasswordsCommand,
    },
    /// A minimal C2SP tlog-witness: countersigns this (or another) kura vault's
    /// checkpoints so that a cut-off or rewritten log is caught later.
    Witness {
        #[command(subcommand)]
        command: crate::cmd::witness::WitnessCommand,
    },
    /// The key-encryption keys: status, online rotation, retirement of old versions.
    Keys {
        #[command(subcommand)]
        command: crate::cmd::keys::KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CanaryCommand {
    /// Plant N realistic-looking canary subjects.
    Plant(crate::cmd::canary::PlantArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the checkpoint verifier key (C2SP vkey: `name+keyid+base64(0x01||pubkey)`).
    Key {
        #[command(flatten)]
        vault: VaultArgs,
    },
    /// Recompute the whole Merkle tree offline, check every checkpoint's signature and their
    /// consistency; exit 1 naming the first broken entry.
    Verify {
        #[command(flatten)]
        vault: VaultArgs,
        /// Also check a signed checkpoint kept elsewhere (by an auditor), or every
        /// checkpoint in an `[audit] checkpoint_dir`, against the log. Repeatable.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// Also check a witnessed checkpoint (a file holding a checkpoint with its
        /// cosignature, e.g. `kura witness latest` output or `<checkpoint_dir>/cosigned-<name>`):
        /// its cosignature must verify under a `--witness-key` (or a configured witness's key)
        /// and the log must be consistent with it. Repeatable.
        #[arg(long)]
        witness: Vec<PathBuf>,
        /// A witness's verifier key (`kura witness key`). Default: the keys of
        /// `[[audit.witnesses]]`. Repeatable.
        #[arg(long)]
        witness_key: Vec<String>,
        /// Verifier key to trust (default: derived from the key file).
        #[arg(long)]
        verifier_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}
