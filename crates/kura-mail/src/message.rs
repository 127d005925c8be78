//! [`OutgoingMail`], one composed message, and [`SubjectTag`], the keyed name under which a
//! transport that holds messages (the outbox) files them, so that a subject's erasure can
//! remove them without any address or id in clear on disk.

use zeroize::Zeroizing;

/// Length of a [`SubjectTag`] in bytes (128 bits).
pub const TAG_LEN: usize = 16;

/// Names the person a message is about, for [`crate::Transport::purge_subject`].
///
/// *Invariant (the caller's):* the bytes are a keyed hash of the subject's id (kura-vault
/// uses HMAC-SHA-256 under a key from the key provider), never the id, an address or any
/// value a reader of the outbox could compute or reverse. The tag appears in file names in
/// hex; it links the messages of one person to each other, nothing more.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubjectTag([u8; TAG_LEN]);

impl SubjectTag {
    /// A tag from a keyed hash (see the type's invariant).
    #[must_use]
    pub fn from_keyed_hash(bytes: [u8; TAG_LEN]) -> Self {
        Self(bytes)
    }

    /// Lowercase hex, as it appears in file names.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for SubjectTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectTag(<redacted>)")
    }
}

/// One message to send. The body may hold a recovery token, so it is wiped on drop and
/// `Debug` shows neither the body nor the address.
pub struct OutgoingMail {
    /// Recipient address (the subject's address on file).
    pub to: String,
    /// Subject line (UTF-8; encoded per RFC 2047 on the wire).
    pub subject: String,
    /// Plain-text body (UTF-8).
    pub body: Zeroizing<String>,
    /// The person the message is about, when it is about one: a transport that keeps
    /// messages files them under this tag, and [`crate::Transport::purge_subject`] finds
    /// them by it. `None` for messages that must survive any one subject's erasure.
    pub about: Option<SubjectTag>,
    /// A fixed Message-ID left part (`[a-z0-9.-]`, 1-128 characters), for a message that
    /// must keep one identity across retries: a breach notice re-sent after a crash carries
    /// the same Message-ID (receivers deduplicate on it, bounces name it), and the outbox
    /// files it under a fixed name, so writing it twice leaves one file. `None`: random.
    pub message_id: Option<String>,
}

impl OutgoingMail {
    /// A message to `to`, about no one in particular (see [`Self::about`]).
    #[must_use]
    pub fn new(to: String, subject: String, body: Zeroizing<String>) -> Self {
        Self {
            to,
            subject,
            body,
            about: None,
            message_id: None,
        }
    }

    /// The same message with a fixed Message-ID left part (see [`Self::message_id`]).
    ///
    /// # Errors
    /// `invalid_config` when `id` is empty, longer than 128 characters or holds anything
    /// but lowercase ASCII letters, digits, `.` and `-`.
    pub fn with_message_id(mut self, id: &str) -> crate::Result<Self> {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !ok {
            return Err(crate::MailError::InvalidConfig {
                reason: "a message id is 1-128 of [a-z0-9.-]".to_owned(),
            });
        }
        self.message_id = Some(id.to_owned());
        Ok(self)
    }

    /// The same message, filed under `tag`.
    #[must_use]
    pub fn about(mut self, tag: SubjectTag) -> Self {
        self.about = Some(tag);
        self
    }
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}
