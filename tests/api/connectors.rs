//! The vault, github, slack and http connectors against stand-ins that answer as the
//! providers document (`fake_providers`): each credential is revoked by the provider's
//! own call and proven dead by the provider's own check; ambiguous answers go to
//! verification; configuration errors are not retried; rate limits pace the calls.

use serde_json::{json, Value};

use crate::fake_providers::{Fake, GITHUB_APP, HOOK_KEY, VAULT_ADMIN};
use crate::helpers::TestApp;
use crate::on_both_engines;

/// Dead revocation jobs (alerts die too here: no SMTP is configured).
async fn dead_revocations(app: &TestApp) -> usize {
    let jobs: Value = app
        .get("/api/v1/jobs?status=dead")
        .await
        .json()
        .await
        .unwrap();
    jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "revoke")
        .count()
}

async fn vault_tokens_accessors_and_leases_are_revoked_and_proven_dead(app: TestApp) {
    let token = "hvs.agent-token-0000000001";
    let own_token = "hvs.agent-token-self-000002";
    let lease = "database/creds/readonly/2f6a614c";
    // Live, but without the default policy: refused like a revoked token on old Vault.
    let restricted = "hvs.no-default-policy-000004";
    let fake = Fake::start(&[
        token,
        own_token,
        "acc-7f3b",
        lease,
        "hvs.unrelated-000003",
        restricted,
    ]);
    fake.state
        .lock()
        .unwrap()
        .restricted
        .insert(restricted.into());
    let ids = app
        .offboard_owner_of(json!([
            {"provider": "vault", "kind": "api_key", "secret": token},
            {"provider": "vault", "kind": "api_key", "external_id": "acc-7f3b"},
            {"provider": "vault", "kind": "other", "external_id": lease},
            {"provider": "vault-self", "kind": "api_key", "secret": own_token},
            {"provider": "vault-self", "kind": "api_key", "secret": restricted},
        ]))
        .await;
    app.run_jobs_with(json!([
        {"name": "vault", "kind": "vault", "address": fake.base, "token": VAULT_ADMIN},
        // Without a token of its own, ownerbound presents the credential to revoke itself.
        {"name": "vault-self", "kind": "vault", "address": fake.base},
    ]))
    .await;
    let items = app.case_items().await;
    for (id, proof) in ids.iter().zip([
        "auth/token/lookup answers bad token",
        "lookup-accessor answers invalid accessor",
        "sys/leases/lookup answers invalid lease",
        "lookup-self calls the token invalid",
    ]) {
        let (status, detail) = &items[id];
        assert_eq!(status, "verified_dead", "{id}: {detail}");
        assert!(detail.contains(proof), "{detail}");
    }
    for secret in [token, own_token, "acc-7f3b", lease] {
        assert!(!fake.alive(secret), "{secret} still alive");
    }
    assert!(
        fake.alive("hvs.unrelated-000003"),
        "an unrelated token was revoked"
    );
    // A bare 403 proves nothing: the live token is left to a human, not called dead.
    let (status, detail) = &items[&ids[4]];
    assert_eq!(status, "needs_attention", "{detail}");
    assert!(detail.contains("default policy"), "{detail}");
    assert!(fake.alive(restricted));
    // Lease revocation waits for the backend (sync=true), or it is only queued.
    let revoke = fake.seen("/v1/sys/leases/revoke");
    assert_eq!(revoke[0].body, json!({"lease_id": lease, "sync": true}));
    assert_eq!(fake.seen("/v1/auth/token/revoke-self").len(), 2);
    let audit: Value = app.get("/api/v1/audit").await.json().await.unwrap();
    for secret in [token, own_token, VAULT_ADMIN] {
        assert!(
            !audit.to_string().contains(secret),
            "a secret in the audit log"
        );
        assert!(
            !crate::helpers::captured_logs().contains(secret),
            "a secret in the logs"
        );
    }
}

async fn a_sealed_vault_is_retried_after_its_retry_after(app: TestApp) {
    let fake = Fake::start(&["acc-sealed"]);
    fake.state.lock().unwrap().unavailable = 1;
    let ids = app
        .offboard_owner_of(
            json!([{"provider": "vault", "kind": "api_key", "external_id": "acc-sealed"}]),
        )
        .await;
    let providers =
        json!([{"name": "vault", "kind": "vault", "address": fake.base, "token": VAULT_ADMIN}]);
    let before = ownerbound::store::now();
    app.run_jobs_with(providers.clone()).await;
    assert_eq!(app.case_items().await[&ids[0]].0, "revoking");
    assert!(fake.alive("acc-sealed"));
    let jobs: Value = app.get("/api/v1/jobs").await.json().await.unwrap();
    let revoke = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "revoke")
        .unwrap();
    let run_after: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(revoke["run_after"].clone()).unwrap();
    assert!(
        run_after >= before + chrono::Duration::seconds(4),
        "Retry-After (5 s) not honoured: {run_after}"
    );
    // Due after the provider's Retry-After (5 s); run it as a worker would then.
    app.execute_sql("UPDATE jobs SET run_after = created_at WHERE kind = 'revoke'")
        .await;
    app.run_jobs_with(providers).await;
    assert_eq!(app.case_items().await[&ids[0]].0, "verified_dead");
    assert!(!fake.alive("acc-sealed"));
}

