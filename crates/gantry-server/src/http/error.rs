//! The API's one error type: each variant maps to a status and GitHub's error body
//! (`{"message": …, "documentation_url": …}`); internal causes are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gantry_store::StoreError;
use serde_json::json;

use crate::error::ServerError;
use crate::record::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials, or credentials that are not a live token.
    #[error("requires authentication")]
    Unauthorized,
    /// A token without the role the request needs.
    #[error("must have {0} access")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("internal error")]
    Store(#[from] StoreError),
    #[error("internal error")]
    Server(#[from] ServerError),
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound | Error::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Conflict(_) | Error::Store(StoreError::WrongState { .. }) => {
                StatusCode::CONFLICT
            }
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Store(_) | Error::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Error::Unauthorized => "Requires authentication".to_owned(),
            Error::NotFound | Error::Store(StoreError::NotFound { .. }) => "Not Found".to_owned(),
            // A wrong state says which state (no internals in it).
            Error::Store(error @ StoreError::WrongState { .. }) => error.to_string(),
            Error::Store(error) => {
                tracing::error!(error = %error_chain(error), "request failed");
                "Internal Server Error".to_owned()
            }
            Error::Server(error) => {
                tracing::error!(error = %error_chain(error), "request failed");
                "Internal Server Error".to_owned()
            }
            other => other.to_string(),
        };
        let body = json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        });
        (status, Json(body)).into_response()
    }
}

/// A JSON body, with GitHub's answers to bad ones: 400 for malformed JSON or the wrong shape,
/// 413 for one over the limit.
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Error> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::PayloadTooLarge)
            }
            Err(rejection) => Err(Error::BadRequest(format!(
                "Problems parsing JSON: {}",
                rejection.body_text()
            ))),
        }
    }
}
