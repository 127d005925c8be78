//! Configuration checks: pure functions over [`Facts`] that the binary gathers (file modes,
//! device numbers, the listener, organizations, the log's marks). No IO here, and the clock
//! is a field, so every rule is tested with plain values.
//!
//! # Rules
//! | code | severity | when |
//! |---|---|---|
//! | `key_file_missing` | high | the key-file provider's file does not exist |
//! | `key_file_permissions` | critical | the key file's mode grants group or others any access |
//! | `key_file_beside_data` | medium | the key file is on the data directory's filesystem |
//! | `key_placement_unchecked` | info | the data is in PostgreSQL: kura cannot see where |
//! | `listener_without_tls` | high | the listen address is not loopback (kura has no TLS) |
//! | `security_officer_missing` | high | an organization names no reachable officer, or there is none |
//! | `log_not_verified` | medium | `kura audit verify` has not passed within N days |
//! | `witness_not_configured` | medium | no `[audit] checkpoint_dir` and no witness |
//! | `checkpoint_not_witnessed` | medium | no checkpoint published or cosigned within N hours |

use std::net::SocketAddr;

use crate::finding::{Finding, Severity};

/// What the checks need to know about the key file (key-file provider only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileFacts {
    /// Its path, for messages.
    pub path: String,
    /// Whether it exists.
    pub exists: bool,
    /// Its permission bits (`st_mode & 0o7777`), when known.
    pub mode: Option<u32>,
    /// The device it is on (`st_dev`), when known.
    pub device: Option<u64>,
}

/// Where the data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataFacts {
    /// An embedded store in a directory.
    Dir {
        /// Its path, for messages.
        path: String,
        /// The device it is on, when known.
        device: Option<u64>,
    },
    /// PostgreSQL: its files are on another machine, out of sight.
    Postgres,
}

/// An organization's officer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFacts {
    /// The organization id.
    pub id: String,
    /// The officer's name.
    pub officer_name: String,
    /// How to reach the officer.
    pub officer_contact: String,
}

/// Thresholds (from `[posture]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `log_not_verified` after this many days (default 7).
    pub verify_max_age_days: u64,
    /// `checkpoint_not_witnessed` after this many hours (default 24).
    pub witness_max_age_hours: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            verify_max_age_days: 7,
            witness_max_age_hours: 24,
        }
    }
}

/// Everything the configuration checks look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Now, unix milliseconds.
    pub now_ms: u64,
    /// The key file, for the key-file provider; `None` for another provider.
    pub key_file: Option<KeyFileFacts>,
    /// Where the data is.
    pub data: DataFacts,
    /// The address the server listens (or would listen) on.
    pub listen: SocketAddr,
    /// Every organization; `None` when they could not be read (the check is skipped).
    pub organizations: Option<Vec<OrgFacts>>,
    /// When `kura audit verify` last passed (mark `audit.verified`), unix ms.
    pub last_verified_ms: Option<u64>,
    /// When a checkpoint was last published or cosigned (mark `audit.witnessed`), unix ms.
    pub last_witnessed_ms: Option<u64>,
    /// Whether `[audit] checkpoint_dir` or a witness is configured.
    pub witness_configured: bool,
    /// Thresholds.
    pub limits: Limits,
}

/// Runs every configuration check.
#[must_use]
pub fn run(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(key_file(f.key_file.as_ref(), &f.data));
    out.extend(listener(f.listen));
    if let Some(orgs) = &f.organizations {
        out.extend(officers(orgs));
    }
    out.extend(verification(f.now_ms, f.last_verified_ms, f.limits));
    out.extend(witnessing(
        f.now_ms,
        f.last_witnessed_ms,
        f.witness_configured,
        f.limits,
    ));
    out
}

