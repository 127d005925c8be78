//! An incident's evidence bundle: one signed file that lets anyone holding the log's
//! verifier key check, offline, the incident's timeline and every version of its exposure
//! matrix against the verifiable access log (`kura incident export` / `kura incident
//! verify`).
//!
//! # Format
//! `<body>\n\n<signed note>`: the body is one line of JSON (no newline inside); the note is
//! a C2SP signed note by the log's key whose text is
//!
//! ```text
//! kura-incident-evidence/1 <origin>
//! incident <id>
//! body <sha256 hex of the body's bytes>
//! section <name> <sha256 hex of the section's canonical JSON>
//! ...
//! ```
//!
//! Sections: `incident` (with its timeline), `catalog` (field → category, for recomputing),
//! `checkpoint` (the signed checkpoint every proof leads to), `leaves` (each leaf with its
//! inclusion proof) and `scope/<n>` for each matrix version (canonical matrix, subject sets
//! by internal id, its own signed checkpoint and a consistency proof to the bundle's).
//!
//! # What verification proves
//! - the file is as signed (and, when not, which section changed);
//! - every leaf is in the log the checkpoint commits to;
//! - every timeline entry is the one the log recorded (its digest is on a proven leaf);
//! - every matrix version is the one the log recorded (its digest on a proven leaf), its
//!   digest matches its content, its checkpoint is signed and consistent with the bundle's,
//!   and its confirmed cells are exactly what the proven evidence events show (canaries
//!   aside, whose number is stated).
//!
//! It cannot prove that no other event of the suspects exists in the window — that needs
//! the whole log (`kura audit verify` and a scoping run at the same checkpoint) — nor the
//! potential cells, which rest on the subjects held.
//!
//! # What it holds
//! No field value and no public subject id: subjects appear by internal id only. The
//! statement is not a checkpoint: its first line is not an origin followed by a tree size,
//! so a signature on one can never pass for the other.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kura_audit::{AccessEvent, Action, Clock, Outcome};
use kura_scope::{Catalog, CatalogEntry, CellSets, Scope, ScopeEvent, Scoper, Vector};
use kura_store::{AuditStore, DirectoryStore};
use kura_tlog::{Checkpoint, Hash, NoteSigner, NoteVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::directory::AdminError;
use crate::incident::{self, Incident, hex};

/// The format tag on the statement's first line.
pub const FORMAT: &str = "kura-incident-evidence/1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    format: String,
    origin: String,
    exported_at_ms: u64,
    exported_by: String,
    incident: Incident,
    catalog: Vec<CatalogEntry>,
    checkpoint: String,
    leaves: Vec<ProvenLeaf>,
    scopes: Vec<ScopeSection>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvenLeaf {
    index: u64,
    leaf: String,
    proof: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeSection {
    version: u32,
    computed_at_ms: i64,
    by: String,
    tree_size: u64,
    checkpoint: String,
    consistency: Vec<String>,
    digest: String,
    matrix: String,
    sets: String,
}

/// One thing wrong with a bundle: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The part of the bundle (`signature`, `body`, `section leaves`, `leaves[3] (log index
    /// 120)`, `timeline entry 2`, `scope v1`, ...).
    pub at: String,
    /// What is wrong.
    pub what: String,
}

/// What verification found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Nothing wrong.
    pub ok: bool,
    /// Everything wrong, in the order checked.
    pub problems: Vec<Problem>,
    /// The incident id (when the body parses).
    pub incident: Option<String>,
    /// Timeline entries proven.
    pub timeline_entries: usize,
    /// Leaves proven against the checkpoint.
    pub leaves: usize,
    /// Matrix versions checked.
    pub scope_versions: usize,
    /// The checkpoint's tree size.
    pub tree_size: u64,
}

fn b64_hashes(h: &[Hash]) -> Vec<String> {
    h.iter().map(|h| B64.encode(h.0)).collect()
}

/// SHA-256 of a section's canonical JSON: as a JSON value (object keys sorted), compact.
fn section_digest<T: Serialize>(v: &T) -> String {
    let canonical = serde_json::to_value(v)
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_default();
    hex(&Sha256::digest(canonical.as_slice()))
}

