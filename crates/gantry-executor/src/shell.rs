//! Shell resolution for `run:` steps, as the runner's `ScriptHandler` does it.
//!
//! Invariant: `shell:` unset means `bash -e {0}` when bash is on the step's PATH, else `sh -e {0}`
//! (GitHub's default, which is *not* the same as `shell: bash`); a built-in name without
//! arguments gets its default arguments (`bash` → `--noprofile --norc -e -o pipefail {0}`,
//! `sh` → `-e {0}`, `python` → `{0}`, `pwsh`/`powershell` → `-command ". '{0}'"`); anything else
//! is a template whose first word is the program and which must contain `{0}`. The script file
//! extension follows the shell (`.sh`, `.py`, `.ps1`, `.cmd`, none). Tests: the `tests` module below.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShellError {
    #[error("invalid shell option '{0}': shell must be a valid built-in (bash, sh, cmd, powershell, pwsh) or a format string containing '{{0}}'")]
    NoPlaceholder(String),
    #[error("{0}: command not found")]
    NotFound(String),
}

/// Splits a `shell:` value into its command and argument template (the kind's default arguments
/// when none are given); the template must hold `{0}`.
fn split_shell(shell: &str) -> Result<(&str, String), ShellError> {
    let (command, args) = match shell.split_once(' ') {
        Some((c, a)) => (c, a.trim_start()),
        None => (shell, ""),
    };
    let arg_format = if args.is_empty() {
        default_arguments(command).unwrap_or("").to_owned()
    } else {
        args.to_owned()
    };
    if !arg_format.contains("{0}") {
        return Err(ShellError::NoPlaceholder(shell.to_owned()));
    }
    Ok((command, arg_format))
}

/// A resolved shell: program, argument template and script file extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shell {
    /// The shell name as the script kind (`bash`, `sh`, `python`, `pwsh`, or a custom program).
    pub kind: String,
    pub program: PathBuf,
    /// Arguments with `{0}` still in them, split like a command line.
    pub arg_format: String,
    pub extension: &'static str,
}

fn default_arguments(kind: &str) -> Option<&'static str> {
    match kind {
        "bash" => Some("--noprofile --norc -e -o pipefail {0}"),
        "sh" => Some("-e {0}"),
        "python" => Some("{0}"),
        "pwsh" | "powershell" => Some("-command \". '{0}'\""),
        "cmd" => Some("/D /E:ON /V:OFF /S /C \"CALL \"{0}\"\""),
        _ => None,
    }
}

fn extension(kind: &str) -> &'static str {
    match kind {
        "bash" | "sh" => ".sh",
        "python" => ".py",
        "pwsh" | "powershell" => ".ps1",
        "cmd" => ".cmd",
        _ => "",
    }
}

impl Shell {
    /// Resolves `shell` (the step's, else `defaults.run.shell`) against `path` (the step's PATH).
    pub fn resolve(shell: Option<&str>, path: &OsStr) -> Result<Shell, ShellError> {
        let shell = shell.map(str::trim).filter(|s| !s.is_empty());
        let Some(shell) = shell else {
            let program = which("bash", path)
                .or_else(|| which("sh", path))
                .ok_or_else(|| ShellError::NotFound("sh".to_owned()))?;
            return Ok(Shell {
                kind: "sh".to_owned(),
                program,
                arg_format: "-e {0}".to_owned(),
                extension: ".sh",
            });
        };
        let (command, arg_format) = split_shell(shell)?;
        let program = match which(command, path) {
            Some(p) => p,
            None if command == "python" => {
                which("python3", path).ok_or_else(|| ShellError::NotFound(command.to_owned()))?
            }
            None => return Err(ShellError::NotFound(command.to_owned())),
        };
        Ok(Shell {
            kind: command.to_owned(),
            program,
            arg_format,
            extension: extension(command),
        })
    }

    /// Resolves `shell` for a job container: programs are found by the container's PATH when
    /// the step runs, so only the name is kept; `default` (`bash` when the image has it, else
    /// `sh`) serves a step without `shell:`.
    pub fn in_container(shell: Option<&str>, default: &str) -> Result<Shell, ShellError> {
        let shell = shell.map(str::trim).filter(|s| !s.is_empty());
        let Some(shell) = shell else {
            return Ok(Shell {
                kind: "sh".to_owned(),
                program: PathBuf::from(default),
                arg_format: "-e {0}".to_owned(),
                extension: ".sh",
            });
        };
        let (command, arg_format) = split_shell(shell)?;
        Ok(Shell {
            kind: command.to_owned(),
            program: PathBuf::from(command),
            arg_format,
            extension: extension(command),
        })
    }

