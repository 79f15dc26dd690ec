//! Cost of one step's exec round trip: `true` run with [`Engine::exec`] in a running container
//! (create the exec, start it attached, read the output to its end, read the exit code). Target: at
//! most 50 ms per step. Run with `cargo bench -p gantry-docker --bench exec`; needs a Docker engine
//! and gantry-test/busybox (scripts/docker-setup, scripts/build-test-images), else it says why and
//! exits. `EXEC_BENCH_ITERATIONS` sets the number of execs (default 200).

use std::time::{Duration, Instant};

use gantry_docker::{labels, ContainerOptions, ContainerSpec, Engine, ExecSpec};
use tokio_util::sync::CancellationToken;

const IMAGE: &str = "gantry-test/busybox:latest";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let engine = match Engine::connect().await {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("exec bench skipped: {error}");
            return;
        }
    };
    if engine.client().inspect_image(IMAGE).await.is_err() {
        eprintln!("exec bench skipped: {IMAGE} is missing (run scripts/build-test-images)");
        return;
    }
    let iterations: usize = std::env::var("EXEC_BENCH_ITERATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let run = format!("bench-{}", std::process::id());
    let spec = ContainerSpec {
        name: labels::job_container_name(&run, "bench"),
        image: IMAGE.to_string(),
        run_id: run.clone(),
        job_key: Some(String::from("bench")),
        entrypoint: Some(vec![String::from("tail")]),
        cmd: Some(vec![String::from("-f"), String::from("/dev/null")]),
        options: ContainerOptions {
            init: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let container = engine
        .start_container(&spec)
        .await
        .expect("the bench container starts");
    let cancel = CancellationToken::new();
    let step = ExecSpec::new(["true"]);
    let mut samples = Vec::with_capacity(iterations);
    // Warm up the connection pool and the container.
    for _ in 0..5 {
        engine
            .exec(&container.id, &step, &mut |_| {}, &cancel)
            .await
            .expect("exec");
    }
    let total = Instant::now();
    for _ in 0..iterations {
        let started = Instant::now();
        let outcome = engine
            .exec(&container.id, &step, &mut |_| {}, &cancel)
            .await
            .expect("exec");
        samples.push(started.elapsed());
        assert_eq!(outcome.exit_code, Some(0));
    }
    let total = total.elapsed();
    engine.gc(Some(&run)).await.expect("gc");
    samples.sort();
    let at = |fraction: f64| samples[((samples.len() - 1) as f64 * fraction) as usize];
    let mean = total / u32::try_from(iterations).unwrap_or(u32::MAX);
    println!(
        "exec round trip (`true` in {IMAGE}, {iterations} runs, engine {}): mean {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms (target <= 50 ms)",
        engine.server_version().await.unwrap_or_default(),
        ms(mean),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0)),
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
