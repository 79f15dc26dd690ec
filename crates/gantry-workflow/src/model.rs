//! The typed model of a workflow file and of an `action.yml`, every node with its [`Span`].
//!
//! Invariant: the model mirrors what the file says, no defaults are filled in (an absent `if:` is
//! `None`, not `success()`), and every string that may hold `${{ }}` is a [`TStr`] whose template
//! was parsed once at load time. Values the schema leaves loose (matrix rows, input defaults) are
//! kept as [`Value`] trees. Raw strings are kept for enumerations (`permissions`, event `types`,
//! `using`) so semantic checks can report unknown values with a position; typed views are offered
//! by methods. Built by `load.rs`; tests in `tests/load.rs` and `tests/languageservices_workflow.rs`.

use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;

use crate::diagnostic::{Pos, Span};
use crate::yaml::ScalarStyle;

/// A value with the source range it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

/// A plain string (no `${{ }}` allowed or meaningful here).
pub type Str = Spanned<String>;

/// The YAML type a scalar was written as, before coercion to string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScalarKind {
    Null,
    Bool,
    Number,
    String,
}

/// How the `${{ }}` parts of a [`TStr`] parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateState {
    /// No `${{` in the text.
    Literal,
    /// At least one `${{ }}`; expression spans are byte offsets into [`TStr::raw`].
    Parsed(gantry_expr::Template),
    /// The template did not parse; the error was reported as an `expression` diagnostic.
    Invalid(gantry_expr::Error),
}

/// A string that may contain `${{ }}` expressions: raw text, where it is, and its parsed template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TStr {
    /// The scalar's value after YAML unquoting (non-string scalars keep their written text).
    pub raw: String,
    pub span: Span,
    #[serde(skip)]
    pub style: ScalarStyle,
    #[serde(skip)]
    pub scalar: ScalarKind,
    #[serde(skip)]
    pub template: TemplateState,
}

impl TStr {
    /// True when the text holds no `${{ }}`.
    pub fn is_literal(&self) -> bool {
        matches!(self.template, TemplateState::Literal)
    }

    /// The parsed template when the text holds `${{ }}` and it parsed.
    pub fn parsed(&self) -> Option<&gantry_expr::Template> {
        match &self.template {
            TemplateState::Parsed(t) => Some(t),
            _ => None,
        }
    }

    /// The expression when the whole value is exactly one `${{ }}`.
    pub fn as_single_expr(&self) -> Option<&gantry_expr::Expr> {
        self.parsed().and_then(|t| t.as_single_expr())
    }

    /// Every parsed expression with the byte span of its whole `${{ ... }}` in [`TStr::raw`].
    pub fn expressions(&self) -> impl Iterator<Item = (&gantry_expr::Expr, gantry_expr::Span)> {
        self.parsed().into_iter().flat_map(|t| {
            t.parts.iter().filter_map(|p| match p {
                gantry_expr::TemplatePart::Expr { expr, span } => Some((expr, *span)),
                gantry_expr::TemplatePart::Literal(_) => None,
            })
        })
    }

    /// File position of byte `offset` within [`TStr::raw`]. `source` is the file text
    /// ([`Workflow::source`] / [`Action::source`]). Exact for plain, single-quoted and block
    /// scalars; best effort for double-quoted scalars with escapes.
    pub fn pos_at(&self, source: &str, offset: usize) -> Pos {
        crate::srcmap::scalar_pos(source, self.span, self.style, &self.raw, offset)
    }
}

/// A value whose literal type is known (`bool`, `f64`) or that is computed by an expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExprOr<T> {
    Value(T),
    Expr(TStr),
}

/// A loosely typed YAML value (matrix rows, input defaults, `with:` of reusable calls).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ValueKind {
    Null,
    Bool(bool),
    Number(f64),
    String(TStr),
    Seq(Vec<Value>),
    Map(Vec<(Str, Value)>),
}

