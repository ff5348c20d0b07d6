//! Departure latency under a flood of hostile requests: `cargo bench --bench flood`.
//!
//! The service runs in-process with its default settings (job workers and inbound
//! rate limits included) but for one `oauth2` provider, the local `oidc-provider`
//! (`npm ci` in tests/peers first), one `standard` HR source with a `whsec_` secret,
//! `max_body_bytes` = 1 MiB and a bootstrap admin token. 2 × 15 people (SCIM users)
//! each own one agent holding 3 client-credentials tokens minted by the provider. A
//! departure is an Okta-style SCIM `PATCH /scim/v2/Users/{id}` with `active: false`
//! sent from 127.0.0.1 with the IdP's SCIM token, timed until all 3 of the owner's
//! tokens are inactive at the provider (RFC 7662 introspection every 5 ms), as in
//! `departure_latency`.
//!
//! Phase A: 15 departures one after another, nothing else going on. Phases B and C:
//! 15 other people's departures each while a flood runs for the whole phase (from
//! 2 s before the first until the last is proven, at most 5 minutes), on a runtime of
//! its own, only to 127.0.0.0/8:
//! - 4 webhook clients (127.0.0.2–5) posting bodies just under `max_body_bytes` to
//!   `/hooks/hr/standard` with forged `webhook-signature`s (the cap of random `v1,`
//!   candidates, or thousands of empty ones) and to unknown sources;
//! - 2 SCIM clients (127.0.0.6–7) listing `/scim/v2/Users` with filters, with a
//!   valid SCIM token of their own and with made-up tokens.
//!
//! In phase B every client sends at its configured limit (each webhook client at
//! `hooks_per_second`, the SCIM clients sharing their token's `token_per_second`):
//! the most a sender can make the service work on, since every request gets past the
//! limiter and is verified in full (the 1 MiB body's MAC). In phase C they send as
//! fast as they can, mostly to be refused (429); their own CPU then competes with the
//! service's on this machine, which an attacker's would not.
//!
//! Prints p50 and p99 of each phase, the ratio of each flooded p50 to phase A's (the
//! target, for phase B, is under 2.0; printed, not asserted), and each flood's
//! answers by status and its rate, so the flood can be seen to have been real.
//! SQLite by default; OWNERBOUND_BENCH_POSTGRES_URL (a server where the user may
//! create databases) runs it in a fresh PostgreSQL database, dropped afterwards.
//! OWNERBOUND_BENCH_PEOPLE changes the number of departures per phase.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use base64::Engine as _;
use ownerbound::config::{RateLimitSettings, Settings};
use ownerbound::hr::signature::MAX_CANDIDATES;
use reqwest::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;

// The tests' harness for the real authorization server, shared rather than copied.
#[path = "../tests/api/oauth_peer.rs"]
#[allow(
    dead_code,
    reason = "the benchmark uses only part of the tests' harness"
)]
mod oauth_peer;

use oauth_peer::{OAuthServer, REVOKER_CLIENT};

mod common;

use common::{depart, enrol_owner, percentile, BenchDatabase, Departure, DEPARTURE_POLL};

const TOKENS_PER_PERSON: usize = 3;
const PROVIDER: &str = "corp-oauth";
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The HR source the forged webhooks are aimed at (its secret is never used to sign).
const HR_SOURCE: &str = "standard";
const HR_SECRET: &str = "whsec_Zmxvb2QtYmVuY2gtc2VjcmV0LTAxMjM0NTY3ODk=";
/// Each webhook flooder has a loopback address of its own, so each meets the
/// per-address limit on its own, as distinct hosts would.
const WEBHOOK_FLOODERS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
    Ipv4Addr::new(127, 0, 0, 4),
    Ipv4Addr::new(127, 0, 0, 5),
];
const SCIM_FLOODERS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 0, 0, 6), Ipv4Addr::new(127, 0, 0, 7)];
/// Requests each flooder keeps in flight: "as fast as it can" without waiting for
/// one answer before sending the next.
const IN_FLIGHT: usize = 4;
/// Empty `v1,` candidates in the oversized signature headers.
const EMPTY_CANDIDATES: usize = 2000;
/// The flood runs this long before the first flooded departure, so every flooder
/// has spent its burst and the limiters are refusing: the departures meet a
/// sustained flood, not its first second.
const RAMP: Duration = Duration::from_secs(2);
/// The flood stops after this long whatever happens.
const FLOOD_CAP: Duration = Duration::from_secs(5 * 60);
/// Threads of the flood's own runtime.
const FLOOD_THREADS: usize = 2;

