//! Conformance checks every [`NoticeStore`] backend must pass (run by `tests/notices.rs` on
//! SQLite and PostgreSQL, the latter as the app role): campaigns, the delivery ledger (a
//! person is claimed once, and a refused claim writes neither rows nor leaves), subjects by
//! internal id with their keys, and remediation codes (never one code to two people, also
//! with two callers at once).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::store::sample;
use kura_store::*;

/// Runs every check in order on one store. The store must be empty.
pub fn run_all<S: NoticeStore + DirectoryStore + 'static>(store: Arc<S>) {
    campaigns(&*store);
    claims(&*store);
    ledger_queries(&*store);
    subjects_by_iid(&*store);
    remediation(&*store);
    remediation_concurrent(store.clone());
}

pub fn campaign(id: &str, incident: &str, created_at: i64) -> CampaignRecord {
    CampaignRecord {
        id: id.to_owned(),
        incident: incident.to_owned(),
        scope_version: 2,
        created_at,
        by: "op".to_owned(),
        status: "planned".to_owned(),
        body: "{\"v\":1}".to_owned(),
    }
}

pub fn delivery(campaign: &str, iid: u64, state: &str) -> DeliveryRecord {
    DeliveryRecord {
        campaign: campaign.to_owned(),
        iid,
        state: state.to_owned(),
        family: "breach-basic".to_owned(),
        locale: if iid.is_multiple_of(2) { "ja" } else { "en" }.to_owned(),
        country: if iid.is_multiple_of(2) { "JP" } else { "US" }.to_owned(),
        channel: "email".to_owned(),
        message_id: format!("<{campaign}.{iid}@notices.example>"),
        attempts: 0,
        detail: None,
        updated_at: 1_800_000_000_000,
    }
}

