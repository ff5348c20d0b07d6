//! Vault / OpenBao: tokens, token accessors and leases.
//!
//! What is revoked follows from what ownerbound holds:
//! - a stored secret is a Vault token: `POST /v1/auth/token/revoke` with the
//!   connector's own token, or `revoke-self` presenting it when none is configured
//!   (children and leases go with it); verified by `auth/token/lookup` answering
//!   "bad token", or without a token of its own by `lookup-self` calling it "invalid
//!   token" (a bare 403 "permission denied" is also what a live token without the
//!   default policy gets, so it proves nothing);
//! - no secret and an `external_id` with a `/` is a lease id (leases carry their mount
//!   path): `PUT /v1/sys/leases/revoke` with `sync=true`, since without it the
//!   revocation is only queued; verified by `sys/leases/lookup` answering "invalid lease";
//! - no secret and any other `external_id` is a token accessor:
//!   `POST /v1/auth/token/revoke-accessor`; verified by `lookup-accessor` answering "invalid accessor".
//!
//! Disabling an identity entity does not revoke its tokens, so it is never used here.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::discovery::{Found, FoundOwner, Listing, ListingError, Pace};
use super::options::Options;
use super::{body, retry_after, unreachable, without_url, Revocation, Target, Verdict};

pub struct Vault {
    address: String,
    /// ownerbound's own token, needed for accessors and leases.
    token: Option<SecretString>,
    namespace: Option<String>,
}

