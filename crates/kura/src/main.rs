//! `kura`, the command-line front of the vault: argument parsing, configuration, exit codes.
//! Everything else lives in the library crates; this binary is glue.
//!
//! Exit codes: 0 success, 1 a check found something (e.g. `scan --fail-on`), 2 error.

mod cli;
mod cmd;
mod config;
mod open;

use clap::Parser;

/// mimalloc instead of the system allocator: a read allocates a few dozen small buffers
/// (sealed fields, opened values, the event) across many threads, where glibc's allocator
/// spent about a tenth of a read's time (`perf`, issue 18).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.log_json);
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KURA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
