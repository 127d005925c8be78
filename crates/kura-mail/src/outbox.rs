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

/// Writes `bytes` to the temporary file `dir/.tmp-<stem>` (mode 0600; no `.eml` extension,
/// so a poller of `*.eml` never sees it), replacing one a crash left behind; not flushed.
/// On failure the temporary file is removed.
fn write_tmp(dir: &Path, stem: &str, bytes: &[u8]) -> std::io::Result<(PathBuf, fs::File)> {
    let tmp = dir.join(format!(".tmp-{stem}"));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        Ok(f)
    });
    match written {
        Ok(f) => Ok((tmp, f)),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes `bytes` to `dir/<stem>.eml` atomically: the temporary file ([`write_tmp`]),
/// fsync, rename, then fsync of the directory (best effort where unsupported).
fn atomic_write(dir: &Path, stem: &str, bytes: &[u8]) -> Result<()> {
    let (tmp, f) = write_tmp(dir, stem, bytes).map_err(MailError::io("writing outbox message"))?;
    let result = f
        .sync_all()
        .and_then(|()| fs::rename(&tmp, dir.join(format!("{stem}.eml"))));
    drop(f);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
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
        self.purge_subjects(std::slice::from_ref(tag))
    }

    /// Removes the messages held about any of `tags`, listing the directory once and
    /// flushing it once.
    ///
    /// # Errors
    /// `io_error` when the directory cannot be listed or a file removed.
    pub fn purge_subjects(&self, tags: &[SubjectTag]) -> Result<usize> {
        if tags.is_empty() {
            return Ok(0);
        }
        let markers: std::collections::HashSet<String> = tags.iter().map(tag_marker).collect();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir).map_err(MailError::io("listing outbox"))? {
            let entry = entry.map_err(MailError::io("listing outbox"))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // `<stem>-t<32 hex>-<suffix>`: each `-t` may start the marker.
            let held = name
                .match_indices("-t")
                .any(|(i, _)| name.get(i..i + 35).is_some_and(|m| markers.contains(m)));
            if !held {
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

impl Outbox {
    /// The file stem of `mail`: fixed for a message with a fixed id (`<id>` or
    /// `<id>-t<tag>-0`), else `<unix-ms>[-t<tag>]-<random>`.
    fn stem(mail: &OutgoingMail) -> Result<String> {
        if let Some(id) = &mail.message_id {
            return Ok(match &mail.about {
                Some(tag) => format!("{id}{}0", tag_marker(tag)),
                None => id.clone(),
            });
        }
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Ok(match &mail.about {
            Some(tag) => format!("{millis}{}{}", tag_marker(tag), random_hex(8)?),
            None => format!("{millis}-{}", random_hex(8)?),
        })
    }

    /// The file stem and RFC 5322 bytes of `mail`.
    fn render(&self, mail: &OutgoingMail) -> Result<(String, Zeroizing<Vec<u8>>)> {
        let message = build_message(&self.from, mail)?;
        Ok((Self::stem(mail)?, Zeroizing::new(message.formatted())))
    }

    /// Writes a temporary file for a rendered message without flushing it; returns its stem.
    fn write_unsynced(&self, stem: String, bytes: &[u8]) -> Result<String> {
        write_tmp(&self.dir, &stem, bytes).map_err(MailError::io("writing outbox message"))?;
        Ok(stem)
    }
}

/// Flushes every file of the file system holding `dir` (Linux: one `syncfs`), or each of
/// `files` elsewhere.
fn flush_all(dir: &Path, files: &[PathBuf]) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        let d = fs::File::open(dir)?;
        rustix::fs::syncfs(&d).map_err(std::io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for f in files {
            fs::File::open(f)?.sync_all()?;
        }
        Ok(())
    }
}

impl Transport for Outbox {
    fn send(&self, mail: &OutgoingMail) -> Result<()> {
        let message = build_message(&self.from, mail)?;
        let bytes = Zeroizing::new(message.formatted());
        atomic_write(&self.dir, &Self::stem(mail)?, &bytes)
    }

    fn send_batch(&self, mails: &[OutgoingMail]) -> Vec<Result<()>> {
        // Every temporary file first, one flush of the file system, then the renames and
        // one flush of the directory: a message's file appears whole or not at all, and is
        // durable before the batch returns.
        let mut results: Vec<Result<()>> = Vec::with_capacity(mails.len());
        let mut stems = Vec::with_capacity(mails.len());
        let rendered: Vec<Result<(String, Zeroizing<Vec<u8>>)>> = {
            use rayon::prelude::*;
            mails.par_iter().map(|m| self.render(m)).collect()
        };
        for r in rendered {
            match r.and_then(|(stem, bytes)| self.write_unsynced(stem, &bytes)) {
                Ok(stem) => {
                    stems.push(Some(stem));
                    results.push(Ok(()));
                }
                Err(e) => {
                    stems.push(None);
                    results.push(Err(e));
                }
            }
        }
        let tmps: Vec<PathBuf> = stems
            .iter()
            .flatten()
            .map(|s| self.dir.join(format!(".tmp-{s}")))
            .collect();
        if let Err(e) = flush_all(&self.dir, &tmps) {
            let code = e.kind();
            for (r, s) in results.iter_mut().zip(&stems) {
                if let Some(s) = s {
                    let _ = fs::remove_file(self.dir.join(format!(".tmp-{s}")));
                    *r = Err(MailError::io("flushing outbox messages")(
                        std::io::Error::from(code),
                    ));
                }
            }
            return results;
        }
        for (r, s) in results.iter_mut().zip(&stems) {
            let Some(s) = s else { continue };
            let target = self.dir.join(format!("{s}.eml"));
            // The same fixed id twice in one batch: the first rename took the file.
            if let Err(e) = fs::rename(self.dir.join(format!(".tmp-{s}")), &target)
                && !(e.kind() == std::io::ErrorKind::NotFound && target.exists())
            {
                let _ = fs::remove_file(self.dir.join(format!(".tmp-{s}")));
                *r = Err(MailError::io("writing outbox message")(e));
            }
        }
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        results
    }

    fn holds(&self, mail: &OutgoingMail) -> Option<bool> {
        mail.message_id.as_ref()?;
        let stem = Self::stem(mail).ok()?;
        Some(self.dir.join(format!("{stem}.eml")).exists())
    }

    fn purge_subject(&self, tag: &SubjectTag) -> Result<usize> {
        Outbox::purge_subject(self, tag)
    }

    fn purge_subjects(&self, tags: &[SubjectTag]) -> Result<usize> {
        Outbox::purge_subjects(self, tags)
    }
}
