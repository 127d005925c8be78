//! The embedded backend: two SQLite files in the data directory, `data.db` (subjects, blind
//! index, access log) and `keys.db` (wrapped data keys), both in WAL mode.
//!
//! One writer connection pair serializes writes inside this process (SQLite allows one
//! writer at a time anyway); other processes on the same files are coordinated by SQLite's
//! own locking (`BEGIN IMMEDIATE` and a busy timeout). Reads use a pool of connection pairs
//! and never block the writer.

mod audit;
mod cards;
mod containment;
mod credentials;
mod directory;
mod notices;
mod rights;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use kura_crypto::{BlindToken, WrappedKey};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use crate::record::{tokens_from_blob, tokens_to_blob};
use crate::{
    ApiKeyRecord, AuditLeaf, NewSubject, Rewrap, SCHEMA_VERSION, SearchHit, Store, StoreError,
    StoredSubject, SubjectScan, SubjectUpdate, UpdateOutcome,
};

const DATA_MIGRATIONS: &[&str] = &[
    include_str!("sqlite/data_v1.sql"),
    include_str!("sqlite/data_v2.sql"),
    include_str!("sqlite/data_v3.sql"),
    include_str!("sqlite/data_v4.sql"),
    include_str!("sqlite/data_v5.sql"),
    include_str!("sqlite/data_v6.sql"),
    include_str!("sqlite/data_v7.sql"),
    include_str!("sqlite/data_v8.sql"),
    include_str!("sqlite/data_v9.sql"),
    include_str!("sqlite/data_v10.sql"),
    include_str!("sqlite/data_v11.sql"),
];
const KEYS_MIGRATIONS: &[&str] = &[
    include_str!("sqlite/keys_v1.sql"),
    include_str!("sqlite/keys_v2.sql"),
    include_str!("sqlite/keys_v3.sql"),
    include_str!("sqlite/keys_v4.sql"),
    include_str!("sqlite/keys_v5.sql"),
    include_str!("sqlite/keys_v6.sql"),
    include_str!("sqlite/keys_v7.sql"),
    include_str!("sqlite/keys_v8.sql"),
    include_str!("sqlite/keys_v9.sql"),
    include_str!("sqlite/keys_v10.sql"),
    include_str!("sqlite/keys_v11.sql"),
];

/// Name of the data file inside the data directory.
pub const DATA_FILE: &str = "data.db";
/// Name of the containment-window file inside the data directory (derived state: counts of
/// who reached which internal ids, no field value; created on open when missing).
pub const CONTAIN_FILE: &str = "contain.db";
/// Name of the key-store file inside the data directory.
pub const KEYS_FILE: &str = "keys.db";

/// Durability of commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives a process crash.
    #[default]
    Normal,
    /// `synchronous=FULL`: survives power loss.
    Full,
}

struct Pair {
    data: Connection,
    keys: Connection,
}

/// The embedded SQLite store.
pub struct SqliteStore {
    dir: PathBuf,
    durability: Durability,
    writer: Mutex<Pair>,
    /// The containment windows' own file (`contain.db`), so that counting a read does not
    /// invalidate the page caches of the connections reading `data.db`.
    contain: Mutex<Connection>,
    readers: Readers,
    vault_id: [u8; 16],
    /// Stops the background checkpointer when the store is dropped.
    _checkpointer: Checkpointer,
}

/// Copies the write-ahead logs back into `data.db` and `keys.db` from a thread of its own,
/// with PASSIVE checkpoints (they never block the writer or a reader), whenever a log holds
/// more than [`CHECKPOINT_AT_BYTES`]. Without it the writer's commit that crosses SQLite's
/// auto-checkpoint threshold copies the whole log and syncs the file while every request
/// waiting for its access event waits with it (the 99th-percentile latency of reads).
/// SQLite's own auto-checkpoint stays on at a higher threshold as a backstop.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A log larger than this is checkpointed by the background thread (16 MiB: bulk imports
/// touch the same index pages again and again, and a larger interval copies each page
/// fewer times).
const CHECKPOINT_AT_BYTES: u64 = 16 << 20;

