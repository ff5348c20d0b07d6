//! SCIM throughput with a large directory: `cargo bench --bench scim`.
//!
//! Seeds OWNERBOUND_BENCH_USERS people (default 100,000) straight into the database,
//! then drives the real HTTP endpoints over loopback: `POST /Users` and the match
//! filter IdPs send before every create (`GET /Users?filter=userName eq "…"`).
//! Prints requests per second and latency percentiles. SQLite by default; set
//! OWNERBOUND_BENCH_POSTGRES_URL to a database to measure PostgreSQL instead.

use std::time::Instant;

use ownerbound::config::Settings;
use ownerbound::startup::Application;
use ownerbound::store::Store;
use secrecy::SecretString;
use serde_json::json;

mod common;

use common::{report, run};

#[tokio::main]
async fn main() {
    let users: u64 = std::env::var("OWNERBOUND_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let requests: usize = std::env::var("OWNERBOUND_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    let dir = tempfile::tempdir().unwrap();
    let (database_url, engine) = match std::env::var("OWNERBOUND_BENCH_POSTGRES_URL") {
        Ok(url) => (url, "postgres"),
        Err(_) => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            "sqlite",
        ),
    };
    let token = "ob_bench_admin_token_0123456789";
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(database_url.clone()),
        master_key: Some(SecretString::from("ab".repeat(32))),
        bootstrap_admin_token: Some(SecretString::from(token)),
        ..Settings::default()
    };
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    let store = Store::connect_url(&database_url).await.unwrap();

    let started = Instant::now();
    seed(&store, engine, users).await;
    println!(
        "engine: {engine}; seeded {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::new();
    let scim_token: String = client
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(token)
        .json(&json!({"name": "bench-scim", "scope": "scim"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let post = run(requests, |i| {
        client
            .post(format!("{base}/scim/v2/Users"))
            .bearer_auth(&scim_token)
            .header("Content-Type", "application/scim+json")
            .body(
                json!({"userName": format!("bench-new-{i}@example.com"), "active": true,
                       "emails": [{"value": format!("bench-new-{i}@example.com"), "primary": true, "type": "work"}]})
                .to_string(),
            )
    })
    .await;
    report("POST /Users", &post);

    let get = run(requests, |i| {
        let n = (i as u64 * 7919) % users + 1;
        client
            .get(format!("{base}/scim/v2/Users"))
            .bearer_auth(&scim_token)
            .query(&[("filter", format!("userName eq \"user{n}@example.com\""))])
    })
    .await;
    report("GET /Users?filter=userName eq", &get);

    let email = run(requests, |i| {
        let n = (i as u64 * 104_729) % users + 1;
        client
            .get(format!("{base}/scim/v2/Users"))
            .bearer_auth(&scim_token)
            .query(&[(
                "filter",
                format!("emails[type eq \"work\"].value eq \"user{n}@example.com\""),
            )])
    })
    .await;
    report("GET /Users?filter=emails[type eq work].value eq", &email);

    let import = run(requests / 10, |i| {
        let start = (i as u64 * 100) % users + 1;
        client
            .get(format!("{base}/scim/v2/Users"))
            .bearer_auth(&scim_token)
            .query(&[
                ("startIndex", start.to_string()),
                ("count", "100".to_string()),
            ])
    })
    .await;
    report("GET /Users?startIndex=…&count=100 (import paging)", &import);
    stop.cancel();
}

/// Inserts `count` people with one work email each, in bulk SQL.
async fn seed(store: &Store, engine: &str, count: u64) {
    let (people, emails) = if engine == "sqlite" {
        (
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
                 INSERT INTO people (id, source, user_name, user_name_key, external_id, display_name, active, version, created_at, updated_at) \
                 SELECT printf('seed-%08d', i), 'scim', 'user' || i || '@example.com', 'user' || i || '@example.com', \
                 'ext-' || i, 'User ' || i, 1, 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00' FROM n"
            ),
            "INSERT INTO person_emails (person_id, value, value_key, type, is_primary) \
             SELECT id, user_name, user_name_key, 'work', 1 FROM people WHERE id LIKE 'seed-%'",
        )
    } else {
        (
            format!(
                "INSERT INTO people (id, source, user_name, user_name_key, external_id, display_name, active, version, created_at, updated_at) \
                 SELECT 'seed-' || lpad(i::text, 8, '0'), 'scim', 'user' || i || '@example.com', 'user' || i || '@example.com', \
                 'ext-' || i, 'User ' || i, TRUE, 1, now(), now() FROM generate_series(1, {count}) AS i"
            ),
            "INSERT INTO person_emails (person_id, value, value_key, type, is_primary) \
             SELECT id, user_name, user_name_key, 'work', TRUE FROM people WHERE id LIKE 'seed-%'",
        )
    };
    store.execute_unprepared(&people).await.unwrap();
    store.execute_unprepared(emails).await.unwrap();
    store.execute_unprepared("ANALYZE").await.unwrap();
}
