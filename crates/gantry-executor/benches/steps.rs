//! Per-step overhead: one job of 200 `run: 'true'` steps (`shell: bash`) on the host executor,
//! against the same 200 `bash --noprofile --norc -eo pipefail script` processes started by a
//! shell loop. Prints both medians and their ratio (target: within 1.10x).
//!
//! Run: `cargo bench -p gantry-executor --bench steps`.

use std::time::{Duration, Instant};

use gantry_executor::{HostExecutor, HostExecutorOptions};
use gantry_plan::{Executor, JobSpec, RunDefaults, StepSpec, WorkspaceSpec};
use tokio_util::sync::CancellationToken;

const STEPS: usize = 200;
const ROUNDS: usize = 7;

fn job() -> JobSpec {
    let steps = (0..STEPS)
        .map(|i| StepSpec::run(format!("__run_{i}"), "true"))
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
        services: Vec::new(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench_executor(runtime: &tokio::runtime::Runtime, executor: &HostExecutor) -> Duration {
    let mut times = Vec::new();
    for _ in 0..1 {
        let (tx, mut rx) = gantry_plan::flow::channel(usize::MAX);
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
    for _ in 0..1 {
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
    // `--executor-only` (for profiling) skips the shell loop.
    let executor_only = std::env::args().any(|a| a == "--executor-only");
    // Warm up both (page cache, bash binary).
    let _ = bench_executor(&runtime, &executor);
    if !executor_only {
        let _ = bench_shell_loop(dir.path());
    }
    // Interleaved rounds, so both see the same machine load.
    let (mut shell, mut host) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        if !executor_only {
            shell.push(bench_shell_loop(dir.path()));
        }
        host.push(bench_executor(&runtime, &executor));
    }
    let per_step = |d: Duration| ms(d) / STEPS as f64;
    let host_median = median(host.clone());
    let host_min = host.iter().copied().min().unwrap_or_default();
    println!(
        "executor   : {STEPS} steps          median {:>8.1} ms ({:.2} ms/step), best {:>8.1} ms",
        ms(host_median),
        per_step(host_median),
        ms(host_min)
    );
    if executor_only {
        // CPU time of this process (the executor) against its children (the shells), in ticks.
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        println!(
            "cpu ticks  : executor user {} sys {}, children user {} sys {}",
            tick(11),
            tick(12),
            tick(13),
            tick(14)
        );
        return;
    }
    let shell_median = median(shell.clone());
    let shell_min = shell.iter().copied().min().unwrap_or_default();
    println!(
        "shell loop : {STEPS} bash processes median {:>8.1} ms ({:.2} ms/step), best {:>8.1} ms",
        ms(shell_median),
        per_step(shell_median),
        ms(shell_min)
    );
    println!(
        "ratio      : {:.3}x median, {:.3}x best (target <= 1.10x)",
        host_median.as_secs_f64() / shell_median.as_secs_f64(),
        host_min.as_secs_f64() / shell_min.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
