//! `/api/gantry/health` (is the server up, can it reach its store), `/api/gantry/poke` (a hook
//! saying the outbox has entries; it carries nothing, so it needs no token) and `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Error;
use crate::context::ApiContext;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/api/gantry/health", get(health))
        .route("/api/gantry/poke", post(poke))
        .route("/metrics", get(metrics))
}

async fn health(State(context): State<ApiContext>) -> Result<Json<Value>, Error> {
    let queued = context.store.pending_trigger_count().await?;
    Ok(Json(json!({
        "status": "ok",
        "database": context.store.backend().as_str(),
        "queued_triggers": queued,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// Prometheus text; a token is needed as for any read (scrapers send one as a bearer token).
async fn metrics(
    State(context): State<ApiContext>,
    _caller: super::Caller,
) -> Result<impl axum::response::IntoResponse, Error> {
    let queued = context.store.pending_trigger_count().await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        context.metrics.render(queued),
    ))
}

async fn poke(State(context): State<ApiContext>) -> StatusCode {
    context.wake.notify_one();
    StatusCode::NO_CONTENT
}
