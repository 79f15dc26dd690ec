//! End-to-end tests of the host executor: real processes (bash, node, git) on this machine.

mod support;

use std::path::Path;
use std::time::Duration;

use gantry_plan::{Executor, JobEvent, RunDefaults, StepAction, StepSpec, WorkspaceSpec};
use support::*;
use tokio_util::sync::CancellationToken;
#[tokio::test]
async fn outputs_flow_from_steps_to_job() {
    let h = Harness::new();
    let mut s = spec(vec![
        step("echo \"greeting=hello\" >> \"$GITHUB_OUTPUT\"\necho 'multi<<EOF' >> $GITHUB_OUTPUT\necho 'a' >> $GITHUB_OUTPUT\necho 'b' >> $GITHUB_OUTPUT\necho EOF >> $GITHUB_OUTPUT").id("first"),
        step("echo \"got ${{ steps.first.outputs.greeting }} ${{ steps.first.outcome }} ${{ job.status }}\""),
    ]);
    s.outputs = vec![
        (
            "greeting".into(),
            "${{ steps.first.outputs.greeting }} world".into(),
        ),
        ("multi".into(), "${{ steps.first.outputs.multi }}".into()),
    ];
    let out = h.run(s).await;
    assert_eq!(out.result.conclusion, S, "{}", out.all_text());
    assert!(
        out.has_line("got hello success success"),
        "{:?}",
        out.logs()
    );
    assert_eq!(out.result.outputs["greeting"], "hello world");
    assert_eq!(out.result.outputs["multi"], "a\nb");
}

#[tokio::test]
async fn failure_skips_later_steps_and_status_functions_pick_runners() {
    let h = Harness::new();
    let out = h
        .run(spec(vec![
            step("echo one"),
            step("exit 3"),
            step("echo should not run"),
            step("echo always ran").when("always()"),
            step("echo failure ran ${{ job.status }}").when("${{ failure() }}"),
            step("echo success ran").when("success()"),
            step("echo cancelled ran").when("cancelled()"),
        ]))
        .await;
    assert_eq!(out.result.conclusion, F);
    assert_eq!(
        out.finished(),
        vec![(S, S), (F, F), (K, K), (S, S), (S, S), (K, K), (K, K)]
    );
    assert!(out.has_line("##[error]Process completed with exit code 3."));
    assert!(out.has_line("always ran") && out.has_line("failure ran failure"));
    assert!(!out.has_line("should not run") && !out.has_line("success ran"));
    assert!(out
        .annotations()
        .contains(&("error".into(), "Process completed with exit code 3.".into())));
}

#[tokio::test]
async fn continue_on_error_keeps_the_job_green() {
    let h = Harness::new();
    let out = h
        .run(spec(vec![
            step("exit 1").id("flaky").continue_on_error("true"),
            step("exit 1").continue_on_error("${{ matrix.os == 'linux' }}"),
            step("echo ${{ steps.flaky.outcome }}/${{ steps.flaky.conclusion }}"),
        ]))
        .await;
    assert_eq!(out.result.conclusion, S);
    assert_eq!(out.finished(), vec![(F, S), (F, S), (S, S)]);
    assert!(out.has_line("failure/success"));
}

#[tokio::test]
async fn env_precedence_and_github_env() {
    let h = Harness::new();
    let mut s = spec(vec![
        step("echo \"A=$A B=$B C=$C\"").env("C", "step-${{ env.B }}").env("B", "step"),
        step("echo 'FROM_FILE=one' >> $GITHUB_ENV\nprintf 'HEREDOC<<MARK\\nline 1\\nline 2\\nMARK\\n' >> $GITHUB_ENV\necho 'A=overridden' >> $GITHUB_ENV"),
        step("echo \"file=$FROM_FILE A=$A ctx=${{ env.FROM_FILE }}\"\necho \"$HEREDOC\""),
        step("echo 'BROKEN<<' >> $GITHUB_ENV"),
    ]);
    s.env = vec![
        ("A".into(), "workflow".into()),
        ("B".into(), "workflow".into()),
        ("B".into(), "job-${{ env.A }}".into()),
        ("C".into(), "job".into()),
    ];
    let out = h.run(s).await;
    assert!(
        out.has_line("A=workflow B=step C=step-job-workflow"),
        "{:?}",
        out.logs()
    );
    assert!(
        out.has_line("file=one A=overridden ctx=one"),
        "{:?}",
        out.logs()
    );
    assert!(out.has_line("line 1") && out.has_line("line 2"));
    assert_eq!(out.finished()[3], (F, F));
    assert!(out.all_text().contains("delimiter must not be empty"));
}

