//! Creating and opening a vault (store + key provider + schema) from resolved settings.

use std::sync::Arc;

use anyhow::{Context, Result};
use kura_audit::{Appender, AppenderConfig, Clock};
use kura_crypto::pkcs11::{Pkcs11Config, Pkcs11Provider};
use kura_crypto::{KeyFile, KeyProvider, random_array};
use kura_model::{KeyProviderKind, Synchronous};
use kura_store::sqlite::{Durability, SqliteStore};
use kura_store::{AuditStore, CardStore, CredentialStore, DirectoryStore, DynStore, Store};
use kura_vault::{Vault, VaultOptions};
use zeroize::Zeroizing;

use crate::config::{Location, Resolved};

fn durability(s: Synchronous) -> Durability {
    match s {
        Synchronous::Normal => Durability::Normal,
        Synchronous::Full => Durability::Full,
    }
}

/// Creates a new vault: a fresh vault id, the key file (mode 0600), the store.
pub fn create(r: &Resolved) -> Result<(DynStore, Arc<dyn KeyProvider>)> {
    let vault_id: [u8; 16] = random_array().context("drawing a vault id")?;
    // Refuse before creating anything if the store already exists.
    if let Location::Dir(d) = &r.location
        && d.join(kura_store::sqlite::DATA_FILE).exists()
    {
        anyhow::bail!("a kura vault already exists at {}", d.display());
    }
    // A token that refuses (no PIN, wrong label, keys already there) must refuse before
    // a store exists: the token's keys are made first. A key file is made last, so that a
    // store that cannot be created leaves no key file behind to block the next attempt.
    let early = match r.config.keys.provider {
        KeyProviderKind::File => {
            let key_file = r.key_file()?;
            if key_file.exists() {
                anyhow::bail!(
                    "key file {} already exists; refusing to overwrite keys (move it away or choose --key-file)",
                    key_file.display()
                );
            }
            None
        }
        KeyProviderKind::Pkcs11 => Some(create_keys(r, vault_id)?),
    };
    let store: DynStore = match &r.location {
        Location::Dir(d) => Arc::new(
            SqliteStore::create(d, vault_id, durability(r.config.store.synchronous))
                .with_context(|| format!("creating the store in {}", d.display()))?,
        ),
        Location::Postgres(url) => Arc::new(
            kura_store::postgres::PostgresStore::create(url, vault_id)
                .context("creating the PostgreSQL store")?,
        ),
    };
    let keys = match early {
        Some(k) => k,
        None => create_keys(r, vault_id)?,
    };
    Ok((store, keys))
}

/// Creates the vault's keys in the configured provider (`[keys] provider`).
pub fn create_keys(r: &Resolved, vault_id: [u8; 16]) -> Result<Arc<dyn KeyProvider>> {
    match r.config.keys.provider {
        KeyProviderKind::File => Ok(Arc::new(
            KeyFile::create(r.key_file()?, vault_id).context("creating the key file")?,
        )),
        KeyProviderKind::Pkcs11 => {
            let config = pkcs11_config(r)?;
            Ok(Arc::new(
                Pkcs11Provider::create(&config, vault_id)
                    .context("creating the vault's keys in the PKCS#11 token")?,
            ))
        }
    }
}

/// The PKCS#11 token settings of `[keys.pkcs11]` with the user PIN: from the environment
/// variable named by `pin_env` (default `KURA_PKCS11_PIN`), else from `pin_file`, which must
/// not be readable by group or others. The PIN never appears in an error.
fn pkcs11_config(r: &Resolved) -> Result<Pkcs11Config> {
    let s = r.config.keys.pkcs11.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "[keys] provider = \"pkcs11\" needs a [keys.pkcs11] section (module, token_label)"
        )
    })?;
    let var = s.pin_env.as_deref().unwrap_or("KURA_PKCS11_PIN");
    let pin = match (std::env::var(var), &s.pin_file) {
        (Ok(pin), _) => Zeroizing::new(pin),
        (Err(_), Some(path)) => {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("PKCS#11 PIN file {}", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode();
                if mode & 0o077 != 0 {
                    anyhow::bail!(
                        "PKCS#11 PIN file {}: permissions {:o} let other users read the PIN; run `chmod 600` on it",
                        path.display(),
                        mode & 0o777
                    );
                }
            }
            let _ = meta;
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the PKCS#11 PIN file {}", path.display()))?,
            );
            Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned())
        }
        (Err(_), None) => anyhow::bail!(
            "no PIN for the PKCS#11 token `{}`: set the environment variable {var} or [keys.pkcs11] pin_file",
            s.token_label
        ),
    };
    Ok(Pkcs11Config {
        module: s.module.clone(),
        token_label: s.token_label.clone(),
        pin,
    })
}