#[tokio::main]
async fn main() {
    let people = common::env_usize("OWNERBOUND_BENCH_PEOPLE", 15);
    let oauth = OAuthServer::start().expect("run `npm ci` in tests/peers first");
    let dir = tempfile::tempdir().unwrap();
    let database = BenchDatabase::create(dir.path()).await;
    let engine = database.engine;
    let settings = flood_settings(&database.url, &oauth);
    let (workers, limits) = (settings.job_workers, settings.rate_limits);
    let instance = common::Instance::start(settings).await;
    let base = instance.base.clone();
    let http = reqwest::Client::new();

    // Set-up (not measured): the IdP's SCIM token, the flooders' own SCIM token, and
    // the people of both phases.
    let idp = common::scim_token(&http, &base).await;
    let flood_token = common::scim_token_named(&http, &base, "bench-flood").await;
    let owners = enrol_owners(&http, &base, &idp, &oauth, 3 * people).await;
    let (calm, flooded) = owners.split_at(people);
    let (at_limits, unbounded) = flooded.split_at(people);

    let without = Phase::of(depart_each(&http, &base, &idp, &oauth, calm).await);
    let target = Arc::new(Target::new(&base, flood_token));
    let paced = Pace::at(&limits);
    let mut flooded_phases = Vec::new();
    for (pace, owners) in [(Some(paced), at_limits), (None, unbounded)] {
        let flood = Flood::start(target.clone(), pace);
        tokio::time::sleep(RAMP).await;
        let phase = Phase::of(depart_each(&http, &base, &idp, &oauth, owners).await);
        flooded_phases.push((phase, flood.stop().await));
    }

    instance.stop().await;
    database.drop_database().await;
    print_figures(engine, workers, &limits, people, &without, &flooded_phases);
}

/// Requests per second each flood client sends; None: as fast as it can.
#[derive(Debug, Clone, Copy)]
struct Pace {
    webhook: f64,
    scim: f64,
}

impl Pace {
    /// Every client at its limit: each webhook client at its address's limit, the
    /// SCIM clients sharing their one token's limit (under their addresses' limits).
    fn at(limits: &RateLimitSettings) -> Self {
        let token_share = f64::from(limits.token_per_second) / SCIM_FLOODERS.len() as f64;
        Self {
            webhook: f64::from(limits.hooks_per_second),
            scim: token_share.min(f64::from(limits.address_per_second)),
        }
    }
}

/// The service's defaults (rate limits included) with the provider, the HR source
/// the flood aims at, and 1 MiB bodies.
fn flood_settings(database_url: &str, oauth: &OAuthServer) -> Settings {
    let provider = oauth.provider(PROVIDER, REVOKER_CLIENT.1);
    Settings {
        providers: serde_json::from_value(json!([provider])).unwrap(),
        hr_sources: serde_json::from_value(
            json!([{"name": HR_SOURCE, "preset": "standard", "secrets": [HR_SECRET]}]),
        )
        .unwrap(),
        max_body_bytes: MAX_BODY_BYTES,
        rate_limits: RateLimitSettings::default(),
        ..common::settings(database_url)
    }
}

/// `count` people, each a SCIM user owning an agent with its own provider tokens.
async fn enrol_owners(
    http: &reqwest::Client,
    base: &str,
    scim: &str,
    oauth: &OAuthServer,
    count: usize,
) -> Vec<(String, Vec<String>)> {
    let mut owners = Vec::new();
    for i in 0..count {
        let mut tokens = Vec::new();
        for _ in 0..TOKENS_PER_PERSON {
            tokens.push(oauth.token().await);
        }
        let id = enrol_owner(http, base, scim, i, PROVIDER, &tokens).await;
        owners.push((id, tokens));
    }
    owners
}

/// The departures of `owners`, one after another.
async fn depart_each(
    http: &reqwest::Client,
    base: &str,
    scim: &str,
    oauth: &OAuthServer,
    owners: &[(String, Vec<String>)],
) -> Vec<Departure> {
    let mut departures = Vec::new();
    for (id, tokens) in owners {
        departures.push(
            depart(http, base, scim, id, tokens, async |t: &str| {
                oauth.is_active(t).await
            })
            .await,
        );
    }
    departures
}

