//! The run loop: a true DAG scheduler. A job becomes ready the moment its own `needs` are done
//! (not level by level); its `if:` is evaluated with GitHub's status functions, its matrix is
//! expanded then (so `fromJSON(needs.x.outputs.y)` works), and each leg runs as a task through
//! max-parallel, concurrency-group and global slots, under its timeout.
//!
//! GitHub's rules implemented here:
//! - `success()` at job level: every ancestor (transitively) succeeded and the run is not
//!   cancelled; `failure()`: some ancestor failed; `cancelled()`: the run was cancelled.
//!   An `if:` without a status function gets an implicit `success() &&`.
//! - A job whose `if:` is false is skipped, or cancelled when the run was cancelled.
//! - A matrix job's result: failure if a leg failed (legs with `continue-on-error` count as
//!   successes), else cancelled if a leg was cancelled, else success. Its outputs merge the legs'
//!   non-empty outputs in finish order.
//! - `fail-fast` (default true) cancels the other legs when a leg fails.
//! - A job over `timeout-minutes` (default 360) is cancelled and concludes `failure`.
//! - On cancellation (Ctrl-C) running jobs get their token cancelled; jobs not yet started run
//!   only when their `if:` holds with `cancelled()` true (`always()`, `cancelled()`).
//! - A cancelled job that does not stop within [`CANCEL_GRACE`] (GitHub's default
//!   `cancel-timeout-minutes`, 5) is abandoned: its future is dropped.
//! - A reusable workflow call job becomes a sub-graph (keys `caller/job`); its result
//!   aggregates the called jobs and its outputs come from `on.workflow_call.outputs`. Call legs
//!   take max-parallel slots and concurrency groups like other jobs (not global job slots: the
//!   called jobs take those); cancelling a call leg cancels its sub-graph.
//!
//! Invariant: all state is owned by the loop in [`run_plan`]; leg tasks only send messages
//! back. Tests: `tests/scenarios.rs`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use gantry_expr::Value;
use gantry_plan::flow;
use gantry_plan::matrix::{self, Combination};
use gantry_plan::{
    CallJob, CallSecrets, Conclusion, Executor, JobBody, JobGraph, JobResult, JobSpec, Plan,
    PlanJob, RunDefaults, Secret, Secrets,
};
use indexmap::IndexMap;
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::concurrency::ConcurrencyGroups;
use crate::error::{render, InputTypeError, PrepareError};
use crate::eval::{self, ctx_from_json, JobStatus};
use crate::event::{JobOutcome, RunEvent, RunOutcome};

/// GitHub's default job timeout.
pub const DEFAULT_TIMEOUT_MINUTES: f64 = 360.0;

/// How long a cancelled job may take to stop (GitHub's default `cancel-timeout-minutes`).
pub const CANCEL_GRACE: Duration = Duration::from_secs(5 * 60);

/// Upper bound for timers, so a huge `timeout-minutes` cannot overflow the clock.
const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Clone)]
pub struct SchedulerOptions {
    /// At most this many jobs run at once (`--concurrent-jobs`); `None` means no limit.
    pub concurrent_jobs: Option<usize>,
    /// Shared by all runs of the process, so concurrency groups work across runs.
    pub groups: Arc<ConcurrencyGroups>,
    /// Jobs of the top-level workflow that an earlier attempt of the run finished, by job id,
    /// with the result and outputs their dependents see in `needs` (a re-run of failed jobs).
    /// They are reported finished at the start and not run again. The caller keeps the set
    /// closed under `needs`: a job reused has its needs reused too.
    pub reuse: IndexMap<String, JobResult>,
}

impl Default for SchedulerOptions {
    fn default() -> SchedulerOptions {
        SchedulerOptions {
            concurrent_jobs: None,
            groups: ConcurrencyGroups::new(),
            reuse: IndexMap::new(),
        }
    }
}

type JsonMap = serde_json::Map<String, serde_json::Value>;

struct Scope {
    prefix: String,
    display_prefix: String,
    /// `github`, `inputs`, `vars` (shared: only each leg's own copy is deep-cloned).
    contexts: Arc<JsonMap>,
    /// The same, converted once for expression evaluation (values are shared, cheap to clone).
    expr_contexts: eval::Ctx,
    secrets: Arc<Secrets>,
    graph: Arc<JobGraph>,
    /// `on.workflow_call.outputs` of a called workflow.
    outputs: Vec<(String, String)>,
    /// The caller's node and leg.
    parent: Option<(usize, usize)>,
    nodes: Vec<usize>,
    open_nodes: usize,
}

struct Node {
    scope: usize,
    job_index: usize,
    key: String,
    needs: Vec<usize>,
    dependents: Vec<usize>,
    waiting_on: usize,
    state: NodeState,
}

enum NodeState {
    Waiting,
    Running(NodeRun),
    Done {
        result: Conclusion,
        outputs: IndexMap<String, String>,
    },
}

impl NodeState {
    fn is_done(&self) -> bool {
        matches!(self, NodeState::Done { .. })
    }
}

struct NodeRun {
    legs: Vec<Leg>,
    open_legs: usize,
    fail_fast: bool,
    failed: bool,
    cancelled: bool,
    outputs: IndexMap<String, String>,
}

struct Leg {
    key: String,
    display_name: String,
    continue_on_error: bool,
    cancel: CancellationToken,
    done: bool,
    /// The sub-graph of a reusable workflow call leg.
    child_scope: Option<usize>,
    /// A call leg waiting for its max-parallel slot or concurrency group.
    pending_call: Option<Box<PendingCall>>,
    /// Slots held by a running call leg, released when it finishes.
    held: Option<LegSlots>,
    /// Cancelled when the leg finishes (stops watchers of call legs).
    finished: CancellationToken,
}

/// Everything needed to start a reusable workflow call once it may run.
struct PendingCall {
    contexts: JsonMap,
    secrets: Secrets,
    graph: Arc<JobGraph>,
    outputs: Vec<(String, String)>,
}

