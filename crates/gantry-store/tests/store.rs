//! The store's tests. Every function in `both!` runs twice, against SQLite (a temporary file)
//! and PostgreSQL (a fresh database on the server named by `GANTRY_TEST_POSTGRES_URL`, which
//! `scripts/postgres-setup` starts). Outside CI a missing PostgreSQL skips its half with a
//! printed reason; with `CI=true` it fails.

use gantry_store::*;
use sqlx::Connection;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

struct Db {
    store: Store,
    url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("gantry.db").display());
        let store = Store::open(&url).await.expect("open sqlite store");
        Db {
            store,
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh database on the test server, or `None` (skip) outside CI when there is none.
    async fn postgres(test: &str) -> Option<Db> {
        let ci = std::env::var("CI").is_ok_and(|value| value == "true");
        let skip = |reason: String| {
            assert!(!ci, "CI=true and {reason}: run scripts/postgres-setup");
            eprintln!("skipping the PostgreSQL half of {test}: {reason}");
        };
        let admin_url = match std::env::var("GANTRY_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                skip("GANTRY_TEST_POSTGRES_URL is not set".to_owned());
                return None;
            }
        };
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) => {
                skip(format!("PostgreSQL does not answer ({error})"));
                return None;
            }
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "gantry_t_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test
        );
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("the URL names a database");
        let url = format!("{base}/{name}");
        let store = Store::open(&url).await.expect("open postgres store");
        Some(Db {
            store,
            url,
            _dir: None,
            postgres: Some((admin_url, name)),
        })
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = self.postgres {
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("connect to drop the test database");
            sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .expect("drop test database");
        }
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::Db::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(db) = super::Db::postgres(stringify!($name)).await {
                        super::$name(&db).await;
                        db.finish().await;
                    }
                }
            )*
        }
    };
}

both! {
    migrations_apply_once,
    repositories_and_workflows,
    run_lifecycle_and_reruns,
    invalid_workflow_file_run,
    run_numbers_under_concurrent_inserts,
    claimers_never_share_a_job,
    list_runs_filters_and_pages,
    log_index_batches,
    summaries_and_artifacts,
    users_tokens_and_roles,
    audit_events_append,
    webhook_deliveries_and_outbox,
    concurrency_groups,
    schedule_bookkeeping,
    crash_recovery,
}

async fn repo(store: &Store) -> (Repository, Workflow) {
    let repository = store
        .add_repository(&NewRepository {
            owner: "acme".to_owned(),
            name: "app".to_owned(),
            path: Some("/srv/git/app.git".to_owned()),
            clone_url: None,
            default_branch: "main".to_owned(),
            webhook_secret_ref: Some("secrets/acme-app.hook".to_owned()),
        })
        .await
        .expect("add repository");
    let workflow = store
        .upsert_workflow(
            repository.id,
            ".github/workflows/ci.yml",
            "CI",
            WorkflowState::Active,
        )
        .await
        .expect("add workflow");
    (repository, workflow)
}

fn new_run(workflow: WorkflowId) -> NewRun {
    NewRun {
        workflow_id: workflow,
        event: "push".to_owned(),
        git_ref: Some("refs/heads/main".to_owned()),
        head_branch: Some("main".to_owned()),
        head_sha: "0123456789abcdef0123456789abcdef01234567".to_owned(),
        actor: "octocat".to_owned(),
        display_title: "Fix the build".to_owned(),
        payload: r#"{"ref":"refs/heads/main"}"#.to_owned(),
        diagnostics: None,
        created_at: now_ms(),
        trigger: None,
    }
}

fn new_job(key: &str) -> NewJob {
    NewJob {
        job_key: key.to_owned(),
        name: key.to_owned(),
        matrix: None,
        status: Status::Queued,
        environment: None,
    }
}

