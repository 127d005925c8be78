//! Property test of the decision function over random policies and requests: no allowed
//! mode is ever above what a matching policy grants for the field, no denied field is ever
//! returned, and no action, purpose or collection outside the policies is ever allowed.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use kura_model::Schema;
use kura_policy::{
    Action, Decision, DenyCode, Mode, Policy, PolicySpec, Principal, PrincipalKind, Request, decide,
};
use proptest::prelude::*;

const PURPOSES: [&str; 5] = ["support", "billing", "login", "fraud", "charge"];
const COLLECTIONS: [&str; 2] = ["accounts", "other"];

fn field_names() -> Vec<String> {
    Schema::builtin()
        .collection("accounts")
        .unwrap()
        .fields
        .iter()
        .map(|f| f.name.clone())
        .collect()
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Denied),
        Just(Mode::Token),
        Just(Mode::Masked),
        Just(Mode::Plain)
    ]
}

/// The actions a policy may list (operators alone administer and read the log).
const GRANTABLE: [Action; 9] = [
    Action::Read,
    Action::Write,
    Action::Search,
    Action::Import,
    Action::Delete,
    Action::Export,
    Action::Detokenize,
    Action::Authenticate,
    Action::SetCredential,
];

fn action() -> impl Strategy<Value = Action> {
    (0..Action::ALL.len()).prop_map(|i| Action::ALL[i])
}

fn spec() -> impl Strategy<Value = PolicySpec> {
    let n = field_names().len();
    (
        proptest::sample::subsequence(PURPOSES.to_vec(), 1..=PURPOSES.len()),
        proptest::sample::subsequence(GRANTABLE.to_vec(), 1..=GRANTABLE.len()),
        proptest::collection::vec(proptest::option::of(mode()), n),
    )
        .prop_map(|(purposes, actions, modes)| {
            let names = field_names();
            let fields: BTreeMap<String, Mode> = names
                .into_iter()
                .zip(modes)
                .filter_map(|(f, m)| m.map(|m| (f, m)))
                .collect();
            PolicySpec {
                collection: "accounts".into(),
                purposes: purposes.into_iter().map(String::from).collect(),
                actions,
                fields,
                quota: None,
            }
        })
}

#[derive(Debug, Clone)]
struct Req {
    kind: PrincipalKind,
    suspended: bool,
    action: Action,
    purpose: &'static str,
    collection: &'static str,
    fields: Option<Vec<String>>,
    target: Option<u128>,
}