/// Opens the vault's keys in the configured provider (`[keys] provider`), checking that
/// they belong to the vault in `store`.
pub fn keys(r: &Resolved, vault_id: [u8; 16]) -> Result<Arc<dyn KeyProvider>> {
    let keys: Arc<dyn KeyProvider> = match r.config.keys.provider {
        KeyProviderKind::File => {
            Arc::new(KeyFile::open(r.key_file()?).context("opening the key file")?)
        }
        KeyProviderKind::Pkcs11 => Arc::new(
            Pkcs11Provider::open(&pkcs11_config(r)?, vault_id)
                .context("opening the vault's keys in the PKCS#11 token")?,
        ),
    };
    if keys.vault_id() != vault_id {
        anyhow::bail!(
            "the keys in {} belong to another vault than the store",
            keys.describe()
        );
    }
    Ok(keys)
}

/// Opens the store only (for commands that need no keys).
pub fn store(r: &Resolved) -> Result<Arc<dyn AuditStore>> {
    Ok(stores(r)?.audit)
}

/// The store opened once, seen through each of its interfaces.
pub struct Stores {
    /// The access log's storage (and the subjects', as `Store`).
    pub audit: Arc<dyn AuditStore>,
    /// Credential state and recovery tokens.
    pub credentials: Arc<dyn CredentialStore>,
    /// Organizations, principals, incidents and canaries.
    pub directory: Arc<dyn DirectoryStore>,
    /// The card vault's metadata and secrets.
    pub cards: Arc<dyn CardStore>,
    /// Containment windows, shared by every server over this store.
    pub windows: Arc<dyn kura_store::ContainmentStore>,
    /// Notice campaigns, deliveries and remediation codes.
    pub notices: Arc<dyn kura_store::NoticeStore>,
    /// Data-subject requests, activity and restriction.
    pub rights: Arc<dyn kura_store::RightsStore>,
}

fn views<
    S: AuditStore
        + CredentialStore
        + DirectoryStore
        + CardStore
        + kura_store::ContainmentStore
        + kura_store::NoticeStore
        + kura_store::RightsStore
        + 'static,
>(
    s: Arc<S>,
) -> Stores {
    Stores {
        audit: s.clone(),
        credentials: s.clone(),
        directory: s.clone(),
        cards: s.clone(),
        windows: s.clone(),
        notices: s.clone(),
        rights: s,
    }
}

/// Opens the store once, seen through each of its interfaces.
pub fn stores(r: &Resolved) -> Result<Stores> {
    Ok(match &r.location {
        Location::Dir(d) => {
            let s = Arc::new(
                SqliteStore::open(d, durability(r.config.store.synchronous))
                    .with_context(|| format!("opening the vault in {}", d.display()))?,
            );
            views(s)
        }
        Location::Postgres(url) => {
            let s = Arc::new(
                kura_store::postgres::PostgresStore::open(url)
                    .context("opening the PostgreSQL store")?,
            );
            views(s)
        }
    })
}

