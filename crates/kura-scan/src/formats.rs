//! Reading files: plain text and logs, CSV/TSV, JSON/NDJSON, SQL dumps, gzip-compressed
//! files (by the extension under `.gz`), and spreadsheets (XLSX, XLS, ODS through
//! `calamine`). Each format is turned into buffers or cells that the detectors scan, and
//! every hit is given its location (line and column, or sheet, row and column).
//!
//! Large text files are read in blocks and each block is split into chunks at line ends that
//! are scanned in parallel. Binary files of unknown format are skipped.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use calamine::{Data, Reader, open_workbook_auto};
use rayon::prelude::*;

use crate::context::{Field, classify_key, person_table};
use crate::detect::{Engine, Hit, Layout, dedup};
use crate::report::{Location, RawFinding};
use crate::sql::Tables;

/// Size of a block read from a large file; each block is scanned in parallel chunks.
const BLOCK: usize = 64 << 20;
/// Size of a chunk scanned by one thread.
const CHUNK: usize = 1 << 20;

/// What kind of content a file holds, by its name (and for unknown names, its bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Plain text, logs, JSON, SQL and anything else that is text.
    Text,
    /// Delimited text whose first line is a header.
    Delimited(u8),
    /// A spreadsheet that `calamine` reads.
    Spreadsheet,
    /// A SQL dump: text, plus `INSERT` values mapped to their columns.
    Sql,
}

/// The format named by a file extension (`None` for gzip, which wraps another).
fn format_of(name: &str) -> Format {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Format::Delimited(b','),
        "tsv" | "tab" => Format::Delimited(b'\t'),
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Format::Spreadsheet,
        "sql" => Format::Sql,
        _ => Format::Text,
    }
}

/// The short name of a format for reports.
fn format_label(name: &str, format: Format, gz: bool) -> String {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let base = match format {
        Format::Delimited(b'\t') => "tsv".to_owned(),
        Format::Delimited(_) => "csv".to_owned(),
        Format::Spreadsheet => ext,
        Format::Sql => "sql".to_owned(),
        Format::Text => match ext.as_str() {
            "json" | "ndjson" | "jsonl" | "sql" | "log" => ext,
            _ => "text".to_owned(),
        },
    };
    if gz { format!("{base}+gzip") } else { base }
}

/// What scanning one file gave.
pub(crate) struct FileScan {
    /// The format label (`csv`, `xlsx`, `log+gzip`, `binary` ...).
    pub format: String,
    /// Lines or rows read (excluding a header row).
    pub records: u64,
    /// The findings, located, masked.
    pub findings: Vec<RawFinding>,
}

/// Scans one file.
///
/// # Errors
/// Any I/O error reading the file, or a spreadsheet the reader rejects.
pub(crate) fn scan_file(engine: &Engine, path: &Path) -> io::Result<FileScan> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    if let Some(inner) = lower
        .strip_suffix(".gz")
        .or_else(|| lower.strip_suffix(".tgz"))
    {
        let format = match format_of(inner) {
            Format::Spreadsheet => Format::Text,
            f => f,
        };
        let reader = flate2::read::MultiGzDecoder::new(File::open(path)?);
        let mut scan = scan_stream(engine, reader, format)?;
        scan.format = format_label(inner, format, true);
        return Ok(scan);
    }
    let format = format_of(&lower);
    if format == Format::Spreadsheet {
        return scan_spreadsheet(engine, path, &lower);
    }
    let mut scan = scan_stream(engine, File::open(path)?, format)?;
    if scan.format.is_empty() {
        scan.format = format_label(&lower, format, false);
    }
    Ok(scan)
}

/// Reads a stream block by block (cut at line ends) and scans each block.
fn scan_stream<R: Read>(engine: &Engine, reader: R, format: Format) -> io::Result<FileScan> {
    scan_stream_blocks(engine, reader, format, BLOCK)
}