enum Msg {
    /// `slots` are released only after the loop has reported the leg finished, so observers
    /// never see the next job start before this one finished.
    LegDone {
        node: usize,
        leg: usize,
        result: JobResult,
        slots: LegSlots,
    },
    /// A running call leg's token was cancelled from outside the loop (a newer holder of its
    /// concurrency group with `cancel-in-progress`): cancel its sub-graph.
    CancelLeg { node: usize, leg: usize },
    /// A call leg got its slots and may start its sub-graph.
    StartCall {
        node: usize,
        leg: usize,
        slots: LegSlots,
    },
}

/// The max-parallel, concurrency-group and global slots a leg held.
#[derive(Default)]
struct LegSlots {
    _max_parallel: Option<tokio::sync::OwnedSemaphorePermit>,
    _group: Option<crate::concurrency::GroupPermit>,
    _global: Option<tokio::sync::OwnedSemaphorePermit>,
}

struct Run {
    plan: Arc<Plan>,
    executor: Arc<dyn Executor>,
    groups: Arc<ConcurrencyGroups>,
    global_slots: Option<Arc<Semaphore>>,
    events: flow::Sender<RunEvent>,
    tx: UnboundedSender<Msg>,
    scopes: Vec<Scope>,
    nodes: Vec<Node>,
    ready: VecDeque<usize>,
    open_nodes: usize,
    cancelled: bool,
    outcome_jobs: IndexMap<String, JobOutcome>,
    needs_results: IndexMap<String, Conclusion>,
}

/// Runs a plan to completion and returns its outcome. `cancel` is the run's cancellation
/// (Ctrl-C); events go to `events` (a closed receiver is fine).
pub async fn run_plan(
    plan: Plan,
    executor: Arc<dyn Executor>,
    options: SchedulerOptions,
    events: flow::Sender<RunEvent>,
    cancel: CancellationToken,
) -> RunOutcome {
    let plan = Arc::new(plan);
    let (tx, mut rx) = unbounded_channel();
    let mut run = Run {
        plan: Arc::clone(&plan),
        executor,
        groups: Arc::clone(&options.groups),
        global_slots: options
            .concurrent_jobs
            .map(|n| Arc::new(Semaphore::new(n.max(1)))),
        events,
        tx,
        scopes: Vec::new(),
        nodes: Vec::new(),
        ready: VecDeque::new(),
        open_nodes: 0,
        cancelled: false,
        outcome_jobs: IndexMap::new(),
        needs_results: IndexMap::new(),
    };
    let run_name = plan
        .run_name
        .as_ref()
        .and_then(|template| {
            let contexts = ctx_from_json(&plan.contexts);
            eval::eval_string(template, &contexts, &gantry_expr::NoHost).ok()
        })
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| plan.workflow_name.clone());
    run.emit(RunEvent::RunStarted {
        run_id: plan.run.run_id.clone(),
        workflow_name: plan.workflow_name.clone(),
        run_name,
    });

    let run_token = cancel.child_token();
    let root_contexts = plan.contexts.clone();
    let graph = Arc::new(plan.graph.clone());
    if let Err(err) = graph.validate() {
        run.emit(RunEvent::RunFinished {
            conclusion: Conclusion::Failure,
        });
        let mut outcome = run.outcome(Conclusion::Failure);
        outcome.error = Some(err.to_string());
        return outcome;
    }

    // Workflow-level concurrency: hold the group for the whole run.
    let mut _run_permit = None;
    let mut refused: Option<String> = None;
    if let Some(spec) = &plan.concurrency {
        let contexts = ctx_from_json(&root_contexts);
        let host = JobStatus {
            success: true,
            failure: false,
            cancelled: false,
        };
        match (
            eval::eval_string(&spec.group, &contexts, &host),
            eval::eval_bool(&spec.cancel_in_progress, &contexts, &host),
        ) {
            (Ok(group), Ok(cancel_in_progress)) if !group.is_empty() => {
                match run
                    .groups
                    .acquire(&group, cancel_in_progress, &run_token)
                    .await
                {
                    Ok(permit) => _run_permit = Some(permit),
                    Err(err) => refused = Some(err.to_string()),
                }
            }
            (Ok(_), Ok(_)) => {}
            (Err(err), _) | (_, Err(err)) => refused = Some(format!("workflow concurrency: {err}")),
        }
    }

    let root = run.add_scope(NewScope {
        prefix: String::new(),
        display_prefix: String::new(),
        contexts: root_contexts,
        secrets: Arc::new(plan.secrets.clone()),
        graph,
        outputs: Vec::new(),
        parent: None,
    });
    if let Some(reason) = &refused {
        // Every job of a run that never got its concurrency group is cancelled.
        run.cancelled = true;
        let nodes = run.scopes[root].nodes.clone();
        for node in nodes {
            let result = JobResult {
                conclusion: Conclusion::Cancelled,
                outputs: IndexMap::new(),
                error: Some(reason.clone()),
            };
            run.finish_unstarted(node, result);
        }
        run.ready.clear();
    } else {
        let nodes = run.scopes[root].nodes.clone();
        for node in nodes {
            if let Some(result) = options.reuse.get(&run.nodes[node].key) {
                run.finish_unstarted(node, result.clone());
                if let NodeState::Done { outputs, .. } = &mut run.nodes[node].state {
                    outputs.clone_from(&result.outputs);
                }
            }
        }
    }

    loop {
        // Decide on cancellation before starting anything, so a run cancelled early starts
        // only the jobs whose `if:` holds when cancelled.
        if run_token.is_cancelled() && !run.cancelled {
            run.cancel_all();
        }
        while let Some(node) = run.ready.pop_front() {
            // A reused job is done before its turn comes.
            if !run.nodes[node].state.is_done() {
                run.start_node(node);
            }
        }
        if run.open_nodes == 0 {
            break;
        }
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::LegDone { node, leg, result, slots }) => {
                    run.leg_done(node, leg, result);
                    drop(slots);
                }
                Some(Msg::StartCall { node, leg, slots }) => run.start_pending_call(node, leg, slots),
                Some(Msg::CancelLeg { node, leg }) => run.cancel_leg(node, leg),
                // Unreachable while `run` holds a sender; stop rather than spin.
                None => break,
            },
            _ = run_token.cancelled(), if !run.cancelled => run.cancel_all(),
        }
    }
    drain(&mut rx);

    let conclusion = run.conclusion();
    run.emit(RunEvent::RunFinished { conclusion });
    let mut outcome = run.outcome(conclusion);
    outcome.error = refused;
    outcome
}

