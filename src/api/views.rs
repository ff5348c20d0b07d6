//! Response shapes of the admin API. Credentials appear here only through
//! [`CredentialView`], which has no field for the secret.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::OrphanReason;
use crate::inventory::CredentialOutcome;
use crate::store::agents::{Agent, AgentEvent, AgentOwner};
use crate::store::credentials::Credential;
use crate::store::Page;

/// Length of the fingerprint prefix shown to operators: enough to tell credentials
/// apart, too short to be useful to anyone else.
pub const FINGERPRINT_PREFIX_LEN: usize = 12;

#[derive(Debug, Serialize)]
pub struct OwnerView {
    pub id: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub deleted: bool,
}

/// One of an agent's owners: a person (resolved or only an email) or a group.
#[derive(Debug, Serialize)]
pub struct AgentOwnerView {
    /// `person` or `group`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The person's or group's id; null for an email the directory does not know.
    pub id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub resolved: bool,
    /// A person: active. A group: it has an active member.
    pub active: bool,
    pub deleted: bool,
}

impl From<&AgentOwner> for AgentOwnerView {
    fn from(owner: &AgentOwner) -> Self {
        let kind = if owner.group_id.is_some() {
            "group"
        } else {
            "person"
        };
        let id = owner.group_id.clone().or_else(|| owner.person_id.clone());
        Self {
            kind,
            resolved: id.is_some(),
            id,
            email: owner.email.clone(),
            display_name: owner.display_name.clone(),
            active: owner.active,
            deleted: owner.deleted,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub platform: Option<String>,
    pub status: String,
    /// Where it comes from: `api`, `import`, `scim` (read-only here) or
    /// `discovered:<provider>` (made by discovery for a credential it attributed).
    pub source: String,
    /// The identity provider's id of a SCIM-pushed agent.
    pub external_id: Option<String>,
    /// The first person owner, resolved; null while its email is unknown to the
    /// directory (or when only groups own the agent).
    pub owner: Option<OwnerView>,
    /// The email the first person owner was registered with.
    pub owner_email: Option<String>,
    pub owner_resolved: bool,
    /// Every owner, in order.
    pub owners: Vec<AgentOwnerView>,
    /// No active owner is left.
    pub orphaned: bool,
    pub orphan_reason: Option<OrphanReason>,
    pub credential_count: i64,
    /// The scopes the agent declares it uses; null when it does not say.
    pub used_scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<CredentialView>>,
    /// What happened to the agent itself: owners it lost, its deactivation or deletion
    /// by the identity provider (on the agent's own page only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<AgentEvent>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AgentView {
    pub fn new(agent: Agent, credentials: Option<Vec<CredentialView>>) -> Self {
        let orphan_reason = agent.orphan_reason();
        let first = agent.first_person();
        let owner = first.and_then(|o| {
            Some(OwnerView {
                id: o.person_id.clone()?,
                email: o.email.clone(),
                display_name: o.display_name.clone(),
                active: o.active,
                deleted: o.deleted,
            })
        });
        Self {
            owner_resolved: owner.is_some(),
            owner_email: first.and_then(|o| o.registered_email.clone()),
            owner,
            owners: agent.owners.iter().map(AgentOwnerView::from).collect(),
            orphaned: orphan_reason.is_some(),
            orphan_reason,
            id: agent.id,
            name: agent.name,
            description: agent.description,
            platform: agent.platform,
            status: agent.status,
            source: agent.source,
            external_id: agent.external_id,
            credential_count: agent.credential_count,
            used_scopes: agent
                .used_scopes
                .as_deref()
                .map(|s| serde_json::from_str(s).unwrap_or_default()),
            credentials,
            events: None,
            created_at: agent.created_at,
            updated_at: agent.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CredentialView {
    pub id: String,
    pub provider: String,
    pub kind: String,
    pub external_id: Option<String>,
    pub scopes: Vec<String>,
    pub issued_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether a secret is stored (it is never shown).
    pub has_secret: bool,
    pub fingerprint_prefix: Option<String>,
    pub status: String,
    pub agent_ids: Vec<String>,
    /// Linked to more than one agent.
    pub shared: bool,
    /// Set on registration: whether this credential was created or already stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CredentialOutcome>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Credential> for CredentialView {
    fn from(c: Credential) -> Self {
        Self {
            scopes: c.scope_list(),
            fingerprint_prefix: c
                .fingerprint
                .as_deref()
                .map(|f| f.chars().take(FINGERPRINT_PREFIX_LEN).collect()),
            shared: c.agent_ids.len() > 1,
            id: c.id,
            provider: c.provider,
            kind: c.kind,
            external_id: c.external_id,
            issued_at: c.issued_at,
            rotated_at: c.rotated_at,
            expires_at: c.expires_at,
            has_secret: c.has_secret,
            status: c.status,
            agent_ids: c.agent_ids,
            outcome: None,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Maps the items of a page.
pub fn map_page<T, U>(page: Page<T>, f: impl FnMut(T) -> U) -> Page<U> {
    Page {
        items: page.items.into_iter().map(f).collect(),
        next_cursor: page.next_cursor,
    }
}
