//! Microsoft Entra ID through Microsoft Graph: the delegated permission grants users
//! gave applications (`oauth2PermissionGrant`), which let an app act as that user.
//!
//! - Discovery: `GET /v1.0/oauth2PermissionGrants?$top=100`, paged by
//!   `@odata.nextLink`. Grants with `consentType: Principal` belong to the user
//!   `principalId` (the owner's Entra object id, the identity); the user's `mail` (or
//!   `userPrincipalName`) finds the person. `AllPrincipals` grants are an
//!   administrator's consent for everyone and belong to no person: they are left out.
//! - Revocation: `DELETE /v1.0/oauth2PermissionGrants/{id}`.
//! - Proof: `GET /v1.0/oauth2PermissionGrants/{id}` answers 404.
//!
//! Authenticated as an application (client credentials at `login_url`) with the
//! application permissions `DelegatedPermissionGrant.ReadWrite.All` and `User.Read.All`.

use std::collections::HashMap;

use secrecy::SecretString;
use serde_json::Value;

use super::access_token::AccessToken;
use super::call_error::CallError;
use super::discovery::{Found, FoundOwner, Listing, ListingError, Pace};
use super::options::Options;
use super::{body, Revocation, Target, Verdict};

pub struct MicrosoftGraph {
    graph_url: String,
    access: AccessToken,
}

impl MicrosoftGraph {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&[
            "tenant_id",
            "client_id",
            "client_secret",
            "graph_url",
            "login_url",
        ])?;
        let tenant = options.required("tenant_id")?;
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
        {
            return Err(format!(
                "provider {:?}: tenant_id must be a tenant id or domain",
                options.name()
            ));
        }
        let login = options.url("login_url", Some("https://login.microsoftonline.com"))?;
        let form = vec![
            ("grant_type", SecretString::from("client_credentials")),
            (
                "client_id",
                SecretString::from(options.required("client_id")?),
            ),
            ("client_secret", options.required_secret("client_secret")?),
            (
                "scope",
                SecretString::from("https://graph.microsoft.com/.default"),
            ),
        ];
        Ok(Self {
            graph_url: options.url("graph_url", Some("https://graph.microsoft.com"))?,
            access: AccessToken::new(
                "Microsoft's token endpoint",
                format!("{login}/{tenant}/oauth2/v2.0/token"),
                form,
            ),
        })
    }

    /// Calls Graph at `url` (absolute, on `graph_url`); the status and JSON body.
    async fn call(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
        limit: usize,
    ) -> Result<(u16, Value), CallError> {
        self.access
            .call(http, http.request(method, url), "Graph", limit)
            .await
    }

    fn grant_url(&self, target: &Target) -> Result<String, String> {
        target
            .external_id
            .as_deref()
            .filter(|id| {
                !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            })
            .map(|id| format!("{}/v1.0/oauth2PermissionGrants/{id}", self.graph_url))
            .ok_or_else(|| {
                "a Graph permission grant needs its id (external_id); revoke it by hand".into()
            })
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let url = match self.grant_url(target) {
            Ok(url) => url,
            Err(reason) => return Revocation::Permanent(reason),
        };
        match self.call(http, reqwest::Method::DELETE, &url, body::ANSWER_LIMIT).await {
            Ok((200..=299, _)) => Revocation::Revoked,
            Ok((404, _)) => Revocation::Ambiguous("Graph answered 404".into()),
            Ok((status, _)) => Revocation::Permanent(format!(
                "Graph answered {status}: the application needs DelegatedPermissionGrant.ReadWrite.All"
            )),
            Err(err) => err.into(),
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let url = match self.grant_url(target) {
            Ok(url) => url,
            Err(reason) => return Verdict::Unknown(reason),
        };
        match self
            .call(http, reqwest::Method::GET, &url, body::ANSWER_LIMIT)
            .await
        {
            Ok((404, _)) => Verdict::Dead("graph: the permission grant no longer exists"),
            Ok((200..=299, _)) => Verdict::Alive,
            Ok((status, _)) => Verdict::Unknown(format!("Graph answered {status}")),
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
        let url = match cursor {
            // Only Graph's own next page: the token must not be sent anywhere else.
            Some(next) if next.starts_with(&format!("{}/", self.graph_url)) => next.to_string(),
            Some(_) => {
                return Err(ListingError::Permanent(
                    "Graph's next page is on another host".into(),
                ))
            }
            None => format!("{}/v1.0/oauth2PermissionGrants?$top=100", self.graph_url),
        };
        pace.ready().await;
        let (status, page) = self
            .call(http, reqwest::Method::GET, &url, body::PAGE_LIMIT)
            .await?;
        if status != 200 {
            return Err(ListingError::Permanent(format!(
                "Graph answered {status}: the application needs DelegatedPermissionGrant.ReadWrite.All"
            )));
        }
        let mut emails: HashMap<String, Option<String>> = HashMap::new();
        let mut found = Vec::new();
        for grant in page["value"].as_array().into_iter().flatten() {
            let (Some(id), Some(principal)) = (grant["id"].as_str(), grant["principalId"].as_str())
            else {
                continue;
            };
            if grant["consentType"] != "Principal" {
                continue;
            }
            if !emails.contains_key(principal) {
                pace.ready().await;
                let email = self.user_email(http, principal).await?;
                emails.insert(principal.to_string(), email);
            }
            let client = grant["clientId"].as_str().unwrap_or_default();
            let mut scopes: Vec<String> = grant["scope"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            scopes.sort();
            found.push(Found {
                handle: id.to_string(),
                kind: crate::domain::CredentialKind::Other,
                name: format!("app {client}"),
                group: format!("{principal}/{client}"),
                scopes,
                status: "active".into(),
                created_at: None,
                last_used_at: None,
                expires_at: None,
                owner: FoundOwner {
                    identity: Some(principal.to_string()),
                    email: None,
                    identity_email: emails[principal].clone(),
                },
            });
        }
        Ok(Listing {
            found,
            next: page["@odata.nextLink"].as_str().map(str::to_string),
        })
    }

    /// A user's mail (else userPrincipalName); None when Graph no longer knows them.
    async fn user_email(
        &self,
        http: &reqwest::Client,
        object_id: &str,
    ) -> Result<Option<String>, ListingError> {
        if !object_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Ok(None);
        }
        let url = format!(
            "{}/v1.0/users/{object_id}?$select=id,mail,userPrincipalName",
            self.graph_url
        );
        match self
            .call(http, reqwest::Method::GET, &url, body::ANSWER_LIMIT)
            .await?
        {
            (200, user) => Ok(user["mail"]
                .as_str()
                .or(user["userPrincipalName"].as_str())
                .map(str::to_string)),
            (404, _) => Ok(None),
            (status, _) => Err(ListingError::Permanent(format!(
                "Graph users answered {status}: the application needs User.Read.All"
            ))),
        }
    }
}
