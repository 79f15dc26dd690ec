//! shellcheck and pyflakes on `run:` scripts, for `gantry lint`: found on `PATH` once, started
//! on the scripts of all files before the other checks run (so they work at the same time), and
//! read when those are done. Which scripts, their placeholders, the tools' output and the mapping
//! back to file positions are `gantry_workflow::check::scripts`; this module only runs the
//! processes.
//!
//! Invariant: a few processes per tool and language in all (one batch per core), whatever the
//! number of files and scripts (actionlint starts one per script); the scripts go to a private
//! temporary directory that is removed when the tools are done. A tool that cannot run is a
//! diagnostic, never a panic.
//! Tests: `tests/cli.rs` (the real tools on actionlint's cases, and the missing-tool paths).

use gantry_workflow::check::scripts::{
    parse_pyflakes, parse_shellcheck_json1, Script, ScriptLanguage, ToolFinding,
};
use gantry_workflow::{Diagnostic, Severity};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// shellcheck checks that do not fit scripts of workflows: SC1091 (a sourced file is looked up
/// on this machine, not the runner), SC2194 and SC2157 (a placeholder for `${{ }}` makes a word
/// constant, and `[[ -z ${{ env.X }} ]]` "always false").
const SHELLCHECK_EXCLUDED: &str = "SC1091,SC2157,SC2194";

/// The external linters found on this machine.
#[derive(Debug, Clone, Default)]
pub struct ScriptTools {
    pub shellcheck: Option<PathBuf>,
    pub pyflakes: Option<PathBuf>,
}

impl ScriptTools {
    /// Looks the tools up on `PATH` (`pyflakes3` is Debian's name, `pyflakes` pip's).
    pub fn detect() -> ScriptTools {
        ScriptTools {
            shellcheck: find_on_path("shellcheck"),
            pyflakes: find_on_path("pyflakes3").or_else(|| find_on_path("pyflakes")),
        }
    }

    /// The tools that are missing, with what the user loses.
    pub fn missing(&self) -> Vec<(&'static str, &'static str)> {
        let mut missing = Vec::new();
        if self.shellcheck.is_none() {
            missing.push(("shellcheck", "bash and sh run: scripts"));
        }
        if self.pyflakes.is_none() {
            missing.push(("pyflakes3", "python run: scripts"));
        }
        missing
    }

    fn tool(&self, language: ScriptLanguage) -> Option<&Path> {
        match language {
            ScriptLanguage::Bash | ScriptLanguage::Sh => self.shellcheck.as_deref(),
            ScriptLanguage::Python => self.pyflakes.as_deref(),
        }
    }

