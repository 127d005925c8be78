//! Reading files: plain text and logs, CSV/TSV, JSON/NDJSON, SQL dumps, gzip-compressed
//! files (by the extension under `.gz`), and spreadsheets (XLSX, XLS, ODS through
//! `calamine`). Each format is turned into buffers or cells that the detectors scan, and
//! every hit is given its location (line and column, or sheet, row and column).
//!
//! Large text files are read in blocks and each block is split into chunks at line ends that
//! are scanned in parallel. Binary files of unknown format are skipped.
//!
//! # Hostile files
//!
//! Every reader is bounded by [`Limits`]; a file over a limit is reported as skipped with its
//! [`SkipReason`] (findings made before the limit was reached are kept) and the scan goes on.
//! The invariants:
//!
//! - **Text, CSV, JSON, SQL, logs, plain or gzip** are read in blocks: the read buffer never
//!   holds more than `max(BLOCK, max_line + 1)` bytes (64 MiB with the defaults; the `Vec`
//!   may round its capacity up to twice that), whatever the file's size, because a line
//!   longer than [`Limits::max_line`] stops the file ([`SkipReason::LineTooLong`]) instead of
//!   growing the buffer. A gzip stream is stopped after [`Limits::max_decompressed`] bytes
//!   out ([`SkipReason::DecompressedTooLarge`]) or, once past [`Limits::ratio_min_size`],
//!   when more than [`Limits::max_ratio`] bytes come out per byte in
//!   ([`SkipReason::CompressionRatio`]); memory does not depend on either, they bound time.
//! - **Spreadsheets** (`calamine` reads whole sheets into memory): a zip-based workbook
//!   (XLSX, XLSM, XLSB, ODS) is refused before `calamine` opens it when the file is over
//!   [`Limits::max_spreadsheet_file`], it has more than [`Limits::max_entries`] entries, an
//!   entry inflates past [`Limits::max_entry_size`], all entries together past
//!   [`Limits::max_total_size`], or an entry over [`Limits::ratio_min_size`] has a ratio over
//!   [`Limits::max_ratio`]. Declared sizes can lie, so every entry is also inflated (into
//!   nothing, streaming) through `Read::take(limit + 1)` and the real sizes are checked. Any
//!   one string or cell `calamine` builds is then at most one entry's size, and everything
//!   it reads at most the total. XLSX and XLSB sheets are then read cell by cell (one row
//!   held at a time), never as a dense range, so a sheet with cells at A1 and XFD1048576
//!   costs two cells, not 17 billion. An old binary XLS is bounded by its file size alone.
//!   An ODS is read whole by `calamine`, which expands repeated rows and cells
//!   (`number-rows-repeated`, `number-columns-repeated`) into a dense range: its
//!   `content.xml` is parsed (streaming, with `quick-xml`) during the inflate check, and a
//!   workbook whose expansion would pass [`Limits::max_cells`] cells is refused
//!   ([`SkipReason::CellCount`]).
//! - **Known gap:** XLS sheets still go through `calamine`'s dense `worksheet_range` (it
//!   has no cell reader for them), so a small XLS whose cells span a huge rectangle can
//!   still ask for a large allocation; only its file size is bounded.
//!
//! Memory per file being read is thus about one block (64 MiB, twice that in `Vec`
//! capacity) for text, and a small multiple of [`Limits::max_total_size`] (256 MiB) for an
//! XLSX/XLSB; files are read by the rayon pool, so the process bound is that times the
//! number of threads.
//!
//! [`SkipReason`]: crate::SkipReason
//! [`SkipReason::LineTooLong`]: crate::SkipReason::LineTooLong
//! [`SkipReason::DecompressedTooLarge`]: crate::SkipReason::DecompressedTooLarge
//! [`SkipReason::CompressionRatio`]: crate::SkipReason::CompressionRatio
//! [`SkipReason::CellCount`]: crate::SkipReason::CellCount

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use calamine::{Data, Reader, Sheets, open_workbook_auto};
use rayon::prelude::*;

use crate::context::{Field, classify_key, person_table};
use crate::detect::{Engine, Hit, Layout, dedup};
use crate::mask::mask;
use crate::report::{Collector, Location, SkipReason, Skipped};
use crate::sql::Tables;

/// One mebibyte.
const MIB: u64 = 1 << 20;

/// Size of a block read from a large file; each block is scanned in parallel chunks.
const BLOCK: usize = 8 << 20;

