//! Real-engine tests: a per-run network with redis and postgres service containers (health checks,
//! DNS aliases, published ports), steps exec'd in a job container (streaming, exit codes, env,
//! working directory, bounded lines, cancellation), unhealthy services, missing images and gc.
//!
//! Needs a Docker engine (scripts/docker-setup) and the local test images
//! (scripts/build-test-images). Without them a test prints why and returns, except under `CI=true`,
//! where it fails. Each test labels its objects with its own run id and collects only those, so the
//! tests run in parallel without touching each other or anything else on the engine.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use gantry_docker::{
    labels, parse_options, ContainerSpec, DockerError, Engine, ExecSpec, Health, ImageSource,
    OutputLine, OutputStream, PortSpec, PullPolicy,
};
use tokio_util::sync::CancellationToken;

const BUSYBOX: &str = "gantry-test/busybox:latest";
const DEBIAN: &str = "gantry-test/debian:latest";
const POSTGRES: &str = "gantry-test/postgres:latest";
const REDIS: &str = "gantry-test/redis:latest";

/// The engine, with `images` present; `None` (after saying why) when a prerequisite is missing
/// outside CI. Under `CI=true` a missing prerequisite fails the test.
async fn engine_with(images: &[&str]) -> Option<Engine> {
    let missing = |reason: String| {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and {reason}: run scripts/docker-setup and scripts/build-test-images first");
        }
        eprintln!("skipping Docker test: {reason}");
        None
    };
    let engine = match Engine::connect().await {
        Ok(engine) => engine,
        Err(error) => return missing(error.to_string()),
    };
    for image in images {
        if engine.client().inspect_image(image).await.is_err() {
            return missing(format!("test image {image} is missing"));
        }
    }
    Some(engine)
}

/// A run id unique to this test process and test.
fn run_id(test: &str) -> String {
    format!("test-{}-{test}", std::process::id())
}

/// A job container that idles until removed, like the runner's `tail -f /dev/null`, with an init
/// process that reaps what a cancelled step leaves behind.
fn job_container(run: &str, image: &str, network: Option<&str>) -> ContainerSpec {
    let options = gantry_docker::ContainerOptions {
        init: true,
        ..Default::default()
    };
    ContainerSpec {
        options,
        name: labels::job_container_name(run, "job"),
        image: image.to_string(),
        run_id: run.to_string(),
        job_key: Some(String::from("job")),
        network: network.map(str::to_string),
        entrypoint: Some(vec![String::from("tail")]),
        cmd: Some(vec![String::from("-f"), String::from("/dev/null")]),
        ..Default::default()
    }
}

/// (exit code, stdout lines, stderr lines) of a finished command.
fn by_stream(exit_code: i64, lines: &[OutputLine]) -> (i64, Vec<String>, Vec<String>) {
    let pick = |stream| {
        lines
            .iter()
            .filter(|line| line.stream == stream)
            .map(|line| line.text.clone())
            .collect::<Vec<_>>()
    };
    (
        exit_code,
        pick(OutputStream::Stdout),
        pick(OutputStream::Stderr),
    )
}

