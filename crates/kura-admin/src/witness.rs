//! Publishing signed checkpoints outside the database: to a directory of the operator's
//! choosing and to witnesses that countersign them (C2SP tlog-witness `add-checkpoint`,
//! answered by `kura witness serve` or any witness speaking that protocol).
//!
//! # Why
//! Whoever can write the database can cut off the log's tail, re-sign nothing and let
//! `kura audit verify` pass on what is left: the log's checkpoints live in the same
//! database. A checkpoint copied elsewhere — a file on another disk, a witness run by an
//! auditor — pins the log's size and root at that moment; `kura audit verify --witness`
//! then catches a truncation or a rewrite after it. A witness also refuses to cosign a
//! checkpoint inconsistent with what it cosigned before, so a forked or shortened log
//! stops getting cosignatures, visibly (`kura_witness_lag_seconds`, `kura doctor`).
//!
//! # Invariants
//! - Only checkpoints signed by the log's key and read from the store are published; a
//!   cosignature is kept only after it verifies under the witness's configured key.
//! - The directory holds one file per published size (`checkpoint-<size>`, never
//!   rewritten) and `latest`, replaced atomically.
//! - Publication failures are access events only when a witness's state changes (it
//!   starts or stops failing), so a witness that is down does not flood the log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kura_audit::{AccessEvent, Action, Appender, AuditStore};
use kura_tlog::witness::AddCheckpoint;
use kura_tlog::{Checkpoint, CosignVerifier, NoteVerifier};

/// The mark holding when a checkpoint last left the database — written to the checkpoint
/// directory or cosigned by a witness (value: its size). `kura doctor` reads it.
pub const MARK_WITNESSED: &str = "audit.witnessed";
/// The mark prefix holding each witness's latest cosigned checkpoint (value: the note).
pub const MARK_WITNESS_PREFIX: &str = "witness.";

/// A witness kura publishes to.
#[derive(Debug, Clone)]
pub struct Witness {
    /// Base URL (`http://host:port`); `/add-checkpoint` is appended.
    pub url: String,
    /// The witness's cosigning key.
    pub verifier: CosignVerifier,
}

#[derive(Debug)]
struct WitnessState {
    witness: Witness,
    /// The witness's latest size for this log, as last learned (0: unknown).
    acked: u64,
    failing: bool,
}

/// What one round of publication did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// The checkpoint size published, if a new one was.
    pub size: Option<u64>,
    /// Witnesses that cosigned it.
    pub cosigned: Vec<String>,
    /// Witnesses that refused or could not be reached, with the reason.
    pub failed: Vec<(String, String)>,
}

