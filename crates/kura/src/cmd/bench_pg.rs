//! `kura bench --only pg-reads`: the vault's reads and searches on PostgreSQL, with the access
//! log on, beside plaintext PostgreSQL measured in the same run on the same server
//! (`kura_bench::pg_plain`): the same people as plain rows read by id and searched by e-mail
//! by as many clients, bare and with one group-committed audit row per request. Also the
//! access log's append rate with 64 blocking clients. Issue 18's goals: reads at least 0.5
//! of plaintext; appends at least 50,000 events/s.
//!
//! With `--existing` (issue 21) the same workload runs in the database `--pg-url` names (a
//! Citus coordinator's: the vault is distributed there first), and with `--baseline-pg-url`
//! once more on a plain server in the same run; the report gives both and their ratios.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use kura_audit::{AccessEvent, Action, Appender, AppenderConfig};
use kura_bench::pg_plain::{PlainRow, PlainTable};
use kura_bench::postgres::TempDatabase;
use kura_crypto::KeyFile;
use kura_store::PostgresStore;
use kura_vault::{Vault, VaultOptions};
use serde_json::{Value, json};

use super::bench::{
    BenchArgs, access, import_people, input, parallel, person, rate, read_and_search, sample,
};

/// Appends of single events by `threads` blocking clients; events per second and mean
/// events per store write.
fn append_rate(appender: &Appender, threads: usize, per_thread: u64) -> Result<(f64, f64)> {
    let (b0, e0) = appender.stats();
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                s.spawn(move || -> Result<()> {
                    for i in 0..per_thread {
                        let n = t * per_thread + i;
                        let ev = AccessEvent::new(
                            1_700_000_000_000 + n,
                            "bench",
                            "bench",
                            Action::Read,
                            "accounts",
                            &format!("req-{n:016x}"),
                        )
                        .with_subjects([1 + n % 1_000_003])
                        .with_fields(["email", "phone", "postal_address"]);
                        let _durable = appender.append(&ev)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("client panicked"))?)
    })?;
    let secs = start.elapsed().as_secs_f64();
    let (b1, e1) = appender.stats();
    Ok((
        (threads as u64 * per_thread) as f64 / secs.max(1e-9),
        (e1 - e0) as f64 / (b1 - b0).max(1) as f64,
    ))
}

pub fn run(dir: &Path, a: &BenchArgs) -> Result<Value> {
    if !a.existing {
        return measure(dir, TempDatabase::create(&a.pg_url)?, a);
    }
    let d = dir.join("existing");
    std::fs::create_dir_all(&d)?;
    eprintln!("bench: pg-reads in the existing database --pg-url names ...");
    let target = measure(&d, TempDatabase::existing(&a.pg_url)?, a)?;
    let Some(base_url) = &a.baseline_pg_url else {
        return Ok(json!({ "existing": target }));
    };
    let d = dir.join("baseline");
    std::fs::create_dir_all(&d)?;
    eprintln!("bench: pg-reads on the baseline server --baseline-pg-url names ...");
    let base = measure(&d, TempDatabase::create(base_url)?, a)?;
    let ratio = |k: &str| {
        let (x, y) = (
            target["kura"][k].as_f64().unwrap_or(0.0),
            base["kura"][k].as_f64().unwrap_or(0.0),
        );
        // baseline / existing: how many times slower the existing database is
        json!((y / x.max(1e-9) * 100.0).round() / 100.0)
    };
    Ok(json!({
        "existing": target,
        "baseline": base,
        "slowdown_baseline_over_existing": {
            "insert": ratio("insert_per_s"),
            "create": ratio("create_per_s"),
            "read": ratio("read_per_s"),
            "search": ratio("search_per_s"),
        },
    }))
}

/// The cluster's shape when the database has Citus: version, workers, shards per table.
fn citus_shape(url: &str) -> Result<Value> {
    Ok(match kura_bench::postgres::citus_shape(url)? {
        Some((version, workers, shards)) => json!({
            "version": version,
            "workers": workers,
            "shards_per_distributed_table": shards,
        }),
        None => Value::Null,
    })
}

