//! Test support for the PostgreSQL backend: a freshly created database per test, dropped
//! (with its roles) at the end, and a `pg_dump` helper for "no plaintext at rest" checks.
//!
//! The server is taken from `KURA_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, trust auth), connecting as a role that may
//! create databases and roles. Without a reachable server, [`TestDatabase::create`] prints a
//! loud SKIPPED message and returns `None`, except under `CI=true`, where it panics: CI must
//! never pass by skipping.
//!
//! Dev-only (it was `kura_store::postgres::testing`): it reaches the server through the
//! `postgres` client directly and `kura-store`'s public API ([`Roles::derive`]), so the store
//! exposes nothing for it.

use std::io::Write;
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use ::postgres::{Client, Config, NoTls};
use kura_store::StoreError;
use kura_store::postgres::{Roles, with_database};

/// Parses a connection URL, naming the application `kura` unless it says otherwise (as the
/// store does).
fn parse_url(url: &str) -> Result<Config, StoreError> {
    let mut config = Config::from_str(url)
        .map_err(|e| StoreError::Backend(format!("invalid postgres url: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("kura");
    }
    Ok(config)
}

/// Where a config points, without its password: `postgres database "x" on host:port`.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(::postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(::postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres database {:?} on {host}:{port}",
        config.get_dbname().unwrap_or("(default)")
    )
}

/// Connects without TLS (the test server is on loopback).
fn connect(config: &Config) -> Result<Client, StoreError> {
    config
        .connect(NoTls)
        .map_err(|e| StoreError::Backend(format!("cannot connect to {}: {e}", describe(config))))
}

/// Quotes an identifier for DDL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The four role names of `roles`.
fn role_names(roles: &Roles) -> [&str; 4] {
    [
        &roles.data_owner,
        &roles.keys_owner,
        &roles.app,
        &roles.data_reader,
    ]
}

/// Default admin URL of the test server.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The admin URL tests use: `KURA_TEST_PG_URL` or [`DEFAULT_TEST_URL`].
pub fn admin_url() -> String {
    std::env::var("KURA_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_TEST_URL.to_owned())
}

/// `url` with its user replaced by `user` (`postgres://` URLs and `key=value` strings).
fn with_login(url: &str, user: &str) -> String {
    for scheme in ["postgres://", "postgresql://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let host_part = match rest.find('@') {
                Some(i) if rest.find('/').is_none_or(|s| i < s) => &rest[i + 1..],
                _ => rest,
            };
            return format!("{scheme}{user}@{host_part}");
        }
    }
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|kv| !kv.starts_with("user=") && !kv.starts_with("password="))
        .collect();
    format!("{} user={user}", kept.join(" "))
}

/// `label` as part of a database name: lowercase ASCII letters and digits, `_` for anything
/// else, at most `max` characters.
fn clean_label(label: &str, max: usize) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

/// True when tests must not skip (`CI=true`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A database created for one test, dropped with its derived roles on drop.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
    /// Admin URLs of the Citus workers holding a database of the same name (empty on plain
    /// PostgreSQL).
    workers: Vec<String>,
}

