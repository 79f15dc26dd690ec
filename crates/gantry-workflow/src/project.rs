//! Read access to the repository a workflow lives in: the one trait ([`Project`]) through which
//! the checks (local actions, local reusable workflows) and the planner (called workflows) read
//! files, and the one lexical path guard ([`RepoPath`]) in front of every implementation.
//!
//! Invariant: an implementation only ever sees a [`RepoPath`]: relative, `/`-separated, without
//! `.` or `..` components, so `uses: ./../../etc` or `/etc/passwd` cannot name a file outside the
//! repository. Implementations that follow symbolic links must also refuse a link that leads out
//! of the repository (the executor's `RepoDir` does). No IO here. Tests: the `tests` module below.

use std::fmt;
use std::sync::Arc;

/// A path inside the repository, checked: relative, `/`-separated, no `.`, `..` or empty
/// components, no NUL. Built only by [`RepoPath::new`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoPath(String);

impl RepoPath {
    /// Checks `path` as written in a workflow (`./dir/action.yml`, `.github/workflows/x.yml`,
    /// backslashes allowed as separators) and normalises it (`./` and `.` components dropped).
    pub fn new(path: &str) -> Result<RepoPath, ReadError> {
        let outside = || ReadError::Outside {
            path: path.to_owned(),
        };
        if path.contains('\0') {
            return Err(outside());
        }
        let looks_absolute = path.starts_with(['/', '\\'])
            || path.as_bytes().get(1) == Some(&b':') && path.as_bytes()[0].is_ascii_alphabetic();
        if looks_absolute {
            return Err(outside());
        }
        let mut components = Vec::new();
        for component in path.split(['/', '\\']) {
            match component {
                "" | "." => {}
                ".." => return Err(outside()),
                other => components.push(other),
            }
        }
        if components.is_empty() {
            return Err(ReadError::NotFound {
                path: path.to_owned(),
            });
        }
        Ok(RepoPath(components.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a repository file could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// `..`, an absolute path, or a symbolic link leading out of the repository.
    #[error("'{path}' is outside the repository")]
    Outside { path: String },
    #[error("'{path}' is not a file in the repository")]
    NotFound { path: String },
    #[error("'{path}' is {size} bytes; files larger than {limit} bytes are not read")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("cannot read '{path}'")]
    Io {
        path: String,
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// Read access to the repository the workflow lives in, for local actions (`uses: ./path`) and
/// local reusable workflows. Implemented by the caller (the checks and the planner do no IO).
pub trait Project {
    /// The bytes of the file at `path`.
    fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError>;

    /// The file's bytes, or `None` when the path is refused or the file cannot be read.
    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        RepoPath::new(path).and_then(|path| self.read(&path)).ok()
    }

    /// Set when the repository root is only a guess (a file linted outside any repository):
    /// why it is one. A local action or reusable workflow that is not found is then a warning
    /// saying so, not an error.
    fn root_guess(&self) -> Option<&str> {
        None
    }
}

/// A project without files: local actions and reusable workflows are not checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProject;

impl Project for NoProject {
    fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
        Err(ReadError::NotFound {
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, expected: Result<&str, &str>) {
        let got = RepoPath::new(path)
            .map(|p| p.to_string())
            .map_err(|e| e.to_string());
        let expected = expected
            .map(str::to_owned)
            .map_err(|kind| format!("'{path}' is {kind}"));
        assert_eq!(got, expected, "{path:?}");
    }

    #[test]
    fn repo_paths() {
        check(".github/workflows/ci.yml", Ok(".github/workflows/ci.yml"));
        check(
            "./.github/actions/x/action.yml",
            Ok(".github/actions/x/action.yml"),
        );
        check("././a//b/./c", Ok("a/b/c"));
        check(".\\actions\\x\\action.yml", Ok("actions/x/action.yml"));
        check("a..b/c...", Ok("a..b/c..."));
    }

    #[test]
    fn escapes_are_refused() {
        check("..", Err("outside the repository"));
        check("../x", Err("outside the repository"));
        check("./../../etc/passwd", Err("outside the repository"));
        check("a/b/../../../x", Err("outside the repository"));
        // Any `..`, also one that would stay inside (as the guards this one replaced did): the
        // guard stays lexical, with no file system to consult.
        check("a/../b", Err("outside the repository"));
        check("a\\..\\..\\x", Err("outside the repository"));
        check("/etc/passwd", Err("outside the repository"));
        check("\\\\server\\share", Err("outside the repository"));
        check("C:\\Windows", Err("outside the repository"));
        check("c:/x", Err("outside the repository"));
        check("a\0b", Err("outside the repository"));
        check("", Err("not a file in the repository"));
        check("./", Err("not a file in the repository"));
    }

    #[test]
    fn read_file_guards_before_the_implementation() {
        struct Everything;
        impl Project for Everything {
            fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
                Ok(path.as_str().as_bytes().to_vec())
            }
        }
        assert_eq!(Everything.read_file("./a/b.yml"), Some(b"a/b.yml".to_vec()));
        assert_eq!(Everything.read_file("../secret"), None);
        assert_eq!(Everything.read_file("/etc/passwd"), None);
        assert_eq!(NoProject.read_file("a.yml"), None);
    }
}