async fn github_tokens_are_deleted_and_check_token_answers_404(app: TestApp) {
    let token = "gho_agenttoken000000000000001";
    let fake = Fake::start(&[token, "gho_unrelated0000000000000002"]);
    let ids = app
        .offboard_owner_of(
            json!([{"provider": "github", "kind": "oauth_access_token", "secret": token}]),
        )
        .await;
    app.run_jobs_with(
        json!([{"name": "github", "kind": "github", "api_url": fake.base,
        "client_id": GITHUB_APP.0, "client_secret": GITHUB_APP.1}]),
    )
    .await;
    let (status, detail) = &app.case_items().await[&ids[0]];
    assert_eq!(status, "verified_dead");
    assert!(detail.contains("refuses the token (401)"), "{detail}");
    assert!(!fake.alive(token));
    assert!(fake.alive("gho_unrelated0000000000000002"));
    let delete = &fake.seen(&format!("/applications/{}/token", GITHUB_APP.0))[0];
    assert_eq!(delete.method, "DELETE");
    assert_eq!(delete.body, json!({"access_token": token}));
    assert_eq!(delete.header("x-github-api-version"), Some("2022-11-28"));
}

/// A token the app did not issue (a personal token) is unknown to check-token, but
/// the API still accepts it: it is not called dead.
async fn a_github_token_of_another_app_is_not_called_dead(app: TestApp) {
    let personal = "ghp_personalaccesstoken00000005";
    let fake = Fake::start(&[personal]);
    fake.state.lock().unwrap().foreign.insert(personal.into());
    let ids = app
        .offboard_owner_of(json!([{"provider": "github", "kind": "api_key", "secret": personal}]))
        .await;
    app.run_jobs_with(
        json!([{"name": "github", "kind": "github", "api_url": fake.base,
        "client_id": GITHUB_APP.0, "client_secret": GITHUB_APP.1}]),
    )
    .await;
    let (status, _) = &app.case_items().await[&ids[0]];
    assert_eq!(status, "still_alive");
    assert!(fake.alive(personal));
}

async fn a_wrong_github_app_secret_is_a_configuration_error_not_retried(app: TestApp) {
    let token = "gho_agenttoken000000000000003";
    let fake = Fake::start(&[token]);
    let ids = app
        .offboard_owner_of(
            json!([{"provider": "github", "kind": "oauth_access_token", "secret": token}]),
        )
        .await;
    app.run_jobs_with(
        json!([{"name": "github", "kind": "github", "api_url": fake.base,
        "client_id": GITHUB_APP.0, "client_secret": "not-the-app-secret-000000"}]),
    )
    .await;
    let (status, detail) = &app.case_items().await[&ids[0]];
    assert_eq!(status, "needs_attention");
    assert!(detail.contains("401"), "{detail}");
    assert_eq!(
        fake.seen(&format!("/applications/{}/token", GITHUB_APP.0))
            .len(),
        1,
        "retried a configuration error"
    );
    assert_eq!(dead_revocations(&app).await, 1);
    assert!(fake.alive(token));
}

async fn slack_ok_false_goes_to_verification_rather_than_being_trusted(app: TestApp) {
    let live = "xoxp-live-agent-token-00001";
    // Revoked already by someone else: auth.revoke answers 200 ok:false.
    let gone = "xoxb-already-revoked-00002";
    let fake = Fake::start(&[live]);
    let ids = app
        .offboard_owner_of(json!([
            {"provider": "slack", "kind": "oauth_access_token", "secret": live},
            {"provider": "slack", "kind": "api_key", "secret": gone},
        ]))
        .await;
    app.run_jobs_with(
        json!([{"name": "slack", "kind": "slack", "api_url": format!("{}/api", fake.base)}]),
    )
    .await;
    let items = app.case_items().await;
    for id in &ids {
        let (status, detail) = &items[id];
        assert_eq!(status, "verified_dead", "{detail}");
        assert!(
            detail.contains("auth.test answers token_revoked"),
            "{detail}"
        );
    }
    assert!(!fake.alive(live));
    let timeline: Value = app.get("/api/v1/audit").await.json().await.unwrap();
    assert!(
        timeline.to_string().contains("Ambiguous"),
        "ok:false was not recorded as ambiguous"
    );
    assert_eq!(fake.seen("/api/auth.test").len(), 2);
}

