//! Incremental scans: `kura scan --baseline FILE`.
//!
//! The baseline is a JSON file recording, per scanned file, a hash of its content and a
//! fingerprint of each finding, so that a later run reports only what is new. The first run
//! (FILE missing) reports everything and writes FILE; every later run reads it, reports only
//! findings that are not in it, and replaces it (atomically: a temporary file in the same
//! folder, then a rename) with the current state, so a finding that disappears and comes back
//! is new again.
//!
//! # What the file holds, and what it does not
//!
//! ```json
//! {"version":2,"scanner":"kura-scan 0.1.0 min=medium examples=false",
//!  "files":{"/srv/www/customers.csv":{"sha256":"9f…","findings":{"3a…":50,"c1…":1}}}}
//! ```
//!
//! - **File key** = the file's canonical path (absolute, symlinks resolved: [`key_for`]), so
//!   `kura scan ./www`, `kura scan www` and `kura scan /srv/www` from any working directory
//!   read and write the same entries. Reports still show paths as walked.
//!
//! - **Finding fingerprint** = the first 128 bits of SHA-256 over a domain tag, the kind id
//!   and the *masked* excerpt (`u***@g***.com`, `***-****-**47`), stored with the number of
//!   times it occurs in the file. It holds nothing the masked form does not already show:
//!   anyone can compute it from a masked value, and no unmasked value goes in.
//!   The detector's `value_hash` (a 64-bit hash of the unmasked value) is deliberately **not**
//!   used: an unkeyed or process-keyed hash of a phone number or a My Number is brute-forced
//!   in seconds, which would turn the baseline into a list of plaintext values. Neither is the
//!   line number: a line inserted at the top of a file would shift every finding below it and
//!   report them all as new.
//! - Because masks collapse many values into one (fifty Gmail addresses all mask to
//!   `u***@g***.com`), a finding is matched by **count**: a file whose baseline has *n*
//!   occurrences of a fingerprint has its first *n* current occurrences (in file order) known
//!   and the rest new. A new customer line appended to a list therefore shows up as new even
//!   when its masked values equal old ones; a value *replaced* by another with the same mask
//!   is not noticed (the price of storing nothing but masks).
//! - **Content hash** = SHA-256 of the file's bytes, used only to skip the detectors for a
//!   file that has not changed since the baseline was written (and only when the scanner
//!   version and the options that change findings are the same). A hash of a whole file is an
//!   oracle for guessing that whole file, which only matters when the file is tiny (a file
//!   holding a lone phone number): files under [`MIN_HASHED_SIZE`] bytes get no content hash
//!   and are simply scanned again.
//!
//! A baseline that cannot be read, is not valid JSON of this shape, or has another version is
//! an error naming the file and the problem; it is never taken as empty, which would report
//! every finding as new (or, worse, a forged baseline would hide them — so keep the file
//! where the scanned data's owners cannot write it).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ScanError;
use crate::kind::{Confidence, Kind};

/// The version of the baseline format this build reads and writes.
///
/// Version 2 names files by their canonical path (version 1 by the path as walked, so `./www`
/// and `www` were two baselines).
pub(crate) const VERSION: u32 = 2;

/// The baseline's key for a file or folder: its canonical path, or the path as given when it
/// cannot be resolved (it vanished during the scan).
pub(crate) fn key_for(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Files smaller than this get no content hash in the baseline (see the module docs).
pub(crate) const MIN_HASHED_SIZE: u64 = 64;

/// Domain separation for finding fingerprints.
const FINGERPRINT_TAG: &[u8] = b"kura-scan/baseline/finding/v1\0";

/// The whole baseline file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Baseline {
    /// Format version, [`VERSION`].
    pub version: u32,
    /// The scanner and the options that change findings when the baseline was written; the
    /// content-hash shortcut is taken only when it matches.
    pub scanner: String,
    /// Per file path (as walked): what was there.
    pub files: BTreeMap<String, FileEntry>,
}

/// What the baseline knows about one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileEntry {
    /// Hex SHA-256 of the content; absent for small files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Whether reading the file stopped at a limit (such a file is always scanned again, so
    /// its skip notice is reported again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Finding fingerprint → occurrences in the file.
    pub findings: BTreeMap<String, u64>,
}

