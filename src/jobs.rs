//! Workers of the durable job queue: claim, run with no transaction open, complete or
//! fail with capped exponential backoff and full jitter; dead after the last attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::audit::AuditEntry;
use crate::offboarding::{open_case, SharedPolicy};
use crate::revoke::{Connector, Revocation, Target, Verdict};
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

/// In-process limits per provider, so one slow or strict provider can neither take
/// every worker nor be flooded: calls in flight (`max_concurrency`, default
/// [`DEFAULT_PROVIDER_CONCURRENCY`]) and calls per second (`rate_limit_per_second`,
/// unlimited by default; bursts of up to one second's worth).
#[derive(Default)]
pub struct ProviderLimits {
    gates: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Gate>>>,
}

/// Calls in flight to one provider from one instance, unless it sets `max_concurrency`.
pub const DEFAULT_PROVIDER_CONCURRENCY: usize = 4;

struct Gate {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    pace: Option<governor::DefaultDirectRateLimiter>,
}

/// A held slot at a provider; call [`Slot::ready`] before each request.
pub struct Slot {
    gate: std::sync::Arc<Gate>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// The longest a claimed job waits for its provider's rate limit; beyond that it is
/// retried later rather than sit on its lease.
const MAX_PACE_WAIT: Duration = Duration::from_secs(30);

impl Slot {
    /// Waits until the provider's rate limit allows one more request; Err with the
    /// wait when that is longer than [`MAX_PACE_WAIT`].
    pub async fn ready(&self) -> Result<(), Duration> {
        use governor::clock::Clock;
        let Some(pace) = &self.gate.pace else {
            return Ok(());
        };
        let clock = governor::clock::DefaultClock::default();
        loop {
            match pace.check() {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(clock.now());
                    if wait > MAX_PACE_WAIT {
                        return Err(wait);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// The outcome of a job whose provider has no free slot: soon again, elsewhere maybe.
fn busy() -> Outcome {
    Outcome::Retry {
        error: "every slot at the provider is busy".into(),
        after: Some(Duration::from_secs(5)),
    }
}

/// The outcome of a job that must wait for its provider's rate limit.
fn paced(wait: Duration) -> Outcome {
    Outcome::Retry {
        error: "waiting for the provider's rate limit".into(),
        after: Some(wait),
    }
}

/// The longest a claimed job waits for a free slot at its provider; beyond that it is
/// retried shortly rather than sit on its lease while others' calls finish.
const MAX_SLOT_WAIT: Duration = Duration::from_secs(30);

impl ProviderLimits {
    /// Waits for a slot at `provider` (at most [`MAX_SLOT_WAIT`], else None); the
    /// slot is freed when dropped.
    pub async fn acquire(&self, config: &crate::providers::ProviderConfig) -> Option<Slot> {
        let gate = {
            let mut map = self.gates.lock().expect("not poisoned");
            map.entry(config.name.clone())
                .or_insert_with(|| std::sync::Arc::new(Gate::for_provider(config)))
                .clone()
        };
        let permit = tokio::time::timeout(MAX_SLOT_WAIT, gate.slots.clone().acquire_owned())
            .await
            .ok()?
            .expect("never closed");
        Some(Slot {
            gate,
            _permit: permit,
        })
    }
}

impl Gate {
    fn for_provider(config: &crate::providers::ProviderConfig) -> Self {
        let slots = config
            .options
            .get("max_concurrency")
            .and_then(Value::as_u64)
            .map(|n| n.max(1) as usize)
            .unwrap_or(DEFAULT_PROVIDER_CONCURRENCY);
        let pace = config
            .options
            .get("rate_limit_per_second")
            .and_then(Value::as_f64)
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .map(|rate| {
                let burst =
                    std::num::NonZeroU32::new(rate.floor().max(1.0) as u32).expect("at least one");
                // The rate is checked at start-up (0.001 to 100000 per second).
                let quota = governor::Quota::with_period(Duration::from_secs_f64(1.0 / rate))
                    .expect("a positive period")
                    .allow_burst(burst);
                governor::RateLimiter::direct(quota)
            });
        Self {
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots)),
            pace,
        }
    }
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
        "revoke" => revoke(ctx, job, &payload).await,
        "verify" => reverify(ctx, job, &payload).await,
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

/// Revocation through the credential's provider. A `manual` provider opens a task
/// that stays open until someone confirms it. A provider that is not configured is a
/// configuration error: the item needs a human and the job ends dead with the reason
/// (it is not retried).
async fn revoke(ctx: &Context, job: &Job, payload: &Value) -> StoreResult<Outcome> {
    let provider_name = job.provider.clone().unwrap_or_default();
    let item = payload
        .get("item_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(provider) = ctx.providers.get(&provider_name) else {
        let reason =
            format!("no provider {provider_name:?} is configured; revoke this credential by hand");
        ctx.store
            .set_case_item(item, "needs_attention", Some(&reason))
            .await?;
        return Ok(Outcome::Permanent(reason));
    };
    match &provider.connector {
        None => open_manual_task(ctx, &provider_name, payload, item).await,
        Some(connector) => revoke_and_verify(ctx, job, provider, connector, payload, item).await,
    }
}

async fn open_manual_task(
    ctx: &Context,
    provider: &str,
    payload: &Value,
    item: &str,
) -> StoreResult<Outcome> {
    let detail = format!(
        "revoke this credential at {provider:?} by hand, then confirm: POST /api/v1/offboardings/items/{item}/confirm"
    );
    ctx.store
        .set_case_item(item, "manual_task_open", Some(&detail))
        .await?;
    let case_id = payload.get("case_id").and_then(Value::as_str);
    let mut tx = ctx.store.begin().await?;
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "offboarding.manual_task_opened",
            "offboarding_case",
            case_id,
        )
        .with_details(json!({"item_id": item, "provider": provider})),
    )
    .await?;
    crate::alerts::enqueue(
        &mut tx,
        &format!("manual:{item}"),
        &format!("manual revocation needed at {provider}"),
        &format!(
            "A departed person's credential at {provider:?} has no API to revoke it.\n\n{detail}"
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// Revocation, then verification. The credential is proven dead before the job is
/// done: still alive means revoke again, unknown means verify again later (both
/// through the retry path, with backoff).
async fn revoke_and_verify(
    ctx: &Context,
    job: &Job,
    provider: &crate::providers::Provider,
    connector: &Connector,
    payload: &Value,
    item: &str,
) -> StoreResult<Outcome> {
    let config = &provider.config;
    let Some(slot) = ctx.limits.acquire(config).await else {
        return Ok(busy());
    };
    let credential_id = payload
        .get("credential_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let target = target(ctx, credential_id).await?;
    let case_id = payload.get("case_id").and_then(Value::as_str);
    if let Err(wait) = slot.ready().await {
        return Ok(paced(wait));
    }
    let revocation = connector.revoke(&ctx.http, &target).await;
    let attempt = AuditEntry::new(
        "system",
        "offboarding.revocation_attempt",
        "offboarding_case",
        case_id,
    )
    .with_details(
        json!({"item_id": item, "provider": config.name, "result": format!("{revocation:?}")}),
    );
    match revocation {
        Revocation::Revoked | Revocation::Ambiguous(_) => {}
        Revocation::Retry { error, after } => {
            record(ctx, attempt, item, "revoking", &error).await?;
            return Ok(Outcome::Retry { error, after });
        }
        Revocation::Permanent(reason) => {
            record(ctx, attempt, item, "needs_attention", &reason).await?;
            return Ok(Outcome::Permanent(reason));
        }
    }
    if let Err(wait) = slot.ready().await {
        // Revoked but not yet verified: the retry revokes again (idempotent) first.
        record(
            ctx,
            attempt,
            item,
            "revoking",
            "waiting for the provider's rate limit",
        )
        .await?;
        return Ok(paced(wait));
    }
    let verdict = connector.verify(&ctx.http, &target).await;
    let verification = AuditEntry::new(
        "system",
        "offboarding.verification",
        "offboarding_case",
        case_id,
    )
    .with_details(json!({"item_id": item, "verdict": format!("{verdict:?}")}));
    match verdict {
        Verdict::Dead(how) => {
            // Providers propagate revocations with delay (caches, replicas): check
            // again once the provider's propagation window has passed. The proof,
            // its audit entries and that check are one write.
            let window = config
                .options
                .get("propagation_seconds")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_PROPAGATION_SECONDS);
            let mut tx = ctx.store.begin().await?;
            tx.append_audit(&attempt).await?;
            tx.append_audit(&verification).await?;
            tx.set_case_item(item, "verified_dead", Some(how)).await?;
            tx.set_credential_status(credential_id, crate::domain::CredentialStatus::VerifiedDead)
                .await?;
            tx.enqueue_job(&crate::store::jobs::NewJob {
                kind: "verify",
                dedupe_key: &format!("verify:{item}"),
                payload,
                provider: Some(&config.name),
                max_attempts: crate::offboarding::REVOKE_ATTEMPTS,
                run_after: now() + chrono::Duration::seconds(window as i64),
            })
            .await?;
            // Lost lease: the proof stands; whoever holds the job now redoes it
            // (revocation is idempotent).
            let _ = tx
                .complete_job(&job.id, job.lease_owner.as_deref().unwrap_or_default())
                .await?;
            tx.commit().await?;
            Ok(Outcome::Completed)
        }
        Verdict::Alive => {
            let mut tx = ctx.store.begin().await?;
            tx.append_audit(&attempt).await?;
            tx.append_audit(&verification).await?;
            crate::alerts::enqueue(
                &mut tx,
                &format!("alive:{item}:{}", now().timestamp_micros()),
                &format!("credential still alive at {} after revocation", config.name),
                &format!(
                    "Credential {credential_id} of offboarding case {} was revoked, but {} still calls it active. \
                     ownerbound revokes it again.",
                    case_id.unwrap_or("-"),
                    config.name
                ),
            )
            .await?;
            tx.set_case_item(
                item,
                "still_alive",
                Some("the provider still calls it active; revoking again"),
            )
            .await?;
            tx.commit().await?;
            Ok(Outcome::Retry {
                error: "still alive after revocation".into(),
                after: None,
            })
        }
        Verdict::Unknown(why) => {
            let mut tx = ctx.store.begin().await?;
            tx.append_audit(&attempt).await?;
            tx.append_audit(&verification).await?;
            tx.set_case_item(item, "revoked_unverified", Some(&why))
                .await?;
            tx.commit().await?;
            Ok(Outcome::Retry {
                error: format!("verification unknown: {why}"),
                after: None,
            })
        }
    }
}

/// Records a revocation attempt that went no further, with the item's new status.
async fn record(
    ctx: &Context,
    attempt: AuditEntry,
    item: &str,
    status: &str,
    detail: &str,
) -> StoreResult<()> {
    let mut tx = ctx.store.begin().await?;
    tx.append_audit(&attempt).await?;
    tx.set_case_item(item, status, Some(detail)).await?;
    tx.commit().await
}

/// What a connector needs of the credential, with its secret decrypted in memory
/// for the provider calls only.
async fn target(ctx: &Context, credential_id: &str) -> StoreResult<Target> {
    let credential = ctx.store.get_credential(credential_id).await?;
    let sealed = ctx.store.sealed_secret(credential_id).await?;
    let secret = sealed
        .and_then(|s| ctx.keys.decrypt(&s, credential_id).ok())
        .map(|bytes| secrecy::SecretString::from(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(Target {
        credential_id: credential_id.to_string(),
        kind: credential.kind.to_string(),
        external_id: credential.external_id.clone(),
        secret,
    })
}

/// Seconds after which a revocation is verified a second time, unless the provider
/// sets `propagation_seconds`.
pub const DEFAULT_PROPAGATION_SECONDS: u64 = 300;

/// The second verification, after the propagation window. Still alive: alert, revoke
/// again, and verify again later. Dead: the proof is confirmed.
async fn reverify(ctx: &Context, job: &Job, payload: &Value) -> StoreResult<Outcome> {
    let item = payload
        .get("item_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let credential_id = payload
        .get("credential_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let case_id = payload.get("case_id").and_then(Value::as_str);
    let provider_name = job.provider.clone().unwrap_or_default();
    let Some((provider, Some(connector))) = ctx
        .providers
        .get(&provider_name)
        .map(|p| (p, p.connector.as_ref()))
    else {
        return Ok(Outcome::Permanent(format!(
            "no provider {provider_name:?} with an API is configured"
        )));
    };
    let Some(slot) = ctx.limits.acquire(&provider.config).await else {
        return Ok(busy());
    };
    let target = target(ctx, credential_id).await?;
    if let Err(wait) = slot.ready().await {
        return Ok(paced(wait));
    }
    let verdict = connector.verify(&ctx.http, &target).await;
    audit_step(
        ctx,
        case_id,
        "offboarding.verification_after_propagation",
        json!({"item_id": item, "verdict": format!("{verdict:?}")}),
    )
    .await?;
    match verdict {
        Verdict::Dead(how) => {
            let proof = format!("{how}, confirmed after the propagation window");
            ctx.store
                .set_case_item(item, "verified_dead", Some(&proof))
                .await?;
            Ok(Outcome::Done)
        }
        Verdict::Alive => {
            ctx.store
                .set_case_item(
                    item,
                    "still_alive",
                    Some("active again after the propagation window; revoking again"),
                )
                .await?;
            ctx.store
                .set_credential_status(
                    credential_id,
                    crate::domain::CredentialStatus::RevocationPending,
                )
                .await?;
            let mut tx = ctx.store.begin().await?;
            crate::alerts::enqueue(
                &mut tx,
                &format!("alive-later:{item}:{}", now().timestamp_micros()),
                &format!("credential alive again at {provider_name} after the propagation window"),
                &format!("Credential {credential_id} of offboarding case {} was proven dead, but {provider_name} calls it active again after the propagation window. ownerbound revokes it again.", case_id.unwrap_or("-")),
            )
            .await?;
            tx.commit().await?;
            // Revoked again now when the rate limit allows; the retry verifies (and
            // revokes) again either way.
            if slot.ready().await.is_ok() {
                let _ = connector.revoke(&ctx.http, &target).await;
            }
            Ok(Outcome::Retry {
                error: "alive after the propagation window".into(),
                after: None,
            })
        }
        Verdict::Unknown(why) => Ok(Outcome::Retry {
            error: format!("verification unknown: {why}"),
            after: None,
        }),
    }
}

async fn audit_step(
    ctx: &Context,
    case_id: Option<&str>,
    action: &str,
    details: Value,
) -> StoreResult<()> {
    let mut tx = ctx.store.begin().await?;
    tx.append_audit(
        &AuditEntry::new("system", action, "offboarding_case", case_id).with_details(details),
    )
    .await?;
    tx.commit().await
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
