//! A signed JSON POST to an internal endpoint, for anything the other connectors do
//! not cover. Signed as Standard Webhooks do (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), so the
//! receiver can use any Standard Webhooks library to check it.
//!
//! Revocation body: `{"type":"credential.revoke","provider":…,"credential":{"id",
//! "kind","external_id"}}` (plus `"secret"` only with `send_secret = true`); any 2xx
//! means revoked, errors are classified like RFC 7009's. Verification sends
//! `"type":"credential.verify"` and expects `{"active": false}` for dead; with
//! `verify = false` the endpoint's acknowledgement is taken as the proof, and the
//! proof says so.

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretBox};
use serde_json::{json, Value};

use super::options::Options;
use super::{body, classify, retry_after, unreachable, Revocation, Target, Verdict};

/// The shortest signing key accepted, as for HR sources.
const MIN_KEY_BYTES: usize = 16;

pub struct HttpHook {
    provider: String,
    url: String,
    key: SecretBox<[u8]>,
    verify: bool,
    send_secret: bool,
}

impl HttpHook {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&["url", "signing_secret", "verify", "send_secret"])?;
        let secret = options.required_secret("signing_secret")?;
        let key = match secret.expose_secret().strip_prefix("whsec_") {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| {
                    format!(
                        "provider {:?}: a whsec_ signing_secret must be base64",
                        options.name()
                    )
                })?,
            None => secret.expose_secret().as_bytes().to_vec(),
        };
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "provider {:?}: signing_secret must be at least {MIN_KEY_BYTES} bytes",
                options.name()
            ));
        }
        Ok(Self {
            provider: options.name().to_string(),
            url: options.url("url", None)?,
            key: SecretBox::new(key.into_boxed_slice()),
            verify: options.bool("verify", true)?,
            send_secret: options.bool("send_secret", false)?,
        })
    }

    async fn post(
        &self,
        http: &reqwest::Client,
        kind: &str,
        target: &Target,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut body = json!({
            "type": kind,
            "provider": self.provider,
            "credential": {
                "id": target.credential_id,
                "kind": target.kind,
                "external_id": target.external_id,
            },
        });
        if self.send_secret {
            if let Some(secret) = &target.secret {
                body["secret"] = Value::String(secret.expose_secret().to_string());
            }
        }
        let body = serde_json::to_vec(&body).expect("JSON values serialise");
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = crate::signing::sign(
            crate::signing::Algorithm::Sha256,
            self.key.expose_secret(),
            &[id.as_bytes(), b".", timestamp.as_bytes(), b".", &body],
        );
        http.post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp)
            .header(
                "webhook-signature",
                format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(signature)
                ),
            )
            .body(body)
            .send()
            .await
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let response = match self.post(http, "credential.revoke", target).await {
            Ok(response) => response,
            Err(err) => return unreachable("the revocation endpoint", &err),
        };
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let error = match body::json(response, body::ANSWER_LIMIT).await {
            Ok(body) => super::error_code(&body),
            Err(too_large) => {
                return Revocation::Permanent(format!("the revocation endpoint {too_large}"))
            }
        };
        match classify(status, error.as_deref(), after) {
            // Without verification nothing could settle an ambiguous answer.
            Revocation::Ambiguous(why) if !self.verify => Revocation::Permanent(format!(
                "{why}, and verification is off (verify = false): check by hand"
            )),
            other => other,
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        if !self.verify {
            return Verdict::Dead(
                "http: acknowledged by the endpoint (verify = false: not checked independently)",
            );
        }
        super::active_verdict(
            self.post(http, "credential.verify", target).await,
            "the verification endpoint",
            "http: the endpoint reports it inactive",
        )
        .await
    }
}