/// Default of [`Limits::max_entries`]: 10,000 entries. Real workbooks have tens; the zip
/// central directory `calamine` and `zip` hold in memory is a few hundred bytes per entry,
/// so this bounds it to a few MiB.
pub const MAX_ENTRIES: usize = 10_000;
/// Default of [`Limits::max_entry_size`]: 64 MiB inflated per zip entry. Bounds the size of
/// any one sheet's XML, shared-string table, string or cell that `calamine` builds.
pub const MAX_ENTRY_SIZE: u64 = 64 * MIB;
/// Default of [`Limits::max_total_size`]: 256 MiB inflated per workbook. Bounds what
/// `calamine` can read out of one workbook, so its memory is a small multiple of this.
pub const MAX_TOTAL_SIZE: u64 = 256 * MIB;
/// Default of [`Limits::max_ratio`]: an entry or stream inflating more than 100 times is a
/// bomb. Ordinary XML and logs compress 5 to 30 times.
pub const MAX_RATIO: u64 = 100;
/// Default of [`Limits::ratio_min_size`]: the ratio is only judged past 1 MiB inflated, so
/// small, very regular entries (styles, an empty sheet) are not refused.
pub const RATIO_MIN_SIZE: u64 = MIB;
/// Default of [`Limits::max_decompressed`]: a gzip stream is read up to 4 GiB inflated.
/// Memory is bounded by the block size whatever this is; the limit bounds time.
pub const MAX_DECOMPRESSED: u64 = 4 << 30;
/// Default of [`Limits::max_line`]: 64 MiB, one block. A longer line stops the file, so the
/// read buffer never grows past one block.
pub const MAX_LINE: usize = BLOCK;
/// Default of [`Limits::max_cells`]: 4 million cells per ODS workbook, once repeated rows
/// and cells are expanded. `calamine` holds a value and a formula string per cell (about 56
/// bytes), so this bounds an ODS's range to about 224 MiB; a real sheet of that many cells
/// has a `content.xml` over the 64 MiB entry limit anyway.
pub const MAX_CELLS: u64 = 4_000_000;
/// Default of [`Limits::max_spreadsheet_file`]: 64 MiB on disk. An old binary XLS is read
/// whole into memory, and a zip's central directory is read whole too, so the file size
/// bounds both.
pub const MAX_SPREADSHEET_FILE: u64 = 64 * MIB;

/// What reading one file may cost. Over any limit, the file (or its rest) is skipped with a
/// reason and the scan goes on. [`Limits::default`] gives the documented defaults; tests
/// and callers with little memory can set smaller ones.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most entries a zip-based spreadsheet may hold ([`MAX_ENTRIES`]).
    pub max_entries: usize,
    /// Most bytes one zip entry may inflate to ([`MAX_ENTRY_SIZE`]).
    pub max_entry_size: u64,
    /// Most bytes all entries of one zip may inflate to ([`MAX_TOTAL_SIZE`]).
    pub max_total_size: u64,
    /// Highest inflated/compressed ratio of a zip entry or gzip stream ([`MAX_RATIO`]).
    pub max_ratio: u64,
    /// The ratio is judged only past this many inflated bytes ([`RATIO_MIN_SIZE`]).
    pub ratio_min_size: u64,
    /// Most bytes a gzip stream is inflated to ([`MAX_DECOMPRESSED`]).
    pub max_decompressed: u64,
    /// Longest line, in bytes, of a text file ([`MAX_LINE`]).
    pub max_line: usize,
    /// Largest spreadsheet file on disk ([`MAX_SPREADSHEET_FILE`]).
    pub max_spreadsheet_file: u64,
    /// Most cells an ODS workbook may expand to ([`MAX_CELLS`]).
    pub max_cells: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: MAX_ENTRIES,
            max_entry_size: MAX_ENTRY_SIZE,
            max_total_size: MAX_TOTAL_SIZE,
            max_ratio: MAX_RATIO,
            ratio_min_size: RATIO_MIN_SIZE,
            max_decompressed: MAX_DECOMPRESSED,
            max_line: MAX_LINE,
            max_spreadsheet_file: MAX_SPREADSHEET_FILE,
            max_cells: MAX_CELLS,
        }
    }
}

/// Bytes as people read them (`64 MiB`).
fn human(n: u64) -> String {
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}
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

thread_local! {
    /// Whether this thread is inside a third-party parser of a scanned file.
    static IN_PARSER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as inside a third-party parser until dropped.
struct InParser;

impl InParser {
    fn enter() -> InParser {
        IN_PARSER.with(|p| p.set(true));
        InParser
    }
}

impl Drop for InParser {
    fn drop(&mut self) {
        IN_PARSER.with(|p| p.set(false));
    }
}

/// Installs, once per process, a panic hook that withholds the message of a panic raised
/// inside a third-party parser of a scanned file: such a message can quote the file (a
/// string, a cell), and standard error ends up in CI logs. Panics elsewhere go to the hook
/// that was installed before.
fn quiet_parser_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_PARSER.with(std::cell::Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                eprintln!(
                    "kura scan: a file reader panicked{at}; the file is reported unreadable \
                     (message withheld: it may quote the file)"
                );
            } else {
                previous(info);
            }
        }));
    });
}

