//! Loading: YAML tree -> typed [`model`](crate::model), with structural diagnostics.
//!
//! Invariant: [`load_workflow`] and [`load_action`] never fail and never panic; whatever the
//! input, they return a (possibly partial) model plus diagnostics. Structural problems (unknown
//! keys, wrong node types, missing required keys, bad literals) are `syntax-check`; `${{ }}`
//! syntax errors are `expression`, positioned inside the scalar; malformed or duplicate job and
//! step ids are `id`. Keys GitHub ignores but that are likely typos (unknown keys of an action
//! input definition) are `syntax-check` warnings. Semantic rules (event names, `needs:` graph,
//! contexts...) live in `check`.
//! Messages follow actionlint's wording so results compare with its test data.
//! Tests: `tests/load.rs`, `tests/languageservices_workflow.rs`, `tests/corpus.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::diagnostic::{Diagnostic, Span};
use crate::model::*;
use crate::yaml::{self, Node, NodeKind, ScalarType};

/// Loads a workflow file. Never fails: problems are returned as diagnostics.
pub fn load_workflow(bytes: &[u8]) -> (Workflow, Vec<Diagnostic>) {
    load_workflow_with(bytes, &yaml::Limits::default())
}

/// [`load_workflow`] with explicit resource limits.
pub fn load_workflow_with(bytes: &[u8], limits: &yaml::Limits) -> (Workflow, Vec<Diagnostic>) {
    load_document(
        bytes,
        limits,
        "workflow is empty",
        |loader, root, source| {
            let mut workflow = Workflow {
                source,
                ..Workflow::default()
            };
            if let Some(root) = root {
                loader.workflow(root, &mut workflow);
            }
            workflow
        },
    )
}

/// Loads an `action.yml` / `action.yaml` file. Never fails: problems are returned as diagnostics.
pub fn load_action(bytes: &[u8]) -> (Action, Vec<Diagnostic>) {
    let limits = yaml::Limits::default();
    load_document(
        bytes,
        &limits,
        "action metadata is empty",
        |loader, root, source| {
            let mut action = Action {
                source,
                ..Action::default()
            };
            if let Some(root) = root {
                loader.action(root, &mut action);
            }
            action
        },
    )
}

/// Parses the YAML, lets `build` turn the tree into a model, and keeps only the YAML layer's
/// diagnostics when the tree is partial (structural complaints about it would only be noise).
fn load_document<T>(
    bytes: &[u8],
    limits: &yaml::Limits,
    empty_message: &str,
    build: impl FnOnce(&mut Loader<'_>, Option<&yaml::Node>, Arc<str>) -> T,
) -> (T, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let parsed = yaml::parse_bytes_with(bytes, limits, &mut diags);
    let source: Arc<str> = Arc::from(parsed.text.as_str());
    let mut loader = Loader {
        source: &parsed.text,
        diags,
    };
    let n_yaml_diags = loader.diags.len();
    let model = build(&mut loader, parsed.root.as_ref(), source);
    if parsed.root.is_none() && !loader.diags.iter().any(Diagnostic::is_error) {
        loader.err(Span::default().with_line1(), empty_message);
    }
    if parsed.fatal {
        loader.diags.truncate(n_yaml_diags);
    }
    (model, loader.diags)
}

trait SpanExt {
    fn with_line1(self) -> Span;
}

impl SpanExt for Span {
    fn with_line1(mut self) -> Span {
        self.start.line = self.start.line.max(1);
        self.start.col = self.start.col.max(1);
        self.end = self.end.max(self.start);
        self
    }
}

/// One mapping entry with a usable string key.
struct Entry<'n> {
    key: &'n str,
    key_node: &'n Node,
    val: &'n Node,
}

impl Entry<'_> {
    fn key_str(&self) -> Str {
        Str::new(self.key.to_owned(), self.key_node.span)
    }
}

/// Why a job or step id is invalid, if it is.
fn id_problem(id: &str) -> Option<&'static str> {
    if !is_valid_id(id) {
        Some("must start with a letter or _ and contain only alphanumeric characters, - or _")
    } else if id.starts_with("__") {
        Some("must not start with \"__\", which is reserved")
    } else {
        None
    }
}

/// A job id or step id: `[A-Za-z_][A-Za-z0-9_-]*`.
pub fn is_valid_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn quoted_list(keys: &[&str]) -> String {
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    let quoted: Vec<String> = sorted.iter().map(|k| format!("\"{k}\"")).collect();
    quoted.join(", ")
}

fn tag_name(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::Seq(_) => "!!seq",
        NodeKind::Map(_) => "!!map",
        NodeKind::Scalar { .. } => match node.scalar_type() {
            Some(ScalarType::Null) => "!!null",
            Some(ScalarType::Bool(_)) => "!!bool",
            Some(ScalarType::Int(_)) => "!!int",
            Some(ScalarType::Float(_)) => "!!float",
            _ => "!!str",
        },
    }
}

fn node_kind_name(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::Seq(_) => "sequence",
        NodeKind::Map(_) => "mapping",
        NodeKind::Scalar { .. } => "scalar",
    }
}

fn scalar_kind(node: &Node) -> ScalarKind {
    match node.scalar_type() {
        Some(ScalarType::Null) => ScalarKind::Null,
        Some(ScalarType::Bool(_)) => ScalarKind::Bool,
        Some(ScalarType::Int(_)) | Some(ScalarType::Float(_)) => ScalarKind::Number,
        _ => ScalarKind::String,
    }
}

/// A YAML number as GitHub turns it into a string (`env:`, `with:`): the rule lives in
/// [`gantry_expr::number::yaml_text`].
pub fn number_to_string(n: f64) -> String {
    gantry_expr::number::yaml_text(n)
}

/// `${{ ... }}` is the whole (trimmed) value and holds one expression.
fn is_expr_assigned(s: &str) -> bool {
    let t = s.trim();
    t.starts_with("${{") && t.ends_with("}}") && t.get(3..).is_some_and(|r| !r.contains("${{"))
}

const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "run-name",
    "description",
    "on",
    "permissions",
    "env",
    "defaults",
    "concurrency",
    "jobs",
];
const JOB_KEYS: &[&str] = &[
    "name",
    "needs",
    "runs-on",
    "permissions",
    "environment",
    "concurrency",
    "outputs",
    "env",
    "defaults",
    "if",
    "steps",
    "timeout-minutes",
    "cancel-timeout-minutes",
    "strategy",
    "continue-on-error",
    "container",
    "services",
    "snapshot",
    "uses",
    "with",
    "secrets",
];
#[derive(Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Action,
    Run,
    /// `wait:`, `wait-all:`, `cancel:`
    Control,
    Parallel,
}

const ACTION_STEP_KEYS: &[&str] = &[
    "continue-on-error",
    "env",
    "id",
    "if",
    "name",
    "timeout-minutes",
    "uses",
    "with",
    "background",
];
const RUN_STEP_KEYS: &[&str] = &[
    "continue-on-error",
    "env",
    "id",
    "if",
    "name",
    "run",
    "shell",
    "timeout-minutes",
    "working-directory",
    "background",
];
const COMPOSITE_ACTION_STEP_KEYS: &[&str] = &[
    "continue-on-error",
    "env",
    "id",
    "if",
    "name",
    "uses",
    "with",
];
const COMPOSITE_RUN_STEP_KEYS: &[&str] = &[
    "continue-on-error",
    "env",
    "id",
    "if",
    "name",
    "run",
    "shell",
    "working-directory",
];
const CONTROL_STEP_KEYS: &[&str] = &[
    "continue-on-error",
    "id",
    "name",
    "wait",
    "wait-all",
    "cancel",
];
const FILTER_KEYS: &[&str] = &[
    "types",
    "branches",
    "branches-ignore",
    "tags",
    "tags-ignore",
    "paths",
    "paths-ignore",
    "workflows",
    "names",
    "versions",
];
const CONTAINER_KEYS: &[&str] = &["image", "credentials", "env", "ports", "volumes", "options"];
const SERVICE_KEYS: &[&str] = &[
    "image",
    "credentials",
    "env",
    "ports",
    "volumes",
    "options",
    "entrypoint",
    "command",
];

/// Keys of an input definition in `action.yml` that the runner reads.
const ACTION_INPUT_KEYS: [&str; 4] = ["default", "deprecationMessage", "description", "required"];

/// Expression errors quote the expression text up to this many bytes.
const MAX_QUOTED_EXPRESSION: usize = 160;

