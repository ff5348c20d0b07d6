//! Workers of the durable job queue: claim, run with no transaction open, complete or
//! fail with capped exponential backoff and full jitter; dead after the last attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

mod limits;
mod revocation;

pub use limits::{ProviderLimits, Slot, DEFAULT_PROVIDER_CONCURRENCY};
pub use revocation::DEFAULT_PROPAGATION_SECONDS;

use crate::audit::AuditEntry;
use crate::offboarding::{open_case, SharedPolicy};
use crate::store::jobs::Job;
use crate::store::{now, Store, StoreResult};

/// How long a claim lasts; a worker that dies loses its jobs after this. Twice a
/// job's worst case (30 s for a provider slot, then twice 30 s for the rate limit and
/// a 30 s call), so a live worker is never overtaken.
pub const LEASE: Duration = Duration::from_secs(300);
/// First retry delay, doubled each attempt up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);
/// Dead jobs are re-driven after this long.
pub const REDRIVE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// What running a job came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// Try again later: after `after` when the provider said so (Retry-After), else
    /// after the backoff.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// No point retrying (a configuration error): the job is dead at once.
    Permanent(String),
    /// Done, and already completed by the handler in the transaction that recorded
    /// its result.
    Completed,
    /// Not run: its provider had no free slot or no rate allowance. Back after
    /// `after`, without spending an attempt.
    Defer {
        after: Duration,
    },
}

/// Full-jitter exponential backoff (a random delay up to the capped exponential).
pub fn backoff(attempt: i64, rng: &mut impl Rng) -> Duration {
    let exponent = attempt.clamp(1, 20) as u32 - 1;
    let cap = BASE_BACKOFF
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(MAX_BACKOFF);
    Duration::from_millis(rng.gen_range(0..=cap.as_millis() as u64))
}

/// What the job handlers need.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub policy: SharedPolicy,
    pub providers: std::sync::Arc<std::collections::BTreeMap<String, crate::providers::Provider>>,
    /// Decrypts the secret to revoke, in memory, for the call only.
    pub keys: crate::crypto::SecretKeys,
    pub http: reqwest::Client,
    /// Where alerts are emailed; None when SMTP is not configured.
    pub alerts: Option<crate::alerts::AlertConfig>,
    /// Calls in flight per provider, so one slow provider cannot take every worker.
    pub limits: std::sync::Arc<ProviderLimits>,
}

/// The HTTP client of connectors: bounded, so a hung provider is a timeout (retried),
/// never a stuck worker.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        // A redirect would resend the token (and client credentials) elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("TLS backend available")
}

/// A worker with a stable name (the lease owner).
pub struct Worker {
    pub ctx: Context,
    pub name: String,
}

