//! `kura bench --only postgres`: import, point-read and search rates of the store
//! at `n` subjects, beside a baseline measured in the same run on the same server.
//!
//! The subjects have the shape of the default `accounts` collection as the vault stores it:
//! 8 sealed fields of 20-40 bytes of plaintext plus 41 bytes of AEAD overhead each (random
//! bytes, as incompressible as ciphertext), 4 blind-index tokens of 16 bytes, a 72-byte
//! wrapped key, and one access-log leaf per batch. The baseline is what a service without
//! kura would do: the same number of rows as plaintext (`id uuid` primary key and 8 text
//! columns of 20-40 characters, indexes on the 4 searchable ones) loaded with binary COPY in
//! the same batches, read by id and searched by those columns.
//!
//! The bench runs in a temporary database it creates next to the one `url` names and drops at
//! the end (so the role needs CREATEDB and CREATEROLE); it never touches an existing vault.
//! Data generation is excluded from the timings; every read and search is one round trip on
//! one connection, so rates are per connection (latency-bound), not the server's capacity.
//!
//! It uses only the store's public API (`PostgresStore`, the `Store` trait,
//! [`Roles::derive`], [`with_database`]); the administrative connection that creates and
//! drops the temporary database is its own.

use std::str::FromStr;
use std::time::{Duration, Instant};

use ::postgres::binary_copy::BinaryCopyInWriter;
use ::postgres::types::Type;
use ::postgres::{Client, Config, NoTls};
use kura_crypto::WrappedKey;
use kura_store::postgres::{Roles, with_database};
use kura_store::{NewSubject, PostgresStore, Store, StoreError};
use serde::Serialize;
use uuid::Uuid;

/// Connects to `url` without TLS, as the store does, naming the application `kura-bench`.
fn connect(url: &str) -> Result<Client, StoreError> {
    let mut config = Config::from_str(url)
        .map_err(|e| StoreError::Backend(format!("invalid postgres url: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("kura-bench");
    }
    config
        .connect(NoTls)
        .map_err(|e| StoreError::Backend(format!("cannot connect to the bench server: {e}")))
}

/// Quotes an identifier for DDL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What to run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchOptions {
    /// Subjects (and baseline rows) to import.
    pub n: u64,
    /// Subjects per `insert_subjects` call and rows per baseline COPY transaction.
    pub batch: usize,
    /// Point reads to time on each side.
    pub reads: usize,
    /// Searches to time on each side.
    pub searches: usize,
}

impl BenchOptions {
    /// Defaults for `n`: batches of 5,000, 20,000 reads and 20,000 searches.
    pub fn new(n: u64) -> Self {
        BenchOptions {
            n,
            batch: 5_000,
            reads: 20_000,
            searches: 20_000,
        }
    }
}

/// Rates of one side.
#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// Seconds spent importing (generation excluded).
    pub import_secs: f64,
    /// Rows per second imported.
    pub import_per_sec: f64,
    /// Point reads per second (one connection).
    pub read_per_sec: f64,
    /// Median point-read latency, microseconds.
    pub read_p50_us: f64,
    /// 99th percentile point-read latency, microseconds.
    pub read_p99_us: f64,
    /// Searches per second (one connection).
    pub search_per_sec: f64,
    /// Median search latency, microseconds.
    pub search_p50_us: f64,
    /// 99th percentile search latency, microseconds.
    pub search_p99_us: f64,
}

/// Size of one table, from `pg_total_relation_size` and friends after `VACUUM ANALYZE`.
#[derive(Debug, Clone, Serialize)]
pub struct TableSize {
    /// Schema-qualified name.
    pub table: String,
    /// Rows.
    pub rows: i64,
    /// Heap (main fork) bytes.
    pub heap_bytes: i64,
    /// TOAST bytes (with its index).
    pub toast_bytes: i64,
    /// Bytes of all indexes.
    pub index_bytes: i64,
    /// Everything.
    pub total_bytes: i64,
}

/// Access-log append rates.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRates {
    /// One caller.
    pub threads_1: f64,
    /// Eight callers, four on each of two stores.
    pub threads_8: f64,
}