#[tokio::test]
async fn github_path_and_runner_variables() {
    let h = Harness::new();
    let out = h
        .run(spec(vec![
            step("mkdir -p \"$RUNNER_TEMP/bin1\" \"$RUNNER_TEMP/bin2\"\nprintf '#!/bin/sh\\necho tool one\\n' > \"$RUNNER_TEMP/bin1/mytool\"\nprintf '#!/bin/sh\\necho tool two\\n' > \"$RUNNER_TEMP/bin2/mytool\"\nchmod +x \"$RUNNER_TEMP\"/bin*/mytool\necho \"$RUNNER_TEMP/bin1\" >> $GITHUB_PATH\necho \"$RUNNER_TEMP/bin2\" >> $GITHUB_PATH"),
            step("mytool"),
            step("echo \"$GITHUB_ACTIONS $CI $GITHUB_SHA $GITHUB_REF_NAME $GITHUB_REF_TYPE $GITHUB_REPOSITORY_OWNER $GITHUB_RUN_ID $GITHUB_RUN_NUMBER $GITHUB_RUN_ATTEMPT $GITHUB_JOB $GITHUB_ACTION $RUNNER_OS $GITHUB_EVENT_NAME $GITHUB_ACTOR\"\ntest -d \"$GITHUB_WORKSPACE\" && test \"$PWD\" = \"$GITHUB_WORKSPACE\" && test -d \"$RUNNER_TEMP\" && grep -q octocat \"$GITHUB_EVENT_PATH\" && echo dirs-ok"),
        ]))
        .await;
    assert_eq!(out.result.conclusion, S, "{}", out.all_text());
    // The later GITHUB_PATH line comes first.
    assert!(out.has_line("tool two"), "{:?}", out.logs());
    assert!(
        out.has_line("true true 0123456789abcdef0123456789abcdef01234567 main branch octo 42 7 1 build __run_3 Linux push octocat"),
        "{:?}",
        out.logs()
    );
    assert!(out.has_line("dirs-ok"));
}

#[tokio::test]
async fn step_summary_is_reported_masked() {
    let h = Harness::new();
    let mut s = spec(vec![step("echo '# Report' >> $GITHUB_STEP_SUMMARY\necho 'token: ${{ secrets.TOKEN }}' >> $GITHUB_STEP_SUMMARY")]);
    s.secrets.insert("TOKEN".into(), "hunter2".into());
    let out = h.run(s).await;
    let summaries: Vec<&JobEvent> = out
        .events
        .iter()
        .filter(|e| matches!(e, JobEvent::Summary { .. }))
        .collect();
    assert_eq!(
        summaries,
        vec![&JobEvent::Summary {
            markdown: "# Report\ntoken: ***\n".into()
        }]
    );
}

