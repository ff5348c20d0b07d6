//! Configuration: defaults → TOML file → `OWNERBOUND_*` environment → validation.
//!
//! Every secret setting is a [`SecretString`] and also accepts a `*_FILE` variant
//! (Docker/Kubernetes secrets). Unknown `OWNERBOUND_*` variables are reported as
//! warnings so a typo is visible; unknown keys in the TOML file are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::alerts::AlertConfig;
use crate::findings::Catalogue;
use crate::report::delivery::ReportConfig;
use crate::report::schedule::Schedule;

/// Default TOML file read when `OWNERBOUND_CONFIG` is not set and the file exists.
pub const DEFAULT_CONFIG_FILE: &str = "ownerbound.toml";
const ENV_PREFIX: &str = "OWNERBOUND_";

/// Environment variables that belong to ownerbound but are not settings.
const NON_SETTING_VARS: &[&str] = &["config", "log"];
/// Prefixes of environment variables used by the test-suite, not by the service.
const NON_SETTING_PREFIXES: &[&str] = &["test_"];

/// Error raised when configuration cannot be loaded or is invalid. The message
/// always names the setting at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

pub use crate::inbound::RateLimitSettings;
pub use crate::store::Engine;
pub use crate::telemetry::LogFormat;

/// All settings. Field names are the TOML keys; the environment variable is the
/// upper-cased name with the `OWNERBOUND_` prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP server binds (`OWNERBOUND_LISTEN`).
    pub listen: String,
    /// `sqlite://path` (default `sqlite://ownerbound.db`) or `postgres://…`.
    #[serde(serialize_with = "serialize_secret")]
    pub database_url: SecretString,
    /// File holding the database URL (it may contain a password).
    pub database_url_file: Option<PathBuf>,
    /// 32-byte key, base64 or hex, that encrypts stored credential secrets.
    #[serde(serialize_with = "serialize_secret_option")]
    pub master_key: Option<SecretString>,
    /// File holding the master key.
    pub master_key_file: Option<PathBuf>,
    /// The key `POST /api/v1/keys/rotation` rotates to: configured (and so kept
    /// somewhere durable) before the rotation begins, never sent over the API.
    #[serde(serialize_with = "serialize_secret_option")]
    pub next_master_key: Option<SecretString>,
    /// File holding the next master key.
    pub next_master_key_file: Option<PathBuf>,
    /// Admin token installed at start-up when no admin token exists.
    #[serde(serialize_with = "serialize_secret_option")]
    pub bootstrap_admin_token: Option<SecretString>,
    /// File holding the bootstrap admin token.
    pub bootstrap_admin_token_file: Option<PathBuf>,
    /// `text` (default) or `json`.
    pub log_format: LogFormat,
    /// Largest accepted request body in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Public base URL of this service, used for links in emails and SCIM `location`.
    pub public_url: Option<String>,
    /// SMTP server for alerts and reports: `smtp://`, `smtps://`, with optional credentials.
    #[serde(serialize_with = "serialize_secret_option")]
    pub smtp_url: Option<SecretString>,
    /// File holding the SMTP URL.
    pub smtp_url_file: Option<PathBuf>,
    /// PEM file of the certificate authorities to trust for the SMTP server's TLS
    /// (an internal relay with a private CA); the public web roots otherwise.
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender address of alerts and reports.
    pub report_from: Option<String>,
    /// Recipients of alerts and reports, comma-separated.
    pub report_to: Option<String>,
    /// Cron schedule of the weekly report: 5 fields, or 6 with seconds first
    /// (default `0 8 * * MON`, Mondays 08:00).
    pub report_schedule: String,
    /// IANA time zone the schedule is read in (default `UTC`).
    pub report_timezone: String,
    /// How often the report schedule is checked, in seconds.
    pub report_check_interval_seconds: u64,
    /// HR systems sending offboarding webhooks (`[[hr_sources]]`, TOML only).
    pub hr_sources: Vec<crate::hr::config::HrSourceConfig>,
    /// How often future-dated HR terminations are checked, in seconds.
    pub hr_scheduler_interval_seconds: u64,
    /// Credentials shared with agents of people still active: `revoke` (default; the
    /// collateral is named) or `hold` (left for a human).
    pub shared_credentials: crate::offboarding::SharedPolicy,
    /// Job workers in this instance for jobs that call no provider (opening cases,
    /// alerts, reports); provider calls run beside them, up to each provider's
    /// `max_concurrency`. 0: this instance runs no jobs (another instance or the
    /// tests do).
    pub job_workers: usize,
    /// How long a failing job (a revocation, an alert, …) keeps being retried before
    /// it is dead and escalated, in seconds (default a day). A revocation dead of its
    /// deadline is re-driven as soon as its provider answers again.
    pub retry_deadline_seconds: u64,
    /// Where credentials are revoked (`[[providers]]`, TOML only).
    pub providers: Vec<crate::connectors::providers::ProviderConfig>,
    /// Findings of the weekly report: extra broad scopes, rotation cadences (`[findings]`).
    pub findings: crate::findings::FindingsConfig,
    /// Inbound request limits (`[rate_limits]`).
    pub rate_limits: RateLimitSettings,
    /// The SCIM service provider (`[scim]`).
    pub scim: ScimSettings,
    /// Stored secrets sealed again per transaction during a master key rotation.
    pub key_rotation_batch_size: u32,
    /// Pause between those transactions, in milliseconds, leaving the database to
    /// other writers.
    pub key_rotation_pause_ms: u64,
    /// Allow `smtp://user:password@…` without TLS, sending the password and every
    /// report in clear. Only for a relay on a network you trust.
    pub smtp_insecure_allow_plaintext_auth: bool,
}

