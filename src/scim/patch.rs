//! SCIM PATCH (RFC 7644 §3.5.2) applied to a canonical resource document.
//!
//! Every shape identity providers are known to send is accepted: `op` in any case;
//! operations with and without `path`; path-less value objects with dotted
//! (`name.givenName`) and URN-qualified keys; string booleans; filtered paths
//! (`emails[type eq "work"].value` creates the element when none matches,
//! `members[value eq "…"]`, `manager[value eq "…"]`); an array added to the
//! single-valued `manager`; Okta's group rename `{"id":…, "displayName":…}`; Entra's
//! `remove` of `members` with a value list.
//!
//! A well-formed path to an attribute outside the supported schemas is skipped and
//! reported, not refused: refusing would also drop the `active: false` that may sit
//! in the same request, and a departed person's agents would keep running.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{parse_path, CompareOp, Filter, FilterValue};
use super::resource::{canonical_single, canonical_sub, canonical_value};
use super::schema::{Attr, AttrType, Mutability, Namespace, ResourceSchema};

/// A PatchOp request body.
#[derive(Debug, Clone, Deserialize)]
pub struct PatchRequest {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOperation>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PatchOperation {
    pub op: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Most operations accepted in one request.
pub const MAX_OPERATIONS: usize = 1000;

/// Applies the operations in order. Returns the paths that were skipped because they
/// name attributes outside the supported schemas.
pub fn apply(
    schema: &ResourceSchema,
    doc: &mut Map<String, Value>,
    resource_id: &str,
    operations: &[PatchOperation],
) -> Result<Vec<String>, ScimError> {
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            Some("tooMany"),
            format!("at most {MAX_OPERATIONS} operations per request"),
        ));
    }
    let mut patcher = Patcher {
        schema,
        resource_id,
        skipped: Vec::new(),
    };
    for operation in operations {
        let op = match operation.op.to_ascii_lowercase().as_str() {
            "add" => Op::Add,
            "replace" => Op::Replace,
            "remove" => Op::Remove,
            _ => {
                return Err(ScimError::invalid_syntax(
                    "op must be add, replace or remove",
                ))
            }
        };
        let path = operation
            .path
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        match path {
            Some(path) => patcher.apply_path(doc, op, path, operation.value.as_ref())?,
            None => patcher.apply_pathless(doc, op, operation.value.as_ref())?,
        }
    }
    Ok(patcher.skipped)
}

struct Patcher<'a> {
    schema: &'a ResourceSchema,
    resource_id: &'a str,
    skipped: Vec<String>,
}

/// Where an operation lands, once its path is resolved.
struct Target {
    ns: Namespace,
    attr: &'static Attr,
    filter: Option<Filter>,
    sub: Option<&'static Attr>,
}

