//! Slack: `auth.revoke` with the token as bearer; verified by `auth.test`. Slack
//! answers errors as HTTP 200 with `ok:false`, so the body decides, not the status.

use secrecy::ExposeSecret;
use serde_json::Value;

use super::options::Options;
use super::{
    body, required_secret, retry_after, unreachable, without_url, Revocation, Target, Verdict,
};

pub struct Slack {
    api_url: String,
}

/// `auth.test` errors that prove the token is dead, with how it was proven.
const DEAD: &[(&str, &str)] = &[
    ("invalid_auth", "slack: auth.test answers invalid_auth"),
    ("token_revoked", "slack: auth.test answers token_revoked"),
    ("token_expired", "slack: auth.test answers token_expired"),
    (
        "account_inactive",
        "slack: auth.test answers account_inactive",
    ),
];

/// `ok:false` errors that are Slack's trouble, not the token's: try again.
const TRANSIENT: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

impl Slack {
    pub fn new(options: Options) -> Result<Self, String> {
        options.only(&["api_url"])?;
        Ok(Self {
            api_url: options.url("api_url", Some("https://slack.com/api"))?,
        })
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        method: &str,
        token: &secrecy::SecretString,
    ) -> Result<
        (
            u16,
            Option<std::time::Duration>,
            Result<Value, body::TooLarge>,
        ),
        reqwest::Error,
    > {
        let response = http
            .post(format!("{}/{method}", self.api_url))
            .bearer_auth(token.expose_secret())
            .send()
            .await?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = body::json(response, body::ANSWER_LIMIT).await;
        Ok((status, after, body))
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let token = match required_secret(target) {
            Ok(token) => token,
            Err(refusal) => return refusal,
        };
        let (status, after, body) = match self.call(http, "auth.revoke", token).await {
            Ok(answer) => answer,
            Err(err) => return unreachable("Slack", &err),
        };
        if (300..400).contains(&status) {
            return Revocation::Permanent(format!(
                "Slack answered {status} (a redirect): configure the final api_url"
            ));
        }
        if status == 429 || status >= 500 {
            return Revocation::Retry {
                error: format!("Slack answered {status}"),
                after,
            };
        }
        let body = match body {
            Ok(body) => body,
            Err(too_large) => return Revocation::Permanent(format!("Slack {too_large}")),
        };
        let error = body.get("error").and_then(Value::as_str).unwrap_or("");
        match body.get("ok").and_then(Value::as_bool) {
            Some(true) => Revocation::Revoked,
            Some(false) if TRANSIENT.contains(&error) => Revocation::Retry {
                error: format!("Slack answered ok:false {error}"),
                after,
            },
            // Already dead, or an error that does not settle it: auth.test tells.
            Some(false) => Revocation::Ambiguous(format!("Slack answered ok:false {error}")),
            None => Revocation::Retry {
                error: format!("Slack answered {status} without \"ok\""),
                after,
            },
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let Some(token) = target.secret.as_ref() else {
            return Verdict::Unknown("no stored secret to test".into());
        };
        let (status, _, body) = match self.call(http, "auth.test", token).await {
            Ok(answer) => answer,
            Err(err) => {
                return Verdict::Unknown(format!("Slack unreachable: {}", without_url(&err)))
            }
        };
        let body = match body {
            Ok(body) => body,
            Err(too_large) => return Verdict::Unknown(format!("Slack {too_large}")),
        };
        let error = body.get("error").and_then(Value::as_str).unwrap_or("");
        match body.get("ok").and_then(Value::as_bool) {
            Some(true) => Verdict::Alive,
            Some(false) => match DEAD.iter().find(|(code, _)| *code == error) {
                Some((_, how)) => Verdict::Dead(how),
                None => Verdict::Unknown(format!("Slack auth.test answered ok:false {error}")),
            },
            None => Verdict::Unknown(format!("Slack auth.test answered {status} without \"ok\"")),
        }
    }
}
