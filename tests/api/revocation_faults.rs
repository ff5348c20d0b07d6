//! Fault injection: a scripted provider (a mock is right here: the faults are the
//! point) answering 503 with Retry-After, 429 with a reset header, "still active", and
//! slower than the client's timeout.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use ownerbound::jobs::Worker;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

/// One scripted answer: status, headers, body, delay.
#[derive(Clone)]
struct Answer(u16, Vec<(&'static str, String)>, Value, Duration);

#[derive(Default)]
struct Script {
    revoke: Mutex<VecDeque<Answer>>,
    introspect: Mutex<VecDeque<Answer>>,
    /// Requests being answered now, and the most seen at once.
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
}

async fn respond(script: &Script, queue: &Mutex<VecDeque<Answer>>) -> HttpResponse {
    use std::sync::atomic::Ordering;
    let now = script.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    script.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let answer =
        queue
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer(500, vec![], json!({}), Duration::ZERO));
    tokio::time::sleep(answer.3).await;
    script.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut response =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(answer.0).unwrap());
    for (k, v) in answer.1 {
        response.insert_header((k, v));
    }
    response.json(answer.2)
}

/// Starts the scripted provider; returns its base URL.
fn start(script: Arc<Script>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let script = script.clone();
        let introspect = script.clone();
        App::new()
            .route(
                "/revoke",
                web::post().to(move || {
                    let script = script.clone();
                    async move { respond(&script, &script.revoke).await }
                }),
            )
            .route(
                "/introspect",
                web::post().to(move || {
                    let script = introspect.clone();
                    async move { respond(&script, &script.introspect).await }
                }),
            )
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

fn ok() -> Answer {
    Answer(200, vec![], json!({}), Duration::ZERO)
}

fn inactive() -> Answer {
    Answer(200, vec![], json!({"active": false}), Duration::ZERO)
}

/// One person with one token at the scripted provider, offboarded; returns a worker
/// (with a 1 s client timeout) and the item id.
async fn offboard_one(app: &TestApp, base: &str) -> (Worker, String) {
    let person = app
        .create_person(&json!({"emails": ["f@example.com"]}))
        .await;
    app.create_agent(
        &json!({"name": "f-bot", "owner_id": person["id"], "credentials": [
        {"provider": "scripted", "kind": "oauth_access_token", "secret": "scripted-token-0001"}]}),
    )
    .await;
    let id = person["id"].as_str().unwrap();
    app.post(&format!("/api/v1/people/{id}/offboard"), &json!({}))
        .await;
    let providers = json!([{
        "name": "scripted", "kind": "oauth2", "client_id": "c", "client_secret": "s-0123456789abcdef",
        "revocation_endpoint": format!("{base}/revoke"), "introspection_endpoint": format!("{base}/introspect")
    }]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let worker = Worker::new(app.job_context(providers, None, http));
    // Open the case.
    worker
        .run_once_at(ownerbound::store::now())
        .await
        .unwrap()
        .unwrap();
    let cases: Value = app
        .get(&format!("/api/v1/offboardings?person_id={id}"))
        .await
        .json()
        .await
        .unwrap();
    let case: Value = app
        .get(&format!(
            "/api/v1/offboardings/{}",
            cases["items"][0]["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    (worker, case["items"][0]["id"].as_str().unwrap().to_string())
}

async fn revoke_job(app: &TestApp) -> ownerbound::store::jobs::Job {
    let jobs = app
        .store
        .list_jobs(
            None,
            &ownerbound::store::PageRequest {
                limit: 50,
                after: None,
            },
        )
        .await
        .unwrap();
    jobs.items.into_iter().find(|j| j.kind == "revoke").unwrap()
}

/// Runs every job due at `at`.
async fn run_due(worker: &Worker, at: chrono::DateTime<chrono::Utc>) {
    while worker.run_once_at(at).await.unwrap().is_some() {}
}

/// Subjects of the alerts queued so far.
async fn alert_subjects(app: &TestApp) -> Vec<String> {
    let page = ownerbound::store::PageRequest {
        limit: 200,
        after: None,
    };
    let jobs = app.store.list_jobs(None, &page).await.unwrap();
    jobs.items
        .into_iter()
        .filter(|j| j.kind == "alert")
        .map(|j| {
            let payload: Value = serde_json::from_str(&j.payload).unwrap();
            payload["subject"].as_str().unwrap().to_string()
        })
        .collect()
}

async fn item_status(app: &TestApp, item: &str) -> String {
    app.store.get_case_item(item).await.unwrap().status
}

async fn unavailable_with_retry_after_then_success(app: TestApp) {
    let script = Arc::new(Script::default());
    script.revoke.lock().unwrap().extend([
        Answer(
            503,
            vec![("Retry-After", "7".into())],
            json!({}),
            Duration::ZERO,
        ),
        ok(),
    ]);
    script.introspect.lock().unwrap().push_back(inactive());
    let base = start(script);
    let (worker, item) = offboard_one(&app, &base).await;
    let t0 = ownerbound::store::now();
    worker.run_once_at(t0).await.unwrap().unwrap();
    let job = revoke_job(&app).await;
    assert_eq!((job.status.as_str(), job.attempts), ("ready", 1));
    let wait = (job.run_after - t0).num_seconds();
    assert!(
        (6..=8).contains(&wait),
        "Retry-After not honoured: {wait} s"
    );
    // The outage alert is due at once; the revocation is not.
    run_due(&worker, t0 + chrono::Duration::seconds(3)).await;
    let job = revoke_job(&app).await;
    assert_eq!(
        (job.status.as_str(), job.attempts),
        ("ready", 1),
        "retried too early"
    );
    assert!(alert_subjects(&app)
        .await
        .iter()
        .any(|s| s.contains("revocations failing at provider scripted")));
    run_due(&worker, t0 + chrono::Duration::seconds(8)).await;
    assert_eq!(item_status(&app, &item).await, "verified_dead");
    assert_eq!(revoke_job(&app).await.status, "done");
}

async fn rate_limited_with_a_reset_header(app: TestApp) {
    let script = Arc::new(Script::default());
    let reset = (chrono::Utc::now().timestamp() + 30).to_string();
    script.revoke.lock().unwrap().extend([
        Answer(
            429,
            vec![("X-Rate-Limit-Reset", reset)],
            json!({}),
            Duration::ZERO,
        ),
        ok(),
    ]);
    script.introspect.lock().unwrap().push_back(inactive());
    let base = start(script);
    let (worker, item) = offboard_one(&app, &base).await;
    let t0 = ownerbound::store::now();
    worker.run_once_at(t0).await.unwrap().unwrap();
    let wait = (revoke_job(&app).await.run_after - t0).num_seconds();
    assert!(
        (25..=31).contains(&wait),
        "reset header not honoured: {wait} s"
    );
    run_due(&worker, t0 + chrono::Duration::seconds(31)).await;
    assert_eq!(item_status(&app, &item).await, "verified_dead");
}

async fn still_alive_after_revocation_is_revoked_again(app: TestApp) {
    let script = Arc::new(Script::default());
    script.revoke.lock().unwrap().extend([ok(), ok()]);
    script.introspect.lock().unwrap().extend([
        Answer(200, vec![], json!({"active": true}), Duration::ZERO),
        inactive(),
    ]);
    let base = start(script);
    let (worker, item) = offboard_one(&app, &base).await;
    let t0 = ownerbound::store::now();
    worker.run_once_at(t0).await.unwrap().unwrap();
    assert_eq!(item_status(&app, &item).await, "still_alive");
    let job = revoke_job(&app).await;
    assert_eq!(job.status, "ready");
    // The still-alive alert is queued too; run everything due by the retry.
    while worker.run_once_at(job.run_after).await.unwrap().is_some() {}
    assert_eq!(item_status(&app, &item).await, "verified_dead");
    let page = ownerbound::store::PageRequest {
        limit: 50,
        after: None,
    };
    let jobs = app.store.list_jobs(None, &page).await.unwrap();
    assert!(jobs
        .items
        .iter()
        .any(|j| j.kind == "alert" && j.payload.contains("still")));
}

async fn a_timeout_is_retried(app: TestApp) {
    let script = Arc::new(Script::default());
    script
        .revoke
        .lock()
        .unwrap()
        .extend([Answer(200, vec![], json!({}), Duration::from_secs(3)), ok()]);
    script.introspect.lock().unwrap().push_back(inactive());
    let base = start(script);
    let (worker, item) = offboard_one(&app, &base).await;
    let t0 = ownerbound::store::now();
    worker.run_once_at(t0).await.unwrap().unwrap();
    let job = revoke_job(&app).await;
    assert_eq!(job.status, "ready");
    assert!(
        job.last_error.as_deref().unwrap().contains("unreachable"),
        "{:?}",
        job.last_error
    );
    assert!(!job
        .last_error
        .as_deref()
        .unwrap()
        .contains("scripted-token"));
    run_due(&worker, job.run_after).await;
    assert_eq!(item_status(&app, &item).await, "verified_dead");
}

async fn alive_again_after_the_propagation_window_is_caught(app: TestApp) {
    let script = Arc::new(Script::default());
    script.revoke.lock().unwrap().extend([ok(), ok()]);
    // Dead at once, active again later (a cache), then dead for good.
    script.introspect.lock().unwrap().extend([
        inactive(),
        Answer(200, vec![], json!({"active": true}), Duration::ZERO),
        inactive(),
    ]);
    let base = start(script);
    let (worker, item) = offboard_one(&app, &base).await;
    let t0 = ownerbound::store::now();
    worker.run_once_at(t0).await.unwrap().unwrap();
    assert_eq!(item_status(&app, &item).await, "verified_dead");
    // Nothing more until the window (300 s by default) has passed.
    assert!(worker
        .run_once_at(t0 + chrono::Duration::seconds(60))
        .await
        .unwrap()
        .is_none());
    let later = t0 + chrono::Duration::seconds(301);
    worker.run_once_at(later).await.unwrap().unwrap();
    assert_eq!(item_status(&app, &item).await, "still_alive");
    // Revoked again; the next verification (after backoff) finds it dead.
    let mut at = later;
    for _ in 0..10 {
        at += chrono::Duration::hours(2);
        while worker.run_once_at(at).await.unwrap().is_some() {}
        if item_status(&app, &item).await == "verified_dead" {
            break;
        }
    }
    let detail = app
        .store
        .get_case_item(&item)
        .await
        .unwrap()
        .detail
        .unwrap();
    assert!(
        detail.contains("confirmed after the propagation window"),
        "{detail}"
    );
    let page = ownerbound::store::PageRequest {
        limit: 50,
        after: None,
    };
    let jobs = app.store.list_jobs(None, &page).await.unwrap();
    assert!(jobs
        .items
        .iter()
        .any(|j| j.kind == "alert" && j.payload.contains("alive again")));
}

async fn a_provider_concurrency_limit_holds_across_workers(app: TestApp) {
    let script = Arc::new(Script::default());
    let slow = Answer(200, vec![], json!({}), Duration::from_millis(300));
    script
        .revoke
        .lock()
        .unwrap()
        .extend([slow.clone(), slow.clone(), slow.clone()]);
    script
        .introspect
        .lock()
        .unwrap()
        .extend([inactive(), inactive(), inactive()]);
    let base = start(script.clone());
    let person = app
        .create_person(&json!({"emails": ["c@example.com"]}))
        .await;
    let cred = |n: u32| json!({"provider": "scripted", "kind": "oauth_access_token", "secret": format!("conc-token-{n:04}")});
    app.create_agent(&json!({"name": "c-bot", "owner_id": person["id"], "credentials": [cred(1), cred(2), cred(3)]}))
        .await;
    app.post(
        &format!("/api/v1/people/{}/offboard", person["id"].as_str().unwrap()),
        &json!({}),
    )
    .await;
    let providers = json!([{
        "name": "scripted", "kind": "oauth2", "max_concurrency": 1,
        "revocation_endpoint": format!("{base}/revoke"), "introspection_endpoint": format!("{base}/introspect")
    }]);
    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());
    Worker::new(ctx.clone())
        .run_once_at(ownerbound::store::now())
        .await
        .unwrap()
        .unwrap();
    // Three workers sharing the instance's limits race for the three revocations.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let worker = Worker::new(ctx.clone());
        tasks.push(tokio::spawn(async move {
            worker.run_until_idle().await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        script
            .most_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the limit was exceeded"
    );
    let creds: Value = app
        .get("/api/v1/credentials?status=verified_dead")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(creds["items"].as_array().unwrap().len(), 3);
}

on_both_engines!(
    a_provider_concurrency_limit_holds_across_workers,
    alive_again_after_the_propagation_window_is_caught,
    unavailable_with_retry_after_then_success,
    rate_limited_with_a_reset_header,
    still_alive_after_revocation_is_revoked_again,
    a_timeout_is_retried
);