impl Patcher<'_> {
    fn apply_pathless(
        &mut self,
        doc: &mut Map<String, Value>,
        op: Op,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        if op == Op::Remove {
            return Err(ScimError::no_target("remove needs a path"));
        }
        let Some(Value::Object(object)) = value else {
            return Err(ScimError::invalid_value(
                "an operation without path needs an object value",
            ));
        };
        for (key, v) in object {
            if key.eq_ignore_ascii_case("id") {
                // Okta's group rename repeats the id; anything else is an attempt to change it.
                if v.as_str() == Some(self.resource_id) {
                    continue;
                }
                return Err(ScimError::mutability("id is read-only"));
            }
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            if let (Some((urn, _)), Value::Object(inner)) = (self.schema.extension(key), v) {
                for (inner_key, inner_value) in inner {
                    self.apply_path(doc, op, &format!("{urn}:{inner_key}"), Some(inner_value))?;
                }
                continue;
            }
            self.apply_path(doc, op, key, Some(v))?;
        }
        Ok(())
    }

    fn apply_path(
        &mut self,
        doc: &mut Map<String, Value>,
        op: Op,
        path: &str,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        if let Some((urn, attrs)) = self.schema.extension(path) {
            return apply_whole_extension(doc, op, urn, attrs, value);
        }
        let Some(target) = self.resolve(path)? else {
            self.skipped.push(path.to_string());
            return Ok(());
        };
        let container = match target.ns {
            Namespace::Core => &mut *doc,
            Namespace::Extension(urn) => {
                let entry = doc
                    .entry(urn.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                entry.as_object_mut().expect("made an object")
            }
        };
        if op != Op::Remove && value.is_none() {
            return Err(ScimError::invalid_value(format!(
                "{path}: add and replace need a value"
            )));
        }
        let value = value.unwrap_or(&Value::Null);
        if target.attr.multi {
            apply_multi(container, op, &target, value)?;
        } else if target.attr.ty == AttrType::Complex {
            apply_complex(container, op, &target, value)?;
        } else {
            if target.filter.is_some() || target.sub.is_some() {
                return Err(ScimError::invalid_path(format!(
                    "{path}: {} has no sub-attributes",
                    target.attr.name
                )));
            }
            match op {
                Op::Remove => {
                    container.remove(target.attr.name);
                }
                Op::Add | Op::Replace => set(
                    container,
                    target.attr.name,
                    canonical_value(target.attr, value, target.attr.name)?,
                ),
            }
        }
        if let Namespace::Extension(urn) = target.ns {
            if doc
                .get(urn)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
            {
                doc.remove(urn);
            }
        }
        Ok(())
    }

    /// Resolves a path; None when it names an attribute outside our schemas.
    fn resolve(&self, path: &str) -> Result<Option<Target>, ScimError> {
        let Some((ns, local)) = self.schema.split_urn(path) else {
            return Ok(None);
        };
        let parsed =
            parse_path(local).map_err(|e| ScimError::invalid_path(format!("{path}: {e}")))?;
        let Some((ns, attr)) = self.schema.attr_in(ns, &parsed.attr.name) else {
            return Ok(None);
        };
        if matches!(attr.mutability, Mutability::ReadOnly) {
            return Err(ScimError::mutability(format!("{} is read-only", attr.name)));
        }
        if attr.mutability == Mutability::WriteOnly {
            // `password`: accepted and discarded, never stored.
            return Ok(None);
        }
        let sub = match &parsed.attr.sub {
            Some(name) => match attr.sub_attr(name) {
                Some(sub) if sub.mutability == Mutability::ReadOnly => {
                    return Err(ScimError::mutability(format!(
                        "{}.{} is read-only",
                        attr.name, sub.name
                    )))
                }
                Some(sub) => Some(sub),
                None => return Ok(None),
            },
            None => None,
        };
        if parsed.filter.is_some() && attr.ty != AttrType::Complex {
            return Err(ScimError::invalid_path(format!(
                "{path}: value filters need a complex attribute"
            )));
        }
        Ok(Some(Target {
            ns,
            attr,
            filter: parsed.filter,
            sub,
        }))
    }
}

fn set(container: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            container.insert(key.to_string(), v);
        }
        None => {
            container.remove(key);
        }
    }
}

fn apply_whole_extension(
    doc: &mut Map<String, Value>,
    op: Op,
    urn: &'static str,
    attrs: &'static [Attr],
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if op == Op::Remove {
        doc.remove(urn);
        return Ok(());
    }
    let Some(Value::Object(object)) = value else {
        return Err(ScimError::invalid_value(format!("{urn} must be an object")));
    };
    let mut ext = if op == Op::Add {
        doc.get(urn)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    } else {
        Map::new()
    };
    for (key, v) in object {
        if let Some(attr) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(key)) {
            if attr.mutability == Mutability::ReadOnly {
                return Err(ScimError::mutability(format!("{} is read-only", attr.name)));
            }
            set(&mut ext, attr.name, canonical_value(attr, v, attr.name)?);
        }
    }
    set(doc, urn, (!ext.is_empty()).then_some(Value::Object(ext)));
    Ok(())
}

