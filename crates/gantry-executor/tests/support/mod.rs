//! Shared by the executor's end-to-end tests: job and step builders, a harness that runs one job
//! and collects its events, and a git repository maker.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_executor::{HostExecutor, HostExecutorOptions};
use gantry_plan::{
    Conclusion, Executor, JobEvent, JobResult, JobSpec, RunDefaults, StepAction, StepSpec,
    WorkspaceSpec,
};
use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

pub fn step(script: &str) -> StepSpec {
    StepSpec {
        location: "ci.yml:1:1".into(),
        ..StepSpec::run("", script)
    }
}

pub fn uses(action: &str, with: &[(&str, &str)]) -> StepSpec {
    let mut s = step("");
    s.action = StepAction::Uses {
        uses: action.into(),
        with: with
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    s
}

pub trait StepExt {
    fn id(self, id: &str) -> Self;
    fn when(self, cond: &str) -> Self;
    fn env(self, k: &str, v: &str) -> Self;
    fn shell(self, shell: &str) -> Self;
    fn continue_on_error(self, v: &str) -> Self;
    fn timeout(self, minutes: &str) -> Self;
    fn name(self, name: &str) -> Self;
}

impl StepExt for StepSpec {
    fn id(mut self, id: &str) -> Self {
        self.id = Some(id.into());
        self.generated_id = id.into();
        self
    }
    fn when(mut self, cond: &str) -> Self {
        self.if_expr = cond.into();
        self
    }
    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    fn shell(mut self, sh: &str) -> Self {
        if let StepAction::Run { shell, .. } = &mut self.action {
            *shell = Some(sh.into());
        }
        self
    }
    fn continue_on_error(mut self, v: &str) -> Self {
        self.continue_on_error = v.into();
        self
    }
    fn timeout(mut self, minutes: &str) -> Self {
        self.timeout_minutes = Some(minutes.into());
        self
    }
    fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }
}

pub fn spec(steps: Vec<StepSpec>) -> JobSpec {
    let mut steps = steps;
    for (i, s) in steps.iter_mut().enumerate() {
        if s.generated_id.is_empty() {
            s.generated_id = if i == 0 {
                "__run".into()
            } else {
                format!("__run_{}", i + 1)
            };
        }
    }
    let mut contexts = serde_json::Map::new();
    contexts.insert(
        "github".into(),
        serde_json::json!({
            "repository": "octo/hello", "sha": "0123456789abcdef0123456789abcdef01234567",
            "ref": "refs/heads/main", "event_name": "push", "actor": "octocat",
            "workflow": "CI", "event": {"ref": "refs/heads/main", "pusher": {"name": "octocat"}}
        }),
    );
    contexts.insert("matrix".into(), serde_json::json!({"os": "linux"}));
    JobSpec {
        run_id: "42".into(),
        run_number: 7,
        attempt: 1,
        job_key: "build".into(),
        job_id: "build".into(),
        display_name: "build".into(),
        workflow_file: ".github/workflows/ci.yml".into(),
        runs_on: vec!["ubuntu-latest".into()],
        contexts,
        secrets: IndexMap::new(),
        env: vec![],
        defaults_run: RunDefaults::default(),
        steps,
        outputs: vec![],
        timeout_minutes: None,
        continue_on_error: false,
        workspace: WorkspaceSpec::default(),
        container: None,
        services: Vec::new(),
    }
}

/// A `container:` or service with just an image.
pub fn image(image: &str) -> gantry_plan::ContainerSpec {
    gantry_plan::ContainerSpec {
        image: image.into(),
        ..gantry_plan::ContainerSpec::default()
    }
}

/// `[(name, value)]` as owned pairs, for `env:`.
pub fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub executor: HostExecutor,
}

impl Harness {
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut options = HostExecutorOptions::new(dir.path().join("work"));
        options.kill_grace = Duration::from_millis(600);
        options.action_cache = Some(dir.path().join("actions"));
        // Tests never reach the network; tests/fetch.rs serves actions from a local git daemon.
        options.action_source.offline = true;
        Harness {
            executor: HostExecutor::new(options),
            dir,
        }
    }

    /// A harness whose executor fetches remote actions from `base_url`, waiting at most `timeout`.
    pub fn fetching_from(base_url: &str, timeout: Duration) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut options = HostExecutorOptions::new(dir.path().join("work"));
        options.kill_grace = Duration::from_millis(600);
        options.action_cache = Some(dir.path().join("actions"));
        options.action_source = gantry_executor::fetch::ActionSource {
            base_url: base_url.to_owned(),
            offline: false,
            timeout,
        };
        Harness {
            executor: HostExecutor::new(options),
            dir,
        }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub async fn run(&self, spec: JobSpec) -> Outcome {
        self.run_with_cancel(spec, CancellationToken::new()).await
    }

    pub async fn run_with_cancel(&self, spec: JobSpec, cancel: CancellationToken) -> Outcome {
        let (tx, mut rx) = gantry_plan::flow::channel(usize::MAX);
        let result = self.executor.run_job(spec, tx, cancel).await;
        let mut events = Vec::new();
        while let Some(e) = rx.try_recv() {
            events.push(e);
        }
        Outcome { result, events }
    }
}

pub struct Outcome {
    pub result: JobResult,
    pub events: Vec<JobEvent>,
}

impl Outcome {
    pub fn logs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                JobEvent::Log { line, .. } => Some(line.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn all_text(&self) -> String {
        self.events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn has_line(&self, line: &str) -> bool {
        self.logs().iter().any(|l| l == line)
    }

    pub fn finished(&self) -> Vec<(Conclusion, Conclusion)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                JobEvent::StepFinished {
                    outcome,
                    conclusion,
                    ..
                } => Some((*outcome, *conclusion)),
                _ => None,
            })
            .collect()
    }

    pub fn annotations(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                JobEvent::Annotation { level, message, .. } => {
                    Some((level.clone(), message.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

pub const S: Conclusion = Conclusion::Success;
pub const F: Conclusion = Conclusion::Failure;
pub const K: Conclusion = Conclusion::Skipped;
pub const C: Conclusion = Conclusion::Cancelled;

pub fn git_repo(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    let git = |args: &[&str]| git(dir, args);
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "initial"]);
    git(&["rev-parse", "HEAD"])
}

/// Runs git in `dir` with a test identity and `main` as the first branch; its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
