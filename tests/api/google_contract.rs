//! Checks HTTP exchanges against a Google API discovery document (the format Google
//! publishes its API descriptions in; `google-api-python-client` ships them, pinned in
//! tests/peers/requirements.txt): the method and path of a request, its query
//! parameters (declared, typed, within enum and bounds), and a successful answer's
//! body against the method's response schema.

use serde_json::Value;

pub struct DiscoveryDoc {
    doc: Value,
    /// (HTTP method, path template, method description).
    methods: Vec<(String, String, Value)>,
}

fn collect(resource: &Value, out: &mut Vec<(String, String, Value)>) {
    for method in resource["methods"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        out.push((
            method["httpMethod"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            method["path"].as_str().unwrap_or_default().to_string(),
            method.clone(),
        ));
    }
    for child in resource["resources"]
        .as_object()
        .into_iter()
        .flat_map(|r| r.values())
    {
        collect(child, out);
    }
}

impl DiscoveryDoc {
    /// The Admin SDK Directory API's document; None (a skip) when the package is not
    /// installed, unless OWNERBOUND_TEST_REQUIRE_ALL=1.
    pub fn admin_directory() -> Option<Self> {
        let located = std::process::Command::new("python3")
            .args([
                "-c",
                "import googleapiclient, os; print(os.path.dirname(googleapiclient.__file__))",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success());
        let Some(located) = located else {
            assert!(
                std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "google-api-python-client is required: python3 -m pip install -r tests/peers/requirements.txt"
            );
            eprintln!("skipping: google-api-python-client is not installed");
            return None;
        };
        let dir = String::from_utf8_lossy(&located.stdout).trim().to_string();
        let text = std::fs::read_to_string(format!(
            "{dir}/discovery_cache/documents/admin.directory_v1.json"
        ))
        .expect("admin.directory_v1.json in google-api-python-client");
        let doc: Value = serde_json::from_str(&text).unwrap();
        let mut methods = Vec::new();
        collect(&doc, &mut methods);
        Some(Self { doc, methods })
    }

    fn method(&self, http_method: &str, path: &str) -> Result<&Value, String> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        // The most specific documented path: most literal segments matched.
        self.methods
            .iter()
            .filter_map(|(m, template, method)| {
                let parts: Vec<&str> = template.split('/').collect();
                let matches = m == http_method
                    && parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    });
                let literal = parts.iter().filter(|t| !t.starts_with('{')).count();
                matches.then_some((literal, method))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, method)| method)
            .ok_or_else(|| format!("{http_method} {path} is not a documented method"))
    }

    pub fn check_request(&self, http_method: &str, target: &str) -> Result<(), String> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let method = self.method(http_method, path)?;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let declared = &method["parameters"][name.as_ref()];
            if declared["location"] != "query" {
                return Err(format!(
                    "{http_method} {path}: query parameter {name} is not documented"
                ));
            }
            if let Some(choices) = declared["enum"].as_array() {
                if !choices.iter().any(|c| c == value.as_ref()) {
                    return Err(format!(
                        "{http_method} {path}: {name}={value} is not one of {choices:?}"
                    ));
                }
            }
            if declared["type"] == "integer" {
                let n: i64 = value.parse().map_err(|_| {
                    format!("{http_method} {path}: {name}={value} is not an integer")
                })?;
                let bound = |key: &str| declared[key].as_str().and_then(|b| b.parse::<i64>().ok());
                if bound("minimum").is_some_and(|min| n < min)
                    || bound("maximum").is_some_and(|max| n > max)
                {
                    return Err(format!(
                        "{http_method} {path}: {name}={value} is out of bounds"
                    ));
                }
            }
        }
        Ok(())
    }

    /// A successful answer's body against the method's response schema; errors and
    /// empty answers (a 204) are not described by the document.
    pub fn check_response(
        &self,
        http_method: &str,
        target: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let path = target.split('?').next().unwrap_or(target);
        let method = self.method(http_method, path)?;
        match (&method["response"], status) {
            (Value::Null, _) => Ok(()),
            (schema, 200) => self.validate(schema, body, "response"),
            _ => Ok(()),
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = match schema["$ref"].as_str() {
            Some(id) => &self.doc["schemas"][id],
            None => schema,
        };
        match schema["type"].as_str() {
            Some("object") => {
                let object = value
                    .as_object()
                    .ok_or_else(|| format!("{at}: not an object: {value}"))?;
                let properties = schema["properties"].as_object();
                for (name, item) in object {
                    match properties.and_then(|p| p.get(name)) {
                        Some(property) => self.validate(property, item, &format!("{at}.{name}"))?,
                        None if schema.get("additionalProperties").is_some() => self.validate(
                            &schema["additionalProperties"],
                            item,
                            &format!("{at}.{name}"),
                        )?,
                        None => return Err(format!("{at}: {name} is not a documented property")),
                    }
                }
                Ok(())
            }
            Some("array") => {
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("{at}: not an array: {value}"))?;
                for (i, item) in items.iter().enumerate() {
                    self.validate(&schema["items"], item, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            Some("string") if !value.is_string() => Err(format!("{at}: not a string: {value}")),
            Some("boolean") if !value.is_boolean() => Err(format!("{at}: not a boolean: {value}")),
            Some("integer") if !value.is_i64() => Err(format!("{at}: not an integer: {value}")),
            _ => Ok(()),
        }
    }
}
