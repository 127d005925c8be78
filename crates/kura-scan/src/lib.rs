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
//! - `baseline`: `--baseline FILE`, incremental scans that report only new findings
//!   (fingerprints of masked findings and content hashes, never a value);
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

mod baseline;
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
use std::path::{Path, PathBuf};
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
    /// In JSON and SARIF, list at most this many findings per file (the counts per kind,
    /// the totals and `--fail-on` still count every finding). Memory grows with this number,
    /// not with the size of a file.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_findings: usize,
    /// What reading one file may cost; a file over a limit is reported as skipped with its
    /// reason. Not a command-line option: the defaults bound memory (see [`Limits`]).
    #[arg(skip)]
    pub limits: Limits,
    /// Count e-mail addresses at the reserved example domains (`example.com`, `.org`,
    /// `.net`, `.example`, RFC 2606) like any other. By default they are `low` (test
    /// fixtures), except in a field whose key or column says e-mail, where they are `medium`.
    #[arg(long)]
    pub include_example_domains: bool,
    /// Incremental scans: read FILE (if it exists), report only findings not recorded in it,
    /// then write the current state to FILE. FILE holds content hashes and fingerprints of
    /// masked findings, never a value; a corrupt FILE is an error. Totals, `--fail-on` and
    /// every format count only new findings (JSON totals also give `known`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
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
            max_findings: 1000,
            limits: Limits::default(),
            include_example_domains: false,
            baseline: None,
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
    /// The `--baseline` file cannot be read or written, is corrupt, or has another version.
    #[error("baseline {}: {reason}", path.display())]
    Baseline {
        /// The baseline file.
        path: PathBuf,
        /// What is wrong.
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
            ScanError::Baseline { .. } => "scan_baseline",
            ScanError::Output(_) => "scan_output",
        }
    }
}

/// Scans the paths in `args`, writes the report to `out` and tells whether `--fail-on` was
/// reached. Files that cannot be read are reported as such and do not stop the scan. A
/// progress bar is drawn on standard error only when it is a terminal.
///
/// With `--baseline`, the baseline is replaced only after the report was written, so a
/// report that could not be delivered does not swallow the findings it held.
///
/// # Errors
/// A missing path, a bad `--exclude` pattern, an unusable baseline, or a failure to write
/// to `out`.
pub fn run(args: &ScanArgs, out: &mut dyn Write) -> Result<ScanOutcome, ScanError> {
    let _lock = args.baseline.as_deref().map(baseline::lock).transpose()?;
    let progress = std::io::stderr().is_terminal();
    let (outcome, pending) = scan(args, progress)?;
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
    if let (Some(path), Some(b)) = (&args.baseline, pending) {
        b.save(path)?;
    }
    Ok(outcome)
}

/// Scans without writing a report. With `--baseline`, reports only new findings and writes
/// the updated baseline before returning.
///
/// # Errors
/// A missing path, a bad `--exclude` pattern, or an unusable baseline.
pub fn scan_paths(args: &ScanArgs, progress: bool) -> Result<ScanOutcome, ScanError> {
    let _lock = args.baseline.as_deref().map(baseline::lock).transpose()?;
    let (outcome, pending) = scan(args, progress)?;
    if let (Some(path), Some(b)) = (&args.baseline, pending) {
        b.save(path)?;
    }
    Ok(outcome)
}

/// One file's result: its report (new findings only under a baseline), the findings known
/// from the baseline, and the file's new baseline entry.
type FileResult = (FileReport, u64, Option<baseline::FileEntry>);

