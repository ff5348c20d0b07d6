//! The HR webhook inbox, terminations, and refusal counters.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::locks::LockKey;
use super::{new_id, now, with_pool, with_tx, Page, PageRequest, Store, StoreResult, Tx};

/// An inbox entry as listed (without the body).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InboxEntry {
    pub id: String,
    pub source: String,
    pub event_id: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// A termination, cancellation or rehire reported by an HR source.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Termination {
    pub id: String,
    pub inbox_id: String,
    pub source: String,
    pub kind: String,
    pub employee_id: Option<String>,
    /// Case-folded.
    pub email: Option<String>,
    pub effective_at: DateTime<Utc>,
    pub person_id: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const TERMINATION_COLUMNS: &str =
    "id, inbox_id, source, kind, employee_id, email, effective_at, person_id, status, created_at, updated_at";

/// A termination to record.
pub struct NewTermination<'a> {
    pub inbox_id: &'a str,
    pub source: &'a str,
    pub kind: &'a str,
    pub employee_id: Option<&'a str>,
    pub email: Option<&'a str>,
    pub effective_at: DateTime<Utc>,
    pub person_id: Option<&'a str>,
    pub status: &'a str,
}

/// Refusals of one source, by reason.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RefusalCount {
    pub source: String,
    pub reason: String,
    pub count: i64,
    pub last_at: DateTime<Utc>,
}

impl Tx {
    /// Inserts an inbox entry; returns None when one with the same dedupe key exists
    /// (a redelivery).
    pub async fn insert_inbox(
        &mut self,
        source: &str,
        dedupe_key: &str,
        event_id: Option<&str>,
        status: &str,
        reason: Option<&str>,
        body: &[u8],
    ) -> StoreResult<Option<String>> {
        let id = new_id();
        let inserted = with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO hr_inbox (id, source, dedupe_key, event_id, status, reason, body, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(source)
            .bind(dedupe_key)
            .bind(event_id)
            .bind(status)
            .bind(reason)
            .bind(body)
            .bind(now())
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok((inserted == 1).then_some(id))
    }

    pub async fn set_inbox_status(&mut self, id: &str, status: &str) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("UPDATE hr_inbox SET status = $2 WHERE id = $1")
                .bind(id)
                .bind(status)
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    pub async fn insert_termination(&mut self, t: &NewTermination<'_>) -> StoreResult<String> {
        let id = new_id();
        if t.status == "scheduled" {
            self.wake_scheduler_on_commit();
        }
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO hr_terminations (id, inbox_id, source, kind, employee_id, email, effective_at, person_id, \
                 status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(&id)
            .bind(t.inbox_id)
            .bind(t.source)
            .bind(t.kind)
            .bind(t.employee_id)
            .bind(t.email)
            .bind(t.effective_at)
            .bind(t.person_id)
            .bind(t.status)
            .bind(now())
            .execute(&mut *c)
            .await?;
        });
        Ok(id)
    }

