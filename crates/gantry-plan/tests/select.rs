//! Trigger selection and workflow_dispatch inputs: one `check` per case.

use gantry_plan::select::{resolve_dispatch_inputs, select, EventInfo, InputError};
use gantry_workflow::load_workflow;
use indexmap::IndexMap;

fn push(git_ref: &str, files: Option<&[&str]>) -> EventInfo {
    EventInfo {
        name: "push".into(),
        git_ref: Some(git_ref.into()),
        changed_files: files.map(|f| f.iter().map(|s| s.to_string()).collect()),
        ..EventInfo::default()
    }
}

fn pr(action: &str, base: &str, files: Option<&[&str]>) -> EventInfo {
    EventInfo {
        name: "pull_request".into(),
        action: Some(action.into()),
        base_ref: Some(base.into()),
        changed_files: files.map(|f| f.iter().map(|s| s.to_string()).collect()),
        ..EventInfo::default()
    }
}

/// `on` is the YAML of the `on:` value.
fn check(on: &str, event: EventInfo, expected: bool) {
    let text = format!(
        "on:\n{}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
        indent(on)
    );
    let (workflow, diagnostics) = load_workflow(text.as_bytes());
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{text}\n{diagnostics:?}"
    );
    let got = select(&workflow, &event);
    assert_eq!(
        got.is_ok(),
        expected,
        "on: {on}\nevent: {event:?}\nresult: {got:?}"
    );
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn event_names() {
    check("[push, pull_request]", push("refs/heads/main", None), true);
    check("[pull_request]", push("refs/heads/main", None), false);
    check("push:", push("refs/heads/main", None), true);
    check(
        "workflow_dispatch:",
        EventInfo {
            name: "workflow_dispatch".into(),
            ..Default::default()
        },
        true,
    );
    check("workflow_dispatch:", push("refs/heads/main", None), false);
}

#[test]
fn push_branches_and_tags() {
    check(
        "push:\n  branches: [main]",
        push("refs/heads/main", None),
        true,
    );
    check(
        "push:\n  branches: [main]",
        push("refs/heads/dev", None),
        false,
    );
    check(
        "push:\n  branches: ['releases/**']",
        push("refs/heads/releases/v1/x", None),
        true,
    );
    check(
        "push:\n  branches: ['releases/*']",
        push("refs/heads/releases/v1/x", None),
        false,
    );
    check(
        "push:\n  branches: ['releases/**', '!releases/**-alpha']",
        push("refs/heads/releases/v1-alpha", None),
        false,
    );
    check(
        "push:\n  branches: ['releases/**', '!releases/**-alpha']",
        push("refs/heads/releases/v1", None),
        true,
    );
    check(
        "push:\n  branches-ignore: ['dev/*']",
        push("refs/heads/dev/x", None),
        false,
    );
    check(
        "push:\n  branches-ignore: ['dev/*']",
        push("refs/heads/main", None),
        true,
    );
    // Only branch filters: tag pushes do not run, and vice versa.
    check(
        "push:\n  branches: ['**']",
        push("refs/tags/v1", None),
        false,
    );
    check(
        "push:\n  branches-ignore: [main]",
        push("refs/tags/v1", None),
        false,
    );
    check(
        "push:\n  tags: ['v*']",
        push("refs/heads/main", None),
        false,
    );
    check("push:\n  tags: ['v*']", push("refs/tags/v1.2", None), true);
    check("push:\n  tags: ['v*']", push("refs/tags/x1", None), false);
    check(
        "push:\n  tags-ignore: ['*-rc']",
        push("refs/tags/v1-rc", None),
        false,
    );
    check(
        "push:\n  tags-ignore: ['*-rc']",
        push("refs/tags/v1", None),
        true,
    );
    check(
        "push:\n  branches: [main]\n  tags: ['v*']",
        push("refs/tags/v2", None),
        true,
    );
    check(
        "push:\n  branches: [main]\n  tags: ['v*']",
        push("refs/heads/main", None),
        true,
    );
    check(
        "push:\n  branches: [main]\n  tags: ['v*']",
        push("refs/heads/dev", None),
        false,
    );
    // No ref filters: every ref.
    check(
        "push:\n  paths: ['src/**']",
        push("refs/tags/v1", Some(&["docs/a.md"])),
        true,
    );
}

#[test]
fn push_paths() {
    check(
        "push:\n  paths: ['src/**']",
        push("refs/heads/main", Some(&["src/a/b.rs"])),
        true,
    );
    check(
        "push:\n  paths: ['src/**']",
        push("refs/heads/main", Some(&["docs/a.md"])),
        false,
    );
    check(
        "push:\n  paths: ['src/**']",
        push("refs/heads/main", Some(&["docs/a.md", "src/x"])),
        true,
    );
    check(
        "push:\n  paths: ['src/**']",
        push("refs/heads/main", None),
        true,
    );
    check(
        "push:\n  paths: ['**.rs', '!vendor/**']",
        push("refs/heads/main", Some(&["vendor/x.rs"])),
        false,
    );
    check(
        "push:\n  paths: ['**.rs', '!vendor/**']",
        push("refs/heads/main", Some(&["vendor/x.rs", "a.rs"])),
        true,
    );
    check(
        "push:\n  paths-ignore: ['docs/**']",
        push("refs/heads/main", Some(&["docs/a.md"])),
        false,
    );
    check(
        "push:\n  paths-ignore: ['docs/**']",
        push("refs/heads/main", Some(&["docs/a.md", "README.md"])),
        true,
    );
    check(
        "push:\n  branches: [main]\n  paths: ['src/**']",
        push("refs/heads/dev", Some(&["src/a"])),
        false,
    );
    // Path filters are not evaluated for tag pushes.
    check(
        "push:\n  tags: ['v*']\n  paths: ['src/**']",
        push("refs/tags/v1", Some(&["docs/a.md"])),
        true,
    );
}

