//! Scheduler overhead on the fake executor (jobs take no time): a 100-job DAG (root -> 98
//! parallel jobs -> join), a chain of 20 jobs, and a 256-leg matrix. Prints wall times.
//! Run: `cargo bench -p gantry-scheduler --bench scheduler`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_plan::{JobBody, JobGraph, Plan, PlanJob, RunInfo, StepsJob, StrategySpec};
use gantry_scheduler::fake::FakeExecutor;
use gantry_scheduler::{run_plan, SchedulerOptions};
use tokio_util::sync::CancellationToken;

fn job(id: &str, needs: &[String]) -> PlanJob {
    PlanJob {
        job_id: id.to_owned(),
        name: None,
        needs: needs.to_vec(),
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
    }
}

fn plan(jobs: Vec<PlanJob>) -> Plan {
    let mut contexts = serde_json::Map::new();
    contexts.insert(
        "github".into(),
        serde_json::json!({"event_name": "push", "ref": "refs/heads/main"}),
    );
    Plan {
        workflow_name: "bench".into(),
        run_name: None,
        run: RunInfo::default(),
        contexts,
        secrets: Default::default(),
        concurrency: None,
        graph: JobGraph {
            jobs,
            ..JobGraph::default()
        },
    }
}

fn wide_dag() -> Plan {
    let mut jobs = vec![job("root", &[])];
    let middle: Vec<String> = (0..98).map(|i| format!("m{i}")).collect();
    for id in &middle {
        jobs.push(job(id, &["root".to_owned()]));
    }
    jobs.push(job("join", &middle));
    plan(jobs)
}

/// The wide DAG with a push payload of about 20 KB in `github.event`, as real runs carry.
fn wide_dag_with_payload() -> Plan {
    let mut plan = wide_dag();
    let commits: Vec<serde_json::Value> = (0..40)
        .map(|i| {
            serde_json::json!({
                "id": format!("{i:040}"),
                "message": "x".repeat(300),
                "author": {"name": "someone", "email": "someone@example.com"},
                "added": ["src/a.rs", "src/b.rs"],
            })
        })
        .collect();
    plan.contexts.insert(
        "github".into(),
        serde_json::json!({"event_name": "push", "ref": "refs/heads/main", "event": {"commits": commits}}),
    );
    plan
}

fn chain() -> Plan {
    let mut jobs = vec![job("j0", &[])];
    for i in 1..20 {
        jobs.push(job(&format!("j{i}"), &[format!("j{}", i - 1)]));
    }
    plan(jobs)
}

fn matrix() -> Plan {
    let mut big = job("m", &[]);
    let axis: Vec<u32> = (0..16).collect();
    big.strategy = Some(StrategySpec {
        matrix: Some(serde_json::json!({"a": axis, "b": axis})),
        fail_fast: "true".into(),
        max_parallel: None,
    });
    plan(vec![big])
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    name: &str,
    make: fn() -> Plan,
    expected_jobs: usize,
) {
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..30 {
        let plan = make();
        let start = Instant::now();
        let outcome = runtime.block_on(async {
            let (tx, rx) = gantry_plan::flow::channel(usize::MAX);
            drop(rx);
            run_plan(
                plan,
                Arc::new(FakeExecutor::new()),
                SchedulerOptions::default(),
                tx,
                CancellationToken::new(),
            )
            .await
        });
        times.push(start.elapsed());
        assert_eq!(outcome.jobs.len(), expected_jobs, "{name}");
    }
    times.sort();
    println!(
        "{name:<32} min {:>8.3} ms   median {:>8.3} ms   max {:>8.3} ms",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    measure(&runtime, "dag root -> 98 parallel -> join", wide_dag, 100);
    measure(
        &runtime,
        "same with a 20 KB event payload",
        wide_dag_with_payload,
        100,
    );
    measure(&runtime, "chain of 20", chain, 20);
    measure(&runtime, "matrix of 256 legs", matrix, 256);
}