/// Operations on a single-valued complex attribute (`name`, `manager`).
fn apply_complex(
    container: &mut Map<String, Value>,
    op: Op,
    target: &Target,
    value: &Value,
) -> Result<(), ScimError> {
    let key = target.attr.name;
    let current = container.get(key).and_then(Value::as_object).cloned();
    if let Some(filter) = &target.filter {
        let matches = match &current {
            Some(object) => element_matches(filter, object, target.attr)?,
            None => false,
        };
        if !matches {
            // Nothing to remove (idempotent), or nothing to change but to create.
            if op == Op::Remove || current.is_some() {
                return Ok(());
            }
        }
    }
    let mut object = current.unwrap_or_default();
    match (op, target.sub) {
        (Op::Remove, None) => {
            container.remove(key);
            return Ok(());
        }
        (Op::Remove, Some(sub)) => {
            object.remove(sub.name);
        }
        (_, Some(sub)) => set(
            &mut object,
            sub.name,
            canonical_sub(sub, value, &format!("{key}.{}", sub.name))?,
        ),
        // RFC 7644 §3.5.2.1 and §3.5.2.3: sub-attributes not given stay as they are,
        // for add and replace alike.
        (Op::Add | Op::Replace, None) => {
            if let Some(Value::Object(new)) = canonical_value(target.attr, value, key)? {
                object.extend(new);
            }
        }
    }
    set(
        container,
        key,
        (!object.is_empty()).then_some(Value::Object(object)),
    );
    Ok(())
}

/// Operations on a multi-valued attribute (`emails`, `members`, …).
fn apply_multi(
    container: &mut Map<String, Value>,
    op: Op,
    target: &Target,
    value: &Value,
) -> Result<(), ScimError> {
    let key = target.attr.name;
    let mut items: Vec<Value> = container
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_complex = target.attr.ty == AttrType::Complex;
    match (&target.filter, target.sub, op) {
        (None, None, Op::Add) => {
            if let Some(Value::Array(new)) = canonical_value(target.attr, value, key)? {
                for item in new {
                    add_or_update(&mut items, item);
                }
            }
        }
        (None, None, Op::Replace) => {
            items = match canonical_value(target.attr, value, key)? {
                Some(Value::Array(new)) => new,
                _ => Vec::new(),
            };
        }
        (None, None, Op::Remove) => {
            if value.is_null() {
                items.clear();
            } else {
                // Entra ID: remove the listed values only.
                let doomed: Vec<Value> = match canonical_value(target.attr, value, key)? {
                    Some(Value::Array(list)) => list,
                    _ => Vec::new(),
                };
                items.retain(|item| !doomed.iter().any(|d| same_value(item, d)));
            }
        }
        (None, Some(sub), op) => {
            if items.is_empty() && op != Op::Remove {
                items.push(Value::Object(Map::new()));
            }
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                match op {
                    Op::Remove => {
                        item.remove(sub.name);
                    }
                    _ => set(
                        item,
                        sub.name,
                        canonical_sub(sub, value, &format!("{key}.{}", sub.name))?,
                    ),
                }
            }
        }
        (Some(filter), sub, op) => {
            if !is_complex {
                return Err(ScimError::invalid_path(format!(
                    "{key}: value filters need a complex attribute"
                )));
            }
            let mut matched = false;
            let mut kept = Vec::with_capacity(items.len());
            for item in items.drain(..) {
                let is_match = match item.as_object() {
                    Some(object) => element_matches(filter, object, target.attr)?,
                    None => false,
                };
                if !is_match {
                    kept.push(item);
                    continue;
                }
                matched = true;
                let mut object = item.as_object().cloned().unwrap_or_default();
                match (op, sub) {
                    (Op::Remove, None) => continue,
                    (Op::Remove, Some(sub)) => {
                        object.remove(sub.name);
                    }
                    (_, Some(sub)) => set(
                        &mut object,
                        sub.name,
                        canonical_sub(sub, value, &format!("{key}.{}", sub.name))?,
                    ),
                    (_, None) => {
                        if let Some(Value::Object(new)) = canonical_single(target.attr, value, key)?
                        {
                            object.extend(new);
                        }
                    }
                }
                if !object.is_empty() {
                    kept.push(Value::Object(object));
                }
            }
            items = kept;
            if !matched && op != Op::Remove {
                // Entra ID expects `replace emails[type eq "work"].value` to create the
                // work email when there is none.
                let mut object = equalities(filter);
                match sub {
                    Some(sub) => set(&mut object, sub.name, Some(value.clone())),
                    None => {
                        if let Value::Object(new) = value {
                            object.extend(new.clone());
                        }
                    }
                }
                if let Some(item) = canonical_single(target.attr, &Value::Object(object), key)? {
                    items.push(item);
                }
            }
        }
    }
    keep_one_primary(&mut items);
    set(
        container,
        key,
        (!items.is_empty()).then_some(Value::Array(items)),
    );
    Ok(())
}

