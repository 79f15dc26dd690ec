//! Majors of popular actions GitHub no longer runs as written (retired: an error) or runs on a
//! deprecated runtime (a warning), with the date and the reason. The table is data,
//! `data/action_majors.tsv`, read once at first use.
//!
//! Invariant: only a ref naming a major (`v3`, `v3.1`, `v3.1.2`) is looked up; branches and
//! commit SHAs are not, since their runtime is unknown without the action's metadata. Action
//! names compare case-insensitively, as GitHub resolves them. Tests are at the bottom and in
//! `tests/actionlint.rs` (`err/outdated_*.yaml`).

use std::sync::LazyLock;

/// What GitHub does with a major of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MajorStatus {
    Retired,
    Deprecated,
}

/// One row of the table, for one major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MajorInfo {
    pub status: MajorStatus,
    /// `YYYY-MM-DD`: when it was retired, or when its runtime goes.
    pub date: &'static str,
    pub why: &'static str,
}

const TABLE: &str = include_str!("../../data/action_majors.tsv");

/// `(action, major, info)` for every major of the table.
static MAJORS: LazyLock<Vec<(&'static str, &'static str, MajorInfo)>> = LazyLock::new(|| {
    let mut rows = Vec::new();
    for line in TABLE.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [action, majors, status, date, why] = fields[..] else {
            continue;
        };
        let status = match status {
            "retired" => MajorStatus::Retired,
            "deprecated" => MajorStatus::Deprecated,
            _ => continue,
        };
        for major in majors.split_whitespace() {
            rows.push((action, major, MajorInfo { status, date, why }));
        }
    }
    rows
});

/// What the table says of `action` (`owner/repo[/path]`) at `git_ref`, if anything.
pub fn lookup(action: &str, git_ref: &str) -> Option<&'static MajorInfo> {
    let major = major_of(git_ref)?;
    MAJORS
        .iter()
        .find(|(a, m, _)| a.eq_ignore_ascii_case(action) && *m == major)
        .map(|(_, _, info)| info)
}

/// `v3` of `v3`, `v3.1`, `v3.1.2`; `None` for branches and SHAs.
fn major_of(git_ref: &str) -> Option<&str> {
    let digits = git_ref.strip_prefix('v')?;
    let mut parts = digits.split('.');
    let major = parts.next()?;
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !numeric(major) || parts.clone().count() > 2 || !parts.all(numeric) {
        return None;
    }
    git_ref.get(..major.len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_all_parse() {
        let data_rows: usize = TABLE
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                l.split('\t')
                    .nth(1)
                    .map_or(0, |m| m.split_whitespace().count())
            })
            .sum();
        assert_eq!(MAJORS.len(), data_rows);
        assert!(MAJORS
            .iter()
            .all(|(_, _, i)| i.date.len() == 10 && !i.why.is_empty()));
    }

    #[test]
    fn lookups() {
        let status = |a: &str, r: &str| lookup(a, r).map(|i| i.status);
        assert_eq!(
            status("actions/upload-artifact", "v3"),
            Some(MajorStatus::Retired)
        );
        assert_eq!(
            status("Actions/Checkout", "v2.3.4"),
            Some(MajorStatus::Retired)
        );
        assert_eq!(
            status("actions/checkout", "v4"),
            Some(MajorStatus::Deprecated)
        );
        assert_eq!(status("actions/checkout", "v5"), None);
        assert_eq!(status("actions/checkout", "main"), None);
        assert_eq!(status("actions/checkout", "v2-beta"), None);
        assert_eq!(
            status(
                "actions/checkout",
                "ec3a7ce113134d7a93b817d10a8272cb61118579"
            ),
            None
        );
    }
}
