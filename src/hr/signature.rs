//! Webhook signature schemes, verified on the raw body bytes before anything parses
//! them, in constant time, against every active secret of the source (rotation).

use actix_web::http::header::HeaderMap;
use base64::Engine as _;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::config::{Encoding, HrSource, Scheme};
#[cfg(test)]
use crate::signing::sign;
use crate::signing::Algorithm;

/// Future timestamps are accepted up to this skew between clocks.
pub const FUTURE_SKEW_SECONDS: i64 = 60;
/// Most signatures one header may carry. Senders rotating a secret send two; a
/// header with more is refused before any MAC is computed, so verification costs at
/// most one MAC per configured key, whatever the sender puts in the header.
pub const MAX_CANDIDATES: usize = 4;
/// Longest signature header read: room for [`MAX_CANDIDATES`] SHA-512 signatures
/// in hex with their labels and a timestamp.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 1024;

/// Why a request was refused; a short code for the counters and the audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MissingSignature,
    BadSignature,
    /// More signatures, or a longer header, than any sender needs.
    OversizedSignature,
    MissingTimestamp,
    StaleTimestamp,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::BadSignature => "bad_signature",
            Self::OversizedSignature => "oversized_signature",
            Self::MissingTimestamp => "missing_timestamp",
            Self::StaleTimestamp => "stale_timestamp",
        }
    }
}

/// What verification learnt besides authenticity.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// The sender's message id, when the scheme carries one (Standard Webhooks).
    pub message_id: Option<String>,
}

/// Verifies a request of `source` at time `now`.
pub fn verify(
    source: &HrSource,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, Refusal> {
    match source.scheme {
        Scheme::None => Ok(Verified::default()),
        Scheme::StandardWebhooks => standard_webhooks(source, headers, body, now),
        Scheme::Stripe => stripe(source, headers, body, now),
        Scheme::Github => {
            let value = signature_header(headers, &source.signature_header)?;
            let hex_sig = value.strip_prefix("sha256=").ok_or(Refusal::BadSignature)?;
            let signature = hex::decode(hex_sig.trim()).map_err(|_| Refusal::BadSignature)?;
            any_key_signed(source, Algorithm::Sha256, &[body], &[signature])?;
            Ok(Verified::default())
        }
        Scheme::Hmac => configurable_hmac(source, headers, body, now),
        Scheme::StaticToken => {
            let value = signature_header(headers, &source.token_header)?;
            let value = value.trim();
            let bearer = value.strip_prefix("Bearer ").unwrap_or(value);
            any_key(source, |key| {
                constant_eq(value.as_bytes(), key) || constant_eq(bearer.as_bytes(), key)
            })
        }
        Scheme::Basic => {
            let value = signature_header(headers, "Authorization")?;
            let (scheme, encoded) = value.trim().split_once(' ').ok_or(Refusal::BadSignature)?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(Refusal::BadSignature);
            }
            let credentials = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| Refusal::BadSignature)?;
            any_key(source, |key| constant_eq(&credentials, key))
        }
    }
}

