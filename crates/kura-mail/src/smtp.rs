//! [`Smtp`]: plain SMTP to a relay (lettre). Meant for a relay on loopback (the local MTA
//! signs, queues and delivers with TLS); a non-loopback host is refused unless
//! `allow_plaintext_remote = true`, because this build carries no TLS stack.
//!
//! *Invariant:* errors carry the kind of failure and the SMTP reply code only, never reply
//! text (which may echo the recipient), an address or content. What it leaves out:
//! STARTTLS/SMTPS, SMTP authentication, retries and delivery tracking (the breach-notice
//! sender owns those). A sent message has left kura: [`Transport::purge_subject`] has
//! nothing to remove here.

use std::net::IpAddr;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::{PoolConfig, SmtpTransport};

use crate::error::{MailError, Result};
use crate::wire::{build_message, parse_from};
use crate::{MailConfig, OutgoingMail, Transport};

/// Sends through a plain SMTP relay (no TLS in this build).
#[derive(Clone)]
pub struct Smtp {
    transport: SmtpTransport,
    from: Mailbox,
    /// Connections a batch is spread over.
    connections: usize,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp").finish_non_exhaustive()
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

impl Smtp {
    /// An SMTP mailer for `config.smtp_host:config.smtp_port`.
    ///
    /// # Errors
    /// `invalid_config` for a bad `from`, or a non-loopback host without
    /// `allow_plaintext_remote`.
    pub fn new(config: &MailConfig) -> Result<Self> {
        let from = parse_from(&config.from)?;
        if !is_loopback(&config.smtp_host) && !config.allow_plaintext_remote {
            return Err(MailError::InvalidConfig {
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
        let connections = config.smtp_connections.clamp(1, 256);
        let transport = SmtpTransport::builder_dangerous(host)
            .port(config.smtp_port)
            .timeout(Some(Duration::from_secs(config.timeout_secs.max(1))))
            .pool_config(PoolConfig::new().max_size(connections))
            .build();
        Ok(Self {
            transport,
            from,
            connections: connections as usize,
        })
    }
}

impl Transport for Smtp {
    /// Spreads the batch over up to `smtp_connections` pooled connections, each sending its
    /// share in turn. (lettre 0.11.23 leaves Nagle's algorithm on, so one connection waits
    /// for the relay's delayed ACK — about 40 ms — on every message; parallel connections
    /// are what keeps a campaign moving until a release carries TCP_NODELAY.)
    fn send_batch(&self, mails: &[OutgoingMail]) -> Vec<Result<()>> {
        if mails.len() <= 1 || self.connections <= 1 {
            return mails.iter().map(|m| self.send(m)).collect();
        }
        let chunk = mails.len().div_ceil(self.connections);
        std::thread::scope(|scope| {
            let workers: Vec<_> = mails
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || part.iter().map(|m| self.send(m)).collect::<Vec<_>>())
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    w.join().unwrap_or_else(|_| {
                        (0..chunk)
                            .map(|_| Err(MailError::send("smtp sender thread panicked")))
                            .collect()
                    })
                })
                .take(mails.len())
                .collect()
        })
    }

    fn send(&self, mail: &OutgoingMail) -> Result<()> {
        let message = build_message(&self.from, mail)?;
        lettre::Transport::send(&self.transport, &message)
            .map(|_| ())
            .map_err(|e| {
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
                    Some(code) => MailError::send(format!("smtp {kind} error, reply code {code}")),
                    None => MailError::send(format!("smtp {kind} error")),
                }
            })
    }
}