    pub async fn set_termination(
        &mut self,
        id: &str,
        status: &str,
        person_id: Option<&str>,
    ) -> StoreResult<()> {
        if status == "scheduled" {
            self.wake_scheduler_on_commit();
        }
        with_tx!(self, c => {
            sqlx::query("UPDATE hr_terminations SET status = $2, person_id = $3, updated_at = $4 WHERE id = $1")
                .bind(id)
                .bind(status)
                .bind(person_id)
                .bind(now())
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// Terminations of one employee of one source (or of one person) in a status.
    pub async fn terminations_of(
        &mut self,
        source: &str,
        employee_id: Option<&str>,
        person_id: Option<&str>,
        status: &str,
    ) -> StoreResult<Vec<Termination>> {
        let sql = format!(
            "SELECT {TERMINATION_COLUMNS} FROM hr_terminations WHERE status = $1 \
             AND kind IN ('termination', 'notice') AND source = $2 AND (employee_id = $3 OR person_id = $4) ORDER BY id"
        );
        Ok(with_tx!(self, c => {
            sqlx::query_as(&sql)
                .bind(status)
                .bind(source)
                .bind(employee_id.unwrap_or(""))
                .bind(person_id.unwrap_or(""))
                .fetch_all(&mut *c)
                .await?
        }))
    }

    /// Scheduled terminations due at `at`, oldest first.
    pub async fn due_terminations(
        &mut self,
        at: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Termination>> {
        let sql = format!(
            "SELECT {TERMINATION_COLUMNS} FROM hr_terminations WHERE status = 'scheduled' AND effective_at <= $1 \
             ORDER BY effective_at, id LIMIT $2"
        );
        Ok(with_tx!(self, c => sqlx::query_as(&sql).bind(at).bind(limit).fetch_all(&mut *c).await?))
    }

    /// Adds `count` refused requests of a source.
    pub async fn count_refusals(
        &mut self,
        source: &str,
        reason: &str,
        count: i64,
    ) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO hr_refusals (source, reason, count, last_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (source, reason) DO UPDATE SET count = hr_refusals.count + excluded.count, \
                 last_at = excluded.last_at",
            )
            .bind(source)
            .bind(reason)
            .bind(count)
            .bind(now())
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// The person an HR employee resolves to: by (source, employee id), then email,
    /// then employee number.
    pub async fn resolve_employee(
        &mut self,
        source: &str,
        employee_id: Option<&str>,
        email: Option<&str>,
    ) -> StoreResult<Option<String>> {
        if let Some(employee_id) = employee_id {
            self.lock_all(&[
                LockKey::HrEmployee(source, employee_id),
                LockKey::EmployeeNumber(employee_id),
            ])
            .await?;
            let found: Option<String> = with_tx!(self, c => {
                sqlx::query_scalar(
                    "SELECT h.person_id FROM person_hr_ids h JOIN people p ON p.id = h.person_id \
                     WHERE h.source = $1 AND h.employee_id = $2 AND p.deleted_at IS NULL",
                )
                .bind(source)
                .bind(employee_id)
                .fetch_optional(&mut *c)
                .await?
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        if let Some(email) = email {
            if let Some(id) = self.find_person_id_by_email(email).await? {
                return Ok(Some(id));
            }
        }
        if let Some(employee_id) = employee_id {
            return Ok(with_tx!(self, c => {
                sqlx::query_scalar("SELECT id FROM people WHERE employee_number = $1 AND deleted_at IS NULL")
                    .bind(employee_id)
                    .fetch_optional(&mut *c)
                    .await?
            }));
        }
        Ok(None)
    }

    /// Unmatched terminations of employees now linked to this person.
    pub async fn unmatched_for_person(&mut self, person_id: &str) -> StoreResult<Vec<Termination>> {
        let sql = format!(
            "SELECT t.{} FROM hr_terminations t JOIN person_hr_ids h \
             ON h.source = t.source AND h.employee_id = t.employee_id \
             WHERE t.status = 'unmatched' AND h.person_id = $1 ORDER BY t.id",
            TERMINATION_COLUMNS.replace(", ", ", t.")
        );
        let mut rows: Vec<Termination> =
            with_tx!(self, c => sqlx::query_as(&sql).bind(person_id).fetch_all(&mut *c).await?);
        // Unmatched by email too, when the person now has that email.
        let by_email = format!(
            "SELECT t.{} FROM hr_terminations t JOIN person_emails e ON e.value_key = t.email \
             WHERE t.status = 'unmatched' AND e.person_id = $1 ORDER BY t.id",
            TERMINATION_COLUMNS.replace(", ", ", t.")
        );
        let mut more: Vec<Termination> = with_tx!(self, c => sqlx::query_as(&by_email).bind(person_id).fetch_all(&mut *c).await?);
        // And by employee number, the last way an employee resolves.
        let by_number = format!(
            "SELECT t.{} FROM hr_terminations t JOIN people p ON p.employee_number = t.employee_id \
             WHERE t.status = 'unmatched' AND p.id = $1 ORDER BY t.id",
            TERMINATION_COLUMNS.replace(", ", ", t.")
        );
        more.extend(with_tx!(self, c => sqlx::query_as::<_, Termination>(&by_number).bind(person_id).fetch_all(&mut *c).await?));
        for row in more {
            if !rows.iter().any(|r| r.id == row.id) {
                rows.push(row);
            }
        }
        Ok(rows)
    }
}

impl Store {
    /// When the earliest scheduled termination takes effect, if any is scheduled.
    pub async fn next_termination_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar("SELECT MIN(effective_at) FROM hr_terminations WHERE status = 'scheduled'")
                .fetch_one(p)
                .await?
        }))
    }

    pub async fn list_inbox(
        &self,
        source: Option<&str>,
        status: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<InboxEntry>> {
        let rows: Vec<InboxEntry> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT id, source, event_id, status, reason, received_at FROM hr_inbox WHERE 1 = 1",
            );
            if let Some(source) = source {
                q.push(" AND source = ").push_bind(source.to_string());
            }
            if let Some(status) = status {
                q.push(" AND status = ").push_bind(status.to_string());
            }
            if let Some(after) = &page.after {
                q.push(" AND id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        Ok(page.paginate(rows, |r| &r.id))
    }

    pub async fn list_terminations(
        &self,
        status: Option<&str>,
        source: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<Termination>> {
        let rows: Vec<Termination> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT {TERMINATION_COLUMNS} FROM hr_terminations WHERE 1 = 1"));
            if let Some(status) = status {
                q.push(" AND status = ").push_bind(status.to_string());
            }
            if let Some(source) = source {
                q.push(" AND source = ").push_bind(source.to_string());
            }
            if let Some(after) = &page.after {
                q.push(" AND id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        Ok(page.paginate(rows, |r| &r.id))
    }

    pub async fn refusal_counts(&self) -> StoreResult<Vec<RefusalCount>> {
        Ok(with_pool!(self, p => {
            sqlx::query_as("SELECT source, reason, count, last_at FROM hr_refusals ORDER BY source, reason")
                .fetch_all(p)
                .await?
        }))
    }
}

/// The key under which a delivery without a provider event id is deduplicated.
pub fn body_dedupe_key(source: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    hasher.update([0u8]);
    hasher.update(body);
    format!("sha256:{}", hex::encode(hasher.finalize()))
}
