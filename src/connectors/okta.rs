//! Okta: API tokens (which act with their creator's admin rights) and the OAuth
//! refresh tokens users hold for each app, through the Okta Management API.
//!
//! - Discovery runs in two phases, each paged by `Link: rel="next"`: the org's API
//!   tokens (`GET /api/v1/api-tokens`, owner `userId`), then each user
//!   (`GET /api/v1/users`) with their apps (`…/users/{id}/clients`) and those apps'
//!   refresh tokens (`…/clients/{clientId}/tokens`). The owner's Okta user id is the
//!   identity (what Okta sends as SCIM `externalId`), their `profile.email` finds the
//!   person. Handles: `api-token/{id}` and `{userId}/{clientId}/{tokenId}`.
//! - Revocation: `DELETE /api/v1/api-tokens/{id}`, or
//!   `DELETE /api/v1/users/{userId}/clients/{clientId}/tokens/{tokenId}`.
//! - Proof: a `GET` of the same path answers 404.
//!
//! Authenticated with an API token (`SSWS`) of an admin with `okta.apiTokens.manage`
//! and `okta.users.manage` (read to discover).

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::call_error::CallError;
use super::discovery::{Found, FoundOwner, Listing, ListingError, Pace};
use super::options::Options;
use super::{body, retry_after, without_url, Revocation, Target, Verdict};

pub struct Okta {
    org_url: String,
    token: SecretString,
}

/// Where a page of the listing is: the API tokens, or the users.
const TOKENS: &str = "api-tokens ";
const USERS: &str = "users ";

/// One answer: status, JSON body, the `rel="next"` link.
struct Answer {
    status: u16,
    body: Value,
    next: Option<String>,
}

