//! The work the durable queue carries: one serde-tagged enum of tasks with typed
//! fields, so that what is enqueued and what a worker runs are checked by the
//! compiler (svix's `QueueTask` is the model).
//!
//! A job row keeps the task's tag in `kind` (for queries, findings and the jobs API)
//! and the whole task as JSON in `payload`. Payloads never hold a secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::jobs::NewJob;
use crate::store::{StoreResult, Tx};

/// One piece of background work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Open the offboarding case of a departure.
    OpenCase {
        lifecycle_event_id: String,
        person_id: String,
    },
    /// Open the offboarding case of an agent its identity provider deactivated or
    /// deleted.
    OpenAgentCase {
        agent_event_id: String,
        agent_id: String,
    },
    /// Revoke one credential of a case at its provider and prove it dead.
    Revoke(ItemRef),
    /// Check again, after the provider's propagation window, that it stayed dead.
    Verify(ItemRef),
    /// Delete a credential whose revocation is reversible (a deactivated AWS key),
    /// once its provider's window has passed, and prove it gone.
    Delete(ItemRef),
    /// List what a provider holds and reconcile it with the inventory.
    Discover { provider: String, trigger: String },
    /// Email a stored report.
    Report { report_id: String },
    /// Email an alert to the security recipients.
    Alert { subject: String, body: String },
    /// Seal every stored secret again under the new master key `key_id`.
    RotateKeys { key_id: String },
}

/// The case item a revocation task works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    pub case_id: String,
    pub item_id: String,
    pub credential_id: String,
}

/// Why a stored job cannot be read as a task.
#[derive(Debug, thiserror::Error)]
#[error("malformed {kind} job: {reason}")]
pub struct MalformedTask {
    kind: String,
    reason: String,
}

impl Task {
    /// The tag stored in the job's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OpenCase { .. } => "open_case",
            Self::OpenAgentCase { .. } => "open_agent_case",
            Self::Revoke(_) => "revoke",
            Self::Verify(_) => "verify",
            Self::Delete(_) => "delete",
            Self::Discover { .. } => "discover",
            Self::Report { .. } => "report",
            Self::Alert { .. } => "alert",
            Self::RotateKeys { .. } => "rotate_keys",
        }
    }

    /// Reads a stored job. Rows written before tasks were typed hold the fields
    /// without the tag, so the tag is taken from the `kind` column.
    pub fn from_stored(kind: &str, payload: &str) -> Result<Self, MalformedTask> {
        let malformed = |reason: String| MalformedTask {
            kind: kind.to_string(),
            reason,
        };
        let mut value: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| malformed(e.to_string()))?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| malformed("the payload is not an object".into()))?;
        object.insert("kind".into(), kind.into());
        serde_json::from_value(value).map_err(|e| malformed(e.to_string()))
    }

    /// Whether the task calls a provider (and so takes one of its slots).
    pub fn provider_call(&self) -> bool {
        matches!(self, Self::Revoke(_) | Self::Verify(_) | Self::Delete(_))
    }
}

/// How a task is queued.
pub struct Schedule<'a> {
    /// One job per piece of work: enqueueing the same key again does nothing.
    pub dedupe_key: &'a str,
    /// The provider the task calls, for fair scheduling and provider health.
    pub provider: Option<&'a str>,
    pub run_after: DateTime<Utc>,
}

impl<'a> Schedule<'a> {
    /// Due now, calling no provider.
    pub fn now(dedupe_key: &'a str) -> Self {
        Self {
            dedupe_key,
            provider: None,
            run_after: crate::store::now(),
        }
    }
}

/// A safety bound on attempts only; jobs are retried until their deadline (see
/// `jobs::deadline_for`), which comes long before this.
const ATTEMPTS_BOUND: i64 = 1_000_000;

/// Enqueues `task` in the caller's transaction; false when its key exists already.
/// Idle workers of this instance (and, on PostgreSQL, of every instance) wake when
/// the transaction commits.
pub async fn enqueue(tx: &mut Tx, task: &Task, schedule: &Schedule<'_>) -> StoreResult<bool> {
    let payload = serde_json::to_value(task).expect("tasks serialise");
    tx.enqueue_job(&NewJob {
        kind: task.kind(),
        dedupe_key: schedule.dedupe_key,
        payload: &payload,
        provider: schedule.provider,
        max_attempts: ATTEMPTS_BOUND,
        run_after: schedule.run_after,
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_round_trips_through_its_row() {
        let task = Task::Revoke(ItemRef {
            case_id: "c".into(),
            item_id: "i".into(),
            credential_id: "k".into(),
        });
        let payload = serde_json::to_string(&task).unwrap();
        assert_eq!(Task::from_stored(task.kind(), &payload).unwrap(), task);
    }

    #[test]
    fn a_row_written_before_tasks_were_typed_is_read_by_its_kind() {
        let task = Task::from_stored("open_case", r#"{"lifecycle_event_id":"e","person_id":"p"}"#)
            .unwrap();
        assert_eq!(
            task,
            Task::OpenCase {
                lifecycle_event_id: "e".into(),
                person_id: "p".into()
            }
        );
    }

    #[test]
    fn a_payload_missing_a_field_is_malformed_naming_the_kind() {
        let err = Task::from_stored("revoke", r#"{"case_id":"c"}"#).unwrap_err();
        assert!(err.to_string().starts_with("malformed revoke job"), "{err}");
        assert!(Task::from_stored("nonsense", "{}").is_err());
        assert!(Task::from_stored("alert", "[1]").is_err());
    }
}