impl Checkpointer {
    fn start(dir: &Path, durability: Durability) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let dir = dir.to_owned();
        let spawned = std::thread::Builder::new()
            .name("kura-checkpoint".into())
            .spawn(move || {
                let open = |f: &str| -> Option<Connection> {
                    let c = open_conn(&dir.join(f), durability, false).ok()?;
                    c.busy_timeout(std::time::Duration::from_millis(100)).ok()?;
                    Some(c)
                };
                let (Some(data), Some(keys)) = (open(DATA_FILE), open(KEYS_FILE)) else {
                    return;
                };
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    for (conn, file) in [(&data, DATA_FILE), (&keys, KEYS_FILE)] {
                        let wal = dir.join(format!("{file}-wal"));
                        if std::fs::metadata(&wal).map_or(0, |m| m.len()) > CHECKPOINT_AT_BYTES {
                            // A checkpoint that could not finish (readers on old frames)
                            // is simply taken again on a later round.
                            let _ =
                                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                        }
                    }
                }
            });
        // Without the thread SQLite's auto-checkpoint still runs (inside commits): nothing
        // is lost but latency.
        drop(spawned);
        Checkpointer { stop }
    }
}

/// The pool of reading connection pairs: at most [`Readers::max`] exist; a caller that finds
/// none idle waits for one to be handed back. (Opening a pair per request beyond a fixed
/// pool, as before, cost two file opens and two schema parses per request exactly when the
/// server was busiest: throughput fell as load rose.)
struct Readers {
    /// Idle pairs, and how many pairs exist (idle or lent out).
    state: Mutex<(Vec<Pair>, usize)>,
    freed: Condvar,
    max: usize,
}

impl Readers {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Readers {
            state: Mutex::new((Vec::new(), 0)),
            freed: Condvar::new(),
            // Reads are CPU-bound once the pages are in memory; a few more than the cores
            // cover reads that wait on the disk.
            max: (cores * 4).clamp(8, 64),
        }
    }
}

/// The page cache of a reading connection, in KiB. Every commit of another connection
/// (the access log's group commits come every few milliseconds under load) empties a
/// reader's cache in WAL mode, and emptying costs time in proportion to what it holds: a
/// small cache serves one read's pages and is cheap to empty. (Memory-mapping the file was
/// tried and is worse: SQLite unmaps the whole file at the same moment.)
const READER_CACHE_KIB: i64 = 2_048;

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a connection leaves SQLite itself consistent (an open
    // transaction is rolled back when the next BEGIN fails or the connection drops), so
    // recovering the guard from a poisoned mutex is safe.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn open_conn(path: &Path, durability: Durability, create: bool) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Query plans do not depend on bound values (every statement here is a lookup by key
    // or a scan of a known index). Without this, SQLite marks statements to be compiled
    // again whenever a bound value changes (its cached statements were re-parsed on most
    // reads: 40 % of a read's time, measured by `perf`).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        },
    )?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Freed pages are overwritten with zeros, so deleted sealed fields and shredded keys
    // do not linger in the file.
    conn.pragma_update(None, "secure_delete", "ON")?;
    // A backstop at ~160 MB of log: the store's checkpointer thread copies the log back in
    // the background long before this (a checkpoint inside a commit stalls every waiter).
    conn.pragma_update(None, "wal_autocheckpoint", 40_000)?;
    Ok(conn)
}

fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    let v: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let v = v.ok_or_else(|| StoreError::Corrupt("meta.schema_version is missing".into()))?;
    std::str::from_utf8(&v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("meta.schema_version is not a number".into()))
}

fn migrate_conn(conn: &mut Connection, migrations: &[&str]) -> Result<u32, StoreError> {
    let has_meta: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |r| r.get(0),
    )?;
    let current = if has_meta { schema_version(conn)? } else { 0 };
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
            [(i as u32 + 1).to_string().into_bytes()],
        )?;
        tx.commit()?;
    }
    Ok(SCHEMA_VERSION)
}