/// What scanning one file gave.
pub(crate) struct FileScan {
    /// The format label (`csv`, `xlsx`, `log+gzip`, `binary` ...).
    pub format: String,
    /// Lines or rows read (excluding a header row).
    pub records: u64,
    /// Set when a limit stopped reading: the file was skipped, whole or from some point on.
    pub skipped: Option<Skipped>,
}

/// Scans one file, within `limits`.
///
/// # Errors
/// Any I/O error reading the file, or a spreadsheet the reader rejects. A file over a limit
/// is not an error: it comes back with [`FileScan::skipped`] set.
/// Findings go to `sink` as they are found, in file order.
pub(crate) fn scan_file(
    engine: &Engine,
    path: &Path,
    limits: &Limits,
    sink: &mut Collector<'_>,
) -> io::Result<FileScan> {
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
        let decoder = flate2::read::MultiGzDecoder::new(Counted::new(File::open(path)?));
        let mut guard = GzGuard::new(decoder, limits);
        let mut scan = scan_stream(engine, &mut guard, format, limits, sink)?;
        scan.format = format_label(inner, format, true);
        if scan.skipped.is_none() {
            scan.skipped = guard.hit;
        }
        return Ok(scan);
    }
    let format = format_of(&lower);
    if format == Format::Spreadsheet {
        // `calamine` parses hostile XML, and some malformed workbooks make it panic (found by
        // tests/mutated.rs: a shared-string index past the end of the table). Such a file
        // costs itself, reported unreadable, not the whole scan. Nothing is shared across
        // the call but the engine, which scanning only reads.
        quiet_parser_panics();
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _parsing = InParser::enter();
            scan_spreadsheet(engine, path, &lower, limits, sink)
        }))
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the spreadsheet reader failed on this file (malformed workbook)",
            ))
        });
    }
    let mut scan = scan_stream(engine, File::open(path)?, format, limits, sink)?;
    if scan.format.is_empty() {
        scan.format = format_label(&lower, format, false);
    }
    Ok(scan)
}

/// A reader that counts the bytes read through it (the compressed side of a gzip stream).
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Counted<R> {
        Counted { inner, count: 0 }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// The inflated side of a gzip stream, cut off (it reads as ended) once more than
/// [`Limits::max_decompressed`] bytes came out, or, past [`Limits::ratio_min_size`], once
/// more than [`Limits::max_ratio`] bytes came out per compressed byte in (the compressed
/// count includes the decoder's 32 KiB read-ahead, so a bomb is stopped within about
/// 32 KiB × ratio past the point). `hit` then says why. It holds no buffer of its own: memory stays that of the decoder (a few tens of KiB).
struct GzGuard<R: Read> {
    decoder: flate2::read::MultiGzDecoder<Counted<R>>,
    out: u64,
    max_out: u64,
    max_ratio: u64,
    ratio_min: u64,
    hit: Option<Skipped>,
}

impl<R: Read> GzGuard<R> {
    fn new(decoder: flate2::read::MultiGzDecoder<Counted<R>>, limits: &Limits) -> GzGuard<R> {
        GzGuard {
            decoder,
            out: 0,
            max_out: limits.max_decompressed,
            max_ratio: limits.max_ratio,
            ratio_min: limits.ratio_min_size,
            hit: None,
        }
    }
}

impl<R: Read> Read for GzGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.hit.is_some() || buf.is_empty() {
            return Ok(0);
        }
        // Read at most one byte past the limit: seeing it proves the stream is over.
        let room = self.max_out.saturating_sub(self.out).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.decoder.read(&mut buf[..want])?;
        self.out += n as u64;
        if self.out > self.max_out {
            self.hit = Some(Skipped::new(
                SkipReason::DecompressedTooLarge,
                format!(
                    "gzip stream inflates past {}; the first {} were read",
                    human(self.max_out),
                    human(self.max_out)
                ),
            ));
            // Hand on only the bytes within the limit.
            return Ok(n - usize::try_from(self.out - self.max_out).unwrap_or(n).min(n));
        }
        let compressed = self.decoder.get_ref().count.max(1);
        if self.out > self.ratio_min && self.out / compressed > self.max_ratio {
            self.hit = Some(Skipped::new(
                SkipReason::CompressionRatio,
                format!(
                    "gzip stream inflates more than {}:1 ({} from {} bytes); reading stopped there",
                    self.max_ratio,
                    human(self.out),
                    compressed
                ),
            ));
        }
        Ok(n)
    }
}

/// Reads a stream block by block (cut at line ends) and scans each block.
fn scan_stream<R: Read>(
    engine: &Engine,
    reader: R,
    format: Format,
    limits: &Limits,
    sink: &mut Collector<'_>,
) -> io::Result<FileScan> {
    scan_stream_blocks(engine, reader, format, BLOCK, limits.max_line, sink)
}