async fn migrations_apply_once(db: &Db) {
    assert_eq!(db.store.applied_migrations().await.unwrap(), vec![1]);
    let (_, workflow) = repo(&db.store).await;
    db.store.create_run(&new_run(workflow.id)).await.unwrap();
    // Opening again applies nothing and keeps the data.
    let again = Store::open(&db.url).await.expect("second open");
    assert_eq!(again.applied_migrations().await.unwrap(), vec![1]);
    let repository = again.repository("acme", "app").await.unwrap();
    let listed = again
        .list_runs(
            repository.id,
            &RunFilter::default(),
            Page::Offset {
                page: 1,
                per_page: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.total_count, 1);
    again.close().await;
}

async fn repositories_and_workflows(db: &Db) {
    let store = &db.store;
    let (repository, workflow) = repo(store).await;
    assert_eq!(repository.owner, "acme");
    assert_eq!(
        repository.webhook_secret_ref.as_deref(),
        Some("secrets/acme-app.hook")
    );
    let duplicate = store
        .add_repository(&NewRepository {
            owner: "acme".to_owned(),
            name: "app".to_owned(),
            path: None,
            clone_url: Some("https://example.com/acme/app.git".to_owned()),
            default_branch: "main".to_owned(),
            webhook_secret_ref: None,
        })
        .await;
    assert!(
        matches!(
            duplicate,
            Err(StoreError::AlreadyExists {
                what: "repository",
                ..
            })
        ),
        "{duplicate:?}"
    );
    let renamed = store
        .upsert_workflow(
            repository.id,
            ".github/workflows/ci.yml",
            "Build",
            WorkflowState::DisabledManually,
        )
        .await
        .unwrap();
    assert_eq!(renamed.id, workflow.id);
    assert_eq!(renamed.name, "Build");
    assert_eq!(renamed.state, WorkflowState::DisabledManually);
    store
        .upsert_workflow(
            repository.id,
            ".github/workflows/release.yml",
            "Release",
            WorkflowState::Active,
        )
        .await
        .unwrap();
    let workflows = store.list_workflows(repository.id).await.unwrap();
    let paths: Vec<&str> = workflows.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [".github/workflows/ci.yml", ".github/workflows/release.yml"]
    );
    assert_eq!(store.list_repositories().await.unwrap(), vec![repository]);
    let missing = store.repository("acme", "nope").await;
    assert!(matches!(
        missing,
        Err(StoreError::NotFound {
            what: "repository",
            ..
        })
    ));
}

