//! RFC 7009 revocation and RFC 7662 introspection, with the client authentication of
//! RFC 6749 §2.3 and, optionally, the endpoints discovered through RFC 8414 metadata.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::options::Options;
use super::{
    body, classify, required_secret, retry_after, unreachable, without_url, Revocation, Target,
    Verdict,
};

/// How the client authenticates to the revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    Basic,
    Post,
    None,
}

/// Where to send revocations and introspections.
#[derive(Debug, Clone)]
struct Endpoints {
    revocation: String,
    introspection: Option<String>,
}

/// An RFC 7009 / RFC 7662 provider.
pub struct OAuth2 {
    /// Configured endpoints, or discovered once from `issuer` metadata (RFC 8414).
    endpoints: OnceCell<Endpoints>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    auth: ClientAuth,
}

impl OAuth2 {
    pub fn new(mut options: Options) -> Result<Self, String> {
        options.only(&[
            "revocation_endpoint",
            "introspection_endpoint",
            "issuer",
            "client_id",
            "client_secret",
            "client_auth",
        ])?;
        let issuer = match options.text("issuer")? {
            Some(_) => Some(options.url("issuer", None)?),
            None => None,
        };
        let endpoints = OnceCell::new();
        match options.text("revocation_endpoint")? {
            Some(_) => {
                let introspection = match options.text("introspection_endpoint")? {
                    Some(_) => Some(options.url("introspection_endpoint", None)?),
                    None => None,
                };
                endpoints
                    .set(Endpoints {
                        revocation: options.url("revocation_endpoint", None)?,
                        introspection,
                    })
                    .expect("fresh cell");
            }
            None if issuer.is_some() => {}
            None => {
                return Err(format!(
                    "provider {:?} needs revocation_endpoint (or issuer, for RFC 8414 discovery)",
                    options.name()
                ))
            }
        }
        let auth = match options.text("client_auth")?.as_deref() {
            None | Some("client_secret_basic") => ClientAuth::Basic,
            Some("client_secret_post") => ClientAuth::Post,
            Some("none") => ClientAuth::None,
            Some(other) => {
                return Err(format!(
                    "provider {:?}: unknown client_auth {other:?} (client_secret_basic, client_secret_post, none)",
                    options.name()
                ))
            }
        };
        Ok(Self {
            endpoints,
            issuer,
            client_id: options.text("client_id")?,
            client_secret: options.secret("client_secret")?,
            auth,
        })
    }

    /// The endpoints, discovered from `{issuer}/.well-known/oauth-authorization-server`
    /// (then `openid-configuration`) on first use when not configured.
    async fn endpoints(&self, http: &reqwest::Client) -> Result<&Endpoints, Revocation> {
        self.endpoints
            .get_or_try_init(|| async {
                let issuer = self.issuer.as_deref().expect("checked at configuration");
                let mut last = String::new();
                for document in ["oauth-authorization-server", "openid-configuration"] {
                    let url = format!("{issuer}/.well-known/{document}");
                    let response = match http.get(&url).send().await {
                        Ok(response) => response,
                        Err(err) => {
                            last = format!("metadata unreachable: {}", without_url(&err));
                            continue;
                        }
                    };
                    if !response.status().is_success() {
                        last = format!("metadata answered {}", response.status().as_u16());
                        continue;
                    }
                    let metadata = match body::json(response, body::ANSWER_LIMIT).await {
                        Ok(metadata) => metadata,
                        Err(too_large) => {
                            last = format!("metadata {too_large}");
                            continue;
                        }
                    };
                    let text = |key: &str| {
                        metadata
                            .get(key)
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    };
                    // RFC 8414 §3.3: metadata naming another issuer must not be used.
                    if text("issuer").as_deref().map(|i| i.trim_end_matches('/')) != Some(issuer) {
                        last = "metadata names another issuer".into();
                        continue;
                    }
                    if let Some(revocation) = text("revocation_endpoint") {
                        let checked = |endpoint: String| discovered_endpoint(issuer, &endpoint);
                        match (
                            checked(revocation),
                            text("introspection_endpoint").map(checked).transpose(),
                        ) {
                            (Ok(revocation), Ok(introspection)) => {
                                return Ok(Endpoints {
                                    revocation,
                                    introspection,
                                })
                            }
                            (Err(why), _) | (_, Err(why)) => {
                                // Not worth retrying: the metadata says it every time.
                                return Err(Revocation::Permanent(format!(
                                    "RFC 8414 discovery refused the metadata: {why}"
                                )));
                            }
                        }
                    }
                    last = "metadata names no revocation_endpoint".into();
                }
                Err(Revocation::Retry {
                    error: format!("RFC 8414 discovery failed: {last}"),
                    after: None,
                })
            })
            .await
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
            // RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
            ClientAuth::Basic => {
                request.basic_auth(form_encode(&id), secret.map(|secret| form_encode(&secret)))
            }
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

    /// RFC 7009 revocation, with `token_type_hint` from the credential kind.
    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        let token = match required_secret(target) {
            Ok(token) => token.expose_secret(),
            Err(refusal) => return refusal,
        };
        let endpoints = match self.endpoints(http).await {
            Ok(endpoints) => endpoints,
            Err(refusal) => return refusal,
        };
        let mut form = vec![("token".to_string(), token.to_string())];
        let hint = match target.kind.as_str() {
            "oauth_access_token" => Some("access_token"),
            "oauth_refresh_token" => Some("refresh_token"),
            _ => None,
        };
        if let Some(hint) = hint {
            form.push(("token_type_hint".into(), hint.into()));
        }
        let request = self.authenticate(http.post(&endpoints.revocation), &mut form);
        let response = match request.form(&form).send().await {
            Ok(response) => response,
            Err(err) => return unreachable("revocation endpoint", &err),
        };
        let status = response.status();
        let after = retry_after(response.headers());
        // Only an error answer's body says anything (its error code).
        let error = if status.is_success() {
            None
        } else {
            match body::json(response, body::ANSWER_LIMIT).await {
                Ok(body) => super::error_code(&body),
                Err(too_large) => {
                    return Revocation::Permanent(format!("the revocation endpoint {too_large}"))
                }
            }
        };
        classify(status.as_u16(), error.as_deref(), after)
    }

