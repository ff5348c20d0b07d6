//! Running ownerbound processes and the leases they hold.
//!
//! Every process that runs jobs registers a row and heartbeats it. An instance is
//! stopped when it shuts down, when it has not heart-beaten for a while, or at once
//! when another instance on the same host and process namespace sees that its process
//! is gone (a crash, `kill -9`, a restart). The leases of a stopped instance are
//! released so its jobs run again within seconds, not at lease expiry; fencing by the
//! lease token means a late completion from the stopped holder changes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{with_pool, Store, StoreResult};

/// A registered instance.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Instance {
    pub id: String,
    pub hostname: String,
    pub process_ns: String,
    pub pid: i64,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<String>,
}

const INSTANCE_COLUMNS: &str =
    "id, hostname, process_ns, pid, version, started_at, heartbeat_at, stopped_at, stop_reason";

impl Store {
    pub async fn register_instance(&self, instance: &Instance) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        super::with_tx!(tx, c => {
            sqlx::query(
                "INSERT INTO instances (id, hostname, process_ns, pid, version, started_at, heartbeat_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&instance.id)
            .bind(&instance.hostname)
            .bind(&instance.process_ns)
            .bind(instance.pid)
            .bind(&instance.version)
            .bind(instance.started_at)
            .bind(instance.heartbeat_at)
            .execute(&mut *c)
            .await?;
        });
        tx.commit().await
    }

    /// Records a heartbeat; false when the instance was already declared stopped
    /// (it was paused for too long: its leases went to others).
    pub async fn heartbeat(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let beat = super::with_tx!(tx, c => {
            sqlx::query("UPDATE instances SET heartbeat_at = $2 WHERE id = $1 AND stopped_at IS NULL")
                .bind(id)
                .bind(at)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        tx.commit().await?;
        Ok(beat == 1)
    }

    /// Brings back an instance that was seen stopped while it was only paused.
    pub async fn revive_instance(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        super::with_tx!(tx, c => {
            sqlx::query("UPDATE instances SET stopped_at = NULL, stop_reason = NULL, heartbeat_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at)
                .execute(&mut *c)
                .await?;
        });
        tx.commit().await
    }

    /// Marks instances stopped (unless they are already); returns how many were.
    pub async fn stop_instances(
        &self,
        ids: &[String],
        reason: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut stopped = 0;
        let mut tx = self.begin().await?;
        for id in ids {
            stopped += super::with_tx!(tx, c => {
                sqlx::query("UPDATE instances SET stopped_at = $2, stop_reason = $3 WHERE id = $1 AND stopped_at IS NULL")
                    .bind(id)
                    .bind(at)
                    .bind(reason)
                    .execute(&mut *c)
                    .await?
                    .rows_affected()
            });
        }
        tx.commit().await?;
        Ok(stopped)
    }

    /// Forgets instances stopped before `before` that hold nothing; returns how many.
    pub async fn prune_instances(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let pruned = super::with_tx!(tx, c => {
            sqlx::query(
                "DELETE FROM instances WHERE stopped_at < $1 AND NOT EXISTS \
                 (SELECT 1 FROM jobs WHERE jobs.status = 'running' AND jobs.lease_instance = instances.id)",
            )
            .bind(before)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        tx.commit().await?;
        Ok(pruned)
    }

    /// Live instances, oldest first.
    pub async fn live_instances(&self) -> StoreResult<Vec<Instance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE stopped_at IS NULL ORDER BY started_at, id"
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await?))
    }

    pub async fn get_instance(&self, id: &str) -> StoreResult<Option<Instance>> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?))
    }

    /// Whether a job is still leased to a stopped instance (its release was
    /// interrupted); read-only, so the steady state writes nothing.
    pub async fn stopped_instances_hold_leases(&self) -> StoreResult<bool> {
        let held: i64 = with_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE status = 'running' \
                 AND lease_instance IN (SELECT id FROM instances WHERE stopped_at IS NOT NULL)",
            )
            .fetch_one(p)
            .await?
        });
        Ok(held > 0)
    }

    /// Releases the leases held by stopped instances: those jobs are ready now.
    /// The attempt they were on is not counted (it may or may not have reached the
    /// provider; revocation is idempotent either way).
    pub async fn release_leases_of_stopped(&self, at: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let released = super::with_tx!(tx, c => {
            sqlx::query(
                "UPDATE jobs SET status = 'ready', run_after = $1, attempts = attempts - 1, lease_owner = NULL, \
                 lease_until = NULL, lease_instance = NULL, updated_at = $1 WHERE status = 'running' \
                 AND lease_instance IN (SELECT id FROM instances WHERE stopped_at IS NOT NULL)",
            )
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        if released > 0 {
            tx.wake_workers_on_commit();
        }
        tx.commit().await?;
        Ok(released)
    }

    /// Forwards PostgreSQL notifications on [`super::JOBS_CHANNEL`] (commits of other
    /// instances that made jobs runnable) to this process's job signal, until
    /// `shutdown`. Does nothing on SQLite, where one process serves a database.
    pub async fn forward_job_notifications(&self, shutdown: tokio_util::sync::CancellationToken) {
        let super::Pool::Postgres(pool) = &self.pool else {
            return;
        };
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for jobs of other instances; polling meanwhile");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    }
                }
            };
            if let Err(err) = listener.listen(super::JOBS_CHANNEL).await {
                tracing::warn!(error = %err, "cannot listen for jobs of other instances; polling meanwhile");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                }
            }
            // Whatever was notified while not listening is looked for now.
            self.wake_workers();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    // `try_recv` gives None when the connection was lost and is
                        // re-established: what was notified meanwhile is looked for.
                    received = listener.try_recv() => match received {
                        Ok(_) => self.wake_workers(),
                        Err(err) => {
                            tracing::warn!(error = %err, "lost the job notifications; reconnecting");
                            break;
                        }
                    }
                }
            }
        }
    }
}