async fn run_lifecycle_and_reruns(db: &Db) {
    let store = &db.store;
    let (repository, workflow) = repo(store).await;
    let run = store.create_run(&new_run(workflow.id)).await.unwrap();
    assert_eq!((run.run_number, run.run_attempt), (1, 1));
    assert_eq!(run.status, Status::Queued);
    assert_eq!(run.repository_id, repository.id);
    let attempt = store.attempt(run.id, None).await.unwrap();
    assert_eq!(attempt.attempt, 1);
    let jobs = store
        .add_jobs(
            attempt.id,
            &[
                NewJob {
                    matrix: Some(r#"{"os":"linux"}"#.to_owned()),
                    name: "test (linux)".to_owned(),
                    ..new_job("test")
                },
                NewJob {
                    status: Status::Waiting,
                    environment: Some("production".to_owned()),
                    ..new_job("deploy")
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(jobs.len(), 2);

    let claimed = store
        .claim_job("runner-1")
        .await
        .unwrap()
        .expect("a queued job");
    assert_eq!(claimed.id, jobs[0].id);
    assert_eq!(claimed.status, Status::InProgress);
    assert_eq!(claimed.runner.as_deref(), Some("runner-1"));
    assert!(claimed.started_at.is_none());
    assert!(
        store.claim_job("runner-2").await.unwrap().is_none(),
        "deploy waits"
    );
    let running = store.run(run.id).await.unwrap().run;
    assert_eq!(running.status, Status::InProgress);
    assert!(running.started_at.is_some());

    store.start_job(claimed.id).await.unwrap();
    store
        .add_steps(claimed.id, &[(1, "Set up job"), (2, "Run tests")])
        .await
        .unwrap();
    store.start_step(claimed.id, 1, "Set up job").await.unwrap();
    store
        .complete_step(claimed.id, 1, Conclusion::Success)
        .await
        .unwrap();
    store.start_step(claimed.id, 2, "Run tests").await.unwrap();
    store
        .complete_step(claimed.id, 2, Conclusion::Failure)
        .await
        .unwrap();
    let steps = store.steps(claimed.id).await.unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1].conclusion, Some(Conclusion::Failure));
    assert!(steps[1].started_at.is_some() && steps[1].completed_at.is_some());
    let missing_step = store
        .complete_step(claimed.id, 9, Conclusion::Success)
        .await;
    assert!(matches!(
        missing_step,
        Err(StoreError::NotFound { what: "step", .. })
    ));

    let done = store
        .complete_job(
            claimed.id,
            Conclusion::Failure,
            Some(r#"{"coverage":"81"}"#),
        )
        .await
        .unwrap();
    assert_eq!(done.outputs.as_deref(), Some(r#"{"coverage":"81"}"#));
    let again = store
        .complete_job(claimed.id, Conclusion::Success, None)
        .await;
    assert!(
        matches!(again, Err(StoreError::WrongState { .. })),
        "{again:?}"
    );
    store
        .complete_job(jobs[1].id, Conclusion::Skipped, None)
        .await
        .unwrap();

    let early_rerun = store.rerun(run.id, "octocat").await;
    assert!(
        matches!(early_rerun, Err(StoreError::WrongState { .. })),
        "{early_rerun:?}"
    );
    let completed = store
        .complete_run(run.id, Conclusion::Failure, None)
        .await
        .unwrap();
    assert_eq!(completed.status, Status::Completed);
    assert_eq!(completed.conclusion, Some(Conclusion::Failure));

    let second = store.rerun(run.id, "hubot").await.unwrap();
    assert_eq!(second.attempt, 2);
    assert_eq!(second.actor, "hubot");
    let rerun = store.run(run.id).await.unwrap().run;
    assert_eq!(
        (rerun.run_attempt, rerun.status, rerun.conclusion),
        (2, Status::Queued, None)
    );
    let attempts = store.attempts(run.id).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        attempts[0].conclusion,
        Some(Conclusion::Failure),
        "the old attempt is kept"
    );
    assert_eq!(store.attempt(run.id, Some(1)).await.unwrap().id, attempt.id);
    store.add_jobs(second.id, &[new_job("test")]).await.unwrap();
    assert_eq!(store.list_jobs(second.id).await.unwrap().len(), 1);
    assert_eq!(store.list_jobs(attempt.id).await.unwrap().len(), 2);

    store.set_run_status(run.id, Status::Waiting).await.unwrap();
    assert_eq!(
        store.attempt(run.id, None).await.unwrap().status,
        Status::Waiting
    );
    let refused = store.set_run_status(run.id, Status::Completed).await;
    assert!(matches!(refused, Err(StoreError::WrongState { .. })));
    let missing = store.run(RunId(999_999)).await;
    assert!(matches!(
        missing,
        Err(StoreError::NotFound { what: "run", .. })
    ));
}

async fn invalid_workflow_file_run(db: &Db) {
    let store = &db.store;
    let (_, workflow) = repo(store).await;
    let diagnostics = r#"[{"file":".github/workflows/ci.yml","line":3,"column":5,"rule":"syntax","message":"unexpected key"}]"#;
    let run = store
        .create_run(&NewRun {
            diagnostics: Some(diagnostics.to_owned()),
            ..new_run(workflow.id)
        })
        .await
        .unwrap();
    assert_eq!(run.status, Status::Completed);
    assert_eq!(run.conclusion, Some(Conclusion::Failure));
    assert_eq!(
        run.conclusion_reason.as_deref(),
        Some("invalid workflow file")
    );
    let detail = store.run(run.id).await.unwrap();
    assert_eq!(detail.diagnostics.as_deref(), Some(diagnostics));
    assert_eq!(detail.payload, r#"{"ref":"refs/heads/main"}"#);
    assert_eq!(
        store.attempt(run.id, None).await.unwrap().conclusion,
        Some(Conclusion::Failure)
    );
}

async fn run_numbers_under_concurrent_inserts(db: &Db) {
    let (_, workflow) = repo(&db.store).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store.clone();
        let workflow = workflow.id;
        tasks.push(tokio::spawn(async move {
            let mut numbers = Vec::new();
            for _ in 0..25 {
                numbers.push(
                    store
                        .create_run(&new_run(workflow))
                        .await
                        .unwrap()
                        .run_number,
                );
            }
            numbers
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=100).collect::<Vec<i64>>());
}

async fn claimers_never_share_a_job(db: &Db) {
    let (_, workflow) = repo(&db.store).await;
    let mut expected = BTreeSet::new();
    for _ in 0..3 {
        let run = db.store.create_run(&new_run(workflow.id)).await.unwrap();
        let attempt = db.store.attempt(run.id, None).await.unwrap();
        let jobs: Vec<NewJob> = (0..20).map(|n| new_job(&format!("job{n}"))).collect();
        for job in db.store.add_jobs(attempt.id, &jobs).await.unwrap() {
            expected.insert(job.id);
        }
    }
    let mut tasks = Vec::new();
    for claimer in 0..4 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            while let Some(job) = store.claim_job(&format!("runner-{claimer}")).await.unwrap() {
                assert_eq!(job.runner, Some(format!("runner-{claimer}")));
                claimed.push(job.id);
            }
            claimed
        }));
    }
    let mut seen = BTreeSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen, expected);
}

async fn list_runs_filters_and_pages(db: &Db) {
    let store = &db.store;
    let (repository, workflow) = repo(store).await;
    let base = 1_700_000_000_000;
    let mut ids = Vec::new();
    for n in 0..30i64 {
        let run = store
            .create_run(&NewRun {
                event: if n % 3 == 0 { "pull_request" } else { "push" }.to_owned(),
                head_branch: Some(if n % 2 == 0 { "main" } else { "dev" }.to_owned()),
                actor: if n < 10 { "alice" } else { "bob" }.to_owned(),
                // Two runs per minute: the id orders runs created at the same time.
                created_at: base + (n / 2) * 60_000,
                ..new_run(workflow.id)
            })
            .await
            .unwrap();
        if n % 5 == 0 {
            store
                .complete_run(run.id, Conclusion::Success, None)
                .await
                .unwrap();
        }
        ids.push(run.id);
    }
    let list = |filter: RunFilter, page: Page| async move {
        store.list_runs(repository.id, &filter, page).await.unwrap()
    };
    let first = list(
        RunFilter::default(),
        Page::Offset {
            page: 1,
            per_page: 7,
        },
    )
    .await;
    assert_eq!(first.total_count, 30);
    let newest: Vec<RunId> = ids.iter().rev().take(7).copied().collect();
    assert_eq!(first.runs.iter().map(|r| r.id).collect::<Vec<_>>(), newest);
    let last = list(
        RunFilter::default(),
        Page::Offset {
            page: 5,
            per_page: 7,
        },
    )
    .await;
    assert_eq!(last.runs.len(), 2);
    assert_eq!(last.runs[1].id, ids[0]);
    let beyond = list(
        RunFilter::default(),
        Page::Offset {
            page: 9,
            per_page: 7,
        },
    )
    .await;
    assert!(beyond.runs.is_empty());
    assert_eq!(beyond.total_count, 30);

    // Keyset pages walk the same order as offset pages.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = list(
            RunFilter::default(),
            Page::Before {
                before,
                per_page: 8,
            },
        )
        .await;
        assert_eq!(page.total_count, 30);
        let Some(oldest) = page.runs.last() else {
            break;
        };
        before = Some(oldest.id);
        walked.extend(page.runs.iter().map(|r| r.id));
    }
    assert_eq!(walked, ids.iter().rev().copied().collect::<Vec<_>>());
    let unknown = store
        .list_runs(
            repository.id,
            &RunFilter::default(),
            Page::Before {
                before: Some(RunId(999_999)),
                per_page: 8,
            },
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound { what: "run", .. })),
        "{unknown:?}"
    );
    store.optimize().await.unwrap();

    let count = |filter: RunFilter| async move {
        list(
            filter,
            Page::Offset {
                page: 1,
                per_page: 100,
            },
        )
        .await
        .total_count
    };
    let branch = |name: &str| RunFilter {
        branch: Some(name.to_owned()),
        ..RunFilter::default()
    };
    assert_eq!(count(branch("main")).await, 15);
    assert_eq!(
        count(RunFilter {
            event: Some("pull_request".to_owned()),
            ..RunFilter::default()
        })
        .await,
        10
    );
    assert_eq!(
        count(RunFilter {
            actor: Some("alice".to_owned()),
            ..RunFilter::default()
        })
        .await,
        10
    );
    let status = |text: &str| RunFilter {
        status: StatusFilter::parse(text),
        ..RunFilter::default()
    };
    assert_eq!(count(status("completed")).await, 6);
    assert_eq!(count(status("success")).await, 6);
    assert_eq!(count(status("queued")).await, 24);
    assert_eq!(count(status("failure")).await, 0);
    let window = RunFilter {
        created_from: Some(base + 10 * 60_000),
        created_to: Some(base + 19 * 60_000),
        ..RunFilter::default()
    };
    assert_eq!(count(window.clone()).await, 10);
    let combined = RunFilter {
        actor: Some("bob".to_owned()),
        ..branch("dev")
    };
    let combined = list(
        combined,
        Page::Offset {
            page: 1,
            per_page: 3,
        },
    )
    .await;
    assert_eq!(combined.total_count, 10);
    assert!(combined
        .runs
        .iter()
        .all(|r| r.actor == "bob" && r.head_branch.as_deref() == Some("dev")));
    assert_eq!(
        count(RunFilter {
            workflow: Some(WorkflowId(workflow.id.0 + 1)),
            ..RunFilter::default()
        })
        .await,
        0
    );
    // per_page is capped as on GitHub.
    let capped = list(
        RunFilter::default(),
        Page::Offset {
            page: 1,
            per_page: 1000,
        },
    )
    .await;
    assert_eq!(capped.runs.len(), 30);
}

