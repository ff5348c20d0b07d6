//! HR offboarding webhooks: `POST /hooks/hr/{source}`.
//!
//! Verify the signature on the raw bytes → parse → store in the inbox and apply, in
//! one transaction → answer 2xx. Redeliveries answer 2xx and change nothing.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

pub mod apply;
pub mod config;
pub mod presets;
pub mod refusals;
pub mod signature;

use config::{HrSource, Preset};
use presets::Parsed;

use crate::api::error::ApiError;
use crate::startup::AppState;
use crate::store::hr::body_dedupe_key;
use crate::store::hr_verification::Received;
use crate::store::StoreError;

/// The configured sources by name.
pub type Sources = BTreeMap<String, HrSource>;

pub fn configure(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/hooks/hr")
                .app_data(web::PayloadConfig::new(max_body_bytes))
                .wrap(actix_web::middleware::from_fn(screen))
                .service(crate::api::resource("/{source}").route(web::post().to(receive))),
        );
    }
}

async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    source: web::Path<String>,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let address = state.inbound.client_of(&req);
    let Some(source) = state.hr_sources.get(source.as_str()) else {
        return Err(refused());
    };
    let body = body.map_err(|err| {
        if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
            payload_too_large()
        } else {
            ApiError::bad_request("invalid_body", "the request body could not be read")
        }
    })?;
    let verified = match signature::verify(source, req.headers(), &body, crate::store::now()) {
        Ok(verified) => verified,
        Err(refusal) => {
            let mut reason = refusal.code();
            if source.preset == Preset::Gusto {
                if let Some(token) = gusto_verification_token(&body) {
                    let sender = address.map_or_else(|| "unknown".to_string(), |a| a.to_string());
                    match receive_verification_token(&state, &source.name, &sender, token).await? {
                        Received::Kept => {
                            tracing::info!(source = %source.name, sender = %sender,
                                "received a Gusto verification token; claim it with \
                                 POST /api/v1/hr/sources/{}/verification-token", source.name);
                            return Ok(HttpResponse::Ok().json(json!({"status": "ok"})));
                        }
                        Received::WindowFull => {
                            return Err(ApiError::new(
                                StatusCode::TOO_MANY_REQUESTS,
                                "verification_window_full",
                                "this source's verification window holds as many tokens as it takes",
                            ));
                        }
                        Received::NotArmed => reason = "verification_not_armed",
                    }
                }
            }
            tracing::warn!(source = %source.name, reason, "refused an HR webhook");
            state
                .hr_refusals
                .record(&state.store, &source.name, reason)
                .await
                .map_err(unavailable)?;
            return Err(refused());
        }
    };
    let parsed = match presets::parse(source, &body, verified.message_id.clone()) {
        Ok(parsed) => parsed,
        Err(reason) => {
            apply::record_rejected(
                &state.store,
                &source.name,
                &body_dedupe_key(&source.name, &body),
                &body,
                &reason,
            )
            .await
            .map_err(unavailable)?;
            return Err(ApiError::bad_request("invalid_event", reason));
        }
    };
    match parsed {
        Parsed::Handshake(what) => {
            tracing::info!(source = %source.name, handshake = what, "answered an HR webhook handshake");
            Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
        }
        Parsed::Events {
            event_id,
            entries,
            skipped,
        } => {
            let dedupe_key = match &event_id {
                Some(id) => format!("id:{id}"),
                None => body_dedupe_key(&source.name, &body),
            };
            let outcome = apply::record_event(
                &state.store,
                &source.name,
                &dedupe_key,
                event_id.as_deref(),
                &body,
                &entries,
                &skipped,
                crate::store::now(),
            )
            .await
            .map_err(unavailable)?;
            Ok(HttpResponse::Ok().json(match outcome {
                Some(outcome) => json!({"status": "accepted", "outcome": outcome}),
                None => json!({"status": "duplicate"}),
            }))
        }
    }
}

/// The token of Gusto's verification POST (`{"verification_token", "uuid"}` only).
fn gusto_verification_token(body: &[u8]) -> Option<String> {
    let value = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let object = value.as_object()?;
    if !object
        .keys()
        .all(|k| k == "verification_token" || k == "uuid")
    {
        return None;
    }
    object
        .get("verification_token")?
        .as_str()
        .map(str::to_string)
}

/// The encryption context of a source's verification tokens.
pub fn verification_context(source: &str) -> String {
    format!("hr_verification_token:{source}")
}

/// Middleware: what can be refused without the body is refused before the body is
/// read (up to `max_body_bytes`, which a flood would otherwise make ownerbound read
/// and copy for every request): a client over its address's limit gets 429, and an
/// unknown source the answer an unsigned request to a known one gets, so source
/// names cannot be probed (nor counted: anyone can make up names).
async fn screen(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    if let Err(limited) = state
        .inbound
        .check_hook(state.inbound.client_of(req.request()))
    {
        crate::api::auth::count_rate_limited(&state, "hooks").await;
        return Err(crate::api::auth::too_many_requests(limited));
    }
    // Answers that do not depend on whether the source exists come first, the same
    // for every name: another method, a body declared over the limit.
    if req.method() != actix_web::http::Method::POST {
        return Err(crate::api::method_not_allowed().into());
    }
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > state.settings.max_body_bytes as u64) {
        return Err(payload_too_large().into());
    }
    let source = req.path().strip_prefix("/hooks/hr/").unwrap_or_default();
    if !state.hr_sources.contains_key(source) {
        return Err(refused().into());
    }
    next.call(req).await
}

fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "request body exceeds the configured limit",
    )
}

/// The one answer to every request not known to be authentic.
fn refused() -> ApiError {
    ApiError::unauthorized("signature verification failed")
}

/// Gusto's first POST carries the token that will sign everything after it, so it
/// cannot be signed itself: it is kept (encrypted, with its time and sender) only
/// while an admin has armed the source, for the admin to claim.
async fn receive_verification_token(
    state: &AppState,
    source: &str,
    sender: &str,
    token: String,
) -> Result<Received, ApiError> {
    let token = zeroize::Zeroizing::new(token);
    let now = crate::store::now();
    if !state
        .store
        .verification_armed(source, now)
        .await
        .map_err(unavailable)?
    {
        return Ok(Received::NotArmed);
    }
    crate::key_rotation::ensure_current(&state.store, &state.keys)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "not sealing a verification token");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "keys_outdated",
                "the token could not be kept; retry later",
            )
        })?;
    let sealed = state
        .keys
        .encrypt(token.as_bytes(), &verification_context(source));
    let mut tx = state.store.begin().await.map_err(unavailable)?;
    let received = tx
        .receive_verification_token(source, sender, &sealed, now)
        .await
        .map_err(unavailable)?;
    if received == Received::Kept {
        tx.append_audit(
            &crate::audit::AuditEntry::new(
                &apply::actor(source),
                "hr.verification_token_received",
                "hr_source",
                Some(source),
            )
            .with_details(json!({"sender": sender})),
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
    }
    Ok(received)
}

/// Any storage failure answers 503, so the sender retries rather than drops the event.
fn unavailable(err: StoreError) -> ApiError {
    tracing::error!(error = %crate::api::error::error_chain(&err), "could not store an HR webhook");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the event could not be stored; retry later",
    )
}
