//! Everything served on `/scim/v2` holds only what RFC 7643 and RFC 7644 define (the
//! attribute lists below are copied from the RFCs, not from ownerbound's own schema
//! definitions), plus extensions under a schema URN that the document lists. Strict
//! SCIM client libraries refuse anything else.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

/// The sub-attributes RFC 7643 §2.4 gives every multi-valued attribute.
const MULTI: &[&str] = &["value", "display", "type", "primary", "$ref"];

/// RFC 7643 §3.1 `meta`.
const META: &[&str] = &[
    "resourceType",
    "created",
    "lastModified",
    "location",
    "version",
];

/// (attribute, its sub-attributes) of RFC 7643 §4.1 (User).
const USER: &[(&str, &[&str])] = &[
    ("userName", &[]),
    (
        "name",
        &[
            "formatted",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix",
        ],
    ),
    ("displayName", &[]),
    ("nickName", &[]),
    ("profileUrl", &[]),
    ("title", &[]),
    ("userType", &[]),
    ("preferredLanguage", &[]),
    ("locale", &[]),
    ("timezone", &[]),
    ("active", &[]),
    ("password", &[]),
    ("emails", MULTI),
    ("phoneNumbers", MULTI),
    ("ims", MULTI),
    ("photos", MULTI),
    (
        "addresses",
        &[
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
            "type",
            "primary",
        ],
    ),
    ("groups", MULTI),
    ("entitlements", MULTI),
    ("roles", MULTI),
    ("x509Certificates", MULTI),
];

/// RFC 7643 §4.3 (Enterprise User extension).
const ENTERPRISE: &[(&str, &[&str])] = &[
    ("employeeNumber", &[]),
    ("costCenter", &[]),
    ("organization", &[]),
    ("division", &[]),
    ("department", &[]),
    ("manager", &["value", "$ref", "displayName"]),
];

/// RFC 7643 §4.2 (Group).
const GROUP: &[(&str, &[&str])] = &[("displayName", &[]), ("members", MULTI)];

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Checks one object's keys against `allowed` ((name, sub-attributes)); returns the
/// violations as paths.
fn check_attributes(
    path: &str,
    object: &Value,
    allowed: &[(&str, &[&str])],
    out: &mut Vec<String>,
) {
    let Some(map) = object.as_object() else {
        out.push(format!("{path}: not an object"));
        return;
    };
    for (key, value) in map {
        let Some((_, subs)) = allowed.iter().find(|(name, _)| name == key) else {
            out.push(format!("{path}.{key}: not defined"));
            continue;
        };
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for value in values {
            if let Some(inner) = value.as_object() {
                for sub in inner.keys() {
                    if !subs.contains(&sub.as_str()) {
                        out.push(format!("{path}.{key}.{sub}: not defined"));
                    }
                }
            }
        }
    }
}

