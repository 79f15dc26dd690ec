//! End-to-end tests of the real `gantry` binary: arguments in, stdout/stderr/exit code out.
//!
//! `Test` runs the binary in a scratch directory holding the files a case writes; expectations
//! are the exact text where it is stable and the `file:line:col [code]` heads otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Test {
    dir: tempfile::TempDir,
}

impl Test {
    fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn file(self, path: &str, contents: impl AsRef<[u8]>) -> Test {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, contents).expect("write");
        self
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run gantry")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `file:line:col: severity: ... [code]` heads of the text output, without messages.
fn heads(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .filter(|l| l.contains(": error: ") || l.contains(": warning: "))
        .map(|l| {
            let (pos, rest) = l.split_once(": ").expect("head");
            let severity = rest.split(':').next().expect("severity");
            let code = rest.rsplit('[').next().expect("code").trim_end_matches(']');
            format!("{pos} {severity} {code}")
        })
        .collect()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn lint_clean_example_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["lint", "examples/.github/workflows"])
        .current_dir(repo_root())
        .output()
        .expect("run");
    assert_eq!(stdout(&out), "no problems found in 1 file\n");
    assert_eq!(out.status.code(), Some(1 - 1));
}

#[test]
fn lint_broken_example_reports_each_problem_with_its_position() {
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["lint", "examples/broken"])
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let file = "examples/broken/.github/workflows/release.yml";
    let expected: Vec<String> = [
        "7:5 error syntax-check",
        "15:14 warning deprecated-commands",
        "17:24 warning script-injection",
        "19:3 error job-needs",
        "22:38 error expression",
        "24:35 error expression",
        "25:26 error syntax-check",
    ]
    .iter()
    .map(|h| format!("{file}:{h}"))
    .collect();
    assert_eq!(heads(&out), expected, "{}", stdout(&out));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).ends_with("5 errors, 2 warnings in 1 file\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn lint_renders_the_source_line_and_a_caret_under_the_span() {
    let t = Test::new().file(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    timeout-minutes: soon\n    steps:\n      - run: echo hi\n",
    );
    let out = t.run(&["lint"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(".github/workflows/ci.yml:5:22: error: "),
        "{text}"
    );
    assert!(lines[0].ends_with("[syntax-check]"), "{text}");
    assert_eq!(lines[1], "5 |     timeout-minutes: soon");
    assert_eq!(lines[2], "  |                      ^^^^");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn lint_warnings_alone_exit_zero() {
    let t = Test::new().file(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"::set-output name=x::1\"\n",
    );
    let out = t.run(&["lint"]);
    assert_eq!(
        heads(&out),
        [".github/workflows/ci.yml:6:14 warning deprecated-commands"],
        "{}",
        stdout(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

/// A workflow linted outside any repository (as editors and pre-commit hooks do): the root is
/// a guess, so a local reusable workflow or `$/` action not found is a warning saying why.
#[test]
fn lint_outside_a_repository_warns_on_what_it_cannot_find() {
    const WORKFLOW: &str = "on: push\njobs:\n  a:\n    uses: ./.github/workflows/called.yml\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: $/.github/actions/setup\n";
    let t = Test::new().file("ci.yml", WORKFLOW);
    let out = t.run(&["lint", "ci.yml"]);
    assert_eq!(
        heads(&out),
        [
            "ci.yml:4:11 warning workflow-call",
            "ci.yml:8:15 warning action"
        ],
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("the repository root is only a guess"));
    assert_eq!(out.status.code(), Some(0));
    // Inside a repository the same files must exist.
    let t = Test::new().file("ci.yml", WORKFLOW).file(".git/HEAD", "");
    let out = t.run(&["lint", "ci.yml"]);
    assert_eq!(
        heads(&out),
        [
            "ci.yml:4:11 error workflow-call",
            "ci.yml:8:15 error action"
        ],
        "{}",
        stdout(&out)
    );
    assert_eq!(out.status.code(), Some(1));
}

/// `$/` self-repository references resolve against the repository root, like `./`.
#[test]
fn lint_checks_self_repository_references_against_the_repository() {
    let t = Test::new()
        .file(
            ".github/workflows/ci.yml",
            "on: push\njobs:\n  a:\n    uses: $/.github/workflows/called.yml\n    with:\n      x: 1\n      typo: 2\n",
        )
        .file(
            ".github/workflows/called.yml",
            "on:\n  workflow_call:\n    inputs:\n      x:\n        type: number\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
        );
    let out = t.run(&["lint", ".github/workflows/ci.yml"]);
    assert_eq!(
        heads(&out),
        [".github/workflows/ci.yml:7:7 error workflow-call"],
        "{}",
        stdout(&out)
    );
}

/// Whether shellcheck and pyflakes3 are installed; under `CI=true` they must be.
fn script_tools_installed() -> bool {
    let installed = ["shellcheck", "pyflakes3"].iter().all(|tool| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    });
    if !installed {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but shellcheck or pyflakes3 is not installed (scripts/test installs them)"
        );
        eprintln!("shellcheck or pyflakes3 not installed: the script linter cases are skipped");
    }
    installed
}

/// shellcheck and pyflakes findings at their own position in the script, in block, plain and
/// quoted scalars, with `${{ }}` replaced by placeholders that keep the columns.
#[test]
fn lint_runs_shellcheck_and_pyflakes_on_run_scripts() {
    if !script_tools_installed() {
        return;
    }
    let t = Test::new().file(
        ".github/workflows/ci.yml",
        concat!(
            "on: push\n",
            "jobs:\n",
            "  linux:\n",
            "    runs-on: ubuntu-latest\n",
            "    steps:\n",
            "      - run: |\n",
            "          echo ${{ github.sha }}\n",
            "          echo $FOO\n",
            "      - run: \"echo ${{ runner.os }} $BAR\"\n",
            "        shell: sh\n",
            "      - run: print(${{ github.run_number }} + hello)\n",
            "        shell: python\n",
            "  windows:\n",
            "    runs-on: windows-latest\n",
            "    steps:\n",
            "      - run: echo $FOO\n",
        ),
    );
    let out = t.run(&["lint"]);
    assert_eq!(
        heads(&out),
        [
            ".github/workflows/ci.yml:8:16 warning shellcheck",
            ".github/workflows/ci.yml:9:37 warning shellcheck",
            ".github/workflows/ci.yml:11:47 error pyflakes",
        ],
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("SC2086 (info): Double quote"));
    assert!(stdout(&out).contains("undefined name 'hello'"));
    assert_eq!(out.status.code(), Some(1));
}

/// Without the tools `gantry lint` still works, says so with `--verbose`, and fails under
/// `CI=true`, where a check that silently does not run is worse than a failed build.
#[test]
fn lint_without_script_linters() {
    let t = Test::new().file(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo $FOO\n",
    );
    let empty = tempfile::tempdir().expect("temp dir");
    let run = |ci: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(args)
            .current_dir(t.dir.path())
            .env("PATH", empty.path())
            .env("CI", ci)
            .env("NO_COLOR", "1")
            .output()
            .expect("run gantry")
    };
    let out = run("false", &["lint"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stderr(&out), "");
    let out = run("false", &["lint", "--verbose"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stderr(&out),
        "note: shellcheck is not installed: bash and sh run: scripts are not checked with it\n\
         note: pyflakes3 is not installed: python run: scripts are not checked with it\n"
    );
    let out = run("true", &["lint"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("shellcheck is not installed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lint_json_format_is_machine_readable() {
    let t = Test::new().file(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps: [{run: 'true'}]\n",
    );
    let out = t.run(&["lint", "--format", "json"]);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let items = found.as_array().expect("array");
    let needs = items
        .iter()
        .find(|d| d["code"] == "job-needs")
        .expect("a job-needs diagnostic");
    assert_eq!(needs["file"], ".github/workflows/ci.yml");
    assert_eq!(needs["line"], 3, "reported at the job, as actionlint does");
    assert_eq!(needs["severity"], "error");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn lint_missing_path_is_a_usage_error() {
    let out = Test::new().run(&["lint", "no/such/dir"]);
    assert_eq!(
        stderr(&out),
        "error: no/such/dir: no such file or directory\n"
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lint_bad_bytes_get_positions_not_panics() {
    let t = Test::new()
        .file("w/tabs.yml", "on: push\njobs:\n\ta:\n\t\truns-on: x\n")
        .file("w/latin1.yml", b"name: caf\xe9\non: push\njobs: {}\n".as_slice())
        .file("w/bomb.yml", {
            let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
            for i in 0..12 {
                let prev = if i == 0 { "a".to_string() } else { format!("a{}", i - 1) };
                s.push_str(&format!("a{i}: &a{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            }
            s
        })
        .file("w/deep.yml", "[".repeat(100_000));
    let out = t.run(&["lint", "w"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let heads = heads(&out);
    for file in ["w/bomb.yml", "w/deep.yml", "w/latin1.yml", "w/tabs.yml"] {
        assert!(
            heads
                .iter()
                .any(|h| h.starts_with(&format!("{file}:")) && h.contains(" error ")),
            "{file}: {heads:?}"
        );
    }
    assert!(
        heads.iter().any(|h| h.starts_with("w/latin1.yml:1:10 ")),
        "{heads:?}"
    );
    assert!(
        heads.iter().any(|h| h.starts_with("w/tabs.yml:3:1 ")),
        "{heads:?}"
    );
}

/// `docker` answers, or (outside CI only) the test is skipped with a reason.
fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and no Docker engine answers: run scripts/docker-setup first"
        );
        eprintln!("skipping Docker test: no Docker engine answers");
    }
    ok
}

#[test]
fn gc_removes_what_a_dead_run_left() {
    if !docker_available() {
        return;
    }
    let host = String::from_utf8(Command::new("hostname").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    let create = |name: &str, pid: u32| {
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
        let out = Command::new("docker")
            .args(["create", "--name", name, "--label", "gantry.managed=true"])
            .args([
                "--label",
                &format!("gantry.run=gc-test-{}", std::process::id()),
            ])
            .args(["--label", &format!("gantry.host={host}")])
            .args(["--label", &format!("gantry.pid={pid}")])
            .args(["gantry-test/busybox:latest", "true"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let dead_name = format!("gantry-gc-dead-{}", std::process::id());
    create(&dead_name, dead);
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("gc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&dead_name), "{}", stdout(&out));
    let left = Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("name={dead_name}"), "-q"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty());
}
