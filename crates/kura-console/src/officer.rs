//! The officer's screens: incidents (timeline, exposure, obligations, report drafts,
//! notices), containment (principals, quota use, suspensions, trips, reinstatement) and
//! posture (organizations, officers, supervision, the log and its witnesses). Every call is
//! the domain's own, as the API makes it.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use kura_admin::incident::{self, Incident, IncidentSummary, ScopeVersion};
use kura_admin::obligations::{Draft, IncidentObligations};
use kura_server::run;
use maud::{Markup, html};
use serde::Deserialize;

use crate::i18n::{Lang, T};
use crate::page::{self, Nav, layout, span, utc};
use crate::{Console, Officer, Signed, check_form};

fn done(lang: Lang, s: &Signed, title: &str, nav: Nav, body: Markup) -> Response {
    Html(layout(lang, title, Some(s), nav, body).into_string()).into_response()
}

/// Whether containment opened the incident (a quota, canary or probe trip).
fn tripped(i: &IncidentSummary) -> bool {
    matches!(i.trigger.as_str(), "quota" | "canary" | "probe")
}

/// After a change: back to `back`, or the error's page.
fn back_to<T>(lang: Lang, r: Result<T, kura_server::ApiError>, back: &str) -> Response {
    match r {
        Ok(_) => Redirect::to(back).into_response(),
        Err(e) => page::api_error(lang, &e),
    }
}

fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/.:".contains(&b))
}

/// `GET /console/incidents`.
pub(crate) async fn incidents(State(state): State<Console>, Officer(s): Officer) -> Response {
    let lang = s.lang;
    let d = state.app.directory.clone();
    let list: Vec<IncidentSummary> = match run(move || incident::list(&*d)).await {
        Ok(l) => l,
        Err(e) => return page::api_error(lang, &e),
    };
    let body = html! {
        h1 { (T::Incidents.get(lang)) }
        @if list.is_empty() {
            p { (T::NoIncidents.get(lang)) }
        } @else {
            table.incidents {
                thead { tr {
                    th scope="col" { (T::Title.get(lang)) }
                    th scope="col" { (T::Status.get(lang)) }
                    th scope="col" { (T::Trigger.get(lang)) }
                    th scope="col" { (T::Suspects.get(lang)) }
                    th scope="col" { (T::Opened.get(lang)) }
                } }
                tbody {
                    @for i in &list {
                        tr {
                            td { a href={"/console/incidents/" (i.id)} { (i.title) } }
                            td { span class={"status " (i.status)} { (i.status) } }
                            td { (i.trigger) }
                            td { (i.suspects.join(", ")) }
                            td { (utc(i.opened_at_ms)) }
                        }
                    }
                }
            }
        }
    };
    done(lang, &s, T::Incidents.get(lang), Nav::Incidents, body)
}

struct IncidentPage {
    incident: Incident,
    scopes: Vec<ScopeVersion>,
    obligations: Option<IncidentObligations>,
    drafts: Vec<Draft>,
    notices: Vec<kura_admin::notices::CampaignStatus>,
}

