//! Offboarding cases, their items, and what a person's departure touches.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::{
    new_id, now, with_pool, with_tx, Page, PageRequest, Store, StoreError, StoreResult, Tx,
};

/// An agent linked to a credential, with its first person owner and whether it
/// keeps an active owner.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LinkedAgent {
    pub credential_id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub owner_id: Option<String>,
    /// An active owner is left (not counting the departing person).
    pub owned: bool,
}

/// An agent a departure touches: the person owns it directly or through a group.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TouchedAgent {
    pub id: String,
    pub name: String,
    /// An active owner is left without the departing person: nothing is revoked.
    pub still_owned: bool,
    /// The person was one of its owners, or the last active member of an owner group.
    pub lost_owner: bool,
}

/// A credential used by the departing person's agents.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AffectedCredential {
    pub id: String,
    pub provider: String,
    pub kind: String,
    pub external_id: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Case {
    pub id: String,
    /// The departing person; None for a case whose subject is an agent.
    pub person_id: Option<String>,
    /// The agent an identity provider deactivated or deleted.
    pub agent_id: Option<String>,
    pub lifecycle_event_id: Option<String>,
    pub triggered_by: String,
    pub reason: Option<String>,
    pub policy: String,
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Once closed: `revoked` (every credential proven dead or revoked by hand) or
    /// `needs_human` (some held, failed or refused for good; a human was told).
    pub outcome: Option<String>,
}

/// Item statuses that settle an item: nothing more happens to it without a human.
pub const SETTLED_STATUSES: &[&str] = &[
    "verified_dead",
    "revoked_manually",
    "held",
    "needs_attention",
    "failed",
];
/// Settled statuses in which the credential is dead.
const REVOKED_STATUSES: &[&str] = &["verified_dead", "revoked_manually"];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CaseItem {
    pub id: String,
    pub case_id: String,
    pub credential_id: String,
    /// JSON array of agent ids.
    pub agent_ids: String,
    /// JSON array of collateral agents.
    pub collateral: String,
    pub action: String,
    pub status: String,
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CASE_COLUMNS: &str =
    "id, person_id, agent_id, lifecycle_event_id, triggered_by, reason, policy, status, opened_at, closed_at, outcome";
const ITEM_COLUMNS: &str =
    "id, case_id, credential_id, agent_ids, collateral, action, status, detail, created_at, updated_at";

/// A case to open.
pub struct NewCase<'a> {
    pub subject: Subject<'a>,
    pub triggered_by: &'a str,
    pub reason: Option<&'a str>,
    pub policy: &'a str,
}

/// What a case is about, with the event that opened it (one case per event).
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A departure: the person's deactivation event.
    Person {
        person_id: &'a str,
        lifecycle_event_id: &'a str,
    },
    /// An agent deactivated or deleted by its identity provider.
    Agent {
        agent_id: &'a str,
        agent_event_id: &'a str,
    },
}

/// An item to add to a case.
pub struct NewItem<'a> {
    pub case_id: &'a str,
    pub credential_id: &'a str,
    pub agent_ids: &'a serde_json::Value,
    pub collateral: &'a serde_json::Value,
    pub action: &'a str,
    pub status: &'a str,
}

