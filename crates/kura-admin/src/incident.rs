//! Incidents: declared by an operator (`kura incident declare`, `POST /v1/incidents`) or
//! opened by a containment trip; their timeline; their exposure matrices, one stored version
//! per computation.
//!
//! # Invariants
//! - Every change is one timeline entry and one access event, written in the same
//!   transaction: the event's request id is the incident id and its fields carry the entry's
//!   number and the SHA-256 of its canonical JSON, so the timeline is in the verifiable log
//!   and an evidence bundle can prove each entry ([`crate::evidence`]).
//! - Each timestamp (detected, aware — per organization —, reported by a processor, scope
//!   determined, law-enforcement hold start and end) is set by a principal with a reason;
//!   setting it again keeps the earlier value in the timeline.
//! - Updates are a compare-and-swap on the stored incident: two operators at once never
//!   lose an entry (the loser retries on the new state).
//! - A closed incident refuses changes (`incident_closed`) until reopened, with a reason.
//! - A matrix version is written once with the signed checkpoint it was computed at, and
//!   never changed; recomputing adds a version.

use std::collections::BTreeSet;

use kura_audit::{AccessEvent, Action, Clock};
use kura_model::Schema;
use kura_scope::{Matrix, Scope, Vector};
use kura_store::{AuditStore, DirectoryStore, IncidentRecord, IncidentScopeRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::directory::AdminError;

/// The timestamps an incident keeps, each set by a principal with a reason.
pub const STAMPS: &[&str] = &[
    "detected",
    "aware",
    "processor_reported",
    "scope_determined",
    "hold_start",
    "hold_end",
    "notice_sent",
    "materiality_determined",
];

/// Purpose recorded on every incident event.
pub const PURPOSE: &str = "incident_response";

/// How far ahead of the clock a timestamp may be set (clock skew between an operator's
/// machine and the server), in ms.
const FUTURE_SLACK_MS: u64 = 5 * 60 * 1000;

/// An incident's window of suspicion, unix ms, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Start, unix ms.
    pub from_ms: u64,
    /// End, unix ms.
    pub to_ms: u64,
}

/// One timestamp's current value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    /// One of [`STAMPS`].
    pub name: String,
    /// For `aware`: the organization that became aware (each has its own clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// When, unix ms.
    pub at_ms: u64,
    /// Who set it.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// One change to an incident, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1, 2, ... in order.
    pub seq: u32,
    /// When recorded, unix ms (the server's clock).
    pub at_ms: u64,
    /// Who.
    pub by: String,
    /// `opened`, `updated`, `closed` or `reopened`.
    pub change: String,
    /// What changed (the new values).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Why.
    pub reason: String,
}

impl Entry {
    /// The SHA-256 of the entry's canonical JSON: what its access event records.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(serde_json::to_vec(self).unwrap_or_default().as_slice()).into()
    }

    /// The field entries of the access event recording it.
    pub fn event_fields(&self) -> [String; 2] {
        [
            format!("entry:{}", self.seq),
            format!("sha256:{}", hex(&self.digest())),
        ]
    }
}

/// An incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Id (UUIDv7).
    pub id: String,
    /// Title.
    pub title: String,
    /// `open` or `closed`.
    pub status: String,
    /// `declared` (by an operator) or the containment trigger (`quota`, `canary`, `probe`).
    pub trigger: String,
    /// How the data is believed to have left: `stolen_key`, `processor`, `db_dump`,
    /// `backup`, `insider`, `other`.
    pub vector: String,
    /// Suspect principals.
    pub suspects: Vec<String>,
    /// For a dump or backup: whether the keys left with it.
    pub keys_exposed: bool,
    /// The leak had (possibly) an unlawful purpose; none: assumed for every vector but
    /// `other` (APPI counts unauthorized access as one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlawful_purpose: Option<bool>,
    /// Sensitive (special-category) data is involved; none: no.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    /// The window of suspicion; none: from the beginning of the log to the scoping run.
    pub window: Option<Window>,
    /// The organization concerned.
    pub org: Option<String>,
    /// Unix ms.
    pub opened_at_ms: u64,
    /// Who opened it (`kura` for a containment trip).
    pub opened_by: String,
    /// The current timestamps.
    pub stamps: Vec<Stamp>,
    /// Every change, in order.
    pub timeline: Vec<Entry>,
    /// For a containment trip: what the trip recorded (quota, window, subjects obtained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub containment: Option<serde_json::Value>,
    /// Report items written by the officer, per obligation rule (`jp-appi-final`): item →
    /// text. What kura can state itself (counts, categories, dates, contact) it fills in.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reports: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// What an operator declares.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    /// Title (1-200 printable characters).
    pub title: String,
    /// Vector (default `other`).
    #[serde(default)]
    pub vector: Option<String>,
    /// Suspect principals (each must exist).
    #[serde(default)]
    pub suspects: Vec<String>,
    /// Keys exposed with a dump or backup.
    #[serde(default)]
    pub keys_exposed: bool,
    /// Window.
    #[serde(default)]
    pub window: Option<Window>,
    /// Organization concerned (must exist).
    #[serde(default)]
    pub org: Option<String>,
    /// Why it is declared (default: the title).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A timestamp to set.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StampInput {
    /// One of [`STAMPS`].
    pub name: String,
    /// For `aware`: the organization (required there, refused elsewhere).
    #[serde(default)]
    pub org: Option<String>,
    /// When, unix ms (not more than five minutes ahead of the server's clock).
    pub at_ms: u64,
}

