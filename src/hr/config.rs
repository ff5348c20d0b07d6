//! `[[hr_sources]]`: one entry per HR system sending offboarding webhooks.
//!
//! ```toml
//! [[hr_sources]]
//! name = "bamboohr"                  # served at /hooks/hr/bamboohr
//! preset = "bamboohr"                # standard | bamboohr | hibob | gusto | deel | personio | rippling | custom
//! secrets = ["env:BAMBOO_SECRET"]    # several during rotation; env:NAME | file:PATH | literal
//! ```
//! A preset picks the signature scheme and the payload mapping; every scheme option
//! can be overridden.

use std::collections::BTreeMap;

use base64::Engine as _;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

pub use crate::signing::Algorithm;

/// How a source proves its webhooks are authentic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Standard Webhooks (`webhook-*` or `svix-*` headers, `whsec_` base64 secrets).
    StandardWebhooks,
    /// `Stripe-Signature: t=…,v1=…`, the secret used as bytes.
    Stripe,
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// Configurable HMAC (algorithm, encoding, header, prefix, message template).
    Hmac,
    /// A static token compared with a header's whole value.
    StaticToken,
    /// HTTP Basic; each secret is `user:password`.
    Basic,
    /// No verification at all: only with `insecure_no_signature = true`.
    None,
}

/// Payload mapping presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Standard,
    Bamboohr,
    Hibob,
    Gusto,
    Deel,
    Personio,
    Rippling,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Hex,
    Base64,
}

/// A value rule of a custom mapping: the value at `pointer` (default: the mapping's
/// `event_type`) is one of `values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueRule {
    pub pointer: Option<String>,
    #[serde(rename = "in")]
    pub values: Vec<String>,
}

/// RFC 6901 JSON pointers into a custom payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Array of employee entries; the other pointers are then relative to each entry
    /// (except `event_id`, which is relative to the whole document).
    pub batch: Option<String>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub employee_id: Option<String>,
    pub email: Option<String>,
    pub effective_date: Option<String>,
    #[serde(default)]
    pub terminated_if: Vec<ValueRule>,
    #[serde(default)]
    pub cancelled_if: Vec<ValueRule>,
}

/// One `[[hr_sources]]` entry as written in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrSourceConfig {
    /// Path segment: `/hooks/hr/{name}`.
    pub name: String,
    pub preset: Preset,
    /// Overrides the preset's scheme.
    pub signature: Option<Scheme>,
    /// `env:NAME`, `file:PATH` or a literal (which logs a warning).
    #[serde(default)]
    pub secrets: SecretRefs,
    /// Required to accept `signature = "none"`.
    #[serde(default)]
    pub insecure_no_signature: bool,
    pub algorithm: Option<Algorithm>,
    pub encoding: Option<Encoding>,
    pub signature_header: Option<String>,
    pub signature_prefix: Option<String>,
    /// E.g. `{body}{header:X-BambooHR-Timestamp}`.
    pub message: Option<String>,
    pub timestamp_header: Option<String>,
    /// Replay window for timestamped schemes (default 300).
    pub tolerance_seconds: Option<u64>,
    /// Header carrying the static token (default `Authorization`).
    pub token_header: Option<String>,
    /// Mapping for `preset = "custom"`.
    pub mapping: Option<Mapping>,
}

/// Secret references as written in the file. A literal secret may be among them, so
/// they are never printed: `Debug` and serialisation show only how many there are.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct SecretRefs(pub Vec<String>);

impl std::fmt::Debug for SecretRefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} secret reference(s)]", self.0.len())
    }
}

impl Serialize for SecretRefs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|_| "<redacted>"))
    }
}

