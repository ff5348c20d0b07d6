//! Agents and their owners.
//!
//! An agent has a set of owners, in the order given: people (resolved, or an email the
//! directory does not know yet) and groups. It is *owned* while one of them is an
//! active person, or a group with an active member; otherwise it is an orphan. The
//! SQL below is the one definition of that rule: lists, findings, reports and
//! offboarding all use it.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::locks::LockKey;
use super::people::escape_like;
use super::{
    conflict, new_id, now, push_parts, with_pool, with_tx, Page, PageRequest, SqlPart, Store,
    StoreError, StoreResult, Tx,
};
use crate::domain::{case_key, AgentSource, AgentStatus, OrphanReason};

/// SQL condition, for an agent aliased `a`: one of its owners is an active, live person,
/// directly or as a member of an owner group.
macro_rules! owned_sql {
    () => {
        "EXISTS (SELECT 1 FROM agent_owners ao \
         LEFT JOIN scim_group_members agm ON agm.group_id = ao.group_id \
         JOIN people aop ON aop.id = COALESCE(ao.person_id, agm.person_id) \
         WHERE ao.agent_id = a.id AND aop.active = TRUE AND aop.deleted_at IS NULL)"
    };
}

/// SQL condition true for agents (alias `a`) with no active owner left.
pub const ORPHANED_CONDITION: &str = concat!("NOT ", owned_sql!());

/// SQL expression, for an agent aliased `a`: why it is orphaned ([`OrphanReason`]), or
/// NULL while it is owned.
pub const ORPHAN_REASON_SQL: &str = concat!(
    "(CASE WHEN ",
    owned_sql!(),
    " THEN NULL \
     WHEN NOT EXISTS (SELECT 1 FROM agent_owners ro WHERE ro.agent_id = a.id) THEN 'no_owner' \
     WHEN NOT EXISTS (SELECT 1 FROM agent_owners ro WHERE ro.agent_id = a.id \
                      AND (ro.person_id IS NOT NULL OR ro.group_id IS NOT NULL)) THEN 'owner_unresolved' \
     WHEN NOT EXISTS (SELECT 1 FROM agent_owners ro LEFT JOIN people rp ON rp.id = ro.person_id \
                      WHERE ro.agent_id = a.id \
                      AND (ro.group_id IS NOT NULL OR (ro.person_id IS NOT NULL AND rp.deleted_at IS NULL))) \
          THEN 'owner_deleted' \
     ELSE 'owner_inactive' END)"
);

/// SQL expression, for an agent aliased `a`: the person id of its first person owner,
/// what the single-owner fields (`owner_id`, `owner_email`) of the API show.
macro_rules! first_person_sql {
    () => {
        "(SELECT fo.person_id FROM agent_owners fo \
         WHERE fo.agent_id = a.id AND fo.group_id IS NULL ORDER BY fo.position LIMIT 1)"
    };
}
pub(crate) use first_person_sql;
pub const FIRST_PERSON_SQL: &str = first_person_sql!();

/// SQL expression, for an agent aliased `a`: the email its first person owner was
/// registered with.
macro_rules! first_email_sql {
    () => {
        "(SELECT fo.email FROM agent_owners fo \
         WHERE fo.agent_id = a.id AND fo.group_id IS NULL ORDER BY fo.position LIMIT 1)"
    };
}
pub(crate) use first_email_sql;

/// An agent with what is known of its owners.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub platform: Option<String>,
    pub status: String,
    /// Where it came from ([`AgentSource`]).
    pub source: String,
    /// The identity provider's id of a SCIM-pushed agent.
    pub external_id: Option<String>,
    /// [`OrphanReason`] as text; NULL while an active owner is left.
    #[sqlx(rename = "orphan_reason")]
    pub orphan_reason_text: Option<String>,
    pub credential_count: i64,
    /// JSON array of the scopes the agent declares it uses; NULL when undeclared.
    pub used_scopes: Option<String>,
    /// The SCIM document of a pushed agent (attributes ownerbound does not model).
    pub scim_resource: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Loaded separately, in position order.
    #[sqlx(skip)]
    pub owners: Vec<AgentOwner>,
}

impl Agent {
    pub fn orphan_reason(&self) -> Option<OrphanReason> {
        self.orphan_reason_text.as_deref()?.parse().ok()
    }

    /// The first person owner: what `owner_id` and `owner_email` show.
    pub fn first_person(&self) -> Option<&AgentOwner> {
        self.owners.iter().find(|o| o.group_id.is_none())
    }
}