/// `GET /console/incidents/{id}`.
pub(crate) async fn incident(
    State(state): State<Console>,
    Officer(s): Officer,
    Path(id): Path<String>,
) -> Response {
    let lang = s.lang;
    if !id_ok(&id) {
        return page::status(axum::http::StatusCode::NOT_FOUND, lang, T::NotFound);
    }
    let d = state.app.directory.clone();
    let rules = state.app.obligations.clone();
    let n = state.app.notices.clone();
    let now = state.app.clock.now_ms();
    let loaded = run(move || {
        let incident = incident::show(&*d, &id)?;
        let scopes = incident::versions(&*d, &id)?;
        // Before the first scope there is nothing owed yet to list.
        let obligations = if scopes.is_empty() {
            None
        } else {
            Some(kura_admin::obligations::of_incident(
                &*d,
                &id,
                &rules.regimes,
                &rules.holder,
                now,
            )?)
        };
        let mut drafts = Vec::new();
        for o in obligations.iter().flat_map(|o| &o.obligations) {
            if !o.required || o.checklist.is_empty() {
                continue;
            }
            // An obligation without a template has no draft to show.
            if let Ok(dr) = kura_admin::obligations::draft(&*d, &id, &o.id, None, &rules, now) {
                drafts.push(dr);
            }
        }
        let notices = kura_admin::notices::status(&*n, &*d, &id)?;
        Ok(IncidentPage {
            incident,
            scopes,
            obligations,
            drafts,
            notices,
        })
    })
    .await;
    let p = match loaded {
        Ok(p) => p,
        Err(e) => return page::api_error(lang, &e),
    };
    let i = &p.incident;
    let csrf = &s.session.csrf;
    let body = html! {
        h1 { (i.title) }
        dl.facts {
            dt { (T::Status.get(lang)) } dd { span class={"status " (i.status)} { (i.status) } }
            dt { (T::Trigger.get(lang)) } dd { (i.trigger) }
            dt { (T::Vector.get(lang)) } dd { (i.vector) }
            dt { (T::Suspects.get(lang)) } dd { (i.suspects.join(", ")) }
            dt { (T::Opened.get(lang)) } dd { (utc(i.opened_at_ms)) " · " (i.opened_by) }
        }
        section aria-labelledby="exposure" {
            h2 #exposure { (T::Exposure.get(lang)) }
            @match p.scopes.last() {
                None => { p { (T::NotScoped.get(lang)) } }
                Some(v) => { (matrix(lang, v)) }
            }
            form method="post" action={"/console/incidents/" (i.id) "/scope"} {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { (T::ScopeNow.get(lang)) }
            }
        }
        section aria-labelledby="obligations" {
            h2 #obligations { (T::Obligations.get(lang)) }
            @match &p.obligations {
                None => p { (T::NotScoped.get(lang)) },
                Some(o) => (obligations(lang, o)),
            }
        }
        section aria-labelledby="reports" {
            h2 #reports { (T::Reports.get(lang)) }
            @for d in &p.drafts {
                (report(lang, &i.id, d, p.obligations.as_ref(), csrf))
            }
        }
        section aria-labelledby="notices" {
            h2 #notices { (T::Notices.get(lang)) }
            (notices(lang, &p.notices))
        }
        section aria-labelledby="timeline" {
            h2 #timeline { (T::Timeline.get(lang)) }
            table.timeline {
                thead { tr {
                    th scope="col" { (T::When.get(lang)) }
                    th scope="col" { (T::By.get(lang)) }
                    th scope="col" { (T::Change.get(lang)) }
                    th scope="col" { (T::Reason.get(lang)) }
                } }
                tbody {
                    @for e in i.timeline.iter().rev() {
                        tr {
                            td { (utc(e.at_ms)) }
                            td { (e.by) }
                            td { (e.change) }
                            td { (e.reason) }
                        }
                    }
                }
            }
        }
    };
    done(lang, &s, &p.incident.title, Nav::Incidents, body)
}

/// Counts of one category in one country: (confirmed, potential).
type Pair = (u64, u64);