fn drain(rx: &mut UnboundedReceiver<Msg>) {
    while rx.try_recv().is_ok() {}
}

fn cancelled_result(reason: &str) -> JobResult {
    JobResult {
        conclusion: Conclusion::Cancelled,
        outputs: IndexMap::new(),
        error: Some(reason.to_owned()),
    }
}

fn failed_result(reason: String) -> JobResult {
    JobResult {
        conclusion: Conclusion::Failure,
        outputs: IndexMap::new(),
        error: Some(reason),
    }
}

fn merge_defaults(workflow: &RunDefaults, job: &RunDefaults) -> RunDefaults {
    RunDefaults {
        shell: job.shell.clone().or_else(|| workflow.shell.clone()),
        working_directory: job
            .working_directory
            .clone()
            .or_else(|| workflow.working_directory.clone()),
    }
}

fn flatten_labels(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|item| flatten_labels(item, out)),
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Null => {}
        other => out.push(other.to_string()),
    }
}

impl Run {
    fn emit(&self, event: RunEvent) {
        // Observers may have gone away; the run goes on.
        let _ = self.events.send(event);
    }

    fn job(&self, node: usize) -> &PlanJob {
        let node = &self.nodes[node];
        &self.scopes[node.scope].graph.jobs[node.job_index]
    }

    fn add_scope(&mut self, new: NewScope) -> usize {
        let NewScope {
            prefix,
            display_prefix,
            contexts,
            secrets,
            graph,
            outputs,
            parent,
        } = new;
        let scope = self.scopes.len();
        let first = self.nodes.len();
        let ids: IndexMap<&str, usize> = graph
            .jobs
            .iter()
            .enumerate()
            .map(|(i, job)| (job.job_id.as_str(), first + i))
            .collect();
        for (job_index, job) in graph.jobs.iter().enumerate() {
            let needs: Vec<usize> = job
                .needs
                .iter()
                .filter_map(|need| ids.get(need.as_str()).copied())
                .collect();
            self.nodes.push(Node {
                scope,
                job_index,
                key: format!("{prefix}{}", job.job_id),
                waiting_on: needs.len(),
                needs,
                dependents: Vec::new(),
                state: NodeState::Waiting,
            });
        }
        let count = graph.jobs.len();
        for node in first..first + count {
            let needs = self.nodes[node].needs.clone();
            for need in needs {
                self.nodes[need].dependents.push(node);
            }
            if self.nodes[node].waiting_on == 0 {
                self.ready.push_back(node);
            }
        }
        self.open_nodes += count;
        self.scopes.push(Scope {
            prefix,
            display_prefix,
            expr_contexts: ctx_from_json(&contexts),
            contexts: Arc::new(contexts),
            secrets,
            graph,
            outputs,
            parent,
            nodes: (first..first + count).collect(),
            open_nodes: count,
        });
        scope
    }

    fn node_result(&self, node: usize) -> Option<(Conclusion, &IndexMap<String, String>)> {
        match &self.nodes[node].state {
            NodeState::Done { result, outputs } => Some((*result, outputs)),
            _ => None,
        }
    }

    fn status_for(&self, node: usize) -> JobStatus {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = self.nodes[node].needs.clone();
        let mut all_succeeded = true;
        let mut any_failed = false;
        while let Some(ancestor) = stack.pop() {
            if std::mem::replace(&mut seen[ancestor], true) {
                continue;
            }
            match self.node_result(ancestor).map(|(r, _)| r) {
                Some(Conclusion::Success) => {}
                Some(Conclusion::Failure) => {
                    any_failed = true;
                    all_succeeded = false;
                }
                _ => all_succeeded = false,
            }
            stack.extend(self.nodes[ancestor].needs.iter().copied());
        }
        let cancelled = self.cancelled || self.scope_cancelled(self.nodes[node].scope);
        JobStatus {
            success: all_succeeded && !cancelled,
            failure: any_failed,
            cancelled,
        }
    }

    /// Whether the caller leg of this scope (or of an enclosing one) was cancelled.
    fn scope_cancelled(&self, mut scope: usize) -> bool {
        while let Some((node, leg)) = self.scopes[scope].parent {
            if let NodeState::Running(run) = &self.nodes[node].state {
                if run.legs.get(leg).is_some_and(|l| l.cancel.is_cancelled()) {
                    return true;
                }
            }
            scope = self.nodes[node].scope;
        }
        false
    }

    /// Cancels a running leg; for a reusable workflow call, everything running in its sub-graph.
    fn cancel_leg(&self, node: usize, leg: usize) {
        let NodeState::Running(run) = &self.nodes[node].state else {
            return;
        };
        let Some(state) = run.legs.get(leg).filter(|l| !l.done) else {
            return;
        };
        state.cancel.cancel();
        if let Some(scope) = state.child_scope {
            for &child in &self.scopes[scope].nodes {
                if let NodeState::Running(child_run) = &self.nodes[child].state {
                    for child_leg in 0..child_run.legs.len() {
                        self.cancel_leg(child, child_leg);
                    }
                }
            }
        }
    }

    fn needs_context(&self, node: usize) -> serde_json::Value {
        let mut needs = JsonMap::new();
        for &need in &self.nodes[node].needs {
            if let Some((result, outputs)) = self.node_result(need) {
                let outputs: JsonMap = outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                needs.insert(
                    self.job(need).job_id.clone(),
                    json!({"result": result.as_str(), "outputs": outputs}),
                );
            }
        }
        serde_json::Value::Object(needs)
    }

