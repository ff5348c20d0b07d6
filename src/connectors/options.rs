//! Reading a `[[providers]]` entry's connector-specific keys, with errors that name
//! the provider and the key, and secret references resolved (`env:`, `file:`).

use secrecy::SecretString;
use serde_json::Value;

use crate::connectors::providers::ProviderConfig;

/// Keys every provider may set, whatever its kind (read by the job queue).
const COMMON_KEYS: &[&str] = &[
    "max_concurrency",
    "rate_limit_per_second",
    "propagation_seconds",
    "call_timeout_seconds",
    "discover",
    "discover_interval_seconds",
];

/// How often a provider with `discover = true` is listed, unless it says otherwise.
pub const DEFAULT_DISCOVER_INTERVAL: u64 = 3600;

pub struct Options<'a> {
    config: &'a ProviderConfig,
    warn: &'a mut dyn FnMut(String),
}

impl<'a> Options<'a> {
    pub fn new(config: &'a ProviderConfig, warn: &'a mut dyn FnMut(String)) -> Self {
        Self { config, warn }
    }

    /// Checks the keys every kind may set, so a bad value stops start-up instead of
    /// misbehaving in a worker.
    pub fn check_common(&self) -> Result<(), String> {
        let name = &self.config.name;
        let get = |key: &str| self.config.options.get(key);
        if let Some(value) = get("max_concurrency") {
            if !value.as_u64().is_some_and(|n| (1..=256).contains(&n)) {
                return Err(format!(
                    "provider {name:?}: max_concurrency must be a whole number from 1 to 256"
                ));
            }
        }
        if let Some(value) = get("rate_limit_per_second") {
            if !value
                .as_f64()
                // A revocation and its verification must fit one job's 30 s wait.
                .is_some_and(|r| (0.1..=100_000.0).contains(&r))
            {
                return Err(format!(
                    "provider {name:?}: rate_limit_per_second must be a number from 0.1 to 100000"
                ));
            }
        }
        if let Some(value) = get("call_timeout_seconds") {
            let most = super::client::MAX_CALL_TIMEOUT.as_secs_f64();
            if !value.as_f64().is_some_and(|s| (0.1..=most).contains(&s)) {
                return Err(format!(
                    "provider {name:?}: call_timeout_seconds must be a number of seconds from 0.1 to {most}"
                ));
            }
        }
        if let Some(value) = get("discover_interval_seconds") {
            if !value
                .as_u64()
                .is_some_and(|n| (60..=7 * 24 * 3600).contains(&n))
            {
                return Err(format!("provider {name:?}: discover_interval_seconds must be a whole number of seconds from 60 to a week"));
            }
        }
        if let Some(value) = get("propagation_seconds") {
            if value.as_u64().is_none_or(|n| n > 7 * 24 * 3600) {
                return Err(format!("provider {name:?}: propagation_seconds must be a whole number of seconds, at most a week"));
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Refuses keys the connector does not know, so a typo is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self
            .config
            .options
            .keys()
            .find(|key| !known.contains(&key.as_str()) && !COMMON_KEYS.contains(&key.as_str()))
        {
            Some(key) => Err(format!(
                "provider {:?}: unknown key {key:?} for kind {:?} (known: {})",
                self.config.name,
                self.config.kind,
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    pub fn text(&self, key: &str) -> Result<Option<String>, String> {
        match self.config.options.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(format!(
                "provider {:?}: {key} must be a string",
                self.config.name
            )),
        }
    }

    pub fn required(&self, key: &str) -> Result<String, String> {
        self.text(key)?
            .ok_or_else(|| format!("provider {:?} needs {key}", self.config.name))
    }

    /// An absolute http(s) URL, without a trailing slash so paths can be appended.
    pub fn url(&self, key: &str, default: Option<&str>) -> Result<String, String> {
        let text = match (self.text(key)?, default) {
            (Some(text), _) => text,
            (None, Some(default)) => default.to_string(),
            (None, None) => return self.required(key),
        };
        match url::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {
                Ok(text.trim_end_matches('/').to_string())
            }
            _ => Err(format!(
                "provider {:?}: {key} must be an http(s) URL",
                self.config.name
            )),
        }
    }

    /// A secret reference (`env:NAME`, `file:PATH`, or a literal, which warns).
    pub fn secret(&mut self, key: &str) -> Result<Option<SecretString>, String> {
        let Some(reference) = self.text(key)? else {
            return Ok(None);
        };
        let name = format!("provider {:?} ({key})", self.config.name);
        crate::secret_ref::resolve(&reference, &name, self.warn)
            .map(Some)
            .map_err(|e| format!("provider {:?}: {key}: {e}", self.config.name))
    }

    pub fn required_secret(&mut self, key: &str) -> Result<SecretString, String> {
        self.secret(key)?
            .ok_or_else(|| format!("provider {:?} needs {key}", self.config.name))
    }

    /// A whole number from 0 to `most`.
    pub fn whole(&self, key: &str, most: u64) -> Result<Option<u64>, String> {
        match self.config.options.get(key) {
            None => Ok(None),
            Some(value) => match value.as_u64().filter(|n| *n <= most) {
                Some(n) => Ok(Some(n)),
                None => Err(format!(
                    "provider {:?}: {key} must be a whole number from 0 to {most}",
                    self.config.name
                )),
            },
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.config.options.get(key) {
            None => Ok(default),
            Some(Value::Bool(value)) => Ok(*value),
            Some(_) => Err(format!(
                "provider {:?}: {key} must be true or false",
                self.config.name
            )),
        }
    }
}
