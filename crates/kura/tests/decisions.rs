//! Issue 13: one decision point. Every route of the OpenAPI document, for every principal
//! kind (operator, service, processor, self) and grant (none, the route's action, another
//! action), through the real binary: each answer matches the decision table below, and each
//! refusal is an access event `denied:<code>` in the log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use util::{Resp, Server};

/// What a route asks of `kura_policy::decide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Public (health, the OpenAPI document): no decision.
    Public,
    /// An operator-only action (`administer`, `read_log`).
    OperatorOnly,
    /// Reporting an incident to the supervising holder: processors and operators.
    Reporter,
    /// A policy action on the `accounts` collection; `targeted` when the request is about one
    /// subject (a self-service principal may then ask about its own).
    Policy {
        action: &'static str,
        targeted: bool,
    },
    /// Redeeming a mailed code: `authenticate` (untargeted) for a relaying service; for a
    /// self-service principal, `export` on its own subject (its key and the code together).
    Redeem,
}

struct Route {
    method: &'static str,
    template: &'static str,
    need: Need,
}

const fn policy(action: &'static str, targeted: bool) -> Need {
    Need::Policy { action, targeted }
}

/// The decision table: every route and what it needs.
const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        template: "/v1/health",
        need: Need::Public,
    },
    Route {
        method: "GET",
        template: "/v1/openapi.json",
        need: Need::Public,
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/subjects",
        need: policy("write", false),
    },
    Route {
        method: "GET",
        template: "/v1/collections/{c}/subjects/{id}",
        need: policy("read", true),
    },
    Route {
        method: "PATCH",
        template: "/v1/collections/{c}/subjects/{id}",
        need: policy("write", true),
    },
    Route {
        method: "DELETE",
        template: "/v1/collections/{c}/subjects/{id}",
        need: policy("delete", true),
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/search",
        need: policy("search", false),
    },
    Route {
        method: "PUT",
        template: "/v1/collections/{c}/subjects/{id}/password",
        need: policy("set_credential", true),
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/login",
        need: policy("authenticate", false),
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/recovery",
        need: policy("authenticate", false),
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/recovery/complete",
        need: policy("authenticate", false),
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/force-reset",
        need: policy("set_credential", false),
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/import",
        need: policy("import", false),
    },
    Route {
        method: "GET",
        template: "/v1/collections/{c}/subjects/{id}/access-log",
        need: policy("export", true),
    },
    Route {
        method: "POST",
        template: "/v1/cards",
        need: policy("write", true),
    },
    Route {
        method: "GET",
        template: "/v1/cards/{token}",
        need: policy("read", true),
    },
    Route {
        method: "DELETE",
        template: "/v1/cards/{token}",
        need: policy("delete", true),
    },
    Route {
        method: "POST",
        template: "/v1/cards/{token}/detokenize",
        need: policy("detokenize", true),
    },
    Route {
        method: "GET",
        template: "/v1/orgs",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/orgs",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/orgs/{id}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/orgs/{id}/report",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/principals",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/principals",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/principals/{id}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/principals/{id}/keys",
        need: Need::OperatorOnly,
    },
    Route {
        method: "DELETE",
        template: "/v1/principals/{id}/keys/{prefix}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "PUT",
        template: "/v1/principals/{id}/policies",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/principals/{id}/suspend",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/principals/{id}/reinstate",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/incidents",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/incidents",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/incidents/{id}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "PATCH",
        template: "/v1/incidents/{id}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/incidents/{id}/close",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/incidents/{id}/reopen",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/incidents/{id}/scope",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/incidents/{id}/scope",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/incidents/{id}/obligations",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/incidents/{id}/notices",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/incident-reports",
        need: Need::Reporter,
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/rights",
        need: policy("export", true),
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/rights/verify",
        need: Need::Redeem,
    },
    Route {
        method: "POST",
        template: "/v1/collections/{c}/reconfirm",
        need: Need::Redeem,
    },
    Route {
        method: "GET",
        template: "/v1/rights",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/rights/{id}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/rights/{id}/extend",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/rights/{id}/deny",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/rights/{id}/receipt",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/rights/{id}/confirm",
        need: Need::Reporter,
    },
    Route {
        method: "GET",
        template: "/v1/incidents/{id}/reports/{obligation}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "PUT",
        template: "/v1/incidents/{id}/reports/{obligation}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "POST",
        template: "/v1/incidents/{id}/reports/{obligation}/submit",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/metrics",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/audit/checkpoint",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/audit/entries/{index}",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/audit/proof/inclusion",
        need: Need::OperatorOnly,
    },
    Route {
        method: "GET",
        template: "/v1/audit/proof/consistency",
        need: Need::OperatorOnly,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Operator,
    Service,
    Processor,
    SelfService,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// A policy for another purpose.
    None,
    /// A policy granting the route's action for the route's purpose.
    Route,
    /// A policy granting another action for the route's purpose.
    Other,
}

