//! Faults injected from outside, as production meets them: the real `ownerbound`
//! binary as a child process (killed with `kill -9`), the real `oidc-provider`, and a
//! TCP proxy the test controls in front of it (refuse, black-hole, restore).
//!
//! Bounds on waiting are generous (tens of seconds where the engine needs a few):
//! they tell "within seconds" from the old engine's minutes (300 s leases, a day to
//! re-drive), and a slow machine cannot fail them.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::fault_proxy::FaultProxy;
use crate::helpers::Engine;
use crate::oauth_peer::{OAuthServer, REVOKER_CLIENT};
use crate::on_each_engine;
use crate::service_process::{Database, ServiceConfig, ServiceProcess};

/// How long anything the engine does "within seconds" may take here.
pub(crate) const WITHIN_SECONDS: Duration = Duration::from_secs(60);

/// A `[[providers]]` entry for the authorization server at `base`.
pub(crate) fn provider_toml(name: &str, base: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"{name}\"\nkind = \"oauth2\"\n\
         revocation_endpoint = \"{base}/token/revocation\"\n\
         introspection_endpoint = \"{base}/token/introspection\"\n\
         client_id = \"{}\"\nclient_secret = \"{}\"\nclient_auth = \"client_secret_basic\"\n{extra}\n",
        REVOKER_CLIENT.0, REVOKER_CLIENT.1
    )
}