/// What a Vault credential is, as far as revocation goes.
enum Handle<'a> {
    Token(&'a SecretString),
    Lease(&'a str),
    Accessor(&'a str),
}

impl Vault {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&["address", "token", "namespace"])?;
        Ok(Self {
            address: options.url("address", None)?,
            token: options.secret("token")?,
            namespace: options.text("namespace")?,
        })
    }

    fn handle<'a>(target: &'a Target) -> Result<Handle<'a>, String> {
        match (&target.secret, target.external_id.as_deref()) {
            (Some(secret), _) => Ok(Handle::Token(secret)),
            (None, Some(id)) if id.contains('/') => Ok(Handle::Lease(id)),
            (None, Some(id)) if !id.trim().is_empty() => Ok(Handle::Accessor(id)),
            _ => Err("a Vault credential needs its token (secret), accessor or lease id (external_id); revoke it by hand".into()),
        }
    }

    /// A request to `path` authenticated with `token` (the connector's own by default).
    fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        token: Option<&SecretString>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let token = token.or(self.token.as_ref()).ok_or_else(|| {
            "this Vault credential is revoked with ownerbound's own token: set token on the provider"
                .to_string()
        })?;
        let mut request = http
            .request(method, format!("{}/v1/{path}", self.address))
            .header("X-Vault-Token", token.expose_secret());
        if let Some(namespace) = &self.namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        Ok(request)
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        use reqwest::Method;
        let handle = match Self::handle(target) {
            Ok(handle) => handle,
            Err(reason) => return Revocation::Permanent(reason),
        };
        let (request, presenting_itself) = match handle {
            Handle::Token(token) if self.token.is_none() => (
                self.request(http, Method::POST, "auth/token/revoke-self", Some(token)),
                true,
            ),
            Handle::Token(token) => (
                self.request(http, Method::POST, "auth/token/revoke", None)
                    .map(|r| r.json(&json!({"token": token.expose_secret()}))),
                false,
            ),
            Handle::Lease(lease) => (
                self.request(http, Method::PUT, "sys/leases/revoke", None)
                    .map(|r| r.json(&json!({"lease_id": lease, "sync": true}))),
                false,
            ),
            Handle::Accessor(accessor) => (
                self.request(http, Method::POST, "auth/token/revoke-accessor", None)
                    .map(|r| r.json(&json!({"accessor": accessor}))),
                false,
            ),
        };
        let request = match request {
            Ok(request) => request,
            Err(reason) => return Revocation::Permanent(reason),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return unreachable("Vault", &err),
        };
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let errors = errors(response, target).await;
        match status {
            200..=299 => Revocation::Revoked,
            // Sealed, standby, rate limited: try again.
            429 | 500..=599 => Revocation::Retry {
                error: format!("Vault answered {status}{errors}"),
                after,
            },
            // Already revoked or unknown: only a lookup can tell.
            400 => Revocation::Ambiguous(format!("Vault answered 400{errors}")),
            // A token that cannot revoke itself is invalid only if Vault says so; a
            // live token without the default policy is refused the same way.
            403 if presenting_itself && errors.contains("invalid token") => {
                Revocation::Ambiguous("Vault calls the token itself invalid (403)".into())
            }
            403 if presenting_itself => Revocation::Permanent(format!(
                "Vault refused revoke-self (403{errors}): the token may lack the default policy; \
                 set token on the provider so ownerbound revokes it with its own"
            )),
            _ => Revocation::Permanent(format!(
                "Vault answered {status}{errors}: check the provider's address and its token's policy"
            )),
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        use reqwest::Method;
        let handle = match Self::handle(target) {
            Ok(handle) => handle,
            Err(reason) => return Verdict::Unknown(reason),
        };
        // (request, status and error text that prove it dead, how)
        let (request, dead_status, marker, how) = match handle {
            Handle::Token(token) if self.token.is_some() => (
                self.request(http, Method::POST, "auth/token/lookup", None)
                    .map(|r| r.json(&json!({"token": token.expose_secret()}))),
                403,
                "bad token",
                "vault: auth/token/lookup answers bad token",
            ),
            Handle::Token(token) => (
                self.request(http, Method::GET, "auth/token/lookup-self", Some(token)),
                403,
                "invalid token",
                "vault: lookup-self calls the token invalid",
            ),
            Handle::Lease(lease) => (
                self.request(http, Method::PUT, "sys/leases/lookup", None)
                    .map(|r| r.json(&json!({"lease_id": lease}))),
                400,
                "invalid lease",
                "vault: sys/leases/lookup answers invalid lease",
            ),
            Handle::Accessor(accessor) => (
                self.request(http, Method::POST, "auth/token/lookup-accessor", None)
                    .map(|r| r.json(&json!({"accessor": accessor}))),
                400,
                "invalid accessor",
                "vault: lookup-accessor answers invalid accessor",
            ),
        };
        let request = match request {
            Ok(request) => request,
            Err(reason) => return Verdict::Unknown(reason),
        };
        match request.send().await {
            Err(err) => Verdict::Unknown(format!("Vault unreachable: {}", without_url(&err))),
            Ok(response) => {
                let status = response.status().as_u16();
                if (200..=299).contains(&status) {
                    return Verdict::Alive;
                }
                let errors = errors(response, target).await;
                if status == dead_status && errors.to_lowercase().contains(marker) {
                    Verdict::Dead(how)
                } else if status == 403 && self.token.is_none() {
                    // OpenBao answers a revoked token and a live one without the
                    // default policy alike (403 "permission denied").
                    Verdict::Unknown(format!(
                        "Vault answered 403{errors}, which a revoked token and a live one without \
                         the default policy both get: set token on the provider so ownerbound \
                         can prove it with auth/token/lookup"
                    ))
                } else {
                    Verdict::Unknown(format!("Vault answered {status}{errors}"))
                }
            }
        }
    }
}

/// Accessors looked up per discovery page.
const ACCESSORS_PER_PAGE: usize = 100;

