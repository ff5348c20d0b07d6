//! A GitHub organization's fine-grained personal access tokens: the grants that let
//! members' tokens into the organization.
//!
//! - Discovery: `GET /orgs/{org}/personal-access-tokens?per_page=100`, paged by
//!   `Link: rel="next"`; each grant's `id` (the `pat_id`) is the handle and
//!   `owner.login` the owner's GitHub identity.
//! - Revocation: `POST /orgs/{org}/personal-access-tokens` with
//!   `{"action": "revoke", "pat_ids": [id]}` (202). It removes the organization's
//!   access only: the token itself lives on and still reads public resources, so
//!   `GET /user` proves nothing.
//! - Proof: the grant is gone (`GET /orgs/{org}/personal-access-tokens/{pat_id}/repositories`
//!   answers 404) and, when the token's secret is stored and `private_repo` is set, the
//!   token is refused on that organization-private repository (403 or 404).
//!
//! Authenticated with `token`: a GitHub App installation token with the organization
//! permission "Personal access tokens" (read to discover, write to revoke).

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::discovery::{Found, FoundOwner, Listing, ListingError, Pace};
use super::options::Options;
use super::{body, retry_after, unreachable, without_url, Revocation, Target, Verdict};

pub struct GitHubOrg {
    api_url: String,
    org: String,
    token: SecretString,
    /// An organization-private repository a revoked token must be refused on.
    private_repo: Option<String>,
}

/// What an answer means for a caller that will retry: rate limited (429, or 403 with
/// no requests left) or failing (5xx).
fn transient(response: &reqwest::Response) -> bool {
    let status = response.status().as_u16();
    let exhausted = response
        .headers()
        .get("x-ratelimit-remaining")
        .is_some_and(|v| v.as_bytes() == b"0");
    status == 429 || status >= 500 || (status == 403 && exhausted)
}