fn request() -> impl Strategy<Value = Req> {
    let mut names = field_names();
    names.push("no_such_field".into());
    let kind = prop_oneof![
        4 => Just(PrincipalKind::Service),
        4 => Just(PrincipalKind::Processor),
        1 => Just(PrincipalKind::Operator),
        2 => (0u128..3).prop_map(|subject| PrincipalKind::SelfService { subject }),
    ];
    (
        kind,
        proptest::bool::weighted(0.1),
        action(),
        proptest::sample::select(PURPOSES.to_vec()),
        prop_oneof![9 => Just(COLLECTIONS[0]), 1 => Just(COLLECTIONS[1])],
        proptest::option::weighted(
            0.7,
            proptest::collection::vec(proptest::sample::select(names), 0..5),
        ),
        proptest::option::of(0u128..3),
    )
        .prop_map(
            |(kind, suspended, action, purpose, collection, fields, target)| Req {
                kind,
                suspended,
                action,
                purpose,
                collection,
                fields,
                target,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn never_more_than_granted(
        specs in proptest::collection::vec(spec(), 0..3),
        r in request(),
    ) {
        let schema = Schema::builtin();
        let accounts = schema.collection("accounts").unwrap();
        let policies: Vec<Policy> =
            specs.into_iter().map(|s| s.check(&schema).unwrap()).collect();
        let principal = Principal { id: "p", kind: r.kind, suspended: r.suspended };
        let request = Request {
            action: r.action,
            purpose: r.purpose,
            collection: r.collection,
            fields: r.fields.as_deref(),
            target: r.target,
        };
        let d = decide(&policies, &principal, &request, Some(accounts));

        // Policies that match the request's collection, purpose and action.
        let matching: Vec<&Policy> = policies
            .iter()
            .filter(|p| {
                p.collection() == r.collection
                    && p.allows_purpose(r.purpose)
                    && p.allows_action(r.action)
            })
            .collect();
        let granted = |f: &str| matching.iter().map(|p| p.mode(f)).max().unwrap_or(Mode::Denied);

        match d {
            Decision::Allow { fields } if r.action.is_operator_only() => {
                prop_assert!(!r.suspended);
                prop_assert_eq!(r.kind, PrincipalKind::Operator);
                prop_assert!(fields.is_empty());
            }
            Decision::Allow { fields } if r.action == Action::ReportIncident => {
                prop_assert!(!r.suspended);
                prop_assert!(matches!(r.kind, PrincipalKind::Processor | PrincipalKind::Operator));
                prop_assert!(fields.is_empty());
            }
            Decision::Allow { fields } => {
                prop_assert!(!r.suspended);
                prop_assert_eq!(r.collection, "accounts");
                if r.action == Action::Detokenize {
                    prop_assert!(matches!(r.kind, PrincipalKind::Service | PrincipalKind::Processor));
                    prop_assert_eq!(r.purpose, "charge");
                }
                if let PrincipalKind::SelfService { subject } = r.kind {
                    prop_assert_eq!(r.target, Some(subject));
                }
                if r.kind == PrincipalKind::Operator {
                    for (f, m) in &fields {
                        prop_assert!(accounts.field(f).is_some());
                        prop_assert_eq!(*m, Mode::Plain);
                    }
                } else {
                    // No action, purpose or collection outside the policies.
                    prop_assert!(!matching.is_empty());
                    for (f, m) in &fields {
                        prop_assert!(*m != Mode::Denied, "denied field {} returned", f);
                        prop_assert!(*m <= granted(f), "{} as {:?} above {:?}", f, m, granted(f));
                        prop_assert_eq!(*m, granted(f));
                    }
                    match &r.fields {
                        // Every named field was granted, and only named fields come back.
                        Some(named) => {
                            for n in named {
                                prop_assert!(granted(n) != Mode::Denied);
                                prop_assert!(fields.iter().any(|(f, _)| f == n));
                            }
                            prop_assert!(fields.iter().all(|(f, _)| named.contains(f)));
                        }
                        // Unqualified: exactly the granted fields.
                        None => {
                            let want: Vec<&str> = accounts
                                .fields
                                .iter()
                                .map(|f| f.name.as_str())
                                .filter(|f| granted(f) != Mode::Denied)
                                .collect();
                            let got: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
                            prop_assert_eq!(got, want);
                        }
                    }
                }
            }
            Decision::Deny { code } => {
                // A refusal always has a reason that holds.
                let holds = match code {
                    DenyCode::PrincipalSuspended => r.suspended,
                    DenyCode::NotOwnSubject => matches!(
                        r.kind,
                        PrincipalKind::SelfService { subject } if r.target != Some(subject)
                    ),
                    DenyCode::CollectionDenied => {
                        r.collection != "accounts"
                            || !policies.iter().any(|p| p.collection() == r.collection)
                    }
                    DenyCode::PurposeDenied => !policies.iter().any(|p| p.allows_purpose(r.purpose)),
                    DenyCode::ActionDenied => !policies
                        .iter()
                        .any(|p| p.allows_purpose(r.purpose) && p.allows_action(r.action)),
                    DenyCode::OperatorOnly => {
                        r.action.is_operator_only() && r.kind != PrincipalKind::Operator
                    }
                    DenyCode::ReportDenied => {
                        r.action == Action::ReportIncident
                            && !matches!(r.kind, PrincipalKind::Processor | PrincipalKind::Operator)
                    }
                    DenyCode::DetokenizeDenied => {
                        r.action == Action::Detokenize
                            && (!matches!(r.kind, PrincipalKind::Service | PrincipalKind::Processor)
                                || r.purpose != "charge")
                    }
                    DenyCode::FieldDenied => (r.kind != PrincipalKind::Operator
                        && matches!(
                            r.action,
                            Action::Search
                                | Action::Write
                                | Action::Authenticate
                                | Action::SetCredential
                                | Action::Detokenize
                        )
                        && r.fields.as_ref().is_none_or(Vec::is_empty))
                        || r.fields.as_ref().is_some_and(|n| n.iter().any(|f| {
                            if r.kind == PrincipalKind::Operator {
                                accounts.field(f).is_none()
                            } else {
                                granted(f) == Mode::Denied
                            }
                        })),
                    _ => false,
                };
                prop_assert!(holds, "refused with {:?} without cause", code);
            }
        }
    }
}
