//! End-to-end tests of `gantry serve`: the real binary on a free port with a temporary data
//! dir, `gantry repo add` on a bare repository, real `git push`es of commits and tags from a
//! clone, the API polled with a real HTTP client until the runs complete; `kill -9` of the
//! server mid-run and a push while it is down. On PostgreSQL too when
//! `GANTRY_TEST_POSTGRES_URL` is set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GANTRY_PUSHER", "alice")
        .output()
        .expect("git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A data dir, a database, a bare repository registered as acme/<name> and a clone of it.
struct Setup {
    _temp: tempfile::TempDir,
    data: PathBuf,
    database: Option<String>,
    clone: PathBuf,
    full_name: String,
}

impl Setup {
    fn new(database: Option<String>) -> Setup {
        let temp = tempfile::tempdir().expect("temp dir");
        let data = temp.path().join("data");
        let bare = temp.path().join("origin.git");
        let clone = temp.path().join("clone");
        git(
            temp.path(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );
        // A name of its own, so a shared PostgreSQL database keeps the cases apart.
        let name = format!(
            "demo{}{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let setup = Setup {
            data,
            database,
            clone,
            full_name: format!("acme/{name}"),
            _temp: temp,
        };
        let out = setup.gantry(&[
            "repo",
            "add",
            &setup.full_name,
            "--path",
            bare.to_str().unwrap(),
        ]);
        assert!(out.contains("registered"), "{out}");
        if let Some(database) = &setup.database {
            // The URL may hold a password: it stays in the data dir, not in the hook.
            let hook = std::fs::read_to_string(bare.join("hooks/post-receive")).expect("hook");
            assert!(!hook.contains(database.as_str()), "{hook}");
        }
        git(setup._temp.path(), &["clone", "-q", "origin.git", "clone"]);
        git(&setup.clone, &["checkout", "-q", "-b", "main"]);
        setup
    }

    fn store_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data".to_owned(),
            self.data.to_string_lossy().into_owned(),
        ];
        if let Some(database) = &self.database {
            args.push("--database".to_owned());
            args.push(database.clone());
        }
        args
    }

    fn gantry(&self, args: &[&str]) -> String {
        let output = Command::new(BIN)
            .args(args)
            .args(self.store_args())
            .output()
            .expect("run gantry");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "gantry {args:?}: {text}");
        text
    }

    fn token(&self, user: &str, role: &str) -> String {
        let output = Command::new(BIN)
            .args(["token", "create", "--user", user, "--role", role])
            .args(self.store_args())
            .output()
            .expect("run gantry");
        assert!(output.status.success(), "{output:?}");
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(token.len() > 20, "{token}");
        // The token is printed once, on stdout only.
        assert!(!String::from_utf8_lossy(&output.stderr).contains(&token));
        token
    }

    fn write(&self, path: &str, contents: &str) {
        let full = self.clone.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }

    fn commit_and_push(&self, message: &str) -> String {
        git(&self.clone, &["add", "-A"]);
        git(&self.clone, &["commit", "-q", "-m", message]);
        let out = git(&self.clone, &["push", "-q", "origin", "main"]);
        assert!(
            out.contains("queued"),
            "the hook did not queue the push: {out}"
        );
        git(&self.clone, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn start(&self) -> Server {
        let _ = std::fs::remove_file(self.data.join("server.addr"));
        let log = std::fs::File::create(self.data.join("server.log")).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(self.store_args())
            .env("GANTRY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start gantry serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = loop {
            if let Ok(text) = std::fs::read_to_string(self.data.join("server.addr")) {
                if !text.is_empty() {
                    break text.trim().to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Server {
            child,
            base: format!("http://{address}"),
        }
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// SIGKILL: nothing of the server runs after this.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    repo: String,
    token: String,
}

impl Api {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/api/v3/repos/{}{path}", self.base, self.repo))
            .header("Authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .expect("request")
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.expect("json")
    }

    /// Polls the runs until `count` exist and all are completed.
    async fn wait_completed(&self, count: usize, setup: &Setup) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let list = self.json("/actions/runs?per_page=100").await;
            let runs = list["workflow_runs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if runs.len() >= count && runs.iter().all(|run| run["status"] == "completed") {
                assert_eq!(runs.len(), count, "{runs:#?}");
                assert_eq!(list["total_count"], count);
                return runs;
            }
            assert!(
                Instant::now() < deadline,
                "runs did not complete: {runs:#?}\n{}",
                setup.server_log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

const CI: &str = r#"name: CI
on:
  push:
  workflow_dispatch:
    inputs:
      greeting:
        default: hello
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Greet
        run: echo "${{ inputs.greeting || 'hello' }} from ${{ github.ref_name }} by ${{ github.actor }}"
      - name: Repository
        run: echo "repo=${{ github.repository }} event=${{ github.event_name }}"
"#;

const BAD: &str = "name: Bad\non: push\njobs:\n  broken:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope( }}\n";

async fn push_runs_and_api(database: Option<String>) {
    let setup = Setup::new(database);
    let developer = setup.token("dev", "developer");
    let viewer = setup.token("view", "viewer");
    let server = setup.start();
    let http = reqwest::Client::new();
    let api = Api {
        http: http.clone(),
        base: server.base.clone(),
        repo: setup.full_name.clone(),
        token: developer.clone(),
    };

    let health: Value = http
        .get(format!("{}/api/gantry/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    setup.write(".github/workflows/ci.yml", CI);
    setup.write(".github/workflows/bad.yml", BAD);
    let sha = setup.commit_and_push("first commit");
    git(&setup.clone, &["tag", "v1"]);
    git(&setup.clone, &["push", "-q", "origin", "v1"]);

    // Two pushes × (CI + the invalid file).
    let runs = api.wait_completed(4, &setup).await;
    let ci: Vec<&Value> = runs.iter().filter(|run| run["name"] == "CI").collect();
    assert_eq!(ci.len(), 2, "{runs:#?}");
    for run in &ci {
        assert_eq!(
            run["conclusion"],
            "success",
            "{run:#}\n{}",
            setup.server_log()
        );
        assert_eq!(run["event"], "push");
        assert_eq!(run["head_sha"], sha.as_str());
        assert_eq!(run["path"], ".github/workflows/ci.yml");
        assert_eq!(run["actor"]["login"], "alice");
        assert_eq!(run["display_title"], "first commit");
    }
    let mut branches: Vec<&str> = ci
        .iter()
        .map(|r| r["head_branch"].as_str().unwrap())
        .collect();
    branches.sort();
    assert_eq!(branches, ["main", "v1"]);
    let mut numbers: Vec<i64> = ci
        .iter()
        .map(|r| r["run_number"].as_i64().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2]);

    // The invalid workflow file: failed runs carrying file:line:column diagnostics.
    let bad = runs
        .iter()
        .find(|run| run["path"] == ".github/workflows/bad.yml")
        .unwrap();
    assert_eq!(bad["conclusion"], "failure");
    let bad_run = api.json(&format!("/actions/runs/{}", bad["id"])).await;
    let diagnostic = &bad_run["diagnostics"][0];
    assert_eq!(
        diagnostic["path"], ".github/workflows/bad.yml",
        "{bad_run:#}"
    );
    assert_eq!(diagnostic["line"], 7, "{bad_run:#}");
    assert!(diagnostic["column"].as_u64().unwrap() > 0);

    // Jobs and steps of the tag's run, and the job's log.
    let tag_run = ci.iter().find(|r| r["head_branch"] == "v1").unwrap();
    let one = api.json(&format!("/actions/runs/{}", tag_run["id"])).await;
    assert_eq!(one["id"], tag_run["id"]);
    assert_eq!(one["head_commit"]["message"], "first commit");
    let jobs = api
        .json(&format!("/actions/runs/{}/jobs", tag_run["id"]))
        .await;
    assert_eq!(jobs["total_count"], 1, "{jobs:#}");
    let job = &jobs["jobs"][0];
    assert_eq!(job["name"], "build");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["conclusion"], "success");
    assert_eq!(job["run_id"], tag_run["id"]);
    let steps = job["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"Greet") && names.contains(&"Repository"),
        "{names:?}"
    );
    assert!(
        steps.iter().all(|s| s["conclusion"] == "success"),
        "{steps:#?}"
    );
    let log = api.get(&format!("/actions/jobs/{}/logs", job["id"])).await;
    assert_eq!(log.status(), 200);
    let log = log.text().await.unwrap();
    assert!(log.contains("hello from v1 by alice"), "{log}");
    assert!(
        log.contains(&format!("repo={} event=push", setup.full_name)),
        "{log}"
    );
    // Each line starts with its time, as GitHub's job logs do.
    let first = log.lines().next().unwrap();
    assert!(
        first.len() > 28 && &first[4..5] == "-" && &first[27..28] == "Z",
        "{first}"
    );

    // The run's logs as a zip of per-job text files.
    let zip = api
        .get(&format!("/actions/runs/{}/logs", tag_run["id"]))
        .await;
    assert_eq!(zip.status(), 200);
    let bytes = zip.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(archive.len(), 1);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_index(0).unwrap(), &mut text).unwrap();
    assert!(text.contains("hello from v1 by alice"), "{text}");

    // The same lines as server-sent events, ending once the run is completed; resumed after
    // the second line with Last-Event-ID, the stream starts at the third.
    let stream_url = format!(
        "{}/api/gantry/runs/{}/logs/stream",
        server.base, tag_run["id"]
    );
    let events = http
        .get(&stream_url)
        .bearer_auth(&developer)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let events = events.text().await.unwrap();
    assert!(
        events.contains("event: log") && events.contains("hello from v1 by alice"),
        "{events}"
    );
    assert!(events.trim_end().ends_with("data: {}"), "{events}");
    let second_id = events
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .nth(1)
        .unwrap()
        .to_owned();
    let resumed = http
        .get(&stream_url)
        .bearer_auth(&developer)
        .header("Last-Event-ID", &second_id)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("data: {\"job_id\""))
            .count()
    };
    assert_eq!(lines(&resumed), lines(&events) - 2, "{resumed}");
    assert!(resumed.contains("\"line\":3"), "{resumed}");

    // Prometheus metrics: the two CI runs that ran (invalid files never start).
    let metrics = http
        .get(format!("{}/metrics", server.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("gantry_queue_depth 0\n"), "{metrics}");
    assert!(metrics.contains("gantry_jobs_running 0\n"), "{metrics}");
    assert!(
        metrics.contains("gantry_run_duration_seconds_count 2\n"),
        "{metrics}"
    );

    // Filters and pagination.
    let tags = api.json("/actions/runs?branch=v1").await;
    assert_eq!(tags["total_count"], 2);
    let failed = api.json("/actions/runs?status=failure").await;
    assert_eq!(failed["total_count"], 2);
    let by_actor = api.json("/actions/runs?actor=nobody").await;
    assert_eq!(by_actor["total_count"], 0);
    let page = api.get("/actions/runs?per_page=1&page=2").await;
    let link = page.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("rel=\"next\"") && link.contains("rel=\"prev\""),
        "{link}"
    );
    assert!(link.contains("per_page=1&page=3"), "{link}");
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["workflow_runs"].as_array().unwrap().len(), 1);

    let workflows = api.json("/actions/workflows").await;
    assert_eq!(workflows["total_count"], 2, "{workflows:#}");

    // Auth: no token → 401, a viewer cancelling → 403, a bad token → 401.
    let url = format!(
        "{}/api/v3/repos/{}/actions/runs",
        server.base, setup.full_name
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let bad_token = http
        .get(&url)
        .header("Authorization", "token nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 401);
    let cancel = format!("{url}/{}/cancel", tag_run["id"]);
    let as_viewer = http
        .post(&cancel)
        .header("Authorization", format!("token {viewer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(as_viewer.status(), 403);
    let as_developer = http
        .post(&cancel)
        .header("Authorization", format!("Bearer {developer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_developer.status(),
        409,
        "a completed run cannot be cancelled"
    );

    // Unknown repository, malformed JSON, a body over the limit.
    let unknown = http
        .get(format!(
            "{}/api/v3/repos/acme/unknown/actions/runs",
            server.base
        ))
        .header("Authorization", format!("Bearer {developer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["message"], "Not Found");
    let dispatch = format!(
        "{}/api/v3/repos/{}/actions/workflows/ci.yml/dispatches",
        server.base, setup.full_name
    );
    let malformed = http
        .post(&dispatch)
        .header("Authorization", format!("Bearer {developer}"))
        .header("Content-Type", "application/json")
        .body("{\"ref\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let huge = http
        .post(&dispatch)
        .header("Authorization", format!("Bearer {developer}"))
        .header("Content-Type", "application/json")
        // Just over the 1 MiB limit: the server answers from Content-Length without reading
        // the body, and a body this size is already in the socket's buffer by then.
        .body(format!(
            "{{\"ref\": \"{}\"}}",
            "x".repeat(1024 * 1024 + 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);

    // workflow_dispatch with an input, by file name.
    let dispatched = http
        .post(&dispatch)
        .header("Authorization", format!("Bearer {developer}"))
        .json(&serde_json::json!({ "ref": "main", "inputs": { "greeting": "howdy" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(dispatched.status(), 204);
    let runs = api.wait_completed(5, &setup).await;
    let run = runs
        .iter()
        .find(|r| r["event"] == "workflow_dispatch")
        .unwrap();
    assert_eq!(run["conclusion"], "success", "{run:#}");
    assert_eq!(run["actor"]["login"], "dev");
    let jobs = api.json(&format!("/actions/runs/{}/jobs", run["id"])).await;
    let log = api
        .get(&format!("/actions/jobs/{}/logs", jobs["jobs"][0]["id"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(log.contains("howdy from main by dev"), "{log}");

    // Re-run of the tag's run: the next attempt of the same run, on the same commit and ref.
    let rerun = http
        .post(format!("{url}/{}/rerun", tag_run["id"]))
        .bearer_auth(&developer)
        .send()
        .await
        .unwrap();
    assert_eq!(rerun.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(120);
    let again = loop {
        let run = api.json(&format!("/actions/runs/{}", tag_run["id"])).await;
        if run["run_attempt"] == 2 && run["status"] == "completed" {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "the re-run did not complete: {run:#}\n{}",
            setup.server_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        again["conclusion"],
        "success",
        "{again:#}\n{}",
        setup.server_log()
    );
    assert_eq!(again["run_number"], tag_run["run_number"]);
    let jobs = api
        .json(&format!("/actions/runs/{}/jobs", tag_run["id"]))
        .await;
    assert_eq!(jobs["jobs"][0]["run_attempt"], 2, "{jobs:#}");
    let log = api
        .get(&format!("/actions/jobs/{}/logs", jobs["jobs"][0]["id"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(log.contains("hello from v1 by alice"), "{log}");
    let total = api.json("/actions/runs").await;
    assert_eq!(total["total_count"], 5, "a re-run is no new run");

    // The CLI client against the same server.
    let client = |args: &[&str], token: &str| {
        let output = Command::new(BIN)
            .arg("runs")
            .args(args)
            .env("GANTRY_SERVER", &server.base)
            .env("GANTRY_REPO", &setup.full_name)
            .env("GANTRY_TOKEN", token)
            .output()
            .expect("gantry runs");
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let (ok, listed) = client(&["list", "--branch", "v1"], &viewer);
    assert!(ok, "{listed}");
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.contains(&format!(
            "success\tfirst commit\tCI\tv1\tpush\t{}",
            tag_run["id"]
        )),
        "{listed}"
    );
    let id = tag_run["id"].to_string();
    let (ok, viewed) = client(&["view", &id, "--log"], &viewer);
    assert!(ok, "{viewed}");
    assert!(viewed.contains("JOB build (success"), "{viewed}");
    assert!(
        viewed.contains("build\t") && viewed.contains("hello from v1 by alice"),
        "{viewed}"
    );
    let (ok, refused) = client(&["rerun", &id], &viewer);
    assert!(!ok && refused.contains("403"), "{refused}");
    let bad_id = bad["id"].to_string();
    let (ok, invalid) = client(&["view", &bad_id], &viewer);
    assert!(ok, "{invalid}");
    assert!(
        invalid.contains(".github/workflows/bad.yml:7:"),
        "{invalid}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn push_runs_and_api_sqlite() {
    push_runs_and_api(None).await;
}

/// A database of its own on the server of `admin_url`, so a schema left by an older build in
/// the shared one does not matter; dropped at the end.
async fn with_fresh_database(admin_url: &str) {
    use sqlx::Connection;
    let name = format!(
        "gantry_serve_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("reach PostgreSQL");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("the URL names a database");
    push_runs_and_api(Some(format!("{base}/{name}"))).await;
    sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
}

#[tokio::test(flavor = "multi_thread")]
async fn push_runs_and_api_postgres() {
    match std::env::var("GANTRY_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => with_fresh_database(&url).await,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("GANTRY_TEST_POSTGRES_URL is not set under CI=true (scripts/postgres-setup starts PostgreSQL)")
        }
        _ => eprintln!("skipped: GANTRY_TEST_POSTGRES_URL is not set (scripts/postgres-setup starts PostgreSQL)"),
    }
}

/// The slow step writes the pid of its `sleep` to `PIDFILE` (replaced by the test).
const SLOW: &str = r#"name: Slow
on: push
jobs:
  work:
    runs-on: ubuntu-latest
    steps:
      - name: Maybe wait
        run: |
          if [ -f slow ]; then sleep 30 & echo $! > "PIDFILE"; fi
          echo started
          wait
          echo finished
"#;

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_run_and_push_while_down() {
    let setup = Setup::new(None);
    let token = setup.token("dev", "developer");
    let mut server = setup.start();
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        repo: setup.full_name.clone(),
        token,
    };
    let pidfile = setup.data.with_file_name("sleep.pid");
    setup.write(
        ".github/workflows/slow.yml",
        &SLOW.replace("PIDFILE", pidfile.to_str().unwrap()),
    );
    setup.write("slow", "");
    setup.commit_and_push("slow commit");

    // Wait until the step runs and its first line is stored.
    let deadline = Instant::now() + Duration::from_secs(120);
    let first = loop {
        let list = api.json("/actions/runs").await;
        if let Some(run) = list["workflow_runs"]
            .as_array()
            .and_then(|r| r.first())
            .cloned()
        {
            let jobs = api.json(&format!("/actions/runs/{}/jobs", run["id"])).await;
            if let Some(job) = jobs["jobs"].as_array().and_then(|j| j.first()) {
                let log = api.get(&format!("/actions/jobs/{}/logs", job["id"])).await;
                if log.status() == 200 && log.text().await.unwrap().contains("started") {
                    break run;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the run did not start: {}",
            setup.server_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(first["status"], "in_progress");
    // The running run is noted with the id its steps' processes carry, for the next start.
    let note = setup.data.join("running").join(first["id"].to_string());
    assert!(!std::fs::read_to_string(&note).unwrap().trim().is_empty());
    server.kill();

    // A push while the server is down is kept in the outbox.
    std::fs::remove_file(setup.clone.join("slow")).unwrap();
    let second_sha = setup.commit_and_push("fast commit");

    // The step's process outlived the killed server; the next one kills it as it starts.
    let sleep_pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    assert!(Path::new(&format!("/proc/{sleep_pid}")).exists());
    let server = setup.start();
    let api = Api {
        base: server.base.clone(),
        ..api
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{sleep_pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        assert!(
            Instant::now() < deadline,
            "the step's process {sleep_pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !note.exists(),
        "the note goes once its processes are killed"
    );
    let runs = api.wait_completed(2, &setup).await;
    let stopped = runs.iter().find(|r| r["id"] == first["id"]).unwrap();
    assert_eq!(stopped["conclusion"], "failure");
    assert_eq!(stopped["conclusion_reason"], "the server stopped");
    let jobs = api
        .json(&format!("/actions/runs/{}/jobs", first["id"]))
        .await;
    assert_eq!(jobs["total_count"], 1, "nothing duplicated: {jobs:#}");
    assert_eq!(jobs["jobs"][0]["conclusion"], "failure");
    // The lines written before the kill are still there.
    let log = api
        .get(&format!("/actions/jobs/{}/logs", jobs["jobs"][0]["id"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(log.contains("started"), "{log}");
    let after = runs
        .iter()
        .find(|r| r["head_sha"] == second_sha.as_str())
        .unwrap();
    assert_eq!(
        after["conclusion"],
        "success",
        "{after:#}\n{}",
        setup.server_log()
    );
    assert_eq!(after["run_number"], 2);
}

const LONG: &str = r#"name: Long
on: push
jobs:
  wait:
    runs-on: ubuntu-latest
    steps:
      - name: Wait
        run: |
          echo waiting
          sleep 60
      - name: Cleanup
        if: always()
        run: echo cleaned up
"#;

#[tokio::test(flavor = "multi_thread")]
async fn cancel_a_running_run() {
    let setup = Setup::new(None);
    let token = setup.token("dev", "developer");
    let server = setup.start();
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        repo: setup.full_name.clone(),
        token: token.clone(),
    };
    setup.write(".github/workflows/long.yml", LONG);
    setup.commit_and_push("long commit");
    let deadline = Instant::now() + Duration::from_secs(120);
    let (run, job) = loop {
        let list = api.json("/actions/runs").await;
        if let Some(run) = list["workflow_runs"]
            .as_array()
            .and_then(|r| r.first())
            .cloned()
        {
            let jobs = api.json(&format!("/actions/runs/{}/jobs", run["id"])).await;
            if let Some(job) = jobs["jobs"].as_array().and_then(|j| j.first()).cloned() {
                let log = api.get(&format!("/actions/jobs/{}/logs", job["id"])).await;
                if log.status() == 200 && log.text().await.unwrap().contains("waiting") {
                    break (run, job);
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the run did not start: {}",
            setup.server_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let started = Instant::now();
    let cancel = api
        .http
        .post(format!(
            "{}/api/v3/repos/{}/actions/runs/{}/cancel",
            server.base, setup.full_name, run["id"]
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 202);
    let runs = api.wait_completed(1, &setup).await;
    assert!(
        started.elapsed() < Duration::from_secs(55),
        "the step was not stopped"
    );
    assert_eq!(runs[0]["conclusion"], "cancelled", "{:#}", runs[0]);
    let jobs = api.json(&format!("/actions/runs/{}/jobs", run["id"])).await;
    assert_eq!(jobs["jobs"][0]["conclusion"], "cancelled", "{jobs:#}");
    // always() steps run after a cancel, as on GitHub.
    let log = api
        .get(&format!("/actions/jobs/{}/logs", job["id"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(log.contains("cleaned up"), "{log}");
}

/// A newcomer types `gantry serve` and nothing else: the data dir `.gantry-server` and its
/// SQLite database appear in the current directory and the server answers on 127.0.0.1:8080
/// (or says why it cannot listen there, when another server holds the port).
#[tokio::test(flavor = "multi_thread")]
async fn serve_without_flags() {
    let temp = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(temp.path().join("serve.log")).unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(temp.path())
        .env_remove("GANTRY_DATA")
        .env_remove("GANTRY_DATABASE")
        .stderr(log)
        .spawn()
        .unwrap();
    let data = temp.path().join(".gantry-server");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if data.join("server.addr").exists() {
            let address = std::fs::read_to_string(data.join("server.addr")).unwrap();
            assert_eq!(address.trim(), "127.0.0.1:8080");
            let health: Value =
                reqwest::get(format!("http://{}/api/gantry/health", address.trim()))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
            assert_eq!(health["database"], "sqlite");
            assert!(data.join("gantry.db").exists());
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            // Port 8080 taken on this machine: the error must say so.
            let log = std::fs::read_to_string(temp.path().join("serve.log")).unwrap();
            assert!(!status.success());
            assert!(log.contains("listening on 127.0.0.1:8080"), "{log}");
            assert!(data.join("gantry.db").exists());
            return;
        }
        assert!(Instant::now() < deadline, "gantry serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Changes made from the command line are audited like the API's: who (the local user, marked
/// `cli:`), what and on what; the token's secret never.
#[tokio::test(flavor = "multi_thread")]
async fn cli_changes_are_audited() {
    let setup = Setup::new(None);
    let token = setup.token("dev", "developer");
    let store = gantry_store::Store::open(setup.data.join("gantry.db").to_str().unwrap())
        .await
        .unwrap();
    let events = store.audit_events(None, 100).await.unwrap();
    let added = events
        .iter()
        .find(|e| e.action == "repository.add")
        .unwrap();
    assert_eq!(added.target, setup.full_name);
    assert!(added.actor.starts_with("cli:"), "{added:?}");
    let created = events.iter().find(|e| e.action == "token.create").unwrap();
    assert_eq!(created.target, "dev");
    assert!(created.details.contains("developer"), "{created:?}");
    assert!(events.iter().all(|e| !e.details.contains(&token)));
    store.close().await;
}