/// A condition (`if:`).
///
/// GitHub's rule: a value that is exactly one `${{ }}` is that expression; a value without
/// `${{` is itself an expression; a value mixing text and `${{ }}` is a string template whose
/// rendered result is tested for truthiness (so it is almost always true).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub text: TStr,
    #[serde(skip)]
    pub kind: ConditionKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConditionKind {
    /// An expression; `source` is the byte range of its text inside `text.raw`, and the spans of
    /// `expr` are byte offsets into `text.raw`. `expr` is `None` when it did not parse (an
    /// `expression` diagnostic was reported) or the value is empty (GitHub: `success()`).
    Expression {
        source: std::ops::Range<usize>,
        expr: Option<gantry_expr::Expr>,
    },
    /// Text mixed with `${{ }}`: evaluated as a string template, then tested for truthiness.
    Template,
}

impl Condition {
    pub fn expr(&self) -> Option<&gantry_expr::Expr> {
        match &self.kind {
            ConditionKind::Expression { expr, .. } => expr.as_ref(),
            ConditionKind::Template => None,
        }
    }

    /// Where the expression's spans point: they are byte offsets into `text.raw` in every form
    /// (bare expression or one `${{ }}`), so this is always 0.
    pub fn expr_offset(&self) -> usize {
        0
    }
}

/// `env:`, `with:`, `outputs:`-like maps of names to string values; the whole map may also be
/// one expression (`env: ${{ fromJSON(...) }}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vars {
    pub span: Span,
    pub entries: IndexMap<String, Var>,
    /// Set when the value is a single `${{ }}` instead of a mapping.
    pub expr: Option<TStr>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Var {
    pub name: Str,
    pub value: TStr,
}

/// A string or a sequence of strings (`branches`, `needs`, `paths`, ...): the items and the span
/// of the whole value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrList {
    pub span: Span,
    pub items: Vec<Str>,
    /// True when written as a single string rather than a sequence.
    pub single: bool,
}

// ---------------------------------------------------------------------------------------------
// Workflow

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    /// The text positions refer to (after BOM removal and lossy UTF-8 decoding).
    #[serde(skip)]
    pub source: Arc<str>,
    pub span: Span,
    pub name: Option<TStr>,
    pub description: Option<TStr>,
    pub run_name: Option<TStr>,
    pub on: Option<On>,
    pub permissions: Option<Permissions>,
    pub env: Option<Vars>,
    pub defaults: Option<Defaults>,
    pub concurrency: Option<Concurrency>,
    /// Jobs in file order, keyed by id as written (ids are case-sensitive here; checks compare
    /// them case-insensitively where GitHub does).
    pub jobs: IndexMap<String, Job>,
    /// Span of the `jobs:` value, when present.
    pub jobs_span: Option<Span>,
}

impl Default for Workflow {
    fn default() -> Workflow {
        Workflow {
            source: Arc::from(""),
            span: Span::default(),
            name: None,
            description: None,
            run_name: None,
            on: None,
            permissions: None,
            env: None,
            defaults: None,
            concurrency: None,
            jobs: IndexMap::new(),
            jobs_span: None,
        }
    }
}

/// Which YAML form `on:` was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OnForm {
    String,
    Seq,
    Map,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct On {
    pub span: Span,
    pub form: OnForm,
    /// Events in file order.
    pub events: Vec<Event>,
}

impl On {
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name.value == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The event name as written (`push`, `pull_request`, ...), unchecked.
    pub name: Str,
    /// Span of the event's configuration (the name's span when there is none).
    pub span: Span,
    pub config: EventConfig,
}

/// Variants differ in size; a model is built once per file, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EventConfig {
    /// No configuration (string/sequence form, or `push:` with a null value).
    None,
    /// Activity types and filters (push, pull_request, workflow_run, release, ...).
    Filters(EventFilters),
    Schedule(Vec<Cron>),
    WorkflowDispatch(WorkflowDispatch),
    WorkflowCall(WorkflowCall),
}