/// Runs `cmd` and returns (exit code, stdout lines, stderr lines).
async fn exec(engine: &Engine, container: &str, spec: ExecSpec) -> (i64, Vec<String>, Vec<String>) {
    let mut lines: Vec<OutputLine> = Vec::new();
    let outcome = engine
        .exec(
            container,
            &spec,
            &mut |line| lines.push(line),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(!outcome.cancelled);
    by_stream(outcome.exit_code.unwrap(), &lines)
}

fn sh(script: &str) -> ExecSpec {
    ExecSpec::new(["sh", "-c", script])
}

/// Removes this test's objects and checks nothing labelled with its run id is left.
async fn collect(engine: &Engine, run: &str) -> gantry_docker::GcReport {
    let report = engine.gc(Some(run)).await.unwrap();
    let again = engine.gc(Some(run)).await.unwrap();
    assert_eq!(again, Default::default(), "gc left objects of run {run}");
    report
}

#[tokio::test]
async fn services_on_a_run_network_answer_by_alias_and_on_published_ports() {
    let Some(engine) = engine_with(&[DEBIAN, POSTGRES, REDIS]).await else {
        return;
    };
    let run = run_id("services");
    let network = labels::network_name(&run);
    engine.create_network(&network, &run).await.unwrap();

    let service = |key: &str, image: &str, options: &str, env: &[(&str, &str)], port: &str| {
        let mut spec = ContainerSpec {
            name: labels::service_container_name(&run, "job", key),
            image: image.to_string(),
            run_id: run.clone(),
            job_key: Some(String::from("job")),
            service: Some(key.to_string()),
            env: env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            ports: vec![PortSpec::parse(port).unwrap()],
            network: Some(network.clone()),
            aliases: vec![key.to_string()],
            ..Default::default()
        };
        spec.apply_options(parse_options(options).unwrap()).unwrap();
        spec
    };
    let redis = service(
        "redis",
        REDIS,
        "--health-cmd 'redis-cli ping' --health-interval 500ms --health-timeout 5s --health-retries 20",
        &[],
        "127.0.0.1::6379",
    );
    let postgres = service(
        "postgres",
        POSTGRES,
        r#"--health-cmd "pg_isready -U gantry" --health-interval 500ms --health-timeout 5s --health-retries 40"#,
        &[
            ("POSTGRES_USER", "gantry"),
            ("POSTGRES_PASSWORD", "secret"),
            ("POSTGRES_DB", "app"),
        ],
        "5432",
    );
    let (redis, postgres) = tokio::join!(
        engine.start_container(&redis),
        engine.start_container(&postgres)
    );
    let (redis, postgres) = (redis.unwrap(), postgres.unwrap());
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let (redis_health, postgres_health) = tokio::join!(
        engine.wait_healthy(&redis.id, Duration::from_secs(60), &cancel),
        engine.wait_healthy(&postgres.id, Duration::from_secs(60), &cancel)
    );
    assert_eq!(redis_health.unwrap(), Health::Healthy);
    assert_eq!(postgres_health.unwrap(), Health::Healthy);
    eprintln!("services healthy after {:?}", started.elapsed());

    // Published ports: redis answers PING from the host through its mapped port.
    assert_eq!(redis.ports.len(), 1, "{:?}", redis.ports);
    assert_eq!(
        (
            redis.ports[0].container_port,
            redis.ports[0].host_ip.as_str()
        ),
        (6379, "127.0.0.1")
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", redis.ports[0].host_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+PONG\r\n");
    let postgres_port = postgres
        .ports
        .iter()
        .find(|port| !port.host_ip.contains(':'))
        .unwrap();
    assert_eq!(postgres_port.container_port, 5432);
    std::net::TcpStream::connect(("127.0.0.1", postgres_port.host_port)).unwrap();

    // A job container on the same network reaches the services by their keys.
    let job = engine
        .start_container(&job_container(&run, DEBIAN, Some(&network)))
        .await
        .unwrap();
    let (code, out, _) = exec(
        &engine,
        &job.id,
        ExecSpec::new(["redis-cli", "-h", "redis", "ping"]),
    )
    .await;
    assert_eq!((code, out), (0, vec![String::from("PONG")]));
    let (code, out, _) = exec(
        &engine,
        &job.id,
        ExecSpec::new(["pg_isready", "-h", "postgres", "-U", "gantry"]),
    )
    .await;
    assert_eq!(
        (code, out),
        (
            0,
            vec![String::from("postgres:5432 - accepting connections")]
        )
    );
    let mut psql = ExecSpec::new([
        "psql", "-h", "postgres", "-U", "gantry", "-d", "app", "-tA", "-c", "select 1",
    ]);
    psql.env
        .push((String::from("PGPASSWORD"), String::from("secret")));
    let (code, out, err) = exec(&engine, &job.id, psql).await;
    assert_eq!((code, out, err), (0, vec![String::from("1")], vec![]));

    let report = collect(&engine, &run).await;
    let mut containers = report.containers.clone();
    containers.sort();
    assert_eq!(
        containers,
        vec![
            labels::job_container_name(&run, "job"),
            labels::service_container_name(&run, "job", "postgres"),
            labels::service_container_name(&run, "job", "redis"),
        ]
    );
    assert_eq!(report.networks, vec![network]);
}

#[tokio::test]
async fn exec_streams_lines_and_returns_exit_codes() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("exec");
    let job = engine
        .start_container(&job_container(&run, BUSYBOX, None))
        .await
        .unwrap();

    let (code, out, err) = exec(
        &engine,
        &job.id,
        sh("echo out; echo err >&2; echo two; printf partial; exit 3"),
    )
    .await;
    assert_eq!(code, 3);
    assert_eq!(out, vec!["out", "two", "partial"]);
    assert_eq!(err, vec!["err"]);

    let mut spec = sh("echo \"$FOO\"; pwd; id -u");
    spec.env
        .push((String::from("FOO"), String::from("bar baz")));
    spec.working_dir = Some(String::from("/tmp"));
    spec.user = Some(String::from("65534"));
    let (code, out, _) = exec(&engine, &job.id, spec).await;
    assert_eq!(
        (code, out),
        (
            0,
            vec![
                String::from("bar baz"),
                String::from("/tmp"),
                String::from("65534")
            ]
        )
    );

    // Lines are bounded: 10,000 bytes without a newline come out as pieces of at most 1,000.
    let mut spec = sh("head -c 10000 /dev/zero | tr '\\0' a; echo; echo after");
    spec.max_line_bytes = 1000;
    let (code, out, _) = exec(&engine, &job.id, spec).await;
    assert_eq!(code, 0);
    assert_eq!(
        out.len(),
        11,
        "{:?}",
        out.iter().map(String::len).collect::<Vec<_>>()
    );
    assert!(out[..10]
        .iter()
        .all(|line| line.len() == 1000 && line.bytes().all(|b| b == b'a')));
    assert_eq!(out[10], "after");

    let (code, _, _) = exec(&engine, &job.id, ExecSpec::new(["true"])).await;
    assert_eq!(code, 0);
    let (code, _, _) = exec(&engine, &job.id, ExecSpec::new(["false"])).await;
    assert_eq!(code, 1);
    // A command that does not exist fails like a shell's: 126 or 127, depending on the engine.
    let (code, _, _) = exec(&engine, &job.id, ExecSpec::new(["/no/such/command"])).await;
    assert!(code == 126 || code == 127, "exit code {code}");

    collect(&engine, &run).await;
}

