//! The SCIM 2.0 service provider under `/scim/v2` (RFC 7643, RFC 7644), as Okta,
//! Entra ID, OneLogin and JumpCloud use it. SCIM users are people of the directory;
//! their deactivation is a lifecycle event that drives offboarding.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{self, Next};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub mod agents;
pub mod applications;
pub mod error;
pub mod filter;
pub mod groups;
pub mod list;
pub mod patch;
pub mod resource;
pub mod schema;
pub mod search;
pub mod service_provider;
pub mod sql;
pub mod users;

use error::{ScimError, SCIM_JSON};

use crate::api::auth::{admit, authenticate_request, over_limit};
use crate::api::json::ApiJson;
use crate::domain::Scope;

/// Audit actor and lifecycle source of SCIM changes.
pub const SOURCE: &str = "scim";

/// Registers `/scim/v2`.
pub fn configure(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("/scim/v2")
                .app_data(web::PayloadConfig::new(max_body_bytes))
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    ScimError::invalid_value(crate::api::error::redact_query_message(
                        &err.to_string(),
                    ))
                    .into()
                }))
                .wrap(middleware::from_fn(require_scim_scope))
                .wrap(middleware::from_fn(reject_bad_uri))
                .configure(users::routes)
                .configure(groups::routes)
                .configure(agents::routes)
                .configure(applications::routes)
                .configure(service_provider::routes)
                .configure(search::routes)
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ScimError::not_found("endpoint"))
                })),
        );
    }
}

/// A SCIM resource whose unsupported methods get a SCIM 405.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ScimError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            "this method is not allowed on this resource",
        ))
    }))
}

/// Middleware: a request target that is too long or does not decode (see
/// [`crate::api::uri`]) gets a SCIM error before anything else looks at the request.
async fn reject_bad_uri(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Err(fault) = crate::api::uri::check(req.uri()) {
        return Err(ScimError::from(&fault).into());
    }
    next.call(req).await
}

/// Middleware: a bearer token of scope `scim`.
async fn require_scim_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(limited) = over_limit(&req, "scim", None).await {
        return Err(too_many_requests(limited));
    }
    let caller = authenticate_request(&req).await.map_err(ScimError::from)?;
    if let Some(limited) = over_limit(&req, "scim", Some(&caller)).await {
        return Err(too_many_requests(limited));
    }
    if caller.scope != Scope::Scim {
        return Err(ScimError::new(
            StatusCode::FORBIDDEN,
            None,
            format!(
                "token scope {:?} cannot use SCIM; it needs scope scim",
                caller.scope.as_str()
            ),
        )
        .into());
    }
    admit(&req, caller).await.map_err(ScimError::from)?;
    next.call(req).await
}

/// SCIM's 429 for a request over a limit (RFC 7644 §3.12 defines no `scimType`
/// for it).
fn too_many_requests(limited: crate::inbound::Limited) -> actix_web::Error {
    let error = ScimError::new(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        format!(
            "too many requests; retry after {} s",
            limited.retry_after_seconds()
        ),
    );
    limited.into_error(
        actix_web::ResponseError::error_response(&error),
        "rate limited",
    )
}

/// A JSON body (`application/scim+json` or `application/json`) with SCIM errors.
pub struct ScimJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ScimJson<T> {
    type Error = ScimError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ScimError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let inner = ApiJson::<T>::from_request(req, payload);
        Box::pin(async move {
            inner
                .await
                .map(|json| ScimJson(json.0))
                .map_err(ScimError::from)
        })
    }
}

/// A SCIM response body.
pub fn respond(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Content-Type", SCIM_JSON))
        .body(body.to_string())
}

/// A resource written or read: its body, its `ETag`, and on creation its `Location`
/// (RFC 7644 §3.3).
pub fn respond_resource(status: StatusCode, body: &Value, version: i64) -> HttpResponse {
    let mut response = respond(status, body);
    if status == StatusCode::CREATED {
        if let Some(location) = body["meta"]["location"]
            .as_str()
            .and_then(|l| l.parse().ok())
        {
            response
                .headers_mut()
                .insert(actix_web::http::header::LOCATION, location);
        }
    }
    with_etag(response, version)
}

/// Adds the `ETag` header of a resource version.
pub fn with_etag(mut response: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(value) = resource::etag(version).parse() {
        response
            .headers_mut()
            .insert(actix_web::http::header::ETAG, value);
    }
    response
}

/// The body of a POST or PUT must be a JSON object.
pub fn as_object(body: &Value) -> Result<&serde_json::Map<String, Value>, ScimError> {
    body.as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))
}

/// The base URL of the SCIM service as the client reached it, for `location`.
pub fn base_url(req: &HttpRequest, public_url: Option<&str>) -> String {
    match public_url {
        Some(url) => format!("{}/scim/v2", url.trim_end_matches('/')),
        None => {
            let info = req.connection_info();
            format!("{}://{}/scim/v2", info.scheme(), info.host())
        }
    }
}

/// Checks `If-Match` against the current version (RFC 7644 §3.14).
pub fn check_if_match(req: &HttpRequest, version: i64) -> Result<(), ScimError> {
    let Some(header) = req.headers().get("If-Match") else {
        return Ok(());
    };
    let header = header.to_str().unwrap_or_default().trim();
    if header == "*" {
        return Ok(());
    }
    let current = resource::etag(version);
    let matches = header.split(',').map(str::trim).any(|tag| {
        tag == current || tag.trim_start_matches("W/") == current.trim_start_matches("W/")
    });
    if matches {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "the resource changed since the version in If-Match",
        ))
    }
}
