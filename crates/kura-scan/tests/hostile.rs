//! Hostile and broken files: compression bombs in spreadsheets and gzip streams, zip
//! archives with too many entries, enormous lines. Each is built small at test time, must
//! be reported as skipped with its reason in every output format, and must not stop the
//! scan from finding the personal data in an ordinary file next to it.

use std::fs;
use std::io::Write;
use std::path::Path;

use kura_scan::{FileReport, Kind, Limits, OutputFormat, ScanArgs, SkipReason, run};

const MIB: usize = 1 << 20;

/// The ordinary file next to the hostile one.
fn write_normal_csv(dir: &Path) {
    fs::write(
        dir.join("customers.csv"),
        "id,email\n1,anna.schmidt@gmx.de\n2,ken.tanaka@yahoo.co.jp\n",
    )
    .expect("write csv");
}

/// Scans `dir` with `limits` in every output format; checks that `hostile` is reported as
/// skipped for `reason` everywhere, that the summary counts it, and that the CSV's
/// addresses are still found. Returns the hostile file's report (JSON run).
fn assert_skipped(dir: &Path, limits: &Limits, hostile: &str, reason: SkipReason) -> FileReport {
    let mut report = None;
    for format in [OutputFormat::Json, OutputFormat::Table, OutputFormat::Sarif] {
        let mut args = ScanArgs::new(vec![dir.to_path_buf()]);
        args.format = format;
        args.limits = limits.clone();
        let mut out = Vec::new();
        let outcome = run(&args, &mut out).expect("scan runs");
        let text = String::from_utf8(out).expect("utf-8");
        let f = outcome
            .files
            .iter()
            .find(|f| f.path.ends_with(hostile))
            .unwrap_or_else(|| panic!("{hostile} reported: {text}"));
        let skipped = f
            .skipped
            .as_ref()
            .unwrap_or_else(|| panic!("{hostile} not skipped: {text}"));
        assert_eq!(skipped.reason, reason, "{}", skipped.detail);
        assert_eq!(outcome.totals.skipped, 1, "{text}");
        let csv = outcome
            .files
            .iter()
            .find(|f| f.path.ends_with("customers.csv"))
            .unwrap_or_else(|| panic!("the csv is still scanned: {text}"));
        assert_eq!(csv.counts.get(&Kind::Email), Some(&2));
        match format {
            OutputFormat::Json => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                assert_eq!(v["totals"]["skipped"], 1);
                let file = v["files"]
                    .as_array()
                    .expect("files")
                    .iter()
                    .find(|x| x["path"].as_str().is_some_and(|p| p.ends_with(hostile)))
                    .expect("hostile file in json");
                assert_eq!(file["skipped"]["reason"], reason.id());
                report = Some(f.clone());
            }
            OutputFormat::Table => {
                assert!(
                    text.contains(&format!("[skipped: {}:", reason.id())),
                    "{text}"
                );
                assert!(text.contains(", 1 skipped"), "{text}");
            }
            OutputFormat::Sarif => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("sarif");
                let notes = v["runs"][0]["invocations"][0]["toolExecutionNotifications"]
                    .as_array()
                    .expect("notifications");
                assert_eq!(notes.len(), 1, "{text}");
                assert_eq!(
                    notes[0]["descriptor"]["id"],
                    format!("kura-scan/skipped/{}", reason.id())
                );
            }
        }
    }
    report.expect("json run")
}

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/><Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>";
const RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>";
const WORKBOOK: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets><sheet name=\"Customers\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
const WORKBOOK_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>";

/// A valid minimal XLSX whose one sheet holds one inline-string cell of `cell_len` bytes
/// (`a` repeated), plus `extra_entries` empty entries. Written streaming: the cell is never
/// held in memory, and deflate makes the file a few KiB per MiB of cell.
fn write_xlsx(path: &Path, cell_len: usize, extra_entries: usize) {
    let cell = |w: &mut dyn Write| {
        w.write_all(b"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>")
            .expect("write sheet");
        let chunk = vec![b'a'; MIB];
        let mut left = cell_len;
        while left > 0 {
            let n = left.min(chunk.len());
            w.write_all(&chunk[..n]).expect("write cell");
            left -= n;
        }
        w.write_all(b"</t></is></c></row>").expect("write sheet");
    };
    write_xlsx_with(path, cell, extra_entries);
}

