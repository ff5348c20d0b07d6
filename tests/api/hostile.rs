//! Hostile senders on the internet-facing endpoints: signature work bounded by the
//! keys, Gusto tokens nobody can replace, floods answered 429 per address and per
//! token while everyone else goes on, hostile query strings never echoed.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use ownerbound::config::RateLimitSettings;
use ownerbound::signing::{sign, Algorithm};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, captured_logs, spawn_app_with, Engine, TestApp};

/// MACs the app computed verifying `source`'s requests so far.
fn macs(app: &TestApp, source: &str) -> u64 {
    app.hr_sources[source].macs_computed.load(Ordering::Relaxed)
}

/// A client whose requests come from `address` (any of 127.0.0.0/8 on Linux).
fn client_from(address: &str) -> reqwest::Client {
    let address: IpAddr = address.parse().unwrap();
    reqwest::Client::builder()
        .local_address(address)
        .build()
        .unwrap()
}

async fn post_hook(
    client: &reqwest::Client,
    app: &TestApp,
    source: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client
        .post(format!("{}/hooks/hr/{source}", app.address))
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// Standard Webhooks headers for `body` with these signature entries.
fn standard_headers(id: &str, timestamp: &str, signatures: String) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signatures),
    ]
}

fn bogus_candidate(n: u8) -> String {
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode([n; 32])
    )
}