/// A change to an incident: any of the fields, and a reason (required).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentChange {
    /// New title.
    #[serde(default)]
    pub title: Option<String>,
    /// New vector.
    #[serde(default)]
    pub vector: Option<String>,
    /// New suspects (replacing the list).
    #[serde(default)]
    pub suspects: Option<Vec<String>>,
    /// Keys exposed.
    #[serde(default)]
    pub keys_exposed: Option<bool>,
    /// A (possibly) unlawful purpose.
    #[serde(default)]
    pub unlawful_purpose: Option<bool>,
    /// Sensitive data involved.
    #[serde(default)]
    pub sensitive: Option<bool>,
    /// New window.
    #[serde(default)]
    pub window: Option<Window>,
    /// Organization concerned.
    #[serde(default)]
    pub org: Option<String>,
    /// Timestamps to set.
    #[serde(default)]
    pub stamps: Vec<StampInput>,
    /// Why (1-500 printable characters).
    pub reason: String,
}

/// An incident as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentSummary {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `open` or `closed`.
    pub status: String,
    /// `declared`, `quota`, `canary`, `probe`.
    pub trigger: String,
    /// Vector.
    pub vector: String,
    /// Suspects.
    pub suspects: Vec<String>,
    /// Organization.
    pub org: Option<String>,
    /// Unix ms.
    pub opened_at_ms: u64,
    /// Matrix versions computed.
    pub scope_versions: u32,
}

/// One stored matrix version, as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScopeVersion {
    /// The incident.
    pub incident: String,
    /// 1, 2, ...
    pub version: u32,
    /// Unix ms.
    pub computed_at_ms: i64,
    /// Who ran it.
    pub by: String,
    /// The log size it was computed over.
    pub tree_size: u64,
    /// The signed checkpoint at that size.
    pub checkpoint: String,
    /// Hex SHA-256 of the matrix and its subject sets.
    pub digest: String,
    /// The matrix (counts; subjects are kept in the store for notices, by internal id).
    #[schema(value_type = Object)]
    pub matrix: serde_json::Value,
}

impl From<&IncidentScopeRecord> for ScopeVersion {
    fn from(r: &IncidentScopeRecord) -> Self {
        ScopeVersion {
            incident: r.incident.clone(),
            version: r.version,
            computed_at_ms: r.computed_at,
            by: r.by.clone(),
            tree_size: r.tree_size,
            checkpoint: r.checkpoint.clone(),
            digest: r.digest.clone(),
            matrix: serde_json::from_str(&r.matrix).unwrap_or(serde_json::Value::Null),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub(crate) fn text(field: &str, v: &str, max: usize) -> Result<String, AdminError> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            "invalid_value",
            format!("`{field}` must be 1 to {max} printable characters"),
        ));
    }
    Ok(t.to_owned())
}

fn vector(v: &str) -> Result<Vector, AdminError> {
    Vector::parse(v).ok_or_else(|| {
        AdminError::invalid(
            "invalid_vector",
            format!(
                "unknown vector `{v}`: stolen_key, processor, db_dump, backup, insider or other"
            ),
        )
    })
}

fn check_window(w: &Window) -> Result<(), AdminError> {
    if w.to_ms < w.from_ms {
        return Err(AdminError::invalid(
            "invalid_window",
            "the window ends before it starts",
        ));
    }
    Ok(())
}

fn check_suspects(
    store: &dyn DirectoryStore,
    suspects: &[String],
) -> Result<Vec<String>, AdminError> {
    let set: BTreeSet<String> = suspects.iter().map(|s| s.trim().to_owned()).collect();
    if set.len() > 64 {
        return Err(AdminError::invalid(
            "invalid_value",
            "at most 64 suspects per incident",
        ));
    }
    for s in &set {
        if store.principal(s)?.is_none() {
            return Err(AdminError::invalid(
                "unknown_principal",
                format!("no principal `{s}`"),
            ));
        }
    }
    Ok(set.into_iter().collect())
}

