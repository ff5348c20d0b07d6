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
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (worker, mut items) = offboard_tokens(app, base, 1, http).await;
    (worker, items.remove(0))
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
    assert_eq!(case_of(&app, &item).await.status, "open");
    let t0 = ownerbound::store::now();
    worker.run_once_at(t0).await.unwrap().unwrap();
    assert_eq!(item_status(&app, &item).await, "verified_dead");
    // Every item settled: the case is closed.
    let case = case_of(&app, &item).await;
    assert_eq!(
        (case.status.as_str(), case.outcome.as_deref()),
        ("closed", Some("revoked"))
    );
    assert!(case.closed_at.is_some());
    // Nothing more until the window (300 s by default) has passed.
    assert!(worker
        .run_once_at(t0 + chrono::Duration::seconds(60))
        .await
        .unwrap()
        .is_none());
    let later = t0 + chrono::Duration::seconds(301);
    worker.run_once_at(later).await.unwrap().unwrap();
    assert_eq!(item_status(&app, &item).await, "still_alive");
    // Active again: the case opens again.
    let case = case_of(&app, &item).await;
    assert_eq!((case.status.as_str(), case.closed_at), ("open", None));
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
    // Proven dead again: closed again, each change in the case's timeline.
    let case = case_of(&app, &item).await;
    assert_eq!(
        (case.status.as_str(), case.outcome.as_deref()),
        ("closed", Some("revoked"))
    );
    let timeline = app
        .store
        .audit_for_subject("offboarding_case", &case.id)
        .await
        .unwrap();
    let actions: Vec<&str> = timeline.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"offboarding.case_reopened"),
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "offboarding.case_closed")
            .count(),
        2
    );
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

/// One person with `n` tokens at the scripted provider, offboarded and the case
/// opened; returns a worker calling with `http` and the item ids.
async fn offboard_tokens(
    app: &TestApp,
    base: &str,
    n: usize,
    http: reqwest::Client,
) -> (Worker, Vec<String>) {
    let person = app
        .create_person(&json!({"emails": ["many@example.com"]}))
        .await;
    let credentials: Vec<Value> = (0..n)
        .map(|i| json!({"provider": "scripted", "kind": "oauth_access_token", "secret": format!("scripted-token-{i:04}")}))
        .collect();
    app.create_agent(
        &json!({"name": "many-bot", "owner_id": person["id"], "credentials": credentials}),
    )
    .await;
    let id = person["id"].as_str().unwrap();
    app.post(&format!("/api/v1/people/{id}/offboard"), &json!({}))
        .await;
    let providers = json!([{
        "name": "scripted", "kind": "oauth2", "client_id": "c", "client_secret": "s-0123456789abcdef",
        "revocation_endpoint": format!("{base}/revoke"), "introspection_endpoint": format!("{base}/introspect")
    }]);
    let worker = Worker::new(app.job_context(providers, None, http));
    worker
        .run_once_at(ownerbound::store::now())
        .await
        .unwrap()
        .unwrap();
    let items = app
        .store
        .case_items_with_status(
            &["pending"],
            &ownerbound::store::PageRequest {
                limit: 50,
                after: None,
            },
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.id)
        .collect();
    (worker, items)
}

async fn case_of(app: &TestApp, item: &str) -> ownerbound::store::offboarding::Case {
    let case_id = app.store.get_case_item(item).await.unwrap().case_id;
    app.store.get_case(&case_id).await.unwrap().0
}

async fn provider_state(app: &TestApp, provider: &str) -> Option<String> {
    app.store
        .provider_health()
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.provider == provider)
        .map(|h| h.state)
}

fn count(subjects: &[String], text: &str) -> usize {
    subjects.iter().filter(|s| s.contains(text)).count()
}

