//! End-to-end tests of jobs that use Docker: job containers and service containers on a real
//! engine, with the test images of scripts/build-test-images. Without an engine or the images a
//! test prints why and returns, except under `CI=true`, where that is a failure.

mod support;

use std::time::{Duration, Instant};

use gantry_docker::Engine;
use gantry_plan::{ContainerSpec, CredentialsSpec, JobSpec};
use support::*;
use tokio_util::sync::CancellationToken;

const BUSYBOX: &str = "gantry-test/busybox:latest";
const DEBIAN: &str = "gantry-test/debian:latest";
const REDIS: &str = "gantry-test/redis:latest";

/// The engine with `images` present, or `None` after saying why (a failure under `CI=true`).
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

/// A job spec with a run id unique to this test process and test.
fn docker_spec(test: &str, steps: Vec<gantry_plan::StepSpec>) -> JobSpec {
    let mut s = spec(steps);
    s.run_id = format!("t{}-{test}", std::process::id());
    s.job_key = test.to_owned();
    s.job_id = test.to_owned();
    s
}

/// Names of the containers and networks still labelled with `run_id`.
async fn leftovers(engine: &Engine, run_id: &str) -> Vec<String> {
    use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("gantry.run={run_id}")],
    )]);
    let mut names = Vec::new();
    let containers = engine
        .client()
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    for c in containers {
        names.extend(c.names.unwrap_or_default());
    }
    let networks = engine
        .client()
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap();
    for n in networks {
        names.extend(n.name);
    }
    names
}

