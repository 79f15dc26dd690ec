//! Building an image from a directory (a Docker action's `runs.image: Dockerfile`) through the Engine
//! API, and a content hash of that directory to tag the result, so a re-run skips the build.
//!
//! Invariant: the build context is exactly the files under the context directory that its
//! `.dockerignore` keeps, sent as a tar in a stable order (sorted paths, symlinks kept as links), and [`context_hash`] covers the same
//! files plus the Dockerfile name and the build args, so equal hashes mean equal builds. A failed
//! build is [`DockerError::BuildFailed`] with the engine's message and the last output lines.
//! Tests: path checks at the bottom; tests/engine.rs builds and runs an image.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Component, Path, PathBuf};

use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::engine::{Engine, GcReport};
use crate::error::DockerError;
use crate::labels;
use crate::lines::{Fragment, LineSplitter};
use crate::DEFAULT_MAX_LINE_BYTES;

/// How many of the last output lines a [`DockerError::BuildFailed`] carries.
const KEPT_LINES: usize = 30;

/// The longest line kept for the error message; a longer one is left out whole rather than cut,
/// since the caller masks the message and a cut secret would not be recognised.
const KEPT_LINE_BYTES: usize = 4096;

/// The last [`KEPT_LINES`] lines of a build, for its error message. The pieces of an over-long
/// line are joined again (or the line left out), never kept as lines of their own.
#[derive(Default)]
struct LastLines {
    lines: VecDeque<String>,
    /// The line whose pieces are arriving; `None` inside it once it grew too long to keep.
    open: Option<Option<String>>,
}

impl LastLines {
    fn push(&mut self, fragment: &Fragment) {
        let line = match self.open.take() {
            Some(Some(mut head)) if head.len() + fragment.text.len() <= KEPT_LINE_BYTES => {
                head.push_str(&fragment.text);
                Some(head)
            }
            Some(_) => None,
            None => (fragment.text.len() <= KEPT_LINE_BYTES).then(|| fragment.text.clone()),
        };
        if !fragment.end_of_line {
            self.open = Some(line);
            return;
        }
        if self.lines.len() == KEPT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(
            line.unwrap_or_else(|| {
                format!("(a line longer than {KEPT_LINE_BYTES} bytes, left out)")
            }),
        );
    }

    fn into_lines(self) -> Vec<String> {
        self.lines.into_iter().collect()
    }
}

/// The Dockerfile used when none is named.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