/// A source ready to verify: scheme options resolved, secrets decoded.
#[derive(Clone)]
pub struct HrSource {
    pub name: String,
    pub preset: Preset,
    pub scheme: Scheme,
    /// Decoded keys (HMAC schemes) or expected values (token, basic).
    pub keys: Vec<SecretBytes>,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub signature_header: String,
    pub signature_prefix: String,
    pub message: String,
    pub timestamp_header: Option<String>,
    pub tolerance_seconds: i64,
    pub token_header: String,
    pub mapping: Mapping,
    /// MACs computed verifying this source's requests, shared by its clones: what a
    /// sender can make ownerbound spend, counted (see `signature::MAX_CANDIDATES`).
    pub macs_computed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Key material, zeroised on drop by `secrecy`.
#[derive(Clone)]
pub struct SecretBytes(pub secrecy::SecretSlice<u8>);

impl SecretBytes {
    pub fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

/// Shortest key accepted, in bytes: bad base64 silently giving tiny keys is a known
/// class of bug, and short HMAC keys are guessable.
pub const MIN_KEY_BYTES: usize = 16;
/// Replay window when none is configured.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

impl HrSourceConfig {
    /// Resolves secret references and scheme defaults. `warn` receives warnings (a
    /// literal secret in the file, an unsigned source).
    pub fn resolve(&self, warn: &mut dyn FnMut(String)) -> Result<HrSource, String> {
        let bad = |why: String| format!("hr_sources \"{}\": {why}", self.name);
        let valid_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(bad("name must be 1-64 letters, digits, '-' or '_'".into()));
        }
        let preset = preset_defaults(self.preset);
        let scheme = self.signature.unwrap_or(preset.scheme);
        // A scheme other than the preset's brings that scheme's own header defaults.
        let defaults = if scheme == preset.scheme {
            preset
        } else {
            scheme_defaults(scheme)
        };
        if scheme == Scheme::None {
            if !self.insecure_no_signature {
                return Err(bad(
                    "signature = \"none\" needs insecure_no_signature = true".into(),
                ));
            }
            warn(format!(
                "HR source {:?} accepts UNSIGNED webhooks (insecure_no_signature = true): anyone who can reach \
                 /hooks/hr/{} can report a departure",
                self.name, self.name
            ));
        } else if self.secrets.0.is_empty() {
            return Err(bad("needs at least one secret".into()));
        }
        if self.preset == Preset::Custom && self.mapping.is_none() {
            return Err(bad(
                "preset = \"custom\" needs a [hr_sources.mapping]".into()
            ));
        }
        let mut keys = Vec::new();
        for reference in &self.secrets.0 {
            let text =
                crate::secret_ref::resolve(reference, &format!("HR source {:?}", self.name), warn)
                    .map_err(&bad)?;
            let key = decode_key(scheme, text.expose_secret()).map_err(&bad)?;
            keys.push(SecretBytes(key.into()));
        }
        Ok(HrSource {
            name: self.name.clone(),
            preset: self.preset,
            scheme,
            keys,
            algorithm: self.algorithm.unwrap_or(defaults.algorithm),
            encoding: self.encoding.unwrap_or(defaults.encoding),
            signature_header: self
                .signature_header
                .clone()
                .unwrap_or_else(|| defaults.signature_header.to_string()),
            signature_prefix: self
                .signature_prefix
                .clone()
                .unwrap_or_else(|| defaults.signature_prefix.to_string()),
            message: self
                .message
                .clone()
                .unwrap_or_else(|| defaults.message.to_string()),
            timestamp_header: self
                .timestamp_header
                .clone()
                .or_else(|| defaults.timestamp_header.map(str::to_string)),
            tolerance_seconds: self.tolerance_seconds.unwrap_or(defaults.tolerance_seconds) as i64,
            token_header: self
                .token_header
                .clone()
                .unwrap_or_else(|| "Authorization".into()),
            mapping: self.mapping.clone().unwrap_or_default(),
            macs_computed: Default::default(),
        })
    }
}

/// How each vendor signs, as its documentation says.
struct Defaults {
    scheme: Scheme,
    algorithm: Algorithm,
    encoding: Encoding,
    signature_header: &'static str,
    signature_prefix: &'static str,
    message: &'static str,
    timestamp_header: Option<&'static str>,
    tolerance_seconds: u64,
}

fn preset_defaults(preset: Preset) -> Defaults {
    let hmac = |header, encoding, algorithm, message, timestamp| Defaults {
        scheme: Scheme::Hmac,
        algorithm,
        encoding,
        signature_header: header,
        signature_prefix: "",
        message,
        timestamp_header: timestamp,
        tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
    };
    match preset {
        Preset::Standard | Preset::Custom => Defaults {
            scheme: Scheme::StandardWebhooks,
            ..hmac(
                "webhook-signature",
                Encoding::Base64,
                Algorithm::Sha256,
                "{body}",
                None,
            )
        },
        // BambooHR retries after 5 to 80 minutes; whether a retry is re-signed with a
        // new timestamp is not documented, so the window covers the retries (the body
        // hash deduplicates any replay inside it).
        Preset::Bamboohr => Defaults {
            tolerance_seconds: 2 * 60 * 60,
            ..hmac(
                "X-BambooHR-Signature",
                Encoding::Hex,
                Algorithm::Sha256,
                "{body}{header:X-BambooHR-Timestamp}",
                Some("X-BambooHR-Timestamp"),
            )
        },
        Preset::Hibob => hmac(
            "Bob-Signature",
            Encoding::Base64,
            Algorithm::Sha512,
            "{body}",
            None,
        ),
        Preset::Gusto => hmac(
            "X-Gusto-Signature",
            Encoding::Hex,
            Algorithm::Sha256,
            "{body}",
            None,
        ),
        Preset::Deel => hmac(
            "x-deel-signature",
            Encoding::Hex,
            Algorithm::Sha256,
            "POST{body}",
            None,
        ),
        Preset::Personio | Preset::Rippling => Defaults {
            scheme: Scheme::StaticToken,
            ..hmac(
                "Authorization",
                Encoding::Hex,
                Algorithm::Sha256,
                "{body}",
                None,
            )
        },
    }
}

fn scheme_defaults(scheme: Scheme) -> Defaults {
    let (header, encoding) = match scheme {
        Scheme::StandardWebhooks => ("webhook-signature", Encoding::Base64),
        Scheme::Stripe => ("Stripe-Signature", Encoding::Hex),
        Scheme::Github => ("X-Hub-Signature-256", Encoding::Hex),
        Scheme::Hmac => ("X-Signature", Encoding::Hex),
        Scheme::StaticToken | Scheme::Basic | Scheme::None => ("Authorization", Encoding::Hex),
    };
    Defaults {
        scheme,
        algorithm: Algorithm::Sha256,
        encoding,
        signature_header: header,
        signature_prefix: "",
        message: "{body}",
        timestamp_header: None,
        tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
    }
}

/// The key bytes of a secret for a scheme, refused when shorter than [`MIN_KEY_BYTES`].
fn decode_key(scheme: Scheme, secret: &str) -> Result<Vec<u8>, String> {
    let key = match scheme {
        Scheme::StandardWebhooks => {
            let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| {
                    "a Standard Webhooks secret must be base64 (after whsec_)".to_string()
                })?
        }
        _ => secret.as_bytes().to_vec(),
    };
    if scheme != Scheme::None && key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "a secret decodes to {} bytes; at least {MIN_KEY_BYTES} are required",
            key.len()
        ));
    }
    Ok(key)
}