/// The departures of one phase.
struct Phase {
    /// PATCH sent → all tokens inactive, in the order they happened.
    proven: Vec<Duration>,
    /// PATCH sent → PATCH answered.
    acknowledged: Vec<Duration>,
}

impl Phase {
    fn of(departures: Vec<Departure>) -> Self {
        Self {
            proven: departures.iter().map(|d| d.proven).collect(),
            acknowledged: departures.iter().map(|d| d.acknowledged).collect(),
        }
    }

    fn proven_percentile(&self, p: f64) -> f64 {
        sorted_percentile(&self.proven, p)
    }

    fn summary(&self) -> String {
        let in_order: Vec<String> = self
            .proven
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
            .collect();
        format!(
            "p50 {:.1} ms, p99 {:.1} ms (PATCH answered: p50 {:.1} ms)\n    each, in order (ms): {}",
            self.proven_percentile(0.50),
            self.proven_percentile(0.99),
            sorted_percentile(&self.acknowledged, 0.50),
            in_order.join(" ")
        )
    }
}

fn sorted_percentile(durations: &[Duration], p: f64) -> f64 {
    let mut sorted = durations.to_vec();
    sorted.sort();
    percentile(&sorted, p)
}

/// What the flood sends to, and with.
struct Target {
    base: String,
    /// A valid SCIM token of the flooders' own (not the IdP's).
    scim_token: String,
    /// Just under `max_body_bytes`, shared by every webhook (cloning is a refcount).
    body: Bytes,
    /// A signature header of thousands of empty candidates.
    empty_candidates: String,
}

impl Target {
    fn new(base: &str, scim_token: String) -> Self {
        assert_loopback(base);
        Self {
            base: base.to_string(),
            scim_token,
            body: padded_event(MAX_BODY_BYTES - 1),
            empty_candidates: vec!["v1,"; EMPTY_CANDIDATES].join(" "),
        }
    }
}

/// The flood may only ever reach this machine.
fn assert_loopback(base: &str) {
    let url = url::Url::parse(base).unwrap();
    let host: IpAddr = url.host_str().unwrap().parse().expect("an IP address");
    assert!(host.is_loopback(), "the flood targets only 127.0.0.0/8");
    let sources = WEBHOOK_FLOODERS.iter().chain(&SCIM_FLOODERS);
    assert!(sources.clone().all(Ipv4Addr::is_loopback));
}

/// A plausible termination event padded to exactly `len` bytes.
fn padded_event(len: usize) -> Bytes {
    let event = |padding: &str| {
        json!({"type": "employee.terminated", "data": {
            "employee_id": "E-1", "email": "leaver0@example.com", "padding": padding}})
        .to_string()
    };
    let overhead = event("").len();
    let body = event(&"x".repeat(len - overhead));
    assert_eq!(body.len(), len);
    Bytes::from(body)
}

/// Answers of one kind of flood, by status.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    unauthorized: AtomicU64,
    not_found: AtomicU64,
    too_many: AtomicU64,
    other: AtomicU64,
    /// No answer: the connection failed or was reset.
    failed: AtomicU64,
}

