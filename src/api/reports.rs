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
        .service(super::resource("/reports/send").route(web::post().to(send)))
        .service(super::resource("/reports/{id}").route(web::get().to(one)));
}

/// Which of our representations the client prefers (`Accept`): HTML, text, or JSON.
#[derive(PartialEq)]
enum Representation {
    Html,
    Text,
    Json,
}

fn representation(req: &HttpRequest) -> Representation {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first of the formats we serve that the client names wins.
    match (accept.find("text/html"), accept.find("text/plain")) {
        (Some(h), t) if t.is_none_or(|t| h < t) => Representation::Html,
        (_, Some(_)) => Representation::Text,
        _ => Representation::Json,
    }
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// A report as it was sent: its record (JSON), or the email's HTML or text part.
async fn one(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let report = state.store.get_report(&id).await.map_err(|err| match err {
        crate::store::StoreError::NotFound => ApiError::not_found("report"),
        other => other.into(),
    })?;
    Ok(match representation(&req) {
        Representation::Html => html(report.html_body),
        Representation::Text => text(report.text_body),
        Representation::Json => {
            let summary: serde_json::Value =
                serde_json::from_str(&report.summary).unwrap_or_default();
            let mut body = serde_json::to_value(&report).expect("a report serialises");
            body["summary"] = summary;
            HttpResponse::Ok().json(body)
        }
    })
}

fn config(state: &AppState) -> Result<ReportConfig, ApiError> {
    // Validated at start-up; a failure here is a bug, answered as one.
    state
        .settings
        .report_config()
        .map_err(|e| ApiError::internal(&crate::config::ConfigError(e)))
}

/// The report as it would be sent now, changing nothing.
async fn preview(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let config = config(&state)?;
    let period = config.current_period(&state.store).await?;
    let report = config.build(&state.store, period).await?;
    Ok(match representation(&req) {
        Representation::Html => html(render_html(&report)),
        Representation::Text => text(render_text(&report)),
        Representation::Json => HttpResponse::Ok().json(&report),
    })
}

/// `POST /reports/send` takes no options: an empty body or `{}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {}

/// Generates the report for now and queues its delivery.
async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let SendRequest {} = super::json::optional_body(&body)?;
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