#[tokio::test]
async fn cancellation_kills_a_long_exec_and_what_it_started() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("cancel");
    let job = engine
        .start_container(&job_container(&run, BUSYBOX, None))
        .await
        .unwrap();

    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        trigger.cancel();
    });
    let mut lines = Vec::new();
    let started = Instant::now();
    let outcome = engine
        .exec(
            &job.id,
            &sh("echo started; sleep 300 & sleep 301; echo never"),
            &mut |line| lines.push(line.text),
            &cancel,
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(outcome.cancelled);
    assert_eq!(outcome.exit_code, Some(137));
    assert_eq!(lines, vec!["started"]);
    assert!(
        elapsed < Duration::from_secs(10),
        "cancellation took {elapsed:?}"
    );
    // The background sleep went too (and the init process reaped both).
    let (code, out, _) = exec(
        &engine,
        &job.id,
        sh("ps -o comm | grep -c '^sleep$' || true"),
    )
    .await;
    assert_eq!((code, out), (0, vec![String::from("0")]));

    collect(&engine, &run).await;
}

#[tokio::test]
async fn an_unhealthy_service_returns_its_health_log() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("unhealthy");
    let mut spec = job_container(&run, BUSYBOX, None);
    spec.service = Some(String::from("broken"));
    spec.apply_options(
        parse_options(
            "--health-cmd 'echo probe failed; exit 1' --health-interval 200ms --health-retries 2",
        )
        .unwrap(),
    )
    .unwrap();
    let container = engine.start_container(&spec).await.unwrap();
    let error = engine
        .wait_healthy(
            &container.id,
            Duration::from_secs(30),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    let DockerError::Unhealthy { log, .. } = &error else {
        panic!("expected unhealthy, got {error}")
    };
    assert!(log.len() >= 2, "{log:?}");
    assert!(log
        .iter()
        .all(|entry| entry.exit_code == 1 && entry.output.trim() == "probe failed"));
    let message = error.to_string();
    assert!(
        message.contains("is unhealthy; health check log:\n  exit code 1: probe failed"),
        "{message}"
    );

    // A service that exits before it is healthy reports its exit code and log.
    let mut spec = job_container(&run, BUSYBOX, None);
    spec.name.push_str("-exits");
    spec.entrypoint = Some(vec![String::from("sh"), String::from("-c")]);
    spec.cmd = Some(vec![String::from("echo cannot start; exit 4")]);
    spec.apply_options(parse_options("--health-cmd true --health-interval 1s").unwrap())
        .unwrap();
    let container = engine.start_container(&spec).await.unwrap();
    let error = engine
        .wait_healthy(
            &container.id,
            Duration::from_secs(30),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, DockerError::ExitedBeforeHealthy { exit_code: 4, logs, .. } if logs.contains("cannot start")),
        "{error}"
    );

    // Without a health check, a running container is all there is to wait for.
    let plain = engine
        .start_container(&job_container(&format!("{run}-plain"), BUSYBOX, None))
        .await
        .unwrap();
    let health = engine
        .wait_healthy(&plain.id, Duration::from_secs(5), &CancellationToken::new())
        .await;
    assert_eq!(health.unwrap(), Health::NoHealthCheck);
    collect(&engine, &format!("{run}-plain")).await;

    let report = collect(&engine, &run).await;
    assert_eq!(report.containers.len(), 2, "{report:?}");
}

