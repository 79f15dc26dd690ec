//! `run:` scripts handed to external linters, as actionlint does: shellcheck for bash and sh
//! scripts, pyflakes for python ones. This module picks the scripts and their language (the
//! shell GitHub would use: the step's `shell:`, else the job's, else the workflow's defaults,
//! else the runner's default), turns `${{ }}` into placeholders of the same length, reads the
//! tools' output and maps each finding back to its file position in the YAML (block and quoted
//! scalars alike, through [`TStr::pos_at`]).
//!
//! Invariant: no IO here; the caller runs the tools (the `gantry` binary, and the conformance
//! suite). A finding keeps its column in characters, so a placeholder or a multi-byte character
//! before it never shifts it. Tests are at the bottom and in `tests/actionlint.rs`.

use crate::diagnostic::{Diagnostic, Severity, Span};
use crate::model::{Job, Matrix, Step, TStr, ValueKind, Workflow};

/// What a script is written in, which decides the tool that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptLanguage {
    Bash,
    Sh,
    Python,
}

impl ScriptLanguage {
    /// The language of a `shell:` value (`bash`, `sh -e {0}`, `/usr/bin/python3 {0}`); `None`
    /// for other shells (pwsh, cmd, custom programs) and expressions.
    pub fn of_shell(shell: &str) -> Option<ScriptLanguage> {
        if shell.contains("${{") {
            return None;
        }
        let program = shell.split_whitespace().next()?;
        let name = program.rsplit(['/', '\\']).next().unwrap_or(program);
        match name {
            "bash" => Some(ScriptLanguage::Bash),
            "sh" => Some(ScriptLanguage::Sh),
            "python" | "python3" => Some(ScriptLanguage::Python),
            _ => None,
        }
    }

    /// The rule code of the tool's findings.
    pub fn code(self) -> &'static str {
        match self {
            ScriptLanguage::Bash | ScriptLanguage::Sh => "shellcheck",
            ScriptLanguage::Python => "pyflakes",
        }
    }
}

/// One `run:` script to lint.
#[derive(Debug, Clone)]
pub struct Script<'w> {
    pub language: ScriptLanguage,
    /// The script with every `${{ }}` replaced by `_` (newlines kept), so that the tools see
    /// valid code and report the columns of the original text.
    pub text: String,
    run: &'w TStr,
}

/// One finding of a tool, at a 1-based line and column (characters) of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFinding {
    pub line: u32,
    pub column: u32,
    pub severity: Severity,
    pub message: String,
}

/// The scripts of `workflow` that shellcheck or pyflakes can read, in file order.
pub fn scripts(workflow: &Workflow) -> Vec<Script<'_>> {
    let workflow_shell = defaults_shell(workflow.defaults.as_ref());
    let mut found = Vec::new();
    for job in workflow.jobs.values() {
        let job_shell = defaults_shell(job.defaults.as_ref()).or(workflow_shell);
        let default = match job_shell {
            Some(shell) => Some(shell.raw.as_str()),
            // GitHub's default is bash, but PowerShell on Windows runners.
            None if may_run_on_windows(job) => None,
            None => Some("bash"),
        };
        collect(job.step_list(), default, &mut found);
    }
    found
}

fn defaults_shell(defaults: Option<&crate::model::Defaults>) -> Option<&TStr> {
    defaults?.run.as_ref()?.shell.as_ref()
}

fn collect<'w>(steps: &'w [Step], default: Option<&str>, found: &mut Vec<Script<'w>>) {
    for step in steps {
        if let Some(parallel) = &step.parallel {
            collect(&parallel.items, default, found);
        }
        let Some(run) = &step.run else { continue };
        let shell = step.shell.as_ref().map(|s| s.raw.as_str()).or(default);
        let Some(language) = shell.and_then(ScriptLanguage::of_shell) else {
            continue;
        };
        found.push(Script {
            language,
            text: placeholders(&run.raw),
            run,
        });
    }
}

/// Whether a runner label of `job` is (or, through the matrix, may be) a Windows one.
fn may_run_on_windows(job: &Job) -> bool {
    let Some(runs_on) = &job.runs_on else {
        return false;
    };
    let is_windows = |s: &str| {
        let lower = s.to_ascii_lowercase();
        lower == "windows" || lower.starts_with("windows-")
    };
    runs_on.labels.iter().any(|label| {
        if label.is_literal() {
            is_windows(&label.raw)
        } else {
            let matrix = job.strategy.as_ref().and_then(|s| s.matrix.as_ref());
            matrix.is_some_and(|m| matrix_has_string(m, &is_windows))
        }
    })
}

