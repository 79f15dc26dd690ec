//! End-to-end tests of `gantry run`: a throwaway git repository per case, the real binary, real
//! processes on the host. Each case checks exit code, what was printed and what was saved.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        Repo {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(self, path: &str, contents: &str) -> Repo {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, contents).expect("write");
        self
    }

    fn workflow(self, name: &str, contents: &str) -> Repo {
        self.file(&format!(".github/workflows/{name}"), contents)
    }

    /// Commits everything on branch `main`.
    fn commit(self) -> Repo {
        git(self.path(), &["init", "-q", "-b", "main"]);
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-q", "-m", "initial"]);
        self
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gantry"))
            .arg("run")
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.path().join(".cache-home"))
            .output()
            .expect("run gantry")
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn example_pipeline_runs_end_to_end() {
    let repo = Repo::new();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    copy_tree(&examples, repo.path());
    std::fs::remove_dir_all(repo.path().join("broken")).expect("rm broken");
    let repo = repo.commit();
    let out = repo.run(&[]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for job in [
        "Lint",
        "Test (api)",
        "Test (worker)",
        "Build api",
        "Build worker",
        "Notify",
    ] {
        assert!(
            text.contains(&format!("[{job}] ✓ job success")),
            "{job}: {text}"
        );
    }
    assert!(
        text.contains("build: success (version 1.0.1-"),
        "job outputs reach needs: {text}"
    );
    let record: serde_json::Value =
        serde_json::from_str(&repo.read(".gantry/runs/1/run.json")).expect("run.json");
    assert_eq!(record["conclusion"], "success");
    assert_eq!(record["jobs"].as_array().expect("jobs").len(), 6);
    let summary = repo.read(".gantry/runs/1/summaries/test-1.md");
    assert_eq!(summary.trim(), "api: 2 tests passed");
}

#[test]
fn failure_skips_dependents_and_runs_always_jobs() {
    let repo = Repo::new()
        .workflow(
            "ci.yml",
            r#"on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo compiling
      - run: exit 3
      - run: echo never
      - if: always()
        run: echo cleanup ran
  deploy:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo deploying
  report:
    needs: [build, deploy]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "build=${{ needs.build.result }} deploy=${{ needs.deploy.result }}"
"#,
        )
        .commit();
    let out = repo.run(&[]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("]   never\n"), "{text}");
    assert!(text.contains("cleanup ran"), "{text}");
    assert!(text.contains("[deploy] - job skipped"), "{text}");
    assert!(!text.contains("deploying\n"), "{text}");
    assert!(text.contains("build=failure deploy=skipped"), "{text}");
    assert!(text.contains("[build] ✗ job failure"), "{text}");
    assert!(
        text.contains("annotations:\n  [build] error: Process completed with exit code 3."),
        "{text}"
    );
}

#[test]
fn workflow_errors_stop_before_anything_runs() {
    let repo = Repo::new()
        .workflow("ci.yml", "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n      - run: touch ran\n")
        .commit();
    let out = repo.run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    assert!(
        stderr(&out).contains(".github/workflows/ci.yml:3:3: error:"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing was run"), "{}", stderr(&out));
    assert!(!repo.path().join(".gantry/runs").exists());
}

#[test]
fn container_option_and_port_errors_stop_before_anything_runs() {
    // No Docker engine is needed: preflight stops the run before anything touches one.
    let repo = Repo::new()
        .workflow(
            "ci.yml",
            concat!(
                "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n",
                "    services:\n",
                "      pg:\n        image: postgres\n        ports: ['5432:5432']\n",
                "        options: >-\n          --health-cmd pg_isready\n          --bogus-flag 1\n",
                "      pg2:\n        image: postgres\n        ports: ['5432:5432']\n",
                "    steps:\n      - run: touch ran\n",
            ),
        )
        .commit();
    let out = repo.run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    let err = stderr(&out);
    assert!(
        err.contains(".github/workflows/ci.yml:11:11: error: services.pg.options: unknown container option \"--bogus-flag\""),
        "{err}"
    );
    assert!(
        err.contains(".github/workflows/ci.yml:14:17: error: services.pg2.ports: host port 5432/tcp is already published by services.pg.ports"),
        "{err}"
    );
    assert!(err.contains("nothing was run"), "{err}");
    assert!(!repo.path().join("ran").exists());
    assert!(!repo.path().join(".gantry/runs").exists());
}

#[test]
fn unknown_job_is_a_usage_error() {
    let repo = Repo::new()
        .workflow("ci.yml", "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: touch ran\n")
        .commit();
    let out = repo.run(&["-j", "biuld"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no job 'biuld' in the workflows that run for 'push' (jobs: build)\n"
    );
}

#[test]
fn job_selection_runs_the_job_and_what_it_needs() {
    let repo = Repo::new()
        .workflow(
            "ci.yml",
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo ran-a}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{run: echo ran-b}]\n  c:\n    runs-on: x\n    steps: [{run: echo ran-c}]\n",
        )
        .commit();
    let out = repo.run(&["-j", "b"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(
        text.contains("]   ran-a") && text.contains("]   ran-b"),
        "{text}"
    );
    assert!(!text.contains("ran-c"), "{text}");
}

#[test]
fn dispatch_inputs_are_checked_before_running() {
    let repo = Repo::new()
        .workflow(
            "deploy.yml",
            r#"on:
  workflow_dispatch:
    inputs:
      target:
        type: choice
        options: [staging, production]
        required: true
      dry:
        type: boolean
        default: true
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: echo "target=${{ inputs.target }} dry=${{ inputs.dry }} typed=${{ inputs.dry == true }}"
"#,
        )
        .commit();
    let bad = repo.run(&["workflow_dispatch", "--input", "target=moon"]);
    assert_eq!(bad.status.code(), Some(2), "{}", all(&bad));
    assert!(stderr(&bad).contains("moon"), "{}", stderr(&bad));
    let good = repo.run(&["workflow_dispatch", "--input", "target=staging"]);
    assert_eq!(good.status.code(), Some(0), "{}", all(&good));
    assert!(
        stdout(&good).contains("target=staging dry=true typed=true"),
        "{}",
        stdout(&good)
    );
    let not_listening = repo.run(&["push"]);
    assert_eq!(not_listening.status.code(), Some(0));
    assert!(
        stderr(&not_listening).contains("no workflow runs for 'push'"),
        "{}",
        stderr(&not_listening)
    );
}

#[test]
fn secrets_are_masked_in_output_and_in_saved_logs() {
    let repo = Repo::new()
        .file(
            "secrets.env",
            "MULTI=\"first-line-secret\nsecond-line-secret\"\n",
        )
        .workflow(
            "ci.yml",
            r#"on: push
jobs:
  leak:
    runs-on: ubuntu-latest
    steps:
      - run: echo "direct ${{ secrets.TOKEN }}"
      - run: |
          printf 'split s3cr'; sleep 0.2; printf 'et-value-42 end\n'
      - env:
          M: ${{ secrets.MULTI }}
        run: echo "$M"
      - run: |
          value="dynamic-value-$((3 + 4))"
          echo "::add-mask::$value"
          echo "then $value appears"
"#,
        )
        .commit();
    let out = repo.run(&[
        "--secret",
        "TOKEN=s3cret-value-42",
        "--secret-file",
        "secrets.env",
    ]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let log = repo.read(".gantry/runs/1/logs/leak.log");
    let events = repo.read(".gantry/runs/1/events.jsonl");
    for secret in [
        "s3cret-value-42",
        "first-line-secret",
        "second-line-secret",
        "dynamic-value-7",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} leaked to the terminal: {text}"
        );
        assert!(!log.contains(secret), "{secret} leaked to the log: {log}");
        assert!(!events.contains(secret), "{secret} leaked to events.jsonl");
    }
    assert!(text.contains("direct ***"), "{text}");
    assert!(text.contains("split *** end"), "{text}");
    assert!(text.contains("then *** appears"), "{text}");
}

#[test]
fn on_a_terminal_the_live_view_fits_the_screen_and_ends_with_the_summary() {
    // A real pseudo-terminal of 12 rows × 70 columns (util-linux `script`), more jobs than rows.
    let mut workflow = String::from("name: CI\non: push\njobs:\n");
    for i in 0..20 {
        workflow.push_str(&format!(
            "  job-{i}:\n    runs-on: ubuntu-latest\n    steps:\n      - run: sleep 0.1; echo hi {i}\n"
        ));
    }
    workflow.push_str("  broken:\n    runs-on: ubuntu-latest\n    steps:\n      - run: exit 3\n");
    let repo = Repo::new().workflow("ci.yml", &workflow).commit();
    let command = format!(
        "stty rows 12 cols 70; exec {} run --concurrent-jobs 4",
        env!("CARGO_BIN_EXE_gantry")
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(repo.path())
        .env("XDG_CACHE_HOME", repo.path().join(".cache-home"))
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux `script` runs the binary in a pseudo-terminal");
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    let raw = stdout(&out);

    // The live view redraws in place, never moving the cursor further up than the screen.
    let ups: Vec<usize> = raw
        .split("\x1b[")
        .skip(1)
        .filter_map(|s| s.split_once('A')?.0.parse().ok())
        .collect();
    assert!(!ups.is_empty(), "no redraw on a terminal: {raw:?}");
    assert!(
        ups.iter().all(|&n| n <= 11),
        "moved up {ups:?} on a 12-row screen"
    );
    assert!(raw.contains("more jobs:"), "{raw:?}");

    // What the screen shows at the end: the summary table and where the logs are.
    let mut screen = vt100::Parser::new(12, 70, 0);
    screen.process(&out.stdout);
    let text = screen.screen().contents();
    assert!(text.contains("run failure — logs in"), "{text}");
    assert!(
        text.contains("[broken] error: Process completed with exit code 3."),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("job-19") && l.contains("✓ success")),
        "{text}"
    );
}

/// Waits up to 20 s for `cond`.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn pid_running(pid: u32) -> bool {
    // A zombie has finished running; /proc shows its state after the name.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_takes_the_steps_processes_along() {
    let repo = Repo::new();
    let marker = repo.path().join("always.pid");
    let repo = repo
        .workflow(
            "ci.yml",
            &format!(
                "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo started; sleep 300\n      - if: always()\n        run: echo $$ > {}; exec sleep 300\n",
                marker.display()
            ),
        )
        .commit();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("run")
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env("TMPDIR", tmp.path())
        .env("XDG_CACHE_HOME", repo.path().join(".cache-home"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run gantry");
    let gantry = child.id();
    let work_root = tmp.path().join(format!("gantry-{gantry}"));
    wait_for("the first step", || {
        std::fs::read_dir(&work_root).is_ok_and(|mut d| d.next().is_some())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The first Ctrl-C cancels: the running step stops, the `always()` step runs.
    interrupt(gantry);
    wait_for("the always() step", || {
        std::fs::read_to_string(&marker).is_ok_and(|s| s.trim().parse::<u32>().is_ok())
    });
    let step: u32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_running(step));
    // The second stops at once, with what the step started and the job directories.
    interrupt(gantry);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    wait_for("the step's process to be killed", || !pid_running(step));
    assert!(!work_root.exists(), "{} left behind", work_root.display());
}

#[test]
fn work_roots_left_by_killed_runs_are_removed_by_the_next_run() {
    let repo = Repo::new()
        .workflow(
            "ci.yml",
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n",
        )
        .commit();
    let tmp = tempfile::tempdir().expect("temp dir");
    // No process has this pid (above any pid_max); this test's own pid is alive.
    let dead = tmp.path().join("gantry-99999999");
    let alive = tmp.path().join(format!("gantry-{}", std::process::id()));
    // Named like a work root but holding something else: not ours, left alone.
    let foreign = tmp.path().join("gantry-99999998");
    for dir in [&dead, &alive] {
        std::fs::create_dir_all(dir.join("1-1/job/_temp")).unwrap();
        std::fs::write(dir.join("1-1/job/_temp/file"), "x").unwrap();
    }
    std::fs::create_dir_all(foreign.join("cache")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("run")
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env("TMPDIR", tmp.path())
        .env("XDG_CACHE_HOME", repo.path().join(".cache-home"))
        .output()
        .expect("run gantry");
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(!dead.exists());
    assert!(alive.join("1-1/job/_temp/file").exists());
    let mut left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    let mut want = [alive.file_name().unwrap(), foreign.file_name().unwrap()];
    want.sort();
    assert_eq!(left, want);
}

#[test]
fn an_empty_workspace_is_filled_by_checkout_as_on_github() {
    let repo = Repo::new()
        .file("hello.txt", "hi\n")
        .workflow(
            "ci.yml",
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"before=$(ls -A | tr '\\n' ' ')\"\n      - uses: actions/checkout@v4\n      - run: echo \"after=$(cat hello.txt)\"\n",
        )
        .commit();
    let out = repo.run(&["--workspace", "empty"]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.trim_end() == "[a]   before="),
        "{text}"
    );
    assert!(text.contains("[a]   after=hi"), "{text}");
    // The default: the workspace starts as a copy of the repository.
    let out = repo.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(
        stdout(&out).contains("before=.git .github hello.txt"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_mode_prints_one_event_per_line() {
    let repo = Repo::new()
        .workflow(
            "ci.yml",
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo hi}]\n",
        )
        .commit();
    let out = repo.run(&["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        events.first().map(|e| e["type"].clone()),
        Some("run_started".into())
    );
    assert_eq!(
        events.last().map(|e| e["type"].clone()),
        Some("run_finished".into())
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"]["event"] == "log" && e["event"]["line"] == "hi"),
        "{events:?}"
    );
}

#[test]
fn list_and_dry_run_run_nothing() {
    let repo = Repo::new()
        .workflow(
            "ci.yml",
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{name: Make, run: touch made}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{uses: actions/checkout@v4}]\n",
        )
        .commit();
    let list = repo.run(&["-l"]);
    assert_eq!(list.status.code(), Some(0));
    let list_text = stdout(&list);
    let lines: Vec<&str> = list_text.lines().map(str::trim_end).collect();
    // An unnamed workflow is shown by its path, as GitHub does.
    assert_eq!(
        lines[0],
        ".github/workflows/ci.yml (.github/workflows/ci.yml)"
    );
    assert!(lines[2].starts_with("  0      a "), "{lines:?}");
    assert!(
        lines[3].starts_with("  1      b ") && lines[3].ends_with(" a"),
        "{lines:?}"
    );
    let dry = repo.run(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0));
    assert!(
        stdout(&dry).contains("   1. Make — run: touch made"),
        "{}",
        stdout(&dry)
    );
    assert!(
        stdout(&dry).contains("   1. uses: actions/checkout@v4"),
        "{}",
        stdout(&dry)
    );
    assert!(!repo.path().join("made").exists());
    assert!(!repo.path().join(".gantry/runs").exists());
}

#[test]
fn push_branch_filters_select_workflows() {
    let repo = Repo::new()
        .workflow("release.yml", "on:\n  push:\n    branches: [release/**]\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo release}]\n")
        .workflow("main.yml", "on:\n  push:\n    branches: [main]\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo on-main}]\n")
        .commit();
    let out = repo.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(stdout(&out).contains("on-main"));
    assert!(!stdout(&out).contains("]   release"));
}

#[test]
fn actions_pull_fetches_remote_actions_and_offline_runs_use_them() {
    // The action's repository, served by plain git over file:// (a mirror base URL).
    let server = tempfile::tempdir().expect("temp dir");
    let action = Repo::new()
        .file(
            "action.yml",
            "name: hello\ninputs:\n  who:\n    default: world\nruns:\n  using: composite\n  steps:\n    - run: echo \"fetched action greets ${{ inputs.who }}\"\n      shell: bash\n",
        )
        .commit();
    git(action.path(), &["tag", "v1"]);
    let bare = server.path().join("octo/hello");
    std::fs::create_dir_all(server.path().join("octo")).expect("mkdir");
    git(
        server.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &action.path().display().to_string(),
            &bare.display().to_string(),
        ],
    );
    let repo = Repo::new()
        .workflow(
            "ci.yml",
            "on: push\njobs:\n  greet:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: octo/hello@v1\n        with:\n          who: gantry\n",
        )
        .commit();

    // Offline with an empty cache: the step fails and says how to get the action.
    let out = repo.run(&["--offline"]);
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(
        all(&out).contains("the run is offline (fetch it first with `gantry actions pull`"),
        "{}",
        all(&out)
    );

    let base = format!("file://{}", server.path().display());
    let pull = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["actions", "pull", "--actions-url", &base])
        .current_dir(repo.path())
        .env("XDG_CACHE_HOME", repo.path().join(".cache-home"))
        .output()
        .expect("run gantry");
    assert_eq!(pull.status.code(), Some(0), "{}", all(&pull));
    assert!(stdout(&pull).contains(" octo/hello@v1"), "{}", all(&pull));

    let out = repo.run(&["--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(
        all(&out).contains("fetched action greets gantry"),
        "{}",
        all(&out)
    );
}