#[tokio::test]
async fn images_follow_the_pull_policy_and_a_missing_one_says_what_was_tried() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let ensure = |image: &'static str, policy: PullPolicy| {
        let engine = engine.clone();
        async move {
            engine
                .ensure_image(image, policy, None, Duration::from_secs(30))
                .await
        }
    };
    assert_eq!(
        ensure(BUSYBOX, PullPolicy::Missing).await.unwrap(),
        ImageSource::Local
    );
    assert_eq!(
        ensure(BUSYBOX, PullPolicy::Never).await.unwrap(),
        ImageSource::Local
    );
    // The test image exists in no registry (and there may be no registry at all): the pull
    // fails, the local copy is used and the reason is kept.
    let ImageSource::LocalAfterFailedPull(reason) =
        ensure(BUSYBOX, PullPolicy::Always).await.unwrap()
    else {
        panic!("a local-only image cannot have been pulled");
    };
    assert!(!reason.is_empty());
    // Asked again through the same engine value: the answer is remembered, not pulled again.
    assert_eq!(
        ensure(BUSYBOX, PullPolicy::Always).await.unwrap(),
        ImageSource::LocalAfterFailedPull(reason)
    );

    // A registry on a closed local port: the pull is refused at once, and nothing leaves the machine.
    for policy in [PullPolicy::Always, PullPolicy::Missing] {
        let message = ensure("localhost:1/gantry-missing:15", policy)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(r#"image "localhost:1/gantry-missing:15" is not present locally and could not be pulled: "#),
            "{message}"
        );
        assert!(message.contains("localhost:1"), "{message}");
    }
    let message = ensure("localhost:1/gantry-missing:15", PullPolicy::Never)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        r#"image "localhost:1/gantry-missing:15" is not present locally and could not be pulled: pulling is turned off (pull policy never)"#
    );
}

#[tokio::test]
async fn a_registry_that_does_not_answer_falls_back_to_the_local_copy() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    // Accepts connections and never answers (a network that swallows packets).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let image = format!("localhost:{port}/gantry-silent:1");
    engine
        .client()
        .tag_image(
            BUSYBOX,
            Some(bollard::query_parameters::TagImageOptions {
                repo: Some(format!("localhost:{port}/gantry-silent")),
                tag: Some("1".into()),
            }),
        )
        .await
        .unwrap();
    let source = engine
        .ensure_image(&image, PullPolicy::Always, None, Duration::from_secs(2))
        .await;
    let _ = engine
        .client()
        .remove_image(
            &image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
    let Ok(ImageSource::LocalAfterFailedPull(reason)) = source else {
        panic!("expected the local copy after a silent registry, got {source:?}");
    };
    assert!(
        reason.contains("sent nothing") || reason.contains("did not finish"),
        "{reason}"
    );
}

#[tokio::test]
async fn gc_removes_containers_networks_and_volumes_of_a_run() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("gc");
    let network = labels::network_name(&run);
    engine.create_network(&network, &run).await.unwrap();
    let volume = format!("{network}-data");
    engine
        .client()
        .create_volume(bollard::models::VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(labels::labels(&run, None, None)),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut spec = job_container(&run, BUSYBOX, Some(&network));
    spec.binds.push(format!("{volume}:/data"));
    engine.start_container(&spec).await.unwrap();
    // A stopped container is collected too.
    let mut stopped = job_container(&run, BUSYBOX, None);
    stopped.name.push_str("-stopped");
    let stopped = engine.start_container(&stopped).await.unwrap();
    engine
        .stop_container(&stopped.id, Duration::ZERO)
        .await
        .unwrap();

    let report = collect(&engine, &run).await;
    assert_eq!(report.containers.len(), 2, "{report:?}");
    assert_eq!(report.networks, vec![network]);
    assert_eq!(report.volumes, vec![volume]);
}