#[tokio::test]
async fn secrets_are_masked_everywhere() {
    let h = Harness::new();
    let mut s = spec(vec![
        step("echo \"plain ${{ secrets.TOKEN }} end\"\nprintf 'split hun'; sleep 0.2; printf 'ter2 done\\n'\necho \"$MULTI\"\necho \"middle: ${{ secrets.MULTI }}\" | tail -c 30")
            .env("MULTI", "${{ secrets.MULTI }}")
            .name("uses ${{ secrets.TOKEN }}"),
        step("echo \"::add-mask::dyn-$((6*7))-value\"\necho \"now dyn-$((6*7))-value is hidden\"\necho '::add-mask::'"),
        step("echo 'stderr hunter2' >&2\necho '::warning::warn hunter2'"),
    ]);
    s.secrets.insert("TOKEN".into(), "hunter2".into());
    s.secrets
        .insert("MULTI".into(), "first-line\nsecond-line".into());
    let out = h.run(s).await;
    let text = out.all_text();
    for secret in ["hunter2", "first-line", "second-line", "dyn-42-value"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(out.has_line("plain *** end"));
    assert!(out.has_line("split *** done"), "{:?}", out.logs());
    assert!(out.has_line("***") && out.has_line("now *** is hidden"));
    assert!(out.has_line("stderr ***"));
    assert!(out.events.contains(&JobEvent::StepStarted {
        index: 0,
        name: "uses ***".into()
    }));
    assert!(out
        .annotations()
        .contains(&("warning".into(), "warn ***".into())));
}

#[tokio::test]
async fn workflow_commands() {
    let h = Harness::new();
    let out = h
        .run(spec(vec![
            step("echo '::group::My group'\necho inside\necho '::endgroup::'\necho '::error file=app.js,line=3,col=5,title=T::broken%0Athing'\necho '::notice::fyi'\necho '::debug::hidden debug'\necho '::stop-commands::pause123'\necho '::warning::not a command'\necho '::pause123::'\necho '::warning::a command again'"),
            step("echo '::set-output name=legacy::old-style'").id("legacy"),
            step("echo ${{ steps.legacy.outputs.legacy }}"),
            step("echo '::set-env name=X::y'"),
            step("echo '::set-env name=X::y'\necho '::add-path::/opt/x'").env("ACTIONS_ALLOW_UNSECURE_COMMANDS", "true"),
            step("echo \"X=$X\"").when("always()"),
        ]))
        .await;
    assert!(out.has_line("##[group]My group") && out.has_line("##[endgroup]"));
    assert!(out.has_line("::warning::not a command"), "{:?}", out.logs());
    assert!(!out.has_line("##[debug]hidden debug"));
    let annotations = out.annotations();
    assert!(annotations.contains(&("error".into(), "broken\nthing".into())));
    assert!(annotations.contains(&("notice".into(), "fyi".into())));
    assert!(annotations.contains(&("warning".into(), "a command again".into())));
    assert!(!annotations.iter().any(|(_, m)| m == "not a command"));
    assert!(out.events.iter().any(|e| matches!(e, JobEvent::Annotation { file: Some(f), line: Some(3), col: Some(5), .. } if f == "app.js")));
    assert!(annotations
        .iter()
        .any(|(l, m)| l == "warning" && m.starts_with("The `set-output` command is deprecated")));
    assert!(out.has_line("old-style"));
    assert!(annotations
        .iter()
        .any(|(l, m)| l == "error" && m.starts_with("The `set-env` command is disabled")));
    assert_eq!(out.finished()[3], (F, F));
    assert_eq!(out.finished()[4], (K, K));
    assert!(out.has_line("X="));
}

#[tokio::test]
async fn unsecure_commands_when_allowed() {
    let h = Harness::new();
    let mut s = spec(vec![
        step("echo '::set-env name=X::from-command'\necho '::add-path::/opt/gantry-test'"),
        step("echo \"X=$X\"\ncase \"$PATH\" in /opt/gantry-test:*) echo path-ok;; esac"),
    ]);
    s.env = vec![("ACTIONS_ALLOW_UNSECURE_COMMANDS".into(), "true".into())];
    let out = h.run(s).await;
    assert_eq!(out.result.conclusion, S, "{}", out.all_text());
    assert!(
        out.has_line("X=from-command") && out.has_line("path-ok"),
        "{:?}",
        out.logs()
    );
}

#[tokio::test]
async fn shells_and_working_directories() {
    let h = Harness::new();
    let mut s = spec(vec![
        step("false | true\necho default-no-pipefail"),
        step("false | true\necho unreachable")
            .shell("bash")
            .continue_on_error("true"),
        step("import sys\nprint('python', sys.version_info[0])").shell("python"),
        step("echo \"custom $0\"").shell("bash -e {0}"),
        step("mkdir -p sub/dir && echo made"),
        step("pwd"),
        step("echo in-sh").shell("sh"),
    ]);
    s.defaults_run = RunDefaults {
        shell: None,
        working_directory: None,
    };
    if let StepAction::Run {
        working_directory, ..
    } = &mut s.steps[5].action
    {
        *working_directory = Some("sub/dir".into());
    }
    let out = h.run(s).await;
    assert_eq!(out.result.conclusion, S, "{}", out.all_text());
    assert!(out.has_line("default-no-pipefail"));
    assert!(!out.has_line("unreachable"));
    assert!(out.has_line("python 3"));
    assert!(out
        .logs()
        .iter()
        .any(|l| l.starts_with("custom /") && l.ends_with(".sh")));
    assert!(out.logs().iter().any(|l| l.ends_with("/sub/dir")));
    assert!(out.has_line("in-sh"));
    assert!(out
        .logs()
        .iter()
        .any(|l| l.starts_with("shell: ") && l.ends_with("bash -e {0}")));
    assert!(out
        .logs()
        .iter()
        .any(|l| l.ends_with("bash --noprofile --norc -e -o pipefail {0}")));
}

#[tokio::test]
async fn defaults_run_and_missing_working_directory() {
    let h = Harness::new();
    let mut s = spec(vec![step("echo \"$0\"; pwd"), step("true")]);
    s.defaults_run = RunDefaults {
        shell: Some("sh".into()),
        working_directory: Some("nowhere".into()),
    };
    let out = h.run(s).await;
    assert_eq!(out.result.conclusion, F);
    assert!(
        out.all_text().contains("with working directory"),
        "{}",
        out.all_text()
    );
}

fn pid_alive(pid: i32) -> bool {
    // A zombie is dead for our purposes; /proc shows its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn timeout_kills_the_process_group() {
    let h = Harness::new();
    let pidfile = h.path("child.pid");
    let started = std::time::Instant::now();
    let out = h
        .run(spec(vec![
            step(&format!(
                "sleep 30 &\necho $! > {}\nwait",
                pidfile.display()
            ))
            .timeout("0.01")
            .name("sleeper"),
            step("echo after-timeout").when("always()"),
        ]))
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.finished()[0], (F, F));
    assert!(
        out.has_line("##[error]The action 'sleeper' has timed out after 0.01 minutes."),
        "{:?}",
        out.logs()
    );
    assert!(out.has_line("after-timeout"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!pid_alive(pid), "background sleep {pid} survived");
}

#[tokio::test]
async fn processes_left_running_are_killed_at_job_end() {
    let h = Harness::new();
    let pidfile = h.path("orphan.pid");
    let out = h
        .run(spec(vec![step(&format!(
            "nohup sleep 60 > /dev/null 2>&1 &\necho $! > {}",
            pidfile.display()
        ))]))
        .await;
    assert_eq!(out.result.conclusion, S);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(out.has_line("Terminated 1 orphan process(es) left by the job's steps"));
    // SIGKILL was sent; a process in uninterruptible sleep (an exec paging in under load) only
    // dies when it leaves that state, so give it time rather than a fixed 100 ms.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pid_alive(pid), "orphan {pid} survived the job");
}

#[tokio::test]
async fn cancellation_stops_the_step_and_runs_always_steps() {
    let h = Harness::new();
    let pidfile = h.path("c.pid");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        trigger.cancel();
    });
    let started = std::time::Instant::now();
    let out = h
        .run_with_cancel(
            spec(vec![
                step(&format!(
                    "sleep 60 &\necho $! > {}\nwait",
                    pidfile.display()
                )),
                step("echo skipped"),
                step("sleep 0.3; echo cleanup ran").when("always()"),
                step("echo cancelled ran").when("cancelled()"),
                step("echo failure ran").when("failure()"),
            ]),
            cancel,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.result.conclusion, C, "{}", out.all_text());
    assert_eq!(out.finished(), vec![(C, C), (K, K), (S, S), (S, S), (K, K)]);
    assert!(out.has_line("cleanup ran") && out.has_line("cancelled ran"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!pid_alive(pid));
}

