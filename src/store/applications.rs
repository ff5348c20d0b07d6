//! Agentic applications pushed over SCIM (draft-abbey-scim-agent-extension §5.2), their
//! URLs (a projection of the document, for filtering) and the agents they host.
//!
//! An application only describes: deactivating or deleting one revokes nothing, since
//! its agents have their own lifecycle (see `scim::applications`).

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{
    conflict, new_id, now, push_parts, with_pool, with_tx, SqlPart, Store, StoreError, StoreResult,
    Tx,
};
use crate::domain::case_key;

/// The unique rule on names, as a conflict names it.
const NAME_TAKEN: &str = "an agentic application with this name already exists";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    /// The SCIM document without `agents`, JSON.
    pub scim_resource: String,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One agent of an application, with what is needed to display it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationAgent {
    pub application_id: String,
    pub agent_id: String,
    /// `owned`, `authorized`, `guest`, or what the identity provider said.
    pub kind: Option<String>,
    /// The agent's name.
    pub display: String,
}

/// One application of an agent (the agent's read-only `applications`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentApplication {
    pub agent_id: String,
    pub application_id: String,
    pub display: String,
}

/// One of an application's URLs, as projected from its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationUrl {
    pub value: String,
    pub kind: Option<String>,
    pub primary: bool,
}

/// An agent linked to an application, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLink {
    pub agent_id: String,
    pub kind: Option<String>,
}

/// The writable projection of an application.
#[derive(Debug, Clone)]
pub struct ApplicationFields<'a> {
    pub name: &'a str,
    pub external_id: Option<&'a str>,
    pub active: bool,
    pub document: &'a str,
    pub urls: &'a [ApplicationUrl],
    pub agents: &'a [AgentLink],
}

const APPLICATION_COLUMNS: &str = "ap.id, ap.name, ap.external_id, ap.scim_resource, ap.active, \
     ap.version, ap.created_at, ap.updated_at";

impl Store {
    pub async fn get_application(&self, id: &str) -> StoreResult<Application> {
        let sql =
            format!("SELECT {APPLICATION_COLUMNS} FROM agentic_applications ap WHERE ap.id = $1");
        let row: Option<Application> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// Applications matching a condition over alias `ap`, with the total count.
    pub async fn query_applications(
        &self,
        condition: &[SqlPart],
        order_by: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(i64, Vec<Application>)> {
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM agentic_applications ap WHERE (");
            push_parts!(q, condition);
            q.push(")");
            let total: i64 = q.build_query_scalar().fetch_one(p).await?;
            let rows = if limit > 0 && offset < total {
                let mut q = QueryBuilder::<Db>::new(format!(
                    "SELECT {APPLICATION_COLUMNS} FROM agentic_applications ap WHERE ("
                ));
                push_parts!(q, condition);
                q.push(") ORDER BY ").push(order_by).push(", ap.id LIMIT ").push_bind(limit);
                q.push(" OFFSET ").push_bind(offset);
                q.build_query_as().fetch_all(p).await?
            } else {
                Vec::new()
            };
            (total, rows)
        }))
    }

    /// The agents of these applications, in the order they were given.
    pub async fn application_agents(
        &self,
        application_ids: &[String],
    ) -> StoreResult<Vec<ApplicationAgent>> {
        if application_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT l.application_id, l.agent_id, l.type AS kind, a.name AS display \
                 FROM agentic_application_agents l JOIN agents a ON a.id = l.agent_id \
                 WHERE l.application_id IN (",
            );
            let mut list = q.separated(", ");
            for id in application_ids {
                list.push_bind(id.clone());
            }
            q.push(") ORDER BY l.application_id, l.position");
            q.build_query_as().fetch_all(p).await?
        }))
    }

    /// The applications of these agents, by application name.
    pub async fn applications_of_agents(
        &self,
        agent_ids: &[String],
    ) -> StoreResult<Vec<AgentApplication>> {
        if agent_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT l.agent_id, l.application_id, ap.name AS display \
                 FROM agentic_application_agents l \
                 JOIN agentic_applications ap ON ap.id = l.application_id WHERE l.agent_id IN (",
            );
            let mut list = q.separated(", ");
            for id in agent_ids {
                list.push_bind(id.clone());
            }
            q.push(") ORDER BY l.agent_id, ap.name_key, ap.id");
            q.build_query_as().fetch_all(p).await?
        }))
    }
}

