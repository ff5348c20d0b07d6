//! The report's discovery sections: shadow credentials (found at a provider, owned by
//! nobody ownerbound knows), credentials of departed people that discovery found
//! alive (with how long after the departure), and coverage: each provider's latest
//! run, its last success and its counts or error. Lines are prepared here once, and
//! rendered as text or HTML.

use serde::Serialize;

use super::ROWS_PER_KIND;
use crate::store::{Store, StoreResult};

/// One block of the discovery sections.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    pub title: &'static str,
    pub intro: &'static str,
    pub total: i64,
    pub lines: Vec<String>,
}

/// The discovery sections, in order.
pub async fn blocks(
    store: &Store,
    since: chrono::DateTime<chrono::Utc>,
    local: impl Fn(chrono::DateTime<chrono::Utc>) -> String,
) -> StoreResult<Vec<Block>> {
    let (shadow_total, shadow) = store.shadow_credentials(ROWS_PER_KIND).await?;
    let (departed_total, departed) = store.found_after_departure(since, ROWS_PER_KIND).await?;
    let runs = store.latest_discovery_runs().await?;
    let mut coverage = Vec::new();
    let providers: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r.provider.as_str()).collect();
    for provider in providers {
        let latest = runs
            .iter()
            .rfind(|r| r.provider == provider)
            .expect("listed");
        let success = runs
            .iter()
            .rfind(|r| r.provider == provider && r.status == "succeeded");
        let mut line = format!(
            "{provider}: latest run {} ({})",
            local(latest.started_at),
            latest.status
        );
        match success {
            Some(run) => line.push_str(&format!(
                "; last success {}: {} listed, {} new, {} changed, {} gone, {} shadow, {} offboarded",
                local(run.finished_at.unwrap_or(run.started_at)),
                run.counts.listed,
                run.counts.new,
                run.counts.changed,
                run.counts.gone,
                run.counts.shadow,
                run.counts.offboarded
            )),
            None => line.push_str("; never succeeded"),
        }
        if let Some(error) = latest
            .error
            .as_deref()
            .filter(|_| latest.status != "succeeded")
        {
            line.push_str(&format!("; error: {error}"));
        }
        coverage.push(line);
    }
    Ok(vec![
        Block {
            title: "Credentials of departed people found by discovery",
            intro: "A provider still held these after their owner left. ownerbound revokes a new one at once; each here needs checking that it is dead.",
            total: departed_total,
            lines: departed
                .iter()
                .map(|c| {
                    let hours = (c.last_seen_at - c.departed_at).num_minutes() as f64 / 60.0;
                    let end = match c.gone_at {
                        Some(gone) => format!("gone by {}", local(gone)),
                        None => "listed in the latest run".to_string(),
                    };
                    format!(
                        "{} {} ({}) of person {}: left {}, seen alive {hours:.1} h after, {end}",
                        c.provider, c.handle, c.name, c.person_id, local(c.departed_at)
                    )
                })
                .collect(),
        },
        Block {
            title: "Shadow credentials",
            intro: "Credentials a provider holds whose owner resolves to nobody: give the person a provider identity, tag the owner at the provider, or revoke them.",
            total: shadow_total,
            lines: shadow
                .iter()
                .map(|c| {
                    format!(
                        "{} {} ({}), owner at the provider: {}, first seen {}",
                        c.provider,
                        c.handle,
                        c.name,
                        c.owner_identity.as_deref().unwrap_or("none"),
                        local(c.first_seen_at)
                    )
                })
                .collect(),
        },
        Block {
            title: "Discovery coverage",
            intro: "Each provider's latest discovery run and its last success.",
            total: coverage.len() as i64,
            lines: coverage,
        },
    ])
}
