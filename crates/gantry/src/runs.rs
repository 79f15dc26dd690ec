//! `gantry runs list|view|cancel|rerun`: a client of a Gantry server's GitHub-shaped API, with
//! `gh run`'s habits. The server comes from `--server`/`GANTRY_SERVER`, the token from
//! `GANTRY_TOKEN` only (a flag would show it in process lists), the repository from `-R`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct RunsArgs {
    /// The server's base URL.
    #[arg(long, env = "GANTRY_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// OWNER/NAME of the repository.
    #[arg(short = 'R', long = "repo", env = "GANTRY_REPO")]
    repo: String,
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(Subcommand, Debug)]
enum RunsCommand {
    /// List recent runs, newest first.
    List {
        #[arg(short = 'b', long)]
        branch: Option<String>,
        /// A status or conclusion (queued, in_progress, completed, success, failure…).
        #[arg(short = 's', long)]
        status: Option<String>,
        #[arg(short = 'e', long)]
        event: Option<String>,
        #[arg(short = 'L', long, default_value_t = 20)]
        limit: u32,
    },
    /// Show a run, its jobs and steps; `--log` prints every job's log.
    View {
        run_id: i64,
        #[arg(long)]
        log: bool,
    },
    /// Cancel a run that is in progress.
    Cancel { run_id: i64 },
    /// Start the next attempt of a completed run (`--failed`: the failed jobs and their
    /// dependents only).
    Rerun {
        run_id: i64,
        #[arg(long)]
        failed: bool,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str) -> Result<reqwest::Response> {
        let response = self
            .request(method, path)
            .send()
            .await
            .with_context(|| format!("reaching the server at {}", self.base))?;
        if !response.status().is_success() {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let message = body["message"].as_str().unwrap_or("no message");
            bail!("the server answered {status}: {message}");
        }
        Ok(response)
    }

    async fn json(&self, path: &str) -> Result<Value> {
        Ok(self.send(reqwest::Method::GET, path).await?.json().await?)
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

pub fn run(args: RunsArgs) -> Result<ExitCode> {
    let token = std::env::var("GANTRY_TOKEN").ok().filter(|t| !t.is_empty());
    let client = Client {
        http: reqwest::Client::new(),
        base: format!("{}/api/v3", args.server.trim_end_matches('/')),
        token,
    };
    let repo = format!("/repos/{}", args.repo);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match args.command {
            RunsCommand::List {
                branch,
                status,
                event,
                limit,
            } => {
                let mut query = format!("?per_page={}", limit.clamp(1, 100));
                for (name, value) in [("branch", branch), ("status", status), ("event", event)] {
                    if let Some(value) = value {
                        query.push_str(&format!("&{name}={value}"));
                    }
                }
                let list = client.json(&format!("{repo}/actions/runs{query}")).await?;
                for run in list["workflow_runs"].as_array().into_iter().flatten() {
                    let state = match run["conclusion"].as_str() {
                        Some(conclusion) => conclusion,
                        None => text(&run["status"]),
                    };
                    println!(
                        "{state}\t{}\t{}\t{}\t{}\t{}",
                        text(&run["display_title"]),
                        text(&run["name"]),
                        text(&run["head_branch"]),
                        text(&run["event"]),
                        run["id"]
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            RunsCommand::View { run_id, log } => {
                let run = client
                    .json(&format!("{repo}/actions/runs/{run_id}"))
                    .await?;
                println!(
                    "{} · {} #{} (attempt {}) · {} on {} · {}",
                    text(&run["display_title"]),
                    text(&run["name"]),
                    run["run_number"],
                    run["run_attempt"],
                    text(&run["event"]),
                    text(&run["head_branch"]),
                    run["conclusion"].as_str().unwrap_or(text(&run["status"])),
                );
                if let Some(reason) = run["conclusion_reason"].as_str() {
                    println!("reason: {reason}");
                }
                for diagnostic in run["diagnostics"].as_array().into_iter().flatten() {
                    println!(
                        "{}:{}:{}: {} [{}]",
                        text(&diagnostic["path"]),
                        diagnostic["line"],
                        diagnostic["column"],
                        text(&diagnostic["message"]),
                        text(&diagnostic["rule"])
                    );
                }
                let jobs = client
                    .json(&format!("{repo}/actions/runs/{run_id}/jobs"))
                    .await?;
                for job in jobs["jobs"].as_array().into_iter().flatten() {
                    let state = job["conclusion"].as_str().unwrap_or(text(&job["status"]));
                    println!("\nJOB {} ({state}, id {})", text(&job["name"]), job["id"]);
                    for step in job["steps"].as_array().into_iter().flatten() {
                        let state = step["conclusion"].as_str().unwrap_or(text(&step["status"]));
                        println!("  {} {} ({state})", step["number"], text(&step["name"]));
                    }
                    if log {
                        let path = format!("{repo}/actions/jobs/{}/logs", job["id"]);
                        let body = client
                            .send(reqwest::Method::GET, &path)
                            .await?
                            .text()
                            .await?;
                        for line in body.lines() {
                            println!("{}\t{line}", text(&job["name"]));
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            RunsCommand::Cancel { run_id } => {
                let path = format!("{repo}/actions/runs/{run_id}/cancel");
                client.send(reqwest::Method::POST, &path).await?;
                eprintln!("run {run_id}: cancel requested");
                Ok(ExitCode::SUCCESS)
            }
            RunsCommand::Rerun { run_id, failed } => {
                let which = if failed { "rerun-failed-jobs" } else { "rerun" };
                let path = format!("{repo}/actions/runs/{run_id}/{which}");
                client.send(reqwest::Method::POST, &path).await?;
                eprintln!("run {run_id}: re-run requested");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
