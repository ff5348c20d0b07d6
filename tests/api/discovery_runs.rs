//! Discovery runs as the API and the queue see them: started with
//! `POST /api/v1/providers/{name}/discover` and listed at `/api/v1/discoveries`; one
//! run per provider at a time; a run whose runner stopped (a crash) is abandoned by
//! the next, which starts over cleanly; and people's identities at providers, edited
//! through the API with errors in its problem format.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app_with, Engine, TestApp};
use crate::moto_peer::Moto;
use crate::on_each_engine;

/// An app whose `aws` provider discovers at `moto`, with its own key there.
async fn app_discovering(engine: Engine) -> Option<(TestApp, Moto, Value)> {
    let moto = Moto::start().await?;
    moto.create_user("ownerbound").await;
    let (own_id, own_secret) = moto.create_access_key("ownerbound").await;
    moto.create_user("svc").await;
    moto.create_access_key("svc").await;
    let providers = json!([
        {"name": "aws", "kind": "aws_iam", "endpoint": moto.endpoint,
         "access_key_id": own_id, "secret_access_key": own_secret, "discover": true},
        {"name": "it-desk", "kind": "manual"},
    ]);
    let configs: Vec<ownerbound::connectors::providers::ProviderConfig> =
        serde_json::from_value(providers.clone()).unwrap();
    let app = spawn_app_with(engine, |settings| settings.providers = configs).await?;
    Some((app, moto, providers))
}

