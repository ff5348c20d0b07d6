//! `[[providers]]`: where credentials are revoked. Each credential names its provider.
//!
//! ```toml
//! [[providers]]
//! name = "it-desk"
//! kind = "manual"      # oauth2 | vault | github | github_org | google_workspace | microsoft_graph | okta | slack | http | aws_iam | manual
//! ```
//! Connector-specific keys (endpoints, client credentials, …) sit beside `name` and
//! `kind`; every kind may also set `max_concurrency`, `rate_limit_per_second`,
//! `propagation_seconds` and `call_timeout_seconds`. Connectors are built (and their secret references resolved)
//! at start-up, so a broken entry stops start-up naming the provider and key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::connectors::Connector;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    #[serde(rename = "aws_iam")]
    AwsIam,
    Oauth2,
    Vault,
    Github,
    #[serde(rename = "github_org")]
    GithubOrg,
    #[serde(rename = "google_workspace")]
    GoogleWorkspace,
    #[serde(rename = "microsoft_graph")]
    MicrosoftGraph,
    Okta,
    Slack,
    Http,
    Manual,
}

/// One `[[providers]]` entry.
#[derive(Clone, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ConnectorKind,
    /// Connector-specific settings. Values may be secret references, so they are never
    /// logged; only their keys are.
    #[serde(flatten, skip_serializing)]
    pub options: BTreeMap<String, serde_json::Value>,
}

/// Option values may be literal secrets: `Debug` names the option keys only.
impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A configured provider: its settings and the connector that calls its API
/// (`None` for `manual`, which has no API).
pub struct Provider {
    pub config: ProviderConfig,
    pub connector: Option<Connector>,
}

/// Providers by name; names must be unique and every entry must build.
pub fn index(
    configs: &[ProviderConfig],
    warn: &mut dyn FnMut(String),
) -> Result<BTreeMap<String, Provider>, String> {
    let mut providers = BTreeMap::new();
    for config in configs {
        if config.name.trim().is_empty() {
            return Err("providers: every provider needs a name".into());
        }
        let connector = Connector::from_config(config, warn)?;
        let provider = Provider {
            config: config.clone(),
            connector,
        };
        if providers.insert(config.name.clone(), provider).is_some() {
            return Err(format!(
                "providers: the name {:?} is used twice",
                config.name
            ));
        }
    }
    Ok(providers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_option_keys_but_never_their_values() {
        let config: ProviderConfig = serde_json::from_value(serde_json::json!({
            "name": "idp", "kind": "oauth2", "client_secret": "literal-secret-in-the-file"
        }))
        .unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("client_secret"), "{shown}");
        assert!(!shown.contains("literal-secret-in-the-file"), "{shown}");
    }
}