#[tokio::test]
async fn no_engine_is_a_typed_error() {
    let error = match Engine::connect_to("unix:///nonexistent/docker.sock").await {
        Ok(_) => panic!("connected to a socket that does not exist"),
        Err(error) => error,
    };
    assert!(
        matches!(error, DockerError::NotReachable { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("no docker engine answers at unix:///nonexistent/docker.sock"),
        "{error}"
    );
}

/// Runs `spec` to its end; returns the outcome and the (stream, text) lines.
async fn run_to_end(
    engine: &Engine,
    spec: &ContainerSpec,
    cancel: &CancellationToken,
) -> (gantry_docker::ExecOutcome, Vec<(OutputStream, String)>) {
    let mut lines = Vec::new();
    let outcome = engine
        .run_to_end(
            spec,
            &mut |line| lines.push((line.stream, line.text)),
            cancel,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    (outcome, lines)
}

/// A container that runs `script` with busybox's sh.
fn script_container(run: &str, name: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        name: format!("gantry-{run}-{name}"),
        image: BUSYBOX.to_string(),
        run_id: run.to_string(),
        entrypoint: Some(vec![String::from("sh"), String::from("-c")]),
        cmd: Some(vec![script.to_string()]),
        ..Default::default()
    }
}

async fn container_exists(engine: &Engine, name: &str) -> bool {
    engine.client().inspect_container(name, None).await.is_ok()
}

#[tokio::test]
async fn run_to_end_streams_output_returns_the_exit_code_and_removes_the_container() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("run-to-end");
    let mut spec = script_container(
        &run,
        "step",
        "echo out; echo err >&2; echo \"$GREETING\"; printf partial; exit 7",
    );
    spec.env
        .push((String::from("GREETING"), String::from("hello world")));
    let (outcome, lines) = run_to_end(&engine, &spec, &CancellationToken::new()).await;
    assert_eq!(outcome.exit_code, Some(7));
    assert!(!outcome.cancelled);
    let pick = |stream| {
        lines
            .iter()
            .filter(|(line_stream, _)| *line_stream == stream)
            .map(|(_, text)| text.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pick(OutputStream::Stdout),
        ["out", "hello world", "partial"]
    );
    assert_eq!(pick(OutputStream::Stderr), ["err"]);
    assert!(!container_exists(&engine, &spec.name).await);

    let spec = script_container(&run, "ok", "true");
    let (outcome, lines) = run_to_end(&engine, &spec, &CancellationToken::new()).await;
    assert_eq!((outcome.exit_code, lines.len()), (Some(0), 0));

    // A start failure (no such command) is an error, and the container is gone all the same.
    let mut spec = script_container(&run, "broken", "true");
    spec.entrypoint = Some(vec![String::from("/no/such/command")]);
    let error = engine
        .run_to_end(
            &spec,
            &mut |_| {},
            &CancellationToken::new(),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().starts_with("starting container"),
        "{error}"
    );
    assert!(!container_exists(&engine, &spec.name).await);

    // Cancellation stops a container that ignores SIGTERM: killed after the grace.
    let spec = script_container(
        &run,
        "cancel",
        "trap '' TERM; echo started; sleep 300 & wait; echo never",
    );
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let (outcome, lines) = run_to_end(&engine, &spec, &cancel).await;
    let elapsed = started.elapsed();
    assert!(outcome.cancelled);
    assert_eq!(outcome.exit_code, Some(137));
    assert_eq!(lines, [(OutputStream::Stdout, String::from("started"))]);
    assert!(
        elapsed < Duration::from_secs(8),
        "cancellation took {elapsed:?}"
    );
    assert!(!container_exists(&engine, &spec.name).await);

    assert_eq!(collect(&engine, &run).await, Default::default());
}

#[tokio::test]
async fn build_image_builds_a_context_with_build_args_and_reports_failures() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("build");
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("hello.txt"), "hello from the context\n").unwrap();
    std::fs::write(context.path().join("ignored.txt"), "not sent\n").unwrap();
    std::fs::write(context.path().join(".dockerignore"), "ignored.txt\n").unwrap();
    std::fs::create_dir(context.path().join("docker")).unwrap();
    std::fs::write(
        context.path().join("docker/Dockerfile"),
        format!(
            "FROM {BUSYBOX}\nARG GREETING=none\nCOPY hello.txt /hello.txt\nCOPY . /context/\nRUN echo \"$GREETING\" > /greeting\nCMD [\"sh\", \"-c\", \"cat /hello.txt /greeting; ls -A /context\"]\n"
        ),
    )
    .unwrap();
    let args = vec![(String::from("GREETING"), String::from("built with args"))];
    let hash =
        gantry_docker::context_hash(context.path(), Some("docker/Dockerfile"), &args).unwrap();
    let tag = format!("gantry-action/test-{}:{}", std::process::id(), &hash[..12]);
    assert!(!engine.image_exists(&tag).await.unwrap());

    let mut output = Vec::new();
    engine
        .build_image(
            context.path(),
            Some("docker/Dockerfile"),
            &tag,
            &args,
            &mut |fragment| output.push(fragment.text),
        )
        .await
        .unwrap();
    assert!(engine.image_exists(&tag).await.unwrap());
    assert!(
        output.iter().any(|line| line.contains("COPY hello.txt")),
        "{output:#?}"
    );
    let spec = ContainerSpec {
        name: format!("gantry-{run}-built"),
        image: tag.clone(),
        run_id: run.clone(),
        ..Default::default()
    };
    let (outcome, lines) = run_to_end(&engine, &spec, &CancellationToken::new()).await;
    assert_eq!(outcome.exit_code, Some(0));
    let texts: Vec<&str> = lines.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "hello from the context",
            "built with args",
            ".dockerignore",
            "docker",
            "hello.txt"
        ]
    );

    // A failing step: a typed error with the engine's message and the output before it.
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {BUSYBOX}\nRUN echo about to fail && exit 3\n"),
    )
    .unwrap();
    let failing_tag = format!("gantry-action/test-{}:failing", std::process::id());
    let error = engine
        .build_image(context.path(), None, &failing_tag, &[], &mut |_| {})
        .await
        .unwrap_err();
    let DockerError::BuildFailed {
        message,
        last_lines,
        ..
    } = &error
    else {
        panic!("expected a build failure, got {error}")
    };
    assert!(message.contains("returned a non-zero code: 3"), "{message}");
    assert!(
        last_lines.iter().any(|line| line == "about to fail"),
        "{last_lines:#?}"
    );
    assert!(!engine.image_exists(&failing_tag).await.unwrap());

    // A Dockerfile outside the context is refused before anything is sent.
    let error = engine
        .build_image(
            context.path(),
            Some("../Dockerfile"),
            &failing_tag,
            &[],
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(error, DockerError::InvalidSpec { .. }), "{error}");

    // What Gantry builds is labelled, and `gc_images` removes it (its container is gone).
    let labels = engine
        .client()
        .inspect_image(&tag)
        .await
        .unwrap()
        .config
        .and_then(|c| c.labels)
        .unwrap_or_default();
    assert_eq!(
        labels.get("gantry.managed").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        labels.get("gantry.built").map(String::as_str),
        Some("action")
    );
    collect(&engine, &run).await;
    let report = engine.gc_images().await.unwrap();
    assert!(report.images.contains(&tag), "{report:?}");
    assert!(!engine.image_exists(&tag).await.unwrap());
    // The test images, which Gantry did not build, stay.
    assert!(engine.image_exists(BUSYBOX).await.unwrap());
}