fn measure(dir: &Path, db: TempDatabase, a: &BenchArgs) -> Result<Value> {
    let server = db.server_version()?;
    let id: [u8; 16] = kura_crypto::random_array()?;
    drop(PostgresStore::create(db.url(), id)?);
    let citus = if PostgresStore::citus_version(db.url())?.is_some() {
        let placed = PostgresStore::distribute(db.url(), a.citus_shards)?;
        eprintln!("bench: distributed {} tables over Citus", placed.len());
        citus_shape(db.url())?
    } else {
        Value::Null
    };
    // As `kura serve` would size it: a connection per client plus the log's writer.
    let store = Arc::new(PostgresStore::open_with_pool_size(db.url(), a.threads + 4)?);
    let keys = KeyFile::create(&dir.join("vault.key"), id)?;
    let appender = Arc::new(Appender::start(store.clone(), AppenderConfig::default())?);
    let vault = Vault::new(
        kura_model::Schema::builtin(),
        store.clone(),
        Arc::new(keys),
        VaultOptions::default(),
        appender.clone(),
        Arc::new(crate::open::SystemClock),
    )?;
    let (ids, insert_s) = import_people(&vault, a)?;
    let plain = PlainTable::load(
        &db,
        ids.iter().enumerate().map(|(i, id)| {
            let (country, locale, f) = person(i);
            PlainRow {
                id: *id,
                country: country.to_owned(),
                locale: locale.to_owned(),
                cols: f.map(|(_, v)| v),
            }
        }),
        super::bench::BATCH,
    )?;
    let (read_s, search_s) = read_and_search(&vault, &ids, a);
    // Single creates, one subject per call (as one API request each), by as many clients.
    let creates: Vec<usize> =
        (a.subjects..a.subjects + (a.reads / 10).clamp(200, 20_000)).collect();
    let acc = access();
    let create_s = parallel(&creates, a.threads, |&i| {
        let r = vault.create_batch(&acc, "accounts", vec![input(i)]);
        assert!(r.into_iter().all(|x| x.is_ok()), "create failed");
    });
    let read_ids: Vec<uuid::Uuid> = sample(a.subjects, a.reads, 1)
        .into_iter()
        .map(|i| ids[i])
        .collect();
    let emails: Vec<String> = sample(a.subjects, a.searches, 2)
        .into_iter()
        .map(|i| person(i).2[3].1.clone())
        .collect();
    drop(ids);
    let base = plain.rates(&read_ids, &emails, a.threads)?;
    let per_client = (a.reads / 64).clamp(50, 2_000) as u64;
    let (appends_64, batch_64) = append_rate(&appender, 64, per_client)?;
    let ratio = |x: f64, y: f64| (x / y.max(1e-9) * 1000.0).round() / 1000.0;
    let kura_read = rate(a.reads, read_s);
    let kura_search = rate(a.searches, search_s);
    Ok(json!({
        "server": server,
        "citus": citus,
        "kura": {
            "insert_per_s": rate(a.subjects, insert_s),
            "create_per_s": rate(creates.len(), create_s),
            "read_per_s": kura_read,
            "search_per_s": kura_search,
        },
        "plaintext": base,
        "log_appends_64_clients_per_s": appends_64.round(),
        "log_events_per_write_64_clients": batch_64.round(),
        "ratios": {
            "read_vs_plaintext": ratio(kura_read, base.read_per_s),
            "search_vs_plaintext": ratio(kura_search, base.search_per_s),
            "read_vs_logged": ratio(kura_read, base.read_logged_per_s),
            "search_vs_logged": ratio(kura_search, base.search_logged_per_s),
            "insert_vs_plaintext": ratio(rate(a.subjects, insert_s), base.insert_per_s),
        },
    }))
}
