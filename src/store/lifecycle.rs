//! Lifecycle events: a person became inactive, or active again.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::{new_id, now, with_pool, with_tx, Page, PageRequest, Store, StoreResult, Tx};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LifecycleEvent {
    pub id: String,
    pub person_id: String,
    pub kind: String,
    pub source: String,
    pub actor: String,
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

const EVENT_COLUMNS: &str = "id, person_id, kind, source, actor, reason, occurred_at, processed_at";

/// Filters of the event list.
#[derive(Debug, Clone, Default)]
pub struct LifecycleFilter {
    pub person_id: Option<String>,
    pub kind: Option<String>,
    /// Only events the offboarding engine has not processed yet.
    pub pending: Option<bool>,
}

impl Tx {
    pub async fn insert_lifecycle_event(
        &mut self,
        person_id: &str,
        kind: &str,
        source: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> StoreResult<LifecycleEvent> {
        let sql = format!(
            "INSERT INTO lifecycle_events (id, person_id, kind, source, actor, reason, occurred_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {EVENT_COLUMNS}"
        );
        Ok(with_tx!(self, c => {
            sqlx::query_as(&sql)
                .bind(new_id())
                .bind(person_id)
                .bind(kind)
                .bind(source)
                .bind(actor)
                .bind(reason)
                .bind(now())
                .fetch_one(&mut *c)
                .await?
        }))
    }
}

impl Tx {
    /// The HR source (`hr:<name>`) whose termination holds this person inactive
    /// against identity providers, if any.
    pub async fn hr_hold(&mut self, person_id: &str) -> StoreResult<Option<String>> {
        let hold: Option<Option<String>> = with_tx!(self, c => sqlx::query_scalar("SELECT hr_hold FROM people WHERE id = $1")
            .bind(person_id)
            .fetch_optional(&mut *c)
            .await?);
        Ok(hold.flatten())
    }

    /// An HR termination took effect: hold the person inactive until `source`
    /// cancels or rehires.
    pub async fn set_hr_hold(&mut self, person_id: &str, source: &str) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("UPDATE people SET hr_hold = $2 WHERE id = $1")
                .bind(person_id)
                .bind(source)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// `source` cancelled its termination or rehired the person: lift its hold (a
    /// hold by another HR system stays).
    pub async fn lift_hr_hold(&mut self, person_id: &str, source: &str) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("UPDATE people SET hr_hold = NULL WHERE id = $1 AND hr_hold = $2")
                .bind(person_id)
                .bind(source)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    pub async fn lifecycle_event(&mut self, id: &str) -> StoreResult<LifecycleEvent> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM lifecycle_events WHERE id = $1");
        let event: Option<LifecycleEvent> =
            with_tx!(self, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await?);
        event.ok_or(super::StoreError::NotFound)
    }
}

impl Store {
    /// Events in the order they happened.
    pub async fn list_lifecycle_events(
        &self,
        filter: &LifecycleFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<LifecycleEvent>> {
        let rows: Vec<LifecycleEvent> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT {EVENT_COLUMNS} FROM lifecycle_events WHERE 1 = 1"));
            if let Some(person_id) = &filter.person_id {
                q.push(" AND person_id = ").push_bind(person_id.clone());
            }
            if let Some(kind) = &filter.kind {
                q.push(" AND kind = ").push_bind(kind.clone());
            }
            match filter.pending {
                Some(true) => {
                    q.push(" AND processed_at IS NULL");
                }
                Some(false) => {
                    q.push(" AND processed_at IS NOT NULL");
                }
                None => {}
            }
            if let Some(after) = &page.after {
                q.push(" AND id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        Ok(page.paginate(rows, |e| &e.id))
    }
}