async fn log_index_batches(db: &Db) {
    let store = &db.store;
    let (_, workflow) = repo(store).await;
    let run = store.create_run(&new_run(workflow.id)).await.unwrap();
    let attempt = store.attempt(run.id, None).await.unwrap();
    let job = store
        .add_jobs(attempt.id, &[new_job("build")])
        .await
        .unwrap()[0]
        .id;
    // 250 batches of 4 lines of 100 bytes: a job-level chunk, then steps 1 and 2.
    let chunks: Vec<LogChunk> = (0..250i64)
        .map(|n| LogChunk {
            job_id: job,
            step_number: match n {
                0 => None,
                1..=99 => Some(1),
                _ => Some(2),
            },
            file: format!("logs/{job}.log"),
            byte_offset: n * 400,
            byte_len: 400,
            first_line: n * 4 + 1,
            line_count: 4,
        })
        .collect();
    store.append_log_chunks(&chunks).await.unwrap();
    store.append_log_chunks(&[]).await.unwrap();
    assert_eq!(store.log_chunks(job, 0).await.unwrap(), chunks);
    let resumed = store.log_chunks(job, 998).await.unwrap();
    assert_eq!(
        resumed.len(),
        1,
        "line 998 is in the last chunk (997..=1000)"
    );
    assert_eq!(resumed[0].first_line, 997);
    let spans = store.log_spans(job).await.unwrap();
    assert_eq!(
        spans,
        vec![
            LogSpan {
                step_number: None,
                chunks: 1,
                bytes: 400,
                lines: 4
            },
            LogSpan {
                step_number: Some(1),
                chunks: 99,
                bytes: 39_600,
                lines: 396
            },
            LogSpan {
                step_number: Some(2),
                chunks: 150,
                bytes: 60_000,
                lines: 600
            },
        ]
    );
}

