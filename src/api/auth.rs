//! Bearer-token authentication and scope checks.

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::error::ApiError;
use crate::access::{authenticate, record_use, Caller};
use crate::domain::Scope;
use crate::startup::AppState;

/// The bearer token of a request, if it has one in the right form.
pub fn bearer_token(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

fn state(req: &ServiceRequest) -> &AppState {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
}

/// The inbound limits in front of authentication: a request over its address's
/// limit is refused before its token is looked up, and one over its token's limit
/// before it runs. `scope` names the endpoint in the coalesced audit line.
pub async fn over_limit(
    req: &ServiceRequest,
    scope: &'static str,
    caller: Option<&Caller>,
) -> Option<crate::inbound::Limited> {
    let state = state(req);
    let limited = match caller {
        None => {
            let address = state.inbound.client_of(req.request());
            state.inbound.check_address(address).err()?
        }
        Some(caller) => state.inbound.check_token(&caller.token_id).err()?,
    };
    count_rate_limited(state, scope).await;
    Some(limited)
}

/// Counts a request refused by a rate limit of `scope` (coalesced in the audit log).
pub async fn count_rate_limited(state: &AppState, scope: &str) {
    if let Err(err) = state
        .rate_limited
        .record(&state.store, scope, "rate_limited")
        .await
    {
        tracing::warn!(error = %err, "could not count a rate-limited request");
    }
}

/// The API's 429 problem for a request over a limit.
pub fn too_many_requests(limited: crate::inbound::Limited) -> actix_web::Error {
    let problem = ApiError::new(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "too many requests; retry after {} s",
            limited.retry_after_seconds()
        ),
    );
    limited.into_error(
        actix_web::ResponseError::error_response(&problem),
        "rate limited",
    )
}

/// Authenticates the request, or fails with 401. Changes nothing: the scope check
/// is left to the caller, which then [`admit`]s the request.
pub async fn authenticate_request(req: &ServiceRequest) -> Result<Caller, ApiError> {
    let token = bearer_token(req)
        .ok_or_else(|| ApiError::unauthorized("missing bearer token (Authorization: Bearer …)"))?;
    authenticate(&state(req).store, &token)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid or revoked token"))
}

/// Lets an authorised request through: records the token's use and stores the
/// [`Caller`] in the request's extensions for handlers.
pub async fn admit(req: &ServiceRequest, caller: Caller) -> Result<(), ApiError> {
    record_use(&state(req).store, &caller).await?;
    req.extensions_mut().insert(caller);
    Ok(())
}

/// Middleware for `/api/v1`: `admin` may do anything, `read` may only read.
pub async fn require_api_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(limited) = over_limit(&req, "api", None).await {
        return Err(too_many_requests(limited));
    }
    let caller = authenticate_request(&req).await?;
    if let Some(limited) = over_limit(&req, "api", Some(&caller)).await {
        return Err(too_many_requests(limited));
    }
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    let allowed = match caller.scope {
        Scope::Admin => true,
        Scope::Read => reading,
        Scope::Scim => false,
    };
    if !allowed {
        let needed = if reading { "admin or read" } else { "admin" };
        return Err(ApiError::forbidden(format!(
            "token scope {:?} cannot do this; it needs scope {needed}",
            caller.scope.as_str()
        ))
        .into());
    }
    admit(&req, caller).await?;
    next.call(req).await
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or_else(|| ApiError::unauthorized("not authenticated")),
        )
    }
}