/// The purpose each action is asked for.
fn purpose_of(action: &str) -> &'static str {
    if action == "detokenize" {
        "charge"
    } else {
        "support"
    }
}

fn other_action(action: &str) -> &'static str {
    if action == "read" { "search" } else { "read" }
}

/// The policy document of a grant for a route needing `action`.
fn grant_policy(action: &str, grant: Grant) -> Value {
    let fields = json!({"login_id": "plain", "name": "plain", "email": "plain",
                        "password": "plain", "payment_cards": "plain"});
    let (purpose, act) = match grant {
        Grant::None => ("unrelated", action),
        Grant::Route => (purpose_of(action), action),
        Grant::Other => (purpose_of(action), other_action(action)),
    };
    json!({"collection": "accounts", "purposes": [purpose], "actions": [act], "fields": fields,
           "quota": {"subjects": 1000, "window_secs": 3600}})
}

/// What the table says: `None` for allowed, else the deny code.
fn expected(need: Need, kind: Kind, grant: Grant) -> Option<&'static str> {
    match need {
        Need::Public => None,
        Need::OperatorOnly => (kind != Kind::Operator).then_some("operator_only"),
        Need::Reporter => {
            (!matches!(kind, Kind::Operator | Kind::Processor)).then_some("report_denied")
        }
        Need::Redeem if kind == Kind::SelfService => match grant {
            // The table grants `authenticate` (or `read`), never `export`.
            Grant::None => Some("purpose_denied"),
            Grant::Other | Grant::Route => Some("action_denied"),
        },
        Need::Redeem => expected(policy("authenticate", false), kind, grant),
        Need::Policy { action, targeted } => {
            if kind == Kind::SelfService && !targeted {
                return Some("not_own_subject");
            }
            if action == "detokenize" && matches!(kind, Kind::Operator | Kind::SelfService) {
                return Some("detokenize_denied");
            }
            if kind == Kind::Operator {
                return None;
            }
            match grant {
                Grant::None => Some("purpose_denied"),
                Grant::Other => Some("action_denied"),
                Grant::Route => None,
            }
        }
    }
}

fn audit_size(s: &Server) -> i64 {
    let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
    c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .unwrap()
}

struct Fixture {
    subject: String,
    token: String,
    victim: String,
    victim_prefix: String,
}

