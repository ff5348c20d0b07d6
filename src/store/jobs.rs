//! The durable job queue.
//!
//! Jobs are rows, enqueued in the transaction that causes them. A worker claims one
//! with a lease in a single statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on
//! SQLite the statement runs under the database's one write lock), works on it with
//! no transaction open, then completes or fails it, fenced by its lease (a token
//! unique to the claim). The lease names the instance holding it: when that instance
//! stops heart-beating its leases are released at once (see `instances.rs`); a lease
//! that simply expires is claimed again too.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::QueryBuilder;

use super::{
    new_id, now, with_pool, with_tx, with_writer, Engine, Page, PageRequest, Store, StoreResult, Tx,
};

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
    /// Retried until then; None: its creation plus its kind's deadline.
    pub deadline_at: Option<DateTime<Utc>>,
    /// First failed attempt of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// The provider asked not to be called before then (Retry-After).
    pub hold_until: Option<DateTime<Utc>>,
    /// `permanent` or `deadline`, for a dead job.
    pub dead_reason: Option<String>,
    /// The instance holding the lease, and when its attempt started.
    pub lease_instance: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str =
    "id, kind, dedupe_key, payload, provider, status, attempts, max_attempts, run_after, \
    lease_owner, lease_until, last_error, created_at, updated_at, deadline_at, failing_since, \
    hold_until, dead_reason, lease_instance, claimed_at";

/// A claim of the next runnable job.
pub struct Claim<'a> {
    /// Unique to this claim: only its holder can complete or fail the job.
    pub lease_owner: &'a str,
    pub instance: Option<&'a str>,
    pub lease_until: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// Providers with no capacity in this instance now: their jobs are left for later
    /// (or for another instance), so they cannot occupy every worker.
    pub skip_providers: &'a [String],
    /// Whether jobs that run in the general workers may be claimed (one is free):
    /// those of no provider, or of a provider not in `callable_providers`.
    pub general: bool,
    /// Providers whose jobs run in their own slots (those with a connector).
    pub callable_providers: &'a [String],
}

/// A failed attempt to record.
pub struct Failure<'a> {
    pub error: &'a str,
    /// Ready again then; None: dead.
    pub retry_at: Option<DateTime<Utc>>,
    /// The provider's Retry-After, which no early re-drive may override.
    pub hold_until: Option<DateTime<Utc>>,
    /// Why it is dead, when it is.
    pub dead_reason: Option<&'a str>,
    pub at: DateTime<Utc>,
}

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
    /// Extends a running job's lease (a long job, such as a discovery run, outlasting its lease);
    /// false when the lease is no longer `lease_owner`'s.
    pub async fn extend_job_lease(
        &mut self,
        job_id: &str,
        lease_owner: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            )
            .bind(job_id)
            .bind(lease_owner)
            .bind(until)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

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
        if inserted == 1 && job.run_after <= at {
            self.wake_workers_on_commit();
        }
        Ok(inserted == 1)
    }

    /// Whether `lease_owner` still holds the job's lease. The answer holds until this
    /// transaction ends: SQLite runs one writer at a time, and on PostgreSQL the job's
    /// row stays locked, so a reclaim of an expired lease waits and then finds the
    /// job finished.
    pub async fn holds_lease(&mut self, id: &str, lease_owner: &str) -> StoreResult<bool> {
        let sql = match self.engine() {
            Engine::Sqlite => "SELECT id FROM jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            Engine::Postgres => {
                "SELECT id FROM jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running' FOR UPDATE"
            }
        };
        let held: Option<String> = with_tx!(self, c => {
            sqlx::query_scalar(sql)
                .bind(id)
                .bind(lease_owner)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(held.is_some())
    }

    /// Records a failed attempt, fenced by the lease: ready again at `retry_at` or
    /// dead. False when the lease was lost.
    pub async fn fail_job(
        &mut self,
        id: &str,
        lease_owner: &str,
        failure: &Failure<'_>,
    ) -> StoreResult<bool> {
        let (status, run_after) = match failure.retry_at {
            Some(at) => ("ready", at),
            None => ("dead", failure.at),
        };
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE jobs SET status = $3, run_after = $4, last_error = $5, lease_owner = NULL, lease_until = NULL, \
                 lease_instance = NULL, failing_since = COALESCE(failing_since, $6), hold_until = $7, dead_reason = $8, \
                 updated_at = $6 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            )
            .bind(id)
            .bind(lease_owner)
            .bind(status)
            .bind(run_after)
            .bind(truncate(failure.error, 1000))
            .bind(failure.at)
            .bind(failure.hold_until)
            .bind(failure.dead_reason)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// A provider answers again: its jobs waiting out a backoff are due now (except
    /// where the provider itself asked for a pause), and those that died of their
    /// deadline are re-driven with a new one. Returns how many.
    pub async fn resume_provider_jobs(
        &mut self,
        provider: &str,
        at: DateTime<Utc>,
        new_deadline: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let resumed = with_tx!(self, c => {
            let waiting = sqlx::query(
                "UPDATE jobs SET run_after = $2, updated_at = $2 WHERE provider = $1 AND status = 'ready' \
                 AND failing_since IS NOT NULL AND run_after > $2 AND (hold_until IS NULL OR hold_until <= $2)",
            )
            .bind(provider)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected();
            // Dead of their deadline, or released from it as a canary: retried
            // until a new deadline.
            let dead = sqlx::query(
                "UPDATE jobs SET status = CASE WHEN status = 'dead' THEN 'ready' ELSE status END, \
                 run_after = CASE WHEN status = 'dead' THEN $2 ELSE run_after END, deadline_at = $3, \
                 dead_reason = NULL, updated_at = $2 \
                 WHERE provider = $1 AND status IN ('dead', 'ready') AND dead_reason = 'deadline'",
            )
            .bind(provider)
            .bind(at)
            .bind(new_deadline)
            .execute(&mut *c)
            .await?
            .rows_affected();
            waiting + dead
        });
        if resumed > 0 {
            self.wake_workers_on_commit();
        }
        Ok(resumed)
    }
}

