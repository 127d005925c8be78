//! The breached-password filter's files: loading the one `[passwords] blocklist` names
//! (or taking the embedded default) when the vault opens, and `kura passwords build-filter`,
//! which builds a filter from a list and writes it atomically. The filter itself (building
//! from a stream, encoding, lookups) is `kura_credentials::BreachFilter`, which touches no
//! file.
//!
//! *Invariant:* a filter file is replaced atomically (a new 0600 file in the same directory,
//! fsync, rename, fsync of the directory): a reader sees the old file or the complete new
//! one, never a partial file.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kura_credentials::{
    BreachFilter, BuildOptions, BuildStats, PasswordPolicy, PasswordsConfig,
    build_filter_with_stats,
};

use crate::AdminError;

/// Reads and checks a filter file written by [`build_filter_file`].
///
/// # Errors
/// [`AdminError::Io`] if the file cannot be read; [`AdminError::Credential`]
/// (`blocklist_filter_invalid`) if it is not a valid filter.
pub fn load_filter(path: &Path) -> Result<BreachFilter, AdminError> {
    let bytes = fs::read(path).map_err(AdminError::io("reading filter file"))?;
    Ok(BreachFilter::from_bytes(&bytes)?)
}

/// The breached-password filter of `config`: the file its `blocklist` names, or the
/// embedded default.
///
/// # Errors
/// As [`load_filter`].
pub fn breach_filter(config: &PasswordsConfig) -> Result<Arc<BreachFilter>, AdminError> {
    match &config.blocklist {
        Some(path) => Ok(Arc::new(load_filter(path)?)),
        None => Ok(Arc::new(BreachFilter::embedded_default()?.clone())),
    }
}

/// The password policy of `config`, with its breached-password filter loaded.
///
/// # Errors
/// As [`breach_filter`], and `invalid_config` for a bad `[passwords]` section.
pub fn password_policy(config: &PasswordsConfig) -> Result<PasswordPolicy, AdminError> {
    Ok(config.build_policy(breach_filter(config)?)?)
}

/// The body of `kura passwords build-filter --input LIST --output FILE`: reads `input` (a
/// path, or `-` for standard input) once, builds the filter and writes it atomically to
/// `output`; the statistics include the written size.
///
/// # Errors
/// [`AdminError::Io`] for the files; [`AdminError::Credential`] for a malformed list
/// (`blocklist_input_invalid`, no line content echoed) or a failed build.
pub fn build_filter_file(
    input: &Path,
    output: &Path,
    options: BuildOptions,
) -> Result<BuildStats, AdminError> {
    let reader: Box<dyn Read> = if input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(input).map_err(AdminError::io("opening blocklist input"))?)
    };
    let (filter, mut stats) =
        build_filter_with_stats(BufReader::with_capacity(1 << 20, reader), options)?;
    let bytes = filter.to_bytes();
    atomic_write(output, &bytes)?;
    stats.record_encoded_len(bytes.len());
    Ok(stats)
}

/// Writes `bytes` to `path` atomically: a new temporary file (mode 0600 on Unix) in the same
/// directory, fsync, rename over `path`, then fsync of the directory. The temporary file is
/// removed if anything fails.
fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), AdminError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let suffix: [u8; 12] = kura_crypto::random_array()?;
    let tmp = dir.join(format!(".tmp-{}", hex(&suffix)));
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
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(AdminError::io("writing filter file"))
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_credentials::{InputFormat, Password};

    #[test]
    fn writes_and_replaces_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.bin");
        atomic_write(&p, b"one").expect("write");
        atomic_write(&p, b"two").expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn build_writes_a_file_that_loads_with_stats() {
        let dir = tempfile::tempdir().expect("tmp");
        let input = dir.path().join("list.txt");
        fs::write(&input, "hunter2\nletmein\n\nletmein\n").expect("write");
        let out = dir.path().join("f.kbf");
        let stats = build_filter_file(&input, &out, BuildOptions::default()).expect("build");
        assert_eq!((stats.lines, stats.skipped, stats.keys), (4, 1, 2));
        assert_eq!(stats.format, InputFormat::Plain);
        assert_eq!(stats.bytes, fs::metadata(&out).expect("stat").len());
        let f = load_filter(&out).expect("load");
        assert!(f.contains(&Password::from("letmein")));
    }

    #[test]
    fn missing_or_corrupt_files_are_refused_with_codes() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = load_filter(&dir.path().join("none.kbf")).expect_err("missing");
        assert_eq!(e.code(), "io_error");
        let bad = dir.path().join("bad.kbf");
        fs::write(&bad, b"not a filter").expect("write");
        let e = load_filter(&bad).expect_err("corrupt");
        assert_eq!(e.code(), "blocklist_filter_invalid");
        let config = PasswordsConfig {
            blocklist: Some(bad),
            ..PasswordsConfig::default()
        };
        assert!(password_policy(&config).is_err());
        let policy = password_policy(&PasswordsConfig::default()).expect("embedded default");
        assert!(policy.blocklist().key_count() > 0);
    }
}
