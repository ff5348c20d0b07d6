//! Google Workspace: the OAuth tokens each user granted to applications, through the
//! Admin SDK Directory API.
//!
//! - Discovery: `GET admin/directory/v1/users?customer=my_customer&maxResults=100`
//!   (paged by `pageToken`), then each user's `GET …/users/{userKey}/tokens` (unpaged).
//!   A token's handle is `{userKey}/{clientId}`: Google keeps one grant per user and
//!   application. The owner is the user: their id is the identity, their primary email
//!   finds the person (and records the identity as theirs).
//! - Revocation: `DELETE …/users/{userKey}/tokens/{clientId}` (every token the user
//!   granted that application).
//! - Proof: `GET …/users/{userKey}/tokens/{clientId}` answers 404.
//!
//! Authenticated as an administrator's OAuth client with a refresh token for the scope
//! `https://www.googleapis.com/auth/admin.directory.user.security` (and
//! `admin.directory.user.readonly` to list users); the access token is refreshed at
//! `token_url` and kept in memory until it expires.

use secrecy::SecretString;
use serde_json::Value;

use super::access_token::AccessToken;
use super::call_error::CallError;
use super::discovery::{Found, FoundOwner, Listing, ListingError, Pace};
use super::options::Options;
use super::{body, Revocation, Target, Verdict};

/// Everything but RFC 3986's unreserved characters is escaped in a path segment
/// (client ids hold dots and hyphens).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

pub struct GoogleWorkspace {
    api_url: String,
    customer: String,
    access: AccessToken,
}

impl GoogleWorkspace {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&[
            "api_url",
            "token_url",
            "client_id",
            "client_secret",
            "refresh_token",
            "customer",
        ])?;
        let token_url = options.url("token_url", Some("https://oauth2.googleapis.com/token"))?;
        let form = vec![
            ("grant_type", SecretString::from("refresh_token")),
            (
                "client_id",
                SecretString::from(options.required("client_id")?),
            ),
            ("client_secret", options.required_secret("client_secret")?),
            ("refresh_token", options.required_secret("refresh_token")?),
        ];
        Ok(Self {
            api_url: options.url("api_url", Some("https://admin.googleapis.com"))?,
            customer: options
                .text("customer")?
                .unwrap_or_else(|| "my_customer".into()),
            access: AccessToken::new("Google's token endpoint", token_url, form),
        })
    }

    /// Calls the Directory API; the answer's status and JSON body.
    async fn call(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        limit: usize,
    ) -> Result<(u16, Value), CallError> {
        let request = http
            .request(
                method,
                format!("{}/admin/directory/v1/{path}", self.api_url),
            )
            .query(query);
        self.access.call(http, request, "Google", limit).await
    }

    fn handle(target: &Target) -> Result<(&str, &str), String> {
        target
            .external_id
            .as_deref()
            .and_then(|h| h.split_once('/'))
            .filter(|(user, client)| !user.is_empty() && !client.is_empty())
            .ok_or_else(|| {
                "a Google token needs its handle userKey/clientId (external_id); revoke it by hand"
                    .into()
            })
    }

    fn token_path(user: &str, client: &str) -> String {
        format!("users/{}/tokens/{}", segment(user), segment(client))
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let (user, client) = match Self::handle(target) {
            Ok(handle) => handle,
            Err(reason) => return Revocation::Permanent(reason),
        };
        match self
            .call(
                http,
                reqwest::Method::DELETE,
                &Self::token_path(user, client),
                &[],
                body::ANSWER_LIMIT,
            )
            .await
        {
            Ok((200..=299, _)) => Revocation::Revoked,
            Ok((404, _)) => Revocation::Ambiguous("Google answered 404".into()),
            Ok((status, _)) => Revocation::Permanent(format!(
                "Google answered {status}: the client needs admin.directory.user.security"
            )),
            Err(err) => err.into(),
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let (user, client) = match Self::handle(target) {
            Ok(handle) => handle,
            Err(reason) => return Verdict::Unknown(reason),
        };
        match self
            .call(
                http,
                reqwest::Method::GET,
                &Self::token_path(user, client),
                &[],
                body::ANSWER_LIMIT,
            )
            .await
        {
            Ok((404, _)) => Verdict::Dead(
                "google: tokens.get no longer knows the user's grant to the application",
            ),
            Ok((200..=299, _)) => Verdict::Alive,
            Ok((status, _)) => Verdict::Unknown(format!("Google answered {status}")),
            Err(CallError::Transient(error, _) | CallError::Permanent(error)) => {
                Verdict::Unknown(error)
            }
        }
    }

    pub async fn discover(
        &self,
        http: &reqwest::Client,
        pace: &dyn Pace,
        cursor: Option<&str>,
    ) -> Result<Listing, ListingError> {
        let mut query = vec![("customer", self.customer.as_str()), ("maxResults", "100")];
        if let Some(page) = cursor {
            query.push(("pageToken", page));
        }
        pace.ready().await;
        let (status, users) = self
            .call(
                http,
                reqwest::Method::GET,
                "users",
                &query,
                body::PAGE_LIMIT,
            )
            .await?;
        if status != 200 {
            return Err(ListingError::Permanent(format!(
                "Google users.list answered {status}: the client needs admin.directory.user.readonly"
            )));
        }
        let mut found = Vec::new();
        for user in users["users"].as_array().into_iter().flatten() {
            let (Some(id), email) = (user["id"].as_str(), user["primaryEmail"].as_str()) else {
                continue;
            };
            pace.ready().await;
            let path = format!("users/{}/tokens", segment(id));
            let (status, tokens) = self
                .call(http, reqwest::Method::GET, &path, &[], body::PAGE_LIMIT)
                .await?;
            match status {
                200 => {}
                // Deleted since the user list was read.
                404 => continue,
                other => {
                    return Err(ListingError::Permanent(format!(
                        "Google tokens.list answered {other}: the client needs admin.directory.user.security"
                    )))
                }
            }
            for token in tokens["items"].as_array().into_iter().flatten() {
                let Some(client) = token["clientId"].as_str() else {
                    continue;
                };
                let name = token["displayText"].as_str().unwrap_or(client).to_string();
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
                    handle: format!("{id}/{client}"),
                    kind: crate::domain::CredentialKind::OauthRefreshToken,
                    group: format!("{id}/{client}"),
                    name,
                    scopes,
                    status: "active".into(),
                    created_at: None,
                    last_used_at: None,
                    expires_at: None,
                    owner: FoundOwner {
                        identity: Some(id.to_string()),
                        email: None,
                        identity_email: email.map(str::to_string),
                    },
                });
            }
        }
        Ok(Listing {
            found,
            next: users["nextPageToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        })
    }
}
