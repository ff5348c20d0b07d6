//! The broad-scope catalogue, rotation cadences, and the `[findings]` settings that
//! extend or override them.

use std::collections::BTreeMap;

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::CredentialKind;

/// Scopes that grant far more than an agent usually needs, per provider family.
/// `*` matches any run of characters. Matched against every credential whatever its
/// provider: provider names are chosen by the operator, so the family cannot be told
/// from them, and these scope strings do not collide across families in practice.
pub const BUILT_IN_BROAD_SCOPES: &[(&str, &str)] = &[
    ("microsoft_graph", "Mail.ReadWrite"),
    ("microsoft_graph", "Files.ReadWrite.All"),
    ("microsoft_graph", "Directory.ReadWrite.All"),
    ("microsoft_graph", "*.ReadWrite.All"),
    ("google", "https://mail.google.com/"),
    ("google", "https://www.googleapis.com/auth/drive"),
    ("google", "https://www.googleapis.com/auth/cloud-platform"),
    ("github", "repo"),
    ("github", "admin:org"),
    ("github", "delete_repo"),
    ("salesforce", "full"),
    ("salesforce", "api"),
    ("slack", "admin"),
    ("slack", "admin.*"),
];

/// `[findings]` in the TOML file (`OWNERBOUND_FINDINGS__…` in the environment).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsConfig {
    /// More broad scopes, added to the built-in catalogue; `*` is a wildcard. A list
    /// in TOML, or comma-separated in the environment.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub broad_scopes: Vec<String>,
    /// Rotation cadence per credential kind, e.g. `api_key = "30d"` (units s, m, h,
    /// d, w; `"off"` disables). Kinds not given keep their default.
    pub rotation: BTreeMap<String, String>,
    /// A manual revocation task open longer than this is `high` instead of `medium`.
    pub manual_task_stale_after: String,
}

impl Default for FindingsConfig {
    fn default() -> Self {
        Self {
            broad_scopes: Vec::new(),
            rotation: BTreeMap::new(),
            manual_task_stale_after: "3d".into(),
        }
    }
}