/// The wall clock, in unix milliseconds (the libraries take time as a parameter).
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// Now, unix milliseconds.
    pub fn now_ms_u64() -> u64 {
        SystemClock.now_ms()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// An opened vault with its access-log machinery.
pub struct Opened {
    pub vault: Arc<Vault>,
    pub store: Arc<dyn AuditStore>,
    pub keys: Arc<dyn KeyProvider>,
    pub appender: Arc<Appender>,
    /// The same store, seen as the credentials' storage.
    pub credentials: Arc<dyn CredentialStore>,
    /// The same store, seen as organizations, principals, incidents and canaries.
    pub directory: Arc<dyn DirectoryStore>,
    /// The card vault (issue 7), over the same store, with its own keys.
    pub cards: Arc<kura_vault::CardVault>,
    /// The same store, seen as the containment windows.
    pub windows: Arc<dyn kura_store::ContainmentStore>,
    /// The same store, seen as notice campaigns.
    pub notices: Arc<dyn kura_store::NoticeStore>,
    /// The same store, seen as data-subject requests.
    pub rights: Arc<dyn kura_store::RightsStore>,
    /// The same store, seen as the card vault's storage.
    pub card_store: Arc<dyn CardStore>,
}

/// Opens an existing vault; every access it serves is recorded through a group-committing
/// appender.
pub fn vault(r: &Resolved) -> Result<Opened> {
    vault_with(r, None)
}

/// Opens an existing vault for serving: containment on (quotas and canaries), trips recorded
/// and alerted through [`kura_admin::alert::AlertSink`].
pub fn served_vault(r: &Resolved, metrics: Arc<kura_admin::metrics::Metrics>) -> Result<Opened> {
    vault_with(r, Some(metrics))
}

fn vault_with(r: &Resolved, metrics: Option<Arc<kura_admin::metrics::Metrics>>) -> Result<Opened> {
    let Stores {
        audit: store,
        credentials,
        directory,
        cards: card_store,
        windows,
        notices,
        rights,
    } = stores(r)?;
    let keys = keys(r, store.vault_id().context("reading the vault id")?)?;
    // A served vault counts its key operations for `/v1/metrics`.
    let keys: Arc<dyn KeyProvider> = match &metrics {
        Some(m) => Arc::new(kura_admin::keyops::Counted::new(keys, m.clone())),
        None => keys,
    };
    let dyn_store: DynStore = store.clone();
    let appender = Arc::new(
        Appender::start(dyn_store.clone(), AppenderConfig::default())
            .context("starting the access-log appender")?,
    );
    let vault = Vault::new(
        r.config.schema()?,
        dyn_store,
        keys.clone(),
        VaultOptions {
            key_cache_entries: r.config.server.key_cache_entries,
        },
        appender.clone(),
        Arc::new(SystemClock),
    )?;
    let vault = match metrics {
        Some(metrics) => {
            let webhook = r.config.containment.webhook_url.clone();
            if let Some(url) = &webhook
                && !url.starts_with("http://")
            {
                anyhow::bail!(
                    "[containment] webhook_url must be an http:// URL (a local relay; TLS is not built in yet)"
                );
            }
            let canaries = Arc::new(kura_policy::Canaries::new());
            canaries.set(directory.canaries().context("reading the canary list")?);
            let sink = Arc::new(kura_admin::alert::AlertSink::new(
                directory.clone(),
                metrics,
                webhook,
            ));
            vault.with_containment(canaries, windows.clone(), sink)
        }
        None => vault,
    };
    let vault = Arc::new(vault);
    let cards = Arc::new(
        kura_vault::CardVault::new(vault.clone(), card_store.clone(), &*keys)
            .context("opening the card vault")?,
    );
    Ok(Opened {
        cards,
        vault,
        store,
        keys,
        appender,
        credentials,
        directory,
        windows,
        notices,
        rights,
        card_store,
    })
}

/// The `[passwords]` section, checked.
pub fn passwords_config(r: &Resolved) -> Result<kura_credentials::PasswordsConfig> {
    toml::Value::Table(r.config.passwords.clone())
        .try_into()
        .context("invalid [passwords] section")
}

/// The `[mail]` section, checked; the outbox defaults to `<data dir>.outbox` beside the data
/// directory (a recovery mail carries a live token: never inside the data directory, never
/// in the current directory by accident).
pub fn mail_config(r: &Resolved) -> Result<kura_mail::MailConfig> {
    let mut config: kura_mail::MailConfig = toml::Value::Table(r.config.mail.clone())
        .try_into()
        .context("invalid [mail] section")?;
    if !r.config.mail.contains_key("outbox_dir") {
        let base = match &r.location {
            Location::Dir(d) => d.clone(),
            Location::Postgres(_) => match r.config.keys.provider {
                KeyProviderKind::File => r.key_file()?.with_extension(""),
                KeyProviderKind::Pkcs11 => anyhow::bail!(
                    "with a PostgreSQL store and keys in a PKCS#11 token, set [mail] outbox_dir \
                     (there is no key file beside which to put it)"
                ),
            },
        };
        let mut name = base
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "kura".into());
        name.push(".outbox");
        config.outbox_dir = match base.parent() {
            Some(p) => p.join(name),
            None => name.into(),
        };
    }
    Ok(config)
}

