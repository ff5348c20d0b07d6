//! The admin REST API under `/api/v1`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::QueryPayloadError;
use actix_web::middleware::Next;
use actix_web::{middleware, web, HttpRequest};

pub mod agents;
pub mod auth;
pub mod error;
pub mod findings;
mod hr;
pub mod json;
pub mod offboarding;
pub mod people;
pub mod reports;
pub mod tokens;
mod views;

use error::{redact_serde_message, ApiError};

use crate::store::PageRequest;

/// Registers `/api/v1` with its authentication and body rules.
pub fn configure(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/api/v1")
                .app_data(web::PayloadConfig::new(max_body_bytes))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(web::PathConfig::default().error_handler(|err, _| {
                    ApiError::bad_request("invalid_path", err.to_string()).into()
                }))
                .wrap(middleware::from_fn(auth::require_api_scope))
                .wrap(middleware::from_fn(reject_nul_in_uri))
                .configure(people::routes)
                .configure(agents::routes)
                .configure(agents::credential_routes)
                .configure(tokens::routes)
                .configure(hr::routes)
                .configure(offboarding::routes)
                .configure(findings::routes)
                .configure(reports::routes)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::not_found("endpoint"))
                })),
        );
    }
}

/// A resource whose unsupported methods get a 405 problem document (without this,
/// actix falls through to the enclosing scope's 404).
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<actix_web::HttpResponse, _>(ApiError::new(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this resource",
        ))
    }))
}

/// A NUL byte in a path or query value cannot be stored by PostgreSQL; refuse it up
/// front so both engines answer the same.
pub async fn reject_nul_in_uri(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let uri = req.uri().to_string();
    if uri.contains("%00") || uri.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_request",
            "the URL must not contain NUL characters",
        )
        .into());
    }
    next.call(req).await
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
