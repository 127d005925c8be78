//! The RFC 5322 form of an [`OutgoingMail`], shared by both transports.

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, MIME_VERSION_1_0};

use crate::OutgoingMail;
use crate::error::{MailError, Result};
use crate::outbox::random_hex;

/// Parses the configured `From:` mailbox.
pub(crate) fn parse_from(from: &str) -> Result<Mailbox> {
    from.parse::<Mailbox>()
        .map_err(|_| MailError::InvalidConfig {
            reason: "mail.from is not a valid mailbox".to_owned(),
        })
}

/// Builds the RFC 5322 message: From, To, Subject, Date, Message-ID,
/// MIME-Version, `text/plain; charset=utf-8` with an encoding lettre picks.
pub(crate) fn build_message(from: &Mailbox, mail: &OutgoingMail) -> Result<Message> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| MailError::send("recipient address is invalid"))?;
    let domain = from.email.domain().to_owned();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(match &mail.message_id {
            Some(id) => format!("<{id}@{domain}>"),
            None => format!("<{}@{}>", random_hex(16)?, domain),
        }))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.to_string())
        .map_err(|_| MailError::send("message could not be built"))
}
