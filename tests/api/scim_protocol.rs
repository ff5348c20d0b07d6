//! The SCIM protocol surface: discovery, errors, paging, projection, ETags.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{TestApp, TEST_MAX_BODY};
use crate::on_both_engines;
use crate::scim_entra::urlencode;

async fn create_user(app: &TestApp, token: &str, user_name: &str) -> String {
    let (status, _, body) = app
        .scim(
            token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": user_name, "active": true,
            "emails": [{"value": format!("{user_name}@example.com"), "primary": true}]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn discovery_endpoints_describe_what_is_supported_and_are_read_only(app: TestApp) {
    let token = app.scim_token().await;
    let (status, _, config) = app
        .scim(&token, Method::GET, "/ServiceProviderConfig", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(config["filter"]["maxResults"], 500);
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["sort"]["supported"], true);
    // Only RFC 7643 §5's attributes (and meta's own): strict clients accept nothing
    // else (the strict model is in scim_conformance).
    let mut keys: Vec<&str> = config
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "authenticationSchemes",
            "bulk",
            "changePassword",
            "documentationUri",
            "etag",
            "filter",
            "meta",
            "patch",
            "schemas",
            "sort",
        ]
    );
    let meta: Vec<&str> = config["meta"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert!(
        meta.iter().all(|k| [
            "resourceType",
            "created",
            "lastModified",
            "location",
            "version"
        ]
        .contains(k)),
        "{meta:?}"
    );
    assert_eq!(
        config["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    let (_, _, schemas) = app.scim(&token, Method::GET, "/Schemas", None).await;
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "urn:ietf:params:scim:schemas:core:2.0:Agent",
            "urn:ietf:params:scim:schemas:core:2.0:AgenticApplication",
            "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
            "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
            "urn:ietf:params:scim:schemas:core:2.0:Schema"
        ]
    );
    let (status, _, user_schema) = app
        .scim(
            &token,
            Method::GET,
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let user_name = user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    // What ownerbound does on purpose where clients differ is said in the schema.
    let active = user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "active")
        .unwrap();
    assert!(
        active["description"]
            .as_str()
            .unwrap()
            .contains("never reactivates"),
        "{active}"
    );
    let (_, _, types) = app.scim(&token, Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types["totalResults"], 4);
    let (status, agent_type) = {
        let (status, _, body) = app
            .scim(&token, Method::GET, "/ResourceTypes/Agent", None)
            .await;
        (status, body)
    };
    assert_eq!(
        (status, agent_type["endpoint"].clone()),
        (200, json!("/Agents"))
    );
    let (status, _, application_type) = app
        .scim(
            &token,
            Method::GET,
            "/ResourceTypes/AgenticApplication",
            None,
        )
        .await;
    assert_eq!(
        (status, application_type["endpoint"].clone()),
        (200, json!("/AgenticApplications"))
    );
    assert_eq!(
        application_type["schema"],
        "urn:ietf:params:scim:schemas:core:2.0:AgenticApplication"
    );
    let (status, _, user_type) = app
        .scim(&token, Method::GET, "/ResourceTypes/User", None)
        .await;
    assert_eq!(
        (status, user_type["endpoint"].clone()),
        (200, json!("/Users"))
    );
    for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let (status, headers, body) = app
                .scim(&token, method.clone(), path, Some(&json!({})))
                .await;
            assert_eq!(status, 405, "{method} {path}");
            assert_eq!(headers["content-type"], "application/scim+json");
            assert_eq!(body["status"], "405");
        }
    }
}

