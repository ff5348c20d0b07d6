//! SCIM throughput with a large directory: `cargo bench --bench scim`.
//!
//! Seeds OWNERBOUND_BENCH_USERS people (default 100,000) straight into the database,
//! then drives the real HTTP endpoints over loopback: `POST /Users`, the match filter
//! IdPs send before every create (`GET /Users?filter=userName eq "…"`), the same by
//! work email, `GET /Users/{id}` of seeded people picked at random (fixed seed), and
//! import paging. Prints requests per second and latency percentiles, and each
//! endpoint's ratio to `GET /readyz` (one trivial query) measured in the same run with
//! the same client and concurrency: the machine is shared, so only ratios compare
//! across runs. SQLite by default; OWNERBOUND_BENCH_POSTGRES_URL (a server where the
//! user may create databases) runs it in a fresh PostgreSQL database, dropped afterwards.

use std::time::Instant;

use ownerbound::store::Store;
use rand::{Rng, SeedableRng};
use serde_json::json;

mod common;

use common::{env_usize, report, run, BenchDatabase, Instance};

#[tokio::main]
async fn main() {
    let users = env_usize("OWNERBOUND_BENCH_USERS", 100_000) as u64;
    let requests = env_usize("OWNERBOUND_BENCH_REQUESTS", 4_000);
    let dir = tempfile::tempdir().unwrap();
    let database = BenchDatabase::create(dir.path()).await;
    let engine = database.engine;
    let instance = Instance::start(common::settings(&database.url)).await;
    let base = instance.base.clone();
    let store = Store::connect_url(&database.url).await.unwrap();

    let started = Instant::now();
    seed(&store, engine, users).await;
    println!(
        "engine: {engine}; seeded {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::new();
    let scim_token = common::scim_token(&client, &base).await;
    let mut rates = Vec::new();

    // The ceiling: the cheapest request that still reaches the database.
    let ready = run(requests, |_| client.get(format!("{base}/readyz"))).await;
    let ready = report("GET /readyz", &ready);

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
    rates.push(("POST /Users", report("POST /Users", &post)));

    let get = run(requests, |i| {
        let n = (i as u64 * 7919) % users + 1;
        client
            .get(format!("{base}/scim/v2/Users"))
            .bearer_auth(&scim_token)
            .query(&[("filter", format!("userName eq \"user{n}@example.com\""))])
    })
    .await;
    let name = "GET /Users?filter=userName eq";
    rates.push((name, report(name, &get)));

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
    let name = "GET /Users?filter=emails[type eq work].value eq";
    rates.push((name, report(name, &email)));

    // Seeded ids (see `seed`), drawn before the clock starts.
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let ids: Vec<String> = (0..requests)
        .map(|_| format!("seed-{:08}", rng.gen_range(1..=users)))
        .collect();
    let by_id = run(requests, |i| {
        client
            .get(format!("{base}/scim/v2/Users/{}", ids[i]))
            .bearer_auth(&scim_token)
    })
    .await;
    rates.push(("GET /Users/{id}", report("GET /Users/{id}", &by_id)));

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
    let name = "GET /Users?startIndex=…&count=100 (import paging)";
    rates.push((name, report(name, &import)));

    println!("ratio to GET /readyz ({ready:.0} req/s, same run, same client and concurrency):");
    for (name, rate) in rates {
        println!("  {name}: {rate:.0} req/s = {:.3} × /readyz", rate / ready);
    }
    instance.stop().await;
    store.close().await;
    database.drop_database().await;
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