async fn a_revocation_is_retried_until_its_deadline_then_escalated_and_revived_when_the_provider_answers(
    app: TestApp,
) {
    // Every call answers 500 until the script is filled.
    let script = Arc::new(Script::default());
    let base = start(script.clone());
    let (worker, item) = offboard_one(&app, &base).await;
    let t0 = ownerbound::store::now();
    run_due(&worker, t0).await;
    let job = revoke_job(&app).await;
    assert_eq!(job.status, "ready");
    assert!(job.failing_since.is_some());
    assert_eq!(
        provider_state(&app, "scripted").await.as_deref(),
        Some("down")
    );
    // The case shows the revocation retrying, since when, until when, and why.
    let case_id = case_of(&app, &item).await.id;
    let case: Value = app
        .get(&format!("/api/v1/offboardings/{case_id}"))
        .await
        .json()
        .await
        .unwrap();
    let revocation = &case["items"][0]["revocation"];
    assert_eq!(revocation["state"], "retrying", "{revocation}");
    assert!(revocation["failing_since"].is_string());
    assert!(revocation["next_attempt_at"].is_string());
    assert!(revocation["last_error"].as_str().unwrap().contains("500"));
    let deadline: chrono::DateTime<chrono::Utc> =
        revocation["deadline_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (deadline - t0 - chrono::Duration::hours(24))
            .num_minutes()
            .abs()
            < 5
    );
    let health: Value = app
        .get("/api/v1/providers/health")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["items"][0]["state"], "down");
    assert!(!case.to_string().contains("scripted-token"));
    // Many more failures within the deadline: still retried, still one outage alert.
    let mut at = t0;
    for _ in 0..12 {
        at += chrono::Duration::hours(1);
        run_due(&worker, at).await;
    }
    let job = revoke_job(&app).await;
    assert_eq!(job.status, "ready", "given up before the deadline");
    assert!(job.attempts > 8, "{} attempts", job.attempts);
    assert_eq!(
        count(
            &alert_subjects(&app).await,
            "revocations failing at provider scripted"
        ),
        1
    );
    // Past the deadline (a day by default): dead, the item failed, the case closed
    // for a human, and escalated.
    run_due(&worker, t0 + chrono::Duration::hours(25)).await;
    let job = revoke_job(&app).await;
    assert_eq!(
        (job.status.as_str(), job.dead_reason.as_deref()),
        ("dead", Some("deadline"))
    );
    assert_eq!(item_status(&app, &item).await, "failed");
    let case = case_of(&app, &item).await;
    assert_eq!(
        (case.status.as_str(), case.outcome.as_deref()),
        ("closed", Some("needs_human"))
    );
    assert_eq!(
        count(&alert_subjects(&app).await, "revoke failed for good"),
        1
    );
    // Still down: the probe's canary fails again, which is no new escalation.
    let now = ownerbound::store::now();
    assert_eq!(
        ownerbound::jobs::health::probe_once(&app.store, now)
            .await
            .unwrap(),
        1
    );
    run_due(&worker, t0 + chrono::Duration::hours(26)).await;
    let job = revoke_job(&app).await;
    assert_eq!(job.status, "dead");
    assert_eq!(
        count(&alert_subjects(&app).await, "revoke failed for good"),
        1
    );
    // The provider answers again: the probe releases the dead revocation at once,
    // it is proven dead, and the case is closed as revoked.
    script.revoke.lock().unwrap().push_back(ok());
    script.introspect.lock().unwrap().push_back(inactive());
    let now = ownerbound::store::now();
    assert_eq!(
        ownerbound::jobs::health::probe_once(&app.store, now)
            .await
            .unwrap(),
        1
    );
    run_due(&worker, now).await;
    assert_eq!(item_status(&app, &item).await, "verified_dead");
    assert_eq!(
        provider_state(&app, "scripted").await.as_deref(),
        Some("up")
    );
    let case = case_of(&app, &item).await;
    assert_eq!(
        (case.status.as_str(), case.outcome.as_deref()),
        ("closed", Some("revoked"))
    );
    assert_eq!(
        count(
            &alert_subjects(&app).await,
            "provider scripted answers again"
        ),
        1
    );
}

async fn a_provider_that_answers_again_resumes_every_waiting_revocation_at_once(app: TestApp) {
    let script = Arc::new(Script::default());
    let base = start(script.clone());
    let (worker, items) = offboard_tokens(&app, &base, 3, ownerbound::jobs::http_client()).await;
    assert_eq!(items.len(), 3);
    let t0 = ownerbound::store::now();
    run_due(&worker, t0).await;
    let page = ownerbound::store::PageRequest {
        limit: 50,
        after: None,
    };
    let waiting: Vec<_> = app
        .store
        .list_jobs(Some("ready"), &page)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.kind == "revoke")
        .collect();
    assert_eq!(waiting.len(), 3);
    assert!(waiting
        .iter()
        .all(|j| j.run_after > t0 && j.failing_since.is_some()));
    assert_eq!(
        count(
            &alert_subjects(&app).await,
            "revocations failing at provider scripted"
        ),
        1,
        "one alert per outage, not per revocation"
    );
    // Back: one canary is released; its success resumes the two others at once.
    script.revoke.lock().unwrap().extend([ok(), ok(), ok()]);
    script
        .introspect
        .lock()
        .unwrap()
        .extend([inactive(), inactive(), inactive()]);
    let now = ownerbound::store::now();
    assert_eq!(
        ownerbound::jobs::health::probe_once(&app.store, now)
            .await
            .unwrap(),
        1
    );
    // A second probe while the canary is due releases nothing more.
    assert_eq!(
        ownerbound::jobs::health::probe_once(&app.store, now)
            .await
            .unwrap(),
        0
    );
    run_due(&worker, now).await;
    // The others were made due when the canary's answer came in.
    run_due(&worker, ownerbound::store::now()).await;
    for item in &items {
        assert_eq!(item_status(&app, item).await, "verified_dead");
    }
}

