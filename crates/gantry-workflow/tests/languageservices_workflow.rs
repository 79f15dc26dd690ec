//! Conformance with actions/languageservices' workflow-parser cases
//! (`test_data/languageservices/workflow-parser/testdata/reader/*.yml`).
//!
//! A case expecting `errors` passes when the loader reports at least one error; how many of the
//! expected (Line, Col) positions we hit is printed as a figure. A case expecting `jobs` passes
//! when the loader reports no error and the job ids, `needs`, `if` conditions (with GitHub's
//! `success() && (...)` rule), step counts, explicit step ids and the literal values of
//! `runs-on`, `timeout-minutes`, `continue-on-error`, job `name`/`env`/`outputs`/`container`/
//! `services`/`environment`/`concurrency` and step `run`/`uses`/`name`/`env` match. Cases that
//! fail are listed with a reason in `workflow-parser/skipped.txt`; the test fails when a listed
//! case passes or an unlisted case fails. `GANTRY_BLESS=1` rewrites the list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gantry_workflow::check::{check_workflow, NoProject};
use gantry_workflow::load::load_workflow_with;
use gantry_workflow::model::{
    Condition, ConditionKind, Container, ExprOr, Job, Spanned, TStr, Vars,
};
use gantry_workflow::yaml::Limits;
use gantry_workflow::Diagnostic;
use serde_json::Value as Json;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test_data/languageservices/workflow-parser")
}

/// Splits a case file on lines that are exactly `---`. The line break before a separator belongs
/// to it (the expected outputs show a final `run: |` line without its newline).
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end_matches(['\n', '\r']) == "---" {
            if let Some(last) = docs.last_mut() {
                let trimmed = last.strip_suffix('\n').unwrap_or(last);
                let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
                last.truncate(trimmed.len());
            }
            docs.push(String::new());
        } else if let Some(last) = docs.last_mut() {
            last.push_str(line);
        }
    }
    docs
}

/// `(Line: L, Col: C)` of an expected message, when it has one.
fn line_col(message: &str) -> Option<(u32, u32)> {
    let rest = &message[message.find("(Line: ")? + 7..];
    let (line, rest) = rest.split_once(", Col: ")?;
    let col = rest.split_once(')')?.0;
    Some((line.parse().ok()?, col.parse().ok()?))
}

fn has_status_function(expr: &gantry_expr::Expr) -> bool {
    let mut found = false;
    expr.walk(&mut |e| {
        if let gantry_expr::ExprKind::Call { name, .. } = &e.kind {
            let name = name.to_ascii_lowercase();
            if matches!(
                name.as_str(),
                "success" | "failure" | "always" | "cancelled"
            ) {
                found = true;
            }
        }
    });
    found
}

/// GitHub turns `text ${{ a }} more` into `format('text {0} more', a)`.
fn as_format_call(cond: &Condition) -> String {
    let raw = &cond.text.raw;
    let mut pattern = String::new();
    let mut args = Vec::new();
    for part in cond
        .text
        .parsed()
        .map(|t| t.parts.as_slice())
        .unwrap_or_default()
    {
        match part {
            gantry_expr::TemplatePart::Literal(text) => {
                pattern.push_str(
                    &text
                        .replace('\'', "''")
                        .replace('{', "{{")
                        .replace('}', "}}"),
                );
            }
            gantry_expr::TemplatePart::Expr { span, .. } => {
                pattern.push_str(&format!("{{{}}}", args.len()));
                let inner = raw
                    .get(span.start as usize + 3..(span.end as usize).saturating_sub(2))
                    .unwrap_or("");
                args.push(inner.trim().to_owned());
            }
        }
    }
    format!("format('{pattern}', {})", args.join(", "))
}