/// The Citus coordinator's admin URL, from `KURA_TEST_CITUS_URL` (opt-in: unset, the Citus
/// suite skips, under CI too, since CI has no Citus).
pub fn citus_admin_url() -> Option<String> {
    std::env::var("KURA_TEST_CITUS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// `url` pointed at another host and port (`postgres://` URLs only).
fn with_host(url: &str, host: &str, port: i32) -> String {
    let config = parse_url(url).expect("a postgres url");
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or("postgres");
    format!("postgres://{user}@{host}:{port}/{db}")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// Creates a fresh database named after `label`, the process id and a counter. `None`
    /// (after a loud message on stderr) when PostgreSQL is unreachable and `CI` is not
    /// `true`.
    ///
    /// # Panics
    /// When PostgreSQL is unreachable under `CI=true`, or the database cannot be created.
    pub fn create(label: &str) -> Option<Self> {
        let admin_url = admin_url();
        let config = parse_url(&admin_url).expect("KURA_TEST_PG_URL is not a postgres url");
        let mut admin = match connect(&config) {
            Ok(c) => c,
            Err(e) => {
                if in_ci() {
                    panic!("PostgreSQL is required under CI=true: {e}");
                }
                // Written to the process's stderr directly, not through `eprintln!`, so the
                // test harness does not capture it: a skip must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n**********************************************************************\n\
                     SKIPPED postgres test `{label}`: {e}\n\
                     Start PostgreSQL or set KURA_TEST_PG_URL. Under CI=true this fails.\n\
                     **********************************************************************\n"
                );
                return None;
            }
        };
        let clean = clean_label(label, 24);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "kura_t_{clean}_{}_{}_{:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos & 0xffff
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {}", ident(&name)))
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = with_database(&admin_url, &name);
        Some(TestDatabase {
            admin_url,
            name,
            url,
            workers: Vec::new(),
        })
    }

    /// A fresh database on the Citus cluster `KURA_TEST_CITUS_URL` names (the coordinator's
    /// admin database, which lists the workers in `pg_dist_node`): created on the coordinator
    /// and every worker, with the extension and the workers added, as
    /// `docs/scale-out.md` tells an operator. `None` (with a message) when the variable is
    /// unset.
    ///
    /// # Panics
    /// When the cluster is named but cannot be set up.
    pub fn create_citus(label: &str) -> Option<Self> {
        let Some(admin_url) = citus_admin_url() else {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED Citus test `{label}`: set KURA_TEST_CITUS_URL to a coordinator \
                 (bench/citus/cluster.sh)"
            );
            return None;
        };
        // Adding nodes to two new databases at once fails on the workers ("tuple
        // concurrently updated"): one set-up at a time in this process.
        static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = SETUP
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let config = parse_url(&admin_url).expect("KURA_TEST_CITUS_URL is not a postgres url");
        let mut admin = connect(&config).expect("cannot reach the Citus coordinator");
        let nodes: Vec<(String, i32)> = admin
            .query(
                "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid > 0 AND isactive \
                 ORDER BY groupid",
                &[],
            )
            .expect("KURA_TEST_CITUS_URL's database has no Citus metadata")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert!(!nodes.is_empty(), "the Citus coordinator lists no worker");
        let (chost, cport) = match (config.get_hosts().first(), config.get_ports().first()) {
            (Some(::postgres::config::Host::Tcp(h)), Some(p)) => (h.clone(), i32::from(*p)),
            _ => panic!("KURA_TEST_CITUS_URL must name a TCP host and port"),
        };
        let clean = clean_label(label, 20);
        let name = format!(
            "kura_c_{clean}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let workers: Vec<String> = nodes
            .iter()
            .map(|(h, p)| with_host(&admin_url, h, *p))
            .collect();
        let db = TestDatabase {
            admin_url: admin_url.clone(),
            name: name.clone(),
            url: with_database(&admin_url, &name),
            workers: workers.clone(),
        };
        for node in std::iter::once(&admin_url).chain(&workers) {
            let mut c = connect(&parse_url(node).unwrap()).expect("cannot reach a Citus node");
            c.batch_execute(&format!("CREATE DATABASE {}", ident(&name)))
                .unwrap_or_else(|e| panic!("cannot create {name} on {node}: {e}"));
            let mut n = connect(&parse_url(&with_database(node, &name)).unwrap()).unwrap();
            n.batch_execute("CREATE EXTENSION citus").unwrap();
        }
        let mut c = db.admin();
        c.execute(
            "SELECT citus_set_coordinator_host($1, $2)",
            &[&chost, &cport],
        )
        .unwrap();
        for (h, p) in &nodes {
            c.execute("SELECT citus_add_node($1, $2)", &[h, p]).unwrap();
        }
        Some(db)
    }

    /// URL of the test database (as the admin user).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Name of the test database.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The roles [`kura_store::PostgresStore::create`] derives for this database.
    pub fn roles(&self) -> Roles {
        Roles::derive(&self.name)
    }

    /// A URL connecting to the test database as a login role that is a member of the app
    /// role only, as a production `kura serve` would (created on first call, dropped with the
    /// database). Call after [`kura_store::PostgresStore::create`].
    ///
    /// # Panics
    /// If the role cannot be created.
    pub fn app_url(&self) -> String {
        let roles = self.roles();
        let login = format!("{}_login", roles.app);
        self.admin()
            .batch_execute(&format!(
                "DO $kura$ BEGIN
                   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{login}') THEN
                     CREATE ROLE {q} LOGIN;
                   END IF;
                 END $kura$;
                 GRANT {app} TO {q};",
                q = ident(&login),
                app = ident(&roles.app)
            ))
            .unwrap();
        with_login(&self.url, &login)
    }

    /// A connection to the test database as the admin user.
    ///
    /// # Panics
    /// If the connection fails.
    pub fn admin(&self) -> Client {
        connect(&parse_url(&self.url).unwrap()).unwrap()
    }

    /// `pg_dump` of this database as the admin user; see [`pg_dump`].
    ///
    /// # Errors
    /// As [`pg_dump`].
    pub fn dump(&self, extra_args: &[&str]) -> Result<String, StoreError> {
        pg_dump(&self.url, extra_args)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Ok(config) = parse_url(&self.admin_url) else {
            return;
        };
        let Ok(mut admin) = connect(&config) else {
            return;
        };
        if let Err(e) = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(&self.name)
        )) {
            eprintln!("warning: cannot drop test database {}: {e}", self.name);
            return;
        }
        for w in &self.workers {
            if let Ok(mut c) = parse_url(w).and_then(|c| connect(&c)) {
                let _ = c.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    ident(&self.name)
                ));
            }
        }
        let roles = Roles::derive(&self.name);
        let login = format!("{}_login", roles.app);
        for role in std::iter::once(login.as_str()).chain(role_names(&roles)) {
            if let Err(e) = admin.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(role))) {
                eprintln!("warning: cannot drop test role {role}: {e}");
            }
        }
    }
}

