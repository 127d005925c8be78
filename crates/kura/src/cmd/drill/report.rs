//! The drill's report: `report.md`, `report.html` (one self-contained page, the chart drawn
//! as inline SVG on the server, no script) and `summary.json`. Every figure comes from the
//! run's [`Outcome`]; no personal value is in any of them (counts, ids of requests and of
//! the incident only).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::Outcome;

/// Rows of (label, confirmed, potential) from the matrix's category totals.
fn categories(o: &Outcome) -> Vec<(String, u64, u64)> {
    o.matrix["categories"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v["confirmed"].as_u64().unwrap_or(0),
                        v["potential"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Rows of (country, people confirmed, potential only).
fn countries(o: &Outcome) -> Vec<(String, u64, u64)> {
    o.matrix["people_by_country"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v[0].as_u64().unwrap_or(0),
                        v[1].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn headline(o: &Outcome) -> Vec<(&'static str, String)> {
    let (scoped, drafts, notices) = (
        o.declaration_to_scope_ms,
        o.declaration_to_drafts_ms,
        o.declaration_to_notices_ms,
    );
    let queued = if o.backend.contains("outbox") {
        "declaration → every notice in the outbox"
    } else {
        "declaration → every notice handed to SMTP"
    };
    vec![
        (
            "first stolen read → key suspended",
            format!("{} ms", o.attack.first_read_to_suspension_ms),
        ),
        (
            "records the attacker obtained",
            o.attack.records.to_string(),
        ),
        ("declaration → scope stored", format!("{scoped} ms")),
        ("declaration → every report draft", format!("{drafts} ms")),
        (queued, format!("{notices} ms")),
    ]
}

fn when(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

/// The attack's reads and refusals per `bucket_ms` as an SVG bar chart.
fn chart_svg(chart: &[(u64, u64)], bucket_ms: u64) -> String {
    let (w, h, pad) = (720.0f64, 220.0f64, 40.0f64);
    let max = chart
        .iter()
        .map(|(r, f)| r.max(f))
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let n = chart.len().max(1) as f64;
    let bw = (w - 2.0 * pad) / n;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-labelledby="chart-title"><title id="chart-title">Records read (dark) and requests refused (red) per {bucket_ms} ms of the attack</title><line x1="{pad}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>"##,
        y0 = h - pad,
        x1 = w - pad
    );
    for (i, (reads, refused)) in chart.iter().enumerate() {
        let x = pad + i as f64 * bw;
        let rh = (*reads as f64 / max) * (h - 2.0 * pad);
        let fh = (*refused as f64 / max) * (h - 2.0 * pad);
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{rh:.1}" fill="#1f3b73"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{fh:.1}" fill="#c0392b"/>"##,
            h - pad - rh,
            (bw * 0.5).max(0.5),
            x + bw * 0.5,
            h - pad - fh,
            (bw * 0.5).max(0.5)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{pad}" y="{}" font-size="12">0 s</text><text x="{}" y="{}" font-size="12" text-anchor="end">{:.1} s</text><text x="4" y="{}" font-size="12">{}</text></svg>"##,
        h - pad + 16.0,
        w - pad,
        h - pad + 16.0,
        (chart.len() as u64 * bucket_ms) as f64 / 1000.0,
        pad - 8.0,
        max as u64
    );
    s
}

fn markdown(o: &Outcome) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# kura drill: the 2011 breach replayed\n");
    let _ = writeln!(
        m,
        "{} customers (seed {}), {}; incident `{}`.\n",
        o.subjects, o.seed, o.backend, o.incident
    );
    let _ = writeln!(m, "## Timings\n\n| | |\n|---|---:|");
    for (k, v) in headline(o) {
        let _ = writeln!(m, "| {k} | {v} |");
    }
    let _ = writeln!(
        m,
        "\n## Steps\n\n| step | seconds | detail |\n|---|---:|---|"
    );
    for s in &o.steps {
        let _ = writeln!(
            m,
            "| {} | {:.1} | {} |",
            s.name,
            s.ms as f64 / 1000.0,
            s.detail
        );
    }
    let a = &o.attack;
    let _ = writeln!(
        m,
        "\n## The attack\n\n{} threads with the call centre's stolen key made {} requests ({} searches) in {} ms and obtained {} records before the key was refused; {} requests were refused. Reads and refusals per {} ms:\n",
        a.threads, a.requests, a.searches, a.ran_ms, a.records, a.refused, o.chart_bucket_ms
    );
    let _ = writeln!(m, "| from ms | records read | refused |\n|---:|---:|---:|");
    for (i, (r, f)) in o.chart.iter().enumerate() {
        let _ = writeln!(m, "| {} | {r} | {f} |", i as u64 * o.chart_bucket_ms);
    }
    let desk = o.supervision["principals"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["kind"] == "processor"))
        .cloned()
        .unwrap_or(Value::Null);
    let _ = writeln!(
        m,
        "\nThe call centre's supervision report (`GET /v1/orgs/callcentre/report`) for the day: {} requests by its desk, refused {}, {} people obtained, suspended: {}.",
        desk["requests"], desk["denied"], desk["distinct_subjects"], desk["suspended"]
    );
    let _ = writeln!(
        m,
        "\n## Exposure per category\n\n{} people in the matrix, {} confirmed by the access log.\n\n| category | confirmed | potential |\n|---|---:|---:|",
        o.matrix["people"], o.matrix["people_confirmed"]
    );
    for (c, conf, pot) in categories(o) {
        let _ = writeln!(m, "| {c} | {conf} | {pot} |");
    }
    let _ = writeln!(
        m,
        "\n## Exposure per country\n\n| country | people confirmed | potential only |\n|---|---:|---:|"
    );
    for (c, conf, pot) in countries(o) {
        let _ = writeln!(m, "| {c} | {conf} | {pot} |");
    }
    let _ = writeln!(
        m,
        "\n## Obligations owed\n\n| obligation | recipient | deadline | state |\n|---|---|---|---|"
    );
    for ob in &o.obligations {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} |",
            s(&ob["id"]),
            s(&ob["recipient"]),
            s(&ob["deadline_local"]),
            s(&ob["state"])
        );
    }
    let _ = writeln!(
        m,
        "\nDrafts rendered (in `drafts/`): {}.",
        o.drafts.join(", ")
    );
    let _ = writeln!(
        m,
        "\n## Notices\n\nPlanned {}, sent {}.\n\n| language | country | family | people |\n|---|---|---|---:|",
        o.notices["plan"]["people"], o.notices["send"]["sent"]
    );
    for c in counts(o) {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} |",
            s(&c["lang"]),
            s(&c["country"]),
            s(&c["family"]),
            c["people"]
        );
    }
    let _ = writeln!(
        m,
        "\n{} accounts were forced to reset their password. {} people were erased at their request, each with a signed receipt in `receipts/`: {}.",
        o.flagged_for_reset,
        o.erasures.len(),
        o.erasures.join(", ")
    );
    let _ = writeln!(
        m,
        "\n## Incident timeline\n\n| when | by | change | reason |\n|---|---|---|---|"
    );
    for e in &o.timeline {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} |",
            when(e["at_ms"].as_u64().unwrap_or(0)),
            s(&e["by"]),
            s(&e["change"]),
            s(&e["reason"]).replace('|', "/")
        );
    }
    let _ = writeln!(
        m,
        "\n## Self-verification\n\n| check | result | detail |\n|---|---|---|"
    );
    for c in &o.checks {
        let _ = writeln!(
            m,
            "| {} | {} | {} |",
            c.name,
            if c.ok { "ok" } else { "FAILED" },
            c.detail.replace('|', "/")
        );
    }
    m
}

