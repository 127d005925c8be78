//! The production backend: PostgreSQL, with keys and data in two schemas owned by two roles.
//!
//! Left out: TLS (connect over a Unix socket, loopback or a local TLS proxy), retries of
//! serialization failures (not raised at READ COMMITTED by these statements; needed on
//! CockroachDB and YugabyteDB, see `docs/scale-out.md`).
//!
//! # Layout
//! - `kura_keys` (owned by the *keys owner* role): `meta`, `data_keys` (wrapped data keys).
//! - `kura_data` (owned by the *data owner* role): `meta`, `counters`, `subjects`,
//!   `blind_index`, `audit_log`, `api_keys`, and for the access log's Merkle tree
//!   `audit_hashes`, `audit_checkpoints`, `audit_subjects` ([`crate::AuditStore`]).
//! - kura itself runs as (a login role that is a member of) the *app* role, which holds
//!   only the DML grants of `src/postgres/*_grants.sql`: it owns nothing, cannot alter the
//!   schema, and cannot rewrite the access log (no UPDATE/DELETE on `audit_log`).
//! - Backups of the data are taken as the *data reader* role (SELECT on `kura_data` only).
//!   Neither it nor the data owner has any privilege on `kura_keys`, so a dump taken as either
//!   holds no key. The owners are for the admin only (see [`Roles`]); `docs/postgres.md` lists
//!   the roles and grants.
//!
//! Migrations are the SQL files in `src/postgres/`, applied in order by [`PostgresStore::create`]
//! and [`PostgresStore::migrate`], each version in one transaction under an advisory lock,
//! every statement running as the owner of its schema (`SET LOCAL ROLE`). The schema version
//! is recorded in both schemas' `meta` tables.
//!
//! # Several kura processes on one database
//! Nothing here relies on process-local locks:
//! - updates are conditional on the row version (`UPDATE ... WHERE version = $expected`);
//! - access-log sequence numbers come from one counter row incremented inside the writing
//!   transaction, so the log is gapless and has one order across all servers (the row lock
//!   is taken last in every transaction, so writers cannot deadlock on it);
//! - internal ids come in consecutive blocks from another counter row, in a one-statement
//!   transaction (a PostgreSQL sequence cannot hand out `n` consecutive values atomically);
//! - inserts write keys, rows, index entries and access-log leaves in one transaction;
//! - erasure deletes the wrapped key, then the index entries and the row, in one transaction.
//!
//! The SQL stays inside what Citus accepts (see `docs/scale-out.md`): every per-subject table
//! is keyed by `subject_id`, there are no cross-subject foreign keys and no triggers.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Condvar, Mutex};

use kura_crypto::{BlindToken, WrappedKey};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, GenericClient, NoTls, Statement};
use uuid::Uuid;

use crate::record::{tokens_from_blob, tokens_to_blob};
use crate::{
    ApiKeyRecord, AuditLeaf, NewSubject, Rewrap, SCHEMA_VERSION, SearchHit, Store, StoreError,
    StoredSubject, SubjectScan, SubjectUpdate, UpdateOutcome,
};

mod audit;
mod cards;
pub mod citus;
mod containment;
mod credentials;
mod directory;
mod notices;
mod rights;

/// One migration: the key-schema part and the data-schema part of a schema version.
struct Migration {
    keys: &'static str,
    data: &'static str,
}

/// Migrations in order; index `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration {
        keys: include_str!("postgres/keys_v1.sql"),
        data: include_str!("postgres/data_v1.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v2.sql"),
        data: include_str!("postgres/data_v2.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v3.sql"),
        data: include_str!("postgres/data_v3.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v4.sql"),
        data: include_str!("postgres/data_v4.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v5.sql"),
        data: include_str!("postgres/data_v5.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v6.sql"),
        data: include_str!("postgres/data_v6.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v7.sql"),
        data: include_str!("postgres/data_v7.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v8.sql"),
        data: include_str!("postgres/data_v8.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v9.sql"),
        data: include_str!("postgres/data_v9.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v10.sql"),
        data: include_str!("postgres/data_v10.sql"),
    },
    Migration {
        keys: include_str!("postgres/keys_v11.sql"),
        data: include_str!("postgres/data_v11.sql"),
    },
];

const KEYS_GRANTS: &str = include_str!("postgres/keys_grants.sql");
const DATA_GRANTS: &str = include_str!("postgres/data_grants.sql");

/// Schema holding wrapped data keys.
pub const KEYS_SCHEMA: &str = "kura_keys";
/// Schema holding sealed fields, the blind index and the access log.
pub const DATA_SCHEMA: &str = "kura_data";

/// Advisory lock key serializing `create` and `migrate` across processes.
const MIGRATION_LOCK: i64 = 0x6b75_7261_6d69_6772; // "kuramigr"

/// Connections kept per store.
const DEFAULT_POOL_SIZE: usize = 16;

/// The four roles of a kura database. Roles are cluster-wide, so their names carry a
/// prefix; [`Roles::derive`] builds it from the database name, so that vaults (and test
/// runs) in different databases of one cluster never share a role.
///
/// The owner roles are administrative: a schema owner can attach triggers or views that run
/// with the privileges of whoever uses its tables (kura included), so only the admin that
/// runs `kura init`/`kura migrate` should be able to `SET ROLE` to them. People and jobs that
/// need to read data (backups) get the reader role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// Owns `kura_data` and its tables (NOLOGIN); no privilege on `kura_keys`.
    pub data_owner: String,
    /// Owns `kura_keys` and its tables (NOLOGIN); no privilege on `kura_data`.
    pub keys_owner: String,
    /// The role kura runs as (NOLOGIN; grant it to a login role): DML only, on both schemas.
    pub app: String,
    /// Read-only on `kura_data`, nothing on `kura_keys` (NOLOGIN; grant it to the backup
    /// job's login role): data dumps are taken as this role.
    pub data_reader: String,
}