impl Engine {
    /// Removes the images Gantry built (labelled `gantry.built`): a cache, rebuilt when a job needs
    /// one again. An image a container still uses stays (the engine refuses), without an error.
    pub async fn gc_images(&self) -> Result<GcReport, DockerError> {
        let filters = HashMap::from([(
            String::from("label"),
            vec![
                format!("{}=true", labels::LABEL_MANAGED),
                labels::LABEL_BUILT.to_owned(),
            ],
        )]);
        let images = self
            .docker
            .list_images(Some(bollard::query_parameters::ListImagesOptions {
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(DockerError::api("listing images built by gantry"))?;
        let mut report = GcReport::default();
        for image in images {
            // Each tag goes on its own; the last one takes the image with it. Without force, an
            // image a container (even a stopped one) uses is refused.
            let names = match image.repo_tags.is_empty() {
                true => vec![image.id.clone()],
                false => image.repo_tags.clone(),
            };
            for name in names {
                match self
                    .docker
                    .remove_image(
                        &name,
                        None::<bollard::query_parameters::RemoveImageOptions>,
                        None,
                    )
                    .await
                {
                    Ok(_) => report.images.push(name),
                    // In use (409) or already gone (404): nothing to do.
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404 | 409,
                        ..
                    }) => {}
                    Err(source) => {
                        return Err(DockerError::Api {
                            action: format!("removing image {name}"),
                            source,
                        })
                    }
                }
            }
        }
        Ok(report)
    }

    /// Builds `context_dir` into an image tagged `tag`, with the Dockerfile at `dockerfile` (relative
    /// to the context; `Dockerfile` when `None`) and `build_args` (`--build-arg`). Each output line
    /// of the build goes to `on_line` as it arrives (a line longer than [`DEFAULT_MAX_LINE_BYTES`] in
    /// pieces, see [`crate::lines`]). Uses the engine's classic builder, which needs
    /// no session; base images that are not local are pulled by the engine.
    pub async fn build_image(
        &self,
        context_dir: &Path,
        dockerfile: Option<&str>,
        tag: &str,
        build_args: &[(String, String)],
        on_line: &mut (dyn FnMut(Fragment) + Send),
    ) -> Result<(), DockerError> {
        let dockerfile = checked_dockerfile(dockerfile)?;
        let context = context_dir.to_path_buf();
        let dockerfile_in_context = dockerfile.to_string();
        let archive =
            tokio::task::spawn_blocking(move || context_tar(&context, &dockerfile_in_context))
                .await
                .map_err(|error| io::Error::other(error.to_string()))
                .and_then(|result| result)
                .map_err(|source| DockerError::BuildContext {
                    context: context_dir.display().to_string(),
                    source,
                })?;
        let options = BuildImageOptions {
            dockerfile: dockerfile.to_string(),
            t: Some(tag.to_string()),
            rm: true,
            forcerm: true,
            buildargs: (!build_args.is_empty())
                .then(|| build_args.iter().cloned().collect::<HashMap<_, _>>()),
            // So `gc_images` can find what Gantry built.
            labels: Some(HashMap::from([
                (labels::LABEL_MANAGED.to_owned(), "true".to_owned()),
                (labels::LABEL_BUILT.to_owned(), "action".to_owned()),
            ])),
            ..Default::default()
        };
        let mut last_lines = LastLines::default();
        let mut keep = |fragment: Fragment, on_line: &mut (dyn FnMut(Fragment) + Send)| {
            last_lines.push(&fragment);
            on_line(fragment);
        };
        let mut splitter = LineSplitter::new(DEFAULT_MAX_LINE_BYTES);
        let mut progress =
            self.docker
                .build_image(options, None, Some(bollard::body_full(archive.into())));
        let mut failure: Option<String> = None;
        while let Some(item) = progress.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream {
                        splitter.push(text.as_bytes(), &mut |fragment| keep(fragment, on_line));
                    }
                    if let Some(status) = info.status {
                        let status = match info.id {
                            Some(id) => format!("{id}: {status}"),
                            None => status,
                        };
                        keep(
                            Fragment {
                                text: status,
                                end_of_line: true,
                            },
                            on_line,
                        );
                    }
                    if let Some(message) = info.error_detail.and_then(|detail| detail.message) {
                        failure = Some(message);
                        break;
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    failure = Some(error);
                    break;
                }
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                    failure = Some(message);
                    break;
                }
                Err(source) => {
                    return Err(DockerError::Api {
                        action: format!("building image {tag}"),
                        source,
                    })
                }
            }
        }
        splitter.finish(&mut |fragment| keep(fragment, on_line));
        if let Some(message) = failure {
            return Err(DockerError::BuildFailed {
                tag: tag.to_string(),
                message: message.trim_end().to_string(),
                last_lines: last_lines.into_lines(),
            });
        }
        // The engine answers a finished stream without an error only for a built image; check it,
        // since a tag that is missing now would fail later with a less clear message.
        if !self.image_exists(tag).await? {
            return Err(DockerError::BuildFailed {
                tag: tag.to_string(),
                message: String::from("the build ended without an image"),
                last_lines: last_lines.into_lines(),
            });
        }
        Ok(())
    }
}

