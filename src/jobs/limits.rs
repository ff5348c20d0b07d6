//! Per-provider limits of one instance: calls in flight and calls per second.
//!
//! A worker takes a provider's slot before it claims one of its jobs, and a claim
//! skips the providers that have no free slot or are pausing for their rate limit
//! ([`ProviderLimits::saturated`]), so a hung or strict provider occupies only its
//! own slots, never the workers every other provider needs.

use std::time::Duration;

use serde_json::Value;

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
    /// Until when the rate limit allows no call (set by a job that had to give way).
    paused_until: std::sync::Mutex<Option<tokio::time::Instant>>,
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
    /// wait when that would take longer than [`MAX_PACE_WAIT`] in all (other slots
    /// may take the allowance it waited for).
    pub async fn ready(&self) -> Result<(), Duration> {
        use governor::clock::Clock;
        let Some(pace) = &self.gate.pace else {
            return Ok(());
        };
        let clock = governor::clock::DefaultClock::default();
        let deadline = tokio::time::Instant::now() + MAX_PACE_WAIT;
        loop {
            match pace.check() {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(clock.now());
                    if tokio::time::Instant::now() + wait > deadline {
                        // Claims skip this provider until then.
                        *self.gate.paused_until.lock().expect("not poisoned") =
                            Some(tokio::time::Instant::now() + wait);
                        return Err(wait);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

impl ProviderLimits {
    /// A free slot at `provider`, waiting at most `wait` for one (else None); the
    /// slot is freed when dropped.
    pub async fn acquire(
        &self,
        config: &crate::connectors::providers::ProviderConfig,
        wait: Duration,
    ) -> Option<Slot> {
        let gate = self.gate(config);
        let permit = match gate.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) if wait.is_zero() => return None,
            Err(_) => tokio::time::timeout(wait, gate.slots.clone().acquire_owned())
                .await
                .ok()?
                .expect("never closed"),
        };
        Some(Slot {
            gate,
            _permit: permit,
        })
    }

    fn gate(&self, config: &crate::connectors::providers::ProviderConfig) -> std::sync::Arc<Gate> {
        let mut map = self.gates.lock().expect("not poisoned");
        map.entry(config.name.clone())
            .or_insert_with(|| std::sync::Arc::new(Gate::for_provider(config)))
            .clone()
    }

    /// How many more calls `provider` can take from this instance now: its free
    /// slots, none while its rate limit asked for a pause.
    pub fn free_slots(&self, config: &crate::connectors::providers::ProviderConfig) -> usize {
        let gate = self.gate(config);
        let paused = gate
            .paused_until
            .lock()
            .expect("not poisoned")
            .is_some_and(|until| until > tokio::time::Instant::now());
        if paused {
            0
        } else {
            gate.slots.available_permits()
        }
    }

    /// Providers that cannot take a call from this instance now: every slot is
    /// busy, or the rate limit asked for a pause.
    pub fn saturated(&self) -> Vec<String> {
        let now = tokio::time::Instant::now();
        let map = self.gates.lock().expect("not poisoned");
        map.iter()
            .filter(|(_, gate)| {
                gate.slots.available_permits() == 0
                    || gate
                        .paused_until
                        .lock()
                        .expect("not poisoned")
                        .is_some_and(|until| until > now)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }
}

impl Gate {
    fn for_provider(config: &crate::connectors::providers::ProviderConfig) -> Self {
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
            paused_until: std::sync::Mutex::new(None),
        }
    }
}