/// `[scim]`: how the SCIM service provider describes itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimSettings {
    /// Serve draft-abbey-scim-agent-extension's `agentExtension` block in the
    /// ServiceProviderConfig: for identity providers that require the abbey draft's
    /// block; breaks strict clients, which accept only RFC 7643 §5's attributes there.
    /// Agents and AgenticApplications are announced the RFC way either way, through
    /// `/ResourceTypes` and `/Schemas`.
    pub advertise_agent_extension: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: SecretString::from("sqlite://ownerbound.db"),
            database_url_file: None,
            master_key: None,
            master_key_file: None,
            next_master_key: None,
            next_master_key_file: None,
            bootstrap_admin_token: None,
            bootstrap_admin_token_file: None,
            log_format: LogFormat::Text,
            max_body_bytes: 1024 * 1024,
            public_url: None,
            smtp_url: None,
            smtp_url_file: None,
            smtp_ca_file: None,
            report_from: None,
            report_to: None,
            report_schedule: "0 8 * * MON".into(),
            report_timezone: "UTC".into(),
            report_check_interval_seconds: 60,
            hr_sources: Vec::new(),
            hr_scheduler_interval_seconds: 15,
            shared_credentials: crate::offboarding::SharedPolicy::Revoke,
            job_workers: 2,
            retry_deadline_seconds: 24 * 60 * 60,
            providers: Vec::new(),
            findings: crate::findings::FindingsConfig::default(),
            rate_limits: RateLimitSettings::default(),
            scim: ScimSettings::default(),
            key_rotation_batch_size: 100,
            key_rotation_pause_ms: 20,
            smtp_insecure_allow_plaintext_auth: false,
        }
    }
}

/// Settings are serialised only to seed figment with the defaults (which hold no
/// real secret); `Debug` of a `SecretString` stays redacted.
fn serialize_secret<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

fn serialize_secret_option<S: serde::Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

/// Settings plus the warnings noticed while loading them; warnings are logged once
/// telemetry is up.
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

/// Each module's own settings, made from these: modules below start-up never read
/// `Settings` themselves.
impl Settings {
    /// Where alerts go; None when SMTP or the recipients are not configured.
    pub fn alert_config(&self) -> Option<AlertConfig> {
        let to: Vec<String> = self
            .report_to
            .as_deref()?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if to.is_empty() {
            return None;
        }
        Some(AlertConfig {
            smtp_url: self.smtp_url.clone()?,
            from: self
                .report_from
                .clone()
                .unwrap_or_else(|| "ownerbound@localhost".into()),
            to,
            // Checked at start-up (validate); unreadable now means no custom roots.
            ca_pem: self
                .smtp_ca_file
                .as_ref()
                .and_then(|path| std::fs::read(path).ok()),
        })
    }

