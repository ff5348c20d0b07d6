//! One page of a listing against what ownerbound knows: each credential is attributed
//! to its owner and recorded as new, changed or seen again, in one transaction.
//!
//! Attribution, in order: an owner email the provider's data gives (an `owner` tag);
//! the owner's provider identity (`person_identities`); the identity's own email (an
//! `email` tag), which also records that identity as the person's. An attributed
//! credential joins the agent that already holds it (matched by the provider's
//! handle), or else a **discovered agent** named after the provider's client, app or
//! user, owned by that person (`source = "discovered:<provider>"`), so a departure
//! revokes it like any other. A credential nobody resolves to is a shadow credential.
//!
//! A new (or newly active) credential of a person who already left is the critical
//! case: its agent's offboarding case opens at once, and security is alerted.

use serde_json::json;

use crate::audit::AuditEntry;
use crate::connectors::discovery::{Found, FoundOwner};
use crate::domain::{AgentStatus, Email};
use crate::store::agents::{AgentFields, OwnerRef};
use crate::store::credentials::NewCredential;
use crate::store::discovery::{RunCounts, SeenCredential};
use crate::store::{now, StoreResult, Tx};

/// The agent-event kind of a credential found live after its owner left.
pub const FOUND_AFTER_DEPARTURE: &str = "credential-found-after-departure";

/// Records one page: each credential attributed, written, and counted.
pub async fn record_page(
    tx: &mut Tx,
    provider: &str,
    run_id: &str,
    found: &[Found],
    counts: &mut RunCounts,
) -> StoreResult<()> {
    for credential in found {
        record_one(tx, provider, run_id, credential, counts).await?;
    }
    Ok(())
}

async fn record_one(
    tx: &mut Tx,
    provider: &str,
    run_id: &str,
    found: &Found,
    counts: &mut RunCounts,
) -> StoreResult<()> {
    counts.listed += 1;
    let before = tx.discovered_by_handle(provider, &found.handle).await?;
    let person_id = owner_of(tx, provider, &found.owner).await?;
    let (credential_id, agent_id) = match &person_id {
        Some(person_id) => attach(tx, provider, found, person_id).await?,
        // Known already (registered by hand) even if nobody owns it at the provider.
        None => match tx
            .find_credential_by_external_id(provider, &found.handle)
            .await?
        {
            Some((id, _)) => {
                let agent = tx.first_agent_of(&id).await?;
                (Some(id), agent)
            }
            None => (None, None),
        },
    };
    let digest = found.digest();
    let at = now();
    tx.record_discovered(&SeenCredential {
        provider,
        handle: &found.handle,
        kind: found.kind.as_str(),
        name: &found.name,
        scopes: &found.scopes,
        provider_status: &found.status,
        created_at_provider: found.created_at,
        last_used_at: found.last_used_at,
        expires_at: found.expires_at,
        owner_identity: found.owner.identity.as_deref(),
        owner_email: found.owner.email.as_deref(),
        person_id: person_id.as_deref(),
        credential_id: credential_id.as_deref(),
        agent_id: agent_id.as_deref(),
        digest: &digest,
        run_id,
        at,
    })
    .await?;

    let details = json!({
        "provider": provider, "handle": found.handle, "name": found.name,
        "status": found.status, "person_id": person_id, "agent_id": agent_id,
    });
    match &before {
        None => {
            counts.new += 1;
            tx.append_audit(
                &AuditEntry::new(
                    "system",
                    "discovery.credential_new",
                    "discovery_run",
                    Some(run_id),
                )
                .with_details(details.clone()),
            )
            .await?;
        }
        Some(before) if before.digest != digest || before.gone_at.is_some() => {
            counts.changed += 1;
            tx.append_audit(
                &AuditEntry::new(
                    "system",
                    "discovery.credential_changed",
                    "discovery_run",
                    Some(run_id),
                )
                .with_details(json!({
                    "provider": provider, "handle": found.handle,
                    "status_before": before.provider_status, "status": found.status,
                    "reappeared": before.gone_at.is_some(),
                })),
            )
            .await?;
        }
        Some(_) => {}
    }
    if person_id.is_none() {
        counts.shadow += 1;
    }
    let newly_live = listed_active(&found.status)
        && before
            .as_ref()
            .is_none_or(|b| !listed_active(&b.provider_status) || b.gone_at.is_some());
    if let (true, Some(person_id)) = (newly_live, &person_id) {
        if offboard_if_departed(tx, provider, found, person_id, agent_id.as_deref(), run_id).await?
        {
            counts.offboarded += 1;
        }
    }
    Ok(())
}

/// Whether the provider lists the credential as usable.
fn listed_active(status: &str) -> bool {
    !matches!(
        status.to_ascii_lowercase().as_str(),
        "inactive" | "revoked" | "expired" | "disabled" | "suspended"
    )
}

/// The person the provider's data names as owner, if any resolves.
async fn owner_of(tx: &mut Tx, provider: &str, owner: &FoundOwner) -> StoreResult<Option<String>> {
    if let Some(email) = owner.email.as_deref().and_then(|e| Email::parse(e).ok()) {
        if let Some(person) = tx.find_person_id_by_email(email.as_str()).await? {
            return Ok(Some(person));
        }
    }
    let Some(identity) = owner.identity.as_deref() else {
        return Ok(None);
    };
    if let Some(person) = tx.person_by_identity(provider, identity).await? {
        return Ok(Some(person));
    }
    if let Some(email) = owner
        .identity_email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
    {
        if let Some(person) = tx.find_person_id_by_email(email.as_str()).await? {
            if tx
                .add_discovered_identity(&person, provider, identity)
                .await?
            {
                tx.append_audit(
                    &AuditEntry::new(
                        "system",
                        "person.identity_discovered",
                        "person",
                        Some(&person),
                    )
                    .with_details(json!({"provider": provider, "identity": identity})),
                )
                .await?;
            }
            return Ok(Some(person));
        }
    }
    Ok(None)
}

