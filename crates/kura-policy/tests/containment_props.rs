//! Differential property test of containment against a plain model: for random sequences
//! of requests (random subjects, canaries, clock steps), `touch` allows exactly the
//! requests the model allows, a principal never holds more than its quota of distinct
//! subjects in any window, and the draft incident lists exactly the subjects obtained
//! within the window.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use kura_policy::{Containment, Quota, Touch, Trigger};
use proptest::prelude::*;

/// One request: subjects (from a small domain, so repeats happen) and a clock step.
fn requests() -> impl Strategy<Value = Vec<(Vec<u64>, i64)>> {
    proptest::collection::vec((proptest::collection::vec(0u64..40, 0..6), 0i64..15), 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn touch_matches_the_model(
        reqs in requests(),
        subjects in 1u32..12,
        window_secs in 1u32..60,
        canary in proptest::option::of(0u64..400),
    ) {
        let quota = Quota { subjects, window_secs };
        let c = Containment::new();
        c.set_canaries(canary);
        // The model: every (time, subject) obtained, and whether suspended.
        let mut obtained: Vec<(i64, u64)> = Vec::new();
        let mut suspended = false;
        let mut now = 1_000i64;
        for (req, step) in reqs {
            now += step;
            let window: BTreeSet<u64> = obtained
                .iter()
                .filter(|(t, _)| *t > now - i64::from(window_secs))
                .map(|(_, s)| *s)
                .collect();
            let union: BTreeSet<u64> = window.iter().chain(req.iter()).copied().collect();
            let hits_canary = canary.is_some_and(|k| req.contains(&k));
            let got = c.touch("p", quota, &req, now);
            if suspended {
                prop_assert_eq!(got, Touch::Suspended);
            } else if hits_canary || union.len() > subjects as usize {
                let Touch::Contained(i) = got else {
                    return Err(TestCaseError::fail(format!("expected containment, got {got:?}")));
                };
                prop_assert_eq!(
                    i.trigger,
                    if hits_canary { Trigger::Canary } else { Trigger::Quota }
                );
                prop_assert_eq!(&i.subjects, &window.iter().copied().collect::<Vec<_>>());
                let refused: BTreeSet<u64> = req.iter().copied().collect();
                prop_assert_eq!(&i.refused, &refused.into_iter().collect::<Vec<_>>());
                prop_assert!(i.subjects.len() <= subjects as usize);
                suspended = true;
            } else {
                prop_assert_eq!(got, Touch::Allowed);
                obtained.extend(req.iter().map(|s| (now, *s)));
            }
            prop_assert_eq!(c.is_suspended("p"), suspended);
        }
        // Never more than the quota within any window of the model's history.
        for (t, _) in &obtained {
            let n: BTreeSet<u64> = obtained
                .iter()
                .filter(|(u, _)| *u <= *t && *u > *t - i64::from(window_secs))
                .map(|(_, s)| *s)
                .collect();
            prop_assert!(n.len() <= subjects as usize);
        }
    }
}
