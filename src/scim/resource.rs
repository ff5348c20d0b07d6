//! SCIM resource documents: checking and canonicalising what a client sends against
//! the schema, and rendering what we return.
//!
//! Canonical form: attribute names as the schema spells them, booleans as booleans
//! (Entra ID sends `"False"`), nulls and empty values removed (JumpCloud sends
//! `"emails": null`), read-only attributes (`id`, `meta`, `groups`) and write-only
//! ones (`password`, never stored) dropped, unknown attributes dropped. A value of
//! the wrong type is an `invalidValue` error.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::schema::{Attr, AttrType, Mutability, ResourceSchema};

/// Canonicalises a whole resource (POST, PUT). Read-only attributes are ignored, as
/// RFC 7644 §3.3 and §3.5.1 say.
pub fn canonicalize(
    schema: &ResourceSchema,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some((urn, attrs)) = schema.extension(key) {
            if let Some(ext) = canonical_extension(urn, attrs, value)? {
                out.insert(urn.to_string(), Value::Object(ext));
            }
            continue;
        }
        let Some(attr) = schema.core_attr(key) else {
            tracing::debug!(attribute = %key, "ignoring an attribute outside the supported schemas");
            continue;
        };
        if matches!(
            attr.mutability,
            Mutability::ReadOnly | Mutability::WriteOnly
        ) {
            continue;
        }
        if let Some(v) = canonical_value(attr, value, attr.name)? {
            out.insert(attr.name.to_string(), v);
        }
    }
    for attr in schema.attrs.iter().filter(|a| a.required) {
        let blank = out
            .get(attr.name)
            .and_then(Value::as_str)
            .is_none_or(|v| v.trim().is_empty());
        if blank {
            return Err(ScimError::invalid_value(format!(
                "{} is required",
                attr.name
            )));
        }
    }
    Ok(out)
}