async fn summaries_and_artifacts(db: &Db) {
    let store = &db.store;
    let (_, workflow) = repo(store).await;
    let run = store.create_run(&new_run(workflow.id)).await.unwrap();
    let attempt = store.attempt(run.id, None).await.unwrap();
    let job = store
        .add_jobs(attempt.id, &[new_job("build")])
        .await
        .unwrap()[0]
        .id;
    store.put_step_summary(job, 2, "# Draft").await.unwrap();
    store
        .put_step_summary(job, 2, "# Results\n\n| a | b |")
        .await
        .unwrap();
    store.put_step_summary(job, 1, "first").await.unwrap();
    assert_eq!(
        store.step_summaries(job).await.unwrap(),
        vec![
            (1, "first".to_owned()),
            (2, "# Results\n\n| a | b |".to_owned())
        ]
    );

    let now = now_ms();
    let kept = store
        .add_artifact(
            run.id,
            "dist",
            1234,
            "artifacts/1/dist.zip",
            now + 86_400_000,
        )
        .await
        .unwrap();
    let old = store
        .add_artifact(run.id, "coverage", 99, "artifacts/1/coverage.zip", now - 1)
        .await
        .unwrap();
    let duplicate = store.add_artifact(run.id, "dist", 1, "x", now).await;
    assert!(matches!(
        duplicate,
        Err(StoreError::AlreadyExists {
            what: "artifact",
            ..
        })
    ));
    assert_eq!(
        store.artifacts(run.id).await.unwrap(),
        vec![kept.clone(), old.clone()]
    );
    assert_eq!(store.take_expired_artifacts(now).await.unwrap(), vec![old]);
    assert_eq!(store.artifacts(run.id).await.unwrap(), vec![kept]);
}

async fn users_tokens_and_roles(db: &Db) {
    let store = &db.store;
    let alice = store.create_user("alice", Role::Developer).await.unwrap();
    let duplicate = store.create_user("alice", Role::Admin).await;
    assert!(matches!(
        duplicate,
        Err(StoreError::AlreadyExists { what: "user", .. })
    ));
    assert_eq!(store.user("alice").await.unwrap(), alice);

    let issued = store
        .create_token(alice.id, "laptop", Role::Admin, None)
        .await
        .unwrap();
    let secret = issued.secret().to_owned();
    assert!(
        secret.starts_with("gantry_") && secret.len() == 7 + 64,
        "{secret}"
    );
    assert!(secret.starts_with(&issued.token.prefix));
    assert_eq!(issued.token.prefix.len(), 15);
    assert!(
        !format!("{issued:?}").contains(&secret[7..]),
        "Debug shows the secret"
    );

    let principal = store
        .authenticate(&secret)
        .await
        .unwrap()
        .expect("a live token");
    assert_eq!(principal.user.login, "alice");
    assert_eq!(
        principal.role,
        Role::Developer,
        "a token never exceeds its user's role"
    );
    assert!(principal.role.allows(Role::Viewer) && !principal.role.allows(Role::Maintainer));
    let listed = store.list_tokens(alice.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());

    assert!(store
        .authenticate("gantry_not-a-token")
        .await
        .unwrap()
        .is_none());
    let mut wrong = secret.clone();
    wrong.pop();
    wrong.push(if secret.ends_with('0') { '1' } else { '0' });
    assert!(store.authenticate(&wrong).await.unwrap().is_none());

    let viewer = store
        .create_token(alice.id, "ci", Role::Viewer, None)
        .await
        .unwrap();
    let viewer_principal = store.authenticate(viewer.secret()).await.unwrap().unwrap();
    assert_eq!(viewer_principal.role, Role::Viewer);
    let expired = store
        .create_token(alice.id, "old", Role::Viewer, Some(now_ms() - 1))
        .await
        .unwrap();
    assert!(store
        .authenticate(expired.secret())
        .await
        .unwrap()
        .is_none());

    store.revoke_token(issued.token.id).await.unwrap();
    assert!(store.authenticate(&secret).await.unwrap().is_none());
    let twice = store.revoke_token(issued.token.id).await;
    assert!(matches!(twice, Err(StoreError::NotFound { .. })));
}

