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

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{
    claim_jobs, execute, health, instance, with_slot, ClaimScope, Claimed, Context, REDRIVE_AFTER,
};
use crate::store::jobs::Job;
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
        claim_and_run(ctx, &general, &mut running).await;
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

/// Claims what is due while there is room for it, and runs each job in a task of its
/// own: each provider's jobs up to its free slots, then those that call no provider up
/// to the free general workers, each batch in one claim. Claiming one job at a time
/// made every job wait for the commit of each claim before it.
async fn claim_and_run(ctx: &Context, general: &Arc<Semaphore>, running: &mut JoinSet<()>) {
    // A scope that returned fewer jobs than it had room for has no more due now.
    let mut drained: BTreeSet<Option<&str>> = BTreeSet::new();
    loop {
        let mut claimed = 0;
        let callable = ctx
            .providers
            .iter()
            .filter(|(_, provider)| provider.connector.is_some());
        for (name, provider) in callable {
            let room = ctx.limits.free_slots(&provider.config);
            if room == 0 || drained.contains(&Some(name.as_str())) {
                continue;
            }
            let Some(jobs) = claim(ctx, ClaimScope::Provider(name), room).await else {
                return;
            };
            if jobs.len() < room {
                drained.insert(Some(name.as_str()));
            }
            claimed += jobs.len();
            for job in jobs {
                // Only this dispatcher takes this instance's slots, and it counted them
                // free: the slot is there.
                match with_slot(ctx, job, now(), Duration::ZERO).await {
                    Ok(claimed) if !claimed.deferred => spawn(ctx, running, claimed, None),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "could not put a job back"),
                }
            }
        }
        let room = general.available_permits();
        if room > 0 && !drained.contains(&None) {
            let Some(jobs) = claim(ctx, ClaimScope::General, room).await else {
                return;
            };
            if jobs.len() < room {
                drained.insert(None);
            }
            claimed += jobs.len();
            for job in jobs {
                let permit = general.clone().try_acquire_owned().ok();
                let claimed = Claimed {
                    job,
                    slot: None,
                    deferred: false,
                };
                spawn(ctx, running, claimed, permit);
            }
        }
        if claimed == 0 {
            return;
        }
    }
}

async fn claim(ctx: &Context, scope: ClaimScope<'_>, limit: usize) -> Option<Vec<Job>> {
    match claim_jobs(ctx, now(), scope, limit).await {
        Ok(jobs) => Some(jobs),
        Err(err) => {
            tracing::warn!(error = %err, "job dispatcher could not reach the database");
            None
        }
    }
}

/// Runs a claimed job in a task of its own; `permit` is its general worker, if any.
fn spawn(
    ctx: &Context,
    running: &mut JoinSet<()>,
    claimed: Claimed,
    permit: Option<OwnedSemaphorePermit>,
) {
    let ctx = ctx.clone();
    running.spawn(async move {
        let job = claimed.job.id.clone();
        if let Err(err) = execute(&ctx, claimed, now()).await {
            tracing::warn!(job = %job, error = %err, "could not record a job's result; it runs again");
        }
        drop(permit);
        // A slot is free: what waited for it may run now.
        ctx.store.wake_workers();
    });
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
