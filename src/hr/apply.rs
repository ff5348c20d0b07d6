//! What a verified HR event does: terminations deactivate people now or at their
//! effective date, cancellations cancel what is still pending, rehires are noted and
//! never restore anything. Employees that match nobody wait as unmatched terminations
//! until their HR id is linked to a person.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::presets::{Entry, Kind};
use crate::audit::AuditEntry;
use crate::domain::case_key;
use crate::lifecycle::{deactivate, Cause};
use crate::store::hr::NewTermination;
use crate::store::people::HrId;
use crate::store::{Store, StoreError, StoreResult, Tx};

/// What one event did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub applied: usize,
    pub scheduled: usize,
    pub unmatched: usize,
    pub cancelled: usize,
    pub noted: usize,
}

/// The lifecycle source and audit actor of an HR source.
pub fn actor(source: &str) -> String {
    format!("hr:{source}")
}

/// Stores a verified event in the inbox and applies it, in one transaction. Returns
/// None when the same event was already received (a redelivery: nothing is applied).
#[allow(clippy::too_many_arguments, reason = "one event's parts, passed once")]
pub async fn record_event(
    store: &Store,
    source: &str,
    dedupe_key: &str,
    event_id: Option<&str>,
    body: &[u8],
    entries: &[Entry],
    skipped: &[String],
    now: DateTime<Utc>,
) -> StoreResult<Option<Outcome>> {
    let mut tx = store.begin().await?;
    let status = if entries.is_empty() {
        "ignored"
    } else {
        "applied"
    };
    let Some(inbox_id) = tx
        .insert_inbox(source, dedupe_key, event_id, status, None, body)
        .await?
    else {
        return Ok(None);
    };
    let actor = actor(source);
    let mut outcome = Outcome::default();
    for entry in entries {
        apply_entry(&mut tx, source, &actor, &inbox_id, entry, now, &mut outcome).await?;
    }
    tx.append_audit(
        &AuditEntry::new(&actor, "hr.event_received", "hr_event", Some(&inbox_id)).with_details(
            json!({
                "source": source,
                "event_id": event_id,
                "entries": entries.len(),
                "skipped_entries": skipped,
                "outcome": outcome,
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(outcome))
}

/// Stores a verified body that does not parse, as rejected with the reason.
pub async fn record_rejected(
    store: &Store,
    source: &str,
    dedupe_key: &str,
    body: &[u8],
    reason: &str,
) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    if let Some(id) = tx
        .insert_inbox(source, dedupe_key, None, "rejected", Some(reason), body)
        .await?
    {
        tx.append_audit(
            &AuditEntry::new(&actor(source), "hr.event_rejected", "hr_event", Some(&id))
                .with_details(json!({"source": source, "reason": reason})),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn apply_entry(
    tx: &mut Tx,
    source: &str,
    actor: &str,
    inbox_id: &str,
    entry: &Entry,
    now: DateTime<Utc>,
    outcome: &mut Outcome,
) -> StoreResult<()> {
    let email = entry.email.as_deref().map(case_key);
    let person = tx
        .resolve_employee(source, entry.employee_id.as_deref(), email.as_deref())
        .await?;
    if let (Some(person), Some(employee_id)) = (&person, &entry.employee_id) {
        // Remember the match, so later events (which usually carry ids only) resolve.
        let link = [HrId {
            source: source.to_string(),
            employee_id: employee_id.clone(),
        }];
        if tx
            .resolve_employee(source, Some(employee_id), None)
            .await?
            .is_none()
        {
            // Nobody holds the id (checked under its lock): a conflict cannot happen,
            // and any other error must end the transaction rather than be ignored.
            match tx.link_hr_ids(person, &link).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(err) => return Err(err),
            }
        }
    }
    let effective_at = entry.effective_at.unwrap_or(now);
    let record = |kind: Kind, status: &'static str| NewTermination {
        inbox_id,
        source,
        kind: kind.as_str(),
        employee_id: entry.employee_id.as_deref(),
        email: email.as_deref(),
        effective_at,
        person_id: person.as_deref(),
        status,
    };
    match entry.kind {
        Kind::Termination => {
            let status = match &person {
                None => "unmatched",
                Some(_) if effective_at > now => "scheduled",
                Some(_) => "applied",
            };
            tx.insert_termination(&record(Kind::Termination, status))
                .await?;
            // Notices announced earlier for this employee are now settled.
            for notice in tx
                .terminations_of(
                    source,
                    entry.employee_id.as_deref(),
                    person.as_deref(),
                    "pending",
                )
                .await?
            {
                tx.set_termination(&notice.id, "applied", person.as_deref())
                    .await?;
            }
            match status {
                "unmatched" => outcome.unmatched += 1,
                "scheduled" => outcome.scheduled += 1,
                _ => {
                    let person = person.as_deref().expect("applied means matched");
                    terminate(tx, person, actor).await?;
                    outcome.applied += 1;
                }
            }
        }
        Kind::Notice => {
            tx.insert_termination(&record(Kind::Notice, "pending"))
                .await?;
            outcome.noted += 1;
        }
        Kind::Cancellation | Kind::Rehire => {
            for status in ["scheduled", "unmatched", "pending"] {
                for pending in tx
                    .terminations_of(
                        source,
                        entry.employee_id.as_deref(),
                        person.as_deref(),
                        status,
                    )
                    .await?
                {
                    tx.set_termination(&pending.id, "cancelled", pending.person_id.as_deref())
                        .await?;
                    outcome.cancelled += 1;
                }
            }
            // A rehire never reactivates anyone nor restores a credential: the identity
            // provider reactivates the account, and new credentials are registered anew.
            // It lifts this source's hold, so the identity provider can.
            if let Some(person) = person.as_deref() {
                tx.lift_hr_hold(person, actor).await?;
            }
            tx.insert_termination(&record(entry.kind, "noted")).await?;
            outcome.noted += 1;
        }
    }
    Ok(())
}

/// An HR termination takes effect: the person is deactivated (if still active) and,
/// even if an identity provider deactivated them first, held inactive against
/// identity providers until this HR system cancels or rehires.
async fn terminate(tx: &mut Tx, person_id: &str, actor: &str) -> StoreResult<()> {
    deactivate(tx, person_id, cause(actor)).await?;
    tx.set_hr_hold(person_id, actor).await
}

/// Lifecycle source and actor are both `hr:<source>`.
fn cause(actor: &str) -> Cause<'_> {
    Cause {
        source: actor,
        actor,
        reason: Some("terminated in the HR system"),
    }
}

/// Fires scheduled terminations whose effective date has come. Safe with several
/// instances: each runs inside a serialised write transaction.
pub async fn fire_due(store: &Store, now: DateTime<Utc>) -> StoreResult<usize> {
    let mut fired = 0;
    loop {
        let mut tx = store.begin().await?;
        let due = tx.due_terminations(now, 100).await?;
        if due.is_empty() {
            return Ok(fired);
        }
        for termination in &due {
            let actor = actor(&termination.source);
            if let Some(person) = &termination.person_id {
                terminate(&mut tx, person, &actor).await?;
            }
            tx.set_termination(&termination.id, "applied", termination.person_id.as_deref())
                .await?;
            tx.append_audit(
                &AuditEntry::new(&actor, "hr.scheduled_termination_fired", "person", termination.person_id.as_deref())
                    .with_details(json!({"termination_id": termination.id, "effective_at": termination.effective_at})),
            )
            .await?;
            fired += 1;
        }
        tx.commit().await?;
    }
}

/// Applies unmatched terminations of employees now linked to (or emailed as) this
/// person: deactivates now when effective, else schedules.
pub async fn apply_unmatched_for_person(
    tx: &mut Tx,
    person_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let pending = tx.unmatched_for_person(person_id).await?;
    for termination in &pending {
        let actor = actor(&termination.source);
        if termination.effective_at <= now {
            terminate(tx, person_id, &actor).await?;
            tx.set_termination(&termination.id, "applied", Some(person_id))
                .await?;
        } else {
            tx.set_termination(&termination.id, "scheduled", Some(person_id))
                .await?;
        }
        tx.append_audit(
            &AuditEntry::new(
                &actor,
                "hr.unmatched_termination_linked",
                "person",
                Some(person_id),
            )
            .with_details(json!({"termination_id": termination.id})),
        )
        .await?;
    }
    Ok(pending.len())
}

/// Runs [`fire_due`] at start (catching up on what fell due while the service was
/// down) and then every `interval`, until `shutdown`.
pub async fn run_scheduler(
    store: Store,
    interval: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let scheduled = store.schedule_signal();
    loop {
        let fired = fire_due(&store, crate::store::now()).await;
        match &fired {
            Ok(0) => {}
            Ok(n) => tracing::info!(fired = n, "scheduled HR terminations took effect"),
            Err(err) => {
                tracing::warn!(error = %err, "scheduled HR terminations could not run; retrying")
            }
        }
        // Until the earliest termination is due (at most `interval`, which also
        // catches those scheduled by other instances), or one is scheduled here.
        let wait = match store.next_termination_due().await {
            _ if fired.is_err() => interval,
            Ok(Some(due)) => (due - crate::store::now())
                .to_std()
                .unwrap_or_default()
                .clamp(std::time::Duration::from_millis(1), interval),
            _ => interval,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = scheduled.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