fn list_or_comma_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Patterns {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Patterns::deserialize(d)? {
        Patterns::List(list) => list,
        Patterns::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// The default cadence of a credential kind: how long it may live unrotated.
pub fn default_cadence(kind: CredentialKind) -> Option<Duration> {
    match kind {
        CredentialKind::OauthAccessToken => Some(Duration::hours(24)),
        CredentialKind::OauthRefreshToken => Some(Duration::days(30)),
        CredentialKind::ServiceAccountKey | CredentialKind::ApiKey => Some(Duration::days(90)),
        CredentialKind::Other => None,
    }
}

/// A broad-scope pattern and the family it belongs to (`custom` when configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePattern {
    pub family: String,
    pub pattern: String,
}

impl ScopePattern {
    /// Whether `scope` matches: `*` is any run of characters, everything else is
    /// literal and case-sensitive (as the SQL `LIKE` this is turned into).
    pub fn matches(&self, scope: &str) -> bool {
        glob_match(&self.pattern, scope)
    }

    /// The pattern as a SQL `LIKE` pattern with `\` as escape character.
    pub fn like_pattern(&self) -> String {
        let mut like = String::with_capacity(self.pattern.len() + 4);
        for c in self.pattern.chars() {
            match c {
                '*' => like.push('%'),
                '%' | '_' | '\\' => {
                    like.push('\\');
                    like.push(c);
                }
                c => like.push(c),
            }
        }
        like
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match remaining.find(part) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// The validated configuration the rules run with.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub broad_scopes: Vec<ScopePattern>,
    /// Cadence per kind; a kind without one is never overdue.
    pub cadences: Vec<(CredentialKind, Duration)>,
    pub manual_task_stale_after: Duration,
}

impl Catalogue {
    /// Builds the catalogue, naming the setting at fault when one is invalid.
    pub fn from_config(config: &FindingsConfig) -> Result<Self, String> {
        let mut broad_scopes: Vec<ScopePattern> = BUILT_IN_BROAD_SCOPES
            .iter()
            .map(|(family, pattern)| ScopePattern {
                family: (*family).into(),
                pattern: (*pattern).into(),
            })
            .collect();
        for pattern in &config.broad_scopes {
            let pattern = pattern.trim();
            if pattern.is_empty() || pattern.chars().all(|c| c == '*') {
                return Err(
                    "findings.broad_scopes: a pattern must name something besides `*`".into(),
                );
            }
            broad_scopes.push(ScopePattern {
                family: "custom".into(),
                pattern: pattern.into(),
            });
        }
        for kind in config.rotation.keys() {
            kind.parse::<CredentialKind>()
                .map_err(|e| format!("findings.rotation.{kind}: not a credential kind: {e}"))?;
        }
        let mut cadences = Vec::new();
        for text in CredentialKind::ALL {
            let kind: CredentialKind = text.parse().expect("listed kind");
            let cadence = match config.rotation.get(*text) {
                Some(value) => {
                    parse_duration(value).map_err(|e| format!("findings.rotation.{text}: {e}"))?
                }
                None => default_cadence(kind),
            };
            if let Some(cadence) = cadence {
                cadences.push((kind, cadence));
            }
        }
        let manual_task_stale_after = parse_duration(&config.manual_task_stale_after)
            .map_err(|e| format!("findings.manual_task_stale_after: {e}"))?
            .unwrap_or(Duration::MAX);
        Ok(Self {
            broad_scopes,
            cadences,
            manual_task_stale_after,
        })
    }

    /// The catalogue entries a scope matches.
    pub fn broad_matches<'a>(&'a self, scope: &'a str) -> impl Iterator<Item = &'a ScopePattern> {
        self.broad_scopes.iter().filter(move |p| p.matches(scope))
    }

    pub fn cadence(&self, kind: &str) -> Option<Duration> {
        self.cadences
            .iter()
            .find(|(k, _)| k.as_str() == kind)
            .map(|(_, d)| *d)
    }
}

/// `"90d"`, `"24h"`, `"30m"`, `"3600s"`, `"2w"`; `"off"` is `None` (no cadence).
pub fn parse_duration(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bad = || format!("{text:?} is not a duration such as \"90d\", \"24h\" or \"off\"");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 || n > 100_000 {
        return Err(bad());
    }
    let duration = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => return Err(bad()),
    };
    Ok(Some(duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(extra: &[&str]) -> Catalogue {
        Catalogue::from_config(&FindingsConfig {
            broad_scopes: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    fn is_broad(c: &Catalogue, scope: &str) -> bool {
        c.broad_matches(scope).next().is_some()
    }

    #[test]
    fn built_in_catalogue_flags_broad_scopes_of_each_family() {
        let c = catalogue(&[]);
        for scope in [
            "Mail.ReadWrite",
            "Files.ReadWrite.All",
            "Sites.ReadWrite.All",
            "https://mail.google.com/",
            "https://www.googleapis.com/auth/drive",
            "https://www.googleapis.com/auth/cloud-platform",
            "repo",
            "admin:org",
            "delete_repo",
            "full",
            "api",
            "admin",
            "admin.users:write",
        ] {
            assert!(is_broad(&c, scope), "{scope} should be broad");
        }
    }

    #[test]
    fn narrow_scopes_and_near_misses_are_not_broad() {
        let c = catalogue(&[]);
        for scope in [
            "Mail.Read",
            "User.Read",
            "Files.ReadWrite",
            "Files.ReadWrite.AllSites",
            "https://www.googleapis.com/auth/drive.readonly",
            "https://www.googleapis.com/auth/gmail.readonly",
            "read:org",
            "repo:status",
            "public_repo",
            "chat:write",
            "administrator",
            "mail.readwrite",
            "",
        ] {
            assert!(!is_broad(&c, scope), "{scope} should not be broad");
        }
    }

    #[test]
    fn configured_patterns_extend_the_catalogue_with_wildcards() {
        let c = catalogue(&["Sites.FullControl.All", "*:admin", "vault:*:write"]);
        assert!(is_broad(&c, "Sites.FullControl.All"));
        assert!(is_broad(&c, "billing:admin"));
        assert!(is_broad(&c, "vault:secret/data:write"));
        assert!(!is_broad(&c, "vault:secret/data:read"));
        assert!(!is_broad(&c, "billing:admin:read"));
        let custom = c.broad_matches("billing:admin").next().unwrap();
        assert_eq!(custom.family, "custom");
        assert!(Catalogue::from_config(&FindingsConfig {
            broad_scopes: vec!["**".into()],
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn glob_matching_handles_overlaps_and_empty_runs() {
        assert!(glob_match("a*b*c", "abc"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("*ab", "abab"));
        assert!(!glob_match("ab*ab", "ab"));
        assert!(glob_match("*", "anything"));
    }

    #[test]
    fn like_patterns_escape_sql_wildcards() {
        let p = |s: &str| ScopePattern {
            family: "x".into(),
            pattern: s.into(),
        };
        assert_eq!(p("delete_repo").like_pattern(), "delete\\_repo");
        assert_eq!(p("admin.*").like_pattern(), "admin.%");
        assert_eq!(p("100%\\").like_pattern(), "100\\%\\\\");
    }

    #[test]
    fn rotation_cadences_default_per_kind_and_can_be_configured() {
        let c = Catalogue::from_config(&FindingsConfig::default()).unwrap();
        assert_eq!(c.cadence("oauth_access_token"), Some(Duration::hours(24)));
        assert_eq!(c.cadence("oauth_refresh_token"), Some(Duration::days(30)));
        assert_eq!(c.cadence("api_key"), Some(Duration::days(90)));
        assert_eq!(c.cadence("other"), None);
        let mut config = FindingsConfig::default();
        config.rotation.insert("api_key".into(), "30d".into());
        config
            .rotation
            .insert("oauth_access_token".into(), "off".into());
        config.rotation.insert("other".into(), "1w".into());
        let c = Catalogue::from_config(&config).unwrap();
        assert_eq!(c.cadence("api_key"), Some(Duration::days(30)));
        assert_eq!(c.cadence("oauth_access_token"), None);
        assert_eq!(c.cadence("other"), Some(Duration::weeks(1)));
        config.rotation.insert("api_keys".into(), "30d".into());
        let err = Catalogue::from_config(&config).unwrap_err();
        assert!(err.contains("findings.rotation.api_keys"), "{err}");
    }

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("90d").unwrap(), Some(Duration::days(90)));
        assert_eq!(parse_duration(" 24h ").unwrap(), Some(Duration::hours(24)));
        assert_eq!(parse_duration("off").unwrap(), None);
        for bad in ["", "d", "12", "0d", "-1d", "3 days", "1y"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