    /// RFC 7662 introspection: `active:false` proves the token dead.
    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        let Some(token) = target.secret.as_ref() else {
            return Verdict::Unknown("no stored secret to introspect".into());
        };
        let endpoint = match self.endpoints(http).await {
            Ok(Endpoints {
                introspection: Some(endpoint),
                ..
            }) => endpoint,
            Ok(_) => return Verdict::Unknown("no introspection endpoint is configured".into()),
            Err(refusal) => return Verdict::Unknown(format!("{refusal:?}")),
        };
        let mut form = vec![("token".to_string(), token.expose_secret().to_string())];
        let request = self.authenticate(http.post(endpoint), &mut form);
        super::active_verdict(
            request.form(&form).send().await,
            "introspection",
            "introspection: active=false",
        )
        .await
    }
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An endpoint named by `issuer`'s metadata, accepted only on the issuer's own host
/// and over https: metadata is fetched over the network, and whoever can change it
/// must not be able to send ownerbound's client credentials and tokens elsewhere or
/// in clear. http is accepted only when the operator configured an http issuer on a
/// loopback address (a provider on the same machine).
fn discovered_endpoint(issuer: &str, endpoint: &str) -> Result<String, String> {
    let issuer = url::Url::parse(issuer).map_err(|_| "the issuer is not a URL".to_string())?;
    let url = url::Url::parse(endpoint).map_err(|_| "an endpoint is not a URL".to_string())?;
    let loopback_http = issuer.scheme() == "http"
        && match issuer.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
    let scheme_ok = url.scheme() == "https" || (loopback_http && url.scheme() == "http");
    if !scheme_ok {
        return Err(format!("{endpoint} is not https"));
    }
    if url.host() != issuer.host() || url.port_or_known_default() != issuer.port_or_known_default()
    {
        return Err(format!("{endpoint} is not on the issuer's host"));
    }
    Ok(endpoint.to_string())
}

#[cfg(test)]
mod discovered_endpoint_tests {
    use super::discovered_endpoint;

    #[test]
    fn only_https_on_the_issuers_host_or_http_on_a_loopback_issuer() {
        let ok = |issuer, endpoint| discovered_endpoint(issuer, endpoint).is_ok();
        assert!(ok(
            "https://idp.example.com",
            "https://idp.example.com/oauth/revoke"
        ));
        assert!(!ok(
            "https://idp.example.com",
            "http://idp.example.com/oauth/revoke"
        ));
        assert!(!ok(
            "https://idp.example.com",
            "https://evil.example.net/revoke"
        ));
        assert!(!ok(
            "https://idp.example.com",
            "https://idp.example.com:8443/revoke"
        ));
        assert!(ok(
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/token/revocation"
        ));
        assert!(!ok(
            "http://127.0.0.1:3000",
            "http://127.0.0.2:3000/token/revocation"
        ));
        assert!(!ok("http://idp.internal", "http://idp.internal/revoke"));
        assert!(!ok("https://idp.example.com", "file:///etc/passwd"));
    }
}
