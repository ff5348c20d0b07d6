//! Bounded waits on PostgreSQL: a writer that cannot get its lock within
//! `lock_timeout` gets a retryable 503 in the protocol's own format and changes
//! nothing, instead of hanging; and since writers lock only what they decide,
//! writers of other things go on meanwhile. Locks are held from a separate
//! connection, as a paused instance inside a transaction would hold them.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{spawn_app, Engine, TestApp};

fn user(user_name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name})
}

fn rename(display_name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "replace", "path": "displayName", "value": display_name}]})
}

async fn scim_user(app: &TestApp, token: &str, user_name: &str) -> String {
    let (status, _, created) = app
        .scim(token, Method::POST, "/Users", Some(&user(user_name)))
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stuck_behind_a_row_lock_gets_a_retryable_503_while_other_writers_go_on() {
    let Some(app) = spawn_app(Engine::Postgres).await else {
        return;
    };
    let token = app.scim_token().await;
    let stuck = scim_user(&app, &token, "stuck@example.com").await;
    let free = scim_user(&app, &token, "free@example.com").await;
    let api_person = app
        .create_person(&json!({"emails": ["api-stuck@example.com"]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A paused instance, inside a transaction that updated both people.
    let mut holder = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("UPDATE people SET updated_at = updated_at WHERE id = $1 OR id = $2")
        .bind(&stuck)
        .bind(&api_person)
        .execute(&mut holder)
        .await
        .unwrap();
    let before = app.row_counts().await;

    let (status, headers, error) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{stuck}"),
            Some(&rename("Stuck")),
        )
        .await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(
        error["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert!(headers.contains_key("retry-after"));
    let api = app
        .patch(
            &format!("/api/v1/people/{api_person}"),
            &json!({"display_name": "Stuck too"}),
        )
        .await;
    assert_eq!(api.status(), 503);
    assert!(api.headers().contains_key("retry-after"));
    let problem: Value = api.json().await.unwrap();
    assert_eq!(problem["code"], "database_unavailable");
    assert_eq!(app.row_counts().await, before, "a timed-out writer wrote");

    // Meanwhile, writes about anyone else are not held up.
    let (status, _, renamed) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{free}"),
            Some(&rename("Free")),
        )
        .await;
    assert_eq!(
        (status, renamed["displayName"].clone()),
        (200, json!("Free"))
    );
    scim_user(&app, &token, "newcomer@example.com").await;

    // The holder lets go: the same request succeeds.
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let (status, _, renamed) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{stuck}"),
            Some(&rename("Stuck")),
        )
        .await;
    assert_eq!(
        (status, renamed["displayName"].clone()),
        (200, json!("Stuck"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_invariant_lock_stops_only_the_writers_deciding_that_same_thing() {
    let Some(app) = spawn_app(Engine::Postgres).await else {
        return;
    };
    let token = app.scim_token().await;
    // Another instance, paused while deciding who has this userName.
    let key = ownerbound::store::locks::LockKey::UserName("contested@example.com").advisory_key();
    let mut holder = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut holder)
        .await
        .unwrap();
    let before = app.row_counts().await;
    let (status, headers, error) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&user("Contested@example.com")),
        )
        .await;
    assert_eq!(status, 503, "{error}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(app.row_counts().await, before, "a timed-out writer wrote");
    scim_user(&app, &token, "uncontested@example.com").await;

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut holder)
        .await
        .unwrap();
    scim_user(&app, &token, "contested@example.com").await;
}