fn pair(v: &serde_json::Value) -> Pair {
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

/// The exposure matrix of a scope version: totals, the categories × countries table and a
/// bar chart (SVG, drawn here: no script, no inline style).
fn matrix(lang: Lang, v: &ScopeVersion) -> Markup {
    let m = &v.matrix;
    let mut categories: BTreeMap<String, Pair> = BTreeMap::new();
    if let Some(c) = m["categories"].as_object() {
        for (k, t) in c {
            categories.insert(
                k.clone(),
                (
                    t["confirmed"].as_u64().unwrap_or(0),
                    t["potential"].as_u64().unwrap_or(0),
                ),
            );
        }
    }
    let mut countries: BTreeMap<String, BTreeMap<String, Pair>> = BTreeMap::new();
    if let Some(c) = m["countries"].as_object() {
        for (country, cats) in c {
            let row = countries.entry(country.clone()).or_default();
            for (cat, p) in cats.as_object().into_iter().flatten() {
                row.insert(cat.clone(), pair(p));
            }
        }
    }
    let max = categories
        .values()
        .map(|(c, p)| c + p)
        .max()
        .unwrap_or(0)
        .max(1);
    let bar_w = 480u64;
    let row_h = 26u64;
    let height = row_h * categories.len() as u64 + 8;
    html! {
        p.totals {
            strong { (T::People.get(lang)) ": " (m["people"].as_u64().unwrap_or(0)) }
            " (" (m["people_confirmed"].as_u64().unwrap_or(0)) " " (T::Confirmed.get(lang)) ")"
            " · " (T::Version.get(lang)) " " (v.version) " · " (utc(v.computed_at_ms.max(0) as u64))
        }
        div.scroll {
            table.matrix {
                caption { (T::Category.get(lang)) " × " (T::Country.get(lang)) " ("
                    (T::Confirmed.get(lang)) " / " (T::Potential.get(lang)) ")" }
                thead { tr {
                    th scope="col" { (T::Category.get(lang)) }
                    @for c in countries.keys() { th scope="col" { (c) } }
                    th scope="col" { "Σ" }
                } }
                tbody {
                    @for (cat, (c, p)) in &categories {
                        tr {
                            th scope="row" { (cat) }
                            @for row in countries.values() {
                                @let (cc, pp) = row.get(cat).copied().unwrap_or((0, 0));
                                td.num { span.confirmed { (cc) } " / " span.potential { (pp) } }
                            }
                            td.num { span.confirmed { (c) } " / " span.potential { (p) } }
                        }
                    }
                }
            }
        }
        figure.chart {
            svg role="img" aria-labelledby="chart-title" width="100%"
                viewBox={"0 0 " (bar_w + 220) " " (height)} preserveAspectRatio="xMinYMin meet" {
                title #chart-title { (T::ChartTitle.get(lang)) }
                @for (n, (cat, (c, p))) in categories.iter().enumerate() {
                    @let y = 4 + n as u64 * row_h;
                    @let wc = c * bar_w / max;
                    @let wp = p * bar_w / max;
                    text x="0" y=(y + 16) class="label" { (cat) }
                    rect x="130" y=(y) width=(wc) height="18" class="bar-confirmed" {}
                    rect x=(130 + wc) y=(y) width=(wp) height="18" class="bar-potential" {}
                    text x=(136 + wc + wp) y=(y + 14) class="value" { (c) " / " (p) }
                }
            }
            figcaption {
                span.key-confirmed { "■ " (T::Confirmed.get(lang)) } " "
                span.key-potential { "■ " (T::Potential.get(lang)) }
            }
        }
    }
}

fn obligations(lang: Lang, o: &IncidentObligations) -> Markup {
    let owed: Vec<_> = o.obligations.iter().filter(|o| o.required).collect();
    html! {
        @if owed.is_empty() {
            p { (T::NoObligations.get(lang)) }
        } @else {
            table.obligations {
                thead { tr {
                    th scope="col" { (T::Title.get(lang)) }
                    th scope="col" { (T::Recipient.get(lang)) }
                    th scope="col" { (T::Country.get(lang)) }
                    th scope="col" { (T::Deadline.get(lang)) }
                    th scope="col" { (T::TimeLeft.get(lang)) }
                    th scope="col" { (T::State.get(lang)) }
                } }
                tbody {
                    @for ob in &owed {
                        @let overdue = ob.time_left_ms.is_some_and(|t| t < 0) && ob.state != "submitted";
                        tr class=[overdue.then_some("overdue")] {
                            td { (ob.title) }
                            td { (ob.recipient) }
                            td { (ob.country.as_deref().unwrap_or("—")) }
                            td {
                                @match &ob.deadline_local {
                                    Some(d) => { (local(d, &ob.time_zone)) }
                                    None => { "—" }
                                }
                            }
                            td {
                                @match (ob.time_left_ms, ob.deadline_ms) {
                                    (Some(t), Some(at)) => {
                                        @if overdue {
                                            strong.overdue data-deadline-ms=(at) {
                                                (T::Overdue.get(lang)) " " (span(t))
                                            }
                                        } @else {
                                            span.countdown data-deadline-ms=(at)
                                                data-overdue=(T::Overdue.get(lang)) { (span(t)) }
                                        }
                                    }
                                    _ => { "—" }
                                }
                            }
                            td { span class={"state " (ob.state)} { (ob.state) } @if ob.soft { " (soft)" } }
                        }
                    }
                }
            }
        }
    }
}

/// A deadline in the regulator's zone (`2026-12-13T23:59:59+09:00[Asia/Tokyo]`) as
/// `2026-12-13 23:59 (Asia/Tokyo, +09:00)`, with the instant in a `<time>` element.
fn local(d: &str, zone: &str) -> Markup {
    // `Zoned`'s own text has no space before the bracketed zone; the obligation's may.
    match d.replace(" [", "[").parse::<jiff::Zoned>() {
        Ok(z) => html! {
            time datetime=(z.timestamp().to_string()) {
                (z.strftime("%Y-%m-%d %H:%M")) " "
                small { "(" (z.time_zone().iana_name().unwrap_or(zone)) ", " (z.strftime("%:z")) ")" }
            }
        },
        Err(_) => html! { (d) " " small { "(" (zone) ")" } },
    }
}

fn report(
    lang: Lang,
    incident: &str,
    d: &Draft,
    o: Option<&IncidentObligations>,
    csrf: &str,
) -> Markup {
    let ob = o.and_then(|o| o.obligations.iter().find(|x| x.id == d.obligation));
    let checklist: Vec<String> = ob.map(|o| o.checklist.clone()).unwrap_or_default();
    let submitted = ob.is_some_and(|o| o.state == "submitted");
    let total = checklist.len();
    let have = total.saturating_sub(d.missing.len());
    let base = format!("/console/incidents/{incident}/reports/{}", d.obligation);
    html! {
        article.report data-obligation=(d.obligation) {
            h3 { (ob.map_or(d.obligation.as_str(), |o| o.title.as_str())) }
            p {
                (T::Checklist.get(lang)) ": " strong.checklist-count { (have) " / " (total) }
                " · "
                @if submitted {
                    span.state.submitted { (T::Submitted.get(lang)) }
                } @else if d.missing.is_empty() {
                    span.state.complete { (T::Complete.get(lang)) }
                } @else {
                    span.state.missing { (T::Missing.get(lang)) ": " (d.missing.join(", ")) }
                }
            }
            ul.checklist {
                @for item in &checklist {
                    @let ok = !d.missing.contains(item);
                    li class=(if ok { "ok" } else { "missing" }) {
                        (if ok { "✓ " } else { "✗ " }) (item)
                    }
                }
            }
            @if !submitted && !d.missing.is_empty() {
                form.items method="post" action={(base) "/items"} {
                    input type="hidden" name="csrf" value=(csrf);
                    @for item in &d.missing {
                        label for={"it-" (d.obligation) "-" (item)} { (item) }
                        textarea id={"it-" (d.obligation) "-" (item)} name={"item." (item)}
                            maxlength="5000" rows="2" {}
                    }
                    label for={"why-" (d.obligation)} { (T::Reason.get(lang)) }
                    input id={"why-" (d.obligation)} name="reason" required maxlength="500";
                    button type="submit" { (T::SaveItems.get(lang)) }
                }
            }
            @if !submitted {
                form.submit method="post" action={(base) "/submit"} {
                    input type="hidden" name="csrf" value=(csrf);
                    label for={"ch-" (d.obligation)} { (T::Channel.get(lang)) }
                    input id={"ch-" (d.obligation)} name="channel" required maxlength="200";
                    label for={"ref-" (d.obligation)} { (T::Reference.get(lang)) }
                    input id={"ref-" (d.obligation)} name="reference" required maxlength="200";
                    button type="submit" { (T::MarkSubmitted.get(lang)) }
                }
            }
        }
    }
}

/// A campaign's people per language and state.
fn per_lang(c: &kura_admin::notices::CampaignStatus) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut by_lang: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for n in &c.counts {
        *by_lang
            .entry(n["lang"].as_str().unwrap_or("?").to_owned())
            .or_default()
            .entry(n["state"].as_str().unwrap_or("?").to_owned())
            .or_default() += n["people"].as_u64().unwrap_or(0);
    }
    by_lang
}

