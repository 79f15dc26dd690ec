//! Several runs sharing one `ConcurrencyGroups`: workflow-level concurrency across runs, and
//! the event stream contract.

use std::sync::Arc;
use std::time::Duration;

use gantry_plan::{
    Conclusion, ConcurrencySpec, JobBody, JobGraph, Plan, PlanJob, RunInfo, StepsJob,
};
use gantry_scheduler::fake::{FakeExecutor, FakeJob};
use gantry_scheduler::{run_plan, ConcurrencyGroups, RunEvent, RunOutcome, SchedulerOptions};
use tokio_util::sync::CancellationToken;

fn plan(run_id: &str, group: Option<(&str, bool)>) -> Plan {
    let job = PlanJob {
        job_id: "work".into(),
        name: None,
        needs: vec![],
        if_expr: "success()".into(),
        strategy: None,
        concurrency: None,
        timeout_minutes: None,
        continue_on_error: "false".into(),
        location: String::new(),
        body: JobBody::Steps(Box::new(StepsJob {
            runs_on: vec![serde_json::json!("ubuntu-latest")],
            env: vec![],
            defaults_run: Default::default(),
            steps: vec![],
            outputs: vec![],
            container: None,
            services: Vec::new(),
        })),
    };
    let mut contexts = serde_json::Map::new();
    contexts.insert(
        "github".into(),
        serde_json::json!({"ref": "refs/heads/main", "workflow": "ci"}),
    );
    Plan {
        workflow_name: "ci".into(),
        run_name: None,
        run: RunInfo {
            run_id: run_id.into(),
            ..RunInfo::default()
        },
        contexts,
        secrets: Default::default(),
        concurrency: group.map(|(group, cancel)| ConcurrencySpec {
            group: group.into(),
            cancel_in_progress: cancel.to_string(),
        }),
        graph: JobGraph {
            jobs: vec![job],
            ..JobGraph::default()
        },
    }
}

fn start(
    plan: Plan,
    fake: FakeExecutor,
    groups: &Arc<ConcurrencyGroups>,
) -> tokio::task::JoinHandle<(RunOutcome, Vec<RunEvent>)> {
    let options = SchedulerOptions {
        concurrent_jobs: None,
        groups: Arc::clone(groups),
        ..SchedulerOptions::default()
    };
    tokio::spawn(async move {
        let (tx, mut rx) = gantry_plan::flow::channel(usize::MAX);
        let outcome = run_plan(plan, Arc::new(fake), options, tx, CancellationToken::new()).await;
        let mut events = Vec::new();
        while let Some(event) = rx.try_recv() {
            events.push(event);
        }
        (outcome, events)
    })
}

fn slow(ms: u64) -> FakeExecutor {
    FakeExecutor::new().with_job(
        "work",
        FakeJob {
            duration: Some(Duration::from_millis(ms)),
            ..FakeJob::default()
        },
    )
}

fn hang() -> FakeExecutor {
    FakeExecutor::new().with_job(
        "work",
        FakeJob {
            duration: None,
            ..FakeJob::default()
        },
    )
}

