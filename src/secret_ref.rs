//! Secret references in configuration files: `env:NAME`, `file:PATH`, or (with a
//! warning) the literal value. Used by HR sources and by provider connectors alike.

use secrecy::SecretString;

/// `env:NAME`, `file:PATH`, or the literal value (with a warning).
pub fn resolve(
    reference: &str,
    source: &str,
    warn: &mut dyn FnMut(String),
) -> Result<SecretString, String> {
    if let Some(name) = reference.strip_prefix("env:") {
        return std::env::var(name)
            .map(SecretString::from)
            .map_err(|_| format!("secret env:{name} is not set"));
    }
    if let Some(path) = reference.strip_prefix("file:") {
        let text = std::fs::read_to_string(path).map_err(|e| format!("secret file:{path}: {e}"))?;
        return Ok(SecretString::from(
            text.trim_end_matches(['\n', '\r']).to_string(),
        ));
    }
    warn(format!(
        "{source} has a literal secret in the configuration file; prefer env:NAME or file:PATH"
    ));
    Ok(SecretString::from(reference.to_string()))
}
