//! Untrusted inputs: properties of `github` an outside contributor controls (issue titles, branch
//! names, commit messages...). Interpolating them straight into a `run:` script lets them inject
//! shell code.
//!
//! Invariant: a path is untrusted only when it ends exactly at one of the listed leaves; `*`
//! stands for any array element (an index or an object filter). Comparison is case-insensitive
//! like the expression language. Tests are at the bottom.

/// The untrusted paths, `*` for array elements.
pub const UNTRUSTED_INPUTS: &[&str] = &[
    "github.event.issue.title",
    "github.event.issue.body",
    "github.event.pull_request.title",
    "github.event.pull_request.body",
    "github.event.pull_request.head.ref",
    "github.event.pull_request.head.label",
    "github.event.pull_request.head.repo.default_branch",
    "github.event.discussion.title",
    "github.event.discussion.body",
    "github.event.comment.body",
    "github.event.review.body",
    "github.event.review_comment.body",
    "github.event.pages.*.page_name",
    "github.event.commits.*.message",
    "github.event.commits.*.author.email",
    "github.event.commits.*.author.name",
    "github.event.head_commit.message",
    "github.event.head_commit.author.email",
    "github.event.head_commit.author.name",
    "github.event.workflow_run.head_branch",
    "github.event.workflow_run.head_commit.message",
    "github.event.workflow_run.head_commit.author.email",
    "github.event.workflow_run.head_commit.author.name",
    "github.event.workflow_run.pull_requests.*.head.ref",
    "github.head_ref",
];

/// One step of a property access path, as the expression checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// `.name` or `['name']`.
    Name(&'a str),
    /// `[expr]` with a non-literal index, or the object filter `.*`.
    Element,
}

/// [`UNTRUSTED_INPUTS`] split at dots, built once.
static SPLIT_INPUTS: std::sync::LazyLock<Vec<(&'static str, Vec<&'static str>)>> =
    std::sync::LazyLock::new(|| {
        UNTRUSTED_INPUTS
            .iter()
            .map(|p| (*p, p.split('.').collect()))
            .collect()
    });

/// The untrusted input `path` reads, if any.
pub fn untrusted_input(path: &[Segment<'_>]) -> Option<&'static str> {
    // Every untrusted input lives in `github`.
    if !matches!(path.first(), Some(Segment::Name(root)) if root.eq_ignore_ascii_case("github")) {
        return None;
    }
    SPLIT_INPUTS
        .iter()
        .find(|(_, parts)| {
            parts.len() == path.len()
                && parts.iter().zip(path).all(|(part, seg)| match seg {
                    Segment::Name(name) => *part != "*" && part.eq_ignore_ascii_case(name),
                    // An object filter over an object picks every property.
                    Segment::Element => true,
                })
        })
        .map(|(pattern, _)| *pattern)
}

/// Functions whose result is safe to interpolate whatever their arguments.
pub fn is_safe_function(name: &str) -> bool {
    ["contains", "startswith", "endswith"]
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{Element as E, Name as N};

    fn check(path: &[Segment<'_>], expected: Option<&str>) {
        assert_eq!(untrusted_input(path), expected, "{path:?}");
    }

    #[test]
    fn paths() {
        check(&[N("github"), N("head_ref")], Some("github.head_ref"));
        check(
            &[N("github"), N("event"), N("issue"), N("title")],
            Some("github.event.issue.title"),
        );
        check(
            &[N("GitHub"), N("Event"), N("Issue"), N("Title")],
            Some("github.event.issue.title"),
        );
        check(&[N("github"), N("event"), N("issue")], None);
        check(
            &[N("github"), N("event"), N("issue"), N("title"), N("x")],
            None,
        );
        check(&[N("github"), N("event"), N("issue"), N("number")], None);
        check(
            &[N("github"), N("event"), N("commits"), E, N("message")],
            Some("github.event.commits.*.message"),
        );
        check(
            &[N("github"), N("event"), N("commits"), N("message"), N("x")],
            None,
        );
        check(
            &[N("github"), N("event"), N("pages"), E, N("page_name")],
            Some("github.event.pages.*.page_name"),
        );
        check(&[N("github"), N("sha")], None);
        check(&[N("env"), N("head_ref")], None);
    }

    #[test]
    fn safe_functions() {
        assert!(is_safe_function("contains"));
        assert!(is_safe_function("startsWith"));
        assert!(!is_safe_function("format"));
    }
}