fn notices(lang: Lang, list: &[kura_admin::notices::CampaignStatus]) -> Markup {
    html! {
        @if list.is_empty() {
            p { (T::NoNotices.get(lang)) }
        }
        @for c in list {
            @let by_lang = per_lang(c);
            article.campaign {
                h3 { (c.campaign) " · " (c.status) " · " (T::People.get(lang)) " " (c.people) }
                table {
                    thead { tr {
                        th scope="col" { (T::Language.get(lang)) }
                        th scope="col" { (T::Sent.get(lang)) }
                        th scope="col" { (T::Failed.get(lang)) }
                        th scope="col" { (T::Pending.get(lang)) }
                    } }
                    tbody {
                        @for (l, states) in &by_lang {
                            @let sent = states.get("sent").copied().unwrap_or(0);
                            @let failed: u64 = states.iter().filter(|(k, _)| matches!(k.as_str(), "failed" | "bounced" | "unreachable")).map(|(_, v)| v).sum();
                            @let pending: u64 = states.iter().filter(|(k, _)| !matches!(k.as_str(), "sent" | "failed" | "bounced" | "unreachable")).map(|(_, v)| v).sum();
                            tr { th scope="row" { (l) } td.num { (sent) } td.num { (failed) } td.num { (pending) } }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    csrf: String,
}

/// `POST /console/incidents/{id}/scope`: a new matrix version at the latest checkpoint.
pub(crate) async fn scope(
    State(state): State<Console>,
    Officer(s): Officer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(r) = check_form(&headers, &s, &f.csrf) {
        return r;
    }
    let (audit, d, clock) = (
        state.app.audit.clone(),
        state.app.directory.clone(),
        state.app.clock.clone(),
    );
    let schema = state.app.vault.schema().clone();
    let by = s.principal.id.clone();
    let back = format!("/console/incidents/{id}#exposure");
    let r = run(move || incident::scope_at_latest(&*audit, &*d, &schema, &*clock, &by, &id)).await;
    back_to(s.lang, r, &back)
}

#[derive(Deserialize)]
pub(crate) struct SubmitForm {
    csrf: String,
    channel: String,
    reference: String,
}

/// `POST /console/incidents/{id}/reports/{obligation}/submit`.
pub(crate) async fn submit(
    State(state): State<Console>,
    Officer(s): Officer,
    headers: HeaderMap,
    Path((id, obligation)): Path<(String, String)>,
    Form(f): Form<SubmitForm>,
) -> Response {
    if let Some(r) = check_form(&headers, &s, &f.csrf) {
        return r;
    }
    let (d, clock, rules) = (
        state.app.directory.clone(),
        state.app.clock.clone(),
        state.app.obligations.clone(),
    );
    let by = s.principal.id.clone();
    let back = format!("/console/incidents/{id}#reports");
    let r = run(move || {
        kura_admin::obligations::submit(
            &*d,
            &*clock,
            &by,
            &id,
            &obligation,
            &f.channel,
            &f.reference,
            None,
            &rules,
        )
    })
    .await;
    back_to(s.lang, r, &back)
}

/// `POST /console/incidents/{id}/reports/{obligation}/items`: checklist items of a draft
/// (`item.<name>` fields; empty ones are left as they were), with a reason.
pub(crate) async fn items(
    State(state): State<Console>,
    Officer(s): Officer,
    headers: HeaderMap,
    Path((id, obligation)): Path<(String, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let field = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let csrf = field("csrf").unwrap_or_default();
    if let Some(r) = check_form(&headers, &s, &csrf) {
        return r;
    }
    let reason = field("reason").unwrap_or_default();
    let items: BTreeMap<String, String> = f
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("item.")?.to_owned(), v.trim().to_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let (d, clock, rules) = (
        state.app.directory.clone(),
        state.app.clock.clone(),
        state.app.obligations.clone(),
    );
    let by = s.principal.id.clone();
    let back = format!("/console/incidents/{id}#reports");
    let r = run(move || {
        kura_admin::obligations::set_items(
            &*d,
            &*clock,
            &by,
            &id,
            &obligation,
            items,
            &reason,
            &rules,
        )
    })
    .await;
    back_to(s.lang, r, &back)
}

/// `GET /console/containment`: per organization, its principals with their quota use,
/// suspension and trips.
pub(crate) async fn containment(State(state): State<Console>, Officer(s): Officer) -> Response {
    let lang = s.lang;
    let d = state.app.directory.clone();
    let windows = state.windows.clone();
    let policies = state.app.policies.clone();
    let schema = state.app.vault.schema().clone();
    let loaded = run(move || {
        let incidents = incident::list(&*d)?;
        let mut out = Vec::new();
        for o in d.organizations()? {
            let mut rows = Vec::new();
            for p in d.principals(Some(&o.id))? {
                // The parsed policies the API caches, not a parse per principal per view.
                let quota = policies
                    .caller(&p, &schema)
                    .ok()
                    .filter(|c| !c.policies.is_empty())
                    .and_then(|c| c.quota);
                let used = match &windows {
                    Some(w) => w.window_state(&p.id)?,
                    None => None,
                };
                let trips: Vec<(String, String)> = incidents
                    .iter()
                    .filter(|i| tripped(i) && i.suspects.contains(&p.id))
                    .map(|i| (i.id.clone(), i.trigger.clone()))
                    .collect();
                rows.push((p, quota, used, trips));
            }
            out.push((o, rows));
        }
        Ok(out)
    })
    .await;
    let orgs = match loaded {
        Ok(o) => o,
        Err(e) => return page::api_error(lang, &e),
    };
    let csrf = &s.session.csrf;
    let body = html! {
        h1 { (T::Containment.get(lang)) }
        @for (o, rows) in &orgs {
            section.org {
                h2 { (o.name) " " small { "(" (o.id) ", " (format!("{:?}", o.role).to_lowercase()) ")" } }
                div.scroll { table.principals {
                    thead { tr {
                        th scope="col" { (T::Principal.get(lang)) }
                        th scope="col" { (T::Kind.get(lang)) }
                        th scope="col" { (T::Quota.get(lang)) }
                        th scope="col" { (T::Status.get(lang)) }
                        th scope="col" { (T::Trips.get(lang)) }
                    } }
                    tbody {
                        @for (p, quota, used, trips) in rows {
                            tr data-principal=(p.id) {
                                th scope="row" { (p.name) br; small { (p.id) } }
                                td { (format!("{:?}", p.kind).to_lowercase()) }
                                td {
                                    @match quota {
                                        Some(q) => {
                                            @let live = used.map_or(0, |u| u.live);
                                            meter min="0" max=(q.subjects) low=(u64::from(q.subjects) / 2)
                                                high=(u64::from(q.subjects) * 4 / 5) optimum="0"
                                                value=(live.min(u64::from(q.subjects))) {}
                                            " " (live) " / " (q.subjects) " · " (span(i64::from(q.window_secs) * 1000))
                                        }
                                        None => { (T::NoQuota.get(lang)) }
                                    }
                                }
                                td {
                                    @match p.suspended_at {
                                        Some(at) => {
                                            strong.suspended { (T::Suspended.get(lang)) }
                                            " " (utc(at.max(0) as u64))
                                            @if let Some(r) = &p.suspended_reason { " · " (r) }
                                            form.reinstate method="post" action={"/console/principals/" (p.id) "/reinstate"} {
                                                input type="hidden" name="csrf" value=(csrf);
                                                label for={"why-" (p.id)} { (T::ReinstateReason.get(lang)) }
                                                textarea id={"why-" (p.id)} name="reason" required maxlength="500" rows="2" {}
                                                button type="submit" { (T::Reinstate.get(lang)) }
                                            }
                                        }
                                        None => { (T::Active.get(lang)) }
                                    }
                                }
                                td {
                                    ul.trips {
                                        @for (id, trigger) in trips {
                                            li { a href={"/console/incidents/" (id)} { (trigger) " · " (id) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    done(lang, &s, T::Containment.get(lang), Nav::Containment, body)
}

#[derive(Deserialize)]
pub(crate) struct ReasonForm {
    csrf: String,
    reason: String,
}

/// `POST /console/principals/{id}/reinstate`: needs a reason, which goes into the timeline
/// of the incidents that name the principal.
pub(crate) async fn reinstate(
    State(state): State<Console>,
    Officer(s): Officer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Response {
    if let Some(r) = check_form(&headers, &s, &f.csrf) {
        return r;
    }
    let (d, clock) = (state.app.directory.clone(), state.app.clock.clone());
    let by = s.principal.id.clone();
    let who = id.clone();
    let r = run(move || kura_admin::directory::reinstate(&*d, &*clock, &by, &who, &f.reason)).await;
    match r {
        Ok(_) => {
            tracing::info!(principal = %id, by = %s.principal.id, "principal reinstated from the console");
            let lang = s.lang;
            let body = html! {
                h1 { (T::Containment.get(lang)) }
                p.notice role="status" { (T::Reinstated.get(lang)) }
                p { a href="/console/containment" { (T::Back.get(lang)) } }
            };
            done(lang, &s, T::Containment.get(lang), Nav::Containment, body)
        }
        Err(e) => page::api_error(s.lang, &e),
    }
}

/// `GET /console/posture`.
pub(crate) async fn posture(State(state): State<Console>, Officer(s): Officer) -> Response {
    let lang = s.lang;
    let (d, audit) = (state.app.directory.clone(), state.app.audit.clone());
    let schema = state.app.vault.schema().clone();
    let now_s = (state.app.clock.now_ms() / 1000) as i64;
    let loaded = run(move || {
        let orgs = d.organizations()?;
        let mut reports = Vec::new();
        for o in &orgs {
            if o.supervisor.is_some() {
                reports.push(kura_admin::report::org_report(
                    &*audit,
                    &*d,
                    &schema,
                    &o.id,
                    now_s - 30 * 86_400,
                    now_s + 1,
                )?);
            }
        }
        let checkpoint =
            kura_audit::latest_checkpoint(&*audit).map_err(kura_admin::AdminError::from)?;
        Ok((orgs, reports, checkpoint))
    })
    .await;
    let (orgs, reports, checkpoint) = match loaded {
        Ok(x) => x,
        Err(e) => return page::api_error(lang, &e),
    };
    let m = &state.app.metrics;
    let witnessed = m.witnessed_at_ms.load(std::sync::atomic::Ordering::Relaxed);
    let failures = m
        .witness_failures
        .load(std::sync::atomic::Ordering::Relaxed);
    let body = html! {
        h1 { (T::Posture.get(lang)) }
        section {
            h2 { (T::Organizations.get(lang)) }
            div.scroll { table {
                thead { tr {
                    th scope="col" { (T::Organization.get(lang)) }
                    th scope="col" { (T::Role.get(lang)) }
                    th scope="col" { (T::Supervisor.get(lang)) }
                    th scope="col" { (T::Officer.get(lang)) }
                } }
                tbody {
                    @for o in &orgs {
                        tr {
                            th scope="row" { (o.name) br; small { (o.id) } }
                            td { (format!("{:?}", o.role).to_lowercase()) }
                            td { (o.supervisor.as_deref().unwrap_or("—")) }
                            td { (o.officer_name) br; small { (o.officer_contact) } }
                        }
                    }
                }
            } }
        }
        section {
            h2 { (T::Supervision.get(lang)) }
            @for r in &reports {
                h3 { (r.name) " (" (r.org) ")" }
                div.scroll { table {
                    thead { tr {
                        th scope="col" { (T::Principal.get(lang)) }
                        th scope="col" { (T::Requests.get(lang)) }
                        th scope="col" { (T::Denied.get(lang)) }
                        th scope="col" { (T::DistinctSubjects.get(lang)) }
                        th scope="col" { (T::Trips.get(lang)) }
                    } }
                    tbody {
                        @for p in &r.principals {
                            tr {
                                th scope="row" { (p.name) br; small { (p.id) } }
                                td.num { (p.requests) }
                                td.num { (p.denied.values().sum::<u64>()) }
                                td.num { (p.distinct_subjects) }
                                td.num { (p.containment_events.len()) }
                            }
                        }
                    }
                } }
            }
        }
        section {
            h2 { (T::Log.get(lang)) }
            h3 { (T::Checkpoint.get(lang)) }
            @match &checkpoint {
                Some(note) => { pre.checkpoint { (note) } }
                None => { p { (T::NoCheckpoint.get(lang)) } }
            }
            p {
                (T::Witness.get(lang)) ": " (T::LastCosigned.get(lang)) " "
                @if witnessed == 0 { (T::Never.get(lang)) } @else { (utc(witnessed)) }
                " · " (failures) " " (T::WitnessFailures.get(lang))
            }
        }
    };
    done(lang, &s, T::Posture.get(lang), Nav::Posture, body)
}
