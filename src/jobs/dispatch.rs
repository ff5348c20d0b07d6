//! The service's job runner: one dispatcher per instance claims jobs while it has
//! capacity for them and runs each in a task of its own.
//!
//! Capacity is per provider: a job that calls a provider runs in one of that
//! provider's slots (`max_concurrency`), and a claim skips providers whose slots are
//! all busy, so a hung provider holds only its own slots while every other provider
//! is served at its own pace. Jobs that call no provider share `job_workers` slots.
//! An idle dispatcher sleeps until the next job falls due, a commit wakes it (in
//! process, and through `LISTEN/NOTIFY` from other PostgreSQL instances), or a
//! running job finishes; polling every [`FALLBACK_POLL`] is only the fallback.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{claim_next, execute, health, instance, Context, REDRIVE_AFTER};
use crate::store::now;

/// The longest an idle dispatcher waits without being woken.
pub const FALLBACK_POLL: Duration = Duration::from_secs(2);

/// Registers this instance and runs its jobs until `shutdown`; in-flight jobs finish
/// first. `workers` bounds the jobs that call no provider (at least one).
pub async fn run_workers(mut ctx: Context, workers: usize, shutdown: CancellationToken) {
    let me = loop {
        match instance::register(&ctx.store).await {
            Ok(id) => break id,
            Err(err) => {
                tracing::warn!(error = %err, "cannot register this instance; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    ctx.instance = Some(me.clone());
    // Background duties stop only after the last job, so the heartbeat keeps this
    // instance's leases while they finish.
    let duties = CancellationToken::new();
    let background = [
        tokio::spawn(instance::run_heartbeat(
            ctx.store.clone(),
            me.clone(),
            duties.clone(),
        )),
        tokio::spawn(health::run_prober(ctx.store.clone(), duties.clone())),
        tokio::spawn(redrive_daily(ctx.clone(), duties.clone())),
        tokio::spawn({
            let store = ctx.store.clone();
            let duties = duties.clone();
            async move { store.forward_job_notifications(duties).await }
        }),
    ];
    dispatch(&ctx, workers.max(1), &shutdown).await;
    duties.cancel();
    for task in background {
        let _ = task.await;
    }
    instance::deregister(&ctx.store, &me).await;
}

async fn dispatch(ctx: &Context, workers: usize, shutdown: &CancellationToken) {
    let general = Arc::new(Semaphore::new(workers));
    let signal = ctx.store.job_signal();
    let mut running = JoinSet::new();
    while !shutdown.is_cancelled() {
        // Claim while there is capacity for what is due.
        loop {
            let general_free = general.available_permits() > 0;
            let claimed = match claim_next(ctx, now(), general_free, Duration::ZERO).await {
                Ok(Some(claimed)) => claimed,
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "job dispatcher could not reach the database");
                    break;
                }
            };
            if claimed.deferred {
                continue;
            }
            let permit = match claimed.slot {
                Some(_) => None,
                // A job without a provider slot counts against the general workers
                // (it was claimed only while one was free, and the dispatcher is
                // their only taker, so this succeeds).
                None => general.clone().try_acquire_owned().ok(),
            };
            let (ctx, signal) = (ctx.clone(), signal.clone());
            running.spawn(async move {
                let job = claimed.job.id.clone();
                if let Err(err) = execute(&ctx, claimed, now()).await {
                    tracing::warn!(job = %job, error = %err, "could not record a job's result; it runs again");
                }
                drop(permit);
                // A slot is free: what waited for it may run now.
                signal.notify_one();
            });
        }
        while let Some(finished) = running.try_join_next() {
            if let Err(err) = finished {
                // Its lease expires (or its instance is seen stopped) and it runs again.
                tracing::error!(error = %err, "a job's task failed");
            }
        }
        let wait = idle_wait(ctx).await;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = signal.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // In-flight jobs finish before the instance stops.
    while let Some(finished) = running.join_next().await {
        if let Err(err) = finished {
            tracing::error!(error = %err, "a job's task failed");
        }
    }
}

/// How long to sleep when nothing more can be claimed: until the next job falls
/// due, at most [`FALLBACK_POLL`] (a job due now that could not be claimed waits for
/// a slot, whose release wakes the dispatcher).
async fn idle_wait(ctx: &Context) -> Duration {
    match ctx.store.next_job_due().await {
        Ok(Some(due)) => (due - now())
            .to_std()
            .unwrap_or(FALLBACK_POLL)
            .clamp(Duration::from_millis(1), FALLBACK_POLL),
        _ => FALLBACK_POLL,
    }
}

/// Re-drives every job dead for [`REDRIVE_AFTER`], once per that period.
async fn redrive_daily(ctx: Context, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(REDRIVE_AFTER) => {}
        }
        let before = now() - chrono::Duration::from_std(REDRIVE_AFTER).expect("a day");
        match ctx.store.redrive_dead(before, ctx.fresh_deadline()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "re-driving dead jobs"),
            Err(err) => tracing::warn!(error = %err, "could not re-drive dead jobs"),
        }
    }
}