async fn bad_requests_get_scim_errors_and_change_nothing(app: TestApp) {
    let token = app.scim_token().await;
    let id = create_user(&app, &token, "target").await;
    let before = app.row_counts().await;
    let user_path = format!("/Users/{id}");
    let raw = |method: Method, path: String, body: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            let response = app
                .client
                .request(method, format!("{}/scim/v2{path}", app.address))
                .bearer_auth(token)
                .header("Content-Type", "application/scim+json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            let json: Value = response.json().await.unwrap();
            (status, content_type, json)
        }
    };
    let cases: Vec<(u16, &str, (u16, String, Value))> = vec![
        (400, "invalidSyntax", raw(Method::POST, "/Users".into(), r#"{"userName": "#).await),
        (400, "invalidSyntax", raw(Method::PATCH, user_path.clone(), r#"{"Operations": [{"op": "replace""#).await),
        (400, "invalidValue", raw(Method::POST, "/Users".into(), r#"{"userName": 42}"#).await),
        (400, "invalidValue", raw(Method::POST, "/Users".into(), r#"{"displayName": "no userName"}"#).await),
        (400, "invalidValue", raw(Method::PATCH, user_path.clone(),
            r#"{"Operations": [{"op": "replace", "path": "active", "value": "perhaps"}]}"#).await),
        (400, "invalidPath", raw(Method::PATCH, user_path.clone(),
            r#"{"Operations": [{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]}"#).await),
        (400, "mutability", raw(Method::PATCH, user_path.clone(),
            r#"{"Operations": [{"op": "replace", "path": "id", "value": "x"}]}"#).await),
        (400, "mutability", raw(Method::PATCH, user_path.clone(),
            r#"{"Operations": [{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]}"#).await),
        (400, "noTarget", raw(Method::PATCH, user_path.clone(), r#"{"Operations": [{"op": "remove"}]}"#).await),
        (400, "invalidValue", raw(Method::PATCH, user_path.clone(),
            r#"{"Operations": [{"op": "remove", "path": "userName"}]}"#).await),
    ];
    for (status, scim_type, (got_status, content_type, body)) in cases {
        assert_eq!(got_status, status, "{body}");
        assert_eq!(content_type, "application/scim+json");
        assert_eq!(body["scimType"], scim_type, "{body}");
        assert_eq!(body["status"], status.to_string());
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
        );
    }
    for filter in [
        "userName eq",
        "userName zz \"x\"",
        "title eq \"x\"",
        "(((userName pr)",
    ] {
        let (status, _, body) = app
            .scim(
                &token,
                Method::GET,
                &format!("/Users?filter={}", urlencode(filter)),
                None,
            )
            .await;
        assert_eq!(
            (status, body["scimType"].clone()),
            (400, json!("invalidFilter")),
            "{filter}"
        );
    }
    let big = json!({"userName": "big", "displayName": "x".repeat(TEST_MAX_BODY * 2)});
    let (status, _, body) = app.scim(&token, Method::POST, "/Users", Some(&big)).await;
    assert_eq!((status, body["status"].clone()), (413, json!("413")));
    assert_eq!(
        app.row_counts().await,
        before,
        "a rejected request changed something"
    );
    let (status, _, _) = app
        .scim(&token, Method::GET, "/Users/not-a-user", None)
        .await;
    assert_eq!(status, 404);
}

async fn authentication_and_scope_are_enforced(app: TestApp) {
    let anonymous = app
        .client
        .get(format!("{}/scim/v2/Users", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(anonymous.headers()["content-type"], "application/scim+json");
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["status"], "401");
    let (status, _, _) = app.scim("ob_wrong", Method::GET, "/Users", None).await;
    assert_eq!(status, 401);
    let (status, _, body) = app
        .scim(&app.admin_token.clone(), Method::GET, "/Users", None)
        .await;
    assert_eq!((status, body["status"].clone()), (403, json!("403")));
    let scim = app.scim_token().await;
    let api = app
        .request_as(&scim, Method::GET, "/api/v1/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
}

async fn paging_sorting_and_projection(app: TestApp) {
    let token = app.scim_token().await;
    for name in [
        "delta", "alpha", "echo", "charlie", "bravo", "golf", "foxtrot",
    ] {
        create_user(&app, &token, name).await;
    }
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let (status, _, page) = app
            .scim(
                &token,
                Method::GET,
                &format!("/Users?startIndex={start}&count=3&sortBy=userName"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(page["totalResults"], 7);
        assert_eq!(page["startIndex"], start);
        let items = page["Resources"].as_array().unwrap();
        assert_eq!(page["itemsPerPage"], items.len());
        if items.is_empty() {
            break;
        }
        seen.extend(
            items
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_string()),
        );
        start += 3;
    }
    assert_eq!(
        seen,
        ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
    );
    let (_, _, descending) = app
        .scim(
            &token,
            Method::GET,
            "/Users?sortBy=userName&sortOrder=descending&count=2",
            None,
        )
        .await;
    assert_eq!(descending["Resources"][0]["userName"], "golf");
    let (_, _, counted) = app.scim(&token, Method::GET, "/Users?count=0", None).await;
    assert_eq!(
        (
            counted["totalResults"].clone(),
            counted["itemsPerPage"].clone()
        ),
        (json!(7), json!(0))
    );
    let (_, _, sw) = app
        .scim(
            &token,
            Method::GET,
            &format!(
                "/Users?filter={}",
                urlencode("userName sw \"F\" or userName ew \"LF\"")
            ),
            None,
        )
        .await;
    assert_eq!(sw["totalResults"], 2);

    let (_, _, projected) = app
        .scim(
            &token,
            Method::GET,
            "/Users?attributes=userName&filter=userName%20eq%20%22alpha%22",
            None,
        )
        .await;
    let user = projected["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = user.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let (_, _, excluded) = app
        .scim(
            &token,
            Method::GET,
            "/Users?excludedAttributes=emails,meta&count=1",
            None,
        )
        .await;
    assert!(excluded["Resources"][0].get("emails").is_none());
    assert!(excluded["Resources"][0].get("meta").is_none());
    assert!(excluded["Resources"][0].get("userName").is_some());

    let (status, _, searched) = app
        .scim(
            &token,
            Method::POST,
            "/Users/.search",
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "userName eq \"echo\" or userName eq \"golf\"",
                "attributes": ["userName"], "sortBy": "userName", "startIndex": 1, "count": 10
            })),
        )
        .await;
    assert_eq!(status, 200, "{searched}");
    let names: Vec<&str> = searched["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "golf"]);
}

async fn etags_and_if_match(app: TestApp) {
    let token = app.scim_token().await;
    let id = create_user(&app, &token, "versioned").await;
    let (_, headers, user) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, user["meta"]["version"].as_str().unwrap());
    let body = json!({"Operations": [{"op": "replace", "path": "displayName", "value": "V2"}]});
    let stale = app
        .client
        .patch(format!("{}/scim/v2/Users/{id}", app.address))
        .bearer_auth(&token)
        .header("If-Match", "W/\"999\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let fresh = app
        .client
        .patch(format!("{}/scim/v2/Users/{id}", app.address))
        .bearer_auth(&token)
        .header("If-Match", etag.as_str())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_ne!(fresh.headers()["etag"].to_str().unwrap(), etag);
}

async fn uniqueness_is_case_insensitive_for_user_names_and_group_names(app: TestApp) {
    let token = app.scim_token().await;
    let id = create_user(&app, &token, "Zero.Cool").await;
    let (status, _, body) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "zero.cool"})),
        )
        .await;
    assert_eq!(
        (status, body["scimType"].clone()),
        (409, json!("uniqueness"))
    );
    let other = create_user(&app, &token, "acid.burn").await;
    let (status, _, body) = app
        .scim(&token, Method::PATCH, &format!("/Users/{other}"),
              Some(&json!({"Operations": [{"op": "replace", "path": "userName", "value": "ZERO.COOL"}]})))
        .await;
    assert_eq!(
        (status, body["scimType"].clone()),
        (409, json!("uniqueness"))
    );
    let (_, _, found) = app
        .scim(
            &token,
            Method::GET,
            "/Users?filter=userName%20eq%20%22ZERO.cool%22",
            None,
        )
        .await;
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    for _ in 0..1 {
        let (status, _, _) = app
            .scim(
                &token,
                Method::POST,
                "/Groups",
                Some(&json!({"displayName": "Elite"})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (status, _, body) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(&json!({"displayName": "ELITE"})),
        )
        .await;
    assert_eq!(
        (status, body["scimType"].clone()),
        (409, json!("uniqueness"))
    );
}

async fn okta_import_pages_by_100_through_every_user_once(app: TestApp) {
    let token = app.scim_token().await;
    for i in 0..150 {
        create_user(&app, &token, &format!("import-{i:03}")).await;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut start = 1;
    loop {
        let (status, _, page) = app
            .scim(
                &token,
                Method::GET,
                &format!("/Users?startIndex={start}&count=100"),
                None,
            )
            .await;
        assert_eq!((status, page["totalResults"].clone()), (200, json!(150)));
        let items = page["Resources"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        for user in items {
            assert!(
                seen.insert(user["id"].as_str().unwrap().to_string()),
                "seen twice"
            );
        }
        start += 100;
    }
    assert_eq!(seen.len(), 150);
}

async fn if_match_guards_put_and_delete_too(app: TestApp) {
    let token = app.scim_token().await;
    let id = create_user(&app, &token, "guarded").await;
    let stale = |method: Method| {
        app.client
            .request(method, format!("{}/scim/v2/Users/{id}", app.address))
            .bearer_auth(&token)
            .header("If-Match", "W/\"41\"")
            .header("Content-Type", "application/scim+json")
            .body(json!({"userName": "guarded", "active": false}).to_string())
    };
    assert_eq!(stale(Method::PUT).send().await.unwrap().status(), 412);
    assert_eq!(stale(Method::DELETE).send().await.unwrap().status(), 412);
    let (_, _, user) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(
        user["active"], true,
        "a refused conditional request changed the user"
    );
    let (status, _, group) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(&json!({"displayName": "One"})),
        )
        .await;
    assert_eq!(status, 201);
    app.scim(
        &token,
        Method::POST,
        "/Groups",
        Some(&json!({"displayName": "Two"})),
    )
    .await;
    let (status, _, body) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Groups/{}", group["id"].as_str().unwrap()),
            Some(&json!({"Operations": [{"op": "replace", "value": {"displayName": "TWO"}}]})),
        )
        .await;
    assert_eq!(
        (status, body["scimType"].clone()),
        (409, json!("uniqueness"))
    );
}

/// Asserts a SCIM error (RFC 7644 §3.12) with this status and `scimType`.
fn assert_scim_error(
    (status, headers, body): &(u16, reqwest::header::HeaderMap, Value),
    expected: u16,
    scim_type: Option<&str>,
    what: &str,
) {
    assert_eq!(*status, expected, "{what}: {body}");
    assert_eq!(headers["content-type"], "application/scim+json", "{what}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{what}"
    );
    assert_eq!(body["status"], expected.to_string(), "{what}");
    assert_eq!(body["scimType"], json!(scim_type), "{what}: {body}");
    assert!(body["detail"].is_string(), "{what}: {body}");
}

async fn nul_and_overlong_urls_get_scim_errors_and_change_nothing(app: TestApp) {
    let token = app.scim_token().await;
    let id = create_user(&app, &token, "target").await;
    let before = app.row_counts().await;
    for (method, path, scim_type) in [
        (Method::GET, "/Users/%00".to_string(), "invalidValue"),
        (Method::DELETE, format!("/Users/{id}%00"), "invalidValue"),
        (
            Method::GET,
            "/Users?filter=userName%20eq%20%22a%00%22".into(),
            "invalidFilter",
        ),
        (
            Method::GET,
            "/Users?count=1&attributes=user%00Name".into(),
            "invalidValue",
        ),
    ] {
        let answer = app.scim(&token, method.clone(), &path, None).await;
        assert_scim_error(&answer, 400, Some(scim_type), &format!("{method} {path}"));
    }
    let long = "x".repeat(9000);
    for (method, path) in [
        (Method::GET, format!("/Users/{long}")),
        (
            Method::GET,
            format!("/Users?filter=userName%20eq%20%22{long}%22"),
        ),
        (Method::PATCH, format!("/Users/{id}?attributes={long}")),
    ] {
        let body = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
        let answer = app.scim(&token, method.clone(), &path, Some(&body)).await;
        assert_scim_error(&answer, 414, None, &format!("{method} long URL"));
    }
    // The limit is on the whole request target: one just within it is served.
    let within = format!("/Users?count=1&excludedAttributes={}", "x".repeat(8100));
    assert!(within.len() + "/scim/v2".len() <= 8192);
    let (status, _, body) = app.scim(&token, Method::GET, &within, None).await;
    assert_eq!(status, 200, "{body}");
    // A bad URL is refused before authentication, so even without a token it gets a
    // SCIM error, not a problem document.
    let anonymous = app
        .client
        .get(format!("{}/scim/v2/Users/%00", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 400);
    assert_eq!(anonymous.headers()["content-type"], "application/scim+json");
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused request changed something"
    );
    let (_, _, user) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(user["active"], true);
}

async fn percent_escapes_that_are_not_utf8_are_refused_not_replaced(app: TestApp) {
    let token = app.scim_token().await;
    let (status, _, body) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "renée", "emails": [{"value": "renee@example.com"}]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let before = app.row_counts().await;
    for (path, scim_type) in [
        (
            "/Users?filter=userName%20eq%20%22%FF%FE%22",
            "invalidFilter",
        ),
        (
            "/Users?FILTER=userName%20sw%20%22ren%C3%22",
            "invalidFilter",
        ),
        (
            "/Groups?filter=displayName%20eq%20%22%FF%22",
            "invalidFilter",
        ),
        ("/Users?attributes=%FF", "invalidValue"),
        ("/Users?excludedAttributes=emails,%FE", "invalidValue"),
        ("/Users?sortBy=userName%C3", "invalidValue"),
        ("/Users?sortOrder=%FF", "invalidValue"),
        ("/Users?startIndex=%FF", "invalidValue"),
        ("/Users?count=%FF", "invalidValue"),
        ("/Users?%FF=1", "invalidValue"),
        ("/Users/%FF", "invalidValue"),
        ("/Schemas/urn%FF", "invalidValue"),
    ] {
        let answer = app.scim(&token, Method::GET, path, None).await;
        assert_scim_error(&answer, 400, Some(scim_type), path);
    }
    // The same request with its escapes UTF-8 is served, and finds what it names.
    let (status, _, found) = app
        .scim(
            &token,
            Method::GET,
            "/Users?filter=userName%20eq%20%22ren%C3%A9e%22&attributes=userName",
            None,
        )
        .await;
    assert_eq!(
        (status, found["totalResults"].clone()),
        (200, json!(1)),
        "{found}"
    );
    assert_eq!(app.row_counts().await, before);
}

on_both_engines!(
    okta_import_pages_by_100_through_every_user_once,
    if_match_guards_put_and_delete_too,
    discovery_endpoints_describe_what_is_supported_and_are_read_only,
    bad_requests_get_scim_errors_and_change_nothing,
    authentication_and_scope_are_enforced,
    paging_sorting_and_projection,
    etags_and_if_match,
    uniqueness_is_case_insensitive_for_user_names_and_group_names,
    nul_and_overlong_urls_get_scim_errors_and_change_nothing,
    percent_escapes_that_are_not_utf8_are_refused_not_replaced
);