/// The offset of the start of the first line in `buf` longer than `max_line` bytes (its line
/// end not counted), if any. The tail after the last line end counts too: it only grows.
fn first_long_line(buf: &[u8], max_line: usize) -> Option<usize> {
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', buf) {
        if nl - start > max_line {
            return Some(start);
        }
        start = nl + 1;
    }
    (buf.len() - start > max_line).then_some(start)
}

/// [`scan_stream`] with a given block size (small in tests, to cross block boundaries).
///
/// Invariant: `buf` never holds more than `max(block_size, max_line + 1)` bytes. A block is
/// filled up to `block_size`; only when it holds no line end at all does it grow, and then
/// by at most up to `max_line + 1` bytes, at which point the line is known to be too long.
fn scan_stream_blocks<R: Read>(
    engine: &Engine,
    mut reader: R,
    mut format: Format,
    block_size: usize,
    max_line: usize,
    sink: &mut Collector<'_>,
) -> io::Result<FileScan> {
    let mut records = 0u64;
    let mut line_base = 0u64;
    let mut buf: Vec<u8> = Vec::new();
    let mut header: Option<Vec<Field>> = None;
    let mut tables = (format == Format::Sql).then(Tables::default);
    let mut first = true;
    let mut skipped = None;
    // A block holding no line end grows (up to the line limit) rather than cut a line.
    let mut target = block_size;
    loop {
        // Fill the block; `read_to_end` grows the buffer as data comes, so a small file
        // never costs a block-sized allocation.
        let want = target.saturating_sub(buf.len()).max(1);
        let filled = (&mut reader).take(want as u64).read_to_end(&mut buf)?;
        let mut eof = filled < want;
        if first {
            first = false;
            let head = &buf[..buf.len().min(8192)];
            if head.contains(&0) {
                return Ok(FileScan {
                    format: "binary".to_owned(),
                    records: 0,
                    skipped: None,
                });
            }
        }
        let long = first_long_line(&buf, max_line);
        if long.is_none() && !eof && memchr::memrchr(b'\n', &buf).is_none() {
            target = buf.len().saturating_add(block_size).min(max_line + 1);
            continue;
        }
        target = block_size;
        if let Some(start) = long {
            // Scan up to the long line and its first `max_line` bytes, then stop.
            let line_no = line_base + memchr::memchr_iter(b'\n', &buf[..start]).count() as u64 + 1;
            skipped = Some(Skipped::new(
                SkipReason::LineTooLong,
                format!(
                    "line {line_no} is longer than {}; the file was read up to it",
                    human(max_line as u64)
                ),
            ));
            buf.truncate(start + max_line);
            eof = true;
        }
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
        let hits = scan_block(engine, block, &layout, skip_header, tables.as_ref());
        locate(block, line_base, &hits, sink);
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
        skipped,
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

/// Gives hits (sorted by offset within `block`) their line and column and hands them to
/// `sink`, which masks only the values it lists or fingerprints.
fn locate(block: &[u8], line_base: u64, hits: &[Hit], sink: &mut Collector<'_>) {
    let mut pos = 0usize;
    let mut line = line_base + 1;
    // The column of `pos` (1-based, in characters) on its line: columns are counted on from
    // the previous hit, not from the line's start, so a long line costs its length once.
    let mut column = 1u64;
    for h in hits {
        let gap = &block[pos..h.start];
        match memchr::memrchr(b'\n', gap) {
            Some(i) => {
                line += memchr::memchr_iter(b'\n', gap).count() as u64;
                column = count_chars(&gap[i + 1..]) + 1;
            }
            None => column += count_chars(gap),
        }
        pos = h.start;
        sink.add(
            Location::Line { line, column },
            h.kind,
            h.confidence,
            h.value_hash,
            || mask(h.kind, &String::from_utf8_lossy(&block[h.start..h.end])),
        );
    }
}

/// Characters in `bytes` as `String::from_utf8_lossy` would count them, without allocating
/// for valid UTF-8 (the common case).
fn count_chars(bytes: &[u8]) -> u64 {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.chars().count() as u64,
        Err(_) => String::from_utf8_lossy(bytes).chars().count() as u64,
    }
}

/// An archive entry's name for a report: printable characters only, at most 80 of them.
fn entry_label(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    if name.chars().count() > 80 {
        s.push('…');
    }
    s
}

/// Checks a spreadsheet against `limits` before `calamine` reads it: the file size, and for
/// a zip-based workbook its entry count, its entries' declared sizes and ratios, and then
/// their real sizes, by inflating each entry (streaming, into nothing) through
/// `take(limit + 1)`. `Some` tells why the file must be skipped.
///
/// Memory: the zip central directory (bounded by the file size and the entry count) and
/// the inflater's buffers; no entry is held.
///
/// # Errors
/// An I/O error, or a zip archive the `zip` crate cannot read.
/// An old binary workbook (BIFF in an OLE compound file) is read by `calamine` into a dense
/// rectangle from its first to its last cell: a 6 KB file with cells at A1 and IV65536 made
/// it allocate a gigabyte. Before it is opened, every cell record of every sheet is walked
/// (records are `type, length, data`; a cell record's data starts with its row and column)
/// and a sheet whose rectangle would exceed [`Limits::max_cells`] skips the file.
fn check_xls(path: &Path, limits: &Limits) -> io::Result<Option<Skipped>> {
    let bad = |e: io::Error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a readable XLS compound file ({})", e.kind()),
        )
    };
    let mut doc = cfb::open(path).map_err(bad)?;
    let stream = ["/Workbook", "/Book"]
        .into_iter()
        .find(|s| doc.is_stream(s))
        .ok_or_else(|| bad(io::Error::from(io::ErrorKind::NotFound)))?;
    let mut data = Vec::new();
    doc.open_stream(stream)
        .map_err(bad)?
        .take(limits.max_spreadsheet_file)
        .read_to_end(&mut data)?;
    // (min row, max row, min col, max col) of the sheet being read.
    let mut extent: Option<(u32, u32, u32, u32)> = None;
    let mut sheet = 0u32;
    let mut at = 0usize;
    let cells_of = |e: Option<(u32, u32, u32, u32)>| {
        e.map_or(0, |(r0, r1, c0, c1)| {
            (u64::from(r1 - r0) + 1) * (u64::from(c1 - c0) + 1)
        })
    };
    while at + 4 <= data.len() {
        let kind = u16::from_le_bytes([data[at], data[at + 1]]);
        let len = usize::from(u16::from_le_bytes([data[at + 2], data[at + 3]]));
        let body = &data[at + 4..(at + 4 + len).min(data.len())];
        at += 4 + len;
        let u16_at = |i: usize| -> Option<u32> {
            body.get(i..i + 2)
                .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
        };
        let (row, c_first, c_last) = match kind {
            // BOF: a new substream begins (type 0x0010: a worksheet).
            0x0809 => {
                extent = None;
                if u16_at(2) == Some(0x0010) {
                    sheet += 1;
                }
                continue;
            }
            // NUMBER, LABEL, BOOLERR, RK, LABELSST, FORMULA, RSTRING, BLANK.
            0x0203 | 0x0204 | 0x0205 | 0x027E | 0x00FD | 0x0006 | 0x00D6 | 0x0201 => {
                match (u16_at(0), u16_at(2)) {
                    (Some(r), Some(c)) => (r, c, c),
                    _ => continue,
                }
            }
            // MULRK, MULBLANK: row, first column, ..., last column.
            0x00BD | 0x00BE if body.len() >= 6 => {
                match (u16_at(0), u16_at(2), u16_at(body.len() - 2)) {
                    (Some(r), Some(c0), Some(c1)) => (r, c0.min(c1), c0.max(c1)),
                    _ => continue,
                }
            }
            _ => continue,
        };
        extent = Some(match extent {
            None => (row, row, c_first, c_last),
            Some((r0, r1, c0, c1)) => (r0.min(row), r1.max(row), c0.min(c_first), c1.max(c_last)),
        });
        let cells = cells_of(extent);
        if cells > limits.max_cells {
            return Ok(Some(Skipped::new(
                SkipReason::CellCount,
                format!(
                    "sheet {sheet} spans {cells} cells from its first to its last, over the limit of {}",
                    limits.max_cells
                ),
            )));
        }
    }
    Ok(None)
}

