//! API tokens, stored only as hashes.

use chrono::{DateTime, Utc};

use super::{
    conflict, new_id, now, with_pool, with_tx, with_writer, Page, PageRequest, Store, StoreError,
    StoreResult, Tx,
};
use crate::domain::Scope;

/// An API token as listed: never the token, never its hash.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token found by its hash, for authentication.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenMatch {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub token_hash: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

const TOKEN_COLUMNS: &str = "id, name, scope, created_by, created_at, last_used_at, revoked_at";

impl Store {
    /// Every token, revoked ones included, oldest first.
    pub async fn list_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await?))
    }

    /// One page of tokens, oldest first.
    pub async fn list_tokens_page(&self, page: &PageRequest) -> StoreResult<Page<ApiToken>> {
        let rows: Vec<ApiToken> = with_pool!(self, p => {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id > $1 ORDER BY id LIMIT $2"
            );
            sqlx::query_as(&sql)
                .bind(page.after.clone().unwrap_or_default())
                .bind(page.fetch_limit())
                .fetch_all(p)
                .await?
        });
        Ok(page.paginate(rows, |t| &t.id))
    }

    /// The live token with this hash.
    pub async fn find_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenMatch>> {
        Ok(with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, name, scope, token_hash, last_used_at FROM api_tokens \
                 WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(token_hash)
            .fetch_optional(p)
            .await?
        }))
    }

    /// Whether a token with this hash was ever stored, live or revoked.
    pub async fn token_hash_exists(&self, token_hash: &str) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_one(p)
                .await?
        });
        Ok(n > 0)
    }

    /// Records that a token was used.
    pub async fn touch_token(&self, id: &str) -> StoreResult<()> {
        with_writer!(self, p => {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now())
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Whether any token, live or revoked, was ever created.
    pub async fn any_token_exists(&self) -> StoreResult<bool> {
        Ok(self.count_rows("api_tokens").await? > 0)
    }

    /// Whether a live admin token exists.
    pub async fn live_admin_token_exists(&self) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE scope = 'admin' AND revoked_at IS NULL")
                .fetch_one(p)
                .await?
        });
        Ok(n > 0)
    }
}

impl Tx {
    pub async fn insert_token(
        &mut self,
        name: &str,
        scope: Scope,
        token_hash: &str,
        created_by: &str,
    ) -> StoreResult<ApiToken> {
        let id = new_id();
        let sql = format!(
            "INSERT INTO api_tokens (id, name, scope, token_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
        );
        Ok(with_tx!(self, c => {
            sqlx::query_as(&sql)
                .bind(&id)
                .bind(name)
                .bind(scope.as_str())
                .bind(token_hash)
                .bind(created_by)
                .bind(now())
                .fetch_one(&mut *c)
                .await
                .map_err(conflict("a live token with this name already exists"))?
        }))
    }

    /// Revokes the live token with this id or, failing that, this name (never both:
    /// a token could be named like another token's id).
    pub async fn revoke_token(&mut self, id_or_name: &str) -> StoreResult<ApiToken> {
        for column in ["id", "name"] {
            let sql = format!(
                "UPDATE api_tokens SET revoked_at = $2 WHERE {column} = $1 AND revoked_at IS NULL \
                 RETURNING {TOKEN_COLUMNS}"
            );
            let revoked: Option<ApiToken> = with_tx!(self, c => {
                sqlx::query_as(&sql)
                    .bind(id_or_name)
                    .bind(now())
                    .fetch_optional(&mut *c)
                    .await?
            });
            if let Some(token) = revoked {
                return Ok(token);
            }
        }
        Err(StoreError::NotFound)
    }
}