/// Adds an element, or updates the one with the same `value` and `type`.
fn add_or_update(items: &mut Vec<Value>, new: Value) {
    if let Some(existing) = items.iter_mut().find(|i| same_value(i, &new)) {
        if let (Some(old), Some(new)) = (existing.as_object_mut(), new.as_object()) {
            old.extend(new.clone());
        }
        return;
    }
    items.push(new);
}

/// Two elements of a multi-valued attribute are the same when their `value` (and
/// `type`, when both have one) agree.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let value_eq = match (
                a.get("value").and_then(Value::as_str),
                b.get("value").and_then(Value::as_str),
            ) {
                (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
                _ => false,
            };
            let type_eq = match (a.get("type"), b.get("type")) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            };
            value_eq && type_eq
        }
        _ => a == b,
    }
}

/// At most one element may be primary: the last one marked wins (RFC 7643 §2.4).
fn keep_one_primary(items: &mut [Value]) {
    let Some(last) = items
        .iter()
        .rposition(|i| i.get("primary").and_then(Value::as_bool) == Some(true))
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != last {
            if let Some(object) = item.as_object_mut() {
                if object.get("primary").and_then(Value::as_bool) == Some(true) {
                    object.insert("primary".into(), Value::Bool(false));
                }
            }
        }
    }
}

/// The `sub eq value` terms of a filter joined by `and`, as an object.
fn equalities(filter: &Filter) -> Map<String, Value> {
    let mut out = Map::new();
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() => {
            let v = match value {
                FilterValue::String(s) => Value::String(s.clone()),
                FilterValue::Bool(b) => Value::Bool(*b),
                FilterValue::Number(n) => Value::Number(n.clone()),
                FilterValue::Null => return out,
            };
            out.insert(path.name.clone(), v);
        }
        Filter::And(a, b) => {
            out.extend(equalities(a));
            out.extend(equalities(b));
        }
        _ => {}
    }
    out
}

/// Whether one element of a multi-valued complex attribute matches a value filter.
pub fn element_matches(
    filter: &Filter,
    element: &Map<String, Value>,
    attr: &Attr,
) -> Result<bool, ScimError> {
    Ok(match filter {
        Filter::And(a, b) => {
            element_matches(a, element, attr)? && element_matches(b, element, attr)?
        }
        Filter::Or(a, b) => {
            element_matches(a, element, attr)? || element_matches(b, element, attr)?
        }
        Filter::Not(inner) => !element_matches(inner, element, attr)?,
        Filter::ValuePath { .. } => {
            return Err(ScimError::invalid_filter("value filters cannot be nested"))
        }
        Filter::Present(path) => {
            let sub = sub_of(attr, path)?;
            element.get(sub.name).is_some_and(|v| !v.is_null())
        }
        Filter::Compare { path, op, value } => {
            let sub = sub_of(attr, path)?;
            compare(element.get(sub.name), *op, value, sub.case_exact)?
        }
    })
}

