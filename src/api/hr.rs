//! `/api/v1/hr/…`: what HR sources sent and what it did.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::page_request;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/hr/events").route(web::get().to(events)))
        .service(super::resource("/hr/terminations").route(web::get().to(terminations)))
        .service(super::resource("/hr/refusals").route(web::get().to(refusals)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    source: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The inbox: every verified event, with its status (without the body).
async fn events(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor)?;
    Ok(HttpResponse::Ok().json(
        state
            .store
            .list_inbox(query.source.as_deref(), &page)
            .await?,
    ))
}

/// Terminations, cancellations and rehires; `status=unmatched` lists employees HR
/// reported who match nobody in the directory, `status=scheduled` future departures.
async fn terminations(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor)?;
    Ok(HttpResponse::Ok().json(
        state
            .store
            .list_terminations(query.status.as_deref(), query.source.as_deref(), &page)
            .await?,
    ))
}

/// Counters of refused webhooks per source and reason.
async fn refusals(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({"items": state.store.refusal_counts().await?})))
}