fn sections(b: &Body) -> Vec<(String, String)> {
    let mut out = vec![
        ("incident".to_owned(), section_digest(&b.incident)),
        ("catalog".to_owned(), section_digest(&b.catalog)),
        ("checkpoint".to_owned(), section_digest(&b.checkpoint)),
        ("leaves".to_owned(), section_digest(&b.leaves)),
    ];
    for s in &b.scopes {
        out.push((format!("scope/{}", s.version), section_digest(s)));
    }
    out
}

/// Builds the signed evidence bundle of incident `id`, with proofs against the checkpoint
/// `at` (which must cover every leaf of the incident), and records the export in the log.
///
/// # Errors
/// `not_found`; `checkpoint_behind` when a leaf of the incident is past `at` (integrate and
/// sign first); store and proof failures.
#[allow(clippy::too_many_arguments)]
pub fn export(
    audit: &dyn AuditStore,
    directory: &dyn DirectoryStore,
    schema: &kura_model::Schema,
    clock: &dyn Clock,
    by: &str,
    id: &str,
    at: &incident::At,
    signer: &NoteSigner,
) -> Result<Vec<u8>, AdminError> {
    let mut inc = incident::show(directory, id)?;
    // Public subject ids stay out of the bundle (internal ids are kept).
    if let Some(serde_json::Value::Object(c)) = &mut inc.containment {
        c.remove("subjects_obtained");
    }
    let versions = directory.incident_scopes(id)?;
    let mut wanted: std::collections::BTreeSet<u64> =
        directory.incident_leaves(id)?.into_iter().collect();
    let mut scopes = Vec::new();
    for v in &versions {
        let sets = CellSets::decode(&v.sets).map_err(|e| {
            AdminError::Store(kura_store::StoreError::Corrupt(format!(
                "matrix v{} of incident {id}: {e}",
                v.version
            )))
        })?;
        wanted.extend(sets.evidence.iter());
        let consistency = if v.tree_size == at.tree_size || v.tree_size == 0 {
            Vec::new()
        } else {
            kura_audit::consistency_proof(audit, v.tree_size, at.tree_size)?.hashes
        };
        scopes.push(ScopeSection {
            version: v.version,
            computed_at_ms: v.computed_at,
            by: v.by.clone(),
            tree_size: v.tree_size,
            checkpoint: v.checkpoint.clone(),
            consistency: b64_hashes(&consistency),
            digest: v.digest.clone(),
            matrix: v.matrix.clone(),
            sets: B64.encode(&v.sets),
        });
    }
    if let Some(last) = wanted.last()
        && *last >= at.tree_size
    {
        return Err(AdminError::invalid(
            "checkpoint_behind",
            format!(
                "leaf {last} of the incident is past the checkpoint at {}; integrate the log first",
                at.tree_size
            ),
        ));
    }
    let mut leaves = Vec::with_capacity(wanted.len());
    for index in wanted {
        let leaf = audit.audit_leaf(index)?.ok_or_else(|| {
            AdminError::Store(kura_store::StoreError::Corrupt(format!(
                "access log has no leaf {index}"
            )))
        })?;
        let proof = kura_audit::inclusion_proof(audit, index, at.tree_size)?;
        leaves.push(ProvenLeaf {
            index,
            leaf: B64.encode(&leaf),
            proof: b64_hashes(&proof.hashes),
        });
    }
    let now = clock.now_ms();
    let body = Body {
        format: FORMAT.to_owned(),
        origin: signer.name().to_owned(),
        exported_at_ms: now,
        exported_by: by.to_owned(),
        incident: inc,
        catalog: Catalog::of(schema).entries(),
        checkpoint: at.checkpoint.clone(),
        leaves,
        scopes,
    };
    let body_json =
        serde_json::to_string(&body).map_err(|e| AdminError::invalid("internal", e.to_string()))?;
    let mut statement = format!(
        "{FORMAT} {}\nincident {id}\nbody {}\n",
        signer.name(),
        hex(&Sha256::digest(body_json.as_bytes()))
    );
    for (name, d) in sections(&body) {
        statement.push_str(&format!("section {name} {d}\n"));
    }
    let signed = signer
        .sign(&statement)
        .map_err(|e| AdminError::invalid("internal", e.to_string()))?;
    let ev = AccessEvent::new(now, by, incident::PURPOSE, Action::IncidentExport, "", id)
        .with_fields([format!("tree_size:{}", at.tree_size)]);
    directory.log_incident(id, &[ev.to_leaf()?])?;
    let mut out = body_json.into_bytes();
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(signed.as_bytes());
    Ok(out)
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn fail(&mut self, at: impl Into<String>, what: impl Into<String>) {
        self.problems.push(Problem {
            at: at.into(),
            what: what.into(),
        });
    }
}