/// Checks a resource: `schemas`, the common attributes, its core schema's attributes,
/// and each extension listed in `schemas` holding only what it defines (ownerbound's
/// own extensions are not checked further).
fn check_resource(path: &str, resource: &Value, core: &str, out: &mut Vec<String>) {
    let schemas: Vec<&str> = resource["schemas"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !schemas.contains(&core) {
        out.push(format!("{path}.schemas: {core} missing"));
    }
    let mut core_part = serde_json::Map::new();
    for (key, value) in resource.as_object().unwrap() {
        match key.as_str() {
            "schemas" | "id" | "externalId" => {}
            "meta" => {
                for sub in value.as_object().unwrap().keys() {
                    if !META.contains(&sub.as_str()) {
                        out.push(format!("{path}.meta.{sub}: not defined"));
                    }
                }
            }
            urn if urn.starts_with("urn:") => {
                if !schemas.contains(&urn) {
                    out.push(format!("{path}.{urn}: extension not listed in schemas"));
                } else if urn == ENTERPRISE_URN {
                    check_attributes(&format!("{path}.{urn}"), value, ENTERPRISE, out);
                } else if !urn.contains(":ownerbound:") {
                    out.push(format!("{path}.{urn}: unknown extension"));
                }
            }
            _ => {
                core_part.insert(key.clone(), value.clone());
            }
        }
    }
    let allowed = match core {
        USER_URN => USER,
        GROUP_URN => GROUP,
        _ => &[],
    };
    check_attributes(path, &Value::Object(core_part), allowed, out);
}

fn check_keys(path: &str, object: &Value, allowed: &[&str], out: &mut Vec<String>) {
    for key in object.as_object().unwrap().keys() {
        if !allowed.contains(&key.as_str()) && !key.contains(":ownerbound:") {
            out.push(format!("{path}.{key}: not defined"));
        }
    }
}

/// RFC 7644 §3.4.2 ListResponse.
fn check_list(path: &str, list: &Value, core: &str, out: &mut Vec<String>) {
    check_keys(
        path,
        list,
        &[
            "schemas",
            "totalResults",
            "itemsPerPage",
            "startIndex",
            "Resources",
        ],
        out,
    );
    for (i, resource) in list["Resources"].as_array().unwrap().iter().enumerate() {
        check_resource(&format!("{path}.Resources[{i}]"), resource, core, out);
    }
}

async fn everything_served_on_scim_is_what_the_rfcs_define(app: TestApp) {
    let token = app.scim_token().await;
    let (status, _, user) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&json!({
                "schemas": [USER_URN, ENTERPRISE_URN],
                "userName": "conformance@example.com", "externalId": "ext-1", "active": true,
                "name": {"givenName": "Con", "familyName": "Formance", "formatted": "Con Formance"},
                "displayName": "Con Formance", "title": "Tester", "locale": "en-US",
                "emails": [{"value": "conformance@example.com", "type": "work", "primary": true}],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
                ENTERPRISE_URN: {"employeeNumber": "42", "department": "QA"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap();
    let (status, _, group) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(&json!({"schemas": [GROUP_URN], "displayName": "Testers",
                "members": [{"value": id}]})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap().to_string();

    let mut out = Vec::new();
    check_resource("POST /Users", &user, USER_URN, &mut out);
    check_resource("POST /Groups", &group, GROUP_URN, &mut out);
    let (_, _, got) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    check_resource("GET /Users/{id}", &got, USER_URN, &mut out);
    let (_, _, got) = app
        .scim(&token, Method::GET, &format!("/Groups/{group_id}"), None)
        .await;
    check_resource("GET /Groups/{id}", &got, GROUP_URN, &mut out);
    let (_, _, list) = app.scim(&token, Method::GET, "/Users", None).await;
    assert_eq!(list["totalResults"], 1, "{list}");
    check_list("GET /Users", &list, USER_URN, &mut out);
    let (_, _, list) = app
        .scim(
            &token,
            Method::GET,
            "/Users?filter=userName%20eq%20%22conformance%40example.com%22",
            None,
        )
        .await;
    check_list("GET /Users?filter", &list, USER_URN, &mut out);
    let (_, _, list) = app.scim(&token, Method::GET, "/Groups", None).await;
    check_list("GET /Groups", &list, GROUP_URN, &mut out);
    let (_, _, list) = app
        .scim(
            &token,
            Method::POST,
            "/Users/.search",
            Some(
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "active eq true"}),
            ),
        )
        .await;
    check_list("POST /Users/.search", &list, USER_URN, &mut out);

    // RFC 7643 §5, §6, §7.
    let (_, _, config) = app
        .scim(&token, Method::GET, "/ServiceProviderConfig", None)
        .await;
    check_keys(
        "ServiceProviderConfig",
        &config,
        &[
            "schemas",
            "documentationUri",
            "patch",
            "bulk",
            "filter",
            "changePassword",
            "sort",
            "etag",
            "authenticationSchemes",
            "meta",
        ],
        &mut out,
    );
    check_keys(
        "ServiceProviderConfig.meta",
        &config["meta"],
        META,
        &mut out,
    );
    for scheme in config["authenticationSchemes"].as_array().unwrap() {
        check_keys(
            "ServiceProviderConfig.authenticationSchemes",
            scheme,
            &[
                "type",
                "name",
                "description",
                "specUri",
                "documentationUri",
                "primary",
            ],
            &mut out,
        );
    }
    let (_, _, types) = app.scim(&token, Method::GET, "/ResourceTypes", None).await;
    for resource_type in types["Resources"].as_array().unwrap() {
        check_keys(
            "ResourceType",
            resource_type,
            &[
                "schemas",
                "id",
                "name",
                "description",
                "endpoint",
                "schema",
                "schemaExtensions",
                "meta",
            ],
            &mut out,
        );
        check_keys("ResourceType.meta", &resource_type["meta"], META, &mut out);
        for extension in resource_type["schemaExtensions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            check_keys(
                "ResourceType.schemaExtensions",
                extension,
                &["schema", "required"],
                &mut out,
            );
        }
    }
    let (_, _, schemas) = app.scim(&token, Method::GET, "/Schemas", None).await;
    const ATTRIBUTE: &[&str] = &[
        "name",
        "type",
        "subAttributes",
        "multiValued",
        "description",
        "required",
        "canonicalValues",
        "caseExact",
        "mutability",
        "returned",
        "uniqueness",
        "referenceTypes",
    ];
    fn check_schema_attributes(path: &str, attributes: &Value, out: &mut Vec<String>) {
        for attribute in attributes.as_array().unwrap() {
            check_keys(path, attribute, ATTRIBUTE, out);
            if let Some(subs) = attribute.get("subAttributes") {
                check_schema_attributes(&format!("{path}.subAttributes"), subs, out);
            }
        }
    }
    for schema in schemas["Resources"].as_array().unwrap() {
        check_keys(
            "Schema",
            schema,
            &["schemas", "id", "name", "description", "attributes", "meta"],
            &mut out,
        );
        check_keys("Schema.meta", &schema["meta"], META, &mut out);
        check_schema_attributes("Schema.attributes", &schema["attributes"], &mut out);
    }
    // RFC 7644 §3.12 errors.
    for (method, path, body) in [
        (Method::GET, "/Users/does-not-exist".to_string(), None),
        (
            Method::GET,
            "/Users?filter=userName%20zz%20x".to_string(),
            None,
        ),
        (
            Method::POST,
            "/Users".to_string(),
            Some(json!({"schemas": [USER_URN]})),
        ),
    ] {
        let (status, _, error) = app.scim(&token, method, &path, body.as_ref()).await;
        assert!(status >= 400, "{path}: {status}");
        check_keys(
            &format!("error of {path}"),
            &error,
            &["schemas", "status", "scimType", "detail"],
            &mut out,
        );
    }
    assert!(
        out.is_empty(),
        "not defined by RFC 7643/7644:\n{}",
        out.join("\n")
    );
}

#[test]
fn the_check_finds_what_the_rfcs_do_not_define() {
    let mut out = Vec::new();
    check_resource(
        "doc",
        &json!({"schemas": [USER_URN], "id": "1", "userName": "u",
            "owner": "x", "emails": [{"value": "a@b", "verified": true}],
            "meta": {"resourceType": "User", "maxPatchOperations": 5},
            ENTERPRISE_URN: {"department": "d"}}),
        USER_URN,
        &mut out,
    );
    out.sort();
    assert_eq!(
        out,
        [
            "doc.emails.verified: not defined".to_string(),
            "doc.meta.maxPatchOperations: not defined".to_string(),
            "doc.owner: not defined".to_string(),
            format!("doc.{ENTERPRISE_URN}: extension not listed in schemas"),
        ]
    );
}

on_both_engines!(everything_served_on_scim_is_what_the_rfcs_define);
