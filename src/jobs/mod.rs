//! Workers of the durable job queue: claim, run with no transaction open, then
//! complete or fail, fenced by the claim's lease.
//!
//! Retry policy: a failing job is retried with capped exponential backoff and
//! jitter (the provider's `Retry-After` honoured) until it succeeds, fails in a way
//! retrying cannot help (dead at once), or its deadline passes (dead, escalated). A
//! provider's first failure of an outage alerts at once; when it answers again its
//! waiting revocations resume at once (see [`health`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::json;

mod dispatch;
pub mod health;
pub mod instance;
mod limits;
mod revocation;

pub use dispatch::run_workers;
pub use limits::{ProviderLimits, Slot, DEFAULT_PROVIDER_CONCURRENCY};
pub use revocation::DEFAULT_PROPAGATION_SECONDS;

use crate::audit::AuditEntry;
use crate::offboarding::{open_case, SharedPolicy};
use crate::report::delivery::DeliveryError;
use crate::store::jobs::{Claim, Failure, Job};
use crate::store::{now, Store, StoreResult};
use crate::tasks::Task;

/// How long a claim lasts without its instance being seen dead. Instances that stop
/// heart-beating lose their leases within seconds (see [`instance`]); this bound is
/// only for a live instance whose job is stuck, and is twice a job's worst case (a
/// 30 s wait for the rate limit and two calls of at most [`MAX_CALL_TIMEOUT`]).
pub const LEASE: Duration = Duration::from_secs(300);
/// First retry delay, doubled each attempt up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_secs(2);
/// The longest pause between two attempts. Short, because a provider that answers
/// again resumes its jobs at once anyway; this bounds the load of a long outage.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// Dead jobs are re-driven after this long (a provider that answers again re-drives
/// its revocations at once).
pub const REDRIVE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
// Call bounds and the client belong to the connectors; jobs are sized by them.
pub use crate::connectors::client::{http_client, DEFAULT_CALL_TIMEOUT, MAX_CALL_TIMEOUT};

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
    /// As `Retry`, because the provider itself failed (no answer in time, refused,
    /// 5xx, 429): the start of an outage, if it was up.
    ProviderFailed {
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

/// Capped exponential backoff with equal jitter: half the capped exponential, plus
/// a random part up to the other half (never an immediate retry storm).
pub fn backoff(attempt: i64, rng: &mut impl Rng) -> Duration {
    let exponent = attempt.clamp(1, 20) as u32 - 1;
    let cap = BASE_BACKOFF
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(MAX_BACKOFF)
        .as_millis() as u64;
    Duration::from_millis(cap / 2 + rng.gen_range(0..=cap / 2))
}

/// What the job handlers need.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub policy: SharedPolicy,
    pub providers: Arc<std::collections::BTreeMap<String, crate::connectors::providers::Provider>>,
    /// Decrypts the secret to revoke, in memory, for the call only.
    pub keys: crate::crypto::SecretKeys,
    pub http: reqwest::Client,
    /// Where alerts are emailed; None when SMTP is not configured.
    pub alerts: Option<crate::alerts::AlertConfig>,
    /// Calls in flight per provider, so one slow provider cannot take every worker.
    pub limits: Arc<ProviderLimits>,
    /// How long a failing job is retried before it is dead and escalated.
    pub retry_deadline: Duration,
    /// The registered instance whose workers hold the leases; None for an
    /// unregistered runner (tests driving jobs step by step).
    pub instance: Option<String>,
    /// How a master key rotation paces its batches.
    pub key_rotation: crate::key_rotation::Pace,
}

impl Context {
    /// A context with the default policy, limits and deadline, no alerts and no
    /// registered instance.
    pub fn new(
        store: Store,
        providers: Arc<std::collections::BTreeMap<String, crate::connectors::providers::Provider>>,
        keys: crate::crypto::SecretKeys,
        http: reqwest::Client,
    ) -> Self {
        Self {
            store,
            policy: SharedPolicy::default(),
            providers,
            keys,
            http,
            alerts: None,
            limits: Arc::default(),
            retry_deadline: Duration::from_secs(24 * 60 * 60),
            instance: None,
            key_rotation: crate::key_rotation::Pace::default(),
        }
    }

    /// When a job stops being retried.
    fn deadline_of(&self, job: &Job) -> DateTime<Utc> {
        job.deadline_at.unwrap_or_else(|| {
            job.created_at + chrono::Duration::from_std(self.retry_deadline).expect("bounded")
        })
    }

