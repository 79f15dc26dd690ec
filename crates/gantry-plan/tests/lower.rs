//! Lowering a workflow to a plan: defaults, generated step ids, strategy, reusable calls.

use std::collections::HashMap;

use gantry_plan::lower::{lower, LowerError, RunContext};
use gantry_plan::{CallSecrets, JobBody, Plan, StepAction};
use gantry_workflow::load_workflow;
use gantry_workflow::{Project, ReadError, RepoPath};

struct Files(HashMap<&'static str, &'static str>);

impl Project for Files {
    fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
        self.0
            .get(path.as_str())
            .map(|t| t.as_bytes().to_vec())
            .ok_or_else(|| ReadError::NotFound {
                path: path.to_string(),
            })
    }
}

fn lower_text(text: &str, files: &[(&'static str, &'static str)]) -> Result<Plan, LowerError> {
    let (workflow, diagnostics) = load_workflow(text.as_bytes());
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let context = RunContext {
        workflow_file: ".github/workflows/ci.yml".into(),
        github: serde_json::json!({"event_name": "push"}),
        ..RunContext::default()
    };
    lower(&workflow, context, &Files(files.iter().copied().collect()))
}

fn steps_of(plan: &Plan, job: &str) -> Vec<gantry_plan::StepSpec> {
    match &plan.graph.job(job).unwrap().body {
        JobBody::Steps(steps) => steps.steps.clone(),
        JobBody::Call(_) => panic!("{job} is a call"),
    }
}

#[test]
fn generated_step_ids_follow_github() {
    let plan = lower_text(
        r#"on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo 1
      - run: echo 2
      - uses: actions/checkout@v4
      - uses: actions/checkout@v4
      - uses: docker://alpine:3.8
      - uses: ./local/action
      - uses: actions/cache/restore@v3
      - id: build
        run: make
      - uses: not-an-action
"#,
        &[],
    )
    .unwrap();
    let ids: Vec<String> = steps_of(&plan, "a")
        .iter()
        .map(|s| s.generated_id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "__run",
            "__run_2",
            "__actions_checkout",
            "__actions_checkout_2",
            "__alpine_3_8",
            "__self",
            "__actions_cache",
            "build",
            "__run_3"
        ]
    );
}

#[test]
fn defaults_and_templates_stay_raw() {
    let plan = lower_text(
        r#"name: CI
run-name: Build ${{ github.ref }}
on: push
env:
  A: "1"
defaults:
  run:
    shell: bash
jobs:
  build:
    runs-on: [self-hosted, "${{ matrix.os }}"]
    strategy:
      matrix:
        os: [linux, mac]
        node: ${{ fromJSON(needs.setup.outputs.nodes) }}
        include:
          - os: linux
            big: true
      max-parallel: 2
    needs: setup
    timeout-minutes: 30
    continue-on-error: ${{ matrix.os == 'mac' }}
    concurrency:
      group: ci-${{ github.ref }}
      cancel-in-progress: true
    env:
      B: ${{ env.A }}
    outputs:
      v: ${{ steps.x.outputs.v }}
    steps:
      - id: x
        name: Say
        if: always()
        run: echo hi
        working-directory: sub
        continue-on-error: true
        timeout-minutes: 5
        env:
          C: c
      - uses: actions/setup-node@v4
        with:
          node-version: ${{ matrix.node }}
  setup:
    runs-on: ubuntu-latest
    steps:
      - run: echo
"#,
        &[],
    )
    .unwrap();
    assert_eq!(plan.workflow_name, "CI");
    assert_eq!(plan.run_name.as_deref(), Some("Build ${{ github.ref }}"));
    assert_eq!(plan.graph.env, vec![("A".to_string(), "1".to_string())]);
    assert_eq!(plan.graph.defaults_run.shell.as_deref(), Some("bash"));
    let build = plan.graph.job("build").unwrap();
    assert_eq!(build.needs, ["setup"]);
    assert_eq!(build.if_expr, "success()");
    assert_eq!(build.timeout_minutes.as_deref(), Some("30"));
    assert_eq!(build.continue_on_error, "${{ matrix.os == 'mac' }}");
    let strategy = build.strategy.as_ref().unwrap();
    assert_eq!(strategy.fail_fast, "true");
    assert_eq!(strategy.max_parallel.as_deref(), Some("2"));
    assert_eq!(
        strategy.matrix.as_ref().unwrap().to_string(),
        r#"{"os":["linux","mac"],"node":"${{ fromJSON(needs.setup.outputs.nodes) }}","include":[{"os":"linux","big":true}]}"#
    );
    let concurrency = build.concurrency.as_ref().unwrap();
    assert_eq!(
        (
            concurrency.group.as_str(),
            concurrency.cancel_in_progress.as_str()
        ),
        ("ci-${{ github.ref }}", "true")
    );
    let JobBody::Steps(job) = &build.body else {
        panic!("not a steps job")
    };
    assert_eq!(
        job.runs_on,
        [
            serde_json::json!("self-hosted"),
            serde_json::json!("${{ matrix.os }}")
        ]
    );
    assert_eq!(job.env, vec![("B".to_string(), "${{ env.A }}".to_string())]);
    assert_eq!(
        job.outputs,
        vec![("v".to_string(), "${{ steps.x.outputs.v }}".to_string())]
    );
    let step = &job.steps[0];
    assert_eq!(step.id.as_deref(), Some("x"));
    assert_eq!(step.if_expr, "always()");
    assert_eq!(step.continue_on_error, "true");
    assert_eq!(step.timeout_minutes.as_deref(), Some("5"));
    assert_eq!(step.location, ".github/workflows/ci.yml:31:9");
    assert_eq!(
        step.action,
        StepAction::Run {
            script: "echo hi".into(),
            shell: None,
            working_directory: Some("sub".into())
        }
    );
    assert_eq!(
        job.steps[1].action,
        StepAction::Uses {
            uses: "actions/setup-node@v4".into(),
            with: vec![("node-version".into(), "${{ matrix.node }}".into())]
        }
    );
    assert_eq!(job.steps[1].if_expr, "success()");
    // Plans are plain data.
    let text = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
}

