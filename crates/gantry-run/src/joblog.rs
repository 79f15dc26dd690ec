//! The one log format of a job, written by the run record (`.gantry/runs/<n>/logs/`) and by the
//! server's log store alike: `<name>.log` holds each (masked) line once, as printed, `\n` after
//! each; `<name>.idx` is a compact sidecar of JSON lines ([`Entry`]) saying where steps start
//! and end, where groups open and close, and when lines were written (a [`Entry::Mark`] at each
//! change of step and at most once a second of output, so the index stays a few bytes a second
//! whatever the volume). Reading it back ([`read_index`], [`Timeline`]) gives each line its step
//! and time, e.g. to render GitHub's time-stamped job logs ([`render_with_times`]).
//!
//! Invariant: the text is written before the index entries that point into it, so a reader that
//! finds an entry finds its line; both files are append-only, so a log can be read while it is
//! written. A line holding `\n` or `\r\n` is stored as several lines. Tests: the `tests` module
//! below and `tests/api.rs`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Output time between two time marks of one step.
const MARK_EVERY_MS: i64 = 1000;

/// One entry of a log's index. `line` is the 1-based number of the first line it applies to
/// (one past the last line for an entry written after the lines it ends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// From `line` (at `byte` of the text) on, lines belong to `step` (1-based; none outside
    /// steps) and were written at `at_ms` (Unix milliseconds) or later.
    Mark {
        line: u64,
        byte: u64,
        at_ms: i64,
        step: Option<u32>,
    },
    StepStarted {
        line: u64,
        step: u32,
        name: String,
    },
    StepFinished {
        line: u64,
        step: u32,
        conclusion: String,
    },
    /// A `##[group]` line.
    Group {
        line: u64,
        title: String,
    },
    /// A `##[endgroup]` line.
    EndGroup {
        line: u64,
    },
}

/// Appends to one job's log and its index.
pub struct JobLogWriter {
    text: BufWriter<File>,
    index: BufWriter<File>,
    text_path: PathBuf,
    /// Lines and bytes in the text so far.
    lines: u64,
    bytes: u64,
    step: Option<u32>,
    last_mark_ms: Option<i64>,
}

/// Where a log's two files are: `<dir>/<name>.log` and `<dir>/<name>.idx`.
pub fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.log")),
        dir.join(format!("{name}.idx")),
    )
}

impl JobLogWriter {
    /// Opens (or creates) the log `name` in `dir`, appending after what it holds.
    pub fn open(dir: &Path, name: &str) -> std::io::Result<JobLogWriter> {
        std::fs::create_dir_all(dir)?;
        let (text_path, index_path) = paths(dir, name);
        let open = |path: &Path| OpenOptions::new().create(true).append(true).open(path);
        let text = open(&text_path)?;
        let index = open(&index_path)?;
        let bytes = text.metadata()?.len();
        // A reopened log goes on after its last line.
        let lines = if bytes == 0 {
            0
        } else {
            count_lines(&text_path)?
        };
        Ok(JobLogWriter {
            text: BufWriter::with_capacity(64 * 1024, text),
            index: BufWriter::new(index),
            text_path,
            lines,
            bytes,
            step: None,
            last_mark_ms: None,
        })
    }

    pub fn text_path(&self) -> &Path {
        &self.text_path
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes of text written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends one (masked) line of `step` (1-based; `None` outside steps), written at `at_ms`.
    /// Returns the number of its first line.
    pub fn append(&mut self, step: Option<u32>, line: &str, at_ms: i64) -> std::io::Result<u64> {
        let first = self.lines + 1;
        if self.step != step
            || self
                .last_mark_ms
                .is_none_or(|last| at_ms - last >= MARK_EVERY_MS)
        {
            self.step = step;
            self.last_mark_ms = Some(at_ms);
            self.entry(&Entry::Mark {
                line: first,
                byte: self.bytes,
                at_ms,
                step,
            })?;
        }
        for part in line.split('\n') {
            let part = part.strip_suffix('\r').unwrap_or(part);
            if let Some(title) = part.strip_prefix("##[group]") {
                self.entry(&Entry::Group {
                    line: self.lines + 1,
                    title: title.to_owned(),
                })?;
            } else if part.starts_with("##[endgroup]") {
                self.entry(&Entry::EndGroup {
                    line: self.lines + 1,
                })?;
            }
            self.text.write_all(part.as_bytes())?;
            self.text.write_all(b"\n")?;
            self.lines += 1;
            self.bytes += part.len() as u64 + 1;
        }
        Ok(first)
    }

    pub fn step_started(&mut self, step: u32, name: &str) -> std::io::Result<()> {
        self.entry(&Entry::StepStarted {
            line: self.lines + 1,
            step,
            name: name.to_owned(),
        })
    }

    pub fn step_finished(&mut self, step: u32, conclusion: &str) -> std::io::Result<()> {
        self.entry(&Entry::StepFinished {
            line: self.lines + 1,
            step,
            conclusion: conclusion.to_owned(),
        })
    }

    fn entry(&mut self, entry: &Entry) -> std::io::Result<()> {
        // The text the entry points into goes first (see the invariant).
        self.text.flush()?;
        serde_json::to_writer(&mut self.index, entry)?;
        self.index.write_all(b"\n")
    }

    /// Writes what is buffered; what was appended is then readable.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.text.flush()?;
        self.index.flush()
    }
}

fn count_lines(path: &Path) -> std::io::Result<u64> {
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let mut lines = 0;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(lines);
        }
        lines += buffer.iter().filter(|b| **b == b'\n').count() as u64;
        let n = buffer.len();
        reader.consume(n);
    }
}

