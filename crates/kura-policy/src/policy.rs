//! Policy documents: what one principal may do with one collection, for which purposes, and
//! in which mode each field is returned.
//!
//! A document is parsed from JSON or TOML into a [`PolicySpec`] (unknown keys refused), then
//! checked against the vault's [`Schema`] into a [`Policy`], the only form the decision
//! function accepts. Checking refuses unknown collections and fields, malformed or repeated
//! purposes, repeated actions, empty lists and zero quotas, each with its own
//! [`PolicyError`]. It leaves out the principal: which principal holds which policies is the
//! server's (and store's) business.

use std::collections::BTreeMap;

use kura_model::{Collection, Schema, validate_purpose};
use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// What a request does to a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read fields of one subject.
    Read,
    /// Create or change fields of one subject.
    Write,
    /// Find subjects by the blind index of one field.
    Search,
    /// Create subjects in bulk.
    Import,
    /// Erase a subject.
    Delete,
    /// Export subjects in bulk (or, for a self-service principal, its own record).
    Export,
    /// Turn a card token back into a card number (card vault only). Only a service or
    /// processor stating the [`crate::CHARGE_PURPOSE`] is ever allowed it.
    Detokenize,
    /// Verify a login or start a recovery: reveals only match / no match, changes nothing
    /// but throttling state. Decided on the collection's credential field.
    Authenticate,
    /// Set or reset a subject's password, or force a reset: decided on the credential field
    /// and counted against the quota like any change to a subject.
    SetCredential,
    /// Administer kura: organizations, principals, keys, suspensions, incidents, reports,
    /// metrics. Operators only; no policy may grant it.
    Administer,
    /// Read the verifiable log itself (checkpoints, entries, proofs). Operators only; no
    /// policy may grant it. (A subject's own access history is [`Action::Export`].)
    ReadLog,
    /// Report an incident to the supervising data holder: processors (and operators) only,
    /// by their kind; no policy grants it.
    ReportIncident,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 12] = [
        Action::Read,
        Action::Write,
        Action::Search,
        Action::Import,
        Action::Delete,
        Action::Export,
        Action::Detokenize,
        Action::Authenticate,
        Action::SetCredential,
        Action::Administer,
        Action::ReadLog,
        Action::ReportIncident,
    ];

    /// Whether only operators may do this (no policy grants it).
    pub fn is_operator_only(self) -> bool {
        matches!(self, Action::Administer | Action::ReadLog)
    }

    /// Whether the principal's kind decides this, never a policy (which may not list it).
    pub fn is_by_kind(self) -> bool {
        self.is_operator_only() || self == Action::ReportIncident
    }

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Search => "search",
            Action::Import => "import",
            Action::Delete => "delete",
            Action::Export => "export",
            Action::Detokenize => "detokenize",
            Action::Authenticate => "authenticate",
            Action::SetCredential => "set_credential",
            Action::Administer => "administer",
            Action::ReadLog => "read_log",
            Action::ReportIncident => "report_incident",
        }
    }
}

/// How a field is returned. Modes are ordered by how much they reveal:
/// `Denied < Token < Masked < Plain`. A token reveals only equality with other tokens of
/// the same key; a mask reveals a little of the value itself (a first letter, a year); plain
/// reveals all. The decision function never returns a mode above the one a policy grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Not returned at all. Also the mode of every field a policy does not name.
    Denied,
    /// A deterministic keyed token (`tok_` + 32 hex digits), see [`crate::token`].
    Token,
    /// The category's mask, see [`crate::mask`].
    Masked,
    /// The value as stored.
    Plain,
}

impl Mode {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Denied => "denied",
            Mode::Token => "token",
            Mode::Masked => "masked",
            Mode::Plain => "plain",
        }
    }
}

/// Containment quota: at most `subjects` distinct subjects in any window of `window_secs`
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Distinct subjects allowed within one window (at least 1).
    pub subjects: u32,
    /// Window length in seconds (1 to [`Quota::MAX_WINDOW_SECS`]).
    pub window_secs: u32,
}

