//! Embeds kura's dependency list for `kura doctor` (issue 20).
//!
//! Reads the workspace's `Cargo.lock`, walks the lockfile's dependency edges from the
//! package `kura`, and writes every package reached — name, version, source — as JSON to
//! `$OUT_DIR/deps.json`, which `src/cmd/doctor.rs` includes with `include_str!`.
//!
//! This is an **over-approximation** of what is linked: lockfile edges carry no kind or
//! platform, so build and dev-dependencies of workspace members and dependencies of other
//! targets are in it too. A binary built with `cargo auditable build` carries the exact
//! tree, and `kura doctor` prefers that when present. Leaves out nothing that is linked,
//! which is what matters for a known-vulnerability check.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let lock_path = manifest.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("deps.json");
    let json = match cargo_lock::Lockfile::load(&lock_path) {
        Ok(lock) => closure_json(&lock),
        Err(e) => {
            // A build outside the workspace (e.g. from a packaged crate) has no lockfile:
            // embed an empty list; doctor then says the inventory is empty.
            println!(
                "cargo:warning=kura: no dependency list embedded ({}: {e})",
                lock_path.display()
            );
            "[]".to_owned()
        }
    };
    if let Err(e) = std::fs::write(&out, json) {
        panic!("writing {}: {e}", out.display());
    }
}

fn source(s: Option<&cargo_lock::SourceId>) -> &'static str {
    match s {
        None => "local",
        Some(s) if s.is_default_registry() => "crates.io",
        Some(s) if s.is_git() => "git",
        Some(s) if s.is_path() => "local",
        Some(_) => "registry",
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn closure_json(lock: &cargo_lock::Lockfile) -> String {
    let by_key: HashMap<(String, String), &cargo_lock::Package> = lock
        .packages
        .iter()
        .map(|p| ((p.name.as_str().to_owned(), p.version.to_string()), p))
        .collect();
    let mut seen: BTreeSet<(String, String, &'static str)> = BTreeSet::new();
    let mut stack: Vec<&cargo_lock::Package> = lock
        .packages
        .iter()
        .filter(|p| p.name.as_str() == "kura" && p.source.is_none())
        .collect();
    while let Some(p) = stack.pop() {
        let entry = (
            p.name.as_str().to_owned(),
            p.version.to_string(),
            source(p.source.as_ref()),
        );
        if !seen.insert(entry) {
            continue;
        }
        for d in &p.dependencies {
            if let Some(next) = by_key.get(&(d.name.as_str().to_owned(), d.version.to_string())) {
                stack.push(next);
            }
        }
    }
    let mut json = String::from("[");
    for (i, (name, version, src)) in seen.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let _ = write!(
            json,
            "\n{{\"name\":\"{}\",\"version\":\"{}\",\"source\":\"{src}\"}}",
            esc(name),
            esc(version)
        );
    }
    json.push_str("\n]\n");
    json
}