/// A stable hash (hex SHA-256) of everything a build of `context_dir` depends on: each file's path,
/// kind, executable bit and content (or link target), the Dockerfile name and the build args (in
/// the order given). For a tag such as `gantry-action/<name>:<first 12 characters>`.
pub fn context_hash(
    context_dir: &Path,
    dockerfile: Option<&str>,
    build_args: &[(String, String)],
) -> io::Result<String> {
    let dockerfile = checked_dockerfile(dockerfile)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?;
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(b"gantry-context-v1");
    field(dockerfile.as_bytes());
    for (name, value) in build_args {
        field(name.as_bytes());
        field(value.as_bytes());
    }
    for entry in context_entries(context_dir, dockerfile)? {
        field(entry.relative.to_string_lossy().as_bytes());
        let metadata = std::fs::symlink_metadata(&entry.full)?;
        if metadata.is_dir() {
            field(b"dir");
        } else if metadata.file_type().is_symlink() {
            field(b"link");
            field(
                std::fs::read_link(&entry.full)?
                    .to_string_lossy()
                    .as_bytes(),
            );
        } else {
            field(if is_executable(&metadata) {
                b"exec"
            } else {
                b"file"
            });
            field(&std::fs::read(&entry.full)?);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The Dockerfile path, which must stay inside the context.
fn checked_dockerfile(dockerfile: Option<&str>) -> Result<&str, DockerError> {
    let dockerfile = dockerfile
        .filter(|name| !name.is_empty())
        .unwrap_or(DEFAULT_DOCKERFILE);
    let inside = Path::new(dockerfile)
        .components()
        .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(DockerError::InvalidSpec {
            reason: format!(
                "the Dockerfile {dockerfile:?} must be a path inside the build context"
            ),
        });
    }
    Ok(dockerfile)
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

struct ContextEntry {
    full: PathBuf,
    relative: PathBuf,
}

/// Every file, directory and symlink under `root` that `.dockerignore` does not exclude,
/// directories before their contents, sorted by name at each level; symlinks are not followed. The
/// Dockerfile and `.dockerignore` are always kept, as the docker CLI keeps them.
fn context_entries(root: &Path, dockerfile: &str) -> io::Result<Vec<ContextEntry>> {
    let ignore = IgnoreRules::load(root)?;
    let dockerfile = clean_relative(dockerfile);
    let mut entries = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative_dir) = pending.pop() {
        let mut children: Vec<_> = std::fs::read_dir(root.join(&relative_dir))?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<io::Result<_>>()?;
        children.sort();
        let mut subdirs = Vec::new();
        for name in children {
            let relative = relative_dir.join(&name);
            let full = root.join(&relative);
            let is_dir = std::fs::symlink_metadata(&full)?.is_dir();
            let always_kept = relative == dockerfile || relative == Path::new(".dockerignore");
            let ignored = !always_kept && ignore.is_ignored(&relative);
            // An ignored directory is still walked when an exception may bring back a file in it.
            if is_dir && (!ignored || ignore.has_exceptions) {
                subdirs.push(relative.clone());
            }
            if !ignored {
                entries.push(ContextEntry { full, relative });
            }
        }
        // Reversed, so the stack pops them in name order.
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(entries)
}

/// `path` without `./` parts, as context entries are named.
fn clean_relative(path: &str) -> PathBuf {
    Path::new(path)
        .components()
        .filter(|component| matches!(component, Component::Normal(_)))
        .collect()
}

/// The patterns of a context's `.dockerignore`: Go `filepath.Match` globs plus `**`, a leading
/// `!` for an exception; the last pattern that matches a path (or one of its parent directories)
/// decides.
struct IgnoreRules {
    rules: Vec<(globset::GlobMatcher, bool)>,
    has_exceptions: bool,
}

impl IgnoreRules {
    fn load(root: &Path) -> io::Result<IgnoreRules> {
        let text = match std::fs::read_to_string(root.join(".dockerignore")) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error),
        };
        IgnoreRules::parse(&text)
    }

    fn parse(text: &str) -> io::Result<IgnoreRules> {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = clean_relative(pattern.trim_start_matches('/'));
            let pattern = pattern.to_string_lossy();
            if pattern.is_empty() {
                continue;
            }
            let glob = globset::GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|error| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("invalid .dockerignore pattern {line:?}: {error}"),
                    )
                })?;
            rules.push((glob.compile_matcher(), exception));
        }
        let has_exceptions = rules.iter().any(|(_, exception)| *exception);
        Ok(IgnoreRules {
            rules,
            has_exceptions,
        })
    }

    fn is_ignored(&self, relative: &Path) -> bool {
        let mut ignored = false;
        for (glob, exception) in &self.rules {
            if relative
                .ancestors()
                .any(|path| !path.as_os_str().is_empty() && glob.is_match(path))
            {
                ignored = !exception;
            }
        }
        ignored
    }
}

