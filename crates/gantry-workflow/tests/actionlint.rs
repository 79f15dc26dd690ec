//! actionlint conformance: the workflows of `test_data/actionlint/` loaded and checked, and the
//! positions of our diagnostics compared with the `line:col` of actionlint's expected errors.
//!
//! shellcheck and pyflakes run on `run:` scripts as `gantry lint` runs them (their cases are
//! left out, with a printed reason, when the tools are not installed and `CI` is not `true`).
//!
//! What must hold: every `ok/*.yaml` gives no error; every `err/`, `examples/` file and every
//! project with expected errors gives at least one diagnostic; every expected position of those
//! files is reported; no real-world workflow of `realworld/dataset.zip` gets an error (but for
//! runner images and action majors GitHub retired since the dataset was collected). Cases we
//! do not pass are listed in `test_data/actionlint/skipped.txt` with a reason. The test fails on
//! a failing case that is not listed, on a listed case that passes, and on a listed id that names
//! no case, so the list stays honest. Results (with the share of all expected positions we
//! report, listed ones included) are written to `test_data/actionlint/summary.txt`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use gantry_workflow::check::{check_workflow, Project};
use gantry_workflow::load::load_workflow;
use gantry_workflow::{Diagnostic, ReadError, RepoPath};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test_data/actionlint")
}

/// A project rooted at a directory.
struct DirProject(PathBuf);

impl Project for DirProject {
    fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
        let full = self.0.join(path.as_str());
        if !full.is_file() {
            return Err(ReadError::NotFound {
                path: path.to_string(),
            });
        }
        std::fs::read(full).map_err(|e| ReadError::Io {
            path: path.to_string(),
            source: e.into(),
        })
    }
}

/// Whether `diagnostic` reports a runner image or an action major GitHub retired after the
/// real-world dataset was collected (June 2021; the oldest retirement in the tables is September
/// 2021): those workflows ran then, so the error is right today and not a false one.
fn is_retired_since_collected(diagnostic: &Diagnostic) -> bool {
    (diagnostic.code == "runner-label" && diagnostic.message.contains("was retired by GitHub on"))
        || (is_about_version(diagnostic) && diagnostic.is_error())
}

/// A project without files (real-world workflows come alone).
struct Empty;

impl Project for Empty {
    fn read(&self, path: &RepoPath) -> Result<Vec<u8>, ReadError> {
        Err(ReadError::NotFound {
            path: path.to_string(),
        })
    }
}

fn lint(bytes: &[u8], project: &dyn Project) -> Vec<Diagnostic> {
    let (workflow, mut diagnostics) = load_workflow(bytes);
    diagnostics.extend(check_workflow(&workflow, project));
    diagnostics.extend(script_findings(&workflow));
    diagnostics
}

/// The real-world corpus is checked without shellcheck and pyflakes: 1,500 files of 2021 whose
/// script findings are style, not workflow errors, and would take minutes in a debug build.
fn lint_without_scripts(bytes: &[u8], project: &dyn Project) -> Vec<Diagnostic> {
    let (workflow, mut diagnostics) = load_workflow(bytes);
    diagnostics.extend(check_workflow(&workflow, project));
    diagnostics
}

/// Whether `diagnostic` is about a retired or deprecated major of an action.
fn is_about_version(diagnostic: &Diagnostic) -> bool {
    diagnostic.code == "action" && diagnostic.message.ends_with("update the action's version")
}

