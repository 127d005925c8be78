//! [`AccessEvent`]: one entry of the access log, its canonical leaf encoding and its JSON
//! view. An event names who (principal), why (purpose), what (action, collection, field
//! *names*), whom (subject internal ids) and how it ended (outcome). It never holds a field
//! value: there is no place for one.
//!
//! # Leaf encoding, version 1
//! The leaf is what the RFC 6962 tree hashes, so it must be deterministic: the same event
//! always gives the same bytes, and a decoder accepts only those bytes (non-canonical input
//! is refused, so no two leaves describe one event). All integers are big-endian.
//!
//! ```text
//! u8      version = 1
//! u64     time, unix milliseconds
//! str     principal          str = u16 length || UTF-8 bytes
//! str     purpose
//! str     action             one of Action's names
//! str     collection
//! u8      subjects kind      0 = list, 1 = bitmap
//!   list:   u32 count (<= 64) || count × u64 internal ids, strictly increasing
//!   bitmap: u32 length || RoaringTreemap portable serialization of more than 64 ids,
//!           built from the sorted ids (array and bitmap containers, no run containers)
//! u16     field count || that many str, strictly increasing bytewise
//! str     outcome            "ok" | "denied:<code>" | "error:<code>", code [a-z0-9_]{1,64}
//! str     request id
//! ```
//! Nothing may follow. A future version changes the leading byte; decoders refuse versions
//! they do not know.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use roaring::RoaringTreemap;
use serde::Serialize;

use crate::AuditError;

/// The leaf encoding version this build writes.
pub const LEAF_VERSION: u8 = 1;
/// Subject sets larger than this are encoded as a bitmap.
pub const SUBJECT_LIST_MAX: usize = 64;
/// Longest principal, purpose, collection, field name or request id, in bytes.
pub const MAX_STR: usize = 256;
/// Most field names per event.
pub const MAX_FIELDS: usize = 1024;

macro_rules! actions {
    ($($(#[$doc:meta])* $v:ident => $s:literal,)*) => {
        /// What the request did. A fixed set: the decoder refuses names it does not know.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Action { $($(#[$doc])* $v,)* }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$v,)*];

            /// The wire name (`read`, `api_key_create`, ...).
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Action::$v => $s,)* }
            }

            /// Parses a wire name.
            #[must_use]
            pub fn parse(name: &str) -> Option<Action> {
                match name { $($s => Some(Action::$v),)* _ => None }
            }
        }
    };
}

