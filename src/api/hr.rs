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
        .service(super::resource("/hr/refusals").route(web::get().to(refusals)))
        .service(
            super::resource("/hr/sources/{name}/verification-token")
                .route(web::post().to(claim_verification_token)),
        );
}

/// Gusto's verification token, received by the webhook endpoint, returned once: the
/// operator verifies the subscription with it at Gusto and configures it as the
/// source's secret.
async fn claim_verification_token(
    state: web::Data<AppState>,
    caller: crate::access::Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let context = crate::hr::verification_context(&name);
    let Some(sealed) = state.store.meta_take(&context).await? else {
        return Err(ApiError::not_found("pending verification token"));
    };
    let token = hex::decode(sealed)
        .ok()
        .and_then(|bytes| state.keys.decrypt(&bytes, &context).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::internal(&crate::crypto::CryptoError::Decrypt))?;
    let mut tx = state.store.begin().await?;
    tx.append_audit(&crate::audit::AuditEntry::new(
        &caller.actor(),
        "hr.verification_token_claimed",
        "hr_source",
        Some(&name),
    ))
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(json!({"source": name.as_str(), "verification_token": token})))
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
            .list_inbox(query.source.as_deref(), query.status.as_deref(), &page)
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

/// Counters of refused webhooks per source and reason, including those counted in
/// memory and not stored yet.
async fn refusals(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut counts = state.store.refusal_counts().await?;
    for ((source, reason), pending) in state.hr_refusals.pending().await {
        match counts
            .iter_mut()
            .find(|c| c.source == source && c.reason == reason)
        {
            Some(count) => count.count += pending,
            None => counts.push(crate::store::hr::RefusalCount {
                source,
                reason,
                count: pending,
                last_at: crate::store::now(),
            }),
        }
    }
    Ok(HttpResponse::Ok().json(json!({"items": counts})))
}