    /// The arguments for a script at `script`.
    pub fn args(&self, script: &Path) -> Vec<String> {
        let script = script.display().to_string();
        split_arguments(&self.arg_format)
            .into_iter()
            .map(|a| a.replace("{0}", &script))
            .collect()
    }

    /// The line the log shows (`shell: /usr/bin/bash -e {0}`).
    pub fn display(&self) -> String {
        format!("shell: {} {}", self.program.display(), self.arg_format)
    }

    /// Adjusts the script text for the shell, as the runner does.
    pub fn fix_up(&self, script: &str) -> String {
        match self.kind.as_str() {
            "pwsh" | "powershell" => format!(
                "$ErrorActionPreference = 'stop'\n{script}\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) {{ exit $LASTEXITCODE }}"
            ),
            "cmd" => format!("@echo off\n{script}"),
            _ => script.to_owned(),
        }
    }
}

/// Splits a command line at whitespace; double quotes group (and are removed), `\"` is a quote.
pub fn split_arguments(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
                in_arg = true;
            }
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            c => {
                current.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    args
}

/// Finds an executable on `path` (a name with a `/` is taken as a path).
pub fn which(name: &str, path: &OsStr) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> std::ffi::OsString {
        std::env::var_os("PATH").unwrap()
    }

    fn check(shell: Option<&str>, kind: &str, args: &[&str], ext: &str) {
        let s = Shell::resolve(shell, &path()).unwrap();
        assert_eq!(s.kind, kind, "{shell:?}");
        assert_eq!(s.args(Path::new("/t/s.x")), args, "{shell:?}");
        assert_eq!(s.extension, ext, "{shell:?}");
    }

    #[test]
    fn resolves_like_the_runner() {
        check(None, "sh", &["-e", "/t/s.x"], ".sh");
        check(Some(""), "sh", &["-e", "/t/s.x"], ".sh");
        check(
            Some("bash"),
            "bash",
            &["--noprofile", "--norc", "-e", "-o", "pipefail", "/t/s.x"],
            ".sh",
        );
        check(Some("sh"), "sh", &["-e", "/t/s.x"], ".sh");
        check(Some("python"), "python", &["/t/s.x"], ".py");
        check(Some("bash -x {0}"), "bash", &["-x", "/t/s.x"], ".sh");
        check(Some("perl -w {0}"), "perl", &["-w", "/t/s.x"], "");
        check(
            Some("bash -c \"cat {0}\""),
            "bash",
            &["-c", "cat /t/s.x"],
            ".sh",
        );
        let default = Shell::resolve(None, &path()).unwrap();
        assert!(default.program.ends_with("bash"));
        assert_eq!(
            default.display(),
            format!("shell: {} -e {{0}}", default.program.display())
        );
    }

    #[test]
    fn falls_back_to_sh_without_bash() {
        let dir = tempfile::tempdir().unwrap();
        let sh = which("sh", &path()).unwrap();
        std::os::unix::fs::symlink(&sh, dir.path().join("sh")).unwrap();
        let s = Shell::resolve(None, dir.path().as_os_str()).unwrap();
        assert_eq!(s.program, dir.path().join("sh"));
        assert_eq!(s.arg_format, "-e {0}");
    }

    #[test]
    fn errors() {
        assert_eq!(
            Shell::resolve(Some("perl -w"), &path()),
            Err(ShellError::NoPlaceholder("perl -w".into()))
        );
        assert_eq!(
            Shell::resolve(Some("no-such-shell-xyz {0}"), &path()),
            Err(ShellError::NotFound("no-such-shell-xyz".into()))
        );
        assert_eq!(
            Shell::resolve(Some("mystery"), &path()),
            Err(ShellError::NoPlaceholder("mystery".into()))
        );
    }

    #[test]
    fn argument_splitting() {
        assert_eq!(split_arguments("a  b\tc"), vec!["a", "b", "c"]);
        assert_eq!(
            split_arguments("-command \". '{0}'\""),
            vec!["-command", ". '{0}'"]
        );
        assert_eq!(split_arguments("\"\" x"), vec!["", "x"]);
        assert_eq!(split_arguments("a\\\"b"), vec!["a\"b"]);
        assert!(split_arguments("   ").is_empty());
    }
}
