//! The configuration file (TOML). Every key can be overridden by a `KURA_*` environment
//! variable; the binary applies those overrides before calling [`Config::from_toml`]'s
//! result's [`Config::schema`].

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Collection, ModelError, Schema};

/// The whole configuration file. Unknown keys are refused, so a typo never silently
/// disables a setting.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the data lives.
    #[serde(default)]
    pub store: StoreConfig,
    /// Where the keys live.
    #[serde(default)]
    pub keys: KeysConfig,
    /// The HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// The access log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Containment alerts and housekeeping.
    #[serde(default)]
    pub containment: ContainmentConfig,
    /// What incidents oblige: who the holder is and which rules apply.
    #[serde(default)]
    pub obligations: ObligationsConfig,
    /// Breach notices: where operator templates are.
    #[serde(default)]
    pub notices: NoticesConfig,
    /// `kura doctor` and the server's posture checks.
    #[serde(default)]
    pub posture: PostureConfig,
    /// `[console]`: the officer console and the subject page under `/console`.
    #[serde(default)]
    pub console: ConsoleConfig,
    /// Collections; the built-in `accounts` schema when empty.
    #[serde(default)]
    pub collections: Vec<Collection>,
    /// `[passwords]`: policy, blocklist, Argon2id parameters, hashing pool, throttling. Kept
    /// as a table here and checked by the binary as `kura_credentials::PasswordsConfig`
    /// (unknown keys refused there), so the model needs no credentials crate.
    #[serde(default)]
    pub passwords: toml::Table,
    /// `[mail]`: outbound mail (SMTP relay or `.eml` outbox), checked by the binary as
    /// `kura_mail::MailConfig`.
    #[serde(default)]
    pub mail: toml::Table,
    /// `[rights]`: data-subject requests (controller, token lifetime, record keeping),
    /// checked by the binary as `kura_admin::rights::Settings`.
    #[serde(default)]
    pub rights: toml::Table,
    /// `[[retention]]`: retention rules, checked by the binary as
    /// `kura_admin::retention::Rule`.
    #[serde(default)]
    pub retention: Vec<toml::Table>,
}

/// `[store]`: the storage backend.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A `postgres://` URL; absent means the embedded SQLite store in the data directory.
    pub url: Option<String>,
    /// SQLite durability: `normal` (default; WAL survives a process crash) or `full`
    /// (also survives power loss, at the cost of an fsync per commit).
    #[serde(default)]
    pub synchronous: Synchronous,
}

/// SQLite `synchronous` setting for the embedded store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// Durable across process crashes; the last commits may be lost on power failure.
    #[default]
    Normal,
    /// Durable across power failure.
    Full,
}

/// `[keys]`: the key provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Which provider holds the key-encryption keys and root secrets: `file` (the default,
    /// the local key file) or `pkcs11` (a PKCS#11 token; see `[keys.pkcs11]`).
    #[serde(default)]
    pub provider: KeyProviderKind,
    /// Path of the local key file. Default: `<data dir>.key`, a sibling of the data
    /// directory, so that copying the data directory does not copy the keys.
    pub file: Option<PathBuf>,
    /// The PKCS#11 token, when `provider = "pkcs11"`.
    pub pkcs11: Option<Pkcs11Settings>,
}

/// `[keys] provider`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyProviderKind {
    /// The local key file (the embedded default).
    #[default]
    File,
    /// A PKCS#11 token (an HSM; SoftHSM2 in tests).
    Pkcs11,
}

/// `[keys.pkcs11]`: where the token is and how to log in. The PIN itself is never in the
/// configuration file: it comes from an environment variable or a file readable only by
/// the owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Settings {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of the token that holds the vault's keys.
    pub token_label: String,
    /// The environment variable holding the user PIN (default `KURA_PKCS11_PIN`).
    pub pin_env: Option<String>,
    /// A file holding the user PIN (mode 0600), used when `pin_env` is not set in the
    /// environment.
    pub pin_file: Option<PathBuf>,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address (default `127.0.0.1:8270`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Largest JSON request body in bytes (default 1 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Largest import body in bytes (default 1 GiB); imports are streamed, not buffered.
    #[serde(default = "default_max_import")]
    pub max_import_bytes: usize,
    /// Longest NDJSON import line in bytes (default 64 KiB). A longer line is refused on its
    /// own (`line_too_long`) and skipped without being buffered.
    #[serde(default = "default_max_import_line")]
    pub max_import_line_bytes: usize,
    /// Imports served at once by this server (default 4); one more is answered 429
    /// `too_many_imports` before its body is read.
    #[serde(default = "default_max_concurrent_imports")]
    pub max_concurrent_imports: usize,
    /// Bound on unwrapped data keys cached in memory (default 100,000).
    #[serde(default = "default_cache")]
    pub key_cache_entries: usize,
}

/// `[console]`: the officer console and the subject page served by `kura serve` under
/// `/console`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Mark the session cookie `Secure`. Default: yes unless the server listens on a
    /// loopback address (behind a TLS-terminating proxy, leave it on).
    #[serde(default)]
    pub secure_cookie: Option<bool>,
    /// A session ends after this many seconds without a request (default 900).
    #[serde(default = "default_console_idle")]
    pub idle_secs: u64,
    /// A session ends this many seconds after login in any case (default 28,800).
    #[serde(default = "default_console_absolute")]
    pub absolute_secs: u64,
    /// At most this many sessions at once (default 10,000); a login beyond is refused.
    #[serde(default = "default_console_sessions")]
    pub max_sessions: usize,
}

