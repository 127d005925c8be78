//! A person's own page: what is held (masked until asked), their cards, who read or changed
//! the record, and their rights — a copy, erasure with its receipt, reconfirmation.
//!
//! # Security properties
//! - The subject is the session principal's own, never a value from the request; every read
//!   goes through the vault as that principal, under the purpose `self_service`, so the
//!   policy decides and the log records it.
//! - A copy and an erasure are opened like the API's requests: a one-time code goes to the
//!   address on file, and only the code together with this session redeems it (a stolen key
//!   alone cannot erase or export; a stolen code alone neither).

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use kura_admin::rights::RequestView;
use kura_obligations::rights::RequestKind;
use kura_server::{ApiError, run};
use kura_vault::{Access, Identifier};
use maud::{Markup, html};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::i18n::{Lang, T};
use crate::page::{self, Nav, layout, utc};
use crate::{Console, Own, check_form};

const PURPOSE: &str = "self_service";

/// Access events shown on the page, newest first (the whole history is in the export).
const HISTORY: usize = 50;

fn access(o: &Own) -> Access {
    Access {
        principal: o.signed.principal.id.clone(),
        purpose: PURPOSE.to_owned(),
        request_id: uuid::Uuid::now_v7().to_string(),
        caller: o.signed.principal.caller.clone(),
    }
}

fn show(o: &Own, body: Markup) -> Response {
    let lang = o.signed.lang;
    Html(layout(lang, T::MyData.get(lang), Some(&o.signed), Nav::Me, body).into_string())
        .into_response()
}

fn rights_service(
    state: &Console,
) -> Result<std::sync::Arc<kura_admin::rights::Service>, ApiError> {
    state.app.rights.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "rights_unavailable",
            "data-subject requests are not configured on this server",
        )
    })
}

/// One card as the page shows it.
struct Card {
    brand: String,
    last4: String,
    exp: String,
}

/// `GET /console/me`: masked.
pub(crate) async fn me(State(state): State<Console>, o: Own) -> Response {
    render(&state, o, false, None).await
}

#[derive(Deserialize)]
pub(crate) struct MeForm {
    csrf: String,
    #[serde(default)]
    reveal: Option<String>,
}

/// `POST /console/me`: the same page with the values shown (a POST: a revealed page is
/// never a URL to bookmark, share or find in a proxy log).
pub(crate) async fn me_post(
    State(state): State<Console>,
    headers: HeaderMap,
    o: Own,
    Form(f): Form<MeForm>,
) -> Response {
    if let Some(r) = check_form(&headers, &o.signed, &f.csrf) {
        return r;
    }
    let reveal = f.reveal.as_deref() == Some("1");
    render(&state, o, reveal, None).await
}

type Loaded = (
    Option<(String, Vec<(String, String)>)>,
    Vec<Card>,
    Vec<kura_audit::Entry>,
);

