//! The admin REST API under `/api/v1`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::QueryPayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{middleware, web, HttpRequest};

pub mod agents;
pub mod auth;
mod discoveries;
pub mod error;
pub mod findings;
mod hr;
pub mod json;
mod keys;
pub mod offboarding;
pub mod people;
pub mod reports;
pub mod tokens;
pub mod uri;
mod views;

use error::{redact_query_message, redact_serde_message, ApiError};
use uri::UriFault;

use crate::store::PageRequest;

/// Registers `/api/v1` with its authentication and body rules.
pub fn configure(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/api/v1")
                .app_data(web::PayloadConfig::new(max_body_bytes))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(web::PathConfig::default().error_handler(|err, _| {
                    ApiError::bad_request("invalid_path", redact_serde_message(&err.to_string()))
                        .into()
                }))
                .wrap(middleware::from_fn(auth::require_api_scope))
                .wrap(middleware::from_fn(reject_bad_uri))
                .configure(people::routes)
                .configure(agents::routes)
                .configure(agents::credential_routes)
                .configure(tokens::routes)
                .configure(hr::routes)
                .configure(offboarding::routes)
                .configure(findings::routes)
                .configure(reports::routes)
                .configure(discoveries::routes)
                .configure(keys::routes)
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
        Err::<actix_web::HttpResponse, _>(method_not_allowed())
    }))
}

/// The 405 problem document.
pub fn method_not_allowed() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this resource",
    )
}

/// Middleware: a request target that is too long or does not decode (see [`uri`])
/// gets a problem before anything else looks at the request.
pub async fn reject_bad_uri(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Err(fault) = uri::check(req.uri()) {
        return Err(uri_problem(&fault).into());
    }
    next.call(req).await
}

fn uri_problem(fault: &UriFault) -> ApiError {
    let mut err = match fault {
        UriFault::TooLong { .. } => {
            ApiError::new(StatusCode::URI_TOO_LONG, "uri_too_long", fault.to_string())
        }
        UriFault::Nul(_) | UriFault::NotUtf8(_) => {
            ApiError::bad_request("invalid_request", fault.to_string())
        }
    };
    err.field = fault.param().map(str::to_string);
    err
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", redact_query_message(&err.to_string())).into()
}

/// Validates `limit`/`cursor` query parameters of a list keyed by id.
pub fn page_request(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(PageRequest::DEFAULT_LIMIT);
    if limit == 0 || limit > PageRequest::MAX_LIMIT {
        return Err(ApiError::bad_param(
            "limit",
            format!("must be between 1 and {}", PageRequest::MAX_LIMIT),
        ));
    }
    Ok(PageRequest {
        limit,
        after: cursor
            .filter(|c| !c.is_empty())
            .map(|c| id_cursor(&c))
            .transpose()?,
    })
}

/// The `next_cursor` of an id-keyed page is the id of its last item, a UUID (see
/// `store::new_id`). Anything else would page silently from wherever it happens to
/// sort, so it is refused; a UUID in another spelling is read in the canonical form
/// the ids are stored and compared in.
fn id_cursor(cursor: &str) -> Result<String, ApiError> {
    uuid::Uuid::try_parse(cursor)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::bad_param("cursor", "must be a next_cursor of this list (a UUID)"))
}