/// The `if` GitHub stores after filling defaults, from our model.
fn normalized_if(cond: Option<&Condition>) -> String {
    let Some(cond) = cond else {
        return "success()".to_owned();
    };
    let (text, status) = match &cond.kind {
        ConditionKind::Expression { source, expr } => (
            cond.text
                .raw
                .get(source.clone())
                .unwrap_or("")
                .trim()
                .to_owned(),
            expr.as_ref().is_some_and(has_status_function),
        ),
        ConditionKind::Template => (as_format_call(cond), false),
    };
    if text.is_empty() {
        "success()".to_owned()
    } else if status {
        text
    } else {
        format!("success() && ({text})")
    }
}

/// A string token: plain, or `{"type":0,"lit":..., "line":.., "col":..}` with `include-source`.
fn literal(token: &Json) -> (Option<&str>, Option<(u64, u64)>) {
    match token {
        Json::String(s) => (Some(s.as_str()), None),
        Json::Object(_) => {
            let pos = token["line"].as_u64().zip(token["col"].as_u64());
            (token["lit"].as_str(), pos)
        }
        _ => (None, None),
    }
}

fn compare_literal(what: &str, ours: Option<&TStr>, want: &str) -> Result<(), String> {
    match ours {
        Some(t) if !t.is_literal() || t.raw == want => Ok(()),
        _ => Err(format!(
            "{what}: {:?} != expected {want:?}",
            ours.map(|t| &t.raw)
        )),
    }
}

fn compare_bool(
    what: &str,
    ours: &Option<Spanned<ExprOr<bool>>>,
    want: bool,
) -> Result<(), String> {
    match ours.as_ref().map(|s| &s.value) {
        Some(ExprOr::Value(b)) if *b == want => Ok(()),
        _ => Err(format!("{what}: {ours:?} != expected {want}")),
    }
}

/// `runs-on` (string or list of strings), `timeout-minutes` (number or "Infinity") and
/// `continue-on-error` (bool), when the expected value is a literal.
fn compare_scalars(id: &str, job: &Job, expected: &Json) -> Result<(), String> {
    let labels: Vec<&str> = job
        .runs_on
        .as_ref()
        .map(|r| r.labels.iter().map(|l| l.raw.as_str()).collect())
        .unwrap_or_default();
    match &expected["runs-on"] {
        Json::String(want) if labels != [want.as_str()] => {
            return Err(format!("job {id}: runs-on {labels:?} != expected {want:?}"));
        }
        Json::Array(items) if items.iter().all(Json::is_string) => {
            let want: Vec<&str> = items.iter().filter_map(Json::as_str).collect();
            if labels != want {
                return Err(format!("job {id}: runs-on {labels:?} != expected {want:?}"));
            }
        }
        _ => {}
    }
    let want_timeout = match &expected["timeout-minutes"] {
        Json::Number(n) => n.as_f64(),
        Json::String(s) if s == "Infinity" => Some(f64::INFINITY),
        Json::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    };
    if let Some(want) = want_timeout {
        let ours = job.timeout_minutes.as_ref().map(|t| &t.value);
        if !matches!(ours, Some(ExprOr::Value(v)) if *v == want) {
            return Err(format!(
                "job {id}: timeout-minutes {ours:?} != expected {want}"
            ));
        }
    }
    if let Some(want) = expected["continue-on-error"].as_bool() {
        compare_bool(
            &format!("job {id}: continue-on-error"),
            &job.continue_on_error,
            want,
        )?;
    }
    compare_sections(id, job, expected)
}

/// The value under `key` of a serialized mapping token (`{"type":2,"map":[{Key,Value}]}`).
fn map_get<'a>(token: &'a Json, key: &str) -> Option<&'a Json> {
    token["map"]
        .as_array()?
        .iter()
        .find(|pair| literal(&pair["Key"]).0 == Some(key))
        .map(|pair| &pair["Value"])
}

/// Every literal string value of a serialized mapping token matches `vars`.
fn compare_vars(what: &str, vars: Option<&Vars>, token: &Json) -> Result<(), String> {
    for pair in token["map"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (Some(key), Some(want)) = (literal(&pair["Key"]).0, pair["Value"].as_str()) else {
            continue;
        };
        let ours = vars.and_then(|v| v.entries.get(key)).map(|v| &v.value);
        compare_literal(&format!("{what} {key}"), ours, want)?;
    }
    Ok(())
}