/// The two ways a job becomes runnable.
#[derive(Debug, Clone, Copy)]
enum Runnable {
    /// Ready, and its time has come.
    Due,
    /// Running, but its lease ran out: the worker that held it is gone.
    LeaseExpired,
}

impl Store {
    /// Claims the next runnable job (ready and due, or running with an expired
    /// lease) for `worker` until `lease_until`, whatever its provider.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease_until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<Job>> {
        self.claim(&Claim {
            lease_owner: worker,
            instance: None,
            lease_until,
            at,
            skip_providers: &[],
            general: true,
            callable_providers: &[],
        })
        .await
    }

    /// Claims the next runnable job that `claim` allows: one whose lease expired
    /// (its worker died), else the oldest due.
    pub async fn claim(&self, claim: &Claim<'_>) -> StoreResult<Option<Job>> {
        Ok(self.claim_many(claim, 1).await?.pop())
    }

    /// Claims up to `limit` runnable jobs that `claim` allows, in one transaction:
    /// those whose lease expired first, then the oldest due, in that order. The
    /// dispatcher claims as many as it has room for at once; one at a time, every job
    /// waited for the commit of each claim before it (a durable write each).
    pub async fn claim_many(&self, claim: &Claim<'_>, limit: usize) -> StoreResult<Vec<Job>> {
        let mut jobs = Vec::new();
        if limit == 0 {
            return Ok(jobs);
        }
        let mut tx = self.begin().await?;
        for runnable in [Runnable::LeaseExpired, Runnable::Due] {
            let room = limit - jobs.len();
            if room == 0 {
                break;
            }
            let mut claimed = tx.claim_runnable(claim, runnable, room).await?;
            // RETURNING follows no order.
            claimed.sort_by(|a, b| (a.run_after, &a.id).cmp(&(b.run_after, &b.id)));
            jobs.extend(claimed);
        }
        tx.commit().await?;
        Ok(jobs)
    }
}