impl Tx {
    /// Settles an item revoked by hand, if it is still in one of `awaiting`; false
    /// when it is not (settled meanwhile).
    pub async fn settle_item_by_hand(
        &mut self,
        id: &str,
        note: &str,
        awaiting: &[&str],
    ) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            let mut q = QueryBuilder::<Db>::new("UPDATE offboarding_items SET status = 'revoked_manually', detail = ");
            q.push_bind(note.to_string())
                .push(", updated_at = ")
                .push_bind(now())
                .push(" WHERE id = ")
                .push_bind(id.to_string())
                .push(" AND status IN (");
            let mut list = q.separated(", ");
            for status in awaiting {
                list.push_bind(status.to_string());
            }
            q.push(") RETURNING case_id");
            q.build_query_scalar::<String>().fetch_optional(&mut *c).await?
        });
        match done {
            Some(case_id) => {
                self.settle_case(&case_id).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// As [`Store::set_case_item`], inside the caller's transaction. The case closes
    /// when this settles its last item, and opens again when this unsettles one.
    pub async fn set_case_item(
        &mut self,
        id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        let case_id: Option<String> = with_tx!(self, c => {
            sqlx::query_scalar(
                "UPDATE offboarding_items SET status = $2, detail = $3, updated_at = $4 WHERE id = $1 RETURNING case_id",
            )
            .bind(id)
            .bind(status)
            .bind(detail)
            .bind(now())
            .fetch_optional(&mut *c)
            .await?
        });
        if let Some(case_id) = case_id {
            self.settle_case(&case_id).await?;
        }
        Ok(())
    }

    /// An item whose revocation gave up: `failed`, unless it is settled already
    /// (a human confirmed it, or it needs attention for a reason of its own).
    pub async fn fail_case_item(&mut self, id: &str, detail: &str) -> StoreResult<()> {
        let current: Option<String> = with_tx!(self, c => {
            sqlx::query_scalar("SELECT status FROM offboarding_items WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *c)
                .await?
        });
        match current {
            Some(status) if !SETTLED_STATUSES.contains(&status.as_str()) => {
                self.set_case_item(id, "failed", Some(detail)).await
            }
            _ => Ok(()),
        }
    }

    /// Closes the case when every item is settled (with its outcome), or opens it
    /// again when one is not; each change is audited.
    pub async fn settle_case(&mut self, case_id: &str) -> StoreResult<()> {
        self.lock(super::locks::LockKey::Case(case_id)).await?;
        let statuses: Vec<String> = with_tx!(self, c => {
            sqlx::query_scalar("SELECT DISTINCT status FROM offboarding_items WHERE case_id = $1")
                .bind(case_id)
                .fetch_all(&mut *c)
                .await?
        });
        let settled = statuses
            .iter()
            .all(|s| SETTLED_STATUSES.contains(&s.as_str()));
        let at = now();
        let (action, changed) = if settled {
            let outcome = if statuses
                .iter()
                .all(|s| REVOKED_STATUSES.contains(&s.as_str()))
            {
                "revoked"
            } else {
                "needs_human"
            };
            let changed = with_tx!(self, c => {
                // Closed now, or closed already with another outcome (a failed item
                // proven dead after all).
                sqlx::query(
                    "UPDATE offboarding_cases SET status = 'closed', closed_at = $2, outcome = $3 \
                     WHERE id = $1 AND (status = 'open' OR outcome IS NULL OR outcome <> $3)",
                )
                .bind(case_id)
                .bind(at)
                .bind(outcome)
                .execute(&mut *c)
                .await?
                .rows_affected()
            });
            ((outcome, "offboarding.case_closed"), changed)
        } else {
            let changed = with_tx!(self, c => {
                sqlx::query(
                    "UPDATE offboarding_cases SET status = 'open', closed_at = NULL, outcome = NULL \
                     WHERE id = $1 AND status = 'closed'",
                )
                .bind(case_id)
                .execute(&mut *c)
                .await?
                .rows_affected()
            });
            (("open", "offboarding.case_reopened"), changed)
        };
        if changed == 1 {
            let (outcome, action) = action;
            self.append_audit(
                &super::audit::AuditEntry::new("system", action, "offboarding_case", Some(case_id))
                    .with_details(serde_json::json!({"outcome": outcome})),
            )
            .await?;
        }
        Ok(())
    }

    /// Live agents the person owns, directly or as a member of an owner group, with
    /// what the person's departure does to each.
    pub async fn agents_touched_by(&mut self, person_id: &str) -> StoreResult<Vec<TouchedAgent>> {
        Ok(with_tx!(self, c => {
            sqlx::query_as(
                "SELECT a.id, a.name, \
                 EXISTS (SELECT 1 FROM agent_owners ao \
                         LEFT JOIN scim_group_members agm ON agm.group_id = ao.group_id \
                         JOIN people aop ON aop.id = COALESCE(ao.person_id, agm.person_id) \
                         WHERE ao.agent_id = a.id AND aop.active = TRUE AND aop.deleted_at IS NULL \
                         AND aop.id <> $1) AS still_owned, \
                 (EXISTS (SELECT 1 FROM agent_owners ao WHERE ao.agent_id = a.id AND ao.person_id = $1) \
                  OR EXISTS (SELECT 1 FROM agent_owners ao \
                             JOIN scim_group_members agm ON agm.group_id = ao.group_id AND agm.person_id = $1 \
                             WHERE ao.agent_id = a.id AND NOT EXISTS ( \
                                 SELECT 1 FROM scim_group_members om JOIN people mp ON mp.id = om.person_id \
                                 WHERE om.group_id = ao.group_id AND mp.id <> $1 \
                                 AND mp.active = TRUE AND mp.deleted_at IS NULL))) AS lost_owner \
                 FROM agents a WHERE a.deleted_at IS NULL AND a.id IN ( \
                     SELECT ao.agent_id FROM agent_owners ao WHERE ao.person_id = $1 \
                     UNION SELECT ao.agent_id FROM agent_owners ao \
                           JOIN scim_group_members agm ON agm.group_id = ao.group_id WHERE agm.person_id = $1) \
                 ORDER BY a.id",
            )
            .bind(person_id)
            .fetch_all(&mut *c)
            .await?
        }))
    }

    /// Credentials linked to these agents.
    pub async fn credentials_of_agents(
        &mut self,
        agent_ids: &[String],
    ) -> StoreResult<Vec<AffectedCredential>> {
        if agent_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_tx!(self, c => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT c.id, c.provider, c.kind, c.external_id, c.status FROM credentials c \
                 WHERE c.id IN (SELECT ac.credential_id FROM agent_credentials ac WHERE ac.agent_id IN (",
            );
            let mut list = q.separated(", ");
            for id in agent_ids {
                list.push_bind(id.clone());
            }
            q.push(")) ORDER BY c.id");
            q.build_query_as().fetch_all(&mut *c).await?
        }))
    }

    /// Every live agent linked to these credentials (and the agents of `subjects`, even
    /// deleted), with its first person owner and whether an active owner other than
    /// `departing` is left.
    pub async fn agents_linked_to(
        &mut self,
        credential_ids: &[String],
        subjects: &[String],
        departing: Option<&str>,
    ) -> StoreResult<Vec<LinkedAgent>> {
        if credential_ids.is_empty() {
            return Ok(Vec::new());
        }
        let first_person = crate::store::agents::FIRST_PERSON_SQL;
        Ok(with_tx!(self, c => {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT ac.credential_id, a.id AS agent_id, a.name AS agent_name, {first_person} AS owner_id, \
                 EXISTS (SELECT 1 FROM agent_owners ao \
                         LEFT JOIN scim_group_members agm ON agm.group_id = ao.group_id \
                         JOIN people aop ON aop.id = COALESCE(ao.person_id, agm.person_id) \
                         WHERE ao.agent_id = a.id AND aop.active = TRUE AND aop.deleted_at IS NULL \
                         AND aop.id <> "
            ));
            q.push_bind(departing.unwrap_or_default().to_string());
            q.push(") AS owned FROM agent_credentials ac JOIN agents a ON a.id = ac.agent_id \
                    WHERE (a.deleted_at IS NULL");
            for id in subjects {
                q.push(" OR a.id = ").push_bind(id.clone());
            }
            q.push(") AND ac.credential_id IN (");
            let mut list = q.separated(", ");
            for id in credential_ids {
                list.push_bind(id.clone());
            }
            q.push(") ORDER BY ac.credential_id, a.id");
            q.build_query_as().fetch_all(&mut *c).await?
        }))
    }

    /// Opens a case; returns None when the departure already has one.
    pub async fn insert_case(&mut self, case: &NewCase<'_>) -> StoreResult<Option<String>> {
        let id = new_id();
        let (person_id, lifecycle_event_id, agent_id, agent_event_id) = match case.subject {
            Subject::Person {
                person_id,
                lifecycle_event_id,
            } => (Some(person_id), Some(lifecycle_event_id), None, None),
            Subject::Agent {
                agent_id,
                agent_event_id,
            } => (None, None, Some(agent_id), Some(agent_event_id)),
        };
        let inserted = with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO offboarding_cases (id, person_id, lifecycle_event_id, agent_id, agent_event_id, \
                 triggered_by, reason, policy, status, opened_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(person_id)
            .bind(lifecycle_event_id)
            .bind(agent_id)
            .bind(agent_event_id)
            .bind(case.triggered_by)
            .bind(case.reason)
            .bind(case.policy)
            .bind(now())
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok((inserted == 1).then_some(id))
    }

    pub async fn insert_case_item(&mut self, item: &NewItem<'_>) -> StoreResult<String> {
        let id = new_id();
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO offboarding_items (id, case_id, credential_id, agent_ids, collateral, action, status, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&id)
            .bind(item.case_id)
            .bind(item.credential_id)
            .bind(item.agent_ids.to_string())
            .bind(item.collateral.to_string())
            .bind(item.action)
            .bind(item.status)
            .bind(now())
            .execute(&mut *c)
            .await?;
        });
        Ok(id)
    }

    pub async fn mark_lifecycle_event_processed(&mut self, event_id: &str) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("UPDATE lifecycle_events SET processed_at = $2 WHERE id = $1 AND processed_at IS NULL")
                .bind(event_id)
                .bind(now())
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }
}

