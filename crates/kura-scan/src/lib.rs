//! # kura scan
//!
//! Finds stray personal data in files and folders — the customer list in a spreadsheet on a
//! public web server, the log full of e-mail addresses, the SQL dump in a repository —
//! before anyone else does.
//!
//! The crate is a library the `kura` binary calls as `kura scan`; it needs no other kura
//! crate. Its parts, bottom up:
//!
//! - `validate`: checksums and number plans (Luhn and issuer prefixes, IBAN mod-97, SSN
//!   ranges, My Number check digit);
//! - `context`: what column headers, keys and nearby words (en, ja, de) say about a value;
//! - `names`: the name dictionary (data files under `data/`);
//! - `detect`: one multi-pattern regex pass finds candidates of every kind, which are then
//!   validated and scored — the only place that sees unmasked values;
//! - `mask`: masking, applied inside `detect` before a value leaves it;
//! - `formats`: text, CSV/TSV, JSON, logs, SQL (`sql` maps INSERT values to columns),
//!   gzip, XLSX/XLS/ODS, every reader bounded by [`Limits`] (a file over a limit is
//!   reported as skipped with a [`SkipReason`], and the scan goes on);
//! - `walk`: the file walk with gitignore-style excludes;
//! - `report`: per-file summary, the "personal data of about N people" verdict, and the
//!   table, JSON and SARIF 2.1.0 writers.
//!
//! The labelled synthetic corpus and the quality and throughput measurement behind
//! `kura bench --only scan` live in the `kura-bench` crate, over this crate's public API.
//!
//! **Invariant:** no output, report or error of this crate holds an unmasked value.
//!
//! ```no_run
//! use kura_scan::{ScanArgs, run};
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     scan: ScanArgs,
//! }
//! let cli = Cli::parse_from(["kura-scan", "--format", "json", "./public_html"]);
//! let outcome = run(&cli.scan, &mut std::io::stdout()).expect("scan");
//! std::process::exit(outcome.exit_code());
//! ```
#![deny(missing_docs)]

mod context;
mod detect;
mod formats;
mod kind;
mod mask;
mod names;
mod phone;
mod report;
mod sql;
mod validate;
mod walk;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

pub use formats::{
    Limits, MAX_CELLS, MAX_DECOMPRESSED, MAX_ENTRIES, MAX_ENTRY_SIZE, MAX_LINE, MAX_RATIO,
    MAX_SPREADSHEET_FILE, MAX_TOTAL_SIZE, RATIO_MIN_SIZE,
};
pub use kind::{Confidence, Kind};
pub use mask::mask;
pub use report::{FileReport, Finding, Location, SkipReason, Skipped, Totals};

/// The detectors, compiled once per process (compiling the multi-pattern regex takes a
/// noticeable fraction of a second), and the same with addresses at reserved example
/// domains counted like any other (`--include-example-domains`).
static ENGINE: std::sync::LazyLock<detect::Engine> = std::sync::LazyLock::new(detect::Engine::new);
static ENGINE_WITH_EXAMPLES: std::sync::LazyLock<detect::Engine> =
    std::sync::LazyLock::new(|| detect::Engine::new().include_example_domains());

/// Output format of `kura scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people: files with the most people first.
    Table,
    /// One JSON document with every finding.
    Json,
    /// SARIF 2.1.0 for code-scanning tools.
    Sarif,
}

/// The arguments of `kura scan` (flatten into the binary's subcommand).
#[derive(Clone, Debug, clap::Args)]
pub struct ScanArgs {
    /// Files and folders to scan.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Report only findings at or above this confidence.
    #[arg(long, value_enum, default_value_t = Confidence::Medium)]
    pub min_confidence: Confidence,
    /// Exit with status 1 when N or more findings (at the chosen confidence) are found.
    #[arg(long, value_name = "N")]
    pub fail_on: Option<u64>,
    /// Skip paths matching this gitignore-style pattern (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// In the table, list at most this many findings per file.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_per_file: usize,
    /// What reading one file may cost; a file over a limit is reported as skipped with its
    /// reason. Not a command-line option: the defaults bound memory (see [`Limits`]).
    #[arg(skip)]
    pub limits: Limits,
    /// Count e-mail addresses at the reserved example domains (`example.com`, `.org`,
    /// `.net`, `.example`, RFC 2606) like any other. By default they are `low` (test
    /// fixtures), except in a field whose key or column says e-mail, where they are `medium`.
    #[arg(long)]
    pub include_example_domains: bool,
}

