//! Semantic checks of a loaded workflow: the rules beyond structure (events, filters, cron,
//! `needs:` graph, matrix, expressions and their contexts, local actions and reusable
//! workflows, permissions, runner labels, script injection...).
//!
//! Invariant: checks never fail and never panic; they only add [`Diagnostic`]s, each with a
//! rule `code` (the kind names actionlint uses, so results compare with its test data). Data
//! tables live in their own modules and are built at compile time; the only input besides the
//! model is the [`Project`] the caller implements (no IO here). Tests: unit tests in each
//! module, `tests/actionlint.rs` for the conformance suite.

pub mod action_majors;
pub mod contexts;
pub mod cron;
pub mod events;
/// Filter patterns moved to [`crate::glob`]; kept here so `check::glob::…` paths still resolve.
pub use crate::glob;
pub mod permissions;
pub mod runner_labels;
pub mod scripts;
mod timezones;
pub mod untrusted;

mod rule_calls;
mod rule_events;
mod rule_expr;
mod rule_jobs;
mod types;

use crate::diagnostic::{Diagnostic, Pos, Span};
use crate::model::{Str, TStr, Workflow};
use crate::project::{ReadError, RepoPath};

pub use crate::project::{NoProject, Project};

/// Runs every semantic rule over `workflow` and returns what they found, sorted by position.
///
/// Rule codes: `events` (triggers, types, filters, cron, time zones, input definitions), `glob`
/// (filter patterns), `job-needs`, `matrix`, `runner-label` (unknown labels are warnings,
/// conflicting ones errors), `permissions`, `credentials`, `env-var`, `shell-name`,
/// `deprecated-commands` (warning), `expression` (contexts and functions not available at the
/// key, properties that cannot exist, type mismatches, objects interpolated into text),
/// `if-cond` (always-true conditions; constant conditions are warnings), `script-injection`
/// (warning), `action` (the form of `uses:`, local action metadata and inputs), `workflow-call`
/// (local reusable workflows: file, inputs, secrets), `id` (`wait:` / `cancel:` naming no
/// earlier step).
pub fn check_workflow(workflow: &Workflow, project: &dyn Project) -> Vec<Diagnostic> {
    // Local actions and reusable workflows are looked up from several rules: read each once.
    let cached = CachedProject {
        inner: project,
        files: Default::default(),
    };
    let project: &dyn Project = &cached;
    let mut cx = Checker {
        source: &workflow.source,
        diagnostics: Vec::new(),
    };
    rule_events::check(&mut cx, workflow);
    rule_jobs::check(&mut cx, workflow);
    rule_expr::check(&mut cx, workflow, project);
    rule_calls::check(&mut cx, workflow, project);
    let mut diagnostics = cx.diagnostics;
    diagnostics.sort_by_key(|d| (d.span.start.line, d.span.start.col));
    diagnostics.dedup_by(|a, b| {
        a.span.start == b.span.start && a.code == b.code && a.message == b.message
    });
    diagnostics
}

/// Remembers what [`Project::read`] returned, for the duration of one check.
struct CachedProject<'p> {
    inner: &'p dyn Project,
    files: std::cell::RefCell<std::collections::HashMap<RepoPath, Result<Vec<u8>, ReadError>>>,
}

impl Project for CachedProject<'_> {
    fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
        if let Some(known) = self.files.borrow().get(path) {
            return known.clone();
        }
        let bytes = self.inner.read(path);
        self.files.borrow_mut().insert(path.clone(), bytes.clone());
        bytes
    }

    fn root_guess(&self) -> Option<&str> {
        self.inner.root_guess()
    }
}

