//! Live logs over server-sent events: `GET /api/gantry/runs/{run_id}/logs/stream` sends each log
//! line of the run's current attempt as an event (`event: log`, `data: {"job_id", "line",
//! "text"}`) as it is written, then `event: end` once the run is completed and every line was
//! sent. GitHub has no such endpoint, hence `/api/gantry`.
//!
//! Resume: each event's id is the stream's progress over all jobs (`<job>:<line>,…`), so a
//! client that reconnects with `Last-Event-ID` gets exactly the lines it has not seen, whichever
//! jobs ran side by side. The lines are read from the job log files (`logs.rs`), tailed every
//! [`TAIL_EVERY`]; what is sent is what is stored, masked before it was written.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use gantry_store::{RunId, Status};
use serde_json::json;

use super::{Caller, Error};
use crate::context::ApiContext;
use crate::logs::job_log_file;

/// How often the job log files are looked at for new lines.
const TAIL_EVERY: Duration = Duration::from_millis(200);

pub fn router() -> Router<ApiContext> {
    Router::new().route("/api/gantry/runs/{run_id}/logs/stream", get(stream_logs))
}

/// Per job: the last line sent, and where in its file the next line starts.
#[derive(Default, Clone)]
struct Progress {
    jobs: BTreeMap<i64, (i64, u64)>,
}

impl Progress {
    fn parse(text: &str) -> Option<Progress> {
        let mut progress = Progress::default();
        for part in text.split(',').filter(|part| !part.is_empty()) {
            let (job, line) = part.split_once(':')?;
            progress
                .jobs
                .insert(job.trim().parse().ok()?, (line.trim().parse().ok()?, 0));
        }
        Some(progress)
    }

    fn id(&self) -> String {
        self.jobs
            .iter()
            .map(|(job, (line, _))| format!("{job}:{line}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

struct Tail {
    context: ApiContext,
    run: RunId,
    progress: Progress,
    pending: std::collections::VecDeque<Event>,
    ended: bool,
}

impl Tail {
    /// Reads the lines written since the last look; true when the run is completed (and so
    /// nothing more will be written).
    async fn read_new(&mut self) -> Result<bool, Error> {
        let detail = self.context.store.run(self.run).await?;
        let completed = detail.run.status == Status::Completed;
        let attempt = self.context.store.attempt(self.run, None).await?;
        for job in self.context.store.list_jobs(attempt.id).await? {
            let path: PathBuf = self.context.data_dir.join(job_log_file(self.run, job.id));
            let Ok(bytes) = tokio::fs::read(&path).await else {
                continue;
            };
            let (mut line, mut offset) =
                self.progress.jobs.get(&job.id.0).copied().unwrap_or((0, 0));
            // A resumed stream knows lines, not offsets: skip the lines it has.
            let mut skip = if offset == 0 { line } else { 0 };
            let mut position = offset as usize;
            while let Some(end) = bytes[position.min(bytes.len())..]
                .iter()
                .position(|b| *b == b'\n')
            {
                let text = String::from_utf8_lossy(&bytes[position..position + end]).into_owned();
                position += end + 1;
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                line += 1;
                offset = position as u64;
                self.progress.jobs.insert(job.id.0, (line, offset));
                let data = json!({ "job_id": job.id.0, "line": line, "text": text });
                self.pending.push_back(
                    Event::default()
                        .event("log")
                        .id(self.progress.id())
                        .data(data.to_string()),
                );
            }
            if skip == 0 {
                self.progress.jobs.insert(job.id.0, (line, position as u64));
            }
        }
        Ok(completed)
    }
}

async fn stream_logs(
    State(context): State<ApiContext>,
    _caller: Caller,
    Path(run_id): Path<i64>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    let run = RunId(run_id);
    context.store.run(run).await?;
    let progress = match headers.get("last-event-id").map(|v| v.to_str()) {
        Some(Ok(text)) => Progress::parse(text).ok_or_else(|| {
            Error::BadRequest(format!("Last-Event-ID '{text}' is not <job>:<line>,…"))
        })?,
        Some(Err(_)) => return Err(Error::BadRequest("Last-Event-ID is not text".to_owned())),
        None => Progress::default(),
    };
    let tail = Tail {
        context,
        run,
        progress,
        pending: Default::default(),
        ended: false,
    };
    let events = stream::unfold(tail, |mut tail| async move {
        loop {
            if let Some(event) = tail.pending.pop_front() {
                return Some((Ok(event), tail));
            }
            if tail.ended {
                return None;
            }
            match tail.read_new().await {
                // Completed: what was read is all there is; then the end.
                Ok(true) => {
                    tail.ended = true;
                    let end = Event::default()
                        .event("end")
                        .id(tail.progress.id())
                        .data("{}");
                    tail.pending.push_back(end);
                }
                Ok(false) => {
                    if tail.pending.is_empty() {
                        tokio::time::sleep(TAIL_EVERY).await;
                    }
                }
                Err(_) => {
                    tail.ended = true;
                    tail.pending.push_back(
                        Event::default()
                            .event("error")
                            .data("{\"message\":\"the log is unavailable\"}"),
                    );
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