/// Whether any literal string of the matrix (axis values, include rows) satisfies `test`.
fn matrix_has_string(matrix: &Matrix, test: &dyn Fn(&str) -> bool) -> bool {
    fn value_has(value: &crate::model::Value, test: &dyn Fn(&str) -> bool) -> bool {
        match &value.kind {
            ValueKind::String(s) => test(&s.raw),
            ValueKind::Seq(items) => items.iter().any(|v| value_has(v, test)),
            ValueKind::Map(entries) => entries.iter().any(|(_, v)| value_has(v, test)),
            _ => false,
        }
    }
    let rows = |rows: &Option<crate::model::MatrixRows>| match rows.as_ref().map(|r| &r.rows) {
        Some(crate::model::ExprOr::Value(rows)) => rows.iter().any(|v| value_has(v, test)),
        _ => false,
    };
    matrix.axes.values().any(|axis| match &axis.values {
        crate::model::ExprOr::Value(values) => values.iter().any(|v| value_has(v, test)),
        crate::model::ExprOr::Expr(_) => false,
    }) || rows(&matrix.include)
}

/// `text` with every `${{ … }}` replaced by as many `_` as it has characters, newlines kept
/// (underscores, not spaces: `if ${{ x }}; then` must stay valid shell).
pub fn placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let end = start + len + 2;
        out.push_str(&rest[..start]);
        out.extend(
            rest[start..end]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { '_' }),
        );
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

impl Script<'_> {
    /// The diagnostic of `finding`, at its position in the workflow file `source`.
    pub fn diagnostic(&self, source: &str, finding: &ToolFinding) -> Diagnostic {
        let raw = &self.run.raw;
        let line_start: usize = raw
            .split_inclusive('\n')
            .take(finding.line.saturating_sub(1) as usize)
            .map(str::len)
            .sum();
        let line = raw[line_start.min(raw.len())..]
            .split('\n')
            .next()
            .unwrap_or("");
        let in_line: usize = line
            .chars()
            .take(finding.column.saturating_sub(1) as usize)
            .map(char::len_utf8)
            .sum();
        let pos = self
            .run
            .pos_at(source, (line_start + in_line).min(raw.len()));
        Diagnostic {
            severity: finding.severity,
            code: self.language.code(),
            message: finding.message.clone(),
            span: Span::point(pos),
        }
    }
}

/// Findings of `shellcheck -f json1` run over files `files` (in that order), as (index into
/// `files`, finding). shellcheck's `error` level is an error, every other level a warning.
pub fn parse_shellcheck_json1(stdout: &str, files: &[String]) -> Vec<(usize, ToolFinding)> {
    #[derive(serde::Deserialize)]
    struct Output {
        comments: Vec<Comment>,
    }
    #[derive(serde::Deserialize)]
    struct Comment {
        file: String,
        line: u32,
        column: u32,
        level: String,
        code: u32,
        message: String,
    }
    let Ok(output) = serde_json::from_str::<Output>(stdout) else {
        return Vec::new();
    };
    output
        .comments
        .into_iter()
        .filter_map(|c| {
            let index = files.iter().position(|f| *f == c.file)?;
            let severity = if c.level == "error" {
                Severity::Error
            } else {
                Severity::Warning
            };
            let message = format!(
                "SC{} ({}): {}",
                c.code,
                c.level,
                c.message.trim_end_matches('.')
            );
            Some((
                index,
                ToolFinding {
                    line: c.line,
                    column: c.column,
                    severity,
                    message,
                },
            ))
        })
        .collect()
}

