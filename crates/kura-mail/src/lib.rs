//! Outbound mail for kura: one [`Transport`] trait (send one composed message), two
//! implementations — [`Smtp`] (plain SMTP to a loopback relay, lettre) and [`Outbox`] (one
//! `.eml` file per message, the embedded default) — and the removal of the messages a
//! transport still holds about one person ([`Transport::purge_subject`]), which a subject's
//! erasure calls.
//!
//! Composition (templates, languages) is not here: kura-credentials composes the recovery
//! and password-changed mails without any IO, later the breach-notice sender composes
//! notices; both hand an [`OutgoingMail`] to a transport. This crate needs no other kura
//! crate (arrows point down: kura-vault and kura-server use it, never the reverse).
//!
//! # Invariants and security properties
//! - Never logs, and no error holds, an address, a message body, a token or SMTP reply text
//!   (which may echo the recipient); errors are a [`MailError`] with a stable code.
//! - Message bodies are wiped on drop ([`OutgoingMail::body`] is `Zeroizing`); `Debug`
//!   shows the subject line only.
//! - Outbox files are mode 0600 in a directory created 0700, written atomically, and named
//!   without any address or subject id: a message about a subject carries its
//!   [`SubjectTag`], a keyed hash computed by the caller.
//! - [`Transport::purge_subject`] removes every file the outbox holds about a tag,
//!   temporary ones included; for SMTP it has nothing to do (the message has left kura).
//!
//! # Example
//! ```
//! use kura_mail::{MailConfig, OutgoingMail, SubjectTag, Transport, transport_from_config};
//! use zeroize::Zeroizing;
//!
//! # fn main() -> Result<(), kura_mail::MailError> {
//! let dir = tempfile::tempdir().expect("tmp");
//! let config = MailConfig { outbox_dir: dir.path().join("outbox"), ..MailConfig::default() };
//! let transport = transport_from_config(&config)?;
//! let tag = SubjectTag::from_keyed_hash([7; 16]); // HMAC of the subject id in real use
//! let mail = OutgoingMail::new("taro@example.jp".into(), "Hello".into(),
//!                              Zeroizing::new("body".into())).about(tag);
//! transport.send(&mail)?;
//! assert_eq!(transport.purge_subject(&tag)?, 1);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod config;
mod error;
mod message;
mod outbox;
mod smtp;
mod wire;

pub use config::{MailConfig, TransportKind};
pub use error::{MailError, Result};
pub use message::{OutgoingMail, SubjectTag, TAG_LEN};
pub use outbox::Outbox;
pub use smtp::Smtp;

/// Something that delivers [`OutgoingMail`]. Implementations block (network or disk); async
/// callers run them on a blocking thread.
pub trait Transport: Send + Sync {
    /// Sends or stores one message.
    ///
    /// # Errors
    /// `mail_failed`, `io_error` or `rng_failed`, without addresses or content.
    fn send(&self, mail: &OutgoingMail) -> Result<()>;

    /// Removes every message this transport still holds [about](OutgoingMail::about) `tag`
    /// (not yet handed on); returns how many. Idempotent. A transport that holds nothing
    /// (SMTP: a sent message has left kura) returns 0.
    ///
    /// # Errors
    /// `io_error` when held messages cannot be listed or removed.
    fn purge_subject(&self, tag: &SubjectTag) -> Result<usize> {
        let _ = tag;
        Ok(0)
    }

    /// [`Transport::purge_subject`] for several subjects at once (an erasure batch): the
    /// outbox lists its directory once instead of once per subject.
    ///
    /// # Errors
    /// As [`Transport::purge_subject`].
    fn purge_subjects(&self, tags: &[SubjectTag]) -> Result<usize> {
        let mut n = 0;
        for t in tags {
            n += self.purge_subject(t)?;
        }
        Ok(n)
    }

    /// Sends several messages; one result per message, in order. The outbox writes them
    /// with one flush of the file system instead of one per file; SMTP sends them in turn.
    fn send_batch(&self, mails: &[OutgoingMail]) -> Vec<Result<()>> {
        mails.iter().map(|m| self.send(m)).collect()
    }

    /// Whether this transport already holds `mail` — known only for a message with a fixed
    /// [`OutgoingMail::message_id`] in a transport that keeps messages (the outbox:
    /// `Some(true)` when its file exists). `None`: cannot tell (SMTP: a message handed to
    /// the relay has left kura). A sender resuming after a crash asks this before sending
    /// a message it had started, so that the outbox gets each message exactly once.
    fn holds(&self, mail: &OutgoingMail) -> Option<bool> {
        let _ = mail;
        None
    }
}

/// The exact RFC 5322 bytes `mail` would be sent as from `from` (a mailbox, as in
/// `[mail] from`): for previews. The Date header is the current time; the Message-ID is
/// random unless the message has a fixed one.
///
/// # Errors
/// `invalid_config` for a bad `from`; `mail_failed` for a bad recipient.
pub fn compose(from: &str, mail: &OutgoingMail) -> Result<Vec<u8>> {
    let from = wire::parse_from(from)?;
    Ok(wire::build_message(&from, mail)?.formatted())
}

