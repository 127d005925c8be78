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
    assert_eq!(touch(s, k, &[1, 2], t, 3), WindowOutcome::Admitted);
    // Repeats count once, on either server.
    assert_eq!(
        touch(&*other, k, &[1, 2], t + 1, 3),
        WindowOutcome::Admitted
    );
    assert_eq!(touch(&*other, k, &[3], t + 2, 3), WindowOutcome::Admitted);
    // The fourth subject, on either server, trips.
    assert_eq!(
        touch(s, k, &[3, 4], t + 3, 3),
        WindowOutcome::Tripped {
            obtained: vec![1, 2, 3]
        }
    );
    assert_eq!(
        touch(&*other, k, &[1], t + 4, 3),
        WindowOutcome::AlreadyTripped
    );
    s.clear_windows(k).unwrap();
    assert_eq!(
        touch(&*other, k, &[7, 8, 9], t + 5, 3),
        WindowOutcome::Admitted
    );

    // The window: an entry counts for window_ms from the touch that brought it in.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    assert_eq!(touch(s, k, &[1], t, 2), WindowOutcome::Admitted);
    assert_eq!(touch(s, k, &[2], t + 30_000, 2), WindowOutcome::Admitted);
    // Touching 1 again does not renew it.
    assert_eq!(touch(s, k, &[1], t + 59_000, 2), WindowOutcome::Admitted);
    assert!(matches!(
        touch(&*other, k, &[3], t + 59_999, 2),
        WindowOutcome::Tripped { .. }
    ));
    s.clear_windows(k).unwrap();
    assert_eq!(touch(s, k, &[1], t, 2), WindowOutcome::Admitted);
    assert_eq!(touch(s, k, &[2], t + 30_000, 2), WindowOutcome::Admitted);
    // At t + 60 s subject 1 has left the window: 3 fits, 4 does not.
    assert_eq!(
        touch(&*other, k, &[3], t + 60_000, 2),
        WindowOutcome::Admitted
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
            audit: &|| Ok(Vec::new()),
        })
        .unwrap();
    assert_eq!(out, WindowOutcome::Tripped { obtained: vec![] });

    // Sweeping drops what no longer counts and nothing else.
    let key = format!("p-{}", uuid::Uuid::now_v7());
    let k = key.as_str();
    assert_eq!(touch(s, k, &[1, 2], t, 5), WindowOutcome::Admitted);
    assert!(s.sweep_windows(t + 60_000).unwrap() >= 2);
    assert_eq!(
        touch(s, k, &[3, 4, 5, 6, 7], t + 60_000, 5),
        WindowOutcome::Admitted
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
            WindowOutcome::Admitted,
            WindowOutcome::Admitted,
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
                    if touch(&*st, key, &[subject], t + j as i64, 7) == WindowOutcome::Admitted {
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
}
