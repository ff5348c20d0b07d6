//! Mass offboarding against a real authorization server: `cargo bench --bench offboarding`.
//!
//! 1,000 people (SCIM users) each own two agents holding ten client-credentials tokens
//! in all, minted by the local `oidc-provider` (`npm ci` in tests/peers first). All
//! 1,000 are deactivated through SCIM; the service's own workers open the cases, revoke
//! each token (RFC 7009) and prove it dead (RFC 7662). Prints the time from the first
//! deactivation to the last credential verified dead, revocations per second, and, in
//! the same run, the provider's raw revocation throughput (and revoke + introspect
//! pairs, which is what ownerbound does per credential) at the same concurrency.
//! SQLite by default; OWNERBOUND_BENCH_POSTGRES_URL for PostgreSQL.
//! OWNERBOUND_BENCH_PEOPLE and OWNERBOUND_BENCH_WORKERS change the size and workers.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use ownerbound::config::Settings;
use ownerbound::startup::Application;
use ownerbound::store::Store;
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

const ADMIN: &str = "ob_bench_admin_token_0123456789";
const CREDENTIALS_PER_PERSON: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `futures` `concurrency` at a time; returns the wall time.
async fn all<F: std::future::Future<Output = ()>>(
    futures: impl Iterator<Item = F>,
    concurrency: usize,
) -> Duration {
    let started = Instant::now();
    stream::iter(futures)
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    started.elapsed()
}

async fn mint(http: &reqwest::Client, issuer: &str, count: usize) -> Vec<String> {
    stream::iter(0..count)
        .map(|_| async move { oauth_peer::mint(http, issuer).await.unwrap() })
        .buffer_unordered(32)
        .collect()
        .await
}

#[tokio::main]
async fn main() {
    let people = env_usize("OWNERBOUND_BENCH_PEOPLE", 1_000);
    let workers = env_usize("OWNERBOUND_BENCH_WORKERS", 8);
    let oauth = OAuthServer::start().expect("run `npm ci` in tests/peers first");
    let issuer = oauth.issuer.clone();

    let dir = tempfile::tempdir().unwrap();
    let (database_url, engine) = match std::env::var("OWNERBOUND_BENCH_POSTGRES_URL") {
        Ok(url) => (url, "postgres"),
        Err(_) => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            "sqlite",
        ),
    };
    let providers = serde_json::from_value(json!([{
        "name": "corp-oauth", "kind": "oauth2",
        "revocation_endpoint": format!("{issuer}/token/revocation"),
        "introspection_endpoint": format!("{issuer}/token/introspection"),
        "client_id": REVOKER_CLIENT.0, "client_secret": REVOKER_CLIENT.1,
        "max_concurrency": workers,
        // The second check after the propagation window is not part of this figure.
        "propagation_seconds": 86_400,
    }]))
    .unwrap();
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(database_url.clone()),
        master_key: Some(SecretString::from("ab".repeat(32))),
        bootstrap_admin_token: Some(SecretString::from(ADMIN)),
        providers,
        job_workers: workers,
        ..Settings::default()
    };
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = app.shutdown_token();
    let serving = tokio::spawn(app.run_until_stopped());
    let store = Store::connect_url(&database_url).await.unwrap();
    let http = reqwest::Client::new();

    // Set-up (not measured): tokens, SCIM users, agents.
    let started = Instant::now();
    let tokens = mint(&http, &issuer, people * CREDENTIALS_PER_PERSON).await;
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
    let ids: Vec<String> = stream::iter(0..people)
        .map(|i| {
            let (http, base, scim) = (&http, &base, &scim);
            async move {
                let user: Value = http
                    .post(format!("{base}/scim/v2/Users"))
                    .bearer_auth(scim)
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
                user["id"].as_str().unwrap().to_string()
            }
        })
        .buffered(16)
        .collect()
        .await;
    all(
        ids.iter().enumerate().flat_map(|(i, id)| {
            let tokens = &tokens;
            let (http, base) = (&http, &base);
            (0..2).map(move |a| async move {
                let half = CREDENTIALS_PER_PERSON / 2;
                let first = i * CREDENTIALS_PER_PERSON + a * half;
                let credentials: Vec<Value> = tokens[first..first + half]
                    .iter()
                    .map(|t| json!({"provider": "corp-oauth", "kind": "oauth_access_token", "secret": t}))
                    .collect();
                let response = http
                    .post(format!("{base}/api/v1/agents"))
                    .bearer_auth(ADMIN)
                    .json(&json!({"name": format!("agent-{i}-{a}"), "owner_id": id, "credentials": credentials}))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "{}", response.status());
            })
        }),
        16,
    )
    .await;
    println!(
        "set-up: {} tokens minted, {people} SCIM users, {} agents in {:.1} s",
        tokens.len(),
        people * 2,
        started.elapsed().as_secs_f64()
    );

    // Measured: deactivations → every credential verified dead.
    let total = people * CREDENTIALS_PER_PERSON;
    let started = Instant::now();
    let deactivating = all(
        ids.iter().map(|id| {
            let (http, base, scim) = (&http, &base, &scim);
            async move {
                let response = http
                    .patch(format!("{base}/scim/v2/Users/{id}"))
                    .bearer_auth(scim)
                    .json(
                        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "active", "value": false}]}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
            }
        }),
        16,
    )
    .await;
    let dead = loop {
        let counts = store.case_item_counts().await.unwrap();
        let dead = counts
            .iter()
            .find(|(status, _)| status == "verified_dead")
            .map_or(0, |(_, n)| *n as usize);
        let stuck = counts
            .iter()
            .any(|(status, _)| status == "needs_attention" || status == "still_alive");
        assert!(!stuck, "a revocation failed: {counts:?}");
        if dead >= total {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "[{engine}, {workers} workers] {people} deactivations acknowledged in {:.2} s; \
         all {total} credentials verified dead after {:.2} s: {:.0} revocations/s (each revoke + introspect)",
        deactivating.as_secs_f64(),
        dead.as_secs_f64(),
        total as f64 / dead.as_secs_f64()
    );
    stop.cancel();
    let _ = serving.await;

    // The provider alone, same run, same concurrency.
    let sample = 2_000;
    let fresh = mint(&http, &issuer, sample * 2).await;
    let revoke = |token: &String| {
        let (http, issuer) = (&http, &issuer);
        let token = token.clone();
        async move {
            let status = http
                .post(format!("{issuer}/token/revocation"))
                .basic_auth(REVOKER_CLIENT.0, Some(REVOKER_CLIENT.1))
                .form(&[
                    ("token", token.as_str()),
                    ("token_type_hint", "access_token"),
                ])
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success());
        }
    };
    let raw = all(fresh[..sample].iter().map(revoke), workers).await;
    let pairs = all(
        fresh[sample..].iter().map(|token| {
            let (http, issuer) = (&http, &issuer);
            let revoke = revoke(token);
            async move {
                revoke.await;
                let answer: Value = http
                    .post(format!("{issuer}/token/introspection"))
                    .basic_auth(REVOKER_CLIENT.0, Some(REVOKER_CLIENT.1))
                    .form(&[("token", token.as_str())])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(answer["active"], false);
            }
        }),
        workers,
    )
    .await;
    println!(
        "provider alone (concurrency {workers}): {:.0} revocations/s; {:.0} revoke + introspect pairs/s",
        sample as f64 / raw.as_secs_f64(),
        sample as f64 / pairs.as_secs_f64()
    );
}
