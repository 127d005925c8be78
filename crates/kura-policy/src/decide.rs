//! The decision function: may this principal do this action, for this purpose, on these
//! fields of this collection, and in which mode is each field returned?
//!
//! [`decide`] is pure: it reads the principal's policies and the request, nothing else.
//! Containment (quotas and canaries, [`crate::Containment`]) is a separate step, run after
//! the subjects of a request are known and before any data is returned.
//!
//! # Rules, in the order they are applied
//! This is the one place where kura decides who may do what: every HTTP route and every
//! command that touches a subject, a card, a credential, the log or the directory asks it.
//! 1. A suspended principal is refused with `principal_suspended`, whatever it asks.
//! 2. Administering kura and reading the log itself ([`Action::Administer`],
//!    [`Action::ReadLog`]) are for operators only (`operator_only`); no policy grants them.
//!    Reporting an incident to the supervising holder ([`Action::ReportIncident`]) is for
//!    processors and operators only (`report_denied`), by kind, never by policy.
//! 3. A self-service principal may only name its own subject: a request without a target
//!    subject (search, import, login) or with another subject's id is refused with
//!    `not_own_subject`.
//! 4. The request must name a collection the schema defines (`collection_denied`).
//! 5. Detokenizing a card is for a service or processor stating the `charge` purpose
//!    ([`CHARGE_PURPOSE`]) only; anyone else, operators included, gets `detokenize_denied`.
//!    The principal's policies must still grant `detokenize` on the card field (rule 7).
//! 6. An operator is allowed any other action on any field of the collection, in plain, for
//!    any stated purpose (the purpose is still required and recorded). Named fields that
//!    the collection does not define are refused with `field_denied`.
//! 7. Otherwise the principal's policies are narrowed step by step, and the first step that
//!    leaves none decides the code: policies for the collection (`collection_denied`), of
//!    those the ones listing the purpose (`purpose_denied`), of those the ones listing the
//!    action (`action_denied`). Several policies left (a principal may hold more than one)
//!    combine: a field's mode is the most revealing mode any of them grants.
//! 8. Fields: when the request names fields, every named field must have a mode other than
//!    `denied`, or the whole request is refused with `field_denied` (asking for a denied
//!    field is a sign of a caller expecting more than it was granted, so it is not
//!    silently dropped). When the request names none (an unqualified read), the answer
//!    holds exactly the fields whose mode is not `denied`, in the collection's order.
//!    A search must name the field it searches by, a write the fields it changes, and the
//!    credential and card actions the field they act on (one naming none is refused with
//!    `field_denied`). A write may change any field whose mode is not `denied`; a search
//!    may search by any such field (a denied one would let a service test whether a value
//!    it may not see exists).
//!
//! The modes returned are those granted: the decision never upgrades a mode, never returns a
//! `denied` field, and never allows an action, purpose or collection absent from every
//! policy. The property test in `tests/policy_props.rs` checks these on random policies.

use kura_model::Collection;
use serde::Serialize;

use crate::{Action, DenyCode, Mode, Policy};

/// The one purpose under which a card number is ever returned (rule 5).
pub const CHARGE_PURPOSE: &str = "charge";

/// Who is calling, as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PrincipalKind {
    /// A data holder's own service.
    Service,
    /// A processor's (subcontractor's) service. Decided like a service; the difference is
    /// supervision (reports to the data holder), not what a policy allows.
    Processor,
    /// A kura operator: every field, any stated purpose.
    Operator,
    /// The person the data is about, limited to their own record.
    #[serde(rename = "self")]
    SelfService {
        /// The subject's public id as a 128-bit number (`Uuid::as_u128`).
        subject: u128,
    },
}

impl PrincipalKind {
    /// The stable name (`service`, `processor`, `operator`, `self`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Service => "service",
            PrincipalKind::Processor => "processor",
            PrincipalKind::Operator => "operator",
            PrincipalKind::SelfService { .. } => "self",
        }
    }
}

/// The calling principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal<'a> {
    /// Principal id.
    pub id: &'a str,
    /// Kind.
    pub kind: PrincipalKind,
    /// Whether the principal is suspended (by containment or by an operator). The server
    /// sets this from the stored record or from [`crate::Containment::is_suspended`].
    pub suspended: bool,
}