fn canonical_extension(
    urn: &str,
    attrs: &'static [Attr],
    value: &Value,
) -> Result<Option<Map<String, Value>>, ScimError> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => return Err(ScimError::invalid_value(format!("{urn} must be an object"))),
    };
    let mut out = Map::new();
    for (key, value) in object {
        let Some(attr) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(key)) else {
            continue;
        };
        if let Some(v) = canonical_value(attr, value, attr.name)? {
            out.insert(attr.name.to_string(), v);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Canonicalises one attribute value; None means "no value" (null or empty).
pub fn canonical_value(
    attr: &Attr,
    value: &Value,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            // A single value where a list is expected: take it as a list of one.
            other => vec![other],
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(v) = canonical_single(attr, item, label)? {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    if let Value::Array(items) = value {
        // Entra ID adds `manager` as a one-element array.
        return match items.as_slice() {
            [] => Ok(None),
            [one] => canonical_single(attr, one, label),
            _ => Err(ScimError::invalid_value(format!(
                "{label} takes a single value"
            ))),
        };
    }
    canonical_single(attr, value, label)
}

/// Canonicalises one (non-list) value of `attr`.
pub fn canonical_single(
    attr: &Attr,
    value: &Value,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    let wrong = |expected: &str| ScimError::invalid_value(format!("{label} must be {expected}"));
    Ok(match (attr.ty, value) {
        (_, Value::Null) => None,
        (AttrType::Complex, Value::Object(object)) => {
            let mut out = Map::new();
            for (key, v) in object {
                let Some(sub) = attr.sub_attr(key) else {
                    continue;
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = canonical_sub(sub, v, &format!("{label}.{}", sub.name))? {
                    out.insert(sub.name.to_string(), v);
                }
            }
            // Checked after dropping what the server owns: a member written with
            // only a `display` names nobody, and must not vanish with a 200.
            for sub in attr.sub.iter().filter(|s| s.required) {
                let blank = out
                    .get(sub.name)
                    .and_then(Value::as_str)
                    .is_none_or(|v| v.trim().is_empty());
                if blank {
                    return Err(ScimError::invalid_value(format!(
                        "{label}: each needs a {}",
                        sub.name
                    )));
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (AttrType::Complex, _) => return Err(wrong("an object")),
        (AttrType::Boolean, Value::Bool(b)) => Some(Value::Bool(*b)),
        (AttrType::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => return Err(wrong("a boolean")),
        },
        (AttrType::Boolean, _) => return Err(wrong("a boolean")),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(s)) => {
            if s.chars().count() > 2048 {
                return Err(wrong("at most 2048 characters"));
            }
            if s.contains('\0') {
                return Err(wrong("text without NUL characters"));
            }
            // RFC 7643 §2.3.6: binary values are base64, and are served as such.
            if attr.ty == AttrType::Binary && !is_base64(s) {
                return Err(wrong("base64"));
            }
            Some(Value::String(s.clone()))
        }
        (AttrType::String | AttrType::Reference | AttrType::Binary, _) => {
            return Err(wrong("a string"))
        }
        (AttrType::DateTime, Value::String(s)) => {
            DateTime::parse_from_rfc3339(s).map_err(|_| wrong("an RFC 3339 date-time"))?;
            Some(Value::String(s.clone()))
        }
        (AttrType::DateTime, _) => return Err(wrong("an RFC 3339 date-time")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() => Some(Value::Number(n.clone())),
        (AttrType::Decimal, Value::Number(n)) => Some(Value::Number(n.clone())),
        (AttrType::Integer | AttrType::Decimal, _) => return Err(wrong("a number")),
    })
}

/// Canonicalises the value of a sub-attribute, which may itself be multi-valued
/// (`oAuthConfiguration.redirectUri`, a list of strings).
pub fn canonical_sub(sub: &Attr, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    if sub.multi {
        canonical_value(sub, value, label)
    } else {
        canonical_single(sub, value, label)
    }
}

fn is_base64(text: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .is_ok()
}

/// `meta` of a resource.
pub struct Meta<'a> {
    pub resource_type: &'a str,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub location: String,
    pub version: i64,
}

/// The weak ETag of a resource version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Renders a resource: `schemas`, `id`, the stored document, extra computed
/// attributes, and `meta`.
pub fn render(
    schema: &ResourceSchema,
    id: &str,
    doc: &Map<String, Value>,
    extra: Map<String, Value>,
    meta: Meta<'_>,
) -> Value {
    let mut schemas = vec![json!(schema.core)];
    for (urn, _) in schema.extensions {
        if doc.contains_key(*urn) {
            schemas.push(json!(urn));
        }
    }
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), json!(id));
    for (k, v) in doc {
        out.insert(k.clone(), v.clone());
    }
    for (k, v) in extra {
        out.insert(k, v);
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": meta.resource_type,
            "created": meta.created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModified": meta.last_modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "location": meta.location,
            "version": etag(meta.version),
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_SCHEMA, USER};

    #[test]
    fn entra_create_body_is_canonicalised() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_SCHEMA],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "UserName": "Test_User_ab6490ee@testuser.com",
            "active": "True",
            "displayName": "Test User",
            "emails": [{"Primary": true, "type": "work", "value": "Test_User@testuser.com"}],
            "name": {"familyName": "User", "givenName": "Test", "formatted": null},
            "roles": [],
            "password": "never-stored",
            "id": "client-chosen",
            ENTERPRISE_SCHEMA: {"employeeNumber": "1234", "department": null},
            "urn:example:custom:2.0:User": {"x": 1}
        });
        let doc = canonicalize(&USER, body.as_object().unwrap()).unwrap();
        assert_eq!(doc["userName"], "Test_User_ab6490ee@testuser.com");
        assert_eq!(doc["active"], true);
        assert_eq!(doc["emails"][0]["primary"], true);
        assert_eq!(
            doc["name"],
            json!({"familyName": "User", "givenName": "Test"})
        );
        assert_eq!(doc[ENTERPRISE_SCHEMA], json!({"employeeNumber": "1234"}));
        for absent in [
            "roles",
            "password",
            "id",
            "schemas",
            "urn:example:custom:2.0:User",
        ] {
            assert!(!doc.contains_key(absent), "{absent} kept");
        }
    }

    #[test]
    fn wrong_types_and_missing_user_name_are_invalid_values() {
        for body in [
            json!({"userName": 5}),
            json!({"userName": "a", "active": "maybe"}),
            json!({"userName": "a", "name": "Ada"}),
            json!({"userName": "a", ENTERPRISE_SCHEMA: {"manager": 3}}),
            json!({"displayName": "no user name"}),
        ] {
            let err = canonicalize(&USER, body.as_object().unwrap()).unwrap_err();
            assert_eq!(err.scim_type, Some("invalidValue"), "{body}");
        }
    }
}
