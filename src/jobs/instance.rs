//! This process as an instance of the service: registered, heart-beating, and
//! watching the others so that a crashed instance's leases come back in seconds.
//!
//! An instance is seen stopped when its heartbeat has not changed for
//! [`SILENT_AFTER`] as timed by the watching instance's own monotonic clock (so
//! clocks that disagree between hosts do not matter), or when its last heartbeat is
//! older than [`SILENT_AFTER`] plus [`CLOCK_SKEW`] by the watcher's wall clock (for a
//! watcher that has only just started), or at once when it ran on this host in this
//! process namespace and its process is gone (a crash, `kill -9`, this instance's own
//! previous run before a restart).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::store::instances::Instance;
use crate::store::{now, Store, StoreResult};

/// How often an instance heartbeats and looks for stopped ones.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// An instance silent this long is stopped and its leases released. Several
/// heartbeats, so a busy database or a short pause does not cost an instance its work.
pub const SILENT_AFTER: Duration = Duration::from_secs(10);
/// Heartbeats between two passes forgetting instances stopped for a week.
const PRUNE_EVERY: u64 = 3600;

/// How far apart two hosts' clocks may be before a watcher that has just started
/// takes a live instance for a silent one.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// What a watching instance saw of the others' heartbeats: the value, and since
/// when (its own monotonic clock) it has not changed.
#[derive(Default)]
pub struct Watch {
    seen: std::collections::HashMap<String, (DateTime<Utc>, std::time::Instant)>,
}

impl Watch {
    /// Whether `other` has been silent for [`SILENT_AFTER`], by either rule.
    fn silent(&mut self, other: &Instance, at: DateTime<Utc>) -> bool {
        self.silent_at(other, at, std::time::Instant::now())
    }

    fn silent_at(&mut self, other: &Instance, at: DateTime<Utc>, now: std::time::Instant) -> bool {
        let since = match self.seen.get(&other.id) {
            Some((beat, since)) if *beat == other.heartbeat_at => *since,
            _ => {
                self.seen
                    .insert(other.id.clone(), (other.heartbeat_at, now));
                now
            }
        };
        let stale = chrono::Duration::from_std(SILENT_AFTER + CLOCK_SKEW).expect("small");
        now.duration_since(since) >= SILENT_AFTER || other.heartbeat_at < at - stale
    }

    /// Forgets instances that are no longer live.
    fn retain(&mut self, live: &[Instance]) {
        self.seen
            .retain(|id, _| live.iter().any(|instance| &instance.id == id));
    }
}

/// Where this process runs: two instances with the same `process_ns` share a kernel
/// and a PID namespace, so one can tell whether the other's process still exists.
struct Whereabouts {
    hostname: String,
    process_ns: String,
    pid: i64,
}

fn whereabouts() -> Whereabouts {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let boot = read("/proc/sys/kernel/random/boot_id");
    let pid_ns = std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.display().to_string());
    let process_ns = match (boot, pid_ns) {
        (Some(boot), Some(ns)) => format!("{boot}/{ns}"),
        // Nowhere to check a PID: a namespace of its own, so only heartbeats count.
        _ => format!("unknown/{}", uuid::Uuid::new_v4()),
    };
    Whereabouts {
        hostname: read("/proc/sys/kernel/hostname")
            .or_else(|| read("/etc/hostname"))
            .unwrap_or_else(|| "unknown".into()),
        process_ns,
        pid: std::process::id() as i64,
    }
}

/// Whether a process of this namespace is still running (a zombie is not).
fn process_alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Registers this process as a new instance, and at once releases the leases of
/// instances that are gone (this one's previous run among them). Returns its id.
pub async fn register(store: &Store) -> StoreResult<String> {
    let here = whereabouts();
    let instance = Instance {
        id: crate::store::new_id(),
        hostname: here.hostname,
        process_ns: here.process_ns,
        pid: here.pid,
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: now(),
        heartbeat_at: now(),
        stopped_at: None,
        stop_reason: None,
    };
    store.register_instance(&instance).await?;
    tracing::info!(instance = %instance.id, pid = instance.pid, "registered this instance");
    reap(store, &mut Watch::default(), &instance.id, now()).await?;
    Ok(instance.id)
}

