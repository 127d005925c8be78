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
    /// Critical findings of the latest posture check (a gauge, set by the binary's
    /// `kura doctor` run at start and every `[posture] interval_hours`).
    pub doctor_critical: AtomicU64,
    /// High findings of the latest posture check (a gauge).
    pub doctor_high: AtomicU64,
    /// Medium findings of the latest posture check (a gauge).
    pub doctor_medium: AtomicU64,
    /// Low findings of the latest posture check (a gauge).
    pub doctor_low: AtomicU64,
    /// When the latest posture check ran, unix seconds; 0 before the first.
    pub doctor_last_run_s: AtomicU64,
    /// When a witness last cosigned a checkpoint, unix milliseconds; 0: never.
    pub witnessed_at_ms: AtomicU64,
    /// Checkpoint submissions a witness refused or did not answer.
    pub witness_failures: AtomicU64,
    /// Data keys wrapped by the key provider (new subjects).
    pub key_wraps: AtomicU64,
    /// Data keys unwrapped by the key provider (cache misses).
    pub key_unwraps: AtomicU64,
    /// Unwraps that failed (integrity, unknown KEK version, provider errors).
    pub key_unwrap_failures: AtomicU64,
    /// Root secrets derived by the key provider.
    pub key_derives: AtomicU64,
    /// Entries in the access log, as last seen by the server's log watch (a gauge).
    pub log_entries: AtomicU64,
    /// Size of the latest signed checkpoint (a gauge).
    pub checkpoint_size: AtomicU64,
    /// When this server first saw the latest checkpoint, unix milliseconds (a gauge).
    pub checkpoint_seen_at_ms: AtomicU64,
    /// HTTP responses by status class (ok: below 400). 1xx/2xx/3xx, 4xx, 5xx.
    pub responses: [AtomicU64; 3],
    /// Error responses by their stable code (a bounded set of static strings: never a
    /// value, id or principal).
    pub errors_by_code: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts one HTTP response of `status`, with its error code if it is an error.
    pub fn count_response(&self, status: u16, code: Option<&'static str>) {
        let class = match status {
            500.. => 2,
            400..=499 => 1,
            _ => 0,
        };
        Self::inc(&self.responses[class]);
        if let Some(code) = code
            && let Ok(mut m) = self.errors_by_code.lock()
        {
            *m.entry(code).or_insert(0) += 1;
        }
    }

    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the counts of a posture check that ran at `at_s` (unix seconds).
    pub fn set_posture(&self, at_s: u64, critical: u64, high: u64, medium: u64, low: u64) {
        self.doctor_critical.store(critical, Ordering::Relaxed);
        self.doctor_high.store(high, Ordering::Relaxed);
        self.doctor_medium.store(medium, Ordering::Relaxed);
        self.doctor_low.store(low, Ordering::Relaxed);
        self.doctor_last_run_s.store(at_s.max(1), Ordering::Relaxed);
    }

    /// The coarse posture for `/v1/health`: `critical` with a critical finding, `attention`
    /// with a high or medium one, `ok` otherwise, `unknown` before the first check. Never
    /// more: a finding's crate or detail is a target list for an attacker.
    #[must_use]
    pub fn posture(&self) -> &'static str {
        if self.doctor_last_run_s.load(Ordering::Relaxed) == 0 {
            "unknown"
        } else if self.doctor_critical.load(Ordering::Relaxed) > 0 {
            "critical"
        } else if self.doctor_high.load(Ordering::Relaxed)
            + self.doctor_medium.load(Ordering::Relaxed)
            > 0
        {
            "attention"
        } else {
            "ok"
        }
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
        let _ = writeln!(
            out,
            "# HELP kura_doctor_findings Findings of the latest posture check (kura doctor), by severity.\n# TYPE kura_doctor_findings gauge"
        );
        for (severity, v) in [
            ("critical", &self.doctor_critical),
            ("high", &self.doctor_high),
            ("medium", &self.doctor_medium),
            ("low", &self.doctor_low),
        ] {
            let _ = writeln!(
                out,
                "kura_doctor_findings{{severity=\"{severity}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP kura_doctor_last_run_timestamp_seconds When the latest posture check ran (0: not yet).\n# TYPE kura_doctor_last_run_timestamp_seconds gauge\nkura_doctor_last_run_timestamp_seconds {}",
            self.doctor_last_run_s.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kura_witness_last_cosigned_timestamp_seconds When a witness last cosigned a checkpoint (0: never).\n# TYPE kura_witness_last_cosigned_timestamp_seconds gauge\nkura_witness_last_cosigned_timestamp_seconds {}",
            self.witnessed_at_ms.load(Ordering::Relaxed) / 1000
        );
        let _ = writeln!(
            out,
            "# HELP kura_witness_failures_total Checkpoint submissions a witness refused or did not answer.\n# TYPE kura_witness_failures_total counter\nkura_witness_failures_total {}",
            self.witness_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kura_audit_log_entries Entries in the access log.\n# TYPE kura_audit_log_entries gauge\nkura_audit_log_entries {}",
            self.log_entries.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kura_audit_checkpoint_size Size of the latest signed checkpoint.\n# TYPE kura_audit_checkpoint_size gauge\nkura_audit_checkpoint_size {}",
            self.checkpoint_size.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kura_audit_checkpoint_timestamp_seconds When this server first saw the latest checkpoint (0: none yet).\n# TYPE kura_audit_checkpoint_timestamp_seconds gauge\nkura_audit_checkpoint_timestamp_seconds {}",
            self.checkpoint_seen_at_ms.load(Ordering::Relaxed) / 1000
        );
        let _ = writeln!(
            out,
            "# HELP kura_key_operations_total Key provider operations (wrap: new data keys; unwrap: cache misses).\n# TYPE kura_key_operations_total counter"
        );
        for (op, v) in [
            ("wrap", &self.key_wraps),
            ("unwrap", &self.key_unwraps),
            ("derive", &self.key_derives),
        ] {
            let _ = writeln!(
                out,
                "kura_key_operations_total{{op=\"{op}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP kura_key_unwrap_failures_total Data keys that did not unwrap.\n# TYPE kura_key_unwrap_failures_total counter\nkura_key_unwrap_failures_total {}",
            self.key_unwrap_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kura_http_responses_total HTTP responses by status class (ok: below 400).\n# TYPE kura_http_responses_total counter"
        );
        for (class, v) in ["ok", "4xx", "5xx"].iter().zip(&self.responses) {
            let _ = writeln!(
                out,
                "kura_http_responses_total{{class=\"{class}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP kura_http_errors_total Error responses by stable error code.\n# TYPE kura_http_errors_total counter"
        );
        if let Ok(m) = self.errors_by_code.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(out, "kura_http_errors_total{{code=\"{code}\"}} {n}");
            }
        }
        out
    }
}
