//! Users, API tokens and audit events. A token is 32 random bytes shown once
//! (`gantry_` + 64 hex digits); the store keeps its SHA-256 and a short prefix to show in
//! lists. A presented token is found by the hash of what was presented: no stored secret is
//! compared, so a constant-time comparison would protect nothing here (timing could at most tell
//! an attacker about the hash of a guess, which says nothing about a real token).
//! The audit table is append-only: this module inserts and reads, nothing updates or deletes it.

use crate::error::{is_unique_violation, Result, StoreError};
use crate::model::*;
use crate::row::col;
use crate::{now_ms, Store};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use std::fmt;

const TOKEN_PREFIX: &str = "gantry_";
/// How much of a token lists show: `gantry_` and 8 hex digits (32 bits, enough to tell tokens
/// apart, far too little to guess the rest).
const SHOWN_LEN: usize = TOKEN_PREFIX.len() + 8;
/// `last_used_at` is written at most this often per token, so reads stay reads.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

const TOKEN_COLUMNS: &str =
    "id, user_id, name, role, prefix, created_at, expires_at, last_used_at, revoked_at";

/// A token just created: the only time its secret exists outside the client.
pub struct IssuedToken {
    pub token: Token,
    secret: String,
}

impl IssuedToken {
    /// The secret to hand to the user once.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &self.token)
            .field("secret", &"***")
            .finish()
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn user(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: UserId(col(row, "id")?),
        login: col(row, "login")?,
        role: Role::from_column("users.role", col(row, "role")?)?,
        created_at: col(row, "created_at")?,
    })
}

fn token(row: &AnyRow) -> Result<Token> {
    Ok(Token {
        id: TokenId(col(row, "id")?),
        user_id: UserId(col(row, "user_id")?),
        name: col(row, "name")?,
        role: Role::from_column("api_tokens.role", col(row, "role")?)?,
        prefix: col(row, "prefix")?,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
        last_used_at: col(row, "last_used_at")?,
        revoked_at: col(row, "revoked_at")?,
    })
}

fn audit_event(row: &AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: AuditId(col(row, "id")?),
        at: col(row, "at")?,
        actor_user_id: col::<Option<i64>>(row, "actor_user_id")?.map(UserId),
        actor: col(row, "actor")?,
        action: col(row, "action")?,
        target: col(row, "target")?,
        remote_addr: col(row, "remote_addr")?,
        details: col(row, "details")?,
    })
}

impl Store {
    pub async fn create_user(&self, login: &str, role: Role) -> Result<User> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO users (login, role, created_at) VALUES ($1, $2, $3) \
             RETURNING id, login, role, created_at",
        )
        .bind(login)
        .bind(role.as_str())
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await
        .map_err(|error| match is_unique_violation(&error) {
            true => StoreError::AlreadyExists {
                what: "user",
                key: login.to_owned(),
            },
            false => error.into(),
        })?;
        let created = user(&row)?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn user(&self, login: &str) -> Result<User> {
        let row = sqlx::query("SELECT id, login, role, created_at FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "user",
                key: login.to_owned(),
            })?;
        user(&row)
    }

    /// Creates a token for `user` with `role` (bounded by the user's role when used).
    pub async fn create_token(
        &self,
        user: UserId,
        name: &str,
        role: Role,
        expires_at: Option<i64>,
    ) -> Result<IssuedToken> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
        let mut tx = self.write().await?;
        let sql = format!(
            "INSERT INTO api_tokens (user_id, name, role, token_hash, prefix, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {TOKEN_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(user.0)
            .bind(name)
            .bind(role.as_str())
            .bind(hash(&secret))
            .bind(&secret[..SHOWN_LEN])
            .bind(now_ms())
            .bind(expires_at)
            .fetch_one(&mut *tx)
            .await?;
        let token = token(&row)?;
        tx.commit().await?;
        Ok(IssuedToken { token, secret })
    }

    /// Who `secret` belongs to, when it is a live token (not revoked, not expired).
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.role AS token_role, t.last_used_at, u.id, u.login, \
             u.role, u.created_at FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(hash(secret))
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = user(&row)?;
        let token_id = TokenId(col(&row, "token_id")?);
        let token_role = Role::from_column("api_tokens.role", col(&row, "token_role")?)?;
        let last_used: Option<i64> = col(&row, "last_used_at")?;
        if last_used.is_none_or(|at| now - at >= LAST_USED_GRANULARITY_MS) {
            let mut tx = self.write().await?;
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(token_id.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(Some(Principal {
            role: token_role.min(user.role),
            user,
            token_id,
        }))
    }

    pub async fn list_tokens(&self, user: UserId) -> Result<Vec<Token>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(user.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(token).collect()
    }

    pub async fn revoke_token(&self, id: TokenId) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id.0)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "live token",
                key: id.to_string(),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Appends an audit event.
    pub async fn audit(&self, event: &NewAuditEvent) -> Result<AuditId> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO audit_events (at, actor_user_id, actor, action, target, remote_addr, \
             details) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(now_ms())
        .bind(event.actor_user_id.map(|id| id.0))
        .bind(&event.actor)
        .bind(&event.action)
        .bind(&event.target)
        .bind(&event.remote_addr)
        .bind(&event.details)
        .fetch_one(&mut *tx)
        .await?;
        let id = AuditId(col(&row, "id")?);
        tx.commit().await?;
        Ok(id)
    }

    /// Audit events after `after` (from the first when `None`), oldest first, at most `limit`.
    pub async fn audit_events(
        &self,
        after: Option<AuditId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, at, actor_user_id, actor, action, target, remote_addr, details \
             FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.map_or(0, |id| id.0))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(audit_event).collect()
    }
}
