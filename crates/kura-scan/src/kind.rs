//! The kinds of personal data `kura scan` looks for, and the confidence scale of a finding.
//!
//! Leaves out how each kind is found (see `detect.rs`) and how it is masked (see `mask.rs`).

use serde::Serialize;

/// A kind of personal data (or of secret that guards it) that the scanner reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// An e-mail address.
    Email,
    /// A telephone number (E.164 or a national format of JP, US, DE or UK).
    Phone,
    /// A payment card number that passes the Luhn check and has a known issuer prefix.
    PaymentCard,
    /// An IBAN that passes the mod-97 check.
    Iban,
    /// A US social security number outside the ranges never issued.
    UsSsn,
    /// A Japanese My Number (individual number) with a valid check digit.
    JpMyNumber,
    /// A date of birth (a date with birth context).
    BirthDate,
    /// A postal address or part of one (JP, US, DE).
    PostalAddress,
    /// A personal name.
    PersonName,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A password hash (bcrypt, argon2, crypt, PBKDF2, or a bare hex digest in a password field).
    PasswordHash,
    /// An API key, private key or plaintext password (kura's own `kura_` keys included).
    Secret,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 12] = [
        Kind::Email,
        Kind::Phone,
        Kind::PaymentCard,
        Kind::Iban,
        Kind::UsSsn,
        Kind::JpMyNumber,
        Kind::BirthDate,
        Kind::PostalAddress,
        Kind::PersonName,
        Kind::IpAddress,
        Kind::PasswordHash,
        Kind::Secret,
    ];

    /// The stable snake_case id used in JSON output and as the SARIF rule suffix.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::PaymentCard => "payment_card",
            Kind::Iban => "iban",
            Kind::UsSsn => "us_ssn",
            Kind::JpMyNumber => "jp_my_number",
            Kind::BirthDate => "birth_date",
            Kind::PostalAddress => "postal_address",
            Kind::PersonName => "person_name",
            Kind::IpAddress => "ip_address",
            Kind::PasswordHash => "password_hash",
            Kind::Secret => "secret",
        }
    }

    /// A short English title for people.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Email => "e-mail address",
            Kind::Phone => "phone number",
            Kind::PaymentCard => "payment card number",
            Kind::Iban => "IBAN",
            Kind::UsSsn => "US social security number",
            Kind::JpMyNumber => "Japanese My Number",
            Kind::BirthDate => "date of birth",
            Kind::PostalAddress => "postal address",
            Kind::PersonName => "personal name",
            Kind::IpAddress => "IP address",
            Kind::PasswordHash => "password hash",
            Kind::Secret => "secret or API key",
        }
    }

    /// Whether a value of this kind points at one person, so that distinct values of it
    /// count towards the "personal data of about N people" verdict.
    pub fn identifies_person(self) -> bool {
        matches!(
            self,
            Kind::Email
                | Kind::Phone
                | Kind::PaymentCard
                | Kind::Iban
                | Kind::UsSsn
                | Kind::JpMyNumber
                | Kind::PostalAddress
                | Kind::PersonName
        )
    }
}

/// How sure the scanner is that a finding is what it says. Ordered: `Low < Medium < High`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The shape matches, but nothing else supports it.
    Low,
    /// The shape matches and a check (checksum, dictionary, number plan) passes.
    Medium,
    /// A check passes and the context (column header, key, nearby words) agrees.
    High,
}

impl Confidence {
    /// The lowercase name used in output.
    pub fn id(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }

    /// One step up, saturating at `High`.
    pub fn up(self) -> Confidence {
        match self {
            Confidence::Low => Confidence::Medium,
            _ => Confidence::High,
        }
    }
}