impl Vault {
    /// A page of token accessors: `LIST auth/token/accessors` (unpaged, so a page is
    /// the next [`ACCESSORS_PER_PAGE`] after the cursor, in order), each looked up
    /// with `lookup-accessor`. The owner is the token's identity entity (`entity_id`);
    /// an `owner` or `email` key in its `meta` names an owner email. ownerbound's
    /// own token is left out. Needs `sudo` on `auth/token/accessors` and `update` on
    /// `auth/token/lookup-accessor` and `auth/token/lookup-self`.
    pub async fn discover(
        &self,
        http: &reqwest::Client,
        pace: &dyn Pace,
        cursor: Option<&str>,
    ) -> Result<Listing, ListingError> {
        use reqwest::Method;
        let list = Method::from_bytes(b"LIST").expect("a valid method");
        pace.ready().await;
        let listed = self.read(http, list, "auth/token/accessors", None).await?;
        let mut accessors: Vec<String> = listed["data"]["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        accessors.sort();
        pace.ready().await;
        let own = self
            .read(http, Method::GET, "auth/token/lookup-self", None)
            .await?;
        let own = own["data"]["accessor"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rest: Vec<String> = accessors
            .into_iter()
            .filter(|a| cursor.is_none_or(|after| a.as_str() > after))
            .collect();
        let more = rest.len() > ACCESSORS_PER_PAGE;
        let page = &rest[..rest.len().min(ACCESSORS_PER_PAGE)];
        let mut found = Vec::new();
        for accessor in page.iter().filter(|a| **a != own) {
            pace.ready().await;
            let body = json!({"accessor": accessor});
            let data = match self
                .read(http, Method::POST, "auth/token/lookup-accessor", Some(body))
                .await
            {
                Ok(answer) => answer["data"].clone(),
                // Revoked or expired since the list was read: not there any more.
                Err(ListingError::Permanent(e)) if e.contains("400") => continue,
                Err(other) => return Err(other),
            };
            found.push(found_token(accessor, &data));
        }
        Ok(Listing {
            found,
            next: more.then(|| page.last().cloned()).flatten(),
        })
    }

    /// A discovery call: its JSON answer, or what its failure means.
    async fn read(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ListingError> {
        let mut request = self
            .request(http, method, path, None)
            .map_err(ListingError::Permanent)?;
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|err| ListingError::Retry {
            error: format!("Vault unreachable: {}", without_url(&err)),
            after: None,
        })?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        if (200..=299).contains(&status) {
            let answer = body::bytes(response, body::PAGE_LIMIT)
                .await
                .map_err(|too_large| {
                    ListingError::Permanent(format!("Vault {path} {too_large}"))
                })?;
            return serde_json::from_slice(&answer).map_err(|_| ListingError::Retry {
                error: format!("Vault {path} answered what ownerbound cannot read"),
                after: None,
            });
        }
        let no_target = Target {
            credential_id: String::new(),
            kind: String::new(),
            external_id: None,
            secret: None,
        };
        let errors = errors(response, &no_target).await;
        Err(match status {
            429 | 500..=599 => ListingError::Retry {
                error: format!("Vault {path} answered {status}{errors}"),
                after,
            },
            _ => ListingError::Permanent(format!(
                "Vault {path} answered {status}{errors}: check the provider's token and its policy"
            )),
        })
    }
}

/// A token as `lookup-accessor` describes it.
fn found_token(accessor: &str, data: &Value) -> Found {
    let text = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let meta = |key: &str| data["meta"].get(key).and_then(text);
    let entity = text(&data["entity_id"]);
    let name = text(&data["display_name"]).unwrap_or_else(|| "token".into());
    Found {
        handle: accessor.to_string(),
        kind: crate::domain::CredentialKind::ApiKey,
        group: entity.clone().unwrap_or_else(|| name.clone()),
        name,
        scopes: data["policies"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        status: "active".into(),
        created_at: data["creation_time"]
            .as_i64()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
        last_used_at: None,
        expires_at: super::discovery::rfc3339(&data["expire_time"]),
        owner: FoundOwner {
            identity: entity,
            email: meta("owner"),
            identity_email: meta("email"),
        },
    }
}

/// Vault's `{"errors": [...]}`, shortened and without the target's secret, for the
/// audit and alerts.
async fn errors(response: reqwest::Response, target: &Target) -> String {
    let body = match body::json(response, body::ANSWER_LIMIT).await {
        Ok(body) => body,
        Err(too_large) => return format!("Vault {too_large}"),
    };
    let mut text = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    if let Some(secret) = &target.secret {
        if !secret.expose_secret().is_empty() {
            text = text.replace(secret.expose_secret(), "[redacted]");
        }
    }
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.chars().take(200).collect::<String>())
    }
}
