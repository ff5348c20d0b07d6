//! When discovery runs: each provider with `discover = true` is listed every
//! `discover_interval_seconds` (default hourly), counted from its latest run's start.
//! The due run is a job whose key names the interval it belongs to, so instances that
//! check at once enqueue it once.

use std::time::Duration;

use serde_json::Value;

use crate::connectors::providers::Provider;
use crate::store::{now, Store, StoreResult};
use crate::tasks::{Schedule, Task};

/// How often the schedule is checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);

/// The providers that discover, with their intervals.
pub fn discovering(
    providers: &std::collections::BTreeMap<String, Provider>,
) -> Vec<(String, Duration)> {
    providers
        .values()
        .filter(|p| p.connector.is_some())
        .filter(|p| p.config.options.get("discover").and_then(Value::as_bool) == Some(true))
        .map(|p| {
            let seconds = p
                .config
                .options
                .get("discover_interval_seconds")
                .and_then(Value::as_u64)
                .unwrap_or(crate::connectors::DEFAULT_DISCOVER_INTERVAL);
            (p.config.name.clone(), Duration::from_secs(seconds))
        })
        .collect()
}

/// Enqueues the runs that are due; returns how many were enqueued.
pub async fn tick(
    store: &Store,
    providers: &std::collections::BTreeMap<String, Provider>,
) -> StoreResult<usize> {
    let mut enqueued = 0;
    for (provider, interval) in discovering(providers) {
        let at = now();
        let due = match store.last_discovery_start(&provider).await? {
            None => true,
            Some(last) => (at - last).to_std().unwrap_or_default() >= interval,
        };
        if !due {
            continue;
        }
        let window = at.timestamp() / interval.as_secs().max(1) as i64;
        let key = format!("discover:{provider}:schedule:{window}");
        let mut tx = store.begin().await?;
        let task = Task::Discover {
            provider: provider.clone(),
            trigger: "schedule".into(),
        };
        if crate::tasks::enqueue(&mut tx, &task, &Schedule::now(&key)).await? {
            enqueued += 1;
        }
        tx.commit().await?;
    }
    Ok(enqueued)
}

/// Checks the schedule until shut down.
pub async fn run_scheduler(
    store: Store,
    providers: std::sync::Arc<std::collections::BTreeMap<String, Provider>>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if discovering(&providers).is_empty() {
        return;
    }
    loop {
        if let Err(err) = tick(&store, &providers).await {
            tracing::warn!(error = %err, "could not check the discovery schedule");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}
