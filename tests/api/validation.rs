use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp, TEST_MAX_BODY};
use crate::on_both_engines;

async fn malformed_json_changes_nothing(app: TestApp) {
    let before = app.row_counts().await;
    let response = app
        .request(Method::POST, "/api/v1/agents")
        .header("content-type", "application/json")
        .body(r#"{"name": "broken", "owner_email": "#)
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "malformed_json").await;
    let response = app
        .request(Method::POST, "/api/v1/agents")
        .header("content-type", "text/plain")
        .body(r#"{"name": "x", "owner_email": "a@example.com"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported_media_type").await;
    assert_eq!(app.row_counts().await, before);
}

async fn wrong_types_and_unknown_fields_are_rejected_without_echoing_values(app: TestApp) {
    let before = app.row_counts().await;
    let typo = app
        .post(
            "/api/v1/agents",
            &json!({"name": "x", "owner_emial": "a@example.com"}),
        )
        .await;
    let body = assert_problem(typo, 400, "invalid_body").await;
    assert!(
        body["detail"].as_str().unwrap().contains("owner_emial"),
        "{body}"
    );

    let wrong_type = app
        .post(
            "/api/v1/agents",
            &json!({"name": 42, "owner_email": "a@example.com"}),
        )
        .await;
    assert_problem(wrong_type, 400, "invalid_body").await;

    // A secret pasted into the wrong field is not echoed back.
    let misplaced = app
        .post(
            "/api/v1/agents",
            &json!({"name": "x", "owner_email": "a@example.com",
                    "credentials": [{"provider": "slack", "kind": "xoxb-misplaced-secret"}]}),
        )
        .await;
    let body = assert_problem(misplaced, 400, "invalid_body").await;
    assert!(
        !body.to_string().contains("xoxb-misplaced-secret"),
        "{body}"
    );
    let misplaced = app
        .post(
            "/api/v1/agents",
            &json!({"name": "x", "owner_email": "a@example.com", "credentials": "xoxb-misplaced-secret"}),
        )
        .await;
    let body = assert_problem(misplaced, 400, "invalid_body").await;
    assert!(
        !body.to_string().contains("xoxb-misplaced-secret"),
        "{body}"
    );

    let no_owner = app.post("/api/v1/agents", &json!({"name": "x"})).await;
    assert_problem(no_owner, 422, "validation_failed").await;
    let bad_email = app
        .post(
            "/api/v1/agents",
            &json!({"name": "x", "owner_email": "not an email"}),
        )
        .await;
    assert_problem(bad_email, 422, "validation_failed").await;
    let unrevocable = app
        .post(
            "/api/v1/agents",
            &json!({"name": "x", "owner_email": "a@example.com", "credentials": [{"provider": "slack", "kind": "api_key"}]}),
        )
        .await;
    assert_problem(unrevocable, 422, "validation_failed").await;
    assert_eq!(app.row_counts().await, before);
}

async fn oversized_body_gets_413_and_changes_nothing(app: TestApp) {
    let before = app.row_counts().await;
    let huge = json!({"name": "big", "owner_email": "a@example.com", "description": "x".repeat(TEST_MAX_BODY * 2)});
    let response = app.post("/api/v1/agents", &huge).await;
    assert_problem(response, 413, "payload_too_large").await;
    assert_eq!(app.row_counts().await, before);
}

async fn malformed_paths_ids_and_nul_characters_get_4xx_not_500(app: TestApp) {
    for path in [
        "/api/v1/agents/does-not-exist",
        "/api/v1/credentials/does-not-exist",
    ] {
        assert_problem(app.get(path).await, 404, "not_found").await;
    }
    for path in ["/api/v1/people/%00", "/api/v1/agents?owner=a%00b"] {
        assert_problem(app.get(path).await, 400, "invalid_request").await;
    }
    let before = app.row_counts().await;
    let nul = app
        .request(Method::POST, "/api/v1/agents")
        .header("content-type", "application/json")
        .body(r#"{"name": "nul", "owner_email": "a@example.com", "description": "a\u0000b"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(nul, 400, "invalid_body").await;
    assert_eq!(app.row_counts().await, before);
    let patch = app
        .patch("/api/v1/agents/missing", &json!({"status": "disabled"}))
        .await;
    assert_problem(patch, 404, "not_found").await;
}

on_both_engines!(
    malformed_json_changes_nothing,
    wrong_types_and_unknown_fields_are_rejected_without_echoing_values,
    oversized_body_gets_413_and_changes_nothing,
    malformed_paths_ids_and_nul_characters_get_4xx_not_500
);

async fn unsupported_methods_get_a_problem_405(app: TestApp) {
    let put = app
        .request(Method::PUT, "/api/v1/agents")
        .send()
        .await
        .unwrap();
    assert_problem(put, 405, "method_not_allowed").await;
    let post = app
        .client
        .post(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(post, 405, "method_not_allowed").await;
}

async fn overlong_identifiers_are_refused_alike_on_both_engines(app: TestApp) {
    let before = app.row_counts().await;
    let long = "k".repeat(3000);
    let credential = app
        .post(
            "/api/v1/agents",
            &json!({"name": "x", "owner_email": "a@example.com",
                    "credentials": [{"provider": "vault", "kind": "other", "external_id": long}]}),
        )
        .await;
    let body = assert_problem(credential, 422, "validation_failed").await;
    assert_eq!(body["field"], "credentials[0].external_id");
    let person = app
        .post(
            "/api/v1/people",
            &json!({"user_name": long, "emails": ["a@example.com"]}),
        )
        .await;
    assert_problem(person, 422, "validation_failed").await;
    assert_eq!(app.row_counts().await, before);
}

async fn overlong_or_undecodable_urls_get_problems_naming_the_parameter(app: TestApp) {
    let before = app.row_counts().await;
    let long = "x".repeat(9000);
    for path in [
        format!("/api/v1/agents?owner={long}"),
        format!("/api/v1/people/{long}"),
    ] {
        let body = assert_problem(app.get(&path).await, 414, "uri_too_long").await;
        assert!(body["detail"].as_str().unwrap().contains("8192"), "{body}");
    }
    let post = app
        .request(Method::POST, &format!("/api/v1/agents?x={long}"))
        .json(&json!({"name": "long-url", "owner_email": "a@example.com"}))
        .send()
        .await
        .unwrap();
    assert_problem(post, 414, "uri_too_long").await;
    // The limit is on the whole request target: one just within it is served.
    let within = format!("/api/v1/agents?name={}", "x".repeat(8100));
    assert_eq!(app.get(&within).await.status(), 200);

    for (path, field) in [
        ("/api/v1/agents?owner=%FF%FE", json!("owner")),
        ("/api/v1/people?q=ren%C3", json!("q")),
        ("/api/v1/people/%C3%28", Value::Null),
        ("/api/v1/agents?%FF=1", Value::Null),
    ] {
        let body = assert_problem(app.get(path).await, 400, "invalid_request").await;
        assert_eq!(body["field"], field, "{path}: {body}");
    }
    let nul = assert_problem(
        app.get("/api/v1/agents?owner=a%00b").await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(nul["field"], "owner");
    // Refused before authentication: the format is the API's even without a token.
    let anonymous = app
        .client
        .get(format!("{}/api/v1/agents?owner=%FF", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 400, "invalid_request").await;
    assert_eq!(app.row_counts().await, before);
}

async fn malformed_cursors_are_refused_naming_the_parameter(app: TestApp) {
    let lists = [
        "/api/v1/people",
        "/api/v1/lifecycle-events",
        "/api/v1/agents",
        "/api/v1/credentials",
        "/api/v1/hr/events",
        "/api/v1/hr/terminations",
        "/api/v1/offboardings",
        "/api/v1/jobs",
        "/api/v1/reports",
    ];
    for list in lists {
        for cursor in [
            "not-a-uuid",
            "123",
            "01890a5d-ac96-774b-bcce-b302099a805",
            "%27%20OR%201=1",
        ] {
            let path = format!("{list}?cursor={cursor}");
            let body = assert_problem(app.get(&path).await, 400, "invalid_query").await;
            assert_eq!(body["field"], "cursor", "{path}: {body}");
        }
        for fine in ["", "01890a5d-ac96-774b-bcce-b302099a8057"] {
            let path = format!("{list}?cursor={fine}");
            assert_eq!(app.get(&path).await.status(), 200, "{path}");
        }
    }
    let body = assert_problem(
        app.get("/api/v1/agents?limit=0").await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(body["field"], "limit");

    // A cursor the list gave out pages on, in whichever case a client spells it.
    for i in 0..3 {
        app.create_agent(&json!({"name": format!("paged-{i}"), "owner_email": "a@example.com"}))
            .await;
    }
    let first: Value = app
        .get("/api/v1/agents?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let names = |page: &Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    for spelling in [cursor.to_string(), cursor.to_uppercase()] {
        let next: Value = app
            .get(&format!("/api/v1/agents?limit=2&cursor={spelling}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(names(&next), ["paged-2"], "{spelling}");
    }
}

on_both_engines!(
    unsupported_methods_get_a_problem_405,
    overlong_identifiers_are_refused_alike_on_both_engines,
    overlong_or_undecodable_urls_get_problems_naming_the_parameter,
    malformed_cursors_are_refused_naming_the_parameter
);
