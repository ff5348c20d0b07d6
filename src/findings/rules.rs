//! From rule rows to findings: the facts behind each finding and what to do about it.
//! Which rows exist and how severe they are is decided in SQL (`store::findings`), so
//! that counts and pages agree; here each row is explained.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::catalogue::Catalogue;
use super::model::{AgentRef, Finding, FindingKind, OwnerRef, Severity};
use crate::store::findings::{
    CollateralRow, CredentialRow, DeactivationRow, DeadJobRow, LostOwnerRow, OrphanRow,
    RevocationRow, Rule, Subject, TerminationRow,
};

/// Most agents listed in one shared-credential finding (the count says how many).
pub const MAX_LISTED_AGENTS: usize = 20;

/// The rule that yields a kind.
pub fn rule_of(kind: FindingKind) -> Rule {
    use FindingKind as K;
    match kind {
        K::OrphanedAgent => Rule::Orphans,
        K::AgentLostOwner => Rule::LostOwner,
        K::RevocationStillAlive
        | K::RevocationFailed
        | K::RevocationHeld
        | K::RevocationUnverified
        | K::ManualTaskOpen
        | K::RevocationVerified => Rule::Revocations,
        K::JobDead => Rule::DeadJobs,
        K::Collateral => Rule::Collateral,
        K::SharedCredential => Rule::Shared,
        K::BroadScope => Rule::BroadScope,
        K::UnusedScope => Rule::UnusedScope,
        K::RotationOverdue => Rule::Rotation,
        K::NoExpiry => Rule::NoExpiry,
        K::UnmatchedHrTermination => Rule::UnmatchedHr,
        K::DeactivatedWithoutAgents => Rule::DeactivatedWithoutAgents,
    }
}

/// Everything a rule can yield, so a rule is counted once whatever its kinds.
pub const RULES: &[Rule] = &[
    Rule::Orphans,
    Rule::LostOwner,
    Rule::Revocations,
    Rule::DeadJobs,
    Rule::Collateral,
    Rule::Shared,
    Rule::BroadScope,
    Rule::UnusedScope,
    Rule::Rotation,
    Rule::NoExpiry,
    Rule::UnmatchedHr,
    Rule::DeactivatedWithoutAgents,
];

fn finding(subject: Subject, facts: Value, action: String) -> Finding {
    let kind = subject
        .kind
        .parse()
        .expect("the rules' SQL yields known kinds");
    let severity = subject.severity.parse().unwrap_or(Severity::High);
    let has_owner = subject.owner_id.is_some() || subject.owner_email.is_some();
    let owner = has_owner.then_some(OwnerRef {
        id: subject.owner_id,
        display_name: subject.owner_name,
        email: subject.owner_email,
        manager_name: subject.manager_name,
    });
    Finding {
        kind,
        severity,
        key: subject.sort_key,
        agent: subject.agent_id.map(|id| AgentRef {
            id,
            name: subject.agent_name.unwrap_or_default(),
            source: subject.agent_source,
        }),
        owner,
        provider: subject.provider,
        credential_id: subject.credential_id,
        // Belt and braces: the SQL selects 8 characters, and no more ever leaves.
        fingerprint_prefix: subject
            .fingerprint_prefix
            .map(|f| f.chars().take(8).collect()),
        facts,
        action,
    }
}

fn hours(now: DateTime<Utc>, since: DateTime<Utc>) -> i64 {
    (now - since).num_hours()
}

pub fn orphan(row: OrphanRow, now: DateTime<Utc>) -> Finding {
    let manager = row
        .subject
        .manager_name
        .clone()
        .map(|m| format!(" (ask {m})"))
        .unwrap_or_default();
    let action = match (row.reason.as_str(), row.live_credentials > 0) {
        ("owner_unresolved", _) => "Find who runs this agent and register them as its owner, or disable it: \
            nobody in the directory answers for it."
            .to_string(),
        ("no_owner", _) => "Give this agent an owner in the identity provider that pushed it (or here), or \
            disable it: its owners were all removed."
            .to_string(),
        (_, true) => format!(
            "Revoke this agent's live credentials and hand it to a new owner{manager} or decommission it: \
             it runs on a departed person's authority."
        ),
        (_, false) => format!(
            "Reassign this agent to an active owner{manager} or decommission it; its credentials are dead."
        ),
    };
    let facts = json!({
        "reason": row.reason,
        "agent_status": row.agent_status,
        "registered_owner_email": row.registered_owner_email,
        "owner_deactivated_at": row.owner_deactivated_at,
        "hours_since_owner_deactivated": row.owner_deactivated_at.map(|at| hours(now, at)),
        "live_credentials": row.live_credentials,
        "owner_count": row.owner_count,
    });
    finding(row.subject, facts, action)
}

