//! Reports: generated once per period, then delivered by a job.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::{
    new_id, now, with_pool, with_tx, with_writer, Page, PageRequest, Store, StoreError,
    StoreResult, Tx,
};

/// A stored report; the bodies are only read to send it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StoredReport {
    pub id: String,
    /// `schedule` | `manual`.
    pub origin: String,
    pub period_key: Option<String>,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub subject: String,
    #[serde(skip)]
    pub text_body: String,
    #[serde(skip)]
    pub html_body: String,
    /// JSON counts, for the history.
    #[serde(skip)]
    pub summary: String,
    /// JSON array.
    #[serde(skip)]
    pub recipients: String,
    /// `pending` | `delivered`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, origin, period_key, period_from, period_to, subject, text_body, html_body, \
    summary, recipients, status, attempts, last_error, created_at, delivered_at";

/// A report to store.
pub struct NewReport<'a> {
    pub origin: &'a str,
    pub period_key: Option<&'a str>,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: &'a str,
    pub summary: &'a str,
    pub recipients: &'a str,
}

impl Tx {
    /// Stores a report; None when its period was reported already (by this instance
    /// before a restart, or by another one).
    pub async fn insert_report(&mut self, report: &NewReport<'_>) -> StoreResult<Option<String>> {
        let id = new_id();
        let inserted = with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO reports (id, origin, period_key, period_from, period_to, subject, text_body, html_body, \
                 summary, recipients, status, attempts, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(report.origin)
            .bind(report.period_key)
            .bind(report.period_from)
            .bind(report.period_to)
            .bind(report.subject)
            .bind(report.text_body)
            .bind(report.html_body)
            .bind(report.summary)
            .bind(report.recipients)
            .bind(now())
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok((inserted == 1).then_some(id))
    }
}

impl Store {
    pub async fn get_report(&self, id: &str) -> StoreResult<StoredReport> {
        let sql = format!("SELECT {COLUMNS} FROM reports WHERE id = $1");
        let row: Option<StoredReport> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// Whether the period of this scheduled instant has a report already.
    pub async fn report_exists(&self, period_key: &str) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE period_key = $1")
            .bind(period_key)
            .fetch_one(p)
            .await?);
        Ok(n > 0)
    }

    /// The end of the latest scheduled period reported, where the next one begins.
    pub async fn last_scheduled_report_end(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(with_pool!(self, p => sqlx::query_scalar(
            "SELECT period_to FROM reports WHERE origin = 'schedule' ORDER BY period_to DESC LIMIT 1",
        )
        .fetch_optional(p)
        .await?))
    }

    /// Records a delivery attempt: delivered, or the error (no secret: SMTP errors
    /// are formatted without the URL).
    pub async fn record_report_attempt(&self, id: &str, error: Option<&str>) -> StoreResult<()> {
        with_writer!(self, p => {
            sqlx::query(
                "UPDATE reports SET attempts = attempts + 1, last_error = $2, \
                 status = CASE WHEN $2 IS NULL THEN 'delivered' ELSE status END, \
                 delivered_at = CASE WHEN $2 IS NULL THEN $3 ELSE delivered_at END WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .bind(now())
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Reports, newest first.
    pub async fn list_reports(&self, page: &PageRequest) -> StoreResult<Page<StoredReport>> {
        let rows: Vec<StoredReport> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(format!("SELECT {COLUMNS} FROM reports WHERE 1 = 1"));
            if let Some(after) = &page.after {
                q.push(" AND id < ").push_bind(after.clone());
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        Ok(page.paginate(rows, |r| &r.id))
    }
}
