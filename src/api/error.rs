//! Errors of the admin API as RFC 9457 problem documents with a stable `code`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::inventory::InventoryError;
use crate::store::StoreError;

/// An API error. `code` is stable and machine-readable; `detail` is for humans and
/// never contains a secret.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// A 400 naming the query parameter at fault in `field`.
    pub fn bad_param(name: &str, why: impl std::fmt::Display) -> Self {
        let mut err = Self::bad_request("invalid_query", format!("{name}: {why}"));
        err.field = Some(name.to_string());
        err
    }

    /// A 422 naming the body field at fault in `field`.
    pub fn invalid_field(name: &str, why: impl std::fmt::Display) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("{name}: {why}"),
        );
        err.field = Some(name.to_string());
        err
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// An unexpected failure: logged in full, answered opaquely.
    pub fn internal(err: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error_chain(err), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; see the service log",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.detail
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "type": format!("urn:ownerbound:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ownerbound\""),
            ));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        response.body(body.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::not_found("resource"),
            StoreError::Conflict(msg) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            StoreError::Db(ref db) if is_unavailable(db) => {
                tracing::warn!(error = %error_chain(&err), "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable; retry later",
                )
            }
            other => Self::internal(&other),
        }
    }
}

impl From<InventoryError> for ApiError {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Invalid { field, message } => Self::invalid_field(&field, message),
            InventoryError::NotFound(what) => Self::not_found(what),
            InventoryError::Conflict(msg) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            InventoryError::Store(store) => store.into(),
            InventoryError::Keys(why) => {
                tracing::error!("{why}");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "keys_outdated", why)
            }
        }
    }
}

fn is_unavailable(err: &sqlx::Error) -> bool {
    // 55P03 lock_not_available (lock_timeout), 57014 query_canceled (statement_timeout):
    // the database is busy. 40P01 deadlock_detected, 40001 serialization_failure: this
    // writer lost a race to another. The same request succeeds when retried.
    let busy = err
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| matches!(code.as_ref(), "55P03" | "57014" | "40P01" | "40001"));
    busy || matches!(
        err,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

/// The error and all its sources on one line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        // Wrappers often say their cause already (`database error: {0}`): once is enough.
        let said = cause.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// Describes a deserialisation error without the offending input. serde's messages
/// quote it (`invalid type: string "…"`, ``unknown variant `…` ``), and a caller who put
/// a secret in the wrong field must not see it echoed back, nor find it in the logs.
/// Wrappers put their own words first (actix: `Query deserialize error: …`), so the
/// quoting kinds are looked for anywhere. Field names and the expected types or values
/// stay: they are ours, not the caller's; an unknown field's name is the caller's.
pub fn redact_serde_message(message: &str) -> String {
    let (text, location) = match message.find(" at line ") {
        Some(i) => message.split_at(i),
        None => (message, ""),
    };
    // The earliest kind in the message: what follows it is the caller's.
    let first = [
        "invalid type",
        "invalid value",
        "unknown variant",
        "invalid length",
        "can not parse",
        "cannot parse",
    ]
    .into_iter()
    .filter_map(|kind| text.find(kind).map(|start| (start, kind)))
    .min();
    if let Some((start, kind)) = first {
        let (ours, quoted) = text.split_at(start);
        return match quoted.rfind(", expected ") {
            Some(i) => format!("{ours}{kind}, {}{location}", &quoted[i + 2..]),
            None => format!("{ours}{kind}{location}"),
        };
    }
    if let Some(start) = text.find("unknown field `") {
        let (ours, rest) = text.split_at(start);
        let rest = &rest["unknown field `".len()..];
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let looks_like_a_name = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        let shown = if looks_like_a_name {
            format!(" `{name}`")
        } else {
            String::new()
        };
        return format!("{ours}unknown field{shown}{expected}{location}");
    }
    message.to_string()
}

/// As [`redact_serde_message`], for a query string's errors: not even an unknown
/// parameter's name is repeated, since query strings are where secrets pasted into a
/// URL end up, and a secret looks like a name.
pub fn redact_query_message(message: &str) -> String {
    let redacted = redact_serde_message(message);
    match (
        redacted.find("unknown field `"),
        redacted.find(", expected"),
    ) {
        (Some(start), Some(expected)) if expected > start => format!(
            "{}unknown parameter{}",
            &redacted[..start],
            &redacted[expected..]
        ),
        (Some(start), _) => format!("{}unknown parameter", &redacted[..start]),
        _ => redacted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let io = std::io::Error::other("disk on fire");
        let wrapped = StoreError::Db(sqlx::Error::Io(io));
        let text = error_chain(&wrapped);
        assert_eq!(text.matches("disk on fire").count(), 1, "{text}");
        assert!(text.starts_with("database error"), "{text}");
    }

    #[test]
    fn serde_messages_lose_the_quoted_input() {
        let msg = "invalid type: string \"ghp_secret\", expected a sequence at line 1 column 20";
        let redacted = redact_serde_message(msg);
        assert!(!redacted.contains("ghp_secret"), "{redacted}");
        assert!(redacted.contains("expected a sequence"), "{redacted}");
        let msg = "unknown variant `xoxb-123`, expected one of `api_key`, `other`";
        assert!(!redact_serde_message(msg).contains("xoxb-123"));
        assert_eq!(
            redact_serde_message("missing field `name`"),
            "missing field `name`"
        );
        // actix puts its own words first.
        let msg =
            "Query deserialize error: unknown variant `ob_hostile`, expected `open` or `closed`";
        let redacted = redact_serde_message(msg);
        assert!(!redacted.contains("ob_hostile"), "{redacted}");
        assert!(redacted.starts_with("Query deserialize error: unknown variant, expected `open`"));
        let msg = "Query deserialize error: unknown field `<script>ob_x`, expected `limit`";
        let redacted = redact_query_message(msg);
        assert!(!redacted.contains("ob_x") && redacted.contains("expected `limit`"));
        assert_eq!(
            redact_serde_message("unknown field `owner_emial`, expected `owner_email`"),
            "unknown field `owner_emial`, expected `owner_email`"
        );
        assert_eq!(
            redact_query_message("unknown field `ob_secret`, expected `status`"),
            "unknown parameter, expected `status`"
        );
    }
}