async fn render(state: &Console, o: Own, reveal: bool, notice: Option<Markup>) -> Response {
    let lang = o.signed.lang;
    let vault = state.app.vault.clone();
    let cards = state.app.cards.clone();
    let audit = state.app.audit.clone();
    let a = access(&o);
    let (c, id) = (o.collection.clone(), o.subject);
    let loaded: Result<Loaded, ApiError> = tokio::task::spawn_blocking(move || {
        let schema = vault.schema().clone();
        let coll = schema.collection(&c);
        let view = match vault.read(&a, &c, &id, None) {
            Ok(v) => Some(v),
            Err(kura_vault::VaultError::NotFound(_)) => None,
            Err(e) => return Err(ApiError::from(e)),
        };
        let mut fields = Vec::new();
        let mut cardlist = Vec::new();
        let mut country = String::new();
        if let Some(v) = &view {
            country = v.country.clone();
            for (name, value) in &v.fields {
                let def = coll.and_then(|c| c.field(name));
                if def.is_some_and(|d| d.category == kura_model::Category::PaymentCard) {
                    for token in value.split(',').filter(|t| !t.is_empty()) {
                        if let Some(cv) = cards.as_ref().and_then(|cv| cv.metadata(&a, token).ok())
                        {
                            cardlist.push(Card {
                                brand: cv.brand,
                                last4: cv.last4,
                                exp: format!("{:02}/{}", cv.exp_month, cv.exp_year),
                            });
                        }
                    }
                    continue;
                }
                let shown = match (reveal, def) {
                    (true, _) => value.as_str().to_owned(),
                    (false, Some(d)) => kura_policy::mask(d.mask_rule(), value, &v.country),
                    (false, None) => kura_policy::mask::HIDDEN.to_owned(),
                };
                fields.push((name.clone(), shown));
            }
        }
        let history = if view.is_some() {
            let iid = vault.access_history_subject(&a, &c, &id)?;
            kura_audit::subject_recent(&*audit, iid, None, HISTORY)
                .map_err(|e| ApiError::internal(&e))?
        } else {
            Vec::new()
        };
        Ok((view.map(|_| (country, fields)), cardlist, history))
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(&e)));
    let (record, cards, history) = match loaded {
        Ok(x) => x,
        Err(e) => return page::api_error(lang, &e),
    };
    let csrf = o.signed.session.csrf.clone();
    let body = html! {
        h1 { (T::WhatWeHold.get(lang)) }
        @if let Some(n) = notice { (n) }
        @match &record {
            None => { p { (T::NothingHeld.get(lang)) } }
            Some((country, fields)) => {
                @if !reveal { p.help { (T::MaskedNote.get(lang)) } }
                table.record {
                    thead { tr { th scope="col" { (T::Field.get(lang)) } th scope="col" { (T::Value.get(lang)) } } }
                    tbody {
                        tr { th scope="row" { (T::Country.get(lang)) } td { (country) } }
                        @for (k, v) in fields {
                            tr { th scope="row" { (k) } td.value { (v) } }
                        }
                    }
                }
                form method="post" action="/console/me" {
                    input type="hidden" name="csrf" value=(csrf);
                    @if reveal {
                        button type="submit" { (T::Hide.get(lang)) }
                    } @else {
                        input type="hidden" name="reveal" value="1";
                        button type="submit" { (T::Reveal.get(lang)) }
                    }
                }
            }
        }
        section aria-labelledby="cards" {
            h2 #cards { (T::MyCards.get(lang)) }
            @if cards.is_empty() {
                p { (T::NoCards.get(lang)) }
            } @else {
                ul.cards {
                    @for c in &cards {
                        li { (c.brand) " •••• " (c.last4) " · " (T::Expires.get(lang)) " " (c.exp) }
                    }
                }
            }
        }
        section aria-labelledby="history" {
            h2 #history { (T::History.get(lang)) }
            @if history.is_empty() {
                p { (T::NoHistory.get(lang)) }
            } @else {
                div.scroll { table.history {
                    thead { tr {
                        th scope="col" { (T::When.get(lang)) }
                        th scope="col" { (T::By.get(lang)) }
                        th scope="col" { (T::Purpose.get(lang)) }
                        th scope="col" { (T::Action.get(lang)) }
                        th scope="col" { (T::Fields.get(lang)) }
                        th scope="col" { (T::Outcome.get(lang)) }
                    } }
                    tbody {
                        @for e in &history {
                            @if let Some(ev) = &e.event {
                                tr {
                                    td { (utc(ev.time_ms)) }
                                    td { (ev.principal) }
                                    td { (ev.purpose) }
                                    td { (ev.action) }
                                    td { (ev.fields.join(", ")) }
                                    td { (ev.outcome) }
                                }
                            }
                        }
                    }
                } }
            }
        }
        @if record.is_some() {
            section aria-labelledby="rights" {
                h2 #rights { (T::YourRights.get(lang)) }
                div.actions {
                    form method="post" action="/console/me/requests" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="kind" value="access";
                        button type="submit" { (T::AskExport.get(lang)) }
                    }
                    form method="post" action="/console/me/requests" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="kind" value="erasure";
                        button.danger type="submit" { (T::AskErase.get(lang)) }
                    }
                }
                (code_form(lang, &csrf, "/console/me/reconfirm", "reconfirm-code", T::Reconfirm))
            }
        }
    };
    show(&o, body)
}