const CALLER: &str = r#"on: push
jobs:
  call:
    uses: ./.github/workflows/reusable.yml
    with:
      msg: hello
      count: 3
    secrets: inherit
  call2:
    uses: ./.github/workflows/reusable.yml
    with:
      msg: ${{ needs.call.outputs.out }}
    secrets:
      token: ${{ secrets.T }}
    needs: call
"#;

const REUSABLE: &str = r#"on:
  workflow_call:
    inputs:
      msg:
        type: string
        required: true
      count:
        type: number
        default: 1
    secrets:
      token:
        required: false
    outputs:
      out:
        value: ${{ jobs.inner.outputs.r }}
env:
  X: x
jobs:
  inner:
    runs-on: ubuntu-latest
    outputs:
      r: ${{ steps.s.outputs.r }}
    steps:
      - id: s
        run: echo "r=${{ inputs.msg }}" >> "$GITHUB_OUTPUT"
"#;

#[test]
fn local_reusable_workflows_are_expanded() {
    let plan = lower_text(CALLER, &[(".github/workflows/reusable.yml", REUSABLE)]).unwrap();
    let JobBody::Call(call) = &plan.graph.job("call").unwrap().body else {
        panic!("not a call")
    };
    assert_eq!(call.uses, "./.github/workflows/reusable.yml");
    assert_eq!(
        call.with,
        vec![
            ("msg".into(), serde_json::json!("hello")),
            ("count".into(), serde_json::json!(3))
        ]
    );
    assert_eq!(call.secrets, CallSecrets::Inherit);
    let called = &call.called;
    assert_eq!(
        called
            .inputs
            .iter()
            .map(|i| (i.name.as_str(), i.input_type.as_str(), i.required))
            .collect::<Vec<_>>(),
        [("msg", "string", true), ("count", "number", false)]
    );
    assert_eq!(called.inputs[1].default, Some(serde_json::json!(1)));
    assert_eq!(called.secrets, vec![("token".to_string(), false)]);
    assert_eq!(
        called.outputs,
        vec![("out".to_string(), "${{ jobs.inner.outputs.r }}".to_string())]
    );
    assert_eq!(called.graph.workflow_file, ".github/workflows/reusable.yml");
    assert_eq!(called.graph.env, vec![("X".to_string(), "x".to_string())]);
    assert_eq!(called.graph.jobs[0].job_id, "inner");
    let JobBody::Call(call2) = &plan.graph.job("call2").unwrap().body else {
        panic!("not a call")
    };
    assert_eq!(
        call2.secrets,
        CallSecrets::Map(vec![("token".into(), "${{ secrets.T }}".into())])
    );
}