    /// Display name of a job that never got as far as a leg.
    fn base_display_name(&self, node: usize) -> String {
        let job = self.job(node);
        let scope = &self.scopes[self.nodes[node].scope];
        let name = match &job.name {
            Some(name) if !name.contains("${{") => name.clone(),
            _ => job.job_id.clone(),
        };
        format!("{}{name}", scope.display_prefix)
    }

    fn finish_unstarted(&mut self, node: usize, result: JobResult) {
        let key = self.nodes[node].key.clone();
        let display_name = self.base_display_name(node);
        self.emit(RunEvent::JobFinished {
            key: key.clone(),
            display_name: display_name.clone(),
            result: result.clone(),
        });
        self.outcome_jobs.insert(
            key,
            JobOutcome {
                display_name,
                result: result.clone(),
            },
        );
        self.node_done(node, result.conclusion, IndexMap::new());
    }

    fn node_done(&mut self, node: usize, result: Conclusion, outputs: IndexMap<String, String>) {
        if matches!(self.nodes[node].state, NodeState::Done { .. }) {
            return;
        }
        self.nodes[node].state = NodeState::Done { result, outputs };
        self.needs_results
            .insert(self.nodes[node].key.clone(), result);
        self.open_nodes -= 1;
        for dependent in self.nodes[node].dependents.clone() {
            let waiting = &mut self.nodes[dependent].waiting_on;
            *waiting -= 1;
            if *waiting == 0 {
                self.ready.push_back(dependent);
            }
        }
        let scope = self.nodes[node].scope;
        self.scopes[scope].open_nodes -= 1;
        if self.scopes[scope].open_nodes == 0 {
            if let Some((caller, leg)) = self.scopes[scope].parent {
                let result = self.called_result(scope);
                self.leg_done(caller, leg, result);
            }
        }
    }

    /// The result of a finished called workflow, as its caller job's result.
    fn called_result(&self, scope: usize) -> JobResult {
        let scope = &self.scopes[scope];
        let mut conclusion = Conclusion::Success;
        let mut jobs = JsonMap::new();
        for &node in &scope.nodes {
            if let Some((result, outputs)) = self.node_result(node) {
                match result {
                    Conclusion::Failure => conclusion = Conclusion::Failure,
                    Conclusion::Cancelled if conclusion != Conclusion::Failure => {
                        conclusion = Conclusion::Cancelled
                    }
                    _ => {}
                }
                let outputs: JsonMap = outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                jobs.insert(
                    self.job(node).job_id.clone(),
                    json!({"result": result.as_str(), "outputs": outputs}),
                );
            }
        }
        let mut contexts = scope.expr_contexts.clone();
        contexts.insert("jobs", Value::from_json(&serde_json::Value::Object(jobs)));
        let host = JobStatus {
            success: true,
            failure: false,
            cancelled: false,
        };
        let mut result = JobResult::new(conclusion);
        for (name, template) in &scope.outputs {
            match eval::eval_string(template, &contexts, &host) {
                Ok(value) => {
                    result.outputs.insert(name.clone(), value);
                }
                Err(err) => {
                    result.conclusion = Conclusion::Failure;
                    result.error = Some(format!("output '{name}': {err}"));
                }
            }
        }
        result
    }

    fn cancel_all(&mut self) {
        self.cancelled = true;
        for node in 0..self.nodes.len() {
            if let NodeState::Running(run) = &self.nodes[node].state {
                for leg in 0..run.legs.len() {
                    self.cancel_leg(node, leg);
                }
            }
        }
    }

    fn conclusion(&self) -> Conclusion {
        if self.cancelled {
            return Conclusion::Cancelled;
        }
        let root_nodes = self
            .scopes
            .first()
            .map(|scope| scope.nodes.as_slice())
            .unwrap_or(&[]);
        let results: Vec<Conclusion> = root_nodes
            .iter()
            .filter_map(|&node| self.node_result(node).map(|(r, _)| r))
            .collect();
        if results.contains(&Conclusion::Failure) {
            Conclusion::Failure
        } else if results.contains(&Conclusion::Cancelled) {
            Conclusion::Cancelled
        } else {
            Conclusion::Success
        }
    }

    fn outcome(&self, conclusion: Conclusion) -> RunOutcome {
        RunOutcome {
            conclusion,
            jobs: self.outcome_jobs.clone(),
            needs_results: self.needs_results.clone(),
            error: None,
        }
    }

