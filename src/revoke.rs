//! Revoking a credential at its provider and proving it dead.
//!
//! Each provider response is classified: revoked, ambiguous (verify rather than trust
//! either way), retry (network, timeout, 429, 5xx; honouring `Retry-After`), or a
//! permanent configuration error (alert, no retry). Verification is its own step with
//! three outcomes: dead, still alive, unknown.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::providers::ProviderConfig;

/// What a revocation call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Revocation {
    Revoked,
    /// The provider's answer does not settle it (Google/Salesforce 400 `invalid_token`).
    Ambiguous(String),
    Retry {
        error: String,
        after: Option<Duration>,
    },
    Permanent(String),
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Dead(&'static str),
    Alive,
    Unknown(String),
}

/// How the client authenticates to the revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    Basic,
    Post,
    None,
}

/// An RFC 7009 / RFC 7662 provider.
pub struct OAuth2 {
    revocation_endpoint: String,
    introspection_endpoint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    auth: ClientAuth,
}

impl OAuth2 {
    pub fn from_config(config: &ProviderConfig) -> Result<Self, String> {
        let text = |key: &str| {
            config
                .options
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let revocation_endpoint = text("revocation_endpoint")
            .ok_or_else(|| format!("provider {:?} needs revocation_endpoint", config.name))?;
        let auth = match text("client_auth").as_deref() {
            None | Some("client_secret_basic") => ClientAuth::Basic,
            Some("client_secret_post") => ClientAuth::Post,
            Some("none") => ClientAuth::None,
            Some(other) => {
                return Err(format!(
                    "provider {:?}: unknown client_auth {other:?}",
                    config.name
                ))
            }
        };
        let client_secret = match text("client_secret") {
            Some(reference) => Some(crate::hr::config::resolve_secret(
                &reference,
                &config.name,
                &mut |_| {},
            )?),
            None => None,
        };
        Ok(Self {
            revocation_endpoint,
            introspection_endpoint: text("introspection_endpoint"),
            client_id: text("client_id"),
            client_secret,
            auth,
        })
    }

    fn authenticate(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(String, String)>,
    ) -> reqwest::RequestBuilder {
        let id = self.client_id.clone().unwrap_or_default();
        let secret = self
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_string());
        match self.auth {
            ClientAuth::Basic => request.basic_auth(id, secret),
            ClientAuth::Post => {
                form.push(("client_id".into(), id));
                if let Some(secret) = secret {
                    form.push(("client_secret".into(), secret));
                }
                request
            }
            ClientAuth::None => request,
        }
    }

    /// RFC 7009 revocation.
    pub async fn revoke(
        &self,
        http: &reqwest::Client,
        token: &str,
        hint: Option<&str>,
    ) -> Revocation {
        let mut form = vec![("token".to_string(), token.to_string())];
        if let Some(hint) = hint {
            form.push(("token_type_hint".into(), hint.into()));
        }
        let request = self.authenticate(http.post(&self.revocation_endpoint), &mut form);
        let response = match request.form(&form).send().await {
            Ok(response) => response,
            Err(err) => {
                return Revocation::Retry {
                    error: format!("revocation endpoint unreachable: {}", without_url(&err)),
                    after: None,
                }
            }
        };
        let status = response.status();
        let after = retry_after(response.headers());
        let error = response
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
        classify(status.as_u16(), error.as_deref(), after)
    }

    /// RFC 7662 introspection: `active:false` proves the token dead.
    pub async fn verify(&self, http: &reqwest::Client, token: &str) -> Verdict {
        let Some(endpoint) = &self.introspection_endpoint else {
            return Verdict::Unknown("no introspection endpoint is configured".into());
        };
        let mut form = vec![("token".to_string(), token.to_string())];
        let request = self.authenticate(http.post(endpoint), &mut form);
        let response = match request.form(&form).send().await {
            Ok(response) => response,
            Err(err) => {
                return Verdict::Unknown(format!(
                    "introspection unreachable: {}",
                    without_url(&err)
                ))
            }
        };
        if !response.status().is_success() {
            return Verdict::Unknown(format!(
                "introspection answered {}",
                response.status().as_u16()
            ));
        }
        match response
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v.get("active").and_then(Value::as_bool))
        {
            Some(false) => Verdict::Dead("introspection: active=false"),
            Some(true) => Verdict::Alive,
            None => Verdict::Unknown("introspection answer has no \"active\"".into()),
        }
    }
}

/// RFC 7009 §2.2 and the providers' known deviations.
pub fn classify(status: u16, error: Option<&str>, after: Option<Duration>) -> Revocation {
    match status {
        200..=299 => Revocation::Revoked,
        429 | 500..=599 => Revocation::Retry {
            error: format!("provider answered {status}"),
            after,
        },
        400 if error == Some("invalid_token") => Revocation::Ambiguous("400 invalid_token".into()),
        _ => Revocation::Permanent(format!(
            "provider answered {status}{}",
            error.map(|e| format!(" {e}")).unwrap_or_default()
        )),
    }
}

/// `Retry-After` as seconds or HTTP-date, else the rate-limit reset headers (GitHub
/// `x-ratelimit-reset`, Okta `X-Rate-Limit-Reset`, Unix seconds).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = get("retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds.min(24 * 3600)));
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
            let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
            return Some(wait.to_std().unwrap_or(Duration::ZERO));
        }
    }
    for name in ["x-ratelimit-reset", "x-rate-limit-reset"] {
        if let Some(reset) = get(name).and_then(|v| v.parse::<i64>().ok()) {
            let wait = reset - chrono::Utc::now().timestamp();
            return Some(Duration::from_secs(wait.clamp(0, 24 * 3600) as u64));
        }
    }
    None
}

/// Network errors without the URL (it may carry a token in a query string).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<endpoint>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_classified_as_the_rfc_and_providers_require() {
        assert_eq!(classify(200, None, None), Revocation::Revoked);
        assert!(
            matches!(classify(503, None, Some(Duration::from_secs(7))), Revocation::Retry { after: Some(d), .. } if d.as_secs() == 7)
        );
        assert!(matches!(
            classify(429, None, None),
            Revocation::Retry { .. }
        ));
        assert!(matches!(
            classify(400, Some("invalid_token"), None),
            Revocation::Ambiguous(_)
        ));
        assert!(matches!(
            classify(401, Some("invalid_client"), None),
            Revocation::Permanent(_)
        ));
        assert!(matches!(
            classify(400, Some("unsupported_token_type"), None),
            Revocation::Permanent(_)
        ));
    }

    #[test]
    fn retry_after_in_seconds_dates_and_reset_headers() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "120".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        headers.insert("retry-after", later.parse().unwrap());
        let wait = retry_after(&headers).unwrap().as_secs();
        assert!((80..=90).contains(&wait), "{wait}");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-ratelimit-reset",
            (chrono::Utc::now().timestamp() + 30)
                .to_string()
                .parse()
                .unwrap(),
        );
        assert!(retry_after(&headers).unwrap().as_secs() <= 30);
    }
}
