//! Measuring `kura scan`: precision and recall per kind on the labelled corpus
//! ([`evaluate`]) and throughput on bulk plain text and CSV ([`bench`], behind
//! `kura bench --only scan`). Uses only `kura-scan`'s public API ([`scan_paths`]).
//!
//! Scoring is per (file, line or sheet row, kind): a finding is a true positive when a label
//! of the same kind sits on the same line (or row); several findings of one kind on one line
//! count once. Timing uses the wall clock around whole scans; tests never assert on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use kura_scan::{Confidence, Kind, Location, ScanArgs, scan_paths};

use crate::corpus::{self, Label, LabelLoc};

/// Precision and recall for one kind.
#[derive(Clone, Debug, Serialize)]
pub struct KindQuality {
    /// The kind.
    pub kind: Kind,
    /// Labelled (file, line, kind) triples.
    pub labels: u64,
    /// Reported (file, line, kind) triples.
    pub found: u64,
    /// Triples both labelled and reported.
    pub true_positives: u64,
    /// `true_positives / found` (1.0 when nothing was found).
    pub precision: f64,
    /// `true_positives / labels` (1.0 when nothing was labelled).
    pub recall: f64,
}

/// What `kura bench --only scan` reports.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Threads rayon used.
    pub threads: usize,
    /// Bytes of plain text (logs and prose) scanned per run.
    pub text_bytes: u64,
    /// Best plain-text throughput over the runs, in MB/s (10^6 bytes).
    pub text_mb_per_s: f64,
    /// Bytes of CSV scanned per run.
    pub csv_bytes: u64,
    /// Best throughput over the runs on a dense CSV customer list, in MB/s.
    pub csv_mb_per_s: f64,
    /// Bytes of sparse CSV (one row in fifty with personal data) scanned per run.
    pub csv_sparse_bytes: u64,
    /// Best throughput over the runs on the sparse CSV, in MB/s.
    pub csv_sparse_mb_per_s: f64,
    /// Plain text in MB per CPU second (user + system over all threads, best run), where the
    /// platform tells (Linux). Unlike wall-clock MB/s it does not fall when other processes
    /// share the cores; times the core count it bounds the throughput of an idle machine.
    pub text_mb_per_cpu_s: Option<f64>,
    /// Dense CSV in MB per CPU second (see `text_mb_per_cpu_s`).
    pub csv_mb_per_cpu_s: Option<f64>,
    /// Sparse CSV in MB per CPU second (see `text_mb_per_cpu_s`).
    pub csv_sparse_mb_per_cpu_s: Option<f64>,
    /// People in the labelled quality corpus.
    pub quality_people: u64,
    /// The confidence threshold the quality was measured at.
    pub min_confidence: Confidence,
    /// Precision and recall per kind.
    pub quality: Vec<KindQuality>,
}

fn key_of(loc: &Location) -> LabelLoc {
    match loc {
        Location::Line { line, .. } => LabelLoc::Line(*line),
        Location::Cell { sheet, row, .. } => LabelLoc::Row(sheet.clone(), *row),
    }
}

/// Scans the corpus folder `dir` at `min` confidence and scores the findings against
/// `labels`.
pub fn evaluate(dir: &Path, labels: &[Label], min: Confidence) -> Vec<KindQuality> {
    let mut args = ScanArgs::new(vec![dir.to_path_buf()]);
    args.min_confidence = min;
    // Every finding is scored, so every finding is listed.
    args.format = kura_scan::OutputFormat::Json;
    args.max_findings = usize::MAX;
    let mut found: BTreeSet<(String, LabelLoc, Kind)> = BTreeSet::new();
    if let Ok(outcome) = scan_paths(&args, false) {
        for f in &outcome.files {
            let rel = Path::new(&f.path)
                .strip_prefix(dir)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| f.path.clone());
            for x in &f.findings {
                found.insert((rel.clone(), key_of(&x.location), x.kind));
            }
        }
    }
    let truth: BTreeSet<(String, LabelLoc, Kind)> = labels
        .iter()
        .map(|l| (l.file.clone(), l.loc.clone(), l.kind))
        .collect();
    let mut per: BTreeMap<Kind, (u64, u64, u64)> = BTreeMap::new();
    for t in &truth {
        per.entry(t.2).or_default().0 += 1;
    }
    for f in &found {
        let e = per.entry(f.2).or_default();
        e.1 += 1;
        if truth.contains(f) {
            e.2 += 1;
        }
    }
    Kind::ALL
        .iter()
        .filter_map(|k| per.get(k).map(|v| (*k, *v)))
        .map(|(kind, (labels, found, tp))| KindQuality {
            kind,
            labels,
            found,
            true_positives: tp,
            precision: if found == 0 {
                1.0
            } else {
                tp as f64 / found as f64
            },
            recall: if labels == 0 {
                1.0
            } else {
                tp as f64 / labels as f64
            },
        })
        .collect()
}

