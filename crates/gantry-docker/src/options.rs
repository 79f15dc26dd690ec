//! Parses GitHub's `container.options` / service `options` strings (the `docker create` flags a
//! workflow may pass) into typed [`ContainerOptions`].
//!
//! Invariant: parsing never panics on user input; a flag that is not understood is an
//! [`OptionsError::Unknown`] naming it, so the caller can point at the workflow position. Words are
//! split shell-like: whitespace (newlines included) separates, single quotes keep everything literal,
//! double quotes keep spaces and honour `\"` and `\\`, a backslash outside quotes escapes the next
//! character. (GitHub's runner splits with .NET's rules, where single quotes are literal; the common
//! forms `--health-cmd "pg_isready"` and `--health-cmd=pg_isready` mean the same under both.)
//! Tests: the data-driven `check` cases at the bottom of this file.

use std::time::Duration;

/// A `-e`/`--env` entry: `NAME=value`, or `NAME` alone (docker then takes the value from the
/// environment of the process that creates the container, or drops it when unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOption {
    pub name: String,
    pub value: Option<String>,
}

/// A `--ulimit name=soft[:hard]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Health check settings with `docker create --health-*` semantics: `cmd` runs with `/bin/sh -c`
/// (CMD-SHELL); a setting left `None` takes the engine's default (interval 30s, timeout 30s,
/// retries 3, start period 0s) or the image's own HEALTHCHECK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheck {
    pub cmd: Option<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
    /// `--no-healthcheck`: disable any HEALTHCHECK the image declares.
    pub disabled: bool,
}

impl HealthCheck {
    pub fn is_empty(&self) -> bool {
        *self == HealthCheck::default()
    }
}

/// Everything a workflow's `options:` string can say, typed. Repeated flags accumulate where docker's
/// do (`-e`, `-v`, `--add-host`, ...), otherwise the last one wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerOptions {
    pub cpus: Option<f64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub pids_limit: Option<i64>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub network_aliases: Vec<String>,
    pub health: HealthCheck,
    pub entrypoint: Option<String>,
    pub env: Vec<EnvOption>,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub privileged: bool,
    pub init: bool,
    pub read_only: bool,
    pub workdir: Option<String>,
    pub add_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub labels: Vec<(String, String)>,
    pub publish: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub sysctls: Vec<(String, String)>,
    pub devices: Vec<String>,
    pub group_add: Vec<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("unknown container option {option:?}")]
    Unknown { option: String },
    #[error("container option {option:?} is not supported: {reason}")]
    Unsupported {
        option: String,
        reason: &'static str,
    },
    #[error("container option {option:?} needs a value")]
    MissingValue { option: String },
    #[error("container option {option:?} takes no value (got {value:?})")]
    UnexpectedValue { option: String, value: String },
    #[error("invalid value {value:?} for container option {option:?}: {reason}")]
    InvalidValue {
        option: String,
        value: String,
        reason: String,
    },
    #[error("unexpected argument {word:?} in container options (options start with '-')")]
    StrayArgument { word: String },
    #[error("unterminated {quote} quote in container options")]
    UnterminatedQuote { quote: char },
}

/// Splits an options string into words with shell-like quoting (see the module comment).
pub fn split_words(text: &str) -> Result<Vec<String>, OptionsError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(OptionsError::UnterminatedQuote { quote: '\'' }),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(OptionsError::UnterminatedQuote { quote: '"' }),
                        },
                        Some(c) => word.push(c),
                        None => return Err(OptionsError::UnterminatedQuote { quote: '"' }),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    // A backslash-newline joins lines, as in a shell.
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => word.push('\\'),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// How a flag takes its argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arity {
    Flag,
    Value,
}

