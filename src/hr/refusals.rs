//! Counting refused webhooks without letting forged requests take the write lock.
//!
//! Every refusal is counted in memory at once. The first refusal of a (source,
//! reason) in a minute is written through (counter and one audit line); later ones in
//! that minute only add to the count, which the next write-through or [`flush`]
//! stores with one audit line saying how many. A flood of forged requests therefore
//! costs at most one write per source and reason per minute instead of one each, and
//! genuine SCIM and HR writes are not starved.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;

use crate::audit::AuditEntry;
use crate::store::{Store, StoreResult};

/// At most one stored write per source and reason in this interval.
pub const WRITE_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tally {
    /// Refusals counted but not stored yet.
    pending: i64,
    last_write: Option<Instant>,
}

/// What a log's counts are of, and so where they are stored.
#[derive(Default, Clone, Copy)]
enum Counted {
    /// Refused HR webhooks, by source and reason: counters and audit lines.
    #[default]
    HrWebhooks,
    /// Requests over an inbound rate limit, by scope (`hooks`, `api`, `scim`):
    /// audit lines only.
    RateLimited,
}

/// In-memory refusal counts, shared by the request handlers.
#[derive(Default)]
pub struct RefusalLog {
    tallies: Mutex<HashMap<(String, String), Tally>>,
    counted: Counted,
}

impl RefusalLog {
    /// A log of requests refused by the inbound rate limits, keyed by scope.
    pub fn rate_limited() -> Self {
        Self {
            counted: Counted::RateLimited,
            ..Self::default()
        }
    }

    /// Counts one refusal; writes it through when this (source, reason) was not
    /// written in the last [`WRITE_INTERVAL`].
    pub async fn record(&self, store: &Store, source: &str, reason: &str) -> StoreResult<()> {
        let due = {
            let mut tallies = self.tallies.lock().await;
            let tally = tallies
                .entry((source.to_string(), reason.to_string()))
                .or_default();
            tally.pending += 1;
            let due = tally
                .last_write
                .is_none_or(|at| at.elapsed() >= WRITE_INTERVAL);
            if due {
                tally.last_write = Some(Instant::now());
                std::mem::take(&mut tally.pending)
            } else {
                0
            }
        };
        if due > 0 {
            write(store, self.counted, source, reason, due).await?;
        }
        Ok(())
    }

    /// Refusals counted but not stored yet, by (source, reason).
    pub async fn pending(&self) -> HashMap<(String, String), i64> {
        let tallies = self.tallies.lock().await;
        tallies
            .iter()
            .filter(|(_, t)| t.pending > 0)
            .map(|(k, t)| (k.clone(), t.pending))
            .collect()
    }

    /// Stores every pending count (periodically and at shutdown).
    pub async fn flush(&self, store: &Store) -> StoreResult<()> {
        let pending: Vec<((String, String), i64)> = {
            let mut tallies = self.tallies.lock().await;
            tallies
                .iter_mut()
                .filter(|(_, t)| t.pending > 0)
                .map(|(k, t)| {
                    t.last_write = Some(Instant::now());
                    (k.clone(), std::mem::take(&mut t.pending))
                })
                .collect()
        };
        for ((source, reason), count) in pending {
            write(store, self.counted, &source, &reason, count).await?;
        }
        Ok(())
    }
}

async fn write(
    store: &Store,
    counted: Counted,
    source: &str,
    reason: &str,
    count: i64,
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    let entry = match counted {
        Counted::HrWebhooks => {
            tx.count_refusals(source, reason, count).await?;
            AuditEntry::new(
                &super::apply::actor(source),
                "hr.webhook_refused",
                "hr_source",
                Some(source),
            )
        }
        Counted::RateLimited => AuditEntry::new(
            "ownerbound",
            "inbound.rate_limited",
            "endpoint",
            Some(source),
        ),
    };
    tx.append_audit(&entry.with_details(json!({"reason": reason, "count": count})))
        .await?;
    tx.commit().await
}
