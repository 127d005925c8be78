//! The kinds of callers and organizations, as typed values from the store up: a kind or role
//! that is not one of these cannot be stored (the store refuses to read one back) or decided.

use serde::{Deserialize, Serialize};

/// What kind of principal calls kura.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    /// A data holder's own service.
    Service,
    /// A processor's (subcontractor's) service.
    Processor,
    /// A kura operator.
    Operator,
    /// The person the data is about, bound to one subject.
    #[serde(rename = "self")]
    SelfService,
}

impl PrincipalType {
    /// Every kind.
    pub const ALL: [PrincipalType; 4] = [
        PrincipalType::Service,
        PrincipalType::Processor,
        PrincipalType::Operator,
        PrincipalType::SelfService,
    ];

    /// The stable name (`service`, `processor`, `operator`, `self`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Service => "service",
            PrincipalType::Processor => "processor",
            PrincipalType::Operator => "operator",
            PrincipalType::SelfService => "self",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<PrincipalType> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for PrincipalType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an organization is to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Holds the data and answers for it.
    Holder,
    /// Processes it for a holder, supervised by it.
    Processor,
}

impl OrgRole {
    /// The stable name (`holder`, `processor`).
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Holder => "holder",
            OrgRole::Processor => "processor",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<OrgRole> {
        match name {
            "holder" => Some(OrgRole::Holder),
            "processor" => Some(OrgRole::Processor),
            _ => None,
        }
    }
}

impl std::fmt::Display for OrgRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for k in PrincipalType::ALL {
            assert_eq!(PrincipalType::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap_or_default(),
                format!("\"{k}\"")
            );
        }
        for r in [OrgRole::Holder, OrgRole::Processor] {
            assert_eq!(OrgRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(PrincipalType::parse("admin"), None);
        assert_eq!(OrgRole::parse("owner"), None);
    }
}
