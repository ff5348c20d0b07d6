//! Checks HTTP exchanges against a provider's published OpenAPI description: the
//! request a client sent (method, path, query parameters, JSON body) and the answer a
//! fake gave (status and JSON body), so that a fake follows the provider's API and the
//! client calls it as the provider documents. A small validator for the JSON Schema
//! subset these descriptions use: `$ref`, `type`, `nullable`, `required`, `properties`,
//! `items`, `enum`, `minItems`/`maxItems`, `allOf`/`anyOf`/`oneOf`.

use serde_json::Value;

pub struct Spec {
    doc: Value,
}

impl Spec {
    /// GitHub's description from `@octokit/openapi` (tests/peers, `npm ci`); None (a
    /// skip) when it is not installed, unless OWNERBOUND_TEST_REQUIRE_ALL=1.
    pub fn github() -> Option<Self> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/node_modules/@octokit/openapi/generated/api.github.com.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            assert!(
                std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "@octokit/openapi is required: cd tests/peers && npm ci"
            );
            eprintln!("skipping: @octokit/openapi is not installed (cd tests/peers && npm ci)");
            return None;
        };
        Some(Self {
            doc: serde_json::from_str(&text).expect("GitHub's OpenAPI description is JSON"),
        })
    }

    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            let pointer = reference.trim_start_matches('#');
            value = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("unresolvable {reference}"));
        }
        value
    }

    /// The operation of `method` on the documented path that `path` (without query)
    /// instantiates.
    fn operation(&self, method: &str, path: &str) -> Result<&Value, String> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let paths = self.doc["paths"].as_object().expect("paths");
        // The most specific documented path: most literal segments matched.
        let template = paths
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
                let matches = parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s);
                let literal = parts.iter().filter(|t| !t.starts_with('{')).count();
                matches.then_some((literal, template))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, template)| template)
            .ok_or_else(|| format!("{path} is not a documented path"))?;
        paths[template]
            .get(method.to_ascii_lowercase())
            .ok_or_else(|| format!("{method} {template} is not documented"))
    }

    /// Checks a request as sent: `target` is the path with its query string.
    pub fn check_request(
        &self,
        method: &str,
        target: &str,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let operation = self.operation(method, path)?;
        let parameters: Vec<&Value> = operation["parameters"]
            .as_array()
            .map(|p| p.iter().map(|p| self.resolve(p)).collect())
            .unwrap_or_default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let name = name.trim_end_matches("[]");
            let declared = parameters
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == name)
                .ok_or_else(|| {
                    format!("{method} {path}: query parameter {name} is not documented")
                })?;
            let schema = self.resolve(&declared["schema"]);
            let item = if schema["type"] == "array" {
                self.resolve(&schema["items"])
            } else {
                schema
            };
            let typed = match item["type"].as_str() {
                Some("integer") => value.parse::<i64>().map(Value::from).map_err(|_| ()),
                Some("boolean") => value.parse::<bool>().map(Value::from).map_err(|_| ()),
                _ => Ok(Value::from(value.to_string())),
            }
            .map_err(|_| format!("{method} {path}: {name}={value} is not a {}", item["type"]))?;
            self.validate(item, &typed, name)?;
        }
        for required in parameters
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] == true)
        {
            let name = required["name"].as_str().unwrap_or_default();
            if !url::form_urlencoded::parse(query.as_bytes())
                .any(|(n, _)| n.trim_end_matches("[]") == name)
            {
                return Err(format!(
                    "{method} {path}: required query parameter {name} missing"
                ));
            }
        }
        match (operation.get("requestBody").map(|b| self.resolve(b)), body) {
            (Some(declared), Some(body)) => {
                let schema = &declared["content"]["application/json"]["schema"];
                self.validate(schema, body, "body")
            }
            (Some(declared), None) if declared["required"] == true => {
                Err(format!("{method} {path}: the body is required"))
            }
            (None, Some(body)) if !body.is_null() => {
                Err(format!("{method} {path}: takes no body, got {body}"))
            }
            _ => Ok(()),
        }
    }

    /// Checks an answer: a documented status with a body its schema admits. Statuses
    /// the operation does not document (429, 502 of rate limits and outages, which
    /// GitHub documents for the whole API) are not checked.
    pub fn check_response(
        &self,
        method: &str,
        target: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let path = target.split('?').next().unwrap_or(target);
        let operation = self.operation(method, path)?;
        let Some(response) = operation["responses"].get(status.to_string()) else {
            return Ok(());
        };
        let response = self.resolve(response);
        match response["content"]["application/json"].get("schema") {
            Some(schema) => self.validate(schema, body, "response"),
            None => Ok(()),
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if value.is_null() && schema["nullable"] == true {
            return Ok(());
        }
        if let Some(all) = schema["allOf"].as_array() {
            for part in all {
                self.validate(part, value, at)?;
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(any) = schema[key].as_array() {
                if !any
                    .iter()
                    .any(|part| self.validate(part, value, at).is_ok())
                {
                    return Err(format!("{at}: matches none of {key}"));
                }
            }
        }
        if let Some(choices) = schema["enum"].as_array() {
            if !choices.contains(value) {
                return Err(format!("{at}: {value} is not one of {choices:?}"));
            }
        }
        match schema["type"].as_str() {
            Some("object") => {
                let object = value
                    .as_object()
                    .ok_or_else(|| format!("{at}: not an object: {value}"))?;
                for required in schema["required"].as_array().into_iter().flatten() {
                    let name = required.as_str().unwrap_or_default();
                    if !object.contains_key(name) {
                        return Err(format!("{at}: required {name} missing"));
                    }
                }
                if let Some(properties) = schema["properties"].as_object() {
                    for (name, item) in object {
                        if let Some(property) = properties.get(name) {
                            self.validate(property, item, &format!("{at}.{name}"))?;
                        }
                    }
                }
                Ok(())
            }
            Some("array") => {
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("{at}: not an array: {value}"))?;
                if let Some(min) = schema["minItems"].as_u64() {
                    if (items.len() as u64) < min {
                        return Err(format!("{at}: fewer than {min} items"));
                    }
                }
                if let Some(max) = schema["maxItems"].as_u64() {
                    if items.len() as u64 > max {
                        return Err(format!("{at}: more than {max} items"));
                    }
                }
                for (i, item) in items.iter().enumerate() {
                    self.validate(&schema["items"], item, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            Some("string") if !value.is_string() => Err(format!("{at}: not a string: {value}")),
            Some("integer") if !(value.is_i64() || value.is_u64()) => {
                Err(format!("{at}: not an integer: {value}"))
            }
            Some("number") if !value.is_number() => Err(format!("{at}: not a number: {value}")),
            Some("boolean") if !value.is_boolean() => Err(format!("{at}: not a boolean: {value}")),
            _ => Ok(()),
        }
    }
}
