//! What `gantry run` prints: on a terminal a live view (one line per job with its status, the
//! running step and the time), otherwise plain `[job] line` logs; `--json` prints every run
//! event as a JSON line. Also the `-l` listing, the `--dry-run` plan and the final summary.
//!
//! Invariant: this module only observes (it reads run events, it never reaches back into the
//! run), and everything it prints comes masked from `gantry_run` (events, outcomes, records).

use anyhow::Result;
use gantry_plan::{Conclusion, JobBody, JobEvent, Plan, StepAction};
use gantry_run::record::Recorded;
use gantry_run::{EventStream, PlannedRun, RunEvent, RunOutcome};
use indexmap::IndexMap;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Plain,
    Json,
}

fn mark(conclusion: Conclusion) -> &'static str {
    match conclusion {
        Conclusion::Success => "✓",
        Conclusion::Failure => "✗",
        Conclusion::Cancelled => "⊘",
        Conclusion::Skipped => "-",
    }
}

/// The state of one job in the live view.
struct LiveJob {
    name: String,
    state: &'static str,
    step: String,
    started: Option<Instant>,
    finished: Option<Duration>,
    conclusion: Option<Conclusion>,
}

/// Renders one run's events until the run ends.
pub async fn observe(mut events: EventStream, mode: Mode, workflow: String) -> Result<()> {
    let mut live: IndexMap<String, LiveJob> = IndexMap::new();
    let mut drawn_lines = 0usize;
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut names: IndexMap<String, String> = IndexMap::new();
    // What is queued is rendered at once and written with one flush: a line-buffered stdout
    // would cost a write per line.
    let mut batch = Vec::with_capacity(RENDER_BATCH);
    loop {
        tokio::select! {
            n = events.recv_many(&mut batch, RENDER_BATCH) => if n == 0 { break },
            _ = tick.tick(), if mode == Mode::Live => {
                drawn_lines = draw(&live, drawn_lines, &workflow);
                continue;
            }
        };
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        for update in batch.drain(..) {
            let event = update.event;
            match mode {
                Mode::Json => {
                    serde_json::to_writer(&mut out, &event)?;
                    out.write_all(b"\n")?;
                }
                Mode::Plain => plain(&mut out, &event, &mut names),
                Mode::Live => {
                    update_live(&mut live, &event);
                    if last_draw.elapsed() > Duration::from_millis(50)
                        || matches!(event, RunEvent::JobFinished { .. })
                    {
                        out.flush()?;
                        drawn_lines = draw(&live, drawn_lines, &workflow);
                        last_draw = Instant::now();
                    }
                }
            }
        }
        out.flush()?;
    }
    if events.cut_off() {
        eprintln!("gantry: the terminal took no output for a minute; the run went on without it");
    }
    if mode == Mode::Live {
        draw(&live, drawn_lines, &workflow);
    }
    Ok(())
}

/// How many queued events are rendered at once.
const RENDER_BATCH: usize = 1024;

fn plain(out: &mut impl Write, event: &RunEvent, names: &mut IndexMap<String, String>) {
    let name = |key: &str, names: &IndexMap<String, String>| {
        names.get(key).cloned().unwrap_or_else(|| key.to_string())
    };
    let _ = match event {
        RunEvent::RunStarted { workflow_name, .. } => writeln!(out, "▶ {workflow_name}"),
        RunEvent::JobQueued { key, display_name } => {
            names.insert(key.clone(), display_name.clone());
            Ok(())
        }
        RunEvent::JobStarted { key, display_name } => {
            names.insert(key.clone(), display_name.clone());
            writeln!(out, "[{display_name}] ▶ job started")
        }
        RunEvent::JobEvent {
            key,
            event: JobEvent::Log { line, .. },
        } => {
            let job = names.get(key).map_or(key.as_str(), String::as_str);
            writeln!(out, "[{job}]   {line}")
        }
        RunEvent::JobEvent { key, event } => {
            let job = name(key, names);
            match event {
                JobEvent::StepStarted { name, .. } => writeln!(out, "[{job}] ▶ {name}"),
                JobEvent::Log { line, .. } => writeln!(out, "[{job}]   {line}"),
                // Annotations are in the log already; the summary lists them again.
                JobEvent::Annotation { .. } => Ok(()),
                JobEvent::StepFinished {
                    index,
                    outcome,
                    conclusion,
                } => {
                    if outcome != conclusion {
                        writeln!(out, "[{job}] {} step {} {conclusion} (outcome {outcome}, continue-on-error)", mark(*conclusion), index + 1)
                    } else {
                        writeln!(
                            out,
                            "[{job}] {} step {} {conclusion}",
                            mark(*conclusion),
                            index + 1
                        )
                    }
                }
                JobEvent::Summary { .. } => Ok(()),
            }
        }
        RunEvent::JobFinished {
            key,
            display_name,
            result,
        } => {
            let error = result
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            let _ = key;
            writeln!(
                out,
                "[{display_name}] {} job {}{error}",
                mark(result.conclusion),
                result.conclusion
            )
        }
        RunEvent::RunFinished { conclusion } => {
            writeln!(out, "{} run {conclusion}", mark(*conclusion))
        }
    };
}

