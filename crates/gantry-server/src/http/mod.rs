//! The HTTP API: one module per resource, each with its own `router()`, merged here. GitHub's
//! REST paths live under `/api/v3` (the prefix GitHub Enterprise Server uses, so its clients
//! work unchanged); what GitHub has no endpoint for lives under `/api/gantry`.
//!
//! Invariants: every failure is an [`Error`] (status + GitHub-shaped JSON body, internals only
//! in the server's log); a handler that needs a caller says so with the [`Caller`] extractor and
//! checks the role with `Caller::require`, which audits refusals; bodies over [`BODY_LIMIT`] are
//! refused with 413. Tests: `tests/server.rs`.

mod auth;
mod error;
mod health;
mod jobs;
mod live;
mod runs;
mod workflows;

pub use auth::Caller;
pub use error::Error;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::Router;
use gantry_store::Repository;

use crate::context::ApiContext;

/// Request bodies larger than this are refused (413).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The whole API, with `context` as its state.
pub fn router(context: ApiContext) -> Router {
    let github = Router::new()
        .merge(workflows::router())
        .merge(runs::router())
        .merge(jobs::router());
    Router::new()
        .nest("/api/v3", github)
        .merge(health::router())
        .merge(live::router())
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(context)
}

/// The API's own base URL as the client reached it (`http://host:port/api/v3`), for the `url`
/// fields of GitHub's JSON.
pub struct ApiBase(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiBase {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ApiBase, Error> {
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("localhost");
        Ok(ApiBase(format!("http://{host}/api/v3")))
    }
}

/// `/repos/{owner}/{repo}`: the registered repository, or 404.
pub async fn repository(
    context: &ApiContext,
    owner: &str,
    name: &str,
) -> Result<Repository, Error> {
    match context.store.repository(owner, name).await {
        Ok(repository) => Ok(repository),
        Err(gantry_store::StoreError::NotFound { .. }) => Err(Error::NotFound),
        Err(error) => Err(error.into()),
    }
}

/// The `{owner}/{repo}` of a path.
pub type RepoPath = Path<(String, String)>;
