//! Pre-fetching the remote actions of a repository (`gantry actions pull`): every `uses:` of its
//! workflows' steps, and the actions those composite actions use, fetched into the action cache
//! so later runs work offline.
//!
//! The fetching is gantry-executor's `fetch.rs` (one implementation for runs and pulls); this
//! module only finds what to fetch. Tests: `crates/gantry/tests/run.rs`.

use std::path::Path;

use gantry_executor::fetch::{step_uses, ActionFetcher, ActionSource, Pulled};

use crate::error::Result;

/// Fetches the actions the workflows under `root/.github/workflows` use into `cache`.
pub async fn pull(root: &Path, cache: &Path, source: ActionSource) -> Result<Vec<Pulled>> {
    let files = crate::workflows::collect_files(&root.join(".github/workflows"))?;
    let mut uses = Vec::new();
    for file in &files {
        // A file that cannot be read or has errors still contributes what it names; `gantry
        // run` reports its problems.
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        let (workflow, _) = gantry_workflow::load_workflow(&bytes);
        for job in workflow.jobs.values() {
            if let Some(steps) = &job.steps {
                uses.extend(step_uses(steps));
            }
        }
    }
    Ok(ActionFetcher::new(cache, source).pull(uses).await)
}
