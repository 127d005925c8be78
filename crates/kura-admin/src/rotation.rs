//! Online key rotation: every wrapped data key re-wrapped under a new key-encryption key
//! while servers keep serving; resumable after a crash; the old KEK destroyed only when
//! nothing refers to it.
//!
//! # Steps (each an access event, action `key_rotate`)
//! 1. `start`: the provider creates KEK version `v` and makes it current. Servers sharing
//!    the provider wrap new keys under `v` within [`REFRESH_INTERVAL`]; they unwrap keys
//!    under `v` at once (a version they do not hold makes them look again).
//! 2. `rewrap`: pages of keys not under `v`, in public-id order, each unwrapped and
//!    wrapped again and written with a compare-and-set (the data key, and so every sealed
//!    field, is unchanged). The page's last id is saved in the mark `keys.rotation` after
//!    each page: a crash resumes from there.
//! 3. After the first pass, a short wait and more passes from the start pick up keys a
//!    server wrapped under the old version before it noticed the new one.
//! 4. `finish`, and with `retire`, `retire`: each old version with no key left under it is
//!    destroyed in the provider. A version that still wraps a key, or any key that did not
//!    unwrap, keeps every old version alive.
//!
//! Left out: the card vault's keys (wrapped under a card KEK derived from the provider's
//! root, not under a versioned KEK) and the password pepper (rotated through the hash
//! records' `keyid`, see docs/passwords.md).

use std::time::Duration;

use kura_audit::{AccessEvent, Action, Appender, AuditStore};
use kura_crypto::{KeyProvider, REFRESH_INTERVAL};
use kura_vault::{Uuid, Vault};
use serde::{Deserialize, Serialize};

use crate::AdminError;

/// The mark holding the rotation's state (JSON).
pub const MARK: &str = "keys.rotation";

/// The rotation's saved state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct State {
    target: u32,
    /// The last public id finished (hyphenated), if any.
    after: Option<String>,
    done: bool,
    rewrapped: u64,
}

/// How to rotate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keys per page (default 1000).
    pub page: usize,
    /// How long to wait for servers to switch to the new version before the last passes
    /// (default twice [`REFRESH_INTERVAL`]).
    pub settle: Duration,
    /// Destroy old versions that no key refers to any more.
    pub retire: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            page: 1000,
            settle: REFRESH_INTERVAL * 2,
            retire: false,
        }
    }
}

/// Progress, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Keys re-wrapped so far in this run.
    pub done: u64,
    /// Keys under another version than the target when the run started.
    pub total: u64,
}

/// What a rotation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The KEK version every key is now wrapped under.
    pub target: u32,
    /// Whether this run resumed an interrupted rotation.
    pub resumed: bool,
    /// Keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Keys that changed or went away while being re-wrapped (erased meanwhile).
    pub raced: u64,
    /// Keys that did not unwrap: damaged or foreign rows; no old version is retired.
    pub unreadable: u64,
    /// Keys per version afterwards.
    pub versions: Vec<(u32, u64)>,
    /// Old versions destroyed.
    pub retired: Vec<u32>,
    /// Old versions still held by the provider.
    pub kept: Vec<u32>,
}

/// The rotation's dependencies.
pub struct Rotator<'a> {
    /// The vault (re-wraps with its wrap context).
    pub vault: &'a Vault,
    /// The key provider.
    pub keys: &'a dyn KeyProvider,
    /// The store (marks and counts).
    pub store: &'a dyn AuditStore,
    /// Where the steps are recorded.
    pub appender: &'a Appender,
    /// Unix milliseconds now.
    pub now_ms: &'a dyn Fn() -> u64,
}

