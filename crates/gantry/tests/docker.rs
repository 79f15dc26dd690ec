//! End-to-end tests of `gantry run` with a real Docker engine: the real binary in a throwaway git
//! repository, jobs in containers, service containers reached by name and by published port,
//! `-P label=docker://IMAGE`, secret masking in a container, and a bad service option. Every case
//! checks exit code and output, then that nothing labelled with its run (or its gantry process) is
//! left in the engine. The images come from scripts/build-test-images; without an engine or them a
//! test prints why and returns, except under `CI=true`, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BUSYBOX: &str = "gantry-test/busybox:latest";
const DEBIAN: &str = "gantry-test/debian:latest";
const POSTGRES: &str = "gantry-test/postgres:latest";
const REDIS: &str = "gantry-test/redis:latest";

/// The folder name of every test repository, so `github.repository` is `local/shop`.
const REPO: &str = "shop";

/// A git repository in a temp dir, named [`REPO`].
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// What one `gantry run` did: its output and the pid its Docker objects are labelled with.
struct Run {
    output: Output,
    pid: u32,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn text(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    /// True when a line of step output (`[job]   line`) is exactly `line`.
    fn has_step_line(&self, job: &str, line: &str) -> bool {
        let wanted = format!("[{job}]   {line}");
        self.text().lines().any(|l| l.trim_end() == wanted)
    }
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join(REPO);
        std::fs::create_dir_all(&root).expect("mkdir");
        Repo { _dir: dir, root }
    }

    fn workflow(self, contents: &str) -> Repo {
        let path = self.root.join(".github/workflows/ci.yml");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
        git(&self.root, &["init", "-q", "-b", "main"]);
        git(&self.root, &["add", "-A"]);
        git(&self.root, &["commit", "-q", "-m", "initial"]);
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        let child = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .arg("run")
            .args(args)
            .current_dir(&self.root)
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", self.root.join(".cache-home"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gantry");
        let pid = child.id();
        let output = child.wait_with_output().expect("wait for gantry");
        Run { output, pid }
    }

    /// Everything saved under `.gantry/runs/` (logs, events, run records), concatenated.
    fn saved(&self) -> String {
        let mut text = String::new();
        let mut stack = vec![self.root.join(".gantry/runs")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    text.push_str(&std::fs::read_to_string(&path).expect("read saved file"));
                }
            }
        }
        text
    }

    /// The run id of `.gantry/runs/1` (first line of its events), if the run got that far.
    fn run_id(&self) -> Option<String> {
        let events = std::fs::read_to_string(self.root.join(".gantry/runs/1/events.jsonl")).ok()?;
        let first: serde_json::Value = serde_json::from_str(events.lines().next()?).ok()?;
        first["run_id"].as_str().map(str::to_owned)
    }

    /// Containers and networks still labelled with this repository's run or `run`'s process.
    fn leftovers(&self, run: &Run) -> Vec<String> {
        let mut labels = vec![format!("gantry.pid={}", run.pid)];
        labels.extend(self.run_id().map(|id| format!("gantry.run={id}")));
        let mut names = Vec::new();
        for label in &labels {
            let filter = format!("label={label}");
            names.extend(docker(&[
                "ps",
                "-a",
                "--filter",
                &filter,
                "--format",
                "{{.Names}}",
            ]));
            names.extend(docker(&[
                "network",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Name}}",
            ]));
        }
        names
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

