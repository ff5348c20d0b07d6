//! Agents and their owners.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::people::escape_like;
use super::{
    conflict, new_id, now, with_pool, with_tx, Page, PageRequest, Store, StoreError, StoreResult,
    Tx,
};
use crate::domain::{case_key, AgentStatus, OrphanReason};

/// An agent with what is known of its owner.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub platform: Option<String>,
    pub status: String,
    pub owner_id: Option<String>,
    /// The owner email the agent was registered with (kept when unresolved).
    pub registered_owner_email: Option<String>,
    /// The owner's primary email, else the registered one.
    pub owner_email: Option<String>,
    pub owner_display_name: Option<String>,
    pub owner_active: Option<bool>,
    pub owner_deleted: Option<bool>,
    pub credential_count: i64,
    /// JSON array of the scopes the agent declares it uses; NULL when undeclared.
    pub used_scopes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Agent {
    pub fn orphan_reason(&self) -> Option<OrphanReason> {
        OrphanReason::from_owner(
            self.owner_id.is_some(),
            self.owner_active.unwrap_or(false),
            self.owner_deleted.unwrap_or(false),
        )
    }
}

const AGENT_SELECT: &str = "SELECT a.id, a.name, a.description, a.platform, a.status, a.owner_id, \
    a.owner_email AS registered_owner_email, \
    COALESCE((SELECT e.value FROM person_emails e WHERE e.person_id = a.owner_id \
              ORDER BY e.is_primary DESC, e.value LIMIT 1), a.owner_email) AS owner_email, \
    p.display_name AS owner_display_name, p.active AS owner_active, \
    CASE WHEN p.id IS NULL THEN NULL WHEN p.deleted_at IS NULL THEN FALSE ELSE TRUE END AS owner_deleted, \
    (SELECT COUNT(*) FROM agent_credentials ac WHERE ac.agent_id = a.id) AS credential_count, \
    a.used_scopes, a.created_at, a.updated_at \
    FROM agents a LEFT JOIN people p ON p.id = a.owner_id";

/// SQL condition true for orphaned agents (alias `a` for agents, `p` for the owner).
pub const ORPHANED_CONDITION: &str =
    "(a.owner_id IS NULL OR p.active = FALSE OR p.deleted_at IS NOT NULL)";

/// Filters of the agent list; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    /// Owner person id, or an email (registered or of the owner).
    pub owner: Option<String>,
    pub status: Option<AgentStatus>,
    pub orphaned: Option<bool>,
    pub platform: Option<String>,
    /// Substring of the name, case-insensitive.
    pub name: Option<String>,
}

/// The writable attributes of an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFields {
    pub name: String,
    pub description: Option<String>,
    pub platform: Option<String>,
    pub status: AgentStatus,
    pub owner_id: Option<String>,
    pub owner_email: Option<String>,
    /// The scopes the agent declares it uses; None when it does not say.
    pub used_scopes: Option<Vec<String>>,
}

impl From<Agent> for AgentFields {
    fn from(agent: Agent) -> Self {
        Self {
            name: agent.name,
            description: agent.description,
            platform: agent.platform,
            status: agent.status.parse().unwrap_or(AgentStatus::Active),
            owner_id: agent.owner_id,
            owner_email: agent.registered_owner_email,
            used_scopes: agent
                .used_scopes
                .as_deref()
                .map(|s| serde_json::from_str(s).unwrap_or_default()),
        }
    }
}

impl AgentFields {
    fn used_scopes_json(&self) -> Option<String> {
        self.used_scopes
            .as_ref()
            .map(|s| serde_json::to_string(s).expect("strings serialise"))
    }
}

impl Store {
    /// A live agent by id.
    pub async fn get_agent(&self, id: &str) -> StoreResult<Agent> {
        let sql = format!("{AGENT_SELECT} WHERE a.id = $1 AND a.deleted_at IS NULL");
        let agent: Option<Agent> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        agent.ok_or(StoreError::NotFound)
    }

    /// Live agents matching the filter, in creation order.
    pub async fn list_agents(
        &self,
        filter: &AgentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Agent>> {
        let rows: Vec<Agent> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(AGENT_SELECT);
            q.push(" WHERE a.deleted_at IS NULL");
            if let Some(owner) = &filter.owner {
                if owner.contains('@') {
                    q.push(" AND (a.owner_email_key = ")
                        .push_bind(case_key(owner))
                        .push(" OR EXISTS (SELECT 1 FROM person_emails e WHERE e.person_id = a.owner_id AND e.value_key = ")
                        .push_bind(case_key(owner))
                        .push("))");
                } else {
                    q.push(" AND a.owner_id = ").push_bind(owner.clone());
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
            if let Some(after) = &page.after {
                q.push(" AND a.id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY a.id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        Ok(page.paginate(rows, |a| &a.id))
    }
}

impl Tx {
    /// A live agent by id inside the transaction.
    pub async fn get_agent(&mut self, id: &str) -> StoreResult<Agent> {
        let sql = format!("{AGENT_SELECT} WHERE a.id = $1 AND a.deleted_at IS NULL");
        let agent: Option<Agent> =
            with_tx!(self, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await?);
        agent.ok_or(StoreError::NotFound)
    }

    /// The id of the live agent with this name (case-insensitive), if any.
    pub async fn find_agent_by_name(&mut self, name: &str) -> StoreResult<Option<String>> {
        Ok(with_tx!(self, c => {
            sqlx::query_scalar("SELECT id FROM agents WHERE name_key = $1 AND deleted_at IS NULL")
                .bind(case_key(name))
                .fetch_optional(&mut *c)
                .await?
        }))
    }

    pub async fn insert_agent(&mut self, fields: &AgentFields) -> StoreResult<String> {
        let id = new_id();
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO agents (id, name, name_key, description, platform, status, owner_id, owner_email, \
                 owner_email_key, used_scopes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $10, $10)",
            )
            .bind(&id)
            .bind(&fields.name)
            .bind(case_key(&fields.name))
            .bind(&fields.description)
            .bind(&fields.platform)
            .bind(fields.status.as_str())
            .bind(&fields.owner_id)
            .bind(&fields.owner_email)
            .bind(fields.owner_email.as_deref().map(case_key))
            .bind(now())
            .bind(fields.used_scopes_json())
            .execute(&mut *c)
            .await
            .map_err(conflict("an agent with this name already exists"))?;
        });
        Ok(id)
    }

    pub async fn update_agent(&mut self, id: &str, fields: &AgentFields) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE agents SET name = $2, name_key = $3, description = $4, platform = $5, status = $6, \
                 owner_id = $7, owner_email = $8, owner_email_key = $9, updated_at = $10, used_scopes = $11 \
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(&fields.name)
            .bind(case_key(&fields.name))
            .bind(&fields.description)
            .bind(&fields.platform)
            .bind(fields.status.as_str())
            .bind(&fields.owner_id)
            .bind(&fields.owner_email)
            .bind(fields.owner_email.as_deref().map(case_key))
            .bind(now())
            .bind(fields.used_scopes_json())
            .execute(&mut *c)
            .await
            .map_err(conflict("an agent with this name already exists"))?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Soft-deletes an agent: it disappears from the inventory, its history (owner,
    /// credential links, audit) stays, and its name becomes free again.
    pub async fn delete_agent(&mut self, id: &str) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE agents SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
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
}
