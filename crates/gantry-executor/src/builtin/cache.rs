//! Built-in `actions/cache` (and `actions/cache/restore`, `actions/cache/save`) over a local
//! store directory.
//!
//! Honoured inputs: `key`, `path` (one path per line, files or directories; `~` is `$HOME`;
//! relative paths are under the workspace; glob patterns are not expanded), `restore-keys`
//! (prefixes, tried in order, newest entry first), `lookup-only`, `fail-on-cache-miss`.
//! Outputs: `cache-hit` (`true` only for an exact key match), `cache-primary-key`,
//! `cache-matched-key`. `actions/cache` saves in a post step (if the job succeeded and the key
//! was not an exact hit), as the real action does. An entry is identified by key and path list
//! (a different path list is a miss, as GitHub's cache version does); entries are written to a
//! temporary directory and renamed into place, so a reader never sees half an entry.

use std::fs;
use std::path::{Path, PathBuf};

use gantry_plan::Conclusion;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::{input, input_bool, input_lines};
use crate::job::{ActionResult, Job, PostKind, PostStep};
use crate::workspace::copy_tree;

/// What the post step saves.
#[derive(Debug, Clone)]
pub(crate) struct SaveRequest {
    pub key: String,
    pub paths: Vec<String>,
    pub log: Option<usize>,
}

fn entry_id(key: &str, paths: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    for p in paths {
        h.update(b"\n");
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn resolve_path(job: &Job, path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    job.dirs.workspace.join(path)
}

fn entries_dir(job: &Job) -> PathBuf {
    job.options.cache_dir.join("entries")
}

/// Finds the entry for `key` exactly, else the newest one whose key starts with a restore key.
fn find_entry(
    job: &Job,
    key: &str,
    restore_keys: &[String],
    paths: &[String],
) -> Option<(PathBuf, String, bool)> {
    let dir = entries_dir(job);
    let exact = dir.join(entry_id(key, paths));
    if exact.join("data").is_dir() {
        return Some((exact, key.to_owned(), true));
    }
    let wanted_paths = paths.join("\n");
    let mut candidates: Vec<(PathBuf, String, std::time::SystemTime)> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let path = e.path();
            let key = fs::read_to_string(path.join("key")).ok()?;
            let stored_paths = fs::read_to_string(path.join("paths")).ok()?;
            let modified = fs::metadata(path.join("key"))
                .and_then(|m| m.modified())
                .ok()?;
            (stored_paths == wanted_paths && path.join("data").is_dir())
                .then_some((path, key, modified))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.2));
    for prefix in restore_keys {
        if let Some((path, key, _)) = candidates
            .iter()
            .find(|(_, k, _)| k.starts_with(prefix.as_str()))
        {
            return Some((path.clone(), key.clone(), false));
        }
    }
    None
}

