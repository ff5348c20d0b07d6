//! SCIM errors (RFC 7644 §3.12): `application/scim+json` bodies in the Error schema,
//! `status` as a string, with a `scimType` where one applies.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::schema::ERROR;
use crate::api::error::{error_chain, ApiError};
use crate::api::uri::UriFault;
use crate::inventory::InventoryError;
use crate::store::StoreError;

/// Media type of every SCIM response.
pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug, Clone)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad("invalidFilter", detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad("invalidPath", detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad("invalidValue", detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad("invalidSyntax", detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad("mutability", detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad("noTarget", detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("{what} not found"))
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?}: {}",
            self.status.as_u16(),
            self.scim_type,
            self.detail
        )
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ownerbound-scim\""),
            ));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        response.body(body.to_string())
    }
}

/// API errors met on the SCIM side (authentication, body limits) keep their status
/// and message but take the SCIM shape.
impl From<ApiError> for ScimError {
    fn from(err: ApiError) -> Self {
        let scim_type = match err.code {
            "malformed_json" => Some("invalidSyntax"),
            "invalid_body" => Some("invalidValue"),
            _ => None,
        };
        Self::new(err.status, scim_type, err.detail)
    }
}

/// A URL refused before routing. RFC 7644 §3.12 defines no `scimType` for 414.
impl From<&UriFault> for ScimError {
    fn from(fault: &UriFault) -> Self {
        match fault {
            UriFault::TooLong { .. } => {
                Self::new(StatusCode::URI_TOO_LONG, None, fault.to_string())
            }
            // Parameter names match case-insensitively, as `SearchRequest::from_query` reads them.
            _ if fault
                .param()
                .is_some_and(|name| name.eq_ignore_ascii_case("filter")) =>
            {
                Self::invalid_filter(fault.to_string())
            }
            _ => Self::invalid_value(fault.to_string()),
        }
    }
}

impl From<StoreError> for ScimError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::not_found("resource"),
            StoreError::Conflict(msg) => Self::uniqueness(msg),
            other => ApiError::from(other).into(),
        }
    }
}

impl From<InventoryError> for ScimError {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Invalid { field, message } => {
                Self::invalid_value(format!("{field}: {message}"))
            }
            InventoryError::NotFound(what) => Self::not_found(what),
            InventoryError::Conflict(msg) => Self::uniqueness(msg),
            InventoryError::Store(store) => store.into(),
            InventoryError::Keys(why) => {
                tracing::error!("{why}");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, None, why)
            }
        }
    }
}

/// Logs an unexpected failure and answers an opaque 500.
pub fn internal(err: &dyn std::error::Error) -> ScimError {
    tracing::error!(error = %error_chain(err), "SCIM request failed");
    ScimError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "internal error; see the service log",
    )
}