/// The inventory credential and agent of an attributed credential: the registered
/// one with this handle, else a new one on the owner's discovered agent.
async fn attach(
    tx: &mut Tx,
    provider: &str,
    found: &Found,
    person_id: &str,
) -> StoreResult<(Option<String>, Option<String>)> {
    if let Some((id, _)) = tx
        .find_credential_by_external_id(provider, &found.handle)
        .await?
    {
        let agent = match tx.first_agent_of(&id).await? {
            Some(agent) => agent,
            None => {
                let agent = discovered_agent(tx, provider, found, person_id).await?;
                tx.link_credential(&agent, &id).await?;
                agent
            }
        };
        return Ok((Some(id), Some(agent)));
    }
    let agent = discovered_agent(tx, provider, found, person_id).await?;
    let id = NewCredential::new_id();
    tx.insert_credential(&NewCredential {
        id: id.clone(),
        provider: provider.to_string(),
        kind: found.kind,
        external_id: Some(found.handle.clone()),
        scopes: found.scopes.clone(),
        issued_at: found.created_at,
        rotated_at: None,
        expires_at: found.expires_at,
        sealed_secret: None,
        fingerprint: None,
    })
    .await?;
    tx.link_credential(&agent, &id).await?;
    tx.append_audit(
        &AuditEntry::new("system", "credential.discovered", "credential", Some(&id)).with_details(
            json!({"provider": provider, "handle": found.handle, "agent_id": agent, "person_id": person_id}),
        ),
    )
    .await?;
    Ok((Some(id), Some(agent)))
}

/// The discovered agent for the credential's group (an IAM user, an OAuth client),
/// created for the owner when it does not exist yet.
async fn discovered_agent(
    tx: &mut Tx,
    provider: &str,
    found: &Found,
    person_id: &str,
) -> StoreResult<String> {
    let source = format!("discovered:{provider}");
    if let Some(id) = tx.find_discovered_agent(&source, &found.group).await? {
        return Ok(id);
    }
    let mut name = format!("{} ({provider})", found.name);
    if tx.find_agent_by_name(&name).await?.is_some() {
        name = format!("{} ({provider} {})", found.name, found.group);
    }
    if tx.find_agent_by_name(&name).await?.is_some() {
        name = format!("{} ({provider} {})", found.name, crate::store::new_id());
    }
    let fields = AgentFields {
        name,
        user_name: None,
        description: Some(format!("found by discovery at {provider}")),
        platform: Some(provider.to_string()),
        status: AgentStatus::Active,
        owners: vec![OwnerRef::Person {
            id: person_id.to_string(),
            email: None,
        }],
        used_scopes: None,
        external_id: Some(found.group.clone()),
        scim_resource: None,
    };
    let id = tx.insert_agent_from(&fields, &source).await?;
    tx.append_audit(
        &AuditEntry::new("system", "agent.discovered", "agent", Some(&id)).with_details(
            json!({"provider": provider, "group": found.group, "owner_id": person_id}),
        ),
    )
    .await?;
    Ok(id)
}

/// A live credential of someone who already left: its agent's case opens now (when
/// the agent has no active owner left to answer for it), and security is told.
async fn offboard_if_departed(
    tx: &mut Tx,
    provider: &str,
    found: &Found,
    person_id: &str,
    agent_id: Option<&str>,
    run_id: &str,
) -> StoreResult<bool> {
    let Some(owner) = tx.owner_state(person_id).await? else {
        return Ok(false);
    };
    if owner.active {
        return Ok(false);
    }
    let mut offboarded = false;
    if let Some(agent_id) = agent_id {
        if !tx.agent_has_active_owner(agent_id).await? {
            crate::offboarding::enqueue_agent_case_from(
                tx,
                agent_id,
                FOUND_AFTER_DEPARTURE,
                &format!("discovery:{provider}"),
                "system",
            )
            .await?;
            offboarded = true;
        }
    }
    let lived = owner
        .departed_at
        .map(|at| {
            let hours = (now() - at).num_minutes() as f64 / 60.0;
            format!(
                " They left at {} ({hours:.1} h before this run found it).",
                at.to_rfc3339()
            )
        })
        .unwrap_or_default();
    let action = if offboarded {
        "ownerbound is revoking it now, with the rest of the agent's credentials."
    } else {
        "Its agent keeps another active owner, so ownerbound did not revoke it: decide who owns it."
    };
    let body = format!(
        "Discovery at {provider} found a live credential of person {person_id}, who is no longer active.{lived}\n\n\
         Provider handle: {}\nName: {}\nStatus at the provider: {}\nAgent: {}\nDiscovery run: {run_id}\n\n{action}",
        found.handle,
        found.name,
        found.status,
        agent_id.unwrap_or("none"),
    );
    crate::alerts::enqueue(
        tx,
        &format!("found-after-departure:{provider}:{}:{run_id}", found.handle),
        &format!("live credential of a departed person found at {provider}"),
        &body,
    )
    .await?;
    tx.append_audit(
        &AuditEntry::new(
            "system",
            "discovery.found_after_departure",
            "discovery_run",
            Some(run_id),
        )
        .with_details(json!({
            "provider": provider, "handle": found.handle, "person_id": person_id,
            "agent_id": agent_id, "offboarded": offboarded,
        })),
    )
    .await?;
    Ok(offboarded)
}
