//! The run library's API on the host executor: runs started from throwaway git repositories,
//! observed through subscriptions, cancelled, killed and re-run; requests that stop before
//! anything runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gantry_plan::{Conclusion, JobEvent};
use gantry_run::{
    prepare, EventStream, Finished, RerunScope, RunEvent, RunRequest, Secret, WorkspaceMode,
};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

/// A repository with one workflow, committed on `main`.
struct Repo {
    dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
}

impl Repo {
    fn new(workflow: &str) -> Repo {
        let dir = tempfile::tempdir().expect("tempdir");
        let workflows = dir.path().join(".github/workflows");
        std::fs::create_dir_all(&workflows).expect("mkdir");
        std::fs::write(workflows.join("ci.yml"), workflow).expect("write");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "first"]);
        Repo {
            dir,
            scratch: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn work_root(&self) -> PathBuf {
        self.scratch.path().join("work")
    }

    /// A push request whose work root and caches are the test's own.
    fn request(&self) -> RunRequest {
        let mut request = RunRequest::new(self.dir.path(), "push");
        request.options.work_root = Some(self.work_root());
        request.options.action_cache = Some(self.scratch.path().join("actions"));
        request.options.cache_dir = Some(self.scratch.path().join("cache"));
        request.options.workspace = WorkspaceMode::Empty;
        request
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every event until the stream ends.
async fn collect(mut events: EventStream) -> Vec<RunEvent> {
    let mut out = Vec::new();
    while let Some(update) = events.recv().await {
        assert_eq!(update.run, 0);
        out.push(update.event);
    }
    out
}

fn log_lines(events: &[RunEvent], job: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            RunEvent::JobEvent {
                key,
                event: JobEvent::Log { line, .. },
            } if key == job => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn started_jobs(events: &[RunEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            RunEvent::JobStarted { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

const PIPELINE: &str = r#"on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - id: v
        run: echo "version=1.2.3" >> "$GITHUB_OUTPUT"
      - run: echo "token is ${{ secrets.TOKEN }}"
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo "attempt ${{ github.run_attempt }} of ${{ needs.build.outputs.version }}"
      - if: github.run_attempt == '1'
        run: exit 1
"#;

#[test]
fn a_run_is_observed_by_every_subscriber_and_masked_and_re_run_for_its_failed_jobs() {
    let repo = Repo::new(PIPELINE);
    let mut request = repo.request();
    request
        .secrets
        .insert("TOKEN".into(), Secret::new("hunter2-secret"));
    let debug = format!("{request:?}");
    assert!(!debug.contains("hunter2-secret"), "{debug}");
    assert!(debug.contains("TOKEN"), "{debug}");

    let runtime = runtime();
    let (first, events, again) = runtime.block_on(async {
        let prepared = prepare(request).expect("prepare");
        assert_eq!(prepared.runs().len(), 1);
        assert!(!prepared.needs_docker());
        let all = prepared.subscribe();
        let only_run = prepared.subscribe_run(0);
        let handle = prepared.start().await.expect("start");
        let (events, again) = tokio::join!(collect(all), collect(only_run));
        let finished = handle.wait().await.expect("wait");
        (finished, events, again)
    });
    assert_eq!(events, again, "two subscribers see the same events");
    assert!(matches!(events.first(), Some(RunEvent::RunStarted { .. })));
    assert!(matches!(
        events.last(),
        Some(RunEvent::RunFinished {
            conclusion: Conclusion::Failure
        })
    ));
    let build_log = log_lines(&events, "build").join("\n");
    assert!(build_log.contains("token is ***"), "{build_log}");
    assert!(!format!("{events:?}").contains("hunter2-secret"));
    let test_log = log_lines(&events, "test").join("\n");
    assert!(test_log.contains("attempt 1 of 1.2.3"), "{test_log}");

    let [first]: [Finished; 1] = first.try_into().expect("one run");
    assert_eq!(first.outcome.conclusion, Conclusion::Failure);
    assert_eq!(first.attempt(), 1);
    assert!(first.recorded.dir.join("run.json").is_file());
    assert!(!repo.work_root().exists(), "the work root is removed");

    // Re-run the failed jobs: `build` keeps its result and outputs, `test` runs again.
    let mut request = repo.request();
    request.rerun = Some(first.rerun(RerunScope::FailedJobs));
    let (second, events) = runtime.block_on(async {
        let prepared = prepare(request).expect("prepare");
        let events = prepared.subscribe();
        let handle = prepared.start().await.expect("start");
        let events = collect(events).await;
        (handle.wait().await.expect("wait"), events)
    });
    assert_eq!(started_jobs(&events), ["test"]);
    let test_log = log_lines(&events, "test").join("\n");
    assert!(test_log.contains("attempt 2 of 1.2.3"), "{test_log}");
    assert_eq!(second[0].outcome.conclusion, Conclusion::Success);
    assert_eq!(second[0].attempt(), 2);
    assert_eq!(
        second[0].outcome.needs_results.get("build"),
        Some(&Conclusion::Success)
    );

    // Re-run one job: it and its dependents run again, at the next attempt.
    let mut request = repo.request();
    let [second]: [Finished; 1] = second.try_into().expect("one run");
    request.rerun = Some(second.rerun(RerunScope::Job("build".into())));
    let events = runtime.block_on(async {
        let prepared = prepare(request).expect("prepare");
        let events = prepared.subscribe();
        let handle = prepared.start().await.expect("start");
        let events = collect(events).await;
        handle.wait().await.expect("wait");
        events
    });
    assert_eq!(started_jobs(&events), ["build", "test"]);
    let test_log = log_lines(&events, "test").join("\n");
    assert!(test_log.contains("attempt 3 of 1.2.3"), "{test_log}");
}

const SLOW: &str = r#"on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: echo started; sleep 60
      - if: always()
        run: echo cleaning up
"#;

/// Waits until the job `slow` printed `started`, then returns the rest of the stream.
async fn until_started(events: &mut EventStream) {
    while let Some(update) = events.recv().await {
        if let RunEvent::JobEvent {
            event: JobEvent::Log { line, .. },
            ..
        } = &update.event
        {
            if line.contains("started") {
                return;
            }
        }
    }
    panic!("the run ended before its step started");
}

#[test]
fn a_cancelled_run_runs_its_always_steps_and_ends_cancelled() {
    let repo = Repo::new(SLOW);
    let (finished, rest) = runtime().block_on(async {
        let prepared = prepare(repo.request()).expect("prepare");
        let mut events = prepared.subscribe();
        let handle = prepared.start().await.expect("start");
        until_started(&mut events).await;
        handle.cancel();
        let rest = collect(events).await;
        let finished = tokio::time::timeout(Duration::from_secs(30), handle.wait())
            .await
            .expect("the cancelled run ends")
            .expect("wait");
        (finished, rest)
    });
    assert_eq!(finished[0].outcome.conclusion, Conclusion::Cancelled);
    let log = log_lines(&rest, "slow").join("\n");
    assert!(log.contains("cleaning up"), "{log}");
    assert!(!repo.work_root().exists());
}

#[test]
fn a_killed_run_takes_its_processes_and_work_root_along() {
    let repo = Repo::new(SLOW);
    let runtime = runtime();
    let (killed, work_root_after_kill, finished) = runtime.block_on(async {
        let prepared = prepare(repo.request()).expect("prepare");
        let mut events = prepared.subscribe();
        let handle = prepared.start().await.expect("start");
        until_started(&mut events).await;
        let canceller = handle.canceller();
        let killed = canceller.kill();
        let after = repo.work_root().exists();
        let finished = tokio::time::timeout(Duration::from_secs(30), handle.wait())
            .await
            .expect("the killed run ends");
        (killed, after, finished)
    });
    assert!(killed >= 1, "the step's shell and sleep were signalled");
    assert!(!work_root_after_kill);
    assert!(finished.is_ok_and(|runs| runs[0].outcome.conclusion != Conclusion::Success));
}

#[test]
fn workflow_errors_and_unknown_jobs_stop_before_anything_runs() {
    let repo = Repo::new("on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nope( }}\n");
    match prepare(repo.request()) {
        Err(gantry_run::Error::Workflows(files)) => {
            assert_eq!(files.len(), 1);
            assert!(files[0].path.ends_with("ci.yml"), "{}", files[0].path);
            assert!(!files[0].diagnostics.is_empty());
        }
        Err(other) => panic!("expected workflow errors, got {other}"),
        Ok(_) => panic!("expected workflow errors"),
    }
    assert!(!repo.dir.path().join(".gantry/runs").exists());

    let repo = Repo::new(PIPELINE);
    let mut request = repo.request();
    request.jobs = vec!["biuld".into()];
    let err = prepare(request).err().expect("an unknown job is an error");
    assert_eq!(
        err.to_string(),
        "no job 'biuld' in the workflows that run for 'push' (jobs: build, test)"
    );

    let mut request = repo.request();
    request.jobs = vec!["build".into()];
    let prepared = prepare(request).expect("prepare");
    let jobs: Vec<&str> = prepared.runs()[0]
        .plan
        .graph
        .jobs
        .iter()
        .map(|j| j.job_id.as_str())
        .collect();
    assert_eq!(jobs, ["build"]);
}

#[test]
fn the_github_context_takes_the_configured_server() {
    let repo = Repo::new(PIPELINE);
    std::fs::create_dir_all(repo.dir.path().join(".gantry")).expect("mkdir");
    std::fs::write(
        repo.dir.path().join(".gantry/config.toml"),
        "[github]\nserver_url = \"https://ghe.example.com\"\n",
    )
    .expect("write");
    let prepared = prepare(repo.request()).expect("prepare");
    let github = &prepared.runs()[0].plan.contexts["github"];
    assert_eq!(github["server_url"], "https://ghe.example.com");
    assert_eq!(github["api_url"], "https://ghe.example.com/api/v3");
    assert_eq!(github["graphql_url"], "https://ghe.example.com/api/graphql");
    assert_eq!(github["run_attempt"], "1");
    assert_eq!(github["ref"], "refs/heads/main");
}

/// The commit `HEAD` of `dir`.
fn head(dir: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .expect("git");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_push_payload_takes_the_pushed_before_and_lists_every_pushed_commit() {
    let repo = Repo::new(PIPELINE);
    let first = head(repo.dir.path());
    for message in ["second", "third"] {
        git(
            repo.dir.path(),
            &["commit", "-q", "--allow-empty", "-m", message],
        );
    }
    let third = head(repo.dir.path());

    // Two commits pushed at once: both listed, oldest first, the pushed `before` kept.
    let mut request = repo.request();
    request.event.before = Some(first.clone());
    let prepared = prepare(request).expect("prepare");
    let event = &prepared.runs()[0].plan.contexts["github"]["event"];
    assert_eq!(event["before"], first.as_str());
    assert_eq!(event["after"], third.as_str());
    assert_eq!(event["created"], false);
    let messages: Vec<&str> = event["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .map(|c| c["message"].as_str().expect("message"))
        .collect();
    assert_eq!(messages, ["second", "third"]);
    assert_eq!(event["head_commit"]["id"], third.as_str());

    // A created tag: before all zeros, no commits, the tagged commit as head_commit.
    git(repo.dir.path(), &["tag", "v1"]);
    git(repo.dir.path(), &["checkout", "-q", "v1"]);
    let mut request = repo.request();
    request.event.before = Some("0".repeat(40));
    let prepared = prepare(request).expect("prepare");
    let event = &prepared.runs()[0].plan.contexts["github"]["event"];
    assert_eq!(event["before"], "0".repeat(40).as_str());
    assert_eq!(event["created"], true);
    assert_eq!(event["commits"].as_array().map(Vec::len), Some(0));
    assert_eq!(event["head_commit"]["id"], third.as_str());
}