impl Tally {
    fn count(&self, outcome: Result<StatusCode, reqwest::Error>) {
        let counter = match outcome.map(|status| status.as_u16()) {
            Ok(200) => &self.ok,
            Ok(401) => &self.unauthorized,
            Ok(404) => &self.not_found,
            Ok(429) => &self.too_many,
            Ok(_) => &self.other,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn sent(&self) -> u64 {
        [
            &self.ok,
            &self.unauthorized,
            &self.not_found,
            &self.too_many,
            &self.other,
            &self.failed,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }

    fn by_status(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "200 {}, 401 {}, 404 {}, 429 {}, other {}, no answer {}",
            get(&self.ok),
            get(&self.unauthorized),
            get(&self.not_found),
            get(&self.too_many),
            get(&self.other),
            get(&self.failed)
        )
    }
}

/// A running flood, on a runtime of its own so that its clients do not queue behind,
/// or ahead of, the service's job workers and the departures' own client.
struct Flood {
    runtime: tokio::runtime::Runtime,
    stop: CancellationToken,
    flooders: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
    pace: Option<Pace>,
    webhooks: Arc<Tally>,
    scim: Arc<Tally>,
}

/// What a flood did, once stopped.
struct FloodReport {
    elapsed: Duration,
    /// Stopped by `FLOOD_CAP` rather than by the end of the phase.
    capped: bool,
    pace: Option<Pace>,
    webhooks: Arc<Tally>,
    scim: Arc<Tally>,
    body_bytes: usize,
}

impl Flood {
    fn start(target: Arc<Target>, pace: Option<Pace>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(FLOOD_THREADS)
            .thread_name("flood")
            .enable_all()
            .build()
            .unwrap();
        let stop = CancellationToken::new();
        runtime.spawn(cancel_after(FLOOD_CAP, stop.clone()));
        let (webhooks, scim) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
        let mut flooders = Vec::new();
        for (sources, tally, request, rate) in [
            (
                &WEBHOOK_FLOODERS[..],
                &webhooks,
                hostile_webhook as MakeRequest,
                pace.map(|p| p.webhook),
            ),
            (
                &SCIM_FLOODERS[..],
                &scim,
                hostile_scim as MakeRequest,
                pace.map(|p| p.scim),
            ),
        ] {
            // Each of a client's requests in flight takes its share of the rate.
            let period = rate.map(|rate| Duration::from_secs_f64(IN_FLIGHT as f64 / rate));
            for &source in sources {
                let client = flood_client(source);
                for _ in 0..IN_FLIGHT {
                    flooders.push(runtime.spawn(flood(
                        client.clone(),
                        target.clone(),
                        request,
                        tally.clone(),
                        period,
                        stop.clone(),
                    )));
                }
            }
        }
        Self {
            runtime,
            stop,
            flooders,
            started: Instant::now(),
            pace,
            webhooks,
            scim,
        }
    }

    async fn stop(self) -> FloodReport {
        let capped = self.stop.is_cancelled();
        self.stop.cancel();
        let elapsed = self.started.elapsed();
        for flooder in self.flooders {
            let _ = flooder.await;
        }
        self.runtime.shutdown_background();
        FloodReport {
            elapsed,
            capped,
            pace: self.pace,
            webhooks: self.webhooks,
            scim: self.scim,
            body_bytes: MAX_BODY_BYTES - 1,
        }
    }
}

async fn cancel_after(cap: Duration, stop: CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(cap) => stop.cancel(),
        _ = stop.cancelled() => {}
    }
}

/// A client sending from its own loopback `source` address, never through a proxy.
fn flood_client(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .no_proxy()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()
        .unwrap()
}

/// The `n`th request of one flooder.
type MakeRequest = fn(&reqwest::Client, &Target, u64) -> reqwest::RequestBuilder;

/// Sends `request`s one after another until stopped, at most one per `period`,
/// counting the answers.
async fn flood(
    client: reqwest::Client,
    target: Arc<Target>,
    request: MakeRequest,
    tally: Arc<Tally>,
    period: Option<Duration>,
    stop: CancellationToken,
) {
    let mut ticks = period.map(|period| {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    for n in 0.. {
        if let Some(ticks) = ticks.as_mut() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
        }
        let sending = answer(request(&client, &target, n));
        tokio::select! {
            _ = stop.cancelled() => return,
            outcome = sending => tally.count(outcome),
        }
    }
}

/// The status of `request`, its body read so the connection is reused.
async fn answer(request: reqwest::RequestBuilder) -> Result<StatusCode, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status();
    response.bytes().await?;
    Ok(status)
}

/// A forged HR webhook: mostly the cap of random candidates (a MAC per key each
/// time it gets past the limiter), every fourth an oversized header of empty
/// candidates, every fourth to a source that does not exist.
fn hostile_webhook(client: &reqwest::Client, target: &Target, n: u64) -> reqwest::RequestBuilder {
    let (source, signature) = match n % 4 {
        0 | 1 => (HR_SOURCE.to_string(), random_candidates()),
        2 => (HR_SOURCE.to_string(), target.empty_candidates.clone()),
        _ => (format!("probe-{n}"), random_candidates()),
    };
    client
        .post(format!("{}/hooks/hr/{source}", target.base))
        .header("Content-Type", "application/json")
        .header(
            "webhook-id",
            format!("msg_{}", uuid::Uuid::new_v4().simple()),
        )
        .header("webhook-timestamp", chrono::Utc::now().timestamp())
        .header("webhook-signature", signature)
        .body(target.body.clone())
}

/// As many `v1,` candidates as a header may carry, each 32 random bytes.
fn random_candidates() -> String {
    (0..MAX_CANDIDATES)
        .map(|_| {
            let mac: [u8; 32] = rand::random();
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A SCIM user search: with the flooders' valid token (a filter the store must
/// evaluate), or with a made-up token.
fn hostile_scim(client: &reqwest::Client, target: &Target, n: u64) -> reqwest::RequestBuilder {
    let users = format!("{}/scim/v2/Users", target.base);
    let contains = [("filter", r#"userName co "leaver""#)];
    match n % 3 {
        0 => client
            .get(users)
            .bearer_auth(&target.scim_token)
            .query(&contains),
        1 => client
            .get(users)
            .bearer_auth(format!("ob_{}", uuid::Uuid::new_v4().simple()))
            .query(&contains),
        _ => client.get(users).bearer_auth(&target.scim_token).query(&[
            (
                "filter",
                r#"(userName sw "l" or userName ew ".com") and active eq true"#,
            ),
            ("count", "100"),
        ]),
    }
}

fn print_figures(
    engine: &str,
    workers: usize,
    limits: &RateLimitSettings,
    people: usize,
    without: &Phase,
    flooded: &[(Phase, FloodReport)],
) {
    println!(
        "[{engine}, {workers} workers] {people} departures without a flood, then {people} other \
         people's under each flood; {TOKENS_PER_PERSON} tokens each; SCIM PATCH sent → all tokens \
         inactive at the provider (polled every {} ms):",
        DEPARTURE_POLL.as_millis()
    );
    println!(
        "  limits (defaults): hooks {}/s burst {} per address; API and SCIM {}/s burst {} per \
         address, {}/s burst {} per token; max_body_bytes {MAX_BODY_BYTES}",
        limits.hooks_per_second,
        limits.hooks_burst,
        limits.address_per_second,
        limits.address_burst,
        limits.token_per_second,
        limits.token_burst,
    );
    println!("  without flood:        {}", without.summary());
    for (phase, flood) in flooded {
        let name = match flood.pace {
            Some(_) => "flood at the limits:",
            None => "unbounded flood:    ",
        };
        println!("  {name} {}", phase.summary());
        let ratio = phase.proven_percentile(0.50) / without.proven_percentile(0.50);
        println!(
            "    ratio p50 / p50 without: {ratio:.2}{}",
            match (flood.pace, ratio < 2.0) {
                (Some(_), true) => " — under the 2.0 target",
                (Some(_), false) => " — NOT under the 2.0 target",
                (None, _) => " (the flooders' own CPU shares this machine's cores)",
            }
        );
        print_flood(flood);
    }
}

fn print_flood(flood: &FloodReport) {
    let seconds = flood.elapsed.as_secs_f64();
    let pace = match flood.pace {
        Some(pace) => format!(
            "each webhook client at {:.0}/s, each SCIM client at {:.0}/s",
            pace.webhook, pace.scim
        ),
        None => format!("each client {IN_FLIGHT} requests in flight, as fast as it can"),
    };
    println!(
        "    flood: {seconds:.1} s{}, {pace}, on {FLOOD_THREADS} threads of its own",
        if flood.capped {
            " (STOPPED BY ITS CAP before the departures finished)"
        } else {
            ""
        }
    );
    let hooks = flood.webhooks.sent();
    println!(
        "      {} webhook clients: {hooks} sent, {:.0} req/s ({:.0} MiB/s of bodies): {}",
        WEBHOOK_FLOODERS.len(),
        hooks as f64 / seconds,
        (hooks as f64 * flood.body_bytes as f64) / (1024.0 * 1024.0) / seconds,
        flood.webhooks.by_status()
    );
    let scim = flood.scim.sent();
    println!(
        "      {} SCIM clients:    {scim} sent, {:.0} req/s: {}",
        SCIM_FLOODERS.len(),
        scim as f64 / seconds,
        flood.scim.by_status()
    );
}