/// Shared state of the rules: the file text and the diagnostics found so far.
pub(crate) struct Checker<'a> {
    pub source: &'a str,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub fn error(&mut self, code: &'static str, pos: Pos, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::error(code, Span::point(pos), message));
    }

    pub fn warning(&mut self, code: &'static str, pos: Pos, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::warning(code, Span::point(pos), message));
    }

    /// Whether the scalar starting at `pos` is written in quotes.
    pub fn is_quoted(&self, pos: Pos) -> bool {
        matches!(
            self.source.as_bytes().get(pos.offset as usize),
            Some(b'\'' | b'"')
        )
    }

    /// Where a scalar starts as actionlint reports it: the `|` / `>` header of a block scalar
    /// whose recorded position is its first content line, else `pos` itself.
    pub fn node_start(&self, pos: Pos) -> Pos {
        let end = (pos.offset as usize).min(self.source.len());
        let Some(before) = self.source.get(..end) else {
            return pos;
        };
        let trimmed = before.trim_end_matches([' ', '\t', '\n', '\r']);
        if !before[trimmed.len()..].contains('\n') {
            return pos;
        }
        let header = trimmed.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
        if header.ends_with('|') || header.ends_with('>') {
            return pos_before(before, pos, header.len() - 1);
        }
        pos
    }

    /// Position of the first character of a scalar's content (after its opening quote).
    pub fn content_start(&self, pos: Pos) -> Pos {
        if self.is_quoted(pos) {
            Pos {
                col: pos.col + 1,
                offset: pos.offset + 1,
                ..pos
            }
        } else {
            pos
        }
    }

    /// Position of the mapping key `key` whose value starts at `value`: the last occurrence of
    /// `key:` before the value. Falls back to the value position.
    pub fn key_pos(&self, value: Pos, key: &str) -> Pos {
        let end = (value.offset as usize).min(self.source.len());
        let Some(before) = self.source.get(..end) else {
            return value;
        };
        let mut search = before;
        while let Some(found) = search.rfind(key) {
            let after = before.get(found + key.len()..).unwrap_or("");
            let preceded_ok = found == 0
                || before[..found].ends_with(|c: char| {
                    c.is_whitespace() || c == '{' || c == ',' || c == '"' || c == '\''
                });
            let followed_ok = after.trim_start_matches(['"', '\'']).starts_with(':');
            if preceded_ok && followed_ok {
                return pos_before(before, value, found);
            }
            search = &before[..found];
        }
        value
    }
}

/// Position of byte `offset` of `text`, given that `anchor` (at or after it) is known.
fn pos_before(text: &str, anchor: Pos, offset: usize) -> Pos {
    let anchor_offset = (anchor.offset as usize).min(text.len());
    let between = text.get(offset..anchor_offset).unwrap_or("");
    let newlines = between.matches('\n').count() as u32;
    let col = if newlines == 0 {
        anchor.col.saturating_sub(between.chars().count() as u32)
    } else {
        let line_start = text
            .get(..offset)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        text.get(line_start..offset)
            .map_or(0, |t| t.chars().count() as u32)
            + 1
    };
    Pos {
        line: anchor.line.saturating_sub(newlines),
        col,
        offset: offset as u32,
    }
}

/// Position of a plain string's start.
pub(crate) fn str_pos(s: &Str) -> Pos {
    s.span.start
}

/// Position of a template string's start.
pub(crate) fn tstr_pos(s: &TStr) -> Pos {
    s.span.start
}

