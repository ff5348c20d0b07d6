//! Contract test of the `okta` connector against a fake of Okta's Management API
//! (`fake_okta`; no Okta runs here): every request ownerbound sent is an operation of
//! Okta's SDK, and every resource the fake answered with validates against the SDK's
//! models. Discovery pages API tokens and users by `Link` through a 429 with
//! `X-Rate-Limit-Reset` and a 500, attributes API tokens (by `userId`) and users' app
//! refresh tokens to people by the Okta user's email (recording the Okta user id as
//! the identity), changes nothing when run again, and a departure revokes both kinds,
//! proven by 404.

use serde_json::{json, Value};

use crate::fake_okta::{FakeOkta, API_TOKEN};
use crate::helpers::{run_counts, TestApp};
use crate::okta_contract::OktaSdk;
use crate::on_both_engines;

async fn okta_tokens_are_discovered_across_pages_and_faults_and_revoked_as_oktas_sdk_describes(
    app: TestApp,
) {
    let Some(sdk) = OktaSdk::load() else {
        return;
    };
    let okta = FakeOkta::start();
    let ada_id = okta.user("ada@example.com");
    let bob_id = okta.user("bob@example.com");
    let stranger = okta.user("contractor@example.com");
    let ada_api = okta.api_token(&ada_id, "ada's automation");
    let bob_api = okta.api_token(&bob_id, "bob's sync");
    for i in 0..25 {
        okta.api_token(&stranger, &format!("legacy {i}"));
    }
    okta.refresh_token(&ada_id, "0oa1agent", "Agent");
    okta.refresh_token(&bob_id, "0oa1agent", "Agent");
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    app.create_person(&json!({"emails": ["bob@example.com"]}))
        .await;
    let providers = json!([{
        "name": "okta", "kind": "okta", "org_url": okta.base, "token": API_TOKEN, "discover": true,
    }]);
    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());
    {
        let mut state = okta.state.lock().unwrap();
        state.throttled = 1;
        state.failing = 1;
    }
    let first = app.discover(&ctx, "okta").await;
    // Two pages of API tokens (20 a page), then one of users.
    assert_eq!(first["pages"], 3, "{first}");
    assert_eq!(run_counts(&first), [29, 29, 0, 0, 25], "{first}");
    let identities: Value = app
        .get(&format!(
            "/api/v1/people/{}/identities",
            ada["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        identities["okta"]["identity"],
        ada_id.as_str(),
        "{identities}"
    );
    let second = app.discover(&ctx, "okta").await;
    assert_eq!(run_counts(&second), [29, 0, 0, 0, 25], "{second}");

    app.offboard_and_prove(&ada, &ctx, 2, "answers 404").await;
    assert!(!okta.has_api_token(&ada_api) && okta.has_api_token(&bob_api));
    assert_eq!(okta.refresh_tokens(), 1, "Bob's refresh token stays");

    // The checks refuse what the SDK does not describe.
    assert!(sdk.check_request("GET", "/api/v1/tokens").is_err());
    assert!(!sdk
        .check_resources(&[("ApiToken".into(), json!({"id": "00T1", "owner": "ada"}))])
        .is_empty());
    let exchanges = okta.exchanges();
    assert!(exchanges.iter().any(|e| e.status == 429));
    assert!(exchanges.iter().any(|e| e.status == 500));
    assert!(exchanges
        .iter()
        .any(|e| e.method == "DELETE" && e.status == 204));
    let mut resources = Vec::new();
    for e in &exchanges {
        sdk.check_request(&e.method, &e.target)
            .unwrap_or_else(|why| panic!("request: {why}"));
        resources.extend(e.resources.iter().cloned());
    }
    assert!(resources.len() > 30);
    let errors = sdk.check_resources(&resources);
    assert!(errors.is_empty(), "{errors:?}");
    app.assert_secrets_kept(&[API_TOKEN]).await;
}

on_both_engines!(
    okta_tokens_are_discovered_across_pages_and_faults_and_revoked_as_oktas_sdk_describes
);