struct Loader<'s> {
    source: &'s str,
    diags: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn err(&mut self, span: Span, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::error("syntax-check", span, message));
    }

    fn unexpected_key(&mut self, entry: &Entry<'_>, section: &str, expected: &[&str]) {
        let message = match expected {
            [] => format!("unexpected key \"{}\" for \"{section}\" section", entry.key),
            [one] => format!(
                "expected \"{one}\" key for \"{section}\" section but got \"{}\"",
                entry.key
            ),
            _ => format!(
                "unexpected key \"{}\" for \"{section}\" section. expected one of {}",
                entry.key,
                quoted_list(expected)
            ),
        };
        self.err(entry.key_node.span, message);
    }

    /// The entries of a mapping. A null value gives no entries (reported when `allow_empty` is
    /// false); another kind is an error. Keys must be non-empty scalars; case-insensitive
    /// sections also reject keys that differ only in case. Exact duplicates were reported by the
    /// YAML layer and are skipped here.
    /// `what` names the mapping in messages; it is only rendered when there is a problem.
    fn entries<'n>(
        &mut self,
        node: &'n Node,
        what: &dyn std::fmt::Display,
        allow_empty: bool,
        case_sensitive: bool,
    ) -> Vec<Entry<'n>> {
        let pairs = match &node.kind {
            NodeKind::Map(pairs) => pairs,
            NodeKind::Scalar { .. } if node.is_null() => {
                if !allow_empty {
                    self.err(
                        node.span,
                        format!("{what} should not be empty. please remove this section if it's unnecessary"),
                    );
                }
                return Vec::new();
            }
            _ => {
                self.err(
                    node.span,
                    format!(
                        "{what} is {} node but mapping node is expected",
                        node_kind_name(node)
                    ),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<Entry<'n>> = Vec::with_capacity(pairs.len());
        let mut index: Option<(HashSet<&str>, HashMap<String, usize>)> =
            (pairs.len() > 32).then(|| (HashSet::new(), HashMap::new()));
        for (key_node, val) in pairs {
            let key = match &key_node.kind {
                // Keys are text as written (`null:` is the key "null").
                NodeKind::Scalar { value, .. } => value.as_str(),
                _ => {
                    self.err(
                        key_node.span,
                        format!(
                            "expected scalar node for string value but found {} node with \"{}\" tag",
                            node_kind_name(key_node),
                            tag_name(key_node)
                        ),
                    );
                    continue;
                }
            };
            if key.is_empty() {
                self.err(key_node.span, "string should not be empty");
                continue;
            }
            if key == "<<" && key_node.style() == Some(yaml::ScalarStyle::Plain) {
                continue; // merge keys are reported by the YAML layer
            }
            // Small mappings (nearly all of them) are scanned; large ones use hash sets.
            let (exact_dup, folded_dup) = match &mut index {
                None => (
                    out.iter().any(|e| e.key == key),
                    if case_sensitive {
                        None
                    } else {
                        out.iter().position(|e| e.key.eq_ignore_ascii_case(key))
                    },
                ),
                Some((exact, folded)) => (
                    exact.contains(key),
                    if case_sensitive {
                        None
                    } else {
                        folded.get(&key.to_ascii_lowercase()).copied()
                    },
                ),
            };
            if exact_dup {
                continue; // reported by the YAML layer
            }
            if let Some(i) = folded_dup {
                let first = out[i].key_node.span.start;
                self.err(
                    key_node.span,
                    format!(
                        "key \"{key}\" is duplicated in {what}. previously defined at line:{},col:{}. note that this key is case insensitive",
                        first.line, first.col
                    ),
                );
                continue;
            }
            if let Some((exact, folded)) = &mut index {
                exact.insert(key);
                if !case_sensitive {
                    folded.insert(key.to_ascii_lowercase(), out.len());
                }
            }
            out.push(Entry { key, key_node, val });
        }
        if !allow_empty && out.is_empty() && !pairs.is_empty() {
            // All keys were bad; already reported.
        } else if !allow_empty && out.is_empty() {
            self.err(
                node.span,
                format!(
                    "{what} should not be empty. please remove this section if it's unnecessary"
                ),
            );
        }
        out
    }

    fn section<'n>(
        &mut self,
        node: &'n Node,
        sec: &str,
        allow_empty: bool,
        case_sensitive: bool,
    ) -> Vec<Entry<'n>> {
        self.entries(
            node,
            &format_args!("\"{sec}\" section"),
            allow_empty,
            case_sensitive,
        )
    }

    /// Reports a non-scalar where a string is expected.
    fn check_scalar(&mut self, node: &Node) -> bool {
        if matches!(node.kind, NodeKind::Scalar { .. }) {
            return true;
        }
        self.err(
            node.span,
            format!(
                "expected scalar node for string value but found {} node with \"{}\" tag",
                node_kind_name(node),
                tag_name(node)
            ),
        );
        false
    }

    fn scalar_text(node: &Node) -> &str {
        match &node.kind {
            NodeKind::Scalar { value, style, .. } => {
                if !style.is_quoted() && node.is_null() {
                    ""
                } else {
                    value
                }
            }
            _ => "",
        }
    }

    /// A plain string (expressions not interpreted).
    fn str_(&mut self, node: &Node, allow_empty: bool) -> Option<Str> {
        if !self.check_scalar(node) {
            return None;
        }
        let text = Self::scalar_text(node);
        // As actionlint: only a literally empty value counts (`null` and `~` are text here).
        if !allow_empty && node.as_scalar() == Some("") {
            self.err(node.span, "string should not be empty");
        }
        Some(Str::new(text.to_owned(), node.span))
    }

    /// A string that may hold `${{ }}`; the template is parsed and syntax errors reported.
    fn tstr(&mut self, node: &Node, allow_empty: bool) -> Option<TStr> {
        if !self.check_scalar(node) {
            return None;
        }
        // As actionlint: only a literally empty value counts (`null` and `~` are text here).
        if !allow_empty && node.as_scalar() == Some("") {
            self.err(node.span, "string should not be empty");
        }
        let raw = match node.scalar_type() {
            Some(ScalarType::Str) | None => Self::scalar_text(node).to_owned(),
            Some(ScalarType::Null) => String::new(),
            Some(ScalarType::Bool(b)) => b.to_string(),
            // GitHub's numbers are doubles, integers included.
            Some(ScalarType::Int(i)) => number_to_string(i as f64),
            Some(ScalarType::Float(f)) => number_to_string(f),
        };
        Some(self.make_tstr(node, raw))
    }

    fn make_tstr(&mut self, node: &Node, raw: String) -> TStr {
        let style = node.style().unwrap_or(yaml::ScalarStyle::Plain);
        let mut t = TStr {
            raw,
            span: node.span,
            style,
            scalar: scalar_kind(node),
            template: TemplateState::Literal,
        };
        if t.raw.contains("${{") {
            t.template = match gantry_expr::parse_template(&t.raw) {
                Ok(template) => {
                    // GitHub turns a template into one `format()` expression, which is subject
                    // to the expression length limit as a whole.
                    if template.as_single_expr().is_none()
                        && t.raw.len() > gantry_expr::MAX_LENGTH
                        && t.raw.encode_utf16().count() > gantry_expr::MAX_LENGTH
                    {
                        self.diags.push(Diagnostic::error(
                            "expression",
                            Span::point(t.span.start),
                            format!(
                                "exceeded max expression length {}: a string with ${{{{ }}}} is evaluated as one expression",
                                gantry_expr::MAX_LENGTH
                            ),
                        ));
                    }
                    TemplateState::Parsed(template)
                }
                Err(error) => {
                    self.expr_error(&t, &error, 0);
                    TemplateState::Invalid(error)
                }
            };
        }
        t
    }

    fn expr_error(&mut self, t: &TStr, error: &gantry_expr::Error, base: usize) {
        let mut start = base + error.span.start as usize;
        // An error at the end of the input points at the closing `}}`, as actionlint does.
        if let Some(rest) = t.raw.get(start..) {
            let trimmed = rest.trim_start();
            if trimmed.starts_with("}}") {
                start += rest.len() - trimmed.len();
            }
        }
        let pos = t.pos_at(self.source, start);
        let end = t
            .pos_at(self.source, base + error.span.end as usize)
            .max(pos);
        // GitHub's wording quotes the whole text; for long values (scripts) the position says
        // enough.
        let message = if error.expression.len() <= MAX_QUOTED_EXPRESSION {
            error.to_string()
        } else {
            error.message.clone()
        };
        self.diags.push(Diagnostic::error(
            "expression",
            Span::new(pos, end),
            message,
        ));
    }

    /// A string where `${{ }}` is not allowed (GitHub evaluates no expression there).
    fn str_no_expr(&mut self, node: &Node, allow_empty: bool) -> Option<Str> {
        let s = self.str_(node, allow_empty)?;
        if s.value.contains("${{") {
            self.diags.push(Diagnostic::error(
                "expression",
                node.span,
                "a template expression is not allowed in this context",
            ));
        }
        Some(s)
    }

    fn condition(&mut self, node: &Node) -> Option<Condition> {
        if !self.check_scalar(node) {
            return None;
        }
        let raw = Self::scalar_text(node).to_owned();
        let style = node.style().unwrap_or(yaml::ScalarStyle::Plain);
        let mut text = TStr {
            raw,
            span: node.span,
            style,
            scalar: scalar_kind(node),
            template: TemplateState::Literal,
        };
        if text.raw.contains("${{") {
            match gantry_expr::parse_template(&text.raw) {
                Ok(template) => {
                    let single = single_expr_part(&template, &text.raw);
                    let kind = match single {
                        Some((expr, source)) => ConditionKind::Expression {
                            source,
                            expr: Some(expr),
                        },
                        None => ConditionKind::Template,
                    };
                    text.template = TemplateState::Parsed(template);
                    return Some(Condition { text, kind });
                }
                Err(error) => {
                    self.expr_error(&text, &error, 0);
                    text.template = TemplateState::Invalid(error);
                    let source = 0..text.raw.len();
                    return Some(Condition {
                        text,
                        kind: ConditionKind::Expression { source, expr: None },
                    });
                }
            }
        }
        let source = 0..text.raw.len();
        if text.raw.trim().is_empty() {
            return Some(Condition {
                text,
                kind: ConditionKind::Expression { source, expr: None },
            });
        }
        let expr = match gantry_expr::parse(&text.raw) {
            Ok(expr) => Some(expr),
            Err(error) => {
                self.expr_error(&text, &error, 0);
                None
            }
        };
        Some(Condition {
            text,
            kind: ConditionKind::Expression { source, expr },
        })
    }

    fn bool_or_expr(&mut self, node: &Node) -> Option<Spanned<ExprOr<bool>>> {
        match node.scalar_type() {
            Some(ScalarType::Bool(b)) => Some(Spanned::new(ExprOr::Value(b), node.span)),
            Some(ScalarType::Str) => {
                let text = Self::scalar_text(node);
                if !is_expr_assigned(text) {
                    self.err(
                        node.span,
                        "expecting a single ${{...}} expression or boolean literal \"true\" or \"false\", but found plain text node",
                    );
                    return None;
                }
                let t = self.make_tstr(node, text.to_owned());
                Some(Spanned::new(ExprOr::Expr(t), node.span))
            }
            _ => {
                self.err(
                    node.span,
                    format!(
                        "expected bool value but found {} node with \"{}\" tag",
                        node_kind_name(node),
                        tag_name(node)
                    ),
                );
                None
            }
        }
    }

    /// A boolean literal or a `${{ }}`, split for fields that keep them apart.
    fn bool_or_expr_split(&mut self, node: &Node) -> (Option<Spanned<bool>>, Option<TStr>) {
        match self.bool_or_expr(node) {
            Some(Spanned {
                value: ExprOr::Value(b),
                span,
            }) => (Some(Spanned::new(b, span)), None),
            Some(Spanned {
                value: ExprOr::Expr(t),
                ..
            }) => (None, Some(t)),
            None => (None, None),
        }
    }

    fn plain_bool(&mut self, node: &Node) -> Option<Spanned<bool>> {
        match node.scalar_type() {
            Some(ScalarType::Bool(b)) => Some(Spanned::new(b, node.span)),
            _ => {
                self.err(
                    node.span,
                    format!(
                        "expected bool value but found {} node with \"{}\" tag",
                        node_kind_name(node),
                        tag_name(node)
                    ),
                );
                None
            }
        }
    }

    fn number_or_expr(&mut self, node: &Node, what: &str) -> Option<Spanned<ExprOr<f64>>> {
        let value = match node.scalar_type() {
            Some(ScalarType::Int(i)) => i as f64,
            Some(ScalarType::Float(f)) if !f.is_nan() => f,
            Some(ScalarType::Str) => {
                let text = Self::scalar_text(node);
                if !is_expr_assigned(text) {
                    self.err(
                        node.span,
                        format!(
                            "expecting a single ${{{{...}}}} expression or {what}, but found plain text node"
                        ),
                    );
                    return None;
                }
                let t = self.make_tstr(node, text.to_owned());
                return Some(Spanned::new(ExprOr::Expr(t), node.span));
            }
            _ => {
                self.err(
                    node.span,
                    format!(
                        "expected scalar node for {what} but found {} node with \"{}\" tag",
                        node_kind_name(node),
                        tag_name(node)
                    ),
                );
                return None;
            }
        };
        Some(Spanned::new(ExprOr::Value(value), node.span))
    }

    fn timeout(&mut self, node: &Node, key: &str) -> Option<Spanned<ExprOr<f64>>> {
        let v = self.number_or_expr(node, "float number literal")?;
        if let ExprOr::Value(f) = v.value {
            if f <= 0.0 {
                self.err(
                    node.span,
                    format!("value at \"{key}\" must be greater than zero: {f}"),
                );
            }
        }
        Some(v)
    }

    fn value(&mut self, node: &Node) -> Value {
        let kind = match &node.kind {
            NodeKind::Scalar { .. } => match node.scalar_type() {
                Some(ScalarType::Null) => ValueKind::Null,
                Some(ScalarType::Bool(b)) => ValueKind::Bool(b),
                Some(ScalarType::Int(i)) => ValueKind::Number(i as f64),
                Some(ScalarType::Float(f)) => ValueKind::Number(f),
                _ => ValueKind::String(self.make_tstr(node, Self::scalar_text(node).to_owned())),
            },
            NodeKind::Seq(items) => ValueKind::Seq(items.iter().map(|n| self.value(n)).collect()),
            NodeKind::Map(_) => {
                let entries = self.entries(node, &"matrix row value", true, false);
                ValueKind::Map(
                    entries
                        .iter()
                        .map(|e| (e.key_str(), self.value(e.val)))
                        .collect(),
                )
            }
        };
        Value {
            kind,
            span: node.span,
        }
    }

    /// `env:`-like section: mapping of names to strings, or one `${{ }}`.
    fn vars(&mut self, node: &Node, sec: &str, allow_empty: bool) -> Option<Vars> {
        if let NodeKind::Scalar { .. } = node.kind {
            if allow_empty && node.is_null() {
                return Some(Vars {
                    span: node.span,
                    entries: IndexMap::new(),
                    expr: None,
                });
            }
            let text = Self::scalar_text(node);
            if !is_expr_assigned(text) {
                self.err(
                    node.span,
                    format!(
                        "expecting a single ${{{{...}}}} expression or mapping value for \"{sec}\" section, but found plain text node"
                    ),
                );
                return None;
            }
            let t = self.make_tstr(node, text.to_owned());
            return Some(Vars {
                span: node.span,
                entries: IndexMap::new(),
                expr: Some(t),
            });
        }
        self.mapping_vars(node, sec)
    }

    /// A mapping of names to strings (no whole-value expression allowed).
    fn mapping_vars(&mut self, node: &Node, sec: &str) -> Option<Vars> {
        let entries = self.section(node, sec, false, false);
        let mut vars = IndexMap::with_capacity(entries.len());
        for e in entries {
            let Some(value) = self.tstr(e.val, true) else {
                continue;
            };
            vars.insert(
                e.key.to_owned(),
                Var {
                    name: e.key_str(),
                    value,
                },
            );
        }
        Some(Vars {
            span: node.span,
            entries: vars,
            expr: None,
        })
    }

    fn str_list(&mut self, node: &Node, sec: &str, allow_empty: bool) -> Option<StrList> {
        match &node.kind {
            NodeKind::Scalar { .. } => {
                if allow_empty && node.is_null() {
                    return Some(StrList {
                        span: node.span,
                        items: Vec::new(),
                        single: true,
                    });
                }
                let s = self.str_(node, false)?;
                Some(StrList {
                    span: node.span,
                    items: vec![s],
                    single: true,
                })
            }
            NodeKind::Seq(items) => {
                if items.is_empty() && !allow_empty {
                    self.err(node.span, format!("\"{sec}\" section should not be empty"));
                }
                let items = items.iter().filter_map(|n| self.str_(n, false)).collect();
                Some(StrList {
                    span: node.span,
                    items,
                    single: false,
                })
            }
            NodeKind::Map(_) => {
                self.err(
                    node.span,
                    format!("\"{sec}\" section must be sequence node but got mapping node with \"!!map\" tag"),
                );
                None
            }
        }
    }

    fn tstr_seq(&mut self, node: &Node, sec: &str) -> Option<Spanned<Vec<TStr>>> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let items = items.iter().filter_map(|n| self.tstr(n, false)).collect();
                Some(Spanned::new(items, node.span))
            }
            _ if node.is_null() => Some(Spanned::new(Vec::new(), node.span)),
            _ => {
                self.err(
                    node.span,
                    format!(
                        "\"{sec}\" section must be sequence node but got {} node with \"{}\" tag",
                        node_kind_name(node),
                        tag_name(node)
                    ),
                );
                None
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Workflow

    fn workflow(&mut self, root: &Node, w: &mut Workflow) {
        w.span = root.span;
        if root.is_null() {
            self.err(root.span.with_line1(), "workflow is empty");
            return;
        }
        let entries = self.entries(root, &"workflow", false, true);
        if entries.is_empty() {
            return;
        }
        let mut saw_on = false;
        let mut saw_jobs = false;
        for e in &entries {
            let v = e.val;
            match e.key {
                "name" => {
                    // GitHub does not evaluate the workflow name (`run-name` is for that).
                    if v.as_scalar().is_some_and(|t| t.contains("${{")) {
                        self.diags.push(Diagnostic::error(
                            "expression",
                            v.span,
                            "a template expression is not allowed in this context; use \"run-name\" for a name computed per run",
                        ));
                    }
                    w.name = self.tstr(v, true);
                }
                "description" => w.description = self.tstr(v, true),
                "run-name" => w.run_name = self.tstr(v, false),
                "on" => {
                    saw_on = true;
                    w.on = self.on(v);
                }
                "permissions" => w.permissions = self.permissions(v),
                "env" => w.env = self.vars(v, "env", false),
                "defaults" => w.defaults = self.defaults(v),
                "concurrency" => w.concurrency = self.concurrency(e, v),
                "jobs" => {
                    saw_jobs = true;
                    w.jobs_span = Some(v.span);
                    self.jobs(v, &mut w.jobs);
                }
                _ => self.unexpected_key(e, "workflow", WORKFLOW_KEYS),
            }
        }
        if !saw_on {
            self.err(root.span, "\"on\" section is missing in workflow");
        }
        if !saw_jobs {
            self.err(root.span, "\"jobs\" section is missing in workflow");
        }
    }

    fn on(&mut self, node: &Node) -> Option<On> {
        match &node.kind {
            NodeKind::Scalar { .. } => {
                let name = self.str_no_expr(node, false)?;
                if name.value.is_empty() {
                    return None;
                }
                if name.value == "schedule" {
                    self.err(node.span, "schedule event must be configured with mapping");
                }
                let event = Event {
                    span: node.span,
                    name,
                    config: EventConfig::None,
                };
                Some(On {
                    span: node.span,
                    form: OnForm::String,
                    events: vec![event],
                })
            }
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    self.err(node.span, "\"on\" section should not be empty");
                }
                let mut events = Vec::with_capacity(items.len());
                for item in items {
                    let Some(name) = self.str_no_expr(item, false) else {
                        continue;
                    };
                    if name.value == "schedule" {
                        self.err(
                            item.span,
                            format!(
                                "\"{}\" event should not be listed in sequence. Use mapping for \"on\" section and configure the event as values of the mapping",
                                name.value
                            ),
                        );
                        continue;
                    }
                    events.push(Event {
                        span: item.span,
                        name,
                        config: EventConfig::None,
                    });
                }
                Some(On {
                    span: node.span,
                    form: OnForm::Seq,
                    events,
                })
            }
            NodeKind::Map(_) => {
                let entries = self.section(node, "on", false, true);
                let mut events = Vec::with_capacity(entries.len());
                for e in &entries {
                    if e.key.contains("${{") {
                        self.diags.push(Diagnostic::error(
                            "expression",
                            e.key_node.span,
                            "a template expression is not allowed in this context",
                        ));
                        continue;
                    }
                    let name = e.key_str();
                    let v = e.val;
                    let config = match e.key {
                        "schedule" => match self.schedule(v) {
                            Some(crons) => EventConfig::Schedule(crons),
                            None => continue,
                        },
                        "workflow_dispatch" => {
                            EventConfig::WorkflowDispatch(self.workflow_dispatch(v))
                        }
                        "workflow_call" => EventConfig::WorkflowCall(self.workflow_call(v)),
                        _ => {
                            if v.is_null() {
                                EventConfig::None
                            } else {
                                EventConfig::Filters(self.filters(e.key, v))
                            }
                        }
                    };
                    events.push(Event {
                        span: v.span,
                        name,
                        config,
                    });
                }
                Some(On {
                    span: node.span,
                    form: OnForm::Map,
                    events,
                })
            }
        }
    }

    fn schedule(&mut self, node: &Node) -> Option<Vec<Cron>> {
        let Some(items) = node.as_seq() else {
            self.err(
                node.span,
                format!(
                    "\"schedule\" section must be sequence node but got {} node with \"{}\" tag",
                    node_kind_name(node),
                    tag_name(node)
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.err(node.span, "\"schedule\" section should not be empty");
        }
        let mut crons = Vec::with_capacity(items.len());
        for item in items {
            let entries = self.entries(item, &"element of \"schedule\" section", false, true);
            let mut cron = Cron {
                span: item.span,
                cron: None,
                timezone: None,
            };
            for e in &entries {
                match e.key {
                    "cron" => cron.cron = self.str_(e.val, false),
                    "timezone" => cron.timezone = self.str_(e.val, false),
                    _ => self.unexpected_key(e, "schedule", &["cron", "timezone"]),
                }
            }
            if cron.cron.is_none() && !entries.is_empty() {
                self.err(
                    item.span,
                    "element of \"schedule\" section must be mapping and must contain one key \"cron\"",
                );
            }
            crons.push(cron);
        }
        Some(crons)
    }

    fn filters(&mut self, event: &str, node: &Node) -> EventFilters {
        let mut f = EventFilters::default();
        for e in self.section(node, event, true, true) {
            let v = e.val;
            let slot = match e.key {
                "types" => &mut f.types,
                "branches" => &mut f.branches,
                "branches-ignore" => &mut f.branches_ignore,
                "tags" => &mut f.tags,
                "tags-ignore" => &mut f.tags_ignore,
                "paths" => &mut f.paths,
                "paths-ignore" => &mut f.paths_ignore,
                "workflows" => &mut f.workflows,
                "names" => &mut f.names,
                "versions" => &mut f.versions,
                _ => {
                    self.unexpected_key(&e, event, &FILTER_KEYS[..8]);
                    f.unknown.push(e.key_str());
                    continue;
                }
            };
            *slot = self.str_list(v, e.key, false);
        }
        f
    }

    fn workflow_dispatch(&mut self, node: &Node) -> WorkflowDispatch {
        let mut d = WorkflowDispatch::default();
        for e in self.section(node, "workflow_dispatch", true, true) {
            if e.key != "inputs" {
                self.unexpected_key(&e, "workflow_dispatch", &["inputs"]);
                continue;
            }
            d.inputs_span = Some(e.val.span);
            for input in self.section(e.val, "inputs", true, false) {
                let mut i = Input {
                    name: input.key_str(),
                    span: input.val.span,
                    description: None,
                    type_: None,
                    required: None,
                    required_expr: None,
                    default: None,
                    options: None,
                };
                for attr in self.entries(
                    input.val,
                    &"input settings of workflow_dispatch event",
                    true,
                    true,
                ) {
                    let v = attr.val;
                    match attr.key {
                        "description" => i.description = self.tstr(v, true),
                        "required" => {
                            let (value, expr) = self.bool_or_expr_split(v);
                            i.required = value;
                            i.required_expr = expr;
                        }
                        "default" => i.default = Some(self.value(v)),
                        "type" => {
                            if let Some(t) = self.str_(v, false) {
                                if InputType::parse(&t.value).is_none() {
                                    self.err(
                                        v.span,
                                        format!(
                                            "input type of workflow_dispatch event must be one of \"string\", \"number\", \"boolean\", \"choice\", \"environment\" but got \"{}\"",
                                            t.value
                                        ),
                                    );
                                }
                                i.type_ = Some(t);
                            }
                        }
                        "options" => {
                            if let Some(list) = self.str_list(v, "options", false) {
                                i.options = Some(Spanned::new(list.items, list.span));
                            }
                        }
                        _ => self.unexpected_key(
                            &attr,
                            "inputs",
                            &["description", "required", "default", "type", "options"],
                        ),
                    }
                }
                d.inputs.insert(input.key.to_owned(), i);
            }
        }
        d
    }

    fn workflow_call(&mut self, node: &Node) -> WorkflowCall {
        let mut c = WorkflowCall::default();
        for e in self.section(node, "workflow_call", true, true) {
            match e.key {
                "inputs" => {
                    c.inputs_span = Some(e.val.span);
                    for input in self.section(e.val, "inputs", true, false) {
                        let mut saw_type = false;
                        let mut i = Input {
                            name: input.key_str(),
                            span: input.val.span,
                            description: None,
                            type_: None,
                            required: None,
                            required_expr: None,
                            default: None,
                            options: None,
                        };
                        for attr in
                            self.entries(input.val, &"input of workflow_call event", true, true)
                        {
                            let v = attr.val;
                            match attr.key {
                                "description" => i.description = self.tstr(v, true),
                                "required" => {
                                    let (value, expr) = self.bool_or_expr_split(v);
                                    i.required = value;
                                    i.required_expr = expr;
                                }
                                "default" => i.default = Some(self.value(v)),
                                "type" => {
                                    saw_type = true;
                                    if v.is_null() {
                                        continue;
                                    }
                                    if let Some(t) = self.str_(v, false) {
                                        if !matches!(
                                            t.value.as_str(),
                                            "boolean" | "number" | "string"
                                        ) {
                                            self.err(
                                                v.span,
                                                format!(
                                                    "invalid value \"{}\" for input type of workflow_call event. it must be one of \"boolean\", \"number\", or \"string\"",
                                                    t.value
                                                ),
                                            );
                                        }
                                        i.type_ = Some(t);
                                    }
                                }
                                _ => self.unexpected_key(
                                    &attr,
                                    "inputs at workflow_call event",
                                    &["description", "required", "default", "type"],
                                ),
                            }
                        }
                        if !saw_type {
                            self.err(
                                input.key_node.span,
                                format!(
                                    "\"type\" is missing at \"{}\" input of workflow_call event",
                                    input.key
                                ),
                            );
                        }
                        c.inputs.insert(input.key.to_owned(), i);
                    }
                }
                "secrets" => {
                    c.secrets_span = Some(e.val.span);
                    for s in self.section(e.val, "secrets", true, false) {
                        let mut secret = CallSecret {
                            name: s.key_str(),
                            span: s.val.span,
                            description: None,
                            required: None,
                        };
                        for attr in
                            self.entries(s.val, &"secret of workflow_call event", true, true)
                        {
                            match attr.key {
                                "description" => secret.description = self.tstr(attr.val, true),
                                "required" => secret.required = self.plain_bool(attr.val),
                                _ => self.unexpected_key(
                                    &attr,
                                    "secrets",
                                    &["description", "required"],
                                ),
                            }
                        }
                        c.secrets.insert(s.key.to_owned(), secret);
                    }
                }
                "outputs" => {
                    c.outputs_span = Some(e.val.span);
                    for o in self.section(e.val, "outputs", true, false) {
                        let mut out = CallOutput {
                            name: o.key_str(),
                            span: o.val.span,
                            description: None,
                            value: None,
                        };
                        for attr in
                            self.entries(o.val, &"output of workflow_call event", true, true)
                        {
                            match attr.key {
                                "description" => out.description = self.tstr(attr.val, true),
                                "value" => out.value = self.tstr(attr.val, false),
                                _ => self.unexpected_key(
                                    &attr,
                                    "outputs at workflow_call event",
                                    &["description", "value"],
                                ),
                            }
                        }
                        if out.value.is_none() {
                            self.err(
                                o.key_node.span,
                                format!(
                                    "\"value\" is missing at \"{}\" output of workflow_call event",
                                    o.key
                                ),
                            );
                        }
                        c.outputs.insert(o.key.to_owned(), out);
                    }
                }
                _ => self.unexpected_key(&e, "workflow_call", &["inputs", "secrets", "outputs"]),
            }
        }
        c
    }

    fn permissions(&mut self, node: &Node) -> Option<Permissions> {
        if let NodeKind::Scalar { .. } = node.kind {
            let s = self.str_(node, false)?;
            return Some(Permissions {
                span: node.span,
                kind: PermissionsKind::Shorthand(s),
            });
        }
        let entries = self.section(node, "permissions", true, false);
        let mut list = Vec::with_capacity(entries.len());
        for e in entries {
            let Some(level) = self.str_(e.val, false) else {
                continue;
            };
            list.push(Permission {
                scope: e.key_str(),
                level,
            });
        }
        Some(Permissions {
            span: node.span,
            kind: PermissionsKind::Map(list),
        })
    }

    fn defaults(&mut self, node: &Node) -> Option<Defaults> {
        let mut d = Defaults {
            span: node.span,
            run: None,
        };
        for e in self.section(node, "defaults", false, true) {
            if e.key != "run" {
                self.unexpected_key(&e, "defaults", &["run"]);
                continue;
            }
            let mut run = DefaultsRun {
                span: e.val.span,
                shell: None,
                working_directory: None,
            };
            for attr in self.section(e.val, "run", false, true) {
                match attr.key {
                    "shell" => run.shell = self.tstr(attr.val, false),
                    "working-directory" => run.working_directory = self.tstr(attr.val, false),
                    _ => self.unexpected_key(&attr, "run", &["shell", "working-directory"]),
                }
            }
            d.run = Some(run);
        }
        if d.run.is_none() {
            self.err(
                node.span,
                "\"defaults\" section should have \"run\" section",
            );
        }
        Some(d)
    }

    fn concurrency(&mut self, key: &Entry<'_>, node: &Node) -> Option<Concurrency> {
        let mut c = Concurrency {
            span: node.span,
            group: None,
            cancel_in_progress: None,
            queue: None,
            short_form: false,
        };
        if let NodeKind::Scalar { .. } = node.kind {
            c.group = self.tstr(node, false);
            c.short_form = true;
            return Some(c);
        }
        let entries = self.section(node, "concurrency", false, true);
        for e in &entries {
            match e.key {
                "group" => c.group = self.tstr(e.val, false),
                "cancel-in-progress" => c.cancel_in_progress = self.bool_or_expr(e.val),
                "queue" => c.queue = self.str_(e.val, false),
                _ => {
                    self.unexpected_key(e, "concurrency", &["group", "cancel-in-progress", "queue"])
                }
            }
        }
        if c.group.is_none() && !entries.is_empty() {
            self.err(
                key.key_node.span,
                "group name is missing in \"concurrency\" section",
            );
        }
        Some(c)
    }

    fn jobs(&mut self, node: &Node, jobs: &mut IndexMap<String, Job>) {
        if let NodeKind::Scalar { .. } = node.kind {
            if Self::scalar_text(node).contains("${{") {
                self.diags.push(Diagnostic::error(
                    "expression",
                    node.span,
                    "a template expression is not allowed in this context",
                ));
                return;
            }
        }
        let entries = self.section(node, "jobs", false, false);
        jobs.reserve(entries.len());
        for e in &entries {
            if e.key.contains("${{") {
                self.diags.push(Diagnostic::error(
                    "expression",
                    e.key_node.span,
                    "a template expression is not allowed in this context",
                ));
            } else if let Some(problem) = id_problem(e.key) {
                self.diags.push(Diagnostic::error(
                    "id",
                    e.key_node.span,
                    format!("invalid job ID \"{}\". job ID {problem}", e.key),
                ));
            }
            let job = self.job(e);
            jobs.insert(e.key.to_owned(), job);
        }
    }

    fn job(&mut self, entry: &Entry<'_>) -> Job {
        let id = entry.key_str();
        let node = entry.val;
        let mut job = Job::new(id, node.span);
        let mut steps_only_key: Option<&str> = None;
        let mut steps_only_span = Span::default();
        let mut call_only_key: Option<&str> = None;
        let mut call_only_span = Span::default();
        let entries = self.entries(node, &format_args!("\"{}\" job", entry.key), false, true);
        let mut saw_steps = false;
        let mut saw_runs_on = false;
        for e in &entries {
            let v = e.val;
            let mut steps_only = false;
            let mut call_only = false;
            match e.key {
                "name" => job.name = self.tstr(v, true),
                "needs" => job.needs = self.str_list(v, "needs", false),
                "runs-on" => {
                    saw_runs_on = true;
                    job.runs_on = self.runs_on(v);
                    steps_only = true;
                }
                "permissions" => job.permissions = self.permissions(v),
                "environment" => {
                    job.environment = self.environment(e, v);
                    steps_only = true;
                }
                "concurrency" => job.concurrency = self.concurrency(e, v),
                "outputs" => {
                    job.outputs = self.vars(v, "outputs", false);
                    steps_only = true;
                }
                "env" => {
                    job.env = self.vars(v, "env", false);
                    steps_only = true;
                }
                "defaults" => {
                    job.defaults = self.defaults(v);
                    steps_only = true;
                }
                "if" => job.if_ = self.condition(v),
                "steps" => {
                    job.steps = self.steps(v, false);
                    saw_steps = job.steps.is_some();
                    steps_only = true;
                }
                "timeout-minutes" => {
                    job.timeout_minutes = self.timeout(v, "timeout-minutes");
                    steps_only = true;
                }
                "cancel-timeout-minutes" => {
                    job.cancel_timeout_minutes = self.timeout(v, "cancel-timeout-minutes");
                    steps_only = true;
                }
                "strategy" => job.strategy = self.strategy(v),
                "continue-on-error" => {
                    job.continue_on_error = self.bool_or_expr(v);
                    steps_only = true;
                }
                "container" => {
                    job.container = self.container(e.key_node.span, v, "container", CONTAINER_KEYS);
                    steps_only = true;
                }
                "services" => {
                    job.services = self.services(v);
                    steps_only = true;
                }
                "snapshot" => {
                    job.snapshot = self.snapshot(e.key_node.span, v);
                    steps_only = true;
                }
                "uses" => {
                    job.uses = self.str_(v, false);
                    call_only = true;
                }
                "with" => {
                    job.with = self.call_with(v);
                    call_only = true;
                }
                "secrets" => {
                    job.secrets = self.job_secrets(v);
                    call_only = true;
                }
                _ => self.unexpected_key(e, "job", &JOB_KEYS[..JOB_KEYS.len()]),
            }
            if steps_only {
                steps_only_key = Some(e.key);
                steps_only_span = e.key_node.span;
            }
            if call_only {
                call_only_key = Some(e.key);
                call_only_span = e.key_node.span;
            }
        }
        if entries.is_empty() {
            return job;
        }
        let id_span = entry.key_node.span;
        if job.uses.is_some() {
            if let Some(key) = steps_only_key {
                self.err(
                    steps_only_span,
                    format!(
                        "when a reusable workflow is called with \"uses\", \"{key}\" is not available. only following keys are allowed: \"name\", \"uses\", \"with\", \"secrets\", \"needs\", \"if\", and \"permissions\" in job \"{}\"",
                        entry.key
                    ),
                );
            }
        } else {
            if !saw_steps {
                self.err(
                    id_span,
                    format!("\"steps\" section is missing in job \"{}\"", entry.key),
                );
            }
            if !saw_runs_on {
                self.err(
                    id_span,
                    format!("\"runs-on\" section is missing in job \"{}\"", entry.key),
                );
            }
            if let Some(key) = call_only_key {
                self.err(
                    call_only_span,
                    format!(
                        "\"{key}\" is only available for a reusable workflow call with \"uses\" but \"uses\" is not found in job \"{}\"",
                        entry.key
                    ),
                );
            }
        }
        job
    }

    fn runs_on(&mut self, node: &Node) -> Option<RunsOn> {
        match &node.kind {
            NodeKind::Scalar { .. } => {
                let label = self.tstr(node, false)?;
                Some(RunsOn {
                    span: node.span,
                    form: RunsOnForm::String,
                    labels: vec![label],
                    group: None,
                })
            }
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    self.err(node.span, "\"runs-on\" section should not be empty");
                }
                let labels = items.iter().filter_map(|n| self.tstr(n, false)).collect();
                Some(RunsOn {
                    span: node.span,
                    form: RunsOnForm::Seq,
                    labels,
                    group: None,
                })
            }
            NodeKind::Map(_) => {
                let mut r = RunsOn {
                    span: node.span,
                    form: RunsOnForm::Map,
                    labels: Vec::new(),
                    group: None,
                };
                for e in self.section(node, "runs-on", false, true) {
                    match e.key {
                        "labels" => match &e.val.kind {
                            NodeKind::Seq(items) => {
                                if items.is_empty() {
                                    self.err(e.val.span, "\"labels\" section should not be empty");
                                }
                                r.labels =
                                    items.iter().filter_map(|n| self.tstr(n, false)).collect();
                            }
                            _ => {
                                if let Some(t) = self.tstr(e.val, false) {
                                    r.labels.push(t);
                                }
                            }
                        },
                        "group" => r.group = self.tstr(e.val, false),
                        _ => self.unexpected_key(&e, "runs-on", &["labels", "group"]),
                    }
                }
                Some(r)
            }
        }
    }

    fn environment(&mut self, key: &Entry<'_>, node: &Node) -> Option<Environment> {
        let mut env = Environment {
            span: node.span,
            name: None,
            url: None,
            deployment: None,
        };
        if let NodeKind::Scalar { .. } = node.kind {
            env.name = self.tstr(node, true);
            return Some(env);
        }
        let entries = self.section(node, "environment", false, true);
        for e in &entries {
            match e.key {
                "name" => env.name = self.tstr(e.val, false),
                "url" => env.url = self.tstr(e.val, false),
                "deployment" => env.deployment = self.bool_or_expr(e.val),
                _ => self.unexpected_key(e, "environment", &["name", "url", "deployment"]),
            }
        }
        if env.name.is_none() && !entries.is_empty() {
            self.err(
                key.key_node.span,
                "name is missing in \"environment\" section",
            );
        }
        Some(env)
    }

    fn strategy(&mut self, node: &Node) -> Option<Strategy> {
        let mut s = Strategy {
            span: node.span,
            matrix: None,
            fail_fast: None,
            max_parallel: None,
        };
        for e in self.section(node, "strategy", false, true) {
            match e.key {
                "matrix" => s.matrix = self.matrix(e.val),
                "fail-fast" => s.fail_fast = self.bool_or_expr(e.val),
                "max-parallel" => {
                    if let Some(ScalarType::Float(_)) = e.val.scalar_type() {
                        self.err(
                            e.val.span,
                            "expected scalar node for integer value but found scalar node with \"!!float\" tag",
                        );
                        continue;
                    }
                    s.max_parallel = self.number_or_expr(e.val, "integer literal");
                    if let Some(Spanned {
                        value: ExprOr::Value(n),
                        ..
                    }) = &s.max_parallel
                    {
                        if *n <= 0.0 {
                            self.err(
                                e.val.span,
                                format!("value at \"max-parallel\" must be greater than zero: {n}"),
                            );
                        }
                    }
                }
                _ => self.unexpected_key(&e, "strategy", &["matrix", "fail-fast", "max-parallel"]),
            }
        }
        Some(s)
    }

    fn expr_only(&mut self, node: &Node, expecting: &str) -> Option<TStr> {
        let text = Self::scalar_text(node);
        if !is_expr_assigned(text) {
            self.err(
                node.span,
                format!("expecting a single ${{{{...}}}} expression or {expecting}, but found plain text node"),
            );
            return None;
        }
        Some(self.make_tstr(node, text.to_owned()))
    }

    fn matrix(&mut self, node: &Node) -> Option<Matrix> {
        let mut m = Matrix {
            span: node.span,
            expr: None,
            axes: IndexMap::new(),
            include: None,
            exclude: None,
        };
        if let NodeKind::Scalar { .. } = node.kind {
            if !node.is_null() {
                m.expr = Some(self.expr_only(node, "matrix")?);
                return Some(m);
            }
        }
        for e in self.section(node, "matrix", false, false) {
            let v = e.val;
            match e.key {
                "include" | "exclude" => {
                    let rows = self.matrix_rows(v, e.key);
                    if e.key == "include" {
                        m.include = rows;
                    } else {
                        m.exclude = rows;
                    }
                }
                _ => {
                    let values = match &v.kind {
                        NodeKind::Scalar { .. } => {
                            match self.expr_only(v, "array value for matrix variations") {
                                Some(t) => ExprOr::Expr(t),
                                None => continue,
                            }
                        }
                        NodeKind::Seq(items) => {
                            if items.is_empty() {
                                self.err(v.span, "\"matrix values\" section should not be empty");
                            }
                            ExprOr::Value(items.iter().map(|n| self.value(n)).collect())
                        }
                        NodeKind::Map(_) => {
                            self.err(
                                v.span,
                                "\"matrix values\" section must be sequence node but got mapping node with \"!!map\" tag",
                            );
                            continue;
                        }
                    };
                    m.axes.insert(
                        e.key.to_owned(),
                        MatrixAxis {
                            name: e.key_str(),
                            span: v.span,
                            values,
                        },
                    );
                }
            }
        }
        Some(m)
    }

    fn matrix_rows(&mut self, node: &Node, sec: &str) -> Option<MatrixRows> {
        match &node.kind {
            NodeKind::Scalar { .. } => {
                let t = self.expr_only(node, "array of matrix combination")?;
                Some(MatrixRows {
                    span: node.span,
                    rows: ExprOr::Expr(t),
                })
            }
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    self.err(node.span, format!("\"{sec}\" section should not be empty"));
                }
                let mut rows = Vec::with_capacity(items.len());
                for item in items {
                    match &item.kind {
                        NodeKind::Scalar { .. } => {
                            if let Some(t) = self.expr_only(item, "mapping of matrix combination") {
                                rows.push(Value {
                                    kind: ValueKind::String(t),
                                    span: item.span,
                                });
                            }
                        }
                        NodeKind::Map(_) => {
                            let entries = self.entries(
                                item,
                                &format_args!("element in \"{sec}\" section"),
                                false,
                                false,
                            );
                            let pairs = entries
                                .iter()
                                .map(|e| (e.key_str(), self.value(e.val)))
                                .collect();
                            rows.push(Value {
                                kind: ValueKind::Map(pairs),
                                span: item.span,
                            });
                        }
                        NodeKind::Seq(_) => {
                            self.err(
                                item.span,
                                format!("element in \"{sec}\" section is sequence node but mapping node is expected"),
                            );
                        }
                    }
                }
                Some(MatrixRows {
                    span: node.span,
                    rows: ExprOr::Value(rows),
                })
            }
            NodeKind::Map(_) => {
                self.err(
                    node.span,
                    format!("\"{sec}\" section must be sequence node but got mapping node with \"!!map\" tag"),
                );
                None
            }
        }
    }

    /// `key` is the span of the `container:` key or of the service id, where "image is missing"
    /// is reported.
    fn container(&mut self, key: Span, node: &Node, sec: &str, keys: &[&str]) -> Option<Container> {
        let mut c = Container {
            span: node.span,
            image: None,
            credentials: None,
            env: None,
            ports: None,
            volumes: None,
            options: None,
            entrypoint: None,
            command: None,
            short_form: false,
        };
        if let NodeKind::Scalar { value, .. } = &node.kind {
            if node.is_null() && !value.is_empty() {
                return None; // `container: null`
            }
            c.image = self.tstr(node, false);
            c.short_form = true;
            return Some(c);
        }
        let entries = self.section(node, sec, false, true);
        if matches!(node.kind, NodeKind::Map(_)) && !entries.iter().any(|e| e.key == "image") {
            self.err(key, format!("\"image\" is missing in \"{sec}\" section"));
        }
        for e in entries {
            let v = e.val;
            match e.key {
                "image" => c.image = self.tstr(v, false),
                "credentials" => {
                    let mut cred = Credentials {
                        span: v.span,
                        expr: None,
                        username: None,
                        password: None,
                    };
                    if let NodeKind::Scalar { .. } = v.kind {
                        if is_expr_assigned(Self::scalar_text(v)) {
                            cred.expr = Some(self.make_tstr(v, Self::scalar_text(v).to_owned()));
                            c.credentials = Some(cred);
                            continue;
                        }
                    }
                    for attr in self.section(v, "credentials", false, true) {
                        match attr.key {
                            "username" => cred.username = self.tstr(attr.val, false),
                            "password" => cred.password = self.tstr(attr.val, false),
                            _ => {
                                self.unexpected_key(&attr, "credentials", &["username", "password"])
                            }
                        }
                    }
                    if cred.username.is_none() || cred.password.is_none() {
                        self.err(
                            e.key_node.span,
                            "both \"username\" and \"password\" must be specified in \"credentials\" section",
                        );
                    }
                    c.credentials = Some(cred);
                }
                "env" => c.env = self.vars(v, "env", false),
                "ports" => c.ports = self.tstr_seq(v, "ports"),
                "volumes" => c.volumes = self.tstr_seq(v, "volumes"),
                "options" => c.options = self.tstr(v, true),
                "entrypoint" if keys.contains(&"entrypoint") => c.entrypoint = self.tstr(v, false),
                "command" if keys.contains(&"command") => c.command = self.tstr(v, true),
                _ => self.unexpected_key(&e, sec, keys),
            }
        }
        Some(c)
    }

    fn services(&mut self, node: &Node) -> Option<Services> {
        if let NodeKind::Scalar { .. } = node.kind {
            if !node.is_null() {
                let expr = self.expr_only(node, "mapping for \"services\" section")?;
                return Some(Services {
                    span: node.span,
                    expr: Some(expr),
                    entries: IndexMap::new(),
                });
            }
        }
        let entries = self.section(node, "services", false, false);
        let mut map = IndexMap::with_capacity(entries.len());
        for e in entries {
            let Some(container) = self.container(e.key_node.span, e.val, "services", SERVICE_KEYS)
            else {
                continue;
            };
            map.insert(
                e.key.to_owned(),
                Service {
                    id: e.key_str(),
                    container,
                },
            );
        }
        Some(Services {
            span: node.span,
            expr: None,
            entries: map,
        })
    }

    fn snapshot(&mut self, key: Span, node: &Node) -> Option<Snapshot> {
        let mut s = Snapshot {
            span: node.span,
            image_name: None,
            version: None,
            if_: None,
        };
        match node.kind {
            NodeKind::Scalar { .. } => {
                s.image_name = self.tstr(node, false);
                return Some(s);
            }
            NodeKind::Seq(_) => {
                self.err(
                    node.span,
                    "\"snapshot\" section value must be string or mapping but found sequence node",
                );
                return None;
            }
            NodeKind::Map(_) => {}
        }
        let entries = self.section(node, "snapshot", false, true);
        if !entries.iter().any(|e| e.key == "image-name") {
            self.err(
                key,
                "\"snapshot\" section must have \"image-name\" configuration",
            );
        }
        for e in entries {
            match e.key {
                "image-name" => s.image_name = self.tstr(e.val, false),
                "version" => s.version = self.tstr(e.val, false),
                "if" => s.if_ = self.condition(e.val),
                _ => self.unexpected_key(&e, "snapshot", &["image-name", "version", "if"]),
            }
        }
        Some(s)
    }

    fn call_with(&mut self, node: &Node) -> Option<CallWith> {
        let entries = self.section(node, "with", false, false);
        let mut map = IndexMap::with_capacity(entries.len());
        for e in entries {
            if !self.check_scalar(e.val) {
                continue;
            }
            let value = self.value(e.val);
            map.insert(
                e.key.to_owned(),
                CallArg {
                    name: e.key_str(),
                    value,
                },
            );
        }
        Some(CallWith {
            span: node.span,
            entries: map,
        })
    }

    fn job_secrets(&mut self, node: &Node) -> Option<JobSecrets> {
        if let NodeKind::Scalar { .. } = node.kind {
            if !node.is_null() {
                let text = Self::scalar_text(node);
                if text == "inherit" {
                    return Some(JobSecrets::Inherit(node.span));
                }
                self.err(
                    node.span,
                    format!("expected mapping node for secrets or \"inherit\" string node but found \"{text}\" node"),
                );
                return None;
            }
        }
        self.vars(node, "secrets", false).map(JobSecrets::Map)
    }

    // -----------------------------------------------------------------------------------------
    // Steps

    fn steps(&mut self, node: &Node, composite: bool) -> Option<Steps> {
        let Some(items) = node.as_seq() else {
            self.err(
                node.span,
                format!(
                    "\"steps\" section must be sequence node but got {} node with \"{}\" tag",
                    node_kind_name(node),
                    tag_name(node)
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.err(node.span, "\"steps\" section should not be empty");
        }
        let mut steps = Vec::with_capacity(items.len());
        for item in items {
            steps.push(self.step(item, composite));
        }
        self.check_step_ids(&steps);
        Some(Steps {
            span: node.span,
            items: steps,
        })
    }

    fn check_step_ids(&mut self, steps: &[Step]) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for step in steps {
            let Some(id) = &step.id else { continue };
            if id.value.contains("${{") {
                continue;
            }
            let lower = id.value.to_ascii_lowercase();
            if let Some(first) = seen.get(&lower) {
                let message = format!(
                    "step ID \"{}\" duplicates. previously defined at line:{},col:{}. step ID must be unique within a job. note that step ID is case insensitive",
                    id.value, first.start.line, first.start.col
                );
                self.diags.push(Diagnostic::error("id", id.span, message));
            } else {
                seen.insert(lower, id.span);
            }
        }
    }

    /// A step. Like actionlint, the last of `uses:` / `run:` decides what the step is; keys
    /// that do not belong to that kind are reported. Steps with neither are reported once.
    fn step(&mut self, node: &Node, composite: bool) -> Step {
        let mut step = Step::new(node.span);
        let entries = self.entries(node, &"element of \"steps\" section", false, true);
        let kind = entries.iter().rev().find_map(|e| match e.key {
            "uses" => Some(StepKind::Action),
            "run" => Some(StepKind::Run),
            _ => None,
        });
        let kind = kind.or_else(|| {
            if composite {
                return None;
            }
            entries.iter().find_map(|e| match e.key {
                "wait" | "wait-all" | "cancel" => Some(StepKind::Control),
                "parallel" => Some(StepKind::Parallel),
                _ => None,
            })
        });
        let allowed: &[&str] = match (kind, composite) {
            (Some(StepKind::Action), false) => ACTION_STEP_KEYS,
            (Some(StepKind::Action), true) => COMPOSITE_ACTION_STEP_KEYS,
            (Some(StepKind::Run), false) => RUN_STEP_KEYS,
            (Some(StepKind::Run), true) => COMPOSITE_RUN_STEP_KEYS,
            (Some(StepKind::Control), _) => CONTROL_STEP_KEYS,
            (Some(StepKind::Parallel), _) => &["parallel"],
            (None, _) => &[],
        };
        let what = match kind {
            Some(StepKind::Action) => "step to execute action",
            Some(StepKind::Run) => "step to run shell command",
            _ => "step",
        };
        for e in &entries {
            let v = e.val;
            if kind.is_some() && !allowed.contains(&e.key) {
                let message = format!(
                    "unexpected key \"{}\" for {what}. expected one of {}",
                    e.key,
                    quoted_list(allowed)
                );
                self.err(e.key_node.span, message);
                continue;
            }
            match e.key {
                "id" => {
                    let id = self.str_(v, false);
                    if let Some(id) = &id {
                        let problem = if id.value.contains("${{") || id.value.is_empty() {
                            None
                        } else {
                            id_problem(&id.value)
                        };
                        if let Some(problem) = problem {
                            self.diags.push(Diagnostic::error(
                                "id",
                                id.span,
                                format!("invalid step ID \"{}\". step ID {problem}", id.value),
                            ));
                        }
                    }
                    step.id = id;
                }
                "if" => step.if_ = self.condition(v),
                "name" => step.name = self.tstr(v, true),
                "env" => step.env = self.vars(v, "env", false),
                "continue-on-error" => step.continue_on_error = self.bool_or_expr(v),
                "timeout-minutes" => step.timeout_minutes = self.timeout(v, "timeout-minutes"),
                "uses" => step.uses = self.tstr(v, false),
                "with" => step.with = self.mapping_vars(v, "with"),
                "run" => step.run = self.tstr(v, false),
                "shell" => step.shell = self.tstr(v, false),
                "working-directory" => step.working_directory = self.tstr(v, false),
                "background" => step.background = self.plain_bool(v),
                "wait" => step.wait = self.str_list(v, "wait", false),
                "wait-all" => {
                    step.wait_all = if v.is_null() {
                        Some(Spanned::new(None, v.span))
                    } else {
                        self.plain_bool(v)
                            .map(|b| Spanned::new(Some(b.value), b.span))
                    };
                }
                "cancel" => step.cancel = self.str_(v, false),
                "parallel" => step.parallel = self.steps(v, false),
                // Without a kind, unknown keys are not reported: the missing run/uses is.
                _ => {}
            }
        }
        if kind.is_none() {
            self.err(
                node.span,
                "step must run script with \"run\" section or run action with \"uses\" section",
            );
        }
        step
    }

    // -----------------------------------------------------------------------------------------
    // action.yml

    fn action(&mut self, root: &Node, a: &mut Action) {
        a.span = root.span;
        let entries = self.entries(root, &"action metadata", false, true);
        if entries.is_empty() {
            return;
        }
        for e in &entries {
            let v = e.val;
            match e.key {
                "name" => a.name = self.tstr(v, true),
                "description" => a.description = self.tstr(v, true),
                "author" => a.author = self.tstr(v, true),
                "inputs" => {
                    a.inputs_span = Some(v.span);
                    for input in self.section(v, "inputs", true, false) {
                        let mut i = ActionInput {
                            name: input.key_str(),
                            span: input.val.span,
                            description: None,
                            required: None,
                            default: None,
                            deprecation_message: None,
                        };
                        for attr in self.entries(input.val, &"input of action", true, true) {
                            match attr.key {
                                "description" => i.description = self.tstr(attr.val, true),
                                "required" => {
                                    if attr.val.as_scalar().is_none() {
                                        self.err(
                                            attr.val.span,
                                            format!(
                                                "expected bool value but found {} node with \"{}\" tag",
                                                node_kind_name(attr.val),
                                                tag_name(attr.val)
                                            ),
                                        );
                                    }
                                    i.required = Some(self.value(attr.val));
                                }
                                "default" => i.default = self.tstr(attr.val, true),
                                "deprecationMessage" => {
                                    i.deprecation_message = self.tstr(attr.val, true)
                                }
                                // The runner's schema accepts any key here and ignores those
                                // it does not read, so this is only a warning (it catches typos
                                // such as `requird: true`, which leave an input optional).
                                _ => self.diags.push(Diagnostic::warning(
                                    "syntax-check",
                                    attr.key_node.span,
                                    format!(
                                        "unexpected key {:?} for definition of input {:?}; GitHub ignores it (known keys: {})",
                                        attr.key,
                                        input.key,
                                        quoted_list(&ACTION_INPUT_KEYS)
                                    ),
                                )),
                            }
                        }
                        a.inputs.insert(input.key.to_owned(), i);
                    }
                }
                "outputs" => {
                    a.outputs_span = Some(v.span);
                    for output in self.section(v, "outputs", true, false) {
                        let mut o = ActionOutput {
                            name: output.key_str(),
                            span: output.val.span,
                            description: None,
                            value: None,
                        };
                        for attr in self.entries(output.val, &"output of action", true, true) {
                            match attr.key {
                                "description" => o.description = self.tstr(attr.val, true),
                                "value" => o.value = self.tstr(attr.val, true),
                                _ => {
                                    self.unexpected_key(&attr, "outputs", &["description", "value"])
                                }
                            }
                        }
                        a.outputs.insert(output.key.to_owned(), o);
                    }
                }
                "runs" => a.runs = self.runs(e, v),
                "branding" => {
                    let mut b = Branding {
                        span: v.span,
                        icon: None,
                        color: None,
                    };
                    for attr in self.section(v, "branding", true, true) {
                        match attr.key {
                            "icon" => b.icon = self.str_(attr.val, false),
                            "color" => b.color = self.str_(attr.val, false),
                            _ => self.unexpected_key(&attr, "branding", &["icon", "color"]),
                        }
                    }
                    a.branding = Some(b);
                }
                _ => {} // the schema leaves top-level keys of action.yml open
            }
        }
        if a.runs.is_none() {
            self.err(root.span, "\"runs\" section is missing in action metadata");
        }
        if let Some(Runs {
            kind: RunsKind::Composite(_),
            ..
        }) = &a.runs
        {
            for o in a.outputs.values() {
                if o.value.is_none() {
                    self.err(
                        o.name.span,
                        format!(
                            "output \"{}\" of composite action must have \"value\"",
                            o.name.value
                        ),
                    );
                }
            }
        }
    }

    fn runs(&mut self, key: &Entry<'_>, node: &Node) -> Option<Runs> {
        let entries = self.section(node, "runs", false, true);
        let using = entries
            .iter()
            .find(|e| e.key == "using")
            .and_then(|e| self.str_(e.val, false));
        let mut runs = Runs {
            span: node.span,
            using: using.clone(),
            kind: RunsKind::Unknown,
        };
        // Without `using:`, the runner treats `steps:` as a composite action and `plugin:` as a
        // plugin action.
        let has = |k: &str| entries.iter().any(|e| e.key == k);
        let u = match &using {
            Some(using) => using.value.as_str(),
            None if has("steps") => "composite",
            None => {
                if !entries.is_empty() && !has("plugin") {
                    self.err(
                        key.key_node.span,
                        "\"using\" is missing in \"runs\" section",
                    );
                }
                return Some(runs);
            }
        };
        if u.starts_with("node") {
            let mut n = NodeRuns::default();
            for e in &entries {
                match e.key {
                    "using" => {}
                    "main" => n.main = self.tstr(e.val, false),
                    "pre" => n.pre = self.tstr(e.val, false),
                    "pre-if" => n.pre_if = self.condition(e.val),
                    "post" => n.post = self.tstr(e.val, false),
                    "post-if" => n.post_if = self.condition(e.val),
                    _ => self.unexpected_key(
                        e,
                        "runs",
                        &["using", "main", "pre", "pre-if", "post", "post-if"],
                    ),
                }
            }
            if n.main.is_none() {
                self.err(
                    key.key_node.span,
                    format!("\"main\" is required in \"runs\" section for \"{u}\" action"),
                );
            }
            runs.kind = RunsKind::Node(n);
        } else if u == "docker" {
            let mut d = DockerRuns::default();
            for e in &entries {
                match e.key {
                    "using" => {}
                    "image" => d.image = self.tstr(e.val, false),
                    "entrypoint" => d.entrypoint = self.tstr(e.val, false),
                    "args" => d.args = self.tstr_seq(e.val, "args"),
                    "env" => d.env = self.vars(e.val, "env", true),
                    "pre-entrypoint" => d.pre_entrypoint = self.tstr(e.val, false),
                    "pre-if" => d.pre_if = self.condition(e.val),
                    "post-entrypoint" => d.post_entrypoint = self.tstr(e.val, false),
                    "post-if" => d.post_if = self.condition(e.val),
                    _ => self.unexpected_key(
                        e,
                        "runs",
                        &[
                            "using",
                            "image",
                            "entrypoint",
                            "args",
                            "env",
                            "pre-entrypoint",
                            "pre-if",
                            "post-entrypoint",
                            "post-if",
                        ],
                    ),
                }
            }
            if d.image.is_none() {
                self.err(
                    key.key_node.span,
                    "\"image\" is required in \"runs\" section for \"docker\" action",
                );
            }
            runs.kind = RunsKind::Docker(d);
        } else if u == "composite" {
            let mut c = CompositeRuns::default();
            for e in &entries {
                match e.key {
                    "using" => {}
                    "steps" => c.steps = self.steps(e.val, true),
                    _ => self.unexpected_key(e, "runs", &["using", "steps"]),
                }
            }
            if c.steps.is_none() {
                self.err(
                    key.key_node.span,
                    "\"steps\" is required in \"runs\" section for \"composite\" action",
                );
            }
            runs.kind = RunsKind::Composite(c);
        }
        // Unknown `using:` values are reported by checks, which know the supported runtimes.
        Some(runs)
    }
}

