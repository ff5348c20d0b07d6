//! Reports stored once per period and delivered by a job: an SMTP outage delays a
//! report (retried with backoff, re-driven), a restart neither skips nor repeats one.
//!
//! Exactly once: the period's row is unique (`period_key`), created with its delivery
//! job in one transaction; the job does nothing for a report already delivered. The
//! one window left is a crash between the SMTP server's acceptance and recording it;
//! a second copy then carries the same `Message-ID`, which mail clients collapse.

use chrono::{DateTime, Utc};
use lettre::message::MultiPart;
use serde_json::json;

use super::schedule::Schedule;
use super::{render_html, render_text, Report};
use crate::alerts::AlertConfig;
use crate::audit::AuditEntry;
use crate::findings::{Catalogue, Period};
use crate::store::reports::NewReport;
use crate::store::{now, Store, StoreResult};

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// The mail server could not take it now; try again later.
    Transient(String),
    /// Trying again cannot help (no such report, no SMTP configured).
    Permanent(String),
}

/// What report generation and delivery need from the settings.
#[derive(Clone)]
pub struct ReportConfig {
    pub schedule: Schedule,
    pub catalogue: Catalogue,
    pub public_url: Option<String>,
    /// None when SMTP or the recipients are not configured: nothing is scheduled.
    pub mail: Option<AlertConfig>,
}

impl ReportConfig {
    /// The report of `period`, computed now.
    pub async fn build(&self, store: &Store, period: Period) -> StoreResult<Report> {
        Report::build(
            store,
            &self.catalogue,
            period,
            self.public_url.as_deref(),
            self.schedule.zone(),
        )
        .await
    }

    /// The period a report made now covers: since the last scheduled one (or a week).
    pub async fn current_period(&self, store: &Store) -> StoreResult<Period> {
        let to = now();
        let from = store
            .last_scheduled_report_end()
            .await?
            .filter(|end| *end < to)
            .unwrap_or(to - chrono::Duration::days(7));
        Ok(Period { from, to })
    }
}

/// Stores a rendered report and enqueues its delivery, in one transaction. None when
/// the period was reported already.
pub async fn store_and_enqueue(
    store: &Store,
    report: &Report,
    origin: &str,
    period_key: Option<&str>,
    recipients: &[String],
    deliver_after: DateTime<Utc>,
) -> StoreResult<Option<String>> {
    let text = render_text(report);
    let html = render_html(report);
    let summary = json!({
        "sections": report.sections.iter().map(|s| json!({"title": s.title, "total": s.total})).collect::<Vec<_>>(),
        "counts": report.counts,
    });
    let mut tx = store.begin().await?;
    let Some(id) = tx
        .insert_report(&NewReport {
            origin,
            period_key,
            period_from: report.period.from,
            period_to: report.period.to,
            subject: &report.subject,
            text_body: &text,
            html_body: &html,
            summary: &summary.to_string(),
            recipients: &serde_json::to_string(recipients).expect("strings serialise"),
        })
        .await?
    else {
        return Ok(None);
    };
    crate::tasks::enqueue(
        &mut tx,
        &crate::tasks::Task::Report {
            report_id: id.clone(),
        },
        &crate::tasks::Schedule {
            dedupe_key: &format!("report:{id}"),
            provider: None,
            run_after: deliver_after,
        },
    )
    .await?;
    tx.append_audit(
        &AuditEntry::new("system", "report.generated", "report", Some(&id)).with_details(
            json!({"origin": origin, "period_from": report.period.from, "period_to": report.period.to}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Creates the report of the latest scheduled time at or before `at`, unless it
/// exists; this is also the catch-up after downtime (one report, covering everything
/// since the last one). Returns the new report's id.
pub async fn tick(
    store: &Store,
    config: &ReportConfig,
    at: DateTime<Utc>,
) -> StoreResult<Option<String>> {
    let Some(mail) = &config.mail else {
        return Ok(None);
    };
    let Some(due) = config.schedule.latest_due(at) else {
        return Ok(None);
    };
    let key = due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if store.report_exists(&key).await? {
        return Ok(None);
    }
    let from = match store.last_scheduled_report_end().await? {
        Some(end) if end < due => end,
        _ => config
            .schedule
            .previous_before(due)
            .unwrap_or(due - chrono::Duration::days(7)),
    };
    let report = config.build(store, Period { from, to: due }).await?;
    let id = store_and_enqueue(store, &report, "schedule", Some(&key), &mail.to, now()).await?;
    if let Some(id) = &id {
        tracing::info!(report = %id, period_to = %key, "weekly report generated");
    }
    Ok(id)
}

/// The `report` job: sends the stored report unless it was delivered already.
pub async fn deliver(
    store: &Store,
    mail: Option<&AlertConfig>,
    report_id: &str,
) -> StoreResult<Result<(), DeliveryError>> {
    let report = match store.get_report(report_id).await {
        Ok(report) => report,
        Err(crate::store::StoreError::NotFound) => {
            return Ok(Err(DeliveryError::Permanent(format!(
                "report {report_id} does not exist"
            ))))
        }
        Err(err) => return Err(err),
    };
    if report.status == "delivered" {
        return Ok(Ok(()));
    }
    let Some(mail) = mail else {
        return Ok(Err(DeliveryError::Permanent(
            "reports need OWNERBOUND_SMTP_URL and OWNERBOUND_REPORT_TO".into(),
        )));
    };
    let recipients: Vec<String> = serde_json::from_str(&report.recipients).unwrap_or_default();
    let mail = AlertConfig {
        to: if recipients.is_empty() {
            mail.to.clone()
        } else {
            recipients
        },
        ..mail.clone()
    };
    let message = crate::alerts::envelope(&mail, &report.subject).and_then(|builder| {
        builder
            .message_id(Some(format!("<report-{}@ownerbound>", report.id)))
            .multipart(MultiPart::alternative_plain_html(
                report.text_body.clone(),
                report.html_body.clone(),
            ))
            .map_err(|e| e.to_string())
    });
    let result = match message {
        Ok(message) => crate::alerts::transmit(&mail, message).await,
        Err(error) => Err(error),
    };
    store
        .record_report_attempt(report_id, result.as_ref().err().map(String::as_str))
        .await?;
    match result {
        Ok(()) => {
            let mut tx = store.begin().await?;
            tx.append_audit(
                &AuditEntry::new("system", "report.delivered", "report", Some(report_id))
                    .with_details(json!({"recipients": mail.to.len()})),
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        }
        Err(error) => Ok(Err(DeliveryError::Transient(error))),
    }
}

/// Checks the schedule at start (catch-up) and every `interval` until `shutdown`.
pub async fn run_scheduler(
    store: Store,
    config: ReportConfig,
    interval: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if config.mail.is_none() {
        tracing::warn!("weekly reports are off: set OWNERBOUND_SMTP_URL and OWNERBOUND_REPORT_TO");
        return;
    }
    loop {
        if let Err(err) = tick(&store, &config, now()).await {
            tracing::warn!(error = %err, "could not check the report schedule");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
