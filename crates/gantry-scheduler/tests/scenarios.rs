//! Runs every `tests/scenarios/*.toml` on the fake executor and checks each job's conclusion,
//! the run's conclusion, ordering constraints, peak parallelism and (virtual) elapsed time.
//!
//! Scenario format: `[[job]]` tables become plan jobs (`id`, `name`, `needs`, `if`, `matrix`,
//! `fail_fast`, `max_parallel`, `timeout_minutes`, `continue_on_error`, `concurrency`, `call`,
//! `with`, `secrets`) with their fake behaviour (`result` = success|failure|hang, `ms`,
//! `outputs`); `[fake."<key or display name>"]` overrides one leg; `[called.<name>]` defines a
//! reusable workflow; `[expect]` states `conclusion`, `jobs` (display name -> conclusion, every
//! finished job listed), `order` (`"a < b"`: a finished before b started; `"a || b"`: they
//! overlapped), `max_running`, `elapsed_ms`, `outputs`, `errors` (display name -> substring),
//! `secrets` (display name -> names of the secrets the job received).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gantry_plan::lower::{lower, RunContext};
use gantry_plan::{
    CallInput, CallJob, CallSecrets, CalledWorkflow, Conclusion, ConcurrencySpec, JobBody,
    JobGraph, Plan, PlanJob, RunInfo, StepsJob, StrategySpec,
};
use gantry_scheduler::fake::{FakeExecutor, FakeJob};
use gantry_scheduler::{run_plan, RunEvent, SchedulerOptions};
use gantry_workflow::{Project, ReadError, RepoPath};
use indexmap::IndexMap;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    concurrent_jobs: Option<usize>,
    cancel_at_ms: Option<u64>,
    workflow_concurrency: Option<Concurrency>,
    #[serde(default)]
    job: Vec<Job>,
    #[serde(default)]
    fake: BTreeMap<String, Behaviour>,
    #[serde(default)]
    called: BTreeMap<String, Called>,
    #[serde(default)]
    secrets: gantry_plan::Secrets,
    /// A workflow file to load and lower instead of `[[job]]` tables.
    workflow: Option<String>,
    /// Other files of the repository (reusable workflows), by repo-relative path.
    #[serde(default)]
    files: BTreeMap<String, String>,
    expect: Expect,
}

struct Files<'a>(&'a BTreeMap<String, String>);

impl Project for Files<'_> {
    fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
        self.0
            .get(path.as_str())
            .map(|t| t.as_bytes().to_vec())
            .ok_or_else(|| ReadError::NotFound {
                path: path.to_string(),
            })
    }
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Concurrency {
    group: String,
    #[serde(default = "false_text")]
    cancel_in_progress: String,
}

