//! Randomness from the OS CSPRNG, and the atomic write of the breached-password
//! filter file (temporary file in the target directory, fsync, rename): a
//! reader sees either no file or the complete file, never a partial one.
//!
//! The filter file is the last file this crate writes; mail files moved to
//! kura-mail (issue 13). Moving the filter's file IO (`BreachFilter::load`,
//! `save`, `build_filter_cli`) out as well is left for later.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{CredentialError, Result};

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| CredentialError::Rng)
}

/// A random lowercase hex string of `2 * n` characters.
fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    random_bytes(&mut buf)?;
    Ok(hex::encode(buf))
}

/// Writes `bytes` to `path` atomically: a new temporary file (mode 0600 on
/// Unix) in the same directory, fsync, rename over `path`, then fsync of the
/// directory.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(".tmp-{}", random_hex(12)?));
    let result = (|| -> std::io::Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable; not supported everywhere, so best effort.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(CredentialError::io("writing file atomically"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.bin");
        atomic_write(&p, b"one").expect("write");
        atomic_write(&p, b"two").expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
        assert_eq!(random_hex(16).expect("rng").len(), 32);
    }
}