/// Passwords, login and recovery over an opened vault: the policy (with its breached-password
/// filter), the Argon2id pool keyed with the pepper from the key provider, and the mailer.
pub fn credentials(
    r: &Resolved,
    opened: &Opened,
    mailer: Arc<dyn kura_mail::Transport>,
) -> Result<Arc<kura_vault::Credentials>> {
    let pw = passwords_config(r)?;
    let mail = mail_config(r)?;
    let policy =
        kura_admin::passwords::password_policy(&pw).context("building the password policy")?;
    // The current pepper and every earlier version (hashes under them verify and are
    // made again under the current one at the next login).
    let version = pw.pepper_version;
    if !(1..=1000).contains(&version) {
        anyhow::bail!("[passwords] pepper_version must be between 1 and 1000, not {version}");
    }
    let pepper = |v: u32| -> Result<kura_credentials::Pepper> {
        let secret = opened
            .keys
            .derive(kura_crypto::KeyPurpose::PasswordPepperVersion(v))
            .context("deriving the password pepper")?;
        Ok(kura_credentials::Pepper::new(v, *secret.expose()))
    };
    let previous = (1..version).rev().map(pepper).collect::<Result<Vec<_>>>()?;
    let pool = pw
        .build_pool(pepper(version)?, previous)
        .context("starting the password hashing pool")?;
    Ok(Arc::new(
        kura_vault::Credentials::new(
            opened.vault.clone(),
            opened.credentials.clone(),
            pool,
            Arc::new(policy),
            mailer,
            kura_vault::CredentialsOptions {
                throttle: pw.throttle,
                issue_limit: kura_credentials::IssueLimit::default(),
                recovery_url: mail.recovery_url.clone(),
            },
        )
        .with_activity(opened.rights.clone()),
    ))
}

/// The outbound mail transport of `[mail]` (SMTP relay or outbox), registered with the
/// vault so an erasure removes what it still holds about the subject.
pub fn mailer(r: &Resolved, opened: &Opened) -> Result<Arc<dyn kura_mail::Transport>> {
    let mail = mail_config(r)?;
    let t: Arc<dyn kura_mail::Transport> =
        Arc::from(kura_mail::transport_from_config(&mail).context("setting up outbound mail")?);
    opened.vault.attach_mail(t.clone());
    Ok(t)
}

/// `[rights]` and `[[retention]]`, checked.
pub fn rights_settings(
    r: &Resolved,
) -> Result<(
    kura_admin::rights::Settings,
    Vec<kura_admin::retention::Rule>,
)> {
    let settings: kura_admin::rights::Settings = toml::Value::Table(r.config.rights.clone())
        .try_into()
        .context("invalid [rights] section")?;
    let schema = r.config.schema()?;
    let mut rules = Vec::new();
    for t in &r.config.retention {
        let rule: kura_admin::retention::Rule = toml::Value::Table(t.clone())
            .try_into()
            .context("invalid [[retention]] rule")?;
        rule.check(&schema).map_err(|e| anyhow::anyhow!("{e}"))?;
        if rules
            .iter()
            .any(|o: &kura_admin::retention::Rule| o.name == rule.name)
        {
            anyhow::bail!("two [[retention]] rules are named `{}`", rule.name);
        }
        rules.push(rule);
    }
    Ok((settings, rules))
}

/// The rights service over an opened vault: requests, receipts (signed with the log's key,
/// proven against checkpoints `integrator` signs) and retention.
pub fn rights_service(
    r: &Resolved,
    opened: &Opened,
    integrator: Arc<kura_audit::Integrator>,
    mailer: Arc<dyn kura_mail::Transport>,
) -> Result<Arc<kura_admin::rights::Service>> {
    let (settings, retention) = rights_settings(r)?;
    let mail = mail_config(r)?;
    let seed = opened
        .keys
        .derive(kura_crypto::KeyPurpose::AuditSigning)
        .context("deriving the audit signing key")?;
    let signer = kura_tlog::NoteSigner::from_seed(integrator.origin(), seed.expose())?;
    Ok(Arc::new(kura_admin::rights::Service {
        vault: opened.vault.clone(),
        rights: opened.rights.clone(),
        directory: opened.directory.clone(),
        audit: opened.store.clone(),
        cards: opened.card_store.clone(),
        credentials: opened.credentials.clone(),
        clock: Arc::new(SystemClock),
        transport: mailer,
        from: mail.from.clone(),
        settings,
        integrator,
        signer,
        retention,
    }))
}

/// Describes where a store is, for messages.
pub fn describe(store: &dyn Store) -> &'static str {
    store.backend()
}
