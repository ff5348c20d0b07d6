//! Load generation, reporting, databases and running instances shared by the benchmarks.
#![allow(
    dead_code,
    reason = "each benchmark compiles this module and uses part of it"
)]

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ownerbound::config::Settings;
use ownerbound::startup::Application;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// Requests in flight at once.
pub const CONCURRENCY: usize = 16;

/// The bootstrap admin token every benchmark instance installs.
pub const ADMIN: &str = "ob_bench_admin_token_0123456789";

/// An environment variable as a number, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends `total` requests, `CONCURRENCY` at a time; returns each latency and the wall time.
pub async fn run<F>(total: usize, make: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    run_at(CONCURRENCY, total, make).await
}

/// Sends `total` requests, `concurrency` at a time; returns each latency and the wall time.
pub async fn run_at<F>(concurrency: usize, total: usize, make: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    use futures_util::stream::{self, StreamExt};
    let started = Instant::now();
    let latencies: Vec<Duration> = stream::iter(0..total)
        .map(|i| {
            let request = make(i);
            async move {
                let t = Instant::now();
                let response = request.send().await.expect("request");
                assert!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                let _ = response.bytes().await;
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    (latencies, started.elapsed())
}

/// Requests per second of a `run`.
pub fn rate((latencies, wall): &(Vec<Duration>, Duration)) -> f64 {
    latencies.len() as f64 / wall.as_secs_f64()
}

/// Prints a `run`'s throughput and latency percentiles; returns its requests per second.
pub fn report(name: &str, run: &(Vec<Duration>, Duration)) -> f64 {
    report_at(name, CONCURRENCY, run)
}

/// `report` for a run at another concurrency.
pub fn report_at(name: &str, concurrency: usize, run: &(Vec<Duration>, Duration)) -> f64 {
    let mut sorted = run.0.clone();
    sorted.sort();
    let pct = |p: f64| {
        sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)].as_secs_f64() * 1000.0
    };
    println!(
        "{name}: {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (concurrency {concurrency})",
        sorted.len(),
        rate(run),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
    rate(run)
}

/// A fresh PostgreSQL database on the server of OWNERBOUND_BENCH_POSTGRES_URL (dropped
/// by `drop_database`), or, when that is unset, a SQLite file in `dir`. Fresh so that
/// runs are repeatable and start from the same (empty) size.
pub struct BenchDatabase {
    pub url: String,
    pub engine: &'static str,
    /// (server URL, database name) to drop at the end.
    postgres: Option<(String, String)>,
}

impl BenchDatabase {
    pub async fn create(dir: &std::path::Path) -> Self {
        match std::env::var("OWNERBOUND_BENCH_POSTGRES_URL") {
            Ok(server_url) => Self::postgres(&server_url).await,
            Err(_) => Self {
                url: format!("sqlite://{}", dir.join("bench.db").display()),
                engine: "sqlite",
                postgres: None,
            },
        }
    }

    /// A fresh database on the server of `server_url` (the user may create databases).
    pub async fn postgres(server_url: &str) -> Self {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(server_url)
            .await
            .expect("OWNERBOUND_BENCH_POSTGRES_URL is unreachable");
        let name = format!("ob_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the benchmark's database");
        let mut url = url::Url::parse(server_url).expect("a postgres URL");
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            engine: "postgres",
            postgres: Some((server_url.to_string(), name)),
        }
    }

    pub async fn drop_database(self) {
        if let Some((server_url, name)) = self.postgres {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&server_url).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// Settings for a benchmark instance of `database_url`: a loopback port of its own, a
/// fixed master key and the `ADMIN` token, no inbound rate limits (these benchmarks
/// measure the service's throughput, not its limits); otherwise the defaults.
pub fn settings(database_url: &str) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(database_url.to_string()),
        master_key: Some(SecretString::from("ab".repeat(32))),
        bootstrap_admin_token: Some(SecretString::from(ADMIN)),
        rate_limits: ownerbound::config::RateLimitSettings::unlimited(),
        ..Settings::default()
    }
}

/// One running `Application`: its own store (pool), job workers and port.
pub struct Instance {
    pub base: String,
    stop: CancellationToken,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    pub async fn start(settings: Settings) -> Self {
        let app = Application::build(settings)
            .await
            .expect("application builds");
        Self {
            base: format!("http://127.0.0.1:{}", app.port()),
            stop: app.shutdown_token(),
            serving: tokio::spawn(app.run_until_stopped()),
        }
    }

    /// Stops gracefully: in-flight requests and jobs finish, the pool closes.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.serving.await;
    }
}

