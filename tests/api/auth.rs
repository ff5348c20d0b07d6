use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};
use crate::on_both_engines;

fn agent_body(name: &str) -> Value {
    json!({"name": name, "owner_email": "owner@example.com"})
}

async fn missing_or_invalid_token_gets_401_with_www_authenticate(app: TestApp) {
    let before = app.row_counts().await;
    let anonymous = app
        .client
        .post(format!("{}/api/v1/agents", app.address))
        .json(&agent_body("a"))
        .send()
        .await
        .unwrap();
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_problem(anonymous, 401, "unauthorized").await;

    let wrong = app
        .request_as("ob_not_a_real_token", Method::POST, "/api/v1/agents")
        .json(&agent_body("a"))
        .send()
        .await
        .unwrap();
    assert!(wrong.headers().contains_key("www-authenticate"));
    assert_problem(wrong, 401, "unauthorized").await;

    let basic = app
        .client
        .get(format!("{}/api/v1/agents", app.address))
        .basic_auth("admin", Some(&app.admin_token))
        .send()
        .await
        .unwrap();
    assert_problem(basic, 401, "unauthorized").await;
    assert_eq!(
        app.row_counts().await,
        before,
        "a rejected request changed something"
    );
}

async fn read_token_can_read_but_cannot_write(app: TestApp) {
    let read = app.token_with_scope("read").await;
    let listed = app
        .request_as(&read, Method::GET, "/api/v1/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);

    let before = app.row_counts().await;
    let created = app
        .request_as(&read, Method::POST, "/api/v1/agents")
        .json(&agent_body("nope"))
        .send()
        .await
        .unwrap();
    assert_problem(created, 403, "forbidden").await;
    let token = app
        .request_as(&read, Method::POST, "/api/v1/tokens")
        .json(&json!({"name": "escalate", "scope": "admin"}))
        .send()
        .await
        .unwrap();
    assert_problem(token, 403, "forbidden").await;
    assert_eq!(app.row_counts().await, before);
}

async fn scim_token_cannot_use_the_admin_api(app: TestApp) {
    let scim = app.token_with_scope("scim").await;
    let listed = app
        .request_as(&scim, Method::GET, "/api/v1/agents")
        .send()
        .await
        .unwrap();
    assert_problem(listed, 403, "forbidden").await;
}

async fn revoked_token_is_rejected(app: TestApp) {
    let response = app
        .post(
            "/api/v1/tokens",
            &json!({"name": "temporary", "scope": "admin"}),
        )
        .await;
    let created: Value = response.json().await.unwrap();
    let token = created["token"].as_str().unwrap();
    let ok = app
        .request_as(token, Method::GET, "/api/v1/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let revoked = app
        .request(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", created["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let after = app
        .request_as(token, Method::GET, "/api/v1/agents")
        .send()
        .await
        .unwrap();
    assert_problem(after, 401, "unauthorized").await;
}

async fn token_value_is_shown_once_and_never_listed(app: TestApp) {
    let response = app
        .post(
            "/api/v1/tokens",
            &json!({"name": "ci-reader", "scope": "read"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ob_"));

    let listed = app.get("/api/v1/tokens").await.text().await.unwrap();
    assert!(listed.contains("ci-reader"));
    assert!(!listed.contains(&token), "token value listed");
    assert!(!listed.contains(&app.admin_token), "admin token listed");
    assert!(!listed.contains("token_hash"));

    let duplicate = app
        .post(
            "/api/v1/tokens",
            &json!({"name": "ci-reader", "scope": "read"}),
        )
        .await;
    assert_problem(duplicate, 409, "conflict").await;
    let bad_scope = app
        .post("/api/v1/tokens", &json!({"name": "x", "scope": "root"}))
        .await;
    assert_problem(bad_scope, 400, "invalid_body").await;
}

async fn every_mutation_is_audited_under_the_token_name(app: TestApp) {
    let writer = app
        .post(
            "/api/v1/tokens",
            &json!({"name": "platform-team", "scope": "admin"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let token = writer["token"].as_str().unwrap();
    let agent: Value = app
        .request_as(token, Method::POST, "/api/v1/agents")
        .json(&agent_body("audited-bot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = agent["id"].as_str().unwrap();
    app.request_as(token, Method::PATCH, &format!("/api/v1/agents/{id}"))
        .json(&json!({"status": "disabled"}))
        .send()
        .await
        .unwrap();
    app.request_as(token, Method::DELETE, &format!("/api/v1/agents/{id}"))
        .send()
        .await
        .unwrap();

    let audit: Value = app
        .get(&format!("/api/v1/audit?subject_kind=agent&subject_id={id}"))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("agent.created", "token:platform-team"),
            ("agent.updated", "token:platform-team"),
            ("agent.deleted", "token:platform-team"),
        ]
    );
    let whole_log = app
        .get("/api/v1/audit?limit=1000")
        .await
        .text()
        .await
        .unwrap();
    assert!(!whole_log.contains(token));
    assert!(!whole_log.contains(&app.admin_token));
}

/// `last_used_at` of each named token, as GET /api/v1/tokens lists it.
async fn last_used(app: &TestApp, names: &[&str]) -> Vec<Value> {
    let listed: Value = app.get("/api/v1/tokens").await.json().await.unwrap();
    names
        .iter()
        .map(|name| {
            let token = listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == *name)
                .unwrap_or_else(|| panic!("{name} not listed: {listed}"));
            token["last_used_at"].clone()
        })
        .collect()
}

async fn refused_requests_do_not_record_the_tokens_use(app: TestApp) {
    let mut tokens = Vec::new();
    for (name, scope) in [
        ("reader", "read"),
        ("idp", "scim"),
        ("other-admin", "admin"),
    ] {
        let created: Value = app
            .post("/api/v1/tokens", &json!({"name": name, "scope": scope}))
            .await
            .json()
            .await
            .unwrap();
        tokens.push(created["token"].as_str().unwrap().to_string());
    }
    let [reader, idp, other_admin] = [&tokens[0], &tokens[1], &tokens[2]];
    let names = ["reader", "idp", "other-admin"];
    let before = app.row_counts().await;
    let refused = [
        // A read token writing, or using SCIM.
        (reader, Method::POST, "/api/v1/agents", 403),
        (reader, Method::DELETE, "/api/v1/tokens/reader", 403),
        (reader, Method::GET, "/scim/v2/Users", 403),
        // A SCIM token on the admin API.
        (idp, Method::GET, "/api/v1/agents", 403),
        (idp, Method::POST, "/api/v1/tokens", 403),
        // An admin token on SCIM.
        (other_admin, Method::GET, "/scim/v2/Users", 403),
        (other_admin, Method::POST, "/scim/v2/Users", 403),
        // Refused before the token is even looked at.
        (reader, Method::GET, "/api/v1/agents?owner=%FF", 400),
        (idp, Method::GET, "/scim/v2/Users/%00", 400),
    ];
    for (token, method, path, status) in refused {
        let response = app
            .request_as(token, method.clone(), path)
            .json(
                &json!({"name": "nope", "scope": "admin", "userName": "nope",
                          "owner_email": "a@example.com"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
    }
    assert_eq!(
        last_used(&app, &names).await,
        [Value::Null, Value::Null, Value::Null],
        "a refused request recorded a token's use"
    );
    assert_eq!(app.row_counts().await, before);

    // Authorised requests do record it.
    for (token, path) in [
        (reader, "/api/v1/agents"),
        (idp, "/scim/v2/Users"),
        (other_admin, "/api/v1/agents"),
    ] {
        let response = app
            .request_as(token, Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    for (name, at) in names.iter().zip(last_used(&app, &names).await) {
        assert!(at.is_string(), "{name}: {at}");
    }
}

on_both_engines!(
    missing_or_invalid_token_gets_401_with_www_authenticate,
    read_token_can_read_but_cannot_write,
    scim_token_cannot_use_the_admin_api,
    revoked_token_is_rejected,
    token_value_is_shown_once_and_never_listed,
    every_mutation_is_audited_under_the_token_name,
    refused_requests_do_not_record_the_tokens_use
);