async fn audit_events_append(db: &Db) {
    let store = &db.store;
    let admin = store.create_user("root", Role::Admin).await.unwrap();
    let first = store
        .audit(&NewAuditEvent {
            actor_user_id: Some(admin.id),
            actor: "root".to_owned(),
            action: "token.create".to_owned(),
            target: "user:alice".to_owned(),
            remote_addr: Some("127.0.0.1".to_owned()),
            details: r#"{"role":"developer"}"#.to_owned(),
        })
        .await
        .unwrap();
    let second = store
        .audit(&NewAuditEvent {
            actor_user_id: None,
            actor: "anonymous".to_owned(),
            action: "run.cancel.denied".to_owned(),
            target: "run:7".to_owned(),
            remote_addr: None,
            details: "{}".to_owned(),
        })
        .await
        .unwrap();
    let events = store.audit_events(None, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert_eq!(events[0].actor_user_id, Some(admin.id));
    assert_eq!(events[0].remote_addr.as_deref(), Some("127.0.0.1"));
    assert!(events[0].at > 0);
    let after = store.audit_events(Some(first), 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].action, "run.cancel.denied");
}

async fn webhook_deliveries_and_outbox(db: &Db) {
    let store = &db.store;
    let (repository, workflow) = repo(store).await;
    let push = NewTrigger {
        repository_id: repository.id,
        event: "push".to_owned(),
        source: "webhook".to_owned(),
        payload: r#"{"after":"abc"}"#.to_owned(),
        delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned()),
    };
    let Enqueued::Queued(id) = store.enqueue_trigger(&push).await.unwrap() else {
        panic!("the first delivery is queued");
    };
    assert_eq!(
        store.enqueue_trigger(&push).await.unwrap(),
        Enqueued::DuplicateDelivery
    );
    let hook = NewTrigger {
        source: "hook".to_owned(),
        delivery_id: None,
        ..push.clone()
    };
    let Enqueued::Queued(hook_id) = store.enqueue_trigger(&hook).await.unwrap() else {
        panic!("triggers without a delivery id are never duplicates");
    };
    assert_eq!(store.pending_trigger_count().await.unwrap(), 2);

    let claimed = store
        .claim_trigger("worker-1")
        .await
        .unwrap()
        .expect("a trigger");
    assert_eq!(
        (claimed.id, claimed.claimed_by.as_deref()),
        (id, Some("worker-1"))
    );
    let next = store
        .claim_trigger("worker-2")
        .await
        .unwrap()
        .expect("the second trigger");
    assert_eq!(next.id, hook_id);
    assert!(store.claim_trigger("worker-3").await.unwrap().is_none());

    let runs = store
        .create_runs(id, &[new_run(workflow.id), new_run(workflow.id)])
        .await
        .unwrap();
    assert_eq!(
        runs.iter().map(|r| r.run_number).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let replay = store.create_runs(id, &[new_run(workflow.id)]).await;
    assert!(
        matches!(replay, Err(StoreError::WrongState { .. })),
        "{replay:?}"
    );
    let listed = store
        .list_runs(
            repository.id,
            &RunFilter::default(),
            Page::Offset {
                page: 1,
                per_page: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.total_count, 2, "the refused replay created no run");
    store.finish_trigger(hook_id).await.unwrap();
    assert_eq!(store.pending_trigger_count().await.unwrap(), 0);
    let third = store
        .create_run(&NewRun {
            trigger: Some(hook_id),
            ..new_run(workflow.id)
        })
        .await;
    assert!(third.is_ok());
}

async fn concurrency_groups(db: &Db) {
    let store = &db.store;
    let (repository, workflow) = repo(store).await;
    let first = store.create_run(&new_run(workflow.id)).await.unwrap();
    let second = store.create_run(&new_run(workflow.id)).await.unwrap();
    let group = "deploy-main";
    assert_eq!(
        store
            .acquire_concurrency(repository.id, group, first.id, None)
            .await
            .unwrap(),
        Acquired::Yes
    );
    assert_eq!(
        store
            .acquire_concurrency(repository.id, group, first.id, None)
            .await
            .unwrap(),
        Acquired::Yes
    );
    let Acquired::HeldBy(holder) = store
        .acquire_concurrency(repository.id, group, second.id, None)
        .await
        .unwrap()
    else {
        panic!("the group is held by the first run");
    };
    assert_eq!(holder.run_id, first.id);
    assert!(!store
        .release_concurrency(repository.id, group, second.id)
        .await
        .unwrap());
    assert_eq!(
        store.concurrency_holds(repository.id).await.unwrap().len(),
        1
    );
    // Completing a run frees what it held.
    store
        .complete_run(first.id, Conclusion::Success, None)
        .await
        .unwrap();
    assert!(store
        .concurrency_holds(repository.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .acquire_concurrency(repository.id, group, second.id, None)
            .await
            .unwrap(),
        Acquired::Yes
    );
    assert!(store
        .release_concurrency(repository.id, group, second.id)
        .await
        .unwrap());
}

async fn schedule_bookkeeping(db: &Db) {
    let store = &db.store;
    let (_, workflow) = repo(store).await;
    assert_eq!(
        store
            .last_schedule_fire(workflow.id, "0 3 * * *")
            .await
            .unwrap(),
        None
    );
    store
        .record_schedule_fire(workflow.id, "0 3 * * *", 1_000)
        .await
        .unwrap();
    store
        .record_schedule_fire(workflow.id, "0 3 * * *", 2_000)
        .await
        .unwrap();
    store
        .record_schedule_fire(workflow.id, "*/5 * * * *", 1_500)
        .await
        .unwrap();
    assert_eq!(
        store
            .last_schedule_fire(workflow.id, "0 3 * * *")
            .await
            .unwrap(),
        Some(2_000)
    );
    assert_eq!(
        store
            .last_schedule_fire(workflow.id, "*/5 * * * *")
            .await
            .unwrap(),
        Some(1_500)
    );
}

async fn crash_recovery(db: &Db) {
    let store = &db.store;
    let (repository, workflow) = repo(store).await;
    // Run A: a started job, a claimed one not yet started, a queued one.
    let run_a = store.create_run(&new_run(workflow.id)).await.unwrap();
    let attempt_a = store.attempt(run_a.id, None).await.unwrap();
    let jobs_a = store
        .add_jobs(
            attempt_a.id,
            &[new_job("build"), new_job("lint"), new_job("docs")],
        )
        .await
        .unwrap();
    // Run B: one job, started. Run C: queued, no jobs planned yet.
    let run_b = store.create_run(&new_run(workflow.id)).await.unwrap();
    let attempt_b = store.attempt(run_b.id, None).await.unwrap();
    let job_b = store
        .add_jobs(attempt_b.id, &[new_job("deploy")])
        .await
        .unwrap()[0]
        .id;
    let run_c = store.create_run(&new_run(workflow.id)).await.unwrap();

    let build = store.claim_job("r1").await.unwrap().unwrap();
    let lint = store.claim_job("r2").await.unwrap().unwrap();
    assert_eq!((build.id, lint.id), (jobs_a[0].id, jobs_a[1].id));
    store.start_job(build.id).await.unwrap();
    store.start_step(build.id, 1, "compile").await.unwrap();
    store
        .set_job_status(jobs_a[2].id, Status::Queued)
        .await
        .unwrap();
    let deploy = store.claim_job("r3").await.unwrap().unwrap();
    assert_eq!(deploy.id, jobs_a[2].id, "docs was queued before deploy");
    store
        .complete_job(deploy.id, Conclusion::Success, None)
        .await
        .unwrap();
    let claimed_b = store.claim_job("r4").await.unwrap().unwrap();
    assert_eq!(claimed_b.id, job_b);
    store.start_job(job_b).await.unwrap();
    store
        .acquire_concurrency(repository.id, "prod", run_b.id, Some(job_b))
        .await
        .unwrap();
    let trigger = NewTrigger {
        repository_id: repository.id,
        event: "push".to_owned(),
        source: "hook".to_owned(),
        payload: "{}".to_owned(),
        delivery_id: None,
    };
    store.enqueue_trigger(&trigger).await.unwrap();
    store.claim_trigger("dead-server").await.unwrap().unwrap();

    // The server dies; the next one recovers.
    let reason = "the server stopped";
    let recovery = store.recover(reason).await.unwrap();
    assert_eq!(
        recovery,
        Recovery {
            jobs_failed: 2,
            jobs_requeued: 1,
            runs_concluded: 1,
            triggers_released: 1,
            holds_released: 1,
        }
    );
    let build = store.job(build.id).await.unwrap();
    assert_eq!(
        (build.status, build.conclusion),
        (Status::Completed, Some(Conclusion::Failure))
    );
    assert_eq!(build.conclusion_reason.as_deref(), Some(reason));
    assert_eq!(
        store.steps(build.id).await.unwrap()[0].conclusion,
        Some(Conclusion::Failure)
    );
    let lint = store.job(lint.id).await.unwrap();
    assert_eq!(
        (lint.status, lint.runner.as_deref(), lint.claimed_at),
        (Status::Queued, None, None)
    );
    assert_eq!(
        store.run(run_a.id).await.unwrap().run.status,
        Status::InProgress,
        "lint can still run"
    );
    let run_b = store.run(run_b.id).await.unwrap().run;
    assert_eq!(
        (run_b.status, run_b.conclusion),
        (Status::Completed, Some(Conclusion::Failure))
    );
    assert_eq!(run_b.conclusion_reason.as_deref(), Some(reason));
    assert_eq!(
        store.attempt(run_b.id, None).await.unwrap().status,
        Status::Completed
    );
    assert_eq!(
        store.run(run_c.id).await.unwrap().run.status,
        Status::Queued,
        "queued runs run"
    );
    assert!(store
        .concurrency_holds(repository.id)
        .await
        .unwrap()
        .is_empty());
    assert!(store.claim_trigger("new-server").await.unwrap().is_some());
    assert_eq!(store.claim_job("r5").await.unwrap().unwrap().id, lint.id);
    // A second recovery with nothing in flight only re-queues the job just claimed.
    let again = store.recover(reason).await.unwrap();
    assert_eq!(
        again,
        Recovery {
            jobs_requeued: 1,
            triggers_released: 1,
            ..Recovery::default()
        }
    );
}

#[tokio::test]
async fn unreachable_postgres_hides_password() {
    let url = "postgres://gantry:s3cret-pw@127.0.0.1:1/gantry";
    let error = Store::open(url)
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    let message = error.to_string();
    assert_eq!(
        message,
        "cannot open the database at postgres://gantry:***@127.0.0.1:1/gantry"
    );
    let mut chain = format!("{error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(" / {cause} / {cause:?}"));
        source = cause.source();
    }
    assert!(!chain.contains("s3cret-pw"), "{chain}");
    assert!(
        chain.len() > message.len(),
        "the cause is attached: {chain}"
    );

    let query_password = "postgres://127.0.0.1:1/gantry?user=gantry&password=s3cret-pw";
    let error = Store::open(query_password)
        .await
        .expect_err("nothing listens");
    assert!(
        !format!("{error} {error:?}").contains("s3cret-pw"),
        "{error:?}"
    );
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let error = Store::open("mysql://root:hunter2@db/gantry")
        .await
        .expect_err("no MySQL");
    assert_eq!(
        error.to_string(),
        "unsupported database url mysql://root:***@db/gantry: expected a file path, sqlite://PATH or postgres://…"
    );
}

#[tokio::test]
async fn sqlite_file_is_wal_and_refuses_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.db");
    // A bare path is SQLite, and the file is created.
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.close().await;
    let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(mode.0, "wal");
    sqlx::query("INSERT INTO gantry_migrations (version, name, checksum, applied_at) VALUES (99, 'future', '', 0)")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    let error = Store::open(path.to_str().unwrap())
        .await
        .expect_err("a newer schema");
    assert!(
        matches!(error, StoreError::UnknownMigration { version: 99 }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_of_a_new_sqlite_file_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gantry.db").display());
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::open(&url).await })
        })
        .collect();
    for open in opens {
        let store = open.await.unwrap().expect("every open succeeds");
        assert_eq!(store.applied_migrations().await.unwrap(), vec![1]);
        store.close().await;
    }
}

