//! `POST /Users/.search`, `POST /Groups/.search` and `POST /.search` from the root, as
//! RFC 7644 §3.4.3 has them.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;
use crate::scim_entra::urlencode;

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

async fn create(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let (status, _, created) = app.scim(token, Method::POST, path, Some(&body)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn search(app: &TestApp, token: &str, path: &str, mut request: Value) -> (u16, Value) {
    request["schemas"] = json!([SEARCH]);
    let (status, _, body) = app.scim(token, Method::POST, path, Some(&request)).await;
    (status, body)
}

fn field(list: &Value, key: &str) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap_or("-").to_string())
        .collect()
}

async fn users_and_groups_search_as_rfc_7644_says(app: TestApp) {
    let token = app.scim_token().await;
    for (user, given) in [
        ("carol", Some("Carol")),
        ("alice", None),
        ("bob", Some("Bob")),
    ] {
        let mut body =
            json!({"userName": user, "emails": [{"value": format!("{user}@example.com")}]});
        if let Some(given) = given {
            body["name"] = json!({"givenName": given});
        }
        create(&app, &token, "/Users", body).await;
    }
    for group in ["eng", "ops"] {
        create(&app, &token, "/Groups", json!({"displayName": group})).await;
    }

    // Each search answers exactly what the same GET answers.
    for (path, request, query) in [
        (
            "/Users",
            json!({"filter": "userName sw \"b\" or userName eq \"carol\""}),
            format!(
                "filter={}",
                urlencode("userName sw \"b\" or userName eq \"carol\"")
            ),
        ),
        (
            "/Users",
            json!({"sortBy": "userName", "sortOrder": "descending", "startIndex": 2, "count": 1}),
            "sortBy=userName&sortOrder=descending&startIndex=2&count=1".to_string(),
        ),
        (
            "/Users",
            json!({"attributes": ["userName", "name.givenName"]}),
            "attributes=userName,name.givenName".to_string(),
        ),
        (
            "/Users",
            json!({"excludedAttributes": ["emails", "meta"]}),
            "excludedAttributes=emails,meta".to_string(),
        ),
        (
            "/Groups",
            json!({"filter": "displayName eq \"ops\"", "excludedAttributes": ["members"]}),
            format!(
                "filter={}&excludedAttributes=members",
                urlencode("displayName eq \"ops\"")
            ),
        ),
        (
            "/Groups",
            json!({"sortBy": "displayName", "count": 1}),
            "sortBy=displayName&count=1".to_string(),
        ),
    ] {
        let (status, searched) =
            search(&app, &token, &format!("{path}/.search"), request.clone()).await;
        assert_eq!(status, 200, "{request}: {searched}");
        let (_, _, got) = app
            .scim(&token, Method::GET, &format!("{path}?{query}"), None)
            .await;
        assert_eq!(searched, got, "{path} {request}");
    }
    let (_, filtered) = search(
        &app,
        &token,
        "/Users/.search",
        json!({"filter": "userName sw \"b\" or userName eq \"carol\"", "sortBy": "userName"}),
    )
    .await;
    assert_eq!(field(&filtered, "userName"), ["bob", "carol"]);
    let (_, paged) = search(
        &app,
        &token,
        "/Users/.search",
        json!({"sortBy": "userName", "startIndex": 2, "count": 1}),
    )
    .await;
    assert_eq!(
        (
            paged["totalResults"].clone(),
            paged["startIndex"].clone(),
            paged["itemsPerPage"].clone()
        ),
        (json!(3), json!(2), json!(1))
    );
    assert_eq!(field(&paged, "userName"), ["bob"]);
    let (_, projected) = search(
        &app,
        &token,
        "/Users/.search",
        json!({"attributes": ["userName"], "filter": "userName eq \"alice\""}),
    )
    .await;
    let mut keys: Vec<&String> = projected["Resources"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);

    // RFC 7644 §3.4.2.3: resources without a value sort last ascending, first descending.
    let (_, ascending) = search(
        &app,
        &token,
        "/Users/.search",
        json!({"sortBy": "name.givenName"}),
    )
    .await;
    assert_eq!(field(&ascending, "userName"), ["bob", "carol", "alice"]);
    let (_, descending) = search(
        &app,
        &token,
        "/Users/.search",
        json!({"sortBy": "name.givenName", "sortOrder": "descending"}),
    )
    .await;
    assert_eq!(field(&descending, "userName"), ["alice", "carol", "bob"]);

    // The body must be a SearchRequest.
    for path in ["/Users/.search", "/Groups/.search", "/.search"] {
        for schemas in [
            json!(null),
            json!([]),
            json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]),
        ] {
            let mut body = json!({"filter": "displayName pr"});
            if !schemas.is_null() {
                body["schemas"] = schemas.clone();
            }
            let (status, _, error) = app.scim(&token, Method::POST, path, Some(&body)).await;
            assert_eq!(
                (status, error["scimType"].clone()),
                (400, json!("invalidSyntax")),
                "{path} {schemas}"
            );
        }
    }
}