pub fn lost_owner(row: LostOwnerRow, now: DateTime<Utc>) -> Finding {
    let facts = json!({
        "lost_person_id": row.lost_person_id,
        "lost_person_name": row.lost_person_name,
        "lost_at": row.lost_at,
        "hours_since_lost": hours(now, row.lost_at),
        "owners_left": row.owners_left,
    });
    let action =
        "Confirm that the remaining owners answer for this agent and that it does not depend on \
        the departed owner's access: nothing was revoked, because an active owner is left."
            .to_string();
    finding(row.subject, facts, action)
}

pub fn revocation(row: RevocationRow, now: DateTime<Utc>) -> Finding {
    let item_id = row.subject.sort_key.clone();
    let provider = row.subject.provider.clone().unwrap_or_default();
    let agent_ids: Value = serde_json::from_str(&row.item_agent_ids).unwrap_or(json!([]));
    let mut facts = json!({
        "item_id": item_id,
        "case_id": row.case_id,
        "case_opened_at": row.case_opened_at,
        "item_status": row.item_status,
        "item_action": row.item_action,
        "detail": row.item_detail,
        "departed_owner_agent_ids": agent_ids,
        "status_since": row.item_updated_at,
        "age_hours": hours(now, row.item_updated_at),
        "hours_since_case_opened": hours(now, row.case_opened_at),
    });
    if let Some(status) = &row.job_status {
        facts["job"] = json!({
            "status": status,
            "attempts": row.job_attempts,
            "last_error": row.job_error,
        });
        if status == "running" {
            // A call in flight now: a hung provider shows here within seconds.
            facts["job"]["in_flight_since"] = json!(row.job_claimed_at);
            facts["job"]["instance"] = json!(row.job_instance);
        }
        if row.job_failing_since.is_some() {
            facts["job"]["failing_since"] = json!(row.job_failing_since);
            facts["job"]["deadline_at"] = json!(row.job_deadline_at);
            if status == "ready" {
                facts["job"]["next_attempt_at"] = json!(row.job_run_after);
            }
        }
    }
    let action = match row.subject.kind.as_str() {
        "revocation_still_alive" => format!(
            "Revoke this credential at {provider} by hand now and review what it can reach: the provider \
             still accepts it after revocation."
        ),
        "revocation_verified" => {
            facts["verified_at"] = json!(row.item_updated_at);
            facts["how"] = json!(row.item_detail);
            "Nothing to do: the credential is proven dead (for the record).".to_string()
        }
        "manual_task_open" => format!(
            "Revoke this credential at {provider} by hand, then confirm it: \
             POST /api/v1/offboardings/items/{item_id}/confirm."
        ),
        "revocation_held" => "Give the other owners' agents credentials of their own, then revoke this one: \
            it is held because they share it."
            .to_string(),
        "revocation_failed" => format!(
            "Revoke this credential at {provider} by hand, confirm it \
             (POST /api/v1/offboardings/items/{item_id}/confirm), and fix the cause given in the facts."
        ),
        _ => format!(
            "Check at {provider} that this credential is dead; ownerbound keeps verifying it meanwhile."
        ),
    };
    finding(row.subject, facts, action)
}

pub fn dead_job(row: DeadJobRow, now: DateTime<Utc>) -> Finding {
    // Only ids are taken from the payload (an alert's payload holds its whole text).
    let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
    let id_of = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
    let facts = json!({
        "job_id": row.job_id,
        "job_kind": row.job_kind,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "dead_since": row.dead_since,
        "age_hours": hours(now, row.dead_since),
        "person_id": id_of("person_id"),
        "credential_id": id_of("credential_id"),
        "case_id": id_of("case_id"),
    });
    let what = match row.job_kind.as_str() {
        "open_case" => "a departure was not acted on",
        "verify" => "a revocation was not verified again",
        "alert" => "an alert was not delivered",
        _ => "work was left undone",
    };
    let action = format!(
        "Fix the cause in last_error, then retry with `ownerbound jobs retry {}`: {what}.",
        row.job_id
    );
    finding(row.subject, facts, action)
}

pub fn collateral(row: CollateralRow) -> Finding {
    let broken = matches!(row.credential_status.as_str(), "revoked" | "verified_dead");
    let facts = json!({
        "case_id": row.case_id,
        "case_opened_at": row.case_opened_at,
        "departed_person_id": row.departed_id,
        "departed_person_name": row.departed_name,
        "item_status": row.item_status,
        "item_action": row.item_action,
        "credential_status": row.credential_status,
        "broken": broken,
    });
    let action = if row.item_action == "hold" {
        "Give this agent a credential of its own: the one it shares with a departed person's agent is held \
         and must be revoked."
    } else if broken {
        "Give this agent a credential of its own: the one it shared with a departed person's agent was revoked, \
         so it no longer works."
    } else {
        "Give this agent a credential of its own now: the one it shares with a departed person's agent is being \
         revoked."
    };
    finding(row.subject, facts, action.to_string())
}

