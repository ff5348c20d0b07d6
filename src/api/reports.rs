//! `/api/v1/reports`: preview the report for now (JSON, or HTML/text by `Accept`),
//! send it now, and the history of reports with their delivery status.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use crate::access::Caller;
use crate::report::delivery::{store_and_enqueue, ReportConfig};
use crate::report::{render_html, render_text};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/reports").route(web::get().to(history)))
        .service(super::resource("/reports/preview").route(web::get().to(preview)))
        .service(super::resource("/reports/send").route(web::post().to(send)));
}

fn config(state: &AppState) -> Result<ReportConfig, ApiError> {
    // Validated at start-up; a failure here is a bug, answered as one.
    ReportConfig::from_settings(&state.settings)
        .map_err(|e| ApiError::internal(&crate::config::ConfigError(e)))
}

/// The report as it would be sent now, changing nothing.
async fn preview(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let config = config(&state)?;
    let period = config.current_period(&state.store).await?;
    let report = config.build(&state.store, period).await?;
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first of the formats we serve that the client names wins; JSON otherwise.
    let html = accept.find("text/html");
    let text = accept.find("text/plain");
    Ok(match (html, text) {
        (Some(h), t) if t.is_none_or(|t| h < t) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(render_html(&report)),
        (_, Some(_)) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(render_text(&report)),
        _ => HttpResponse::Ok().json(&report),
    })
}

/// Generates the report for now and queues its delivery.
async fn send(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let config = config(&state)?;
    let Some(mail) = &config.mail else {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "reports_not_configured",
            "sending reports needs OWNERBOUND_SMTP_URL and OWNERBOUND_REPORT_TO",
        ));
    };
    let period = config.current_period(&state.store).await?;
    let report = config.build(&state.store, period).await?;
    let id = store_and_enqueue(
        &state.store,
        &report,
        "manual",
        None,
        &mail.to,
        crate::store::now(),
    )
    .await?
    .expect("manual reports have no period key");
    let mut tx = state.store.begin().await?;
    tx.append_audit(&crate::audit::AuditEntry::new(
        &caller.actor(),
        "report.send_requested",
        "report",
        Some(&id),
    ))
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted()
        .json(json!({"id": id, "status": "pending", "subject": report.subject})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn history(
    state: web::Data<AppState>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = super::page_request(query.limit, query.cursor)?;
    Ok(HttpResponse::Ok().json(state.store.list_reports(&page).await?))
}
