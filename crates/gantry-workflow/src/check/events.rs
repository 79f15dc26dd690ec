//! The workflow trigger events GitHub knows: their activity `types` and the filters each accepts.
//!
//! Invariant: names are case-sensitive (`SCHEDULE` is not `schedule`), as GitHub treats them.
//! The table follows GitHub's "Events that trigger workflows" page; an event whose types are
//! [`ActivityTypes::Any`] (repository_dispatch) accepts custom type names. Tests are at the bottom.

/// The `types:` an event accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityTypes {
    /// The event has no activity types; `types:` is an error.
    NotAllowed,
    /// Only these names.
    Only(&'static [&'static str]),
    /// Any name (custom types of `repository_dispatch`).
    Any,
}

/// A filter key under an event (`branches:`, `paths-ignore:`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    Branches,
    BranchesIgnore,
    Tags,
    TagsIgnore,
    Paths,
    PathsIgnore,
    Workflows,
    Versions,
}

impl Filter {
    pub fn from_key(key: &str) -> Option<Filter> {
        Some(match key {
            "branches" => Filter::Branches,
            "branches-ignore" => Filter::BranchesIgnore,
            "tags" => Filter::Tags,
            "tags-ignore" => Filter::TagsIgnore,
            "paths" => Filter::Paths,
            "paths-ignore" => Filter::PathsIgnore,
            "workflows" => Filter::Workflows,
            "versions" => Filter::Versions,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Filter::Branches => "branches",
            Filter::BranchesIgnore => "branches-ignore",
            Filter::Tags => "tags",
            Filter::TagsIgnore => "tags-ignore",
            Filter::Paths => "paths",
            Filter::PathsIgnore => "paths-ignore",
            Filter::Workflows => "workflows",
            Filter::Versions => "versions",
        }
    }

    /// The filter that cannot be used together with this one (`branches` / `branches-ignore`).
    pub fn exclusive_with(self) -> Option<Filter> {
        match self {
            Filter::Branches => Some(Filter::BranchesIgnore),
            Filter::BranchesIgnore => Some(Filter::Branches),
            Filter::Tags => Some(Filter::TagsIgnore),
            Filter::TagsIgnore => Some(Filter::Tags),
            Filter::Paths => Some(Filter::PathsIgnore),
            Filter::PathsIgnore => Some(Filter::Paths),
            Filter::Workflows | Filter::Versions => None,
        }
    }

    /// Whether patterns under this filter are Git ref names (branches, tags) rather than paths.
    pub fn is_ref(self) -> bool {
        matches!(
            self,
            Filter::Branches | Filter::BranchesIgnore | Filter::Tags | Filter::TagsIgnore
        )
    }

    /// Whether patterns under this filter are file paths.
    pub fn is_path(self) -> bool {
        matches!(self, Filter::Paths | Filter::PathsIgnore)
    }

    /// The events that accept this filter, for messages.
    pub fn events_allowing(self) -> Vec<&'static str> {
        EVENTS
            .iter()
            .filter(|e| e.filters.contains(&self))
            .map(|e| e.name)
            .collect()
    }
}

/// One trigger event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSpec {
    pub name: &'static str,
    pub types: ActivityTypes,
    pub filters: &'static [Filter],
}

impl EventSpec {
    pub fn accepts_filter(&self, filter: Filter) -> bool {
        self.filters.contains(&filter)
    }
}

use ActivityTypes::{Any, NotAllowed, Only};
use Filter::*;

const PULL_REQUEST_TYPES: &[&str] = &[
    "assigned",
    "unassigned",
    "labeled",
    "unlabeled",
    "opened",
    "edited",
    "closed",
    "reopened",
    "synchronize",
    "converted_to_draft",
    "milestoned",
    "demilestoned",
    "ready_for_review",
    "locked",
    "unlocked",
    "review_requested",
    "review_request_removed",
    "auto_merge_enabled",
    "auto_merge_disabled",
    "enqueued",
    "dequeued",
];
const CREATED_EDITED_DELETED: &[&str] = &["created", "edited", "deleted"];
const PR_FILTERS: &[Filter] = &[Branches, BranchesIgnore, Paths, PathsIgnore];

