//! The JSON body extractor of the admin API.
//!
//! Like `web::Json`, plus one rule both engines need to behave alike: text with a NUL
//! character is refused up front (PostgreSQL cannot store it, SQLite can), so the
//! same request gets the same answer on either engine.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;

use super::error::{redact_serde_message, ApiError};

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req.mime_type().ok().flatten().is_some_and(|m| {
            m.subtype() == actix_web::mime::JSON || m.suffix() == Some(actix_web::mime::JSON)
        });
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ));
            }
            let bytes = body.await.map_err(|err| {
                if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "request body exceeds the configured limit (max_body_bytes)",
                    )
                } else {
                    ApiError::bad_request("invalid_body", "the request body could not be read")
                }
            })?;
            parse(&bytes).map(ApiJson)
        })
    }
}

/// An optional body: empty means the defaults; anything else must parse.
pub fn optional_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse(bytes)
    }
}

/// Parses a body, classifying failures the way API clients need them.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if contains_escaped_nul(bytes) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "text values must not contain NUL (\\u0000) characters",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let code = if e.is_data() {
            "invalid_body"
        } else {
            "malformed_json"
        };
        ApiError::bad_request(code, redact_serde_message(&e.to_string()))
    })
}

/// JSON can only carry NUL as the escape `\u0000` (an unescaped backslash, then u0000).
fn contains_escaped_nul(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if b == b'u' && backslashes % 2 == 1 && bytes[i + 1..].starts_with(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_nul_is_found_but_an_escaped_backslash_is_not() {
        assert!(contains_escaped_nul(br#"{"a":"x\u0000y"}"#));
        assert!(!contains_escaped_nul(br#"{"a":"x\\u0000y"}"#));
        assert!(contains_escaped_nul(br#"{"a":"x\\\u0000y"}"#));
        assert!(!contains_escaped_nul(br#"{"a":"\u0041"}"#));
    }
}
