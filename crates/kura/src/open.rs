//! Creating and opening a vault (store + key provider + schema) from resolved settings.

use std::sync::Arc;

use anyhow::{Context, Result};
use kura_audit::{Appender, AppenderConfig, Clock};
use kura_crypto::{KeyFile, KeyProvider, random_array};
use kura_model::Synchronous;
use kura_store::sqlite::{Durability, SqliteStore};
use kura_store::{AuditStore, DynStore, Store};
use kura_vault::{Vault, VaultOptions};

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
    if r.key_file.exists() {
        anyhow::bail!(
            "key file {} already exists; refusing to overwrite keys (move it away or choose --key-file)",
            r.key_file.display()
        );
    }
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
    let keys = KeyFile::create(&r.key_file, vault_id).context("creating the key file")?;
    Ok((store, Arc::new(keys)))
}

/// Opens the store only (for commands that need no keys).
pub fn store(r: &Resolved) -> Result<Arc<dyn AuditStore>> {
    Ok(match &r.location {
        Location::Dir(d) => Arc::new(
            SqliteStore::open(d, durability(r.config.store.synchronous))
                .with_context(|| format!("opening the vault in {}", d.display()))?,
        ),
        Location::Postgres(url) => Arc::new(
            kura_store::postgres::PostgresStore::open(url)
                .context("opening the PostgreSQL store")?,
        ),
    })
}

/// The wall clock, in unix milliseconds (the libraries take time as a parameter).
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

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
}

/// Opens an existing vault; every access it serves is recorded through a group-committing
/// appender.
pub fn vault(r: &Resolved) -> Result<Opened> {
    let store = store(r)?;
    let keys: Arc<dyn KeyProvider> =
        Arc::new(KeyFile::open(&r.key_file).context("opening the key file")?);
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
    Ok(Opened {
        vault: Arc::new(vault),
        store,
        keys,
        appender,
    })
}

/// Describes where a store is, for messages.
pub fn describe(store: &dyn Store) -> &'static str {
    store.backend()
}
