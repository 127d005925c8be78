//! Counters in the Prometheus text exposition format, served at `/v1/metrics` to operators.
//! Counts only: no principal id, subject id or field value is ever a label.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The server's counters. Monotonic for the process's life.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Containment trips by a quota.
    pub containment_quota: AtomicU64,
    /// Containment trips by a canary.
    pub containment_canary: AtomicU64,
    /// Containment trips by the probe budget (searches without a hit).
    pub containment_probe: AtomicU64,
    /// Containment alerts whose webhook delivery failed.
    pub webhook_failures: AtomicU64,
    /// Requests refused by policy (403), any code.
    pub denied: AtomicU64,
    /// Obligations of open incidents past their legal deadline (a gauge, set by the
    /// server's obligations watch).
    pub obligations_overdue: AtomicU64,
    /// Of open incidents, guidance targets passed (a gauge).
    pub obligations_overdue_soft: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the current gauge value passed in.
    pub fn render(&self, canaries: usize) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, labels: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name}{labels} {v}");
        };
        counter(
            "kura_containment_trips_total",
            "Requests that tripped containment and suspended their principal.",
            "{trigger=\"quota\"}",
            self.containment_quota.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "kura_containment_trips_total{{trigger=\"canary\"}} {}",
            self.containment_canary.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "kura_containment_trips_total{{trigger=\"probe\"}} {}",
            self.containment_probe.load(Ordering::Relaxed)
        );
        let mut more = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {v}");
        };
        more(
            "kura_containment_webhook_failures_total",
            "Containment alerts the webhook did not accept.",
            "counter",
            self.webhook_failures.load(Ordering::Relaxed),
        );
        more(
            "kura_requests_denied_total",
            "Requests refused by policy or suspension (HTTP 403).",
            "counter",
            self.denied.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP kura_obligations_overdue Reports and notices of open incidents past their deadline (soft: a guidance target).\n# TYPE kura_obligations_overdue gauge\nkura_obligations_overdue{{soft=\"false\"}} {}\nkura_obligations_overdue{{soft=\"true\"}} {}",
            self.obligations_overdue.load(Ordering::Relaxed),
            self.obligations_overdue_soft.load(Ordering::Relaxed)
        );
        let mut more = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {v}");
        };
        more(
            "kura_canaries",
            "Canary subjects this process watches.",
            "gauge",
            canaries as u64,
        );
        out
    }
}