fn check_spreadsheet(path: &Path, name: &str, limits: &Limits) -> io::Result<Option<Skipped>> {
    let size = std::fs::metadata(path)?.len();
    if size > limits.max_spreadsheet_file {
        return Ok(Some(Skipped::new(
            SkipReason::FileTooLarge,
            format!(
                "spreadsheet of {} is over the {} a workbook may have on disk",
                human(size),
                human(limits.max_spreadsheet_file)
            ),
        )));
    }
    let ext = name.rsplit('.').next().unwrap_or("");
    if ext == "xls" {
        return check_xls(path, limits);
    }
    let bad_zip = |e: zip::result::ZipError| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a readable zip archive: {e}"),
        )
    };
    let mut zip = zip::ZipArchive::new(BufReader::new(File::open(path)?)).map_err(bad_zip)?;
    if zip.len() > limits.max_entries {
        return Ok(Some(Skipped::new(
            SkipReason::EntryCount,
            format!(
                "zip archive has {} entries, over the limit of {}",
                zip.len(),
                limits.max_entries
            ),
        )));
    }
    let too_large = |what: String| Some(Skipped::new(SkipReason::DecompressedTooLarge, what));
    let ratio = |label: &str, out: u64, packed: u64| {
        (out > limits.ratio_min_size && out / packed.max(1) > limits.max_ratio).then(|| {
            Skipped::new(
                SkipReason::CompressionRatio,
                format!(
                    "entry {label} inflates more than {}:1 ({} from {} bytes)",
                    limits.max_ratio,
                    human(out),
                    packed
                ),
            )
        })
    };
    // Declared sizes first: cheap, and they catch honest bombs without inflating anything.
    let mut total = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(bad_zip)?;
        let label = entry_label(entry.name());
        let (out, packed) = (entry.size(), entry.compressed_size());
        if out > limits.max_entry_size {
            return Ok(too_large(format!(
                "entry {label} declares {} inflated, over the {} limit per entry",
                human(out),
                human(limits.max_entry_size)
            )));
        }
        total = total.saturating_add(out);
        if total > limits.max_total_size {
            return Ok(too_large(format!(
                "entries declare more than {} inflated in all, over the limit per file",
                human(limits.max_total_size)
            )));
        }
        if let Some(s) = ratio(&label, out, packed) {
            return Ok(Some(s));
        }
    }
    // Declared sizes can lie: inflate every entry, never more than one byte past a limit.
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(bad_zip)?;
        let label = entry_label(entry.name());
        let packed = entry.compressed_size();
        let room = limits
            .max_entry_size
            .min(limits.max_total_size.saturating_sub(total));
        let is_content = ext == "ods" && entry.name() == "content.xml";
        let mut body = Counted::new((&mut entry).take(room.saturating_add(1)));
        if is_content {
            let cells = ods_cells(&mut body, limits.max_cells);
            if cells > limits.max_cells {
                return Ok(Some(Skipped::new(
                    SkipReason::CellCount,
                    format!(
                        "sheets expand to more than {} cells (repeated rows and cells)",
                        limits.max_cells
                    ),
                )));
            }
        }
        io::copy(&mut body, &mut io::sink())?;
        let out = body.count;
        total = total.saturating_add(out);
        if out > limits.max_entry_size {
            return Ok(too_large(format!(
                "entry {label} inflates past {}, the limit per entry",
                human(limits.max_entry_size)
            )));
        }
        if total > limits.max_total_size {
            return Ok(too_large(format!(
                "entries inflate past {} in all, the limit per file",
                human(limits.max_total_size)
            )));
        }
        if let Some(s) = ratio(&label, out, packed) {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// An upper estimate of the cells `calamine` builds for an ODS `content.xml`: per table,
/// the rows from the first to the last one holding a value (repeats expanded) times the
/// widest such row (repeated cells expanded, a trailing empty cell not counted), summed
/// over tables. Stops once past `max`. A malformed document gives what was counted so far
/// (`calamine` then rejects it). Memory: one XML event at a time.
fn ods_cells<R: Read>(content: R, max: u64) -> u64 {
    use quick_xml::events::{BytesStart, Event};

    /// The value of a numeric attribute, 1 when absent or not a number.
    fn repeats(e: &BytesStart<'_>, key: &[u8]) -> u64 {
        e.try_get_attribute(key)
            .ok()
            .flatten()
            .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse::<u64>().ok())
            .unwrap_or(1)
    }
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(content));
    let mut buf = Vec::new();
    let mut total = 0u64;
    // Per table: rows so far, rows up to the last with a value, widest row with a value.
    let (mut rows, mut used_rows, mut width) = (0u64, 0u64, 0u64);
    // Per row: its repeats, its width up to the last cell with a value, width so far.
    let (mut row_rep, mut row_used, mut row_width) = (1u64, 0u64, 0u64);
    loop {
        buf.clear();
        let (e, open) = match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => (e, true),
            Ok(Event::Empty(e)) => (e, false),
            Ok(Event::End(e)) => {
                match e.name().as_ref() {
                    b"table:table-row" => {
                        rows = rows.saturating_add(row_rep);
                        if row_used > 0 {
                            used_rows = rows;
                            width = width.max(row_used);
                        }
                    }
                    b"table:table" => {
                        total = total.saturating_add(used_rows.saturating_mul(width));
                        (rows, used_rows, width) = (0, 0, 0);
                    }
                    _ => {}
                }
                continue;
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => continue,
        };
        match e.name().as_ref() {
            b"table:table-row" => {
                (row_rep, row_used, row_width) = (repeats(&e, b"table:number-rows-repeated"), 0, 0);
                if !open {
                    rows = rows.saturating_add(row_rep);
                }
            }
            b"table:table-cell" | b"table:covered-table-cell" => {
                row_width = row_width.saturating_add(repeats(&e, b"table:number-columns-repeated"));
                let valued = open
                    || e.try_get_attribute(b"office:value-type")
                        .ok()
                        .flatten()
                        .is_some();
                if valued {
                    row_used = row_width;
                }
            }
            _ => {}
        }
        let table = used_rows.saturating_mul(width);
        if total.saturating_add(table) > max || row_used.saturating_mul(row_rep) > max {
            return max.saturating_add(1);
        }
    }
    total.saturating_add(used_rows.saturating_mul(width))
}

