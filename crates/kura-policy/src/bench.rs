//! A micro-benchmark of the per-request cost of policy checks and quota accounting, for
//! comparison with the vault's read throughput (`kura bench` runs both).
//!
//! This is the one module that reads a clock, [`std::time::Instant`], and only to measure
//! itself; no decision depends on it. Subject ids and principals are drawn from a fixed
//! seeded generator, so runs are comparable.

use std::collections::HashMap;
use std::time::Instant;

use kura_crypto::SecretKey;
use kura_model::Schema;
use serde::Serialize;

use crate::{
    Action, Containment, Decision, Mode, Policy, Principal, PrincipalKind, Quota, Request, decide,
    present,
};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BenchConfig {
    /// Number of principals, each holding one policy.
    pub principals: usize,
    /// Subject ids are drawn from `0..subjects`.
    pub subjects: u64,
    /// Decisions to time.
    pub decisions: usize,
    /// Quota touches (one subject each, as a read) to time, per thread.
    pub touches: usize,
    /// Threads touching concurrently in the second touch run.
    pub threads: usize,
    /// Simulated requests per second: `now` advances by one every this many touches.
    pub requests_per_sec: usize,
    /// The quota of every principal.
    pub quota: Quota,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            principals: 1_000,
            subjects: 1_000_000,
            decisions: 1_000_000,
            touches: 2_000_000,
            threads: 2,
            requests_per_sec: 10_000,
            quota: Quota {
                subjects: 10_000,
                window_secs: 60,
            },
        }
    }
}

/// Measured rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// The configuration measured.
    pub config: BenchConfig,
    /// Decisions per second (one thread): principal's policies looked up by id, then
    /// [`decide`], half named-field reads, half unqualified reads.
    pub decisions_per_sec: f64,
    /// Nanoseconds per decision.
    pub decide_ns: f64,
    /// Quota touches per second (one thread, one subject per touch).
    pub touches_per_sec: f64,
    /// Nanoseconds per touch.
    pub touch_ns: f64,
    /// Quota touches per second summed over `threads` threads on one shared
    /// [`Containment`].
    pub touches_per_sec_threads: f64,
    /// Nanoseconds per check (decision plus touch): what a read pays.
    pub check_ns: f64,
    /// Masked presentations per second (an e-mail, a name, a phone and an address).
    pub masks_per_sec: f64,
    /// Window entries held at the end of the single-thread touch run.
    pub entries_held: usize,
    /// Principals suspended during the runs (expected 0: the quota is not reached).
    pub suspended: usize,
}

/// SplitMix64: a small, fast, seeded generator; good enough to spread ids.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

