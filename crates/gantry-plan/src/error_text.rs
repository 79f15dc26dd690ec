//! How a typed error becomes text for a user: the message of the error and of each of its causes,
//! `: `-separated. Errors keep their cause in `#[source]` instead of repeating it in their own
//! message, so this is what `JobResult::error`, log lines and lowering messages show.
//!
//! Used by the planner, the scheduler and the executor (one copy). Tests: the `tests` module.

/// `error` and its causes, `: `-separated (`runs-on: expected a boolean, got 3`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_once() {
        let error = Outer(Middle(std::io::Error::other("inner")));
        assert_eq!(error_chain(&error), "outer: middle: inner");
        assert_eq!(error_chain(&std::io::Error::other("alone")), "alone");
    }
}