impl Tx {
    /// Claims up to `limit` jobs of one kind of runnable, in a single statement. Each
    /// kind is its own index-ordered scan (`LIMIT` on `(status, run_after, id)`), so a
    /// claim reads only the rows it takes however many jobs wait; one `OR` over both
    /// made PostgreSQL read and sort every due job, which made mass offboarding
    /// quadratic.
    async fn claim_runnable(
        &mut self,
        claim: &Claim<'_>,
        runnable: Runnable,
        limit: usize,
    ) -> StoreResult<Vec<Job>> {
        let skip_locked = if self.engine() == Engine::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        Ok(with_tx!(self, c => {
            let mut q = QueryBuilder::<Db>::new("UPDATE jobs SET status = 'running', lease_owner = ");
            q.push_bind(claim.lease_owner.to_string())
                .push(", lease_instance = ")
                .push_bind(claim.instance.map(str::to_string))
                .push(", lease_until = ")
                .push_bind(claim.lease_until)
                .push(", attempts = attempts + 1, claimed_at = ")
                .push_bind(claim.at)
                .push(", updated_at = ")
                .push_bind(claim.at)
                .push(" WHERE id IN (SELECT id FROM jobs WHERE ");
            match runnable {
                Runnable::Due => q.push("status = 'ready' AND run_after <= "),
                Runnable::LeaseExpired => q.push("status = 'running' AND lease_until < "),
            };
            q.push_bind(claim.at);
            match (claim.general, claim.callable_providers) {
                (true, _) => {}
                // No job can run without a general worker.
                (false, []) => {
                    q.push(" AND 1 = 0");
                }
                // One provider (the dispatcher's claims): an equality, so that the
                // scan of (provider, status, run_after, id) comes out in order.
                (false, providers) => {
                    q.push(" AND provider IN (");
                    let mut list = q.separated(", ");
                    for provider in providers {
                        list.push_bind(provider.clone());
                    }
                    q.push(")");
                }
            }
            if !claim.skip_providers.is_empty() {
                q.push(" AND (provider IS NULL OR provider NOT IN (");
                let mut list = q.separated(", ");
                for provider in claim.skip_providers {
                    list.push_bind(provider.clone());
                }
                q.push("))");
            }
            q.push(" ORDER BY run_after, id LIMIT ");
            q.push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
            q.push(skip_locked);
            q.push(") RETURNING ");
            q.push(JOB_COLUMNS);
            q.build_query_as().fetch_all(&mut *c).await?
        }))
    }
}

impl Store {
    /// When the next ready job falls due, if any is waiting.
    pub async fn next_job_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(with_writer!(self, p => {
            sqlx::query_scalar("SELECT MIN(run_after) FROM jobs WHERE status = 'ready'")
                .fetch_one(p)
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

    /// As [`Tx::fail_job`], in a transaction of its own.
    pub async fn fail_job(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let failure = Failure {
            error,
            retry_at,
            hold_until: None,
            dead_reason: retry_at.is_none().then_some("permanent"),
            at: now(),
        };
        let done = tx.fail_job(id, worker, &failure).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Puts a job back without spending an attempt: it never reached its provider
    /// (no free slot, the rate limit), so waiting is not failing.
    pub async fn defer_job(
        &self,
        id: &str,
        worker: &str,
        run_after: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_writer!(self, p => {
            sqlx::query(
                "UPDATE jobs SET status = 'ready', run_after = $3, attempts = attempts - 1, lease_owner = NULL, \
                 lease_until = NULL, lease_instance = NULL, updated_at = $4 \
                 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
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

    /// Makes a dead job ready again now, retried until `deadline`.
    pub async fn retry_job(&self, id: &str, deadline: DateTime<Utc>) -> StoreResult<Option<Job>> {
        let sql = format!(
            "UPDATE jobs SET status = 'ready', attempts = 0, run_after = $2, deadline_at = $3, dead_reason = NULL, \
             updated_at = $2 WHERE id = $1 AND status = 'dead' RETURNING {JOB_COLUMNS}"
        );
        let job: Option<Job> = with_writer!(self, p => {
            sqlx::query_as(&sql).bind(id).bind(now()).bind(deadline).fetch_optional(p).await?
        });
        if job.is_some() {
            self.wake_workers();
        }
        Ok(job)
    }

    /// Re-drives jobs dead since before `before`, each retried until `deadline`;
    /// returns how many.
    pub async fn redrive_dead(
        &self,
        before: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let redriven = with_writer!(self, p => {
            sqlx::query(
                "UPDATE jobs SET status = 'ready', attempts = 0, run_after = $2, deadline_at = $3, dead_reason = NULL, \
                 updated_at = $2 WHERE status = 'dead' AND updated_at < $1",
            )
            .bind(before)
            .bind(now())
            .bind(deadline)
            .execute(p)
            .await?
            .rows_affected()
        });
        if redriven > 0 {
            self.wake_workers();
        }
        Ok(redriven)
    }

    /// The jobs with these dedupe keys.
    pub async fn jobs_by_keys(&self, keys: &[String]) -> StoreResult<Vec<Job>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE dedupe_key IN ("));
            let mut list = q.separated(", ");
            for key in keys {
                list.push_bind(key.clone());
            }
            q.push(")");
            q.build_query_as().fetch_all(p).await?
        }))
    }

    /// The job with this dedupe key, if any.
    pub async fn job_by_key(&self, dedupe_key: &str) -> StoreResult<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE dedupe_key = $1");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(dedupe_key).fetch_optional(p).await?))
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
