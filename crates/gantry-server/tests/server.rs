//! The server in-process on a free port with a temporary data dir and SQLite store: roles and
//! their audit trail, anonymous read, the outbox entry a dispatch writes, hook lines queued by
//! `hook::enqueue_push`, and `Server::bind` settling runs a killed server left unfinished.
//! The push-to-run path end to end is in the binary's `tests/serve.rs`.

use std::net::SocketAddr;

use gantry_server::{Server, ServerConfig};
use gantry_store::{Conclusion, NewJob, NewRepository, NewRun, Role, Status, Store, WorkflowState};

struct Running {
    _temp: tempfile::TempDir,
    store: Store,
    base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(anonymous_read: bool, prepare: impl AsyncFnOnce(&Store)) -> Running {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let store = gantry_server::open_store(&data_dir, None).await.unwrap();
        store
            .add_repository(&NewRepository {
                owner: "acme".into(),
                name: "demo".into(),
                path: Some(temp.path().join("nowhere").to_string_lossy().into_owned()),
                clone_url: None,
                default_branch: "main".into(),
                webhook_secret_ref: None,
            })
            .await
            .unwrap();
        prepare(&store).await;
        let server = Server::bind(ServerConfig {
            listen: "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
            data_dir,
            database: None,
            anonymous_read,
        })
        .await
        .unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let (send, receive) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(async move {
                    let _ = receive.await;
                })
                .await
                .unwrap();
        });
        Running {
            _temp: temp,
            store,
            base,
            shutdown: Some(send),
            task,
        }
    }

    async fn token(&self, login: &str, role: Role) -> String {
        let user = self.store.create_user(login, role).await.unwrap();
        let issued = self
            .store
            .create_token(user.id, "test", role, None)
            .await
            .unwrap();
        issued.secret().to_owned()
    }

    async fn stop(mut self) {
        if let Some(send) = self.shutdown.take() {
            let _ = send.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// A run left in progress by a "killed" server: one started job, one step running.
async fn leave_run_in_progress(store: &Store) {
    let repository = store.repository("acme", "demo").await.unwrap();
    let workflow = store
        .upsert_workflow(
            repository.id,
            ".github/workflows/ci.yml",
            "CI",
            WorkflowState::Active,
        )
        .await
        .unwrap();
    let run = store
        .create_run(&NewRun {
            workflow_id: workflow.id,
            event: "push".into(),
            git_ref: Some("refs/heads/main".into()),
            head_branch: Some("main".into()),
            head_sha: "a".repeat(40),
            actor: "alice".into(),
            display_title: "work".into(),
            payload: "{}".into(),
            diagnostics: None,
            created_at: gantry_store::now_ms(),
            trigger: None,
        })
        .await
        .unwrap();
    let attempt = store.attempt(run.id, None).await.unwrap();
    let jobs = store
        .add_jobs(
            attempt.id,
            &[NewJob {
                job_key: "build".into(),
                name: "build".into(),
                matrix: None,
                status: Status::Queued,
                environment: None,
            }],
        )
        .await
        .unwrap();
    store.claim_job("old-server").await.unwrap().unwrap();
    store.start_job(jobs[0].id).await.unwrap();
    store.start_step(jobs[0].id, 1, "Build").await.unwrap();
    // A second run the dead server had created but not started (no jobs yet).
    store
        .create_run(&NewRun {
            workflow_id: workflow.id,
            event: "push".into(),
            git_ref: Some("refs/heads/main".into()),
            head_branch: Some("main".into()),
            head_sha: "b".repeat(40),
            actor: "alice".into(),
            display_title: "never started".into(),
            payload: "{}".into(),
            diagnostics: None,
            created_at: gantry_store::now_ms(),
            trigger: None,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_enforced_and_audited() {
    let running = Running::start(false, async |_| {}).await;
    let viewer = running.token("vera", Role::Viewer).await;
    let developer = running.token("dev", Role::Developer).await;
    let http = reqwest::Client::new();
    let runs = format!("{}/api/v3/repos/acme/demo/actions/runs", running.base);

    assert_eq!(http.get(&runs).send().await.unwrap().status(), 401);
    let listed = http.get(&runs).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let listed: serde_json::Value = listed.json().await.unwrap();
    assert_eq!(listed["total_count"], 0);
    assert_eq!(listed["workflow_runs"], serde_json::json!([]));

    // A viewer may not dispatch: 403, audited with who, what and from where.
    let dispatch = format!(
        "{}/api/v3/repos/acme/demo/actions/workflows/ci.yml/dispatches",
        running.base
    );
    let refused = http
        .post(&dispatch)
        .header("Authorization", format!("token {viewer}"))
        .json(&serde_json::json!({ "ref": "main" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["message"], "must have write access");

    // A developer may: 204, the outbox has the entry, and the request is audited.
    let accepted = http
        .post(&dispatch)
        .bearer_auth(&developer)
        .json(&serde_json::json!({ "ref": "main", "inputs": { "greeting": "hi" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 204);

    let events = running.store.audit_events(None, 100).await.unwrap();
    let denied = events
        .iter()
        .find(|e| e.action == "denied:workflow.dispatch")
        .expect("the refusal is audited");
    assert_eq!(denied.actor, "vera");
    assert_eq!(denied.remote_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(denied.target, "acme/demo/actions/workflows/ci.yml");
    let done = events
        .iter()
        .find(|e| e.action == "workflow.dispatch")
        .expect("the dispatch is audited");
    assert_eq!(done.actor, "dev");
    // Inputs may hold anything; the audit keeps the ref and the workflow only.
    assert!(!done.details.contains("greeting"), "{}", done.details);
    // No token appears in the audit trail.
    assert!(events
        .iter()
        .all(|e| !e.details.contains(&developer) && !e.details.contains(&viewer)));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_read_when_enabled_never_write() {
    let running = Running::start(true, async |_| {}).await;
    let http = reqwest::Client::new();
    let runs = format!("{}/api/v3/repos/acme/demo/actions/runs", running.base);
    assert_eq!(http.get(&runs).send().await.unwrap().status(), 200);
    let dispatch = format!(
        "{}/api/v3/repos/acme/demo/actions/workflows/ci.yml/dispatches",
        running.base
    );
    let write = http
        .post(&dispatch)
        .json(&serde_json::json!({ "ref": "main" }))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 401);
    assert_eq!(running.store.pending_trigger_count().await.unwrap(), 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_settles_runs_a_killed_server_left() {
    let running = Running::start(false, async |store| leave_run_in_progress(store).await).await;
    let repository = running.store.repository("acme", "demo").await.unwrap();
    let list = running
        .store
        .list_runs(
            repository.id,
            &gantry_store::RunFilter::default(),
            gantry_store::Page::Offset {
                page: 1,
                per_page: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(list.runs.len(), 2);
    for run in &list.runs {
        assert_eq!(run.status, Status::Completed, "{run:?}");
        assert_eq!(run.conclusion, Some(Conclusion::Failure));
        assert_eq!(
            run.conclusion_reason.as_deref(),
            Some(gantry_server::STOPPED_REASON)
        );
        let attempt = running.store.attempt(run.id, None).await.unwrap();
        for job in running.store.list_jobs(attempt.id).await.unwrap() {
            assert_eq!(job.status, Status::Completed);
            for step in running.store.steps(job.id).await.unwrap() {
                assert_eq!(step.status, Status::Completed);
            }
        }
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hook_lines_become_outbox_entries() {
    let temp = tempfile::tempdir().unwrap();
    let store = gantry_server::open_store(temp.path(), None).await.unwrap();
    let repository = store
        .add_repository(&NewRepository {
            owner: "acme".into(),
            name: "demo".into(),
            path: Some("/nowhere".into()),
            clone_url: None,
            default_branch: "main".into(),
            webhook_secret_ref: None,
        })
        .await
        .unwrap();
    let zero = gantry_server::hook::ZERO_SHA;
    let sha = "c".repeat(40);
    let lines = format!(
        "{zero} {sha} refs/heads/main\n{zero} {sha} refs/tags/v1\n{zero} {sha} refs/notes/commits\n"
    );
    let updates = gantry_server::hook::parse_hook_lines(&lines, "alice").unwrap();
    let queued = gantry_server::hook::enqueue_push(&store, &repository, &updates)
        .await
        .unwrap();
    // Branches and tags are push events; other refs are not.
    assert_eq!(queued.len(), 2);
    assert_eq!(store.pending_trigger_count().await.unwrap(), 2);
    let first = store.claim_trigger("test").await.unwrap().unwrap();
    assert_eq!(first.event, "push");
    let payload: serde_json::Value = serde_json::from_str(&first.payload).unwrap();
    assert_eq!(payload["ref"], "refs/heads/main");
    assert_eq!(payload["after"], sha.as_str());
    assert_eq!(payload["pusher"], "alice");
    // No server runs: the poke says so and loses nothing.
    assert!(!gantry_server::hook::poke(temp.path()));
}

#[tokio::test]
async fn a_remembered_database_is_opened_and_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let url = elsewhere.path().join("other.db").display().to_string();
    gantry_server::remember_database(data.path(), &url).expect("remember");
    let mode = std::fs::metadata(data.path().join("database-url"))
        .expect("file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let store = gantry_server::open_store(data.path(), None)
        .await
        .expect("open");
    store.close().await;
    assert!(elsewhere.path().join("other.db").exists());
    assert!(!data.path().join("gantry.db").exists());
}
