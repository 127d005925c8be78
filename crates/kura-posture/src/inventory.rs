//! [`Inventory`]: the crates a kura binary is built from.
//!
//! Two sources, best first:
//! 1. **cargo-auditable.** A binary built with `cargo auditable build` carries its exact
//!    dependency tree, zlib-compressed JSON in a linker section (`.dep-v0`). It is read
//!    with `auditable-info` under [`LIMITS`] (at most 1 GiB of binary, 8 MiB of JSON), so a
//!    hostile file cannot exhaust memory. Build-time-only dependencies are left out.
//! 2. **The embedded list.** The `kura` binary's build script writes, from the
//!    workspace's `Cargo.lock`, every package reachable from `kura` along the lockfile's
//!    dependency edges. That is an **over-approximation**: `Cargo.lock` edges include
//!    build and dev-dependencies of workspace members and dependencies of every target
//!    platform, so a crate listed may not be linked. A false positive costs a look; a
//!    false negative would cost a breach, so the list errs on the side of more.
//!
//! The workspace's own crates (source `local`) are kept in the list (they count) but are
//! never matched against advisories: an advisory names a crate on crates.io, not ours.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::PostureError;
use crate::finding::InventorySource;

/// Size limits for reading a binary's cargo-auditable section.
pub const LIMITS: auditable_info::Limits = auditable_info::Limits {
    input_file_size: 1 << 30,
    decompressed_json_size: 8 << 20,
};

/// Where a package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Source {
    /// crates.io: the only source RustSec advisories describe by default.
    #[serde(rename = "crates.io")]
    CratesIo,
    /// Another registry.
    #[serde(rename = "registry")]
    Registry,
    /// A git repository.
    #[serde(rename = "git")]
    Git,
    /// A path in the workspace.
    #[serde(rename = "local")]
    Local,
}

/// One package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    /// Crate name.
    pub name: String,
    /// Version (semver).
    pub version: String,
    /// Where it comes from.
    pub source: Source,
}

/// The dependency list of one binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// Where the list came from.
    pub origin: InventorySource,
    /// The packages, sorted and unique.
    pub packages: Vec<Package>,
}

/// The cargo-auditable JSON, only what is needed (unknown fields ignored, as the format
/// allows additions).
#[derive(Deserialize)]
struct AuditableJson {
    packages: Vec<AuditablePackage>,
}

#[derive(Deserialize)]
struct AuditablePackage {
    name: String,
    version: String,
    source: String,
    #[serde(default)]
    kind: Option<String>,
}

impl Inventory {
    fn new(origin: InventorySource, mut packages: Vec<Package>) -> Self {
        packages.sort();
        packages.dedup();
        Inventory { origin, packages }
    }

    /// The list the build script embedded: a JSON array of `{name, version, source}`.
    ///
    /// # Errors
    /// [`PostureError::Inventory`] when the JSON does not have that shape.
    pub fn from_embedded_json(json: &str) -> Result<Self, PostureError> {
        let packages: Vec<Package> = serde_json::from_str(json)
            .map_err(|e| PostureError::Inventory(format!("embedded dependency list: {e}")))?;
        Ok(Inventory::new(InventorySource::Embedded, packages))
    }

    /// The cargo-auditable JSON (`{"packages": [...]}`); build-only packages are left out.
    ///
    /// # Errors
    /// [`PostureError::Inventory`] when the JSON does not have that shape.
    pub fn from_auditable_json(json: &str) -> Result<Self, PostureError> {
        let parsed: AuditableJson = serde_json::from_str(json)
            .map_err(|e| PostureError::Inventory(format!("cargo-auditable data: {e}")))?;
        let packages = parsed
            .packages
            .into_iter()
            .filter(|p| p.kind.as_deref() != Some("build"))
            .map(|p| Package {
                source: match p.source.as_str() {
                    "crates.io" => Source::CratesIo,
                    "local" => Source::Local,
                    "git" => Source::Git,
                    _ => Source::Registry,
                },
                name: p.name,
                version: p.version,
            })
            .collect();
        Ok(Inventory::new(InventorySource::Auditable, packages))
    }

    /// The cargo-auditable list of the binary at `path`; `Ok(None)` when it has none (built
    /// with plain `cargo build`).
    ///
    /// # Errors
    /// [`PostureError::Binary`] when the file cannot be read or parsed, or is over
    /// [`LIMITS`]; [`PostureError::Inventory`] when the embedded JSON is malformed.
    pub fn from_binary(path: &Path) -> Result<Option<Self>, PostureError> {
        match auditable_info::json_from_file(path, LIMITS) {
            Ok(json) => Inventory::from_auditable_json(&json).map(Some),
            Err(auditable_info::Error::NoAuditData) => Ok(None),
            Err(e) => Err(PostureError::Binary {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// Packages from crates.io: the ones advisories are matched against.
    pub fn registry_packages(&self) -> impl Iterator<Item = &Package> {
        self.packages
            .iter()
            .filter(|p| p.source == Source::CratesIo)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn embedded_list_parses_sorts_and_dedups() {
        let json = r#"[{"name":"serde","version":"1.0.0","source":"crates.io"},
                       {"name":"kura","version":"0.1.0","source":"local"},
                       {"name":"serde","version":"1.0.0","source":"crates.io"}]"#;
        let inv = Inventory::from_embedded_json(json).unwrap();
        assert_eq!(inv.packages.len(), 2);
        assert_eq!(inv.packages[0].name, "kura");
        assert_eq!(inv.registry_packages().count(), 1);
        assert!(Inventory::from_embedded_json("{}").is_err());
    }

    #[test]
    fn auditable_json_leaves_out_build_dependencies() {
        let json = r#"{"packages":[
            {"name":"kura","version":"0.1.0","source":"local","root":true,"dependencies":[1,2]},
            {"name":"libc","version":"0.2.1","source":"crates.io"},
            {"name":"cc","version":"1.0.0","source":"crates.io","kind":"build"}]}"#;
        let inv = Inventory::from_auditable_json(json).unwrap();
        assert_eq!(inv.origin, InventorySource::Auditable);
        let names: Vec<&str> = inv.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["kura", "libc"]);
    }

    #[test]
    fn a_plain_file_has_no_auditable_section() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("not-a-binary");
        std::fs::write(&p, b"hello").unwrap();
        // Either "no audit data" or a parse error; never a list.
        assert!(!matches!(Inventory::from_binary(&p), Ok(Some(_))));
    }
}