/// Every filter key the schema knows, for any event; which keys an event accepts is a check.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct EventFilters {
    pub types: Option<StrList>,
    pub branches: Option<StrList>,
    pub branches_ignore: Option<StrList>,
    pub tags: Option<StrList>,
    pub tags_ignore: Option<StrList>,
    pub paths: Option<StrList>,
    pub paths_ignore: Option<StrList>,
    /// `workflow_run`
    pub workflows: Option<StrList>,
    /// `image_version`
    pub names: Option<StrList>,
    /// `image_version`
    pub versions: Option<StrList>,
    /// Keys the loader does not know, kept for checks (reported as `syntax-check` by the loader
    /// only when the event itself is known).
    pub unknown: Vec<Str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cron {
    pub span: Span,
    pub cron: Option<Str>,
    pub timezone: Option<Str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum InputType {
    String,
    Boolean,
    Number,
    Choice,
    Environment,
}

impl InputType {
    pub fn parse(s: &str) -> Option<InputType> {
        Some(match s {
            "string" => InputType::String,
            "boolean" => InputType::Boolean,
            "number" => InputType::Number,
            "choice" => InputType::Choice,
            "environment" => InputType::Environment,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WorkflowDispatch {
    pub inputs: IndexMap<String, Input>,
    pub inputs_span: Option<Span>,
}

/// An input of `workflow_dispatch` or `workflow_call`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    pub name: Str,
    pub span: Span,
    pub description: Option<TStr>,
    /// `type` as written; [`InputType::parse`] gives the typed view.
    pub type_: Option<Str>,
    pub required: Option<Spanned<bool>>,
    /// `required: ${{ ... }}` (accepted by actionlint; GitHub evaluates it).
    pub required_expr: Option<TStr>,
    pub default: Option<Value>,
    /// `choice` options.
    pub options: Option<Spanned<Vec<Str>>>,
}

impl Input {
    pub fn input_type(&self) -> Option<InputType> {
        self.type_.as_ref().and_then(|t| InputType::parse(&t.value))
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WorkflowCall {
    pub inputs: IndexMap<String, Input>,
    pub inputs_span: Option<Span>,
    pub outputs: IndexMap<String, CallOutput>,
    pub outputs_span: Option<Span>,
    pub secrets: IndexMap<String, CallSecret>,
    pub secrets_span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallOutput {
    pub name: Str,
    pub span: Span,
    pub description: Option<TStr>,
    pub value: Option<TStr>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSecret {
    pub name: Str,
    pub span: Span,
    pub description: Option<TStr>,
    pub required: Option<Spanned<bool>>,
}

/// `permissions:` at workflow or job level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Permissions {
    pub span: Span,
    pub kind: PermissionsKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PermissionsKind {
    /// `read-all`, `write-all` or any other string (kept for checks).
    Shorthand(Str),
    /// `{}` or a map of scope -> level, both kept as written.
    Map(Vec<Permission>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Permission {
    pub scope: Str,
    pub level: Str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PermissionLevel {
    Read,
    Write,
    None,
}

impl PermissionLevel {
    pub fn parse(s: &str) -> Option<PermissionLevel> {
        Some(match s {
            "read" => PermissionLevel::Read,
            "write" => PermissionLevel::Write,
            "none" => PermissionLevel::None,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Defaults {
    pub span: Span,
    pub run: Option<DefaultsRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefaultsRun {
    pub span: Span,
    pub shell: Option<TStr>,
    pub working_directory: Option<TStr>,
}

/// `concurrency:` as a group string or a mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Concurrency {
    pub span: Span,
    pub group: Option<TStr>,
    pub cancel_in_progress: Option<Spanned<ExprOr<bool>>>,
    /// `queue: single|max` as written.
    pub queue: Option<Str>,
    /// True when written as a plain string (the group).
    pub short_form: bool,
}

// ---------------------------------------------------------------------------------------------
// Jobs

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// The job id (mapping key) with its span.
    pub id: Str,
    /// Span of the job's mapping.
    pub span: Span,
    pub name: Option<TStr>,
    pub needs: Option<StrList>,
    pub if_: Option<Condition>,
    pub runs_on: Option<RunsOn>,
    pub permissions: Option<Permissions>,
    pub environment: Option<Environment>,
    pub concurrency: Option<Concurrency>,
    pub outputs: Option<Vars>,
    pub env: Option<Vars>,
    pub defaults: Option<Defaults>,
    pub timeout_minutes: Option<Spanned<ExprOr<f64>>>,
    pub cancel_timeout_minutes: Option<Spanned<ExprOr<f64>>>,
    pub strategy: Option<Strategy>,
    pub continue_on_error: Option<Spanned<ExprOr<bool>>>,
    pub container: Option<Container>,
    pub services: Option<Services>,
    pub snapshot: Option<Snapshot>,
    pub steps: Option<Steps>,
    /// Reusable workflow call: `uses:` (then there are no steps).
    pub uses: Option<Str>,
    /// Reusable workflow call inputs.
    pub with: Option<CallWith>,
    pub secrets: Option<JobSecrets>,
}

impl Job {
    pub fn new(id: Str, span: Span) -> Job {
        Job {
            id,
            span,
            name: None,
            needs: None,
            if_: None,
            runs_on: None,
            permissions: None,
            environment: None,
            concurrency: None,
            outputs: None,
            env: None,
            defaults: None,
            timeout_minutes: None,
            cancel_timeout_minutes: None,
            strategy: None,
            continue_on_error: None,
            container: None,
            services: None,
            snapshot: None,
            steps: None,
            uses: None,
            with: None,
            secrets: None,
        }
    }

    /// True for a reusable-workflow call job (`uses:`).
    pub fn is_call(&self) -> bool {
        self.uses.is_some()
    }

    pub fn step_list(&self) -> &[Step] {
        self.steps.as_ref().map_or(&[], |s| s.items.as_slice())
    }

    /// The reusable workflow this job calls, parsed; `None` without `uses:` or when it holds
    /// `${{ }}`.
    pub fn uses_ref(&self) -> Option<Result<crate::uses::UsesRef<'_>, crate::uses::UsesError>> {
        let uses = self.uses.as_ref()?;
        (!uses.value.contains("${{")).then(|| crate::uses::UsesRef::parse(&uses.value))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Steps {
    pub span: Span,
    pub items: Vec<Step>,
}

/// `with:` of a reusable workflow call: input name -> loosely typed value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallWith {
    pub span: Span,
    pub entries: IndexMap<String, CallArg>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallArg {
    pub name: Str,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum JobSecrets {
    /// `secrets: inherit`
    Inherit(Span),
    Map(Vars),
}

/// Which YAML form `runs-on:` was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunsOnForm {
    String,
    Seq,
    Map,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunsOn {
    pub span: Span,
    pub form: RunsOnForm,
    /// Labels (from the string, the sequence, or `labels:` of the mapping). A label may be an
    /// expression (`${{ matrix.os }}`).
    pub labels: Vec<TStr>,
    pub group: Option<TStr>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    pub span: Span,
    pub name: Option<TStr>,
    pub url: Option<TStr>,
    pub deployment: Option<Spanned<ExprOr<bool>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Strategy {
    pub span: Span,
    pub matrix: Option<Matrix>,
    pub fail_fast: Option<Spanned<ExprOr<bool>>>,
    pub max_parallel: Option<Spanned<ExprOr<f64>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    pub span: Span,
    /// Set when the whole matrix is one `${{ }}` (e.g. `${{ fromJSON(needs.a.outputs.m) }}`).
    pub expr: Option<TStr>,
    /// Axes in file order (every key other than `include` / `exclude`).
    pub axes: IndexMap<String, MatrixAxis>,
    pub include: Option<MatrixRows>,
    pub exclude: Option<MatrixRows>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixAxis {
    pub name: Str,
    pub span: Span,
    /// The values, or an expression producing them.
    pub values: ExprOr<Vec<Value>>,
}

/// `include:` / `exclude:`: a sequence of rows (each normally a mapping) or an expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixRows {
    pub span: Span,
    pub rows: ExprOr<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub span: Span,
    pub image: Option<TStr>,
    pub credentials: Option<Credentials>,
    pub env: Option<Vars>,
    pub ports: Option<Spanned<Vec<TStr>>>,
    pub volumes: Option<Spanned<Vec<TStr>>>,
    pub options: Option<TStr>,
    /// Service containers only.
    pub entrypoint: Option<TStr>,
    /// Service containers only.
    pub command: Option<TStr>,
    /// True when written as a plain string (the image).
    pub short_form: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Credentials {
    pub span: Span,
    /// Set when the whole `credentials:` value is one `${{ }}`.
    pub expr: Option<TStr>,
    pub username: Option<TStr>,
    pub password: Option<TStr>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Services {
    pub span: Span,
    /// Set when the whole `services:` value is one `${{ }}`.
    pub expr: Option<TStr>,
    pub entries: IndexMap<String, Service>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub id: Str,
    pub container: Container,
}

/// `snapshot:` (custom runner images): an image name or a mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub span: Span,
    pub image_name: Option<TStr>,
    pub version: Option<TStr>,
    pub if_: Option<Condition>,
}

// ---------------------------------------------------------------------------------------------
// Steps

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub span: Span,
    /// `id:` as written (validated by the loader).
    pub id: Option<Str>,
    pub name: Option<TStr>,
    pub if_: Option<Condition>,
    /// `uses:` as written (`actions/checkout@v4`, `./path`, `docker://image`).
    pub uses: Option<TStr>,
    pub run: Option<TStr>,
    pub shell: Option<TStr>,
    pub with: Option<Vars>,
    pub env: Option<Vars>,
    pub continue_on_error: Option<Spanned<ExprOr<bool>>>,
    pub timeout_minutes: Option<Spanned<ExprOr<f64>>>,
    pub working_directory: Option<TStr>,
    /// `background: true` steps (newer runner feature).
    pub background: Option<Spanned<bool>>,
    /// `wait:` step ids to wait for.
    pub wait: Option<StrList>,
    pub wait_all: Option<Spanned<Option<bool>>>,
    pub cancel: Option<Str>,
    pub parallel: Option<Steps>,
}

impl Step {
    pub fn new(span: Span) -> Step {
        Step {
            span,
            id: None,
            name: None,
            if_: None,
            uses: None,
            run: None,
            shell: None,
            with: None,
            env: None,
            continue_on_error: None,
            timeout_minutes: None,
            working_directory: None,
            background: None,
            wait: None,
            wait_all: None,
            cancel: None,
            parallel: None,
        }
    }

    /// The action this step uses, parsed; `None` without `uses:` or when it holds `${{ }}`.
    pub fn uses_ref(&self) -> Option<Result<crate::uses::UsesRef<'_>, crate::uses::UsesError>> {
        let uses = self.uses.as_ref()?;
        uses.is_literal()
            .then(|| crate::uses::UsesRef::parse(&uses.raw))
    }
}

// ---------------------------------------------------------------------------------------------
// action.yml

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    #[serde(skip)]
    pub source: Arc<str>,
    pub span: Span,
    pub name: Option<TStr>,
    pub description: Option<TStr>,
    pub author: Option<TStr>,
    pub inputs: IndexMap<String, ActionInput>,
    pub inputs_span: Option<Span>,
    pub outputs: IndexMap<String, ActionOutput>,
    pub outputs_span: Option<Span>,
    pub runs: Option<Runs>,
    pub branding: Option<Branding>,
}

impl Default for Action {
    fn default() -> Action {
        Action {
            source: Arc::from(""),
            span: Span::default(),
            name: None,
            description: None,
            author: None,
            inputs: IndexMap::new(),
            inputs_span: None,
            outputs: IndexMap::new(),
            outputs_span: None,
            runs: None,
            branding: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionInput {
    pub name: Str,
    pub span: Span,
    pub description: Option<TStr>,
    /// Loosely typed: `true`, `false`, `"true"` and expressions are all seen in the wild.
    pub required: Option<Value>,
    pub default: Option<TStr>,
    pub deprecation_message: Option<TStr>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutput {
    pub name: Str,
    pub span: Span,
    pub description: Option<TStr>,
    /// Required for composite actions.
    pub value: Option<TStr>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branding {
    pub span: Span,
    pub icon: Option<Str>,
    pub color: Option<Str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runs {
    pub span: Span,
    /// `using:` as written (`node20`, `docker`, `composite`, ...).
    pub using: Option<Str>,
    pub kind: RunsKind,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RunsKind {
    Node(NodeRuns),
    Docker(DockerRuns),
    Composite(CompositeRuns),
    /// `using:` missing or unknown; nothing else was interpreted.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NodeRuns {
    pub main: Option<TStr>,
    pub pre: Option<TStr>,
    pub pre_if: Option<Condition>,
    pub post: Option<TStr>,
    pub post_if: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DockerRuns {
    pub image: Option<TStr>,
    pub entrypoint: Option<TStr>,
    pub args: Option<Spanned<Vec<TStr>>>,
    pub env: Option<Vars>,
    pub pre_entrypoint: Option<TStr>,
    pub pre_if: Option<Condition>,
    pub post_entrypoint: Option<TStr>,
    pub post_if: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CompositeRuns {
    pub steps: Option<Steps>,
}