impl FileEntry {
    /// Number of findings recorded for the file.
    pub fn total(&self) -> u64 {
        self.findings.values().sum()
    }
}

/// Only the version, read first so another version is reported as such and not as a
/// field this build does not know.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// The scanner identity for [`Baseline::scanner`].
pub(crate) fn scanner_id(min: Confidence, include_example_domains: bool) -> String {
    format!(
        "kura-scan {} min={} examples={}",
        env!("CARGO_PKG_VERSION"),
        min.id(),
        include_example_domains
    )
}

/// The fingerprint of a finding: hex of the first 16 bytes of
/// SHA-256(tag ‖ kind id ‖ 0 ‖ masked excerpt). Takes the masked excerpt only, never a value.
pub(crate) fn fingerprint(kind: Kind, masked: &str) -> String {
    let mut h = Sha256::new();
    h.update(FINGERPRINT_TAG);
    h.update(kind.id().as_bytes());
    h.update([0u8]);
    h.update(masked.as_bytes());
    hex(&h.finalize()[..16])
}

/// Hex SHA-256 of a file's content and its size, read in blocks.
pub(crate) fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex(&h.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn err(path: &Path, reason: impl Into<String>) -> ScanError {
    ScanError::Baseline {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl Baseline {
    /// Reads the baseline at `path`: `Ok(None)` when there is no such file (a first run).
    ///
    /// # Errors
    /// [`ScanError::Baseline`] when the file cannot be read, is not a baseline, or has another
    /// version.
    pub fn load(path: &Path) -> Result<Option<Baseline>, ScanError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(path, format!("cannot read it: {e}"))),
        };
        Baseline::parse(&text).map(Some).map_err(|r| err(path, r))
    }

    /// Parses a baseline document.
    fn parse(text: &[u8]) -> Result<Baseline, String> {
        let v: VersionOnly = serde_json::from_slice(text)
            .map_err(|e| format!("not a kura scan baseline (corrupt or truncated?): {e}"))?;
        if v.version != VERSION {
            return Err(format!(
                "baseline version {} is not supported (this kura reads version {VERSION})",
                v.version
            ));
        }
        let b: Baseline = serde_json::from_slice(text)
            .map_err(|e| format!("not a kura scan baseline (corrupt or truncated?): {e}"))?;
        for (file, entry) in &b.files {
            let bad_fp = entry
                .findings
                .keys()
                .any(|k| k.len() != 32 || !k.bytes().all(|c| c.is_ascii_hexdigit()));
            let bad_hash = entry
                .sha256
                .as_ref()
                .is_some_and(|h| h.len() != 64 || !h.bytes().all(|c| c.is_ascii_hexdigit()));
            if bad_fp || bad_hash {
                return Err(format!("malformed entry for {file:?}"));
            }
        }
        Ok(b)
    }

    /// Writes the baseline to `path` atomically: a new temporary file in the same folder
    /// (readable by the owner only, on Unix), synced, then renamed over `path`.
    ///
    /// # Errors
    /// [`ScanError::Baseline`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), ScanError> {
        let tmp = temp_path(path);
        let write = || -> io::Result<()> {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            let mut w = io::BufWriter::new(&mut f);
            serde_json::to_writer(&mut w, self)?;
            w.write_all(b"\n")?;
            w.flush()?;
            drop(w);
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(path, format!("cannot write it: {e}"))
        })
    }
}

/// The temporary file [`Baseline::save`] writes before the rename.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "baseline".to_owned());
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