/// A tool on `PATH` (shellcheck, pyflakes3).
fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether shellcheck and pyflakes3 are installed. Under `CI=true` they must be (the project's
/// `scripts/test` installs them); elsewhere their cases are left out with a printed reason.
fn script_tools_installed() -> bool {
    let missing: Vec<&str> = ["shellcheck", "pyflakes3"]
        .into_iter()
        .filter(|name| tool(name).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci,
        "CI=true but {missing:?} not installed (scripts/test installs them)"
    );
    eprintln!("{missing:?} not installed: the shellcheck and pyflakes cases are left out");
    false
}

thread_local! {
    static SCRIPT_TOOLS: bool = script_tools_installed();
}

/// shellcheck and pyflakes over the `run:` scripts of `workflow`, run the way `gantry lint`
/// runs them (one process per language, the scripts as files), through the crate's own
/// script selection, output parsing and position mapping.
fn script_findings(workflow: &gantry_workflow::Workflow) -> Vec<Diagnostic> {
    use gantry_workflow::check::scripts::{
        parse_pyflakes, parse_shellcheck_json1, scripts, ScriptLanguage,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};
    if !SCRIPT_TOOLS.with(|installed| *installed) {
        return Vec::new();
    }
    let scripts = scripts(workflow);
    if scripts.is_empty() {
        return Vec::new();
    }
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gantry-actionlint-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut diagnostics = Vec::new();
    for language in [
        ScriptLanguage::Bash,
        ScriptLanguage::Sh,
        ScriptLanguage::Python,
    ] {
        let indices: Vec<usize> = (0..scripts.len())
            .filter(|&i| scripts[i].language == language)
            .collect();
        if indices.is_empty() {
            continue;
        }
        let files: Vec<String> = indices
            .iter()
            .map(|i| {
                let file = dir.join(format!("{i}.txt"));
                std::fs::write(&file, &scripts[*i].text).unwrap();
                file.to_string_lossy().into_owned()
            })
            .collect();
        let (program, args): (&str, &[&str]) = match language {
            ScriptLanguage::Bash => (
                "shellcheck",
                &[
                    "--norc",
                    "-f",
                    "json1",
                    "-s",
                    "bash",
                    "-e",
                    "SC1091,SC2157,SC2194",
                ],
            ),
            ScriptLanguage::Sh => (
                "shellcheck",
                &[
                    "--norc",
                    "-f",
                    "json1",
                    "-s",
                    "sh",
                    "-e",
                    "SC1091,SC2157,SC2194",
                ],
            ),
            ScriptLanguage::Python => ("pyflakes3", &[]),
        };
        let output = std::process::Command::new(program)
            .args(args)
            .args(&files)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let findings = match language {
            ScriptLanguage::Python => parse_pyflakes(&format!("{stdout}\n{stderr}"), &files),
            _ => parse_shellcheck_json1(&stdout, &files),
        };
        for (file_index, finding) in findings {
            diagnostics.push(scripts[indices[file_index]].diagnostic(&workflow.source, &finding));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    diagnostics
}

/// One expected error of a `.out` file.
#[derive(Debug, Clone)]
struct Expected {
    file: String,
    line: u32,
    col: u32,
    kind: String,
    /// actionlint's message says the action's version is too old.
    about_version: bool,
}

/// Parses `.out` lines: `FILE:LINE:COL: MESSAGE [KIND]`, or the same as a `/regex/`.
fn parse_out(text: &str) -> Vec<Expected> {
    let mut expected = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let (body, is_regex) = match line.strip_prefix('/').and_then(|l| l.strip_suffix('/')) {
            Some(inner) => (inner.to_string(), true),
            None => (line.to_string(), false),
        };
        let body = if is_regex {
            body.replace("\\.", ".")
        } else {
            body
        };
        let mut parts = body.splitn(4, ':');
        let (Some(file), Some(l), Some(c)) = (parts.next(), parts.next(), parts.next()) else {
            // A regex without a position (`/{string => string}/`) only asks for some diagnostic.
            continue;
        };
        let kind = body
            .rsplit_once('[')
            .map(|(_, k)| k.trim_end_matches(['/', ']', '\\']).to_string())
            .unwrap_or_default();
        expected.push(Expected {
            file: file.to_string(),
            line: l.parse().unwrap_or_else(|_| panic!("bad line in {raw}")),
            col: c.parse().unwrap_or_else(|_| panic!("bad column in {raw}")),
            about_version: parts.next().is_some_and(|m| m.contains("too old")),
            kind,
        });
    }
    expected
}

/// The cases of `skipped.txt` (`<case id>\t<reason>` lines), and which ids were looked up and
/// found, so that ids naming no case can be reported.
struct Skipped {
    reasons: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
}

impl Skipped {
    fn read() -> Skipped {
        let text = std::fs::read_to_string(data_dir().join("skipped.txt")).unwrap_or_default();
        let mut reasons = BTreeMap::new();
        for l in text.lines() {
            if l.trim().is_empty() || l.starts_with('#') {
                continue;
            }
            let Some((id, reason)) = l.split_once('\t') else {
                panic!("skipped.txt line without a tab-separated reason: {l}");
            };
            assert!(
                !reason.trim().is_empty(),
                "skipped.txt line with an empty reason: {l}"
            );
            let previous = reasons.insert(id.trim().to_string(), reason.trim().to_string());
            assert!(previous.is_none(), "skipped.txt lists {id} twice");
        }
        Skipped {
            reasons,
            used: RefCell::default(),
        }
    }

    /// Whether `id` is listed; a listed id counts as used.
    fn contains_key(&self, id: &str) -> bool {
        let listed = self.reasons.contains_key(id);
        if listed {
            self.used.borrow_mut().insert(id.to_string());
        }
        listed
    }

    /// Listed ids that no case looked up (stale entries).
    fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.reasons
            .keys()
            .filter(|id| !used.contains(*id))
            .map(|id| format!("{id} is listed in skipped.txt but names no case"))
            .collect()
    }
}

#[derive(Default)]
struct Suite {
    files: usize,
    files_with_diagnostics: usize,
    /// Every expected position, listed ones included.
    expected: usize,
    matched: usize,
    /// Expected positions listed in `skipped.txt` (by position or by kind).
    listed: usize,
    /// Case ids that failed (no diagnostic for a file with expected errors, errors in `ok/`).
    failed: Vec<String>,
    /// Expected positions neither reported nor listed (each also a failure), for the summary.
    unmatched: Vec<String>,
}

impl Suite {
    fn percent(&self) -> f64 {
        if self.expected == 0 {
            100.0
        } else {
            self.matched as f64 * 100.0 / self.expected as f64
        }
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
    });
    files.sort();
    files
}