async fn a_provider_without_a_free_slot_does_not_hold_up_another(app: TestApp) {
    let stuck = Arc::new(Script::default());
    let fine = Arc::new(Script::default());
    fine.revoke.lock().unwrap().push_back(ok());
    fine.introspect.lock().unwrap().push_back(inactive());
    let (stuck_base, fine_base) = (start(stuck), start(fine));
    let person = app
        .create_person(&json!({"emails": ["two@example.com"]}))
        .await;
    app.create_agent(
        &json!({"name": "two-bot", "owner_id": person["id"], "credentials": [
        {"provider": "stuck", "kind": "oauth_access_token", "secret": "stuck-token-0001"},
        {"provider": "fine", "kind": "oauth_access_token", "secret": "fine-token-0001"}]}),
    )
    .await;
    app.post(
        &format!("/api/v1/people/{}/offboard", person["id"].as_str().unwrap()),
        &json!({}),
    )
    .await;
    let provider = |name: &str, base: &str| {
        json!({"name": name, "kind": "oauth2", "max_concurrency": 1,
            "revocation_endpoint": format!("{base}/revoke"), "introspection_endpoint": format!("{base}/introspect")})
    };
    let ctx = app.job_context(
        json!([provider("stuck", &stuck_base), provider("fine", &fine_base)]),
        None,
        ownerbound::jobs::http_client(),
    );
    let worker = Worker::new(ctx.clone());
    worker
        .run_once_at(ownerbound::store::now())
        .await
        .unwrap()
        .unwrap();
    // The stuck provider's one slot is taken (a call that hangs).
    let held = ctx
        .limits
        .acquire(&ctx.providers["stuck"].config, Duration::ZERO)
        .await
        .unwrap();
    let now = ownerbound::store::now();
    let ran = worker.run_once_at(now).await.unwrap().unwrap();
    assert_eq!(ran.provider.as_deref(), Some("fine"));
    let page = ownerbound::store::PageRequest {
        limit: 50,
        after: None,
    };
    let jobs = app.store.list_jobs(None, &page).await.unwrap().items;
    let stuck_job = jobs
        .iter()
        .find(|j| j.provider.as_deref() == Some("stuck"))
        .unwrap();
    assert_eq!(
        (stuck_job.status.as_str(), stuck_job.attempts),
        ("ready", 0)
    );
    assert!(
        stuck_job.run_after <= now,
        "the stuck job was due all along"
    );
    let fine_job = jobs
        .iter()
        .find(|j| j.provider.as_deref() == Some("fine") && j.kind == "revoke")
        .unwrap();
    assert_eq!(fine_job.status, "done");
    assert!(
        worker.run_once_at(now).await.unwrap().is_none(),
        "nothing else can run"
    );
    drop(held);
    let ran = worker.run_once_at(now).await.unwrap().unwrap();
    assert_eq!(ran.provider.as_deref(), Some("stuck"));
}

async fn a_verification_left_unknown_after_the_provider_answered_is_no_outage(app: TestApp) {
    // Revocation accepted, introspection failing: the provider answers, so it is not
    // down (which would resume everything waiting on it at every attempt).
    let script = Arc::new(Script::default());
    script.revoke.lock().unwrap().push_back(ok());
    let base = start(script);
    let (worker, item) = offboard_one(&app, &base).await;
    run_due(&worker, ownerbound::store::now()).await;
    assert_eq!(item_status(&app, &item).await, "revoked_unverified");
    assert_eq!(revoke_job(&app).await.status, "ready");
    assert_ne!(
        provider_state(&app, "scripted").await.as_deref(),
        Some("down")
    );
    assert_eq!(count(&alert_subjects(&app).await, "revocations failing"), 0);
}

async fn a_holder_whose_lease_was_released_changes_nothing(app: TestApp) {
    use std::sync::atomic::Ordering;
    let script = Arc::new(Script::default());
    script.revoke.lock().unwrap().push_back(Answer(
        503,
        vec![],
        json!({}),
        Duration::from_millis(500),
    ));
    let base = start(script.clone());
    let (worker, item) = offboard_one(&app, &base).await;
    let worker = Arc::new(worker);
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once_at(ownerbound::store::now()).await }
    });
    while script.in_flight.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Meanwhile its instance was seen stopped: another holder took the job over and
    // proved the credential dead.
    app.execute_sql("UPDATE jobs SET lease_owner = 'the-new-holder' WHERE kind = 'revoke'")
        .await;
    app.store
        .set_case_item(&item, "verified_dead", Some("proven by the new holder"))
        .await
        .unwrap();
    running.await.unwrap().unwrap();
    let settled = app.store.get_case_item(&item).await.unwrap();
    assert_eq!(settled.status, "verified_dead");
    let job = revoke_job(&app).await;
    assert_eq!(
        (job.status.as_str(), job.lease_owner.as_deref()),
        ("running", Some("the-new-holder"))
    );
}

on_both_engines!(
    a_holder_whose_lease_was_released_changes_nothing,
    a_verification_left_unknown_after_the_provider_answered_is_no_outage,
    a_revocation_is_retried_until_its_deadline_then_escalated_and_revived_when_the_provider_answers,
    a_provider_that_answers_again_resumes_every_waiting_revocation_at_once,
    a_provider_without_a_free_slot_does_not_hold_up_another
);
