//! Which contexts (`github`, `matrix`, ...) and special functions (`always()`, `hashFiles()`, ...)
//! may appear in `${{ }}` at each workflow key, after GitHub's "Context availability" table.
//!
//! Invariant: the table is plain data (bit sets), built at compile time; a key missing from the
//! table is [`WorkflowKey::Unrestricted`] and allows everything. Tests are at the bottom.

/// A set of context names, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContextSet(u16);

/// A set of special (position-restricted) function names, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunctionSet(u8);

/// Every context GitHub defines, in the order of the bits of [`ContextSet`].
pub const ALL_CONTEXTS: [&str; 12] = [
    "github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix",
    "needs", "inputs",
];

/// Functions that are only callable at some keys, in the order of the bits of [`FunctionSet`].
/// Names are lowercase: function names are case-insensitive.
pub const SPECIAL_FUNCTIONS: [&str; 5] = ["always", "cancelled", "failure", "success", "hashfiles"];

const GITHUB: u16 = 1 << 0;
const ENV: u16 = 1 << 1;
const VARS: u16 = 1 << 2;
const JOB: u16 = 1 << 3;
const JOBS: u16 = 1 << 4;
const STEPS: u16 = 1 << 5;
const RUNNER: u16 = 1 << 6;
const SECRETS: u16 = 1 << 7;
const STRATEGY: u16 = 1 << 8;
const MATRIX: u16 = 1 << 9;
const NEEDS: u16 = 1 << 10;
const INPUTS: u16 = 1 << 11;

const STATUS_FUNCS: u8 = 0b1111;
const HASH_FILES: u8 = 1 << 4;

impl ContextSet {
    pub const ALL: ContextSet = ContextSet(0x0fff);