/// Compares one linted file with its expected errors.
fn score(
    suite: &mut Suite,
    case: &str,
    diagnostics: &[Diagnostic],
    expected: &[&Expected],
    skipped: &Skipped,
) {
    let positions: BTreeSet<(u32, u32)> = diagnostics
        .iter()
        .filter(|d| !is_about_version(d))
        .map(|d| (d.span.start.line, d.span.start.col))
        .collect();
    let version_positions: BTreeSet<(u32, u32)> = diagnostics
        .iter()
        .filter(|d| is_about_version(d))
        .map(|d| (d.span.start.line, d.span.start.col))
        .collect();
    for e in expected {
        let id = format!("{case}:{}:{}", e.line, e.col);
        // A finding on the action's version only answers an expected finding on its version,
        // not another finding that happens to be at the same `uses:` (a missing input).
        let hit = positions.contains(&(e.line, e.col))
            || (e.about_version && version_positions.contains(&(e.line, e.col)));
        suite.expected += 1;
        if hit {
            suite.matched += 1;
        }
        let listed_position = skipped.contains_key(&id);
        let listed_kind = skipped.contains_key(&format!("kind:{}", e.kind));
        if listed_position || listed_kind {
            suite.listed += 1;
            if hit && listed_position {
                suite
                    .failed
                    .push(format!("{id} is listed in skipped.txt but now matches"));
            }
        } else if !hit {
            suite.unmatched.push(format!("{id} [{}]", e.kind));
            suite.failed.push(format!(
                "{id} [{}] is expected but not reported (fix it or list it in skipped.txt)",
                e.kind
            ));
        }
    }
}