/// A valid minimal XLSX whose one sheet's `<sheetData>` is written by `sheet_data`, plus
/// `extra_entries` empty entries.
fn write_xlsx_with(path: &Path, sheet_data: impl FnOnce(&mut dyn Write), extra_entries: usize) {
    let file = fs::File::create(path).expect("create xlsx");
    let mut w = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    for (name, body) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
    ] {
        w.start_file(name, opts).expect("entry");
        w.write_all(body.as_bytes()).expect("write entry");
    }
    w.start_file("xl/worksheets/sheet1.xml", opts)
        .expect("sheet");
    w.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>")
        .expect("write sheet");
    sheet_data(&mut w);
    w.write_all(b"</sheetData></worksheet>")
        .expect("write sheet");
    for i in 0..extra_entries {
        w.start_file(format!("xl/media/pad{i}.bin"), opts)
            .expect("pad entry");
    }
    w.finish().expect("finish zip");
}

#[test]
fn an_xlsx_cell_inflating_past_the_entry_limit_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    let path = dir.path().join("bomb.xlsx");
    // The defaults: one cell of 65 MiB is over the 64 MiB per entry.
    write_xlsx(&path, 65 * MIB, 0);
    assert!(fs::metadata(&path).expect("meta").len() < 1 << 20);
    let f = assert_skipped(
        dir.path(),
        &Limits::default(),
        "bomb.xlsx",
        SkipReason::DecompressedTooLarge,
    );
    assert_eq!(f.format, "xlsx");
    assert!(f.findings.is_empty());
}

#[test]
fn an_xlsx_entry_with_a_bomb_ratio_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    // 8 MiB of one byte: within every size limit, but it inflates about 1000 times.
    write_xlsx(&dir.path().join("ratio.xlsx"), 8 * MIB, 0);
    assert_skipped(
        dir.path(),
        &Limits::default(),
        "ratio.xlsx",
        SkipReason::CompressionRatio,
    );
}

#[test]
fn an_xlsx_over_the_total_limit_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    write_xlsx(&dir.path().join("big.xlsx"), 3 * MIB, 0);
    let mut limits = Limits::default();
    limits.max_ratio = u64::MAX;
    limits.max_total_size = 2 * MIB as u64;
    assert_skipped(
        dir.path(),
        &limits,
        "big.xlsx",
        SkipReason::DecompressedTooLarge,
    );
}

#[test]
fn an_xlsx_lying_about_its_sizes_is_skipped_when_inflated() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    let path = dir.path().join("liar.xlsx");
    write_xlsx(&path, 3 * MIB, 0);
    // Make the sheet declare 1,000 bytes inflated, in its local and central headers (the
    // 4-byte "uncompressed size" fields at offsets 22 and 24 of those headers).
    let mut bytes = fs::read(&path).expect("read");
    let (local, central) = {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).expect("zip");
        let sheet = zip.by_name("xl/worksheets/sheet1.xml").expect("sheet");
        assert!(sheet.size() > 3 * MIB as u64);
        (sheet.header_start(), sheet.central_header_start())
    };
    for at in [local as usize + 22, central as usize + 24] {
        bytes[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
    }
    fs::write(&path, &bytes).expect("write");
    {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).expect("zip");
        let sheet = zip.by_name("xl/worksheets/sheet1.xml").expect("sheet");
        assert_eq!(sheet.size(), 1000, "the lie is in place");
    }
    let mut limits = Limits::default();
    limits.max_ratio = u64::MAX;
    limits.max_entry_size = 2 * MIB as u64;
    let f = assert_skipped(
        dir.path(),
        &limits,
        "liar.xlsx",
        SkipReason::DecompressedTooLarge,
    );
    let detail = &f.skipped.as_ref().expect("skipped").detail;
    assert!(detail.contains("inflates past 2 MiB"), "{detail}");
}

#[test]
fn a_workbook_with_too_many_zip_entries_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    // Five entries of the skeleton plus 10,000 empty ones: over the default 10,000.
    write_xlsx(&dir.path().join("many.xlsx"), 10, kura_scan::MAX_ENTRIES);
    assert_skipped(
        dir.path(),
        &Limits::default(),
        "many.xlsx",
        SkipReason::EntryCount,
    );
}

#[test]
fn an_xlsx_with_cells_at_both_far_corners_is_read_cell_by_cell() {
    // A1 and XFD1048576: a dense range over both would be 17 billion cells.
    let dir = tempfile::tempdir().expect("tempdir");
    write_xlsx_with(
        &dir.path().join("corners.xlsx"),
        |w| {
            w.write_all(b"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>E-Mail</t></is></c></row><row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>jana.keller@gmx.de</t></is></c></row><row r=\"1048576\"><c r=\"XFD1048576\" t=\"inlineStr\"><is><t>tom.berger@web.de</t></is></c></row>")
                .expect("write sheet");
        },
        0,
    );
    let args = ScanArgs::new(vec![dir.path().to_path_buf()]);
    let outcome = run(&args, &mut Vec::new()).expect("scan runs");
    let f = &outcome.files[0];
    assert_eq!(f.counts.get(&Kind::Email), Some(&2), "{f:?}");
    assert_eq!(f.records, 1_048_575);
    let last = f.findings.last().expect("findings");
    assert_eq!(
        last.location,
        kura_scan::Location::Cell {
            sheet: "Customers".into(),
            row: 1_048_576,
            column: "XFD".into()
        }
    );
}