fn check_org(store: &dyn DirectoryStore, org: &str) -> Result<(), AdminError> {
    if store.organization(org)?.is_none() {
        return Err(AdminError::invalid(
            "unknown_org",
            format!("no organization `{org}`"),
        ));
    }
    Ok(())
}

fn leaf(entry: &Entry, id: &str, action: Action) -> Result<Vec<u8>, AdminError> {
    Ok(
        AccessEvent::new(entry.at_ms, &entry.by, PURPOSE, action, "", id)
            .with_fields(entry.event_fields())
            .to_leaf()?,
    )
}

fn record(i: &Incident) -> Result<IncidentRecord, AdminError> {
    Ok(IncidentRecord {
        id: i.id.clone(),
        opened_at: (i.opened_at_ms / 1000) as i64,
        principal: i.opened_by.clone(),
        org: i.org.clone(),
        trigger: i.trigger.clone(),
        status: i.status.clone(),
        body: serde_json::to_string(i)
            .map_err(|e| AdminError::invalid("internal", e.to_string()))?,
    })
}

/// Reads a stored incident. A containment draft written before incidents had a workflow is
/// read as an open stolen-key incident on its principal and window, with an empty timeline.
fn parse(r: &IncidentRecord) -> Result<Incident, AdminError> {
    let body: serde_json::Value = serde_json::from_str(&r.body).map_err(|e| {
        AdminError::Store(kura_store::StoreError::Corrupt(format!(
            "incident {} does not parse: {e}",
            r.id
        )))
    })?;
    if body.get("timeline").is_some() {
        return serde_json::from_value(body).map_err(|e| {
            AdminError::Store(kura_store::StoreError::Corrupt(format!(
                "incident {} does not parse: {e}",
                r.id
            )))
        });
    }
    let secs = |k: &str| body[k].as_i64().map(|s| s.max(0) as u64 * 1000);
    let window = match (secs("window_start"), secs("window_end")) {
        (Some(from_ms), Some(to)) => Some(Window {
            from_ms,
            to_ms: to + 999,
        }),
        _ => None,
    };
    Ok(Incident {
        id: r.id.clone(),
        title: format!("containment: {} tripped by {}", r.trigger, r.principal),
        status: "open".to_owned(),
        trigger: r.trigger.clone(),
        vector: Vector::StolenKey.as_str().to_owned(),
        suspects: vec![r.principal.clone()],
        keys_exposed: false,
        unlawful_purpose: None,
        sensitive: None,
        window,
        org: r.org.clone(),
        opened_at_ms: r.opened_at.max(0) as u64 * 1000,
        opened_by: "kura".to_owned(),
        stamps: Vec::new(),
        timeline: Vec::new(),
        containment: Some(body),
        reports: Default::default(),
    })
}

/// One incident.
///
/// # Errors
/// `not_found`; store failures.
pub fn show(store: &dyn DirectoryStore, id: &str) -> Result<Incident, AdminError> {
    let r = store
        .incident(id)?
        .ok_or_else(|| AdminError::NotFound(format!("no incident `{id}`")))?;
    parse(&r)
}

/// Every incident, newest first.
///
/// # Errors
/// Store failures.
pub fn list(store: &dyn DirectoryStore) -> Result<Vec<IncidentSummary>, AdminError> {
    let mut out = Vec::new();
    for r in store.incidents()? {
        let i = parse(&r)?;
        // Versions are numbered 1, 2, ... so the latest is the count (and its sets, which
        // can be large, are not read).
        let versions = store.latest_incident_matrix(&i.id)?.map_or(0, |(v, _)| v);
        out.push(IncidentSummary {
            id: i.id,
            title: i.title,
            status: i.status,
            trigger: i.trigger,
            vector: i.vector,
            suspects: i.suspects,
            org: i.org,
            opened_at_ms: i.opened_at_ms,
            scope_versions: versions,
        });
    }
    Ok(out)
}

