//! The agent inventory: registering agents, their owners and their credentials.
//!
//! Used by the admin API and by `ownerbound agents import`, so both apply the same
//! rules: owners resolve by id or email (unknown emails stay unresolved and make the
//! agent an orphan), secrets are encrypted and fingerprinted, and a secret that is
//! already stored links the existing credential instead of creating a second one.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use crate::audit::AuditEntry;
use crate::crypto::SecretKeys;
use crate::domain::{AgentSource, AgentStatus, CredentialKind, Email};
use crate::store::agents::{Agent, AgentFields, OwnerRef};
use crate::store::credentials::NewCredential;
use crate::store::{Store, StoreError, Tx};

/// Largest secret accepted, in bytes (service-account JSON keys are a few KiB).
pub const MAX_SECRET_BYTES: usize = 16 * 1024;

/// Errors of inventory operations, each with a stable code for API clients.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    /// This instance's master keys are not the database's (see
    /// `key_rotation::ensure_current`): nothing is sealed.
    #[error("{0}")]
    Keys(String),
}

impl From<StoreError> for InventoryError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(msg) => Self::Conflict(msg),
            other => Self::Store(other),
        }
    }
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> InventoryError {
    InventoryError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// An agent as registered through the API or an import file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub name: String,
    pub description: Option<String>,
    pub platform: Option<String>,
    /// Shorthand for one owner: `owners: [{"email": …}]`.
    pub owner_email: Option<String>,
    /// Shorthand for one owner: `owners: [{"person_id": …}]`.
    pub owner_id: Option<String>,
    /// The owners, people or groups; the first person is what `owner_*` show.
    pub owners: Option<Vec<OwnerSpec>>,
    /// The identity provider's id: matches an agent pushed over SCIM.
    pub external_id: Option<String>,
    pub status: Option<AgentStatus>,
    /// The scopes the agent uses (list or space-separated); absent: not declared.
    #[serde(default, deserialize_with = "optional_scopes")]
    pub used_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub credentials: Vec<CredentialSpec>,
}

/// One owner as given: a person by id or by email, or a group by id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerSpec {
    pub email: Option<String>,
    pub person_id: Option<String>,
    pub group_id: Option<String>,
}

/// A credential as registered. The secret is write-only: it is never serialised.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    pub provider: String,
    pub kind: CredentialKind,
    pub external_id: Option<String>,
    pub secret: Option<SecretString>,
    #[serde(default, deserialize_with = "scopes_from_list_or_string")]
    pub scopes: Vec<String>,
    pub issued_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Scopes as a JSON array, or as one space-separated string (the OAuth `scope` form).
fn scopes_from_list_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scopes {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Scopes::deserialize(d)? {
        Scopes::List(list) => list,
        Scopes::Text(text) => text.split_whitespace().map(str::to_string).collect(),
    })
}

/// Declared scopes: absent or null is "not declared", a list or a string is declared.
fn optional_scopes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "scopes_from_list_or_string")] Vec<String>);
    Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
}

/// What happened to one credential of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialOutcome {
    /// A new credential was stored.
    Created,
    /// The secret or (provider, external id) was already stored: the existing
    /// credential is now linked to this agent too.
    LinkedExisting,
    /// The credential was already linked to this agent.
    AlreadyLinked,
}

/// The result of registering an agent.
#[derive(Debug, Clone)]
pub struct Registration {
    pub agent_id: String,
    /// False when an agent of the same name already existed (import only).
    pub created: bool,
    /// Whether anything about the agent itself was written.
    pub changed: bool,
    pub credentials: Vec<(String, CredentialOutcome)>,
}

/// Whether registering a name that exists is an error or an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    Conflict,
    Update,
}

/// What an operation needs: the store, the secret keys and who is acting.
pub struct Inventory<'a> {
    pub store: &'a Store,
    pub keys: &'a SecretKeys,
    pub actor: &'a str,
}