fn false_text() -> String {
    "false".into()
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Behaviour {
    result: Option<String>,
    ms: Option<u64>,
    #[serde(default)]
    outputs: IndexMap<String, String>,
    #[serde(default)]
    ignore_cancel: bool,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Job {
    id: String,
    name: Option<String>,
    #[serde(default)]
    needs: Vec<String>,
    #[serde(rename = "if")]
    if_expr: Option<String>,
    matrix: Option<toml::Value>,
    fail_fast: Option<String>,
    max_parallel: Option<String>,
    timeout_minutes: Option<String>,
    continue_on_error: Option<String>,
    concurrency: Option<Concurrency>,
    call: Option<String>,
    #[serde(default)]
    with: IndexMap<String, toml::Value>,
    secrets: Option<toml::Value>,
    #[serde(flatten)]
    behaviour: Behaviour,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Called {
    #[serde(default)]
    inputs: Vec<Input>,
    #[serde(default)]
    required_secrets: Vec<String>,
    #[serde(default)]
    outputs: IndexMap<String, String>,
    job: Vec<Job>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Input {
    name: String,
    #[serde(rename = "type", default = "string_type")]
    input_type: String,
    #[serde(default)]
    required: bool,
    default: Option<toml::Value>,
}

fn string_type() -> String {
    "string".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    conclusion: String,
    jobs: BTreeMap<String, String>,
    #[serde(default)]
    order: Vec<String>,
    max_running: Option<usize>,
    elapsed_ms: Option<u64>,
    #[serde(default)]
    outputs: BTreeMap<String, IndexMap<String, String>>,
    #[serde(default)]
    errors: BTreeMap<String, String>,
    /// Display name -> names of the secrets the job received.
    #[serde(default)]
    secrets: BTreeMap<String, Vec<String>>,
}

fn to_json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

fn conclusion(text: &str) -> Conclusion {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .unwrap_or_else(|_| panic!("unknown conclusion {text}"))
}

fn behaviour(b: &Behaviour) -> FakeJob {
    let hang = b.result.as_deref() == Some("hang");
    FakeJob {
        conclusion: if hang {
            Conclusion::Success
        } else {
            conclusion(b.result.as_deref().unwrap_or("success"))
        },
        duration: if hang {
            None
        } else {
            Some(Duration::from_millis(b.ms.unwrap_or(10)))
        },
        outputs: b.outputs.clone(),
        ignore_cancel: b.ignore_cancel,
    }
}

fn graph(
    jobs: &[Job],
    called: &BTreeMap<String, Called>,
    fake: &mut FakeExecutor,
    prefix: &str,
) -> JobGraph {
    let mut out = JobGraph {
        workflow_file: format!("{prefix}workflow.yml"),
        ..JobGraph::default()
    };
    for job in jobs {
        *fake =
            std::mem::take(fake).with_job(format!("{prefix}{}", job.id), behaviour(&job.behaviour));
        let body = match &job.call {
            None => JobBody::Steps(Box::new(StepsJob {
                runs_on: vec![serde_json::Value::String("ubuntu-latest".into())],
                env: vec![],
                defaults_run: Default::default(),
                steps: vec![],
                outputs: vec![],
                container: None,
                services: Vec::new(),
            })),
            Some(name) => {
                let def = called
                    .get(name)
                    .unwrap_or_else(|| panic!("unknown called workflow {name}"));
                JobBody::Call(Box::new(CallJob {
                    uses: format!("./.github/workflows/{name}.yml"),
                    with: job
                        .with
                        .iter()
                        .map(|(k, v)| (k.clone(), to_json(v)))
                        .collect(),
                    secrets: match &job.secrets {
                        Some(toml::Value::String(s)) if s == "inherit" => CallSecrets::Inherit,
                        Some(toml::Value::Table(t)) => CallSecrets::Map(
                            t.iter()
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                })
                                .collect(),
                        ),
                        _ => CallSecrets::Map(vec![]),
                    },
                    called: Box::new(CalledWorkflow {
                        inputs: def
                            .inputs
                            .iter()
                            .map(|i| CallInput {
                                name: i.name.clone(),
                                input_type: i.input_type.clone(),
                                required: i.required,
                                default: i.default.as_ref().map(to_json),
                                options: vec![],
                            })
                            .collect(),
                        secrets: def
                            .required_secrets
                            .iter()
                            .map(|s| (s.clone(), true))
                            .collect(),
                        outputs: def
                            .outputs
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        graph: graph(&def.job, called, fake, &format!("{prefix}{}/", job.id)),
                    }),
                }))
            }
        };
        out.jobs.push(PlanJob {
            job_id: job.id.clone(),
            name: job.name.clone(),
            needs: job.needs.clone(),
            if_expr: job.if_expr.clone().unwrap_or_else(|| "success()".into()),
            strategy: (job.matrix.is_some()
                || job.fail_fast.is_some()
                || job.max_parallel.is_some())
            .then(|| StrategySpec {
                matrix: job.matrix.as_ref().map(to_json),
                fail_fast: job.fail_fast.clone().unwrap_or_else(|| "true".into()),
                max_parallel: job.max_parallel.clone(),
            }),
            concurrency: job.concurrency.as_ref().map(|c| ConcurrencySpec {
                group: c.group.clone(),
                cancel_in_progress: c.cancel_in_progress.clone(),
            }),
            timeout_minutes: job.timeout_minutes.clone(),
            continue_on_error: job
                .continue_on_error
                .clone()
                .unwrap_or_else(|| "false".into()),
            location: format!("workflow.yml:{}", job.id),
            body,
        });
    }
    out
}

struct Observed {
    events: Vec<RunEvent>,
    elapsed: Duration,
    outcome: gantry_scheduler::RunOutcome,
    /// Secret names each started job received, by display name.
    secrets: BTreeMap<String, Vec<String>>,
}

async fn run_scenario(scenario: &Scenario) -> Observed {
    let mut fake = FakeExecutor::new();
    let graph = graph(&scenario.job, &scenario.called, &mut fake, "");
    for (name, b) in &scenario.fake {
        fake = fake.with_job(name.clone(), behaviour(b));
    }
    let github = serde_json::json!({"event_name": "push", "ref": "refs/heads/main"});
    let vars = serde_json::json!({"FLAG": "on"});
    let plan = match &scenario.workflow {
        Some(text) => {
            let (workflow, diagnostics) = gantry_workflow::load_workflow(text.as_bytes());
            let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
            assert!(errors.is_empty(), "workflow has errors: {errors:?}");
            let context = RunContext {
                workflow_file: ".github/workflows/scenario.yml".into(),
                github,
                vars: vars.as_object().cloned().unwrap_or_default(),
                secrets: scenario.secrets.clone(),
                ..RunContext::default()
            };
            lower(&workflow, context, &Files(&scenario.files))
                .unwrap_or_else(|e| panic!("lowering: {e}"))
        }
        None => {
            let mut contexts = serde_json::Map::new();
            contexts.insert("github".into(), github);
            contexts.insert("inputs".into(), serde_json::json!({}));
            contexts.insert("vars".into(), vars);
            Plan {
                workflow_name: "scenario".into(),
                run_name: None,
                run: RunInfo {
                    run_id: "1".into(),
                    run_number: 1,
                    attempt: 1,
                    workspace: Default::default(),
                },
                contexts,
                secrets: scenario.secrets.clone(),
                concurrency: scenario
                    .workflow_concurrency
                    .as_ref()
                    .map(|c| ConcurrencySpec {
                        group: c.group.clone(),
                        cancel_in_progress: c.cancel_in_progress.clone(),
                    }),
                graph,
            }
        }
    };
    let options = SchedulerOptions {
        concurrent_jobs: scenario.concurrent_jobs,
        ..SchedulerOptions::default()
    };
    let (tx, mut rx) = gantry_plan::flow::channel(usize::MAX);
    let cancel = CancellationToken::new();
    if scenario.cancel_at_ms == Some(0) {
        cancel.cancel();
    } else if let Some(ms) = scenario.cancel_at_ms {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            cancel.cancel();
        });
    }
    let start = tokio::time::Instant::now();
    let recorder = fake.clone();
    let outcome = run_plan(plan, Arc::new(fake), options, tx, cancel).await;
    let secrets = recorder
        .calls()
        .into_iter()
        .map(|call| {
            (
                call.spec.display_name,
                call.spec.secrets.keys().cloned().collect(),
            )
        })
        .collect();
    let elapsed = start.elapsed();
    let mut events = Vec::new();
    while let Some(event) = rx.try_recv() {
        events.push(event);
    }
    Observed {
        secrets,
        events,
        elapsed,
        outcome,
    }
}

