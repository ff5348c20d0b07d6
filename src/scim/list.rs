//! Query parameters of list requests (GET with a query, or `POST /.search`), paging,
//! `attributes`/`excludedAttributes` projection, and the ListResponse.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::filter::{parse_filter, Filter};
use super::schema::{ResourceSchema, LIST_RESPONSE, SEARCH_REQUEST};
use super::sql::Resource;

/// Page size when the client does not ask for one.
pub const DEFAULT_COUNT: i64 = 100;
/// Largest page served (advertised as `filter.maxResults`).
pub const MAX_COUNT: i64 = 500;

/// A validated list request.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: i64,
    pub count: i64,
    pub sort_column: Option<&'static str>,
    pub descending: bool,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// The body of `POST /.search` (RFC 7644 §3.4.3).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default)]
    pub schemas: Vec<String>,
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    #[serde(default)]
    pub attributes: Vec<String>,
    #[serde(default)]
    pub excluded_attributes: Vec<String>,
}

impl SearchRequest {
    /// A `POST /.search` body must say it is a SearchRequest (RFC 7644 §3.4.3).
    pub fn checked(self) -> Result<Self, ScimError> {
        if !self
            .schemas
            .iter()
            .any(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST))
        {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must be [\"{SEARCH_REQUEST}\"]"
            )));
        }
        Ok(self)
    }

    /// From query parameters, whose names are matched case-insensitively.
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, ScimError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
                })
                .transpose()
        };
        let list = |name: &str| {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Self {
            schemas: Vec::new(),
            filter: get("filter"),
            start_index: number("startIndex")?,
            count: number("count")?,
            sort_by: get("sortBy"),
            sort_order: get("sortOrder"),
            attributes: list("attributes"),
            excluded_attributes: list("excludedAttributes"),
        })
    }

    pub fn validate(self, resource: Resource) -> Result<ListParams, ScimError> {
        let filter = match self
            .filter
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            Some(text) => {
                Some(parse_filter(text).map_err(|e| ScimError::invalid_filter(e.to_string()))?)
            }
            None => None,
        };
        let sort_column = match self.sort_by.as_deref().filter(|s| !s.is_empty()) {
            Some(sort_by) => Some(resource.sort_column(sort_by)?),
            None => None,
        };
        let descending = match self
            .sort_order
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("ascending") => false,
            Some("descending") => true,
            Some(_) => {
                return Err(ScimError::invalid_value(
                    "sortOrder must be ascending or descending",
                ))
            }
        };
        Ok(ListParams {
            filter,
            // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0.
            start_index: self.start_index.unwrap_or(1).max(1),
            count: self.count.unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT),
            sort_column,
            descending,
            attributes: self.attributes,
            excluded: self.excluded_attributes,
        })
    }
}

impl ListParams {
    /// `ORDER BY` text: the sort column, then (appended by the store) the id, so
    /// pages are stable. Resources without a value come last in ascending order and
    /// first in descending order (RFC 7644 §3.4.2.3), spelled out: the engines'
    /// defaults differ.
    pub fn order_by(&self, default: &'static str) -> String {
        let column = self.sort_column.unwrap_or(default);
        if self.descending {
            format!("{column} DESC NULLS FIRST")
        } else {
            format!("{column} ASC NULLS LAST")
        }
    }

    pub fn offset(&self) -> i64 {
        self.start_index - 1
    }

    /// Whether the response will contain this top-level attribute.
    pub fn wants(&self, attribute: &str) -> bool {
        let named = |list: &[String]| {
            list.iter().any(|a| {
                a.split('.')
                    .next()
                    .is_some_and(|top| top.eq_ignore_ascii_case(attribute))
            })
        };
        if !self.attributes.is_empty() {
            return named(&self.attributes);
        }
        !named(&self.excluded)
    }
}

