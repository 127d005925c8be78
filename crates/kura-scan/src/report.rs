//! Reports: findings with their location, the per-file summary (counts per kind and a verdict
//! "personal data of about N people"), and the three output formats (table, JSON, SARIF
//! 2.1.0).
//!
//! Every excerpt here is already masked by the detector; no function in this module sees an
//! unmasked value.

use std::collections::{BTreeMap, HashSet};

use cardinality_estimator::CardinalityEstimator;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::json;

use crate::kind::{Confidence, Kind};

/// Where a finding is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Location {
    /// In a text file: 1-based line and column (in characters).
    Line {
        /// 1-based line number.
        line: u64,
        /// 1-based column, counted in Unicode characters.
        column: u64,
    },
    /// In a spreadsheet: sheet name, 1-based row and column letter.
    Cell {
        /// The sheet's name.
        sheet: String,
        /// 1-based row number.
        row: u64,
        /// Column letters (`A`, `AB`).
        column: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line { line, column } => write!(f, "{line}:{column}"),
            Location::Cell { sheet, row, column } => write!(f, "{sheet}!{column}{row}"),
        }
    }
}

/// Why a file, or the rest of a file, was not read. Each reason names the limit of
/// [`crate::Limits`] that was reached (or, for [`SkipReason::Unreadable`], an I/O or format
/// error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// The decompressed size (of an archive entry, of a whole archive, or of a gzip stream)
    /// is over its limit.
    DecompressedTooLarge,
    /// Decompressed size over compressed size is over the limit: a compression bomb.
    CompressionRatio,
    /// An archive (a spreadsheet is a zip archive) holds more entries than the limit.
    EntryCount,
    /// A file read whole into memory (a spreadsheet) is larger on disk than the limit.
    FileTooLarge,
    /// A line is longer than the limit.
    LineTooLong,
    /// A sheet would expand to more cells than the limit (repeated ODS rows and cells).
    CellCount,
    /// The file could not be read or parsed.
    Unreadable,
}

impl SkipReason {
    /// The stable snake_case id used in every output format.
    pub fn id(self) -> &'static str {
        match self {
            SkipReason::DecompressedTooLarge => "decompressed_too_large",
            SkipReason::CompressionRatio => "compression_ratio",
            SkipReason::EntryCount => "entry_count",
            SkipReason::FileTooLarge => "file_too_large",
            SkipReason::LineTooLong => "line_too_long",
            SkipReason::CellCount => "cell_count",
            SkipReason::Unreadable => "unreadable",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// A file that was skipped, whole or from some point on, and why. Findings made before the
/// point where reading stopped are kept in the file's report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Which limit was reached.
    pub reason: SkipReason,
    /// A sentence for people: the limit, and how much of the file was read. Never holds a
    /// scanned value.
    pub detail: String,
}

impl Skipped {
    /// A skip for `reason` with its explanation.
    pub fn new(reason: SkipReason, detail: impl Into<String>) -> Skipped {
        Skipped {
            reason,
            detail: detail.into(),
        }
    }
}

/// Distinct values of one kind that identifies a person: counted exactly up to
/// [`EXACT_DISTINCT`] values, then estimated (HyperLogLog++, about 0.8 % standard error), so
/// the memory it takes does not grow with the file.
#[derive(Default)]
struct Distinct {
    exact: HashSet<u64>,
    sketch: Option<CardinalityEstimator<u64, wyhash::WyHash, 14, 6>>,
}

/// Distinct values counted exactly before [`Distinct`] switches to an estimate.
const EXACT_DISTINCT: usize = 1 << 16;

impl Distinct {
    fn insert(&mut self, v: u64) {
        if let Some(s) = &mut self.sketch {
            s.insert(&v);
            return;
        }
        self.exact.insert(v);
        if self.exact.len() > EXACT_DISTINCT {
            let mut s = CardinalityEstimator::new();
            for v in self.exact.drain() {
                s.insert(&v);
            }
            self.exact.shrink_to_fit();
            self.sketch = Some(s);
        }
    }

    fn count(&self) -> u64 {
        match &self.sketch {
            Some(s) => s.estimate() as u64,
            None => self.exact.len() as u64,
        }
    }
}

/// People of one kind: distinct values, and distinct records (lines or rows) holding one.
/// Records arrive in file order, so comparing with the last one counts them exactly.
#[derive(Default)]
struct PeopleOfKind {
    values: Distinct,
    records: u64,
    last: Option<(u64, u64)>,
}

/// What a baseline run tracks for one file: how many occurrences of each fingerprint the
/// baseline still holds (the first that many are known), and this run's counts.
struct Tracking<'a> {
    left: BTreeMap<&'a str, u64>,
    seen: BTreeMap<String, u64>,
}

