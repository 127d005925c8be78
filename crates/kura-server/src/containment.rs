//! The server's containment housekeeping: the task that refreshes the canary list from the
//! store and sweeps window entries that no longer count. What a trip does (incident, alert
//! line, metric, webhook) is `kura_admin::alert::AlertSink`.

use std::sync::Arc;
use std::time::Duration;

use kura_audit::Clock;
use kura_policy::Canaries;
use kura_store::{ContainmentStore, DirectoryStore};

/// Refreshes the canary list and sweeps window entries that no longer count (older than
/// the longest window a policy may state) every `every`, until the runtime shuts down.
pub fn spawn_housekeeping(
    canaries: Arc<Canaries>,
    directory: Arc<dyn DirectoryStore>,
    windows: Arc<dyn ContainmentStore>,
    clock: Arc<dyn Clock>,
    every: Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let (c, d, w, now_ms) = (
                canaries.clone(),
                directory.clone(),
                windows.clone(),
                clock.now_ms() as i64,
            );
            let done = tokio::task::spawn_blocking(move || {
                let longest = i64::from(kura_policy::Quota::MAX_WINDOW_SECS) * 1000;
                if let Err(e) = w.sweep_windows(now_ms - longest) {
                    tracing::error!(error = %e, "could not sweep containment windows");
                }
                d.canaries().map(|list| c.set(list))
            })
            .await;
            if let Ok(Err(e)) = done {
                tracing::error!(error = %e, "could not refresh the canary list");
            }
        }
    });
}

/// Checks open incidents for overdue obligations every `every`: sets the
/// `kura_obligations_overdue` gauges and logs each newly overdue obligation once (a `WARN`
/// line, target `kura::obligations`, naming the incident, the obligation and its deadline).
pub fn spawn_obligations_watch(
    directory: Arc<dyn DirectoryStore>,
    rules: Arc<kura_admin::obligations::Rules>,
    metrics: Arc<kura_admin::metrics::Metrics>,
    clock: Arc<dyn Clock>,
    every: Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut logged: std::collections::HashSet<(String, String)> = Default::default();
        loop {
            tick.tick().await;
            let (d, r, now) = (directory.clone(), rules.clone(), clock.now_ms());
            let found =
                tokio::task::spawn_blocking(move || kura_admin::obligations::overdue(&*d, &r, now))
                    .await;
            match found {
                Ok(Ok(list)) => {
                    let soft = list.iter().filter(|o| o.soft).count() as u64;
                    metrics.obligations_overdue.store(
                        list.len() as u64 - soft,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    metrics
                        .obligations_overdue_soft
                        .store(soft, std::sync::atomic::Ordering::Relaxed);
                    for o in list {
                        if logged.insert((o.incident.clone(), o.obligation.clone())) {
                            tracing::warn!(target: "kura::obligations", incident = %o.incident,
                                obligation = %o.obligation, deadline = %o.deadline, soft = o.soft,
                                "obligation overdue");
                        }
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "could not check obligations"),
                Err(e) => tracing::error!(error = %e, "obligations watch failed"),
            }
        }
    });
}
