//! Runs the password-hashing benchmark and prints it as JSON:
//! `cargo run --release -p kura-bench --example bench-passwords [M_KIB T P]`.

use std::process::ExitCode;

use kura_bench::passwords::{BenchOptions, bench_password_hashing};
use kura_credentials::Argon2Config;

fn main() -> ExitCode {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mut options = BenchOptions::default();
    if let [m_kib, t, p] = args[..] {
        options.argon2 = Argon2Config { m_kib, t, p };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(bench_password_hashing(options)) {
        Ok(report) => match serde_json::to_string_pretty(&report) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("error: {e} ({})", e.code());
            ExitCode::from(1)
        }
    }
}
