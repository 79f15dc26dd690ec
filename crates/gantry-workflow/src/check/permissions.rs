//! `permissions:` scopes of the `GITHUB_TOKEN` and the values each accepts.
//!
//! Invariant: scope names and values are case-sensitive, as GitHub treats them (`CHECKS` and
//! `READ` are errors). The table is kept by hand; a test at the bottom fails when GitHub's
//! vendored workflow schema (`test_data/languageservices/schema/workflow-v1.0.json`) has a
//! scope or value it lacks, or it has one the schema does not.

/// Values of a whole-token `permissions:` string.
pub const ALL_SCOPES_VALUES: &[&str] = &["read-all", "write-all"];

const READ_WRITE_NONE: &[&str] = &["read", "write", "none"];

/// Every scope with its accepted values, sorted by name.
pub const SCOPES: &[(&str, &[&str])] = &[
    ("actions", READ_WRITE_NONE),
    ("artifact-metadata", READ_WRITE_NONE),
    ("attestations", READ_WRITE_NONE),
    ("checks", READ_WRITE_NONE),
    ("code-quality", READ_WRITE_NONE),
    ("contents", READ_WRITE_NONE),
    ("copilot-requests", &["write", "none"]),
    ("deployments", READ_WRITE_NONE),
    ("discussions", READ_WRITE_NONE),
    ("drives", READ_WRITE_NONE),
    ("id-token", &["write", "none"]),
    ("issues", READ_WRITE_NONE),
    ("models", &["read", "none"]),
    ("packages", READ_WRITE_NONE),
    ("pages", READ_WRITE_NONE),
    ("pull-requests", READ_WRITE_NONE),
    ("repository-projects", READ_WRITE_NONE),
    ("security-events", READ_WRITE_NONE),
    ("statuses", READ_WRITE_NONE),
    ("vulnerability-alerts", &["read", "none"]),
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
        check("copilot-requests", "read", Some(false));
        check("vulnerability-alerts", "read", Some(true));
        assert_eq!(scope_names().count(), 20);
    }

    /// The scopes of GitHub's schema (`permissions-mapping`) and the levels each accepts
    /// (`permission-level-*` types), as `scope -> sorted values`.
    fn schema_scopes() -> Vec<(String, Vec<String>)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../test_data/languageservices/schema/workflow-v1.0.json"
        );
        let text = std::fs::read_to_string(path).expect("vendored schema");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        let defs = &schema["definitions"];
        // `permission-level-read` -> ["read"], following `one-of` to the constants.
        fn levels(defs: &serde_json::Value, name: &str) -> Vec<String> {
            let def = &defs[name];
            if let Some(constant) = def["string"]["constant"].as_str() {
                return vec![constant.to_string()];
            }
            def["one-of"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str())
                .flat_map(|n| levels(defs, n))
                .collect()
        }
        let properties = defs["permissions-mapping"]["mapping"]["properties"]
            .as_object()
            .expect("permissions-mapping properties");
        properties
            .iter()
            .map(|(scope, def)| {
                let level_type = def["type"].as_str().unwrap_or_default();
                let mut values = levels(defs, level_type);
                values.sort();
                (scope.clone(), values)
            })
            .collect()
    }

    /// Drift test: fails when GitHub's schema gains (or drops) a scope or a level.
    #[test]
    fn table_matches_the_vendored_schema() {
        let schema = schema_scopes();
        assert!(schema.len() >= 20, "schema scopes: {schema:?}");
        let ours: Vec<(String, Vec<String>)> = SCOPES
            .iter()
            .map(|(scope, values)| {
                let mut values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                values.sort();
                (scope.to_string(), values)
            })
            .collect();
        let mut schema_sorted = schema.clone();
        schema_sorted.sort();
        assert_eq!(ours, schema_sorted);
    }
}