#[test]
fn a_small_xlsx_within_the_limits_is_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_xlsx(&dir.path().join("ok.xlsx"), 10, 3);
    let args = ScanArgs::new(vec![dir.path().to_path_buf()]);
    let outcome = run(&args, &mut Vec::new()).expect("scan runs");
    assert_eq!(outcome.totals.skipped, 0);
    assert_eq!(outcome.totals.files, 1);
}

#[test]
fn an_old_xls_over_the_file_size_limit_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    fs::write(dir.path().join("old.xls"), vec![b'x'; 64 * 1024]).expect("write xls");
    let mut limits = Limits::default();
    limits.max_spreadsheet_file = 32 * 1024;
    assert_skipped(dir.path(), &limits, "old.xls", SkipReason::FileTooLarge);
}

/// A gzip stream of `len` bytes of text lines, the first holding an e-mail address.
fn write_gzip_lines(path: &Path, len: usize) {
    let file = fs::File::create(path).expect("create gz");
    let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    enc.write_all(b"contact: jana.keller@gmx.de\n")
        .expect("gzip");
    let mut line = vec![b'a'; 1023];
    line.push(b'\n');
    let mut left = len;
    while left > 0 {
        let n = left.min(line.len());
        enc.write_all(&line[..n]).expect("gzip");
        left -= n;
    }
    enc.finish().expect("gzip");
}

#[test]
fn a_gzip_bomb_is_cut_at_the_decompressed_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    write_gzip_lines(&dir.path().join("bomb.log.gz"), 16 * MIB);
    let mut limits = Limits::default();
    limits.max_ratio = u64::MAX;
    limits.max_decompressed = 2 * MIB as u64;
    let f = assert_skipped(
        dir.path(),
        &limits,
        "bomb.log.gz",
        SkipReason::DecompressedTooLarge,
    );
    // Read up to the limit: what came before it is still reported.
    assert_eq!(f.format, "log+gzip");
    assert!(f.records > 0 && f.records <= 2 * 1024 + 1, "{}", f.records);
    assert_eq!(f.counts.get(&Kind::Email), Some(&1));
}

#[test]
fn a_gzip_bomb_is_stopped_by_its_ratio() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    write_gzip_lines(&dir.path().join("bomb.log.gz"), 16 * MIB);
    let f = assert_skipped(
        dir.path(),
        &Limits::default(),
        "bomb.log.gz",
        SkipReason::CompressionRatio,
    );
    assert!(f.records < 16 * 1024, "{}", f.records);
}

#[test]
fn one_enormous_line_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    let mut text = b"first line: jana.keller@gmx.de\n".to_vec();
    text.extend(std::iter::repeat_n(b'a', 3 * MIB));
    text.extend_from_slice(b"\nlast line: tom.berger@web.de\n");
    fs::write(dir.path().join("one-line.json"), &text).expect("write");
    let mut limits = Limits::default();
    limits.max_line = MIB;
    let f = assert_skipped(
        dir.path(),
        &limits,
        "one-line.json",
        SkipReason::LineTooLong,
    );
    let detail = &f.skipped.as_ref().expect("skipped").detail;
    assert!(
        detail.contains("line 2") && detail.contains("1 MiB"),
        "{detail}"
    );
    assert_eq!(f.counts.get(&Kind::Email), Some(&1));
}

#[test]
fn an_enormous_line_in_a_gzip_stream_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    let file = fs::File::create(dir.path().join("dump.sql.gz")).expect("create");
    let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    for _ in 0..3 {
        enc.write_all(&[b'('; MIB]).expect("gzip");
    }
    enc.finish().expect("gzip");
    let mut limits = Limits::default();
    limits.max_line = MIB;
    limits.max_ratio = u64::MAX;
    assert_skipped(dir.path(), &limits, "dump.sql.gz", SkipReason::LineTooLong);
}

/// A minimal ODS whose content holds `table` (a `<table:table>` element).
fn write_ods(path: &Path, table: &str) {
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\"><office:body><office:spreadsheet>{table}</office:spreadsheet></office:body></office:document-content>"
    );
    let mut w = zip::ZipWriter::new(fs::File::create(path).expect("create ods"));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("mimetype", stored).expect("entry");
    w.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .expect("write");
    w.start_file("META-INF/manifest.xml", deflated)
        .expect("entry");
    w.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\"><manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/><manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/></manifest:manifest>")
        .expect("write");
    w.start_file("content.xml", deflated).expect("entry");
    w.write_all(content.as_bytes()).expect("write");
    w.finish().expect("finish zip");
}