    /// Whether the context `name` (case-insensitive) is in the set. Unknown names are not.
    pub fn contains(self, name: &str) -> bool {
        context_bit(name).is_some_and(|bit| self.0 & bit != 0)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        ALL_CONTEXTS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FunctionSet {
    /// Whether the special function `name` (case-insensitive) is in the set.
    pub fn contains(self, name: &str) -> bool {
        special_function_bit(name).is_some_and(|bit| self.0 & bit != 0)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        SPECIAL_FUNCTIONS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }
}

fn context_bit(name: &str) -> Option<u16> {
    ALL_CONTEXTS
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

fn special_function_bit(name: &str) -> Option<u8> {
    SPECIAL_FUNCTIONS
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// Whether `name` is a function that is only available at some keys.
pub fn is_special_function(name: &str) -> bool {
    special_function_bit(name).is_some()
}

/// Whether `name` is a context GitHub defines.
pub fn is_known_context(name: &str) -> bool {
    context_bit(name).is_some()
}

/// The workflow keys of the availability table (`jobs.<job_id>.steps.run` is [`StepRun`]...).
///
/// [`StepRun`]: WorkflowKey::StepRun
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkflowKey {
    RunName,
    Concurrency,
    Env,
    WorkflowCallInputDefault,
    WorkflowCallOutputValue,
    JobConcurrency,
    JobContainer,
    JobContainerImage,
    JobContainerCredentials,
    JobContainerEnv,
    JobContinueOnError,
    JobDefaultsRun,
    JobEnv,
    JobEnvironment,
    JobEnvironmentUrl,
    JobIf,
    JobName,
    JobOutputs,
    JobRunsOn,
    JobSecrets,
    JobServices,
    JobServiceCredentials,
    JobServiceEnv,
    JobStrategy,
    JobTimeoutMinutes,
    JobWith,
    StepContinueOnError,
    StepEnv,
    StepIf,
    StepName,
    StepRun,
    StepTimeoutMinutes,
    StepWith,
    StepWorkingDirectory,
    /// A key where no context is available (`shell:`, workflow `defaults.run`).
    NoContext,
    /// A key GitHub documents no restriction for (e.g. `jobs.<job_id>.snapshot`).
    Unrestricted,
}

/// What may be used at one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub contexts: ContextSet,
    pub functions: FunctionSet,
}

impl WorkflowKey {
    /// The key as GitHub's documentation spells it.
    pub fn as_str(self) -> &'static str {
        use WorkflowKey::*;
        match self {
            RunName => "run-name",
            Concurrency => "concurrency",
            Env => "env",
            WorkflowCallInputDefault => "on.workflow_call.inputs.<inputs_id>.default",
            WorkflowCallOutputValue => "on.workflow_call.outputs.<output_id>.value",
            JobConcurrency => "jobs.<job_id>.concurrency",
            JobContainer => "jobs.<job_id>.container",
            JobContainerImage => "jobs.<job_id>.container.image",
            JobContainerCredentials => "jobs.<job_id>.container.credentials",
            JobContainerEnv => "jobs.<job_id>.container.env.<env_id>",
            JobContinueOnError => "jobs.<job_id>.continue-on-error",
            JobDefaultsRun => "jobs.<job_id>.defaults.run",
            JobEnv => "jobs.<job_id>.env",
            JobEnvironment => "jobs.<job_id>.environment",
            JobEnvironmentUrl => "jobs.<job_id>.environment.url",
            JobIf => "jobs.<job_id>.if",
            JobName => "jobs.<job_id>.name",
            JobOutputs => "jobs.<job_id>.outputs.<output_id>",
            JobRunsOn => "jobs.<job_id>.runs-on",
            JobSecrets => "jobs.<job_id>.secrets.<secrets_id>",
            JobServices => "jobs.<job_id>.services",
            JobServiceCredentials => "jobs.<job_id>.services.<service_id>.credentials",
            JobServiceEnv => "jobs.<job_id>.services.<service_id>.env.<env_id>",
            JobStrategy => "jobs.<job_id>.strategy",
            JobTimeoutMinutes => "jobs.<job_id>.timeout-minutes",
            JobWith => "jobs.<job_id>.with.<with_id>",
            StepContinueOnError => "jobs.<job_id>.steps.continue-on-error",
            StepEnv => "jobs.<job_id>.steps.env",
            StepIf => "jobs.<job_id>.steps.if",
            StepName => "jobs.<job_id>.steps.name",
            StepRun => "jobs.<job_id>.steps.run",
            StepTimeoutMinutes => "jobs.<job_id>.steps.timeout-minutes",
            StepWith => "jobs.<job_id>.steps.with",
            StepWorkingDirectory => "jobs.<job_id>.steps.working-directory",
            NoContext => "",
            Unrestricted => "",
        }
    }

    /// The contexts and special functions available at this key.
    pub fn availability(self) -> Availability {
        use WorkflowKey::*;
        const JOB_LEVEL: u16 = GITHUB | INPUTS | MATRIX | NEEDS | STRATEGY | VARS;
        const STEP_LEVEL: u16 = ENV
            | GITHUB
            | INPUTS
            | JOB
            | MATRIX
            | NEEDS
            | RUNNER
            | SECRETS
            | STEPS
            | STRATEGY
            | VARS;
        let (contexts, functions) = match self {
            RunName | Concurrency | WorkflowCallInputDefault => (GITHUB | INPUTS | VARS, 0),
            Env => (GITHUB | INPUTS | SECRETS | VARS, 0),
            WorkflowCallOutputValue => (GITHUB | INPUTS | JOBS | VARS, 0),
            JobConcurrency | JobContainer | JobContainerImage | JobContinueOnError
            | JobEnvironment | JobName | JobRunsOn | JobServices | JobTimeoutMinutes | JobWith => {
                (JOB_LEVEL, 0)
            }
            JobContainerCredentials | JobServiceCredentials => (JOB_LEVEL | ENV | SECRETS, 0),
            JobContainerEnv | JobServiceEnv => (JOB_LEVEL | ENV | JOB | RUNNER | SECRETS, 0),
            JobDefaultsRun => (JOB_LEVEL | ENV, 0),
            JobEnv | JobSecrets => (JOB_LEVEL | SECRETS, 0),
            JobEnvironmentUrl => (JOB_LEVEL | ENV | JOB | RUNNER | STEPS, 0),
            JobIf => (GITHUB | INPUTS | NEEDS | VARS, STATUS_FUNCS),
            JobOutputs => (STEP_LEVEL, 0),
            JobStrategy => (GITHUB | INPUTS | NEEDS | VARS, 0),
            StepContinueOnError | StepEnv | StepName | StepRun | StepTimeoutMinutes | StepWith
            | StepWorkingDirectory => (STEP_LEVEL, HASH_FILES),
            StepIf => (STEP_LEVEL & !SECRETS, STATUS_FUNCS | HASH_FILES),
            NoContext => (0, 0),
            Unrestricted => (ContextSet::ALL.0, STATUS_FUNCS | HASH_FILES),
        };
        Availability {
            contexts: ContextSet(contexts),
            functions: FunctionSet(functions),
        }
    }
}

/// The keys at which the special function `name` is available, for messages.
pub fn keys_allowing_function(name: &str) -> Vec<&'static str> {
    use WorkflowKey::*;
    const KEYS: [WorkflowKey; 10] = [
        JobIf,
        StepContinueOnError,
        StepEnv,
        StepIf,
        StepName,
        StepRun,
        StepTimeoutMinutes,
        StepWith,
        StepWorkingDirectory,
        JobOutputs,
    ];
    KEYS.iter()
        .filter(|k| k.availability().functions.contains(name))
        .map(|k| k.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: WorkflowKey, contexts: &[&str], functions: &[&str]) {
        let availability = key.availability();
        assert_eq!(
            availability.contexts.names().collect::<Vec<_>>(),
            contexts,
            "{key:?}"
        );
        assert_eq!(
            availability.functions.names().collect::<Vec<_>>(),
            functions,
            "{key:?}"
        );
    }

    #[test]
    fn table() {
        use WorkflowKey::*;
        check(RunName, &["github", "vars", "inputs"], &[]);
        check(Env, &["github", "vars", "secrets", "inputs"], &[]);
        check(
            JobRunsOn,
            &["github", "vars", "strategy", "matrix", "needs", "inputs"],
            &[],
        );
        check(
            JobIf,
            &["github", "vars", "needs", "inputs"],
            &["always", "cancelled", "failure", "success"],
        );
        check(JobStrategy, &["github", "vars", "needs", "inputs"], &[]);
        check(
            WorkflowCallOutputValue,
            &["github", "vars", "jobs", "inputs"],
            &[],
        );
        check(
            StepRun,
            &[
                "github", "env", "vars", "job", "steps", "runner", "secrets", "strategy", "matrix",
                "needs", "inputs",
            ],
            &["hashfiles"],
        );
        check(
            StepIf,
            &[
                "github", "env", "vars", "job", "steps", "runner", "strategy", "matrix", "needs",
                "inputs",
            ],
            &["always", "cancelled", "failure", "success", "hashfiles"],
        );
        check(
            JobContainerEnv,
            &[
                "github", "env", "vars", "job", "runner", "secrets", "strategy", "matrix", "needs",
                "inputs",
            ],
            &[],
        );
    }

    #[test]
    fn lookups_are_case_insensitive() {
        let step_if = WorkflowKey::StepIf.availability();
        assert!(step_if.contexts.contains("GitHub"));
        assert!(!step_if.contexts.contains("secrets"));
        assert!(step_if.functions.contains("hashFiles"));
        assert!(!WorkflowKey::JobIf
            .availability()
            .functions
            .contains("HASHFILES"));
        assert!(is_special_function("Always"));
        assert!(!is_special_function("contains"));
        assert!(is_known_context("MATRIX"));
        assert!(!is_known_context("foo"));
    }

    #[test]
    fn function_keys() {
        assert_eq!(
            keys_allowing_function("success"),
            ["jobs.<job_id>.if", "jobs.<job_id>.steps.if"]
        );
        assert_eq!(keys_allowing_function("hashFiles").len(), 8);
    }
}