impl ScanArgs {
    /// Arguments for scanning `paths` with the defaults of the command line.
    pub fn new(paths: Vec<PathBuf>) -> ScanArgs {
        ScanArgs {
            paths,
            format: OutputFormat::Table,
            min_confidence: Confidence::Medium,
            fail_on: None,
            exclude: Vec::new(),
            max_per_file: 20,
            limits: Limits::default(),
            include_example_domains: false,
        }
    }
}

/// What a scan found, for the binary's exit code and for callers.
#[derive(Clone, Debug)]
pub struct ScanOutcome {
    /// Totals of the run.
    pub totals: Totals,
    /// Per-file reports (files with findings, errors or skips), sorted by path.
    pub files: Vec<FileReport>,
    /// Whether `--fail-on N` was reached.
    pub failed: bool,
}

impl ScanOutcome {
    /// The process exit code: 0 clean, 1 when `--fail-on` was reached. (Errors are 2: the
    /// binary maps a [`ScanError`] to it.)
    pub fn exit_code(&self) -> i32 {
        i32::from(self.failed)
    }
}

/// Why a scan could not run. Messages never hold a scanned value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// A path given does not exist.
    #[error("no such file or folder: {0}")]
    NoSuchPath(PathBuf),
    /// An `--exclude` pattern is not a valid glob.
    #[error("bad --exclude pattern {glob:?}: {reason}")]
    BadExclude {
        /// The pattern.
        glob: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing the report failed.
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

impl ScanError {
    /// A stable snake_case code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            ScanError::NoSuchPath(_) => "scan_no_such_path",
            ScanError::BadExclude { .. } => "scan_bad_exclude",
            ScanError::Output(_) => "scan_output",
        }
    }
}

/// Scans the paths in `args`, writes the report to `out` and tells whether `--fail-on` was
/// reached. Files that cannot be read are reported as such and do not stop the scan. A
/// progress bar is drawn on standard error only when it is a terminal.
///
/// # Errors
/// A missing path, a bad `--exclude` pattern, or a failure to write to `out`.
pub fn run(args: &ScanArgs, out: &mut dyn Write) -> Result<ScanOutcome, ScanError> {
    let progress = std::io::stderr().is_terminal();
    let outcome = scan_paths(args, progress)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let out: &mut dyn Write = &mut out;
    match args.format {
        OutputFormat::Table => report::write_table(
            out,
            &outcome.files,
            &outcome.totals,
            args.min_confidence,
            args.max_per_file,
        )?,
        OutputFormat::Json => {
            report::write_json(out, &outcome.files, &outcome.totals, args.min_confidence)?
        }
        OutputFormat::Sarif => report::write_sarif(out, &outcome.files)?,
    }
    out.flush()?;
    Ok(outcome)
}

/// Scans without writing a report.
///
/// # Errors
/// A missing path or a bad `--exclude` pattern.
pub fn scan_paths(args: &ScanArgs, progress: bool) -> Result<ScanOutcome, ScanError> {
    let entries = walk::collect(&args.paths, &args.exclude)?;
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let bar = if progress {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "scanning {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        ) {
            b.set_style(style);
        }
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let engine = if args.include_example_domains {
        &*ENGINE_WITH_EXAMPLES
    } else {
        &*ENGINE
    };
    let done = AtomicU64::new(0);
    let mut files: Vec<FileReport> = entries
        .par_iter()
        .map(|e| {
            let path = e.path.display().to_string();
            let report = match formats::scan_file(engine, &e.path, &args.limits) {
                Ok(s) => {
                    let mut r =
                        FileReport::new(path, s.format, s.records, s.findings, args.min_confidence);
                    r.skipped = s.skipped;
                    r
                }
                Err(err) => FileReport::failed(path, err.to_string()),
            };
            bar.inc(e.size);
            done.fetch_add(1, Ordering::Relaxed);
            report
        })
        .collect();
    bar.finish_and_clear();
    let findings: u64 = files.iter().map(|f| f.findings.len() as u64).sum();
    let totals = Totals {
        files: done.load(Ordering::Relaxed),
        bytes: total,
        files_with_findings: files.iter().filter(|f| !f.findings.is_empty()).count() as u64,
        findings,
        skipped: files.iter().filter(|f| f.skipped.is_some()).count() as u64,
    };
    files.retain(FileReport::is_notable);
    let failed = args.fail_on.is_some_and(|n| findings >= n);
    Ok(ScanOutcome {
        totals,
        files,
        failed,
    })
}
