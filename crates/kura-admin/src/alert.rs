//! What happens when containment trips: the suspension and an incident
//! ([`crate::incident::open_from_trip`]) are recorded in the store, and an alert is raised three ways — a `WARN` log line (target `kura::alert`), a
//! metric, and a JSON POST to the configured webhook. None of them carries a subject id or a
//! field value; the incident record (operators only) holds the subjects obtained.
//!
//! The principal itself is suspended by the store in the transaction that counted the trip
//! (`kura_store::ContainmentStore`), so every server refuses it from its next request.

use std::sync::Arc;
use std::time::Duration;

use kura_policy::DraftIncident;
use kura_store::DirectoryStore;
use kura_vault::ContainmentSink;
use serde_json::json;

use crate::metrics::Metrics;

/// Records trips and raises alerts.
pub struct AlertSink {
    directory: Arc<dyn DirectoryStore>,
    metrics: Arc<Metrics>,
    webhook: Option<String>,
}

impl std::fmt::Debug for AlertSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSink")
            .field("webhook", &self.webhook.is_some())
            .finish_non_exhaustive()
    }
}

impl AlertSink {
    /// A sink writing to `directory`, counting in `metrics`, posting to `webhook` (an
    /// `http://` URL) if given.
    pub fn new(
        directory: Arc<dyn DirectoryStore>,
        metrics: Arc<Metrics>,
        webhook: Option<String>,
    ) -> Self {
        AlertSink {
            directory,
            metrics,
            webhook,
        }
    }

    fn record(
        &self,
        incident: &DraftIncident,
        principal: Option<&kura_store::PrincipalRecord>,
        time_ms: u64,
        id: &str,
    ) -> Result<(), String> {
        let obtained = self
            .directory
            .subject_ids(&incident.subjects)
            .map_err(|e| e.to_string())?;
        let body = json!({
            "trigger": incident.trigger,
            "window_start": incident.window_start,
            "window_end": incident.window_end,
            "quota": incident.quota,
            "subjects_obtained": obtained.iter().map(|(_, id)| id.to_string()).collect::<Vec<_>>(),
            "subjects_obtained_iids": incident.subjects,
            "subjects_refused": incident.refused.len(),
            "canaries_hit": incident.canaries.len(),
        });
        crate::incident::open_from_trip(
            &*self.directory,
            &crate::incident::Trip {
                id,
                trigger: incident.trigger.as_str(),
                principal: &incident.principal,
                org: principal.map(|p| p.org.as_str()),
                window: (incident.window_start, incident.window_end),
                time_ms,
                detail: body,
            },
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    fn post(&self, payload: serde_json::Value) {
        let Some(url) = self.webhook.clone() else {
            return;
        };
        let metrics = self.metrics.clone();
        // Off the request's thread: the refusal does not wait for the receiver.
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            let sent = agent
                .post(&url)
                .header("content-type", "application/json")
                .send(payload.to_string());
            if let Err(e) = sent {
                Metrics::inc(&metrics.webhook_failures);
                // Webhook URLs often carry a secret; say what failed, never where.
                let why = match &e {
                    ureq::Error::StatusCode(c) => format!("answered HTTP {c}"),
                    ureq::Error::Timeout(_) => "timed out".to_owned(),
                    ureq::Error::Io(io) => format!("I/O error ({:?})", io.kind()),
                    _ => "could not be delivered".to_owned(),
                };
                tracing::error!(target: "kura::alert", "containment webhook {why}");
            }
        });
    }
}

impl ContainmentSink for AlertSink {
    fn contained(&self, incident: &DraftIncident, id: &str, time_ms: u64) {
        match incident.trigger {
            kura_policy::Trigger::Quota => Metrics::inc(&self.metrics.containment_quota),
            kura_policy::Trigger::Canary => Metrics::inc(&self.metrics.containment_canary),
            _ => Metrics::inc(&self.metrics.containment_probe),
        }
        tracing::warn!(target: "kura::alert", incident = %id, "{incident}");
        let principal = self.directory.principal(&incident.principal);
        let recorded = principal
            .as_ref()
            .map_err(ToString::to_string)
            .and_then(|p| self.record(incident, p.as_ref(), time_ms, id));
        if let Err(e) = recorded {
            // The principal is suspended in the store regardless; an operator must look.
            tracing::error!(target: "kura::alert", incident = %id, error = %e,
                "could not record the containment incident; the principal is suspended");
        }
        let org = principal.ok().flatten().map(|p| p.org);
        self.post(json!({
            "event": "containment",
            "incident": id,
            "principal": incident.principal,
            "org": org,
            "trigger": incident.trigger,
            "window_start": incident.window_start,
            "window_end": incident.window_end,
            "subjects_obtained": incident.subjects.len(),
            "subjects_refused": incident.refused.len(),
        }));
    }
}
