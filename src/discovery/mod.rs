//! Discovery runs: page through what a provider holds, reconcile each page with what
//! the last run saw ([`reconcile`]), and at the end mark gone what the provider no
//! longer lists.
//!
//! A run is durable and exclusive: it is a row in `discovery_runs`, at most one per
//! provider runs at a time (a unique index), and its runner renews its hold as it
//! pages. A runner that crashes stops renewing; the next run abandons its row and
//! starts over. Nothing of a page is half-written (each page is one transaction), and
//! only a run that read every page marks anything gone, so a restart is clean.
//!
//! Calls take the provider's slot and rate limit, shared with revocations, one page
//! at a time: a long listing never holds a slot that a departed person's revocation
//! waits for.

pub mod reconcile;
pub mod schedule;

use std::time::Duration;

use serde_json::json;

use crate::audit::AuditEntry;
use crate::connectors::discovery::{ListingError, Pace};
use crate::jobs::{Context, Slot};
use crate::store::discovery::{DiscoveryRun, RunCounts};
use crate::store::{now, StoreResult};

/// How long a run is held without a renewal: a runner renews it after every page.
const HOLD: Duration = Duration::from_secs(120);
/// Attempts at one page before the run fails (the job retries it later).
const PAGE_ATTEMPTS: u32 = 4;
/// The longest pause between two attempts at a page, whatever `Retry-After` says; a
/// longer wait fails the run, and the job's own retry waits for the provider.
const MAX_PAGE_PAUSE: Duration = Duration::from_secs(60);

/// Who runs a discovery, for the run's row.
pub struct Runner<'a> {
    /// `schedule`, `api` or `cli`.
    pub trigger: &'a str,
    /// The lease owner of the job running it (whose lease is extended with the
    /// hold), or a unique name for a run outside the queue.
    pub holder: &'a str,
    /// The job, when the run is one.
    pub job_id: Option<&'a str>,
}

/// What a run came to.
#[derive(Debug)]
pub enum RunOutcome {
    Finished(Box<DiscoveryRun>),
    /// Another run of this provider is in progress.
    Busy,
    /// The provider or its configuration failed; the run is recorded as failed.
    Failed {
        error: String,
        retryable: bool,
        after: Option<Duration>,
    },
    /// The run was abandoned under its runner (it stopped renewing in time).
    Lost,
}

/// Runs a discovery of `provider` to its end.
pub async fn run(ctx: &Context, provider: &str, runner: &Runner<'_>) -> StoreResult<RunOutcome> {
    let Some((config, Some(connector))) = ctx
        .providers
        .get(provider)
        .map(|p| (&p.config, p.connector.as_ref()))
    else {
        return Ok(failed(format!(
            "no provider {provider:?} with an API is configured"
        )));
    };
    if config.options.get("discover").and_then(|v| v.as_bool()) != Some(true) {
        return Ok(failed(format!(
            "provider {provider:?} does not set discover = true"
        )));
    }
    let started = now();
    let mut tx = ctx.store.begin().await?;
    let Some(run_id) = tx
        .start_discovery_run(
            provider,
            runner.trigger,
            runner.holder,
            runner.job_id,
            hold_until(),
            started,
        )
        .await?
    else {
        return Ok(RunOutcome::Busy);
    };
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "discovery.started",
            "discovery_run",
            Some(&run_id),
        )
        .with_details(json!({"provider": provider, "trigger": runner.trigger})),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(provider, run = %run_id, "discovery started");

    let mut counts = RunCounts::default();
    let mut cursor: Option<String> = None;
    loop {
        let listing = match page(ctx, config, connector, cursor.as_deref(), &run_id, runner).await?
        {
            Ok(listing) => listing,
            Err(PageError::Lost) => return Ok(RunOutcome::Lost),
            Err(PageError::Listing(error)) => {
                return finish_failed(ctx, provider, &run_id, runner, &counts, error).await
            }
        };
        let mut tx = ctx.store.begin().await?;
        counts.pages += 1;
        reconcile::record_page(&mut tx, provider, &run_id, &listing.found, &mut counts).await?;
        if !renew(&mut tx, &run_id, runner, &counts).await? {
            return Ok(RunOutcome::Lost);
        }
        tx.commit().await?;
        cursor = listing.next;
        if cursor.is_none() {
            break;
        }
    }

    if let Err(error) = confirm_unseen(ctx, config, connector, provider, &run_id).await? {
        return finish_failed(ctx, provider, &run_id, runner, &counts, error).await;
    }
    let at = now();
    let mut tx = ctx.store.begin().await?;
    counts.gone = tx.mark_discovered_gone(provider, &run_id, at).await?;
    if !tx
        .finish_discovery_run(&run_id, runner.holder, "succeeded", &counts, None, at)
        .await?
    {
        return Ok(RunOutcome::Lost);
    }
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "discovery.finished",
            "discovery_run",
            Some(&run_id),
        )
        .with_details(json!({"provider": provider, "counts": counts})),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(provider, run = %run_id, listed = counts.listed, new = counts.new, gone = counts.gone, shadow = counts.shadow, "discovery finished");
    Ok(RunOutcome::Finished(Box::new(
        ctx.store.get_discovery_run(&run_id).await?,
    )))
}

