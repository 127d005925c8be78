//! Conformance checks every [`RightsStore`] backend must pass (run by `tests/rights.rs` on
//! SQLite and PostgreSQL, the latter as the app role): requests with their leaves, lookups
//! by token, compare-and-set updates, "ask once per cycle", the overdue count, activity
//! (never moved back, gone with the subject) and the restriction flag read with the key.

use std::sync::Arc;

use crate::store::sample;
use kura_store::*;

/// Runs every check in order on one store. The store must be empty.
pub fn run_all<S: RightsStore + Store + 'static>(store: Arc<S>) {
    requests(&*store);
    once_per_cycle(&*store);
    activity(&*store);
    restriction(&*store);
}

/// A request record for the checks.
pub fn request(id: &str, state: &str, due_at: i64) -> RightsRecord {
    RightsRecord {
        id: id.to_owned(),
        kind: "erasure".to_owned(),
        collection: "c".to_owned(),
        subject: None,
        channel: "api".to_owned(),
        state: state.to_owned(),
        opened_by: "svc".to_owned(),
        received_at: 1_000,
        due_at,
        token_hash: None,
        token_expires: None,
        cycle: None,
        version: 1,
        updated_at: 1_000,
        doc: "{}".to_owned(),
        receipt: None,
    }
}

/// Insert with leaves, read back, by token, CAS update, list and overdue.
pub fn requests<S: RightsStore + Store>(s: &S) {
    let size = s.audit_size().unwrap();
    let mut a = request("rr_a", "awaiting_verification", 5_000);
    a.token_hash = Some([7; 32]);
    a.token_expires = Some(9_000);
    a.subject = Some(Uuid::now_v7());
    assert!(s.insert_rights_request(&a, &[b"open a".to_vec()]).unwrap());
    assert_eq!(s.audit_size().unwrap(), size + 1);
    assert_eq!(s.rights_request("rr_a").unwrap().unwrap(), a);
    assert_eq!(s.rights_request_by_token(&[7; 32]).unwrap().unwrap(), a);
    assert!(s.rights_request_by_token(&[8; 32]).unwrap().is_none());
    assert!(s.rights_request("rr_none").unwrap().is_none());
    // A second request with the same token hash is refused and writes nothing.
    let mut dup = request("rr_dup", "awaiting_verification", 5_000);
    dup.token_hash = Some([7; 32]);
    assert!(matches!(
        s.insert_rights_request(&dup, &[b"dup".to_vec()]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.audit_size().unwrap(), size + 1);
    assert!(s.rights_request("rr_dup").unwrap().is_none());

    // Compare-and-set: version 2 from 1 succeeds once; a stale writer loses.
    let mut b = a.clone();
    b.version = 2;
    b.state = "verified".to_owned();
    b.token_hash = None;
    b.receipt = Some(b"receipt".to_vec());
    assert!(
        s.update_rights_request(&b, &[b"verify a".to_vec()])
            .unwrap()
    );
    assert!(!s.update_rights_request(&b, &[b"again".to_vec()]).unwrap());
    assert_eq!(s.audit_size().unwrap(), size + 2);
    assert_eq!(s.rights_request("rr_a").unwrap().unwrap(), b);
    assert!(s.rights_request_by_token(&[7; 32]).unwrap().is_none());

    s.insert_rights_request(&request("rr_b", "completed", 1_000), &[])
        .unwrap();
    s.insert_rights_request(&request("rr_c", "awaiting_verification", 2_000), &[])
        .unwrap();
    s.insert_rights_request(&request("rr_d", "erasing", 9_000), &[])
        .unwrap();
    // Overdue: open and past due (rr_b is closed, rr_d not yet due at 6_000).
    assert_eq!(s.rights_overdue(6_000).unwrap(), 2);
    assert_eq!(s.rights_overdue(10_000).unwrap(), 3);
    assert_eq!(s.rights_overdue(0).unwrap(), 0);
    let all = s.rights_requests(&RightsFilter::default(), 10).unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["rr_a", "rr_b", "rr_c", "rr_d"]);
    let page = s
        .rights_requests(
            &RightsFilter {
                after: Some("rr_b".into()),
                ..Default::default()
            },
            1,
        )
        .unwrap();
    assert_eq!(page[0].id, "rr_c");
    assert_eq!(page.len(), 1);
    let open = s
        .rights_requests(
            &RightsFilter {
                state: Some("awaiting_verification".into()),
                ..Default::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(open.len(), 1);
    let of = s
        .rights_requests(
            &RightsFilter {
                subject: a.subject,
                ..Default::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(of.len(), 1);

    // A batch update: rows whose version moved are left alone, the rest replaced with the
    // leaves in one transaction.
    let size = s.audit_size().unwrap();
    let mut c = s.rights_request("rr_c").unwrap().unwrap();
    let mut d = s.rights_request("rr_d").unwrap().unwrap();
    c.version += 1;
    c.state = "verified".into();
    d.state = "completed".into(); // version not raised: stale
    assert_eq!(
        s.update_rights_requests(&[c.clone(), d.clone()], &[b"batch".to_vec()])
            .unwrap(),
        1
    );
    assert_eq!(s.audit_size().unwrap(), size + 1);
    assert_eq!(s.rights_request("rr_c").unwrap().unwrap().state, "verified");
    assert_eq!(s.rights_request("rr_d").unwrap().unwrap().state, "erasing");
    assert_eq!(
        s.update_rights_requests(&[d], &[b"none".to_vec()]).unwrap(),
        0
    );
    assert_eq!(
        s.audit_size().unwrap(),
        size + 1,
        "nothing replaced, no leaf"
    );
}

/// A subject is asked once per retention cycle, even when asked twice; another cycle asks
/// again.
pub fn once_per_cycle<S: RightsStore + Store>(s: &S) {
    let a = sample(s, "cyc", 9);
    s.insert_subjects(std::slice::from_ref(&a), &[]).unwrap();
    s.touch_activity(&[(a.id, 500)]).unwrap();
    let who = a.id;
    let mut r = request("rr_cycle1", "awaiting_verification", 5_000);
    r.subject = Some(who);
    r.cycle = Some("accounts:1".into());
    assert!(s.insert_rights_request(&r, &[b"ask".to_vec()]).unwrap());
    // Asking stamps the activity row (same transaction): asked at the request's receipt.
    let row = s.activity_page("cyc", 0, 1).unwrap();
    assert_eq!(
        (row[0].active_at, row[0].asked_at),
        (Some(500), Some(1_000))
    );
    let size = s.audit_size().unwrap();
    let mut again = r.clone();
    again.id = "rr_cycle2".into();
    assert!(!s.insert_rights_request(&again, &[b"ask".to_vec()]).unwrap());
    assert_eq!(
        s.audit_size().unwrap(),
        size,
        "a refused ask writes no leaf"
    );
    assert!(s.rights_request("rr_cycle2").unwrap().is_none());
    again.cycle = Some("accounts:2".into());
    assert!(s.insert_rights_request(&again, &[]).unwrap());
    let c1 = s
        .rights_requests(
            &RightsFilter {
                cycle: Some("accounts:1".into()),
                ..Default::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(c1.len(), 1);
}

/// Activity: a later time wins, an earlier never moves it back; the page lists subjects of
/// one collection in iid order with their activity; erasure removes it.
pub fn activity<S: RightsStore + Store>(s: &S) {
    let a = sample(s, "act", 1);
    let b = sample(s, "act", 2);
    let other = sample(s, "other", 3);
    s.insert_subjects(&[a.clone(), b.clone(), other.clone()], &[])
        .unwrap();
    s.touch_activity(&[(a.id, 100), (a.id, 50)]).unwrap();
    s.touch_activity(&[(a.id, 90)]).unwrap();
    let page = s.activity_page("act", 0, 10).unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].id, a.id);
    assert_eq!(page[0].iid, a.iid);
    assert_eq!(page[0].active_at, Some(100));
    assert_eq!(page[0].country, "JP");
    assert_eq!(page[1].active_at, None);
    s.touch_activity(&[(a.id, 200)]).unwrap();
    assert_eq!(
        s.activity_page("act", 0, 1).unwrap()[0].active_at,
        Some(200)
    );
    let rest = s.activity_page("act", a.iid, 10).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, b.id);
    assert!(s.delete_subject("act", &a.id, &[]).unwrap());
    let page = s.activity_page("act", 0, 10).unwrap();
    assert_eq!(page.len(), 1);
    // The activity row went with the subject: a new subject with the same id (never in
    // practice) would start without one.
    s.touch_activity(&[(b.id, 10)]).unwrap();
    assert_eq!(
        s.activity_page("act", 0, 10).unwrap()[0].active_at,
        Some(10)
    );
}

/// Restriction: set and lifted with a leaf, read with the key; unknown subjects say so.
pub fn restriction<S: RightsStore + Store>(s: &S) {
    let a = sample(s, "res", 4);
    s.insert_subjects(std::slice::from_ref(&a), &[]).unwrap();
    assert!(!s.subject("res", &a.id).unwrap().unwrap().restricted);
    let size = s.audit_size().unwrap();
    assert!(
        s.set_restricted(&a.id, true, &[b"restrict".to_vec()])
            .unwrap()
    );
    assert_eq!(s.audit_size().unwrap(), size + 1);
    assert!(s.subject("res", &a.id).unwrap().unwrap().restricted);
    assert!(s.set_restricted(&a.id, false, &[]).unwrap());
    assert!(!s.subject("res", &a.id).unwrap().unwrap().restricted);
    assert!(!s.set_restricted(&Uuid::now_v7(), true, &[]).unwrap());
}
