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
    let caller = authenticate_request(&req).await?;
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
