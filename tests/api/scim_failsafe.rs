//! Deactivations survive everything else that can be wrong with a request, and nothing
//! short of an explicit `active: true` reactivates anyone.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;
use crate::scim_entra::urlencode;

pub(crate) async fn new_user(app: &TestApp, token: &str, user_name: &str) -> String {
    let (status, _, body) = app
        .scim(
            token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": user_name, "active": true})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// PATCHes a user with these operations; returns the status and the body.
async fn patch_user(app: &TestApp, token: &str, id: &str, operations: Value) -> (u16, Value) {
    let (status, _, body) = app
        .scim(
            token,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(&json!({"Operations": operations})),
        )
        .await;
    (status, body)
}

async fn a_refused_patch_that_deactivates_still_deactivates(app: TestApp) {
    let token = app.scim_token().await;
    let id = new_user(&app, &token, "batch").await;
    let (status, _, body) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(&json!({"Operations": [
                {"op": "replace", "value": {"displayName": 42, "active": false}}
            ]})),
        )
        .await;
    assert_eq!(
        (status, body["scimType"].clone()),
        (400, json!("invalidValue"))
    );
    let (_, _, user) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(user["active"], false);
    assert!(
        user.get("displayName").is_none(),
        "the refused change leaked in: {user}"
    );
    assert_eq!(
        app.lifecycle_events(&id).await,
        vec![("person-deactivated".to_string(), "scim".to_string())]
    );
    let events: Value = app
        .get(&format!("/api/v1/lifecycle-events?person_id={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(events["items"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("refused"));
}

async fn a_refused_put_that_deactivates_still_deactivates(app: TestApp) {
    let token = app.scim_token().await;
    let id = new_user(&app, &token, "put-batch").await;
    new_user(&app, &token, "taken").await;
    // The userName clashes with another user: 409, but the person has left.
    let (status, _, _) = app
        .scim(
            &token,
            Method::PUT,
            &format!("/Users/{id}"),
            Some(&json!({"userName": "taken", "active": "False"})),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(app.lifecycle_events(&id).await.len(), 1);
    // Repeating the refused request changes nothing more.
    app.scim(
        &token,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(&json!({"userName": "taken", "active": false})),
    )
    .await;
    assert_eq!(app.lifecycle_events(&id).await.len(), 1);
}

async fn removing_or_nulling_active_never_reactivates(app: TestApp) {
    let token = app.scim_token().await;
    let id = new_user(&app, &token, "gone").await;
    let deactivate = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
    app.scim(
        &token,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(&deactivate),
    )
    .await;
    for ops in [
        json!([{"op": "remove", "path": "active"}]),
        json!([{"op": "replace", "path": "active", "value": null}]),
        json!([{"op": "replace", "value": {"active": null, "displayName": "Still Gone"}}]),
    ] {
        let (status, body) = patch_user(&app, &token, &id, ops.clone()).await;
        // Accepted as "unchanged", or refused as a missing value; never a reactivation.
        assert!(status == 200 || status == 400, "{body}");
        let (_, _, user) = app
            .scim(&token, Method::GET, &format!("/Users/{id}"), None)
            .await;
        assert_eq!(user["active"], false, "{ops}");
    }
    assert_eq!(app.lifecycle_events(&id).await.len(), 1);
}

async fn removing_active_from_an_active_user_deactivates_them(app: TestApp) {
    let token = app.scim_token().await;
    for (name, ops) in [
        ("removed", json!([{"op": "remove", "path": "active"}])),
        ("entra-removed", json!([{"op": "Remove", "path": "active"}])),
        (
            "urn-removed",
            json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:active"}]),
        ),
        (
            "nulled",
            json!([{"op": "replace", "value": {"active": null, "displayName": "Nulled"}}]),
        ),
    ] {
        let id = new_user(&app, &token, name).await;
        let (status, body) = patch_user(&app, &token, &id, ops.clone()).await;
        assert_eq!(status, 200, "{ops}: {body}");
        assert_eq!(body["active"], false, "{ops}: {body}");
        let (_, _, user) = app
            .scim(&token, Method::GET, &format!("/Users/{id}"), None)
            .await;
        assert_eq!(user["active"], false, "{ops}");
        assert_eq!(
            app.lifecycle_events(&id).await,
            vec![("person-deactivated".to_string(), "scim".to_string())],
            "{ops}"
        );
        // Removing it again changes nothing: no second event, still inactive.
        patch_user(
            &app,
            &token,
            &id,
            json!([{"op": "remove", "path": "active"}]),
        )
        .await;
        assert_eq!(app.lifecycle_events(&id).await.len(), 1, "{ops}");
    }
    // Refused for something else, the removal of `active` still deactivates.
    let id = new_user(&app, &token, "refused").await;
    let operations = json!([
        {"op": "remove", "path": "active"},
        {"op": "replace", "path": "displayName", "value": 42}
    ]);
    let (status, _) = patch_user(&app, &token, &id, operations).await;
    assert_eq!(status, 400);
    let (_, _, user) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(user["active"], false, "{user}");
    assert_eq!(app.lifecycle_events(&id).await.len(), 1);
}

async fn adoption_and_length_limits(app: TestApp) {
    let person = app
        .create_person(&json!({"user_name": "phreak", "emails": ["phreak@example.com"]}))
        .await;
    let token = app.scim_token().await;
    let (status, _, created) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "PHREAK", "active": true})),
        )
        .await;
    assert_eq!((status, created["id"].clone()), (201, person["id"].clone()));
    // Now managed by SCIM: a second POST with that userName is a uniqueness error.
    let (status, _, _) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "phreak"})),
        )
        .await;
    assert_eq!(status, 409);
    let before = app.row_counts().await;
    for body in [
        json!({"userName": "é".repeat(1500)}),
        json!({"userName": "ok", "externalId": "x".repeat(300)}),
        json!({"userName": "   "}),
        json!({"userName": "nul\u{0}byte"}),
    ] {
        let (status, _, error) = app.scim(&token, Method::POST, "/Users", Some(&body)).await;
        assert_eq!(
            (status, error["scimType"].clone()),
            (400, json!("invalidValue")),
            "{error}"
        );
    }
    assert_eq!(app.row_counts().await, before);
}

