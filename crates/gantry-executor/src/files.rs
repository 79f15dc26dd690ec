//! File commands: `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`,
//! `GITHUB_STATE`. Each step starts with empty files (created once per job, emptied with
//! [`FileCommands::reset`] after each step); they are read and parsed after the step.
//!
//! Invariant: the `NAME=value` / `NAME<<DELIM` format is parsed like the runner's
//! `SetEnvFileCommand` (a line is split at whichever of `=` and `<<` comes first; a heredoc runs to
//! the first line equal to the delimiter; `\n` or `\r\n` line ends); a malformed file is an error
//! that fails the step, never a panic. Tests: the `tests` module below.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The most `GITHUB_STEP_SUMMARY` may hold, as on GitHub (1 MiB).
pub const SUMMARY_LIMIT: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FileCommandError {
    #[error("invalid format '{line}' in {file}: {reason}")]
    Format {
        file: &'static str,
        line: String,
        reason: &'static str,
    },
    #[error("matching delimiter not found '{delimiter}' in {file}")]
    MissingDelimiter {
        file: &'static str,
        delimiter: String,
    },
    #[error("cannot use {file} to set {name}")]
    Forbidden { file: &'static str, name: String },
    #[error("$GITHUB_STEP_SUMMARY supports content up to a size of 1024k, got {size_k}k")]
    SummaryTooLarge { size_k: u64 },
    #[error("cannot read {file} file {path}")]
    Io {
        file: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What the files of one step said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileResults {
    pub outputs: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
    /// In file order; the caller prepends each in turn (so the last line ends up first).
    pub path: Vec<String>,
    pub summary: Option<String>,
    pub state: Vec<(String, String)>,
}

/// The five files of one step.
#[derive(Debug, Clone)]
pub struct FileCommands {
    pub output: PathBuf,
    pub env: PathBuf,
    pub path: PathBuf,
    pub summary: PathBuf,
    pub state: PathBuf,
}

/// Writes `contents` to `path` over what it held, creating it when missing. Unlike
/// [`fs::write`] it does not truncate first: on file systems that discard freed blocks at once
/// (ext4 mounted with `discard`), truncating a file and writing it again costs a block free and
/// a discard each time, about a millisecond, and step scripts are rewritten step after step.
pub fn overwrite(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.write_all(contents)?;
    file.set_len(contents.len() as u64)
}

impl FileCommands {
    /// Creates the five empty files in `dir`, named after `tag` (unique per step in the job).
    pub fn create(dir: &Path, tag: &str) -> io::Result<FileCommands> {
        let files = FileCommands {
            output: dir.join(format!("set_output_{tag}")),
            env: dir.join(format!("set_env_{tag}")),
            path: dir.join(format!("add_path_{tag}")),
            summary: dir.join(format!("step_summary_{tag}")),
            state: dir.join(format!("save_state_{tag}")),
        };
        for p in files.all() {
            fs::File::create(p)?;
        }
        Ok(files)
    }

    fn all(&self) -> [&PathBuf; 5] {
        [
            &self.output,
            &self.env,
            &self.path,
            &self.summary,
            &self.state,
        ]
    }

    /// The variables that point the step at its files.
    pub fn env_vars(&self) -> [(&'static str, String); 5] {
        [
            ("GITHUB_OUTPUT", self.output.display().to_string()),
            ("GITHUB_ENV", self.env.display().to_string()),
            ("GITHUB_PATH", self.path.display().to_string()),
            ("GITHUB_STEP_SUMMARY", self.summary.display().to_string()),
            ("GITHUB_STATE", self.state.display().to_string()),
        ]
    }

    /// Makes the files empty again for the next step: truncates the ones that were written and
    /// re-creates the ones a step deleted. Creating a file costs far more than a `stat` on many
    /// file systems, so the files of a job are created once and reused step after step.
    pub fn reset(&self) -> io::Result<()> {
        for p in self.all() {
            match fs::metadata(p) {
                Ok(m) if m.len() == 0 && m.is_file() => {}
                _ => {
                    fs::File::create(p)?;
                }
            }
        }
        Ok(())
    }

    /// Reads and parses every file. A file the step deleted counts as empty.
    pub fn collect(&self) -> Result<FileResults, FileCommandError> {
        let outputs = parse_key_values(&read(&self.output, "GITHUB_OUTPUT")?, "GITHUB_OUTPUT")?;
        let env = parse_key_values(&read(&self.env, "GITHUB_ENV")?, "GITHUB_ENV")?;
        if let Some((name, _)) = env.iter().find(|(n, _)| n == "NODE_OPTIONS") {
            return Err(FileCommandError::Forbidden {
                file: "GITHUB_ENV",
                name: name.clone(),
            });
        }
        let path = parse_path(&read(&self.path, "GITHUB_PATH")?);
        let state = parse_key_values(&read(&self.state, "GITHUB_STATE")?, "GITHUB_STATE")?;
        let size = fs::metadata(&self.summary).map(|m| m.len()).unwrap_or(0);
        if size > SUMMARY_LIMIT {
            return Err(FileCommandError::SummaryTooLarge {
                size_k: size / 1024,
            });
        }
        let summary = read(&self.summary, "GITHUB_STEP_SUMMARY")?;
        Ok(FileResults {
            outputs,
            env,
            path,
            summary: (!summary.is_empty()).then_some(summary),
            state,
        })
    }

    /// Deletes the files (best effort: a leftover file in the job's temp dir is harmless).
    pub fn remove(&self) {
        for p in self.all() {
            let _ = fs::remove_file(p);
        }
    }
}

fn read(path: &Path, file: &'static str) -> Result<String, FileCommandError> {
    // Most steps write none of the files: a `stat` is much cheaper than opening them.
    if fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return Ok(String::new());
    }
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(FileCommandError::Io {
            file,
            path: path.to_owned(),
            source,
        }),
    }
}

/// Splits at `\n`, dropping one `\r` before it.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut parts = body.split('\n');
    if text.is_empty() {
        parts.next();
    }
    parts.map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// Parses `NAME=value` and `NAME<<DELIM ... DELIM` entries (the format of `GITHUB_OUTPUT`,
/// `GITHUB_ENV` and `GITHUB_STATE`).
pub fn parse_key_values(
    text: &str,
    file: &'static str,
) -> Result<Vec<(String, String)>, FileCommandError> {
    let mut out = Vec::new();
    let mut iter = lines(text);
    while let Some(line) = iter.next() {
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        let format_error = |reason| FileCommandError::Format {
            file,
            line: line.to_owned(),
            reason,
        };
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (name, value) = (&line[..e], &line[e + 1..]);
                if name.is_empty() {
                    return Err(format_error("name must not be empty"));
                }
                out.push((name.to_owned(), value.to_owned()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() {
                    return Err(format_error("name must not be empty"));
                }
                if delimiter.is_empty() {
                    return Err(format_error("delimiter must not be empty"));
                }
                let mut value_lines = Vec::new();
                loop {
                    match iter.next() {
                        Some(l) if l == delimiter => break,
                        Some(l) => value_lines.push(l),
                        None => {
                            return Err(FileCommandError::MissingDelimiter {
                                file,
                                delimiter: delimiter.to_owned(),
                            })
                        }
                    }
                }
                out.push((name.to_owned(), value_lines.join("\n")));
            }
            _ => return Err(format_error("expected NAME=value or NAME<<DELIMITER")),
        }
    }
    Ok(out)
}

/// Non-empty lines of `GITHUB_PATH`.
pub fn parse_path(text: &str) -> Vec<String> {
    lines(text)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(text: &str, expected: &[(&str, &str)]) {
        assert_eq!(
            parse_key_values(text, "GITHUB_ENV").unwrap(),
            kv(expected),
            "text {text:?}"
        );
    }

    fn check_err(text: &str, expected: &str) {
        let err = parse_key_values(text, "GITHUB_ENV")
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err:?} for {text:?}");
    }

    #[test]
    fn key_values() {
        check("", &[]);
        check("\n\n", &[]);
        check("A=1", &[("A", "1")]);
        check("A=1\nB=2\n", &[("A", "1"), ("B", "2")]);
        check("A=1\r\nB=2\r\n", &[("A", "1"), ("B", "2")]);
        check("A=x=y", &[("A", "x=y")]);
        check("A=", &[("A", "")]);
        check("A=a<<b", &[("A", "a<<b")]);
        check("A= spaced ", &[("A", " spaced ")]);
        check("A=1\nA=2", &[("A", "1"), ("A", "2")]);
    }

    #[test]
    fn heredocs() {
        check("M<<EOF\nline 1\nline 2\nEOF\n", &[("M", "line 1\nline 2")]);
        check("M<<EOF\nEOF", &[("M", "")]);
        check("M<<EOF\n\nEOF", &[("M", "")]);
        check("M<<EOF\na=b\nEOF\nN=1", &[("M", "a=b"), ("N", "1")]);
        check("M<<E=F\nx\nE=F", &[("M", "x")]);
        check("M<<EOF\r\nx\r\nEOF\r\n", &[("M", "x")]);
        check("M<<EOF\n EOF\nEOF", &[("M", " EOF")]);
    }

    #[test]
    fn malformed() {
        check_err("=1", "name must not be empty");
        check_err("<<EOF\nx\nEOF", "name must not be empty");
        check_err("M<<\nx", "delimiter must not be empty");
        check_err("M<<EOF\nx\n", "matching delimiter not found 'EOF'");
        check_err("just text", "invalid format 'just text'");
    }

    #[test]
    fn path_lines() {
        assert_eq!(parse_path("/a\n\n/b\r\n"), vec!["/a", "/b"]);
        assert!(parse_path("").is_empty());
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileCommands::create(dir.path(), "1").unwrap();
        fs::write(&files.output, "x=1\n").unwrap();
        fs::write(&files.env, "\u{feff}E<<D\na\nb\nD\n").unwrap();
        fs::write(&files.path, "/opt/one\n/opt/two\n").unwrap();
        fs::write(&files.summary, "# Hi\n").unwrap();
        let got = files.collect().unwrap();
        assert_eq!(got.outputs, kv(&[("x", "1")]));
        assert_eq!(got.env, kv(&[("E", "a\nb")]));
        assert_eq!(got.path, vec!["/opt/one", "/opt/two"]);
        assert_eq!(got.summary.as_deref(), Some("# Hi\n"));
        fs::write(&files.env, "NODE_OPTIONS=--x\n").unwrap();
        assert!(matches!(
            files.collect(),
            Err(FileCommandError::Forbidden { .. })
        ));
        files.reset().unwrap();
        assert_eq!(files.collect().unwrap(), FileResults::default());
        fs::remove_file(&files.path).unwrap();
        files.reset().unwrap();
        assert!(files.path.exists());
        files.remove();
        assert!(!files.output.exists());
    }
    #[test]
    fn overwrite_replaces_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.sh");
        for contents in ["a longer script\n", "short", "", "a longer script again\n"] {
            overwrite(&path, contents.as_bytes()).unwrap();
            assert_eq!(fs::read_to_string(&path).unwrap(), contents);
        }
    }
}
