//! Bearer-token authentication and scope checks.

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::error::ApiError;
use crate::access::{authenticate, Caller};
use crate::domain::Scope;
use crate::startup::AppState;

/// The bearer token of a request, if it has one in the right form.
pub fn bearer_token(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// Authenticates the request and stores the [`Caller`] in its extensions, or fails
/// with 401. Scope checks are left to the caller.
pub async fn authenticate_request(req: &ServiceRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered");
    let token = bearer_token(req)
        .ok_or_else(|| ApiError::unauthorized("missing bearer token (Authorization: Bearer …)"))?;
    let caller = authenticate(&state.store, &token)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid or revoked token"))?;
    req.extensions_mut().insert(caller.clone());
    Ok(caller)
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
