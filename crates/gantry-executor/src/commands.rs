//! Workflow commands written to stdout (`::name key=value,...::data`), parsed like the runner's
//! `ActionCommand.TryParseV2`.
//!
//! Invariant: only registered command names are commands; anything else is an ordinary log line.
//! Between `::stop-commands::TOKEN` and `::TOKEN::` no command is recognised. Property values and
//! data are unescaped (`%25 %0D %0A`, plus `%3A %2C` in properties) in the runner's order, `%25`
//! last. Applying a command (masking, outputs, failing the step) is the step runner's business.
//! Tests: the `tests` module below.

/// Annotation severity, as the runner names the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationLevel {
    Error,
    Warning,
    Notice,
}

impl AnnotationLevel {
    pub fn name(self) -> &'static str {
        match self {
            AnnotationLevel::Error => "error",
            AnnotationLevel::Warning => "warning",
            AnnotationLevel::Notice => "notice",
        }
    }
}

/// An annotation (`::error`, `::warning`, `::notice`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnotationProps {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub col: Option<u32>,
    pub end_line: Option<u32>,
    pub end_column: Option<u32>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    AddMask(String),
    Group(String),
    EndGroup,
    Annotation {
        level: AnnotationLevel,
        message: String,
        props: AnnotationProps,
    },
    Debug(String),
    /// Commands stop being processed until `::TOKEN::`.
    StopCommands(String),
    /// The `::TOKEN::` line that ended a stop-commands section.
    ResumeCommands,
    /// Deprecated `::set-output name=x::value`.
    SetOutput {
        name: String,
        value: String,
    },
    /// Deprecated `::save-state name=x::value`.
    SaveState {
        name: String,
        value: String,
    },
    /// Disabled unless `ACTIONS_ALLOW_UNSECURE_COMMANDS` is `true`.
    SetEnv {
        name: String,
        value: String,
    },
    /// Disabled unless `ACTIONS_ALLOW_UNSECURE_COMMANDS` is `true`.
    AddPath(String),
    Echo(bool),
    /// `add-matcher` / `remove-matcher`: recognised, problem matchers are not supported.
    Matcher(String),
}

const REGISTERED: &[&str] = &[
    "add-mask",
    "group",
    "endgroup",
    "error",
    "warning",
    "notice",
    "debug",
    "stop-commands",
    "set-output",
    "save-state",
    "set-env",
    "add-path",
    "echo",
    "add-matcher",
    "remove-matcher",
];

/// Tracks stop-commands state across the lines of one step.
#[derive(Debug, Default)]
pub struct CommandParser {
    stop_token: Option<String>,
}

/// A command line split into its parts, before interpretation.
#[derive(Debug, PartialEq, Eq)]
struct RawCommand {
    name: String,
    properties: Vec<(String, String)>,
    data: String,
}

impl CommandParser {
    pub fn new() -> CommandParser {
        CommandParser::default()
    }

    /// Whether a stop-commands section is open.
    pub fn is_stopped(&self) -> bool {
        self.stop_token.is_some()
    }

    /// The command on this line, if it is one.
    pub fn parse_line(&mut self, line: &str) -> Option<Command> {
        if let Some(token) = &self.stop_token {
            let resumes = split_command(line, |name| name == token.as_str()).is_some();
            if resumes {
                self.stop_token = None;
                return Some(Command::ResumeCommands);
            }
            return None;
        }
        let raw = split_command(line, |name| REGISTERED.contains(&name))?;
        let command = interpret(raw);
        if let Command::StopCommands(token) = &command {
            self.stop_token = Some(token.clone());
        }
        Some(command)
    }
}

fn split_command(line: &str, is_registered: impl Fn(&str) -> bool) -> Option<RawCommand> {
    let message = line.trim_start();
    let rest = message.strip_prefix("::")?;
    let end = rest.find("::")?;
    let info = &rest[..end];
    let data = &rest[end + 2..];
    let (name, props) = match info.find(' ') {
        Some(space) => (&info[..space], Some(&info[space + 1..])),
        None => (info, None),
    };
    if !is_registered(name) {
        return None;
    }
    let mut properties = Vec::new();
    if let Some(props) = props {
        for prop in props.trim().split(',').filter(|p| !p.is_empty()) {
            if let Some((key, value)) = prop.split_once('=') {
                if !key.is_empty() && !value.is_empty() {
                    properties.push((key.to_owned(), unescape_property(value)));
                }
            }
        }
    }
    Some(RawCommand {
        name: name.to_owned(),
        properties,
        data: unescape_data(data),
    })
}

