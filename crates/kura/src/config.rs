//! Loading the configuration: the TOML file, then `KURA_<SECTION>_<KEY>` environment
//! overrides (e.g. `KURA_SERVER_LISTEN`, `KURA_STORE_URL`, `KURA_KEYS_FILE`), then flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kura_model::Config;

use crate::cli::VaultArgs;

/// Sections whose scalar keys may be overridden from the environment.
const SECTIONS: &[&str] = &[
    "store",
    "keys",
    "server",
    "audit",
    "passwords",
    "mail",
    "containment",
    "posture",
    "console",
];

/// Reads the config file (if any) and applies environment overrides.
pub fn load(path: Option<&Path>) -> Result<Config> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read config file {}", p.display()))?,
        None => String::new(),
    };
    let mut doc: toml::Table = toml::from_str(&text).with_context(|| match path {
        Some(p) => format!("config file {} is not valid TOML", p.display()),
        None => "config".to_owned(),
    })?;
    apply_env(&mut doc, std::env::vars())?;
    let text = toml::to_string(&doc).context("re-encoding the configuration")?;
    let config = Config::from_toml(&text).with_context(|| match path {
        Some(p) => format!("config file {}", p.display()),
        None => "configuration from KURA_* variables".to_owned(),
    })?;
    config.schema().context("invalid schema")?;
    Ok(config)
}

fn apply_env(doc: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> Result<()> {
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("KURA_") else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        let Some((section, key)) = lower.split_once('_') else {
            continue;
        };
        if !SECTIONS.contains(&section) || key.is_empty() {
            continue;
        }
        // Command-line conveniences that are not config keys.
        if (section, key) == ("store", "url") || (section, key) == ("keys", "file") {
            // Handled like any key below.
        }
        let parsed: toml::Value = value
            .parse::<i64>()
            .map(toml::Value::Integer)
            .or_else(|_| value.parse::<bool>().map(toml::Value::Boolean))
            .unwrap_or_else(|_| toml::Value::String(value.clone()));
        let table = doc
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match table {
            toml::Value::Table(t) => {
                t.insert(key.to_owned(), parsed);
            }
            _ => bail!("config key `{section}` must be a table to apply {name}"),
        }
    }
    Ok(())
}

/// Where the vault lives, resolved from flags and config.
#[derive(Debug, Clone)]
pub enum Location {
    /// Embedded SQLite in a directory.
    Dir(PathBuf),
    /// PostgreSQL.
    Postgres(String),
}

/// Resolved settings for opening a vault.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: Config,
    pub location: Location,
    /// The key file; `None` only for a PostgreSQL store without `--key-file`, which is fine
    /// for commands that touch no key (`migrate`, `audit verify --verifier-key`).
    key_file: Option<PathBuf>,
}

impl Resolved {
    /// The key file, or an error naming how to give one.
    pub fn key_file(&self) -> Result<&Path> {
        self.key_file.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "with a PostgreSQL store, name the key file: --key-file FILE, KURA_KEY_FILE or [keys] file"
            )
        })
    }
}

/// Combines flags and config into a location and key-file path.
pub fn resolve(args: &VaultArgs) -> Result<Resolved> {
    let config = load(args.config.as_deref())?;
    let url = args.store_url.clone().or_else(|| config.store.url.clone());
    let location = match (&args.data, url) {
        (_, Some(u)) => {
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                bail!("store url must start with postgres:// or postgresql://");
            }
            Location::Postgres(u)
        }
        (Some(d), None) => Location::Dir(d.clone()),
        (None, None) => {
            bail!(
                "say where the vault is: --data DIR, or --store-url postgres://... (or KURA_DATA / KURA_STORE_URL)"
            )
        }
    };
    let key_file = match args.key_file.clone().or_else(|| config.keys.file.clone()) {
        Some(f) => Some(f),
        None => match &location {
            Location::Dir(d) => Some(default_key_file(d)),
            Location::Postgres(_) => None,
        },
    };
    Ok(Resolved {
        config,
        location,
        key_file,
    })
}

/// `<dir>.key`, beside the data directory: copying or backing up the data directory does
/// not copy the keys.
pub fn default_key_file(dir: &Path) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "kura".into());
    name.push(".key");
    match dir.parent() {
        Some(p) => p.join(name),
        None => PathBuf::from(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_scalar_keys() {
        let mut doc: toml::Table = toml::from_str("[server]\nlisten = \"127.0.0.1:1\"").unwrap();
        apply_env(
            &mut doc,
            vec![
                ("KURA_SERVER_LISTEN".to_owned(), "127.0.0.1:9999".to_owned()),
                ("KURA_SERVER_MAX_BODY_BYTES".to_owned(), "4096".to_owned()),
                ("KURA_STORE_URL".to_owned(), "postgres://x".to_owned()),
                ("KURA_LOG".to_owned(), "debug".to_owned()),
                ("OTHER".to_owned(), "x".to_owned()),
            ]
            .into_iter(),
        )
        .unwrap();
        let c = Config::from_toml(&toml::to_string(&doc).unwrap()).unwrap();
        assert_eq!(c.server.listen.port(), 9999);
        assert_eq!(c.server.max_body_bytes, 4096);
        assert_eq!(c.store.url.as_deref(), Some("postgres://x"));
    }

    #[test]
    fn key_file_sits_beside_the_data_dir() {
        assert_eq!(
            default_key_file(Path::new("/srv/kura-dev")),
            PathBuf::from("/srv/kura-dev.key")
        );
        assert_eq!(
            default_key_file(Path::new("kura-dev")),
            PathBuf::from("kura-dev.key")
        );
    }
}