impl Quota {
    /// The admission rule, the one place it is stated: a request may bring `new` subjects
    /// into a window already holding `live` only if the window then holds at most
    /// `subjects`. A request that would cross the quota is refused whole.
    pub fn admits(self, live: u64, new: u64) -> bool {
        live.saturating_add(new) <= u64::from(self.subjects)
    }

    /// The leasing rule, the one place it is stated: a server that counts a request may
    /// also take up to `want` free slots of the window ahead of time (an admission lease,
    /// spent on its next new subjects without a database round trip), but never more than
    /// one [`Quota::LEASE_SHARE`]-th of what is free once `live` is counted. Near the quota
    /// the share rounds down to nothing and every request is counted exactly; so `n`
    /// servers together still admit at most `subjects`, and a small quota (a person's own
    /// key) is never leased at all.
    pub fn lease(self, live: u64, want: u64) -> u64 {
        let free = u64::from(self.subjects).saturating_sub(live);
        want.min(free / Self::LEASE_SHARE)
    }

    /// The divisor of [`Quota::lease`]: one server takes at most an eighth of what is free.
    pub const LEASE_SHARE: u64 = 8;

    /// The longest window accepted: 31 days.
    pub const MAX_WINDOW_SECS: u32 = 31 * 24 * 3600;

    /// Checks the bounds.
    ///
    /// # Errors
    /// [`PolicyError::InvalidQuota`] for zero subjects or a window outside
    /// 1..=[`Quota::MAX_WINDOW_SECS`].
    pub fn check(self) -> Result<Self, PolicyError> {
        if self.subjects == 0 {
            return Err(PolicyError::InvalidQuota(
                "`subjects` must be at least 1".into(),
            ));
        }
        if self.window_secs == 0 || self.window_secs > Self::MAX_WINDOW_SECS {
            return Err(PolicyError::InvalidQuota(format!(
                "`window_secs` must be between 1 and {}",
                Self::MAX_WINDOW_SECS
            )));
        }
        Ok(self)
    }

    /// The quota of a principal whose policies state none: 1,000 distinct subjects per
    /// hour. Containment is never off for services and processors.
    pub const DEFAULT: Quota = Quota {
        subjects: 1_000,
        window_secs: 3_600,
    };

    /// The quota to count a principal under: the strictest of those its policies state
    /// ([`Quota::strictest`]), or [`Quota::DEFAULT`] when none states one.
    pub fn for_policies(policies: &[Policy]) -> Quota {
        Quota::strictest(policies.iter().filter_map(Policy::quota)).unwrap_or(Quota::DEFAULT)
    }

    /// The strictest quota implied by several: the fewest subjects over the longest window.
    /// Within any window of the result, each input quota's limit also holds.
    pub fn strictest(quotas: impl IntoIterator<Item = Quota>) -> Option<Quota> {
        quotas.into_iter().reduce(|a, b| Quota {
            subjects: a.subjects.min(b.subjects),
            window_secs: a.window_secs.max(b.window_secs),
        })
    }
}

/// A policy document as written, before it is checked against a schema. The JSON shape:
///
/// ```json
/// {"collection":"accounts","purposes":["support"],"actions":["read","search"],
///  "fields":{"name":"plain","email":"masked","phone":"masked","birth_date":"denied"},
///  "quota":{"subjects":100,"window_secs":3600}}
/// ```
///
/// `quota` may be left out (the containment default applies); every other key is required
/// and no other key is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// The collection the policy covers.
    pub collection: String,
    /// Purposes a request may state.
    pub purposes: Vec<String>,
    /// Actions allowed.
    pub actions: Vec<Action>,
    /// Mode of each field; fields not named are denied. A field named twice is refused
    /// (JSON would otherwise keep the last silently).
    #[serde(deserialize_with = "unique_fields")]
    pub fields: BTreeMap<String, Mode>,
    /// Containment quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

