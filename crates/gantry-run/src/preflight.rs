//! Container preflight: the checks of a workflow's `container:` and `services:` that need the
//! Docker layer's parsers (`options:` as `docker create` reads them, `ports:` mappings), run by
//! `workflows::load_and_check` on every workflow, so by `gantry lint` and before any run starts.
//!
//! Invariant: only values fully known before the run (no `${{ }}`) are checked here, and each
//! check uses the same parser the executor uses when the job starts, so a workflow that passes
//! preflight cannot fail at job start on the same text; values with expressions are checked when
//! the job starts. Every diagnostic points at the offending word when it can be found, else at
//! the whole value. Tests: the `check` cases below, and the exit codes of `gantry lint` and
//! `gantry run` in `crates/gantry/tests/cli.rs` and `run.rs`.

use gantry_docker::{parse_options, OptionsError, PortSpec};
use gantry_workflow::model::{Container, TStr};
use gantry_workflow::srcmap::scalar_pos;
use gantry_workflow::{Diagnostic, Span, Workflow};

/// Diagnostics for every job's job container and service containers.
pub fn check(workflow: &Workflow) -> Vec<Diagnostic> {
    let source: &str = &workflow.source;
    let mut out = Vec::new();
    for job in workflow.jobs.values() {
        // (host ip, host port, protocol) → where it was published first.
        let mut published: Vec<(PortSpec, String)> = Vec::new();
        if let Some(container) = &job.container {
            check_container(source, container, "container", &mut published, &mut out);
        }
        if let Some(services) = &job.services {
            for (key, service) in &services.entries {
                let what = format!("services.{key}");
                check_container(source, &service.container, &what, &mut published, &mut out);
            }
        }
    }
    out
}

fn check_container(
    source: &str,
    container: &Container,
    what: &str,
    published: &mut Vec<(PortSpec, String)>,
    out: &mut Vec<Diagnostic>,
) {
    // Port specifications with where they are written: `ports:` entries, then `-p` options.
    let mut ports: Vec<(&str, Span, &str)> = Vec::new();
    if let Some(list) = &container.ports {
        ports.extend(
            list.value
                .iter()
                .filter(|p| p.is_literal())
                .map(|p| (p.raw.as_str(), p.span, "ports")),
        );
    }
    let mut published_by_options = Vec::new();
    if let Some(options) = container.options.as_ref().filter(|o| o.is_literal()) {
        match parse_options(&options.raw) {
            Ok(parsed) => {
                for publish in parsed.publish {
                    let span = word_span(source, options, Some(publish.clone()));
                    published_by_options.push((publish, span));
                }
            }
            Err(err) => {
                let span = word_span(source, options, offending_word(&err));
                out.push(Diagnostic::error(
                    "container-options",
                    span,
                    format!("{what}.options: {err}"),
                ));
            }
        }
    }
    ports.extend(
        published_by_options
            .iter()
            .map(|(p, s)| (p.as_str(), *s, "options")),
    );
    for (text, span, field) in ports {
        let spec = match PortSpec::parse(text) {
            Ok(spec) => spec,
            Err(err) => {
                out.push(Diagnostic::error(
                    "container-ports",
                    span,
                    format!("{what}.{field}: {err}"),
                ));
                continue;
            }
        };
        let Some(host_port) = spec.host_port else {
            continue; // any free port: cannot clash
        };
        let clash = published.iter().find(|(other, _)| {
            other.host_port == Some(host_port)
                && other.protocol == spec.protocol
                && ip_overlaps(other.host_ip.as_deref(), spec.host_ip.as_deref())
        });
        if let Some((_, first)) = clash {
            out.push(Diagnostic::error(
                "container-ports",
                span,
                format!(
                    "{what}.{field}: host port {host_port}/{} is already published by {first} in \
                     this job; the engine would refuse the second container (publish another \
                     host port, or only the container port to get a free one)",
                    spec.protocol
                ),
            ));
        } else {
            published.push((spec, format!("{what}.{field}")));
        }
    }
}