/// Findings of `pyflakes` run over files `files`, from its stdout and stderr together
/// (`FILE:LINE:COL: MESSAGE`; syntax errors go to stderr followed by the source line and a
/// caret, which are skipped). Syntax errors and undefined names fail at run time: errors; the
/// rest (unused imports, shadowing...) warnings.
pub fn parse_pyflakes(output: &str, files: &[String]) -> Vec<(usize, ToolFinding)> {
    let mut found = Vec::new();
    for line in output.lines() {
        let Some((index, rest)) = files
            .iter()
            .enumerate()
            .find_map(|(i, f)| line.strip_prefix(f.as_str()).map(|r| (i, r)))
        else {
            continue;
        };
        let mut parts = rest.strip_prefix(':').unwrap_or("").splitn(3, ':');
        let (Some(line_no), Some(second), Some(third)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(line_no) = line_no.trim().parse::<u32>() else {
            continue;
        };
        // `LINE:COL: MESSAGE`, or `LINE: MESSAGE` (older pyflakes, no column).
        let (column, message) = match second.trim().parse::<u32>() {
            Ok(column) => (column, third.trim()),
            Err(_) => (1, rest.splitn(3, ':').nth(2).unwrap_or("").trim()),
        };
        // A placeholder is a name Python does not know: not the script's fault.
        if message
            .strip_prefix("undefined name '")
            .and_then(|m| m.strip_suffix('\''))
            .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c == '_'))
        {
            continue;
        }
        let runtime_failure = message.starts_with("undefined name")
            || !(message.contains("imported but unused")
                || message.contains("redefinition of unused")
                || message.contains("shadowed by loop variable")
                || message.contains("is assigned to but never used")
                || message.contains("f-string is missing placeholders"));
        found.push((
            index,
            ToolFinding {
                line: line_no,
                column: column.max(1),
                severity: if runtime_failure {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                message: message.to_string(),
            },
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_workflow;

    #[test]
    fn languages() {
        assert_eq!(ScriptLanguage::of_shell("bash"), Some(ScriptLanguage::Bash));
        assert_eq!(
            ScriptLanguage::of_shell("sh -e {0}"),
            Some(ScriptLanguage::Sh)
        );
        assert_eq!(
            ScriptLanguage::of_shell("/usr/bin/python3 {0}"),
            Some(ScriptLanguage::Python)
        );
        assert_eq!(ScriptLanguage::of_shell("pwsh"), None);
        assert_eq!(ScriptLanguage::of_shell("${{ matrix.shell }}"), None);
    }

    #[test]
    fn placeholders_keep_lengths_and_lines() {
        assert_eq!(placeholders("echo ${{ a }} x"), "echo ________ x");
        assert_eq!(placeholders("${{ a\n}}"), "_____\n__");
        assert_eq!(placeholders("${{ 'é' }}é"), "__________é");
        assert_eq!(placeholders("echo ${{ unclosed"), "echo ${{ unclosed");
    }

    /// `line:col language` of the scripts picked from `yaml`.
    fn picked(yaml: &str) -> Vec<String> {
        let (workflow, _) = load_workflow(yaml.as_bytes());
        scripts(&workflow)
            .iter()
            .map(|s| {
                let pos = s.run.span.start;
                format!("{}:{} {:?}", pos.line, pos.col, s.language)
            })
            .collect()
    }

    #[test]
    fn the_shell_github_would_use() {
        let job = |runs_on: &str, defaults: &str, shell: &str| {
            format!("on: push\njobs:\n  a:\n    runs-on: {runs_on}\n{defaults}    steps:\n      - run: x\n{shell}")
        };
        assert_eq!(picked(&job("ubuntu-latest", "", "")), ["6:14 Bash"]);
        assert!(picked(&job("windows-latest", "", "")).is_empty());
        assert_eq!(
            picked(&job("windows-latest", "", "        shell: sh\n")),
            ["6:14 Sh"]
        );
        assert_eq!(
            picked(&job(
                "ubuntu-latest",
                "    defaults:\n      run:\n        shell: python\n",
                ""
            )),
            ["9:14 Python"]
        );
        assert!(picked(&job("ubuntu-latest", "", "        shell: pwsh\n")).is_empty());
        assert!(picked(
            "on: push\njobs:\n  a:\n    runs-on: ${{ matrix.os }}\n    strategy:\n      matrix:\n        os: [ubuntu-latest, windows-latest]\n    steps:\n      - run: x\n"
        )
        .is_empty());
        // Workflow defaults apply to every job without its own.
        assert_eq!(
            picked("on: push\ndefaults:\n  run:\n    shell: pwsh\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n      - run: y\n        shell: bash\n"),
            ["10:14 Bash"]
        );
    }

    #[test]
    fn findings_map_back_to_the_file() {
        let yaml = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          echo ${{ github.sha }} $FOO\n          ok\n      - run: \"a ${{ x }} $X\"\n";
        let (workflow, _) = load_workflow(yaml.as_bytes());
        let found = scripts(&workflow);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].text, "echo _________________ $FOO\nok\n");
        let at = |script: &Script<'_>, line, column| {
            let d = script.diagnostic(
                yaml,
                &ToolFinding {
                    line,
                    column,
                    severity: Severity::Warning,
                    message: String::new(),
                },
            );
            (d.span.start.line, d.span.start.col)
        };
        assert_eq!(at(&found[0], 1, 24), (7, 34));
        assert_eq!(at(&found[0], 2, 1), (8, 11));
        // A double-quoted scalar: after the opening quote.
        assert_eq!(at(&found[1], 1, 11), (9, 25));
    }

    #[test]
    fn tool_output() {
        let files = ["/t/0.sh".to_string(), "/t/1.sh".to_string()];
        let json = r#"{"comments":[{"file":"/t/1.sh","line":1,"endLine":1,"column":6,"endColumn":10,"level":"info","code":2086,"message":"Double quote to prevent globbing and word splitting.","fix":null},{"file":"/t/0.sh","line":2,"column":1,"level":"error","code":1009,"message":"The mentioned syntax error was in this if expression."}]}"#;
        let found = parse_shellcheck_json1(json, &files);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, 1);
        assert_eq!(
            found[0].1.message,
            "SC2086 (info): Double quote to prevent globbing and word splitting"
        );
        assert_eq!(found[0].1.severity, Severity::Warning);
        assert_eq!(found[1].1.severity, Severity::Error);
        assert!(parse_shellcheck_json1("not json", &files).is_empty());

        let files = ["/t/0.py".to_string(), "/t/1.py".to_string()];
        let text = "/t/0.py:1:7: undefined name 'hello'\n/t/0.py:1:1: undefined name '______'\n/t/1.py:2:1: 'os' imported but unused\n/t/1.py:3:6: '(' was never closed\nprint(\n     ^\n";
        let found = parse_pyflakes(text, &files);
        let summary: Vec<(usize, u32, u32, bool)> = found
            .iter()
            .map(|(i, f)| (*i, f.line, f.column, f.severity == Severity::Error))
            .collect();
        assert_eq!(
            summary,
            [(0, 1, 7, true), (1, 2, 1, false), (1, 3, 6, true)]
        );
    }
}