impl Inventory<'_> {
    /// Registers an agent with its credentials in one transaction. `source` says
    /// where a new agent comes from (`api` or `import`).
    ///
    /// An agent pushed by an identity provider, matched by `external_id` or name, is
    /// the identity provider's: only credentials are added to it, and a spec that
    /// says anything else about it is refused.
    pub async fn register_agent(
        &self,
        spec: &AgentSpec,
        on_existing: OnExisting,
        source: AgentSource,
    ) -> Result<Registration, InventoryError> {
        let name = validate_name(&spec.name)?;
        check_text_fields(spec.description.as_deref(), spec.platform.as_deref())?;
        check_len("external_id", spec.external_id.as_deref(), 256)?;
        validate_scopes("used_scopes", spec.used_scopes.as_deref())?;
        for (i, cred) in spec.credentials.iter().enumerate() {
            validate_credential(cred, &format!("credentials[{i}]"))?;
        }
        let mut tx = self.store.begin().await?;
        let external_id = clean(spec.external_id.as_deref());
        let mut existing = None;
        if let Some(external_id) = &external_id {
            existing = tx.find_agent_by_external_id(external_id).await?;
        }
        if existing.is_none() {
            existing = tx.find_agent_by_name(&name).await?;
        }
        if let (Some(id), OnExisting::Update) = (&existing, on_existing) {
            let agent = tx.get_agent(id).await?;
            if agent.source == AgentSource::Scim.as_str() {
                return self.add_to_pushed_agent(tx, spec, agent).await;
            }
        }
        let owners = resolve_owners(&mut tx, spec).await?;
        let mut fields = AgentFields {
            name: name.clone(),
            user_name: None,
            description: clean(spec.description.as_deref()),
            platform: clean(spec.platform.as_deref()),
            status: spec.status.unwrap_or(AgentStatus::Active),
            owners,
            used_scopes: spec.used_scopes.clone(),
            external_id,
            scim_resource: None,
        };
        let (agent_id, created, changed) = match (existing, on_existing) {
            (Some(_), OnExisting::Conflict) => {
                return Err(InventoryError::Conflict(
                    "an agent with this name already exists".into(),
                ))
            }
            (Some(id), OnExisting::Update) => {
                let current = AgentFields::from(tx.get_agent(&id).await?);
                // What the file does not say stays as it is: a re-import must not, say,
                // re-enable an agent that was disabled through the API.
                if spec.status.is_none() {
                    fields.status = current.status;
                }
                if spec.description.is_none() {
                    fields.description = current.description.clone();
                }
                if spec.platform.is_none() {
                    fields.platform = current.platform.clone();
                }
                if spec.used_scopes.is_none() {
                    fields.used_scopes = current.used_scopes.clone();
                }
                if fields.external_id.is_none() {
                    fields.external_id = current.external_id.clone();
                }
                // Re-importing an unchanged agent writes nothing, not even an audit entry.
                let changed = current != fields;
                if changed {
                    tx.update_agent(&id, &fields).await?;
                }
                (id, false, changed)
            }
            (None, _) => (tx.insert_agent(&fields, source).await?, true, true),
        };
        if changed {
            let action = if created {
                "agent.created"
            } else {
                "agent.updated"
            };
            tx.append_audit(
                &AuditEntry::new(self.actor, action, "agent", Some(&agent_id)).with_details(
                    json!({
                        "name": fields.name,
                        "platform": fields.platform,
                        "source": source.as_str(),
                        "owners": owners_audit(&fields.owners),
                    }),
                ),
            )
            .await?;
        }
        let mut credentials = Vec::new();
        for cred in &spec.credentials {
            credentials.push(self.attach_credential(&mut tx, &agent_id, cred).await?);
        }
        tx.commit().await?;
        Ok(Registration {
            agent_id,
            created,
            changed,
            credentials,
        })
    }

    /// Adds the spec's credentials to an agent pushed over SCIM, refusing a spec that
    /// would change the agent itself.
    async fn add_to_pushed_agent(
        &self,
        mut tx: Tx,
        spec: &AgentSpec,
        agent: Agent,
    ) -> Result<Registration, InventoryError> {
        let says_more = spec.description.is_some()
            || spec.platform.is_some()
            || spec.status.is_some()
            || spec.used_scopes.is_some()
            || spec.owner_email.is_some()
            || spec.owner_id.is_some()
            || spec.owners.is_some();
        if says_more {
            return Err(managed_by_scim());
        }
        let mut credentials = Vec::new();
        for cred in &spec.credentials {
            credentials.push(self.attach_credential(&mut tx, &agent.id, cred).await?);
        }
        tx.commit().await?;
        Ok(Registration {
            agent_id: agent.id,
            created: false,
            changed: false,
            credentials,
        })
    }

    /// Adds a credential to an existing agent (or links the stored one with the same secret).
    pub async fn add_credential(
        &self,
        agent_id: &str,
        spec: &CredentialSpec,
    ) -> Result<(String, CredentialOutcome), InventoryError> {
        validate_credential(spec, "credential")?;
        let mut tx = self.store.begin().await?;
        tx.get_agent(agent_id).await.map_err(not_found("agent"))?;
        let outcome = self.attach_credential(&mut tx, agent_id, spec).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Links an already stored credential to an agent.
    pub async fn link_credential(
        &self,
        agent_id: &str,
        credential_id: &str,
    ) -> Result<CredentialOutcome, InventoryError> {
        let mut tx = self.store.begin().await?;
        tx.get_agent(agent_id).await.map_err(not_found("agent"))?;
        if !tx.credential_exists(credential_id).await? {
            return Err(InventoryError::NotFound("credential"));
        }
        let outcome = if tx.link_credential(agent_id, credential_id).await? {
            self.audit_link(&mut tx, agent_id, credential_id).await?;
            CredentialOutcome::LinkedExisting
        } else {
            CredentialOutcome::AlreadyLinked
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Removes the link between an agent and a credential (the credential stays on record).
    pub async fn unlink_credential(
        &self,
        agent_id: &str,
        credential_id: &str,
    ) -> Result<(), InventoryError> {
        let mut tx = self.store.begin().await?;
        if !tx.unlink_credential(agent_id, credential_id).await? {
            return Err(InventoryError::NotFound(
                "link between this agent and credential",
            ));
        }
        tx.append_audit(
            &AuditEntry::new(
                self.actor,
                "credential.unlinked",
                "credential",
                Some(credential_id),
            )
            .with_details(json!({ "agent_id": agent_id })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies a partial update to an agent registered through the API or an import.
    pub async fn update_agent(
        &self,
        agent_id: &str,
        patch: &AgentPatch,
    ) -> Result<(), InventoryError> {
        let mut tx = self.store.begin().await?;
        let agent = tx.get_agent(agent_id).await.map_err(not_found("agent"))?;
        if agent.source == AgentSource::Scim.as_str() {
            return Err(managed_by_scim());
        }
        let current = AgentFields::from(agent);
        let mut fields = current.clone();
        if let Some(name) = &patch.name {
            fields.name = validate_name(name)?;
        }
        check_text_fields(
            patch.description.as_ref().and_then(|d| d.as_deref()),
            patch.platform.as_ref().and_then(|p| p.as_deref()),
        )?;
        if let Some(description) = &patch.description {
            fields.description = clean(description.as_deref());
        }
        if let Some(platform) = &patch.platform {
            fields.platform = clean(platform.as_deref());
        }
        if let Some(status) = patch.status {
            fields.status = status;
        }
        if let Some(used_scopes) = &patch.used_scopes {
            validate_scopes("used_scopes", used_scopes.as_deref())?;
            fields.used_scopes = used_scopes.clone();
        }
        if patch.touches_owners() {
            fields.owners = resolve_owner_refs(
                &mut tx,
                patch.owner_id.as_deref(),
                patch.owner_email.as_deref(),
                patch.owners.as_deref(),
            )
            .await?;
        }
        tx.update_agent(agent_id, &fields).await?;
        tx.append_audit(
            &AuditEntry::new(self.actor, "agent.updated", "agent", Some(agent_id)).with_details(
                json!({
                    "name": fields.name,
                    "status": fields.status,
                    "owners": owners_audit(&fields.owners),
                    "changed": patch.changed_fields(),
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes an agent registered through the API or an import from the inventory,
    /// keeping its history.
    pub async fn delete_agent(&self, agent_id: &str) -> Result<(), InventoryError> {
        let mut tx = self.store.begin().await?;
        let agent = tx.get_agent(agent_id).await.map_err(not_found("agent"))?;
        if agent.source == AgentSource::Scim.as_str() {
            return Err(managed_by_scim());
        }
        tx.delete_agent(agent_id)
            .await
            .map_err(not_found("agent"))?;
        tx.append_audit(&AuditEntry::new(
            self.actor,
            "agent.deleted",
            "agent",
            Some(agent_id),
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn attach_credential(
        &self,
        tx: &mut Tx,
        agent_id: &str,
        spec: &CredentialSpec,
    ) -> Result<(String, CredentialOutcome), InventoryError> {
        let secret = spec.secret.as_ref().map(|s| s.expose_secret().as_bytes());
        if secret.is_some() {
            // Never sealed under a key the database may have rotated away from.
            crate::key_rotation::ensure_current(self.store, self.keys)
                .await
                .map_err(|err| match err {
                    crate::key_rotation::KeyError::Store(store) => InventoryError::Store(store),
                    other => InventoryError::Keys(other.to_string()),
                })?;
        }
        let fingerprint = secret.map(|s| self.keys.fingerprint(s));
        let provider = spec.provider.trim();
        let external_id = clean(spec.external_id.as_deref());

        let mut existing = None;
        if let Some(fp) = &fingerprint {
            existing = tx.find_credential_by_fingerprint(fp).await?;
        }
        if existing.is_none() {
            if let Some(ext) = &external_id {
                if let Some((id, stored_fp)) =
                    tx.find_credential_by_external_id(provider, ext).await?
                {
                    match (&stored_fp, &fingerprint) {
                        (Some(stored), Some(given)) if stored != given => {
                            return Err(InventoryError::Conflict(
                                "a credential with this provider and external_id is stored with a different secret"
                                    .into(),
                            ))
                        }
                        (None, Some(given)) => {
                            let sealed = self.keys.encrypt(secret.unwrap_or_default(), &id);
                            tx.set_credential_secret(&id, &sealed, given).await?;
                        }
                        _ => {}
                    }
                    existing = Some(id);
                }
            }
        }

        if let Some(id) = existing {
            let outcome = if tx.link_credential(agent_id, &id).await? {
                self.audit_link(tx, agent_id, &id).await?;
                CredentialOutcome::LinkedExisting
            } else {
                CredentialOutcome::AlreadyLinked
            };
            return Ok((id, outcome));
        }

        let id = NewCredential::new_id();
        let new = NewCredential {
            sealed_secret: secret.map(|s| self.keys.encrypt(s, &id)),
            id: id.clone(),
            provider: provider.to_string(),
            kind: spec.kind,
            external_id,
            scopes: spec.scopes.clone(),
            issued_at: spec.issued_at,
            rotated_at: spec.rotated_at,
            expires_at: spec.expires_at,
            fingerprint,
        };
        tx.insert_credential(&new).await?;
        tx.link_credential(agent_id, &id).await?;
        tx.append_audit(
            &AuditEntry::new(self.actor, "credential.created", "credential", Some(&id))
                .with_details(json!({
                    "agent_id": agent_id,
                    "provider": new.provider,
                    "kind": new.kind,
                    "external_id": new.external_id,
                    "has_secret": new.sealed_secret.is_some(),
                })),
        )
        .await?;
        Ok((id, CredentialOutcome::Created))
    }

    async fn audit_link(
        &self,
        tx: &mut Tx,
        agent_id: &str,
        credential_id: &str,
    ) -> Result<(), InventoryError> {
        tx.append_audit(
            &AuditEntry::new(
                self.actor,
                "credential.linked",
                "credential",
                Some(credential_id),
            )
            .with_details(json!({ "agent_id": agent_id })),
        )
        .await?;
        Ok(())
    }
}

/// A partial update of an agent: absent fields stay; `null` clears the optional ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub platform: Option<Option<String>>,
    pub status: Option<AgentStatus>,
    pub owner_id: Option<String>,
    pub owner_email: Option<String>,
    /// Replaces the owners.
    pub owners: Option<Vec<OwnerSpec>>,
    /// `null` clears the declaration ("not declared").
    #[serde(default, deserialize_with = "present_scopes")]
    pub used_scopes: Option<Option<Vec<String>>>,
}

impl AgentPatch {
    fn touches_owners(&self) -> bool {
        self.owner_id.is_some() || self.owner_email.is_some() || self.owners.is_some()
    }

    fn changed_fields(&self) -> Vec<&'static str> {
        let mut changed = Vec::new();
        for (set, name) in [
            (self.name.is_some(), "name"),
            (self.description.is_some(), "description"),
            (self.platform.is_some(), "platform"),
            (self.status.is_some(), "status"),
            (self.used_scopes.is_some(), "used_scopes"),
            (self.touches_owners(), "owners"),
        ] {
            if set {
                changed.push(name);
            }
        }
        changed
    }
}

/// Distinguishes a field given as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// As [`present`], for declared scopes.
fn present_scopes<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Vec<String>>>, D::Error> {
    optional_scopes(d).map(Some)
}

fn not_found(what: &'static str) -> impl Fn(StoreError) -> InventoryError {
    move |err| match err {
        StoreError::NotFound => InventoryError::NotFound(what),
        other => other.into(),
    }
}

fn clean(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Refuses text longer than `max` characters: long values are mistakes, and PostgreSQL
/// cannot index values of a few kilobytes, so both engines refuse them alike.
pub(crate) fn check_len(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<(), InventoryError> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(invalid(field, format!("must be at most {max} characters")))
        }
        _ => Ok(()),
    }
}

fn validate_name(name: &str) -> Result<String, InventoryError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(invalid("name", "must be at most 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    Ok(name.to_string())
}

fn check_text_fields(
    description: Option<&str>,
    platform: Option<&str>,
) -> Result<(), InventoryError> {
    check_len("description", description, 4000)?;
    check_len("platform", platform, 200)
}

fn validate_scopes(field: &str, scopes: Option<&[String]>) -> Result<(), InventoryError> {
    let scopes = scopes.unwrap_or_default();
    if scopes.len() > 500 {
        return Err(invalid(field, "must hold at most 500 scopes"));
    }
    for scope in scopes {
        check_len(field, Some(scope), 500)?;
        if scope.trim().is_empty() {
            return Err(invalid(field, "must not contain empty scopes"));
        }
    }
    Ok(())
}

fn validate_credential(spec: &CredentialSpec, field: &str) -> Result<(), InventoryError> {
    if spec.provider.trim().is_empty() {
        return Err(invalid(format!("{field}.provider"), "must not be empty"));
    }
    check_len(&format!("{field}.provider"), Some(&spec.provider), 200)?;
    check_len(
        &format!("{field}.external_id"),
        spec.external_id.as_deref(),
        500,
    )?;
    if spec.scopes.len() > 500 {
        return Err(invalid(
            format!("{field}.scopes"),
            "must hold at most 500 scopes",
        ));
    }
    for scope in &spec.scopes {
        check_len(&format!("{field}.scopes"), Some(scope), 500)?;
    }
    if let Some(secret) = &spec.secret {
        let len = secret.expose_secret().len();
        if len == 0 {
            return Err(invalid(format!("{field}.secret"), "must not be empty"));
        }
        if len > MAX_SECRET_BYTES {
            return Err(invalid(
                format!("{field}.secret"),
                format!("must be at most {MAX_SECRET_BYTES} bytes"),
            ));
        }
    }
    if spec.secret.is_none() && clean(spec.external_id.as_deref()).is_none() {
        return Err(invalid(
            field.to_string(),
            "needs a secret or an external_id, or ownerbound cannot revoke or recognise it",
        ));
    }
    if spec.scopes.iter().any(|s| s.trim().is_empty()) {
        return Err(invalid(
            format!("{field}.scopes"),
            "must not contain empty scopes",
        ));
    }
    Ok(())
}

fn managed_by_scim() -> InventoryError {
    InventoryError::Conflict(
        "this agent is managed by SCIM: change it in the identity provider (only its credentials may be added, linked or unlinked here)"
            .into(),
    )
}

/// Owners for the audit log: ids and kinds, never more than the API shows.
fn owners_audit(owners: &[OwnerRef]) -> serde_json::Value {
    owners
        .iter()
        .map(|o| match o {
            OwnerRef::Person { id, .. } => json!({"person_id": id}),
            OwnerRef::Email(_) => json!({"unresolved": true}),
            OwnerRef::Group(id) => json!({"group_id": id}),
        })
        .collect()
}

async fn resolve_owners(tx: &mut Tx, spec: &AgentSpec) -> Result<Vec<OwnerRef>, InventoryError> {
    resolve_owner_refs(
        tx,
        spec.owner_id.as_deref(),
        spec.owner_email.as_deref(),
        spec.owners.as_deref(),
    )
    .await
}

/// Validates and resolves the owners given, as the `owner_*` shorthand or as a list.
/// Through the API an agent needs at least one owner; an email nobody has yet is kept
/// unresolved (the agent is an orphan until someone with that email appears).
async fn resolve_owner_refs(
    tx: &mut Tx,
    owner_id: Option<&str>,
    owner_email: Option<&str>,
    owners: Option<&[OwnerSpec]>,
) -> Result<Vec<OwnerRef>, InventoryError> {
    let shorthand = OwnerSpec {
        email: owner_email.map(str::to_string),
        person_id: owner_id.map(str::to_string),
        group_id: None,
    };
    let list = match (owners, owner_id.is_some() || owner_email.is_some()) {
        (Some(_), true) => {
            return Err(invalid(
                "owners",
                "give owners, or owner_email / owner_id, not both",
            ))
        }
        (Some(list), false) => list.to_vec(),
        (None, true) => {
            if owner_id.is_some() && owner_email.is_some() {
                return Err(invalid(
                    "owner_id",
                    "give owner_id or owner_email, not both",
                ));
            }
            vec![shorthand]
        }
        (None, false) => Vec::new(),
    };
    if list.is_empty() {
        return Err(invalid(
            "owner_email",
            "an agent needs an owner: give owner_email, owner_id or owners",
        ));
    }
    if list.len() > 100 {
        return Err(invalid("owners", "an agent has at most 100 owners"));
    }
    let mut refs = Vec::with_capacity(list.len());
    for (i, owner) in list.iter().enumerate() {
        let field = if owners.is_some() {
            format!("owners[{i}]")
        } else if owner.person_id.is_some() {
            "owner_id".to_string()
        } else {
            "owner_email".to_string()
        };
        refs.push(resolve_one_owner(tx, owner, &field).await?);
    }
    Ok(refs)
}

async fn resolve_one_owner(
    tx: &mut Tx,
    owner: &OwnerSpec,
    field: &str,
) -> Result<OwnerRef, InventoryError> {
    match (&owner.person_id, &owner.email, &owner.group_id) {
        (Some(id), None, None) => {
            let person = tx.get_person(id).await.map_err(|err| match err {
                StoreError::NotFound => invalid(field, "no such person"),
                other => other.into(),
            })?;
            if person.deleted_at.is_some() {
                return Err(invalid(field, "this person was deleted"));
            }
            Ok(OwnerRef::Person {
                id: person.id,
                email: person.emails.first().map(|e| e.value.clone()),
            })
        }
        (None, Some(email), None) => {
            let email = Email::parse(email).map_err(|e| invalid(field, e.0))?;
            Ok(match tx.find_person_id_by_email(email.as_str()).await? {
                Some(id) => OwnerRef::Person {
                    id,
                    email: Some(email.as_str().to_string()),
                },
                None => OwnerRef::Email(email.as_str().to_string()),
            })
        }
        (None, None, Some(id)) => match tx.get_group(id).await {
            Ok(group) => Ok(OwnerRef::Group(group.id)),
            Err(StoreError::NotFound) => Err(invalid(field, "no such group")),
            Err(other) => Err(other.into()),
        },
        _ => Err(invalid(
            field,
            "an owner is one of email, person_id or group_id",
        )),
    }
}
