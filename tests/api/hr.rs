//! HR offboarding webhooks, signed as each vendor signs them.

use base64::Engine as _;
use ownerbound::hr::apply::fire_due;
use ownerbound::hr::config::{Algorithm, HrSourceConfig};
use ownerbound::signing::sign;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{captured_logs, TestApp};
use crate::on_both_engines;

const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STANDARD_ROTATED: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const BAMBOO_SECRET: &str = "bamboo-secret-0123456789abcdef";
const HIBOB_SECRET: &str = "hibob-secret-0123456789abcdef";
const GUSTO_SECRET: &str = "gusto-verification-token-0123";
const DEEL_SECRET: &str = "deel-key-0123456789abcdef";
const PERSONIO_TOKEN: &str = "personio-token-0123456789";
const RIPPLING_TOKEN: &str = "rippling-token-0123456789";
const CUSTOM_SECRET: &str = "custom-github-style-secret-01";
const WORKDAY_BASIC: &str = "bridge:workday-password-123";

/// One source per preset (and per extra scheme), as every test app has them.
pub fn test_sources() -> Vec<HrSourceConfig> {
    serde_json::from_value(json!([
        {"name": "standard", "preset": "standard", "secrets": [STANDARD_ROTATED, STANDARD_SECRET]},
        {"name": "bamboohr", "preset": "bamboohr", "secrets": [BAMBOO_SECRET]},
        {"name": "hibob", "preset": "hibob", "secrets": [HIBOB_SECRET]},
        {"name": "gusto", "preset": "gusto", "secrets": [GUSTO_SECRET]},
        {"name": "deel", "preset": "deel", "secrets": [DEEL_SECRET]},
        {"name": "personio", "preset": "personio", "secrets": [PERSONIO_TOKEN]},
        {"name": "rippling", "preset": "rippling", "secrets": [RIPPLING_TOKEN]},
        {"name": "custom", "preset": "custom", "signature": "github", "secrets": [CUSTOM_SECRET],
         "mapping": {"batch": "/changes", "event_id": "/delivery", "employee_id": "/worker", "email": "/mail",
                     "effective_date": "/last_day",
                     "terminated_if": [{"pointer": "/state", "in": ["gone"]}],
                     "cancelled_if": [{"pointer": "/state", "in": ["staying"]}]}},
        {"name": "workday", "preset": "standard", "signature": "basic", "secrets": [WORKDAY_BASIC]}
    ]))
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A request signed the way `source`'s vendor signs `body`.
fn signed(source: &str, body: &[u8]) -> Vec<(String, String)> {
    let now = chrono::Utc::now().timestamp().to_string();
    let h = |pairs: &[(&str, String)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    match source {
        "standard" => {
            let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
            let key = base64::engine::general_purpose::STANDARD
                .decode(STANDARD_SECRET.trim_start_matches("whsec_"))
                .unwrap();
            let sig = b64(&sign(
                Algorithm::Sha256,
                &key,
                &[format!("{id}.{now}.").as_bytes(), body],
            ));
            h(&[
                ("webhook-id", id),
                ("webhook-timestamp", now),
                ("webhook-signature", format!("v1,{sig}")),
            ])
        }
        "bamboohr" => {
            let sig = hex::encode(sign(
                Algorithm::Sha256,
                BAMBOO_SECRET.as_bytes(),
                &[body, now.as_bytes()],
            ));
            h(&[("X-BambooHR-Signature", sig), ("X-BambooHR-Timestamp", now)])
        }
        "hibob" => h(&[(
            "Bob-Signature",
            b64(&sign(Algorithm::Sha512, HIBOB_SECRET.as_bytes(), &[body])),
        )]),
        "gusto" => h(&[(
            "X-Gusto-Signature",
            hex::encode(sign(Algorithm::Sha256, GUSTO_SECRET.as_bytes(), &[body])),
        )]),
        "deel" => h(&[(
            "x-deel-signature",
            hex::encode(sign(
                Algorithm::Sha256,
                DEEL_SECRET.as_bytes(),
                &[b"POST", body],
            )),
        )]),
        "personio" => h(&[("Authorization", PERSONIO_TOKEN.to_string())]),
        "rippling" => h(&[("Authorization", format!("Bearer {RIPPLING_TOKEN}"))]),
        "custom" => h(&[(
            "X-Hub-Signature-256",
            format!(
                "sha256={}",
                hex::encode(sign(Algorithm::Sha256, CUSTOM_SECRET.as_bytes(), &[body]))
            ),
        )]),
        "workday" => h(&[(
            "Authorization",
            format!("Basic {}", b64(WORKDAY_BASIC.as_bytes())),
        )]),
        other => panic!("no such test source {other}"),
    }
}

async fn post(
    app: &TestApp,
    source: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/hooks/hr/{source}", app.address))
        .header(
            "Content-Type",
            if source == "rippling" {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            },
        )
        .body(body.to_vec());
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Posts `body` to an HR source, signed as that source's vendor signs.
pub async fn post_signed(app: &TestApp, source: &str, body: &[u8]) -> (u16, Value) {
    post(app, source, body, &signed(source, body)).await
}

async fn person_with_hr_id(app: &TestApp, email: &str, source: &str, employee_id: &str) -> String {
    let person = app
        .create_person(&json!({"emails": [email], "hr_ids": {source: employee_id}}))
        .await;
    person["id"].as_str().unwrap().to_string()
}

async fn is_active(app: &TestApp, person: &str) -> bool {
    let p: Value = app
        .get(&format!("/api/v1/people/{person}"))
        .await
        .json()
        .await
        .unwrap();
    p["active"].as_bool().unwrap()
}

/// Every vendor's termination fixture: (source, body, employee id it names).
fn fixtures() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        ("standard", json!({"type": "employee.terminated", "employee": {"id": "std-1", "email": "std@example.com"}}).to_string().into_bytes(), "std-1"),
        ("bamboohr", json!({"employees": [{"action": "Updated", "id": "bb-1", "changedFields": ["status"],
            "fields": {"status": {"value": "Inactive"}}, "timestamp": "2026-11-28T10:00:00Z"}]}).to_string().into_bytes(), "bb-1"),
        ("hibob", json!({"companyId": 1, "type": "employee.left", "triggeredBy": "x", "triggeredAt": "2026-11-28T10:00:00",
            "version": "v2", "data": {"employeeId": "hb-1"}}).to_string().into_bytes(), "hb-1"),
        ("gusto", json!({"uuid": "0d2e-gusto-1", "event_type": "employee.termination_effective", "resource_type": "Company",
            "resource_uuid": "co-1", "entity_type": "Employee", "entity_uuid": "gu-1", "timestamp": 1764324000}).to_string().into_bytes(), "gu-1"),
        ("deel", json!({"data": {"meta": {"event_type": "contract.terminated", "tracking_id": "trk-1"},
            "resource": {"id": "contract-1", "worker": {"id": "de-1", "email": "deel@example.com"}}},
            "timestamp": "2026-11-28T10:00:00Z"}).to_string().into_bytes(), "de-1"),
        ("personio", json!({"company_id": 7, "event_name": "employment.terminated", "occurred_at": "2026-11-01T00:00:00Z",
            "payload": {"person_id": "pe-1"}, "meta": {}}).to_string().into_bytes(), "pe-1"),
        ("rippling", b"event_name=employee.terminated&company_id=c-1&id=ri-1".to_vec(), "ri-1"),
        ("custom", json!({"delivery": "d-1", "changes": [{"worker": "cu-1", "state": "gone"}]}).to_string().into_bytes(), "cu-1"),
        ("workday", json!({"type": "employee.terminated", "employee": {"id": "wd-1"}}).to_string().into_bytes(), "wd-1"),
    ]
}

async fn every_preset_accepts_its_vendor_signature_and_refuses_one_changed_byte(app: TestApp) {
    for (source, body, employee) in fixtures() {
        let person =
            person_with_hr_id(&app, &format!("{employee}@example.com"), source, employee).await;
        let headers = signed(source, &body);
        // Token and Basic schemes authenticate the sender, not the content: for them
        // the changed byte is in the credential.
        let token_scheme = matches!(source, "personio" | "rippling" | "workday");
        let (mut tampered_body, mut tampered_headers) = (body.clone(), headers.clone());
        if token_scheme {
            let value = &mut tampered_headers[0].1;
            let last = value.pop().unwrap();
            value.push(if last == 'A' { 'B' } else { 'A' });
        } else {
            let last = tampered_body.len() - 2;
            tampered_body[last] ^= 0x01;
        }
        let before = app.row_counts().await;
        let (status, answer) = post(&app, source, &tampered_body, &tampered_headers).await;
        assert_eq!(status, 401, "{source}: {answer}");
        let after = app.row_counts().await;
        for ((table, b), (_, a)) in before.iter().zip(after.iter()) {
            // One audit line, and the source's refusal counter (a new row the first time).
            let allowed = match table.as_str() {
                "audit_log" | "hr_refusals" => 1,
                _ => 0,
            };
            assert!(
                *a - *b <= allowed && *a >= *b,
                "{source}: {table} changed from {b} to {a}"
            );
        }
        assert!(
            is_active(&app, &person).await,
            "{source}: a refused webhook deactivated someone"
        );

        let (status, answer) = post(&app, source, &body, &headers).await;
        assert_eq!(status, 200, "{source}: {answer}");
        assert_eq!(answer["status"], "accepted", "{source}");
        assert_eq!(answer["outcome"]["applied"], 1, "{source}: {answer}");
        assert!(!is_active(&app, &person).await, "{source}: not deactivated");
        assert_eq!(
            app.lifecycle_events(&person).await,
            vec![("person-deactivated".to_string(), format!("hr:{source}"))]
        );
    }
    let refusals: Value = app.get("/api/v1/hr/refusals").await.json().await.unwrap();
    assert_eq!(
        refusals["items"].as_array().unwrap().len(),
        fixtures().len()
    );
}

async fn redeliveries_are_applied_once_and_sources_agree_on_one_event(app: TestApp) {
    let person = person_with_hr_id(&app, "once@example.com", "standard", "e-1").await;
    let body = json!({"type": "employee.terminated", "employee": {"id": "e-1"}}).to_string();
    let headers = signed("standard", body.as_bytes());
    let (status, first) = post(&app, "standard", body.as_bytes(), &headers).await;
    assert_eq!((status, first["status"].clone()), (200, json!("accepted")));
    let (status, again) = post(&app, "standard", body.as_bytes(), &headers).await;
    assert_eq!((status, again["status"].clone()), (200, json!("duplicate")));
    // Without an event id (HiBob), the body hash deduplicates.
    app.patch(
        &format!("/api/v1/people/{person}"),
        &json!({"hr_ids": {"hibob": "hb-9"}}),
    )
    .await;
    let hibob = json!({"type": "employee.left", "data": {"employeeId": "hb-9"}}).to_string();
    for expected in ["accepted", "duplicate"] {
        let (status, answer) = post(
            &app,
            "hibob",
            hibob.as_bytes(),
            &signed("hibob", hibob.as_bytes()),
        )
        .await;
        assert_eq!((status, answer["status"].clone()), (200, json!(expected)));
    }
    // Another source and SCIM reporting the same departure add no second event.
    let token = app.scim_token().await;
    let (status, _, _) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{person}"),
            Some(&json!({"Operations": [
            {"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.lifecycle_events(&person).await.len(), 1);
    let inbox: Value = app.get("/api/v1/hr/events").await.json().await.unwrap();
    assert_eq!(inbox["items"].as_array().unwrap().len(), 2);
}

async fn stale_timestamps_wrong_secrets_and_rotation(app: TestApp) {
    let person = person_with_hr_id(&app, "rot@example.com", "standard", "r-1").await;
    let body = json!({"type": "employee.terminated", "employee": {"id": "r-1"}}).to_string();
    // Signed with the *second* configured secret: rotation works either way round.
    let mut headers = signed("standard", body.as_bytes());
    let stale_ts = (chrono::Utc::now().timestamp() - 600).to_string();
    let id = "msg_stale";
    let key = base64::engine::general_purpose::STANDARD
        .decode(STANDARD_SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let stale_sig = b64(&sign(
        Algorithm::Sha256,
        &key,
        &[format!("{id}.{stale_ts}.").as_bytes(), body.as_bytes()],
    ));
    let stale = vec![
        ("webhook-id".to_string(), id.to_string()),
        ("webhook-timestamp".to_string(), stale_ts),
        ("webhook-signature".to_string(), format!("v1,{stale_sig}")),
    ];
    assert_eq!(post(&app, "standard", body.as_bytes(), &stale).await.0, 401);
    let wrong_key = b"another-secret-entirely-32-bytes";
    let ts = chrono::Utc::now().timestamp().to_string();
    let wrong = vec![
        ("webhook-id".to_string(), "msg_wrong".to_string()),
        ("webhook-timestamp".to_string(), ts.clone()),
        (
            "webhook-signature".to_string(),
            format!(
                "v1,{}",
                b64(&sign(
                    Algorithm::Sha256,
                    wrong_key,
                    &[format!("msg_wrong.{ts}.").as_bytes(), body.as_bytes()]
                ))
            ),
        ),
    ];
    assert_eq!(post(&app, "standard", body.as_bytes(), &wrong).await.0, 401);
    assert_eq!(post(&app, "standard", body.as_bytes(), &[]).await.0, 401);
    assert!(is_active(&app, &person).await);
    let refusals: Value = app.get("/api/v1/hr/refusals").await.json().await.unwrap();
    let reasons: Vec<&str> = refusals["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["bad_signature", "missing_signature", "stale_timestamp"]
    );
    headers.retain(|_| true);
    assert_eq!(
        post(&app, "standard", body.as_bytes(), &headers).await.0,
        200
    );
    assert!(!is_active(&app, &person).await);
}

async fn bamboohr_batch_fans_out(app: TestApp) {
    let a = person_with_hr_id(&app, "a@example.com", "bamboohr", "101").await;
    let b = person_with_hr_id(&app, "b@example.com", "bamboohr", "102").await;
    let c = person_with_hr_id(&app, "c@example.com", "bamboohr", "103").await;
    let body = json!({"employees": [
        {"action": "Updated", "id": "101", "fields": {"status": {"value": "Inactive"}}},
        {"action": "Updated", "id": "102", "fields": {"jobTitle": {"value": "VP"}}},
        {"action": "Deleted", "id": "103", "fields": {}},
        {"action": "Updated", "id": "999", "fields": {"status": {"value": "Inactive"}}}
    ]})
    .to_string();
    let (status, answer) = post(
        &app,
        "bamboohr",
        body.as_bytes(),
        &signed("bamboohr", body.as_bytes()),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["outcome"],
        json!({"applied": 2, "scheduled": 0, "unmatched": 1, "cancelled": 0, "noted": 0})
    );
    assert!(!is_active(&app, &a).await && is_active(&app, &b).await && !is_active(&app, &c).await);
    let unmatched: Value = app
        .get("/api/v1/hr/terminations?status=unmatched")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unmatched["items"][0]["employee_id"], "999");
}

async fn future_terminations_fire_when_due_unless_cancelled(app: TestApp) {
    let leaving = person_with_hr_id(&app, "leaving@example.com", "standard", "f-1").await;
    let staying = person_with_hr_id(&app, "staying@example.com", "standard", "f-2").await;
    let in_a_week = chrono::Utc::now() + chrono::Duration::days(7);
    for employee in ["f-1", "f-2"] {
        let body = json!({"type": "employee.terminated", "employee": {"id": employee}, "effective_at": in_a_week.to_rfc3339()}).to_string();
        let (status, answer) = post(
            &app,
            "standard",
            body.as_bytes(),
            &signed("standard", body.as_bytes()),
        )
        .await;
        assert_eq!(
            (status, answer["outcome"]["scheduled"].clone()),
            (200, json!(1))
        );
    }
    let cancel =
        json!({"type": "employee.termination_cancelled", "employee": {"id": "f-2"}}).to_string();
    let (status, answer) = post(
        &app,
        "standard",
        cancel.as_bytes(),
        &signed("standard", cancel.as_bytes()),
    )
    .await;
    assert_eq!(
        (status, answer["outcome"]["cancelled"].clone()),
        (200, json!(1))
    );
    // Nothing is due yet.
    assert_eq!(fire_due(&app.store, chrono::Utc::now()).await.unwrap(), 0);
    assert!(is_active(&app, &leaving).await);
    // A week later (the schedule lives in the database, so a restart loses nothing).
    assert_eq!(
        fire_due(&app.store, in_a_week + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert!(!is_active(&app, &leaving).await);
    assert!(is_active(&app, &staying).await);
    assert_eq!(app.lifecycle_events(&leaving).await.len(), 1);
    // A rehire is noted and restores nothing.
    let rehire = json!({"type": "employee.rehired", "employee": {"id": "f-1"}}).to_string();
    let (status, answer) = post(
        &app,
        "standard",
        rehire.as_bytes(),
        &signed("standard", rehire.as_bytes()),
    )
    .await;
    assert_eq!(
        (status, answer["outcome"]["noted"].clone()),
        (200, json!(1))
    );
    assert!(!is_active(&app, &leaving).await);
}

async fn an_unmatched_employee_applies_once_linked(app: TestApp) {
    let body = json!({"type": "employee.terminated", "employee": {"id": "ghost-7"}}).to_string();
    let (status, answer) = post(
        &app,
        "standard",
        body.as_bytes(),
        &signed("standard", body.as_bytes()),
    )
    .await;
    assert_eq!(
        (status, answer["outcome"]["unmatched"].clone()),
        (200, json!(1))
    );
    let person = app
        .create_person(&json!({"emails": ["late@example.com"]}))
        .await;
    let id = person["id"].as_str().unwrap();
    assert!(is_active(&app, id).await);
    let linked = app
        .patch(
            &format!("/api/v1/people/{id}"),
            &json!({"hr_ids": {"standard": "ghost-7"}}),
        )
        .await;
    assert_eq!(linked.status(), 200);
    assert!(!is_active(&app, id).await);
    assert_eq!(
        app.lifecycle_events(id).await,
        vec![("person-deactivated".to_string(), "hr:standard".to_string())]
    );
    let unmatched: Value = app
        .get("/api/v1/hr/terminations?status=unmatched")
        .await
        .json()
        .await
        .unwrap();
    assert!(unmatched["items"].as_array().unwrap().is_empty());
}

async fn bad_requests_are_refused_without_storing_or_logging_them(app: TestApp) {
    let marker = "raw-body-marker-7f3a";
    let before = app.row_counts().await;
    let body =
        format!("{{\"type\": \"employee.terminated\", \"employee\": {{\"id\": \"{marker}\"}}}}");
    assert_eq!(
        post(&app, "nosuchsource", body.as_bytes(), &[]).await.0,
        401
    );
    assert_eq!(post(&app, "standard", body.as_bytes(), &[]).await.0, 401);
    let big = vec![b'x'; crate::helpers::TEST_MAX_BODY + 1];
    assert_eq!(
        post(&app, "standard", &big, &signed("standard", &big))
            .await
            .0,
        413
    );
    let after = app.row_counts().await;
    assert_eq!(
        after.iter().find(|(t, _)| t == "hr_inbox"),
        before.iter().find(|(t, _)| t == "hr_inbox")
    );
    // Verified but meaningless: 400, stored as rejected with the reason.
    let garbage = format!("{{\"type\": \"employee.terminated\", \"note\": \"{marker}\"}}");
    let (status, answer) = post(
        &app,
        "standard",
        garbage.as_bytes(),
        &signed("standard", garbage.as_bytes()),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let inbox: Value = app.get("/api/v1/hr/events").await.json().await.unwrap();
    assert_eq!(inbox["items"][0]["status"], "rejected");
    assert!(inbox["items"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("employee"));
    // Handshakes answer 200 and store nothing.
    let ping = json!({"type": "Ping test"}).to_string();
    assert_eq!(
        post(
            &app,
            "hibob",
            ping.as_bytes(),
            &signed("hibob", ping.as_bytes())
        )
        .await
        .0,
        200
    );
    let verification =
        json!({"verification_token": "gusto-token-from-gusto", "uuid": "sub-1"}).to_string();
    let armed = app
        .post("/api/v1/hr/sources/gusto/verification", &json!({}))
        .await;
    assert_eq!(armed.status(), 200);
    assert_eq!(
        post(&app, "gusto", verification.as_bytes(), &[]).await.0,
        200
    );
    let inbox: Value = app.get("/api/v1/hr/events").await.json().await.unwrap();
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);
    let logs = captured_logs();
    for secret in [
        marker,
        STANDARD_SECRET,
        BAMBOO_SECRET,
        HIBOB_SECRET,
        GUSTO_SECRET,
        PERSONIO_TOKEN,
        "gusto-token-from-gusto",
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
    let audit = app
        .get("/api/v1/audit?limit=1000")
        .await
        .text()
        .await
        .unwrap();
    assert!(!audit.contains(STANDARD_SECRET) && !audit.contains("gusto-token-from-gusto"));
}

async fn gusto_acts_on_the_effective_date_and_cancellations_undo_notices(app: TestApp) {
    let leaving = person_with_hr_id(&app, "g1@example.com", "gusto", "gu-10").await;
    let staying = person_with_hr_id(&app, "g2@example.com", "gusto", "gu-20").await;
    let event = |uuid: &str, kind: &str, employee: &str| {
        json!({"uuid": uuid, "event_type": kind, "entity_type": "Employee", "entity_uuid": employee}).to_string()
    };
    for (uuid, kind, employee) in [
        ("u1", "employee.terminated", "gu-10"),
        ("u2", "employee.terminated", "gu-20"),
        ("u3", "employee.termination_cancelled", "gu-20"),
    ] {
        let body = event(uuid, kind, employee);
        assert_eq!(
            post(
                &app,
                "gusto",
                body.as_bytes(),
                &signed("gusto", body.as_bytes())
            )
            .await
            .0,
            200
        );
    }
    // Entered, not yet effective: nobody is deactivated yet.
    assert!(is_active(&app, &leaving).await && is_active(&app, &staying).await);
    let pending: Value = app
        .get("/api/v1/hr/terminations?status=pending")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    let effective = event("u4", "employee.termination_effective", "gu-10");
    let (status, answer) = post(
        &app,
        "gusto",
        effective.as_bytes(),
        &signed("gusto", effective.as_bytes()),
    )
    .await;
    assert_eq!(
        (status, answer["outcome"]["applied"].clone()),
        (200, json!(1))
    );
    assert!(!is_active(&app, &leaving).await);
    assert!(is_active(&app, &staying).await);
    let pending: Value = app
        .get("/api/v1/hr/terminations?status=pending")
        .await
        .json()
        .await
        .unwrap();
    assert!(pending["items"].as_array().unwrap().is_empty());
}

async fn bamboohr_iso_timestamps_and_display_field_names(app: TestApp) {
    let person = person_with_hr_id(&app, "iso@example.com", "bamboohr", "bb-77").await;
    let body = json!({"employees": [{"action": "Updated", "id": "bb-77",
        "fields": {"Employment Status": {"value": "Terminated"}}}]})
    .to_string();
    let ts = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+0000")
        .to_string();
    let sig = hex::encode(sign(
        Algorithm::Sha256,
        BAMBOO_SECRET.as_bytes(),
        &[body.as_bytes(), ts.as_bytes()],
    ));
    let headers = vec![
        ("X-BambooHR-Signature".to_string(), sig),
        ("X-BambooHR-Timestamp".to_string(), ts),
    ];
    let (status, answer) = post(&app, "bamboohr", body.as_bytes(), &headers).await;
    assert_eq!(
        (status, answer["outcome"]["applied"].clone()),
        (200, json!(1)),
        "{answer}"
    );
    assert!(!is_active(&app, &person).await);
}

async fn a_cancellation_from_one_source_does_not_cancel_another_sources_departure(app: TestApp) {
    let person = person_with_hr_id(&app, "x@example.com", "standard", "x-1").await;
    app.patch(
        &format!("/api/v1/people/{person}"),
        &json!({"hr_ids": {"gusto": "gx-1"}}),
    )
    .await;
    let later = chrono::Utc::now() + chrono::Duration::days(3);
    let body = json!({"type": "employee.terminated", "employee": {"id": "x-1"}, "effective_at": later.to_rfc3339()}).to_string();
    assert_eq!(
        post(
            &app,
            "standard",
            body.as_bytes(),
            &signed("standard", body.as_bytes())
        )
        .await
        .0,
        200
    );
    let rehire =
        json!({"uuid": "r1", "event_type": "employee.rehired", "entity_uuid": "gx-1"}).to_string();
    let (status, answer) = post(
        &app,
        "gusto",
        rehire.as_bytes(),
        &signed("gusto", rehire.as_bytes()),
    )
    .await;
    assert_eq!(
        (status, answer["outcome"]["cancelled"].clone()),
        (200, json!(0))
    );
    assert_eq!(
        fire_due(&app.store, later + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert!(!is_active(&app, &person).await);
}

async fn a_body_once_rejected_is_not_taken_for_a_redelivery_later(app: TestApp) {
    let person = person_with_hr_id(&app, "fixed@example.com", "hibob", "hb-5").await;
    let body = br#"{"type":"employee.left","data":{"employeeId":"hb-5"}}"#;
    // Stored as rejected under its own key space (as if a mapping had been wrong)…
    ownerbound::hr::apply::record_rejected(
        &app.store,
        "hibob",
        &format!(
            "rejected:{}",
            ownerbound::store::hr::body_dedupe_key("hibob", body)
        ),
        body,
        "mapping was wrong",
    )
    .await
    .unwrap();
    // …then delivered again and understood: applied, not "duplicate".
    let (status, answer) = post(&app, "hibob", body, &signed("hibob", body)).await;
    assert_eq!(
        (status, answer["status"].clone()),
        (200, json!("accepted")),
        "{answer}"
    );
    assert!(!is_active(&app, &person).await);
}

async fn a_flood_of_forged_requests_is_counted_without_a_write_each(app: TestApp) {
    let body = json!({"type": "employee.terminated", "employee": {"id": "nobody"}}).to_string();
    let before = app.row_counts().await;
    for _ in 0..50 {
        let forged = vec![("Authorization".to_string(), "not-the-token".to_string())];
        assert_eq!(
            post(&app, "personio", body.as_bytes(), &forged).await.0,
            401
        );
    }
    let after = app.row_counts().await;
    let audit = |counts: &[(String, i64)]| counts.iter().find(|(t, _)| t == "audit_log").unwrap().1;
    assert_eq!(
        audit(&after) - audit(&before),
        1,
        "one audit line, not fifty"
    );
    let refusals: Value = app.get("/api/v1/hr/refusals").await.json().await.unwrap();
    assert_eq!(refusals["items"][0]["count"], 50);
}

on_both_engines!(
    a_flood_of_forged_requests_is_counted_without_a_write_each,
    gusto_acts_on_the_effective_date_and_cancellations_undo_notices,
    bamboohr_iso_timestamps_and_display_field_names,
    a_cancellation_from_one_source_does_not_cancel_another_sources_departure,
    a_body_once_rejected_is_not_taken_for_a_redelivery_later,
    every_preset_accepts_its_vendor_signature_and_refuses_one_changed_byte,
    redeliveries_are_applied_once_and_sources_agree_on_one_event,
    stale_timestamps_wrong_secrets_and_rotation,
    bamboohr_batch_fans_out,
    future_terminations_fire_when_due_unless_cancelled,
    an_unmatched_employee_applies_once_linked,
    bad_requests_are_refused_without_storing_or_logging_them
);

/// PostgreSQL only: the database stops accepting connections mid-flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_database_answers_503_so_the_sender_retries() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Engine::Postgres).await else {
        return;
    };
    let person = person_with_hr_id(&app, "retry@example.com", "standard", "503-1").await;
    let name = url::Url::parse(&app.database_url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let admin_url = std::env::var("OWNERBOUND_TEST_POSTGRES_URL").unwrap();
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    let block = |allow: bool| {
        let (admin, name) = (admin.clone(), name.clone());
        async move {
            sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
                .execute(&admin)
                .await
                .unwrap();
            if !allow {
                sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
                    .bind(&name)
                    .execute(&admin)
                    .await
                    .unwrap();
            }
        }
    };
    let body = json!({"type": "employee.terminated", "employee": {"id": "503-1"}}).to_string();
    let headers = signed("standard", body.as_bytes());
    block(false).await;
    let (status, answer) = post(&app, "standard", body.as_bytes(), &headers).await;
    block(true).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["code"], "database_unavailable");
    // The sender's retry is applied, once.
    let (status, answer) = post(&app, "standard", body.as_bytes(), &headers).await;
    assert_eq!((status, answer["status"].clone()), (200, json!("accepted")));
    assert!(!is_active(&app, &person).await);
}

/// A departure scheduled by one instance fires in the next, after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_termination_survives_a_restart_and_fires_when_due() {
    use ownerbound::config::Settings;
    use ownerbound::startup::Application;
    use secrecy::SecretString;

    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("restart.db").display());
    let token = "ob_restart_test_admin_token_0123";
    let settings = |interval: u64| Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(database_url.clone()),
        master_key: Some(SecretString::from("cd".repeat(32))),
        bootstrap_admin_token: Some(SecretString::from(token)),
        hr_sources: test_sources(),
        hr_scheduler_interval_seconds: interval,
        ..Settings::default()
    };
    let client = reqwest::Client::new();

    // First instance: the departure is a week away.
    let first = Application::build(settings(3600)).await.unwrap();
    let base = format!("http://127.0.0.1:{}", first.port());
    let stop = first.shutdown_token();
    let running = tokio::spawn(first.run_until_stopped());
    let person: Value = client
        .post(format!("{base}/api/v1/people"))
        .bearer_auth(token)
        .json(&json!({"emails": ["restart@example.com"], "hr_ids": {"standard": "rs-1"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = person["id"].as_str().unwrap().to_string();
    let next_week = chrono::Utc::now() + chrono::Duration::days(7);
    let body = json!({"type": "employee.terminated", "employee": {"id": "rs-1"}, "effective_at": next_week.to_rfc3339()}).to_string();
    let mut request = client
        .post(format!("{base}/hooks/hr/standard"))
        .header("Content-Type", "application/json")
        .body(body.clone());
    for (k, v) in signed("standard", body.as_bytes()) {
        request = request.header(k, v);
    }
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["outcome"]["scheduled"], 1);
    stop.cancel();
    running.await.unwrap().unwrap();

    // The week passes while the service is down.
    let pool = sqlx::SqlitePool::connect(&database_url).await.unwrap();
    sqlx::query("UPDATE hr_terminations SET effective_at = $1 WHERE status = 'scheduled'")
        .bind(ownerbound::store::now() - chrono::Duration::minutes(1))
        .execute(&pool)
        .await
        .unwrap();

    // Second instance: its scheduler catches up at start.
    let second = Application::build(settings(1)).await.unwrap();
    let base = format!("http://127.0.0.1:{}", second.port());
    let stop = second.shutdown_token();
    tokio::spawn(second.run_until_stopped());
    let mut active = true;
    for _ in 0..300 {
        let person: Value = client
            .get(format!("{base}/api/v1/people/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        active = person["active"].as_bool().unwrap();
        if !active {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop.cancel();
    assert!(
        !active,
        "the scheduled termination never fired after the restart"
    );
}