/// Canonical long name and arity of every understood flag; short forms map onto long ones.
fn lookup(name: &str) -> Option<(&'static str, Arity)> {
    use Arity::{Flag, Value};
    let found = match name {
        "--cpus" => ("--cpus", Value),
        "-c" | "--cpu-shares" => ("--cpu-shares", Value),
        "--cpuset-cpus" => ("--cpuset-cpus", Value),
        "-m" | "--memory" => ("--memory", Value),
        "--memory-reservation" => ("--memory-reservation", Value),
        "--memory-swap" => ("--memory-swap", Value),
        "--pids-limit" => ("--pids-limit", Value),
        "-u" | "--user" => ("--user", Value),
        "-h" | "--hostname" => ("--hostname", Value),
        "--network-alias" => ("--network-alias", Value),
        "--health-cmd" => ("--health-cmd", Value),
        "--health-interval" => ("--health-interval", Value),
        "--health-timeout" => ("--health-timeout", Value),
        "--health-retries" => ("--health-retries", Value),
        "--health-start-period" => ("--health-start-period", Value),
        "--no-healthcheck" => ("--no-healthcheck", Flag),
        "--entrypoint" => ("--entrypoint", Value),
        "-e" | "--env" => ("--env", Value),
        "-v" | "--volume" => ("--volume", Value),
        "--tmpfs" => ("--tmpfs", Value),
        "--privileged" => ("--privileged", Flag),
        "--init" => ("--init", Flag),
        "--read-only" => ("--read-only", Flag),
        "--rm" => ("--rm", Flag),
        "-w" | "--workdir" => ("--workdir", Value),
        "--add-host" => ("--add-host", Value),
        "--shm-size" => ("--shm-size", Value),
        "--ulimit" => ("--ulimit", Value),
        "--cap-add" => ("--cap-add", Value),
        "--cap-drop" => ("--cap-drop", Value),
        "--security-opt" => ("--security-opt", Value),
        "--dns" => ("--dns", Value),
        "--dns-search" => ("--dns-search", Value),
        "-l" | "--label" => ("--label", Value),
        "-p" | "--publish" => ("--publish", Value),
        "--stop-signal" => ("--stop-signal", Value),
        "--stop-timeout" => ("--stop-timeout", Value),
        "--sysctl" => ("--sysctl", Value),
        "--device" => ("--device", Value),
        "--group-add" => ("--group-add", Value),
        "--platform" => ("--platform", Value),
        "--network" | "--net" => ("--network", Value),
        "--name" => ("--name", Value),
        "-d" | "--detach" => ("--detach", Flag),
        "-i" | "--interactive" => ("--interactive", Flag),
        "-t" | "--tty" => ("--tty", Flag),
        _ => return None,
    };
    Some(found)
}

/// Parses an options string. An empty string gives the default options.
pub fn parse_options(text: &str) -> Result<ContainerOptions, OptionsError> {
    let words = split_words(text)?;
    let mut options = ContainerOptions::default();
    let mut index = 0;
    while index < words.len() {
        let word = &words[index];
        index += 1;
        let (name, inline) = split_flag(word)?;
        let Some((canonical, arity)) = lookup(&name) else {
            return Err(OptionsError::Unknown { option: name });
        };
        let value = match (arity, inline) {
            (Arity::Flag, None) => String::from("true"),
            (Arity::Flag, Some(value)) => value,
            (Arity::Value, Some(value)) => value,
            (Arity::Value, None) => match words.get(index) {
                Some(next) => {
                    index += 1;
                    next.clone()
                }
                None => return Err(OptionsError::MissingValue { option: name }),
            },
        };
        apply(&mut options, canonical, &name, value)?;
    }
    Ok(options)
}

