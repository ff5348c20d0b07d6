//! Whether each provider answers. A revocation that fails transiently marks its
//! provider down (once per outage: that transition alerts); a call that gets a real
//! answer marks it up again, and that transition resumes every revocation waiting on
//! it. Rows are shared by all instances, so an outage alerts once, not per instance.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{with_pool, with_tx, Store, StoreResult, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProviderHealth {
    pub provider: String,
    /// `up` or `down`.
    pub state: String,
    /// Since when it is in that state.
    pub since: DateTime<Utc>,
    /// The last transient failure (reduced to codes, never a secret).
    pub last_error: Option<String>,
    /// When its last outage alert was queued.
    pub alerted_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const HEALTH_COLUMNS: &str = "provider, state, since, last_error, alerted_at, updated_at";

impl Tx {
    /// Records a transient failure at `provider`. Returns the row when this failure
    /// turned the provider from up (or unknown) to down: the start of an outage.
    pub async fn provider_failed(
        &mut self,
        provider: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<ProviderHealth>> {
        let error: String = error.chars().take(500).collect();
        let sql = format!(
            "INSERT INTO provider_health (provider, state, since, last_error, updated_at) VALUES ($1, 'down', $2, $3, $2) \
             ON CONFLICT (provider) DO UPDATE SET state = 'down', since = $2, last_error = $3, updated_at = $2 \
             WHERE provider_health.state = 'up' RETURNING {HEALTH_COLUMNS}"
        );
        let started: Option<ProviderHealth> = with_tx!(self, c => {
            sqlx::query_as(&sql).bind(provider).bind(at).bind(&error).fetch_optional(&mut *c).await?
        });
        if started.is_none() {
            // Down already: keep the latest error visible.
            with_tx!(self, c => {
                sqlx::query("UPDATE provider_health SET last_error = $2, updated_at = $3 WHERE provider = $1")
                    .bind(provider)
                    .bind(&error)
                    .bind(at)
                    .execute(&mut *c)
                    .await?;
            });
        }
        Ok(started)
    }

    /// Notes that an outage alert was queued now.
    pub async fn provider_alerted(&mut self, provider: &str, at: DateTime<Utc>) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("UPDATE provider_health SET alerted_at = $2 WHERE provider = $1")
                .bind(provider)
                .bind(at)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// Records that `provider` answered. Returns the outage it ends (the row as it
    /// was while down), if it was down.
    pub async fn provider_answered(
        &mut self,
        provider: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<ProviderHealth>> {
        let sql = format!(
            "SELECT {HEALTH_COLUMNS} FROM provider_health WHERE provider = $1 AND state = 'down'"
        );
        let outage: Option<ProviderHealth> = with_tx!(self, c => {
            sqlx::query_as(&sql).bind(provider).fetch_optional(&mut *c).await?
        });
        if outage.is_none() {
            return Ok(None);
        }
        let changed = with_tx!(self, c => {
            sqlx::query("UPDATE provider_health SET state = 'up', since = $2, updated_at = $2 WHERE provider = $1 AND state = 'down'")
                .bind(provider)
                .bind(at)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(outage.filter(|_| changed == 1))
    }
}

impl Store {
    /// Whether `provider` is down, read without a transaction (a hint: the write
    /// that matters is conditional).
    pub async fn provider_is_down(&self, provider: &str) -> StoreResult<bool> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM provider_health WHERE provider = $1 AND state = 'down'")
                .bind(provider)
                .fetch_one(p)
                .await?
        }) > 0)
    }

    pub async fn provider_health(&self) -> StoreResult<Vec<ProviderHealth>> {
        let sql = format!("SELECT {HEALTH_COLUMNS} FROM provider_health ORDER BY provider");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await?))
    }

    /// Makes one waiting job of a down provider due now, as a canary: its call shows
    /// whether the provider answers again (then the rest resume). Nothing when a job
    /// of that provider is running already (that call is the probe) or none waits.
    /// Returns whether a canary was released.
    pub async fn release_canary(&self, provider: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let released = with_tx!(tx, c => {
            sqlx::query(
                "UPDATE jobs SET run_after = $2, status = 'ready', updated_at = $2 WHERE id = (SELECT id FROM jobs \
                 WHERE provider = $1 AND ((status = 'ready' AND failing_since IS NOT NULL AND run_after > $2 \
                 AND (hold_until IS NULL OR hold_until <= $2)) OR (status = 'dead' AND dead_reason = 'deadline')) \
                 ORDER BY run_after, id LIMIT 1) AND status IN ('ready', 'dead') \
                 AND NOT EXISTS (SELECT 1 FROM jobs WHERE provider = $1 AND (status = 'running' OR \
                 (status = 'ready' AND run_after <= $2)))",
            )
            .bind(provider)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        if released > 0 {
            tx.wake_workers_on_commit();
        }
        tx.commit().await?;
        Ok(released > 0)
    }
}