fn compare_container(what: &str, ours: Option<&Container>, token: &Json) -> Result<(), String> {
    let image = ours.and_then(|c| c.image.as_ref());
    match token {
        Json::String(want) => compare_literal(&format!("{what} image"), image, want),
        Json::Object(_) => {
            if let Some(want) = map_get(token, "image").and_then(Json::as_str) {
                compare_literal(&format!("{what} image"), image, want)?;
            }
            if let Some(env) = map_get(token, "env") {
                compare_vars(
                    &format!("{what} env"),
                    ours.and_then(|c| c.env.as_ref()),
                    env,
                )?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Job `name`, `env`, `outputs`, `container`, `services`, `environment` and `concurrency`,
/// where the expected values are literals.
fn compare_sections(id: &str, job: &Job, expected: &Json) -> Result<(), String> {
    if let (Some(want), Some(name)) = (literal(&expected["name"]).0, job.name.as_ref()) {
        compare_literal(&format!("job {id}: name"), Some(name), want)?;
    }
    compare_vars(
        &format!("job {id}: env"),
        job.env.as_ref(),
        &expected["env"],
    )?;
    compare_vars(
        &format!("job {id}: outputs"),
        job.outputs.as_ref(),
        &expected["outputs"],
    )?;
    if !expected["container"].is_null() {
        compare_container(
            &format!("job {id}: container"),
            job.container.as_ref(),
            &expected["container"],
        )?;
    }
    for pair in expected["services"]["map"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(service) = literal(&pair["Key"]).0 else {
            continue;
        };
        let ours = job
            .services
            .as_ref()
            .and_then(|s| s.entries.get(service))
            .map(|s| &s.container);
        compare_container(
            &format!("job {id}: service {service}"),
            ours,
            &pair["Value"],
        )?;
    }
    let environment = job.environment.as_ref();
    match &expected["environment"] {
        Json::String(want) => {
            compare_literal(
                &format!("job {id}: environment"),
                environment.and_then(|e| e.name.as_ref()),
                want,
            )?;
        }
        token @ Json::Object(_) => {
            for (key, ours) in [
                ("name", environment.and_then(|e| e.name.as_ref())),
                ("url", environment.and_then(|e| e.url.as_ref())),
            ] {
                if let Some(want) = map_get(token, key).and_then(Json::as_str) {
                    compare_literal(&format!("job {id}: environment {key}"), ours, want)?;
                }
            }
        }
        _ => {}
    }
    let concurrency = job.concurrency.as_ref();
    match &expected["concurrency"] {
        Json::String(want) => {
            compare_literal(
                &format!("job {id}: concurrency"),
                concurrency.and_then(|c| c.group.as_ref()),
                want,
            )?;
        }
        token @ Json::Object(_) => {
            if let Some(want) = map_get(token, "group").and_then(Json::as_str) {
                compare_literal(
                    &format!("job {id}: concurrency group"),
                    concurrency.and_then(|c| c.group.as_ref()),
                    want,
                )?;
            }
            if let Some(want) = map_get(token, "cancel-in-progress").and_then(Json::as_bool) {
                let ours = concurrency
                    .map(|c| c.cancel_in_progress.clone())
                    .unwrap_or_default();
                compare_bool(&format!("job {id}: cancel-in-progress"), &ours, want)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn compare_job(job: &Job, expected: &Json) -> Result<(), String> {
    let (id, id_pos) = literal(&expected["id"]);
    let id = id.unwrap_or_default();
    if job.id.value != id {
        return Err(format!("job id {} != expected {id}", job.id.value));
    }
    if let Some((line, col)) = id_pos {
        let ours = (
            u64::from(job.id.span.start.line),
            u64::from(job.id.span.start.col),
        );
        if ours != (line, col) {
            return Err(format!(
                "job {id}: id at {ours:?} != expected {:?}",
                (line, col)
            ));
        }
    }
    let needs: Vec<String> = job
        .needs
        .as_ref()
        .map(|n| n.items.iter().map(|s| s.value.clone()).collect())
        .unwrap_or_default();
    let expected_needs: Vec<String> = expected["needs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| literal(v).0.map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if needs != expected_needs {
        return Err(format!(
            "job {id}: needs {needs:?} != expected {expected_needs:?}"
        ));
    }
    if let Some(expected_if) = expected["if"]["expr"].as_str() {
        let ours = normalized_if(job.if_.as_ref());
        if ours != expected_if {
            return Err(format!("job {id}: if `{ours}` != expected `{expected_if}`"));
        }
    }
    compare_scalars(id, job, expected)?;
    if let Some(expected_steps) = expected["steps"].as_array() {
        let steps = job.step_list();
        if steps.len() != expected_steps.len() {
            return Err(format!(
                "job {id}: {} steps != expected {}",
                steps.len(),
                expected_steps.len()
            ));
        }
        for (step, exp) in steps.iter().zip(expected_steps) {
            let exp_id = literal(&exp["id"]).0.unwrap_or_default();
            if !exp_id.starts_with("__") {
                let ours = step.id.as_ref().map_or("", |s| s.value.as_str());
                if ours != exp_id {
                    return Err(format!("job {id}: step id `{ours}` != expected `{exp_id}`"));
                }
            }
            if let Some(expected_if) = exp["if"]["expr"].as_str() {
                let ours = normalized_if(step.if_.as_ref());
                if ours != expected_if {
                    return Err(format!(
                        "job {id}: step if `{ours}` != expected `{expected_if}`"
                    ));
                }
            }
            for (key, ours) in [
                ("run", &step.run),
                ("uses", &step.uses),
                ("name", &step.name),
            ] {
                // Names GitHub generates (for `wait:` steps, ...) are not part of the model.
                if ours.is_none() && key == "name" {
                    continue;
                }
                if let Some(want) = exp[key].as_str() {
                    compare_literal(&format!("job {id}: step {key}"), ours.as_ref(), want)?;
                }
            }
            if let Some(want) = exp["continue-on-error"].as_bool() {
                compare_bool(
                    &format!("job {id}: step continue-on-error"),
                    &step.continue_on_error,
                    want,
                )?;
            }
            // Literal env values, after GitHub's scalar-to-string coercion.
            for pair in exp["env"]["map"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let (Some(key), Some(value)) = (literal(&pair["Key"]).0, pair["Value"].as_str())
                else {
                    continue;
                };
                let ours = step.env.as_ref().and_then(|e| e.entries.get(key));
                let ours = ours.map(|v| v.value.raw.as_str());
                if ours != Some(value) {
                    return Err(format!(
                        "job {id}: env {key} = {ours:?} != expected {value:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

struct Outcome {
    result: Result<(), String>,
    /// With semantic checks added: does the case still meet its expectation (an error for
    /// error cases, none for jobs cases)? Informational only.
    with_checks_ok: bool,
    expected_positions: usize,
    matched_positions: usize,
}

fn run_case(path: &Path) -> Outcome {
    let text = std::fs::read_to_string(path).expect("case file is readable");
    let docs = documents(&text);
    assert!(
        docs.len() >= 3,
        "{}: fewer than 3 documents",
        path.display()
    );
    let workflow_text = &docs[1];
    let expected: Json =
        serde_json::from_str(docs[docs.len() - 1].trim()).expect("expected JSON parses");
    let mut limits = Limits::default();
    for line in docs[0].lines() {
        let number = |prefix: &str| {
            line.strip_prefix(prefix)
                .and_then(|v| v.trim().parse::<usize>().ok())
        };
        if let Some(n) = number("max-depth:") {
            limits.max_depth = n;
        }
        if let Some(n) = number("max-file-size:") {
            limits.max_file_size = n;
        }
    }
    let (workflow, diags) = load_workflow_with(workflow_text.as_bytes(), &limits);
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    let checked = check_workflow(&workflow, &NoProject);
    let any_error = !errors.is_empty() || checked.iter().any(|d| d.is_error());
    let mut outcome = Outcome {
        result: Ok(()),
        with_checks_ok: any_error == expected["errors"].is_array(),
        expected_positions: 0,
        matched_positions: 0,
    };
    if let Some(expected_errors) = expected["errors"].as_array() {
        for e in expected_errors {
            if let Some((line, col)) = e["Message"].as_str().and_then(line_col) {
                outcome.expected_positions += 1;
                if errors
                    .iter()
                    .any(|d| d.span.start.line == line && d.span.start.col == col)
                {
                    outcome.matched_positions += 1;
                }
            }
        }
        if errors.is_empty() {
            let first = expected_errors
                .first()
                .and_then(|e| e["Message"].as_str())
                .unwrap_or("");
            let first = first.split_once("): ").map_or(first, |(_, m)| m);
            outcome.result = Err(format!("no error reported; expected: {first}"));
        }
        return outcome;
    }
    if let Some(first) = errors.first() {
        outcome.result = Err(format!(
            "unexpected error at {}:{}: {}",
            first.span.start.line, first.span.start.col, first.message
        ));
        return outcome;
    }
    let expected_jobs = expected["jobs"].as_array().cloned().unwrap_or_default();
    if workflow.jobs.len() != expected_jobs.len() {
        outcome.result = Err(format!(
            "{} jobs != expected {}",
            workflow.jobs.len(),
            expected_jobs.len()
        ));
        return outcome;
    }
    for (job, exp) in workflow.jobs.values().zip(&expected_jobs) {
        if let Err(e) = compare_job(job, exp) {
            outcome.result = Err(e);
            return outcome;
        }
    }
    outcome
}

fn read_skipped(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('\t') {
            Some((case, reason)) => (case.to_owned(), reason.to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

#[test]
fn languageservices_reader_cases() {
    let dir = data_dir().join("testdata/reader");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reader dir exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 195, "number of cases");
    let skipped_path = data_dir().join("skipped.txt");
    let skipped = read_skipped(&skipped_path);
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let (mut expected_positions, mut matched_positions) = (0, 0);
    let (mut error_cases, mut jobs_cases, mut passed) = (0, 0, 0);
    let mut with_checks_ok = 0;
    for path in &paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let outcome = run_case(path);
        expected_positions += outcome.expected_positions;
        with_checks_ok += usize::from(outcome.with_checks_ok);
        matched_positions += outcome.matched_positions;
        if outcome.expected_positions > 0 || name.starts_with("error") {
            error_cases += 1;
        } else {
            jobs_cases += 1;
        }
        match outcome.result {
            Ok(()) => passed += 1,
            Err(reason) => {
                failures.insert(name, reason);
            }
        }
    }
    println!(
        "languageservices reader: {passed}/{} passed ({error_cases} error cases, {jobs_cases} jobs cases); \
         expected error positions matched: {matched_positions}/{expected_positions}; \
         with semantic checks, cases meeting their error/no-error expectation: {with_checks_ok}/{}",
        paths.len(),
        paths.len()
    );
    if std::env::var_os("GANTRY_BLESS").is_some() {
        let mut out = String::new();
        for (case, reason) in &failures {
            let reason = skipped
                .get(case)
                .filter(|r| !r.is_empty())
                .unwrap_or(reason);
            out.push_str(&format!("{case}\t{reason}\n"));
        }
        std::fs::write(&skipped_path, out).expect("write skipped.txt");
        return;
    }
    let mut problems = Vec::new();
    for (case, reason) in &failures {
        if !skipped.contains_key(case) {
            problems.push(format!("unlisted failure {case}: {reason}"));
        }
    }
    for case in skipped.keys() {
        if !failures.contains_key(case) {
            problems.push(format!("listed in skipped.txt but passes now: {case}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
