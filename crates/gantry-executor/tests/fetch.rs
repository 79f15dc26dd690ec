//! Remote actions fetched from a real git server: a `git daemon` on loopback serving bare
//! repositories made here, with tags (annotated and not), branches, full SHAs, a ref that does not
//! exist, a server that never answers, nested composite actions and offline runs.

mod support;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use gantry_executor::fetch::{ActionFetcher, ActionSource, FetchError};
use support::*;

/// A `git daemon` serving `<base>/<owner>/<repo>.git`, killed on drop.
struct GitServer {
    base: tempfile::TempDir,
    port: u16,
    daemon: Child,
}

impl GitServer {
    fn start() -> GitServer {
        let base = tempfile::tempdir().unwrap();
        let port = free_port();
        let daemon = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.path().display()),
                &base.path().display().to_string(),
            ])
            // Its own process group: `git daemon` runs `git-daemon` as a child, and both must go
            // (a survivor would also hold the test runner's output pipe open).
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        GitServer { base, port, daemon }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}", self.port)
    }

    /// A working repository whose pushes go to the served `owner/repo`.
    fn repo(&self, owner: &str, repo: &str, files: &[(&str, &str)]) -> PathBuf {
        let bare = self.base.path().join(owner).join(format!("{repo}.git"));
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare"]);
        let work = self.base.path().join("work").join(owner).join(repo);
        write_files(&work, files);
        git(&work, &["init", "-q"]);
        git(
            &work,
            &["remote", "add", "origin", &bare.display().to_string()],
        );
        commit_and_push(&work, "first");
        work
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        // The whole group: the daemon and the connections it forked.
        if let Ok(pgid) = i32::try_from(self.daemon.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// Commits everything and pushes `main`; returns the new commit.
fn commit_and_push(work: &Path, message: &str) -> String {
    git(work, &["add", "."]);
    git(work, &["commit", "-qm", message]);
    git(work, &["push", "-q", "origin", "main"]);
    git(work, &["rev-parse", "HEAD"])
}

fn composite(message: &str) -> String {
    format!(
        "name: hello\ninputs:\n  who:\n    default: world\nruns:\n  using: composite\n  steps:\n    - run: echo \"{message} ${{{{ inputs.who }}}}\"\n      shell: bash\n"
    )
}

fn uses_step(action: &str) -> gantry_plan::StepSpec {
    uses(action, &[("who", "gantry")])
}

#[tokio::test]
async fn tags_branches_and_shas_are_fetched_and_logged_with_their_commit() {
    let server = GitServer::start();
    let work = server.repo(
        "octo",
        "hello",
        &[("action.yml", &composite("v1 says hello"))],
    );
    let v1 = git(&work, &["rev-parse", "HEAD"]);
    git(&work, &["tag", "-a", "v1", "-m", "release v1"]);
    git(&work, &["tag", "v1-light"]);
    git(&work, &["push", "-q", "origin", "v1", "v1-light"]);
    write_files(&work, &[("action.yml", &composite("main says hello"))]);
    let main = commit_and_push(&work, "second");

    let h = Harness::fetching_from(&server.url(), Duration::from_secs(30));
    let out = h
        .run(spec(vec![
            uses_step("octo/hello@v1"),
            uses_step("octo/hello@v1-light"),
            uses_step("octo/hello@main"),
            uses_step(&format!("octo/hello@{main}")),
            uses_step(&format!("octo/hello@{v1}")),
        ]))
        .await;
    let logs = out.logs();
    assert_eq!(out.result.conclusion, S, "{logs:#?}");
    for (step, expected) in [
        ("v1", &v1),
        ("v1-light", &v1),
        ("main", &main),
        (main.as_str(), &main),
    ] {
        assert!(
            out.has_line(&format!(
                "Download action repository 'octo/hello@{step}' (SHA:{expected})"
            )),
            "{step}: {logs:#?}"
        );
    }
    assert_eq!(
        logs.iter().filter(|l| *l == "v1 says hello gantry").count(),
        3,
        "{logs:#?}"
    );
    assert_eq!(
        logs.iter()
            .filter(|l| *l == "main says hello gantry")
            .count(),
        2,
        "{logs:#?}"
    );
    // One tree per commit, complete, without .git and without temporary leftovers.
    let cached = h.path("actions/octo/hello");
    let mut entries: Vec<String> = std::fs::read_dir(&cached)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    let mut expected = vec![".refs".to_owned(), v1.clone(), main.clone()];
    expected.sort();
    assert_eq!(entries, expected);
    assert!(cached.join(&v1).join("action.yml").is_file());
    assert!(!cached.join(&v1).join(".git").exists());
}

#[tokio::test]
async fn a_missing_ref_and_a_short_sha_fail_the_step_with_a_clear_message() {
    let server = GitServer::start();
    let work = server.repo("octo", "hello", &[("action.yml", &composite("hi"))]);
    let sha = git(&work, &["rev-parse", "HEAD"]);
    let h = Harness::fetching_from(&server.url(), Duration::from_secs(30));
    let out = h
        .run(spec(vec![
            uses_step("octo/hello@v9"),
            step("echo not reached"),
        ]))
        .await;
    assert_eq!(out.result.conclusion, F);
    let text = out.all_text();
    assert!(
        text.contains(&format!(
            "Unable to resolve action 'octo/hello@v9': the repository {}/octo/hello has no tag or branch 'v9'",
            server.url()
        )),
        "{text}"
    );
    assert!(!out.has_line("not reached"));

    let out = h
        .run(spec(vec![uses_step(&format!("octo/hello@{}", &sha[..8]))]))
        .await;
    assert_eq!(out.result.conclusion, F);
    assert!(
        out.all_text().contains("is a short commit SHA"),
        "{}",
        out.all_text()
    );

    let out = h.run(spec(vec![uses_step("octo/nothing-here@v1")])).await;
    assert_eq!(out.result.conclusion, F);
    assert!(
        out.all_text()
            .contains("Unable to resolve action 'octo/nothing-here@v1'"),
        "{}",
        out.all_text()
    );
}

#[tokio::test]
async fn a_server_that_never_answers_fails_the_step_within_the_time_limit() {
    // Accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let h = Harness::fetching_from(&format!("git://127.0.0.1:{port}"), Duration::from_secs(2));
    let started = Instant::now();
    let out = h
        .run(spec(vec![
            uses_step("octo/hello@v1"),
            uses_step("octo/hello@v1"),
        ]))
        .await;
    assert_eq!(out.result.conclusion, F);
    assert!(
        out.all_text().contains("took longer than 2s"),
        "{}",
        out.all_text()
    );
    // Asked once per run, not once per step (the second step is skipped after the failure, and the
    // pre-step lookup at job start shares the answer with the step).
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(silent);

    // Nothing listens at all: a connection error, at once.
    let closed = free_port();
    let h = Harness::fetching_from(
        &format!("git://127.0.0.1:{closed}"),
        Duration::from_secs(30),
    );
    let out = h.run(spec(vec![uses_step("octo/hello@v1")])).await;
    assert_eq!(out.result.conclusion, F);
    assert!(
        out.all_text().contains(&format!(
            "looking up refs of git://127.0.0.1:{closed}/octo/hello failed"
        )),
        "{}",
        out.all_text()
    );
}

#[tokio::test]
async fn composite_actions_fetch_the_actions_they_use_and_pull_prepares_offline_runs() {
    let server = GitServer::start();
    server.repo("octo", "hello", &[("action.yml", &composite("inner"))]);
    let hello = server.base.path().join("work/octo/hello");
    git(&hello, &["tag", "v1"]);
    git(&hello, &["push", "-q", "origin", "v1"]);
    let outer = server.repo(
        "octo",
        "outer",
        &[(
            "greet/action.yml",
            "name: outer\nruns:\n  using: composite\n  steps:\n    - uses: octo/hello@v1\n      with:\n        who: nested\n    - run: echo outer done\n      shell: bash\n",
        )],
    );
    git(&outer, &["tag", "v2"]);
    git(&outer, &["push", "-q", "origin", "v2"]);

    let cache = tempfile::tempdir().unwrap();
    let online = ActionFetcher::new(
        cache.path(),
        ActionSource {
            base_url: server.url(),
            offline: false,
            timeout: Duration::from_secs(30),
        },
    );
    let pulled = online
        .pull(vec![
            "octo/outer/greet@v2".to_owned(),
            "./local".to_owned(),
            "docker://busybox".to_owned(),
            "actions/checkout@v4".to_owned(),
        ])
        .await;
    let names: Vec<(&str, bool)> = pulled
        .iter()
        .map(|p| (p.uses.as_str(), p.result.is_ok()))
        .collect();
    assert_eq!(
        names,
        vec![("octo/outer/greet@v2", true), ("octo/hello@v1", true)]
    );
    drop(server);

    // The server is gone: an offline fetcher finds both by their refs.
    let offline = ActionFetcher::new(
        cache.path(),
        ActionSource {
            offline: true,
            ..Default::default()
        },
    );
    assert!(offline.fetch("octo", "hello", "v1").await.is_ok());
    assert!(matches!(
        offline.fetch("octo", "hello", "v7").await,
        Err(FetchError::Offline { .. })
    ));

    // And a job runs the nested composite actions from the cache, offline.
    let h = Harness::new();
    std::fs::remove_dir_all(h.path("actions")).ok();
    copy_dir(cache.path(), &h.path("actions"));
    let out = h.run(spec(vec![uses("octo/outer/greet@v2", &[])])).await;
    assert_eq!(out.result.conclusion, S, "{:#?}", out.logs());
    assert!(out.has_line("inner nested"), "{:#?}", out.logs());
    assert!(out.has_line("outer done"), "{:#?}", out.logs());
}

#[tokio::test]
async fn credentials_in_the_base_url_never_show_in_errors() {
    let closed = free_port();
    let h = Harness::fetching_from(
        &format!("http://robot:hunter2-token@127.0.0.1:{closed}"),
        Duration::from_secs(30),
    );
    let out = h.run(spec(vec![uses_step("octo/hello@v1")])).await;
    assert_eq!(out.result.conclusion, F);
    let text = out.all_text();
    assert!(
        !text.contains("hunter2") && !text.contains("robot"),
        "{text}"
    );
    assert!(text.contains("http://***@127.0.0.1"), "{text}");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let target = to.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &target).unwrap();
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