/// Declares an incident.
///
/// # Errors
/// `invalid_value`, `invalid_vector`, `invalid_window`, `unknown_principal`, `unknown_org`;
/// store failures.
pub fn declare(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    input: NewIncident,
) -> Result<Incident, AdminError> {
    let title = text("title", &input.title, 200)?;
    let vector = vector(input.vector.as_deref().unwrap_or("other"))?;
    if let Some(w) = &input.window {
        check_window(w)?;
    }
    let suspects = check_suspects(store, &input.suspects)?;
    if let Some(o) = &input.org {
        check_org(store, o)?;
    }
    let reason = match &input.reason {
        Some(r) => text("reason", r, 500)?,
        None => title.clone(),
    };
    let now = clock.now_ms();
    let id = Uuid::now_v7().to_string();
    let entry = Entry {
        seq: 1,
        at_ms: now,
        by: by.to_owned(),
        change: "opened".to_owned(),
        detail: serde_json::json!({
            "title": title, "vector": vector.as_str(), "suspects": suspects,
            "keys_exposed": input.keys_exposed, "window": input.window, "org": input.org,
        }),
        reason,
    };
    let incident = Incident {
        id: id.clone(),
        title,
        status: "open".to_owned(),
        trigger: "declared".to_owned(),
        vector: vector.as_str().to_owned(),
        suspects,
        keys_exposed: input.keys_exposed,
        unlawful_purpose: None,
        sensitive: None,
        window: input.window,
        org: input.org,
        opened_at_ms: now,
        opened_by: by.to_owned(),
        stamps: Vec::new(),
        timeline: vec![entry.clone()],
        containment: None,
        reports: Default::default(),
    };
    store.insert_incident(
        &record(&incident)?,
        &[leaf(&entry, &id, Action::IncidentOpen)?],
    )?;
    Ok(incident)
}

/// What a containment trip records (see [`crate::alert`]).
#[derive(Debug, Clone)]
pub struct Trip<'a> {
    /// The incident id the trip was given.
    pub id: &'a str,
    /// `quota`, `canary`, `probe`.
    pub trigger: &'a str,
    /// The principal suspended.
    pub principal: &'a str,
    /// Its organization.
    pub org: Option<&'a str>,
    /// The containment window, unix seconds.
    pub window: (i64, i64),
    /// When, unix ms.
    pub time_ms: u64,
    /// What the trip saw (quota, subjects obtained, ...).
    pub detail: serde_json::Value,
}

/// Opens the incident of a containment trip: a stolen-key incident on the tripped principal,
/// over the containment window, opened by `kura`.
///
/// # Errors
/// Store failures.
pub fn open_from_trip(store: &dyn DirectoryStore, trip: &Trip<'_>) -> Result<Incident, AdminError> {
    let window = Window {
        from_ms: trip.window.0.max(0) as u64 * 1000,
        to_ms: trip.window.1.max(0) as u64 * 1000 + 999,
    };
    let title = format!(
        "containment: {} tripped by {}",
        trip.trigger, trip.principal
    );
    let entry = Entry {
        seq: 1,
        at_ms: trip.time_ms,
        by: "kura".to_owned(),
        change: "opened".to_owned(),
        detail: serde_json::json!({
            "title": title, "vector": Vector::StolenKey.as_str(), "suspects": [trip.principal],
            "window": window, "org": trip.org, "trigger": trip.trigger,
        }),
        reason: format!("containment tripped ({})", trip.trigger),
    };
    let incident = Incident {
        id: trip.id.to_owned(),
        title,
        status: "open".to_owned(),
        trigger: trip.trigger.to_owned(),
        vector: Vector::StolenKey.as_str().to_owned(),
        suspects: vec![trip.principal.to_owned()],
        keys_exposed: false,
        unlawful_purpose: None,
        sensitive: None,
        window: Some(window),
        org: trip.org.map(str::to_owned),
        opened_at_ms: trip.time_ms,
        opened_by: "kura".to_owned(),
        stamps: vec![Stamp {
            name: "detected".to_owned(),
            org: None,
            at_ms: trip.time_ms,
            by: "kura".to_owned(),
            reason: format!("containment tripped ({})", trip.trigger),
        }],
        timeline: vec![entry.clone()],
        containment: Some(trip.detail.clone()),
        reports: Default::default(),
    };
    // The record's principal is the one that tripped (what supervision reports list).
    let rec = IncidentRecord {
        principal: trip.principal.to_owned(),
        ..record(&incident)?
    };
    store.insert_incident(&rec, &[leaf(&entry, trip.id, Action::IncidentOpen)?])?;
    Ok(incident)
}

/// A change to apply to an incident read from the store: the entry's `change` and `detail`.
pub(crate) type Change<'a> =
    &'a dyn Fn(&mut Incident) -> Result<(String, serde_json::Value), AdminError>;