#[tokio::test(start_paused = true)]
async fn workflow_cancel_in_progress_cancels_the_older_run() {
    let groups = ConcurrencyGroups::new();
    let first = start(
        plan("1", Some(("ci-${{ github.ref }}", true))),
        hang(),
        &groups,
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = start(
        plan("2", Some(("ci-refs/heads/main", true))),
        slow(10),
        &groups,
    );
    let (first, _) = first.await.unwrap();
    let (second, _) = second.await.unwrap();
    assert_eq!(first.conclusion, Conclusion::Cancelled);
    assert_eq!(second.conclusion, Conclusion::Success);
}

#[tokio::test(start_paused = true)]
async fn workflow_group_queues_and_a_newer_pending_run_replaces_the_older() {
    let groups = ConcurrencyGroups::new();
    let first = start(plan("1", Some(("g", false))), slow(50), &groups);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = start(plan("2", Some(("g", false))), slow(10), &groups);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let third = start(plan("3", Some(("g", false))), slow(10), &groups);
    let start_time = tokio::time::Instant::now();
    let (first, _) = first.await.unwrap();
    let (second, second_events) = second.await.unwrap();
    let (third, _) = third.await.unwrap();
    assert_eq!(first.conclusion, Conclusion::Success);
    assert_eq!(second.conclusion, Conclusion::Cancelled);
    assert!(second
        .error
        .as_deref()
        .is_some_and(|e| e.contains("higher priority waiting request")));
    assert!(second_events
        .iter()
        .all(|e| !matches!(e, RunEvent::JobStarted { .. })));
    assert_eq!(third.conclusion, Conclusion::Success);
    // The third run waited for the first (50 ms from its start, 10 ms ago), then ran 10 ms.
    assert_eq!(start_time.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn runs_without_groups_do_not_wait() {
    let groups = ConcurrencyGroups::new();
    let first = start(plan("1", None), slow(50), &groups);
    let second = start(plan("2", None), slow(50), &groups);
    let begin = tokio::time::Instant::now();
    assert_eq!(first.await.unwrap().0.conclusion, Conclusion::Success);
    assert_eq!(second.await.unwrap().0.conclusion, Conclusion::Success);
    assert_eq!(begin.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn event_stream_order() {
    let groups = ConcurrencyGroups::new();
    let (outcome, events) = start(plan("1", None), slow(10), &groups).await.unwrap();
    assert_eq!(outcome.conclusion, Conclusion::Success);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            RunEvent::RunStarted { .. } => "run-started",
            RunEvent::JobQueued { .. } => "queued",
            RunEvent::JobStarted { .. } => "started",
            RunEvent::JobEvent { .. } => "event",
            RunEvent::JobFinished { .. } => "finished",
            RunEvent::RunFinished { .. } => "run-finished",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "run-started",
            "queued",
            "started",
            "event",
            "finished",
            "run-finished"
        ]
    );
    // Events are plain data too.
    for event in &events {
        let text = serde_json::to_string(event).unwrap();
        assert_eq!(&serde_json::from_str::<RunEvent>(&text).unwrap(), event);
    }
}

#[tokio::test(start_paused = true)]
async fn an_invalid_graph_fails_the_run_with_a_reason() {
    let mut broken = plan("1", None);
    broken.graph.jobs[0].needs = vec!["missing".into()];
    let (outcome, events) = start(broken, slow(10), &ConcurrencyGroups::new())
        .await
        .unwrap();
    assert_eq!(outcome.conclusion, Conclusion::Failure);
    assert_eq!(
        outcome.error.as_deref(),
        Some("job 'work' needs unknown job 'missing'")
    );
    assert!(outcome.jobs.is_empty());
    assert!(matches!(
        events.last(),
        Some(RunEvent::RunFinished {
            conclusion: Conclusion::Failure
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn run_name_is_evaluated_with_the_github_context() {
    let check = |template: Option<&'static str>, expected: &'static str| {
        let mut named = plan("1", None);
        named.run_name = template.map(str::to_owned);
        let handle = start(named, slow(1), &ConcurrencyGroups::new());
        async move {
            let (_, events) = handle.await.unwrap();
            match events.first() {
                Some(RunEvent::RunStarted { run_name, .. }) => {
                    assert_eq!(run_name, expected, "{template:?}")
                }
                other => panic!("first event {other:?}"),
            }
        }
    };
    check(Some("Deploy ${{ github.ref }}"), "Deploy refs/heads/main").await;
    check(Some("  "), "ci").await;
    check(Some("${{ github.ref == }}"), "ci").await;
    check(None, "ci").await;
}

/// A re-run of failed jobs: the reused job is not run again, and its outputs reach `needs`.
#[tokio::test(start_paused = true)]
async fn reused_jobs_are_not_run_and_their_outputs_reach_needs() {
    let mut plan = plan("1", None);
    let mut test = plan.graph.jobs[0].clone();
    test.job_id = "test".into();
    test.needs = vec!["work".into()];
    plan.graph.jobs.push(test);
    let fake = FakeExecutor::new();
    let options = SchedulerOptions {
        reuse: [(
            "work".to_owned(),
            gantry_plan::JobResult {
                conclusion: Conclusion::Success,
                outputs: [("version".to_owned(), "1.2.3".to_owned())].into(),
                error: None,
            },
        )]
        .into(),
        ..SchedulerOptions::default()
    };
    let (tx, mut rx) = gantry_plan::flow::channel(usize::MAX);
    let outcome = run_plan(
        plan,
        Arc::new(fake.clone()),
        options,
        tx,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.conclusion, Conclusion::Success);
    let calls = fake.calls();
    let ran: Vec<&str> = calls.iter().map(|c| c.spec.job_id.as_str()).collect();
    assert_eq!(ran, ["test"]);
    assert_eq!(
        calls[0].spec.contexts["needs"]["work"],
        serde_json::json!({"result": "success", "outputs": {"version": "1.2.3"}})
    );
    let mut finished = Vec::new();
    while let Some(event) = rx.try_recv() {
        if let RunEvent::JobFinished { key, .. } = event {
            finished.push(key);
        }
    }
    assert_eq!(finished, ["work", "test"]);
}
