//! [`MailConfig`]: the `[mail]` section of the configuration, and [`TransportKind`], which
//! transport it selects.

use std::path::PathBuf;

use serde::Deserialize;

/// Which transport `[mail]` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
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
    pub transport: TransportKind,
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
    /// SMTP connections a batch of notices is spread over (1-256).
    pub smtp_connections: u32,
    /// Base of the recovery link; the token is appended. Use a fragment
    /// (`https://example.com/recover#token=`) so that the token does not
    /// reach web server logs or `Referer` headers. Without it, mails carry the
    /// token only.
    pub recovery_url: Option<String>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: TransportKind::Outbox,
            from: "kura <noreply@localhost>".to_owned(),
            outbox_dir: PathBuf::from("outbox"),
            smtp_host: "127.0.0.1".to_owned(),
            smtp_port: 25,
            allow_plaintext_remote: false,
            timeout_secs: 10,
            smtp_connections: 16,
            recovery_url: None,
        }
    }
}
