use serde_json::Value;

use crate::helpers::{assert_problem, TestApp};
use crate::on_both_engines;

async fn health_endpoints_answer_without_a_token(app: TestApp) {
    let healthz = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
    let readyz = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    let body: Value = readyz.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

async fn request_id_is_echoed_or_generated(app: TestApp) {
    let given = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-abc-123");
    let generated = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

async fn unknown_endpoints_are_json_404s(app: TestApp) {
    assert_problem(app.get("/api/v1/nothing-here").await, 404, "not_found").await;
    let outside = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(outside, 404, "not_found").await;
}

on_both_engines!(
    health_endpoints_answer_without_a_token,
    request_id_is_echoed_or_generated,
    unknown_endpoints_are_json_404s
);
