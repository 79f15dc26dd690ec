//! Built-in `actions/setup-*` (node, python, go, java, dotnet, ruby, ...): pass-through to the
//! tool already on the machine.
//!
//! Honoured inputs: none change what runs. The requested version (`node-version`,
//! `python-version`, `go-version`, `java-version`, `dotnet-version`, `ruby-version`) is compared
//! with nothing: a warning says that no tool was installed and which one on PATH will be used;
//! `cache` is ignored with the same warning. Outputs: `<tool>-version` (what the tool on PATH
//! reports) and, for python, `python-path`. A tool missing from PATH fails the step.

use std::path::Path;

use indexmap::IndexMap;

use super::input;
use crate::job::{ActionResult, Frame, Job};
use crate::shell::which;

/// The tool a setup action provides: (tool name, executables to look for, version input).
pub(crate) fn tool_for(
    name: &str,
) -> Option<(&'static str, &'static [&'static str], &'static str)> {
    Some(match name {
        "actions/setup-node" => ("node", &["node"], "node-version"),
        "actions/setup-python" => ("python", &["python3", "python"], "python-version"),
        "actions/setup-go" => ("go", &["go"], "go-version"),
        "actions/setup-java" => ("java", &["java"], "java-version"),
        "actions/setup-dotnet" => ("dotnet", &["dotnet"], "dotnet-version"),
        "ruby/setup-ruby" => ("ruby", &["ruby"], "ruby-version"),
        _ => return None,
    })
}

fn version_of(program: &Path, tool: &str) -> String {
    let args: &[&str] = if tool == "go" {
        &["version"]
    } else {
        &["--version"]
    };
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

pub(crate) fn run(
    job: &mut Job,
    frame: &Frame,
    log: Option<usize>,
    action: &str,
    (tool, executables, version_input): (&'static str, &'static [&'static str], &'static str),
    inputs: &IndexMap<String, String>,
    step_env: &IndexMap<String, String>,
) -> ActionResult {
    let env = job.process_env(frame, step_env, None, "", &[]);
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let Some(program) = executables
        .iter()
        .find_map(|e| which(e, std::ffi::OsStr::new(&path)))
    else {
        job.error(
            log,
            &format!(
                "{action}: '{tool}' is not on PATH, and the host executor does not download tools"
            ),
        );
        return ActionResult::failure();
    };
    let version = version_of(&program, tool);
    let requested = input(inputs, version_input).unwrap_or("(unspecified)");
    let mut not_done = vec![format!("{version_input} '{requested}' was not installed")];
    if input(inputs, "cache").is_some() {
        not_done.push("'cache' was not set up".to_owned());
    }
    job.warning(
        log,
        &format!(
            "{action} runs as a pass-through on this host: {}; using {} ({version}) from PATH",
            not_done.join(", "),
            program.display()
        ),
    );
    let mut outputs = IndexMap::new();
    let clean_version = version
        .split_whitespace()
        .find(|w| w.chars().any(|c| c.is_ascii_digit()))
        .unwrap_or("")
        .trim_start_matches("go")
        .to_owned();
    outputs.insert(format!("{tool}-version"), clean_version);
    if tool == "python" {
        outputs.insert("python-path".to_owned(), program.display().to_string());
    }
    ActionResult::success(outputs)
}