/// Best wall-clock seconds and best CPU seconds (if known) of `runs` scans of `dir`.
fn time_scan(dir: &Path, runs: usize) -> (f64, Option<f64>) {
    // What `kura scan --format json` does by default.
    let mut args = ScanArgs::new(vec![dir.to_path_buf()]);
    args.format = kura_scan::OutputFormat::Json;
    let mut best = f64::MAX;
    let mut best_cpu: Option<f64> = None;
    for _ in 0..runs.max(1) {
        let c = cpu_seconds();
        let t = Instant::now();
        let _ = scan_paths(&args, false);
        best = best.min(t.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c, cpu_seconds()) {
            best_cpu = Some(best_cpu.map_or(b - a, |x: f64| x.min(b - a)));
        }
    }
    (best, best_cpu)
}

/// User plus system CPU seconds of this process so far (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // Linux reports clock ticks; USER_HZ is 100 on every Linux ABI in use.
    Some((utime + stime) / 100.0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Generates a labelled corpus of `people` people and about `megabytes` MB each of plain text
/// and CSV in a temporary folder, scans them, and reports throughput (best of `runs`) and
/// precision/recall per kind at medium confidence. The folder is removed afterwards.
///
/// # Errors
/// Any I/O error creating the temporary corpus.
pub fn bench(megabytes: u64, people: usize, runs: usize) -> std::io::Result<BenchReport> {
    let tmp = tempfile::tempdir()?;
    let qdir = tmp.path().join("quality");
    std::fs::create_dir_all(&qdir)?;
    let corpus = corpus::generate(&qdir, people, 0x6b75_7261)?;
    let quality = evaluate(&qdir, &corpus.labels, Confidence::Medium);
    let bulk = tmp.path().join("bulk");
    corpus::generate_bulk(&bulk, megabytes * 1_000_000, 7)?;
    let text_dir = bulk.join("text");
    let csv_dir = bulk.join("csv");
    let sparse_dir = bulk.join("csv-sparse");
    let text_bytes = dir_bytes(&text_dir);
    let csv_bytes = dir_bytes(&csv_dir);
    let csv_sparse_bytes = dir_bytes(&sparse_dir);
    let (t_text, c_text) = time_scan(&text_dir, runs);
    let (t_csv, c_csv) = time_scan(&csv_dir, runs);
    let (t_sparse, c_sparse) = time_scan(&sparse_dir, runs);
    let per_cpu =
        |bytes: u64, cpu: Option<f64>| cpu.filter(|c| *c > 0.0).map(|c| bytes as f64 / 1e6 / c);
    Ok(BenchReport {
        threads: rayon::current_num_threads(),
        text_bytes,
        text_mb_per_s: text_bytes as f64 / 1e6 / t_text,
        csv_bytes,
        csv_mb_per_s: csv_bytes as f64 / 1e6 / t_csv,
        csv_sparse_bytes,
        csv_sparse_mb_per_s: csv_sparse_bytes as f64 / 1e6 / t_sparse,
        text_mb_per_cpu_s: per_cpu(text_bytes, c_text),
        csv_mb_per_cpu_s: per_cpu(csv_bytes, c_csv),
        csv_sparse_mb_per_cpu_s: per_cpu(csv_sparse_bytes, c_sparse),
        quality_people: corpus.people,
        min_confidence: Confidence::Medium,
        quality,
    })
}