/// A shared-credential finding; `agents` are the credential's live agents as
/// (agent id, name, owner id, registered owner email).
pub fn shared(
    row: CredentialRow,
    agents: &[(String, String, Option<String>, Option<String>)],
) -> Finding {
    let listed: Vec<Value> = agents
        .iter()
        .take(MAX_LISTED_AGENTS)
        .map(|(id, name, owner_id, owner_email)| {
            json!({"id": id, "name": name, "owner_id": owner_id, "owner_email": owner_email})
        })
        .collect();
    let facts = json!({
        "agent_count": row.live_agents,
        "owner_count": row.owners,
        "agents": listed,
        "credential_kind": row.credential_kind,
    });
    let action = if row.owners > 1 {
        format!(
            "Issue each owner's agents a credential of their own: revoking this one when one of its {} owners \
             leaves breaks the others' agents.",
            row.owners
        )
    } else {
        "Give each agent its own credential, so one can be revoked without breaking the others."
            .to_string()
    };
    finding(row.subject, facts, action)
}

fn scope_list(json_text: &str) -> Vec<String> {
    serde_json::from_str(json_text).unwrap_or_default()
}

pub fn broad_scope(row: CredentialRow, catalogue: &Catalogue) -> Finding {
    let granted = scope_list(&row.scopes);
    let broad: Vec<Value> = granted
        .iter()
        .filter_map(|scope| {
            catalogue
                .broad_matches(scope)
                .next()
                .map(|p| json!({"scope": scope, "family": p.family, "pattern": p.pattern}))
        })
        .collect();
    let facts = json!({
        "broad_scopes": broad,
        "granted_scopes": granted.len(),
        "agent_count": row.live_agents,
        "credential_kind": row.credential_kind,
    });
    let action =
        "Replace this credential with one limited to the scopes its agents need.".to_string();
    finding(row.subject, facts, action)
}

/// An unused-scope finding; `declared` are the `used_scopes` JSON of the
/// credential's live agents (all declared, or the rule would not have matched).
pub fn unused_scope(row: CredentialRow, declared: &[Option<String>]) -> Finding {
    let granted = scope_list(&row.scopes);
    let mut used: Vec<String> = declared
        .iter()
        .flatten()
        .flat_map(|text| scope_list(text))
        .collect();
    used.sort();
    used.dedup();
    let unused: Vec<&String> = granted.iter().filter(|s| !used.contains(s)).collect();
    let facts = json!({
        "unused_scopes": unused,
        "granted_scopes": granted,
        "declared_used_scopes": used,
        "agent_count": row.live_agents,
    });
    let action =
        "Re-issue this credential with only the scopes its agents declare they use.".to_string();
    finding(row.subject, facts, action)
}

pub fn rotation(row: CredentialRow, catalogue: &Catalogue, now: DateTime<Utc>) -> Finding {
    let (since, from) = match (row.rotated_at, row.issued_at) {
        (Some(at), _) => (at, "rotated_at"),
        (None, Some(at)) => (at, "issued_at"),
        (None, None) => (row.created_at, "created_at"),
    };
    let cadence = catalogue.cadence(&row.credential_kind);
    let facts = json!({
        "credential_kind": row.credential_kind,
        "age_hours": hours(now, since),
        "age_days": (now - since).num_days(),
        "age_from": from,
        "since": since,
        "cadence_hours": cadence.map(|c| c.num_hours()),
        "agent_count": row.live_agents,
    });
    let action = format!(
        "Rotate this {} (older than its {} cadence) and record rotated_at.",
        row.credential_kind.replace('_', " "),
        cadence.map(describe).unwrap_or_default()
    );
    finding(row.subject, facts, action)
}

fn describe(d: chrono::Duration) -> String {
    if d.num_hours() % 24 == 0 {
        format!("{}-day", d.num_days())
    } else {
        format!("{}-hour", d.num_hours())
    }
}

pub fn no_expiry(row: CredentialRow) -> Finding {
    let facts = json!({
        "credential_kind": row.credential_kind,
        "issued_at": row.issued_at,
        "agent_count": row.live_agents,
    });
    let action =
        "Set an expiry on this credential at the provider (and record expires_at), or rotate it \
        on a schedule."
            .to_string();
    finding(row.subject, facts, action)
}

pub fn termination(row: TerminationRow, now: DateTime<Utc>) -> Finding {
    let facts = json!({
        "termination_id": row.subject.sort_key,
        "source": row.source,
        "employee_id": row.employee_id,
        "email": row.email,
        "effective_at": row.effective_at,
        "received_at": row.received_at,
        "age_hours": hours(now, row.received_at),
    });
    let action =
        "Link this employee to their person (PATCH /api/v1/people/{id} with hr_ids) or offboard \
        them by hand: nobody was offboarded for this termination."
            .to_string();
    finding(row.subject, facts, action)
}

pub fn deactivation(row: DeactivationRow) -> Finding {
    let facts = json!({
        "event_id": row.subject.sort_key,
        "source": row.event_source,
        "deactivated_at": row.occurred_at,
    });
    let action =
        "Nothing to do: this person owned no agents (listed for completeness).".to_string();
    finding(row.subject, facts, action)
}