fn hashes(v: &[String]) -> Option<Vec<Hash>> {
    v.iter().map(|s| Hash::from_base64(s).ok()).collect()
}

/// Checks a bundle offline against the log's verifier key (`kura audit key`). Every check
/// runs; each failure names where it is.
pub fn verify(file: &[u8], vkey: &str) -> Report {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let mut report = Report {
        ok: false,
        problems: Vec::new(),
        incident: None,
        timeline_entries: 0,
        leaves: 0,
        scope_versions: 0,
        tree_size: 0,
    };
    let finish = |mut report: Report, c: Checker| {
        report.ok = c.problems.is_empty();
        report.problems = c.problems;
        report
    };
    let verifier = match NoteVerifier::from_verifier_key(vkey.trim()) {
        Ok(v) => v,
        Err(e) => {
            c.fail("key", format!("the verifier key does not parse: {e}"));
            return finish(report, c);
        }
    };
    let Some(split) = file.windows(2).position(|w| w == b"\n\n") else {
        c.fail(
            "file",
            "no signature block (expected the body, a blank line, the signed note)",
        );
        return finish(report, c);
    };
    let (body_bytes, note_bytes) = (&file[..split], &file[split + 2..]);
    // The signature and the statement.
    let mut signed: BTreeMap<String, String> = BTreeMap::new();
    let mut body_digest = None;
    match kura_tlog::open_note(note_bytes, std::slice::from_ref(&verifier)) {
        Err(e) => c.fail(
            "signature",
            format!("does not verify with the given key: {e}"),
        ),
        Ok(note) => {
            let mut lines = note.text.lines();
            let head = format!("{FORMAT} {}", verifier.name());
            if lines.next() != Some(head.as_str()) {
                c.fail(
                    "signature",
                    format!("the statement is not a `{head}` statement"),
                );
            }
            for line in lines {
                let parts: Vec<&str> = line.split(' ').collect();
                match parts.as_slice() {
                    ["incident", _] => {}
                    ["body", d] => body_digest = Some((*d).to_owned()),
                    ["section", name, d] => {
                        signed.insert((*name).to_owned(), (*d).to_owned());
                    }
                    _ => c.fail("signature", format!("unexpected statement line `{line}`")),
                }
            }
        }
    }
    if let Some(d) = &body_digest
        && *d != hex(&Sha256::digest(body_bytes))
    {
        c.fail("body", "its bytes differ from what was signed");
    }
    let body: Body = match serde_json::from_slice(body_bytes) {
        Ok(b) => b,
        Err(e) => {
            c.fail("body", format!("does not parse: {e}"));
            return finish(report, c);
        }
    };
    report.incident = Some(body.incident.id.clone());
    if body.format != FORMAT {
        c.fail(
            "body",
            format!("format `{}` is not `{FORMAT}`", body.format),
        );
    }
    if body.origin != verifier.name() {
        c.fail("body", "origin is not the verifier key's log");
    }
    if !signed.is_empty() || body_digest.is_some() {
        let actual: BTreeMap<String, String> = sections(&body).into_iter().collect();
        for (name, d) in &actual {
            match signed.get(name) {
                None => c.fail(format!("section {name}"), "not covered by the signature"),
                Some(s) if s != d => {
                    c.fail(format!("section {name}"), "differs from what was signed")
                }
                Some(_) => {}
            }
        }
        for name in signed.keys() {
            if !actual.contains_key(name) {
                c.fail(format!("section {name}"), "signed but missing");
            }
        }
    }
    // The checkpoint and the leaves.
    let cp = match Checkpoint::open(body.checkpoint.as_bytes(), &verifier) {
        Ok(cp) => Some(cp),
        Err(e) => {
            c.fail("checkpoint", format!("does not verify: {e}"));
            None
        }
    };
    report.tree_size = cp.as_ref().map_or(0, Checkpoint::size);
    let mut proven: BTreeMap<u64, AccessEvent> = BTreeMap::new();
    for (n, l) in body.leaves.iter().enumerate() {
        let at = format!("leaves[{n}] (log index {})", l.index);
        let Ok(leaf) = B64.decode(&l.leaf) else {
            c.fail(at, "leaf is not base64");
            continue;
        };
        let Some(proof) = hashes(&l.proof) else {
            c.fail(at, "proof is not base64 hashes");
            continue;
        };
        if let Some(cp) = &cp
            && let Err(e) = kura_tlog::verify_inclusion(
                &kura_tlog::hash_leaf(&leaf),
                l.index,
                cp.size(),
                &proof,
                cp.root(),
            )
        {
            c.fail(at, format!("not proven in the log at the checkpoint: {e}"));
            continue;
        }
        match AccessEvent::from_leaf(&leaf) {
            Ok(ev) => {
                proven.insert(l.index, ev);
            }
            Err(e) => c.fail(at, format!("leaf does not decode: {e}")),
        }
    }
    report.leaves = proven.len();
    let id = body.incident.id.as_str();
    let recorded = |action: Action, want: &[String]| {
        proven.values().any(|ev| {
            ev.action == action
                && ev.request_id == id
                && ev.outcome == Outcome::Ok
                && want.iter().all(|f| ev.fields.contains(f))
        })
    };
    // The timeline.
    for e in &body.incident.timeline {
        let action = match e.change.as_str() {
            "opened" => Action::IncidentOpen,
            "closed" | "reopened" => Action::IncidentClose,
            _ => Action::IncidentUpdate,
        };
        if recorded(action, &e.event_fields()) {
            report.timeline_entries += 1;
        } else {
            c.fail(
                format!("timeline entry {}", e.seq),
                "no proven leaf records it as shown (changed, or not from the log)",
            );
        }
    }
    // The matrix versions.
    let catalog = Catalog::from_entries(&body.catalog);
    for s in &body.scopes {
        let at = format!("scope v{}", s.version);
        check_scope(
            &mut c,
            &at,
            s,
            cp.as_ref(),
            &verifier,
            &catalog,
            &proven,
            &recorded,
        );
        report.scope_versions += 1;
    }
    finish(report, c)
}

