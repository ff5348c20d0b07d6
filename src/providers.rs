//! `[[providers]]`: where credentials are revoked. Each credential names its provider.
//!
//! ```toml
//! [[providers]]
//! name = "it-desk"
//! kind = "manual"      # oauth2 | vault | github | slack | http | manual
//! ```
//! Connector-specific keys (endpoints, client credentials, …) sit beside `name` and
//! `kind`. Available today: `oauth2` (RFC 7009 revocation, RFC 7662 introspection) and
//! `manual` (a task that stays open until someone confirms the revocation). The other
//! connectors are not built yet; their credentials are flagged for a human and their
//! jobs end dead with that reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    Oauth2,
    Vault,
    Github,
    Slack,
    Http,
    Manual,
}

impl ConnectorKind {
    /// Whether ownerbound can act on this kind of provider yet.
    pub fn available(self) -> bool {
        matches!(self, Self::Manual | Self::Oauth2)
    }
}

/// One `[[providers]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ConnectorKind,
    /// Connector-specific settings. Values may be secret references, so they are never
    /// logged; only their keys are.
    #[serde(flatten, skip_serializing)]
    pub options: BTreeMap<String, serde_json::Value>,
}

/// Providers by name; names must be unique. Unavailable kinds are reported so the
/// operator knows those credentials need manual revocation for now.
pub fn index(
    configs: &[ProviderConfig],
    warn: &mut dyn FnMut(String),
) -> Result<BTreeMap<String, ProviderConfig>, String> {
    let mut providers = BTreeMap::new();
    for config in configs {
        if config.name.trim().is_empty() {
            return Err("providers: every provider needs a name".into());
        }
        if !config.kind.available() {
            warn(format!(
                "provider {:?}: the {:?} connector is not available yet; its credentials will be flagged for manual revocation",
                config.name, config.kind
            ));
        }
        if providers
            .insert(config.name.clone(), config.clone())
            .is_some()
        {
            return Err(format!(
                "providers: the name {:?} is used twice",
                config.name
            ));
        }
    }
    Ok(providers)
}