fn run_error_dir(name: &str, skipped: &Skipped) -> Suite {
    let dir = data_dir().join(name);
    let project = DirProject(dir.clone());
    let mut suite = Suite::default();
    for path in yaml_files(&dir) {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        let case = format!("{name}/{file}");
        let bytes = std::fs::read(&path).unwrap();
        let out = std::fs::read_to_string(path.with_extension("out")).unwrap_or_default();
        let expected = parse_out(&out);
        let only_script_tools = !expected.is_empty()
            && expected
                .iter()
                .all(|e| e.kind == "shellcheck" || e.kind == "pyflakes");
        if only_script_tools && !SCRIPT_TOOLS.with(|installed| *installed) {
            // Left out (reason printed once); the kind entries still name these cases.
            skipped.contains_key("kind:shellcheck");
            skipped.contains_key("kind:pyflakes");
            continue;
        }
        let diagnostics = lint(&bytes, &project);
        suite.files += 1;
        let any = !diagnostics.is_empty();
        if any {
            suite.files_with_diagnostics += 1;
        }
        let listed = skipped.contains_key(&case);
        if !expected.is_empty() && any == listed {
            suite.failed.push(if listed {
                format!("{case} is listed in skipped.txt but now gives diagnostics")
            } else {
                format!("{case} gives no diagnostic")
            });
        }
        let expected: Vec<&Expected> = expected.iter().collect();
        score(&mut suite, &case, &diagnostics, &expected, skipped);
    }
    suite
}

fn run_ok(skipped: &Skipped) -> Suite {
    let dir = data_dir().join("ok");
    let project = DirProject(dir.clone());
    let mut suite = Suite::default();
    for path in yaml_files(&dir) {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        let case = format!("ok/{file}");
        let diagnostics = lint(&std::fs::read(&path).unwrap(), &project);
        let errors: Vec<String> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| {
                format!(
                    "{}:{}: {} [{}]",
                    d.span.start.line, d.span.start.col, d.message, d.code
                )
            })
            .collect();
        suite.files += 1;
        if !errors.is_empty() {
            suite.files_with_diagnostics += 1;
        }
        match (errors.is_empty(), skipped.contains_key(&case)) {
            (false, false) => suite
                .failed
                .push(format!("{case} gives errors: {}", errors.join("; "))),
            (true, true) => suite.failed.push(format!(
                "{case} is listed in skipped.txt but gives no error"
            )),
            _ => {}
        }
    }
    suite
}

fn run_projects(skipped: &Skipped) -> Suite {
    let dir = data_dir().join("projects");
    let mut suite = Suite::default();
    let mut projects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    projects.sort();
    for root in projects {
        let name = root
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        let case = format!("projects/{name}");
        let out = std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap_or_default();
        let expected = parse_out(&out);
        let project = DirProject(root.clone());
        let mut any = false;
        for path in yaml_files(&root.join("workflows")) {
            let file = format!(
                "workflows/{}",
                path.file_name()
                    .and_then(|f| f.to_str())
                    .unwrap_or_default()
            );
            let diagnostics = lint(&std::fs::read(&path).unwrap(), &project);
            any |= !diagnostics.is_empty();
            let mine: Vec<&Expected> = expected
                .iter()
                .filter(|e| e.file.trim_start_matches('/') == file)
                .collect();
            score(
                &mut suite,
                &format!("{case}/{file}"),
                &diagnostics,
                &mine,
                skipped,
            );
            if expected.is_empty()
                && diagnostics.iter().any(Diagnostic::is_error)
                && !skipped.contains_key(&case)
            {
                let errors: Vec<String> = diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| {
                        format!(
                            "{}:{}: {} [{}]",
                            d.span.start.line, d.span.start.col, d.message, d.code
                        )
                    })
                    .collect();
                suite.failed.push(format!(
                    "{case}/{file} expects no error but gives: {}",
                    errors.join("; ")
                ));
            }
        }
        suite.files += 1;
        if any {
            suite.files_with_diagnostics += 1;
        }
        let listed = skipped.contains_key(&case);
        if !expected.is_empty() && any == listed {
            suite.failed.push(if listed {
                format!("{case} is listed in skipped.txt but now gives diagnostics")
            } else {
                format!("{case} gives no diagnostic")
            });
        }
    }
    suite
}