fn standard_webhooks(
    source: &HrSource,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, Refusal> {
    // Svix sends `svix-*` headers; only a missing `webhook-*` header falls back.
    let get = |name: &str| match signature_header(headers, &format!("webhook-{name}")) {
        Err(Refusal::MissingSignature) => signature_header(headers, &format!("svix-{name}")),
        found => found,
    };
    let signatures = get("signature")?;
    let id = get("id")?;
    let timestamp = get("timestamp").map_err(|refusal| match refusal {
        Refusal::MissingSignature => Refusal::MissingTimestamp,
        other => other,
    })?;
    check_timestamp(&timestamp, source.tolerance_seconds, now)?;
    let entries: Vec<&str> = signatures.split_whitespace().collect();
    if entries.len() > MAX_CANDIDATES {
        return Err(Refusal::OversizedSignature);
    }
    let candidates: Vec<Vec<u8>> = entries
        .iter()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .collect();
    let prefix = format!("{id}.{timestamp}.");
    any_key_signed(
        source,
        Algorithm::Sha256,
        &[prefix.as_bytes(), body],
        &candidates,
    )?;
    Ok(Verified {
        message_id: Some(id),
    })
}

fn stripe(
    source: &HrSource,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, Refusal> {
    let value = signature_header(headers, &source.signature_header)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_string()),
            Some(("v1", sig)) => {
                if candidates.len() == MAX_CANDIDATES {
                    return Err(Refusal::OversizedSignature);
                }
                candidates.extend(hex::decode(sig).ok());
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Refusal::MissingTimestamp)?;
    check_timestamp(&timestamp, source.tolerance_seconds, now)?;
    let prefix = format!("{timestamp}.");
    any_key_signed(
        source,
        Algorithm::Sha256,
        &[prefix.as_bytes(), body],
        &candidates,
    )?;
    Ok(Verified::default())
}

fn configurable_hmac(
    source: &HrSource,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, Refusal> {
    let value = signature_header(headers, &source.signature_header)?;
    let value = value.trim();
    let encoded = value
        .strip_prefix(source.signature_prefix.as_str())
        .ok_or(Refusal::BadSignature)?;
    let signature = match source.encoding {
        Encoding::Hex => hex::decode(encoded.trim()).map_err(|_| Refusal::BadSignature)?,
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| Refusal::BadSignature)?,
    };
    if let Some(name) = &source.timestamp_header {
        let timestamp = signature_header(headers, name).map_err(|refusal| match refusal {
            Refusal::MissingSignature => Refusal::MissingTimestamp,
            other => other,
        })?;
        check_timestamp(&timestamp, source.tolerance_seconds, now)?;
    }
    let parts = message_parts(&source.message, headers, body).ok_or(Refusal::MissingSignature)?;
    let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    any_key_signed(source, source.algorithm, &slices, &[signature])?;
    Ok(Verified::default())
}

/// Expands a message template: `{body}` is the raw body, `{header:Name}` a header's
/// value, anything else literal. None when a named header is missing.
fn message_parts(template: &str, headers: &HeaderMap, body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        parts.push(rest.as_bytes()[..start].to_vec());
        let end = rest[start..].find('}')? + start;
        let placeholder = &rest[start + 1..end];
        if placeholder == "body" {
            parts.push(body.to_vec());
        } else if let Some(name) = placeholder.strip_prefix("header:") {
            parts.push(header(headers, name)?.into_bytes());
        } else {
            parts.push(rest.as_bytes()[start..=end].to_vec());
        }
        rest = &rest[end + 1..];
    }
    parts.push(rest.as_bytes().to_vec());
    Some(parts)
}

/// Accepts Unix seconds or RFC 3339 (BambooHR has been seen sending both).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // Unix seconds (10 digits until 2286) or milliseconds (13); nothing else.
        let number: i64 = text.parse().ok()?;
        return match text.len() {
            9 | 10 => DateTime::from_timestamp(number, 0),
            13 => DateTime::from_timestamp_millis(number),
            _ => None,
        };
    }
    let parsed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()?;
    Some(parsed.with_timezone(&Utc)).filter(plausible)
}

/// Dates outside years 1970-9999 are mistakes (and would sort differently as text).
pub fn plausible(at: &DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (1970..=9999).contains(&at.year())
}

fn check_timestamp(text: &str, tolerance_seconds: i64, now: DateTime<Utc>) -> Result<(), Refusal> {
    let at = parse_timestamp(text).ok_or(Refusal::StaleTimestamp)?;
    let age = (now - at).num_seconds();
    if age > tolerance_seconds || -age > FUTURE_SKEW_SECONDS {
        return Err(Refusal::StaleTimestamp);
    }
    Ok(())
}

fn any_key(source: &HrSource, check: impl Fn(&[u8]) -> bool) -> Result<Verified, Refusal> {
    // Every key is tried, so timing does not tell which one matched.
    let mut matched = false;
    for key in &source.keys {
        matched |= check(key.bytes());
    }
    if matched {
        Ok(Verified::default())
    } else {
        Err(Refusal::BadSignature)
    }
}

