//! Gusto's verification tokens: the windows an admin arms, and every token received
//! while one is open (see migration 0015).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{new_id, now, with_pool, with_tx, StoreResult, Tx};
use crate::store::Store;

/// Most tokens one armed window accepts: Gusto sends one per subscription; more
/// is someone else guessing the URL, and must not fill the table.
pub const MAX_TOKENS_PER_WINDOW: i64 = 20;

/// A received token as listed (never the token itself).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReceivedToken {
    pub id: String,
    pub source: String,
    pub received_at: DateTime<Utc>,
    pub sender: String,
    pub claimed_at: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
}

/// What receiving a verification POST came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Kept,
    /// The source is not armed (or its window closed): treated as any unsigned POST.
    NotArmed,
    /// The window already holds [`MAX_TOKENS_PER_WINDOW`].
    WindowFull,
}

/// What claiming came to.
#[derive(Debug)]
pub enum Claimed {
    /// The token's id and its sealed value, which is cleared in the same write.
    Token {
        id: String,
        sealed: Vec<u8>,
    },
    Nothing,
    /// Several unclaimed tokens and no id chosen: the admin picks one.
    Ambiguous(Vec<ReceivedToken>),
}

impl Store {
    /// The tokens `source` received, newest first (at most the last 100).
    pub async fn list_verification_tokens(&self, source: &str) -> StoreResult<Vec<ReceivedToken>> {
        Ok(with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, source, received_at, sender, claimed_at, claimed_by \
                 FROM hr_verification_tokens WHERE source = $1 ORDER BY received_at DESC, id DESC LIMIT 100",
            )
            .bind(source)
            .fetch_all(p)
            .await?
        }))
    }
}

impl Store {
    /// Whether `source` accepts verification tokens at `at`: read on the pool, so
    /// that unsigned requests to an unarmed source never take a writer.
    pub async fn verification_armed(&self, source: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let armed: i64 = with_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM hr_verification_windows WHERE source = $1 AND expires_at > $2",
            )
            .bind(source)
            .bind(at)
            .fetch_one(p)
            .await?
        });
        Ok(armed > 0)
    }
}

impl Tx {
    /// Opens (or extends) `source`'s window until `until`.
    pub async fn arm_verification(
        &mut self,
        source: &str,
        by: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO hr_verification_windows (source, armed_by, armed_at, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (source) DO UPDATE SET \
                 armed_by = excluded.armed_by, armed_at = excluded.armed_at, expires_at = excluded.expires_at",
            )
            .bind(source)
            .bind(by)
            .bind(now())
            .bind(until)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Keeps a token received now from `sender`, when `source`'s window is open and
    /// not full.
    pub async fn receive_verification_token(
        &mut self,
        source: &str,
        sender: &str,
        sealed: &[u8],
        at: DateTime<Utc>,
    ) -> StoreResult<Received> {
        let armed_at: Option<DateTime<Utc>> = with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT armed_at FROM hr_verification_windows WHERE source = $1 AND expires_at > $2",
            )
            .bind(source)
            .bind(at)
            .fetch_optional(&mut *c)
            .await?
        });
        let Some(armed_at) = armed_at else {
            return Ok(Received::NotArmed);
        };
        let kept: i64 = with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM hr_verification_tokens WHERE source = $1 AND received_at >= $2",
            )
            .bind(source)
            .bind(armed_at)
            .fetch_one(&mut *c)
            .await?
        });
        if kept >= MAX_TOKENS_PER_WINDOW {
            return Ok(Received::WindowFull);
        }
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO hr_verification_tokens (id, source, received_at, sender, sealed_token) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(new_id())
            .bind(source)
            .bind(at)
            .bind(sender)
            .bind(sealed)
            .execute(&mut *c)
            .await?;
        });
        Ok(Received::Kept)
    }

    /// Takes `source`'s token `id` (or its only unclaimed one) for `by`: the sealed
    /// value is returned and cleared, and the source's window closes.
    pub async fn claim_verification_token(
        &mut self,
        source: &str,
        id: Option<&str>,
        by: &str,
    ) -> StoreResult<Claimed> {
        let unclaimed: Vec<ReceivedToken> = with_tx!(self, c => {
            sqlx::query_as(
                "SELECT id, source, received_at, sender, claimed_at, claimed_by \
                 FROM hr_verification_tokens WHERE source = $1 AND sealed_token IS NOT NULL \
                 ORDER BY received_at, id",
            )
            .bind(source)
            .fetch_all(&mut *c)
            .await?
        });
        let chosen = match id {
            Some(id) => unclaimed.iter().find(|token| token.id == id),
            None if unclaimed.len() > 1 => return Ok(Claimed::Ambiguous(unclaimed)),
            None => unclaimed.first(),
        };
        let Some(id) = chosen.map(|token| token.id.clone()) else {
            return Ok(Claimed::Nothing);
        };
        let sealed: Option<Vec<u8>> = with_tx!(self, c => {
            sqlx::query_scalar("SELECT sealed_token FROM hr_verification_tokens WHERE id = $1")
                .bind(&id)
                .fetch_one(&mut *c)
                .await?
        });
        let Some(sealed) = sealed else {
            return Ok(Claimed::Nothing);
        };
        // Cleared only if still there: of two claims at once, one gets the token.
        let cleared = with_tx!(self, c => {
            sqlx::query(
                "UPDATE hr_verification_tokens SET sealed_token = NULL, claimed_at = $3, claimed_by = $4 \
                 WHERE id = $1 AND sealed_token = $2",
            )
            .bind(&id)
            .bind(&sealed)
            .bind(now())
            .bind(by)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        if cleared != 1 {
            return Ok(Claimed::Nothing);
        }
        with_tx!(self, c => {
            sqlx::query("DELETE FROM hr_verification_windows WHERE source = $1")
                .bind(source)
                .execute(&mut *c)
                .await?;
        });
        Ok(Claimed::Token { id, sealed })
    }
}