/// When the template is one `${{ }}` with only whitespace around it: the expression and the
/// byte range of its body inside the text.
fn single_expr_part(
    template: &gantry_expr::Template,
    raw: &str,
) -> Option<(gantry_expr::Expr, std::ops::Range<usize>)> {
    let mut found = None;
    for part in &template.parts {
        match part {
            gantry_expr::TemplatePart::Literal(text) => {
                if !text.trim().is_empty() {
                    return None;
                }
            }
            gantry_expr::TemplatePart::Expr { expr, span } => {
                if found.is_some() {
                    return None;
                }
                let start = (span.start as usize + 3).min(raw.len());
                let end = (span.end as usize).saturating_sub(2).max(start);
                found = Some((expr.clone(), start..end));
            }
        }
    }
    found
}

/// Drift tests: the loader's hand-kept key tables against GitHub's vendored workflow schema
/// (`test_data/languageservices/schema/workflow-v1.0.json`). A key GitHub adds to the schema
/// fails here until the loader knows it.
#[cfg(test)]
mod schema_drift {
    use super::*;

    fn definitions() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../test_data/languageservices/schema/workflow-v1.0.json"
        );
        let text = std::fs::read_to_string(path).expect("vendored schema");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        schema["definitions"].clone()
    }

    /// The sorted property names of the mapping definitions `names`, merged.
    fn keys(defs: &serde_json::Value, names: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = names
            .iter()
            .flat_map(|name| {
                let properties = defs[*name]["mapping"]["properties"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{name} has no mapping properties"));
                properties.keys().cloned().collect::<Vec<_>>()
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn sorted(table: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = table.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn key_tables_match_the_vendored_schema() {
        let defs = definitions();
        let cases: &[(&[&str], &[&str])] = &[
            (WORKFLOW_KEYS, &["workflow-root"]),
            (JOB_KEYS, &["job-factory", "workflow-job"]),
            (ACTION_STEP_KEYS, &["regular-step"]),
            (RUN_STEP_KEYS, &["run-step"]),
            (
                CONTROL_STEP_KEYS,
                &["wait-step", "wait-all-step", "cancel-step"],
            ),
            (CONTAINER_KEYS, &["container-mapping"]),
        ];
        for (table, names) in cases {
            assert_eq!(sorted(table), keys(&defs, names), "{names:?}");
        }
    }
}
