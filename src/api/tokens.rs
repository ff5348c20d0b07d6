//! `/api/v1/tokens` and `/api/v1/audit`

use actix_web::{web, HttpResponse};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::json::ApiJson;
use crate::access::{create_token, revoke_token, Caller};
use crate::domain::Scope;
use crate::startup::AppState;
use crate::store::StoreError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/tokens")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(super::resource("/tokens/{id}").route(web::delete().to(revoke)))
    .service(super::resource("/audit").route(web::get().to(audit)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    scope: Scope,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = super::page_request(query.limit, query.cursor)?;
    Ok(HttpResponse::Ok().json(state.store.list_tokens_page(&page).await?))
}

async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    let (token, value) = create_token(&state.store, name, body.scope, &caller.actor()).await?;
    let mut body = serde_json::to_value(&token).expect("token serialises");
    // The only time the token value is ever shown.
    body["token"] = json!(value.expose_secret());
    Ok(HttpResponse::Created().json(body))
}

async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match revoke_token(&state.store, &id, &caller.actor()).await {
        Ok(token) => Ok(HttpResponse::Ok().json(token)),
        Err(StoreError::NotFound) => Err(ApiError::not_found("live token")),
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Entries after this sequence number.
    after: Option<i64>,
    limit: Option<i64>,
    subject_kind: Option<String>,
    subject_id: Option<String>,
}

async fn audit(
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_param("limit", "must be between 1 and 1000"));
    }
    let after = query.after.unwrap_or(0);
    let entries = match (&query.subject_kind, &query.subject_id) {
        (Some(kind), Some(id)) => {
            state
                .store
                .audit_for_subject_after(kind, id, after, limit)
                .await?
        }
        (None, None) => state.store.audit_after(after, limit).await?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "give subject_kind and subject_id together",
            ))
        }
    };
    // A full page may have more after it: `after` of the next request.
    let next_after = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "items": entries, "next_after": next_after })))
}
