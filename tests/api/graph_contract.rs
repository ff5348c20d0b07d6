//! Checks Graph resources against Microsoft's published TypeScript definitions of them
//! (`@microsoft/microsoft-graph-types`, pinned in tests/peers): every property of a
//! JSON resource must be one the interface (or an interface it extends) declares, with
//! its type (`string`, `boolean`, `number`, arrays of them, `NullableOption<…>`), so a
//! fake's answers are shaped like Graph's. Requests are checked against the documented
//! v1.0 endpoints the connector uses (learn.microsoft.com, listed below).

use std::collections::HashMap;

use serde_json::Value;

pub struct GraphTypes {
    /// Interface → (the interface it extends, property → TypeScript type).
    interfaces: HashMap<String, (Option<String>, HashMap<String, String>)>,
}

/// The calls the connector may make, as documented: method, path pattern (`*` = one
/// segment), the OData query options each takes.
pub const DOCUMENTED: &[(&str, &str, &[&str])] = &[
    // learn.microsoft.com/graph/api/oauth2permissiongrant-list
    (
        "GET",
        "/v1.0/oauth2PermissionGrants",
        &["$top", "$skiptoken", "$filter", "$select"],
    ),
    // …/oauth2permissiongrant-get
    ("GET", "/v1.0/oauth2PermissionGrants/*", &["$select"]),
    // …/oauth2permissiongrant-delete
    ("DELETE", "/v1.0/oauth2PermissionGrants/*", &[]),
    // …/user-get
    ("GET", "/v1.0/users/*", &["$select"]),
];

impl GraphTypes {
    /// None (a skip) when the package is not installed, unless
    /// OWNERBOUND_TEST_REQUIRE_ALL=1.
    pub fn load() -> Option<Self> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/node_modules/@microsoft/microsoft-graph-types/microsoft-graph.d.ts"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            assert!(
                std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "@microsoft/microsoft-graph-types is required: cd tests/peers && npm ci"
            );
            eprintln!("skipping: @microsoft/microsoft-graph-types is not installed");
            return None;
        };
        let mut interfaces = HashMap::new();
        let mut current: Option<(String, Option<String>, HashMap<String, String>)> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("export interface ") {
                let head = rest.trim_end_matches('{').trim();
                let (name, parent) = match head.split_once(" extends ") {
                    Some((name, parent)) => (name.trim(), Some(parent.trim().to_string())),
                    None => (head, None),
                };
                current = Some((name.to_string(), parent, HashMap::new()));
            } else if line == "}" {
                if let Some((name, parent, properties)) = current.take() {
                    interfaces.insert(name, (parent, properties));
                }
            } else if let Some((_, _, properties)) = current.as_mut() {
                if let Some((name, ty)) = line.strip_suffix(';').and_then(|l| l.split_once("?: ")) {
                    properties.insert(name.to_string(), ty.to_string());
                }
            }
        }
        Some(Self { interfaces })
    }

    fn property(&self, interface: &str, name: &str) -> Option<&String> {
        let (parent, properties) = self.interfaces.get(interface)?;
        properties
            .get(name)
            .or_else(|| parent.as_deref().and_then(|p| self.property(p, name)))
    }

    /// Checks a resource against `interface`; OData annotations (`@odata.…`) aside.
    pub fn check(&self, interface: &str, resource: &Value) -> Result<(), String> {
        let object = resource
            .as_object()
            .ok_or_else(|| format!("{interface}: not an object: {resource}"))?;
        for (name, value) in object.iter().filter(|(k, _)| !k.starts_with("@odata.")) {
            let ty = self
                .property(interface, name)
                .ok_or_else(|| format!("{interface}.{name} is not a property of {interface}"))?;
            let (ty, nullable) = match ty
                .strip_prefix("NullableOption<")
                .and_then(|t| t.strip_suffix('>'))
            {
                Some(inner) => (inner, true),
                None => (ty.as_str(), false),
            };
            let fits = match (ty, value) {
                (_, Value::Null) => nullable,
                ("string", v) => v.is_string(),
                ("boolean", v) => v.is_boolean(),
                ("number", v) => v.is_number(),
                ("string[]", Value::Array(items)) => items.iter().all(Value::is_string),
                // An interface or an enum: not checked deeper here.
                _ => true,
            };
            if !fits {
                return Err(format!("{interface}.{name}: {value} is not a {ty}"));
            }
        }
        Ok(())
    }
}

/// Whether `method target` is one of the documented calls, with documented options.
pub fn check_request(method: &str, target: &str) -> Result<(), String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<&str> = path.split('/').collect();
    let (_, _, options) = DOCUMENTED
        .iter()
        .find(|(m, pattern, _)| {
            let parts: Vec<&str> = pattern.split('/').collect();
            *m == method
                && parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| *p == "*" || p == s)
        })
        .ok_or_else(|| format!("{method} {path} is not a documented call"))?;
    for (name, _) in url::form_urlencoded::parse(query.as_bytes()) {
        if !options.contains(&name.as_ref()) {
            return Err(format!(
                "{method} {path}: {name} is not a documented option"
            ));
        }
    }
    Ok(())
}