impl Roles {
    /// Roles named `<prefix>_data_owner`, `<prefix>_keys_owner`, `<prefix>_app` and
    /// `<prefix>_data_reader`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the prefix is empty, longer than 48 bytes, or holds
    /// anything but lowercase ASCII letters, digits and `_`.
    pub fn with_prefix(prefix: &str) -> Result<Self, StoreError> {
        let ok = !prefix.is_empty()
            && prefix.len() <= 48
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !prefix.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(StoreError::Backend(format!(
                "role prefix {prefix:?} must be 1-48 characters of [a-z0-9_], not starting with a digit"
            )));
        }
        Ok(Roles {
            data_owner: format!("{prefix}_data_owner"),
            keys_owner: format!("{prefix}_keys_owner"),
            app: format!("{prefix}_app"),
            data_reader: format!("{prefix}_data_reader"),
        })
    }

    /// The default roles of a database: prefix `kura_<database>` (or the database name itself
    /// when it already starts with `kura`), lowercased, other characters replaced by `_`,
    /// and shortened with a hash when too long.
    pub fn derive(database: &str) -> Self {
        let mut p: String = database
            .chars()
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !p.starts_with("kura") {
            p = format!("kura_{p}");
        }
        if p.len() > 48 {
            // FNV-1a over the full name keeps shortened prefixes distinct.
            let mut h: u32 = 0x811c_9dc5;
            for b in database.bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
            p = format!("{}_{h:08x}", &p[..39]);
        }
        // The prefix is built from [a-z0-9_], starts with "kura" and is at most 48 bytes.
        Roles::with_prefix(&p).unwrap_or_else(|_| Roles {
            data_owner: "kura_data_owner".into(),
            keys_owner: "kura_keys_owner".into(),
            app: "kura_app".into(),
            data_reader: "kura_data_reader".into(),
        })
    }

    fn all(&self) -> [&str; 4] {
        [
            &self.data_owner,
            &self.keys_owner,
            &self.app,
            &self.data_reader,
        ]
    }

    /// Role names go into DDL, so they are restricted to plain identifiers: 1-63 bytes of
    /// `[a-z0-9_]`, not starting with a digit, and three distinct names.
    fn check(&self) -> Result<(), StoreError> {
        for r in self.all() {
            let ok = !r.is_empty()
                && r.len() <= 63
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !r.as_bytes()[0].is_ascii_digit();
            if !ok {
                return Err(StoreError::Backend(format!(
                    "role name {r:?} must be 1-63 characters of [a-z0-9_], not starting with a digit"
                )));
            }
        }
        let all = self.all();
        for (i, a) in all.iter().enumerate() {
            if all[i + 1..].contains(a) {
                return Err(StoreError::Backend(format!(
                    "role {a:?} is named twice; kura's four roles must be different roles"
                )));
            }
        }
        Ok(())
    }
}

/// Quotes an identifier (names here are already restricted to `[a-z0-9_]`).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // Never pass the server's DETAIL on: for a unique violation it quotes the key's
        // value (a blind-index token, for instance). Name the table and constraint instead.
        if let Some(db) = e.as_db_error() {
            let place = format!(
                "{}.{} ({})",
                db.schema().unwrap_or("?"),
                db.table().unwrap_or("?"),
                db.constraint().unwrap_or("?")
            );
            if *db.code() == SqlState::UNIQUE_VIOLATION {
                return StoreError::Conflict(format!("duplicate key in {place}"));
            }
            return StoreError::Backend(format!(
                "postgres {}: {} in {place}",
                db.code().code(),
                db.message()
            ));
        }
        StoreError::Backend(format!("postgres: {e}"))
    }
}

/// Where a config points, without its password: `database "x" on host:port`.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres database {:?} on {host}:{port}",
        config.get_dbname().unwrap_or("(default)")
    )
}

fn parse_url(url: &str) -> Result<Config, StoreError> {
    let mut config = Config::from_str(url)
        .map_err(|e| StoreError::Backend(format!("invalid postgres url: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("kura");
    }
    Ok(config)
}

fn connect(config: &Config) -> Result<Client, StoreError> {
    config
        .connect(NoTls)
        .map_err(|e| StoreError::Backend(format!("cannot connect to {}: {e}", describe(config))))
}

/// `url` with its database replaced by `db`; accepts `postgres://` and `postgresql://` URLs
/// (query kept) and `key=value` connection strings. The store never rewrites a configured
/// URL itself: this is for tools that create a database next to the one `url` names and
/// connect to it with the same credentials (`kura-testkit`'s test databases, `kura bench`).
pub fn with_database(url: &str, db: &str) -> String {
    if let Some((scheme, rest)) = url
        .strip_prefix("postgres://")
        .map(|r| ("postgres://", r))
        .or_else(|| {
            url.strip_prefix("postgresql://")
                .map(|r| ("postgresql://", r))
        })
    {
        let (before_q, query) = match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let authority = before_q.split('/').next().unwrap_or("");
        format!("{scheme}{authority}/{db}{query}")
    } else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|kv| !kv.starts_with("dbname="))
            .collect();
        format!("{} dbname={db}", kept.join(" "))
    }
}

/// A connection with its prepared statements.
struct Conn {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
}

/// Prepares `sql` once per connection.
fn prepared(
    client: &mut impl GenericClient,
    stmts: &mut HashMap<&'static str, Statement>,
    sql: &'static str,
) -> Result<Statement, StoreError> {
    if let Some(s) = stmts.get(sql) {
        return Ok(s.clone());
    }
    let s = client.prepare(sql)?;
    stmts.insert(sql, s.clone());
    Ok(s)
}

struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