/// Deserializes the `fields` map, refusing a field named twice.
fn unique_fields<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Mode>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<String, Mode>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map of field names to modes")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = m.next_entry::<String, Mode>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format_args!(
                        "field `{k}` is named twice in `fields`"
                    )));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

impl PolicySpec {
    /// Parses a JSON document.
    ///
    /// # Errors
    /// [`PolicyError::Syntax`] naming the offending key or value.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(text).map_err(|e| PolicyError::Syntax {
            format: "json",
            message: e.to_string(),
        })
    }

    /// Parses a TOML document (same keys; `fields` and `quota` as tables).
    ///
    /// # Errors
    /// [`PolicyError::Syntax`] naming the offending key or value.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError::Syntax {
            format: "toml",
            // TOML messages span lines (a snippet of the document with a caret); keep them
            // on one line for logs.
            message: e.message().to_owned(),
        })
    }

    /// Checks the document against the vault's schema.
    ///
    /// # Errors
    /// The first problem found: [`PolicyError::UnknownCollection`],
    /// [`PolicyError::Empty`], [`PolicyError::InvalidPurpose`], [`PolicyError::Duplicate`],
    /// [`PolicyError::UnknownField`] (in field-name order), [`PolicyError::InvalidQuota`].
    pub fn check(self, schema: &Schema) -> Result<Policy, PolicyError> {
        let collection = schema
            .collection(&self.collection)
            .ok_or_else(|| PolicyError::UnknownCollection(self.collection.clone()))?;
        self.check_collection(collection)
    }

    /// Checks the document against one collection (which must be the one it names).
    ///
    /// # Errors
    /// As [`PolicySpec::check`].
    pub fn check_collection(self, collection: &Collection) -> Result<Policy, PolicyError> {
        if self.collection != collection.name {
            return Err(PolicyError::UnknownCollection(self.collection));
        }
        if self.purposes.is_empty() {
            return Err(PolicyError::Empty("purposes"));
        }
        if self.actions.is_empty() {
            return Err(PolicyError::Empty("actions"));
        }
        let mut purposes: Vec<String> = Vec::with_capacity(self.purposes.len());
        for p in self.purposes {
            if validate_purpose(&p).is_err() {
                return Err(PolicyError::InvalidPurpose(p));
            }
            if purposes.contains(&p) {
                return Err(PolicyError::Duplicate {
                    what: "purpose",
                    value: p,
                });
            }
            purposes.push(p);
        }
        let mut actions = 0u16;
        for a in &self.actions {
            if a.is_by_kind() {
                return Err(PolicyError::OperatorOnlyAction(a.as_str().to_owned()));
            }
            let bit = 1u16 << (*a as u8);
            if actions & bit != 0 {
                return Err(PolicyError::Duplicate {
                    what: "action",
                    value: a.as_str().to_owned(),
                });
            }
            actions |= bit;
        }
        for name in self.fields.keys() {
            if collection.field(name).is_none() {
                return Err(PolicyError::UnknownField {
                    collection: collection.name.clone(),
                    field: name.clone(),
                });
            }
        }
        let quota = self.quota.map(Quota::check).transpose()?;
        // Field modes in the collection's declaration order, every field present, so that
        // an unqualified read returns fields in a stable order.
        let fields = collection
            .fields
            .iter()
            .map(|f| {
                let mode = self.fields.get(&f.name).copied().unwrap_or(Mode::Denied);
                (f.name.clone(), mode)
            })
            .collect();
        Ok(Policy {
            collection: self.collection,
            purposes,
            actions,
            fields,
            quota,
        })
    }
}

/// A policy checked against the schema. Construct with [`Policy::from_json`],
/// [`Policy::from_toml`] or [`PolicySpec::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    collection: String,
    purposes: Vec<String>,
    /// Bit `a as u8` set for each allowed action.
    actions: u16,
    /// Every field of the collection with its mode, in declaration order.
    fields: Vec<(String, Mode)>,
    quota: Option<Quota>,
}