fn update_live(live: &mut IndexMap<String, LiveJob>, event: &RunEvent) {
    match event {
        RunEvent::JobQueued { key, display_name } => {
            live.insert(
                key.clone(),
                LiveJob {
                    name: display_name.clone(),
                    state: "queued",
                    step: String::new(),
                    started: None,
                    finished: None,
                    conclusion: None,
                },
            );
        }
        RunEvent::JobStarted { key, display_name } => {
            let job = live.entry(key.clone()).or_insert_with(|| LiveJob {
                name: display_name.clone(),
                state: "queued",
                step: String::new(),
                started: None,
                finished: None,
                conclusion: None,
            });
            job.state = "running";
            job.started = Some(Instant::now());
        }
        RunEvent::JobEvent {
            key,
            event: JobEvent::StepStarted { name, .. },
        } => {
            if let Some(job) = live.get_mut(key) {
                job.step = name.clone();
            }
        }
        RunEvent::JobFinished {
            key,
            display_name,
            result,
        } => {
            let job = live.entry(key.clone()).or_insert_with(|| LiveJob {
                name: display_name.clone(),
                state: "",
                step: String::new(),
                started: None,
                finished: None,
                conclusion: None,
            });
            job.state = result.conclusion.as_str();
            job.conclusion = Some(result.conclusion);
            job.finished = job.started.map(|s| s.elapsed());
            job.step.clear();
        }
        _ => {}
    }
}

/// Redraws the job table in place; returns how many lines it drew.
fn draw(live: &IndexMap<String, LiveJob>, previous: usize, workflow: &str) -> usize {
    let stdout = std::io::stdout();
    let (rows, cols) = terminal_size::terminal_size_of(&stdout)
        .map(|(w, h)| (usize::from(h.0), usize::from(w.0)))
        .filter(|&(rows, cols)| rows > 0 && cols > 0)
        .unwrap_or((24, 80));
    let lines = view_lines(live, workflow, rows, cols);
    let mut text = String::new();
    if previous > 0 {
        text.push_str(&format!("\x1b[{previous}A\x1b[J"));
    }
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    let mut out = stdout.lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    lines.len()
}