/// `"a", "b", "c"` for messages.
pub(crate) fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut items: Vec<&str> = items.into_iter().collect();
    items.sort_unstable();
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_workflow;

    /// A project holding a few files.
    struct Files(&'static [(&'static str, &'static str)]);

    impl Project for Files {
        fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
            self.0
                .iter()
                .find(|(p, _)| *p == path.as_str())
                .map(|(_, text)| text.as_bytes().to_vec())
                .ok_or_else(|| ReadError::NotFound {
                    path: path.to_string(),
                })
        }
    }

    /// Checks `yaml` and compares `line:col code` of every check diagnostic with `expected`.
    fn check_with(yaml: &str, files: &'static [(&'static str, &'static str)], expected: &[&str]) {
        let (workflow, _) = load_workflow(yaml.as_bytes());
        let found: Vec<String> = check_workflow(&workflow, &Files(files))
            .iter()
            .map(|d| format!("{}:{} {}", d.span.start.line, d.span.start.col, d.code))
            .collect();
        assert_eq!(found, expected, "{yaml}");
    }

    fn check(yaml: &str, expected: &[&str]) {
        check_with(yaml, &[], expected);
    }

    const STEPS: &str = "    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n";

    #[test]
    fn events() {
        check(
            "on: pullreq\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
            &["1:5 events"],
        );
        check(
            "on:\n  pull_request:\n    types: [opened, created]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
            &["3:21 events"],
        );
        check(
            "on:\n  push:\n    branches: [a]\n    branches-ignore: [b]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
            &["4:5 events"],
        );
        check(
            "on:\n  schedule:\n    - cron: '*/2 * * * *'\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
            &["3:13 events"],
        );
        check(
            "on:\n  push:\n    tags: ['v[9-1]']\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
            &["3:17 glob"],
        );
    }

    #[test]
    fn needs() {
        let yaml = format!(
            "on: push\njobs:\n  a:\n    needs: [b]\n{STEPS}  b:\n    needs: [a, c]\n{STEPS}"
        );
        check(&yaml, &["3:3 job-needs", "8:3 job-needs"]);
    }

    #[test]
    fn expressions() {
        check(
            "on: push\njobs:\n  a:\n    runs-on: ${{ env.X }}\n    steps:\n      - run: echo ${{ steps.nope.outputs.x }}\n",
            &["4:18 expression", "6:23 expression"],
        );
        check(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"${{ github.event.issue.title }}\"\n",
            &["6:24 script-injection"],
        );
        check(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n        if: ${{ true }} && ${{ false }}\n",
            &["7:13 if-cond"],
        );
    }

    #[test]
    fn whole_value_expressions_where_a_mapping_is_expected() {
        let job = |body: &str| format!("on: push\njobs:\n  a:\n{body}{STEPS}");
        let container = |credentials: &str| {
            job(&format!(
                "    container:\n      image: ubuntu\n      credentials: {credentials}\n"
            ))
        };
        check(&container("${{ 'user:password' }}"), &["6:20 expression"]);
        check(&container("${{ 1 }}"), &["6:20 expression"]);
        check(&container("${{ fromJSON('{}') }}"), &[]);
        // Secrets are strings.
        check(
            &container("${{ secrets.CREDENTIALS }}"),
            &["6:20 expression"],
        );
        check(
            &container("${{ matrix.credentials }}"),
            &["6:24 expression"],
        );
        check(&container("${{ fromJSON(secrets.CREDENTIALS) }}"), &[]);
        let service = |credentials: &str| {
            job(&format!(
                "    services:\n      db:\n        image: redis\n        credentials: {credentials}\n"
            ))
        };
        check(&service("${{ 'user:password' }}"), &["7:22 expression"]);
        check(&service("${{ fromJSON('{}') }}"), &[]);
        let services = |value: &str| job(&format!("    services: {value}\n"));
        check(&services("${{ 'redis' }}"), &["4:15 expression"]);
        check(&services("${{ true }}"), &["4:15 expression"]);
        check(&services("${{ fromJSON('[1]') }}"), &["4:15 expression"]);
        check(&services("${{ fromJSON('{}') }}"), &[]);
        check(&services("${{ vars.SERVICES }}"), &["4:15 expression"]);
        check(&services("${{ fromJSON(vars.SERVICES) }}"), &[]);
        // `env` is not available at `jobs.<id>.services`; `a || b` of bool and any is any.
        check(
            &services("${{ github.ref || env.FOO }}"),
            &["4:33 expression"],
        );
    }

    #[test]
    fn jobs() {
        check(
            "on: push\npermissions:\n  contents: maybe\njobs:\n  a:\n    runs-on: [ubuntu-latest, windows-latest]\n    steps:\n      - run: echo '::set-output name=a::b'\n",
            &["3:13 permissions", "6:30 runner-label", "8:14 deprecated-commands"],
        );
        check(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        os: [a, b, a]\n        exclude:\n          - os: c\n    steps:\n      - run: echo\n",
            &["7:20 matrix", "9:17 matrix"],
        );
        check(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        os: []\n    steps:\n      - run: echo\n",
            &["7:13 matrix"],
        );
    }

    /// Workflows GitHub runs that gantry used to reject (issue 10), each as its own case.
    #[test]
    fn no_false_errors_on_valid_workflows() {
        const FILES: &[(&str, &str)] = &[
            (
                ".github/actions/a/action.yml",
                "name: a\ndescription: d\noutputs:\n  out:\n    value: x\nruns:\n  using: composite\n  steps:\n    - run: echo\n      shell: bash\n",
            ),
            (
                ".github/workflows/called.yml",
                "on:\n  workflow_call:\n    inputs:\n      x:\n        type: string\n        required: true\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
            ),
        ];
        // `$/` self-repository references, checked like `./`: inputs and outputs are known.
        check_with(
            "on: push\njobs:\n  a:\n    uses: $/.github/workflows/called.yml\n    with:\n      x: a\n",
            FILES,
            &[],
        );
        check_with(
            "on: push\njobs:\n  a:\n    uses: $/.github/workflows/called.yml\n    with:\n      y: a\n",
            FILES,
            &["4:11 workflow-call", "6:7 workflow-call"],
        );
        check_with(
            &format!("on: push\njobs:\n  a:\n{STEPS}      - uses: $/.github/actions/a\n        id: a\n      - run: echo ${{{{ steps.a.outputs.out }}}} ${{{{ steps.a.outputs.nope }}}}\n"),
            FILES,
            &["9:50 expression"],
        );
        // A `$/` action is read from the commit: it must exist. A `./` one may be checked out.
        check_with(
            &format!(
                "on: push\njobs:\n  a:\n{STEPS}      - uses: $/missing\n      - uses: ./missing\n"
            ),
            FILES,
            &["7:15 action"],
        );
        check(
            &format!("on: push\njobs:\n  a:\n{STEPS}      - uses: $/\n"),
            &["7:15 action"],
        );
        // Step ids inside `parallel:` are seen by the steps after the group.
        check(
            &format!("on: push\njobs:\n  a:\n{STEPS}      - parallel:\n          - id: p\n            run: echo\n          - run: echo ${{{{ steps.p.outcome }}}}\n      - run: echo ${{{{ steps.p.outcome }}}}\n"),
            &[],
        );
        // `wait:` / `cancel:` name earlier steps.
        check(
            &format!("on: push\njobs:\n  a:\n{STEPS}      - id: bg\n        run: sleep 9\n        background: true\n      - wait: [bg, later]\n      - wait: BG\n      - cancel: nope\n      - wait-all: true\n      - id: later\n        run: echo\n"),
            &["10:20 id", "12:17 id"],
        );
        // Matrix keys compare case-insensitively.
        check(
            &format!("on: push\njobs:\n  a:\n    strategy:\n      matrix:\n        os: [a, b]\n        exclude:\n          - OS: a\n{STEPS}"),
            &[],
        );
        // A property only some matrix values have is null elsewhere: a warning.
        let (workflow, _) = load_workflow(
            format!("on: push\njobs:\n  a:\n    strategy:\n      matrix:\n        p: [{{os: a}}, x]\n        include:\n          - p: {{os: b}}\n{STEPS}      - run: echo ${{{{ matrix.p.toolchain || null }}}} ${{{{ matrix.q }}}}\n")
                .as_bytes(),
        );
        let found: Vec<(String, bool)> = check_workflow(&workflow, &NoProject)
            .iter()
            .map(|d| (d.message.clone(), d.is_error()))
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].0.contains("\"q\"") && found[0].1, "{found:?}");
        // New permission scopes and runner labels; retired images are errors.
        check(
            "on: push\npermissions:\n  code-quality: read\n  copilot-requests: write\n  drives: write\n  vulnerability-alerts: read\njobs:\n  a:\n    runs-on: ubuntu-26.04-arm\n    steps:\n      - run: echo\n",
            &[],
        );
        check(
            "on: push\njobs:\n  a:\n    runs-on: ${{ matrix.os }}\n    strategy:\n      matrix:\n        os: [ubuntu-26.04]\n        include:\n          - os: ubuntu-20.04\n    steps:\n      - run: echo\n",
            &["9:17 runner-label"],
        );
    }

    #[test]
    fn retired_and_deprecated_action_majors() {
        let (workflow, _) = load_workflow(
            format!("on: push\njobs:\n  a:\n{STEPS}      - uses: actions/upload-artifact@v3\n      - uses: actions/checkout@v4.2.1\n      - uses: actions/checkout@v5\n      - uses: actions/checkout@main\n").as_bytes(),
        );
        let found: Vec<(u32, bool, bool)> = check_workflow(&workflow, &NoProject)
            .iter()
            .map(|d| {
                (
                    d.span.start.line,
                    d.is_error(),
                    d.message.contains("2025-01-30") || d.message.contains("node20"),
                )
            })
            .collect();
        assert_eq!(found, [(7, true, true), (8, false, true)]);
    }

    #[test]
    fn required_input_with_default_is_a_warning() {
        let (workflow, _) = load_workflow(
            b"on:\n  workflow_call:\n    inputs:\n      x:\n        type: string\n        required: true\n        default: a\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
        );
        let found = check_workflow(&workflow, &NoProject);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].is_error());
        assert_eq!((found[0].span.start.line, found[0].span.start.col), (7, 18));
    }

    /// A project whose root is a guess: what is not found is a warning saying why.
    struct Guessed;

    impl Project for Guessed {
        fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
            Err(ReadError::NotFound {
                path: path.to_string(),
            })
        }

        fn root_guess(&self) -> Option<&str> {
            Some("no repository around the file")
        }
    }

    #[test]
    fn not_found_is_a_warning_when_the_root_is_a_guess() {
        let yaml =
            format!("on: push\njobs:\n  a:\n    uses: ./w.yml\n  b:\n{STEPS}      - uses: $/act\n");
        let (workflow, _) = load_workflow(yaml.as_bytes());
        let found = check_workflow(&workflow, &Guessed);
        assert_eq!(found.len(), 2, "{found:?}");
        for d in &found {
            assert!(!d.is_error(), "{d:?}");
            assert!(d.message.contains("no repository around the file"), "{d:?}");
        }
        let errors = check_workflow(&workflow, &NoProject);
        assert_eq!(errors.iter().filter(|d| d.is_error()).count(), 2);
    }

    #[test]
    fn local_calls() {
        const FILES: &[(&str, &str)] = &[
            (
                "act/action.yml",
                "name: a\ndescription: d\ninputs:\n  need:\n    required: true\nruns:\n  using: node20\n  main: index.js\n",
            ),
            ("act/index.js", ""),
            (
                "wf.yml",
                "on:\n  workflow_call:\n    inputs:\n      n:\n        type: number\n        required: true\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
            ),
        ];
        check_with(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./act\n        with:\n          extra: 1\n",
            FILES,
            &["6:15 action", "8:11 action"],
        );
        // An unknown key in an input definition is ignored by GitHub: a warning at `uses:`.
        check_with(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./typo\n",
            &[
                (
                    "typo/action.yml",
                    "name: a\ndescription: d\ninputs:\n  x:\n    requird: true\nruns:\n  using: node20\n  main: index.js\n",
                ),
                ("typo/index.js", ""),
            ],
            &["6:15 action"],
        );
        check_with(
            "on: push\njobs:\n  a:\n    uses: ./wf.yml\n    with:\n      n: true\n",
            FILES,
            &["6:10 expression"],
        );
        check_with(
            "on: push\njobs:\n  a:\n    uses: ./wf.yml\n",
            FILES,
            &["4:11 workflow-call"],
        );
        check_with(
            "on: push\njobs:\n  a:\n    uses: ./missing.yml\n",
            FILES,
            &["4:11 workflow-call"],
        );
    }
}