/// A bounded pool: at most `max` connections; callers wait when all are busy.
struct Pool {
    config: Config,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The pool state is a list and a counter, consistent after any panic.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Pool {
    fn get(&self) -> Result<PooledConn<'_>, StoreError> {
        let mut st = lock(&self.state);
        loop {
            if let Some(c) = st.idle.pop() {
                return Ok(PooledConn {
                    pool: self,
                    conn: Some(c),
                });
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return match connect(&self.config) {
                    Ok(client) => Ok(PooledConn {
                        pool: self,
                        conn: Some(Conn {
                            client,
                            stmts: HashMap::new(),
                        }),
                    }),
                    Err(e) => {
                        lock(&self.state).open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            st = self
                .freed
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

struct PooledConn<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl std::ops::Deref for PooledConn<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        // `conn` is only taken in `drop`.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for PooledConn<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.pool.state);
        match self.conn.take() {
            // A transaction left open by an error was rolled back when it was dropped; a
            // broken connection is discarded.
            Some(c) if !c.client.is_closed() => st.idle.push(c),
            _ => st.open -= 1,
        }
        drop(st);
        self.pool.freed.notify_one();
    }
}

/// The PostgreSQL store.
pub struct PostgresStore {
    where_: String,
    pool: Pool,
    vault_id: [u8; 16],
    appends: GroupAppend,
    /// Internal ids this process reserved and has not handed out yet: `(next, end)`.
    iids: Mutex<(u64, u64)>,
}

/// Internal ids reserved from `counters('iid')` per round trip beyond what a caller asks
/// for. One row hands out every id of the vault (on Citus, a row on the coordinator); taking
/// a block per process keeps single creates from serializing on that row's lock and commit.
/// A process that stops leaves at most this many ids unused (ids are unique by allocation and
/// may have gaps, never repeats).
const IID_BLOCK: u64 = 1024;

/// Group commit for [`Store::append_audit`]: concurrent callers in this process share one
/// transaction. The access-log counter row is locked from its increment to the commit (that
/// is what makes the log gapless across servers), so appends from all servers are serialized
/// by commit latency; coalescing them raises the rate by the group size. The database still
/// assigns every sequence number: this only batches requests, it guards no shared state.
///
/// The first caller to find no writer running becomes the writer: it takes every pending
/// request (its own included), writes them in one transaction, publishes each caller's first
/// index, and wakes the others; a caller whose request was not yet taken becomes the next
/// writer. A failed transaction fails every request in it, none of whose leaves are written.
#[derive(Default)]
struct GroupAppend {
    state: Mutex<GroupState>,
    done: Condvar,
}

#[derive(Default)]
struct GroupState {
    next_ticket: u64,
    pending: Vec<(u64, Vec<AuditLeaf>)>,
    writing: bool,
    results: HashMap<u64, Result<u64, String>>,
}

/// Publishes a failure for a taken batch if the writer unwinds before publishing.
struct WriterGuard<'a> {
    group: &'a GroupAppend,
    tickets: Vec<u64>,
    published: bool,
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        if self.published {
            return;
        }
        let mut st = lock(&self.group.state);
        for t in &self.tickets {
            st.results
                .insert(*t, Err("access-log writer failed".to_owned()));
        }
        st.writing = false;
        drop(st);
        self.group.done.notify_all();
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("at", &self.where_)
            .finish_non_exhaustive()
    }
}

fn schemas_present(c: &mut impl GenericClient) -> Result<(bool, bool), StoreError> {
    let row = c.query_one(
        "SELECT to_regnamespace($1) IS NOT NULL, to_regnamespace($2) IS NOT NULL",
        &[&DATA_SCHEMA, &KEYS_SCHEMA],
    )?;
    Ok((row.get(0), row.get(1)))
}

fn meta_value(
    c: &mut impl GenericClient,
    schema: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let sql = format!("SELECT value FROM {schema}.meta WHERE key = $1");
    Ok(c.query_opt(sql.as_str(), &[&key])?.map(|r| r.get(0)))
}

fn meta_text(c: &mut impl GenericClient, schema: &str, key: &str) -> Result<String, StoreError> {
    let v = meta_value(c, schema, key)?
        .ok_or_else(|| StoreError::Corrupt(format!("{schema}.meta.{key} is missing")))?;
    String::from_utf8(v)
        .map_err(|_| StoreError::Corrupt(format!("{schema}.meta.{key} is not text")))
}

fn schema_version(c: &mut impl GenericClient, schema: &str) -> Result<u32, StoreError> {
    meta_text(c, schema, "schema_version")?
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{schema}.meta.schema_version is not a number")))
}

/// Both schemas' versions, which must agree.
fn stored_version(c: &mut impl GenericClient) -> Result<u32, StoreError> {
    let data = schema_version(c, DATA_SCHEMA)?;
    let keys = schema_version(c, KEYS_SCHEMA)?;
    if data != keys {
        return Err(StoreError::Corrupt(format!(
            "{DATA_SCHEMA} is at schema version {data} but {KEYS_SCHEMA} at {keys}"
        )));
    }
    Ok(data)
}

/// What an admin migration needs to know, read without trusting either owner role.
///
/// The owners come from the catalog (who owns each schema). Each schema's `meta` is read
/// *as that schema's owner* (`SET LOCAL ROLE`): an owner can replace its `meta` with a view
/// calling a function, which must not run with the admin's privileges. The app role, which
/// receives grants on the keys, is taken from `kura_keys.meta` and must match
/// `kura_data.meta`, so the data owner cannot redirect the key grants to a role of its choice.
fn stored_state(
    tx: &mut postgres::Transaction<'_>,
    on_citus: bool,
) -> Result<(u32, Roles), StoreError> {
    let row = tx.query_one(
        "SELECT (SELECT nspowner::regrole::text FROM pg_catalog.pg_namespace WHERE nspname = $1), \
                (SELECT nspowner::regrole::text FROM pg_catalog.pg_namespace WHERE nspname = $2)",
        &[&DATA_SCHEMA, &KEYS_SCHEMA],
    )?;
    let data_owner: String = row.get(0);
    let keys_owner: String = row.get(1);
    let partial = Roles {
        data_owner: data_owner.clone(),
        keys_owner: keys_owner.clone(),
        app: "kura_check_app".into(),
        data_reader: "kura_check_reader".into(),
    };
    partial.check()?;
    // Locked first, until the migration commits: a trigger, rule, default or constraint
    // cannot be added (nor a table swapped for a view) between the check and the statements
    // it protects.
    citus::lock_kura_tables(tx)?;
    citus::refuse_planted_code(tx, &partial)?;
    // On Citus the owners cannot be used (they cannot log in, and a read of a reference
    // table may go to a worker); the check above is what makes reading as the admin safe.
    let as_owner = |tx: &mut postgres::Transaction<'_>, owner: &str| {
        if on_citus {
            Ok(())
        } else {
            tx.batch_execute(&format!("SET LOCAL ROLE {}", ident(owner)))
        }
    };
    as_owner(tx, &keys_owner)?;
    let keys_version = schema_version(tx, KEYS_SCHEMA)?;
    let keys_app = meta_text(tx, KEYS_SCHEMA, "role_app")?;
    as_owner(tx, &data_owner)?;
    let data_version = schema_version(tx, DATA_SCHEMA)?;
    let data_app = meta_text(tx, DATA_SCHEMA, "role_app")?;
    let data_reader = meta_text(tx, DATA_SCHEMA, "role_data_reader")?;
    tx.batch_execute("RESET ROLE")?;
    if data_version != keys_version {
        return Err(StoreError::Corrupt(format!(
            "{DATA_SCHEMA} is at schema version {data_version} but {KEYS_SCHEMA} at {keys_version}"
        )));
    }
    if data_app != keys_app {
        return Err(StoreError::Corrupt(format!(
            "{DATA_SCHEMA}.meta and {KEYS_SCHEMA}.meta name different app roles"
        )));
    }
    let roles = Roles {
        data_owner,
        keys_owner,
        app: keys_app,
        data_reader,
    };
    roles.check()?;
    Ok((data_version, roles))
}

/// Creates a NOLOGIN role unless it exists; safe against a concurrent creator. On Citus
/// the role is created by a plain `CREATE ROLE` (which Citus carries to the workers; a `DO`
/// block it would not).
fn ensure_role(c: &mut Client, name: &str, on_citus: bool) -> Result<(), StoreError> {
    if on_citus {
        let exists = c
            .query_opt(
                "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                &[&name],
            )?
            .is_some();
        if !exists {
            match c.batch_execute(&format!("CREATE ROLE {} NOLOGIN", ident(name))) {
                Ok(()) => {}
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_OBJECT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(());
    }
    let lit = name.replace('\'', "''");
    c.batch_execute(&format!(
        "DO $kura$ BEGIN
           IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{lit}') THEN
             BEGIN
               CREATE ROLE {q} NOLOGIN;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END;
           END IF;
         END $kura$;",
        q = ident(name)
    ))?;
    Ok(())
}

/// Applies migrations `from+1 ..= SCHEMA_VERSION` and the grants, inside `tx`, each part
/// as its schema's owner.
fn apply_migrations(
    tx: &mut postgres::Transaction<'_>,
    roles: &Roles,
    from: u32,
    on_citus: bool,
) -> Result<(), StoreError> {
    // On Citus: as the admin's login role (see `citus`), new tables handed to their owner;
    // DDL and writes in one transaction need Citus's sequential mode.
    let (set_keys, set_data) = if on_citus {
        tx.batch_execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")?;
        ("RESET ROLE".to_owned(), "RESET ROLE".to_owned())
    } else {
        (
            format!("SET LOCAL ROLE {}", ident(&roles.keys_owner)),
            format!("SET LOCAL ROLE {}", ident(&roles.data_owner)),
        )
    };
    let app = ident(&roles.app);
    let reader = ident(&roles.data_reader);
    let version_sql = |schema: &str| {
        format!(
            "INSERT INTO {schema}.meta (key, value) VALUES ('schema_version', $1) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        )
    };
    for (i, m) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let v = (i as u32 + 1).to_string().into_bytes();
        tx.batch_execute(&set_keys)?;
        tx.batch_execute(m.keys)?;
        tx.execute(version_sql(KEYS_SCHEMA).as_str(), &[&v])?;
        tx.batch_execute(&set_data)?;
        tx.batch_execute(m.data)?;
        tx.execute(version_sql(DATA_SCHEMA).as_str(), &[&v])?;
        if on_citus {
            citus::give_tables_to_owner(tx, KEYS_SCHEMA, &roles.keys_owner)?;
            citus::give_tables_to_owner(tx, DATA_SCHEMA, &roles.data_owner)?;
        }
    }
    tx.batch_execute(&set_keys)?;
    tx.batch_execute(&KEYS_GRANTS.replace("{app}", &app))?;
    tx.batch_execute(&set_data)?;
    tx.batch_execute(
        &DATA_GRANTS
            .replace("{app}", &app)
            .replace("{reader}", &reader),
    )?;
    tx.batch_execute("RESET ROLE")?;
    Ok(())
}

impl PostgresStore {
    /// Creates a vault in the database `url` points to, with roles derived from the database
    /// name ([`Roles::derive`]). Connect as a superuser, or as a role with CREATEROLE that
    /// may create schemas in the database.
    ///
    /// # Errors
    /// [`StoreError::AlreadyInitialized`] if the database already holds kura's schemas;
    /// backend failures.
    pub fn create(url: &str, vault_id: [u8; 16]) -> Result<Self, StoreError> {
        let config = parse_url(url)?;
        let mut c = connect(&config)?;
        let db: String = c.query_one("SELECT current_database()", &[])?.get(0);
        drop(c);
        Self::create_with_roles(url, vault_id, &Roles::derive(&db))
    }

    /// Like [`PostgresStore::create`] with explicitly named roles. Roles that exist are
    /// reused; missing ones are created NOLOGIN.
    ///
    /// # Errors
    /// As [`PostgresStore::create`]; [`StoreError::Backend`] if a role name is not a plain
    /// identifier (`[a-z0-9_]`, at most 63 bytes) or two roles share a name.
    pub fn create_with_roles(
        url: &str,
        vault_id: [u8; 16],
        roles: &Roles,
    ) -> Result<Self, StoreError> {
        roles.check()?;
        let config = parse_url(url)?;
        let where_ = describe(&config);
        let mut c = connect(&config)?;
        if schemas_present(&mut c)? != (false, false) {
            return Err(StoreError::AlreadyInitialized(where_));
        }
        let on_citus = citus::citus_version(&mut c)?.is_some();
        for r in roles.all() {
            ensure_role(&mut c, r, on_citus)?;
        }
        let superuser: bool = c
            .query_one(
                "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                &[],
            )?
            .get(0);
        if !superuser {
            // A CREATEROLE admin must be a member of the owner roles to create schemas for
            // them and to SET ROLE while migrating (PostgreSQL 15 does not make it one).
            for r in [&roles.data_owner, &roles.keys_owner] {
                c.batch_execute(&format!("GRANT {} TO CURRENT_USER", ident(r)))?;
            }
        }
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        if schemas_present(&mut tx)? != (false, false) {
            return Err(StoreError::AlreadyInitialized(where_));
        }
        tx.batch_execute(&format!(
            "CREATE SCHEMA {KEYS_SCHEMA} AUTHORIZATION {};
             CREATE SCHEMA {DATA_SCHEMA} AUTHORIZATION {};",
            ident(&roles.keys_owner),
            ident(&roles.data_owner)
        ))?;
        apply_migrations(&mut tx, roles, 0, on_citus)?;
        if !on_citus {
            tx.batch_execute(&format!("SET LOCAL ROLE {}", ident(&roles.keys_owner)))?;
        }
        tx.execute(
            "INSERT INTO kura_keys.meta (key, value) VALUES ('vault_id', $1), ('role_app', $2)",
            &[&vault_id.as_slice(), &roles.app.as_bytes()],
        )?;
        if !on_citus {
            tx.batch_execute(&format!("SET LOCAL ROLE {}", ident(&roles.data_owner)))?;
        }
        let meta: [(&str, &[u8]); 5] = [
            ("vault_id", vault_id.as_slice()),
            ("role_data_owner", roles.data_owner.as_bytes()),
            ("role_keys_owner", roles.keys_owner.as_bytes()),
            ("role_app", roles.app.as_bytes()),
            ("role_data_reader", roles.data_reader.as_bytes()),
        ];
        for (k, v) in meta {
            tx.execute(
                "INSERT INTO kura_data.meta (key, value) VALUES ($1, $2)",
                &[&k, &v],
            )?;
        }
        tx.batch_execute("RESET ROLE")?;
        tx.commit()?;
        drop(c);
        Self::open(url)
    }

    /// Applies pending migrations (and re-applies the grants); returns the schema version.
    /// Connect as a superuser or a member of the two owner roles.
    ///
    /// # Errors
    /// [`StoreError::NotInitialized`], [`StoreError::SchemaTooNew`], backend failures.
    pub fn migrate(url: &str) -> Result<u32, StoreError> {
        let config = parse_url(url)?;
        let mut c = connect(&config)?;
        if schemas_present(&mut c)? != (true, true) {
            return Err(StoreError::NotInitialized(describe(&config)));
        }
        let on_citus = citus::citus_version(&mut c)?.is_some();
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        let (found, roles) = stored_state(&mut tx, on_citus)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
        apply_migrations(&mut tx, &roles, found, on_citus)?;
        tx.commit()?;
        // A distributed vault's new tables get their place (and a distribution that an
        // earlier run left half done is finished).
        if on_citus && meta_value(&mut c, DATA_SCHEMA, citus::META_DISTRIBUTION)?.is_some() {
            citus::place_tables(&mut c, &roles)?;
        }
        Ok(SCHEMA_VERSION)
    }

    /// The Citus extension's version in the database `url` points to, if it is installed.
    ///
    /// # Errors
    /// Connection failures.
    pub fn citus_version(url: &str) -> Result<Option<String>, StoreError> {
        let config = parse_url(url)?;
        let mut c = connect(&config)?;
        citus::citus_version(&mut c)
    }

    /// Distributes the vault in the database `url` points to over its Citus cluster: every
    /// table to its place ([`citus::PLACEMENTS`]), idempotently, and records in
    /// `kura_data.meta` that the vault is distributed, so `kura migrate` places the tables
    /// later versions add. Connect as the admin that ran `kura init`, on the coordinator,
    /// after the workers were added. `shards` sets the shard count of tables distributed now
    /// (`citus.shard_count`; Citus's default, 32, when `None`): every bulk `COPY` touches every
    /// shard, so few workers on one machine load much faster with fewer (docs/scale-out.md).
    /// Returns each table, its place and what was done.
    ///
    /// # Errors
    /// [`StoreError::Backend`] naming the problem when the Citus extension is not installed in
    /// the database, when a table has no place in this build or is placed differently;
    /// [`StoreError::NotInitialized`]; [`StoreError::Corrupt`] when the owners planted code.
    pub fn distribute(
        url: &str,
        shards: Option<u32>,
    ) -> Result<Vec<(String, citus::Placement, &'static str)>, StoreError> {
        if shards.is_some_and(|n| !(1..=64_000).contains(&n)) {
            return Err(StoreError::Backend(
                "the shard count must be between 1 and 64000".into(),
            ));
        }
        let config = parse_url(url)?;
        let mut c = connect(&config)?;
        if schemas_present(&mut c)? != (true, true) {
            return Err(StoreError::NotInitialized(describe(&config)));
        }
        if citus::citus_version(&mut c)?.is_none() {
            return Err(StoreError::Backend(format!(
                "the Citus extension is not installed in {}: run CREATE EXTENSION citus there \
                 and on every worker, add the workers (citus_add_node), then distribute again \
                 (docs/scale-out.md)",
                describe(&config)
            )));
        }
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        let (found, roles) = stored_state(&mut tx, true)?;
        if found != SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "schema version {found} is not {SCHEMA_VERSION}; run `kura migrate` first"
            )));
        }
        tx.execute(
            "INSERT INTO kura_data.meta (key, value) VALUES ($1, 'citus') \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&citus::META_DISTRIBUTION],
        )?;
        tx.commit()?;
        if let Some(n) = shards {
            c.batch_execute(&format!("SET citus.shard_count = {n}"))?;
        }
        citus::place_tables(&mut c, &roles)
    }

    /// Opens an existing vault, refusing a schema newer than this build's (upgrade kura) or
    /// older (run `kura migrate`). Connect as the app role (or a member of it).
    ///
    /// # Errors
    /// [`StoreError::NotInitialized`], [`StoreError::SchemaTooNew`], [`StoreError::Corrupt`].
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with_pool_size(url, DEFAULT_POOL_SIZE)
    }

    /// [`PostgresStore::open`] keeping at most `max_connections` connections (at least 1).
    ///
    /// # Errors
    /// As [`PostgresStore::open`].
    pub fn open_with_pool_size(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let config = parse_url(url)?;
        let where_ = describe(&config);
        let mut client = connect(&config)?;
        if schemas_present(&mut client)? != (true, true) {
            return Err(StoreError::NotInitialized(where_));
        }
        let found = stored_version(&mut client)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
        if found < SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "schema version {found} is older than {SCHEMA_VERSION}; run `kura migrate`"
            )));
        }
        let id_of = |c: &mut Client, schema: &str| -> Result<[u8; 16], StoreError> {
            meta_value(c, schema, "vault_id")?
                .ok_or_else(|| StoreError::Corrupt(format!("{schema}.meta.vault_id is missing")))?
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("{schema}.meta.vault_id is not 16 bytes")))
        };
        let vault_id = id_of(&mut client, DATA_SCHEMA)?;
        if id_of(&mut client, KEYS_SCHEMA)? != vault_id {
            return Err(StoreError::Corrupt(format!(
                "{DATA_SCHEMA} and {KEYS_SCHEMA} belong to different vaults"
            )));
        }
        let pool = Pool {
            config,
            max: max_connections.max(1),
            state: Mutex::new(PoolState {
                idle: vec![Conn {
                    client,
                    stmts: HashMap::new(),
                }],
                open: 1,
            }),
            freed: Condvar::new(),
        };
        Ok(PostgresStore {
            where_,
            pool,
            vault_id,
            appends: GroupAppend::default(),
            iids: Mutex::new((0, 0)),
        })
    }
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend("internal id overflow".into()))
}