/// One owner of an agent, with its state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentOwner {
    pub agent_id: String,
    pub position: i64,
    pub person_id: Option<String>,
    pub group_id: Option<String>,
    /// The email a person owner was registered with (kept while unresolved).
    pub registered_email: Option<String>,
    /// A person owner's primary email, else the registered one.
    pub email: Option<String>,
    /// The person's or the group's display name.
    pub display_name: Option<String>,
    /// A person: active and live. A group: it has an active, live member.
    pub active: bool,
    /// A person deleted from the directory.
    pub deleted: bool,
}

impl AgentOwner {
    pub fn reference(&self) -> OwnerRef {
        match (&self.group_id, &self.person_id, &self.registered_email) {
            (Some(group), _, _) => OwnerRef::Group(group.clone()),
            (None, Some(person), email) => OwnerRef::Person {
                id: person.clone(),
                email: email.clone(),
            },
            (None, None, email) => OwnerRef::Email(email.clone().unwrap_or_default()),
        }
    }
}

/// An owner as written: a resolved person (with the email they were registered by, if
/// any), an email nobody in the directory has yet, or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerRef {
    Person { id: String, email: Option<String> },
    Email(String),
    Group(String),
}

const AGENT_COLUMNS: &str =
    "a.id, a.name, a.description, a.platform, a.status, a.source, a.external_id, \
    (SELECT COUNT(*) FROM agent_credentials ac WHERE ac.agent_id = a.id) AS credential_count, \
    a.used_scopes, a.scim_resource, a.version, a.created_at, a.updated_at";

fn agent_select() -> String {
    format!("SELECT {AGENT_COLUMNS}, {ORPHAN_REASON_SQL} AS orphan_reason FROM agents a")
}

const OWNER_SELECT: &str = "SELECT o.agent_id, o.position, o.person_id, o.group_id, o.email AS registered_email, \
    COALESCE((SELECT e.value FROM person_emails e WHERE e.person_id = o.person_id \
              ORDER BY e.is_primary DESC, e.value LIMIT 1), o.email) AS email, \
    COALESCE(p.display_name, p.user_name, g.display_name) AS display_name, \
    CASE WHEN o.group_id IS NOT NULL THEN EXISTS (SELECT 1 FROM scim_group_members gm \
              JOIN people mp ON mp.id = gm.person_id \
              WHERE gm.group_id = o.group_id AND mp.active = TRUE AND mp.deleted_at IS NULL) \
         ELSE COALESCE(p.active = TRUE AND p.deleted_at IS NULL, FALSE) END AS active, \
    COALESCE(p.deleted_at IS NOT NULL, FALSE) AS deleted \
    FROM agent_owners o LEFT JOIN people p ON p.id = o.person_id LEFT JOIN scim_groups g ON g.id = o.group_id";

/// Filters of the agent list; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    /// An owner: a person id, a group id, or an email (registered or of the owner).
    pub owner: Option<String>,
    pub status: Option<AgentStatus>,
    pub orphaned: Option<bool>,
    pub platform: Option<String>,
    /// Substring of the name, case-insensitive.
    pub name: Option<String>,
    pub source: Option<String>,
}

/// The writable attributes of an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFields {
    pub name: String,
    /// draft-wzdk's `agentUserName`, when a client set it apart from `name`; the
    /// name is the agent's user name otherwise.
    pub user_name: Option<String>,
    pub description: Option<String>,
    pub platform: Option<String>,
    pub status: AgentStatus,
    pub owners: Vec<OwnerRef>,
    /// The scopes the agent declares it uses; None when it does not say.
    pub used_scopes: Option<Vec<String>>,
    pub external_id: Option<String>,
    pub scim_resource: Option<String>,
}

impl From<Agent> for AgentFields {
    fn from(agent: Agent) -> Self {
        Self {
            user_name: agent
                .scim_resource
                .as_deref()
                .and_then(|doc| serde_json::from_str::<serde_json::Value>(doc).ok())
                .and_then(|doc| doc["agentUserName"].as_str().map(str::to_string)),
            name: agent.name,
            description: agent.description,
            platform: agent.platform,
            status: agent.status.parse().unwrap_or(AgentStatus::Active),
            owners: agent.owners.iter().map(AgentOwner::reference).collect(),
            used_scopes: agent
                .used_scopes
                .as_deref()
                .map(|s| serde_json::from_str(s).unwrap_or_default()),
            external_id: agent.external_id,
            scim_resource: agent.scim_resource,
        }
    }
}