/// Runs the benchmark. Takes seconds at the default size in a release build.
pub fn bench(config: BenchConfig) -> BenchReport {
    let schema = Schema::builtin();
    let Some(collection) = schema.collection("accounts") else {
        unreachable!("the built-in schema defines `accounts`")
    };
    let quota_json = format!(
        r#"{{"subjects":{},"window_secs":{}}}"#,
        config.quota.subjects, config.quota.window_secs
    );
    let doc = format!(
        r#"{{"collection":"accounts","purposes":["support"],"actions":["read","search"],"fields":{{"name":"plain","email":"masked","phone":"masked","birth_date":"denied"}},"quota":{quota_json}}}"#
    );
    let principals: Vec<String> = (0..config.principals.max(1))
        .map(|i| format!("svc-{i:05}"))
        .collect();
    let mut policies: HashMap<&str, Vec<Policy>> = HashMap::new();
    for p in &principals {
        // The document is built above from numbers only; a failure here is a bug in it.
        let Ok(policy) = Policy::from_json(&doc, &schema) else {
            unreachable!("the benchmark policy is valid")
        };
        policies.insert(p.as_str(), vec![policy]);
    }
    let named: Vec<String> = vec!["name".into(), "email".into()];

    // Decisions.
    let mut rng = Rng(1);
    let mut allowed = 0usize;
    let start = Instant::now();
    for i in 0..config.decisions {
        let id = &principals[rng.below(principals.len() as u64) as usize];
        let held = policies.get(id.as_str()).map_or(&[][..], Vec::as_slice);
        let principal = Principal {
            id,
            kind: PrincipalKind::Processor,
            suspended: false,
        };
        let request = Request {
            action: Action::Read,
            purpose: "support",
            collection: "accounts",
            fields: if i % 2 == 0 { Some(&named) } else { None },
            target: None,
        };
        if let Decision::Allow { fields } = decide(held, &principal, &request, collection) {
            allowed += fields.len();
        }
    }
    let decide_secs = start.elapsed().as_secs_f64();
    std::hint::black_box(allowed);

    // Touches, one thread.
    let containment = Containment::new();
    let run = |c: &Containment, seed: u64, n: usize| {
        let mut rng = Rng(seed);
        let t0 = 1_700_000_000i64;
        for i in 0..n {
            let id = &principals[rng.below(principals.len() as u64) as usize];
            let subject = rng.below(config.subjects);
            let now = t0 + (i / config.requests_per_sec.max(1)) as i64;
            std::hint::black_box(c.touch(id, config.quota, &[subject], now));
        }
    };
    let start = Instant::now();
    run(&containment, 2, config.touches);
    let touch_secs = start.elapsed().as_secs_f64();
    let stats = containment.stats();

    // Touches, several threads on one shared state.
    let shared = Containment::new();
    let threads = config.threads.max(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let shared = &shared;
            let run = &run;
            s.spawn(move || run(shared, 10 + t as u64, config.touches));
        }
    });
    let threads_secs = start.elapsed().as_secs_f64();

    // Masks.
    let key = SecretKey::from_bytes([3; 32]);
    let values = [
        ("email", "taro.yamada@example.com", "JP"),
        ("name", "山田太郎", "JP"),
        ("phone", "090-1234-5678", "JP"),
        ("postal_address", "〒100-0001 東京都千代田区千代田1-1", "JP"),
    ];
    let fields: Vec<_> = values
        .iter()
        .filter_map(|(f, v, c)| collection.field(f).map(|fd| (fd, *v, *c)))
        .collect();
    let masks = config.decisions / 4;
    let start = Instant::now();
    let mut len = 0usize;
    for i in 0..masks {
        let (f, v, c) = fields[i % fields.len()];
        len += present(Mode::Masked, "accounts", f, v, c, &key).map_or(0, |s| s.len());
    }
    let mask_secs = start.elapsed().as_secs_f64();
    std::hint::black_box(len);

    let decide_ns = decide_secs * 1e9 / config.decisions.max(1) as f64;
    let touch_ns = touch_secs * 1e9 / config.touches.max(1) as f64;
    BenchReport {
        config,
        decisions_per_sec: rate(config.decisions, decide_secs),
        decide_ns,
        touches_per_sec: rate(config.touches, touch_secs),
        touch_ns,
        touches_per_sec_threads: rate(config.touches * threads, threads_secs),
        check_ns: decide_ns + touch_ns,
        masks_per_sec: rate(masks, mask_secs),
        entries_held: stats.entries,
        suspended: stats.suspended + shared.stats().suspended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_reports_sane_numbers() {
        let r = bench(BenchConfig {
            principals: 10,
            subjects: 1_000,
            decisions: 2_000,
            touches: 2_000,
            threads: 2,
            requests_per_sec: 100,
            quota: Quota {
                subjects: 10_000,
                window_secs: 5,
            },
        });
        assert!(r.decisions_per_sec > 0.0 && r.touches_per_sec > 0.0);
        assert_eq!(r.suspended, 0);
        // 5-second window at 100 touches per second: at most ~500 entries held.
        assert!(r.entries_held <= 600, "{}", r.entries_held);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["check_ns"].as_f64().is_some());
    }
}
