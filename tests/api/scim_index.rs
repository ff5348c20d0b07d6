//! SCIM match filters are answered through indexes, on both engines.

use ownerbound::scim::filter::parse_filter;
use ownerbound::scim::sql::{to_sql, Resource};

use crate::helpers::{Engine, TestApp};
use crate::on_both_engines;

async fn seed_people(app: &TestApp, count: u32) {
    let sql = match app.engine {
        Engine::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
             INSERT INTO people (id, source, user_name, user_name_key, external_id, active, version, created_at, updated_at) \
             SELECT printf('seed-%06d', i), 'scim', 'User' || i, 'user' || i, 'ext-' || i, 1, 1, \
                    '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00' FROM n"
        ),
        Engine::Postgres => format!(
            "INSERT INTO people (id, source, user_name, user_name_key, external_id, active, version, created_at, updated_at) \
             SELECT 'seed-' || lpad(i::text, 6, '0'), 'scim', 'User' || i, 'user' || i, 'ext-' || i, TRUE, 1, now(), now() \
             FROM generate_series(1, {count}) AS i"
        ),
    };
    app.execute_sql(&sql).await;
    let emails = match app.engine {
        Engine::Sqlite => "INSERT INTO person_emails (person_id, value, value_key, type, is_primary) \
             SELECT id, user_name || '@example.com', user_name_key || '@example.com', 'work', 1 FROM people",
        Engine::Postgres => "INSERT INTO person_emails (person_id, value, value_key, type, is_primary) \
             SELECT id, user_name || '@example.com', user_name_key || '@example.com', 'work', TRUE FROM people",
    };
    app.execute_sql(emails).await;
    app.execute_sql("ANALYZE").await;
}

async fn plan(app: &TestApp, filter: &str) -> String {
    let condition = to_sql(Resource::User, &parse_filter(filter).unwrap()).unwrap();
    app.store
        .explain_query_people(&condition, "p.id ASC")
        .await
        .unwrap()
        .join("\n")
}

/// Asserts the plan uses `index` and never reads the whole people table.
fn assert_indexed(plan: &str, index: &str) {
    assert!(plan.contains(index), "{index} not used:\n{plan}");
    let full_scan = plan
        .lines()
        .any(|l| l.trim_start().starts_with("SCAN p") || l.contains("Seq Scan on people"));
    assert!(!full_scan, "full scan of people:\n{plan}");
}

async fn match_filters_use_indexes(app: TestApp) {
    seed_people(&app, 5000).await;
    assert_indexed(
        &plan(&app, r#"userName eq "User42""#).await,
        "people_user_name_uq",
    );
    assert_indexed(
        &plan(
            &app,
            r#"emails[type eq "work"].value eq "user42@example.com""#,
        )
        .await,
        "person_emails_value_uq",
    );
    assert_indexed(
        &plan(&app, r#"emails.value eq "user42@example.com""#).await,
        "person_emails_value_uq",
    );
    assert_indexed(
        &plan(&app, r#"externalId eq "abc""#).await,
        "people_external_id_uq",
    );
    // And the filter finds the row through the real endpoint too.
    let token = app.scim_token().await;
    let (_, _, found) = app
        .scim(
            &token,
            reqwest::Method::GET,
            "/Users?filter=userName%20eq%20%22user4242%22",
            None,
        )
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], "seed-004242");
}

on_both_engines!(match_filters_use_indexes);