/// Campaigns: inserted with their leaves (listed as the incident's), read back, listed oldest
/// first, updated with leaves; an update of an unknown id is `NotFound` and writes nothing.
pub fn campaigns<S: NoticeStore + DirectoryStore>(s: &S) {
    let first = s.audit_size().unwrap();
    let b = campaign("camp-b", "inc-n", 20);
    let a = campaign("camp-a", "inc-n", 10);
    s.insert_campaign(&b, &[b"planned b".to_vec()]).unwrap();
    s.insert_campaign(&a, &[b"planned a".to_vec()]).unwrap();
    s.insert_campaign(&campaign("camp-x", "inc-other", 5), &[])
        .unwrap();
    let size = s.audit_size().unwrap();
    assert_eq!(size, first + 2, "leaves written with the campaigns");
    assert!(matches!(
        s.insert_campaign(&a, &[b"again".to_vec()]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.audit_size().unwrap(),
        size,
        "a refused insert writes no leaf"
    );
    assert_eq!(s.campaign("camp-a").unwrap(), Some(a.clone()));
    assert_eq!(s.campaign("camp-none").unwrap(), None);
    assert_eq!(
        s.campaigns("inc-n").unwrap(),
        vec![a.clone(), b.clone()],
        "oldest first"
    );
    assert!(s.campaigns("inc-none").unwrap().is_empty());

    s.update_campaign("camp-a", "sending", "{\"v\":2}", &[b"sending".to_vec()])
        .unwrap();
    let got = s.campaign("camp-a").unwrap().unwrap();
    assert_eq!(
        got,
        CampaignRecord {
            status: "sending".to_owned(),
            body: "{\"v\":2}".to_owned(),
            ..a.clone()
        }
    );
    let size = s.audit_size().unwrap();
    assert!(matches!(
        s.update_campaign("camp-none", "done", "{}", &[b"lost".to_vec()]),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.audit_size().unwrap(),
        size,
        "a refused update writes no leaf"
    );
    // The campaign's leaves belong to its incident's timeline (evidence bundles).
    assert_eq!(
        s.incident_leaves("inc-n").unwrap(),
        vec![first, first + 1, first + 2]
    );
    assert!(s.incident_leaves("inc-other").unwrap().is_empty());
}

/// Claims: rows and leaves together; a re-claim (or a batch naming one person twice) is a
/// conflict that writes nothing, neither rows nor leaves; recording updates state, attempts,
/// detail and time, and refuses an unclaimed row without writing anything.
pub fn claims<S: NoticeStore>(s: &S) {
    let c = "claims";
    let before = s.audit_size().unwrap();
    let rows: Vec<DeliveryRecord> = (10..15).map(|i| delivery(c, i, "sending")).collect();
    let leaves: Vec<AuditLeaf> = (10..15).map(|i| format!("read {i}").into_bytes()).collect();
    s.claim_deliveries(&rows, &leaves).unwrap();
    assert_eq!(s.audit_size().unwrap(), before + 5, "one leaf per person");
    assert_eq!(s.deliveries_between(c, 0, u64::MAX).unwrap(), rows);

    // Claimed already (iid 14), with a new person (15): nothing is written.
    let size = s.audit_size().unwrap();
    let again = [delivery(c, 15, "sending"), delivery(c, 14, "sending")];
    assert!(matches!(
        s.claim_deliveries(&again, &[b"x".to_vec(), b"y".to_vec()]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.audit_size().unwrap(),
        size,
        "a refused claim writes no leaf"
    );
    assert!(
        s.deliveries_between(c, 15, 15).unwrap().is_empty(),
        "a refused claim writes no row"
    );
    // One person twice in one batch.
    assert!(matches!(
        s.claim_deliveries(
            &[delivery(c, 16, "sending"), delivery(c, 16, "sending")],
            &[b"z".to_vec()]
        ),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.audit_size().unwrap(), size);
    assert!(s.deliveries_between(c, 16, 16).unwrap().is_empty());
    // The same person in another campaign is another claim.
    s.claim_deliveries(&[delivery("claims-2", 14, "sending")], &[])
        .unwrap();

    // Recording: state, attempts, detail and time change; the claimed columns stay.
    let mut sent = delivery(c, 10, "sent");
    sent.attempts = 1;
    sent.updated_at += 5;
    sent.family = "ignored".to_owned();
    let mut failed = delivery(c, 11, "failed");
    failed.attempts = 3;
    failed.detail = Some("smtp_5xx".to_owned());
    failed.updated_at += 9;
    s.record_deliveries(&[sent.clone(), failed.clone()], &[b"sent".to_vec()])
        .unwrap();
    assert_eq!(s.audit_size().unwrap(), size + 1);
    let got = s.deliveries_between(c, 10, 11).unwrap();
    assert_eq!(
        got,
        vec![
            DeliveryRecord {
                family: "breach-basic".to_owned(),
                ..sent
            },
            failed.clone()
        ]
    );
    // An unclaimed row (in a batch with a claimed one): nothing is written.
    let size = s.audit_size().unwrap();
    let mut bounced = delivery(c, 12, "bounced");
    bounced.detail = Some("bounce".to_owned());
    let r = s.record_deliveries(
        &[bounced, delivery(c, 99, "sent")],
        &[b"unclaimed".to_vec()],
    );
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    assert_eq!(s.audit_size().unwrap(), size);
    assert_eq!(
        s.deliveries_between(c, 12, 12).unwrap()[0].state,
        "sending",
        "a refused record changes no row"
    );
}

/// Ranges, paging by state, counts computed by the database, bounce matching.
pub fn ledger_queries<S: NoticeStore>(s: &S) {
    let c = "ledger";
    let rows: Vec<DeliveryRecord> = (1..=20)
        .map(|i| {
            delivery(
                c,
                i,
                if i.is_multiple_of(4) {
                    "failed"
                } else {
                    "sent"
                },
            )
        })
        .collect();
    s.claim_deliveries(&rows, &[]).unwrap();
    s.claim_deliveries(&[delivery("ledger-other", 4, "failed")], &[])
        .unwrap();

    let between: Vec<u64> = s
        .deliveries_between(c, 5, 9)
        .unwrap()
        .iter()
        .map(|d| d.iid)
        .collect();
    assert_eq!(between, vec![5, 6, 7, 8, 9]);
    assert!(s.deliveries_between(c, 21, 30).unwrap().is_empty());
    assert!(
        s.deliveries_between("ledger-none", 0, u64::MAX)
            .unwrap()
            .is_empty()
    );

    // Paging through the failed rows, two at a time.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = s.deliveries_in_state(c, "failed", after, 2).unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        assert!(page.iter().all(|d| d.state == "failed" && d.campaign == c));
        after = page.last().unwrap().iid;
        seen.extend(page.iter().map(|d| d.iid));
    }
    assert_eq!(seen, vec![4, 8, 12, 16, 20]);
    assert_eq!(s.deliveries_in_state(c, "sent", 18, 10).unwrap().len(), 1);

    // Counts: even iids are ja/JP, odd en/US; every fourth failed (all even).
    let counts = s.delivery_counts(c).unwrap();
    let row = |state: &str, locale: &str, country: &str, count: u64| DeliveryCount {
        state: state.to_owned(),
        locale: locale.to_owned(),
        country: country.to_owned(),
        channel: "email".to_owned(),
        family: "breach-basic".to_owned(),
        count,
    };
    let mut expected = vec![
        row("failed", "ja", "JP", 5),
        row("sent", "en", "US", 10),
        row("sent", "ja", "JP", 5),
    ];
    let mut got = counts.clone();
    got.sort_by(|a, b| (&a.state, &a.locale).cmp(&(&b.state, &b.locale)));
    expected.sort_by(|a, b| (&a.state, &a.locale).cmp(&(&b.state, &b.locale)));
    assert_eq!(got, expected);
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 20);
    assert!(s.delivery_counts("ledger-none").unwrap().is_empty());

    // Bounce matching by message id.
    let got = s
        .delivery_by_message_id(&rows[6].message_id)
        .unwrap()
        .unwrap();
    assert_eq!(got, rows[6]);
    assert_eq!(s.delivery_by_message_id("<nobody@x>").unwrap(), None);
    assert_eq!(s.delivery_by_message_id("").unwrap(), None);
}

/// Subjects with their keys, by ascending internal id; unknown and erased ones absent.
pub fn subjects_by_iid<S: NoticeStore>(s: &S) {
    let a = sample(s, "notified", 31);
    let b = sample(s, "notified", 32);
    let c = sample(s, "other", 33);
    s.insert_subjects(&[c.clone(), a.clone(), b.clone()], &[])
        .unwrap();
    s.advance_epoch(&a.id, 7).unwrap();
    assert!(s.delete_subject("notified", &b.id, &[]).unwrap());
    let got = s
        .subjects_by_iid(&[c.iid, 999_999_999, a.iid, b.iid, a.iid])
        .unwrap();
    let iids: Vec<u64> = got.iter().map(|x| x.iid).collect();
    let mut expected = vec![a.iid, c.iid];
    expected.sort_unstable();
    assert_eq!(
        iids, expected,
        "ascending, each once, erased and unknown absent"
    );
    for (got, want) in got
        .iter()
        .map(|g| (g, if g.iid == a.iid { &a } else { &c }))
    {
        let single = s.subject(&want.collection, &want.id).unwrap().unwrap();
        assert_eq!(got.id, want.id);
        assert_eq!(got.collection, want.collection);
        assert_eq!((&got.country, &got.locale), (&want.country, &want.locale));
        assert_eq!(got.fields, want.fields);
        assert_eq!(got.tokens, want.tokens);
        assert_eq!(got.wrapped_key, want.wrapped_key);
        assert_eq!(got.version, single.version);
        assert_eq!(
            got.key_epoch, single.key_epoch,
            "as Store::subject reads it"
        );
    }
    assert_eq!(
        got.iter().find(|g| g.iid == a.iid).unwrap().key_epoch,
        7,
        "the epoch comes from the key store"
    );
    assert!(s.subjects_by_iid(&[]).unwrap().is_empty());
    assert!(s.subjects_by_iid(&[b.iid]).unwrap().is_empty());
}

fn code(region: &str, n: u32) -> ([u8; 32], Vec<u8>) {
    let mut d = [0u8; 32];
    d[..4].copy_from_slice(&n.to_be_bytes());
    d[4..4 + region.len()].copy_from_slice(region.as_bytes());
    (d, format!("sealed-{region}-{n}").into_bytes())
}

fn stock_of(s: &dyn NoticeStore, region: &str, provider: &str) -> (u64, u64) {
    s.remediation_stock()
        .unwrap()
        .iter()
        .find(|r| r.region == region && r.provider == provider)
        .map(|r| (r.total, r.assigned))
        .unwrap_or((0, 0))
}

/// Import skipping duplicates, idempotent assignment, exhaustion, stock counts.
pub fn remediation<S: NoticeStore>(s: &S) {
    let size = s.audit_size().unwrap();
    let us: Vec<_> = (0..3).map(|n| code("US", n)).collect();
    let mut batch = us.clone();
    batch.push(us[0].clone()); // repeated within the batch
    assert_eq!(
        s.insert_remediation_codes("US", "idmon", &batch, &[b"import".to_vec()])
            .unwrap(),
        3
    );
    assert_eq!(
        s.audit_size().unwrap(),
        size + 1,
        "leaves written with the import"
    );
    // Imported again, with one new code: only that one is new.
    let more = [us[1].clone(), code("US", 3)];
    assert_eq!(
        s.insert_remediation_codes("US", "idmon", &more, &[])
            .unwrap(),
        1
    );
    s.insert_remediation_codes("JP", "mimamori", &[code("JP", 0)], &[])
        .unwrap();
    assert_eq!(stock_of(s, "US", "idmon"), (4, 0));
    assert_eq!(stock_of(s, "JP", "mimamori"), (1, 0));

    // Two people get two different codes; asking again returns the same ones.
    let first = s.assign_remediation_codes("US", "camp-r", &[2, 1]).unwrap();
    assert_eq!(first.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2]);
    assert!(first.iter().all(|x| x.1 == "idmon"));
    assert_ne!(first[0].2, first[1].2, "one code per person");
    let again = s
        .assign_remediation_codes("US", "camp-r", &[1, 2, 2])
        .unwrap();
    assert_eq!(again, first, "idempotent per person");
    assert_eq!(stock_of(s, "US", "idmon"), (4, 2));

    // Four codes for five people: one goes without, and asking again changes nothing.
    let all = s
        .assign_remediation_codes("US", "camp-r", &[1, 2, 3, 4, 5])
        .unwrap();
    assert_eq!(all.len(), 4, "exhausted stock gives fewer, no error");
    assert_eq!(&all[..2], &first[..]);
    let distinct: BTreeSet<&Vec<u8>> = all.iter().map(|x| &x.2).collect();
    assert_eq!(distinct.len(), 4, "no code to two people");
    assert_eq!(
        s.assign_remediation_codes("US", "camp-r", &[1, 2, 3, 4, 5])
            .unwrap(),
        all
    );
    assert!(
        s.assign_remediation_codes("US", "camp-s", &[1])
            .unwrap()
            .is_empty(),
        "another campaign needs another code, and there is none"
    );
    assert_eq!(stock_of(s, "US", "idmon"), (4, 4));

    // Regions are separate stocks.
    let jp = s.assign_remediation_codes("JP", "camp-r", &[1, 6]).unwrap();
    assert_eq!(jp, vec![(1, "mimamori".to_owned(), code("JP", 0).1)]);
    assert!(
        s.assign_remediation_codes("DE", "camp-r", &[1])
            .unwrap()
            .is_empty()
    );
    assert!(
        s.assign_remediation_codes("US", "camp-r", &[])
            .unwrap()
            .is_empty()
    );
    assert_eq!(stock_of(s, "JP", "mimamori"), (1, 1));
}

/// Two callers at once: disjoint people share out the stock without a code going to two;
/// the same people asked for twice at once each get one code, the same from both calls.
pub fn remediation_concurrent<S: NoticeStore + 'static>(store: Arc<S>) {
    let codes: Vec<_> = (0..100).map(|n| code("KR", n)).collect();
    assert_eq!(
        store
            .insert_remediation_codes("KR", "kmon", &codes, &[])
            .unwrap(),
        100
    );
    let run = |people: Vec<u64>| {
        let s = store.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            for chunk in people.chunks(10) {
                out.extend(s.assign_remediation_codes("KR", "camp-k", chunk).unwrap());
            }
            out
        })
    };
    // 120 people for 100 codes, in two disjoint halves.
    let one = run((1000..1060).collect());
    let two = run((2000..2060).collect());
    let mut got = one.join().unwrap();
    got.extend(two.join().unwrap());
    let people: BTreeSet<u64> = got.iter().map(|x| x.0).collect();
    let distinct: BTreeSet<&Vec<u8>> = got.iter().map(|x| &x.2).collect();
    assert_eq!(got.len(), 100, "the whole stock is handed out");
    assert_eq!(people.len(), got.len(), "one code per person");
    assert_eq!(distinct.len(), got.len(), "no code to two people");
    assert_eq!(stock_of(&*store, "KR", "kmon"), (100, 100));

    // The same people from two callers at once.
    let codes: Vec<_> = (0..50).map(|n| code("BR", n)).collect();
    store
        .insert_remediation_codes("BR", "bmon", &codes, &[])
        .unwrap();
    let same = |rev: bool| {
        let s = store.clone();
        std::thread::spawn(move || {
            let mut people: Vec<u64> = (1..=40).collect();
            if rev {
                people.reverse();
            }
            let mut out = Vec::new();
            for chunk in people.chunks(8) {
                out.extend(s.assign_remediation_codes("BR", "camp-b", chunk).unwrap());
            }
            out.sort();
            out
        })
    };
    let a = same(false);
    let b = same(true);
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(a.len(), 40);
    assert_eq!(a, b, "both callers see each person's one code");
    let distinct: BTreeSet<&Vec<u8>> = a.iter().map(|x| &x.2).collect();
    assert_eq!(distinct.len(), 40);
    assert_eq!(stock_of(&*store, "BR", "bmon"), (50, 40));
}
