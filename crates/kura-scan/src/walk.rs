//! Walking the paths given on the command line: files and folders, with gitignore-style
//! `--exclude` patterns.
//!
//! On purpose, `.gitignore` files and hidden files are *not* honoured: a dump that git
//! ignores is exactly what sits forgotten on a web server. Only `.git` folders (whose objects
//! are compressed and would be read through history tools instead) are skipped.

use std::path::{Path, PathBuf};

use ignore::WalkBuilder;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::ScanError;

/// A file to scan.
pub(crate) struct Entry {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Lists the files under `paths`, skipping those matched by `excludes`. Sorted by path.
///
/// # Errors
/// [`ScanError::NoSuchPath`] for a path that does not exist, [`ScanError::BadExclude`] for a
/// pattern that is not a valid glob.
pub(crate) fn collect(paths: &[PathBuf], excludes: &[String]) -> Result<Vec<Entry>, ScanError> {
    let mut out = Vec::new();
    for root in paths {
        if !root.exists() {
            return Err(ScanError::NoSuchPath(root.clone()));
        }
        let base = if root.is_dir() {
            root.clone()
        } else {
            root.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let mut gb = GitignoreBuilder::new(&base);
        for g in excludes {
            gb.add_line(None, g).map_err(|e| ScanError::BadExclude {
                glob: g.clone(),
                reason: e.to_string(),
            })?;
        }
        let gi: Gitignore = gb.build().map_err(|e| ScanError::BadExclude {
            glob: excludes.join(" "),
            reason: e.to_string(),
        })?;
        let gi2 = gi.clone();
        let walker = WalkBuilder::new(root)
            .standard_filters(false)
            .hidden(false)
            .follow_links(false)
            .filter_entry(move |e| {
                let is_dir = e.file_type().is_some_and(|t| t.is_dir());
                if is_dir && e.file_name() == ".git" {
                    return false;
                }
                !gi2.matched(e.path(), is_dir).is_ignore()
            })
            .build();
        for item in walker {
            let Ok(entry) = item else { continue };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            if gi
                .matched_path_or_any_parents(entry.path(), false)
                .is_ignore()
            {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(Entry {
                path: entry.into_path(),
                size,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}