/// Builds the transport `[mail]` selects.
///
/// # Errors
/// `invalid_config` for a bad `from`, or a plaintext non-loopback SMTP host without
/// `allow_plaintext_remote`; `io_error` when the outbox directory cannot be created.
pub fn transport_from_config(config: &MailConfig) -> Result<Box<dyn Transport>> {
    Ok(match config.transport {
        TransportKind::Outbox => Box::new(Outbox::new(config)?),
        TransportKind::Smtp => Box::new(Smtp::new(config)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn sample() -> OutgoingMail {
        OutgoingMail::new(
            "subject@example.org".to_owned(),
            "Hello".to_owned(),
            Zeroizing::new("line one\nline two\n".to_owned()),
        )
    }

    #[test]
    fn outbox_writes_one_eml_per_message() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = MailConfig {
            outbox_dir: dir.path().join("out"),
            ..MailConfig::default()
        };
        let m = transport_from_config(&cfg).expect("mailer");
        m.send(&sample()).expect("send");
        m.send(&sample()).expect("send");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .expect("ls")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 2);
        for f in &files {
            assert_eq!(f.extension().and_then(|e| e.to_str()), Some("eml"));
            let text = std::fs::read_to_string(f).expect("read");
            for h in [
                "From: kura <noreply@localhost>",
                "To: subject@example.org",
                "Subject: Hello",
                "Date: ",
                "Message-ID: <",
                "MIME-Version: 1.0",
                "charset=utf-8",
            ] {
                assert!(text.contains(h), "missing {h} in {text}");
            }
            assert!(text.contains("\r\n\r\nline one\r\nline two"), "{text}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(f).expect("meta").permissions().mode();
                assert_eq!(mode & 0o077, 0, "outbox file readable by others");
            }
        }
    }

    #[test]
    fn purge_removes_exactly_the_messages_about_one_subject() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = MailConfig {
            outbox_dir: dir.path().join("out"),
            ..MailConfig::default()
        };
        let outbox = Outbox::new(&cfg).expect("outbox");
        let (a, b) = (
            SubjectTag::from_keyed_hash([0xA1; 16]),
            SubjectTag::from_keyed_hash([0xB2; 16]),
        );
        outbox.send(&sample().about(a)).expect("send");
        outbox.send(&sample().about(a)).expect("send");
        outbox.send(&sample().about(b)).expect("send");
        outbox.send(&sample()).expect("send");
        // A temporary file left by a crash mid-write is found too.
        let leftover = format!(".tmp-1-t{}-00", a.to_hex());
        std::fs::write(outbox.dir().join(&leftover), "x").expect("write");
        let names = || -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(outbox.dir())
                .expect("ls")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names().len(), 5);
        for n in names() {
            assert!(!n.contains("example.org"), "{n}");
        }
        let t: &dyn Transport = &outbox;
        assert_eq!(t.purge_subject(&a).expect("purge"), 3);
        let left = names();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().all(|n| !n.contains(&a.to_hex())), "{left:?}");
        assert!(left.iter().any(|n| n.contains(&b.to_hex())), "{left:?}");
        assert_eq!(t.purge_subject(&a).expect("again"), 0, "idempotent");
        // SMTP holds nothing: nothing to purge.
        let smtp = Smtp::new(&MailConfig {
            transport: TransportKind::Smtp,
            ..cfg.clone()
        })
        .expect("smtp");
        assert_eq!(Transport::purge_subject(&smtp, &b).expect("smtp"), 0);
    }

    #[test]
    fn fixed_id_messages_are_written_once_and_found_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = MailConfig {
            outbox_dir: dir.path().join("out"),
            ..MailConfig::default()
        };
        let outbox = Outbox::new(&cfg).expect("outbox");
        let tag = SubjectTag::from_keyed_hash([0xC3; 16]);
        let mail = |id: &str| sample().about(tag).with_message_id(id).expect("id");
        assert_eq!(outbox.holds(&mail("n.1.a")), Some(false));
        let batch = [mail("n.1.a"), mail("n.1.b"), mail("n.1.a")];
        assert!(outbox.send_batch(&batch).iter().all(Result::is_ok));
        outbox.send(&mail("n.1.b")).expect("again");
        let files: Vec<String> = std::fs::read_dir(outbox.dir())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 2, "one file per fixed id: {files:?}");
        assert_eq!(outbox.holds(&mail("n.1.a")), Some(true));
        let text = std::fs::read_to_string(
            outbox
                .dir()
                .join(files.iter().find(|f| f.starts_with("n.1.a")).expect("a")),
        )
        .expect("read");
        assert!(text.contains("Message-ID: <n.1.a@localhost>"), "{text}");
        assert_eq!(outbox.purge_subject(&tag).expect("purge"), 2);
        assert_eq!(
            Transport::holds(&outbox, &sample()),
            None,
            "random ids: unknown"
        );
        for bad in ["", "A", "a b", "x/y", &"a".repeat(129)] {
            assert!(sample().with_message_id(bad).is_err(), "{bad:?}");
        }
        let bytes = compose("kura <noreply@example.org>", &mail("n.2.c")).expect("compose");
        let text = String::from_utf8(bytes).expect("utf8");
        assert!(text.contains("Message-ID: <n.2.c@example.org>"), "{text}");
    }

    #[test]
    fn smtp_refuses_plaintext_remote_host() {
        let cfg = MailConfig {
            transport: TransportKind::Smtp,
            smtp_host: "mail.example.org".to_owned(),
            ..MailConfig::default()
        };
        assert_eq!(
            Smtp::new(&cfg).expect_err("remote").code(),
            "invalid_config"
        );
        for h in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            let cfg = MailConfig {
                smtp_host: h.to_owned(),
                ..cfg.clone()
            };
            Smtp::new(&cfg).expect("loopback");
        }
    }

    #[test]
    fn smtp_failure_does_not_leak_address() {
        // Nothing listens on port 1 of loopback: connection refused.
        let cfg = MailConfig {
            transport: TransportKind::Smtp,
            smtp_port: 1,
            timeout_secs: 2,
            ..MailConfig::default()
        };
        let e = Smtp::new(&cfg)
            .expect("mailer")
            .send(&sample())
            .expect_err("refused");
        assert_eq!(e.code(), "mail_failed");
        assert!(!e.to_string().contains("example.org"), "{e}");
    }
}