/// Resolves every source; errors name the source.
pub fn resolve_all(
    configs: &[HrSourceConfig],
    warn: &mut dyn FnMut(String),
) -> Result<BTreeMap<String, HrSource>, String> {
    let mut sources = BTreeMap::new();
    for config in configs {
        let source = config.resolve(warn)?;
        if sources.insert(source.name.clone(), source).is_some() {
            return Err(format!(
                "hr_sources: the name {:?} is used twice",
                config.name
            ));
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(preset: Preset, secret: &str) -> HrSourceConfig {
        HrSourceConfig {
            name: "src".into(),
            preset,
            signature: None,
            secrets: SecretRefs(vec![secret.into()]),
            insecure_no_signature: false,
            algorithm: None,
            encoding: None,
            signature_header: None,
            signature_prefix: None,
            message: None,
            timestamp_header: None,
            tolerance_seconds: None,
            token_header: None,
            mapping: None,
        }
    }

    #[test]
    fn secret_references_are_never_printed() {
        let c = config(Preset::Gusto, "literal-secret-value-0123");
        assert!(!format!("{c:?}").contains("literal-secret"));
        assert!(!serde_json::to_string(&c)
            .unwrap()
            .contains("literal-secret"));
    }

    #[test]
    fn short_secrets_are_refused() {
        let mut warnings = Vec::new();
        let mut warn = |w: String| warnings.push(w);
        assert!(config(Preset::Gusto, "short").resolve(&mut warn).is_err());
        // "whsec_" + base64 of 8 bytes.
        assert!(config(Preset::Standard, "whsec_AAAAAAAAAAA=")
            .resolve(&mut warn)
            .is_err());
        assert!(
            config(Preset::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .resolve(&mut warn)
                .is_ok()
        );
        assert!(config(Preset::Standard, "whsec_not base64!")
            .resolve(&mut warn)
            .is_err());
    }

    #[test]
    fn unsigned_sources_need_the_explicit_flag_and_warn() {
        let mut warnings = Vec::new();
        let mut c = config(Preset::Rippling, "");
        c.secrets.0.clear();
        c.signature = Some(Scheme::None);
        assert!(c.resolve(&mut |w| warnings.push(w)).is_err());
        c.insecure_no_signature = true;
        assert!(c.resolve(&mut |w| warnings.push(w)).is_ok());
        assert!(warnings.iter().any(|w| w.contains("UNSIGNED")));
    }

    #[test]
    fn presets_pick_the_vendor_scheme_and_literal_secrets_warn() {
        let mut warnings = Vec::new();
        let source = config(Preset::Hibob, "hibob-secret-0123456789")
            .resolve(&mut |w| warnings.push(w))
            .unwrap();
        assert_eq!(
            (source.scheme, source.algorithm, source.encoding),
            (Scheme::Hmac, Algorithm::Sha512, Encoding::Base64)
        );
        assert_eq!(source.signature_header, "Bob-Signature");
        assert_eq!(warnings.len(), 1);
        assert!(
            !warnings[0].contains("hibob-secret"),
            "the warning shows the secret"
        );
    }
}