/// Applies one change with compare-and-swap, retrying on a concurrent change.
pub(crate) fn mutate(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    id: &str,
    action: Action,
    reason: &str,
    f: Change<'_>,
) -> Result<Incident, AdminError> {
    let reason = text("reason", reason, 500)?;
    for _ in 0..16 {
        let r = store
            .incident(id)?
            .ok_or_else(|| AdminError::NotFound(format!("no incident `{id}`")))?;
        let mut i = parse(&r)?;
        let (change, detail) = f(&mut i)?;
        let entry = Entry {
            seq: i.timeline.last().map_or(1, |e| e.seq + 1),
            at_ms: clock.now_ms(),
            by: by.to_owned(),
            change,
            detail,
            reason: reason.clone(),
        };
        i.timeline.push(entry.clone());
        if store.replace_incident(&r.body, &record(&i)?, &[leaf(&entry, id, action)?])? {
            return Ok(i);
        }
    }
    Err(AdminError::Conflict(format!(
        "incident `{id}` keeps changing; try again"
    )))
}

/// Adds a `principal_reinstated` entry with `reason` to every open incident naming
/// `principal` as a suspect; returns their ids.
///
/// # Errors
/// Store failures; `invalid_value` for a bad reason.
pub(crate) fn note_reinstatement(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    principal: &str,
    reason: &str,
) -> Result<Vec<String>, AdminError> {
    let mut noted = Vec::new();
    for r in store.incidents()? {
        let i = parse(&r)?;
        if i.status == "closed" || !i.suspects.iter().any(|s| s == principal) {
            continue;
        }
        mutate(
            store,
            clock,
            by,
            &i.id,
            Action::PrincipalReinstate,
            reason,
            &|_| {
                Ok((
                    "principal_reinstated".to_owned(),
                    serde_json::json!({ "principal": principal }),
                ))
            },
        )?;
        noted.push(i.id);
    }
    Ok(noted)
}

pub(crate) fn open_only(i: &Incident) -> Result<(), AdminError> {
    if i.status == "closed" {
        return Err(AdminError::invalid(
            "incident_closed",
            format!("incident `{}` is closed; reopen it first", i.id),
        ));
    }
    Ok(())
}

/// Changes an incident: title, vector, suspects, window, organization, and timestamps.
///
/// # Errors
/// `not_found`, `incident_closed`, `empty_change`, `invalid_value`, `invalid_vector`,
/// `invalid_window`, `invalid_stamp`, `unknown_principal`, `unknown_org`; store failures.
pub fn update(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    id: &str,
    change: IncidentChange,
) -> Result<Incident, AdminError> {
    // Validate everything before touching anything.
    let title = change
        .title
        .as_deref()
        .map(|t| text("title", t, 200))
        .transpose()?;
    let vec = change.vector.as_deref().map(vector).transpose()?;
    if let Some(w) = &change.window {
        check_window(w)?;
    }
    let suspects = change
        .suspects
        .as_deref()
        .map(|s| check_suspects(store, s))
        .transpose()?;
    if let Some(o) = &change.org {
        check_org(store, o)?;
    }
    let now = clock.now_ms();
    for s in &change.stamps {
        if !STAMPS.contains(&s.name.as_str()) {
            return Err(AdminError::invalid(
                "invalid_stamp",
                format!(
                    "unknown timestamp `{}`: one of {}",
                    s.name,
                    STAMPS.join(", ")
                ),
            ));
        }
        match (&s.org, s.name == "aware") {
            (None, true) => {
                return Err(AdminError::invalid(
                    "invalid_stamp",
                    "`aware` is kept per organization: name the organization",
                ));
            }
            (Some(_), false) => {
                return Err(AdminError::invalid(
                    "invalid_stamp",
                    format!("`{}` is not kept per organization", s.name),
                ));
            }
            (Some(o), true) => check_org(store, o)?,
            (None, false) => {}
        }
        if s.at_ms > now + FUTURE_SLACK_MS {
            return Err(AdminError::invalid(
                "invalid_stamp",
                format!("`{}` is set in the future", s.name),
            ));
        }
    }
    if title.is_none()
        && vec.is_none()
        && change.window.is_none()
        && suspects.is_none()
        && change.org.is_none()
        && change.keys_exposed.is_none()
        && change.unlawful_purpose.is_none()
        && change.sensitive.is_none()
        && change.stamps.is_empty()
    {
        return Err(AdminError::invalid("empty_change", "nothing to change"));
    }
    let reason = change.reason.clone();
    mutate(
        store,
        clock,
        by,
        id,
        Action::IncidentUpdate,
        &reason,
        &|i| {
            open_only(i)?;
            let mut detail = serde_json::Map::new();
            if let Some(t) = &title {
                i.title = t.clone();
                detail.insert("title".into(), t.clone().into());
            }
            if let Some(v) = vec {
                i.vector = v.as_str().to_owned();
                detail.insert("vector".into(), v.as_str().into());
            }
            if let Some(s) = &suspects {
                i.suspects = s.clone();
                detail.insert("suspects".into(), serde_json::json!(s));
            }
            if let Some(k) = change.keys_exposed {
                i.keys_exposed = k;
                detail.insert("keys_exposed".into(), k.into());
            }
            if let Some(k) = change.unlawful_purpose {
                i.unlawful_purpose = Some(k);
                detail.insert("unlawful_purpose".into(), k.into());
            }
            if let Some(k) = change.sensitive {
                i.sensitive = Some(k);
                detail.insert("sensitive".into(), k.into());
            }
            if let Some(w) = change.window {
                i.window = Some(w);
                detail.insert("window".into(), serde_json::json!(w));
            }
            if let Some(o) = &change.org {
                i.org = Some(o.clone());
                detail.insert("org".into(), o.clone().into());
            }
            let mut stamps = Vec::new();
            for s in &change.stamps {
                let stamp = Stamp {
                    name: s.name.clone(),
                    org: s.org.clone(),
                    at_ms: s.at_ms,
                    by: by.to_owned(),
                    reason: reason.trim().to_owned(),
                };
                i.stamps
                    .retain(|old| !(old.name == stamp.name && old.org == stamp.org));
                i.stamps.push(stamp);
                stamps.push(serde_json::json!({"name": s.name, "org": s.org, "at_ms": s.at_ms}));
            }
            i.stamps
                .sort_by(|a, b| (&a.name, &a.org).cmp(&(&b.name, &b.org)));
            if let (Some(start), Some(end)) = (
                i.stamps.iter().find(|s| s.name == "hold_start"),
                i.stamps.iter().find(|s| s.name == "hold_end"),
            ) && end.at_ms < start.at_ms
            {
                return Err(AdminError::invalid(
                    "invalid_stamp",
                    "the law-enforcement hold ends before it starts",
                ));
            }
            if !stamps.is_empty() {
                detail.insert("stamps".into(), serde_json::Value::Array(stamps));
            }
            Ok(("updated".to_owned(), serde_json::Value::Object(detail)))
        },
    )
}