impl Tx {
    /// An application inside the transaction, locked until it ends.
    pub async fn get_application(&mut self, id: &str) -> StoreResult<Application> {
        self.lock(super::locks::LockKey::Application(id)).await?;
        let sql =
            format!("SELECT {APPLICATION_COLUMNS} FROM agentic_applications ap WHERE ap.id = $1");
        let row: Option<Application> =
            with_tx!(self, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// The agents of an application, as written.
    pub async fn application_agent_links(
        &mut self,
        application_id: &str,
    ) -> StoreResult<Vec<AgentLink>> {
        let rows: Vec<(String, Option<String>)> = with_tx!(self, c => {
            sqlx::query_as(
                "SELECT agent_id, type FROM agentic_application_agents WHERE application_id = $1 \
                 ORDER BY position",
            )
            .bind(application_id)
            .fetch_all(&mut *c)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(agent_id, kind)| AgentLink { agent_id, kind })
            .collect())
    }

    /// Inserts an application with its URLs and agents. The unique index on `name_key`
    /// enforces server-unique names: a second one is a [`StoreError::Conflict`].
    pub async fn insert_application(
        &mut self,
        fields: &ApplicationFields<'_>,
    ) -> StoreResult<String> {
        let id = new_id();
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO agentic_applications (id, name, name_key, external_id, scim_resource, active, \
                 version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
            )
            .bind(&id)
            .bind(fields.name)
            .bind(case_key(fields.name))
            .bind(fields.external_id)
            .bind(fields.document)
            .bind(fields.active)
            .bind(now())
            .execute(&mut *c)
            .await
            .map_err(conflict(NAME_TAKEN))?;
        });
        self.set_application_parts(&id, fields).await?;
        Ok(id)
    }

    pub async fn update_application(
        &mut self,
        id: &str,
        fields: &ApplicationFields<'_>,
    ) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE agentic_applications SET name = $2, name_key = $3, external_id = $4, \
                 scim_resource = $5, active = $6, version = version + 1, updated_at = $7 WHERE id = $1",
            )
            .bind(id)
            .bind(fields.name)
            .bind(case_key(fields.name))
            .bind(fields.external_id)
            .bind(fields.document)
            .bind(fields.active)
            .bind(now())
            .execute(&mut *c)
            .await
            .map_err(conflict(NAME_TAKEN))?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.set_application_parts(id, fields).await
    }

    /// Replaces the URLs and the agents of an application. An agent given twice is
    /// kept once, where it first appears.
    async fn set_application_parts(
        &mut self,
        id: &str,
        fields: &ApplicationFields<'_>,
    ) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("DELETE FROM agentic_application_urls WHERE application_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM agentic_application_agents WHERE application_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            for (position, url) in fields.urls.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO agentic_application_urls (application_id, position, value, value_key, type, \
                     is_primary) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(position as i64)
                .bind(&url.value)
                .bind(case_key(&url.value))
                .bind(&url.kind)
                .bind(url.primary)
                .execute(&mut *c)
                .await?;
            }
            for (position, link) in fields.agents.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO agentic_application_agents (application_id, agent_id, position, type) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(&link.agent_id)
                .bind(position as i64)
                .bind(&link.kind)
                .execute(&mut *c)
                .await?;
            }
        });
        Ok(())
    }

    /// Removes an application with its URLs and agent links (the rows cascade).
    pub async fn delete_application(&mut self, id: &str) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            sqlx::query("DELETE FROM agentic_applications WHERE id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a deleted agent from every application that listed it; each of those
    /// applications gets a new version, since its representation changed.
    pub async fn unlink_agent_from_applications(&mut self, agent_id: &str) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query(
                "UPDATE agentic_applications SET version = version + 1, updated_at = $2 WHERE id IN \
                 (SELECT application_id FROM agentic_application_agents WHERE agent_id = $1)",
            )
            .bind(agent_id)
            .bind(now())
            .execute(&mut *c)
            .await?;
            sqlx::query("DELETE FROM agentic_application_agents WHERE agent_id = $1")
                .bind(agent_id)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }
}