async fn non_ascii_names_filter_alike_on_both_engines(app: TestApp) {
    let token = app.scim_token().await;
    let (status, _, _) = app
        .scim(&token, Method::POST, "/Users", Some(&json!({"userName": "lisbeth", "name": {"familyName": "Öberg", "givenName": "Lisbeth"}})))
        .await;
    assert_eq!(status, 201);
    for filter in [
        "name.familyName eq \"öBERG\"",
        "name.familyName sw \"Öb\"",
        "name.givenName eq \"LISBETH\"",
    ] {
        let (status, _, found) = app
            .scim(
                &token,
                Method::GET,
                &format!("/Users?filter={}", urlencode(filter)),
                None,
            )
            .await;
        assert_eq!(
            (status, found["totalResults"].clone()),
            (200, json!(1)),
            "{filter}"
        );
    }
    let (_, _, none) = app
        .scim(
            &token,
            Method::GET,
            &format!(
                "/Users?filter={}",
                urlencode("not (name.familyName eq \"Öberg\")")
            ),
            None,
        )
        .await;
    assert_eq!(none["totalResults"], 0);
    let (_, _, missing) = app
        .scim(
            &token,
            Method::GET,
            &format!("/Users?filter={}", urlencode("not (externalId eq \"x\")")),
            None,
        )
        .await;
    assert_eq!(
        missing["totalResults"], 1,
        "a missing value does not equal x, so not() is true"
    );
}

/// Arbitrary filters and PATCH paths through HTTP, against the real database: only
/// 200 or 4xx SCIM errors, never a 500.
async fn arbitrary_filters_and_paths_over_http_never_fail_the_server(app: TestApp) {
    let token = app.scim_token().await;
    let id = new_user(&app, &token, "fuzz").await;
    let tokens = proptest::sample::select(vec![
        "userName",
        "emails",
        "emails.value",
        "name.familyName",
        "active",
        "externalId",
        "meta.lastModified",
        "members",
        "eq",
        "co",
        "sw",
        "gt",
        "pr",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        ".value",
        "\"x\"",
        "\"\\u0000\"",
        "\"é\"",
        "true",
        "null",
        "42",
        "\"2026-01-01T00:00:00Z\"",
        "%",
        "_",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ]);
    let strategy = proptest::collection::vec(tokens, 1..12).prop_map(|t| t.join(" "));
    let mut runner = TestRunner::deterministic();
    for _ in 0..150 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        let (status, _, body) = app
            .scim(
                &token,
                Method::GET,
                &format!("/Users?filter={}", urlencode(&text)),
                None,
            )
            .await;
        assert!(
            status == 200 || (status == 400 && body["scimType"].is_string()),
            "{text}: {status} {body}"
        );
        let (status, _, body) = app
            .scim(
                &token,
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(&json!({"Operations": [
                    {"op": "replace", "path": text, "value": "v"}
                ]})),
            )
            .await;
        assert!(
            status == 200 || (status == 400 && body["scimType"].is_string()),
            "{text}: {status} {body}"
        );
    }
}