/// Closes an incident (`reopen: false`) or reopens it.
///
/// # Errors
/// `not_found`, `already_closed`, `not_closed`, `invalid_value`; store failures.
pub fn set_closed(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    by: &str,
    id: &str,
    reason: &str,
    reopen: bool,
) -> Result<Incident, AdminError> {
    mutate(
        store,
        clock,
        by,
        id,
        Action::IncidentClose,
        reason,
        &|i| match (reopen, i.status.as_str()) {
            (false, "closed") => Err(AdminError::invalid(
                "already_closed",
                format!("incident `{}` is already closed", i.id),
            )),
            (true, s) if s != "closed" => Err(AdminError::invalid(
                "not_closed",
                format!("incident `{}` is not closed", i.id),
            )),
            (false, _) => {
                i.status = "closed".to_owned();
                Ok(("closed".to_owned(), serde_json::json!({})))
            }
            (true, _) => {
                i.status = "open".to_owned();
                Ok(("reopened".to_owned(), serde_json::json!({})))
            }
        },
    )
}

/// A checkpoint to compute at: its size and its signed note.
#[derive(Debug, Clone)]
pub struct At {
    /// Log size.
    pub tree_size: u64,
    /// Signed checkpoint note text at that size.
    pub checkpoint: String,
}

/// The scope of an incident as kura_scope takes it: suspects' grants for a stolen key or a
/// processor, canaries, the window (default: the log's whole history).
///
/// # Errors
/// As [`crate::scope::grants_of`]; store failures.
pub fn scope_of(
    directory: &dyn DirectoryStore,
    schema: &Schema,
    i: &Incident,
) -> Result<Scope, AdminError> {
    let vector = vector(&i.vector)?;
    let suspects: BTreeSet<String> = i.suspects.iter().cloned().collect();
    if matches!(
        vector,
        Vector::StolenKey | Vector::Processor | Vector::Insider
    ) && suspects.is_empty()
    {
        return Err(AdminError::invalid(
            "suspect_required",
            format!(
                "vector `{}` needs a suspect: name one with `--suspect`",
                i.vector
            ),
        ));
    }
    let grants = if matches!(vector, Vector::StolenKey | Vector::Processor) {
        crate::scope::grants_of(directory, schema, &suspects)?
    } else {
        Vec::new()
    };
    let mut orgs = std::collections::BTreeMap::new();
    for s in &suspects {
        if let Some(p) = directory.principal(s)? {
            orgs.insert(s.clone(), p.org);
        }
    }
    let window = i.window.unwrap_or(Window {
        from_ms: 0,
        to_ms: u64::MAX,
    });
    Ok(Scope {
        from_ms: window.from_ms,
        to_ms: window.to_ms,
        suspects,
        vector,
        keys_exposed: i.keys_exposed,
        grants,
        canaries: directory.canaries()?.into_iter().collect(),
        orgs,
    })
}

