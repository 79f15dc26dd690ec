//! `permissions:` scopes of the `GITHUB_TOKEN` and the values each accepts.
//!
//! Invariant: scope names and values are case-sensitive, as GitHub treats them (`CHECKS` and
//! `READ` are errors). Tests are at the bottom.

/// Values of a whole-token `permissions:` string.
pub const ALL_SCOPES_VALUES: &[&str] = &["read-all", "write-all"];

const READ_WRITE_NONE: &[&str] = &["read", "write", "none"];

/// Every scope with its accepted values, sorted by name.
pub const SCOPES: &[(&str, &[&str])] = &[
    ("actions", READ_WRITE_NONE),
    ("artifact-metadata", READ_WRITE_NONE),
    ("attestations", READ_WRITE_NONE),
    ("checks", READ_WRITE_NONE),
    ("contents", READ_WRITE_NONE),
    ("deployments", READ_WRITE_NONE),
    ("discussions", READ_WRITE_NONE),
    ("id-token", &["write", "none"]),
    ("issues", READ_WRITE_NONE),
    ("models", &["read", "none"]),
    ("packages", READ_WRITE_NONE),
    ("pages", READ_WRITE_NONE),
    ("pull-requests", READ_WRITE_NONE),
    ("repository-projects", READ_WRITE_NONE),
    ("security-events", READ_WRITE_NONE),
    ("statuses", READ_WRITE_NONE),
];

/// The values `scope` accepts, or `None` when the scope is unknown.
pub fn scope_values(scope: &str) -> Option<&'static [&'static str]> {
    SCOPES
        .binary_search_by(|(name, _)| name.cmp(&scope))
        .ok()
        .and_then(|i| SCOPES.get(i))
        .map(|(_, values)| *values)
}

/// All scope names, for messages.
pub fn scope_names() -> impl Iterator<Item = &'static str> {
    SCOPES.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(scope: &str, value: &str, ok: Option<bool>) {
        assert_eq!(
            scope_values(scope).map(|v| v.contains(&value)),
            ok,
            "{scope}: {value}"
        );
    }

    #[test]
    fn table() {
        assert!(SCOPES.windows(2).all(|w| w[0].0 < w[1].0));
        check("contents", "read", Some(true));
        check("contents", "foo", Some(false));
        check("id-token", "read", Some(false));
        check("id-token", "write", Some(true));
        check("models", "write", Some(false));
        check("models", "read", Some(true));
        check("pages", "READ", Some(false));
        check("CHECKS", "none", None);
        check("unknown", "none", None);
        assert_eq!(scope_names().count(), 16);
    }
}