    /// Starts the tools on `scripts` (of any number of files); [`Running::finish`] collects
    /// what they found. Each language's scripts are split into one batch per core.
    pub fn start(&self, scripts: &[&Script<'_>]) -> Running {
        let mut running = Running {
            dir: None,
            batches: Vec::new(),
            failures: Vec::new(),
        };
        let n_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for language in [
            ScriptLanguage::Bash,
            ScriptLanguage::Sh,
            ScriptLanguage::Python,
        ] {
            let Some(tool) = self.tool(language) else {
                continue;
            };
            let indices: Vec<usize> = scripts
                .iter()
                .enumerate()
                .filter(|(_, s)| s.language == language)
                .map(|(i, _)| i)
                .collect();
            if indices.is_empty() {
                continue;
            }
            // Batches of at least 16 scripts: a process start costs about as much as checking
            // a few short scripts.
            // At most 1,000 a batch, to keep command lines short.
            let chunk = indices.len().div_ceil(n_cores).clamp(16, 1000);
            for part in indices.chunks(chunk) {
                if let Err(message) = running.start_batch(tool, language, scripts, part.to_vec()) {
                    running.failures.push((part[0], message));
                }
            }
        }
        running
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// One tool process over the scripts of one language.
struct Batch {
    language: ScriptLanguage,
    child: Child,
    /// The script files, as the tool names them in its output.
    files: Vec<String>,
    /// Index into the file's scripts of each file.
    indices: Vec<usize>,
}

/// Tool processes at work on one workflow file's scripts.
pub struct Running {
    dir: Option<PathBuf>,
    batches: Vec<Batch>,
    /// A tool that could not run: (index of the first script it was to read, why).
    failures: Vec<(usize, String)>,
}

impl Running {
    fn start_batch(
        &mut self,
        tool: &Path,
        language: ScriptLanguage,
        scripts: &[&Script<'_>],
        indices: Vec<usize>,
    ) -> Result<(), String> {
        let dir = self.dir()?;
        let extension = match language {
            ScriptLanguage::Python => "py",
            ScriptLanguage::Bash | ScriptLanguage::Sh => "sh",
        };
        let mut files = Vec::with_capacity(indices.len());
        for &i in &indices {
            let file = dir.join(format!("{i}.{extension}"));
            std::fs::write(&file, &scripts[i].text)
                .map_err(|e| format!("cannot write a script for {}: {e}", tool.display()))?;
            files.push(file.to_string_lossy().into_owned());
        }
        let mut command = Command::new(tool);
        match language {
            ScriptLanguage::Bash | ScriptLanguage::Sh => {
                let shell = if language == ScriptLanguage::Bash {
                    "bash"
                } else {
                    "sh"
                };
                command.args([
                    "--norc",
                    "-f",
                    "json1",
                    "-s",
                    shell,
                    "-e",
                    SHELLCHECK_EXCLUDED,
                ]);
            }
            ScriptLanguage::Python => {}
        }
        let child = command
            .args(&files)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{} could not be started: {e}", tool.display()))?;
        self.batches.push(Batch {
            language,
            child,
            files,
            indices,
        });
        Ok(())
    }

    /// The private directory the scripts are written to, made on first use.
    fn dir(&mut self) -> Result<PathBuf, String> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gantry-lint-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot make a directory for the scripts: {e}"))?;
        self.dir = Some(dir.clone());
        Ok(dir)
    }

    /// Waits for the tools and returns their findings as diagnostics, each with the index of
    /// its script; `sources[i]` is the text of the file script `i` comes from.
    pub fn finish(mut self, scripts: &[&Script<'_>], sources: &[&str]) -> Vec<(usize, Diagnostic)> {
        let mut diagnostics = Vec::new();
        let failure = |index: usize, message: String| {
            let at = ToolFinding {
                line: 1,
                column: 1,
                severity: Severity::Error,
                message,
            };
            (index, scripts[index].diagnostic(sources[index], &at))
        };
        for (index, message) in std::mem::take(&mut self.failures) {
            diagnostics.push(failure(index, message));
        }
        for batch in std::mem::take(&mut self.batches) {
            let code = batch.language.code();
            let output = match batch.child.wait_with_output() {
                Ok(output) => output,
                Err(e) => {
                    diagnostics.push(failure(batch.indices[0], format!("{code} failed: {e}")));
                    continue;
                }
            };
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let findings = match batch.language {
                ScriptLanguage::Bash | ScriptLanguage::Sh => {
                    parse_shellcheck_json1(&stdout, &batch.files)
                }
                ScriptLanguage::Python => {
                    parse_pyflakes(&format!("{stdout}\n{stderr}"), &batch.files)
                }
            };
            // The tools exit 1 when they found something; anything else without output is a
            // tool that did not work.
            if findings.is_empty() && !matches!(output.status.code(), Some(0 | 1)) {
                let why = stderr.lines().next().unwrap_or("no output").to_string();
                diagnostics.push(failure(
                    batch.indices[0],
                    format!("{code} did not run ({}): {why}", output.status),
                ));
                continue;
            }
            for (file_index, finding) in findings {
                let index = batch.indices[file_index];
                diagnostics.push((index, scripts[index].diagnostic(sources[index], &finding)));
            }
        }
        diagnostics
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for batch in &mut self.batches {
            // Only when a file is abandoned before `finish` (which consumes the batches).
            let _ = batch.child.kill();
            let _ = batch.child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