/// One request, as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// What is done.
    pub action: Action,
    /// The stated purpose (already syntax-checked by the server).
    pub purpose: &'a str,
    /// Collection name (empty for [`Action::Administer`] and [`Action::ReadLog`], which are
    /// about no collection).
    pub collection: &'a str,
    /// The fields named by the request; `None` for an unqualified read or export (all
    /// permitted fields). For a search, the field searched by; for a write, the fields
    /// changed (both required).
    pub fields: Option<&'a [String]>,
    /// The subject the request is about, as a 128-bit public id, when it is about one
    /// (read, write, delete, export of one subject); `None` for search and import.
    pub target: Option<u128>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    /// Go ahead: open these fields and present each in its mode. Never holds a
    /// [`Mode::Denied`] field.
    Allow {
        /// Fields to open, each with the mode to apply.
        fields: Vec<(String, Mode)>,
    },
    /// Refuse with this code (HTTP 403).
    Deny {
        /// The stable code.
        code: DenyCode,
    },
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    fn deny(code: DenyCode) -> Self {
        Decision::Deny { code }
    }
}

/// Decides a request about a subject whose processing is restricted (GDPR Art. 18), after
/// [`decide`] allowed it and the subject was loaded: the subject itself (a self-service
/// principal bound to it) may do anything its grant allows; anyone else may only erase it
/// ([`Action::Delete`]) or let it log in ([`Action::Authenticate`], the subject's own act).
/// Every other action — reads, writes, exports, credential changes, detokenization — is
/// refused with [`DenyCode::ProcessingRestricted`].
///
/// # Errors
/// [`DenyCode::ProcessingRestricted`].
pub fn decide_restricted(
    kind: PrincipalKind,
    action: Action,
    subject: u128,
) -> Result<(), DenyCode> {
    match (kind, action) {
        (PrincipalKind::SelfService { subject: own }, _) if own == subject => Ok(()),
        (_, Action::Delete | Action::Authenticate) => Ok(()),
        _ => Err(DenyCode::ProcessingRestricted),
    }
}

/// Decides one request. `policies` are all the policies the principal holds (for any
/// collection); `collection` is the schema of the collection the request names (`None`
/// when it names none the schema defines, and for the operator-only actions).
///
/// See the module documentation for the rules, applied in order.
pub fn decide(
    policies: &[Policy],
    principal: &Principal<'_>,
    request: &Request<'_>,
    collection: Option<&Collection>,
) -> Decision {
    if principal.suspended {
        return Decision::deny(DenyCode::PrincipalSuspended);
    }
    if request.action.is_operator_only() {
        return if principal.kind == PrincipalKind::Operator {
            Decision::Allow { fields: Vec::new() }
        } else {
            Decision::deny(DenyCode::OperatorOnly)
        };
    }
    if request.action == Action::ReportIncident {
        return if matches!(
            principal.kind,
            PrincipalKind::Processor | PrincipalKind::Operator
        ) {
            Decision::Allow { fields: Vec::new() }
        } else {
            Decision::deny(DenyCode::ReportDenied)
        };
    }
    if let PrincipalKind::SelfService { subject } = principal.kind
        && request.target != Some(subject)
    {
        return Decision::deny(DenyCode::NotOwnSubject);
    }
    let Some(collection) = collection.filter(|c| c.name == request.collection) else {
        // Unknown collection, or the caller passed the wrong schema: fail closed.
        return Decision::deny(DenyCode::CollectionDenied);
    };
    if request.action == Action::Detokenize
        && (!matches!(
            principal.kind,
            PrincipalKind::Service | PrincipalKind::Processor
        ) || request.purpose != CHARGE_PURPOSE)
    {
        return Decision::deny(DenyCode::DetokenizeDenied);
    }
    if principal.kind == PrincipalKind::Operator {
        return operator(request, collection);
    }

    // Narrow the policies. Most principals hold one or two, so a small fixed buffer would
    // do; a Vec of references keeps the code plain and costs one allocation.
    let mut matching: Vec<&Policy> = policies
        .iter()
        .filter(|p| p.collection() == request.collection)
        .collect();
    if matching.is_empty() {
        return Decision::deny(DenyCode::CollectionDenied);
    }
    matching.retain(|p| p.allows_purpose(request.purpose));
    if matching.is_empty() {
        return Decision::deny(DenyCode::PurposeDenied);
    }
    matching.retain(|p| p.allows_action(request.action));
    if matching.is_empty() {
        return Decision::deny(DenyCode::ActionDenied);
    }
    if matches!(
        request.action,
        Action::Search
            | Action::Write
            | Action::Authenticate
            | Action::SetCredential
            | Action::Detokenize
    ) && request.fields.is_none_or(<[String]>::is_empty)
    {
        // A search must name the field it searches by and a write the fields it changes,
        // so that rule 5 can check them.
        return Decision::deny(DenyCode::FieldDenied);
    }
    let mode_of = |field: &str| {
        matching
            .iter()
            .map(|p| p.mode(field))
            .max()
            .unwrap_or(Mode::Denied)
    };

    match request.fields {
        Some(names) => {
            let mut out: Vec<(String, Mode)> = Vec::with_capacity(names.len());
            for name in names {
                let mode = mode_of(name);
                if mode == Mode::Denied {
                    return Decision::deny(DenyCode::FieldDenied);
                }
                if !out.iter().any(|(n, _)| n == name) {
                    out.push((name.clone(), mode));
                }
            }
            Decision::Allow { fields: out }
        }
        None => {
            let fields = if let [only] = matching.as_slice() {
                only.fields()
                    .iter()
                    .filter(|(_, m)| *m != Mode::Denied)
                    .cloned()
                    .collect()
            } else {
                collection
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), mode_of(&f.name)))
                    .filter(|(_, m)| *m != Mode::Denied)
                    .collect()
            };
            Decision::Allow { fields }
        }
    }
}