fn kek_version_to_sql(v: u32) -> Result<i32, StoreError> {
    i32::try_from(v).map_err(|_| StoreError::Backend("kek version does not fit in integer".into()))
}

const APPEND_AUDIT: &str = "WITH c AS (UPDATE kura_data.counters SET next = next + $2 \
       WHERE name = 'audit' RETURNING next - $2 AS first), \
     w AS (INSERT INTO kura_data.audit_log (seq, leaf) \
       SELECT c.first + x.i - 1, x.leaf FROM c, unnest($1::bytea[]) WITH ORDINALITY AS x(leaf, i)) \
     SELECT first FROM c";

/// Appends leaves in the caller's transaction and returns the first sequence number. The
/// counter row stays locked until the transaction ends, which makes the sequence gapless and
/// totally ordered across processes. Call it last in a transaction, so the lock is held
/// briefly and always acquired after any subject row lock.
fn append_leaves(
    tx: &mut postgres::Transaction<'_>,
    stmts: &mut HashMap<&'static str, Statement>,
    audit: &[AuditLeaf],
) -> Result<u64, StoreError> {
    if audit.is_empty() {
        let n: i64 = tx
            .query_one(
                "SELECT next FROM kura_data.counters WHERE name = 'audit'",
                &[],
            )?
            .get(0);
        return Ok(n as u64);
    }
    let stmt = prepared(tx, stmts, APPEND_AUDIT)?;
    let leaves: Vec<&[u8]> = audit.iter().map(Vec::as_slice).collect();
    let n = to_i64(audit.len() as u64)?;
    let first: i64 = tx.query_one(&stmt, &[&leaves, &n])?.get(0);
    Ok(first as u64)
}

