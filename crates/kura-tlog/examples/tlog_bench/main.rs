//! Runs [`bench::bench_tlog`] and prints its report as JSON. The benchmark lives here, not in
//! the library: benchmark code does not ship in product crates.
//!
//! ```text
//! cargo run --release -p kura-tlog --example tlog_bench -- [ENTRIES] [PROOF_SAMPLES]
//! ```
//! Defaults: 10,000,000 entries, 1,000 proofs of each kind. Needs about
//! `64·ENTRIES` bytes of memory for the stored hashes.

mod bench;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let entries: u64 = args.next().map_or(Ok(10_000_000), |a| a.parse())?;
    let samples: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let report = bench::bench_tlog(entries, samples)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