fn check_err(files: &[(&'static str, &'static str)], text: &str, expected: &str) {
    let err = lower_text(text, files).unwrap_err().to_string();
    assert!(
        err.contains(expected),
        "error '{err}' should contain '{expected}'"
    );
}

const CALL_A: &str = "on: push\njobs:\n  c:\n    uses: ./a.yml\n";

#[test]
fn reusable_errors() {
    check_err(
        &[],
        "on: push\njobs:\n  c:\n    uses: octo/repo/.github/workflows/x.yml@v1\n",
        "only local reusable workflows",
    );
    check_err(&[], CALL_A, "cannot read called workflow 'a.yml'");
    // The path guard sits in front of the source: a file the source would serve is not asked for.
    check_err(
        &[("../a.yml", "on: workflow_call\njobs: {}\n")],
        "on: push\njobs:\n  c:\n    uses: ./../a.yml\n",
        "'../a.yml' is outside the repository",
    );
    check_err(
        &[(
            "a.yml",
            "on: push\njobs:\n  x:\n    runs-on: a\n    steps:\n      - run: b\n",
        )],
        CALL_A,
        "not reusable",
    );
    check_err(
        &[(
            "a.yml",
            "on: workflow_call\njobs:\n  c:\n    uses: ./a.yml\n",
        )],
        CALL_A,
        "cycle",
    );
    check_err(&[("a.yml", "on: workflow_call\njobs: [")], CALL_A, "a.yml:");
    let chain: &[(&'static str, &'static str)] = &[
        (
            "a.yml",
            "on: workflow_call\njobs:\n  c:\n    uses: ./b.yml\n",
        ),
        (
            "b.yml",
            "on: workflow_call\njobs:\n  c:\n    uses: ./c.yml\n",
        ),
        (
            "c.yml",
            "on: workflow_call\njobs:\n  c:\n    uses: ./d.yml\n",
        ),
        (
            "d.yml",
            "on: workflow_call\njobs:\n  c:\n    uses: ./e.yml\n",
        ),
        (
            "e.yml",
            "on: workflow_call\njobs:\n  x:\n    runs-on: a\n    steps:\n      - run: b\n",
        ),
    ];
    // Caller + a, b, c, d (four levels) is allowed; one more is not.
    assert!(
        lower_text(CALL_A, chain).is_err(),
        "five levels below the caller"
    );
    let four: Vec<(&'static str, &'static str)> = vec![
        chain[0],
        chain[1],
        chain[2],
        (
            "d.yml",
            "on: workflow_call\njobs:\n  x:\n    runs-on: a\n    steps:\n      - run: b\n",
        ),
    ];
    assert!(lower_text(CALL_A, &four).is_ok());
    check_err(chain, CALL_A, "nested deeper than 4 levels");
}

#[test]
fn graph_errors() {
    check_err(
        &[],
        "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps:\n      - run: y\n",
        "needs unknown job 'b'",
    );
}

#[test]
fn retain_jobs_with_their_needs() {
    let text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: y\n  b:\n    needs: a\n    runs-on: x\n    steps:\n      - run: y\n  c:\n    needs: b\n    runs-on: x\n    steps:\n      - run: y\n  d:\n    runs-on: x\n    steps:\n      - run: y\n";
    let check = |ids: &[&str], expected: &[&str]| {
        let mut plan = lower_text(text, &[]).unwrap();
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        plan.graph.retain_with_needs(&ids).unwrap();
        let kept: Vec<&str> = plan.graph.jobs.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(kept, expected, "{ids:?}");
        plan.graph.validate().unwrap();
    };
    check(&["c"], &["a", "b", "c"]);
    check(&["b"], &["a", "b"]);
    check(&["d", "a"], &["a", "d"]);
    let mut plan = lower_text(text, &[]).unwrap();
    assert_eq!(
        plan.graph
            .retain_with_needs(&["nope".to_string()])
            .unwrap_err()
            .to_string(),
        "there is no job 'nope' in the workflow"
    );
}

