//! Service start-up latency: a job with two services (gantry-test/postgres and gantry-test/redis,
//! health checks every second) whose first step prints a timestamp, run N times on the host and N
//! times in a job container (gantry-test/debian). For each run it prints how long after the last
//! service reported healthy the first step started and its first output line arrived (target:
//! within 1 s), and the whole job's time.
//!
//! "Reported healthy" is the engine's own `health_status: healthy` event (its `timeNano`), read
//! with `docker events` outside the executor; "first output line" is when the step's line reached
//! the job's event channel (the log sink), by the same wall clock. The engine's `start` event of
//! the job container is shown too, to tell where the time after health goes.
//!
//! Run: `cargo bench -p gantry-executor --bench services [-- RUNS]` (default 5 runs per kind).
//! Needs the engine and the test images (scripts/docker-setup, scripts/build-test-images).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gantry_executor::{HostExecutor, HostExecutorOptions};
use gantry_plan::{
    Conclusion, ContainerSpec, Executor, JobEvent, JobSpec, RunDefaults, StepSpec, WorkspaceSpec,
};
use tokio_util::sync::CancellationToken;

const DEFAULT_RUNS: usize = 5;
const IMAGES: [&str; 3] = [
    "gantry-test/debian:latest",
    "gantry-test/postgres:latest",
    "gantry-test/redis:latest",
];

fn step(script: &str, index: usize) -> StepSpec {
    StepSpec::run(format!("__run_{index}"), script)
}

/// The job: two services with health checks, optionally a job container; step 1 prints the time.
fn job(run_id: &str, in_container: bool) -> JobSpec {
    let mut contexts = serde_json::Map::new();
    contexts.insert(
        "github".into(),
        serde_json::json!({"repository": "bench/services", "ref": "refs/heads/main",
                           "event_name": "push", "workflow": "bench"}),
    );
    JobSpec {
        run_id: run_id.to_owned(),
        run_number: 1,
        attempt: 1,
        job_key: "bench".into(),
        job_id: "bench".into(),
        display_name: "bench".into(),
        workflow_file: "bench.yml".into(),
        runs_on: vec!["ubuntu-latest".into()],
        contexts,
        secrets: Default::default(),
        env: vec![],
        defaults_run: RunDefaults {
            shell: Some("bash".into()),
            working_directory: None,
        },
        steps: vec![
            step("echo \"stamp=$(date +%s.%N)\"", 0),
            step("psql -h \"${PGHOST:-127.0.0.1}\" -U postgres -tAc 'select 1' >/dev/null 2>&1 || true", 1),
        ],
        outputs: vec![],
        timeout_minutes: None,
        continue_on_error: false,
        workspace: WorkspaceSpec::default(),
        container: in_container.then(|| ContainerSpec {
            image: "gantry-test/debian:latest".into(),
            env: vec![("PGHOST".into(), "postgres".into())],
            ..ContainerSpec::default()
        }),
        services: vec![
            (
                "postgres".into(),
                ContainerSpec {
                    image: "gantry-test/postgres:latest".into(),
                    env: vec![("POSTGRES_PASSWORD".into(), "bench".into())],
                    options: Some("--health-cmd \"pg_isready -h 127.0.0.1 -U postgres\" --health-interval 1s --health-timeout 5s --health-retries 60".into()),
                    ..ContainerSpec::default()
                },
            ),
            (
                "redis".into(),
                ContainerSpec {
                    image: "gantry-test/redis:latest".into(),
                    options: Some("--health-cmd \"redis-cli ping\" --health-interval 1s --health-retries 60".into()),
                    ..ContainerSpec::default()
                },
            ),
        ],
    }
}

/// One engine event: when (ns since the epoch), what, and the container's name.
#[derive(Debug, Clone)]
struct EngineEvent {
    nanos: i64,
    action: String,
    name: String,
}

/// `docker events` for one run's containers, read on a thread until [`Events::stop`].
struct Events {
    child: std::process::Child,
    reader: std::thread::JoinHandle<()>,
    seen: Arc<Mutex<Vec<EngineEvent>>>,
}

impl Events {
    fn watch(run_id: &str) -> Events {
        // `--since` a second ago: the engine replays what happened before the subscription took.
        let since = format!("{:.3}", epoch_secs(SystemTime::now()) - 1.0);
        let mut child = Command::new("docker")
            .args(["events", "--since", &since, "--format", "{{json .}}"])
            .args(["--filter", "type=container"])
            .args(["--filter", &format!("label=gantry.run={run_id}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker events");
        let stdout = child.stdout.take().expect("piped stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let event = EngineEvent {
                    nanos: event["timeNano"].as_i64().unwrap_or(0),
                    action: event["Action"].as_str().unwrap_or("").to_owned(),
                    name: event["Actor"]["Attributes"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                };
                sink.lock().expect("events lock").push(event);
            }
        });
        Events {
            child,
            reader,
            seen,
        }
    }