/// Scans every sheet of a workbook cell by cell; the first row gives the column headers.
///
/// The workbook is first checked by [`check_spreadsheet`]; only a workbook within the
/// limits reaches `calamine`.
fn scan_spreadsheet(
    engine: &Engine,
    path: &Path,
    name: &str,
    limits: &Limits,
    sink: &mut Collector<'_>,
) -> io::Result<FileScan> {
    let ext = name.rsplit('.').next().unwrap_or("xlsx").to_owned();
    if let Some(skipped) = check_spreadsheet(path, name, limits)? {
        return Ok(FileScan {
            format: ext,
            records: 0,
            skipped: Some(skipped),
        });
    }
    // The reader's own message can quote the file (an XML token, a cell): only the kind of
    // error is reported.
    let mut wb = open_workbook_auto(path).map_err(|e| {
        let what = match e {
            calamine::Error::Io(_) => "an I/O error",
            calamine::Error::Ods(_) => "a malformed ODS document",
            calamine::Error::Xls(_) => "a malformed XLS workbook",
            calamine::Error::Xlsb(_) => "a malformed XLSB workbook",
            calamine::Error::Xlsx(_) => "a malformed XLSX workbook",
            calamine::Error::Vba(_) => "a malformed VBA project",
            _ => "a malformed spreadsheet",
        };
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the spreadsheet reader rejected this file: {what}"),
        )
    })?;
    let mut records = 0u64;
    let sheets = wb.sheet_names().clone();
    for sheet in sheets {
        let mut scan = SheetScan::new(engine, &sheet, sink);
        // XLSX and XLSB sheets are read cell by cell: `worksheet_range` would allocate the
        // whole rectangle from the first to the last cell, and two cells at A1 and
        // XFD1048576 would ask for 17 billion. Cells come one at a time; one row is held.
        match &mut wb {
            Sheets::Xlsx(x) => {
                let Ok(mut cells) = x.worksheet_cells_reader(&sheet) else {
                    continue;
                };
                while let Ok(Some(c)) = cells.next_cell() {
                    let (r, col) = c.get_position();
                    scan.cell(r, col, Data::from(c.get_value().clone()));
                }
            }
            Sheets::Xlsb(x) => {
                let Ok(mut cells) = x.worksheet_cells_reader(&sheet) else {
                    continue;
                };
                while let Ok(Some(c)) = cells.next_cell() {
                    let (r, col) = c.get_position();
                    scan.cell(r, col, Data::from(c.get_value().clone()));
                }
            }
            other => {
                let Ok(range) = other.worksheet_range(&sheet) else {
                    continue;
                };
                let (r0, c0) = range.start().unwrap_or((0, 0));
                for (r, col, data) in range.cells() {
                    let (Ok(r), Ok(col)) = (u32::try_from(r), u32::try_from(col)) else {
                        continue;
                    };
                    scan.cell(r0.saturating_add(r), c0.saturating_add(col), data.clone());
                }
            }
        }
        records += scan.finish();
    }
    Ok(FileScan {
        format: ext,
        records,
        skipped: None,
    })
}