/// Computes a new version of an incident's matrix at checkpoint `at`, stores it and records
/// the run in the access log (`incident_scope`, with the version, tree size and digest).
///
/// # Errors
/// `not_found`, `suspect_required`, `invalid_checkpoint` (`at` beyond the log); as
/// [`crate::scope::compute`]; `conflict` when another run stored the same version first.
#[allow(clippy::too_many_arguments)]
pub fn scope(
    audit: &dyn AuditStore,
    directory: &dyn DirectoryStore,
    schema: &Schema,
    clock: &dyn Clock,
    by: &str,
    id: &str,
    at: &At,
    progress: crate::scope::Progress<'_>,
) -> Result<(ScopeVersion, Matrix), AdminError> {
    let i = show(directory, id)?;
    let scope = scope_of(directory, schema, &i)?;
    if at.tree_size > audit.audit_size()? {
        return Err(AdminError::invalid(
            "invalid_checkpoint",
            "the checkpoint is beyond the log",
        ));
    }
    let matrix = crate::scope::compute(audit, schema, scope, at.tree_size, progress)?;
    let version = directory
        .latest_incident_matrix(id)?
        .map_or(1, |(v, _)| v + 1);
    let digest = hex(&matrix.digest());
    let now = clock.now_ms();
    let rec = IncidentScopeRecord {
        incident: id.to_owned(),
        version,
        computed_at: now as i64,
        by: by.to_owned(),
        tree_size: at.tree_size,
        checkpoint: at.checkpoint.clone(),
        digest: digest.clone(),
        matrix: matrix.canonical_json(),
        sets: matrix.sets().encode(),
    };
    let ev = AccessEvent::new(now, by, PURPOSE, Action::IncidentScope, "", id).with_fields([
        format!("version:{version}"),
        format!("tree_size:{}", at.tree_size),
        format!("digest:{digest}"),
    ]);
    directory.insert_incident_scope(&rec, &[ev.to_leaf()?])?;
    Ok((ScopeVersion::from(&rec), matrix))
}

/// [`scope`] at the latest signed checkpoint (events since are in the next version), without
/// progress reports: what the API and the console run.
///
/// # Errors
/// `conflict` when the log has no signed checkpoint yet; as [`scope`].
pub fn scope_at_latest(
    audit: &dyn AuditStore,
    directory: &dyn DirectoryStore,
    schema: &Schema,
    clock: &dyn Clock,
    by: &str,
    id: &str,
) -> Result<ScopeVersion, AdminError> {
    let (tree_size, checkpoint) = audit.latest_audit_checkpoint()?.ok_or_else(|| {
        AdminError::Conflict("the access log has no signed checkpoint yet".to_owned())
    })?;
    let at = At {
        tree_size,
        checkpoint,
    };
    let (v, _) = scope(
        audit,
        directory,
        schema,
        clock,
        by,
        id,
        &at,
        &mut |_, _, _| {},
    )?;
    Ok(v)
}

/// Every stored matrix version of an incident, oldest first.
///
/// # Errors
/// `not_found`; store failures.
pub fn versions(directory: &dyn DirectoryStore, id: &str) -> Result<Vec<ScopeVersion>, AdminError> {
    show(directory, id)?;
    Ok(directory
        .incident_scope_heads(id)?
        .iter()
        .map(ScopeVersion::from)
        .collect())
}

/// The people of an incident's latest matrix version, by public id: those with a
/// **confirmed** cell (`confirmed:<mode>`, any category and mode) or, with `potential`, every person in the matrix. Read
/// from the version's stored subject sets after checking them against its digest, so a
/// forced reset or a follow-up acts on exactly the people the stored matrix counts.
/// Subjects erased since are left out. Reads no field value.
///
/// # Errors
/// `not_found` (incident); `scope_required` when it has no matrix yet; store failures.
pub fn exposed_subjects(
    directory: &dyn DirectoryStore,
    id: &str,
    potential: bool,
) -> Result<Vec<uuid::Uuid>, AdminError> {
    show(directory, id)?;
    let latest = directory
        .incident_scope_heads(id)?
        .iter()
        .map(|r| r.version)
        .max()
        .ok_or_else(|| {
            AdminError::invalid(
                "scope_required",
                format!("incident {id} has no matrix yet: scope it first"),
            )
        })?;
    let sets = crate::notices::sets_of(directory, id, latest)?;
    let mut iids = roaring::RoaringTreemap::new();
    for ((_, exposure), cell) in &sets.cells {
        if potential || exposure.starts_with("confirmed") {
            iids |= cell;
        }
    }
    let mut out = Vec::with_capacity(iids.len() as usize);
    let all: Vec<u64> = iids.iter().collect();
    for chunk in all.chunks(10_000) {
        out.extend(directory.subject_ids(chunk)?.into_iter().map(|(_, id)| id));
    }
    Ok(out)
}