/// `--name=value` -> ("--name", Some(value)); `-evalue` -> ("-e", Some("value")); `--name` -> ("--name", None).
fn split_flag(word: &str) -> Result<(String, Option<String>), OptionsError> {
    if let Some(rest) = word.strip_prefix("--") {
        if rest.is_empty() {
            return Err(OptionsError::StrayArgument {
                word: word.to_string(),
            });
        }
        return Ok(match word.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (word.to_string(), None),
        });
    }
    let mut chars = word.chars();
    match (chars.next(), chars.next()) {
        (Some('-'), Some(short)) => {
            let rest = chars.as_str();
            let name = format!("-{short}");
            if rest.is_empty() {
                Ok((name, None))
            } else {
                // `-e=X` is docker's `-e` with value `=X`? pflag strips one '=': follow it.
                let value = rest.strip_prefix('=').unwrap_or(rest);
                Ok((name, Some(value.to_string())))
            }
        }
        _ => Err(OptionsError::StrayArgument {
            word: word.to_string(),
        }),
    }
}

fn apply(
    options: &mut ContainerOptions,
    canonical: &'static str,
    given: &str,
    value: String,
) -> Result<(), OptionsError> {
    let invalid = |reason: &str| OptionsError::InvalidValue {
        option: given.to_string(),
        value: value.clone(),
        reason: reason.to_string(),
    };
    match canonical {
        "--cpus" => {
            let cpus: f64 = value
                .parse()
                .ok()
                .filter(|cpus: &f64| cpus.is_finite() && *cpus >= 0.0 && *cpus <= 1.0e6)
                .ok_or_else(|| invalid("expected a number of CPUs such as 1.5"))?;
            options.cpus = Some(cpus);
        }
        "--cpu-shares" => {
            options.cpu_shares =
                Some(parse_int(&value).ok_or_else(|| invalid("expected an integer"))?)
        }
        "--cpuset-cpus" => options.cpuset_cpus = Some(value),
        "--memory" => {
            options.memory = Some(parse_bytes(&value).ok_or_else(|| invalid(BYTES_HINT))?)
        }
        "--memory-reservation" => {
            options.memory_reservation =
                Some(parse_bytes(&value).ok_or_else(|| invalid(BYTES_HINT))?)
        }
        "--memory-swap" => {
            options.memory_swap = Some(if value == "-1" {
                -1
            } else {
                parse_bytes(&value).ok_or_else(|| invalid(BYTES_HINT))?
            })
        }
        "--pids-limit" => {
            options.pids_limit =
                Some(parse_int(&value).ok_or_else(|| invalid("expected an integer"))?)
        }
        "--user" => options.user = Some(value),
        "--hostname" => options.hostname = Some(value),
        "--network-alias" => options.network_aliases.push(value),
        "--health-cmd" => options.health.cmd = Some(value),
        "--health-interval" => {
            options.health.interval =
                Some(parse_duration(&value).ok_or_else(|| invalid(DURATION_HINT))?)
        }
        "--health-timeout" => {
            options.health.timeout =
                Some(parse_duration(&value).ok_or_else(|| invalid(DURATION_HINT))?)
        }
        "--health-start-period" => {
            options.health.start_period =
                Some(parse_duration(&value).ok_or_else(|| invalid(DURATION_HINT))?)
        }
        "--health-retries" => {
            options.health.retries = Some(
                value
                    .parse()
                    .map_err(|_| invalid("expected a non-negative integer"))?,
            )
        }
        "--no-healthcheck" => {
            options.health.disabled = parse_bool(&value).ok_or_else(|| invalid(BOOL_HINT))?
        }
        "--entrypoint" => options.entrypoint = Some(value),
        "--env" => {
            let env = match value.split_once('=') {
                Some((name, val)) => EnvOption {
                    name: name.to_string(),
                    value: Some(val.to_string()),
                },
                None => EnvOption {
                    name: value.clone(),
                    value: None,
                },
            };
            if env.name.is_empty() {
                return Err(invalid("expected NAME=value or NAME"));
            }
            options.env.push(env);
        }
        "--volume" => {
            if value.is_empty() {
                return Err(invalid("expected [source:]destination[:mode]"));
            }
            options.volumes.push(value)
        }
        "--tmpfs" => options.tmpfs.push(value),
        "--privileged" => {
            options.privileged = parse_bool(&value).ok_or_else(|| invalid(BOOL_HINT))?
        }
        "--init" => options.init = parse_bool(&value).ok_or_else(|| invalid(BOOL_HINT))?,
        "--read-only" => {
            options.read_only = parse_bool(&value).ok_or_else(|| invalid(BOOL_HINT))?
        }
        // Gantry always removes what it creates; accepted for compatibility.
        "--rm" | "--detach" => {
            parse_bool(&value).ok_or_else(|| invalid(BOOL_HINT))?;
        }
        "--workdir" => options.workdir = Some(value),
        "--add-host" => {
            if !value.contains(':') {
                return Err(invalid("expected host:ip"));
            }
            options.add_hosts.push(value)
        }
        "--shm-size" => {
            options.shm_size = Some(parse_bytes(&value).ok_or_else(|| invalid(BYTES_HINT))?)
        }
        "--ulimit" => options
            .ulimits
            .push(parse_ulimit(&value).ok_or_else(|| invalid("expected name=soft[:hard]"))?),
        "--cap-add" => options.cap_add.push(value),
        "--cap-drop" => options.cap_drop.push(value),
        "--security-opt" => options.security_opt.push(value),
        "--dns" => options.dns.push(value),
        "--dns-search" => options.dns_search.push(value),
        "--label" => {
            let (key, val) = value.split_once('=').unwrap_or((value.as_str(), ""));
            if key.is_empty() {
                return Err(invalid("expected key=value"));
            }
            options.labels.push((key.to_string(), val.to_string()));
        }
        "--publish" => {
            crate::ports::PortSpec::parse(&value).map_err(|error| invalid(&error.to_string()))?;
            options.publish.push(value)
        }
        "--stop-signal" => options.stop_signal = Some(value),
        "--stop-timeout" => {
            options.stop_timeout =
                Some(parse_int(&value).ok_or_else(|| invalid("expected seconds"))?)
        }
        "--sysctl" => {
            let (key, val) = value
                .split_once('=')
                .ok_or_else(|| invalid("expected key=value"))?;
            options.sysctls.push((key.to_string(), val.to_string()));
        }
        "--device" => options.devices.push(value),
        "--group-add" => options.group_add.push(value),
        "--platform" => options.platform = Some(value),
        "--network" => {
            return Err(OptionsError::Unsupported {
                option: given.to_string(),
                reason: "the job's containers share a network Gantry creates for the run",
            })
        }
        "--name" => {
            return Err(OptionsError::Unsupported {
                option: given.to_string(),
                reason: "Gantry names the containers it creates",
            })
        }
        "--interactive" | "--tty" => {
            return Err(OptionsError::Unsupported {
                option: given.to_string(),
                reason: "steps run without a terminal",
            })
        }
        // Every canonical name returned by `lookup` is handled above.
        other => {
            return Err(OptionsError::Unknown {
                option: other.to_string(),
            })
        }
    }
    Ok(())
}