async fn searching_from_the_root_finds_users_and_groups(app: TestApp) {
    let token = app.scim_token().await;
    let mut users = Vec::new();
    for user in ["u-one", "u-two", "u-three"] {
        users.push(
            create(
                &app,
                &token,
                "/Users",
                json!({"userName": user, "displayName": format!("shared {user}")}),
            )
            .await,
        );
    }
    create(
        &app,
        &token,
        "/Groups",
        json!({"displayName": "shared group", "members": [{"value": users[0]}]}),
    )
    .await;
    create(
        &app,
        &token,
        "/Groups",
        json!({"displayName": "empty group"}),
    )
    .await;

    let (status, all) = search(&app, &token, "/.search", json!({})).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["totalResults"], 5);
    let types: Vec<String> = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["User", "User", "User", "Group", "Group"]);

    // A filter on one type's attribute finds that type only; one both have finds both.
    for (filter, expected) in [
        ("userName sw \"u-t\"", json!(2)),
        ("members pr", json!(1)),
        (
            "members[value eq \"nobody\"] or userName eq \"u-one\"",
            json!(1),
        ),
        ("displayName sw \"shared\"", json!(4)),
        ("not (userName eq \"u-one\")", json!(4)),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"u-two\"",
            json!(1),
        ),
    ] {
        let (status, found) = search(&app, &token, "/.search", json!({"filter": filter})).await;
        assert_eq!(
            (status, found["totalResults"].clone()),
            (200, expected),
            "{filter}: {found}"
        );
    }
    let (_, groups) = search(
        &app,
        &token,
        "/.search",
        json!({"filter": "members pr or displayName eq \"empty group\""}),
    )
    .await;
    assert_eq!(
        field(&groups, "displayName"),
        ["shared group", "empty group"]
    );
    let (status, _, error) = app
        .scim(
            &token,
            Method::POST,
            "/.search",
            Some(&json!({"schemas": [SEARCH], "filter": "nonsense eq \"x\""})),
        )
        .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidFilter")),
        "{error}"
    );

    // One window across both types: every resource once, in order.
    let mut seen = Vec::new();
    for start in [1, 3, 5] {
        let (_, page) = search(
            &app,
            &token,
            "/.search",
            json!({"startIndex": start, "count": 2}),
        )
        .await;
        assert_eq!(
            (page["totalResults"].clone(), page["startIndex"].clone()),
            (json!(5), json!(start))
        );
        seen.extend(field(&page, "id"));
    }
    assert_eq!(seen, field(&all, "id"));
    let (_, counted) = search(&app, &token, "/.search", json!({"count": 0})).await;
    assert_eq!(
        (
            counted["totalResults"].clone(),
            counted["itemsPerPage"].clone()
        ),
        (json!(5), json!(0))
    );
    let (_, beyond) = search(&app, &token, "/.search", json!({"startIndex": 9})).await;
    assert_eq!(
        (
            beyond["totalResults"].clone(),
            beyond["itemsPerPage"].clone()
        ),
        (json!(5), json!(0))
    );

    // Projection applies to each resource with its own schema.
    let (_, projected) = search(
        &app,
        &token,
        "/.search",
        json!({"attributes": ["displayName"]}),
    )
    .await;
    for resource in projected["Resources"].as_array().unwrap() {
        let mut keys: Vec<&String> = resource.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["displayName", "id", "schemas"], "{resource}");
    }
    let (_, excluded) = search(&app, &token, "/.search",
        json!({"excludedAttributes": ["members", "meta"], "filter": "displayName eq \"shared group\""})).await;
    assert!(
        excluded["Resources"][0].get("members").is_none(),
        "{excluded}"
    );
    assert!(excluded["Resources"][0].get("meta").is_none(), "{excluded}");

    // No order across resource types: refused rather than silently ignored.
    let (status, _, error) = app
        .scim(
            &token,
            Method::POST,
            "/.search",
            Some(&json!({"schemas": [SEARCH], "sortBy": "displayName"})),
        )
        .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidValue")),
        "{error}"
    );
    let (status, _, _) = app.scim(&token, Method::GET, "/.search", None).await;
    assert_eq!(status, 405);
}

/// A term on an attribute one type defines but cannot be filtered on (a User's
/// complex `name`) is false for that type, not an error for the whole search.
async fn a_root_search_on_an_agents_name_finds_the_agent(app: TestApp) {
    let token = app.scim_token().await;
    create(&app, &token, "/Users", json!({"userName": "someone"})).await;
    create(
        &app,
        &token,
        "/Agents",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Agent"], "name": "root-agent"}),
    )
    .await;
    let (status, found) = search(
        &app,
        &token,
        "/.search",
        json!({"filter": "name eq \"root-agent\""}),
    )
    .await;
    assert_eq!(
        (status, found["totalResults"].clone()),
        (200, json!(1)),
        "{found}"
    );
    assert_eq!(found["Resources"][0]["meta"]["resourceType"], "Agent");
    // Defined, but no type can filter on it: refused, not silently empty.
    let (status, refused) = search(
        &app,
        &token,
        "/.search",
        json!({"filter": "agentType eq \"x\""}),
    )
    .await;
    assert_eq!(
        (status, refused["scimType"].clone()),
        (400, json!("invalidFilter")),
        "{refused}"
    );
}

on_both_engines!(
    a_root_search_on_an_agents_name_finds_the_agent,
    users_and_groups_search_as_rfc_7644_says,
    searching_from_the_root_finds_users_and_groups
);
