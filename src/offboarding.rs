//! Offboarding cases: what a departure touches, and the work it sets going.
//!
//! A person-deactivated event enqueues an `open_case` job in the transaction that
//! records it. The job opens one case per departure, listing the agents the departure
//! leaves with no active owner, the credentials to revoke, and the collateral: every
//! other agent that shares a credential. An agent that keeps another active owner
//! loses one, and nothing of it is revoked. An agent its identity provider deactivates
//! or deletes gets a case of its own (`open_agent_case`). With `shared_credentials = "revoke"` (default) shared credentials are
//! revoked anyway and the collateral is named; with `"hold"` they are held for a human.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::AuditEntry;
use crate::store::agents::{NewAgentEvent, AGENT_OWNER_LOST};
use crate::store::lifecycle::LifecycleEvent;
use crate::store::offboarding::{AffectedCredential, LinkedAgent, NewCase, NewItem, Subject};
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
    /// The agents left without an owner (or the case's agent) that use it.
    pub agent_ids: Vec<String>,
    /// Every other agent that uses it: revoking it breaks them too.
    pub collateral: Vec<Collateral>,
    pub action: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Collateral {
    pub agent_id: String,
    pub agent_name: String,
    pub owner_id: Option<String>,
    /// No active owner is left to it either: nobody is harmed by revoking it.
    pub orphaned: bool,
}

/// What offboarding a person (or an agent) does.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub policy: &'static str,
    /// (id, name) of the agents left with no active owner: their credentials are revoked.
    pub agents: Vec<serde_json::Value>,
    /// (id, name) of the agents that lose this owner but keep another: nothing of
    /// theirs is revoked.
    pub agents_losing_an_owner: Vec<serde_json::Value>,
    pub credentials: Vec<ImpactItem>,
}

fn id_and_name(id: &str, name: &str) -> serde_json::Value {
    json!({"id": id, "name": name})
}

/// Computes what a person's departure does, inside a transaction (so a case matches
/// what it saw). Works the same before the departure (a preview) and after it.
pub async fn impact(tx: &mut Tx, person_id: &str, policy: SharedPolicy) -> StoreResult<Impact> {
    let touched = tx.agents_touched_by(person_id).await?;
    let (kept, orphaned): (Vec<_>, Vec<_>) = touched.into_iter().partition(|a| a.still_owned);
    let revoke: Vec<(String, String)> = orphaned.into_iter().map(|a| (a.id, a.name)).collect();
    let mut impact = impact_of_agents(tx, &revoke, Some(person_id), policy).await?;
    impact.person_id = Some(person_id.to_string());
    impact.agents_losing_an_owner = kept
        .iter()
        .filter(|a| a.lost_owner)
        .map(|a| id_and_name(&a.id, &a.name))
        .collect();
    Ok(impact)
}

/// Computes what revoking these agents' credentials does: each credential, the agents
/// of the set that use it, and every other agent that uses it (collateral).
/// `departing` is not counted as an active owner of anyone.
async fn impact_of_agents(
    tx: &mut Tx,
    agents: &[(String, String)],
    departing: Option<&str>,
    policy: SharedPolicy,
) -> StoreResult<Impact> {
    let agent_ids: Vec<String> = agents.iter().map(|(id, _)| id.clone()).collect();
    let credentials = tx.credentials_of_agents(&agent_ids).await?;
    let ids: Vec<String> = credentials.iter().map(|c| c.id.clone()).collect();
    let links = tx.agents_linked_to(&ids, &agent_ids, departing).await?;
    let items = credentials
        .into_iter()
        .map(|credential| {
            let linked: Vec<&LinkedAgent> = links
                .iter()
                .filter(|l| l.credential_id == credential.id)
                .collect();
            let (mine, others): (Vec<&LinkedAgent>, Vec<&LinkedAgent>) = linked
                .into_iter()
                .partition(|l| agent_ids.contains(&l.agent_id));
            let collateral: Vec<Collateral> = others
                .into_iter()
                .map(|l| Collateral {
                    agent_id: l.agent_id.clone(),
                    agent_name: l.agent_name.clone(),
                    owner_id: l.owner_id.clone(),
                    orphaned: !l.owned,
                })
                .collect();
            // Held only for an agent someone still answers for: an orphan sharing the
            // credential is named, but is no reason to keep a departed owner's access.
            let harms_someone = collateral.iter().any(|c| !c.orphaned);
            let action = if harms_someone && policy == SharedPolicy::Hold {
                "hold"
            } else {
                "revoke"
            };
            ImpactItem {
                credential,
                agent_ids: mine.iter().map(|l| l.agent_id.clone()).collect(),
                collateral,
                action,
            }
        })
        .collect();
    Ok(Impact {
        person_id: None,
        agent_id: None,
        policy: policy.as_str(),
        agents: agents
            .iter()
            .map(|(id, name)| id_and_name(id, name))
            .collect(),
        agents_losing_an_owner: Vec::new(),
        credentials: items,
    })
}