#[test]
fn an_ods_cell_repeated_a_billion_times_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    write_ods(
        &dir.path().join("repeat.ods"),
        "<table:table table:name=\"S\"><table:table-row table:number-rows-repeated=\"1000\"><table:table-cell office:value-type=\"string\" table:number-columns-repeated=\"1000000\"><text:p>x</text:p></table:table-cell></table:table-row></table:table>",
    );
    assert_skipped(
        dir.path(),
        &Limits::default(),
        "repeat.ods",
        SkipReason::CellCount,
    );
}

#[test]
fn an_ods_with_trailing_empty_repeats_is_still_read() {
    // What spreadsheet programs write: empty rows and cells repeated to the sheet's edge.
    let dir = tempfile::tempdir().expect("tempdir");
    write_ods(
        &dir.path().join("ok.ods"),
        "<table:table table:name=\"S\"><table:table-row><table:table-cell office:value-type=\"string\"><text:p>E-Mail</text:p></table:table-cell><table:table-cell table:number-columns-repeated=\"16383\"/></table:table-row><table:table-row><table:table-cell office:value-type=\"string\"><text:p>jana.keller@gmx.de</text:p></table:table-cell><table:table-cell table:number-columns-repeated=\"16383\"/></table:table-row><table:table-row table:number-rows-repeated=\"1048574\"><table:table-cell table:number-columns-repeated=\"16384\"/></table:table-row></table:table>",
    );
    let args = ScanArgs::new(vec![dir.path().to_path_buf()]);
    let outcome = run(&args, &mut Vec::new()).expect("scan runs");
    assert_eq!(outcome.totals.skipped, 0, "{:?}", outcome.files);
    assert_eq!(outcome.files[0].counts.get(&Kind::Email), Some(&1));
}

/// A minimal BIFF8 workbook in an OLE compound file: a globals substream and one sheet
/// whose NUMBER cells sit at `cells` (row, column).
fn write_xls(path: &Path, cells: &[(u16, u16)]) {
    let record = |out: &mut Vec<u8>, kind: u16, body: &[u8]| {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(body.len() as u16).to_le_bytes());
        out.extend_from_slice(body);
    };
    let bof = |dt: u16| {
        let mut b = vec![0x00, 0x06];
        b.extend_from_slice(&dt.to_le_bytes());
        b.extend_from_slice(&[0; 12]);
        b
    };
    let mut wb = Vec::new();
    record(&mut wb, 0x0809, &bof(0x0005));
    record(&mut wb, 0x000A, &[]);
    record(&mut wb, 0x0809, &bof(0x0010));
    for &(r, c) in cells {
        let mut b = Vec::new();
        b.extend_from_slice(&r.to_le_bytes());
        b.extend_from_slice(&c.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&1.0f64.to_le_bytes());
        record(&mut wb, 0x0203, &b);
    }
    record(&mut wb, 0x000A, &[]);
    let mut doc = cfb::create(path).expect("create compound file");
    let mut s = doc.create_stream("/Workbook").expect("stream");
    s.write_all(&wb).expect("write");
}

#[test]
fn an_old_xls_with_cells_at_both_far_corners_is_skipped_before_it_is_read() {
    // A few kilobytes that the reader would expand to 256 x 65,536 cells (a gigabyte).
    let dir = tempfile::tempdir().expect("tempdir");
    write_normal_csv(dir.path());
    write_xls(&dir.path().join("corners.xls"), &[(0, 0), (65535, 255)]);
    let f = assert_skipped(
        dir.path(),
        &Limits::default(),
        "corners.xls",
        SkipReason::CellCount,
    );
    let detail = &f.skipped.as_ref().expect("skipped").detail;
    assert!(detail.contains("16777216 cells"), "{detail}");
}

#[test]
fn an_old_xls_within_the_cell_limit_passes_the_check() {
    // The same file with a small extent is handed to the reader (which may or may not
    // accept this minimal workbook), not skipped for its size.
    let dir = tempfile::tempdir().expect("tempdir");
    write_xls(&dir.path().join("small.xls"), &[(0, 0), (99, 9)]);
    let mut out = Vec::new();
    let outcome = run(&ScanArgs::new(vec![dir.path().to_path_buf()]), &mut out).expect("scan");
    let skipped = outcome
        .files
        .iter()
        .filter_map(|f| f.skipped.as_ref())
        .map(|s| s.reason)
        .collect::<Vec<_>>();
    assert!(!skipped.contains(&SkipReason::CellCount), "{skipped:?}");
}