impl SqliteStore {
    /// Creates a new vault store in `dir` (created if missing), bound to `vault_id`.
    ///
    /// # Errors
    /// [`StoreError::AlreadyInitialized`] if `dir` already holds a vault.
    pub fn create(
        dir: &Path,
        vault_id: [u8; 16],
        durability: Durability,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        // Only the vault's owner may list or read the data directory.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
                StoreError::Backend(format!("cannot restrict {}: {e}", dir.display()))
            })?;
        }
        let data_path = dir.join(DATA_FILE);
        if data_path.exists() {
            return Err(StoreError::AlreadyInitialized(dir.display().to_string()));
        }
        let mut data = open_conn(&data_path, durability, true)?;
        let mut keys = open_conn(&dir.join(KEYS_FILE), durability, true)?;
        migrate_conn(&mut keys, KEYS_MIGRATIONS)?;
        keys.execute(
            "INSERT INTO meta (key, value) VALUES ('vault_id', ?1)",
            [vault_id.as_slice()],
        )?;
        migrate_conn(&mut data, DATA_MIGRATIONS)?;
        data.execute(
            "INSERT INTO meta (key, value) VALUES ('vault_id', ?1)",
            [vault_id.as_slice()],
        )?;
        drop((data, keys));
        Self::open(dir, durability)
    }

    /// Applies pending migrations to an existing store.
    ///
    /// # Errors
    /// [`StoreError::NotInitialized`], [`StoreError::SchemaTooNew`], backend failures.
    pub fn migrate(dir: &Path, durability: Durability) -> Result<u32, StoreError> {
        let (mut data, mut keys) = Self::open_pair_checked(dir, durability)?;
        migrate_conn(&mut keys, KEYS_MIGRATIONS)?;
        migrate_conn(&mut data, DATA_MIGRATIONS)
    }

    fn open_pair_checked(
        dir: &Path,
        durability: Durability,
    ) -> Result<(Connection, Connection), StoreError> {
        if !dir.join(DATA_FILE).exists() || !dir.join(KEYS_FILE).exists() {
            return Err(StoreError::NotInitialized(dir.display().to_string()));
        }
        Ok((
            open_conn(&dir.join(DATA_FILE), durability, false)?,
            open_conn(&dir.join(KEYS_FILE), durability, false)?,
        ))
    }

    /// Opens an existing store, refusing one whose schema is newer than this build's or
    /// whose two files belong to different vaults.
    ///
    /// # Errors
    /// [`StoreError::NotInitialized`], [`StoreError::SchemaTooNew`], [`StoreError::Corrupt`].
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        let (data, keys) = Self::open_pair_checked(dir, durability)?;
        for conn in [&data, &keys] {
            let found = schema_version(conn)?;
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
        }
        let id_of = |c: &Connection| -> Result<[u8; 16], StoreError> {
            let v: Vec<u8> =
                c.query_row("SELECT value FROM meta WHERE key = 'vault_id'", [], |r| {
                    r.get(0)
                })?;
            v.try_into()
                .map_err(|_| StoreError::Corrupt("meta.vault_id is not 16 bytes".into()))
        };
        let vault_id = id_of(&data)?;
        if id_of(&keys)? != vault_id {
            return Err(StoreError::Corrupt(
                "data.db and keys.db belong to different vaults".into(),
            ));
        }
        let contain = containment::open(&dir.join(CONTAIN_FILE), durability)?;
        Ok(SqliteStore {
            dir: dir.to_owned(),
            durability,
            writer: Mutex::new(Pair { data, keys }),
            contain: Mutex::new(contain),
            readers: Readers::new(),
            vault_id,
            _checkpointer: Checkpointer::start(dir, durability),
        })
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Pair) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let r = &self.readers;
        let pair = {
            let mut st = lock(&r.state);
            loop {
                if let Some(p) = st.0.pop() {
                    break Some(p);
                }
                if st.1 < r.max {
                    st.1 += 1;
                    break None;
                }
                st = r
                    .freed
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let pair = match pair {
            Some(p) => p,
            None => match self.open_reader() {
                Ok(p) => p,
                Err(e) => {
                    lock(&r.state).1 -= 1;
                    r.freed.notify_one();
                    return Err(e);
                }
            },
        };
        let out = f(&pair);
        lock(&r.state).0.push(pair);
        r.freed.notify_one();
        out
    }

    fn open_reader(&self) -> Result<Pair, StoreError> {
        let open = |file: &str| -> Result<Connection, StoreError> {
            let c = open_conn(&self.dir.join(file), self.durability, false)?;
            c.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
            Ok(c)
        };
        Ok(Pair {
            data: open(DATA_FILE)?,
            keys: open(KEYS_FILE)?,
        })
    }
}