impl GitHubOrg {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&["api_url", "org", "token", "private_repo"])?;
        let org = options.required("org")?;
        if org.is_empty() || !org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "provider {:?}: org must be a GitHub organization name",
                options.name()
            ));
        }
        Ok(Self {
            api_url: options.url("api_url", Some("https://api.github.com"))?,
            org,
            token: options.required_secret("token")?,
            private_repo: options.text("private_repo")?,
        })
    }

    fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
    ) -> reqwest::RequestBuilder {
        http.request(method, url)
            .bearer_auth(self.token.expose_secret())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            // GitHub refuses requests without a User-Agent.
            .header("User-Agent", "ownerbound")
    }

    fn grants_url(&self) -> String {
        format!("{}/orgs/{}/personal-access-tokens", self.api_url, self.org)
    }

    fn pat_id(target: &Target) -> Result<i64, String> {
        target
            .external_id
            .as_deref()
            .and_then(|id| id.trim().parse().ok())
            .ok_or_else(|| {
                "a fine-grained token grant needs its pat_id (external_id); revoke it by hand"
                    .into()
            })
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let id = match Self::pat_id(target) {
            Ok(id) => id,
            Err(reason) => return Revocation::Permanent(reason),
        };
        let response = match self
            .request(http, reqwest::Method::POST, &self.grants_url())
            .json(&json!({"action": "revoke", "pat_ids": [id]}))
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => return unreachable("GitHub", &err),
        };
        let status = response.status().as_u16();
        if transient(&response) {
            return Revocation::Retry {
                error: format!("GitHub answered {status}"),
                after: retry_after(response.headers()),
            };
        }
        match status {
            200..=299 => Revocation::Revoked,
            // Unknown or already revoked: the listing tells.
            404 | 422 => Revocation::Ambiguous(format!("GitHub answered {status}")),
            _ => Revocation::Permanent(format!(
                "GitHub answered {status}: the token needs the organization permission \"Personal access tokens\" (write)"
            )),
        }
    }

    /// Whether the organization still grants `pat_id` access; Err: no answer.
    async fn grant_exists(
        &self,
        http: &reqwest::Client,
        pat_id: &str,
    ) -> Result<bool, ListingError> {
        let url = format!("{}/{pat_id}/repositories?per_page=1", self.grants_url());
        let response = self
            .request(http, reqwest::Method::GET, &url)
            .send()
            .await
            .map_err(|err| ListingError::Retry {
                error: format!("GitHub unreachable: {}", without_url(&err)),
                after: None,
            })?;
        if transient(&response) {
            return Err(ListingError::Retry {
                error: format!("GitHub answered {}", response.status().as_u16()),
                after: retry_after(response.headers()),
            });
        }
        match response.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            status => Err(ListingError::Permanent(format!("GitHub answered {status}"))),
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let id = match Self::pat_id(target) {
            Ok(id) => id.to_string(),
            Err(reason) => return Verdict::Unknown(reason),
        };
        match self.grant_exists(http, &id).await {
            Ok(true) => return Verdict::Alive,
            Ok(false) => {}
            Err(error) => return Verdict::Unknown(error.to_string()),
        }
        let (Some(secret), Some(repo)) = (&target.secret, &self.private_repo) else {
            return Verdict::Dead("github: the organization no longer grants the token access");
        };
        let url = format!("{}/repos/{}/{repo}", self.api_url, self.org);
        let answer = http
            .get(&url)
            .bearer_auth(secret.expose_secret())
            .header("Accept", "application/vnd.github+json")
            .header("User-Agent", "ownerbound")
            .send()
            .await;
        match answer {
            Err(err) => Verdict::Unknown(format!("GitHub unreachable: {}", without_url(&err))),
            Ok(r) if matches!(r.status().as_u16(), 403 | 404) => Verdict::Dead(
                "github: the organization no longer grants the token access, and it is refused on an organization-private repository",
            ),
            Ok(r) if r.status().is_success() => Verdict::Alive,
            Ok(r) => Verdict::Unknown(format!("GitHub answered {}", r.status().as_u16())),
        }
    }

    /// Whether a grant the last run listed still exists: the listing is paged by
    /// page number, so a grant revoked while a run pages shifts the rest and one may
    /// be skipped; a skipped grant is not gone.
    pub async fn still_exists(
        &self,
        http: &reqwest::Client,
        handle: &str,
    ) -> Result<bool, ListingError> {
        self.grant_exists(http, handle).await
    }

    pub async fn discover(
        &self,
        http: &reqwest::Client,
        pace: &dyn Pace,
        cursor: Option<&str>,
    ) -> Result<Listing, ListingError> {
        let url = match cursor {
            // Only GitHub's own next page: the token must not be sent anywhere else.
            Some(next) if next.starts_with(&format!("{}/", self.api_url)) => next.to_string(),
            Some(_) => {
                return Err(ListingError::Permanent(
                    "GitHub's next page is on another host".into(),
                ))
            }
            None => format!("{}?per_page=100", self.grants_url()),
        };
        pace.ready().await;
        let response = self
            .request(http, reqwest::Method::GET, &url)
            .send()
            .await
            .map_err(|err| ListingError::Retry {
                error: format!("GitHub unreachable: {}", without_url(&err)),
                after: None,
            })?;
        let status = response.status().as_u16();
        if transient(&response) {
            return Err(ListingError::Retry {
                error: format!("GitHub answered {status}"),
                after: retry_after(response.headers()),
            });
        }
        if !response.status().is_success() {
            return Err(ListingError::Permanent(format!(
                "GitHub answered {status}: the token needs the organization permission \"Personal access tokens\" (read)"
            )));
        }
        let next = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let page = body::bytes(response, body::PAGE_LIMIT)
            .await
            .map_err(|too_large| ListingError::Permanent(format!("GitHub {too_large}")))?;
        let grants: Vec<Value> =
            serde_json::from_slice(&page).map_err(|_| ListingError::Retry {
                error: "GitHub answered what ownerbound cannot read".into(),
                after: None,
            })?;
        Ok(Listing {
            found: grants.iter().filter_map(found_grant).collect(),
            next,
        })
    }
}

/// The `rel="next"` URL of a `Link` header.
pub(super) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// A grant as found; None when it has no id.
fn found_grant(grant: &Value) -> Option<Found> {
    let id = grant["id"].as_i64()?;
    let login = grant["owner"]["login"].as_str().map(str::to_string);
    let name = grant["token_name"].as_str().unwrap_or("token").to_string();
    // "organization:members:read", "repository:contents:write", …
    let mut scopes: Vec<String> = Vec::new();
    if let Some(kinds) = grant["permissions"].as_object() {
        for (kind, permissions) in kinds {
            for (permission, level) in permissions.as_object().into_iter().flatten() {
                scopes.push(format!(
                    "{kind}:{permission}:{}",
                    level.as_str().unwrap_or("")
                ));
            }
        }
    }
    scopes.sort();
    Some(Found {
        handle: id.to_string(),
        kind: crate::domain::CredentialKind::ApiKey,
        group: format!("{}/{name}", login.as_deref().unwrap_or("unknown")),
        name,
        scopes,
        status: if grant["token_expired"].as_bool() == Some(true) {
            "expired".into()
        } else {
            "active".into()
        },
        created_at: super::discovery::rfc3339(&grant["access_granted_at"]),
        last_used_at: super::discovery::rfc3339(&grant["token_last_used_at"]),
        expires_at: super::discovery::rfc3339(&grant["token_expires_at"]),
        owner: FoundOwner {
            identity: login,
            email: None,
            identity_email: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_is_read_from_githubs_link_header() {
        let link = r#"<https://api.github.com/orgs/o/personal-access-tokens?per_page=100&page=2>; rel="next", <https://api.github.com/orgs/o/personal-access-tokens?per_page=100&page=5>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/orgs/o/personal-access-tokens?per_page=100&page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
    }
}