/// [`scan_stream`] with a given block size (small in tests, to cross block boundaries).
fn scan_stream_blocks<R: Read>(
    engine: &Engine,
    mut reader: R,
    mut format: Format,
    block_size: usize,
) -> io::Result<FileScan> {
    let mut findings = Vec::new();
    let mut records = 0u64;
    let mut line_base = 0u64;
    let mut buf: Vec<u8> = Vec::new();
    let mut header: Option<Vec<Field>> = None;
    let mut tables = (format == Format::Sql).then(Tables::default);
    let mut first = true;
    // A block holding no line end grows (up to four blocks) rather than cut a line.
    let mut target = block_size;
    loop {
        // Fill the block; `read_to_end` grows the buffer as data comes, so a small file
        // never costs a block-sized allocation.
        let want = target.saturating_sub(buf.len()).max(1);
        let filled = (&mut reader).take(want as u64).read_to_end(&mut buf)?;
        let eof = filled < want;
        if first {
            first = false;
            let head = &buf[..buf.len().min(8192)];
            if head.contains(&0) {
                return Ok(FileScan {
                    format: "binary".to_owned(),
                    records: 0,
                    findings,
                });
            }
        }
        if !eof && memchr::memrchr(b'\n', &buf).is_none() && target < block_size * 4 {
            target += block_size;
            continue;
        }
        target = block_size;
        if let (None, 0, Format::Delimited(d)) = (&header, line_base, format) {
            let end = memchr::memchr(b'\n', &buf).unwrap_or(buf.len());
            let d = sniff_delimiter(&buf[..end], d);
            format = Format::Delimited(d);
            header = Some(parse_header(&buf[..end], d));
        }
        let cut = if eof {
            buf.len()
        } else {
            memchr::memrchr(b'\n', &buf).map_or(buf.len(), |i| i + 1)
        };
        let block = &buf[..cut];
        let lines = memchr::memchr_iter(b'\n', block).count() as u64
            + u64::from(eof && !block.is_empty() && !block.ends_with(b"\n"));
        records += lines;
        let skip_header = line_base == 0 && header.is_some();
        let layout = match (&header, format) {
            (Some(cols), Format::Delimited(d)) => Layout::Csv { delim: d, cols },
            _ => Layout::Text,
        };
        if let Some(t) = tables.as_mut() {
            t.learn(block);
        }
        let mut hits = scan_block(engine, block, &layout, skip_header, tables.as_ref());
        locate(block, line_base, &mut hits, &mut findings);
        line_base += memchr::memchr_iter(b'\n', block).count() as u64;
        buf.drain(..cut);
        if eof {
            break;
        }
    }
    if header.is_some() {
        records = records.saturating_sub(1);
    }
    Ok(FileScan {
        format: String::new(),
        records,
        findings,
    })
}

/// Scans a block in parallel chunks that start at line starts. Offsets are block-relative.
fn scan_block(
    engine: &Engine,
    block: &[u8],
    layout: &Layout<'_>,
    skip_header: bool,
    sql: Option<&Tables>,
) -> Vec<Hit> {
    let mut bounds = vec![0usize];
    let mut pos = 0;
    while pos + CHUNK < block.len() {
        let next = memchr::memchr(b'\n', &block[pos + CHUNK..])
            .map_or(block.len(), |i| pos + CHUNK + i + 1);
        bounds.push(next);
        pos = next;
    }
    if *bounds.last().unwrap_or(&0) < block.len() {
        bounds.push(block.len());
    }
    let mut hits: Vec<Hit> = bounds
        .par_windows(2)
        .flat_map_iter(|w| {
            let (s, e) = (w[0], w[1]);
            let chunk = &block[s..e];
            let mut out = Vec::new();
            let body_from = if s == 0 && skip_header {
                memchr::memchr(b'\n', chunk).map_or(chunk.len(), |i| i + 1)
            } else {
                0
            };
            let body = &chunk[body_from..];
            engine.scan(body, layout, &mut out);
            if let Layout::Csv { delim, cols } = layout {
                judge_columns(engine, body, *delim, cols, &mut out);
            }
            if let Some(tables) = sql {
                tables.judge_inserts(engine, body, &mut out);
            }
            dedup(&mut out);
            for h in &mut out {
                h.start += s + body_from;
                h.end += s + body_from;
            }
            out
        })
        .collect();
    hits.sort_by_key(|h| h.start);
    hits
}

/// For delimited text: judges whole cells of name, address and password columns.
fn judge_columns(engine: &Engine, body: &[u8], delim: u8, cols: &[Field], out: &mut Vec<Hit>) {
    if !cols.iter().any(|c| c.judged_whole()) {
        return;
    }
    let mut ls = 0;
    while ls < body.len() {
        let le = memchr::memchr(b'\n', &body[ls..]).map_or(body.len(), |i| ls + i);
        let mut col = 0;
        let mut cs = ls;
        let mut quoted = false;
        for i in ls..=le {
            let b = if i < le { body[i] } else { delim };
            if b == b'"' {
                quoted = !quoted;
            } else if (b == delim && !quoted) || i == le {
                if let Some(f) = cols.get(col).filter(|f| f.judged_whole()) {
                    let (mut s, mut e) = (cs, i);
                    if e > s && body[e - 1] == b'\r' {
                        e -= 1;
                    }
                    if e >= s + 2 && body[s] == b'"' && body[e - 1] == b'"' {
                        s += 1;
                        e -= 1;
                    }
                    engine.judge_field(body, *f, s, e, out);
                }
                col += 1;
                cs = i + 1;
            }
        }
        ls = le + 1;
    }
}

/// The delimiter of a header line: the most frequent of `,`, `;`, tab and `|` (or `default`).
fn sniff_delimiter(line: &[u8], default: u8) -> u8 {
    let count = |d: u8| line.iter().filter(|&&b| b == d).count();
    [b',', b';', b'\t', b'|']
        .into_iter()
        .map(|d| (count(d), d))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, d)| (*n, *d == default))
        .map_or(default, |(_, d)| d)
}