/// Gathers one file's findings as the readers produce them, in file order.
///
/// Invariant: what it holds does not grow with the file beyond small bounds — counts per
/// kind, at most [`EXACT_DISTINCT`] value hashes per kind (then a fixed-size sketch), at most
/// `list_max` listed findings, and (with a baseline) one counter per distinct *masked*
/// fingerprint. Excerpts are masked by the caller's closure, which runs only for findings
/// that are listed or fingerprinted; a value is never held here.
pub(crate) struct Collector<'a> {
    min: Confidence,
    list_max: usize,
    counts: BTreeMap<Kind, u64>,
    people: BTreeMap<Kind, PeopleOfKind>,
    findings: Vec<Finding>,
    baseline: Option<Tracking<'a>>,
    known: u64,
}

impl<'a> Collector<'a> {
    /// A collector keeping findings at or above `min` and listing at most `list_max`.
    pub(crate) fn new(min: Confidence, list_max: usize) -> Self {
        Collector {
            min,
            list_max,
            counts: BTreeMap::new(),
            people: BTreeMap::new(),
            findings: Vec::new(),
            baseline: None,
            known: 0,
        }
    }

    /// Tracks findings against a file's baseline entry: per fingerprint, the first as many
    /// occurrences as the baseline recorded are known and not reported; the rest are new.
    pub(crate) fn against(mut self, prev: Option<&'a crate::baseline::FileEntry>) -> Self {
        self.baseline = Some(Tracking {
            left: prev
                .map(|p| p.findings.iter().map(|(k, v)| (k.as_str(), *v)).collect())
                .unwrap_or_default(),
            seen: BTreeMap::new(),
        });
        self
    }

    /// Takes one finding; `excerpt` masks its value and is called only when needed.
    pub(crate) fn add(
        &mut self,
        location: Location,
        kind: Kind,
        confidence: Confidence,
        value_hash: u64,
        excerpt: impl FnOnce() -> String,
    ) {
        if confidence < self.min {
            return;
        }
        let mut excerpt = Some(excerpt);
        let mut masked: Option<String> = None;
        if let Some(t) = &mut self.baseline {
            let m = (excerpt.take().expect("taken once"))();
            let fp = crate::baseline::fingerprint(kind, &m);
            let known = match t.left.get_mut(fp.as_str()) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            };
            *t.seen.entry(fp).or_insert(0) += 1;
            if known {
                self.known += 1;
                return;
            }
            masked = Some(m);
        }
        *self.counts.entry(kind).or_insert(0) += 1;
        if kind.identifies_person() {
            let record = match &location {
                Location::Line { line, .. } => (0, *line),
                Location::Cell { sheet, row, .. } => (sheet_key(sheet), *row),
            };
            let p = self.people.entry(kind).or_default();
            p.values.insert(value_hash);
            if p.last != Some(record) {
                p.last = Some(record);
                p.records += 1;
            }
        }
        if self.findings.len() < self.list_max {
            let excerpt = match (masked, excerpt) {
                (Some(m), _) => m,
                (None, Some(f)) => f(),
                (None, None) => return,
            };
            self.findings.push(Finding {
                location,
                kind,
                confidence,
                excerpt,
            });
        }
    }

    /// The file's report, the number of findings known from the baseline, and (with a
    /// baseline) this run's fingerprint counts for the file's new baseline entry.
    pub(crate) fn finish(
        self,
        path: String,
        format: String,
        records: u64,
    ) -> (FileReport, u64, Option<BTreeMap<String, u64>>) {
        let people = self
            .people
            .values()
            .map(|p| p.values.count().min(p.records))
            .max()
            .unwrap_or(0);
        let total: u64 = self.counts.values().sum();
        let unlisted = total.saturating_sub(self.findings.len() as u64);
        let report = FileReport {
            path,
            format,
            records,
            people,
            counts: self.counts,
            findings: self.findings,
            unlisted,
            error: None,
            skipped: None,
        };
        (report, self.known, self.baseline.map(|t| t.seen))
    }
}

/// One finding. Invariant: `excerpt` is masked; a full value is never held here.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Where it is.
    #[serde(flatten)]
    pub location: Location,
    /// What it is.
    pub kind: Kind,
    /// How sure the scanner is.
    pub confidence: Confidence,
    /// The masked value.
    pub excerpt: String,
}