fn interpret(raw: RawCommand) -> Command {
    let prop = |key: &str| {
        raw.properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    let number = |key: &str| prop(key).and_then(|v| v.trim().parse::<u32>().ok());
    match raw.name.as_str() {
        "add-mask" => Command::AddMask(raw.data.trim().to_owned()),
        "group" => Command::Group(raw.data),
        "endgroup" => Command::EndGroup,
        "debug" => Command::Debug(raw.data),
        "stop-commands" => Command::StopCommands(raw.data),
        "set-output" => Command::SetOutput {
            name: prop("name").unwrap_or_default(),
            value: raw.data,
        },
        "save-state" => Command::SaveState {
            name: prop("name").unwrap_or_default(),
            value: raw.data,
        },
        "set-env" => Command::SetEnv {
            name: prop("name").unwrap_or_default(),
            value: raw.data,
        },
        "add-path" => Command::AddPath(raw.data),
        "echo" => Command::Echo(raw.data.trim().eq_ignore_ascii_case("on")),
        "add-matcher" | "remove-matcher" => Command::Matcher(raw.name.clone()),
        other => {
            let level = match other {
                "error" => AnnotationLevel::Error,
                "warning" => AnnotationLevel::Warning,
                _ => AnnotationLevel::Notice,
            };
            Command::Annotation {
                level,
                props: AnnotationProps {
                    file: prop("file"),
                    line: number("line"),
                    col: number("col"),
                    end_line: number("endLine"),
                    end_column: number("endColumn"),
                    title: prop("title"),
                },
                message: raw.data,
            }
        }
    }
}

/// `%0D` `%0A` then `%25`, as the runner does (so `%250A` stays `%0A`).
pub fn unescape_data(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

/// Like [`unescape_data`] plus `%3A` (`:`) and `%2C` (`,`).
pub fn unescape_property(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Option<Command> {
        CommandParser::new().parse_line(line)
    }

    fn check(line: &str, expected: Option<Command>) {
        assert_eq!(parse(line), expected, "line {line:?}");
    }

    fn annotation(
        level: AnnotationLevel,
        message: &str,
        props: AnnotationProps,
    ) -> Option<Command> {
        Some(Command::Annotation {
            level,
            message: message.to_owned(),
            props,
        })
    }

    #[test]
    fn plain_lines_are_not_commands() {
        check("hello", None);
        check(":: not a command", None);
        check("::unknown::data", None);
        check("::add-mask", None);
        check("x ::add-mask::v", None);
        check("::ADD-MASK::v", None);
    }

    #[test]
    fn simple_commands() {
        check(
            "::add-mask::s3cret",
            Some(Command::AddMask("s3cret".into())),
        );
        check(
            "  ::add-mask::  padded ",
            Some(Command::AddMask("padded".into())),
        );
        check("::group::Build it", Some(Command::Group("Build it".into())));
        check("::endgroup::", Some(Command::EndGroup));
        check("::debug::details", Some(Command::Debug("details".into())));
        check("::echo::on", Some(Command::Echo(true)));
        check("::echo::off", Some(Command::Echo(false)));
        check(
            "::add-path::/opt/bin",
            Some(Command::AddPath("/opt/bin".into())),
        );
        check(
            "::add-matcher::m.json",
            Some(Command::Matcher("add-matcher".into())),
        );
    }

    #[test]
    fn annotations_with_properties() {
        check(
            "::error file=app.js,line=10,col=15,endLine=12,endColumn=3,title=Bad thing::Something failed",
            annotation(
                AnnotationLevel::Error,
                "Something failed",
                AnnotationProps {
                    file: Some("app.js".into()),
                    line: Some(10),
                    col: Some(15),
                    end_line: Some(12),
                    end_column: Some(3),
                    title: Some("Bad thing".into()),
                },
            ),
        );
        check(
            "::warning::careful",
            annotation(
                AnnotationLevel::Warning,
                "careful",
                AnnotationProps::default(),
            ),
        );
        check(
            "::notice title=a%3Ab%2Cc%25::x",
            annotation(
                AnnotationLevel::Notice,
                "x",
                AnnotationProps {
                    title: Some("a:b,c%".into()),
                    ..AnnotationProps::default()
                },
            ),
        );
        check(
            "::error line=abc,file=::m",
            annotation(AnnotationLevel::Error, "m", AnnotationProps::default()),
        );
    }

    #[test]
    fn data_escapes() {
        check(
            "::warning::a%0Ab%0Dc%25d",
            annotation(
                AnnotationLevel::Warning,
                "a\nb\rc%d",
                AnnotationProps::default(),
            ),
        );
        check(
            "::warning::%250A",
            annotation(AnnotationLevel::Warning, "%0A", AnnotationProps::default()),
        );
        check("::debug::%3A", Some(Command::Debug("%3A".into())));
    }

    #[test]
    fn deprecated_commands() {
        check(
            "::set-output name=result::42",
            Some(Command::SetOutput {
                name: "result".into(),
                value: "42".into(),
            }),
        );
        check(
            "::save-state name=pid::7",
            Some(Command::SaveState {
                name: "pid".into(),
                value: "7".into(),
            }),
        );
        check(
            "::set-env name=FOO::bar",
            Some(Command::SetEnv {
                name: "FOO".into(),
                value: "bar".into(),
            }),
        );
    }

    #[test]
    fn stop_commands_section() {
        let mut p = CommandParser::new();
        assert_eq!(
            p.parse_line("::stop-commands::tok123"),
            Some(Command::StopCommands("tok123".into()))
        );
        assert!(p.is_stopped());
        assert_eq!(p.parse_line("::add-mask::ignored"), None);
        assert_eq!(p.parse_line("::warning::ignored"), None);
        assert_eq!(p.parse_line("::other::"), None);
        assert_eq!(p.parse_line("::tok123::"), Some(Command::ResumeCommands));
        assert!(!p.is_stopped());
        assert_eq!(
            p.parse_line("::add-mask::v"),
            Some(Command::AddMask("v".into()))
        );
    }
}