fn sub_of(attr: &Attr, path: &super::filter::AttrPath) -> Result<&'static Attr, ScimError> {
    if path.urn.is_some() || path.sub.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "{path}: expected a sub-attribute of {}",
            attr.name
        )));
    }
    attr.sub_attr(&path.name).ok_or_else(|| {
        ScimError::invalid_filter(format!("{} has no sub-attribute {}", attr.name, path.name))
    })
}

/// Compares a stored JSON value with a filter value (in-memory, for PATCH targets).
fn compare(
    actual: Option<&Value>,
    op: CompareOp,
    expected: &FilterValue,
    case_exact: bool,
) -> Result<bool, ScimError> {
    let actual = actual.filter(|v| !v.is_null());
    Ok(match (actual, expected) {
        (None, FilterValue::Null) => op == CompareOp::Eq,
        (Some(_), FilterValue::Null) => op == CompareOp::Ne,
        (None, _) => op == CompareOp::Ne,
        (Some(Value::Bool(a)), FilterValue::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => {
                return Err(ScimError::invalid_filter(
                    "booleans compare with eq or ne only",
                ))
            }
        },
        (Some(Value::String(a)), FilterValue::String(b)) => {
            let (a, b) = if case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            }
        }
        (Some(Value::Bool(_)), FilterValue::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => compare(actual, op, &FilterValue::Bool(true), case_exact)?,
            "false" => compare(actual, op, &FilterValue::Bool(false), case_exact)?,
            _ => op == CompareOp::Ne,
        },
        _ => op == CompareOp::Ne,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::resource::canonicalize;
    use crate::scim::schema::{ENTERPRISE_SCHEMA, GROUP, USER};
    use serde_json::json;

    fn user() -> Map<String, Value> {
        canonicalize(
            &USER,
            json!({
                "userName": "ada@example.com",
                "active": true,
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
            })
            .as_object()
            .unwrap(),
        )
        .unwrap()
    }

    fn ops(value: Value) -> Vec<PatchOperation> {
        serde_json::from_value::<PatchRequest>(value)
            .unwrap()
            .operations
    }

    fn patch(doc: &mut Map<String, Value>, operations: Value) -> Result<Vec<String>, ScimError> {
        apply(
            &USER,
            doc,
            "user-1",
            &ops(json!({"Operations": operations})),
        )
    }

    #[test]
    fn every_deactivation_dialect_sets_active_false() {
        for operations in [
            json!([{"op": "replace", "value": {"active": false}}]),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            json!([{"op": "replace", "path": "active", "value": false}]),
            json!([{"op": "replace", "path": "active", "value": "false"}]),
            json!([{"op": "REPLACE", "path": "urn:ietf:params:scim:schemas:core:2.0:User:active", "value": "False"}]),
            json!([{"op": "Add", "path": "active", "value": "False"}]),
        ] {
            let mut doc = user();
            patch(&mut doc, operations.clone()).unwrap();
            assert_eq!(doc["active"], false, "{operations}");
        }
    }

    #[test]
    fn pathless_value_object_with_dotted_and_urn_keys() {
        let mut doc = user();
        patch(
            &mut doc,
            json!([{"op": "replace", "value": {
                "displayName": "Countess",
                "name.givenName": "Augusta",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "E-7",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Maths"}
            }}]),
        )
        .unwrap();
        assert_eq!(doc["displayName"], "Countess");
        assert_eq!(doc["name"]["givenName"], "Augusta");
        assert_eq!(doc["name"]["familyName"], "Lovelace");
        assert_eq!(
            doc[ENTERPRISE_SCHEMA],
            json!({"employeeNumber": "E-7", "department": "Maths"})
        );
    }

    #[test]
    fn filtered_email_value_replace_creates_the_element_when_missing() {
        let mut doc = user();
        patch(
            &mut doc,
            json!([{"op": "Replace", "path": "emails[type eq \"home\"].value", "value": "ada@home.example"}]),
        )
        .unwrap();
        assert_eq!(doc["emails"].as_array().unwrap().len(), 2);
        assert_eq!(
            doc["emails"][1],
            json!({"type": "home", "value": "ada@home.example"})
        );
        patch(
            &mut doc,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada@new.example"}]),
        )
        .unwrap();
        assert_eq!(doc["emails"][0]["value"], "ada@new.example");
        assert_eq!(doc["emails"][0]["primary"], true);
    }

    #[test]
    fn manager_added_as_an_array_and_removed_by_filter() {
        let mut doc = user();
        patch(
            &mut doc,
            json!([{"op": "Add", "path": "manager", "value": [{"$ref": null, "value": "boss-id"}]}]),
        )
        .unwrap();
        assert_eq!(
            doc[ENTERPRISE_SCHEMA]["manager"],
            json!({"value": "boss-id"})
        );
        patch(
            &mut doc,
            json!([{"op": "Remove", "path": "manager[value eq \"other\"]"}]),
        )
        .unwrap();
        assert!(doc.contains_key(ENTERPRISE_SCHEMA));
        patch(
            &mut doc,
            json!([{"op": "Remove", "path": "manager[value eq \"boss-id\"]"}]),
        )
        .unwrap();
        assert!(!doc.contains_key(ENTERPRISE_SCHEMA), "{doc:?}");
    }

    #[test]
    fn group_membership_and_okta_rename() {
        let mut group =
            canonicalize(&GROUP, json!({"displayName": "eng"}).as_object().unwrap()).unwrap();
        let run = |group: &mut Map<String, Value>, operations: Value| {
            apply(
                &GROUP,
                group,
                "group-1",
                &ops(json!({"Operations": operations})),
            )
            .unwrap();
        };
        run(
            &mut group,
            json!([{"op": "add", "path": "members", "value": [{"value": "u1", "display": "A"}, {"value": "u2"}]}]),
        );
        run(
            &mut group,
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u3"}]}]),
        );
        assert_eq!(group["members"].as_array().unwrap().len(), 3);
        run(
            &mut group,
            json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
        );
        run(
            &mut group,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "u2"}]}]),
        );
        assert_eq!(group["members"], json!([{"value": "u3"}]));
        run(
            &mut group,
            json!([{"op": "replace", "value": {"id": "group-1", "displayName": "engineering"}}]),
        );
        assert_eq!(group["displayName"], "engineering");
        let err = apply(
            &GROUP,
            &mut group,
            "group-1",
            &ops(json!({"Operations": [{"op": "replace", "value": {"id": "other"}}]})),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some("mutability"));
    }

    #[test]
    fn errors_have_the_right_scim_type_and_unknown_attributes_are_skipped() {
        let mut doc = user();
        let cases = [
            (
                json!([{"op": "explode", "path": "active", "value": true}]),
                "invalidSyntax",
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "groups", "value": []}]),
                "mutability",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "userName[value eq \"x\"]", "value": "y"}]),
                "invalidPath",
            ),
        ];
        for (operations, expected) in cases {
            let err = patch(&mut doc, operations.clone()).unwrap_err();
            assert_eq!(err.scim_type, Some(expected), "{operations}");
        }
        let skipped = patch(
            &mut doc,
            json!([
                {"op": "replace", "path": "urn:example:custom:1.0:User:costCentre", "value": "x"},
                {"op": "replace", "path": "favouriteColour", "value": "x"},
                {"op": "replace", "path": "active", "value": false}
            ]),
        )
        .unwrap();
        assert_eq!(skipped.len(), 2);
        assert_eq!(doc["active"], false);
    }
}
