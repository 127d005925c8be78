//! Runs [`kura_policy::bench`] at the size of issue 5 (1,000 principals, 1M subjects) and
//! prints the report as JSON:
//!
//! ```sh
//! cargo run --release -p kura-policy --example bench
//! ```
//!
//! Optional arguments: `principals subjects decisions touches threads`.

fn main() {
    let mut config = kura_policy::BenchConfig::default();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if let Some(n) = args.first() {
        config.principals = *n;
    }
    if let Some(n) = args.get(1) {
        config.subjects = *n as u64;
    }
    if let Some(n) = args.get(2) {
        config.decisions = *n;
    }
    if let Some(n) = args.get(3) {
        config.touches = *n;
    }
    if let Some(n) = args.get(4) {
        config.threads = *n;
    }
    let report = kura_policy::bench(config);
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("cannot print the report: {e}"),
    }
}