/// All events, sorted by name.
pub const EVENTS: &[EventSpec] = &[
    EventSpec {
        name: "branch_protection_rule",
        types: Only(CREATED_EDITED_DELETED),
        filters: &[],
    },
    EventSpec {
        name: "check_run",
        types: Only(&["created", "rerequested", "completed", "requested_action"]),
        filters: &[],
    },
    EventSpec {
        name: "check_suite",
        types: Only(&["completed"]),
        filters: &[],
    },
    EventSpec {
        name: "create",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "delete",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "deployment",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "deployment_status",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "discussion",
        types: Only(&[
            "created",
            "edited",
            "deleted",
            "transferred",
            "pinned",
            "unpinned",
            "labeled",
            "unlabeled",
            "locked",
            "unlocked",
            "category_changed",
            "answered",
            "unanswered",
        ]),
        filters: &[],
    },
    EventSpec {
        name: "discussion_comment",
        types: Only(CREATED_EDITED_DELETED),
        filters: &[],
    },
    EventSpec {
        name: "fork",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "gollum",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "image_version",
        types: Only(&["created", "ready"]),
        filters: &[Versions],
    },
    EventSpec {
        name: "issue_comment",
        types: Only(CREATED_EDITED_DELETED),
        filters: &[],
    },
    EventSpec {
        name: "issues",
        types: Only(&[
            "opened",
            "edited",
            "deleted",
            "transferred",
            "pinned",
            "unpinned",
            "closed",
            "reopened",
            "assigned",
            "unassigned",
            "labeled",
            "unlabeled",
            "locked",
            "unlocked",
            "milestoned",
            "demilestoned",
            "typed",
            "untyped",
        ]),
        filters: &[],
    },
    EventSpec {
        name: "label",
        types: Only(CREATED_EDITED_DELETED),
        filters: &[],
    },
    EventSpec {
        name: "merge_group",
        types: Only(&["checks_requested"]),
        filters: &[Branches, BranchesIgnore],
    },
    EventSpec {
        name: "milestone",
        types: Only(&["created", "closed", "opened", "edited", "deleted"]),
        filters: &[],
    },
    EventSpec {
        name: "page_build",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "project",
        types: Only(&["created", "closed", "reopened", "edited", "deleted"]),
        filters: &[],
    },
    EventSpec {
        name: "project_card",
        types: Only(&["created", "moved", "converted", "edited", "deleted"]),
        filters: &[],
    },
    EventSpec {
        name: "project_column",
        types: Only(&["created", "updated", "moved", "deleted"]),
        filters: &[],
    },
    EventSpec {
        name: "public",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "pull_request",
        types: Only(PULL_REQUEST_TYPES),
        filters: PR_FILTERS,
    },
    EventSpec {
        name: "pull_request_review",
        types: Only(&["submitted", "edited", "dismissed"]),
        filters: &[],
    },
    EventSpec {
        name: "pull_request_review_comment",
        types: Only(CREATED_EDITED_DELETED),
        filters: &[],
    },
    EventSpec {
        name: "pull_request_target",
        types: Only(PULL_REQUEST_TYPES),
        filters: PR_FILTERS,
    },
    EventSpec {
        name: "push",
        types: NotAllowed,
        filters: &[
            Branches,
            BranchesIgnore,
            Tags,
            TagsIgnore,
            Paths,
            PathsIgnore,
        ],
    },
    EventSpec {
        name: "registry_package",
        types: Only(&["published", "updated"]),
        filters: &[],
    },
    EventSpec {
        name: "release",
        types: Only(&[
            "published",
            "unpublished",
            "created",
            "edited",
            "deleted",
            "prereleased",
            "released",
        ]),
        filters: &[],
    },
    EventSpec {
        name: "repository_dispatch",
        types: Any,
        filters: &[],
    },
    EventSpec {
        name: "schedule",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "status",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "watch",
        types: Only(&["started"]),
        filters: &[],
    },
    EventSpec {
        name: "workflow_call",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "workflow_dispatch",
        types: NotAllowed,
        filters: &[],
    },
    EventSpec {
        name: "workflow_run",
        types: Only(&["completed", "requested", "in_progress"]),
        filters: &[Branches, BranchesIgnore, Workflows],
    },
];

/// The event named `name` (case-sensitive), if GitHub knows it.
pub fn event(name: &str) -> Option<&'static EventSpec> {
    EVENTS
        .binary_search_by(|e| e.name.cmp(name))
        .ok()
        .and_then(|i| EVENTS.get(i))
}

/// The most inputs a `workflow_dispatch` trigger may declare.
pub const MAX_WORKFLOW_DISPATCH_INPUTS: usize = 25;

/// Input types of `workflow_dispatch`.
pub const WORKFLOW_DISPATCH_INPUT_TYPES: &[&str] =
    &["string", "number", "boolean", "choice", "environment"];

/// Input types of `workflow_call`.
pub const WORKFLOW_CALL_INPUT_TYPES: &[&str] = &["boolean", "number", "string"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_so_lookup_works() {
        assert!(EVENTS.windows(2).all(|w| w[0].name < w[1].name));
        for e in EVENTS {
            assert_eq!(event(e.name).map(|f| f.name), Some(e.name));
        }
    }

    fn check_types(name: &str, ty: &str, ok: bool) {
        let spec = event(name).unwrap();
        let accepted = match spec.types {
            NotAllowed => false,
            Only(types) => types.contains(&ty),
            Any => true,
        };
        assert_eq!(accepted, ok, "{name} {ty}");
    }

    #[test]
    fn activity_types() {
        check_types("pull_request", "opened", true);
        check_types("pull_request", "created", false);
        check_types("pull_request_target", "milestoned", true);
        check_types("issues", "typed", true);
        check_types("issues", "created", false);
        check_types("merge_group", "checks_requested", true);
        check_types("merge_group", "opened", false);
        check_types("workflow_run", "in_progress", true);
        check_types("repository_dispatch", "my-custom-type", true);
        check_types("push", "opened", false);
    }

    #[test]
    fn lookups() {
        assert!(event("SCHEDULE").is_none());
        assert!(event("pullreq").is_none());
        assert!(event("schedule").is_some());
        assert!(event("push").unwrap().accepts_filter(Tags));
        assert!(!event("pull_request").unwrap().accepts_filter(Tags));
        assert!(!event("pull_request_review")
            .unwrap()
            .accepts_filter(Branches));
        assert_eq!(Tags.events_allowing(), ["push"]);
        assert_eq!(
            Branches.events_allowing(),
            [
                "merge_group",
                "pull_request",
                "pull_request_target",
                "push",
                "workflow_run"
            ]
        );
        assert_eq!(Filter::from_key("paths-ignore"), Some(PathsIgnore));
        assert_eq!(PathsIgnore.exclusive_with(), Some(Paths));
        assert!(Tags.is_ref() && !Paths.is_ref() && Paths.is_path());
    }
}
