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

use super::options::Options;
use super::{retry_after, unreachable, without_url, Revocation, Target, Verdict};

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
                        "Vault answered 403{errors}, which a revoked token and a live one without                          the default policy both get: set token on the provider so ownerbound                          can prove it with auth/token/lookup"
                    ))
                } else {
                    Verdict::Unknown(format!("Vault answered {status}{errors}"))
                }
            }
        }
    }
}

/// Vault's `{"errors": [...]}`, shortened and without the target's secret, for the
/// audit and alerts.
async fn errors(response: reqwest::Response, target: &Target) -> String {
    let body: Value = response.json().await.unwrap_or(Value::Null);
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
