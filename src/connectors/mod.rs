//! Connectors: how ownerbound reaches each provider to revoke a credential and prove
//! it dead. `[[providers]]` entries are read in [`providers`].
//!
//! Each provider response is classified: revoked, ambiguous (verify rather than trust
//! either way), retry (network, timeout, 429, 5xx; honouring `Retry-After`), or a
//! permanent configuration error (alert, no retry). Verification is its own step with
//! three outcomes: dead, still alive, unknown. One file per connector kind.
//!
//! Connectors that can list what a provider holds (`aws_iam`, `vault`, `github_org`,
//! `google_workspace`, `microsoft_graph`, `okta`) also have a
//! discovery side ([`discovery`]), enabled per provider with `discover = true`.

mod access_token;
mod aws_iam;
pub mod body;
mod call_error;
pub mod client;
pub mod discovery;
mod github;
mod github_org;
mod google_workspace;
mod http;
mod microsoft_graph;
mod oauth2;
mod okta;
mod options;
pub mod providers;
mod slack;
mod vault;

use std::time::Duration;

use secrecy::SecretString;

pub use options::DEFAULT_DISCOVER_INTERVAL;
use providers::{ConnectorKind, ProviderConfig};

pub use aws_iam::AwsIam;
pub use github::GitHub;
pub use github_org::GitHubOrg;
pub use google_workspace::GoogleWorkspace;
pub use http::HttpHook;
pub use microsoft_graph::MicrosoftGraph;
pub use oauth2::OAuth2;
pub use okta::Okta;
pub use slack::Slack;
pub use vault::Vault;

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

/// The credential a connector acts on: what ownerbound knows of it, with the secret
/// decrypted in memory for the call only.
pub struct Target {
    pub credential_id: String,
    /// `CredentialKind` as text (`oauth_access_token`, …).
    pub kind: String,
    /// The provider's own id for it (a Vault accessor or lease id, a key id, …).
    pub external_id: Option<String>,
    pub secret: Option<SecretString>,
}

/// A configured connector that calls a provider's API. `manual` providers have none.
pub enum Connector {
    AwsIam(AwsIam),
    OAuth2(OAuth2),
    Vault(Vault),
    GitHub(GitHub),
    GitHubOrg(GitHubOrg),
    GoogleWorkspace(GoogleWorkspace),
    MicrosoftGraph(MicrosoftGraph),
    Okta(Okta),
    Slack(Slack),
    Http(HttpHook),
}

impl Connector {
    /// Builds the connector of a `[[providers]]` entry, resolving its secret
    /// references; `None` for `manual`. Errors name the provider and the key.
    pub fn from_config(
        config: &ProviderConfig,
        warn: &mut dyn FnMut(String),
    ) -> Result<Option<Self>, String> {
        let options = options::Options::new(config, warn);
        options.check_common()?;
        if options.bool("discover", false)? && !DISCOVERING_KINDS.contains(&config.kind) {
            return Err(format!(
                "provider {:?}: kind {:?} cannot discover (discover = true needs aws_iam, vault, github_org, google_workspace, microsoft_graph or okta)",
                config.name, config.kind
            ));
        }
        Ok(Some(match config.kind {
            ConnectorKind::Manual => {
                options.only(&[])?;
                return Ok(None);
            }
            ConnectorKind::AwsIam => Self::AwsIam(AwsIam::new(options)?),
            ConnectorKind::Oauth2 => Self::OAuth2(OAuth2::new(options)?),
            ConnectorKind::Vault => Self::Vault(Vault::new(options)?),
            ConnectorKind::Github => Self::GitHub(GitHub::new(options)?),
            ConnectorKind::GithubOrg => Self::GitHubOrg(GitHubOrg::new(options)?),
            ConnectorKind::GoogleWorkspace => Self::GoogleWorkspace(GoogleWorkspace::new(options)?),
            ConnectorKind::MicrosoftGraph => Self::MicrosoftGraph(MicrosoftGraph::new(options)?),
            ConnectorKind::Okta => Self::Okta(Okta::new(options)?),
            ConnectorKind::Slack => Self::Slack(Slack::new(options)?),
            ConnectorKind::Http => Self::Http(HttpHook::new(options)?),
        }))
    }