impl Policy {
    /// Parses and checks a JSON document.
    ///
    /// # Errors
    /// As [`PolicySpec::from_json`] and [`PolicySpec::check`].
    pub fn from_json(text: &str, schema: &Schema) -> Result<Self, PolicyError> {
        PolicySpec::from_json(text)?.check(schema)
    }

    /// Parses and checks a TOML document.
    ///
    /// # Errors
    /// As [`PolicySpec::from_toml`] and [`PolicySpec::check`].
    pub fn from_toml(text: &str, schema: &Schema) -> Result<Self, PolicyError> {
        PolicySpec::from_toml(text)?.check(schema)
    }

    /// The collection covered.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The purposes allowed.
    pub fn purposes(&self) -> &[String] {
        &self.purposes
    }

    /// Whether `purpose` is allowed.
    pub fn allows_purpose(&self, purpose: &str) -> bool {
        self.purposes.iter().any(|p| p == purpose)
    }

    /// Whether `action` is allowed.
    pub fn allows_action(&self, action: Action) -> bool {
        self.actions & (1u16 << (action as u8)) != 0
    }

    /// The allowed actions.
    pub fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        Action::ALL.into_iter().filter(|a| self.allows_action(*a))
    }

    /// The mode of a field; [`Mode::Denied`] for any field the policy does not name,
    /// including names the collection does not define.
    pub fn mode(&self, field: &str) -> Mode {
        self.fields
            .iter()
            .find(|(n, _)| n == field)
            .map_or(Mode::Denied, |(_, m)| *m)
    }

    /// Every field of the collection with its mode, in declaration order.
    pub fn fields(&self) -> &[(String, Mode)] {
        &self.fields
    }

    /// The containment quota, if the policy states one.
    pub fn quota(&self) -> Option<Quota> {
        self.quota
    }

    /// The document form (for display and `--json` output); fields in `denied` mode are
    /// left out, which means the same.
    pub fn to_spec(&self) -> PolicySpec {
        PolicySpec {
            collection: self.collection.clone(),
            purposes: self.purposes.clone(),
            actions: self.actions().collect(),
            fields: self
                .fields
                .iter()
                .filter(|(_, m)| *m != Mode::Denied)
                .cloned()
                .collect(),
            quota: self.quota,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_JSON: &str = r#"{"collection":"accounts","purposes":["support"],"actions":["read","search"],"fields":{"name":"plain","email":"masked","phone":"masked","birth_date":"denied"},"quota":{"subjects":100,"window_secs":3600}}"#;

    const ISSUE_TOML: &str = r#"
collection = "accounts"
purposes = ["support"]
actions = ["read", "search"]

[fields]
name = "plain"
email = "masked"
phone = "masked"
birth_date = "denied"

[quota]
subjects = 100
window_secs = 3600
"#;

    fn schema() -> Schema {
        Schema::builtin()
    }

    #[test]
    fn a_lease_takes_an_eighth_of_what_is_free_and_nothing_near_the_quota() {
        let q = Quota {
            subjects: 1_000,
            window_secs: 60,
        };
        assert_eq!(q.lease(0, 10_000), 125);
        assert_eq!(q.lease(0, 16), 16);
        assert_eq!(q.lease(990, 16), 1);
        assert_eq!(q.lease(993, 16), 0);
        assert_eq!(q.lease(1_000, 16), 0);
        assert_eq!(q.lease(5_000, 16), 0);
        // A small quota is never leased: every request is counted exactly.
        let small = Quota {
            subjects: 7,
            window_secs: 60,
        };
        assert_eq!(small.lease(0, 1_000), 0);
        // Leasing never lets a window pass its quota: each grant leaves 7/8 of what is free.
        let mut live = 0;
        for _ in 0..1_000 {
            live += q.lease(live, u64::MAX);
            assert!(q.admits(live, 0));
        }
        assert!(live < 1_000);
    }

    #[test]
    fn the_issue_json_is_accepted_exactly() {
        let p = Policy::from_json(ISSUE_JSON, &schema()).unwrap();
        assert_eq!(p.collection(), "accounts");
        assert_eq!(p.purposes(), ["support"]);
        assert_eq!(
            p.actions().collect::<Vec<_>>(),
            [Action::Read, Action::Search]
        );
        assert_eq!(p.mode("name"), Mode::Plain);
        assert_eq!(p.mode("email"), Mode::Masked);
        assert_eq!(p.mode("phone"), Mode::Masked);
        assert_eq!(p.mode("birth_date"), Mode::Denied);
        assert_eq!(
            p.mode("login_id"),
            Mode::Denied,
            "a field not named is denied"
        );
        assert_eq!(p.mode("no_such_field"), Mode::Denied);
        assert_eq!(
            p.quota(),
            Some(Quota {
                subjects: 100,
                window_secs: 3600
            })
        );
        let fields = schema()
            .collection("accounts")
            .map_or(0, |c| c.fields.len());
        assert_eq!(
            p.fields().len(),
            fields,
            "every collection field has a mode"
        );
    }

    #[test]
    fn toml_equivalent_gives_the_same_policy() {
        let a = Policy::from_json(ISSUE_JSON, &schema()).unwrap();
        let b = Policy::from_toml(ISSUE_TOML, &schema()).unwrap();
        assert_eq!(a, b);
        // And the document form round-trips through JSON.
        let again = serde_json::to_string(&a.to_spec()).unwrap();
        assert_eq!(Policy::from_json(&again, &schema()).unwrap(), a);
    }

    #[test]
    fn quota_is_optional() {
        let p = Policy::from_json(
            r#"{"collection":"accounts","purposes":["login"],"actions":["read"],"fields":{}}"#,
            &schema(),
        )
        .unwrap();
        assert_eq!(p.quota(), None);
        assert!(p.fields().iter().all(|(_, m)| *m == Mode::Denied));
    }

    fn err(json: &str) -> PolicyError {
        Policy::from_json(json, &schema()).unwrap_err()
    }

    #[test]
    fn errors_are_precise() {
        let e = err(ISSUE_JSON.replace("\"quota\"", "\"quotas\"").as_str());
        assert_eq!(e.code(), "policy_syntax");
        assert!(e.to_string().contains("quotas"), "{e}");

        let e = err(&ISSUE_JSON.replace(r#""window_secs""#, r#""window""#));
        assert!(e.to_string().contains("window"), "{e}");

        let e = err(&ISSUE_JSON.replace(r#""search""#, r#""steal""#));
        assert!(e.to_string().contains("steal"), "{e}");

        let e = err(&ISSUE_JSON.replace(r#""masked""#, r#""hashed""#));
        assert!(e.to_string().contains("hashed"), "{e}");

        let e = err(&ISSUE_JSON.replace(r#""collection":"accounts""#, r#""collection":"cards""#));
        assert_eq!(e, PolicyError::UnknownCollection("cards".into()));
        assert_eq!(e.code(), "unknown_collection");

        let e = err(&ISSUE_JSON.replace(r#""phone""#, r#""fax""#));
        assert_eq!(
            e,
            PolicyError::UnknownField {
                collection: "accounts".into(),
                field: "fax".into()
            }
        );
        assert_eq!(e.to_string(), "policy names unknown field `accounts.fax`");

        let e = err(&ISSUE_JSON.replace(r#"["support"]"#, r#"["Support Desk"]"#));
        assert_eq!(e, PolicyError::InvalidPurpose("Support Desk".into()));

        let e = err(&ISSUE_JSON.replace(r#"["support"]"#, r#"[]"#));
        assert_eq!(e, PolicyError::Empty("purposes"));
        let e = err(&ISSUE_JSON.replace(r#"["read","search"]"#, r#"[]"#));
        assert_eq!(e, PolicyError::Empty("actions"));

        let e = err(&ISSUE_JSON.replace(r#"["support"]"#, r#"["support","support"]"#));
        assert_eq!(e.code(), "policy_duplicate");
        let e = err(&ISSUE_JSON.replace(r#"["read","search"]"#, r#"["read","read"]"#));
        assert_eq!(
            e,
            PolicyError::Duplicate {
                what: "action",
                value: "read".into()
            }
        );

        let e = err(&ISSUE_JSON.replace(r#""subjects":100"#, r#""subjects":0"#));
        assert_eq!(e.code(), "invalid_quota");
        let e = err(&ISSUE_JSON.replace(r#""window_secs":3600"#, r#""window_secs":0"#));
        assert_eq!(e.code(), "invalid_quota");
        let e = err(&ISSUE_JSON.replace(r#""subjects":100"#, r#""subjects":-1"#));
        assert_eq!(e.code(), "policy_syntax");

        let e = err(&ISSUE_JSON.replace(r#""name":"plain""#, r#""phone":"plain""#));
        assert_eq!(e.code(), "policy_syntax");
        assert!(e.to_string().contains("`phone` is named twice"), "{e}");
        let e = err(&ISSUE_JSON.replace(r#""purposes""#, r#""actions":["export"],"purposes""#));
        assert!(e.to_string().contains("duplicate field `actions`"), "{e}");

        let e = err(r#"{"collection":"accounts","purposes":["support"],"actions":["read"]}"#);
        assert!(e.to_string().contains("fields"), "{e}");
    }

    #[test]
    fn toml_errors_are_precise_and_one_line() {
        let e =
            Policy::from_toml(&ISSUE_TOML.replace("[quota]", "[limits]"), &schema()).unwrap_err();
        assert_eq!(e.code(), "policy_syntax");
        assert!(e.to_string().contains("limits"), "{e}");
        assert!(!e.to_string().contains('\n'), "{e}");
        let e = Policy::from_toml(&ISSUE_TOML.replace("phone =", "fax ="), &schema()).unwrap_err();
        assert_eq!(e.code(), "unknown_field");
    }

    #[test]
    fn check_collection_refuses_another_collection() {
        let s = schema();
        let c = s.collection("accounts").unwrap();
        let mut spec = PolicySpec::from_json(ISSUE_JSON).unwrap();
        spec.collection = "other".into();
        assert_eq!(
            spec.check_collection(c).unwrap_err(),
            PolicyError::UnknownCollection("other".into())
        );
    }

    #[test]
    fn strictest_quota() {
        let q = |s, w| Quota {
            subjects: s,
            window_secs: w,
        };
        assert_eq!(Quota::strictest([]), None);
        assert_eq!(
            Quota::strictest([q(100, 3600), q(50, 60)]),
            Some(q(50, 3600))
        );
        let s = schema();
        let with = |quota: &str| {
            Policy::from_json(
                &format!(
                    r#"{{"collection":"accounts","purposes":["a"],"actions":["read"],"fields":{{}}{quota}}}"#
                ),
                &s,
            )
            .unwrap()
        };
        assert_eq!(Quota::for_policies(&[]), Quota::DEFAULT);
        assert_eq!(Quota::for_policies(&[with("")]), Quota::DEFAULT);
        assert_eq!(
            Quota::for_policies(&[
                with(""),
                with(r#","quota":{"subjects":100,"window_secs":60}"#),
                with(r#","quota":{"subjects":500,"window_secs":7200}"#),
            ]),
            q(100, 7200)
        );
    }

    #[test]
    fn mode_order_is_by_what_is_revealed() {
        assert!(Mode::Denied < Mode::Token);
        assert!(Mode::Token < Mode::Masked);
        assert!(Mode::Masked < Mode::Plain);
    }
}
