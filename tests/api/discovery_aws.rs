//! Discovery against a real, stateful IAM (`moto_server`, signatures checked while
//! ownerbound calls): IAM users with owner-tagged keys are found and attributed to
//! people an identity provider pushed over SCIM; an untagged key is a shadow
//! credential; a second run with nothing changed changes nothing; the owner's SCIM
//! deactivation deactivates and then deletes their keys, proven by IAM's listing; and
//! a key made at IAM after the owner left is found by the next run, revoked at once,
//! and alerted about by email at a real SMTP server.

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::moto_peer::Moto;
use crate::on_both_engines;
use crate::smtp_peer::SmtpServer;

/// What ownerbound's own IAM user may do: discovery's listing calls, and the two
/// steps of a revocation.
const ACTIONS: &[&str] = &[
    "iam:ListUsers",
    "iam:ListAccessKeys",
    "iam:ListUserTags",
    "iam:GetAccessKeyLastUsed",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
];

/// A person pushed by the identity provider; returns their id.
async fn scim_person(app: &TestApp, token: &str, user_name: &str) -> String {
    let (status, _, body) = app
        .scim(
            token,
            reqwest::Method::POST,
            "/Users",
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
                "emails": [{"value": user_name, "primary": true}],
                "active": true,
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Runs a discovery of `aws` as the queue does, then the work it queued.
async fn discover(app: &TestApp, ctx: &ownerbound::jobs::Context) -> Value {
    let mut tx = app.store.begin().await.unwrap();
    let key = format!("discover:aws:test:{}", uuid::Uuid::new_v4().simple());
    let task = ownerbound::tasks::Task::Discover {
        provider: "aws".into(),
        trigger: "api".into(),
    };
    ownerbound::tasks::enqueue(&mut tx, &task, &ownerbound::tasks::Schedule::now(&key))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    run_queue(ctx).await;
    let runs: Value = app
        .get("/api/v1/discoveries?provider=aws")
        .await
        .json()
        .await
        .unwrap();
    runs["items"][0].clone()
}

async fn run_queue(ctx: &ownerbound::jobs::Context) {
    ownerbound::jobs::Worker::new(ctx.clone())
        .run_until_idle()
        .await
        .unwrap();
}

fn counts(run: &Value) -> [i64; 6] {
    ["listed", "new", "changed", "gone", "shadow", "offboarded"].map(|k| run[k].as_i64().unwrap())
}

async fn discovery_attributes_keys_flags_shadows_revokes_and_deletes_at_departure_and_catches_a_key_made_after_it(
    app: TestApp,
) {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    moto.create_user("ownerbound").await;
    moto.allow("ownerbound", ACTIONS).await;
    let (own_id, own_secret) = moto.create_access_key("ownerbound").await;
    // A service user Ada owns (two keys), Ada's own user, Bob's service user, and a
    // user nobody owns.
    moto.create_user("ada-ci").await;
    moto.tag_user("ada-ci", "owner", "ada@example.com").await;
    let (ci_key_1, ci_secret_1) = moto.create_access_key("ada-ci").await;
    let (ci_key_2, _) = moto.create_access_key("ada-ci").await;
    moto.create_user("ada").await;
    moto.tag_user("ada", "email", "ada@example.com").await;
    let (ada_key, _) = moto.create_access_key("ada").await;
    moto.create_user("bob-svc").await;
    moto.tag_user("bob-svc", "owner", "bob@example.com").await;
    let (bob_key, _) = moto.create_access_key("bob-svc").await;
    moto.create_user("legacy-etl").await;
    let (shadow_key, _) = moto.create_access_key("legacy-etl").await;

    let scim = app.scim_token().await;
    let ada = scim_person(&app, &scim, "ada@example.com").await;
    let bob = scim_person(&app, &scim, "bob@example.com").await;

    let providers = json!([{
        "name": "aws", "kind": "aws_iam", "endpoint": moto.endpoint,
        "access_key_id": own_id, "secret_access_key": own_secret,
        "discover": true, "delete_after_seconds": 0,
    }]);
    let ctx = app.job_context(
        providers,
        Some(smtp.alerts()),
        ownerbound::jobs::http_client(),
    );
    moto.require_signatures(true).await;

    // First run: everything is new; ownerbound's own key is not a finding.
    let first = discover(&app, &ctx).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(counts(&first), [5, 5, 0, 0, 1, 0], "{first}");
    let shadows: Value = app
        .get("/api/v1/discovered-credentials?shadow=true")
        .await
        .json()
        .await
        .unwrap();
    let shadows = shadows["items"].as_array().unwrap();
    assert_eq!(shadows.len(), 1, "{shadows:?}");
    assert_eq!(shadows[0]["handle"], shadow_key.as_str());
    assert_eq!(shadows[0]["owner_identity"], "legacy-etl");
    assert_eq!(shadows[0]["provider_status"], "Active");
    let adas: Value = app
        .get(&format!("/api/v1/discovered-credentials?person_id={ada}"))
        .await
        .json()
        .await
        .unwrap();
    let mut handles: Vec<&str> = adas["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["handle"].as_str().unwrap())
        .collect();
    handles.sort();
    let mut expected = vec![ci_key_1.as_str(), ci_key_2.as_str(), ada_key.as_str()];
    expected.sort();
    assert_eq!(handles, expected);
    // The email tag on Ada's own IAM user made it her AWS identity.
    let identities: Value = app
        .get(&format!("/api/v1/people/{ada}/identities"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        identities,
        json!({"aws": {"identity": "ada", "source": "discovered:aws"}})
    );
    // Discovered agents, owned by the people the tags name.
    let agents: Value = app.get("/api/v1/agents").await.json().await.unwrap();
    let agent = |name: &str| {
        agents["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no agent {name}: {agents}"))
            .clone()
    };
    assert_eq!(agent("ada-ci (aws)")["owner"]["id"], ada.as_str());
    assert_eq!(agent("ada-ci (aws)")["source"], "discovered:aws");
    assert_eq!(agent("ada-ci (aws)")["credential_count"], 2);
    assert_eq!(agent("bob-svc (aws)")["owner"]["id"], bob.as_str());
    assert_eq!(agents["items"].as_array().unwrap().len(), 3, "{agents}");

    // Nothing changed at IAM: a second run changes nothing.
    let rows = app.row_counts().await;
    let second = discover(&app, &ctx).await;
    assert_ne!(second["id"], first["id"]);
    assert_eq!(counts(&second), [5, 0, 0, 0, 1, 0], "{second}");
    let after: Vec<_> = app
        .row_counts()
        .await
        .into_iter()
        .filter(|(table, _)| {
            !["discovery_runs", "audit_log", "audit_outbox", "jobs"].contains(&table.as_str())
        })
        .collect();
    let before: Vec<_> = rows
        .into_iter()
        .filter(|(table, _)| {
            !["discovery_runs", "audit_log", "audit_outbox", "jobs"].contains(&table.as_str())
        })
        .collect();
    assert_eq!(before, after);

    // Ada leaves: her identity provider deactivates her over SCIM.
    let (status, _, body) = app
        .scim(
            &scim,
            reqwest::Method::PATCH,
            &format!("/Users/{ada}"),
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": false}}],
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    run_queue(&ctx).await;
    moto.require_signatures(false).await;
    for (user, key) in [
        ("ada-ci", &ci_key_1),
        ("ada-ci", &ci_key_2),
        ("ada", &ada_key),
    ] {
        assert_eq!(
            moto.key_status(user, key).await,
            None,
            "{user}'s key {key} still exists"
        );
    }
    assert_eq!(
        moto.key_status("bob-svc", &bob_key).await.as_deref(),
        Some("Active")
    );
    assert_eq!(
        moto.key_status("legacy-etl", &shadow_key).await.as_deref(),
        Some("Active")
    );
    let items = app.case_items().await;
    assert_eq!(items.len(), 3, "{items:?}");
    for (status, detail) in items.values() {
        assert_eq!(status, "verified_dead", "{detail}");
        assert!(detail.contains("deleted"), "{detail}");
    }

    // After she left, someone makes a new key for her service user.
    let (late_key, late_secret) = moto.create_access_key("ada-ci").await;
    moto.require_signatures(true).await;
    let third = discover(&app, &ctx).await;
    moto.require_signatures(false).await;
    // Listed: Bob's, the shadow and the new one; gone: Ada's three deleted keys.
    assert_eq!(counts(&third), [3, 1, 0, 3, 1, 1], "{third}");
    assert_eq!(
        moto.key_status("ada-ci", &late_key).await,
        None,
        "the late key lives"
    );
    let alerts = smtp.messages();
    let alert = alerts
        .iter()
        .find(|m| m.contains("live credential of a departed person found at aws"))
        .unwrap_or_else(|| panic!("no alert among {alerts:?}"));
    assert!(alert.contains(&late_key), "{alert}");
    let gone: Value = app
        .get("/api/v1/discovered-credentials?gone=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gone["items"].as_array().unwrap().len(), 3, "{gone}");
    assert!(gone["items"][0]["gone_at"].is_string());

    // The report says what discovery found.
    let report = app
        .request(reqwest::Method::GET, "/api/v1/reports/preview")
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let section = |title: &str| {
        let start = report
            .find(title)
            .unwrap_or_else(|| panic!("no {title} in {report}"));
        report[start..].split("\n\n").next().unwrap().to_string()
    };
    let departed = section("CREDENTIALS OF DEPARTED PEOPLE FOUND BY DISCOVERY (1)");
    assert!(departed.contains(&late_key), "{departed}");
    assert!(
        departed.contains("h after, listed in the latest run"),
        "{departed}"
    );
    let shadow = section("SHADOW CREDENTIALS (1)");
    assert!(
        shadow.contains(&shadow_key) && shadow.contains("legacy-etl"),
        "{shadow}"
    );
    let coverage = section("DISCOVERY COVERAGE (1)");
    assert!(
        coverage.contains("aws: latest run") && coverage.contains("3 listed, 1 new"),
        "{coverage}"
    );

    app.assert_secrets_kept(&[
        own_secret.as_str(),
        ci_secret_1.as_str(),
        late_secret.as_str(),
    ])
    .await;
}

on_both_engines!(
    discovery_attributes_keys_flags_shadows_revokes_and_deletes_at_departure_and_catches_a_key_made_after_it,
);