pub(crate) async fn json(
    service: &ServiceProcess,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = service.request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// A person owning one agent with these tokens (provider name, token); returns the
/// person's id.
pub(crate) async fn owner_of(
    service: &ServiceProcess,
    n: usize,
    tokens: &[(&str, &str)],
) -> String {
    let person = json(
        service,
        Method::POST,
        "/api/v1/people",
        Some(json!({"emails": [format!("leaver-{n}@example.com")]})),
    )
    .await;
    let credentials: Vec<Value> = tokens
        .iter()
        .map(|(provider, token)| json!({"provider": provider, "kind": "oauth_access_token", "secret": token}))
        .collect();
    json(
        service,
        Method::POST,
        "/api/v1/agents",
        Some(json!({"name": format!("bot-{n}"), "owner_id": person["id"], "credentials": credentials})),
    )
    .await;
    person["id"].as_str().unwrap().to_string()
}

pub(crate) async fn offboard(service: &ServiceProcess, person: &str) {
    json(
        service,
        Method::POST,
        &format!("/api/v1/people/{person}/offboard"),
        Some(json!({})),
    )
    .await;
}

/// Waits until `done` holds, at most `bound`; panics naming `what` otherwise.
pub(crate) async fn eventually<F, Fut>(what: &str, bound: Duration, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < bound, "not within {bound:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

pub(crate) async fn all_inactive(oauth: &OAuthServer, tokens: &[String]) -> bool {
    for token in tokens {
        if oauth.is_active(token).await {
            return false;
        }
    }
    true
}

async fn jobs(service: &ServiceProcess, status: &str) -> Vec<Value> {
    json(
        service,
        Method::GET,
        &format!("/api/v1/jobs?status={status}&limit=200"),
        None,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Revocation attempts recorded per credential item.
async fn attempts_per_item(service: &ServiceProcess) -> std::collections::BTreeMap<String, usize> {
    let audit = json(service, Method::GET, "/api/v1/audit?limit=1000", None).await;
    let mut attempts = std::collections::BTreeMap::new();
    for entry in audit["items"].as_array().unwrap() {
        if entry["action"] == "offboarding.revocation_attempt" {
            let item = entry["details"]["item_id"].as_str().unwrap().to_string();
            *attempts.entry(item).or_insert(0) += 1;
        }
    }
    attempts
}

fn assert_no_token_in_logs(service: &ServiceProcess, tokens: &[String]) {
    let logs = service.logs();
    for token in tokens {
        assert!(
            !logs.contains(token.as_str()),
            "a token leaked into the logs"
        );
    }
}

async fn a_black_holed_provider_does_not_delay_another_providers_revocations(engine: Engine) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let Some(config) = ServiceConfig::on(engine).await else {
        return;
    };
    let proxy = FaultProxy::start(oauth.addr()).await;
    proxy.black_hole().await;
    let toml = provider_toml(
        "hung",
        &proxy.url_for(""),
        "max_concurrency = 2\ncall_timeout_seconds = 5",
    ) + &provider_toml("healthy", &oauth.issuer, "");
    // The default two workers, as the issue measured.
    let service = ServiceProcess::start(config.config_toml(toml)).await;
    let (mut hung, mut healthy) = (Vec::new(), Vec::new());
    let mut people = Vec::new();
    for n in 0..5 {
        let hung_token = oauth.token().await;
        let healthy_tokens = [
            oauth.token().await,
            oauth.token().await,
            oauth.token().await,
        ];
        let mut tokens = vec![("hung", hung_token.as_str())];
        tokens.extend(healthy_tokens.iter().map(|t| ("healthy", t.as_str())));
        people.push(owner_of(&service, n, &tokens).await);
        hung.push(hung_token);
        healthy.extend(healthy_tokens);
    }
    for person in &people {
        offboard(&service, person).await;
    }
    eventually(
        "the healthy provider's 15 tokens dead while the other hangs",
        WITHIN_SECONDS,
        || all_inactive(&oauth, &healthy),
    )
    .await;
    for token in &hung {
        assert!(
            oauth.is_active(token).await,
            "reached through a black hole?"
        );
    }
    // The hang is visible: calls in flight, then the provider down.
    // (Counting the hung provider's only: a healthy revocation whose token is already
    // dead at the provider may still be settling its job.)
    let running: Vec<Value> = jobs(&service, "running")
        .await
        .into_iter()
        .filter(|j| j["provider"] == "hung")
        .collect();
    assert!(
        running.len() <= 2,
        "the hung provider holds more than its 2 slots: {running:?}"
    );
    // Each case shows its hung revocation in flight on a live instance, or retrying.
    let cases = json(&service, Method::GET, "/api/v1/offboardings", None).await;
    for case in cases["items"].as_array().unwrap() {
        let case = json(
            &service,
            Method::GET,
            &format!("/api/v1/offboardings/{}", case["id"].as_str().unwrap()),
            None,
        )
        .await;
        let open: Vec<&Value> = case["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| &item["revocation"])
            .filter(|r| r["state"] != "done")
            .collect();
        assert_eq!(open.len(), 1, "{case}");
        let revocation = open[0];
        match revocation["state"].as_str().unwrap() {
            "in_flight" => {
                assert!(revocation["in_flight"]["since"].is_string());
                assert_eq!(revocation["in_flight"]["instance_alive"], true);
            }
            "retrying" | "queued" => {}
            other => panic!("hung revocation is {other}: {revocation}"),
        }
    }
    eventually("the hung provider is seen down", WITHIN_SECONDS, || async {
        let health = json(&service, Method::GET, "/api/v1/providers/health", None).await;
        health["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["provider"] == "hung" && h["state"] == "down")
    })
    .await;
    // Back: its tokens die within seconds too, and every case closes.
    proxy.restore().await;
    eventually(
        "the hung provider's tokens dead after it came back",
        WITHIN_SECONDS,
        || all_inactive(&oauth, &hung),
    )
    .await;
    eventually("every case closed", WITHIN_SECONDS, || async {
        let cases = json(&service, Method::GET, "/api/v1/offboardings", None).await;
        let cases = cases["items"].as_array().unwrap().clone();
        cases.len() == 5 && cases.iter().all(|c| c["status"] == "closed")
    })
    .await;
    let all: Vec<String> = hung.iter().chain(&healthy).cloned().collect();
    assert_no_token_in_logs(&service, &all);
}

async fn a_provider_down_past_the_retry_deadline_is_revived_within_seconds_of_its_return(
    engine: Engine,
) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let Some(config) = ServiceConfig::on(engine).await else {
        return;
    };
    let proxy = FaultProxy::start(oauth.addr()).await;
    proxy.refuse().await;
    // The shortest deadline there is (a minute): the outage outlasts every retry.
    let service = ServiceProcess::start(
        config
            .config_toml(provider_toml("flaky", &proxy.url_for(""), ""))
            .env("OWNERBOUND_RETRY_DEADLINE_SECONDS", "60"),
    )
    .await;
    let mut tokens = Vec::new();
    for n in 0..3 {
        let pair = [oauth.token().await, oauth.token().await];
        let person = owner_of(&service, n, &[("flaky", &pair[0]), ("flaky", &pair[1])]).await;
        offboard(&service, &person).await;
        tokens.extend(pair);
    }
    eventually(
        "every revocation dead of its deadline",
        Duration::from_secs(180),
        || async {
            let dead = jobs(&service, "dead").await;
            dead.iter()
                .filter(|j| j["kind"] == "revoke" && j["dead_reason"] == "deadline")
                .count()
                == 6
        },
    )
    .await;
    for token in &tokens {
        assert!(oauth.is_active(token).await);
    }
    proxy.restore().await;
    eventually(
        "every token dead once the provider is back",
        WITHIN_SECONDS,
        || all_inactive(&oauth, &tokens),
    )
    .await;
    assert!(jobs(&service, "dead")
        .await
        .iter()
        .all(|j| j["kind"] != "revoke"));
    assert_no_token_in_logs(&service, &tokens);
}

/// Tokens of people offboarded while the provider hangs, so that their revocations
/// are in flight.
async fn departures_in_flight(
    service: &ServiceProcess,
    oauth: &OAuthServer,
    people: usize,
) -> Vec<String> {
    let mut tokens = Vec::new();
    for n in 0..people {
        let pair = [oauth.token().await, oauth.token().await];
        let person = owner_of(service, n, &[("slow", &pair[0]), ("slow", &pair[1])]).await;
        offboard(service, &person).await;
        tokens.extend(pair);
    }
    eventually("revocations in flight", WITHIN_SECONDS, || async {
        !jobs(service, "running").await.is_empty()
    })
    .await;
    tokens
}

/// The authorization server behind a black-holed proxy, and a service configuration
/// whose provider `slow` is reached through it with calls that hang for long (only a
/// crash ends them). None: a skip.
async fn behind_a_black_hole(engine: Engine) -> Option<(OAuthServer, FaultProxy, ServiceConfig)> {
    let oauth = OAuthServer::start()?;
    let config = ServiceConfig::on(engine).await?;
    let proxy = FaultProxy::start(oauth.addr()).await;
    proxy.black_hole().await;
    let toml = provider_toml("slow", &proxy.url_for(""), "call_timeout_seconds = 60");
    Some((oauth, proxy, config.config_toml(toml)))
}

async fn after_kill_9_and_a_restart_revocations_in_flight_finish_within_seconds(engine: Engine) {
    let Some((oauth, proxy, config)) = behind_a_black_hole(engine).await else {
        return;
    };
    let mut service = ServiceProcess::start(config).await;
    let tokens = departures_in_flight(&service, &oauth, 4).await;
    service.kill9().await;
    proxy.restore().await;
    service.restart().await;
    eventually(
        "every token dead after the restart (the lease is 300 s)",
        WITHIN_SECONDS,
        || all_inactive(&oauth, &tokens),
    )
    .await;
    for (item, attempts) in attempts_per_item(&service).await {
        assert!(attempts <= 3, "item {item} revoked {attempts} times");
    }
    assert_no_token_in_logs(&service, &tokens);
}

async fn a_second_instance_takes_over_a_killed_ones_work_within_seconds(engine: Engine) {
    if engine != Engine::Postgres {
        return; // several instances share a PostgreSQL database only
    }
    let Some((oauth, proxy, config)) = behind_a_black_hole(engine).await else {
        return;
    };
    let toml = config.config_toml.clone();
    let mut first = ServiceProcess::start(config).await;
    let second_config = ServiceConfig {
        database: Database::Url(first.database_url().to_string()),
        master_key: first.master_key().to_string(),
        admin_token: first.admin_token().to_string(),
        config_toml: toml,
        env: Vec::new(),
    };
    let second = ServiceProcess::start(second_config).await;
    let tokens = departures_in_flight(&first, &oauth, 4).await;
    // Wait until the first instance holds some of them.
    let instances = json(&second, Method::GET, "/api/v1/instances", None).await;
    let first_id = instances["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["pid"] == json!(first.pid().unwrap()))
        .expect("the first instance is registered")["id"]
        .clone();
    eventually(
        "the first instance holds revocations",
        WITHIN_SECONDS,
        || async {
            jobs(&second, "running")
                .await
                .iter()
                .any(|j| j["lease_instance"] == first_id)
        },
    )
    .await;
    first.kill9().await;
    proxy.restore().await;
    eventually(
        "every token dead, the killed instance's too",
        WITHIN_SECONDS,
        || all_inactive(&oauth, &tokens),
    )
    .await;
    let instances = json(&second, Method::GET, "/api/v1/instances", None).await;
    assert!(instances["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["id"] != first_id));
    for (item, attempts) in attempts_per_item(&second).await {
        assert!(attempts <= 3, "item {item} revoked {attempts} times");
    }
    assert_no_token_in_logs(&second, &tokens);
}

on_each_engine!(
    a_black_holed_provider_does_not_delay_another_providers_revocations,
    a_provider_down_past_the_retry_deadline_is_revived_within_seconds_of_its_return,
    after_kill_9_and_a_restart_revocations_in_flight_finish_within_seconds,
    a_second_instance_takes_over_a_killed_ones_work_within_seconds
);
