//! Where `runs-on` labels run: `-P label=host|docker://IMAGE` on the command line and the
//! `[platforms]` table of `.gantry/config.toml` in the repository root.
//!
//! Invariant: the command line wins over the file, label by label; every bad value is a usage
//! error naming the flag or `file:line` before anything runs. Tests: unit tests below and
//! `tests/docker.rs`.

use anyhow::{anyhow, bail, Context, Result};
use gantry_executor::Platform;
use std::path::Path;

/// The repository's configuration file, relative to the repository root.
pub const CONFIG_FILE: &str = ".gantry/config.toml";

/// The platforms for the executor: command-line mappings first (in order), then the file's
/// labels the command line did not set. The executor takes the first matching label.
pub fn resolve(root: &Path, flags: &[String]) -> Result<Vec<(String, Platform)>> {
    let mut platforms = Vec::new();
    for flag in flags {
        let (label, platform) = parse_flag(flag)?;
        platforms.push((label, platform));
    }
    let path = root.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(platforms),
        Err(err) => return Err(err).with_context(|| format!("reading {CONFIG_FILE}")),
    };
    for (label, platform) in parse_config(&text)? {
        if !platforms.iter().any(|(known, _)| *known == label) {
            platforms.push((label, platform));
        }
    }
    Ok(platforms)
}

/// `label=host` or `label=docker://IMAGE`, as given to `-P`.
fn parse_flag(flag: &str) -> Result<(String, Platform)> {
    let Some((label, value)) = flag.split_once('=') else {
        bail!("--platform '{flag}': expected LABEL=host or LABEL=docker://IMAGE");
    };
    let label = label.trim();
    if label.is_empty() {
        bail!("--platform '{flag}': the label is empty");
    }
    let platform = Platform::parse(value).map_err(|err| anyhow!("--platform '{flag}': {err}"))?;
    Ok((label.to_owned(), platform))
}

/// The `[platforms]` table of the configuration file, in file order.
fn parse_config(text: &str) -> Result<Vec<(String, Platform)>> {
    let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
        let line = err
            .span()
            .map(|span| line_of(text, span.start))
            .unwrap_or(1);
        anyhow!("{CONFIG_FILE}:{line}: {}", err.message())
    })?;
    let Some(platforms) = table.get("platforms") else {
        return Ok(Vec::new());
    };
    let line_of_key = |key: &str| {
        text.lines()
            .position(|line| {
                let line = line.trim_start();
                let bare = line.strip_prefix(key);
                let quoted = line
                    .strip_prefix('"')
                    .and_then(|rest| rest.strip_prefix(key))
                    .and_then(|rest| rest.strip_prefix('"'));
                bare.or(quoted)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map_or(1, |index| index + 1)
    };
    let Some(platforms) = platforms.as_table() else {
        bail!(
            "{CONFIG_FILE}:{}: [platforms] must be a table of label = \"host\" | \"docker://IMAGE\"",
            line_of_key("platforms")
        );
    };
    let mut out = Vec::new();
    for (label, value) in platforms {
        let line = line_of_key(label);
        let Some(value) = value.as_str() else {
            bail!("{CONFIG_FILE}:{line}: platforms.{label}: expected a string, 'host' or 'docker://IMAGE'");
        };
        let platform = Platform::parse(value)
            .map_err(|err| anyhow!("{CONFIG_FILE}:{line}: platforms.{label}: {err}"))?;
        out.push((label.clone(), platform));
    }
    Ok(out)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_flag(flag: &str, expected: Result<(&str, Platform), &str>) {
        let got = parse_flag(flag).map_err(|err| err.to_string());
        match expected {
            Ok((label, platform)) => {
                assert_eq!(got.unwrap(), (label.to_owned(), platform), "{flag}")
            }
            Err(message) => assert!(got.unwrap_err().contains(message), "{flag}"),
        }
    }

    #[test]
    fn flags() {
        let debian = || Platform::Docker("gantry-test/debian:latest".to_owned());
        check_flag("ubuntu-latest=host", Ok(("ubuntu-latest", Platform::Host)));
        check_flag(
            "ubuntu-latest=docker://gantry-test/debian:latest",
            Ok(("ubuntu-latest", debian())),
        );
        check_flag("ubuntu-latest", Err("expected LABEL=host"));
        check_flag("=host", Err("the label is empty"));
        check_flag("x=", Err("--platform 'x='"));
        check_flag("x=docker://", Err("invalid platform"));
    }

    fn check_config(text: &str, expected: Result<Vec<(&str, Platform)>, &str>) {
        let got = parse_config(text).map_err(|err| err.to_string());
        match expected {
            Ok(list) => {
                let list: Vec<_> = list.into_iter().map(|(l, p)| (l.to_owned(), p)).collect();
                assert_eq!(got.unwrap(), list, "{text}");
            }
            Err(message) => {
                let err = got.unwrap_err();
                assert!(err.contains(message), "{text}: {err}");
            }
        }
    }

    #[test]
    fn config() {
        let img = |i: &str| Platform::Docker(i.to_owned());
        check_config("", Ok(vec![]));
        check_config(
            "[platforms]\nubuntu-latest = \"docker://a:1\"\nself = \"host\"\n",
            Ok(vec![
                ("ubuntu-latest", img("a:1")),
                ("self", Platform::Host),
            ]),
        );
        check_config(
            "[platforms]\n\"my label\" = \"host\"\n",
            Ok(vec![("my label", Platform::Host)]),
        );
        check_config(
            "[platforms]\nubuntu-latest = \"docker://a:1\"\nbad = 3\n",
            Err(".gantry/config.toml:3: platforms.bad"),
        );
        check_config(
            "[platforms]\n\nbad = \"docker://\"\n",
            Err(".gantry/config.toml:3: platforms.bad: invalid platform"),
        );
        check_config(
            "platforms = 1\n",
            Err(".gantry/config.toml:1: [platforms] must be a table"),
        );
        check_config("[platforms]\nx = \n", Err(".gantry/config.toml:2:"));
    }
}