fn operator(request: &Request<'_>, collection: &Collection) -> Decision {
    match request.fields {
        Some(names) => {
            let mut out: Vec<(String, Mode)> = Vec::with_capacity(names.len());
            for name in names {
                if collection.field(name).is_none() {
                    return Decision::deny(DenyCode::FieldDenied);
                }
                if !out.iter().any(|(n, _)| n == name) {
                    out.push((name.clone(), Mode::Plain));
                }
            }
            Decision::Allow { fields: out }
        }
        None => Decision::Allow {
            fields: collection
                .fields
                .iter()
                .map(|f| (f.name.clone(), Mode::Plain))
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_model::Schema;

    const SUPPORT: &str = r#"{"collection":"accounts","purposes":["support"],"actions":["read","search"],"fields":{"name":"plain","email":"masked","phone":"masked","birth_date":"denied"},"quota":{"subjects":100,"window_secs":3600}}"#;
    const BILLING: &str = r#"{"collection":"accounts","purposes":["billing","support"],"actions":["read"],"fields":{"email":"plain","postal_address":"token"}}"#;
    const SELF: &str = r#"{"collection":"accounts","purposes":["self_service"],"actions":["read","write","export","delete"],"fields":{"name":"plain","email":"plain","login_id":"plain"}}"#;

    fn setup() -> (Schema, Vec<Policy>) {
        let s = Schema::builtin();
        let p = vec![Policy::from_json(SUPPORT, &s).unwrap()];
        (s, p)
    }

    fn svc(id: &str) -> Principal<'_> {
        Principal {
            id,
            kind: PrincipalKind::Service,
            suspended: false,
        }
    }

    fn req<'a>(action: Action, purpose: &'a str, fields: Option<&'a [String]>) -> Request<'a> {
        Request {
            action,
            purpose,
            collection: "accounts",
            fields,
            target: Some(7),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn code(d: Decision) -> DenyCode {
        match d {
            Decision::Deny { code } => code,
            Decision::Allow { fields } => panic!("allowed {fields:?}"),
        }
    }

    #[test]
    fn unqualified_read_returns_only_permitted_fields_in_order() {
        let (s, p) = setup();
        let c = s.collection("accounts").unwrap();
        let d = decide(&p, &svc("a"), &req(Action::Read, "support", None), Some(c));
        assert_eq!(
            d,
            Decision::Allow {
                fields: vec![
                    ("name".into(), Mode::Plain),
                    ("email".into(), Mode::Masked),
                    ("phone".into(), Mode::Masked),
                ]
            }
        );
    }

    #[test]
    fn named_fields_keep_request_order_and_refuse_denied_ones() {
        let (s, p) = setup();
        let c = s.collection("accounts").unwrap();
        let f = names(&["phone", "name", "phone"]);
        let d = decide(
            &p,
            &svc("a"),
            &req(Action::Read, "support", Some(&f)),
            Some(c),
        );
        assert_eq!(
            d,
            Decision::Allow {
                fields: vec![("phone".into(), Mode::Masked), ("name".into(), Mode::Plain)]
            }
        );
        for denied in ["birth_date", "login_id", "no_such_field"] {
            let f = names(&["name", denied]);
            let d = decide(
                &p,
                &svc("a"),
                &req(Action::Read, "support", Some(&f)),
                Some(c),
            );
            assert_eq!(code(d), DenyCode::FieldDenied, "{denied}");
        }
    }

    #[test]
    fn codes_for_collection_purpose_action() {
        let (s, p) = setup();
        let c = s.collection("accounts").unwrap();
        assert_eq!(
            code(decide(
                &p,
                &svc("a"),
                &req(Action::Read, "marketing", None),
                Some(c)
            )),
            DenyCode::PurposeDenied
        );
        assert_eq!(
            code(decide(
                &p,
                &svc("a"),
                &req(Action::Export, "support", None),
                Some(c)
            )),
            DenyCode::ActionDenied
        );
        assert_eq!(
            code(decide(
                &[],
                &svc("a"),
                &req(Action::Read, "support", None),
                Some(c)
            )),
            DenyCode::CollectionDenied
        );
        let mut r = req(Action::Read, "support", None);
        r.collection = "other";
        assert_eq!(
            code(decide(&p, &svc("a"), &r, Some(c))),
            DenyCode::CollectionDenied
        );
    }

    #[test]
    fn search_and_write_name_their_fields_which_must_not_be_denied() {
        let (s, p) = setup();
        let c = s.collection("accounts").unwrap();
        let mut r = req(Action::Search, "support", None);
        r.target = None;
        let by_email = names(&["email"]);
        r.fields = Some(&by_email);
        assert!(decide(&p, &svc("a"), &r, Some(c)).is_allowed());
        r.fields = None;
        assert_eq!(
            code(decide(&p, &svc("a"), &r, Some(c))),
            DenyCode::FieldDenied
        );
        let s2 = Schema::builtin();
        let writer = vec![
            Policy::from_json(
                r#"{"collection":"accounts","purposes":["support"],"actions":["write"],"fields":{"postal_address":"masked"}}"#,
                &s2,
            )
            .unwrap(),
        ];
        let w = req(Action::Write, "support", None);
        assert_eq!(
            code(decide(&writer, &svc("a"), &w, Some(c))),
            DenyCode::FieldDenied
        );
        let addr = names(&["postal_address"]);
        let w = req(Action::Write, "support", Some(&addr));
        assert!(decide(&writer, &svc("a"), &w, Some(c)).is_allowed());
        let by_login = names(&["login_id"]);
        r.fields = Some(&by_login);
        assert_eq!(
            code(decide(&p, &svc("a"), &r, Some(c))),
            DenyCode::FieldDenied
        );
    }

    #[test]
    fn suspended_principals_are_refused_first() {
        let (s, p) = setup();
        let c = s.collection("accounts").unwrap();
        for kind in [
            PrincipalKind::Service,
            PrincipalKind::Operator,
            PrincipalKind::SelfService { subject: 7 },
        ] {
            let pr = Principal {
                id: "a",
                kind,
                suspended: true,
            };
            assert_eq!(
                code(decide(
                    &p,
                    &pr,
                    &req(Action::Read, "support", None),
                    Some(c)
                )),
                DenyCode::PrincipalSuspended
            );
        }
    }

    #[test]
    fn operators_get_everything_plain_for_any_purpose() {
        let (s, _) = setup();
        let c = s.collection("accounts").unwrap();
        let op = Principal {
            id: "root",
            kind: PrincipalKind::Operator,
            suspended: false,
        };
        let d = decide(
            &[],
            &op,
            &req(Action::Export, "breach-scoping", None),
            Some(c),
        );
        let Decision::Allow { fields } = d else {
            panic!("operator refused")
        };
        assert_eq!(fields.len(), c.fields.len());
        assert!(fields.iter().all(|(_, m)| *m == Mode::Plain));
        let f = names(&["nope"]);
        assert_eq!(
            code(decide(&[], &op, &req(Action::Read, "x", Some(&f)), Some(c))),
            DenyCode::FieldDenied
        );
    }

    #[test]
    fn self_service_only_reaches_its_own_subject() {
        let s = Schema::builtin();
        let c = s.collection("accounts").unwrap();
        let p = vec![Policy::from_json(SELF, &s).unwrap()];
        let me = Principal {
            id: "subject:7",
            kind: PrincipalKind::SelfService { subject: 7 },
            suspended: false,
        };
        assert!(decide(&p, &me, &req(Action::Read, "self_service", None), Some(c)).is_allowed());
        let mut other = req(Action::Write, "self_service", None);
        other.target = Some(8);
        assert_eq!(
            code(decide(&p, &me, &other, Some(c))),
            DenyCode::NotOwnSubject
        );
        let mut search = req(Action::Search, "self_service", None);
        search.target = None;
        assert_eq!(
            code(decide(&p, &me, &search, Some(c))),
            DenyCode::NotOwnSubject
        );
        // Own subject, but the policy still applies.
        assert_eq!(
            code(decide(
                &p,
                &me,
                &req(Action::Import, "self_service", None),
                Some(c)
            )),
            DenyCode::ActionDenied
        );
    }

    #[test]
    fn wire_forms() {
        let k = PrincipalKind::SelfService { subject: u128::MAX };
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            format!(r#"{{"kind":"self","subject":{}}}"#, u128::MAX)
        );
        assert_eq!(k.as_str(), "self");
        assert_eq!(
            serde_json::to_string(&PrincipalKind::Processor).unwrap(),
            r#"{"kind":"processor"}"#
        );
        let d = Decision::Allow {
            fields: vec![("email".into(), Mode::Masked)],
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"decision":"allow","fields":[["email","masked"]]}"#
        );
        let d = Decision::Deny {
            code: DenyCode::FieldDenied,
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"decision":"deny","code":"field_denied"}"#
        );
    }

    #[test]
    fn several_policies_combine_by_the_most_revealing_mode() {
        let s = Schema::builtin();
        let c = s.collection("accounts").unwrap();
        let p = vec![
            Policy::from_json(SUPPORT, &s).unwrap(),
            Policy::from_json(BILLING, &s).unwrap(),
        ];
        // Both list `support` and `read`: email is masked in one, plain in the other.
        let d = decide(&p, &svc("a"), &req(Action::Read, "support", None), Some(c));
        assert_eq!(
            d,
            Decision::Allow {
                fields: vec![
                    ("name".into(), Mode::Plain),
                    ("email".into(), Mode::Plain),
                    ("phone".into(), Mode::Masked),
                    ("postal_address".into(), Mode::Token),
                ]
            }
        );
        // Only the support policy allows search: email is searchable but only as granted
        // there, and postal_address (granted by billing, which has no search) is refused.
        let mut r = req(Action::Search, "support", None);
        let f = names(&["postal_address"]);
        r.fields = Some(&f);
        assert_eq!(
            code(decide(&p, &svc("a"), &r, Some(c))),
            DenyCode::FieldDenied
        );
        // Billing purpose: only the billing policy.
        let d = decide(&p, &svc("a"), &req(Action::Read, "billing", None), Some(c));
        assert_eq!(
            d,
            Decision::Allow {
                fields: vec![
                    ("email".into(), Mode::Plain),
                    ("postal_address".into(), Mode::Token),
                ]
            }
        );
    }

    #[test]
    fn restricted_subjects_serve_only_themselves_and_erasure() {
        let me = 42u128;
        let own = PrincipalKind::SelfService { subject: me };
        for a in [Action::Read, Action::Write, Action::Export, Action::Delete] {
            assert_eq!(decide_restricted(own, a, me), Ok(()));
        }
        for kind in [
            PrincipalKind::Service,
            PrincipalKind::Processor,
            PrincipalKind::Operator,
            PrincipalKind::SelfService { subject: 7 },
        ] {
            for a in [
                Action::Read,
                Action::Write,
                Action::Export,
                Action::SetCredential,
                Action::Detokenize,
            ] {
                assert_eq!(
                    decide_restricted(kind, a, me),
                    Err(DenyCode::ProcessingRestricted),
                    "{kind:?} {a:?}"
                );
            }
            assert_eq!(decide_restricted(kind, Action::Delete, me), Ok(()));
            assert_eq!(decide_restricted(kind, Action::Authenticate, me), Ok(()));
        }
    }
}