/// Excel's widest sheet: column XFD. Header fields are kept for columns up to this one.
const MAX_COLUMNS: u32 = 16_384;

/// Scans the cells of one sheet as they come, row by row (rows in file order); the first
/// row gives the column headers when it holds a known header. Holds one row at a time.
struct SheetScan<'a, 'b> {
    engine: &'a Engine,
    sheet: &'a str,
    sink: &'a mut Collector<'b>,
    /// The row being gathered and its cells.
    row: Option<u32>,
    cells: Vec<(u32, Data)>,
    /// The column headers, once the first row was seen (empty when it held none).
    cols: Option<Vec<Field>>,
    /// The first and last row seen, and whether the first row was a header.
    span: Option<(u32, u32)>,
    header: bool,
}

impl<'a, 'b> SheetScan<'a, 'b> {
    fn new(engine: &'a Engine, sheet: &'a str, sink: &'a mut Collector<'b>) -> Self {
        SheetScan {
            engine,
            sheet,
            sink,
            row: None,
            cells: Vec::new(),
            cols: None,
            span: None,
            header: false,
        }
    }

    /// Takes one cell (0-based row and column).
    fn cell(&mut self, row: u32, col: u32, data: Data) {
        if self.row != Some(row) {
            self.flush();
            self.row = Some(row);
        }
        if data != Data::Empty {
            self.cells.push((col, data));
        }
        self.span = Some(match self.span {
            None => (row, row),
            Some((a, b)) => (a.min(row), b.max(row)),
        });
    }