    /// A node whose needs are all done: decide whether it runs, then create its legs.
    fn start_node(&mut self, node: usize) {
        let status = self.status_for(node);
        let scope = &self.scopes[self.nodes[node].scope];
        let needs = self.needs_context(node);
        let mut expr_contexts = scope.expr_contexts.clone();
        expr_contexts.insert("needs", Value::from_json(&needs));
        let contexts = Arc::clone(&scope.contexts);
        let job = self.job(node).clone();
        match eval::eval_condition(&job.if_expr, &expr_contexts, &status) {
            Err(err) => {
                self.finish_unstarted(node, failed_result(format!("error evaluating 'if': {err}")));
                return;
            }
            Ok(false) => {
                let conclusion = if status.cancelled {
                    Conclusion::Cancelled
                } else {
                    Conclusion::Skipped
                };
                self.finish_unstarted(node, JobResult::new(conclusion));
                return;
            }
            Ok(true) => {}
        }

        let combinations: Option<Vec<Combination>> =
            match job.strategy.as_ref().and_then(|s| s.matrix.as_ref()) {
                None => None,
                Some(tree) => {
                    let expanded = eval::eval_tree(tree, &expr_contexts, &status)
                        .map_err(PrepareError::Eval)
                        .and_then(|value| {
                            matrix::expand_matrix(&value).map_err(PrepareError::Matrix)
                        });
                    match expanded {
                        Ok(combinations) => Some(combinations),
                        Err(err) => {
                            self.finish_unstarted(
                                node,
                                failed_result(format!("error in strategy.matrix: {err}")),
                            );
                            return;
                        }
                    }
                }
            };
        let strategy_settings = job.strategy.as_ref().map(|strategy| {
            let fail_fast = eval::eval_bool(&strategy.fail_fast, &expr_contexts, &status);
            let max_parallel = strategy
                .max_parallel
                .as_ref()
                .map(|text| eval::eval_number(text, &expr_contexts, &status))
                .transpose();
            (fail_fast, max_parallel)
        });
        let (fail_fast, max_parallel) = match strategy_settings {
            None => (true, None),
            Some((Ok(fail_fast), Ok(max_parallel))) => (fail_fast, max_parallel),
            Some((Err(err), _)) | Some((_, Err(err))) => {
                self.finish_unstarted(node, failed_result(format!("error in strategy: {err}")));
                return;
            }
        };
        let is_matrix = combinations.is_some();
        let combinations = combinations.unwrap_or_else(|| vec![Combination::new()]);
        let total = combinations.len();
        let max_parallel = max_parallel.map(|n| (n.max(1.0) as usize).min(total.max(1)));
        let slots = max_parallel
            .filter(|&n| n < total)
            .map(|n| Arc::new(Semaphore::new(n)));

        let mut legs = Vec::with_capacity(total);
        let mut leg_contexts = Vec::with_capacity(total);
        let scope_index = self.nodes[node].scope;
        for (index, combination) in combinations.into_iter().enumerate() {
            let matrix_json = if is_matrix {
                serde_json::Value::Object(combination.clone())
            } else {
                serde_json::Value::Null
            };
            let strategy_json = json!({
                "fail-fast": fail_fast,
                "job-index": index,
                "job-total": total,
                "max-parallel": max_parallel.unwrap_or(total),
            });
            let mut leg_expr_contexts = expr_contexts.clone();
            leg_expr_contexts.insert("matrix", Value::from_json(&matrix_json));
            leg_expr_contexts.insert("strategy", Value::from_json(&strategy_json));
            let mut ctx = (*contexts).clone();
            ctx.insert("needs".into(), needs.clone());
            ctx.insert("matrix".into(), matrix_json);
            ctx.insert("strategy".into(), strategy_json);
            let scope = &self.scopes[scope_index];
            let key = if is_matrix {
                format!("{}{}-{}", scope.prefix, job.job_id, index + 1)
            } else {
                format!("{}{}", scope.prefix, job.job_id)
            };
            let name = match &job.name {
                Some(name) if name.contains("${{") => {
                    eval::eval_string(name, &leg_expr_contexts, &status)
                        .unwrap_or_else(|_| name.clone())
                }
                Some(name) if is_matrix => matrix::display_name(name, &combination),
                Some(name) => name.clone(),
                None if is_matrix => matrix::display_name(&job.job_id, &combination),
                None => job.job_id.clone(),
            };
            let continue_on_error =
                eval::eval_bool(&job.continue_on_error, &leg_expr_contexts, &status);
            legs.push(Leg {
                key,
                display_name: format!("{}{name}", scope.display_prefix),
                continue_on_error: *continue_on_error.as_ref().unwrap_or(&false),
                cancel: CancellationToken::new(),
                done: false,
                child_scope: None,
                pending_call: None,
                held: None,
                finished: CancellationToken::new(),
            });
            leg_contexts.push((ctx, leg_expr_contexts, continue_on_error.err()));
        }
        self.nodes[node].state = NodeState::Running(NodeRun {
            open_legs: legs.len(),
            legs,
            fail_fast,
            failed: false,
            cancelled: false,
            outputs: IndexMap::new(),
        });

        for (leg, (ctx, leg_expr_contexts, coe_error)) in leg_contexts.into_iter().enumerate() {
            let (key, display_name) = match &self.nodes[node].state {
                NodeState::Running(run) => (
                    run.legs[leg].key.clone(),
                    run.legs[leg].display_name.clone(),
                ),
                _ => continue,
            };
            self.emit(RunEvent::JobQueued {
                key: key.clone(),
                display_name: display_name.clone(),
            });
            if let Some(err) = coe_error {
                self.send_done(
                    node,
                    leg,
                    failed_result(format!("error in continue-on-error: {err}")),
                );
                continue;
            }
            match &job.body {
                JobBody::Steps(_) => {
                    let contexts = (ctx, leg_expr_contexts);
                    self.start_steps_leg(node, leg, &job, contexts, &status, slots.clone())
                }
                JobBody::Call(call) => {
                    let contexts = (ctx, leg_expr_contexts);
                    let concurrency = job.concurrency.as_ref();
                    let limits = (slots.clone(), concurrency);
                    self.start_call_leg(node, leg, call, contexts, &status, limits)
                }
            }
        }
    }

    fn send_done(&self, node: usize, leg: usize, result: JobResult) {
        // The loop owns the receiver for as long as `self` lives.
        let _ = self.tx.send(Msg::LegDone {
            node,
            leg,
            result,
            slots: LegSlots::default(),
        });
    }

    fn leg_token(&self, node: usize, leg: usize) -> CancellationToken {
        match &self.nodes[node].state {
            NodeState::Running(run) => run.legs[leg].cancel.clone(),
            _ => CancellationToken::new(),
        }
    }