/// Batches up to this many subjects are written with one prepared `INSERT` per row rather
/// than `COPY`. On Citus a `COPY` into a distributed table sets up a copy stream per shard it
/// touches: one subject's `COPY` into the blind index took 45-55 ms there, its row inserts
/// are one router statement each. On plain PostgreSQL the two ways cost about the same at
/// this size.
const ROW_INSERTS_UP_TO: usize = 4;

/// [`Store::insert_subjects`]'s rows for a small batch: keys, subjects, index entries.
fn insert_rows(
    tx: &mut postgres::Transaction<'_>,
    stmts: &mut HashMap<&'static str, Statement>,
    batch: &[NewSubject],
) -> Result<(), StoreError> {
    const KEY: &str =
        "INSERT INTO kura_keys.data_keys (subject_id, kek_version, wrapped) VALUES ($1, $2, $3)";
    const ROW: &str = "INSERT INTO kura_data.subjects \
         (subject_id, collection, iid, country, locale, version, fields, tokens) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7)";
    const ENTRY: &str = "INSERT INTO kura_data.blind_index (token, subject_id, collection, iid) \
         VALUES ($1, $2, $3, $4)";
    for s in batch {
        let key = prepared(tx, stmts, KEY)?;
        let kv = kek_version_to_sql(s.wrapped_key.kek_version)?;
        tx.execute(&key, &[&s.id, &kv, &s.wrapped_key.bytes.as_slice()])?;
    }
    for s in batch {
        let row = prepared(tx, stmts, ROW)?;
        let iid = to_i64(s.iid)?;
        let tokens = tokens_to_blob(&s.tokens);
        tx.execute(
            &row,
            &[
                &s.id,
                &s.collection,
                &iid,
                &s.country,
                &s.locale,
                &s.fields.as_slice(),
                &tokens.as_slice(),
            ],
        )?;
        let mut seen: Vec<&BlindToken> = Vec::with_capacity(s.tokens.len());
        for t in &s.tokens {
            if !seen.contains(&t) {
                seen.push(t);
                let entry = prepared(tx, stmts, ENTRY)?;
                tx.execute(&entry, &[&t.as_slice(), &s.id, &s.collection, &iid])?;
            }
        }
    }
    Ok(())
}

