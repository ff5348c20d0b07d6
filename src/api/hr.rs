//! `/api/v1/hr/…`: what HR sources sent and what it did.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::page_request;
use crate::startup::AppState;
use crate::store::hr_verification::Claimed;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/hr/events").route(web::get().to(events)))
        .service(super::resource("/hr/terminations").route(web::get().to(terminations)))
        .service(super::resource("/hr/refusals").route(web::get().to(refusals)))
        .service(
            super::resource("/hr/sources/{name}/verification-token")
                .route(web::post().to(claim_verification_token)),
        )
        .service(
            super::resource("/hr/sources/{name}/verification")
                .route(web::post().to(arm_verification)),
        )
        .service(
            super::resource("/hr/sources/{name}/verification-tokens")
                .route(web::get().to(verification_tokens)),
        );
}

/// How long an armed source accepts verification tokens unless the admin says.
const DEFAULT_ARM_MINUTES: i64 = 60;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArmRequest {
    /// 1 to 1440 (a day); default 60.
    minutes: Option<i64>,
}

/// A Gusto source accepts the unsigned verification POST only while armed: the
/// admin arms it, then creates (or re-sends) the subscription at Gusto.
async fn arm_verification(
    state: web::Data<AppState>,
    caller: crate::access::Caller,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = gusto_source(&state, &name)?;
    let request: ArmRequest = super::json::optional_body(&body)?;
    let minutes = request.minutes.unwrap_or(DEFAULT_ARM_MINUTES);
    if !(1..=24 * 60).contains(&minutes) {
        return Err(ApiError::invalid_field("minutes", "must be from 1 to 1440"));
    }
    let until = crate::store::now() + chrono::Duration::minutes(minutes);
    let mut tx = state.store.begin().await?;
    tx.arm_verification(source, &caller.actor(), until).await?;
    tx.append_audit(
        &crate::audit::AuditEntry::new(
            &caller.actor(),
            "hr.verification_armed",
            "hr_source",
            Some(source),
        )
        .with_details(json!({"until": until})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(json!({"source": source, "armed_until": until})))
}

/// The verification tokens a source received: when, from where, whether claimed
/// (never the tokens).
async fn verification_tokens(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let source = gusto_source(&state, &name)?;
    Ok(HttpResponse::Ok()
        .json(json!({"items": state.store.list_verification_tokens(source).await?})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    /// Which received token; needed when more than one is unclaimed.
    id: Option<String>,
}

/// Gusto's verification token, received by the webhook endpoint, returned once: the
/// operator verifies the subscription with it at Gusto and configures it as the
/// source's secret. Claiming closes the source's window.
async fn claim_verification_token(
    state: web::Data<AppState>,
    caller: crate::access::Caller,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = gusto_source(&state, &name)?;
    let request: ClaimRequest = super::json::optional_body(&body)?;
    let mut tx = state.store.begin().await?;
    let (id, sealed) = match tx
        .claim_verification_token(source, request.id.as_deref(), &caller.actor())
        .await?
    {
        Claimed::Token { id, sealed } => (id, sealed),
        Claimed::Nothing => return Err(ApiError::not_found("pending verification token")),
        Claimed::Ambiguous(tokens) => {
            let listed: Vec<String> = tokens
                .iter()
                .map(|t| format!("{} (from {} at {})", t.id, t.sender, t.received_at))
                .collect();
            return Err(ApiError::new(
                actix_web::http::StatusCode::CONFLICT,
                "several_verification_tokens",
                format!(
                    "several tokens were received; claim the one Gusto sent by its id: {}",
                    listed.join(", ")
                ),
            ));
        }
    };
    let context = crate::hr::verification_context(source);
    let token = crate::key_rotation::decrypt(&state.store, &state.keys, &sealed, &context)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .ok_or_else(|| ApiError::internal(&crate::crypto::CryptoError::Decrypt))?;
    tx.append_audit(
        &crate::audit::AuditEntry::new(
            &caller.actor(),
            "hr.verification_token_claimed",
            "hr_source",
            Some(source),
        )
        .with_details(json!({"token_id": id})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(json!({"source": source, "id": id, "verification_token": token})))
}

/// The configured Gusto source `name`: 404 for none, 409 for another preset.
fn gusto_source<'a>(state: &'a AppState, name: &str) -> Result<&'a str, ApiError> {
    let source = state
        .hr_sources
        .get(name)
        .ok_or_else(|| ApiError::not_found("HR source"))?;
    if source.preset != crate::hr::config::Preset::Gusto {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "not_a_gusto_source",
            "only Gusto sources are verified with a token they send first",
        ));
    }
    Ok(&source.name)
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