    /// Scans the gathered row.
    fn flush(&mut self) {
        let Some(row) = self.row.take() else { return };
        let cells = std::mem::take(&mut self.cells);
        if self.cols.is_none() {
            let width = cells
                .iter()
                .map(|(c, _)| *c)
                .filter(|c| *c < MAX_COLUMNS)
                .max()
                .map_or(0, |c| c as usize + 1);
            let mut cols = vec![Field::None; width];
            for (c, d) in &cells {
                if let Some(f) = cols.get_mut(*c as usize) {
                    *f = classify_key(&cell_text(d, Field::None));
                }
            }
            // A first row without any known header is data, not a header.
            if cols.iter().any(|c| *c != Field::None) {
                person_table(&mut cols);
                self.cols = Some(cols);
                self.header = true;
                return;
            }
            self.cols = Some(Vec::new());
        }
        let cols = self.cols.as_deref().unwrap_or_default();
        for (col, cell) in &cells {
            let field = cols.get(*col as usize).copied().unwrap_or(Field::None);
            let text = cell_text(cell, field);
            if text.is_empty() {
                continue;
            }
            let mut hits = Vec::new();
            self.engine
                .scan(text.as_bytes(), &Layout::Cell(field), &mut hits);
            if field.judged_whole() {
                self.engine
                    .judge_field(text.as_bytes(), field, 0, text.len(), &mut hits);
            }
            dedup(&mut hits);
            for h in hits {
                self.sink.add(
                    Location::Cell {
                        sheet: self.sheet.to_owned(),
                        row: u64::from(row) + 1,
                        column: column_name(*col as usize),
                    },
                    h.kind,
                    h.confidence,
                    h.value_hash,
                    || {
                        mask(
                            h.kind,
                            &String::from_utf8_lossy(&text.as_bytes()[h.start..h.end]),
                        )
                    },
                );
            }
        }
    }

    /// Scans the last row; gives the number of records (rows from the first to the last,
    /// the header row excluded).
    fn finish(mut self) -> u64 {
        self.flush();
        self.span
            .map_or(0, |(a, b)| u64::from(b - a) + 1 - u64::from(self.header))
    }
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
            let mut sink = Collector::new(crate::Confidence::Low, usize::MAX);
            let scan = scan_stream_blocks(
                &engine,
                csv.as_bytes(),
                Format::Delimited(b','),
                block,
                MAX_LINE,
                &mut sink,
            )
            .expect("reads");
            assert_eq!(scan.records, 40, "block {block}");
            let (report, _, _) = sink.finish(String::new(), String::new(), scan.records);
            let lines: Vec<u64> = report
                .findings
                .iter()
                .map(|f| match f.location {
                    Location::Line { line, .. } => line,
                    Location::Cell { .. } => 0,
                })
                .collect();
            assert_eq!(lines, (2..42).collect::<Vec<u64>>(), "block {block}");
            assert!(
                report
                    .findings
                    .iter()
                    .all(|f| f.confidence == crate::Confidence::High)
            );
        }
    }

    #[test]
    fn a_line_without_end_stops_the_stream_at_the_line_limit() {
        // 64 MiB of one line, read in 64 KiB blocks with a 1 MiB line limit: reading stops
        // after at most 1 MiB + 1 byte instead of growing the buffer or running to the end.
        let engine = Engine::new();
        let mut reader = io::repeat(b'a').take(64 << 20);
        let mut sink = Collector::new(crate::Confidence::Low, 0);
        let scan = scan_stream_blocks(
            &engine,
            &mut reader,
            Format::Text,
            64 << 10,
            1 << 20,
            &mut sink,
        )
        .expect("reads");
        let skipped = scan.skipped.expect("skipped");
        assert_eq!(skipped.reason, SkipReason::LineTooLong);
        assert!(
            reader.limit() >= (63 << 20) - 1,
            "read on: {}",
            reader.limit()
        );
    }

    #[test]
    fn a_gzip_guard_stops_at_the_limit_and_the_ratio() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut enc, &vec![b'a'; 4 << 20]).expect("gzip");
        let gz = enc.finish().expect("gzip");
        let mut limits = Limits {
            max_ratio: u64::MAX,
            max_decompressed: 1 << 20,
            ..Limits::default()
        };
        let read = |limits: &Limits| {
            let dec = flate2::read::MultiGzDecoder::new(Counted::new(gz.as_slice()));
            let mut guard = GzGuard::new(dec, limits);
            let n = io::copy(&mut guard, &mut io::sink()).expect("reads");
            (n, guard.hit.map(|h| h.reason))
        };
        assert_eq!(
            read(&limits),
            (1 << 20, Some(SkipReason::DecompressedTooLarge))
        );
        limits.max_decompressed = MAX_DECOMPRESSED;
        assert_eq!(read(&limits), (4 << 20, None));
        limits.max_ratio = MAX_RATIO;
        let (n, hit) = read(&limits);
        assert_eq!(hit, Some(SkipReason::CompressionRatio));
        // The decoder reads ahead (32 KiB here, the whole stream), so the ratio is judged
        // against a little more input than was inflated: it stops within 32 KiB × ratio.
        assert!(n < 4 << 20, "{n}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(5549), (1985, 3, 12));
    }
}
