//! The one parsed form of a `uses:` value, for steps (actions) and jobs (reusable workflows):
//! `./path` (the workspace), `$/path` (the workflow's own repository at the running commit,
//! GitHub 2026-07-30), `docker://image`, `owner/repo[/path]@ref`.
//!
//! Invariant: parsing never fails on any text; a malformed value is a [`UsesError`] whose
//! message completes "not in the form …: ". The checker and the run engine both read `uses:`
//! through [`UsesRef::parse`] (or [`crate::model::Step::uses_ref`] /
//! [`crate::model::Job::uses_ref`]), so what lint accepts is what a run resolves. Tests are at the
//! bottom.

use serde::Serialize;

/// A parsed `uses:` value. Paths of [`UsesRef::Local`] and [`UsesRef::SelfRepo`] are written
/// as in the file, without their `./` or `$/` prefix; [`UsesRef::repo_path`] normalises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UsesRef<'a> {
    /// `./path`: a directory (action) or file (reusable workflow) of the workspace, which a
    /// job sees only after a checkout.
    Local { path: &'a str },
    /// `$/path`: the same in the workflow's own repository at the commit that is running; no
    /// checkout needed.
    SelfRepo { path: &'a str },
    /// `docker://image[:tag]`.
    Docker { image: &'a str },
    /// `owner/repo[/path]@ref`.
    Remote {
        owner: &'a str,
        repo: &'a str,
        /// The directory (action) or file (reusable workflow) inside the repository.
        path: Option<&'a str>,
        git_ref: &'a str,
    },
}

/// Why a `uses:` value is not one of the forms of [`UsesRef`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsesError {
    #[error("the value is empty")]
    Empty,
    #[error("the @ref is missing")]
    MissingRef,
    #[error("the owner is missing")]
    MissingOwner,
    #[error("the Docker image tag is empty")]
    EmptyDockerTag,
    #[error("the path after \"$/\" is empty")]
    EmptySelfPath,
}

impl<'a> UsesRef<'a> {
    /// Parses a literal `uses:` value (a value holding `${{ }}` is not a reference yet).
    pub fn parse(spec: &'a str) -> Result<UsesRef<'a>, UsesError> {
        if spec.is_empty() {
            return Err(UsesError::Empty);
        }
        if spec == "." {
            return Ok(UsesRef::Local { path: "" });
        }
        if let Some(path) = spec.strip_prefix("./") {
            return Ok(UsesRef::Local { path });
        }
        if let Some(path) = spec.strip_prefix("$/") {
            if normalize(path).is_empty() {
                return Err(UsesError::EmptySelfPath);
            }
            return Ok(UsesRef::SelfRepo { path });
        }
        if let Some(image) = spec.strip_prefix("docker://") {
            let last = image.rsplit('/').next().unwrap_or(image);
            if image.is_empty() || last.ends_with(':') {
                return Err(UsesError::EmptyDockerTag);
            }
            return Ok(UsesRef::Docker { image });
        }
        let (name, git_ref) = match spec.split_once('@') {
            Some((name, git_ref)) if !git_ref.is_empty() => (name, git_ref),
            _ => return Err(UsesError::MissingRef),
        };
        let mut parts = name.splitn(3, '/');
        let owner = parts.next().unwrap_or("");
        let repo = parts.next().unwrap_or("");
        if owner.is_empty() || repo.is_empty() {
            return Err(UsesError::MissingOwner);
        }
        let path = parts.next().filter(|p| !p.is_empty());
        Ok(UsesRef::Remote {
            owner,
            repo,
            path,
            git_ref,
        })
    }

    /// For `./` and `$/` references: the path relative to the repository root, `/`-separated,
    /// without `.` components, `..` applied, no trailing `/` (`""` is the root).
    pub fn repo_path(&self) -> Option<String> {
        match self {
            UsesRef::Local { path } | UsesRef::SelfRepo { path } => Some(normalize(path)),
            UsesRef::Docker { .. } | UsesRef::Remote { .. } => None,
        }
    }

    /// Whether the reference names a file or directory of the workflow's own repository.
    pub fn is_in_repo(&self) -> bool {
        matches!(self, UsesRef::Local { .. } | UsesRef::SelfRepo { .. })
    }

    /// The prefix as written: `./` or `$/` (empty for other forms).
    pub fn prefix(&self) -> &'static str {
        match self {
            UsesRef::Local { .. } => "./",
            UsesRef::SelfRepo { .. } => "$/",
            UsesRef::Docker { .. } | UsesRef::Remote { .. } => "",
        }
    }
}

/// `a/./b/../c/` → `a/c`.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str, expected: Result<UsesRef<'_>, UsesError>) {
        assert_eq!(UsesRef::parse(spec), expected, "{spec}");
    }

    #[test]
    fn forms() {
        check(
            "./.github/actions/a",
            Ok(UsesRef::Local {
                path: ".github/actions/a",
            }),
        );
        check(".", Ok(UsesRef::Local { path: "" }));
        check(
            "$/.github/workflows/w.yml",
            Ok(UsesRef::SelfRepo {
                path: ".github/workflows/w.yml",
            }),
        );
        check("$/", Err(UsesError::EmptySelfPath));
        check("$/./", Err(UsesError::EmptySelfPath));
        check(
            "docker://alpine:3",
            Ok(UsesRef::Docker { image: "alpine:3" }),
        );
        check("docker://alpine:", Err(UsesError::EmptyDockerTag));
        check("docker://", Err(UsesError::EmptyDockerTag));
        check(
            "actions/checkout@v4",
            Ok(UsesRef::Remote {
                owner: "actions",
                repo: "checkout",
                path: None,
                git_ref: "v4",
            }),
        );
        check(
            "o/r/.github/workflows/w.yml@main",
            Ok(UsesRef::Remote {
                owner: "o",
                repo: "r",
                path: Some(".github/workflows/w.yml"),
                git_ref: "main",
            }),
        );
        check("actions/checkout", Err(UsesError::MissingRef));
        check("actions/checkout@", Err(UsesError::MissingRef));
        check("checkout@v4", Err(UsesError::MissingOwner));
        check("/checkout@v4", Err(UsesError::MissingOwner));
        check("", Err(UsesError::Empty));
    }

    #[test]
    fn from_the_model() {
        let (workflow, _) = crate::load::load_workflow(
            b"on: push\njobs:\n  a:\n    uses: $/.github/workflows/w.yml\n  b:\n    runs-on: x\n    steps:\n      - uses: $/act\n      - uses: ${{ matrix.a }}\n      - run: echo\n",
        );
        assert_eq!(
            workflow.jobs["a"].uses_ref(),
            Some(Ok(UsesRef::SelfRepo {
                path: ".github/workflows/w.yml"
            }))
        );
        let steps = workflow.jobs["b"].step_list();
        assert_eq!(
            steps[0].uses_ref(),
            Some(Ok(UsesRef::SelfRepo { path: "act" }))
        );
        assert_eq!(steps[1].uses_ref(), None);
        assert_eq!(steps[2].uses_ref(), None);
    }

    #[test]
    fn repo_paths() {
        let path = |spec: &str| UsesRef::parse(spec).ok().and_then(|u| u.repo_path());
        assert_eq!(path("./a/./b/../c/").as_deref(), Some("a/c"));
        assert_eq!(path("$/a/b").as_deref(), Some("a/b"));
        assert_eq!(path(".").as_deref(), Some(""));
        assert_eq!(path("o/r@v1"), None);
    }
}