/// What was found in one file, at or above the chosen confidence.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// The path as given or walked.
    pub path: String,
    /// The format read (`csv`, `xlsx`, `log+gzip`, `binary`, ...).
    pub format: String,
    /// Lines or rows read (a header row excluded).
    pub records: u64,
    /// Estimated number of people whose data the file holds: over the kinds that point at one
    /// person (e-mail, phone, name, card, ...), the largest count of distinct values of a kind,
    /// capped by the number of lines or rows holding that kind.
    pub people: u64,
    /// Findings per kind.
    pub counts: BTreeMap<Kind, u64>,
    /// The findings, in file order: the first `--max-findings` (JSON, SARIF) or
    /// `--max-per-file` (table) of them; `counts` count them all.
    pub findings: Vec<Finding>,
    /// Findings counted in `counts` but not listed in `findings` (the list was full).
    #[serde(skip_serializing_if = "is_zero")]
    pub unlisted: u64,
    /// Why the file could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the file, or its rest, was skipped, and why (a limit was reached or the file
    /// is unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Skipped>,
}

impl FileReport {
    /// Findings at or above the chosen confidence, listed or not.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// A report for a file that could not be read.
    pub(crate) fn failed(path: String, error: String) -> FileReport {
        FileReport {
            path,
            format: "unreadable".to_owned(),
            records: 0,
            people: 0,
            counts: BTreeMap::new(),
            findings: Vec::new(),
            unlisted: 0,
            skipped: Some(Skipped::new(SkipReason::Unreadable, error.clone())),
            error: Some(error),
        }
    }

    /// Whether the report belongs in the output: it has findings, or the file was skipped.
    pub fn is_notable(&self) -> bool {
        !self.counts.is_empty() || self.error.is_some() || self.skipped.is_some()
    }