fn check(path: &Path, observed: &Observed, expect: &Expect) -> Vec<String> {
    let mut problems = Vec::new();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut finished: BTreeMap<String, String> = BTreeMap::new();
    let mut started_at: BTreeMap<String, usize> = BTreeMap::new();
    let mut finished_at: BTreeMap<String, usize> = BTreeMap::new();
    let mut key_to_name: BTreeMap<String, String> = BTreeMap::new();
    let mut running = 0usize;
    let mut max_running = 0usize;
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    let mut outputs: BTreeMap<String, IndexMap<String, String>> = BTreeMap::new();
    for (index, event) in observed.events.iter().enumerate() {
        match event {
            RunEvent::JobStarted { key, display_name } => {
                key_to_name.insert(key.clone(), display_name.clone());
                started_at.insert(display_name.clone(), index);
                running += 1;
                max_running = max_running.max(running);
            }
            RunEvent::JobFinished {
                key,
                display_name,
                result,
            } => {
                if started_at.contains_key(display_name)
                    && key_to_name.get(key) == Some(display_name)
                {
                    running -= 1;
                }
                if finished
                    .insert(display_name.clone(), result.conclusion.to_string())
                    .is_some()
                {
                    problems.push(format!("{name}: '{display_name}' finished twice"));
                }
                finished_at.insert(display_name.clone(), index);
                if let Some(error) = &result.error {
                    errors.insert(display_name.clone(), error.clone());
                }
                outputs.insert(display_name.clone(), result.outputs.clone());
            }
            _ => {}
        }
    }
    match observed.events.last() {
        Some(RunEvent::RunFinished { conclusion })
            if conclusion.to_string() == expect.conclusion => {}
        other => problems.push(format!(
            "{name}: run finished with {other:?}, expected {}",
            expect.conclusion
        )),
    }
    if observed.outcome.conclusion.to_string() != expect.conclusion {
        problems.push(format!(
            "{name}: outcome {} != {}",
            observed.outcome.conclusion, expect.conclusion
        ));
    }
    if finished != expect.jobs {
        problems.push(format!(
            "{name}: jobs\n  got      {finished:?}\n  expected {:?}\n  errors {errors:?}",
            expect.jobs
        ));
    }
    for constraint in &expect.order {
        let (a, b, overlap) = if let Some((a, b)) = constraint.split_once(" < ") {
            (a, b, false)
        } else if let Some((a, b)) = constraint.split_once(" || ") {
            (a, b, true)
        } else {
            problems.push(format!("{name}: bad order constraint '{constraint}'"));
            continue;
        };
        let start = |job: &str| {
            started_at
                .get(job)
                .or_else(|| finished_at.get(job))
                .copied()
        };
        let finish = |job: &str| finished_at.get(job).copied();
        let ok = match (start(a), finish(a), start(b), finish(b)) {
            (Some(sa), Some(fa), Some(sb), Some(fb)) => {
                if overlap {
                    sa < fb && sb < fa
                } else {
                    fa < sb
                }
            }
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "{name}: order constraint '{constraint}' does not hold"
            ));
        }
    }
    if let Some(max) = expect.max_running {
        if max_running != max {
            problems.push(format!(
                "{name}: at most {max_running} jobs ran at once, expected {max}"
            ));
        }
    }
    if let Some(ms) = expect.elapsed_ms {
        if observed.elapsed != Duration::from_millis(ms) {
            problems.push(format!(
                "{name}: took {:?} (virtual), expected {ms} ms",
                observed.elapsed
            ));
        }
    }
    for (job, want) in &expect.outputs {
        if outputs.get(job) != Some(want) {
            problems.push(format!(
                "{name}: outputs of '{job}' are {:?}, expected {want:?}",
                outputs.get(job)
            ));
        }
    }
    for (job, want) in &expect.errors {
        if !errors.get(job).is_some_and(|e| e.contains(want.as_str())) {
            problems.push(format!(
                "{name}: error of '{job}' is {:?}, expected to contain '{want}'",
                errors.get(job)
            ));
        }
    }
    for (job, want) in &expect.secrets {
        if observed.secrets.get(job) != Some(want) {
            problems.push(format!(
                "{name}: '{job}' received secrets {:?}, expected {want:?}",
                observed.secrets.get(job)
            ));
        }
    }
    problems
}

#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 20,
        "expected the scenario files in {}",
        dir.display()
    );
    let mut problems = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let scenario: Scenario =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // A fresh paused runtime per scenario: virtual time starts at zero and auto-advances.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let observed = runtime.block_on(run_scenario(&scenario));
        problems.extend(check(path, &observed, &scenario.expect));
    }
    println!("{} scenarios checked", paths.len());
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