impl Rotator<'_> {
    fn event(&self, step: &str, fields: &[String]) -> Result<(), AdminError> {
        let mut f = vec![format!("step:{step}")];
        f.extend_from_slice(fields);
        let ev = AccessEvent::new(
            (self.now_ms)(),
            "kura-keys",
            "key_rotation",
            Action::KeyRotate,
            "",
            "key-rotation",
        )
        .with_fields(f);
        let _durable = self.appender.append(&ev)?;
        Ok(())
    }

    fn save(&self, st: &State) -> Result<(), AdminError> {
        let v = serde_json::to_string(st).map_err(|e| AdminError::Invalid {
            code: "rotation_state",
            message: e.to_string(),
        })?;
        self.store.put_mark(MARK, (self.now_ms)(), &v)?;
        Ok(())
    }

    /// Rotates (or resumes an interrupted rotation).
    ///
    /// # Errors
    /// Provider, store and log failures; the saved state lets a second run resume.
    pub fn run(
        &self,
        opts: &Options,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Report, AdminError> {
        let saved: Option<State> = match self.store.mark(MARK)? {
            Some(m) => Some(
                serde_json::from_str(&m.value).map_err(|_| AdminError::Invalid {
                    code: "rotation_state",
                    message: format!("the mark `{MARK}` is not a rotation state"),
                })?,
            ),
            None => None,
        };
        let current = self.keys.kek_versions()?.current;
        let (mut st, resumed) = match saved {
            Some(st) if !st.done => {
                if st.target != current {
                    return Err(AdminError::Invalid {
                        code: "rotation_mismatch",
                        message: format!(
                            "an interrupted rotation targets KEK version {}, but the provider's current version is {current}",
                            st.target
                        ),
                    });
                }
                self.event("resume", &[format!("kek:{}", st.target)])?;
                (st, true)
            }
            _ => {
                let target = self.keys.rotate_kek()?;
                let st = State {
                    target,
                    after: None,
                    done: false,
                    rewrapped: 0,
                };
                self.save(&st)?;
                self.event(
                    "start",
                    &[format!("kek:{target}"), format!("from:{current}")],
                )?;
                // A PKCS#11 provider lists the token again for an unknown version at most
                // every 50 ms; nothing is re-wrapped until every such listing is younger
                // than the new version.
                std::thread::sleep(Duration::from_millis(100));
                (st, false)
            }
        };
        let target = st.target;
        let total: u64 = self
            .store
            .kek_version_counts()?
            .iter()
            .filter(|(v, _)| *v != target)
            .map(|(_, n)| n)
            .sum();
        let mut report = Report {
            target,
            resumed,
            ..Report::default()
        };
        progress(Progress { done: 0, total });
        // Pass 1 resumes where the saved state says; later passes start over, after the
        // servers had time to switch, until a pass finds nothing left to re-wrap.
        let mut settled = false;
        for _pass in 0..6 {
            let mut after: Option<Uuid> = st.after.as_deref().and_then(|a| Uuid::parse_str(a).ok());
            let mut touched = 0u64;
            loop {
                let page = self
                    .vault
                    .rewrap_keys(target, after.as_ref(), opts.page.max(1))?;
                if page.listed == 0 {
                    break;
                }
                report.rewrapped += page.rewrapped as u64;
                report.raced += page.raced as u64;
                touched += (page.rewrapped + page.raced) as u64;
                after = page.last;
                st.after = after.map(|u| u.to_string());
                st.rewrapped += page.rewrapped as u64;
                self.save(&st)?;
                self.event(
                    "rewrap",
                    &[format!("kek:{target}"), format!("count:{}", page.rewrapped)],
                )?;
                if page.unreadable > 0 {
                    report.unreadable += page.unreadable as u64;
                }
                progress(Progress {
                    done: report.rewrapped,
                    total,
                });
                if page.listed < opts.page.max(1) {
                    break;
                }
            }
            st.after = None;
            self.save(&st)?;
            if settled && touched == 0 {
                break;
            }
            if !settled {
                std::thread::sleep(opts.settle);
                settled = true;
            }
            // Unreadable keys stay listed on every pass; they are counted once.
            if touched == 0 && report.unreadable > 0 {
                break;
            }
            report.unreadable = 0;
        }
        report.versions = self.store.kek_version_counts()?;
        st.done = true;
        self.save(&st)?;
        self.event(
            "finish",
            &[
                format!("kek:{target}"),
                format!("count:{}", report.rewrapped),
            ],
        )?;
        let held = self.keys.kek_versions()?.all;
        for v in held.into_iter().filter(|v| *v != target) {
            let refs = report
                .versions
                .iter()
                .find(|(x, _)| *x == v)
                .map_or(0, |(_, n)| *n);
            if opts.retire && refs == 0 && report.unreadable == 0 {
                self.keys.destroy_kek(v)?;
                self.event("retire", &[format!("kek:{v}")])?;
                report.retired.push(v);
            } else {
                report.kept.push(v);
            }
        }
        Ok(report)
    }

    /// Destroys one old KEK version, refusing while any key is wrapped under it.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] (`kek_in_use`) when keys still refer to it; provider
    /// failures (the current version is refused there).
    pub fn retire(&self, version: u32) -> Result<(), AdminError> {
        if self.keys.kek_versions()?.current == version {
            return Err(AdminError::Invalid {
                code: "kek_in_use",
                message: format!("KEK version {version} is the current version; rotate first"),
            });
        }
        let refs = self
            .store
            .kek_version_counts()?
            .into_iter()
            .find(|(v, _)| *v == version)
            .map_or(0, |(_, n)| n);
        if refs > 0 {
            return Err(AdminError::Invalid {
                code: "kek_in_use",
                message: format!(
                    "{refs} data keys are still wrapped under KEK version {version}; run `kura keys rotate` first"
                ),
            });
        }
        self.keys.destroy_kek(version)?;
        self.event("retire", &[format!("kek:{version}")])
    }
}
