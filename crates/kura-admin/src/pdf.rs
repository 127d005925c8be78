//! Report drafts as PDF: the Markdown draft laid out on A4 pages with `krilla` (fonts
//! embedded as subsets, with a ToUnicode map so the text can be copied and extracted), in
//! the first of the configured fonts that has each character — so Japanese, German and
//! English share one document.
//!
//! Layout is deliberately plain: `#` and `##` headings larger, list items indented, lines
//! wrapped at the margin by the glyphs' advance widths. No kerning or justification: a draft
//! for a regulator's form, not typesetting.

use std::path::{Path, PathBuf};

use krilla::Document;
use krilla::geom::Point;
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};

use crate::directory::AdminError;

/// Fonts tried when none is configured, in order (Debian's IPAGothic covers Japanese and
/// Latin-1; DejaVu Sans the rest of Latin; Nanum Gothic Korean).
pub const DEFAULT_FONTS: &[&str] = &[
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
];

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;

struct Face {
    font: Font,
    data: Vec<u8>,
}

impl Face {
    fn parsed(&self) -> Option<ttf_parser::Face<'_>> {
        ttf_parser::Face::parse(&self.data, 0).ok()
    }
}

/// The fonts of `paths` (or [`DEFAULT_FONTS`] that exist, when empty).
///
/// # Errors
/// `no_font` when none can be read; I/O failures name the file.
fn load(paths: &[PathBuf]) -> Result<Vec<Face>, AdminError> {
    let candidates: Vec<PathBuf> = if paths.is_empty() {
        DEFAULT_FONTS
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect()
    } else {
        paths.to_vec()
    };
    let mut out = Vec::new();
    for p in &candidates {
        let data = std::fs::read(p).map_err(AdminError::io("reading a PDF font"))?;
        let font = Font::new(data.clone().into(), 0).ok_or_else(|| {
            AdminError::invalid("no_font", format!("{} is not a usable font", p.display()))
        })?;
        out.push(Face { font, data });
    }
    if out.is_empty() {
        return Err(AdminError::invalid(
            "no_font",
            "no font for PDF drafts: install fonts-ipafont-gothic or set [obligations] pdf_fonts",
        ));
    }
    Ok(out)
}

/// Which font draws `c`: the first that has it (else the first).
fn pick(faces: &[Face], c: char) -> usize {
    faces
        .iter()
        .position(|f| f.parsed().is_some_and(|p| p.glyph_index(c).is_some()))
        .unwrap_or(0)
}

fn advance(face: &Face, c: char, size: f32) -> f32 {
    face.parsed()
        .and_then(|p| {
            let g = p.glyph_index(c)?;
            let adv = p.glyph_hor_advance(g)?;
            Some(f32::from(adv) / f32::from(p.units_per_em()) * size)
        })
        .unwrap_or(size * 0.5)
}

/// Splits `text` into lines no wider than `width` at `size` (breaking at spaces where it
/// can, anywhere for text without spaces, as Japanese is written).
fn wrap(faces: &[Face], text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut w = 0.0;
    let mut last_space: Option<usize> = None;
    for c in text.chars() {
        let a = advance(&faces[pick(faces, c)], c, size);
        if w + a > width && !line.is_empty() {
            match last_space {
                Some(at) if at > 0 => {
                    let rest = line.split_off(at);
                    lines.push(line);
                    line = rest.trim_start().to_owned();
                }
                _ => lines.push(std::mem::take(&mut line)),
            }
            w = line
                .chars()
                .map(|c| advance(&faces[pick(faces, c)], c, size))
                .sum();
            last_space = None;
        }
        if c == ' ' {
            last_space = Some(line.len());
        }
        line.push(c);
        w += a;
    }
    lines.push(line);
    lines
}

/// Renders a Markdown draft as a PDF.
///
/// # Errors
/// `no_font`; `pdf_failed` if the PDF cannot be written.
pub fn render(markdown: &str, title: &str, fonts: &[PathBuf]) -> Result<Vec<u8>, AdminError> {
    let faces = load(fonts)?;
    let mut doc = Document::new();
    doc.set_metadata(krilla::metadata::Metadata::new().title(title.to_owned()));
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| AdminError::invalid("pdf_failed", "the page size is refused"))?;
    let mut lines: Vec<(f32, f32, String)> = Vec::new(); // (size, indent, text)
    for raw in markdown.lines() {
        let (size, indent, text) = if let Some(t) = raw.strip_prefix("# ") {
            (16.0, 0.0, t)
        } else if let Some(t) = raw.strip_prefix("## ") {
            (12.5, 0.0, t)
        } else if let Some(t) = raw.strip_prefix("- ") {
            (10.0, 12.0, t)
        } else {
            (10.0, 0.0, raw)
        };
        if text.trim().is_empty() {
            lines.push((10.0, 0.0, String::new()));
            continue;
        }
        for (k, l) in wrap(&faces, text, size, PAGE_W - 2.0 * MARGIN - indent)
            .into_iter()
            .enumerate()
        {
            let shown = if indent > 0.0 && k == 0 {
                format!("• {l}")
            } else {
                l
            };
            lines.push((size, indent, shown));
        }
    }
    let mut at = 0;
    while at < lines.len() {
        let mut page = doc.start_page_with(settings.clone());
        let mut surface = page.surface();
        let mut y = MARGIN;
        while at < lines.len() {
            let (size, indent, text) = &lines[at];
            let step = size * 1.5;
            if y + step > PAGE_H - MARGIN {
                break;
            }
            y += step;
            let mut x = MARGIN + indent;
            // Runs of characters drawn by the same font.
            let mut run = String::new();
            let mut run_font = None;
            let flush = |surface: &mut krilla::surface::Surface<'_>,
                         run: &mut String,
                         font: Option<usize>,
                         x: &mut f32| {
                if let Some(f) = font
                    && !run.is_empty()
                {
                    surface.draw_text(
                        Point::from_xy(*x, y),
                        faces[f].font.clone(),
                        *size,
                        run,
                        false,
                        TextDirection::Auto,
                    );
                    *x += run
                        .chars()
                        .map(|c| advance(&faces[f], c, *size))
                        .sum::<f32>();
                    run.clear();
                }
            };
            for c in text.chars() {
                let f = pick(&faces, c);
                if run_font != Some(f) {
                    flush(&mut surface, &mut run, run_font, &mut x);
                    run_font = Some(f);
                }
                run.push(c);
            }
            flush(&mut surface, &mut run, run_font, &mut x);
            at += 1;
        }
        surface.finish();
        page.finish();
    }
    doc.finish()
        .map_err(|e| AdminError::invalid("pdf_failed", format!("{e:?}")))
}

/// Whether `path` names a PDF file (by extension).
pub fn is_pdf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pdf"))
}
