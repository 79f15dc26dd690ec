//! Runner labels: the GitHub-hosted runner images and the labels self-hosted runners carry.
//!
//! Invariant: comparisons are case-insensitive, as GitHub matches labels. A label missing from
//! these lists is not an error (a self-hosted runner may define any label); the check warns.
//! A label of a retired image is an error: GitHub no longer runs jobs asking for it, and a
//! self-hosted runner reusing the name would be a trap. Tests are at the bottom.

/// Labels of GitHub-hosted runners.
pub const GITHUB_HOSTED: &[&str] = &[
    "ubuntu-latest",
    "ubuntu-latest-4-cores",
    "ubuntu-latest-8-cores",
    "ubuntu-latest-16-cores",
    "ubuntu-slim",
    "ubuntu-26.04",
    "ubuntu-26.04-arm",
    "ubuntu-24.04",
    "ubuntu-24.04-arm",
    "ubuntu-22.04",
    "ubuntu-22.04-arm",
    "windows-latest",
    "windows-latest-8-cores",
    "windows-2025",
    "windows-2022",
    "windows-11-arm",
    "macos-latest",
    "macos-latest-xl",
    "macos-latest-xlarge",
    "macos-latest-large",
    "macos-26",
    "macos-26-xlarge",
    "macos-26-large",
    "macos-15",
    "macos-15-xlarge",
    "macos-15-large",
    "macos-15-intel",
    "macos-14",
    "macos-14-xl",
    "macos-14-xlarge",
    "macos-14-large",
];

/// Images GitHub has retired, with the day jobs stopped running on them (from the runner-images
/// announcements), as `(label, date)`.
pub const RETIRED: &[(&str, &str)] = &[
    ("ubuntu-16.04", "2021-09-20"),
    ("ubuntu-18.04", "2023-04-03"),
    ("ubuntu-20.04", "2025-04-15"),
    ("windows-2016", "2022-03-15"),
    ("windows-2019", "2025-06-30"),
    ("macos-10.15", "2022-08-30"),
    ("macos-11", "2024-06-28"),
    ("macos-12", "2024-12-03"),
    ("macos-12-xl", "2024-12-03"),
    ("macos-13", "2025-12-04"),
    ("macos-13-xl", "2025-12-04"),
    ("macos-13-xlarge", "2025-12-04"),
    ("macos-13-large", "2025-12-04"),
];

/// The day GitHub retired the image `label` names, when it did.
pub fn retired_on(label: &str) -> Option<&'static str> {
    RETIRED
        .iter()
        .find(|(l, _)| l.eq_ignore_ascii_case(label))
        .map(|(_, date)| *date)
}

/// Labels every self-hosted runner gets by default.
pub const SELF_HOSTED: &[&str] = &[
    "self-hosted",
    "linux",
    "macos",
    "windows",
    "x64",
    "arm",
    "arm64",
];

/// Whether `label` names a GitHub-hosted runner image.
pub fn is_github_hosted(label: &str) -> bool {
    GITHUB_HOSTED.iter().any(|l| l.eq_ignore_ascii_case(label))
}

/// Whether `label` is known, either GitHub-hosted or a default self-hosted label.
pub fn is_known(label: &str) -> bool {
    is_github_hosted(label) || SELF_HOSTED.iter().any(|l| l.eq_ignore_ascii_case(label))
}

/// The operating system a label implies, if any.
fn os_of(label: &str) -> Option<&'static str> {
    let lower = label.to_ascii_lowercase();
    if lower.starts_with("ubuntu") || lower == "linux" {
        Some("linux")
    } else if lower.starts_with("macos") {
        Some("macos")
    } else if lower.starts_with("windows") {
        Some("windows")
    } else {
        None
    }
}

/// Whether a runner with both labels cannot exist: a GitHub-hosted image and a label of
/// another operating system (`ubuntu-latest` with `windows-latest` or `macos`).
pub fn conflicts(a: &str, b: &str) -> bool {
    if !is_github_hosted(a) || !is_known(b) {
        return false;
    }
    matches!((os_of(a), os_of(b)), (Some(x), Some(y)) if x != y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(is_known("ubuntu-latest"));
        assert!(is_known("Ubuntu-24.04"));
        assert!(is_known("self-hosted"));
        assert!(is_known("ARM64"));
        assert!(!is_known("ubuntu-oldest"));
        assert!(!is_known("macos-10.15"));
        assert!(is_known("ubuntu-26.04-arm"));
        assert!(!is_known("ubuntu-20.04"));
        assert_eq!(retired_on("Ubuntu-20.04"), Some("2025-04-15"));
        assert_eq!(retired_on("ubuntu-22.04"), None);
        assert!(RETIRED.iter().all(|(l, _)| !is_known(l)));
        assert!(!is_known(""));
        assert!(is_github_hosted("macos-14"));
        assert!(!is_github_hosted("linux"));
    }

    #[test]
    fn conflicting_labels() {
        assert!(conflicts("ubuntu-latest", "windows-latest"));
        assert!(conflicts("ubuntu-latest", "windows"));
        assert!(conflicts("macos-latest", "linux"));
        assert!(!conflicts("ubuntu-latest", "linux"));
        assert!(!conflicts("ubuntu-latest", "ubuntu-latest"));
        assert!(!conflicts("self-hosted", "linux"));
        assert!(!conflicts("ubuntu-latest", "my-label"));
        assert!(!conflicts("ubuntu-latest", "ubuntu-24.04"));
    }
}
