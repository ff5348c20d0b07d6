//! Property tests: the filter parser, the filter-to-SQL translation and the PATCH
//! engine take arbitrary input without panicking, answering only client errors.

use ownerbound::scim::filter::{parse_filter, parse_path};
use ownerbound::scim::patch::{apply, PatchOperation};
use ownerbound::scim::resource::canonicalize;
use ownerbound::scim::schema::{GROUP, USER};
use ownerbound::scim::sql::{to_sql, Resource};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Pieces of filters and paths, so that generated text often gets deep into the grammar.
const TOKENS: &[&str] = &[
    "userName",
    "USERNAME",
    "emails",
    "emails.value",
    "emails.type",
    "members",
    "members.value",
    "active",
    "externalId",
    "id",
    "displayName",
    "name.givenName",
    "meta.lastModified",
    "meta.created",
    "manager",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:",
    "title",
    "[",
    "]",
    "(",
    ")",
    ".",
    ".value",
    "eq",
    "EQ",
    "ne",
    "co",
    "sw",
    "ew",
    "gt",
    "ge",
    "lt",
    "le",
    "pr",
    "and",
    "or",
    "not",
    "\"x\"",
    "\"2026-01-01T00:00:00Z\"",
    "\"work\"",
    "\"\\\"\"",
    "\"",
    "true",
    "False",
    "null",
    "42",
    "-1.5e3",
    "jyoung",
    "%",
    "_",
    "\\",
    "'",
    "é",
    "\u{0}",
];

fn filter_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        prop::collection::vec(prop::sample::select(TOKENS), 0..24)
            .prop_map(|tokens| tokens.join(" ")),
        prop::collection::vec(prop::sample::select(TOKENS), 0..24)
            .prop_map(|tokens| tokens.concat()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["False", "true", "work", "u1", "x@example.com"])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "value",
                        "type",
                        "primary",
                        "active",
                        "userName",
                        "displayName",
                        "name.givenName",
                        "id",
                        "members",
                        "emails",
                        "manager",
                        "$ref",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                    ]),
                    inner
                ),
                0..5,
            )
            .prop_map(|pairs| Value::Object(
                pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

fn operation() -> impl Strategy<Value = PatchOperation> {
    (
        prop::sample::select(vec![
            "add", "Add", "replace", "Replace", "remove", "REMOVE", "merge",
        ]),
        prop::option::of(filter_text()),
        prop::option::of(json_value()),
    )
        .prop_map(|(op, path, value)| PatchOperation {
            op: op.to_string(),
            path,
            value,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn filters_parse_and_translate_without_panicking(text in filter_text()) {
        if let Ok(filter) = parse_filter(&text) {
            for resource in [Resource::User, Resource::Group] {
                if let Err(err) = to_sql(resource, &filter) {
                    prop_assert!(err.status.is_client_error());
                }
            }
        }
        let _ = parse_path(&text);
    }

    #[test]
    fn patch_operations_apply_without_panicking(operations in prop::collection::vec(operation(), 0..6)) {
        let user = json!({
            "userName": "ada", "active": true, "name": {"givenName": "Ada"},
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1"}}
        });
        let mut doc = canonicalize(&USER, user.as_object().unwrap()).unwrap();
        if let Err(err) = apply(&USER, &mut doc, "user-1", &operations) {
            prop_assert!(err.status.is_client_error(), "{err}");
            prop_assert!(err.scim_type.is_some(), "{err}");
        }
        let mut group = canonicalize(&GROUP, json!({"displayName": "g", "members": [{"value": "u1"}]}).as_object().unwrap()).unwrap();
        if let Err(err) = apply(&GROUP, &mut group, "group-1", &operations) {
            prop_assert!(err.status.is_client_error(), "{err}");
        }
    }

    #[test]
    fn arbitrary_resources_canonicalise_or_fail_cleanly(body in json_value()) {
        if let Some(object) = body.as_object() {
            for schema in [&USER, &GROUP] {
                if let Err(err) = canonicalize(schema, object) {
                    prop_assert!(err.status.is_client_error());
                }
            }
        }
    }
}
