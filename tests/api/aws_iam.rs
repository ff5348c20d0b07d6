//! The `aws_iam` connector against a real, stateful IAM (`moto_server`) that checks
//! every request's SigV4 signature: a departed person's access key is deactivated
//! through ownerbound's own least-privilege key and proven dead by IAM's own listing;
//! another user's key is untouched; a provider configured with a wrong secret is
//! refused by IAM and is a configuration error, not retried.

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::moto_peer::Moto;
use crate::on_both_engines;

/// Exactly what the connector calls.
const ACTIONS: &[&str] = &[
    "iam:GetAccessKeyLastUsed",
    "iam:UpdateAccessKey",
    "iam:ListAccessKeys",
];

/// Case item of the only offboarding case, by credential id: (status, detail).
async fn item(app: &TestApp, credential: &str) -> (String, String) {
    let cases: Value = app.get("/api/v1/offboardings").await.json().await.unwrap();
    let id = cases["items"][0]["id"].as_str().unwrap();
    let case: Value = app
        .get(&format!("/api/v1/offboardings/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let item = case["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["credential_id"] == credential)
        .unwrap();
    let text = |field: &str| item[field].as_str().unwrap_or("").to_string();
    (text("status"), text("detail"))
}

async fn a_departed_persons_access_key_is_deactivated_and_proven_dead_in_iam(app: TestApp) {
    let Some(moto) = Moto::start().await else {
        return;
    };
    moto.create_user("ownerbound").await;
    moto.allow("ownerbound", ACTIONS).await;
    let (own_id, own_secret) = moto.create_access_key("ownerbound").await;
    moto.create_user("ada").await;
    let (key, secret) = moto.create_access_key("ada").await;
    moto.create_user("bob").await;
    let (other_key, _) = moto.create_access_key("bob").await;

    let ids = app
        .offboard_owner_of(json!([
            {"provider": "aws", "kind": "api_key", "external_id": key, "secret": secret},
        ]))
        .await;
    moto.require_signatures(true).await;
    app.run_jobs_with(json!([{
        "name": "aws", "kind": "aws_iam", "endpoint": moto.endpoint,
        "access_key_id": own_id, "secret_access_key": own_secret,
    }]))
    .await;
    moto.require_signatures(false).await;

    let (status, detail) = item(&app, &ids[0]).await;
    assert_eq!(status, "verified_dead", "{detail}");
    assert!(
        detail.contains("ListAccessKeys shows the key Inactive"),
        "{detail}"
    );
    assert_eq!(
        moto.key_status("ada", &key).await.as_deref(),
        Some("Inactive")
    );
    assert_eq!(
        moto.key_status("bob", &other_key).await.as_deref(),
        Some("Active")
    );
    assert_eq!(
        moto.key_status("ownerbound", &own_id).await.as_deref(),
        Some("Active")
    );
    let audit: Value = app.get("/api/v1/audit").await.json().await.unwrap();
    for secret in [&secret, &own_secret] {
        assert!(
            !audit.to_string().contains(secret.as_str()),
            "a secret in the audit log"
        );
        assert!(
            !crate::helpers::captured_logs().contains(secret.as_str()),
            "a secret in the logs"
        );
    }
}

async fn a_wrong_aws_secret_is_refused_by_iam_and_not_retried(app: TestApp) {
    let Some(moto) = Moto::start().await else {
        return;
    };
    moto.create_user("ownerbound").await;
    moto.allow("ownerbound", ACTIONS).await;
    let (own_id, _) = moto.create_access_key("ownerbound").await;
    moto.create_user("ada").await;
    let (key, _) = moto.create_access_key("ada").await;

    let ids = app
        .offboard_owner_of(json!([{"provider": "aws", "kind": "api_key", "external_id": key}]))
        .await;
    moto.require_signatures(true).await;
    app.run_jobs_with(json!([{
        "name": "aws", "kind": "aws_iam", "endpoint": moto.endpoint,
        "access_key_id": own_id, "secret_access_key": "not-the-secret-of-this-key-000000",
    }]))
    .await;
    moto.require_signatures(false).await;

    let (status, detail) = item(&app, &ids[0]).await;
    assert_eq!(status, "needs_attention", "{detail}");
    assert!(detail.contains("check the provider's key"), "{detail}");
    assert_eq!(
        moto.key_status("ada", &key).await.as_deref(),
        Some("Active")
    );
}

on_both_engines!(
    a_departed_persons_access_key_is_deactivated_and_proven_dead_in_iam,
    a_wrong_aws_secret_is_refused_by_iam_and_not_retried,
);
