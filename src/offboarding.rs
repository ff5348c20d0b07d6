//! Offboarding cases: what a departure touches, and the work it sets going.
//!
//! A person-deactivated event enqueues an `open_case` job in the transaction that
//! records it. The job opens one case per departure, listing the person's agents, the
//! credentials to revoke, and the collateral: other people's agents that share a
//! credential. With `shared_credentials = "revoke"` (default) shared credentials are
//! revoked anyway and the collateral is named; with `"hold"` they are held for a human.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::AuditEntry;
use crate::store::lifecycle::LifecycleEvent;
use crate::store::offboarding::{AffectedCredential, LinkedAgent, NewCase, NewItem};
use crate::store::{Store, StoreResult, Tx};
use crate::tasks::{ItemRef, Schedule, Task};

/// What to do with a credential other people's agents also use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SharedPolicy {
    #[default]
    Revoke,
    Hold,
}

impl SharedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Hold => "hold",
        }
    }
}

/// Enqueues the opening of a case for a deactivation, in the caller's transaction.
pub async fn enqueue_open_case(tx: &mut Tx, event: &LifecycleEvent) -> StoreResult<()> {
    crate::tasks::enqueue(
        tx,
        &Task::OpenCase {
            lifecycle_event_id: event.id.clone(),
            person_id: event.person_id.clone(),
        },
        &Schedule::now(&format!("open_case:{}", event.id)),
    )
    .await?;
    Ok(())
}

/// The dedupe key of a case item's revocation job.
pub fn revoke_key(credential_id: &str, case_id: &str) -> String {
    format!("revoke:{credential_id}:{case_id}")
}

/// One credential in a case (or a preview).
#[derive(Debug, Clone, Serialize)]
pub struct ImpactItem {
    pub credential: AffectedCredential,
    /// The departing person's agents that use it.
    pub agent_ids: Vec<String>,
    /// Agents of people still active that use it too.
    pub collateral: Vec<Collateral>,
    pub action: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Collateral {
    pub agent_id: String,
    pub agent_name: String,
    pub owner_id: Option<String>,
}

/// What offboarding a person does.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    pub person_id: String,
    pub policy: &'static str,
    /// (id, name) of the agents that become orphaned.
    pub agents: Vec<serde_json::Value>,
    pub credentials: Vec<ImpactItem>,
}

/// Computes the impact inside a transaction (so a case matches what it saw).
pub async fn impact(tx: &mut Tx, person_id: &str, policy: SharedPolicy) -> StoreResult<Impact> {
    let agents = tx.agents_owned_by(person_id).await?;
    let credentials = tx.credentials_of_owner(person_id).await?;
    let ids: Vec<String> = credentials.iter().map(|c| c.id.clone()).collect();
    let links = tx.agents_linked_to(&ids).await?;
    let items = credentials
        .into_iter()
        .map(|credential| {
            let linked: Vec<&LinkedAgent> = links
                .iter()
                .filter(|l| l.credential_id == credential.id)
                .collect();
            let agent_ids = linked
                .iter()
                .filter(|l| l.owner_id.as_deref() == Some(person_id))
                .map(|l| l.agent_id.clone())
                .collect();
            // Collateral: agents of other people who are still active. Agents of people
            // already gone (or unresolved) are orphans themselves, not collateral.
            let collateral: Vec<Collateral> = linked
                .iter()
                .filter(|l| {
                    l.owner_id.as_deref() != Some(person_id) && l.owner_active == Some(true)
                })
                .map(|l| Collateral {
                    agent_id: l.agent_id.clone(),
                    agent_name: l.agent_name.clone(),
                    owner_id: l.owner_id.clone(),
                })
                .collect();
            let action = if !collateral.is_empty() && policy == SharedPolicy::Hold {
                "hold"
            } else {
                "revoke"
            };
            ImpactItem {
                credential,
                agent_ids,
                collateral,
                action,
            }
        })
        .collect();
    Ok(Impact {
        person_id: person_id.to_string(),
        policy: policy.as_str(),
        agents: agents
            .into_iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect(),
        credentials: items,
    })
}