    /// The deadline of a job re-driven now.
    pub fn fresh_deadline(&self) -> DateTime<Utc> {
        now() + chrono::Duration::from_std(self.retry_deadline).expect("bounded")
    }
}

/// A job claimed by a worker, with the provider slot it runs in.
pub(crate) struct Claimed {
    pub job: Job,
    pub slot: Option<Slot>,
    /// Put back at once (no slot after all): nothing to run.
    pub deferred: bool,
}

/// Which jobs a claim may take.
#[derive(Clone, Copy)]
pub(crate) enum ClaimScope<'a> {
    /// Any this instance can run now: none of a provider without a free slot here,
    /// and none that calls no provider unless `general` allows.
    Any { general: bool },
    /// Those of one provider with a connector, which run in its slots.
    Provider(&'a str),
    /// Those that run in the general workers: of no provider, or of one without a
    /// connector here.
    General,
}

/// Claims up to `limit` jobs of `scope`, in one transaction, under one lease owner.
pub(crate) async fn claim_jobs(
    ctx: &Context,
    at: DateTime<Utc>,
    scope: ClaimScope<'_>,
    limit: usize,
) -> StoreResult<Vec<Job>> {
    let lease_owner = format!(
        "{}/{}",
        ctx.instance.as_deref().unwrap_or("unregistered"),
        uuid::Uuid::new_v4().simple()
    );
    let callable: Vec<String> = ctx
        .providers
        .iter()
        .filter(|(_, provider)| provider.connector.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    let (general, callable_providers, skip_providers) = match scope {
        ClaimScope::Any { general } => (general, callable, ctx.limits.saturated()),
        ClaimScope::Provider(name) => (false, vec![name.to_string()], Vec::new()),
        ClaimScope::General => (true, callable.clone(), callable),
    };
    let lease_until = at + chrono::Duration::from_std(LEASE).expect("small duration");
    let claim = Claim {
        lease_owner: &lease_owner,
        instance: ctx.instance.as_deref(),
        lease_until,
        at,
        skip_providers: &skip_providers,
        general,
        callable_providers: &callable_providers,
    };
    ctx.store.claim_many(&claim, limit).await
}

/// Gives a claimed job its provider's slot, waited for at most `slot_wait` when
/// another runner of this instance took the last one since the claim; without one the
/// job is put back for a moment, without spending an attempt.
pub(crate) async fn with_slot(
    ctx: &Context,
    job: Job,
    at: DateTime<Utc>,
    slot_wait: Duration,
) -> StoreResult<Claimed> {
    let connector_config = job
        .provider
        .as_deref()
        .and_then(|name| ctx.providers.get(name))
        .filter(|provider| provider.connector.is_some())
        .map(|provider| &provider.config);
    let Some(config) = connector_config else {
        return Ok(Claimed {
            job,
            slot: None,
            deferred: false,
        });
    };
    let slot = ctx.limits.acquire(config, slot_wait).await;
    if slot.is_none() {
        let lease = job.lease_owner.as_deref().unwrap_or_default();
        ctx.store
            .defer_job(&job.id, lease, at + chrono::Duration::seconds(1))
            .await?;
    }
    Ok(Claimed {
        deferred: slot.is_none(),
        job,
        slot,
    })
}

/// How long a step-by-step runner's claimed job waits for its provider's slot.
const STEP_SLOT_WAIT: Duration = Duration::from_secs(30);

/// A worker that runs jobs one at a time in the caller's task: the CLI and the
/// tests drive the queue with it step by step. The service runs [`run_workers`].
pub struct Worker {
    pub ctx: Context,
}

impl Worker {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Claims and runs one job at `at`; returns it, or None when nothing was due.
    pub async fn run_once_at(&self, at: DateTime<Utc>) -> StoreResult<Option<Job>> {
        // Step-by-step runners may race each other for a provider's slots (the
        // service's single dispatcher never does), so a claimed job waits its turn.
        let scope = ClaimScope::Any { general: true };
        let Some(job) = claim_jobs(&self.ctx, at, scope, 1).await?.pop() else {
            return Ok(None);
        };
        let claimed = with_slot(&self.ctx, job, at, STEP_SLOT_WAIT).await?;
        let job = claimed.job.clone();
        if !claimed.deferred {
            execute(&self.ctx, claimed, at).await?;
        }
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
}

/// Runs a claimed job and records what it came to.
pub(crate) async fn execute(ctx: &Context, claimed: Claimed, at: DateTime<Utc>) -> StoreResult<()> {
    let outcome = run(ctx, &claimed.job, claimed.slot).await;
    // Backoffs and Retry-After count from when the call ended (a hung call can take
    // its whole deadline); `at` may be later when a test drives the clock.
    settle(ctx, &claimed.job, outcome, at.max(now())).await
}

/// Runs one job's work. Errors of the store are retried like any transient failure.
async fn run(ctx: &Context, job: &Job, slot: Option<Slot>) -> Outcome {
    let task = match Task::from_stored(&job.kind, &job.payload) {
        Ok(task) => task,
        Err(err) => return Outcome::Permanent(err.to_string()),
    };
    let result = match task {
        Task::OpenCase {
            lifecycle_event_id,
            person_id,
        } => open_case(&ctx.store, &lifecycle_event_id, &person_id, ctx.policy)
            .await
            .map(|_| Outcome::Done),
        Task::OpenAgentCase {
            agent_event_id,
            agent_id,
        } => {
            crate::offboarding::open_agent_case(&ctx.store, &agent_event_id, &agent_id, ctx.policy)
                .await
                .map(|_| Outcome::Done)
        }
        Task::Revoke(item) => revocation::revoke(ctx, job, &item, slot).await,
        Task::Verify(item) => revocation::reverify(ctx, job, &item, slot).await,
        Task::Delete(item) => revocation::delete(ctx, job, &item, slot).await,
        Task::Discover { provider, trigger } => discover(ctx, job, &provider, &trigger).await,
        Task::Report { report_id } => {
            crate::report::delivery::deliver(&ctx.store, ctx.alerts.as_ref(), &report_id)
                .await
                .map(|delivery| match delivery {
                    Ok(()) => Outcome::Done,
                    Err(DeliveryError::Transient(error)) => Outcome::Retry { error, after: None },
                    Err(DeliveryError::Permanent(reason)) => Outcome::Permanent(reason),
                })
        }
        Task::RotateKeys { key_id } => return rotate_keys(ctx, job, &key_id).await,
        Task::Alert { subject, body } => Ok(match &ctx.alerts {
            Some(config) => match crate::alerts::send(config, &subject, &body).await {
                Ok(()) => Outcome::Done,
                Err(error) => Outcome::Retry { error, after: None },
            },
            None => Outcome::Permanent(
                "alerts need OWNERBOUND_SMTP_URL and OWNERBOUND_REPORT_TO".into(),
            ),
        }),
    };
    result.unwrap_or_else(|err| Outcome::Retry {
        error: format!("storage: {err}"),
        after: None,
    })
}

/// A discovery run as a job: another run in progress means this one waits for it;
/// a provider that fails is retried like a revocation (and alerted as an outage).
async fn discover(ctx: &Context, job: &Job, provider: &str, trigger: &str) -> StoreResult<Outcome> {
    use crate::discovery::{run, RunOutcome, Runner};
    let runner = Runner {
        trigger,
        holder: job.lease_owner.as_deref().unwrap_or_default(),
        job_id: Some(&job.id),
    };
    Ok(match run(ctx, provider, &runner).await? {
        RunOutcome::Finished(_) => Outcome::Done,
        RunOutcome::Busy => Outcome::Defer {
            after: Duration::from_secs(10),
        },
        RunOutcome::Lost => Outcome::Completed,
        RunOutcome::Failed {
            error,
            retryable: true,
            after,
        } => Outcome::Retry { error, after },
        RunOutcome::Failed { error, .. } => Outcome::Permanent(error),
    })
}

/// The master key rotation as a job: its batches renew the job's lease, so an
/// instance that dies mid-way loses the job to another within seconds, which goes on
/// where it stopped.
async fn rotate_keys(ctx: &Context, job: &Job, key_id: &str) -> Outcome {
    use crate::key_rotation::{run, Step};
    let lease = job.lease_owner.clone().unwrap_or_default();
    let keep_lease = || async {
        let mut tx = ctx.store.begin().await?;
        let until = now() + chrono::Duration::from_std(LEASE).expect("small duration");
        let held = tx.extend_job_lease(&job.id, &lease, until).await?;
        tx.commit().await?;
        Ok(held)
    };
    match run(&ctx.store, &ctx.keys, key_id, ctx.key_rotation, keep_lease).await {
        Ok(Step::Finished | Step::NotRunning) => Outcome::Done,
        Ok(Step::TooEarly(after)) => Outcome::Defer { after },
        Ok(Step::LeaseLost) => Outcome::Completed,
        Ok(Step::Stuck(left)) => Outcome::Retry {
            error: format!(
                "key rotation: {left} stored secret(s) open with neither master key; \
                 the service log names them"
            ),
            after: Some(Duration::from_secs(300)),
        },
        Err(err) => Outcome::Retry {
            error: format!("key rotation: {err}"),
            after: None,
        },
    }
}

/// Records an outcome, fenced by the claim's lease.
async fn settle(ctx: &Context, job: &Job, outcome: Outcome, at: DateTime<Utc>) -> StoreResult<()> {
    let store = &ctx.store;
    let lease = job.lease_owner.as_deref().unwrap_or_default();
    let mut provider_failed = false;
    let (error, after, permanent) = match outcome {
        Outcome::Completed => return Ok(()),
        Outcome::Defer { after } => {
            let run_after =
                at + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::minutes(1));
            store.defer_job(&job.id, lease, run_after).await?;
            return Ok(());
        }
        Outcome::Done => {
            if !store.complete_job(&job.id, lease).await? {
                tracing::warn!(job = %job.id, "lost the lease before completing; the job will run again");
            }
            return Ok(());
        }
        Outcome::Retry { error, after } => (error, after, false),
        Outcome::ProviderFailed { error, after } => {
            provider_failed = true;
            (error, after, false)
        }
        Outcome::Permanent(error) => (error, None, true),
    };
    let deadline = ctx.deadline_of(job);
    let retry_at = (!permanent && at < deadline).then(|| {
        let delay = after.unwrap_or_else(|| backoff(job.attempts, &mut rand::thread_rng()));
        // One last attempt at the deadline rather than none after it.
        (at + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))).min(deadline)
    });
    let dead_reason = match (retry_at, permanent) {
        (Some(_), _) => None,
        (None, true) => Some("permanent"),
        (None, false) => Some("deadline"),
    };
    let failure = Failure {
        error: &error,
        retry_at,
        hold_until: after
            .and_then(|after| chrono::Duration::from_std(after).ok())
            .map(|after| at + after),
        dead_reason,
        at,
    };
    let mut tx = store.begin().await?;
    if !tx.fail_job(&job.id, lease, &failure).await? {
        tracing::warn!(job = %job.id, "lost the lease before recording a failure; the job will run again");
        return Ok(());
    }
    let provider_call =
        job.provider.is_some() && matches!(job.kind.as_str(), "revoke" | "verify" | "delete");
    if let (true, Some(provider)) = (provider_failed, job.provider.as_deref()) {
        health::note_failure(&mut tx, provider, &error, deadline, at).await?;
    }
    // A revocation already escalated at its deadline and run again as a provider's
    // canary: failing again the same way is no news.
    let escalated_before = job.dead_reason.as_deref() == Some("deadline");
    if let Some(reason) = dead_reason.filter(|reason| !(escalated_before && *reason == "deadline"))
    {
        tracing::error!(job = %job.id, kind = %job.kind, error = %error, reason, "job is dead");
        tx.append_audit(
            &AuditEntry::new("system", "job.dead", "job", Some(&job.id)).with_details(json!({
                "kind": job.kind, "provider": job.provider, "attempts": job.attempts,
                "error": error, "reason": reason,
            })),
        )
        .await?;
        if provider_call {
            revocation::mark_failed(&mut tx, job, &error, reason).await?;
        }
        // A dead alert is not alerted about (it would only fail the same way).
        if job.kind != "alert" {
            let subject = format!(
                "{} failed for good at provider {}",
                job.kind,
                job.provider.as_deref().unwrap_or("-")
            );
            let why = if reason == "deadline" {
                format!(
                    "It kept failing until its retry deadline ({}).",
                    deadline.to_rfc3339()
                )
            } else {
                "Retrying cannot help until the cause is fixed.".to_string()
            };
            let body = format!(
                "Job {} ({}) is dead after {} attempt(s). {why}\n\nReason: {}\n\nA revocation is re-driven as soon \
                 as its provider answers again, and every dead job once a day; retry it now with \
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
    }
    tx.commit().await
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
            assert!(
                delay >= cap / 2,
                "attempt {attempt}: {delay:?} < half of {cap:?}"
            );
        }
        let delays: std::collections::BTreeSet<_> = (0..20).map(|_| backoff(5, &mut rng)).collect();
        assert!(delays.len() > 1, "no jitter");
    }
}
