//! What happens to each line a step prints: workflow commands are applied, everything else is
//! masked and sent out as a log event.
//!
//! Invariant: nothing leaves through [`OutputSink`] unmasked; a value registered with
//! `::add-mask::` is masked from the next line on (including in the same step). Pieces of an
//! over-long line go through a per-stream [`StreamMasker`] and are never parsed as commands.
//! Tests: end to end in `tests/host.rs`.

use gantry_plan::flow;
use gantry_plan::JobEvent;

use crate::commands::{AnnotationProps, Command, CommandParser};
use crate::mask::{Masker, StreamMasker};
use crate::process::{Fragment, Stream};

pub const SET_OUTPUT_DEPRECATED: &str = "The `set-output` command is deprecated and will be disabled soon. Please upgrade to using Environment Files. For more information see: https://github.blog/changelog/2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/";
pub const SAVE_STATE_DEPRECATED: &str = "The `save-state` command is deprecated and will be disabled soon. Please upgrade to using Environment Files. For more information see: https://github.blog/changelog/2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/";

fn unsecure_disabled(command: &str) -> String {
    format!("The `{command}` command is disabled. Please upgrade to using Environment Files or opt into unsecure command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment variable to `true`. For more information see: https://github.blog/changelog/2020-10-01-github-actions-deprecating-set-env-and-add-path-commands/")
}

/// Sends masked log lines and annotations for one step.
pub struct Emitter<'a> {
    pub events: &'a flow::Sender<JobEvent>,
    pub step: Option<usize>,
}

impl Emitter<'_> {
    /// Sends a line that is already masked.
    pub fn log_masked(&self, line: String) {
        let _ = self.events.send(JobEvent::Log {
            step: self.step,
            line,
        });
    }

    pub fn log(&self, masker: &Masker, line: &str) {
        self.log_masked(masker.mask(line));
    }

    /// An annotation plus its `##[level]` log line.
    pub fn annotate(&self, masker: &Masker, level: &str, message: &str, props: &AnnotationProps) {
        let message = masker.mask(message);
        for line in message.split('\n') {
            self.log_masked(format!("##[{level}]{line}"));
        }
        let _ = self.events.send(JobEvent::Annotation {
            level: level.to_owned(),
            message,
            file: props.file.as_deref().map(|f| masker.mask(f)),
            line: props.line,
            col: props.col,
        });
    }

    pub fn error(&self, masker: &Masker, message: &str) {
        self.annotate(masker, "error", message, &AnnotationProps::default());
    }

    pub fn warning(&self, masker: &Masker, message: &str) {
        self.annotate(masker, "warning", message, &AnnotationProps::default());
    }
}

/// Collected effects of a step's output, applied by the step runner afterwards.
#[derive(Debug, Default)]
pub struct CommandEffects {
    pub outputs: Vec<(String, String)>,
    pub state: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
    pub path: Vec<String>,
    /// A command failed the step (a disabled command was used).
    pub failed: bool,
}

/// The pieces of over-long lines of one stream ([`Fragment::end_of_line`] false), masked as one
/// stream so that a secret cut by a piece boundary is still recognised.
#[derive(Debug, Default)]
pub struct LinePieces {
    masked: StreamMasker,
    /// A piece arrived and its line has not ended yet.
    open: bool,
}

/// What [`LinePieces::take`] made of a fragment.
pub enum Piece {
    /// A whole line, not masked yet (the caller may parse it as a command).
    Line(String),
    /// Masked text of a long line, safe to print; `None` while all of it is held back.
    Masked(Option<String>),
}

impl LinePieces {
    pub fn take(&mut self, masker: &Masker, fragment: Fragment) -> Piece {
        if fragment.end_of_line && !self.open {
            return Piece::Line(fragment.text);
        }
        let text = self
            .masked
            .push(masker, &fragment.text, fragment.end_of_line);
        self.open = !fragment.end_of_line;
        Piece::Masked((!text.is_empty() || fragment.end_of_line).then_some(text))
    }

