//! Revocation against a real OAuth 2.0 authorization server, proven by introspection
//! and by the protected resource.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::oauth_peer::{OAuthServer, REVOKER_CLIENT};
use crate::on_both_engines;

struct Setup {
    ada: String,
    bob_agent: String,
    own: String,
    shared: String,
    bob_other: String,
}

/// Ada's agents hold her own token and one shared with Bob's agent; Bob also has a
/// token of his own that must survive.
async fn setup(app: &TestApp, oauth: &OAuthServer) -> Setup {
    let ada = app.create_person(&json!({"user_name": "ada", "emails": ["ada@example.com"], "hr_ids": {"standard": "ada-1"}})).await;
    let bob = app
        .create_person(&json!({"emails": ["bob@example.com"]}))
        .await;
    let (own, shared, bob_other) = (
        oauth.token().await,
        oauth.token().await,
        oauth.token().await,
    );
    let cred = |token: &str| json!({"provider": "corp-oauth", "kind": "oauth_access_token", "secret": token});
    app.create_agent(&json!({"name": "ada-1", "owner_id": ada["id"], "credentials": [cred(&own)]}))
        .await;
    app.create_agent(
        &json!({"name": "ada-2", "owner_id": ada["id"], "credentials": [cred(&shared)]}),
    )
    .await;
    let bob_agent = app
        .create_agent(&json!({"name": "bob-1", "owner_id": bob["id"], "credentials": [cred(&shared), cred(&bob_other)]}))
        .await;
    for token in [&own, &shared, &bob_other] {
        assert!(oauth.is_active(token).await);
        assert_eq!(oauth.resource(token).await, 200);
    }
    Setup {
        ada: ada["id"].as_str().unwrap().to_string(),
        bob_agent: bob_agent["id"].as_str().unwrap().to_string(),
        own,
        shared,
        bob_other,
    }
}