async fn discovery_is_started_through_the_api_and_its_runs_are_listed_with_counts(engine: Engine) {
    let Some((app, _moto, providers)) = app_discovering(engine).await else {
        return;
    };
    let response = app.post("/api/v1/providers/aws/discover", &json!({})).await;
    assert_eq!(response.status(), 202);
    let started: Value = response.json().await.unwrap();
    assert!(started["job_id"].is_string(), "{started}");
    assert_problem(
        app.post("/api/v1/providers/nope/discover", &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post("/api/v1/providers/it-desk/discover", &json!({}))
            .await,
        409,
        "discovery_not_enabled",
    )
    .await;
    let read = app.token_with_scope("read").await;
    let refused = app
        .request_as(
            &read,
            reqwest::Method::POST,
            "/api/v1/providers/aws/discover",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());
    ownerbound::jobs::Worker::new(ctx)
        .run_until_idle()
        .await
        .unwrap();
    let runs: Value = app.get("/api/v1/discoveries").await.json().await.unwrap();
    let runs = runs["items"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["trigger"], "api");
    assert_eq!(runs[0]["listed"], 1);
    assert_eq!(runs[0]["shadow"], 1);
    assert!(
        runs[0].get("holder").is_none(),
        "internal fields leak: {}",
        runs[0]
    );
    let id = runs[0]["id"].as_str().unwrap();
    let one: Value = app
        .get(&format!("/api/v1/discoveries/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], id);
    assert_problem(app.get("/api/v1/discoveries/nope").await, 404, "not_found").await;
    assert_problem(
        app.get("/api/v1/discovered-credentials?shadow=maybe").await,
        400,
        "invalid_query",
    )
    .await;
}

async fn one_run_per_provider_at_a_time_and_a_crashed_runs_successor_starts_clean(engine: Engine) {
    let Some((app, _moto, providers)) = app_discovering(engine).await else {
        return;
    };
    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());
    let runner = ownerbound::discovery::Runner {
        trigger: "cli",
        holder: "second",
        job_id: None,
    };
    // Another runner holds the provider: this one does not start.
    let now = ownerbound::store::now();
    let mut tx = app.store.begin().await.unwrap();
    let held = tx
        .start_discovery_run(
            "aws",
            "cli",
            "first",
            None,
            now + chrono::Duration::seconds(60),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let outcome = ownerbound::discovery::run(&ctx, "aws", &runner)
        .await
        .unwrap();
    assert!(
        matches!(outcome, ownerbound::discovery::RunOutcome::Busy),
        "{outcome:?}"
    );

    // The first runner dies: its hold lapses without a renewal.
    app.execute_sql(&format!(
        "UPDATE discovery_runs SET held_until = started_at WHERE id = '{held}'"
    ))
    .await;
    let outcome = ownerbound::discovery::run(&ctx, "aws", &runner)
        .await
        .unwrap();
    assert!(
        matches!(outcome, ownerbound::discovery::RunOutcome::Finished(_)),
        "{outcome:?}"
    );
    let abandoned = app.store.get_discovery_run(&held).await.unwrap();
    assert_eq!(abandoned.status, "abandoned");
    let runs = app
        .store
        .list_discovery_runs(
            Some("aws"),
            &ownerbound::store::PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(runs.items[0].status, "succeeded");
    assert_eq!(runs.items[0].counts.listed, 1);
    // A run of a job whose lease was released (its instance died) is over at once,
    // hold or no hold.
    let mut tx = app.store.begin().await.unwrap();
    let orphan = tx
        .start_discovery_run(
            "aws",
            "schedule",
            "dead-instance/lease",
            Some("a-job-nobody-holds"),
            now + chrono::Duration::seconds(600),
            now,
        )
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let outcome = ownerbound::discovery::run(&ctx, "aws", &runner)
        .await
        .unwrap();
    assert!(
        matches!(outcome, ownerbound::discovery::RunOutcome::Finished(_)),
        "{outcome:?}"
    );
    assert_eq!(
        app.store.get_discovery_run(&orphan).await.unwrap().status,
        "abandoned"
    );
    // The dead runner cannot record anything any more.
    let mut tx = app.store.begin().await.unwrap();
    let renewed = tx
        .renew_discovery_run(&held, "first", now, &Default::default())
        .await
        .unwrap();
    assert!(!renewed);
}

async fn a_discovering_provider_is_scheduled_once_per_interval(engine: Engine) {
    let Some((app, _moto, providers)) = app_discovering(engine).await else {
        return;
    };
    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());
    // Never ran: due now, once however many instances check.
    assert_eq!(
        ownerbound::discovery::schedule::tick(&app.store, &ctx.providers)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ownerbound::discovery::schedule::tick(&app.store, &ctx.providers)
            .await
            .unwrap(),
        0
    );
    ownerbound::jobs::Worker::new(ctx.clone())
        .run_until_idle()
        .await
        .unwrap();
    let runs: Value = app.get("/api/v1/discoveries").await.json().await.unwrap();
    assert_eq!(runs["items"][0]["trigger"], "schedule");
    assert_eq!(runs["items"][0]["status"], "succeeded");
    // It just ran: not due again within the interval (an hour by default).
    assert_eq!(
        ownerbound::discovery::schedule::tick(&app.store, &ctx.providers)
            .await
            .unwrap(),
        0
    );
}

async fn identities_are_edited_through_the_api_and_name_one_person(engine: Engine) {
    let Some(app) = spawn_app_with(engine, |_| {}).await else {
        return;
    };
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let bob = app
        .create_person(&json!({"emails": ["bob@example.com"]}))
        .await;
    let path = |person: &Value, provider: &str| {
        format!(
            "/api/v1/people/{}/identities/{provider}",
            person["id"].as_str().unwrap()
        )
    };
    let put =
        |path: String, body: Value| app.request(reqwest::Method::PUT, &path).json(&body).send();
    let response = put(path(&ada, "github"), json!({"identity": "ada-l"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"github": {"identity": "ada-l", "source": "api"}})
    );
    assert_problem(
        put(path(&bob, "github"), json!({"identity": "ada-l"}))
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    assert_problem(
        put(path(&bob, "github"), json!({"identity": ""}))
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        put(path(&bob, "github"), json!({"login": "x"}))
            .await
            .unwrap(),
        400,
        "invalid_body",
    )
    .await;
    assert_problem(
        put(
            "/api/v1/people/nope/identities/github".into(),
            json!({"identity": "x"}),
        )
        .await
        .unwrap(),
        404,
        "not_found",
    )
    .await;
    // Replaced, not added: one identity per person and provider.
    put(path(&ada, "github"), json!({"identity": "ada-lovelace"}))
        .await
        .unwrap();
    let listed: Value = app
        .get(&format!(
            "/api/v1/people/{}/identities",
            ada["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["github"]["identity"], "ada-lovelace");
    let removed = app
        .request(reqwest::Method::DELETE, &path(&ada, "github"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_problem(
        app.request(reqwest::Method::DELETE, &path(&ada, "github"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

on_each_engine!(
    discovery_is_started_through_the_api_and_its_runs_are_listed_with_counts,
    one_run_per_provider_at_a_time_and_a_crashed_runs_successor_starts_clean,
    a_discovering_provider_is_scheduled_once_per_interval,
    identities_are_edited_through_the_api_and_name_one_person,
);
