//! Breach scoping over a real store: streams the access log up to a tree size and then every
//! subject held into [`kura_scope::Scoper`], page by page, so that neither the log nor the
//! subjects are ever held in memory at once.
//!
//! # Reproducibility
//! The matrix depends only on the log's first `tree_size` leaves, the subjects held and the
//! scope: recomputed at the same tree size it has the same digest (leaves are write-once).
//! Subjects erased since are reported by count ([`kura_scope::Matrix::confirmed_not_held`]).
//!
//! # What it reads
//! Leaves (no field value is in the log) and each subject's internal id, collection, country
//! and the *names* of the fields it holds (in clear in the sealed blob). No key is used and
//! nothing is decrypted.

use kura_audit::{AccessEvent, Outcome};
use kura_model::Schema;
use kura_scope::{Catalog, Matrix, Scope, ScopeEvent, Scoper, SubjectRow};
use kura_store::AuditStore;

use crate::directory::AdminError;

/// Leaves or subjects read per store round trip.
pub const PAGE: usize = 10_000;

/// Where a computation is, for a progress bar: `(stage, done, total)`; `total` is the tree
/// size for `events` and 0 (unknown) for `subjects`.
pub type Progress<'a> = &'a mut dyn FnMut(&'static str, u64, u64);

/// Computes the exposure matrix of `scope` over the log's first `tree_size` leaves and
/// every subject held.
///
/// # Errors
/// Store failures; a leaf that does not decode or a sealed blob that does not parse (the
/// store is corrupt: no partial answer is given); a window that ends before it starts.
pub fn compute(
    store: &dyn AuditStore,
    schema: &Schema,
    scope: Scope,
    tree_size: u64,
    progress: Progress<'_>,
) -> Result<Matrix, AdminError> {
    let catalog = Catalog::of(schema);
    let mut scoper = Scoper::new(scope, &catalog).map_err(|e| AdminError::Invalid {
        code: "invalid_scope",
        message: e.to_string(),
    })?;
    let mut from = 0;
    while from < tree_size {
        let to = (from + PAGE as u64).min(tree_size);
        let leaves = store.audit_leaves(from, to)?;
        if leaves.len() as u64 != to - from {
            return Err(AdminError::Store(kura_store::StoreError::Corrupt(format!(
                "access log has {} of leaves {from}..{to}",
                leaves.len()
            ))));
        }
        for (index, leaf) in &leaves {
            let ev = AccessEvent::from_leaf(leaf)?;
            let subjects: Vec<u64> = ev.subjects.iter().collect();
            let fields: Vec<&str> = ev.fields.iter().map(String::as_str).collect();
            scoper
                .event(&ScopeEvent {
                    index: *index,
                    time_ms: ev.time_ms,
                    principal: &ev.principal,
                    action: ev.action.as_str(),
                    ok: ev.outcome == Outcome::Ok,
                    collection: &ev.collection,
                    subjects: &subjects,
                    fields: &fields,
                })
                .map_err(|e| AdminError::Invalid {
                    code: "invalid_scope",
                    message: e.to_string(),
                })?;
        }
        from = to;
        progress("events", from, tree_size);
    }
    let mut after = 0;
    let mut seen = 0;
    loop {
        let page = store.scan_subjects(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.iid;
        for s in &page {
            let names = kura_vault::held_field_names(&s.fields)?;
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            scoper.subject(&SubjectRow {
                iid: s.iid,
                collection: &s.collection,
                country: &s.country,
                fields: &names,
            });
        }
        seen += page.len() as u64;
        progress("subjects", seen, 0);
    }
    Ok(scoper.finish())
}

/// What the suspects' stored policies could return: one [`kura_scope::Grant`] per field not
/// denied (the potential exposure of a stolen key or a processor).
///
/// # Errors
/// [`AdminError::NotFound`] for an unknown suspect; store failures; stored policies that no
/// longer check against the schema.
pub fn grants_of(
    directory: &dyn kura_store::DirectoryStore,
    schema: &Schema,
    suspects: &std::collections::BTreeSet<String>,
) -> Result<Vec<kura_scope::Grant>, AdminError> {
    let mut out = Vec::new();
    for id in suspects {
        let p = directory
            .principal(id)?
            .ok_or_else(|| AdminError::NotFound(format!("no principal `{id}`")))?;
        let policies = crate::directory::parse_policies(&p.policies, schema).map_err(|e| {
            AdminError::Invalid {
                code: "invalid_policy",
                message: format!("stored policies of `{id}` do not check: {e}"),
            }
        })?;
        for policy in &policies {
            for (field, mode) in policy.fields() {
                if *mode != kura_policy::Mode::Denied {
                    out.push(kura_scope::Grant {
                        principal: id.clone(),
                        collection: policy.collection().to_owned(),
                        field: field.clone(),
                        mode: mode.as_str().to_owned(),
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// An ad-hoc scope: not tied to an incident, not stored.
#[derive(Debug, Clone)]
pub struct AdHoc {
    /// Vector name.
    pub vector: String,
    /// Suspect principals.
    pub suspects: Vec<String>,
    /// Keys exposed with a dump or backup.
    pub keys_exposed: bool,
    /// Window, unix ms.
    pub window: (u64, u64),
}

/// Computes an ad-hoc matrix over the log's first `tree_size` leaves and records the run
/// in the access log (`incident_scope`, no incident, with the digest): reading the whole
/// log's metadata is itself an access.
///
/// # Errors
/// As [`crate::incident::scope`].
#[allow(clippy::too_many_arguments)]
pub fn adhoc(
    store: &dyn AuditStore,
    directory: &dyn kura_store::DirectoryStore,
    schema: &Schema,
    clock: &dyn kura_audit::Clock,
    by: &str,
    a: &AdHoc,
    tree_size: u64,
    progress: Progress<'_>,
) -> Result<Matrix, AdminError> {
    let now = clock.now_ms();
    let i = crate::incident::Incident {
        id: String::new(),
        title: "ad hoc".to_owned(),
        status: "open".to_owned(),
        trigger: "declared".to_owned(),
        vector: a.vector.clone(),
        suspects: a.suspects.clone(),
        keys_exposed: a.keys_exposed,
        unlawful_purpose: None,
        sensitive: None,
        window: Some(crate::incident::Window {
            from_ms: a.window.0,
            to_ms: a.window.1,
        }),
        org: None,
        opened_at_ms: now,
        opened_by: by.to_owned(),
        stamps: Vec::new(),
        timeline: Vec::new(),
        containment: None,
        reports: Default::default(),
    };
    for s in &a.suspects {
        if directory.principal(s)?.is_none() {
            return Err(AdminError::invalid(
                "unknown_principal",
                format!("no principal `{s}`"),
            ));
        }
    }
    let scope = crate::incident::scope_of(directory, schema, &i)?;
    let m = compute(store, schema, scope, tree_size, progress)?;
    let ev = AccessEvent::new(
        now,
        by,
        crate::incident::PURPOSE,
        kura_audit::Action::IncidentScope,
        "",
        "",
    )
    .with_fields([
        format!("tree_size:{tree_size}"),
        format!("digest:{}", crate::incident::hex(&m.digest())),
    ]);
    store.append_audit(&[ev.to_leaf()?])?;
    Ok(m)
}