const BYTES_HINT: &str = "expected a size such as 512m or 2g";
const DURATION_HINT: &str = "expected a duration such as 10s, 1m30s or 500ms";
const BOOL_HINT: &str = "expected true or false";

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Some(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn parse_int(value: &str) -> Option<i64> {
    value.parse().ok()
}

/// Docker's `RAMInBytes`: a decimal number with an optional unit b, k, m, g, t, p (powers of 1024),
/// optionally followed by `b` (`512m`, `512MB`, `1.5g`, `1024`).
pub fn parse_bytes(value: &str) -> Option<i64> {
    let lower = value.trim().to_ascii_lowercase();
    let number_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(number_end);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim();
    let unit = if unit.len() == 2 {
        unit.strip_suffix('b')?
    } else {
        unit
    };
    let multiplier: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        "p" => 1024.0_f64.powi(5),
        _ => return None,
    };
    let bytes = number * multiplier;
    (bytes.is_finite() && bytes >= 0.0 && bytes < i64::MAX as f64).then_some(bytes as i64)
}

/// Go's `time.ParseDuration` subset docker accepts: a sequence of decimal numbers with units
/// ns, us (or µs), ms, s, m, h (`1m30s`, `1.5s`, `500ms`); a bare `0` is zero.
pub fn parse_duration(value: &str) -> Option<Duration> {
    if value == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = value;
    let mut total = 0.0_f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, after) = rest.split_at(number_end);
        let number: f64 = number.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = after;
    }
    Duration::try_from_secs_f64(total).ok()
}