/// The `open_case` job: opens the case (once per departure), adds its items and
/// enqueues a revocation per credential to revoke, in one transaction. An agent that
/// keeps another active owner revokes nothing: it is recorded as having lost one.
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
            subject: Subject::Person {
                person_id,
                lifecycle_event_id,
            },
            triggered_by: &event.source,
            reason: event.reason.as_deref(),
            policy: policy.as_str(),
        })
        .await?
    else {
        return Ok(None);
    };
    let impact = impact(&mut tx, person_id, policy).await?;
    for agent in &impact.agents_losing_an_owner {
        let agent_id = agent["id"].as_str().unwrap_or_default();
        tx.insert_agent_event(&NewAgentEvent {
            agent_id,
            kind: AGENT_OWNER_LOST,
            person_id: Some(person_id),
            source: &event.source,
            actor: "system",
        })
        .await?;
        tx.append_audit(
            &AuditEntry::new("system", "agent.owner_lost", "agent", Some(agent_id)).with_details(
                json!({"person_id": person_id, "case_id": case_id, "revoked": false}),
            ),
        )
        .await?;
    }
    fill_case(
        &mut tx,
        &case_id,
        &impact,
        policy,
        &format!("person {person_id}"),
    )
    .await?;
    tx.mark_lifecycle_event_processed(lifecycle_event_id)
        .await?;
    tx.commit().await?;
    Ok(Some(case_id))
}

/// Records an agent's deactivation or deletion by its identity provider and enqueues
/// the case that revokes its credentials, in the caller's transaction.
pub async fn enqueue_agent_case(
    tx: &mut Tx,
    agent_id: &str,
    kind: &str,
    actor: &str,
) -> StoreResult<String> {
    enqueue_agent_case_from(tx, agent_id, kind, crate::scim::SOURCE, actor).await
}

/// As [`enqueue_agent_case`], for an event another part of ownerbound saw
/// (`discovery:<provider>`: a credential found live after its owner left).
pub async fn enqueue_agent_case_from(
    tx: &mut Tx,
    agent_id: &str,
    kind: &str,
    source: &str,
    actor: &str,
) -> StoreResult<String> {
    let event_id = tx
        .insert_agent_event(&NewAgentEvent {
            agent_id,
            kind,
            person_id: None,
            source,
            actor,
        })
        .await?;
    crate::tasks::enqueue(
        tx,
        &Task::OpenAgentCase {
            agent_event_id: event_id.clone(),
            agent_id: agent_id.to_string(),
        },
        &Schedule::now(&format!("open_agent_case:{event_id}")),
    )
    .await?;
    Ok(event_id)
}

