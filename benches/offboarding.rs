//! Mass offboarding against a real authorization server: `cargo bench --bench offboarding`.
//!
//! 1,000 people (SCIM users) each own two agents holding ten client-credentials tokens
//! in all, minted by the local `oidc-provider` (`npm ci` in tests/peers first). All
//! 1,000 are deactivated through SCIM; the service's own workers open the cases, revoke
//! each token (RFC 7009) and prove it dead (RFC 7662). Prints the time from the first
//! deactivation to the last credential verified dead, revocations per second, and, in
//! the same run, the provider's raw revocation throughput and its revoke + introspect
//! pairs per second (what ownerbound does per credential) at the same concurrency as
//! all the job workers together, and the ratio of the two: the share of the provider's
//! own ceiling the service reaches. The machine is shared, so only the ratio compares
//! across runs.
//!
//! SQLite by default; OWNERBOUND_BENCH_POSTGRES_URL (a server where the user may create
//! databases) runs it in a fresh PostgreSQL database, dropped afterwards.
//! OWNERBOUND_BENCH_PEOPLE and OWNERBOUND_BENCH_WORKERS (job workers per instance,
//! default 8) change the size and workers. OWNERBOUND_BENCH_INSTANCES=2 (PostgreSQL
//! only) starts two `Application`s on the one database, each with its own store and
//! pool, job workers and port: two instances as far as the database is concerned,
//! though they share this process (and its runtime and CPU). The deactivations are
//! split between them and both instances' workers revoke.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use ownerbound::config::Settings;
use ownerbound::store::Store;
use serde_json::{json, Value};

// The tests' harness for the real authorization server, shared rather than copied.
#[path = "../tests/api/oauth_peer.rs"]
#[allow(
    dead_code,
    reason = "the benchmark uses only part of the tests' harness"
)]
mod oauth_peer;

mod common;

use common::{env_usize, BenchDatabase, Instance, ADMIN};
use oauth_peer::{OAuthServer, REVOKER_CLIENT};

const CREDENTIALS_PER_PERSON: usize = 10;

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
    let instance_count = env_usize("OWNERBOUND_BENCH_INSTANCES", 1).max(1);
    let oauth = OAuthServer::start().expect("run `npm ci` in tests/peers first");
    let issuer = oauth.issuer.clone();

    let dir = tempfile::tempdir().unwrap();
    let database = BenchDatabase::create(dir.path()).await;
    let engine = database.engine;
    assert!(
        instance_count == 1 || engine == "postgres",
        "OWNERBOUND_BENCH_INSTANCES > 1 needs OWNERBOUND_BENCH_POSTGRES_URL"
    );
    let provider = json!([{
        "name": "corp-oauth", "kind": "oauth2",
        "revocation_endpoint": format!("{issuer}/token/revocation"),
        "introspection_endpoint": format!("{issuer}/token/introspection"),
        "client_id": REVOKER_CLIENT.0, "client_secret": REVOKER_CLIENT.1,
        // Per instance: every worker may be at the provider at once.
        "max_concurrency": workers,
        // The second check after the propagation window is not part of this figure.
        "propagation_seconds": 86_400,
    }]);
    // One after another: the first migrates the fresh database.
    let mut instances = Vec::new();
    for _ in 0..instance_count {
        let settings = Settings {
            providers: serde_json::from_value(provider.clone()).unwrap(),
            job_workers: workers,
            ..common::settings(&database.url)
        };
        instances.push(Instance::start(settings).await);
    }
    // All the calls the workers of every instance may have in flight at the provider.
    let concurrency = workers * instance_count;
    let base = instances[0].base.clone();
    let store = Store::connect_url(&database.url).await.unwrap();
    let http = reqwest::Client::new();

    // Set-up (not measured): tokens, SCIM users, agents.
    let started = Instant::now();
    let tokens = mint(&http, &issuer, people * CREDENTIALS_PER_PERSON).await;
    let scim = common::scim_token(&http, &base).await;
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
    // Planner statistics, as a running server's autovacuum would have them: without
    // them (autovacuum is off on the build machine) PostgreSQL plans lookups in the
    // grown tables as if they were empty and scans every agent per query.
    store.execute_unprepared("ANALYZE").await.unwrap();
    println!(
        "set-up: {} tokens minted, {people} SCIM users, {} agents in {:.1} s",
        tokens.len(),
        people * 2,
        started.elapsed().as_secs_f64()
    );

    // Measured: deactivations → every credential verified dead.
    let total = people * CREDENTIALS_PER_PERSON;
    let started = Instant::now();
    // Split between the instances, as a load balancer would.
    let deactivating = all(
        ids.iter().enumerate().map(|(i, id)| {
            let (http, base, scim) = (&http, &instances[i % instance_count].base, &scim);
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
    for instance in instances {
        instance.stop().await;
    }
    store.close().await;
    database.drop_database().await;

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
    let raw = all(fresh[..sample].iter().map(revoke), concurrency).await;
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
        concurrency,
    )
    .await;

    let revocations = total as f64 / dead.as_secs_f64();
    let provider_pairs = sample as f64 / pairs.as_secs_f64();
    println!(
        "[{engine}, {instance_count} instance(s) × {workers} job workers = {concurrency} workers{}]",
        if instance_count > 1 {
            ", one database, one process"
        } else {
            ""
        }
    );
    println!(
        "  {people} deactivations acknowledged in {:.2} s; all {total} credentials verified dead \
         after {:.2} s: {revocations:.0} revocations verified dead per second (each revoke + introspect)",
        deactivating.as_secs_f64(),
        dead.as_secs_f64(),
    );
    println!(
        "  provider alone, same run (concurrency {concurrency}): {:.0} revocations/s; \
         {provider_pairs:.0} revoke + introspect pairs/s",
        sample as f64 / raw.as_secs_f64(),
    );
    println!(
        "  ratio = revocations verified dead per second ÷ provider revoke+introspect pairs per second \
         at the same concurrency = {:.3}",
        revocations / provider_pairs
    );
}