fn parse_ulimit(value: &str) -> Option<Ulimit> {
    let (name, limits) = value.split_once('=')?;
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (soft.parse().ok()?, hard.parse().ok()?),
        None => {
            let both = limits.parse().ok()?;
            (both, both)
        }
    };
    (!name.is_empty()).then(|| Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input` and compares the `{:?}` of the non-default fields with `expected`, or the error.
    fn check(input: &str, expected: &str) {
        let actual = match parse_options(input) {
            Ok(options) => summarize(&options),
            Err(error) => format!("error: {error}"),
        };
        assert_eq!(actual, expected, "input: {input:?}");
    }

    /// The `name: value` fields of `options` that differ from the default, joined by "; ".
    fn summarize(options: &ContainerOptions) -> String {
        let default_fields = top_level_fields(&format!("{:#?}", ContainerOptions::default()));
        top_level_fields(&format!("{options:#?}"))
            .into_iter()
            .filter(|field| !default_fields.contains(field))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Splits a pretty `{:#?}` of a struct into its top-level fields, each on one line.
    fn top_level_fields(debug: &str) -> Vec<String> {
        let mut fields = Vec::new();
        let mut current = String::new();
        let mut depth = 0usize;
        for line in debug.lines().skip(1) {
            let trimmed = line.trim();
            if depth == 0 && trimmed == "}" {
                break;
            }
            current.push_str(trimmed);
            current.push(' ');
            depth += trimmed.matches(['{', '[', '(']).count();
            depth -= trimmed.matches(['}', ']', ')']).count().min(depth);
            if depth == 0 {
                let field = std::mem::take(&mut current);
                let field = field.trim().trim_end_matches(',');
                let field = field
                    .replace("( ", "(")
                    .replace("[ ", "[")
                    .replace(", )", ")")
                    .replace(", ]", "]")
                    .replace(", }", " }")
                    .replace(", ", " ");
                fields.push(field);
            }
        }
        fields
    }

    fn words(input: &str, expected: &[&str]) {
        assert_eq!(split_words(input).unwrap(), expected, "input: {input:?}");
    }

    #[test]
    fn splits_words_like_a_shell() {
        words("", &[]);
        words("  a  b\n c\t", &["a", "b", "c"]);
        words(
            r#"--health-cmd "pg_isready -U postgres""#,
            &["--health-cmd", "pg_isready -U postgres"],
        );
        words(
            "--health-cmd 'redis-cli ping'",
            &["--health-cmd", "redis-cli ping"],
        );
        words(
            r#"--health-cmd="mysqladmin ping""#,
            &["--health-cmd=mysqladmin ping"],
        );
        words(r#"a\ b"#, &["a b"]);
        words(r#""a\"b" 'c\d'"#, &["a\"b", "c\\d"]);
        words(r#""""#, &[""]);
        words("a\\\nb", &["ab"]);
        words(r#""x\n""#, &["x\\n"]);
        assert_eq!(
            split_words("'abc"),
            Err(OptionsError::UnterminatedQuote { quote: '\'' })
        );
        assert_eq!(
            split_words("\"abc"),
            Err(OptionsError::UnterminatedQuote { quote: '"' })
        );
    }

    #[test]
    fn parses_options() {
        check("", "");
        check("--cpus 1.5", "cpus: Some(1.5)");
        check("--cpus=2", "cpus: Some(2.0)");
        check("--memory 512m", "memory: Some(536870912)");
        check("-m 1g", "memory: Some(1073741824)");
        check("--memory=1.5GB", "memory: Some(1610612736)");
        check("--memory 1024", "memory: Some(1024)");
        check("--user 1001:1001", "user: Some(\"1001:1001\")");
        check("-u root", "user: Some(\"root\")");
        check("--hostname db", "hostname: Some(\"db\")");
        check(
            "--network-alias a --network-alias=b",
            "network_aliases: [\"a\" \"b\"]",
        );
        check(
            r#"--health-cmd "pg_isready -U postgres" --health-interval 10s --health-timeout 5s --health-retries 5"#,
            "health: HealthCheck { cmd: Some(\"pg_isready -U postgres\") interval: Some(10s) timeout: Some(5s) retries: Some(5) start_period: None disabled: false }",
        );
        check(
            "--health-cmd='redis-cli ping' --health-start-period=1m30s",
            "health: HealthCheck { cmd: Some(\"redis-cli ping\") interval: None timeout: None retries: None start_period: Some(90s) disabled: false }",
        );
        check(
            "--no-healthcheck",
            "health: HealthCheck { cmd: None interval: None timeout: None retries: None start_period: None disabled: true }",
        );
        check("--entrypoint /bin/sh", "entrypoint: Some(\"/bin/sh\")");
        check(
            "-e A=1 --env B --env=C=x=y -eD=2",
            "env: [EnvOption { name: \"A\" value: Some(\"1\") } EnvOption { name: \"B\" value: None } EnvOption { name: \"C\" value: Some(\"x=y\") } EnvOption { name: \"D\" value: Some(\"2\") }]",
        );
        check(
            "-v /a:/b -v=/c:/d:ro --volume /e",
            "volumes: [\"/a:/b\" \"/c:/d:ro\" \"/e\"]",
        );
        check("--privileged", "privileged: true");
        check("--privileged=false", "");
        check("--init --read-only --rm", "init: true; read_only: true");
        check("--workdir /src", "workdir: Some(\"/src\")");
        check("-w=/src", "workdir: Some(\"/src\")");
        check("--add-host db:10.0.0.1", "add_hosts: [\"db:10.0.0.1\"]");
        check(
            "--add-host host.docker.internal:host-gateway",
            "add_hosts: [\"host.docker.internal:host-gateway\"]",
        );
        check("--shm-size 2g", "shm_size: Some(2147483648)");
        check(
            "--ulimit nofile=1024:2048 --ulimit core=-1",
            "ulimits: [Ulimit { name: \"nofile\" soft: 1024 hard: 2048 } Ulimit { name: \"core\" soft: -1 hard: -1 }]",
        );
        check(
            "--cap-add SYS_ADMIN --cap-drop NET_RAW",
            "cap_add: [\"SYS_ADMIN\"]; cap_drop: [\"NET_RAW\"]",
        );
        check("--label a=b -l c", "labels: [(\"a\" \"b\") (\"c\" \"\")]");
        check(
            "-p 8080:80 --publish 5432",
            "publish: [\"8080:80\" \"5432\"]",
        );
        check("--tmpfs /run", "tmpfs: [\"/run\"]");
        check(
            "--dns 1.1.1.1 --security-opt seccomp=unconfined",
            "security_opt: [\"seccomp=unconfined\"]; dns: [\"1.1.1.1\"]",
        );
        check(
            "--stop-signal SIGINT --stop-timeout 3",
            "stop_signal: Some(\"SIGINT\"); stop_timeout: Some(3)",
        );
        check(
            "--sysctl net.core.somaxconn=1024",
            "sysctls: [(\"net.core.somaxconn\" \"1024\")]",
        );
        check(
            "--pids-limit 100 --memory-swap -1",
            "memory_swap: Some(-1); pids_limit: Some(100)",
        );
        check(
            "--cpus 1\n--memory 1g",
            "cpus: Some(1.0); memory: Some(1073741824)",
        );
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        check(
            "--frobnicate",
            "error: unknown container option \"--frobnicate\"",
        );
        check(
            "--frobnicate=1",
            "error: unknown container option \"--frobnicate\"",
        );
        check("-Z", "error: unknown container option \"-Z\"");
        check(
            "ubuntu",
            "error: unexpected argument \"ubuntu\" in container options (options start with '-')",
        );
        check(
            "--",
            "error: unexpected argument \"--\" in container options (options start with '-')",
        );
        check("--cpus", "error: container option \"--cpus\" needs a value");
        check("--cpus lots", "error: invalid value \"lots\" for container option \"--cpus\": expected a number of CPUs such as 1.5");
        check("--memory 12q", "error: invalid value \"12q\" for container option \"--memory\": expected a size such as 512m or 2g");
        check("--health-interval 10", "error: invalid value \"10\" for container option \"--health-interval\": expected a duration such as 10s, 1m30s or 500ms");
        check("--health-interval 10x", "error: invalid value \"10x\" for container option \"--health-interval\": expected a duration such as 10s, 1m30s or 500ms");
        check("--health-retries -1", "error: invalid value \"-1\" for container option \"--health-retries\": expected a non-negative integer");
        check("--privileged=maybe", "error: invalid value \"maybe\" for container option \"--privileged\": expected true or false");
        check("--ulimit nofile", "error: invalid value \"nofile\" for container option \"--ulimit\": expected name=soft[:hard]");
        check(
            "--add-host db",
            "error: invalid value \"db\" for container option \"--add-host\": expected host:ip",
        );
        check(
            "-e =x",
            "error: invalid value \"=x\" for container option \"-e\": expected NAME=value or NAME",
        );
        check("-p 80:http", "error: invalid value \"80:http\" for container option \"-p\": invalid port \"http\" in \"80:http\"");
        check("--network host", "error: container option \"--network\" is not supported: the job's containers share a network Gantry creates for the run");
        check("--name x", "error: container option \"--name\" is not supported: Gantry names the containers it creates");
        check(
            "-it",
            "error: container option \"-i\" is not supported: steps run without a terminal",
        );
        check(
            "--health-cmd 'x",
            "error: unterminated ' quote in container options",
        );
    }

    fn duration(input: &str, expected: Option<Duration>) {
        assert_eq!(parse_duration(input), expected, "input: {input:?}");
    }

    #[test]
    fn parses_durations() {
        duration("0", Some(Duration::ZERO));
        duration("10s", Some(Duration::from_secs(10)));
        duration("1m30s", Some(Duration::from_secs(90)));
        duration("1.5s", Some(Duration::from_millis(1500)));
        duration("500ms", Some(Duration::from_millis(500)));
        duration("2h", Some(Duration::from_secs(7200)));
        duration("100us", Some(Duration::from_micros(100)));
        duration("", None);
        duration("10", None);
        duration("s", None);
        duration("-1s", None);
        duration("1d", None);
    }

    fn bytes(input: &str, expected: Option<i64>) {
        assert_eq!(parse_bytes(input), expected, "input: {input:?}");
    }

    #[test]
    fn parses_sizes() {
        bytes("1024", Some(1024));
        bytes("1k", Some(1024));
        bytes("64m", Some(64 << 20));
        bytes("64MB", Some(64 << 20));
        bytes("1g", Some(1 << 30));
        bytes("0.5g", Some(1 << 29));
        bytes("1t", Some(1 << 40));
        bytes("12b", Some(12));
        bytes("", None);
        bytes("m", None);
        bytes("1x", None);
        bytes("1gbb", None);
        bytes("-1", None);
    }
}