/// Two host addresses can conflict unless both are given and differ (no address = all of them).
fn ip_overlaps(a: Option<&str>, b: Option<&str>) -> bool {
    let any = |ip: Option<&str>| matches!(ip, None | Some("" | "0.0.0.0" | "::"));
    any(a) || any(b) || a == b
}

/// The text of the options string the error is about, when there is one.
fn offending_word(err: &OptionsError) -> Option<String> {
    match err {
        OptionsError::Unknown { option }
        | OptionsError::Unsupported { option, .. }
        | OptionsError::MissingValue { option }
        | OptionsError::UnexpectedValue { option, .. } => Some(option.clone()),
        OptionsError::InvalidValue { option, value, .. } => {
            Some(if value.is_empty() { option } else { value }.clone())
        }
        OptionsError::StrayArgument { word } => Some(word.clone()),
        OptionsError::UnterminatedQuote { quote } => Some(quote.to_string()),
    }
}

/// The file range of `word` inside the scalar `value`, or the whole scalar when it is not found
/// verbatim (quoting inside the options string can change how a word is written).
fn word_span(source: &str, value: &TStr, word: Option<String>) -> Span {
    let Some(word) = word.filter(|w| !w.is_empty()) else {
        return value.span;
    };
    let Some(offset) = find_word(&value.raw, &word) else {
        return value.span;
    };
    let start = scalar_pos(source, value.span, value.style, &value.raw, offset);
    let end = scalar_pos(
        source,
        value.span,
        value.style,
        &value.raw,
        offset + word.len(),
    );
    Span::new(start, end)
}

