//! The repository's configuration, `.gantry/config.toml`: where `runs-on` labels run
//! (`[platforms]`, also `-P label=host|docker://IMAGE` on the command line) and which GitHub the
//! repository belongs to (`[github]`: `server_url`, and `api_url`/`graphql_url` when a GitHub
//! Enterprise Server's differ from `<server>/api/v3` and `<server>/api/graphql`).
//!
//! Invariant: the command line wins over the file, label by label; every bad value is a usage
//! error naming the flag or `file:line` before anything runs. Tests: unit tests below and
//! `tests/docker.rs`.

use crate::error::{bail_input, Error, IoContext, Result};
use gantry_executor::Platform;
use gantry_plan::GithubServer;
use std::path::Path;

/// The repository's configuration file, relative to the repository root.
pub const CONFIG_FILE: &str = ".gantry/config.toml";

/// What the configuration file says (all empty without one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// `[platforms]`, in file order.
    pub platforms: Vec<(String, Platform)>,
    pub github: GithubServer,
}

/// Reads `.gantry/config.toml` of the repository at `root`.
pub fn read(root: &Path) -> Result<Config> {
    let path = root.join(CONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_config(&text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(err) => Err(err).io_context(|| format!("reading {CONFIG_FILE}")),
    }
}

/// The platforms for the executor: `first` (the command line's, in order), then the labels of
/// `then` (the file's) that `first` did not set. The executor takes the first matching label.
pub fn merge_platforms(
    first: &[(String, Platform)],
    then: &[(String, Platform)],
) -> Vec<(String, Platform)> {
    let mut platforms = first.to_vec();
    for (label, platform) in then {
        if !platforms.iter().any(|(known, _)| known == label) {
            platforms.push((label.clone(), platform.clone()));
        }
    }
    platforms
}

/// `label=host` or `label=docker://IMAGE`, as given to `-P`.
pub fn parse_platform(flag: &str) -> Result<(String, Platform)> {
    let Some((label, value)) = flag.split_once('=') else {
        bail_input!("--platform '{flag}': expected LABEL=host or LABEL=docker://IMAGE");
    };
    let label = label.trim();
    if label.is_empty() {
        bail_input!("--platform '{flag}': the label is empty");
    }
    let platform = Platform::parse(value)
        .map_err(|err| Error::Input(format!("--platform '{flag}': {err}")))?;
    Ok((label.to_owned(), platform))
}

/// The configuration file's tables.
fn parse_config(text: &str) -> Result<Config> {
    let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
        let line = err
            .span()
            .map(|span| line_of(text, span.start))
            .unwrap_or(1);
        Error::Input(format!("{CONFIG_FILE}:{line}: {}", err.message()))
    })?;
    let mut config = Config::default();
    if let Some(github) = table.get("github") {
        let Some(github) = github.as_table() else {
            bail_input!(
                "{CONFIG_FILE}:{}: [github] must be a table of server_url, api_url, graphql_url",
                line_of_key(text, "github")
            );
        };
        for (key, value) in github {
            let slot = match key.as_str() {
                "server_url" => &mut config.github.server_url,
                "api_url" => &mut config.github.api_url,
                "graphql_url" => &mut config.github.graphql_url,
                _ => bail_input!(
                    "{CONFIG_FILE}:{}: github.{key}: unknown key (server_url, api_url, graphql_url)",
                    line_of_key(text, key)
                ),
            };
            let Some(url) = value.as_str().filter(|url| url.starts_with("http")) else {
                bail_input!(
                    "{CONFIG_FILE}:{}: github.{key}: expected an http(s) URL",
                    line_of_key(text, key)
                );
            };
            *slot = url.to_owned();
        }
    }
    let Some(platforms) = table.get("platforms") else {
        return Ok(config);
    };
    let Some(platforms) = platforms.as_table() else {
        bail_input!(
            "{CONFIG_FILE}:{}: [platforms] must be a table of label = \"host\" | \"docker://IMAGE\"",
            line_of_key(text, "platforms")
        );
    };
    for (label, value) in platforms {
        let line = line_of_key(text, label);
        let Some(value) = value.as_str() else {
            bail_input!("{CONFIG_FILE}:{line}: platforms.{label}: expected a string, 'host' or 'docker://IMAGE'");
        };
        let platform = Platform::parse(value).map_err(|err| {
            Error::Input(format!("{CONFIG_FILE}:{line}: platforms.{label}: {err}"))
        })?;
        config.platforms.push((label.clone(), platform));
    }
    Ok(config)
}

/// The 1-based line where `key = …` is written (1 when not found).
fn line_of_key(text: &str, key: &str) -> usize {
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
        let got = parse_platform(flag).map_err(|err| err.to_string());
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
        let got = parse_config(text)
            .map(|config| config.platforms)
            .map_err(|err| err.to_string());
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

    #[test]
    fn github_server() {
        let config = parse_config("[github]\nserver_url = \"https://ghe.example\"\n").unwrap();
        assert_eq!(config.github.server_url, "https://ghe.example");
        assert_eq!(config.github.api_url, "");
        let err = parse_config("[github]\n\nserver = \"https://x\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            ".gantry/config.toml:3: github.server: unknown key (server_url, api_url, graphql_url)"
        );
        let err = parse_config("[github]\napi_url = 3\n").unwrap_err();
        assert!(
            err.to_string().contains(":2: github.api_url: expected"),
            "{err}"
        );
    }
}