fn code_form(lang: Lang, csrf: &str, action: &str, id: &str, button: T) -> Markup {
    html! {
        form.code method="post" action=(action) autocomplete="off" {
            input type="hidden" name="csrf" value=(csrf);
            label for=(id) { (T::Code.get(lang)) }
            input id=(id) name="token" required autocomplete="one-time-code" spellcheck="false";
            button type="submit" { (button.get(lang)) }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RequestForm {
    csrf: String,
    kind: String,
}

/// `POST /console/me/requests`: opens a copy or an erasure about the own subject; the code
/// goes to the address on file.
pub(crate) async fn open_request(
    State(state): State<Console>,
    headers: HeaderMap,
    o: Own,
    Form(f): Form<RequestForm>,
) -> Response {
    let lang = o.signed.lang;
    if let Some(r) = check_form(&headers, &o.signed, &f.csrf) {
        return r;
    }
    let kind = match f.kind.as_str() {
        "access" => RequestKind::Access,
        "erasure" => RequestKind::Erasure,
        _ => {
            return page::api_error(
                lang,
                &ApiError::bad_request("invalid_kind", "kind is access or erasure"),
            );
        }
    };
    let svc = match rights_service(&state) {
        Ok(s) => s,
        Err(e) => return page::api_error(lang, &e),
    };
    let a = access(&o);
    let (c, who) = (o.collection.clone(), Identifier::Subject(o.subject));
    let r = run(move || kura_admin::rights::open(&svc.env(), &a, &c, kind, &who, "console")).await;
    match r {
        Ok(_) => {
            let csrf = o.signed.session.csrf.clone();
            let body = html! {
                h1 { (T::YourRights.get(lang)) }
                p.notice role="status" { (T::CodeSent.get(lang)) }
                (code_form(lang, &csrf, "/console/me/redeem", "code", T::Confirm))
            };
            show(&o, body)
        }
        Err(e) => page::api_error(lang, &e),
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    csrf: String,
    token: String,
}

/// `POST /console/me/redeem`: the code of the own request; answers the copy as a download
/// or the erasure with its receipt.
pub(crate) async fn redeem(
    State(state): State<Console>,
    headers: HeaderMap,
    o: Own,
    Form(f): Form<TokenForm>,
) -> Response {
    let lang = o.signed.lang;
    let token = Zeroizing::new(f.token);
    if let Some(r) = check_form(&headers, &o.signed, &f.csrf) {
        return r;
    }
    let svc = match rights_service(&state) {
        Ok(s) => s,
        Err(e) => return page::api_error(lang, &e),
    };
    let a = access(&o);
    let c = o.collection.clone();
    let tok = token.trim().to_owned();
    let r = run(move || kura_admin::rights::verify(&svc.env(), &a, &c, &tok, None, false)).await;
    let v = match r {
        Ok(v) => v,
        Err(e) if e.code == "rights_token_invalid" || e.code == "rights_token_expired" => {
            return page::status(StatusCode::BAD_REQUEST, lang, T::CodeInvalid);
        }
        Err(e) => return page::api_error(lang, &e),
    };
    if let Some(export) = v.export {
        let bytes = serde_json::to_vec_pretty(&export).unwrap_or_default();
        return (
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"kura-export-{}.json\"", v.request.id),
                ),
            ],
            bytes,
        )
            .into_response();
    }
    let csrf = o.signed.session.csrf.clone();
    let body = match v.receipt {
        Some(receipt) => html! {
            h1 { (T::YourRights.get(lang)) }
            p.notice role="status" { (T::Erased.get(lang)) }
            @if let Ok(body) = kura_admin::receipt::parse(&receipt) {
                dl.facts {
                    dt { (T::When.get(lang)) } dd { (utc(body.completed_at_ms)) }
                    dt { (T::Fields.get(lang)) }
                    dd {
                        ul.erased {
                            @for e in &body.erased { li { (e.category) " · " (e.method) } }
                        }
                    }
                }
            }
            details open {
                summary { (T::SignedReceipt.get(lang)) }
                pre.receipt { (String::from_utf8_lossy(&receipt)) }
            }
            form method="post" action="/console/me/receipt" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="request" value=(v.request.id);
                button type="submit" { (T::DownloadReceipt.get(lang)) }
            }
        },
        None => html! {
            h1 { (T::YourRights.get(lang)) }
            p.notice role="status" { (T::Done.get(lang)) " " (v.request.state) }
        },
    };
    show(&o, body)
}

#[derive(Deserialize)]
pub(crate) struct ReceiptForm {
    csrf: String,
    request: String,
}

/// `POST /console/me/receipt`: the signed receipt of one of the own requests.
pub(crate) async fn receipt(
    State(state): State<Console>,
    headers: HeaderMap,
    o: Own,
    Form(f): Form<ReceiptForm>,
) -> Response {
    let lang = o.signed.lang;
    if let Some(r) = check_form(&headers, &o.signed, &f.csrf) {
        return r;
    }
    let svc = match rights_service(&state) {
        Ok(s) => s,
        Err(e) => return page::api_error(lang, &e),
    };
    let own = o.subject.to_string();
    let id = f.request.clone();
    let r = run(move || {
        let env = svc.env();
        let view: RequestView = kura_admin::rights::show(&env, &id)?;
        // Someone else's request is answered exactly like one that does not exist.
        if view.subject.as_deref() != Some(own.as_str()) {
            return Err(kura_admin::AdminError::NotFound(format!("request {id}")));
        }
        kura_admin::rights::receipt_of(&env, &id)
    })
    .await;
    match r {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"kura-receipt-{}.txt\"", f.request),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => page::api_error(lang, &e),
    }
}

/// `POST /console/me/reconfirm`: the code of a reconfirmation mail keeps the account.
pub(crate) async fn reconfirm(
    State(state): State<Console>,
    headers: HeaderMap,
    o: Own,
    Form(f): Form<TokenForm>,
) -> Response {
    let lang = o.signed.lang;
    let token = Zeroizing::new(f.token);
    if let Some(r) = check_form(&headers, &o.signed, &f.csrf) {
        return r;
    }
    let svc = match rights_service(&state) {
        Ok(s) => s,
        Err(e) => return page::api_error(lang, &e),
    };
    let a = access(&o);
    let c = o.collection.clone();
    let tok = token.trim().to_owned();
    let r = run(move || kura_admin::retention::reconfirm(&svc.env(), &a, &c, &tok)).await;
    match r {
        Ok(()) => {
            let n = html! { p.notice role="status" { (T::Reconfirmed.get(lang)) } };
            render(&state, o, false, Some(n)).await
        }
        Err(e) if e.code == "rights_token_invalid" => {
            page::status(StatusCode::BAD_REQUEST, lang, T::CodeInvalid)
        }
        Err(e) => page::api_error(lang, &e),
    }
}
