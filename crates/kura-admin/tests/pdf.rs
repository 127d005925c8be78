//! PDF drafts: Japanese, German, English and Korean in one document, fonts embedded as subsets, and
//! the text extracted back by poppler's `pdftotext` (Debian's poppler-utils, installed by
//! `.ci/run`) equals what was written — wrapped lines included.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} (poppler-utils) is needed: {e}"));
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_japanese_german_and_korean_draft_round_trips_through_pdftotext() {
    let long = "不正アクセスにより、コールセンター委託先の従業員アカウントの認証情報が窃取され、"
        .repeat(4);
    let md = format!(
        "# 個人データの漏えい等の事態に関する報告（確報）\n\n## 4. 原因\n{long}\n\n\
         ## Art der Verletzung\nDer Schlüssel eines Auftragsverarbeiters wurde gestohlen; \
         betroffen sind Namen und Anschriften (Müller, Straße).\n\n- 13,625 people confirmed\n\
         ## 유출된 개인정보의 항목\n이름, 이메일 주소\n"
    );
    let pdf = kura_admin::pdf::render(&md, "draft", &[]).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("draft.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let text = tool("pdftotext", &["-enc", "UTF-8", file.to_str().unwrap(), "-"]);
    let flat: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for want in [
        "個人データの漏えい等の事態に関する報告（確報）",
        "4.原因",
        &long,
        "ArtderVerletzung",
        "Müller,Straße",
        "13,625peopleconfirmed",
        "유출된개인정보의항목",
        "이름,이메일주소",
    ] {
        let want: String = want.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(
            flat.contains(&want),
            "`{want}` not in the extracted text:\n{text}"
        );
    }
    // Every font is embedded, as a subset.
    let fonts = tool("pdffonts", &[file.to_str().unwrap()]);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for r in rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        let n = cols.len();
        assert_eq!(
            &cols[n - 5..n - 3],
            ["yes", "yes"],
            "embedded and subset: {fonts}"
        );
    }
    // A subset, not the whole IPA font (several megabytes).
    assert!(pdf.len() < 200_000, "{} bytes", pdf.len());
}

#[test]
fn a_missing_font_is_named() {
    let e = kura_admin::pdf::render("# x", "t", &["/nonexistent/font.ttf".into()]).unwrap_err();
    assert!(e.to_string().contains("font"), "{e}");
}
