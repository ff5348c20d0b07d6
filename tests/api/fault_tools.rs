//! Self-tests of the fault-test tools: the proxy in front of the real OAuth server
//! (each mode does what it says, on the wire), and the real binary as a child process
//! (it starts on both engines, survives SIGKILL, and revokes at the real provider).

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fault_proxy::{FaultProxy, Mode};
use crate::helpers::Engine;
use crate::oauth_peer::{introspect, mint, revoke, OAuthServer, REVOKER_CLIENT};
use crate::on_each_engine;
use crate::service_process::{ServiceConfig, ServiceProcess};

fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

/// A raw connection through the proxy that has had an answer and is kept alive.
async fn open_connection(proxy: &FaultProxy) -> TcpStream {
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let mut start = [0u8; 12];
    stream.read_exact(&mut start).await.unwrap();
    assert_eq!(&start, b"HTTP/1.1 200");
    stream
}

/// Sends one keep-alive request on `stream` and reads its whole response; None when
/// nothing complete arrives within `wait`.
async fn exchange(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    stream
        .write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        .await
        .ok()?;
    let read = async {
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            response.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&response).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })?
                    .parse()
                    .ok()?;
                if response.len() >= end + 4 + length {
                    return Some(response);
                }
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// Reads until the connection ends: returns once it is closed or reset, and never
/// for a connection kept alive.
async fn until_cut(mut stream: TcpStream) {
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "an open connection was not cut");
}

