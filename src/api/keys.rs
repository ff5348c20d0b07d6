//! `/api/v1/keys/rotation`: the master key rotation, begun and watched (admin).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

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

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// The new master key (base64 or hex, 32 bytes); generated when absent.
    new_key: Option<SecretString>,
}

/// Begins a rotation. A generated key is in the answer, once: configure it on every
/// instance before the next restart.
async fn rotate(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: RotateRequest = super::json::optional_body(&body)?;
    let (new, generated) = match &request.new_key {
        Some(text) => (
            MasterKey::parse(text.expose_secret()).map_err(|e| {
                let mut err = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    format!("new_key: {e}"),
                );
                err.field = Some("new_key".into());
                err
            })?,
            false,
        ),
        None => (MasterKey::generate(), true),
    };
    let begun = begin(&state.store, &state.keys, &new, &caller.actor())
        .await
        .map_err(key_error)?;
    let mut answer = json!({
        "old_key_id": begun.old_key_id,
        "new_key_id": begun.new_key_id,
        "started": begun.started,
    });
    if generated {
        answer["new_key"] = json!(new.to_base64().as_str());
    }
    Ok(HttpResponse::Accepted().json(answer))
}

async fn rotation_status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(status(&state.store, &state.keys).await.map_err(key_error)?))
}

fn key_error(err: KeyError) -> ApiError {
    match err {
        KeyError::Busy(_) | KeyError::SameKey => {
            ApiError::new(StatusCode::CONFLICT, "rotation_conflict", err.to_string())
        }
        KeyError::Store(store) => store.into(),
        other => ApiError::internal(&other),
    }
}