async fn assert_revoked_and_proven(app: &TestApp, oauth: &OAuthServer, s: &Setup) {
    for token in [&s.own, &s.shared] {
        assert!(
            !oauth.is_active(token).await,
            "a revoked token is still active"
        );
        assert_eq!(oauth.resource(token).await, 401);
    }
    assert!(
        oauth.is_active(&s.bob_other).await,
        "an unrelated token was revoked"
    );
    let cases: Value = app
        .get(&format!("/api/v1/offboardings?person_id={}", s.ada))
        .await
        .json()
        .await
        .unwrap();
    let case: Value = app
        .get(&format!(
            "/api/v1/offboardings/{}",
            cases["items"][0]["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    let items = case["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(item["status"], "verified_dead", "{item}");
        assert_eq!(item["detail"], "introspection: active=false");
    }
    let collateral: Vec<&Value> = items
        .iter()
        .flat_map(|i| i["collateral"].as_array().unwrap())
        .collect();
    assert_eq!(collateral.len(), 1);
    assert_eq!(collateral[0]["agent_id"], s.bob_agent.as_str());
    let creds: Value = app
        .get("/api/v1/credentials?status=verified_dead")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(creds["items"].as_array().unwrap().len(), 2);
    let timeline = case["timeline"].to_string();
    assert!(timeline.contains("offboarding.verification"));
    for token in [&s.own, &s.shared] {
        assert!(
            !timeline.contains(token.as_str()),
            "a token in the audit log"
        );
        assert!(
            !crate::helpers::captured_logs().contains(token.as_str()),
            "a token in the logs"
        );
    }
}

async fn a_scim_deactivation_revokes_and_proves_every_token_dead(app: TestApp) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let s = setup(&app, &oauth).await;
    let scim = app.scim_token().await;
    let (status, _, _) = app
        .scim(
            &scim,
            Method::PATCH,
            &format!("/Users/{}", s.ada),
            Some(&json!({"Operations": [
            {"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(status, 200);
    app.run_jobs_with(json!([oauth.provider("corp-oauth", REVOKER_CLIENT.1)]))
        .await;
    assert_revoked_and_proven(&app, &oauth, &s).await;
}

async fn an_hr_termination_revokes_and_proves_every_token_dead(app: TestApp) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let s = setup(&app, &oauth).await;
    let body = json!({"type": "employee.terminated", "employee": {"id": "ada-1"}}).to_string();
    let (status, answer) = crate::hr::post_signed(&app, "standard", body.as_bytes()).await;
    assert_eq!(
        (status, answer["outcome"]["applied"].clone()),
        (200, json!(1))
    );
    app.run_jobs_with(json!([oauth.provider("corp-oauth", REVOKER_CLIENT.1)]))
        .await;
    assert_revoked_and_proven(&app, &oauth, &s).await;
}

async fn a_misconfigured_client_is_not_retried_and_needs_a_human(app: TestApp) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let s = setup(&app, &oauth).await;
    app.post(&format!("/api/v1/people/{}/offboard", s.ada), &json!({}))
        .await;
    app.run_jobs_with(json!([
        oauth.provider("corp-oauth", "the-wrong-secret-0000000000")
    ]))
    .await;
    let dead: Value = app
        .get("/api/v1/jobs?status=dead")
        .await
        .json()
        .await
        .unwrap();
    let dead: Vec<&Value> = dead["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "revoke")
        .collect();
    assert_eq!(dead.len(), 2);
    // Each dead revocation raised an alert (which, with no SMTP here, is dead too).
    let all: Value = app.get("/api/v1/jobs").await.json().await.unwrap();
    let alerts = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "alert")
        .count();
    assert!(alerts >= 2, "{alerts} alerts");
    for job in dead {
        assert_eq!(job["attempts"], 1, "a configuration error was retried");
        assert!(job["last_error"].as_str().unwrap().contains("401"), "{job}");
        assert!(!job["last_error"]
            .as_str()
            .unwrap()
            .contains("the-wrong-secret"));
    }
    assert!(oauth.is_active(&s.own).await);
}

async fn an_smtp_outage_delays_an_alert_and_never_drops_or_doubles_it(app: TestApp) {
    let Some(mut smtp) = crate::smtp_peer::SmtpServer::start() else {
        return;
    };
    smtp.stop();
    let person = app
        .create_person(&json!({"emails": ["m@example.com"]}))
        .await;
    app.create_agent(
        &json!({"name": "m-bot", "owner_id": person["id"], "credentials": [
        {"provider": "it-desk", "kind": "api_key", "external_id": "k-1"}]}),
    )
    .await;
    app.post(
        &format!("/api/v1/people/{}/offboard", person["id"].as_str().unwrap()),
        &json!({}),
    )
    .await;
    // The manual task's alert cannot be sent: it waits, ready, with its error.
    app.run_jobs_alerting(json!([]), Some(smtp.alerts())).await;
    let jobs = app
        .store
        .list_jobs(
            None,
            &ownerbound::store::PageRequest {
                limit: 50,
                after: None,
            },
        )
        .await
        .unwrap();
    let alert = jobs
        .items
        .iter()
        .find(|j| j.kind == "alert")
        .expect("an alert job");
    assert_eq!(alert.status, "ready", "{alert:?}");
    assert!(alert.last_error.as_deref().unwrap().contains("SMTP"));
    // SMTP is back; the alert goes out when its retry is due, once.
    smtp.restart();
    let worker = ownerbound::jobs::Worker::new(app.job_context(
        json!([]),
        Some(smtp.alerts()),
        ownerbound::jobs::http_client(),
    ));
    worker.run_once_at(alert.run_after).await.unwrap().unwrap();
    assert!(worker.run_once_at(alert.run_after).await.unwrap().is_none());
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("manual revocation needed at it-desk"),
        "{}",
        messages[0]
    );
    assert_eq!(
        app.store.get_job(&alert.id).await.unwrap().unwrap().status,
        "done"
    );
}

/// Only the issuer is configured: the endpoints come from the server's RFC 8414 /
/// OpenID metadata.
async fn endpoints_are_discovered_from_the_issuer_metadata(app: TestApp) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let s = setup(&app, &oauth).await;
    app.post(&format!("/api/v1/people/{}/offboard", s.ada), &json!({}))
        .await;
    let mut provider = oauth.provider("corp-oauth", REVOKER_CLIENT.1);
    let provider_map = provider.as_object_mut().unwrap();
    provider_map.remove("revocation_endpoint");
    provider_map.remove("introspection_endpoint");
    provider_map.insert("issuer".into(), json!(oauth.issuer));
    app.run_jobs_with(json!([provider])).await;
    assert_revoked_and_proven(&app, &oauth, &s).await;
}

on_both_engines!(
    endpoints_are_discovered_from_the_issuer_metadata,
    an_smtp_outage_delays_an_alert_and_never_drops_or_doubles_it,
    a_scim_deactivation_revokes_and_proves_every_token_dead,
    an_hr_termination_revokes_and_proves_every_token_dead,
    a_misconfigured_client_is_not_retried_and_needs_a_human
);