    /// What report generation and delivery need.
    pub fn report_config(&self) -> Result<ReportConfig, String> {
        Ok(ReportConfig {
            schedule: Schedule::parse(&self.report_schedule, &self.report_timezone)
                .map_err(|e| format!("report_schedule: {e}"))?,
            catalogue: Catalogue::from_config(&self.findings)?,
            public_url: self.public_url.clone(),
            mail: self.alert_config(),
        })
    }
}

impl Settings {
    /// Loads settings from the process environment and the configured TOML file.
    pub fn load() -> Result<Loaded, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(&vars)
    }

    /// Loads settings from the given environment (testable without touching the
    /// process environment).
    pub fn load_from(vars: &[(String, String)]) -> Result<Loaded, ConfigError> {
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut warnings = Vec::new();
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));

        let explicit = lookup("OWNERBOUND_CONFIG").map(PathBuf::from);
        let file = explicit
            .clone()
            .or_else(|| Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "OWNERBOUND_CONFIG: file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }

        let known = known_keys();
        let mut env_pairs = Vec::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if NON_SETTING_VARS.contains(&key.as_str())
                || NON_SETTING_PREFIXES.iter().any(|p| key.starts_with(p))
            {
                continue;
            }
            let top = key.split("__").next().unwrap_or_default();
            if known.iter().any(|k| k == top) {
                env_pairs.push((key, value.clone()));
            } else {
                warnings.push(format!("ignoring unknown environment variable {name}"));
            }
        }
        // Values are taken as strings except for the few typed settings, so that a
        // secret such as "12345" is not turned into a number.
        figment = figment.merge(env_from_pairs(&env_pairs));

        let mut settings: Settings = figment.extract().map_err(|e| {
            let mut msg = String::new();
            for err in e {
                if !msg.is_empty() {
                    msg.push_str("; ");
                }
                let path = err.path.join(".");
                msg.push_str(&format!(
                    "{} ({}): {}",
                    env_name(&path),
                    if path.is_empty() { "file" } else { &path },
                    err.kind
                ));
            }
            ConfigError(msg)
        })?;
        settings.read_secret_files()?;
        settings.validate()?;
        Ok(Loaded { settings, warnings })
    }

    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.database_url_file {
            self.database_url = read_secret_file("database_url_file", path)?;
        }
        if let Some(path) = &self.master_key_file {
            self.master_key = Some(read_secret_file("master_key_file", path)?);
        }
        if let Some(path) = &self.next_master_key_file {
            self.next_master_key = Some(read_secret_file("next_master_key_file", path)?);
        }
        if let Some(path) = &self.bootstrap_admin_token_file {
            self.bootstrap_admin_token =
                Some(read_secret_file("bootstrap_admin_token_file", path)?);
        }
        if let Some(path) = &self.smtp_url_file {
            self.smtp_url = Some(read_secret_file("smtp_url_file", path)?);
        }
        Ok(())
    }

    /// Checks every setting that can be checked without side effects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.engine()?;
        if self.max_body_bytes == 0 {
            return Err(bad("max_body_bytes", "must be greater than 0"));
        }
        if self.hr_scheduler_interval_seconds == 0 {
            return Err(bad(
                "hr_scheduler_interval_seconds",
                "must be greater than 0",
            ));
        }
        if let Some(key) = &self.master_key {
            crate::crypto::MasterKey::parse(key.expose_secret())
                .map_err(|e| bad("master_key", &e.to_string()))?;
        }
        if let Some(key) = &self.next_master_key {
            crate::crypto::MasterKey::parse(key.expose_secret())
                .map_err(|e| bad("next_master_key", &e.to_string()))?;
        }
        if let Some(token) = &self.bootstrap_admin_token {
            if token.expose_secret().trim().len() < 16 {
                return Err(bad(
                    "bootstrap_admin_token",
                    "must be at least 16 characters",
                ));
            }
        }
        crate::findings::Catalogue::from_config(&self.findings).map_err(|e| bad("findings", &e))?;
        self.report_timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            bad(
                "report_timezone",
                "must be an IANA time zone, e.g. Europe/Berlin",
            )
        })?;
        crate::report::schedule::Schedule::parse(&self.report_schedule, &self.report_timezone)
            .map_err(|e| bad("report_schedule", &e))?;
        if let Some(path) = &self.smtp_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| bad("smtp_ca_file", &format!("cannot be read: {e}")))?;
            lettre::transport::smtp::client::Certificate::from_pem(&pem)
                .map_err(|_| bad("smtp_ca_file", "must hold PEM certificates"))?;
        }
        if let Some(from) = &self.report_from {
            from.parse::<lettre::message::Mailbox>()
                .map_err(|_| bad("report_from", "must be an email address"))?;
        }
        if let Some(to) = &self.report_to {
            for address in to.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                address
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|_| bad("report_to", "must be comma-separated email addresses"))?;
            }
        }
        if !(60..=30 * 24 * 3600).contains(&self.retry_deadline_seconds) {
            return Err(bad(
                "retry_deadline_seconds",
                "must be from 60 seconds to 30 days",
            ));
        }
        if !(1..=10_000).contains(&self.key_rotation_batch_size) {
            return Err(bad("key_rotation_batch_size", "must be from 1 to 10000"));
        }
        if self.key_rotation_pause_ms > 60_000 {
            return Err(bad("key_rotation_pause_ms", "must be at most 60000"));
        }
        if self.report_check_interval_seconds == 0 {
            return Err(bad(
                "report_check_interval_seconds",
                "must be greater than 0",
            ));
        }
        if let Some(url) = &self.public_url {
            url::Url::parse(url).map_err(|e| bad("public_url", &e.to_string()))?;
        }
        if let Some(smtp) = &self.smtp_url {
            let parsed = url::Url::parse(smtp.expose_secret())
                .map_err(|_| bad("smtp_url", "is not a URL"))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") {
                return Err(bad("smtp_url", "scheme must be smtp or smtps"));
            }
            let has_credentials = !parsed.username().is_empty() || parsed.password().is_some();
            // The first `tls` parameter, as the SMTP client reads it.
            let tls_required = parsed.scheme() == "smtps"
                || parsed
                    .query_pairs()
                    .find(|(key, _)| key == "tls")
                    .is_some_and(|(_, value)| value == "required");
            if has_credentials && !tls_required && !self.smtp_insecure_allow_plaintext_auth {
                return Err(bad(
                    "smtp_url",
                    "carries a user name or password without TLS, so they and every report would \
                     go out in clear: use smtps://…, or smtp://…?tls=required (STARTTLS), or set \
                     smtp_insecure_allow_plaintext_auth = true for a relay on a trusted network",
                ));
            }
        }
        Ok(())
    }

    /// How a master key rotation paces itself.
    pub fn key_rotation_pace(&self) -> crate::key_rotation::Pace {
        crate::key_rotation::Pace {
            batch_size: i64::from(self.key_rotation_batch_size),
            pause: std::time::Duration::from_millis(self.key_rotation_pause_ms),
        }
    }

    /// The socket address to bind.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|_| bad("listen", "must be host:port, e.g. 127.0.0.1:8080"))
    }

    /// The database engine selected by the URL scheme.
    pub fn engine(&self) -> Result<Engine, ConfigError> {
        let url = self.database_url.expose_secret();
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Engine::Postgres)
        } else {
            Err(bad(
                "database_url",
                "must start with sqlite:// or postgres:// (the value is not shown: it may hold a password)",
            ))
        }
    }

    /// Path of the SQLite file, when the database is a SQLite file.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let url = self.database_url.expose_secret();
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            None
        } else {
            Some(PathBuf::from(path))
        }
    }

    /// The database URL with any password replaced, for logs.
    pub fn database_url_for_display(&self) -> String {
        mask_url_password(self.database_url.expose_secret())
    }
}

