//! Runs the `kura-audit` benchmarks on a fresh SQLite store and prints JSON.
//!
//! ```text
//! cargo run --release -p kura-audit --example bench -- append [threads] [events/thread] [in_flight] [max_batch] [normal|full]
//! cargo run --release -p kura-audit --example bench -- log [entries] [checkpoint_every]
//! ```
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_audit::bench::{AppendOptions, bench_append, bench_log};
use kura_store::sqlite::{Durability, SqliteStore};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir =
        tempfile::tempdir_in(std::env::var("KURA_BENCH_DIR").unwrap_or("/tmp".into())).unwrap();
    match args.get(1).map(String::as_str) {
        Some("log") => {
            let store =
                Arc::new(SqliteStore::create(dir.path(), [1; 16], Durability::Normal).unwrap());
            let r = bench_log(
                store,
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
            let store = Arc::new(SqliteStore::create(dir.path(), [1; 16], durability).unwrap());
            let opts = AppendOptions {
                threads: arg(&args, 2, 64),
                events_per_thread: arg(&args, 3, 10_000),
                in_flight: arg(&args, 4, 1),
                max_batch: arg(&args, 5, 8192),
            };
            let r = bench_append(store, opts).unwrap();
            println!("durability: {durability:?}");
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
        }
    }
}