#[tokio::test]
async fn secret_across_a_cut_long_line_is_masked() {
    let h = Harness::new();
    // The secret straddles the 64 KiB piece boundary of a 200 KB line without a newline.
    let mut s = spec(vec![step(
        "head -c 65530 /dev/zero | tr '\\0' 'a'; printf 'SECRETVALUE'; head -c 140000 /dev/zero | tr '\\0' 'b'",
    )]);
    s.secrets.insert("S".into(), "SECRETVALUE".into());
    let out = h.run(s).await;
    let output: String = out
        .logs()
        .into_iter()
        .filter(|l| l.starts_with("aaa") || l.starts_with("***") || l.starts_with('b'))
        .collect();
    assert!(!out.all_text().contains("SECRET"));
    assert_eq!(
        output,
        format!("{}***{}", "a".repeat(65530), "b".repeat(140000))
    );
}

#[tokio::test]
async fn binary_and_huge_output_stay_bounded() {
    let h = Harness::new();
    let (tx, mut rx) = gantry_plan::flow::channel(gantry_plan::flow::DEFAULT_CAPACITY);
    let counter = tokio::spawn(async move {
        let (mut bytes, mut longest, mut lines) = (0usize, 0usize, 0usize);
        while let Some(e) = rx.recv().await {
            if let JobEvent::Log {
                line,
                step: Some(0),
            } = e
            {
                bytes += line.len();
                longest = longest.max(line.len());
                lines += 1;
            }
        }
        (bytes, longest, lines)
    });
    let s = spec(vec![step("head -c 50000000 /dev/zero | tr '\\0' 'x'\nhead -c 100000 /dev/urandom\nprintf '\\377\\376 bad utf8\\n'")]);
    let started = std::time::Instant::now();
    let result = h.executor.run_job(s, tx, CancellationToken::new()).await;
    let (bytes, longest, lines) = counter.await.unwrap();
    assert_eq!(result.conclusion, S);
    assert!(longest <= 64 * 1024 * 3, "longest line {longest}");
    assert!(bytes >= 50_000_000, "{bytes} bytes in {lines} lines");
    assert!(started.elapsed() < Duration::from_secs(30));
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn composite_action_with_inputs_and_outputs() {
    let h = Harness::new();
    let repo = h.path("repo");
    write(
        &repo.join(".github/actions/greet/action.yml"),
        "name: greet\ninputs:\n  who:\n    required: true\n  greeting:\n    default: Hello\noutputs:\n  message:\n    value: ${{ steps.make.outputs.message }}\nruns:\n  using: composite\n  steps:\n    - id: make\n      shell: bash\n      run: echo \"message=${{ inputs.greeting }}, ${{ inputs.who }}!\" >> $GITHUB_OUTPUT\n    - shell: bash\n      run: echo \"path=$GITHUB_ACTION_PATH input=$INPUT_WHO\"; echo \"nested ${{ github.action_path }}\"\n    - uses: ./.github/actions/inner\n      with:\n        value: ${{ inputs.who }}\n",
    );
    write(
        &repo.join(".github/actions/inner/action.yml"),
        "name: inner\ninputs:\n  value: {}\nruns:\n  using: composite\n  steps:\n    - run: echo \"inner got ${{ inputs.value }}\"\n      shell: sh\n    - run: exit 4\n      shell: sh\n    - run: echo inner after failure\n      shell: sh\n",
    );
    let sha = git_repo(&repo, &[("README.md", "hi")]);
    let mut s = spec(vec![
        uses("./.github/actions/greet", &[("who", "${{ matrix.os }}")])
            .id("greet")
            .continue_on_error("true"),
        step("echo \"said: ${{ steps.greet.outputs.message }} (${{ steps.greet.outcome }})\""),
    ]);
    s.workspace = WorkspaceSpec {
        source_path: repo.display().to_string(),
        sha: Some(sha),
        git_ref: Some("refs/heads/main".into()),
    };
    let out = h.run(s).await;
    assert!(
        out.has_line("said: Hello, linux! (failure)"),
        "{}",
        out.all_text()
    );
    assert!(out.has_line("inner got linux"));
    assert!(!out.has_line("inner after failure"));
    assert!(out
        .logs()
        .iter()
        .any(|l| l.starts_with("nested /") && l.ends_with(".github/actions/greet")));
    assert!(out
        .logs()
        .iter()
        .any(|l| l.starts_with("path=/") && l.ends_with("greet input=")));
    assert_eq!(out.result.conclusion, S);
}

#[tokio::test]
async fn javascript_action_with_pre_and_post() {
    let h = Harness::new();
    let action = h.path("actions/octo/js-action/v1");
    write(&action.join("action.yml"), "name: js\ninputs:\n  who:\n    default: world\n  extra-input: {}\noutputs:\n  said: {}\nruns:\n  using: node20\n  pre: pre.js\n  main: main.js\n  post: post.js\n");
    write(&action.join("pre.js"), "const fs = require('fs');\nconsole.log('pre ran');\nfs.appendFileSync(process.env.GITHUB_STATE, 'from_pre=1\\n');\n");
    write(&action.join("main.js"), "const fs = require('fs');\nconsole.log(`main who=${process.env['INPUT_WHO']} extra=${process.env['INPUT_EXTRA-INPUT']} state=${process.env.STATE_from_pre}`);\nfs.appendFileSync(process.env.GITHUB_OUTPUT, `said=hi ${process.env['INPUT_WHO']}\\n`);\nfs.appendFileSync(process.env.GITHUB_STATE, 'from_main=2\\n');\n");
    write(&action.join("post.js"), "console.log(`post ran pre=${process.env.STATE_from_pre} main=${process.env.STATE_from_main}`);\n");
    let out = h
        .run(spec(vec![
            step("echo first step"),
            uses("octo/js-action@v1", &[("extra-input", "x")]).id("js"),
            step("echo \"output ${{ steps.js.outputs.said }}\""),
        ]))
        .await;
    assert_eq!(out.result.conclusion, S, "{}", out.all_text());
    let logs = out.logs();
    let pos = |needle: &str| {
        logs.iter()
            .position(|l| l == needle)
            .unwrap_or_else(|| panic!("{needle} missing from {logs:?}"))
    };
    assert!(pos("pre ran") < pos("first step"));
    assert!(pos("main who=world extra=x state=1") < pos("output hi world"));
    assert!(pos("output hi world") < pos("post ran pre=1 main=2"));
}

#[tokio::test]
async fn remote_actions_come_from_the_cache_or_fail_clearly() {
    let h = Harness::new();
    write(&h.path("actions/octo/tools/v2/sub/action.yaml"), "name: sub\nruns:\n  using: composite\n  steps:\n    - run: echo from cached sub action\n      shell: bash\n");
    let out = h
        .run(spec(vec![
            uses("octo/tools/sub@v2", &[]),
            uses("octo/missing@v9", &[]),
        ]))
        .await;
    assert!(out.has_line("from cached sub action"));
    assert_eq!(out.finished()[1], (F, F));
    assert!(
        out.all_text()
            .contains("Unable to resolve action 'octo/missing@v9'"),
        "{}",
        out.all_text()
    );
}

#[tokio::test]
async fn composite_step_timeout_bounds_its_nested_steps() {
    let h = Harness::new();
    write(&h.path("actions/octo/slow/v1/action.yml"), "name: slow\nruns:\n  using: composite\n  steps:\n    - run: sleep 30\n      shell: bash\n    - run: echo never\n      shell: bash\n");
    let started = std::time::Instant::now();
    let out = h
        .run(spec(vec![uses("octo/slow@v1", &[]).timeout("0.01")]))
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.finished(), vec![(F, F)]);
    assert!(!out.has_line("never"));
    assert!(
        out.all_text().contains("has timed out"),
        "{}",
        out.all_text()
    );
}