/// The entries of an index file; an entry cut short by a killed writer (the last line) is left
/// out, and a missing file is an empty index.
pub fn read_index(path: &Path) -> std::io::Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

/// Each line's step and time, from an index's marks.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// `(first line, at_ms, step)`, by line.
    marks: Vec<(u64, i64, Option<u32>)>,
}

impl Timeline {
    pub fn new(entries: &[Entry]) -> Timeline {
        let mut marks: Vec<_> = entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Mark {
                    line, at_ms, step, ..
                } => Some((*line, *at_ms, *step)),
                _ => None,
            })
            .collect();
        marks.sort_by_key(|mark| mark.0);
        Timeline { marks }
    }

    fn mark(&self, line: u64) -> Option<&(u64, i64, Option<u32>)> {
        let after = self.marks.partition_point(|mark| mark.0 <= line);
        after.checked_sub(1).map(|i| &self.marks[i])
    }

    /// When line `line` (1-based) was written, to the second it was marked in.
    pub fn at_ms(&self, line: u64) -> Option<i64> {
        self.mark(line).map(|mark| mark.1)
    }

    /// The step (1-based) line `line` belongs to.
    pub fn step(&self, line: u64) -> Option<u32> {
        self.mark(line).and_then(|mark| mark.2)
    }
}

/// Copies the log text from `text` to `out` with each line prefixed by its time (`stamp` turns
/// Unix milliseconds into text, e.g. GitHub's `2024-01-01T00:00:00.0000000Z`), streaming: memory
/// does not grow with the log.
pub fn render_with_times(
    text: impl Read,
    timeline: &Timeline,
    stamp: impl Fn(i64) -> String,
    mut out: impl Write,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, text);
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut current: Option<(i64, String)> = None;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        let at = timeline.at_ms(number).unwrap_or(0);
        if current.as_ref().is_none_or(|(ms, _)| *ms != at) {
            current = Some((at, stamp(at)));
        }
        if let Some((_, prefix)) = &current {
            out.write_all(prefix.as_bytes())?;
            out.write_all(b" ")?;
        }
        out.write_all(&line)?;
        if line.last() != Some(&b'\n') {
            out.write_all(b"\n")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_stored_once_with_steps_groups_and_times_in_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLogWriter::open(dir.path(), "build").unwrap();
        log.append(None, "set up", 1_000).unwrap();
        log.step_started(1, "Build").unwrap();
        log.append(Some(1), "##[group]Compile", 1_100).unwrap();
        log.append(Some(1), "cc a.c", 1_200).unwrap();
        log.append(Some(1), "##[endgroup]", 2_500).unwrap();
        log.append(Some(1), "two\nlines", 2_600).unwrap();
        log.step_finished(1, "success").unwrap();
        log.flush().unwrap();
        let (text_path, index_path) = paths(dir.path(), "build");
        let text = std::fs::read_to_string(&text_path).unwrap();
        assert_eq!(
            text,
            "set up\n##[group]Compile\ncc a.c\n##[endgroup]\ntwo\nlines\n"
        );
        let index = read_index(&index_path).unwrap();
        assert!(index.contains(&Entry::StepStarted {
            line: 2,
            step: 1,
            name: "Build".into()
        }));
        assert!(index.contains(&Entry::Group {
            line: 2,
            title: "Compile".into()
        }));
        assert!(index.contains(&Entry::EndGroup { line: 4 }));
        assert!(index.contains(&Entry::StepFinished {
            line: 7,
            step: 1,
            conclusion: "success".into()
        }));
        let timeline = Timeline::new(&index);
        assert_eq!(
            (1..=6).map(|n| timeline.step(n)).collect::<Vec<_>>(),
            [None, Some(1), Some(1), Some(1), Some(1), Some(1)]
        );
        // A new mark at a step change and once a second of output, not at every line.
        assert_eq!(
            (1..=6).map(|n| timeline.at_ms(n)).collect::<Vec<_>>(),
            [1_000, 1_100, 1_100, 2_500, 2_500, 2_500].map(Some)
        );
        let mut rendered = Vec::new();
        render_with_times(
            File::open(&text_path).unwrap(),
            &timeline,
            |ms| format!("[{ms}]"),
            &mut rendered,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(rendered).unwrap().lines().nth(3),
            Some("[2500] ##[endgroup]")
        );
    }

    #[test]
    fn a_reopened_log_goes_on_after_its_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLogWriter::open(dir.path(), "j").unwrap();
        log.append(Some(1), "a", 0).unwrap();
        log.flush().unwrap();
        drop(log);
        let mut log = JobLogWriter::open(dir.path(), "j").unwrap();
        assert_eq!((log.lines(), log.bytes()), (1, 2));
        assert_eq!(log.append(Some(2), "b", 10).unwrap(), 2);
        log.flush().unwrap();
        let index = read_index(&paths(dir.path(), "j").1).unwrap();
        assert_eq!(
            index.last(),
            Some(&Entry::Mark {
                line: 2,
                byte: 2,
                at_ms: 10,
                step: Some(2)
            })
        );
    }

    #[test]
    fn an_entry_cut_short_by_a_killed_writer_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.idx");
        std::fs::write(
            &path,
            "{\"kind\":\"end_group\",\"line\":3}\n{\"kind\":\"gro",
        )
        .unwrap();
        assert_eq!(read_index(&path).unwrap(), [Entry::EndGroup { line: 3 }]);
    }
}
