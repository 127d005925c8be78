//! Conformance checks every [`ContainmentStore`] backend must pass.

#[allow(unused_imports)]
use kura_store::containment::*;
#[allow(unused_imports)]
use kura_store::*;
use std::sync::Arc;

fn quota(q: u64) -> impl Fn(u64, u64) -> bool {
    move |live, new| live + new <= q
}

fn touch(
    s: &dyn ContainmentStore,
    key: &str,
    subjects: &[u64],
    now_ms: i64,
    q: u64,
) -> WindowOutcome {
    let admits = quota(q);
    s.touch_window(&WindowTouch {
        key,
        principal: key,
        subjects,
        now_ms,
        window_ms: 60_000,
        admits: &admits,
        force_trip: false,
        reason: "containment:quota",
        lease: &|_| 0,
        lease_tag: 0,
        settle: None,
        audit: &|| Ok(Vec::new()),
    })
    .unwrap()
}

/// `other` is a second handle on the same database (another server).
pub fn run_all(store: Arc<dyn ContainmentStore>, other: Arc<dyn ContainmentStore>) {
    let s = &*store;
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    let t = 1_800_000_000_000;
    assert_eq!(
        touch(s, k, &[1, 2], t, 3),
        WindowOutcome::Admitted { leased: 0 }
    );
    // Repeats count once, on either server.
    assert_eq!(
        touch(&*other, k, &[1, 2], t + 1, 3),
        WindowOutcome::Admitted { leased: 0 }
    );
    assert_eq!(
        touch(&*other, k, &[3], t + 2, 3),
        WindowOutcome::Admitted { leased: 0 }
    );
    // What the console shows: the count at the last touch, seen from either server.
    assert_eq!(s.window_state("nobody").unwrap(), None);
    assert_eq!(
        other.window_state(k).unwrap(),
        Some(WindowState {
            live: 3,
            tripped_at_ms: None
        })
    );
    // The fourth subject, on either server, trips.
    assert_eq!(
        touch(s, k, &[3, 4], t + 3, 3),
        WindowOutcome::Tripped {
            obtained: vec![1, 2, 3]
        }
    );
    assert_eq!(
        other.window_state(k).unwrap().and_then(|w| w.tripped_at_ms),
        Some(t + 3),
        "the trip's time"
    );
    assert_eq!(
        touch(&*other, k, &[1], t + 4, 3),
        WindowOutcome::AlreadyTripped
    );
    s.clear_windows(k).unwrap();
    assert_eq!(
        touch(&*other, k, &[7, 8, 9], t + 5, 3),
        WindowOutcome::Admitted { leased: 0 }
    );

    // The window: an entry counts for window_ms from the touch that brought it in.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    assert_eq!(
        touch(s, k, &[1], t, 2),
        WindowOutcome::Admitted { leased: 0 }
    );
    assert_eq!(
        touch(s, k, &[2], t + 30_000, 2),
        WindowOutcome::Admitted { leased: 0 }
    );
    // Touching 1 again does not renew it.
    assert_eq!(
        touch(s, k, &[1], t + 59_000, 2),
        WindowOutcome::Admitted { leased: 0 }
    );
    assert!(matches!(
        touch(&*other, k, &[3], t + 59_999, 2),
        WindowOutcome::Tripped { .. }
    ));
    s.clear_windows(k).unwrap();
    assert_eq!(
        touch(s, k, &[1], t, 2),
        WindowOutcome::Admitted { leased: 0 }
    );
    assert_eq!(
        touch(s, k, &[2], t + 30_000, 2),
        WindowOutcome::Admitted { leased: 0 }
    );
    // At t + 60 s subject 1 has left the window: 3 fits, 4 does not.
    assert_eq!(
        touch(&*other, k, &[3], t + 60_000, 2),
        WindowOutcome::Admitted { leased: 0 }
    );
    assert_eq!(
        touch(s, k, &[4], t + 60_001, 2),
        WindowOutcome::Tripped {
            obtained: vec![2, 3]
        }
    );

    // A forced trip (canary) trips whatever the count.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let admits = quota(100);
    let out = s
        .touch_window(&WindowTouch {
            key: &key,
            principal: &key,
            subjects: &[5],
            now_ms: t,
            window_ms: 60_000,
            admits: &admits,
            force_trip: true,
            reason: "containment:canary",
            lease: &|_| 0,
            lease_tag: 0,
            settle: None,
            audit: &|| Ok(Vec::new()),
        })
        .unwrap();
    assert_eq!(out, WindowOutcome::Tripped { obtained: vec![] });

    // Sweeping drops what no longer counts and nothing else.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    assert_eq!(
        touch(s, k, &[1, 2], t, 5),
        WindowOutcome::Admitted { leased: 0 }
    );
    assert!(s.sweep_windows(t + 60_000).unwrap() >= 2);
    assert_eq!(
        touch(s, k, &[3, 4, 5, 6, 7], t + 60_000, 5),
        WindowOutcome::Admitted { leased: 0 }
    );
    let (keys, entries) = s.windows_held().unwrap();
    assert!(keys >= 1 && entries >= 5, "{keys} {entries}");

    // A batch is counted in order, each touch seeing those before it.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let admits = quota(2);
    let touch_of = |subjects: &'static [u64]| WindowTouch {
        key: &key,
        principal: &key,
        subjects,
        now_ms: t,
        window_ms: 60_000,
        admits: &admits,
        force_trip: false,
        reason: "containment:quota",
        lease: &|_| 0,
        lease_tag: 0,
        settle: None,
        audit: &|| Ok(Vec::new()),
    };
    let outs = s
        .touch_windows(&[
            touch_of(&[1]),
            touch_of(&[1, 2]),
            touch_of(&[3]),
            touch_of(&[1]),
        ])
        .unwrap();
    assert_eq!(
        outs,
        vec![
            WindowOutcome::Admitted { leased: 0 },
            WindowOutcome::Admitted { leased: 0 },
            WindowOutcome::Tripped {
                obtained: vec![1, 2]
            },
            WindowOutcome::AlreadyTripped,
        ]
    );

    // Concurrent touches from both handles never admit more than the quota.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let admitted = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for (i, st) in [store.clone(), other.clone(), store.clone(), other.clone()]
            .into_iter()
            .enumerate()
        {
            let (key, admitted) = (&key, &admitted);
            scope.spawn(move || {
                for j in 0..10u64 {
                    let subject = (i as u64) * 100 + j;
                    if touch(&*st, key, &[subject], t + j as i64, 7)
                        == (WindowOutcome::Admitted { leased: 0 })
                    {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(
        admitted.into_inner(),
        7,
        "exactly the quota, across handles"
    );

    leases(&store, &other, t);
}

/// One touch that may take a lease (an eighth of what is free, at most `want`) and give
/// one back.
#[allow(clippy::too_many_arguments)]
fn touch_leasing(
    s: &dyn ContainmentStore,
    key: &str,
    subjects: &[u64],
    now_ms: i64,
    q: u64,
    want: u64,
    settle: Option<(i64, &[u64], u64)>,
) -> WindowOutcome {
    let admits = quota(q);
    let lease = move |live: u64| want.min(q.saturating_sub(live) / 8);
    s.touch_window(&WindowTouch {
        key,
        principal: key,
        subjects,
        now_ms,
        window_ms: 60_000,
        admits: &admits,
        force_trip: false,
        reason: "containment:quota",
        lease: &lease,
        lease_tag: 7,
        settle: settle.map(|(taken_at, spent, unspent)| LeaseSettlement {
            taken_at,
            tag: 7,
            spent,
            unspent,
        }),
        audit: &|| Ok(Vec::new()),
    })
    .unwrap()
}

/// Admission leases: leased slots count like subjects, on every handle, until they expire
/// or are given back; the subjects and the leases together never pass the quota.
fn leases(store: &Arc<dyn ContainmentStore>, other: &Arc<dyn ContainmentStore>, t: i64) {
    let (s, o) = (&**store, &**other);
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    // Subject 1 in, then an eighth of the 99 free: 12 slots.
    assert_eq!(
        touch_leasing(s, k, &[1], t, 100, 50, None),
        WindowOutcome::Admitted { leased: 12 }
    );
    // The other server sees 13 counted: 87 more subjects fit, the 88th does not.
    let many: Vec<u64> = (2..=88).collect();
    assert_eq!(
        touch_leasing(o, k, &many, t + 1, 100, 0, None),
        WindowOutcome::Admitted { leased: 0 }
    );
    let WindowOutcome::Tripped { obtained } = touch_leasing(o, k, &[500], t + 2, 100, 0, None)
    else {
        panic!("the lease's slots must count on the other server");
    };
    assert_eq!(
        obtained,
        (1..=88).collect::<Vec<u64>>(),
        "leases are not subjects"
    );

    // Settling: the unspent slots leave the count at once, the spent subjects are kept with
    // the lease (its weight counted them).
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    assert_eq!(
        touch_leasing(s, k, &[1], t, 100, 50, None),
        WindowOutcome::Admitted { leased: 12 }
    );
    // 50, 51, 52 spent, nine handed back, no new lease: 1 + 3 + subject 2 = 5 counted.
    assert_eq!(
        touch_leasing(o, k, &[2], t + 1, 100, 0, Some((t, &[50, 51, 52], 9))),
        WindowOutcome::Admitted { leased: 0 }
    );
    // A spent subject asked for on the other server counts again (erring towards refusing).
    assert_eq!(
        touch_leasing(s, k, &[51], t + 2, 100, 0, None),
        WindowOutcome::Admitted { leased: 0 }
    );
    let rest: Vec<u64> = (100..194).collect();
    assert_eq!(
        touch_leasing(o, k, &rest, t + 2, 100, 0, None),
        WindowOutcome::Admitted { leased: 0 }
    );
    let WindowOutcome::Tripped { obtained } = touch_leasing(s, k, &[999], t + 3, 100, 0, None)
    else {
        panic!("the 101st count must trip");
    };
    let mut want: Vec<u64> = vec![1, 2, 50, 51, 52];
    want.extend(100..194);
    assert_eq!(
        obtained, want,
        "the trip names every subject, spent ones too"
    );

    // Two leases taken in the same millisecond share a row: settling the second keeps what
    // the first was spent on (a trip names both).
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    assert_eq!(
        touch_leasing(s, k, &[1], t, 100, 2, None),
        WindowOutcome::Admitted { leased: 2 }
    );
    assert_eq!(
        touch_leasing(s, k, &[2], t, 100, 2, Some((t, &[10, 11], 0))),
        WindowOutcome::Admitted { leased: 2 }
    );
    assert_eq!(
        touch_leasing(s, k, &[3], t + 1, 100, 0, Some((t, &[12], 1))),
        WindowOutcome::Admitted { leased: 0 }
    );
    let fill: Vec<u64> = (200..294).collect();
    assert_eq!(
        touch_leasing(o, k, &fill, t + 2, 100, 0, None),
        WindowOutcome::Admitted { leased: 0 }
    );
    let WindowOutcome::Tripped { obtained } = touch_leasing(o, k, &[999], t + 3, 100, 0, None)
    else {
        panic!("the 101st count must trip");
    };
    let mut want: Vec<u64> = vec![1, 2, 3, 10, 11, 12];
    want.extend(200..294);
    assert_eq!(obtained, want, "both leases' subjects are named");

    // A giving back of more than the lease holds, or of an unknown lease, changes nothing.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    assert_eq!(
        touch_leasing(s, k, &[1], t, 100, 4, None),
        WindowOutcome::Admitted { leased: 4 }
    );
    assert_eq!(
        touch_leasing(s, k, &[2], t + 1, 100, 0, Some((t, &[], 5))),
        WindowOutcome::Admitted { leased: 0 }
    );
    assert_eq!(
        touch_leasing(s, k, &[3], t + 2, 100, 0, Some((t - 7, &[], 4))),
        WindowOutcome::Admitted { leased: 0 }
    );
    // 3 subjects + 4 leased = 7 counted: 93 more fit, not 94.
    let fill: Vec<u64> = (1000..1093).collect();
    assert_eq!(
        touch_leasing(o, k, &fill, t + 3, 100, 0, None),
        WindowOutcome::Admitted { leased: 0 }
    );
    assert!(matches!(
        touch_leasing(o, k, &[5000], t + 4, 100, 0, None),
        WindowOutcome::Tripped { .. }
    ));

    // A lease expires with the window, like a subject.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    assert_eq!(
        touch_leasing(s, k, &[1], t, 16, 100, None),
        WindowOutcome::Admitted { leased: 1 }
    );
    let later: Vec<u64> = (10..26).collect();
    assert_eq!(
        touch_leasing(o, k, &later, t + 60_000, 16, 0, None),
        WindowOutcome::Admitted { leased: 0 }
    );

    // Concurrent leasing from both handles: subjects admitted plus slots leased never pass
    // the quota.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let counted = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for (i, st) in [store.clone(), other.clone(), store.clone(), other.clone()]
            .into_iter()
            .enumerate()
        {
            let (key, counted) = (&key, &counted);
            scope.spawn(move || {
                for j in 0..50u64 {
                    let subject = (i as u64) * 1000 + j;
                    if let WindowOutcome::Admitted { leased } =
                        touch_leasing(&*st, key, &[subject], t + j as i64, 200, 64, None)
                    {
                        counted.fetch_add(1 + leased, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let counted = counted.into_inner();
    assert_eq!(counted, 200, "subjects and leases fill the quota exactly");
}
