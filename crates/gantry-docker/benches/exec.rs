//! Cost of one step in a running container: `true` run with [`Engine::exec`] (create the exec,
//! start it attached, read the output to its end, read the exit code) and with
//! [`gantry_docker::Session::run`] (one line to a long-lived shell, its markers back). Target: at
//! most 50 ms per step. Run with `cargo bench -p gantry-docker --bench exec`; needs a Docker engine
//! and gantry-test/busybox (scripts/docker-setup, scripts/build-test-images), else it says why and
//! exits. `EXEC_BENCH_ITERATIONS` sets the number of steps of each kind (default 200).

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
    let version = engine.server_version().await.unwrap_or_default();

    // Warm up the connection pool and the container.
    for _ in 0..5 {
        engine
            .exec(&container.id, &step, &mut |_| {}, &cancel)
            .await
            .expect("exec");
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let outcome = engine
            .exec(&container.id, &step, &mut |_| {}, &cancel)
            .await
            .expect("exec");
        samples.push(started.elapsed());
        assert_eq!(outcome.exit_code, Some(0));
    }
    report(
        &format!("Engine::exec (`true` in {IMAGE}, {iterations} runs, engine {version})"),
        samples,
    );

    let opened = Instant::now();
    let mut session = engine
        .open_session(&container.id, None)
        .await
        .expect("a session");
    session
        .run(&step, &mut |_| {}, &cancel)
        .await
        .expect("session step");
    println!(
        "Session opened and its first step run in {:.1} ms",
        ms(opened.elapsed())
    );
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let outcome = session
            .run(&step, &mut |_| {}, &cancel)
            .await
            .expect("session step");
        samples.push(started.elapsed());
        assert_eq!(outcome.exit_code, Some(0));
    }
    report(
        &format!("Session::run (`true` in {IMAGE}, {iterations} runs, engine {version})"),
        samples,
    );
    drop(session);
    engine.gc(Some(&run)).await.expect("gc");
}

/// Prints the mean, median, p95 and max of `samples`.
fn report(what: &str, mut samples: Vec<Duration>) {
    if samples.is_empty() {
        return;
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / u32::try_from(samples.len()).unwrap_or(u32::MAX);
    let at = |fraction: f64| samples[((samples.len() - 1) as f64 * fraction) as usize];
    println!(
        "{what}: mean {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms (target <= 50 ms)",
        ms(mean),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0)),
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