/// Asks the provider about each credential the last run listed and this one did not,
/// where its listing can skip one ([`crate::connectors::Connector::still_exists`]): one
/// that still exists
/// is seen, not gone.
async fn confirm_unseen(
    ctx: &Context,
    config: &crate::connectors::providers::ProviderConfig,
    connector: &crate::connectors::Connector,
    provider: &str,
    run_id: &str,
) -> StoreResult<Result<(), ListingError>> {
    let mut tx = ctx.store.begin().await?;
    let unseen = tx.unseen_discovered(provider, run_id).await?;
    drop(tx);
    for handle in unseen {
        let slot = loop {
            if let Some(slot) = ctx.limits.acquire(config, Duration::from_secs(30)).await {
                break slot;
            }
        };
        let pace = SlotPace(slot);
        pace.ready().await;
        match connector.still_exists(&ctx.http, &handle).await {
            None => return Ok(Ok(())),
            Some(Ok(false)) => {}
            Some(Ok(true)) => {
                let mut tx = ctx.store.begin().await?;
                tx.confirm_discovered(provider, &handle, run_id, now())
                    .await?;
                tx.commit().await?;
            }
            Some(Err(error)) => return Ok(Err(error)),
        }
    }
    Ok(Ok(()))
}

fn failed(error: String) -> RunOutcome {
    RunOutcome::Failed {
        error,
        retryable: false,
        after: None,
    }
}

fn hold_until() -> chrono::DateTime<chrono::Utc> {
    now() + chrono::Duration::from_std(HOLD).expect("small")
}

/// Renews the run's hold and, for a job, its lease, in the caller's transaction.
async fn renew(
    tx: &mut crate::store::Tx,
    run_id: &str,
    runner: &Runner<'_>,
    counts: &RunCounts,
) -> StoreResult<bool> {
    let until = hold_until();
    if !tx
        .renew_discovery_run(run_id, runner.holder, until, counts)
        .await?
    {
        return Ok(false);
    }
    if let Some(job_id) = runner.job_id {
        let lease =
            until.max(now() + chrono::Duration::from_std(crate::jobs::LEASE).expect("small"));
        tx.extend_job_lease(job_id, runner.holder, lease).await?;
    }
    Ok(true)
}

enum PageError {
    Lost,
    Listing(ListingError),
}

/// Reads one page, in one of the provider's slots, retrying transient failures a
/// few times (honouring `Retry-After` up to [`MAX_PAGE_PAUSE`]).
async fn page(
    ctx: &Context,
    config: &crate::connectors::providers::ProviderConfig,
    connector: &crate::connectors::Connector,
    cursor: Option<&str>,
    run_id: &str,
    runner: &Runner<'_>,
) -> StoreResult<Result<crate::connectors::discovery::Listing, PageError>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let slot = loop {
            if let Some(slot) = ctx.limits.acquire(config, Duration::from_secs(30)).await {
                break slot;
            }
            // Every slot is taken by revocations: they go first; keep the hold.
            if !keep_hold(ctx, run_id, runner).await? {
                return Ok(Err(PageError::Lost));
            }
        };
        let pace = SlotPace(slot);
        let error = match connector.discover(&ctx.http, &pace, cursor).await {
            Ok(listing) => return Ok(Ok(listing)),
            Err(error) => error,
        };
        drop(pace);
        let ListingError::Retry { after, .. } = &error else {
            return Ok(Err(PageError::Listing(error)));
        };
        let pause =
            after.unwrap_or_else(|| crate::jobs::backoff(attempt.into(), &mut rand::thread_rng()));
        if attempt >= PAGE_ATTEMPTS || pause > MAX_PAGE_PAUSE {
            return Ok(Err(PageError::Listing(error)));
        }
        tracing::warn!(provider = %config.name, error = %error, "discovery page failed; trying again");
        tokio::time::sleep(pause).await;
        if !keep_hold(ctx, run_id, runner).await? {
            return Ok(Err(PageError::Lost));
        }
    }
}

/// Renews the hold between attempts (counts unchanged).
async fn keep_hold(ctx: &Context, run_id: &str, runner: &Runner<'_>) -> StoreResult<bool> {
    let run = ctx.store.get_discovery_run(run_id).await?;
    let mut tx = ctx.store.begin().await?;
    let held = renew(&mut tx, run_id, runner, &run.counts).await?;
    tx.commit().await?;
    Ok(held)
}

async fn finish_failed(
    ctx: &Context,
    provider: &str,
    run_id: &str,
    runner: &Runner<'_>,
    counts: &RunCounts,
    error: ListingError,
) -> StoreResult<RunOutcome> {
    let text = error.to_string();
    let mut tx = ctx.store.begin().await?;
    tx.finish_discovery_run(run_id, runner.holder, "failed", counts, Some(&text), now())
        .await?;
    tx.append_audit(
        &AuditEntry::new("system", "discovery.failed", "discovery_run", Some(run_id))
            .with_details(json!({"provider": provider, "error": text, "counts": counts})),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(provider, run = %run_id, error = %text, "discovery failed");
    Ok(match error {
        ListingError::Retry { error, after } => RunOutcome::Failed {
            error,
            retryable: true,
            after,
        },
        ListingError::Permanent(error) => failed(error),
    })
}

/// A provider slot as discovery's pace: waits for the rate limit as long as it
/// takes (a listing has no deadline of its own; the hold is renewed per page).
struct SlotPace(Slot);

impl Pace for SlotPace {
    fn ready(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            while let Err(wait) = self.0.ready().await {
                tokio::time::sleep(wait).await;
            }
        })
    }
}
