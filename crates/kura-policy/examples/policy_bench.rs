//! Runs [`kura_policy::bench`] at the size of issue 5 (1,000 principals, 1M subjects) a few
//! times and prints every report and the best of each rate as JSON (on a shared machine the
//! best run is the one least disturbed by others):
//!
//! ```sh
//! cargo run --release -p kura-policy --example policy_bench [runs]
//! ```

use serde_json::{Value, json};

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .max(1);
    let reports: Vec<Value> = (0..runs)
        .filter_map(|_| serde_json::to_value(kura_policy::bench(Default::default())).ok())
        .collect();
    let best = |key: &str, max: bool| {
        let it = reports.iter().filter_map(|r| r[key].as_f64());
        if max {
            it.fold(f64::MIN, f64::max)
        } else {
            it.fold(f64::MAX, f64::min)
        }
    };
    let out = json!({
        "runs": reports,
        "best": {
            "decisions_per_sec": best("decisions_per_sec", true),
            "decide_ns": best("decide_ns", false),
            "touches_per_sec": best("touches_per_sec", true),
            "touch_ns": best("touch_ns", false),
            "touches_per_sec_threads": best("touches_per_sec_threads", true),
            "check_ns": best("check_ns", false),
            "masks_per_sec": best("masks_per_sec", true),
        }
    });
    match serde_json::to_string_pretty(&out) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("cannot print the report: {e}"),
    }
}
