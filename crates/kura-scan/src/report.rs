//! Reports: findings with their location, the per-file summary (counts per kind and a verdict
//! "personal data of about N people"), and the three output formats (table, JSON, SARIF
//! 2.1.0).
//!
//! Every excerpt here is already masked by the detector; no function in this module sees an
//! unmasked value.

use std::collections::{BTreeMap, HashSet};
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

/// A finding as the detectors give it, with a hash of its value for counting people.
#[derive(Clone, Debug)]
pub(crate) struct RawFinding {
    pub location: Location,
    pub kind: Kind,
    pub confidence: Confidence,
    pub excerpt: String,
    pub value_hash: u64,
}

/// Distinct value hashes and distinct records (sheet key or 0, line or row) of one kind.
type PeopleOfKind = (HashSet<u64>, HashSet<(u64, u64)>);

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
    /// The findings, in file order.
    pub findings: Vec<Finding>,
    /// Why the file could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the file, or its rest, was skipped, and why (a limit was reached or the file
    /// is unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Skipped>,
}

impl FileReport {
    /// Builds a report from raw findings, keeping those at or above `min`.
    pub(crate) fn new(
        path: String,
        format: String,
        records: u64,
        raw: Vec<RawFinding>,
        min: Confidence,
    ) -> FileReport {
        let mut counts = BTreeMap::new();
        // Per kind: distinct values and distinct records (lines or rows) holding one. The
        // smaller of the two counts people of that kind: a value repeated on many lines is one
        // person, and a name split over two columns of one row is one person too.
        let mut distinct: BTreeMap<Kind, PeopleOfKind> = BTreeMap::new();
        let mut findings = Vec::with_capacity(raw.len());
        for r in raw.into_iter().filter(|r| r.confidence >= min) {
            *counts.entry(r.kind).or_insert(0) += 1;
            if r.kind.identifies_person() {
                let e = distinct.entry(r.kind).or_default();
                e.0.insert(r.value_hash);
                let record = match &r.location {
                    Location::Line { line, .. } => (0, *line),
                    Location::Cell { sheet, row, .. } => (sheet_key(sheet), *row),
                };
                e.1.insert(record);
            }
            findings.push(Finding {
                location: r.location,
                kind: r.kind,
                confidence: r.confidence,
                excerpt: r.excerpt,
            });
        }
        let people = distinct
            .values()
            .map(|(v, r)| v.len().min(r.len()) as u64)
            .max()
            .unwrap_or(0);
        FileReport {
            path,
            format,
            records,
            people,
            counts,
            findings,
            error: None,
            skipped: None,
        }
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
            skipped: Some(Skipped::new(SkipReason::Unreadable, error.clone())),
            error: Some(error),
        }
    }

    /// Whether the report belongs in the output: it has findings, or the file was skipped.
    pub fn is_notable(&self) -> bool {
        !self.findings.is_empty() || self.error.is_some() || self.skipped.is_some()
    }

    /// The verdict line for people.
    pub fn verdict(&self) -> String {
        match self.people {
            0 if self.findings.is_empty() => "no personal data found".to_owned(),
            0 => "secrets or technical identifiers, no one person's data".to_owned(),
            1 => "personal data of 1 person".to_owned(),
            n => format!("personal data of about {} people", group(n)),
        }
    }
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
            .then(b.findings.len().cmp(&a.findings.len()))
            .then(a.path.cmp(&b.path))
    });
    for f in order {
        if let Some(e) = &f.error {
            writeln!(out, "{}  [error: {e}]", f.path)?;
            continue;
        }
        if let Some(s) = &f.skipped {
            writeln!(out, "{}  [skipped: {}: {}]", f.path, s.reason, s.detail)?;
            if f.findings.is_empty() {
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
        if f.findings.len() > per_file {
            writeln!(
                out,
                "  ... {} more (use --format json to list all)",
                group((f.findings.len() - per_file) as u64)
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

    #[test]
    fn verdict_counts_distinct_people() {
        let raw = |h: u64| RawFinding {
            location: Location::Line { line: h, column: 1 },
            kind: Kind::Email,
            confidence: Confidence::High,
            excerpt: "a***@b***.de".into(),
            value_hash: h % 3,
        };
        let r = FileReport::new(
            "x".into(),
            "text".into(),
            10,
            (0..10).map(raw).collect(),
            Confidence::Medium,
        );
        assert_eq!(r.people, 3);
        assert_eq!(r.counts[&Kind::Email], 10);
        assert_eq!(r.verdict(), "personal data of about 3 people");
        assert_eq!(group(2500), "2,500");
    }
}
