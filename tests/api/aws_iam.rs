//! The `aws_iam` connector against a real, stateful IAM (`moto_server`) that checks
//! every request's SigV4 signature: a departed person's access key is deactivated
//! through ownerbound's own least-privilege key and proven dead by IAM's own listing;
//! another user's key is untouched; a provider configured with a wrong secret is
//! refused by IAM and is a configuration error, not retried.

use serde_json::json;

use crate::helpers::TestApp;
use crate::moto_peer::Moto;
use crate::on_both_engines;

/// Exactly what the connector calls.
const ACTIONS: &[&str] = &[
    "iam:GetAccessKeyLastUsed",
    "iam:UpdateAccessKey",
    "iam:ListAccessKeys",
];

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

    let (status, detail) = app.case_items().await[&ids[0]].clone();
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
    app.assert_secrets_kept(&[secret.as_str(), own_secret.as_str()])
        .await;
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

    let (status, detail) = app.case_items().await[&ids[0]].clone();
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