fn default_true() -> bool {
    true
}
fn default_console_idle() -> u64 {
    900
}
fn default_console_absolute() -> u64 {
    28_800
}
fn default_console_sessions() -> usize {
    10_000
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            secure_cookie: None,
            idle_secs: default_console_idle(),
            absolute_secs: default_console_absolute(),
            max_sessions: default_console_sessions(),
        }
    }
}

/// `[audit]`: the access log's checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Sign a checkpoint once this many entries are pending (default 100,000).
    #[serde(default = "default_cp_entries")]
    pub checkpoint_every_entries: u64,
    /// Sign a checkpoint once this many milliseconds have passed with entries pending
    /// (default 1000: at least once a second while entries arrive).
    #[serde(default = "default_cp_ms")]
    pub checkpoint_every_ms: u64,
    /// A directory outside the database where every signed checkpoint is also written
    /// (one file per tree size, plus `latest`). Best on another machine or disk: whoever
    /// can rewrite the database cannot rewrite what was published here.
    #[serde(default)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Witnesses that countersign checkpoints (`kura witness serve`, or any service
    /// speaking the same protocol).
    #[serde(default)]
    pub witnesses: Vec<WitnessSettings>,
    /// How often the server publishes its latest checkpoint to `checkpoint_dir` and the
    /// witnesses, in milliseconds (default 10,000).
    #[serde(default = "default_publish_ms")]
    pub publish_every_ms: u64,
}

fn default_publish_ms() -> u64 {
    10_000
}

/// `[[audit.witnesses]]`: one witness.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSettings {
    /// The witness's base URL (`http://host:port`).
    pub url: String,
    /// The witness's verifier key (`name+hash+base64`), as `kura witness key` prints it:
    /// a cosignature is accepted only under this key.
    pub key: String,
}

/// `[obligations]`: the holder's facts the breach rules need, and where the rules are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObligationsConfig {
    /// A directory of regime files (`*.toml`) that replaces the rules shipped with kura.
    pub rules_dir: Option<PathBuf>,
    /// Countries where the holder is established (ISO 3166-1 alpha-2). A holder not
    /// established in the EU reports to every member state where affected people live.
    #[serde(default)]
    pub established_in: Vec<String>,
    /// The holder is a public company (SEC Form 8-K Item 1.05 applies).
    #[serde(default)]
    pub public_company: bool,
    /// Seconds between the server's checks for overdue obligations (metric and log line;
    /// default 60).
    #[serde(default)]
    pub watch_secs: Option<u64>,
    /// Fonts for PDF drafts, tried in order for each character (default: IPAGothic, DejaVu
    /// Sans and Nanum Gothic where Debian installs them).
    #[serde(default)]
    pub pdf_fonts: Vec<PathBuf>,
}

/// `[notices]`: breach notices to affected people.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticesConfig {
    /// A directory of notice templates (`<family>.<lang>.txt`, `public.<lang>.html`) that
    /// replace or add to the shipped ones; each is checked against its regime's checklist
    /// when loaded, and a template missing an item is refused.
    pub templates_dir: Option<PathBuf>,
}

/// `[containment]`: where containment alerts go, and how often the server refreshes what
/// containment needs from the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainmentConfig {
    /// An `http://` URL that receives a JSON POST for every containment trip (principal,
    /// organization, trigger, incident id, counts; never a subject id or field value).
    /// Absent: alerts go to the log and the metrics only.
    pub webhook_url: Option<String>,
    /// Seconds between refreshes of the canary list and sweeps of expired window entries
    /// (default 5). A canary planted while the server runs protects from then on.
    #[serde(default = "default_refresh")]
    pub refresh_secs: u64,
}

fn default_refresh() -> u64 {
    5
}