impl Okta {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&["org_url", "token"])?;
        Ok(Self {
            org_url: options.url("org_url", None)?,
            token: options.required_secret("token")?,
        })
    }

    async fn call(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
        limit: usize,
    ) -> Result<Answer, CallError> {
        let response = http
            .request(method, url)
            .header(
                "Authorization",
                format!("SSWS {}", self.token.expose_secret()),
            )
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                CallError::Transient(format!("Okta unreachable: {}", without_url(&e)), None)
            })?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let next = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(super::github_org::next_link);
        let body = body::json(response, limit).await;
        match status {
            429 | 500..=599 => Err(CallError::Transient(format!("Okta answered {status}"), after)),
            401 | 403 => Err(CallError::Permanent(format!(
                "Okta answered {status}: the token needs okta.apiTokens.manage and okta.users.manage"
            ))),
            _ => Ok(Answer {
                status,
                body: body.map_err(|e| CallError::Permanent(format!("Okta {e}")))?,
                next,
            }),
        }
    }

    /// The API path of a handle.
    fn path(target: &Target) -> Result<String, String> {
        let handle = target.external_id.as_deref().unwrap_or_default();
        let safe = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        };
        let parts: Vec<&str> = handle.split('/').collect();
        match parts.as_slice() {
            ["api-token", id] if safe(id) => Ok(format!("/api/v1/api-tokens/{id}")),
            [user, client, token] if [user, client, token].iter().all(|p| safe(p)) => {
                Ok(format!("/api/v1/users/{user}/clients/{client}/tokens/{token}"))
            }
            _ => Err("an Okta credential needs its handle (api-token/{id} or {userId}/{clientId}/{tokenId}) as external_id; revoke it by hand".into()),
        }
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let path = match Self::path(target) {
            Ok(path) => path,
            Err(reason) => return Revocation::Permanent(reason),
        };
        match self
            .call(
                http,
                reqwest::Method::DELETE,
                &format!("{}{path}", self.org_url),
                body::ANSWER_LIMIT,
            )
            .await
        {
            Ok(a) if (200..=299).contains(&a.status) => Revocation::Revoked,
            Ok(a) if a.status == 404 => Revocation::Ambiguous("Okta answered 404".into()),
            Ok(a) => Revocation::Permanent(format!("Okta answered {}", a.status)),
            Err(err) => err.into(),
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let path = match Self::path(target) {
            Ok(path) => path,
            Err(reason) => return Verdict::Unknown(reason),
        };
        match self
            .call(
                http,
                reqwest::Method::GET,
                &format!("{}{path}", self.org_url),
                body::ANSWER_LIMIT,
            )
            .await
        {
            Ok(a) if a.status == 404 => Verdict::Dead("okta: the token answers 404"),
            Ok(a) if (200..=299).contains(&a.status) => Verdict::Alive,
            Ok(a) => Verdict::Unknown(format!("Okta answered {}", a.status)),
            Err(CallError::Transient(error, _) | CallError::Permanent(error)) => {
                Verdict::Unknown(error)
            }
        }
    }

    /// Only Okta's own next page: the token must not be sent anywhere else.
    fn own(&self, url: &str) -> Result<String, ListingError> {
        if url.starts_with(&format!("{}/", self.org_url)) {
            Ok(url.to_string())
        } else {
            Err(ListingError::Permanent(
                "Okta's next page is on another host".into(),
            ))
        }
    }

    pub async fn discover(
        &self,
        http: &reqwest::Client,
        pace: &dyn Pace,
        cursor: Option<&str>,
    ) -> Result<Listing, ListingError> {
        let cursor = cursor.unwrap_or(TOKENS);
        if let Some(next) = cursor.strip_prefix(TOKENS) {
            let url = if next.is_empty() {
                format!("{}/api/v1/api-tokens", self.org_url)
            } else {
                self.own(next)?
            };
            pace.ready().await;
            let answer = self
                .call(http, reqwest::Method::GET, &url, body::PAGE_LIMIT)
                .await?;
            let mut emails = HashMap::new();
            let mut found = Vec::new();
            for token in answer.body.as_array().into_iter().flatten() {
                let (Some(id), user) = (token["id"].as_str(), token["userId"].as_str()) else {
                    continue;
                };
                let email = match user {
                    Some(user) => self.user_email(http, pace, user, &mut emails).await?,
                    None => None,
                };
                found.push(Found {
                    handle: format!("api-token/{id}"),
                    kind: crate::domain::CredentialKind::ApiKey,
                    name: token["name"].as_str().unwrap_or("API token").to_string(),
                    group: format!("{}/api-token/{id}", user.unwrap_or("unknown")),
                    scopes: Vec::new(),
                    status: "active".into(),
                    created_at: super::discovery::rfc3339(&token["created"]),
                    last_used_at: None,
                    expires_at: super::discovery::rfc3339(&token["expiresAt"]),
                    owner: FoundOwner {
                        identity: user.map(str::to_string),
                        email: None,
                        identity_email: email,
                    },
                });
            }
            let next = match answer.next {
                Some(next) => format!("{TOKENS}{next}"),
                None => USERS.to_string(),
            };
            return Ok(Listing {
                found,
                next: Some(next),
            });
        }
        let next = cursor.strip_prefix(USERS).unwrap_or_default();
        let url = if next.is_empty() {
            format!("{}/api/v1/users?limit=200", self.org_url)
        } else {
            self.own(next)?
        };
        pace.ready().await;
        let users = self
            .call(http, reqwest::Method::GET, &url, body::PAGE_LIMIT)
            .await?;
        let mut found = Vec::new();
        for user in users.body.as_array().into_iter().flatten() {
            let Some(id) = user["id"].as_str() else {
                continue;
            };
            let email = user["profile"]["email"].as_str().map(str::to_string);
            found.extend(self.refresh_tokens(http, pace, id, email).await?);
        }
        Ok(Listing {
            found,
            next: users.next.map(|next| format!("{USERS}{next}")),
        })
    }

    /// A user's refresh tokens for each of their apps.
    async fn refresh_tokens(
        &self,
        http: &reqwest::Client,
        pace: &dyn Pace,
        user: &str,
        email: Option<String>,
    ) -> Result<Vec<Found>, ListingError> {
        pace.ready().await;
        let clients = self
            .call(
                http,
                reqwest::Method::GET,
                &format!("{}/api/v1/users/{user}/clients", self.org_url),
                body::PAGE_LIMIT,
            )
            .await?;
        if clients.status == 404 {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for client in clients.body.as_array().into_iter().flatten() {
            let Some(client_id) = client["client_id"].as_str() else {
                continue;
            };
            let name = client["client_name"]
                .as_str()
                .unwrap_or(client_id)
                .to_string();
            pace.ready().await;
            let url = format!(
                "{}/api/v1/users/{user}/clients/{client_id}/tokens",
                self.org_url
            );
            let tokens = self
                .call(http, reqwest::Method::GET, &url, body::PAGE_LIMIT)
                .await?;
            for token in tokens.body.as_array().into_iter().flatten() {
                let Some(token_id) = token["id"].as_str() else {
                    continue;
                };
                let mut scopes: Vec<String> = token["scopes"]
                    .as_array()
                    .map(|s| {
                        s.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                scopes.sort();
                found.push(Found {
                    handle: format!("{user}/{client_id}/{token_id}"),
                    kind: crate::domain::CredentialKind::OauthRefreshToken,
                    name: name.clone(),
                    group: format!("{user}/{client_id}"),
                    scopes,
                    status: token["status"]
                        .as_str()
                        .unwrap_or("ACTIVE")
                        .to_ascii_lowercase(),
                    created_at: super::discovery::rfc3339(&token["created"]),
                    last_used_at: None,
                    expires_at: super::discovery::rfc3339(&token["expiresAt"]),
                    owner: FoundOwner {
                        identity: Some(user.to_string()),
                        email: None,
                        identity_email: email.clone(),
                    },
                });
            }
        }
        Ok(found)
    }

    /// A user's `profile.email`, looked up once per page.
    async fn user_email(
        &self,
        http: &reqwest::Client,
        pace: &dyn Pace,
        user: &str,
        known: &mut HashMap<String, Option<String>>,
    ) -> Result<Option<String>, ListingError> {
        if let Some(email) = known.get(user) {
            return Ok(email.clone());
        }
        if !user.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        pace.ready().await;
        let answer = self
            .call(
                http,
                reqwest::Method::GET,
                &format!("{}/api/v1/users/{user}", self.org_url),
                body::ANSWER_LIMIT,
            )
            .await?;
        let email = (answer.status == 200)
            .then(|| answer.body["profile"]["email"].as_str().map(str::to_string))
            .flatten();
        known.insert(user.to_string(), email.clone());
        Ok(email)
    }
}