/// The ListResponse envelope.
pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Applies `attributes` / `excludedAttributes` to a rendered resource. `id` and
/// `schemas` are always returned (RFC 7643 §7 "returned: always").
pub fn project(
    schema: &ResourceSchema,
    resource: Value,
    attributes: &[String],
    excluded: &[String],
) -> Value {
    let Value::Object(mut object) = resource else {
        return resource;
    };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for key in ["schemas", "id"] {
            if let Some(v) = object.get(key) {
                out.insert(key.to_string(), v.clone());
            }
        }
        for path in attributes {
            copy_path(&object, &mut out, &keys(schema, path));
        }
        return Value::Object(out);
    }
    for path in excluded {
        let keys = keys(schema, path);
        if keys.len() == 1
            && (keys[0].eq_ignore_ascii_case("id") || keys[0].eq_ignore_ascii_case("schemas"))
        {
            continue;
        }
        remove_path(&mut object, &keys);
    }
    Value::Object(object)
}

/// `urn:…:User:manager.value` → [urn, manager, value]; `name.givenName` → [name, givenName].
fn keys(schema: &ResourceSchema, path: &str) -> Vec<String> {
    match schema.split_urn(path) {
        Some((super::schema::Namespace::Extension(urn), rest)) => {
            let mut keys = vec![urn.to_string()];
            keys.extend(
                rest.split('.')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
            keys
        }
        Some((super::schema::Namespace::Core, rest)) => {
            rest.split('.').map(str::to_string).collect()
        }
        None => vec![path.to_string()],
    }
}

fn find_key<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a String> {
    object.keys().find(|k| k.eq_ignore_ascii_case(key))
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, keys: &[String]) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    let Some(name) = find_key(from, first) else {
        return;
    };
    let value = &from[name];
    if rest.is_empty() {
        to.insert(name.clone(), value.clone());
        return;
    }
    match value {
        Value::Object(inner) => {
            let target = to
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(target) = target {
                copy_path(inner, target, rest);
            }
        }
        Value::Array(items) => {
            let picked: Vec<Value> = items
                .iter()
                .filter_map(Value::as_object)
                .map(|item| {
                    let mut out = Map::new();
                    copy_path(item, &mut out, rest);
                    Value::Object(out)
                })
                .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                .collect();
            if !picked.is_empty() {
                to.insert(name.clone(), Value::Array(picked));
            }
        }
        _ => {}
    }
}

fn remove_path(object: &mut Map<String, Value>, keys: &[String]) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    let Some(name) = find_key(object, first).cloned() else {
        return;
    };
    if rest.is_empty() {
        object.remove(&name);
        return;
    }
    match object.get_mut(&name) {
        Some(Value::Object(inner)) => remove_path(inner, rest),
        Some(Value::Array(items)) => {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                remove_path(item, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_SCHEMA, GROUP, USER};

    fn user() -> Value {
        json!({
            "schemas": ["s"], "id": "1", "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "L"},
            "emails": [{"value": "a@x", "type": "work"}],
            ENTERPRISE_SCHEMA: {"employeeNumber": "7", "department": "R&D"},
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn attributes_keep_only_what_is_asked_plus_id_and_schemas() {
        let projected = project(
            &USER,
            user(),
            &[
                "USERNAME".into(),
                "emails.value".into(),
                format!("{ENTERPRISE_SCHEMA}:employeeNumber"),
            ],
            &[],
        );
        assert_eq!(
            projected,
            json!({"schemas": ["s"], "id": "1", "userName": "ada", "emails": [{"value": "a@x"}],
                   ENTERPRISE_SCHEMA: {"employeeNumber": "7"}})
        );
    }

    #[test]
    fn excluded_attributes_are_removed_but_never_id() {
        let group =
            json!({"schemas": ["s"], "id": "g", "displayName": "eng", "members": [{"value": "1"}]});
        assert_eq!(
            project(&GROUP, group, &[], &["members".into(), "id".into()]),
            json!({"schemas": ["s"], "id": "g", "displayName": "eng"})
        );
        let projected = project(&USER, user(), &[], &["name.familyName".into()]);
        assert_eq!(projected["name"], json!({"givenName": "Ada"}));
    }

    #[test]
    fn paging_parameters_are_clamped_as_the_rfc_says() {
        let query: HashMap<String, String> = [("startIndex", "-3"), ("COUNT", "100000")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let params = SearchRequest::from_query(&query)
            .unwrap()
            .validate(Resource::User)
            .unwrap();
        assert_eq!((params.start_index, params.count), (1, MAX_COUNT));
        let bad: HashMap<String, String> = [("count".to_string(), "ten".to_string())]
            .into_iter()
            .collect();
        assert!(SearchRequest::from_query(&bad).is_err());
    }
}