/// The live view's lines for a terminal of `rows` × `cols`: never more lines than fit (the
/// cursor cannot move back above the top of the screen) and none wider than a row (a wrapped
/// line would throw the count off). When the jobs do not fit, running and failed jobs are shown
/// first and one line counts the others.
fn view_lines(
    live: &IndexMap<String, LiveJob>,
    workflow: &str,
    rows: usize,
    cols: usize,
) -> Vec<String> {
    let width = cols.saturating_sub(1).max(10);
    let mut lines = vec![truncate(workflow, width)];
    // The title, the jobs, and a free last row for the cursor.
    let room = rows.saturating_sub(2).max(1);
    let priority = |job: &LiveJob| match (job.conclusion, job.state) {
        (None, "running") => 0,
        (Some(Conclusion::Failure | Conclusion::Cancelled), _) => 1,
        (None, _) => 2,
        (Some(_), _) => 3,
    };
    let shown: Vec<usize> = if live.len() <= room {
        (0..live.len()).collect()
    } else {
        let mut order: Vec<usize> = (0..live.len()).collect();
        order.sort_by_key(|&i| (priority(&live[i]), i));
        let mut shown = order[..room - 1].to_vec();
        shown.sort_unstable();
        shown
    };
    for &i in &shown {
        let job = &live[i];
        let elapsed = job.finished.or_else(|| job.started.map(|s| s.elapsed()));
        let time = elapsed
            .map(|d| format!("{:>6.1}s", d.as_secs_f64()))
            .unwrap_or_else(|| "       ".into());
        let symbol = match (job.conclusion, job.state) {
            (Some(c), _) => mark(c),
            (None, "running") => "●",
            _ => "○",
        };
        let step = if job.step.is_empty() {
            String::new()
        } else {
            format!("  {}", job.step)
        };
        let line = format!(
            "  {symbol} {:<40} {:<10} {time}{step}",
            truncate(&job.name, 40),
            job.state
        );
        lines.push(truncate(line.trim_end(), width));
    }
    let hidden = live.len() - shown.len();
    if hidden > 0 {
        let (mut running, mut queued, mut done) = (0, 0, 0);
        for (i, job) in live.values().enumerate() {
            if shown.binary_search(&i).is_ok() {
                continue;
            }
            match priority(job) {
                0 => running += 1,
                2 => queued += 1,
                _ => done += 1,
            }
        }
        let line =
            format!("  … {hidden} more jobs: {running} running, {queued} queued, {done} finished");
        lines.push(truncate(&line, width));
    }
    lines
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The table printed when a run is over, plus the tail of each failed job's log on a terminal.
pub fn print_summary(mode: Mode, outcome: &RunOutcome, recorded: &Recorded) {
    if mode == Mode::Json {
        return;
    }
    let mut out = std::io::stdout().lock();
    if mode == Mode::Live {
        for (key, job) in &outcome.jobs {
            if job.result.conclusion == Conclusion::Failure {
                if let Some(record) = recorded.jobs.get(key) {
                    let _ = writeln!(
                        out,
                        "\n── {} (last lines of {}) ──",
                        job.display_name,
                        record.log_path.display()
                    );
                    for line in &record.tail {
                        let _ = writeln!(out, "  {line}");
                    }
                }
            }
        }
    }
    let _ = writeln!(out, "\n{:<40} {:<10} {:>8}", "JOB", "RESULT", "TIME");
    for (key, job) in &outcome.jobs {
        let seconds = recorded.jobs.get(key).map(|r| r.seconds).unwrap_or(0.0);
        let _ = writeln!(
            out,
            "{:<40} {} {:<8} {:>7.1}s",
            truncate(&job.display_name, 40),
            mark(job.result.conclusion),
            job.result.conclusion.as_str(),
            seconds
        );
    }
    if !recorded.annotations.is_empty() {
        let _ = writeln!(out, "annotations:");
        for annotation in &recorded.annotations {
            let _ = writeln!(out, "  {annotation}");
        }
    }
    let _ = writeln!(
        out,
        "run {} — logs in {}",
        outcome.conclusion,
        recorded.dir.display()
    );
}

/// `-l`: the jobs of each selected workflow with their stage in the graph and their needs.
pub fn print_list(runs: &[PlannedRun]) {
    let mut out = std::io::stdout().lock();
    for PlannedRun {
        plan,
        workflow_file: file,
    } in runs
    {
        let _ = writeln!(out, "{} ({file})", plan.workflow_name);
        let _ = writeln!(out, "  {:<6} {:<24} {:<32} NEEDS", "STAGE", "JOB", "NAME");
        let stages = stages(plan);
        let mut order: Vec<usize> = (0..plan.graph.jobs.len()).collect();
        order.sort_by_key(|i| stages[*i]);
        for i in order {
            let job = &plan.graph.jobs[i];
            let kind = match &job.body {
                JobBody::Call(call) => format!(" (calls {})", call.uses),
                JobBody::Steps(_) => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<6} {:<24} {:<32} {}",
                stages[i],
                job.job_id,
                format!(
                    "{}{kind}",
                    job.name.clone().unwrap_or_else(|| job.job_id.clone())
                ),
                job.needs.join(", ")
            );
        }
    }
}