fn run_realworld(skipped: &Skipped) -> Suite {
    let file = std::fs::File::open(data_dir().join("realworld/dataset.zip")).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut workflows: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry
            .name()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        if !entry.is_file() || !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        workflows.push((name, bytes));
    }
    // Lint on every core: the corpus is the slow part of the suite in debug builds.
    let n_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = workflows.len().div_ceil(n_threads).max(1);
    let results: Vec<(String, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = workflows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(name, bytes)| {
                            let errors = lint_without_scripts(bytes, &Empty)
                                .iter()
                                .filter(|d| d.is_error() && !is_retired_since_collected(d))
                                .map(|d| {
                                    format!(
                                        "{}:{}: {} [{}]",
                                        d.span.start.line, d.span.start.col, d.message, d.code
                                    )
                                })
                                .collect();
                            (name.clone(), errors)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut suite = Suite::default();
    for (name, errors) in results {
        let case = format!("realworld/{name}");
        suite.files += 1;
        if !errors.is_empty() {
            suite.files_with_diagnostics += 1;
        }
        match (errors.is_empty(), skipped.contains_key(&case)) {
            (false, false) => suite
                .failed
                .push(format!("{case} gives errors: {}", errors.join("; "))),
            (true, true) => suite.failed.push(format!(
                "{case} is listed in skipped.txt but gives no error"
            )),
            _ => {}
        }
    }
    suite
}

#[test]
fn actionlint_conformance() {
    let skipped = Skipped::read();
    let err = run_error_dir("err", &skipped);
    let examples = run_error_dir("examples", &skipped);
    let projects = run_projects(&skipped);
    let ok = run_ok(&skipped);
    let realworld = run_realworld(&skipped);

    let expected = err.expected + examples.expected + projects.expected;
    let matched = err.matched + examples.matched + projects.matched;
    let listed = err.listed + examples.listed + projects.listed;
    let total_percent = matched as f64 * 100.0 / expected.max(1) as f64;

    let mut summary = String::new();
    writeln!(
        summary,
        "# actionlint conformance (written by crates/gantry-workflow/tests/actionlint.rs)"
    )
    .unwrap();
    writeln!(
        summary,
        "# suite\tfiles\tfiles with diagnostics\texpected positions\tmatched\tlisted in skipped.txt\tpercent matched"
    )
    .unwrap();
    for (name, suite) in [
        ("err", &err),
        ("examples", &examples),
        ("projects", &projects),
    ] {
        writeln!(
            summary,
            "{name}\t{}\t{}\t{}\t{}\t{}\t{:.1}%",
            suite.files,
            suite.files_with_diagnostics,
            suite.expected,
            suite.matched,
            suite.listed,
            suite.percent()
        )
        .unwrap();
    }
    writeln!(
        summary,
        "total\t\t\t{expected}\t{matched}\t{listed}\t{total_percent:.1}%"
    )
    .unwrap();
    writeln!(
        summary,
        "ok\t{}\t{} with errors",
        ok.files, ok.files_with_diagnostics
    )
    .unwrap();
    writeln!(
        summary,
        "realworld\t{}\t{} with errors",
        realworld.files, realworld.files_with_diagnostics
    )
    .unwrap();
    writeln!(
        summary,
        "\n# expected positions neither reported nor listed in skipped.txt (each fails the test)"
    )
    .unwrap();
    for u in err
        .unmatched
        .iter()
        .chain(&examples.unmatched)
        .chain(&projects.unmatched)
    {
        writeln!(summary, "{u}").unwrap();
    }
    std::fs::write(data_dir().join("summary.txt"), &summary).unwrap();

    let unused = skipped.unused();
    let failed: Vec<&String> = err
        .failed
        .iter()
        .chain(&examples.failed)
        .chain(&projects.failed)
        .chain(&ok.failed)
        .chain(&realworld.failed)
        .chain(&unused)
        .collect();
    assert!(
        failed.is_empty(),
        "{} failing cases:\n{}",
        failed.len(),
        failed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Truncated files (cut at every quarter) must not panic the loader or the checks.
#[test]
fn truncated_workflows_do_not_panic() {
    for dir in ["ok", "err", "examples"] {
        let root = data_dir().join(dir);
        let project = DirProject(root.clone());
        for path in yaml_files(&root) {
            let text = std::fs::read_to_string(&path).unwrap();
            for quarter in 1..4 {
                // Byte cuts may split a character: invalid UTF-8 must not panic either.
                let cut = text.len() * quarter / 4;
                lint(&text.as_bytes()[..cut], &project);
            }
        }
    }
}