/// A fresh subject (with a card) and a fresh victim principal for one case.
fn fixture(s: &Server, n: usize) -> Fixture {
    let subject = s.create(&json!({"country": "JP", "locale": "ja", "fields": {
        "login_id": format!("case{n}"), "name": "Case", "email": format!("case{n}@example.jp")}}));
    let r = s.post(
        "/v1/cards",
        &json!({"subject_id": subject, "pan": "4111111111111111", "exp_month": 12, "exp_year": 2031}),
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let r = s.post(
        "/v1/principals",
        &json!({"org": "tenant", "name": format!("victim-{n}"), "kind": "service",
                "policies": [grant_policy("read", Grant::Route)]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let victim = r.body["id"].as_str().unwrap().to_owned();
    let prefix = r.body["api_key"].as_str().unwrap()[..13].to_owned();
    Fixture {
        subject,
        token,
        victim,
        victim_prefix: prefix,
    }
}

/// The request of `route` for fixture `f`: (path, body).
fn request(route: &Route, f: &Fixture, n: usize) -> (String, Option<String>) {
    let path = route
        .template
        .replace("{c}", "accounts")
        .replace("{token}", &f.token)
        .replace("{index}", "0")
        .replace("{prefix}", &f.victim_prefix)
        .replace("{obligation}", "jp-appi-final");
    let path = if route.template.starts_with("/v1/orgs/") {
        path.replace("{id}", "tenant")
    } else if route.template.starts_with("/v1/principals/") {
        path.replace("{id}", &f.victim)
    } else {
        path.replace("{id}", &f.subject)
    };
    let path = match route.template {
        "/v1/orgs/{id}/report" => format!("{path}?from=0&to=4000000000"),
        "/v1/audit/proof/inclusion" => format!("{path}?index=0&size=1"),
        "/v1/audit/proof/consistency" => format!("{path}?from=1&to=2"),
        _ => path,
    };
    let body = match (route.method, route.template) {
        ("POST", "/v1/collections/{c}/subjects") => Some(json!({"country": "JP", "locale": "ja",
            "fields": {"login_id": format!("new{n}"), "name": "New", "email": format!("new{n}@example.jp")}})),
        ("PATCH", _) => Some(json!({"fields": {"name": "Changed"}})),
        ("POST", "/v1/collections/{c}/search") => {
            Some(json!({"field": "email", "value": format!("case{n}@example.jp")}))
        }
        ("PUT", "/v1/collections/{c}/subjects/{id}/password") => {
            Some(json!({"password": "a decision table checks this long password"}))
        }
        ("POST", "/v1/collections/{c}/login") => {
            Some(json!({"login_id": format!("case{n}"), "password": "not the password at all"}))
        }
        ("POST", "/v1/collections/{c}/recovery") => Some(json!({"login_id": format!("case{n}")})),
        ("POST", "/v1/collections/{c}/recovery/complete") => Some(json!({
            "token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "new_password": "a decision table checks this long password"})),
        ("POST", "/v1/collections/{c}/force-reset") => Some(json!({"subjects": [f.subject]})),
        ("POST", "/v1/collections/{c}/import") => {
            return (
                path,
                Some(format!(
                    "{}\n",
                    json!({"country": "JP", "locale": "ja", "fields": {
                        "login_id": format!("imp{n}"), "name": "Imp", "email": format!("imp{n}@example.jp")}})
                )),
            );
        }
        ("POST", "/v1/cards") => Some(json!({"subject_id": f.subject, "pan": "5555555555554444",
            "exp_month": 11, "exp_year": 2031})),
        ("POST", "/v1/cards/{token}/detokenize") => Some(json!({})),
        ("POST", "/v1/collections/{c}/rights") => {
            Some(json!({"kind": "access", "subject": f.subject}))
        }
        ("POST", "/v1/collections/{c}/rights/verify" | "/v1/collections/{c}/reconfirm") => {
            Some(json!({"token": format!("kura_rv_{}", "A".repeat(43))}))
        }
        ("POST", "/v1/rights/{id}/extend" | "/v1/rights/{id}/deny") => {
            Some(json!({"reason": "a decision table checks this"}))
        }
        ("POST", "/v1/incident-reports") => {
            Some(json!({"title": format!("report {n}"), "description": "a laptop was stolen"}))
        }
        ("POST", "/v1/orgs") => Some(json!({"id": format!("org-{n}"), "name": "Org",
            "security_officer": {"name": "Officer", "contact": "officer@example.jp"}})),
        ("POST", "/v1/principals") => Some(json!({"org": "tenant", "name": format!("made-{n}"),
            "kind": "service", "policies": [grant_policy("read", Grant::Route)]})),
        ("PUT", "/v1/principals/{id}/policies") => {
            Some(json!({"policies": [grant_policy("search", Grant::Route)]}))
        }
        ("POST", _) => Some(json!({})),
        _ => None,
    };
    (path, body.map(|b| b.to_string()))
}

/// A caller of `kind` with `grant` for a route needing `action` (self-service bound to the
/// fixture's subject); returns its key.
fn caller(s: &Server, kind: Kind, grant: Grant, action: &str, f: &Fixture, n: usize) -> String {
    let (org, kind_name) = match kind {
        Kind::Operator => ("tenant", "operator"),
        Kind::Service => ("tenant", "service"),
        Kind::Processor => ("vendor", "processor"),
        Kind::SelfService => ("tenant", "self"),
    };
    let mut body = json!({"org": org, "name": format!("caller-{n}"), "kind": kind_name});
    if kind != Kind::Operator {
        body["policies"] = json!([grant_policy(action, grant)]);
    }
    if kind == Kind::SelfService {
        body["subject"] = json!(f.subject);
    }
    let r = s.post("/v1/principals", &body);
    assert_eq!(r.status, 201, "{kind:?}: {}", r.text);
    r.body["api_key"].as_str().unwrap().to_owned()
}

#[test]
fn every_route_every_kind_every_grant_matches_the_table_and_every_refusal_is_logged() {
    let s = util::start();
    // Every route the OpenAPI document lists is in the table, and nothing else.
    let doc: Value = serde_json::from_str(&s.get("/v1/openapi.json").text).unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), p.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    // (The document does not describe itself.)
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|r| r.template != "/v1/openapi.json")
        .map(|r| (r.method.to_owned(), r.template.to_owned()))
        .collect();
    assert_eq!(
        documented, table,
        "the decision table and the OpenAPI document differ"
    );

    for (id, role, sup) in [
        ("tenant", "holder", None),
        ("vendor", "processor", Some("tenant")),
    ] {
        let r = s.post(
            "/v1/orgs",
            &json!({"id": id, "name": id, "role": role, "supervisor": sup,
                    "security_officer": {"name": "Officer", "contact": "officer@example.jp"}}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }

    let mut n = 0;
    let mut checked = 0;
    let mut refusals = 0;
    for route in ROUTES {
        for kind in [
            Kind::Operator,
            Kind::Service,
            Kind::Processor,
            Kind::SelfService,
        ] {
            for grant in [Grant::None, Grant::Route, Grant::Other] {
                if (kind == Kind::Operator || route.need == Need::Public) && grant != Grant::Route {
                    continue; // an operator holds no policy; public routes decide nothing
                }
                n += 1;
                let f = fixture(&s, n);
                let action = match route.need {
                    Need::Policy { action, .. } => action,
                    Need::Redeem => "authenticate",
                    _ => "read",
                };
                let key = caller(&s, kind, grant, action, &f, n);
                let (path, body) = request(route, &f, n);
                let before = audit_size(&s);
                let auth = format!("Bearer {key}");
                let r: Resp = s.req(
                    route.method,
                    &path,
                    body.as_deref(),
                    &[
                        ("Authorization", &auth),
                        ("X-Kura-Purpose", purpose_of(action)),
                    ],
                );
                let want = expected(route.need, kind, grant);
                let case = format!(
                    "{} {} as {kind:?} with grant {grant:?}",
                    route.method, route.template
                );
                match want {
                    Some(code) => {
                        assert_eq!((r.status, r.code()), (403, code), "{case}: {}", r.text);
                        // The refusal is exactly one new access event, `denied:<code>`.
                        let after = audit_size(&s);
                        assert_eq!(after, before + 1, "{case}: refusal not logged once");
                        let ev = s.get(&format!("/v1/audit/entries/{before}"));
                        assert_eq!(ev.status, 200, "{}", ev.text);
                        assert_eq!(
                            ev.body["event"]["outcome"],
                            format!("denied:{code}"),
                            "{case}: {}",
                            ev.text
                        );
                        refusals += 1;
                    }
                    None => {
                        assert!(
                            r.status != 403 && r.code() != "unauthorized",
                            "{case}: refused but the table allows it: {} {}",
                            r.status,
                            r.text
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    // Public routes once, operator once per route, three grants for three kinds elsewhere.
    assert!(checked > 250, "{checked} cases");
    assert!(refusals > 150, "{refusals} refusals");
}

/// A key without a card grant gets the same refusal for a live token and a dead one: the
/// permission is decided before the token is looked up.
#[test]
fn a_caller_without_the_grant_cannot_tell_a_live_card_token_from_a_dead_one() {
    let s = util::start();
    let r = s.post(
        "/v1/orgs",
        &json!({"id": "tenant", "name": "tenant", "role": "holder",
                "security_officer": {"name": "Officer", "contact": "officer@example.jp"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let f = fixture(&s, 1);
    let live = f.token.clone();
    let last = live.chars().last().unwrap();
    let dead = format!(
        "{}{}",
        &live[..live.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    for (grant, want) in [
        (Grant::None, "purpose_denied"),
        (Grant::Other, "action_denied"),
    ] {
        let key = caller(&s, Kind::Service, grant, "read", &f, 10 + grant as usize);
        let auth = format!("Bearer {key}");
        let mut answers = Vec::new();
        for token in [&live, &dead] {
            for (method, path) in [
                ("GET", format!("/v1/cards/{token}")),
                ("DELETE", format!("/v1/cards/{token}")),
            ] {
                let r = s.req(
                    method,
                    &path,
                    None,
                    &[("Authorization", &auth), ("X-Kura-Purpose", "support")],
                );
                answers.push((r.status, r.code().to_owned()));
            }
        }
        assert!(
            answers.iter().all(|a| a.0 == 403),
            "{grant:?}: every answer a refusal: {answers:?}"
        );
        assert_eq!(
            answers[0], answers[2],
            "{grant:?}: live and dead tokens alike"
        );
        assert_eq!(answers[0].1, want);
    }
}
