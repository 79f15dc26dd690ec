//! Per-step overhead: one job of 200 `run: 'true'` steps (`shell: bash`) on the host executor,
//! against the same 200 `bash --noprofile --norc -eo pipefail script` processes started by a
//! shell loop. Prints both medians and their ratio (target: within 1.10x).
//!
//! Run: `cargo bench -p gantry-executor --bench steps`.

use std::time::{Duration, Instant};

use gantry_executor::{HostExecutor, HostExecutorOptions};
use gantry_plan::{Executor, JobSpec, RunDefaults, StepAction, StepSpec, WorkspaceSpec};
use tokio_util::sync::CancellationToken;

const STEPS: usize = 200;
const ROUNDS: usize = 7;

fn job() -> JobSpec {
    let steps = (0..STEPS)
        .map(|i| StepSpec {
            id: None,
            generated_id: format!("__run_{i}"),
            name: None,
            if_expr: "success()".into(),
            action: StepAction::Run {
                script: "true".into(),
                shell: None,
                working_directory: None,
            },
            env: vec![],
            continue_on_error: "false".into(),
            timeout_minutes: None,
            location: String::new(),
        })
        .collect();
    JobSpec {
        run_id: "1".into(),
        run_number: 1,
        attempt: 1,
        job_key: "bench".into(),
        job_id: "bench".into(),
        display_name: "bench".into(),
        workflow_file: "bench.yml".into(),
        runs_on: vec![],
        contexts: serde_json::Map::new(),
        secrets: Default::default(),
        env: vec![],
        defaults_run: RunDefaults {
            shell: Some("bash".into()),
            working_directory: None,
        },
        steps,
        outputs: vec![],
        timeout_minutes: None,
        continue_on_error: false,
        workspace: WorkspaceSpec::default(),
        container: None,
        services: serde_json::Value::Null,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench_executor(runtime: &tokio::runtime::Runtime, executor: &HostExecutor) -> Duration {
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let started = Instant::now();
        let result = runtime.block_on(async {
            let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let result = executor.run_job(job(), tx, CancellationToken::new()).await;
            let _ = drain.await;
            result
        });
        times.push(started.elapsed());
        assert_eq!(result.conclusion, gantry_plan::Conclusion::Success);
    }
    median(times)
}

fn bench_shell_loop(dir: &std::path::Path) -> Duration {
    let script = dir.join("step.sh");
    std::fs::write(&script, "true").expect("write script");
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let status = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "for i in $(seq {STEPS}); do bash --noprofile --norc -eo pipefail {}; done",
                script.display()
            ))
            .status()
            .expect("run bash");
        times.push(started.elapsed());
        assert!(status.success());
    }
    median(times)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = HostExecutor::new(HostExecutorOptions::new(dir.path().join("work")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Warm up both (page cache, bash binary).
    let _ = bench_shell_loop(dir.path());
    let _ = bench_executor(&runtime, &executor);
    let shell = bench_shell_loop(dir.path());
    let host = bench_executor(&runtime, &executor);
    println!(
        "shell loop : {STEPS} bash processes in {:>8.1} ms ({:.2} ms/step)",
        ms(shell),
        ms(shell) / STEPS as f64
    );
    println!(
        "executor   : {STEPS} steps          in {:>8.1} ms ({:.2} ms/step)",
        ms(host),
        ms(host) / STEPS as f64
    );
    println!(
        "ratio      : {:.3}x (target <= 1.10x)",
        host.as_secs_f64() / shell.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