    /// The verdict line for people.
    pub fn verdict(&self) -> String {
        match self.people {
            0 if self.counts.is_empty() => "no personal data found".to_owned(),
            0 => "secrets or technical identifiers, no one person's data".to_owned(),
            1 => "personal data of 1 person".to_owned(),
            n => format!("personal data of about {} people", group(n)),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A small key for a sheet name (FNV-1a, never 0), to tell rows of different sheets apart.
fn sheet_key(sheet: &str) -> u64 {
    let h = sheet.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    h.max(1)
}

/// Thousands separators for people.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Totals of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Files read.
    pub files: u64,
    /// Bytes read (before decompression).
    pub bytes: u64,
    /// Files with at least one finding.
    pub files_with_findings: u64,
    /// Findings at or above the chosen confidence.
    pub findings: u64,
    /// Files skipped, whole or in part, because a limit was reached or they are unreadable.
    pub skipped: u64,
    /// With `--baseline`: findings that were already in the baseline and are not reported
    /// (nor counted in `findings`). Absent without a baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<u64>,
}

/// Writes the human table: files with the most people first, at most `per_file` findings each.
pub(crate) fn write_table(
    out: &mut dyn Write,
    files: &[FileReport],
    totals: &Totals,
    min: Confidence,
    per_file: usize,
) -> io::Result<()> {
    let mut order: Vec<&FileReport> = files.iter().filter(|f| f.is_notable()).collect();
    order.sort_by(|a, b| {
        b.people
            .cmp(&a.people)
            .then(b.total().cmp(&a.total()))
            .then(a.path.cmp(&b.path))
    });
    for f in order {
        if let Some(e) = &f.error {
            writeln!(out, "{}  [error: {e}]", f.path)?;
            continue;
        }
        if let Some(s) = &f.skipped {
            writeln!(out, "{}  [skipped: {}: {}]", f.path, s.reason, s.detail)?;
            if f.counts.is_empty() {
                writeln!(out)?;
                continue;
            }
        }
        writeln!(
            out,
            "{}  [{}, {} records]  {}",
            f.path,
            f.format,
            group(f.records),
            f.verdict()
        )?;
        let counts: Vec<String> = f
            .counts
            .iter()
            .map(|(k, n)| format!("{} {}", k.id(), group(*n)))
            .collect();
        writeln!(out, "  counts: {}", counts.join(", "))?;
        for x in f.findings.iter().take(per_file) {
            writeln!(
                out,
                "  {}:{}  {:<15} {:<6} {}",
                f.path,
                x.location,
                x.kind.id(),
                x.confidence.id(),
                x.excerpt
            )?;
        }
        let shown = f.findings.len().min(per_file) as u64;
        if f.total() > shown {
            writeln!(
                out,
                "  ... {} more (use --format json to list them)",
                group(f.total() - shown)
            )?;
        }
        writeln!(out)?;
    }
    let (new, known) = match totals.known {
        Some(k) => ("new ", format!(" ({} known from the baseline)", group(k))),
        None => ("", String::new()),
    };
    writeln!(
        out,
        "scanned {} files ({:.1} MB): {} with {new}findings, {} {new}findings at {} confidence or above{known}, {} skipped",
        group(totals.files),
        totals.bytes as f64 / 1e6,
        group(totals.files_with_findings),
        group(totals.findings),
        min.id(),
        group(totals.skipped)
    )
}

/// A file report with its verdict, for JSON output.
#[derive(Serialize)]
struct FileJson<'a> {
    #[serde(flatten)]
    report: &'a FileReport,
    verdict: String,
}

/// Writes the JSON report, streaming file by file (no document tree in memory).
pub(crate) fn write_json(
    out: &mut dyn Write,
    files: &[FileReport],
    totals: &Totals,
    min: Confidence,
) -> io::Result<()> {
    write!(
        out,
        "{{\"tool\":\"kura scan\",\"version\":{},\"min_confidence\":{},\"totals\":",
        json!(env!("CARGO_PKG_VERSION")),
        json!(min)
    )?;
    serde_json::to_writer(&mut *out, totals)?;
    write!(out, ",\"files\":[")?;
    let with = files.iter().filter(|f| f.is_notable());
    for (i, f) in with.enumerate() {
        if i > 0 {
            writeln!(out, ",")?;
        }
        serde_json::to_writer(
            &mut *out,
            &FileJson {
                report: f,
                verdict: f.verdict(),
            },
        )?;
    }
    writeln!(out, "]}}")
}

/// Writes a SARIF 2.1.0 log: one rule per kind, one result per finding, and one tool
/// execution notification (`kura-scan/skipped/<reason>`) per skipped or unreadable file.
pub(crate) fn write_sarif(out: &mut dyn Write, files: &[FileReport]) -> io::Result<()> {
    let rules: Vec<_> = Kind::ALL
        .iter()
        .map(|k| {
            json!({
                "id": format!("kura-scan/{}", k.id()),
                "name": camel(k.id()),
                "shortDescription": { "text": format!("Possible {} in a file", k.title()) },
                "fullDescription": { "text": format!("kura scan found what looks like a {} in a file; personal data and secrets should not sit in files that others can read.", k.title()) },
                "help": { "text": "Remove the value or the file, or move the data into the kura vault; see docs/scan-quality.md." },
                "defaultConfiguration": { "level": "warning" },
                "properties": { "tags": ["privacy", "personal-data"] }
            })
        })
        .collect();
    let mut results = Vec::new();
    for f in files {
        for x in &f.findings {
            let rule_index = Kind::ALL.iter().position(|k| *k == x.kind).unwrap_or(0);
            let level = match x.confidence {
                Confidence::High => "error",
                Confidence::Medium => "warning",
                Confidence::Low => "note",
            };
            let uri = f.path.replace('\\', "/");
            let uri = uri.strip_prefix("./").unwrap_or(&uri).to_owned();
            let (region, props) = match &x.location {
                Location::Line { line, column } => (
                    json!({ "startLine": line, "startColumn": column }),
                    json!({}),
                ),
                Location::Cell { sheet, row, column } => (
                    json!({ "startLine": row }),
                    json!({ "sheet": sheet, "row": row, "column": column }),
                ),
            };
            let mut result = json!({
                "ruleId": format!("kura-scan/{}", x.kind.id()),
                "ruleIndex": rule_index,
                "level": level,
                "message": { "text": format!("Possible {} ({} confidence): {}", x.kind.title(), x.confidence.id(), x.excerpt) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
                        "region": region
                    }
                }],
                "properties": { "confidence": x.confidence.id(), "peopleInFile": f.people }
            });
            if let Location::Cell { .. } = x.location {
                result["properties"]["cell"] = props;
            }
            results.push(result);
        }
    }
    let notifications: Vec<_> = files
        .iter()
        .filter_map(|f| f.skipped.as_ref().map(|s| (f, s)))
        .map(|(f, s)| {
            let uri = f.path.replace('\\', "/");
            let uri = uri.strip_prefix("./").unwrap_or(&uri).to_owned();
            json!({
                "level": "warning",
                "message": { "text": format!("File skipped ({}): {}", s.reason, s.detail) },
                "descriptor": { "id": format!("kura-scan/skipped/{}", s.reason) },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri } } }],
                "properties": { "reason": s.reason.id() }
            })
        })
        .chain(files.iter().filter(|f| f.unlisted > 0).map(|f| {
            let uri = f.path.replace('\\', "/");
            let uri = uri.strip_prefix("./").unwrap_or(&uri).to_owned();
            json!({
                "level": "note",
                "message": { "text": format!("{} more findings in this file are counted but not listed (--max-findings)", f.unlisted) },
                "descriptor": { "id": "kura-scan/unlisted" },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri } } }],
                "properties": { "unlisted": f.unlisted, "counts": f.counts }
            })
        }))
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "kura-scan",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/kura-vault/kura",
                "rules": rules
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications
            }],
            "columnKind": "unicodeCodePoints",
            "results": results
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn camel(id: &str) -> String {
    id.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64) -> Location {
        Location::Line { line: n, column: 1 }
    }

    #[test]
    fn verdict_counts_distinct_people() {
        let mut c = Collector::new(Confidence::Medium, 4);
        for h in 0..10u64 {
            c.add(line(h), Kind::Email, Confidence::High, h % 3, || {
                "a***@b***.de".into()
            });
        }
        c.add(
            line(11),
            Kind::Email,
            Confidence::Low,
            99,
            || unreachable!(),
        );
        let (r, known, seen) = c.finish("x".into(), "text".into(), 10);
        assert_eq!(r.people, 3);
        assert_eq!(r.counts[&Kind::Email], 10, "a low finding is not counted");
        assert_eq!(
            (r.findings.len(), r.unlisted),
            (4, 6),
            "listed up to the cap"
        );
        assert_eq!(r.total(), 10);
        assert_eq!((known, seen), (0, None));
        assert_eq!(r.verdict(), "personal data of about 3 people");
        assert_eq!(group(2500), "2,500");
    }

    #[test]
    fn unlisted_findings_are_not_masked() {
        let mut c = Collector::new(Confidence::Medium, 1);
        let mut masked = 0;
        for h in 0..100u64 {
            c.add(line(h), Kind::Phone, Confidence::High, h, || {
                masked += 1;
                "***".into()
            });
        }
        assert_eq!(masked, 1, "only the listed finding's excerpt is made");
        let (r, _, _) = c.finish("x".into(), "text".into(), 100);
        assert_eq!(r.total(), 100);
    }

    #[test]
    fn people_past_the_exact_bound_are_estimated_closely_in_bounded_memory() {
        let n = 400_000u64;
        let mut c = Collector::new(Confidence::Medium, 0);
        for h in 0..n {
            // Every value twice, on its own line each time.
            let v = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            c.add(line(2 * h), Kind::Email, Confidence::High, v, String::new);
            c.add(
                line(2 * h + 1),
                Kind::Email,
                Confidence::High,
                v,
                String::new,
            );
        }
        let p = &c.people[&Kind::Email];
        assert!(p.values.sketch.is_some() && p.values.exact.is_empty());
        let (r, _, _) = c.finish("x".into(), "text".into(), 2 * n);
        let err = (r.people as f64 - n as f64).abs() / n as f64;
        assert!(err < 0.03, "estimate {} for {n} distinct values", r.people);
        assert_eq!(r.counts[&Kind::Email], 2 * n);
    }

    #[test]
    fn a_baseline_hides_as_many_occurrences_as_it_recorded() {
        let fp = crate::baseline::fingerprint(Kind::Email, "a***@b***.de");
        let prev = crate::baseline::FileEntry {
            sha256: None,
            partial: false,
            findings: [(fp.clone(), 2)].into_iter().collect(),
        };
        let mut c = Collector::new(Confidence::Medium, 100).against(Some(&prev));
        for h in 0..3u64 {
            c.add(line(h), Kind::Email, Confidence::High, h, || {
                "a***@b***.de".into()
            });
        }
        let (r, known, seen) = c.finish("x".into(), "text".into(), 3);
        assert_eq!((known, r.total(), r.findings.len()), (2, 1, 1));
        assert_eq!(
            r.findings[0].location,
            line(2),
            "the first two are the known ones"
        );
        assert_eq!(seen.expect("tracked")[&fp], 3);
    }
}