/// Parses a header line into what each column holds.
fn parse_header(line: &[u8], delim: u8) -> Vec<Field> {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_start_matches('\u{feff}').trim_end_matches('\r');
    let mut cols: Vec<Field> = line.split(char::from(delim)).map(classify_key).collect();
    person_table(&mut cols);
    cols
}

/// Gives hits (sorted by offset within `block`) their line and column.
fn locate(block: &[u8], line_base: u64, hits: &mut Vec<Hit>, out: &mut Vec<RawFinding>) {
    let mut pos = 0usize;
    let mut line = line_base + 1;
    let mut ls = 0usize;
    out.reserve(hits.len());
    for h in hits.drain(..) {
        for i in memchr::memchr_iter(b'\n', &block[pos..h.start]) {
            line += 1;
            ls = pos + i + 1;
        }
        pos = h.start;
        let column = String::from_utf8_lossy(&block[ls..h.start]).chars().count() as u64 + 1;
        out.push(RawFinding {
            location: Location::Line { line, column },
            kind: h.kind,
            confidence: h.confidence,
            excerpt: h.masked,
            value_hash: h.value_hash,
        });
    }
}

/// Scans every sheet of a workbook cell by cell; the first row gives the column headers.
fn scan_spreadsheet(engine: &Engine, path: &Path, name: &str) -> io::Result<FileScan> {
    let mut wb = open_workbook_auto(path)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let mut findings = Vec::new();
    let mut records = 0u64;
    let sheets = wb.sheet_names().clone();
    for sheet in sheets {
        let Ok(range) = wb.worksheet_range(&sheet) else {
            continue;
        };
        let (r0, c0) = range.start().unwrap_or((0, 0));
        let mut cols: Vec<Field> = Vec::new();
        for (ri, row) in range.rows().enumerate() {
            if ri == 0 {
                cols = row
                    .iter()
                    .map(|c| classify_key(&cell_text(c, Field::None)))
                    .collect();
                // A first row without any known header is data, not a header.
                if cols.iter().all(|c| *c == Field::None) {
                    cols.clear();
                } else {
                    person_table(&mut cols);
                    continue;
                }
            }
            records += 1;
            for (ci, cell) in row.iter().enumerate() {
                let field = cols.get(ci).copied().unwrap_or(Field::None);
                let text = cell_text(cell, field);
                if text.is_empty() {
                    continue;
                }
                let mut hits = Vec::new();
                engine.scan(text.as_bytes(), &Layout::Cell(field), &mut hits);
                if field.judged_whole() {
                    engine.judge_field(text.as_bytes(), field, 0, text.len(), &mut hits);
                }
                dedup(&mut hits);
                let row_no = u64::from(r0) + ri as u64 + 1;
                let col_idx = c0 as usize + ci;
                for h in hits {
                    findings.push(RawFinding {
                        location: Location::Cell {
                            sheet: sheet.clone(),
                            row: row_no,
                            column: column_name(col_idx),
                        },
                        kind: h.kind,
                        confidence: h.confidence,
                        excerpt: h.masked,
                        value_hash: h.value_hash,
                    });
                }
            }
        }
    }
    let ext = name.rsplit('.').next().unwrap_or("xlsx").to_owned();
    Ok(FileScan {
        format: ext,
        records,
        findings,
    })
}

/// A cell as text. Dates become ISO dates so that birth-date columns are recognised;
/// whole numbers lose the `.0`.
fn cell_text(cell: &Data, _field: Field) -> String {
    match cell {
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e17 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(_) | Data::Error(_) | Data::Empty => String::new(),
        Data::DateTime(d) => {
            let serial = d.as_f64();
            if d.is_duration() || serial < 1.0 {
                return String::new();
            }
            let (y, m, day) = civil_from_days(serial.floor() as i64 - 25569);
            format!("{y:04}-{m:02}-{day:02}")
        }
    }
}

/// Converts days since 1970-01-01 to a civil date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The spreadsheet column name (`A`, `Z`, `AA`) of a 0-based index.
pub(crate) fn column_name(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
    }

    #[test]
    fn line_numbers_run_on_across_blocks_and_the_header_is_read_once() {
        let mut csv = String::from("id,email\n");
        for i in 0..40 {
            csv.push_str(&format!("{i},user{i}@gmail.com\n"));
        }
        let engine = Engine::new();
        for block in [16, 50, 1 << 20] {
            let scan = scan_stream_blocks(&engine, csv.as_bytes(), Format::Delimited(b','), block)
                .expect("reads");
            assert_eq!(scan.records, 40, "block {block}");
            let lines: Vec<u64> = scan
                .findings
                .iter()
                .map(|f| match f.location {
                    Location::Line { line, .. } => line,
                    Location::Cell { .. } => 0,
                })
                .collect();
            assert_eq!(lines, (2..42).collect::<Vec<u64>>(), "block {block}");
            assert!(
                scan.findings
                    .iter()
                    .all(|f| f.confidence == crate::Confidence::High)
            );
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(5549), (1985, 3, 12));
    }
}