impl Default for ContainmentConfig {
    fn default() -> Self {
        ContainmentConfig {
            webhook_url: None,
            refresh_secs: default_refresh(),
        }
    }
}

/// `[posture]`: `kura doctor` and the server's periodic posture check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostureConfig {
    /// A RustSec advisory-db checkout (`git clone https://github.com/RustSec/advisory-db`),
    /// read offline. Absent: the check reports `advisories_missing`.
    #[serde(default)]
    pub advisories_dir: Option<PathBuf>,
    /// Advisory data whose newest advisory is older than this many days is stale
    /// (default 90, as cargo-audit).
    #[serde(default = "default_advisories_max_age")]
    pub advisories_max_age_days: u64,
    /// The access log must have passed `kura audit verify` within this many days
    /// (default 7).
    #[serde(default = "default_verify_max_age")]
    pub verify_max_age_days: u64,
    /// A checkpoint must have been published or witnessed within this many hours
    /// (default 24).
    #[serde(default = "default_witness_max_age")]
    pub witness_max_age_hours: u64,
    /// Hours between the server's checks (default 24; 0 turns the server's checks off,
    /// including the one at start).
    #[serde(default = "default_posture_interval")]
    pub interval_hours: u64,
}

fn default_advisories_max_age() -> u64 {
    90
}
fn default_verify_max_age() -> u64 {
    7
}
fn default_witness_max_age() -> u64 {
    24
}
fn default_posture_interval() -> u64 {
    24
}

impl Default for PostureConfig {
    fn default() -> Self {
        PostureConfig {
            advisories_dir: None,
            advisories_max_age_days: default_advisories_max_age(),
            verify_max_age_days: default_verify_max_age(),
            witness_max_age_hours: default_witness_max_age(),
            interval_hours: default_posture_interval(),
        }
    }
}

fn default_cp_entries() -> u64 {
    100_000
}
fn default_cp_ms() -> u64 {
    1000
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_every_entries: default_cp_entries(),
            checkpoint_every_ms: default_cp_ms(),
            checkpoint_dir: None,
            witnesses: Vec::new(),
            publish_every_ms: default_publish_ms(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8270))
}
fn default_max_body() -> usize {
    1 << 20
}
fn default_max_import() -> usize {
    1 << 30
}
fn default_max_import_line() -> usize {
    64 << 10
}
fn default_max_concurrent_imports() -> usize {
    4
}
fn default_cache() -> usize {
    100_000
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            max_body_bytes: default_max_body(),
            max_import_bytes: default_max_import(),
            max_import_line_bytes: default_max_import_line(),
            max_concurrent_imports: default_max_concurrent_imports(),
            key_cache_entries: default_cache(),
        }
    }
}

impl Config {
    /// Parses a TOML document.
    ///
    /// # Errors
    /// [`ModelError::Config`] with the parser's description of the place at fault.
    pub fn from_toml(text: &str) -> Result<Self, ModelError> {
        toml::from_str(text).map_err(|e| ModelError::Config(e.to_string()))
    }

    /// The validated schema: the configured collections, or the built-in default.
    ///
    /// # Errors
    /// [`ModelError::Config`] when the collections break a schema rule.
    pub fn schema(&self) -> Result<Schema, ModelError> {
        if self.collections.is_empty() {
            Ok(Schema::builtin())
        } else {
            Schema::new(self.collections.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_collection_and_refuses_a_searchable_birth_date() {
        let ok = r#"
            [server]
            listen = "127.0.0.1:9000"
            [[collections]]
            name = "members"
            [[collections.fields]]
            name = "email"
            category = "email"
            searchable = true
            required = true
            [[collections.fields]]
            name = "born"
            category = "birth_date"
            type = "date"
        "#;
        let c = Config::from_toml(ok).unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.schema().unwrap().collections()[0].fields.len(), 2);
        let bad = ok.replace("type = \"date\"", "type = \"date\"\nsearchable = true");
        let e = Config::from_toml(&bad).unwrap().schema().unwrap_err();
        assert!(e.to_string().contains("members.born"), "{e}");
        let typo = "[server]\nlisten_addr = \"x\"";
        assert!(Config::from_toml(typo).is_err());
        assert_eq!(c.posture.advisories_max_age_days, 90);
        let posture = Config::from_toml(
            "[posture]\nadvisories_dir = \"/srv/advisory-db\"\ninterval_hours = 6",
        )
        .unwrap();
        assert_eq!(posture.posture.interval_hours, 6);
        assert_eq!(posture.posture.verify_max_age_days, 7);
        assert!(Config::from_toml("[posture]\nstale_days = 3").is_err());
    }
}