fn append_leaves(tx: &rusqlite::Transaction<'_>, audit: &[AuditLeaf]) -> Result<u64, StoreError> {
    let first: i64 = tx.query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_log", [], |r| {
        r.get(0)
    })?;
    let mut stmt = tx.prepare_cached("INSERT INTO audit_log (seq, leaf) VALUES (?1, ?2)")?;
    for (i, leaf) in audit.iter().enumerate() {
        stmt.execute(params![first + i as i64, leaf])?;
    }
    Ok(first as u64)
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend("internal id overflow".into()))
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn card_tokens(&self, subject: &Uuid) -> Result<Vec<String>, StoreError> {
        self.with_reader(|p| cards::card_tokens(p, subject))
    }

    fn vault_id(&self) -> Result<[u8; 16], StoreError> {
        Ok(self.vault_id)
    }

    fn reserve_iids(&self, n: u64) -> Result<u64, StoreError> {
        let w = lock(&self.writer);
        let n = to_i64(n)?;
        let first: i64 = w.data.query_row(
            "UPDATE counters SET next = next + ?1 WHERE name = 'iid' RETURNING next - ?1",
            [n],
            |r| r.get(0),
        )?;
        Ok(first as u64)
    }

    fn insert_subjects(&self, batch: &[NewSubject], audit: &[AuditLeaf]) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        // Keys first: a subject row never exists without its key.
        {
            let tx = w
                .keys
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO data_keys (subject, kek_version, wrapped, epoch) VALUES (?1, ?2, ?3, 1)",
                )?;
                for s in batch {
                    stmt.execute(params![
                        s.id.as_bytes().as_slice(),
                        s.wrapped_key.kek_version,
                        s.wrapped_key.bytes
                    ])?;
                }
            }
            tx.commit()?;
        }
        let result = (|| -> Result<(), StoreError> {
            let tx = w
                .data
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut subj = tx.prepare_cached(
                    "INSERT INTO subjects (iid, id, collection, country, locale, version, fields, tokens) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7)",
                )?;
                let mut idx =
                    tx.prepare_cached("INSERT INTO blind_index (token, iid) VALUES (?1, ?2)")?;
                for s in batch {
                    let iid = to_i64(s.iid)?;
                    subj.execute(params![
                        iid,
                        s.id.as_bytes().as_slice(),
                        s.collection,
                        s.country,
                        s.locale,
                        s.fields,
                        tokens_to_blob(&s.tokens)
                    ])?;
                    for t in &s.tokens {
                        idx.execute(params![t.as_slice(), iid])?;
                    }
                }
            }
            append_leaves(&tx, audit)?;
            tx.commit()?;
            Ok(())
        })();
        if result.is_err() {
            // Remove the keys of the rows that were not written; best effort, an orphan
            // wrapped key is unreadable without its row and harmless.
            if let Ok(tx) = w.keys.transaction() {
                if let Ok(mut stmt) = tx.prepare_cached("DELETE FROM data_keys WHERE subject = ?1")
                {
                    for s in batch {
                        let _ = stmt.execute([s.id.as_bytes().as_slice()]);
                    }
                }
                let _ = tx.commit();
            }
        }
        result
    }

    fn subject(&self, collection: &str, id: &Uuid) -> Result<Option<StoredSubject>, StoreError> {
        self.with_reader(|p| {
            // The key (and its seal epoch) first, the row second: the two files are read in
            // two transactions, and a writer raises the epoch only after its row committed,
            // so a row read after its epoch is never older than that epoch (a concurrent
            // write cannot make a legitimate row look rolled back).
            let key = p
                .keys
                .prepare_cached(
                    "SELECT kek_version, wrapped, epoch, restricted FROM data_keys \
                     WHERE subject = ?1",
                )?
                .query_row([id.as_bytes().as_slice()], |r| {
                    Ok((
                        WrappedKey {
                            kek_version: r.get(0)?,
                            bytes: r.get(1)?,
                        },
                        r.get::<_, i64>(2)?,
                        r.get::<_, bool>(3)?,
                    ))
                })
                .optional()?;
            let Some((wrapped_key, key_epoch, restricted)) = key else {
                // Unknown, or shredded: the row may linger after an interrupted erasure, but
                // it can never be read again.
                return Ok(None);
            };
            let row = p
                .data
                .prepare_cached(
                    // The card tokens in the same statement: one read transaction and one
                    // statement per file for a whole subject.
                    "SELECT iid, country, locale, version, fields, tokens, \
                       (SELECT group_concat(token, ',') FROM \
                          (SELECT token FROM cards WHERE subject = ?1 ORDER BY token)) \
                     FROM subjects WHERE id = ?1 AND collection = ?2",
                )?
                .query_row(params![id.as_bytes().as_slice(), collection], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                        r.get::<_, Vec<u8>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })
                .optional()?;
            let Some((iid, country, locale, version, fields, tokens, cards)) = row else {
                return Ok(None);
            };
            Ok(Some(StoredSubject {
                id: *id,
                iid: iid as u64,
                collection: collection.to_owned(),
                country,
                locale,
                version,
                fields,
                tokens: tokens_from_blob(&tokens)?,
                wrapped_key,
                key_epoch: key_epoch.max(0) as u64,
                restricted,
                cards: Some(crate::record::split_tokens(cards.as_deref())),
            }))
        })
    }

    fn update_subject(
        &self,
        update: &SubjectUpdate,
        audit: &[AuditLeaf],
    ) -> Result<UpdateOutcome, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(i64, i64, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT iid, version, tokens FROM subjects WHERE id = ?1 AND collection = ?2",
            )?
            .query_row(
                params![update.id.as_bytes().as_slice(), update.collection],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((iid, version, old)) = row else {
            return Ok(UpdateOutcome::NotFound);
        };
        if version != update.expected_version {
            return Ok(UpdateOutcome::Conflict);
        }
        let old = tokens_from_blob(&old)?;
        {
            let mut del =
                tx.prepare_cached("DELETE FROM blind_index WHERE token = ?1 AND iid = ?2")?;
            for t in old.iter().filter(|t| !update.tokens.contains(t)) {
                del.execute(params![t.as_slice(), iid])?;
            }
            let mut ins = tx
                .prepare_cached("INSERT OR IGNORE INTO blind_index (token, iid) VALUES (?1, ?2)")?;
            for t in update.tokens.iter().filter(|t| !old.contains(t)) {
                ins.execute(params![t.as_slice(), iid])?;
            }
            tx.prepare_cached(
                "UPDATE subjects SET fields = ?1, tokens = ?2, version = version + 1 WHERE iid = ?3",
            )?
            .execute(params![update.fields, tokens_to_blob(&update.tokens), iid])?;
        }
        append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(UpdateOutcome::Updated(version + 1))
    }

    fn advance_epoch(&self, id: &Uuid, epoch: u64) -> Result<(), StoreError> {
        let w = lock(&self.writer);
        w.keys
            .prepare_cached("UPDATE data_keys SET epoch = ?2 WHERE subject = ?1 AND epoch < ?2")?
            .execute(params![id.as_bytes().as_slice(), to_i64(epoch)?])?;
        Ok(())
    }

    fn delete_subject(
        &self,
        collection: &str,
        id: &Uuid,
        audit: &[AuditLeaf],
    ) -> Result<bool, StoreError> {
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(i64, Vec<u8>)> = tx
            .prepare_cached("SELECT iid, tokens FROM subjects WHERE id = ?1 AND collection = ?2")?
            .query_row(params![id.as_bytes().as_slice(), collection], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((iid, tokens)) = row else {
            return Ok(false);
        };
        append_leaves(&tx, audit)?;
        // Crypto-shred first, in its own committed key-store transaction: the subject's
        // cards (issue 7: sealed PANs and keys; their metadata below), then its data key.
        // From here on its sealed fields and cards are unreadable everywhere, backups
        // included. This data-store transaction holds the write lock that a card insert
        // takes before it checks the key (issue 13), so no card is inserted in between.
        let existed_key = cards::shred_subject(&mut w.keys, id)?;
        {
            let mut del =
                tx.prepare_cached("DELETE FROM blind_index WHERE token = ?1 AND iid = ?2")?;
            for t in tokens_from_blob(&tokens)? {
                del.execute(params![t.as_slice(), iid])?;
            }
            tx.execute("DELETE FROM subjects WHERE iid = ?1", [iid])?;
            tx.execute(
                "DELETE FROM cards WHERE subject = ?1",
                [id.as_bytes().as_slice()],
            )?;
            // Erasure is complete: login-throttle state and recovery tokens go too.
            tx.execute(
                "DELETE FROM credential_state WHERE subject = ?1",
                [id.as_bytes().as_slice()],
            )?;
            tx.execute(
                "DELETE FROM recovery_tokens WHERE subject = ?1",
                [id.as_bytes().as_slice()],
            )?;
            // And when it last used the service (retention rules).
            tx.execute(
                "DELETE FROM subject_activity WHERE subject = ?1",
                [id.as_bytes().as_slice()],
            )?;
        }
        tx.commit()?;
        Ok(existed_key)
    }

    fn search(
        &self,
        collection: &str,
        token: &BlindToken,
        limit: usize,
    ) -> Result<Vec<SearchHit>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT s.id, s.iid FROM blind_index b JOIN subjects s ON s.iid = b.iid \
                 WHERE b.token = ?1 AND s.collection = ?2 ORDER BY b.iid LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![token.as_slice(), collection, limit as i64], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
                })?;
            let mut out = Vec::new();
            for r in rows {
                let (bytes, iid) = r?;
                out.push(SearchHit {
                    id: Uuid::from_slice(&bytes)
                        .map_err(|_| StoreError::Corrupt("subject id is not 16 bytes".into()))?,
                    iid: iid as u64,
                });
            }
            Ok(out)
        })
    }

    fn scan_subjects(&self, after_iid: u64, limit: usize) -> Result<Vec<SubjectScan>, StoreError> {
        let after = i64::try_from(after_iid).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|p| {
            let mut stmt = p.data.prepare_cached(
                "SELECT iid, id, collection, country, fields FROM subjects \
                 WHERE iid > ?1 ORDER BY iid LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![after, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let id: Vec<u8> = r.get(1)?;
                out.push(SubjectScan {
                    iid: r.get::<_, i64>(0)? as u64,
                    id: Uuid::from_slice(&id)
                        .map_err(|_| StoreError::Corrupt("subject id is not 16 bytes".into()))?,
                    collection: r.get(2)?,
                    country: r.get(3)?,
                    fields: r.get(4)?,
                });
            }
            Ok(out)
        })
    }

    fn kek_version_counts(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        self.with_reader(|p| {
            let mut stmt = p.keys.prepare_cached(
                "SELECT kek_version, count(*) FROM data_keys GROUP BY kek_version ORDER BY kek_version",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?;
            rows.map(|r| r.map_err(StoreError::from)).collect()
        })
    }

    fn keys_to_rewrap(
        &self,
        target: u32,
        after: Option<&Uuid>,
        limit: usize,
    ) -> Result<Vec<(Uuid, WrappedKey)>, StoreError> {
        let after: &[u8] = after.map_or(&[], |u| u.as_bytes().as_slice());
        self.with_reader(|p| {
            let mut stmt = p.keys.prepare_cached(
                "SELECT subject, kek_version, wrapped FROM data_keys \
                 WHERE subject > ?1 AND kek_version <> ?2 ORDER BY subject LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![after, target, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        WrappedKey {
                            kek_version: r.get(1)?,
                            bytes: r.get(2)?,
                        },
                    ))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (id, key) = row?;
                let id = Uuid::from_slice(&id).map_err(|_| {
                    StoreError::Corrupt("a data key's subject is not a uuid".into())
                })?;
                out.push((id, key));
            }
            Ok(out)
        })
    }

    fn rewrap_keys(&self, items: &[Rewrap]) -> Result<Vec<bool>, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .keys
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(items.len());
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE data_keys SET kek_version = ?4, wrapped = ?5 \
                 WHERE subject = ?1 AND kek_version = ?2 AND wrapped = ?3",
            )?;
            for it in items {
                let n = stmt.execute(params![
                    it.subject.as_bytes().as_slice(),
                    it.old.kek_version,
                    it.old.bytes,
                    it.new.kek_version,
                    it.new.bytes
                ])?;
                out.push(n == 1);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn count_subjects(&self, collection: &str) -> Result<u64, StoreError> {
        self.with_reader(|p| {
            let n: i64 = p.data.query_row(
                "SELECT count(*) FROM subjects WHERE collection = ?1",
                [collection],
                |r| r.get(0),
            )?;
            // Canaries are subjects too, but never counted for operators.
            let canaries: i64 = p.keys.query_row(
                "SELECT count(*) FROM canaries WHERE collection = ?1",
                [collection],
                |r| r.get(0),
            )?;
            Ok((n - canaries).max(0) as u64)
        })
    }

    fn purge_freed(&self) -> Result<(), StoreError> {
        let w = lock(&self.writer);
        // TRUNCATE waits (busy timeout) for readers of the old frames, copies every frame
        // into the database file (where secure_delete zeroed the freed cells) and empties
        // the WAL file: the erased bytes are in neither file afterwards.
        for conn in [&w.keys, &w.data] {
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                return Err(StoreError::Backend(
                    "the write-ahead log could not be checkpointed (readers busy); retry".into(),
                ));
            }
        }
        Ok(())
    }

    fn append_audit(&self, audit: &[AuditLeaf]) -> Result<u64, StoreError> {
        let mut w = lock(&self.writer);
        let tx = w
            .data
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let first = append_leaves(&tx, audit)?;
        tx.commit()?;
        Ok(first)
    }

    fn audit_size(&self) -> Result<u64, StoreError> {
        self.with_reader(|p| {
            let n: i64 =
                p.data
                    .query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_log", [], |r| {
                        r.get(0)
                    })?;
            Ok(n as u64)
        })
    }

    fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let w = lock(&self.writer);
        w.data.execute(
            "INSERT INTO api_keys (prefix, hash, principal, kind, created_at, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                key.prefix,
                key.hash.as_slice(),
                key.principal,
                key.kind.as_str(),
                key.created_at,
                key.revoked_at
            ],
        )?;
        Ok(())
    }

    fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.with_reader(|p| {
            let row = p
                .data
                .prepare_cached(
                    "SELECT hash, principal, kind, created_at, revoked_at FROM api_keys WHERE prefix = ?1",
                )?
                .query_row([prefix], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        directory::principal_type(r, 2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                })
                .optional()?;
            row.map(|(hash, principal, kind, created_at, revoked_at)| {
                Ok(ApiKeyRecord {
                    prefix: prefix.to_owned(),
                    hash: hash
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("api key hash is not 32 bytes".into()))?,
                    principal,
                    kind,
                    created_at,
                    revoked_at,
                })
            })
            .transpose()
        })
    }
}