    /// End of the stream: what is held back, if anything was.
    pub fn finish(&mut self, masker: &Masker) -> Option<String> {
        let text = self.masked.finish(masker);
        let open = std::mem::take(&mut self.open);
        (open || !text.is_empty()).then_some(text)
    }

    /// Logs `fragment` through `emit`: output that carries no workflow commands (an image build).
    pub fn log(&mut self, emit: &Emitter, masker: &Masker, fragment: Fragment) {
        match self.take(masker, fragment) {
            Piece::Line(line) => emit.log(masker, &line),
            Piece::Masked(Some(text)) => emit.log_masked(text),
            Piece::Masked(None) => {}
        }
    }
}

/// Per-step output handling.
pub struct OutputSink<'a> {
    pub masker: &'a mut Masker,
    pub emit: Emitter<'a>,
    pub parser: CommandParser,
    stdout_pieces: LinePieces,
    stderr_pieces: LinePieces,
    pub effects: CommandEffects,
    pub echo: bool,
    pub debug: bool,
    pub allow_unsecure: bool,
}

impl<'a> OutputSink<'a> {
    pub fn new(
        masker: &'a mut Masker,
        emit: Emitter<'a>,
        debug: bool,
        allow_unsecure: bool,
    ) -> OutputSink<'a> {
        OutputSink {
            masker,
            emit,
            parser: CommandParser::new(),
            stdout_pieces: LinePieces::default(),
            stderr_pieces: LinePieces::default(),
            effects: CommandEffects::default(),
            echo: false,
            debug,
            allow_unsecure,
        }
    }

    pub fn on_fragment(&mut self, stream: Stream, fragment: Fragment) {
        let pieces = match stream {
            Stream::Stdout => &mut self.stdout_pieces,
            Stream::Stderr => &mut self.stderr_pieces,
        };
        match pieces.take(self.masker, fragment) {
            // Part of an over-long line: masked as a stream, never a command.
            Piece::Masked(Some(text)) => self.emit.log_masked(text),
            Piece::Masked(None) => {}
            Piece::Line(line) => self.on_line(&line),
        }
    }

    fn on_line(&mut self, line: &str) {
        let Some(command) = self.parser.parse_line(line) else {
            self.emit.log(self.masker, line);
            return;
        };
        if self.echo {
            self.emit.log(self.masker, line);
        }
        match command {
            Command::AddMask(value) => {
                if value.is_empty() {
                    self.emit.warning(
                        self.masker,
                        "Can't add secret mask for empty string in ##[add-mask] command.",
                    );
                } else {
                    self.masker.add(&value);
                }
            }
            Command::Group(title) => self.emit.log(self.masker, &format!("##[group]{title}")),
            Command::EndGroup => self.emit.log_masked("##[endgroup]".to_owned()),
            Command::Annotation {
                level,
                message,
                props,
            } => self
                .emit
                .annotate(self.masker, level.name(), &message, &props),
            Command::Debug(message) => {
                if self.debug {
                    for l in message.split('\n') {
                        self.emit.log(self.masker, &format!("##[debug]{l}"));
                    }
                }
            }
            Command::StopCommands(_) | Command::ResumeCommands => {}
            Command::SetOutput { name, value } => {
                self.emit.warning(self.masker, SET_OUTPUT_DEPRECATED);
                self.effects.outputs.push((name, value));
            }
            Command::SaveState { name, value } => {
                self.emit.warning(self.masker, SAVE_STATE_DEPRECATED);
                self.effects.state.push((name, value));
            }
            Command::SetEnv { name, value } => {
                if self.allow_unsecure {
                    self.effects.env.push((name, value));
                } else {
                    self.emit.error(self.masker, &unsecure_disabled("set-env"));
                    self.effects.failed = true;
                }
            }
            Command::AddPath(path) => {
                if self.allow_unsecure {
                    self.effects.path.push(path);
                } else {
                    self.emit.error(self.masker, &unsecure_disabled("add-path"));
                    self.effects.failed = true;
                }
            }
            Command::Echo(on) => self.echo = on,
            Command::Matcher(name) => {
                if self.debug {
                    self.emit.log(
                        self.masker,
                        &format!("##[debug]{name}: problem matchers are not supported"),
                    );
                }
            }
        }
    }

    /// End of the step's output: flushes held-back pieces.
    pub fn finish(&mut self) {
        for pieces in [&mut self.stdout_pieces, &mut self.stderr_pieces] {
            if let Some(text) = pieces.finish(self.masker) {
                self.emit.log_masked(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds fragments through a sink and returns the log lines and annotation messages.
    fn run(
        secrets: &[&str],
        fragments: &[(Stream, &str, bool)],
    ) -> (Vec<String>, Vec<String>, CommandEffects) {
        let (tx, mut rx) = gantry_plan::flow::channel(usize::MAX);
        let mut masker = Masker::new();
        masker.extend(secrets.iter().copied());
        let effects = {
            let mut sink = OutputSink::new(
                &mut masker,
                Emitter {
                    events: &tx,
                    step: Some(0),
                },
                false,
                false,
            );
            for (stream, text, eol) in fragments {
                sink.on_fragment(
                    *stream,
                    Fragment {
                        text: text.to_string(),
                        end_of_line: *eol,
                    },
                );
            }
            sink.finish();
            std::mem::take(&mut sink.effects)
        };
        let (mut logs, mut notes) = (Vec::new(), Vec::new());
        while let Some(e) = rx.try_recv() {
            match e {
                JobEvent::Log { line, .. } => logs.push(line),
                JobEvent::Annotation { message, .. } => notes.push(message),
                _ => {}
            }
        }
        (logs, notes, effects)
    }

    const O: Stream = Stream::Stdout;
    const E: Stream = Stream::Stderr;

    #[test]
    fn plain_lines_are_masked() {
        let (logs, _, _) = run(&["pw"], &[(O, "a pw b", true), (E, "pw", true)]);
        assert_eq!(logs, vec!["a *** b", "***"]);
    }

    #[test]
    fn add_mask_applies_to_following_lines() {
        let (logs, _, _) = run(
            &[],
            &[(O, "::add-mask::later", true), (O, "now later", true)],
        );
        assert_eq!(logs, vec!["now ***"]);
    }

    #[test]
    fn pieces_of_long_lines_are_masked_across_the_cut_and_never_commands() {
        let (logs, _, _) = run(
            &["secret"],
            &[
                (O, "::add-mask::xx se", false),
                (O, "cret yy", true),
                (O, "::add-mask::zz", true),
            ],
        );
        assert_eq!(logs.concat(), "::add-mask::xx *** yy");
        // A piece's second half is a line end, not a new line start: `zz` was registered.
        let (logs, _, _) = run(&[], &[(O, "::add-mask::zz", true), (O, "zz", true)]);
        assert_eq!(logs, vec!["***"]);
    }

    #[test]
    fn streams_keep_separate_pieces() {
        let (logs, _, _) = run(
            &["abcdef"],
            &[(O, "abc", false), (E, "err", true), (O, "def", true)],
        );
        assert_eq!(logs, vec!["err", "***"]);
    }

    #[test]
    fn commands_have_effects() {
        let (logs, notes, effects) = run(
            &[],
            &[
                (O, "::set-output name=a::1", true),
                (O, "::save-state name=s::2", true),
                (O, "::set-env name=X::y", true),
                (O, "::error::bad", true),
                (O, "::echo::on", true),
                (O, "::group::G", true),
            ],
        );
        assert_eq!(effects.outputs, vec![("a".to_owned(), "1".to_owned())]);
        assert_eq!(effects.state, vec![("s".to_owned(), "2".to_owned())]);
        assert!(effects.env.is_empty() && effects.failed);
        assert_eq!(notes.len(), 4);
        assert!(notes[2].starts_with("The `set-env` command is disabled"));
        assert_eq!(notes[3], "bad");
        assert_eq!(logs.last().map(String::as_str), Some("##[group]G"));
        assert!(logs.contains(&"::group::G".to_owned()));
    }
}