    pub async fn revoke(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        match self {
            Self::AwsIam(c) => c.revoke(http, target).await,
            Self::OAuth2(c) => c.revoke(http, target).await,
            Self::Vault(c) => c.revoke(http, target).await,
            Self::GitHub(c) => c.revoke(http, target).await,
            Self::GitHubOrg(c) => c.revoke(http, target).await,
            Self::GoogleWorkspace(c) => c.revoke(http, target).await,
            Self::MicrosoftGraph(c) => c.revoke(http, target).await,
            Self::Okta(c) => c.revoke(http, target).await,
            Self::Slack(c) => c.revoke(http, target).await,
            Self::Http(c) => c.revoke(http, target).await,
        }
    }

    /// One page of what the provider holds, from `cursor` (None: the first page).
    pub async fn discover(
        &self,
        http: &reqwest::Client,
        pace: &dyn discovery::Pace,
        cursor: Option<&str>,
    ) -> Result<discovery::Listing, discovery::ListingError> {
        match self {
            Self::AwsIam(c) => c.discover(http, pace, cursor).await,
            Self::Vault(c) => c.discover(http, pace, cursor).await,
            Self::GitHubOrg(c) => c.discover(http, pace, cursor).await,
            Self::GoogleWorkspace(c) => c.discover(http, pace, cursor).await,
            Self::MicrosoftGraph(c) => c.discover(http, pace, cursor).await,
            Self::Okta(c) => c.discover(http, pace, cursor).await,
            _ => Err(discovery::ListingError::Permanent(
                "this kind of provider cannot discover".into(),
            )),
        }
    }

    /// Whether a credential the last run listed, and this one did not, still exists,
    /// for providers whose listing can skip one (paged by page number, so a credential
    /// removed while a run pages shifts the rest); None when the listing is exact.
    pub async fn still_exists(
        &self,
        http: &reqwest::Client,
        handle: &str,
    ) -> Option<Result<bool, discovery::ListingError>> {
        match self {
            Self::GitHubOrg(c) => Some(c.still_exists(http, handle).await),
            _ => None,
        }
    }

    /// How long after a revocation is proven the credential is deleted at the
    /// provider, for connectors whose revocation is reversible (AWS keys are
    /// deactivated first); None when revocation is final.
    pub fn delete_after(&self) -> Option<Duration> {
        match self {
            Self::AwsIam(c) => Some(c.delete_after()),
            _ => None,
        }
    }

    /// Deletes a revoked credential (see [`Connector::delete_after`]).
    pub async fn delete(&self, http: &reqwest::Client, target: &Target) -> Revocation {
        match self {
            Self::AwsIam(c) => c.delete(http, target).await,
            _ => Revocation::Revoked,
        }
    }

    /// Whether a deleted credential is gone at the provider.
    pub async fn verify_deleted(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        match self {
            Self::AwsIam(c) => c.verify_deleted(http, target).await,
            _ => self.verify(http, target).await,
        }
    }

    pub async fn verify(&self, http: &reqwest::Client, target: &Target) -> Verdict {
        match self {
            Self::AwsIam(c) => c.verify(http, target).await,
            Self::OAuth2(c) => c.verify(http, target).await,
            Self::Vault(c) => c.verify(http, target).await,
            Self::GitHub(c) => c.verify(http, target).await,
            Self::GitHubOrg(c) => c.verify(http, target).await,
            Self::GoogleWorkspace(c) => c.verify(http, target).await,
            Self::MicrosoftGraph(c) => c.verify(http, target).await,
            Self::Okta(c) => c.verify(http, target).await,
            Self::Slack(c) => c.verify(http, target).await,
            Self::Http(c) => c.verify(http, target).await,
        }
    }
}

/// The kinds with a discovery side.
const DISCOVERING_KINDS: &[ConnectorKind] = &[
    ConnectorKind::AwsIam,
    ConnectorKind::Vault,
    ConnectorKind::GithubOrg,
    ConnectorKind::GoogleWorkspace,
    ConnectorKind::MicrosoftGraph,
    ConnectorKind::Okta,
];