/// The lines a successful `docker` command printed.
fn docker(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// `docker` answers and has `images`, or (outside CI only) the test is skipped with a reason.
fn docker_ready(images: &[&str]) -> bool {
    let answers = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = if answers {
        images
            .iter()
            .copied()
            .filter(|image| {
                !Command::new("docker")
                    .args(["image", "inspect", image])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .collect()
    } else {
        Vec::new()
    };
    let reason = if !answers {
        "no Docker engine answers".to_owned()
    } else if !missing.is_empty() {
        format!("test images missing: {}", missing.join(", "))
    } else {
        return true;
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {reason}: run scripts/docker-setup and scripts/build-test-images first"
    );
    eprintln!("skipping Docker test: {reason}");
    false
}

/// True when this machine has a working `psql` client.
fn host_has_psql() -> bool {
    Command::new("psql")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A job in a container reaches postgres and redis by service name; a job on the host reaches
/// the same services through ephemeral and fixed published ports (`job.services.*.ports`).
/// The health checks go through TCP: with `POSTGRES_DB` set, the entrypoint first runs a server on
/// the Unix socket alone, which a socket `pg_isready` would report as ready.
#[test]
fn services_by_name_from_a_container_and_by_port_from_the_host() {
    if !docker_ready(&[DEBIAN, POSTGRES, REDIS]) {
        return;
    }
    let repo = Repo::new().workflow(
        r#"on: push
jobs:
  test:
    runs-on: ubuntu-latest
    container: gantry-test/debian:latest
    services:
      postgres:
        image: gantry-test/postgres:latest
        env:
          POSTGRES_PASSWORD: pw
          POSTGRES_DB: shop
        options: >-
          --health-cmd "pg_isready -h 127.0.0.1 -U postgres -d shop"
          --health-interval 1s --health-timeout 5s --health-retries 60
      redis:
        image: gantry-test/redis:latest
        options: --health-cmd "redis-cli ping" --health-interval 1s --health-retries 60
    steps:
      - env:
          PGPASSWORD: pw
        run: |
          answer=$(psql -h postgres -U postgres -d shop -tAc 'select 40 + 2')
          echo "answer=$answer"
      - run: |
          redis-cli -h redis set greeting hello-by-name
          echo "got=$(redis-cli -h redis get greeting)"
          echo "ports=[${{ job.services.postgres.ports['5432'] }}] id=${{ job.services.redis.id != '' }}"
  host:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: gantry-test/postgres:latest
        env:
          POSTGRES_PASSWORD: pw
        ports: ['5432']
        options: >-
          --health-cmd "pg_isready -h 127.0.0.1 -U postgres"
          --health-interval 1s --health-timeout 5s --health-retries 60
      redis:
        image: gantry-test/redis:latest
        ports: ['46379:6379']
        options: --health-cmd "redis-cli ping" --health-interval 1s --health-retries 60
    steps:
      - shell: bash
        run: |
          pg=${{ job.services.postgres.ports['5432'] }}
          echo "redis-port=${{ job.services.redis.ports['6379'] }} pg-port-is-number=$([[ $pg =~ ^[0-9]+$ ]] && echo yes)"
          # PostgreSQL's SSLRequest (length 8, code 80877103): a server without SSL answers 'N'.
          exec 3<>/dev/tcp/127.0.0.1/$pg
          printf '\x00\x00\x00\x08\x04\xd2\x16\x2f' >&3
          echo "pg-ssl-reply=$(head -c 1 <&3)"
          exec 3>&-
          exec 4<>/dev/tcp/127.0.0.1/46379
          printf 'PING\r\n' >&4
          read -r reply <&4
          echo "redis-reply=${reply%$'\r'}"
          exec 4>&-
          if command -v psql >/dev/null; then
            echo "host-psql=$(PGPASSWORD=pw psql -h localhost -p "$pg" -U postgres -tAc 'select 6 * 7')"
          else
            echo "host-psql=absent"
          fi
"#,
    );
    let run = repo.run(&[]);
    let text = run.text();
    assert_eq!(run.code(), Some(0), "{text}");
    for (job, line) in [
        ("test", "Service 'postgres' is healthy"),
        ("test", "Service 'redis' is healthy"),
        ("test", "answer=42"),
        ("test", "OK"),
        ("test", "got=hello-by-name"),
        ("test", "ports=[] id=true"),
        ("host", "redis-port=46379 pg-port-is-number=yes"),
        ("host", "pg-ssl-reply=N"),
        ("host", "redis-reply=+PONG"),
    ] {
        assert!(run.has_step_line(job, line), "[{job}] {line}: {text}");
    }
    let psql = if host_has_psql() {
        "host-psql=42"
    } else {
        "host-psql=absent"
    };
    assert!(run.has_step_line("host", psql), "{psql}: {text}");
    assert!(text.contains("[test] ✓ job success"), "{text}");
    assert!(text.contains("[host] ✓ job success"), "{text}");
    // The job container starts while the services become healthy, not after.
    let position = |needle: &str| text.find(needle).unwrap_or(usize::MAX);
    assert!(
        position("[test]   Started job container")
            < position("[test]   Service 'postgres' is healthy"),
        "{text}"
    );
    assert_eq!(repo.leftovers(&run), Vec::<String>::new());
}

/// A service that never becomes healthy fails its job before any step, with its health log; the
/// job container, already started by then, is removed with the rest.
#[test]
fn an_unhealthy_service_fails_a_container_job_and_leaves_nothing() {
    if !docker_ready(&[BUSYBOX]) {
        return;
    }
    let repo = Repo::new().workflow(
        r#"on: push
jobs:
  test:
    runs-on: ubuntu-latest
    container: gantry-test/busybox:latest
    services:
      db:
        image: gantry-test/busybox:latest
        options: >-
          --entrypoint sleep
          --health-cmd "echo db-is-sick; exit 1" --health-interval 200ms --health-retries 2
        command: "300"
    steps:
      - run: echo should-not-run
"#,
    );
    let run = repo.run(&[]);
    let text = run.text();
    assert_eq!(run.code(), Some(1), "{text}");
    assert!(text.contains("Started job container"), "{text}");
    assert!(
        text.contains("service 'db'") && text.contains("unhealthy"),
        "{text}"
    );
    assert!(text.contains("db-is-sick"), "{text}");
    assert!(!text.contains("]   should-not-run"), "{text}");
    assert_eq!(repo.leftovers(&run), Vec::<String>::new());
}

/// `-P ubuntu-latest=docker://IMAGE` runs a `runs-on: ubuntu-latest` job in that image, with
/// GitHub's container paths.
#[test]
fn a_platform_mapped_to_an_image_runs_the_job_in_it() {
    if !docker_ready(&[DEBIAN]) {
        return;
    }
    let repo = Repo::new().workflow(
        r#"on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          test -f /etc/debian_version && echo "debian=yes"
          echo "ws=$GITHUB_WORKSPACE pwd=$(pwd) ctx=${{ github.workspace }}"
          echo "home=$HOME temp=$RUNNER_TEMP"
"#,
    );
    let run = repo.run(&["-P", "ubuntu-latest=docker://gantry-test/debian:latest"]);
    let text = run.text();
    assert_eq!(run.code(), Some(0), "{text}");
    assert!(
        text.contains("Started job container") && text.contains("from gantry-test/debian:latest"),
        "{text}"
    );
    for line in [
        "debian=yes",
        "ws=/__w/shop/shop pwd=/__w/shop/shop ctx=/__w/shop/shop",
        "home=/github/home temp=/__w/_temp",
    ] {
        assert!(run.has_step_line("build", line), "{line}: {text}");
    }
    assert_eq!(repo.leftovers(&run), Vec::<String>::new());
}

/// A secret printed by a step in a container, whole or split across writes, shows as `***` on the
/// terminal and in everything saved under `.gantry/runs/`.
#[test]
fn secrets_are_masked_in_a_container_job() {
    if !docker_ready(&[BUSYBOX]) {
        return;
    }
    let secret = "tok-en-value-9317";
    let repo = Repo::new().workflow(
        r#"on: push
jobs:
  leak:
    runs-on: ubuntu-latest
    container: gantry-test/busybox:latest
    env:
      TOKEN: ${{ secrets.TOKEN }}
    steps:
      - run: echo "direct ${{ secrets.TOKEN }}"
      - run: |
          first=$(echo "$TOKEN" | cut -c1-6)
          rest=$(echo "$TOKEN" | cut -c7-)
          printf 'split %s' "$first"; sleep 0.3; printf '%s end\n' "$rest"
      - run: |
          echo "$TOKEN" > in-file.txt
          echo "from file $(cat in-file.txt)"
      - run: echo "::error::leaked $TOKEN in an annotation"
"#,
    );
    let run = repo.run(&["--secret", &format!("TOKEN={secret}")]);
    let text = run.text();
    // The last step's `::error::` annotation does not fail the job.
    assert_eq!(run.code(), Some(0), "{text}");
    for line in ["direct ***", "split *** end", "from file ***"] {
        assert!(run.has_step_line("leak", line), "{line}: {text}");
    }
    assert!(text.contains("leaked *** in an annotation"), "{text}");
    assert!(!text.contains(secret), "leaked to the terminal: {text}");
    // Pieces longer than a few characters never appear either (the split write).
    assert!(!text.contains("en-value-9317"), "{text}");
    let saved = repo.saved();
    assert!(
        saved.contains("split *** end"),
        "the logs were saved: {saved}"
    );
    assert!(!saved.contains(secret), "leaked to .gantry/runs: {saved}");
    assert!(!saved.contains("en-value-9317"), "{saved}");
    assert_eq!(repo.leftovers(&run), Vec::<String>::new());
}

/// An option Docker does not know in `services.<key>.options` stops the run with a message that
/// names it, and nothing runs or is left behind.
#[test]
fn an_unknown_service_option_is_named_and_nothing_runs() {
    if !docker_ready(&[REDIS]) {
        return;
    }
    let repo = Repo::new().workflow(
        r#"on: push
jobs:
  test:
    runs-on: ubuntu-latest
    services:
      cache:
        image: gantry-test/redis:latest
        options: --bogus-flag 1
    steps:
      - run: echo should-not-run
"#,
    );
    let run = repo.run(&[]);
    let text = run.text();
    assert!(
        matches!(run.code(), Some(code) if code != 0),
        "exit {:?}: {text}",
        run.code()
    );
    assert!(text.contains("--bogus-flag"), "{text}");
    assert!(text.contains("services.cache.options"), "{text}");
    assert!(!text.contains("]   should-not-run"), "{text}");
    assert_eq!(repo.leftovers(&run), Vec::<String>::new());
}