/// Runs `per_thread` single-leaf appends on each of `threads` threads, alternating between
/// the stores; returns appends per second.
fn audit_rate(
    stores: &[std::sync::Arc<PostgresStore>],
    threads: usize,
    per_thread: usize,
) -> Result<f64, StoreError> {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = stores[t % stores.len()].clone();
            std::thread::spawn(move || -> Result<(), StoreError> {
                let leaf = vec![t as u8; 200];
                for _ in 0..per_thread {
                    store.append_audit(std::slice::from_ref(&leaf))?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| StoreError::Backend("bench thread panicked".into()))??;
    }
    Ok((threads * per_thread) as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// The result of [`bench_postgres`].
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// What was run.
    pub options: BenchOptions,
    /// `SELECT version()`.
    pub server: String,
    /// The kura store.
    pub kura: Rates,
    /// The plaintext COPY baseline.
    pub baseline: Rates,
    /// kura import rate / baseline import rate.
    pub import_ratio: f64,
    /// kura read rate / baseline read rate.
    pub read_ratio: f64,
    /// kura search rate / baseline search rate.
    pub search_ratio: f64,
    /// Baseline median read latency / kura's (above 1: kura is faster). Medians resist the
    /// stalls a shared machine adds to a few calls better than rates do.
    pub read_p50_ratio: f64,
    /// Baseline median search latency / kura's.
    pub search_p50_ratio: f64,
    /// `append_audit` calls per second (one 200-byte leaf each) from 1 thread and from 8
    /// threads over two stores (two servers). Every read the vault serves is one such call.
    pub audit_append_per_sec: AuditRates,
    /// kura tables (`kura_data.subjects`, `kura_data.blind_index`, `kura_keys.data_keys`),
    /// the baseline table, and `kura_data.audit_log` (one leaf per import batch plus the
    /// 200-byte leaves of the append-rate runs).
    pub sizes: Vec<TableSize>,
    /// Bytes per subject over the three kura tables, indexes included.
    pub kura_bytes_per_subject: f64,
    /// Bytes per row of the baseline table, indexes included.
    pub baseline_bytes_per_row: f64,
}

/// A small deterministic generator (SplitMix64): reproducible runs, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, out: &mut Vec<u8>, n: usize) {
        let mut left = n;
        while left > 0 {
            let v = self.next().to_le_bytes();
            let k = left.min(8);
            out.extend_from_slice(&v[..k]);
            left -= k;
        }
    }
    fn token(&mut self) -> [u8; 16] {
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&self.next().to_le_bytes());
        t[8..].copy_from_slice(&self.next().to_le_bytes());
        t
    }
    fn text(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.@-_ ";
        (0..n)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// 8 sealed fields: per field a 2-byte length, then plaintext (20-40) + 41 bytes.
fn sealed_fields(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * 83);
    for _ in 0..8 {
        let len = 20 + rng.below(21) as usize + 41;
        out.extend_from_slice(&(len as u16).to_le_bytes());
        rng.bytes(&mut out, len);
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// Per-call latencies of one side, accumulated over chunks.
#[derive(Default)]
struct Latencies {
    lat: Vec<Duration>,
    total: Duration,
}

impl Latencies {
    fn time<T>(
        &mut self,
        items: &[T],
        mut f: impl FnMut(&T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for it in items {
            let t = Instant::now();
            f(it)?;
            let d = t.elapsed();
            self.lat.push(d);
            self.total += d;
        }
        Ok(())
    }

    /// (calls per second, p50 µs, p99 µs).
    fn summary(mut self) -> (f64, f64, f64) {
        self.lat.sort_unstable();
        (
            self.lat.len() as f64 / self.total.as_secs_f64().max(1e-9),
            percentile(&self.lat, 0.5),
            percentile(&self.lat, 0.99),
        )
    }
}

/// Drops the temporary database and its roles, however the bench ends.
/// A temporary database (and its vault roles) on a bench server, dropped with this value.
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
    /// An existing database the bench was pointed at ([`TempDatabase::existing`]): on drop
    /// only what the bench created in it goes, not the database.
    existing: bool,
}

impl TempDatabase {
    /// Creates `kura_bench_<pid>_<ms>` on the server `admin_url` points to.
    ///
    /// # Errors
    /// Connection failures, or a role without CREATEDB.
    pub fn create(admin_url: &str) -> Result<Self, StoreError> {
        let mut admin = connect(admin_url)?;
        let name = format!(
            "kura_bench_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() % 1_000_000_000)
                .unwrap_or(0)
        );
        admin.batch_execute(&format!("CREATE DATABASE {}", ident(&name)))?;
        Ok(TempDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
            existing: false,
        })
    }

    /// The database `url` names, as it is (a distributed database set up by hand, say). It
    /// must hold no kura vault and no bench table: the bench creates them, and on drop removes
    /// them (kura's two schemas, `public.people`, `public.audit`) and nothing else.
    ///
    /// # Errors
    /// [`StoreError::AlreadyInitialized`] when kura's schemas or the bench's tables exist;
    /// connection failures.
    pub fn existing(url: &str) -> Result<Self, StoreError> {
        let mut c = connect(url)?;
        let row = c.query_one(
            "SELECT current_database(), to_regnamespace('kura_data') IS NOT NULL \
                 OR to_regnamespace('kura_keys') IS NOT NULL \
                 OR to_regclass('public.people') IS NOT NULL OR to_regclass('public.audit') IS NOT NULL",
            &[],
        )?;
        let name: String = row.get(0);
        if row.get::<_, bool>(1) {
            return Err(StoreError::AlreadyInitialized(format!(
                "database {name:?} (the bench needs one without kura's schemas and without \
                 public.people or public.audit)"
            )));
        }
        Ok(TempDatabase {
            admin_url: url.to_owned(),
            name,
            url: url.to_owned(),
            existing: true,
        })
    }

    /// The URL of the temporary database.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `SELECT version()` of its server.
    ///
    /// # Errors
    /// Connection failures.
    pub fn server_version(&self) -> Result<String, StoreError> {
        Ok(connect(&self.url)?
            .query_one("SELECT version()", &[])?
            .get(0))
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let Ok(mut c) = connect(&self.admin_url) else {
            return;
        };
        if self.existing {
            let _ = c.batch_execute(
                "DROP SCHEMA IF EXISTS kura_data, kura_keys CASCADE; \
                 DROP TABLE IF EXISTS public.people, public.audit",
            );
            return;
        }
        let _ = c.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(&self.name)
        ));
        let roles = Roles::derive(&self.name);
        for r in [
            &roles.data_owner,
            &roles.keys_owner,
            &roles.app,
            &roles.data_reader,
        ] {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(r)));
        }
    }
}