/// The server runs every operation on spawned tasks: their futures must be `Send`, which the
/// compiler only checks where one is spawned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_run_on_spawned_tasks() {
    let db = Db::sqlite().await;
    let (repository, workflow) = repo(&db.store).await;
    let store = db.store.clone();
    let run = tokio::spawn(async move { store.create_run(&new_run(workflow.id)).await })
        .await
        .unwrap()
        .unwrap();
    let store = db.store.clone();
    let listed = tokio::spawn(async move {
        let filter = RunFilter {
            branch: Some("main".to_owned()),
            ..RunFilter::default()
        };
        let page = Page::Before {
            before: None,
            per_page: 10,
        };
        store.list_runs(repository.id, &filter, page).await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(listed.runs[0].id, run.id);
    let store = db.store.clone();
    let (recovery, authenticated, chunks) = tokio::spawn(async move {
        store.optimize().await?;
        let recovery = store.recover("the server stopped").await?;
        let authenticated = store.authenticate("gantry_unknown").await?;
        store.append_log_chunks(&[]).await?;
        let chunks = store.log_chunks(JobId(1), 0).await?;
        Ok::<_, StoreError>((recovery, authenticated, chunks))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(recovery, Recovery::default());
    assert!(authenticated.is_none() && chunks.is_empty());
    db.finish().await;
}
