//! The store on SQLite at the size of a busy server: 100,000 runs of one repository with 4 KB
//! event payloads (seeded with `create_runs`, 1,000 runs per transaction; then 98 % marked
//! completed by one UPDATE, and `Store::optimize`), then:
//! - listing runs (`Store::list_runs`, 30 per page, with `total_count`): the first page, with
//!   each of GitHub's filters, a deep page by offset (page 3,000) and by keyset; p50/p99 over
//!   200 calls each;
//! - the same first-page queries through a native `SqlitePool` instead of sqlx's `Any` driver,
//!   the cost of having one set of queries for both backends;
//! - inserting 1,000 runs, one transaction each (`create_run`), and 1,000 in one
//!   (`create_runs`).
//!
//! Run: `cargo bench -p gantry-store --bench store`. Figures are recorded in docs/benchmarks.md.

use gantry_store::*;
use sqlx::Connection;
use std::time::{Duration, Instant};

const RUNS: i64 = 100_000;
const ITERATIONS: usize = 200;
const BRANCHES: [&str; 8] = [
    "main",
    "main",
    "main",
    "main",
    "dev",
    "feature/a",
    "feature/b",
    "release",
];
const EVENTS: [&str; 10] = [
    "push",
    "push",
    "push",
    "push",
    "push",
    "push",
    "push",
    "pull_request",
    "pull_request",
    "schedule",
];

/// A push payload is kilobytes (GitHub's carries the whole repository object and the commits);
/// 4,000 bytes of filler stand for it, so the tables have the size they would have.
const PAYLOAD_FILLER: usize = 4_000;

