//! Lifecycle transitions of people: the events the offboarding engine consumes.
//!
//! A transition is recorded in the transaction that changes the person, and only when
//! `active` really flips, so every departure yields exactly one *person-deactivated*
//! event however many times, and by however many sources, it is reported.

use serde_json::json;

use crate::audit::AuditEntry;
use crate::store::lifecycle::LifecycleEvent;
use crate::store::people::PersonFields;
use crate::store::{StoreResult, Tx};

pub const PERSON_DEACTIVATED: &str = "person-deactivated";
pub const PERSON_REACTIVATED: &str = "person-reactivated";

/// What caused a change: `scim`, `api`, `cli`, `hr:<source>`; the actor as in the audit
/// log; an optional human reason.
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    pub source: &'a str,
    pub actor: &'a str,
    pub reason: Option<&'a str>,
}

/// Records the event for a change of `active`, if it is a change.
pub async fn record_transition(
    tx: &mut Tx,
    person_id: &str,
    was_active: bool,
    now_active: bool,
    cause: Cause<'_>,
) -> StoreResult<Option<LifecycleEvent>> {
    let kind = match (was_active, now_active) {
        (true, false) => PERSON_DEACTIVATED,
        (false, true) => PERSON_REACTIVATED,
        _ => return Ok(None),
    };
    let event = tx
        .insert_lifecycle_event(person_id, kind, cause.source, cause.actor, cause.reason)
        .await?;
    let action = if kind == PERSON_DEACTIVATED {
        "person.deactivated"
    } else {
        "person.reactivated"
    };
    tx.append_audit(
        &AuditEntry::new(cause.actor, action, "person", Some(person_id)).with_details(json!({
            "lifecycle_event_id": event.id,
            "source": cause.source,
            "reason": cause.reason,
        })),
    )
    .await?;
    if kind == PERSON_DEACTIVATED {
        // In the same transaction: an acknowledged departure is never lost.
        crate::offboarding::enqueue_open_case(tx, &event).await?;
    }
    Ok(Some(event))
}

/// Whether an identity provider's `active: true` for an inactive person must be
/// refused: an HR termination is authoritative until HR cancels it or rehires them.
/// Identity providers push `active: true` with every profile change (Okta's full
/// PUT), often before their own deprovisioning catches up with HR; taking that as a
/// return would un-orphan a departed person's agents. Audited when refused.
pub async fn refuse_idp_reactivation(
    tx: &mut Tx,
    person_id: &str,
    was_active: bool,
    now_active: bool,
    actor: &str,
) -> StoreResult<bool> {
    if was_active || !now_active {
        return Ok(false);
    }
    let Some(source) = tx.hr_hold(person_id).await? else {
        return Ok(false);
    };
    tx.append_audit(
        &AuditEntry::new(
            actor,
            "scim.reactivation_refused",
            "person",
            Some(person_id),
        )
        .with_details(json!({
            "held_by": source,
            "reason": "terminated in the HR system; a cancellation or rehire from HR lifts this",
        })),
    )
    .await?;
    Ok(true)
}

/// Deactivates a live, active person and records the transition. Returns false when
/// there was nothing to do (already inactive, or deleted).
pub async fn deactivate(tx: &mut Tx, person_id: &str, cause: Cause<'_>) -> StoreResult<bool> {
    let person = tx.get_person(person_id).await?;
    if person.deleted_at.is_some() || !person.active {
        return Ok(false);
    }
    let fields = PersonFields {
        user_name: person.user_name,
        external_id: person.external_id,
        display_name: person.display_name,
        given_name: person.given_name,
        family_name: person.family_name,
        employee_number: person.employee_number,
        manager_id: person.manager_id,
        active: false,
    };
    tx.update_person(person_id, &fields).await?;
    record_transition(tx, person_id, true, false, cause).await?;
    Ok(true)
}