/// The build context as an uncompressed tar.
fn context_tar(root: &Path, dockerfile: &str) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    for entry in context_entries(root, dockerfile)? {
        builder.append_path_with_name(&entry.full, &entry.relative)?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(text: &str, end_of_line: bool) -> Fragment {
        Fragment {
            text: text.to_owned(),
            end_of_line,
        }
    }

    #[test]
    fn last_lines_join_the_pieces_of_a_line() {
        // A secret cut by a piece boundary must come back whole in the error message.
        let mut last = LastLines::default();
        last.push(&piece("token=SEC", false));
        last.push(&piece("RET and more", true));
        last.push(&piece("next", true));
        assert_eq!(last.into_lines(), vec!["token=SECRET and more", "next"]);
    }

    #[test]
    fn last_lines_leave_out_a_line_too_long_to_keep() {
        let mut last = LastLines::default();
        let long = "x".repeat(KEPT_LINE_BYTES - 3);
        last.push(&piece(&long, false));
        last.push(&piece("SECRET", false));
        last.push(&piece("tail", true));
        last.push(&piece(&"y".repeat(KEPT_LINE_BYTES + 1), true));
        let lines = last.into_lines();
        assert_eq!(lines.len(), 2);
        assert!(lines
            .iter()
            .all(|l| l.contains("left out") && !l.contains("SEC")));
    }

    #[test]
    fn last_lines_keep_the_last_ones() {
        let mut last = LastLines::default();
        for i in 0..KEPT_LINES + 5 {
            last.push(&piece(&i.to_string(), true));
        }
        let lines = last.into_lines();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines[0], "5");
    }

    fn check_dockerfile(input: Option<&str>, expected: Option<&str>) {
        assert_eq!(
            checked_dockerfile(input).ok(),
            expected,
            "dockerfile: {input:?}"
        );
    }

    #[test]
    fn dockerfiles_stay_inside_the_context() {
        check_dockerfile(None, Some("Dockerfile"));
        check_dockerfile(Some(""), Some("Dockerfile"));
        check_dockerfile(Some("docker/Dockerfile.ci"), Some("docker/Dockerfile.ci"));
        check_dockerfile(Some("./Dockerfile"), Some("./Dockerfile"));
        check_dockerfile(Some("../Dockerfile"), None);
        check_dockerfile(Some("/etc/Dockerfile"), None);
        check_dockerfile(Some("a/../../Dockerfile"), None);
    }

    fn write(root: &Path, path: &str, text: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    #[test]
    fn the_context_hash_follows_content_names_and_args() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", "FROM scratch\n");
        write(root, "src/a.sh", "echo a\n");
        let args = vec![(String::from("V"), String::from("1"))];
        let hash = |args: &[(String, String)]| context_hash(root, None, args).unwrap();
        let first = hash(&args);
        assert_eq!(first.len(), 64);
        assert_eq!(hash(&args), first, "stable");
        assert_ne!(hash(&[]), first, "build args count");
        assert_ne!(
            context_hash(root, Some("./Dockerfile"), &args).unwrap(),
            first,
            "the Dockerfile name counts"
        );
        write(root, "src/a.sh", "echo b\n");
        let changed = hash(&args);
        assert_ne!(changed, first, "content counts");
        std::fs::rename(root.join("src/a.sh"), root.join("src/b.sh")).unwrap();
        assert_ne!(hash(&args), changed, "names count");
        assert!(context_hash(&root.join("missing"), None, &args).is_err());
        assert!(context_hash(root, Some("../x"), &args).is_err());
    }

    fn check_ignored(rules: &str, path: &str, expected: bool) {
        let rules = IgnoreRules::parse(rules).unwrap();
        assert_eq!(
            rules.is_ignored(Path::new(path)),
            expected,
            "{path} with {rules:?}",
            rules = rules.rules.len()
        );
    }

    #[test]
    fn dockerignore_patterns() {
        check_ignored("", "a.txt", false);
        check_ignored("*.md", "README.md", true);
        check_ignored("*.md", "docs/a.md", false);
        check_ignored("**/*.md", "docs/a.md", true);
        check_ignored("node_modules", "node_modules/x/y.js", true);
        check_ignored("/node_modules/", "node_modules", true);
        check_ignored("./build", "build/out", true);
        check_ignored("# comment\n\n.git", ".git/config", true);
        check_ignored("*.md\n!KEEP.md", "KEEP.md", false);
        check_ignored("*.md\n!KEEP.md", "OTHER.md", true);
        check_ignored("docs\n!docs/keep.txt", "docs/keep.txt", false);
        check_ignored("docs\n!docs/keep.txt", "docs/other.txt", true);
        check_ignored("!a\n*", "a", true);
        check_ignored("temp?", "temp1", true);
        check_ignored("temp?", "temp12", false);
        check_ignored("*/temp*", "sub/temporary", true);
        check_ignored("*/temp*", "sub/deep/temporary", false);
        assert!(IgnoreRules::parse("[").is_err());
    }

    #[test]
    fn dockerignore_shapes_the_context_and_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", "FROM scratch\n");
        write(root, "app.sh", "echo app\n");
        write(root, "node_modules/big.js", "x");
        write(root, "docs/keep.txt", "k");
        write(root, "docs/other.txt", "o");
        write(
            root,
            ".dockerignore",
            "node_modules\ndocs\n!docs/keep.txt\nDockerfile\n",
        );
        let names: Vec<String> = context_entries(root, "Dockerfile")
            .unwrap()
            .iter()
            .map(|entry| entry.relative.display().to_string())
            .collect();
        assert_eq!(
            names,
            vec![".dockerignore", "Dockerfile", "app.sh", "docs/keep.txt"]
        );
        let before = context_hash(root, None, &[]).unwrap();
        write(root, "node_modules/big.js", "changed");
        assert_eq!(
            context_hash(root, None, &[]).unwrap(),
            before,
            "ignored files do not count"
        );
        write(root, "docs/keep.txt", "changed");
        assert_ne!(context_hash(root, None, &[]).unwrap(), before);
    }

    #[test]
    fn the_context_tar_holds_every_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "b/z.txt", "z");
        write(root, "b/a.txt", "a");
        write(root, "Dockerfile", "FROM scratch\n");
        let archive = context_tar(root, "Dockerfile").unwrap();
        let mut reader = tar::Archive::new(archive.as_slice());
        let names: Vec<String> = reader
            .entries()
            .unwrap()
            .map(|entry| entry.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["Dockerfile", "b", "b/a.txt", "b/z.txt"]);
    }
}