/// The Citus cluster's shape behind `url`, when the database has Citus: (extension version,
/// active workers, shards of `kura_data.subjects` or 0 before distribution).
///
/// # Errors
/// Connection failures.
pub fn citus_shape(url: &str) -> Result<Option<(String, i64, i64)>, StoreError> {
    let mut c = connect(url)?;
    let Some(version) = c
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'citus'",
            &[],
        )?
        .map(|r| r.get::<_, String>(0))
    else {
        return Ok(None);
    };
    let workers: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_dist_node WHERE groupid > 0 AND isactive",
            &[],
        )?
        .get(0);
    let shards: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_dist_shard \
              WHERE logicalrelid = to_regclass('kura_data.subjects')",
            &[],
        )?
        .get(0);
    Ok(Some((version, workers, shards)))
}

/// [`bench_postgres_with`] with [`BenchOptions::new`]`(n)`.
///
/// # Errors
/// As [`bench_postgres_with`].
pub fn bench_postgres(url: &str, n: u64) -> Result<BenchReport, StoreError> {
    bench_postgres_with(url, &BenchOptions::new(n))
}

/// Runs the bench in a temporary database on the server `url` points to.
///
/// # Errors
/// Backend failures (including missing CREATEDB/CREATEROLE).
pub fn bench_postgres_with(url: &str, opts: &BenchOptions) -> Result<BenchReport, StoreError> {
    const COLLECTION: &str = "accounts";
    let n = opts.n;
    let batch = opts.batch.max(1) as u64;
    let db = TempDatabase::create(url)?;
    let server = db.server_version()?;
    let db_url = db.url().to_owned();
    let store = PostgresStore::create(&db_url, [7; 16])?;

    // Samples for reads and searches: every `stride`-th subject.
    let sample_target = opts.reads.max(opts.searches).max(1) as u64;
    let stride = (n / sample_target).max(1);
    let mut sample_ids: Vec<Uuid> = Vec::new();
    let mut sample_tokens: Vec<[u8; 16]> = Vec::new();
    let mut sample_values: Vec<(usize, String)> = Vec::new();
    let mut all_ids: Vec<Uuid> = Vec::with_capacity(n as usize);

    // kura import.
    let mut rng = Rng(0x6b75_7261);
    let mut kura_import = Duration::ZERO;
    let mut done = 0u64;
    while done < n {
        let k = batch.min(n - done);
        let mut subjects = Vec::with_capacity(k as usize);
        for j in 0..k {
            let id = Uuid::now_v7();
            let tokens: Vec<[u8; 16]> = (0..4).map(|_| rng.token()).collect();
            if (done + j).is_multiple_of(stride) {
                sample_ids.push(id);
                sample_tokens.push(tokens[((done + j) / stride % 4) as usize]);
            }
            all_ids.push(id);
            let mut wrapped = Vec::with_capacity(72);
            rng.bytes(&mut wrapped, 72);
            subjects.push(NewSubject {
                id,
                iid: 0,
                collection: COLLECTION.to_owned(),
                country: "JP".to_owned(),
                locale: "ja-JP".to_owned(),
                fields: sealed_fields(&mut rng),
                tokens,
                wrapped_key: WrappedKey {
                    kek_version: 1,
                    bytes: wrapped,
                },
            });
        }
        let leaf = format!("import batch {done}").into_bytes();
        let t = Instant::now();
        let first = store.reserve_iids(k)?;
        for (j, s) in subjects.iter_mut().enumerate() {
            s.iid = first + j as u64;
        }
        store.insert_subjects(&subjects, &[leaf])?;
        kura_import += t.elapsed();
        done += k;
    }

    // Baseline import: same ids, plaintext, binary COPY, same batches.
    let mut base = connect(&db_url)?;
    base.batch_execute(
        "CREATE TABLE public.bench_plain (id uuid PRIMARY KEY, c1 text NOT NULL, c2 text NOT NULL, \
           c3 text NOT NULL, c4 text NOT NULL, c5 text NOT NULL, c6 text NOT NULL, \
           c7 text NOT NULL, c8 text NOT NULL);
         CREATE INDEX ON public.bench_plain (c1);
         CREATE INDEX ON public.bench_plain (c2);
         CREATE INDEX ON public.bench_plain (c3);
         CREATE INDEX ON public.bench_plain (c4);",
    )?;
    let mut rng = Rng(0x6261_7365);
    let mut base_import = Duration::ZERO;
    let types = [
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    for (bi, chunk) in all_ids.chunks(batch as usize).enumerate() {
        let rows: Vec<[String; 8]> = chunk
            .iter()
            .enumerate()
            .map(|(j, _)| {
                let row: [String; 8] = std::array::from_fn(|_| {
                    let len = 20 + rng.below(21) as usize;
                    rng.text(len)
                });
                let i = bi as u64 * batch + j as u64;
                if i.is_multiple_of(stride) {
                    let col = (i / stride % 4) as usize;
                    sample_values.push((col, row[col].clone()));
                }
                row
            })
            .collect();
        let t = Instant::now();
        let mut tx = base.transaction()?;
        {
            let sink = tx.copy_in(
                "COPY public.bench_plain (id, c1, c2, c3, c4, c5, c6, c7, c8) FROM STDIN (FORMAT binary)",
            )?;
            let mut w = BinaryCopyInWriter::new(sink, &types);
            for (id, r) in chunk.iter().zip(&rows) {
                w.write(&[id, &r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7]])?;
            }
            w.finish()?;
        }
        tx.commit()?;
        base_import += t.elapsed();
    }
    drop(all_ids);
    base.batch_execute("VACUUM ANALYZE")?;

    // Shuffle the samples so reads do not walk the index in insertion order.
    let mut rng = Rng(0x7265_6164);
    let mut order: Vec<usize> = (0..sample_ids.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let reads: Vec<usize> = order.iter().copied().cycle().take(opts.reads).collect();
    let searches: Vec<usize> = order.iter().copied().cycle().take(opts.searches).collect();

    let read_stmt = base.prepare(
        "SELECT id, c1, c2, c3, c4, c5, c6, c7, c8 FROM public.bench_plain WHERE id = $1",
    )?;
    let search_stmts = [
        base.prepare("SELECT id FROM public.bench_plain WHERE c1 = $1 LIMIT 10")?,
        base.prepare("SELECT id FROM public.bench_plain WHERE c2 = $1 LIMIT 10")?,
        base.prepare("SELECT id FROM public.bench_plain WHERE c3 = $1 LIMIT 10")?,
        base.prepare("SELECT id FROM public.bench_plain WHERE c4 = $1 LIMIT 10")?,
    ];
    // Flush the import's dirty pages first, so no checkpoint runs under one side only
    // (needs superuser or pg_checkpoint; skipped otherwise).
    let _ = base.batch_execute("CHECKPOINT");

    // Both sides run alternately in chunks of 500, so background load and caching hit them
    // alike.
    let mut k_read = Latencies::default();
    let mut b_read = Latencies::default();
    for chunk in reads.chunks(500) {
        k_read.time(chunk, |&i| {
            match store.subject(COLLECTION, &sample_ids[i])? {
                Some(_) => Ok(()),
                None => Err(StoreError::Corrupt("bench subject missing".into())),
            }
        })?;
        b_read.time(chunk, |&i| {
            match base.query_opt(&read_stmt, &[&sample_ids[i]])? {
                Some(_) => Ok(()),
                None => Err(StoreError::Corrupt("baseline row missing".into())),
            }
        })?;
    }
    let mut k_search = Latencies::default();
    let mut b_search = Latencies::default();
    for chunk in searches.chunks(500) {
        k_search.time(chunk, |&i| {
            if store.search(COLLECTION, &sample_tokens[i], 10)?.is_empty() {
                return Err(StoreError::Corrupt("bench search found nothing".into()));
            }
            Ok(())
        })?;
        b_search.time(chunk, |&i| {
            let (col, value) = &sample_values[i];
            if base.query(&search_stmts[*col], &[value])?.is_empty() {
                return Err(StoreError::Corrupt("baseline search found nothing".into()));
            }
            Ok(())
        })?;
    }
    let (k_read, k_r50, k_r99) = k_read.summary();
    let (b_read, b_r50, b_r99) = b_read.summary();
    let (k_search, k_s50, k_s99) = k_search.summary();
    let (b_search, b_s50, b_s99) = b_search.summary();

    let audit_stores = [
        std::sync::Arc::new(PostgresStore::open(&db_url)?),
        std::sync::Arc::new(PostgresStore::open(&db_url)?),
    ];
    let per_thread = (opts.reads / 8).clamp(50, 2_000);
    let audit_append_per_sec = AuditRates {
        threads_1: audit_rate(&audit_stores[..1], 1, per_thread * 4)?,
        threads_8: audit_rate(&audit_stores, 8, per_thread)?,
    };
    drop(audit_stores);

    let mut sizes = Vec::new();
    for table in [
        "kura_data.subjects",
        "kura_data.blind_index",
        "kura_keys.data_keys",
        "public.bench_plain",
        "kura_data.audit_log",
    ] {
        let r = base.query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {table}), pg_relation_size($1::text::regclass), \
                   COALESCE((SELECT pg_total_relation_size(reltoastrelid) FROM pg_class \
                             WHERE oid = $1::text::regclass AND reltoastrelid <> 0), 0), \
                   pg_indexes_size($1::text::regclass), pg_total_relation_size($1::text::regclass)"
            ),
            &[&table],
        )?;
        sizes.push(TableSize {
            table: table.to_owned(),
            rows: r.get(0),
            heap_bytes: r.get(1),
            toast_bytes: r.get(2),
            index_bytes: r.get(3),
            total_bytes: r.get(4),
        });
    }
    let per = |bytes: i64| bytes as f64 / (n.max(1) as f64);
    let kura_bytes_per_subject = per(sizes[..3].iter().map(|s| s.total_bytes).sum());
    let baseline_bytes_per_row = per(sizes[3].total_bytes);
    drop(base);
    drop(store);

    let rate = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let kura = Rates {
        import_secs: kura_import.as_secs_f64(),
        import_per_sec: rate(kura_import),
        read_per_sec: k_read,
        read_p50_us: k_r50,
        read_p99_us: k_r99,
        search_per_sec: k_search,
        search_p50_us: k_s50,
        search_p99_us: k_s99,
    };
    let baseline = Rates {
        import_secs: base_import.as_secs_f64(),
        import_per_sec: rate(base_import),
        read_per_sec: b_read,
        read_p50_us: b_r50,
        read_p99_us: b_r99,
        search_per_sec: b_search,
        search_p50_us: b_s50,
        search_p99_us: b_s99,
    };
    Ok(BenchReport {
        options: opts.clone(),
        server,
        import_ratio: kura.import_per_sec / baseline.import_per_sec,
        read_ratio: kura.read_per_sec / baseline.read_per_sec,
        search_ratio: kura.search_per_sec / baseline.search_per_sec,
        read_p50_ratio: baseline.read_p50_us / kura.read_p50_us.max(1e-9),
        search_p50_ratio: baseline.search_p50_us / kura.search_p50_us.max(1e-9),
        kura,
        baseline,
        audit_append_per_sec,
        sizes,
        kura_bytes_per_subject,
        baseline_bytes_per_row,
    })
}