/// [`Store::insert_subjects`]'s rows by binary `COPY`, one stream per table.
fn copy_rows(tx: &mut postgres::Transaction<'_>, batch: &[NewSubject]) -> Result<(), StoreError> {
    // Keys first, in the same transaction: a subject row never exists without its key,
    // and a failed batch leaves neither.
    {
        let sink = tx.copy_in(
                "COPY kura_keys.data_keys (subject_id, kek_version, wrapped) FROM STDIN (FORMAT binary)",
            )?;
        let mut w = BinaryCopyInWriter::new(sink, &[Type::UUID, Type::INT4, Type::BYTEA]);
        for s in batch {
            let kv = kek_version_to_sql(s.wrapped_key.kek_version)?;
            w.write(&[&s.id, &kv, &s.wrapped_key.bytes.as_slice()])?;
        }
        w.finish()?;
    }
    {
        let sink = tx.copy_in(
                "COPY kura_data.subjects (subject_id, collection, iid, country, locale, version, fields, tokens) \
                 FROM STDIN (FORMAT binary)",
            )?;
        let mut w = BinaryCopyInWriter::new(
            sink,
            &[
                Type::UUID,
                Type::TEXT,
                Type::INT8,
                Type::TEXT,
                Type::TEXT,
                Type::INT8,
                Type::BYTEA,
                Type::BYTEA,
            ],
        );
        for s in batch {
            let iid = to_i64(s.iid)?;
            let tokens = tokens_to_blob(&s.tokens);
            let row: [&(dyn ToSql + Sync); 8] = [
                &s.id,
                &s.collection,
                &iid,
                &s.country,
                &s.locale,
                &1i64,
                &s.fields.as_slice(),
                &tokens.as_slice(),
            ];
            w.write(&row)?;
        }
        w.finish()?;
    }
    if batch.iter().any(|s| !s.tokens.is_empty()) {
        let sink = tx.copy_in(
            "COPY kura_data.blind_index (token, subject_id, collection, iid) \
                 FROM STDIN (FORMAT binary)",
        )?;
        let mut w =
            BinaryCopyInWriter::new(sink, &[Type::BYTEA, Type::UUID, Type::TEXT, Type::INT8]);
        for s in batch {
            let iid = to_i64(s.iid)?;
            let mut seen: Vec<&BlindToken> = Vec::with_capacity(s.tokens.len());
            for t in &s.tokens {
                // Two fields with one token value index the subject once.
                if !seen.contains(&t) {
                    seen.push(t);
                    w.write(&[&t.as_slice(), &s.id, &s.collection, &iid])?;
                }
            }
        }
        w.finish()?;
    }
    Ok(())
}

impl PostgresStore {
    /// Writes the leaves of several `append_audit` requests in one transaction, each
    /// request's leaves consecutive; returns each request's first index.
    fn write_leaf_groups(&self, groups: &[(u64, Vec<AuditLeaf>)]) -> Result<Vec<u64>, StoreError> {
        let leaves: Vec<&[u8]> = groups
            .iter()
            .flat_map(|(_, l)| l.iter().map(Vec::as_slice))
            .collect();
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        // One statement in its own implicit transaction: the counter row is locked from the
        // increment to that statement's commit, as in `append_leaves`, with one round trip
        // instead of three (BEGIN, the statement, COMMIT).
        let stmt = prepared(client, stmts, APPEND_AUDIT)?;
        let n = to_i64(leaves.len() as u64)?;
        let first: i64 = client.query_one(&stmt, &[&leaves, &n])?.get(0);
        let mut next = first as u64;
        Ok(groups
            .iter()
            .map(|(_, l)| {
                let first = next;
                next += l.len() as u64;
                first
            })
            .collect())
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn card_tokens(&self, subject: &Uuid) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        cards::card_tokens(client, stmts, subject)
    }

    fn vault_id(&self) -> Result<[u8; 16], StoreError> {
        Ok(self.vault_id)
    }

    fn reserve_iids(&self, n: u64) -> Result<u64, StoreError> {
        const SQL: &str =
            "UPDATE kura_data.counters SET next = next + $1 WHERE name = 'iid' RETURNING next - $1";
        // Held across the round trip: a second caller waits for the block this one fetches
        // instead of fetching its own.
        let mut block = lock(&self.iids);
        let (next, end) = *block;
        if end - next >= n {
            *block = (next + n, end);
            return Ok(next);
        }
        let take = n
            .checked_add(IID_BLOCK)
            .ok_or_else(|| StoreError::Backend("internal id overflow".into()))?;
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let first = client.query_one(&stmt, &[&to_i64(take)?])?.get::<_, i64>(0) as u64;
        *block = (first + n, first + take);
        Ok(first)
    }