actions! {
    /// Subjects created.
    Create => "create",
    /// Fields of one subject read.
    Read => "read",
    /// Fields of one subject changed.
    Patch => "patch",
    /// A subject erased.
    Delete => "delete",
    /// A blind-index search (the subjects found).
    Search => "search",
    /// A bulk import (the subjects created).
    Import => "import",
    /// A bulk export (the subjects read).
    Export => "export",
    /// A password set or changed.
    PasswordSet => "password_set",
    /// A password checked at login.
    PasswordVerify => "password_verify",
    /// A reset forced (e.g. after an incident).
    PasswordResetForce => "password_reset_force",
    /// A recovery token issued.
    RecoveryIssue => "recovery_issue",
    /// A recovery token redeemed.
    RecoveryRedeem => "recovery_redeem",
    /// An API key created.
    ApiKeyCreate => "api_key_create",
    /// An API key revoked.
    ApiKeyRevoke => "api_key_revoke",
    /// Key-encryption keys rotated (data keys rewrapped).
    KeyRotate => "key_rotate",
    /// A root secret or public key read by an operator (e.g. the audit verifier key).
    KeyRead => "key_read",
    /// A card tokenized.
    CardTokenize => "card_tokenize",
    /// A card number revealed to the payment principal.
    CardDetokenize => "card_detokenize",
    /// An organization registered (with its security officer).
    OrgCreate => "org_create",
    /// A principal created (with its first API key).
    PrincipalCreate => "principal_create",
    /// A principal suspended (by containment or an operator).
    PrincipalSuspend => "principal_suspend",
    /// A suspended principal reinstated by an operator.
    PrincipalReinstate => "principal_reinstate",
    /// A principal's policies replaced.
    PrincipalUpdate => "principal_update",
    /// A card's metadata (brand, last four, expiry) read.
    CardRead => "card_read",
    /// A card deleted (its sealed number and key shredded).
    CardDelete => "card_delete",
    /// An administrative request (directory, incidents, reports, metrics) refused; the
    /// acts themselves are recorded under their own actions.
    Admin => "admin",
    /// The verifiable log itself read (checkpoint, entry, proof), or such a read refused.
    LogRead => "log_read",
    /// An operator key issued through the break-glass path (local access to the key file).
    BreakGlass => "break_glass",
    /// An incident declared by an operator or opened by a containment trip (request id:
    /// the incident id; fields: `entry:<n>` and `sha256:<hex>` of the timeline entry).
    IncidentOpen => "incident_open",
    /// An incident changed: a timestamp set, its window, suspects or vector (as
    /// `incident_open`).
    IncidentUpdate => "incident_update",
    /// An incident closed (as `incident_open`).
    IncidentClose => "incident_close",
    /// An incident's exposure matrix computed (fields: `version:<n>`, `tree_size:<n>`,
    /// `digest:<hex>`).
    IncidentScope => "incident_scope",
    /// An incident's evidence bundle exported.
    IncidentExport => "incident_export",
    /// A notice campaign planned, started or finished (request id: the campaign id; fields:
    /// `incident:<id>`, `scope_version:<n>`, `status:<s>`).
    NoticeCampaign => "notice_campaign",
    /// One person's contact address opened to send them a breach notice (request id: the
    /// campaign id; written before the address is read).
    NoticeSend => "notice_send",
    /// Remediation-offer codes imported (fields: `region:<cc>`, `provider:<name>`,
    /// `count:<n>`).
    RemediationImport => "remediation_import",
    /// A data-subject request opened (request id: the rights request id; fields:
    /// `kind:<kind>`, `channel:<channel>`).
    RightsOpen => "rights_open",
    /// A data-subject request's identity check: the one-time token sent to the address on
    /// file (fields: `sent`) or redeemed (fields: `verified`), or refused.
    RightsVerify => "rights_verify",
    /// A subject's whole record assembled for an access request (request id: the rights
    /// request id).
    RightsExport => "rights_export",
    /// A subject's erasure decided under a data-subject request or a retention rule
    /// (request id: the rights request id). Written before anything is shredded; the
    /// signed receipt carries this leaf and its inclusion proof.
    RightsErase => "rights_erase",
    /// A data-subject request changed: extended, rectified, restricted, denied, a processor
    /// told or its confirmation recorded (fields: `state:<s>`, `org:<id>`).
    RightsUpdate => "rights_update",
    /// A reconfirmation request sent under a retention rule (the address opened).
    RetentionAsk => "retention_ask",
    /// A subject confirmed it still uses the service (its retention clock restarts).
    RetentionConfirm => "retention_confirm",
    /// A posture check (`kura doctor`, or the server's daily check) recorded (fields:
    /// `advisories:<revision>`, `critical:<n>`, `high:<n>`, `medium:<n>`, `low:<n>`,
    /// `sha256:<hex of the findings JSON>`).
    Posture => "posture",
    /// A signed checkpoint published outside the database: to the checkpoint directory or
    /// a witness (fields: `size:<n>`, `witness:<name>`), or such a publication refused.
    WitnessPublish => "witness_publish",
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the request ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Served.
    Ok,
    /// Refused by policy; carries the stable error code (`purpose_denied`).
    Denied(String),
    /// Failed; carries the stable error code.
    Error(String),
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Outcome {
    /// The wire form: `ok`, `denied:<code>`, `error:<code>`.
    #[must_use]
    pub fn to_wire(&self) -> String {
        match self {
            Outcome::Ok => "ok".to_owned(),
            Outcome::Denied(c) => format!("denied:{c}"),
            Outcome::Error(c) => format!("error:{c}"),
        }
    }

    /// Parses the wire form, checking the code's shape.
    #[must_use]
    pub fn parse(s: &str) -> Option<Outcome> {
        if s == "ok" {
            return Some(Outcome::Ok);
        }
        let (kind, code) = s.split_once(':')?;
        if !valid_code(code) {
            return None;
        }
        match kind {
            "denied" => Some(Outcome::Denied(code.to_owned())),
            "error" => Some(Outcome::Error(code.to_owned())),
            _ => None,
        }
    }

    fn is_valid(&self) -> bool {
        match self {
            Outcome::Ok => true,
            Outcome::Denied(c) | Outcome::Error(c) => valid_code(c),
        }
    }
}

/// The subjects an event touched, by internal id: a sorted list when small, a roaring
/// bitmap for bulk (search results, imports). Always canonical: sorted, without
/// duplicates, and in the form its size calls for.
#[derive(Clone, PartialEq)]
pub struct Subjects(Repr);

#[derive(Clone, PartialEq)]
enum Repr {
    List(Vec<u64>),
    Bitmap(RoaringTreemap),
}

impl fmt::Debug for Subjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subjects")
            .field("count", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for Subjects {
    fn default() -> Self {
        Subjects(Repr::List(Vec::new()))
    }
}

impl Subjects {
    /// No subjects (e.g. an API-key action).
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// From internal ids in any order, duplicates allowed.
    #[must_use]
    pub fn from_ids<I: IntoIterator<Item = u64>>(ids: I) -> Self {
        let mut v: Vec<u64> = ids.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        Self::from_sorted_unique(v)
    }

    fn from_sorted_unique(v: Vec<u64>) -> Self {
        if v.len() <= SUBJECT_LIST_MAX {
            Subjects(Repr::List(v))
        } else {
            Subjects(Repr::Bitmap(canonical_bitmap(v.into_iter())))
        }
    }

    /// From a bitmap (rebuilt into canonical form).
    #[must_use]
    pub fn from_bitmap(bitmap: &RoaringTreemap) -> Self {
        if bitmap.len() <= SUBJECT_LIST_MAX as u64 {
            Subjects(Repr::List(bitmap.iter().collect()))
        } else {
            Subjects(Repr::Bitmap(canonical_bitmap(bitmap.iter())))
        }
    }

    /// Number of subjects.
    #[must_use]
    pub fn len(&self) -> u64 {
        match &self.0 {
            Repr::List(v) => v.len() as u64,
            Repr::Bitmap(b) => b.len(),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this set is stored as a bitmap.
    #[must_use]
    pub fn is_bitmap(&self) -> bool {
        matches!(self.0, Repr::Bitmap(_))
    }

    /// The internal ids, increasing.
    pub fn iter(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match &self.0 {
            Repr::List(v) => Box::new(v.iter().copied()),
            Repr::Bitmap(b) => Box::new(b.iter()),
        }
    }

    /// Whether `iid` is among them.
    #[must_use]
    pub fn contains(&self, iid: u64) -> bool {
        match &self.0 {
            Repr::List(v) => v.binary_search(&iid).is_ok(),
            Repr::Bitmap(b) => b.contains(iid),
        }
    }
}

fn canonical_bitmap(sorted: impl Iterator<Item = u64>) -> RoaringTreemap {
    // Input is sorted and unique by construction; fall back to inserts if not.
    let v: Vec<u64> = sorted.collect();
    RoaringTreemap::from_sorted_iter(v.iter().copied())
        .unwrap_or_else(|_| v.iter().copied().collect())
}

/// One access: who, why, what, whom, how it ended. Never a field value.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessEvent {
    /// Unix milliseconds, from the caller's clock.
    pub time_ms: u64,
    /// The principal (service, processor, operator or subject) that called.
    pub principal: String,
    /// The stated purpose.
    pub purpose: String,
    /// What was done.
    pub action: Action,
    /// The collection (empty for actions outside one, e.g. key rotation).
    pub collection: String,
    /// The subjects touched.
    pub subjects: Subjects,
    /// Field names touched (sorted, unique; names only).
    pub fields: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The request id, linking the event to server logs.
    pub request_id: String,
}

impl AccessEvent {
    /// A successful event with no subjects and no fields; add them with
    /// [`AccessEvent::with_subjects`] and [`AccessEvent::with_fields`].
    #[must_use]
    pub fn new(
        time_ms: u64,
        principal: &str,
        purpose: &str,
        action: Action,
        collection: &str,
        request_id: &str,
    ) -> Self {
        AccessEvent {
            time_ms,
            principal: principal.to_owned(),
            purpose: purpose.to_owned(),
            action,
            collection: collection.to_owned(),
            subjects: Subjects::none(),
            fields: Vec::new(),
            outcome: Outcome::Ok,
            request_id: request_id.to_owned(),
        }
    }

    /// Sets the subjects by internal id (list or bitmap chosen by count).
    #[must_use]
    pub fn with_subjects<I: IntoIterator<Item = u64>>(mut self, iids: I) -> Self {
        self.subjects = Subjects::from_ids(iids);
        self
    }

    /// Sets the subjects from a bitmap (bulk reads: search, import, export).
    #[must_use]
    pub fn with_subject_bitmap(mut self, bitmap: &RoaringTreemap) -> Self {
        self.subjects = Subjects::from_bitmap(bitmap);
        self
    }

    /// Sets the field names (sorted and deduplicated here).
    #[must_use]
    pub fn with_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut v: Vec<String> = names.into_iter().map(Into::into).collect();
        v.sort_unstable();
        v.dedup();
        self.fields = v;
        self
    }

    /// Sets the outcome.
    #[must_use]
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Marks the event as denied by policy with a stable code.
    #[must_use]
    pub fn denied(self, code: &str) -> Self {
        self.with_outcome(Outcome::Denied(code.to_owned()))
    }

    /// Marks the event as failed with a stable code.
    #[must_use]
    pub fn failed(self, code: &str) -> Self {
        self.with_outcome(Outcome::Error(code.to_owned()))
    }

    /// The canonical leaf bytes (see the module docs).
    ///
    /// # Errors
    /// [`AuditError::Encoding`] if a string exceeds [`MAX_STR`] bytes, there are more than
    /// [`MAX_FIELDS`] fields, or the outcome code is malformed.
    pub fn to_leaf(&self) -> Result<Vec<u8>, AuditError> {
        if !self.outcome.is_valid() {
            return Err(AuditError::Encoding(
                "outcome code must match [a-z0-9_]{1,64}",
            ));
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(AuditError::Encoding("too many field names"));
        }
        let mut out = Vec::with_capacity(128 + 8 * self.subjects.len().min(64) as usize);
        out.push(LEAF_VERSION);
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        put_str(&mut out, &self.principal)?;
        put_str(&mut out, &self.purpose)?;
        put_str(&mut out, self.action.as_str())?;
        put_str(&mut out, &self.collection)?;
        match &self.subjects.0 {
            Repr::List(v) => {
                out.push(0);
                out.extend_from_slice(&(v.len() as u32).to_be_bytes());
                for id in v {
                    out.extend_from_slice(&id.to_be_bytes());
                }
            }
            Repr::Bitmap(b) => {
                out.push(1);
                let len = u32::try_from(b.serialized_size())
                    .map_err(|_| AuditError::Encoding("subject bitmap too large"))?;
                out.extend_from_slice(&len.to_be_bytes());
                b.serialize_into(&mut out)
                    .map_err(|_| AuditError::Encoding("subject bitmap cannot be serialized"))?;
            }
        }
        let mut fields: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        fields.sort_unstable();
        fields.dedup();
        out.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for f in fields {
            put_str(&mut out, f)?;
        }
        put_str(&mut out, &self.outcome.to_wire())?;
        put_str(&mut out, &self.request_id)?;
        Ok(out)
    }

    /// Decodes canonical leaf bytes.
    ///
    /// # Errors
    /// [`AuditError::Malformed`] for an unknown version, truncated or trailing bytes,
    /// invalid UTF-8, an unknown action, or any non-canonical form.
    pub fn from_leaf(leaf: &[u8]) -> Result<Self, AuditError> {
        let mut r = Reader { buf: leaf, pos: 0 };
        if r.u8()? != LEAF_VERSION {
            return Err(AuditError::Malformed("unknown leaf version"));
        }
        let time_ms = r.u64()?;
        let principal = r.string()?;
        let purpose = r.string()?;
        let action = Action::parse(&r.string()?).ok_or(AuditError::Malformed("unknown action"))?;
        let collection = r.string()?;
        let subjects = match r.u8()? {
            0 => {
                let n = r.u32()? as usize;
                if n > SUBJECT_LIST_MAX {
                    return Err(AuditError::Malformed("subject list longer than 64"));
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = r.u64()?;
                    if v.last().is_some_and(|&last| last >= id) {
                        return Err(AuditError::Malformed("subject ids not increasing"));
                    }
                    v.push(id);
                }
                Subjects(Repr::List(v))
            }
            1 => {
                let n = r.u32()? as usize;
                let bytes = r.take(n)?;
                let b = RoaringTreemap::deserialize_from(bytes)
                    .map_err(|_| AuditError::Malformed("subject bitmap"))?;
                if b.len() <= SUBJECT_LIST_MAX as u64 {
                    return Err(AuditError::Malformed("small subject set encoded as bitmap"));
                }
                let canon = canonical_bitmap(b.iter());
                let mut again = Vec::with_capacity(n);
                canon
                    .serialize_into(&mut again)
                    .map_err(|_| AuditError::Malformed("subject bitmap"))?;
                if again != bytes {
                    return Err(AuditError::Malformed("subject bitmap not canonical"));
                }
                Subjects(Repr::Bitmap(canon))
            }
            _ => return Err(AuditError::Malformed("unknown subjects kind")),
        };
        let nf = r.u16()? as usize;
        let mut fields: Vec<String> = Vec::with_capacity(nf);
        for _ in 0..nf {
            let f = r.string()?;
            if fields
                .last()
                .is_some_and(|last| last.as_bytes() >= f.as_bytes())
            {
                return Err(AuditError::Malformed("field names not increasing"));
            }
            fields.push(f);
        }
        let outcome = Outcome::parse(&r.string()?).ok_or(AuditError::Malformed("outcome"))?;
        let request_id = r.string()?;
        if r.pos != leaf.len() {
            return Err(AuditError::Malformed("trailing bytes"));
        }
        Ok(AccessEvent {
            time_ms,
            principal,
            purpose,
            action,
            collection,
            subjects,
            fields,
            outcome,
            request_id,
        })
    }

    /// The JSON view of this event (no leaf bytes; see [`Entry`] for the API shape).
    #[must_use]
    pub fn to_json(&self) -> EventJson {
        EventJson {
            version: LEAF_VERSION,
            time_ms: self.time_ms,
            principal: self.principal.clone(),
            purpose: self.purpose.clone(),
            action: self.action.as_str(),
            collection: self.collection.clone(),
            subjects: match &self.subjects.0 {
                Repr::List(v) => SubjectsJson::List { ids: v.clone() },
                Repr::Bitmap(b) => {
                    let mut bytes = Vec::new();
                    // Serializing into a Vec cannot fail.
                    let _ = b.serialize_into(&mut bytes);
                    SubjectsJson::Bitmap {
                        count: b.len(),
                        roaring: B64.encode(bytes),
                    }
                }
            },
            fields: self.fields.clone(),
            outcome: self.outcome.to_wire(),
            request_id: self.request_id.clone(),
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), AuditError> {
    if s.len() > MAX_STR {
        return Err(AuditError::Encoding("string longer than 256 bytes"));
    }
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AuditError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(AuditError::Malformed("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], AuditError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, AuditError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, AuditError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, AuditError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, AuditError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn string(&mut self) -> Result<String, AuditError> {
        let n = self.u16()? as usize;
        if n > MAX_STR {
            return Err(AuditError::Malformed("string longer than 256 bytes"));
        }
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| AuditError::Malformed("string is not UTF-8"))
    }
}

/// JSON view of an event's subjects.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum SubjectsJson {
    /// Up to 64 internal ids.
    List {
        /// The ids, increasing.
        ids: Vec<u64>,
    },
    /// A bulk set.
    Bitmap {
        /// Number of subjects.
        count: u64,
        /// Base64 of the RoaringTreemap portable serialization.
        roaring: String,
    },
}

/// JSON view of an [`AccessEvent`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventJson {
    /// Leaf encoding version.
    pub version: u8,
    /// Unix milliseconds.
    pub time_ms: u64,
    /// Principal.
    pub principal: String,
    /// Purpose.
    pub purpose: String,
    /// Action name.
    pub action: &'static str,
    /// Collection.
    pub collection: String,
    /// Subjects.
    pub subjects: SubjectsJson,
    /// Field names.
    pub fields: Vec<String>,
    /// `ok`, `denied:<code>` or `error:<code>`.
    pub outcome: String,
    /// Request id.
    pub request_id: String,
}

/// One log entry as the API returns it:
/// `{"index":I,"leaf":"<base64 of the exact leaf bytes>","event":{...}}`. `event` is
/// `null` if the leaf does not decode (it is still in the tree; verification reports it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    /// Leaf index (sequence number).
    pub index: u64,
    /// Base64 (standard, padded) of the leaf bytes the tree hashes.
    pub leaf: String,
    /// The decoded event.
    pub event: Option<EventJson>,
}

impl Entry {
    /// Builds the API view of leaf `index`.
    #[must_use]
    pub fn from_leaf(index: u64, leaf: &[u8]) -> Self {
        Entry {
            index,
            leaf: B64.encode(leaf),
            event: AccessEvent::from_leaf(leaf).ok().map(|e| e.to_json()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> AccessEvent {
        AccessEvent::new(
            1_700_000_000_123,
            "svc-support",
            "support",
            Action::Read,
            "accounts",
            "req-1",
        )
        .with_subjects([42])
        .with_fields(["email", "birth_date", "email"])
    }

    #[test]
    fn round_trip_and_determinism() {
        let e = sample();
        let leaf = e.to_leaf().unwrap();
        assert_eq!(leaf[0], LEAF_VERSION);
        let back = AccessEvent::from_leaf(&leaf).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.to_leaf().unwrap(), leaf);
        assert_eq!(back.fields, vec!["birth_date", "email"]);
    }

    #[test]
    fn bulk_subjects_use_a_bitmap_and_round_trip() {
        let e = sample().with_subjects((0..100_000u64).map(|i| i * 3));
        assert!(e.subjects.is_bitmap());
        let leaf = e.to_leaf().unwrap();
        let back = AccessEvent::from_leaf(&leaf).unwrap();
        assert_eq!(back.subjects.len(), 100_000);
        assert!(back.subjects.contains(299_997));
        assert_eq!(back.to_leaf().unwrap(), leaf);
        // Order of input does not matter.
        let rev = sample().with_subjects((0..100_000u64).rev().map(|i| i * 3));
        assert_eq!(rev.to_leaf().unwrap(), leaf);
    }

    #[test]
    fn outcomes_and_actions() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        let d = sample().denied("purpose_denied");
        let back = AccessEvent::from_leaf(&d.to_leaf().unwrap()).unwrap();
        assert_eq!(back.outcome, Outcome::Denied("purpose_denied".into()));
        assert!(sample().failed("Bad Code").to_leaf().is_err());
        assert_eq!(Outcome::parse("denied:"), None);
        assert_eq!(Outcome::parse("maybe:x"), None);
    }

    #[test]
    fn non_canonical_leaves_are_refused() {
        let leaf = sample().to_leaf().unwrap();
        let mut v2 = leaf.clone();
        v2[0] = 2;
        assert!(AccessEvent::from_leaf(&v2).is_err());
        let mut trailing = leaf.clone();
        trailing.push(0);
        assert!(AccessEvent::from_leaf(&trailing).is_err());
        assert!(AccessEvent::from_leaf(&leaf[..leaf.len() - 1]).is_err());
        // Unsorted fields, built by hand.
        let mut e = sample();
        e.fields = vec!["z".into(), "a".into()];
        let sorted = e.to_leaf().unwrap(); // the encoder sorts
        let mut swapped = sorted.clone();
        let pos = sorted.windows(3).position(|w| w == [0, 1, b'a']).unwrap();
        swapped[pos + 2] = b'z';
        swapped[pos + 5] = b'a';
        assert!(AccessEvent::from_leaf(&swapped).is_err());
        // A small set as a bitmap.
        let mut small = vec![];
        RoaringTreemap::from_iter([1u64, 2])
            .serialize_into(&mut small)
            .unwrap();
        let mut e = Vec::new();
        e.push(1);
        e.extend_from_slice(&0u64.to_be_bytes());
        for s in ["p", "q", "read", "c"] {
            put_str(&mut e, s).unwrap();
        }
        e.push(1);
        e.extend_from_slice(&(small.len() as u32).to_be_bytes());
        e.extend_from_slice(&small);
        e.extend_from_slice(&0u16.to_be_bytes());
        put_str(&mut e, "ok").unwrap();
        put_str(&mut e, "r").unwrap();
        assert!(matches!(
            AccessEvent::from_leaf(&e),
            Err(AuditError::Malformed("small subject set encoded as bitmap"))
        ));
    }

    #[test]
    fn every_accepted_leaf_is_canonical_and_nothing_panics() {
        // Flip every bit of, and truncate at every length, a small and a bulk leaf: the
        // decoder never panics, and whatever it accepts re-encodes to the same bytes, so
        // no two leaves describe one event.
        let small = sample().denied("quota_exceeded").to_leaf().unwrap();
        let bulk = sample()
            .with_subjects((0..300u64).map(|i| i * 7))
            .to_leaf()
            .unwrap();
        for leaf in [small, bulk] {
            for cut in 0..leaf.len() {
                assert!(AccessEvent::from_leaf(&leaf[..cut]).is_err());
            }
            for i in 0..leaf.len() {
                for bit in 0..8 {
                    let mut m = leaf.clone();
                    m[i] ^= 1 << bit;
                    if let Ok(e) = AccessEvent::from_leaf(&m) {
                        assert_eq!(e.to_leaf().unwrap(), m, "byte {i} bit {bit}");
                    }
                }
            }
        }
    }

    #[test]
    fn json_view_has_no_room_for_values() {
        let e = sample();
        let entry = Entry::from_leaf(7, &e.to_leaf().unwrap());
        let j = serde_json::to_value(&entry).unwrap();
        assert_eq!(j["index"], 7);
        assert_eq!(j["event"]["action"], "read");
        assert_eq!(j["event"]["subjects"]["ids"][0], 42);
        assert_eq!(j["event"]["outcome"], "ok");
        assert!(j["leaf"].is_string());
    }
}