async fn webhook_signature_work_is_bounded_by_the_keys(engine: Engine) {
    let Some(app) = spawn_app_with(engine, |s| s.max_body_bytes = 1024 * 1024 + 1024).await else {
        return;
    };
    let keys = app.hr_sources["standard"].keys.len() as u64;
    assert_eq!(keys, 2, "the standard test source rotates two secrets");
    let client = reqwest::Client::new();
    let body = vec![b' '; 1024 * 1024 - 16];
    let now = chrono::Utc::now().timestamp().to_string();

    // 10,000 empty candidates: refused before any MAC.
    let before = macs(&app, "standard");
    let many = vec!["v1,"; 10_000].join(" ");
    let (status, _, problem) = post_hook(
        &client,
        &app,
        "standard",
        &body,
        &standard_headers("msg_many", &now, many),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(macs(&app, "standard") - before, 0);

    // More candidates than the cap, each of real length: refused, no MAC.
    let five = (0..5).map(bogus_candidate).collect::<Vec<_>>().join(" ");
    let (status, _, _) = post_hook(
        &client,
        &app,
        "standard",
        &body,
        &standard_headers("msg_five", &now, five),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(macs(&app, "standard") - before, 0);

    // The cap's worth of wrong candidates and a 1 MiB body: one MAC per key.
    let four = (0..4).map(bogus_candidate).collect::<Vec<_>>().join(" ");
    let (status, _, _) = post_hook(
        &client,
        &app,
        "standard",
        &body,
        &standard_headers("msg_four", &now, four),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(macs(&app, "standard") - before, keys);

    // A genuine signature among wrong ones is found with one MAC per key too.
    let event = json!({"type": "employee.terminated", "employee": {"id": "bounded-1"}}).to_string();
    let key = app.hr_sources["standard"].keys[1].bytes().to_vec();
    let genuine = base64::engine::general_purpose::STANDARD.encode(sign(
        Algorithm::Sha256,
        &key,
        &[format!("msg_ok.{now}.").as_bytes(), event.as_bytes()],
    ));
    let signatures = format!("{} v1,{genuine} {}", bogus_candidate(7), bogus_candidate(8));
    let (status, _, answer) = post_hook(
        &client,
        &app,
        "standard",
        event.as_bytes(),
        &standard_headers("msg_ok", &now, signatures),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(macs(&app, "standard") - before, 2 * keys);

    // Source names cannot be probed: unknown answers as known-but-unsigned does.
    let unknown = post_hook(&client, &app, "no-such-source", b"{}", &[]).await;
    let known = post_hook(&client, &app, "standard", b"{}", &[]).await;
    assert_eq!((unknown.0, &unknown.2), (known.0, &known.2));
    assert_eq!(
        unknown.1.get("www-authenticate"),
        known.1.get("www-authenticate")
    );
}

async fn gusto_tokens_are_taken_only_when_armed_and_never_replaced(engine: Engine) {
    let Some(app) = spawn_app_with(engine, |_| {}).await else {
        return;
    };
    let verification = |token: &str| {
        json!({"verification_token": token, "uuid": "subscription-1"})
            .to_string()
            .into_bytes()
    };
    let here = client_from("127.0.0.1");
    let elsewhere = client_from("127.0.0.2");
    let tokens_path = "/api/v1/hr/sources/gusto/verification-tokens";

    // Not armed: an unsigned POST is refused like any other and nothing is kept.
    let (status, _, _) = post_hook(&here, &app, "gusto", &verification("tok-early"), &[]).await;
    assert_eq!(status, 401);
    let listed: Value = app.get(tokens_path).await.json().await.unwrap();
    assert_eq!(listed["items"], json!([]));

    // Arming refuses what is malformed, out of range or unauthenticated, and arms
    // nothing then.
    let arm_path = "/api/v1/hr/sources/gusto/verification";
    let bad = app.post(arm_path, &json!({"minutes": 0})).await;
    let problem = assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(problem["field"], "minutes");
    for body in ["{", r#"{"mins": 5}"#, r#"{"minutes": "ten"}"#] {
        let refused = app
            .request(Method::POST, arm_path)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{body}");
    }
    let anonymous = reqwest::Client::new()
        .post(format!("{}{arm_path}", app.address))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, _, _) =
        post_hook(&here, &app, "gusto", &verification("tok-still-early"), &[]).await;
    assert_eq!(status, 401, "still not armed");

    // Armed: each token is kept with its sender; none overwrites another.
    let armed = app
        .post(
            "/api/v1/hr/sources/gusto/verification",
            &json!({"minutes": 10}),
        )
        .await;
    assert_eq!(armed.status(), 200);
    let (status, _, _) = post_hook(&here, &app, "gusto", &verification("tok-gusto"), &[]).await;
    assert_eq!(status, 200);
    let (status, _, _) = post_hook(
        &elsewhere,
        &app,
        "gusto",
        &verification("tok-attacker"),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let listed: Value = app.get(tokens_path).await.json().await.unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    let mut senders: Vec<&str> = items
        .iter()
        .map(|t| t["sender"].as_str().unwrap())
        .collect();
    senders.sort();
    assert_eq!(senders, ["127.0.0.1", "127.0.0.2"]);
    assert!(
        !listed.to_string().contains("tok-"),
        "tokens are never listed"
    );

    // Two unclaimed: the admin must choose; the chosen one is returned once.
    let claim_path = "/api/v1/hr/sources/gusto/verification-token";
    assert_problem(
        app.post(claim_path, &json!({})).await,
        409,
        "several_verification_tokens",
    )
    .await;
    let gusto_id = items.iter().find(|t| t["sender"] == "127.0.0.1").unwrap()["id"].clone();
    let claimed: Value = app
        .post(claim_path, &json!({"id": gusto_id}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claimed["verification_token"], "tok-gusto");
    assert_problem(
        app.post(claim_path, &json!({"id": gusto_id})).await,
        404,
        "not_found",
    )
    .await;

    // Claiming closed the window: later verification POSTs are refused again.
    let (status, _, _) = post_hook(&elsewhere, &app, "gusto", &verification("tok-late"), &[]).await;
    assert_eq!(status, 401);

    // Arming is for Gusto sources only, and for admins.
    assert_problem(
        app.post("/api/v1/hr/sources/standard/verification", &json!({}))
            .await,
        409,
        "not_a_gusto_source",
    )
    .await;
    assert_problem(
        app.post("/api/v1/hr/sources/nope/verification", &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    let reader = app.token_with_scope("read").await;
    let refused = app
        .request_as(
            &reader,
            Method::POST,
            "/api/v1/hr/sources/gusto/verification",
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // The source's audit history pages.
    let first: Value = app
        .get("/api/v1/audit?subject_kind=hr_source&subject_id=gusto&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let after = first["next_after"]
        .as_i64()
        .expect("a full page has a next");
    let rest: Value = app
        .get(&format!(
            "/api/v1/audit?subject_kind=hr_source&subject_id=gusto&after={after}&limit=100"
        ))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"hr.verification_token_claimed"),
        "{actions:?}"
    );
    assert!(rest["next_after"].is_null());
    let audit = app
        .get("/api/v1/audit?limit=1000")
        .await
        .text()
        .await
        .unwrap();
    assert!(!audit.contains("tok-gusto") && !audit.contains("tok-attacker"));
    let logs = captured_logs();
    assert!(!logs.contains("tok-gusto") && !logs.contains("tok-attacker"));
}

async fn a_flood_from_one_address_is_answered_429_while_others_go_on(engine: Engine) {
    let Some(app) = spawn_app_with(engine, |s| {
        s.rate_limits = RateLimitSettings {
            hooks_per_second: 1,
            hooks_burst: 5,
            address_per_second: 1,
            address_burst: 20,
            token_per_second: 1,
            token_burst: 5,
            trust_forwarded_for: false,
        }
    })
    .await
    else {
        return;
    };
    // Webhooks: one address floods, another is still heard.
    let flooder = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (status, headers, problem) = post_hook(&flooder, &app, "standard", b"{}", &[]).await;
        if status == 429 {
            let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=2).contains(&retry), "Retry-After {retry}");
            assert_eq!(problem["code"], "rate_limited");
            assert_eq!(problem["status"], 429);
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
    let event = json!({"type": "employee.terminated", "employee": {"id": "flood-1"}}).to_string();
    let (status, _) = crate::hr::post_signed(&app, "standard", event.as_bytes()).await;
    assert_eq!(status, 200, "another address goes on");

    // SCIM: unauthenticated requests from one address are cut off at its limit...
    let idp_token = app.scim_token().await;
    let scim_flooder = client_from("127.0.0.3");
    let mut limited = None;
    for _ in 0..40 {
        let response = scim_flooder
            .get(format!("{}/scim/v2/Users", app.address))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 401);
    }
    let limited = limited.expect("the address limit answered 429");
    assert!(limited.headers().contains_key("retry-after"));
    let error: Value = limited.json().await.unwrap();
    assert_eq!(
        error["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(error["status"], "429");

    // ...and a token that floods from its own address is cut off at the token's,
    // in SCIM's format, while the identity provider's token goes on.
    let flood_token = app.scim_token().await;
    let token_flooder = client_from("127.0.0.4");
    let mut token_statuses = Vec::new();
    for _ in 0..10 {
        let response = token_flooder
            .get(format!("{}/scim/v2/Users", app.address))
            .bearer_auth(&flood_token)
            .send()
            .await
            .unwrap();
        token_statuses.push(response.status().as_u16());
    }
    assert_eq!(&token_statuses[..5], [200; 5], "{token_statuses:?}");
    assert!(
        token_statuses[5..].iter().all(|s| *s == 429),
        "{token_statuses:?}"
    );
    let idp = reqwest::Client::new()
        .get(format!("{}/scim/v2/Users", app.address))
        .bearer_auth(&idp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(idp.status(), 200, "the identity provider's token goes on");

    // The API answers in its own format.
    let api_flooder = client_from("127.0.0.5");
    let mut api_limited = None;
    for _ in 0..40 {
        let response = api_flooder
            .get(format!("{}/api/v1/agents", app.address))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            api_limited = Some(response);
            break;
        }
    }
    assert_problem(api_limited.expect("429"), 429, "rate_limited").await;

    // Refusals are in the audit log, coalesced: one line per scope written through.
    let audit = app.audit_log().await;
    let scopes: Vec<&str> = audit
        .iter()
        .filter(|e| e["action"] == "inbound.rate_limited")
        .map(|e| e["subject_id"].as_str().unwrap())
        .collect();
    for scope in ["hooks", "scim", "api"] {
        assert_eq!(
            scopes.iter().filter(|s| **s == scope).count(),
            1,
            "{scopes:?}"
        );
    }
}

async fn hostile_query_strings_are_never_echoed(engine: Engine) {
    let Some(app) = spawn_app_with(engine, |_| {}).await else {
        return;
    };
    let hostile = format!("ob_hostile_{}", uuid::Uuid::new_v4().simple());
    let scim_token = app.scim_token().await;
    let api_paths = [
        format!("/api/v1/agents?status={hostile}"),
        format!("/api/v1/agents?limit={hostile}"),
        format!("/api/v1/agents?cursor={hostile}"),
        format!("/api/v1/agents?{hostile}=1"),
        format!("/api/v1/findings?kind={hostile}"),
        format!("/api/v1/findings?severity={hostile}"),
        format!("/api/v1/findings?min_severity={hostile}"),
        format!("/api/v1/findings?from={hostile}"),
        format!("/api/v1/audit?limit={hostile}"),
        format!("/api/v1/audit?after={hostile}"),
        format!("/api/v1/tokens?limit={hostile}"),
        format!("/api/v1/hr/events?limit={hostile}"),
        format!("/api/v1/discovered-credentials?gone={hostile}"),
        format!("/api/v1/offboardings?person_id=x&{hostile}=1"),
    ];
    for path in &api_paths {
        let response = app.get(path).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!((400..500).contains(&status), "{path}: {status} {text}");
        assert!(!text.contains(&hostile), "{path} echoed: {text}");
    }
    let scim_paths = [
        format!("/scim/v2/Users?filter=userName%20eq%20%22{hostile}"),
        format!("/scim/v2/Users?filter={hostile}"),
        format!("/scim/v2/Users?startIndex={hostile}"),
        format!("/scim/v2/Users?count={hostile}"),
        format!("/scim/v2/Users?sortOrder={hostile}"),
        format!("/scim/v2/Groups?{hostile}=1"),
    ];
    for path in &scim_paths {
        let response = app
            .request_as(&scim_token, Method::GET, path)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(status < 500, "{path}: {status} {text}");
        assert!(!text.contains(&hostile), "{path} echoed: {text}");
    }
    let (status, _, answer) = post_hook(
        &reqwest::Client::new(),
        &app,
        &format!("standard?{hostile}=1"),
        b"{}",
        &[],
    )
    .await;
    assert_eq!(status, 401);
    assert!(!answer.to_string().contains(&hostile));
    assert!(
        !captured_logs().contains(&hostile),
        "a hostile query value reached the log"
    );
}

async fn token_lists_are_paginated(engine: Engine) {
    let Some(app) = spawn_app_with(engine, |_| {}).await else {
        return;
    };
    for _ in 0..3 {
        app.token_with_scope("read").await;
    }
    let first: Value = app
        .get("/api/v1/tokens?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(&format!("/api/v1/tokens?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    // The bootstrap admin token and three more: four in all.
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second["next_cursor"].is_null(), "{second}");
}

crate::on_each_engine!(
    webhook_signature_work_is_bounded_by_the_keys,
    gusto_tokens_are_taken_only_when_armed_and_never_replaced,
    a_flood_from_one_address_is_answered_429_while_others_go_on,
    hostile_query_strings_are_never_echoed,
    token_lists_are_paginated,
);

/// A provider that answers every request with 200 and a body that never ends
/// (chunked, so no length says so up front), or with a `Content-Length` of a
/// gigabyte; counts what it managed to send.
struct EndlessProvider {
    base: String,
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl EndlessProvider {
    async fn start(declare_length: bool) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 8192];
                    let _ = socket.read(&mut request).await;
                    let head = if declare_length {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n"
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    };
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b' '; 64 * 1024];
                    let framed = [
                        format!("{:x}\r\n", chunk.len()).into_bytes(),
                        chunk,
                        b"\r\n".to_vec(),
                    ]
                    .concat();
                    // Bounded: at most 256 MiB, far past any cap.
                    for _ in 0..4096 {
                        let piece = if declare_length {
                            &framed[8..]
                        } else {
                            &framed[..]
                        };
                        if socket.write_all(piece).await.is_err() {
                            return;
                        }
                        counter.fetch_add(piece.len() as u64, Ordering::Relaxed);
                    }
                });
            }
        });
        Self { base, sent }
    }
}

async fn an_oversized_provider_answer_is_a_clear_error_not_memory(engine: Engine) {
    for declare_length in [false, true] {
        let Some(app) = spawn_app_with(engine, |_| {}).await else {
            return;
        };
        let provider = EndlessProvider::start(declare_length).await;
        let ids = app
            .offboard_owner_of(json!([{"provider": "internal", "kind": "api_key",
                                       "external_id": "endless-1"}]))
            .await;
        app.run_jobs_with(json!([{"name": "internal", "kind": "http",
            "url": format!("{}/hook", provider.base),
            "signing_secret": "endless-provider-signing-key-01"}]))
            .await;
        let items = app.case_items().await;
        let (status, detail) = &items[&ids[0]];
        assert_eq!(status, "needs_attention", "{detail}");
        assert!(
            detail.contains("more than 262144 bytes"),
            "the error says why: {detail}"
        );
        // Refused at the cap (plus what was in flight in the socket buffers), never
        // read whole; a declared length over the cap is refused unread.
        let sent = provider.sent.load(Ordering::Relaxed);
        assert!(sent < 16 * 1024 * 1024, "{sent} bytes were sent");
    }
}

crate::on_each_engine!(an_oversized_provider_answer_is_a_clear_error_not_memory);