/// The `open_agent_case` job: the case of an agent its identity provider deactivated
/// or deleted revokes every credential of that agent, with the same collateral rules
/// as a departure.
pub async fn open_agent_case(
    store: &Store,
    agent_event_id: &str,
    agent_id: &str,
    policy: SharedPolicy,
) -> StoreResult<Option<String>> {
    // Who saw the event (an identity provider, discovery) triggered the case.
    let source = store
        .agent_events(agent_id)
        .await?
        .into_iter()
        .find(|e| e.id == agent_event_id)
        .map(|e| e.source)
        .unwrap_or_else(|| crate::scim::SOURCE.to_string());
    let mut tx = store.begin().await?;
    let Some(case_id) = tx
        .insert_case(&NewCase {
            subject: Subject::Agent {
                agent_id,
                agent_event_id,
            },
            triggered_by: &source,
            reason: None,
            policy: policy.as_str(),
        })
        .await?
    else {
        return Ok(None);
    };
    // A deleted agent is still the subject: its credentials are what must die.
    let name = tx.agent_name(agent_id).await?;
    let mut impact =
        impact_of_agents(&mut tx, &[(agent_id.to_string(), name)], None, policy).await?;
    impact.agent_id = Some(agent_id.to_string());
    fill_case(
        &mut tx,
        &case_id,
        &impact,
        policy,
        &format!("agent {agent_id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(case_id))
}

/// Adds a new case's items, enqueues their revocations, audits the opening, settles a
/// case with nothing to revoke and alerts about shared credentials.
async fn fill_case(
    tx: &mut Tx,
    case_id: &str,
    impact: &Impact,
    policy: SharedPolicy,
    subject: &str,
) -> StoreResult<()> {
    for item in &impact.credentials {
        let status = if item.action == "hold" {
            "held"
        } else {
            "pending"
        };
        let item_id = tx
            .insert_case_item(&NewItem {
                case_id,
                credential_id: &item.credential.id,
                agent_ids: &json!(item.agent_ids),
                collateral: &json!(item.collateral),
                action: item.action,
                status,
            })
            .await?;
        if item.action == "revoke" {
            crate::tasks::enqueue(
                tx,
                &Task::Revoke(ItemRef {
                    case_id: case_id.to_string(),
                    item_id,
                    credential_id: item.credential.id.clone(),
                }),
                &Schedule {
                    dedupe_key: &revoke_key(&item.credential.id, case_id),
                    provider: Some(&item.credential.provider),
                    run_after: crate::store::now(),
                },
            )
            .await?;
        }
    }
    let collateral: usize = impact.credentials.iter().map(|i| i.collateral.len()).sum();
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "offboarding.case_opened",
            "offboarding_case",
            Some(case_id),
        )
        .with_details(json!({
            "person_id": impact.person_id,
            "agent_id": impact.agent_id,
            "agents": impact.agents.len(),
            "agents_losing_an_owner": impact.agents_losing_an_owner.len(),
            "credentials": impact.credentials.len(),
            "collateral_agents": collateral,
            "policy": policy.as_str(),
        })),
    )
    .await?;
    // Nothing to revoke, or only held credentials: settled as soon as it opens.
    tx.settle_case(case_id).await?;
    let shared: Vec<String> = impact
        .credentials
        .iter()
        .filter(|i| i.collateral.iter().any(|c| !c.orphaned))
        .map(|i| {
            let agents: Vec<String> = i
                .collateral
                .iter()
                .filter(|c| !c.orphaned)
                .map(|c| {
                    format!(
                        "{} (owner {})",
                        c.agent_name,
                        c.owner_id.as_deref().unwrap_or("a group")
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
            "Offboarding case {case_id} ({subject}) touches credentials that agents of people still \
             active use too. Policy: {}.\n\n{}\n\nThose agents break when the credential is revoked; their owners \
             need a credential of their own.",
            policy.as_str(),
            shared.join("\n")
        );
        crate::alerts::enqueue(
            tx,
            &format!("collateral:{case_id}"),
            "shared credentials in an offboarding",
            &body,
        )
        .await?;
    }
    Ok(())
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