    fn start_steps_leg(
        &mut self,
        node: usize,
        leg: usize,
        job: &PlanJob,
        (ctx, expr_contexts): (JsonMap, eval::Ctx),
        status: &JobStatus,
        slots: Option<Arc<Semaphore>>,
    ) {
        let JobBody::Steps(steps_job) = &job.body else {
            return;
        };
        let scope = &self.scopes[self.nodes[node].scope];
        let prepared = (|ctx: JsonMap| -> Result<PreparedLeg, PrepareError> {
            let mut runs_on = Vec::new();
            for label in &steps_job.runs_on {
                let value =
                    eval::eval_tree(label, &expr_contexts, status).map_err(PrepareError::RunsOn)?;
                flatten_labels(&value, &mut runs_on);
            }
            let timeout = match &job.timeout_minutes {
                Some(text) => eval::eval_number(text, &expr_contexts, status)
                    .map_err(PrepareError::TimeoutMinutes)?,
                None => DEFAULT_TIMEOUT_MINUTES,
            };
            if timeout <= 0.0 {
                return Err(PrepareError::TimeoutNotPositive(timeout));
            }
            let group = match &job.concurrency {
                Some(spec) => {
                    let group = eval::eval_string(&spec.group, &expr_contexts, status)
                        .map_err(PrepareError::Concurrency)?;
                    let cancel = eval::eval_bool(&spec.cancel_in_progress, &expr_contexts, status)
                        .map_err(PrepareError::Concurrency)?;
                    (!group.is_empty()).then_some((group, cancel))
                }
                None => None,
            };
            let (key, display_name, continue_on_error) = match &self.nodes[node].state {
                NodeState::Running(run) => {
                    let leg = &run.legs[leg];
                    (
                        leg.key.clone(),
                        leg.display_name.clone(),
                        leg.continue_on_error,
                    )
                }
                _ => return Err(PrepareError::NotRunning),
            };
            let mut env = scope.graph.env.clone();
            env.extend(steps_job.env.iter().cloned());
            let spec = JobSpec {
                run_id: self.plan.run.run_id.clone(),
                run_number: self.plan.run.run_number,
                attempt: self.plan.run.attempt,
                job_key: key,
                job_id: job.job_id.clone(),
                display_name,
                workflow_file: scope.graph.workflow_file.clone(),
                runs_on,
                contexts: ctx,
                secrets: (*scope.secrets).clone(),
                env,
                defaults_run: merge_defaults(&scope.graph.defaults_run, &steps_job.defaults_run),
                steps: steps_job.steps.clone(),
                outputs: steps_job.outputs.clone(),
                timeout_minutes: Some(timeout),
                continue_on_error,
                workspace: self.plan.run.workspace.clone(),
                container: steps_job.container.clone(),
                services: steps_job.services.clone(),
            };
            Ok((spec, timeout, group))
        })(ctx);
        let (spec, timeout, group) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                self.send_done(node, leg, failed_result(render(&err)));
                return;
            }
        };
        let token = self.leg_token(node, leg);
        let task = LegTask {
            executor: Arc::clone(&self.executor),
            events: self.events.clone(),
            groups: Arc::clone(&self.groups),
            global_slots: self.global_slots.clone(),
            slots,
            group,
            timeout,
            token,
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let (result, slots) = task.run(spec).await;
            let _ = tx.send(Msg::LegDone {
                node,
                leg,
                result,
                slots,
            });
        });
    }

    fn start_call_leg(
        &mut self,
        node: usize,
        leg: usize,
        call: &CallJob,
        (ctx, expr_contexts): (JsonMap, eval::Ctx),
        status: &JobStatus,
        (slots, concurrency): (
            Option<Arc<Semaphore>>,
            Option<&gantry_plan::ConcurrencySpec>,
        ),
    ) {
        let scope = &self.scopes[self.nodes[node].scope];
        let prepared = (|| -> Result<(JsonMap, Secrets), PrepareError> {
            let mut given = IndexMap::new();
            for (name, tree) in &call.with {
                if !call
                    .called
                    .inputs
                    .iter()
                    .any(|input| input.name.eq_ignore_ascii_case(name))
                {
                    return Err(PrepareError::UnknownInput(name.clone()));
                }
                given.insert(
                    name.to_lowercase(),
                    eval::eval_tree(tree, &expr_contexts, status)?,
                );
            }
            let mut inputs = JsonMap::new();
            for input in &call.called.inputs {
                let value = match given.shift_remove(&input.name.to_lowercase()) {
                    Some(value) => value,
                    None => match &input.default {
                        Some(default) => eval::eval_tree(default, &expr_contexts, status)?,
                        None if input.required => {
                            return Err(PrepareError::MissingInput(input.name.clone()))
                        }
                        None => match input.input_type.as_str() {
                            "boolean" => serde_json::Value::Bool(false),
                            "number" => json!(0),
                            _ => serde_json::Value::String(String::new()),
                        },
                    },
                };
                inputs.insert(
                    input.name.clone(),
                    coerce_input(&input.name, &input.input_type, value)?,
                );
            }
            let mut secrets = match &call.secrets {
                CallSecrets::Inherit => (*scope.secrets).clone(),
                CallSecrets::Map(entries) => {
                    let mut with_secrets = ctx.clone();
                    with_secrets.insert(
                        "secrets".into(),
                        serde_json::Value::Object(
                            scope
                                .secrets
                                .iter()
                                .map(|(k, v)| {
                                    (k.clone(), serde_json::Value::String(v.expose().to_owned()))
                                })
                                .collect(),
                        ),
                    );
                    let secret_contexts = ctx_from_json(&with_secrets);
                    let mut out = IndexMap::new();
                    for (name, template) in entries {
                        out.insert(
                            name.clone(),
                            Secret::new(eval::eval_string(template, &secret_contexts, status)?),
                        );
                    }
                    out
                }
            };
            // GitHub always hands the called workflow its token.
            if let Some((name, token)) = scope
                .secrets
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("GITHUB_TOKEN"))
            {
                secrets.entry(name.clone()).or_insert_with(|| token.clone());
            }
            for (name, required) in &call.called.secrets {
                if *required && !secrets.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                    return Err(PrepareError::MissingSecret(name.clone()));
                }
            }
            Ok((inputs, secrets))
        })();
        let (inputs, secrets) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                self.send_done(
                    node,
                    leg,
                    failed_result(format!("calling {}: {}", call.uses, render(&err))),
                );
                return;
            }
        };
        let group = match concurrency {
            Some(spec) => {
                let group = eval::eval_string(&spec.group, &expr_contexts, status);
                let cancel = eval::eval_bool(&spec.cancel_in_progress, &expr_contexts, status);
                match (group, cancel) {
                    (Ok(group), Ok(cancel)) => (!group.is_empty()).then_some((group, cancel)),
                    (Err(err), _) | (_, Err(err)) => {
                        self.send_done(node, leg, failed_result(format!("concurrency: {err}")));
                        return;
                    }
                }
            }
            None => None,
        };
        let mut contexts = JsonMap::new();
        for name in ["github", "vars"] {
            if let Some(value) = scope.contexts.get(name) {
                contexts.insert(name.into(), value.clone());
            }
        }
        contexts.insert("inputs".into(), serde_json::Value::Object(inputs));
        let graph = Arc::new(call.called.graph.clone());
        if let Err(err) = graph.validate() {
            self.send_done(
                node,
                leg,
                failed_result(format!("calling {}: {err}", call.uses)),
            );
            return;
        }
        let pending = Box::new(PendingCall {
            contexts,
            secrets,
            graph,
            outputs: call.called.outputs.clone(),
        });
        if let NodeState::Running(run) = &mut self.nodes[node].state {
            if let Some(state) = run.legs.get_mut(leg) {
                state.pending_call = Some(pending);
            }
        }
        if slots.is_none() && group.is_none() {
            self.start_pending_call(node, leg, LegSlots::default());
            return;
        }
        // Wait for the max-parallel slot and the concurrency group off the loop.
        let token = self.leg_token(node, leg);
        let groups = Arc::clone(&self.groups);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut held = LegSlots::default();
            let acquired = async {
                held._max_parallel = acquire_slot(&slots, &token)
                    .await
                    .map_err(|()| "cancelled before it started".to_owned())?;
                if let Some((group, cancel_in_progress)) = &group {
                    let permit = groups.acquire(group, *cancel_in_progress, &token).await;
                    held._group = Some(permit.map_err(|e| e.to_string())?);
                }
                Ok::<(), String>(())
            }
            .await;
            let msg = match acquired {
                Ok(()) => Msg::StartCall {
                    node,
                    leg,
                    slots: held,
                },
                Err(reason) => Msg::LegDone {
                    node,
                    leg,
                    result: cancelled_result(&reason),
                    slots: held,
                },
            };
            let _ = tx.send(msg);
        });
    }

    /// Starts the sub-graph of a call leg that may now run.
    fn start_pending_call(&mut self, node: usize, leg: usize, slots: LegSlots) {
        let NodeState::Running(run) = &mut self.nodes[node].state else {
            return;
        };
        let Some(state) = run.legs.get_mut(leg) else {
            return;
        };
        let Some(pending) = state.pending_call.take() else {
            return;
        };
        if slots._group.is_some() {
            let (token, finished, tx) = (
                state.cancel.clone(),
                state.finished.clone(),
                self.tx.clone(),
            );
            tokio::spawn(async move {
                tokio::select! {
                    _ = token.cancelled() => {
                        let _ = tx.send(Msg::CancelLeg { node, leg });
                    }
                    _ = finished.cancelled() => {}
                }
            });
        }
        state.held = Some(slots);
        let (key, display_name) = (state.key.clone(), state.display_name.clone());
        self.emit(RunEvent::JobStarted {
            key: key.clone(),
            display_name: display_name.clone(),
        });
        if pending.graph.jobs.is_empty() {
            self.send_done(node, leg, JobResult::new(Conclusion::Success));
            return;
        }
        let child = self.add_scope(NewScope {
            prefix: format!("{key}/"),
            display_prefix: format!("{display_name} / "),
            contexts: pending.contexts,
            secrets: Arc::new(pending.secrets),
            graph: pending.graph,
            outputs: pending.outputs,
            parent: Some((node, leg)),
        });
        if let NodeState::Running(run) = &mut self.nodes[node].state {
            if let Some(state) = run.legs.get_mut(leg) {
                state.child_scope = Some(child);
            }
        }
    }

    fn leg_done(&mut self, node: usize, leg: usize, result: JobResult) {
        let NodeState::Running(run) = &mut self.nodes[node].state else {
            return;
        };
        let Some(leg_state) = run.legs.get_mut(leg) else {
            return;
        };
        if leg_state.done {
            return;
        }
        leg_state.done = true;
        // Released at the end of this function, after the leg is reported finished.
        let _held = leg_state.held.take();
        leg_state.finished.cancel();
        let key = leg_state.key.clone();
        let display_name = leg_state.display_name.clone();
        let effective = match result.conclusion {
            Conclusion::Failure if leg_state.continue_on_error => Conclusion::Success,
            other => other,
        };
        run.open_legs -= 1;
        let mut fail_fast_cancels = Vec::new();
        match effective {
            Conclusion::Failure => {
                run.failed = true;
                if run.fail_fast {
                    fail_fast_cancels.extend((0..run.legs.len()).filter(|&i| !run.legs[i].done));
                }
            }
            Conclusion::Cancelled => run.cancelled = true,
            _ => {}
        }
        for (name, value) in &result.outputs {
            if !value.is_empty() || !run.outputs.contains_key(name) {
                run.outputs.insert(name.clone(), value.clone());
            }
        }
        let finished = (run.open_legs == 0).then(|| {
            let conclusion = if run.failed {
                Conclusion::Failure
            } else if run.cancelled {
                Conclusion::Cancelled
            } else {
                Conclusion::Success
            };
            (conclusion, std::mem::take(&mut run.outputs))
        });
        for other in fail_fast_cancels {
            self.cancel_leg(node, other);
        }
        self.emit(RunEvent::JobFinished {
            key: key.clone(),
            display_name: display_name.clone(),
            result: result.clone(),
        });
        self.outcome_jobs.insert(
            key,
            JobOutcome {
                display_name,
                result,
            },
        );
        if let Some((conclusion, outputs)) = finished {
            self.node_done(node, conclusion, outputs);
        }
    }
}