#[tokio::test]
async fn builtin_checkout_cache_artifacts_and_setup() {
    let h = Harness::new();
    let repo = h.path("repo");
    let sha = git_repo(
        &repo,
        &[("src/lib.rs", "pub fn x() {}"), ("Cargo.lock", "lock v1")],
    );
    let job = |steps: Vec<StepSpec>, key: &str| {
        let mut s = spec(steps);
        s.job_key = key.into();
        s.workspace = WorkspaceSpec {
            source_path: repo.display().to_string(),
            sha: Some(sha.clone()),
            git_ref: Some("refs/heads/main".into()),
        };
        s
    };
    let cache_key = "deps-${{ hashFiles('Cargo.lock') }}";
    let first = h
        .run(job(
            vec![
                uses("actions/checkout@v4", &[]).id("co"),
                step("test -f src/lib.rs && echo checked-out ${{ steps.co.outputs.commit }}\necho scratch > untracked.txt"),
                uses("actions/checkout@v4", &[("path", "copy")]),
                step("test -f copy/src/lib.rs && echo second-copy"),
                uses("actions/cache@v4", &[("path", "deps\n~/.gantry-test-never"), ("key", cache_key)]).id("cache"),
                step("echo hit=${{ steps.cache.outputs.cache-hit }}\nmkdir -p deps && echo cached > deps/data.txt"),
                step("mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt && echo h > out/.hidden"),
                uses("actions/upload-artifact@v4", &[("name", "bundle"), ("path", "out/")]),
                uses("actions/upload-artifact@v4", &[("name", "bundle"), ("path", "out/")]).continue_on_error("true"),
                uses("actions/setup-node@v4", &[("node-version", "18")]).id("node"),
                step("echo node=${{ steps.node.outputs.node-version }}"),
            ],
            "first",
        ))
        .await;
    assert_eq!(first.result.conclusion, S, "{}", first.all_text());
    assert!(
        first.has_line(&format!("checked-out {sha}")),
        "{:?}",
        first.logs()
    );
    assert!(first.has_line("second-copy"));
    assert!(first.has_line("hit=false"));
    assert_eq!(first.finished()[8], (F, S));
    assert!(first.annotations().iter().any(|(l, m)| l == "warning"
        && m.contains("actions/setup-node")
        && m.contains("'18' was not installed")));
    assert!(first
        .logs()
        .iter()
        .any(|l| l.starts_with("node=") && l.len() > "node=".len()));

    let second = h
        .run(job(
            vec![
                uses(
                    "actions/cache@v4",
                    &[("path", "deps\n~/.gantry-test-never"), ("key", cache_key)],
                )
                .id("cache"),
                step("echo hit=${{ steps.cache.outputs.cache-hit }} $(cat deps/data.txt)"),
                uses(
                    "actions/cache/restore@v4",
                    &[
                        ("path", "deps\n~/.gantry-test-never"),
                        ("key", "other-key"),
                        ("restore-keys", "deps-"),
                    ],
                )
                .id("partial"),
                step("echo partial=${{ steps.partial.outputs.cache-hit }}"),
                uses(
                    "actions/download-artifact@v4",
                    &[("name", "bundle"), ("path", "got")],
                ),
                step("cat got/a.txt got/sub/b.txt; test ! -e got/.hidden && echo no-hidden"),
                uses("actions/download-artifact@v4", &[("name", "nope")]),
            ],
            "second",
        ))
        .await;
    assert!(second.has_line("hit=true cached"), "{}", second.all_text());
    assert!(second.has_line("partial=false"));
    assert!(second.has_line("a") && second.has_line("b") && second.has_line("no-hidden"));
    assert_eq!(second.finished()[6], (F, F));
    assert!(second
        .all_text()
        .contains("Artifact not found for name: nope"));
}

