//! [`RepoDir`]: the repository on disk as a [`gantry_workflow::Project`], the one implementation
//! through which lint and run read local actions and called workflows.
//!
//! Invariant: no file outside the repository root is read. The path arrives already guarded
//! lexically ([`RepoPath`]: no `..`, not absolute); here the file is resolved with its symbolic
//! links and refused when the result leaves the (resolved) root, so a link in the repository
//! pointing at `/etc` cannot be followed. Files larger than the limit are not read. Tests: the
//! `tests` module below.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gantry_workflow::{Project, ReadError, RepoPath};

/// A repository root on disk.
#[derive(Debug, Clone)]
pub struct RepoDir {
    root: PathBuf,
    max_bytes: u64,
    root_guess: Option<String>,
}

impl RepoDir {
    /// Files larger than this are not read unless [`RepoDir::with_max_bytes`] says otherwise.
    pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

    pub fn new(root: impl Into<PathBuf>) -> RepoDir {
        RepoDir {
            root: root.into(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
            root_guess: None,
        }
    }

    /// Marks the root as a guess (a file linted outside any repository), saying why.
    pub fn with_root_guess(mut self, why: impl Into<String>) -> RepoDir {
        self.root_guess = Some(why.into());
        self
    }

    pub fn with_max_bytes(mut self, max_bytes: u64) -> RepoDir {
        self.max_bytes = max_bytes;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Project for RepoDir {
    fn root_guess(&self) -> Option<&str> {
        self.root_guess.as_deref()
    }

    fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
        let io_error = |source: std::io::Error| ReadError::Io {
            path: path.to_string(),
            source: Arc::new(source),
        };
        let not_found = || ReadError::NotFound {
            path: path.to_string(),
        };
        let root = self.root.canonicalize().map_err(io_error)?;
        let resolved = match root.join(path.as_str()).canonicalize() {
            Ok(resolved) => resolved,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(io_error(e)),
        };
        if !resolved.starts_with(&root) {
            return Err(ReadError::Outside {
                path: path.to_string(),
            });
        }
        let metadata = std::fs::metadata(&resolved).map_err(io_error)?;
        if !metadata.is_file() {
            return Err(not_found());
        }
        if metadata.len() > self.max_bytes {
            return Err(ReadError::TooLarge {
                path: path.to_string(),
                size: metadata.len(),
                limit: self.max_bytes,
            });
        }
        std::fs::read(&resolved).map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(repo: &RepoDir, path: &str) -> Result<String, String> {
        RepoPath::new(path)
            .and_then(|path| repo.read(&path))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_inside_and_refuses_escapes() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join(".github/actions/a")).unwrap();
        std::fs::write(root.join(".github/actions/a/action.yml"), "name: a").unwrap();
        std::fs::write(root.join("big.yml"), "x".repeat(11)).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("secret.yml"))
            .unwrap();
        std::os::unix::fs::symlink(root.join(".github"), root.join("inner")).unwrap();
        let repo = RepoDir::new(&root).with_max_bytes(10);

        assert_eq!(
            read(&repo, "./.github/actions/a/action.yml"),
            Ok("name: a".into())
        );
        // A link that stays inside the repository is followed.
        assert_eq!(
            read(&repo, "inner/actions/a/action.yml"),
            Ok("name: a".into())
        );
        // Links out of the repository, to a directory or to a file, are refused.
        assert_eq!(
            read(&repo, "out/secret.txt"),
            Err("'out/secret.txt' is outside the repository".into())
        );
        assert_eq!(
            read(&repo, "secret.yml"),
            Err("'secret.yml' is outside the repository".into())
        );
        // The lexical guard in front: `..` and absolute paths never reach the file system.
        let escape = format!("../{}/secret.txt", outside.path().display());
        assert!(read(&repo, &escape)
            .unwrap_err()
            .contains("outside the repository"));
        let absolute = outside.path().join("secret.txt").display().to_string();
        assert!(read(&repo, &absolute)
            .unwrap_err()
            .contains("outside the repository"));
        assert_eq!(
            read(&repo, "missing.yml"),
            Err("'missing.yml' is not a file in the repository".into())
        );
        assert_eq!(
            read(&repo, ".github"),
            Err("'.github' is not a file in the repository".into())
        );
        assert_eq!(
            read(&repo, "big.yml"),
            Err("'big.yml' is 11 bytes; files larger than 10 bytes are not read".into())
        );
        // Through the trait's guarded entry point the checks use.
        assert_eq!(repo.read_file("./out/secret.txt"), None);
        assert_eq!(
            repo.read_file(".github/actions/a/action.yml"),
            Some(b"name: a".to_vec())
        );
    }
}
