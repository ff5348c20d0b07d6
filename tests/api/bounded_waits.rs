//! Bounded waits on PostgreSQL: a writer that cannot get its lock within
//! `lock_timeout` gets a retryable 503 in the protocol's own format and changes
//! nothing, instead of hanging. The lock is held from a separate connection, as a
//! paused instance inside a transaction would hold it.

use reqwest::Method;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{spawn_app, Engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_waits_past_lock_timeout_gets_a_retryable_503_and_changes_nothing() {
    let Some(app) = spawn_app(Engine::Postgres).await else {
        return;
    };
    let token = app.scim_token().await;
    let before = app.row_counts().await;
    let mut holder = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(ownerbound::store::WRITE_LOCK_KEY)
        .execute(&mut holder)
        .await
        .unwrap();

    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "waiter@example.com"});
    let (status, headers, error) = app.scim(&token, Method::POST, "/Users", Some(&user)).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(
        error["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert!(headers.contains_key("retry-after"));
    let api = app
        .post("/api/v1/people", &json!({"emails": ["waiter@example.com"]}))
        .await;
    assert_eq!(api.status(), 503);
    assert!(api.headers().contains_key("retry-after"));
    let problem: serde_json::Value = api.json().await.unwrap();
    assert_eq!(problem["code"], "database_unavailable");
    assert_eq!(app.row_counts().await, before, "a timed-out writer wrote");

    // The holder lets go: the same request succeeds.
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(ownerbound::store::WRITE_LOCK_KEY)
        .execute(&mut holder)
        .await
        .unwrap();
    let (status, _, created) = app.scim(&token, Method::POST, "/Users", Some(&user)).await;
    assert_eq!(status, 201, "{created}");
}