fn action_steps(text: &str) -> Result<Vec<gantry_plan::StepSpec>, LowerError> {
    let (action, _diagnostics) = gantry_workflow::load_action(text.as_bytes());
    let Some(gantry_workflow::model::RunsKind::Composite(composite)) =
        action.runs.as_ref().map(|r| &r.kind)
    else {
        panic!("not a composite action: {text}");
    };
    let items = composite.steps.as_ref().map_or(&[][..], |s| &s.items);
    gantry_plan::lower_action_steps("acts/greet/action.yml", items)
}

/// Composite action steps follow the job rules (GitHub's runner converts both with one function):
/// regression for the executor's own copy, which numbered them `__0`, `__1`, ... and left
/// `location` empty.
#[test]
fn composite_action_steps_are_lowered_like_job_steps() {
    let steps = action_steps(
        "name: greet\nruns:\n  using: composite\n  steps:\n    - run: echo 1\n      shell: bash\n    - run: echo 2\n      shell: bash\n    - uses: actions/checkout@v4\n    - id: build\n      run: make\n      shell: bash\n      continue-on-error: true\n",
    )
    .unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s.generated_id.as_str()).collect();
    assert_eq!(ids, ["__run", "__run_2", "__actions_checkout", "build"]);
    let locations: Vec<&str> = steps.iter().map(|s| s.location.as_str()).collect();
    assert_eq!(
        locations,
        [
            "acts/greet/action.yml:5:7",
            "acts/greet/action.yml:7:7",
            "acts/greet/action.yml:9:7",
            "acts/greet/action.yml:10:7"
        ]
    );
    assert_eq!(steps[0].if_expr, "success()");
    assert_eq!(steps[0].continue_on_error, "false");
    assert_eq!(steps[3].continue_on_error, "true");
}

/// A step with neither `run` nor `uses` is an error, as in a job (the executor's copy ran an
/// empty script).
#[test]
fn composite_action_step_without_run_or_uses_is_an_error() {
    let err = action_steps(
        "name: greet\nruns:\n  using: composite\n  steps:\n    - run: echo 1\n      shell: bash\n    - name: nothing\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "acts/greet/action.yml: step at acts/greet/action.yml:7:7 has neither 'run' nor 'uses'"
    );
}

/// `container:` and `services:` become typed specs holding the template text as written.
#[test]
fn containers_and_services_are_typed() {
    let plan = lower_text(
        r#"on: push
jobs:
  a:
    runs-on: ubuntu-latest
    container:
      image: node:${{ matrix.node }}
      credentials:
        username: octo
        password: ${{ secrets.PW }}
      env:
        NODE_ENV: test
      ports: [80, "8080:80"]
      volumes: [data:/data]
      options: --cpus 1
    services:
      redis: redis:7
      db:
        image: postgres
        options: --health-cmd pg_isready
    steps:
      - run: echo
  b:
    runs-on: ubuntu-latest
    container: alpine
    steps:
      - run: echo
"#,
        &[],
    )
    .unwrap();
    let job = |key: &str| match &plan
        .graph
        .jobs
        .iter()
        .find(|j| j.job_id == key)
        .unwrap()
        .body
    {
        JobBody::Steps(s) => s.clone(),
        JobBody::Call(_) => panic!("{key} is a call"),
    };
    let a = job("a");
    let container = a.container.clone().unwrap();
    assert_eq!(container.image, "node:${{ matrix.node }}");
    let credentials = container.credentials.clone().unwrap();
    assert_eq!(credentials.username.as_deref(), Some("octo"));
    assert_eq!(credentials.password.as_deref(), Some("${{ secrets.PW }}"));
    assert_eq!(container.env, [("NODE_ENV".to_owned(), "test".to_owned())]);
    assert_eq!(container.ports, ["80", "8080:80"]);
    assert_eq!(container.volumes, ["data:/data"]);
    assert_eq!(container.options.as_deref(), Some("--cpus 1"));
    let services: Vec<(&str, &str)> = a
        .services
        .iter()
        .map(|(key, s)| (key.as_str(), s.image.as_str()))
        .collect();
    assert_eq!(services, [("redis", "redis:7"), ("db", "postgres")]);
    assert_eq!(
        a.services[1].1.options.as_deref(),
        Some("--health-cmd pg_isready")
    );
    assert!(a.uses_containers());
    let b = job("b");
    assert_eq!(b.container.unwrap().image, "alpine");
    assert!(b.services.is_empty());
}
