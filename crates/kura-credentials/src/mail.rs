//! The outbound mail interface: the [`Mailer`] trait, an SMTP transport
//! (lettre) and an outbox directory of `.eml` files (the embedded default).
//!
//! * [`SmtpMailer`] speaks plain SMTP. It is meant for a relay on loopback
//!   (the local MTA signs, queues and delivers with TLS); a non-loopback host
//!   is refused unless `allow_plaintext_remote = true`, because this build
//!   carries no TLS stack.
//! * [`OutboxMailer`] writes one RFC 5322 message per file, atomically
//!   (temporary file, fsync, rename), named `<unix-ms>-<random>.eml`, mode
//!   0600 in a 0700 directory: a recovery mail carries a live token.
//!
//! Errors never repeat addresses, message content or SMTP reply text (which
//! may echo the recipient): only the kind of failure and the reply code.
//! What it leaves out: STARTTLS/SMTPS, SMTP authentication, retries and
//! delivery tracking (the breach-notice sender owns those).

use std::fs::DirBuilder;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, MIME_VERSION_1_0};
use lettre::transport::smtp::SmtpTransport;
use lettre::{Message, Transport};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{CredentialError, Result};
use crate::fsutil::{atomic_write, random_hex};

/// Which transport `[mail]` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// Write `.eml` files into `outbox_dir` (default).
    #[default]
    Outbox,
    /// Send through `smtp_host:smtp_port`.
    Smtp,
}

/// The `[mail]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The transport.
    pub transport: MailTransport,
    /// The `From:` mailbox, e.g. `kura <noreply@example.com>`.
    pub from: String,
    /// Directory for the outbox transport.
    pub outbox_dir: PathBuf,
    /// SMTP relay host (an IP address or `localhost`).
    pub smtp_host: String,
    /// SMTP relay port.
    pub smtp_port: u16,
    /// Permit plain SMTP to a non-loopback host (the message, token included,
    /// then crosses the network in clear). Off by default.
    pub allow_plaintext_remote: bool,
    /// Connection and command timeout in seconds.
    pub timeout_secs: u64,
    /// Base of the recovery link; the token is appended. Use a fragment
    /// (`https://example.com/recover#token=`) so that the token does not
    /// reach web server logs or `Referer` headers. Without it, mails carry the
    /// token only.
    pub recovery_url: Option<String>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::Outbox,
            from: "kura <noreply@localhost>".to_owned(),
            outbox_dir: PathBuf::from("outbox"),
            smtp_host: "127.0.0.1".to_owned(),
            smtp_port: 25,
            allow_plaintext_remote: false,
            timeout_secs: 10,
            recovery_url: None,
        }
    }
}

/// One message to send. The body may hold a recovery token, so it is wiped
/// on drop and `Debug` omits it.
pub struct OutgoingMail {
    /// Recipient address (the subject's address on file).
    pub to: String,
    /// Subject line (UTF-8; encoded per RFC 2047 on the wire).
    pub subject: String,
    /// Plain-text body (UTF-8).
    pub body: Zeroizing<String>,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Something that delivers [`OutgoingMail`]. Implementations block (network
/// or disk); async callers run them on a blocking thread.
pub trait Mailer: Send + Sync {
    /// Sends or stores one message.
    ///
    /// # Errors
    /// `mail_failed` or `io_error`, without addresses or content.
    fn send(&self, mail: &OutgoingMail) -> Result<()>;
}

/// Builds the mailer `[mail]` selects.
///
/// # Errors
/// `invalid_config` for a bad `from`, or a plaintext non-loopback SMTP host
/// without `allow_plaintext_remote`.
pub fn mailer_from_config(config: &MailConfig) -> Result<Box<dyn Mailer>> {
    Ok(match config.transport {
        MailTransport::Outbox => Box::new(OutboxMailer::new(config)?),
        MailTransport::Smtp => Box::new(SmtpMailer::new(config)?),
    })
}

fn mail_err(reason: impl Into<String>) -> CredentialError {
    CredentialError::Mail {
        reason: reason.into(),
    }
}

fn parse_from(from: &str) -> Result<Mailbox> {
    from.parse::<Mailbox>()
        .map_err(|_| CredentialError::InvalidConfig {
            reason: "mail.from is not a valid mailbox".to_owned(),
        })
}

/// Builds the RFC 5322 message: From, To, Subject, Date, Message-ID,
/// MIME-Version, `text/plain; charset=utf-8` with an encoding lettre picks.
fn build_message(from: &Mailbox, mail: &OutgoingMail) -> Result<Message> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| mail_err("recipient address is invalid"))?;
    let domain = from.email.domain().to_owned();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}@{}>", random_hex(16)?, domain)))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.to_string())
        .map_err(|_| mail_err("message could not be built"))
}

