//! The layout, the login, the assets, the response headers and the error pages.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::i18n::{Lang, T};
use crate::{COOKIE, Console, Signed, cookie_of, lang_of, now_ms, same_origin};

/// The one stylesheet and the one script, served from here (no CDN, no inline code).
const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

/// Nothing from another origin, no inline script or style, no plugins, no framing; forms
/// post only here.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Headers on every console response.
pub(crate) async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` on form posts, and the
    // origin check below needs the real one. URLs carry no personal value anyway.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

pub(crate) async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

pub(crate) async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    None,
    Incidents,
    Containment,
    Posture,
    Me,
}

/// A whole page: skip link, navigation for the session's kind, sign-out, and `body`.
pub(crate) fn layout(
    lang: Lang,
    title: &str,
    signed: Option<&Signed>,
    nav: Nav,
    body: Markup,
) -> Markup {
    let officer = signed.is_some_and(|s| s.principal.caller.is_operator());
    let entries: &[(Nav, &str, T)] = if officer {
        &[
            (Nav::Incidents, "/console/incidents", T::Incidents),
            (Nav::Containment, "/console/containment", T::Containment),
            (Nav::Posture, "/console/posture", T::Posture),
        ]
    } else if signed.is_some() {
        &[(Nav::Me, "/console/me", T::MyData)]
    } else {
        &[]
    };
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (T::Product.get(lang)) }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { (T::Skip.get(lang)) }
                header.top {
                    span.brand { (T::Product.get(lang)) }
                    @if !entries.is_empty() {
                        nav aria-label=(T::Main.get(lang)) {
                            ul {
                                @for (n, href, t) in entries {
                                    li {
                                        @if *n == nav {
                                            a href=(href) aria-current="page" { (t.get(lang)) }
                                        } @else {
                                            a href=(href) { (t.get(lang)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(s) = signed {
                        form.signout method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(s.session.csrf);
                            @if officer { span.who { (s.principal.id) } }
                            button type="submit" { (T::SignOut.get(lang)) }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// A page with a status and one message.
pub(crate) fn status(code: StatusCode, lang: Lang, t: T) -> Response {
    let body = html! {
        h1 { (T::Refused.get(lang)) }
        p.error role="alert" { (t.get(lang)) }
        p { a href="/console" { (T::Back.get(lang)) } }
    };
    (
        code,
        Html(layout(lang, t.get(lang), None, Nav::None, body).into_string()),
    )
        .into_response()
}

pub(crate) fn refused(lang: Lang, t: T) -> Response {
    status(StatusCode::FORBIDDEN, lang, t)
}

/// An API error as a page: its status, machine-readable code and message (which never
/// carries a field value).
pub(crate) fn api_error(lang: Lang, e: &kura_server::ApiError) -> Response {
    let body = html! {
        h1 { (T::Refused.get(lang)) }
        p.error role="alert" data-code=(e.code) {
            code { (e.code) } ": " (e.message)
        }
        p { a href="/console" { (T::Back.get(lang)) } }
    };
    (
        e.status,
        Html(layout(lang, e.code, None, Nav::None, body).into_string()),
    )
        .into_response()
}

pub(crate) async fn not_found(headers: HeaderMap) -> Response {
    status(StatusCode::NOT_FOUND, lang_of(&headers), T::NotFound)
}

fn login_page(lang: Lang, error: Option<T>) -> Markup {
    let body = html! {
        h1 { (T::SignIn.get(lang)) }
        @if let Some(e) = error {
            p.error role="alert" { (e.get(lang)) }
        }
        form.login method="post" action="/console/login" autocomplete="off" {
            label for="key" { (T::KeyLabel.get(lang)) }
            input #key type="password" name="key" required autocomplete="off"
                aria-describedby="key-help" spellcheck="false";
            p #key-help .help { (T::KeyHelp.get(lang)) }
            button type="submit" { (T::SignIn.get(lang)) }
        }
    };
    layout(lang, T::SignIn.get(lang), None, Nav::None, body)
}

pub(crate) async fn login_form(headers: HeaderMap) -> Html<String> {
    Html(login_page(lang_of(&headers), None).into_string())
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    key: String,
}

fn cookie(state: &Console, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Checks the key like the API's bearer check and opens a session.
pub(crate) async fn login(
    State(state): State<Console>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers);
    let key = Zeroizing::new(form.key);
    if !same_origin(&headers) {
        return status(StatusCode::FORBIDDEN, lang, T::CsrfRefused);
    }
    let key = key.trim();
    let Ok(principal) = kura_server::auth::authenticate_key(&state.app, key).await else {
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_page(lang, Some(T::BadKey)).into_string()),
        )
            .into_response();
    };
    let Some(prefix) = kura_admin::keys::prefix_of(key) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let opened = state
        .sessions
        .open(prefix, kura_crypto::sha256(key.as_bytes()), now_ms());
    let id = match opened {
        Ok(id) => id,
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(login_page(lang, Some(T::TooManySessions)).into_string()),
            )
                .into_response();
        }
    };
    tracing::info!(principal = %principal.id, "console session opened");
    let to = if principal.caller.is_operator() {
        "/console/incidents"
    } else {
        "/console/me"
    };
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&state, &id, state.settings.absolute_secs),
    );
    r
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: String,
}

pub(crate) async fn logout(
    State(state): State<Console>,
    headers: HeaderMap,
    s: Signed,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(r) = crate::check_form(&headers, &s, &form.csrf) {
        return r;
    }
    if let Some(c) = cookie_of(&headers) {
        state.sessions.close(&c);
    }
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, "", 0));
    r
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| "—".to_owned())
}

/// A duration as `2 d 3 h`, `5 h 12 min` or `7 min`.
pub(crate) fn span(ms: i64) -> String {
    let m = ms.unsigned_abs() / 60_000;
    let (d, h, min) = (m / 1440, (m / 60) % 24, m % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {min} min")
    } else {
        format!("{min} min")
    }
}
