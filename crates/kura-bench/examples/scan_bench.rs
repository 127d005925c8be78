//! Runs the `kura scan` measurements without the `kura` binary.
//!
//! - `cargo run --release -p kura-bench --example scan_bench -- bench [MB] [PEOPLE] [RUNS]`
//!   prints the [`kura_bench::scan::BenchReport`] as JSON;
//! - `... -- corpus DIR [PEOPLE]` writes the labelled corpus into `DIR/corpus` and its labels
//!   into `DIR/labels.json` (input for `bench/scan/presidio_eval.py`);
//! - `... -- bulk DIR [MB]` writes the throughput corpus (`DIR/text`, `DIR/csv`);
//! - `... -- scan ARGS...` runs `kura scan ARGS...`;
//! - `... -- quality DIR [PEOPLE] [low|medium|high]` generates and scores at one threshold.

use std::path::PathBuf;

use kura_bench::corpus;
use kura_bench::scan::evaluate;
use kura_scan::Confidence;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("corpus") => {
            let dir = PathBuf::from(args.get(1).ok_or("corpus DIR")?);
            let cdir = dir.join("corpus");
            std::fs::create_dir_all(&cdir)?;
            let c = corpus::generate(&cdir, num(2, 3000) as usize, 0x6b75_7261)?;
            std::fs::write(dir.join("labels.json"), serde_json::to_vec(&c.labels)?)?;
            println!(
                "{} files, {} bytes, {} labels",
                c.files,
                c.bytes,
                c.labels.len()
            );
        }
        Some("bulk") => {
            let dir = PathBuf::from(args.get(1).ok_or("bulk DIR")?);
            corpus::generate_bulk(&dir, num(2, 100) * 1_000_000, 7)?;
        }
        Some("scan") => {
            use clap::Parser;
            #[derive(Parser)]
            struct Cli {
                #[command(flatten)]
                scan: kura_scan::ScanArgs,
            }
            let cli = Cli::parse_from(
                std::iter::once("scan".to_owned()).chain(args[1..].iter().cloned()),
            );
            let outcome = kura_scan::run(&cli.scan, &mut std::io::stdout().lock())?;
            std::process::exit(outcome.exit_code());
        }
        Some("quality") => {
            let dir = PathBuf::from(args.get(1).ok_or("quality DIR")?);
            std::fs::create_dir_all(&dir)?;
            let c = corpus::generate(&dir, num(2, 3000) as usize, 0x6b75_7261)?;
            let min = match args.get(3).map(String::as_str) {
                Some("low") => Confidence::Low,
                Some("high") => Confidence::High,
                _ => Confidence::Medium,
            };
            for q in evaluate(&dir, &c.labels, min) {
                println!(
                    "{:<15} labels {:>6} found {:>6} tp {:>6}  precision {:.3}  recall {:.3}",
                    q.kind.id(),
                    q.labels,
                    q.found,
                    q.true_positives,
                    q.precision,
                    q.recall
                );
            }
        }
        _ => {
            let r =
                kura_bench::scan::bench(num(1, 100), num(2, 3000) as usize, num(3, 3) as usize)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
    }
    Ok(())
}