/// Writes each message as an `.eml` file into a directory.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// An outbox in `config.outbox_dir`, created (mode 0700) if missing.
    ///
    /// # Errors
    /// `invalid_config` for a bad `from`; `io_error` if the directory cannot
    /// be created.
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
            .map_err(CredentialError::io("creating outbox directory"))?;
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
}

impl Mailer for OutboxMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<()> {
        let message = build_message(&self.from, mail)?;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let path = self.dir.join(format!("{millis}-{}.eml", random_hex(8)?));
        let bytes = Zeroizing::new(message.formatted());
        atomic_write(&path, &bytes)
    }
}

/// Sends through a plain SMTP relay (no TLS in this build).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl SmtpMailer {
    /// An SMTP mailer for `config.smtp_host:config.smtp_port`.
    ///
    /// # Errors
    /// `invalid_config` for a bad `from`, or a non-loopback host without
    /// `allow_plaintext_remote`.
    pub fn new(config: &MailConfig) -> Result<Self> {
        let from = parse_from(&config.from)?;
        if !is_loopback(&config.smtp_host) && !config.allow_plaintext_remote {
            return Err(CredentialError::InvalidConfig {
                reason: "mail.smtp_host is not loopback and this build has no TLS; \
                         relay through a local MTA or set mail.allow_plaintext_remote"
                    .to_owned(),
            });
        }
        let host = config
            .smtp_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let transport = SmtpTransport::builder_dangerous(host)
            .port(config.smtp_port)
            .timeout(Some(Duration::from_secs(config.timeout_secs.max(1))))
            .build();
        Ok(Self { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<()> {
        let message = build_message(&self.from, mail)?;
        self.transport.send(&message).map(|_| ()).map_err(|e| {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_permanent() {
                "permanent"
            } else if e.is_transient() {
                "transient"
            } else {
                "connection or protocol"
            };
            match e.status() {
                Some(code) => mail_err(format!("smtp {kind} error, reply code {code}")),
                None => mail_err(format!("smtp {kind} error")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OutgoingMail {
        OutgoingMail {
            to: "subject@example.org".to_owned(),
            subject: "Hello".to_owned(),
            body: Zeroizing::new("line one\nline two\n".to_owned()),
        }
    }

    #[test]
    fn outbox_writes_one_eml_per_message() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = MailConfig {
            outbox_dir: dir.path().join("out"),
            ..MailConfig::default()
        };
        let m = mailer_from_config(&cfg).expect("mailer");
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
    fn smtp_refuses_plaintext_remote_host() {
        let cfg = MailConfig {
            transport: MailTransport::Smtp,
            smtp_host: "mail.example.org".to_owned(),
            ..MailConfig::default()
        };
        assert_eq!(
            SmtpMailer::new(&cfg).expect_err("remote").code(),
            "invalid_config"
        );
        for h in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            let cfg = MailConfig {
                smtp_host: h.to_owned(),
                ..cfg.clone()
            };
            SmtpMailer::new(&cfg).expect("loopback");
        }
    }

    #[test]
    fn smtp_failure_does_not_leak_address() {
        // Nothing listens on port 1 of loopback: connection refused.
        let cfg = MailConfig {
            transport: MailTransport::Smtp,
            smtp_port: 1,
            timeout_secs: 2,
            ..MailConfig::default()
        };
        let e = SmtpMailer::new(&cfg)
            .expect("mailer")
            .send(&sample())
            .expect_err("refused");
        assert_eq!(e.code(), "mail_failed");
        assert!(!e.to_string().contains("example.org"), "{e}");
    }
}