/// Byte offset of `word` in `text`, preferring an occurrence that starts a word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut first = None;
    for (offset, _) in text.match_indices(word) {
        first.get_or_insert(offset);
        let before = text[..offset].chars().next_back();
        if before.is_none_or(|c| c.is_whitespace() || c == '=' || c == '"' || c == '\'') {
            return Some(offset);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_workflow::load_workflow;

    /// Each diagnostic as `line:col-line:col code: message`.
    fn check_yaml(yaml: &str) -> Vec<String> {
        let (workflow, diags) = load_workflow(yaml.as_bytes());
        assert!(
            diags.iter().all(|d| !d.is_error()),
            "the test input itself has errors: {diags:?}"
        );
        check(&workflow)
            .iter()
            .map(|d| {
                format!(
                    "{}:{}-{}:{} {}: {}",
                    d.span.start.line,
                    d.span.start.col,
                    d.span.end.line,
                    d.span.end.col,
                    d.code,
                    d.message
                )
            })
            .collect()
    }

    fn job(body: &str) -> String {
        format!("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n{body}    steps:\n      - run: 'true'\n")
    }

    #[test]
    fn valid_containers_and_services_pass() {
        let yaml = job(concat!(
            "    container:\n",
            "      image: debian\n",
            "      options: --cpus 1 --memory 512m --user 1000 --hostname box\n",
            "      ports: ['8080:80', 9000]\n",
            "    services:\n",
            "      pg:\n",
            "        image: postgres\n",
            "        ports: ['5432:5432']\n",
            "        options: >-\n",
            "          --health-cmd \"pg_isready -U postgres\"\n",
            "          --health-interval=10s\n",
            "      redis:\n",
            "        image: redis\n",
            "        ports: ['6379:6379', '5432']\n",
        ));
        assert_eq!(check_yaml(&yaml), Vec::<String>::new());
    }

    #[test]
    fn expressions_are_left_to_job_start() {
        let yaml = job(concat!(
            "    services:\n",
            "      pg:\n",
            "        image: postgres\n",
            "        ports: ['${{ matrix.port }}:5432', '${{ matrix.port }}:5432']\n",
            "        options: ${{ matrix.options }}\n",
        ));
        assert_eq!(check_yaml(&yaml), Vec::<String>::new());
    }

    #[test]
    fn bad_options_point_at_the_word() {
        let check_one = |options: &str, expected: &str| {
            let yaml = job(&format!(
                "    container:\n      image: debian\n      options: {options}\n"
            ));
            assert_eq!(check_yaml(&yaml), vec![expected.to_string()], "{options}");
        };
        check_one(
            "--cpus 1 --bogus-flag",
            "7:25-7:37 container-options: container.options: unknown container option \"--bogus-flag\"",
        );
        check_one(
            "--memory",
            "7:16-7:24 container-options: container.options: container option \"--memory\" needs a value",
        );
        check_one(
            "--cpus lots",
            "7:23-7:27 container-options: container.options: invalid value \"lots\" for container option \"--cpus\": expected a number of CPUs such as 1.5",
        );
        check_one(
            "debian",
            "7:16-7:22 container-options: container.options: unexpected argument \"debian\" in container options (options start with '-')",
        );
    }

    #[test]
    fn bad_options_in_a_folded_block_point_at_their_line() {
        let yaml = job(concat!(
            "    services:\n",
            "      redis:\n",
            "        image: redis\n",
            "        options: >-\n",
            "          --health-cmd \"redis-cli ping\"\n",
            "          --health-intervall 10s\n",
        ));
        assert_eq!(
            check_yaml(&yaml),
            ["10:11-10:29 container-options: services.redis.options: unknown container option \"--health-intervall\""]
        );
    }

    #[test]
    fn bad_ports_are_reported_each() {
        let yaml = job(concat!(
            "    services:\n",
            "      pg:\n",
            "        image: postgres\n",
            "        ports: ['5432:abc', '70000', '53/icmp', '5432']\n",
        ));
        assert_eq!(
            check_yaml(&yaml),
            [
                "8:17-8:27 container-ports: services.pg.ports: invalid port \"abc\" in \"5432:abc\"",
                "8:29-8:36 container-ports: services.pg.ports: invalid port \"70000\" in \"70000\"",
                "8:38-8:47 container-ports: services.pg.ports: invalid protocol \"icmp\" in \"53/icmp\" (expected tcp, udp or sctp)",
            ]
        );
    }

    #[test]
    fn a_host_port_published_twice_in_a_job_is_an_error() {
        let yaml = job(concat!(
            "    container:\n",
            "      image: debian\n",
            "      ports: ['8080:80']\n",
            "    services:\n",
            "      a:\n",
            "        image: postgres\n",
            "        ports: ['5432:5432', '127.0.0.1:8080:8080', '8080:8080/udp']\n",
            "      b:\n",
            "        image: postgres\n",
            "        ports:\n",
            "          - 5432:5432\n",
            "          - 127.0.0.2:5433:5432\n",
            "          - 127.0.0.3:5433:5432\n",
            "        options: --publish 8080:8080/udp -p 9000:9000\n",
        ));
        assert_eq!(
            check_yaml(&yaml),
            [
                "11:30-11:51 container-ports: services.a.ports: host port 8080/tcp is already published by container.ports in this job; the engine would refuse the second container (publish another host port, or only the container port to get a free one)",
                "15:13-15:22 container-ports: services.b.ports: host port 5432/tcp is already published by services.a.ports in this job; the engine would refuse the second container (publish another host port, or only the container port to get a free one)",
                "18:28-18:41 container-ports: services.b.options: host port 8080/udp is already published by services.a.ports in this job; the engine would refuse the second container (publish another host port, or only the container port to get a free one)",
            ]
        );
    }

    #[test]
    fn the_same_fixed_port_in_two_jobs_is_not_a_preflight_error() {
        // Jobs that publish the same host port wait for each other at run time.
        let yaml = concat!(
            "on: push\njobs:\n",
            "  a:\n    runs-on: ubuntu-latest\n    services:\n      pg:\n        image: postgres\n        ports: ['5432:5432']\n    steps:\n      - run: 'true'\n",
            "  b:\n    runs-on: ubuntu-latest\n    services:\n      pg:\n        image: postgres\n        ports: ['5432:5432']\n    steps:\n      - run: 'true'\n",
        );
        assert_eq!(check_yaml(yaml), Vec::<String>::new());
    }
}
