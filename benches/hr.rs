//! HR webhook throughput: `cargo bench --bench hr`.
//!
//! Sends Standard Webhooks-signed terminations over loopback to a running app and
//! measures how fast they are verified, stored durably and acknowledged: requests per
//! second and acknowledgement latency percentiles. Half of the employees match a person
//! (who is deactivated), half do not (kept as unmatched terminations). SQLite by
//! default; OWNERBOUND_BENCH_POSTGRES_URL for PostgreSQL.

use std::time::Instant;

use base64::Engine as _;
use ownerbound::config::Settings;
use ownerbound::hr::config::{Algorithm, HrSourceConfig};
use ownerbound::signing::sign;
use ownerbound::startup::Application;
use ownerbound::store::Store;
use secrecy::SecretString;
use serde_json::json;

mod common;

use common::{report, run};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::main]
async fn main() {
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
    let sources: Vec<HrSourceConfig> = serde_json::from_value(
        json!([{"name": "hris", "preset": "standard", "secrets": [SECRET]}]),
    )
    .unwrap();
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(database_url.clone()),
        master_key: Some(SecretString::from("ab".repeat(32))),
        bootstrap_admin_token: Some(SecretString::from("ob_bench_admin_token_0123456789")),
        hr_sources: sources,
        // Throughput of verification and storage, not of the per-address limit.
        rate_limits: ownerbound::config::RateLimitSettings::unlimited(),
        ..Settings::default()
    };
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    let store = Store::connect_url(&database_url).await.unwrap();

    // People with HR ids for the even-numbered employees.
    let started = Instant::now();
    let (people, links) = if engine == "sqlite" {
        (
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 2 FROM n WHERE i < {requests}) \
                 INSERT INTO people (id, source, active, version, created_at, updated_at) \
                 SELECT printf('hr-%08d', i), 'api', 1, 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00' FROM n"
            ),
            "INSERT INTO person_hr_ids (person_id, source, employee_id) SELECT id, 'hris', substr(id, 4) FROM people"
                .to_string(),
        )
    } else {
        (
            format!(
                "INSERT INTO people (id, source, active, version, created_at, updated_at) \
                 SELECT 'hr-' || lpad(i::text, 8, '0'), 'api', TRUE, 1, now(), now() \
                 FROM generate_series(0, {requests}, 2) AS i"
            ),
            "INSERT INTO person_hr_ids (person_id, source, employee_id) SELECT id, 'hris', substr(id, 4) FROM people"
                .to_string(),
        )
    };
    store.execute_unprepared(&people).await.unwrap();
    store.execute_unprepared(&links).await.unwrap();
    println!(
        "engine: {engine}; seeded {} people in {:.1} s",
        requests / 2 + 1,
        started.elapsed().as_secs_f64()
    );

    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let client = reqwest::Client::new();
    let results = run(requests, |i| {
        let body = json!({"type": "employee.terminated", "employee": {"id": format!("{i:08}")}})
            .to_string();
        let id = format!("msg_bench_{i}");
        let ts = chrono::Utc::now().timestamp().to_string();
        let signature = base64::engine::general_purpose::STANDARD.encode(sign(
            Algorithm::Sha256,
            &key,
            &[format!("{id}.{ts}.").as_bytes(), body.as_bytes()],
        ));
        client
            .post(format!("{base}/hooks/hr/hris"))
            .header("Content-Type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts)
            .header("webhook-signature", format!("v1,{signature}"))
            .body(body)
    })
    .await;
    report(
        "POST /hooks/hr/{source} (verified, stored, applied)",
        &results,
    );
    let inactive = store.count_rows("lifecycle_events").await.unwrap();
    println!("person-deactivated events recorded: {inactive}");
    stop.cancel();
}
