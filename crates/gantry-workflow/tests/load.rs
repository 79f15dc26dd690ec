//! The loader: one data-driven `check` per kind of input, many one-line cases.
//!
//! `check(yaml, expected)`: `expected` lists every error as `"LINE:COL code: message part"`;
//! the loader must report exactly these errors (warnings are ignored).

use gantry_workflow::model::{
    ConditionKind, EventConfig, ExprOr, OnForm, PermissionsKind, RunsKind, RunsOnForm,
    TemplateState, ValueKind,
};
use gantry_workflow::{load_action, load_workflow, Diagnostic, Workflow};

const HEAD: &str = "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n";

fn render(d: &Diagnostic) -> String {
    format!(
        "{}:{} {}: {}",
        d.span.start.line, d.span.start.col, d.code, d.message
    )
}

fn matches(d: &Diagnostic, expected: &str) -> bool {
    let Some((pos, rest)) = expected.split_once(' ') else {
        return false;
    };
    let Some((code, part)) = rest.split_once(": ") else {
        return false;
    };
    pos == format!("{}:{}", d.span.start.line, d.span.start.col)
        && code == d.code
        && d.message.contains(part)
}

fn check_diags(what: &str, diags: &[Diagnostic], expected: &[&str]) {
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    let rendered: Vec<String> = errors.iter().map(|d| render(d)).collect();
    assert_eq!(
        errors.len(),
        expected.len(),
        "{what}\ngot: {rendered:#?}\nexpected: {expected:#?}"
    );
    for e in expected {
        assert!(
            errors.iter().any(|d| matches(d, e)),
            "{what}\nmissing {e:?}\ngot: {rendered:#?}"
        );
    }
}

fn check(yaml: &str, expected: &[&str]) -> Workflow {
    let (workflow, diags) = load_workflow(yaml.as_bytes());
    check_diags(yaml, &diags, expected);
    workflow
}

/// A workflow with one job `j` whose steps are `steps` (already indented by 6 spaces).
fn check_steps(steps: &str, expected: &[&str]) -> Workflow {
    check(&format!("{HEAD}{steps}"), expected)
}

#[test]
fn valid_workflows_have_no_errors() {
    check(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
        &[],
    );
    check("name: CI\non: [push, pull_request]\njobs:\n  a:\n    uses: o/r/.github/workflows/w.yml@v1\n", &[]);
    check("on:\n  push:\n    branches: [main]\n  schedule:\n    - cron: '0 0 * * *'\njobs:\n  a:\n    uses: ./.github/workflows/x.yml\n    with:\n      n: 1\n    secrets: inherit\n", &[]);
    check_steps("      - uses: actions/checkout@v4\n        with:\n          fetch-depth: 0\n      - run: echo\n        shell: bash\n        working-directory: x\n", &[]);
}

#[test]
fn workflow_structure_errors() {
    check("", &["1:1 syntax-check: workflow is empty"]);
    check(
        "jobs:\n  a:\n    uses: o/r/w.yml@v1\n",
        &["1:1 syntax-check: \"on\" section is missing"],
    );
    check(
        "on: push\n",
        &["1:1 syntax-check: \"jobs\" section is missing"],
    );
    check(
        "on: push\nfoo: 1\njobs:\n  a:\n    uses: x/y/z.yml@v\n",
        &["2:1 syntax-check: unexpected key \"foo\" for \"workflow\" section"],
    );
    check(
        "on: push\nJobs: {}\njobs:\n  a:\n    uses: x/y/z.yml@v\n",
        &["2:1 syntax-check: unexpected key \"Jobs\""],
    );
    check(
        "- a\n- b\n",
        &["1:1 syntax-check: workflow is sequence node but mapping node is expected"],
    );
    check(
        "on: push\njobs: []\n",
        &["2:7 syntax-check: \"jobs\" section is sequence node but mapping node is expected"],
    );
    check(
        "on: push\njobs:\n",
        &["2:6 syntax-check: \"jobs\" section should not be empty"],
    );
    check(
        "on: push\njobs:\n  a:\n    uses: x/y/z.yml@v\n  a:\n    uses: x/y/z.yml@v\n",
        &["5:3 syntax-check: key \"a\" is duplicated"],
    );
    check("on: push\njobs:\n  a:\n    uses: x/y/z.yml@v\n  A:\n    uses: x/y/z.yml@v\n", &["5:3 syntax-check: key \"A\" is duplicated in \"jobs\" section. previously defined at line:3,col:3. note that this key is case insensitive"]);
}