#[allow(clippy::too_many_arguments)]
fn check_scope(
    c: &mut Checker,
    at: &str,
    s: &ScopeSection,
    cp: Option<&Checkpoint>,
    verifier: &NoteVerifier,
    catalog: &Catalog,
    proven: &BTreeMap<u64, AccessEvent>,
    recorded: &dyn Fn(Action, &[String]) -> bool,
) {
    match Checkpoint::open(s.checkpoint.as_bytes(), verifier) {
        Err(e) => c.fail(at, format!("its checkpoint does not verify: {e}")),
        Ok(own) => {
            if own.size() != s.tree_size {
                c.fail(at, "its checkpoint is not at its tree size");
            }
            if let Some(cp) = cp {
                let consistent = match hashes(&s.consistency) {
                    None => Err("the consistency proof is not base64 hashes".to_owned()),
                    Some(_) if own.size() == cp.size() && own.root() == cp.root() => Ok(()),
                    Some(p) => kura_tlog::verify_consistency(
                        own.size(),
                        cp.size(),
                        &p,
                        own.root(),
                        cp.root(),
                    )
                    .map_err(|e| e.to_string()),
                };
                if let Err(e) = consistent {
                    c.fail(
                        at,
                        format!("its checkpoint is not consistent with the bundle's: {e}"),
                    );
                }
            }
        }
    }
    let sets = match B64
        .decode(&s.sets)
        .map_err(|e| e.to_string())
        .and_then(|b| CellSets::decode(&b).map_err(|e| e.to_string()))
    {
        Ok(sets) => sets,
        Err(e) => {
            c.fail(at, format!("subject sets do not decode: {e}"));
            return;
        }
    };
    if hex(&sets.digest(&s.matrix)) != s.digest {
        c.fail(at, "its digest does not match its matrix and subject sets");
    }
    if !recorded(
        Action::IncidentScope,
        &[
            format!("version:{}", s.version),
            format!("tree_size:{}", s.tree_size),
            format!("digest:{}", s.digest),
        ],
    ) {
        c.fail(at, "no proven leaf records this version with this digest");
    }
    // Recompute the confirmed cells from the proven evidence events.
    let m: serde_json::Value = match serde_json::from_str(&s.matrix) {
        Ok(m) => m,
        Err(e) => {
            c.fail(at, format!("matrix does not parse: {e}"));
            return;
        }
    };
    let window = (
        m["window"][0].as_u64().unwrap_or(0),
        m["window"][1].as_u64().unwrap_or(0),
    );
    let Some(vector) = m["vector"].as_str().and_then(Vector::parse) else {
        c.fail(at, "matrix names no known vector");
        return;
    };
    let suspects = m["suspects"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let scope = Scope {
        from_ms: window.0,
        to_ms: window.1,
        suspects,
        vector,
        keys_exposed: false,
        grants: Vec::new(),
        canaries: kura_audit::RoaringTreemap::new(),
        orgs: Default::default(),
    };
    let Ok(mut scoper) = Scoper::new(scope, catalog) else {
        c.fail(at, "matrix window ends before it starts");
        return;
    };
    for index in &sets.evidence {
        if index >= s.tree_size {
            c.fail(at, format!("evidence leaf {index} is past its tree size"));
            continue;
        }
        let Some(ev) = proven.get(&index) else {
            c.fail(
                at,
                format!("evidence leaf {index} is not among the proven leaves"),
            );
            continue;
        };
        let subjects: Vec<u64> = ev.subjects.iter().collect();
        let fields: Vec<&str> = ev.fields.iter().map(String::as_str).collect();
        let _ = scoper.event(&ScopeEvent {
            index,
            time_ms: ev.time_ms,
            principal: &ev.principal,
            action: ev.action.as_str(),
            ok: ev.outcome == Outcome::Ok,
            collection: &ev.collection,
            subjects: &subjects,
            fields: &fields,
        });
    }
    let again = scoper.finish();
    if again.sets().evidence != sets.evidence {
        c.fail(
            at,
            "some evidence leaves show no exposure by a suspect in the window",
        );
    }
    let mut beyond = kura_audit::RoaringTreemap::new();
    let confirmed = |cells: &BTreeMap<(String, String), kura_audit::RoaringTreemap>| {
        cells
            .iter()
            .filter(|((_, e), _)| e.starts_with("confirmed:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let shown = confirmed(&sets.cells);
    let derived = confirmed(&again.sets().cells);
    for (key, set) in &shown {
        let from_log = derived.get(key).cloned().unwrap_or_default();
        if !set.is_subset(&from_log) {
            c.fail(
                at,
                format!(
                    "cell {}/{} holds subjects no proven event shows",
                    key.0, key.1
                ),
            );
        }
    }
    for (key, from_log) in &derived {
        let set = shown.get(key).cloned().unwrap_or_default();
        beyond |= from_log - &set;
    }
    let canaries = m["canaries_touched"].as_u64().unwrap_or(0);
    if beyond.len() != canaries {
        c.fail(
            at,
            format!(
                "the proven events show {} confirmed subjects the matrix leaves out, but it states {canaries} canaries",
                beyond.len()
            ),
        );
    }
}