#[tokio::test]
async fn without_a_sha_the_working_tree_is_used() {
    let h = Harness::new();
    let repo = h.path("repo");
    git_repo(
        &repo,
        &[
            ("kept.txt", "committed"),
            ("gone.txt", "x"),
            (".gitignore", "ignored.txt\n"),
        ],
    );
    std::fs::write(repo.join("kept.txt"), "edited\n").unwrap();
    std::fs::write(repo.join("new.txt"), "untracked\n").unwrap();
    std::fs::write(repo.join("ignored.txt"), "ignored").unwrap();
    std::fs::remove_file(repo.join("gone.txt")).unwrap();
    let mut s = spec(vec![
        step("cat kept.txt new.txt; test ! -e gone.txt && test ! -e ignored.txt && echo tree-ok"),
        uses("actions/checkout@v4", &[]),
        step("cat kept.txt; test ! -e gone.txt && echo still-ok"),
    ]);
    s.workspace.source_path = repo.display().to_string();
    s.workspace.sha = None;
    let out = h.run(s).await;
    assert_eq!(out.result.conclusion, S, "{}", out.all_text());
    assert!(
        out.has_line("edited") && out.has_line("untracked"),
        "{:?}",
        out.logs()
    );
    assert!(out.has_line("tree-ok") && out.has_line("still-ok"));
    assert_eq!(
        std::fs::read_to_string(repo.join("kept.txt")).unwrap(),
        "edited\n"
    );
}

