//! `hashFiles(patterns...)`: the SHA-256 of the SHA-256 digests of the matched files, as the
//! runner's `hashFiles` script computes it.
//!
//! Invariant: patterns are `@actions/glob` style, relative to the workspace (an absolute pattern
//! inside the workspace is made relative): `*` stays within a path segment, `**` crosses them,
//! `!pattern` excludes, each argument may hold several newline-separated patterns, and a pattern
//! matching a directory matches every file below it. Only regular files inside the workspace
//! count, visited in sorted path order; each file's raw 32-byte digest is fed into the outer
//! hash. No match gives the empty string. Tests: the `tests` module below.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum HashFilesError {
    #[error("invalid hashFiles pattern '{pattern}'")]
    Pattern {
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("cannot hash '{path}'")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Include and exclude sets built from the arguments.
struct Patterns {
    include: GlobSet,
    exclude: GlobSet,
}

fn build(workspace: &Path, patterns: &[String]) -> Result<Patterns, HashFilesError> {
    let mut include = GlobSetBuilder::new();
    let mut exclude = GlobSetBuilder::new();
    let root = workspace.display().to_string();
    for line in patterns.iter().flat_map(|p| p.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let relative = pattern
            .strip_prefix(root.as_str())
            .map(|p| p.trim_start_matches('/'))
            .unwrap_or(pattern);
        let relative = relative.strip_prefix("./").unwrap_or(relative);
        let relative = relative.trim_end_matches('/');
        let glob = GlobBuilder::new(relative)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|source| HashFilesError::Pattern {
                pattern: line.to_owned(),
                source,
            })?;
        if negated {
            exclude.add(glob);
        } else {
            include.add(glob);
        }
    }
    let finish = |b: GlobSetBuilder| {
        b.build().map_err(|source| HashFilesError::Pattern {
            pattern: patterns.join(", "),
            source,
        })
    };
    Ok(Patterns {
        include: finish(include)?,
        exclude: finish(exclude)?,
    })
}

/// Whether `relative` or one of its ancestors matches `set`.
fn matches_with_ancestors(set: &GlobSet, relative: &Path) -> bool {
    relative
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| set.is_match(a))
}

/// The files `patterns` select under `workspace`, sorted.
pub fn matched_files(
    workspace: &Path,
    patterns: &[String],
) -> Result<Vec<PathBuf>, HashFilesError> {
    let patterns = build(workspace, patterns)?;
    if patterns.include.is_empty() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(workspace)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walker.into_iter().filter_map(Result::ok) {
        // A symlink to a file counts (the runner's script stats through links).
        let is_file = entry.file_type().is_file()
            || (entry.file_type().is_symlink() && entry.path().is_file());
        if !is_file {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(workspace) else {
            continue;
        };
        if matches_with_ancestors(&patterns.include, relative)
            && !matches_with_ancestors(&patterns.exclude, relative)
        {
            files.push(entry.path().to_owned());
        }
    }
    Ok(files)
}

/// The `hashFiles` value: hex SHA-256 over the files' SHA-256 digests, or `""` when none match.
pub fn hash_files(workspace: &Path, patterns: &[String]) -> Result<String, HashFilesError> {
    let files = matched_files(workspace, patterns)?;
    if files.is_empty() {
        return Ok(String::new());
    }
    let mut outer = Sha256::new();
    for path in files {
        let mut inner = Sha256::new();
        let io_error = |source| HashFilesError::Io {
            path: path.clone(),
            source,
        };
        let mut file = File::open(&path).map_err(io_error)?;
        io::copy(&mut file, &mut inner).map_err(io_error)?;
        outer.update(inner.finalize());
    }
    Ok(hex::encode(outer.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in [
            ("package-lock.json", "root"),
            ("a/package-lock.json", "a"),
            ("a/b/package-lock.json", "b"),
            ("src/main.rs", "fn main() {}"),
            ("src/lib.rs", "lib"),
            ("src/nested/x.txt", "x"),
        ] {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }
        dir
    }

    fn check(patterns: &[&str], expected: &[&str]) {
        let dir = workspace();
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        let got: Vec<String> = matched_files(dir.path(), &patterns)
            .unwrap()
            .into_iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(got, expected, "patterns {patterns:?}");
    }

    #[test]
    fn matching() {
        check(&["package-lock.json"], &["package-lock.json"]);
        check(
            &["**/package-lock.json"],
            &[
                "a/b/package-lock.json",
                "a/package-lock.json",
                "package-lock.json",
            ],
        );
        check(&["*/package-lock.json"], &["a/package-lock.json"]);
        check(&["src/*.rs"], &["src/lib.rs", "src/main.rs"]);
        check(&["src"], &["src/lib.rs", "src/main.rs", "src/nested/x.txt"]);
        check(&["src/**", "!src/nested"], &["src/lib.rs", "src/main.rs"]);
        check(&["src/*.rs\n!src/main.rs"], &["src/lib.rs"]);
        check(&["./src/lib.rs"], &["src/lib.rs"]);
        check(&["nothing*"], &[]);
        check(&["!src/**"], &[]);
    }

    #[test]
    fn absolute_patterns_inside_the_workspace() {
        let dir = workspace();
        let pattern = format!("{}/src/lib.rs", dir.path().display());
        let got = matched_files(dir.path(), &[pattern]).unwrap();
        assert_eq!(got, vec![dir.path().join("src/lib.rs")]);
    }

    #[test]
    fn hash_is_sha256_of_digests() {
        let dir = workspace();
        let digest = |bytes: &[u8]| Sha256::digest(bytes);
        let mut outer = Sha256::new();
        outer.update(digest(b"lib"));
        outer.update(digest(b"fn main() {}"));
        let expected = hex::encode(outer.finalize());
        assert_eq!(
            hash_files(dir.path(), &["src/*.rs".to_owned()]).unwrap(),
            expected
        );
        assert_eq!(hash_files(dir.path(), &["none".to_owned()]).unwrap(), "");
        assert!(hash_files(dir.path(), &["a[".to_owned()]).is_err());
    }
}