fn new_run(workflow: WorkflowId, n: i64, base: i64) -> NewRun {
    NewRun {
        workflow_id: workflow,
        event: EVENTS[(n % 10) as usize].to_owned(),
        git_ref: Some(format!("refs/heads/{}", BRANCHES[(n % 8) as usize])),
        head_branch: Some(BRANCHES[(n % 8) as usize].to_owned()),
        head_sha: format!("{:040x}", n * 2_654_435_761),
        actor: format!("user{}", n % 20),
        display_title: format!("Commit number {n} with a typical title"),
        payload: format!(
            r#"{{"ref":"refs/heads/main","after":"{n:040x}","repository":"{}"}}"#,
            "x".repeat(PAYLOAD_FILLER)
        ),
        diagnostics: None,
        created_at: base + n * 60_000,
        trigger: None,
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    let (min, p50, p99, max) = (at(0.0), at(0.5), at(0.99), at(1.0));
    println!("{name:<52} min {min:>6.2}  p50 {p50:>6.2}  p99 {p99:>6.2}  max {max:>6.2} ms");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("gantry.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url).await.expect("open store");
    let repository = store
        .add_repository(&NewRepository {
            owner: "acme".to_owned(),
            name: "app".to_owned(),
            path: Some("/srv/git/app.git".to_owned()),
            clone_url: None,
            default_branch: "main".to_owned(),
            webhook_secret_ref: None,
        })
        .await
        .expect("repository");
    let workflows = [
        store
            .upsert_workflow(
                repository.id,
                ".github/workflows/ci.yml",
                "CI",
                WorkflowState::Active,
            )
            .await
            .expect("workflow"),
        store
            .upsert_workflow(
                repository.id,
                ".github/workflows/lint.yml",
                "Lint",
                WorkflowState::Active,
            )
            .await
            .expect("workflow"),
    ];
    let base = 1_700_000_000_000;

    let seeding = Instant::now();
    for batch in 0..RUNS / 1_000 {
        let trigger = match store
            .enqueue_trigger(&NewTrigger {
                repository_id: repository.id,
                event: "push".to_owned(),
                source: "bench".to_owned(),
                payload: "{}".to_owned(),
                delivery_id: None,
            })
            .await
            .expect("trigger")
        {
            Enqueued::Queued(id) => id,
            Enqueued::DuplicateDelivery => unreachable!("no delivery id"),
        };
        let runs: Vec<NewRun> = (batch * 1_000..(batch + 1) * 1_000)
            .map(|n| new_run(workflows[(n % 2) as usize].id, n, base))
            .collect();
        store.create_runs(trigger, &runs).await.expect("runs");
    }
    let seeded = seeding.elapsed();
    // Most runs of a real history are completed; the store concludes runs one by one, so the
    // bench sets the mix with one statement instead of 98,000 transactions.
    let mut raw = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("raw connection");
    sqlx::raw_sql(
        "UPDATE runs SET status = 'completed', \
         conclusion = CASE WHEN id % 10 = 0 THEN 'failure' ELSE 'success' END \
         WHERE id % 50 <> 0",
    )
    .execute(&mut raw)
    .await
    .expect("conclude runs");
    raw.close().await.expect("close");
    println!(
        "seeded {RUNS} runs in {:.2} s (1,000 runs per transaction), file {:.1} MB",
        seeded.as_secs_f64(),
        std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / 1e6
    );
    // What a server does after start and then hourly: fresh planner statistics.
    let analyzing = Instant::now();
    store.optimize().await.expect("optimize");
    println!(
        "Store::optimize (ANALYZE) at {RUNS} runs: {:.0} ms",
        analyzing.elapsed().as_secs_f64() * 1_000.0
    );

    let oldest_kept = RunId(RUNS / 10);
    let cases: Vec<(&str, RunFilter, Page)> = vec![
        (
            "first page, no filter",
            RunFilter::default(),
            Page::Offset {
                page: 1,
                per_page: 30,
            },
        ),
        (
            "first page, branch=dev",
            RunFilter {
                branch: Some("dev".to_owned()),
                ..RunFilter::default()
            },
            Page::Offset {
                page: 1,
                per_page: 30,
            },
        ),
        (
            "first page, event=schedule",
            RunFilter {
                event: Some("schedule".to_owned()),
                ..RunFilter::default()
            },
            Page::Offset {
                page: 1,
                per_page: 30,
            },
        ),
        (
            "first page, status=failure",
            RunFilter {
                status: StatusFilter::parse("failure"),
                ..RunFilter::default()
            },
            Page::Offset {
                page: 1,
                per_page: 30,
            },
        ),
        (
            "first page, status=queued (2 %)",
            RunFilter {
                status: StatusFilter::parse("queued"),
                ..RunFilter::default()
            },
            Page::Offset {
                page: 1,
                per_page: 30,
            },
        ),
        (
            "first page, actor=user7 + branch=main",
            RunFilter {
                actor: Some("user7".to_owned()),
                branch: Some("main".to_owned()),
                ..RunFilter::default()
            },
            Page::Offset {
                page: 1,
                per_page: 30,
            },
        ),
        (
            "first page, created in one old week",
            RunFilter {
                created_from: Some(base + 20_000 * 60_000),
                created_to: Some(base + 30_080 * 60_000),
                ..RunFilter::default()
            },
            Page::Offset {
                page: 1,
                per_page: 30,
            },
        ),
        (
            "deep page 3,000 by offset, no filter",
            RunFilter::default(),
            Page::Offset {
                page: 3_000,
                per_page: 30,
            },
        ),
        (
            "deep page 300 by offset, branch=main",
            RunFilter {
                branch: Some("main".to_owned()),
                ..RunFilter::default()
            },
            Page::Offset {
                page: 300,
                per_page: 30,
            },
        ),
        (
            "deep page by keyset (before run 10,000)",
            RunFilter::default(),
            Page::Before {
                before: Some(oldest_kept),
                per_page: 30,
            },
        ),
        (
            "deep page by keyset, branch=main",
            RunFilter {
                branch: Some("main".to_owned()),
                ..RunFilter::default()
            },
            Page::Before {
                before: Some(oldest_kept),
                per_page: 30,
            },
        ),
    ];
    println!("\nlist_runs, 30 per page with total_count, {ITERATIONS} calls each (Any driver):");
    for (name, filter, page) in &cases {
        let mut samples = Vec::with_capacity(ITERATIONS);
        let mut total = 0;
        for _ in 0..ITERATIONS {
            let started = Instant::now();
            let list = store
                .list_runs(repository.id, filter, *page)
                .await
                .expect("list");
            samples.push(started.elapsed());
            total = list.total_count;
            assert!(!list.runs.is_empty(), "{name}: empty page");
        }
        report(&format!("{name} ({total})"), samples);
    }

    // The cost of the Any driver: the same two statements on a native SQLite pool.
    let native = sqlx::SqlitePool::connect(&url).await.expect("native pool");
    println!("\nthe same first page, native SqlitePool (no Any conversion):");
    let columns = "id, repository_id, workflow_id, run_number, run_attempt, event, git_ref, \
        head_branch, head_sha, actor, status, conclusion, conclusion_reason, display_title, \
        created_at, started_at, updated_at";
    let list_sql = format!(
        "SELECT {columns} FROM runs WHERE repository_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    );
    let mut samples = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let started = Instant::now();
        let mut tx = native.begin().await.expect("begin");
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs WHERE repository_id = $1")
            .bind(repository.id.0)
            .fetch_one(&mut *tx)
            .await
            .expect("count");
        let rows = sqlx::query(&list_sql)
            .bind(repository.id.0)
            .bind(30i64)
            .bind(0i64)
            .fetch_all(&mut *tx)
            .await
            .expect("list");
        tx.commit().await.expect("commit");
        samples.push(started.elapsed());
        assert!(total == RUNS && rows.len() == 30);
    }
    report("first page, no filter (native, not decoded)", samples);
    let mut samples = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let started = Instant::now();
        let rows = sqlx::query(&list_sql)
            .bind(repository.id.0)
            .bind(30i64)
            .bind(0i64)
            .fetch_all(&native)
            .await
            .expect("list");
        samples.push(started.elapsed());
        assert_eq!(rows.len(), 30);
    }
    report("page of 30 without the count (native)", samples);
    native.close().await;
    let mut samples = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let started = Instant::now();
        let list = store
            .list_runs(
                repository.id,
                &RunFilter::default(),
                Page::Before {
                    before: None,
                    per_page: 30,
                },
            )
            .await
            .expect("list");
        samples.push(started.elapsed());
        assert_eq!(list.runs.len(), 30);
    }
    report("first page, no filter (Any, for comparison)", samples);

    println!("\ninserting runs (one workflow, run_number allocated per run):");
    let mut samples = Vec::with_capacity(1_000);
    let started = Instant::now();
    for n in 0..1_000 {
        let one = Instant::now();
        store
            .create_run(&new_run(workflows[0].id, RUNS + n, base))
            .await
            .expect("run");
        samples.push(one.elapsed());
    }
    let total = started.elapsed();
    println!(
        "1,000 × create_run, one transaction each: {:.0} ms in all, {:.0} runs/s",
        total.as_secs_f64() * 1_000.0,
        1_000.0 / total.as_secs_f64()
    );
    report("create_run, per run", samples);
    let trigger = match store
        .enqueue_trigger(&NewTrigger {
            repository_id: repository.id,
            event: "push".to_owned(),
            source: "bench".to_owned(),
            payload: "{}".to_owned(),
            delivery_id: None,
        })
        .await
        .expect("trigger")
    {
        Enqueued::Queued(id) => id,
        Enqueued::DuplicateDelivery => unreachable!("no delivery id"),
    };
    let runs: Vec<NewRun> = (0..1_000)
        .map(|n| new_run(workflows[1].id, RUNS + 1_000 + n, base))
        .collect();
    let started = Instant::now();
    store.create_runs(trigger, &runs).await.expect("runs");
    println!(
        "1,000 runs in one create_runs transaction: {:.0} ms",
        started.elapsed().as_secs_f64() * 1_000.0
    );
    store.close().await;
}