/// A JSON value as table text: strings as they are, null as a dash (an obligation without a
/// fixed deadline: "without undue delay").
fn s(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::String(t) => t.clone(),
        other => other.to_string(),
    }
}

fn counts(o: &Outcome) -> Vec<Value> {
    o.notices["status"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|c| c["counts"].as_array())
        .map(|c| c.iter().filter(|c| c["state"] == "sent").cloned().collect())
        .unwrap_or_default()
}

fn html_page(o: &Outcome) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "kura drill report" }
                style { (PreEscaped("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}table{border-collapse:collapse;margin:1rem 0;max-width:100%}td,th{border:1px solid #999;padding:.3rem .6rem;text-align:left;overflow-wrap:anywhere}td.n{text-align:right}.fail{color:#a00;font-weight:bold}.ok{color:#064}svg{width:100%;height:auto;border:1px solid #ccc}")) }
            }
            body {
                h1 { "kura drill: the 2011 breach replayed" }
                p { (o.subjects) " customers (seed " (o.seed) "), " (o.backend) "; incident " code { (o.incident) } "." }
                h2 { "Timings" }
                table { @for (k, v) in headline(o) { tr { th scope="row" { (k) } td.n { (v) } } } }
                h2 { "Steps" }
                table {
                    tr { th { "began at (s)" } th { "step" } th { "took (s)" } th { "detail" } }
                    @for st in &o.steps { tr { td.n { (format!("{:.1}", st.at_ms as f64 / 1000.0)) } td { (st.name) } td.n { (format!("{:.1}", st.ms as f64 / 1000.0)) } td { (st.detail) } } }
                }
                h2 { "The attack" }
                p { (o.attack.threads) " threads with the call centre's stolen key made " (o.attack.requests) " requests and obtained " (o.attack.records) " records in " (o.attack.ran_ms) " ms before the key was refused." }
                (PreEscaped(chart_svg(&o.chart, o.chart_bucket_ms)))
                p { "Per " (o.chart_bucket_ms) " ms: records read in full (dark blue, left bar) and requests refused (red, right bar)." }
                h2 { "Exposure per category" }
                p { (o.matrix["people"]) " people in the matrix, " (o.matrix["people_confirmed"]) " confirmed by the access log." }
                table {
                    tr { th { "category" } th { "confirmed" } th { "potential" } }
                    @for (c, conf, pot) in categories(o) { tr { td { (c) } td.n { (conf) } td.n { (pot) } } }
                }
                h2 { "Exposure per country" }
                table {
                    tr { th { "country" } th { "people confirmed" } th { "potential only" } }
                    @for (c, conf, pot) in countries(o) { tr { td { (c) } td.n { (conf) } td.n { (pot) } } }
                }
                h2 { "Obligations owed" }
                table {
                    tr { th { "obligation" } th { "recipient" } th { "deadline" } th { "state" } }
                    @for ob in &o.obligations { tr { td { (s(&ob["id"])) } td { (s(&ob["recipient"])) } td { (s(&ob["deadline_local"])) } td { (s(&ob["state"])) } } }
                }
                p { "Drafts rendered: " (o.drafts.join(", ")) }
                h2 { "Notices" }
                table {
                    tr { th { "language" } th { "country" } th { "family" } th { "people" } }
                    @for c in counts(o) { tr { td { (s(&c["lang"])) } td { (s(&c["country"])) } td { (s(&c["family"])) } td.n { (c["people"]) } } }
                }
                p { (o.flagged_for_reset) " accounts forced to reset. " (o.erasures.len()) " people erased at their request, each with a signed receipt." }
                h2 { "Incident timeline" }
                table {
                    tr { th { "when" } th { "by" } th { "change" } th { "reason" } }
                    @for e in &o.timeline { tr { td { (when(e["at_ms"].as_u64().unwrap_or(0))) } td { (s(&e["by"])) } td { (s(&e["change"])) } td { (s(&e["reason"])) } } }
                }
                h2 { "Self-verification" }
                table {
                    tr { th { "check" } th { "result" } th { "detail" } }
                    @for c in &o.checks { tr { td { (c.name) } @if c.ok { td.ok { "ok" } } @else { td.fail { "FAILED" } } td { (c.detail) } } }
                }
            }
        }
    }
}

/// Writes `report.md`, `report.html` and `summary.json` into `out`.
pub fn write(out: &Path, o: &Outcome) -> Result<()> {
    std::fs::write(out.join("report.md"), markdown(o))?;
    std::fs::write(out.join("report.html"), html_page(o).into_string())?;
    std::fs::write(out.join("summary.json"), serde_json::to_vec_pretty(o)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(when(1_303_776_000_123), "2011-04-26T00:00:00.123Z");
    }

    #[test]
    fn chart_is_one_svg_with_a_title() {
        let svg = chart_svg(&[(3, 0), (5, 0), (0, 4)], 20);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 6);
        assert!(svg.contains("per 20 ms") && svg.contains("0.1 s"), "{svg}");
    }
}
