//! An OAuth access token that a connector gets from its provider's token endpoint
//! (a refresh token for Google, client credentials for Microsoft) and keeps in memory
//! until shortly before it expires.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::call_error::CallError;
use super::{body, retry_after, without_url};

pub struct AccessToken {
    /// The provider's name for it, in errors ("Google's token endpoint").
    what: &'static str,
    url: String,
    /// The token request's form fields; values may be secrets.
    form: Vec<(&'static str, SecretString)>,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

/// Why no token could be had.
pub enum TokenError {
    /// Try again (network, 429, 5xx), after `Retry-After` when given.
    Transient(String, Option<Duration>),
    /// The configured client is refused.
    Permanent(String),
}

impl AccessToken {
    pub fn new(what: &'static str, url: String, form: Vec<(&'static str, SecretString)>) -> Self {
        Self {
            what,
            url,
            form,
            cached: Mutex::new(None),
        }
    }

    /// A live access token, fetched when missing or within 30 s of expiring.
    pub async fn get(&self, http: &reqwest::Client) -> Result<SecretString, TokenError> {
        if let Some((token, until)) = self.cached.lock().expect("not poisoned").as_ref() {
            if *until > Instant::now() + Duration::from_secs(30) {
                return Ok(token.clone());
            }
        }
        let form: Vec<(&str, &str)> = self
            .form
            .iter()
            .map(|(k, v)| (*k, v.expose_secret()))
            .collect();
        let what = self.what;
        let response = http.post(&self.url).form(&form).send().await.map_err(|e| {
            TokenError::Transient(format!("{what} unreachable: {}", without_url(&e)), None)
        })?;
        let status = response.status().as_u16();
        if status == 429 || status >= 500 {
            return Err(TokenError::Transient(
                format!("{what} answered {status}"),
                retry_after(response.headers()),
            ));
        }
        let body: Value = body::json(response, body::ANSWER_LIMIT)
            .await
            .map_err(|e| TokenError::Permanent(format!("{what} {e}")))?;
        let Some(token) = body["access_token"].as_str().filter(|_| status == 200) else {
            return Err(TokenError::Permanent(format!(
                "{what} answered {status}{}: check the provider's client credentials",
                super::error_code(&body)
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default()
            )));
        };
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600));
        let token = SecretString::from(token.to_string());
        *self.cached.lock().expect("not poisoned") =
            Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// Drops the cached token (the API refused it before it expired).
    pub fn forget(&self) {
        *self.cached.lock().expect("not poisoned") = None;
    }

    /// Sends `request` with the access token; the answer's status and JSON body, at
    /// most `limit` bytes (see [`body`]). `api` names the API in errors. A 401 drops
    /// the token (revoked or expired early) and, like 429 and 5xx, is worth retrying.
    pub async fn call(
        &self,
        http: &reqwest::Client,
        request: reqwest::RequestBuilder,
        api: &str,
        limit: usize,
    ) -> Result<(u16, Value), CallError> {
        let token = self.get(http).await?;
        let response = request
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| {
                CallError::Transient(format!("{api} unreachable: {}", without_url(&e)), None)
            })?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = body::json(response, limit).await;
        match status {
            401 => {
                self.forget();
                Err(CallError::Transient(format!("{api} answered 401"), None))
            }
            429 | 500..=599 => Err(CallError::Transient(
                format!("{api} answered {status}"),
                after,
            )),
            _ => Ok((
                status,
                body.map_err(|e| CallError::Permanent(format!("{api} {e}")))?,
            )),
        }
    }
}