impl AgentFields {
    /// The case-folded user name: the one set apart, or the name.
    fn user_name_key(&self) -> String {
        case_key(self.user_name.as_deref().unwrap_or(&self.name))
    }

    fn used_scopes_json(&self) -> Option<String> {
        self.used_scopes
            .as_ref()
            .map(|s| serde_json::to_string(s).expect("strings serialise"))
    }
}

/// Attaches each agent's owners (one query for the lot).
fn attach_owners(agents: &mut [Agent], mut owners: Vec<AgentOwner>) {
    owners.sort_by(|a, b| (&a.agent_id, a.position).cmp(&(&b.agent_id, b.position)));
    for agent in agents {
        agent.owners = owners
            .iter()
            .filter(|o| o.agent_id == agent.id)
            .cloned()
            .collect();
    }
}

fn owners_query<'a, DB: sqlx::Database>(ids: &'a [String]) -> QueryBuilder<'a, DB>
where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::<DB>::new(OWNER_SELECT);
    q.push(" WHERE o.agent_id IN (");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    q.push(") ORDER BY o.agent_id, o.position");
    q
}

impl Store {
    /// A live agent by id.
    pub async fn get_agent(&self, id: &str) -> StoreResult<Agent> {
        let sql = format!(
            "{} WHERE a.id = $1 AND a.deleted_at IS NULL",
            agent_select()
        );
        let agent: Option<Agent> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        let mut agents: Vec<Agent> = agent.into_iter().collect();
        self.load_owners(&mut agents).await?;
        agents.pop().ok_or(StoreError::NotFound)
    }

    /// Fills in the owners of these agents.
    pub async fn load_owners(&self, agents: &mut [Agent]) -> StoreResult<()> {
        if agents.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        let owners: Vec<AgentOwner> = with_pool!(self, p => {
            owners_query::<Db>(&ids).build_query_as().fetch_all(p).await?
        });
        attach_owners(agents, owners);
        Ok(())
    }