/// What a processor reports to the holder that supervises it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessorReport {
    /// Title (1-200 printable characters).
    pub title: String,
    /// What happened (1-400 printable characters); the reason of the timestamps it sets.
    pub description: String,
    /// When the processor detected it, unix ms (default: now).
    #[serde(default)]
    pub detected_at_ms: Option<u64>,
    /// An incident of the holder to add the report to (default: a new one).
    #[serde(default)]
    pub incident: Option<String>,
    /// Suspect principals, of the processor's own organization.
    #[serde(default)]
    pub suspects: Vec<String>,
}

/// What the reporting processor learns back: the incident id and when its report counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportReceipt {
    /// The holder's incident.
    pub incident: String,
    /// The `processor_reported` time, unix ms: the holder's clocks run from here at the
    /// latest.
    pub reported_at_ms: u64,
}

/// A processor (or an operator) reports an incident: on the holder's incident it names, or
/// on a new one, it sets `processor_reported` (now) and `aware@<processor org>` (the
/// detection time), which start the holder's clocks. The processor sees nothing of the
/// incident but its id.
///
/// # Errors
/// `not_found` for an unknown incident or one of another holder (the same answer);
/// `unknown_principal` for a suspect outside the processor's organization; `no_supervisor`;
/// `incident_closed`; `invalid_value`, `invalid_stamp`; store failures.
pub fn processor_report(
    store: &dyn DirectoryStore,
    clock: &dyn Clock,
    reporter: &str,
    input: ProcessorReport,
) -> Result<ReportReceipt, AdminError> {
    let title = text("title", &input.title, 200)?;
    let description = text("description", &input.description, 400)?;
    let p = store
        .principal(reporter)?
        .ok_or_else(|| AdminError::NotFound(format!("no principal `{reporter}`")))?;
    let org = store
        .organization(&p.org)?
        .ok_or_else(|| AdminError::NotFound(format!("no organization `{}`", p.org)))?;
    let holder = match (&org.supervisor, p.kind) {
        (Some(h), _) => h.clone(),
        (None, kura_model::PrincipalType::Operator) => org.id.clone(),
        (None, _) => {
            return Err(AdminError::invalid(
                "no_supervisor",
                format!("organization `{}` names no supervising holder", org.id),
            ));
        }
    };
    for s in &input.suspects {
        let own = store.principal(s)?.is_some_and(|x| x.org == p.org);
        if !own {
            return Err(AdminError::invalid(
                "unknown_principal",
                format!("no principal `{s}` in organization `{}`", p.org),
            ));
        }
    }
    let now = clock.now_ms();
    let detected = input.detected_at_ms.unwrap_or(now);
    if detected > now + FUTURE_SLACK_MS {
        return Err(AdminError::invalid(
            "invalid_stamp",
            "the detection time is in the future",
        ));
    }
    let stamps = vec![
        StampInput {
            name: "processor_reported".to_owned(),
            org: None,
            at_ms: now,
        },
        StampInput {
            name: "aware".to_owned(),
            org: Some(org.id.clone()),
            at_ms: detected,
        },
    ];
    let id = match input.incident {
        Some(id) => {
            let same_holder = store
                .incident(&id)?
                .map(|r| parse(&r))
                .transpose()?
                .is_some_and(|i| i.org.as_deref() == Some(holder.as_str()));
            if !same_holder {
                return Err(AdminError::NotFound(format!("no incident `{id}`")));
            }
            id
        }
        None => {
            let i = declare(
                store,
                clock,
                reporter,
                NewIncident {
                    title: title.clone(),
                    vector: Some(Vector::Processor.as_str().to_owned()),
                    suspects: input.suspects.clone(),
                    org: Some(holder.clone()),
                    reason: Some(format!("reported by processor `{}`", org.id)),
                    ..Default::default()
                },
            )?;
            i.id
        }
    };
    update(
        store,
        clock,
        reporter,
        &id,
        IncidentChange {
            stamps,
            reason: format!("processor report: {description}"),
            ..Default::default()
        },
    )?;
    Ok(ReportReceipt {
        incident: id,
        reported_at_ms: now,
    })
}