#[test]
fn pull_request_types_and_branches() {
    check("pull_request:", pr("opened", "main", None), true);
    check("pull_request:", pr("synchronize", "main", None), true);
    check("pull_request:", pr("reopened", "main", None), true);
    check("pull_request:", pr("closed", "main", None), false);
    check(
        "pull_request:\n  types: [closed]",
        pr("closed", "main", None),
        true,
    );
    check(
        "pull_request:\n  types: [closed]",
        pr("opened", "main", None),
        false,
    );
    check(
        "pull_request:\n  branches: [main]",
        pr("opened", "main", None),
        true,
    );
    check(
        "pull_request:\n  branches: [main]",
        pr("opened", "refs/heads/main", None),
        true,
    );
    check(
        "pull_request:\n  branches: [main]",
        pr("opened", "dev", None),
        false,
    );
    check(
        "pull_request:\n  branches-ignore: ['wip/**']",
        pr("opened", "wip/x", None),
        false,
    );
    check(
        "pull_request:\n  paths: ['src/**']",
        pr("opened", "main", Some(&["README.md"])),
        false,
    );
    check("[pull_request]", pr("closed", "main", None), false);
    check("[pull_request]", pr("opened", "main", None), true);
}

#[test]
fn schedules() {
    let fired = |cron: &str| EventInfo {
        name: "schedule".into(),
        schedule: Some(cron.into()),
        ..Default::default()
    };
    check("schedule:\n  - cron: '0 * * * *'", fired("0 * * * *"), true);
    check(
        "schedule:\n  - cron: '0 * * * *'\n  - cron: '5 4 * * 1'",
        fired("5 4 * * 1"),
        true,
    );
    check(
        "schedule:\n  - cron: '0 * * * *'",
        fired("1 * * * *"),
        false,
    );
    check(
        "schedule:\n  - cron: '0 * * * *'",
        EventInfo {
            name: "schedule".into(),
            ..Default::default()
        },
        true,
    );
}

const DISPATCH: &str = r#"on:
  workflow_dispatch:
    inputs:
      name:
        type: string
        required: true
      debug:
        type: boolean
        default: false
      level:
        type: choice
        options: [low, high]
      count:
        type: number
        default: 3
      note:
        description: untyped
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo
"#;

fn check_inputs(given: &[(&str, &str)], expected: Result<&str, InputError>) {
    let (workflow, diagnostics) = load_workflow(DISPATCH.as_bytes());
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let given: IndexMap<String, String> = given
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let got = resolve_dispatch_inputs(&workflow, &given)
        .map(|m| serde_json::Value::Object(m).to_string());
    assert_eq!(got, expected.map(str::to_owned), "{given:?}");
}

#[test]
fn dispatch_inputs() {
    check_inputs(
        &[("name", "x")],
        Ok(r#"{"name":"x","debug":false,"level":"low","count":3,"note":""}"#),
    );
    check_inputs(
        &[
            ("name", "x"),
            ("debug", "true"),
            ("level", "high"),
            ("count", "2.5"),
            ("note", "n"),
        ],
        Ok(r#"{"name":"x","debug":true,"level":"high","count":2.5,"note":"n"}"#),
    );
    check_inputs(
        &[("NAME", "x"), ("count", "7")],
        Ok(r#"{"name":"x","debug":false,"level":"low","count":7,"note":""}"#),
    );
    check_inputs(&[], Err(InputError::Missing("name".into())));
    check_inputs(
        &[("name", "x"), ("other", "1")],
        Err(InputError::Unknown("other".into())),
    );
    check_inputs(
        &[("name", "x"), ("debug", "yes")],
        Err(InputError::Type {
            name: "debug".into(),
            expected: "a boolean",
            value: "yes".into(),
        }),
    );
    check_inputs(
        &[("name", "x"), ("count", "many")],
        Err(InputError::Type {
            name: "count".into(),
            expected: "a number",
            value: "many".into(),
        }),
    );
    check_inputs(
        &[("name", "x"), ("level", "mid")],
        Err(InputError::Choice {
            name: "level".into(),
            options: "low, high".into(),
            value: "mid".into(),
        }),
    );
}

#[test]
fn dispatch_needs_the_trigger() {
    let (workflow, _) =
        load_workflow(b"on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n");
    assert_eq!(
        resolve_dispatch_inputs(&workflow, &IndexMap::new()),
        Err(InputError::NotDispatchable)
    );
}
