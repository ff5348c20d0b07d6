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

use std::time::Instant;

use ownerbound::config::Settings;
use ownerbound::startup::Application;
use secrecy::SecretString;
use serde_json::json;

// The tests' harness for the real authorization server, shared rather than copied.
#[path = "../tests/api/oauth_peer.rs"]
#[allow(
    dead_code,
    reason = "the benchmark uses only part of the tests' harness"
)]
mod oauth_peer;

use oauth_peer::{OAuthServer, REVOKER_CLIENT};

mod common;

use common::{depart, enrol_owner, percentile, BenchDatabase, ADMIN, DEPARTURE_POLL};
const TOKENS_PER_PERSON: usize = 3;
/// Fresh tokens revoked and introspected by the provider alone.
const PROVIDER_SAMPLES: usize = 50;

#[tokio::main]
async fn main() {
    let people = common::env_usize("OWNERBOUND_BENCH_PEOPLE", 20);
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
    let scim = common::scim_token(&http, &base).await;
    let mut owners = Vec::new();
    for i in 0..people {
        let mut tokens = Vec::new();
        for _ in 0..TOKENS_PER_PERSON {
            tokens.push(oauth.token().await);
        }
        let id = enrol_owner(&http, &base, &scim, i, "corp-oauth", &tokens).await;
        owners.push((id, tokens));
    }

    // Measured: one departure at a time, PATCH sent → its 3 tokens inactive.
    let mut departures = Vec::new();
    let mut acknowledged = Vec::new();
    for (id, tokens) in &owners {
        let departure = depart(&http, &base, &scim, id, tokens, async |t: &str| {
            oauth.is_active(t).await
        })
        .await;
        acknowledged.push(departure.acknowledged);
        departures.push(departure.proven);
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
        DEPARTURE_POLL.as_millis()
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
