//! Departure latency against a real authorization server:
//! `cargo bench --bench departure_latency`.
//!
//! The service runs in-process with its default settings (job workers included) but
//! for one `oauth2` provider, the local `oidc-provider` (`npm ci` in tests/peers
//! first), and a bootstrap admin token. 20 people (SCIM users) each own one agent
//! holding 3 client-credentials tokens minted by the provider. Then 20 departures, one
//! after another: each is an Okta-style SCIM `PATCH /scim/v2/Users/{id}` with
//! `active: false`, timed from sending the PATCH until all 3 of that owner's tokens
//! are inactive at the provider, polled by RFC 7662 introspection at the provider
//! itself every 5 ms. Prints p50, p99 and max, and, in the same run, the provider's
//! own revoke + introspect round trip (p50) for a fresh token, and the ratio of the
//! two p50s: how much of a departure is the provider's work.
//! SQLite by default; OWNERBOUND_BENCH_POSTGRES_URL (a server where the user may
//! create databases) runs it in a fresh PostgreSQL database, dropped afterwards.
//! OWNERBOUND_BENCH_PEOPLE changes the number of departures.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ownerbound::config::Settings;
use ownerbound::startup::Application;
use secrecy::SecretString;
use serde_json::{json, Value};

// The tests' harness for the real authorization server, shared rather than copied.
#[path = "../tests/api/oauth_peer.rs"]
#[allow(
    dead_code,
    reason = "the benchmark uses only part of the tests' harness"
)]
mod oauth_peer;

use oauth_peer::{OAuthServer, REVOKER_CLIENT};

mod common;

use common::{BenchDatabase, ADMIN};
const TOKENS_PER_PERSON: usize = 3;
const POLL: Duration = Duration::from_millis(5);
/// A departure that takes longer than this is a failure, not a figure.
const GIVE_UP: Duration = Duration::from_secs(120);
/// Fresh tokens revoked and introspected by the provider alone.
const PROVIDER_SAMPLES: usize = 50;

/// Nearest-rank percentile, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let people: usize = std::env::var("OWNERBOUND_BENCH_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let oauth = OAuthServer::start().expect("run `npm ci` in tests/peers first");
    let dir = tempfile::tempdir().unwrap();
    let database = BenchDatabase::create(dir.path()).await;
    let engine = database.engine;

    let provider = oauth.provider("corp-oauth", REVOKER_CLIENT.1);
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(database.url.clone()),
        master_key: Some(SecretString::from("ab".repeat(32))),
        bootstrap_admin_token: Some(SecretString::from(ADMIN)),
        providers: serde_json::from_value(json!([provider])).unwrap(),
        ..Settings::default()
    };
    let workers = settings.job_workers;
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = app.shutdown_token();
    let serving = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();

    // Set-up (not measured): a SCIM token; per person a SCIM user and an agent with
    // three tokens.
    let scim: Value = http
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "bench-idp", "scope": "scim"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scim = scim["token"].as_str().unwrap().to_string();
    let mut owners = Vec::new();
    for i in 0..people {
        let user: Value = http
            .post(format!("{base}/scim/v2/Users"))
            .bearer_auth(&scim)
            .json(
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("leaver{i}@example.com"), "active": true}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = user["id"].as_str().expect("a SCIM user").to_string();
        let mut tokens = Vec::new();
        for _ in 0..TOKENS_PER_PERSON {
            tokens.push(oauth.token().await);
        }
        let credentials: Vec<Value> = tokens
            .iter()
            .map(|t| json!({"provider": "corp-oauth", "kind": "oauth_access_token", "secret": t}))
            .collect();
        let response = http
            .post(format!("{base}/api/v1/agents"))
            .bearer_auth(ADMIN)
            .json(
                &json!({"name": format!("agent-{i}"), "owner_id": id, "credentials": credentials}),
            )
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        owners.push((id, tokens));
    }

    // Measured: one departure at a time, PATCH sent → its 3 tokens inactive.
    let mut departures = Vec::new();
    let mut acknowledged = Vec::new();
    for (id, tokens) in &owners {
        let started = Instant::now();
        let response = http
            .patch(format!("{base}/scim/v2/Users/{id}"))
            .bearer_auth(&scim)
            .header("Content-Type", "application/scim+json")
            .body(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "value": {"active": false}}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        acknowledged.push(started.elapsed());
        assert_eq!(response.status(), 200, "the deactivation was refused");
        let mut alive: Vec<&String> = tokens.iter().collect();
        loop {
            let answers = join_all(alive.iter().map(|t| oauth.is_active(t))).await;
            alive = alive
                .into_iter()
                .zip(answers)
                .filter_map(|(token, active)| active.then_some(token))
                .collect();
            if alive.is_empty() {
                break;
            }
            assert!(
                started.elapsed() < GIVE_UP,
                "{} tokens still active {GIVE_UP:?} after the departure of {id}",
                alive.len()
            );
            tokio::time::sleep(POLL).await;
        }
        departures.push(started.elapsed());
    }

    // The provider alone, same run: revoke a fresh token, then introspect it.
    let mut fresh = Vec::new();
    for _ in 0..PROVIDER_SAMPLES {
        fresh.push(oauth.token().await);
    }
    let mut round_trips = Vec::new();
    for token in &fresh {
        let started = Instant::now();
        oauth_peer::revoke(&http, &oauth.issuer, token)
            .await
            .unwrap();
        assert!(!oauth.is_active(token).await);
        round_trips.push(started.elapsed());
    }
    stop.cancel();
    let _ = serving.await;
    database.drop_database().await;

    let in_order: Vec<String> = departures
        .iter()
        .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
        .collect();
    departures.sort();
    acknowledged.sort();
    round_trips.sort();
    let p50 = percentile(&departures, 0.50);
    let provider_p50 = percentile(&round_trips, 0.50);
    println!(
        "[{}, {workers} workers] {people} departures one after another, {TOKENS_PER_PERSON} tokens each; \
         SCIM PATCH sent → all tokens inactive at the provider (polled every {} ms):",
        engine,
        POLL.as_millis()
    );
    println!(
        "  departure: p50 {p50:.1} ms, p99 {:.1} ms, max {:.1} ms (PATCH answered: p50 {:.1} ms)",
        percentile(&departures, 0.99),
        percentile(&departures, 1.0),
        percentile(&acknowledged, 0.50),
    );
    println!("  each, in order (ms): {}", in_order.join(" "));
    println!(
        "  provider alone, revoke + introspect of a fresh token ({PROVIDER_SAMPLES} in a row): \
         p50 {provider_p50:.2} ms"
    );
    println!(
        "  ratio p50(departure) / p50(provider round trip): {:.0}",
        p50 / provider_p50
    );
}