/// Marks the others stopped that are gone (silent, or their process vanished from
/// this host), and releases the leases of stopped instances; returns how many jobs
/// came back. In the steady state this only reads.
pub async fn reap(
    store: &Store,
    watch: &mut Watch,
    me: &str,
    at: DateTime<Utc>,
) -> StoreResult<u64> {
    let live = store.live_instances().await?;
    watch.retain(&live);
    let mine = live.iter().find(|instance| instance.id == me);
    let here = |other: &Instance| mine.is_some_and(|mine| other.process_ns == mine.process_ns);
    // Silent, unless its process is seen running here (busy, not gone).
    let silent: Vec<String> = live
        .iter()
        .filter(|other| other.id != me && watch.silent(other, at))
        .filter(|other| !(here(other) && process_alive(other.pid)))
        .map(|other| other.id.clone())
        .collect();
    let gone: Vec<String> = live
        .iter()
        .filter(|other| {
            other.id != me
                && !silent.contains(&other.id)
                && here(other)
                && !process_alive(other.pid)
        })
        .map(|other| other.id.clone())
        .collect();
    let mut stopped = 0;
    if !silent.is_empty() {
        stopped += store.stop_instances(&silent, "no heartbeat", at).await?;
    }
    if !gone.is_empty() {
        stopped += store.stop_instances(&gone, "process gone", at).await?;
    }
    if stopped > 0 {
        tracing::warn!(
            silent = silent.len(),
            gone = gone.len(),
            "instances stopped without shutting down; releasing their jobs"
        );
    } else if !store.stopped_instances_hold_leases().await? {
        return Ok(0);
    }
    let released = store.release_leases_of_stopped(at).await?;
    if released > 0 {
        tracing::warn!(jobs = released, "released the leases of stopped instances");
    }
    Ok(released)
}

/// Heartbeats and reaps every [`HEARTBEAT_INTERVAL`] until `shutdown`, then marks
/// this instance stopped (its in-flight jobs have finished by then).
pub async fn run_heartbeat(store: Store, me: String, shutdown: CancellationToken) {
    let mut watch = Watch::default();
    let mut beats: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(HEARTBEAT_INTERVAL) => {}
        }
        let at = now();
        match store.heartbeat(&me, at).await {
            Ok(true) => {}
            Ok(false) => {
                // Paused past SILENT_AFTER: others took its leases (fenced, so its
                // late results change nothing). It carries on under a fresh record.
                tracing::error!(instance = %me, "this instance was seen stopped (paused too long); its jobs went to others");
                let _ = store.revive_instance(&me, at).await;
            }
            Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
        }
        if let Err(err) = reap(&store, &mut watch, &me, at).await {
            tracing::warn!(error = %err, "could not look for stopped instances");
        }
        beats += 1;
        if beats % PRUNE_EVERY == 0 {
            let before = at - chrono::Duration::days(7);
            if let Err(err) = store.prune_instances(before).await {
                tracing::warn!(error = %err, "could not forget long-stopped instances");
            }
        }
    }
}

/// Marks this instance stopped at shutdown.
pub async fn deregister(store: &Store, me: &str) {
    if let Err(err) = store
        .stop_instances(&[me.to_string()], "shutdown", now())
        .await
    {
        tracing::warn!(error = %err, "could not record this instance's shutdown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(heartbeat_at: DateTime<Utc>) -> Instance {
        Instance {
            id: "other".into(),
            hostname: "h".into(),
            process_ns: "ns".into(),
            pid: 1,
            version: "0".into(),
            started_at: heartbeat_at,
            heartbeat_at,
            stopped_at: None,
            stop_reason: None,
        }
    }

    #[test]
    fn a_heartbeat_that_keeps_changing_is_alive_whatever_its_clock_says() {
        let (mut watch, start, at) = (Watch::default(), std::time::Instant::now(), now());
        // Its clock runs 40 s behind ours, and it beats every second.
        for second in 0..30 {
            let beat = at - chrono::Duration::seconds(40) + chrono::Duration::seconds(second);
            let seen = start + Duration::from_secs(second as u64);
            assert!(
                !watch.silent_at(&instance(beat), at, seen),
                "second {second}"
            );
        }
    }

    #[test]
    fn a_heartbeat_unchanged_for_the_silence_window_is_silent() {
        let (mut watch, start, at) = (Watch::default(), std::time::Instant::now(), now());
        let beat = instance(at);
        assert!(!watch.silent_at(&beat, at, start));
        assert!(!watch.silent_at(&beat, at, start + SILENT_AFTER / 2));
        assert!(watch.silent_at(&beat, at, start + SILENT_AFTER));
    }

    #[test]
    fn a_heartbeat_older_than_any_clock_skew_is_silent_at_first_sight() {
        let at = now();
        let old = instance(
            at - chrono::Duration::from_std(SILENT_AFTER + CLOCK_SKEW).unwrap()
                - chrono::Duration::seconds(1),
        );
        assert!(Watch::default().silent_at(&old, at, std::time::Instant::now()));
        let recent = instance(at - chrono::Duration::seconds(30));
        assert!(!Watch::default().silent_at(&recent, at, std::time::Instant::now()));
    }

    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_not() {
        if std::fs::metadata("/proc/self/stat").is_err() {
            return; // no procfs: only heartbeats are used there
        }
        assert!(process_alive(std::process::id() as i64));
        assert!(!process_alive(i64::from(i32::MAX)));
    }
}
