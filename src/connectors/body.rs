//! Provider answers read with a byte cap, so a provider (or whoever answers in its
//! place) cannot make ownerbound buffer an unbounded body. The body is streamed and
//! refused once it passes the cap; a `Content-Length` over the cap is refused unread.
//! Over the cap is a permanent error naming the cap: retrying would fetch it again.

use serde_json::Value;

/// Answers to revocation, verification, token and metadata calls: small documents.
pub const ANSWER_LIMIT: usize = 256 * 1024;
/// One page of a discovery listing (IAM's 100 users, a GitHub page of 100 grants,
/// Vault's accessor list of a large cluster).
pub const PAGE_LIMIT: usize = 16 * 1024 * 1024;

/// The answer was larger than the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("answered more than {limit} bytes, which ownerbound refuses to read")]
pub struct TooLarge {
    pub limit: usize,
}

/// The body, at most `limit` bytes. A body cut short by the network reads as what
/// arrived (the callers treat an unreadable answer as they always have).
pub async fn bytes(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, TooLarge> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > limit {
            return Err(TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body as JSON, `Null` when it is not JSON; at most `limit` bytes.
pub async fn json(response: reqwest::Response, limit: usize) -> Result<Value, TooLarge> {
    let body = bytes(response, limit).await?;
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The body as text (lossy); at most `limit` bytes.
pub async fn text(response: reqwest::Response, limit: usize) -> Result<String, TooLarge> {
    let body = bytes(response, limit).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}
