//! [`Outbox`]: one RFC 5322 message per `.eml` file in a directory, the embedded default
//! transport (an MTA or a person picks the files up).
//!
//! # Invariants
//! - A file is written atomically (temporary file in the same directory, fsync, rename,
//!   fsync of the directory): a reader sees no file or the whole file. The temporary name
//!   starts with `.tmp-` and has no `.eml` extension, so a poller of `*.eml` never picks it
//!   up.
//! - Files are created mode 0600 in a directory created 0700: a recovery mail carries a
//!   live token.
//! - File names hold no address and no subject id: `<unix-ms>-<random>.eml`, or
//!   `<unix-ms>-t<tag>-<random>.eml` for a message [about](crate::OutgoingMail::about) a
//!   subject, where `<tag>` is the hex of its [`SubjectTag`] (a keyed hash).
//! - [`Outbox::purge_subject`] removes every file, finished or temporary, carrying the tag.
//!   Removal unlinks the file; it does not scrub the disk blocks (the token inside is dead
//!   by then: erasure deletes the subject's tokens first).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::message::Mailbox;
use zeroize::Zeroizing;

use crate::error::{MailError, Result};
use crate::wire::{build_message, parse_from};
use crate::{MailConfig, OutgoingMail, SubjectTag, Transport};

/// A random lowercase hex string of `2 * n` characters from the OS CSPRNG.
pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|_| MailError::Rng)?;
    Ok(hex::encode(buf))
}

/// The part of a file name that marks a message about `tag`.
fn tag_marker(tag: &SubjectTag) -> String {
    format!("-t{}-", tag.to_hex())
}

/// Writes `bytes` to `dir/<stem>.eml` atomically: a new temporary file `.tmp-<stem>` (mode
/// 0600; no `.eml` extension, so a poller of `*.eml` never sees it), fsync, rename, then
/// fsync of the directory (best effort where unsupported).
fn atomic_write(dir: &Path, stem: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".tmp-{stem}"));
    let path = dir.join(format!("{stem}.eml"));
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
        fs::rename(&tmp, &path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(MailError::io("writing outbox message"))
}

/// Writes each message as an `.eml` file into a directory. See the module's invariants.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    from: Mailbox,
}

impl Outbox {
    /// An outbox in `config.outbox_dir`, created (mode 0700) if missing.
    ///
    /// # Errors
    /// `invalid_config` for a bad `from`; `io_error` if the directory cannot be created.
    pub fn new(config: &MailConfig) -> Result<Self> {
        let from = parse_from(&config.from)?;
        let mut builder = DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&config.outbox_dir)
            .map_err(MailError::io("creating outbox directory"))?;
        Ok(Self {
            dir: config.outbox_dir.clone(),
            from,
        })
    }

    /// The outbox directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes every message (and temporary file) about `tag`; returns how many files were
    /// removed. Idempotent. Scans the directory once.
    ///
    /// # Errors
    /// `io_error` when the directory cannot be listed or a file cannot be removed (files
    /// already gone are not an error).
    pub fn purge_subject(&self, tag: &SubjectTag) -> Result<usize> {
        let marker = tag_marker(tag);
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir).map_err(MailError::io("listing outbox"))? {
            let entry = entry.map_err(MailError::io("listing outbox"))?;
            if !entry.file_name().to_string_lossy().contains(&marker) {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(MailError::io("removing outbox message")(e)),
            }
        }
        if removed > 0
            && let Ok(d) = fs::File::open(&self.dir)
        {
            let _ = d.sync_all();
        }
        Ok(removed)
    }
}

impl Transport for Outbox {
    fn send(&self, mail: &OutgoingMail) -> Result<()> {
        let message = build_message(&self.from, mail)?;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let stem = match &mail.about {
            Some(tag) => format!("{millis}{}{}", tag_marker(tag), random_hex(8)?),
            None => format!("{millis}-{}", random_hex(8)?),
        };
        let bytes = Zeroizing::new(message.formatted());
        atomic_write(&self.dir, &stem, &bytes)
    }

    fn purge_subject(&self, tag: &SubjectTag) -> Result<usize> {
        Outbox::purge_subject(self, tag)
    }
}