/// Coerces a reusable workflow input to its declared type, as GitHub does.
fn coerce_input(
    name: &str,
    input_type: &str,
    value: serde_json::Value,
) -> Result<serde_json::Value, InputTypeError> {
    use serde_json::Value as J;
    match (input_type, value) {
        ("boolean", J::Bool(b)) => Ok(J::Bool(b)),
        ("boolean", J::String(s)) if s == "true" || s == "false" => Ok(J::Bool(s == "true")),
        ("number", J::Number(n)) => Ok(J::Number(n)),
        ("number", J::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(J::Number)
            .ok_or_else(|| InputTypeError::NotANumberText {
                name: name.to_owned(),
                got: s.clone(),
            }),
        ("boolean" | "number", other) => Err(InputTypeError::WrongType {
            name: name.to_owned(),
            expected: input_type.to_owned(),
            got: other.to_string(),
        }),
        (_, J::String(s)) => Ok(J::String(s)),
        (_, J::Null) => Ok(J::String(String::new())),
        (_, J::Bool(b)) => Ok(J::String(b.to_string())),
        (_, J::Number(n)) => Ok(J::String(
            Value::from_json(&J::Number(n)).to_interpolated_string(),
        )),
        (_, other) => Err(InputTypeError::WrongType {
            name: name.to_owned(),
            expected: "string".to_owned(),
            got: other.to_string(),
        }),
    }
}

/// What a new scope (the run's workflow, or a called workflow inside a job's leg) starts from.
struct NewScope {
    /// Prepended to its jobs' keys (`caller/`), and to their display names (`caller / `).
    prefix: String,
    display_prefix: String,
    contexts: JsonMap,
    secrets: Arc<Secrets>,
    graph: Arc<JobGraph>,
    /// The called workflow's `outputs:` (empty for the run's own workflow).
    outputs: Vec<(String, String)>,
    /// The (node, leg) that called it.
    parent: Option<(usize, usize)>,
}

/// A job spec, its timeout in minutes, and its concurrency group with `cancel-in-progress`.
type PreparedLeg = (JobSpec, f64, Option<(String, bool)>);

/// Everything one leg's task needs; runs without access to the loop's state.
struct LegTask {
    executor: Arc<dyn Executor>,
    events: flow::Sender<RunEvent>,
    groups: Arc<ConcurrencyGroups>,
    global_slots: Option<Arc<Semaphore>>,
    slots: Option<Arc<Semaphore>>,
    group: Option<(String, bool)>,
    timeout: f64,
    token: CancellationToken,
}

async fn acquire_slot(
    slots: &Option<Arc<Semaphore>>,
    token: &CancellationToken,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ()> {
    match slots {
        None => Ok(None),
        Some(slots) => tokio::select! {
            biased;
            _ = token.cancelled() => Err(()),
            permit = Arc::clone(slots).acquire_owned() => permit.map(Some).map_err(|_| ()),
        },
    }
}

impl LegTask {
    async fn run(self, spec: JobSpec) -> (JobResult, LegSlots) {
        let token = &self.token;
        let mut slots = LegSlots::default();
        let not_started = |slots| (cancelled_result("cancelled before it started"), slots);
        match acquire_slot(&self.slots, token).await {
            Ok(permit) => slots._max_parallel = permit,
            Err(()) => return not_started(slots),
        }
        if let Some((group, cancel_in_progress)) = &self.group {
            match self.groups.acquire(group, *cancel_in_progress, token).await {
                Ok(permit) => slots._group = Some(permit),
                Err(err) => return (cancelled_result(&err.to_string()), slots),
            }
        }
        match acquire_slot(&self.global_slots, token).await {
            Ok(permit) => slots._global = permit,
            Err(()) => return not_started(slots),
        }
        if token.is_cancelled() {
            return not_started(slots);
        }
        let key = spec.job_key.clone();
        let _ = self.events.send(RunEvent::JobStarted {
            key: key.clone(),
            display_name: spec.display_name.clone(),
        });
        let (event_tx, mut event_rx) = flow::channel(flow::DEFAULT_CAPACITY);
        let mut job = self.executor.run_job(spec, event_tx, token.clone());
        let run_gate = self.events.gate();
        let limit = Duration::try_from_secs_f64(self.timeout * 60.0)
            .unwrap_or(MAX_TIMEOUT)
            .min(MAX_TIMEOUT);
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        let mut timed_out = false;
        // Once cancelled, a job gets a grace period to run its always() steps and stop.
        let grace = tokio::time::sleep(MAX_TIMEOUT);
        tokio::pin!(grace);
        let mut grace_started = false;
        let mut result = loop {
            // The job's events move on only while the run's channel has room: a slow consumer
            // holds the job's channel full, and so the reading of the step's output.
            let room = run_gate.has_room();
            tokio::select! {
                biased;
                Some(event) = event_rx.recv(), if room => {
                    let _ = self.events.send(RunEvent::JobEvent { key: key.clone(), event });
                }
                () = run_gate.ready(), if !room => {}
                result = &mut job => break result,
                _ = &mut deadline, if !timed_out => {
                    timed_out = true;
                    token.cancel();
                }
                _ = token.cancelled(), if !grace_started => {
                    grace_started = true;
                    grace.as_mut().reset(tokio::time::Instant::now() + CANCEL_GRACE);
                }
                _ = &mut grace, if grace_started => {
                    // The executor did not stop: give up on it (dropping its future).
                    break cancelled_result(&format!(
                        "the job did not stop within {} minutes of being cancelled",
                        CANCEL_GRACE.as_secs() / 60
                    ));
                }
            }
        };
        while let Some(event) = event_rx.try_recv() {
            run_gate.ready().await;
            let _ = self.events.send(RunEvent::JobEvent {
                key: key.clone(),
                event,
            });
        }
        if timed_out {
            result.conclusion = Conclusion::Failure;
            result.error = Some(format!(
                "the job has exceeded the maximum execution time of {} minutes",
                Value::Number(self.timeout).to_interpolated_string()
            ));
        }
        (result, slots)
    }
}