fn assert_refused(addr: std::net::SocketAddr) {
    let err = std::net::TcpStream::connect(addr).expect_err("the port still listens");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_pass_mode_real_oauth_traffic_goes_through_both_ways() {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let proxy = FaultProxy::start(oauth.addr()).await;
    assert_eq!(proxy.mode(), Mode::Pass);
    assert_eq!(proxy.upstream(), oauth.addr());
    assert!(proxy.addr().ip().is_loopback());
    let http = reqwest::Client::new();
    let base = proxy.url_for("");

    let token = mint(&http, &base).await.unwrap();
    assert!(introspect(&http, &base, &token).await.unwrap());
    assert!(oauth.is_active(&token).await, "minted through the proxy");
    revoke(&http, &base, &token).await.unwrap();
    assert!(!oauth.is_active(&token).await, "revoked through the proxy");
    assert!(!introspect(&http, &base, &token).await.unwrap());
    assert!(proxy.accepted() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_closes_the_port_and_cuts_open_connections_until_restored() {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let proxy = FaultProxy::start(oauth.addr()).await;
    let addr = proxy.addr();
    let token = oauth.token().await;
    let open = open_connection(&proxy).await;

    proxy.refuse().await;
    assert_eq!(proxy.mode(), Mode::Refuse);
    until_cut(open).await;
    assert_eq!(proxy.open_connections(), 0);
    assert_refused(addr);
    // A generous timeout: the call must fail on connect, not wait for it.
    let started = Instant::now();
    let err = introspect(
        &client_with_timeout(Duration::from_secs(30)),
        &proxy.url_for(""),
        &token,
    )
    .await
    .expect_err("a refused provider answered");
    assert!(
        err.is_connect() && !err.is_timeout(),
        "not a connect error: {err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a refused connection took {:?}",
        started.elapsed()
    );
    let accepted = proxy.accepted();

    proxy.restore().await;
    assert_eq!(proxy.addr(), addr, "restored on another port");
    assert!(
        introspect(&reqwest::Client::new(), &proxy.url_for(""), &token)
            .await
            .unwrap()
    );
    assert_eq!(proxy.accepted(), accepted + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_hole_accepts_then_never_answers_and_silences_open_connections() {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let proxy = FaultProxy::start(oauth.addr()).await;
    let base = proxy.url_for("");
    let token = oauth.token().await;
    // A connection kept open across the switch, driven by hand so that it is surely the
    // same one (a pooled HTTP client may open a second one under load).
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(exchange(&mut open, Duration::from_secs(10)).await.is_some());
    assert_eq!(proxy.accepted(), 1);

    proxy.black_hole().await;
    assert_eq!(proxy.mode(), Mode::BlackHole);
    assert!(
        exchange(&mut open, Duration::from_secs(1)).await.is_none(),
        "the open connection was answered from the black hole"
    );
    assert_eq!(proxy.accepted(), 1);

    // New connections are accepted, and then nothing.
    let fresh = client_with_timeout(Duration::from_secs(1));
    let err = introspect(&fresh, &base, &token)
        .await
        .expect_err("answered from the black hole");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(proxy.accepted(), 2);
    let err = revoke(&fresh, &base, &token)
        .await
        .expect_err("answered from the black hole");
    assert!(err.is_timeout(), "{err:?}");

    // pass() is restore() by another name.
    proxy.pass().await;
    assert!(
        oauth.is_active(&token).await,
        "a revocation sent into the black hole reached the provider"
    );
    assert!(introspect(&reqwest::Client::new(), &base, &token)
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_proxy_frees_its_port_and_cuts_its_connections() {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let proxy = FaultProxy::start(oauth.addr()).await;
    let addr = proxy.addr();
    let open = open_connection(&proxy).await;
    drop(proxy);
    until_cut(open).await;
    // The tasks end on the runtime's threads, soon after the drop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "the port still listens");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_refused(addr);
}

/// The `[[providers]]` entry for the real OAuth server behind `proxy`; the secret is
/// a reference to the environment, as a deployment would write it.
fn provider_toml(proxy: &FaultProxy) -> String {
    format!(
        r#"
[[providers]]
name = "corp-oauth"
kind = "oauth2"
revocation_endpoint = "{}"
introspection_endpoint = "{}"
client_id = "{}"
client_secret = "env:OB_TEST_REVOKER_SECRET"
client_auth = "client_secret_basic"
"#,
        proxy.url_for("/token/revocation"),
        proxy.url_for("/token/introspection"),
        REVOKER_CLIENT.0
    )
}

async fn json_of(response: reqwest::Response, expected: u16) -> Value {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A SCIM request to the service with `token`, as an identity provider sends it.
fn scim_request(
    service: &ServiceProcess,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, service.url_for(&format!("/scim/v2{path}")))
        .bearer_auth(token)
        .header("Content-Type", "application/scim+json")
        .body(body.to_string())
}

/// Polls `check` every 100 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The binary as deployed: registered state survives a SIGKILL, and a SCIM
/// deactivation ends with the token inactive at the real provider (reached through a
/// passing proxy), proven by the service, and never written to its log.
async fn the_service_process_survives_sigkill_and_revokes_at_the_real_provider(engine: Engine) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let Some(config) = ServiceConfig::on(engine).await else {
        return;
    };
    let proxy = FaultProxy::start(oauth.addr()).await;
    let config = config
        .config_toml(provider_toml(&proxy))
        .env("OB_TEST_REVOKER_SECRET", REVOKER_CLIENT.1);
    let mut service = ServiceProcess::start(config).await;
    assert_eq!(service.engine(), engine);
    let scheme = match engine {
        Engine::Sqlite => "sqlite://",
        Engine::Postgres => "postgres://",
    };
    assert!(service.database_url().starts_with(scheme));
    assert!(service.log_path().starts_with(service.dir()));
    let ready = reqwest::get(service.url_for("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    let scim = json_of(
        service
            .request(Method::POST, "/api/v1/tokens")
            .json(&json!({"name": "okta", "scope": "scim"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let user = json_of(
        scim_request(
            &service,
            &scim,
            Method::POST,
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "leaver@example.com",
                "emails": [{"primary": true, "value": "leaver@example.com", "type": "work"}],
                "active": true}),
        )
        .send()
        .await
        .unwrap(),
        201,
    )
    .await;
    let user_id = user["id"].as_str().unwrap().to_string();
    let token = oauth.token().await;
    let agent = json_of(
        service
            .request(Method::POST, "/api/v1/agents")
            .json(
                &json!({"name": "leaver-bot", "owner_id": user_id, "credentials": [
                {"provider": "corp-oauth", "kind": "oauth_access_token", "secret": token}]}),
            )
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let credential_id = agent["credentials"][0]["id"].as_str().unwrap().to_string();
    assert!(oauth.is_active(&token).await);

    let first_pid = service.pid().unwrap();
    let killed = service.kill9().await;
    assert_eq!(killed.signal(), Some(9), "{killed}");
    assert_refused(service.addr());
    let port = service.port();
    service.restart().await;
    assert_eq!(service.port(), port, "restarted on another port");
    assert_ne!(service.pid(), Some(first_pid));
    let survived = json_of(
        service
            .request(Method::GET, &format!("/api/v1/agents/{agent_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(survived["name"], "leaver-bot");
    assert_eq!(survived["owner"]["id"], user_id.as_str(), "{survived}");
    assert_eq!(survived["credentials"][0]["id"], credential_id.as_str());
    assert_eq!(survived["credentials"][0]["has_secret"], true);

    let deactivated = scim_request(
        &service,
        &scim,
        Method::PATCH,
        &format!("/Users/{user_id}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(deactivated.status(), 200);
    // Bounded generously: this proves the outcome, not the speed.
    eventually(
        Duration::from_secs(60),
        "the token inactive at the provider",
        || {
            let (oauth, token) = (&oauth, &token);
            async move { !oauth.is_active(token).await }
        },
    )
    .await;
    assert_eq!(oauth.resource(&token).await, 401);
    eventually(Duration::from_secs(60), "the revocation proven", || {
        let request = service.request(Method::GET, &format!("/api/v1/credentials/{credential_id}"));
        async move {
            let credential: Value = request.send().await.unwrap().json().await.unwrap();
            credential["status"] == "verified_dead"
        }
    })
    .await;
    assert!(
        proxy.accepted() > 0,
        "the provider was not reached through the proxy"
    );

    let stopped = service.stop().await;
    assert!(stopped.success(), "SIGTERM: {stopped}");
    let logs = service.logs();
    assert!(
        logs.contains("=== service_process: start #2"),
        "the log of the restart is missing"
    );
    assert!(
        logs.contains("\"level\":\"INFO\"") && logs.contains("ownerbound is serving"),
        "the child's log was not captured: {logs}"
    );
    for (what, secret) in [
        ("the agent's token", token.as_str()),
        ("the revoker's client secret", REVOKER_CLIENT.1),
        ("the master key", service.master_key()),
        ("the admin token", service.admin_token()),
        ("the SCIM token", scim.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} is in the service's log");
    }
}

on_each_engine!(the_service_process_survives_sigkill_and_revokes_at_the_real_provider);

/// A restart asks for the same port; when something else took it meanwhile, the
/// service comes up on another one and says so in its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_whose_port_was_taken_comes_up_on_another_port() {
    let config = ServiceConfig::on(Engine::Sqlite).await.unwrap();
    let mut service = ServiceProcess::start(config).await;
    let taken = service.port();
    service.kill9().await;
    let squatter = std::net::TcpListener::bind(service.addr()).unwrap();
    service.restart().await;
    assert_ne!(service.port(), taken);
    let ready = reqwest::get(service.url_for("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(service.logs().contains(&format!("port {taken} was taken")));
    drop(squatter);
}
