//! Making sure an image is present: the pull policy, registry credentials, and what was done.
//!
//! GitHub pulls every image a job names. Gantry does the same by default ([`PullPolicy::Always`])
//! but works offline: when the pull fails and a local copy exists, the local copy is used and
//! the caller is told why ([`ImageSource::LocalAfterFailedPull`]). An [`Engine`] value pulls each
//! image at most once (a run shares one engine value), so a matrix of ten jobs does not ask the
//! registry ten times.
//!
//! Invariant: an `Ok` result means the image is present locally now; an error names the image
//! and everything that was tried. Credentials are only sent to the engine with the pull request.
//! Tests: `tests/engine.rs` (real engine) and the `split_reference` cases below.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;

use crate::engine::Engine;
use crate::error::DockerError;

/// How long a pull may go without any progress message before it is given up.
const PULL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// When to ask the registry for an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every image (once per engine value); use a local copy when the pull fails.
    #[default]
    Always,
    /// Pull only images that are not present locally.
    Missing,
    /// Never pull; an image that is not present locally is an error.
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<PullPolicy, String> {
        match text {
            "always" => Ok(PullPolicy::Always),
            "missing" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(format!(
                "unknown pull policy {other:?} (expected always, missing or never)"
            )),
        }
    }
}

/// A registry login (`container.credentials` / `services.<id>.credentials`).
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Where an image came from when [`Engine::ensure_image`] made sure it is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// The local copy was used without asking a registry (policy `missing`/`never`, or pulled
    /// earlier through this engine value).
    Local,
    /// It was pulled from its registry.
    Pulled,
    /// The pull failed (the reason is kept) and the local copy was used.
    LocalAfterFailedPull(String),
}

/// What an engine value already made sure of, per image reference.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checked(Arc<Mutex<HashMap<String, ImageSource>>>);

impl Checked {
    fn get(&self, image: &str) -> Option<ImageSource> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(image).cloned()
    }

    fn set(&self, image: &str, source: &ImageSource) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(image.to_owned(), source.clone());
    }
}

impl Engine {
    /// Makes sure `image` is present, following `policy`; a pull is bounded by `pull_timeout`
    /// and sends `auth` when given. The error says what was tried when nothing worked.
    pub async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
        auth: Option<&RegistryAuth>,
        pull_timeout: Duration,
    ) -> Result<ImageSource, DockerError> {
        let unavailable = |reason: String| DockerError::ImageUnavailable {
            image: image.to_string(),
            reason,
        };
        match policy {
            PullPolicy::Never => {
                return match self.image_exists(image).await? {
                    true => Ok(ImageSource::Local),
                    false => Err(unavailable(
                        "pulling is turned off (pull policy never)".into(),
                    )),
                }
            }
            PullPolicy::Missing => {
                if self.image_exists(image).await? {
                    return Ok(ImageSource::Local);
                }
                return match self.pull(image, auth, pull_timeout).await {
                    Ok(()) => Ok(ImageSource::Pulled),
                    Err(reason) => Err(unavailable(reason)),
                };
            }
            PullPolicy::Always => {}
        }
        if let Some(earlier) = self.images.get(image) {
            return Ok(match earlier {
                ImageSource::Pulled => ImageSource::Local,
                other => other,
            });
        }
        let source = match self.pull(image, auth, pull_timeout).await {
            Ok(()) => ImageSource::Pulled,
            Err(reason) => match self.image_exists(image).await? {
                true => ImageSource::LocalAfterFailedPull(reason),
                false => return Err(unavailable(reason)),
            },
        };
        self.images.set(image, &source);
        Ok(source)
    }

    /// Pulls `image`; the error is the registry's or the engine's reason.
    async fn pull(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
        timeout: Duration,
    ) -> Result<(), String> {
        let (repository, tag) = split_reference(image);
        let options = CreateImageOptions {
            from_image: Some(repository.to_string()),
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let credentials = auth.map(|auth| DockerCredentials {
            username: Some(auth.username.clone()),
            password: Some(auth.password.clone()),
            ..Default::default()
        });
        let pull = async {
            let mut progress = self.docker.create_image(Some(options), None, credentials);
            // A registry that stops answering (a network that drops packets, a captive portal)
            // must not hold a run for the whole pull timeout when a local copy could be used.
            loop {
                let idle = PULL_IDLE_TIMEOUT.min(timeout);
                let item = match tokio::time::timeout(idle, progress.next()).await {
                    Ok(Some(item)) => item,
                    Ok(None) => break,
                    Err(_) => return Err(format!("the registry sent nothing for {idle:?}")),
                };
                let info = item.map_err(|error| error.to_string())?;
                if let Some(error) = info.error_detail.and_then(|detail| detail.message) {
                    return Err(error);
                }
            }
            Ok(())
        };
        match tokio::time::timeout(timeout, pull).await {
            Err(_) => Err(format!("the pull did not finish within {timeout:?}")),
            Ok(Err(reason)) => Err(reason),
            // The pull stream may end without an error yet without the image (some registries).
            Ok(Ok(())) => match self.image_exists(image).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("the pull ended but the image is still missing".into()),
                Err(error) => Err(error.to_string()),
            },
        }
    }
}

/// Splits `repo[:tag][@digest]` into what the pull API takes; the tag defaults to `latest`. A colon
/// inside the registry host (`localhost:5000/app`) is not a tag separator.
pub fn split_reference(image: &str) -> (&str, &str) {
    if image.contains('@') {
        // A digest reference is pulled as a whole.
        return (image, "");
    }
    let last_slash = image.rfind('/').map_or(0, |index| index + 1);
    match image[last_slash..].rfind(':') {
        Some(colon) => {
            let split = last_slash + colon;
            (&image[..split], &image[split + 1..])
        }
        None => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::{split_reference, PullPolicy};

    fn check(input: &str, repository: &str, tag: &str) {
        assert_eq!(
            split_reference(input),
            (repository, tag),
            "input: {input:?}"
        );
    }

    #[test]
    fn splits_image_references() {
        check("postgres", "postgres", "latest");
        check("postgres:15", "postgres", "15");
        check("ghcr.io/org/app:1.2", "ghcr.io/org/app", "1.2");
        check("localhost:5000/app", "localhost:5000/app", "latest");
        check("localhost:5000/app:v1", "localhost:5000/app", "v1");
        check("app@sha256:abc", "app@sha256:abc", "");
    }

    #[test]
    fn pull_policies_parse() {
        assert_eq!("always".parse(), Ok(PullPolicy::Always));
        assert_eq!("missing".parse(), Ok(PullPolicy::Missing));
        assert_eq!("never".parse(), Ok(PullPolicy::Never));
        assert_eq!(
            "sometimes".parse::<PullPolicy>(),
            Err("unknown pull policy \"sometimes\" (expected always, missing or never)".into())
        );
    }
}