/// HR terminated her; the IdP has not caught up and pushes `active: true` (Okta's full
/// PUT, a PATCH): she stays inactive until HR cancels or rehires.
async fn an_hr_termination_holds_against_idp_reactivation_until_hr_rehires(app: TestApp) {
    let token = app.scim_token().await;
    let (status, _, user) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "hera@example.com", "active": true,
                "emails": [{"value": "hera@example.com", "primary": true}]})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_string();
    let terminate = json!({"type": "employee.terminated", "employee": {"id": "h-1", "email": "hera@example.com"}});
    let (status, _) =
        crate::hr::post_signed(&app, "standard", terminate.to_string().as_bytes()).await;
    assert_eq!(status, 200);
    let mut doc = user.clone();
    doc["displayName"] = json!("Hera (profile change)");
    let (status, _, body) = app
        .scim(&token, Method::PUT, &format!("/Users/{id}"), Some(&doc))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false, "{body}");
    assert_eq!(body["displayName"], "Hera (profile change)");
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": true}]});
    let (status, _, body) = app
        .scim(&token, Method::PATCH, &format!("/Users/{id}"), Some(&patch))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false, "{body}");
    let events: Vec<String> = app
        .lifecycle_events(&id)
        .await
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(events, ["person-deactivated"]);
    let audit: Value = app
        .get(&format!(
            "/api/v1/audit?subject_kind=person&subject_id={id}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        audit.to_string().contains("scim.reactivation_refused"),
        "{audit}"
    );
    // HR rehires her: the IdP's next push reactivates.
    let rehire =
        json!({"type": "employee.rehired", "employee": {"id": "h-1", "email": "hera@example.com"}});
    let (status, _) = crate::hr::post_signed(&app, "standard", rehire.to_string().as_bytes()).await;
    assert_eq!(status, 200);
    let (status, _, body) = app
        .scim(&token, Method::PATCH, &format!("/Users/{id}"), Some(&patch))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], true, "{body}");
    let events: Vec<String> = app
        .lifecycle_events(&id)
        .await
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(events, ["person-deactivated", "person-reactivated"]);

    // The identity provider deactivated Iris first; HR's termination arrives after:
    // the hold applies all the same.
    let (status, _, iris) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "iris@example.com", "active": true,
                "emails": [{"value": "iris@example.com", "primary": true}]})),
        )
        .await;
    assert_eq!(status, 201, "{iris}");
    let iris_id = iris["id"].as_str().unwrap().to_string();
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    app.scim(
        &token,
        Method::PATCH,
        &format!("/Users/{iris_id}"),
        Some(&deactivate),
    )
    .await;
    let terminate = json!({"type": "employee.terminated", "employee": {"id": "i-1", "email": "iris@example.com"}});
    let (status, _) =
        crate::hr::post_signed(&app, "standard", terminate.to_string().as_bytes()).await;
    assert_eq!(status, 200);
    let (status, _, body) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{iris_id}"),
            Some(&patch),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false, "{body}");
    // The stored document says what is true too.
    let (_, _, fetched) = app
        .scim(&token, Method::GET, &format!("/Users/{iris_id}"), None)
        .await;
    assert_eq!(fetched["active"], false, "{fetched}");
}

on_both_engines!(
    an_hr_termination_holds_against_idp_reactivation_until_hr_rehires,
    a_refused_patch_that_deactivates_still_deactivates,
    a_refused_put_that_deactivates_still_deactivates,
    removing_or_nulling_active_never_reactivates,
    removing_active_from_an_active_user_deactivates_them,
    adoption_and_length_limits,
    non_ascii_names_filter_alike_on_both_engines,
    arbitrary_filters_and_paths_over_http_never_fail_the_server
);