/// Takes the baseline's lock (`FILE.lock` beside it, created if missing) for the whole run,
/// so that two scans with the same baseline cannot interleave their read and write (the
/// second would overwrite the first's state, and findings between them would be lost). The
/// lock is released when the returned file is dropped, or when the process ends.
///
/// # Errors
/// [`ScanError::Baseline`] when another run holds the lock, or the lock file cannot be
/// created.
pub(crate) fn lock(path: &Path) -> Result<std::fs::File, ScanError> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let err = |reason: String| ScanError::Baseline {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            err(format!(
                "cannot create its lock file {}: {e}",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(err(format!(
            "in use by another kura scan (lock file {})",
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(err(format!("cannot lock {}: {e}", lock_path.display())))
        }
    }
}

/// Whether `file` is the baseline at `baseline`, its lock file or one of its temporary
/// files, so that the scan skips it.
pub(crate) struct SelfFilter {
    dir: Option<PathBuf>,
    name: String,
    tmp_prefix: String,
}

impl SelfFilter {
    /// A filter for the baseline at `path` (which need not exist yet).
    pub fn new(path: &Path) -> SelfFilter {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        SelfFilter {
            dir: std::fs::canonicalize(parent).ok(),
            tmp_prefix: format!(".{name}.tmp."),
            name,
        }
    }

    /// Whether `file` is the baseline or one of its temporary files.
    pub fn matches(&self, file: &Path) -> bool {
        let Some(dir) = &self.dir else { return false };
        let Some(n) = file.file_name() else {
            return false;
        };
        let n = n.to_string_lossy();
        let lock = format!("{}.lock", self.name);
        if n != self.name.as_str() && n != lock.as_str() && !n.starts_with(&self.tmp_prefix) {
            return false;
        }
        let parent = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::canonicalize(parent).is_ok_and(|p| &p == dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_keyed_by_kind_and_holds_no_plaintext() {
        let masked = crate::mask::mask(Kind::Email, "user7@gmail.com");
        let a = fingerprint(Kind::Email, &masked);
        assert_eq!(a, fingerprint(Kind::Email, &masked));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, fingerprint(Kind::Phone, &masked), "kind is part of it");
        assert_ne!(a, fingerprint(Kind::Email, "x***@g***.com"));
        // Two values with the same mask have the same fingerprint: nothing beyond the mask
        // goes in.
        let other = crate::mask::mask(Kind::Email, "ursula@gmx.com");
        assert_eq!(masked, other);
        assert_eq!(a, fingerprint(Kind::Email, &other));
        assert!(!a.contains("user7") && !a.contains("gmail"));
        // A known vector, so the format cannot change by accident.
        let mut h = Sha256::new();
        h.update(b"kura-scan/baseline/finding/v1\0email\0u***@g***.com");
        assert_eq!(a, hex(&h.finalize()[..16]));
    }

    #[test]
    fn a_baseline_in_use_is_refused_until_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.json");
        let held = lock(&path).expect("first lock");
        let err = lock(&path).expect_err("second lock refused");
        assert!(
            err.to_string().contains("in use by another kura scan"),
            "{err}"
        );
        assert_eq!(err.code(), "scan_baseline");
        drop(held);
        lock(&path).expect("free again");
        let filter = SelfFilter::new(&path);
        assert!(filter.matches(&dir.path().join("b.json.lock")));
    }

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("base.json");
        assert!(Baseline::load(&path).expect("missing is fine").is_none());
        let mut b = Baseline {
            version: VERSION,
            scanner: scanner_id(Confidence::Medium, false),
            files: BTreeMap::new(),
        };
        b.files.insert(
            "./x.csv".into(),
            FileEntry {
                sha256: Some("ab".repeat(32)),
                partial: true,
                findings: [(fingerprint(Kind::Phone, "***-****-**47"), 3)]
                    .into_iter()
                    .collect(),
            },
        );
        b.save(&path).expect("save");
        let back = Baseline::load(&path).expect("load").expect("present");
        assert_eq!(back.version, VERSION);
        assert_eq!(back.scanner, b.scanner);
        assert_eq!(back.files, b.files);
        assert_eq!(back.files["./x.csv"].total(), 3);
        // No temporary file is left behind, and the saved file is excluded from scans.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1);
        let filter = SelfFilter::new(&path);
        assert!(filter.matches(&path));
        assert!(filter.matches(&temp_path(&path)));
        assert!(!filter.matches(&dir.path().join("other.json")));

        for (text, want) in [
            ("", "corrupt"),
            ("{\"version\":2,\"scanner\":\"x\",\"files\":{", "corrupt"),
            ("{\"version\":1,\"files\":{}}", "version 1"),
            (
                "{\"version\":2,\"scanner\":\"x\",\"files\":{\"a\":{\"findings\":{\"zz\":1}}}}",
                "malformed",
            ),
        ] {
            std::fs::write(&path, text).expect("write");
            let e = Baseline::load(&path).expect_err(text).to_string();
            assert!(e.contains("base.json") && e.contains(want), "{text}: {e}");
        }
    }
}
