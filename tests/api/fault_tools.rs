//! Self-tests of the fault-test tools: the proxy in front of the real OAuth server
//! (each mode does what it says, on the wire).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fault_proxy::{FaultProxy, Mode};
use crate::oauth_peer::{OAuthServer, AGENTS_CLIENT, REVOKER_CLIENT};

/// A client-credentials token minted at `base` (the provider, or a proxy before it).
async fn mint(http: &reqwest::Client, base: &str) -> Result<String, reqwest::Error> {
    let answer: Value = http
        .post(format!("{base}/token"))
        .basic_auth(AGENTS_CLIENT.0, Some(AGENTS_CLIENT.1))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["access_token"].as_str().unwrap().to_string())
}

/// RFC 7662 introspection at `base`: is the token active?
async fn introspect(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<bool, reqwest::Error> {
    let answer: Value = http
        .post(format!("{base}/token/introspection"))
        .basic_auth(REVOKER_CLIENT.0, Some(REVOKER_CLIENT.1))
        .form(&[("token", token)])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["active"].as_bool().unwrap())
}

/// RFC 7009 revocation at `base`.
async fn revoke(http: &reqwest::Client, base: &str, token: &str) -> Result<(), reqwest::Error> {
    http.post(format!("{base}/token/revocation"))
        .basic_auth(REVOKER_CLIENT.0, Some(REVOKER_CLIENT.1))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

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
    // This client keeps its connection open between calls.
    let pooled = client_with_timeout(Duration::from_secs(1));
    assert!(introspect(&pooled, &base, &token).await.unwrap());
    assert_eq!(proxy.accepted(), 1);

    proxy.black_hole().await;
    assert_eq!(proxy.mode(), Mode::BlackHole);
    let err = introspect(&pooled, &base, &token)
        .await
        .expect_err("answered from the black hole");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        proxy.accepted(),
        1,
        "the open connection was not the one used"
    );

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