#[tokio::test]
async fn gc_stale_removes_only_what_a_dead_process_created() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("gc-stale");
    // A pid that no longer runs: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let mut dead_labels = labels::labels(&run, None, None);
    dead_labels.insert(labels::LABEL_PID.to_string(), dead_pid.to_string());

    let dead_network = format!("{}-dead", labels::network_name(&run));
    engine
        .client()
        .create_network(bollard::models::NetworkCreateRequest {
            name: dead_network.clone(),
            labels: Some(dead_labels.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut dead_container = job_container(&run, BUSYBOX, None).to_create_body();
    dead_container.labels = Some(dead_labels.clone());
    let dead_name = format!("{}-dead", labels::job_container_name(&run, "job"));
    engine
        .client()
        .create_container(
            Some(bollard::query_parameters::CreateContainerOptions {
                name: Some(dead_name.clone()),
                ..Default::default()
            }),
            dead_container,
        )
        .await
        .unwrap();
    // A reused pid: ours, but with another start time.
    let mut reused_labels = labels::labels(&run, None, None);
    reused_labels.insert(labels::LABEL_PID_START.to_string(), String::from("1"));
    let reused_network = format!("{}-reused", labels::network_name(&run));
    engine
        .client()
        .create_network(bollard::models::NetworkCreateRequest {
            name: reused_network.clone(),
            labels: Some(reused_labels),
            ..Default::default()
        })
        .await
        .unwrap();
    // Another host's objects stay, whatever their pid.
    let mut elsewhere_labels = dead_labels.clone();
    elsewhere_labels.insert(
        labels::LABEL_HOST.to_string(),
        String::from("elsewhere.invalid"),
    );
    let elsewhere_network = format!("{}-elsewhere", labels::network_name(&run));
    engine
        .client()
        .create_network(bollard::models::NetworkCreateRequest {
            name: elsewhere_network.clone(),
            labels: Some(elsewhere_labels),
            ..Default::default()
        })
        .await
        .unwrap();
    // Ours stay.
    let live_network = labels::network_name(&run);
    engine.create_network(&live_network, &run).await.unwrap();
    let live = engine
        .start_container(&job_container(&run, BUSYBOX, None))
        .await
        .unwrap();

    let mut report = engine.gc_stale_of(Some(&run)).await.unwrap();
    report.networks.sort();
    let mut expected_networks = vec![dead_network, reused_network];
    expected_networks.sort();
    assert_eq!(report.containers, vec![dead_name]);
    assert_eq!(report.networks, expected_networks);
    assert_eq!(
        engine.gc_stale_of(Some(&run)).await.unwrap(),
        Default::default()
    );
    assert!(container_exists(&engine, &live.id).await);

    let mut report = collect(&engine, &run).await;
    report.networks.sort();
    let mut kept = vec![live_network, elsewhere_network];
    kept.sort();
    assert_eq!(report.networks, kept);
    assert_eq!(report.containers.len(), 1);
}

#[tokio::test]
async fn a_taken_host_port_is_a_typed_error() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("port-in-use");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // Ports are published on a user-defined network (the engine may run without a default bridge).
    let network = labels::network_name(&run);
    engine.create_network(&network, &run).await.unwrap();
    let publish = |suffix: &str| {
        let mut spec = job_container(&run, BUSYBOX, Some(&network));
        spec.name.push_str(suffix);
        spec.ports
            .push(PortSpec::parse(&format!("127.0.0.1:{port}:80")).unwrap());
        spec
    };
    let first = engine.start_container(&publish("-first")).await.unwrap();
    assert_eq!(first.ports[0].host_port, port);
    let second = publish("-second");
    let error = engine.start_container(&second).await.unwrap_err();
    match &error {
        DockerError::PortInUse {
            port: taken,
            container,
            ..
        } => assert_eq!((*taken, container.as_str()), (port, second.name.as_str())),
        other => panic!("expected PortInUse, got {other}"),
    }
    assert!(
        error.to_string().contains(&format!(
            "cannot publish host port {port}: it is already in use"
        )),
        "{error}"
    );
    assert!(!container_exists(&engine, &second.name).await);
    let report = collect(&engine, &run).await;
    assert_eq!(report.containers.len(), 1);
}

/// Runs `spec` in `session`; returns (exit code, stdout lines, stderr lines).
async fn session_run(
    session: &mut gantry_docker::Session,
    spec: ExecSpec,
) -> (i64, Vec<String>, Vec<String>) {
    let mut lines: Vec<OutputLine> = Vec::new();
    let outcome = session
        .run(
            &spec,
            &mut |line| lines.push(line),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(!outcome.cancelled);
    by_stream(outcome.exit_code.unwrap(), &lines)
}

#[tokio::test]
async fn session_runs_steps_like_execs() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let run = run_id("session");
    let job = engine
        .start_container(&job_container(&run, BUSYBOX, None))
        .await
        .unwrap();
    let mut session = engine.open_session(&job.id, None).await.unwrap();

    let (code, out, err) = session_run(
        &mut session,
        sh("echo out; echo err >&2; echo two; printf partial; exit 3"),
    )
    .await;
    assert_eq!(
        (code, out, err),
        (3, vec![s("out"), s("two"), s("partial")], vec![s("err")])
    );

    // Empty lines are kept, trailing ones too; a step without output has no lines.
    let (code, out, err) = session_run(
        &mut session,
        sh("echo; echo a; echo; echo; echo b >&2; echo >&2"),
    )
    .await;
    assert_eq!(
        (code, out, err),
        (0, vec![s(""), s("a"), s(""), s("")], vec![s("b"), s("")])
    );
    let (code, out, err) = session_run(&mut session, ExecSpec::new(["true"])).await;
    assert_eq!((code, out.len(), err.len()), (0, 0, 0));

    // Env values with quotes, newlines and `$` arrive as they are; working directory; env is per step.
    let mut spec = sh("printf '%s|' \"$FOO\" \"$BAR\"; echo; pwd");
    spec.env.push((s("FOO"), s("it's $HOME `id`")));
    spec.env.push((s("BAR"), s("line one\nline two")));
    spec.working_dir = Some(s("/tmp"));
    let (code, out, _) = session_run(&mut session, spec).await;
    assert_eq!(
        (code, out),
        (
            0,
            vec![s("it's $HOME `id`|line one"), s("line two|"), s("/tmp")]
        )
    );
    let (_, out, _) = session_run(&mut session, sh("echo \"${FOO:-unset}\"; pwd")).await;
    assert_eq!(out, vec![s("unset"), s("/")]);
    // A step's stdin is empty, not the session's protocol.
    let (code, out, _) = session_run(&mut session, sh("cat; echo after")).await;
    assert_eq!((code, out), (0, vec![s("after")]));
    // Arguments are passed as words, not re-split.
    let (_, out, _) = session_run(&mut session, ExecSpec::new(["echo", "a  b", "c"])).await;
    assert_eq!(out, vec![s("a  b c")]);

    let (code, _, _) = session_run(&mut session, ExecSpec::new(["false"])).await;
    assert_eq!(code, 1);
    let (code, _, _) = session_run(&mut session, ExecSpec::new(["/no/such/command"])).await;
    assert!(code == 126 || code == 127, "exit code {code}");
    let mut missing_dir = ExecSpec::new(["true"]);
    missing_dir.working_dir = Some(s("/no/such/dir"));
    let (code, _, _) = session_run(&mut session, missing_dir).await;
    assert_ne!(code, 0);

    // Bounded lines, as with an exec.
    let mut spec = sh("head -c 10000 /dev/zero | tr '\\0' a; echo; echo after");
    spec.max_line_bytes = 1000;
    let (_, out, _) = session_run(&mut session, spec).await;
    assert_eq!(out.len(), 11);
    assert!(out[..10].iter().all(|line| line.len() == 1000));

    // What a session cannot express runs as a plain exec: another user, an env name that is no
    // shell identifier.
    let mut spec = sh("id -u; echo \"$PATH\" | grep -c bin");
    spec.user = Some(s("65534"));
    let (code, out, _) = session_run(&mut session, spec).await;
    assert_eq!((code, out), (0, vec![s("65534"), s("1")]));
    let mut spec = sh("tr '\\0' '\\n' </proc/$$/environ | grep -c '^ODD-NAME=1$'");
    spec.env.push((s("ODD-NAME"), s("1")));
    let (code, out, _) = session_run(&mut session, spec).await;
    assert_eq!((code, out), (0, vec![s("1")]));
    assert!(session.is_usable());

    // Cancellation kills the step and what it started; the session goes on.
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        trigger.cancel();
    });
    let mut lines = Vec::new();
    let started = Instant::now();
    let outcome = session
        .run(
            &sh("echo started; sleep 300 & sleep 301; echo never"),
            &mut |line| lines.push(line.text),
            &cancel,
        )
        .await
        .unwrap();
    assert!(outcome.cancelled);
    assert_eq!(outcome.exit_code, Some(137));
    assert_eq!(lines, vec![s("started")]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(session.is_usable());
    let (code, out, _) =
        session_run(&mut session, sh("ps -o comm | grep -c '^sleep$' || true")).await;
    assert_eq!((code, out), (0, vec![s("0")]));

    // Many quick steps: each one's output stays its own.
    let started = Instant::now();
    for index in 0..50 {
        let (code, out, _) = session_run(
            &mut session,
            sh(&format!("echo {index}; exit {}", index % 3)),
        )
        .await;
        assert_eq!((code, out), (index % 3, vec![index.to_string()]));
    }
    eprintln!("50 session steps in {:?}", started.elapsed());

    // A step whose future is dropped half way breaks the session; later steps run as execs.
    let slow = sh("echo begun; sleep 1; echo late");
    let never_cancelled = CancellationToken::new();
    let mut ignore = |_: OutputLine| {};
    let unfinished = session.run(&slow, &mut ignore, &never_cancelled);
    let waited = tokio::time::timeout(Duration::from_millis(200), unfinished).await;
    assert!(waited.is_err(), "the step ended within 200 ms");
    assert!(!session.is_usable());
    let (code, out, _) = session_run(&mut session, sh("echo fallback")).await;
    assert_eq!((code, out), (0, vec![s("fallback")]));

    // Dropping the session ends its shell.
    drop(session);
    let mut shells_left = Vec::new();
    for _ in 0..50 {
        let (_, out, _) = exec(
            &engine,
            &job.id,
            sh("ps -o args | grep -c '[g]antry_step' || true"),
        )
        .await;
        shells_left = out;
        if shells_left == [s("0")] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        shells_left,
        [s("0")],
        "the session shell outlived its session"
    );
    collect(&engine, &run).await;
}