    fn insert_subjects(&self, batch: &[NewSubject], audit: &[AuditLeaf]) -> Result<(), StoreError> {
        if batch.is_empty() && audit.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        // Keys first, in the same transaction: a subject row never exists without its key,
        // and a failed batch leaves neither.
        if batch.len() <= ROW_INSERTS_UP_TO {
            insert_rows(&mut tx, stmts, batch)?;
        } else {
            copy_rows(&mut tx, batch)?;
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn subject(&self, collection: &str, id: &Uuid) -> Result<Option<StoredSubject>, StoreError> {
        const SQL: &str = "SELECT s.iid, s.country, s.locale, s.version, s.fields, s.tokens, \
                k.kek_version, k.wrapped, k.epoch, k.restricted, \
                (SELECT string_agg(c.token, ',' ORDER BY c.token) FROM kura_data.cards c \
                  WHERE c.subject_id = $1) \
             FROM kura_data.subjects s JOIN kura_keys.data_keys k ON k.subject_id = s.subject_id \
             WHERE s.subject_id = $1 AND k.subject_id = $1 AND s.collection = $2";
        // Every table filtered by `$1` itself, not only through the join: a correlated
        // subquery (`c.subject_id = s.subject_id`) made Citus send this read to all 32 shards
        // (70 ms); filtered by the parameter it is one shard.
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        // Without its key (shredded) a subject cannot be read: the inner join drops it.
        let Some(r) = client.query_opt(&stmt, &[id, &collection])? else {
            return Ok(None);
        };
        let kek_version: i32 = r.get(6);
        Ok(Some(StoredSubject {
            id: *id,
            iid: r.get::<_, i64>(0) as u64,
            collection: collection.to_owned(),
            country: r.get(1),
            locale: r.get(2),
            version: r.get(3),
            fields: r.get(4),
            tokens: tokens_from_blob(r.get(5))?,
            wrapped_key: WrappedKey {
                kek_version: u32::try_from(kek_version)
                    .map_err(|_| StoreError::Corrupt("negative kek version".into()))?,
                bytes: r.get(7),
            },
            key_epoch: r.get::<_, i64>(8).max(0) as u64,
            restricted: r.get(9),
            cards: Some(crate::record::split_tokens(r.get::<_, Option<&str>>(10))),
        }))
    }

    fn update_subject(
        &self,
        update: &SubjectUpdate,
        audit: &[AuditLeaf],
    ) -> Result<UpdateOutcome, StoreError> {
        const READ: &str = "SELECT version, tokens, iid FROM kura_data.subjects \
             WHERE subject_id = $1 AND collection = $2";
        const WRITE: &str = "UPDATE kura_data.subjects \
             SET fields = $4, tokens = $5, version = version + 1 \
             WHERE subject_id = $1 AND collection = $2 AND version = $3 RETURNING version";
        const UNINDEX: &str =
            "DELETE FROM kura_data.blind_index WHERE subject_id = $1 AND token = ANY($2::bytea[])";
        const INDEX: &str = "INSERT INTO kura_data.blind_index (token, subject_id, collection, iid) \
             SELECT DISTINCT t, $1::uuid, $3::text, $4::bigint FROM unnest($2::bytea[]) AS t \
             ON CONFLICT DO NOTHING";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let read = prepared(&mut tx, stmts, READ)?;
        let Some(row) = tx.query_opt(&read, &[&update.id, &update.collection])? else {
            return Ok(UpdateOutcome::NotFound);
        };
        let version: i64 = row.get(0);
        if version != update.expected_version {
            return Ok(UpdateOutcome::Conflict);
        }
        // The conditional UPDATE decides: it waits for a concurrent writer of this row and
        // then matches nothing if that writer moved the version on. Versions only grow, so
        // when it does match, `old` are the tokens of exactly the version it replaced.
        let old = tokens_from_blob(row.get(1))?;
        let iid: i64 = row.get(2);
        let write = prepared(&mut tx, stmts, WRITE)?;
        let new_blob = tokens_to_blob(&update.tokens);
        let written = tx.query_opt(
            &write,
            &[
                &update.id,
                &update.collection,
                &update.expected_version,
                &update.fields.as_slice(),
                &new_blob.as_slice(),
            ],
        )?;
        let Some(written) = written else {
            let still = tx.query_opt(&read, &[&update.id, &update.collection])?;
            return Ok(if still.is_some() {
                UpdateOutcome::Conflict
            } else {
                UpdateOutcome::NotFound
            });
        };
        let new_version: i64 = written.get(0);
        let gone: Vec<&[u8]> = old
            .iter()
            .filter(|t| !update.tokens.contains(t))
            .map(|t| t.as_slice())
            .collect();
        if !gone.is_empty() {
            let s = prepared(&mut tx, stmts, UNINDEX)?;
            tx.execute(&s, &[&update.id, &gone])?;
        }
        let added: Vec<&[u8]> = update
            .tokens
            .iter()
            .filter(|t| !old.contains(t))
            .map(|t| t.as_slice())
            .collect();
        if !added.is_empty() {
            let s = prepared(&mut tx, stmts, INDEX)?;
            tx.execute(&s, &[&update.id, &added, &update.collection, &iid])?;
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(UpdateOutcome::Updated(new_version))
    }

    fn advance_epoch(&self, id: &Uuid, epoch: u64) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE kura_keys.data_keys SET epoch = $2 \
             WHERE subject_id = $1 AND epoch < $2";
        let epoch = i64::try_from(epoch)
            .map_err(|_| StoreError::Corrupt("seal epoch out of range".into()))?;
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        client.execute(&stmt, &[id, &epoch])?;
        Ok(())
    }

    fn delete_subject(
        &self,
        collection: &str,
        id: &Uuid,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        const LOCK: &str = "SELECT tokens FROM kura_data.subjects \
             WHERE subject_id = $1 AND collection = $2 FOR UPDATE";
        const KEY_LOCK: &str = "SELECT 1 FROM kura_keys.data_keys WHERE subject_id = $1 FOR UPDATE";
        const SHRED: &str = "DELETE FROM kura_keys.data_keys WHERE subject_id = $1";
        const UNINDEX: &str =
            "DELETE FROM kura_data.blind_index WHERE subject_id = $1 AND token = ANY($2::bytea[])";
        const REMOVE: &str = "DELETE FROM kura_data.subjects WHERE subject_id = $1";
        // Erasure is complete: the subject's login-throttle state and recovery tokens go too.
        const FORGET_STATE: &str = "DELETE FROM kura_data.credential_state WHERE subject_id = $1";
        const FORGET_TOKENS: &str = "DELETE FROM kura_data.recovery_tokens WHERE subject_id = $1";
        const FORGET_ACTIVITY: &str =
            "DELETE FROM kura_data.subject_activity WHERE subject_id = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let mut tx = client.transaction()?;
        let lock_stmt = prepared(&mut tx, stmts, LOCK)?;
        let Some(row) = tx.query_opt(&lock_stmt, &[id, &collection])? else {
            return Ok(false);
        };
        let tokens = tokens_from_blob(row.get(0))?;
        // Issue 13: lock the key row before looking at the subject's cards. A card insert
        // holds it FOR SHARE until it commits: this waits for it, and the deletions below
        // (each statement with a fresh snapshot under READ COMMITTED) see its card; an
        // insert arriving later waits for this transaction, then finds no key and stores
        // nothing.
        let key_lock = prepared(&mut tx, stmts, KEY_LOCK)?;
        tx.query_opt(&key_lock, &[id])?;
        // The subject's cards first (issue 7): sealed PANs and card keys, then metadata.
        cards::erase_subject_cards(&mut tx, stmts, id)?;
        // Key first: crypto-shredding is what makes the erasure reach backups too.
        let shred = prepared(&mut tx, stmts, SHRED)?;
        let had_key = tx.execute(&shred, &[id])? > 0;
        let tokens: Vec<&[u8]> = tokens.iter().map(|t| t.as_slice()).collect();
        let unindex = prepared(&mut tx, stmts, UNINDEX)?;
        tx.execute(&unindex, &[id, &tokens])?;
        let remove = prepared(&mut tx, stmts, REMOVE)?;
        tx.execute(&remove, &[id])?;
        for sql in [FORGET_STATE, FORGET_TOKENS, FORGET_ACTIVITY] {
            let stmt = prepared(&mut tx, stmts, sql)?;
            tx.execute(&stmt, &[id])?;
        }
        append_leaves(&mut tx, stmts, audit)?;
        tx.commit()?;
        Ok(had_key)
    }

    fn search(
        &self,
        collection: &str,
        token: &BlindToken,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        // One table, one key: the index entry carries its subject's collection and internal
        // id (schema 11), written and deleted with the subject in one transaction. On Citus
        // `blind_index` is distributed by token, so this is one shard (docs/scale-out.md).
        const SQL: &str = "SELECT subject_id, iid FROM kura_data.blind_index \
             WHERE token = $1 AND collection = $2 ORDER BY iid LIMIT $3";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let rows = client.query(&stmt, &[&token.as_slice(), &collection, &limit])?;
        Ok(rows
            .iter()
            .map(|r| SearchHit {
                id: r.get(0),
                iid: r.get::<_, i64>(1) as u64,
            })
            .collect())
    }

    fn scan_subjects(&self, after_iid: u64, limit: usize) -> Result<Vec<SubjectScan>, StoreError> {
        const SQL: &str = "SELECT iid, subject_id, collection, country, fields \
             FROM kura_data.subjects WHERE iid > $1 ORDER BY iid LIMIT $2";
        let after = i64::try_from(after_iid).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query(&stmt, &[&after, &limit])?
            .iter()
            .map(|r| SubjectScan {
                iid: r.get::<_, i64>(0) as u64,
                id: r.get(1),
                collection: r.get(2),
                country: r.get(3),
                fields: r.get(4),
            })
            .collect())
    }

    fn kek_version_counts(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        const SQL: &str = "SELECT kek_version, count(*) FROM kura_keys.data_keys \
             GROUP BY kek_version ORDER BY kek_version";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        Ok(client
            .query(&stmt, &[])?
            .into_iter()
            .map(|r| {
                (
                    r.get::<_, i32>(0).max(0) as u32,
                    r.get::<_, i64>(1).max(0) as u64,
                )
            })
            .collect())
    }

    fn keys_to_rewrap(
        &self,
        target: u32,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<(Uuid, WrappedKey)>, StoreError> {
        const SQL: &str = "SELECT subject_id, kek_version, wrapped FROM kura_keys.data_keys \
             WHERE ($1::uuid IS NULL OR subject_id > $1) AND kek_version <> $2 \
             ORDER BY subject_id LIMIT $3";
        let target = kek_version_to_sql(target)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        client
            .query(&stmt, &[&after, &target, &limit])?
            .into_iter()
            .map(|r| {
                Ok((
                    r.get::<_, Uuid>(0),
                    WrappedKey {
                        kek_version: u32::try_from(r.get::<_, i32>(1))
                            .map_err(|_| StoreError::Corrupt("negative kek_version".into()))?,
                        bytes: r.get(2),
                    },
                ))
            })
            .collect()
    }

    fn rewrap_keys(&self, items: &[Rewrap]) -> Result<Vec<bool>, StoreError> {
        const SQL: &str = "UPDATE kura_keys.data_keys SET kek_version = $4, wrapped = $5 \
             WHERE subject_id = $1 AND kek_version = $2 AND wrapped = $3";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let mut tx = client.transaction()?;
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            let n = tx.execute(
                &stmt,
                &[
                    &it.subject,
                    &kek_version_to_sql(it.old.kek_version)?,
                    &it.old.bytes,
                    &kek_version_to_sql(it.new.kek_version)?,
                    &it.new.bytes,
                ],
            )?;
            out.push(n == 1);
        }
        tx.commit()?;
        Ok(out)
    }

    fn count_subjects(&self, collection: &str) -> Result<u64, StoreError> {
        // Canaries are subjects too, but never counted for operators.
        const SQL: &str = "SELECT (SELECT count(*) FROM kura_data.subjects WHERE collection = $1) \
             - (SELECT count(*) FROM kura_keys.canaries WHERE collection = $1)";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let n: i64 = client.query_one(&stmt, &[&collection])?.get(0);
        Ok(n as u64)
    }

    fn append_audit(&self, audit: &[AuditLeaf]) -> Result<u64, StoreError> {
        if audit.is_empty() {
            return self.audit_size();
        }
        let group = &self.appends;
        let mut st = lock(&group.state);
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.pending.push((ticket, audit.to_vec()));
        loop {
            if let Some(r) = st.results.remove(&ticket) {
                return r.map_err(StoreError::Backend);
            }
            if st.writing {
                st = group
                    .done
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            st.writing = true;
            let batch = std::mem::take(&mut st.pending);
            drop(st);
            let mut guard = WriterGuard {
                group,
                tickets: batch.iter().map(|(t, _)| *t).collect(),
                published: false,
            };
            let written = self.write_leaf_groups(&batch);
            st = lock(&group.state);
            match written {
                Ok(firsts) => {
                    for ((t, _), first) in batch.iter().zip(firsts) {
                        st.results.insert(*t, Ok(first));
                    }
                }
                Err(e) => {
                    for (t, _) in &batch {
                        st.results.insert(*t, Err(e.to_string()));
                    }
                }
            }
            st.writing = false;
            guard.published = true;
            drop(guard);
            group.done.notify_all();
        }
    }

    fn audit_size(&self) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT next FROM kura_data.counters WHERE name = 'audit'";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let n: i64 = client.query_one(&stmt, &[])?.get(0);
        Ok(n as u64)
    }

    fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO kura_data.api_keys \
             (prefix, hash, principal, kind, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        client.execute(
            &stmt,
            &[
                &key.prefix,
                &key.hash.as_slice(),
                &key.principal,
                &key.kind.as_str(),
                &key.created_at,
                &key.revoked_at,
            ],
        )?;
        Ok(())
    }

    fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        const SQL: &str = "SELECT hash, principal, kind, created_at, revoked_at \
             FROM kura_data.api_keys WHERE prefix = $1";
        let mut conn = self.pool.get()?;
        let Conn { client, stmts } = &mut *conn;
        let stmt = prepared(client, stmts, SQL)?;
        let Some(r) = client.query_opt(&stmt, &[&prefix])? else {
            return Ok(None);
        };
        let hash: Vec<u8> = r.get(0);
        Ok(Some(ApiKeyRecord {
            prefix: prefix.to_owned(),
            hash: hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("api key hash is not 32 bytes".into()))?,
            principal: r.get(1),
            kind: directory::principal_type(&r, 2)?,
            created_at: r.get(3),
            revoked_at: r.get(4),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("host=h user=u dbname=test", "x"),
            "host=h user=u dbname=x"
        );
    }
}