/// A SCIM bearer token minted with the admin token at `base`.
pub async fn scim_token(http: &reqwest::Client, base: &str) -> String {
    scim_token_named(http, base, "bench-idp").await
}

/// A SCIM bearer token called `name` (live token names are unique), minted with the
/// admin token at `base`.
pub async fn scim_token_named(http: &reqwest::Client, base: &str, name: &str) -> String {
    let answer: serde_json::Value = http
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"name": name, "scope": "scim"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["token"].as_str().expect("a SCIM token").to_string()
}

/// Nearest-rank percentile, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// How often a departure's tokens are introspected until none is active.
pub const DEPARTURE_POLL: Duration = Duration::from_millis(5);
/// A departure that takes longer than this is a failure, not a figure.
const DEPARTURE_GIVE_UP: Duration = Duration::from_secs(120);

/// Person `i` at `base`: a SCIM user (created with the `scim` token) owning one agent
/// that holds `tokens` of `provider`. Returns the user's SCIM id.
pub async fn enrol_owner(
    http: &reqwest::Client,
    base: &str,
    scim: &str,
    i: usize,
    provider: &str,
    tokens: &[String],
) -> String {
    let user: serde_json::Value = http
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(scim)
        .json(
            &serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("leaver{i}@example.com"), "active": true}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = user["id"].as_str().expect("a SCIM user").to_string();
    let credentials: Vec<serde_json::Value> = tokens
        .iter()
        .map(|t| serde_json::json!({"provider": provider, "kind": "oauth_access_token", "secret": t}))
        .collect();
    let response = http
        .post(format!("{base}/api/v1/agents"))
        .bearer_auth(ADMIN)
        .json(
            &serde_json::json!({"name": format!("agent-{i}"), "owner_id": id, "credentials": credentials}),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    id
}

/// How long one departure took, from sending its SCIM PATCH.
pub struct Departure {
    /// Until the PATCH was answered.
    pub acknowledged: Duration,
    /// Until every token of the owner was inactive at the provider.
    pub proven: Duration,
}

/// The departure of SCIM user `id`: an Okta-style `PATCH` with `active: false`, then
/// `is_active` (the provider's RFC 7662 introspection) every [`DEPARTURE_POLL`] until
/// none of `tokens` is active.
pub async fn depart(
    http: &reqwest::Client,
    base: &str,
    scim: &str,
    id: &str,
    tokens: &[String],
    is_active: impl AsyncFn(&str) -> bool,
) -> Departure {
    let started = Instant::now();
    let response = http
        .patch(format!("{base}/scim/v2/Users/{id}"))
        .bearer_auth(scim)
        .header("Content-Type", "application/scim+json")
        .body(
            serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": false}}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let acknowledged = started.elapsed();
    assert_eq!(response.status(), 200, "the deactivation was refused");
    let mut alive: Vec<&String> = tokens.iter().collect();
    loop {
        let answers = join_all(alive.iter().map(|t| is_active(t))).await;
        alive = alive
            .into_iter()
            .zip(answers)
            .filter_map(|(token, active)| active.then_some(token))
            .collect();
        if alive.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < DEPARTURE_GIVE_UP,
            "{} tokens still active {DEPARTURE_GIVE_UP:?} after the departure of {id}",
            alive.len()
        );
        tokio::time::sleep(DEPARTURE_POLL).await;
    }
    Departure {
        acknowledged,
        proven: started.elapsed(),
    }
}