/// Key-file checks: exists, mode 0600 (or stricter), not on the data's filesystem.
#[must_use]
pub fn key_file(key: Option<&KeyFileFacts>, data: &DataFacts) -> Vec<Finding> {
    let Some(key) = key else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !key.exists {
        out.push(Finding::new(
            "key_file_missing",
            Severity::High,
            "the key file does not exist",
            format!("{} is not there; the vault cannot be opened", key.path),
            "restore the key file from its separate backup, or point --key-file / [keys] file at it",
        ));
        return out;
    }
    if let Some(mode) = key.mode
        && mode & 0o077 != 0
    {
        out.push(Finding::new(
            "key_file_permissions",
            Severity::Critical,
            "the key file is accessible to group or others",
            format!(
                "{} has mode {:04o}; anyone in its group or on the machine may read the keys that unlock every field",
                key.path,
                mode & 0o7777
            ),
            format!(
                "chmod 600 {} (owned by the user kura runs as), then consider the keys exposed: rotate them",
                key.path
            ),
        ));
    }
    match data {
        DataFacts::Dir { path, device } => {
            if let (Some(k), Some(d)) = (key.device, device)
                && k == *d
            {
                out.push(Finding::new(
                    "key_file_beside_data",
                    Severity::Medium,
                    "the key file is on the same filesystem as the data",
                    format!(
                        "{} and {path} are on device {k}; a copy or snapshot of that disk takes both",
                        key.path
                    ),
                    "move the key file to another filesystem (ideally another disk or machine mount) and set [keys] file",
                ));
            }
        }
        DataFacts::Postgres => out.push(Finding::new(
            "key_placement_unchecked",
            Severity::Info,
            "the data is in PostgreSQL: whether the key file is apart from it is not checked",
            format!(
                "the key file is {}; kura cannot see the database's disks",
                key.path
            ),
            "keep the key file off the database host and out of its backups",
        )),
    }
    out
}

/// A listener that is not loopback serves API keys and personal data in clear text.
#[must_use]
pub fn listener(listen: SocketAddr) -> Option<Finding> {
    (!listen.ip().is_loopback()).then(|| {
        Finding::new(
            "listener_without_tls",
            Severity::High,
            "the server listens beyond loopback without TLS",
            format!(
                "listen address {listen}; kura has no built-in TLS, so API keys and field values would cross the network in clear text"
            ),
            "listen on loopback (127.0.0.1 or [::1]) behind a TLS-terminating proxy",
        )
    })
}

/// A contact that stands for no one: empty, or in a domain reserved for examples.
fn placeholder_contact(contact: &str) -> bool {
    let c = contact.trim().to_ascii_lowercase();
    let domain = c.rsplit_once('@').map_or("", |(_, d)| d);
    c.is_empty()
        || domain.ends_with(".invalid")
        || domain.ends_with(".example")
        || domain.ends_with(".test")
        || matches!(domain, "example.com" | "example.org" | "example.net")
        || domain.ends_with(".example.com")
        || domain.ends_with(".example.org")
        || domain.ends_with(".example.net")
}

/// Every organization names a security officer who can be reached.
#[must_use]
pub fn officers(orgs: &[OrgFacts]) -> Vec<Finding> {
    if orgs.is_empty() {
        return vec![Finding::new(
            "security_officer_missing",
            Severity::High,
            "no organization is registered, so no one answers for the data",
            "the vault has no organization and therefore no security officer",
            "register the holder with `kura org create ... --officer-name ... --officer-contact ...`",
        )];
    }
    orgs.iter()
        .filter(|o| o.officer_name.trim().is_empty() || placeholder_contact(&o.officer_contact))
        .map(|o| {
            Finding::new(
                "security_officer_missing",
                Severity::High,
                format!("organization `{}` has no reachable security officer", o.id),
                format!(
                    "officer `{}`, contact `{}`: empty or a placeholder address",
                    o.officer_name, o.officer_contact
                ),
                format!(
                    "name a real, reachable officer for `{}` (organizations cannot yet be edited: register the organization anew with `kura org create ... --officer-name NAME --officer-contact ADDRESS` and move its principals)",
                    o.id
                ),
            )
        })
        .collect()
}

/// The whole log must be verified offline regularly.
#[must_use]
pub fn verification(now_ms: u64, last_ms: Option<u64>, limits: Limits) -> Option<Finding> {
    let max_ms = limits.verify_max_age_days.saturating_mul(86_400_000);
    let detail = match last_ms {
        None => "the access log has never been verified".to_owned(),
        Some(t) if now_ms.saturating_sub(t) > max_ms => format!(
            "last verified {} days ago",
            now_ms.saturating_sub(t) / 86_400_000
        ),
        Some(_) => return None,
    };
    Some(Finding::new(
        "log_not_verified",
        Severity::Medium,
        format!(
            "the access log was not verified within {} days",
            limits.verify_max_age_days
        ),
        detail,
        "run `kura audit verify` regularly (e.g. daily from cron); a rewrite of the log goes unnoticed until it runs",
    ))
}