fn s(text: &str) -> String {
    text.to_string()
}

#[tokio::test]
async fn session_works_with_debian_sh() {
    let Some(engine) = engine_with(&[DEBIAN]).await else {
        return;
    };
    let run = run_id("session-dash");
    let job = engine
        .start_container(&job_container(&run, DEBIAN, None))
        .await
        .unwrap();
    let mut session = engine.open_session(&job.id, None).await.unwrap();
    let mut spec = sh("printf '%s|' \"$FOO\"; echo; printf partial >&2; exit 4");
    spec.env.push((s("FOO"), s("it's\nmultiline $x")));
    let (code, out, err) = session_run(&mut session, spec).await;
    assert_eq!(
        (code, out, err),
        (4, vec![s("it's"), s("multiline $x|")], vec![s("partial")])
    );
    let cancel = CancellationToken::new();
    cancel.cancel();
    let mut lines = Vec::new();
    let outcome = session
        .run(&sh("sleep 300"), &mut |line| lines.push(line.text), &cancel)
        .await
        .unwrap();
    assert_eq!((outcome.exit_code, outcome.cancelled), (Some(137), true));
    assert_eq!(lines, Vec::<String>::new());
    let (code, out, _) = session_run(&mut session, ExecSpec::new(["echo", "still here"])).await;
    assert_eq!((code, out), (0, vec![s("still here")]));
    drop(session);

    // A session of another user runs its steps as that user; a step naming the same user stays in it.
    let mut nobody = engine.open_session(&job.id, Some("65534")).await.unwrap();
    let mut spec = ExecSpec::new(["id", "-u"]);
    spec.user = Some(s("65534"));
    let (code, out, _) = session_run(&mut nobody, spec).await;
    assert_eq!((code, out), (0, vec![s("65534")]));
    assert!(nobody.is_usable());
    collect(&engine, &run).await;
}
