//! The durable job queue.
//!
//! Jobs are rows, enqueued in the transaction that causes them. A worker claims one
//! with a lease in a single statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on
//! SQLite the statement runs under the database's one write lock), works on it with
//! no transaction open, then completes or fails it, fenced by its lease. A worker that
//! dies leaves a lease that expires, and the job is claimed again.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::QueryBuilder;

use super::{new_id, now, with_pool, with_tx, Engine, Page, PageRequest, Store, StoreResult, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub dedupe_key: String,
    /// JSON text; never a secret.
    pub payload: String,
    pub provider: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_after: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const JOB_COLUMNS: &str =
    "id, kind, dedupe_key, payload, provider, status, attempts, max_attempts, run_after, \
    lease_owner, lease_until, last_error, created_at, updated_at";

/// A job to enqueue.
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub dedupe_key: &'a str,
    pub payload: &'a Value,
    pub provider: Option<&'a str>,
    pub max_attempts: i64,
    pub run_after: DateTime<Utc>,
}

/// Completes a job, fenced by its lease: only the worker holding it can.
const COMPLETE: &str =
    "UPDATE jobs SET status = 'done', lease_owner = NULL, lease_until = NULL, updated_at = $3 \
     WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

impl Tx {
    /// As [`Store::complete_job`], in the transaction that records the job's result,
    /// so the result and the completion are one write.
    pub async fn complete_job(&mut self, id: &str, worker: &str) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query(COMPLETE)
                .bind(id)
                .bind(worker)
                .bind(now())
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Retires a job whose work a human did: a waiting or dead job is marked done,
    /// so no retry or re-drive undoes the human's record.
    pub async fn retire_job(&mut self, dedupe_key: &str) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query(
                "UPDATE jobs SET status = 'done', updated_at = $2 WHERE dedupe_key = $1 AND status IN ('ready', 'dead')",
            )
            .bind(dedupe_key)
            .bind(now())
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Enqueues a job; returns false when a job with the same key exists.
    pub async fn enqueue_job(&mut self, job: &NewJob<'_>) -> StoreResult<bool> {
        let at = now();
        let inserted = with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO jobs (id, kind, dedupe_key, payload, provider, status, attempts, max_attempts, run_after, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'ready', 0, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
            )
            .bind(new_id())
            .bind(job.kind)
            .bind(job.dedupe_key)
            .bind(job.payload.to_string())
            .bind(job.provider)
            .bind(job.max_attempts)
            .bind(job.run_after)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(inserted == 1)
    }
}

impl Store {
    /// Claims the next runnable job (ready and due, or running with an expired
    /// lease) for `worker` until `lease_until`.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease_until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<Job>> {
        let skip_locked = if self.engine() == Engine::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id = (SELECT id FROM jobs WHERE (status = 'ready' AND run_after <= $3) \
             OR (status = 'running' AND lease_until < $3) ORDER BY run_after, id LIMIT 1{skip_locked}) \
             RETURNING {JOB_COLUMNS}"
        );
        Ok(with_pool!(self, p => {
            sqlx::query_as(&sql)
                .bind(worker)
                .bind(lease_until)
                .bind(at)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Marks a job done, if `worker` still holds its lease. Returns false when the
    /// lease was lost (the job was reclaimed by another worker).
    pub async fn complete_job(&self, id: &str, worker: &str) -> StoreResult<bool> {
        let done = with_pool!(self, p => {
            sqlx::query(COMPLETE)
                .bind(id)
                .bind(worker)
                .bind(now())
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Records a failed attempt: ready again at `retry_at`, or dead when None.
    pub async fn fail_job(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let (status, run_after) = match retry_at {
            Some(at) => ("ready", at),
            None => ("dead", now()),
        };
        let done = with_pool!(self, p => {
            sqlx::query(
                "UPDATE jobs SET status = $3, run_after = $4, last_error = $5, lease_owner = NULL, lease_until = NULL, \
                 updated_at = $6 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            )
            .bind(id)
            .bind(worker)
            .bind(status)
            .bind(run_after)
            .bind(truncate(error, 1000))
            .bind(now())
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Puts a job back without spending an attempt: it never reached its provider
    /// (no free slot, the rate limit), so waiting is not failing.
    pub async fn defer_job(
        &self,
        id: &str,
        worker: &str,
        run_after: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_pool!(self, p => {
            sqlx::query(
                "UPDATE jobs SET status = 'ready', run_after = $3, attempts = attempts - 1, lease_owner = NULL, \
                 lease_until = NULL, updated_at = $4 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            )
            .bind(id)
            .bind(worker)
            .bind(run_after)
            .bind(now())
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Makes a dead (or finished) job ready again with a fresh set of attempts.
    pub async fn retry_job(&self, id: &str) -> StoreResult<Option<Job>> {
        let sql = format!(
            "UPDATE jobs SET status = 'ready', attempts = 0, run_after = $2, updated_at = $2 \
             WHERE id = $1 AND status = 'dead' RETURNING {JOB_COLUMNS}"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).bind(now()).fetch_optional(p).await?),
        )
    }

    /// Re-drives jobs dead since before `before`; returns how many.
    pub async fn redrive_dead(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(with_pool!(self, p => {
            sqlx::query(
                "UPDATE jobs SET status = 'ready', attempts = 0, run_after = $2, updated_at = $2 \
                 WHERE status = 'dead' AND updated_at < $1",
            )
            .bind(before)
            .bind(now())
            .execute(p)
            .await?
            .rows_affected()
        }))
    }

    pub async fn get_job(&self, id: &str) -> StoreResult<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?))
    }

    pub async fn list_jobs(
        &self,
        status: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<Job>> {
        let rows: Vec<Job> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1"));
            if let Some(status) = status {
                q.push(" AND status = ").push_bind(status.to_string());
            }
            if let Some(after) = &page.after {
                q.push(" AND id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        Ok(page.paginate(rows, |j| &j.id))
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