    fn stop(mut self) -> Vec<EngineEvent> {
        // The last events (container removal) may still be on their way.
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.reader.join();
        let seen = self.seen.lock().expect("events lock").clone();
        seen
    }
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The figures of one run, in seconds since the epoch where they are times.
struct Sample {
    last_healthy: f64,
    first_service_start: f64,
    /// When the executor logged the last "Service '...' is healthy" line (its health poll).
    seen_healthy: f64,
    job_container_start: Option<f64>,
    step_started: f64,
    step_printed: f64,
    line_arrived: f64,
    total: f64,
}

fn run_once(
    runtime: &tokio::runtime::Runtime,
    executor: &HostExecutor,
    run_id: &str,
    in_container: bool,
) -> Result<Sample, String> {
    let events = Events::watch(run_id);
    let (tx, mut rx) = gantry_plan::flow::channel(usize::MAX);
    let started = Instant::now();
    let (result, step_started, seen_healthy, line) = runtime.block_on(async {
        let drain = tokio::spawn(async move {
            let mut step_started = None;
            let mut seen_healthy = None;
            let mut line = None;
            let mut lines = Vec::new();
            while let Some(event) = rx.recv().await {
                let now = SystemTime::now();
                match event {
                    JobEvent::StepStarted { index: 0, .. } => step_started = Some(now),
                    JobEvent::Log {
                        step: Some(0),
                        line: text,
                    } if line.is_none() && text.starts_with("stamp=") => {
                        line = Some((now, text));
                    }
                    JobEvent::Log { line: text, .. }
                        if text.starts_with("Service '") && text.ends_with("' is healthy") =>
                    {
                        seen_healthy = Some(now);
                    }
                    JobEvent::Log { line: text, .. } => lines.push(text),
                    _ => {}
                }
            }
            (step_started, seen_healthy, line, lines)
        });
        let result = executor
            .run_job(job(run_id, in_container), tx, CancellationToken::new())
            .await;
        let (step_started, seen_healthy, line, lines) = drain.await.unwrap_or_default();
        if result.conclusion != Conclusion::Success {
            let error = format!("{:?}: {}", result.error, lines.join("\n"));
            return (Err(error), None, None, None);
        }
        (Ok(()), step_started, seen_healthy, line)
    });
    let total = started.elapsed().as_secs_f64();
    let engine_events = events.stop();
    result?;
    let (line_arrived, text) = line.ok_or("no stamp line")?;
    let step_printed: f64 = text
        .trim_start_matches("stamp=")
        .parse()
        .map_err(|e| format!("{text}: {e}"))?;
    let secs = |e: &EngineEvent| e.nanos as f64 / 1e9;
    let healthy: Vec<&EngineEvent> = engine_events
        .iter()
        .filter(|e| e.action == "health_status: healthy")
        .collect();
    if healthy.len() != 2 {
        return Err(format!("expected 2 healthy events, saw {engine_events:#?}"));
    }
    let last_healthy = healthy.iter().map(|e| secs(e)).fold(f64::MIN, f64::max);
    let starts: Vec<&EngineEvent> = engine_events
        .iter()
        .filter(|e| e.action == "start")
        .collect();
    let first_service_start = starts
        .iter()
        .filter(|e| e.name.ends_with("-postgres") || e.name.ends_with("-redis"))
        .map(|e| secs(e))
        .fold(f64::MAX, f64::min);
    let job_container_start = starts
        .iter()
        .find(|e| !(e.name.ends_with("-postgres") || e.name.ends_with("-redis")))
        .map(|e| secs(e));
    Ok(Sample {
        last_healthy,
        first_service_start,
        seen_healthy: epoch_secs(seen_healthy.ok_or("no 'is healthy' line")?),
        job_container_start,
        step_started: epoch_secs(step_started.ok_or("no step started")?),
        step_printed,
        line_arrived: epoch_secs(line_arrived),
        total,
    })
}

fn main() {
    let runs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(DEFAULT_RUNS);
    let docker_ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    let images_ok = IMAGES.iter().all(|image| {
        Command::new("docker")
            .args(["image", "inspect", image])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !docker_ok || !images_ok {
        eprintln!("services bench needs the engine and test images: run scripts/docker-setup and scripts/build-test-images");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let executor = HostExecutor::new(HostExecutorOptions::new(dir.path().join("work")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ms = |s: f64| s * 1000.0;
    for (kind, in_container) in [("host job", false), ("container job", true)] {
        println!("{kind} with services postgres + redis ({runs} runs; ms after the last service reported healthy):");
        println!(
            "  {:>3} {:>12} {:>12} {:>13} {:>10} {:>8} {:>12} {:>9}",
            "run",
            "svc->healthy",
            "seen healthy",
            "job ctr start",
            "step start",
            "step ran",
            "line in sink",
            "job total"
        );
        let mut gaps = Vec::new();
        let mut totals = Vec::new();
        for i in 0..runs {
            let run_id = format!("bench{}-{}-{i}", std::process::id(), u8::from(in_container));
            match run_once(&runtime, &executor, &run_id, in_container) {
                Ok(s) => {
                    let after = |t: f64| ms(t - s.last_healthy);
                    println!(
                        "  {:>3} {:>12.0} {:>12.0} {:>13} {:>10.0} {:>8.0} {:>12.0} {:>9.0}",
                        i + 1,
                        ms(s.last_healthy - s.first_service_start),
                        after(s.seen_healthy),
                        s.job_container_start
                            .map(|t| format!("{:.0}", after(t)))
                            .unwrap_or_else(|| "-".to_owned()),
                        after(s.step_started),
                        after(s.step_printed),
                        after(s.line_arrived),
                        ms(s.total)
                    );
                    gaps.push(after(s.line_arrived));
                    totals.push(ms(s.total));
                }
                Err(e) => println!("  {:>3} failed: {e}", i + 1),
            }
        }
        if !gaps.is_empty() {
            let max = gaps.iter().copied().fold(f64::MIN, f64::max);
            println!(
                "  healthy -> first output line: median {:.0} ms, max {:.0} ms (target <= 1000 ms); job total median {:.0} ms",
                median(gaps),
                max,
                median(totals)
            );
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
