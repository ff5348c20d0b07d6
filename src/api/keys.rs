//! `/api/v1/keys/rotation`: the master key rotation, begun and watched (admin).
//! The key it rotates to is configured, never sent (see [`rotate`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use secrecy::ExposeSecret;

use super::error::ApiError;
use crate::access::Caller;
use crate::crypto::MasterKey;
use crate::key_rotation::{begin, status, KeyError};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/keys/rotation")
            .route(web::get().to(rotation_status))
            .route(web::post().to(rotate)),
    );
}

/// Begins rotating to the key configured as `next_master_key` on this instance. No
/// key travels over the API, in either direction: a key chosen by whoever holds an
/// admin token, or one shown once in an answer that could be lost, would put every
/// stored secret at that token's mercy. The key must be in the configuration (and
/// so wherever the operator keeps it) before the rotation can begin.
async fn rotate(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let new = state
        .settings
        .next_master_key
        .as_ref()
        .map(|key| MasterKey::parse(key.expose_secret()))
        .transpose()
        .map_err(|err| ApiError::internal(&err))?
        .ok_or_else(|| key_error(KeyError::NoNextKey))?;
    let begun = begin(&state.store, &state.keys, &new, &caller.actor())
        .await
        .map_err(key_error)?;
    Ok(HttpResponse::Accepted().json(begun))
}

async fn rotation_status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(status(&state.store, &state.keys).await.map_err(key_error)?))
}

fn key_error(err: KeyError) -> ApiError {
    match err {
        KeyError::Busy(_) | KeyError::SameKey | KeyError::NoNextKey => {
            ApiError::new(StatusCode::CONFLICT, "rotation_conflict", err.to_string())
        }
        KeyError::Outdated => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "keys_outdated",
            err.to_string(),
        ),
        KeyError::Store(store) => store.into(),
        other => ApiError::internal(&other),
    }
}