pub(crate) fn restore(
    job: &mut Job,
    log: Option<usize>,
    inputs: &IndexMap<String, String>,
    save_in_post: bool,
) -> ActionResult {
    let Some(key) = input(inputs, "key").map(str::to_owned) else {
        job.error(log, "Input required and not supplied: key");
        return ActionResult::failure();
    };
    let paths = input_lines(inputs, "path");
    if paths.is_empty() {
        job.error(log, "Input required and not supplied: path");
        return ActionResult::failure();
    }
    let restore_keys = input_lines(inputs, "restore-keys");
    let mut outputs = IndexMap::new();
    outputs.insert("cache-primary-key".to_owned(), key.clone());
    let found = find_entry(job, &key, &restore_keys, &paths);
    let exact = found.as_ref().is_some_and(|(_, _, exact)| *exact);
    match &found {
        None => {
            if input_bool(inputs, "fail-on-cache-miss", false) {
                job.error(log, &format!("Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: {key}"));
                return ActionResult::failure();
            }
            job.log(
                log,
                &format!(
                    "Cache not found for input keys: {}",
                    std::iter::once(key.clone())
                        .chain(restore_keys.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            outputs.insert("cache-hit".to_owned(), "false".to_owned());
        }
        Some((entry, matched, exact)) => {
            if !input_bool(inputs, "lookup-only", false) {
                for (i, p) in paths.iter().enumerate() {
                    let stored = entry.join("data").join(i.to_string());
                    let target = resolve_path(job, p);
                    let restored = if stored.join("file").is_file() {
                        target
                            .parent()
                            .map_or(Ok(()), fs::create_dir_all)
                            .and_then(|_| fs::copy(stored.join("file"), &target).map(|_| ()))
                    } else if stored.join("dir").is_dir() {
                        copy_tree(&stored.join("dir"), &target)
                    } else {
                        Ok(())
                    };
                    if let Err(e) = restored {
                        job.warning(log, &format!("Failed to restore '{p}': {e}"));
                    }
                }
                job.log(log, &format!("Cache restored from key: {matched}"));
            } else {
                job.log(
                    log,
                    &format!("Cache found and can be restored from key: {matched}"),
                );
            }
            outputs.insert("cache-hit".to_owned(), exact.to_string());
            outputs.insert("cache-matched-key".to_owned(), matched.clone());
        }
    }
    if save_in_post {
        if exact {
            job.log(
                log,
                &format!("Cache hit occurred on the primary key {key}, not saving cache."),
            );
        } else {
            job.posts.push(PostStep {
                name: "Post Run actions/cache".to_owned(),
                condition: "success()".to_owned(),
                kind: PostKind::CacheSave(SaveRequest {
                    key,
                    paths,
                    log: None,
                }),
            });
        }
    }
    ActionResult::success(outputs)
}

pub(crate) fn save_now(
    job: &mut Job,
    log: Option<usize>,
    inputs: &IndexMap<String, String>,
) -> ActionResult {
    let Some(key) = input(inputs, "key").map(str::to_owned) else {
        job.error(log, "Input required and not supplied: key");
        return ActionResult::failure();
    };
    let paths = input_lines(inputs, "path");
    match save(job, &SaveRequest { key, paths, log }) {
        Conclusion::Failure => ActionResult::failure(),
        _ => ActionResult::success(IndexMap::new()),
    }
}

/// Saves the paths under the key (a warning, not a failure, when it cannot, as the action does).
pub(crate) fn save(job: &mut Job, request: &SaveRequest) -> Conclusion {
    let log = request.log;
    let dir = entries_dir(job);
    let id = entry_id(&request.key, &request.paths);
    let final_dir = dir.join(&id);
    if final_dir.join("data").is_dir() {
        job.warning(log, &format!("Failed to save: Unable to reserve cache with key {}, another job may be creating this cache.", request.key));
        return Conclusion::Success;
    }
    let staging = dir.join(format!(".tmp-{id}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = (|| -> std::io::Result<usize> {
        fs::create_dir_all(staging.join("data"))?;
        let mut saved = 0;
        for (i, p) in request.paths.iter().enumerate() {
            let source = resolve_path(job, p);
            let slot = staging.join("data").join(i.to_string());
            fs::create_dir_all(&slot)?;
            if source.is_file() {
                fs::copy(&source, slot.join("file"))?;
                saved += 1;
            } else if source.is_dir() {
                copy_tree(&source, &slot.join("dir"))?;
                saved += 1;
            }
        }
        fs::write(staging.join("paths"), request.paths.join("\n"))?;
        fs::write(staging.join("key"), &request.key)?;
        Ok(saved)
    })();
    match result {
        Ok(0) => {
            let _ = fs::remove_dir_all(&staging);
            job.warning(log, "Path Validation Error: Path(s) specified in the action for caching do(es) not exist, hence no cache is being saved.");
            Conclusion::Success
        }
        Ok(_) => {
            if fs::rename(&staging, &final_dir).is_err() {
                let _ = fs::remove_dir_all(&staging);
            }
            job.log(log, &format!("Cache saved with key: {}", request.key));
            Conclusion::Success
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            job.warning(log, &format!("Failed to save cache {}: {e}", request.key));
            Conclusion::Success
        }
    }
}

/// Used by tests and callers that want to know where an entry lives.
pub fn entry_path(cache_dir: &Path, key: &str, paths: &[String]) -> PathBuf {
    cache_dir.join("entries").join(entry_id(key, paths))
}