/// Whether any candidate is the MAC of `message` under any key. Each key's MAC is
/// computed once and every candidate compared with it in constant time, so the work
/// is bounded by the keys configured, not by what the sender wrote; candidates of
/// the wrong length cannot match and cost nothing.
fn any_key_signed(
    source: &HrSource,
    algorithm: Algorithm,
    message: &[&[u8]],
    candidates: &[Vec<u8>],
) -> Result<(), Refusal> {
    let plausible: Vec<&Vec<u8>> = candidates
        .iter()
        .filter(|c| c.len() == algorithm.output_len())
        .collect();
    if plausible.is_empty() {
        return Err(Refusal::BadSignature);
    }
    let mut matched = false;
    for key in &source.keys {
        let expected = crate::signing::sign(algorithm, key.bytes(), message);
        source.macs_computed.fetch_add(1, Ordering::Relaxed);
        for candidate in &plausible {
            matched |= constant_eq(&expected, candidate);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A header that carries a signature, a token or a timestamp: missing, or refused
/// unread when longer than any sender needs.
fn signature_header(headers: &HeaderMap, name: &str) -> Result<String, Refusal> {
    let value = headers.get(name).ok_or(Refusal::MissingSignature)?;
    if value.len() > MAX_SIGNATURE_HEADER_BYTES {
        return Err(Refusal::OversizedSignature);
    }
    value
        .to_str()
        .map(str::to_string)
        .map_err(|_| Refusal::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hr::config::{HrSourceConfig, Preset};
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn source(preset: Preset, scheme: Option<Scheme>, secret: &str) -> HrSource {
        let config: HrSourceConfig = serde_json::from_value(serde_json::json!({
            "name": "s", "preset": preset, "signature": scheme, "secrets": [secret]
        }))
        .unwrap();
        config.resolve(&mut |_| {}).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn standard_webhooks_published_vectors() {
        let vectors = [
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#,
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
            (
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                r#"{"email":"test@example.com","username":"test_user"}"#,
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
        ];
        for (secret, id, ts, body, signature) in vectors {
            let src = source(Preset::Standard, None, secret);
            let now = DateTime::from_timestamp(ts, 0).unwrap();
            let ts = ts.to_string();
            let several = format!("v1,bm90IGl0 {signature}");
            for (prefix, sig) in [("webhook", signature), ("svix", several.as_str())] {
                let h = headers(&[
                    (&format!("{prefix}-id"), id),
                    (&format!("{prefix}-timestamp"), &ts),
                    (&format!("{prefix}-signature"), sig),
                ]);
                let verified = verify(&src, &h, body.as_bytes(), now).unwrap();
                assert_eq!(verified.message_id.as_deref(), Some(id));
            }
            let h = headers(&[
                ("webhook-id", id),
                ("webhook-timestamp", &ts),
                ("webhook-signature", signature),
            ]);
            let mut tampered = body.as_bytes().to_vec();
            tampered[2] ^= 1;
            assert_eq!(
                verify(&src, &h, &tampered, now).unwrap_err(),
                Refusal::BadSignature
            );
            let late = now + chrono::Duration::seconds(301);
            assert_eq!(
                verify(&src, &h, body.as_bytes(), late).unwrap_err(),
                Refusal::StaleTimestamp
            );
            let early = now - chrono::Duration::seconds(FUTURE_SKEW_SECONDS + 1);
            assert_eq!(
                verify(&src, &h, body.as_bytes(), early).unwrap_err(),
                Refusal::StaleTimestamp
            );
        }
    }

    #[test]
    fn github_published_vector() {
        let src = source(
            Preset::Standard,
            Some(Scheme::Github),
            "It's a Secret to Everybody",
        );
        let h = headers(&[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        assert!(verify(&src, &h, b"Hello, World!", Utc::now()).is_ok());
        assert_eq!(
            verify(&src, &h, b"Hello, World?", Utc::now()).unwrap_err(),
            Refusal::BadSignature
        );
        assert_eq!(
            verify(&src, &HeaderMap::new(), b"Hello, World!", Utc::now()).unwrap_err(),
            Refusal::MissingSignature
        );
    }

    #[test]
    fn stripe_style_uses_the_secret_as_bytes() {
        let secret = "whsec_stripe_style_secret_0123456789";
        let src = source(Preset::Standard, Some(Scheme::Stripe), secret);
        let now = Utc::now();
        let t = now.timestamp().to_string();
        let sig = hex::encode(sign(
            Algorithm::Sha256,
            secret.as_bytes(),
            &[format!("{t}.").as_bytes(), b"{}"],
        ));
        let h = headers(&[("Stripe-Signature", &format!("t={t},v0=abc,v1={sig}"))]);
        assert!(verify(&src, &h, b"{}", now).is_ok());
        assert!(verify(&src, &h, b"{ }", now).is_err());
    }
}