/// Checkpoints must leave the database (checkpoint directory or witnesses) regularly.
#[must_use]
pub fn witnessing(
    now_ms: u64,
    last_ms: Option<u64>,
    configured: bool,
    limits: Limits,
) -> Option<Finding> {
    if !configured {
        return Some(Finding::new(
            "witness_not_configured",
            Severity::Medium,
            "checkpoints are kept only in the database",
            "neither [audit] checkpoint_dir nor any [[audit.witnesses]] is configured; whoever can rewrite the database can rewrite the log and its checkpoints together",
            "set [audit] checkpoint_dir to a directory on another disk or machine, and/or add [[audit.witnesses]] (url, key)",
        ));
    }
    let max_ms = limits.witness_max_age_hours.saturating_mul(3_600_000);
    let detail = match last_ms {
        None => "no checkpoint has been published or witnessed yet".to_owned(),
        Some(t) if now_ms.saturating_sub(t) > max_ms => format!(
            "last checkpoint published or witnessed {} hours ago",
            now_ms.saturating_sub(t) / 3_600_000
        ),
        Some(_) => return None,
    };
    Some(Finding::new(
        "checkpoint_not_witnessed",
        Severity::Medium,
        format!(
            "no checkpoint was witnessed within {} hours",
            limits.witness_max_age_hours
        ),
        detail,
        "check that `kura serve` runs and reaches its checkpoint directory and witnesses (see its log)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn key(mode: u32, device: u64) -> KeyFileFacts {
        KeyFileFacts {
            path: "/k".into(),
            exists: true,
            mode: Some(mode),
            device: Some(device),
        }
    }

    fn dir(device: u64) -> DataFacts {
        DataFacts::Dir {
            path: "/d".into(),
            device: Some(device),
        }
    }

    fn codes(v: &[Finding]) -> Vec<&str> {
        v.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn key_file_mode_and_placement() {
        assert!(key_file(Some(&key(0o600, 1)), &dir(2)).is_empty());
        assert!(key_file(Some(&key(0o400, 1)), &dir(2)).is_empty());
        let f = key_file(Some(&key(0o644, 1)), &dir(2));
        assert_eq!(codes(&f), ["key_file_permissions"]);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].detail.contains("0644"), "{}", f[0].detail);
        assert_eq!(
            codes(&key_file(Some(&key(0o640, 1)), &dir(1))),
            ["key_file_permissions", "key_file_beside_data"]
        );
        assert_eq!(
            codes(&key_file(Some(&key(0o600, 1)), &DataFacts::Postgres)),
            ["key_placement_unchecked"]
        );
        let missing = KeyFileFacts {
            exists: false,
            ..key(0o600, 1)
        };
        assert_eq!(
            codes(&key_file(Some(&missing), &dir(1))),
            ["key_file_missing"]
        );
        assert!(key_file(None, &dir(1)).is_empty(), "another provider");
    }

    #[test]
    fn only_loopback_listeners_pass() {
        assert!(listener("127.0.0.1:8270".parse().unwrap_or_else(|_| unreachable!())).is_none());
        assert!(listener("[::1]:8270".parse().unwrap_or_else(|_| unreachable!())).is_none());
        let f = listener("0.0.0.0:8270".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(f.map(|f| f.severity), Some(Severity::High));
    }

    #[test]
    fn officers_must_be_named_and_reachable() {
        let org = |name: &str, contact: &str| OrgFacts {
            id: "acme".into(),
            officer_name: name.into(),
            officer_contact: contact.into(),
        };
        assert!(officers(&[org("Hanako", "sec@acme.jp")]).is_empty());
        assert!(officers(&[org("Hanako", "+81 3 1234 5678")]).is_empty());
        for bad in [
            org("", "sec@acme.jp"),
            org("Placeholder", "security@example.invalid"),
            org("X", "x@example.com"),
            org("X", " "),
        ] {
            assert_eq!(codes(&officers(&[bad])), ["security_officer_missing"]);
        }
        assert_eq!(codes(&officers(&[])), ["security_officer_missing"]);
    }

    #[test]
    fn verification_and_witnessing_age() {
        let l = Limits::default();
        let now = 100 * DAY;
        assert!(verification(now, Some(now - 6 * DAY), l).is_none());
        assert!(verification(now, Some(now - 8 * DAY), l).is_some());
        let never = verification(now, None, l).map(|f| f.detail);
        assert_eq!(
            never.as_deref(),
            Some("the access log has never been verified")
        );
        assert_eq!(
            witnessing(now, None, false, l).map(|f| f.code),
            Some("witness_not_configured".to_owned())
        );
        assert!(witnessing(now, Some(now - DAY / 2), true, l).is_none());
        assert_eq!(
            witnessing(now, Some(now - 2 * DAY), true, l).map(|f| f.code),
            Some("checkpoint_not_witnessed".to_owned())
        );
        assert!(witnessing(now, None, true, l).is_some());
    }
}
