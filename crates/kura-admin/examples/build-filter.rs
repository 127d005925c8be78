//! Builds a breached-password filter file from a list, the same way
//! `kura passwords build-filter` does (it calls the same function).
//!
//! Usage: `cargo run --release -p kura-admin --example build-filter -- INPUT OUTPUT [MIN_COUNT]`
//! where INPUT is a plain password list or a Pwned Passwords `HEX40:count`
//! list (detected from the first line), or `-` for standard input. Prints the
//! build statistics as JSON. Used to rebuild `data/default-blocklist.kbf`
//! (see `data/SOURCE.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use kura_admin::passwords::build_filter_file;
use kura_credentials::BuildOptions;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: build-filter INPUT OUTPUT [MIN_COUNT]");
        return ExitCode::from(2);
    }
    let min_count = match args.get(2).map(|s| s.parse::<u64>()) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("MIN_COUNT must be a number");
            return ExitCode::from(2);
        }
    };
    let options = BuildOptions {
        min_count,
        ..BuildOptions::default()
    };
    match build_filter_file(&PathBuf::from(&args[0]), &PathBuf::from(&args[1]), options) {
        Ok(stats) => {
            println!(
                "{{\"format\":\"{:?}\",\"lines\":{},\"skipped\":{},\"keys\":{},\"shards\":{},\"bytes\":{},\"bits_per_key\":{:.2},\"false_positive_rate\":{:e}}}",
                stats.format,
                stats.lines,
                stats.skipped,
                stats.keys,
                stats.shards,
                stats.bytes,
                stats.bits_per_key,
                stats.false_positive_rate
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e} ({})", e.code());
            ExitCode::from(1)
        }
    }
}