/// Longest path from a root, for display: jobs of one stage could all run at once.
fn stages(plan: &Plan) -> Vec<usize> {
    let jobs = &plan.graph.jobs;
    let mut stage = vec![usize::MAX; jobs.len()];
    // The graph is acyclic (validated by the planner); each pass settles one more level.
    for _ in 0..=jobs.len() {
        let mut changed = false;
        for (i, job) in jobs.iter().enumerate() {
            let mut s = 0;
            let mut ready = true;
            for need in &job.needs {
                match jobs.iter().position(|j| &j.job_id == need) {
                    Some(n) if stage[n] != usize::MAX => s = s.max(stage[n] + 1),
                    Some(_) => ready = false,
                    None => {}
                }
            }
            if ready && stage[i] != s {
                stage[i] = s;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    stage
        .iter()
        .map(|s| if *s == usize::MAX { 0 } else { *s })
        .collect()
}

/// `--dry-run`: every job with its condition and steps, in graph order, nothing executed.
pub fn print_dry_run(runs: &[PlannedRun]) {
    let mut out = std::io::stdout().lock();
    for PlannedRun {
        plan,
        workflow_file: file,
    } in runs
    {
        let _ = writeln!(
            out,
            "{} ({file}) — dry run, nothing is executed",
            plan.workflow_name
        );
        let stages = stages(plan);
        let mut order: Vec<usize> = (0..plan.graph.jobs.len()).collect();
        order.sort_by_key(|i| stages[*i]);
        for i in order {
            let job = &plan.graph.jobs[i];
            let _ = writeln!(
                out,
                "\njob {} (stage {}){}",
                job.job_id,
                stages[i],
                if job.needs.is_empty() {
                    String::new()
                } else {
                    format!(", needs {}", job.needs.join(", "))
                }
            );
            if job.if_expr != "success()" {
                let _ = writeln!(out, "  if: {}", job.if_expr);
            }
            if let Some(strategy) = &job.strategy {
                let _ = writeln!(
                    out,
                    "  matrix: {}",
                    serde_json::to_string(&strategy.matrix).unwrap_or_default()
                );
            }
            match &job.body {
                JobBody::Call(call) => {
                    let _ = writeln!(out, "  calls {}", call.uses);
                }
                JobBody::Steps(steps) => {
                    for (n, step) in steps.steps.iter().enumerate() {
                        let what = match &step.action {
                            StepAction::Run { script, .. } => {
                                format!("run: {}", script.lines().next().unwrap_or(""))
                            }
                            StepAction::Uses { uses, .. } => format!("uses: {uses}"),
                        };
                        let name = step.name.clone().unwrap_or_default();
                        let _ = writeln!(
                            out,
                            "  {:>2}. {name}{}{what}",
                            n + 1,
                            if name.is_empty() { "" } else { " — " }
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, state: &'static str, conclusion: Option<Conclusion>) -> LiveJob {
        LiveJob {
            name: name.to_owned(),
            state,
            step: if state == "running" {
                "Run make".to_owned()
            } else {
                String::new()
            },
            started: None,
            finished: conclusion.map(|_| Duration::from_millis(1500)),
            conclusion,
        }
    }

    fn jobs(list: Vec<LiveJob>) -> IndexMap<String, LiveJob> {
        list.into_iter().map(|j| (j.name.clone(), j)).collect()
    }

    #[test]
    fn all_jobs_are_shown_when_they_fit() {
        let live = jobs(vec![
            job("lint", "success", Some(Conclusion::Success)),
            job("test", "running", None),
            job("deploy", "queued", None),
        ]);
        assert_eq!(
            view_lines(&live, "CI", 24, 80),
            [
                "CI",
                "  ✓ lint                                     success       1.5s",
                "  ● test                                     running             Run make",
                "  ○ deploy                                   queued",
            ]
        );
    }

    #[test]
    fn a_small_terminal_shows_running_and_failed_jobs_first_and_counts_the_rest() {
        let mut list = Vec::new();
        for i in 0..10 {
            list.push(job(
                &format!("done-{i}"),
                "success",
                Some(Conclusion::Success),
            ));
        }
        list.push(job("broken", "failure", Some(Conclusion::Failure)));
        for i in 0..5 {
            list.push(job(&format!("queued-{i}"), "queued", None));
        }
        list.push(job("busy", "running", None));
        let live = jobs(list);
        let lines = view_lines(&live, "CI", 6, 40);
        assert_eq!(
            lines,
            [
                "CI",
                "  ✗ broken                            …",
                "  ○ queued-0                          …",
                "  ● busy                              …",
                "  … 14 more jobs: 0 running, 4 queued,…",
            ]
        );
        assert!(lines.len() < 6);
        assert!(lines.iter().all(|l| l.chars().count() <= 39));
    }
}
