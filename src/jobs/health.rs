//! Provider outages: alerted once when they start, probed while they last, and
//! ended by the first real answer, which resumes every revocation waiting on that
//! provider at once (rather than when each one's backoff runs out).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditEntry;
use crate::store::{Store, StoreResult, Tx};

/// How often a down provider is probed with one of its own waiting jobs.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// A provider that flaps is alerted about at most this often.
const REALERT_AFTER: chrono::Duration = chrono::Duration::minutes(15);

/// A revocation at `provider` failed transiently: the first failure of an outage
/// marks it down and queues one alert (shared by every instance).
pub async fn note_failure(
    tx: &mut Tx,
    provider: &str,
    error: &str,
    deadline: DateTime<Utc>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let Some(outage) = tx.provider_failed(provider, error, at).await? else {
        return Ok(());
    };
    tx.append_audit(
        &AuditEntry::new("system", "provider.down", "provider", Some(provider))
            .with_details(json!({"error": error})),
    )
    .await?;
    if outage
        .alerted_at
        .is_some_and(|last| at - last < REALERT_AFTER)
    {
        return Ok(());
    }
    tx.provider_alerted(provider, at).await?;
    crate::alerts::enqueue(
        tx,
        &format!("provider-down:{provider}:{}", at.timestamp_micros()),
        &format!("revocations failing at provider {provider}"),
        &format!(
            "Revoking credentials at {provider:?} fails since {}: {error}\n\nDeparted people's credentials at this \
             provider stay alive until it answers again. ownerbound keeps retrying (backoff up to 5 minutes, and a \
             probe every {} seconds); the revocations resume as soon as the provider answers, and any still failing \
             at their deadline (the first: {}) are escalated one by one.",
            at.to_rfc3339(),
            PROBE_INTERVAL.as_secs(),
            deadline.to_rfc3339(),
        ),
    )
    .await
}

/// `provider` gave a real answer (a revocation accepted, a verdict): if it was
/// down, the outage ends and its waiting revocations (and those that died of their
/// deadline, with a new one) are due now. Returns how many were resumed.
pub async fn note_answer(
    tx: &mut Tx,
    provider: &str,
    new_deadline: DateTime<Utc>,
    at: DateTime<Utc>,
) -> StoreResult<u64> {
    let Some(outage) = tx.provider_answered(provider, at).await? else {
        return Ok(0);
    };
    let resumed = tx.resume_provider_jobs(provider, at, new_deadline).await?;
    let lasted = (at - outage.since).num_seconds();
    tracing::info!(
        provider,
        resumed,
        down_seconds = lasted,
        "provider answers again"
    );
    tx.append_audit(
        &AuditEntry::new("system", "provider.recovered", "provider", Some(provider))
            .with_details(json!({"down_since": outage.since, "resumed_jobs": resumed})),
    )
    .await?;
    // Said to be failing during this outage: say that it is over.
    if outage
        .alerted_at
        .is_some_and(|alerted| alerted >= outage.since)
    {
        crate::alerts::enqueue(
            tx,
            &format!("provider-up:{provider}:{}", at.timestamp_micros()),
            &format!("provider {provider} answers again"),
            &format!(
                "{provider:?} answers again after {lasted} s down (since {}). {resumed} waiting revocation(s) \
                 resumed now; each is verified dead as usual, and anything that still fails is alerted.",
                outage.since.to_rfc3339()
            ),
        )
        .await?;
    }
    Ok(resumed)
}

/// Probes down providers every [`PROBE_INTERVAL`] until `shutdown`: one waiting job
/// of each is made due (a canary). Its call either ends the outage, resuming the
/// rest, or fails like the others, costing one call per interval.
pub async fn run_prober(store: Store, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(PROBE_INTERVAL) => {}
        }
        if let Err(err) = probe_once(&store, crate::store::now()).await {
            tracing::warn!(error = %err, "could not probe down providers");
        }
    }
}

/// One round of [`run_prober`]; returns how many canaries were released.
pub async fn probe_once(store: &Store, at: DateTime<Utc>) -> StoreResult<usize> {
    let mut released = 0;
    for health in store.provider_health().await? {
        if health.state == "down" && store.release_canary(&health.provider, at).await? {
            released += 1;
        }
    }
    Ok(released)
}