/// Publishes the latest checkpoint; call [`Publisher::round`] periodically.
pub struct Publisher {
    store: Arc<dyn AuditStore>,
    log: NoteVerifier,
    dir: Option<PathBuf>,
    witnesses: Vec<WitnessState>,
    appender: Arc<Appender>,
    agent: ureq::Agent,
    published: u64,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("dir", &self.dir)
            .field("witnesses", &self.witnesses.len())
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

/// Why publication failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] kura_store::StoreError),
    /// The log could not produce a proof.
    #[error(transparent)]
    Audit(#[from] kura_audit::AuditError),
    /// A stored checkpoint does not open under the log's key.
    #[error("the stored checkpoint does not verify under the log's key: {0}")]
    Checkpoint(#[from] kura_tlog::TlogError),
    /// The checkpoint directory could not be written.
    #[error("checkpoint directory {path}: {reason}")]
    Dir {
        /// The directory.
        path: String,
        /// What failed.
        reason: String,
    },
}

fn dir_err(dir: &Path, e: impl std::fmt::Display) -> PublishError {
    PublishError::Dir {
        path: dir.display().to_string(),
        reason: e.to_string(),
    }
}

impl Publisher {
    /// A publisher for the log whose checkpoints `log` verifies.
    ///
    /// # Errors
    /// [`PublishError::Dir`] if the directory cannot be created.
    pub fn new(
        store: Arc<dyn AuditStore>,
        log: NoteVerifier,
        dir: Option<PathBuf>,
        witnesses: Vec<Witness>,
        appender: Arc<Appender>,
    ) -> Result<Self, PublishError> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d).map_err(|e| dir_err(d, e))?;
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            store,
            log,
            dir,
            witnesses: witnesses
                .into_iter()
                .map(|witness| WitnessState {
                    witness,
                    acked: 0,
                    failing: false,
                })
                .collect(),
            appender,
            agent,
            published: 0,
        })
    }

    /// Whether there is anywhere to publish to.
    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.dir.is_some() || !self.witnesses.is_empty()
    }

    /// Publishes the latest stored checkpoint if it is newer than the last one published
    /// (or if a witness failed last time). `now_ms` is the caller's clock.
    ///
    /// # Errors
    /// Store, proof and directory failures; a witness's refusal is reported in the
    /// [`Round`], not as an error.
    pub fn round(&mut self, now_ms: u64) -> Result<Round, PublishError> {
        let Some((size, note)) = self.store.latest_audit_checkpoint()? else {
            return Ok(Round::default());
        };
        let retry = self.witnesses.iter().any(|w| w.failing);
        if size <= self.published && !retry {
            return Ok(Round::default());
        }
        let cp = Checkpoint::open(note.as_bytes(), &self.log)?;
        if cp.size() != size {
            return Err(PublishError::Checkpoint(
                kura_tlog::TlogError::MalformedCheckpoint("stored under another size"),
            ));
        }
        if size > self.published
            && let Some(dir) = &self.dir
        {
            write_to_dir(dir, size, &note)?;
            self.store
                .put_mark(MARK_WITNESSED, now_ms, &size.to_string())?;
        }
        let mut round = Round {
            size: Some(size),
            ..Round::default()
        };
        for i in 0..self.witnesses.len() {
            let name = self.witnesses[i].witness.verifier.name().to_owned();
            match self.submit(i, size, &note) {
                Ok(cosigned) => {
                    self.store.put_mark(
                        &format!("{MARK_WITNESS_PREFIX}{name}"),
                        now_ms,
                        &cosigned,
                    )?;
                    self.store
                        .put_mark(MARK_WITNESSED, now_ms, &size.to_string())?;
                    if let Some(dir) = &self.dir {
                        replace_file(dir, &format!("cosigned-{name}"), &cosigned)?;
                    }
                    if self.witnesses[i].failing {
                        self.witnesses[i].failing = false;
                        self.event(now_ms, &name, size, None);
                    }
                    round.cosigned.push(name);
                }
                Err(reason) => {
                    if !self.witnesses[i].failing {
                        self.witnesses[i].failing = true;
                        self.event(now_ms, &name, size, Some("witness_refused"));
                    }
                    round.failed.push((name, reason));
                }
            }
        }
        self.published = self.published.max(size);
        Ok(round)
    }

    fn event(&self, now_ms: u64, witness: &str, size: u64, failed: Option<&str>) {
        let mut ev = AccessEvent::new(
            now_ms,
            "kura-witness-publisher",
            "log_witness",
            Action::WitnessPublish,
            "",
            &format!("witness-{size}"),
        )
        .with_fields([format!("size:{size}"), format!("witness:{witness}")]);
        if let Some(code) = failed {
            ev = ev.failed(code);
        }
        if let Err(e) = self.appender.append(&ev) {
            tracing::error!(error = %e, "recording a witness publication failed");
        }
    }

    /// Submits checkpoint `size` to witness `i`; learns the witness's size from a 409 and
    /// tries once more. Returns the cosigned note.
    fn submit(&mut self, i: usize, size: u64, note: &str) -> Result<String, String> {
        for _ in 0..2 {
            let old = self.witnesses[i].acked;
            if old > size {
                return Err(format!(
                    "the witness holds a checkpoint at size {old}, beyond this log's latest \
                     ({size}): the log was cut off or another log uses this key"
                ));
            }
            let proof = if old == 0 || old == size {
                Vec::new()
            } else {
                kura_audit::consistency_proof(&*self.store, old, size)
                    .map_err(|e| format!("cannot prove consistency from {old}: {e}"))?
                    .hashes
            };
            let body = AddCheckpoint {
                old_size: old,
                proof,
                checkpoint: note.to_owned(),
            }
            .to_body();
            let w = &self.witnesses[i].witness;
            let url = format!("{}/add-checkpoint", w.url.trim_end_matches('/'));
            let mut resp = self
                .agent
                .post(&url)
                .header("content-type", "text/plain; charset=utf-8")
                .send(&body)
                .map_err(|e| match e {
                    ureq::Error::Timeout(_) => "timed out".to_owned(),
                    ureq::Error::Io(io) => format!("I/O error ({:?})", io.kind()),
                    other => format!("request failed ({other})"),
                })?;
            let status = resp.status().as_u16();
            let text = resp
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_string()
                .map_err(|_| format!("HTTP {status} with an unreadable body"))?;
            match status {
                200 => {
                    let cosigned = format!("{note}{text}");
                    w.verifier
                        .verify_note(cosigned.as_bytes())
                        .map_err(|e| format!("the cosignature does not verify: {e}"))?;
                    self.witnesses[i].acked = size;
                    return Ok(cosigned);
                }
                409 => {
                    let theirs: u64 = text
                        .trim()
                        .parse()
                        .map_err(|_| "HTTP 409 without a size".to_owned())?;
                    self.witnesses[i].acked = theirs;
                }
                _ => {
                    let first = text
                        .lines()
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect::<String>();
                    return Err(format!("HTTP {status}: {first}"));
                }
            }
        }
        Err("the witness's size changed twice while submitting".to_owned())
    }
}

fn write_to_dir(dir: &Path, size: u64, note: &str) -> Result<(), PublishError> {
    let name = format!("checkpoint-{size:020}");
    let path = dir.join(&name);
    if !path.exists() {
        replace_file(dir, &name, note)?;
    }
    replace_file(dir, "latest", note)
}

/// Writes `dir/name` atomically: a temporary file synced and renamed over it.
fn replace_file(dir: &Path, name: &str, text: &str) -> Result<(), PublishError> {
    use std::io::Write as _;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| dir_err(dir, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| dir_err(dir, e))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| dir_err(dir, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