/// The secret a connector must present, or the permanent reason it cannot act.
fn required_secret(target: &Target) -> Result<&SecretString, Revocation> {
    target.secret.as_ref().ok_or_else(|| {
        Revocation::Permanent(
            "no stored secret to present to the provider; revoke this credential by hand".into(),
        )
    })
}

/// The verdict of an answer shaped like RFC 7662's: `{"active": false}` proves the
/// credential dead (`how`); `what` names the check in the other outcomes.
async fn active_verdict(
    answer: Result<reqwest::Response, reqwest::Error>,
    what: &str,
    how: &'static str,
) -> Verdict {
    let response = match answer {
        Ok(response) => response,
        Err(err) => return Verdict::Unknown(format!("{what} unreachable: {}", without_url(&err))),
    };
    if !response.status().is_success() {
        return Verdict::Unknown(format!("{what} answered {}", response.status().as_u16()));
    }
    let answer = match body::json(response, body::ANSWER_LIMIT).await {
        Ok(answer) => answer,
        Err(too_large) => return Verdict::Unknown(format!("{what} {too_large}")),
    };
    match answer.get("active").and_then(serde_json::Value::as_bool) {
        Some(false) => Verdict::Dead(how),
        Some(true) => Verdict::Alive,
        None => Verdict::Unknown(format!("{what} answer has no \"active\"")),
    }
}

/// An HTTP call that did not get an answer: always worth retrying.
fn unreachable(what: &str, err: &reqwest::Error) -> Revocation {
    Revocation::Retry {
        error: format!("{what} unreachable: {}", without_url(err)),
        after: None,
    }
}

/// RFC 7009 §2.2 and the providers' known deviations. `error` is the provider's
/// error code, already passed through [`error_code`].
pub fn classify(status: u16, error: Option<&str>, after: Option<Duration>) -> Revocation {
    match status {
        200..=299 => Revocation::Revoked,
        // Redirects are not followed (they would resend the token elsewhere).
        300..=399 => Revocation::Permanent(format!(
            "provider answered {status} (a redirect): configure the final URL"
        )),
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

/// A provider's error code (`invalid_client`, …) if it looks like one. Free text is
/// dropped: it ends up in audit entries and alerts, and a provider may echo what it
/// was sent.
pub fn error_code(body: &serde_json::Value) -> Option<String> {
    body.get("error")
        .and_then(serde_json::Value::as_str)
        .filter(|code| {
            !code.is_empty()
                && code.len() <= 64
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'))
        })
        .map(str::to_string)
}

/// The longest a provider may make us wait before the next attempt.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

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
            return Some(Duration::from_secs(seconds).min(MAX_WAIT));
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
            let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
            return Some(wait.to_std().unwrap_or(Duration::ZERO).min(MAX_WAIT));
        }
    }
    for name in ["x-ratelimit-reset", "x-rate-limit-reset"] {
        if let Some(reset) = get(name).and_then(|v| v.parse::<i64>().ok()) {
            let wait = reset.saturating_sub(chrono::Utc::now().timestamp());
            return Some(Duration::from_secs(wait.max(0) as u64).min(MAX_WAIT));
        }
    }
    None
}

/// Network errors without the URL (it may carry a token in a query string).
pub(crate) fn without_url(err: &reqwest::Error) -> String {
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
        assert!(matches!(
            classify(302, None, None),
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
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "retry-after",
            "Fri, 31 Dec 9999 23:59:59 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(MAX_WAIT));
        headers.insert("retry-after", "99999999999".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_WAIT));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-ratelimit-reset", i64::MIN.to_string().parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    }

    #[test]
    fn only_code_like_errors_are_kept() {
        use serde_json::json;
        assert_eq!(
            error_code(&json!({"error": "invalid_client"})).as_deref(),
            Some("invalid_client")
        );
        assert_eq!(error_code(&json!({"error": "token=abc was refused"})), None);
        assert_eq!(error_code(&json!({"error": 7})), None);
    }
}