/// Scans, and with `--baseline` also returns the baseline to write.
fn scan(
    args: &ScanArgs,
    progress: bool,
) -> Result<(ScanOutcome, Option<baseline::Baseline>), ScanError> {
    let prev = match &args.baseline {
        Some(p) => Some(baseline::Baseline::load(p)?.unwrap_or_default()),
        None => None,
    };
    let scanner = baseline::scanner_id(args.min_confidence, args.include_example_domains);
    let mut entries = walk::collect(&args.paths, &args.exclude)?;
    if let Some(p) = &args.baseline {
        let own = baseline::SelfFilter::new(p);
        entries.retain(|e| !own.matches(&e.path));
    }
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
    let same_scanner = prev.as_ref().is_some_and(|b| b.scanner == scanner);
    let results: Vec<(String, FileResult)> = entries
        .par_iter()
        .map(|e| {
            let path = e.path.display().to_string();
            // The baseline names a file by its canonical path, however the scan was started.
            let key = match &prev {
                Some(_) => baseline::key_for(&e.path),
                None => String::new(),
            };
            let result = match &prev {
                None => (scan_one(engine, &e.path, path.clone(), args), 0, None),
                Some(b) => scan_against(
                    engine,
                    &e.path,
                    path.clone(),
                    args,
                    b.files.get(&key),
                    same_scanner,
                ),
            };
            bar.inc(e.size);
            done.fetch_add(1, Ordering::Relaxed);
            (key, result)
        })
        .collect();
    bar.finish_and_clear();
    let known: u64 = results.iter().map(|(_, r)| r.1).sum();
    let pending = prev.map(|old| {
        // Entries of files outside the scanned paths stay; those under them are replaced by
        // what this run saw (a deleted file's entry goes).
        let roots: Vec<String> = args.paths.iter().map(|r| baseline::key_for(r)).collect();
        let mut files: std::collections::BTreeMap<String, baseline::FileEntry> = old
            .files
            .into_iter()
            .filter(|(k, _)| !roots.iter().any(|r| Path::new(k).starts_with(r)))
            .collect();
        for (path, (_, _, entry)) in &results {
            if let Some(entry) = entry {
                files.insert(path.clone(), entry.clone());
            }
        }
        baseline::Baseline {
            version: baseline::VERSION,
            scanner,
            files,
        }
    });
    let mut files: Vec<FileReport> = results.into_iter().map(|(_, r)| r.0).collect();
    let findings: u64 = files.iter().map(FileReport::total).sum();
    let totals = Totals {
        files: done.load(Ordering::Relaxed),
        bytes: total,
        files_with_findings: files.iter().filter(|f| !f.counts.is_empty()).count() as u64,
        findings,
        skipped: files.iter().filter(|f| f.skipped.is_some()).count() as u64,
        known: args.baseline.as_ref().map(|_| known),
    };
    files.retain(FileReport::is_notable);
    let failed = args.fail_on.is_some_and(|n| findings >= n);
    Ok((
        ScanOutcome {
            totals,
            files,
            failed,
        },
        pending,
    ))
}

/// How many findings per file a report lists under `args`.
fn list_max(args: &ScanArgs) -> usize {
    match args.format {
        OutputFormat::Table => args.max_per_file,
        OutputFormat::Json | OutputFormat::Sarif => args.max_findings,
    }
}

/// Scans one file into its report.
fn scan_one(engine: &detect::Engine, file: &Path, path: String, args: &ScanArgs) -> FileReport {
    let mut sink = report::Collector::new(args.min_confidence, list_max(args));
    match formats::scan_file(engine, file, &args.limits, &mut sink) {
        Ok(s) => {
            let (mut r, _, _) = sink.finish(path, s.format, s.records);
            r.skipped = s.skipped;
            r
        }
        Err(err) => FileReport::failed(path, err.to_string()),
    }
}

/// Scans one file against its baseline entry `prev`: the report holds only new findings.
/// An unchanged file (same content hash, same scanner and options, read whole last time)
/// is not scanned again; a file that cannot be read keeps its old entry.
fn scan_against(
    engine: &detect::Engine,
    file: &Path,
    path: String,
    args: &ScanArgs,
    prev: Option<&baseline::FileEntry>,
    same_scanner: bool,
) -> FileResult {
    let hashed = baseline::hash_file(file).ok();
    let sha256 = hashed
        .as_ref()
        .filter(|(_, size)| *size >= baseline::MIN_HASHED_SIZE)
        .map(|(h, _)| h.clone());
    if let Some(p) = prev
        && same_scanner
        && !p.partial
        && sha256.is_some()
        && p.sha256 == sha256
    {
        let (report, _, _) =
            report::Collector::new(args.min_confidence, 0).finish(path, String::new(), 0);
        return (report, p.total(), Some(p.clone()));
    }
    let mut sink = report::Collector::new(args.min_confidence, list_max(args)).against(prev);
    let s = match formats::scan_file(engine, file, &args.limits, &mut sink) {
        Ok(s) => s,
        Err(err) => return (FileReport::failed(path, err.to_string()), 0, prev.cloned()),
    };
    let (mut report, known, seen) = sink.finish(path, s.format, s.records);
    let entry = baseline::FileEntry {
        sha256,
        partial: s.skipped.is_some(),
        findings: seen.unwrap_or_default(),
    };
    report.skipped = s.skipped;
    (report, known, Some(entry))
}