impl Worker {
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            name: format!("worker-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Claims and runs one job at `at`; returns it, or None when nothing was due.
    pub async fn run_once_at(&self, at: DateTime<Utc>) -> StoreResult<Option<Job>> {
        let lease_until = at + chrono::Duration::from_std(LEASE).expect("small duration");
        let Some(job) = self
            .ctx
            .store
            .claim_job(&self.name, lease_until, at)
            .await?
        else {
            return Ok(None);
        };
        let outcome = run(&self.ctx, &job).await;
        self.settle(&job, outcome, at).await?;
        Ok(Some(job))
    }

    /// Runs jobs until none is due now; for tests and the CLI.
    pub async fn run_until_idle(&self) -> StoreResult<usize> {
        let mut count = 0;
        while self.run_once_at(now()).await?.is_some() {
            count += 1;
        }
        Ok(count)
    }

    async fn settle(&self, job: &Job, outcome: Outcome, at: DateTime<Utc>) -> StoreResult<()> {
        let store = &self.ctx.store;
        let (error, retry_at) = match outcome {
            Outcome::Completed => return Ok(()),
            Outcome::Defer { after } => {
                let run_after =
                    at + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::minutes(1));
                store.defer_job(&job.id, &self.name, run_after).await?;
                return Ok(());
            }
            Outcome::Done => {
                if !store.complete_job(&job.id, &self.name).await? {
                    tracing::warn!(job = %job.id, "lost the lease before completing; the job will run again");
                }
                return Ok(());
            }
            Outcome::Retry { error, after } if job.attempts < job.max_attempts => {
                let delay = after.unwrap_or_else(|| backoff(job.attempts, &mut rand::thread_rng()));
                (
                    error,
                    Some(
                        at + chrono::Duration::from_std(delay)
                            .unwrap_or(chrono::Duration::hours(1)),
                    ),
                )
            }
            Outcome::Retry { error, .. } | Outcome::Permanent(error) => (error, None),
        };
        store
            .fail_job(&job.id, &self.name, &error, retry_at)
            .await?;
        if retry_at.is_none() {
            tracing::error!(job = %job.id, kind = %job.kind, error = %error, "job is dead");
            let mut tx = store.begin().await?;
            tx.append_audit(
                &AuditEntry::new("system", "job.dead", "job", Some(&job.id))
                    .with_details(json!({"kind": job.kind, "provider": job.provider, "attempts": job.attempts, "error": error})),
            )
            .await?;
            // A dead alert is not alerted about (it would only fail the same way).
            if job.kind != "alert" {
                let subject = format!(
                    "{} failed for good at provider {}",
                    job.kind,
                    job.provider.as_deref().unwrap_or("-")
                );
                let body = format!(
                    "Job {} ({}) is dead after {} attempt(s).\n\nReason: {}\n\nIt is re-driven in 24 hours; retry it now with \
                     `ownerbound jobs retry {}` once the cause is fixed.",
                    job.id, job.kind, job.attempts, error, job.id
                );
                crate::alerts::enqueue(
                    &mut tx,
                    &format!("dead:{}:{}", job.id, at.timestamp_micros()),
                    &subject,
                    &body,
                )
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Runs one job's work. Errors of the store are retried like any transient failure.
async fn run(ctx: &Context, job: &Job) -> Outcome {
    let payload: Value = serde_json::from_str(&job.payload).unwrap_or(Value::Null);
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
    let result = match job.kind.as_str() {
        "open_case" => match (text("lifecycle_event_id"), text("person_id")) {
            (Some(event), Some(person)) => open_case(&ctx.store, &event, &person, ctx.policy)
                .await
                .map(|_| Outcome::Done),
            _ => Ok(Outcome::Permanent("malformed open_case payload".into())),
        },
        "revoke" => revocation::revoke(ctx, job, &payload).await,
        "verify" => revocation::reverify(ctx, job, &payload).await,
        "report" => match text("report_id") {
            Some(id) => {
                crate::report::delivery::deliver(&ctx.store, ctx.alerts.as_ref(), &id).await
            }
            None => Ok(Outcome::Permanent("malformed report payload".into())),
        },
        "alert" => Ok(match &ctx.alerts {
            Some(config) => match crate::alerts::send(config, &payload).await {
                Ok(()) => Outcome::Done,
                Err(error) => Outcome::Retry { error, after: None },
            },
            None => Outcome::Permanent(
                "alerts need OWNERBOUND_SMTP_URL and OWNERBOUND_REPORT_TO".into(),
            ),
        }),
        other => Ok(Outcome::Permanent(format!("unknown job kind {other:?}"))),
    };
    result.unwrap_or_else(|err| Outcome::Retry {
        error: format!("storage: {err}"),
        after: None,
    })
}

/// Runs `workers` workers until `shutdown`; in-flight jobs finish first. Also
/// re-drives dead jobs every [`REDRIVE_AFTER`].
pub async fn run_workers(
    ctx: Context,
    workers: usize,
    idle: Duration,
    shutdown: CancellationToken,
) {
    let mut handles = Vec::new();
    for _ in 0..workers {
        let worker = Worker::new(ctx.clone());
        let shutdown = shutdown.clone();
        handles.push(tokio::spawn(async move {
            loop {
                if shutdown.is_cancelled() {
                    return;
                }
                match worker.run_once_at(now()).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "job worker could not reach the database")
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(idle) => {}
                }
            }
        }));
    }
    let store = ctx.store.clone();
    let redrive = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(REDRIVE_AFTER) => {
                    let before = now() - chrono::Duration::from_std(REDRIVE_AFTER).expect("a day");
                    match store.redrive_dead(before).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(jobs = n, "re-driving dead jobs"),
                        Err(err) => tracing::warn!(error = %err, "could not re-drive dead jobs"),
                    }
                }
            }
        }
    });
    for handle in handles {
        let _ = handle.await;
    }
    let _ = redrive.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let mut rng = rand::thread_rng();
        for attempt in 1..30 {
            let delay = backoff(attempt, &mut rng);
            let cap = BASE_BACKOFF
                .saturating_mul(2u32.saturating_pow((attempt.min(20) - 1) as u32))
                .min(MAX_BACKOFF);
            assert!(delay <= cap, "attempt {attempt}: {delay:?} > {cap:?}");
        }
        let delays: std::collections::BTreeSet<_> = (0..20).map(|_| backoff(5, &mut rng)).collect();
        assert!(delays.len() > 1, "no jitter");
    }
}