/// The `open_case` job: opens the case (once per departure), adds its items and
/// enqueues a revocation per credential to revoke, in one transaction.
pub async fn open_case(
    store: &Store,
    lifecycle_event_id: &str,
    person_id: &str,
    policy: SharedPolicy,
) -> StoreResult<Option<String>> {
    let mut tx = store.begin().await?;
    let event = tx.lifecycle_event(lifecycle_event_id).await?;
    let Some(case_id) = tx
        .insert_case(&NewCase {
            person_id,
            lifecycle_event_id: Some(lifecycle_event_id),
            triggered_by: &event.source,
            reason: event.reason.as_deref(),
            policy: policy.as_str(),
        })
        .await?
    else {
        return Ok(None);
    };
    let impact = impact(&mut tx, person_id, policy).await?;
    for item in &impact.credentials {
        let status = if item.action == "hold" {
            "held"
        } else {
            "pending"
        };
        let item_id = tx
            .insert_case_item(&NewItem {
                case_id: &case_id,
                credential_id: &item.credential.id,
                agent_ids: &json!(item.agent_ids),
                collateral: &json!(item.collateral),
                action: item.action,
                status,
            })
            .await?;
        if item.action == "revoke" {
            crate::tasks::enqueue(
                &mut tx,
                &Task::Revoke(ItemRef {
                    case_id: case_id.clone(),
                    item_id,
                    credential_id: item.credential.id.clone(),
                }),
                &Schedule {
                    dedupe_key: &revoke_key(&item.credential.id, &case_id),
                    provider: Some(&item.credential.provider),
                    run_after: crate::store::now(),
                },
            )
            .await?;
        }
    }
    tx.mark_lifecycle_event_processed(lifecycle_event_id)
        .await?;
    let collateral: usize = impact.credentials.iter().map(|i| i.collateral.len()).sum();
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "offboarding.case_opened",
            "offboarding_case",
            Some(&case_id),
        )
        .with_details(json!({
            "person_id": person_id,
            "triggered_by": event.source,
            "agents": impact.agents.len(),
            "credentials": impact.credentials.len(),
            "collateral_agents": collateral,
            "policy": policy.as_str(),
        })),
    )
    .await?;
    // Nothing to revoke, or only held credentials: settled as soon as it opens.
    tx.settle_case(&case_id).await?;
    let shared: Vec<String> = impact
        .credentials
        .iter()
        .filter(|i| !i.collateral.is_empty())
        .map(|i| {
            let agents: Vec<String> = i
                .collateral
                .iter()
                .map(|c| {
                    format!(
                        "{} (owner {})",
                        c.agent_name,
                        c.owner_id.as_deref().unwrap_or("unknown")
                    )
                })
                .collect();
            format!(
                "- {} credential {} ({}): also used by {}",
                i.credential.provider,
                i.credential.id,
                i.action,
                agents.join(", ")
            )
        })
        .collect();
    if !shared.is_empty() {
        let body = format!(
            "Offboarding case {case_id} (person {person_id}) touches credentials that agents of people still \
             active use too. Policy: {}.\n\n{}\n\nThose agents break when the credential is revoked; their owners \
             need a credential of their own.",
            policy.as_str(),
            shared.join("\n")
        );
        crate::alerts::enqueue(
            &mut tx,
            &format!("collateral:{case_id}"),
            "shared credentials in an offboarding",
            &body,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(case_id))
}

/// Item statuses that wait for a human: a manual task, a revocation that needs
/// attention, a held shared credential.
pub const AWAITING_A_HUMAN: &[&str] = &["manual_task_open", "needs_attention", "held"];

/// Why a confirmation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("no such offboarding item")]
    NotFound,
    #[error("this item is {0:?}, not waiting for a manual revocation")]
    NotAwaiting(String),
    #[error(transparent)]
    Store(crate::store::StoreError),
}

/// Someone revoked a credential by hand: the item is settled as `revoked_manually`,
/// the credential `revoked`, with the note, in one transaction.
pub async fn confirm_by_hand(
    store: &Store,
    item_id: &str,
    actor: &str,
    note: Option<&str>,
) -> Result<crate::store::offboarding::CaseItem, ConfirmError> {
    use crate::store::StoreError;
    let item = store
        .get_case_item(item_id)
        .await
        .map_err(|err| match err {
            StoreError::NotFound => ConfirmError::NotFound,
            other => ConfirmError::Store(other),
        })?;
    if !AWAITING_A_HUMAN.contains(&item.status.as_str()) {
        return Err(ConfirmError::NotAwaiting(item.status));
    }
    let note = note.unwrap_or("revoked by hand");
    let record = async {
        let mut tx = store.begin().await?;
        if !tx
            .settle_item_by_hand(&item.id, note, AWAITING_A_HUMAN)
            .await?
        {
            return Ok(None);
        }
        tx.retire_job(&revoke_key(&item.credential_id, &item.case_id))
            .await?;
        tx.set_credential_status(
            &item.credential_id,
            crate::domain::CredentialStatus::Revoked,
        )
        .await?;
        tx.append_audit(
            &AuditEntry::new(
                actor,
                "offboarding.revocation_confirmed",
                "offboarding_case",
                Some(&item.case_id),
            )
            .with_details(
                json!({"item_id": item.id, "credential_id": item.credential_id, "note": note}),
            ),
        )
        .await?;
        tx.commit().await?;
        store.get_case_item(&item.id).await.map(Some)
    };
    match record.await.map_err(ConfirmError::Store)? {
        Some(settled) => Ok(settled),
        // Settled by someone else between the check and the write.
        None => Err(ConfirmError::NotAwaiting("settled meanwhile".into())),
    }
}
