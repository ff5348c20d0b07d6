//! The admin REST API under `/api/v1`.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{middleware, web, HttpRequest};

pub mod agents;
pub mod auth;
pub mod error;
pub mod people;
pub mod tokens;
mod views;

use error::{redact_serde_message, ApiError};

use crate::store::PageRequest;

/// Registers `/api/v1` with its authentication and body rules.
pub fn configure(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/api/v1")
                .app_data(json_config(max_body_bytes))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(web::PathConfig::default().error_handler(|err, _| {
                    ApiError::bad_request("invalid_path", err.to_string()).into()
                }))
                .wrap(middleware::from_fn(auth::require_api_scope))
                .configure(people::routes)
                .configure(agents::routes)
                .configure(agents::credential_routes)
                .configure(tokens::routes)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::not_found("endpoint"))
                })),
        );
    }
}

/// JSON bodies: size-capped before buffering, errors as problem documents.
pub fn json_config(max_body_bytes: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(max_body_bytes)
        .error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body exceeds the configured limit (max_body_bytes)",
            )
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::bad_request("invalid_body", redact_serde_message(&e.to_string()))
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("malformed_json", redact_serde_message(&e.to_string()))
        }
        other => ApiError::bad_request("invalid_body", other.to_string()),
    }
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", redact_serde_message(&err.to_string())).into()
}

/// Validates `limit`/`cursor` query parameters.
pub fn page_request(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(PageRequest::DEFAULT_LIMIT);
    if limit == 0 || limit > PageRequest::MAX_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {}", PageRequest::MAX_LIMIT),
        ));
    }
    Ok(PageRequest {
        limit,
        after: cursor.filter(|c| !c.is_empty()),
    })
}