async fn the_http_connector_sends_a_signed_request_without_the_secret(app: TestApp) {
    let secret = "internal-system-key-000000001";
    let fake = Fake::start(&[]);
    let ids = app.offboard_owner_of(
        json!([{"provider": "internal", "kind": "api_key", "external_id": "key-42", "secret": secret}]),
    )
    .await;
    fake.state.lock().unwrap().live.insert(ids[0].clone());
    app.run_jobs_with(json!([{"name": "internal", "kind": "http",
        "url": format!("{}/hook", fake.base), "signing_secret": HOOK_KEY}]))
        .await;
    let (status, detail) = &app.case_items().await[&ids[0]];
    assert_eq!(status, "verified_dead", "{detail}");
    assert!(detail.contains("reports it inactive"), "{detail}");
    let calls = fake.seen("/hook");
    assert_eq!(
        calls
            .iter()
            .map(|c| c.body["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["credential.revoke", "credential.verify"]
    );
    assert_eq!(calls[0].body["credential"]["external_id"], "key-42");
    assert_eq!(calls[0].body["provider"], "internal");
    for call in &calls {
        assert!(
            !call.body.to_string().contains(secret),
            "the secret was sent"
        );
    }
}

/// `send_secret = true` hands the secret to the endpoint (for systems that need it to
/// find the credential); `verify = false` takes the acknowledgement as the proof, and
/// the proof says so.
async fn the_http_connector_options_send_the_secret_and_skip_verification(app: TestApp) {
    let secret = "internal-system-key-000000002";
    let fake = Fake::start(&[]);
    let ids = app
        .offboard_owner_of(
            json!([{"provider": "internal", "kind": "api_key", "secret": secret},
               {"provider": "internal", "kind": "api_key", "external_id": "unknown-to-it"}]),
        )
        .await;
    fake.state.lock().unwrap().live.insert(ids[0].clone());
    app.run_jobs_with(json!([{"name": "internal", "kind": "http",
        "url": format!("{}/hook", fake.base), "signing_secret": HOOK_KEY,
        "send_secret": true, "verify": false}]))
        .await;
    let items = app.case_items().await;
    let (status, detail) = &items[&ids[0]];
    assert_eq!(status, "verified_dead", "{detail}");
    assert!(detail.contains("not checked independently"), "{detail}");
    // An ambiguous answer cannot be settled without verification: a human checks.
    let (status, detail) = &items[&ids[1]];
    assert_eq!(status, "needs_attention", "{detail}");
    assert!(detail.contains("verification is off"), "{detail}");
    let calls: Vec<_> = fake
        .seen("/hook")
        .into_iter()
        .filter(|c| c.body["credential"]["id"] == ids[0].as_str())
        .collect();
    assert_eq!(calls.len(), 1, "verification was skipped");
    assert_eq!(calls[0].body["secret"], secret);
    assert!(!fake.alive(&ids[0]));
}

async fn a_forged_http_signature_is_refused_by_the_receiver(app: TestApp) {
    let fake = Fake::start(&[]);
    let ids = app
        .offboard_owner_of(
            json!([{"provider": "internal", "kind": "api_key", "external_id": "key-43"}]),
        )
        .await;
    fake.state.lock().unwrap().live.insert(ids[0].clone());
    app.run_jobs_with(json!([{"name": "internal", "kind": "http",
        "url": format!("{}/hook", fake.base), "signing_secret": "some-other-key-0000000000"}]))
        .await;
    // The receiver answers 401: a configuration error, alerted, not retried.
    assert_eq!(app.case_items().await[&ids[0]].0, "needs_attention");
    assert!(fake.alive(&ids[0]));
    assert_eq!(fake.seen("/hook").len(), 1);
}

async fn a_provider_rate_limit_paces_the_calls(app: TestApp) {
    let tokens: Vec<String> = (0..5).map(|i| format!("xoxp-paced-token-{i:05}")).collect();
    let fake = Fake::start(&tokens.iter().map(String::as_str).collect::<Vec<_>>());
    app.offboard_owner_of(Value::Array(
        tokens
            .iter()
            .map(|t| json!({"provider": "slack", "kind": "api_key", "secret": t}))
            .collect(),
    ))
    .await;
    app.run_jobs_with(json!([{"name": "slack", "kind": "slack",
        "api_url": format!("{}/api", fake.base), "rate_limit_per_second": 5}]))
        .await;
    let seen = fake.state.lock().unwrap().seen.clone();
    // Ten calls (revoke + verify each) at 5/s with a burst of 5: the last five wait
    // for the quota, so they span at least a second whatever the machine's speed.
    assert_eq!(seen.len(), 10);
    let span = seen.last().unwrap().at - seen[0].at;
    assert!(span >= std::time::Duration::from_millis(950), "{span:?}");
    assert!(tokens.iter().all(|t| !fake.alive(t)));
}

on_both_engines!(
    vault_tokens_accessors_and_leases_are_revoked_and_proven_dead,
    a_sealed_vault_is_retried_after_its_retry_after,
    github_tokens_are_deleted_and_check_token_answers_404,
    a_github_token_of_another_app_is_not_called_dead,
    a_wrong_github_app_secret_is_a_configuration_error_not_retried,
    slack_ok_false_goes_to_verification_rather_than_being_trusted,
    the_http_connector_sends_a_signed_request_without_the_secret,
    a_forged_http_signature_is_refused_by_the_receiver,
    the_http_connector_options_send_the_secret_and_skip_verification,
    a_provider_rate_limit_paces_the_calls,
);

fn index(provider: Value) -> Result<(), String> {
    let configs: Vec<ownerbound::connectors::providers::ProviderConfig> =
        serde_json::from_value(json!([provider])).unwrap();
    ownerbound::connectors::providers::index(&configs, &mut |_| {}).map(|_| ())
}

#[test]
fn broken_provider_entries_are_refused_naming_the_provider_and_key() {
    let cases = [
        (json!({"name": "v", "kind": "vault"}), "address"),
        (
            json!({"name": "a", "kind": "aws_iam", "secret_access_key": "env:OWNERBOUND_TEST_UNSET_VAR"}),
            "access_key_id",
        ),
        (
            json!({"name": "a", "kind": "aws_iam", "access_key_id": "AKIAEXAMPLE"}),
            "secret_access_key",
        ),
        (
            json!({"name": "v", "kind": "vault", "address": "ftp://x"}),
            "http(s) URL",
        ),
        (
            json!({"name": "g", "kind": "github", "client_secret": "x-0123456789abcdef"}),
            "client_id",
        ),
        (
            json!({"name": "h", "kind": "http", "url": "http://x", "signing_secret": "short"}),
            "16 bytes",
        ),
        (
            json!({"name": "o", "kind": "oauth2", "revocation_endpoint": "http://x", "client_secrte": "x"}),
            "client_secrte",
        ),
        (
            json!({"name": "m", "kind": "manual", "address": "http://x"}),
            "address",
        ),
        (
            json!({"name": "o", "kind": "oauth2"}),
            "revocation_endpoint",
        ),
        (
            json!({"name": "m", "kind": "manual", "rate_limit_per_second": 2e9}),
            "rate_limit_per_second",
        ),
        (
            json!({"name": "m", "kind": "manual", "max_concurrency": 0}),
            "max_concurrency",
        ),
        (
            json!({"name": "m", "kind": "manual", "propagation_seconds": 1e18}),
            "propagation_seconds",
        ),
        (
            json!({"name": "m", "kind": "manual", "call_timeout_seconds": 0}),
            "call_timeout_seconds",
        ),
        (
            json!({"name": "m", "kind": "manual", "call_timeout_seconds": 3600}),
            "call_timeout_seconds",
        ),
        (
            json!({"name": "s", "kind": "slack", "api_url": "http://x", "token": "env:OWNERBOUND_TEST_UNSET_VAR"}),
            "token",
        ),
        (
            json!({"name": "v", "kind": "vault", "address": "http://x", "token": "env:OWNERBOUND_TEST_UNSET_VAR"}),
            "OWNERBOUND_TEST_UNSET_VAR",
        ),
        (
            json!({"name": "s", "kind": "slack", "api_url": "http://x", "token": "xoxb-0123456789", "discover": true}),
            "cannot discover",
        ),
        (
            json!({"name": "v", "kind": "vault", "address": "http://x", "discover": "yes"}),
            "discover",
        ),
        (
            json!({"name": "v", "kind": "vault", "address": "http://x", "discover": true, "discover_interval_seconds": 5}),
            "discover_interval_seconds",
        ),
        (
            json!({"name": "a", "kind": "aws_iam", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "x", "delete_after_seconds": -1}),
            "delete_after_seconds",
        ),
    ];
    for (provider, expected) in cases {
        let error = index(provider.clone()).expect_err(&provider.to_string());
        assert!(error.contains(expected), "{provider}: {error}");
        assert!(
            error.contains(provider["name"].as_str().unwrap()),
            "{error}"
        );
    }
    assert!(index(json!({"name": "s", "kind": "slack"})).is_ok());
    assert!(index(json!({"name": "s", "kind": "slack", "call_timeout_seconds": 2.5})).is_ok());
}