#[tokio::test]
async fn hash_files_and_if_expressions() {
    let h = Harness::new();
    let repo = h.path("repo");
    let sha = git_repo(&repo, &[("a.txt", "a"), ("b.txt", "b")]);
    let mut s = spec(vec![
        step("echo \"h=${{ hashFiles('*.txt') }} none=[${{ hashFiles('*.nothing') }}]\""),
        step("echo ran-on-linux").when("matrix.os == 'linux'"),
        step("echo ran-on-mac").when("${{ matrix.os == 'mac' }}"),
        step("echo bad if").when("fromJSON('{')"),
    ]);
    s.workspace.source_path = repo.display().to_string();
    s.workspace.sha = Some(sha);
    let out = h.run(s).await;
    use sha2::Digest;
    let mut outer = sha2::Sha256::new();
    outer.update(sha2::Sha256::digest(b"a"));
    outer.update(sha2::Sha256::digest(b"b"));
    let expected = hex::encode(outer.finalize());
    assert!(
        out.has_line(&format!("h={expected} none=[]")),
        "{:?}",
        out.logs()
    );
    assert!(out.has_line("ran-on-linux") && !out.has_line("ran-on-mac"));
    assert_eq!(out.finished()[3], (F, F));
    assert_eq!(out.result.conclusion, F);
}

#[tokio::test]
async fn user_env_cannot_override_runtime_variables() {
    let h = Harness::new();
    let s = spec(vec![step("echo \"$GITHUB_SHA $RUNNER_OS $CI $MINE\"")
        .env("GITHUB_SHA", "fake")
        .env("RUNNER_OS", "fake")
        .env("CI", "no")
        .env("MINE", "mine")]);
    let out = h.run(s).await;
    assert!(
        out.has_line("0123456789abcdef0123456789abcdef01234567 Linux no mine"),
        "{:?}",
        out.logs()
    );
}

