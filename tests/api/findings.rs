//! Findings of the weekly report: each rule, with data that triggers it and data
//! that does not; the API's filters, paging and counts; no secret in any answer.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use ownerbound::findings::{
    Catalogue, FindingFilter, FindingKind, Findings, FindingsConfig, Period, Severity,
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};
use crate::on_both_engines;

/// `GET /api/v1/findings?{query}`, asserting 200.
async fn findings(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/findings?{query}")).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "findings: {body}");
    body
}

/// The findings of one kind (all pages).
async fn of_kind(app: &TestApp, kind: &str) -> Vec<Value> {
    findings(app, &format!("kind={kind}&limit=1000")).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn about_agent<'a>(items: &'a [Value], agent: &Value) -> Option<&'a Value> {
    items.iter().find(|f| f["agent"]["id"] == agent["id"])
}

fn about_credential<'a>(items: &'a [Value], credential_id: &str) -> Option<&'a Value> {
    items.iter().find(|f| f["credential_id"] == credential_id)
}

/// The id of the agent's credential with this `external_id`, or this `provider`.
fn credential_id(agent: &Value, external_id_or_provider: &str) -> String {
    agent["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["external_id"] == external_id_or_provider || c["provider"] == external_id_or_provider
        })
        .unwrap_or_else(|| panic!("no credential {external_id_or_provider} in {agent}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A time as both engines store it (RFC 3339, `+00:00`).
fn sql_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

fn ago(hours: i64) -> String {
    (Utc::now() - Duration::hours(hours)).to_rfc3339()
}

async fn orphaned_agents_are_found_but_owned_ones_are_not(app: TestApp) {
    let mona = app
        .create_person(&json!({"display_name": "Mona Manager", "emails": ["mona@example.com"]}))
        .await;
    let ada = app
        .create_person(&json!({"display_name": "Ada", "emails": ["ada@example.com"]}))
        .await;
    let bob = app
        .create_person(
            &json!({"display_name": "Bob", "emails": ["bob@example.com"],
                               "manager_id": mona["id"], "active": false}),
        )
        .await;
    let owned = app
        .create_agent(&json!({"name": "ada-bot", "owner_id": ada["id"]}))
        .await;
    let departed = app
        .create_agent(
            &json!({"name": "bob-bot", "owner_id": bob["id"], "credentials": [
            {"provider": "github", "kind": "api_key", "external_id": "bob-key"}]}),
        )
        .await;
    let shadow = app
        .create_agent(&json!({"name": "shadow-bot", "owner_email": "nobody@example.com"}))
        .await;

    let orphans = of_kind(&app, "orphaned_agent").await;
    assert!(about_agent(&orphans, &owned).is_none(), "{orphans:?}");
    let bob_orphan = about_agent(&orphans, &departed).expect("bob's agent");
    assert_eq!(bob_orphan["severity"], "critical", "live credential");
    assert_eq!(bob_orphan["facts"]["reason"], "owner_inactive");
    assert_eq!(bob_orphan["facts"]["live_credentials"], 1);
    assert_eq!(bob_orphan["owner"]["display_name"], "Bob");
    assert_eq!(bob_orphan["owner"]["email"], "bob@example.com");
    assert_eq!(bob_orphan["owner"]["manager_name"], "Mona Manager");
    let shadow_orphan = about_agent(&orphans, &shadow).expect("shadow agent");
    assert_eq!(shadow_orphan["severity"], "high");
    assert_eq!(shadow_orphan["facts"]["reason"], "owner_unresolved");
    assert_eq!(shadow_orphan["owner"]["id"], Value::Null);
    assert_eq!(shadow_orphan["owner"]["email"], "nobody@example.com");

    // Once its credential is dead, the orphan is still listed, less urgently.
    app.execute_sql(&format!(
        "UPDATE credentials SET status = 'verified_dead' WHERE id = '{}'",
        credential_id(&departed, "bob-key")
    ))
    .await;
    let orphans = of_kind(&app, "orphaned_agent").await;
    assert_eq!(
        about_agent(&orphans, &departed).unwrap()["severity"],
        "medium"
    );
}

/// Dave owns two agents: one on a manual provider (a task for a human), one on a
/// provider nobody configured (a failed revocation). Offboards him.
async fn offboard_dave(app: &TestApp) -> (Value, Value) {
    let dave = app
        .create_person(&json!({"display_name": "Dave", "emails": ["dave@example.com"]}))
        .await;
    let manual = app
        .create_agent(
            &json!({"name": "dave-manual", "owner_id": dave["id"], "credentials": [
            {"provider": "it-desk", "kind": "service_account_key", "external_id": "sa-dave"}]}),
        )
        .await;
    let failing = app
        .create_agent(
            &json!({"name": "dave-failing", "owner_id": dave["id"], "credentials": [
            {"provider": "nowhere", "kind": "api_key", "external_id": "key-dave"}]}),
        )
        .await;
    let id = dave["id"].as_str().unwrap();
    let response = app
        .post(&format!("/api/v1/people/{id}/offboard"), &json!({}))
        .await;
    assert_eq!(response.status(), 202);
    app.run_jobs().await;
    (manual, failing)
}

async fn revocation_outcomes_become_findings_by_item_status(app: TestApp) {
    let (manual, failing) = offboard_dave(&app).await;
    let manual_cred = credential_id(&manual, "sa-dave");
    let failing_cred = credential_id(&failing, "key-dave");

    let tasks = of_kind(&app, "manual_task_open").await;
    let task = about_credential(&tasks, &manual_cred).expect("manual task");
    assert_eq!(task["severity"], "medium", "fresh task");
    assert_eq!(task["agent"]["name"], "dave-manual");
    assert_eq!(task["owner"]["display_name"], "Dave");
    assert!(task["action"].as_str().unwrap().contains("/confirm"));
    assert!(about_credential(&tasks, &failing_cred).is_none());

    let failed = of_kind(&app, "revocation_failed").await;
    let failure = about_credential(&failed, &failing_cred).expect("failed revocation");
    assert_eq!(failure["severity"], "high");
    assert_eq!(failure["facts"]["item_status"], "needs_attention");
    assert_eq!(failure["facts"]["job"]["status"], "dead");
    assert!(about_credential(&failed, &manual_cred).is_none());
    // The revocation's dead job is reported with its item; the alerts that could not
    // be sent (no SMTP here) are dead jobs of their own.
    let dead = of_kind(&app, "job_dead").await;
    assert!(dead.iter().all(|f| f["facts"]["job_kind"] != "revoke"));
    assert!(dead.iter().any(|f| f["facts"]["job_kind"] == "alert"));

    // A task open for four days is stale.
    let four_days_ago = sql_time(Utc::now() - Duration::days(4));
    app.execute_sql(&format!(
        "UPDATE offboarding_items SET updated_at = '{four_days_ago}' WHERE credential_id = '{manual_cred}'"
    ))
    .await;
    let tasks = of_kind(&app, "manual_task_open").await;
    let task = about_credential(&tasks, &manual_cred).unwrap();
    assert_eq!(task["severity"], "high");
    assert!(task["facts"]["age_hours"].as_i64().unwrap() >= 95);
    // With staleness "off" it stays medium (and PostgreSQL takes the bound).
    let catalogue = Catalogue::from_config(&FindingsConfig {
        manual_task_stale_after: "off".into(),
        ..FindingsConfig::default()
    })
    .unwrap();
    let never_stale = Findings::new(&app.store, &catalogue, Period::last_days(7));
    let filter = FindingFilter {
        kinds: vec![FindingKind::ManualTaskOpen],
        ..FindingFilter::default()
    };
    let page = never_stale.page(&filter, None, 100).await.unwrap();
    let task = page
        .items
        .iter()
        .find(|f| f.credential_id.as_deref() == Some(manual_cred.as_str()))
        .unwrap();
    assert_eq!(task.severity, Severity::Medium);
    // The credential died through another case: the task is settled, not open.
    app.execute_sql(&format!(
        "UPDATE credentials SET status = 'verified_dead' WHERE id = '{manual_cred}'"
    ))
    .await;
    assert!(about_credential(&of_kind(&app, "manual_task_open").await, &manual_cred).is_none());

    // Still alive after revocation: critical.
    let set_status = |status: &str, at: DateTime<Utc>| {
        format!(
            "UPDATE offboarding_items SET status = '{status}', updated_at = '{}' WHERE credential_id = '{failing_cred}'",
            sql_time(at)
        )
    };
    app.execute_sql(&set_status("still_alive", Utc::now()))
        .await;
    let alive = of_kind(&app, "revocation_still_alive").await;
    assert_eq!(
        about_credential(&alive, &failing_cred).unwrap()["severity"],
        "critical"
    );
    assert!(about_credential(&of_kind(&app, "revocation_failed").await, &failing_cred).is_none());

    // Verification unknown: unverified; proven dead: informational, in its period only.
    app.execute_sql(&set_status("revoked_unverified", Utc::now()))
        .await;
    app.execute_sql("UPDATE jobs SET status = 'ready' WHERE kind = 'revoke'")
        .await;
    let unverified = of_kind(&app, "revocation_unverified").await;
    assert_eq!(
        about_credential(&unverified, &failing_cred).unwrap()["severity"],
        "high"
    );
    app.execute_sql(&set_status("verified_dead", Utc::now()))
        .await;
    let verified = of_kind(&app, "revocation_verified").await;
    let proof = about_credential(&verified, &failing_cred).expect("verified this week");
    assert_eq!(proof["severity"], "info");
    assert!(proof["facts"]["verified_at"].is_string());
    app.execute_sql(&set_status(
        "verified_dead",
        Utc::now() - Duration::days(30),
    ))
    .await;
    assert!(about_credential(&of_kind(&app, "revocation_verified").await, &failing_cred).is_none());
    let from = (Utc::now() - Duration::days(40)).to_rfc3339();
    let older = findings(
        &app,
        &format!("kind=revocation_verified&from={}", urlencode(&from)),
    )
    .await;
    assert!(about_credential(older["items"].as_array().unwrap(), &failing_cred).is_some());
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn shared_credentials_and_collateral_are_found(app: TestApp) {
    let ada = app
        .create_person(&json!({"display_name": "Ada", "emails": ["ada@example.com"]}))
        .await;
    let bob = app
        .create_person(&json!({"display_name": "Bob", "emails": ["bob@example.com"]}))
        .await;
    let cross = json!({"provider": "github", "kind": "api_key", "secret": "ghp-cross-owner-0001"});
    let same = json!({"provider": "slack", "kind": "api_key", "secret": "xoxb-same-owner-0002"});
    let alone = json!({"provider": "okta", "kind": "api_key", "secret": "okta-alone-0003"});
    let ada_1 = app
        .create_agent(
            &json!({"name": "ada-1", "owner_id": ada["id"], "credentials": [cross, same, alone]}),
        )
        .await;
    app.create_agent(&json!({"name": "ada-2", "owner_id": ada["id"], "credentials": [same]}))
        .await;
    let bob_1 = app
        .create_agent(&json!({"name": "bob-1", "owner_id": bob["id"], "credentials": [cross]}))
        .await;
    let (cross_id, same_id, alone_id) = (
        credential_id(&ada_1, "github"),
        credential_id(&ada_1, "slack"),
        credential_id(&ada_1, "okta"),
    );

    let shared = of_kind(&app, "shared_credential").await;
    let across = about_credential(&shared, &cross_id).expect("shared across owners");
    assert_eq!(across["severity"], "high");
    assert_eq!(across["facts"]["owner_count"], 2);
    assert_eq!(across["facts"]["agents"].as_array().unwrap().len(), 2);
    let within = about_credential(&shared, &same_id).expect("shared by one owner's agents");
    assert_eq!(within["severity"], "low");
    assert!(
        about_credential(&shared, &alone_id).is_none(),
        "one agent is not sharing"
    );

    // No departure yet: no collateral.
    assert!(of_kind(&app, "collateral").await.is_empty());
    let id = ada["id"].as_str().unwrap();
    app.post(&format!("/api/v1/people/{id}/offboard"), &json!({}))
        .await;
    app.run_jobs().await;
    let collateral = of_kind(&app, "collateral").await;
    assert_eq!(collateral.len(), 1, "only Bob's agent: {collateral:?}");
    let hit = &collateral[0];
    assert_eq!(hit["agent"]["id"], bob_1["id"]);
    assert_eq!(hit["owner"]["display_name"], "Bob");
    assert_eq!(hit["credential_id"], cross_id.as_str());
    assert_eq!(hit["facts"]["departed_person_id"], ada["id"]);
    assert_eq!(hit["severity"], "high");
}

async fn broad_and_unused_scopes_are_found(app: TestApp) {
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let broad = app
        .create_agent(
            &json!({"name": "mailer", "owner_id": ada["id"], "credentials": [
            {"provider": "graph", "kind": "api_key", "external_id": "g1",
             "scopes": ["Mail.ReadWrite", "User.Read", "Sites.ReadWrite.All"]}]}),
        )
        .await;
    let narrow = app
        .create_agent(
            &json!({"name": "reader", "owner_id": ada["id"], "used_scopes": "User.Read",
            "credentials": [{"provider": "graph", "kind": "api_key", "external_id": "g2",
                             "scopes": "User.Read Calendars.Read"}]}),
        )
        .await;
    assert_eq!(narrow["used_scopes"], json!(["User.Read"]));
    let exact = app
        .create_agent(
            &json!({"name": "exact", "owner_id": ada["id"], "used_scopes": ["repo:status"],
            "credentials": [{"provider": "github", "kind": "api_key", "external_id": "g3",
                             "scopes": ["repo:status"]}]}),
        )
        .await;

    let found = of_kind(&app, "broad_scope").await;
    let hit = about_credential(&found, &credential_id(&broad, "g1")).expect("broad");
    assert_eq!(hit["severity"], "high");
    let scopes: Vec<&str> = hit["facts"]["broad_scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["Mail.ReadWrite", "Sites.ReadWrite.All"]);
    assert_eq!(hit["facts"]["broad_scopes"][0]["family"], "microsoft_graph");
    assert!(about_credential(&found, &credential_id(&narrow, "g2")).is_none());
    assert!(about_credential(&found, &credential_id(&exact, "g3")).is_none());

    let idle_broad = app
        .create_agent(
            &json!({"name": "files", "owner_id": ada["id"], "used_scopes": ["User.Read"],
            "credentials": [{"provider": "graph", "kind": "api_key", "external_id": "g4",
                             "scopes": ["User.Read", "Files.ReadWrite.All"]}]}),
        )
        .await;

    let unused = of_kind(&app, "unused_scope").await;
    let hit = about_credential(&unused, &credential_id(&narrow, "g2")).expect("unused");
    assert_eq!(hit["facts"]["unused_scopes"], json!(["Calendars.Read"]));
    assert_eq!(hit["severity"], "medium");
    // Granted, unused and broad: high.
    let hit = about_credential(&unused, &credential_id(&idle_broad, "g4")).expect("unused");
    assert_eq!(hit["severity"], "high");
    assert!(
        about_credential(&unused, &credential_id(&broad, "g1")).is_none(),
        "undeclared use is not unused"
    );
    assert!(about_credential(&unused, &credential_id(&exact, "g3")).is_none());

    // A shared credential: each scope used by one of its agents is used.
    app.create_agent(
        &json!({"name": "calendar", "owner_id": ada["id"], "used_scopes": ["Calendars.Read"],
        "credentials": [{"provider": "graph", "kind": "api_key", "external_id": "g2"}]}),
    )
    .await;
    assert!(about_credential(
        &of_kind(&app, "unused_scope").await,
        &credential_id(&narrow, "g2")
    )
    .is_none());
    // Withdrawing a declaration (null) makes it undeclared again.
    let id = narrow["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/api/v1/agents/{id}"),
            &json!({"used_scopes": null}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let agent: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(agent["used_scopes"], Value::Null);

    // Configured patterns extend the catalogue (through the library interface).
    let config = FindingsConfig {
        broad_scopes: vec!["Calendars.*".into()],
        ..Default::default()
    };
    let catalogue = Catalogue::from_config(&config).unwrap();
    let engine = Findings::new(&app.store, &catalogue, Period::last_days(7));
    let filter = FindingFilter {
        kinds: vec![FindingKind::BroadScope],
        ..Default::default()
    };
    let page = engine.page(&filter, None, 100).await.unwrap();
    assert!(page
        .items
        .iter()
        .any(|f| f.credential_id.as_deref() == Some(credential_id(&narrow, "g2").as_str())));
}

async fn rotation_overdue_and_no_expiry_follow_the_cadence(app: TestApp) {
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let expires = (Utc::now() + Duration::days(300)).to_rfc3339();
    let agent = app
        .create_agent(&json!({"name": "rotating", "owner_id": ada["id"], "credentials": [
            {"provider": "okta", "kind": "oauth_access_token", "external_id": "at-25h", "issued_at": ago(25), "expires_at": expires},
            {"provider": "okta", "kind": "oauth_access_token", "external_id": "at-23h", "issued_at": ago(23), "expires_at": expires},
            {"provider": "gh", "kind": "api_key", "external_id": "key-200d", "rotated_at": ago(200 * 24)},
            {"provider": "gh", "kind": "api_key", "external_id": "key-fresh", "issued_at": ago(100 * 24), "rotated_at": ago(24)},
            {"provider": "gh", "kind": "api_key", "external_id": "key-dead", "issued_at": ago(300 * 24)},
            {"provider": "x", "kind": "other", "external_id": "other-old", "issued_at": ago(900 * 24)}
        ]}))
        .await;
    let ids: Vec<String> = [
        "at-25h",
        "at-23h",
        "key-200d",
        "key-fresh",
        "key-dead",
        "other-old",
    ]
    .iter()
    .map(|ext| credential_id(&agent, ext))
    .collect();
    app.execute_sql(&format!(
        "UPDATE credentials SET status = 'revoked' WHERE id = '{}'",
        ids[4]
    ))
    .await;

    let overdue = of_kind(&app, "rotation_overdue").await;
    let at_25h = about_credential(&overdue, &ids[0]).expect("25-hour-old access token");
    assert_eq!(at_25h["severity"], "medium");
    assert_eq!(at_25h["facts"]["cadence_hours"], 24);
    assert_eq!(at_25h["facts"]["age_from"], "issued_at");
    assert!(
        about_credential(&overdue, &ids[1]).is_none(),
        "23 hours is within 24"
    );
    let old_key = about_credential(&overdue, &ids[2]).expect("200-day-old key");
    assert_eq!(old_key["severity"], "high", "more than twice the cadence");
    assert_eq!(old_key["facts"]["age_from"], "rotated_at");
    assert!(
        about_credential(&overdue, &ids[3]).is_none(),
        "rotated yesterday"
    );
    assert!(about_credential(&overdue, &ids[4]).is_none(), "revoked");
    assert!(
        about_credential(&overdue, &ids[5]).is_none(),
        "no cadence for other"
    );

    let no_expiry = of_kind(&app, "no_expiry").await;
    assert!(about_credential(&no_expiry, &ids[0]).is_none());
    assert_eq!(
        about_credential(&no_expiry, &ids[2]).unwrap()["severity"],
        "low"
    );
    assert!(about_credential(&no_expiry, &ids[4]).is_none(), "revoked");
}

async fn unmatched_terminations_and_deactivations_without_agents(app: TestApp) {
    let body = json!({"type": "employee.terminated", "employee": {"id": "ghost-7"}}).to_string();
    let (status, _) = crate::hr::post_signed(&app, "standard", body.as_bytes()).await;
    assert_eq!(status, 200);
    let carol = app
        .create_person(&json!({"display_name": "Carol", "emails": ["carol@example.com"], "hr_ids": {"standard": "c-1"}}))
        .await;
    let body = json!({"type": "employee.terminated", "employee": {"id": "c-1"}}).to_string();
    crate::hr::post_signed(&app, "standard", body.as_bytes()).await;
    let erin = app
        .create_person(&json!({"emails": ["erin@example.com"]}))
        .await;
    app.create_agent(&json!({"name": "erin-bot", "owner_id": erin["id"]}))
        .await;
    let id = erin["id"].as_str().unwrap();
    app.patch(&format!("/api/v1/people/{id}"), &json!({"active": false}))
        .await;

    let unmatched = of_kind(&app, "unmatched_hr_termination").await;
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0]["facts"]["employee_id"], "ghost-7");
    assert_eq!(unmatched[0]["severity"], "high");

    let without = of_kind(&app, "deactivated_without_agents").await;
    assert_eq!(without.len(), 1, "{without:?}");
    assert_eq!(without[0]["owner"]["id"], carol["id"]);
    assert_eq!(without[0]["severity"], "info");
    // Outside the period it is not news.
    let to = (Utc::now() - Duration::days(1)).to_rfc3339();
    let earlier = findings(
        &app,
        &format!("kind=deactivated_without_agents&to={}", urlencode(&to)),
    )
    .await;
    assert!(earlier["items"].as_array().unwrap().is_empty());
}

async fn no_secret_or_full_fingerprint_appears_in_findings(app: TestApp) {
    let gone = app
        .create_person(&json!({"emails": ["gone@example.com"], "active": false}))
        .await;
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let secrets = ["ghp-very-secret-token-0001", "xoxb-another-secret-0002"];
    for (i, owner) in [&gone, &ada].iter().enumerate() {
        app.create_agent(
            &json!({"name": format!("agent-{i}"), "owner_id": owner["id"], "credentials": [
            {"provider": "github", "kind": "oauth_access_token", "secret": secrets[0],
             "scopes": ["repo"], "issued_at": ago(48)},
            {"provider": "slack", "kind": "api_key", "secret": secrets[1], "scopes": ["admin"]}]}),
        )
        .await;
    }
    // Offboarding adds free-text facts (item details, job errors) to check too.
    let id = ada["id"].as_str().unwrap();
    app.post(&format!("/api/v1/people/{id}/offboard"), &json!({}))
        .await;
    app.run_jobs().await;
    let body = app
        .get("/api/v1/findings?limit=1000")
        .await
        .text()
        .await
        .unwrap();
    let parsed: Value = serde_json::from_str(&body).unwrap();
    assert!(parsed["counts"]["total"].as_i64().unwrap() >= 6, "{body}");
    assert!(body.contains("revocation_failed"), "{body}");
    for secret in secrets {
        assert!(!body.contains(secret), "secret in findings");
        let fingerprint = app.keys.fingerprint(secret.as_bytes());
        assert!(!body.contains(&fingerprint), "full fingerprint in findings");
        assert!(
            !body.contains(&fingerprint[..9]),
            "more than 8 characters of it"
        );
        assert!(
            body.contains(&fingerprint[..8]),
            "the prefix tells credentials apart"
        );
    }
}

async fn filters_paging_and_counts_agree(app: TestApp) {
    for i in 0..5 {
        app.create_agent(
            &json!({"name": format!("shadow-{i}"), "owner_email": format!("s{i}@example.com"),
            "credentials": [{"provider": "p", "kind": "api_key", "external_id": format!("k{i}")}]}),
        )
        .await;
    }
    let all = findings(&app, "").await;
    let counts = &all["counts"];
    // 5 orphans (high) and 5 credentials without expiry (low).
    assert_eq!(counts["by_kind"]["orphaned_agent"], 5, "{counts}");
    assert_eq!(counts["by_kind"]["no_expiry"], 5, "{counts}");
    assert_eq!(counts["by_severity"]["high"], 5);
    assert_eq!(counts["total"], 10);

    let mut keys = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = findings(&app, &format!("limit=3&cursor={}", urlencode(&cursor))).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        keys.extend(items.iter().map(|f| format!("{}:{}", f["kind"], f["key"])));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((keys.len(), unique.len()), (10, 10), "{keys:?}");

    let high = findings(&app, "severity=high").await;
    assert!(high["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] == "high"));
    assert_eq!(high["counts"]["total"], 5);
    let at_least_medium = findings(&app, "min_severity=medium").await;
    assert_eq!(at_least_medium["items"].as_array().unwrap().len(), 5);
    let low = findings(&app, "kind=no_expiry,orphaned_agent&severity=low").await;
    assert_eq!(low["counts"]["by_kind"], json!({"no_expiry": 5}));
    // Paging without counts (they scan everything) gives the same items.
    let uncounted = findings(&app, "counts=false").await;
    assert!(uncounted["counts"].is_null());
    assert_eq!(uncounted["items"], all["items"]);

    // The streaming interface sees what the pages see.
    let catalogue = Catalogue::from_config(&FindingsConfig::default()).unwrap();
    let engine = Findings::new(&app.store, &catalogue, Period::last_days(7));
    let mut streamed = 0;
    engine
        .for_each(&FindingFilter::default(), |_| streamed += 1)
        .await
        .unwrap();
    assert_eq!(streamed, 10);
    let high_only = FindingFilter {
        severities: vec![Severity::High],
        ..Default::default()
    };
    assert_eq!(engine.counts(&high_only).await.unwrap().total, 5);

    // A read token may look; a SCIM token may not.
    let read = app.token_with_scope("read").await;
    let response = app
        .request_as(&read, Method::GET, "/api/v1/findings")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let scim = app.scim_token().await;
    let response = app
        .request_as(&scim, Method::GET, "/api/v1/findings")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

async fn bad_filters_are_refused_naming_the_parameter(app: TestApp) {
    for (query, field) in [
        ("kind=orphan", "kind"),
        ("kind=orphaned_agent,nope", "kind"),
        ("severity=urgent", "severity"),
        ("min_severity=3", "min_severity"),
        ("severity=low&min_severity=high", "min_severity"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=banana:123", "cursor"),
        ("cursor=orphaned_agent:123", "cursor"),
        ("cursor=orphaned_agent:", "cursor"),
        (
            "cursor=no_expiry:01890a5d-ac96-774b-bcce-b302099a8057:x",
            "cursor",
        ),
        (
            "cursor=collateral:01890a5d-ac96-774b-bcce-b302099a8057",
            "cursor",
        ),
        ("from=yesterday", "from"),
        ("to=2025-13-01", "to"),
        ("from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", "from"),
    ] {
        let response = app.get(&format!("/api/v1/findings?{query}")).await;
        let problem = assert_problem(response, 400, "invalid_query").await;
        assert_eq!(problem["field"], field, "{query}: {problem}");
    }
    let response = app.get("/api/v1/findings?colour=red").await;
    assert_problem(response, 400, "invalid_query").await;
    let response = app.get("/api/v1/findings?limit=1000").await;
    assert_eq!(response.status(), 200);
    for cursor in [
        "orphaned_agent:01890a5d-ac96-774b-bcce-b302099a8057",
        "collateral:01890a5d-ac96-774b-bcce-b302099a8057:01890a5d-ac96-774b-bcce-b302099a8058",
    ] {
        let response = app.get(&format!("/api/v1/findings?cursor={cursor}")).await;
        assert_eq!(response.status(), 200, "{cursor}");
    }
}

on_both_engines!(
    orphaned_agents_are_found_but_owned_ones_are_not,
    revocation_outcomes_become_findings_by_item_status,
    shared_credentials_and_collateral_are_found,
    broad_and_unused_scopes_are_found,
    rotation_overdue_and_no_expiry_follow_the_cadence,
    unmatched_terminations_and_deactivations_without_agents,
    no_secret_or_full_fingerprint_appears_in_findings,
    filters_paging_and_counts_agree,
    bad_filters_are_refused_naming_the_parameter
);
