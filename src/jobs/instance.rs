//! This process as an instance of the service: registered, heart-beating, and
//! watching the others so that a crashed instance's leases come back in seconds.
//!
//! An instance is seen stopped when it has not heart-beaten for [`SILENT_AFTER`], or
//! at once when it ran on this host in this process namespace and its process is
//! gone (a crash, `kill -9`, this instance's own previous run before a restart).

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
    reap(store, &instance.id, now()).await?;
    Ok(instance.id)
}

/// Marks the others stopped that are gone (silent, or their process vanished from
/// this host), and releases the leases of stopped instances; returns how many jobs
/// came back. In the steady state this only reads.
pub async fn reap(store: &Store, me: &str, at: DateTime<Utc>) -> StoreResult<u64> {
    let silent_since = at - chrono::Duration::from_std(SILENT_AFTER).expect("small");
    let live = store.live_instances().await?;
    let mine = live.iter().find(|instance| instance.id == me);
    let here = |other: &Instance| mine.is_some_and(|mine| other.process_ns == mine.process_ns);
    // Silent, unless its process is seen running here (busy, not gone).
    let silent: Vec<String> = live
        .iter()
        .filter(|other| other.id != me && other.heartbeat_at < silent_since)
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
        if let Err(err) = reap(&store, &me, at).await {
            tracing::warn!(error = %err, "could not look for stopped instances");
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

    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_not() {
        if std::fs::metadata("/proc/self/stat").is_err() {
            return; // no procfs: only heartbeats are used there
        }
        assert!(process_alive(std::process::id() as i64));
        assert!(!process_alive(i64::from(i32::MAX)));
    }
}
