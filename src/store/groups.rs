//! SCIM groups and their members. A group that owns an agent answers for it through
//! its active members: when the last of them leaves, the agent is an orphan and its
//! credentials are revoked (see `store::agents`).

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{
    conflict, new_id, now, push_parts, with_pool, with_tx, SqlPart, Store, StoreError, StoreResult,
    Tx,
};
use crate::domain::case_key;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// The SCIM document without members, JSON.
    pub scim_resource: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A member of a group, with what is needed to display it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub group_id: String,
    pub person_id: String,
    pub display: Option<String>,
}

const GROUP_COLUMNS: &str =
    "g.id, g.display_name, g.external_id, g.scim_resource, g.version, g.created_at, g.updated_at";

/// The writable projection of a group.
#[derive(Debug, Clone)]
pub struct GroupFields<'a> {
    pub display_name: &'a str,
    pub external_id: Option<&'a str>,
    pub document: &'a str,
}

impl Store {
    pub async fn get_group(&self, id: &str) -> StoreResult<Group> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM scim_groups g WHERE g.id = $1");
        let row: Option<Group> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// Groups matching a condition over alias `g`, with the total count.
    pub async fn query_groups(
        &self,
        condition: &[SqlPart],
        order_by: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(i64, Vec<Group>)> {
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM scim_groups g WHERE (");
            push_parts!(q, condition);
            q.push(")");
            let total: i64 = q.build_query_scalar().fetch_one(p).await?;
            let rows = if limit > 0 && offset < total {
                let mut q = QueryBuilder::<Db>::new(format!("SELECT {GROUP_COLUMNS} FROM scim_groups g WHERE ("));
                push_parts!(q, condition);
                q.push(") ORDER BY ").push(order_by).push(", g.id LIMIT ").push_bind(limit);
                q.push(" OFFSET ").push_bind(offset);
                q.build_query_as().fetch_all(p).await?
            } else {
                Vec::new()
            };
            (total, rows)
        }))
    }

    /// Members of these groups.
    pub async fn group_members(&self, group_ids: &[String]) -> StoreResult<Vec<Member>> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT m.group_id, m.person_id, COALESCE(p.display_name, p.user_name) AS display \
                 FROM scim_group_members m JOIN people p ON p.id = m.person_id WHERE m.group_id IN (",
            );
            let mut list = q.separated(", ");
            for id in group_ids {
                list.push_bind(id.clone());
            }
            q.push(") ORDER BY m.person_id");
            q.build_query_as().fetch_all(p).await?
        }))
    }
}

impl Tx {
    /// A group inside the transaction, locked until it ends (see [`LockKey::Group`]).
    pub async fn get_group(&mut self, id: &str) -> StoreResult<Group> {
        self.lock(super::locks::LockKey::Group(id)).await?;
        let sql = format!("SELECT {GROUP_COLUMNS} FROM scim_groups g WHERE g.id = $1");
        let row: Option<Group> =
            with_tx!(self, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await?);
        row.ok_or(StoreError::NotFound)
    }

    pub async fn insert_group(&mut self, fields: &GroupFields<'_>) -> StoreResult<String> {
        let id = new_id();
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO scim_groups (id, display_name, display_name_key, external_id, scim_resource, version, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
            )
            .bind(&id)
            .bind(fields.display_name)
            .bind(case_key(fields.display_name))
            .bind(fields.external_id)
            .bind(fields.document)
            .bind(now())
            .execute(&mut *c)
            .await
            .map_err(conflict("a group with this displayName already exists"))?;
        });
        Ok(id)
    }

    pub async fn update_group(&mut self, id: &str, fields: &GroupFields<'_>) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE scim_groups SET display_name = $2, display_name_key = $3, external_id = $4, \
                 scim_resource = $5, version = version + 1, updated_at = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(fields.display_name)
            .bind(case_key(fields.display_name))
            .bind(fields.external_id)
            .bind(fields.document)
            .bind(now())
            .execute(&mut *c)
            .await
            .map_err(conflict("a group with this displayName already exists"))?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replaces the members of a group.
    pub async fn replace_members(
        &mut self,
        group_id: &str,
        person_ids: &[String],
    ) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1")
                .bind(group_id)
                .execute(&mut *c)
                .await?;
            for person_id in person_ids {
                sqlx::query(
                    "INSERT INTO scim_group_members (group_id, person_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(group_id)
                .bind(person_id)
                .execute(&mut *c)
                .await?;
            }
        });
        Ok(())
    }

    /// Current member ids of a group.
    pub async fn member_ids(&mut self, group_id: &str) -> StoreResult<Vec<String>> {
        Ok(with_tx!(self, c => {
            sqlx::query_scalar("SELECT person_id FROM scim_group_members WHERE group_id = $1 ORDER BY person_id")
                .bind(group_id)
                .fetch_all(&mut *c)
                .await?
        }))
    }

    pub async fn delete_group(&mut self, id: &str) -> StoreResult<()> {
        let done = with_tx!(self, c => {
            sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM scim_groups WHERE id = $1")
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
}