/// Runs `pg_dump` (plain SQL format) on the database `url` points to and returns the dump.
/// `extra_args` go before the connection, e.g. `["--role=x", "--exclude-schema=kura_keys"]`.
///
/// # Errors
/// [`StoreError::Backend`] if `pg_dump` cannot be run or exits unsuccessfully (its stderr is
/// in the message).
pub fn pg_dump(url: &str, extra_args: &[&str]) -> Result<String, StoreError> {
    let where_ = parse_url(url).map(|c| describe(&c))?;
    let out = Command::new("pg_dump")
        .args(["--no-password", "--format=plain"])
        .args(extra_args)
        .arg(format!("--dbname={url}"))
        .output()
        .map_err(|e| StoreError::Backend(format!("cannot run pg_dump: {e}")))?;
    if !out.status.success() {
        return Err(StoreError::Backend(format!(
            "pg_dump of {where_} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| StoreError::Backend("pg_dump output is not UTF-8".into()))
}

/// Whether a plain-format dump holds `marker`, either as text or hex-encoded the way
/// `pg_dump` writes `bytea` values (`\x...`, lowercase).
pub fn dump_contains(dump: &str, marker: &[u8]) -> bool {
    let hex: String = marker.iter().map(|b| format!("{b:02x}")).collect();
    dump.as_bytes()
        .windows(marker.len().max(1))
        .any(|w| w == marker)
        || dump.contains(&hex)
}

#[cfg(test)]
mod tests {
    use super::{dump_contains, with_login};

    #[test]
    fn login_is_replaced_in_urls() {
        assert_eq!(
            with_login("postgres://postgres@127.0.0.1:5432/test", "app"),
            "postgres://app@127.0.0.1:5432/test"
        );
        assert_eq!(
            with_login("postgres://u:p@h/db", "app"),
            "postgres://app@h/db"
        );
        assert_eq!(with_login("postgres://h/db", "app"), "postgres://app@h/db");
        assert_eq!(
            with_login("host=h user=u password=p dbname=d", "app"),
            "host=h dbname=d user=app"
        );
    }

    #[test]
    fn markers_are_found_as_text_and_hex() {
        assert!(dump_contains("abc MARK def", b"MARK"));
        assert!(dump_contains("\\x00114d41524b22", b"MARK"));
        assert!(!dump_contains("abc", b"MARK"));
    }
}