fn env_from_pairs(pairs: &[(String, String)]) -> Serialized<figment::value::Dict> {
    use figment::value::{Dict, Value};
    let mut root = Dict::new();
    for (key, value) in pairs {
        let mut parts: Vec<&str> = key.split("__").collect();
        let last = parts.pop().unwrap_or_default();
        let mut dict = &mut root;
        for part in parts {
            let entry = dict
                .entry(part.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            let Value::Dict(_, inner) = entry else {
                unreachable!("just made a dict")
            };
            dict = inner;
        }
        dict.insert(last.to_string(), typed_env_value(last, value));
    }
    Serialized::defaults(root)
}

/// Environment values are strings; the few numeric settings are parsed so that a
/// wrong value is reported against its name instead of failing obscurely; so are
/// the boolean ones.
fn typed_env_value(key: &str, value: &str) -> figment::value::Value {
    use figment::value::Value;
    if matches!(
        key,
        "max_body_bytes"
            | "hr_scheduler_interval_seconds"
            | "job_workers"
            | "retry_deadline_seconds"
            | "report_check_interval_seconds"
            | "key_rotation_batch_size"
            | "key_rotation_pause_ms"
            | "hooks_per_second"
            | "hooks_burst"
            | "address_per_second"
            | "address_burst"
            | "token_per_second"
            | "token_burst"
    ) {
        if let Ok(n) = value.trim().parse::<u64>() {
            return Value::from(n);
        }
    }
    if matches!(
        key,
        "smtp_insecure_allow_plaintext_auth" | "trust_forwarded_for" | "advertise_agent_extension"
    ) {
        if let Ok(flag) = value.trim().parse::<bool>() {
            return Value::from(flag);
        }
    }
    Value::from(value.to_string())
}

fn known_keys() -> Vec<String> {
    let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
    defaults
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn read_secret_file(setting: &str, path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(setting, &format!("cannot read {}: {e}", path.display())))?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(bad(setting, &format!("{} is empty", path.display())));
    }
    Ok(SecretString::from(trimmed.to_string()))
}

