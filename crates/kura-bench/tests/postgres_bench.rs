//! The PostgreSQL bench: a small run on every test pass (so `kura bench` keeps working), and
//! the full run on demand:
//!
//! ```text
//! KURA_BENCH_N=1000000 cargo test --release -p kura-bench --test postgres_bench \
//!     -- --ignored --nocapture
//! ```
//!
//! Both are skipped loudly without PostgreSQL, except under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kura_bench::postgres::{BenchOptions, bench_postgres_with};
use kura_testkit::postgres::{TestDatabase, admin_url};

fn server_up(label: &str) -> bool {
    // Creating (and dropping) a database checks the server the way the other tests do.
    TestDatabase::create(label).is_some()
}

#[test]
fn postgres_bench_small_run_reports_sane_numbers() {
    if !server_up("bench_small") {
        return;
    }
    let opts = BenchOptions {
        n: 3_000,
        batch: 1_000,
        reads: 300,
        searches: 300,
    };
    let r = bench_postgres_with(&admin_url(), &opts).unwrap();
    assert!(r.kura.import_per_sec > 0.0 && r.baseline.import_per_sec > 0.0);
    assert!(r.kura.read_per_sec > 0.0 && r.kura.search_per_sec > 0.0);
    assert_eq!(r.sizes.len(), 5);
    for s in &r.sizes {
        assert!(s.total_bytes > 0, "{s:?}");
    }
    assert_eq!(r.sizes[0].rows, 3_000, "subjects");
    assert_eq!(r.sizes[1].rows, 12_000, "four tokens each");
    assert_eq!(r.sizes[2].rows, 3_000, "one key each");
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("import_ratio"));
}

// Ignored by default because it loads a million subjects: run it with KURA_BENCH_N and
// --release (BENCHMARKS.md has the command); the small run above keeps the code path tested.
#[test]
#[ignore = "long: run with KURA_BENCH_N and --release"]
fn postgres_bench_full() {
    if !server_up("bench_full") {
        return;
    }
    let n: u64 = std::env::var("KURA_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let r = bench_postgres_with(&admin_url(), &BenchOptions::new(n)).unwrap();
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
}
