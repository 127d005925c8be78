//! Runs the `kura-audit` benchmarks on a fresh SQLite store and prints JSON.
//!
//! ```text
//! cargo run --release -p kura-audit --example audit_bench -- append [threads] [events/thread] [in_flight] [max_batch] [normal|full]
//! cargo run --release -p kura-audit --example audit_bench -- log [entries] [checkpoint_every]
//! cargo run --release -p kura-audit --example audit_bench -- overhead [subjects] [threads] [ops/thread]
//! ```
//! Prefix the mode with `pg-` (`pg-append`, `pg-log`, `pg-overhead`) to run on a fresh
//! PostgreSQL database from `KURA_TEST_PG_URL` instead of SQLite.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_audit::AuditStore;
mod bench;

use bench::{AppendOptions, OverheadOptions, bench_append, bench_log, bench_overhead};
use kura_store::PostgresStore;
use kura_store::sqlite::{Durability, SqliteStore};
use kura_testkit::postgres::TestDatabase;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir =
        tempfile::tempdir_in(std::env::var("KURA_BENCH_DIR").unwrap_or("/tmp".into())).unwrap();
    let mode = args.get(1).map_or("append", String::as_str);
    let (pg, mode) = match mode.strip_prefix("pg-") {
        Some(m) => (true, m),
        None => (false, mode),
    };
    let db = if pg {
        Some(TestDatabase::create("audit_bench").expect("PostgreSQL is not reachable"))
    } else {
        None
    };
    let open = |durability: Durability| -> Arc<dyn AuditStore> {
        match &db {
            Some(db) => Arc::new(PostgresStore::create(db.url(), [1; 16]).unwrap()),
            None => Arc::new(SqliteStore::create(dir.path(), [1; 16], durability).unwrap()),
        }
    };
    match mode {
        "overhead" => {
            let opts = OverheadOptions {
                subjects: arg(&args, 2, 100_000),
                threads: arg(&args, 3, 16),
                ops_per_thread: arg(&args, 4, 5_000),
            };
            let r = bench_overhead(open(Durability::Normal), opts).unwrap();
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
        }
        "log" => {
            let r = bench_log(
                open(Durability::Normal),
                arg(&args, 2, 1_000_000),
                arg(&args, 3, 100_000),
                1000,
            )
            .unwrap();
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
        }
        _ => {
            let durability = match args.get(6).map(String::as_str) {
                Some("full") => Durability::Full,
                _ => Durability::Normal,
            };
            let opts = AppendOptions {
                threads: arg(&args, 2, 64),
                events_per_thread: arg(&args, 3, 10_000),
                in_flight: arg(&args, 4, 1),
                max_batch: arg(&args, 5, 8192),
            };
            let r = bench_append(open(durability), opts).unwrap();
            println!("durability: {durability:?} (SQLite only)");
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
        }
    }
}
