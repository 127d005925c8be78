//! Containment scenarios from issue 5: a stolen processor key in a tight read loop (and a
//! search loop) against 10,000 subjects obtains exactly the quota's number of distinct
//! subjects, ends suspended, and the draft incident lists exactly those; a single canary
//! read suspends; self-service principals reach only their own subject.
#![allow(clippy::unwrap_used)]

use kura_model::Schema;
use kura_policy::{
    Action, Containment, Decision, DenyCode, Policy, Principal, PrincipalKind, Quota, Request,
    Touch, Trigger, decide,
};

const PROCESSOR: &str = r#"{"collection":"accounts","purposes":["support"],"actions":["read","search"],"fields":{"name":"plain","email":"masked","phone":"masked","birth_date":"denied"},"quota":{"subjects":100,"window_secs":3600}}"#;

/// The server's read path, reduced to the two checks: policy, then containment before any
/// data is returned. Returns the subjects obtained.
fn read_loop(search: bool) -> (Vec<u64>, Vec<Touch>) {
    let schema = Schema::builtin();
    let accounts = schema.collection("accounts").unwrap();
    let policies = vec![Policy::from_json(PROCESSOR, &schema).unwrap()];
    let quota = policies[0].quota().unwrap();
    let containment = Containment::new();
    let by_email = vec!["email".to_owned()];
    let mut obtained = Vec::new();
    let mut refusals = Vec::new();
    let t0 = 1_700_000_000;
    for (i, iid) in (0..10_000u64).enumerate() {
        let now = t0 + (i / 1000) as i64; // a thousand requests per second
        let principal = Principal {
            id: "stolen-processor-key",
            kind: PrincipalKind::Processor,
            suspended: containment.is_suspended("stolen-processor-key"),
        };
        let request = Request {
            action: if search { Action::Search } else { Action::Read },
            purpose: "support",
            collection: "accounts",
            fields: if search { Some(&by_email) } else { None },
            target: if search { None } else { Some(u128::from(iid)) },
        };
        match decide(&policies, &principal, &request, accounts) {
            Decision::Deny { code } => {
                assert_eq!(code, DenyCode::PrincipalSuspended);
                refusals.push(Touch::Suspended);
                continue;
            }
            Decision::Allow { .. } => {}
        }
        // A search by an e-mail address hits one subject; a read names one.
        match containment.touch(principal.id, quota, &[iid], now) {
            Touch::Allowed => obtained.push(iid),
            other => refusals.push(other),
        }
    }
    assert!(containment.is_suspended("stolen-processor-key"));
    (obtained, refusals)
}

fn check_loop(search: bool) {
    let (obtained, refusals) = read_loop(search);
    assert_eq!(
        obtained.len(),
        100,
        "exactly the quota's number of distinct subjects"
    );
    assert_eq!(refusals.len(), 10_000 - 100);
    let Touch::Contained(incident) = &refusals[0] else {
        panic!("the first refusal opens the incident: {:?}", refusals[0])
    };
    assert_eq!(incident.trigger, Trigger::Quota);
    assert_eq!(incident.principal, "stolen-processor-key");
    assert_eq!(
        incident.subjects, obtained,
        "the incident lists exactly those obtained"
    );
    assert_eq!(incident.refused, [100]);
    assert!(incident.window_end - incident.window_start == 3600);
    assert!(refusals[1..].iter().all(|t| *t == Touch::Suspended));
    let json = serde_json::to_value(&**incident).unwrap();
    assert_eq!(json["trigger"], "quota");
    assert_eq!(json["subjects"].as_array().unwrap().len(), 100);
}

#[test]
fn a_stolen_processor_key_in_a_read_loop_gets_the_quota_and_is_suspended() {
    check_loop(false);
}

#[test]
fn a_stolen_processor_key_in_a_search_loop_gets_the_quota_and_is_suspended() {
    check_loop(true);
}

#[test]
fn a_bulk_request_crossing_the_quota_is_refused_whole() {
    let c = Containment::new();
    let q = Quota {
        subjects: 100,
        window_secs: 3600,
    };
    let first: Vec<u64> = (0..60).collect();
    let second: Vec<u64> = (60..120).collect();
    assert!(c.touch("p", q, &first, 0).is_allowed());
    let Touch::Contained(i) = c.touch("p", q, &second, 1) else {
        panic!()
    };
    assert_eq!(i.subjects, first);
    assert_eq!(i.refused, second);
}

#[test]
fn a_single_canary_read_suspends_and_looks_like_a_quota_hit() {
    let c = Containment::new();
    c.set_canaries([4242, 77]);
    let q = Quota {
        subjects: 100,
        window_secs: 3600,
    };
    assert!(c.touch("svc", q, &[1], 0).is_allowed());
    let t = c.touch("svc", q, &[4242], 1);
    assert_eq!(t.deny_code(), Some(DenyCode::PrincipalSuspended));
    let Touch::Contained(i) = t else { panic!() };
    assert_eq!(
        (i.trigger, i.subjects.as_slice(), i.canaries.as_slice()),
        (Trigger::Canary, &[1][..], &[4242][..])
    );
    // The quota path gives the caller the very same code.
    let d = Containment::new();
    let tiny = Quota {
        subjects: 1,
        window_secs: 60,
    };
    assert!(d.touch("svc", tiny, &[1], 0).is_allowed());
    assert_eq!(
        d.touch("svc", tiny, &[2], 0).deny_code(),
        Some(DenyCode::PrincipalSuspended)
    );
    // A search whose hits include a canary trips too.
    assert!(!c.touch("other", q, &[5, 6, 77], 2).is_allowed());
    assert!(c.is_suspended("other"));
}

#[test]
fn self_service_reads_and_changes_only_its_own_subject() {
    let schema = Schema::builtin();
    let accounts = schema.collection("accounts").unwrap();
    let policies = vec![Policy::from_json(
        r#"{"collection":"accounts","purposes":["self_service"],"actions":["read","write","export","delete"],"fields":{"name":"plain","email":"plain","postal_address":"plain"}}"#,
        &schema,
    )
    .unwrap()];
    let me = 0x0190_0000_0000_7000_8000_0000_0000_0001u128;
    let principal = Principal {
        id: "self:0190",
        kind: PrincipalKind::SelfService { subject: me },
        suspended: false,
    };
    let email = vec!["email".to_owned()];
    for action in [Action::Read, Action::Write, Action::Export, Action::Delete] {
        let own = Request {
            action,
            purpose: "self_service",
            collection: "accounts",
            fields: Some(&email),
            target: Some(me),
        };
        assert!(
            decide(&policies, &principal, &own, accounts).is_allowed(),
            "{action:?}"
        );
        let other = Request {
            target: Some(me + 1),
            ..own
        };
        assert_eq!(
            decide(&policies, &principal, &other, accounts),
            Decision::Deny {
                code: DenyCode::NotOwnSubject
            }
        );
        let none = Request {
            target: None,
            ..own
        };
        assert_eq!(
            decide(&policies, &principal, &none, accounts),
            Decision::Deny {
                code: DenyCode::NotOwnSubject
            }
        );
    }
}
