//! Who is calling: the [`Caller`] extractor reads `Authorization: Bearer <token>` (or
//! `token <token>`, as GitHub's clients send it) and asks the store whose token it is.
//!
//! Invariants: without a live token a request is 401 (reads too, unless anonymous read is on);
//! a token is never logged or echoed; a refused role is 403 and audited, like every
//! state-changing request (who, what, target, from where).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use gantry_store::{NewAuditEvent, Role, UserId};
use serde_json::Value;

use super::Error;
use crate::context::ApiContext;

/// The caller of a request: a token's user, or anonymous (only when anonymous read is on).
#[derive(Debug, Clone)]
pub struct Caller {
    pub login: String,
    pub user_id: Option<UserId>,
    /// `None` for an anonymous caller.
    pub role: Option<Role>,
    pub remote_addr: Option<String>,
}

impl<S> FromRequestParts<S> for Caller
where
    ApiContext: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Caller, Error> {
        let context = ApiContext::from_ref(state);
        let remote_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|value| value.to_str().map_err(|_| Error::Unauthorized))
            .transpose()?;
        let Some(header) = header else {
            if context.anonymous_read {
                return Ok(Caller {
                    login: "anonymous".to_owned(),
                    user_id: None,
                    role: None,
                    remote_addr,
                });
            }
            return Err(Error::Unauthorized);
        };
        let (scheme, secret) = header.trim().split_once(' ').ok_or(Error::Unauthorized)?;
        if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")) {
            return Err(Error::Unauthorized);
        }
        let principal = context
            .store
            .authenticate(secret.trim())
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok(Caller {
            login: principal.user.login.clone(),
            user_id: Some(principal.user.id),
            role: Some(principal.role),
            remote_addr,
        })
    }
}

impl Caller {
    /// Checks that the caller may do `action` on `target` with `needed`; a refusal is audited.
    pub async fn require(
        &self,
        context: &ApiContext,
        needed: Role,
        action: &str,
        target: &str,
    ) -> Result<(), Error> {
        match self.role {
            Some(role) if role.allows(needed) => Ok(()),
            Some(role) => {
                let details =
                    serde_json::json!({ "role": role.as_str(), "needed": needed.as_str() });
                self.audit(context, &format!("denied:{action}"), target, details)
                    .await?;
                Err(Error::Forbidden(match needed {
                    Role::Viewer => "read",
                    Role::Developer => "write",
                    Role::Maintainer => "maintain",
                    Role::Admin => "admin",
                }))
            }
            None => Err(Error::Unauthorized),
        }
    }

    /// Records what the caller did.
    pub async fn audit(
        &self,
        context: &ApiContext,
        action: &str,
        target: &str,
        details: Value,
    ) -> Result<(), Error> {
        context
            .store
            .audit(&NewAuditEvent {
                actor_user_id: self.user_id,
                actor: self.login.clone(),
                action: action.to_owned(),
                target: target.to_owned(),
                remote_addr: self.remote_addr.clone(),
                details: details.to_string(),
            })
            .await?;
        Ok(())
    }
}
