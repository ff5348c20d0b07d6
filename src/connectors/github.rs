//! GitHub OAuth and GitHub App user tokens: `DELETE /applications/{client_id}/token`
//! (Basic auth with the app's client id and secret) → 204; verified by the check-token
//! call, `POST /applications/{client_id}/token`, answering 404 and the API refusing
//! the token (`GET /user` → 401).

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::options::Options;
use super::{required_secret, retry_after, unreachable, without_url, Revocation, Target, Verdict};

pub struct GitHub {
    api_url: String,
    client_id: String,
    client_secret: SecretString,
}

impl GitHub {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&["api_url", "client_id", "client_secret"])?;
        Ok(Self {
            api_url: options.url("api_url", Some("https://api.github.com"))?,
            client_id: options.required("client_id")?,
            client_secret: options.required_secret("client_secret")?,
        })
    }

    fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        token: &SecretString,
    ) -> reqwest::RequestBuilder {
        http.request(
            method,
            format!("{}/applications/{}/token", self.api_url, self.client_id),
        )
        .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        // GitHub refuses requests without a User-Agent.
        .header("User-Agent", "ownerbound")
        .json(&json!({"access_token": token.expose_secret()}))
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let token = match required_secret(target) {
            Ok(token) => token,
            Err(refusal) => return refusal,
        };
        let response = match self
            .request(http, reqwest::Method::DELETE, token)
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => return unreachable("GitHub", &err),
        };
        let status = response.status().as_u16();
        let exhausted = response
            .headers()
            .get("x-ratelimit-remaining")
            .is_some_and(|v| v.as_bytes() == b"0");
        let after = retry_after(response.headers());
        match status {
            200..=299 => Revocation::Revoked,
            // GitHub signals rate limits with 403 (primary: remaining 0; secondary:
            // Retry-After) or 429.
            403 if exhausted || after.is_some() => Revocation::Retry {
                error: "GitHub rate limit exhausted".into(),
                after,
            },
            429 | 500..=599 => Revocation::Retry {
                error: format!("GitHub answered {status}"),
                after,
            },
            // Unknown or already revoked token: the check-token call tells.
            404 => Revocation::Ambiguous("GitHub answered 404".into()),
            401 => Revocation::Permanent(
                "GitHub refused the app's client_id/client_secret (401)".into(),
            ),
            _ => Revocation::Permanent(format!("GitHub answered {status}")),
        }
    }

    /// Check-token answering 404 only says this app does not know the token (a
    /// personal token, another app's, a wrong client_id). It is dead when the API
    /// itself refuses it too.
    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let Some(token) = target.secret.as_ref() else {
            return Verdict::Unknown("no stored secret to check".into());
        };
        match self
            .request(http, reqwest::Method::POST, token)
            .send()
            .await
        {
            Err(err) => {
                return Verdict::Unknown(format!("GitHub unreachable: {}", without_url(&err)))
            }
            Ok(response) => match response.status().as_u16() {
                200 => return Verdict::Alive,
                404 => {}
                status => return Verdict::Unknown(format!("GitHub check-token answered {status}")),
            },
        }
        let presented = http
            .get(format!("{}/user", self.api_url))
            .bearer_auth(token.expose_secret())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "ownerbound")
            .send()
            .await;
        match presented {
            Err(err) => Verdict::Unknown(format!("GitHub unreachable: {}", without_url(&err))),
            Ok(response) => match response.status().as_u16() {
                401 => Verdict::Dead(
                    "github: check-token answers 404 and the API refuses the token (401)",
                ),
                // Accepted (403: valid, but without access to /user).
                200 | 403 => Verdict::Alive,
                status => Verdict::Unknown(format!("GitHub answered {status} to the token")),
            },
        }
    }
}
