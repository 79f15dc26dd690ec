//! Live logs over server-sent events: `GET /api/gantry/runs/{run_id}/logs/stream` sends each log
//! line of the run's current attempt as an event (`event: log`, `data: {"job_id", "line",
//! "text"}`) as it is written, then `event: end` once the run is completed and every line was
//! sent. GitHub has no such endpoint, hence `/api/gantry`.
//!
//! Resume: each event's id is the stream's progress over all jobs (`<job>:<line>,…`), so a
//! client that reconnects with `Last-Event-ID` gets exactly the lines it has not seen, whichever
//! jobs ran side by side. The lines are read from the job log files (`logs.rs`), tailed every
//! [`TAIL_EVERY`], at most [`READ_AT_MOST`] bytes of a log at a time: a client that takes
//! nothing holds that much at most (the stream is read only as the client takes events), and
//! the job is never held back by it. What is sent is what is stored, masked before it was
//! written.

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
    /// Per job: lines a resumed stream has already seen and must pass over.
    skip: BTreeMap<i64, i64>,
    pending: std::collections::VecDeque<Event>,
    ended: bool,
}

/// The most read from one job's log at a look, so a client's stream holds a bounded amount
/// whatever the log's size (the rest is read at the next look, as the client takes events).
const READ_AT_MOST: u64 = 256 * 1024;

/// Up to [`READ_AT_MOST`] bytes of `path` from `offset`; empty when there is no such file.
async fn read_from(path: &std::path::Path, offset: u64) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return Vec::new();
    };
    if file.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file
        .take(READ_AT_MOST)
        .read_to_end(&mut bytes)
        .await
        .is_err()
    {
        return Vec::new();
    }
    bytes
}

impl Tail {
    /// Reads the lines written since the last look (a bounded amount of each log); true when
    /// the run is completed and every log was read to its end (nothing more will be written).
    async fn read_new(&mut self) -> Result<bool, Error> {
        let detail = self.context.store.run(self.run).await?;
        let completed = detail.run.status == Status::Completed;
        let attempt = self.context.store.attempt(self.run, None).await?;
        let mut read_all = true;
        for job in self.context.store.list_jobs(attempt.id).await? {
            let path: PathBuf = self.context.data_dir.join(job_log_file(self.run, job.id));
            let (mut line, mut offset) =
                self.progress.jobs.get(&job.id.0).copied().unwrap_or((0, 0));
            let bytes = read_from(&path, offset).await;
            if bytes.len() as u64 == READ_AT_MOST {
                read_all = false;
            }
            let skip = self.skip.entry(job.id.0).or_insert(0);
            let mut position = 0;
            while let Some(end) = bytes[position..].iter().position(|b| *b == b'\n') {
                let text = String::from_utf8_lossy(&bytes[position..position + end]).into_owned();
                position += end + 1;
                offset += end as u64 + 1;
                if *skip > 0 {
                    *skip -= 1;
                    continue;
                }
                line += 1;
                self.progress.jobs.insert(job.id.0, (line, offset));
                let data = json!({ "job_id": job.id.0, "line": line, "text": text });
                self.pending.push_back(
                    Event::default()
                        .event("log")
                        .id(self.progress.id())
                        .data(data.to_string()),
                );
            }
            self.progress.jobs.insert(job.id.0, (line, offset));
        }
        Ok(completed && read_all)
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
    // A resumed stream knows lines, not offsets: it reads from the start and passes over them.
    let skip = progress
        .jobs
        .iter()
        .map(|(job, (line, _))| (*job, *line))
        .collect();
    let progress = Progress {
        jobs: progress
            .jobs
            .into_iter()
            .map(|(job, (line, _))| (job, (line, 0)))
            .collect(),
    };
    let tail = Tail {
        context,
        run,
        skip,
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