#[test]
fn job_errors() {
    check(
        "on: push\njobs:\n  a:\n    steps:\n      - run: x\n",
        &["3:3 syntax-check: \"runs-on\" section is missing in job \"a\""],
    );
    check(
        "on: push\njobs:\n  a:\n    runs-on: x\n",
        &["3:3 syntax-check: \"steps\" section is missing in job \"a\""],
    );
    check(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps: []\n    foo: 1\n",
        &[
            "5:12 syntax-check: \"steps\" section should not be empty",
            "6:5 syntax-check: unexpected key \"foo\" for \"job\" section",
        ],
    );
    check("on: push\njobs:\n  a:\n    uses: o/r/w.yml@v1\n    runs-on: x\n", &["5:5 syntax-check: when a reusable workflow is called with \"uses\", \"runs-on\" is not available"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n    with:\n      a: 1\n", &["7:5 syntax-check: \"with\" is only available for a reusable workflow call"]);
    check(
        "on: push\njobs:\n  a:\n    uses: o/r/w.yml@v1\n    secrets: all\n",
        &["5:14 syntax-check: expected mapping node for secrets or \"inherit\""],
    );
    check("on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: abc\n    steps:\n      - run: x\n", &["5:22 syntax-check: expecting a single ${{...}} expression or float number literal"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: 0\n    steps:\n      - run: x\n", &["5:22 syntax-check: value at \"timeout-minutes\" must be greater than zero"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    continue-on-error: maybe\n    steps:\n      - run: x\n", &["5:24 syntax-check: boolean literal \"true\" or \"false\""]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    continue-on-error: [true]\n    steps:\n      - run: x\n", &["5:24 syntax-check: expected bool value but found sequence node"]);
    check(
        "on: push\njobs:\n  a:\n    runs-on: x\n    needs: {a: b}\n    steps:\n      - run: x\n",
        &["5:12 syntax-check: \"needs\" section must be sequence node"],
    );
    check("on: push\njobs:\n  a:\n    runs-on: x\n    environment:\n      url: u\n    steps:\n      - run: x\n", &["5:5 syntax-check: name is missing in \"environment\" section"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    concurrency:\n      cancel-in-progress: true\n    steps:\n      - run: x\n", &["5:5 syntax-check: group name is missing in \"concurrency\" section"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    container:\n      options: --x\n    steps:\n      - run: x\n", &["5:5 syntax-check: \"image\" is missing in \"container\" section"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    container:\n      image: i\n      credentials:\n        username: u\n    steps:\n      - run: x\n", &["7:7 syntax-check: both \"username\" and \"password\" must be specified"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    services:\n      db:\n        image: postgres\n        cmd: x\n    steps:\n      - run: x\n", &["8:9 syntax-check: unexpected key \"cmd\" for \"services\" section"]);
    check("on: push\njobs:\n  a:\n    runs-on:\n      group: g\n      label: l\n    steps:\n      - run: x\n", &["6:7 syntax-check: unexpected key \"label\" for \"runs-on\" section"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    defaults:\n      shell: bash\n    steps:\n      - run: x\n", &["6:7 syntax-check: expected \"run\" key for \"defaults\" section but got \"shell\"", "6:7 syntax-check: \"defaults\" section should have \"run\" section"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    env:\n      A: 1\n      a: 2\n    steps:\n      - run: x\n", &["7:7 syntax-check: key \"a\" is duplicated in \"env\" section"]);
    check("on: push\njobs:\n  a:\n    runs-on: x\n    env: not-a-map\n    steps:\n      - run: x\n", &["5:10 syntax-check: expecting a single ${{...}} expression or mapping value for \"env\" section"]);
}

#[test]
fn strategy_errors() {
    let job = |strategy: &str| {
        format!("on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n{strategy}    steps:\n      - run: x\n")
    };
    check(&job("      matrix:\n        os: [a, b]\n        include:\n          - os: c\n      fail-fast: false\n      max-parallel: 2\n"), &[]);
    check(
        &job("      matrix: ${{ fromJSON(needs.a.outputs.m) }}\n"),
        &[],
    );
    check(&job("      matrix:\n        os: ${{ fromJSON('[1]') }}\n        include: ${{ fromJSON('[]') }}\n"), &[]);
    check(
        &job("      matrix:\n        os: []\n"),
        &["7:13 syntax-check: \"matrix values\" section should not be empty"],
    );
    check(&job("      matrix:\n        os: linux\n"), &["7:13 syntax-check: expecting a single ${{...}} expression or array value for matrix variations"]);
    check(
        &job("      matrix:\n        os: [a]\n        OS: [b]\n"),
        &["8:9 syntax-check: key \"OS\" is duplicated in \"matrix\" section"],
    );
    check(
        &job("      max-parallel: 0\n"),
        &["6:21 syntax-check: value at \"max-parallel\" must be greater than zero"],
    );
    check(
        &job("      fail-fast: sometimes\n"),
        &["6:18 syntax-check: boolean literal"],
    );
    check(
        &job("      matrix:\n        include: {os: a}\n"),
        &["7:18 syntax-check: \"include\" section must be sequence node"],
    );
    check(
        &job("      parallel: 2\n"),
        &["6:7 syntax-check: unexpected key \"parallel\" for \"strategy\" section"],
    );
}

#[test]
fn step_errors() {
    // Like actionlint, the last of `uses:` / `run:` decides the kind of step.
    check_steps("      - name: nothing\n", &["6:9 syntax-check: step must run script with \"run\" section or run action with \"uses\" section"]);
    check_steps(
        "      - uses: a/b@v1\n        run: echo\n",
        &["6:9 syntax-check: unexpected key \"uses\" for step to run shell command"],
    );
    check_steps(
        "      - run: echo\n        uses: a/b@v1\n",
        &["6:9 syntax-check: unexpected key \"run\" for step to execute action"],
    );
    check_steps(
        "      - shell: bash\n        uses: a/b@v1\n",
        &["6:9 syntax-check: unexpected key \"shell\" for step to execute action"],
    );
    check_steps(
        "      - run: echo\n        with:\n          a: b\n",
        &["7:9 syntax-check: unexpected key \"with\" for step to run shell command"],
    );
    check_steps(
        "      - with:\n          a: b\n",
        &["6:9 syntax-check: step must run script"],
    );
    check_steps(
        "      - shell: bash\n",
        &["6:9 syntax-check: step must run script"],
    );
    check_steps(
        "      - null\n",
        &[
            "6:9 syntax-check: element of \"steps\" section should not be empty",
            "6:9 syntax-check: step must run script",
        ],
    );
    check_steps(
        "      - uses: a/b@v1\n        working-directory: x\n",
        &["7:9 syntax-check: unexpected key \"working-directory\" for step to execute action"],
    );
    check_steps(
        "      - uses: a/b@v1\n        with: x\n",
        &["7:15 syntax-check: \"with\" section is scalar node but mapping node is expected"],
    );
    check_steps(
        "      - run: echo\n        runs: x\n",
        &["7:9 syntax-check: unexpected key \"runs\" for step to run shell command"],
    );
    check_steps(
        "      - run: echo\n        timeout-minutes: -1\n",
        &["7:26 syntax-check: value at \"timeout-minutes\" must be greater than zero"],
    );
    check_steps(
        "      - run:\n",
        &["6:13 syntax-check: string should not be empty"],
    );
    check_steps(
        "      not: a-sequence\n",
        &[
            "3:3 syntax-check: \"steps\" section is missing in job \"j\"",
            "6:7 syntax-check: \"steps\" section must be sequence node but got mapping node",
        ],
    );
    check_steps(
        "      - run: a\n        ${{ x }}: 1\n",
        &["7:9 syntax-check: unexpected key \"${{ x }}\" for step to run shell command"],
    );
    check_steps(
        "      - wait: [a]\n      - cancel: a\n      - parallel:\n          - run: x\n",
        &[],
    );
    check("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n", &["3:3 syntax-check: \"steps\" section is missing in job \"a\"", "5:11 syntax-check: \"steps\" section must be sequence node but got scalar node with \"!!null\" tag"]);
}

#[test]
fn id_errors() {
    let jobs = |id: &str| format!("on: push\njobs:\n  {id}:\n    uses: o/r/w.yml@v1\n");
    for ok in ["a", "_", "_a", "a-b_c", "A9", "a__"] {
        check(&jobs(ok), &[]);
    }
    for bad in ["my.job", "0job", "-job", "'my job'", "__", "__a"] {
        let name = bad.trim_matches('\'');
        check(&jobs(bad), &[&format!("3:3 id: invalid job ID \"{name}\"")]);
    }
    check(
        &jobs("${{ x }}"),
        &["3:3 expression: a template expression is not allowed in this context"],
    );
    check_steps(
        "      - id: a.b\n        run: x\n",
        &["6:13 id: invalid step ID \"a.b\""],
    );
    check_steps("      - id: ${{ matrix.x }}\n        run: x\n", &[]);
    check_steps(
        "      - id: s1\n        run: x\n      - id: S1\n        run: y\n",
        &["8:13 id: step ID \"S1\" duplicates. previously defined at line:6,col:13"],
    );
}

#[test]
fn event_errors() {
    let wf = |on: &str| format!("on:{on}\njobs:\n  a:\n    uses: o/r/w.yml@v1\n");
    check(&wf(" [push, pull_request]"), &[]);
    check(&wf("\n  push:\n    branches: main\n    tags: ['v*']\n  pull_request:\n    types: [opened]\n  workflow_run:\n    workflows: [CI]\n"), &[]);
    check(
        &wf(" schedule"),
        &["1:5 syntax-check: schedule event must be configured with mapping"],
    );
    check(
        &wf(" [schedule]"),
        &["1:6 syntax-check: \"schedule\" event should not be listed in sequence"],
    );
    check(
        &wf("\n  push:\n    branch: main\n"),
        &["3:5 syntax-check: unexpected key \"branch\" for \"push\" section"],
    );
    check(
        &wf("\n  schedule:\n    - crn: x\n"),
        &[
            "3:7 syntax-check: unexpected key \"crn\" for \"schedule\" section",
            "3:7 syntax-check: must contain one key \"cron\"",
        ],
    );
    check(
        &wf("\n  schedule: '0 0 * * *'\n"),
        &["2:13 syntax-check: \"schedule\" section must be sequence node"],
    );
    check(
        &wf("\n  workflow_dispatch:\n    inputs:\n      a:\n        type: text\n"),
        &["5:15 syntax-check: input type of workflow_dispatch event must be one of"],
    );
    check(&wf("\n  workflow_dispatch:\n    input: {}\n"), &["3:5 syntax-check: expected \"inputs\" key for \"workflow_dispatch\" section but got \"input\""]);
    check(
        &wf("\n  workflow_call:\n    inputs:\n      a:\n        required: true\n"),
        &["4:7 syntax-check: \"type\" is missing at \"a\" input of workflow_call event"],
    );
    check(
        &wf("\n  workflow_call:\n    inputs:\n      a:\n        type: choice\n"),
        &["5:15 syntax-check: invalid value \"choice\" for input type of workflow_call event"],
    );
    check(
        &wf("\n  workflow_call:\n    outputs:\n      o:\n        description: d\n"),
        &["4:7 syntax-check: \"value\" is missing at \"o\" output of workflow_call event"],
    );
    check(
        &wf("\n  workflow_call:\n    secrets:\n      s:\n        requred: true\n"),
        &["5:9 syntax-check: unexpected key \"requred\" for \"secrets\" section"],
    );
    check(
        &wf("\n  ${{ x }}:\n"),
        &["2:3 expression: a template expression is not allowed in this context"],
    );
    check(
        "name: CI ${{ github.ref }}\non: push\njobs:\n  a:\n    uses: o/r/w.yml@v1\n",
        &["1:7 expression: a template expression is not allowed in this context"],
    );
}

#[test]
fn expression_errors_point_inside_the_scalar() {
    // plain scalar
    check_steps(
        "      - run: echo ${{ github.event_name\n",
        &["6:19 expression: "],
    );
    check_steps(
        "      - run: echo ${{ 1 + 2 }}\n",
        &["6:25 expression: Unexpected symbol: '+'"],
    );
    // quoted scalars
    check_steps(
        "      - run: 'echo ${{ a == }}'\n",
        &["6:26 expression: Unexpected end of expression: '=='"],
    );
    check_steps(
        "      - run: \"x ${{ 1 + 2 }}\"\n",
        &["6:23 expression: Unexpected symbol: '+'"],
    );
    // block scalars
    check_steps(
        "      - run: |\n          echo hi\n          echo ${{ a ! b }}\n",
        &["8:22 expression: Unexpected symbol: '!'"],
    );
    check_steps(
        "      - run: >\n          echo hi\n          echo ${{ a ! b }}\n",
        &["8:22 expression: Unexpected symbol: '!'"],
    );
    // if: a bare expression
    check_steps(
        "      - run: x\n        if: a ==\n",
        &["7:15 expression: Unexpected end of expression"],
    );
    check_steps(
        "      - run: x\n        if: ${{ a == }}\n",
        &["7:19 expression: Unexpected end of expression"],
    );
    check("on: push\njobs:\n  a:\n    runs-on: x\n    if: github.ref == 'x' &&\n    steps:\n      - run: x\n", &["5:27 expression: "]);
}

#[test]
fn conditions_follow_githubs_rule() {
    let w = check_steps(
        "      - run: a\n        if: github.ref == 'main'\n      - run: b\n        if: ${{ always() }}\n      - run: c\n        if: x ${{ y }}\n      - run: d\n        if: ''\n",
        &[],
    );
    let steps = w.jobs["j"].step_list();
    let kinds: Vec<_> = steps
        .iter()
        .map(|s| s.if_.as_ref().map(|c| &c.kind))
        .collect();
    assert!(matches!(
        kinds[0],
        Some(ConditionKind::Expression { expr: Some(_), .. })
    ));
    assert!(matches!(
        kinds[1],
        Some(ConditionKind::Expression { expr: Some(_), .. })
    ));
    assert!(matches!(kinds[2], Some(ConditionKind::Template)));
    assert!(matches!(
        kinds[3],
        Some(ConditionKind::Expression { expr: None, .. })
    ));
    let c1 = steps[1].if_.as_ref().expect("if");
    if let ConditionKind::Expression { source, .. } = &c1.kind {
        assert_eq!(c1.text.raw[source.clone()].trim(), "always()");
    }
}

#[test]
fn model_keeps_values_and_spans() {
    let w = check(
        "name: CI\nrun-name: Deploy ${{ inputs.env }}\non:\n  push:\n    branches: [main, 'rel/*']\n  workflow_dispatch:\n    inputs:\n      env:\n        type: choice\n        options: [a, b]\n        default: a\n        required: true\npermissions: read-all\nenv:\n  A: 1\n  B: ${{ github.sha }}\nconcurrency:\n  group: ${{ github.ref }}\n  cancel-in-progress: ${{ github.event_name == 'pull_request' }}\njobs:\n  build:\n    runs-on: [self-hosted, linux]\n    timeout-minutes: 5.5\n    strategy:\n      matrix:\n        node: [18, 20]\n        include:\n          - node: 22\n            experimental: true\n    container: node:20\n    outputs:\n      v: ${{ steps.s.outputs.v }}\n    steps:\n      - id: s\n        uses: actions/checkout@v4\n        with:\n          ref: main\n  deploy:\n    needs: build\n    uses: o/r/.github/workflows/d.yml@v1\n    with:\n      n: 3\n      flag: true\n    secrets:\n      token: ${{ secrets.T }}\n",
        &[],
    );
    assert_eq!(w.name.as_ref().map(|n| n.raw.as_str()), Some("CI"));
    assert!(matches!(
        w.run_name.as_ref().map(|r| &r.template),
        Some(TemplateState::Parsed(_))
    ));
    let on = w.on.as_ref().expect("on");
    assert_eq!(on.form, OnForm::Map);
    assert_eq!(on.events.len(), 2);
    let EventConfig::Filters(push) = &on.events[0].config else {
        panic!("push filters")
    };
    assert_eq!(push.branches.as_ref().map(|b| b.items.len()), Some(2));
    let EventConfig::WorkflowDispatch(d) = &on.events[1].config else {
        panic!("dispatch")
    };
    assert_eq!(
        d.inputs["env"].options.as_ref().map(|o| o.value.len()),
        Some(2)
    );
    assert!(
        matches!(&w.permissions.as_ref().expect("permissions").kind, PermissionsKind::Shorthand(s) if s.value == "read-all")
    );
    let env = w.env.as_ref().expect("env");
    assert_eq!(env.entries["A"].value.raw, "1");
    assert!(env.entries["B"].value.as_single_expr().is_some());
    let conc = w.concurrency.as_ref().expect("concurrency");
    assert!(matches!(
        conc.cancel_in_progress.as_ref().map(|c| &c.value),
        Some(ExprOr::Expr(_))
    ));
    let build = &w.jobs["build"];
    assert_eq!((build.id.span.start.line, build.id.span.start.col), (21, 3));
    let runs_on = build.runs_on.as_ref().expect("runs-on");
    assert_eq!(runs_on.form, RunsOnForm::Seq);
    assert_eq!(runs_on.labels.len(), 2);
    assert!(
        matches!(build.timeout_minutes.as_ref().map(|t| &t.value), Some(ExprOr::Value(v)) if *v == 5.5)
    );
    let matrix = build
        .strategy
        .as_ref()
        .and_then(|s| s.matrix.as_ref())
        .expect("matrix");
    assert!(matches!(&matrix.axes["node"].values, ExprOr::Value(v) if v.len() == 2));
    assert!(
        matches!(&matrix.include.as_ref().expect("include").rows, ExprOr::Value(rows) if matches!(&rows[0].kind, ValueKind::Map(m) if m.len() == 2))
    );
    assert!(build.container.as_ref().is_some_and(|c| c.short_form));
    assert_eq!(
        build.step_list()[0].id.as_ref().map(|i| i.value.as_str()),
        Some("s")
    );
    let deploy = &w.jobs["deploy"];
    assert!(deploy.is_call());
    let with = deploy.with.as_ref().expect("with");
    assert!(matches!(with.entries["n"].value.kind, ValueKind::Number(n) if n == 3.0));
    assert!(matches!(
        with.entries["flag"].value.kind,
        ValueKind::Bool(true)
    ));
}

#[test]
fn expression_positions_map_into_the_file() {
    let w = check_steps("      - run: |\n          echo ${{ github.sha }}\n        env:\n          X: \"a ${{ b }}\"\n", &[]);
    let step = &w.jobs["j"].step_list()[0];
    let run = step.run.as_ref().expect("run");
    let (_, span) = run.expressions().next().expect("expression");
    let pos = run.pos_at(&w.source, span.start as usize);
    assert_eq!((pos.line, pos.col), (7, 16));
    let x = &step.env.as_ref().expect("env").entries["X"].value;
    let (_, span) = x.expressions().next().expect("expression");
    let pos = x.pos_at(&w.source, span.start as usize);
    assert_eq!((pos.line, pos.col), (9, 17));
}

#[test]
fn positions_count_every_yaml_line_break() {
    // LF, CRLF and a lone CR each end a line; a diagnostic's line is the one an editor shows.
    for newline in ["\n", "\r\n", "\r"] {
        let text = [
            "on: push",
            "jobs:",
            "  a:",
            "    runs-on: ubuntu-latest",
            "    steps:",
            "      - run: |",
            "          echo hi",
            "          echo ${{ foo( }}",
            "",
        ]
        .join(newline);
        let (_, diags) = load_workflow(text.as_bytes());
        let found: Vec<(u32, u32)> = diags
            .iter()
            .map(|d| (d.span.start.line, d.span.start.col))
            .collect();
        assert_eq!(found, [(8, 23)], "newline {newline:?}: {diags:?}");
    }
}

#[test]
fn actions_load() {
    let check_action = |yaml: &str, expected: &[&str]| {
        let (action, diags) = load_action(yaml.as_bytes());
        check_diags(yaml, &diags, expected);
        action
    };
    let a = check_action("name: n\ndescription: d\ninputs:\n  who:\n    description: x\n    required: true\n    default: me\n    deprecationMessage: old\noutputs:\n  o:\n    description: y\nruns:\n  using: node20\n  main: index.js\n  post: post.js\n  post-if: always()\nbranding:\n  icon: x\n  color: blue\n", &[]);
    assert!(
        matches!(a.runs.as_ref().map(|r| &r.kind), Some(RunsKind::Node(n)) if n.post_if.is_some())
    );
    assert_eq!(
        a.inputs["who"]
            .deprecation_message
            .as_ref()
            .map(|d| d.raw.as_str()),
        Some("old")
    );
    let d = check_action("name: n\nruns:\n  using: docker\n  image: Dockerfile\n  args: [a, '${{ inputs.x }}']\n  env:\n    A: b\n  entrypoint: e.sh\n  pre-entrypoint: p.sh\n", &[]);
    assert!(
        matches!(d.runs.as_ref().map(|r| &r.kind), Some(RunsKind::Docker(d)) if d.args.as_ref().map(|a| a.value.len()) == Some(2))
    );
    let c = check_action("name: n\noutputs:\n  o:\n    value: ${{ steps.s.outputs.o }}\nruns:\n  using: composite\n  steps:\n    - id: s\n      run: echo\n      shell: bash\n    - uses: actions/checkout@v4\n", &[]);
    assert!(
        matches!(c.runs.as_ref().map(|r| &r.kind), Some(RunsKind::Composite(c)) if c.steps.as_ref().map(|s| s.items.len()) == Some(2))
    );
    check_action(
        "name: n\n",
        &["1:1 syntax-check: \"runs\" section is missing"],
    );
    check_action(
        "name: n\nruns:\n  main: x.js\n",
        &["2:1 syntax-check: \"using\" is missing"],
    );
    check_action(
        "name: n\nruns:\n  using: node20\n",
        &["2:1 syntax-check: \"main\" is required"],
    );
    check_action(
        "name: n\nruns:\n  using: docker\n",
        &["2:1 syntax-check: \"image\" is required"],
    );
    check_action("name: n\noutputs:\n  o:\n    description: d\nruns:\n  using: composite\n  steps:\n    - run: x\n      shell: bash\n", &["3:3 syntax-check: output \"o\" of composite action must have \"value\""]);
    check_action(
        "name: n\nruns:\n  using: composite\n  steps:\n    - run: x\n      timeout-minutes: 1\n",
        &["6:7 syntax-check: unexpected key \"timeout-minutes\" for step to run shell command"],
    );
    check_action("", &["1:1 syntax-check: action metadata is empty"]);
    check_action(
        "name: n\ninputs:\n  a:\n    required:\n      x: y\nruns:\n  using: node20\n  main: m.js\n",
        &["5:7 syntax-check: expected bool value but found mapping node"],
    );
}

#[test]
fn bad_input_never_panics() {
    let inputs: [&[u8]; 12] = [
        b"",
        b"\xff\xfe",
        b"on",
        b"jobs: 1\non: 2",
        b"on: push\njobs:\n  a: 1",
        b"on: push\njobs:\n  a:\n    steps: 1\n    runs-on: {}\n",
        b"on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - 1\n      - [a]\n      - {run: {x: 1}}\n",
        b"on: {push: [1], pull_request: 3, workflow_call: [], schedule: [1]}\njobs: {a: {uses: [x]}}",
        b"on: push\njobs:\n  a:\n    strategy: {matrix: {include: [1, [2]], exclude: 3, x: {}}}\n",
        b"? [a]\n: b\n",
        b"on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: ${{ ${{ }} }} ${{\n",
        b"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{",
    ];
    for input in inputs {
        let (_, diags) = load_workflow(input);
        assert!(
            diags.iter().any(|d| d.is_error()),
            "{:?}: expected an error",
            String::from_utf8_lossy(input)
        );
        let (_, _) = load_action(input);
    }
}

#[test]
fn long_values_are_not_quoted_in_expression_errors() {
    let script = format!(
        "{}\n          echo ${{{{ a ! b }}}}\n",
        "echo padding\n          ".repeat(20)
    );
    let (_, diags) = load_workflow(format!("{HEAD}      - run: |\n          {script}").as_bytes());
    let d = diags
        .iter()
        .find(|d| d.code == "expression")
        .expect("expression error");
    assert_eq!(d.message, "Unexpected symbol: '!'");
    assert_eq!((d.span.start.line, d.span.start.col), (28, 22));
    let (_, diags) =
        load_workflow(format!("{HEAD}      - run: echo ${{{{ a ! b }}}}\n").as_bytes());
    let d = diags
        .iter()
        .find(|d| d.code == "expression")
        .expect("expression error");
    assert!(d.message.contains("Located at position"), "{}", d.message);
}

#[test]
fn scalars_become_strings_as_github_coerces_them() {
    let w = check_steps(
        "      - run: x\n        env:\n          a: 3.10\n          b: 1\n          c: true\n          d: ~\n          e: 0.84551240822557006\n          f: !!float 1587106672383762434\n          g: .inf\n          h: 1e-7\n          i: '3.10'\n          j: 0x1F\n          k: -0.5\n          l: 1.0\n",
        &[],
    );
    let env = &w.jobs["j"].step_list()[0]
        .env
        .as_ref()
        .expect("env")
        .entries;
    let got: Vec<&str> = env.values().map(|v| v.value.raw.as_str()).collect();
    assert_eq!(
        got,
        [
            "3.1",
            "1",
            "true",
            "",
            "0.84551240822557",
            "1.58710667238376E+18",
            "Infinity",
            "1E-07",
            "3.10",
            "31",
            "-0.5",
            "1"
        ]
    );
}