impl Store {
    pub async fn set_case_item(
        &self,
        id: &str,
        status: &str,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        // Through a write transaction: on SQLite, writes take the one writer's queue.
        let mut tx = self.begin().await?;
        tx.set_case_item(id, status, detail).await?;
        tx.commit().await
    }

    pub async fn get_case(&self, id: &str) -> StoreResult<(Case, Vec<CaseItem>)> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM offboarding_cases WHERE id = $1");
        let case: Option<Case> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        let case = case.ok_or(StoreError::NotFound)?;
        let sql =
            format!("SELECT {ITEM_COLUMNS} FROM offboarding_items WHERE case_id = $1 ORDER BY id");
        let items: Vec<CaseItem> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_all(p).await?);
        Ok((case, items))
    }

    pub async fn get_case_item(&self, id: &str) -> StoreResult<CaseItem> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM offboarding_items WHERE id = $1");
        let item: Option<CaseItem> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        item.ok_or(StoreError::NotFound)
    }

    /// Items in any of `statuses`, oldest first.
    pub async fn case_items_with_status(
        &self,
        statuses: &[&str],
        page: &PageRequest,
    ) -> StoreResult<Page<CaseItem>> {
        let rows: Vec<CaseItem> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT {ITEM_COLUMNS} FROM offboarding_items WHERE status IN ("));
            let mut list = q.separated(", ");
            for status in statuses {
                list.push_bind(status.to_string());
            }
            q.push(")");
            if let Some(after) = &page.after {
                q.push(" AND id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        Ok(page.paginate(rows, |i| &i.id))
    }

    /// Case items per status, across all cases (progress of a mass offboarding).
    pub async fn case_item_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        let sql = "SELECT status, COUNT(*) FROM offboarding_items GROUP BY status ORDER BY status";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    pub async fn list_cases(
        &self,
        filter: &CaseFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Case>> {
        let rows: Vec<Case> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT {CASE_COLUMNS} FROM offboarding_cases WHERE 1 = 1"));
            if let Some(person_id) = &filter.person_id {
                q.push(" AND person_id = ").push_bind(person_id.clone());
            }
            if let Some(agent_id) = &filter.agent_id {
                q.push(" AND agent_id = ").push_bind(agent_id.clone());
            }
            if let Some(after) = &page.after {
                q.push(" AND id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        Ok(page.paginate(rows, |c| &c.id))
    }
}

/// Filters of the case list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub person_id: Option<String>,
    pub agent_id: Option<String>,
}