fn env_name(path: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.replace('.', "__").to_ascii_uppercase()
    )
}

fn bad(setting: &str, why: &str) -> ConfigError {
    ConfigError(format!("{} ({setting}): {why}", env_name(setting)))
}

/// Replaces the password of a URL with `***`, in the user part and in a
/// `password=` query parameter (libpq accepts both).
pub fn mask_url_password(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<unparseable url>".into();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let masked = k.eq_ignore_ascii_case("password");
                (
                    k.into_owned(),
                    if masked { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_serve_sqlite_on_localhost_8080() {
        let loaded = Settings::load_from(&vars(&[])).unwrap();
        assert_eq!(loaded.settings.listen, "127.0.0.1:8080");
        assert_eq!(loaded.settings.engine().unwrap(), Engine::Sqlite);
        assert_eq!(
            loaded.settings.sqlite_path().unwrap(),
            PathBuf::from("ownerbound.db")
        );
    }

    #[test]
    fn smtp_credentials_without_tls_are_refused_unless_explicitly_allowed() {
        let load = |pairs: &[(&str, &str)]| Settings::load_from(&vars(pairs));
        let Err(err) = load(&[("OWNERBOUND_SMTP_URL", "smtp://user:hunter2@mail:25")]) else {
            panic!("a password without TLS was accepted");
        };
        let err = err.to_string();
        assert!(err.contains("smtp_url") && err.contains("TLS"), "{err}");
        assert!(!err.contains("hunter2"), "the password is not shown: {err}");
        for fine in [
            "smtps://user:hunter2@mail:465",
            "smtp://user:hunter2@mail:587?tls=required",
            "smtp://mail:25",
        ] {
            assert!(load(&[("OWNERBOUND_SMTP_URL", fine)]).is_ok(), "{fine}");
        }
        assert!(load(&[
            ("OWNERBOUND_SMTP_URL", "smtp://user:hunter2@mail:25"),
            ("OWNERBOUND_SMTP_INSECURE_ALLOW_PLAINTEXT_AUTH", "true"),
        ])
        .is_ok());
    }

    #[test]
    fn rate_limits_are_read_from_the_environment() {
        let loaded = Settings::load_from(&vars(&[
            ("OWNERBOUND_RATE_LIMITS__HOOKS_PER_SECOND", "3"),
            ("OWNERBOUND_RATE_LIMITS__TRUST_FORWARDED_FOR", "true"),
        ]))
        .unwrap();
        let limits = loaded.settings.rate_limits;
        assert_eq!(limits.hooks_per_second, 3);
        assert!(limits.trust_forwarded_for);
        assert_eq!(limits.token_burst, RateLimitSettings::default().token_burst);
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ob.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\nmax_body_bytes = 2048\n").unwrap();
        let loaded = Settings::load_from(&vars(&[
            ("OWNERBOUND_CONFIG", file.to_str().unwrap()),
            ("OWNERBOUND_MAX_BODY_BYTES", "4096"),
        ]))
        .unwrap();
        assert_eq!(loaded.settings.listen, "0.0.0.0:9000");
        assert_eq!(loaded.settings.max_body_bytes, 4096);
    }

    #[test]
    fn secret_file_variant_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "ob_bootstrap_token_from_file\n").unwrap();
        let loaded = Settings::load_from(&vars(&[(
            "OWNERBOUND_BOOTSTRAP_ADMIN_TOKEN_FILE",
            file.to_str().unwrap(),
        )]))
        .unwrap();
        assert_eq!(
            loaded
                .settings
                .bootstrap_admin_token
                .unwrap()
                .expose_secret(),
            "ob_bootstrap_token_from_file"
        );
    }

    #[test]
    fn every_secret_setting_takes_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_string()
        };
        let key = write("key", &format!("{}\n", "ab".repeat(32)));
        let url = write("url", "postgres://u:p@db/ob\n");
        let smtp = write("smtp", "smtps://u:p@mail:465\n");
        let loaded = Settings::load_from(&vars(&[
            ("OWNERBOUND_MASTER_KEY_FILE", &key),
            ("OWNERBOUND_DATABASE_URL_FILE", &url),
            ("OWNERBOUND_SMTP_URL_FILE", &smtp),
        ]))
        .unwrap()
        .settings;
        assert_eq!(loaded.master_key.unwrap().expose_secret(), "ab".repeat(32));
        assert_eq!(loaded.database_url.expose_secret(), "postgres://u:p@db/ob");
        assert_eq!(
            loaded.smtp_url.unwrap().expose_secret(),
            "smtps://u:p@mail:465"
        );

        let missing =
            Settings::load_from(&vars(&[("OWNERBOUND_MASTER_KEY_FILE", "/nonexistent/key")]))
                .err()
                .unwrap();
        assert!(
            missing.to_string().contains("OWNERBOUND_MASTER_KEY_FILE"),
            "{missing}"
        );
        let short = write("short", "c2hvcnQ=");
        let bad = Settings::load_from(&vars(&[("OWNERBOUND_MASTER_KEY_FILE", &short)]))
            .err()
            .unwrap();
        assert!(bad.to_string().contains("OWNERBOUND_MASTER_KEY"), "{bad}");
    }

    #[test]
    fn invalid_setting_is_named_in_the_error() {
        let err = Settings::load_from(&vars(&[("OWNERBOUND_LISTEN", "not an address")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("OWNERBOUND_LISTEN"), "{err}");

        let err = Settings::load_from(&vars(&[("OWNERBOUND_MAX_BODY_BYTES", "lots")]))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("OWNERBOUND_MAX_BODY_BYTES"),
            "{err}"
        );

        let err = Settings::load_from(&vars(&[(
            "OWNERBOUND_DATABASE_URL",
            "mysql://u:hunter2hunter2@h/db",
        )]))
        .err()
        .unwrap();
        assert!(err.to_string().contains("OWNERBOUND_DATABASE_URL"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");

        for (name, value) in [
            ("OWNERBOUND_REPORT_SCHEDULE", "every monday"),
            ("OWNERBOUND_REPORT_TIMEZONE", "Mars/Olympus"),
        ] {
            let err = Settings::load_from(&vars(&[(name, value)])).err().unwrap();
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = Settings::load_from(&vars(&[(
            "OWNERBOUND_REPORT_TO",
            "security@example.com, not an address",
        )]))
        .err()
        .unwrap();
        assert!(err.to_string().contains("OWNERBOUND_REPORT_TO"), "{err}");
        let loaded = Settings::load_from(&vars(&[
            (
                "OWNERBOUND_REPORT_TO",
                "security@example.com, Ciso <ciso@example.com>",
            ),
            ("OWNERBOUND_REPORT_SCHEDULE", "30 7 * * 1-5"),
            ("OWNERBOUND_REPORT_TIMEZONE", "Europe/Berlin"),
        ]))
        .unwrap();
        assert_eq!(loaded.settings.report_timezone, "Europe/Berlin");
    }

    #[test]
    fn hr_sources_are_read_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ob.toml");
        std::fs::write(
            &file,
            "[[hr_sources]]\nname = \"bamboohr\"\npreset = \"bamboohr\"\nsecrets = [\"env:BAMBOO\"]\n\n\
             [[hr_sources]]\nname = \"mine\"\npreset = \"custom\"\nsignature = \"github\"\nsecrets = [\"file:/x\"]\n\
             [hr_sources.mapping]\nemployee_id = \"/id\"\nterminated_if = [{ pointer = \"/t\", in = [\"gone\"] }]\n",
        )
        .unwrap();
        let loaded =
            Settings::load_from(&vars(&[("OWNERBOUND_CONFIG", file.to_str().unwrap())])).unwrap();
        let sources = &loaded.settings.hr_sources;
        assert_eq!(sources.len(), 2);
        assert_eq!(
            sources[1].mapping.as_ref().unwrap().terminated_if[0].values,
            ["gone"]
        );
    }

    #[test]
    fn findings_settings_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ob.toml");
        std::fs::write(
            &file,
            "[findings]\nbroad_scopes = [\"Sites.FullControl.All\"]\n\
             [findings.rotation]\napi_key = \"30d\"\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let loaded = Settings::load_from(&vars(&[("OWNERBOUND_CONFIG", path)])).unwrap();
        assert_eq!(
            loaded.settings.findings.broad_scopes,
            ["Sites.FullControl.All"]
        );
        assert_eq!(loaded.settings.findings.rotation["api_key"], "30d");
        let loaded = Settings::load_from(&vars(&[
            ("OWNERBOUND_CONFIG", path),
            ("OWNERBOUND_FINDINGS__BROAD_SCOPES", "a:*, b:admin"),
        ]))
        .unwrap();
        assert_eq!(loaded.settings.findings.broad_scopes, ["a:*", "b:admin"]);
        let err = Settings::load_from(&vars(&[("OWNERBOUND_FINDINGS__ROTATION__API_KEY", "soon")]))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("findings.rotation.api_key"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_in_the_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ob.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let err = Settings::load_from(&vars(&[("OWNERBOUND_CONFIG", file.to_str().unwrap())]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn unknown_environment_variable_is_a_warning_not_an_error() {
        let loaded = Settings::load_from(&vars(&[
            ("OWNERBOUND_LISTN", "x"),
            ("OWNERBOUND_TEST_POSTGRES_URL", "postgres://x"),
        ]))
        .unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("OWNERBOUND_LISTN"));
    }

    #[test]
    fn database_password_is_masked_for_display() {
        assert_eq!(
            mask_url_password("postgres://app:s3cret@db:5432/ob"),
            "postgres://app:***@db:5432/ob"
        );
        let masked = mask_url_password("postgres://db/ob?user=app&password=s3cret&sslmode=require");
        assert!(!masked.contains("s3cret"), "{masked}");
        assert!(masked.contains("sslmode=require"), "{masked}");
    }
}