#[tokio::test]
async fn container_job_runs_steps_with_github_paths_files_and_masking() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec(
        "paths",
        vec![
            step(
                "echo \"ws=$GITHUB_WORKSPACE pwd=$(pwd) temp=$RUNNER_TEMP home=$HOME\"\n\
                 echo \"ctx=${{ github.workspace }} ${{ runner.temp }}\"\n\
                 echo \"out=from-container\" >> \"$GITHUB_OUTPUT\"\n\
                 echo \"FROM_ENV=env-value\" >> \"$GITHUB_ENV\"\n\
                 mkdir -p /opt/tools && printf '#!/bin/sh\\necho tool-ran\\n' > /opt/tools/mytool && chmod +x /opt/tools/mytool\n\
                 echo /opt/tools >> \"$GITHUB_PATH\"\n\
                 echo \"the secret is $TOKEN\"\n\
                 echo written > made-in-container.txt",
            )
            .id("first")
            .env("TOKEN", "${{ secrets.TOKEN }}"),
            step("echo \"got=${{ steps.first.outputs.out }} env=$FROM_ENV file=$(cat made-in-container.txt)\"; mytool; test -e /etc/os-release || echo no-os-release"),
            step("exit 3"),
        ],
    );
    s.secrets.insert("TOKEN".into(), "s3cr3t-value".into());
    s.container = Some(ContainerSpec {
        env: pairs(&[("IN_CONTAINER", "yes")]),
        ..image(BUSYBOX)
    });
    let out = h.run(s.clone()).await;
    let logs = out.logs();
    assert!(
        out.has_line("ws=/__w/hello/hello pwd=/__w/hello/hello temp=/__w/_temp home=/github/home"),
        "{logs:#?}"
    );
    assert!(out.has_line("ctx=/__w/hello/hello /__w/_temp"), "{logs:#?}");
    assert!(out.has_line("the secret is ***"), "{logs:#?}");
    assert!(!out.all_text().contains("s3cr3t-value"));
    assert!(
        out.has_line("got=from-container env=env-value file=written"),
        "{logs:#?}"
    );
    assert!(out.has_line("tool-ran"), "{logs:#?}");
    // busybox has no bash: GitHub's container default is then sh.
    assert!(out.has_line("shell: sh -e {0}"), "{logs:#?}");
    assert!(out.has_line("##[error]Process completed with exit code 3."));
    assert_eq!(out.finished(), vec![(S, S), (S, S), (F, F)]);
    assert_eq!(out.result.conclusion, F);
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn checkout_in_a_container_job_fills_the_mounted_workspace() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let repo = h.path("repo");
    let sha = git_repo(&repo, &[("src/lib.rs", "pub fn x() {}")]);
    let mut s = docker_spec(
        "checkout",
        vec![
            uses("actions/checkout@v4", &[]),
            step("test -f src/lib.rs && echo found-in-$(pwd)"),
        ],
    );
    s.workspace = gantry_plan::WorkspaceSpec {
        source_path: repo.display().to_string(),
        sha: Some(sha.clone()),
        git_ref: Some("refs/heads/main".into()),
    };
    s.container = Some(image(BUSYBOX));
    let out = h.run(s.clone()).await;
    assert_eq!(out.result.conclusion, S, "{:#?}", out.logs());
    // The log names the path the steps see, not the host's.
    assert!(
        out.logs().iter().any(|l| l.starts_with("Checked out ")
            && l.ends_with(&format!("({sha}) into /__w/hello/hello"))),
        "{:#?}",
        out.logs()
    );
    assert!(
        out.has_line("found-in-/__w/hello/hello"),
        "{:#?}",
        out.logs()
    );
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn files_written_in_the_container_are_given_back_to_the_host_user() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut options = gantry_executor::HostExecutorOptions::new(dir.path().join("work"));
    options.keep_job_dirs = true;
    let h = Harness {
        executor: gantry_executor::HostExecutor::new(options),
        dir,
    };
    let mut s = docker_spec(
        "owner",
        vec![step("mkdir -p sub && echo x > sub/file && id -u")],
    );
    s.container = Some(image(BUSYBOX));
    let out = h.run(s.clone()).await;
    assert_eq!(out.result.conclusion, S, "{:#?}", out.logs());
    let file = walkdir::WalkDir::new(h.dir.path().join("work"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "file")
        .expect("the file the step wrote");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(file.path()).unwrap();
    let me = std::fs::metadata(h.dir.path()).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (me.uid(), me.gid()));
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_hung_step_in_a_container_is_killed_by_its_timeout() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec(
        "timeout",
        vec![
            step("sleep 60 & sleep 60").timeout("0.02").name("sleeper"),
            step("echo after; ps | grep -c '[s]leep 60' || true").when("always()"),
        ],
    );
    s.container = Some(image(BUSYBOX));
    let started = Instant::now();
    let out = h.run(s.clone()).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        out.has_line("##[error]The action 'sleeper' has timed out after 0.02 minutes."),
        "{:#?}",
        out.logs()
    );
    assert!(out.has_line("after"));
    // The bracket keeps grep from matching itself (whether ps sees the grep
    // before or after its exec is a race): no line means the sleeps died.
    assert!(out.has_line("0"), "{:#?}", out.logs());
    assert_eq!(out.finished()[0], (F, F));
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn cancelling_a_container_job_removes_its_containers() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec(
        "cancel",
        vec![
            step("echo started; sleep 60"),
            step("echo cleanup-ran").when("always()"),
        ],
    );
    s.container = Some(image(BUSYBOX));
    s.services = vec![(
        "side".into(),
        ContainerSpec {
            command: Some("sleep 300".into()),
            ..image(BUSYBOX)
        },
    )];
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        trigger.cancel();
    });
    let out = h.run_with_cancel(s.clone(), cancel).await;
    assert!(out.has_line("started"), "{:#?}", out.logs());
    assert!(out.has_line("cleanup-ran"), "{:#?}", out.logs());
    assert_eq!(out.result.conclusion, gantry_plan::Conclusion::Cancelled);
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn services_are_reached_by_name_from_the_job_container() {
    let Some(engine) = engine_with(&[DEBIAN, REDIS]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec(
        "byname",
        vec![step(
            "redis-cli -h redis set greeting hello-from-redis\n\
             echo \"value=$(redis-cli -h redis get greeting)\"\n\
             echo \"ports=[${{ job.services.redis.ports['6379'] }}] net=${{ job.services.redis.network != '' }} id=${{ job.container.id != '' }}\"",
        )],
    );
    s.container = Some(image(DEBIAN));
    s.services = vec![(
        "redis".into(),
        ContainerSpec {
            options: Some(
                "--health-cmd \"redis-cli ping\" --health-interval 500ms --health-retries 40"
                    .into(),
            ),
            ..image(REDIS)
        },
    )];
    let out = h.run(s.clone()).await;
    let logs = out.logs();
    assert!(out.has_line("value=hello-from-redis"), "{logs:#?}");
    assert!(out.has_line("Service 'redis' is healthy"), "{logs:#?}");
    assert!(out.has_line("ports=[] net=true id=true"), "{logs:#?}");
    // GitHub's default shell in an image with bash.
    assert!(out.has_line("shell: bash -e {0}"), "{logs:#?}");
    assert_eq!(out.result.conclusion, S);
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_host_job_reaches_its_services_through_published_ports() {
    let Some(engine) = engine_with(&[REDIS]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec(
        "hostports",
        vec![step(
            "port=${{ job.services.redis.ports['6379'] }}\n\
             exec 3<>/dev/tcp/127.0.0.1/$port\n\
             printf 'PING\\r\\n' >&3\n\
             read -r reply <&3\n\
             echo \"reply=${reply%$'\\r'}\"",
        )
        .shell("bash")],
    );
    s.services = vec![(
        "redis".into(),
        ContainerSpec {
            ports: vec!["6379".into()],
            options: Some(
                "--health-cmd \"redis-cli ping\" --health-interval 500ms --health-retries 40"
                    .into(),
            ),
            ..image(REDIS)
        },
    )];
    let out = h.run(s.clone()).await;
    assert!(out.has_line("reply=+PONG"), "{:#?}", out.logs());
    assert_eq!(out.result.conclusion, S);
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn jobs_publishing_the_same_host_port_take_turns() {
    // On GitHub each job has its own machine, so two jobs may both publish 18931:18931; on one
    // host the second waits for the first instead of failing on a port conflict.
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let spec = |name: &str| {
        let mut s = docker_spec(name, vec![step("sleep 1; echo done")]);
        s.services = vec![(
            "web".into(),
            ContainerSpec {
                command: Some("sleep 300".into()),
                ports: vec!["18931:18931".into()],
                ..image(BUSYBOX)
            },
        )];
        s
    };
    let (a, b) = (spec("porta"), spec("portb"));
    let (out_a, out_b) = tokio::join!(h.run(a.clone()), h.run(b.clone()));
    for out in [&out_a, &out_b] {
        assert_eq!(out.result.conclusion, S, "{:#?}", out.logs());
        assert!(out.has_line("done"));
    }
    let waited = [&out_a, &out_b]
        .iter()
        .filter(|o| o.has_line("Waiting for host port 18931/tcp: another job publishes it"))
        .count();
    assert_eq!(waited, 1, "{:#?}\n{:#?}", out_a.logs(), out_b.logs());
    assert_eq!(leftovers(&engine, &a.run_id).await, Vec::<String>::new());
    assert_eq!(leftovers(&engine, &b.run_id).await, Vec::<String>::new());
}

/// A registry on a local port that asks for a login and records the `Authorization` headers it
/// is sent (then answers 404: it has no images).
fn fake_registry() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        auth = Some(value.trim().to_owned());
                    }
                }
            }
            let reply = match auth {
                Some(auth) => {
                    record.lock().unwrap().push(auth);
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                }
                None => "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (port, seen)
}

#[tokio::test]
async fn container_credentials_are_sent_to_the_registry_and_masked() {
    let Some(engine) = engine_with(&[]).await else {
        return;
    };
    let (port, seen) = fake_registry();
    let h = Harness::new();
    let mut s = docker_spec("creds", vec![step("echo should-not-run")]);
    s.secrets
        .insert("REGISTRY_PASSWORD".into(), "s3cr3t-pw".into());
    let image = format!("localhost:{port}/private/app:1");
    s.container = Some(ContainerSpec {
        image: image.clone(),
        credentials: Some(CredentialsSpec {
            username: Some("octo".into()),
            password: Some("${{ secrets.REGISTRY_PASSWORD }}".into()),
        }),
        ..ContainerSpec::default()
    });
    let out = h.run(s.clone()).await;
    assert_eq!(out.result.conclusion, F);
    assert!(!out.has_line("should-not-run"));
    let error = out.result.error.clone().unwrap_or_default();
    assert!(error.contains(&image), "{error}");
    // base64("octo:s3cr3t-pw"): the login reached the registry with the pull.
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|a| a == "Basic b2N0bzpzM2NyM3QtcHc="),
        "{:?}",
        seen.lock().unwrap()
    );
    assert!(!out.all_text().contains("s3cr3t-pw"));
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn an_unhealthy_service_fails_the_job_with_its_health_log() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec("unhealthy", vec![step("echo should-not-run")]);
    s.services = vec![(
        "db".into(),
        ContainerSpec {
            command: Some("sleep 300".into()),
            options: Some(
                "--health-cmd \"echo db-is-sick; exit 1\" --health-interval 200ms --health-retries 2"
                    .into(),
            ),
            ..image(BUSYBOX)
        },
    )];
    let out = h.run(s.clone()).await;
    let text = out.all_text();
    assert!(!out.has_line("should-not-run"));
    assert_eq!(out.result.conclusion, F);
    let error = out.result.error.clone().unwrap_or_default();
    assert!(
        error.contains("service 'db'") && error.contains("unhealthy"),
        "{error}"
    );
    assert!(text.contains("db-is-sick"), "{text}");
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_missing_image_is_named_with_what_was_tried() {
    let Some(engine) = engine_with(&[]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec("missing", vec![step("echo should-not-run")]);
    s.container = Some(image("gantry-test/no-such-image:1"));
    let out = h.run(s.clone()).await;
    assert_eq!(out.result.conclusion, F);
    let error = out.result.error.clone().unwrap_or_default();
    assert!(
        error.contains("gantry-test/no-such-image:1") && error.contains("not present locally"),
        "{error}"
    );
    assert!(!out.has_line("should-not-run"));
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_runs_on_label_mapped_to_an_image_runs_the_job_in_it() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut options = gantry_executor::HostExecutorOptions::new(dir.path().join("work"));
    options.platforms = vec![(
        "ubuntu-latest".into(),
        gantry_executor::Platform::Docker(BUSYBOX.into()),
    )];
    let h = Harness {
        executor: gantry_executor::HostExecutor::new(options),
        dir,
    };
    let s = docker_spec("platform", vec![step("echo \"ws=$GITHUB_WORKSPACE\"")]);
    let out = h.run(s.clone()).await;
    assert!(out.has_line("ws=/__w/hello/hello"), "{:#?}", out.logs());
    assert_eq!(out.result.conclusion, S);
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn an_invalid_container_option_fails_the_job_before_anything_starts() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec("badoption", vec![step("echo should-not-run")]);
    s.container = Some(ContainerSpec {
        options: Some("--no-such-flag 1".into()),
        ..image(BUSYBOX)
    });
    let out = h.run(s.clone()).await;
    assert_eq!(out.result.conclusion, F);
    let error = out.result.error.clone().unwrap_or_default();
    assert!(
        error.contains("container.options") && error.contains("--no-such-flag"),
        "{error}"
    );
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn docker_action_from_an_image_runs_with_github_mounts() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let s = docker_spec(
        "dockeruses",
        vec![
            uses(
                "docker://gantry-test/busybox:latest",
                &[(
                    "args",
                    "sh -c 'echo ws=$GITHUB_WORKSPACE pwd=$(pwd) input=$INPUT_ARGS_SEEN home=$HOME; echo out=from-docker >> $GITHUB_OUTPUT; echo $TOKEN'",
                )],
            )
            .id("d")
            .env("TOKEN", "${{ secrets.TOKEN }}"),
            step("echo \"got=${{ steps.d.outputs.out }}\""),
        ],
    );
    let mut s = s;
    s.secrets.insert("TOKEN".into(), "docker-secret-1".into());
    let out = h.run(s.clone()).await;
    let logs = out.logs();
    assert!(
        out.has_line("ws=/github/workspace pwd=/github/workspace input= home=/github/home"),
        "{logs:#?}"
    );
    assert!(out.has_line("***"), "{logs:#?}");
    assert!(!out.all_text().contains("docker-secret-1"));
    assert!(out.has_line("got=from-docker"), "{logs:#?}");
    assert_eq!(out.result.conclusion, S);
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn docker_action_with_a_dockerfile_is_built_once_and_gets_inputs() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let dir = h.path("actions/octo/greet/v1");
    std::fs::create_dir_all(&dir).unwrap();
    let stamp = format!("{}", std::process::id());
    std::fs::write(
        dir.join("action.yml"),
        "name: greet\ninputs:\n  who:\n    default: world\nruns:\n  using: docker\n  image: Dockerfile\n  args: ['${{ inputs.who }}']\n  env:\n    GREETING: hello\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {BUSYBOX}\nLABEL stamp={stamp}\nCOPY entry.sh /entry.sh\nENTRYPOINT [\"sh\", \"/entry.sh\"]\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("entry.sh"),
        "echo \"$GREETING $1 input=$INPUT_WHO\"\necho said=yes >> \"$GITHUB_OUTPUT\"\n",
    )
    .unwrap();
    let job = |key: &str| {
        docker_spec(
            key,
            vec![
                uses("octo/greet@v1", &[("who", "gantry")]).id("g"),
                step("echo \"said=${{ steps.g.outputs.said }}\""),
            ],
        )
    };
    let first = h.run(job("greet1")).await;
    assert!(
        first.has_line("hello gantry input=gantry"),
        "{:#?}",
        first.logs()
    );
    assert!(first.has_line("said=yes"), "{:#?}", first.logs());
    assert_eq!(first.result.conclusion, S);
    let second = h.run(job("greet2")).await;
    assert!(
        second.logs().iter().any(|l| l.contains("built earlier")),
        "{:#?}",
        second.logs()
    );
    assert!(second.has_line("hello gantry input=gantry"));
    assert_eq!(
        leftovers(&engine, &job("greet1").run_id).await,
        Vec::<String>::new()
    );
    // Named after the action (`octo/greet`), not its ref; this test's image goes with it.
    let tag = first
        .logs()
        .iter()
        .find_map(|l| {
            l.strip_prefix("##[group]Building ")?
                .split(' ')
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    assert!(tag.starts_with("gantry-action/octo-greet:"), "{tag}");
    engine
        .client()
        .remove_image(
            &tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
}

/// Prints, for each length `n`, `n` letters, the secret `SECRETVALUE` and 1,000 more letters on one
/// line, on stdout (`a…b`) and on stderr (`c…d`): the secret straddles, starts at or ends at the
/// 64 KiB piece boundaries of the line reader.
const SECRET_ACROSS_CUTS: &str = "for n in 65530 65535 65536 131070; do \
    head -c $n /dev/zero | tr '\\0' a; printf SECRETVALUE; head -c 1000 /dev/zero | tr '\\0' b; echo; \
    head -c $n /dev/zero | tr '\\0' c >&2; printf SECRETVALUE >&2; head -c 1000 /dev/zero | tr '\\0' d >&2; echo >&2; \
    done";

/// What the log of a step running [`SECRET_ACROSS_CUTS`] must hold, pieces joined, per stream.
fn masked_across_cuts(first: char, last: char) -> String {
    [65530, 65535, 65536, 131070]
        .iter()
        .map(|n| {
            format!(
                "{}***{}",
                first.to_string().repeat(*n),
                last.to_string().repeat(1000)
            )
        })
        .collect()
}

/// The log lines of step `step` made only of `letters` and `*`, joined without separators.
fn joined_output(out: &Outcome, step: usize, letters: &str) -> String {
    out.events
        .iter()
        .filter_map(|e| match e {
            gantry_plan::JobEvent::Log {
                step: Some(s),
                line,
            } if *s == step && !line.is_empty() => Some(line.as_str()),
            _ => None,
        })
        .filter(|line| line.chars().all(|c| c == '*' || letters.contains(c)))
        .collect()
}

#[tokio::test]
async fn a_secret_across_the_cut_of_a_long_line_is_masked_in_container_jobs_and_docker_actions() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec(
        "longmask",
        vec![
            // In the job container's shell session.
            step(SECRET_ACROSS_CUTS),
            // As a plain exec (an env name the session cannot export).
            step(SECRET_ACROSS_CUTS).env("ODD-NAME", "1"),
            step(&format!("cat > long.sh <<'EOF'\n{SECRET_ACROSS_CUTS}\nEOF")),
            // In a Docker action's own container, run to its end.
            uses(
                "docker://gantry-test/busybox:latest",
                &[("args", "sh long.sh")],
            ),
        ],
    );
    s.secrets.insert("S".into(), "SECRETVALUE".into());
    s.container = Some(image(BUSYBOX));
    let out = h.run(s.clone()).await;
    assert_eq!(out.result.conclusion, S, "{:#?}", out.logs());
    for step in [0, 1, 3] {
        assert_eq!(
            joined_output(&out, step, "ab"),
            masked_across_cuts('a', 'b'),
            "stdout of step {step}"
        );
        assert_eq!(
            joined_output(&out, step, "cd"),
            masked_across_cuts('c', 'd'),
            "stderr of step {step}"
        );
    }
    let all = out.all_text();
    assert!(!all.contains("SECRET") && !all.contains("VALUE"));
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_secret_in_a_long_line_of_a_failed_service_log_is_masked() {
    let Some(engine) = engine_with(&[BUSYBOX]).await else {
        return;
    };
    let h = Harness::new();
    let mut s = docker_spec("longsvc", vec![step("echo should-not-run")]);
    // The engine's log driver cuts lines at 16 KiB; the secret straddles that cut and the 64 KiB one.
    s.services = vec![(
        "db".to_owned(),
        ContainerSpec {
            env: vec![("PW".to_owned(), "${{ secrets.S }}".to_owned())],
            command: Some("sh -c 'head -c 16380 /dev/zero | tr \"\\\\0\" a; printf %s \"$PW\"; head -c 49130 /dev/zero | tr \"\\\\0\" a; printf %s \"$PW\"; head -c 100 /dev/zero | tr \"\\\\0\" b; echo; sleep 300'".to_owned()),
            options: Some("--health-cmd \"exit 1\" --health-interval 200ms --health-retries 2".to_owned()),
            ..image(BUSYBOX)
        },
    )];
    s.secrets.insert("S".into(), "SECRETVALUE".into());
    let out = h.run(s.clone()).await;
    assert_eq!(out.result.conclusion, F);
    let long: Vec<String> = out
        .logs()
        .into_iter()
        .filter(|line| line.starts_with("aaa"))
        .collect();
    assert_eq!(
        long,
        vec![format!(
            "{}***{}***{}",
            "a".repeat(16380),
            "a".repeat(49130),
            "b".repeat(100)
        )],
        "the service's log line, shown because it failed"
    );
    let all = out.all_text();
    assert!(!all.contains("SECRET") && !all.contains("VALUE"));
    assert_eq!(leftovers(&engine, &s.run_id).await, Vec::<String>::new());
}
