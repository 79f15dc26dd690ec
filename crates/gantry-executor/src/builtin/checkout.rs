//! Built-in `actions/checkout`, from the local repository the job was planned from.
//!
//! Honoured inputs: `path` (check out under the workspace instead of into it), `ref` (a branch,
//! tag or commit of the source repository; default: the job's commit), `clean` (default `true`:
//! `git reset --hard` + `git clean -ffdx` before checking out). `repository` is accepted only
//! when it names the job's own repository. Ignored with a note in the log: `fetch-depth`,
//! `fetch-tags`, `token`, `ssh-key`, `persist-credentials`, `lfs`, `sparse-checkout`. When the
//! job has no commit (it runs on the working tree), uncommitted changes are kept. A warning
//! for `submodules` other than `false`. Outputs: `ref`, `commit`.
//! Invariant: never touches the source repository; the workspace clone borrows its objects.

use std::path::Path;

use indexmap::IndexMap;

use super::{input, input_bool};
use crate::job::{ActionResult, Job};
use crate::workspace::{copy_repository, copy_tree, git};

pub(crate) async fn run(
    job: &mut Job,
    log: Option<usize>,
    inputs: &IndexMap<String, String>,
) -> ActionResult {
    if job.source_path.is_empty() {
        job.error(
            log,
            "actions/checkout: this job has no repository to check out",
        );
        return ActionResult::failure();
    }
    let own_repository = job
        .github_json
        .get("repository")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    if let Some(repository) = input(inputs, "repository") {
        if !repository.eq_ignore_ascii_case(&own_repository) {
            job.error(
                log,
                &format!("actions/checkout: only the job's own repository can be checked out on the host, not '{repository}'"),
            );
            return ActionResult::failure();
        }
    }
    if input(inputs, "submodules").is_some_and(|s| !s.eq_ignore_ascii_case("false")) {
        job.warning(
            log,
            "actions/checkout: submodules are not checked out by the built-in checkout",
        );
    }
    let source = Path::new(&job.source_path).to_owned();
    let target = match input(inputs, "path") {
        Some(p) => job.dirs.workspace.join(p),
        None => job.dirs.workspace.clone(),
    };
    let wanted = input(inputs, "ref")
        .map(str::to_owned)
        .or_else(|| job.sha.clone())
        .unwrap_or_else(|| "HEAD".to_owned());
    let is_git_source = source.join(".git").exists();
    if !is_git_source {
        // A plain directory: the workspace copy is all there is.
        if target != job.dirs.workspace {
            if let Err(e) = copy_tree(&source, &target) {
                job.error(
                    log,
                    &format!("actions/checkout: cannot copy {}: {e}", source.display()),
                );
                return ActionResult::failure();
            }
        }
        job.log(
            log,
            &format!("Copied {} (not a git repository)", source.display()),
        );
        return ActionResult::success(IndexMap::new());
    }
    if !target.join(".git").exists() {
        if let Err(e) = std::fs::create_dir_all(&target) {
            job.error(
                log,
                &format!("actions/checkout: cannot create {}: {e}", target.display()),
            );
            return ActionResult::failure();
        }
        let empty = std::fs::read_dir(&target)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            job.error(
                log,
                &format!(
                    "actions/checkout: '{}' exists and is not a repository",
                    target.display()
                ),
            );
            return ActionResult::failure();
        }
        if let Err(e) = copy_repository(&source, None, &target).await {
            job.error(
                log,
                &format!("actions/checkout: {}", crate::job::error_chain(&e)),
            );
            return ActionResult::failure();
        }
    }
    if input_bool(inputs, "clean", true) {
        for args in [
            &["reset", "--quiet", "--hard", "HEAD"][..],
            &["clean", "-ffdxq"][..],
        ] {
            if let Err(e) = git(Some(&target), args).await {
                job.error(
                    log,
                    &format!("actions/checkout: {}", crate::job::error_chain(&e)),
                );
                return ActionResult::failure();
            }
        }
    }
    let mut checked_out = None;
    for candidate in [wanted.clone(), format!("origin/{wanted}")] {
        if git(
            Some(&target),
            &["checkout", "--quiet", "--force", "--detach", &candidate],
        )
        .await
        .is_ok()
        {
            checked_out = Some(candidate);
            break;
        }
    }
    if checked_out.is_none() {
        job.error(
            log,
            &format!(
                "actions/checkout: '{wanted}' is not a branch, tag or commit of {}",
                source.display()
            ),
        );
        return ActionResult::failure();
    }
    if input(inputs, "ref").is_none() && job.sha.is_none() {
        // The job runs on the working tree as it is: bring the uncommitted changes back.
        if let Err(e) = crate::workspace::overlay_working_tree(&source, &target).await {
            job.error(
                log,
                &format!("actions/checkout: {}", crate::job::error_chain(&e)),
            );
            return ActionResult::failure();
        }
    }
    let commit = git(Some(&target), &["rev-parse", "HEAD"])
        .await
        .unwrap_or_default();
    let commit = commit.trim().to_owned();
    job.log(
        log,
        &format!(
            "Checked out {wanted} ({commit}) into {}",
            job.shown_path(&target)
        ),
    );
    let mut outputs = IndexMap::new();
    outputs.insert("ref".to_owned(), wanted);
    outputs.insert("commit".to_owned(), commit);
    ActionResult::success(outputs)
}