#[tokio::test]
async fn job_output_with_secret_is_skipped() {
    let h = Harness::new();
    let mut s = spec(vec![step("true")]);
    s.secrets.insert("T".into(), "topsecret".into());
    s.outputs = vec![
        ("leak".into(), "${{ secrets.T }}".into()),
        ("fine".into(), "ok".into()),
    ];
    let out = h.run(s).await;
    assert!(!out.result.outputs.contains_key("leak"));
    assert_eq!(out.result.outputs["fine"], "ok");
    assert!(out
        .annotations()
        .iter()
        .any(|(_, m)| m == "Skip output 'leak' since it may contain secret."));
}

#[tokio::test]
async fn jobs_of_one_run_each_get_their_own_copy_of_the_repository() {
    let h = Harness::new();
    let repo = h.path("repo");
    let sha = git_repo(
        &repo,
        &[("shared.txt", "original\n"), ("dir/kept.txt", "kept\n")],
    );
    let job = |key: &str, script: &str| {
        let mut s = spec(vec![step(script)]);
        s.job_key = key.into();
        s.job_id = key.into();
        s.workspace.source_path = repo.display().to_string();
        s.workspace.sha = Some(sha.clone());
        s
    };
    // Two jobs at once: each changes its copy, then checks it does not see the other's changes.
    let writer = |me: &str, other: &str| {
        format!(
            "echo {me} > shared.txt; touch {me}.txt; git rm -q dir/kept.txt; git add -A; git -c user.name=t -c user.email=t@e commit -qm {me}; \
             sleep 0.3; cat shared.txt; test ! -e {other}.txt && test ! -e dir/kept.txt && echo alone-{me}; \
             git log -1 --format=%s; git status --porcelain | wc -l"
        )
    };
    let (one, two) = tokio::join!(
        h.run(job("one", &writer("one", "two"))),
        h.run(job("two", &writer("two", "one")))
    );
    for (out, me) in [(&one, "one"), (&two, "two")] {
        assert_eq!(out.result.conclusion, S, "{}", out.all_text());
        for line in [me.to_string(), format!("alone-{me}"), "0".to_string()] {
            assert!(out.has_line(&line), "{me}: {line}: {:?}", out.logs());
        }
    }
    // A later job of the run gets the commit as it was, and the source is untouched.
    let three = h
        .run(job(
            "three",
            "cat shared.txt dir/kept.txt; git log -1 --format=%H; git status --porcelain | wc -l",
        ))
        .await;
    for line in ["original", "kept", &sha, "0"] {
        assert!(three.has_line(line), "{line}: {:?}", three.logs());
    }
    assert_eq!(
        std::fs::read_to_string(repo.join("shared.txt")).unwrap(),
        "original\n"
    );
    assert!(repo.join("dir/kept.txt").exists() && !repo.join("one.txt").exists());
    // Removing the run leaves nothing of it in the work directory.
    let run_dir = h.path("work/42-1");
    assert!(run_dir.exists());
    h.executor.remove_run("42", 1);
    assert!(!run_dir.exists());
}

#[tokio::test]
async fn self_repository_actions_come_from_the_running_commit_not_the_workspace() {
    let h = Harness::new();
    let repo = h.path("repo");
    let sha = git_repo(
        &repo,
        &[(
            ".github/actions/hello/action.yml",
            "name: hello\nruns:\n  using: composite\n  steps:\n    - run: echo \"hello from the commit\"\n      shell: bash\n",
        )],
    );
    let mut s = spec(vec![
        // The workspace's copy changes; `$/` still reads the commit. `./` reads the workspace.
        step("sed -i 's/from the commit/from the workspace/' .github/actions/hello/action.yml"),
        uses("$/.github/actions/hello", &[]),
        uses("./.github/actions/hello", &[]),
        uses("$/.github/actions/missing", &[]),
    ]);
    s.workspace = WorkspaceSpec {
        source_path: repo.display().to_string(),
        sha: Some(sha),
        git_ref: Some("refs/heads/main".into()),
    };
    let out = h.run(s).await;
    let logs = out.logs();
    assert!(out.has_line("hello from the commit"), "{logs:#?}");
    assert!(out.has_line("hello from the workspace"), "{logs:#?}");
    assert_eq!(out.finished(), vec![(S, S), (S, S), (S, S), (F, F)]);
    assert!(
        out.has_line("##[error]Unable to resolve action '$/.github/actions/missing' from the workflow's repository: git archive failed: fatal: pathspec '.github/actions/missing' did not match any files"),
        "{logs:#?}"
    );
}