    /// Live agents pushed over SCIM that match a translated SCIM filter: the total and
    /// one page (owners loaded).
    pub async fn query_scim_agents(
        &self,
        condition: &[SqlPart],
        order_by: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(i64, Vec<Agent>)> {
        let scope = "a.deleted_at IS NULL AND a.source = 'scim' AND (";
        let select = agent_select();
        let (total, mut rows) = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT COUNT(*) FROM agents a WHERE {scope}"));
            push_parts!(q, condition);
            q.push(")");
            let total: i64 = q.build_query_scalar().fetch_one(p).await?;
            let rows: Vec<Agent> = if limit > 0 && offset < total {
                let mut q = QueryBuilder::<Db>::new(format!("{select} WHERE {scope}"));
                push_parts!(q, condition);
                q.push(") ORDER BY ").push(order_by).push(", a.id LIMIT ").push_bind(limit);
                q.push(" OFFSET ").push_bind(offset);
                q.build_query_as().fetch_all(p).await?
            } else {
                Vec::new()
            };
            (total, rows)
        });
        self.load_owners(&mut rows).await?;
        Ok((total, rows))
    }

    /// What happened to the agent itself (lost owners, deactivation, deletion), oldest
    /// first.
    pub async fn agent_events(&self, agent_id: &str) -> StoreResult<Vec<AgentEvent>> {
        Ok(with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id, kind, person_id, source, occurred_at FROM agent_events \
                 WHERE agent_id = $1 ORDER BY occurred_at, id",
            )
            .bind(agent_id)
            .fetch_all(p)
            .await?
        }))
    }

    /// Live agents matching the filter, in creation order.
    pub async fn list_agents(
        &self,
        filter: &AgentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Agent>> {
        let select = agent_select();
        let rows: Vec<Agent> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(&select);
            q.push(" WHERE a.deleted_at IS NULL");
            if let Some(owner) = &filter.owner {
                let key = case_key(owner);
                q.push(" AND EXISTS (SELECT 1 FROM agent_owners fo WHERE fo.agent_id = a.id AND ");
                if owner.contains('@') {
                    q.push("(fo.email_key = ")
                        .push_bind(key.clone())
                        .push(" OR EXISTS (SELECT 1 FROM person_emails e WHERE e.person_id = fo.person_id AND e.value_key = ")
                        .push_bind(key)
                        .push(")))");
                } else {
                    q.push("(fo.person_id = ")
                        .push_bind(owner.clone())
                        .push(" OR fo.group_id = ")
                        .push_bind(owner.clone())
                        .push("))");
                }
            }
            if let Some(status) = filter.status {
                q.push(" AND a.status = ").push_bind(status.as_str());
            }
            match filter.orphaned {
                Some(true) => {
                    q.push(" AND ").push(ORPHANED_CONDITION);
                }
                Some(false) => {
                    q.push(" AND NOT ").push(ORPHANED_CONDITION);
                }
                None => {}
            }
            if let Some(platform) = &filter.platform {
                q.push(" AND lower(a.platform) = lower(").push_bind(platform.clone()).push(")");
            }
            if let Some(name) = &filter.name {
                q.push(" AND a.name_key LIKE ")
                    .push_bind(format!("%{}%", escape_like(&case_key(name))))
                    .push(" ESCAPE '\\'");
            }
            if let Some(source) = &filter.source {
                q.push(" AND a.source = ").push_bind(source.clone());
            }
            if let Some(after) = &page.after {
                q.push(" AND a.id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY a.id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        let mut page = page.paginate(rows, |a| &a.id);
        self.load_owners(&mut page.items).await?;
        Ok(page)
    }
}

impl Tx {
    /// A live agent by id inside the transaction, with its owners, locked until the
    /// transaction ends (see [`LockKey::Agent`]).
    pub async fn get_agent(&mut self, id: &str) -> StoreResult<Agent> {
        self.lock(LockKey::Agent(id)).await?;
        let sql = format!(
            "{} WHERE a.id = $1 AND a.deleted_at IS NULL",
            agent_select()
        );
        let agent: Option<Agent> =
            with_tx!(self, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await?);
        let mut agent = agent.ok_or(StoreError::NotFound)?;
        let ids = [agent.id.clone()];
        let owners: Vec<AgentOwner> = with_tx!(self, c => {
            owners_query::<Db>(&ids).build_query_as().fetch_all(&mut *c).await?
        });
        attach_owners(std::slice::from_mut(&mut agent), owners);
        Ok(agent)
    }

    /// The id of the live agent with this name (case-insensitive), if any.
    pub async fn find_agent_by_name(&mut self, name: &str) -> StoreResult<Option<String>> {
        self.lock(LockKey::AgentName(&case_key(name))).await?;
        Ok(with_tx!(self, c => {
            // Either handle: a name taken as another agent's user name is taken.
            sqlx::query_scalar(
                "SELECT id FROM agents WHERE (name_key = $1 OR user_name_key = $1) AND deleted_at IS NULL \
                 ORDER BY (name_key = $1) DESC LIMIT 1",
            )
                .bind(case_key(name))
                .fetch_optional(&mut *c)
                .await?
        }))
    }

    /// An agent's name, deleted or not.
    pub async fn agent_name(&mut self, id: &str) -> StoreResult<String> {
        let name: Option<String> = with_tx!(self, c => {
            sqlx::query_scalar("SELECT name FROM agents WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *c)
                .await?
        });
        name.ok_or(StoreError::NotFound)
    }

    /// The id of the live agent an identity provider knows by this `externalId`.
    pub async fn find_agent_by_external_id(
        &mut self,
        external_id: &str,
    ) -> StoreResult<Option<String>> {
        self.lock(LockKey::AgentExternalId(external_id)).await?;
        Ok(with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT id FROM agents WHERE external_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1",
            )
            .bind(external_id)
            .fetch_optional(&mut *c)
            .await?
        }))
    }

    pub async fn insert_agent(
        &mut self,
        fields: &AgentFields,
        source: AgentSource,
    ) -> StoreResult<String> {
        self.insert_agent_from(fields, source.as_str()).await
    }

    /// Inserts an agent whose source is given as text (`discovered:<provider>`).
    pub async fn insert_agent_from(
        &mut self,
        fields: &AgentFields,
        source: &str,
    ) -> StoreResult<String> {
        let id = new_id();
        self.lock(LockKey::AgentName(&case_key(&fields.name)))
            .await?;
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO agents (id, name, name_key, description, platform, status, used_scopes, source, \
                 external_id, scim_resource, version, created_at, updated_at, user_name_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11, $12)",
            )
            .bind(&id)
            .bind(&fields.name)
            .bind(case_key(&fields.name))
            .bind(&fields.description)
            .bind(&fields.platform)
            .bind(fields.status.as_str())
            .bind(fields.used_scopes_json())
            .bind(source)
            .bind(&fields.external_id)
            .bind(&fields.scim_resource)
            .bind(now())
            .bind(fields.user_name_key())
            .execute(&mut *c)
            .await
            .map_err(conflict("an agent with this name already exists"))?;
        });
        self.set_agent_owners(&id, &fields.owners).await?;
        Ok(id)
    }

    pub async fn update_agent(&mut self, id: &str, fields: &AgentFields) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE agents SET name = $2, name_key = $3, description = $4, platform = $5, status = $6, \
                 used_scopes = $7, external_id = $8, scim_resource = $9, version = version + 1, updated_at = $10, \
                 user_name_key = $11 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(&fields.name)
            .bind(case_key(&fields.name))
            .bind(&fields.description)
            .bind(&fields.platform)
            .bind(fields.status.as_str())
            .bind(fields.used_scopes_json())
            .bind(&fields.external_id)
            .bind(&fields.scim_resource)
            .bind(now())
            .bind(fields.user_name_key())
            .execute(&mut *c)
            .await
            .map_err(conflict("an agent with this name already exists"))?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.set_agent_owners(id, &fields.owners).await
    }

    /// Replaces the agent's owners with these, in this order. An owner given twice is
    /// kept once, where it first appears.
    async fn set_agent_owners(&mut self, agent_id: &str, owners: &[OwnerRef]) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("DELETE FROM agent_owners WHERE agent_id = $1")
                .bind(agent_id)
                .execute(&mut *c)
                .await?;
        });
        let mut seen: Vec<&OwnerRef> = Vec::new();
        for owner in owners {
            if seen.contains(&owner) {
                continue;
            }
            seen.push(owner);
            let (person_id, group_id, email) = match owner {
                OwnerRef::Person { id, email } => (Some(id.as_str()), None, email.as_deref()),
                OwnerRef::Email(email) => (None, None, Some(email.as_str())),
                OwnerRef::Group(id) => (None, Some(id.as_str()), None),
            };
            let position = (seen.len() - 1) as i64;
            with_tx!(self, c => {
                sqlx::query(
                    "INSERT INTO agent_owners (agent_id, position, person_id, group_id, email, email_key, added_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(agent_id)
                .bind(position)
                .bind(person_id)
                .bind(group_id)
                .bind(email)
                .bind(email.map(case_key))
                .bind(now())
                .execute(&mut *c)
                .await?;
            });
        }
        Ok(())
    }

    /// Marks an agent as owned by `source` from now on (an identity provider adopting
    /// an agent the API registered).
    pub async fn set_agent_source(&mut self, id: &str, source: AgentSource) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("UPDATE agents SET source = $2 WHERE id = $1")
                .bind(id)
                .bind(source.as_str())
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// Soft-deletes an agent: it disappears from the inventory, its history (owners,
    /// credential links, audit) stays, and its name becomes free again.
    pub async fn delete_agent(&mut self, id: &str) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE agents SET deleted_at = $2, updated_at = $2, version = version + 1 \
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(now())
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records an event of the agent's own lifecycle (see `agent_events`); returns its id.
    pub async fn insert_agent_event(&mut self, event: &NewAgentEvent<'_>) -> StoreResult<String> {
        let id = new_id();
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO agent_events (id, agent_id, kind, person_id, source, actor, occurred_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(event.agent_id)
            .bind(event.kind)
            .bind(event.person_id)
            .bind(event.source)
            .bind(event.actor)
            .bind(now())
            .execute(&mut *c)
            .await?;
        });
        Ok(id)
    }
}

/// An event of an agent's own lifecycle, as recorded.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct AgentEvent {
    pub id: String,
    pub kind: String,
    /// The owner who left, for `owner-lost`.
    pub person_id: Option<String>,
    pub source: String,
    pub occurred_at: DateTime<Utc>,
}

/// An event of an agent's own lifecycle.
#[derive(Debug, Clone, Copy)]
pub struct NewAgentEvent<'a> {
    pub agent_id: &'a str,
    /// [`AGENT_OWNER_LOST`], [`AGENT_DEACTIVATED`] or [`AGENT_DELETED`].
    pub kind: &'a str,
    pub person_id: Option<&'a str>,
    pub source: &'a str,
    pub actor: &'a str,
}

/// One of several owners left (or an owner group lost its last active member); the
/// agent is still owned, so nothing is revoked.
pub const AGENT_OWNER_LOST: &str = "owner-lost";
/// The identity provider set the agent inactive: its credentials are revoked.
pub const AGENT_DEACTIVATED: &str = "agent-deactivated";
/// The identity provider deleted the agent: its credentials are revoked.
pub const AGENT_DELETED: &str = "agent-deleted";
